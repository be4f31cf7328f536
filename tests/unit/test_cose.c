/* test_cose.c - objsec/cose.c and objsec/cose_key.c.
 *
 * Driven by the COSE WG examples in tests/data/cose (every file): vectors
 * for the algorithms we implement verify/decrypt, "fail" vectors fail,
 * deterministic ones (MAC, Encrypt with the given IV, EdDSA) are re-created
 * byte for byte, tampered copies (protected header, payload, signature/tag,
 * external AAD) are refused, vectors of other algorithms decode and are
 * refused as unsupported. Then round trips with fresh keys, COSE_Key
 * reading/writing, malformed messages and keys, buffer bounds.
 *
 * Interop (tests/integration/test_cose_interop.sh): with
 * WOTGW_COSE_INTEROP_DIR set, test_interop verifies the messages cose-js
 * wrote to js-messages.json there and writes c-messages.json for it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
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

#include "objsec/cbor.h"
#include "objsec/cose.h"
#include "objsec/cose_key.h"
#include "util.h"

#define DATA "tests/data/cose"

/* ---- helpers ---------------------------------------------------------- */

struct bytes {
    uint8_t b[2048];
    size_t n;
};

static void unhex(const char *h, struct bytes *out)
{
    out->n = 0;
    assert_int_equal(hex_decode(h, out->b, sizeof(out->b), &out->n), 0);
}

static const struct {
    const char *name;
    int64_t alg;
} alg_names[] = {
        {"ES256", COSE_ALG_ES256},
        {"ES384", -35},
        {"ES512", -36},
        {"EdDSA", COSE_ALG_EDDSA},
        {"HS256", COSE_ALG_HMAC256_256},
        {"HS256/64", COSE_ALG_HMAC256_64},
        {"A128GCM", COSE_ALG_A128GCM},
        {"AES-CCM-16-128/64", COSE_ALG_AES_CCM_16_64_128},
        {"AES-CCM-16-128/128", 30},
        {"AES-CCM-16-256/64", 11},
        {"AES-MAC-256/64", 15},
        {"Unknown", 0},
};

static int64_t alg_of(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(alg_names); i++)
        if (strcmp(alg_names[i].name, name) == 0)
            return alg_names[i].alg;
    fail_msg("unknown alg name %s", name);
    return 0;
}

static bool alg_supported(int64_t alg)
{
    return alg == COSE_ALG_ES256 || alg == COSE_ALG_EDDSA || alg == COSE_ALG_HMAC256_256 ||
           alg == COSE_ALG_HMAC256_64 || alg == COSE_ALG_A128GCM ||
           alg == COSE_ALG_AES_CCM_16_64_128;
}

