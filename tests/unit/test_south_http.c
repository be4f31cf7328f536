/* test_south_http.c - the HTTP device client (south/http.c) against the
 * real simulated device (build/wotgw-simdev, started on a free port for the
 * whole group), driven by a real sd-event loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "south/http.h"

#define MS 1000ull

static pid_t dev_pid = -1;
static unsigned dev_port;
static sd_event *ev;
static struct south_http *cl;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static char *url(const char *path)
{
    static char buf[8][256];
    static unsigned i;
    char *b = buf[i++ % 8];
    snprintf(b, sizeof(buf[0]), "http://127.0.0.1:%u%s", dev_port, path);
    return b;
}

/* ---- the device ------------------------------------------------------------------ */

static int start_device(void **state)
{
    char exe[PATH_MAX], dev[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0)
        return -1;
    exe[n] = '\0';
    snprintf(dev, sizeof(dev), "%s/../wotgw-simdev", dirname(exe));
    int p[2];
    if (pipe(p) < 0)
        return -1;
    dev_pid = fork();
    if (dev_pid < 0)
        return -1;
    if (dev_pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(dev, dev, "--listen", "127.0.0.1:0", "--slow-ms", "300", "--event-interval-ms", "100",
              "-q", (char *)NULL);
        perror(dev);
        _exit(127);
    }
    close(p[1]);
    char line[256];
    size_t got = 0;
    uint64_t end = now_us() + 10000 * MS;
    while (got < sizeof(line) - 1 && !memchr(line, '\n', got) && now_us() < end) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = read(p[0], line + got, sizeof(line) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(p[0]);
    line[got] = '\0';
    const char *port = strstr(line, "http://127.0.0.1:");
    if (!port) {
        fprintf(stderr, "device did not start: '%s'\n", line);
        return -1;
    }
    dev_port = (unsigned)atoi(port + strlen("http://127.0.0.1:"));
    return dev_port ? 0 : -1;
}

static int stop_device(void **state)
{
    if (dev_pid <= 0)
        return 0;
    kill(dev_pid, SIGTERM);
    int st = 0;
    if (waitpid(dev_pid, &st, 0) < 0)
        return -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "wotgw-simdev did not exit 0 on SIGTERM (status 0x%x)\n", st);
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    if (sd_event_new(&ev) < 0)
        return -1;
    return south_http_new(ev, &cl) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    south_http_free(cl);
    cl = NULL;
    ev = sd_event_unref(ev);
    return 0;
}

/* ---- results -------------------------------------------------------------------- */

struct result {
    int n_done;
    enum south_http_error error;
    long status;
    char ct[256];
    bool has_ct;
    uint8_t *body;
    size_t len;
    uint64_t duration_us, done_at;
    /* streams */
    int n_heads, n_chunks;
    long head_status;
    char head_ct[256];
    bool chunk_before_head;
    uint8_t sbuf[4096];
    size_t slen;
    int pause_at; /* pause on this chunk (1-based), 0: never */
    bool paused;  /* waiting for the unpause */
    uint64_t paused_at, resumed_at;
    uint8_t pbuf[512]; /* the bytes left with the client */
    size_t plen;
    bool same_again; /* they came again after the unpause */
    bool chunk_while_paused;
    int cancel_after_events; /* cancel from inside chunk() after N "data:" events */
    struct south_http_call *call;
    /* chaining */
    struct result *cancel_other;
    void (*then)(struct result *r);
};

static void result_free(struct result *r)
{
    free(r->body);
    r->body = NULL;
}

static void done_cb(void *ud, const struct south_http_response *resp)
{
    struct result *r = ud;
    r->n_done++;
    r->error = resp->error;
    r->status = resp->status;
    r->has_ct = resp->content_type != NULL;
    snprintf(r->ct, sizeof(r->ct), "%s", resp->content_type ? resp->content_type : "");
    free(r->body);
    r->body = NULL;
    r->len = resp->body_len;
    if (resp->body_len) {
        r->body = malloc(resp->body_len + 1);
        assert_non_null(r->body);
        memcpy(r->body, resp->body, resp->body_len);
        r->body[resp->body_len] = 0;
    }
    r->duration_us = resp->duration_us;
    r->done_at = now_us();
    if (resp->error != SOUTH_HTTP_OK)
        assert_non_null(resp->error_text);
    if (r->cancel_other) {
        south_http_cancel(r->cancel_other->call);
        r->cancel_other->call = NULL;
    }
    if (r->then)
        r->then(r);
}

