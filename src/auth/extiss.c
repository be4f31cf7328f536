/* auth/extiss.c - JWKS from jwks_uri and RFC 7662 introspection on the
 * daemon's loop; see extiss.h. */
#define _GNU_SOURCE
#include "extiss.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "../log.h"
#include "../south/http.h"
#include "../util.h"

#define MAX_LINKS     CONFIG_MAX_ISSUERS
#define INTRO_TIMEOUT (5 * 1000000ull)
#define SECRET_MAX    512

struct op;

struct link {
    struct extiss_wait *w;
    struct op *op;
    struct link *prev, *next;
};

struct extiss_wait {
    extiss_ready_fn cb;
    void *ud;
    struct extiss *x;
    unsigned pending;
    bool failed, hashed;
    uint8_t hash[SHA256_DIGEST_LENGTH]; /* of the token, when introspected */
    size_t nl;
    struct link links[MAX_LINKS];
};

struct ent;

/* One fetch (JWKS) or introspection in flight, with the requests waiting. */
struct op {
    struct ent *e;
    struct op *next; /* e->ops (introspections) */
    uint8_t hash[SHA256_DIGEST_LENGTH];
    struct south_http_call *call;
    struct link *waiters;
};

struct cache_ent {
    uint8_t hash[SHA256_DIGEST_LENGTH];
    bool used, active;
    enum jwt_error why;
    int64_t until; /* wall-clock seconds */
    uint64_t lru;
    struct jwt_claims claims;
};

struct ent {
    struct extiss *x;
    struct ent *next;
    char *name;
    const struct issuer_conf *conf; /* of the latest attached state */
    struct jwt_issuer *target;      /* where the keys are installed */
    bool intro;                     /* else jwks_uri */
    char *url, *ca, *client_id, *secret_file;
    bool keep;
    bool failing, ever_ok, logged_first;
    /* jwks_uri */
    struct jwks *keys;
    uint8_t body_hash[SHA256_DIGEST_LENGTH];
    uint64_t last_good_us, last_kid_fetch_us;
    bool kid_fetched;
    uint64_t backoff_s;
    sd_event_source *timer;
    struct op fetch; /* fetch.call != NULL: in flight */
    /* introspection */
    char *basic; /* "Basic ..." header value, wiped */
    struct op *ops;
    size_t n_ops;
    struct cache_ent *cache;
    size_t cache_cap;
    uint64_t lru_clock;
};

