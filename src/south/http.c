/* south/http.c - the HTTP device client: libcurl's multi socket interface
 * on the daemon's sd-event loop (see south/http.h).
 *
 * The loop integration is curl's "hiperfifo" pattern: curl tells us which
 * sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to call it back
 * (CURLMOPT_TIMERFUNCTION); we map both onto sd-event io and timer sources
 * and call curl_multi_socket_action() when they fire.
 *
 * Re-entrancy: libcurl forbids removing or adding handles from inside its
 * callbacks, and a user callback (chunk()) runs inside one. So while we are
 * inside curl (in_curl > 0) a cancel, a start or an unpause only marks the
 * call and queues it on the "deferred" list, which a defer source works
 * off from the loop. done() is only ever called outside curl, so calls
 * from inside done() act at once. An unpause is always deferred: chunk()
 * never runs inside south_http_unpause().
 *
 * Speed: calls (with their easy handle, buffers and header list) are kept
 * on a small free list and reused; the request headers live inside the
 * call (curl_slist nodes of our own), so a request allocates nothing of
 * ours. Idle sockets keep their (disabled) sd-event source, indexed by fd.
 */
#define _GNU_SOURCE
#include "south/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SOUTH_FREE_MAX       32                /* idle calls kept for reuse */
#define SOUTH_MAXCONNECTS    128               /* idle keep-alive connections kept */
#define SOUTH_KEEP_BUF       (64 * 1024)       /* larger buffers are freed after a call */
#define SOUTH_DEFAULT_MAX    (1024 * 1024)     /* max_response 0 */
#define SOUTH_STREAM_CONNECT (10 * 1000000ull) /* connect bound of a stream without timeout */
#define SOUTH_HDR_VALUE_MAX  1024              /* Content-Type / Accept value */
#define SOUTH_METHOD_MAX     15
#define SOUTH_RECV_BUFFER    (16 * 1024)
#define SOUTH_TIMER_SLACK    (50 * 1000ull) /* us, on curl timeouts */

struct south_sock {
    sd_event_source *src;
    uint32_t events;
    bool on;
};

struct south_http_call {
    struct south_http *c;
    CURL *easy;
    struct south_http_call *prev, *next;   /* c->calls (active) or c->free_calls */
    struct south_http_call *dprev, *dnext; /* c->deferred */
    unsigned defer_gen;
    south_http_done_fn done;
    south_http_chunk_fn chunk;
    void *ud;
    uint8_t *req_body;
    size_t req_cap;
    uint8_t *resp;
    size_t resp_len, resp_cap, max_response;
    uint64_t start_us;
    bool active;          /* on c->calls */
    bool in_multi;        /* added to the multi handle */
    bool deferred;        /* on c->deferred */
    bool pending_add;     /* started from inside curl: add from the loop */
    bool unpause_pending; /* south_http_unpause(): resume from the loop */
    bool stream, head_sent, paused, too_large, cancelled, completing;
    bool no_reuse;            /* an https call (own TLS settings, maybe a secret): never recycled */
    struct curl_slist hdr[4]; /* Expect:, Content-Type, Accept, Authorization */
    char ct_line[SOUTH_HDR_VALUE_MAX + 16];
    char accept_line[SOUTH_HDR_VALUE_MAX + 16];
    char auth_line[SOUTH_HDR_VALUE_MAX + 16];
    char errbuf[CURL_ERROR_SIZE];
};

struct south_http {
    sd_event *ev;
    CURLM *multi;
    sd_event_source *timer; /* curl's timeout */
    uint64_t timer_at;      /* when it fires; 0: off */
    sd_event_source *now;   /* curl's timeout 0: "call me at once" */
    sd_event_source *defer; /* works off the deferred list */
    struct south_http_call *calls;
    struct south_http_call *free_calls;
    size_t n_free, n_active;
    struct south_http_call *deferred, *deferred_tail;
    unsigned gen;
    unsigned in_curl; /* depth of calls into curl that may run callbacks */
    struct south_sock *socks;
    size_t n_socks;
};

