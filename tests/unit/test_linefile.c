/* test_linefile.c - auth/linefile.c: the line walker every credential file
 * uses (line numbers, CRLF, comments, long lines, NUL bytes, stopping),
 * names and group lists. */
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

#include "auth/linefile.h"
#include "util.h"

struct seen {
    unsigned ln[16];
    char text[16][64];
    size_t n;
    int ret_at; /* line number at which to return ret */
    int ret;
};

static int record(void *ud, unsigned ln, char *line)
{
    struct seen *s = ud;
    if (s->n < 16) {
        s->ln[s->n] = ln;
        snprintf(s->text[s->n], sizeof(s->text[0]), "%s", line);
        s->n++;
    }
    return (int)ln == s->ret_at ? s->ret : 0;
}

static void test_walk(void **state)
{
    (void)state;
    const char text[] = "# comment\r\n\n   \t\na:1\r\nb:2\n#x\nc:3";
    struct seen s = {0};
    struct diags d = {0};
    assert_int_equal(linefile_each("f", text, sizeof(text) - 1, 100, &d, record, &s), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.ln[0], 4);
    assert_string_equal(s.text[0], "a:1"); /* CR dropped */
    assert_int_equal(s.ln[1], 5);
    assert_string_equal(s.text[1], "b:2");
    assert_int_equal(s.ln[2], 7); /* no final newline */
    assert_string_equal(s.text[2], "c:3");
    diag_free(&d);
}

static void test_bad_lines(void **state)
{
    (void)state;
    /* a NUL byte on line 2, a 12-byte line on line 3 (limit 10), good lines around them */
    const char text[] = "ok:1\nbad\0x\n123456789012\nok:2\n";
    struct seen s = {0};
    struct diags d = {0};
    assert_int_equal(linefile_each("f", text, sizeof(text) - 1, 10, &d, record, &s), -EINVAL);
    assert_int_equal(s.n, 2); /* the bad lines are skipped, the walk goes on */
    assert_int_equal(s.ln[1], 4);
    assert_true(diag_contains(&d, "NUL byte"));
    assert_true(diag_contains(&d, "longer than 10"));
    assert_int_equal(d.v[0].line, 2);
    assert_int_equal(d.v[1].line, 3);
    diag_free(&d);
}

static void test_callback_results(void **state)
{
    (void)state;
    const char text[] = "a\nb\nc\n";
    struct diags d = {0};
    struct seen s = {.ret_at = 2, .ret = -EINVAL}; /* bad line: goes on */
    assert_int_equal(linefile_each("f", text, sizeof(text) - 1, 10, &d, record, &s), -EINVAL);
    assert_int_equal(s.n, 3);
    s = (struct seen){.ret_at = 2, .ret = -E2BIG}; /* bad, stop */
    assert_int_equal(linefile_each("f", text, sizeof(text) - 1, 10, &d, record, &s), -EINVAL);
    assert_int_equal(s.n, 2);
    s = (struct seen){.ret_at = 1, .ret = -ENOMEM}; /* fatal: returned as is */
    assert_int_equal(linefile_each("f", text, sizeof(text) - 1, 10, &d, record, &s), -ENOMEM);
    assert_int_equal(s.n, 1);
    s = (struct seen){0};
    assert_int_equal(linefile_each("f", "", 0, 10, &d, record, &s), 0);
    assert_int_equal(s.n, 0);
    diag_free(&d);
}

static void test_names_and_groups(void **state)
{
    (void)state;
    assert_true(linefile_name_ok("alice.b_c@d-e", 13));
    assert_false(linefile_name_ok("", 0));
    assert_false(linefile_name_ok("a b", 3));
    assert_false(linefile_name_ok("a:b", 3));
    char long_name[LINEFILE_MAX_NAME + 1];
    memset(long_name, 'a', sizeof(long_name));
    assert_true(linefile_name_ok(long_name, LINEFILE_MAX_NAME));
    assert_false(linefile_name_ok(long_name, LINEFILE_MAX_NAME + 1));

    char **v = NULL;
    const char *why = NULL;
    assert_int_equal(linefile_groups_split("a,b,c", 5, 4, &v, &why), 0);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[2], "c");
    assert_null(v[3]);
    util_strv_free(v);
    v = NULL;
    assert_int_equal(linefile_groups_split("", 0, 4, &v, &why), 0);
    assert_null(v[0]);
    util_strv_free(v);
    v = NULL;
    assert_int_equal(linefile_groups_split("a,,b", 4, 4, &v, &why), -EINVAL);
    assert_non_null(strstr(why, "invalid group name"));
    assert_null(v);
    assert_int_equal(linefile_groups_split("a,b,c", 5, 2, &v, &why), -EINVAL);
    assert_non_null(strstr(why, "too many groups"));
    assert_int_equal(linefile_groups_split("a,", 2, 4, &v, &why), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_walk),
            cmocka_unit_test(test_bad_lines),
            cmocka_unit_test(test_callback_results),
            cmocka_unit_test(test_names_and_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
