/* south/coap.c - see south/coap.h.
 *
 * Objects:
 *   struct south_coap       the client: a libcoap context on the loop
 *   struct south_coap_sess  one UDP client session per device address
 *   struct south_coap_call  one request: its token, timer and callback; or
 *                           one consumer's share of an observation
 *   struct south_coap_obs   one device observation (RFC 7641) shared by
 *                           every call observing the same URL: the first
 *                           subscriber registers with the device, later ones
 *                           get its last notification at once, the last one
 *                           to leave deregisters
 *
 * Cleanup style: a call ends in one place (call_end), which unlinks it,
 * stops its timer and frees it; done() is called after that.
 */
#define _GNU_SOURCE
#include "south/coap.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>

#include "log.h"
#include "util.h"

#define SOUTH_COAP_DEFAULT_TIMEOUT (10 * 1000000ull)
#define SOUTH_COAP_DEFAULT_MAX     (1u << 20)
#define SOUTH_COAP_MAX_SESSIONS    256
#define SOUTH_COAP_URL_MAX         2048

struct south_coap_sess {
    char key[80]; /* "host:port" */
    coap_session_t *s;
};

struct south_coap_call {
    struct south_coap *c;
    struct south_coap_call *prev, *next;
    coap_session_t *session;
    uint8_t token[8];
    size_t token_len;
    size_t max_response;
    sd_event_source *timer;
    south_coap_done_fn done;
    south_coap_notify_fn notify; /* an observation (RFC 7641) */
    bool observing;              /* the device answered with Observe */
    void *ud;
    /* a subscriber of a shared observation (not in c->calls) */
    struct south_coap_obs *obs;
    struct south_coap_call *sprev, *snext;
    sd_event_source *replay; /* delivers the observation's last notification */
    bool dead;               /* cancelled while the observation delivers */
};

struct south_coap_obs {
    struct south_coap *c;
    struct south_coap_obs *prev, *next;
    char *url;
    struct south_coap_call *dev; /* the device's observation; NULL once it ended */
    struct south_coap_call *subs;
    size_t n_subs;
    unsigned busy; /* inside a delivery loop: cancelled subscribers wait */
    bool have_last;
    uint8_t code;
    int content_format;
    uint8_t *last;
    size_t last_len;
};

struct south_coap {
    sd_event *ev;
    coap_context_t *ctx;
    sd_event_source *io, *timer, *kick;
    struct south_coap_sess *sess;
    size_t n_sess;
    struct south_coap_call *calls;
    size_t n_calls;
    struct south_coap_obs *obs;
    size_t n_subs;
};

const char *south_coap_error_name(enum south_coap_error e)
{
    switch (e) {
    case SOUTH_COAP_OK: return "ok";
    case SOUTH_COAP_CONNECT: return "connect";
    case SOUTH_COAP_TIMEOUT: return "timeout";
    case SOUTH_COAP_PROTOCOL: return "protocol";
    case SOUTH_COAP_TOO_LARGE: return "too large";
    default: return "internal";
    }
}

/* ---- URLs ------------------------------------------------------------------------ */

static int hexv(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into buf at *pos; the value's start and length. */
static int decode_part(const char *s, size_t n, uint8_t *buf, size_t cap, size_t *pos,
                       const uint8_t **val, size_t *vlen)
{
    size_t start = *pos;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = (uint8_t)s[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return -EINVAL;
            int a = hexv(s[i + 1]), b = hexv(s[i + 2]);
            if (a < 0 || b < 0)
                return -EINVAL;
            ch = (uint8_t)(a << 4 | b);
            i += 2;
        } else if (ch <= 0x20 || ch >= 0x7f) {
            return -EINVAL;
        }
        if (*pos >= cap)
            return -E2BIG;
        buf[(*pos)++] = ch;
    }
    if (*pos - start > 255) /* Uri-Path / Uri-Query values (RFC 7252 §5.10) */
        return -EINVAL;
    *val = buf + start;
    *vlen = *pos - start;
    return 0;
}