struct extiss {
    sd_event *ev;
    struct south_http *http;
    struct ent *ents;
    struct credcache *cc;
    struct extiss_stats st;
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sha256(const void *p, size_t n, uint8_t out[SHA256_DIGEST_LENGTH])
{
    unsigned len = 0;
    EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

/* ---- waits ---------------------------------------------------------------------------- */

static void link_unlink(struct link *l)
{
    if (!l->op)
        return;
    if (l->prev)
        l->prev->next = l->next;
    else
        l->op->waiters = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->prev = l->next = NULL;
    l->op = NULL;
}

static int wait_join(struct extiss_wait *w, struct op *op)
{
    if (w->nl >= MAX_LINKS)
        return -ENOSPC;
    for (size_t i = 0; i < w->nl; i++)
        if (w->links[i].op == op)
            return 0;
    struct link *l = &w->links[w->nl++];
    *l = (struct link){.w = w, .op = op, .next = op->waiters};
    if (op->waiters)
        op->waiters->prev = l;
    op->waiters = l;
    w->pending++;
    return 0;
}

static struct cache_ent *cache_find(struct ent *e, const uint8_t *h, int64_t now);

/* Whether an introspection issuer has an active answer for the token: an
 * issuer that could not be asked does not matter then. */
static bool any_active(struct extiss *x, const uint8_t *h)
{
    int64_t now = (int64_t)time(NULL);
    for (struct ent *e = x ? x->ents : NULL; e; e = e->next) {
        struct cache_ent *c = e->intro ? cache_find(e, h, now) : NULL;
        if (c && c->active)
            return true;
    }
    return false;
}

/* Tells every waiter of op that it is done (failed: could not decide). */
static void op_finish(struct op *op, bool failed)
{
    struct link *l;
    while ((l = op->waiters)) {
        struct extiss_wait *w = l->w;
        link_unlink(l);
        if (failed)
            w->failed = true;
        if (--w->pending == 0) {
            extiss_ready_fn cb = w->cb;
            void *ud = w->ud;
            int st = w->failed && !(w->hashed && any_active(w->x, w->hash)) ? -EAGAIN : 0;
            free(w);
            cb(ud, st);
        }
    }
}

void extiss_cancel(struct extiss_wait *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nl; i++)
        link_unlink(&w->links[i]);
    free(w);
}

/* ---- key sets ---------------------------------------------------------------------------- */

static void install_keys(struct ent *e)
{
    if (!e->target)
        return;
    jwks_free(e->target->keys);
    e->target->keys = jwks_ref(e->keys);
}

static void set_keys(struct ent *e, struct jwks *k)
{
    jwks_free(e->keys);
    e->keys = k;
    install_keys(e);
    /* tokens verified with a key that may be gone */
    credcache_flush(e->x->cc);
}

static void fetch_start(struct ent *e);

static void timer_arm(struct ent *e, uint64_t in_s)
{
    uint64_t now = 0;
    sd_event_now(e->x->ev, CLOCK_MONOTONIC, &now);
    if (!e->timer)
        return;
    sd_event_source_set_time(e->timer, now + in_s * 1000000ull);
    sd_event_source_set_enabled(e->timer, SD_EVENT_ONESHOT);
}

/* Drops the last good set once it is older than jwks_max_stale. */
static void stale_check(struct ent *e)
{
    if (!e->keys || !e->ever_ok)
        return;
    uint64_t age_s = (mono_us() - e->last_good_us) / 1000000u;
    if (age_s < e->conf->jwks_max_stale_s)
        return;
    log_msg(LOG_ERR,
            "issuer %s: no good JWK Set from %s for %llu s (jwks_max_stale): its keys are "
            "dropped, every token of this issuer is refused until a fetch works",
            e->name, e->url, (unsigned long long)age_s);
    set_keys(e, NULL);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *ud)
{
    struct ent *e = ud;
    stale_check(e);
    if (!e->fetch.call)
        fetch_start(e);
    return 0;
}

static void fetch_failed(struct ent *e, const char *why, long status)
{
    e->x->st.jwks_failures++;
    if (!e->failing) {
        e->failing = true;
        if (status)
            log_msg(LOG_WARNING,
                    "issuer %s: fetching the JWK Set from %s failed: HTTP status %ld%s", e->name,
                    e->url, status,
                    e->keys ? " (keeping the last good set)"
                            : " (no keys yet: its tokens are refused)");
        else
            log_msg(LOG_WARNING, "issuer %s: fetching the JWK Set from %s failed: %s%s", e->name,
                    e->url, why,
                    e->keys ? " (keeping the last good set)"
                            : " (no keys yet: its tokens are refused)");
    }
    stale_check(e);
    uint64_t cap = e->conf->jwks_refresh_s < EXTISS_BACKOFF_MAX_S ? e->conf->jwks_refresh_s
                                                                  : EXTISS_BACKOFF_MAX_S;
    e->backoff_s = e->backoff_s ? e->backoff_s * 2 : 1;
    if (e->backoff_s > cap)
        e->backoff_s = cap;
    uint64_t in = e->backoff_s ? e->backoff_s : 1;
    if (e->keys && e->ever_ok) {
        uint64_t age_s = (mono_us() - e->last_good_us) / 1000000u;
        uint64_t left = e->conf->jwks_max_stale_s > age_s ? e->conf->jwks_max_stale_s - age_s : 0;
        if (left < in)
            in = left ? left : 1;
    }
    timer_arm(e, in);
}

static void on_fetch_done(void *ud, const struct south_http_response *r)
{
    struct ent *e = ud;
    e->fetch.call = NULL;
    if (r->error != SOUTH_HTTP_OK) {
        fetch_failed(e, r->error_text ? r->error_text : south_http_error_name(r->error), 0);
        op_finish(&e->fetch, false);
        return;
    }
    if (r->status != 200 || !r->body_len) {
        fetch_failed(e, "empty answer", r->status != 200 ? r->status : 0);
        op_finish(&e->fetch, false);
        return;
    }
    uint8_t h[SHA256_DIGEST_LENGTH];
    sha256(r->body, r->body_len, h);
    bool same = e->keys && !memcmp(h, e->body_hash, sizeof(h));
    if (!same) {
        struct diags d = {0};
        struct jwks *k = NULL;
        char label[CONFIG_NAME_MAX + 32];
        snprintf(label, sizeof(label), "jwks_uri of [issuer %s]", e->name);
        int rc = jwks_parse(label, (const char *)r->body, r->body_len, e->conf->algorithms, &k, &d);
        if (rc < 0) {
            const char *why = d.n ? d.v[0].msg : "not a usable JWK Set";
            char buf[256];
            snprintf(buf, sizeof(buf), "%s", why);
            diag_free(&d);
            fetch_failed(e, buf, 0);
            op_finish(&e->fetch, false);
            return;
        }
        diag_free(&d);
        memcpy(e->body_hash, h, sizeof(h));
        set_keys(e, k);
        log_msg(LOG_INFO, "issuer %s: JWK Set from %s: %zu keys", e->name, e->url, k->n);
    } else if (e->failing) {
        log_msg(LOG_INFO, "issuer %s: JWK Set from %s fetched again (unchanged)", e->name, e->url);
    }
    e->failing = false;
    e->ever_ok = true;
    e->backoff_s = 0;
    e->last_good_us = mono_us();
    timer_arm(e, e->conf->jwks_refresh_s);
    op_finish(&e->fetch, false);
}

static void fetch_start(struct ent *e)
{
    if (e->fetch.call)
        return;
    struct south_http_request req = {
            .method = "GET",
            .url = e->url,
            .accept = "application/jwk-set+json, application/json",
            .timeout_us = EXTISS_FETCH_TIMEOUT,
            .connect_timeout_us = EXTISS_CONNECT_TIMEOUT,
            .max_response = EXTISS_JWKS_MAX,
            .tls = true,
            .ca_file = e->ca,
    };
    e->x->st.jwks_fetches++;
    int r = south_http_start(e->x->http, &req, on_fetch_done, NULL, e, &e->fetch.call);
    if (r < 0) {
        e->fetch.call = NULL;
        fetch_failed(e, strerror(-r), 0);
    }
}

/* ---- introspection --------------------------------------------------------------------- */

static void cache_clear(struct ent *e)
{
    for (size_t i = 0; i < e->cache_cap; i++) {
        jwt_claims_free(&e->cache[i].claims);
        OPENSSL_cleanse(&e->cache[i], sizeof(e->cache[i]));
    }
}

static struct cache_ent *cache_find(struct ent *e, const uint8_t *h, int64_t now)
{
    for (size_t i = 0; i < e->cache_cap; i++) {
        struct cache_ent *c = &e->cache[i];
        if (c->used && !CRYPTO_memcmp(c->hash, h, SHA256_DIGEST_LENGTH)) {
            if (c->until <= now) {
                jwt_claims_free(&c->claims);
                c->used = false;
                continue;
            }
            c->lru = ++e->lru_clock;
            return c;
        }
    }
    return NULL;
}

static void cache_put(struct ent *e, const uint8_t *h, int64_t now, int active,
                      struct jwt_claims *claims, enum jwt_error why)
{
    struct cache_ent *slot = NULL, *old_in = NULL, *old_any = NULL;
    for (size_t i = 0; i < e->cache_cap && !slot; i++)
        if (e->cache[i].used && !memcmp(e->cache[i].hash, h, SHA256_DIGEST_LENGTH))
            slot = &e->cache[i];
    for (size_t i = 0; i < e->cache_cap && !slot; i++) {
        struct cache_ent *c = &e->cache[i];
        if (!c->used || c->until <= now)
            slot = c;
        else {
            if (!c->active && (!old_in || c->lru < old_in->lru))
                old_in = c;
            if (!old_any || c->lru < old_any->lru)
                old_any = c;
        }
    }
    if (!slot)
        slot = old_in ? old_in : old_any;
    if (!slot)
        return;
    jwt_claims_free(&slot->claims);
    memset(slot, 0, sizeof(*slot));
    memcpy(slot->hash, h, SHA256_DIGEST_LENGTH);
    slot->used = true;
    slot->lru = ++e->lru_clock;
    slot->active = active == 1;
    slot->why = why;
    int64_t ttl = (int64_t)e->conf->introspection_cache_ttl_s;
    if (slot->active) {
        slot->claims = *claims;
        *claims = (struct jwt_claims){0};
        slot->until = now + ttl;
        if (slot->claims.exp < slot->until)
            slot->until = slot->claims.exp; /* never past exp */
    } else {
        slot->until = now + (ttl < EXTISS_NEGATIVE_TTL_S ? ttl : EXTISS_NEGATIVE_TTL_S);
    }
}

static void op_free(struct op *op)
{
    struct ent *e = op->e;
    for (struct op **pp = &e->ops; *pp; pp = &(*pp)->next)
        if (*pp == op) {
            *pp = op->next;
            e->n_ops--;
            break;
        }
    free(op);
}

static void intro_failed(struct ent *e, const char *why, long status)
{
    e->x->st.introspection_failures++;
    if (!e->failing) {
        e->failing = true;
        if (status)
            log_msg(LOG_WARNING,
                    "issuer %s: introspection at %s failed: HTTP status %ld%s (requests with "
                    "its tokens get 503)",
                    e->name, e->url, status,
                    status == 401 ? ", check introspection_client_id and the secret" : "");
        else
            log_msg(LOG_WARNING,
                    "issuer %s: introspection at %s failed: %s (requests with its tokens get 503)",
                    e->name, e->url, why ? why : "error");
    }
}

static void on_intro_done(void *ud, const struct south_http_response *r)
{
    struct op *op = ud;
    struct ent *e = op->e;
    op->call = NULL;
    bool failed = true;
    if (r->error != SOUTH_HTTP_OK) {
        intro_failed(e, r->error_text ? r->error_text : south_http_error_name(r->error), 0);
    } else if (r->status != 200) {
        intro_failed(e, "status", r->status);
    } else {
        struct jwt_claims cl;
        enum jwt_error why;
        int64_t now = (int64_t)time(NULL);
        int a = jwt_introspection_parse(e->conf, (const char *)r->body, r->body_len, now, &cl,
                                        &why);
        if (a < 0) {
            intro_failed(e, "the answer is not an RFC 7662 JSON object", 0);
        } else {
            if (e->failing)
                log_msg(LOG_INFO, "issuer %s: introspection at %s works again", e->name, e->url);
            e->failing = false;
            failed = false;
            cache_put(e, op->hash, now, a, &cl, why);
            jwt_claims_free(&cl);
        }
    }
    op_finish(op, failed);
    op_free(op);
}

/* application/x-www-form-urlencoded */
static char *form_encode(const char *s, size_t n)
{
    char *o = malloc(n * 3 + 1), *p = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *p++ = (char)c;
        } else {
            static const char hx[] = "0123456789ABCDEF";
            *p++ = '%';
            *p++ = hx[c >> 4];
            *p++ = hx[c & 15];
        }
    }
    *p = '\0';
    return o;
}

