/* test_jwt.c - auth/jwt.c: JWKS parsing, JWS verification against the
 * RFC 7515 / RFC 8037 vectors, and JWT checks on tokens minted here with
 * the test keys in tests/data/auth. */
#define _GNU_SOURCE
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
#include <jansson.h>

#include "auth/jwt.h"
#include "jwt_testutil.h"
#include "util.h"

#define NOW  1700000000LL
#define ISS  "https://idp.test"
#define DATA "tests/data/auth/"
#define JOSE "tests/data/jose/"
#define ALL  (JWT_ALG_ES256 | JWT_ALG_EDDSA | JWT_ALG_RS256)
#define H_ES "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"es-1\"}"
#define H_ED "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"ed-1\"}"
#define H_RS "{\"alg\":\"RS256\",\"kid\":\"rs-1\"}"

static EVP_PKEY *k_es, *k_ed, *k_rs, *k_rogue;
static struct jwks *g_keys;
static char *aud_wotgw[] = {"wotgw", "other-aud", NULL};
static struct issuer_conf g_conf = {
        .name = "idp",
        .iss = ISS,
        .audiences = aud_wotgw,
        .algorithms = ALL,
        .leeway_s = 30,
};
static struct issuer_conf g_conf2 = {
        .name = "other",
        .iss = "https://other.test",
        .audiences = aud_wotgw,
        .algorithms = ALL,
        .leeway_s = 30,
};
static struct jwt_issuer g_iss, g_iss2;
static const struct jwt_issuer *g_issuers[2];

/* ---- helpers --------------------------------------------------------------- */

static char *read_text(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(util_read_file(path, 1u << 20, &buf, &len), 0);
    return buf;
}

/* A payload with the usual claims; extra is appended inside the object
 * (",\"k\":v" or ""). */
static char *payload(const char *iss, const char *sub, const char *aud, long long exp,
                     const char *extra)
{
    char *p = NULL;
    assert_true(asprintf(&p, "{\"iss\":\"%s\",\"sub\":\"%s\",\"aud\":\"%s\",\"exp\":%lld%s}", iss,
                         sub, aud, exp, extra) > 0);
    return p;
}

static char *mint(enum tu_sig how, EVP_PKEY *k, const char *hdr, const char *pl)
{
    return tu_sign(how, k, NULL, 0, hdr, pl);
}

/* Mints an ES256 token with the standard header around payload text. */
static char *mint_es(const char *pl)
{
    return mint(TU_ES256, k_es, H_ES, pl);
}

static enum jwt_error verify_at(const char *tok, int64_t now, const char *only,
                                struct jwt_claims *out)
{
    struct jwt_claims c;
    const struct jwt_issuer *which = (const struct jwt_issuer *)1;
    enum jwt_error e = jwt_verify(g_issuers, 2, only, tok, strlen(tok), 8192, now, &c, &which);
    if (e == JWT_OK)
        assert_non_null(which);
    else
        assert_null(which);
    if (out)
        *out = c;
    else
        jwt_claims_free(&c);
    return e;
}

static enum jwt_error verify(const char *tok)
{
    return verify_at(tok, NOW, NULL, NULL);
}

/* verify() of an ES256 token minted around payload text; frees both. */
static enum jwt_error verify_pl(const char *pl)
{
    char *t = mint_es(pl);
    enum jwt_error e = verify(t);
    free(t);
    return e;
}

static enum jwt_error verify_claims(const char *extra)
{
    char *pl = payload(ISS, "alice", "wotgw", NOW + 300, extra);
    enum jwt_error e = verify_pl(pl);
    free(pl);
    return e;
}

/* A token whose header is the given JSON text, payload valid, signed
 * with the ES256 key. */
static enum jwt_error verify_hdr(const char *hdr)
{
    char *pl = payload(ISS, "alice", "wotgw", NOW + 300, "");
    char *t = mint(TU_ES256, k_es, hdr, pl);
    enum jwt_error e = verify(t);
    free(t);
    free(pl);
    return e;
}

static int parse_jwks(const char *text, unsigned allowed, struct jwks **out, struct diags *d)
{
    return jwks_parse("test.jwks", text, strlen(text), allowed, out, d);
}

/* The JWK of a vector with its private members removed, as JSON text. */
static char *vector_public_jwk(const char *file, const char *vec)
{
    char *text = read_text(file);
    json_t *root = json_loads(text, 0, NULL);
    assert_non_null(root);
    json_t *jwk = json_object_get(json_object_get(json_object_get(root, "vectors"), vec), "jwk");
    assert_non_null(jwk);
    static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi"};
    for (size_t i = 0; i < ARRAY_SIZE(priv); i++)
        json_object_del(jwk, priv[i]);
    char *s = json_dumps(jwk, JSON_COMPACT);
    assert_non_null(s);
    json_decref(root);
    free(text);
    return s;
}

static char *vector_str(const char *file, const char *vec, const char *field)
{
    char *text = read_text(file);
    json_t *root = json_loads(text, 0, NULL);
    assert_non_null(root);
    const char *v = json_string_value(
            json_object_get(json_object_get(json_object_get(root, "vectors"), vec), field));
    assert_non_null(v);
    char *s = strdup(v);
    json_decref(root);
    free(text);
    return s;
}

static struct jwks *vector_keys(const char *file, const char *vec, unsigned allowed)
{
    struct diags d = {0};
    struct jwks *k = NULL;
    char *jwk = vector_public_jwk(file, vec);
    assert_int_equal(parse_jwks(jwk, allowed, &k, &d), 0);
    assert_int_equal(k->n, 1);
    free(jwk);
    diag_free(&d);
    return k;
}

static int group_setup(void **state)
{
    struct diags d = {0};
    k_es = tu_load_key(DATA "es256.pem");
    k_ed = tu_load_key(DATA "ed25519.pem");
    k_rs = tu_load_key(DATA "rs256.pem");
    k_rogue = tu_load_key(DATA "es256-rogue.pem");
    assert_int_equal(jwks_load_file(DATA "issuer.jwks", ALL, &g_keys, &d), 0);
    assert_int_equal(d.n, 0);
    g_iss = (struct jwt_issuer){.conf = &g_conf, .keys = g_keys};
    g_iss2 = (struct jwt_issuer){.conf = &g_conf2, .keys = g_keys};
    g_issuers[0] = &g_iss;
    g_issuers[1] = &g_iss2;
    diag_free(&d);
    return 0;
}

static int group_teardown(void **state)
{
    jwks_free(g_keys);
    EVP_PKEY_free(k_es);
    EVP_PKEY_free(k_ed);
    EVP_PKEY_free(k_rs);
    EVP_PKEY_free(k_rogue);
    return 0;
}

/* ---- RFC vectors ------------------------------------------------------------ */

#define V7515 JOSE "rfc7515-appendix-a.json"
#define V8037 JOSE "rfc8037-appendix-a.json"

static void check_vector(const char *file, const char *keyvec, const char *tokvec, unsigned alg,
                         const char *want_payload)
{
    struct jwks *k = vector_keys(file, keyvec, ALL);
    assert_int_equal(k->v[0].alg, alg);
    char *tok = vector_str(file, tokvec, "compact");
    uint8_t *pl = NULL;
    size_t pn = 0;
    assert_int_equal(jws_verify_compact(&k->v[0], tok, strlen(tok), &pl, &pn), JWT_OK);
    assert_int_equal(pn, strlen(want_payload));
    assert_memory_equal(pl, want_payload, pn);
    free(pl);
    /* one bit of the signature changed */
    size_t n = strlen(tok);
    tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(jws_verify_compact(&k->v[0], tok, n, &pl, &pn), JWT_BAD_SIGNATURE);
    assert_null(pl);
    /* one byte of the payload segment changed */
    tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
    char *dot = strchr(tok, '.');
    dot[1] = dot[1] == 'e' ? 'f' : 'e';
    assert_int_equal(jws_verify_compact(&k->v[0], tok, n, NULL, NULL), JWT_BAD_SIGNATURE);
    free(tok);
    jwks_free(k);
}

