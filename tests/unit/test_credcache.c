/* test_credcache.c - the cache of verified credentials: hits skip the
 * expensive check, only successes are cached, the password TTL, token
 * entries re-checked against "now" (exp, nbf) and dropped when dead, issuer
 * restrictions kept apart, bounded size with eviction, flush, and the
 * cached results (verdicts and claims) equal to the uncached ones for good
 * and bad credentials at many times; jwt_claims_check_time and
 * jwt_claims_copy.
 *
 * Users (bcrypt cost 4) and tokens (ES256, key generated here) are made at
 * test time; nothing secret is stored in the tree.
 */
#define _GNU_SOURCE
#include <crypt.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jwt_testutil.h"

#include "auth/credcache.h"
#include "auth/jwt.h"
#include "auth/users.h"

#define NOW INT64_C(1700000000)
#define ISS "https://idp.test"
#define HDR "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"es-1\"}"

static struct users *g_users, *g_users2;
static EVP_PKEY *g_key, *g_rogue;
static struct jwks *g_keys;
static char *aud[] = {"wotgw", NULL};
static struct issuer_conf g_conf = {
        .name = "idp",
        .iss = ISS,
        .audiences = aud,
        .algorithms = JWT_ALG_ES256,
        .leeway_s = 30,
};
/* a second section with the same "iss": only a restriction tells them apart */
static struct issuer_conf g_conf2 = {
        .name = "idp2",
        .iss = ISS,
        .audiences = aud,
        .algorithms = JWT_ALG_ES256,
        .leeway_s = 30,
};
static struct jwt_issuer g_iss, g_iss2;
static const struct jwt_issuer *g_issuers[2];

static char *hash_of(const char *pw)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, setting, sizeof(setting)));
    struct crypt_data cd = {0};
    const char *h = crypt_r(pw, setting, &cd);
    assert_non_null(h);
    assert_true(h[0] == '$');
    return strdup(h);
}

static struct users *make_users(const char *alice_pw)
{
    char *ha = hash_of(alice_pw), *hb = hash_of("bob-pw"), *hab = hash_of("cpw"),
         *habc = hash_of("pw");
    char *text = NULL;
    assert_true(asprintf(&text, "alice:%s:family\nbob:%s\nab:%s\nabc:%s\ncarol:!\n", ha, hb, hab,
                         habc) > 0);
    struct users *u = NULL;
    struct diags d = {0};
    assert_int_equal(users_parse("test-users", text, strlen(text), &u, &d), 0);
    diag_free(&d);
    free(ha);
    free(hb);
    free(hab);
    free(habc);
    free(text);
    return u;
}

static char *jwks_of(EVP_PKEY *k)
{
    uint8_t pub[65];
    size_t n = sizeof(pub);
    assert_int_equal(EVP_PKEY_get_octet_string_param(k, "encoded-pub-key", pub, n, &n), 1);
    assert_int_equal(n, 65);
    char *x = tu_b64url(pub + 1, 32), *y = tu_b64url(pub + 33, 32), *out = NULL;
    assert_true(asprintf(&out,
                         "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\","
                         "\"kid\":\"es-1\",\"alg\":\"ES256\"}]}",
                         x, y) > 0);
    free(x);
    free(y);
    return out;
}

static int group_setup(void **state)
{
    g_users = make_users("alice-pw");
    g_users2 = make_users("alice-NEW-pw");
    g_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    g_rogue = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(g_key);
    assert_non_null(g_rogue);
    char *jw = jwks_of(g_key);
    struct diags d = {0};
    assert_int_equal(jwks_parse("t.jwks", jw, strlen(jw), JWT_ALG_ES256, &g_keys, &d), 0);
    diag_free(&d);
    free(jw);
    g_iss = (struct jwt_issuer){.conf = &g_conf, .keys = g_keys};
    g_iss2 = (struct jwt_issuer){.conf = &g_conf2, .keys = g_keys};
    g_issuers[0] = &g_iss;
    g_issuers[1] = &g_iss2;
    return 0;
}

