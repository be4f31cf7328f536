/* jwt.h - JWS compact verification and JWT claim checks on OpenSSL 3 EVP
 * and jansson. The algorithm is bound to the key (from the JWK), never
 * taken from the token: "none", HS256 with a public key, an alg that is
 * not the key's or not in the issuer's allowlist are refused.
 *
 * Supported: ES256 (P-256, raw r||s signatures), EdDSA (Ed25519),
 * RS256 (RSA 2048 to 8192 bits). Keys embedded in or pointed to by a
 * token header ("jwk", "jku", "x5c", "x5u") are ignored: keys come only
 * from the issuer's JWKS file.
 *
 * NumericDate claims (exp, nbf, iat) may be JSON integers or reals; they
 * must lie in [0, JWT_MAX_NUMERIC_DATE] (year 9999). A fractional exp or
 * iat is rounded down and a fractional nbf up (never in the token's
 * favour).
 */
#pragma once

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../config.h"
#include "../util.h"

#define JWKS_MAX_FILE_SIZE   (1u << 20)
#define JWKS_MAX_KEYS        64
#define JWK_MAX_KID          256
#define JWT_HARD_MAX_SIZE    65536 /* jwt_verify caps max_len at this */
#define JWT_MAX_HEADER       4096  /* decoded protected header */
#define JWT_MAX_CLAIM        1024  /* iss, client_id, aud values */
#define JWT_MAX_SUB          255   /* fits POLICY_PRINCIPAL_MAX with the issuer */
#define JWT_MAX_SCOPE_LEN    256   /* one scope token */
#define JWT_MAX_AUD          64    /* entries of an "aud" array */
#define JWT_MAX_NUMERIC_DATE 253402300799LL
#define JWT_MAX_LEEWAY_S     3600

struct jwk {
    char *kid;    /* NULL when the JWK has none */
    unsigned alg; /* one enum jwt_alg_bit */
    EVP_PKEY *pkey;
};

struct jwks {
    struct jwk *v;
    size_t n;
    char *text; /* the JSON it was parsed from (auth/keysync.h passes it on) */
    size_t text_len;
    unsigned refs; /* jwks_ref(); 0 and 1 both mean "one owner" */
};

/* Parses a JWK Set ({"keys":[...]}) or a single JWK.
 * Errors (the whole file is refused, -EINVAL): invalid JSON (with its line
 * number), secret material (a private key "d"/"p"/"q"/..., or a symmetric
 * "oct" key: HMAC is not supported), malformed members (bad base64url,
 * wrong lengths, a point not on the curve), a duplicate "kid", more than
 * JWKS_MAX_KEYS keys, no usable key at all.
 * Warnings (the key is skipped): unsupported kty or crv (only EC P-256,
 * OKP Ed25519, RSA), RSA keys under 2048 or over 8192 bits, "use" other
 * than "sig", "key_ops" without "verify", an "alg" that is not the one the
 * key type implies, an alg not in allowed_algs. */
int jwks_parse(const char *path, const char *buf, size_t len, unsigned allowed_algs,
               struct jwks **out, struct diags *d);
int jwks_load_file(const char *path, unsigned allowed_algs, struct jwks **out, struct diags *d);
/* Drops one reference (jwks_ref) and frees with the last one. NULL ok. */
void jwks_free(struct jwks *k);
/* Another owner of k (a key set shared by the external issuer fetcher,
 * auth/extiss.h, and the loaded states); returns k. NULL ok. */
struct jwks *jwks_ref(struct jwks *k);
/* Whether k holds a key with this kid. */
bool jwks_has_kid(const struct jwks *k, const char *kid);

/* An issuer ready for verification: its config and loaded keys. */
struct jwt_issuer {
    const struct issuer_conf *conf;
    struct jwks *keys;
};

enum jwt_error {
    JWT_OK = 0,
    JWT_MALFORMED, /* not three base64url parts, bad JSON, duplicate keys */
    JWT_TOO_LARGE, /* over max_token_size */
    JWT_BAD_ALG,   /* none, HS*, or not the key's / not allowed */
    JWT_UNKNOWN_ISSUER,
    JWT_UNKNOWN_KID,
    JWT_BAD_SIGNATURE,
    JWT_CRIT, /* "crit" header present */
    JWT_EXPIRED,
    JWT_NOT_YET_VALID,
    JWT_WRONG_AUDIENCE,
    JWT_MISSING_CLAIM, /* exp, sub or iss missing or of the wrong type */
    JWT_INACTIVE,      /* RFC 7662: the issuer says the token is not active */
};

/* Static text for logs and error descriptions; never contains the token. */
const char *jwt_error_str(enum jwt_error e);

#define JWT_MAX_SCOPES 64

struct jwt_claims {
    char *sub;
    char *iss;
    char *client_id;       /* may be NULL */
    char *jti;             /* may be NULL (a string of at most JWT_MAX_CLAIM bytes) */
    char **scopes;         /* from "scope" (space-separated) or "scp" (array); NULL-terminated */
    int64_t exp, nbf, iat; /* 0 when absent (exp is required) */
};
void jwt_claims_free(struct jwt_claims *c);

/* Verifies the signature of a compact JWS with one key (alg from the key)
 * and returns the decoded payload (caller frees). No claim checks: for
 * test vectors and for callers that check claims themselves. */