static void test_rfc7515_a3_es256(void **state)
{
    char *p = vector_str(V7515, "A.3", "payload");
    check_vector(V7515, "A.3", "A.3", JWT_ALG_ES256, p);
    free(p);
}

static void test_rfc7515_a2_rs256(void **state)
{
    char *p = vector_str(V7515, "A.2", "payload");
    check_vector(V7515, "A.2", "A.2", JWT_ALG_RS256, p);
    free(p);
}

static void test_rfc8037_eddsa(void **state)
{
    /* A.2 public key, A.4 signing = A.5 validation token */
    struct diags d = {0};
    struct jwks *k = NULL;
    char *text = read_text(V8037);
    json_t *root = json_loads(text, 0, NULL);
    json_t *v = json_object_get(root, "vectors");
    char *pub = json_dumps(json_object_get(json_object_get(v, "A.2"), "jwk"), JSON_COMPACT);
    char *priv = json_dumps(json_object_get(json_object_get(v, "A.1"), "jwk"), JSON_COMPACT);
    const char *a4 = json_string_value(json_object_get(json_object_get(v, "A.4"), "compact"));
    const char *a5 = json_string_value(json_object_get(json_object_get(v, "A.5"), "compact"));
    assert_string_equal(a4, a5);
    assert_int_equal(parse_jwks(pub, ALL, &k, &d), 0);
    assert_int_equal(k->v[0].alg, JWT_ALG_EDDSA);
    uint8_t *pl = NULL;
    size_t pn = 0;
    assert_int_equal(jws_verify_compact(&k->v[0], a5, strlen(a5), &pl, &pn), JWT_OK);
    assert_int_equal(pn, strlen("Example of Ed25519 signing"));
    assert_memory_equal(pl, "Example of Ed25519 signing", pn);
    free(pl);
    /* the ES256 vector key must not verify an EdDSA token */
    struct jwks *es = vector_keys(V7515, "A.3", ALL);
    assert_int_equal(jws_verify_compact(&es->v[0], a5, strlen(a5), NULL, NULL), JWT_BAD_ALG);
    jwks_free(es);
    jwks_free(k);
    k = NULL;
    /* A.1 is a private key: refused, and "d" is not echoed */
    assert_int_equal(parse_jwks(priv, ALL, &k, &d), -EINVAL);
    assert_null(k);
    assert_true(diag_contains(&d, "private"));
    assert_false(diag_contains(&d, "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"));
    free(pub);
    free(priv);
    json_decref(root);
    free(text);
    diag_free(&d);
}

static void test_rfc7515_a1_hs256_refused(void **state)
{
    struct diags d = {0};
    struct jwks *k = NULL;
    char *oct = vector_public_jwk(V7515, "A.1");
    /* an "oct" key is refused at load, alone or next to a good key */
    assert_int_equal(parse_jwks(oct, ALL, &k, &d), -EINVAL);
    assert_null(k);
    assert_true(diag_contains(&d, "oct"));
    assert_false(diag_contains(&d, "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ"));
    char *es = vector_public_jwk(V7515, "A.3"), *set = NULL;
    assert_true(asprintf(&set, "{\"keys\":[%s,%s]}", es, oct) > 0);
    assert_int_equal(parse_jwks(set, ALL, &k, &d), -EINVAL);
    assert_null(k);
    /* HS256 is never verified, whatever key is offered */
    char *tok = vector_str(V7515, "A.1", "compact");
    struct jwks *ek = vector_keys(V7515, "A.3", ALL);
    assert_int_equal(jws_verify_compact(&ek->v[0], tok, strlen(tok), NULL, NULL), JWT_BAD_ALG);
    struct issuer_conf joe = {
            .name = "joe", .iss = "joe", .audiences = aud_wotgw, .algorithms = ALL, .leeway_s = 0};
    struct jwt_issuer ji = {.conf = &joe, .keys = ek};
    const struct jwt_issuer *list[] = {&ji};
    struct jwt_claims c;
    assert_int_equal(jwt_verify(list, 1, NULL, tok, strlen(tok), 0, 1300819000, &c, NULL),
                     JWT_BAD_ALG);
    jwks_free(ek);
    free(tok);
    free(set);
    free(es);
    free(oct);
    diag_free(&d);
}

static void test_rfc7515_a5_none_refused(void **state)
{
    char *tok = vector_str(V7515, "A.5", "compact");
    struct jwks *ek = vector_keys(V7515, "A.3", ALL);
    assert_int_equal(jws_verify_compact(&ek->v[0], tok, strlen(tok), NULL, NULL), JWT_BAD_ALG);
    struct issuer_conf joe = {
            .name = "joe", .iss = "joe", .audiences = aud_wotgw, .algorithms = ALL};
    struct jwt_issuer ji = {.conf = &joe, .keys = ek};
    const struct jwt_issuer *list[] = {&ji};
    struct jwt_claims c;
    assert_int_equal(jwt_verify(list, 1, NULL, tok, strlen(tok), 0, 1300819000, &c, NULL),
                     JWT_BAD_ALG);
    /* "none" with a signature appended is refused just the same */
    char *t2 = NULL;
    assert_true(asprintf(&t2, "%sAAAA", tok) > 0);
    assert_int_equal(jwt_verify(list, 1, NULL, t2, strlen(t2), 0, 1300819000, &c, NULL),
                     JWT_BAD_ALG);
    free(t2);
    jwks_free(ek);
    free(tok);
}

static void test_rfc7515_a4_es512_unsupported(void **state)
{
    struct diags d = {0};
    struct jwks *k = NULL;
    char *jwk = vector_public_jwk(V7515, "A.4");
    /* P-521 is skipped with a warning; nothing usable is left */
    assert_int_equal(parse_jwks(jwk, ALL, &k, &d), -EINVAL);
    assert_true(diag_contains(&d, "P-256"));
    assert_true(diag_contains(&d, "no usable key"));
    char *tok = vector_str(V7515, "A.4", "compact");
    struct jwks *ek = vector_keys(V7515, "A.3", ALL);
    assert_int_equal(jws_verify_compact(&ek->v[0], tok, strlen(tok), NULL, NULL), JWT_BAD_ALG);
    jwks_free(ek);
    free(tok);
    free(jwk);
    diag_free(&d);
}

/* The A.3 token is a JWT from "joe" that expired in 2011. */
static void test_rfc7515_a3_through_jwt_verify(void **state)
{
    char *tok = vector_str(V7515, "A.3", "compact");
    struct jwks *ek = vector_keys(V7515, "A.3", ALL);
    struct issuer_conf joe = {.name = "joe",
                              .iss = "joe",
                              .audiences = aud_wotgw,
                              .algorithms = JWT_ALG_ES256,
                              .leeway_s = 30};
    struct jwt_issuer ji = {.conf = &joe, .keys = ek};
    const struct jwt_issuer *list[] = {&g_iss, &ji};
    struct jwt_claims c;
    const struct jwt_issuer *which = NULL;
    size_t n = strlen(tok);
    /* fixed clock before exp: signature and exp pass; the token has no
     * "aud", which is the first check it fails */
    assert_int_equal(jwt_verify(list, 2, NULL, tok, n, 0, 1300819000, &c, &which),
                     JWT_WRONG_AUDIENCE);
    assert_null(which);
    assert_null(c.sub);
    /* the same with the issuer's leeway after exp */
    assert_int_equal(jwt_verify(list, 2, NULL, tok, n, 0, 1300819380 + 29, &c, NULL),
                     JWT_WRONG_AUDIENCE);
    assert_int_equal(jwt_verify(list, 2, NULL, tok, n, 0, 1300819380 + 30, &c, NULL), JWT_EXPIRED);
    /* the real clock */
    assert_int_equal(jwt_verify(list, 2, NULL, tok, n, 0, (int64_t)time(NULL), &c, NULL),
                     JWT_EXPIRED);
    /* the issuer must match "iss" */
    assert_int_equal(jwt_verify(list, 1, NULL, tok, n, 0, 1300819000, &c, NULL),
                     JWT_UNKNOWN_ISSUER);
    assert_int_equal(jwt_verify(list, 2, "idp", tok, n, 0, 1300819000, &c, NULL),
                     JWT_UNKNOWN_ISSUER);
    /* claim checks on the verified payload: all pass but aud and sub */
    char *pl = vector_str(V7515, "A.3", "payload");
    assert_int_equal(jwt_claims_check(&joe, (const uint8_t *)pl, strlen(pl), 1300819000, &c),
                     JWT_WRONG_AUDIENCE);
    free(pl);
    /* a bad signature is found before the clock is looked at */
    tok[n - 3] = tok[n - 3] == 'A' ? 'B' : 'A';
    assert_int_equal(jwt_verify(list, 2, NULL, tok, n, 0, (int64_t)time(NULL), &c, NULL),
                     JWT_BAD_SIGNATURE);
    jwks_free(ek);
    free(tok);
}