static int group_teardown(void **state)
{
    users_free(g_users);
    users_free(g_users2);
    jwks_free(g_keys);
    EVP_PKEY_free(g_key);
    EVP_PKEY_free(g_rogue);
    return 0;
}

/* An ES256 token; nbf 0 = absent; extra appended inside the payload. */
static char *token(EVP_PKEY *k, const char *sub, int64_t exp, int64_t nbf, const char *extra)
{
    char *pl = NULL, nbfs[40] = "";
    if (nbf)
        snprintf(nbfs, sizeof(nbfs), ",\"nbf\":%lld", (long long)nbf);
    assert_true(asprintf(&pl,
                         "{\"iss\":\"" ISS "\",\"sub\":\"%s\",\"aud\":\"wotgw\",\"exp\":%lld%s,"
                         "\"scope\":\"lamp:read\"%s}",
                         sub, (long long)exp, nbfs, extra ? extra : "") > 0);
    char *t = tu_sign(TU_ES256, k, NULL, 0, HDR, pl);
    free(pl);
    return t;
}

static struct credcache *cache_new(size_t n)
{
    struct credcache *c = NULL;
    assert_int_equal(credcache_new(n, &c), 0);
    assert_non_null(c);
    return c;
}

static struct credcache_stats stats(const struct credcache *c)
{
    struct credcache_stats st;
    credcache_get_stats(c, &st);
    return st;
}

static bool basic(struct credcache *c, const struct users *u, const char *name, const char *pw,
                  int64_t now, const struct user **out)
{
    return credcache_users_verify(c, u, name, pw, strlen(pw), now, out);
}

static enum jwt_error tok_at(struct credcache *c, const char *t, const char *only, int64_t now,
                             struct jwt_claims *out, const struct jwt_issuer **which)
{
    struct jwt_claims cl;
    const struct jwt_issuer *w = (const struct jwt_issuer *)1;
    enum jwt_error e =
            credcache_jwt_verify(c, g_issuers, 2, only, t, strlen(t), 8192, now, &cl, &w);
    if (e == JWT_OK)
        assert_non_null(w);
    else
        assert_null(w);
    if (which)
        *which = w;
    if (out)
        *out = cl;
    else
        jwt_claims_free(&cl);
    return e;
}

/* ---- basic ----------------------------------------------------------------- */

static void test_basic_hit_and_miss(void **state)
{
    struct credcache *c = cache_new(0);
    const struct user *u = NULL;
    assert_int_equal(stats(c).capacity, CREDCACHE_DEFAULT_ENTRIES);
    assert_true(basic(c, g_users, "alice", "alice-pw", NOW, &u));
    assert_non_null(u);
    assert_string_equal(u->name, "alice");
    struct credcache_stats st = stats(c);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.inserts, 1);
    assert_int_equal(st.entries, 1);
    /* the same pair again: served from the cache, same user record */
    const struct user *u2 = NULL;
    assert_true(basic(c, g_users, "alice", "alice-pw", NOW + 1, &u2));
    assert_ptr_equal(u, u2);
    assert_int_equal(stats(c).hits, 1);
    /* a wrong password for a cached user: a miss, refused, nothing cached */
    assert_false(basic(c, g_users, "alice", "alice-pw ", NOW + 1, &u2));
    assert_null(u2);
    assert_false(basic(c, g_users, "alice", "alice-p", NOW + 1, &u2));
    assert_false(basic(c, g_users, "alice", "", NOW + 1, &u2));
    /* the same password under another name */
    assert_false(basic(c, g_users, "bob", "alice-pw", NOW + 1, &u2));
    assert_false(basic(c, g_users, "alicf", "alice-pw", NOW + 1, &u2));
    st = stats(c);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 6);
    assert_int_equal(st.inserts, 1);
    assert_int_equal(st.entries, 1);
    /* a password with a NUL byte is never the stored one */
    assert_false(credcache_users_verify(c, g_users, "alice", "alice-pw\0x", 10, NOW + 1, &u2));
    /* a "!" user never logs in, cached or not */
    assert_false(basic(c, g_users, "carol", "", NOW + 1, &u2));
    assert_false(basic(c, g_users, "carol", "!", NOW + 1, &u2));
    credcache_free(c);
}

