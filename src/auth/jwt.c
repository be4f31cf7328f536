/* jwt.c - JWS compact verification and JWT claim checks; see jwt.h.
 *
 * The algorithm is a property of the key: a JWK's kty/crv decide it (EC
 * P-256 -> ES256, OKP Ed25519 -> EdDSA, RSA -> RS256) and a token whose
 * header names another algorithm is refused before any cryptography.
 * Symmetric keys are never loaded, so "none" and HS* cannot verify.
 *
 * Cleanup style: goto to one exit. No message contains token or key
 * bytes.
 */
#define _GNU_SOURCE
#include "jwt.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RSA_MIN_BITS  2048
#define RSA_MAX_BITS  8192
#define SIG_MAX       (RSA_MAX_BITS / 8)
#define SCOPE_STR_MAX (JWT_MAX_SCOPES * (JWT_MAX_SCOPE_LEN + 1))

/* ---- algorithms ---------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned bit;
} algs[] = {
        {"ES256", JWT_ALG_ES256},
        {"EdDSA", JWT_ALG_EDDSA},
        {"RS256", JWT_ALG_RS256},
};

static unsigned alg_from_name(const char *s)
{
    for (size_t i = 0; i < ARRAY_SIZE(algs); i++)
        if (!strcmp(s, algs[i].name))
            return algs[i].bit;
    return 0;
}

const char *jwt_error_str(enum jwt_error e)
{
    switch (e) {
    case JWT_OK: return "valid token";
    case JWT_MALFORMED: return "malformed token";
    case JWT_TOO_LARGE: return "token too large";
    case JWT_BAD_ALG: return "token algorithm not accepted for this key";
    case JWT_UNKNOWN_ISSUER: return "unknown token issuer";
    case JWT_UNKNOWN_KID: return "unknown token key id";
    case JWT_BAD_SIGNATURE: return "bad token signature";
    case JWT_CRIT: return "token has critical header parameters";
    case JWT_EXPIRED: return "token expired";
    case JWT_NOT_YET_VALID: return "token not yet valid";
    case JWT_WRONG_AUDIENCE: return "token not meant for this audience";
    case JWT_MISSING_CLAIM: return "token lacks a required claim";
    case JWT_INACTIVE: return "token not active";
    }
    return "invalid token";
}

/* ---- JWK Set --------------------------------------------------------------- */

void jwks_free(struct jwks *k)
{
    if (!k)
        return;
    if (k->refs > 1) {
        k->refs--;
        return;
    }
    for (size_t i = 0; i < k->n; i++) {
        free(k->v[i].kid);
        EVP_PKEY_free(k->v[i].pkey);
    }
    free(k->v);
    free(k->text);
    free(k);
}

struct jwks *jwks_ref(struct jwks *k)
{
    if (k)
        k->refs = k->refs ? k->refs + 1 : 2;
    return k;
}

bool jwks_has_kid(const struct jwks *k, const char *kid)
{
    for (size_t i = 0; k && kid && i < k->n; i++)
        if (k->v[i].kid && !strcmp(k->v[i].kid, kid))
            return true;
    return false;
}

/* A printable label for a key in messages: its kid when that is short
 * printable ASCII, else its position. */
static void key_label(char *buf, size_t cap, size_t idx, const json_t *o)
{
    const char *kid = json_string_value(json_object_get(o, "kid"));
    bool ok = kid && strlen(kid) <= 64;
    for (const char *p = kid; ok && *p; p++)
        ok = *p >= 0x20 && *p < 0x7f && *p != '"';
    if (ok)
        snprintf(buf, cap, "key %zu (kid \"%s\")", idx + 1, kid);
    else
        snprintf(buf, cap, "key %zu", idx + 1);
}

/* Strict base64url member of exactly want bytes (want 0: 1 to cap). */
static int b64_member(const json_t *o, const char *name, uint8_t *out, size_t cap, size_t want,
                      size_t *outlen)
{
    const char *s = json_string_value(json_object_get(o, name));
    size_t n = 0;
    if (!s)
        return -EINVAL;
    int r = b64url_decode(s, json_string_length(json_object_get(o, name)), out, cap, &n);
    if (r < 0 || n == 0 || (want && n != want))
        return -EINVAL;
    *outlen = n;
    return 0;
}

static EVP_PKEY *ec_p256_key(const uint8_t x[32], const uint8_t y[32])
{
    uint8_t pt[65];
    EVP_PKEY *pk = NULL;
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
    pt[0] = 0x04;
    memcpy(pt + 1, x, 32);
    memcpy(pt + 33, y, 32);
    if (!b || !OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)))
        goto out;
    params = OSSL_PARAM_BLD_to_param(b);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        goto out;
    /* on the curve, not the point at infinity, right order */
    chk = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    if (!chk || EVP_PKEY_public_check(chk) != 1) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
out:
    EVP_PKEY_CTX_free(chk);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    ERR_clear_error();
    return pk;
}

static EVP_PKEY *rsa_key(const uint8_t *n, size_t nl, const uint8_t *e, size_t el)
{
    EVP_PKEY *pk = NULL;
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    if (!b || !bn || !be || !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be))
        goto out;
    params = OSSL_PARAM_BLD_to_param(b);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pk = NULL;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(b);
    BN_free(bn);
    BN_free(be);
    ERR_clear_error();
    return pk;
}