static size_t count_events(const struct result *r)
{
    size_t n = 0;
    for (const uint8_t *p = r->sbuf; (p = memmem(p, r->slen - (size_t)(p - r->sbuf), "data: ", 6));
         p += 6)
        n++;
    return n;
}

static int chunk_cb(void *ud, const struct south_http_response *head, const uint8_t *data,
                    size_t len)
{
    struct result *r = ud;
    if (!data) {
        r->n_heads++;
        r->head_status = head->status;
        snprintf(r->head_ct, sizeof(r->head_ct), "%s",
                 head->content_type ? head->content_type : "");
        return 0;
    }
    if (!r->n_heads)
        r->chunk_before_head = true;
    if (r->paused)
        r->chunk_while_paused = true;
    r->n_chunks++;
    if (r->resumed_at && !r->same_again && r->plen) {
        r->same_again = len >= r->plen && !memcmp(data, r->pbuf, r->plen);
        r->plen = 0;
    }
    if (r->pause_at && r->n_chunks == r->pause_at) {
        r->paused = true;
        r->paused_at = now_us();
        r->plen = len < sizeof(r->pbuf) ? len : sizeof(r->pbuf);
        memcpy(r->pbuf, data, r->plen);
        r->pause_at = 0;
        return SOUTH_HTTP_PAUSE;
    }
    if (r->slen + len <= sizeof(r->sbuf)) {
        memcpy(r->sbuf + r->slen, data, len);
        r->slen += len;
    }
    if (r->cancel_after_events && count_events(r) >= (size_t)r->cancel_after_events) {
        south_http_cancel(r->call); /* from inside a curl callback */
        r->call = NULL;
    }
    return 0;
}

/* Runs the loop until *counter >= target or timeout; true when reached. */
static bool run_until(const int *counter, int target, uint64_t timeout_ms)
{
    uint64_t end = now_us() + timeout_ms * MS;
    while (*counter < target && now_us() < end)
        assert_true(sd_event_run(ev, 50 * MS) >= 0);
    return *counter >= target;
}

static void run_for(uint64_t ms)
{
    int never = 0;
    run_until(&never, 1, ms);
}

static int start(const char *method, const char *u, const char *ct, const void *body, size_t len,
                 uint64_t timeout_ms, struct result *r)
{
    struct south_http_request rq = {
            .method = method,
            .url = u,
            .content_type = ct,
            .body = body,
            .body_len = len,
            .timeout_us = timeout_ms * MS,
    };
    return south_http_start(cl, &rq, done_cb, NULL, r, &r->call);
}

static void call(const char *method, const char *path, const char *ct, const void *body, size_t len,
                 struct result *r)
{
    int before = r->n_done;
    assert_int_equal(start(method, url(path), ct, body, len, 5000, r), 0);
    assert_true(run_until(&r->n_done, before + 1, 10000));
}

