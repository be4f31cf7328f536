/* as.h - wotgw's built-in OAuth 2.0 authorization server, as a module the
 * HTTPS front end calls: protocol-level requests in, responses out, no
 * HTTP library types. Enabled by the [oauth] section (wotgw.conf(5)).
 *
 * Endpoints (paths on the HTTPS listener; the issuer is an https origin):
 *   GET  /.well-known/oauth-authorization-server  RFC 8414 metadata
 *   GET  /oauth/jwks                               the signing keys (JWK Set)
 *   GET  /oauth/authorize                          code flow (RFC 6749 §4.1,
 *                                                  PKCE S256 required, RFC 7636)
 *   POST /oauth/login                              the login form
 *   GET  /oauth/consent, POST /oauth/consent       the consent page and its form
 *   GET  /oauth/device,  POST /oauth/device        device verification (user code)
 *   POST /oauth/token                              authorization_code,
 *        client_credentials, device_code (RFC 8628), refresh_token (rotated;
 *        a reused refresh token revokes its family)
 *   POST /oauth/device_authorization               RFC 8628 §3.1
 *   POST /oauth/introspect                         RFC 7662 (confidential clients)
 *   POST /oauth/revoke                             RFC 7009
 * implicit (response_type=token) and password grants are refused with
 * unsupported_response_type / unsupported_grant_type.
 *
 * Tokens: access tokens are JWTs (typ at+jwt, ES256 or EdDSA) with iss,
 * sub, aud, exp, iat, jti, scope and client_id, verified by the resource
 * server like any issuer's: config_load() adds an issuer named "local"
 * (OAUTH_LOCAL_ISSUER) whose key set state_load() takes from the server's
 * keys, so that policies say "oauth2:local" or "bearer:local". The sub of
 * a code or device token is the user who consented (principal
 * "local:alice"); of a client-credentials token, the client id. Refresh
 * tokens, codes and device codes are opaque random strings, stored only
 * as SHA-256 hashes (store.h).
 *
 * Scopes are the ones the exposed TDs name on forms that accept tokens of
 * this issuer (oauth2/bearer with ":local" or without an issuer): the
 * policy's scopes keys, by default THING:read, THING:write, THING:invoke,
 * THING:subscribe. A client asks for a subset of what its clients-file
 * entry allows (none asked: all of those), the resource owner may uncheck
 * some on the consent page, and the token carries exactly what was
 * granted. Unknown scopes: invalid_scope.
 *
 * Browser pages (login, consent, device verification) are plain HTML with
 * inline CSS, no script and no external asset; every form carries a CSRF
 * token bound to the session; the session cookie is
 * "__Host-wotgw_as=...; Path=/; Secure; HttpOnly; SameSite=Strict".
 * Failed logins back off per client address (after 5 failures, 2^n
 * seconds up to 15 min) and per user name (after 10, up to 60 s), never a
 * permanent lock; counters are forgotten an hour after the last failure.
 *
 * Threading: one loop, synchronous calls. as_handle() may block for one
 * password hash (login) and one fsync'd file write (state changes).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../auth/jwt.h"
#include "../config.h"
#include "../util.h"

struct gw_state;
struct as_keys;
struct as_clients;

#define AS_WELL_KNOWN_PATH "/.well-known/oauth-authorization-server"
#define AS_PATH_PREFIX     "/oauth/"
#define AS_MAX_BODY        16384 /* larger bodies: 413 */
#define AS_COOKIE_NAME     "__Host-wotgw_as"

/* One HTTP request, as the front end saw it. All borrowed. */
struct as_request {
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* without the query, not percent-decoded */
    const char *query;        /* after '?', NULL when none */
    const char *content_type; /* NULL when absent */
    const uint8_t *body;
    size_t body_len;
    const char *authorization; /* raw Authorization header or NULL */
    const char *cookie;        /* raw Cookie header or NULL */
    const char *peer;          /* "ip:port" or "[v6]:port" */
    int64_t now;               /* seconds since the epoch */
};

/* The answer; strings are owned (as_response_free). NULL: no such header. */
struct as_response {
    int status;
    const char *content_type; /* static */
    char *body;
    size_t body_len;
    char *location;
    char *set_cookie;
    char *www_authenticate;
};

/* Headers the front end adds to every response of the authorization
 * server, besides the ones in as_response. NULL-terminated by name. */
struct as_header {
    const char *name, *value;
};
extern const struct as_header as_security_headers[];

/* ---- the immutable part, loaded with the state --------------------------------- */

/* The keys and clients of the server: part of a loaded state (state.h),
 * replaced on reload. */
struct as_setup {
    const struct config *conf;  /* borrowed: the state's */
    struct as_keys *keys;       /* NULL: not readable here */
    struct as_clients *clients; /* NULL: not readable here */
};

/* Loads (creating on first use) the signing keys from conf->oauth.dir and
 * the clients file; *local_keys gets the verifier key set of the "local"
 * issuer. Errors in d. Called by state_load() when [oauth] is enabled.
 * When the process may not read (or create) the keys or the clients file
 * (EACCES, EPERM, EROFS: the mosquitto plugin, `wotgw -t` as another
 * user), that is a warning: keys or clients stay NULL, *local_keys NULL
 * (tokens of "local" are refused: fail closed) and as_new() refuses. */
int as_setup_load(const struct config *conf, int64_t now, struct as_setup **out,
                  struct jwks **local_keys, struct diags *d);
void as_setup_free(struct as_setup *s);

/* ---- the server ------------------------------------------------------------------- */

struct as;

/* Creates the server for a loaded state whose config enables [oauth]
 * (st->oauth not NULL; otherwise -ENOENT): opens the grants store in
 * conf->oauth.dir and builds the scope catalogue from the exposed things.
 * st is borrowed until as_reload() or as_free(). */
int as_new(const struct gw_state *st, int64_t now, struct as **out, struct diags *d);
/* Switches to a new state (after a reload, before the old state is
 * freed). Sessions, pending requests and back-off counters are kept; the
 * store is reopened when the state directory changed. -ENOENT when the
 * new state has no [oauth]: the caller then frees the server. */
int as_reload(struct as *as, const struct gw_state *st, int64_t now, struct diags *d);
void as_free(struct as *as);
/* The daemon's view: creates, reloads or frees *asp to match st. */
int as_update(struct as **asp, const struct gw_state *st, int64_t now, struct diags *d);

/* True for the paths above (and anything under /oauth/). */
bool as_handles_path(const char *path);
/* Answers one request. Returns 0 with rs filled (errors are responses
 * too), or -ENOMEM (rs empty: the front end answers 500). */
int as_handle(struct as *as, const struct as_request *rq, struct as_response *rs);
void as_response_free(struct as_response *rs);

/* True when tok is an access token of this server that was revoked (RFC
 * 7009, or a reused code/refresh token). The signature is not checked:
 * call it for tokens the policy accepted. */
bool as_token_revoked(const struct as *as, const char *tok, size_t len);

/* For the broker plugin (auth/keysync.h): the revoked access tokens that
 * have not expired yet, a new JSON array of [jti, exp] (NULL on ENOMEM),
 * and the "iss" of this server's tokens. */
json_t *as_revoked_json(const struct as *as);
/* Changes whenever the revoked tokens of any server change. */
uint64_t as_revoked_generation(void);
const char *as_issuer(const struct as *as);
