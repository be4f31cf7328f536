/* proxy.c - see proxy.h.
 *
 * Cleanup style: a call is created in one place (call_new) and freed in
 * one place (call_free); every path that ends a call goes through
 * call_finish(), which logs the interaction once and releases the state.
 */
#define _GNU_SOURCE
#include "proxy.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "mqtt_topic.h"
#include "north/http_util.h"
#include "coap_util.h"
#include "objsec/oscore.h"
#include "policy.h"
#include "south/coap.h"
#include "south/mqtt.h"
#include "south/http.h"
#include "state.h"

/* Streams: a device long-poll is held at most this long, then polled again. */
#define PROXY_LONGPOLL_TIMEOUT_US (120 * 1000000ull)
/* ... and polled again at once after an answer, after this pause after a
 * 5xx of its own or a failed connection (at most PROXY_STREAM_RETRIES in a
 * row, then the stream ends with the error). */
#define PROXY_STREAM_RETRY_US (1000000ull)
#define PROXY_STREAM_RETRIES  5
/* One event of a device SSE stream. */
#define PROXY_SSE_EVENT_MAX (256u << 10)

enum call_kind {
    CALL_UNARY,    /* one request, one answer */
    CALL_READALL,  /* readallproperties: the answer is filtered per property */
    CALL_LONGPOLL, /* a stream over a device long-poll form, polled again after each answer */
    CALL_SSE,      /* a stream over a device SSE form */
    CALL_OSCORE,   /* an OSCORE message passed through (proxy_oscore_forward) */
};

struct proxy_call {
    struct proxy *p;
    struct proxy_call *prev, *next;
    struct gw_state_ref *ref; /* the state this call was decided under */
    const struct thing *thing;
    const struct interaction *in;
    const struct proxy_ops *ops;
    void *ud;
    enum call_kind kind;
    struct south_http_call *south;
    struct south_coap_call *south_coap; /* a coap:// device */
    struct south_mqtt_call *south_mqtt; /* an mqtt:// device */
    sd_event_source *timer;             /* streams: the next poll; ending from a device callback */
    uint64_t start_us;
    char principal[POLICY_PRINCIPAL_MAX];
    struct http_sse_parser sse;
    char *url; /* device URL without RFC 6570 templates, when it had some */
    unsigned retries;
    bool observed;       /* a CoAP event observation: its registration was answered */
    bool ending;         /* streams: end at the next timer */
    int end_status;      /* ... with this status */
    const char *end_why; /* ... and reason */
    /* CALL_OSCORE: the interaction as logged (no affordance), in points here */
    struct interaction oscore_in;
};

struct proxy {
    struct gw *gw;
    struct south_coap *coap; /* the CoAP device client, made at the first coap:// call */
    struct south_mqtt *mqtt; /* the MQTT device client, made at the first mqtt:// call */
    struct proxy_call *calls;
    size_t n_pending, n_streams;
    /* union of the schemes of every exposed form, per state generation */
    unsigned schemes;
    uint64_t schemes_gen;
    bool schemes_valid;
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static bool is_stream_op(enum wot_op op)
{
    return op == WOT_OP_OBSERVEPROPERTY || op == WOT_OP_SUBSCRIBEEVENT;
}

static const char *principal_or_null(const char *p)
{
    return p && *p ? p : NULL;
}

/* OP of an OSCORE passthrough in the log */
#define PROXY_OSCORE_OP "oscore-passthrough"

static void log_result(const struct interaction *in, const char *op, const char *principal,
                       bool allow, const char *reason, int status, uint64_t t0)
{
    struct log_interaction li = {
            .thing = in->thing,
            .affordance = in->affordance,
            .op = op ? op : wot_op_name(in->op),
            .protocol = wot_protocol_name(in->protocol),
            .principal = principal_or_null(principal),
            .peer = in->peer,
            .decision = allow ? "allow" : "deny",
            .reason = reason,
            .status = status,
            .duration_us = now_us() - t0,
    };
    int prio = LOG_INFO;
    if (!allow)
        prio = LOG_NOTICE;
    else if (status >= 500)
        prio = LOG_WARNING;
    log_interaction(prio, &li);
}

/* ---- credentials outside a form --------------------------------------------------- */

static bool cred_presented(const struct credentials *c)
{
    return c->basic_user || c->bearer || c->apikey || c->cert_cn || c->psk_identity ||
           c->oscore_context || c->malformed;
}

/* Whether any presented credential authenticates against the loaded
 * stores, whatever the thing: decides 404 against 401 where a thing is
 * unknown or invisible. One verification per credential. */
static bool cred_authenticates(const struct gw_state *s, const struct credentials *c)
{
    if (c->malformed)
        return false;
    if (c->cert_cn || c->psk_identity || c->oscore_context)
        return true; /* verified by the TLS / DTLS handshake, or OSCORE */
    if (c->basic_user && s->users &&
        users_verify(s->users, c->basic_user, c->basic_pass, c->basic_pass_len, NULL))
        return true;
    if (c->apikey && s->apikeys && apikeys_verify(s->apikeys, c->apikey, c->apikey_len))
        return true;
    if (c->bearer && s->n_issuers) {
        struct jwt_claims claims = {0};
        const struct jwt_issuer *which = NULL;
        enum jwt_error e = jwt_verify(s->issuer_ptrs, s->n_issuers, NULL, c->bearer, c->bearer_len,
                                      (size_t)s->conf->limits.max_token_size, (int64_t)time(NULL),
                                      &claims, &which);
        jwt_claims_free(&claims);
        if (e == JWT_OK)
            return true;
    }
    return false;
}

/* The schemes of every exposed form of every thing (without nosec): what
 * a 401 challenges when there is no thing to ask. */
static unsigned all_schemes(struct proxy *p, const struct gw_state *s)
{
    uint64_t gen = p->gw->reloads;
    if (p->schemes_valid && p->schemes_gen == gen)
        return p->schemes;
    unsigned bits = 0;
    for (size_t i = 0; i < s->n_things; i++) {
        const struct thing *t = &s->things[i];
        struct policy_form pf;
        for (int op = 0; op < WOT_OP__COUNT; op++) {
            policy_lookup(t->policy, NULL, (enum wot_op)op, &pf);
            if (pf.security)
                bits |= sec_expr_schemes(pf.security);
        }
        for (size_t a = 0; a < t->td->n_affs; a++) {
            const struct td_affordance *aff = &t->td->affs[a];
            for (int op = 0; op < WOT_OP__COUNT; op++) {
                if (wot_op_aff_kind((enum wot_op)op) != aff->kind)
                    continue;
                policy_lookup(t->policy, aff->name, (enum wot_op)op, &pf);
                if (pf.security)
                    bits |= sec_expr_schemes(pf.security);
            }
        }
    }
    bits &= ~(1u << SEC_NOSEC);
    if (!bits)
        bits = 1u << SEC_BASIC;
    p->schemes = bits;
    p->schemes_gen = gen;
    p->schemes_valid = true;
    return bits;
}

/* 401 or 404 for a thing the caller may not know about. */
static void hidden_thing(struct proxy *p, const struct gw_state *s, const struct interaction *in,
                         struct proxy_result *res)
{
    if (cred_presented(&in->cred) && cred_authenticates(s, &in->cred)) {
        res->status = 404;
        res->detail = "no such thing";
        return;
    }
    res->status = 401;
    res->detail = in->cred.malformed          ? in->cred.malformed
                  : cred_presented(&in->cred) ? "the credentials were not accepted"
                                              : "authentication required";
    res->challenge = all_schemes(p, s);
    res->invalid_token = in->cred.bearer != NULL;
    p->gw->counters.denials++;
}

/* ---- calls ------------------------------------------------------------------------- */

static void call_unlink(struct proxy_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (c->p->calls == c)
        c->p->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void call_free(struct proxy_call *c)
{
    if (!c)
        return;
    if (c->south)
        south_http_cancel(c->south);
    south_coap_cancel(c->south_coap);
    south_mqtt_cancel(c->south_mqtt);
    sd_event_source_disable_unref(c->timer);
    http_sse_parser_free(&c->sse);
    gw_state_release(c->ref);
    free(c->url);
    free(c);
}

/* Ends a call: logs it, unlinks it, tells the front end (unless quiet),
 * frees it. */
static void call_finish(struct proxy_call *c, struct proxy_result *res, const char *reason,
                        bool quiet)
{
    struct proxy *p = c->p;
    bool stream = c->kind == CALL_LONGPOLL || c->kind == CALL_SSE;
    if (c->south) {
        south_http_cancel(c->south);
        c->south = NULL;
    }
    south_coap_cancel(c->south_coap);
    c->south_coap = NULL;
    south_mqtt_cancel(c->south_mqtt);
    c->south_mqtt = NULL;
    log_result(c->in, c->kind == CALL_OSCORE ? PROXY_OSCORE_OP : NULL, c->principal, true, reason,
               res->status, c->start_us);
    call_unlink(c);
    if (stream)
        p->n_streams--;
    else
        p->n_pending--;
    if (stream)
        res->stream_end = true;
    const struct proxy_ops *ops = c->ops;
    void *ud = c->ud;
    call_free(c);
    if (!quiet)
        ops->done(ud, res);
}

static void fail_call(struct proxy_call *c, int status, const char *detail, const char *reason)
{
    struct proxy_result res = {.status = status, .detail = detail};
    call_finish(c, &res, reason, false);
}

/* Status and detail for a device call that did not end in an answer. */
static int south_error_status(enum south_http_error e, const char **detail)
{
    switch (e) {
    case SOUTH_HTTP_CONNECT: *detail = "the device could not be reached"; return 502;
    case SOUTH_HTTP_TIMEOUT: *detail = "the device did not answer in time"; return 504;
    case SOUTH_HTTP_PROTOCOL:
        *detail = "the device closed the connection or answered badly";
        return 502;
    case SOUTH_HTTP_TOO_LARGE: *detail = "the device's answer is larger than the limit"; return 502;
    case SOUTH_HTTP_INTERNAL:
    default: *detail = "internal error"; return 500;
    }
}

static int start_device(struct proxy_call *c);

/* readallproperties: only the properties this principal may read. */
static int filter_properties(struct proxy_call *c, const uint8_t *body, size_t len, char **out,
                             size_t *out_len)
{
    const struct gw_state *s = c->ref->state;
    json_error_t jerr;
    json_t *o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return -EBADMSG;
    }
    struct policy_env env;
    state_policy_env(s, (int64_t)time(NULL), &env);
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(o, tmp, key, v)
    {
        struct policy_decision d;
        policy_decide(&env, c->thing->policy, key, WOT_OP_READPROPERTY, &c->in->cred, &d);
        if (d.verdict != POLICY_ALLOW)
            json_object_del(o, key);
    }
    char *txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!txt)
        return -ENOMEM;
    *out = txt;
    *out_len = strlen(txt);
    return 0;
}