static json_t *json_of(const struct result *r)
{
    json_error_t jerr;
    json_t *j = json_loadb((const char *)r->body, r->len, JSON_DECODE_ANY, &jerr);
    assert_non_null(j);
    return j;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_get_put_post(void **state)
{
    struct result r = {0};
    call("PUT", "/lamp/properties/brightness", "application/json", "42", 2, &r);
    assert_int_equal(r.error, SOUTH_HTTP_OK);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);

    call("GET", "/lamp/properties/brightness", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ct, "application/json");
    assert_int_equal(r.len, 2);
    assert_memory_equal(r.body, "42", 2);
    assert_true(r.duration_us > 0);

    call("GET", "/lamp/properties/on", NULL, NULL, 0, &r);
    bool was_on = r.len == 4 && !memcmp(r.body, "true", 4);
    call("POST", "/lamp/actions/toggle", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    json_t *j = json_of(&r);
    assert_true(json_is_boolean(json_object_get(j, "on")));
    assert_int_equal(json_is_true(json_object_get(j, "on")), !was_on);
    json_decref(j);
    call("GET", "/lamp/properties", NULL, NULL, 0, &r);
    j = json_of(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "brightness")), 42);
    assert_int_equal(json_is_true(json_object_get(j, "on")), !was_on);
    json_decref(j);

    /* device errors pass through with their bodies */
    call("PUT", "/lamp/properties/brightness", "application/json", "500", 3, &r);
    assert_int_equal(r.error, SOUTH_HTTP_OK);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr((char *)r.body, "range"));
    call("PUT", "/lamp/properties/brightness", "text/plain", "5", 1, &r);
    assert_int_equal(r.status, 415);
    assert_int_equal(south_http_active(cl), 0);
    result_free(&r);
}

/* One handle reused for HEAD, GET, PUT, DELETE, GET: nothing of one call
 * leaks into the next (method, body, headers). */
static void test_handle_reuse_methods(void **state)
{
    struct result r = {0};
    call("HEAD", "/lamp/properties/brightness", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    call("GET", "/lamp/properties/brightness", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.len > 0);
    call("PUT", "/lamp/properties/brightness", "application/json", "7", 1, &r);
    assert_int_equal(r.status, 204);
    call("DELETE", "/lamp/properties/brightness", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 405);
    call("GET", "/faulty/properties/headers", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    json_t *j = json_of(&r);
    /* no body, no content type, no Accept/Expect added by curl */
    assert_null(json_object_get(j, "content-type"));
    assert_null(json_object_get(j, "content-length"));
    assert_null(json_object_get(j, "accept"));
    assert_null(json_object_get(j, "expect"));
    assert_null(json_object_get(j, "transfer-encoding"));
    json_decref(j);
    call("GET", "/lamp/properties/brightness", NULL, NULL, 0, &r);
    assert_int_equal(r.len, 1);
    assert_memory_equal(r.body, "7", 1);
    result_free(&r);
}

static void test_request_headers(void **state)
{
    struct result r = {0};
    /* Accept only when given */
    struct south_http_request rq = {.method = "GET",
                                    .url = url("/faulty/properties/headers"),
                                    .accept = "application/json",
                                    .timeout_us = 5000 * MS};
    assert_int_equal(south_http_start(cl, &rq, done_cb, NULL, &r, NULL), 0);
    assert_true(run_until(&r.n_done, 1, 10000));
    json_t *j = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(j, "accept")), "application/json");
    json_decref(j);

    /* a large body: Content-Length, no Expect: 100-continue, no invented
     * Content-Type */
    size_t big = 1536 * 1024;
    uint8_t *b = calloc(1, big);
    assert_non_null(b);
    call("GET", "/faulty/properties/headers", NULL, b, big, &r);
    free(b);
    assert_int_equal(r.status, 200);
    j = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(j, "content-length")), "1572864");
    assert_null(json_object_get(j, "expect"));
    assert_null(json_object_get(j, "content-type"));
    json_decref(j);

    /* echo: without a content type none comes back (curl adds none) */
    call("POST", "/faulty/actions/echo", NULL, "abc", 3, &r);
    assert_int_equal(r.status, 200);
    assert_false(r.has_ct);
    assert_int_equal(r.len, 3);
    result_free(&r);
}

static void test_status_passthrough(void **state)
{
    struct result r = {0};
    call("GET", "/faulty/properties/status", NULL, NULL, 0, &r);
    assert_int_equal(r.error, SOUTH_HTTP_OK);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.ct, "application/json");
    json_t *j = json_of(&r);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "device unavailable");
    json_decref(j);
    /* a redirect is not followed */
    call("GET", "/_sim/redirect", NULL, NULL, 0, &r);
    assert_int_equal(r.error, SOUTH_HTTP_OK);
    assert_int_equal(r.status, 302);
    assert_non_null(strstr((char *)r.body, "moved"));
    /* unknown route */
    call("GET", "/lamp/properties/nosuch", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    result_free(&r);
}

