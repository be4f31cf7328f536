/* coap.c - the simulated device's CoAP binding; see coap.h. */
#define _GNU_SOURCE
#include "coap.h"

#include <coap3/coap.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "coap_oscore.h"
#include "coap_util.h"
#include "objsec/oscore_server.h"
#include "things.h"

/* An observable property's resource, notified on every change. */
struct sim_coap_obs {
    struct sim_watch watch;
    coap_resource_t *r;
    struct sim_coap *c;
    uint8_t *last; /* an event's last data (its GET answers it) */
    size_t last_len;
};

/* A route (a libcoap resource and its handlers), for the inner requests
 * of OSCORE, which carry their Uri-Path inside the ciphertext. */
struct sim_route {
    char *path; /* "lamp/properties/on" */
    coap_resource_t *r;
    coap_method_handler_t get, put, post;
    const struct sim_aff *aff; /* a property or action; NULL: readall, event */
};

struct sim_coap {
    sd_event *ev;
    coap_context_t *ctx;
    sd_event_source *io, *timer, *kick;
    bool quiet;
    struct sim_coap_obs *obs;
    size_t n_obs;
    struct sim_route *routes;
    size_t n_routes, cap_routes;
    struct oscore_server *osrv; /* --oscore-contexts: OSCORE only */
};

/* The plaintext answer of the OSCORE request being dispatched: answer()
 * writes it as one message, never block-wise. */
static coap_pdu_t *sim_osc_plain;
/* Set while an OSCORE inner request is dispatched to the handlers. */
static bool sim_in_oscore;

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void rearm(struct sim_coap *c)
{
    coap_tick_t now;
    coap_ticks(&now);
    unsigned ms = coap_io_prepare_epoll(c->ctx, now);
    if (ms) {
        sd_event_source_set_time(c->timer, mono_us() + (uint64_t)ms * 1000u);
        sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
    } else {
        sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
    }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
    struct sim_coap *c = ud;
    coap_io_process(c->ctx, COAP_IO_NO_WAIT);
    rearm(c);
    return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *ud)
{
    return on_io(NULL, -1, 0, ud);
}

static int on_kick(sd_event_source *s, void *ud)
{
    return on_io(NULL, -1, 0, ud);
}

/* A value changed: libcoap sends the notifications (the GET handler makes
 * them) on its next run, which a defer source schedules (the change may
 * come from inside a libcoap handler: no recursion). */
static void on_change(struct sim_watch *w, const uint8_t *data, size_t len)
{
    struct sim_coap_obs *o = w->ud;
    coap_resource_notify_observers(o->r, NULL);
    sd_event_source_set_enabled(o->c->kick, SD_EVENT_ONESHOT);
}

/* An event: kept as the resource's state, then notified like a change. */
static void on_event(struct sim_watch *w, const uint8_t *data, size_t len)
{
    struct sim_coap_obs *o = w->ud;
    uint8_t *copy = len ? malloc(len) : NULL;
    if (len && !copy)
        return;
    if (len)
        memcpy(copy, data, len);
    free(o->last);
    o->last = copy;
    o->last_len = len;
    on_change(w, data, len);
}

static struct sim_coap *the(coap_session_t *s)
{
    return coap_get_app_data(coap_session_get_context(s));
}

/* Observers seen (session, token, resource), so that the log tells a
 * registration from a notification (libcoap calls the GET handler for
 * both): the tests count device registrations with it. */
#define SIM_OBSERVERS_MAX 256
static struct sim_observer {
    const coap_session_t *s;
    const coap_resource_t *r;
    uint8_t tok[8];
    size_t len;
} sim_observers[SIM_OBSERVERS_MAX];
static size_t sim_n_observers;

