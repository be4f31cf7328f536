/* http_util.h - pure helpers of the HTTPS front end: the request path and
 * its routes, credentials from request headers, WWW-Authenticate
 * challenges, RFC 9457 problem bodies, which headers may cross the
 * gateway, and Server-Sent Events (RFC: WHATWG HTML §9.2) encoding and
 * parsing. No I/O, no global state: unit-tested and fuzzed on their own.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interaction.h"

/* Bounds of a request path. */
#define HTTP_PATH_MAX     4096 /* raw bytes: longer is 414 */
#define HTTP_SEGMENTS_MAX 8    /* more segments never name a route: 404 */

/* ---- paths and routes ------------------------------------------------------------ */

/* Splits the raw request path (as sent, without the query; it must start
 * with '/') into percent-decoded segments, written NUL-terminated into
 * buf (at least strlen(path) + 1 bytes) and pointed at by segs[].
 * Segments are split before decoding, so "%2F" is a '/' inside a
 * segment. Refused with -EINVAL: no leading '/', a raw byte outside RFC
 * 3986 pchar ("A-Za-z0-9-._~!$&'()*+,;=:@" and '%'), a '%' not followed
 * by two hex digits, a decoded control byte (0x00-0x1f, 0x7f), a decoded
 * segment that is not strict UTF-8 (overlong forms such as %C0%AF,
 * surrogates, stray bytes), a "." or ".." segment (also when written %2E). -E2BIG: over
 * HTTP_PATH_MAX bytes or more than max_segs segments. "/" has zero segments; an empty segment
 * ("//", a trailing '/') is kept as "". */
int http_path_split(const char *path, char *buf, size_t buflen, const char **segs, size_t max_segs,
                    size_t *n_segs);

enum http_route_kind {
    HTTP_ROUTE_NONE,      /* no such route: 404 */
    HTTP_ROUTE_WELLKNOWN, /* /.well-known/wot */
    HTTP_ROUTE_THINGS,    /* /things */
    HTTP_ROUTE_TD,        /* /things/{t} */
    HTTP_ROUTE_READALL,   /* /things/{t}/properties */
    HTTP_ROUTE_PROPERTY,  /* /things/{t}/properties/{p} */
    HTTP_ROUTE_OBSERVE,   /* /things/{t}/properties/{p}/observe */
    HTTP_ROUTE_ACTION,    /* /things/{t}/actions/{a} */
    HTTP_ROUTE_EVENT,     /* /things/{t}/events/{e} */
};

struct http_route {
    enum http_route_kind kind;
    const char *thing; /* decoded, in the caller's buffer; NULL when none */
    const char *aff;   /* decoded affordance name; NULL when none */
};

/* http_path_split() and the route table (the hrefs expose.c writes).
 * Returns 0 (kind HTTP_ROUTE_NONE when nothing matches), or the errors
 * of http_path_split(). */
int http_route_parse(const char *path, char *buf, size_t buflen, struct http_route *out);

/* The WoT operation of method on a route (readproperty for GET on a
 * property, ...); WOT_OP__INVALID when the route has none for method.
 * HEAD is not an operation. */
enum wot_op http_route_op(enum http_route_kind kind, const char *method);

/* Writes the Allow header value for a route given the operations the
 * exposed TD offers there (bit set 1u << enum wot_op), e.g. "GET, PUT".
 * Directory routes allow "GET, HEAD" whatever ops says. Returns the
 * length, 0 when nothing is allowed. */
size_t http_route_allow(enum http_route_kind kind, uint32_t ops, char *out, size_t cap);

/* ---- credentials ------------------------------------------------------------------ */

/* Room for a decoded Basic credential: user, NUL, password, NUL. */
#define HTTP_BASIC_MAX 2048

/* Fills cred from the Authorization header value (NULL: absent). Basic:
 * strict base64 (RFC 7617) decoded into buf (HTTP_BASIC_MAX bytes),
 * split at the first ':'; no ':', bad base64, an empty or control-byte
 * user, or more than HTTP_BASIC_MAX bytes sets cred->malformed. Bearer:
 * the RFC 6750 b64token syntax, else malformed. The scheme name is case
 * insensitive; other schemes leave cred untouched (no credential). */