/* a JWK-like key of the examples: base64url fields or *_hex fields */
static bool key_field(json_t *key, const char *name, struct bytes *out)
{
    char hexname[16];
    json_t *v = json_object_get(key, name);
    out->n = 0;
    if (json_is_string(v)) {
        /* some examples' keys have non-zero padding bits, which the strict
         * decoder refuses: clear them (the result is checked against
         * CEK_hex where the example gives it) */
        char s[256];
        static const char alpha[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        size_t n = strlen(json_string_value(v));
        assert_true(n > 0 && n < sizeof(s));
        memcpy(s, json_string_value(v), n + 1);
        if (b64url_decode(s, n, out->b, sizeof(out->b), &out->n) < 0) {
            const char *c = strchr(alpha, s[n - 1]);
            assert_non_null(c);
            size_t val = (size_t)(c - alpha) & (n % 4 == 2 ? 0x30 : 0x3c);
            s[n - 1] = alpha[val];
            assert_int_equal(b64url_decode(s, n, out->b, sizeof(out->b), &out->n), 0);
        }
        return true;
    }
    snprintf(hexname, sizeof(hexname), "%s_hex", name);
    v = json_object_get(key, hexname);
    if (json_is_string(v)) {
        unhex(json_string_value(v), out);
        return true;
    }
    return false;
}

static int key_from_json(json_t *key, struct cose_key **out)
{
    struct cose_key_params p = {0};
    struct bytes x, y, d, k;
    const char *kty = json_string_value(json_object_get(key, "kty"));
    const char *crv = json_string_value(json_object_get(key, "crv"));
    const char *kid = json_string_value(json_object_get(key, "kid"));
    assert_non_null(kty);
    if (strcmp(kty, "EC") == 0)
        p.kty = COSE_KTY_EC2;
    else if (strcmp(kty, "OKP") == 0)
        p.kty = COSE_KTY_OKP;
    else if (strcmp(kty, "oct") == 0)
        p.kty = COSE_KTY_SYMMETRIC;
    else
        fail_msg("kty %s", kty);
    if (crv)
        p.crv = strcmp(crv, "P-256") == 0     ? COSE_CRV_P256
                : strcmp(crv, "Ed25519") == 0 ? COSE_CRV_ED25519
                : strcmp(crv, "P-384") == 0   ? 2
                                              : 7; /* Ed448 */
    if (kid) {
        p.kid = (const uint8_t *)kid;
        p.kid_len = strlen(kid);
    }
    if (key_field(key, "x", &x)) {
        p.x = x.b;
        p.x_len = x.n;
    }
    if (key_field(key, "y", &y)) {
        p.y = y.b;
        p.y_len = y.n;
    }
    if (key_field(key, "d", &d)) {
        p.d = d.b;
        p.d_len = d.n;
    }
    if (key_field(key, "k", &k)) {
        p.k = k.b;
        p.k_len = k.n;
    }
    return cose_key_new(&p, out);
}

/* ---- the COSE WG examples --------------------------------------------- */

struct vec_stats {
    unsigned files, pass_verified, fail_refused, unsupported, recreated, tampered, aad_checked;
};

enum vkind { V_SIGN, V_MAC, V_ENC };

static int check_message(enum vkind kind, const struct cose_key *key, const uint8_t *m, size_t n,
                         const struct cose_verify_opts *o, struct bytes *pt)
{
    switch (kind) {
    case V_SIGN: {
        struct cose_msg msg;
        int r = cose_sign1_verify(key, m, n, o, &msg);
        if (r == 0) {
            memcpy(pt->b, msg.payload, msg.payload_len);
            pt->n = msg.payload_len;
        }
        return r;
    }
    case V_MAC: {
        struct cose_msg msg;
        int r = cose_mac0_verify(key, m, n, o, &msg);
        if (r == 0) {
            memcpy(pt->b, msg.payload, msg.payload_len);
            pt->n = msg.payload_len;
        }
        return r;
    }
    default: return cose_encrypt0_decrypt(key, m, n, o, pt->b, sizeof(pt->b), &pt->n, NULL);
    }
}

static int tamper_check(enum vkind kind, const struct cose_key *key, const struct bytes *msg,
                        const uint8_t *where, size_t len, const struct cose_verify_opts *o)
{
    struct bytes copy = *msg, pt;
    size_t off = (size_t)(where - msg->b);
    assert_true(len > 0 && off + len <= msg->n);
    copy.b[off + len / 2] ^= 0x01;
    return check_message(kind, key, copy.b, copy.n, o, &pt);
}

static void run_vector(const char *path, struct vec_stats *st)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fail_msg("%s: %s", path, jerr.text);
    json_t *input = json_object_get(root, "input");
    bool should_fail = json_is_true(json_object_get(root, "fail"));
    json_t *failures = json_object_get(input, "failures");
    const char *plaintext = json_string_value(json_object_get(input, "plaintext"));
    json_t *obj, *key_json;
    enum vkind kind;
    enum cose_type type;

    if ((obj = json_object_get(input, "sign0"))) {
        kind = V_SIGN;
        type = COSE_SIGN1;
        key_json = json_object_get(obj, "key");
    } else if ((obj = json_object_get(input, "mac0"))) {
        kind = V_MAC;
        type = COSE_MAC0;
        key_json = json_object_get(json_array_get(json_object_get(obj, "recipients"), 0), "key");
    } else if ((obj = json_object_get(input, "encrypted"))) {
        kind = V_ENC;
        type = COSE_ENCRYPT0;
        key_json = json_object_get(json_array_get(json_object_get(obj, "recipients"), 0), "key");
    } else {
        fail_msg("%s: unknown vector kind", path);
        return;
    }
    assert_non_null(key_json);
    assert_non_null(plaintext);
    json_t *prot = json_object_get(obj, "protected");
    json_t *unprot = json_object_get(obj, "unprotected");
    const char *alg_name = json_string_value(json_object_get(prot, "alg"));
    if (!alg_name)
        alg_name = json_string_value(json_object_get(unprot, "alg"));
    if (!alg_name)
        alg_name = json_string_value(json_object_get(obj, "alg"));
    assert_non_null(alg_name);
    int64_t alg = alg_of(alg_name);

    struct bytes msg, ext = {.n = 0}, pt;
    unhex(json_string_value(json_object_get(json_object_get(root, "output"), "cbor")), &msg);
    const char *ext_hex = json_string_value(json_object_get(obj, "external"));
    if (ext_hex)
        unhex(ext_hex, &ext);
    struct cose_verify_opts o = {.external_aad = ext.b, .external_aad_len = ext.n};

    bool tag_changed = json_object_get(failures, "ChangeCBORTag") != NULL;
    struct cose_msg dm;
    int r = cose_decode(msg.b, msg.n, type, &dm);
    if (tag_changed) {
        assert_int_equal(r, -EBADMSG);
    } else {
        if (r != 0)
            fail_msg("%s: does not decode (%d)", path, r);
        assert_int_equal(dm.tagged, json_object_get(failures, "RemoveCBORTag") == NULL);
    }

    if (!alg_supported(alg)) {
        /* decodes (above); any key is refused for the algorithm */
        struct cose_key *k = NULL;
        int64_t galg = kind == V_SIGN  ? COSE_ALG_ES256
                       : kind == V_MAC ? COSE_ALG_HMAC256_256
                                       : COSE_ALG_A128GCM;
        assert_int_equal(cose_key_generate(galg, NULL, 0, &k), 0);
        r = check_message(kind, k, msg.b, msg.n, &o, &pt);
        if (r != (tag_changed ? -EBADMSG : -ENOTSUP))
            fail_msg("%s: unsupported alg %s gave %d", path, alg_name, r);
        cose_key_free(k);
        /* the key material of those curves is refused as well */
        r = key_from_json(key_json, &k);
        if (r == 0) /* symmetric keys load; the alg is what is refused */
            cose_key_free(k);
        else
            assert_int_equal(r, -ENOTSUP);
        st->unsupported++;
        json_decref(root);
        return;
    }

    struct cose_key *key = NULL, *plain_key = NULL;
    r = key_from_json(key_json, &key);
    if (r == -ENOTSUP && alg == COSE_ALG_EDDSA) {
        /* Ed448: the curve is not implemented; the key is refused and an
         * Ed25519 key cannot verify the 114-byte signature */
        struct cose_key *k = NULL;
        assert_int_equal(cose_key_generate(COSE_ALG_EDDSA, NULL, 0, &k), 0);
        assert_int_equal(check_message(kind, k, msg.b, msg.n, &o, &pt), -EACCES);
        cose_key_free(k);
        st->unsupported++;
        json_decref(root);
        return;
    }
    if (r != 0)
        fail_msg("%s: key refused (%d)", path, r);
    const char *piv_hex = json_string_value(json_object_get(unprot, "partialIV_hex"));
    struct bytes piv;
    if (kind == V_ENC && piv_hex) {
        /* the example gives the full IV: the Base IV is IV ^ padded Partial IV */
        struct bytes full;
        unhex(json_string_value(json_object_get(json_object_get(obj, "unsent"), "IV_hex")), &full);
        unhex(piv_hex, &piv);
        for (size_t i = 0; i < piv.n; i++)
            full.b[full.n - piv.n + i] ^= piv.b[i];
        struct cose_key_params kp = {.kty = COSE_KTY_SYMMETRIC,
                                     .k = key->k,
                                     .k_len = key->k_len,
                                     .base_iv = full.b,
                                     .base_iv_len = full.n};
        plain_key = key;
        key = NULL;
        assert_int_equal(cose_key_new(&kp, &key), 0);
        /* without the Base IV, a Partial IV cannot be used */
        assert_int_equal(
                cose_encrypt0_decrypt(plain_key, msg.b, msg.n, &o, pt.b, sizeof(pt.b), &pt.n, NULL),
                -ENOKEY);
        /* a Base IV of 8 bytes is right-padded (RFC 8152 C.4.2 gives 8) */
        struct cose_key *k8 = NULL;
        kp.base_iv_len = 8;
        assert_int_equal(cose_key_new(&kp, &k8), 0);
        assert_int_equal(
                cose_encrypt0_decrypt(k8, msg.b, msg.n, &o, pt.b, sizeof(pt.b), &pt.n, NULL), 0);
        cose_key_free(k8);
    }
    const char *cek_hex =
            json_string_value(json_object_get(json_object_get(root, "intermediates"), "CEK_hex"));
    if (cek_hex) {
        struct bytes cek;
        unhex(cek_hex, &cek);
        assert_int_equal(cek.n, key->k_len);
        assert_memory_equal(cek.b, key->k, cek.n);
    }

    r = check_message(kind, key, msg.b, msg.n, &o, &pt);
    if (should_fail) {
        int want = tag_changed                               ? -EBADMSG
                   : json_object_get(failures, "ChangeAttr") ? -ENOTSUP
                                                             : -EACCES;
        if (r != want)
            fail_msg("%s: expected %d, got %d", path, want, r);
        st->fail_refused++;
        cose_key_free(plain_key);
        cose_key_free(key);
        json_decref(root);
        return;
    }
    if (r != 0)
        fail_msg("%s: does not verify (%d)", path, r);
    assert_int_equal(pt.n, strlen(plaintext));
    assert_memory_equal(pt.b, plaintext, pt.n);
    st->pass_verified++;

    /* tampering: protected header, payload, signature/tag, external AAD */
    assert_int_equal(cose_decode(msg.b, msg.n, type, &dm), 0);
    if (dm.protected_len > 1)
        assert_int_not_equal(tamper_check(kind, key, &msg, dm.protected_hdr, dm.protected_len, &o),
                             0);
    assert_int_not_equal(tamper_check(kind, key, &msg, dm.payload, dm.payload_len, &o), 0);
    if (kind == V_ENC)
        assert_int_equal(tamper_check(kind, key, &msg, dm.payload + dm.payload_len - 4, 4, &o),
                         -EACCES);
    else
        assert_int_equal(tamper_check(kind, key, &msg, dm.tag, dm.tag_len, &o), -EACCES);
    {
        struct bytes ext2 = ext;
        if (ext2.n)
            ext2.b[0] ^= 0x80;
        else
            ext2.b[ext2.n++] = 0;
        struct cose_verify_opts o2 = {.external_aad = ext2.b, .external_aad_len = ext2.n};
        assert_int_equal(check_message(kind, key, msg.b, msg.n, &o2, &pt), -EACCES);
    }
    st->tampered++;

    /* Encrypt: the AAD of the example */
    const char *aad_hex =
            json_string_value(json_object_get(json_object_get(root, "intermediates"), "AAD_hex"));
    if (kind == V_ENC && aad_hex) {
        struct bytes want, got;
        unhex(aad_hex, &want);
        size_t plen = (dm.protected_len == 1 && dm.protected_hdr[0] == 0xa0) ? 0 : dm.protected_len;
        assert_int_equal(cose_enc_structure(dm.protected_hdr, plen, ext.b, ext.n, got.b,
                                            sizeof(got.b), &got.n),
                         0);
        assert_int_equal(got.n, want.n);
        assert_memory_equal(got.b, want.b, want.n);
        st->aad_checked++;
    }

    /* re-create deterministic messages byte for byte */
    bool deterministic = kind != V_SIGN || alg == COSE_ALG_EDDSA;
    if (json_object_get(failures, "ChangeProtected"))
        deterministic = false; /* the example re-encoded its protected bucket by hand */
    struct cose_params cp = {.alg = alg, .external_aad = ext.b, .external_aad_len = ext.n};
    cp.untagged = json_object_get(failures, "RemoveCBORTag") != NULL;
    cp.alg_unprotected = json_object_get(prot, "alg") == NULL;
    const char *kid = json_string_value(json_object_get(unprot, "kid"));
    if (!kid && (kid = json_string_value(json_object_get(prot, "kid"))))
        cp.kid_protected = true;
    if (kid) {
        cp.kid = (const uint8_t *)kid;
        cp.kid_len = strlen(kid);
    }
    if (json_object_get(prot, "ctyp")) {
        cp.has_ctype = true;
        cp.ctype = (uint64_t)json_integer_value(json_object_get(prot, "ctyp"));
    }
    struct bytes iv, out;
    const struct cose_key *ckey = key;
    if (kind == V_ENC) {
        if (piv_hex) {
            cp.partial_iv = piv.b;
            cp.partial_iv_len = piv.n;
        } else {
            unhex(json_string_value(json_array_get(json_object_get(input, "rng_stream"), 0)), &iv);
            cp.iv = iv.b;
            cp.iv_len = iv.n;
        }
    }
    switch (kind) {
    case V_SIGN:
        r = cose_sign1_create(ckey, &cp, (const uint8_t *)plaintext, strlen(plaintext), out.b,
                              sizeof(out.b), &out.n);
        break;
    case V_MAC:
        r = cose_mac0_create(ckey, &cp, (const uint8_t *)plaintext, strlen(plaintext), out.b,
                             sizeof(out.b), &out.n);
        break;
    default:
        r = cose_encrypt0_create(ckey, &cp, (const uint8_t *)plaintext, strlen(plaintext), out.b,
                                 sizeof(out.b), &out.n);
    }
    assert_int_equal(r, 0);
    if (deterministic) {
        if (out.n != msg.n || memcmp(out.b, msg.b, msg.n) != 0)
            fail_msg("%s: re-created message differs", path);
        st->recreated++;
    }
    /* ours verifies with the example's key either way */
    assert_int_equal(check_message(kind, ckey, out.b, out.n, &o, &pt), 0);
    assert_int_equal(pt.n, strlen(plaintext));
    cose_key_free(plain_key);
    cose_key_free(key);
    json_decref(root);
}

