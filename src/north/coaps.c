/* coaps.c - see coaps.h.
 *
 * Objects:
 *   struct coaps       the front end (one per daemon: coaps_fe)
 *   struct coaps_peer  per DTLS session (libcoap session app data): the
 *                      client certificate verified in the handshake
 *   struct coaps_req   per request waiting for its device: the
 *                      interaction, the proxy call and, once done(), the
 *                      answer; the app data of its libcoap async
 *
 * A request is decided in the first call of the handler. When the proxy
 * answers at once (PROXY_DONE) the answer is piggybacked on the ACK.
 * Otherwise the request is registered as a libcoap async (libcoap sends
 * the empty ACK); done() stores the answer and triggers the async, and
 * libcoap calls the handler again with the same request: that second call
 * writes the answer and frees the coaps_req. libcoap frees the async
 * itself after that call (integration.md Trap 3.1: never coap_free_async
 * there).
 *
 * Cleanup style: goto to one exit in functions that acquire several
 * things; object lifetimes end in one *_free() each.
 */
#define _GNU_SOURCE
#include "north/coaps.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "auth/psk.h"
#include "objsec/oscore_server.h"
#include "oscore_gw.h"
#include "coap_oscore.h"
#include "coap_util.h"
#include "log.h"
#include "north/http_util.h"
#include "proxy.h"

#define COAPS_CN_MAX   256
#define COAPS_PEER_MAX (INET6_ADDRSTRLEN + 16)
#define COAPS_PEM_MAX  (1u << 20)

/* A DTLS session's certificate identity (libcoap session app data). Also
 * on a list of their own: libcoap does not report every session's end at
 * shutdown, so the front end frees what is left. */
struct coaps_peer {
    struct coaps_peer *prev, *next;
    bool cert_ok;
    char cert_cn[COAPS_CN_MAX];
    char cert_sha256[65];
};

struct coaps;
struct coaps_res;

struct coaps_req {
    struct coaps *c;
    struct coaps_req *prev, *next;
    coap_session_t *session; /* held by the async (coap_register_async) */
    coap_async_t *async;
    struct proxy_call *call;
    struct interaction in;
    struct http_route route;
    char *pathbuf;
    uint8_t *body;
    char psk_identity[PSK_MAX_IDENTITY + 1];
    char cert_cn[COAPS_CN_MAX];
    char cert_sha256[65];
    char peer[COAPS_PEER_MAX];
    bool get;
    /* the answer, once done() */
    bool answered;
    int status;
    bool from_device;
    int format; /* Content-Format, COAP_FORMAT_NONE */
    uint8_t *rbody;
    size_t rlen;
    const char *detail;
    /* an observation (observeproperty, subscribeevent: RFC 7641) */
    struct coaps_res *res;
    struct coaps_req *sprev, *snext; /* res->streams, oldest first */
    uint8_t token[8];
    size_t token_len;
    bool ended;            /* told the consumer with a final answer; waits for
                            * libcoap's next call to drop its observer */
    uint64_t served_round; /* res->round last answered */
    uint64_t served_us;
    uint32_t obs_num; /* an OSCORE observation: the last Outer Observe sent */
    /* an OSCORE request (RFC 8613): the context it was verified with, to
     * protect the answer (also a separate one) */
    struct coaps_osc *osc;
};

struct coaps_osc {
    struct oscore_gw *srv;        /* held while the answer is pending, also past a reload */
    struct oscore_srv_result res; /* status, entry and req: what protecting needs */
    char name[OSCORE_CTX_MAX_NAME + 1];
    int observe; /* the inner Observe option's value, -1 without one */
};

/* An observable resource (RFC 7641) of a loop: libcoap keeps the
 * observers (registration, Observe numbers, NON/CON, block-wise, RST,
 * deregistration); wotgw keeps one stream per observer (the policy is the
 * observer's), the value the newest notifications carry, and which stream
 * feeds it: the oldest one still running, so that several consumers of
 * the same event each get every event once. */
struct coaps_res {
    struct coaps_res *next;
    coap_resource_t *r;
    struct coaps_req *streams, *last;
    bool have_value;
    int format;
    uint8_t *value;
    size_t len;
    uint64_t round; /* notifications asked of libcoap */
};

/* One libcoap context on the loop: PSK and X.509 on [coaps] listen, raw
 * public keys on rpk_listen (libcoap sets RPK per context). */
struct coaps_loop {
    struct coaps *c;
    coap_context_t *ctx;
    sd_event_source *io, *timer, *kick;
};

enum { COAPS_LOOP_MAIN, COAPS_LOOP_RPK, COAPS_LOOPS };

struct coaps {
    struct gw *gw;
    struct coaps_loop loops[COAPS_LOOPS];
    struct psk_store *psk;
    char *rpk_pem; /* the gateway's raw key (SEC1 PEM), wiped on free */
    size_t rpk_pem_len;
    uint8_t fallback_key[32]; /* random, never given out: see on_psk_identity */
    char *cert, *key, *ca;    /* file names libcoap reads per handshake */
    struct coaps_req *reqs;
    size_t n_reqs;
    size_t n_streams;
    size_t n_osc_ended; /* OSCORE observations ended, to free (osc_sweep) */
    size_t n_endpoints;
    bool draining;
    struct coaps_res *res; /* every loop's, freed with the front end */
};

/* One front end per process: libcoap's callbacks find it here. */
static struct coaps *coaps_fe;

/* ---- checks ------------------------------------------------------------------------ */

static int check_readable(const char *path, const char *what, struct diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    int r = util_read_file(path, COAPS_PEM_MAX, &buf, &len);
    if (r < 0) {
        diag_add(d, path, 0, "cannot read the CoAPS %s: %s", what,
                 r == -EFBIG ? "file too large" : strerror(-r));
        return r;
    }
    if (!strstr(buf, "-----BEGIN ")) {
        diag_add(d, path, 0, "the CoAPS %s is not PEM", what);
        r = -EINVAL;
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    return r;
}

int coaps_check(const struct gw_state *s, struct diags *d)
{
    const struct config *conf = s->conf;
    int ret = 0;
    if (conf->credentials.psk) {
        struct psk_store *p = NULL;
        int r = psk_load(conf->credentials.psk, &p, d);
        psk_free(p);
        if (r < 0)
            ret = r;
    }
    if (!conf->coaps.enabled)
        return ret;
    if (!conf->credentials.psk && !conf->coaps.client_ca && !conf->credentials.oscore)
        diag_warn(d, conf->path, conf->coaps.line,
                  "[coaps] without a psk file ([credentials] psk), a client_ca nor OSCORE "
                  "contexts ([credentials] oscore): no consumer can authenticate over CoAP");
    if (conf->coaps.certificate && check_readable(conf->coaps.certificate, "certificate", d) < 0)
        ret = -EINVAL;
    if (conf->coaps.key && check_readable(conf->coaps.key, "key", d) < 0)
        ret = -EINVAL;
    if (conf->coaps.client_ca && check_readable(conf->coaps.client_ca, "client CA", d) < 0)
        ret = -EINVAL;
    if (conf->coaps.rpk_key) {
        char *buf = NULL;
        size_t len = 0;
        int r = util_read_file(conf->coaps.rpk_key, COAPS_PEM_MAX, &buf, &len);
        if (r < 0) {
            diag_add(d, conf->coaps.rpk_key, 0, "cannot read the CoAPS raw public key: %s",
                     r == -EFBIG ? "file too large" : strerror(-r));
            ret = -EINVAL;
        } else if (!strstr(buf, "-----BEGIN EC PRIVATE KEY-----")) {
            diag_add(d, conf->coaps.rpk_key, 0,
                     "rpk_key must be an EC private key in SEC1 PEM (\"BEGIN EC PRIVATE KEY\"; "
                     "convert with: openssl ec -in KEY -out KEY.ec)");
            ret = -EINVAL;
        }
        if (buf) {
            OPENSSL_cleanse(buf, len);
            free(buf);
        }
    }
    return ret;
}

/* ---- the loop glue ---------------------------------------------------------------------- */

/* libcoap's epoll fd holds its sockets and a timerfd of its own that
 * coap_io_process() keeps armed for the next retransmission, DTLS timer,
 * session timeout or async deadline: the io source alone drives it. A
 * defer source runs it after work queued from outside its callbacks (an
 * async trigger), and a slow timer is a safety net. Re-arming a timer of
 * ours after every run cost about 17 timerfd_settime() calls per proxied
 * request (strace -c). */
#define COAPS_SAFETY_TICK_US (1000000ull)

static void osc_sweep(struct coaps *c);

static void coaps_run(struct coaps_loop *l)
{
    if (l->c && l->c->n_osc_ended && !l->c->draining)
        osc_sweep(l->c);
    if (l->ctx)
        coap_io_process(l->ctx, COAP_IO_NO_WAIT);
}

static int on_coap_io(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
    coaps_run(ud);
    return 0;
}

static int on_coap_kick(sd_event_source *s, void *ud)
{
    coaps_run(ud);
    return 0;
}

static int on_coap_timer(sd_event_source *s, uint64_t usec, void *ud)
{
    coaps_run(ud);
    sd_event_source_set_time(s, usec + COAPS_SAFETY_TICK_US);
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    return 0;
}

/* Work queued from outside libcoap's callbacks (an async trigger): run
 * libcoap on the next iteration. */
static void coaps_kick(struct coaps *c)
{
    for (size_t i = 0; i < COAPS_LOOPS; i++)
        if (c->loops[i].kick)
            sd_event_source_set_enabled(c->loops[i].kick, SD_EVENT_ONESHOT);
}

static void on_coap_log(coap_log_t level, const char *message)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", message);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    int prio = level <= LOG_ERR ? LOG_WARNING : LOG_DEBUG;
    if (prio == LOG_DEBUG && !log_debug_enabled())
        return;
    log_msg(prio, "coaps: libcoap: %s", buf);
}

/* ---- requests ------------------------------------------------------------------------ */

