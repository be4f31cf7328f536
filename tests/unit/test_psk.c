/* test_psk.c - auth/psk.c: the CoAPS pre-shared keys file, lookup by
 * identity, malformed lines, and that keys never reach a message. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/psk.h"
#include "util.h"

#define K16 "000102030405060708090a0b0c0d0e0f"
#define K32 "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"

static void expect_bad(const char *text, unsigned line, const char *msg)
{
    struct diags d = {0};
    struct psk_store *s = NULL;
    int r = psk_parse("psk", text, strlen(text), &s, &d);
    if (r != -EINVAL || !diag_contains(&d, msg))
        diag_print(&d, stderr);
    assert_int_equal(r, -EINVAL);
    assert_null(s);
    assert_true(diag_contains(&d, msg));
    bool at = false;
    for (size_t i = 0; i < d.n; i++)
        at = at || d.v[i].line == line;
    assert_true(at);
    /* the key is never echoed */
    assert_false(diag_contains(&d, "0405060708"));
    assert_false(diag_contains(&d, "AABBCCDD"));
    diag_free(&d);
}

static void test_parse_and_find(void **state)
{
    struct diags d = {0};
    struct psk_store *s = NULL;
    const char *text = "# CoAPS keys\n\nzeta:" K16 "\r\n  \nalice@home:" K32 "\nbob.1:" K16 "\n";
    assert_int_equal(psk_parse("psk", text, strlen(text), &s, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(s->n, 3);
    const struct psk_entry *e = psk_find(s, "alice@home", 10);
    assert_non_null(e);
    assert_int_equal(e->key_len, 32);
    assert_int_equal(e->key[10], 0xaa);
    assert_int_equal(e->key[31], 0xff);
    e = psk_find(s, "zeta", 4);
    assert_non_null(e);
    assert_int_equal(e->key_len, 16);
    assert_int_equal(e->key[15], 0x0f);
    assert_non_null(psk_find(s, "bob.1", 5));
    /* not NUL-terminated, prefixes, longer names, other case */
    assert_non_null(psk_find(s, "bob.1xyz", 5));
    assert_null(psk_find(s, "bob", 3));
    assert_null(psk_find(s, "bob.12", 6));
    assert_null(psk_find(s, "Zeta", 4));
    assert_null(psk_find(s, "", 0));
    assert_null(psk_find(s, NULL, 3));
    assert_null(psk_find(NULL, "zeta", 4));
    psk_free(s);
    /* an empty file is a valid, empty store */
    assert_int_equal(psk_parse("psk", "", 0, &s, &d), 0);
    assert_int_equal(s->n, 0);
    assert_null(psk_find(s, "zeta", 4));
    psk_free(s);
    psk_free(NULL);
    diag_free(&d);
}

static void test_many(void **state)
{
    size_t n = 2000, cap = n * 64;
    char *text = malloc(cap), *p = text;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "id%zu:%s\n", (i * 7919) % n, K16);
    struct diags d = {0};
    struct psk_store *s = NULL;
    assert_int_equal(psk_parse("psk", text, (size_t)(p - text), &s, &d), 0);
    assert_int_equal(s->n, n);
    for (size_t i = 0; i < n; i++) {
        char id[32];
        int l = snprintf(id, sizeof(id), "id%zu", i);
        assert_non_null(psk_find(s, id, (size_t)l));
    }
    assert_null(psk_find(s, "id2000", 6));
    psk_free(s);
    free(text);
    diag_free(&d);
}

static void test_malformed(void **state)
{
    expect_bad("alice\n", 1, "expected IDENTITY:KEYHEX");
    expect_bad("ok:" K16 "\n:" K16 "\n", 2, "invalid identity");
    expect_bad("al ice:" K16 "\n", 1, "invalid identity");
    expect_bad("al/ice:" K16 "\n", 1, "invalid identity");
    expect_bad("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:" K16 "\n", 1,
               "invalid identity");
    expect_bad("alice:00010203\n", 1, "16 to 64 bytes");       /* too short */
    expect_bad("alice:" K16 "0\n", 1, "16 to 64 bytes");       /* odd */
    expect_bad("alice:" K32 K32 "00\n", 1, "16 to 64 bytes");  /* too long */
    expect_bad("alice:" K16 ":admins\n", 1, "16 to 64 bytes"); /* no third field */
    expect_bad("alice:000102030405060708090a0b0c0d0eXX\n", 1, "not hex");
    expect_bad("alice:00:0102030405060708090a0b0c0d0e0f\n", 1, "16 to 64 bytes");
    expect_bad("alice: " K16 "\n", 1, "16 to 64 bytes");
    expect_bad("alice:" K16 "\nbob:" K16 "\nalice:" K32 "\n", 3, "duplicate identity 'alice'");
    /* every bad line is reported, not only the first */
    struct diags d = {0};
    struct psk_store *s = NULL;
    const char *two = "a\nb:zz\n";
    assert_int_equal(psk_parse("psk", two, strlen(two), &s, &d), -EINVAL);
    assert_int_equal(d.n_errors, 2);
    diag_free(&d);
    const char nul[] = "alice:\0" K16 "\n";
    assert_int_equal(psk_parse("psk", nul, sizeof(nul) - 1, &s, &d), -EINVAL);
    assert_true(diag_contains(&d, "NUL"));
    diag_free(&d);
    char *longline = malloc(PSK_MAX_LINE + 80);
    snprintf(longline, PSK_MAX_LINE + 80, "a:%0*d\n", PSK_MAX_LINE, 0);
    expect_bad(longline, 1, "line longer");
    free(longline);
    assert_int_equal(psk_parse("psk", "", PSK_MAX_FILE_SIZE + 1, &s, &d), -EFBIG);
    assert_null(s);
    diag_free(&d);
}

static void test_load(void **state)
{
    char dir[] = "/tmp/test_psk.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/psk", dir);
    struct diags d = {0};
    struct psk_store *s = NULL;
    assert_int_equal(psk_load(path, &s, &d), -ENOENT);
    assert_true(diag_contains(&d, "cannot read"));
    diag_free(&d);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("dev1:" K16 "\n", f);
    fclose(f);
    chmod(path, 0600);
    assert_int_equal(psk_load(path, &s, &d), 0);
    assert_int_equal(d.n, 0);
    assert_non_null(psk_find(s, "dev1", 4));
    psk_free(s);
    chmod(path, 0644);
    assert_int_equal(psk_load(path, &s, &d), 0);
    assert_true(diag_contains(&d, "readable or writable by others"));
    assert_int_equal(d.n_errors, 0);
    psk_free(s);
    diag_free(&d);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_and_find),
            cmocka_unit_test(test_many),
            cmocka_unit_test(test_malformed),
            cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
