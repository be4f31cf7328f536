/* http.c - the simulated device's HTTP binding (see http.h).
 *
 * The hot path (GET of a plain property) answers on the first handler call
 * with a response object cached per property and version: no allocation,
 * no JSON work. Long-polls, the hanging and the slow property suspend
 * their connection (MHD_suspend_connection) and are resumed from the loop;
 * libmicrohttpd does not wake an external loop on a resume, so every
 * resume schedules MHD_run() through a defer source ("kick").
 */
#define _GNU_SOURCE
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "things.h"

#define MAX_CONNECTIONS 512
#define MAX_WAITING     256                   /* suspended requests and streams */
#ifndef LONGPOLL_MAX_US                       /* (-D for a test build) */
#define LONGPOLL_MAX_US (60 * 1000 * 1000ull) /* then 204: nothing new, poll again */
#endif
#define MAX_DISCARD    (8 * SIM_MAX_BODY) /* of an oversized chunked body */
#define SSE_MAX_BUF    (64 * 1024)        /* unsent events of one stream */
#define IDLE_TIMEOUT_S 120u

struct req;

struct sim_http {
    sd_event *ev;
    struct MHD_Daemon *d;
    sd_event_source *io, *timer, *kick;
    bool quiet, stopping;
    struct req *suspended; /* list of suspended requests */
    size_t n_waiting;
    struct MHD_Response **cache; /* by sim_aff.index: the GET answer */
    uint64_t *cache_version;
    uint64_t conns_total, conns_open, requests;
};

enum op {
    OP_NONE,
    OP_READ,
    OP_WRITE,
    OP_OBSERVE,
    OP_READALL,
    OP_INVOKE,
    OP_EVENT_LP,
    OP_EVENT_SSE,
    OP_TRIGGER,
    OP_STATS,
    OP_REDIRECT,
};

struct route {
    enum op op;
    struct sim_thing *thing;
    struct sim_aff *aff;
    unsigned status;   /* error to answer, 0 when routed */
    const char *allow; /* for 405 */
};

enum req_kind { RQ_BODY, RQ_LONGPOLL, RQ_HANG, RQ_SLOW, RQ_SSE };

struct req {
    struct sim_http *h;
    struct MHD_Connection *conn;
    enum req_kind kind;
    struct route rt;
    uint8_t *buf; /* body received, result to send, or SSE events not yet sent */
    size_t len, cap, off;
    size_t discarded;
    bool too_large, ready, suspended, waiting;
    unsigned status; /* result of a waiting request */
    struct sim_watch watch;
    sd_event_source *timer;
    struct req *next, **pprev; /* h->suspended */
};

/* ---- driving MHD from the loop ------------------------------------------------ */

static void kick(struct sim_http *h)
{
    sd_event_source_set_enabled(h->kick, SD_EVENT_ONESHOT);
}

static void run(struct sim_http *h)
{
    MHD_run(h->d);
    MHD_UNSIGNED_LONG_LONG to;
    if (MHD_get_timeout(h->d, &to) != MHD_YES) {
        sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
    } else if (to == 0) {
        kick(h);
    } else {
        uint64_t now;
        sd_event_now(h->ev, CLOCK_MONOTONIC, &now);
        sd_event_source_set_time(h->timer, now + (uint64_t)to * 1000);
        sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
    }
}

static int io_cb(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
    run(ud);
    return 0;
}

static int timer_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    run(ud);
    return 0;
}

static int kick_cb(sd_event_source *s, void *ud)
{
    run(ud);
    return 0;
}

/* ---- suspend / resume -------------------------------------------------------------- */

static void suspend(struct req *r)
{
    if (r->suspended)
        return;
    MHD_suspend_connection(r->conn);
    r->suspended = true;
    r->next = r->h->suspended;
    if (r->next)
        r->next->pprev = &r->next;
    r->h->suspended = r;
    r->pprev = &r->h->suspended;
}

static void wake(struct req *r)
{
    if (!r->suspended)
        return;
    *r->pprev = r->next;
    if (r->next)
        r->next->pprev = r->pprev;
    r->next = NULL;
    r->pprev = NULL;
    r->suspended = false;
    MHD_resume_connection(r->conn);
    kick(r->h);
}

/* ---- answers ----------------------------------------------------------------------- */

struct call {
    struct sim_http *h;
    struct MHD_Connection *conn;
    const char *method, *url;
};