int south_coap_parse_url(const char *url, uint8_t *buf, size_t cap, struct south_coap_url *out)
{
    memset(out, 0, sizeof(*out));
    if (!url || strncasecmp(url, "coap://", 7))
        return -EINVAL;
    const char *h = url + 7, *he, *p;
    if (*h == '[') {
        he = strchr(h, ']');
        if (!he)
            return -EINVAL;
        if ((size_t)(he - h - 1) >= sizeof(out->host) || he == h + 1)
            return -EINVAL;
        memcpy(out->host, h + 1, (size_t)(he - h - 1));
        out->host[he - h - 1] = '\0';
        p = he + 1;
    } else {
        size_t hl = strcspn(h, ":/?#");
        if (hl == 0 || hl >= sizeof(out->host) || memchr(h, '@', hl))
            return -EINVAL;
        memcpy(out->host, h, hl);
        out->host[hl] = '\0';
        p = h + hl;
    }
    out->port = 5683;
    if (*p == ':') {
        p++;
        size_t pl = strspn(p, "0123456789");
        if (pl == 0 || pl > 5)
            return -EINVAL;
        unsigned long v = strtoul(p, NULL, 10);
        if (v == 0 || v > 65535)
            return -EINVAL;
        out->port = (uint16_t)v;
        p += pl;
    }
    if (*p && *p != '/' && *p != '?')
        return -EINVAL; /* a fragment or junk after the authority */
    size_t pos = 0;
    size_t pathlen = strcspn(p, "?#");
    const char *q = p[pathlen] == '?' ? p + pathlen + 1 : NULL;
    /* path: "/a/b" -> "a", "b"; "/" and "" -> none; a trailing '/' is an empty segment */
    if (pathlen > 1 || (pathlen == 1 && p[0] != '/')) {
        const char *s = p[0] == '/' ? p + 1 : p;
        const char *end = p + pathlen;
        while (s <= end) {
            const char *slash = memchr(s, '/', (size_t)(end - s));
            const char *se = slash ? slash : end;
            if (out->n_path == SOUTH_COAP_MAX_OPTS)
                return -E2BIG;
            int r = decode_part(s, (size_t)(se - s), buf, cap, &pos, &out->path[out->n_path],
                                &out->path_len[out->n_path]);
            if (r < 0)
                return r;
            out->n_path++;
            if (!slash)
                break;
            s = slash + 1;
        }
    }
    if (q) {
        size_t ql = strcspn(q, "#");
        const char *s = q, *end = q + ql;
        while (ql && s <= end) {
            const char *amp = memchr(s, '&', (size_t)(end - s));
            const char *se = amp ? amp : end;
            if (se > s) {
                if (out->n_query == SOUTH_COAP_MAX_OPTS)
                    return -E2BIG;
                int r = decode_part(s, (size_t)(se - s), buf, cap, &pos, &out->query[out->n_query],
                                    &out->query_len[out->n_query]);
                if (r < 0)
                    return r;
                out->n_query++;
            }
            if (!amp)
                break;
            s = amp + 1;
        }
    }
    return 0;
}

/* ---- the loop glue ---------------------------------------------------------------------- */

/* As in north/coaps.c: libcoap's epoll fd (its sockets and its own
 * timerfd, which coap_io_process() keeps armed) drives it; a defer source
 * runs it after a request was sent from outside its callbacks, and a slow
 * timer is a safety net. */
#define SOUTH_COAP_SAFETY_TICK_US (1000000ull)

static void sc_run(struct south_coap *c)
{
    coap_io_process(c->ctx, COAP_IO_NO_WAIT);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
    sc_run(ud);
    return 0;
}

static int on_kick(sd_event_source *s, void *ud)
{
    sc_run(ud);
    return 0;
}

static int on_lib_timer(sd_event_source *s, uint64_t usec, void *ud)
{
    sc_run(ud);
    sd_event_source_set_time(s, usec + SOUTH_COAP_SAFETY_TICK_US);
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    return 0;
}

/* ---- calls -------------------------------------------------------------------------- */

static void obs_unlink_free(struct south_coap_obs *o);
static void sub_unlink_free(struct south_coap_call *k);

static void call_unlink_free(struct south_coap_call *k)
{
    struct south_coap *c = k->c;
    DLIST_UNLINK(&c->calls, k, prev, next);
    c->n_calls--;
    sd_event_source_disable_unref(k->timer);
    free(k);
}