/* ---- minted tokens ----------------------------------------------------------- */

static void test_valid_tokens(void **state)
{
    char *pl = payload(ISS, "alice", "wotgw", NOW + 300,
                       ",\"iat\":1699999990,\"nbf\":1699999990,\"client_id\":\"app-1\"");
    static const struct {
        enum tu_sig how;
        const char *hdr;
    } cases[] = {{TU_ES256, H_ES}, {TU_EDDSA, H_ED}, {TU_RS256, H_RS}};
    EVP_PKEY *keys[] = {k_es, k_ed, k_rs};
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *t = mint(cases[i].how, keys[i], cases[i].hdr, pl);
        struct jwt_claims c;
        const struct jwt_issuer *which = NULL;
        assert_int_equal(jwt_verify(g_issuers, 2, NULL, t, strlen(t), 8192, NOW, &c, &which),
                         JWT_OK);
        assert_ptr_equal(which, &g_iss);
        assert_string_equal(c.sub, "alice");
        assert_string_equal(c.iss, ISS);
        assert_string_equal(c.client_id, "app-1");
        assert_int_equal(c.exp, NOW + 300);
        assert_int_equal(c.nbf, 1699999990);
        assert_int_equal(c.iat, 1699999990);
        assert_non_null(c.scopes);
        assert_null(c.scopes[0]);
        jwt_claims_free(&c);
        assert_null(c.sub);
        /* restricted to its own issuer: fine; to another: unknown */
        assert_int_equal(verify_at(t, NOW, "idp", NULL), JWT_OK);
        assert_int_equal(verify_at(t, NOW, "other", NULL), JWT_UNKNOWN_ISSUER);
        /* jws_verify_compact with the matching key */
        uint8_t *p = NULL;
        size_t pn = 0;
        const struct jwk *k = &g_keys->v[i];
        assert_int_equal(jws_verify_compact(k, t, strlen(t), &p, &pn), JWT_OK);
        assert_int_equal(pn, strlen(pl));
        free(p);
        /* and a different key refuses it */
        assert_int_equal(jws_verify_compact(&g_keys->v[(i + 1) % 3], t, strlen(t), NULL, NULL),
                         JWT_BAD_ALG);
        free(t);
    }
    /* typ variants */
    assert_int_equal(verify_hdr("{\"alg\":\"ES256\",\"kid\":\"es-1\",\"typ\":\"at+JWT\"}"), JWT_OK);
    assert_int_equal(verify_hdr("{\"alg\":\"ES256\",\"kid\":\"es-1\",\"typ\":\"jwt\"}"), JWT_OK);
    assert_int_equal(verify_hdr("{\"alg\":\"ES256\",\"kid\":\"es-1\"}"), JWT_OK);
    assert_int_equal(
            verify_hdr("{\"alg\":\"ES256\",\"kid\":\"es-1\",\"typ\":\"application/at+jwt\"}"),
            JWT_OK);
    assert_int_equal(verify_hdr("{\"alg\":\"ES256\",\"kid\":\"es-1\",\"typ\":\"application/"
                                "jose\"}"),
                     JWT_MALFORMED);
    assert_int_equal(verify_hdr("{\"alg\":\"ES256\",\"kid\":\"es-1\",\"typ\":\"application/\"}"),
                     JWT_MALFORMED);
    /* a second issuer with its own iss */
    char *p2 = payload("https://other.test", "bob", "other-aud", NOW + 60, "");
    char *t2 = mint_es(p2);
    struct jwt_claims c;
    const struct jwt_issuer *which = NULL;
    assert_int_equal(jwt_verify(g_issuers, 2, NULL, t2, strlen(t2), 0, NOW, &c, &which), JWT_OK);
    assert_ptr_equal(which, &g_iss2);
    assert_string_equal(c.sub, "bob");
    assert_null(c.client_id);
    jwt_claims_free(&c);
    free(t2);
    free(p2);
    free(pl);
}

static void test_time_claims(void **state)
{
    char *pl;
    /* expired, within leeway (30 s), at the leeway boundary */
    pl = payload(ISS, "alice", "wotgw", NOW - 100, "");
    assert_int_equal(verify_pl(pl), JWT_EXPIRED);
    free(pl);
    pl = payload(ISS, "alice", "wotgw", NOW - 29, "");
    assert_int_equal(verify_pl(pl), JWT_OK);
    free(pl);
    pl = payload(ISS, "alice", "wotgw", NOW - 30, "");
    assert_int_equal(verify_pl(pl), JWT_EXPIRED);
    free(pl);
    /* not yet valid, within leeway */
    assert_int_equal(verify_claims(",\"nbf\":1700000100"), JWT_NOT_YET_VALID);
    assert_int_equal(verify_claims(",\"nbf\":1700000031"), JWT_NOT_YET_VALID);
    assert_int_equal(verify_claims(",\"nbf\":1700000030"), JWT_OK);
    /* reals: exp rounded down, nbf up */
    pl = strdup("{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"wotgw\",\"exp\":1700000100.9}");
    char *t = mint_es(pl);
    struct jwt_claims c;
    assert_int_equal(verify_at(t, NOW, NULL, &c), JWT_OK);
    assert_int_equal(c.exp, 1700000100);
    jwt_claims_free(&c);
    free(t);
    free(pl);
    assert_int_equal(verify_claims(",\"nbf\":1700000030.1"), JWT_NOT_YET_VALID);
    /* exp missing, wrong type, out of range */
    assert_int_equal(verify_pl("{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"wotgw\"}"),
                     JWT_MISSING_CLAIM);
    assert_int_equal(verify_pl("{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"wotgw\",\"exp\":"
                               "\"1700000300\"}"),
                     JWT_MISSING_CLAIM);
    assert_int_equal(verify_pl("{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"wotgw\",\"exp\":-1}"),
                     JWT_MISSING_CLAIM);
    assert_int_equal(
            verify_pl("{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"wotgw\",\"exp\":1e300}"),
            JWT_MISSING_CLAIM);
    assert_int_equal(verify_pl("{\"iss\":\"" ISS
                               "\",\"sub\":\"a\",\"aud\":\"wotgw\",\"exp\":9223372036854775807}"),
                     JWT_MISSING_CLAIM);
    assert_int_equal(
            verify_pl("{\"iss\":\"" ISS "\",\"sub\":\"a\",\"aud\":\"wotgw\",\"exp\":null}"),
            JWT_MISSING_CLAIM);
    /* nbf / iat of the wrong type */
    assert_int_equal(verify_claims(",\"nbf\":\"soon\""), JWT_MALFORMED);
    assert_int_equal(verify_claims(",\"iat\":true"), JWT_MALFORMED);
    assert_int_equal(verify_claims(",\"iat\":-5"), JWT_MALFORMED);
}