static void unary_done(void *ud, const struct south_http_response *r)
{
    struct proxy_call *c = ud;
    c->south = NULL; /* gone after done() */
    if (r->error != SOUTH_HTTP_OK) {
        const char *detail;
        int st = south_error_status(r->error, &detail);
        fail_call(c, st, detail, south_http_error_name(r->error));
        return;
    }
    if (r->status == 401 || r->status == 407) {
        fail_call(c, 502, "the device asked for credentials", "device asked for credentials");
        return;
    }
    struct proxy_result res = {
            .status = (int)r->status,
            .from_device = true,
            .content_type = r->content_type,
            .body = r->body,
            .body_len = r->body_len,
    };
    char *filtered = NULL;
    if (c->kind == CALL_READALL && r->status >= 200 && r->status < 300) {
        size_t fl = 0;
        int e = filter_properties(c, r->body, r->body_len, &filtered, &fl);
        if (e == -ENOMEM) {
            fail_call(c, 500, "internal error", "out of memory");
            return;
        }
        if (e < 0) {
            fail_call(c, 502, "the device's readallproperties answer is not a JSON object",
                      "device answer not a JSON object");
            return;
        }
        res.body = (const uint8_t *)filtered;
        res.body_len = fl;
        res.content_type = "application/json";
    }
    call_finish(c, &res, "device answered", false);
    free(filtered);
}

/* ---- streams -------------------------------------------------------------------------- */

static int stream_timer_cb(sd_event_source *s, uint64_t usec, void *ud);

static int arm_timer(struct proxy_call *c, uint64_t delay_us)
{
    sd_event *ev = c->p->gw->ev;
    uint64_t now;
    sd_event_now(ev, CLOCK_MONOTONIC, &now);
    if (!c->timer) {
        int r = sd_event_add_time(ev, &c->timer, CLOCK_MONOTONIC, now + delay_us, 1,
                                  stream_timer_cb, c);
        return r < 0 ? r : 0;
    }
    int r = sd_event_source_set_time(c->timer, now + delay_us);
    if (r >= 0)
        r = sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
    return r < 0 ? r : 0;
}

/* Ends a stream from inside a device callback: at the next timer. */
static void stream_end_later(struct proxy_call *c, int status, const char *why)
{
    if (c->ending)
        return;
    c->ending = true;
    c->end_status = status;
    c->end_why = why;
    if (arm_timer(c, 0) < 0)
        c->end_why = why; /* the call ends with the next device callback or cancel */
}

static void stream_end(struct proxy_call *c, int status, const char *detail, const char *why)
{
    struct proxy_result res = {.status = status, .detail = detail};
    call_finish(c, &res, why, false);
}

static int deliver(struct proxy_call *c, const char *event, const uint8_t *data, size_t len,
                   const char *ct)
{
    if (c->ending)
        return 0;
    int r = c->ops->event(c->ud, event, data, len, ct);
    if (r < 0)
        stream_end_later(c, 200, "consumer too slow or gone");
    return r < 0 ? r : 0;
}

