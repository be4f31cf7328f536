/* test_http_oscore.c - north/http_oscore.c: the OSCORE header field of
 * RFC 8613 §11.1 (including its §11.5 examples), the targets, the outer
 * request and answer status, and the route of a decrypted inner request,
 * with malformed input of each. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coap_util.h"
#include "north/http_oscore.h"
#include "util.h"

static void test_header(void **state)
{
    uint8_t v[OSCORE_OPTION_VALUE_MAX];
    size_t n = 99;
    char out[HTTP_OSCORE_HDR_MAX];
    /* RFC 8613 §11.5: the option 09 25 is "CSU", the empty one "AA" */
    assert_int_equal(http_oscore_header_decode("CSU", v, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(v[0], 0x09);
    assert_int_equal(v[1], 0x25);
    http_oscore_header_encode(v, 2, out);
    assert_string_equal(out, "CSU");
    assert_int_equal(http_oscore_header_decode("AA", v, &n), 0);
    assert_int_equal(n, 0);
    http_oscore_header_encode(NULL, 0, out);
    assert_string_equal(out, "AA");
    /* kid context and kid: round trip of the longest value */
    uint8_t big[OSCORE_OPTION_VALUE_MAX];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 37 + 1);
    http_oscore_header_encode(big, sizeof(big), out);
    assert_true(strlen(out) < HTTP_OSCORE_HDR_MAX);
    assert_int_equal(http_oscore_header_decode(out, v, &n), 0);
    assert_int_equal(n, sizeof(big));
    assert_memory_equal(v, big, sizeof(big));

    /* malformed: shorter than two characters (§11.1 ABNF), padding, the
     * base64 alphabet, white space, non-canonical bits, too long, NULL */
    static const char *const bad[] = {"",     "A",    "CSU=", "CS+",  "CS/",      " CSU",
                                      "CSU ", "CS U", "CSV",  "A===", "\x80\x81", NULL};
    for (size_t i = 0; bad[i]; i++) {
        if (http_oscore_header_decode(bad[i], v, &n) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(http_oscore_header_decode(NULL, v, &n), -EINVAL);
    char longer[HTTP_OSCORE_HDR_MAX + 8];
    memset(longer, 'A', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(http_oscore_header_decode(longer, v, &n), -EINVAL);
    /* one byte more than an option value can hold */
    uint8_t over[OSCORE_OPTION_VALUE_MAX + 1] = {0x19};
    char ob[HTTP_OSCORE_HDR_MAX + 8];
    b64url_encode(over, sizeof(over), ob);
    assert_int_equal(http_oscore_header_decode(ob, v, &n), -EINVAL);
}

static void test_target(void **state)
{
    char buf[256];
    const char *t = NULL;
    assert_int_equal(http_oscore_target("/", buf, sizeof(buf), &t), HTTP_OSCORE_GATEWAY);
    assert_null(t);
    assert_int_equal(http_oscore_target("/things/lamp/oscore", buf, sizeof(buf), &t),
                     HTTP_OSCORE_DEVICE);
    assert_string_equal(t, "lamp");
    assert_int_equal(http_oscore_target("/things/a%20b/oscore", buf, sizeof(buf), &t),
                     HTTP_OSCORE_DEVICE);
    assert_string_equal(t, "a b");
    static const char *const none[] = {"",
                                       "//",
                                       "/oscore",
                                       "/things/oscore",
                                       "/things//oscore",
                                       "/things/lamp/oscore/",
                                       "/things/lamp/oscore/x",
                                       "/things/lamp/properties/oscore",
                                       "/things/../oscore",
                                       "/things/%2e%2e/oscore",
                                       "/things/a%zz/oscore",
                                       "/things/lamp/OSCORE",
                                       "/x/lamp/oscore",
                                       NULL};
    for (size_t i = 0; none[i]; i++) {
        if (http_oscore_target(none[i], buf, sizeof(buf), &t) != HTTP_OSCORE_NONE)
            fail_msg("target \"%s\" accepted", none[i]);
    }
    assert_int_equal(http_oscore_target(NULL, buf, sizeof(buf), &t), HTTP_OSCORE_NONE);
    /* a path longer than the buffer */
    assert_int_equal(http_oscore_target("/things/lamp/oscore", buf, 8, &t), HTTP_OSCORE_NONE);
}

static void test_outer(void **state)
{
    static const uint8_t opt[] = {0x09, 0x25}, body[] = {1, 2, 3};
    struct oscore_msg m;
    http_oscore_outer_request(opt, sizeof(opt), body, sizeof(body), &m);
    assert_int_equal(m.code, 0x02);
    assert_int_equal(m.n_opts, 1);
    const struct oscore_option *o = http_oscore_find(&m);
    assert_non_null(o);
    assert_int_equal(o->number, OSCORE_OPT_OSCORE);
    assert_int_equal(o->len, 2);
    assert_ptr_equal(m.payload, body);
    assert_int_equal(m.payload_len, 3);
    http_oscore_outer_request(opt, 0, NULL, 0, &m);
    assert_non_null(http_oscore_find(&m));
    assert_null(m.payload);

    /* a protected answer is 200 (2.04, and 2.05 for Observe) */
    struct oscore_msg a = {.code = 0x44, .n_opts = 1, .opts = {{.number = 9, .len = 0}}};
    assert_int_equal(http_oscore_status(&a), 200);
    a.code = 0x45;
    assert_int_equal(http_oscore_status(&a), 200);
    /* unprotected errors: RFC 8075 */
    struct oscore_msg e = {.code = 0x81, .payload = (const uint8_t *)"x", .payload_len = 1};
    assert_null(http_oscore_find(&e));
    assert_int_equal(http_oscore_status(&e), 401);
    e.code = 0x82;
    assert_int_equal(http_oscore_status(&e), 400);
    e.code = 0x80;
    assert_int_equal(http_oscore_status(&e), 400);
    e.code = 0xa0;
    assert_int_equal(http_oscore_status(&e), 500);
    /* an OSCORE option on an error code is not a protected answer */
    a.code = 0x81;
    assert_int_equal(http_oscore_status(&a), 401);
}

static void add_opt(struct oscore_msg *m, uint16_t num, const char *v, size_t len)
{
    m->opts[m->n_opts++] = (struct oscore_option){
            .number = num, .len = (uint16_t)len, .value = (const uint8_t *)v};
}

static void test_inner_route(void **state)
{
    struct oscore_msg m = {.code = 0x01};
    add_opt(&m, 11, "things", 6);
    add_opt(&m, 11, "lamp", 4);
    add_opt(&m, 11, "properties", 10);
    add_opt(&m, 11, "on", 2);
    add_opt(&m, 12, "\x32", 1); /* 50 application/json */
    char *buf = NULL;
    struct http_route r;
    int fmt = 0;
    const char *why = NULL;
    assert_int_equal(http_oscore_inner_route(&m, &buf, &r, &fmt, &why), 0);
    assert_int_equal(r.kind, HTTP_ROUTE_PROPERTY);
    assert_string_equal(r.thing, "lamp");
    assert_string_equal(r.aff, "on");
    assert_int_equal(fmt, 50);
    free(buf);

    /* no path: the root is no route */
    struct oscore_msg root = {.code = 0x01};
    assert_int_equal(http_oscore_inner_route(&root, &buf, &r, &fmt, &why), 404);
    assert_int_equal(fmt, COAP_FORMAT_NONE);
    free(buf);
    /* a '..' segment, a NUL byte, bad UTF-8 */
    static const char *const segs[] = {"..", ".", "a\0b", "\xff\xfe", NULL};
    static const size_t lens[] = {2, 1, 3, 2};
    for (size_t i = 0; segs[i]; i++) {
        struct oscore_msg b = {.code = 0x01};
        add_opt(&b, 11, "things", 6);
        add_opt(&b, 11, segs[i], lens[i]);
        buf = NULL;
        int st = http_oscore_inner_route(&b, &buf, &r, &fmt, &why);
        if (st != 400)
            fail_msg("segment %zu: %d", i, st);
        assert_non_null(why);
        free(buf);
    }
    /* more segments than any route: 404 before anything is built */
    struct oscore_msg many = {.code = 0x01};
    for (size_t i = 0; i < COAP_SEGMENTS_MAX + 3; i++)
        add_opt(&many, 11, "x", 1);
    buf = NULL;
    assert_int_equal(http_oscore_inner_route(&many, &buf, &r, &fmt, &why), 404);
    assert_null(buf);
    /* a Content-Format longer than two bytes */
    struct oscore_msg cf = {.code = 0x02};
    add_opt(&cf, 11, "things", 6);
    add_opt(&cf, 12, "\x01\x02\x03", 3);
    buf = NULL;
    assert_int_equal(http_oscore_inner_route(&cf, &buf, &r, &fmt, &why), 400);
    assert_string_equal(why, "malformed Content-Format option");
    free(buf);
    /* two-byte Content-Format (432, TD JSON) and a zero-length one (0) */
    struct oscore_msg td = {.code = 0x01};
    add_opt(&td, 11, "things", 6);
    add_opt(&td, 12, "\x01\xb0", 2);
    buf = NULL;
    assert_int_equal(http_oscore_inner_route(&td, &buf, &r, &fmt, &why), 0);
    assert_int_equal(r.kind, HTTP_ROUTE_THINGS);
    assert_int_equal(fmt, 432);
    free(buf);
    td.opts[1].len = 0;
    buf = NULL;
    assert_int_equal(http_oscore_inner_route(&td, &buf, &r, &fmt, &why), 0);
    assert_int_equal(fmt, 0);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_header),
            cmocka_unit_test(test_target),
            cmocka_unit_test(test_outer),
            cmocka_unit_test(test_inner_route),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