static void stream_unlink(struct coaps_req *rq)
{
    struct coaps_res *res = rq->res;
    if (rq->sprev)
        rq->sprev->snext = rq->snext;
    else
        res->streams = rq->snext;
    if (rq->snext)
        rq->snext->sprev = rq->sprev;
    else
        res->last = rq->sprev;
    rq->res = NULL;
    rq->c->n_streams--;
    if (!res->streams) { /* nobody observes: the value would go stale */
        free(res->value);
        res->value = NULL;
        res->len = 0;
        res->have_value = false;
    }
}

static void req_free(struct coaps_req *rq)
{
    if (!rq)
        return;
    struct coaps *c = rq->c;
    if (rq->call) {
        struct proxy_call *call = rq->call;
        rq->call = NULL;
        proxy_cancel(call);
    }
    if (rq->res)
        stream_unlink(rq);
    DLIST_UNLINK(&c->reqs, rq, prev, next);
    c->n_reqs--;
    if (rq->osc) {
        oscore_gw_unref(rq->osc->srv);
        OPENSSL_cleanse(rq->osc, sizeof(*rq->osc));
        free(rq->osc);
    }
    free(rq->pathbuf);
    free(rq->body);
    free(rq->rbody);
    OPENSSL_cleanse(rq->psk_identity, sizeof(rq->psk_identity));
    free(rq);
    daemon_drain_progress(c->gw);
}

static void peer_name(coap_session_t *s, char *out, size_t cap)
{
    const coap_address_t *a = coap_session_get_addr_remote(s);
    char ip[INET6_ADDRSTRLEN] = "?";
    snprintf(out, cap, "?");
    if (!a)
        return;
    if (a->addr.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &a->addr.sin.sin_addr, ip, sizeof(ip));
        snprintf(out, cap, "%s:%u", ip, ntohs(a->addr.sin.sin_port));
    } else if (a->addr.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &a->addr.sin6.sin6_addr, ip, sizeof(ip));
        snprintf(out, cap, "[%s]:%u", ip, ntohs(a->addr.sin6.sin6_port));
    }
}

/* Diagnostic payload of an error (RFC 7252 §5.5.2: no Content-Format). */
static void put_error(coap_pdu_t *resp, uint8_t code, const char *detail, uint64_t size1)
{
    coap_pdu_set_code(resp, (coap_pdu_code_t)code);
    if (size1) {
        uint8_t buf[8];
        coap_add_option(resp, COAP_OPTION_SIZE1, coap_encode_var_safe8(buf, sizeof(buf), size1),
                        buf);
    }
    if (detail && *detail)
        coap_add_data(resp, strlen(detail), (const uint8_t *)detail);
}

static void release_copy(coap_session_t *s, void *p)
{
    free(p);
}

/* The plaintext answer of the OSCORE request being handled (put_result
 * writes it as one message, never block-wise). */
static coap_pdu_t *osc_scratch;
static int osc_answer(struct coaps_osc *osc, coap_resource_t *r, coap_session_t *s,
                      const coap_pdu_t *req, const coap_string_t *q, coap_pdu_t *plain,
                      coap_pdu_t *resp);

/* Writes a proxy answer (status, body, Content-Format) into resp. */
static void put_result(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *q, coap_pdu_t *resp, int status, bool from_device,
                       int format, const uint8_t *body, size_t len, const char *detail, bool get)
{
    uint8_t code = coap_code_from_http(status, get);
    uint64_t size1 = 0;
    if (status == 413 && !from_device && coaps_fe)
        size1 = coaps_fe->gw->state->conf->limits.max_body_size;
    if (!from_device && !body) {
        put_error(resp, code, detail ? detail : http_status_title(status), size1);
        return;
    }
    coap_pdu_set_code(resp, (coap_pdu_code_t)code);
    if (!len)
        return;
    if (resp == osc_scratch) { /* the plaintext of an OSCORE answer: one message */
        uint8_t fb[4];
        uint16_t f = (uint16_t)(format == COAP_FORMAT_NONE ? COAP_FORMAT_OCTET_STREAM : format);
        if (!coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                             coap_encode_var_safe(fb, sizeof(fb), f), fb) ||
            !coap_add_data(resp, len, body)) {
            coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
        }
        return;
    }
    /* any payload, a device's error answer too, whole and block-wise when large */
    uint8_t *copy = malloc(len);
    if (!copy) {
        put_error(resp, COAP_RESPONSE_CODE(500), "internal error", 0);
        return;
    }
    memcpy(copy, body, len);
    if (!coap_add_data_large_response(
                r, s, req, resp, q,
                (uint16_t)(format == COAP_FORMAT_NONE ? COAP_FORMAT_OCTET_STREAM : format), -1, 0,
                len, copy, release_copy, copy)) {
        free(copy);
        put_error(resp, COAP_RESPONSE_CODE(500), "internal error", 0);
    }
}

/* An answer decided without the proxy: logged here. */
static void local_error(struct coaps *c, coap_pdu_t *resp, const struct coaps_req *rq,
                        const char *peer, int status, const char *detail, bool get)
{
    struct log_interaction li = {
            .thing = rq ? rq->route.thing : NULL,
            .affordance = rq ? rq->route.aff : NULL,
            .protocol = "coaps",
            .peer = peer,
            .decision = "deny",
            .reason = detail,
            .status = status,
    };
    log_interaction(LOG_NOTICE, &li);
    c->gw->counters.requests++;
    uint64_t size1 = status == 413 ? c->gw->state->conf->limits.max_body_size : 0;
    put_error(resp, coap_code_from_http(status, get), detail, size1);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* An observation is over on our side (the device, the policy, shutdown):
 * the consumer gets a final answer with the observation's token now (RFC
 * 7641 §3.2: a response without Observe ends it); the stream stays as a
 * tombstone until libcoap next calls for its observer, which the same
 * error then drops, or the session goes. */
static int osc_notify(struct coaps_req *rq, uint8_t code, int format, const uint8_t *body,
                      size_t len, bool final);

static void stream_end(struct coaps_req *rq, int status, const char *detail)
{
    if (rq->ended)
        return;
    rq->ended = true;
    if (status < 400) {
        status = 502;
        detail = "the device ended the observation";
    }
    rq->status = status;
    rq->detail = detail;
    if (rq->osc) { /* protected, then freed on the next run (osc_sweep) */
        osc_notify(rq, coap_code_from_http(status, true), COAP_FORMAT_NONE, (const uint8_t *)detail,
                   detail ? strlen(detail) : 0, true);
        rq->c->n_osc_ended++;
        coaps_kick(rq->c);
        return;
    }
    coap_session_t *s = rq->session;
    coap_pdu_t *pdu =
            coap_pdu_init(COAP_MESSAGE_CON, (coap_pdu_code_t)coap_code_from_http(status, true),
                          coap_new_message_id(s), coap_session_max_pdu_size(s));
    if (!pdu)
        return;
    if (!coap_add_token(pdu, rq->token_len, rq->token) ||
        (detail && !coap_add_data(pdu, strlen(detail), (const uint8_t *)detail))) {
        coap_delete_pdu(pdu);
        return;
    }
    coap_send(s, pdu);
    coaps_kick(rq->c);
}

static void on_proxy_done(void *ud, const struct proxy_result *res)
{
    struct coaps_req *rq = ud;
    rq->call = NULL;
    if (rq->res) {
        stream_end(rq, res->status, res->detail);
        return;
    }
    rq->answered = true;
    rq->status = res->status;
    rq->from_device = res->from_device;
    rq->detail = res->detail;
    rq->format = coap_format_from_type(res->content_type);
    if (res->body && res->body_len) {
        rq->rbody = malloc(res->body_len);
        if (rq->rbody) {
            memcpy(rq->rbody, res->body, res->body_len);
            rq->rlen = res->body_len;
        } else {
            rq->status = 500;
            rq->from_device = false;
            rq->detail = "internal error";
        }
    } else if (res->from_device) {
        rq->rlen = 0;
    }
    if (rq->async)
        coap_async_trigger(rq->async);
    coaps_kick(rq->c);
}

/* The stream whose notifications the resource carries: the oldest one
 * still running. */
static struct coaps_req *res_feeder(struct coaps_res *res)
{
    for (struct coaps_req *st = res->streams; st; st = st->snext)
        if (!st->ended && st->call)
            return st;
    return NULL;
}

/* Observers libcoap dropped without a word (a RST to a non-confirmable
 * notification) leave a stream that no notification reaches: after 3
 * rounds and 30 s without one, it goes. */
#define COAPS_STREAM_STALE_ROUNDS 3
#define COAPS_STREAM_STALE_US     (30 * 1000000ull)

static void res_sweep(struct coaps_res *res, const struct coaps_req *keep)
{
    uint64_t now = now_us();
    struct coaps_req *st, *next;
    for (st = res->streams; st; st = next) {
        next = st->snext;
        if (st != keep && st->served_round + COAPS_STREAM_STALE_ROUNDS < res->round &&
            now - st->served_us > COAPS_STREAM_STALE_US)
            req_free(st); /* logged by the proxy: the consumer went away */
    }
}

static int on_proxy_event(void *ud, const char *event, const uint8_t *data, size_t len,
                          const char *content_type)
{
    struct coaps_req *rq = ud;
    struct coaps_res *res = rq->res;
    if (!res || rq->ended || res_feeder(res) != rq)
        return 0; /* the same notification comes through the feeder */
    uint8_t *copy = len ? malloc(len) : NULL;
    if (len && !copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, data, len);
    free(res->value);
    res->value = copy;
    res->len = len;
    res->format = coap_format_from_type(content_type);
    res->have_value = true;
    res->round++;
    res_sweep(res, rq);
    coap_resource_notify_observers(res->r, NULL);
    /* the OSCORE observers: libcoap does not know them (osc_notify) */
    for (struct coaps_req *st = res->streams, *next; st; st = next) {
        next = st->snext;
        if (!st->osc || st->ended)
            continue;
        if (osc_notify(st, COAP_RESPONSE_CODE(205), res->format, res->value, res->len, false) < 0) {
            st->ended = true; /* told, or nothing to tell it with: freed on the next run */
            rq->c->n_osc_ended++;
            continue;
        }
        st->served_round = res->round;
        st->served_us = now_us();
    }
    coaps_kick(rq->c);
    return 0;
}

