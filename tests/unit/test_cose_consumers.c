/* test_cose_consumers.c - cose_consumers.c: the consumers' COSE keys file
 * (public signing keys and symmetric MAC / encryption keys; malformed
 * lines, private parts, duplicate kids, a secret file open to others),
 * commands as COSE_Sign1 and COSE_Mac0 (accepted by the right key of the
 * right principal only; tampered messages refused) and COSE_Encrypt0 to a
 * consumer (decrypted with cose.h, fresh IV, kid and content type). */
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

#include "cose_consumers.h"
#include "mqtt_topic.h"
#include "objsec/cose.h"
#include "util.h"

static char dir[] = "/tmp/test_cose_consumers.XXXXXX";

/* keys of the test: private halves kept here, the file gets what a
 * consumer registers */
static struct cose_key *alice_es, *alice_ed, *alice_mac, *alice_mac256, *alice_enc, *alice_enc2,
        *bob_es, *bob_mac, *rogue_mac;

static struct cose_key *gen(int64_t alg, const char *kid)
{
    struct cose_key *k = NULL;
    assert_int_equal(cose_key_generate(alg, (const uint8_t *)kid, strlen(kid), &k), 0);
    return k;
}

/* "PRINCIPAL HEX\n" for k (the public part of a signing key, the whole
 * symmetric key) into buf. */
static void key_line(char *buf, size_t cap, const char *principal, const struct cose_key *k,
                     bool with_private)
{
    uint8_t enc[COSE_KEY_ENCODED_MAX];
    size_t n = 0;
    char hex[2 * COSE_KEY_ENCODED_MAX + 1];
    assert_int_equal(cose_key_encode(k, with_private, enc, sizeof enc, &n), 0);
    hex_encode(enc, n, hex);
    snprintf(buf, cap, "%s %s\n", principal, hex);
}

static char *write_file_n(const char *name, const char *text, size_t len, mode_t mode)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    assert_int_equal(chmod(p, mode), 0);
    return p;
}

static char *write_file(const char *name, const char *text, mode_t mode)
{
    return write_file_n(name, text, strlen(text), mode);
}

/* The good file: alice has ES256, EdDSA, two HMAC and two AEAD keys,
 * bob an ES256 and an HMAC key whose kid equals alice's HMAC key's. */
static char *good_text(void)
{
    static char text[8192];
    char l[1024];
    text[0] = '\0';
    strcat(text, "# consumers' COSE keys\n\n");
    key_line(l, sizeof l, "alice", alice_es, false);
    strcat(text, l);
    key_line(l, sizeof l, "alice", alice_ed, false);
    strcat(text, l);
    key_line(l, sizeof l, "alice", alice_mac, true);
    strcat(text, l);
    key_line(l, sizeof l, "alice", alice_mac256, true);
    strcat(text, l);
    key_line(l, sizeof l, "alice", alice_enc, true);
    strcat(text, l);
    key_line(l, sizeof l, "alice", alice_enc2, true);
    strcat(text, l);
    key_line(l, sizeof l, "bob", bob_es, false);
    strcat(text, l);
    key_line(l, sizeof l, "bob", bob_mac, true);
    strcat(text, l);
    return text;
}

static int setup(void **state)
{
    assert_non_null(mkdtemp(dir));
    alice_es = gen(COSE_ALG_ES256, "a-es");
    alice_ed = gen(COSE_ALG_EDDSA, "a-ed");
    alice_mac = gen(COSE_ALG_HMAC256_64, "a-mac");
    alice_mac256 = gen(COSE_ALG_HMAC256_256, "a-mac256");
    alice_enc = gen(COSE_ALG_A128GCM, "a-enc");
    alice_enc2 = gen(COSE_ALG_AES_CCM_16_64_128, "a-enc2");
    bob_es = gen(COSE_ALG_ES256, "b-es");
    bob_mac = gen(COSE_ALG_HMAC256_64, "a-mac"); /* the same kid as alice's */
    rogue_mac = gen(COSE_ALG_HMAC256_64, "a-mac");
    return 0;
}

