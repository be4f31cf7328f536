/* test_coap.c - the CoAP helpers: Content-Format <-> media type,
 * response codes <-> HTTP status (RFC 8075 §7), Uri-Path to request
 * path, device coap:// URLs (south/coap.c), and the CoAPS front end's
 * mapping of request PDUs to routes (coaps_map_request), malformed input
 * included. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coap_util.h"
#include "north/coaps.h"
#include "south/coap.h"

#define CC(c, d) ((uint8_t)((c) << 5 | (d)))

static void test_formats(void **state)
{
    assert_int_equal(coap_format_from_type(NULL), COAP_FORMAT_NONE);
    assert_int_equal(coap_format_from_type("text/plain"), 0);
    assert_int_equal(coap_format_from_type("text/plain; charset=utf-8"), 0);
    assert_int_equal(coap_format_from_type("application/link-format"), 40);
    assert_int_equal(coap_format_from_type("application/octet-stream"), 42);
    assert_int_equal(coap_format_from_type("application/json"), 50);
    assert_int_equal(coap_format_from_type("Application/JSON; charset=utf-8"), 50);
    assert_int_equal(coap_format_from_type("application/cbor"), 60);
    assert_int_equal(coap_format_from_type("application/senml+json"), 110);
    assert_int_equal(coap_format_from_type("application/senml+cbor"), 112);
    assert_int_equal(coap_format_from_type("application/td+json"), 432);
    assert_int_equal(coap_format_from_type("application/oscore"), 10001);
    assert_int_equal(coap_format_from_type("application/cose; cose-type=\"cose-encrypt0\""), 16);
    assert_int_equal(coap_format_from_type("application/cose; cose-type=\"cose-mac0\""), 17);
    assert_int_equal(coap_format_from_type("application/cose; cose-type=\"cose-sign1\""), 18);
    assert_int_equal(coap_format_from_type("application/cose; cose-type=\"cose-encrypt\""), 96);
    assert_int_equal(coap_format_from_type("application/cose; cose-type=\"cose-mac\""), 97);
    assert_int_equal(coap_format_from_type("application/cose; cose-type=\"cose-sign\""), 98);
    /* unknown types are never dropped: octet-stream */
    assert_int_equal(coap_format_from_type("application/cose"), 42);
    assert_int_equal(coap_format_from_type("image/png"), 42);
    assert_int_equal(coap_format_from_type(""), 42);
    assert_int_equal(coap_format_from_type("application/jsonx"), 42);

    assert_null(coap_format_to_type(COAP_FORMAT_NONE));
    assert_string_equal(coap_format_to_type(0), "text/plain");
    assert_string_equal(coap_format_to_type(50), "application/json");
    assert_string_equal(coap_format_to_type(60), "application/cbor");
    assert_string_equal(coap_format_to_type(432), "application/td+json");
    assert_string_equal(coap_format_to_type(18), "application/cose;cose-type=\"cose-sign1\"");
    assert_string_equal(coap_format_to_type(12345), "application/octet-stream");
    /* every registered number survives the round trip */
    static const int nums[] = {0, 16, 17, 18, 40, 42, 50, 60, 96, 97, 98, 110, 112, 432, 10001};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        assert_int_equal(coap_format_from_type(coap_format_to_type(nums[i])), nums[i]);
}

