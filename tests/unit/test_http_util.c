/* test_http_util.c - north/http_util.c: paths and routes, credentials from
 * headers, challenges, problem bodies, header filters, SSE. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "north/http_util.h"
#include "policy.h"
#include "util.h"

/* ---- paths ------------------------------------------------------------------------ */

static int split(const char *path, const char **segs, size_t max, size_t *n, char *buf)
{
    return http_path_split(path, buf, strlen(path) + 1, segs, max, n);
}

static void test_path_split(void **state)
{
    char buf[256];
    const char *s[8];
    size_t n;
    assert_int_equal(split("/", s, 8, &n, buf), 0);
    assert_int_equal(n, 0);
    assert_int_equal(split("/things/lamp", s, 8, &n, buf), 0);
    assert_int_equal(n, 2);
    assert_string_equal(s[0], "things");
    assert_string_equal(s[1], "lamp");
    /* %2F stays inside its segment; decoding after splitting */
    assert_int_equal(split("/things/a%2Fb/properties/x%20y", s, 8, &n, buf), 0);
    assert_int_equal(n, 4);
    assert_string_equal(s[1], "a/b");
    assert_string_equal(s[3], "x y");
    /* UTF-8 through percent-encoding */
    assert_int_equal(split("/p/%C3%A9", s, 8, &n, buf), 0);
    assert_string_equal(s[1], "\xc3\xa9");
    assert_int_equal(split("/p/%F0%9F%92%A1%E2%82%AC", s, 8, &n, buf), 0);
    /* empty segments are kept */
    assert_int_equal(split("/things/", s, 8, &n, buf), 0);
    assert_int_equal(n, 2);
    assert_string_equal(s[1], "");
    assert_int_equal(split("//x", s, 8, &n, buf), 0);
    assert_int_equal(n, 2);
    /* refused */
    static const char *const bad[] = {
            "things", "",      "/a/../b", "/a/./b", "/..",        "/a/%2e%2E", "/a/%2E",
            "/a/%",   "/a/%4", "/a/%zz",  "/a/%00", "/a/%0a",     "/a/%7f",    "/a b",
            "/a\"b",  "/a<b",  "/a\\b",   "/a\x01", "/a\xc3\xa9", "/a/b#c",    "/a?b",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int r = split(bad[i], s, 8, &n, buf);
        if (r != -EINVAL)
            fail_msg("'%s' gave %d", bad[i], r);
    }
    /* "..." is an ordinary name */
    assert_int_equal(split("/a/...", s, 8, &n, buf), 0);
    /* bounds */
    assert_int_equal(split("/a/b/c", s, 2, &n, buf), -E2BIG);
    char *longp = malloc(HTTP_PATH_MAX + 2);
    assert_non_null(longp);
    memset(longp, 'a', HTTP_PATH_MAX + 1);
    longp[0] = '/';
    longp[HTTP_PATH_MAX + 1] = '\0';
    char *big = malloc(HTTP_PATH_MAX + 2);
    assert_non_null(big);
    assert_int_equal(http_path_split(longp, big, HTTP_PATH_MAX + 2, s, 8, &n), -E2BIG);
    longp[HTTP_PATH_MAX] = '\0';
    assert_int_equal(http_path_split(longp, big, HTTP_PATH_MAX + 2, s, 8, &n), 0);
    /* too small a buffer */
    assert_int_equal(http_path_split("/abc", buf, 3, s, 8, &n), -ENOBUFS);
    free(longp);
    free(big);
}