static const struct proxy_ops coaps_proxy_ops = {
        .done = on_proxy_done,
        .event = on_proxy_event,
};

/* The second call for an async request: the answer is there. */
static void answer_async(struct coaps *c, coap_async_t *a, coap_resource_t *r, coap_session_t *s,
                         const coap_pdu_t *req, const coap_string_t *q, coap_pdu_t *resp)
{
    struct coaps_req *rq = coap_async_get_app_data(a);
    if (rq && !rq->answered) {
        /* not our trigger: another request with the token of one still
         * waiting for its device; the waiting one is left alone */
        put_error(resp, COAP_RESPONSE_CODE(400), "a request with this token is still in progress",
                  0);
        return;
    }
    coap_async_set_app_data(a, NULL);
    if (!rq) {
        put_error(resp, COAP_RESPONSE_CODE(503), "the gateway is shutting down", 0);
        return;
    }
    rq->async = NULL; /* libcoap frees it after this call */
    if (rq->osc) {    /* the plaintext, then protected into resp */
        coap_bin_const_t tok = coap_pdu_get_token(req);
        coap_pdu_t *plain = coap_pdu_init(COAP_MESSAGE_ACK, 0, 0, OSCORE_MAX_PLAINTEXT);
        if (plain && coap_add_token(plain, tok.length, tok.s)) {
            osc_scratch = plain;
            put_result(r, s, req, q, plain, rq->status, rq->from_device, rq->format, rq->rbody,
                       rq->rlen, rq->detail, rq->get);
            osc_scratch = NULL;
            osc_answer(rq->osc, r, s, req, q, plain, resp);
        } else {
            coap_oscore_error(resp, OSCORE_CODE_INTERNAL, NULL);
        }
        if (plain)
            coap_delete_pdu(plain);
    } else {
        put_result(r, s, req, q, resp, rq->status, rq->from_device, rq->format, rq->rbody, rq->rlen,
                   rq->detail, rq->get);
    }
    req_free(rq);
}

/* libcoap calls for an observer of ours: a notification round (or the
 * consumer registering again with the same token, RFC 7641 §4.1). */
static void answer_stream(struct coaps_req *rq, coap_resource_t *r, coap_session_t *s,
                          const coap_pdu_t *req, const coap_string_t *q, coap_pdu_t *resp)
{
    struct coaps_res *res = rq->res;
    if (rq->ended || !res->have_value) { /* an error drops libcoap's observer */
        put_error(resp, coap_code_from_http(rq->ended ? rq->status : 503, true),
                  rq->ended ? rq->detail : "no value to notify", 0);
        req_free(rq);
        return;
    }
    put_result(r, s, req, q, resp, 200, true, res->format, res->value, res->len, NULL, true);
    rq->served_round = res->round;
    rq->served_us = now_us();
}

static struct coaps_req *stream_find(struct coaps_res *res, coap_session_t *s, coap_bin_const_t tok)
{
    for (struct coaps_req *st = res->streams; st; st = st->snext)
        if (!st->osc && st->session == s && st->token_len == tok.length &&
            !memcmp(st->token, tok.s, tok.length))
            return st;
    return NULL;
}

static void stream_link(struct coaps_res *res, struct coaps_req *rq, coap_session_t *s,
                        coap_bin_const_t tok)
{
    rq->res = res;
    rq->session = s;
    memcpy(rq->token, tok.s, tok.length);
    rq->token_len = tok.length;
    rq->served_us = now_us();
    rq->served_round = res->round;
    rq->sprev = res->last;
    rq->snext = NULL;
    if (res->last)
        res->last->snext = rq;
    else
        res->streams = rq;
    res->last = rq;
    rq->c->n_streams++;
}

/* Observations of one peer (session), tombstones included. */
static size_t peer_streams(struct coaps *c, coap_session_t *s)
{
    size_t n = 0;
    for (struct coaps_req *rq = c->reqs; rq; rq = rq->next)
        if (rq->res && rq->session == s)
            n++;
    return n;
}

/* The Observe option's value, -1 without one. */
static int observe_value(const coap_pdu_t *req)
{
    coap_opt_iterator_t it;
    coap_opt_t *o = coap_check_option(req, COAP_OPTION_OBSERVE, &it);
    if (!o)
        return -1;
    return (int)coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
}

int coaps_map_request(const coap_pdu_t *req, char **buf, struct http_route *route, int *format,
                      const char **why)
{
    const uint8_t *segs[COAP_SEGMENTS_MAX + 1];
    size_t lens[COAP_SEGMENTS_MAX + 1], n = 0;
    coap_opt_filter_t f;
    coap_opt_iterator_t it;
    coap_opt_t *opt;
    *buf = NULL;
    *route = (struct http_route){0};
    *format = COAP_FORMAT_NONE;
    coap_option_filter_clear(&f);
    coap_option_filter_set(&f, COAP_OPTION_URI_PATH);
    coap_option_iterator_init(req, &it, &f);
    while ((opt = coap_option_next(&it))) {
        if (n == COAP_SEGMENTS_MAX + 1) {
            *why = "no such resource";
            return 404; /* more segments than any route has */
        }
        segs[n] = coap_opt_value(opt);
        lens[n] = coap_opt_length(opt);
        n++;
    }
    int st = coap_route_from_segments(segs, lens, n, buf, route, why);
    if (st)
        return st;
    coap_opt_iterator_t it2;
    coap_opt_t *cf = coap_check_option(req, COAP_OPTION_CONTENT_FORMAT, &it2);
    if (cf) {
        if (coap_opt_length(cf) > 2) {
            *why = "malformed Content-Format option";
            return 400;
        }
        *format = (int)coap_decode_var_bytes(coap_opt_value(cf), coap_opt_length(cf));
    }
    return 0;
}

/* The credentials of the DTLS session into rq->in.cred (copies in rq). */
static void req_credentials(struct coaps_req *rq, coap_session_t *s)
{
    struct credentials *cred = &rq->in.cred;
    if (coap_session_get_proto(s) != COAP_PROTO_DTLS)
        return;
    const coap_bin_const_t *id = coap_session_get_psk_identity(s);
    if (id && id->length) {
        if (id->length <= PSK_MAX_IDENTITY) {
            memcpy(rq->psk_identity, id->s, id->length);
            rq->psk_identity[id->length] = '\0';
            cred->psk_identity = rq->psk_identity;
        } else {
            cred->malformed = "PSK identity too long";
        }
    }
    const struct coaps_peer *p = coap_session_get_app_data(s);
    if (p && p->cert_ok) {
        memcpy(rq->cert_cn, p->cert_cn, sizeof(rq->cert_cn));
        memcpy(rq->cert_sha256, p->cert_sha256, sizeof(rq->cert_sha256));
        cred->cert_cn = rq->cert_cn;
        cred->cert_sha256 = rq->cert_sha256;
    }
}

/* Appends the links of the coaps forms in forms (a JSON array) to f:
 * the path after base, ct from the form's contentType; each path once. */
static void form_links(FILE *f, json_t *seen, json_t *forms, const char *base, size_t bl)
{
    size_t j;
    json_t *form;
    json_array_foreach(forms, j, form)
    {
        const char *href = json_string_value(json_object_get(form, "href"));
        const char *ct = json_string_value(json_object_get(form, "contentType"));
        if (!href || strncmp(href, base, bl) || href[bl] != '/' || json_object_get(seen, href + bl))
            continue;
        json_object_set_new(seen, href + bl, json_true());
        int fmt = coap_format_from_type(ct);
        if (ftell(f) > 0)
            fputc(',', f);
        if (fmt >= 0)
            fprintf(f, "<%s>;ct=%d", href + bl, fmt);
        else
            fprintf(f, "<%s>", href + bl);
    }
}

/* RFC 6690 links of the coaps forms in a JSON array of exposed TDs.
 * Caller frees; NULL on ENOMEM. */