static void test_basic_name_boundary(void **state)
{
    struct credcache *c = cache_new(0);
    const struct user *u = NULL;
    /* "ab" + "cpw" and "abc" + "pw" concatenate to the same bytes */
    assert_true(basic(c, g_users, "ab", "cpw", NOW, &u));
    assert_string_equal(u->name, "ab");
    assert_true(basic(c, g_users, "abc", "pw", NOW, &u));
    assert_string_equal(u->name, "abc");
    struct credcache_stats st = stats(c);
    assert_int_equal(st.hits, 0);
    assert_int_equal(st.inserts, 2);
    assert_false(basic(c, g_users, "abc", "cpw", NOW, &u));
    assert_false(basic(c, g_users, "ab", "pw", NOW, &u));
    assert_true(basic(c, g_users, "ab", "cpw", NOW, &u));
    assert_string_equal(u->name, "ab");
    assert_true(basic(c, g_users, "abc", "pw", NOW, &u));
    assert_string_equal(u->name, "abc");
    assert_int_equal(stats(c).hits, 2);
    credcache_free(c);
}

static void test_basic_ttl_and_clock(void **state)
{
    struct credcache *c = cache_new(0);
    const struct user *u = NULL;
    assert_true(basic(c, g_users, "alice", "alice-pw", NOW, &u));
    assert_true(basic(c, g_users, "alice", "alice-pw", NOW + CREDCACHE_PASSWORD_TTL_S - 1, &u));
    assert_int_equal(stats(c).hits, 1);
    /* the TTL counts from the verification, use does not renew it */
    assert_true(basic(c, g_users, "alice", "alice-pw", NOW + CREDCACHE_PASSWORD_TTL_S, &u));
    struct credcache_stats st = stats(c);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.inserts, 2);
    assert_int_equal(st.entries, 1);
    /* a clock that went backwards does not keep an entry alive */
    assert_true(basic(c, g_users, "alice", "alice-pw", NOW - 10, &u));
    assert_int_equal(stats(c).hits, 1);
    assert_int_equal(stats(c).expired, 2);
    credcache_free(c);
}

static void test_basic_other_users_set(void **state)
{
    struct credcache *c = cache_new(0);
    const struct user *u = NULL;
    assert_true(basic(c, g_users, "alice", "alice-pw", NOW, &u));
    /* same name, another users set where the old password is wrong: the
     * entry is not trusted, the new set decides */
    assert_false(basic(c, g_users2, "alice", "alice-pw", NOW, &u));
    assert_null(u);
    assert_int_equal(stats(c).hits, 1); /* found, then refused */
    assert_int_equal(stats(c).entries, 0);
    assert_true(basic(c, g_users2, "alice", "alice-NEW-pw", NOW, &u));
    assert_ptr_equal(u, users_find(g_users2, "alice"));
    credcache_free(c);
}

static void test_failures_not_cached(void **state)
{
    struct credcache *c = cache_new(16);
    const struct user *u = NULL;
    char pw[32];
    for (int i = 0; i < 40; i++) {
        snprintf(pw, sizeof(pw), "guess-%d", i);
        assert_false(basic(c, g_users, "alice", pw, NOW, &u));
        snprintf(pw, sizeof(pw), "nobody-%d", i);
        assert_false(basic(c, g_users, pw, "x", NOW, &u));
    }
    for (int i = 0; i < 40; i++) {
        char *t = token(g_rogue, "mallory", NOW + 100, 0, NULL);
        assert_int_equal(tok_at(c, t, NULL, NOW, NULL, NULL), JWT_BAD_SIGNATURE);
        free(t);
    }
    struct credcache_stats st = stats(c);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.inserts, 0);
    assert_int_equal(st.hits, 0);
    credcache_free(c);
}