static void test_binary_identity(void **state)
{
    size_t n = 200 * 1024;
    uint8_t *blob = malloc(n), *blob2 = malloc(n);
    assert_non_null(blob);
    assert_non_null(blob2);
    assert_int_equal(getrandom(blob, n, 0), (ssize_t)n);
    assert_int_equal(getrandom(blob2, n, 0), (ssize_t)n);
    blob[0] = 0; /* NUL bytes and CR LF inside */
    memcpy(blob + 100, "\r\n\r\n", 4);
    struct result r = {0};
    call("PUT", "/faulty/properties/blob", "application/x-wotgw-test; v=1", blob, n, &r);
    assert_int_equal(r.status, 204);
    call("GET", "/faulty/properties/blob", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ct, "application/x-wotgw-test; v=1");
    assert_int_equal(r.len, n);
    assert_memory_equal(r.body, blob, n);

    call("POST", "/faulty/actions/echo", "image/png", blob2, n, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ct, "image/png");
    assert_int_equal(r.len, n);
    assert_memory_equal(r.body, blob2, n);
    /* empty body */
    call("PUT", "/faulty/properties/blob", "application/octet-stream", NULL, 0, &r);
    assert_int_equal(r.status, 204);
    call("GET", "/faulty/properties/blob", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);
    assert_null(r.body);
    free(blob);
    free(blob2);
    result_free(&r);
}

static void test_timeout_and_fast_neighbour(void **state)
{
    struct result hang = {0}, fast = {0};
    uint64_t t0 = now_us();
    assert_int_equal(start("GET", url("/faulty/properties/hang"), NULL, NULL, 0, 600, &hang), 0);
    assert_int_equal(start("GET", url("/lamp/properties/on"), NULL, NULL, 0, 5000, &fast), 0);
    assert_true(run_until(&fast.n_done, 1, 5000));
    assert_int_equal(fast.error, SOUTH_HTTP_OK);
    assert_int_equal(fast.status, 200);
    assert_true(fast.done_at - t0 < 400 * MS);
    assert_int_equal(hang.n_done, 0);
    assert_true(run_until(&hang.n_done, 1, 5000));
    assert_int_equal(hang.error, SOUTH_HTTP_TIMEOUT);
    assert_int_equal(hang.status, 0);
    uint64_t took = hang.done_at - t0;
    assert_true(took >= 550 * MS);
    assert_true(took < 1500 * MS);
    assert_true(hang.duration_us >= 550 * MS);
    /* slow (300 ms) within a 2 s timeout answers */
    struct result slow = {0};
    assert_int_equal(start("GET", url("/faulty/properties/slow"), NULL, NULL, 0, 2000, &slow), 0);
    assert_true(run_until(&slow.n_done, 1, 5000));
    assert_int_equal(slow.error, SOUTH_HTTP_OK);
    assert_int_equal(slow.status, 200);
    assert_true(slow.duration_us >= 250 * MS);
    result_free(&hang);
    result_free(&fast);
    result_free(&slow);
}

static void test_connect_refused(void **state)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    close(s); /* nothing listens there now */
    char u[64];
    snprintf(u, sizeof(u), "http://127.0.0.1:%u/x", ntohs(a.sin_port));
    struct result r = {0};
    uint64_t t0 = now_us();
    assert_int_equal(start("GET", u, NULL, NULL, 0, 5000, &r), 0);
    assert_true(run_until(&r.n_done, 1, 5000));
    assert_int_equal(r.error, SOUTH_HTTP_CONNECT);
    assert_true(r.done_at - t0 < 1000 * MS);
    /* a name that does not resolve */
    struct result r2 = {0};
    /* (a generous timeout: with an unreachable name server the resolver
     * itself takes its 2 x 5 s before it gives up) */
    assert_int_equal(start("GET", "http://nosuchhost.invalid/x", NULL, NULL, 0, 30000, &r2), 0);
    assert_true(run_until(&r2.n_done, 1, 35000));
    assert_int_equal(r2.error, SOUTH_HTTP_CONNECT);
}