static void test_audience(void **state)
{
    char *pl = payload(ISS, "alice", "someone-else", NOW + 300, "");
    assert_int_equal(verify_pl(pl), JWT_WRONG_AUDIENCE);
    free(pl);
    static const char *const fmt = "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"exp\":1700000300%s}";
    static const struct {
        const char *aud;
        enum jwt_error want;
    } cases[] = {
            {",\"aud\":[\"x\",\"other-aud\"]", JWT_OK},
            {",\"aud\":[\"x\",\"y\"]", JWT_WRONG_AUDIENCE},
            {",\"aud\":[]", JWT_WRONG_AUDIENCE},
            {"", JWT_WRONG_AUDIENCE},
            {",\"aud\":42", JWT_WRONG_AUDIENCE},
            {",\"aud\":[\"wotgw\",7]", JWT_WRONG_AUDIENCE},
            {",\"aud\":\"WOTGW\"", JWT_WRONG_AUDIENCE},
            {",\"aud\":[[\"wotgw\"]]", JWT_WRONG_AUDIENCE},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *p = NULL;
        assert_true(asprintf(&p, fmt, cases[i].aud) > 0);
        assert_int_equal(verify_pl(p), cases[i].want);
        free(p);
    }
    /* no audiences configured: fail closed */
    struct issuer_conf noaud = g_conf;
    noaud.audiences = NULL;
    struct jwt_issuer ni = {.conf = &noaud, .keys = g_keys};
    const struct jwt_issuer *list[] = {&ni};
    pl = payload(ISS, "alice", "wotgw", NOW + 300, "");
    char *t = mint_es(pl);
    struct jwt_claims c;
    assert_int_equal(jwt_verify(list, 1, NULL, t, strlen(t), 0, NOW, &c, NULL), JWT_WRONG_AUDIENCE);
    free(t);
    free(pl);
}

static void test_issuer_and_subject(void **state)
{
    char *pl = payload("https://evil.test", "alice", "wotgw", NOW + 300, "");
    assert_int_equal(verify_pl(pl), JWT_UNKNOWN_ISSUER);
    free(pl);
    /* iss missing or not a string: nothing to select an issuer with */
    assert_int_equal(verify_pl("{\"sub\":\"a\",\"aud\":\"wotgw\",\"exp\":1700000300}"),
                     JWT_MISSING_CLAIM);
    assert_int_equal(verify_pl("{\"iss\":1,\"sub\":\"a\",\"aud\":\"wotgw\",\"exp\":1700000300}"),
                     JWT_MISSING_CLAIM);
    /* sub missing, wrong type, empty, control character, too long */
    assert_int_equal(verify_pl("{\"iss\":\"" ISS "\",\"aud\":\"wotgw\",\"exp\":1700000300}"),
                     JWT_MISSING_CLAIM);
    assert_int_equal(
            verify_pl("{\"iss\":\"" ISS "\",\"sub\":7,\"aud\":\"wotgw\",\"exp\":1700000300}"),
            JWT_MISSING_CLAIM);
    assert_int_equal(
            verify_pl("{\"iss\":\"" ISS "\",\"sub\":\"\",\"aud\":\"wotgw\",\"exp\":1700000300}"),
            JWT_MISSING_CLAIM);
    assert_int_equal(verify_pl("{\"iss\":\"" ISS
                               "\",\"sub\":\"a\\nb\",\"aud\":\"wotgw\",\"exp\":1700000300}"),
                     JWT_MISSING_CLAIM);
    char longsub[300];
    memset(longsub, 'x', sizeof(longsub) - 1);
    longsub[sizeof(longsub) - 1] = '\0';
    pl = payload(ISS, longsub, "wotgw", NOW + 300, "");
    assert_int_equal(verify_pl(pl), JWT_MISSING_CLAIM);
    free(pl);
    longsub[JWT_MAX_SUB] = '\0';
    pl = payload(ISS, longsub, "wotgw", NOW + 300, "");
    assert_int_equal(verify_pl(pl), JWT_OK);
    free(pl);
    /* payload not an object, or with duplicate claims */
    assert_int_equal(verify_pl("[1,2]"), JWT_MALFORMED);
    assert_int_equal(verify_pl("not json"), JWT_MALFORMED);
    assert_int_equal(verify_pl("{\"iss\":\"" ISS "\",\"sub\":\"a\",\"sub\":\"admin\","
                               "\"aud\":\"wotgw\",\"exp\":1700000300}"),
                     JWT_MALFORMED);
    assert_int_equal(verify_claims(",\"client_id\":5"), JWT_MALFORMED);
    /* azp stands in for client_id */
    pl = payload(ISS, "alice", "wotgw", NOW + 300, ",\"azp\":\"app-2\"");
    char *t = mint_es(pl);
    struct jwt_claims c;
    assert_int_equal(verify_at(t, NOW, NULL, &c), JWT_OK);
    assert_string_equal(c.client_id, "app-2");
    jwt_claims_free(&c);
    free(t);
    free(pl);
}

static void test_kid_selection(void **state)
{
    char *pl = payload(ISS, "alice", "wotgw", NOW + 300, "");
    char *t;
    /* unknown kid */
    t = mint(TU_ES256, k_es, "{\"alg\":\"ES256\",\"kid\":\"nope\"}", pl);
    assert_int_equal(verify(t), JWT_UNKNOWN_KID);
    free(t);
    /* no kid: the single key of that alg */
    t = mint(TU_ES256, k_es, "{\"alg\":\"ES256\"}", pl);
    assert_int_equal(verify(t), JWT_OK);
    free(t);
    t = mint(TU_EDDSA, k_ed, "{\"alg\":\"EdDSA\"}", pl);
    assert_int_equal(verify(t), JWT_OK);
    free(t);
    /* kid of the wrong type */
    t = mint(TU_ES256, k_es, "{\"alg\":\"ES256\",\"kid\":1}", pl);
    assert_int_equal(verify(t), JWT_MALFORMED);
    free(t);
    /* signed by a key that is not the issuer's, claiming its kid */
    t = mint(TU_ES256, k_rogue, H_ES, pl);
    assert_int_equal(verify(t), JWT_BAD_SIGNATURE);
    free(t);
    /* ... even when the header carries the rogue key itself ("jwk" is
     * never used) */
    char *rj = read_text(DATA "rogue.jwk.json"), *hdr = NULL;
    rj[strcspn(rj, "\n")] = '\0';
    assert_true(asprintf(&hdr, "{\"alg\":\"ES256\",\"kid\":\"es-1\",\"jwk\":%s}", rj) > 0);
    t = mint(TU_ES256, k_rogue, hdr, pl);
    assert_int_equal(verify(t), JWT_BAD_SIGNATURE);
    free(t);
    free(hdr);
    /* without kid, an embedded key does not select anything either */
    assert_true(asprintf(&hdr, "{\"alg\":\"ES256\",\"jwk\":%s}", rj) > 0);
    t = mint(TU_ES256, k_rogue, hdr, pl);
    assert_int_equal(verify(t), JWT_BAD_SIGNATURE);
    free(t);
    free(hdr);
    free(rj);

    /* an issuer with two ES256 keys: without kid it is ambiguous */
    struct diags d = {0};
    struct jwks *two = NULL;
    char *es = read_text(DATA "es256.jwk.json"), *rogue = read_text(DATA "rogue.jwk.json");
    char *set = NULL;
    json_t *a = json_loads(es, 0, NULL);
    char *es1 = json_dumps(json_array_get(json_object_get(a, "keys"), 0), JSON_COMPACT);
    assert_true(asprintf(&set, "{\"keys\":[%s,%s]}", es1, rogue) > 0);
    assert_int_equal(parse_jwks(set, ALL, &two, &d), 0);
    assert_int_equal(two->n, 2);
    struct jwt_issuer ti = {.conf = &g_conf, .keys = two};
    const struct jwt_issuer *list[] = {&ti};
    struct jwt_claims c;
    t = mint(TU_ES256, k_es, "{\"alg\":\"ES256\"}", pl);
    assert_int_equal(jwt_verify(list, 1, NULL, t, strlen(t), 0, NOW, &c, NULL), JWT_UNKNOWN_KID);
    free(t);
    /* ... and no key of the header's alg at all: the alg is not the key's */
    t = mint(TU_EDDSA, k_ed, "{\"alg\":\"EdDSA\"}", pl);
    assert_int_equal(jwt_verify(list, 1, NULL, t, strlen(t), 0, NOW, &c, NULL), JWT_BAD_ALG);
    free(t);
    /* an issuer without keys */
    struct jwt_issuer empty = {.conf = &g_conf, .keys = NULL};
    const struct jwt_issuer *l2[] = {&empty};
    t = mint_es(pl);
    assert_int_equal(jwt_verify(l2, 1, NULL, t, strlen(t), 0, NOW, &c, NULL), JWT_UNKNOWN_KID);
    free(t);
    jwks_free(two);
    json_decref(a);
    free(es1);
    free(set);
    free(es);
    free(rogue);
    free(pl);
    diag_free(&d);
}