/* "register", "notify", "cancel" or NULL (not an observe request) */
static const char *observe_kind(coap_session_t *s, const coap_pdu_t *req, coap_resource_t *r,
                                const coap_pdu_t *resp)
{
    coap_opt_iterator_t it;
    coap_opt_t *o = coap_check_option(req, COAP_OPTION_OBSERVE, &it);
    if (!o)
        return NULL;
    unsigned v = coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
    coap_bin_const_t tok = coap_pdu_get_token(req);
    size_t i;
    for (i = 0; i < sim_n_observers; i++)
        if (sim_observers[i].s == s && sim_observers[i].r == r &&
            sim_observers[i].len == tok.length && !memcmp(sim_observers[i].tok, tok.s, tok.length))
            break;
    bool known = i < sim_n_observers;
    if (v == 1 || (coap_pdu_get_code(resp) >> 5) != 2) { /* ends it */
        if (known)
            sim_observers[i] = sim_observers[--sim_n_observers];
        return v == 1 ? "cancel" : known ? "notify" : "register";
    }
    if (known)
        return "notify";
    if (sim_n_observers < SIM_OBSERVERS_MAX && tok.length <= 8) {
        struct sim_observer *so = &sim_observers[sim_n_observers++];
        so->s = s;
        so->r = r;
        so->len = tok.length;
        memcpy(so->tok, tok.s, tok.length);
    }
    return "register";
}

/* A session's observers go with it. */
static int on_session_event(coap_session_t *s, const coap_event_t ev)
{
    if (ev != COAP_EVENT_SERVER_SESSION_DEL)
        return 0;
    for (size_t i = 0; i < sim_n_observers;)
        if (sim_observers[i].s == s)
            sim_observers[i] = sim_observers[--sim_n_observers];
        else
            i++;
    return 0;
}

static void log_req(coap_session_t *s, const coap_pdu_t *req, coap_resource_t *r,
                    const coap_pdu_t *resp)
{
    struct sim_coap *c = the(s);
    const char *ob = observe_kind(s, req, r, resp);
    if (!c || c->quiet)
        return;
    coap_str_const_t *p = coap_resource_get_uri_path(r);
    char code[8];
    fprintf(stderr, "wotgw-simdev: coap %s /%.*s -> %s%s%s\n",
            coap_method_name((uint8_t)coap_pdu_get_code(req)) ?: "?", p ? (int)p->length : 0,
            p ? (const char *)p->s : "", coap_code_str((uint8_t)coap_pdu_get_code(resp), code),
            ob ? " observe " : "", ob ? ob : "");
}

static void release(coap_session_t *s, void *p)
{
    free(p);
}

/* The answer with a body: copied, block-wise when large. */
static void answer(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                   const coap_string_t *q, coap_pdu_t *resp, uint8_t code, const char *ct,
                   const uint8_t *data, size_t len)
{
    coap_pdu_set_code(resp, (coap_pdu_code_t)code);
    int fmt = coap_format_from_type(ct);
    if (!len && fmt == COAP_FORMAT_NONE)
        return;
    if (resp == sim_osc_plain) { /* the plaintext of an OSCORE answer */
        uint8_t fb[4];
        uint16_t f = (uint16_t)(fmt < 0 ? COAP_FORMAT_OCTET_STREAM : fmt);
        if (!coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                             coap_encode_var_safe(fb, sizeof(fb), f), fb) ||
            (len && !coap_add_data(resp, len, data)))
            coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
        return;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
        return;
    }
    if (len)
        memcpy(copy, data, len);
    if (!coap_add_data_large_response(r, s, req, resp, q,
                                      (uint16_t)(fmt < 0 ? COAP_FORMAT_OCTET_STREAM : fmt), -1, 0,
                                      len, copy, release, copy))
        free(copy);
}

static void error(coap_pdu_t *resp, uint8_t code, const char *diag)
{
    coap_pdu_set_code(resp, (coap_pdu_code_t)code);
    if (diag)
        coap_add_data(resp, strlen(diag), (const uint8_t *)diag);
}

/* In OSCORE mode a request that is not OSCORE-protected is refused. */
static bool refuse_plain(coap_session_t *s, const coap_pdu_t *req, coap_resource_t *r,
                         coap_pdu_t *resp)
{
    struct sim_coap *c = the(s);
    if (!c || !c->osrv || sim_in_oscore)
        return false;
    error(resp, COAP_RESPONSE_CODE(401), "OSCORE required");
    log_req(s, req, r, resp);
    return true;
}

