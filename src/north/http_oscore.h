/* http_oscore.h - OSCORE over HTTP (RFC 8613 §11): the pure part of the
 * mapping between an HTTP message and the outer CoAP message that OSCORE
 * protects, for the HTTPS front end.
 *
 * An OSCORE request over HTTP is a POST with Content-Type
 * application/oscore, an OSCORE header field carrying the OSCORE option
 * value in base64url without padding (§11.1), and the ciphertext as its
 * body; its answer is a 200 OK of the same shape. Every other part of the
 * request (method, path, query, content format) is inside the ciphertext.
 * wotgw takes such requests on two targets:
 *   /                    the gateway's own contexts ([credentials] oscore):
 *                        verified and decrypted, the inner request routed
 *                        like a CoAP request to the gateway, the answer
 *                        protected back;
 *   /things/ID/oscore    a device that speaks OSCORE itself: passed
 *                        through to it unchanged (RFC 8613 §11.5).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../objsec/oscore.h"
#include "http_util.h"

#define HTTP_OSCORE_MEDIA  "application/oscore"
#define HTTP_OSCORE_HEADER "OSCORE"
#define HTTP_OSCORE_PASS   "oscore" /* the last segment of /things/ID/oscore */
/* base64url of the largest option value, with its NUL */
#define HTTP_OSCORE_HDR_MAX (((OSCORE_OPTION_VALUE_MAX + 2) / 3) * 4 + 1)

/* The option value of an OSCORE header field (§11.1: at least two
 * base64url characters; "AA", the single flag byte 0x00, is the empty
 * option value). 0, or -EINVAL (shorter, not strict base64url, or longer
 * than OSCORE_OPTION_VALUE_MAX bytes). */
int http_oscore_header_decode(const char *value, uint8_t out[OSCORE_OPTION_VALUE_MAX], size_t *len);
/* out holds HTTP_OSCORE_HDR_MAX bytes; len <= OSCORE_OPTION_VALUE_MAX;
 * the empty value gives "AA". */
void http_oscore_header_encode(const uint8_t *v, size_t len, char *out);

/* What the target of a request with an OSCORE header is. */
enum http_oscore_target {
    HTTP_OSCORE_NONE,    /* neither: 404 */
    HTTP_OSCORE_GATEWAY, /* "/" */
    HTTP_OSCORE_DEVICE,  /* "/things/ID/oscore": *thing is ID, decoded into buf */
};
enum http_oscore_target http_oscore_target(const char *path, char *buf, size_t cap,
                                           const char **thing);

/* The outer CoAP request of an HTTP one: POST, the OSCORE option, the
 * body as payload (pointers borrowed). */
void http_oscore_outer_request(const uint8_t *opt, size_t opt_len, const uint8_t *body, size_t len,
                               struct oscore_msg *m);
/* The OSCORE option of a message, or NULL. */
const struct oscore_option *http_oscore_find(const struct oscore_msg *m);
/* The HTTP status of an outer answer: 200 for a protected one (§11: its
 * outer code is 2.04 Changed, or 2.05 for Observe), else the RFC 8075
 * mapping of its code (an unprotected error: 4.01 401, 4.02 400, ...). */
int http_oscore_status(const struct oscore_msg *outer);

/* The route of an inner (decrypted) request from its Uri-Path options,
 * checked exactly as an HTTPS path; *format is its Content-Format
 * (COAP_FORMAT_NONE when it has none). 0, or an HTTP status (404, 400,
 * 500 for -ENOMEM) with *why. *buf (caller frees) holds the decoded
 * names the route points into. */
int http_oscore_inner_route(const struct oscore_msg *inner, char **buf, struct http_route *route,
                            int *format, const char **why);