static void test_alg_binding(void **state)
{
    char *pl = payload(ISS, "alice", "wotgw", NOW + 300, "");
    char *t;
    /* header says EdDSA, kid names the ES256 key; signed with Ed25519 */
    t = mint(TU_EDDSA, k_ed, "{\"alg\":\"EdDSA\",\"kid\":\"es-1\"}", pl);
    assert_int_equal(verify(t), JWT_BAD_ALG);
    free(t);
    /* header ES256 on the RSA key */
    t = mint(TU_ES256, k_es, "{\"alg\":\"ES256\",\"kid\":\"rs-1\"}", pl);
    assert_int_equal(verify(t), JWT_BAD_ALG);
    free(t);
    /* alg not in the issuer's allowlist */
    struct issuer_conf only_es = g_conf;
    only_es.algorithms = JWT_ALG_ES256;
    struct jwt_issuer oi = {.conf = &only_es, .keys = g_keys};
    const struct jwt_issuer *list[] = {&oi};
    struct jwt_claims c;
    t = mint(TU_RS256, k_rs, H_RS, pl);
    assert_int_equal(jwt_verify(list, 1, NULL, t, strlen(t), 0, NOW, &c, NULL), JWT_BAD_ALG);
    free(t);
    t = mint(TU_EDDSA, k_ed, H_ED, pl);
    assert_int_equal(jwt_verify(list, 1, NULL, t, strlen(t), 0, NOW, &c, NULL), JWT_BAD_ALG);
    free(t);
    t = mint_es(pl);
    assert_int_equal(jwt_verify(list, 1, NULL, t, strlen(t), 0, NOW, &c, NULL), JWT_OK);
    jwt_claims_free(&c);
    free(t);
    /* unsupported and differently spelled algorithms */
    static const char *const hdrs[] = {
            "{\"alg\":\"none\",\"kid\":\"es-1\"}",    "{\"alg\":\"es256\",\"kid\":\"es-1\"}",
            "{\"alg\":\"ES384\",\"kid\":\"es-1\"}",   "{\"alg\":\"PS256\",\"kid\":\"rs-1\"}",
            "{\"alg\":\"Ed25519\",\"kid\":\"ed-1\"}", "{\"alg\":\"\",\"kid\":\"es-1\"}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(hdrs); i++)
        assert_int_equal(verify_hdr(hdrs[i]), JWT_BAD_ALG);
    assert_int_equal(verify_hdr("{\"kid\":\"es-1\"}"), JWT_MALFORMED);
    assert_int_equal(verify_hdr("{\"alg\":null,\"kid\":\"es-1\"}"), JWT_MALFORMED);
    free(pl);
}

static void test_key_confusion(void **state)
{
    char *pl = payload(ISS, "alice", "wotgw", NOW + 300, "");
    char *pem = read_text(DATA "es256.pub.pem"), *jwk = read_text(DATA "es256.jwk.json");
    char *rpem = read_text(DATA "rs256.pub.pem");
    static const char *const hdrs[] = {
            "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"es-1\"}",
            "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
    };
    for (size_t i = 0; i < ARRAY_SIZE(hdrs); i++) {
        const char *secrets[] = {pem, jwk};
        for (size_t s = 0; s < ARRAY_SIZE(secrets); s++) {
            char *t = tu_sign(TU_HS256, NULL, secrets[s], strlen(secrets[s]), hdrs[i], pl);
            assert_int_equal(verify(t), JWT_BAD_ALG);
            assert_int_equal(jws_verify_compact(&g_keys->v[0], t, strlen(t), NULL, NULL),
                             JWT_BAD_ALG);
            free(t);
        }
    }
    char *t =
            tu_sign(TU_HS256, NULL, rpem, strlen(rpem), "{\"alg\":\"HS256\",\"kid\":\"rs-1\"}", pl);
    assert_int_equal(verify(t), JWT_BAD_ALG);
    assert_int_equal(jws_verify_compact(&g_keys->v[2], t, strlen(t), NULL, NULL), JWT_BAD_ALG);
    free(t);
    free(rpem);
    free(pem);
    free(jwk);
    free(pl);
}

static void test_der_and_tampering(void **state)
{
    char *pl = payload(ISS, "alice", "wotgw", NOW + 300, "");
    /* DER ECDSA signature */
    char *t = mint(TU_ES256_DER, k_es, H_ES, pl);
    assert_int_equal(verify(t), JWT_BAD_SIGNATURE);
    assert_int_equal(jws_verify_compact(&g_keys->v[0], t, strlen(t), NULL, NULL),
                     JWT_BAD_SIGNATURE);
    free(t);

    EVP_PKEY *keys[] = {k_es, k_ed, k_rs};
    enum tu_sig hows[] = {TU_ES256, TU_EDDSA, TU_RS256};
    const char *hdrs[] = {H_ES, H_ED, H_RS};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        t = mint(hows[i], keys[i], hdrs[i], pl);
        size_t n = strlen(t);
        char *dot1 = strchr(t, '.'), *dot2 = strrchr(t, '.');
        /* payload: another valid claims set under the old signature */
        char *other = payload(ISS, "admin", "wotgw", NOW + 300, "");
        char *ob = tu_b64url(other, strlen(other)), *forged = NULL;
        assert_true(asprintf(&forged, "%.*s.%s%s", (int)(dot1 - t), t, ob, dot2) > 0);
        assert_int_equal(verify(forged), JWT_BAD_SIGNATURE);
        free(forged);
        free(ob);
        free(other);
        /* signature: one character changed, truncated, extended, empty */
        char c = dot2[5];
        dot2[5] = c == 'A' ? 'B' : 'A';
        assert_int_equal(verify(t), JWT_BAD_SIGNATURE);
        dot2[5] = c;
        assert_int_equal(verify(t), JWT_OK);
        /* one signature byte short (re-encoded canonically) */
        uint8_t sig[600];
        size_t sl = 0;
        assert_int_equal(b64url_decode(dot2 + 1, strlen(dot2 + 1), sig, sizeof(sig), &sl), 0);
        char *sb = tu_b64url(sig, sl - 1), *cut = NULL;
        assert_true(asprintf(&cut, "%.*s.%s", (int)(dot2 - t), t, sb) > 0);
        assert_int_equal(verify(cut), JWT_BAD_SIGNATURE);
        free(cut);
        free(sb);
        /* non-canonical base64url: not even decoded */
        cut = strndup(t, n - 4);
        enum jwt_error ce = verify(cut);
        assert_true(ce == JWT_MALFORMED || ce == JWT_BAD_SIGNATURE);
        free(cut);
        char *ext = NULL;
        assert_true(asprintf(&ext, "%sAAAA", t) > 0);
        assert_int_equal(verify(ext), JWT_BAD_SIGNATURE);
        free(ext);
        char *nosig = strndup(t, (size_t)(dot2 - t) + 1);
        assert_int_equal(verify(nosig), JWT_MALFORMED);
        free(nosig);
        /* header: the same header re-encoded with a blank differs */
        free(t);
    }
    /* an all-zero ES256 signature and an RSA signature of all 0xff */
    uint8_t zero[64] = {0};
    char *zb = tu_b64url(zero, sizeof(zero)), *hb = tu_b64url(H_ES, strlen(H_ES));
    char *pb = tu_b64url(pl, strlen(pl)), *z = NULL;
    assert_true(asprintf(&z, "%s.%s.%s", hb, pb, zb) > 0);
    assert_int_equal(verify(z), JWT_BAD_SIGNATURE);
    free(z);
    free(zb);
    free(hb);
    free(pb);
    free(pl);
}