static void longpoll_done(void *ud, const struct south_http_response *r)
{
    struct proxy_call *c = ud;
    c->south = NULL;
    if (c->ending)
        return;
    if (r->error == SOUTH_HTTP_TIMEOUT) { /* a long-poll may time out: poll again */
        c->retries = 0;
        if (arm_timer(c, 0) < 0)
            stream_end_later(c, 500, "out of memory");
        return;
    }
    if (r->error != SOUTH_HTTP_OK || r->status >= 500) {
        if (++c->retries <= PROXY_STREAM_RETRIES && arm_timer(c, PROXY_STREAM_RETRY_US) >= 0)
            return;
        const char *detail;
        int st = r->error != SOUTH_HTTP_OK ? south_error_status(r->error, &detail) : 502;
        stream_end_later(c, st,
                         r->error != SOUTH_HTTP_OK ? south_http_error_name(r->error)
                                                   : "device error");
        return;
    }
    if (r->status < 200 || r->status >= 300) {
        stream_end_later(c, 502, "device refused the long-poll");
        return;
    }
    c->retries = 0;
    /* 204: the device's long-poll ended with nothing to tell (the
     * simulated device does so after 60 s): poll again, deliver nothing */
    if (r->status != 204 && deliver(c, NULL, r->body, r->body_len, r->content_type) < 0)
        return;
    if (arm_timer(c, 0) < 0)
        stream_end_later(c, 500, "out of memory");
}

static int sse_event_cb(void *ud, const char *event, const uint8_t *data, size_t len)
{
    struct proxy_call *c = ud;
    return deliver(c, event && *event ? event : NULL, data, len, NULL) < 0 ? 1 : 0;
}

static int sse_chunk(void *ud, const struct south_http_response *head, const uint8_t *data,
                     size_t len)
{
    struct proxy_call *c = ud;
    if (c->ending)
        return 0;
    if (!data) { /* headers */
        if (head->status < 200 || head->status >= 300)
            stream_end_later(c, 502, "device refused the subscription");
        return 0;
    }
    int r = http_sse_feed(&c->sse, data, len, sse_event_cb, c);
    if (r < 0)
        stream_end_later(c, 502, "device event stream malformed or too large");
    return 0;
}

static void sse_done(void *ud, const struct south_http_response *r)
{
    struct proxy_call *c = ud;
    c->south = NULL;
    if (c->ending)
        return;
    if (r->error == SOUTH_HTTP_OK)
        stream_end_later(c, 200, "device ended the stream");
    else {
        const char *detail;
        stream_end_later(c, south_error_status(r->error, &detail), south_http_error_name(r->error));
    }
}

static int stream_timer_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    struct proxy_call *c = ud;
    if (c->ending) {
        const char *detail = NULL;
        if (c->end_status == 502)
            detail = "the device ended the stream with an error";
        else if (c->end_status == 504)
            detail = "the device did not answer in time";
        else if (c->end_status >= 500)
            detail = "internal error";
        stream_end(c, c->end_status, detail, c->end_why);
        return 0;
    }
    int r = start_device(c);
    if (r < 0)
        stream_end(c, r == -ENOMEM ? 500 : 502, "the device could not be called",
                   "device call failed");
    return 0;
}

/* ---- the device call -------------------------------------------------------------------- */

static const char *default_method(enum wot_op op)
{
    switch (op) {
    case WOT_OP_WRITEPROPERTY:
    case WOT_OP_WRITEALLPROPERTIES:
    case WOT_OP_WRITEMULTIPLEPROPERTIES: return "PUT";
    case WOT_OP_INVOKEACTION: return "POST";
    default: return "GET";
    }
}

/* The device form for the call, looked up again in the call's state
 * (a stream may have moved to a new one). */
static const struct td_form *call_form(struct proxy_call *c)
{
    const struct td *td = c->thing->td;
    const struct td_affordance *aff = NULL;
    if (c->in->affordance) {
        aff = td_find(td, wot_op_aff_kind(c->in->op), c->in->affordance);
        if (!aff)
            return NULL;
    }
    return td_find_form(td, aff, c->in->op, -1);
}

static int start_http(struct proxy_call *c, const struct td_form *f)
{
    const struct limits *lim = &c->ref->state->conf->limits;
    const struct interaction *in = c->in;
    const char *url = f->href;
    const char *tmpl = strchr(f->href, '{');
    free(c->url);
    c->url = NULL;
    if (tmpl) { /* RFC 6570 templates with no variables given expand to nothing */
        c->url = strndup(f->href, (size_t)(tmpl - f->href));
        if (!c->url)
            return -ENOMEM;
        url = c->url;
    }
    struct south_http_request rq = {
            .method = f->method ? f->method : default_method(in->op),
            .url = url,
            .timeout_us = lim->device_timeout_us,
            .max_response = (size_t)lim->max_body_size,
    };
    south_http_done_fn done = unary_done;
    south_http_chunk_fn chunk = NULL;
    switch (c->kind) {
    case CALL_UNARY:
    case CALL_READALL:
        rq.content_type = in->content_type;
        if (!rq.content_type && in->payload_len)
            rq.content_type = f->content_type;
        rq.body = in->payload;
        rq.body_len = in->payload_len;
        break;
    case CALL_LONGPOLL:
        rq.timeout_us = PROXY_LONGPOLL_TIMEOUT_US;
        rq.connect_timeout_us = lim->device_timeout_us;
        done = longpoll_done;
        break;
    case CALL_SSE:
        rq.timeout_us = 0;
        rq.connect_timeout_us = lim->device_timeout_us;
        rq.stream = true;
        rq.accept = "text/event-stream";
        done = sse_done;
        chunk = sse_chunk;
        break;
    case CALL_OSCORE: return -EPROTONOSUPPORT; /* proxy_oscore_forward, never here */
    }
    return south_http_start(c->p->gw->south, &rq, done, chunk, c, &c->south);
}

/* A CoAP device answer as the HTTP client's, so that the rest of the
 * path (unary_done) is the same for every device protocol: response code
 * to status per RFC 8075 §7, Content-Format to media type. */
static void coap_done(void *ud, const struct south_coap_response *r)
{
    struct proxy_call *c = ud;
    c->south_coap = NULL; /* gone after done() */
    struct south_http_response hr = {.error_text = r->error_text};
    switch (r->error) {
    case SOUTH_COAP_OK: hr.error = SOUTH_HTTP_OK; break;
    case SOUTH_COAP_CONNECT: hr.error = SOUTH_HTTP_CONNECT; break;
    case SOUTH_COAP_TIMEOUT: hr.error = SOUTH_HTTP_TIMEOUT; break;
    case SOUTH_COAP_PROTOCOL: hr.error = SOUTH_HTTP_PROTOCOL; break;
    case SOUTH_COAP_TOO_LARGE: hr.error = SOUTH_HTTP_TOO_LARGE; break;
    default: hr.error = SOUTH_HTTP_INTERNAL; break;
    }
    if (r->error == SOUTH_COAP_OK) {
        hr.status = coap_code_to_http(r->code, r->body_len > 0);
        hr.content_type = coap_format_to_type(r->content_format);
        hr.body = r->body;
        hr.body_len = r->body_len;
    }
    unary_done(c, &hr);
}

/* The CoAP method of a device form: cov:method (or the older
 * cov:methodName), else htv:methodName, else the operation's default. */