static char *wellknown_links(const char *tds, size_t len, const char *base, size_t *out_len)
{
    static const char *const kinds[] = {"properties", "actions", "events"};
    json_error_t jerr;
    json_t *arr = json_loadb(tds, len, 0, &jerr), *seen = json_object();
    char *buf = NULL;
    size_t blen = 0, bl = strlen(base), i;
    FILE *f = open_memstream(&buf, &blen);
    json_t *td;
    if (arr && seen && f) {
        json_array_foreach(arr, i, td)
        {
            for (size_t k = 0; k < 3; k++) {
                const char *name;
                json_t *aff;
                json_object_foreach(json_object_get(td, kinds[k]), name, aff)
                        form_links(f, seen, json_object_get(aff, "forms"), base, bl);
            }
            form_links(f, seen, json_object_get(td, "forms"), base, bl);
        }
    }
    json_decref(arr);
    json_decref(seen);
    if (!f || fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    *out_len = blen;
    return buf;
}

/* GET /.well-known/core (RFC 6690): the coaps routes of the things the
 * peer may see (their TDs, then every form), nothing about the others. */
static void on_wellknown(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                         const coap_string_t *q, coap_pdu_t *resp)
{
    struct coaps *c = coaps_fe;
    if (!c || c->draining) {
        put_error(resp, COAP_RESPONSE_CODE(503), "the gateway is shutting down", 0);
        return;
    }
    struct coaps_req *rq = calloc(1, sizeof(*rq));
    if (!rq) {
        put_error(resp, COAP_RESPONSE_CODE(500), "internal error", 0);
        return;
    }
    rq->c = c;
    rq->next = c->reqs; /* linked for req_free */
    if (rq->next)
        rq->next->prev = rq;
    c->reqs = rq;
    c->n_reqs++;
    peer_name(s, rq->peer, sizeof(rq->peer));
    req_credentials(rq, s);
    rq->in.protocol = PROTO_COAP;
    rq->in.peer = rq->peer;
    rq->in.op = WOT_OP__INVALID;
    struct proxy_result res;
    char *tds = NULL;
    if (proxy_list_tds(c->gw->proxy, &rq->in, &res, &tds) < 0) {
        put_error(resp, COAP_RESPONSE_CODE(500), "internal error", 0);
    } else if (res.status != 200) {
        put_result(r, s, req, q, resp, res.status, false, COAP_FORMAT_NONE, NULL, 0, res.detail,
                   true);
    } else {
        size_t n = 0;
        char *links = wellknown_links(tds, strlen(tds), c->gw->state->conf->coaps.url, &n);
        if (!links)
            put_error(resp, COAP_RESPONSE_CODE(500), "internal error", 0);
        else
            put_result(r, s, req, q, resp, 200, false, 40, (const uint8_t *)links, n, NULL, true);
        free(links);
    }
    free(tds);
    req_free(rq);
}

/* The observable resource of an inner request's path, NULL when none. */
static struct coaps_res *osc_resource(coap_session_t *s, const coap_pdu_t *inner)
{
    coap_string_t *p = coap_get_uri_path(inner);
    if (!p)
        return NULL;
    coap_str_const_t key = {p->length, p->s};
    coap_resource_t *r = coap_get_resource_from_uri_path(coap_session_get_context(s), &key);
    coap_delete_string(p);
    return r ? coap_resource_get_userdata(r) : NULL;
}

static bool is_stream_op(enum wot_op op)
{
    return op == WOT_OP_OBSERVEPROPERTY || op == WOT_OP_SUBSCRIBEEVENT;
}

/* One request: req is what is parsed (for OSCORE the decrypted inner
 * request), areq what libcoap knows (the outer one: a separate answer is
 * registered with it); osc (taken) is the OSCORE context it was verified
 * with, NULL for a plain request. */
static void handle(struct coaps *c, coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                   const coap_pdu_t *areq, const coap_string_t *q, coap_pdu_t *resp,
                   struct coaps_osc *osc)
{
    struct coaps_req *rq = NULL;
    char peer[COAPS_PEER_MAX];
    coap_bin_const_t tok = coap_pdu_get_token(req);
    /* over OSCORE: the inner Observe, and the observable resource of the
     * inner path (the outer request reached the catch-all one) */
    int obsv = osc ? osc->observe : observe_value(req);
    struct coaps_res *ores = osc ? osc_resource(s, req) : coap_resource_get_userdata(r);
    peer_name(s, peer, sizeof(peer));
    uint8_t mcode = (uint8_t)coap_pdu_get_code(req);
    const char *method = coap_method_name(mcode);
    bool get = mcode == COAP_REQUEST_CODE_GET;
    const struct config *conf = c->gw->state->conf;

    rq = calloc(1, sizeof(*rq));
    if (!rq) {
        if (osc) {
            oscore_gw_unref(osc->srv);
            free(osc);
        }
        put_error(resp, COAP_RESPONSE_CODE(500), "internal error", 0);
        return;
    }
    rq->c = c;
    rq->osc = osc;
    rq->get = get;
    rq->format = COAP_FORMAT_NONE;
    memcpy(rq->peer, peer, sizeof(peer));
    rq->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = rq;
    c->reqs = rq;
    c->n_reqs++;

    /* the route, from the Uri-Path options */
    const char *why = NULL;
    int st = coaps_map_request(req, &rq->pathbuf, &rq->route, &rq->format, &why);
    if (st) {
        local_error(c, resp, rq, peer, st, why, get);
        goto free_now;
    }
    if (rq->format != COAP_FORMAT_NONE)
        rq->in.content_type = coap_format_to_type(rq->format);

    req_credentials(rq, s);
    if (osc)
        rq->in.cred.oscore_context = osc->name;
    rq->in.thing = rq->route.thing;
    rq->in.affordance = rq->route.aff;
    rq->in.protocol = PROTO_COAP;
    rq->in.peer = rq->peer;

    if (c->draining || c->gw->stopping) {
        local_error(c, resp, rq, peer, 503, "the gateway is shutting down", get);
        goto free_now;
    }

    /* the body */
    size_t blen = 0, boff = 0, btotal = 0;
    const uint8_t *bdata = NULL;
    if (coap_get_data_large(req, &blen, &bdata, &boff, &btotal) && blen) {
        if (boff != 0 || btotal != blen) {
            local_error(c, resp, rq, peer, 400, "incomplete block-wise request", get);
            goto free_now;
        }
        if (blen > conf->limits.max_body_size) {
            local_error(c, resp, rq, peer, 413, "the request body is larger than the limit", get);
            goto free_now;
        }
        rq->body = malloc(blen);
        if (!rq->body) {
            local_error(c, resp, rq, peer, 500, "internal error", get);
            goto free_now;
        }
        memcpy(rq->body, bdata, blen);
        rq->in.payload = rq->body;
        rq->in.payload_len = blen;
    }

    struct proxy_result res;
    char *body = NULL;
    int r2;
    bool dir = rq->route.kind == HTTP_ROUTE_WELLKNOWN || rq->route.kind == HTTP_ROUTE_THINGS ||
               rq->route.kind == HTTP_ROUTE_TD;
    if (dir) {
        if (!get) {
            local_error(c, resp, rq, peer, 405, "only GET is allowed here", get);
            goto free_now;
        }
        if (rq->in.payload_len) {
            local_error(c, resp, rq, peer, 400, "this request takes no payload", get);
            goto free_now;
        }
        rq->in.op = WOT_OP__INVALID;
        r2 = rq->route.kind == HTTP_ROUTE_WELLKNOWN
                     ? proxy_directory_td(c->gw->proxy, &rq->in, &res, &body)
             : rq->route.kind == HTTP_ROUTE_THINGS
                     ? proxy_list_tds(c->gw->proxy, &rq->in, &res, &body)
                     : proxy_get_td(c->gw->proxy, &rq->in, &res, &body);
        if (r2 < 0) {
            put_error(resp, COAP_RESPONSE_CODE(500), "internal error", 0);
            goto free_now;
        }
        int fmt = res.status == 200 ? COAP_FORMAT_TD_JSON : COAP_FORMAT_NONE;
        put_result(r, s, req, q, resp, res.status, res.from_device, fmt, res.body, res.body_len,
                   res.detail, get);
        free(body);
        goto free_now;
    }

    rq->in.op = method ? http_route_op(rq->route.kind, method) : WOT_OP__INVALID;
    /* RFC 7641: GET with Observe 0 observes, with 1 (or none) reads; the
     * event and .../observe routes exist only to be observed */
    bool observe = get && obsv == COAP_OBSERVE_ESTABLISH;
    if (rq->route.kind == HTTP_ROUTE_PROPERTY && observe)
        rq->in.op = WOT_OP_OBSERVEPROPERTY;
    if (is_stream_op(rq->in.op) && !observe) {
        if (obsv == COAP_OBSERVE_CANCEL) { /* a deregistration with nothing left to read */
            coap_pdu_set_code(resp, COAP_RESPONSE_CODE(205));
            goto free_now;
        }
        local_error(c, resp, rq, peer, 400,
                    "observeproperty and subscribeevent need the Observe option (RFC 7641)", get);
        goto free_now;
    }
    if (rq->in.op == WOT_OP__INVALID || (is_stream_op(rq->in.op) && !ores)) {
        static const enum wot_aff_kind kinds[] = {
                [HTTP_ROUTE_READALL] = AFF_THING,    [HTTP_ROUTE_PROPERTY] = AFF_PROPERTY,
                [HTTP_ROUTE_OBSERVE] = AFF_PROPERTY, [HTTP_ROUTE_ACTION] = AFF_ACTION,
                [HTTP_ROUTE_EVENT] = AFF_EVENT,
        };
        proxy_not_allowed(c->gw->proxy, &rq->in, kinds[rq->route.kind], &res);
        put_result(r, s, req, q, resp, res.status, false, COAP_FORMAT_NONE, NULL, 0, res.detail,
                   get);
        goto free_now;
    }
    if (rq->in.payload_len && get) {
        local_error(c, resp, rq, peer, 400, "this request takes no payload", get);
        goto free_now;
    }
    bool stream = is_stream_op(rq->in.op);
    if (stream && (tok.length > sizeof(rq->token) ||
                   peer_streams(c, s) >= conf->coaps.max_observers_per_peer)) {
        local_error(c, resp, rq, peer, 503, "too many observations from this peer", get);
        goto free_now;
    }

    r2 = proxy_start(c->gw->proxy, &rq->in, &coaps_proxy_ops, rq, &rq->call, &res);
    if (r2 < 0) {
        put_error(resp, COAP_RESPONSE_CODE(500), "internal error", 0);
        goto free_now;
    }
    if (r2 == PROXY_DONE) { /* an error: libcoap drops a registration with it */
        put_result(r, s, req, q, resp, res.status, res.from_device,
                   coap_format_from_type(res.content_type), res.body, res.body_len, res.detail,
                   get);
        goto free_now;
    }
    if (stream) {
        /* accepted: libcoap has registered the observer; the answer is the
         * current value when the resource has one, else (an empty ACK now)
         * the first notification */
        stream_link(ores, rq, s, tok);
        if (osc) { /* the plaintext of the registration answer, with an Observe */
            if (ores->have_value) {
                uint8_t ob[4];
                rq->obs_num++;
                coap_add_option(resp, COAP_OPTION_OBSERVE,
                                coap_encode_var_safe(ob, sizeof(ob), rq->obs_num), ob);
                put_result(r, s, req, q, resp, 200, true, ores->format, ores->value, ores->len,
                           NULL, true);
            }
            return;
        }
        if (ores->have_value)
            answer_stream(rq, r, s, req, q, resp);
        return;
    }
    /* pending: an empty ACK now, the answer later */
    rq->async = coap_register_async(s, areq, 0);
    if (!rq->async) {
        put_error(resp, COAP_RESPONSE_CODE(500), "internal error", 0);
        goto free_now;
    }
    rq->session = s;
    coap_async_set_app_data(rq->async, rq);
    return;

free_now:
    req_free(rq);
}

/* ---- OSCORE (RFC 8613) ------------------------------------------------------------------ */

/* Protects the plain answer in osc_scratch into resp. The size is checked
 * before protecting: a second protection with the request's nonce would
 * reuse it. The answer to an Observe registration (it has an Observe
 * option) takes a Partial IV of its own, as every notification (§8.3).
 * 0, or < 0 when resp is an unprotected 5.00 instead. */
static int osc_answer(struct coaps_osc *osc, coap_resource_t *r, coap_session_t *s,
                      const coap_pdu_t *req, const coap_string_t *q, coap_pdu_t *plain,
                      coap_pdu_t *resp)
{
    coap_opt_iterator_t oit;
    bool observe = coap_check_option(plain, COAP_OPTION_OBSERVE, &oit) != NULL;
    size_t len = 0;
    const uint8_t *data = NULL;
    coap_get_data(plain, &len, &data);
    struct oscore_msg pm;
    static const char too_large[] = "the notification is too large for one OSCORE message";
    coap_bin_const_t tok = coap_pdu_get_token(plain);
    size_t room = coap_session_max_pdu_size(s);
    size_t need = 4 + tok.length + OSCORE_OPTION_VALUE_MAX + 4 + 1 + 1 + 16 + len + 64;
    /* Larger than one message: the protected answer goes in outer Block2
     * blocks (RFC 8613 §4.1.3.4.2, RFC 7959), which libcoap serves to the
     * client's next requests without calling us again (they repeat the
     * protected request: no replay reaches the OSCORE layer). Not for an
     * Observe registration: every notification must be one message. */
    bool blockwise = need > room && !observe;
    if (coap_oscore_from_pdu(plain, data, len, &pm) < 0 || (need > room && !blockwise)) {
        pm = (struct oscore_msg){.code = COAP_RESPONSE_CODE(500),
                                 .payload = (const uint8_t *)too_large,
                                 .payload_len = sizeof(too_large) - 1};
        blockwise = false;
    }
    size_t cap = 1 + pm.payload_len + 16 + OSCORE_OVERHEAD + 1024;
    uint8_t *buf = malloc(cap);
    struct oscore_msg out;
    int rc = -ENOMEM;
    if (!buf ||
        (rc = oscore_server_protect_response(osc->srv->s, &osc->res, observe && pm.code == 0x45,
                                             &pm, &out, buf, cap)) < 0) {
        coap_oscore_error(resp, OSCORE_CODE_INTERNAL, NULL);
    } else if (!blockwise) {
        if ((rc = coap_oscore_to_pdu(&out, resp)) < 0)
            coap_oscore_error(resp, OSCORE_CODE_INTERNAL, NULL);
    } else {
        /* the outer options here, the ciphertext block-wise (no outer
         * Content-Format: media type 0 adds none) */
        struct oscore_msg head = out;
        head.payload_len = 0;
        uint8_t *copy = malloc(out.payload_len);
        if (!copy || (rc = coap_oscore_to_pdu(&head, resp)) < 0) {
            free(copy);
            rc = -ENOMEM;
            coap_oscore_error(resp, OSCORE_CODE_INTERNAL, NULL);
        } else {
            memcpy(copy, out.payload, out.payload_len);
            if (!coap_add_data_large_response(r, s, req, resp, q, 0, -1, 0, out.payload_len, copy,
                                              release_copy, copy)) {
                rc = -ENOMEM; /* libcoap set 5.00 and freed the copy */
            }
        }
    }
    free(buf);
    return rc < 0 ? rc : 0;
}

/* Observe over OSCORE (RFC 8613 §4.1.3.5, RFC 7641). libcoap registers
 * observers only on an observable resource of the request's own path, and
 * the outer request of OSCORE carries no Uri-Path (Class E): it reaches
 * the catch-all resource. So the front end keeps these observations
 * itself, without libcoap's observer machinery: the stream is linked to
 * the observable resource of the inner path (one device stream and value
 * per resource; the policy on the context's name and
 * max_observers_per_peer as for a plain observation), and each
 * notification is protected here with a new Partial IV of the server's
 * (a sender sequence number, persisted ahead of use: no nonce is reused;
 * the request's kid and Partial IV stay the external AAD) and sent with
 * coap_send as a confirmable response with the observer's token and an
 * Outer Observe of the stream's own, increasing (the same value inside).
 * Confirmable, every one: a RST or a consumer gone silent (retransmissions
 * exhausted) comes back through on_nack, which ends the stream; so does a
 * new request with the same token and an inner Observe 1 (deregistration,
 * oscore_request). Ended streams are freed on the next run of the loop
 * (osc_sweep), never inside a proxy callback. Plain observers are left to
 * libcoap as before. */

/* The OSCORE observation of session s with token tok, NULL when none. */
static struct coaps_req *osc_stream_find(struct coaps *c, coap_session_t *s, coap_bin_const_t tok)
{
    for (struct coaps_req *rq = c->reqs; rq; rq = rq->next)
        if (rq->osc && rq->res && rq->session == s && rq->token_len == tok.length &&
            !memcmp(rq->token, tok.s, tok.length))
            return rq;
    return NULL;
}

static void osc_sweep(struct coaps *c)
{
    struct coaps_req *rq, *next;
    c->n_osc_ended = 0;
    for (rq = c->reqs; rq; rq = next) {
        next = rq->next;
        if (rq->osc && rq->res && rq->ended)
            req_free(rq); /* the proxy logs the stream's end */
    }
}

/* One notification of an OSCORE observation (final: the last one, an
 * error without Observe). 0, or < 0 when nothing protected was sent. */
static int osc_notify(struct coaps_req *rq, uint8_t code, int format, const uint8_t *body,
                      size_t len, bool final)
{
    struct coaps *c = rq->c;
    struct coaps_osc *osc = rq->osc;
    coap_session_t *s = rq->session;
    struct oscore_gw *cur = c->gw->oscore;
    size_t room = coap_session_max_pdu_size(s);
    coap_pdu_t *pdu =
            coap_pdu_init(COAP_MESSAGE_CON, COAP_EMPTY_CODE, coap_new_message_id(s), room);
    if (!pdu)
        return -ENOMEM;
    if (!coap_add_token(pdu, rq->token_len, rq->token)) {
        coap_delete_pdu(pdu);
        return -ENOMEM;
    }
    if (osc->srv != cur) {
        /* a reload since: the context's numbers went on in the new server;
         * protecting with the old one would reuse them */
        struct oscore_srv_result moved = osc->res;
        if (!cur || oscore_server_rebind(cur->s, &moved) < 0) {
            log_msg(LOG_NOTICE,
                    "coaps: OSCORE context '%s' removed or changed by a reload: its observation "
                    "ends",
                    osc->name);
            coap_oscore_error(pdu, OSCORE_CODE_UNAUTHORIZED, "Security context not found");
            coap_send(s, pdu);
            return -ENOENT;
        }
        oscore_gw_unref(osc->srv);
        osc->srv = oscore_gw_ref(cur);
        osc->res = moved;
    }
    static const char too_large[] = "the notification is too large for one OSCORE message";
    struct oscore_msg pm = {.code = code, .payload = body, .payload_len = len};
    uint8_t ob[4], fb[4];
    if (4 + rq->token_len + OSCORE_OPTION_VALUE_MAX + 16 + 1 + 16 + len + 64 > room) {
        pm.code = COAP_RESPONSE_CODE(500);
        pm.payload = (const uint8_t *)too_large;
        pm.payload_len = sizeof(too_large) - 1;
        final = true;
        format = COAP_FORMAT_NONE;
    }
    if (!final) {
        rq->obs_num = (rq->obs_num + 1) & 0xffffff; /* 24 bits (RFC 7641 §4.4) */
        pm.opts[pm.n_opts++] = (struct oscore_option){
                .number = COAP_OPTION_OBSERVE,
                .len = (uint16_t)coap_encode_var_safe(ob, sizeof(ob), rq->obs_num),
                .value = ob};
        if (pm.payload_len) {
            unsigned f = (unsigned)(format == COAP_FORMAT_NONE ? COAP_FORMAT_OCTET_STREAM : format);
            pm.opts[pm.n_opts++] =
                    (struct oscore_option){.number = COAP_OPTION_CONTENT_FORMAT,
                                           .len = (uint16_t)coap_encode_var_safe(fb, sizeof(fb), f),
                                           .value = fb};
        }
    }
    size_t cap = 1 + 2 * 8 + pm.payload_len + OSCORE_OVERHEAD + 64;
    uint8_t *buf = malloc(cap);
    struct oscore_msg out;
    int r = buf ? oscore_server_protect_response(osc->srv->s, &osc->res, true, &pm, &out, buf, cap)
                : -ENOMEM;
    if (r >= 0)
        r = coap_oscore_to_pdu(&out, pdu);
    free(buf);
    if (r < 0) {
        coap_delete_pdu(pdu);
        return r;
    }
    if (coap_send(s, pdu) == COAP_INVALID_MID)
        return -EIO;
    return final ? -ECONNRESET : 0;
}

/* A RST to a notification, or its retransmissions exhausted: the OSCORE
 * observer is gone (plain observers are libcoap's). */
static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
                    const coap_mid_t mid)
{
    struct coaps *c = coaps_fe;
    (void)mid;
    if (!c || !sent || (reason != COAP_NACK_RST && reason != COAP_NACK_TOO_MANY_RETRIES))
        return;
    struct coaps_req *rq = osc_stream_find(c, s, coap_pdu_get_token(sent));
    if (!rq || rq->ended)
        return;
    log_msg(LOG_INFO, "coaps: the OSCORE observation of '%s' ends: %s", rq->osc->name,
            reason == COAP_NACK_RST ? "the consumer reset a notification"
                                    : "the consumer acknowledged no notification within "
                                      "CoAP's retransmissions");
    rq->ended = true; /* freed on the next run: the proxy logs the end */
    c->n_osc_ended++;
    coaps_kick(c);
}