static int intro_start(struct ent *e, const uint8_t *h, const char *tok, size_t len,
                       struct op **out)
{
    if (!e->basic)
        return -EAGAIN;
    if (e->n_ops >= EXTISS_MAX_PENDING)
        return -EAGAIN;
    struct op *op = calloc(1, sizeof(*op));
    char *enc = form_encode(tok, len), *body = NULL;
    int blen = -1;
    if (op && enc)
        blen = asprintf(&body, "token=%s&token_type_hint=access_token", enc);
    if (enc) {
        OPENSSL_cleanse(enc, strlen(enc));
        free(enc);
    }
    if (!op || blen < 0) {
        free(op);
        return -ENOMEM;
    }
    op->e = e;
    memcpy(op->hash, h, SHA256_DIGEST_LENGTH);
    struct south_http_request req = {
            .method = "POST",
            .url = e->url,
            .content_type = "application/x-www-form-urlencoded",
            .body = (const uint8_t *)body,
            .body_len = (size_t)blen,
            .accept = "application/json",
            .timeout_us = INTRO_TIMEOUT,
            .connect_timeout_us = EXTISS_CONNECT_TIMEOUT,
            .max_response = JWT_MAX_INTROSPECTION,
            .tls = true,
            .ca_file = e->ca,
            .authorization = e->basic,
    };
    e->x->st.introspections++;
    int r = south_http_start(e->x->http, &req, on_intro_done, NULL, op, &op->call);
    OPENSSL_cleanse(body, (size_t)blen);
    free(body);
    if (r < 0) {
        free(op);
        intro_failed(e, strerror(-r), 0);
        return -EAGAIN;
    }
    op->next = e->ops;
    e->ops = op;
    e->n_ops++;
    *out = op;
    return 0;
}