static const char *req_type(const coap_pdu_t *req)
{
    coap_opt_iterator_t it;
    coap_opt_t *cf = coap_check_option(req, COAP_OPTION_CONTENT_FORMAT, &it);
    if (!cf)
        return NULL;
    return coap_format_to_type((int)coap_decode_var_bytes(coap_opt_value(cf), coap_opt_length(cf)));
}

static void on_get(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                   const coap_string_t *q, coap_pdu_t *resp)
{
    if (refuse_plain(s, req, r, resp))
        return;
    struct sim_aff *a = coap_resource_get_userdata(r);
    char buf[512];
    size_t n = 0;
    switch (a->fault) {
    case SIM_FAULT_SLOW: {
        coap_async_t *as = coap_find_async(s, coap_pdu_get_token(req));
        if (!as) {
            coap_register_async(s, req, (coap_tick_t)sim_config()->slow_ms);
            return; /* empty ACK now, the answer after slow_ms */
        }
        answer(r, s, req, q, resp, COAP_RESPONSE_CODE(205), SIM_JSON,
               (const uint8_t *)"{\"slow\":true}", 13);
        break;
    }
    case SIM_FAULT_HANG:
        if (!coap_find_async(s, coap_pdu_get_token(req)))
            coap_register_async(s, req, 0); /* acknowledged, never answered */
        return;
    case SIM_FAULT_BROKEN: coap_send_rst(s, req); return;
    case SIM_FAULT_STATUS:
        answer(r, s, req, q, resp, COAP_RESPONSE_CODE(503), SIM_JSON,
               (const uint8_t *)"{\"error\":\"device unavailable\"}", 30);
        break;
    case SIM_FAULT_HEADERS: {
        coap_opt_iterator_t it;
        coap_opt_t *o;
        n = (size_t)snprintf(buf, sizeof(buf), "[");
        coap_option_iterator_init(req, &it, COAP_OPT_ALL);
        while ((o = coap_option_next(&it)) && n + 16 < sizeof(buf))
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u", n > 1 ? "," : "",
                                  (unsigned)it.number);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "]");
        answer(r, s, req, q, resp, COAP_RESPONSE_CODE(205), SIM_JSON, (const uint8_t *)buf, n);
        break;
    }
    case SIM_FAULT_NONE:
    default:
        answer(r, s, req, q, resp, COAP_RESPONSE_CODE(205), a->ct[0] ? a->ct : SIM_JSON, a->value,
               a->len);
        break;
    }
    log_req(s, req, r, resp);
}

static void on_put(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                   const coap_string_t *q, coap_pdu_t *resp)
{
    if (refuse_plain(s, req, r, resp))
        return;
    struct sim_aff *a = coap_resource_get_userdata(r);
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    const char *why = NULL;
    if (!coap_get_data_large(req, &len, &data, &off, &total))
        len = 0;
    int e = sim_write(a, req_type(req), data, len, &why);
    switch (e) {
    case 0: coap_pdu_set_code(resp, COAP_RESPONSE_CODE(204)); break;
    case -EROFS: error(resp, COAP_RESPONSE_CODE(405), why); break;
    case -ENOTSUP: error(resp, COAP_RESPONSE_CODE(415), why); break;
    case -EFBIG: error(resp, COAP_RESPONSE_CODE(413), why); break;
    case -ENOMEM: error(resp, COAP_RESPONSE_CODE(500), why); break;
    default: error(resp, COAP_RESPONSE_CODE(400), why); break;
    }
    log_req(s, req, r, resp);
}

static void on_readall(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *q, coap_pdu_t *resp)
{
    if (refuse_plain(s, req, r, resp))
        return;
    struct sim_thing *t = coap_resource_get_userdata(r);
    char *out = NULL;
    size_t len = 0;
    if (sim_readall(t, &out, &len) < 0)
        error(resp, COAP_RESPONSE_CODE(500), "out of memory");
    else
        answer(r, s, req, q, resp, COAP_RESPONSE_CODE(205), SIM_JSON, (const uint8_t *)out, len);
    free(out);
    log_req(s, req, r, resp);
}