static void walk(const char *dir, struct vec_stats *st)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        if (name[0] != '.') {
            char *p = util_path_join(dir, name);
            struct stat sb;
            assert_non_null(p);
            assert_int_equal(stat(p, &sb), 0);
            if (S_ISDIR(sb.st_mode)) {
                walk(p, st);
            } else if (strlen(name) > 5 && strcmp(name + strlen(name) - 5, ".json") == 0) {
                run_vector(p, st);
                st->files++;
            }
            free(p);
        }
        free(ents[i]);
    }
    free(ents);
}

static void test_cose_wg_examples(void **state)
{
    struct vec_stats st = {0};
    walk(DATA, &st);
    print_message("%u files: %u verified, %u fail vectors refused, %u unsupported refused, "
                  "%u re-created byte for byte, %u tampered x4, %u AADs\n",
                  st.files, st.pass_verified, st.fail_refused, st.unsupported, st.recreated,
                  st.tampered, st.aad_checked);
    assert_int_equal(st.files, 35);
    assert_int_equal(st.pass_verified + st.fail_refused + st.unsupported, 35);
    assert_int_equal(st.fail_refused, 11);
    assert_int_equal(st.unsupported, 6); /* ES384, ES512, Ed448, AES-CCM 30 and 11, AES-MAC 15 */
    assert_int_equal(st.pass_verified, 18);
    assert_int_equal(st.tampered, 18);
    assert_int_equal(st.recreated, 11);
    assert_int_equal(st.aad_checked, 7);
}

/* ---- round trips with fresh keys -------------------------------------- */

static int create(int64_t alg, const struct cose_key *k, const struct cose_params *p,
                  const void *payload, size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    if (alg == COSE_ALG_ES256 || alg == COSE_ALG_EDDSA)
        return cose_sign1_create(k, p, payload, n, out, cap, out_len);
    if (alg == COSE_ALG_HMAC256_64 || alg == COSE_ALG_HMAC256_256)
        return cose_mac0_create(k, p, payload, n, out, cap, out_len);
    return cose_encrypt0_create(k, p, payload, n, out, cap, out_len);
}

static int verify(int64_t alg, const struct cose_key *k, const uint8_t *m, size_t n,
                  const struct cose_verify_opts *o, struct bytes *pt)
{
    enum vkind kind = (alg == COSE_ALG_ES256 || alg == COSE_ALG_EDDSA)              ? V_SIGN
                      : (alg == COSE_ALG_HMAC256_64 || alg == COSE_ALG_HMAC256_256) ? V_MAC
                                                                                    : V_ENC;
    return check_message(kind, k, m, n, o, pt);
}

static const int64_t all_algs[] = {COSE_ALG_ES256,      COSE_ALG_EDDSA,
                                   COSE_ALG_HMAC256_64, COSE_ALG_HMAC256_256,
                                   COSE_ALG_A128GCM,    COSE_ALG_AES_CCM_16_64_128};