static enum MHD_Result queue(const struct call *c, unsigned status, struct MHD_Response *resp)
{
    if (!c->h->quiet)
        fprintf(stderr, "wotgw-simdev: %s %s %u\n", c->method, c->url, status);
    return MHD_queue_response(c->conn, status, resp);
}

static enum MHD_Result answer(const struct call *c, unsigned status, const char *ct,
                              const void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free((void *)body);
        return MHD_NO;
    }
    if (ct && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ct) != MHD_YES) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    enum MHD_Result ret = queue(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* status with a short JSON body {"error": msg}; msg has no quotes. */
static enum MHD_Result answer_error(const struct call *c, unsigned status, const char *msg,
                                    const char *allow)
{
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", msg);
    struct MHD_Response *resp =
            MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, SIM_JSON);
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = queue(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The cached GET answer of a plain property. */
static enum MHD_Result answer_property(const struct call *c, struct sim_aff *a)
{
    struct sim_http *h = c->h;
    struct MHD_Response *resp = h->cache[a->index];
    if (!resp || h->cache_version[a->index] != a->version) {
        struct MHD_Response *n =
                MHD_create_response_from_buffer(a->len, a->value, MHD_RESPMEM_MUST_COPY);
        if (!n)
            return MHD_NO;
        if (MHD_add_response_header(n, MHD_HTTP_HEADER_CONTENT_TYPE, a->ct) != MHD_YES) {
            MHD_destroy_response(n);
            return MHD_NO;
        }
        if (resp)
            MHD_destroy_response(resp); /* connections still sending it keep a reference */
        h->cache[a->index] = resp = n;
        h->cache_version[a->index] = a->version;
    }
    return queue(c, MHD_HTTP_OK, resp);
}

static enum MHD_Result header_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    json_t *o = cls;
    char name[128];
    size_t i = 0;
    for (; key[i] && i < sizeof(name) - 1; i++)
        name[i] = (char)tolower((unsigned char)key[i]);
    name[i] = '\0';
    json_t *v = json_string(value);
    if (!v)
        v = json_string("(not UTF-8)");
    json_t *old = json_object_get(o, name);
    if (old && v) { /* repeated header: join as HTTP would */
        char *joined = NULL;
        if (asprintf(&joined, "%s, %s", json_string_value(old), json_string_value(v)) >= 0) {
            json_decref(v);
            v = json_string(joined);
            free(joined);
        }
    }
    if (v)
        json_object_set_new(o, name, v);
    return MHD_YES;
}

static enum MHD_Result answer_headers(const struct call *c)
{
    json_t *o = json_object();
    if (!o)
        return MHD_NO;
    MHD_get_connection_values(c->conn, MHD_HEADER_KIND, header_cb, o);
    char *txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!txt)
        return MHD_NO;
    return answer(c, MHD_HTTP_OK, SIM_JSON, txt, strlen(txt), MHD_RESPMEM_MUST_FREE);
}

static ssize_t broken_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    if (pos == 0 && max >= 10) {
        memcpy(buf, "0123456789", 10);
        return 10;
    }
    return MHD_CONTENT_READER_END_WITH_ERROR; /* MHD closes the connection */
}

