/* test_proxy_oscore.c - proxy_oscore_forward (proxy.h): OSCORE passed
 * through to a device that speaks it itself, without a front end. The
 * real simulated device (build/wotgw-simdev --coap-listen
 * --oscore-contexts) and a real gateway state (state_load of a config
 * written here, the device's own oscore-lamp TD) on a real sd-event loop;
 * the test plays the front end and the consumer that holds the device's
 * context (objsec/oscore.c, client side). Checked: the policy of every
 * operation of the thing (401, 403 when one is not exposed, 404 for a
 * thing that is not a passthrough one), the malformed outer requests
 * (400, 413), the outer answer given back byte for byte (status 200 for
 * 2.04, application/oscore, the option), the device's unprotected errors
 * passed on, a plain request to the passthrough thing refused (400, never
 * sent in clear), a dead device (502/504), the counters, and that the
 * gateway holds no key of the device. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "objsec/oscore.h"
#include "policy.h"
#include "proxy.h"
#include "state.h"
#include "util.h"

#include "simdev_testutil.h"

#define MS 1000ull

static const char SECRET_HEX[] = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0";
static const char PASS[] = "Alice-Pass-1";

static pid_t dev_pid = -1;
static unsigned coap_port;
static char dir[] = "/tmp/wotgw-proxy-oscore.XXXXXX";
static char log_path[PATH_MAX], bindir[PATH_MAX];
static struct gw gw;
static struct oscore_ctx *octx;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    int r = system(cmd);
    free(cmd);
    return r == 0 ? 0 : -1;
}

static int write_text(const char *name, const char *text)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return util_write_file_atomic(path, text, strlen(text), 0600);
}

/* ---- the device and the gateway ----------------------------------------------------- */

static int start_all(void **state)
{
    char exe[PATH_MAX], coap[64], http[64], line[256];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0 || !mkdtemp(dir))
        return -1;
    exe[n] = '\0';
    snprintf(bindir, sizeof(bindir), "%s/..", dirname(exe));
    snprintf(log_path, sizeof(log_path), "%s/simdev.log", dir);
    snprintf(line, sizeof(line), "consumer sender_id=01 recipient_id=02 master_secret=%s\n",
             SECRET_HEX);
    if (write_text("device-oscore", line) < 0)
        return -1;
    coap_port = free_udp_port();
    unsigned dead = free_udp_port();
    snprintf(coap, sizeof(coap), "127.0.0.1:%u", coap_port);
    snprintf(http, sizeof(http), "127.0.0.1:%u", 18000 + (unsigned)(getpid() % 20000));
    /* the device's TDs, then the device */
    if (!coap_port || !dead ||
        sh("%s/wotgw-simdev --listen %s --coap-listen %s --oscore-contexts %s/device-oscore "
           "--write-tds %s/things >/dev/null 2>&1",
           bindir, http, coap, dir, dir) < 0 ||
        sh("sed 's/127.0.0.1:%u/127.0.0.1:%u/' %s/things/oscore-lamp.td.json "
           ">%s/things/dead.td.json",
           coap_port, dead, dir, dir) < 0 ||
        sh("printf '%%s\\n' '%s' | %s/wotgw-passwd -f %s/users useradd alice --stdin "
           ">/dev/null 2>&1",
           PASS, bindir, dir) < 0 ||
        sh("mkdir -p %s/state", dir) < 0)
        return -1;
    char dev[PATH_MAX + 32], ctxs[PATH_MAX + 32];
    snprintf(dev, sizeof(dev), "%s/wotgw-simdev", bindir);
    snprintf(ctxs, sizeof(ctxs), "%s/device-oscore", dir);
    dev_pid = simdev_oscore_start(dev, coap, ctxs, log_path, false);
    if (dev_pid < 0)
        return -1;
    /* the gateway: no OSCORE context of its own */
    static const char conf[] = "[gateway]\n"
                               "td_dir = things\n"
                               "state_dir = state\n"
                               "base_url = https://gw.test:8443\n"
                               "\n"
                               "[credentials]\n"
                               "users = users\n"
                               "\n"
                               "[limits]\n"
                               "device_timeout = 1500ms\n"
                               "max_body_size = 4k\n"
                               "\n"
                               "[thing lamp]\n"
                               "td = oscore-lamp.td.json\n"
                               "security = basic\n"
                               "allow = user:alice\n"
                               "\n"
                               "[thing plain]\n"
                               "td = lamp.td.json\n"
                               "security = basic\n"
                               "allow = user:alice\n"
                               "\n"
                               "[thing partial]\n"
                               "td = oscore-lamp.td.json\n"
                               "security.brightness = basic\n"
                               "allow = user:alice\n"
                               "\n"
                               "[thing dead]\n"
                               "td = dead.td.json\n"
                               "security = basic\n"
                               "allow = user:alice\n";
    if (write_text("wotgw.conf", conf) < 0)
        return -1;
    char cpath[PATH_MAX + 32];
    snprintf(cpath, sizeof(cpath), "%s/wotgw.conf", dir);
    struct diags d = {0};
    gw.config_path = strdup(cpath);
    if (state_load(cpath, &gw.state, &d) < 0) {
        diag_print(&d, stderr);
        diag_free(&d);
        return -1;
    }
    diag_free(&d);
    gw.cur = calloc(1, sizeof(*gw.cur));
    if (!gw.cur || sd_event_new(&gw.ev) < 0 || proxy_new(&gw, &gw.proxy) < 0)
        return -1;
    gw.cur->state = gw.state;
    gw.cur->refs = 1;
    /* the consumer: the device's context with the IDs swapped */
    return simdev_consumer_ctx(SECRET_HEX, &octx);
}