static void test_flush_and_null(void **state)
{
    struct credcache *c = cache_new(0);
    const struct user *u = NULL;
    assert_true(basic(c, g_users, "alice", "alice-pw", NOW, &u));
    credcache_flush(c);
    assert_int_equal(stats(c).entries, 0);
    assert_true(basic(c, g_users, "alice", "alice-pw", NOW, &u));
    assert_int_equal(stats(c).hits, 0);
    assert_int_equal(stats(c).inserts, 2);
    credcache_free(c);
    /* no cache: plain verification */
    assert_true(basic(NULL, g_users, "alice", "alice-pw", NOW, &u));
    assert_false(basic(NULL, g_users, "alice", "nope", NOW, &u));
    assert_false(credcache_users_verify(NULL, NULL, "alice", "x", 1, NOW, &u));
    char *t = token(g_key, "alice", NOW + 100, 0, NULL);
    assert_int_equal(tok_at(NULL, t, NULL, NOW, NULL, NULL), JWT_OK);
    free(t);
    struct credcache_stats st;
    credcache_get_stats(NULL, &st);
    assert_int_equal(st.capacity, 0);
    credcache_flush(NULL);
    credcache_free(NULL);
}

/* ---- tokens ------------------------------------------------------------------- */

static void test_token_hit_rechecks_time(void **state)
{
    struct credcache *c = cache_new(0);
    char *t = token(g_key, "alice", NOW + 100, 0, NULL);
    struct jwt_claims cl;
    const struct jwt_issuer *w = NULL;
    assert_int_equal(tok_at(c, t, NULL, NOW, &cl, &w), JWT_OK);
    assert_ptr_equal(w, &g_iss);
    assert_string_equal(cl.sub, "alice");
    jwt_claims_free(&cl);
    assert_int_equal(stats(c).inserts, 1);
    /* a hit gives the same claims */
    assert_int_equal(tok_at(c, t, NULL, NOW + 50, &cl, &w), JWT_OK);
    assert_ptr_equal(w, &g_iss);
    assert_string_equal(cl.sub, "alice");
    assert_string_equal(cl.iss, ISS);
    assert_non_null(cl.scopes);
    assert_string_equal(cl.scopes[0], "lamp:read");
    assert_int_equal(cl.exp, NOW + 100);
    jwt_claims_free(&cl);
    assert_int_equal(stats(c).hits, 1);
    /* still inside the leeway (30 s), then expired: never served after exp */
    assert_int_equal(tok_at(c, t, NULL, NOW + 129, NULL, NULL), JWT_OK);
    assert_int_equal(tok_at(c, t, NULL, NOW + 130, NULL, NULL), JWT_EXPIRED);
    assert_int_equal(stats(c).entries, 0);
    assert_int_equal(tok_at(c, t, NULL, NOW + 131, NULL, NULL), JWT_EXPIRED);
    assert_int_equal(stats(c).inserts, 1);
    free(t);

    /* nbf: cached once valid, the clock goes back before nbf - leeway */
    t = token(g_key, "alice", NOW + 1000, NOW + 100, NULL);
    assert_int_equal(tok_at(c, t, NULL, NOW, NULL, NULL), JWT_NOT_YET_VALID);
    assert_int_equal(stats(c).entries, 0);
    assert_int_equal(tok_at(c, t, NULL, NOW + 70, NULL, NULL), JWT_OK);
    assert_int_equal(stats(c).entries, 1);
    assert_int_equal(tok_at(c, t, NULL, NOW + 69, NULL, NULL), JWT_NOT_YET_VALID);
    assert_int_equal(tok_at(c, t, NULL, NOW + 71, NULL, NULL), JWT_OK);
    free(t);

    /* a long-lived token lives at most CREDCACHE_TOKEN_TTL_S in the cache */
    credcache_flush(c);
    t = token(g_key, "alice", NOW + 100000, 0, NULL);
    assert_int_equal(tok_at(c, t, NULL, NOW, NULL, NULL), JWT_OK);
    uint64_t h = stats(c).hits;
    assert_int_equal(tok_at(c, t, NULL, NOW + CREDCACHE_TOKEN_TTL_S - 1, NULL, NULL), JWT_OK);
    assert_int_equal(stats(c).hits, h + 1);
    assert_int_equal(tok_at(c, t, NULL, NOW + CREDCACHE_TOKEN_TTL_S, NULL, NULL), JWT_OK);
    assert_int_equal(stats(c).hits, h + 1);
    free(t);
    credcache_free(c);
}