static void test_dns_name(void **state)
{
    char u[128];
    snprintf(u, sizeof(u), "http://localhost:%u/lamp/properties/on", dev_port);
    struct result r = {0};
    assert_int_equal(start("GET", u, NULL, NULL, 0, 5000, &r), 0);
    assert_true(run_until(&r.n_done, 1, 8000));
    assert_int_equal(r.error, SOUTH_HTTP_OK);
    assert_int_equal(r.status, 200);
    result_free(&r);
}

static void test_broken(void **state)
{
    struct result r = {0};
    call("GET", "/faulty/properties/broken", NULL, NULL, 0, &r);
    assert_int_equal(r.error, SOUTH_HTTP_PROTOCOL);
    /* the client is fine afterwards */
    call("GET", "/lamp/properties/on", NULL, NULL, 0, &r);
    assert_int_equal(r.error, SOUTH_HTTP_OK);
    result_free(&r);
}

static void test_too_large(void **state)
{
    uint8_t buf[5000];
    memset(buf, 'x', sizeof(buf));
    struct result r = {0};
    call("PUT", "/faulty/properties/blob", "text/plain", buf, sizeof(buf), &r);
    assert_int_equal(r.status, 204);
    /* with a Content-Length over the limit */
    struct south_http_request rq = {.method = "GET",
                                    .url = url("/faulty/properties/blob"),
                                    .timeout_us = 5000 * MS,
                                    .max_response = 1000};
    assert_int_equal(south_http_start(cl, &rq, done_cb, NULL, &r, NULL), 0);
    assert_true(run_until(&r.n_done, 2, 5000));
    assert_int_equal(r.error, SOUTH_HTTP_TOO_LARGE);
    /* exactly at the limit is fine */
    rq.max_response = sizeof(buf);
    assert_int_equal(south_http_start(cl, &rq, done_cb, NULL, &r, NULL), 0);
    assert_true(run_until(&r.n_done, 3, 5000));
    assert_int_equal(r.error, SOUTH_HTTP_OK);
    assert_int_equal(r.len, sizeof(buf));
    /* without a Content-Length (the SSE stream read as one body) */
    struct result s = {0};
    struct south_http_request sq = {.method = "GET",
                                    .url = url("/lamp/events/overheated/sse"),
                                    .timeout_us = 5000 * MS,
                                    .max_response = 30};
    assert_int_equal(south_http_start(cl, &sq, done_cb, NULL, &s, NULL), 0);
    assert_true(run_until(&s.n_done, 1, 6000));
    assert_int_equal(s.error, SOUTH_HTTP_TOO_LARGE);
    assert_true(s.duration_us < 4000 * MS);
    result_free(&r);
    result_free(&s);
}

static void start_fast(struct result *r)
{
    r->then = NULL;
    assert_int_equal(start("GET", url("/lamp/properties/on"), NULL, NULL, 0, 5000, r), 0);
}

static struct result *next_after;

static void start_next(struct result *r)
{
    start_fast(next_after);
}

static void test_cancel(void **state)
{
    /* in flight */
    struct result a = {0};
    assert_int_equal(start("GET", url("/faulty/properties/hang"), NULL, NULL, 0, 500, &a), 0);
    run_for(100);
    assert_int_equal(south_http_active(cl), 1);
    south_http_cancel(a.call);
    assert_int_equal(south_http_active(cl), 0);
    run_for(700); /* past its timeout */
    assert_int_equal(a.n_done, 0);

    /* right after the start, before the loop ran */
    struct result b = {0};
    assert_int_equal(start("GET", url("/lamp/properties/on"), NULL, NULL, 0, 500, &b), 0);
    south_http_cancel(b.call);
    run_for(200);
    assert_int_equal(b.n_done, 0);

    /* from inside done(): cancel another call, start a new one */
    struct result fast = {0}, hang = {0}, next = {0};
    assert_int_equal(start("GET", url("/faulty/properties/hang"), NULL, NULL, 0, 800, &hang), 0);
    assert_int_equal(start("GET", url("/lamp/properties/on"), NULL, NULL, 0, 5000, &fast), 0);
    fast.cancel_other = &hang;
    next_after = &next;
    fast.then = start_next; /* starts next from inside fast's done() */
    assert_true(run_until(&next.n_done, 1, 5000));
    assert_int_equal(fast.n_done, 1);
    assert_int_equal(next.status, 200);
    run_for(1000); /* past hang's timeout */
    assert_int_equal(hang.n_done, 0);
    assert_int_equal(south_http_active(cl), 0);
    result_free(&fast);
    result_free(&next);
}

