/* oscore_store.h - persisted sender sequence number bounds of the OSCORE
 * security contexts (RFC 8613 Appendix B.1.1), in <state_dir>/oscore/.
 *
 * One file per context, NAME.seq (NAME as in the contexts file, see
 * auth/oscore_ctx.h), holding one decimal number and a line feed: a bound
 * that no sender sequence number used so far reaches. oscore.h's
 * seq_store callback writes a new bound (next + K) before a number at or
 * over the old one is used, atomically (temp file, fsync, rename, fsync
 * of the directory), so after a crash or SIGKILL the stored bound is a
 * safe seq_start: no nonce is ever used twice. A missing file is bound 0
 * (a new context); a file that cannot be read or parsed refuses the
 * context (its numbers are not known). The directory is made 0700, the
 * files 0600; they hold no secret.
 */
#pragma once

#include <stdint.h>

#include "../util.h"

#define OSCORE_STORE_SUBDIR    "oscore"
#define OSCORE_STORE_DEFAULT_K 100 /* numbers persisted ahead of use */
#define OSCORE_STORE_MAX_FILE  64

struct oscore_store {
    char *dir; /* <state_dir>/oscore */
};

/* Makes <state_dir>/oscore when missing. */
int oscore_store_open(const char *state_dir, struct oscore_store **out, struct diags *d);
void oscore_store_free(struct oscore_store *s);
/* The stored bound of context name (0 when there is none). -EBADMSG (with
 * a diagnostic) for a damaged file, other negative errno for I/O. */
int oscore_store_get(const struct oscore_store *s, const char *name, uint64_t *bound,
                     struct diags *d);
/* Stores a bound durably. */
int oscore_store_put(const struct oscore_store *s, const char *name, uint64_t bound);
/* Removes the file of a context (after oscore del; missing is fine). */
int oscore_store_remove(const struct oscore_store *s, const char *name);