/* A request with the OSCORE option: verified and decrypted, the inner
 * request handled like any other with the context's name as its
 * credential, the answer protected (objsec/oscore_server.h). */
static void oscore_request(struct coaps *c, coap_resource_t *r, coap_session_t *s,
                           const coap_pdu_t *req, const coap_string_t *q, coap_pdu_t *resp)
{
    struct oscore_gw *og = c->gw->oscore;
    if (!og) {
        coap_oscore_error(resp, OSCORE_CODE_BAD_OPTION, "OSCORE is not enabled here");
        return;
    }
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    coap_opt_iterator_t bit;
    if ((coap_get_data_large(req, &len, &data, &off, &total) && len && (off || total != len)) ||
        coap_check_option(req, COAP_OPTION_BLOCK1, &bit)) {
        /* libcoap hands over a Block1 request whole, and only when the
         * first block carried Size1 */
        coap_oscore_error(resp, COAP_RESPONSE_CODE(408),
                          "incomplete block-wise request (send Size1 with the first block)");
        return;
    }
    struct oscore_msg outer;
    if (coap_oscore_from_pdu(req, data, len, &outer) < 0) {
        coap_oscore_error(resp, OSCORE_CODE_BAD_OPTION, "too many options");
        return;
    }
    size_t cap = len + 16;
    uint8_t *buf = malloc(cap);
    struct coaps_osc *osc = calloc(1, sizeof(*osc));
    coap_pdu_t *inner = NULL, *plain = NULL;
    if (!buf || !osc) {
        coap_oscore_error(resp, OSCORE_CODE_INTERNAL, NULL);
        goto out;
    }
    struct oscore_srv_result res;
    switch (oscore_server_unprotect(og->s, &outer, buf, cap, &res)) {
    case OSCORE_SRV_ERROR: coap_oscore_error(resp, res.code, res.diagnostic); goto out;
    case OSCORE_SRV_CHALLENGE: {
        uint8_t cbuf[256];
        struct oscore_msg cm;
        if (oscore_server_challenge(og->s, &res, &cm, cbuf, sizeof(cbuf)) < 0 ||
            coap_oscore_to_pdu(&cm, resp) < 0)
            coap_oscore_error(resp, OSCORE_CODE_INTERNAL, NULL);
        goto out;
    }
    case OSCORE_SRV_OK: break;
    }
    /* the inner Observe (the PDU below leaves it out): a registration or
     * deregistration; either replaces an OSCORE observation of this
     * consumer with the same token (RFC 7641 §3.6, §4.1) */
    osc->observe = -1;
    for (size_t i = 0; i < res.inner.n_opts; i++)
        if (res.inner.opts[i].number == COAP_OPTION_OBSERVE && res.inner.opts[i].len <= 3)
            osc->observe =
                    (int)coap_decode_var_bytes(res.inner.opts[i].value, res.inner.opts[i].len);
    if (osc->observe >= 0) {
        struct coaps_req *old = osc_stream_find(c, s, coap_pdu_get_token(req));
        if (old && res.name && !strcmp(old->osc->name, res.name))
            req_free(old); /* the proxy logs the stream's end */
    }
    /* the inner request as a PDU of its own */
    if (coap_oscore_inner_pdu(req, &res.inner, &inner, &plain) < 0) {
        coap_oscore_error(resp, OSCORE_CODE_INTERNAL, NULL);
        goto out;
    }
    osc->srv = oscore_gw_ref(og);
    osc->res = res;
    osc->res.inner = (struct oscore_msg){0}; /* points into buf */
    snprintf(osc->name, sizeof(osc->name), "%s", res.name ? res.name : "");
    /* the request keeps a copy of its own, for a separate answer */
    struct coaps_osc *copy = malloc(sizeof(*copy));
    if (!copy) {
        coap_oscore_error(resp, OSCORE_CODE_INTERNAL, NULL);
        goto out;
    }
    *copy = *osc;
    oscore_gw_ref(copy->srv);
    osc_scratch = plain;
    handle(c, r, s, inner, req, q, plain, copy);
    osc_scratch = NULL;
    coap_opt_iterator_t oit;
    if (coap_pdu_get_code(plain) != 0 && /* answered now, else separately */
        (osc_answer(osc, r, s, req, q, plain, resp) < 0 ||
         (osc->observe == 0 && !coap_check_option(resp, COAP_OPTION_OBSERVE, &oit)))) {
        /* not the registration answer the consumer expects: no observation */
        struct coaps_req *st =
                osc->observe == 0 ? osc_stream_find(c, s, coap_pdu_get_token(req)) : NULL;
        if (st)
            req_free(st);
    }
out:
    if (inner)
        coap_delete_pdu(inner);
    if (plain)
        coap_delete_pdu(plain);
    if (buf) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
    }
    if (osc) {
        oscore_gw_unref(osc->srv);
        free(osc);
    }
}