static void test_token_issuer_restriction(void **state)
{
    struct credcache *c = cache_new(0);
    char *t = token(g_key, "alice", NOW + 100, 0, NULL);
    const struct jwt_issuer *w = NULL;
    /* unrestricted: the first issuer with that iss */
    assert_int_equal(tok_at(c, t, NULL, NOW, NULL, &w), JWT_OK);
    assert_ptr_equal(w, &g_iss);
    /* restricted to the second: its own entry, its own issuer */
    assert_int_equal(tok_at(c, t, "idp2", NOW, NULL, &w), JWT_OK);
    assert_ptr_equal(w, &g_iss2);
    assert_int_equal(tok_at(c, t, "idp2", NOW, NULL, &w), JWT_OK);
    assert_ptr_equal(w, &g_iss2);
    assert_int_equal(tok_at(c, t, NULL, NOW, NULL, &w), JWT_OK);
    assert_ptr_equal(w, &g_iss);
    assert_int_equal(stats(c).inserts, 2);
    assert_int_equal(stats(c).hits, 2);
    /* an issuer the token is not from */
    assert_int_equal(tok_at(c, t, "other", NOW, NULL, &w), JWT_UNKNOWN_ISSUER);
    /* a cached entry is not used with an issuer list that lacks its issuer */
    struct jwt_claims cl;
    const struct jwt_issuer *only2[] = {&g_iss2};
    assert_int_equal(credcache_jwt_verify(c, only2, 1, "idp", t, strlen(t), 8192, NOW, &cl, &w),
                     JWT_UNKNOWN_ISSUER);
    assert_null(w);
    jwt_claims_free(&cl);
    free(t);
    credcache_free(c);
}