const char *south_http_error_name(enum south_http_error e)
{
    switch (e) {
    case SOUTH_HTTP_OK: return "ok";
    case SOUTH_HTTP_CONNECT: return "connect";
    case SOUTH_HTTP_TIMEOUT: return "timeout";
    case SOUTH_HTTP_PROTOCOL: return "protocol";
    case SOUTH_HTTP_TOO_LARGE: return "too-large";
    case SOUTH_HTTP_INTERNAL: return "internal";
    }
    return "unknown";
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- lists -------------------------------------------------------------------------- */

static void active_link(struct south_http_call *call)
{
    struct south_http *c = call->c;
    call->prev = NULL;
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    call->active = true;
    c->n_active++;
}

static void active_unlink(struct south_http_call *call)
{
    struct south_http *c = call->c;
    if (!call->active)
        return;
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    call->active = false;
    c->n_active--;
}

static void defer_unlink(struct south_http_call *call)
{
    struct south_http *c = call->c;
    if (!call->deferred)
        return;
    if (call->dprev)
        call->dprev->dnext = call->dnext;
    else
        c->deferred = call->dnext;
    if (call->dnext)
        call->dnext->dprev = call->dprev;
    else
        c->deferred_tail = call->dprev;
    call->dprev = call->dnext = NULL;
    call->deferred = false;
}

/* Queues call for the defer source (at the tail, once). */
static void defer_add(struct south_http_call *call)
{
    struct south_http *c = call->c;
    if (!call->deferred) {
        call->dnext = NULL;
        call->dprev = c->deferred_tail;
        if (c->deferred_tail)
            c->deferred_tail->dnext = call;
        else
            c->deferred = call;
        c->deferred_tail = call;
        call->deferred = true;
        call->defer_gen = c->gen;
    }
    sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
}

/* ---- calls: creation, reuse ---------------------------------------------------------- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud);
static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *ud);

static void call_destroy(struct south_http_call *call)
{
    /* an internal https call may carry a client secret and a token */
    explicit_bzero(call->auth_line, sizeof(call->auth_line));
    if (call->req_body)
        explicit_bzero(call->req_body, call->req_cap);
    if (call->easy)
        curl_easy_cleanup(call->easy);
    free(call->req_body);
    free(call->resp);
    free(call);
}

static struct south_http_call *call_new(struct south_http *c)
{
    struct south_http_call *call = calloc(1, sizeof(*call));
    if (!call)
        return NULL;
    call->c = c;
    call->easy = curl_easy_init();
    if (!call->easy) {
        free(call);
        return NULL;
    }
    CURL *e = call->easy;
    call->hdr[0].data = (char *)"Expect:"; /* never "Expect: 100-continue" */
    call->hdr[0].next = &call->hdr[1];
    call->hdr[1].data = call->ct_line;
    call->hdr[1].next = &call->hdr[2];
    call->hdr[2].data = call->accept_line;
    call->hdr[2].next = &call->hdr[3];
    call->hdr[3].data = call->auth_line;
    call->hdr[3].next = NULL;
    strcpy(call->auth_line, "Authorization:"); /* none */
    /* The options that never change for this handle. */
    if (curl_easy_setopt(e, CURLOPT_PRIVATE, call) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, call) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HEADERDATA, call) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->hdr) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK || /* none from the environment */
        curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)SOUTH_RECV_BUFFER) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK ||
        /* payload bytes pass through as the device sent them */
        curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L) != CURLE_OK) {
        call_destroy(call);
        return NULL;
    }
    return call;
}

static struct south_http_call *call_get(struct south_http *c)
{
    struct south_http_call *call = c->free_calls;
    if (!call)
        return call_new(c);
    c->free_calls = call->next;
    c->n_free--;
    call->next = NULL;
    return call;
}