static int teardown(void **state)
{
    struct cose_key *all[] = {alice_es,   alice_ed, alice_mac, alice_mac256, alice_enc,
                              alice_enc2, bob_es,   bob_mac,   rogue_mac};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        cose_key_free(all[i]);
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    return 0;
}

static struct cose_consumers *load_good(void)
{
    char *p = write_file("good", good_text(), 0600);
    struct cose_consumers *c = NULL;
    struct diags d = {0};
    int r = cose_consumers_load(p, &c, &d);
    diag_print(&d, stderr);
    assert_int_equal(r, 0);
    assert_int_equal(d.n, 0);
    assert_non_null(c);
    assert_int_equal(c->n, 8);
    diag_free(&d);
    free(p);
    return c;
}

static void test_load_good(void **state)
{
    struct cose_consumers *c = load_good();
    assert_string_equal(c->v[0].principal, "alice");
    assert_false(c->v[0].key->has_private);
    assert_int_equal(c->v[2].key->kty, COSE_KTY_SYMMETRIC);
    assert_int_equal(c->v[7].key->alg, COSE_ALG_HMAC256_64);
    cose_consumers_free(c);
    cose_consumers_free(NULL);
    /* a file of public keys only may be world-readable; blank and
     * comment lines only is an empty, valid file */
    char l[1024], *p;
    key_line(l, sizeof l, "alice", alice_es, false);
    p = write_file("public", l, 0644);
    struct diags d = {0};
    assert_int_equal(cose_consumers_load(p, &c, &d), 0);
    assert_int_equal(c->n, 1);
    assert_int_equal(d.n, 0);
    cose_consumers_free(c);
    free(p);
    p = write_file("empty", "# nothing\n\n   \n", 0644);
    assert_int_equal(cose_consumers_load(p, &c, &d), 0);
    assert_int_equal(c->n, 0);
    cose_consumers_free(c);
    free(p);
    diag_free(&d);
}

/* Loading text fails with err and a diagnostic containing what (at line
 * ln when ln > 0). */
static void expect_bad_n(const char *text, size_t len, mode_t mode, int err, unsigned ln,
                         const char *what)
{
    char *p = write_file_n("bad", text, len, mode);
    struct cose_consumers *c = (struct cose_consumers *)p; /* must be reset */
    struct diags d = {0};
    int r = cose_consumers_load(p, &c, &d);
    if (r != err || !diag_contains(&d, what)) {
        diag_print(&d, stderr);
        fail_msg("expected %d with '%s', got %d", err, what, r);
    }
    assert_null(c);
    if (ln) {
        bool found = false;
        for (size_t i = 0; i < d.n; i++)
            found |= d.v[i].line == ln && strstr(d.v[i].msg, what);
        assert_true(found);
    }
    diag_free(&d);
    free(p);
}

static void expect_bad(const char *text, mode_t mode, int err, unsigned ln, const char *what)
{
    expect_bad_n(text, strlen(text), mode, err, ln, what);
}