/* Cached and uncached verification agree on every token at every time. */
static void test_token_same_as_uncached(void **state)
{
    struct credcache *c = cache_new(0);
    char *good = token(g_key, "alice", NOW + 100, 0, NULL);
    char *bad_aud = tu_sign(TU_ES256, g_key, NULL, 0, HDR,
                            "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"x\",\"exp\":1700000100}");
    char *no_sub = tu_sign(TU_ES256, g_key, NULL, 0, HDR,
                           "{\"iss\":\"" ISS "\",\"aud\":\"wotgw\",\"exp\":1700000100}");
    char *rogue = token(g_rogue, "alice", NOW + 100, 0, NULL);
    char *tampered = strdup(good);
    size_t n = strlen(tampered);
    tampered[n - 2] = tampered[n - 2] == 'A' ? 'B' : 'A';
    char *later = token(g_key, "bob", NOW + 1000, NOW + 500, NULL);
    /* claims over CREDCACHE_MAX_CLAIMS (40 scopes of 60 bytes): never cached */
    char scope[40 * 61 + 1] = "";
    for (int i = 0; i < 40; i++) {
        char one[62];
        snprintf(one, sizeof(one), "%s%02d%057d", i ? " " : "", i, 0);
        strcat(scope, one);
    }
    char *extra = NULL;
    assert_true(asprintf(&extra, ",\"scp\":\"%s\"", scope) > 0);
    char *pl = NULL;
    assert_true(asprintf(&pl,
                         "{\"iss\":\"" ISS "\",\"sub\":\"big\",\"aud\":\"wotgw\","
                         "\"exp\":1700000100%s}",
                         extra) > 0);
    char *big_claim = tu_sign(TU_ES256, g_key, NULL, 0, HDR, pl);
    free(pl);
    const char *toks[] = {good, bad_aud, no_sub, rogue, tampered, later, big_claim, "a.b.c", ""};
    const int64_t times[] = {NOW,       NOW + 1,   NOW + 50,  NOW + 129,
                             NOW + 130, NOW + 470, NOW + 600, NOW + 5};
    const char *restr[] = {NULL, "idp", "idp2", "nope"};
    for (size_t r = 0; r < ARRAY_SIZE(restr); r++)
        for (size_t ti = 0; ti < ARRAY_SIZE(times); ti++)
            for (size_t k = 0; k < ARRAY_SIZE(toks); k++) {
                struct jwt_claims a, b;
                const struct jwt_issuer *wa = NULL, *wb = NULL;
                const char *t = toks[k];
                enum jwt_error ea =
                        jwt_verify(g_issuers, 2, restr[r], t, strlen(t), 8192, times[ti], &a, &wa);
                enum jwt_error eb = credcache_jwt_verify(c, g_issuers, 2, restr[r], t, strlen(t),
                                                         8192, times[ti], &b, &wb);
                assert_int_equal(ea, eb);
                assert_ptr_equal(wa, wb);
                if (ea == JWT_OK) {
                    assert_string_equal(a.sub, b.sub);
                    assert_string_equal(a.iss, b.iss);
                    assert_int_equal(a.exp, b.exp);
                    assert_int_equal(a.nbf, b.nbf);
                    assert_int_equal(a.iat, b.iat);
                    size_t i = 0;
                    for (; a.scopes[i]; i++)
                        assert_string_equal(a.scopes[i], b.scopes[i]);
                    assert_null(b.scopes[i]);
                }
                jwt_claims_free(&a);
                jwt_claims_free(&b);
            }
    struct credcache_stats st = stats(c);
    assert_true(st.hits > 0);
    /* the big payload is verified every time, never cached; nor a failure */
    assert_true(st.entries <= 3);
    /* the big claims verify, every time, and are never cached */
    credcache_flush(c);
    uint64_t ins = stats(c).inserts;
    for (int i = 0; i < 2; i++) {
        struct jwt_claims bc;
        assert_int_equal(tok_at(c, big_claim, NULL, NOW, &bc, NULL), JWT_OK);
        assert_non_null(bc.scopes[39]);
        assert_null(bc.scopes[40]);
        jwt_claims_free(&bc);
    }
    assert_int_equal(stats(c).inserts, ins);
    assert_int_equal(stats(c).entries, 0);
    /* too large for max_len: refused before anything */
    struct jwt_claims cl;
    assert_int_equal(
            credcache_jwt_verify(c, g_issuers, 2, NULL, good, strlen(good), 10, NOW, &cl, NULL),
            JWT_TOO_LARGE);
    jwt_claims_free(&cl);
    free(good);
    free(bad_aud);
    free(no_sub);
    free(rogue);
    free(tampered);
    free(later);
    free(big_claim);
    free(extra);
    credcache_free(c);
}

