/* oscore_server.h - the server side of OSCORE (RFC 8613) for the front
 * ends (CoAP, and HTTP per §11): the table of security contexts from the
 * contexts file (auth/oscore_ctx.h), request verification with the
 * answers of §8.2 for failures, response protection, sender sequence
 * numbers persisted ahead of use (Appendix B.1.1, objsec/oscore_store.h)
 * and the replay window rebuilt after a (re)start with the Echo option
 * (Appendix B.1.2, RFC 9175).
 *
 * How a front end uses it, per request carrying an OSCORE option:
 *
 *   struct oscore_srv_result res;
 *   switch (oscore_server_unprotect(srv, &outer, buf, cap, &res)) {
 *   case OSCORE_SRV_OK:        route res.inner (res.name is the principal
 *                              of the oscore scheme); protect the answer
 *                              with oscore_server_protect_response(srv,
 *                              &res, ...) and send the outer message;
 *   case OSCORE_SRV_CHALLENGE: send oscore_server_challenge(srv, &res, ...):
 *                              a protected 4.01 Unauthorized with an inner
 *                              Echo option and a Partial IV of its own
 *                              (B.1.2: the request's nonce may have been
 *                              answered before); the request is NOT
 *                              processed;
 *   case OSCORE_SRV_ERROR:     send an unprotected answer: res.code with
 *                              res.diagnostic as the payload (text, may be
 *                              NULL) and an outer Max-Age: 0 option.
 *   }
 *
 * Token, message ID and type stay with the front end (oscore.h). The
 * result points into the input message, into buf, and into the server:
 * use it before the server is freed (a reload) and before the next call.
 *
 * Context lookup: by the kid (the context's recipient_id) and, when the
 * request carries one, the kid context (the id_context). Without a kid
 * context, every context with that recipient_id is tried (the contexts
 * file refuses two with the same recipient_id and id_context).
 *
 * Replay after a restart (B.1.2): a new server trusts no replay window.
 * Each context starts "unsynchronised": its first verified request is
 * answered with a challenge carrying a fresh random Echo value
 * (OSCORE_ECHO_LEN bytes, valid echo_lifetime_us, one pending value per
 * context, reused by further challenges while valid). A request that is
 * verified and carries that value as an inner Echo option (252, Class E)
 * synchronises the context: its Partial IV becomes the only number seen
 * and the window's floor; nothing older is accepted afterwards. The Echo
 * option is removed from the inner request given to the front end (also
 * a stale one on a synchronised context).
 *
 * §8.2 answers (res.code, res.diagnostic), by res.err:
 *   -EBADMSG  OSCORE option missing, repeated or malformed, no kid or
 *             Partial IV        4.02 Bad Option   "Failed to decode COSE"
 *   -ENOENT   no context for kid / kid context
 *                               4.01 Unauthorized "Security context not found"
 *   -EALREADY, -ESTALE  replayed or older than the window
 *                               4.01 Unauthorized "Replay detected"
 *   -EACCES   AEAD verification failed
 *                               4.00 Bad Request  "Decryption failed"
 *   -EPROTO   decrypted, but the inner message is malformed
 *                               4.00 Bad Request  "Malformed inner message"
 *   other     (-ENOBUFS, -ENOMEM, ...) 5.00 Internal Server Error, no text
 * Every failure is logged (LOG_NOTICE) with the kid and kid context in hex
 * and the context's name when known; never a key.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../auth/oscore_ctx.h"
#include "../util.h"
#include "oscore.h"
#include "oscore_store.h"

#define OSCORE_OPT_ECHO              252
#define OSCORE_ECHO_LEN              12
#define OSCORE_ECHO_LIFETIME_DEFAULT (30 * UINT64_C(1000000)) /* 30 s */

/* CoAP codes of the answers */
#define OSCORE_CODE_BAD_REQUEST  0x80 /* 4.00 */
#define OSCORE_CODE_UNAUTHORIZED 0x81 /* 4.01 */
#define OSCORE_CODE_BAD_OPTION   0x82 /* 4.02 */
#define OSCORE_CODE_INTERNAL     0xa0 /* 5.00 */

struct oscore_server;
struct oscore_srv_entry;

