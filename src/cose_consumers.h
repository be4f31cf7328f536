/* cose_consumers.h - consumers' COSE_Sign1 public keys, for commands that
 * must be signed by the consumer who sends them (issue 6: "commands from
 * consumers are accepted as COSE_Sign1 from registered consumer keys").
 *
 * The file ([credentials] cose_keys) holds one key a line:
 *
 *     PRINCIPAL HEX
 *
 * PRINCIPAL is the principal as the broker plugin vouches for it and
 * wotgw logs it (PRINCIPAL=...: for a user, the user name); HEX is a
 * binary COSE_Key (RFC 9052 §7) in hex: a public EC2 P-256 (ES256) or
 * OKP Ed25519 (EdDSA) key with a kid (2), and no private part. Blank
 * lines and lines starting with '#' are ignored. A principal may have
 * several keys; their kids must differ.
 * `wotgw-passwd cose-consumer-add PRINCIPAL KEYFILE` adds a key.
 *
 * A command is accepted when it is a COSE_Sign1 (tag 18 optional) whose
 * kid names one of the keys of the principal the broker plugin vouched
 * for and whose signature verifies with that key (empty external AAD).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "objsec/cose_key.h"
#include "util.h"

#define COSE_CONSUMERS_MAX_KEYS 4096
#define COSE_CONSUMERS_FILE_MAX (1u << 20)

struct cose_consumer_key {
    char *principal;
    struct cose_key *key;
};

struct cose_consumers {
    struct cose_consumer_key *v;
    size_t n;
};

/* Reads the file; every problem goes to d as "PATH: message" (line
 * numbers) and the call fails with -EINVAL (or the read error). */
int cose_consumers_load(const char *path, struct cose_consumers **out, struct diags *d);
void cose_consumers_free(struct cose_consumers *c); /* NULL ok */

/* Checks that msg is a COSE_Sign1 by one of principal's keys. 0: the
 * signed payload is *payload (pointing into msg) and *plen, *ctype the
 * media type of its content type header or NULL. Else -EACCES with *why
 * a reason for the consumer (static text). */
int cose_consumers_verify(const struct cose_consumers *c, const char *principal, const uint8_t *msg,
                          size_t len, const uint8_t **payload, size_t *plen, const char **ctype,
                          const char **why);