static void call_end(struct south_coap_call *k, const struct south_coap_response *r)
{
    south_coap_done_fn done = k->done;
    void *ud = k->ud;
    call_unlink_free(k);
    done(ud, r);
}

static void call_fail(struct south_coap_call *k, enum south_coap_error e, const char *why)
{
    struct south_coap_response r = {.error = e, .error_text = why, .content_format = -1};
    call_end(k, &r);
}

static struct south_coap_call *find_call(struct south_coap *c, coap_session_t *s,
                                         const coap_pdu_t *pdu)
{
    if (!pdu)
        return NULL;
    coap_bin_const_t tok = coap_pdu_get_token(pdu);
    for (struct south_coap_call *k = c->calls; k; k = k->next)
        if (k->session == s && k->token_len == tok.length && !memcmp(k->token, tok.s, tok.length))
            return k;
    return NULL;
}

static int on_call_timeout(sd_event_source *s, uint64_t usec, void *ud)
{
    call_fail(ud, SOUTH_COAP_TIMEOUT, "the device did not answer in time");
    return 0;
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *recv, const coap_mid_t mid)
{
    struct south_coap *c = coap_get_app_data(coap_session_get_context(s));
    struct south_coap_call *k = c ? find_call(c, s, recv) : NULL;
    if (!k) /* late (timed out or cancelled): a notification gets RST, which ends the
             * device's observation (RFC 7641 §3.6) */
        return coap_check_option(recv, COAP_OPTION_OBSERVE, &(coap_opt_iterator_t){0})
                       ? COAP_RESPONSE_FAIL
                       : COAP_RESPONSE_OK;
    uint8_t code = (uint8_t)coap_pdu_get_code(recv);
    if ((code >> 5) < 2 || (code >> 5) > 5) {
        call_fail(k, SOUTH_COAP_PROTOCOL, "the device sent a request code as an answer");
        return COAP_RESPONSE_OK;
    }
    struct south_coap_response r = {.error = SOUTH_COAP_OK, .code = code, .content_format = -1};
    coap_opt_iterator_t it;
    coap_opt_t *cf = coap_check_option(recv, COAP_OPTION_CONTENT_FORMAT, &it);
    if (cf && coap_opt_length(cf) <= 2)
        r.content_format = (int)coap_decode_var_bytes(coap_opt_value(cf), coap_opt_length(cf));
    coap_opt_t *osc = coap_check_option(recv, COAP_OPTION_OSCORE, &it);
    if (osc) {
        r.has_oscore = true;
        r.oscore_option = coap_opt_value(osc);
        r.oscore_option_len = coap_opt_length(osc);
    }
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    if (coap_get_data_large(recv, &len, &data, &off, &total) && len) {
        if (off != 0 || (total && total != len)) {
            call_fail(k, SOUTH_COAP_PROTOCOL, "the device's block-wise answer was incomplete");
            return COAP_RESPONSE_OK;
        }
        if (len > k->max_response) {
            call_fail(k, SOUTH_COAP_TOO_LARGE, "the device's answer is larger than the limit");
            return COAP_RESPONSE_OK;
        }
        r.body = data;
        r.body_len = len;
    }
    if (k->notify && (code >> 5) == 2) {
        coap_opt_iterator_t oi;
        bool more = coap_check_option(recv, COAP_OPTION_OBSERVE, &oi) != NULL;
        if (more && !k->observing) {
            k->observing = true; /* no overall timeout from now on */
            sd_event_source_set_enabled(k->timer, SD_EVENT_OFF);
        }
        if (more) {
            k->notify(k->ud, &r); /* k may not be touched after this */
            return COAP_RESPONSE_OK;
        }
        /* a plain answer: the device does not observe; one value, then done */
        south_coap_notify_fn notify = k->notify;
        void *ud = k->ud;
        south_coap_done_fn done = k->done;
        call_unlink_free(k);
        r.final = true;
        notify(ud, &r);
        struct south_coap_response end = {
                .error = SOUTH_COAP_OK, .code = code, .content_format = -1};
        done(ud, &end);
        return COAP_RESPONSE_OK;
    }
    call_end(k, &r);
    return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
    struct south_coap *c = coap_get_app_data(coap_session_get_context(s));
    struct south_coap_call *k = c ? find_call(c, s, sent) : NULL;
    if (!k)
        return;
    const char *why = reason == COAP_NACK_RST ? "the device reset the request"
                      : reason == COAP_NACK_TOO_MANY_RETRIES
                              ? "the device did not acknowledge the request"
                              : "the device could not be reached";
    call_fail(k, SOUTH_COAP_CONNECT, why);
}

