/* credcache.c - cache of successfully verified credentials; see
 * credcache.h for what is stored and why it is safe.
 *
 * Layout: nsets sets of CREDCACHE_WAYS slots in one array. The set of a
 * digest is its first 8 bytes modulo nsets (a power of two); a lookup
 * compares the digest with every slot of the set in constant time; an
 * insert takes a free or expired slot of the set, else the least recently
 * used one. Cleanup style: goto to one exit.
 */
#include "credcache.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define CC_DIGEST  32
#define CC_KEY_LEN 32

enum cc_kind {
    CC_EMPTY = 0,
    CC_BASIC,
    CC_TOKEN,
};

struct cc_slot {
    uint8_t digest[CC_DIGEST];
    uint8_t kind;     /* enum cc_kind */
    int64_t inserted; /* seconds since the epoch */
    int64_t expires;  /* first second at which the entry is dead */
    uint64_t used;    /* LRU tick */
    /* CC_BASIC */
    const struct users *users;
    const struct user *user;
    /* CC_TOKEN */
    const struct jwt_issuer *which;
    struct jwt_claims claims; /* as jwt_verify() returned them */
};

struct credcache {
    struct cc_slot *slots;
    size_t nsets; /* power of two */
    EVP_MAC_CTX *mac;
    uint8_t key[CC_KEY_LEN];
    uint64_t tick;
    struct credcache_stats st;
};

static void str_wipe(char *p)
{
    if (p)
        OPENSSL_cleanse(p, strlen(p));
}

static void slot_wipe(struct cc_slot *s)
{
    struct jwt_claims *c = &s->claims;
    str_wipe(c->sub);
    str_wipe(c->iss);
    str_wipe(c->client_id);
    for (size_t i = 0; c->scopes && c->scopes[i]; i++)
        str_wipe(c->scopes[i]);
    jwt_claims_free(c);
    OPENSSL_cleanse(s, sizeof(*s));
    *s = (struct cc_slot){0};
}

/* Bytes the claims occupy, roughly; 0 when they cannot be sized. */
static size_t claims_size(const struct jwt_claims *c)
{
    size_t n = sizeof(*c);
    n += c->sub ? strlen(c->sub) + 1 : 0;
    n += c->iss ? strlen(c->iss) + 1 : 0;
    n += c->client_id ? strlen(c->client_id) + 1 : 0;
    for (size_t i = 0; c->scopes && c->scopes[i]; i++)
        n += sizeof(char *) + strlen(c->scopes[i]) + 1;
    return n;
}

int credcache_new(size_t max_entries, struct credcache **out)
{
    struct credcache *c = NULL;
    EVP_MAC *m = NULL;
    int r = -ENOMEM;

    *out = NULL;
    if (max_entries == 0)
        max_entries = CREDCACHE_DEFAULT_ENTRIES;
    if (max_entries > CREDCACHE_MAX_ENTRIES)
        max_entries = CREDCACHE_MAX_ENTRIES;
    size_t nsets = 1;
    while (nsets * CREDCACHE_WAYS < max_entries)
        nsets <<= 1;

    c = calloc(1, sizeof(*c));
    if (!c)
        goto fail;
    c->nsets = nsets;
    c->slots = calloc(nsets * CREDCACHE_WAYS, sizeof(*c->slots));
    if (!c->slots)
        goto fail;
    c->st.capacity = nsets * CREDCACHE_WAYS;
    r = -EIO;
    if (RAND_priv_bytes(c->key, sizeof(c->key)) != 1)
        goto fail;
    m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!m)
        goto fail;
    c->mac = EVP_MAC_CTX_new(m);
    if (!c->mac)
        goto fail;
    OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_init(c->mac, c->key, sizeof(c->key), params) != 1)
        goto fail;
    EVP_MAC_free(m);
    *out = c;
    return 0;
fail:
    EVP_MAC_free(m);
    credcache_free(c);
    return r;
}

void credcache_flush(struct credcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsets * CREDCACHE_WAYS; i++)
        slot_wipe(&c->slots[i]);
    c->st.entries = 0;
}

void credcache_free(struct credcache *c)
{
    if (!c)
        return;
    if (c->slots) {
        credcache_flush(c);
        free(c->slots);
    }
    EVP_MAC_CTX_free(c->mac);
    OPENSSL_cleanse(c->key, sizeof(c->key));
    free(c);
}

void credcache_get_stats(const struct credcache *c, struct credcache_stats *st)
{
    if (!c) {
        *st = (struct credcache_stats){0};
        return;
    }
    *st = c->st;
}