static void test_load_bad(void **state)
{
    char l1[1024], l2[1024], text[4096];
    key_line(l1, sizeof l1, "alice", alice_es, false);
    /* malformed hex: not hex, odd length, empty */
    snprintf(text, sizeof text, "%salice zz01\n", l1);
    expect_bad(text, 0600, -EINVAL, 2, "not hex of a COSE_Key");
    snprintf(text, sizeof text, "# c\n%.*s\n", (int)strlen(l1) - 2, l1); /* one nibble short */
    expect_bad(text, 0600, -EINVAL, 2, "not hex of a COSE_Key");
    expect_bad("alice\n", 0600, -EINVAL, 1, "expected PRINCIPAL HEX-COSE_KEY");
    /* hex, but not a COSE_Key */
    expect_bad("alice a0\n", 0600, -EINVAL, 1, "not a usable COSE_Key");
    expect_bad("alice 01020304\n", 0600, -EINVAL, 1, "not a usable COSE_Key");
    /* a signing key with its private part */
    key_line(l2, sizeof l2, "alice", alice_es, true);
    expect_bad(l2, 0600, -EINVAL, 1, "private part");
    /* the same kid twice for one principal (also across key types) */
    snprintf(text, sizeof text, "%s%s", l1, l1);
    expect_bad(text, 0600, -EINVAL, 2, "same kid");
    key_line(l2, sizeof l2, "alice", bob_mac, true);
    char l3[1024];
    key_line(l3, sizeof l3, "alice", rogue_mac, true);
    snprintf(text, sizeof text, "%s%s", l2, l3);
    expect_bad(text, 0600, -EINVAL, 2, "same kid");
    /* a key without a kid; a symmetric key without an alg */
    struct cose_key *k = NULL;
    uint8_t secret[16] = {1, 2, 3};
    struct cose_key_params kp = {.kty = COSE_KTY_SYMMETRIC,
                                 .k = secret,
                                 .k_len = 16,
                                 .kid = (const uint8_t *)"x",
                                 .kid_len = 1};
    assert_int_equal(cose_key_new(&kp, &k), 0);
    key_line(l2, sizeof l2, "alice", k, true);
    cose_key_free(k);
    expect_bad(l2, 0600, -EINVAL, 1, "needs an alg");
    kp.kid = NULL;
    kp.kid_len = 0;
    kp.alg = COSE_ALG_A128GCM;
    assert_int_equal(cose_key_new(&kp, &k), 0);
    key_line(l2, sizeof l2, "alice", k, true);
    cose_key_free(k);
    expect_bad(l2, 0600, -EINVAL, 1, "no kid");
    /* a principal over 256 bytes */
    char longname[300];
    memset(longname, 'p', 299);
    longname[299] = '\0';
    key_line(l2, sizeof l2, longname, alice_es, false);
    expect_bad(l2, 0600, -EINVAL, 1, "bad principal");
    /* a NUL byte */
    expect_bad_n("alice\0 a1\n", 10, 0600, -EINVAL, 0, "NUL byte");
    /* every bad line is reported, not only the first */
    snprintf(text, sizeof text, "alice zz\n%sbob\n", l1);
    char *p = write_file("bad2", text, 0600);
    struct cose_consumers *c = NULL;
    struct diags d = {0};
    assert_int_equal(cose_consumers_load(p, &c, &d), -EINVAL);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.v[0].line, 1);
    assert_int_equal(d.v[1].line, 3);
    diag_free(&d);
    free(p);
    /* a file that holds symmetric keys is refused when others may read,
     * write or even search it */
    expect_bad(good_text(), 0604, -EPERM, 0, "chmod o-rwx");
    expect_bad(good_text(), 0602, -EPERM, 0, "chmod o-rwx");
    expect_bad(good_text(), 0601, -EPERM, 0, "chmod o-rwx");
    /* a file that is not there */
    c = (struct cose_consumers *)&d;
    assert_int_equal(cose_consumers_load("/nonexistent/cose_keys", &c, &d), -ENOENT);
    assert_null(c);
    assert_true(diag_contains(&d, "cannot read"));
    diag_free(&d);
}

static uint8_t *sign1(const struct cose_key *k, const char *payload, bool tagged, size_t *len)
{
    static uint8_t buf[1024];
    struct cose_params p = {.kid = k->kid,
                            .kid_len = k->kid_len,
                            .untagged = !tagged,
                            .has_ctype = true,
                            .ctype = 50};
    assert_int_equal(cose_sign1_create(k, &p, (const uint8_t *)payload, strlen(payload), buf,
                                       sizeof buf, len),
                     0);
    return buf;
}