/* ---- entries ---------------------------------------------------------------------------- */

static void ent_free(struct ent *e)
{
    if (!e)
        return;
    if (e->fetch.call)
        south_http_cancel(e->fetch.call);
    e->fetch.call = NULL;
    op_finish(&e->fetch, false);
    struct op *op;
    while ((op = e->ops)) {
        south_http_cancel(op->call);
        op->call = NULL;
        op_finish(op, true);
        op_free(op);
    }
    sd_event_source_disable_unref(e->timer);
    jwks_free(e->keys);
    cache_clear(e);
    free(e->cache);
    util_secret_free(e->basic);
    free(e->name);
    free(e->url);
    free(e->ca);
    free(e->client_id);
    free(e->secret_file);
    free(e);
}

static bool streq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static int ent_secret(struct ent *e)
{
    char *sec = NULL, *id = NULL, *es = NULL, *raw = NULL, *b64 = NULL;
    size_t sl = 0;
    int r = util_read_secret_line(e->secret_file, 1, SECRET_MAX, &sec, &sl);
    if (r < 0) {
        log_msg(LOG_ERR, "issuer %s: cannot read introspection_secret_file %s: %s", e->name,
                e->secret_file, strerror(-r));
        util_secret_free(e->basic); /* fail closed: 503 until a reload reads it */
        e->basic = NULL;
        return r;
    }
    r = -ENOMEM;
    id = form_encode(e->client_id, strlen(e->client_id));
    es = form_encode(sec, sl);
    if (!id || !es || asprintf(&raw, "%s:%s", id, es) < 0)
        goto out;
    size_t rl = strlen(raw);
    b64 = malloc(4 * ((rl + 2) / 3) + 8 + 6);
    if (!b64)
        goto out;
    memcpy(b64, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)b64 + 6, (const unsigned char *)raw, (int)rl);
    util_secret_free(e->basic);
    e->basic = b64;
    b64 = NULL;
    r = 0;