struct oscore_server_params {
    const struct oscore_ctx_store *contexts; /* copied: may be freed afterwards */
    struct oscore_store *store;              /* NULL: sequence numbers not persisted
                                                (tests); else kept, not owned */
    uint64_t seq_interval;                   /* K; 0: OSCORE_STORE_DEFAULT_K */
    uint64_t echo_lifetime_us;               /* 0: OSCORE_ECHO_LIFETIME_DEFAULT */
    uint64_t (*now_us)(void);                /* NULL: CLOCK_MONOTONIC (tests set one) */
};

enum oscore_srv_status {
    OSCORE_SRV_OK,
    OSCORE_SRV_CHALLENGE,
    OSCORE_SRV_ERROR,
};

struct oscore_srv_result {
    enum oscore_srv_status status;
    int err;                        /* ERROR: negative errno (see above); else 0 */
    uint8_t code;                   /* ERROR: the answer's CoAP code */
    const char *diagnostic;         /* ERROR: its diagnostic payload, or NULL */
    struct oscore_msg inner;        /* OK: the decrypted request */
    const char *name;               /* OK, CHALLENGE: the context's name (principal) */
    struct oscore_srv_entry *entry; /* OK, CHALLENGE: for the answer */
    struct oscore_req req;          /* OK, CHALLENGE: for the answer */
};

/* A context that cannot be set up (bad parameters, damaged sequence
 * file) is left out with an error in d; the others work. Returns 0,
 * -ENOMEM or -EINVAL for bad arguments. */
int oscore_server_new(const struct oscore_server_params *p, struct oscore_server **out,
                      struct diags *d);
void oscore_server_free(struct oscore_server *s);
/* What a front end calls at start and reload: the contexts file (see
 * auth/oscore_ctx.h; refused with permissions for others) and, with
 * state_dir, the sequence number store in state_dir/oscore (owned by the
 * server). K = OSCORE_STORE_DEFAULT_K, Echo lifetime the default. Errors
 * in the file refuse it (negative errno, diagnostics in d); a context
 * that cannot be set up is left out with an error in d. */
int oscore_server_load(const char *contexts_path, const char *state_dir, struct oscore_server **out,
                       struct diags *d);
/* Number of contexts in the table. */
size_t oscore_server_count(const struct oscore_server *s);
/* After a reload: contexts of old with the same name and the same keys
 * and IDs keep their state (sequence numbers, replay window,
 * synchronisation, pending Echo) in s, so a reload needs no new Echo
 * exchange. old is not changed; free it afterwards. */
void oscore_server_adopt(struct oscore_server *s, const struct oscore_server *old);
/* A result of a server that a reload replaced, moved to s for a long-lived
 * exchange (Observe notifications, which take new sequence numbers): the
 * entry of the same name and the same keys and IDs, its sequence number
 * not behind the old entry's. res must still be valid (old server held).
 * 0, or -ENOENT when s has no such context (removed or changed). */
int oscore_server_rebind(struct oscore_server *s, struct oscore_srv_result *res);
/* Whether the context name is synchronised (tests, status). */
bool oscore_server_synchronised(const struct oscore_server *s, const char *name);

/* in: the outer request (with its OSCORE option). buf/cap: work buffer
 * for the plaintext (at least in->payload_len). Fills res, returns
 * res->status. */
enum oscore_srv_status oscore_server_unprotect(struct oscore_server *s, const struct oscore_msg *in,
                                               uint8_t *buf, size_t cap,
                                               struct oscore_srv_result *res);
/* Protects the answer plain to an OK request (oscore.h's
 * oscore_protect_response; new_piv for Observe notifications). */
int oscore_server_protect_response(struct oscore_server *s, const struct oscore_srv_result *res,
                                   bool new_piv, const struct oscore_msg *plain,
                                   struct oscore_msg *out, uint8_t *buf, size_t cap);
/* The protected 4.01 with the pending Echo for a CHALLENGE result. */
int oscore_server_challenge(struct oscore_server *s, const struct oscore_srv_result *res,
                            struct oscore_msg *out, uint8_t *buf, size_t cap);
/* The §8.2 answer for an error (table above). */
void oscore_server_error_answer(int err, uint8_t *code, const char **diagnostic);
