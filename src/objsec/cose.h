/* cose.h - COSE single-recipient messages (RFC 9052, algorithms RFC 9053)
 * on OpenSSL 3 EVP: COSE_Sign1 (ES256, EdDSA/Ed25519), COSE_Mac0 (HMAC
 * 256/64, HMAC 256/256), COSE_Encrypt0 (AES-CCM-16-64-128, A128GCM).
 *
 * Messages are decoded zero-copy (struct cose_msg points into the
 * caller's buffer) with cbor.h's bounded decoder; tags 18/17/16 are
 * optional on input unless the caller requires them, and a wrong tag is
 * refused. Header rules: the protected bucket is a bstr-wrapped map (an
 * empty bstr, or h'A0' which counts as empty in the *_structure); labels
 * are ints or text; a label may appear only once across both buckets;
 * "crit" must be protected and may only name labels this code
 * understands (1..6) that are present in the protected bucket; IV and
 * Partial IV exclude each other; alg may sit in either bucket.
 *
 * Keys (cose_key.h) are bound to algorithms: the message's alg must be
 * one the key allows, and is checked before any cryptography. ES256
 * signatures are raw r||s (64 bytes). Tags are compared in constant time.
 *
 * Errors (negative errno):
 *   -EBADMSG       malformed message (CBOR, structure, header rules, tag)
 *   -ENOTSUP       unsupported algorithm (also: alg as text), critical
 *                  header not understood
 *   -EKEYREJECTED  the key does not fit the algorithm or operation
 *   -ENOKEY        signing without a private key; Partial IV without a
 *                  Base IV in the key
 *   -EACCES        signature, MAC tag or AEAD tag does not verify
 *   -ENOBUFS       output buffer too small
 *   -E2BIG         over a size limit
 *   -EINVAL        bad arguments
 *   -EIO, -ENOMEM  OpenSSL or allocation failure
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cose_key.h"

enum cose_type {
    COSE_TYPE_ANY = 0, /* cose_decode: any of the three, tag required */
    COSE_ENCRYPT0 = 16,
    COSE_MAC0 = 17,
    COSE_SIGN1 = 18,
};

/* header parameter labels */
#define COSE_HDR_ALG        1
#define COSE_HDR_CRIT       2
#define COSE_HDR_CTYPE      3
#define COSE_HDR_KID        4
#define COSE_HDR_IV         5
#define COSE_HDR_PARTIAL_IV 6

#define COSE_MAX_MESSAGE      (1u << 20) /* whole encoded message */
#define COSE_MAX_EXTERNAL_AAD 65536
#define COSE_MAX_KID          COSE_KEY_MAX_KID
#define COSE_MAX_IV           16
#define COSE_MAX_HEADERS      32 /* labels per bucket */
#define COSE_MAX_CRIT         8
#define COSE_MAX_CTYPE_STR    128
/* cap >= payload length + COSE_OVERHEAD is always enough for *_create */
#define COSE_OVERHEAD 320

struct cose_headers {
    bool has_alg;
    bool alg_protected;
    bool alg_unsupported; /* alg present but a text string */
    int64_t alg;
    bool has_ctype;
    uint64_t ctype;        /* content format when an uint */
    const char *ctype_str; /* when a text string (not NUL-terminated) */
    size_t ctype_str_len;
    bool has_kid;
    const uint8_t *kid;
    size_t kid_len;
    bool has_iv;
    const uint8_t *iv;
    size_t iv_len;
    bool has_partial_iv;
    const uint8_t *partial_iv;
    size_t partial_iv_len;
};

struct cose_msg {
    enum cose_type type;
    bool tagged;
    const uint8_t *protected_hdr; /* content of the protected bstr as sent */
    size_t protected_len;
    struct cose_headers hdr; /* both buckets merged */
    bool detached;           /* payload was nil */
    const uint8_t *payload;  /* Sign1/Mac0 payload; Encrypt0 ciphertext||tag */
    size_t payload_len;
    const uint8_t *tag; /* Sign1 signature / Mac0 tag; NULL for Encrypt0 */
    size_t tag_len;
};