enum jwk_result {
    JWK_USE = 0,  /* k filled */
    JWK_SKIP = 1, /* *why: a warning, the key is not used */
};

/* Members that carry secret key material in any JWK type. */
static const char *const secret_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

/* Parses one JWK object. JWK_USE / JWK_SKIP, or -EINVAL (*why: the error,
 * the file is refused) or -ENOMEM. */
static int jwk_parse(const json_t *o, unsigned allowed, struct jwk *k, const char **why)
{
    uint8_t x[32], y[32], n[SIG_MAX + 1], e[8];
    size_t xl, yl, nl, el;
    EVP_PKEY *pk = NULL;
    unsigned alg = 0;
    int r;

    *k = (struct jwk){0};
    if (!json_is_object(o)) {
        *why = "not a JSON object";
        return -EINVAL;
    }
    const char *kty = json_string_value(json_object_get(o, "kty"));
    if (!kty) {
        *why = "\"kty\" missing or not a string";
        return -EINVAL;
    }
    if (!strcmp(kty, "oct")) {
        *why = "symmetric (kty \"oct\") keys are refused: HMAC algorithms are not supported "
               "and a JWKS must not hold shared secrets";
        return -EINVAL;
    }
    for (size_t i = 0; i < ARRAY_SIZE(secret_members); i++)
        if (json_object_get(o, secret_members[i])) {
            *why = "private key material (\"d\", ...) is refused: give only the public key";
            return -EINVAL;
        }
    const json_t *kid = json_object_get(o, "kid");
    if (kid && (!json_is_string(kid) || json_string_length(kid) == 0 ||
                json_string_length(kid) > JWK_MAX_KID)) {
        *why = "\"kid\" must be a string of 1 to 256 characters";
        return -EINVAL;
    }
    const json_t *use = json_object_get(o, "use");
    if (use && !json_is_string(use)) {
        *why = "\"use\" must be a string";
        return -EINVAL;
    }
    if (use && strcmp(json_string_value(use), "sig") != 0) {
        *why = "\"use\" is not \"sig\"";
        return JWK_SKIP;
    }
    const json_t *ops = json_object_get(o, "key_ops");
    if (ops) {
        bool verify = false;
        size_t i;
        json_t *op;
        if (!json_is_array(ops)) {
            *why = "\"key_ops\" must be an array";
            return -EINVAL;
        }
        json_array_foreach(ops, i, op)
        {
            if (!json_is_string(op)) {
                *why = "\"key_ops\" must be an array of strings";
                return -EINVAL;
            }
            verify = verify || !strcmp(json_string_value(op), "verify");
        }
        if (!verify) {
            *why = "\"key_ops\" does not include \"verify\"";
            return JWK_SKIP;
        }
    }
    const json_t *jalg = json_object_get(o, "alg");
    if (jalg && !json_is_string(jalg)) {
        *why = "\"alg\" must be a string";
        return -EINVAL;
    }

    const char *crv = json_string_value(json_object_get(o, "crv"));
    if (!strcmp(kty, "EC")) {
        if (!crv) {
            *why = "EC key without \"crv\"";
            return -EINVAL;
        }
        if (strcmp(crv, "P-256") != 0) {
            *why = "unsupported EC curve (only P-256 / ES256)";
            return JWK_SKIP;
        }
        alg = JWT_ALG_ES256;
    } else if (!strcmp(kty, "OKP")) {
        if (!crv) {
            *why = "OKP key without \"crv\"";
            return -EINVAL;
        }
        if (strcmp(crv, "Ed25519") != 0) {
            *why = "unsupported OKP curve (only Ed25519 / EdDSA)";
            return JWK_SKIP;
        }
        alg = JWT_ALG_EDDSA;
    } else if (!strcmp(kty, "RSA")) {
        alg = JWT_ALG_RS256;
    } else {
        *why = "unsupported key type (only EC P-256, OKP Ed25519 and RSA)";
        return JWK_SKIP;
    }
    if (jalg && alg_from_name(json_string_value(jalg)) != alg) {
        *why = "its \"alg\" is not the algorithm its key type implies (EC P-256: ES256, OKP "
               "Ed25519: EdDSA, RSA: RS256)";
        return JWK_SKIP;
    }
    if (!(alg & allowed)) {
        *why = "its algorithm is not in this issuer's algorithms";
        return JWK_SKIP;
    }

    switch (alg) {
    case JWT_ALG_ES256:
        if (b64_member(o, "x", x, sizeof(x), 32, &xl) < 0 ||
            b64_member(o, "y", y, sizeof(y), 32, &yl) < 0) {
            *why = "\"x\" and \"y\" must be base64url of 32 bytes each";
            return -EINVAL;
        }
        pk = ec_p256_key(x, y);
        if (!pk) {
            *why = "not a valid P-256 public key (point not on the curve)";
            return -EINVAL;
        }
        break;
    case JWT_ALG_EDDSA:
        if (b64_member(o, "x", x, sizeof(x), 32, &xl) < 0) {
            *why = "\"x\" must be base64url of 32 bytes";
            return -EINVAL;
        }
        pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, 32);
        ERR_clear_error();
        if (!pk) {
            *why = "not a valid Ed25519 public key";
            return -EINVAL;
        }
        break;
    default: /* RS256 */
        r = b64_member(o, "n", n, sizeof(n), 0, &nl);
        if (r < 0 && json_is_string(json_object_get(o, "n")) &&
            json_string_length(json_object_get(o, "n")) > b64url_encoded_len(sizeof(n))) {
            *why = "RSA key larger than 8192 bits";
            return JWK_SKIP;
        }
        if (r < 0 || b64_member(o, "e", e, sizeof(e), 0, &el) < 0) {
            *why = "\"n\" and \"e\" must be base64url (e at most 8 bytes)";
            return -EINVAL;
        }
        if (!(e[el - 1] & 1) || (el == 1 && e[0] < 3)) {
            *why = "RSA exponent must be odd and at least 3";
            return -EINVAL;
        }
        pk = rsa_key(n, nl, e, el);
        if (!pk) {
            *why = "not a valid RSA public key";
            return -EINVAL;
        }
        int bits = EVP_PKEY_get_bits(pk);
        if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
            EVP_PKEY_free(pk);
            *why = bits < RSA_MIN_BITS ? "RSA key shorter than 2048 bits"
                                       : "RSA key larger than 8192 bits";
            return JWK_SKIP;
        }
        break;
    }
    if (kid) {
        k->kid = strdup(json_string_value(kid));
        if (!k->kid) {
            EVP_PKEY_free(pk);
            return -ENOMEM;
        }
    }
    k->alg = alg;
    k->pkey = pk;
    return JWK_USE;
}

