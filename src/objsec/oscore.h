/* oscore.h - OSCORE (RFC 8613) message protection, on OpenSSL 3 EVP.
 *
 * Scope: the security context (derivation §3.2, AEAD AES-CCM-16-64-128
 * and HKDF-SHA-256 only), the OSCORE option value (§6.1), nonce (§5.2),
 * AAD (§5.4), request and response protection (§8), the replay window
 * (§7.4) and sender sequence number persistence (Appendix B.1.1). It does
 * no CoAP parsing beyond what OSCORE needs: a CoAP front end fills a
 * struct oscore_msg from its message and builds its message from one.
 *
 * ---- struct oscore_msg: the interface to the CoAP front end ------------
 *
 *   code     the CoAP code byte (class << 5 | detail): 0x01 GET, 0x02 POST,
 *            0x45 2.05 Content, ...
 *   opts     the message's options, sorted by number (repeated options in
 *            their original order); value pointers are borrowed, never
 *            copied
 *   payload  the payload without the 0xFF marker (NULL/0 when none)
 *
 * Token, message ID, type and version stay with the front end: OSCORE does
 * not protect them and the outer message keeps the original ones.
 *
 * Protecting turns the plain message (all options) into the outer one:
 *   - Class E options (everything not listed below, including unknown
 *     ones, RFC 8613 §4.1) are encrypted. Max-Age, Block1/2, Size1/2 and
 *     No-Response are protected as Inner options; Outer ones, if a proxy
 *     needs them, are the front end's business after protection (and
 *     must be removed before unprotection: block-wise reassembly of the
 *     outer message comes first).
 *   - Class U options stay outside: Uri-Host (3), Uri-Port (7), Proxy-
 *     Scheme (39). Proxy-Uri (35) is refused (-ENOTSUP): the front end
 *     decomposes it first (§4.1.3.3).
 *   - Observe (6) is both: the Inner and the Outer option carry the same
 *     value; on unprotection the Inner value is the one returned.
 *   - The outer code is POST (0.02) for requests, FETCH (0.05) with
 *     Observe; 2.04 Changed for responses, 2.05 Content with Observe.
 *   - The outer options are the Class U ones plus the OSCORE option (9),
 *     sorted; the outer payload is the ciphertext.
 * Unprotecting gives back the inner code, the Inner options merged with
 * the outer Class U options (sorted; outer Class E options are dropped),
 * and the inner payload.
 *
 * Memory: the output message's option values and payload point either
 * into the input message or into the caller's work buffer buf; keep both
 * alive while using the output. Needed capacity: for protection, the
 * plaintext size (1 + encoded options + 1 + payload) + OSCORE_OVERHEAD;
 * for unprotection, the input payload length.
 *
 * ---- sequence numbers (Appendix B.1.1) ---------------------------------
 * A context with a seq_store callback hands out sender sequence numbers
 * only below a bound that the callback has stored durably: when the next
 * number reaches the bound, it calls seq_store(userdata, next + K) first
 * (K = seq_interval) and fails (with the callback's error) if that fails.
 * After a restart, pass the last stored bound as seq_start: numbers start
 * there, so none is ever reused. Without a callback (tests, or a context
 * that lives no longer than the process) numbers start at seq_start and
 * are never persisted.
 *
 * ---- replay window (§7.4) ----------------------------------------------
 * One 64-number sliding window per context (its recipient): a request
 * whose Partial IV was seen is refused (-EALREADY), one more than 63 below
 * the highest seen (or below replay_floor) is refused as too old
 * (-ESTALE). The window moves only after successful decryption. After a
 * restart, a server must not trust the window (Appendix B.1.2): set
 * replay_floor to a persisted bound, or have the front end use Echo
 * (RFC 9175) first. Responses carrying a Partial IV (notifications) are
 * not replay-checked here; ordering of notifications (§7.4.1) is the front
 * end's job.
 *
 * Errors (negative errno):
 *   -EBADMSG  malformed OSCORE option (reserved flag bits, n = 6 or 7,
 *             truncation, non-minimal Partial IV), malformed inner
 *             message, missing OSCORE option, request without Partial IV
 *             or kid
 *   -ENOENT   kid / kid context do not belong to this context
 *   -EALREADY replayed request; -ESTALE request too old for the window
 *   -EACCES   decryption failed (RFC 8613: 4.00 "Decryption failed")
 *   -ENOSPC   sequence numbers exhausted (2^40): a new context is needed
 *   -ENOBUFS  work buffer too small; -E2BIG over a limit
 *   -ENOTSUP  unsupported algorithm, Proxy-Uri in a message to protect
 *   -EINVAL   bad arguments (unsorted options, wrong code class, ...)
 * Keys and the master secret are wiped (the master secret right after
 * derivation) and never appear in an error.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OSCORE_VERSION           1
#define OSCORE_MAX_ID            7 /* nonce length 13 - 6 */
#define OSCORE_MAX_ID_CONTEXT    64
#define OSCORE_MAX_MASTER_SECRET 64
#define OSCORE_MAX_MASTER_SALT   64
#define OSCORE_MAX_PIV           5
#define OSCORE_MAX_SEQ           ((UINT64_C(1) << 40) - 1)
#define OSCORE_REPLAY_WINDOW     64
#define OSCORE_MAX_OPTIONS       40
#define OSCORE_MAX_OPTION_LEN    1034 /* Proxy-Uri's maximum in RFC 7252 */
#define OSCORE_MAX_PLAINTEXT     65536
/* longest OSCORE option value: flags, PIV, s, kid context, kid */
#define OSCORE_OPTION_VALUE_MAX (1 + OSCORE_MAX_PIV + 1 + OSCORE_MAX_ID_CONTEXT + OSCORE_MAX_ID)
#define OSCORE_OVERHEAD         (OSCORE_OPTION_VALUE_MAX + 16)

