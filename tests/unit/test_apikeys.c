/* test_apikeys.c - auth/apikeys.c: the API keys file (SHA-256 hex),
 * verification against every entry, malformed lines. */
#define _GNU_SOURCE
#include <errno.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/apikeys.h"
#include "util.h"

#define DATA  "tests/data/auth/"
#define KEY1  "wgk_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define KEY2  "wgk_test_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
#define HEX_A "c455f9e1f8c2ac6baca0bf84898c4c5973269d2dac905b12d7485bfff0a28dbd"

static void sha256_hex(const char *s, char out[65])
{
    uint8_t md[32];
    unsigned n = 0;
    assert_int_equal(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL), 1);
    hex_encode(md, 32, out);
}

static const struct apikey *verify(const struct apikeys *k, const char *key)
{
    return apikeys_verify(k, key, strlen(key));
}

static void expect_bad(const char *text, unsigned line, const char *msg)
{
    struct diags d = {0};
    struct apikeys *k = NULL;
    int r = apikeys_parse("apikeys", text, strlen(text), &k, &d);
    if (r != -EINVAL || !diag_contains(&d, msg))
        diag_print(&d, stderr);
    assert_int_equal(r, -EINVAL);
    assert_null(k);
    assert_true(diag_contains(&d, msg));
    bool at = false;
    for (size_t i = 0; i < d.n; i++)
        at = at || d.v[i].line == line;
    assert_true(at);
    diag_free(&d);
}