static void test_routes(void **state)
{
    char buf[256];
    struct http_route r;
    static const struct {
        const char *path;
        enum http_route_kind kind;
        const char *thing, *aff;
    } cases[] = {
            {"/.well-known/wot", HTTP_ROUTE_WELLKNOWN, NULL, NULL},
            {"/things", HTTP_ROUTE_THINGS, NULL, NULL},
            {"/things/lamp", HTTP_ROUTE_TD, "lamp", NULL},
            {"/things/lamp/properties", HTTP_ROUTE_READALL, "lamp", NULL},
            {"/things/lamp/properties/on", HTTP_ROUTE_PROPERTY, "lamp", "on"},
            {"/things/lamp/properties/on/observe", HTTP_ROUTE_OBSERVE, "lamp", "on"},
            {"/things/lamp/properties/observe", HTTP_ROUTE_PROPERTY, "lamp", "observe"},
            {"/things/lamp/actions/toggle", HTTP_ROUTE_ACTION, "lamp", "toggle"},
            {"/things/lamp/events/overheated", HTTP_ROUTE_EVENT, "lamp", "overheated"},
            {"/things/l%61mp/actions/a%2Fb", HTTP_ROUTE_ACTION, "lamp", "a/b"},
            {"/", HTTP_ROUTE_NONE, NULL, NULL},
            {"/things/", HTTP_ROUTE_NONE, NULL, NULL},
            {"/things/lamp/", HTTP_ROUTE_NONE, "lamp", NULL},
            {"/things/lamp/actions", HTTP_ROUTE_NONE, "lamp", NULL},
            {"/things/lamp/actions/", HTTP_ROUTE_NONE, "lamp", NULL},
            {"/things/lamp/actions/toggle/observe", HTTP_ROUTE_NONE, "lamp", "toggle"},
            {"/things/lamp/nothing/x", HTTP_ROUTE_NONE, "lamp", "x"},
            {"/.well-known/wot/x", HTTP_ROUTE_NONE, NULL, NULL},
            {"/Things/lamp", HTTP_ROUTE_NONE, NULL, NULL},
            {"/things/a/b/c/d/e/f/g/h/i", HTTP_ROUTE_NONE, NULL, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        assert_int_equal(http_route_parse(cases[i].path, buf, sizeof(buf), &r), 0);
        if (r.kind != cases[i].kind)
            fail_msg("%s: kind %d, want %d", cases[i].path, r.kind, cases[i].kind);
        if (cases[i].kind == HTTP_ROUTE_NONE)
            continue;
        if (cases[i].thing)
            assert_string_equal(r.thing, cases[i].thing);
        else
            assert_null(r.thing);
        if (cases[i].aff)
            assert_string_equal(r.aff, cases[i].aff);
        else
            assert_null(r.aff);
    }
    assert_int_equal(http_route_parse("/things/../x", buf, sizeof(buf), &r), -EINVAL);
}

static void test_route_ops(void **state)
{
    assert_int_equal(http_route_op(HTTP_ROUTE_PROPERTY, "GET"), WOT_OP_READPROPERTY);
    assert_int_equal(http_route_op(HTTP_ROUTE_PROPERTY, "PUT"), WOT_OP_WRITEPROPERTY);
    assert_int_equal(http_route_op(HTTP_ROUTE_PROPERTY, "POST"), WOT_OP__INVALID);
    assert_int_equal(http_route_op(HTTP_ROUTE_PROPERTY, "HEAD"), WOT_OP__INVALID);
    assert_int_equal(http_route_op(HTTP_ROUTE_PROPERTY, "get"), WOT_OP__INVALID);
    assert_int_equal(http_route_op(HTTP_ROUTE_OBSERVE, "GET"), WOT_OP_OBSERVEPROPERTY);
    assert_int_equal(http_route_op(HTTP_ROUTE_ACTION, "POST"), WOT_OP_INVOKEACTION);
    assert_int_equal(http_route_op(HTTP_ROUTE_ACTION, "GET"), WOT_OP__INVALID);
    assert_int_equal(http_route_op(HTTP_ROUTE_EVENT, "GET"), WOT_OP_SUBSCRIBEEVENT);
    assert_int_equal(http_route_op(HTTP_ROUTE_READALL, "GET"), WOT_OP_READALLPROPERTIES);
    assert_int_equal(http_route_op(HTTP_ROUTE_READALL, "PUT"), WOT_OP__INVALID);
    assert_int_equal(http_route_op(HTTP_ROUTE_TD, "GET"), WOT_OP__INVALID);

    char allow[64];
    uint32_t rw = (1u << WOT_OP_READPROPERTY) | (1u << WOT_OP_WRITEPROPERTY) |
                  (1u << WOT_OP_OBSERVEPROPERTY);
    assert_int_equal(http_route_allow(HTTP_ROUTE_PROPERTY, rw, allow, sizeof(allow)), 8);
    assert_string_equal(allow, "GET, PUT");
    http_route_allow(HTTP_ROUTE_OBSERVE, rw, allow, sizeof(allow));
    assert_string_equal(allow, "GET");
    assert_int_equal(
            http_route_allow(HTTP_ROUTE_OBSERVE, 1u << WOT_OP_READPROPERTY, allow, sizeof(allow)),
            0);
    assert_string_equal(allow, "");
    http_route_allow(HTTP_ROUTE_TD, 0, allow, sizeof(allow));
    assert_string_equal(allow, "GET, HEAD");
    /* truncation never overflows */
    char tiny[5];
    http_route_allow(HTTP_ROUTE_PROPERTY, rw, tiny, sizeof(tiny));
    assert_string_equal(tiny, "GET");
}

/* ---- credentials ------------------------------------------------------------------ */

static void test_basic(void **state)
{
    char buf[HTTP_BASIC_MAX];
    struct credentials c = {0};
    /* "alice:pa:ss" */
    http_parse_authorization("Basic YWxpY2U6cGE6c3M=", &c, buf);
    assert_null(c.malformed);
    assert_string_equal(c.basic_user, "alice");
    assert_int_equal(c.basic_pass_len, 5);
    assert_memory_equal(c.basic_pass, "pa:ss", 5);
    /* scheme case-insensitive, blanks around */
    memset(&c, 0, sizeof(c));
    http_parse_authorization("  bAsIc   YWxpY2U6  ", &c, buf);
    assert_null(c.malformed);
    assert_string_equal(c.basic_user, "alice");
    assert_int_equal(c.basic_pass_len, 0);
    /* a NUL inside the password is kept in its length */
    memset(&c, 0, sizeof(c));
    http_parse_authorization("Basic YTpiAGM=", &c, buf); /* "a:b\0c" */
    assert_null(c.malformed);
    assert_int_equal(c.basic_pass_len, 3);
    assert_memory_equal(c.basic_pass, "b\0c", 3);
    static const char *const bad[] = {
            "Basic",              /* nothing */
            "Basic YWxpY2U=",     /* "alice": no colon */
            "Basic OnBhc3M=",     /* ":pass": empty user */
            "Basic YWxp!2U6cA==", /* bad alphabet */
            "Basic YWxpY2U6cA",   /* missing padding */
            "Basic AWE6Yg==",     /* "\x01a:b": control byte in user */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        memset(&c, 0, sizeof(c));
        http_parse_authorization(bad[i], &c, buf);
        if (!c.malformed || c.basic_user)
            fail_msg("'%s' accepted", bad[i]);
    }
    /* over the buffer: malformed, no overflow */
    size_t big = HTTP_BASIC_MAX * 2;
    char *v = malloc(big + 8);
    assert_non_null(v);
    memcpy(v, "Basic ", 6);
    memset(v + 6, 'Q', big);
    v[6 + big] = '\0';
    memset(&c, 0, sizeof(c));
    http_parse_authorization(v, &c, buf);
    assert_non_null(c.malformed);
    free(v);
}

static void test_bearer_apikey(void **state)
{
    char buf[HTTP_BASIC_MAX];
    struct credentials c = {0};
    http_parse_authorization("Bearer abc.DEF-_~+/.x==  ", &c, buf);
    assert_null(c.malformed);
    assert_int_equal(c.bearer_len, strlen("abc.DEF-_~+/.x=="));
    assert_memory_equal(c.bearer, "abc.DEF-_~+/.x==", c.bearer_len);
    static const char *const bad[] = {"Bearer", "Bearer a b", "Bearer a=b", "Bearer \"x\"",
                                      "Bearer ="};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        memset(&c, 0, sizeof(c));
        http_parse_authorization(bad[i], &c, buf);
        if (!c.malformed || c.bearer)
            fail_msg("'%s' accepted", bad[i]);
    }
    /* other schemes are no credential */
    memset(&c, 0, sizeof(c));
    http_parse_authorization("Digest username=x", &c, buf);
    assert_null(c.malformed);
    assert_null(c.bearer);
    assert_null(c.basic_user);
    http_parse_authorization(NULL, &c, buf);
    assert_null(c.malformed);
    /* API key */
    memset(&c, 0, sizeof(c));
    http_parse_apikey("  k3y-value \t", &c);
    assert_null(c.malformed);
    assert_int_equal(c.apikey_len, 9);
    assert_memory_equal(c.apikey, "k3y-value", 9);
    memset(&c, 0, sizeof(c));
    http_parse_apikey("   ", &c);
    assert_non_null(c.malformed);
    memset(&c, 0, sizeof(c));
    http_parse_apikey("a\x01b", &c);
    assert_non_null(c.malformed);
    memset(&c, 0, sizeof(c));
    http_parse_apikey(NULL, &c);
    assert_null(c.malformed);
    assert_null(c.apikey);
}

