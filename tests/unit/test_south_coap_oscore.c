/* test_south_coap_oscore.c - the CoAP device client (south/coap.c) passing
 * OSCORE (RFC 8613) through to a device that speaks it itself: the real
 * simulated device (build/wotgw-simdev --coap-listen --oscore-contexts,
 * its contexts file written here) on a real sd-event loop. The test plays
 * the consumer that holds the device's context (objsec/oscore.c, client
 * side); the client under test only carries the outer messages: the
 * OSCORE option and the ciphertext reach the device byte for byte (its
 * log line), no Uri-Path goes outside (else the device would refuse the
 * request in clear), Uri-Host only for a host name, and the device's
 * outer answer (OSCORE option, code, payload) comes back as it was. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "objsec/oscore.h"
#include "south/coap.h"
#include "util.h"

#include "simdev_testutil.h"

#define MS 1000ull

static pid_t dev_pid = -1;
static unsigned coap_port;
static char dir[] = "/tmp/wotgw-south-oscore.XXXXXX";
static char log_path[PATH_MAX];
static sd_event *ev;
static struct south_coap *cl;
static struct oscore_ctx *octx; /* the consumer's side of the device's context */

/* the device's side: sender 01 (the device), recipient 02 (the consumer) */
static const char SECRET_HEX[] = "0102030405060708090a0b0c0d0e0f10";

/* ---- the device ------------------------------------------------------------------ */

static int start_device(void **state)
{
    char exe[PATH_MAX], dev[PATH_MAX + 32], ctxs[PATH_MAX], coap[64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0 || !mkdtemp(dir))
        return -1;
    exe[n] = '\0';
    snprintf(dev, sizeof(dev), "%s/../wotgw-simdev", dirname(exe));
    snprintf(ctxs, sizeof(ctxs), "%s/oscore", dir);
    snprintf(log_path, sizeof(log_path), "%s/simdev.log", dir);
    char line[256];
    int len = snprintf(line, sizeof(line),
                       "consumer sender_id=01 recipient_id=02 master_secret=%s\n", SECRET_HEX);
    if (util_write_file_atomic(ctxs, line, (size_t)len, 0600) < 0)
        return -1;
    coap_port = free_udp_port();
    snprintf(coap, sizeof(coap), "127.0.0.1:%u", coap_port);
    if (!coap_port)
        return -1;
    dev_pid = simdev_oscore_start(dev, coap, ctxs, log_path, true);
    if (dev_pid < 0)
        return -1;
    /* the consumer's side: the IDs swapped */
    return simdev_consumer_ctx(SECRET_HEX, &octx);
}