static void on_post(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                    const coap_string_t *q, coap_pdu_t *resp)
{
    if (refuse_plain(s, req, r, resp))
        return;
    struct sim_aff *a = coap_resource_get_userdata(r);
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    const char *why = NULL, *out_ct = NULL;
    char *out = NULL;
    size_t out_len = 0;
    bool echo = false;
    if (!coap_get_data_large(req, &len, &data, &off, &total))
        len = 0;
    const char *ct = req_type(req);
    int e = sim_invoke(a, ct, data, len, &out, &out_len, &out_ct, &echo, &why);
    if (e == -EFBIG)
        error(resp, COAP_RESPONSE_CODE(413), why);
    else if (e < 0)
        error(resp, COAP_RESPONSE_CODE(400), why);
    else if (echo)
        answer(r, s, req, q, resp, COAP_RESPONSE_CODE(205), ct, data, len);
    else
        answer(r, s, req, q, resp, COAP_RESPONSE_CODE(205), out_ct ? out_ct : SIM_JSON,
               (const uint8_t *)out, out_len);
    free(out);
    log_req(s, req, r, resp);
}

static void on_event_get(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                         const coap_string_t *q, coap_pdu_t *resp)
{
    if (refuse_plain(s, req, r, resp))
        return;
    struct sim_coap_obs *o = coap_resource_get_userdata(r);
    answer(r, s, req, q, resp, COAP_RESPONSE_CODE(205), SIM_JSON, o->last, o->last_len);
}

static coap_resource_t *add(struct sim_coap *c, const char *path, void *ud,
                            coap_method_handler_t get, coap_method_handler_t put,
                            coap_method_handler_t post)
{
    coap_str_const_t *p = coap_new_str_const((const uint8_t *)path, strlen(path));
    if (!p)
        return NULL;
    coap_resource_t *r = coap_resource_init(p, COAP_RESOURCE_FLAGS_RELEASE_URI);
    if (!r) {
        coap_delete_str_const(p);
        return NULL;
    }
    coap_resource_set_userdata(r, ud);
    if (get)
        coap_register_request_handler(r, COAP_REQUEST_GET, get);
    if (put)
        coap_register_request_handler(r, COAP_REQUEST_PUT, put);
    if (post)
        coap_register_request_handler(r, COAP_REQUEST_POST, post);
    coap_add_resource(c->ctx, r);
    if (c->n_routes == c->cap_routes) {
        size_t n = c->cap_routes ? 2 * c->cap_routes : 32;
        struct sim_route *v = reallocarray(c->routes, n, sizeof(*v));
        if (!v)
            return NULL;
        c->routes = v;
        c->cap_routes = n;
    }
    char *copy = strdup(path);
    if (!copy)
        return NULL;
    c->routes[c->n_routes++] =
            (struct sim_route){.path = copy, .r = r, .get = get, .put = put, .post = post};
    return r;
}

/* ---- OSCORE (RFC 8613): the device speaks it itself ----------------------------------- */

#define SIM_HEX_LOG_MAX 4096 /* bytes of a payload shown in the log */

/* One log line with the OSCORE option and the payload of a protected
 * message, in hex (the tests compare the bytes). */
static void log_oscore(const struct sim_coap *c, const char *what, uint8_t code,
                       const struct oscore_msg *m)
{
    if (c->quiet)
        return;
    const uint8_t *opt = NULL;
    size_t opt_len = 0;
    bool has = false;
    for (size_t i = 0; i < m->n_opts; i++)
        if (m->opts[i].number == OSCORE_OPT_OSCORE) {
            has = true;
            opt = m->opts[i].value;
            opt_len = m->opts[i].len;
        }
    size_t n = m->payload_len > SIM_HEX_LOG_MAX ? SIM_HEX_LOG_MAX : m->payload_len;
    char *hex = malloc(2 * (opt_len + n) + 2);
    if (!hex)
        return;
    char *h = hex;
    for (size_t i = 0; i < opt_len; i++)
        h += sprintf(h, "%02x", opt[i]);
    *h++ = '\0';
    char *ph = h;
    for (size_t i = 0; i < n; i++)
        h += sprintf(h, "%02x", m->payload[i]);
    *h = '\0';
    char cb[8];
    fprintf(stderr, "wotgw-simdev: coap oscore %s %s option=%s payload=%s%s\n", what,
            coap_code_str(code, cb), has ? hex : "(none)", ph, n < m->payload_len ? "..." : "");
    free(hex);
}