/* libcoap has one log handler per process, shared with the CoAPS front
 * end: errors as warnings, the rest only with debug logging. */
static void on_coap_log(coap_log_t level, const char *message)
{
    int prio = level <= LOG_ERR ? LOG_WARNING : LOG_DEBUG;
    if (prio == LOG_DEBUG && !log_debug_enabled())
        return;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", message);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_msg(prio, "libcoap: %s", buf);
}

/* ---- sessions --------------------------------------------------------------------- */

static coap_session_t *session_for(struct south_coap *c, const char *host, uint16_t port)
{
    char key[80];
    coap_address_t a;
    snprintf(key, sizeof(key), "%s:%u", host, port);
    for (size_t i = 0; i < c->n_sess; i++)
        if (!strcmp(c->sess[i].key, key))
            return c->sess[i].s;
    if (c->n_sess == SOUTH_COAP_MAX_SESSIONS)
        return NULL;
    const char *ip = !strcasecmp(host, "localhost") ? "127.0.0.1" : host;
    coap_address_init(&a);
    if (inet_pton(AF_INET, ip, &a.addr.sin.sin_addr) == 1) {
        a.addr.sin.sin_family = AF_INET;
        a.addr.sin.sin_port = htons(port);
        a.size = sizeof(a.addr.sin);
    } else if (inet_pton(AF_INET6, ip, &a.addr.sin6.sin6_addr) == 1) {
        a.addr.sin6.sin6_family = AF_INET6;
        a.addr.sin6.sin6_port = htons(port);
        a.size = sizeof(a.addr.sin6);
    } else {
        return NULL; /* names are not resolved on the loop */
    }
    struct south_coap_sess *nv = reallocarray(c->sess, c->n_sess + 1, sizeof(*nv));
    if (!nv)
        return NULL;
    c->sess = nv;
    coap_session_t *s = coap_new_client_session(c->ctx, NULL, &a, COAP_PROTO_UDP);
    if (!s)
        return NULL;
    memcpy(c->sess[c->n_sess].key, key, sizeof(key));
    c->sess[c->n_sess].s = s;
    c->n_sess++;
    return s;
}

/* ---- the client --------------------------------------------------------------------- */