static uint8_t coap_form_method(const struct td_form *f, enum wot_op op)
{
    const char *m = NULL;
    if (f->json) {
        m = json_string_value(json_object_get(f->json, "cov:method"));
        if (!m)
            m = json_string_value(json_object_get(f->json, "cov:methodName"));
    }
    if (!m)
        m = f->method ? f->method : default_method(op);
    return coap_method_code(m);
}

/* A notification of a CoAP device observation: one event of the stream. */
static void coap_notify(void *ud, const struct south_coap_response *r)
{
    struct proxy_call *c = ud;
    c->retries = 0;
    /* an event resource answers the registration with its last event
     * (RFC 7641 §4.1: the current state), which is not a new event */
    if (c->in->op == WOT_OP_SUBSCRIBEEVENT && !c->observed) {
        c->observed = true;
        return;
    }
    deliver(c, NULL, r->body, r->body_len, coap_format_to_type(r->content_format));
}

/* The device ended its observation (or never started it). */
static void coap_stream_done(void *ud, const struct south_coap_response *r)
{
    struct proxy_call *c = ud;
    c->south_coap = NULL;
    if (c->ending)
        return;
    if (r->error != SOUTH_COAP_OK) {
        bool timeout = r->error == SOUTH_COAP_TIMEOUT;
        stream_end_later(c, timeout ? 504 : 502, south_coap_error_name(r->error));
    } else if ((r->code >> 5) != 2) {
        stream_end_later(c, 502, "device refused the observation");
    } else {
        stream_end_later(c, 200, "device ended the stream");
    }
}

static int start_coap(struct proxy_call *c, const struct td_form *f)
{
    const struct limits *lim = &c->ref->state->conf->limits;
    const struct interaction *in = c->in;
    bool stream = c->kind == CALL_LONGPOLL || c->kind == CALL_SSE;
    if (stream && in->op != WOT_OP_OBSERVEPROPERTY && in->op != WOT_OP_SUBSCRIBEEVENT)
        return -EPROTONOSUPPORT;
    if (!c->p->coap) {
        int r = south_coap_new(c->p->gw->ev, &c->p->coap);
        if (r < 0)
            return r;
    }
    uint8_t method = coap_form_method(f, in->op);
    if (!method)
        return -EINVAL;
    const char *url = f->href;
    const char *tmpl = strchr(f->href, '{');
    free(c->url);
    c->url = NULL;
    if (tmpl) {
        c->url = strndup(f->href, (size_t)(tmpl - f->href));
        if (!c->url)
            return -ENOMEM;
        url = c->url;
    }
    const char *ct = in->content_type;
    if (!ct && in->payload_len)
        ct = f->content_type;
    struct south_coap_request rq = {
            .method = method,
            .url = url,
            .content_format = coap_format_from_type(ct),
            .body = in->payload,
            .body_len = in->payload_len,
            .timeout_us = lim->device_timeout_us,
            .max_response = (size_t)lim->max_body_size,
    };
    c->observed = false;
    if (stream) /* RFC 7641: shared by every stream of the same URL (south/coap.h) */
        return south_coap_observe(c->p->coap, &rq, coap_notify, coap_stream_done, c,
                                  &c->south_coap);
    return south_coap_start(c->p->coap, &rq, coap_done, c, &c->south_coap);
}

/* An answer of an MQTT device: a read gives the last value with the
 * form's content type, a publish the broker's acknowledgement (204). */
static void mqtt_done(void *ud, const struct south_mqtt_response *r)
{
    struct proxy_call *c = ud;
    c->south_mqtt = NULL; /* gone after done() */
    const struct td_form *f = call_form(c);
    struct south_http_response hr = {.error_text = r->error_text};
    switch (r->error) {
    case SOUTH_MQTT_OK: hr.error = SOUTH_HTTP_OK; break;
    case SOUTH_MQTT_CONNECT: hr.error = SOUTH_HTTP_CONNECT; break;
    case SOUTH_MQTT_TIMEOUT: hr.error = SOUTH_HTTP_TIMEOUT; break;
    default: hr.error = SOUTH_HTTP_INTERNAL; break;
    }
    if (r->error == SOUTH_MQTT_OK) {
        bool read = c->in->op == WOT_OP_READPROPERTY;
        hr.status = read ? 200 : 204;
        hr.content_type = read && f ? f->content_type : NULL;
        hr.body = read ? r->body : NULL;
        hr.body_len = read ? r->body_len : 0;
    }
    unary_done(c, &hr);
}

static void mqtt_notify(void *ud, const struct south_mqtt_response *r)
{
    struct proxy_call *c = ud;
    const struct td_form *f = call_form(c);
    c->retries = 0;
    deliver(c, NULL, r->body, r->body_len, f ? f->content_type : NULL);
}

static void mqtt_stream_done(void *ud, const struct south_mqtt_response *r)
{
    struct proxy_call *c = ud;
    c->south_mqtt = NULL;
    if (!c->ending)
        stream_end_later(c, 502, south_mqtt_error_name(r->error));
}

/* mqtt:// device forms (south/mqtt.h): the topic is mqv:topic (publish) or
 * mqv:filter (subscribe), else the href's path. */
static int start_mqtt(struct proxy_call *c, const struct td_form *f)
{
    const struct limits *lim = &c->ref->state->conf->limits;
    const struct interaction *in = c->in;
    bool stream = c->kind == CALL_LONGPOLL || c->kind == CALL_SSE;
    enum south_mqtt_mode mode;
    switch (in->op) {
    case WOT_OP_READPROPERTY: mode = SOUTH_MQTT_READ; break;
    case WOT_OP_WRITEPROPERTY:
    case WOT_OP_INVOKEACTION: mode = SOUTH_MQTT_PUBLISH; break;
    case WOT_OP_OBSERVEPROPERTY:
    case WOT_OP_SUBSCRIBEEVENT: mode = SOUTH_MQTT_WATCH; break;
    default: return -EPROTONOSUPPORT;
    }
    if (stream != (mode == SOUTH_MQTT_WATCH))
        return -EPROTONOSUPPORT;
    if (!c->p->mqtt) {
        int r = south_mqtt_new(c->p->gw->ev, &c->p->mqtt);
        if (r < 0)
            return r;
    }
    const char *topic = NULL;
    if (f->json)
        topic = json_string_value(
                json_object_get(f->json, mode == SOUTH_MQTT_PUBLISH ? "mqv:topic" : "mqv:filter"));
    if (!topic) {
        /* mqtt://host:port/TOPIC */
        const char *h = f->href + 7;
        const char *slash = strchr(h, '/');
        if (!slash || !slash[1])
            return -EINVAL;
        topic = slash + 1;
    }
    int qos = 1;
    bool retain = false;
    if (f->json) {
        json_t *q = json_object_get(f->json, "mqv:qos");
        if (json_is_string(q) && strlen(json_string_value(q)) == 1 &&
            strchr("012", json_string_value(q)[0]))
            qos = json_string_value(q)[0] - '0';
        else if (json_is_integer(q) && json_integer_value(q) >= 0 && json_integer_value(q) <= 2)
            qos = (int)json_integer_value(q);
        retain = json_is_true(json_object_get(f->json, "mqv:retain"));
    }
    struct south_mqtt_request rq = {
            .mode = mode,
            .url = f->href,
            .topic = topic,
            .body = in->payload,
            .body_len = in->payload_len,
            .qos = qos,
            .retain = retain,
            .timeout_us = lim->device_timeout_us,
    };
    if (stream)
        return south_mqtt_start(c->p->mqtt, &rq, mqtt_stream_done, mqtt_notify, c, &c->south_mqtt);
    return south_mqtt_start(c->p->mqtt, &rq, mqtt_done, NULL, c, &c->south_mqtt);
}

