/* oscore_server.c - see oscore_server.h.
 * Cleanup style: goto to one exit.
 */
#define _GNU_SOURCE
#include "oscore_server.h"

#include "../log.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct oscore_srv_entry {
    char *name;
    struct oscore_ctx *ctx;
    struct oscore_server *srv;
    bool synced;
    bool echo_pending;
    uint8_t echo[OSCORE_ECHO_LEN];
    uint64_t echo_expires_us;
};

struct oscore_server {
    struct oscore_srv_entry *v;
    size_t n;
    struct oscore_store *store;
    bool own_store;
    uint64_t echo_lifetime_us;
    uint64_t (*now_us)(void);
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int seq_store_cb(void *userdata, uint64_t bound)
{
    struct oscore_srv_entry *e = userdata;
    int r = oscore_store_put(e->srv->store, e->name, bound);
    if (r < 0)
        log_msg(LOG_ERR,
                "oscore: context '%s': cannot store the sequence number bound: %s; not sending",
                e->name, strerror(-r));
    return r;
}

void oscore_server_free(struct oscore_server *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].name);
        oscore_ctx_free(s->v[i].ctx);
        OPENSSL_cleanse(&s->v[i], sizeof(s->v[i]));
    }
    free(s->v);
    if (s->own_store)
        oscore_store_free(s->store);
    free(s);
}

int oscore_server_load(const char *contexts_path, const char *state_dir, struct oscore_server **out,
                       struct diags *d)
{
    struct oscore_ctx_store *cs = NULL;
    struct oscore_store *st = NULL;
    *out = NULL;
    int r = oscore_ctx_load(contexts_path, &cs, d);
    if (r == 0 && state_dir)
        r = oscore_store_open(state_dir, &st, d);
    if (r == 0) {
        struct oscore_server_params p = {.contexts = cs, .store = st};
        r = oscore_server_new(&p, out, d);
    }
    if (r == 0) {
        (*out)->own_store = st != NULL;
        st = NULL;
    }
    oscore_store_free(st);
    oscore_ctx_store_free(cs);
    return r;
}

size_t oscore_server_count(const struct oscore_server *s)
{
    return s ? s->n : 0;
}

int oscore_server_new(const struct oscore_server_params *p, struct oscore_server **out,
                      struct diags *d)
{
    struct oscore_server *s = NULL;
    int r = 0;
    if (!p || !out)
        return -EINVAL;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->store = p->store;
    s->echo_lifetime_us = p->echo_lifetime_us ? p->echo_lifetime_us : OSCORE_ECHO_LIFETIME_DEFAULT;
    s->now_us = p->now_us ? p->now_us : mono_us;
    size_t n = p->contexts ? p->contexts->n : 0;
    if (n) {
        s->v = calloc(n, sizeof(*s->v));
        if (!s->v) {
            r = -ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct oscore_ctx_entry *ce = &p->contexts->v[i];
        struct oscore_srv_entry *e = &s->v[s->n];
        struct oscore_ctx_params cp;
        uint64_t bound = 0;
        oscore_ctx_entry_params(ce, &cp);
        if (s->store) {
            r = oscore_store_get(s->store, ce->name, &bound, d);
            if (r == -ENOMEM)
                goto out;
            if (r < 0) {
                /* the diagnostic is given; this context stays out */
                r = 0;
                continue;
            }
            cp.seq_start = bound;
            cp.seq_interval = p->seq_interval ? p->seq_interval : OSCORE_STORE_DEFAULT_K;
            cp.seq_store = seq_store_cb;
            cp.userdata = e;
        }
        e->name = strdup(ce->name);
        if (!e->name) {
            r = -ENOMEM;
            goto out;
        }
        r = oscore_ctx_new(&cp, &e->ctx);
        if (r == -ENOMEM)
            goto out;
        if (r < 0) {
            diag_add(d, "oscore", 0, "context '%s' cannot be set up: %s", ce->name, strerror(-r));
            free(e->name);
            e->name = NULL;
            r = 0;
            continue;
        }
        e->srv = s;
        if (bound > OSCORE_MAX_SEQ)
            diag_warn(d, "oscore", 0,
                      "context '%s': sender sequence numbers exhausted; it can only receive "
                      "(replace it: oscore del, oscore add)",
                      ce->name);
        s->n++;
    }
    *out = s;
    s = NULL;
out:
    oscore_server_free(s);
    return r;
}

static struct oscore_srv_entry *find_name(const struct oscore_server *s, const char *name)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (!strcmp(s->v[i].name, name))
            return &s->v[i];
    return NULL;
}

