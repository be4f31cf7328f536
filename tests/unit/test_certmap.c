/* test_certmap.c - auth/certmap.c: cn:/sha256: entries, fingerprints
 * with colons, precedence, unlisted CNs, malformed lines. */
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

#include "auth/certmap.h"
#include "util.h"

#define DATA  "tests/data/auth/"
#define FPR_B "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define FPR_D "aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899"
#define FPR_D_COLONS                                                                               \
    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:"   \
    "88:99"

static void expect_bad(const char *text, unsigned line, const char *msg)
{
    struct diags d = {0};
    struct certmap *m = NULL;
    int r = certmap_parse("certmap", text, strlen(text), &m, &d);
    if (r != -EINVAL || !diag_contains(&d, msg))
        diag_print(&d, stderr);
    assert_int_equal(r, -EINVAL);
    assert_null(m);
    assert_true(diag_contains(&d, msg));
    bool at = false;
    for (size_t i = 0; i < d.n; i++)
        at = at || d.v[i].line == line;
    assert_true(at);
    diag_free(&d);
}

static void test_load_and_map(void **state)
{
    struct diags d = {0};
    struct certmap *m = NULL;
    assert_int_equal(certmap_load(DATA "certmap", &m, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(m->n, 4);
    /* CN entries, one with blanks inside the CN */
    assert_string_equal(certmap_principal(m, "device-7", NULL), "carol");
    assert_string_equal(certmap_principal(m, "Alice Smith", NULL), "alice");
    assert_string_equal(m->v[1].cn, "Alice Smith");
    /* the CN is compared exactly */
    assert_string_equal(certmap_principal(m, "alice smith", NULL), "alice smith");
    assert_string_equal(certmap_principal(m, "Alice  Smith", NULL), "Alice  Smith");
    /* fingerprints: stored lower-case without colons, looked up in any form */
    assert_string_equal(m->v[3].sha256_hex, FPR_D);
    assert_string_equal(certmap_principal(m, "x", FPR_B), "bob");
    assert_string_equal(certmap_principal(m, "x", FPR_D), "dave");
    assert_string_equal(certmap_principal(m, "x", FPR_D_COLONS), "dave");
    assert_string_equal(
            certmap_principal(m, "x",
                              "AABBCCDDEEFF00112233445566778899AABBCCDDEEFF00112233445566778899"),
            "dave");
    /* precedence: the fingerprint wins over the CN */
    assert_string_equal(certmap_principal(m, "device-7", FPR_B), "bob");
    /* unknown fingerprint: the CN mapping, else the CN itself */
    assert_string_equal(certmap_principal(m, "device-7", FPR_D "0"), "carol");
    assert_string_equal(
            certmap_principal(m, "device-7",
                              "1111111111111111111111111111111111111111111111111111111111111111"),
            "carol");
    assert_string_equal(certmap_principal(m, "unlisted", NULL), "unlisted");
    assert_null(certmap_principal(m, NULL, NULL));
    assert_string_equal(certmap_principal(m, NULL, FPR_B), "bob");
    assert_null(certmap_principal(m, NULL, "zz"));
    /* no map: the CN */
    assert_string_equal(certmap_principal(NULL, "device-7", FPR_B), "device-7");
    certmap_free(m);
    certmap_free(NULL);
    assert_int_equal(certmap_load(DATA "missing-certmap", &m, &d), -ENOENT);
    assert_null(m);
    assert_true(diag_contains(&d, "cannot read"));
    diag_free(&d);
}

static void test_malformed(void **state)
{
    expect_bad("# c\ndevice-7 carol\n", 2, "expected 'cn:COMMON_NAME USER'");
    expect_bad("CN:device-7 carol\n", 1, "expected 'cn:COMMON_NAME USER'");
    expect_bad("cn:device-7\n", 1, "expected 'cn:COMMON_NAME USER'");
    expect_bad("cn: carol\n", 1, "expected 'cn:COMMON_NAME USER'");
    expect_bad("cn:device-7 car/ol\n", 1, "invalid user name");
    expect_bad("sha256:" FPR_B "\n", 1, "expected 'cn:COMMON_NAME USER'");
    expect_bad("sha256:" FPR_B "0 bob\n", 1, "64 hex digits");
    expect_bad("sha256:0f1e bob\n", 1, "64 hex digits");
    expect_bad("sha256:zz1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0 bob\n", 1,
               "64 hex digits");
    /* colons: all 31 or none */
    expect_bad("sha256:0f1e:2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0 bob\n", 1,
               "64 hex digits");
    expect_bad("sha256:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:"
               "33:44:55:66:77:8899 bob\n",
               1, "64 hex digits");
    expect_bad("sha256:" FPR_D_COLONS ": bob\n", 1, "64 hex digits");
    expect_bad("cn:dev\x01ice carol\n", 1, "control character");
    char *t = NULL;
    assert_true(asprintf(&t, "cn:%0*d carol\n", CERTMAP_MAX_CN + 1, 0) > 0);
    expect_bad(t, 1, "CN longer");
    free(t);
    /* duplicates, also across fingerprint spellings */
    expect_bad("cn:a x\ncn:b y\ncn:a z\n", 3, "CN 'a' is already mapped on line 1");
    expect_bad("sha256:" FPR_D " x\nsha256:" FPR_D_COLONS " y\n", 2, "already mapped on line 1");
    /* NUL, long line */
    struct diags d = {0};
    struct certmap *m = NULL;
    const char nul[] = "cn:a\0b x\n";
    assert_int_equal(certmap_parse("certmap", nul, sizeof(nul) - 1, &m, &d), -EINVAL);
    assert_true(diag_contains(&d, "NUL"));
    diag_free(&d);
    char *longline = malloc(CERTMAP_MAX_LINE + 20);
    memset(longline, 'a', CERTMAP_MAX_LINE + 10);
    memcpy(longline, "cn:", 3);
    memcpy(longline + CERTMAP_MAX_LINE + 10, " x\n", 4);
    expect_bad(longline, 1, "line longer");
    free(longline);
    /* comments, blanks, CRLF, trailing blanks, a tab separator */
    const char *ok = "# map\n\ncn:gw-1\tsvc \r\nsha256:" FPR_B "   bob\n";
    assert_int_equal(certmap_parse("certmap", ok, strlen(ok), &m, &d), 0);
    assert_int_equal(m->n, 2);
    assert_string_equal(certmap_principal(m, "gw-1", NULL), "svc");
    certmap_free(m);
    assert_int_equal(certmap_parse("certmap", "", CERTMAP_MAX_FILE_SIZE + 1, &m, &d), -EFBIG);
    /* an empty file is an empty map */
    assert_int_equal(certmap_parse("certmap", "", 0, &m, &d), 0);
    assert_int_equal(m->n, 0);
    assert_string_equal(certmap_principal(m, "x", FPR_B), "x");
    certmap_free(m);
    diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_load_and_map),
            cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