static struct result chain_results[21];

static void chain_next(struct result *r)
{
    size_t i = (size_t)(r - chain_results);
    if (i + 1 < 20) {
        chain_results[i + 1].then = chain_next;
        assert_int_equal(start("GET", url("/lamp/properties/brightness"), NULL, NULL, 0, 5000,
                               &chain_results[i + 1]),
                         0);
    }
}

static int64_t device_connections(void)
{
    struct result r = {0};
    call("GET", "/_sim/stats", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    json_t *j = json_of(&r);
    int64_t n = json_integer_value(json_object_get(j, "connections"));
    json_decref(j);
    result_free(&r);
    return n;
}

/* 20 sequential requests, each started from the previous one's done(),
 * reuse one keep-alive connection. */
static void test_connection_reuse(void **state)
{
    int64_t before = device_connections(); /* opens the connection */
    memset(chain_results, 0, sizeof(chain_results));
    chain_results[0].then = chain_next;
    assert_int_equal(start("GET", url("/lamp/properties/brightness"), NULL, NULL, 0, 5000,
                           &chain_results[0]),
                     0);
    assert_true(run_until(&chain_results[19].n_done, 1, 10000));
    for (int i = 0; i < 20; i++) {
        assert_int_equal(chain_results[i].status, 200);
        result_free(&chain_results[i]);
    }
    int64_t after = device_connections();
    assert_int_equal(after, before);
}

static void test_many_concurrent(void **state)
{
    enum { N = 100 };
    static struct result rs[N + 10];
    int done_total = 0;
    memset(rs, 0, sizeof(rs));
    for (int i = 0; i < N; i++)
        assert_int_equal(start("GET", url("/lamp/properties/on"), NULL, NULL, 0, 10000, &rs[i]), 0);
    for (int i = N; i < N + 10; i++) /* slow ones in between */
        assert_int_equal(start("GET", url("/faulty/properties/slow"), NULL, NULL, 0, 10000, &rs[i]),
                         0);
    assert_int_equal(south_http_active(cl), N + 10);
    uint64_t end = now_us() + 15000 * MS;
    while (now_us() < end) {
        done_total = 0;
        for (int i = 0; i < N + 10; i++)
            done_total += rs[i].n_done;
        if (done_total == N + 10)
            break;
        assert_true(sd_event_run(ev, 50 * MS) >= 0);
    }
    assert_int_equal(done_total, N + 10);
    for (int i = 0; i < N + 10; i++) {
        assert_int_equal(rs[i].n_done, 1);
        assert_int_equal(rs[i].error, SOUTH_HTTP_OK);
        assert_int_equal(rs[i].status, 200);
        result_free(&rs[i]);
    }
    assert_int_equal(south_http_active(cl), 0);
}

static void test_free_in_flight(void **state)
{
    struct result r[5] = {{0}};
    assert_int_equal(start("GET", url("/faulty/properties/hang"), NULL, NULL, 0, 500, &r[0]), 0);
    assert_int_equal(start("GET", url("/faulty/properties/slow"), NULL, NULL, 0, 5000, &r[1]), 0);
    assert_int_equal(start("POST", url("/faulty/actions/echo"), "text/plain", "hi", 2, 5000, &r[2]),
                     0);
    struct south_http_request sq = {
            .method = "GET", .url = url("/lamp/events/overheated/sse"), .stream = true};
    assert_int_equal(south_http_start(cl, &sq, done_cb, chunk_cb, &r[3], NULL), 0);
    assert_int_equal(start("GET", url("/lamp/properties/on"), NULL, NULL, 0, 5000, &r[4]), 0);
    run_for(30);
    int seen[5];
    for (int i = 0; i < 5; i++)
        seen[i] = r[i].n_done;
    assert_int_equal(seen[0] + seen[1] + seen[3], 0); /* hang, slow, stream: in flight */
    assert_true(south_http_active(cl) >= 3);
    south_http_free(cl);
    cl = NULL;
    run_for(800);
    for (int i = 0; i < 5; i++) /* no done() after the free */
        assert_int_equal(r[i].n_done, seen[i]);
    for (int i = 0; i < 5; i++)
        result_free(&r[i]);
    assert_int_equal(south_http_new(ev, &cl), 0); /* for teardown */
}

static int unpause_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    struct result *r = ud;
    r->paused = false;
    r->resumed_at = now_us();
    south_http_unpause(r->call);
    return 0;
}