static void test_size_limits(void **state)
{
    struct jwt_claims c;
    /* over the limit: refused before decoding, even though it is garbage */
    char *big = malloc(8194);
    memset(big, '!', 8193);
    big[8193] = '\0';
    assert_int_equal(jwt_verify(g_issuers, 2, NULL, big, 8193, 8192, NOW, &c, NULL), JWT_TOO_LARGE);
    assert_int_equal(jwt_verify(g_issuers, 2, NULL, big, 8193, 0, NOW, &c, NULL), JWT_TOO_LARGE);
    assert_int_equal(jwt_verify(g_issuers, 2, NULL, big, 8192, 8192, NOW, &c, NULL), JWT_MALFORMED);
    free(big);
    big = malloc(JWT_HARD_MAX_SIZE + 2);
    memset(big, 'A', JWT_HARD_MAX_SIZE + 1);
    big[JWT_HARD_MAX_SIZE + 1] = '\0';
    assert_int_equal(
            jwt_verify(g_issuers, 2, NULL, big, JWT_HARD_MAX_SIZE + 1, SIZE_MAX, NOW, &c, NULL),
            JWT_TOO_LARGE);
    assert_int_equal(jws_verify_compact(&g_keys->v[0], big, JWT_HARD_MAX_SIZE + 1, NULL, NULL),
                     JWT_TOO_LARGE);
    free(big);
    /* a valid token just under a tight limit passes, one byte less fails */
    char *pl = payload(ISS, "alice", "wotgw", NOW + 300, "");
    char *t = mint_es(pl);
    size_t n = strlen(t);
    assert_int_equal(jwt_verify(g_issuers, 2, NULL, t, n, n, NOW, &c, NULL), JWT_OK);
    jwt_claims_free(&c);
    assert_int_equal(jwt_verify(g_issuers, 2, NULL, t, n, n - 1, NOW, &c, NULL), JWT_TOO_LARGE);
    /* a huge header */
    char *hh = malloc(JWT_MAX_HEADER + 100);
    snprintf(hh, JWT_MAX_HEADER + 100, "{\"alg\":\"ES256\",\"kid\":\"es-1\",\"x\":\"%0*d\"}",
             JWT_MAX_HEADER, 0);
    char *t2 = mint(TU_ES256, k_es, hh, pl);
    assert_int_equal(jwt_verify(g_issuers, 2, NULL, t2, strlen(t2), 65536, NOW, &c, NULL),
                     JWT_MALFORMED);
    free(t2);
    free(hh);
    free(t);
    free(pl);
}

static void test_malformed(void **state)
{
    char *pl = payload(ISS, "alice", "wotgw", NOW + 300, "");
    char *good = mint_es(pl);
    char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
    char *t = NULL;
    static const char *const plain[] = {
            "",
            ".",
            "..",
            "...",
            "a.b",
            "a.b.c.d",
            "abc",
            "eyJhbGciOiJFUzI1NiJ9..",
            "eyJhbGciOiJFUzI1NiJ9.e30",
    };
    for (size_t i = 0; i < ARRAY_SIZE(plain); i++)
        assert_int_equal(verify(plain[i]), JWT_MALFORMED);
    /* four parts: a valid token with an extra segment */
    assert_true(asprintf(&t, "%s.AAAA", good) > 0);
    assert_int_equal(verify(t), JWT_MALFORMED);
    free(t);
    /* two parts */
    t = strndup(good, (size_t)(dot2 - good));
    assert_int_equal(verify(t), JWT_MALFORMED);
    free(t);
    /* bad base64url: '+' in the header, '=' padding, a blank */
    t = strdup(good);
    t[1] = '+';
    assert_int_equal(verify(t), JWT_MALFORMED);
    free(t);
    assert_true(asprintf(&t, "%.*s=%s", (int)(dot1 - good), good, dot1) > 0);
    assert_int_equal(verify(t), JWT_MALFORMED);
    free(t);
    assert_true(asprintf(&t, "%s=", good) > 0);
    assert_int_equal(verify(t), JWT_MALFORMED);
    free(t);
    assert_true(asprintf(&t, "%.*s==%s", (int)(dot2 - good), good, dot2) > 0);
    assert_int_equal(verify(t), JWT_MALFORMED);
    free(t);
    t = strdup(good);
    dot2 = strrchr(t, '.');
    dot2[3] = ' ';
    assert_int_equal(verify(t), JWT_MALFORMED);
    free(t);
    /* NUL byte inside the token */
    t = strdup(good);
    t[2] = '\0';
    struct jwt_claims c;
    assert_int_equal(jwt_verify(g_issuers, 2, NULL, t, strlen(good), 0, NOW, &c, NULL),
                     JWT_MALFORMED);
    free(t);
    /* headers */
    static const struct {
        const char *hdr;
        enum jwt_error want;
    } hdrs[] = {
            {"not json", JWT_MALFORMED},
            {"[\"ES256\"]", JWT_MALFORMED},
            {"\"ES256\"", JWT_MALFORMED},
            {"{\"alg\":\"ES256\",\"kid\":\"es-1\"} x", JWT_MALFORMED},
            {"{\"alg\":\"HS256\",\"alg\":\"ES256\",\"kid\":\"es-1\"}", JWT_MALFORMED},
            {"{\"alg\":\"ES256\",\"alg\":\"ES256\",\"kid\":\"es-1\"}", JWT_MALFORMED},
            {"{\"alg\":\"ES256\",\"kid\":\"es-1\",\"typ\":\"JOSE\"}", JWT_MALFORMED},
            {"{\"alg\":\"ES256\",\"kid\":\"es-1\",\"typ\":1}", JWT_MALFORMED},
            {"{\"alg\":\"ES256\",\"kid\":\"es-1\",\"crit\":[\"exp\"],\"exp\":1}", JWT_CRIT},
            {"{\"alg\":\"ES256\",\"kid\":\"es-1\",\"crit\":[]}", JWT_CRIT},
            {"{\"alg\":\"ES256\",\"kid\":\"es-1\",\"b64\":false,\"crit\":[\"b64\"]}", JWT_CRIT},
            {"{\"alg\":\"ES256\",\"kid\":\"es-1\",\"x\":\"\xff\"}", JWT_MALFORMED},
            {"{}", JWT_MALFORMED},
            {"", JWT_MALFORMED},
    };
    for (size_t i = 0; i < ARRAY_SIZE(hdrs); i++) {
        assert_int_equal(verify_hdr(hdrs[i].hdr), hdrs[i].want);
        t = mint(TU_ES256, k_es, hdrs[i].hdr, pl);
        enum jwt_error e = jws_verify_compact(&g_keys->v[0], t, strlen(t), NULL, NULL);
        /* jws_verify_compact does not look at typ */
        if (!strstr(hdrs[i].hdr, "typ"))
            assert_int_equal(e, hdrs[i].want);
        else
            assert_int_equal(e, JWT_OK);
        free(t);
    }
    /* payload segment that is not base64url */
    dot1 = strchr(good, '.');
    t = strdup(good);
    t[dot1 - good + 1] = '/';
    assert_int_equal(verify(t), JWT_MALFORMED);
    free(t);
    /* NULL arguments */
    assert_int_equal(jwt_verify(g_issuers, 2, NULL, NULL, 0, 0, NOW, &c, NULL), JWT_MALFORMED);
    assert_int_equal(jwt_verify(g_issuers, 2, NULL, good, strlen(good), 0, NOW, NULL, NULL),
                     JWT_MALFORMED);
    assert_int_equal(jws_verify_compact(NULL, good, strlen(good), NULL, NULL), JWT_MALFORMED);
    assert_int_equal(jwt_verify(NULL, 0, NULL, good, strlen(good), 0, NOW, &c, NULL),
                     JWT_UNKNOWN_ISSUER);
    free(good);
    free(pl);
}