static void test_load_and_verify(void **state)
{
    struct diags d = {0};
    struct apikeys *k = NULL;
    char hex[65];
    sha256_hex(KEY1, hex);
    assert_string_equal(hex, HEX_A);
    assert_int_equal(apikeys_load(DATA "apikeys", &k, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(k->n, 2);
    const struct apikey *a = verify(k, KEY1), *b = verify(k, KEY2);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a->name, "sensorbot");
    /* an upper-case digest in the file works the same */
    assert_string_equal(b->name, "logger");
    assert_string_equal(a->groups[0], "bots");
    assert_string_equal(a->groups[1], "sensors");
    assert_null(a->groups[2]);
    assert_non_null(b->groups);
    assert_null(b->groups[0]);
    /* near misses */
    assert_null(verify(k, KEY1 "x"));
    assert_null(apikeys_verify(k, KEY1, strlen(KEY1) - 1));
    assert_null(verify(k, "wgk_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAa"));
    assert_null(verify(k, HEX_A)); /* the digest itself is not the key */
    assert_null(verify(k, ""));
    assert_null(apikeys_verify(k, NULL, 5));
    assert_null(apikeys_verify(NULL, KEY1, strlen(KEY1)));
    char *huge = malloc(APIKEYS_MAX_KEY + 2);
    memset(huge, 'A', APIKEYS_MAX_KEY + 1);
    huge[APIKEYS_MAX_KEY + 1] = '\0';
    assert_null(verify(k, huge));
    free(huge);
    apikeys_free(k);
    apikeys_free(NULL);
    assert_int_equal(apikeys_load(DATA "missing-apikeys", &k, &d), -ENOENT);
    assert_null(k);
    assert_true(diag_contains(&d, "cannot read"));
    diag_free(&d);
}

/* Every position is found: the loop never stops early and the index
 * selection is right for the first, a middle and the last entry. */
static void test_many_entries(void **state)
{
    enum { N = 200 };
    size_t cap = N * 100, off = 0;
    char *text = malloc(cap);
    for (int i = 0; i < N; i++) {
        char key[32], hex[65];
        snprintf(key, sizeof(key), "key-%d", i);
        sha256_hex(key, hex);
        off += (size_t)snprintf(text + off, cap - off, "k%d:%s:g%d\n", i, hex, i % 7);
    }
    struct diags d = {0};
    struct apikeys *k = NULL;
    assert_int_equal(apikeys_parse("apikeys", text, off, &k, &d), 0);
    assert_int_equal(k->n, N);
    static const int probe[] = {0, 1, 99, N - 2, N - 1};
    for (size_t i = 0; i < ARRAY_SIZE(probe); i++) {
        char key[32], name[32];
        snprintf(key, sizeof(key), "key-%d", probe[i]);
        snprintf(name, sizeof(name), "k%d", probe[i]);
        const struct apikey *e = verify(k, key);
        assert_non_null(e);
        assert_string_equal(e->name, name);
    }
    assert_null(verify(k, "key-200"));
    apikeys_free(k);
    free(text);
    diag_free(&d);
}

static void test_malformed(void **state)
{
    expect_bad("# c\nnocolon\n", 2, "expected NAME:SHA256HEX");
    expect_bad(":" HEX_A "\n", 1, "invalid key name");
    expect_bad("bad name:" HEX_A "\n", 1, "invalid key name");
    expect_bad("bot:\n", 1, "64 hex digits");
    expect_bad("bot:" HEX_A "0\n", 1, "64 hex digits");
    expect_bad("bot:c455f9e1f8c2ac6baca0bf84898c4c5973269d2dac905b12d7485bfff0a28db\n", 1,
               "64 hex digits");
    expect_bad("bot:g455f9e1f8c2ac6baca0bf84898c4c5973269d2dac905b12d7485bfff0a28dbd\n", 1,
               "64 hex digits");
    expect_bad("bot:c4:55f9e1f8c2ac6baca0bf84898c4c5973269d2dac905b12d7485bfff0a28db\n", 1,
               "64 hex digits");
    expect_bad("bot:" HEX_A ":a,,b\n", 1, "invalid group name");
    expect_bad("bot:" HEX_A ":a b\n", 1, "invalid group name");
    expect_bad("bot:" HEX_A ":a:b\n", 1, "invalid group name");
    /* duplicate name, and the same key under two names */
    expect_bad("bot:" HEX_A "\nx:" HEX_A "\n", 2, "same key as 'bot' (line 1)");
    expect_bad("bot:" HEX_A "\n\nbot:"
               "C455F9E1F8C2AC6BACA0BF84898C4C5973269D2DAC905B12D7485BFFF0A28DBE\n",
               3, "duplicate key name 'bot' (also on line 1)");
    expect_bad("bot:" HEX_A "\nbot2:"
               "C455F9E1F8C2AC6BACA0BF84898C4C5973269D2DAC905B12D7485BFFF0A28DBD\n",
               2, "same key");
    /* NUL, long line */
    struct diags d = {0};
    struct apikeys *k = NULL;
    const char nul[] = "bot:\0" HEX_A "\n";
    assert_int_equal(apikeys_parse("apikeys", nul, sizeof(nul) - 1, &k, &d), -EINVAL);
    assert_true(diag_contains(&d, "NUL"));
    diag_free(&d);
    char *longline = malloc(APIKEYS_MAX_LINE + 80);
    snprintf(longline, APIKEYS_MAX_LINE + 80, "bot:%s:%0*d\n", HEX_A, APIKEYS_MAX_LINE, 0);
    expect_bad(longline, 1, "line longer");
    free(longline);
    /* comments, blank lines, CRLF */
    const char *ok = "# keys\n\n   \nbot:" HEX_A ":x\r\n";
    assert_int_equal(apikeys_parse("apikeys", ok, strlen(ok), &k, &d), 0);
    assert_int_equal(k->n, 1);
    assert_string_equal(k->v[0].groups[0], "x");
    assert_non_null(verify(k, KEY1));
    apikeys_free(k);
    assert_int_equal(apikeys_parse("apikeys", "", APIKEYS_MAX_FILE_SIZE + 1, &k, &d), -EFBIG);
    diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_load_and_verify),
            cmocka_unit_test(test_many_entries),
            cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