/* Takes the call out of curl and off every list. Outside curl only. */
static void call_detach(struct south_http_call *call)
{
    if (call->in_multi) {
        curl_multi_remove_handle(call->c->multi, call->easy);
        call->in_multi = false;
    }
    active_unlink(call);
    defer_unlink(call);
}

/* Back to the free list (or gone). The call must be detached. */
static void call_recycle(struct south_http_call *call)
{
    struct south_http *c = call->c;
    if (c->n_free >= SOUTH_FREE_MAX || call->no_reuse) {
        call_destroy(call);
        return;
    }
    if (call->req_cap > SOUTH_KEEP_BUF) {
        free(call->req_body);
        call->req_body = NULL;
        call->req_cap = 0;
    }
    if (call->resp_cap > SOUTH_KEEP_BUF) {
        free(call->resp);
        call->resp = NULL;
        call->resp_cap = 0;
    }
    call->resp_len = 0;
    call->done = NULL;
    call->chunk = NULL;
    call->ud = NULL;
    call->pending_add = call->unpause_pending = false;
    call->stream = call->head_sent = call->paused = call->too_large = false;
    call->cancelled = call->completing = false;
    call->next = c->free_calls;
    c->free_calls = call;
    c->n_free++;
}

/* ---- completion ---------------------------------------------------------------------- */

static void head_of(struct south_http_call *call, struct south_http_response *head)
{
    long status = 0;
    char *ct = NULL;
    curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(call->easy, CURLINFO_CONTENT_TYPE, &ct);
    memset(head, 0, sizeof(*head));
    head->error = SOUTH_HTTP_OK;
    head->status = status;
    head->content_type = ct;
    head->duration_us = now_us() - call->start_us;
}

/* Streams: the head before the first chunk. */
static void deliver_head(struct south_http_call *call)
{
    struct south_http_response head;
    call->head_sent = true;
    head_of(call, &head);
    call->chunk(call->ud, &head, NULL, 0);
}

static enum south_http_error map_error(CURLcode code, bool too_large)
{
    switch (code) {
    case CURLE_OK: return SOUTH_HTTP_OK;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return SOUTH_HTTP_CONNECT;
    case CURLE_OPERATION_TIMEDOUT: return SOUTH_HTTP_TIMEOUT;
    case CURLE_FILESIZE_EXCEEDED: return SOUTH_HTTP_TOO_LARGE;
    case CURLE_WRITE_ERROR: return too_large ? SOUTH_HTTP_TOO_LARGE : SOUTH_HTTP_INTERNAL;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_ABORTED_BY_CALLBACK: return SOUTH_HTTP_INTERNAL;
    default: return SOUTH_HTTP_PROTOCOL; /* PARTIAL_FILE, RECV_ERROR, GOT_NOTHING, ... */
    }
}

/* Reports the outcome of a detached call and recycles it. Outside curl. */
static void call_complete(struct south_http_call *call, CURLcode code)
{
    struct south_http_response resp;
    enum south_http_error err = map_error(code, call->too_large);
    call->completing = true; /* a cancel from the callbacks below only marks it */
    if (err == SOUTH_HTTP_OK && call->stream && !call->head_sent) {
        deliver_head(call); /* a stream that ended without a body byte */
        if (call->cancelled) {
            call_recycle(call);
            return;
        }
    }
    if (err == SOUTH_HTTP_OK) {
        head_of(call, &resp);
        if (!call->stream && call->resp_len) {
            resp.body = call->resp;
            resp.body_len = call->resp_len;
        }
    } else {
        memset(&resp, 0, sizeof(resp));
        resp.error = err;
        resp.duration_us = now_us() - call->start_us;
        if (err == SOUTH_HTTP_TOO_LARGE)
            resp.error_text = "the answer is larger than the limit";
        else if (call->errbuf[0])
            resp.error_text = call->errbuf;
        else
            resp.error_text = curl_easy_strerror(code);
    }
    call->done(call->ud, &resp);
    call_recycle(call);
}

