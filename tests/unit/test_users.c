/* test_users.c - auth/users.c: the users file, crypt_r verification,
 * the dummy hash for unknown users, refused hash methods, groups. */
#define _GNU_SOURCE
#include <crypt.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auth/users.h"
#include "util.h"

#define DATA "tests/data/auth/"

/* A fresh hash of pass with a method prefix ("$y$", "$2b$", ...). */
static char *make_hash(const char *prefix, unsigned long count, const char *pass)
{
    char *salt = crypt_gensalt_ra(prefix, count, NULL, 0);
    assert_non_null(salt);
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    assert_non_null(cd);
    const char *h = crypt_rn(pass, salt, cd, sizeof(*cd));
    assert_non_null(h);
    assert_true(h[0] != '*');
    char *out = strdup(h);
    free(cd);
    free(salt);
    return out;
}

static int parse(const char *text, struct users **u, struct diags *d)
{
    return users_parse("users", text, strlen(text), u, d);
}

/* Parses text expecting failure with msg at line. */
static void expect_bad(const char *text, unsigned line, const char *msg)
{
    struct diags d = {0};
    struct users *u = NULL;
    int r = parse(text, &u, &d);
    if (r != -EINVAL || !diag_contains(&d, msg))
        diag_print(&d, stderr);
    assert_int_equal(r, -EINVAL);
    assert_null(u);
    assert_true(diag_contains(&d, msg));
    bool at_line = false;
    for (size_t i = 0; i < d.n; i++)
        at_line = at_line ||
                  (d.v[i].line == line && !strcmp(d.v[i].file, "users") && !d.v[i].warning);
    assert_true(at_line);
    diag_free(&d);
}

static void test_verify_generated(void **state)
{
    char *y = make_hash("$y$", 0, "correct horse");
    char *b = make_hash("$2b$", 4, "battery staple");
    char *s7 = make_hash("$7$", 0, "scrypt pw");
    char *gy = make_hash("$gy$", 0, "gost pw");
    char *text = NULL;
    assert_true(asprintf(&text,
                         "# generated\nyuki:%s:family,admins\nben:%s\nsam:%s:x\ngil:%s\n"
                         "nopw:!:family\n",
                         y, b, s7, gy) > 0);
    struct diags d = {0};
    struct users *u = NULL;
    assert_int_equal(parse(text, &u, &d), 0);
    assert_int_equal(u->n, 5);
    /* bcrypt cost 4 is accepted with a warning */
    assert_int_equal(d.n_errors, 0);
    assert_true(diag_contains(&d, "bcrypt cost"));
    /* the dummy is the first password user's hash (same method and cost) */
    assert_string_equal(u->dummy, y);

    const struct user *who = NULL;
    assert_true(users_verify(u, "yuki", "correct horse", 13, &who));
    assert_non_null(who);
    assert_string_equal(who->name, "yuki");
    assert_true(users_verify(u, "ben", "battery staple", 14, &who));
    assert_string_equal(who->name, "ben");
    assert_true(users_verify(u, "sam", "scrypt pw", 9, NULL));
    assert_true(users_verify(u, "gil", "gost pw", 7, NULL));
    /* wrong password, wrong length, another user's password */
    assert_false(users_verify(u, "yuki", "correct horsE", 13, &who));
    assert_null(who);
    assert_false(users_verify(u, "yuki", "correct horse", 12, NULL));
    assert_false(users_verify(u, "yuki", "correct horse!", 14, NULL));
    assert_false(users_verify(u, "ben", "correct horse", 13, NULL));
    /* pass_len is honoured: the bytes after it are not part of it */
    assert_true(users_verify(u, "yuki", "correct horse and more", 13, NULL));
    /* an embedded NUL, an over-long password, NULL */
    assert_false(users_verify(u, "yuki", "correct\0horse", 13, NULL));
    char *longpw = malloc(USERS_MAX_PASSWORD + 2);
    memset(longpw, 'a', USERS_MAX_PASSWORD + 1);
    longpw[USERS_MAX_PASSWORD + 1] = '\0';
    assert_false(users_verify(u, "yuki", longpw, USERS_MAX_PASSWORD + 1, NULL));
    free(longpw);
    assert_false(users_verify(u, "yuki", NULL, 0, NULL));
    assert_false(users_verify(u, "yuki", "", 0, NULL));
    /* "!" may not log in, whatever is tried */
    assert_false(users_verify(u, "nopw", "!", 1, &who));
    assert_null(who);
    assert_false(users_verify(u, "nopw", "", 0, NULL));
    /* unknown users: false after the dummy hash */
    assert_false(users_verify(u, "nobody", "correct horse", 13, &who));
    assert_null(who);
    assert_false(users_verify(u, NULL, "correct horse", 13, NULL));
    assert_false(users_verify(NULL, "yuki", "correct horse", 13, NULL));
    /* names are case-sensitive */
    assert_false(users_verify(u, "Yuki", "correct horse", 13, NULL));

    users_free(u);
    diag_free(&d);
    free(text);
    free(y);
    free(b);
    free(s7);
    free(gy);
}

