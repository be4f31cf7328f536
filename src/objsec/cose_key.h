/* cose_key.h - COSE_Key (RFC 9052 §7, RFC 9053 §7) reading, writing and
 * generation, on OpenSSL 3 EVP.
 *
 * Supported key types: OKP with crv Ed25519 (6), EC2 with crv P-256 (1),
 * Symmetric (4). Other kty/crv values, compressed EC points (y given as a
 * bool) and alg given as a text string are refused with -ENOTSUP.
 *
 * A key is bound to its algorithms (cose_key_allows): EC2 P-256 only does
 * ES256, OKP Ed25519 only EdDSA; a symmetric key does the algorithms its
 * length fits (16 bytes: AES-CCM-16-64-128 and A128GCM; 16..64 bytes:
 * HMAC 256/64 and HMAC 256/256). If the COSE_Key names an "alg" (3), only
 * that algorithm is allowed; if it has "key_ops" (4), only those
 * operations.
 *
 * Secret material (d, k) lives in the struct and is wiped by
 * cose_key_free(). It never appears in an error or diagnostic.
 *
 * Errors: -EBADMSG malformed CBOR or COSE_Key structure (wrong types,
 * duplicate labels, missing kty), -ENOTSUP unsupported kty/crv/alg,
 * -EKEYREJECTED wrong lengths, a point not on the curve, a private key not
 * matching the public one, an alg that does not fit the key type, -E2BIG
 * over a limit, -ENOMEM.
 */
#pragma once

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util.h"

/* key types and curves (IANA COSE Key Types / Elliptic Curves) */
enum cose_kty {
    COSE_KTY_OKP = 1,
    COSE_KTY_EC2 = 2,
    COSE_KTY_SYMMETRIC = 4,
};

enum cose_crv {
    COSE_CRV_P256 = 1,
    COSE_CRV_ED25519 = 6,
};

/* algorithms (IANA COSE Algorithms) this library implements */
enum cose_alg {
    COSE_ALG_NONE = 0,
    COSE_ALG_A128GCM = 1,
    COSE_ALG_HMAC256_64 = 4,
    COSE_ALG_HMAC256_256 = 5,
    COSE_ALG_AES_CCM_16_64_128 = 10,
    COSE_ALG_ES256 = -7,
    COSE_ALG_EDDSA = -8,
};

/* key_ops values (RFC 9052 Table 5) as bits: 1u << value */
enum cose_key_op {
    COSE_KEY_OP_SIGN = 1,
    COSE_KEY_OP_VERIFY = 2,
    COSE_KEY_OP_ENCRYPT = 3,
    COSE_KEY_OP_DECRYPT = 4,
    COSE_KEY_OP_MAC_CREATE = 9,
    COSE_KEY_OP_MAC_VERIFY = 10,
};

/* COSE_Key labels */
#define COSE_KEY_LABEL_KTY     1
#define COSE_KEY_LABEL_KID     2
#define COSE_KEY_LABEL_ALG     3
#define COSE_KEY_LABEL_KEY_OPS 4
#define COSE_KEY_LABEL_BASE_IV 5
#define COSE_KEY_LABEL_CRV     (-1) /* OKP, EC2 */
#define COSE_KEY_LABEL_K       (-1) /* Symmetric */
#define COSE_KEY_LABEL_X       (-2)
#define COSE_KEY_LABEL_Y       (-3)
#define COSE_KEY_LABEL_D       (-4)

#define COSE_KEY_MAX_KID       64
#define COSE_KEY_MAX_SYMMETRIC 64
#define COSE_KEY_MIN_HMAC      16
#define COSE_KEY_MAX_BASE_IV   16
#define COSE_KEY_MAX_LABELS    32 /* entries of one COSE_Key map */
#define COSE_KEYSET_MAX        64 /* keys of one COSE_KeySet */
#define COSE_KEY_FILE_MAX      (64u << 10)
#define COSE_KEY_ENCODED_MAX   256 /* cose_key_encode never needs more */

/* Treat as read-only; use the functions below. */
struct cose_key {
    int kty;      /* enum cose_kty */
    int crv;      /* enum cose_crv, 0 for symmetric keys */
    int64_t alg;  /* COSE_ALG_NONE when the key does not name one */
    unsigned ops; /* key_ops bits (1u << enum cose_key_op), 0 = any */
    uint8_t kid[COSE_KEY_MAX_KID];
    size_t kid_len;
    bool has_kid;
    uint8_t base_iv[COSE_KEY_MAX_BASE_IV];
    size_t base_iv_len;
    uint8_t x[32], y[32]; /* public key (EC2: x, y; OKP: x) */
    bool has_private;
    uint8_t d[32];                     /* private scalar / seed: secret */
    uint8_t k[COSE_KEY_MAX_SYMMETRIC]; /* symmetric key: secret */
    size_t k_len;
    EVP_PKEY *pkey; /* OKP and EC2 */
};

/* Inputs of cose_key_new; lengths are checked. NULL pointers = absent. */
struct cose_key_params {
    int kty;
    int crv;
    int64_t alg;
    unsigned ops;
    const uint8_t *kid;
    size_t kid_len;
    const uint8_t *base_iv;
    size_t base_iv_len;
    const uint8_t *x, *y, *d, *k;
    size_t x_len, y_len, d_len, k_len;
};

int cose_key_new(const struct cose_key_params *p, struct cose_key **out);
/* One COSE_Key (a CBOR map). */
int cose_key_decode(const uint8_t *buf, size_t len, struct cose_key **out);
/* A COSE_KeySet (array of COSE_Key) or a single COSE_Key. */
int cose_keyset_decode(const uint8_t *buf, size_t len, struct cose_key ***keys, size_t *n);
/* Reads a file holding a binary COSE_Key or COSE_KeySet. Every problem
 * is reported to d as "PATH: message" and the call fails with -EINVAL;
 * duplicate kids in one file are an error. */
int cose_key_read_file(const char *path, struct cose_key ***keys, size_t *n, struct diags *d);
/* A fresh random key for alg (ES256, EdDSA, HMAC: 32 bytes, AES: 16). */
int cose_key_generate(int64_t alg, const uint8_t *kid, size_t kid_len, struct cose_key **out);
/* Deterministic COSE_Key encoding; with_private adds d / k (a symmetric
 * key without with_private gives -EPERM). */
int cose_key_encode(const struct cose_key *k, bool with_private, uint8_t *buf, size_t cap,
                    size_t *len);
void cose_key_free(struct cose_key *k);
void cose_keys_free(struct cose_key **v, size_t n);

/* 0 if the key may do op with alg, else -EKEYREJECTED (or -ENOTSUP for
 * an algorithm this library does not implement). */
int cose_key_allows(const struct cose_key *k, int64_t alg, enum cose_key_op op);
/* The algorithm a key implies when the caller names none: the key's alg,
 * ES256 for P-256, EdDSA for Ed25519; symmetric keys without an alg are
 * ambiguous (-EINVAL). */
int cose_key_default_alg(const struct cose_key *k, int64_t *alg);