/* Reports every finished transfer. Outside curl only (done() may call us). */
static void drain_done(struct south_http *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        CURLcode code = msg->data.result; /* msg is gone after remove_handle */
        struct south_http_call *call = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&call);
        if (!call)
            continue;
        call_detach(call);
        if (call->cancelled)
            call_recycle(call);
        else
            call_complete(call, code);
    }
}

/* ---- curl callbacks --------------------------------------------------------------------- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct south_http_call *call = ud;
    size_t n = size * nmemb;
    if (call->cancelled)
        return 0; /* aborts the transfer */
    if (call->stream) {
        if (!call->head_sent) {
            deliver_head(call);
            if (call->cancelled)
                return 0;
        }
        struct south_http_response head;
        head_of(call, &head);
        int r = call->chunk(call->ud, &head, (const uint8_t *)ptr, n);
        if (call->cancelled)
            return 0;
        if (r == SOUTH_HTTP_PAUSE) {
            call->paused = true;
            return CURL_WRITEFUNC_PAUSE;
        }
        return n;
    }
    if (n > call->max_response - call->resp_len) {
        call->too_large = true;
        return 0;
    }
    if (call->resp_len + n > call->resp_cap) {
        size_t cap = call->resp_cap ? call->resp_cap : 4096;
        curl_off_t cl = -1;
        if (!call->resp_len &&
            curl_easy_getinfo(call->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
            cl > 0 && (uint64_t)cl <= call->max_response && (size_t)cl > cap)
            cap = (size_t)cl;
        while (cap < call->resp_len + n)
            cap *= 2;
        if (cap > call->max_response)
            cap = call->max_response;
        uint8_t *b = realloc(call->resp, cap);
        if (!b)
            return 0;
        call->resp = b;
        call->resp_cap = cap;
    }
    memcpy(call->resp + call->resp_len, ptr, n);
    call->resp_len += n;
    return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct south_http_call *call = ud;
    size_t n = size * nmemb;
    if (call->cancelled)
        return 0;
    /* streams: the head as soon as the final header block ends */
    if (call->stream && !call->head_sent &&
        ((n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n'))) {
        long status = 0;
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200) {
            deliver_head(call);
            if (call->cancelled)
                return 0;
        }
    }
    return n;
}

static void run_curl(struct south_http *c, curl_socket_t fd, int flags)
{
    int running;
    c->in_curl++;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    c->in_curl--;
    if (!c->in_curl)
        drain_done(c);
}

static int io_cb(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
    int flags = 0;
    if (revents & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
        flags |= CURL_CSELECT_IN;
    if (revents & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (revents & EPOLLERR)
        flags |= CURL_CSELECT_ERR;
    run_curl(ud, fd, flags);
    return 0;
}

static int timer_set(struct south_http *c, long ms);

/* The timer may fire before curl's deadline (see curl_timer_cb); curl
 * calls CURLMOPT_TIMERFUNCTION only when its deadline changes, so ask it
 * for the deadline again afterwards. */
static int timer_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    struct south_http *c = ud;
    c->timer_at = 0; /* a oneshot timer is off once it fired */
    run_curl(c, CURL_SOCKET_TIMEOUT, 0);
    long ms = -1;
    if (!c->timer_at && curl_multi_timeout(c->multi, &ms) == CURLM_OK && ms >= 0)
        timer_set(c, ms);
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION */
static int sock_cb(CURL *e, curl_socket_t fd, int what, void *ud, void *sockp)
{
    struct south_http *c = ud;
    if (fd < 0)
        return -1;
    if (what == CURL_POLL_REMOVE) {
        if ((size_t)fd < c->n_socks && c->socks[fd].on) {
            sd_event_source_set_enabled(c->socks[fd].src, SD_EVENT_OFF);
            c->socks[fd].on = false;
        }
        return 0;
    }
    uint32_t events =
            ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    if ((size_t)fd >= c->n_socks) {
        size_t n = c->n_socks ? c->n_socks : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct south_sock *s = realloc(c->socks, n * sizeof(*s));
        if (!s)
            return -1;
        memset(s + c->n_socks, 0, (n - c->n_socks) * sizeof(*s));
        c->socks = s;
        c->n_socks = n;
    }
    struct south_sock *s = &c->socks[fd];
    if (!s->src) {
        if (sd_event_add_io(c->ev, &s->src, fd, events, io_cb, c) < 0)
            return -1;
        s->events = events;
        s->on = true;
        return 0;
    }
    if (s->events != events) {
        if (sd_event_source_set_io_events(s->src, events) < 0)
            return -1;
        s->events = events;
    }
    if (!s->on) {
        if (sd_event_source_set_enabled(s->src, SD_EVENT_ON) < 0)
            return -1;
        s->on = true;
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION. curl moves its deadline on every request (0 to
 * start a transfer, then its timeout, then none), and every move of an
 * sd-event timer may cost a timerfd_settime(): that syscall was the client's
 * biggest cost. So "now" goes to a defer source, and the timer only ever
 * moves earlier while it is armed: when it fires before curl's deadline,
 * timer_cb asks curl for the deadline again, which costs far less than
 * moving the timer twice per request. Later deadlines also get a slack of
 * 1/32 (at most SOUTH_TIMER_SLACK) within which sd-event may align them. */
static int timer_set(struct south_http *c, long ms)
{
    if (ms < 0) /* no deadline: an armed timer just fires once for nothing */
        return 0;
    if (ms == 0)
        return sd_event_source_set_enabled(c->now, SD_EVENT_ONESHOT) < 0 ? -1 : 0;
    if (sd_event_source_set_enabled(c->now, SD_EVENT_OFF) < 0)
        return -1;
    uint64_t now, slack = (uint64_t)ms * 1000 / 32;
    if (slack > SOUTH_TIMER_SLACK)
        slack = SOUTH_TIMER_SLACK;
    sd_event_now(c->ev, CLOCK_MONOTONIC, &now);
    uint64_t at = now + (uint64_t)ms * 1000;
    if (c->timer_at && c->timer_at <= at)
        return 0;
    if (sd_event_source_set_time(c->timer, at) < 0 ||
        sd_event_source_set_time_accuracy(c->timer, slack ? slack : 1) < 0 ||
        sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT) < 0)
        return -1;
    c->timer_at = at;
    return 0;
}

static int curl_timer_cb(CURLM *m, long ms, void *ud)
{
    return timer_set(ud, ms);
}

static int now_cb(sd_event_source *s, void *ud)
{
    run_curl(ud, CURL_SOCKET_TIMEOUT, 0);
    return 0;
}

/* ---- the deferred list ----------------------------------------------------------------- */

static int defer_cb(sd_event_source *s, void *ud)
{
    struct south_http *c = ud;
    unsigned gen = c->gen++; /* calls queued from here on wait for the next round */
    struct south_http_call *call;
    while ((call = c->deferred) && (int)(call->defer_gen - gen) <= 0) {
        defer_unlink(call);
        if (call->cancelled) {
            call_detach(call);
            call_recycle(call);
            continue;
        }
        if (call->pending_add) {
            call->pending_add = false;
            if (curl_multi_add_handle(c->multi, call->easy) != CURLM_OK) {
                call_detach(call);
                call_complete(call, CURLE_OUT_OF_MEMORY);
                continue;
            }
            call->in_multi = true;
        }
        if (call->unpause_pending) {
            call->unpause_pending = false;
            c->in_curl++;
            curl_easy_pause(call->easy, CURLPAUSE_CONT); /* may run write_cb at once */
            c->in_curl--;
        }
    }
    drain_done(c);
    if (c->deferred)
        sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
    return 0;
}

/* ---- public ------------------------------------------------------------------------------ */

int south_http_new(sd_event *ev, struct south_http **out)
{
    static bool global_done;
    int r = -ENOMEM;
    if (!ev || !out)
        return -EINVAL;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return -EIO;
        global_done = true;
    }
    struct south_http *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->ev = sd_event_ref(ev);
    c->multi = curl_multi_init();
    if (!c->multi)
        goto fail;
    if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)SOUTH_MAXCONNECTS) != CURLM_OK) {
        r = -EIO;
        goto fail;
    }
    if ((r = sd_event_add_time(ev, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, timer_cb, c)) < 0 ||
        (r = sd_event_source_set_enabled(c->timer, SD_EVENT_OFF)) < 0 ||
        (r = sd_event_add_defer(ev, &c->now, now_cb, c)) < 0 ||
        (r = sd_event_source_set_enabled(c->now, SD_EVENT_OFF)) < 0 ||
        (r = sd_event_add_defer(ev, &c->defer, defer_cb, c)) < 0 ||
        (r = sd_event_source_set_enabled(c->defer, SD_EVENT_OFF)) < 0)
        goto fail;
    sd_event_source_set_description(c->timer, "south-http-timer");
    sd_event_source_set_description(c->defer, "south-http-defer");
    sd_event_source_set_description(c->now, "south-http-now");
    *out = c;
    return 0;
fail:
    south_http_free(c);
    return r;
}