/* HMAC-SHA256 under the cache key of the concatenated parts. The context
 * keeps the key: EVP_MAC_init with a NULL key restarts it. */
struct cc_part {
    const void *p;
    size_t n;
};

static int cc_digest(struct credcache *c, const struct cc_part *parts, size_t n_parts,
                     uint8_t out[CC_DIGEST])
{
    size_t outl = 0;
    if (EVP_MAC_init(c->mac, NULL, 0, NULL) != 1)
        return -EIO;
    for (size_t i = 0; i < n_parts; i++)
        if (parts[i].n && EVP_MAC_update(c->mac, parts[i].p, parts[i].n) != 1)
            return -EIO;
    if (EVP_MAC_final(c->mac, out, &outl, CC_DIGEST) != 1 || outl != CC_DIGEST)
        return -EIO;
    return 0;
}

static struct cc_slot *cc_set(struct credcache *c, const uint8_t d[CC_DIGEST])
{
    uint64_t h = 0;
    memcpy(&h, d, sizeof(h));
    return &c->slots[(h & (c->nsets - 1)) * CREDCACHE_WAYS];
}

static bool slot_live(const struct cc_slot *s, int64_t now)
{
    /* a clock that went backwards ends the entry too */
    return s->kind != CC_EMPTY && now >= s->inserted && now < s->expires;
}

/* The live slot of kind holding digest d, or NULL. Every slot of the set
 * is compared, without an early exit. */
static struct cc_slot *cc_find(struct credcache *c, const uint8_t d[CC_DIGEST], enum cc_kind kind,
                               int64_t now)
{
    struct cc_slot *set = cc_set(c, d), *hit = NULL;
    for (size_t i = 0; i < CREDCACHE_WAYS; i++) {
        bool eq = CRYPTO_memcmp(set[i].digest, d, CC_DIGEST) == 0;
        if (eq && set[i].kind == kind)
            hit = &set[i];
    }
    if (hit && !slot_live(hit, now)) {
        slot_wipe(hit);
        c->st.entries--;
        c->st.expired++;
        hit = NULL;
    }
    if (hit) {
        hit->used = ++c->tick;
        c->st.hits++;
    } else {
        c->st.misses++;
    }
    return hit;
}

/* A slot for digest d: a free one, else an expired one, else the least
 * recently used of the set (wiped). */
static struct cc_slot *cc_victim(struct credcache *c, const uint8_t d[CC_DIGEST], int64_t now)
{
    struct cc_slot *set = cc_set(c, d), *v = NULL;
    for (size_t i = 0; i < CREDCACHE_WAYS && !v; i++)
        if (set[i].kind == CC_EMPTY)
            v = &set[i];
    for (size_t i = 0; i < CREDCACHE_WAYS && !v; i++)
        if (!slot_live(&set[i], now)) {
            v = &set[i];
            c->st.expired++;
        }
    if (!v) {
        v = &set[0];
        for (size_t i = 1; i < CREDCACHE_WAYS; i++)
            if (set[i].used < v->used)
                v = &set[i];
        c->st.evictions++;
    }
    if (v->kind != CC_EMPTY)
        c->st.entries--;
    slot_wipe(v);
    return v;
}

static void cc_fill(struct credcache *c, struct cc_slot *s, const uint8_t d[CC_DIGEST],
                    enum cc_kind kind, int64_t now, int64_t expires)
{
    memcpy(s->digest, d, CC_DIGEST);
    s->kind = (uint8_t)kind;
    s->inserted = now;
    s->expires = expires;
    s->used = ++c->tick;
    c->st.entries++;
    c->st.inserts++;
}

/* ---- basic --------------------------------------------------------------- */

static int basic_digest(struct credcache *c, const char *name, const char *pass, size_t pass_len,
                        uint8_t d[CC_DIGEST])
{
    size_t nl = strlen(name);
    uint8_t len4[4] = {(uint8_t)(nl >> 24), (uint8_t)(nl >> 16), (uint8_t)(nl >> 8), (uint8_t)nl};
    const struct cc_part parts[] = {{"B", 1}, {len4, 4}, {name, nl}, {pass, pass_len}};
    return cc_digest(c, parts, ARRAY_SIZE(parts), d);
}