/* ---- responses ---------------------------------------------------------------------- */

static void test_challenges(void **state)
{
    char ch[4][HTTP_CHALLENGE_MAX];
    unsigned all = (1u << SEC_BASIC) | (1u << SEC_BEARER) | (1u << SEC_APIKEY) | (1u << SEC_CERT) |
                   (1u << SEC_NOSEC) | (1u << SEC_PSK);
    size_t n = http_challenges(all, "home", "X-Key", false, ch, 4);
    assert_int_equal(n, 4);
    assert_string_equal(ch[0], "Basic realm=\"home\", charset=\"UTF-8\"");
    assert_string_equal(ch[1], "Bearer realm=\"home\"");
    assert_string_equal(ch[2], "APIKey realm=\"home\", header=\"X-Key\"");
    assert_string_equal(ch[3], "ClientCert realm=\"home\"");
    /* oauth2 shares Bearer; invalid_token; quoting */
    n = http_challenges(1u << SEC_OAUTH2, "a\"b\\c", NULL, true, ch, 4);
    assert_int_equal(n, 1);
    assert_string_equal(ch[0], "Bearer realm=\"a\\\"b\\\\c\", error=\"invalid_token\"");
    n = http_challenges(1u << SEC_APIKEY, NULL, NULL, false, ch, 4);
    assert_string_equal(ch[0], "APIKey realm=\"wotgw\", header=\"X-API-Key\"");
    assert_int_equal(http_challenges(all, "r", NULL, false, ch, 2), 2);
    assert_int_equal(http_challenges(0, "r", NULL, false, ch, 4), 0);

    char out[256];
    char *scopes[] = {"lamp:read", "lamp:write", NULL};
    assert_true(http_insufficient_scope("home", scopes, out, sizeof(out)) > 0);
    assert_string_equal(out, "Bearer realm=\"home\", error=\"insufficient_scope\", "
                             "scope=\"lamp:read lamp:write\"");
    char *none[] = {NULL};
    http_insufficient_scope("home", none, out, sizeof(out));
    assert_string_equal(out, "Bearer realm=\"home\", error=\"insufficient_scope\"");
    assert_int_equal(http_insufficient_scope("home", scopes, out, 20), 0);
}