static int start_device(struct proxy_call *c)
{
    const struct td_form *f = call_form(c);
    if (!f)
        return -ENOENT;
    /* Where CoAP and MQTT devices plug in: one case per south client. */
    switch (f->protocol) {
    case PROTO_HTTP:
        if (!c->p->gw->south)
            return -ENOTCONN;
        return start_http(c, f);
    case PROTO_COAP: return start_coap(c, f);
    case PROTO_MQTT: return start_mqtt(c, f);
    default: return -EPROTONOSUPPORT;
    }
}

/* ---- entry points ---------------------------------------------------------------------- */

int proxy_new(struct gw *gw, struct proxy **out)
{
    struct proxy *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->gw = gw;
    *out = p;
    return 0;
}

void proxy_free(struct proxy *p)
{
    if (!p)
        return;
    while (p->calls) {
        struct proxy_call *c = p->calls;
        struct proxy_result res = {.status = 503, .detail = "the gateway is shutting down"};
        call_finish(c, &res, "shutdown", true);
    }
    south_coap_free(p->coap);
    south_mqtt_free(p->mqtt);
    free(p);
}

/* The decision for in on thing t. A request the MQTT broker's plugin
 * already decided (cred.vouched, interaction.h) is allowed for its
 * principal when the operation is exposed on the affordance; a property
 * read or observation counts as exposed when any operation that
 * authorizes a subscription to the property's topic is (mqtt_topic_ops). */
static void decide(const struct policy_env *env, const struct thing *t,
                   const struct interaction *in, struct policy_decision *d)
{
    if (!in->cred.vouched) {
        policy_decide(env, t->policy, in->affordance, in->op, &in->cred, d);
        return;
    }
    enum wot_op ops[MQTT_TOPIC_MAX_OPS] = {in->op};
    size_t n = 1;
    if (in->op == WOT_OP_OBSERVEPROPERTY || in->op == WOT_OP_READPROPERTY)
        n = mqtt_topic_ops(MQTT_TOPIC_PROPERTY, false, ops);
    struct policy_form pf = {0};
    for (size_t i = 0; i < n && !pf.security; i++)
        policy_lookup(t->policy, in->affordance, ops[i], &pf);
    *d = (struct policy_decision){0};
    if (!pf.security) {
        d->verdict = POLICY_DENY_NOT_EXPOSED;
        d->reason = "operation not exposed";
        return;
    }
    d->verdict = POLICY_ALLOW;
    d->reason = "decided by the MQTT broker's plugin";
    snprintf(d->principal, sizeof(d->principal), "%s", in->cred.vouched);
}

/* Fills res for a policy refusal. */
static void policy_refusal(struct proxy *p, const struct policy_decision *d,
                           struct proxy_result *res)
{
    p->gw->counters.denials++;
    if (d->verdict == POLICY_DENY_UNAUTHENTICATED) {
        res->status = 401;
        res->detail = d->reason;
        res->challenge = d->challenge;
        res->invalid_token = d->invalid_token;
    } else {
        res->status = 403;
        res->detail = d->reason;
        res->insufficient_scope = d->insufficient_scope;
        res->scopes = d->scopes;
    }
}

/* Operations exposed on an affordance (a thing-level op: on the thing). */
static uint32_t exposed_ops(const struct thing *t, const char *aff, enum wot_aff_kind kind)
{
    uint32_t ops = 0;
    struct policy_form pf;
    for (int op = 0; op < WOT_OP__COUNT; op++) {
        if (wot_op_aff_kind((enum wot_op)op) != kind)
            continue;
        policy_lookup(t->policy, aff, (enum wot_op)op, &pf);
        if (pf.security)
            ops |= 1u << op;
    }
    return ops;
}

/* A started call joins the proxy's list and counts. */
static void call_link(struct proxy_call *c, bool stream, struct proxy_call **call)
{
    struct proxy *p = c->p;
    c->next = p->calls;
    if (p->calls)
        p->calls->prev = c;
    p->calls = c;
    if (stream)
        p->n_streams++;
    else
        p->n_pending++;
    if (call)
        *call = c;
}

/* A new call for a request the policy allowed (d: its principal). */
static struct proxy_call *call_new(struct proxy *p, const struct thing *t,
                                   const struct interaction *in, const struct proxy_ops *ops,
                                   void *ud, uint64_t t0, const struct policy_decision *d)
{
    struct proxy_call *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->p = p;
    c->thing = t;
    c->in = in;
    c->ops = ops;
    c->ud = ud;
    c->start_us = t0;
    memcpy(c->principal, d->principal, sizeof(c->principal));
    return c;
}

/* What every call to a device starts with: counted, then refused while
 * shutting down (503) or for an unknown thing (hidden_thing). The thing,
 * or NULL with res and *reason set. */
static const struct thing *call_thing(struct proxy *p, const struct interaction *in,
                                      struct proxy_result *res, const char **reason)
{
    struct gw *gw = p->gw;
    gw->counters.requests++;
    if (gw->stopping) {
        res->status = 503;
        res->detail = "the gateway is shutting down";
        *reason = "shutting down";
        return NULL;
    }
    const struct thing *t = state_find_thing(gw->state, in->thing);
    if (!t) {
        hidden_thing(p, gw->state, in, res);
        *reason = res->status == 404 ? "unknown thing" : "unknown thing, not authenticated";
    }
    return t;
}

