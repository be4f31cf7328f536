/* test_ini.c - ini.c: the strict INI reader. */
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

#include "ini.h"
#include "util.h"

#define P "t.conf"

static void dump(const struct diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "  diag: %s:%u: %s%s\n", d->v[i].file, d->v[i].line,
                d->v[i].warning ? "warning: " : "", d->v[i].msg);
}

/* Fails unless d has a record at line whose message contains needle. */
static void expect_diag(const struct diags *d, unsigned line, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].line == line && strstr(d->v[i].msg, needle) && !strcmp(d->v[i].file, P))
            return;
    fprintf(stderr, "expected diag at line %u containing '%s', got:\n", line, needle);
    dump(d);
    fail();
}

static int parse(const char *text, struct ini_file *f, struct diags *d)
{
    return ini_parse(P, text, strlen(text), f, d);
}

static struct ini_section *sec(struct ini_file *f, const char *type, const char *name)
{
    for (size_t i = 0; i < f->n_sections; i++) {
        struct ini_section *s = &f->sections[i];
        if (!strcmp(s->type, type) &&
            ((!name && !s->name) || (name && s->name && !strcmp(name, s->name))))
            return s;
    }
    return NULL;
}

static void test_basic(void **state)
{
    struct ini_file f;
    struct diags d = {0};
    const char *text = "# comment\n"
                       "; another comment\n"
                       "\n"
                       "[gateway]\n"
                       "  base_url   =   https://gw.example:8443  \n"
                       "realm=home\n"
                       "\t[thing lamp]\t\n"
                       "td = lamp.td.json\n"
                       "security = basic | bearer:idp   # not a comment\n"
                       "x = a=b=c\n"
                       "empty =\n"
                       "[ thing   \"door sensor\" ]\n"
                       "td = door.json\n"
                       "[thing \"a \\\"q\\\" \\\\ b\"]\n"
                       "k = v";
    assert_int_equal(parse(text, &f, &d), 0);
    if (d.n)
        dump(&d);
    assert_int_equal(d.n, 0);
    assert_string_equal(f.path, P);
    assert_int_equal(f.n_sections, 4);

    struct ini_section *g = sec(&f, "gateway", NULL);
    assert_non_null(g);
    assert_int_equal(g->line, 4);
    assert_int_equal(g->n_entries, 2);
    assert_string_equal(g->entries[0].key, "base_url");
    assert_string_equal(g->entries[0].value, "https://gw.example:8443");
    assert_int_equal(g->entries[0].line, 5);
    assert_string_equal(g->entries[1].value, "home");
    assert_false(g->entries[0].used);

    struct ini_section *l = sec(&f, "thing", "lamp");
    assert_non_null(l);
    assert_int_equal(l->line, 7);
    assert_int_equal(l->n_entries, 4);
    assert_string_equal(l->entries[1].value, "basic | bearer:idp   # not a comment");
    assert_string_equal(l->entries[2].value, "a=b=c");
    assert_string_equal(l->entries[3].key, "empty");
    assert_string_equal(l->entries[3].value, "");
    assert_int_equal(l->entries[3].line, 11);

    struct ini_section *ds = sec(&f, "thing", "door sensor");
    assert_non_null(ds);
    assert_int_equal(ds->line, 12);
    struct ini_section *q = sec(&f, "thing", "a \"q\" \\ b");
    assert_non_null(q);
    assert_int_equal(q->n_entries, 1);
    assert_string_equal(q->entries[0].value, "v"); /* last line without newline */
    assert_int_equal(q->entries[0].line, 15);

    char buf[INI_SECTION_LABEL_MAX];
    assert_int_equal(ini_section_label(q, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "[thing \"a \\\"q\\\" \\\\ b\"]");
    assert_int_equal(ini_section_label(l, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "[thing lamp]");
    assert_int_equal(ini_section_label(g, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "[gateway]");
    assert_int_equal(ini_section_label(l, buf, 5), -ENOBUFS);
    assert_int_equal(ini_section_label(q, buf, 12), -ENOBUFS);
    ini_free(&f);
    ini_free(&f); /* idempotent */
    diag_free(&d);
}

static void test_crlf_bom(void **state)
{
    struct ini_file f;
    struct diags d = {0};
    const char *text = "\xef\xbb\xbf[a]\r\nk = v\r\n\r\n# c\r\nj = w\r\n";
    assert_int_equal(parse(text, &f, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(f.n_sections, 1);
    assert_int_equal(f.sections[0].n_entries, 2);
    assert_string_equal(f.sections[0].entries[0].value, "v");
    assert_string_equal(f.sections[0].entries[1].value, "w");
    assert_int_equal(f.sections[0].entries[1].line, 5);
    ini_free(&f);

    /* a CR anywhere else is a control character */
    assert_int_equal(parse("[a]\nk = v\rw\n", &f, &d), -EINVAL);
    expect_diag(&d, 2, "control character 0x0d at column 6");
    assert_int_equal(f.sections[0].n_entries, 0);
    ini_free(&f);
    diag_free(&d);
}

static void test_long_values(void **state)
{
    struct ini_file f;
    struct diags d = {0};
    for (size_t len = 300; len <= 200000; len *= 25) {
        char *v = malloc(len + 1), *text = NULL;
        assert_non_null(v);
        for (size_t i = 0; i < len; i++)
            v[i] = (char)('a' + i % 26);
        v[len] = '\0';
        assert_true(asprintf(&text, "[a]\nlong = %s\nnext = 1\n", v) > 0);
        assert_int_equal(parse(text, &f, &d), 0);
        assert_int_equal(d.n, 0);
        assert_int_equal(f.sections[0].n_entries, 2);
        assert_int_equal(strlen(f.sections[0].entries[0].value), len);
        assert_string_equal(f.sections[0].entries[0].value, v);
        assert_int_equal(f.sections[0].entries[1].line, 3);
        ini_free(&f);
        free(text);
        free(v);
    }
    diag_free(&d);
}

static void test_structure_errors(void **state)
{
    struct ini_file f;
    struct diags d = {0};
    const char *text = "orphan = 1\n"    /* 1 */
                       "[a]\n"           /* 2 */
                       "just words\n"    /* 3 */
                       "= value\n"       /* 4 */
                       "two words = x\n" /* 5 */
                       "k = 1\n"         /* 6 */
                       "k = 2\n"         /* 7 */
                       "[a]\n"           /* 8 */
                       "dup = refused\n" /* 9 */
                       "[b x]\n"         /* 10 */
                       "[b x]\n"         /* 11 */
                       "[b y]\n"         /* 12 */
                       "ok = yes\n";     /* 13 */
    assert_int_equal(parse(text, &f, &d), -EINVAL);
    expect_diag(&d, 1, "key 'orphan' outside any section");
    expect_diag(&d, 3, "expected 'key = value'");
    expect_diag(&d, 4, "empty key");
    expect_diag(&d, 5, "blank inside the key 'two words'");
    expect_diag(&d, 7, "duplicate key 'k' (first at line 6)");
    expect_diag(&d, 8, "duplicate section [a] (first at line 2");
    expect_diag(&d, 11, "duplicate section [b x] (first at line 10");
    assert_int_equal(d.n_errors, 7);
    assert_int_equal(d.n, 7);
    /* the parse went on and kept what was good */
    assert_int_equal(f.n_sections, 3);
    struct ini_section *a = sec(&f, "a", NULL);
    assert_int_equal(a->n_entries, 1);
    assert_string_equal(a->entries[0].value, "1");     /* first k kept, dup refused */
    assert_int_equal(sec(&f, "b", "x")->n_entries, 0); /* the duplicate's keys refused */
    assert_int_equal(sec(&f, "b", "y")->n_entries, 1);
    ini_free(&f);
    diag_free(&d);
}

/* Each broken header is reported and its keys are never filed under the
 * previous section. */
static void test_broken_sections(void **state)
{
    static const struct {
        const char *header, *msg;
    } cases[] = {
            {"[thing lamp", "missing ']'"},
            {"[thing lamp] # c", "text after ']'"},
            {"[]", "empty section type"},
            {"[  ]", "empty section type"},
            {"[1thing]", "must start with a letter"},
            {"[\"thing\"]", "must start with a letter"},
            {"[th!ng]", "unexpected '!'"},
            {"[thing door sensor]", "quote a name"},
            {"[thing \"door]", "unterminated quoted name"},
            {"[thing \"\"]", "empty name"},
            {"[thing \"a\" b]", "text after the quoted name"},
            {"[thing \"a\\nb\"]", "only \\\" and \\\\"},
            {"[thing a]b]", "unexpected ']'"},
            {"[thing a\"b]", "unexpected '\"'"},
            {"[thing\x01]", "control character 0x01"},
            {"[thing \xff]", "invalid UTF-8"},
            {"[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]",
             "longer than 64"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct ini_file f;
        struct diags d = {0};
        char *text = NULL;
        assert_true(asprintf(&text, "[prev]\nk = 1\n%s\nstray = 2\nother = 3\n[next]\nj = 4\n",
                             cases[i].header) > 0);
        assert_int_equal(parse(text, &f, &d), -EINVAL);
        expect_diag(&d, 3, cases[i].msg);
        assert_int_equal(d.n_errors, 1); /* once, not once per key */
        struct ini_section *prev = sec(&f, "prev", NULL);
        assert_non_null(prev);
        assert_int_equal(prev->n_entries, 1); /* stray/other not filed here */
        assert_null(ini_get(prev, "stray"));
        struct ini_section *next = sec(&f, "next", NULL);
        assert_non_null(next); /* the reader recovers at the next header */
        assert_int_equal(next->n_entries, 1);
        assert_int_equal(f.n_sections, 2);
        ini_free(&f);
        diag_free(&d);
        free(text);
    }
    /* a long name */
    struct ini_file f;
    struct diags d = {0};
    char name[300];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    char *text = NULL;
    assert_true(asprintf(&text, "[thing %s]\n", name) > 0);
    assert_int_equal(parse(text, &f, &d), -EINVAL);
    expect_diag(&d, 1, "name longer than 256");
    ini_free(&f);
    diag_free(&d);
    free(text);
}

#define C(s, m)                                                                                    \
    {                                                                                              \
        s, sizeof(s) - 1, m                                                                        \
    }

static void test_bytes(void **state)
{
    static const struct {
        const char *text;
        size_t len;
        const char *msg;
    } cases[] = {
            C("[a]\nk = v\0w\n", "NUL byte at column 6"),
            C("[a]\nk = \x01\n", "control character 0x01 at column 5"),
            C("[a]\nk = \x1b[31m\n", "control character 0x1b"),
            C("[a]\nk = \x7f\n", "control character 0x7f"),
            C("[a]\nk = \xc2\x85\n", "control character U+0085"),
            C("[a]\nk = \xc0\xaf\n", "invalid UTF-8 at column 5"), /* overlong */
            C("[a]\nk = \xe0\x80\xaf\n", "invalid UTF-8"),         /* overlong */
            C("[a]\nk = \xed\xa0\x80\n", "invalid UTF-8"),         /* surrogate */
            C("[a]\nk = \xf4\x90\x80\x80\n", "invalid UTF-8"),     /* > U+10FFFF */
            C("[a]\nk = \xf5\x80\x80\x80\n", "invalid UTF-8"),
            C("[a]\nk = \xe2\x82\n", "invalid UTF-8"), /* truncated */
            C("[a]\nk = \xe2\x82", "invalid UTF-8"),   /* truncated at EOF */
            C("[a]\nk = \x80\n", "invalid UTF-8"),     /* lone continuation */
            C("[a]\nk = \xe2\x28\xa1\n", "invalid UTF-8"),
            C("[a]\nk = \xff\n", "invalid UTF-8"),
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct ini_file f;
        struct diags d = {0};
        assert_int_equal(ini_parse(P, cases[i].text, cases[i].len, &f, &d), -EINVAL);
        expect_diag(&d, 2, cases[i].msg);
        assert_int_equal(d.n_errors, 1);
        assert_int_equal(f.sections[0].n_entries, 0); /* the line is refused */
        ini_free(&f);
        diag_free(&d);
    }
    /* valid UTF-8 of every length, and tabs, are fine */
    struct ini_file f;
    struct diags d = {0};
    const char *ok =
            "[thing \"caf\xc3\xa9\"]\nname = \xe2\x82\xac 1\t\xf0\x9f\x92\xa1 \xef\xbf\xbd\n";
    assert_int_equal(parse(ok, &f, &d), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(f.sections[0].name, "caf\xc3\xa9");
    assert_string_equal(f.sections[0].entries[0].value,
                        "\xe2\x82\xac 1\t\xf0\x9f\x92\xa1 \xef\xbf\xbd");
    ini_free(&f);
    /* text need not be NUL-terminated: only len bytes are read */
    char buf[8];
    memcpy(buf, "[a]\nk=vX", 8);
    assert_int_equal(ini_parse(P, buf, 7, &f, &d), 0);
    assert_string_equal(f.sections[0].entries[0].value, "v");
    ini_free(&f);
    /* empty input */
    assert_int_equal(ini_parse(P, "", 0, &f, &d), 0);
    assert_int_equal(f.n_sections, 0);
    ini_free(&f);
    diag_free(&d);
}

static void test_all_errors_reported(void **state)
{
    struct ini_file f;
    struct diags d = {0};
    const char *text = "[a]\n"
                       "k1 = ok\n"
                       "bad line\n"   /* 3 */
                       "k1 = again\n" /* 4 */
                       "\x01\n"       /* 5 */
                       "[b\n"         /* 6 */
                       "k = lost\n"
                       "[c]\n"
                       "k = fine\n"
                       "also bad\n"; /* 10 */
    assert_int_equal(parse(text, &f, &d), -EINVAL);
    expect_diag(&d, 3, "expected");
    expect_diag(&d, 4, "duplicate key");
    expect_diag(&d, 5, "control character");
    expect_diag(&d, 6, "missing ']'");
    expect_diag(&d, 10, "expected");
    assert_int_equal(d.n_errors, 5);
    ini_free(&f);
    diag_free(&d);

    /* bounded: a garbage file stops after 200 errors */
    size_t n = 1000;
    char *big = malloc(n * 4 + 1);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        memcpy(big + 4 * i, "xyz\n", 4);
    big[n * 4] = '\0';
    assert_int_equal(parse(big, &f, &d), -EINVAL);
    assert_int_equal(d.n, 201);
    assert_true(diag_contains(&d, "too many errors"));
    expect_diag(&d, 200, "expected");
    expect_diag(&d, 201, "too many errors");
    ini_free(&f);
    diag_free(&d);
    free(big);
}

static void test_counts_bounded(void **state)
{
    struct ini_file f;
    struct diags d = {0};
    /* 4097 sections */
    size_t n = 4097, cap = n * 16 + 1, k = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(text + k, cap - k, "[s%zu]\n", i);
    assert_int_equal(parse(text, &f, &d), -EINVAL);
    assert_int_equal(f.n_sections, 4096);
    expect_diag(&d, 4097, "more than 4096 sections");
    ini_free(&f);
    diag_free(&d);
    /* 2049 keys in one section */
    k = (size_t)snprintf(text, cap, "[a]\n");
    for (size_t i = 0; i < 2049; i++)
        k += (size_t)snprintf(text + k, cap - k, "k%zu=1\n", i);
    assert_int_equal(parse(text, &f, &d), -EINVAL);
    assert_int_equal(f.sections[0].n_entries, 2048);
    expect_diag(&d, 2050, "more than 2048 keys");
    ini_free(&f);
    diag_free(&d);
    free(text);
}

static void test_get_and_unused(void **state)
{
    struct ini_file f;
    struct diags d = {0};
    const char *text = "[a]\nx = 1\ny = 2\n[thing \"door sensor\"]\nprotcol = http\n";
    assert_int_equal(parse(text, &f, &d), 0);
    struct ini_section *a = sec(&f, "a", NULL);
    assert_null(ini_get(a, "nope"));
    assert_null(ini_get(NULL, "x"));
    struct ini_entry *e = ini_get(a, "x");
    assert_non_null(e);
    assert_string_equal(e->value, "1");
    assert_true(e->used);
    assert_false(a->entries[1].used);
    ini_report_unused(&f, &d);
    assert_int_equal(d.n_errors, 2);
    expect_diag(&d, 3, "unknown key 'y' in [a]");
    expect_diag(&d, 5, "unknown key 'protcol' in [thing \"door sensor\"]");
    ini_free(&f);
    diag_free(&d);
}

static void test_load(void **state)
{
    struct ini_file f;
    struct diags d = {0};
    assert_int_equal(ini_load("tests/data/config/nosuch.conf", 1 << 20, &f, &d), -ENOENT);
    assert_true(diag_contains(&d, "cannot read"));
    assert_string_equal(d.v[0].file, "tests/data/config/nosuch.conf");
    ini_free(&f);
    diag_free(&d);

    assert_int_equal(ini_load("tests/data/config/good.conf", 16, &f, &d), -EFBIG);
    assert_true(diag_contains(&d, "larger than 16 bytes"));
    ini_free(&f);
    diag_free(&d);

    assert_int_equal(ini_load("tests/data/config", 1 << 20, &f, &d), -EISDIR);
    ini_free(&f);
    diag_free(&d);

    assert_int_equal(ini_load("tests/data/config/crlf.conf", 1 << 20, &f, &d), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(f.path, "tests/data/config/crlf.conf");
    assert_true(f.n_sections >= 2);
    ini_free(&f);
    diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_basic),
            cmocka_unit_test(test_crlf_bom),
            cmocka_unit_test(test_long_values),
            cmocka_unit_test(test_structure_errors),
            cmocka_unit_test(test_broken_sections),
            cmocka_unit_test(test_bytes),
            cmocka_unit_test(test_all_errors_reported),
            cmocka_unit_test(test_counts_bounded),
            cmocka_unit_test(test_get_and_unused),
            cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