int south_coap_new(sd_event *ev, struct south_coap **out)
{
    static bool started;
    struct south_coap *c = calloc(1, sizeof(*c));
    int r;
    *out = NULL;
    if (!c)
        return -ENOMEM;
    if (!started) {
        coap_startup();
        started = true;
    }
    coap_set_log_handler(on_coap_log);
    coap_set_log_level(log_debug_enabled() ? LOG_DEBUG : LOG_WARNING);
    c->ev = sd_event_ref(ev);
    c->ctx = coap_new_context(NULL);
    if (!c->ctx) {
        r = -ENOMEM;
        goto fail;
    }
    coap_set_app_data(c->ctx, c);
    coap_context_set_block_mode(c->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_response_handler(c->ctx, on_response);
    coap_register_nack_handler(c->ctx, on_nack);
    /* critical: an answer with it would be refused before on_response */
    coap_register_option(c->ctx, COAP_OPTION_OSCORE);
    int fd = coap_context_get_coap_fd(c->ctx);
    if (fd < 0) {
        r = -EPROTONOSUPPORT;
        goto fail;
    }
    if ((r = sd_event_add_io(ev, &c->io, fd, EPOLLIN, on_io, c)) < 0 ||
        (r = sd_event_add_time_relative(ev, &c->timer, CLOCK_MONOTONIC, SOUTH_COAP_SAFETY_TICK_US,
                                        100000, on_lib_timer, c)) < 0 ||
        (r = sd_event_add_defer(ev, &c->kick, on_kick, c)) < 0 ||
        (r = sd_event_source_set_enabled(c->kick, SD_EVENT_OFF)) < 0)
        goto fail;
    *out = c;
    return 0;
fail:
    south_coap_free(c);
    return r;
}

void south_coap_free(struct south_coap *c)
{
    if (!c)
        return;
    while (c->obs) {
        struct south_coap_obs *o = c->obs;
        while (o->subs)
            sub_unlink_free(o->subs);
        o->dev = NULL; /* freed with c->calls below */
        obs_unlink_free(o);
    }
    while (c->calls)
        call_unlink_free(c->calls);
    sd_event_source_disable_unref(c->io);
    sd_event_source_disable_unref(c->timer);
    sd_event_source_disable_unref(c->kick);
    for (size_t i = 0; i < c->n_sess; i++)
        coap_session_release(c->sess[i].s);
    free(c->sess);
    if (c->ctx)
        coap_free_context(c->ctx);
    sd_event_unref(c->ev);
    free(c);
}

static void release_body(coap_session_t *s, void *p)
{
    free(p);
}

static int start(struct south_coap *c, const struct south_coap_request *req,
                 south_coap_notify_fn notify, south_coap_done_fn done, void *ud,
                 struct south_coap_call **out)
{
    struct south_coap_url u;
    uint8_t *buf = NULL, *copy = NULL;
    struct south_coap_call *k = NULL;
    coap_pdu_t *pdu = NULL;
    int r;
    if (out)
        *out = NULL;
    size_t ul = req->url ? strlen(req->url) : 0;
    if (!ul || ul > SOUTH_COAP_URL_MAX)
        return -EINVAL;
    buf = malloc(ul);
    if (!buf)
        return -ENOMEM;
    if ((r = south_coap_parse_url(req->url, buf, ul, &u)) < 0) {
        r = -EINVAL;
        goto out;
    }
    coap_session_t *s = session_for(c, u.host, u.port);
    if (!s) {
        r = -EINVAL;
        goto out;
    }
    k = calloc(1, sizeof(*k));
    if (!k) {
        r = -ENOMEM;
        goto out;
    }
    k->c = c;
    k->session = s;
    k->done = done;
    k->notify = notify;
    k->ud = ud;
    k->max_response = req->max_response ? req->max_response : SOUTH_COAP_DEFAULT_MAX;
    pdu = coap_pdu_init(COAP_MESSAGE_CON, (coap_pdu_code_t)req->method, coap_new_message_id(s),
                        coap_session_max_pdu_size(s));
    if (!pdu) {
        r = -ENOMEM;
        goto out;
    }
    coap_session_new_token(s, &k->token_len, k->token);
    if (!coap_add_token(pdu, k->token_len, k->token)) {
        r = -ENOMEM;
        goto out;
    }
    r = -EINVAL;
    if (req->oscore && (notify || req->content_format >= 0))
        goto out;
    if (req->oscore) { /* options in number order: Uri-Host (3), OSCORE (9) */
        struct in6_addr a6;
        if (inet_pton(AF_INET, u.host, &a6) != 1 && inet_pton(AF_INET6, u.host, &a6) != 1 &&
            !coap_add_option(pdu, COAP_OPTION_URI_HOST, strlen(u.host), (const uint8_t *)u.host))
            goto out;
        if (!coap_add_option(pdu, COAP_OPTION_OSCORE, req->oscore_option_len, req->oscore_option))
            goto out;
    }
    if (notify && !coap_add_option(pdu, COAP_OPTION_OBSERVE, 0, NULL)) /* register (0) */
        goto out;
    for (size_t i = 0; !req->oscore && i < u.n_path; i++)
        if (!coap_add_option(pdu, COAP_OPTION_URI_PATH, u.path_len[i], u.path[i]))
            goto out;
    if (req->content_format >= 0) {
        uint8_t fb[4];
        if (!coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                             coap_encode_var_safe(fb, sizeof(fb), (unsigned)req->content_format),
                             fb))
            goto out;
    }
    for (size_t i = 0; !req->oscore && i < u.n_query; i++)
        if (!coap_add_option(pdu, COAP_OPTION_URI_QUERY, u.query_len[i], u.query[i]))
            goto out;
    if (req->body_len) {
        copy = malloc(req->body_len);
        if (!copy) {
            r = -ENOMEM;
            goto out;
        }
        memcpy(copy, req->body, req->body_len);
        if (!coap_add_data_large_request(s, pdu, req->body_len, copy, release_body, copy)) {
            free(copy); /* not taken */
            copy = NULL;
            r = -ENOMEM;
            goto out;
        }
        copy = NULL; /* libcoap releases it */
    }
    uint64_t to = req->timeout_us ? req->timeout_us : SOUTH_COAP_DEFAULT_TIMEOUT;
    uint64_t now;
    sd_event_now(c->ev, CLOCK_MONOTONIC, &now);
    if ((r = sd_event_add_time(c->ev, &k->timer, CLOCK_MONOTONIC, now + to, 1000, on_call_timeout,
                               k)) < 0)
        goto out;
    k->next = c->calls;
    if (c->calls)
        c->calls->prev = k;
    c->calls = k;
    c->n_calls++;
    coap_mid_t mid = coap_send(s, pdu);
    pdu = NULL; /* coap_send() took it, whatever happened */
    if (mid == COAP_INVALID_MID) {
        call_unlink_free(k);
        k = NULL;
        r = -EIO;
        goto out;
    }
    if (out)
        *out = k;
    k = NULL;
    r = 0;
    sd_event_source_set_enabled(c->kick, SD_EVENT_ONESHOT);
out:
    if (pdu)
        coap_delete_pdu(pdu);
    if (k) {
        sd_event_source_disable_unref(k->timer);
        free(k);
    }
    free(buf);
    return r;
}