int proxy_start(struct proxy *p, const struct interaction *in, const struct proxy_ops *ops,
                void *ud, struct proxy_call **call, struct proxy_result *res)
{
    struct gw *gw = p->gw;
    const struct gw_state *s = gw->state;
    uint64_t t0 = now_us();
    const char *reason = NULL;
    struct policy_decision d = {0};
    bool allow = false;
    *res = (struct proxy_result){0};
    if (call)
        *call = NULL;
    const struct thing *t = call_thing(p, in, res, &reason);
    if (!t)
        goto done;
    struct policy_env env;
    state_policy_env(s, (int64_t)time(NULL), &env);
    decide(&env, t, in, &d);
    switch (d.verdict) {
    case POLICY_ALLOW: break;
    case POLICY_DENY_UNAUTHENTICATED:
    case POLICY_DENY_FORBIDDEN:
        policy_refusal(p, &d, res);
        reason = d.reason;
        goto done;
    case POLICY_DENY_NOT_EXPOSED:
    default: {
        if (!policy_may_see(&env, t->policy, t->td, &in->cred)) {
            hidden_thing(p, s, in, res);
            reason = "not exposed to this caller";
            goto done;
        }
        enum wot_aff_kind kind = wot_op_aff_kind(in->op);
        if (in->affordance && !td_find(t->td, kind, in->affordance)) {
            res->status = 404;
            res->detail = kind == AFF_PROPERTY ? "no such property"
                          : kind == AFF_ACTION ? "no such action"
                                               : "no such event";
            reason = "unknown affordance";
            goto done;
        }
        res->allow_ops = exposed_ops(t, in->affordance, kind);
        res->status = res->allow_ops ? 405 : 404;
        res->detail = res->allow_ops ? "this operation is not offered here" : "not exposed";
        reason = "operation not exposed";
        goto done;
    }
    }
    allow = true;

    const struct limits *lim = &s->conf->limits;
    bool stream = is_stream_op(in->op);
    if (stream ? p->n_streams >= lim->max_streams : p->n_pending >= lim->max_pending_requests) {
        res->status = 503;
        res->detail = stream ? "too many streams" : "too many requests in progress";
        reason = res->detail;
        goto done;
    }
    struct proxy_call *c = call_new(p, t, in, ops, ud, t0, &d);
    if (!c)
        return -ENOMEM;
    c->kind = in->op == WOT_OP_READALLPROPERTIES ? CALL_READALL : CALL_UNARY;
    if (stream) {
        const struct td_form *f = call_form(c);
        c->kind = f && f->subprotocol && !strcmp(f->subprotocol, "sse") ? CALL_SSE : CALL_LONGPOLL;
        http_sse_parser_init(&c->sse, PROXY_SSE_EVENT_MAX);
    }
    c->ref = gw_state_hold(gw);
    int r = start_device(c);
    if (r == -ENOENT) {
        const struct td_affordance *aff =
                in->affordance ? td_find(t->td, wot_op_aff_kind(in->op), in->affordance) : NULL;
        if ((aff || !in->affordance) && td_find_oscore_form(t->td, aff, (int)in->op)) {
            call_free(c);
            res->status = 400;
            res->detail = "the device takes this operation only OSCORE-protected end to end: "
                          "use the thing's oscore-passthrough forms";
            reason = "device needs OSCORE end to end";
            goto done;
        }
    }
    if (r < 0) {
        call_free(c);
        if (r == -ENOMEM)
            return r;
        res->status = 502;
        res->detail = r == -EPROTONOSUPPORT ? "the device's protocol is not supported yet"
                                            : "the device has no usable form for this operation";
        reason = r == -EPROTONOSUPPORT ? "device protocol not supported" : "no device form";
        goto done;
    }
    call_link(c, stream, call);
    return 0;

done:
    log_result(in, NULL, d.principal, allow, reason, res->status, t0);
    return PROXY_DONE;
}

/* ---- OSCORE passthrough (RFC 8613 §11.5) ----------------------------------------------- */

/* The device's outer answer, as it came. */
static void oscore_done(void *ud, const struct south_coap_response *r)
{
    struct proxy_call *c = ud;
    c->south_coap = NULL; /* gone after done() */
    if (r->error != SOUTH_COAP_OK) {
        enum south_http_error e = r->error == SOUTH_COAP_CONNECT     ? SOUTH_HTTP_CONNECT
                                  : r->error == SOUTH_COAP_TIMEOUT   ? SOUTH_HTTP_TIMEOUT
                                  : r->error == SOUTH_COAP_PROTOCOL  ? SOUTH_HTTP_PROTOCOL
                                  : r->error == SOUTH_COAP_TOO_LARGE ? SOUTH_HTTP_TOO_LARGE
                                                                     : SOUTH_HTTP_INTERNAL;
        const char *detail;
        int st = south_error_status(e, &detail);
        fail_call(c, st, detail, south_coap_error_name(r->error));
        return;
    }
    struct proxy_oscore_msg m = {
            .code = r->code,
            .has_option = r->has_oscore,
            .option = r->oscore_option,
            .option_len = r->oscore_option_len,
            .payload = r->body,
            .payload_len = r->body_len,
    };
    /* §11: a protected answer (outer 2.04, or 2.05 for Observe) is 200 */
    int status = r->has_oscore && (r->code == OSCORE_CODE_CHANGED || r->code == OSCORE_CODE_CONTENT)
                         ? 200
                         : coap_code_to_http(r->code, r->body_len > 0);
    struct proxy_result res = {
            .status = status,
            .from_device = true,
            .content_type =
                    r->has_oscore ? "application/oscore" : coap_format_to_type(r->content_format),
            .body = r->body,
            .body_len = r->body_len,
            .oscore = &m,
    };
    call_finish(c, &res, r->has_oscore ? "device answered" : "device answered unprotected", false);
}

/* The decision for a passthrough: every operation the device offers, on
 * every affordance and on the thing, decided with the credentials (the
 * gateway cannot see which one the protected request addresses). The
 * first refusal wins; an operation not exposed is a refusal too. */
static void decide_all(const struct policy_env *env, const struct thing *t,
                       const struct interaction *in, struct policy_decision *d)
{
    const struct td *td = t->td;
    bool any = false;
    *d = (struct policy_decision){.verdict = POLICY_DENY_NOT_EXPOSED, .reason = "nothing exposed"};
    for (size_t i = 0; i <= td->n_affs; i++) {
        const struct td_affordance *aff = i < td->n_affs ? &td->affs[i] : NULL;
        uint32_t ops = td_ops(td, aff);
        for (int op = 0; op < WOT_OP__COUNT; op++) {
            if (!(ops & (1u << op)))
                continue;
            struct interaction one = *in;
            one.affordance = aff ? aff->name : NULL;
            one.op = (enum wot_op)op;
            struct policy_decision od;
            decide(env, t, &one, &od);
            if (od.verdict == POLICY_DENY_NOT_EXPOSED) {
                /* not an answer that says which: a 403 for the whole thing */
                od.verdict = POLICY_DENY_FORBIDDEN;
                od.reason = "the policy does not expose every operation of the thing; an "
                            "OSCORE passthrough cannot tell them apart";
                od.insufficient_scope = false;
                od.scopes = NULL;
            }
            if (od.verdict != POLICY_ALLOW) {
                *d = od;
                return;
            }
            if (!any)
                *d = od;
            any = true;
        }
    }
}