static void test_bounded_eviction(void **state)
{
    struct credcache *c = cache_new(16);
    size_t cap = stats(c).capacity;
    assert_int_equal(cap, 16);
    char *toks[100];
    char sub[16];
    for (int i = 0; i < 100; i++) {
        snprintf(sub, sizeof(sub), "u%d", i);
        toks[i] = token(g_key, sub, NOW + 200, 0, NULL);
        assert_int_equal(tok_at(c, toks[i], NULL, NOW, NULL, NULL), JWT_OK);
        assert_true(stats(c).entries <= cap);
    }
    struct credcache_stats st = stats(c);
    assert_int_equal(st.inserts, 100);
    assert_true(st.evictions >= 100 - cap);
    /* every token still verifies, from the cache or not */
    for (int i = 0; i < 100; i++) {
        struct jwt_claims cl;
        assert_int_equal(tok_at(c, toks[i], NULL, NOW + 1, &cl, NULL), JWT_OK);
        snprintf(sub, sizeof(sub), "u%d", i);
        assert_string_equal(cl.sub, sub);
        jwt_claims_free(&cl);
        free(toks[i]);
    }
    /* the most recently used entry survives a burst in its set: LRU */
    credcache_free(c);
    c = cache_new(CREDCACHE_WAYS); /* one set */
    char *keep = token(g_key, "keep", NOW + 200, 0, NULL);
    assert_int_equal(tok_at(c, keep, NULL, NOW, NULL, NULL), JWT_OK);
    for (int i = 0; i < 3 * CREDCACHE_WAYS; i++) {
        snprintf(sub, sizeof(sub), "v%d", i);
        char *t = token(g_key, sub, NOW + 200, 0, NULL);
        assert_int_equal(tok_at(c, t, NULL, NOW, NULL, NULL), JWT_OK);
        free(t);
        uint64_t h = stats(c).hits;
        assert_int_equal(tok_at(c, keep, NULL, NOW, NULL, NULL), JWT_OK);
        assert_int_equal(stats(c).hits, h + 1);
    }
    free(keep);
    credcache_free(c);
    /* sizes are capped */
    c = cache_new(SIZE_MAX);
    assert_int_equal(stats(c).capacity, CREDCACHE_MAX_ENTRIES);
    credcache_free(c);
}

static void test_claims_time_and_copy(void **state)
{
    char *s1 = strdup("alice"), *s2 = strdup(ISS), *s3 = strdup("lamp:read");
    char **sc = calloc(2, sizeof(*sc));
    assert_non_null(sc);
    sc[0] = s3;
    struct jwt_claims c = {.sub = s1, .iss = s2, .scopes = sc, .exp = NOW + 10, .nbf = NOW - 5};
    assert_int_equal(jwt_claims_check_time(&g_conf, &c, NOW), JWT_OK);
    assert_int_equal(jwt_claims_check_time(&g_conf, &c, NOW + 39), JWT_OK);
    assert_int_equal(jwt_claims_check_time(&g_conf, &c, NOW + 40), JWT_EXPIRED);
    c.exp = NOW + 1000;
    c.nbf = NOW + 100;
    assert_int_equal(jwt_claims_check_time(&g_conf, &c, NOW + 69), JWT_NOT_YET_VALID);
    assert_int_equal(jwt_claims_check_time(&g_conf, &c, NOW + 70), JWT_OK);
    c.exp = 0; /* absent: long expired */
    c.nbf = 0;
    assert_int_equal(jwt_claims_check_time(&g_conf, &c, NOW), JWT_EXPIRED);
    assert_int_equal(jwt_claims_check_time(NULL, &c, NOW), JWT_MALFORMED);
    c.exp = NOW + 10;
    struct jwt_claims d;
    assert_int_equal(jwt_claims_copy(&c, &d), 0);
    assert_ptr_not_equal(d.sub, c.sub);
    assert_string_equal(d.sub, "alice");
    assert_string_equal(d.iss, ISS);
    assert_null(d.client_id);
    assert_string_equal(d.scopes[0], "lamp:read");
    assert_null(d.scopes[1]);
    assert_int_equal(d.exp, NOW + 10);
    jwt_claims_free(&d);
    jwt_claims_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_basic_hit_and_miss),
            cmocka_unit_test(test_basic_name_boundary),
            cmocka_unit_test(test_basic_ttl_and_clock),
            cmocka_unit_test(test_basic_other_users_set),
            cmocka_unit_test(test_failures_not_cached),
            cmocka_unit_test(test_flush_and_null),
            cmocka_unit_test(test_token_hit_rechecks_time),
            cmocka_unit_test(test_token_issuer_restriction),
            cmocka_unit_test(test_token_same_as_uncached),
            cmocka_unit_test(test_bounded_eviction),
            cmocka_unit_test(test_claims_time_and_copy),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