int south_coap_start(struct south_coap *c, const struct south_coap_request *req,
                     south_coap_done_fn done, void *ud, struct south_coap_call **out)
{
    return start(c, req, NULL, done, ud, out);
}

/* ---- shared observations ------------------------------------------------------------ */

static void obs_unlink_free(struct south_coap_obs *o)
{
    DLIST_UNLINK(&o->c->obs, o, prev, next);
    free(o->url);
    free(o->last);
    free(o);
}

static void sub_unlink_free(struct south_coap_call *k)
{
    struct south_coap_obs *o = k->obs;
    DLIST_UNLINK(&o->subs, k, sprev, snext);
    o->n_subs--;
    o->c->n_subs--;
    sd_event_source_disable_unref(k->replay);
    free(k);
}

/* Cancels a plain call: a registered observation is deregistered (RFC
 * 7641 §3.6). */
static void call_cancel(struct south_coap_call *k)
{
    if (k->observing) {
        coap_binary_t tok = {k->token_len, k->token};
        coap_cancel_observe(k->session, &tok, COAP_MESSAGE_NON);
        sd_event_source_set_enabled(k->c->kick, SD_EVENT_ONESHOT);
    }
    call_unlink_free(k);
}

/* Nobody observes any more: the device observation ends. */
static void obs_release(struct south_coap_obs *o)
{
    if (o->n_subs || o->busy)
        return;
    if (o->dev)
        call_cancel(o->dev);
    obs_unlink_free(o);
}

static void obs_sweep(struct south_coap_obs *o)
{
    struct south_coap_call *k, *next;
    for (k = o->subs; k; k = next) {
        next = k->snext;
        if (k->dead)
            sub_unlink_free(k);
    }
}

/* A notification of the device: kept for later subscribers, then handed
 * to every subscriber. A subscriber's notify() may cancel any call. */
static void obs_notify(void *ud, const struct south_coap_response *r)
{
    struct south_coap_obs *o = ud;
    uint8_t *copy = NULL;
    if (r->body_len && !(copy = malloc(r->body_len))) {
        o->have_last = false; /* a later subscriber waits for the next one */
    } else {
        if (r->body_len)
            memcpy(copy, r->body, r->body_len);
        free(o->last);
        o->last = copy;
        o->last_len = r->body_len;
        o->code = r->code;
        o->content_format = r->content_format;
        o->have_last = true;
    }
    o->busy++;
    for (struct south_coap_call *k = o->subs; k; k = k->snext) {
        if (k->dead)
            continue;
        sd_event_source_set_enabled(k->replay, SD_EVENT_OFF); /* this one is newer */
        k->notify(k->ud, r);
    }
    o->busy--;
    obs_sweep(o);
    if (!r->final) /* else done() follows at once, and the device call is gone */
        obs_release(o);
}