static double elapsed(const struct users *u, const char *name, const char *pw)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_false(users_verify(u, name, pw, strlen(pw), NULL));
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Unknown users and "!" users cost one hash too: the median time of a
 * refused unknown user is of the order of a refused known user (the bound
 * is loose, to stay reliable on a loaded machine). */
static void test_dummy_hash_timing(void **state)
{
    char *y = make_hash("$y$", 0, "pw-one");
    char *text = NULL;
    assert_true(asprintf(&text, "known:%s\nlocked:!\n", y) > 0);
    struct diags d = {0};
    struct users *u = NULL;
    assert_int_equal(parse(text, &u, &d), 0);
    enum { N = 7 };
    double known[N], unknown[N], locked[N];
    for (int i = 0; i < N; i++) {
        known[i] = elapsed(u, "known", "wrong");
        unknown[i] = elapsed(u, "ghost", "wrong");
        locked[i] = elapsed(u, "locked", "wrong");
    }
    qsort(known, N, sizeof(double), dbl_cmp);
    qsort(unknown, N, sizeof(double), dbl_cmp);
    qsort(locked, N, sizeof(double), dbl_cmp);
    assert_true(unknown[N / 2] > known[N / 2] * 0.3);
    assert_true(locked[N / 2] > known[N / 2] * 0.3);
    users_free(u);

    /* a file with no password user uses the built-in yescrypt dummy */
    assert_int_equal(parse("locked:!\n", &u, &d), 0);
    assert_non_null(u->dummy);
    assert_memory_equal(u->dummy, "$y$", 3);
    assert_false(users_verify(u, "ghost", "x", 1, NULL));
    users_free(u);
    /* an empty file is a valid, empty set */
    assert_int_equal(parse("", &u, &d), 0);
    assert_int_equal(u->n, 0);
    assert_null(users_find(u, "x"));
    assert_false(users_verify(u, "x", "x", 1, NULL));
    users_free(u);
    diag_free(&d);
    free(text);
    free(y);
}

static void test_hash_methods(void **state)
{
    char *y = make_hash("$y$", 0, "p");
    char *b = make_hash("$2b$", 10, "p");
    assert_true(users_hash_method_ok(y));
    assert_true(users_hash_method_ok(b));
    static const char *const refused[] = {
            "$1$a1QaAQYG$TzQYFkRaBCrSRmr3LBSt31", /* md5crypt */
            "yt4T95gHHXSn2",                      /* DES */
            "_J9..rasmBYk8r9AiWNc",               /* BSDi DES */
            "$5$9QZVxo/1pO0ZlYsF$YMmlv.vZIpzTFpkJnOBtd1Hxd.RyAYXMc/6ppaddJ0D",
            "$6$8xZVey5nWqHWI1UM$USQequsm.0qqLOS762gzRmHteVtiX8hrHCH6mx5f7msGiT4WYt8VgfwQcwt1Rrx/"
            "IN7JuiSRhzhtk1br7E4bS/",
            "$2a$05$CjTXLkULZ1vYo/DbbuZdXuMQZspwap.S0O88pMjksqeILEH4eLNOW", /* old bcrypt */
            "$y$j9T$abc",                                                   /* setting only */
            "$y$j9T$",                                                      /* no salt */
            "$y$j9T$L.IHqwB9eoz91307RheE20$short",                          /* hash too short */
            "$y$$L.IHqwB9eoz91307RheE20$SD.LP3xfS3KMy9/lNKSf3qNM3GFB0igrBSoTzNBwbf6",
            "$2b$04$short",
            "$2b$99$hAmXTWZkLNCog/s8xp355eZddd1CtwKGWDf2LBhocEgrM2/CSbe5G",
            "$7$$j6WvydwK7Q5dWBXdB2hqlHDycPakoZYP5vJYSl5UFq.",
            "$md5$x$y",
            "!",
            "*",
            "",
            "$y$j9T$L.IHqwB9eoz91307RheE20$SD.LP3xfS3KMy9/lNKSf3qNM3GFB0igrBSoTzNBwbf6 ",
            "$y$j9T$L.IHqwB9eoz91307RheE20$SD.LP3xfS3KMy9/lNKSf3qNM3GFB0igrBSoTzNBwbf6$",
    };
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        if (users_hash_method_ok(refused[i]))
            fprintf(stderr, "accepted: %s\n", refused[i]);
        assert_false(users_hash_method_ok(refused[i]));
    }
    assert_false(users_hash_method_ok(NULL));
    free(y);
    free(b);
}