/* The text of a jansson error without its "near '...'" part, which may
 * quote file content. */
static void json_err_text(const json_error_t *je, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", je->text);
    char *near = strstr(buf, " near ");
    if (near)
        *near = '\0';
}

int jwks_parse(const char *path, const char *buf, size_t len, unsigned allowed_algs,
               struct jwks **out, struct diags *d)
{
    json_error_t je;
    json_t *root = NULL;
    struct jwks *k = NULL;
    char label[96], etext[JSON_ERROR_TEXT_LENGTH];
    int r = 0;

    *out = NULL;
    if (len > JWKS_MAX_FILE_SIZE) {
        diag_add(d, path, 0, "JWKS larger than %u bytes", JWKS_MAX_FILE_SIZE);
        return -EFBIG;
    }
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        json_err_text(&je, etext, sizeof(etext));
        diag_add(d, path, je.line > 0 ? (unsigned)je.line : 0, "invalid JSON: %s", etext);
        return -EINVAL;
    }
    json_t *keys = json_object_get(root, "keys");
    json_t *single = NULL;
    if (!json_is_object(root) || (!keys && !json_object_get(root, "kty"))) {
        diag_add(d, path, 0, "expected a JWK Set ({\"keys\": [...]}) or a single JWK");
        r = -EINVAL;
        goto out;
    }
    if (keys && !json_is_array(keys)) {
        diag_add(d, path, 0, "\"keys\" must be an array");
        r = -EINVAL;
        goto out;
    }
    if (!keys) {
        single = json_array();
        if (!single || json_array_append(single, root) < 0) {
            r = -ENOMEM;
            goto out;
        }
        keys = single;
    }
    size_t nk = json_array_size(keys);
    if (nk > JWKS_MAX_KEYS) {
        diag_add(d, path, 0, "more than %d keys", JWKS_MAX_KEYS);
        r = -EINVAL;
        goto out;
    }
    k = calloc(1, sizeof(*k));
    if (!k || (nk && !(k->v = calloc(nk, sizeof(*k->v))))) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nk; i++) {
        const json_t *o = json_array_get(keys, i);
        const char *why = NULL;
        struct jwk key;
        int kr = jwk_parse(o, allowed_algs, &key, &why);
        key_label(label, sizeof(label), i, o);
        if (kr == -ENOMEM) {
            r = kr;
            goto out;
        }
        if (kr < 0) {
            diag_add(d, path, 0, "%s: %s", label, why);
            r = -EINVAL;
            continue;
        }
        if (kr == JWK_SKIP) {
            diag_warn(d, path, 0, "%s skipped: %s", label, why);
            continue;
        }
        for (size_t j = 0; key.kid && j < k->n; j++)
            if (k->v[j].kid && !strcmp(k->v[j].kid, key.kid)) {
                diag_add(d, path, 0, "%s: duplicate \"kid\"", label);
                r = -EINVAL;
            }
        k->v[k->n++] = key;
    }
    if (r < 0)
        goto out;
    if (k->n == 0) {
        diag_add(d, path, 0,
                 "no usable key (need EC P-256, OKP Ed25519 or RSA >= 2048 bits, "
                 "with an algorithm the issuer allows)");
        r = -EINVAL;
        goto out;
    }
    if (!(k->text = malloc(len + 1))) {
        r = -ENOMEM;
        goto out;
    }
    memcpy(k->text, buf, len);
    k->text[len] = '\0';
    k->text_len = len;
    *out = k;
    k = NULL;
out:
    json_decref(single);
    json_decref(root);
    jwks_free(k);
    if (r == -ENOMEM)
        diag_add(d, path, 0, "out of memory");
    return r;
}