#define OSCORE_KEY_LEN   16
#define OSCORE_NONCE_LEN 13
#define OSCORE_TAG_LEN   8

/* CoAP option numbers OSCORE treats specially */
enum oscore_optnum {
    OSCORE_OPT_URI_HOST = 3,
    OSCORE_OPT_OBSERVE = 6,
    OSCORE_OPT_URI_PORT = 7,
    OSCORE_OPT_OSCORE = 9,
    OSCORE_OPT_URI_PATH = 11,
    OSCORE_OPT_MAX_AGE = 14,
    OSCORE_OPT_PROXY_URI = 35,
    OSCORE_OPT_PROXY_SCHEME = 39,
};

/* CoAP codes OSCORE uses for the outer message */
#define OSCORE_CODE_POST    0x02
#define OSCORE_CODE_FETCH   0x05
#define OSCORE_CODE_CHANGED 0x44
#define OSCORE_CODE_CONTENT 0x45

struct oscore_option {
    uint16_t number;
    uint16_t len;
    const uint8_t *value;
};

struct oscore_msg {
    uint8_t code;
    size_t n_opts;
    struct oscore_option opts[OSCORE_MAX_OPTIONS];
    const uint8_t *payload;
    size_t payload_len;
};

/* The decoded OSCORE option value. */
struct oscore_option_value {
    const uint8_t *piv; /* NULL when absent */
    size_t piv_len;
    bool has_kid_context;
    const uint8_t *kid_context;
    size_t kid_context_len;
    bool has_kid;
    const uint8_t *kid;
    size_t kid_len;
};

/* What a request leaves for its response (RFC 8613 request_kid and
 * request_piv): filled by oscore_protect_request on the client and by
 * oscore_unprotect_request on the server. */
struct oscore_req {
    uint8_t kid[OSCORE_MAX_ID];
    size_t kid_len;
    uint8_t piv[OSCORE_MAX_PIV];
    size_t piv_len;
    bool observe;
};

struct oscore_ctx_params {
    const uint8_t *master_secret; /* 1..OSCORE_MAX_MASTER_SECRET bytes */
    size_t master_secret_len;
    const uint8_t *master_salt; /* NULL: empty (the default) */
    size_t master_salt_len;
    const uint8_t *sender_id; /* may be empty (NULL with length 0) */
    size_t sender_id_len;
    const uint8_t *recipient_id;
    size_t recipient_id_len;
    const uint8_t *id_context; /* NULL: none (nil in the info); else a bstr,
                                  possibly empty */
    size_t id_context_len;
    int64_t aead_alg;      /* 0 or 10 (AES-CCM-16-64-128) */
    bool send_kid_context; /* requests carry the ID Context as kid context */
    uint64_t seq_start;    /* first sender sequence number / persisted bound */
    uint64_t seq_interval; /* K, >= 1 when seq_store is set */
    int (*seq_store)(void *userdata, uint64_t bound);
    void *userdata;
    uint64_t replay_floor; /* requests below this sequence number: too old */
};