static int stop_all(void **state)
{
    int r = 0;
    oscore_ctx_free(octx);
    proxy_free(gw.proxy);
    gw_state_release(gw.cur);
    sd_event_unref(gw.ev);
    free((char *)gw.config_path);
    if (dev_pid > 0) {
        kill(dev_pid, SIGTERM);
        int st = 0;
        if (waitpid(dev_pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "wotgw-simdev did not exit 0 on SIGTERM (status 0x%x)\n", st);
            r = -1;
        }
    }
    if (sh("rm -rf %s", dir) < 0)
        r = -1;
    return r;
}

/* ---- one passthrough --------------------------------------------------------------- */

struct answer {
    int n_done;
    int status;
    bool from_device, has_oscore;
    char ct[64];
    uint8_t code;
    uint8_t opt[64];
    size_t opt_len;
    uint8_t body[4096];
    size_t len;
};

static void on_done(void *ud, const struct proxy_result *res)
{
    struct answer *a = ud;
    a->n_done++;
    a->status = res->status;
    a->from_device = res->from_device;
    snprintf(a->ct, sizeof(a->ct), "%s", res->content_type ? res->content_type : "");
    a->has_oscore = res->oscore && res->oscore->has_option;
    if (res->oscore) {
        a->code = res->oscore->code;
        a->opt_len = res->oscore->option_len < sizeof(a->opt) ? res->oscore->option_len : 0;
        if (a->opt_len)
            memcpy(a->opt, res->oscore->option, a->opt_len);
        assert_ptr_equal(res->oscore->payload, res->body);
        assert_int_equal(res->oscore->payload_len, res->body_len);
    }
    a->len = res->body_len < sizeof(a->body) ? res->body_len : 0;
    if (a->len)
        memcpy(a->body, res->body, a->len);
}

static int on_event(void *ud, const char *event, const uint8_t *data, size_t len, const char *ct)
{
    fail_msg("a passthrough has no events");
    return -1;
}

static const struct proxy_ops ops = {.done = on_done, .event = on_event};

static bool run_until(const int *counter, int target, uint64_t timeout_ms)
{
    uint64_t end = now_us() + timeout_ms * MS;
    while (*counter < target && now_us() < end)
        assert_true(sd_event_run(gw.ev, 50 * MS) >= 0);
    return *counter >= target;
}

static struct interaction in_for(const char *thing, const char *user, const char *pass)
{
    struct interaction in = {
            .thing = thing,
            .affordance = "ignored",
            .op = WOT_OP_INVOKEACTION, /* ignored too */
            .protocol = PROTO_HTTP,
            .peer = "127.0.0.1:9",
    };
    in.cred.basic_user = user;
    in.cred.basic_pass = pass;
    in.cred.basic_pass_len = pass ? strlen(pass) : 0;
    return in;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = '\0';
}

static bool device_logged(const char *kind, const char *want)
{
    FILE *f = fopen(log_path, "r");
    char buf[16384], last[16384] = "", needle[64];
    snprintf(needle, sizeof(needle), "coap oscore %s ", kind);
    if (!f)
        return false;
    while (fgets(buf, sizeof(buf), f))
        if (strstr(buf, needle))
            memcpy(last, buf, sizeof(last));
    fclose(f);
    if (!strstr(last, want))
        fprintf(stderr, "device: %s want: %s\n", last, want);
    return strstr(last, want) != NULL;
}