static uint8_t *mac0(const struct cose_key *k, const char *payload, bool tagged, size_t *len)
{
    static uint8_t buf[1024];
    struct cose_params p = {.kid = k->kid, .kid_len = k->kid_len, .untagged = !tagged};
    assert_int_equal(cose_mac0_create(k, &p, (const uint8_t *)payload, strlen(payload), buf,
                                      sizeof buf, len),
                     0);
    return buf;
}

/* verify as principal: 0 and the payload, or -EACCES with a reason
 * containing why */
static void expect(const struct cose_consumers *c, const char *principal, const uint8_t *m,
                   size_t len, const char *payload, const char *why)
{
    const uint8_t *pl = NULL;
    const char *ct = NULL, *reason = NULL;
    size_t pn = 0;
    int r = cose_consumers_verify(c, principal, m, len, &pl, &pn, &ct, &reason);
    if (!why) {
        if (r != 0)
            fail_msg("refused: %s", reason);
        assert_int_equal(pn, strlen(payload));
        assert_memory_equal(pl, payload, pn);
        return;
    }
    assert_int_equal(r, -EACCES);
    assert_non_null(reason);
    if (!strstr(reason, why))
        fail_msg("reason '%s' does not say '%s'", reason, why);
}

static void test_verify(void **state)
{
    struct cose_consumers *c = load_good();
    size_t n = 0;
    uint8_t *m;
    const uint8_t *pl = NULL;
    const char *ct = NULL, *why = NULL;
    size_t pn = 0;
    /* Sign1, tagged and untagged, ES256 and EdDSA; the content type */
    m = sign1(alice_es, "true", true, &n);
    assert_int_equal(cose_consumers_verify(c, "alice", m, n, &pl, &pn, &ct, &why), 0);
    assert_int_equal(pn, 4);
    assert_memory_equal(pl, "true", 4);
    assert_non_null(ct);
    assert_string_equal(ct, "application/json");
    m = sign1(alice_es, "42", false, &n);
    expect(c, "alice", m, n, "42", NULL);
    m = sign1(alice_ed, "{\"a\":1}", true, &n);
    expect(c, "alice", m, n, "{\"a\":1}", NULL);
    /* Mac0, HMAC 256/64 and 256/256, tagged and untagged */
    m = mac0(alice_mac, "false", true, &n);
    assert_int_equal(cose_consumers_verify(c, "alice", m, n, &pl, &pn, &ct, &why), 0);
    assert_null(ct); /* no content type header */
    m = mac0(alice_mac, "7", false, &n);
    expect(c, "alice", m, n, "7", NULL);
    m = mac0(alice_mac256, "", true, &n);
    expect(c, "alice", m, n, "", NULL);
    /* bob's HMAC key has the same kid as alice's: each verifies only as
     * its own principal */
    m = mac0(bob_mac, "1", true, &n);
    expect(c, "bob", m, n, "1", NULL);
    expect(c, "alice", m, n, NULL, "does not verify");
    m = mac0(alice_mac, "1", true, &n);
    expect(c, "bob", m, n, NULL, "does not verify");
    /* wrong principal */
    m = sign1(alice_es, "true", true, &n);
    expect(c, "bob", m, n, NULL, "not a registered key of this consumer");
    expect(c, "carol", m, n, NULL, "not a registered key of this consumer");
    expect(NULL, "alice", m, n, NULL, "not a registered key of this consumer");
    /* wrong kid: a key alice never registered */
    struct cose_key *k = gen(COSE_ALG_ES256, "a-other");
    m = sign1(k, "true", true, &n);
    expect(c, "alice", m, n, NULL, "not a registered key");
    cose_key_free(k);
    /* a rogue key with a registered kid */
    m = mac0(rogue_mac, "true", true, &n);
    expect(c, "alice", m, n, NULL, "COSE_Mac0 does not verify");
    k = gen(COSE_ALG_ES256, "a-es");
    m = sign1(k, "true", true, &n);
    expect(c, "alice", m, n, NULL, "COSE_Sign1 does not verify");
    cose_key_free(k);
    /* tampered: every byte of a Sign1 and of a Mac0 flipped in turn
     * (one of them must never slip through) */
    for (int which = 0; which < 2; which++) {
        m = which ? mac0(alice_mac, "toggle", true, &n) : sign1(alice_es, "toggle", true, &n);
        uint8_t copy[1024];
        for (size_t i = 0; i < n; i++) {
            memcpy(copy, m, n);
            copy[i] ^= 0x01;
            int r = cose_consumers_verify(c, "alice", copy, n, &pl, &pn, &ct, &why);
            if (r == 0) /* only a flip that leaves the same message may pass */
                fail_msg("byte %zu of the %s flipped: accepted", i, which ? "Mac0" : "Sign1");
            assert_int_equal(r, -EACCES);
        }
        /* truncated */
        assert_int_equal(cose_consumers_verify(c, "alice", m, n - 1, &pl, &pn, &ct, &why), -EACCES);
    }
    /* a Mac0 under the kid of a signing key, a Sign1 tagged as a Mac0 */
    struct cose_key_params kp = {.kty = COSE_KTY_SYMMETRIC,
                                 .alg = COSE_ALG_HMAC256_64,
                                 .k = alice_mac->k,
                                 .k_len = alice_mac->k_len,
                                 .kid = alice_es->kid,
                                 .kid_len = alice_es->kid_len};
    assert_int_equal(cose_key_new(&kp, &k), 0);
    m = mac0(k, "true", true, &n);
    expect(c, "alice", m, n, NULL, "does not verify");
    m = mac0(k, "true", false, &n);
    expect(c, "alice", m, n, NULL, "does not verify");
    cose_key_free(k);
    m = sign1(alice_es, "true", true, &n);
    m[0] = 0xd1; /* tag 17 */
    expect(c, "alice", m, n, NULL, "does not verify");
    /* the encryption key never verifies a MAC */
    kp.kid = alice_enc->kid;
    kp.kid_len = alice_enc->kid_len;
    kp.k = alice_enc->k;
    kp.k_len = alice_enc->k_len;
    assert_int_equal(cose_key_new(&kp, &k), 0);
    m = mac0(k, "true", true, &n);
    expect(c, "alice", m, n, NULL, "COSE_Mac0 does not verify");
    cose_key_free(k);
    /* not COSE at all; an Encrypt0; no kid */
    expect(c, "alice", (const uint8_t *)"true", 4, NULL, "only as a COSE_Sign1 or COSE_Mac0");
    expect(c, "alice", (const uint8_t *)"", 0, NULL, "only as a COSE_Sign1 or COSE_Mac0");
    uint8_t *e = NULL;
    assert_int_equal(cose_consumers_encrypt0(alice_enc, NULL, (const uint8_t *)"x", 1, &e, &n), 0);
    expect(c, "alice", e, n, NULL, "only as a COSE_Sign1 or COSE_Mac0");
    free(e);
    struct cose_params np = {.untagged = false};
    uint8_t buf[512];
    assert_int_equal(cose_mac0_create(alice_mac, &np, (const uint8_t *)"x", 1, buf, sizeof buf, &n),
                     0);
    expect(c, "alice", buf, n, NULL, "no kid");
    cose_consumers_free(c);
}