bool credcache_users_verify(struct credcache *c, const struct users *u, const char *name,
                            const char *pass, size_t pass_len, int64_t now, const struct user **out)
{
    uint8_t d[CC_DIGEST];
    bool ok;

    if (out)
        *out = NULL;
    /* Only what could verify is worth hashing: anything else goes to
     * users_verify, which spends its dummy hash and fails. */
    if (!c || !u || !name || !pass || pass_len > USERS_MAX_PASSWORD ||
        strnlen(name, USERS_MAX_NAME + 1) > USERS_MAX_NAME ||
        basic_digest(c, name, pass, pass_len, d) < 0)
        return users_verify(u, name, pass, pass_len, out);

    struct cc_slot *s = cc_find(c, d, CC_BASIC, now);
    if (s) {
        const struct user *usr = users_find(u, name);
        if (s->users == u && usr && usr == s->user) {
            if (out)
                *out = usr;
            ok = true;
            goto done;
        }
        /* another users set than the one verified against: never trust */
        slot_wipe(s);
        c->st.entries--;
    }
    const struct user *usr = NULL;
    ok = users_verify(u, name, pass, pass_len, &usr);
    if (ok && usr) {
        s = cc_victim(c, d, now);
        cc_fill(c, s, d, CC_BASIC, now, now + CREDCACHE_PASSWORD_TTL_S);
        s->users = u;
        s->user = usr;
    }
    if (out)
        *out = ok ? usr : NULL;
done:
    OPENSSL_cleanse(d, sizeof(d));
    return ok;
}

/* ---- bearer ------------------------------------------------------------- */

static bool issuer_listed(const struct jwt_issuer *const *issuers, size_t n,
                          const struct jwt_issuer *is)
{
    for (size_t i = 0; i < n; i++)
        if (issuers[i] == is)
            return true;
    return false;
}

enum jwt_error credcache_jwt_verify(struct credcache *c, const struct jwt_issuer *const *issuers,
                                    size_t n_issuers, const char *only_issuer, const char *tok,
                                    size_t len, size_t max_len, int64_t now,
                                    struct jwt_claims *claims, const struct jwt_issuer **which)
{
    uint8_t d[CC_DIGEST];
    enum jwt_error e;
    const struct jwt_issuer *is = NULL;

    size_t cap = max_len ? max_len : LIMIT_DEFAULT_MAX_TOKEN;
    if (!c || !claims || !tok || len > cap || len > JWT_HARD_MAX_SIZE)
        return jwt_verify(issuers, n_issuers, only_issuer, tok, len, max_len, now, claims, which);
    const char *restr = only_issuer ? only_issuer : "";
    const struct cc_part parts[] = {{"T", 1}, {restr, strlen(restr) + 1}, {tok, len}};
    if (cc_digest(c, parts, ARRAY_SIZE(parts), d) < 0)
        return jwt_verify(issuers, n_issuers, only_issuer, tok, len, max_len, now, claims, which);

    *claims = (struct jwt_claims){0};
    if (which)
        *which = NULL;
    struct cc_slot *s = cc_find(c, d, CC_TOKEN, now);
    if (s) {
        if (issuer_listed(issuers, n_issuers, s->which) && s->which->conf &&
            (!only_issuer ||
             (s->which->conf->name && !strcmp(s->which->conf->name, only_issuer)))) {
            /* the signature and the time-independent claims held; what
             * depends on time is checked again */
            e = jwt_claims_check_time(s->which->conf, &s->claims, now);
            if (e == JWT_OK && jwt_claims_copy(&s->claims, claims) < 0)
                e = JWT_MALFORMED; /* out of memory: refuse, as jwt_verify would */
            if (e == JWT_OK && which)
                *which = s->which;
            if (e != JWT_OK) {
                /* expired or not valid (yet): gone from the cache */
                slot_wipe(s);
                c->st.entries--;
            }
            goto out;
        }
        slot_wipe(s);
        c->st.entries--;
    }
    e = jwt_verify(issuers, n_issuers, only_issuer, tok, len, max_len, now, claims, &is);
    if (which)
        *which = e == JWT_OK ? is : NULL;
    if (e != JWT_OK || !is || !is->conf || claims_size(claims) > CREDCACHE_MAX_CLAIMS)
        goto out;
    /* jwt_claims_check: expired once now >= exp + leeway */
    int64_t leeway =
            is->conf->leeway_s > JWT_MAX_LEEWAY_S ? JWT_MAX_LEEWAY_S : (int64_t)is->conf->leeway_s;
    int64_t expires = now + CREDCACHE_TOKEN_TTL_S;
    if (claims->exp + leeway < expires)
        expires = claims->exp + leeway;
    if (expires <= now)
        goto out;
    struct jwt_claims copy;
    if (jwt_claims_copy(claims, &copy) < 0)
        goto out; /* not cached, still verified */
    s = cc_victim(c, d, now);
    cc_fill(c, s, d, CC_TOKEN, now, expires);
    s->which = is;
    s->claims = copy;
out:
    OPENSSL_cleanse(d, sizeof(d));
    return e;
}