static void test_problem(void **state)
{
    size_t len = 0;
    char *s = http_problem_json(404, "no \"such\" thing", &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(s));
    json_error_t e;
    json_t *o = json_loads(s, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "about:blank");
    assert_string_equal(json_string_value(json_object_get(o, "title")), "Not Found");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 404);
    assert_string_equal(json_string_value(json_object_get(o, "detail")), "no \"such\" thing");
    json_decref(o);
    free(s);
    s = http_problem_json(431, NULL, NULL);
    assert_non_null(s);
    assert_non_null(strstr(s, "Request Header Fields Too Large"));
    assert_null(strstr(s, "detail"));
    free(s);
    assert_string_equal(http_status_title(413), "Content Too Large");
    assert_string_equal(http_status_title(299), "Unknown");
}

static void test_headers(void **state)
{
    assert_true(http_header_forwarded("content-type"));
    assert_true(http_header_forwarded("Accept"));
    static const char *const dropped[] = {"Authorization", "Cookie",     "X-API-Key",
                                          "Connection",    "Keep-Alive", "Proxy-Authorization",
                                          "Host",          "TE",         "Transfer-Encoding",
                                          "Upgrade",       "Forwarded",  "Content-Length"};
    for (size_t i = 0; i < ARRAY_SIZE(dropped); i++)
        assert_false(http_header_forwarded(dropped[i]));
    assert_true(http_header_hop_by_hop("connection"));
    assert_true(http_header_hop_by_hop("Proxy-Authorization"));
    assert_true(http_header_hop_by_hop("transfer-encoding"));
    assert_false(http_header_hop_by_hop("Content-Type"));

    assert_true(http_content_type_ok("application/json"));
    assert_true(http_content_type_ok("text/plain; charset=utf-8"));
    assert_true(http_content_type_ok("application/octet-stream"));
    assert_false(http_content_type_ok(""));
    assert_false(http_content_type_ok("json"));
    assert_false(http_content_type_ok("/json"));
    assert_false(http_content_type_ok("text/"));
    assert_false(http_content_type_ok("text/plain\r\nX-Evil: 1"));
    assert_false(http_content_type_ok("te xt/plain"));
    char longv[300];
    memset(longv, 'a', sizeof(longv) - 1);
    longv[0] = 'a';
    longv[1] = '/';
    longv[sizeof(longv) - 1] = '\0';
    assert_false(http_content_type_ok(longv));
}