int jwks_load_file(const char *path, unsigned allowed_algs, struct jwks **out, struct diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int r = util_read_file(path, JWKS_MAX_FILE_SIZE, &buf, &len);
    if (r < 0) {
        if (r == -EFBIG)
            diag_add(d, path, 0, "JWKS larger than %u bytes", JWKS_MAX_FILE_SIZE);
        else
            diag_add(d, path, 0, "cannot read JWKS: %s", strerror(-r));
        return r;
    }
    r = jwks_parse(path, buf, len, allowed_algs, out, d);
    free(buf);
    return r;
}

/* ---- compact JWS ----------------------------------------------------------- */

struct jws {
    const char *h, *p, *s; /* the three base64url segments */
    size_t hl, pl, sl;
    json_t *hdr;
    unsigned alg;    /* from the header, a supported one */
    const char *kid; /* borrowed from hdr, may be NULL */
};

static void jws_clear(struct jws *j)
{
    json_decref(j->hdr);
    *j = (struct jws){0};
}

/* Splits tok and checks the protected header. */
static enum jwt_error jws_parse(const char *tok, size_t len, bool check_typ, struct jws *j)
{
    uint8_t hbuf[JWT_MAX_HEADER];
    size_t hn = 0;
    *j = (struct jws){0};
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
        return JWT_MALFORMED;
    j->h = tok;
    j->hl = (size_t)(d1 - tok);
    j->p = d1 + 1;
    j->pl = (size_t)(d2 - j->p);
    j->s = d2 + 1;
    j->sl = len - (size_t)(j->s - tok);
    if (j->hl == 0 || b64url_decode(j->h, j->hl, hbuf, sizeof(hbuf), &hn) < 0 || hn == 0)
        return JWT_MALFORMED;
    j->hdr = json_loadb((const char *)hbuf, hn, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j->hdr))
        return JWT_MALFORMED;
    if (json_object_get(j->hdr, "crit"))
        return JWT_CRIT;
    const char *alg = json_string_value(json_object_get(j->hdr, "alg"));
    if (!alg)
        return JWT_MALFORMED;
    const json_t *kid = json_object_get(j->hdr, "kid");
    if (kid && !json_is_string(kid))
        return JWT_MALFORMED;
    j->kid = json_string_value(kid);
    if (check_typ) {
        /* RFC 7515 §4.1.9: "JWT" means "application/JWT" */
        const json_t *typ = json_object_get(j->hdr, "typ");
        const char *t = json_string_value(typ);
        if (typ && !t)
            return JWT_MALFORMED;
        if (t && !strncasecmp(t, "application/", 12))
            t += 12;
        if (t && strcasecmp(t, "JWT") != 0 && strcasecmp(t, "at+jwt") != 0)
            return JWT_MALFORMED;
    }
    /* none, HS*, PS*, ES384, ... */
    j->alg = alg_from_name(alg);
    if (!j->alg)
        return JWT_BAD_ALG;
    if (j->sl == 0)
        return JWT_MALFORMED;
    return JWT_OK;
}

/* Raw 64-byte r||s to DER. */
static int ecdsa_raw_to_der(const uint8_t *sig, uint8_t *der, size_t cap, size_t *outlen)
{
    int r = -EINVAL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(sig, 32, NULL), *bs = BN_bin2bn(sig + 32, 32, NULL);
    if (!es || !br || !bs)
        goto out;
    if (!ECDSA_SIG_set0(es, br, bs))
        goto out;
    br = bs = NULL;
    int n = i2d_ECDSA_SIG(es, NULL);
    if (n <= 0 || (size_t)n > cap)
        goto out;
    uint8_t *q = der;
    n = i2d_ECDSA_SIG(es, &q);
    if (n <= 0)
        goto out;
    *outlen = (size_t)n;
    r = 0;
out:
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(es);
    return r;
}

static enum jwt_error jws_check_sig(const struct jwk *key, const struct jws *j)
{
    uint8_t sig[SIG_MAX], der[80];
    size_t sl = 0;
    const uint8_t *vs = sig;
    size_t vl;
    const char *md = NULL;
    enum jwt_error e = JWT_BAD_SIGNATURE;
    EVP_MD_CTX *mc = NULL;

    int r = b64url_decode(j->s, j->sl, sig, sizeof(sig), &sl);
    if (r == -ENOBUFS)
        return JWT_BAD_SIGNATURE;
    if (r < 0)
        return JWT_MALFORMED;
    vl = sl;
    switch (key->alg) {
    case JWT_ALG_ES256:
        /* raw r||s only: a DER signature is refused */
        if (sl != 64 || ecdsa_raw_to_der(sig, der, sizeof(der), &vl) < 0)
            return JWT_BAD_SIGNATURE;
        vs = der;
        md = "SHA256";
        break;
    case JWT_ALG_EDDSA:
        if (sl != 64)
            return JWT_BAD_SIGNATURE;
        break;
    case JWT_ALG_RS256:
        if ((int)sl != EVP_PKEY_get_size(key->pkey))
            return JWT_BAD_SIGNATURE;
        md = "SHA256";
        break;
    default: return JWT_BAD_ALG;
    }
    mc = EVP_MD_CTX_new();
    if (!mc)
        goto out;
    if (EVP_DigestVerifyInit_ex(mc, NULL, md, NULL, NULL, key->pkey, NULL) != 1)
        goto out;
    /* the signing input: "b64header.b64payload" */
    if (EVP_DigestVerify(mc, vs, vl, (const uint8_t *)j->h, j->hl + 1 + j->pl) == 1)
        e = JWT_OK;
out:
    EVP_MD_CTX_free(mc);
    ERR_clear_error();
    return e;
}