out:
    util_secret_free(sec);
    util_secret_free(es);
    util_secret_free(raw);
    free(id);
    free(b64);
    return r;
}

static struct ent *ent_new(struct extiss *x, const struct issuer_conf *ic)
{
    struct ent *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->x = x;
    e->conf = ic;
    e->intro = ic->introspection_url != NULL;
    e->fetch.e = e;
    e->name = strdup(ic->name);
    e->url = strdup(e->intro ? ic->introspection_url : ic->jwks_uri);
    e->ca = ic->ca ? strdup(ic->ca) : NULL;
    e->client_id = ic->introspection_client_id ? strdup(ic->introspection_client_id) : NULL;
    e->secret_file = ic->introspection_secret_file ? strdup(ic->introspection_secret_file) : NULL;
    if (!e->name || !e->url || (ic->ca && !e->ca) ||
        (ic->introspection_client_id && !e->client_id) ||
        (ic->introspection_secret_file && !e->secret_file))
        goto fail;
    if (e->intro) {
        e->cache_cap = ic->introspection_cache ? (size_t)ic->introspection_cache : 16;
        if (!(e->cache = calloc(e->cache_cap, sizeof(*e->cache))))
            goto fail;
    } else {
        if (sd_event_add_time(x->ev, &e->timer, CLOCK_MONOTONIC, UINT64_MAX, 1000000, on_timer, e) <
            0)
            goto fail;
        sd_event_source_set_enabled(e->timer, SD_EVENT_OFF);
        sd_event_source_set_description(e->timer, "extiss-jwks");
    }
    return e;
fail:
    ent_free(e);
    return NULL;
}