static void on_request(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *q, coap_pdu_t *resp)
{
    struct coaps *c = coaps_fe;
    if (!c) {
        put_error(resp, COAP_RESPONSE_CODE(503), "the gateway is shutting down", 0);
        return;
    }
    coap_bin_const_t tok = coap_pdu_get_token(req);
    int obsv = observe_value(req);
    struct coaps_res *ores = coap_resource_get_userdata(r); /* NULL: not observable */
    if (ores && tok.length <= sizeof(((struct coaps_req *)0)->token)) {
        struct coaps_req *st = stream_find(ores, s, tok);
        if (st && obsv == COAP_OBSERVE_CANCEL) {
            req_free(st); /* deregistered (RFC 7641 §3.6): then a plain GET */
        } else if (st) {
            answer_stream(st, r, s, req, q, resp);
            return;
        }
    }
    coap_async_t *a = coap_find_async(s, tok);
    if (a) {
        answer_async(c, a, r, s, req, q, resp);
        return;
    }
    coap_opt_iterator_t it;
    if (coap_check_option(req, COAP_OPTION_OSCORE, &it)) {
        oscore_request(c, r, s, req, q, resp);
        return;
    }
    handle(c, r, s, req, req, q, resp, NULL);
}

/* ---- DTLS credentials ------------------------------------------------------------------ */

static struct coaps_peer *coaps_peers;

static struct coaps_peer *peer_new(void)
{
    struct coaps_peer *p = calloc(1, sizeof(*p));
    if (p) {
        p->next = coaps_peers;
        if (coaps_peers)
            coaps_peers->prev = p;
        coaps_peers = p;
    }
    return p;
}

static void peer_free(struct coaps_peer *p)
{
    if (!p)
        return;
    DLIST_UNLINK(&coaps_peers, p, prev, next);
    free(p);
}

/* Per-identity PSK (integration.md §3). libcoap copies the key. An unknown
 * identity gets NULL: the handshake fails. */
static const coap_bin_const_t *on_psk_identity(coap_bin_const_t *id, coap_session_t *s, void *arg)
{
    static coap_bin_const_t key;
    struct coaps *c = arg;
    const struct psk_entry *e = id ? psk_find(c->psk, (const char *)id->s, id->length) : NULL;
    if (!e) {
        char shown[PSK_MAX_IDENTITY + 1], peer[COAPS_PEER_MAX];
        size_t n = id ? (id->length < PSK_MAX_IDENTITY ? id->length : PSK_MAX_IDENTITY) : 0;
        for (size_t i = 0; i < n; i++) {
            uint8_t ch = id->s[i];
            shown[i] = ch > 0x20 && ch < 0x7f ? (char)ch : '?';
        }
        shown[n] = '\0';
        peer_name(s, peer, sizeof(peer));
        log_msg(LOG_NOTICE, "coaps: %s: unknown PSK identity '%s': handshake refused", peer, shown);
        return NULL;
    }
    key.s = e->key;
    key.length = e->key_len;
    return &key;
}

/* X.509 (GnuTLS flavour: called for depth 0 only). The certificate is
 * accepted only when libcoap verified it against client_ca. */
static int on_cert(const char *cn, const uint8_t *der, size_t der_len, coap_session_t *s,
                   unsigned depth, int validated, void *arg)
{
    char peer[COAPS_PEER_MAX];
    if (depth != 0)
        return validated ? 1 : 0;
    peer_name(s, peer, sizeof(peer));
    if (!validated || !der || !der_len || !cn) {
        log_msg(LOG_NOTICE, "coaps: %s: client certificate not verified against client_ca", peer);
        return 0;
    }
    size_t cnl = strnlen(cn, COAPS_CN_MAX);
    if (cnl == 0 || cnl >= COAPS_CN_MAX) {
        log_msg(LOG_NOTICE, "coaps: %s: client certificate without a usable CN", peer);
        return 0;
    }
    for (size_t i = 0; i < cnl; i++)
        if ((unsigned char)cn[i] < 0x20 || cn[i] == 0x7f) {
            log_msg(LOG_NOTICE, "coaps: %s: control character in the certificate CN", peer);
            return 0;
        }
    struct coaps_peer *p = coap_session_get_app_data(s);
    if (!p) {
        p = peer_new();
        if (!p)
            return 0;
        coap_session_set_app_data(s, p);
    }
    uint8_t md[32];
    unsigned mdl = 0;
    if (EVP_Digest(der, der_len, md, &mdl, EVP_sha256(), NULL) != 1 || mdl != 32)
        return 0;
    hex_encode(md, 32, p->cert_sha256);
    memcpy(p->cert_cn, cn, cnl);
    p->cert_cn[cnl] = '\0';
    p->cert_ok = true;
    return 1;
}

static int on_event(coap_session_t *s, const coap_event_t ev)
{
    struct coaps *c = coaps_fe;
    if (ev != COAP_EVENT_SERVER_SESSION_DEL)
        return 0;
    peer_free(coap_session_get_app_data(s));
    coap_session_set_app_data(s, NULL);
    if (!c)
        return 0;
    struct coaps_req *next;
    for (struct coaps_req *rq = c->reqs; rq; rq = next) {
        next = rq->next;
        if (rq->session == s) {
            if (rq->async)
                coap_async_set_app_data(rq->async, NULL);
            rq->async = NULL;
            req_free(rq);
        }
    }
    return 0;
}

/* ---- start and stop ------------------------------------------------------------------ */

