/* certmap.h - maps verified TLS/DTLS client certificates to principals.
 *
 * One mapping a line:  cn:COMMON_NAME USER   or   sha256:HEX USER
 * (HEX: the SHA-256 of the DER certificate, either case, with or without
 * ':' between byte pairs). USER is the last blank-separated word
 * ([A-Za-z0-9._@-]{1,64}); everything between "cn:" and it (outer blanks
 * trimmed) is the CN, so a CN may contain spaces (at most 256 bytes, no
 * control characters; compared exactly). A certificate that the
 * configured CA verified but that is not listed maps to its CN. "#"
 * starts a comment line; blank lines are ignored. The same CN or
 * fingerprint twice refuses the file (FILE:LINE).
 */
#pragma once

#include "../util.h"

#define CERTMAP_MAX_FILE_SIZE (4u << 20)
#define CERTMAP_MAX_ENTRIES   10000
#define CERTMAP_MAX_LINE      1024
#define CERTMAP_MAX_CN        256

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
 * fingerprint first, then CN), else cn itself. NULL if both are NULL.
 * sha256_hex may be in either case and contain ':'; a malformed one is
 * ignored. m may be NULL (principal = cn). */
const char *certmap_principal(const struct certmap *m, const char *cn, const char *sha256_hex);
