/* keys.h - the signing keys of the built-in authorization server.
 *
 * Kept in DIR/keys.json (DIR is <state_dir>/oauth, mode 0700; the file is
 * mode 0600 and written atomically under DIR/keys.json.lock):
 *   {"keys":[{"kid":K,"alg":"ES256"|"EdDSA","created":T,"retired":T|0,
 *             "pem":"-----BEGIN PRIVATE KEY-----..."}]}
 * kid is the RFC 7638 thumbprint of the public key. Exactly one key is
 * active (retired 0): the one that signs. A retired key is still published
 * in the JWKS for AS_KEY_RETIRED_PUBLISH_S after its retirement, so that
 * tokens it signed (at most 1 h long) keep verifying across a rotation
 * and the reload that follows it; as_keys_rotate() then drops it from the
 * file. The first key (ES256) is generated on first use.
 *
 * When the process runs as root (wotgw-passwd, `wotgw -t`), files it
 * creates get the owner and group of the state directory, so that the
 * daemon's own user can still read them.
 */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../auth/jwt.h"
#include "../util.h"

#define AS_KEYS_FILE             "keys.json"
#define AS_KEYS_MAX              16
#define AS_KEY_RETIRED_PUBLISH_S (24 * 3600)
#define AS_KEYS_MAX_FILE_SIZE    (256u << 10)
#define AS_KID_MAX               64

struct as_key {
    char kid[AS_KID_MAX];
    unsigned alg; /* JWT_ALG_ES256 or JWT_ALG_EDDSA */
    EVP_PKEY *pkey;
    int64_t created, retired;
};

struct as_keys {
    struct as_key *v; /* published keys; v[0] is the active one */
    size_t n;
};

/* Loads DIR/keys.json. When it does not exist: with create, makes DIR
 * (0700) and a first ES256 key; without, -ENOENT. Keys retired more than
 * AS_KEY_RETIRED_PUBLISH_S before now are left out. Errors (in d): a
 * broken file, no active key, an unreadable file. */
int as_keys_load(const char *dir, bool create, int64_t now, struct as_keys **out, struct diags *d);
void as_keys_free(struct as_keys *k);

/* Adds a new active key of alg (JWT_ALG_ES256 or JWT_ALG_EDDSA), retires
 * the active one at now and drops keys retired more than
 * AS_KEY_RETIRED_PUBLISH_S ago (with drop_old: every retired key at once,
 * for a key that leaked). Creates DIR and the file when missing. kid gets
 * the new key's id. */
int as_keys_rotate(const char *dir, unsigned alg, bool drop_old, int64_t now, char *kid,
                   size_t kid_cap, struct diags *d);

/* The JWK Set document of the published keys (public parts only). */
json_t *as_keys_jwks_json(const struct as_keys *k);
/* The same as a verifier key set (auth/jwt.h), for the local issuer. */
int as_keys_jwks(const struct as_keys *k, struct jwks **out, struct diags *d);

/* Signs a JWT: header {"alg","kid","typ":"at+jwt"} and the given claims,
 * with the active key. *out: the compact JWS (caller frees). */
int as_keys_sign(const struct as_keys *k, const json_t *claims, char **out);
