/* apikeys.h - the API keys file managed by wotgw-passwd(8).
 *
 * One key a line:  NAME:SHA256HEX[:GROUP,GROUP...]
 * Only the SHA-256 of each key is stored (keys are 256-bit random
 * strings made by wotgw-passwd, so a plain hash is enough). The presented
 * key is hashed and compared with every entry in constant time.
 * NAME and GROUP are [A-Za-z0-9._@-]{1,64}; SHA256HEX is 64 hex digits
 * (either case). "#" starts a comment line; blank lines are ignored. A
 * duplicate name or a duplicate hash refuses the file (FILE:LINE).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../util.h"

#define APIKEYS_MAX_FILE_SIZE (16u << 20)
#define APIKEYS_MAX_ENTRIES   100000
#define APIKEYS_MAX_GROUPS    32
#define APIKEYS_MAX_LINE      4096
#define APIKEYS_MAX_KEY       1024 /* longer presented keys never match */

struct apikey {
    char *name;
    uint8_t sha256[32];
    char **groups; /* NULL-terminated, never NULL */
};

struct apikeys {
    struct apikey *v;
    size_t n;
};

int apikeys_parse(const char *path, const char *text, size_t len, struct apikeys **out,
                  struct diags *d);
int apikeys_load(const char *path, struct apikeys **out, struct diags *d);
void apikeys_free(struct apikeys *k);
/* The entry whose hash matches key, or NULL. */
const struct apikey *apikeys_verify(const struct apikeys *k, const char *key, size_t len);