void south_http_free(struct south_http *c)
{
    if (!c)
        return;
    struct south_http_call *call;
    while ((call = c->calls)) {
        call_detach(call);
        call_destroy(call);
    }
    while ((call = c->deferred)) /* not expected: deferred calls are active */
        defer_unlink(call);
    while ((call = c->free_calls)) {
        c->free_calls = call->next;
        call_destroy(call);
    }
    if (c->multi)
        curl_multi_cleanup(c->multi); /* may still call sock_cb and curl_timer_cb */
    for (size_t i = 0; i < c->n_socks; i++)
        sd_event_source_disable_unref(c->socks[i].src);
    free(c->socks);
    sd_event_source_disable_unref(c->timer);
    sd_event_source_disable_unref(c->now);
    sd_event_source_disable_unref(c->defer);
    sd_event_unref(c->ev);
    free(c);
}

static bool valid_method(const char *m)
{
    size_t n = 0;
    for (; m[n]; n++)
        if (!strchr("!#$%&'*+-.^_`|~", m[n]) && !(m[n] >= '0' && m[n] <= '9') &&
            !(m[n] >= 'A' && m[n] <= 'Z') && !(m[n] >= 'a' && m[n] <= 'z'))
            return false;
    return n > 0 && n <= SOUTH_METHOD_MAX;
}

