/* clients.h - the OAuth clients file of the built-in authorization server,
 * managed by wotgw-passwd(8) (client-add, client-del, clients).
 *
 * One client a line, fields separated by blanks:
 *   NAME type=confidential secret=SHA256HEX grants=LIST scopes=LIST [redirect_uri=URI]...
 *   NAME type=public grants=LIST scopes=LIST [redirect_uri=URI]...
 * NAME (the client_id) is [A-Za-z0-9._@-]{1,64}. secret is the SHA-256 of
 * the client secret (a 256-bit random string made by wotgw-passwd, so a
 * plain hash is enough), required for confidential clients and refused
 * for public ones. grants is a comma list of authorization_code,
 * refresh_token, client_credentials and device_code (or its URN
 * urn:ietf:params:oauth:grant-type:device_code); client_credentials is for
 * confidential clients only; implicit and password are refused. scopes is
 * a comma list of scope tokens the client may ask for, or "*" for every
 * scope the exposed TDs name. redirect_uri (at most CLIENT_MAX_REDIRECTS)
 * is matched exactly; it is an absolute https URI, or http on a loopback
 * host (127.0.0.1, [::1], localhost, RFC 8252 §7.3), without a fragment,
 * user information or blanks; authorization_code needs at least one.
 * "#" starts a comment line; blank lines are ignored. Any error refuses the
 * whole file (FILE:LINE).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util.h"

#define CLIENTS_MAX_FILE_SIZE (4u << 20)
#define CLIENTS_MAX           1024
#define CLIENT_ID_MAX         64
#define CLIENT_MAX_REDIRECTS  16
#define CLIENT_MAX_SCOPES     64
#define CLIENT_URI_MAX        2048
#define CLIENT_SCOPE_MAX      256
#define CLIENT_SECRET_MAX     256 /* longer presented secrets never match */

#define GRANT_TYPE_DEVICE_URN "urn:ietf:params:oauth:grant-type:device_code"

enum client_grant {
    CG_CODE = 1u << 0,    /* authorization_code */
    CG_REFRESH = 1u << 1, /* refresh_token */
    CG_CLIENT = 1u << 2,  /* client_credentials */
    CG_DEVICE = 1u << 3,  /* device_code */
};

struct as_client {
    char *id;
    bool confidential;
    uint8_t secret_sha256[32]; /* confidential only */
    unsigned grants;           /* enum client_grant bits */
    char **scopes;             /* NULL-terminated; "*" = any known scope */
    char **redirect_uris;      /* NULL-terminated, never NULL */
    size_t n_redirect_uris;
    unsigned line;
};

struct as_clients {
    struct as_client *v;
    size_t n;
};

int clients_parse(const char *path, const char *text, size_t len, struct as_clients **out,
                  struct diags *d);
/* A missing file is an empty set (no client can get a token). */
int clients_load(const char *path, struct as_clients **out, struct diags *d);
void clients_free(struct as_clients *c);

const struct as_client *clients_find(const struct as_clients *c, const char *id);
/* Exact string match against the registered redirect URIs. */
bool client_redirect_ok(const struct as_client *c, const char *uri);
/* True when the client may ask for scope ("*" allows any). */
bool client_scope_allowed(const struct as_client *c, const char *scope);
/* Constant-time check of a presented secret (false for public clients). */
bool client_secret_ok(const struct as_client *c, const char *secret, size_t len);

/* One line of the file: 0, or -EINVAL with a reason in err (for
 * wotgw-passwd, which checks a line before adding it). A comment or blank
 * line is fine. */
int clients_check_line(const char *line, char *err, size_t errlen);
/* Checks a redirect URI by the rules above; *why gets a reason. */
bool clients_redirect_uri_ok(const char *uri, const char **why);
/* "authorization_code,refresh_token" -> bits. -EINVAL with the offending
 * name in bad (cap bytes) for unknown or refused grants. */
int clients_parse_grants(const char *list, unsigned *out, char *bad, size_t cap);
/* A scope token by RFC 6749 §3.3 (%x21 / %x23-5B / %x5D-7E), 1 to
 * CLIENT_SCOPE_MAX bytes. */
bool clients_scope_token_ok(const char *s, size_t len);