static int stop_device(void **state)
{
    oscore_ctx_free(octx);
    if (dev_pid <= 0)
        return 0;
    kill(dev_pid, SIGTERM);
    int st = 0;
    int r = waitpid(dev_pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 ? -1 : 0;
    if (r < 0)
        fprintf(stderr, "wotgw-simdev did not exit 0 on SIGTERM (status 0x%x)\n", st);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        r = -1;
    return r;
}

static int setup(void **state)
{
    if (sd_event_new(&ev) < 0)
        return -1;
    return south_coap_new(ev, &cl) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    south_coap_free(cl);
    cl = NULL;
    ev = sd_event_unref(ev);
    return 0;
}

/* ---- one outer exchange ---------------------------------------------------------- */

struct result {
    int n_done;
    enum south_coap_error error;
    uint8_t code;
    bool has_oscore;
    uint8_t opt[64];
    size_t opt_len;
    uint8_t body[2048];
    size_t len;
};

static void done_cb(void *ud, const struct south_coap_response *r)
{
    struct result *res = ud;
    res->n_done++;
    res->error = r->error;
    res->code = r->code;
    res->has_oscore = r->has_oscore;
    res->opt_len = r->oscore_option_len < sizeof(res->opt) ? r->oscore_option_len : 0;
    if (res->opt_len)
        memcpy(res->opt, r->oscore_option, res->opt_len);
    res->len = r->body_len < sizeof(res->body) ? r->body_len : 0;
    if (res->len)
        memcpy(res->body, r->body, res->len);
}

static bool run_until(const int *counter, int target, uint64_t timeout_ms)
{
    uint64_t end = now_us() + timeout_ms * MS;
    while (*counter < target && now_us() < end)
        assert_true(sd_event_run(ev, 50 * MS) >= 0);
    return *counter >= target;
}

/* The value of the OSCORE option in an outer message. */
static const struct oscore_option *find_opt(const struct oscore_msg *m, uint16_t number)
{
    for (size_t i = 0; i < m->n_opts; i++)
        if (m->opts[i].number == number)
            return &m->opts[i];
    return NULL;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = '\0';
}

/* The device's last log line of kind ("request" / "answer"). */
static bool last_log(const char *kind, char *line, size_t cap)
{
    FILE *f = fopen(log_path, "r");
    char buf[8192], needle[64];
    bool found = false;
    snprintf(needle, sizeof(needle), "coap oscore %s ", kind);
    if (!f)
        return false;
    while (fgets(buf, sizeof(buf), f))
        if (strstr(buf, needle)) {
            snprintf(line, cap, "%s", buf);
            found = true;
        }
    fclose(f);
    return found;
}

/* A protected request (inner code, Uri-Path segments of path, payload,
 * Content-Format 50 when there is one, an inner Echo when echo_len) sent
 * through the client to url; the device's outer answer in r; the inner
 * answer in inner (pointing into ibuf). */
struct exchange {
    struct result r;
    struct oscore_req req;
    struct oscore_msg outer, inner;
    uint8_t obuf[2048], ibuf[2048];
    char sent_opt_hex[160], sent_pay_hex[4200];
};

static void exchange(const char *url, uint8_t code, const char *path, const char *payload,
                     const uint8_t *echo, size_t echo_len, bool tamper, struct exchange *x)
{
    struct oscore_msg plain = {.code = code};
    char segs[256];
    snprintf(segs, sizeof(segs), "%s", path);
    for (char *sp = NULL, *s = strtok_r(segs, "/", &sp); s; s = strtok_r(NULL, "/", &sp))
        plain.opts[plain.n_opts++] = (struct oscore_option){
                .number = OSCORE_OPT_URI_PATH, .len = (uint16_t)strlen(s), .value = (uint8_t *)s};
    static const uint8_t cf50[] = {50};
    if (payload) {
        plain.opts[plain.n_opts++] =
                (struct oscore_option){.number = 12, .len = 1, .value = cf50}; /* Content-Format */
        plain.payload = (const uint8_t *)payload;
        plain.payload_len = strlen(payload);
    }
    if (echo_len)
        plain.opts[plain.n_opts++] =
                (struct oscore_option){.number = 252, .len = (uint16_t)echo_len, .value = echo};
    memset(&x->r, 0, sizeof(x->r));
    assert_int_equal(
            oscore_protect_request(octx, &plain, &x->outer, x->obuf, sizeof(x->obuf), &x->req), 0);
    const struct oscore_option *o = find_opt(&x->outer, OSCORE_OPT_OSCORE);
    assert_non_null(o);
    assert_int_equal(x->outer.code, OSCORE_CODE_POST);
    uint8_t pay[2048];
    memcpy(pay, x->outer.payload, x->outer.payload_len);
    if (tamper)
        pay[0] ^= 1;
    hex(o->value, o->len, x->sent_opt_hex);
    hex(pay, x->outer.payload_len, x->sent_pay_hex);
    struct south_coap_request rq = {
            .method = x->outer.code,
            .url = url,
            .content_format = -1,
            .body = pay,
            .body_len = x->outer.payload_len,
            .timeout_us = 5000 * MS,
            .oscore = true,
            .oscore_option = o->value,
            .oscore_option_len = o->len,
    };
    struct south_coap_call *call = NULL;
    assert_int_equal(south_coap_start(cl, &rq, done_cb, &x->r, &call), 0);
    assert_non_null(call);
    assert_true(run_until(&x->r.n_done, 1, 10000));
    assert_int_equal(x->r.error, SOUTH_COAP_OK);
    /* the bytes reached the device as they were sent */
    char line[8192], want[8800];
    assert_true(last_log("request", line, sizeof(line)));
    snprintf(want, sizeof(want), "option=%s payload=%s\n", x->sent_opt_hex, x->sent_pay_hex);
    if (!strstr(line, want))
        fprintf(stderr, "device log: %s want: %s", line, want);
    assert_non_null(strstr(line, want));
    x->inner = (struct oscore_msg){0};
    if (!x->r.has_oscore)
        return;
    /* ... and its answer came back as it sent it */
    char ah[160], aw[4200];
    assert_true(last_log("answer", line, sizeof(line)));
    hex(x->r.opt, x->r.opt_len, ah);
    hex(x->r.body, x->r.len, aw);
    snprintf(want, sizeof(want), "option=%s payload=%s\n", ah, aw);
    assert_non_null(strstr(line, want));
    struct oscore_msg in = {.code = x->r.code, .payload = x->r.body, .payload_len = x->r.len};
    in.opts[in.n_opts++] = (struct oscore_option){
            .number = OSCORE_OPT_OSCORE, .len = (uint16_t)x->r.opt_len, .value = x->r.opt};
    assert_int_equal(
            oscore_unprotect_response(octx, &x->req, &in, &x->inner, x->ibuf, sizeof(x->ibuf)), 0);
}

static char dev_url[128];

static const char *url_of(const char *host, const char *path)
{
    snprintf(dev_url, sizeof(dev_url), "coap://%s:%u/%s", host, coap_port, path);
    return dev_url;
}

/* ---- tests ------------------------------------------------------------------------- */

/* The first request: the device's Echo challenge (a protected 4.01 with
 * an inner Echo), then the request again with it: the value. */
static void test_echo_then_read(void **state)
{
    struct exchange *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    /* the URL's path is the device form's: it must not go outside */
    exchange(url_of("127.0.0.1", "lamp/properties/brightness"), 0x01, "lamp/properties/brightness",
             NULL, NULL, 0, false, x);
    assert_true(x->r.has_oscore);
    assert_int_equal(x->r.code, OSCORE_CODE_CHANGED);
    assert_int_equal(x->inner.code, 0x81); /* 4.01 */
    const struct oscore_option *e = find_opt(&x->inner, 252);
    assert_non_null(e);
    uint8_t echo[64];
    size_t echo_len = e->len;
    assert_true(echo_len > 0 && echo_len <= sizeof(echo));
    memcpy(echo, e->value, echo_len);

    exchange(url_of("127.0.0.1", "lamp/properties/brightness"), 0x01, "lamp/properties/brightness",
             NULL, echo, echo_len, false, x);
    assert_true(x->r.has_oscore);
    assert_int_equal(x->r.code, OSCORE_CODE_CHANGED);
    assert_int_equal(x->r.opt_len, 0); /* an answer without Partial IV: empty option */
    assert_int_equal(x->inner.code, 0x45);
    assert_int_equal(x->inner.payload_len, 2);
    assert_memory_equal(x->inner.payload, "50", 2);
    assert_int_equal(south_coap_active(cl), 0);
    free(x);
}

static void test_write_and_read_back(void **state)
{
    struct exchange *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    exchange(url_of("127.0.0.1", ""), 0x03, "lamp/properties/brightness", "37", NULL, 0, false, x);
    assert_int_equal(x->inner.code, 0x44); /* 2.04 */
    exchange(url_of("127.0.0.1", "x/y?z=1"), 0x01, "lamp/properties/brightness", NULL, NULL, 0,
             false, x);
    assert_int_equal(x->inner.code, 0x45);
    assert_int_equal(x->inner.payload_len, 2);
    assert_memory_equal(x->inner.payload, "37", 2);
    /* the device's own refusal, protected */
    exchange(url_of("127.0.0.1", ""), 0x03, "lamp/properties/brightness", "700", NULL, 0, false, x);
    assert_int_equal(x->inner.code, 0x80); /* 4.00 */
    free(x);
}

/* The options the device sees (its "headers" resource lists the option
 * numbers of the inner request, outer Class U ones merged in): Uri-Host
 * (3) only when the URL names a host. */
static void test_uri_host(void **state)
{
    struct exchange *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    exchange(url_of("127.0.0.1", ""), 0x01, "faulty/properties/headers", NULL, NULL, 0, false, x);
    assert_int_equal(x->inner.code, 0x45);
    assert_memory_equal(x->inner.payload, "[11,11,11]", x->inner.payload_len);
    exchange(url_of("localhost", ""), 0x01, "faulty/properties/headers", NULL, NULL, 0, false, x);
    assert_int_equal(x->inner.code, 0x45);
    assert_int_equal(x->inner.payload_len, strlen("[3,11,11,11]"));
    assert_memory_equal(x->inner.payload, "[3,11,11,11]", x->inner.payload_len);
    free(x);
}

/* The device's unprotected OSCORE errors (RFC 8613 section 8.2) come back
 * as they are: no OSCORE option, the code and the diagnostic. */
static void test_device_errors(void **state)
{
    struct exchange *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    exchange(url_of("127.0.0.1", ""), 0x01, "lamp/properties/on", NULL, NULL, 0, true, x);
    assert_false(x->r.has_oscore);
    assert_int_equal(x->r.code, 0x80);
    assert_int_equal(x->r.len, strlen("Decryption failed"));
    assert_memory_equal(x->r.body, "Decryption failed", x->r.len);
    free(x);
}

/* What the client refuses before sending anything. */
static void test_invalid(void **state)
{
    struct result r = {0};
    struct south_coap_call *call = (struct south_coap_call *)&r;
    static const uint8_t opt[] = {0x09, 0x01, 0x02};
    struct south_coap_request rq = {
            .method = OSCORE_CODE_POST,
            .url = url_of("127.0.0.1", ""),
            .content_format = 50, /* the outer message has none */
            .oscore = true,
            .oscore_option = opt,
            .oscore_option_len = sizeof(opt),
    };
    assert_int_equal(south_coap_start(cl, &rq, done_cb, &r, &call), -EINVAL);
    assert_null(call);
    rq.content_format = -1;
    call = (struct south_coap_call *)&r;
    rq.method = 0x01;
    assert_int_equal(south_coap_observe(cl, &rq, done_cb, done_cb, &r, &call), -EINVAL);
    assert_null(call);
    rq.url = "coap://device.example/";
    assert_int_equal(south_coap_start(cl, &rq, done_cb, &r, &call), -EINVAL);
    rq.url = "http://127.0.0.1/";
    assert_int_equal(south_coap_start(cl, &rq, done_cb, &r, &call), -EINVAL);
    assert_int_equal(south_coap_active(cl), 0);
    sd_event_run(ev, 10 * MS);
    assert_int_equal(r.n_done, 0);
}

/* Nobody answers: the device timeout, as for any call. */
static void test_timeout(void **state)
{
    struct result r = {0};
    unsigned port = free_udp_port();
    char u[64];
    snprintf(u, sizeof(u), "coap://127.0.0.1:%u/", port);
    static const uint8_t opt[] = {0x09, 0x01, 0x02};
    static const uint8_t pay[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct south_coap_request rq = {
            .method = OSCORE_CODE_POST,
            .url = u,
            .content_format = -1,
            .body = pay,
            .body_len = sizeof(pay),
            .timeout_us = 300 * MS,
            .oscore = true,
            .oscore_option = opt,
            .oscore_option_len = sizeof(opt),
    };
    struct south_coap_call *call = NULL;
    assert_int_equal(south_coap_start(cl, &rq, done_cb, &r, &call), 0);
    assert_true(run_until(&r.n_done, 1, 5000));
    assert_true(r.error == SOUTH_COAP_TIMEOUT || r.error == SOUTH_COAP_CONNECT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_echo_then_read, setup, teardown),
            cmocka_unit_test_setup_teardown(test_write_and_read_back, setup, teardown),
            cmocka_unit_test_setup_teardown(test_uri_host, setup, teardown),
            cmocka_unit_test_setup_teardown(test_device_errors, setup, teardown),
            cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
            cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, start_device, stop_device);
}
