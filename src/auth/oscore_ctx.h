/* oscore_ctx.h - the OSCORE security contexts file (RFC 8613), managed by
 * wotgw-passwd(8) (oscore add, oscore del, oscore list) and referenced by
 * [credentials] oscore in wotgw.conf(5); used by the OSCORE server
 * (objsec/oscore_server.h) that the front ends call.
 *
 * One context a line, fields separated by blanks (spaces or tabs):
 *   NAME sender_id=HEX recipient_id=HEX [id_context=HEX]
 *        master_secret=HEX | master_secret_b64=B64URL
 *        [master_salt=HEX | master_salt_b64=B64URL]
 * seen from the gateway: sender_id is the gateway's Sender ID (the peer's
 * Recipient ID), recipient_id the peer's Sender ID, i.e. the kid its
 * requests carry. NAME is [A-Za-z0-9._@-]{1,64} and is the principal of
 * the oscore scheme (like a PSK identity: groups come from a users-file
 * entry of the same name). IDs are 0 to 7 bytes (an empty value is the
 * empty ID) and differ; id_context, when present, 0 to 64 bytes (absent:
 * no ID Context; present but empty: the empty byte string); the master
 * secret is 16 to 64 bytes, the master salt 0 to 64 (absent: empty). HEX
 * is hex digits in either case, B64URL base64url without padding. Only
 * AES-CCM-16-64-128 with HKDF-SHA-256 (the RFC 8613 defaults). Each key
 * at most once per line; unknown keys refuse the line.
 *
 * The same NAME twice, or two contexts with the same recipient_id and
 * id_context (a request could not tell them apart), refuse the file
 * (FILE:LINE), like any malformed line. "#" starts a comment line; blank
 * lines are ignored; CR LF line ends are accepted. The file holds master
 * secrets: a file with any permission for others (mode & 007) is refused;
 * wotgw-passwd writes it 0640, keeping owner and group (root:wotgw).
 * Secrets are wiped on free and never appear in a message.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../objsec/oscore.h"
#include "../util.h"

#define OSCORE_CTX_MAX_FILE_SIZE (4u << 20)
#define OSCORE_CTX_MAX_ENTRIES   10000
#define OSCORE_CTX_MAX_LINE      1024
#define OSCORE_CTX_MAX_NAME      64
#define OSCORE_CTX_MIN_SECRET    16

struct oscore_ctx_entry {
    char *name;
    uint8_t sender_id[OSCORE_MAX_ID];
    size_t sender_id_len;
    uint8_t recipient_id[OSCORE_MAX_ID];
    size_t recipient_id_len;
    bool has_id_context;
    uint8_t id_context[OSCORE_MAX_ID_CONTEXT];
    size_t id_context_len;
    uint8_t master_secret[OSCORE_MAX_MASTER_SECRET]; /* secret */
    size_t master_secret_len;
    uint8_t master_salt[OSCORE_MAX_MASTER_SALT];
    size_t master_salt_len;
};

struct oscore_ctx_store {
    struct oscore_ctx_entry *v; /* sorted by name */
    size_t n;
};

int oscore_ctx_parse(const char *path, const char *text, size_t len, struct oscore_ctx_store **out,
                     struct diags *d);
/* Reads path (at most OSCORE_CTX_MAX_FILE_SIZE) and parses it; refuses a
 * file with permissions for others. */
int oscore_ctx_load(const char *path, struct oscore_ctx_store **out, struct diags *d);
void oscore_ctx_store_free(struct oscore_ctx_store *s);
/* The entry called name (NUL-terminated), or NULL. s may be NULL. */
const struct oscore_ctx_entry *oscore_ctx_find(const struct oscore_ctx_store *s, const char *name);
/* One line (without its line end) by the rules above: 0, or -EINVAL with
 * a reason (never a secret) in err. For wotgw-passwd. */
int oscore_ctx_check_line(const char *line, char *err, size_t errlen);
/* Fills p (pointers into e) for oscore_ctx_new(); sequence numbers and
 * the replay floor are left 0 for the caller. */
void oscore_ctx_entry_params(const struct oscore_ctx_entry *e, struct oscore_ctx_params *p);