static void test_codes(void **state)
{
    assert_int_equal(coap_code_from_http(200, true), CC(2, 5));
    assert_int_equal(coap_code_from_http(200, false), CC(2, 4));
    assert_int_equal(coap_code_from_http(201, false), CC(2, 1));
    assert_int_equal(coap_code_from_http(204, false), CC(2, 4));
    assert_int_equal(coap_code_from_http(204, true), CC(2, 5));
    assert_int_equal(coap_code_from_http(400, true), CC(4, 0));
    assert_int_equal(coap_code_from_http(401, true), CC(4, 1));
    assert_int_equal(coap_code_from_http(403, true), CC(4, 3));
    assert_int_equal(coap_code_from_http(404, true), CC(4, 4));
    assert_int_equal(coap_code_from_http(405, true), CC(4, 5));
    assert_int_equal(coap_code_from_http(413, false), CC(4, 13));
    assert_int_equal(coap_code_from_http(415, false), CC(4, 15));
    assert_int_equal(coap_code_from_http(418, false), CC(4, 0));
    assert_int_equal(coap_code_from_http(500, true), CC(5, 0));
    assert_int_equal(coap_code_from_http(502, true), CC(5, 2));
    assert_int_equal(coap_code_from_http(503, true), CC(5, 3));
    assert_int_equal(coap_code_from_http(504, true), CC(5, 4));
    assert_int_equal(coap_code_from_http(599, true), CC(5, 0));
    assert_int_equal(coap_code_from_http(302, true), CC(5, 2));
    assert_int_equal(coap_code_from_http(100, true), CC(5, 2));

    assert_int_equal(coap_code_to_http(CC(2, 5), true), 200);
    assert_int_equal(coap_code_to_http(CC(2, 4), false), 204);
    assert_int_equal(coap_code_to_http(CC(2, 4), true), 200);
    assert_int_equal(coap_code_to_http(CC(2, 1), false), 201);
    assert_int_equal(coap_code_to_http(CC(2, 2), false), 204);
    assert_int_equal(coap_code_to_http(CC(2, 3), false), 200);
    assert_int_equal(coap_code_to_http(CC(4, 0), true), 400);
    assert_int_equal(coap_code_to_http(CC(4, 1), true), 401);
    assert_int_equal(coap_code_to_http(CC(4, 2), true), 400);
    assert_int_equal(coap_code_to_http(CC(4, 4), true), 404);
    assert_int_equal(coap_code_to_http(CC(4, 13), true), 413);
    assert_int_equal(coap_code_to_http(CC(4, 31), true), 400);
    assert_int_equal(coap_code_to_http(CC(5, 3), true), 503);
    assert_int_equal(coap_code_to_http(CC(5, 4), true), 504);
    assert_int_equal(coap_code_to_http(CC(5, 5), true), 502);
    assert_int_equal(coap_code_to_http(CC(0, 1), true), 502); /* a request code */
    assert_int_equal(coap_code_to_http(CC(7, 31), true), 502);
    char b[8];
    assert_string_equal(coap_code_str(CC(2, 5), b), "2.05");
    assert_string_equal(coap_code_str(CC(4, 13), b), "4.13");

    assert_string_equal(coap_method_name(1), "GET");
    assert_string_equal(coap_method_name(7), "iPATCH");
    assert_null(coap_method_name(0));
    assert_null(coap_method_name(8));
    assert_int_equal(coap_method_code("PUT"), 3);
    assert_int_equal(coap_method_code("POST"), 2);
    assert_int_equal(coap_method_code("get"), 0);
    assert_int_equal(coap_method_code(NULL), 0);
}

static void test_path(void **state)
{
    char out[64];
    const uint8_t *segs[4] = {(const uint8_t *)"things", (const uint8_t *)"a b/c",
                              (const uint8_t *)"\xc3\xa9", (const uint8_t *)""};
    size_t lens[4] = {6, 5, 2, 0};
    assert_int_equal(coap_path_from_segments(segs, lens, 4, out, sizeof(out)), 25);
    assert_string_equal(out, "/things/a%20b%2Fc/%C3%A9/");
    assert_int_equal(coap_path_from_segments(segs, lens, 0, out, sizeof(out)), 1);
    assert_string_equal(out, "/");
    assert_int_equal(coap_path_from_segments(segs, lens, 4, out, 25), -E2BIG);
    assert_int_equal(coap_path_from_segments(segs, lens, 4, out, 26), 25);
    assert_int_equal(coap_path_from_segments(segs, lens, 1, out, 1), -E2BIG);
}