static void test_encrypt0(void **state)
{
    struct cose_consumers *c = load_good();
    /* alice's last encryption key; bob has none; signing and MAC keys
     * are never used */
    const struct cose_key *k = cose_consumers_enc_key(c, "alice");
    assert_non_null(k);
    assert_int_equal(k->alg, COSE_ALG_AES_CCM_16_64_128);
    assert_memory_equal(k->kid, "a-enc2", 6);
    assert_null(cose_consumers_enc_key(c, "bob"));
    assert_null(cose_consumers_enc_key(c, "carol"));
    assert_null(cose_consumers_enc_key(NULL, "alice"));
    const char *payload = "{\"brightness\":42}";
    for (int i = 0; i < 2; i++) {
        const struct cose_key *key = i ? alice_enc2 : alice_enc;
        uint8_t *m1 = NULL, *m2 = NULL, pt[256];
        size_t n1 = 0, n2 = 0, ptn = 0;
        assert_int_equal(cose_consumers_encrypt0(key, "application/json", (const uint8_t *)payload,
                                                 strlen(payload), &m1, &n1),
                         0);
        assert_int_equal(cose_consumers_encrypt0(key, "application/json", (const uint8_t *)payload,
                                                 strlen(payload), &m2, &n2),
                         0);
        assert_int_equal(m1[0], 0xd0); /* tag 16 */
        /* the plaintext is not in the message */
        assert_null(memmem(m1, n1, "brightness", 10));
        struct cose_msg a, b;
        assert_int_equal(cose_encrypt0_decrypt(key, m1, n1, NULL, pt, sizeof pt, &ptn, &a), 0);
        assert_int_equal(ptn, strlen(payload));
        assert_memory_equal(pt, payload, ptn);
        assert_int_equal(cose_encrypt0_decrypt(key, m2, n2, NULL, pt, sizeof pt, &ptn, &b), 0);
        /* kid unprotected, alg and content type protected, a fresh IV */
        assert_true(a.hdr.has_kid && a.hdr.kid_len == key->kid_len);
        assert_memory_equal(a.hdr.kid, key->kid, key->kid_len);
        assert_true(a.hdr.has_alg && a.hdr.alg_protected && a.hdr.alg == key->alg);
        assert_true(a.hdr.has_ctype && a.hdr.ctype == 50);
        assert_true(a.hdr.has_iv && b.hdr.has_iv && a.hdr.iv_len == b.hdr.iv_len);
        assert_memory_not_equal(a.hdr.iv, b.hdr.iv, a.hdr.iv_len);
        /* another consumer's key does not decrypt it; a flipped byte fails */
        assert_int_equal(cose_encrypt0_decrypt(i ? alice_enc : alice_enc2, m1, n1, NULL, pt,
                                               sizeof pt, &ptn, NULL) < 0,
                         true);
        m1[n1 - 1] ^= 1;
        assert_int_equal(cose_encrypt0_decrypt(key, m1, n1, NULL, pt, sizeof pt, &ptn, NULL),
                         -EACCES);
        free(m1);
        free(m2);
    }
    /* a media type without a Content-Format number goes as text */
    uint8_t *m = NULL, pt[16];
    size_t n = 0, ptn = 0;
    struct cose_msg a;
    assert_int_equal(cose_consumers_encrypt0(alice_enc, "application/x-thing ",
                                             (const uint8_t *)"1", 1, &m, &n),
                     0);
    assert_int_equal(cose_encrypt0_decrypt(alice_enc, m, n, NULL, pt, sizeof pt, &ptn, &a), 0);
    assert_true(a.hdr.has_ctype && a.hdr.ctype_str_len == 19);
    assert_memory_equal(a.hdr.ctype_str, "application/x-thing", 19);
    free(m);
    /* no content type, an empty payload */
    assert_int_equal(cose_consumers_encrypt0(alice_enc, NULL, NULL, 0, &m, &n), 0);
    assert_int_equal(cose_encrypt0_decrypt(alice_enc, m, n, NULL, pt, sizeof pt, &ptn, &a), 0);
    assert_int_equal(ptn, 0);
    assert_false(a.hdr.has_ctype);
    free(m);
    cose_consumers_free(c);
}

