/* certmap.h - maps verified TLS/DTLS client certificates to principals.
 *
 * One mapping a line:  cn:COMMON_NAME USER   or   sha256:HEX USER
 * (HEX: the SHA-256 of the DER certificate, with or without ':'). A
 * certificate that the configured CA verified but that is not listed
 * maps to its CN. "#" starts a comment line.
 */
#pragma once

#include "../util.h"

struct certmap_entry {
    char *cn;         /* or NULL */
    char *sha256_hex; /* lower-case, 64 chars, or NULL */
    char *user;
};

struct certmap {
    struct certmap_entry *v;
    size_t n;
};

int certmap_parse(const char *path, const char *text, size_t len, struct certmap **out,
                  struct diags *d);
int certmap_load(const char *path, struct certmap **out, struct diags *d);
void certmap_free(struct certmap *m);
/* The principal for a verified certificate: the mapped user (by
 * fingerprint first, then CN), else cn itself. NULL if both are NULL. */
const char *certmap_principal(const struct certmap *m, const char *cn, const char *sha256_hex);