/* The route of an inner request's Uri-Path, or NULL. */
static const struct sim_route *inner_route(const struct sim_coap *c, const struct oscore_msg *m)
{
    char path[256];
    size_t n = 0;
    for (size_t i = 0; i < m->n_opts; i++) {
        if (m->opts[i].number != OSCORE_OPT_URI_PATH)
            continue;
        if (n + 1 + m->opts[i].len >= sizeof(path))
            return NULL;
        if (n)
            path[n++] = '/';
        memcpy(path + n, m->opts[i].value, m->opts[i].len);
        n += m->opts[i].len;
    }
    path[n] = '\0';
    if (memchr(path, '\0', n))
        return NULL;
    for (size_t i = 0; i < c->n_routes; i++)
        if (!strcmp(c->routes[i].path, path))
            return &c->routes[i];
    return NULL;
}

/* Runs the inner request on its handler; the answer goes into plain. */
static void dispatch_inner(struct sim_coap *c, coap_session_t *s, const coap_pdu_t *inner,
                           const struct oscore_msg *im, coap_pdu_t *plain)
{
    const struct sim_route *rt = inner_route(c, im);
    if (!rt) {
        error(plain, COAP_RESPONSE_CODE(404), "no such resource");
        return;
    }
    coap_method_handler_t h = NULL;
    switch (im->code) {
    case COAP_REQUEST_CODE_GET: h = rt->get; break;
    case COAP_REQUEST_CODE_PUT: h = rt->put; break;
    case COAP_REQUEST_CODE_POST: h = rt->post; break;
    default: break;
    }
    if (!h) {
        error(plain, COAP_RESPONSE_CODE(405), "method not allowed");
        return;
    }
    if (rt->aff && rt->aff->kind == SIM_PROPERTY &&
        (rt->aff->fault == SIM_FAULT_SLOW || rt->aff->fault == SIM_FAULT_HANG ||
         rt->aff->fault == SIM_FAULT_BROKEN)) {
        error(plain, COAP_RESPONSE_CODE(501), "this fault is not offered over OSCORE");
        return;
    }
    sim_osc_plain = plain;
    sim_in_oscore = true;
    h(rt->r, s, inner, NULL, plain);
    sim_in_oscore = false;
    sim_osc_plain = NULL;
    if (coap_pdu_get_code(plain) == 0)
        error(plain, COAP_RESPONSE_CODE(500), "no answer");
}