/* ---- SSE --------------------------------------------------------------------------- */

static void test_sse_encode(void **state)
{
    char out[256];
    size_t n = http_sse_encode((const uint8_t *)"{\"a\":1}", 7, NULL, out, sizeof(out));
    assert_int_equal(n, strlen("data: {\"a\":1}\n\n"));
    assert_memory_equal(out, "data: {\"a\":1}\n\n", n);
    n = http_sse_encode((const uint8_t *)"a\r\nb\rc\nd\n", 9, "overheated", out, sizeof(out));
    out[n] = '\0';
    assert_string_equal(out, "event: overheated\ndata: a\ndata: b\ndata: c\ndata: d\ndata: \n\n");
    n = http_sse_encode(NULL, 0, "", out, sizeof(out));
    out[n] = '\0';
    assert_string_equal(out, "data: \n\n");
    /* the event name cannot break the framing */
    n = http_sse_encode((const uint8_t *)"x", 1, "a\nb", out, sizeof(out));
    out[n] = '\0';
    assert_string_equal(out, "event: a b\ndata: x\n\n");
    /* worst case fits the bound, and too small a buffer is refused */
    uint8_t nl[32];
    memset(nl, '\n', sizeof(nl));
    assert_true(http_sse_encode(nl, sizeof(nl), "e", out, sizeof(out)) > 0);
    assert_true(http_sse_encoded_max(sizeof(nl), "e") <= sizeof(out));
    assert_int_equal(http_sse_encode(nl, sizeof(nl), "e", out, 10), 0);
}

struct ev_log {
    char text[1024];
    size_t n;
};

static int on_ev(void *ud, const char *event, const uint8_t *data, size_t len)
{
    struct ev_log *l = ud;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof(l->text) - used, "[%s|%.*s]", event, (int)len,
             (const char *)data);
    l->n++;
    return 0;
}

static void feed_all(const char *in, size_t chunk, struct ev_log *l, size_t max, int want_rc)
{
    struct http_sse_parser p;
    http_sse_parser_init(&p, max);
    memset(l, 0, sizeof(*l));
    size_t len = strlen(in);
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i += chunk) {
        size_t k = len - i < chunk ? len - i : chunk;
        rc = http_sse_feed(&p, (const uint8_t *)in + i, k, on_ev, l);
    }
    assert_int_equal(rc, want_rc);
    http_sse_parser_free(&p);
}

static void test_sse_parse(void **state)
{
    static const char stream[] = "\xef\xbb\xbf: comment\n"
                                 "data: 1\n\n"
                                 "event: overheated\r\ndata:2\r\ndata:  3\r\n\r\n"
                                 "id: 7\nretry: 10\n\n" /* no data: no event */
                                 "data\n\n"             /* empty data */
                                 "event: x\ndata: 4\n" /* unterminated: not dispatched */;
    const char *want = "[|1][overheated|2\n 3][|]";
    struct ev_log l;
    for (size_t chunk = 1; chunk <= sizeof(stream); chunk++) {
        feed_all(stream, chunk, &l, 1024, 0);
        if (strcmp(l.text, want))
            fail_msg("chunk %zu: %s", chunk, l.text);
    }
    /* the event name is reset after each event */
    feed_all("event: a\ndata: 1\n\ndata: 2\n\n", 3, &l, 1024, 0);
    assert_string_equal(l.text, "[a|1][|2]");
    /* bounds: a line or an event's data over max */
    feed_all("data: 0123456789abcdef\n\n", 4, &l, 8, -EMSGSIZE);
    feed_all("data: 0123\ndata: 4567\ndata: 89ab\n\n", 4, &l, 12, -EMSGSIZE);
    feed_all("data: 0123\n\n", 4, &l, 12, 0);
    assert_string_equal(l.text, "[|0123]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_path_split),    cmocka_unit_test(test_routes),
            cmocka_unit_test(test_route_ops),     cmocka_unit_test(test_basic),
            cmocka_unit_test(test_bearer_apikey), cmocka_unit_test(test_challenges),
            cmocka_unit_test(test_problem),       cmocka_unit_test(test_headers),
            cmocka_unit_test(test_sse_encode),    cmocka_unit_test(test_sse_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
