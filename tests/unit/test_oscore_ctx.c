/* test_oscore_ctx.c - auth/oscore_ctx.c: the OSCORE security contexts
 * file: fields, hex and base64url secrets, lookup by name, malformed
 * lines, duplicates, file permissions, and that secrets never reach a
 * message. */
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

#include "auth/oscore_ctx.h"
#include "util.h"

#define S16 "0102030405060708090a0b0c0d0e0f10"
/* base64url of 16 bytes 0xa5 */
#define B16  "paWlpaWlpaWlpaWlpaWlpQ"
#define SALT "9e7ca92223786340"

static void expect_bad(const char *text, unsigned line, const char *msg)
{
    struct diags d = {0};
    struct oscore_ctx_store *s = NULL;
    int r = oscore_ctx_parse("oscore", text, strlen(text), &s, &d);
    if (r != -EINVAL || !diag_contains(&d, msg)) {
        fprintf(stderr, "input: %s\n", text);
        diag_print(&d, stderr);
    }
    assert_int_equal(r, -EINVAL);
    assert_null(s);
    assert_true(diag_contains(&d, msg));
    bool at = false;
    for (size_t i = 0; i < d.n; i++)
        at = at || d.v[i].line == line;
    assert_true(at);
    /* the secrets are never echoed */
    assert_false(diag_contains(&d, "05060708090a"));
    assert_false(diag_contains(&d, "paWlpaWl"));
    diag_free(&d);
}

static void test_parse_and_find(void **state)
{
    struct diags d = {0};
    struct oscore_ctx_store *s = NULL;
    const char *text =
            "# OSCORE contexts\n\n"
            "sensor-7 sender_id=01 recipient_id=02 master_secret=" S16 " master_salt=" SALT "\r\n"
            "  \n"
            "lamp\tsender_id= recipient_id=0A0b id_context=37cbf3210017a2d3"
            "\tmaster_secret_b64=" B16 "\n"
            "bob@home recipient_id= sender_id=aa id_context= master_secret=" S16 S16
            " master_salt_b64=\n";
    assert_int_equal(oscore_ctx_parse("oscore", text, strlen(text), &s, &d), 0);
    diag_print(&d, stderr);
    assert_int_equal(d.n, 0);
    assert_int_equal(s->n, 3);
    /* sorted by name */
    assert_string_equal(s->v[0].name, "bob@home");
    assert_string_equal(s->v[1].name, "lamp");
    assert_string_equal(s->v[2].name, "sensor-7");

    const struct oscore_ctx_entry *e = oscore_ctx_find(s, "sensor-7");
    assert_non_null(e);
    assert_int_equal(e->sender_id_len, 1);
    assert_int_equal(e->sender_id[0], 1);
    assert_int_equal(e->recipient_id_len, 1);
    assert_int_equal(e->recipient_id[0], 2);
    assert_false(e->has_id_context);
    assert_int_equal(e->master_secret_len, 16);
    assert_int_equal(e->master_secret[15], 0x10);
    assert_int_equal(e->master_salt_len, 8);
    assert_int_equal(e->master_salt[0], 0x9e);

    e = oscore_ctx_find(s, "lamp");
    assert_non_null(e);
    assert_int_equal(e->sender_id_len, 0);
    assert_int_equal(e->recipient_id_len, 2);
    assert_int_equal(e->recipient_id[0], 0x0a);
    assert_int_equal(e->recipient_id[1], 0x0b);
    assert_true(e->has_id_context);
    assert_int_equal(e->id_context_len, 8);
    assert_int_equal(e->id_context[7], 0xd3);
    assert_int_equal(e->master_secret_len, 16);
    assert_int_equal(e->master_secret[0], 0xa5);
    assert_int_equal(e->master_salt_len, 0);

    e = oscore_ctx_find(s, "bob@home");
    assert_non_null(e);
    assert_int_equal(e->recipient_id_len, 0);
    assert_true(e->has_id_context);
    assert_int_equal(e->id_context_len, 0);
    assert_int_equal(e->master_secret_len, 32);

    /* parameters for oscore_ctx_new() */
    struct oscore_ctx_params p;
    oscore_ctx_entry_params(e, &p);
    assert_ptr_equal(p.master_secret, e->master_secret);
    assert_int_equal(p.master_secret_len, 32);
    assert_null(p.master_salt);
    assert_null(p.recipient_id);
    assert_non_null(p.id_context);
    assert_int_equal(p.id_context_len, 0);
    struct oscore_ctx *c = NULL;
    assert_int_equal(oscore_ctx_new(&p, &c), 0);
    oscore_ctx_free(c);

    assert_null(oscore_ctx_find(s, "sensor"));
    assert_null(oscore_ctx_find(s, "Lamp"));
    assert_null(oscore_ctx_find(s, NULL));
    assert_null(oscore_ctx_find(NULL, "lamp"));
    oscore_ctx_store_free(s);

    assert_int_equal(oscore_ctx_parse("oscore", "", 0, &s, &d), 0);
    assert_int_equal(s->n, 0);
    oscore_ctx_store_free(s);
    oscore_ctx_store_free(NULL);
    diag_free(&d);
}