static void test_roundtrip(void **state)
{
    static const uint8_t payload[] = "{\"temperature\": 21.5}";
    static const uint8_t aad[] = "wotgw/thing/lamp";
    for (size_t i = 0; i < ARRAY_SIZE(all_algs); i++) {
        int64_t alg = all_algs[i];
        struct cose_key *k = NULL, *other = NULL;
        struct bytes m, pt;
        bool sym = alg != COSE_ALG_ES256 && alg != COSE_ALG_EDDSA;
        assert_int_equal(cose_key_generate(alg, (const uint8_t *)"k1", 2, &k), 0);
        assert_int_equal(cose_key_generate(alg, NULL, 0, &other), 0);

        for (int variant = 0; variant < 6; variant++) {
            struct cose_params p = {.alg = sym ? alg : COSE_ALG_NONE};
            struct cose_verify_opts o = {0};
            const uint8_t *pl = payload;
            size_t pn = sizeof(payload) - 1;
            switch (variant) {
            case 1:
                p.untagged = true;
                p.kid = (const uint8_t *)"k1";
                p.kid_len = 2;
                break;
            case 2:
                p.kid = (const uint8_t *)"k1";
                p.kid_len = 2;
                p.kid_protected = true;
                p.alg_unprotected = true;
                p.has_ctype = true;
                p.ctype = 50;
                break;
            case 3:
                p.external_aad = aad;
                p.external_aad_len = sizeof(aad) - 1;
                o.external_aad = aad;
                o.external_aad_len = sizeof(aad) - 1;
                break;
            case 4: pn = 0; break;
            case 5:
                if (alg == COSE_ALG_A128GCM || alg == COSE_ALG_AES_CCM_16_64_128)
                    continue; /* no detached ciphertext */
                p.detached = true;
                o.detached_payload = pl;
                o.detached_len = pn;
                break;
            }
            assert_int_equal(create(alg, k, &p, pl, pn, m.b, sizeof(m.b), &m.n), 0);
            assert_int_equal(verify(alg, k, m.b, m.n, &o, &pt), 0);
            assert_int_equal(pt.n, pn);
            if (pn)
                assert_memory_equal(pt.b, pl, pn);
            /* wrong key of the same type */
            assert_int_equal(verify(alg, other, m.b, m.n, &o, &pt), -EACCES);
            struct cose_msg dm;
            assert_int_equal(cose_decode(m.b, m.n, COSE_TYPE_ANY, &dm),
                             variant == 1 ? -EBADMSG : 0);
            if (variant == 1) {
                struct cose_verify_opts ot = {.require_tag = true};
                assert_int_equal(verify(alg, k, m.b, m.n, &ot, &pt), -EBADMSG);
            }
            if (variant == 2) {
                assert_true(dm.hdr.has_kid);
                assert_int_equal(dm.hdr.kid_len, 2);
                assert_false(dm.hdr.alg_protected);
                assert_true(dm.hdr.has_ctype);
                assert_int_equal(dm.hdr.ctype, 50);
            }
            if (variant == 5) /* nil payload needs the detached one */
                assert_int_equal(verify(alg, k, m.b, m.n, NULL, &pt), -EBADMSG);
        }
        cose_key_free(k);
        cose_key_free(other);
    }
}