static void test_scopes(void **state)
{
    struct jwt_claims c;
    char *pl, *t;
    /* "scope": space-separated, extra blanks ignored */
    pl = payload(ISS, "alice", "wotgw", NOW + 300, ",\"scope\":\"lamp:read  lamp:write \"");
    t = mint_es(pl);
    assert_int_equal(verify_at(t, NOW, NULL, &c), JWT_OK);
    assert_string_equal(c.scopes[0], "lamp:read");
    assert_string_equal(c.scopes[1], "lamp:write");
    assert_null(c.scopes[2]);
    jwt_claims_free(&c);
    free(t);
    free(pl);
    /* "scp": array */
    pl = payload(ISS, "alice", "wotgw", NOW + 300, ",\"scp\":[\"a\",\"b\",\"c\"]");
    t = mint_es(pl);
    assert_int_equal(verify_at(t, NOW, NULL, &c), JWT_OK);
    assert_string_equal(c.scopes[0], "a");
    assert_string_equal(c.scopes[2], "c");
    assert_null(c.scopes[3]);
    jwt_claims_free(&c);
    free(t);
    free(pl);
    /* "scp" as a string; "scope" wins over "scp" */
    pl = payload(ISS, "alice", "wotgw", NOW + 300, ",\"scp\":\"x y\"");
    t = mint_es(pl);
    assert_int_equal(verify_at(t, NOW, NULL, &c), JWT_OK);
    assert_string_equal(c.scopes[1], "y");
    jwt_claims_free(&c);
    free(t);
    free(pl);
    pl = payload(ISS, "alice", "wotgw", NOW + 300, ",\"scope\":\"s\",\"scp\":[\"t\"]");
    t = mint_es(pl);
    assert_int_equal(verify_at(t, NOW, NULL, &c), JWT_OK);
    assert_string_equal(c.scopes[0], "s");
    assert_null(c.scopes[1]);
    jwt_claims_free(&c);
    free(t);
    free(pl);
    /* bounds: exactly JWT_MAX_SCOPES passes, one more is refused */
    char buf[JWT_MAX_SCOPES * 8 + 64];
    size_t o = 0;
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, ",\"scope\":\"");
    for (int i = 0; i < JWT_MAX_SCOPES; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%ss%d", i ? " " : "", i);
    snprintf(buf + o, sizeof(buf) - o, "\"");
    assert_int_equal(verify_claims(buf), JWT_OK);
    snprintf(buf + o, sizeof(buf) - o, " one-more\"");
    assert_int_equal(verify_claims(buf), JWT_MALFORMED);
    /* malformed scopes */
    static const char *const bad[] = {
            ",\"scope\":5",          ",\"scope\":[\"a\"]",   ",\"scope\":\"a\\\"b\"",
            ",\"scope\":\"a\\\\b\"", ",\"scope\":\"a\\tb\"", ",\"scope\":\"caf\\u00e9\"",
            ",\"scp\":[\"a\",1]",    ",\"scp\":[\"a b\"]",   ",\"scp\":[\"\"]",
            ",\"scp\":{\"a\":1}",    ",\"scp\":[[\"a\"]]",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        assert_int_equal(verify_claims(bad[i]), JWT_MALFORMED);
    char longscope[JWT_MAX_SCOPE_LEN + 32];
    snprintf(longscope, sizeof(longscope), ",\"scope\":\"%0*d\"", JWT_MAX_SCOPE_LEN + 1, 0);
    assert_int_equal(verify_claims(longscope), JWT_MALFORMED);
    /* empty scope string: no scopes */
    pl = payload(ISS, "alice", "wotgw", NOW + 300, ",\"scope\":\"\"");
    t = mint_es(pl);
    assert_int_equal(verify_at(t, NOW, NULL, &c), JWT_OK);
    assert_non_null(c.scopes);
    assert_null(c.scopes[0]);
    jwt_claims_free(&c);
    free(t);
    free(pl);
}

/* ---- JWKS -------------------------------------------------------------------- */

static char *jwk_with(const char *file, const char *key, const char *value)
{
    char *text = read_text(file);
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    json_t *k = json_object_get(o, "keys") ? json_array_get(json_object_get(o, "keys"), 0) : o;
    if (value)
        json_object_set_new(k, key, json_loads(value, JSON_DECODE_ANY, NULL));
    else
        json_object_del(k, key);
    char *s = json_dumps(k, JSON_COMPACT);
    json_decref(o);
    free(text);
    return s;
}

static void expect_jwks(const char *text, unsigned allowed, int want, size_t want_n,
                        const char *msg)
{
    struct diags d = {0};
    struct jwks *k = NULL;
    int r = parse_jwks(text, allowed, &k, &d);
    if (r != want || (msg && !diag_contains(&d, msg))) {
        diag_print(&d, stderr);
        fprintf(stderr, "JWKS: %.200s\n", text);
    }
    assert_int_equal(r, want);
    if (msg)
        assert_true(diag_contains(&d, msg));
    if (want == 0) {
        assert_non_null(k);
        assert_int_equal(k->n, want_n);
    } else {
        assert_null(k);
    }
    jwks_free(k);
    diag_free(&d);
}

static void test_jwks_parse(void **state)
{
    /* the file: EC, OKP, RSA, in order, with kids */
    assert_int_equal(g_keys->n, 3);
    assert_int_equal(g_keys->v[0].alg, JWT_ALG_ES256);
    assert_int_equal(g_keys->v[1].alg, JWT_ALG_EDDSA);
    assert_int_equal(g_keys->v[2].alg, JWT_ALG_RS256);
    assert_string_equal(g_keys->v[0].kid, "es-1");
    assert_string_equal(g_keys->v[2].kid, "rs-1");
    assert_int_equal(EVP_PKEY_get_bits(g_keys->v[2].pkey), 2048);
    /* only the algorithms the issuer allows are kept */
    char *all = read_text(DATA "issuer.jwks");
    expect_jwks(all, JWT_ALG_EDDSA, 0, 1, "not in this issuer's algorithms");
    expect_jwks(all, 0, -EINVAL, 0, "no usable key");

    /* a single JWK instead of a set */
    char *s = jwk_with(DATA "es256.jwk.json", "kid", NULL);
    expect_jwks(s, ALL, 0, 1, NULL);
    free(s);
    /* private key material */
    s = jwk_with(DATA "es256.jwk.json", "d", "\"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I\"");
    expect_jwks(s, ALL, -EINVAL, 0, "private");
    free(s);
    s = jwk_with(DATA "rsa1024.jwk.json", "p", "\"AQAB\"");
    expect_jwks(s, ALL, -EINVAL, 0, "private");
    free(s);
    /* unsupported kty / crv / use / key_ops / alg: skipped, then nothing left */
    s = jwk_with(DATA "es256.jwk.json", "kty", "\"foo\"");
    expect_jwks(s, ALL, -EINVAL, 0, "unsupported key type");
    free(s);
    s = jwk_with(DATA "es256.jwk.json", "crv", "\"P-384\"");
    expect_jwks(s, ALL, -EINVAL, 0, "unsupported EC curve");
    free(s);
    s = jwk_with(DATA "es256.jwk.json", "crv", "\"secp256k1\"");
    expect_jwks(s, ALL, -EINVAL, 0, "unsupported EC curve");
    free(s);
    expect_jwks("{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AAAA\"}", ALL, -EINVAL, 0,
                "unsupported OKP curve");
    expect_jwks("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\"}", ALL, -EINVAL, 0,
                "unsupported OKP curve");
    s = jwk_with(DATA "es256.jwk.json", "use", "\"enc\"");
    expect_jwks(s, ALL, -EINVAL, 0, "\"use\" is not \"sig\"");
    free(s);
    s = jwk_with(DATA "es256.jwk.json", "key_ops", "[\"sign\"]");
    expect_jwks(s, ALL, -EINVAL, 0, "key_ops");
    free(s);
    s = jwk_with(DATA "es256.jwk.json", "key_ops", "[\"verify\"]");
    expect_jwks(s, ALL, 0, 1, NULL);
    free(s);
    s = jwk_with(DATA "es256.jwk.json", "alg", "\"EdDSA\"");
    expect_jwks(s, ALL, -EINVAL, 0, "not the algorithm its key type implies");
    free(s);
    s = jwk_with(DATA "es256.jwk.json", "alg", "\"HS256\"");
    expect_jwks(s, ALL, -EINVAL, 0, "not the algorithm its key type implies");
    free(s);
    /* RSA under 2048 bits */
    char *weak = read_text(DATA "rsa1024.jwk.json");
    expect_jwks(weak, ALL, -EINVAL, 0, "shorter than 2048");
    /* next to a good key the weak one is just skipped */
    char *set = NULL, *es1 = jwk_with(DATA "es256.jwk.json", "use", "\"sig\"");
    assert_true(asprintf(&set, "{\"keys\":[%s,%s]}", weak, es1) > 0);
    expect_jwks(set, ALL, 0, 1, "shorter than 2048");
    free(set);
    /* RSA exponent */
    s = jwk_with(DATA "rsa1024.jwk.json", "e", "\"AQAA\"");
    expect_jwks(s, ALL, -EINVAL, 0, "exponent");
    free(s);
    /* point not on the curve: y changed */
    char *text = read_text(DATA "es256.jwk.json");
    json_t *o = json_loads(text, 0, NULL);
    json_t *k0 = json_array_get(json_object_get(o, "keys"), 0);
    char y[64];
    snprintf(y, sizeof(y), "%s", json_string_value(json_object_get(k0, "y")));
    y[5] = y[5] == 'A' ? 'B' : 'A';
    json_object_set_new(k0, "y", json_string(y));
    s = json_dumps(o, JSON_COMPACT);
    expect_jwks(s, ALL, -EINVAL, 0, "not on the curve");
    free(s);
    /* x of the wrong length, padding, wrong type */
    json_object_set_new(k0, "y", json_string("AAAA"));
    s = json_dumps(o, JSON_COMPACT);
    expect_jwks(s, ALL, -EINVAL, 0, "32 bytes");
    free(s);
    json_object_set_new(k0, "y", json_integer(1));
    s = json_dumps(o, JSON_COMPACT);
    expect_jwks(s, ALL, -EINVAL, 0, "32 bytes");
    free(s);
    expect_jwks("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}",
                ALL, -EINVAL, 0, "32 bytes");
    expect_jwks("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
                ALL, 0, 1, NULL);
    json_decref(o);
    free(text);
    /* duplicate kid */
    assert_true(asprintf(&set, "{\"keys\":[%s,%s]}", es1, es1) > 0);
    expect_jwks(set, ALL, -EINVAL, 0, "duplicate \"kid\"");
    free(set);
    /* structure */
    expect_jwks("[]", ALL, -EINVAL, 0, "expected a JWK Set");
    expect_jwks("{}", ALL, -EINVAL, 0, "expected a JWK Set");
    expect_jwks("{\"keys\":{}}", ALL, -EINVAL, 0, "must be an array");
    expect_jwks("{\"keys\":[]}", ALL, -EINVAL, 0, "no usable key");
    expect_jwks("{\"keys\":[1]}", ALL, -EINVAL, 0, "not a JSON object");
    expect_jwks("{\"keys\":[{}]}", ALL, -EINVAL, 0, "kty");
    expect_jwks("{\"keys\":[{\"kty\":\"EC\"}]}", ALL, -EINVAL, 0, "without \"crv\"");
    expect_jwks("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":7}]}", ALL, -EINVAL, 0,
                "\"kid\"");
    expect_jwks("{\"keys\":[],\"keys\":[]}", ALL, -EINVAL, 0, "duplicate");
    /* too many keys */
    size_t cap = (JWKS_MAX_KEYS + 1) * (strlen(es1) + 1) + 16;
    set = malloc(cap);
    size_t off = (size_t)snprintf(set, cap, "{\"keys\":[");
    for (int i = 0; i <= JWKS_MAX_KEYS; i++)
        off += (size_t)snprintf(set + off, cap - off, "%s%s", i ? "," : "", es1);
    snprintf(set + off, cap - off, "]}");
    expect_jwks(set, ALL, -EINVAL, 0, "more than 64 keys");
    free(set);
    /* malformed JSON: error with its line number, no file content quoted */
    struct diags d = {0};
    struct jwks *k = NULL;
    const char *bad = "{\"keys\": [\n  {\"kty\": \"EC\"},\n  {\"kty\" \"SECRETSTUFF\"}\n]}\n";
    assert_int_equal(parse_jwks(bad, ALL, &k, &d), -EINVAL);
    assert_null(k);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.v[0].line, 3);
    assert_string_equal(d.v[0].file, "test.jwks");
    assert_true(diag_contains(&d, "invalid JSON"));
    assert_false(diag_contains(&d, "SECRETSTUFF"));
    diag_free(&d);
    /* files */
    assert_int_equal(jwks_load_file(DATA "does-not-exist.jwks", ALL, &k, &d), -ENOENT);
    assert_null(k);
    assert_int_equal(d.n, 1);
    diag_free(&d);
    free(es1);
    free(weak);
    free(all);
}

