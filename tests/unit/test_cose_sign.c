/* test_cose_sign.c - cose_sign.c: per-thing COSE_Sign1 keys (made on first
 * use, kept, rotated, refused when broken), the kid (RFC 9679 thumbprint),
 * signing device answers (verified with cose.h), content types and the
 * Accept header. */
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

#include "cose_sign.h"
#include "objsec/cose.h"
#include "util.h"

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/test_cose_sign.XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void rmtree(const char *dir)
{
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static void test_accept(void **state)
{
    struct cose_accept a;
    cose_accept_parse(NULL, &a);
    assert_true(a.others && !a.sign1);
    cose_accept_parse("  ", &a);
    assert_true(a.others && !a.sign1);
    cose_accept_parse("application/cose; cose-type=\"cose-sign1\"", &a);
    assert_true(a.sign1 && !a.others);
    cose_accept_parse("Application/COSE;cose-type=cose-sign1", &a);
    assert_true(a.sign1 && !a.others);
    cose_accept_parse("application/cose", &a);
    assert_true(a.sign1 && !a.others);
    cose_accept_parse("application/cose; cose-type=\"cose-encrypt0\"", &a);
    assert_true(!a.sign1 && !a.others);
    cose_accept_parse("application/cose; cose-type=\"cose-sign1\"; q=0, application/json", &a);
    assert_true(!a.sign1 && a.others);
    cose_accept_parse("application/cose; q=0.0", &a);
    assert_true(!a.sign1 && !a.others);
    cose_accept_parse("application/json;q=0.5, application/cose; cose-type=\"cose-sign1\"", &a);
    assert_true(a.sign1 && a.others);
    cose_accept_parse("*/*", &a);
    assert_true(!a.sign1 && a.others);
    /* a ',' inside quotes does not split */
    cose_accept_parse("application/cose; cose-type=\"cose-sign1,x\"", &a);
    assert_true(!a.sign1 && !a.others);
}

static void test_content_format(void **state)
{
    assert_int_equal(cose_content_format("application/json"), 50);
    assert_int_equal(cose_content_format("application/cbor"), 60);
    assert_int_equal(cose_content_format("application/octet-stream"), 42);
    assert_int_equal(cose_content_format("text/plain;charset=utf-8"), 0);
    assert_int_equal(cose_content_format("application/x-unknown"), -1);
    assert_int_equal(cose_content_format(NULL), -1);
}

static void test_keys(void **state)
{
    char *dir = tmpdir(), *sub = NULL, *path = NULL;
    struct diags d = {0};
    struct cose_signer *s = NULL, *s2 = NULL;
    assert_true(asprintf(&sub, "%s/cose", dir) > 0);
    assert_true(asprintf(&path, "%s/lamp.key", sub) > 0);

    /* without create: -ENOENT and a message */
    assert_int_equal(cose_signer_load(sub, "lamp", false, &s, &d), -ENOENT);
    assert_null(s);
    diag_free(&d);
    /* made on first use: directory 0700, file 0600 */
    assert_int_equal(cose_signer_load(sub, "lamp", true, &s, &d), 0);
    assert_int_equal(d.n, 0);
    struct stat st;
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(strlen(s->kid_hex), 16);
    uint8_t kid[COSE_SIGN_KID_LEN];
    assert_int_equal(cose_signer_kid(s->key, kid), 0);
    assert_memory_equal(kid, s->kid, sizeof(kid));
    /* kept */
    assert_int_equal(cose_signer_load(sub, "lamp", true, &s2, &d), 0);
    assert_string_equal(s->kid_hex, s2->kid_hex);
    cose_signer_unref(s2);
    s2 = NULL;
    /* the JWK */
    json_t *jwk = cose_signer_jwk(s);
    assert_non_null(jwk);
    assert_string_equal(json_string_value(json_object_get(jwk, "kid")), s->kid_hex);
    assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "P-256");
    assert_null(json_object_get(jwk, "d"));
    json_decref(jwk);

    /* sign and verify with the public part only */
    const char *payload = "{\"on\":true}";
    uint8_t *msg = NULL;
    size_t len = 0;
    assert_int_equal(cose_signer_sign1(s, "application/json", (const uint8_t *)payload,
                                       strlen(payload), &msg, &len),
                     0);
    uint8_t pub[COSE_KEY_ENCODED_MAX];
    size_t plen = 0;
    struct cose_key *pk = NULL;
    assert_int_equal(cose_key_encode(s->key, false, pub, sizeof(pub), &plen), 0);
    assert_int_equal(cose_key_decode(pub, plen, &pk), 0);
    assert_false(pk->has_private);
    struct cose_msg m;
    struct cose_verify_opts o = {.require_tag = true};
    assert_int_equal(cose_sign1_verify(pk, msg, len, &o, &m), 0);
    assert_int_equal(m.payload_len, strlen(payload));
    assert_memory_equal(m.payload, payload, m.payload_len);
    assert_true(m.hdr.has_ctype && !m.hdr.ctype_str && m.hdr.ctype == 50);
    assert_true(m.hdr.has_kid && m.hdr.kid_len == COSE_SIGN_KID_LEN);
    assert_memory_equal(m.hdr.kid, s->kid, COSE_SIGN_KID_LEN);
    msg[len - 1] ^= 1;
    assert_int_equal(cose_sign1_verify(pk, msg, len, &o, NULL), -EACCES);
    free(msg);
    /* a media type without a Content-Format goes as text */
    assert_int_equal(
            cose_signer_sign1(s, "application/x-test", (const uint8_t *)"ab", 2, &msg, &len), 0);
    assert_int_equal(cose_sign1_verify(pk, msg, len, &o, &m), 0);
    assert_true(m.hdr.has_ctype && m.hdr.ctype_str_len == strlen("application/x-test"));
    assert_memory_equal(m.hdr.ctype_str, "application/x-test", m.hdr.ctype_str_len);
    free(msg);
    /* no content type, empty payload */
    assert_int_equal(cose_signer_sign1(s, NULL, NULL, 0, &msg, &len), 0);
    assert_int_equal(cose_sign1_verify(pk, msg, len, &o, &m), 0);
    assert_false(m.hdr.has_ctype);
    assert_int_equal(m.payload_len, 0);
    free(msg);
    cose_key_free(pk);

    /* rotation: a new kid, and the file has it */
    char nk[2 * COSE_SIGN_KID_LEN + 1];
    assert_int_equal(cose_signer_rotate(sub, "lamp", nk, &d), 0);
    assert_string_not_equal(nk, s->kid_hex);
    assert_int_equal(cose_signer_load(sub, "lamp", false, &s2, &d), 0);
    assert_string_equal(s2->kid_hex, nk);
    cose_signer_unref(s2);
    s2 = NULL;

    /* the old signer outlives the rotation (reference count) */
    struct cose_signer *held = cose_signer_ref(s);
    cose_signer_unref(s);
    assert_int_equal(strlen(held->kid_hex), 16);
    assert_int_equal(cose_signer_kid(held->key, kid), 0);
    cose_signer_unref(held);

    /* a key others may read still loads, with a warning */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(cose_signer_load(sub, "lamp", false, &s2, &d), 0);
    assert_true(d.n_errors == 0 && diag_contains(&d, "chmod 600"));
    cose_signer_unref(s2);
    s2 = NULL;
    diag_free(&d);

    /* a broken file is an error with the path, never the key */
    assert_int_equal(util_write_file_atomic(path, "garbage", 7, 0600), 0);
    assert_int_equal(cose_signer_load(sub, "lamp", true, &s2, &d), -EINVAL);
    assert_null(s2);
    assert_true(d.n > 0 && strstr(d.v[0].file, "lamp.key"));
    diag_free(&d);

    /* a COSE_Key whose kid is not the thumbprint */
    struct cose_key *g = NULL;
    assert_int_equal(cose_key_generate(COSE_ALG_ES256, (const uint8_t *)"12345678", 8, &g), 0);
    uint8_t buf[COSE_KEY_ENCODED_MAX];
    size_t blen = 0;
    assert_int_equal(cose_key_encode(g, true, buf, sizeof(buf), &blen), 0);
    cose_key_free(g);
    assert_int_equal(util_write_file_atomic(path, buf, blen, 0600), 0);
    assert_int_equal(cose_signer_load(sub, "lamp", true, &s2, &d), -EINVAL);
    assert_true(diag_contains(&d, "thumbprint"));
    diag_free(&d);

    /* bad thing names */
    assert_int_equal(cose_signer_load(sub, "..", true, &s2, &d), -EINVAL);
    assert_int_equal(cose_signer_load(sub, "a/b", true, &s2, &d), -EINVAL);
    diag_free(&d);

    free(sub);
    free(path);
    rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_accept),
            cmocka_unit_test(test_content_format),
            cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