static void test_key_binding(void **state)
{
    struct cose_key *es = NULL, *ed = NULL, *h = NULL, *aes = NULL, *pub = NULL;
    struct bytes m, pt, enc;
    struct cose_params p = {0};
    assert_int_equal(cose_key_generate(COSE_ALG_ES256, NULL, 0, &es), 0);
    assert_int_equal(cose_key_generate(COSE_ALG_EDDSA, NULL, 0, &ed), 0);
    assert_int_equal(cose_key_generate(COSE_ALG_HMAC256_256, NULL, 0, &h), 0);
    assert_int_equal(cose_key_generate(COSE_ALG_A128GCM, NULL, 0, &aes), 0);

    assert_int_equal(cose_sign1_create(es, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n), 0);
    /* an EdDSA key cannot verify ES256, nor a symmetric one */
    assert_int_equal(cose_sign1_verify(ed, m.b, m.n, NULL, NULL), -EKEYREJECTED);
    assert_int_equal(cose_sign1_verify(h, m.b, m.n, NULL, NULL), -EKEYREJECTED);
    /* ES256 key asked for EdDSA */
    p.alg = COSE_ALG_EDDSA;
    assert_int_equal(cose_sign1_create(es, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                     -EKEYREJECTED);
    /* generated keys carry their alg; a symmetric key without one is
     * ambiguous when the caller names none */
    assert_int_equal(h->alg, COSE_ALG_HMAC256_256);
    {
        struct cose_key_params kp = {.kty = COSE_KTY_SYMMETRIC, .k = h->k, .k_len = h->k_len};
        assert_int_equal(cose_key_new(&kp, &pub), 0);
        p.alg = COSE_ALG_NONE;
        assert_int_equal(cose_mac0_create(pub, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                         -EINVAL);
        p.alg = COSE_ALG_HMAC256_64;
        assert_int_equal(cose_mac0_create(pub, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                         0);
        cose_key_free(pub);
    }
    p.alg = COSE_ALG_A128GCM;
    assert_int_equal(cose_encrypt0_create(h, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                     -EKEYREJECTED); /* 32-byte key for AES-128 */
    p.alg = COSE_ALG_ES256;
    assert_int_equal(cose_mac0_create(h, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                     -EKEYREJECTED);
    p.alg = -35; /* ES384: not implemented */
    assert_int_equal(cose_sign1_create(es, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                     -ENOTSUP);

    /* a public key cannot sign; it verifies */
    p.alg = COSE_ALG_NONE;
    assert_int_equal(cose_sign1_create(es, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n), 0);
    assert_int_equal(cose_key_encode(es, false, enc.b, sizeof(enc.b), &enc.n), 0);
    assert_int_equal(cose_key_decode(enc.b, enc.n, &pub), 0);
    assert_false(pub->has_private);
    assert_int_equal(cose_sign1_verify(pub, m.b, m.n, NULL, NULL), 0);
    assert_int_equal(cose_sign1_create(pub, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                     -ENOKEY);
    cose_key_free(pub);

    /* key_ops: a verify-only key */
    {
        struct cose_key_params kp = {.kty = COSE_KTY_EC2,
                                     .crv = COSE_CRV_P256,
                                     .x = es->x,
                                     .y = es->y,
                                     .d = es->d,
                                     .x_len = 32,
                                     .y_len = 32,
                                     .d_len = 32,
                                     .ops = 1u << COSE_KEY_OP_VERIFY};
        assert_int_equal(cose_key_new(&kp, &pub), 0);
        assert_int_equal(
                cose_sign1_create(pub, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                -EKEYREJECTED);
        assert_int_equal(cose_sign1_create(es, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                         0);
        assert_int_equal(cose_sign1_verify(pub, m.b, m.n, NULL, NULL), 0);
        cose_key_free(pub);
    }
    /* a key whose alg is HMAC 256/64 refuses 256/256 messages */
    {
        struct cose_key_params kp = {.kty = COSE_KTY_SYMMETRIC,
                                     .k = h->k,
                                     .k_len = h->k_len,
                                     .alg = COSE_ALG_HMAC256_64};
        assert_int_equal(cose_key_new(&kp, &pub), 0);
        p.alg = COSE_ALG_HMAC256_256;
        assert_int_equal(cose_mac0_create(h, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                         0);
        assert_int_equal(cose_mac0_verify(h, m.b, m.n, NULL, NULL), 0);
        assert_int_equal(cose_mac0_verify(pub, m.b, m.n, NULL, NULL), -EKEYREJECTED);
        p.alg = COSE_ALG_NONE; /* the key's own alg */
        assert_int_equal(cose_mac0_create(pub, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                         0);
        assert_int_equal(cose_mac0_verify(pub, m.b, m.n, NULL, &(struct cose_msg){0}), 0);
        cose_key_free(pub);
    }
    /* a generated AES key is bound to its alg; an HMAC key cannot decrypt */
    p.alg = COSE_ALG_AES_CCM_16_64_128;
    assert_int_equal(cose_encrypt0_create(aes, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                     -EKEYREJECTED);
    p.alg = COSE_ALG_A128GCM;
    assert_int_equal(cose_encrypt0_create(aes, &p, (const uint8_t *)"x", 1, m.b, sizeof(m.b), &m.n),
                     0);
    assert_int_equal(cose_encrypt0_decrypt(aes, m.b, m.n, NULL, pt.b, sizeof(pt.b), &pt.n, NULL),
                     0);
    assert_int_equal(cose_encrypt0_decrypt(h, m.b, m.n, NULL, pt.b, sizeof(pt.b), &pt.n, NULL),
                     -EKEYREJECTED);
    /* plaintext buffer too small */
    assert_int_equal(cose_encrypt0_decrypt(aes, m.b, m.n, NULL, pt.b, 0, &pt.n, NULL), -ENOBUFS);
    cose_key_free(es);
    cose_key_free(ed);
    cose_key_free(h);
    cose_key_free(aes);
}

/* ---- COSE_Key --------------------------------------------------------- */

static void test_cose_key_roundtrip(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(all_algs); i++) {
        struct cose_key *k = NULL, *k2 = NULL;
        struct bytes e1, e2;
        assert_int_equal(cose_key_generate(all_algs[i], (const uint8_t *)"kid-1", 5, &k), 0);
        assert_int_equal(cose_key_encode(k, true, e1.b, sizeof(e1.b), &e1.n), 0);
        assert_true(e1.n <= COSE_KEY_ENCODED_MAX);
        /* deterministic: passes the strict decoder */
        struct cbor_limits strict = cbor_limits_default;
        strict.strict = true;
        assert_int_equal(cbor_validate(e1.b, e1.n, &strict, false, NULL, NULL, NULL), 0);
        assert_int_equal(cose_key_decode(e1.b, e1.n, &k2), 0);
        assert_int_equal(cose_key_encode(k2, true, e2.b, sizeof(e2.b), &e2.n), 0);
        assert_int_equal(e1.n, e2.n);
        assert_memory_equal(e1.b, e2.b, e1.n);
        assert_int_equal(k2->kid_len, 5);
        assert_memory_equal(k2->kid, "kid-1", 5);
        if (k->kty == COSE_KTY_SYMMETRIC)
            assert_int_equal(cose_key_encode(k, false, e2.b, sizeof(e2.b), &e2.n), -EPERM);
        else
            assert_int_equal(cose_key_encode(k, false, e2.b, sizeof(e2.b), &e2.n), 0);
        /* buffer bounds */
        for (size_t cap = 0; cap < e1.n; cap++)
            assert_int_equal(cose_key_encode(k, true, e2.b, cap, &e2.n), -ENOBUFS);
        cose_key_free(k);
        cose_key_free(k2);
    }
}

/* RFC 9052 §C.7.1 style: the example P-256 key "11" and the Ed25519 key
 * of the COSE WG examples, hand-encoded, with malformed variants. */
static void test_cose_key_decode(void **state)
{
    struct cose_key *k = NULL;
    struct bytes b;
    /* {1: 2, 2: '11', -1: 1, -2: x, -3: y, -4: d} */
    static const char *ec_key =
            "a601020242313120012158 20bac5b11cad8f99f9c72b05cf4b9e26d244dc189f745228255a219a86d6a0"
            "9eff22582020138bf82dc1b6d562be0fa54ab7804a3a64b6d72ccfed6b6fb6ed28bbfc117e23582057c92"
            "077664146e876760c9520d054aa93c3afb04e306705db6090308507b4d3";
    char hx[1024];
    size_t j = 0;
    for (const char *c = ec_key; *c; c++)
        if (*c != ' ')
            hx[j++] = *c;
    hx[j] = 0;
    unhex(hx, &b);
    assert_int_equal(cose_key_decode(b.b, b.n, &k), 0);
    assert_int_equal(k->kty, COSE_KTY_EC2);
    assert_true(k->has_private);
    int64_t alg;
    assert_int_equal(cose_key_default_alg(k, &alg), 0);
    assert_int_equal(alg, COSE_ALG_ES256);
    cose_key_free(k);

    /* a different d: the pair does not match */
    struct bytes bad = b;
    bad.b[bad.n - 1] ^= 1;
    assert_int_equal(cose_key_decode(bad.b, bad.n, &k), -EKEYREJECTED);
    /* y off the curve */
    bad = b;
    bad.b[bad.n - 40] ^= 1;
    assert_int_equal(cose_key_decode(bad.b, bad.n, &k), -EKEYREJECTED);
    /* truncated, trailing byte */
    assert_int_equal(cose_key_decode(b.b, b.n - 1, &k), -EBADMSG);
    bad = b;
    bad.b[bad.n++] = 0;
    assert_int_equal(cose_key_decode(bad.b, bad.n, &k), -EBADMSG);

    static const struct {
        const char *hex;
        int err;
    } cases[] = {
            {"80", -EBADMSG},                   /* not a map */
            {"a0", -EBADMSG},                   /* no kty */
            {"a10104", -EKEYREJECTED},          /* symmetric without k */
            {"a20104204101", 0},                /* symmetric, 1 byte: loads */
            {"a2 0104 2001", -EKEYREJECTED},    /* k as int */
            {"a2016353796d2001", -ENOTSUP},     /* kty as text */
            {"a201032001", -ENOTSUP},           /* RSA */
            {"a3 0104 0104 204101", -EBADMSG},  /* duplicate label (1) */
            {"a301040381 0020 4101", -EBADMSG}, /* alg as an array */
            {"a3010403 3822 204101", -ENOTSUP}, /* alg ES384 */
            {"a301040307 20 50000102030405060708090a0b0c0d0e0f", -ENOTSUP}, /* alg 7 unknown */
            {"a3010403 0a 20 4101", -EKEYREJECTED}, /* alg AES-CCM with a 1-byte key */
            {"a40102200121 58200000000000000000000000000000000000000000000000000000000000000000"
             "22f5",
             -ENOTSUP},                        /* compressed point */
            {"a301022002 2140", -ENOTSUP},     /* P-384 */
            {"a3010120062140", -EKEYREJECTED}, /* Ed25519 x of 0 bytes */
            {"a30101200621 4401020304", -EKEYREJECTED},
            {"a2010120 06", -EKEYREJECTED},   /* OKP without x and d */
            {"a201016163 01", -EKEYREJECTED}, /* text label ignored, no crv */
            {"9f a0 ff", -EBADMSG},           /* indefinite */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        j = 0;
        for (const char *c = cases[i].hex; *c; c++)
            if (*c != ' ')
                hx[j++] = *c;
        hx[j] = 0;
        unhex(hx, &b);
        int r = cose_key_decode(b.b, b.n, &k);
        if (r != cases[i].err)
            fail_msg("case %zu (%s): %d, want %d", i, cases[i].hex, r, cases[i].err);
        if (r == 0)
            cose_key_free(k);
        else
            assert_null(k);
    }

    /* Ed25519 key of the examples (RFC 8032 test 1): x is derived from d
     * and must match when given */
    static const char *ed_d = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    static const char *ed_x = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    struct bytes d, x;
    unhex(ed_d, &d);
    unhex(ed_x, &x);
    struct cose_key_params kp = {
            .kty = COSE_KTY_OKP, .crv = COSE_CRV_ED25519, .d = d.b, .d_len = 32};
    assert_int_equal(cose_key_new(&kp, &k), 0);
    assert_memory_equal(k->x, x.b, 32);
    cose_key_free(k);
    kp.x = x.b;
    kp.x_len = 32;
    assert_int_equal(cose_key_new(&kp, &k), 0);
    cose_key_free(k);
    x.b[0] ^= 1;
    assert_int_equal(cose_key_new(&kp, &k), -EKEYREJECTED);
    kp.alg = COSE_ALG_ES256;
    x.b[0] ^= 1;
    assert_int_equal(cose_key_new(&kp, &k), -EKEYREJECTED); /* alg does not fit */
    kp.alg = COSE_ALG_EDDSA;
    kp.kid_len = COSE_KEY_MAX_KID + 1;
    kp.kid = d.b;
    assert_int_equal(cose_key_new(&kp, &k), -E2BIG);
}

static void test_cose_keyset_file(void **state)
{
    struct cose_key *a = NULL, *b = NULL;
    struct bytes ea, eb;
    uint8_t set[600];
    char path[] = "/tmp/wotgw-test-cose-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    assert_int_equal(cose_key_generate(COSE_ALG_EDDSA, (const uint8_t *)"a", 1, &a), 0);
    assert_int_equal(cose_key_generate(COSE_ALG_HMAC256_64, (const uint8_t *)"b", 1, &b), 0);
    assert_int_equal(cose_key_encode(a, false, ea.b, sizeof(ea.b), &ea.n), 0);
    assert_int_equal(cose_key_encode(b, true, eb.b, sizeof(eb.b), &eb.n), 0);
    set[0] = 0x82;
    memcpy(set + 1, ea.b, ea.n);
    memcpy(set + 1 + ea.n, eb.b, eb.n);
    size_t n = 1 + ea.n + eb.n;

    struct cose_key **keys = NULL;
    size_t nk = 0;
    struct diags d = {0};
    assert_int_equal(util_write_file_atomic(path, set, n, 0600), 0);
    assert_int_equal(cose_key_read_file(path, &keys, &nk, &d), 0);
    assert_int_equal(nk, 2);
    assert_int_equal(keys[0]->kty, COSE_KTY_OKP);
    assert_false(keys[0]->has_private);
    assert_int_equal(keys[1]->k_len, 32);
    cose_keys_free(keys, nk);

    /* a single key is a set of one */
    assert_int_equal(util_write_file_atomic(path, ea.b, ea.n, 0600), 0);
    assert_int_equal(cose_key_read_file(path, &keys, &nk, &d), 0);
    assert_int_equal(nk, 1);
    cose_keys_free(keys, nk);

    /* duplicate kid */
    set[0] = 0x82;
    memcpy(set + 1, ea.b, ea.n);
    memcpy(set + 1 + ea.n, ea.b, ea.n);
    assert_int_equal(util_write_file_atomic(path, set, 1 + 2 * ea.n, 0600), 0);
    assert_int_equal(cose_key_read_file(path, &keys, &nk, &d), -EINVAL);
    assert_true(diag_contains(&d, "same kid"));
    assert_null(keys);

    /* garbage, empty set, missing file */
    assert_int_equal(util_write_file_atomic(path, "hello", 5, 0600), 0);
    assert_int_equal(cose_key_read_file(path, &keys, &nk, &d), -EINVAL);
    assert_true(diag_contains(&d, "not a well-formed COSE_Key"));
    assert_int_equal(util_write_file_atomic(path, "\x80", 1, 0600), 0);
    assert_int_equal(cose_key_read_file(path, &keys, &nk, &d), -EINVAL);
    unlink(path);
    assert_int_equal(cose_key_read_file(path, &keys, &nk, &d), -EINVAL);
    assert_true(diag_contains(&d, "cannot read"));
    /* no key material in any message */
    for (size_t i = 0; i < d.n; i++)
        assert_null(strstr(d.v[i].msg, "hJtX"));
    diag_free(&d);

    /* too many keys */
    uint8_t *big = malloc(2 + 65 * 3);
    assert_non_null(big);
    big[0] = 0x98;
    big[1] = 65;
    for (size_t i = 0; i < 65; i++)
        memcpy(big + 2 + 3 * i, "\xa1\x01\x04", 3); /* {1: 4} */
    assert_int_equal(cose_keyset_decode(big, 2 + 65 * 3, &keys, &nk), -E2BIG);
    assert_int_equal(cose_keyset_decode(big + 2, 3, &keys, &nk), -EKEYREJECTED);
    free(big);
    cose_key_free(a);
    cose_key_free(b);
}

/* ---- malformed messages ----------------------------------------------- */

static void test_malformed_messages(void **state)
{
    struct cose_key *k = NULL;
    struct cose_key_params kp = {.kty = COSE_KTY_SYMMETRIC,
                                 .k = (const uint8_t *)"0123456789abcdef0123456789abcdef",
                                 .k_len = 32};
    assert_int_equal(cose_key_new(&kp, &k), 0);
    struct bytes m;
    struct cose_msg dm;
    static const struct {
        const char *hex;
        int err;
    } cases[] = {
            /* valid baseline: 17([h'A10105', {}, h'', h'<32 bytes>']) decodes */
            {"d18443a10105a0405820"
             "0000000000000000000000000000000000000000000000000000000000000000",
             -EACCES},
            {"a0", -EBADMSG},                                    /* not an array */
            {"d183 43a10105 a0 40", -EBADMSG},                   /* Mac0 with 3 elements */
            {"d185 41a0 a0 40 40 40", -EBADMSG},                 /* 5 elements */
            {"d184 a0 a0 40 40", -EBADMSG},                      /* protected not a bstr */
            {"d184 4101 a0 40 40", -EBADMSG},                    /* protected not a map */
            {"d184 42a000 a0 40 40", -EBADMSG},                  /* protected with trailing byte */
            {"d184 40 80 40 40", -EBADMSG},                      /* unprotected not a map */
            {"d184 40 a20105 0105 40 40", -EBADMSG},             /* duplicate label */
            {"d184 43a10105 a10105 40 40", -EBADMSG},            /* alg in both buckets */
            {"d184 40 a1 0281 01 40 40", -EBADMSG},              /* crit unprotected */
            {"d184 47a2010502811863 a0 40 40", -ENOTSUP},        /* crit: 99 not understood */
            {"d184 46a201050281 04 a10441 61 40 40", -EBADMSG},  /* crit kid, kid unprotected */
            {"d184 45a201050280 a0 40 40", -EBADMSG},            /* crit empty */
            {"d184 40 a3 0105 054100 064101 40 40", -EBADMSG},   /* IV and Partial IV */
            {"d184 40 a2 0105 0401 40 40", -EBADMSG},            /* kid not a bstr */
            {"d184 40 a2 0105 0640 40 40", -EBADMSG},            /* empty Partial IV */
            {"d184 40 a0 40 40", -EBADMSG},                      /* no alg */
            {"d184 40 a1 01 6548533235 36 40 40", -ENOTSUP},     /* alg as text */
            {"d184 40 a1 01 3903e6 40 40", -ENOTSUP},            /* alg -999 */
            {"d284 40 a1 0105 40 40", -EBADMSG},                 /* Sign1 tag on a Mac0 */
            {"c0 84 40 a1 0105 40 40", -EBADMSG},                /* tag 0 */
            {"d184 40 a1 0105 f6 40", -EBADMSG},                 /* nil payload, nothing detached */
            {"d184 40 a1 0105 40 f6", -EBADMSG},                 /* tag nil */
            {"d184 40 a1 0105 40 48 0000000000000000", -EACCES}, /* HMAC 256/256 tag of 8 */
            {"d1 9f 40 a1 0105 40 40 ff", -EBADMSG},             /* indefinite array */
            {"d184 40 a1 0105 5f40ff 40", -EBADMSG},             /* indefinite payload */
            {"d184 40 a1 0105 40 40 00", -EBADMSG},              /* trailing bytes */
            {"d184 40 a1 03 f5 40 40", -EBADMSG},                /* ctype bool */
            {"d184 40 a2 0105 03 60 40 40", -EBADMSG},           /* ctype empty text */
            {"d184 40 a2 0105 03 1a00010000 40 40", -EBADMSG},   /* ctype > 65535 */
            {"d184 40 a2 0105 6161 01 40 40", -EACCES},          /* text label skipped */
    };
    char hx[512];
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        size_t j = 0;
        for (const char *c = cases[i].hex; *c; c++)
            if (*c != ' ')
                hx[j++] = *c;
        hx[j] = 0;
        unhex(hx, &m);
        int r = cose_mac0_verify(k, m.b, m.n, NULL, &dm);
        if (r != cases[i].err)
            fail_msg("case %zu (%s): %d, want %d", i, cases[i].hex, r, cases[i].err);
    }
    /* COSE_TYPE_ANY wants a tag */
    unhex("8440a101054040", &m);
    assert_int_equal(cose_decode(m.b, m.n, COSE_TYPE_ANY, &dm), -EBADMSG);
    assert_int_equal(cose_decode(m.b, m.n, COSE_MAC0, &dm), 0);
    assert_false(dm.tagged);
    /* Encrypt0 checks */
    struct cose_key *aes = NULL;
    struct bytes pt;
    assert_int_equal(cose_key_generate(COSE_ALG_A128GCM, NULL, 0, &aes), 0);
    static const struct {
        const char *hex;
        int err;
    } enc_cases[] = {
            {"d08340a10101 40", -EBADMSG},        /* no IV */
            {"d08340a2010105 4100 40", -EBADMSG}, /* IV of 1 byte */
            {"d08340a2010105 4c000000000000000000000000 4f000000000000000000000000000000",
             -EACCES}, /* ciphertext shorter than the tag */
            {"d08340a2010106 4101 50 00000000000000000000000000000000", -ENOKEY}, /* no Base IV */
            {"d08340a2010105 4c000000000000000000000000 f6", -EBADMSG}, /* nil ciphertext */
    };
    for (size_t i = 0; i < ARRAY_SIZE(enc_cases); i++) {
        size_t j = 0;
        for (const char *c = enc_cases[i].hex; *c; c++)
            if (*c != ' ')
                hx[j++] = *c;
        hx[j] = 0;
        unhex(hx, &m);
        int r = cose_encrypt0_decrypt(aes, m.b, m.n, NULL, pt.b, sizeof(pt.b), &pt.n, NULL);
        if (r != enc_cases[i].err)
            fail_msg("enc case %zu: %d, want %d", i, r, enc_cases[i].err);
    }
    /* too large */
    uint8_t *huge = calloc(1, COSE_MAX_MESSAGE + 1);
    assert_non_null(huge);
    assert_int_equal(cose_decode(huge, COSE_MAX_MESSAGE + 1, COSE_MAC0, &dm), -E2BIG);
    free(huge);
    /* external AAD over the limit */
    static uint8_t big_aad[COSE_MAX_EXTERNAL_AAD + 1];
    struct cose_verify_opts o = {.external_aad = big_aad, .external_aad_len = sizeof(big_aad)};
    unhex("d18443a10105a0405820"
          "0000000000000000000000000000000000000000000000000000000000000000",
          &m);
    assert_int_equal(cose_mac0_verify(k, m.b, m.n, &o, NULL), -E2BIG);
    cose_key_free(aes);
    cose_key_free(k);
}

/* Every prefix of a valid message is refused, with an exact-size copy. */
static void test_truncation_and_bounds(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(all_algs); i++) {
        struct cose_key *k = NULL;
        struct bytes m, pt;
        struct cose_params p = {.alg = all_algs[i], .kid = (const uint8_t *)"kid", .kid_len = 3};
        assert_int_equal(cose_key_generate(all_algs[i], NULL, 0, &k), 0);
        assert_int_equal(create(all_algs[i], k, &p, "hello", 5, m.b, sizeof(m.b), &m.n), 0);
        assert_true(m.n <= 5 + COSE_OVERHEAD);
        for (size_t n = 0; n < m.n; n++) {
            uint8_t *c = malloc(n ? n : 1);
            assert_non_null(c);
            memcpy(c, m.b, n);
            assert_int_not_equal(verify(all_algs[i], k, c, n, NULL, &pt), 0);
            free(c);
        }
        /* output bounds: every too-small cap is -ENOBUFS, no write past it */
        if (all_algs[i] != COSE_ALG_ES256) { /* ES256 signatures are random, sizes are not */
            for (size_t cap = 0; cap < m.n; cap++) {
                uint8_t out[600];
                size_t on;
                memset(out, 0x5a, sizeof(out));
                struct cose_params p2 = p;
                uint8_t iv[13] = {0};
                if (all_algs[i] == COSE_ALG_A128GCM || all_algs[i] == COSE_ALG_AES_CCM_16_64_128) {
                    p2.iv = iv;
                    p2.iv_len = all_algs[i] == COSE_ALG_A128GCM ? 12 : 13;
                }
                assert_int_equal(create(all_algs[i], k, &p2, "hello", 5, out, cap, &on), -ENOBUFS);
                for (size_t b = cap; b < sizeof(out); b++)
                    assert_int_equal(out[b], 0x5a);
            }
        }
        cose_key_free(k);
    }
}

/* AEAD building blocks: empty plaintexts and tag checks for both modes. */
static void test_aead(void **state)
{
    static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static const uint8_t nonce[13] = {0};
    static const int64_t algs[] = {COSE_ALG_AES_CCM_16_64_128, COSE_ALG_A128GCM};
    for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
        size_t kl, nl, tl, n, pn;
        uint8_t ct[64], pt[64];
        assert_int_equal(cose_aead_params(algs[i], &kl, &nl, &tl), 0);
        for (size_t len = 0; len < 3; len++) {
            assert_int_equal(cose_aead_encrypt(algs[i], key, kl, nonce, nl, (const uint8_t *)"a", 1,
                                               (const uint8_t *)"xy", len, ct, sizeof(ct), &n),
                             0);
            assert_int_equal(n, len + tl);
            assert_int_equal(cose_aead_decrypt(algs[i], key, kl, nonce, nl, (const uint8_t *)"a", 1,
                                               ct, n, pt, sizeof(pt), &pn),
                             0);
            assert_int_equal(pn, len);
            ct[n - 1] ^= 1;
            assert_int_equal(cose_aead_decrypt(algs[i], key, kl, nonce, nl, (const uint8_t *)"a", 1,
                                               ct, n, pt, sizeof(pt), &pn),
                             -EACCES);
            ct[n - 1] ^= 1;
            assert_int_equal(cose_aead_decrypt(algs[i], key, kl, nonce, nl, (const uint8_t *)"b", 1,
                                               ct, n, pt, sizeof(pt), &pn),
                             -EACCES);
        }
        assert_int_equal(cose_aead_encrypt(algs[i], key, kl, nonce, nl - 1, NULL, 0,
                                           (const uint8_t *)"x", 1, ct, sizeof(ct), &n),
                         -EINVAL);
        assert_int_equal(cose_aead_encrypt(algs[i], key, kl - 1, nonce, nl, NULL, 0,
                                           (const uint8_t *)"x", 1, ct, sizeof(ct), &n),
                         -EINVAL);
        assert_int_equal(cose_aead_encrypt(algs[i], key, kl, nonce, nl, NULL, 0,
                                           (const uint8_t *)"x", 1, ct, tl, &n),
                         -ENOBUFS);
        assert_int_equal(cose_aead_decrypt(algs[i], key, kl, nonce, nl, NULL, 0, ct, tl - 1, pt,
                                           sizeof(pt), &pn),
                         -EACCES);
    }
    assert_int_equal(cose_aead_params(30, NULL, NULL, NULL), -ENOTSUP);
}

/* ---- interop with cose-js (driven by the integration test) ------------ */

static json_t *hexstr(const uint8_t *b, size_t n)
{
    char *s = malloc(2 * n + 1);
    assert_non_null(s);
    hex_encode(b, n, s);
    json_t *j = json_string(s);
    free(s);
    return j;
}

static void jhex(json_t *o, const char *name, struct bytes *out)
{
    const char *s = json_string_value(json_object_get(o, name));
    out->n = 0;
    if (s)
        unhex(s, out);
}

static void interop_verify_js(const char *dir, unsigned *ok, unsigned *bad)
{
    char *path = util_path_join(dir, "js-messages.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    free(path);
    if (!root) {
        printf("interop: not ok - c reads js-messages.json: %s\n", jerr.text);
        (*bad)++;
        return;
    }
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(root, "messages"), i, m)
    {
        const char *name = json_string_value(json_object_get(m, "name"));
        int64_t alg = json_integer_value(json_object_get(m, "alg"));
        json_t *kj = json_object_get(m, "key");
        struct bytes x, y, kk, kid, payload, ext, msg, pt;
        jhex(kj, "x", &x);
        jhex(kj, "y", &y);
        jhex(kj, "k", &kk);
        jhex(kj, "kid", &kid);
        jhex(m, "payload", &payload);
        jhex(m, "external_aad", &ext);
        jhex(m, "message", &msg);
        struct cose_key_params kp = {.kid = kid.b, .kid_len = kid.n};
        if (alg == COSE_ALG_ES256) {
            kp.kty = COSE_KTY_EC2;
            kp.crv = COSE_CRV_P256;
            kp.x = x.b;
            kp.x_len = x.n;
            kp.y = y.b;
            kp.y_len = y.n;
        } else if (alg == COSE_ALG_EDDSA) {
            kp.kty = COSE_KTY_OKP;
            kp.crv = COSE_CRV_ED25519;
            kp.x = x.b;
            kp.x_len = x.n;
        } else {
            kp.kty = COSE_KTY_SYMMETRIC;
            kp.k = kk.b;
            kp.k_len = kk.n;
            kp.alg = alg;
        }
        struct cose_key *key = NULL;
        int r = cose_key_new(&kp, &key);
        struct cose_verify_opts o = {.external_aad = ext.b, .external_aad_len = ext.n};
        if (r == 0)
            r = verify(alg, key, msg.b, msg.n, &o, &pt);
        if (r == 0 && (pt.n != payload.n || memcmp(pt.b, payload.b, pt.n) != 0))
            r = -EPROTO;
        int tr = -1;
        if (r == 0) { /* and a tampered copy fails */
            msg.b[msg.n - 1] ^= 1;
            tr = verify(alg, key, msg.b, msg.n, &o, &pt);
        }
        if (r == 0 && tr != 0) {
            printf("interop: ok - c verifies js %s (and refuses it tampered)\n", name);
            (*ok)++;
        } else {
            printf("interop: not ok - c verifies js %s (%d, tampered %d)\n", name, r, tr);
            (*bad)++;
        }
        cose_key_free(key);
    }
    json_decref(root);
}

static void interop_write_c(const char *dir)
{
    static const struct {
        const char *name;
        int64_t alg;
        bool tagged;
        bool ext;
    } plan[] = {
            {"sign1-es256", COSE_ALG_ES256, true, false},
            {"sign1-es256-aad-untagged", COSE_ALG_ES256, false, true},
            {"sign1-eddsa", COSE_ALG_EDDSA, true, true},
            {"mac0-hmac256-64", COSE_ALG_HMAC256_64, true, false},
            {"mac0-hmac256-256-aad", COSE_ALG_HMAC256_256, true, true},
            {"encrypt0-aes-ccm-16-64-128", COSE_ALG_AES_CCM_16_64_128, true, false},
            {"encrypt0-a128gcm-aad", COSE_ALG_A128GCM, true, true},
    };
    static const uint8_t ext[] = {0x11, 0xaa, 0x22, 0xbb};
    json_t *arr = json_array();
    for (size_t i = 0; i < ARRAY_SIZE(plan); i++) {
        struct cose_key *k = NULL;
        char payload[64];
        struct bytes m, ek;
        snprintf(payload, sizeof(payload), "payload of %s from wotgw", plan[i].name);
        assert_int_equal(cose_key_generate(plan[i].alg, (const uint8_t *)"c-key", 5, &k), 0);
        struct cose_params p = {.alg = plan[i].alg,
                                .kid = (const uint8_t *)"c-key",
                                .kid_len = 5,
                                .untagged = !plan[i].tagged};
        if (plan[i].ext) {
            p.external_aad = ext;
            p.external_aad_len = sizeof(ext);
        }
        assert_int_equal(
                create(plan[i].alg, k, &p, payload, strlen(payload), m.b, sizeof(m.b), &m.n), 0);
        json_t *key = json_object();
        if (k->kty == COSE_KTY_SYMMETRIC) {
            json_object_set_new(key, "k", hexstr(k->k, k->k_len));
        } else {
            json_object_set_new(key, "x", hexstr(k->x, 32));
            if (k->kty == COSE_KTY_EC2)
                json_object_set_new(key, "y", hexstr(k->y, 32));
        }
        assert_int_equal(
                cose_key_encode(k, k->kty == COSE_KTY_SYMMETRIC, ek.b, sizeof(ek.b), &ek.n), 0);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(plan[i].name));
        json_object_set_new(o, "alg", json_integer(plan[i].alg));
        json_object_set_new(o, "tagged", json_boolean(plan[i].tagged));
        json_object_set_new(o, "key", key);
        json_object_set_new(o, "cose_key", hexstr(ek.b, ek.n));
        json_object_set_new(o, "payload", hexstr((const uint8_t *)payload, strlen(payload)));
        json_object_set_new(o, "external_aad", hexstr(p.external_aad, p.external_aad_len));
        json_object_set_new(o, "message", hexstr(m.b, m.n));
        json_array_append_new(arr, o);
        cose_key_free(k);
    }
    json_t *root = json_object();
    json_object_set_new(root, "producer", json_string("wotgw"));
    json_object_set_new(root, "messages", arr);
    char *path = util_path_join(dir, "c-messages.json");
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(1)), 0);
    free(path);
    json_decref(root);
}

static void test_interop(void **state)
{
    const char *dir = getenv("WOTGW_COSE_INTEROP_DIR");
    if (!dir || !*dir)
        skip();
    unsigned ok = 0, bad = 0;
    interop_verify_js(dir, &ok, &bad);
    interop_write_c(dir);
    printf("interop: %u js messages verified, %u failed\n", ok, bad);
    assert_int_equal(bad, 0);
    assert_true(ok >= 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_cose_wg_examples),
            cmocka_unit_test(test_roundtrip),
            cmocka_unit_test(test_key_binding),
            cmocka_unit_test(test_cose_key_roundtrip),
            cmocka_unit_test(test_cose_key_decode),
            cmocka_unit_test(test_cose_keyset_file),
            cmocka_unit_test(test_malformed_messages),
            cmocka_unit_test(test_truncation_and_bounds),
            cmocka_unit_test(test_aead),
            cmocka_unit_test(test_interop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