/* The COSE_Encrypt0 topics of mqtt_topic.h: PREFIX/{thing}/properties|
 * events/{name}/cose/{principal}. */
static void test_topics(void **state)
{
    struct mqtt_topic t;
    char buf[MQTT_TOPIC_MAX + 1];
    assert_int_equal(mqtt_topic_parse("wot", "wot/lamp/properties/on/cose/alice", &t), 0);
    assert_int_equal(t.kind, MQTT_TOPIC_PROPERTY_COSE);
    assert_string_equal(t.thing, "lamp");
    assert_string_equal(t.name, "on");
    assert_string_equal(t.client, "alice");
    assert_string_equal(mqtt_topic_kind_name(t.kind), "property-cose");
    assert_int_equal(mqtt_topic_parse("wot", "wot/lamp/events/hot/cose/home%3Asub", &t), 0);
    assert_int_equal(t.kind, MQTT_TOPIC_EVENT_COSE);
    assert_string_equal(t.client, "home:sub");
    assert_string_equal(mqtt_topic_kind_name(t.kind), "event-cose");
    /* the round trip, and the principal encoded as one level */
    assert_int_equal(mqtt_topic_format("wot", MQTT_TOPIC_EVENT_COSE, "lamp", "hot", "home:sub/x",
                                       buf, sizeof buf),
                     (int)strlen("wot/lamp/events/hot/cose/home%3Asub%2Fx"));
    assert_string_equal(buf, "wot/lamp/events/hot/cose/home%3Asub%2Fx");
    assert_int_equal(mqtt_topic_parse("wot", buf, &t), 0);
    assert_string_equal(t.client, "home:sub/x");
    assert_int_equal(mqtt_topic_format("a/b", MQTT_TOPIC_PROPERTY_COSE, "lamp", NULL, "bob", buf,
                                       sizeof buf),
                     (int)strlen("a/b/lamp/properties/+/cose/bob"));
    assert_string_equal(buf, "a/b/lamp/properties/+/cose/bob");
    assert_true(mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY_COSE, "lamp", "on", "", buf,
                                  sizeof buf) < 0);
    assert_true(mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY_COSE, "lamp", "on", "alice", buf, 20) <
                0);
    /* malformed */
    static const char *const bad[] = {
            "wot/lamp/properties/on/cose",         "wot/lamp/properties/on/cose/",
            "wot/lamp/properties/on/cose/a/b",     "wot/lamp/events/hot/cose/alice/x",
            "wot/lamp/properties/on/cosy/alice",   "wot/lamp/actions/go/cose/alice",
            "wot/lamp/properties/on/cose/%61lice", "wot/lamp/properties/on/cose/a%3a",
            "wot/lamp/properties/on/cose/+",       "wot/lamp/events/hot/cose/%00",
            "wot/lamp/events/hot/set/alice",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (mqtt_topic_parse("wot", bad[i], &t) == 0)
            fail_msg("'%s' parsed", bad[i]);
    char longp[300 * 3 + 64] = "wot/lamp/properties/on/cose/";
    for (int i = 0; i < 300; i++)
        strcat(longp, "a");
    assert_int_equal(mqtt_topic_parse("wot", longp, &t), -ENAMETOOLONG);
    /* who may subscribe: the operations of the plain topic; never publish */
    enum wot_op ops[MQTT_TOPIC_MAX_OPS];
    assert_int_equal(mqtt_topic_ops(MQTT_TOPIC_PROPERTY_COSE, false, ops), 2);
    assert_int_equal(ops[0], WOT_OP_OBSERVEPROPERTY);
    assert_int_equal(ops[1], WOT_OP_READPROPERTY);
    assert_int_equal(mqtt_topic_ops(MQTT_TOPIC_EVENT_COSE, false, ops), 1);
    assert_int_equal(ops[0], WOT_OP_SUBSCRIBEEVENT);
    assert_int_equal(mqtt_topic_ops(MQTT_TOPIC_PROPERTY_COSE, true, ops), 0);
    assert_int_equal(mqtt_topic_ops(MQTT_TOPIC_EVENT_COSE, true, ops), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_load_good), cmocka_unit_test(test_load_bad),
            cmocka_unit_test(test_verify),    cmocka_unit_test(test_encrypt0),
            cmocka_unit_test(test_topics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