static void test_stream_pause(void **state)
{
    struct result r = {0};
    r.pause_at = 1;
    r.cancel_after_events = 4;
    struct south_http_request rq = {.method = "GET",
                                    .url = url("/lamp/events/overheated/sse"),
                                    .accept = "text/event-stream",
                                    .stream = true};
    assert_int_equal(south_http_start(cl, &rq, done_cb, chunk_cb, &r, &r.call), 0);
    /* the head comes before any event (events every 100 ms) */
    assert_true(run_until(&r.n_heads, 1, 5000));
    assert_int_equal(r.head_status, 200);
    assert_string_equal(r.head_ct, "text/event-stream");
    assert_int_equal(r.n_chunks, 0);
    /* first chunk: paused; unpaused 300 ms later from a timer */
    assert_true(run_until(&r.n_chunks, 1, 5000));
    assert_true(r.paused);
    sd_event_source *t = NULL;
    assert_true(sd_event_add_time_relative(ev, &t, CLOCK_MONOTONIC, 300 * MS, 1, unpause_cb, &r) >=
                0);
    uint64_t resumed_wait = now_us() + 5000 * MS;
    while (!r.resumed_at && now_us() < resumed_wait)
        assert_true(sd_event_run(ev, 50 * MS) >= 0);
    assert_true(r.resumed_at > 0);
    assert_int_equal(r.n_chunks, 1); /* nothing while paused */
    assert_false(r.chunk_while_paused);
    /* the same bytes again, then more, until chunk() cancels after 4 events */
    uint64_t end = now_us() + 5000 * MS;
    while (r.call && now_us() < end)
        assert_true(sd_event_run(ev, 50 * MS) >= 0);
    assert_null(r.call);
    assert_true(r.same_again);
    assert_true(r.resumed_at - r.paused_at >= 290 * MS);
    assert_false(r.chunk_before_head);
    assert_int_equal(r.n_heads, 1);
    assert_true(count_events(&r) >= 4);
    run_for(300);
    assert_int_equal(r.n_done, 0); /* cancelled: no done */
    assert_int_equal(south_http_active(cl), 0);
    sd_event_source_unref(t);
    /* the client works on after a cancelled stream (its handle is reused) */
    struct result g = {0};
    call("GET", "/lamp/properties/on", NULL, NULL, 0, &g);
    assert_int_equal(g.status, 200);
    result_free(&g);
}

/* A stream that ends: head, chunk, then done() with no body. */
static void test_stream_end(void **state)
{
    struct result r = {0};
    struct south_http_request rq = {
            .method = "GET", .url = url("/lamp/properties"), .stream = true, .timeout_us = 0};
    assert_int_equal(south_http_start(cl, &rq, done_cb, chunk_cb, &r, &r.call), 0);
    assert_true(run_until(&r.n_done, 1, 5000));
    assert_int_equal(r.error, SOUTH_HTTP_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.n_heads, 1);
    assert_true(r.n_chunks >= 1);
    assert_false(r.chunk_before_head);
    assert_int_equal(r.len, 0);
    assert_non_null(memmem(r.sbuf, r.slen, "brightness", 10));
    /* an empty answer still gets its head before done() */
    struct result e = {0};
    rq.url = url("/lamp/_trigger/overheated");
    rq.method = "POST";
    assert_int_equal(south_http_start(cl, &rq, done_cb, chunk_cb, &e, NULL), 0);
    assert_true(run_until(&e.n_done, 1, 5000));
    assert_int_equal(e.n_heads, 1);
    assert_int_equal(e.head_status, 204);
    assert_int_equal(e.n_chunks, 0);
    result_free(&r);
}