/* Decodes the payload segment into a new NUL-terminated buffer. */
static enum jwt_error jws_payload(const struct jws *j, uint8_t **out, size_t *outlen)
{
    size_t cap = j->pl / 4 * 3 + 3, n = 0;
    uint8_t *p = malloc(cap + 1);
    if (!p)
        return JWT_MALFORMED;
    if (b64url_decode(j->p, j->pl, p, cap, &n) < 0) {
        free(p);
        return JWT_MALFORMED;
    }
    p[n] = '\0';
    *out = p;
    *outlen = n;
    return JWT_OK;
}

enum jwt_error jws_verify_compact(const struct jwk *key, const char *tok, size_t len,
                                  uint8_t **payload, size_t *payload_len)
{
    struct jws j;
    enum jwt_error e;
    if (payload)
        *payload = NULL;
    if (payload_len)
        *payload_len = 0;
    if (!key || !key->pkey || !tok)
        return JWT_MALFORMED;
    if (len > JWT_HARD_MAX_SIZE)
        return JWT_TOO_LARGE;
    e = jws_parse(tok, len, false, &j);
    if (e != JWT_OK)
        goto out;
    if (j.alg != key->alg) {
        e = JWT_BAD_ALG;
        goto out;
    }
    e = jws_check_sig(key, &j);
    if (e != JWT_OK)
        goto out;
    if (payload) {
        size_t n = 0;
        e = jws_payload(&j, payload, &n);
        if (payload_len)
            *payload_len = n;
    }
out:
    jws_clear(&j);
    return e;
}

/* ---- claims ---------------------------------------------------------------- */

void jwt_claims_free(struct jwt_claims *c)
{
    if (!c)
        return;
    free(c->sub);
    free(c->iss);
    free(c->client_id);
    free(c->jti);
    util_strv_free(c->scopes);
    *c = (struct jwt_claims){0};
}

int jwt_claims_copy(const struct jwt_claims *c, struct jwt_claims *out)
{
    size_t n = 0;
    *out = (struct jwt_claims){.exp = c->exp, .nbf = c->nbf, .iat = c->iat};
    while (c->scopes && c->scopes[n])
        n++;
    out->sub = c->sub ? strdup(c->sub) : NULL;
    out->iss = c->iss ? strdup(c->iss) : NULL;
    out->client_id = c->client_id ? strdup(c->client_id) : NULL;
    out->jti = c->jti ? strdup(c->jti) : NULL;
    out->scopes = c->scopes ? calloc(n + 1, sizeof(*out->scopes)) : NULL;
    if ((c->sub && !out->sub) || (c->iss && !out->iss) || (c->client_id && !out->client_id) ||
        (c->jti && !out->jti) || (c->scopes && !out->scopes))
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (!(out->scopes[i] = strdup(c->scopes[i])))
            goto fail;
    return 0;
fail:
    jwt_claims_free(out);
    return -ENOMEM;
}

/* The time-dependent part of the claim checks, shared by
 * claims_check_json() and jwt_claims_check_time(). */
static enum jwt_error time_check(const struct issuer_conf *conf, int64_t exp, int64_t nbf,
                                 int64_t now)
{
    int64_t leeway = conf->leeway_s > JWT_MAX_LEEWAY_S ? JWT_MAX_LEEWAY_S : (int64_t)conf->leeway_s;
    if (now >= exp + leeway)
        return JWT_EXPIRED;
    if (nbf && now + leeway < nbf)
        return JWT_NOT_YET_VALID;
    return JWT_OK;
}

enum jwt_error jwt_claims_check_time(const struct issuer_conf *conf, const struct jwt_claims *c,
                                     int64_t now)
{
    if (!conf || !c)
        return JWT_MALFORMED;
    return time_check(conf, c->exp, c->nbf, now);
}

/* A NumericDate: integer or finite real in [0, JWT_MAX_NUMERIC_DATE].
 * round_up: ceil for reals (nbf), else floor. */
static bool numeric_date(const json_t *v, bool round_up, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > JWT_MAX_NUMERIC_DATE)
            return false;
        *out = (int64_t)i;
        return true;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (!isfinite(x) || x < 0 || x > (double)JWT_MAX_NUMERIC_DATE)
            return false;
        /* x >= 0: truncation is floor; no libm needed */
        int64_t t = (int64_t)x;
        *out = round_up && (double)t < x ? t + 1 : t;
        return true;
    }
    return false;
}

static bool no_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static bool scope_char(char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static bool scope_push(char **v, size_t *n, const char *s, size_t len)
{
    if (len == 0 || len > JWT_MAX_SCOPE_LEN || *n >= JWT_MAX_SCOPES)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!scope_char(s[i]))
            return false;
    v[*n] = strndup(s, len);
    if (!v[*n])
        return false;
    (*n)++;
    return true;
}