static bool same_context(const struct oscore_ctx *a, const struct oscore_ctx *b)
{
    return a->alg == b->alg && a->sender_id_len == b->sender_id_len &&
           !memcmp(a->sender_id, b->sender_id, a->sender_id_len) &&
           a->recipient_id_len == b->recipient_id_len &&
           !memcmp(a->recipient_id, b->recipient_id, a->recipient_id_len) &&
           a->has_id_context == b->has_id_context && a->id_context_len == b->id_context_len &&
           !memcmp(a->id_context, b->id_context, a->id_context_len) &&
           CRYPTO_memcmp(a->sender_key, b->sender_key, OSCORE_KEY_LEN) == 0 &&
           CRYPTO_memcmp(a->recipient_key, b->recipient_key, OSCORE_KEY_LEN) == 0 &&
           !memcmp(a->common_iv, b->common_iv, OSCORE_NONCE_LEN);
}

void oscore_server_adopt(struct oscore_server *s, const struct oscore_server *old)
{
    for (size_t i = 0; s && old && i < s->n; i++) {
        struct oscore_srv_entry *e = &s->v[i];
        const struct oscore_srv_entry *o = find_name(old, e->name);
        if (!o || !same_context(e->ctx, o->ctx))
            continue;
        /* numbers: the higher of the two (the new one read the bound
         * from the file, which is never behind the old one's next) */
        if (o->ctx->seq > e->ctx->seq)
            e->ctx->seq = o->ctx->seq;
        if (o->ctx->seq_bound > e->ctx->seq_bound && e->ctx->seq_store)
            e->ctx->seq_bound = o->ctx->seq_bound;
        e->ctx->replay_seen = o->ctx->replay_seen;
        e->ctx->replay_max = o->ctx->replay_max;
        e->ctx->replay_bits = o->ctx->replay_bits;
        e->ctx->replay_floor = o->ctx->replay_floor;
        e->synced = o->synced;
        e->echo_pending = o->echo_pending;
        memcpy(e->echo, o->echo, sizeof(e->echo));
        e->echo_expires_us = o->echo_expires_us;
    }
}

int oscore_server_rebind(struct oscore_server *s, struct oscore_srv_result *res)
{
    if (!s || !res || res->status != OSCORE_SRV_OK || !res->entry)
        return -EINVAL;
    struct oscore_srv_entry *e = find_name(s, res->entry->name);
    if (!e || !same_context(e->ctx, res->entry->ctx))
        return -ENOENT;
    /* never behind a number the old entry handed out since the adoption */
    if (res->entry->ctx->seq > e->ctx->seq)
        e->ctx->seq = res->entry->ctx->seq;
    res->entry = e;
    res->name = e->name;
    return 0;
}

bool oscore_server_synchronised(const struct oscore_server *s, const char *name)
{
    const struct oscore_srv_entry *e = find_name(s, name);
    return e && e->synced;
}

void oscore_server_error_answer(int err, uint8_t *code, const char **diagnostic)
{
    switch (err) {
    case -EBADMSG:
        *code = OSCORE_CODE_BAD_OPTION;
        *diagnostic = "Failed to decode COSE";
        break;
    case -ENOENT:
        *code = OSCORE_CODE_UNAUTHORIZED;
        *diagnostic = "Security context not found";
        break;
    case -EALREADY:
    case -ESTALE:
        *code = OSCORE_CODE_UNAUTHORIZED;
        *diagnostic = "Replay detected";
        break;
    case -EACCES:
        *code = OSCORE_CODE_BAD_REQUEST;
        *diagnostic = "Decryption failed";
        break;
    case -EPROTO:
        *code = OSCORE_CODE_BAD_REQUEST;
        *diagnostic = "Malformed inner message";
        break;
    default:
        *code = OSCORE_CODE_INTERNAL;
        *diagnostic = NULL;
        break;
    }
}

/* ---- unprotect ------------------------------------------------------------ */

/* What the request says about its context, checked before any context is
 * tried, so that later -EBADMSG can only come from the inner message. */
