/* cose_consumers.h - consumers' COSE keys (issue 6): the public keys that
 * sign commands (COSE_Sign1), and the symmetric keys a consumer shares
 * with wotgw for MACed commands (COSE_Mac0) and for the values and events
 * wotgw encrypts to it (COSE_Encrypt0).
 *
 * The file ([credentials] cose_keys) holds one key a line:
 *
 *     PRINCIPAL HEX
 *
 * PRINCIPAL is the principal as the broker plugin vouches for it and
 * wotgw logs it (PRINCIPAL=...: for a user, the user name); HEX is a
 * binary COSE_Key (RFC 9052 §7) in hex, with a kid (2), either
 *  - a public EC2 P-256 (ES256) or OKP Ed25519 (EdDSA) key, no private
 *    part: it verifies the principal's COSE_Sign1 commands; or
 *  - a Symmetric (kty 4) key with an alg (3) that binds it to one use:
 *    HMAC 256/64 (4) or HMAC 256/256 (5), verifying the principal's
 *    COSE_Mac0 commands, or A128GCM (1) or AES-CCM-16-64-128 (10),
 *    encrypting what wotgw publishes to the principal (cose_encrypt_to).
 * Blank lines and lines starting with '#' are ignored. A principal may
 * have several keys; their kids must differ. A file that holds any
 * symmetric key holds secrets: it is refused (-EPERM) when others have
 * any permission on it (chmod o-rwx), and its text is wiped after use.
 * `wotgw-passwd cose-consumer-add PRINCIPAL KEYFILE` adds a public key,
 * `wotgw-passwd cose-consumer-secret PRINCIPAL ALG OUTFILE` makes a
 * symmetric one.
 *
 * A command is accepted when it is a COSE_Sign1 (tag 18 optional) or a
 * COSE_Mac0 (tag 17 optional) whose kid names one of the keys of the
 * principal the broker plugin vouched for and whose signature or tag
 * verifies with that key (empty external AAD; the tag is compared in
 * constant time by objsec/cose.c). Which of the two an untagged message
 * is follows from the key its kid names.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "objsec/cose_key.h"
#include "util.h"

#define COSE_CONSUMERS_MAX_KEYS      4096
#define COSE_CONSUMERS_FILE_MAX      (1u << 20)
#define COSE_CONSUMERS_MAX_PRINCIPAL 256
#define COSE_ENCRYPT0_MEDIA          "application/cose; cose-type=\"cose-encrypt0\""

struct cose_consumer_key {
    char *principal;
    struct cose_key *key;
};

struct cose_consumers {
    struct cose_consumer_key *v;
    size_t n;
};

/* Reads the file; every problem goes to d as "PATH: message" (line
 * numbers) and the call fails with -EINVAL, -EPERM (a file with
 * symmetric keys that others may access) or the read error. */
int cose_consumers_load(const char *path, struct cose_consumers **out, struct diags *d);
/* The file's text as read (the fuzz target); path names it in the
 * diagnostics (and is stat()ed for the permission check when it holds
 * symmetric keys). 0, -EINVAL, -EPERM or -ENOMEM. */
int cose_consumers_parse(const char *path, const char *text, size_t len,
                         struct cose_consumers **out, struct diags *d);
void cose_consumers_free(struct cose_consumers *c); /* NULL ok */

/* Checks that msg is a COSE_Sign1 or COSE_Mac0 by one of principal's
 * keys. 0: the signed or MACed payload is *payload (pointing into msg)
 * and *plen, *ctype the media type of its content type header or NULL.
 * Else -EACCES with *why a reason for the consumer (static text). */
int cose_consumers_verify(const struct cose_consumers *c, const char *principal, const uint8_t *msg,
                          size_t len, const uint8_t **payload, size_t *plen, const char **ctype,
                          const char **why);

/* The key wotgw encrypts to principal with: the last A128GCM or
 * AES-CCM-16-64-128 key of principal in the file, or NULL. */
const struct cose_key *cose_consumers_enc_key(const struct cose_consumers *c,
                                              const char *principal);

/* payload as a tagged COSE_Encrypt0 under k: protected {1: k's alg, 3:
 * content type as cose_signer_sign1 puts it}, unprotected {4: k's kid,
 * 5: a fresh random IV}, empty external AAD. *out (caller frees). */
int cose_consumers_encrypt0(const struct cose_key *k, const char *content_type,
                            const uint8_t *payload, size_t len, uint8_t **out, size_t *out_len);