/* Treat as read-only. */
struct oscore_ctx {
    int64_t alg;
    uint8_t sender_id[OSCORE_MAX_ID];
    size_t sender_id_len;
    uint8_t recipient_id[OSCORE_MAX_ID];
    size_t recipient_id_len;
    bool has_id_context;
    uint8_t id_context[OSCORE_MAX_ID_CONTEXT];
    size_t id_context_len;
    bool send_kid_context;
    uint8_t sender_key[OSCORE_KEY_LEN];    /* secret */
    uint8_t recipient_key[OSCORE_KEY_LEN]; /* secret */
    uint8_t common_iv[OSCORE_NONCE_LEN];
    /* sender sequence number */
    uint64_t seq;       /* next number to hand out */
    uint64_t seq_bound; /* numbers below it are persisted */
    uint64_t seq_interval;
    int (*seq_store)(void *userdata, uint64_t bound);
    void *userdata;
    /* replay window of the recipient */
    bool replay_seen;
    uint64_t replay_max;
    uint64_t replay_bits; /* bit i: replay_max - i was received */
    uint64_t replay_floor;
};

int oscore_ctx_new(const struct oscore_ctx_params *p, struct oscore_ctx **out);
void oscore_ctx_free(struct oscore_ctx *c);

/* RFC 8613 §3.2.1 info = [id, id_context / nil, alg_aead, type, L]. */
int oscore_hkdf_info(const uint8_t *id, size_t id_len, const uint8_t *id_context,
                     size_t id_context_len, int64_t alg, const char *type, size_t l, uint8_t *out,
                     size_t cap, size_t *out_len);
/* §5.2: nonce of (id_piv, piv) under the context's Common IV. */
int oscore_nonce(const struct oscore_ctx *c, const uint8_t *id_piv, size_t id_piv_len,
                 const uint8_t *piv, size_t piv_len, uint8_t nonce[OSCORE_NONCE_LEN]);
/* §5.4: the aad_array [1, [alg], request_kid, request_piv, h''] (if
 * aad_array is not NULL) and the AAD (Enc_structure) into aad. */
int oscore_aad(int64_t alg, const uint8_t *kid, size_t kid_len, const uint8_t *piv, size_t piv_len,
               uint8_t *aad_array, size_t array_cap, size_t *array_len, uint8_t *aad,
               size_t aad_cap, size_t *aad_len);

/* §6.1 OSCORE option value. encode: piv NULL = no Partial IV. */
int oscore_option_encode(const struct oscore_option_value *v, uint8_t *out, size_t cap,
                         size_t *out_len);
int oscore_option_decode(const uint8_t *in, size_t len, struct oscore_option_value *v);

/* CoAP option list encoding (RFC 7252 §3.1), used for the plaintext.
 * decode stops at the payload marker: *consumed is the offset of the
 * payload after it (or len when there is none); a marker with nothing
 * after it is an error. */
int oscore_options_encode(const struct oscore_option *opts, size_t n, uint8_t *out, size_t cap,
                          size_t *out_len);
int oscore_options_decode(const uint8_t *in, size_t len, struct oscore_option *opts, size_t max,
                          size_t *n, size_t *consumed);

/* Sender sequence numbers (exposed for tests and for the front end's
 * bookkeeping): takes the next one, persisting a new bound first when
 * needed. */
int oscore_next_seq(struct oscore_ctx *c, uint64_t *seq);

int oscore_protect_request(struct oscore_ctx *c, const struct oscore_msg *in,
                           struct oscore_msg *out, uint8_t *buf, size_t cap,
                           struct oscore_req *req);
int oscore_unprotect_request(struct oscore_ctx *c, const struct oscore_msg *in,
                             struct oscore_msg *out, uint8_t *buf, size_t cap,
                             struct oscore_req *req);
/* Replay window resets for a server rebuilding the window after a restart
 * (Appendix B.1.2, objsec/oscore_server.h): clear forgets every number
 * (nothing seen, floor 0); sync makes seq the only number seen and the
 * floor, so that nothing older is accepted. */
void oscore_replay_clear(struct oscore_ctx *c);
void oscore_replay_sync(struct oscore_ctx *c, uint64_t seq);
/* new_piv: use a fresh sender sequence number as Partial IV (mandatory for
 * Observe notifications) instead of the request's nonce. */
int oscore_protect_response(struct oscore_ctx *c, const struct oscore_req *req, bool new_piv,
                            const struct oscore_msg *in, struct oscore_msg *out, uint8_t *buf,
                            size_t cap);
int oscore_unprotect_response(struct oscore_ctx *c, const struct oscore_req *req,
                              const struct oscore_msg *in, struct oscore_msg *out, uint8_t *buf,
                              size_t cap);