/* Space-separated scope string into v. */
static bool scopes_from_string(const json_t *js, char **v, size_t *n)
{
    const char *s = json_string_value(js);
    size_t len = json_string_length(js);
    if (len > SCOPE_STR_MAX || strlen(s) != len)
        return false;
    for (size_t i = 0; i < len;) {
        if (s[i] == ' ') {
            i++;
            continue;
        }
        size_t e = i;
        while (e < len && s[e] != ' ')
            e++;
        if (!scope_push(v, n, s + i, e - i))
            return false;
        i = e;
    }
    return true;
}

static bool aud_match(const struct issuer_conf *conf, const char *a)
{
    return a && conf->audiences && util_strv_contains(conf->audiences, a);
}

static enum jwt_error claims_check_json(const struct issuer_conf *conf, const json_t *p,
                                        int64_t now, struct jwt_claims *c)
{
    int64_t exp = 0, nbf = 0, iat = 0;
    enum jwt_error e = JWT_OK;
    char **scopes = NULL;
    size_t ns = 0;

    *c = (struct jwt_claims){0};
    if (!json_is_object(p))
        return JWT_MALFORMED;
    const json_t *v = json_object_get(p, "exp");
    if (!v || !numeric_date(v, false, &exp))
        return JWT_MISSING_CLAIM;
    if ((v = json_object_get(p, "nbf")) && !numeric_date(v, true, &nbf))
        return JWT_MALFORMED;
    if ((v = json_object_get(p, "iat")) && !numeric_date(v, false, &iat))
        return JWT_MALFORMED;
    if ((e = time_check(conf, exp, nbf, now)) != JWT_OK)
        return e;

    /* aud: a string or an array of strings, one of them ours */
    bool aud_ok = false;
    v = json_object_get(p, "aud");
    if (json_is_string(v)) {
        aud_ok = json_string_length(v) <= JWT_MAX_CLAIM && aud_match(conf, json_string_value(v));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *a;
        if (json_array_size(v) > JWT_MAX_AUD)
            return JWT_WRONG_AUDIENCE;
        json_array_foreach(v, i, a)
        {
            if (!json_is_string(a))
                return JWT_WRONG_AUDIENCE;
            aud_ok = aud_ok || aud_match(conf, json_string_value(a));
        }
    }
    if (!aud_ok)
        return JWT_WRONG_AUDIENCE;

    const json_t *sub = json_object_get(p, "sub");
    const char *subs = json_string_value(sub);
    if (!subs || json_string_length(sub) == 0 || json_string_length(sub) > JWT_MAX_SUB ||
        strlen(subs) != json_string_length(sub) || !no_ctl(subs))
        return JWT_MISSING_CLAIM;
    const json_t *iss = json_object_get(p, "iss");
    const char *isss = json_string_value(iss);
    if (!isss || json_string_length(iss) > JWT_MAX_CLAIM || strlen(isss) != json_string_length(iss))
        return JWT_MISSING_CLAIM;
    const json_t *cid = json_object_get(p, "client_id");
    if (!cid)
        cid = json_object_get(p, "azp");
    if (cid && (!json_is_string(cid) || json_string_length(cid) > JWT_MAX_CLAIM ||
                strlen(json_string_value(cid)) != json_string_length(cid) ||
                !no_ctl(json_string_value(cid))))
        return JWT_MALFORMED;
    /* jti: kept when it is a usable string (only revocation looks at it) */
    const json_t *jti = json_object_get(p, "jti");
    if (jti && (!json_is_string(jti) || json_string_length(jti) > JWT_MAX_CLAIM ||
                strlen(json_string_value(jti)) != json_string_length(jti)))
        jti = NULL;

    scopes = calloc(JWT_MAX_SCOPES + 1, sizeof(*scopes));
    if (!scopes)
        return JWT_MALFORMED;
    const json_t *sc = json_object_get(p, "scope");
    const json_t *scp = sc ? NULL : json_object_get(p, "scp");
    if (sc && (!json_is_string(sc) || !scopes_from_string(sc, scopes, &ns))) {
        e = JWT_MALFORMED;
        goto out;
    }
    if (scp && json_is_string(scp)) {
        if (!scopes_from_string(scp, scopes, &ns)) {
            e = JWT_MALFORMED;
            goto out;
        }
    } else if (scp) {
        size_t i;
        json_t *a;
        if (!json_is_array(scp) || json_array_size(scp) > JWT_MAX_SCOPES) {
            e = JWT_MALFORMED;
            goto out;
        }
        json_array_foreach(scp, i, a)
        {
            if (!json_is_string(a) || strlen(json_string_value(a)) != json_string_length(a) ||
                !scope_push(scopes, &ns, json_string_value(a), json_string_length(a))) {
                e = JWT_MALFORMED;
                goto out;
            }
        }
    }
    c->sub = strdup(subs);
    c->iss = strdup(isss);
    c->client_id = cid ? strdup(json_string_value(cid)) : NULL;
    c->jti = jti ? strdup(json_string_value(jti)) : NULL;
    if (!c->sub || !c->iss || (cid && !c->client_id) || (jti && !c->jti)) {
        e = JWT_MALFORMED;
        goto out;
    }
    c->scopes = scopes;
    scopes = NULL;
    c->exp = exp;
    c->nbf = nbf;
    c->iat = iat;
out:
    util_strv_free(scopes);
    if (e != JWT_OK)
        jwt_claims_free(c);
    return e;
}