static bool ent_same(const struct ent *e, const struct issuer_conf *ic)
{
    bool intro = ic->introspection_url != NULL;
    return !strcmp(e->name, ic->name) && e->intro == intro &&
           streq(e->url, intro ? ic->introspection_url : ic->jwks_uri) && streq(e->ca, ic->ca) &&
           streq(e->client_id, ic->introspection_client_id) &&
           streq(e->secret_file, ic->introspection_secret_file);
}

/* ---- public ---------------------------------------------------------------------------- */

int extiss_new(sd_event *ev, struct south_http *http, struct extiss **out)
{
    if (!ev || !http || !out)
        return -EINVAL;
    struct extiss *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->ev = sd_event_ref(ev);
    x->http = http;
    *out = x;
    return 0;
}

void extiss_free(struct extiss *x)
{
    if (!x)
        return;
    struct ent *e;
    while ((e = x->ents)) {
        x->ents = e->next;
        ent_free(e);
    }
    sd_event_unref(x->ev);
    free(x);
}

int extiss_attach(struct extiss *x, struct jwt_issuer *issuers, size_t n, struct credcache *cc)
{
    int ret = 0;
    if (!x)
        return -EINVAL;
    x->cc = cc;
    for (struct ent *e = x->ents; e; e = e->next) {
        e->keep = false;
        e->target = NULL;
    }
    struct ent *added = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct issuer_conf *ic = issuers[i].conf;
        if (!ic || (!ic->jwks_uri && !ic->introspection_url))
            continue;
        struct ent *e = x->ents;
        while (e && !(!e->keep && ent_same(e, ic)))
            e = e->next;
        bool fresh = !e;
        if (fresh) {
            if (!(e = ent_new(x, ic))) {
                ret = -ENOMEM;
                continue;
            }
            e->next = added;
            added = e;
        }
        e->keep = true;
        e->conf = ic;
        e->target = &issuers[i];
        if (e->intro) {
            cache_clear(e);
            int r = ent_secret(e);
            if (r < 0 && !ret)
                ret = r;
        } else {
            install_keys(e);
            if (fresh)
                fetch_start(e);
        }
    }
    /* drop what is gone, then add the new ones */
    for (struct ent **pp = &x->ents; *pp;) {
        struct ent *e = *pp;
        if (!e->keep) {
            *pp = e->next;
            ent_free(e);
        } else {
            pp = &e->next;
        }
    }
    while (added) {
        struct ent *e = added;
        added = e->next;
        e->next = x->ents;
        x->ents = e;
    }
    return ret;
}