static enum MHD_Result answer_broken(const struct call *c)
{
    struct MHD_Response *resp =
            MHD_create_response_from_callback(1000, 1024, broken_reader, NULL, NULL);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
    enum MHD_Result ret = queue(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result answer_stats(const struct call *c)
{
    char body[256];
    const struct sim_stats *st = sim_stats();
    int n = snprintf(body, sizeof(body),
                     "{\"connections\":%" PRIu64 ",\"open\":%" PRIu64 ",\"requests\":%" PRIu64
                     ",\"waiting\":%zu,\"events\":%" PRIu64 "}",
                     c->h->conns_total, c->h->conns_open, c->h->requests, c->h->n_waiting,
                     st->events);
    return answer(c, MHD_HTTP_OK, SIM_JSON, body, (size_t)n, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result answer_redirect(const struct call *c)
{
    static const char body[] = "{\"moved\":\"/lamp/properties/on\"}";
    struct MHD_Response *resp =
            MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, SIM_JSON);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, "/lamp/properties/on");
    enum MHD_Result ret = queue(c, MHD_HTTP_FOUND, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- routing ------------------------------------------------------------------------- */

static bool is(const char *method, const char *m)
{
    return !strcmp(method, m);
}

/* Splits "name" or "name/suffix" off s. */
static const char *segment(const char *s, size_t *len)
{
    const char *slash = strchr(s, '/');
    *len = slash ? (size_t)(slash - s) : strlen(s);
    return slash ? slash + 1 : NULL;
}

static void route_405(struct route *rt, const char *allow)
{
    rt->status = MHD_HTTP_METHOD_NOT_ALLOWED;
    rt->allow = allow;
}

static void route(const char *url, const char *method, struct route *rt)
{
    bool get = is(method, "GET") || is(method, "HEAD");
    memset(rt, 0, sizeof(*rt));
    rt->status = MHD_HTTP_NOT_FOUND;
    if (!strcmp(url, "/_sim/stats") || !strcmp(url, "/_sim/redirect")) {
        rt->op = url[6] == 's' ? OP_STATS : OP_REDIRECT;
        rt->status = 0;
        if (!get)
            route_405(rt, "GET");
        return;
    }
    if (url[0] != '/')
        return;
    size_t n;
    const char *rest = segment(url + 1, &n);
    struct sim_thing *t = rest ? sim_find_thing(url + 1, n) : NULL;
    if (!t)
        return;
    rt->thing = t;
    if (!strcmp(rest, "properties")) {
        if (!t->readall)
            return;
        rt->op = OP_READALL;
        rt->status = 0;
        if (!get)
            route_405(rt, "GET");
        return;
    }
    const char *kind_end = segment(rest, &n);
    if (!kind_end)
        return;
    size_t kind_len = n;
    const char *suffix = segment(kind_end, &n);
    const char *name = kind_end;
    size_t name_len = n;
#define KIND(s) (kind_len == sizeof(s) - 1 && !memcmp(rest, s, kind_len))
    if (KIND("properties")) {
        struct sim_aff *a = sim_find_aff(t, SIM_PROPERTY, name, name_len);
        if (!a)
            return;
        rt->aff = a;
        rt->status = 0;
        if (!suffix) {
            rt->op = OP_READ;
            if (is(method, "PUT") && a->writable)
                rt->op = OP_WRITE;
            else if (!get)
                route_405(rt, a->writable ? "GET, PUT" : "GET");
        } else if (!strcmp(suffix, "observe") && a->observable) {
            rt->op = OP_OBSERVE;
            if (!get)
                route_405(rt, "GET");
        } else {
            rt->status = MHD_HTTP_NOT_FOUND;
        }
    } else if (KIND("actions") && !suffix) {
        struct sim_aff *a = sim_find_aff(t, SIM_ACTION, name, name_len);
        if (!a)
            return;
        rt->aff = a;
        rt->op = OP_INVOKE;
        rt->status = 0;
        if (!is(method, "POST"))
            route_405(rt, "POST");
    } else if (KIND("events")) {
        struct sim_aff *a = sim_find_aff(t, SIM_EVENT, name, name_len);
        if (!a || (suffix && strcmp(suffix, "sse")))
            return;
        rt->aff = a;
        rt->op = suffix ? OP_EVENT_SSE : OP_EVENT_LP;
        rt->status = 0;
        if (!get)
            route_405(rt, "GET");
    } else if (KIND("_trigger") && !suffix) {
        struct sim_aff *a = sim_find_aff(t, SIM_EVENT, name, name_len);
        if (!a)
            return;
        rt->aff = a;
        rt->op = OP_TRIGGER;
        rt->status = 0;
        if (!is(method, "POST"))
            route_405(rt, "POST");
    }
#undef KIND
}

/* ---- waiting requests ------------------------------------------------------------------ */

static int set_result(struct req *r, unsigned status, const uint8_t *data, size_t len)
{
    if (len > r->cap) {
        uint8_t *b = realloc(r->buf, len);
        if (!b)
            return -ENOMEM;
        r->buf = b;
        r->cap = len;
    }
    if (len)
        memcpy(r->buf, data, len);
    r->len = len;
    r->status = status;
    r->ready = true;
    return 0;
}

static void longpoll_cb(struct sim_watch *w, const uint8_t *data, size_t len)
{
    struct req *r = w->ud;
    if (set_result(r, MHD_HTTP_OK, data, len) < 0)
        r->status = MHD_HTTP_INTERNAL_SERVER_ERROR, r->len = 0, r->ready = true;
    sd_event_source_set_enabled(r->timer, SD_EVENT_OFF);
    wake(r);
}

static void sse_cb(struct sim_watch *w, const uint8_t *data, size_t len)
{
    struct req *r = w->ud;
    if (r->off == r->len)
        r->off = r->len = 0;
    size_t need = r->len + len + 8;
    if (need > SSE_MAX_BUF)
        return; /* the consumer is not reading: drop the event */
    if (need > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < need)
            cap *= 2;
        uint8_t *b = realloc(r->buf, cap);
        if (!b)
            return;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, "data: ", 6);
    memcpy(r->buf + r->len + 6, data, len);
    memcpy(r->buf + r->len + 6 + len, "\n\n", 2);
    r->len += len + 8;
    wake(r);
}

static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct req *r = cls;
    if (r->h->stopping)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (r->off == r->len) {
        r->off = r->len = 0;
        suspend(r);
        return 0;
    }
    size_t n = r->len - r->off;
    if (n > max)
        n = max;
    memcpy(buf, r->buf + r->off, n);
    r->off += n;
    return (ssize_t)n;
}

static int req_timer_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    struct req *r = ud;
    int e;
    if (r->kind == RQ_SLOW)
        e = set_result(r, MHD_HTTP_OK, (const uint8_t *)"{\"slow\":true}", 13);
    else /* long-poll bound: nothing happened, poll again */
        e = set_result(r, MHD_HTTP_NO_CONTENT, NULL, 0);
    if (e < 0)
        r->status = MHD_HTTP_INTERNAL_SERVER_ERROR, r->len = 0, r->ready = true;
    sim_watch_del(&r->watch);
    wake(r);
    return 0;
}

static struct req *req_new(struct sim_http *h, struct MHD_Connection *conn, enum req_kind kind,
                           const struct route *rt)
{
    struct req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->h = h;
    r->conn = conn;
    r->kind = kind;
    r->rt = *rt;
    r->watch.ud = r;
    return r;
}

static void req_free(struct req *r)
{
    if (!r)
        return;
    sim_watch_del(&r->watch);
    sd_event_source_disable_unref(r->timer);
    if (r->suspended) { /* not expected: MHD completes no suspended request */
        *r->pprev = r->next;
        if (r->next)
            r->next->pprev = r->pprev;
    }
    if (r->waiting)
        r->h->n_waiting--;
    free(r->buf);
    free(r);
}

/* Starts a request that waits (long-poll, hang, slow) or streams (SSE). */
static enum MHD_Result start_waiting(const struct call *c, const struct route *rt, void **con_cls)
{
    struct sim_http *h = c->h;
    struct sim_aff *a = rt->aff;
    enum req_kind kind = RQ_LONGPOLL;
    if (rt->op == OP_READ)
        kind = a->fault == SIM_FAULT_SLOW ? RQ_SLOW : RQ_HANG;
    else if (rt->op == OP_EVENT_SSE)
        kind = RQ_SSE;
    if (h->n_waiting >= MAX_WAITING)
        return answer_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "too many waiting requests", NULL);
    struct req *r = req_new(h, c->conn, kind, rt);
    if (!r)
        return MHD_NO;
    *con_cls = r;
    r->waiting = true;
    h->n_waiting++;
    uint64_t now, delay = 0;
    sd_event_now(h->ev, CLOCK_MONOTONIC, &now);
    switch (kind) {
    case RQ_SLOW: delay = sim_config()->slow_ms * 1000; break;
    case RQ_LONGPOLL:
        delay = LONGPOLL_MAX_US;
        r->watch.fn = longpoll_cb;
        r->watch.once = true;
        sim_watch_add(a, &r->watch);
        break;
    case RQ_SSE: {
        r->watch.fn = sse_cb;
        sim_watch_add(a, &r->watch);
        struct MHD_Response *resp =
                MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_reader, r, NULL);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        enum MHD_Result ret = queue(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    default: break;
    }
    if (delay && sd_event_add_time(h->ev, &r->timer, CLOCK_MONOTONIC, now + delay, 1000,
                                   req_timer_cb, r) < 0)
        return MHD_NO;
    suspend(r);
    return MHD_YES;
}

/* A waiting request called again (after a resume). */
static enum MHD_Result continue_waiting(const struct call *c, struct req *r)
{
    if (c->h->stopping)
        return MHD_NO; /* closes the connection */
    if (!r->ready) {
        suspend(r);
        return MHD_YES;
    }
    return answer(c, r->status, r->len || r->status == MHD_HTTP_OK ? SIM_JSON : NULL, r->buf,
                  r->len, r->len ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
}

/* ---- requests with a body ------------------------------------------------------------- */

static enum MHD_Result finish_body(const struct call *c, struct req *r)
{
    const char *ct =
            MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct sim_aff *a = r->rt.aff;
    const char *why = NULL;
    if (r->too_large)
        return answer_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than 1 MiB", NULL);
    if (r->rt.op == OP_TRIGGER) {
        sim_fire(a);
        return answer(c, MHD_HTTP_NO_CONTENT, NULL, NULL, 0, MHD_RESPMEM_PERSISTENT);
    }
    if (r->rt.op == OP_WRITE) {
        int e = sim_write(a, ct, r->buf, r->len, &why);
        switch (e) {
        case 0: return answer(c, MHD_HTTP_NO_CONTENT, NULL, NULL, 0, MHD_RESPMEM_PERSISTENT);
        case -ENOTSUP: return answer_error(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, why, NULL);
        case -EBADMSG:
        case -EINVAL: return answer_error(c, MHD_HTTP_BAD_REQUEST, why, NULL);
        case -EFBIG: return answer_error(c, MHD_HTTP_CONTENT_TOO_LARGE, why, NULL);
        case -EROFS: return answer_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, why, "GET");
        default: return answer_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error", NULL);
        }
    }
    /* OP_INVOKE */
    char *out;
    size_t out_len;
    const char *out_ct;
    bool echo;
    int e = sim_invoke(a, ct, r->buf, r->len, &out, &out_len, &out_ct, &echo, &why);
    if (e == -EFBIG)
        return answer_error(c, MHD_HTTP_CONTENT_TOO_LARGE, why, NULL);
    if (e < 0)
        return answer_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error", NULL);
    if (echo) { /* the body goes back as it came: hand the buffer over */
        uint8_t *body = r->buf;
        size_t len = r->len;
        r->buf = NULL;
        r->len = r->cap = 0;
        if (!body)
            return answer(c, MHD_HTTP_OK, ct, "", 0, MHD_RESPMEM_PERSISTENT);
        return answer(c, MHD_HTTP_OK, ct, body, len, MHD_RESPMEM_MUST_FREE);
    }
    return answer(c, MHD_HTTP_OK, out_ct, out, out_len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result start_body(const struct call *c, const struct route *rt, void **con_cls)
{
    const char *cl =
            MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    size_t want = 0;
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno || *end || v > SIM_MAX_BODY)
            return answer_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "the body is larger than 1 MiB",
                                NULL);
        want = (size_t)v;
    }
    struct req *r = req_new(c->h, c->conn, RQ_BODY, rt);
    if (!r)
        return MHD_NO;
    *con_cls = r;
    if (want) {
        r->buf = malloc(want);
        if (!r->buf)
            return MHD_NO;
        r->cap = want;
    }
    return MHD_YES;
}