static int precheck(const struct oscore_msg *in, struct oscore_option_value *v, bool *decoded)
{
    const struct oscore_option *o = NULL;
    size_t cnt = 0;
    if (in->n_opts > OSCORE_MAX_OPTIONS || !in->payload || in->payload_len == 0)
        return -EBADMSG;
    for (size_t i = 0; i < in->n_opts; i++) {
        if (i && in->opts[i].number < in->opts[i - 1].number)
            return -EBADMSG;
        if ((!in->opts[i].value && in->opts[i].len) || in->opts[i].len > OSCORE_MAX_OPTION_LEN)
            return -EBADMSG;
        if (in->opts[i].number == OSCORE_OPT_OSCORE) {
            o = &in->opts[i];
            cnt++;
        }
    }
    if (!o || cnt != 1)
        return -EBADMSG;
    int r = oscore_option_decode(o->value, o->len, v);
    if (r < 0)
        return -EBADMSG;
    *decoded = true; /* the kid, if any, can be logged */
    if (!v->piv || !v->has_kid)
        return -EBADMSG;
    if (v->piv_len == 0 || v->piv_len > OSCORE_MAX_PIV || (v->piv_len > 1 && v->piv[0] == 0))
        return -EBADMSG;
    return 0;
}

static bool candidate(const struct oscore_srv_entry *e, const struct oscore_option_value *v)
{
    const struct oscore_ctx *c = e->ctx;
    if (v->kid_len != c->recipient_id_len || memcmp(v->kid, c->recipient_id, v->kid_len) != 0)
        return false;
    if (v->has_kid_context && (!c->has_id_context || v->kid_context_len != c->id_context_len ||
                               memcmp(v->kid_context, c->id_context, v->kid_context_len) != 0))
        return false;
    return true;
}

static uint64_t piv_seq(const struct oscore_req *req)
{
    uint64_t v = 0;
    for (size_t i = 0; i < req->piv_len; i++)
        v = (v << 8) | req->piv[i];
    return v;
}

static void log_failure(const struct oscore_option_value *v, const char *name, int err,
                        const char *what)
{
    char kid[2 * OSCORE_MAX_ID + 1] = "", kctx[2 * OSCORE_MAX_ID_CONTEXT + 1] = "";
    if (v && v->has_kid && v->kid_len <= OSCORE_MAX_ID)
        hex_encode(v->kid, v->kid_len, kid);
    if (v && v->has_kid_context && v->kid_context_len <= OSCORE_MAX_ID_CONTEXT)
        hex_encode(v->kid_context, v->kid_context_len, kctx);
    log_msg(LOG_NOTICE, "oscore: request refused: %s (kid=%s%s%s%s%s%s)", what,
            v && v->has_kid ? (kid[0] ? kid : "(empty)") : "(none)",
            v && v->has_kid_context ? " kid_context=" : "",
            v && v->has_kid_context ? (kctx[0] ? kctx : "(empty)") : "", name ? " context='" : "",
            name ? name : "", name ? "'" : "");
    (void)err;
}

static enum oscore_srv_status fail(struct oscore_srv_result *res, int err,
                                   const struct oscore_option_value *v, const char *name)
{
    static const char *const what[] = {"malformed OSCORE option", "security context not found",
                                       "replay detected", "decryption failed",
                                       "malformed inner message"};
    const char *w;
    switch (err) {
    case -EBADMSG: w = what[0]; break;
    case -ENOENT: w = what[1]; break;
    case -EALREADY:
    case -ESTALE: w = what[2]; break;
    case -EACCES: w = what[3]; break;
    case -EPROTO: w = what[4]; break;
    default: w = strerror(-err); break;
    }
    log_failure(v, name, err, w);
    *res = (struct oscore_srv_result){.status = OSCORE_SRV_ERROR, .err = err};
    oscore_server_error_answer(err, &res->code, &res->diagnostic);
    return OSCORE_SRV_ERROR;
}

/* Removes every Echo option from m; the first one's value into *echo. */
static void take_echo(struct oscore_msg *m, const struct oscore_option **echo,
                      struct oscore_option *saved)
{
    size_t o = 0;
    *echo = NULL;
    for (size_t i = 0; i < m->n_opts; i++) {
        if (m->opts[i].number == OSCORE_OPT_ECHO) {
            if (!*echo) {
                *saved = m->opts[i];
                *echo = saved;
            }
            continue;
        }
        m->opts[o++] = m->opts[i];
    }
    m->n_opts = o;
}

enum oscore_srv_status oscore_server_unprotect(struct oscore_server *s, const struct oscore_msg *in,
                                               uint8_t *buf, size_t cap,
                                               struct oscore_srv_result *res)
{
    struct oscore_option_value v;
    struct oscore_srv_entry *e = NULL;
    const char *last_name = NULL;
    int r, err = -ENOENT;