/* "Name: value" into buf, or "Name:" (curl then sends no such header). */
static int header_line(char *buf, size_t cap, const char *name, const char *value)
{
    if (!value) {
        snprintf(buf, cap, "%s:", name);
        return 0;
    }
    size_t n = strlen(value);
    if (n > SOUTH_HDR_VALUE_MAX || strpbrk(value, "\r\n"))
        return -EINVAL;
    snprintf(buf, cap, "%s: %s", name, value);
    return 0;
}

static int call_setup(struct south_http_call *call, const struct south_http_request *req)
{
    CURL *e = call->easy;
    const char *m = req->method;
    bool has_body = req->body_len > 0 || !strcasecmp(m, "POST") || !strcasecmp(m, "PUT") ||
                    !strcasecmp(m, "PATCH");
    if (req->body_len > call->req_cap) {
        uint8_t *b = realloc(call->req_body, req->body_len);
        if (!b)
            return -ENOMEM;
        call->req_body = b;
        call->req_cap = req->body_len;
    }
    if (req->body_len)
        memcpy(call->req_body, req->body, req->body_len);
    uint64_t timeout = req->timeout_us;
    uint64_t connect = req->connect_timeout_us ? req->connect_timeout_us
                       : timeout               ? timeout
                                               : SOUTH_STREAM_CONNECT;
    call->max_response = req->max_response ? req->max_response : SOUTH_DEFAULT_MAX;
    call->errbuf[0] = '\0';
    CURLcode rc = curl_easy_setopt(e, CURLOPT_URL, req->url);
    if (rc != CURLE_OK)
        return rc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
    /* HTTPGET resets what an earlier call on this handle set (POST, NOBODY). */
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    if (!strcmp(m, "HEAD")) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    } else if (has_body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body_len ? (const char *)call->req_body : "");
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(m, "POST") ? m : NULL);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(m, "GET") ? m : NULL);
    }
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)((timeout + 999) / 1000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)((connect + 999) / 1000));
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t)(req->stream ? 0 : call->max_response));
    return 0;
}