void http_parse_authorization(const char *value, struct credentials *cred, char *buf);

/* Fills cred->apikey from the API-key header value (NULL: absent);
 * leading and trailing blanks are not part of the key; an empty key or
 * one with control bytes is malformed. */
void http_parse_apikey(const char *value, struct credentials *cred);

/* ---- responses ------------------------------------------------------------------ */

#define HTTP_CHALLENGE_MAX 512

/* One WWW-Authenticate challenge per scheme in schemes (bits 1u << enum
 * sec_kind, policy.h), in a fixed order: Basic, Bearer (bearer and oauth2
 * share it), APIKey, ClientCert. realm is quoted (RFC 9110 §11.2
 * quoted-string escapes). Bearer carries error="invalid_token" when
 * invalid_token; scopes (NULL-terminated, may be NULL) are ignored here.
 * Returns the number written (at most max). */
size_t http_challenges(unsigned schemes, const char *realm, const char *apikey_header,
                       bool invalid_token, char out[][HTTP_CHALLENGE_MAX], size_t max);

/* The 403 challenge of RFC 6750 §3.1: Bearer realm="R",
 * error="insufficient_scope", scope="a b". Returns its length (0 when
 * it does not fit). */
size_t http_insufficient_scope(const char *realm, char *const *scopes, char *out, size_t cap);

/* Reason phrase of a status ("Not Found"); "Unknown" for others. */
const char *http_status_title(int status);

/* An RFC 9457 application/problem+json body {type, title, status,
 * detail} (detail may be NULL). Caller frees; NULL on ENOMEM. */
char *http_problem_json(int status, const char *detail, size_t *len);

/* True for the request headers that may reach a device besides the body:
 * Content-Type and Accept (case-insensitive). Everything else is dropped:
 * credentials, cookies, the API-key header, hop-by-hop headers. */
bool http_header_forwarded(const char *name);
/* True for the hop-by-hop headers of RFC 9110 §7.6.1 and their old
 * relatives (Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade, Proxy-Authenticate, Proxy-Authorization, Connection). */
bool http_header_hop_by_hop(const char *name);

/* A media type a device or consumer may send through: token "/" token
 * and parameters, printable ASCII, at most 256 bytes. */
bool http_content_type_ok(const char *v);

/* ---- Server-Sent Events ---------------------------------------------------------- */

/* Bytes http_sse_encode() needs at most for an event of len data bytes. */
size_t http_sse_encoded_max(size_t len, const char *event);
/* One SSE event: "event: NAME\n" (when event is not NULL or empty), one
 * "data: " line per line of data (split at CR LF, LF or CR), then a
 * blank line. Returns the length written (cap must be at least
 * http_sse_encoded_max()). */
size_t http_sse_encode(const uint8_t *data, size_t len, const char *event, char *out, size_t cap);

/* Incremental SSE parser for a device's event stream: fields data and
 * event (id and retry are ignored, comments skipped), dispatch on a blank
 * line; data lines joined with '\n'. */
#define HTTP_SSE_EVENT_MAX 64 /* event name bytes */
struct http_sse_parser {
    char *line; /* current line */
    size_t line_len, line_cap;
    char *data; /* data of the pending event */
    size_t data_len, data_cap;
    bool has_data;
    bool skip_lf; /* the last byte was CR */
    bool bom_checked;
    char event[HTTP_SSE_EVENT_MAX + 1];
    size_t max; /* bound of one line and of one event's data */
};
typedef int (*http_sse_event_fn)(void *ud, const char *event, const uint8_t *data, size_t len);
void http_sse_parser_init(struct http_sse_parser *p, size_t max);
/* Feeds bytes; calls fn for each complete event (a non-zero return stops
 * and is returned). -EMSGSIZE when a line or an event exceeds max,
 * -ENOMEM. */
int http_sse_feed(struct http_sse_parser *p, const uint8_t *buf, size_t len, http_sse_event_fn fn,
                  void *ud);
void http_sse_parser_free(struct http_sse_parser *p);