    if (!s || !in || !buf || !res) {
        if (res)
            return fail(res, -EINVAL, NULL, NULL);
        return OSCORE_SRV_ERROR;
    }
    bool decoded = false;
    r = precheck(in, &v, &decoded);
    if (r < 0)
        return fail(res, r, decoded ? &v : NULL, NULL);
    *res = (struct oscore_srv_result){0};
    for (size_t i = 0; i < s->n; i++) {
        if (!candidate(&s->v[i], &v))
            continue;
        last_name = s->v[i].name;
        r = oscore_unprotect_request(s->v[i].ctx, in, &res->inner, buf, cap, &res->req);
        if (r == 0) {
            e = &s->v[i];
            break;
        }
        if (r == -EBADMSG)
            r = -EPROTO; /* the outer message passed precheck */
        /* the most telling error of the candidates: anything over "not found" */
        if (err == -ENOENT || err == -EACCES)
            err = r;
    }
    if (!e)
        return fail(res, err, &v, last_name);

    const struct oscore_option *echo;
    struct oscore_option saved;
    take_echo(&res->inner, &echo, &saved);
    res->name = e->name;
    res->entry = e;
    if (e->synced) {
        res->status = OSCORE_SRV_OK;
        return OSCORE_SRV_OK;
    }
    uint64_t now = s->now_us();
    if (e->echo_pending && now >= e->echo_expires_us)
        e->echo_pending = false;
    if (echo && e->echo_pending &&
        util_secret_eq(echo->value, echo->len, e->echo, sizeof(e->echo))) {
        /* B.1.2: the Echo proves freshness; its Partial IV starts the window */
        oscore_replay_sync(e->ctx, piv_seq(&res->req));
        e->synced = true;
        e->echo_pending = false;
        OPENSSL_cleanse(e->echo, sizeof(e->echo));
        log_msg(LOG_INFO, "oscore: context '%s' synchronised (replay window rebuilt with Echo)",
                e->name);
        res->status = OSCORE_SRV_OK;
        return OSCORE_SRV_OK;
    }
    /* not synchronised: verified, but not processed; the window stays
     * empty until an Echo comes back */
    oscore_replay_clear(e->ctx);
    if (!e->echo_pending) {
        if (RAND_bytes(e->echo, sizeof(e->echo)) != 1) {
            res->entry = NULL;
            res->name = NULL;
            return fail(res, -EIO, &v, e->name);
        }
        e->echo_pending = true;
        e->echo_expires_us = now + s->echo_lifetime_us;
    }
    log_msg(LOG_DEBUG, "oscore: context '%s' not synchronised yet: Echo challenge", e->name);
    res->inner = (struct oscore_msg){0};
    res->status = OSCORE_SRV_CHALLENGE;
    return OSCORE_SRV_CHALLENGE;
}

/* ---- answers -------------------------------------------------------------- */

static bool entry_valid(const struct oscore_server *s, const struct oscore_srv_entry *e)
{
    return e && s->n && e >= s->v && e < s->v + s->n;
}

int oscore_server_protect_response(struct oscore_server *s, const struct oscore_srv_result *res,
                                   bool new_piv, const struct oscore_msg *plain,
                                   struct oscore_msg *out, uint8_t *buf, size_t cap)
{
    if (!s || !res || res->status != OSCORE_SRV_OK || !entry_valid(s, res->entry))
        return -EINVAL;
    int r = oscore_protect_response(res->entry->ctx, &res->req, new_piv, plain, out, buf, cap);
    if (r < 0)
        log_msg(LOG_WARNING, "oscore: context '%s': cannot protect the response: %s",
                res->entry->name, strerror(-r));
    return r;
}

int oscore_server_challenge(struct oscore_server *s, const struct oscore_srv_result *res,
                            struct oscore_msg *out, uint8_t *buf, size_t cap)
{
    if (!s || !res || res->status != OSCORE_SRV_CHALLENGE || !entry_valid(s, res->entry) ||
        !res->entry->echo_pending)
        return -EINVAL;
    struct oscore_msg m = {.code = OSCORE_CODE_UNAUTHORIZED, .n_opts = 1};
    m.opts[0] = (struct oscore_option){
            .number = OSCORE_OPT_ECHO, .len = OSCORE_ECHO_LEN, .value = res->entry->echo};
    /* B.1.2: the request is not known to be fresh, so its nonce may have
     * been answered before (before a restart, or with another Echo): the
     * answer takes a nonce of its own, with a new Partial IV. */
    int r = oscore_protect_response(res->entry->ctx, &res->req, true, &m, out, buf, cap);
    if (r < 0)
        log_msg(LOG_WARNING, "oscore: context '%s': cannot protect the Echo challenge: %s",
                res->entry->name, strerror(-r));
    return r;
}