static int parse_addr(const char *w, coap_address_t *a)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon;
    bool v6 = w[0] == '[';
    if (v6) {
        const char *e = strchr(w, ']');
        if (!e || e[1] != ':' || (size_t)(e - w - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, w + 1, (size_t)(e - w - 1));
        host[e - w - 1] = '\0';
        colon = e + 1;
    } else {
        colon = strrchr(w, ':');
        if (!colon || (size_t)(colon - w) >= sizeof(host))
            return -EINVAL;
        memcpy(host, w, (size_t)(colon - w));
        host[colon - w] = '\0';
    }
    unsigned long port = strtoul(colon + 1, NULL, 10);
    if (port == 0 || port > 65535)
        return -EINVAL;
    coap_address_init(a);
    if (v6) {
        a->addr.sin6.sin6_family = AF_INET6;
        a->addr.sin6.sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->addr.sin6.sin6_addr) != 1)
            return -EINVAL;
        a->size = sizeof(a->addr.sin6);
    } else {
        a->addr.sin.sin_family = AF_INET;
        a->addr.sin.sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->addr.sin.sin_addr) != 1)
            return -EINVAL;
        a->size = sizeof(a->addr.sin);
    }
    return 0;
}

static void coaps_free(struct coaps *c)
{
    if (!c)
        return;
    while (c->reqs) {
        struct coaps_req *rq = c->reqs;
        if (rq->async)
            coap_async_set_app_data(rq->async, NULL);
        rq->async = NULL;
        req_free(rq);
    }
    coaps_fe = NULL; /* the event handler must not find reqs any more */
    for (size_t i = 0; i < COAPS_LOOPS; i++) {
        struct coaps_loop *l = &c->loops[i];
        sd_event_source_disable_unref(l->io);
        sd_event_source_disable_unref(l->timer);
        sd_event_source_disable_unref(l->kick);
        l->io = l->timer = l->kick = NULL;
        if (l->ctx)
            coap_free_context(l->ctx);
        l->ctx = NULL;
    }
    while (coaps_peers) /* sessions whose end libcoap did not report */
        peer_free(coaps_peers);
    while (c->res) { /* after the contexts: libcoap no longer calls with them */
        struct coaps_res *res = c->res;
        c->res = res->next;
        free(res->value);
        free(res);
    }
    if (c->rpk_pem) {
        OPENSSL_cleanse(c->rpk_pem, c->rpk_pem_len);
        free(c->rpk_pem);
    }
    psk_free(c->psk);
    OPENSSL_cleanse(c->fallback_key, sizeof(c->fallback_key));
    free(c->cert);
    free(c->key);
    free(c->ca);
    free(c);
}

static int load_psk(struct coaps *c, const struct config *conf)
{
    struct psk_store *p = NULL;
    struct diags d = {0};
    int r = 0;
    if (conf->credentials.psk) {
        r = psk_load(conf->credentials.psk, &p, &d);
        for (size_t i = 0; i < d.n; i++)
            log_msg(d.v[i].warning ? LOG_WARNING : LOG_ERR, "%s: %s", d.v[i].file, d.v[i].msg);
        diag_free(&d);
        if (r < 0)
            return r;
    }
    psk_free(c->psk);
    c->psk = p;
    return 0;
}

static int setup_dtls(struct coaps *c, coap_context_t *ctx, const struct coaps_conf *kc)
{
    coap_dtls_spsk_t sp;
    memset(&sp, 0, sizeof(sp));
    sp.version = COAP_DTLS_SPSK_SETUP_VERSION;
    sp.validate_id_call_back = on_psk_identity;
    sp.id_call_back_arg = c;
    /* No PSK identity hint: it would tell clients nothing (every
     * identity has its own key) and makes the server send a
     * ServerKeyExchange that RFC 7925 constrained clients need not expect
     * (node-dtls-client fails on it). */
    /* used only if libcoap ever fell back to it: a random key nobody has */
    if (RAND_bytes(c->fallback_key, sizeof(c->fallback_key)) != 1)
        return -EIO;
    sp.psk_info.key.s = c->fallback_key;
    sp.psk_info.key.length = sizeof(c->fallback_key);
    if (!coap_context_set_psk2(ctx, &sp))
        return -EIO;
    if (!kc->certificate)
        return 0;
    if (!(c->cert = strdup(kc->certificate)) || !(c->key = strdup(kc->key)) ||
        (kc->client_ca && !(c->ca = strdup(kc->client_ca))))
        return -ENOMEM;
    coap_dtls_pki_t pk;
    memset(&pk, 0, sizeof(pk));
    pk.version = COAP_DTLS_PKI_SETUP_VERSION;
    pk.verify_peer_cert = c->ca ? 1 : 0;
    pk.check_common_ca = 0;
    pk.allow_self_signed = 0;
    pk.allow_expired_certs = 0;
    pk.cert_chain_validation = 1;
    pk.cert_chain_verify_depth = 3;
    pk.validate_cn_call_back = on_cert;
    pk.cn_call_back_arg = c;
    pk.pki_key.key_type = COAP_PKI_KEY_PEM;
    pk.pki_key.key.pem.public_cert = c->cert;
    pk.pki_key.key.pem.private_key = c->key;
    pk.pki_key.key.pem.ca_file = c->ca;
    if (!coap_context_set_pki(ctx, &pk))
        return -EIO;
    return 0;
}

/* Raw public keys: libcoap hands every key over as "validated" (there is
 * no CA), so the key is pinned here: its SubjectPublicKeyInfo must be
 * listed in cert_identities ("sha256:HEX USER"), or the handshake fails. */
static int on_rpk(const char *cn, const uint8_t *spki, size_t len, coap_session_t *s,
                  unsigned depth, int validated, void *arg)
{
    struct coaps *c = arg;
    char peer[COAPS_PEER_MAX], hex[65];
    uint8_t md[32];
    unsigned mdl = 0;
    peer_name(s, peer, sizeof(peer));
    if (depth != 0 || !spki || !len || EVP_Digest(spki, len, md, &mdl, EVP_sha256(), NULL) != 1 ||
        mdl != 32)
        return 0;
    hex_encode(md, 32, hex);
    const struct certmap *m = c->gw->state->certmap;
    const char *user = NULL;
    for (size_t i = 0; m && i < m->n && !user; i++)
        if (m->v[i].sha256_hex && !strcmp(m->v[i].sha256_hex, hex))
            user = m->v[i].user;
    if (!user || strlen(user) >= COAPS_CN_MAX) {
        log_msg(LOG_NOTICE, "coaps: %s: raw public key sha256:%s is not listed: handshake refused",
                peer, hex);
        return 0;
    }
    struct coaps_peer *p = coap_session_get_app_data(s);
    if (!p) {
        p = peer_new();
        if (!p)
            return 0;
        coap_session_set_app_data(s, p);
    }
    snprintf(p->cert_cn, sizeof(p->cert_cn), "%s", user);
    memcpy(p->cert_sha256, hex, sizeof(hex));
    p->cert_ok = true;
    return 1;
}

static int setup_rpk(struct coaps *c, coap_context_t *ctx, const struct coaps_conf *kc)
{
    int r = util_read_file(kc->rpk_key, COAPS_PEM_MAX, &c->rpk_pem, &c->rpk_pem_len);
    if (r < 0)
        return r;
    coap_dtls_pki_t pk;
    memset(&pk, 0, sizeof(pk));
    pk.version = COAP_DTLS_PKI_SETUP_VERSION;
    pk.verify_peer_cert = 1;
    pk.is_rpk_not_cert = 1;
    pk.validate_cn_call_back = on_rpk;
    pk.cn_call_back_arg = c;
    /* PEM file names are not allowed for RPK (integration.md §3) */
    pk.pki_key.key_type = COAP_PKI_KEY_PEM_BUF;
    pk.pki_key.key.pem_buf.public_cert = (const uint8_t *)c->rpk_pem;
    pk.pki_key.key.pem_buf.private_key = (const uint8_t *)c->rpk_pem;
    pk.pki_key.key.pem_buf.public_cert_len = c->rpk_pem_len + 1;
    pk.pki_key.key.pem_buf.private_key_len = c->rpk_pem_len + 1;
    if (!coap_context_set_pki(ctx, &pk))
        return -EIO;
    return 0;
}

/* One context: limits, DTLS, the catch-all resource, endpoints, loop. */
/* ---- observable resources ------------------------------------------------------------- */

static const coap_request_t coaps_methods[] = {
        COAP_REQUEST_GET,   COAP_REQUEST_POST,  COAP_REQUEST_PUT,    COAP_REQUEST_DELETE,
        COAP_REQUEST_FETCH, COAP_REQUEST_PATCH, COAP_REQUEST_IPATCH,
};

/* Appends one Uri-Path segment the way libcoap writes the path it looks
 * resources up by (percent-encoding what RFC 3986 does not allow). */
static void path_seg(FILE *f, const char *seg)
{
    for (const unsigned char *p = (const unsigned char *)seg; *p; p++) {
        unsigned char ch = *p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~!$'()*+,;=:@&", ch))
            fputc(ch, f);
        else
            fprintf(f, "%%%02X", ch);
    }
}

static int add_observable(struct coaps *c, coap_context_t *ctx, const char *thing, const char *kind,
                          const char *aff, const char *suffix)
{
    char *path = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&path, &len);
    if (!f)
        return -ENOMEM;
    fputs("things/", f);
    path_seg(f, thing);
    fprintf(f, "/%s/", kind);
    path_seg(f, aff);
    fputs(suffix, f);
    if (fclose(f) != 0) {
        free(path);
        return -ENOMEM;
    }
    coap_str_const_t key = {len, (const uint8_t *)path};
    if (coap_get_resource_from_uri_path(ctx, &key)) {
        free(path);
        return 0;
    }
    struct coaps_res *res = calloc(1, sizeof(*res));
    coap_str_const_t *upath = coap_new_str_const((const uint8_t *)path, len);
    free(path);
    coap_resource_t *r = upath ? coap_resource_init(upath, COAP_RESOURCE_FLAGS_RELEASE_URI) : NULL;
    if (!res || !r) {
        free(res);
        if (r)
            coap_delete_resource(ctx, r);
        else
            coap_delete_str_const(upath);
        return -ENOMEM;
    }
    for (size_t i = 0; i < ARRAY_SIZE(coaps_methods); i++)
        coap_register_request_handler(r, coaps_methods[i], on_request);
    coap_resource_set_get_observable(r, 1);
    coap_resource_set_userdata(r, res);
    res->r = r;
    res->format = COAP_FORMAT_NONE;
    res->next = c->res;
    c->res = res;
    coap_add_resource(ctx, r);
    return 0;
}

