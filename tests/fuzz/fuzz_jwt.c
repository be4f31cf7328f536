/* fuzz_jwt.c - bearer token parsing and verification against a fixed
 * JWKS (the test keys of tests/data/auth/issuer.jwks: ES256, EdDSA,
 * RS256). The first input byte picks the target:
 *   even: the rest is a compact JWT for jwt_verify() and, with each key,
 *         jws_verify_compact();
 *   odd:  the rest is a JWT payload for jwt_claims_check(), which a
 *         fuzzer cannot reach through signatures.
 * Invariants: a result is always one of enum jwt_error, claims are empty
 * unless JWT_OK, and on JWT_OK the promised claims are there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000LL

static const char jwks_text[] =
        "{\"keys\":["
        "{"
        "\"kty\":\"EC\","
        "\"crv\":\"P-256\","
        "\"alg\":\"ES256\","
        "\"use\":\"sig\","
        "\"kid\":\"es-1\","
        "\"x\":\"Qh0ZlFRlZjinacPQ2fzlMZdY6HJwv-kxNxTEgBYPB28\","
        "\"y\":\"9TSM9olkpnpAMnz6ipTYmx1ot1p0RiZwnClgpKDAvZA\""
        "},"
        "{"
        "\"kty\":\"OKP\","
        "\"crv\":\"Ed25519\","
        "\"alg\":\"EdDSA\","
        "\"use\":\"sig\","
        "\"kid\":\"ed-1\","
        "\"x\":\"QUXC89u1pSA1teC4s3eQigchLLhrXeVFyCckoh0-EKk\""
        "},"
        "{"
        "\"kty\":\"RSA\","
        "\"alg\":\"RS256\","
        "\"use\":\"sig\","
        "\"kid\":\"rs-1\","
        "\"n\":\"ysNFTfUm2lRqMQ5TZFPrMuVUQmDuXQRshlBNpujw8x8MAZ6IQoJ9QQ4Fhpk5j1V1mBIijbZO9ks"
        "NtHEbC7xw6YYYUbcao7fDSO6v6II0xVQe0wSk6JfhQeHPKsmZoS8SoFYXvUOqAsw6ReyBW_X96y5dWaa"
        "GpPZQP2FdE-KgDp0G9b4EtcEsOogQJG8drAoegaK8jje47Na2kXw4KylKYNFOOEiwZWQscXOQ7w27DDS"
        "w1eI6M2Dq3sEOIsdOnKCaZmo3MIT9OJOKhtpjGSv_ii-W_niRQf1U3Ete9jiELtKD4dlfGaBOJi6DdtA"
        "SdOJ0ZAoJvf8Yk2aC4Xj1O8-nYw\","
        "\"e\":\"AQAB\""
        "}"
        "]}";

static char *audiences[] = {"wotgw", NULL};
static struct issuer_conf conf = {
        .name = "idp",
        .iss = "https://idp.test",
        .audiences = audiences,
        .algorithms = JWT_ALG_ES256 | JWT_ALG_EDDSA | JWT_ALG_RS256,
        .leeway_s = 30,
};
static struct jwt_issuer issuer;
static const struct jwt_issuer *issuers[1];

static void setup(void)
{
    struct diags d = {0};
    if (issuer.keys)
        return;
    if (jwks_parse("fuzz.jwks", jwks_text, strlen(jwks_text), conf.algorithms, &issuer.keys, &d) <
                0 ||
        issuer.keys->n != 3)
        abort();
    diag_free(&d);
    issuer.conf = &conf;
    issuers[0] = &issuer;
}

static void check_claims(enum jwt_error e, const struct jwt_claims *c)
{
    if (e > JWT_MISSING_CLAIM || !jwt_error_str(e))
        abort();
    if (e != JWT_OK) {
        if (c->sub || c->iss || c->client_id || c->scopes)
            abort();
        return;
    }
    if (!c->sub || !c->iss || !c->scopes || !c->sub[0] || strlen(c->sub) > JWT_MAX_SUB)
        abort();
    size_t n = 0;
    while (c->scopes[n])
        n++;
    if (n > JWT_MAX_SCOPES)
        abort();
    if (c->exp + 30 <= NOW)
        abort(); /* expired tokens must not pass */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jwt_claims c;
    setup();
    if (size < 1)
        return 0;
    const char *tok = (const char *)data + 1;
    size_t len = size - 1;
    if (data[0] & 1) {
        enum jwt_error e = jwt_claims_check(&conf, data + 1, len, NOW, &c);
        check_claims(e, &c);
        jwt_claims_free(&c);
        return 0;
    }
    const struct jwt_issuer *which = NULL;
    enum jwt_error e = jwt_verify(issuers, 1, NULL, tok, len, 8192, NOW, &c, &which);
    check_claims(e, &c);
    if ((e == JWT_OK) != (which == &issuer))
        abort();
    jwt_claims_free(&c);
    for (size_t i = 0; i < issuer.keys->n; i++) {
        uint8_t *p = NULL;
        size_t pn = 0;
        e = jws_verify_compact(&issuer.keys->v[i], tok, len, &p, &pn);
        if (e > JWT_MISSING_CLAIM || (e == JWT_OK) != (p != NULL))
            abort();
        free(p);
    }
    return 0;
}