static void test_weak_methods_in_file(void **state)
{
    struct diags d = {0};
    struct users *u = NULL;
    assert_int_equal(users_load(DATA "users-weak", &u, &d), -EINVAL);
    assert_null(u);
    /* each refused with FILE:LINE */
    assert_int_equal(d.n_errors, 3);
    assert_string_equal(d.v[0].file, DATA "users-weak");
    assert_int_equal(d.v[0].line, 2);
    assert_true(strstr(d.v[0].msg, "md5user") && strstr(d.v[0].msg, "MD5"));
    assert_int_equal(d.v[1].line, 3);
    assert_true(strstr(d.v[1].msg, "DES"));
    assert_int_equal(d.v[2].line, 4);
    assert_true(strstr(d.v[2].msg, "SHA-crypt"));
    /* no hash text in messages */
    assert_false(diag_contains(&d, "TzQYFkRaBCrSRmr3LBSt31"));
    diag_free(&d);
}

static void test_malformed_lines(void **state)
{
    const char *h = "$y$j9T$L.IHqwB9eoz91307RheE20$SD.LP3xfS3KMy9/lNKSf3qNM3GFB0igrBSoTzNBwbf6";
    char *t = NULL;
    expect_bad("# c\nalice\n", 2, "expected NAME:HASH");
    expect_bad("\n\nalice bob\n", 3, "expected NAME:HASH");
    assert_true(asprintf(&t, ":%s\n", h) > 0);
    expect_bad(t, 1, "invalid user name");
    free(t);
    assert_true(asprintf(&t, "al ice:%s\n", h) > 0);
    expect_bad(t, 1, "invalid user name");
    free(t);
    assert_true(asprintf(&t, " alice:%s\n", h) > 0);
    expect_bad(t, 1, "invalid user name");
    free(t);
    assert_true(asprintf(&t, "al/ice:%s\n", h) > 0);
    expect_bad(t, 1, "invalid user name");
    free(t);
    assert_true(asprintf(&t, "%065d:%s\n", 0, h) > 0);
    expect_bad(t, 1, "invalid user name");
    free(t);
    assert_true(asprintf(&t, "%064d:%s\n", 0, h) > 0); /* 64 is fine */
    struct diags d = {0};
    struct users *u = NULL;
    assert_int_equal(parse(t, &u, &d), 0);
    users_free(u);
    free(t);
    expect_bad("alice:\n", 1, "empty password hash");
    expect_bad("alice:abc\n", 1, "DES");
    expect_bad("alice:$y$\n", 1, "malformed yescrypt");
    assert_true(asprintf(&t, "alice:%s:fam ily\n", h) > 0);
    expect_bad(t, 1, "invalid group name");
    free(t);
    assert_true(asprintf(&t, "alice:%s:a,,b\n", h) > 0);
    expect_bad(t, 1, "invalid group name");
    free(t);
    assert_true(asprintf(&t, "alice:%s:a,\n", h) > 0);
    expect_bad(t, 1, "invalid group name");
    free(t);
    assert_true(asprintf(&t, "alice:%s:a:b\n", h) > 0);
    expect_bad(t, 1, "invalid group name");
    free(t);
    /* 33 groups */
    char groups[33 * 4 + 1] = "";
    for (int i = 0; i < 33; i++)
        snprintf(groups + strlen(groups), sizeof(groups) - strlen(groups), "%sg%d", i ? "," : "",
                 i);
    assert_true(asprintf(&t, "alice:%s:%s\n", h, groups) > 0);
    expect_bad(t, 1, "too many groups");
    free(t);
    /* NUL byte, over-long line */
    const char nul[] = "alice:x\0y\nbob:!\n";
    assert_int_equal(users_parse("users", nul, sizeof(nul) - 1, &u, &d), -EINVAL);
    assert_true(diag_contains(&d, "NUL"));
    diag_free(&d);
    char *longline = malloc(USERS_MAX_LINE + 20);
    memset(longline, 'a', USERS_MAX_LINE + 10);
    memcpy(longline + USERS_MAX_LINE + 10, ":!\n", 4);
    expect_bad(longline, 1, "line longer");
    free(longline);
    /* duplicate users: both lines named */
    assert_true(asprintf(&t, "alice:%s\nbob:!\nalice:!\n", h) > 0);
    expect_bad(t, 3, "duplicate user 'alice' (also on line 1)");
    free(t);
    /* errors on several lines are all reported */
    assert_int_equal(parse("a\nb\nc:!\nd\n", &u, &d), -EINVAL);
    assert_int_equal(d.n_errors, 3);
    diag_free(&d);
    /* CRLF line ends and a last line without newline are fine */
    assert_true(asprintf(&t, "alice:%s:x\r\nbob:!", h) > 0);
    assert_int_equal(parse(t, &u, &d), 0);
    assert_int_equal(u->n, 2);
    assert_true(user_in_group(users_find(u, "alice"), "x"));
    users_free(u);
    free(t);
    /* file too large */
    assert_int_equal(users_parse("users", "", USERS_MAX_FILE_SIZE + 1, &u, &d), -EFBIG);
    diag_free(&d);
}