static void test_url(void **state)
{
    uint8_t buf[256];
    struct south_coap_url u;
    assert_int_equal(
            south_coap_parse_url("coap://127.0.0.1:5699/lamp/properties/on", buf, sizeof(buf), &u),
            0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 5699);
    assert_int_equal(u.n_path, 3);
    assert_memory_equal(u.path[2], "on", 2);
    assert_int_equal(u.path_len[2], 2);
    assert_int_equal(u.n_query, 0);
    assert_int_equal(
            south_coap_parse_url("COAP://[::1]/a%2Fb/?x=1&&y=%41#frag", buf, sizeof(buf), &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 5683);
    assert_int_equal(u.n_path, 2);
    assert_int_equal(u.path_len[0], 3);
    assert_memory_equal(u.path[0], "a/b", 3);
    assert_int_equal(u.path_len[1], 0); /* trailing '/' */
    assert_int_equal(u.n_query, 2);
    assert_memory_equal(u.query[1], "y=A", 3);
    assert_int_equal(south_coap_parse_url("coap://dev", buf, sizeof(buf), &u), 0);
    assert_int_equal(u.n_path, 0);
    assert_int_equal(south_coap_parse_url("coap://dev/", buf, sizeof(buf), &u), 0);
    assert_int_equal(u.n_path, 0);
    /* refused */
    const char *bad[] = {
            "http://dev/x",     "coap://",
            "coap:///x",        "coap://dev:0/x",
            "coap://dev:70000", "coap://dev:x/",
            "coap://u@dev/x",   "coap://[::1/x",
            "coap://dev/%4",    "coap://dev/%zz",
            "coap://dev/a b",   "coap://dev/\x01",
            "coap://dev#x",     NULL,
    };
    for (size_t i = 0; bad[i]; i++) {
        if (south_coap_parse_url(bad[i], buf, sizeof(buf), &u) == 0)
            fail_msg("accepted %s", bad[i]);
    }
    char longseg[400] = "coap://dev/";
    memset(longseg + 11, 'a', 300);
    uint8_t big[1024];
    assert_int_equal(south_coap_parse_url(longseg, big, sizeof(big), &u), -EINVAL);
    assert_int_equal(south_coap_parse_url("coap://dev/abcdef", buf, 3, &u), -E2BIG);
    char many[256] = "coap://dev";
    for (int i = 0; i < 40; i++)
        strcat(many, "/a");
    assert_int_equal(south_coap_parse_url(many, buf, sizeof(buf), &u), -E2BIG);
}

static coap_pdu_t *request(uint8_t code, const char *const *segs, int format, size_t fmt_len)
{
    coap_pdu_t *p = coap_pdu_init(COAP_MESSAGE_CON, (coap_pdu_code_t)code, 1, 1024);
    assert_non_null(p);
    for (size_t i = 0; segs[i]; i++)
        assert_true(coap_add_option(p, COAP_OPTION_URI_PATH, strlen(segs[i]),
                                    (const uint8_t *)segs[i]) > 0);
    if (format >= 0) {
        uint8_t b[3] = {0, (uint8_t)(format >> 8), (uint8_t)format};
        assert_true(coap_add_option(p, COAP_OPTION_CONTENT_FORMAT, fmt_len, b + 3 - fmt_len) > 0);
    }
    return p;
}

static int map(coap_pdu_t *p, struct http_route *route, int *format, const char **why)
{
    char *buf = NULL;
    int st = coaps_map_request(p, &buf, route, format, why);
    static char keep[4][128];
    /* copy the strings out before the buffer goes */
    if (!st) {
        snprintf(keep[0], sizeof(keep[0]), "%s", route->thing ? route->thing : "");
        snprintf(keep[1], sizeof(keep[1]), "%s", route->aff ? route->aff : "");
        route->thing = route->thing ? keep[0] : NULL;
        route->aff = route->aff ? keep[1] : NULL;
    }
    free(buf);
    coap_delete_pdu(p);
    return st;
}

static void test_map_request(void **state)
{
    struct http_route r;
    int fmt;
    const char *why;
    coap_startup();
    const char *prop[] = {"things", "lamp", "properties", "on", NULL};
    assert_int_equal(map(request(1, prop, -1, 0), &r, &fmt, &why), 0);
    assert_int_equal(r.kind, HTTP_ROUTE_PROPERTY);
    assert_string_equal(r.thing, "lamp");
    assert_string_equal(r.aff, "on");
    assert_int_equal(fmt, COAP_FORMAT_NONE);
    assert_int_equal(map(request(3, prop, 50, 1), &r, &fmt, &why), 0);
    assert_int_equal(fmt, 50);
    assert_int_equal(map(request(3, prop, 432, 2), &r, &fmt, &why), 0);
    assert_int_equal(fmt, 432);
    assert_int_equal(map(request(3, prop, 0, 0), &r, &fmt, &why), 0);
    assert_int_equal(fmt, 0);
    const char *spaced[] = {"things", "my lamp", "actions", "a/b", NULL};
    assert_int_equal(map(request(2, spaced, -1, 0), &r, &fmt, &why), 0);
    assert_int_equal(r.kind, HTTP_ROUTE_ACTION);
    assert_string_equal(r.thing, "my lamp");
    assert_string_equal(r.aff, "a/b"); /* a '/' inside one Uri-Path stays in its segment */
    const char *td[] = {"things", "lamp", NULL};
    assert_int_equal(map(request(1, td, -1, 0), &r, &fmt, &why), 0);
    assert_int_equal(r.kind, HTTP_ROUTE_TD);
    const char *list[] = {"things", NULL};
    assert_int_equal(map(request(1, list, -1, 0), &r, &fmt, &why), 0);
    assert_int_equal(r.kind, HTTP_ROUTE_THINGS);
    const char *wk[] = {".well-known", "wot", NULL};
    assert_int_equal(map(request(1, wk, -1, 0), &r, &fmt, &why), 0);
    assert_int_equal(r.kind, HTTP_ROUTE_WELLKNOWN);
    const char *readall[] = {"things", "lamp", "properties", NULL};
    assert_int_equal(map(request(1, readall, -1, 0), &r, &fmt, &why), 0);
    assert_int_equal(r.kind, HTTP_ROUTE_READALL);

    /* refusals */
    const char *none[] = {NULL};
    assert_int_equal(map(request(1, none, -1, 0), &r, &fmt, &why), 404);
    const char *other[] = {"nothing", NULL};
    assert_int_equal(map(request(1, other, -1, 0), &r, &fmt, &why), 404);
    const char *dotdot[] = {"things", "..", "properties", "on", NULL};
    assert_int_equal(map(request(1, dotdot, -1, 0), &r, &fmt, &why), 400);
    assert_non_null(strstr(why, "'..'"));
    const char *dot[] = {"things", ".", NULL};
    assert_int_equal(map(request(1, dot, -1, 0), &r, &fmt, &why), 400);
    const char *ctrl[] = {"things", "la\x01mp", NULL};
    assert_int_equal(map(request(1, ctrl, -1, 0), &r, &fmt, &why), 400);
    const char *nul[] = {"things", "lamp", "properties", "o", NULL};
    coap_pdu_t *p = request(1, nul, -1, 0);
    coap_delete_pdu(p);
    const char *badutf[] = {"things", "\xc0\xaf", NULL};
    assert_int_equal(map(request(1, badutf, -1, 0), &r, &fmt, &why), 400);
    const char *many[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", NULL};
    assert_int_equal(map(request(1, many, -1, 0), &r, &fmt, &why), 404);
    assert_int_equal(map(request(3, prop, 0x10000 - 1, 3), &r, &fmt, &why), 400);
    assert_non_null(strstr(why, "Content-Format"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_formats),     cmocka_unit_test(test_codes),
            cmocka_unit_test(test_path),        cmocka_unit_test(test_url),
            cmocka_unit_test(test_map_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