/* Decodes a message of the given type (tag optional) or, with
 * COSE_TYPE_ANY, any tagged Sign1/Mac0/Encrypt0. */
int cose_decode(const uint8_t *buf, size_t len, enum cose_type type, struct cose_msg *msg);

/* What to put into the headers of a new message. */
struct cose_params {
    int64_t alg;          /* COSE_ALG_NONE: cose_key_default_alg() */
    bool alg_unprotected; /* default: alg in the protected bucket */
    const uint8_t *kid;   /* NULL: no kid */
    size_t kid_len;
    bool kid_protected; /* default: kid in the unprotected bucket */
    bool has_ctype;     /* content format (3), protected */
    uint64_t ctype;
    const char *ctype_str; /* with has_ctype: a media type text instead of ctype */
    size_t ctype_str_len;  /* 1..COSE_MAX_CTYPE_STR */
    /* Encrypt0 only. iv: the full nonce (unprotected IV, 5). partial_iv:
     * sent as Partial IV (6); the nonce is the key's Base IV (right-padded
     * with zeros to the nonce length) XOR the left-padded Partial IV.
     * Neither: a random IV is generated and sent. */
    const uint8_t *iv;
    size_t iv_len;
    const uint8_t *partial_iv;
    size_t partial_iv_len;
    bool untagged;
    bool detached; /* Sign1/Mac0: send nil instead of the payload */
    const uint8_t *external_aad;
    size_t external_aad_len;
};

/* Options for checking a received message. NULL = defaults. */
struct cose_verify_opts {
    const uint8_t *external_aad;
    size_t external_aad_len;
    const uint8_t *detached_payload; /* when the message has nil */
    size_t detached_len;
    bool require_tag;
};

int cose_sign1_create(const struct cose_key *key, const struct cose_params *p,
                      const uint8_t *payload, size_t payload_len, uint8_t *out, size_t cap,
                      size_t *out_len);
int cose_mac0_create(const struct cose_key *key, const struct cose_params *p,
                     const uint8_t *payload, size_t payload_len, uint8_t *out, size_t cap,
                     size_t *out_len);
int cose_encrypt0_create(const struct cose_key *key, const struct cose_params *p,
                         const uint8_t *plaintext, size_t plaintext_len, uint8_t *out, size_t cap,
                         size_t *out_len);

/* On success msg (may be NULL) describes the message; msg->payload is
 * the verified payload (the detached one when the message had nil). */
int cose_sign1_verify(const struct cose_key *key, const uint8_t *buf, size_t len,
                      const struct cose_verify_opts *o, struct cose_msg *msg);
int cose_mac0_verify(const struct cose_key *key, const uint8_t *buf, size_t len,
                     const struct cose_verify_opts *o, struct cose_msg *msg);
/* plaintext: cap >= ciphertext length is always enough. */
int cose_encrypt0_decrypt(const struct cose_key *key, const uint8_t *buf, size_t len,
                          const struct cose_verify_opts *o, uint8_t *plaintext, size_t cap,
                          size_t *plaintext_len, struct cose_msg *msg);

/* ---- building blocks (also used by oscore.c) ------------------------- */

/* AEAD parameters of alg: 0, or -ENOTSUP. */
int cose_aead_params(int64_t alg, size_t *key_len, size_t *nonce_len, size_t *tag_len);
/* out gets ciphertext||tag (pt_len + tag_len bytes). */
int cose_aead_encrypt(int64_t alg, const uint8_t *key, size_t key_len, const uint8_t *nonce,
                      size_t nonce_len, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                      size_t pt_len, uint8_t *out, size_t cap, size_t *out_len);
/* ct is ciphertext||tag; -EACCES when the tag does not verify (out is
 * wiped then). */
int cose_aead_decrypt(int64_t alg, const uint8_t *key, size_t key_len, const uint8_t *nonce,
                      size_t nonce_len, const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                      size_t ct_len, uint8_t *out, size_t cap, size_t *out_len);
/* Enc_structure ["Encrypt0", protected, external_aad] (RFC 9052 §5.3). */
int cose_enc_structure(const uint8_t *prot, size_t prot_len, const uint8_t *ext, size_t ext_len,
                       uint8_t *out, size_t cap, size_t *out_len);