/* Every property and event of the things now loaded gets an observable
 * resource in each loop (libcoap registers observers only on a resource
 * of their own path, never on the catch-all one). Resources of things
 * that went away stay: the policy answers 4.04 there. */
static int coaps_observables(struct coaps *c)
{
    const struct gw_state *st = c->gw->state;
    int r = 0;
    for (size_t li = 0; li < COAPS_LOOPS; li++) {
        coap_context_t *ctx = c->loops[li].ctx;
        if (!ctx)
            continue;
        for (size_t t = 0; t < st->n_things; t++) {
            const struct thing *th = &st->things[t];
            for (size_t a = 0; a < th->td->n_affs && r >= 0; a++) {
                const struct td_affordance *aff = &th->td->affs[a];
                if (aff->kind == AFF_PROPERTY) {
                    r = add_observable(c, ctx, th->conf->name, "properties", aff->name, "");
                    if (r >= 0)
                        r = add_observable(c, ctx, th->conf->name, "properties", aff->name,
                                           "/observe");
                } else if (aff->kind == AFF_EVENT) {
                    r = add_observable(c, ctx, th->conf->name, "events", aff->name, "");
                }
            }
        }
    }
    if (r < 0)
        log_msg(LOG_ERR, "coaps: out of memory for observable resources");
    return r;
}

static int loop_start(struct coaps *c, struct coaps_loop *l, bool rpk)
{
    const struct config *conf = c->gw->state->conf;
    const struct coaps_conf *kc = &conf->coaps;
    char *const *addrs = rpk ? kc->rpk_listen : kc->listen;
    size_t n = rpk ? kc->n_rpk_listen : kc->n_listen;
    int r;
    l->c = c;
    l->ctx = coap_new_context(NULL);
    if (!l->ctx)
        return -ENOMEM;
    coap_set_app_data(l->ctx, c);
    coap_context_set_block_mode(l->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    coap_context_set_max_idle_sessions(l->ctx, (unsigned)kc->max_sessions);
    unsigned hs = (unsigned)(kc->max_sessions / 4);
    coap_context_set_max_handshake_sessions(l->ctx, hs ? hs : 1);
    unsigned idle_s = (unsigned)(conf->limits.idle_timeout_us / 1000000u);
    coap_context_set_session_timeout(l->ctx, idle_s ? idle_s : 1);
    coap_register_event_handler(l->ctx, on_event);
    coap_register_nack_handler(l->ctx, on_nack);
    coap_register_option(l->ctx, COAP_OPTION_OSCORE); /* critical: else 4.02 before us */
    r = rpk ? setup_rpk(c, l->ctx, kc) : setup_dtls(c, l->ctx, kc);
    if (r < 0) {
        log_msg(LOG_ERR, "coaps: cannot set up DTLS (%s)",
                rpk               ? "raw public key"
                : kc->certificate ? "PSK, X.509"
                                  : "PSK");
        return r;
    }
    /* every method on the catch-all resource: without a DELETE handler,
     * libcoap itself would answer DELETE on an unknown path 2.02 Deleted */
    coap_resource_t *res = coap_resource_unknown_init2(on_request, 0);
    if (!res)
        return -ENOMEM;
    for (size_t i = 0; i < ARRAY_SIZE(coaps_methods); i++)
        coap_register_request_handler(res, coaps_methods[i], on_request);
    coap_add_resource(l->ctx, res);
    static coap_str_const_t wk_path = {sizeof(".well-known/core") - 1,
                                       (const uint8_t *)".well-known/core"};
    coap_resource_t *wk = coap_resource_init(&wk_path, 0);
    if (!wk)
        return -ENOMEM;
    coap_register_request_handler(wk, COAP_REQUEST_GET, on_wellknown);
    coap_add_resource(l->ctx, wk);
    for (size_t i = 0; i < n; i++) {
        coap_address_t a;
        if (parse_addr(addrs[i], &a) < 0 || !coap_new_endpoint(l->ctx, &a, COAP_PROTO_DTLS)) {
            log_msg(LOG_ERR, "coaps: cannot listen on %s", addrs[i]);
            return -EADDRNOTAVAIL;
        }
        c->n_endpoints++;
    }
    /* plain CoAP: requests carry no credentials, so the policy lets
     * through only what is nosec */
    for (size_t i = 0; !rpk && i < kc->n_coap_listen; i++) {
        coap_address_t a;
        if (parse_addr(kc->coap_listen[i], &a) < 0 ||
            !coap_new_endpoint(l->ctx, &a, COAP_PROTO_UDP)) {
            log_msg(LOG_ERR, "coaps: cannot listen on %s (plain CoAP)", kc->coap_listen[i]);
            return -EADDRNOTAVAIL;
        }
        c->n_endpoints++;
        log_msg(LOG_INFO, "coaps: listening on %s (plain CoAP: nosec forms only)",
                kc->coap_listen[i]);
    }
    int fd = coap_context_get_coap_fd(l->ctx);
    if (fd < 0) {
        log_msg(LOG_ERR, "coaps: libcoap was built without epoll");
        return -EPROTONOSUPPORT;
    }
    sd_event *ev = c->gw->ev;
    if ((r = sd_event_add_io(ev, &l->io, fd, EPOLLIN, on_coap_io, l)) < 0 ||
        (r = sd_event_add_time_relative(ev, &l->timer, CLOCK_MONOTONIC, COAPS_SAFETY_TICK_US,
                                        100000, on_coap_timer, l)) < 0 ||
        (r = sd_event_add_defer(ev, &l->kick, on_coap_kick, l)) < 0 ||
        (r = sd_event_source_set_enabled(l->kick, SD_EVENT_OFF)) < 0)
        return r;
    coaps_run(l);
    for (size_t i = 0; i < n; i++)
        log_msg(LOG_INFO, "coaps: listening on %s (DTLS 1.2: %s)", addrs[i],
                rpk             ? "raw public keys pinned in cert_identities"
                : kc->client_ca ? "PSK, X.509 client certificates"
                                : "PSK");
    return 0;
}

static int coaps_start(struct gw *gw)
{
    const struct config *conf = gw->state->conf;
    const struct coaps_conf *kc = &conf->coaps;
    static bool started;
    int r;
    if (!kc->enabled)
        return 0;
    if (!started) {
        coap_startup();
        started = true;
    }
    coap_set_log_handler(on_coap_log);
    coap_set_log_level(log_debug_enabled() ? LOG_DEBUG : LOG_WARNING);
    if (!coap_dtls_is_supported()) {
        log_msg(LOG_ERR, "coaps: this libcoap has no DTLS");
        return -EPROTONOSUPPORT;
    }
    struct coaps *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->gw = gw;
    coaps_fe = c;
    if ((r = load_psk(c, conf)) < 0)
        goto fail;
    if ((r = loop_start(c, &c->loops[COAPS_LOOP_MAIN], false)) < 0)
        goto fail;
    if (kc->n_rpk_listen && (r = loop_start(c, &c->loops[COAPS_LOOP_RPK], true)) < 0)
        goto fail;
    if ((r = coaps_observables(c)) < 0)
        goto fail;
    return 0;
fail:
    coaps_free(c);
    return r;
}

static int coaps_reload(struct gw *gw)
{
    struct coaps *c = coaps_fe;
    const struct config *conf = gw->state->conf;
    if (!c)
        return conf->coaps.enabled ? coaps_start(gw) : 0;
    if (!conf->coaps.enabled)
        log_msg(LOG_WARNING, "coaps: [coaps] was removed: the listeners stop at the next restart");
    coap_set_log_level(log_debug_enabled() ? LOG_DEBUG : LOG_WARNING);
    for (size_t i = 0; i < COAPS_LOOPS; i++)
        if (c->loops[i].ctx)
            coap_context_set_max_idle_sessions(c->loops[i].ctx, (unsigned)conf->coaps.max_sessions);
    int r = load_psk(c, conf);
    if (r < 0)
        return r;
    if ((r = coaps_observables(c)) < 0)
        return r;
    log_msg(LOG_INFO,
            "coaps: pre-shared keys reloaded (%zu); listen addresses, certificate and "
            "client CA change at the next restart",
            c->psk ? c->psk->n : 0);
    return 0;
}

static size_t coaps_drain(struct gw *gw, bool force)
{
    struct coaps *c = coaps_fe;
    if (!c)
        return 0;
    c->draining = true;
    /* answers of requests the proxy failed go out on the next run */
    for (size_t i = 0; i < COAPS_LOOPS; i++)
        coaps_run(&c->loops[i]);
    size_t left = c->n_reqs - c->n_streams; /* streams ended with proxy_drain() */
    /* Confirmable answers (separate responses, last notifications) wait
     * for their ACK until the grace ends: libcoap retransmits one that was
     * lost, and the client's ACK does not meet a closed port. */
    for (size_t i = 0; i < COAPS_LOOPS && !force; i++)
        if (c->loops[i].ctx && !coap_can_exit(c->loops[i].ctx))
            left++;
    return left;
}

static void coaps_stop(struct gw *gw)
{
    coaps_free(coaps_fe);
    coaps_fe = NULL;
}

static int coaps_check_frontend(const struct gw_state *s, struct diags *d)
{
    return coaps_check(s, d);
}

const struct frontend_ops coaps_frontend = {
        .name = "coaps",
        .check = coaps_check_frontend,
        .start = coaps_start,
        .reload = coaps_reload,
        .drain = coaps_drain,
        .stop = coaps_stop,
};