/* The device's long-poll: the observe call answers when the value changes. */
static void test_longpoll(void **state)
{
    struct result obs = {0}, put = {0};
    call("PUT", "/lamp/properties/brightness", "application/json", "10", 2, &put);
    assert_int_equal(
            start("GET", url("/lamp/properties/brightness/observe"), NULL, NULL, 0, 5000, &obs), 0);
    run_for(200);
    assert_int_equal(obs.n_done, 0);
    call("PUT", "/lamp/properties/brightness", "application/json", "11", 2, &put);
    assert_true(run_until(&obs.n_done, 1, 5000));
    assert_int_equal(obs.status, 200);
    assert_int_equal(obs.len, 2);
    assert_memory_equal(obs.body, "11", 2);
    result_free(&obs);
    result_free(&put);
}

static void ignore_done(void *ud, const struct south_http_response *r)
{
    fail_msg("done() must not be called");
}

static void test_invalid(void **state)
{
    struct south_http_request rq = {.method = "GET", .url = "https://127.0.0.1/x"};
    assert_int_equal(south_http_start(cl, &rq, ignore_done, NULL, NULL, NULL), -EINVAL);
    rq.url = "ftp://127.0.0.1/x";
    assert_int_equal(south_http_start(cl, &rq, ignore_done, NULL, NULL, NULL), -EINVAL);
    rq.url = "/relative";
    assert_int_equal(south_http_start(cl, &rq, ignore_done, NULL, NULL, NULL), -EINVAL);
    rq.url = url("/lamp/properties/on");
    rq.method = "GE T";
    assert_int_equal(south_http_start(cl, &rq, ignore_done, NULL, NULL, NULL), -EINVAL);
    rq.method = "";
    assert_int_equal(south_http_start(cl, &rq, ignore_done, NULL, NULL, NULL), -EINVAL);
    rq.method = "PUT";
    rq.content_type = "application/json\r\nX-Injected: 1";
    assert_int_equal(south_http_start(cl, &rq, ignore_done, NULL, NULL, NULL), -EINVAL);
    rq.content_type = NULL;
    rq.accept = "a\nb";
    assert_int_equal(south_http_start(cl, &rq, ignore_done, NULL, NULL, NULL), -EINVAL);
    rq.accept = NULL;
    rq.stream = true; /* a stream needs chunk() */
    assert_int_equal(south_http_start(cl, &rq, ignore_done, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(south_http_active(cl), 0);
    run_for(100);
    assert_string_equal(south_http_error_name(SOUTH_HTTP_TIMEOUT), "timeout");
    assert_string_equal(south_http_error_name(SOUTH_HTTP_CONNECT), "connect");
    /* safe on NULL */
    south_http_cancel(NULL);
    south_http_unpause(NULL);
    south_http_free(NULL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_get_put_post, setup, teardown),
            cmocka_unit_test_setup_teardown(test_handle_reuse_methods, setup, teardown),
            cmocka_unit_test_setup_teardown(test_request_headers, setup, teardown),
            cmocka_unit_test_setup_teardown(test_status_passthrough, setup, teardown),
            cmocka_unit_test_setup_teardown(test_binary_identity, setup, teardown),
            cmocka_unit_test_setup_teardown(test_timeout_and_fast_neighbour, setup, teardown),
            cmocka_unit_test_setup_teardown(test_connect_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_dns_name, setup, teardown),
            cmocka_unit_test_setup_teardown(test_broken, setup, teardown),
            cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
            cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
            cmocka_unit_test_setup_teardown(test_connection_reuse, setup, teardown),
            cmocka_unit_test_setup_teardown(test_many_concurrent, setup, teardown),
            cmocka_unit_test_setup_teardown(test_free_in_flight, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stream_pause, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stream_end, setup, teardown),
            cmocka_unit_test_setup_teardown(test_longpoll, setup, teardown),
            cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, start_device, stop_device);
}