/* The device ended the observation (or never started it): every
 * subscriber ends with the same outcome. */
static void obs_done(void *ud, const struct south_coap_response *r)
{
    struct south_coap_obs *o = ud;
    o->dev = NULL;
    /* unlinked first: a done() that observes the same URL again starts a
     * new observation */
    DLIST_UNLINK(&o->c->obs, o, prev, next);
    o->prev = o->next = NULL;
    o->busy++;
    while (o->subs) {
        struct south_coap_call *k = o->subs;
        south_coap_done_fn done = k->done;
        void *kud = k->ud;
        bool dead = k->dead;
        sub_unlink_free(k);
        if (!dead)
            done(kud, r);
    }
    free(o->url);
    free(o->last);
    free(o);
}

/* A late subscriber gets the device's last notification (the current
 * state, RFC 7641 §4.1) from the loop, as a registration answer would
 * come. */
static int on_replay(sd_event_source *s, void *ud)
{
    struct south_coap_call *k = ud;
    struct south_coap_obs *o = k->obs;
    sd_event_source_set_enabled(s, SD_EVENT_OFF);
    if (k->dead || !o->have_last)
        return 0;
    struct south_coap_response r = {
            .error = SOUTH_COAP_OK,
            .code = o->code,
            .content_format = o->content_format,
            .body = o->last,
            .body_len = o->last_len,
    };
    o->busy++;
    k->notify(k->ud, &r);
    o->busy--;
    obs_sweep(o);
    obs_release(o);
    return 0;
}

int south_coap_observe(struct south_coap *c, const struct south_coap_request *req,
                       south_coap_notify_fn notify, south_coap_done_fn done, void *ud,
                       struct south_coap_call **out)
{
    *out = NULL;
    /* only a plain GET is shared: anything else is a call of its own */
    if (req->method != COAP_REQUEST_CODE_GET || req->body_len || !req->url)
        return start(c, req, notify, done, ud, out);
    struct south_coap_obs *o;
    for (o = c->obs; o; o = o->next)
        if (!strcmp(o->url, req->url))
            break;
    bool fresh = !o;
    if (fresh) {
        o = calloc(1, sizeof(*o));
        if (!o || !(o->url = strdup(req->url))) {
            free(o);
            return -ENOMEM;
        }
        o->c = c;
        o->content_format = -1;
    }
    struct south_coap_call *k = calloc(1, sizeof(*k));
    int r = k ? 0 : -ENOMEM;
    if (!r && (r = sd_event_add_defer(c->ev, &k->replay, on_replay, k)) >= 0)
        r = sd_event_source_set_enabled(k->replay, o->have_last ? SD_EVENT_ONESHOT : SD_EVENT_OFF);
    if (r >= 0 && fresh)
        r = start(c, req, obs_notify, obs_done, o, &o->dev);
    if (r < 0) {
        if (k)
            sd_event_source_disable_unref(k->replay);
        free(k);
        if (fresh) {
            free(o->url);
            free(o);
        }
        return r;
    }
    if (fresh) {
        o->next = c->obs;
        if (c->obs)
            c->obs->prev = o;
        c->obs = o;
    }
    k->c = c;
    k->obs = o;
    k->notify = notify;
    k->done = done;
    k->ud = ud;
    k->snext = o->subs;
    if (o->subs)
        o->subs->sprev = k;
    o->subs = k;
    o->n_subs++;
    c->n_subs++;
    *out = k;
    return 0;
}

void south_coap_cancel(struct south_coap_call *k)
{
    if (!k)
        return;
    struct south_coap_obs *o = k->obs;
    if (!o) {
        call_cancel(k);
        return;
    }
    if (o->busy) { /* freed when the delivery loop is over */
        k->dead = true;
        sd_event_source_set_enabled(k->replay, SD_EVENT_OFF);
        return;
    }
    sub_unlink_free(k);
    obs_release(o);
}

size_t south_coap_active(const struct south_coap *c)
{
    return c ? c->n_calls + c->n_subs : 0;
}