/* A request on no resource: OSCORE requests carry no outer Uri-Path. */
static void on_oscore(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                      const coap_string_t *q, coap_pdu_t *resp)
{
    struct sim_coap *c = the(s);
    coap_opt_iterator_t it;
    if (!c || !c->osrv)
        return;
    if (!coap_check_option(req, COAP_OPTION_OSCORE, &it)) {
        error(resp, COAP_RESPONSE_CODE(401), "OSCORE required");
        return;
    }
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    if (coap_get_data_large(req, &len, &data, &off, &total) && len && (off || total != len)) {
        coap_oscore_error(resp, OSCORE_CODE_BAD_REQUEST, "incomplete block-wise request");
        return;
    }
    if (!len)
        data = NULL;
    struct oscore_msg outer;
    if (coap_oscore_from_pdu(req, data, len, &outer) < 0) {
        coap_oscore_error(resp, OSCORE_CODE_BAD_OPTION, "too many options");
        return;
    }
    log_oscore(c, "request", outer.code, &outer);
    size_t cap = len + 16;
    uint8_t *buf = malloc(cap), *obuf = NULL;
    size_t ocap = 0;
    coap_pdu_t *inner = NULL, *plain = NULL;
    if (!buf) {
        coap_oscore_error(resp, OSCORE_CODE_INTERNAL, NULL);
        goto out;
    }
    struct oscore_srv_result res;
    struct oscore_msg out;
    switch (oscore_server_unprotect(c->osrv, &outer, buf, cap, &res)) {
    case OSCORE_SRV_ERROR:
        coap_oscore_error(resp, res.code, res.diagnostic);
        if (!c->quiet)
            fprintf(stderr, "wotgw-simdev: coap oscore refused: %s\n",
                    res.diagnostic ? res.diagnostic : "internal error");
        goto out;
    case OSCORE_SRV_CHALLENGE: {
        uint8_t cbuf[256];
        if (oscore_server_challenge(c->osrv, &res, &out, cbuf, sizeof(cbuf)) < 0 ||
            coap_oscore_to_pdu(&out, resp) < 0) {
            coap_oscore_error(resp, OSCORE_CODE_INTERNAL, NULL);
            goto out;
        }
        log_oscore(c, "answer", out.code, &out);
        goto out;
    }
    case OSCORE_SRV_OK: break;
    }
    /* the inner request as a PDU of its own (Observe is not offered over
     * OSCORE: dropped) */
    if (coap_oscore_inner_pdu(req, &res.inner, &inner, &plain) < 0) {
        coap_oscore_error(resp, OSCORE_CODE_INTERNAL, NULL);
        goto out;
    }
    dispatch_inner(c, s, inner, &res.inner, plain);
    size_t plen = 0;
    const uint8_t *pdata = NULL;
    coap_get_data(plain, &plen, &pdata);
    struct oscore_msg pm;
    static const char too_large[] = "the answer is too large for one OSCORE message";
    if (coap_oscore_from_pdu(plain, pdata, plen, &pm) < 0 ||
        plen + 64 + OSCORE_OVERHEAD > coap_session_max_pdu_size(s))
        pm = (struct oscore_msg){.code = COAP_RESPONSE_CODE(500),
                                 .payload = (const uint8_t *)too_large,
                                 .payload_len = sizeof(too_large) - 1};
    ocap = 1 + pm.payload_len + 16 + OSCORE_OVERHEAD + 1024;
    obuf = malloc(ocap);
    if (!obuf || oscore_server_protect_response(c->osrv, &res, false, &pm, &out, obuf, ocap) < 0 ||
        coap_oscore_to_pdu(&out, resp) < 0) {
        coap_oscore_error(resp, OSCORE_CODE_INTERNAL, NULL);
        goto out;
    }
    log_oscore(c, "answer", out.code, &out);
out:
    if (inner)
        coap_delete_pdu(inner);
    if (plain)
        coap_delete_pdu(plain);
    if (buf) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
    }
    if (obuf) {
        OPENSSL_cleanse(obuf, ocap);
        free(obuf);
    }
}

static int load_oscore(struct sim_coap *c, const char *path)
{
    struct diags d = {0};
    int r = oscore_server_load(path, NULL, &c->osrv, &d);
    if (r < 0 || d.n) {
        diag_print(&d, stderr);
        if (r >= 0 && !oscore_server_count(c->osrv))
            r = -EINVAL;
    }
    diag_free(&d);
    if (r < 0) {
        fprintf(stderr, "wotgw-simdev: %s: cannot load the OSCORE contexts\n", path);
        return -EINVAL;
    }
    /* option 9 is critical: libcoap 4.3.1 (no OSCORE of its own) would
     * refuse it with 4.02 before the handler */
    coap_register_option(c->ctx, COAP_OPTION_OSCORE);
    coap_resource_t *res = coap_resource_unknown_init2(on_oscore, 0);
    if (!res)
        return -ENOMEM;
    coap_register_request_handler(res, COAP_REQUEST_POST, on_oscore);
    coap_register_request_handler(res, COAP_REQUEST_FETCH, on_oscore);
    coap_add_resource(c->ctx, res);
    if (!c->quiet)
        fprintf(stderr, "wotgw-simdev: coap: OSCORE only, %zu context(s)\n",
                oscore_server_count(c->osrv));
    return 0;
}

