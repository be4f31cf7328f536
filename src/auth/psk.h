/* psk.h - the pre-shared keys of CoAPS (DTLS 1.2 PSK, RFC 7925 §4.2).
 *
 * One key a line:  IDENTITY:KEYHEX
 * IDENTITY is [A-Za-z0-9._@-]{1,64} and is the principal of the psk
 * scheme (policy.h: groups come from a users-file entry of the same
 * name). KEYHEX is the key itself in hex (either case, no separators),
 * 16 to 64 bytes (32 to 128 hex digits): DTLS needs the key itself, so
 * the file holds secrets and must be readable only by root and wotgw (a
 * file readable by others is loaded with a warning). "#" starts a comment
 * line; blank lines are ignored; CR LF line ends are accepted. The same
 * identity twice refuses the file (FILE:LINE). Keys are wiped on free and
 * never appear in a message.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../util.h"

#define PSK_MAX_FILE_SIZE (4u << 20)
#define PSK_MAX_ENTRIES   10000
#define PSK_MAX_LINE      1024
#define PSK_MAX_IDENTITY  64
#define PSK_MIN_KEY       16 /* bytes: 128 bits */
#define PSK_MAX_KEY       64

struct psk_entry {
    char *identity;
    uint8_t key[PSK_MAX_KEY];
    size_t key_len;
};

struct psk_store {
    struct psk_entry *v; /* sorted by identity */
    size_t n;
};

int psk_parse(const char *path, const char *text, size_t len, struct psk_store **out,
              struct diags *d);
/* Reads path (at most PSK_MAX_FILE_SIZE) and parses it; warns when the
 * file is readable or writable by others. */
int psk_load(const char *path, struct psk_store **out, struct diags *d);
void psk_free(struct psk_store *s);
/* The entry of an identity (len bytes, need not be NUL-terminated), or
 * NULL. s may be NULL. */
const struct psk_entry *psk_find(const struct psk_store *s, const char *identity, size_t len);