int proxy_oscore_forward(struct proxy *p, const struct interaction *in,
                         const struct proxy_oscore_msg *req, const struct proxy_ops *ops, void *ud,
                         struct proxy_call **call, struct proxy_result *res)
{
    struct gw *gw = p->gw;
    const struct gw_state *s = gw->state;
    uint64_t t0 = now_us();
    const char *reason = NULL;
    struct policy_decision d = {0};
    bool allow = false;
    struct interaction lin = *in; /* as logged: no affordance */
    lin.affordance = NULL;
    *res = (struct proxy_result){0};
    if (call)
        *call = NULL;
    const struct thing *t = call_thing(p, in, res, &reason);
    if (!t)
        goto done;
    struct policy_env env;
    state_policy_env(s, (int64_t)time(NULL), &env);
    if (!t->td->oscore_href) {
        if (!policy_may_see(&env, t->policy, t->td, &in->cred)) {
            hidden_thing(p, s, in, res);
            reason = "not exposed to this caller";
        } else {
            res->status = 404;
            res->detail = "this thing does not take OSCORE end to end";
            reason = "not an OSCORE passthrough thing";
        }
        goto done;
    }
    decide_all(&env, t, in, &d);
    if (d.verdict != POLICY_ALLOW) {
        if (d.verdict == POLICY_DENY_NOT_EXPOSED) { /* the device offers nothing */
            res->status = 404;
            res->detail = "not exposed";
            p->gw->counters.denials++;
        } else {
            policy_refusal(p, &d, res);
        }
        reason = d.reason;
        goto done;
    }
    allow = true;
    const struct limits *lim = &s->conf->limits;
    if (!req->has_option || (req->code != OSCORE_CODE_POST && req->code != OSCORE_CODE_FETCH) ||
        req->option_len > OSCORE_OPTION_VALUE_MAX || (req->option_len && !req->option)) {
        res->status = 400;
        res->detail = !req->has_option                            ? "no OSCORE option"
                      : req->option_len > OSCORE_OPTION_VALUE_MAX ? "the OSCORE option is too long"
                      : req->option_len && !req->option           ? "the OSCORE option is malformed"
                                                        : "an OSCORE request is a POST or a FETCH";
        reason = "malformed OSCORE request";
        goto done;
    }
    if (req->payload_len > lim->max_body_size) {
        res->status = 413;
        res->detail = "the request body is larger than the limit";
        reason = res->detail;
        goto done;
    }
    if (p->n_pending >= lim->max_pending_requests) {
        res->status = 503;
        res->detail = "too many requests in progress";
        reason = res->detail;
        goto done;
    }
    if (!p->coap) {
        int r = south_coap_new(gw->ev, &p->coap);
        if (r == -ENOMEM)
            return r;
        if (r < 0) {
            res->status = 500;
            res->detail = "internal error";
            reason = "CoAP client setup failed";
            goto done;
        }
    }
    struct proxy_call *c = call_new(p, t, NULL, ops, ud, t0, &d);
    if (!c)
        return -ENOMEM;
    c->oscore_in = lin;
    c->in = &c->oscore_in;
    c->kind = CALL_OSCORE;
    c->ref = gw_state_hold(gw);
    const char *url = t->td->oscore_href;
    const char *tmpl = strchr(url, '{');
    if (tmpl && !(url = c->url = strndup(url, (size_t)(tmpl - url)))) {
        call_free(c);
        return -ENOMEM;
    }
    struct south_coap_request rq = {
            .method = req->code,
            .url = url,
            .content_format = -1,
            .body = req->payload,
            .body_len = req->payload_len,
            .timeout_us = lim->device_timeout_us,
            .max_response = (size_t)lim->max_body_size,
            .oscore = true,
            .oscore_option = req->option,
            .oscore_option_len = req->option_len,
    };
    int r = south_coap_start(p->coap, &rq, oscore_done, c, &c->south_coap);
    if (r < 0) {
        call_free(c);
        if (r == -ENOMEM)
            return r;
        res->status = 502;
        res->detail = "the device has no usable form for this operation";
        reason = "no device form";
        goto done;
    }
    call_link(c, false, call);
    return 0;

done:
    log_result(&lin, PROXY_OSCORE_OP, d.principal, allow, reason, res->status, t0);
    return PROXY_DONE;
}

void proxy_not_allowed(struct proxy *p, const struct interaction *in, enum wot_aff_kind kind,
                       struct proxy_result *res)
{
    struct gw *gw = p->gw;
    const struct gw_state *s = gw->state;
    uint64_t t0 = now_us();
    const char *reason = "method not allowed";
    *res = (struct proxy_result){0};
    gw->counters.requests++;
    const struct thing *t = state_find_thing(s, in->thing);
    struct policy_env env;
    state_policy_env(s, (int64_t)time(NULL), &env);
    if (!t || !policy_may_see(&env, t->policy, t->td, &in->cred)) {
        hidden_thing(p, s, in, res);
        reason = t ? "not exposed to this caller" : "unknown thing";
    } else if (kind != AFF_THING && (!in->affordance || !td_find(t->td, kind, in->affordance))) {
        res->status = 404;
        res->detail = kind == AFF_PROPERTY ? "no such property"
                      : kind == AFF_ACTION ? "no such action"
                                           : "no such event";
        reason = "unknown affordance";
    } else {
        res->status = 405;
        res->detail = "this method is not offered here";
        res->allow_ops = exposed_ops(t, kind == AFF_THING ? NULL : in->affordance, kind);
    }
    log_result(in, "invalid", NULL, false, reason, res->status, t0);
}

void proxy_cancel(struct proxy_call *c)
{
    if (!c)
        return;
    bool stream = c->kind == CALL_LONGPOLL || c->kind == CALL_SSE;
    struct proxy_result res = {.status = stream ? 200 : 499};
    call_finish(c, &res, stream ? "stream closed by the consumer" : "consumer went away", true);
}

void proxy_reload(struct proxy *p)
{
    struct gw *gw = p->gw;
    const struct gw_state *s = gw->state;
    struct proxy_call *next;
    for (struct proxy_call *c = p->calls; c; c = next) {
        next = c->next;
        if ((c->kind != CALL_LONGPOLL && c->kind != CALL_SSE) || c->ending)
            continue;
        if (c->ref->state == s)
            continue;
        const struct thing *t = state_find_thing(s, c->in->thing);
        if (!t) {
            stream_end(c, 404, "the thing is no longer exposed", "thing removed by reload");
            continue;
        }
        struct policy_env env;
        struct policy_decision d;
        state_policy_env(s, (int64_t)time(NULL), &env);
        decide(&env, t, c->in, &d);
        if (d.verdict != POLICY_ALLOW) {
            stream_end(c, d.verdict == POLICY_DENY_UNAUTHENTICATED ? 401 : 403,
                       "the policy no longer allows this stream", "refused after reload");
            continue;
        }
        gw_state_release(c->ref);
        c->ref = gw_state_hold(gw);
        c->thing = t;
    }
}

size_t proxy_drain(struct proxy *p, bool force)
{
    struct proxy_call *next;
    for (struct proxy_call *c = p->calls; c; c = next) {
        next = c->next;
        if (c->kind == CALL_LONGPOLL || c->kind == CALL_SSE)
            stream_end(c, 200, NULL, "shutdown");
        else if (force)
            fail_call(c, 503, "the gateway is shutting down", "shutdown");
    }
    return p->n_pending + p->n_streams;
}

size_t proxy_pending(const struct proxy *p)
{
    return p->n_pending + p->n_streams;
}

size_t proxy_streams(const struct proxy *p)
{
    return p->n_streams;
}

/* ---- Thing Descriptions and the directory -------------------------------------------------- */

static void td_log(const struct interaction *in, const char *op, const char *principal, bool allow,
                   const char *reason, int status, uint64_t t0)
{
    log_result(in, op, principal, allow, reason, status, t0);
}

/* A principal name for a log line of a TD request (no form decides it). */
static const char *td_principal(const struct credentials *c)
{
    if (c->basic_user)
        return c->basic_user;
    if (c->cert_cn)
        return c->cert_cn;
    return NULL;
}

