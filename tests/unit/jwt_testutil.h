/* jwt_testutil.h - header-only helpers for tests that need signed JWTs:
 * load a PEM key, sign a compact JWS (ES256 raw r||s, or DER on request,
 * EdDSA, RS256, HS256 with any bytes as the HMAC key). Everything is
 * static; include after <cmocka.h>. Test code only.
 */
#pragma once

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define TU_UNUSED __attribute__((unused))

/* A private or public key from a PEM file; fails the test if unreadable. */
TU_UNUSED static EVP_PKEY *tu_load_key(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

TU_UNUSED static char *tu_b64url(const void *p, size_t n)
{
    char *o = malloc(b64url_encoded_len(n) + 1);
    assert_non_null(o);
    b64url_encode(p, n, o);
    return o;
}

enum tu_sig {
    TU_ES256,     /* raw r||s, as JWS requires */
    TU_ES256_DER, /* the common bug: DER */
    TU_EDDSA,
    TU_RS256,
    TU_HS256, /* hmac_key / hmac_len as the key */
};

/* Signs "b64(header).b64(payload)" and returns the compact JWS. header
 * and payload are the exact JSON texts. */
TU_UNUSED static char *tu_sign(enum tu_sig how, EVP_PKEY *key, const void *hmac_key,
                               size_t hmac_len, const char *header, const char *payload)
{
    char *hb = tu_b64url(header, strlen(header)), *pb = tu_b64url(payload, strlen(payload));
    char *input = NULL, *tok = NULL;
    assert_true(asprintf(&input, "%s.%s", hb, pb) > 0);
    uint8_t sig[1024], raw[64];
    size_t sl = sizeof(sig);
    const uint8_t *out = sig;
    size_t outlen;

    if (how == TU_HS256) {
        size_t ml = 0;
        assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, hmac_key, hmac_len,
                                  (const uint8_t *)input, strlen(input), sig, sizeof(sig), &ml));
        outlen = ml;
    } else {
        EVP_MD_CTX *mc = EVP_MD_CTX_new();
        assert_non_null(mc);
        const char *md = how == TU_EDDSA ? NULL : "SHA256";
        assert_int_equal(EVP_DigestSignInit_ex(mc, NULL, md, NULL, NULL, key, NULL), 1);
        assert_int_equal(EVP_DigestSign(mc, sig, &sl, (const uint8_t *)input, strlen(input)), 1);
        EVP_MD_CTX_free(mc);
        outlen = sl;
        if (how == TU_ES256) {
            /* DER -> raw r||s */
            const uint8_t *q = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)sl);
            assert_non_null(es);
            const BIGNUM *r, *s;
            ECDSA_SIG_get0(es, &r, &s);
            assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
            assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
            ECDSA_SIG_free(es);
            out = raw;
            outlen = 64;
        }
    }
    char *sb = tu_b64url(out, outlen);
    assert_true(asprintf(&tok, "%s.%s", input, sb) > 0);
    free(sb);
    free(input);
    free(hb);
    free(pb);
    return tok;
}