int sim_coap_start(sd_event *ev, const struct sockaddr *sa, socklen_t len, bool quiet,
                   const char *oscore_contexts, struct sim_coap **out)
{
    struct sim_coap *c = calloc(1, sizeof(*c));
    int r = -ENOMEM;
    if (!c)
        return -ENOMEM;
    c->ev = ev;
    c->quiet = quiet;
    coap_startup();
    coap_set_log_level(quiet ? LOG_EMERG : LOG_WARNING);
    c->ctx = coap_new_context(NULL);
    if (!c->ctx)
        goto fail;
    coap_set_app_data(c->ctx, c);
    coap_context_set_block_mode(c->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_register_event_handler(c->ctx, on_session_event);
    if (oscore_contexts && (r = load_oscore(c, oscore_contexts)) < 0)
        goto fail;
    c->obs = calloc(sim_n_affs(), sizeof(*c->obs));
    if (!c->obs)
        goto fail;
    for (size_t i = 0; i < sim_n_things(); i++) {
        struct sim_thing *t = sim_thing_at(i);
        char path[256];
        r = -ENOMEM;
        if (t->readall) {
            snprintf(path, sizeof(path), "%s/properties", t->name);
            if (!add(c, path, t, on_readall, NULL, NULL))
                goto fail;
        }
        for (size_t k = 0; k < t->n_affs; k++) {
            struct sim_aff *a = &t->affs[k];
            coap_resource_t *res = NULL;
            if (a->kind == SIM_PROPERTY) {
                snprintf(path, sizeof(path), "%s/properties/%s", t->name, a->name);
                if (!(res = add(c, path, a, on_get, a->writable ? on_put : NULL, NULL)))
                    goto fail;
                c->routes[c->n_routes - 1].aff = a;
                if (a->observable) { /* RFC 7641 */
                    coap_resource_set_get_observable(res, 1);
                    struct sim_coap_obs *o = &c->obs[c->n_obs++];
                    o->r = res;
                    o->c = c;
                    o->watch.fn = on_change;
                    o->watch.ud = o;
                    sim_watch_add(a, &o->watch);
                }
            } else if (a->kind == SIM_ACTION) {
                snprintf(path, sizeof(path), "%s/actions/%s", t->name, a->name);
                if (!add(c, path, a, NULL, NULL, on_post))
                    goto fail;
                c->routes[c->n_routes - 1].aff = a;
            } else if (a->kind == SIM_EVENT) {
                /* observed (RFC 7641): every event is a notification; a
                 * GET answers the last one (empty before the first) */
                struct sim_coap_obs *o = &c->obs[c->n_obs];
                snprintf(path, sizeof(path), "%s/events/%s", t->name, a->name);
                if (!(res = add(c, path, o, on_event_get, NULL, NULL)))
                    goto fail;
                coap_resource_set_get_observable(res, 1);
                c->n_obs++;
                o->r = res;
                o->c = c;
                o->watch.fn = on_event;
                o->watch.ud = o;
                sim_watch_add(a, &o->watch);
            }
        }
    }
    coap_address_t a;
    coap_address_init(&a);
    memcpy(&a.addr, sa, len);
    a.size = len;
    coap_endpoint_t *ep = coap_new_endpoint(c->ctx, &a, COAP_PROTO_UDP);
    if (!ep) {
        r = -EADDRINUSE;
        goto fail;
    }
    int fd = coap_context_get_coap_fd(c->ctx);
    if (fd < 0) {
        r = -EPROTONOSUPPORT;
        goto fail;
    }
    if ((r = sd_event_add_io(ev, &c->io, fd, EPOLLIN, on_io, c)) < 0 ||
        (r = sd_event_add_time(ev, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, 1000, on_timer, c)) <
                0 ||
        (r = sd_event_add_defer(ev, &c->kick, on_kick, c)) < 0 ||
        (r = sd_event_source_set_enabled(c->kick, SD_EVENT_OFF)) < 0)
        goto fail;
    rearm(c);
    *out = c;
    return 0;
fail:
    sim_coap_stop(c);
    return r;
}

void sim_coap_stop(struct sim_coap *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_obs; i++) {
        sim_watch_del(&c->obs[i].watch);
        free(c->obs[i].last);
    }
    free(c->obs);
    for (size_t i = 0; i < c->n_routes; i++)
        free(c->routes[i].path);
    free(c->routes);
    oscore_server_free(c->osrv);
    sd_event_source_disable_unref(c->io);
    sd_event_source_disable_unref(c->timer);
    sd_event_source_disable_unref(c->kick);
    if (c->ctx)
        coap_free_context(c->ctx);
    free(c);
}