static int body_append(struct req *r, const char *data, size_t len)
{
    if (r->too_large || r->len + len > SIM_MAX_BODY) {
        r->too_large = true;
        r->discarded += len;
        return r->discarded > MAX_DISCARD ? -EFBIG : 0;
    }
    if (r->len + len > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + len)
            cap *= 2;
        if (cap > SIM_MAX_BODY)
            cap = SIM_MAX_BODY;
        uint8_t *b = realloc(r->buf, cap);
        if (!b)
            return -ENOMEM;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    return 0;
}

/* ---- the handler ------------------------------------------------------------------------ */

/* con_cls of a request without a body of interest, between the calls */
static struct req no_body;

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    struct sim_http *h = cls;
    struct req *r = *con_cls;
    struct call c = {.h = h, .conn = conn, .method = method, .url = url};
    struct route rt;
    if (!r) {
        /* First call, after the headers. Answers wait for the next call:
         * libmicrohttpd closes the connection after an answer queued this
         * early (it could not read the body), and keep-alive matters. */
        h->requests++;
        if (h->stopping)
            return MHD_NO;
        route(url, method, &rt);
        if (!rt.status && (rt.op == OP_WRITE || rt.op == OP_INVOKE || rt.op == OP_TRIGGER))
            return start_body(&c, &rt, con_cls);
        *con_cls = &no_body;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r != &no_body && r->kind == RQ_BODY)
            return body_append(r, upload_data, n) < 0 ? MHD_NO : MHD_YES;
        return MHD_YES; /* a body nobody asked for */
    }
    if (r != &no_body)
        return r->kind == RQ_BODY ? finish_body(&c, r) : continue_waiting(&c, r);
    /* the whole request is in: answer */
    route(url, method, &rt);
    if (rt.status)
        return answer_error(&c, rt.status,
                            rt.status == MHD_HTTP_NOT_FOUND ? "not found" : "method not allowed",
                            rt.allow);
    switch (rt.op) {
    case OP_READ:
        switch (rt.aff->fault) {
        case SIM_FAULT_NONE: return answer_property(&c, rt.aff);
        case SIM_FAULT_SLOW:
        case SIM_FAULT_HANG: return start_waiting(&c, &rt, con_cls);
        case SIM_FAULT_BROKEN: return answer_broken(&c);
        case SIM_FAULT_HEADERS: return answer_headers(&c);
        case SIM_FAULT_STATUS:
            return answer_error(&c, MHD_HTTP_SERVICE_UNAVAILABLE, "device unavailable", NULL);
        }
        return MHD_NO;
    case OP_READALL: {
        char *txt;
        size_t len;
        if (sim_readall(rt.thing, &txt, &len) < 0)
            return MHD_NO;
        return answer(&c, MHD_HTTP_OK, SIM_JSON, txt, len, MHD_RESPMEM_MUST_FREE);
    }
    case OP_OBSERVE:
    case OP_EVENT_LP:
    case OP_EVENT_SSE: return start_waiting(&c, &rt, con_cls);
    case OP_STATS: return answer_stats(&c);
    case OP_REDIRECT: return answer_redirect(&c);
    case OP_WRITE:
    case OP_INVOKE:
    case OP_TRIGGER:
    case OP_NONE: break;
    }
    return MHD_NO;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    if (*con_cls != &no_body)
        req_free(*con_cls);
    *con_cls = NULL;
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    struct sim_http *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        h->conns_total++;
        h->conns_open++;
    } else if (h->conns_open) {
        h->conns_open--;
    }
}