enum jwt_error jwt_claims_check(const struct issuer_conf *conf, const uint8_t *payload, size_t len,
                                int64_t now, struct jwt_claims *claims)
{
    *claims = (struct jwt_claims){0};
    if (!conf || !payload || len > JWT_HARD_MAX_SIZE)
        return JWT_MALFORMED;
    json_t *p = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, NULL);
    if (!p)
        return JWT_MALFORMED;
    enum jwt_error e = claims_check_json(conf, p, now, claims);
    json_decref(p);
    return e;
}

/* The key for the token among the issuer's keys. */
static enum jwt_error key_select(const struct jwt_issuer *is, const struct jws *j,
                                 const struct jwk **out)
{
    const struct jwks *ks = is->keys;
    const struct jwk *found = NULL;
    size_t same_alg = 0;
    *out = NULL;
    if (!ks || ks->n == 0)
        return JWT_UNKNOWN_KID;
    if (j->kid) {
        for (size_t i = 0; i < ks->n && !found; i++)
            if (ks->v[i].kid && !strcmp(ks->v[i].kid, j->kid))
                found = &ks->v[i];
        if (!found)
            return JWT_UNKNOWN_KID;
    } else {
        for (size_t i = 0; i < ks->n; i++)
            if (ks->v[i].alg == j->alg) {
                found = &ks->v[i];
                same_alg++;
            }
        if (same_alg == 0)
            return JWT_BAD_ALG;
        if (same_alg > 1)
            return JWT_UNKNOWN_KID;
    }
    /* the algorithm is the key's, never the token's */
    if (found->alg != j->alg || !(j->alg & is->conf->algorithms))
        return JWT_BAD_ALG;
    *out = found;
    return JWT_OK;
}

enum jwt_error jwt_verify(const struct jwt_issuer *const *issuers, size_t n_issuers,
                          const char *only_issuer, const char *tok, size_t len, size_t max_len,
                          int64_t now, struct jwt_claims *claims, const struct jwt_issuer **which)
{
    return jwt_verify_payload(issuers, n_issuers, only_issuer, tok, len, max_len, now, claims,
                              which, NULL, NULL);
}

enum jwt_error jwt_verify_payload(const struct jwt_issuer *const *issuers, size_t n_issuers,
                                  const char *only_issuer, const char *tok, size_t len,
                                  size_t max_len, int64_t now, struct jwt_claims *claims,
                                  const struct jwt_issuer **which, uint8_t **payload_out,
                                  size_t *payload_len)
{
    struct jws j = {0};
    uint8_t *payload = NULL;
    size_t pn = 0;
    json_t *p = NULL;
    const struct jwt_issuer *is = NULL;
    const struct jwk *key = NULL;
    enum jwt_error e;

    if (claims)
        *claims = (struct jwt_claims){0};
    if (which)
        *which = NULL;
    if (payload_out)
        *payload_out = NULL;
    if (payload_len)
        *payload_len = 0;
    if (!claims || !tok || (payload_out && !payload_len))
        return JWT_MALFORMED;
    /* size first, before any decoding */
    if (max_len == 0)
        max_len = LIMIT_DEFAULT_MAX_TOKEN;
    if (len > max_len || len > JWT_HARD_MAX_SIZE)
        return JWT_TOO_LARGE;

    e = jws_parse(tok, len, true, &j);
    if (e != JWT_OK)
        goto out;
    /* the unverified payload, read only to select the issuer */
    e = jws_payload(&j, &payload, &pn);
    if (e != JWT_OK)
        goto out;
    p = json_loadb((const char *)payload, pn, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(p)) {
        e = JWT_MALFORMED;
        goto out;
    }
    const json_t *jiss = json_object_get(p, "iss");
    const char *iss = json_string_value(jiss);
    if (!iss || strlen(iss) != json_string_length(jiss)) {
        e = JWT_MISSING_CLAIM;
        goto out;
    }
    for (size_t i = 0; i < n_issuers && !is; i++) {
        const struct jwt_issuer *c = issuers[i];
        if (!c || !c->conf || !c->conf->iss || strcmp(c->conf->iss, iss) != 0)
            continue;
        if (only_issuer && (!c->conf->name || strcmp(c->conf->name, only_issuer) != 0))
            continue;
        is = c;
    }
    if (!is) {
        e = JWT_UNKNOWN_ISSUER;
        goto out;
    }
    e = key_select(is, &j, &key);
    if (e != JWT_OK)
        goto out;
    e = jws_check_sig(key, &j);
    if (e != JWT_OK)
        goto out;
    e = claims_check_json(is->conf, p, now, claims);
    if (e == JWT_OK && which)
        *which = is;
    if (e == JWT_OK && payload_out) {
        *payload_out = payload; /* verified: handed to the caller */
        *payload_len = pn;
        payload = NULL;
    }
out:
    json_decref(p);
    free(payload);
    jws_clear(&j);
    return e;
}

/* ---- helpers for external issuers (auth/extiss.h) ----------------------------------- */