static void test_many(void **state)
{
    size_t n = 1000, cap = n * 128;
    char *text = malloc(cap), *p = text;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "ctx%zu sender_id=00 recipient_id=%06zx master_secret=%s\n", (i * 7919) % n,
                     (i * 7919) % n + 1, S16);
    struct diags d = {0};
    struct oscore_ctx_store *s = NULL;
    assert_int_equal(oscore_ctx_parse("oscore", text, (size_t)(p - text), &s, &d), 0);
    assert_int_equal(s->n, n);
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "ctx%zu", i);
        const struct oscore_ctx_entry *e = oscore_ctx_find(s, id);
        assert_non_null(e);
        assert_int_equal(e->recipient_id[2], (uint8_t)(i + 1));
    }
    oscore_ctx_store_free(s);
    free(text);
    diag_free(&d);
}

static void test_malformed(void **state)
{
    const char *ok = " sender_id=01 recipient_id=02 master_secret=" S16 "\n";
    char buf[512];
    expect_bad("alice\n", 1, "needs sender_id, recipient_id and master_secret");
    expect_bad("alice sender_id=01 recipient_id=02\n", 1, "needs sender_id");
    expect_bad("alice sender_id=01 master_secret=" S16 "\n", 1, "needs sender_id");
    snprintf(buf, sizeof(buf), "al/ice%s", ok);
    expect_bad(buf, 1, "invalid context name");
    snprintf(buf, sizeof(buf), "%s", ok);
    expect_bad(buf, 1, "invalid context name"); /* line starts with a blank: empty name */
    snprintf(buf, sizeof(buf),
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%s", ok);
    expect_bad(buf, 1, "invalid context name");
    expect_bad("a sender_id=01 recipient_id=02 " S16 "\n", 1, "expected KEY=VALUE");
    expect_bad("a sender_id=01 recipient_id=02 master_secret=" S16 " alg=10\n", 1,
               "unknown key 'alg'");
    expect_bad("a sender_id=01 sender_id=03 recipient_id=02 master_secret=" S16 "\n", 1,
               "sender_id given twice");
    expect_bad("a sender_id=01 recipient_id=02 master_secret=" S16 " master_secret_b64=" B16 "\n",
               1, "master_secret given twice");
    expect_bad("a sender_id=0 recipient_id=02 master_secret=" S16 "\n", 1, "sender_id is not hex");
    expect_bad("a sender_id=0g recipient_id=02 master_secret=" S16 "\n", 1, "sender_id is not hex");
    expect_bad("a sender_id=01 recipient_id=0102030405060708 master_secret=" S16 "\n", 1,
               "recipient_id longer than 7 bytes");
    expect_bad("a sender_id=01 recipient_id=01 master_secret=" S16 "\n", 1, "must differ");
    expect_bad("a sender_id= recipient_id= master_secret=" S16 "\n", 1, "must differ");
    expect_bad("a sender_id=01 recipient_id=02 master_secret=0102030405060708090a0b0c0d0e0f\n", 1,
               "shorter than 16 bytes");
    expect_bad("a sender_id=01 recipient_id=02 master_secret=" S16 S16 S16 S16 "00\n", 1,
               "master_secret longer than 64 bytes");
    expect_bad("a sender_id=01 recipient_id=02 master_secret=" S16 "x\n", 1,
               "master_secret is not hex");
    expect_bad("a sender_id=01 recipient_id=02 master_secret_b64=" B16 "==\n", 1,
               "master_secret is not base64url");
    expect_bad("a sender_id=01 recipient_id=02 master_secret_b64=paWl+aWlpaWlpaWlpaWlpQ\n", 1,
               "master_secret is not base64url");
    expect_bad("a sender_id=01 recipient_id=02 master_secret=" S16 " master_salt=zz\n", 1,
               "master_salt is not hex");
    expect_bad("a sender_id=01 recipient_id=02 master_secret=" S16 " id_context=123\n", 1,
               "id_context is not hex");
    /* duplicates */
    snprintf(buf, sizeof(buf), "a%sb sender_id=01 recipient_id=03 master_secret=" S16 "\na%s", ok,
             ok);
    expect_bad(buf, 3, "duplicate context name 'a' (also on line 1)");
    snprintf(buf, sizeof(buf), "a%sb%s", ok, ok);
    expect_bad(buf, 2, "same recipient_id and id_context as 'a' on line 1");
    /* the same recipient_id with different ID contexts is fine */
    struct diags d = {0};
    struct oscore_ctx_store *s = NULL;
    snprintf(buf, sizeof(buf),
             "a sender_id=01 recipient_id=02 master_secret=" S16 "\n"
             "b sender_id=01 recipient_id=02 id_context=aa master_secret=" S16 "\n"
             "c sender_id=01 recipient_id=02 id_context= master_secret=" S16 "\n");
    assert_int_equal(oscore_ctx_parse("oscore", buf, strlen(buf), &s, &d), 0);
    assert_int_equal(s->n, 3);
    oscore_ctx_store_free(s);
    snprintf(buf, sizeof(buf),
             "b sender_id=01 recipient_id=02 id_context=aa master_secret=" S16 "\n"
             "c sender_id=05 recipient_id=02 id_context=AA master_secret=" S16 "\n");
    expect_bad(buf, 2, "same recipient_id and id_context as 'b'");
    /* every bad line is reported */
    const char *two = "a\nb sender_id=zz\n";
    assert_int_equal(oscore_ctx_parse("oscore", two, strlen(two), &s, &d), -EINVAL);
    assert_int_equal(d.n_errors, 2);
    diag_free(&d);
    const char nul[] = "a sender_id=01\0 recipient_id=02 master_secret=" S16 "\n";
    assert_int_equal(oscore_ctx_parse("oscore", nul, sizeof(nul) - 1, &s, &d), -EINVAL);
    assert_true(diag_contains(&d, "NUL"));
    diag_free(&d);
    char *longline = malloc(OSCORE_CTX_MAX_LINE + 80);
    snprintf(longline, OSCORE_CTX_MAX_LINE + 80, "a master_salt=%0*d\n", OSCORE_CTX_MAX_LINE, 0);
    expect_bad(longline, 1, "line longer");
    free(longline);
    assert_int_equal(oscore_ctx_parse("oscore", "", OSCORE_CTX_MAX_FILE_SIZE + 1, &s, &d), -EFBIG);
    assert_null(s);
    diag_free(&d);
}

static void test_check_line(void **state)
{
    char err[200];
    assert_int_equal(oscore_ctx_check_line("a sender_id=01 recipient_id=02 master_secret=" S16, err,
                                           sizeof(err)),
                     0);
    assert_string_equal(err, "");
    assert_int_equal(oscore_ctx_check_line("a sender_id=01 recipient_id=01 master_secret=" S16, err,
                                           sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "must differ"));
    assert_null(strstr(err, "0506070809"));
    assert_int_equal(oscore_ctx_check_line("a b", NULL, 0), -EINVAL);
}

static void test_load(void **state)
{
    char dir[] = "/tmp/test_oscore_ctx.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/oscore", dir);
    struct diags d = {0};
    struct oscore_ctx_store *s = NULL;
    assert_int_equal(oscore_ctx_load(path, &s, &d), -ENOENT);
    assert_true(diag_contains(&d, "cannot read"));
    diag_free(&d);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("dev1 sender_id=01 recipient_id=02 master_secret=" S16 "\n", f);
    fclose(f);
    chmod(path, 0600);
    assert_int_equal(oscore_ctx_load(path, &s, &d), 0);
    assert_int_equal(d.n, 0);
    assert_non_null(oscore_ctx_find(s, "dev1"));
    oscore_ctx_store_free(s);
    chmod(path, 0640);
    assert_int_equal(oscore_ctx_load(path, &s, &d), 0);
    oscore_ctx_store_free(s);
    /* any permission for others refuses the file */
    chmod(path, 0644);
    assert_int_equal(oscore_ctx_load(path, &s, &d), -EPERM);
    assert_null(s);
    assert_true(diag_contains(&d, "must not be accessible to others"));
    diag_free(&d);
    chmod(path, 0601);
    assert_int_equal(oscore_ctx_load(path, &s, &d), -EPERM);
    diag_free(&d);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_and_find), cmocka_unit_test(test_many),
            cmocka_unit_test(test_malformed),      cmocka_unit_test(test_check_line),
            cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