int extiss_prepare(struct extiss *x, const char *tok, size_t len, size_t max_len,
                   extiss_ready_fn cb, void *ud, struct extiss_wait **out)
{
    if (out)
        *out = NULL;
    if (!x || !tok || !cb || !out || !x->ents)
        return 0;
    if (max_len == 0 || max_len > JWT_HARD_MAX_SIZE)
        max_len = JWT_HARD_MAX_SIZE;
    if (len == 0 || len > max_len)
        return 0; /* refused by the policy anyway */
    char iss[JWT_MAX_CLAIM + 1], kid[JWK_MAX_KID + 1];
    bool jwt = jwt_peek(tok, len, iss, sizeof(iss), kid, sizeof(kid)) == 0;
    uint8_t h[SHA256_DIGEST_LENGTH];
    bool hashed = false;
    int64_t now = (int64_t)time(NULL);
    struct extiss_wait *w = NULL;
    int ret = 0;

    for (struct ent *e = x->ents; e; e = e->next) {
        if (jwt && (!e->conf->iss || strcmp(e->conf->iss, iss)))
            continue;
        struct op *op = NULL;
        if (!e->intro) {
            if (!jwt)
                continue;
            if (e->keys && (!kid[0] || jwks_has_kid(e->keys, kid)))
                continue;
            if (!e->fetch.call) {
                uint64_t t = mono_us();
                if (e->kid_fetched &&
                    t - e->last_kid_fetch_us < e->conf->jwks_refetch_min_s * 1000000ull)
                    continue; /* rate-limited: decide with what we have */
                e->kid_fetched = true;
                e->last_kid_fetch_us = t;
                fetch_start(e);
                if (!e->fetch.call)
                    continue;
            }
            op = &e->fetch;
        } else {
            if (!hashed) {
                sha256(tok, len, h);
                hashed = true;
            }
            if (cache_find(e, h, now)) {
                x->st.cache_hits++;
                continue;
            }
            x->st.cache_misses++;
            for (op = e->ops; op && memcmp(op->hash, h, sizeof(h)); op = op->next)
                ;
            if (!op) {
                int r = intro_start(e, h, tok, len, &op);
                if (r < 0) {
                    ret = -EAGAIN;
                    continue;
                }
            }
        }
        if (!w && !(w = calloc(1, sizeof(*w)))) {
            ret = -ENOMEM;
            break;
        }
        w->cb = cb;
        w->ud = ud;
        w->x = x;
        if (hashed) {
            memcpy(w->hash, h, sizeof(h));
            w->hashed = true;
        }
        if (wait_join(w, op) < 0)
            break;
    }
    if (ret == -EAGAIN && hashed && any_active(x, h))
        ret = 0;
    if (w && w->pending) {
        if (ret == -EAGAIN)
            w->failed = true;
        *out = w;
        return 1;
    }
    free(w);
    return ret;
}

enum jwt_error extiss_lookup(struct extiss *x, const char *only_issuer, const char *tok, size_t len,
                             int64_t now, struct jwt_claims *claims, const char **issuer_name)
{
    enum jwt_error res = JWT_UNKNOWN_ISSUER;
    uint8_t h[SHA256_DIGEST_LENGTH];
    bool hashed = false;
    if (claims)
        *claims = (struct jwt_claims){0};
    if (issuer_name)
        *issuer_name = NULL;
    if (!x || !tok || !claims)
        return res;
    for (struct ent *e = x->ents; e; e = e->next) {
        if (!e->intro || (only_issuer && strcmp(only_issuer, e->name)))
            continue;
        if (!hashed) {
            sha256(tok, len, h);
            hashed = true;
        }
        struct cache_ent *c = cache_find(e, h, now);
        if (!c)
            continue;
        if (!c->active || now >= c->claims.exp) {
            res = c->active ? JWT_EXPIRED : c->why;
            continue;
        }
        if (jwt_claims_copy(&c->claims, claims) < 0)
            return JWT_MALFORMED;
        if (issuer_name)
            *issuer_name = e->name;
        return JWT_OK;
    }
    return res;
}

void extiss_get_stats(const struct extiss *x, struct extiss_stats *st)
{
    *st = x ? x->st : (struct extiss_stats){0};
}

bool extiss_has_keys(const struct extiss *x, const char *issuer_name)
{
    for (const struct ent *e = x ? x->ents : NULL; e; e = e->next)
        if (!strcmp(e->name, issuer_name))
            return e->keys != NULL;
    return false;
}