int proxy_get_td(struct proxy *p, const struct interaction *in, struct proxy_result *res,
                 char **body)
{
    struct gw *gw = p->gw;
    const struct gw_state *s = gw->state;
    uint64_t t0 = now_us();
    *res = (struct proxy_result){0};
    *body = NULL;
    gw->counters.requests++;
    const struct thing *t = state_find_thing(s, in->thing);
    struct policy_env env;
    state_policy_env(s, (int64_t)time(NULL), &env);
    if (t && policy_may_see(&env, t->policy, t->td, &in->cred)) {
        char *txt = json_dumps(t->exposed, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!txt)
            return -ENOMEM;
        *body = txt;
        res->status = 200;
        res->content_type = "application/td+json";
        res->body = (const uint8_t *)txt;
        res->body_len = strlen(txt);
        td_log(in, "retrievetd", td_principal(&in->cred), true, "may see", 200, t0);
        return 0;
    }
    hidden_thing(p, s, in, res);
    td_log(in, "retrievetd", NULL, false, t ? "may not see" : "unknown thing", res->status, t0);
    return 0;
}

int proxy_list_tds(struct proxy *p, const struct interaction *in, struct proxy_result *res,
                   char **body)
{
    struct gw *gw = p->gw;
    const struct gw_state *s = gw->state;
    uint64_t t0 = now_us();
    *res = (struct proxy_result){0};
    *body = NULL;
    gw->counters.requests++;
    json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    struct policy_env env;
    state_policy_env(s, (int64_t)time(NULL), &env);
    for (size_t i = 0; i < s->n_things; i++) {
        const struct thing *t = &s->things[i];
        if (policy_may_see(&env, t->policy, t->td, &in->cred) &&
            json_array_append(arr, t->exposed) < 0) {
            json_decref(arr);
            return -ENOMEM;
        }
    }
    if (json_array_size(arr) == 0 &&
        (!cred_presented(&in->cred) || !cred_authenticates(s, &in->cred))) {
        json_decref(arr);
        res->status = 401;
        res->detail = in->cred.malformed ? in->cred.malformed : "authentication required";
        res->challenge = all_schemes(p, s);
        res->invalid_token = in->cred.bearer != NULL;
        gw->counters.denials++;
        td_log(in, "listtds", NULL, false, "nothing visible", 401, t0);
        return 0;
    }
    char *txt = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t n = json_array_size(arr);
    json_decref(arr);
    if (!txt)
        return -ENOMEM;
    *body = txt;
    res->status = 200;
    res->content_type = "application/td+json"; /* HTTPS also offers ld+json on request */
    res->body = (const uint8_t *)txt;
    res->body_len = strlen(txt);
    td_log(in, "listtds", td_principal(&in->cred), true, n ? "listed" : "nothing visible", 200, t0);
    return 0;
}

/* The directory's securityDefinitions: every leaf definition of the
 * exposed TDs (same names, same content), offered as one oneOf. */
static int directory_security(const struct gw_state *s, json_t *root)
{
    json_t *defs = json_object(), *names = json_array();
    int r = -ENOMEM;
    if (!defs || !names)
        goto out;
    for (size_t i = 0; i < s->n_things; i++) {
        json_t *sd = json_object_get(s->things[i].exposed, "securityDefinitions");
        const char *k;
        json_t *v;
        json_object_foreach(sd, k, v)
        {
            const char *scheme = json_string_value(json_object_get(v, "scheme"));
            if (!scheme || !strcmp(scheme, "combo") || json_object_get(defs, k))
                continue;
            if (json_object_set(defs, k, v) < 0 || json_array_append_new(names, json_string(k)))
                goto out;
        }
    }
    if (json_array_size(names) == 0) {
        if (json_object_set_new(defs, "nosec_sc", json_pack("{s:s}", "scheme", "nosec")) < 0 ||
            json_object_set_new(root, "security", json_pack("[s]", "nosec_sc")) < 0)
            goto out;
    } else if (json_array_size(names) == 1) {
        if (json_object_set(root, "security", names) < 0)
            goto out;
    } else {
        if (json_object_set_new(defs, "directory_sc",
                                json_pack("{s:s, s:O}", "scheme", "combo", "oneOf", names)) < 0 ||
            json_object_set_new(root, "security", json_pack("[s]", "directory_sc")) < 0)
            goto out;
    }
    r = json_object_set(root, "securityDefinitions", defs) < 0 ? -ENOMEM : 0;
out:
    json_decref(defs);
    json_decref(names);
    return r;
}

int proxy_directory_td(struct proxy *p, const struct interaction *in, struct proxy_result *res,
                       char **body)
{
    struct gw *gw = p->gw;
    const struct gw_state *s = gw->state;
    uint64_t t0 = now_us();
    *res = (struct proxy_result){0};
    *body = NULL;
    gw->counters.requests++;
    char *list_href = NULL, *td_href = NULL;
    if (asprintf(&list_href, "%s/things", s->conf->base_url) < 0)
        list_href = NULL;
    if (asprintf(&td_href, "%s/things/{id}", s->conf->base_url) < 0)
        td_href = NULL;
    json_t *root =
            !list_href || !td_href
                    ? NULL
                    : json_pack("{s:[s,s], s:s, s:s, s:s, s:s,"
                                " s:{s:{s:s, s:b, s:s, s:{s:s}, s:[{s:s, s:s, s:s, s:s}]}},"
                                " s:{s:{s:s, s:b, s:b, s:{s:{s:s, s:s}}, s:{s:s},"
                                "      s:[{s:s, s:s, s:s, s:{s:s}}]}}}",
                                "@context", "https://www.w3.org/2022/wot/td/v1.1",
                                "https://www.w3.org/2022/wot/discovery", "@type", "ThingDirectory",
                                "id", "urn:wotgw:directory", "title",
                                "wotgw Thing Description Directory", "description",
                                "The Thing Descriptions this gateway exposes; each is listed and "
                                "served only to "
                                "consumers whose credentials may use the thing.",
                                /* properties */
                                "properties", "things", "description",
                                "The Thing Descriptions the credentials may see (WoT Discovery "
                                "listing).",
                                "readOnly", 1, "type", "array", "items", "type", "object", "forms",
                                "href", list_href, "op", "readproperty", "htv:methodName", "GET",
                                "contentType", "application/td+json",
                                /* actions */
                                "actions", "retrieveThing", "description",
                                "One Thing Description by the thing's name in the gateway's "
                                "configuration.",
                                "safe", 1, "idempotent", 1, "uriVariables", "id", "type", "string",
                                "description", "the thing's name (the {t} of /things/{t})",
                                "output", "type", "object", "forms", "href", td_href, "op",
                                "invokeaction", "htv:methodName", "GET", "response", "contentType",
                                "application/td+json");
    free(list_href);
    free(td_href);
    if (!root || directory_security(s, root) < 0) {
        json_decref(root);
        return -ENOMEM;
    }
    char *txt = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!txt)
        return -ENOMEM;
    *body = txt;
    res->status = 200;
    res->content_type = "application/td+json";
    res->body = (const uint8_t *)txt;
    res->body_len = strlen(txt);
    td_log(in, "retrievedirectory", NULL, true, "public", 200, t0);
    return 0;
}