struct x {
    struct answer a;
    struct oscore_req req;
    struct oscore_msg outer, inner;
    uint8_t obuf[2048], ibuf[2048];
};

/* A protected request of the consumer through proxy_oscore_forward to
 * thing as alice: returns what proxy_oscore_forward returned; on a device
 * answer, x->a and (protected) x->inner. */
static int forward(const char *thing, uint8_t code, const char *path, const char *payload,
                   const uint8_t *echo, size_t echo_len, struct x *x)
{
    struct oscore_msg plain = {.code = code};
    char segs[256];
    snprintf(segs, sizeof(segs), "%s", path);
    for (char *sp = NULL, *s = strtok_r(segs, "/", &sp); s; s = strtok_r(NULL, "/", &sp))
        plain.opts[plain.n_opts++] = (struct oscore_option){
                .number = OSCORE_OPT_URI_PATH, .len = (uint16_t)strlen(s), .value = (uint8_t *)s};
    static const uint8_t cf50[] = {50};
    if (payload) {
        plain.opts[plain.n_opts++] = (struct oscore_option){.number = 12, .len = 1, .value = cf50};
        plain.payload = (const uint8_t *)payload;
        plain.payload_len = strlen(payload);
    }
    if (echo_len)
        plain.opts[plain.n_opts++] =
                (struct oscore_option){.number = 252, .len = (uint16_t)echo_len, .value = echo};
    memset(&x->a, 0, sizeof(x->a));
    assert_int_equal(
            oscore_protect_request(octx, &plain, &x->outer, x->obuf, sizeof(x->obuf), &x->req), 0);
    const struct oscore_option *o = NULL;
    for (size_t i = 0; i < x->outer.n_opts; i++)
        if (x->outer.opts[i].number == OSCORE_OPT_OSCORE)
            o = &x->outer.opts[i];
    assert_non_null(o);
    struct proxy_oscore_msg m = {
            .code = x->outer.code,
            .has_option = true,
            .option = o->value,
            .option_len = o->len,
            .payload = x->outer.payload,
            .payload_len = x->outer.payload_len,
    };
    struct interaction in = in_for(thing, "alice", PASS);
    struct proxy_result res;
    struct proxy_call *call = NULL;
    int r = proxy_oscore_forward(gw.proxy, &in, &m, &ops, &x->a, &call, &res);
    if (r != 0) {
        x->a.status = res.status;
        return r;
    }
    assert_non_null(call);
    assert_int_equal(x->a.n_done, 0); /* never from inside */
    assert_true(run_until(&x->a.n_done, 1, 10000));
    /* the device got the bytes the consumer sent */
    char oh[160], ph[4200], want[4400];
    hex(o->value, o->len, oh);
    hex(x->outer.payload, x->outer.payload_len, ph);
    snprintf(want, sizeof(want), "option=%s payload=%s\n", oh, ph);
    assert_true(device_logged("request", want));
    x->inner = (struct oscore_msg){0};
    if (!x->a.has_oscore)
        return 0;
    /* ... and the consumer what the device sent */
    hex(x->a.opt, x->a.opt_len, oh);
    hex(x->a.body, x->a.len, ph);
    snprintf(want, sizeof(want), "option=%s payload=%s\n", oh, ph);
    assert_true(device_logged("answer", want));
    struct oscore_msg in2 = {.code = x->a.code, .payload = x->a.body, .payload_len = x->a.len};
    in2.opts[in2.n_opts++] = (struct oscore_option){
            .number = OSCORE_OPT_OSCORE, .len = (uint16_t)x->a.opt_len, .value = x->a.opt};
    assert_int_equal(
            oscore_unprotect_response(octx, &x->req, &in2, &x->inner, x->ibuf, sizeof(x->ibuf)), 0);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_read_write(void **state)
{
    struct x *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    uint64_t req0 = gw.counters.requests;
    /* the device's Echo challenge first (a fresh device), passed through */
    assert_int_equal(forward("lamp", 0x01, "lamp/properties/brightness", NULL, NULL, 0, x), 0);
    assert_int_equal(x->a.status, 200);
    assert_true(x->a.from_device);
    assert_string_equal(x->a.ct, "application/oscore");
    assert_true(x->a.has_oscore);
    assert_int_equal(x->a.code, OSCORE_CODE_CHANGED);
    assert_int_equal(x->inner.code, 0x81);
    const struct oscore_option *e = NULL;
    for (size_t i = 0; i < x->inner.n_opts; i++)
        if (x->inner.opts[i].number == 252)
            e = &x->inner.opts[i];
    assert_non_null(e);
    uint8_t echo[64];
    size_t echo_len = e->len;
    assert_true(echo_len <= sizeof(echo));
    memcpy(echo, e->value, echo_len);
    assert_int_equal(forward("lamp", 0x01, "lamp/properties/brightness", NULL, echo, echo_len, x),
                     0);
    assert_int_equal(x->a.status, 200);
    assert_int_equal(x->inner.code, 0x45);
    assert_int_equal(x->inner.payload_len, 2);
    assert_memory_equal(x->inner.payload, "50", 2);

    assert_int_equal(forward("lamp", 0x03, "lamp/properties/brightness", "61", NULL, 0, x), 0);
    assert_int_equal(x->a.status, 200);
    assert_int_equal(x->inner.code, 0x44);
    assert_int_equal(forward("lamp", 0x01, "lamp/properties/brightness", NULL, NULL, 0, x), 0);
    assert_memory_equal(x->inner.payload, "61", 2);
    assert_int_equal(forward("lamp", 0x02, "lamp/actions/toggle", NULL, NULL, 0, x), 0);
    assert_int_equal(x->inner.code, 0x45);
    assert_int_equal(gw.counters.requests, req0 + 5);
    assert_int_equal(proxy_pending(gw.proxy), 0);
    free(x);
}

/* The device's unprotected error (RFC 8613 section 8.2) is passed on. */
static void test_device_error(void **state)
{
    struct x *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    static const uint8_t opt[] = {0x09, 0x40, 0x02}; /* piv 0x40, kid 02: not yet used */
    static const uint8_t junk[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    struct proxy_oscore_msg m = {.code = OSCORE_CODE_POST,
                                 .has_option = true,
                                 .option = opt,
                                 .option_len = sizeof(opt),
                                 .payload = junk,
                                 .payload_len = sizeof(junk)};
    struct interaction in = in_for("lamp", "alice", PASS);
    struct proxy_result res;
    struct proxy_call *call = NULL;
    assert_int_equal(proxy_oscore_forward(gw.proxy, &in, &m, &ops, &x->a, &call, &res), 0);
    assert_true(run_until(&x->a.n_done, 1, 10000));
    assert_int_equal(x->a.status, 400);
    assert_true(x->a.from_device);
    assert_false(x->a.has_oscore);
    assert_string_equal(x->a.ct, "");
    assert_int_equal(x->a.code, 0x80);
    assert_int_equal(x->a.len, strlen("Decryption failed"));
    assert_memory_equal(x->a.body, "Decryption failed", x->a.len);
    free(x);
}

/* Decided without the device. */
static void expect_done(const char *thing, const char *user, const char *pass,
                        const struct proxy_oscore_msg *m, int status, const char *detail)
{
    struct answer a = {0};
    struct interaction in = in_for(thing, user, pass);
    struct proxy_result res;
    struct proxy_call *call = (struct proxy_call *)&a;
    uint64_t n0 = gw.counters.requests;
    assert_int_equal(proxy_oscore_forward(gw.proxy, &in, m, &ops, &a, &call, &res), PROXY_DONE);
    assert_null(call);
    if (res.status != status || (detail && (!res.detail || !strstr(res.detail, detail))))
        fprintf(stderr, "%s: got %d '%s', want %d '%s'\n", thing, res.status,
                res.detail ? res.detail : "", status, detail ? detail : "");
    assert_int_equal(res.status, status);
    if (detail)
        assert_non_null(strstr(res.detail, detail));
    assert_false(res.from_device);
    assert_null(res.oscore);
    assert_int_equal(gw.counters.requests, n0 + 1);
    sd_event_run(gw.ev, 10 * MS);
    assert_int_equal(a.n_done, 0);
}

static void test_refusals(void **state)
{
    static const uint8_t opt[] = {0x09, 0x41, 0x02};
    static uint8_t big[5000];
    struct proxy_oscore_msg m = {.code = OSCORE_CODE_POST,
                                 .has_option = true,
                                 .option = opt,
                                 .option_len = sizeof(opt),
                                 .payload = big,
                                 .payload_len = 16};
    uint64_t den0 = gw.counters.denials;
    expect_done("lamp", NULL, NULL, &m, 401, NULL);
    expect_done("lamp", "alice", "wrong", &m, 401, NULL);
    assert_int_equal(gw.counters.denials, den0 + 2);
    /* a challenge for what the thing asks */
    struct interaction in = in_for("lamp", NULL, NULL);
    struct proxy_result res;
    assert_int_equal(proxy_oscore_forward(gw.proxy, &in, &m, &ops, NULL, NULL, &res), PROXY_DONE);
    assert_true(res.challenge & (1u << SEC_BASIC));
    /* an operation of the thing not exposed: nothing passes through */
    expect_done("partial", "alice", PASS, &m, 403, "does not expose every operation");
    /* not a passthrough thing, unknown things */
    expect_done("plain", "alice", PASS, &m, 404, "does not take OSCORE end to end");
    expect_done("nosuch", "alice", PASS, &m, 404, NULL);
    expect_done("nosuch", NULL, NULL, &m, 401, NULL);
    /* malformed outer requests (after the policy) */
    struct proxy_oscore_msg bad = m;
    bad.has_option = false;
    expect_done("lamp", "alice", PASS, &bad, 400, "no OSCORE option");
    bad = m;
    bad.code = 0x01; /* GET */
    expect_done("lamp", "alice", PASS, &bad, 400, "POST or a FETCH");
    bad = m;
    bad.code = 0x44;
    expect_done("lamp", "alice", PASS, &bad, 400, "POST or a FETCH");
    bad = m;
    bad.option = big;
    bad.option_len = OSCORE_OPTION_VALUE_MAX + 1;
    expect_done("lamp", "alice", PASS, &bad, 400, "too long");
    bad = m;
    bad.option = NULL;
    bad.option_len = 3;
    expect_done("lamp", "alice", PASS, &bad, 400, "malformed");
    bad = m;
    bad.payload_len = sizeof(big); /* over max_body_size = 4k */
    expect_done("lamp", "alice", PASS, &bad, 413, NULL);
    /* 401 (3 times: one thing, one unknown), 403; 404 and the malformed
     * ones are no policy denials */
    assert_int_equal(gw.counters.denials, den0 + 5);
}

/* A plain request for an operation the device offers only through OSCORE:
 * 400, and nothing reaches the device in clear. */
static void test_plain_refused(void **state)
{
    struct answer a = {0};
    struct interaction in = in_for("lamp", "alice", PASS);
    in.affordance = "brightness";
    in.op = WOT_OP_READPROPERTY;
    struct proxy_result res;
    struct proxy_call *call = NULL;
    assert_int_equal(proxy_start(gw.proxy, &in, &ops, &a, &call, &res), PROXY_DONE);
    assert_int_equal(res.status, 400);
    assert_non_null(strstr(res.detail, "OSCORE"));
    assert_int_equal(proxy_pending(gw.proxy), 0);
}

/* A device that does not answer: the device timeout, as for any call. */
static void test_dead_device(void **state)
{
    struct x *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    static const uint8_t opt[] = {0x09, 0x42, 0x02};
    static const uint8_t pay[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct proxy_oscore_msg m = {.code = OSCORE_CODE_POST,
                                 .has_option = true,
                                 .option = opt,
                                 .option_len = sizeof(opt),
                                 .payload = pay,
                                 .payload_len = sizeof(pay)};
    struct interaction in = in_for("dead", "alice", PASS);
    struct proxy_result res;
    struct proxy_call *call = NULL;
    assert_int_equal(proxy_oscore_forward(gw.proxy, &in, &m, &ops, &x->a, &call, &res), 0);
    assert_true(run_until(&x->a.n_done, 1, 10000));
    assert_true(x->a.status == 504 || x->a.status == 502);
    assert_false(x->a.from_device);
    /* and a cancelled one never calls done() */
    memset(&x->a, 0, sizeof(x->a));
    assert_int_equal(proxy_oscore_forward(gw.proxy, &in, &m, &ops, &x->a, &call, &res), 0);
    assert_int_equal(proxy_pending(gw.proxy), 1);
    proxy_cancel(call);
    assert_int_equal(proxy_pending(gw.proxy), 0);
    run_until(&x->a.n_done, 1, 300);
    assert_int_equal(x->a.n_done, 0);
    free(x);
}

/* The gateway's state holds no key of the device. */
static void test_no_device_key(void **state)
{
    assert_int_equal(sh("! grep -rqi %s %s/wotgw.conf %s/users %s/state %s/things", SECRET_HEX, dir,
                        dir, dir, dir),
                     0);
    /* the device's context file is the only place it is */
    assert_int_equal(sh("grep -q %s %s/device-oscore", SECRET_HEX, dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_read_write),  cmocka_unit_test(test_device_error),
            cmocka_unit_test(test_refusals),    cmocka_unit_test(test_plain_refused),
            cmocka_unit_test(test_dead_device), cmocka_unit_test(test_no_device_key),
    };
    return cmocka_run_group_tests(tests, start_all, stop_all);
}