enum jwt_error jws_verify_compact(const struct jwk *key, const char *tok, size_t len,
                                  uint8_t **payload, size_t *payload_len);

/* Full JWT check, in this order: size (len > max_len or JWT_HARD_MAX_SIZE:
 * JWT_TOO_LARGE, before any decoding; max_len 0 means the default
 * LIMIT_DEFAULT_MAX_TOKEN), the header (duplicate keys refused, "crit"
 * refused, "typ" if present "JWT" or "at+jwt" in any case, optionally
 * with the "application/" prefix (RFC 7515 §4.1.9), alg one of
 * ES256/EdDSA/RS256), the issuer by the (still unverified) "iss" among
 * issuers (restricted to the one whose conf->name equals only_issuer when
 * that is not NULL), the key by "kid" (or the only key of the header's
 * alg when there is no kid; none of that alg: JWT_BAD_ALG, several:
 * JWT_UNKNOWN_KID), alg equal to the key's and in conf->algorithms, the
 * signature, then the claims as jwt_claims_check(). On JWT_OK fills
 * claims and *which; otherwise claims is left empty (safe to free). */
/* The claim checks of jwt_verify() on an already verified payload: exp
 * required, exp/nbf against now with conf->leeway_s (capped at
 * JWT_MAX_LEEWAY_S), "aud" (string or array) containing one of
 * conf->audiences (no aud, or no audiences configured: JWT_WRONG_AUDIENCE),
 * "sub" required (1 to JWT_MAX_SUB bytes, no control characters), "iss"
 * required. Scopes from "scope" (space-separated string) or, when there
 * is no "scope", "scp" (array of strings, or a space-separated string);
 * each token RFC 6749 scope-token characters, at most JWT_MAX_SCOPES,
 * else JWT_MALFORMED. client_id from "client_id", else "azp".
 * Duplicate member names are refused. Exposed for tests and fuzzing. */
enum jwt_error jwt_claims_check(const struct issuer_conf *conf, const uint8_t *payload, size_t len,
                                int64_t now, struct jwt_claims *claims);
/* The time-dependent checks of jwt_claims_check() alone, on claims it
 * returned earlier: JWT_EXPIRED when now >= exp + leeway (exp 0 counts as
 * long expired), JWT_NOT_YET_VALID when now + leeway < nbf, else JWT_OK.
 * Every other claim check depends only on the token and conf. The
 * credential cache re-runs this on every hit. */
enum jwt_error jwt_claims_check_time(const struct issuer_conf *conf, const struct jwt_claims *c,
                                     int64_t now);
/* A deep copy of c into out: 0, or -ENOMEM with out empty. */
int jwt_claims_copy(const struct jwt_claims *c, struct jwt_claims *out);

enum jwt_error jwt_verify(const struct jwt_issuer *const *issuers, size_t n_issuers,
                          const char *only_issuer, const char *tok, size_t len, size_t max_len,
                          int64_t now, struct jwt_claims *claims, const struct jwt_issuer **which);
/* jwt_verify() that on JWT_OK also hands back the verified payload (the
 * decoded JSON claims, caller frees) when payload is not NULL: what the
 * credential cache keeps to re-run jwt_claims_check() later. On any error
 * *payload is NULL and *payload_len 0. */
enum jwt_error jwt_verify_payload(const struct jwt_issuer *const *issuers, size_t n_issuers,
                                  const char *only_issuer, const char *tok, size_t len,
                                  size_t max_len, int64_t now, struct jwt_claims *claims,
                                  const struct jwt_issuer **which, uint8_t **payload,
                                  size_t *payload_len);

/* The unverified "iss" (and "kid" of the header) of a compact JWS, only to
 * decide where to look for its keys before the real check (auth/extiss.h).
 * Returns 0 with iss (and kid, "" when the header has none) copied, or
 * -EINVAL when tok is not a JWS with a string "iss" that fits the buffers. */
int jwt_peek(const char *tok, size_t len, char *iss, size_t iss_cap, char *kid, size_t kid_cap);

#define JWT_MAX_INTROSPECTION 16384 /* bytes of an RFC 7662 answer */

/* An RFC 7662 introspection answer (a JSON object) for a token of the
 * issuer conf. Returns
 *   1  active: claims filled (sub from "sub", else "username"; iss from
 *      "iss", else conf->iss; scopes from "scope"; client_id; exp, nbf, iat)
 *   0  not to be accepted, *why says why: JWT_INACTIVE ("active": false),
 *      JWT_EXPIRED (exp missing or now >= exp: no leeway, the issuer
 *      judged activeness with its own clock), JWT_NOT_YET_VALID (nbf, with
 *      conf->leeway_s), JWT_MISSING_CLAIM (no usable sub/username),
 *      JWT_UNKNOWN_ISSUER ("iss" present and not conf->iss),
 *      JWT_WRONG_AUDIENCE ("aud" present without one of conf->audiences),
 *      JWT_MALFORMED (a bad scope, client_id, or date)
 *  -EINVAL the answer is not JSON, not an object, has duplicate members,
 *      is over JWT_MAX_INTROSPECTION bytes or "active" is not a boolean:
 *      the issuer could not be understood (the caller cannot decide).
 * claims is empty (safe to free) unless 1 is returned. */
int jwt_introspection_parse(const struct issuer_conf *conf, const char *buf, size_t len,
                            int64_t now, struct jwt_claims *claims, enum jwt_error *why);