static void test_load_find_groups(void **state)
{
    struct diags d = {0};
    struct users *u = NULL;
    assert_int_equal(users_load(DATA "users", &u, &d), 0);
    assert_int_equal(u->n, 4);
    /* sorted by name */
    for (size_t i = 1; i < u->n; i++)
        assert_true(strcmp(u->v[i - 1].name, u->v[i].name) < 0);
    const struct user *a = users_find(u, "alice"), *c = users_find(u, "carol");
    const struct user *dv = users_find(u, "dave");
    assert_non_null(a);
    assert_non_null(c);
    assert_null(users_find(u, "eve"));
    assert_null(users_find(u, ""));
    assert_null(users_find(u, NULL));
    assert_null(users_find(NULL, "alice"));
    assert_true(user_in_group(a, "family"));
    assert_true(user_in_group(a, "admins"));
    assert_false(user_in_group(a, "guests"));
    assert_false(user_in_group(a, "famil"));
    assert_false(user_in_group(a, NULL));
    assert_false(user_in_group(NULL, "family"));
    assert_string_equal(c->hash, "!");
    /* "dave:HASH:" has no groups, but a non-NULL vector */
    assert_non_null(dv->groups);
    assert_null(dv->groups[0]);
    const struct user *who = NULL;
    assert_true(users_verify(u, "alice", "alice-pw-Secr3t", 15, &who));
    assert_ptr_equal(who, a);
    assert_true(users_verify(u, "bob", "bob-pw-Secr3t", 13, NULL));
    assert_false(users_verify(u, "bob", "alice-pw-Secr3t", 15, NULL));
    assert_false(users_verify(u, "carol", "", 0, NULL));
    users_free(u);
    users_free(NULL);
    /* a missing file */
    assert_int_equal(users_load(DATA "no-such-users", &u, &d), -ENOENT);
    assert_null(u);
    assert_true(diag_contains(&d, "cannot read"));
    diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_verify_generated), cmocka_unit_test(test_dummy_hash_timing),
            cmocka_unit_test(test_hash_methods),     cmocka_unit_test(test_weak_methods_in_file),
            cmocka_unit_test(test_malformed_lines),  cmocka_unit_test(test_load_find_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
