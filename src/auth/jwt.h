/* jwt.h - JWS compact verification and JWT claim checks on OpenSSL 3 EVP
 * and jansson. The algorithm is bound to the key (from the JWK), never
 * taken from the token: "none", HS256 with a public key, an alg that is
 * not the key's or not in the issuer's allowlist are refused.
 *
 * Supported: ES256 (P-256, raw r||s signatures), EdDSA (Ed25519),
 * RS256 (RSA >= 2048 bits).
 */
#pragma once

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config.h"
#include "../util.h"

struct jwk {
    char *kid;    /* NULL when the JWK has none */
    unsigned alg; /* one enum jwt_alg_bit */
    EVP_PKEY *pkey;
};

struct jwks {
    struct jwk *v;
    size_t n;
};

/* Parses a JWK Set ({"keys":[...]}) or a single JWK. Keys of unsupported
 * types, private keys ("d" present), and keys whose "alg" is not in
 * allowed_algs are refused with a message; a set with no usable key is an
 * error. */
int jwks_parse(const char *path, const char *buf, size_t len, unsigned allowed_algs,
               struct jwks **out, struct diags *d);
int jwks_load_file(const char *path, unsigned allowed_algs, struct jwks **out, struct diags *d);
void jwks_free(struct jwks *k);

/* An issuer ready for verification: its config and loaded keys. */
struct jwt_issuer {
    const struct issuer_conf *conf;
    struct jwks *keys;
};

enum jwt_error {
    JWT_OK = 0,
    JWT_MALFORMED,     /* not three base64url parts, bad JSON, duplicate keys */
    JWT_TOO_LARGE,     /* over max_token_size */
    JWT_BAD_ALG,       /* none, HS*, or not the key's / not allowed */
    JWT_UNKNOWN_ISSUER,
    JWT_UNKNOWN_KID,
    JWT_BAD_SIGNATURE,
    JWT_CRIT,          /* "crit" header present */
    JWT_EXPIRED,
    JWT_NOT_YET_VALID,
    JWT_WRONG_AUDIENCE,
    JWT_MISSING_CLAIM, /* exp, sub or iss missing or of the wrong type */
};

/* Static text for logs and error descriptions; never contains the token. */
const char *jwt_error_str(enum jwt_error e);

#define JWT_MAX_SCOPES 64

struct jwt_claims {
    char *sub;
    char *iss;
    char *client_id; /* may be NULL */
    char **scopes;   /* from "scope" (space-separated) or "scp" (array); NULL-terminated */
    int64_t exp, nbf, iat; /* 0 when absent (exp is required) */
};
void jwt_claims_free(struct jwt_claims *c);

/* Verifies the signature of a compact JWS with one key (alg from the key)
 * and returns the decoded payload (caller frees). No claim checks: for
 * test vectors and for callers that check claims themselves. */
enum jwt_error jws_verify_compact(const struct jwk *key, const char *tok, size_t len,
                                  uint8_t **payload, size_t *payload_len);

/* Full JWT check: picks the issuer by "iss" among issuers (restricted to
 * those whose conf->name equals only_issuer when that is not NULL), the key
 * by "kid" (or the only key of the header's alg when there is no kid),
 * verifies the signature, then exp/nbf with the issuer's leeway against
 * now, aud against the issuer's audiences. On JWT_OK fills claims and
 * *which. */
enum jwt_error jwt_verify(const struct jwt_issuer *const *issuers, size_t n_issuers,
                          const char *only_issuer, const char *tok, size_t len,
                          size_t max_len, int64_t now, struct jwt_claims *claims,
                          const struct jwt_issuer **which);