/* https for internal callers: TLS >= 1.2, peer and host name verified,
 * against req->ca_file or the system store; only https, no redirect. */
static int tls_setup(struct south_http_call *call, const struct south_http_request *req)
{
    CURL *e = call->easy;
    if (curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
        (req->ca_file && curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file) != CURLE_OK))
        return -EINVAL;
    return 0;
}

int south_http_start(struct south_http *c, const struct south_http_request *req,
                     south_http_done_fn done, south_http_chunk_fn chunk, void *ud,
                     struct south_http_call **out)
{
    if (!c || !req || !req->url || !req->method || !done || (req->stream && !chunk) ||
        (req->body_len && !req->body))
        return -EINVAL;
    bool tls = !strncasecmp(req->url, "https://", 8);
    if ((strncasecmp(req->url, "http://", 7) && !(tls && req->tls)) || !valid_method(req->method) ||
        (req->authorization && !req->tls))
        return -EINVAL;
    /* https: a handle of its own, destroyed afterwards, so that no TLS
     * setting or secret ever carries over to a device call */
    struct south_http_call *call = req->tls ? call_new(c) : call_get(c);
    if (!call)
        return -ENOMEM;
    call->no_reuse = req->tls;
    int r = header_line(call->ct_line, sizeof(call->ct_line), "Content-Type", req->content_type);
    if (r >= 0)
        r = header_line(call->accept_line, sizeof(call->accept_line), "Accept", req->accept);
    if (r >= 0 && req->authorization)
        r = header_line(call->auth_line, sizeof(call->auth_line), "Authorization",
                        req->authorization);
    if (r >= 0 && req->tls)
        r = tls_setup(call, req);
    if (r >= 0)
        r = call_setup(call, req);
    if (r < 0) {
        call_recycle(call);
        return r;
    }
    call->done = done;
    call->chunk = chunk;
    call->ud = ud;
    call->stream = req->stream;
    call->start_us = now_us();
    active_link(call);
    if (c->in_curl) { /* from inside a curl callback: add from the loop */
        call->pending_add = true;
        defer_add(call);
    } else {
        CURLMcode mc = curl_multi_add_handle(c->multi, call->easy);
        if (mc != CURLM_OK) {
            active_unlink(call);
            call_recycle(call);
            return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
        }
        call->in_multi = true;
    }
    if (out)
        *out = call;
    return 0;
}

void south_http_cancel(struct south_http_call *call)
{
    if (!call || call->cancelled)
        return;
    call->cancelled = true;
    if (call->completing)
        return; /* call_complete() recycles it */
    if (call->c->in_curl) {
        defer_add(call); /* curl forbids removing a handle from its callbacks */
        return;
    }
    call_detach(call);
    call_recycle(call);
}

void south_http_unpause(struct south_http_call *call)
{
    if (!call || call->cancelled || !call->paused)
        return;
    call->paused = false;
    call->unpause_pending = true;
    defer_add(call);
}

size_t south_http_active(const struct south_http *c)
{
    return c ? c->n_active : 0;
}
