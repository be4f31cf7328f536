/* cose_sign.h - per-thing COSE_Sign1 signing keys and the signing of
 * device answers (issue 6, "COSE wrapping on the other front ends").
 *
 * A thing whose [thing NAME] section says cose_sign = yes has its own
 * signing key, ES256 (P-256), kept as one binary COSE_Key (RFC 9052 §7,
 * with the private part d) in DIR/NAME.key, where DIR is
 * <state_dir>/cose (COSE_SIGN_DIR). The file is mode 0600 and written
 * atomically (temp file, fsync, rename) under DIR/NAME.key.lock. The
 * daemon creates a missing key when it loads its configuration (start and
 * reload); `wotgw-passwd cose-key NAME [--rotate]` creates or replaces it.
 *
 * Key id: the first COSE_SIGN_KID_LEN (8) bytes of the key's COSE Key
 * Thumbprint (RFC 9679: SHA-256 of the deterministic CBOR map of kty, crv,
 * x and y). The COSE_Key in the file carries that kid and alg ES256; a file
 * whose kid is not the thumbprint's is refused.
 *
 * Messages: a tagged COSE_Sign1 (tag 18) with protected {1 (alg): -7,
 * 3 (content type): the CoAP Content-Format number of the device's media
 * type when it has one (application/json 50, ...), else the media type
 * text}, unprotected {4 (kid): the 8 kid bytes}, the device's payload bytes
 * unchanged, and an empty external AAD: any COSE library verifies it with
 * the public key alone.
 *
 * Used by the HTTPS front end (on Accept: application/cose; cose-type=
 * "cose-sign1", for readproperty and invokeaction) and the MQTT front end
 * (every value and event published for such a thing); expose.h writes the
 * key and the forms into the exposed TD.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objsec/cose.h"
#include "objsec/cose_key.h"
#include "util.h"

#define COSE_SIGN_DIR      "cose" /* under [gateway] state_dir */
#define COSE_SIGN_KID_LEN  8
#define COSE_SIGN1_MEDIA   "application/cose; cose-type=\"cose-sign1\""
#define COSE_SIGN_FILE_MAX 4096

struct cose_signer {
    unsigned long refs;
    struct cose_key *key; /* with the private part */
    uint8_t kid[COSE_SIGN_KID_LEN];
    char kid_hex[2 * COSE_SIGN_KID_LEN + 1];
};

/* The key of thing in dir. Without the file: with create, makes dir (0700)
 * and a new ES256 key; without, -ENOENT. Problems go to d as "PATH:
 * message". -EACCES / -EPERM / -EROFS when the file or directory may not
 * be read or written (the caller decides whether that is fatal). */
int cose_signer_load(const char *dir, const char *thing, bool create, struct cose_signer **out,
                     struct diags *d);
/* A new ES256 key for thing in dir, replacing the old one; kid_hex
 * (2 * COSE_SIGN_KID_LEN + 1 bytes) gets the new key id. */
int cose_signer_rotate(const char *dir, const char *thing, char *kid_hex, struct diags *d);

struct cose_signer *cose_signer_ref(struct cose_signer *s);
void cose_signer_unref(struct cose_signer *s); /* NULL ok */

/* The first COSE_SIGN_KID_LEN bytes of k's RFC 9679 thumbprint. */
int cose_signer_kid(const struct cose_key *k, uint8_t kid[COSE_SIGN_KID_LEN]);

/* The public key as a JWK (RFC 7517/7518): kty, crv, x, y (base64url),
 * alg "ES256", use "sig" and kid (kid_hex). New reference or NULL. */
json_t *cose_signer_jwk(const struct cose_signer *s);

/* payload as a tagged COSE_Sign1; content_type: the device's media type
 * (NULL: none, no content type header). *out (caller frees) and *out_len. */
int cose_signer_sign1(const struct cose_signer *s, const char *content_type, const uint8_t *payload,
                      size_t len, uint8_t **out, size_t *out_len);

/* The CoAP Content-Format number of a media type (coap_util.h's table:
 * parameters and case as it treats them), or -1 when it has none. */
int cose_content_format(const char *media_type);
/* The content type header (3) of a message made for content_type (NULL or
 * empty: none): its CoAP Content-Format number when it has one, else the
 * media type text without trailing blanks (none when longer than
 * COSE_MAX_CTYPE_STR). p->ctype_str points into content_type. */
void cose_params_content_type(struct cose_params *p, const char *content_type);

/* What an Accept header asks for. */
struct cose_accept {
    bool sign1;  /* application/cose (cose-type absent or "cose-sign1"), q > 0 */
    bool others; /* any other media range with q > 0 (also * / *) */
};
void cose_accept_parse(const char *accept, struct cose_accept *out);
