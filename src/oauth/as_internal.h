/* as_internal.h - what as.c, grants.c and pages.c share inside the
 * authorization server. Not for other modules: they use as.h.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../state.h"
#include "as.h"
#include "clients.h"
#include "form.h"
#include "keys.h"
#include "store.h"

#define AS_MAX_SESSIONS      1024
#define AS_MAX_PENDING       1024
#define AS_MAX_THROTTLE      4096
#define AS_PENDING_LIFETIME  600 /* s: from the authorize request to consent */
#define AS_PRELOGIN_LIFETIME 900 /* s: a session nobody logged into */
#define AS_MAX_STATE         512 /* bytes of the client's "state" */
#define AS_MAX_SCOPES        1024
#define AS_TOKEN_BYTES       32 /* codes, refresh tokens, device codes, cookies */
#define AS_RAND_MAX          48 /* base64url of AS_TOKEN_BYTES, NUL included */
#define AS_USER_CODE_LEN     8
#define AS_USER_CODE_CHARS   "BCDFGHJKLMNPQRSTVWXZ" /* RFC 8628 §6.1 */
#define AS_DEVICE_PER_PEER   16                     /* device authorizations per address ... */
#define AS_DEVICE_WINDOW     600                    /* ... in this many seconds */

/* Back-off after failed logins (see as.h). */
#define AS_PEER_FREE_FAILS 5
#define AS_PEER_MAX_DELAY  900
#define AS_USER_FREE_FAILS 10
#define AS_USER_MAX_DELAY  60
#define AS_THROTTLE_FORGET 3600

struct as_session {
    uint8_t h[32]; /* SHA-256 of the cookie value */
    char csrf[AS_RAND_MAX];
    char user[USERS_MAX_NAME + 1]; /* "" until logged in */
    int64_t created, expires;
};

enum as_pending_kind {
    PEND_CODE,
    PEND_DEVICE,
};

/* An authorization request between /oauth/authorize (or the device page)
 * and the consent form. */
struct as_pending {
    char id[AS_RAND_MAX];
    uint8_t session[32]; /* bound to this session */
    int kind;
    char *client, *redirect_uri, *state, *challenge;
    char *scope;                          /* requested (normalised) */
    uint8_t device_h[32];                 /* PEND_DEVICE: the device code's hash */
    char user_code[AS_USER_CODE_LEN + 2]; /* PEND_DEVICE: "BCDF-GHJK", to confirm */
    int64_t exp;
};

struct as_throttle {
    char key[USERS_MAX_NAME + 8]; /* peer prefix or user name */
    unsigned fails;
    int64_t last;
};

/* One scope of the catalogue and what it allows, for the consent page. */
struct as_scope {
    char *name;
    char *what; /* "Lamp: read on, read brightness, ..." */
};

struct as {
    const struct gw_state *st;
    const struct config *conf;
    const struct oauth_conf *oc;
    const struct as_setup *setup;
    struct as_store *store;
    struct as_session sessions[AS_MAX_SESSIONS];
    size_t n_sessions;
    struct as_pending pending[AS_MAX_PENDING];
    size_t n_pending;
    struct as_throttle *peer_thr, *user_thr; /* AS_MAX_THROTTLE each */
    size_t n_peer_thr, n_user_thr;
    struct as_throttle *dev_thr; /* device authorizations: fails = count, last = window start */
    size_t n_dev_thr;
    struct as_scope *scopes;
    size_t n_scopes;
};

/* ---- as.c: shared helpers --------------------------------------------------------- */

/* Copies untrusted text for a log line: printable ASCII only, at most
 * cap - 1 bytes, "-" when NULL or empty. Never pass a secret. */
const char *as_log_safe(const char *in, char *out, size_t cap);

/* base64url of n random bytes into out (cap >= b64url_encoded_len(n)+1). */
int as_random(char *out, size_t cap, size_t n);
bool as_scope_known(const struct as *as, const char *scope);
const struct as_scope *as_scope_find(const struct as *as, const char *scope);
/* Validates a requested scope string for client c: every token a known
 * scope the client may ask for, no repeats, at most JWT_MAX_SCOPES. NULL
 * or empty req: every known scope the client may ask for. *out: the
 * normalised space-separated list (caller frees). -EINVAL with *why. */
int as_scope_resolve(const struct as *as, const struct as_client *c, const char *req, char **out,
                     const char **why);
/* True when every scope of sub (space-separated) is in of. */
bool as_scope_subset(const char *sub, const char *of);
/* True when user may log in and consent ([oauth] resource_owners). */
bool as_owner_allowed(const struct as *as, const char *user);
/* Mints an access token. jti gets its id, *exp its expiry. */
int as_mint_access(struct as *as, const char *client, const char *sub, const char *scope,
                   int64_t now, char **tok, char jti[STORE_ID_MAX], int64_t *exp);

/* Response builders. */
int as_json(struct as_response *rs, int status, json_t *body); /* steals body */
int as_error(struct as_response *rs, int status, const char *error, const char *desc);
int as_html(struct as_response *rs, int status, struct sbuf *page); /* takes the buffer */
int as_redirect(struct as_response *rs, char *location);            /* takes location */
/* The URL of an endpoint ("/oauth/token") under the issuer. Caller frees. */
char *as_url(const struct as *as, const char *path);

/* ---- grants.c ---------------------------------------------------------------------- */
int as_token_endpoint(struct as *as, const struct as_request *rq, const struct form *f,
                      struct as_response *rs);
int as_device_authorization(struct as *as, const struct as_request *rq, const struct form *f,
                            struct as_response *rs);
int as_introspect(struct as *as, const struct as_request *rq, const struct form *f,
                  struct as_response *rs);
int as_revoke(struct as *as, const struct as_request *rq, const struct form *f,
              struct as_response *rs);
/* A new authorization code for an approved request; *code: the value. */
int as_issue_code(struct as *as, const struct as_pending *p, const char *user, const char *granted,
                  int64_t now, char **code);
/* Normalises a user code ("bcdf-ghjk" -> "BCDFGHJK"); false if invalid. */
bool as_user_code_norm(const char *in, char out[AS_USER_CODE_LEN + 1]);

/* The rate limit of device authorizations: true when peer may make one
 * more now (and counts it). */
bool as_device_rate_ok(struct as *as, const char *peer, int64_t now);

/* ---- pages.c ----------------------------------------------------------------------- */
int as_authorize(struct as *as, const struct as_request *rq, struct as_response *rs);
int as_login(struct as *as, const struct as_request *rq, const struct form *f,
             struct as_response *rs);
int as_consent_page(struct as *as, const struct as_request *rq, struct as_response *rs);
int as_consent(struct as *as, const struct as_request *rq, const struct form *f,
               struct as_response *rs);
int as_device_page(struct as *as, const struct as_request *rq, struct as_response *rs);
int as_device_submit(struct as *as, const struct as_request *rq, const struct form *f,
                     struct as_response *rs);
/* An error page (no redirect). */
int as_error_page(struct as_response *rs, int status, const char *title, const char *msg);
void as_pages_reset(struct as *as); /* frees sessions and pending requests */
void as_pages_prune(struct as *as, int64_t now);