int jwt_peek(const char *tok, size_t len, char *iss, size_t iss_cap, char *kid, size_t kid_cap)
{
    struct jws j;
    uint8_t *payload = NULL;
    size_t pn = 0;
    int r = -EINVAL;
    if (!tok || !iss || !kid || !iss_cap || !kid_cap || len > JWT_HARD_MAX_SIZE)
        return -EINVAL;
    iss[0] = kid[0] = '\0';
    if (jws_parse(tok, len, false, &j) != JWT_OK) {
        jws_clear(&j);
        return -EINVAL;
    }
    if (jws_payload(&j, &payload, &pn) == JWT_OK) {
        json_t *p = json_loadb((const char *)payload, pn, JSON_REJECT_DUPLICATES, NULL);
        const json_t *ji = json_object_get(p, "iss");
        const char *is = json_string_value(ji);
        size_t il = is ? json_string_length(ji) : 0;
        size_t kl = j.kid ? strlen(j.kid) : 0;
        if (is && il < iss_cap && strlen(is) == il && kl < kid_cap) {
            memcpy(iss, is, il + 1);
            if (j.kid)
                memcpy(kid, j.kid, kl + 1);
            r = 0;
        }
        json_decref(p);
    }
    free(payload);
    jws_clear(&j);
    return r;
}

/* "aud" of an introspection answer: absent is fine, present must name us. */
static bool intro_aud_ok(const struct issuer_conf *conf, const json_t *v)
{
    if (!v)
        return true;
    if (json_is_string(v))
        return json_string_length(v) <= JWT_MAX_CLAIM && aud_match(conf, json_string_value(v));
    if (!json_is_array(v) || json_array_size(v) > JWT_MAX_AUD)
        return false;
    bool ok = false;
    size_t i;
    json_t *a;
    json_array_foreach(v, i, a)
    {
        if (!json_is_string(a))
            return false;
        ok = ok || aud_match(conf, json_string_value(a));
    }
    return ok;
}

static bool intro_str(const json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= max &&
           strlen(json_string_value(v)) == json_string_length(v) && no_ctl(json_string_value(v));
}

int jwt_introspection_parse(const struct issuer_conf *conf, const char *buf, size_t len,
                            int64_t now, struct jwt_claims *c, enum jwt_error *why)
{
    enum jwt_error dummy;
    if (!why)
        why = &dummy;
    *why = JWT_MALFORMED;
    if (!c)
        return -EINVAL;
    *c = (struct jwt_claims){0};
    if (!conf || !buf || len > JWT_MAX_INTROSPECTION)
        return -EINVAL;
    json_t *p = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(p)) {
        json_decref(p);
        return -EINVAL;
    }
    int ret = 0;
    char **scopes = NULL;
    size_t ns = 0;
    int64_t exp = 0, nbf = 0, iat = 0;
    const json_t *v = json_object_get(p, "active");
    if (!json_is_boolean(v)) {
        ret = -EINVAL;
        goto out;
    }
    if (!json_is_true(v)) {
        *why = JWT_INACTIVE;
        goto out;
    }
    *why = JWT_EXPIRED;
    if (!(v = json_object_get(p, "exp")) || !numeric_date(v, false, &exp) || now >= exp)
        goto out;
    *why = JWT_MALFORMED;
    if ((v = json_object_get(p, "nbf")) && !numeric_date(v, true, &nbf))
        goto out;
    if ((v = json_object_get(p, "iat")) && !numeric_date(v, false, &iat))
        goto out;
    int64_t leeway = conf->leeway_s > JWT_MAX_LEEWAY_S ? JWT_MAX_LEEWAY_S : (int64_t)conf->leeway_s;
    *why = JWT_NOT_YET_VALID;
    if (nbf && now + leeway < nbf)
        goto out;
    *why = JWT_UNKNOWN_ISSUER;
    const json_t *iss = json_object_get(p, "iss");
    if (iss && (!json_is_string(iss) || !conf->iss || strcmp(json_string_value(iss), conf->iss) ||
                strlen(json_string_value(iss)) != json_string_length(iss)))
        goto out;
    *why = JWT_WRONG_AUDIENCE;
    if (!intro_aud_ok(conf, json_object_get(p, "aud")))
        goto out;
    *why = JWT_MISSING_CLAIM;
    const json_t *sub = json_object_get(p, "sub");
    if (!sub)
        sub = json_object_get(p, "username");
    if (!intro_str(sub, JWT_MAX_SUB))
        goto out;
    *why = JWT_MALFORMED;
    const json_t *cid = json_object_get(p, "client_id");
    if (cid && !intro_str(cid, JWT_MAX_CLAIM))
        goto out;
    if (!(scopes = calloc(JWT_MAX_SCOPES + 1, sizeof(*scopes))))
        goto out;
    const json_t *sc = json_object_get(p, "scope");
    if (sc && (!json_is_string(sc) || !scopes_from_string(sc, scopes, &ns)))
        goto out;
    c->sub = strdup(json_string_value(sub));
    c->iss = strdup(iss ? json_string_value(iss) : conf->iss ? conf->iss : "");
    c->client_id = cid ? strdup(json_string_value(cid)) : NULL;
    if (!c->sub || !c->iss || (cid && !c->client_id)) {
        jwt_claims_free(c);
        goto out;
    }
    c->scopes = scopes;
    scopes = NULL;
    c->exp = exp;
    c->nbf = nbf;
    c->iat = iat;
    *why = JWT_OK;
    ret = 1;
out:
    util_strv_free(scopes);
    json_decref(p);
    return ret;
}