static void test_error_str(void **state)
{
    for (int e = JWT_OK; e <= JWT_MISSING_CLAIM; e++) {
        const char *s = jwt_error_str((enum jwt_error)e);
        assert_non_null(s);
        assert_true(strlen(s) > 5);
        for (int f = JWT_OK; f < e; f++)
            assert_string_not_equal(s, jwt_error_str((enum jwt_error)f));
    }
    assert_non_null(jwt_error_str((enum jwt_error)99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rfc7515_a3_es256),
            cmocka_unit_test(test_rfc7515_a2_rs256),
            cmocka_unit_test(test_rfc8037_eddsa),
            cmocka_unit_test(test_rfc7515_a1_hs256_refused),
            cmocka_unit_test(test_rfc7515_a5_none_refused),
            cmocka_unit_test(test_rfc7515_a4_es512_unsupported),
            cmocka_unit_test(test_rfc7515_a3_through_jwt_verify),
            cmocka_unit_test(test_valid_tokens),
            cmocka_unit_test(test_time_claims),
            cmocka_unit_test(test_audience),
            cmocka_unit_test(test_issuer_and_subject),
            cmocka_unit_test(test_kid_selection),
            cmocka_unit_test(test_alg_binding),
            cmocka_unit_test(test_key_confusion),
            cmocka_unit_test(test_der_and_tampering),
            cmocka_unit_test(test_size_limits),
            cmocka_unit_test(test_malformed),
            cmocka_unit_test(test_scopes),
            cmocka_unit_test(test_jwks_parse),
            cmocka_unit_test(test_error_str),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