/* ---- start / stop ------------------------------------------------------------------------- */

int sim_http_start(sd_event *ev, int listen_fd, bool quiet, struct sim_http **out)
{
    int r = -ENOMEM;
    struct sim_http *h = calloc(1, sizeof(*h));
    if (!h) {
        close(listen_fd);
        return -ENOMEM;
    }
    h->ev = ev;
    h->quiet = quiet;
    h->cache = calloc(sim_n_affs(), sizeof(*h->cache));
    h->cache_version = calloc(sim_n_affs(), sizeof(*h->cache_version));
    if (!h->cache || !h->cache_version) {
        close(listen_fd);
        goto fail;
    }
    /* -q also silences libmicrohttpd's own messages ("closing connection"
     * after the broken property, ...), which the tests provoke on purpose */
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
                     MHD_USE_SUPPRESS_DATE_NO_CLOCK | (quiet ? 0 : MHD_USE_ERROR_LOG);
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, handler, h, MHD_OPTION_LISTEN_SOCKET, listen_fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                            MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_NOTIFY_CONNECTION,
                            notify_connection, h, MHD_OPTION_END);
    if (!h->d) {
        close(listen_fd);
        r = -EIO;
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info) {
        r = -EIO;
        goto fail;
    }
    if ((r = sd_event_add_io(ev, &h->io, info->epoll_fd, EPOLLIN, io_cb, h)) < 0 ||
        (r = sd_event_add_time(ev, &h->timer, CLOCK_MONOTONIC, UINT64_MAX, 1000 * 1000, timer_cb,
                               h)) < 0 ||
        (r = sd_event_add_defer(ev, &h->kick, kick_cb, h)) < 0 ||
        (r = sd_event_source_set_enabled(h->kick, SD_EVENT_OFF)) < 0)
        goto fail;
    *out = h;
    return 0;
fail:
    sim_http_stop(h);
    return r;
}

void sim_http_stop(struct sim_http *h)
{
    if (!h)
        return;
    h->stopping = true;
    if (h->d) {
        while (h->suspended)
            wake(h->suspended);
        MHD_run(h->d); /* resumed requests see stopping and close */
        MHD_stop_daemon(h->d);
    }
    if (h->cache)
        for (size_t i = 0; i < sim_n_affs(); i++)
            if (h->cache[i])
                MHD_destroy_response(h->cache[i]);
    sd_event_source_disable_unref(h->io);
    sd_event_source_disable_unref(h->timer);
    sd_event_source_disable_unref(h->kick);
    free(h->cache);
    free(h->cache_version);
    free(h);
}
