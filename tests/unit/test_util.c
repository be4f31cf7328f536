/* test_util.c - util.c: strict encodings, value parsing, files, diags. */
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

#include "interaction.h"
#include "util.h"

static void test_b64url(void **state)
{
    uint8_t out[64];
    size_t n;
    /* RFC 4648 §10 vectors, unpadded url alphabet */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
        assert_int_equal(b64url_decode(enc[i], strlen(enc[i]), out, sizeof(out), &n), 0);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(out, plain[i], n);
        char e[32];
        b64url_encode((const uint8_t *)plain[i], strlen(plain[i]), e);
        assert_string_equal(e, enc[i]);
        assert_int_equal(b64url_encoded_len(strlen(plain[i])), strlen(enc[i]));
    }
    /* url alphabet */
    assert_int_equal(b64url_decode("-_8", 3, out, sizeof(out), &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
    /* refused: padding, std alphabet, blanks, 1 mod 4, non-canonical bits */
    assert_int_equal(b64url_decode("Zg==", 4, out, sizeof(out), &n), -EINVAL);
    assert_int_equal(b64url_decode("+/8", 3, out, sizeof(out), &n), -EINVAL);
    assert_int_equal(b64url_decode("Zm 9v", 5, out, sizeof(out), &n), -EINVAL);
    assert_int_equal(b64url_decode("Zm9vY", 5, out, sizeof(out), &n), -EINVAL);
    assert_int_equal(b64url_decode("Zh", 2, out, sizeof(out), &n), -EINVAL);
    /* capacity */
    assert_int_equal(b64url_decode("Zm9vYmFy", 8, out, 5, &n), -ENOBUFS);
}

static void test_b64(void **state)
{
    uint8_t out[64];
    size_t n;
    assert_int_equal(b64_decode("YWxpY2U6c2VjcmV0", 16, out, sizeof(out), &n), 0);
    assert_int_equal(n, 12);
    assert_memory_equal(out, "alice:secret", 12);
    assert_int_equal(b64_decode("Zg==", 4, out, sizeof(out), &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(b64_decode("Zg=", 3, out, sizeof(out), &n), -EINVAL);
    assert_int_equal(b64_decode("Z===", 4, out, sizeof(out), &n), -EINVAL);
    assert_int_equal(b64_decode("Zh==", 4, out, sizeof(out), &n), -EINVAL);
    assert_int_equal(b64_decode("-_8=", 4, out, sizeof(out), &n), -EINVAL);
}

static void test_hex(void **state)
{
    uint8_t out[8];
    size_t n;
    char s[17];
    assert_int_equal(hex_decode("00aF:ff", out, sizeof(out), &n), 0);
    assert_int_equal(n, 3);
    hex_encode(out, n, s);
    assert_string_equal(s, "00afff");
    assert_int_equal(hex_decode("abc", out, sizeof(out), &n), -EINVAL);
    assert_int_equal(hex_decode("zz", out, sizeof(out), &n), -EINVAL);
    assert_int_equal(hex_decode(":ab", out, sizeof(out), &n), -EINVAL);
    assert_int_equal(hex_decode("ab::cd", out, sizeof(out), &n), -EINVAL);
    assert_int_equal(hex_decode("000102030405060708", out, sizeof(out), &n), -ENOBUFS);
}

static void test_values(void **state)
{
    uint64_t v;
    bool b;
    assert_int_equal(util_parse_size("64K", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(util_parse_size("1M", &v), 0);
    assert_int_equal(v, 1u << 20);
    assert_int_equal(util_parse_size("12", &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(util_parse_size("1MiB", &v), 0);
    assert_int_equal(v, 1u << 20);
    assert_int_equal(util_parse_size("1X", &v), -EINVAL);
    assert_int_equal(util_parse_size("-1", &v), -EINVAL);
    assert_int_equal(util_parse_size("", &v), -EINVAL);
    assert_int_equal(util_parse_size("99999999999999999999", &v), -ERANGE);
    assert_int_equal(util_parse_size("99999999999G", &v), -ERANGE);
    assert_int_equal(util_parse_duration_us("250ms", &v), 0);
    assert_int_equal(v, 250000);
    assert_int_equal(util_parse_duration_us("10", &v), 0);
    assert_int_equal(v, 10000000);
    assert_int_equal(util_parse_duration_us("5m", &v), 0);
    assert_int_equal(v, 300000000);
    assert_int_equal(util_parse_duration_us("1h", &v), 0);
    assert_int_equal(util_parse_duration_us("1d", &v), -EINVAL);
    assert_int_equal(util_parse_duration_us("s", &v), -EINVAL);
    assert_int_equal(util_parse_bool("yes", &b), 0);
    assert_true(b);
    assert_int_equal(util_parse_bool("off", &b), 0);
    assert_false(b);
    assert_int_equal(util_parse_bool("maybe", &b), -EINVAL);
    assert_int_equal(util_parse_uint("7", 1, 10, &v), 0);
    assert_int_equal(util_parse_uint("11", 1, 10, &v), -ERANGE);
    assert_int_equal(util_parse_uint("7x", 1, 10, &v), -EINVAL);
}

static void test_split(void **state)
{
    char **v;
    size_t n;
    assert_int_equal(util_split_words("  a, b\tc,,d  ", &v, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[3], "d");
    assert_null(v[4]);
    assert_true(util_strv_contains(v, "c"));
    assert_false(util_strv_contains(v, "e"));
    util_strv_free(v);
    assert_int_equal(util_split_words("", &v, &n), 0);
    assert_int_equal(n, 0);
    assert_null(v[0]);
    util_strv_free(v);
}

static void test_files(void **state)
{
    char dir[] = "/tmp/wotgw-test-util-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *p = util_path_join(dir, "f.txt");
    assert_int_equal(util_write_file_atomic(p, "hello", 5, 0640), 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    char *buf;
    size_t len;
    assert_int_equal(util_read_file(p, 100, &buf, &len), 0);
    assert_int_equal(len, 5);
    assert_string_equal(buf, "hello");
    free(buf);
    assert_int_equal(util_read_file(p, 4, &buf, &len), -EFBIG);
    assert_int_equal(util_read_file(dir, 100, &buf, &len), -EISDIR);
    assert_int_equal(util_read_file("/nonexistent/x", 100, &buf, &len), -ENOENT);
    unlink(p);
    free(p);
    rmdir(dir);
    p = util_path_join("/etc/wotgw", "/abs");
    assert_string_equal(p, "/abs");
    free(p);
    p = util_path_join("/etc/wotgw/", "things");
    assert_string_equal(p, "/etc/wotgw/things");
    free(p);
    p = util_dirname("wotgw.conf");
    assert_string_equal(p, ".");
    free(p);
    p = util_dirname("/etc/wotgw/wotgw.conf");
    assert_string_equal(p, "/etc/wotgw");
    free(p);
}

static void test_diags(void **state)
{
    struct diags d = {0};
    diag_add(&d, "a.conf", 3, "bad %s", "value");
    diag_warn(&d, "a.conf", 0, "careful");
    assert_int_equal(d.n, 2);
    assert_int_equal(d.n_errors, 1);
    assert_true(diag_contains(&d, "bad value"));
    assert_false(diag_contains(&d, "nothing"));
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    diag_print(&d, f);
    fclose(f);
    assert_string_equal(out, "a.conf:3: bad value\na.conf: warning: careful\n");
    free(out);
    diag_free(&d);
    assert_int_equal(d.n, 0);
}

static void test_secret_eq(void **state)
{
    assert_true(util_secret_eq("abc", 3, "abc", 3));
    assert_false(util_secret_eq("abc", 3, "abd", 3));
    assert_false(util_secret_eq("abc", 3, "abcd", 4));
    util_secret_free(strdup("secret"));
    util_secret_free(NULL);
}

static void test_ops(void **state)
{
    for (int i = 0; i < WOT_OP__COUNT; i++)
        assert_int_equal(wot_op_from_name(wot_op_name((enum wot_op)i)), i);
    assert_int_equal(wot_op_from_name("readProperty"), WOT_OP__INVALID);
    assert_int_equal(wot_op_from_name(NULL), WOT_OP__INVALID);
    assert_int_equal(wot_op_aff_kind(WOT_OP_WRITEPROPERTY), AFF_PROPERTY);
    assert_int_equal(wot_op_aff_kind(WOT_OP_INVOKEACTION), AFF_ACTION);
    assert_int_equal(wot_op_aff_kind(WOT_OP_SUBSCRIBEEVENT), AFF_EVENT);
    assert_int_equal(wot_op_aff_kind(WOT_OP_READALLPROPERTIES), AFF_THING);
    assert_string_equal(wot_op_name((enum wot_op)99), "invalid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_b64url), cmocka_unit_test(test_b64),
            cmocka_unit_test(test_hex),    cmocka_unit_test(test_values),
            cmocka_unit_test(test_split),  cmocka_unit_test(test_files),
            cmocka_unit_test(test_diags),  cmocka_unit_test(test_secret_eq),
            cmocka_unit_test(test_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
