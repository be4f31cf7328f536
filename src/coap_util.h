/* coap_util.h - pure helpers shared by the CoAPS front end
 * (north/coaps.c) and the CoAP device client (south/coap.c): content
 * types <-> CoAP Content-Format numbers (IANA "CoAP Content-Formats"
 * registry), HTTP status <-> CoAP response codes (RFC 8075 §7, RFC 7252
 * §10), and the request path from Uri-Path options. No I/O, no libcoap:
 * unit-tested and fuzzed on their own.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interaction.h"
#include "north/http_util.h"

#define COAP_FORMAT_NONE         (-1) /* no Content-Format option */
#define COAP_FORMAT_OCTET_STREAM 42
#define COAP_FORMAT_TD_JSON      432
#define COAP_URI_PATH_MAX        4096 /* bytes of all Uri-Path options */
#define COAP_SEGMENTS_MAX        8

/* The Content-Format of a media type (parameters and case ignored, except
 * where the registry lists a parameter, e.g. text/plain;charset=utf-8 is
 * 0 like text/plain). NULL gives COAP_FORMAT_NONE; a type not in the
 * table gives 42 (application/octet-stream): never dropped. */
int coap_format_from_type(const char *content_type);
/* The media type of a Content-Format; NULL for COAP_FORMAT_NONE; a
 * number not in the table gives "application/octet-stream". Static. */
const char *coap_format_to_type(int format);

/* A CoAP response code (class << 5 | detail, e.g. 0x45 for 2.05) for an
 * HTTP status as the proxy returns it, per RFC 8075 §7: 200 becomes 2.05
 * for GET (readproperty, TDs) and 2.04 otherwise, 201 2.01, 204 2.04 (2.05
 * for GET), 4xx / 5xx as listed in RFC 7252 §12.1.2, other 4xx 4.00,
 * other 5xx 5.00, 1xx / 3xx (a device redirect) 5.02. */
uint8_t coap_code_from_http(int status, bool get);
/* The HTTP status for a CoAP response code from a device (RFC 8075 §7):
 * 2.01 201, 2.02 / 2.04 204 (200 when there is a payload), 2.03 / 2.05
 * 200, 4.xx / 5.xx their HTTP counterparts, anything else 502. */
int coap_code_to_http(uint8_t code, bool has_payload);
/* "2.05" into buf (at least 5 bytes). */
const char *coap_code_str(uint8_t code, char buf[8]);

/* Builds the request path "/seg/seg" from Uri-Path option values (raw
 * bytes, any value), percent-encoding every byte outside RFC 3986
 * unreserved, so that http_route_parse() (north/http_util.h) decodes and
 * checks it exactly as for HTTPS. No segments give "/". Returns the length,
 * or -E2BIG when out (cap bytes, NUL included) is too small. */
int coap_path_from_segments(const uint8_t *const *segs, const size_t *lens, size_t n, char *out,
                            size_t cap);

/* The route of a request from its Uri-Path option values (at most
 * COAP_SEGMENTS_MAX + 1 of them; more cannot name a route), checked
 * exactly as an HTTPS path (coap_path_from_segments, http_route_parse).
 * 0, or an HTTP status with *why: 404 (no such route, or more than
 * COAP_URI_PATH_MAX bytes), 400 (a malformed path), 500 (no memory).
 * *buf (caller frees, also on errors) holds the decoded names the route
 * points into. */
int coap_route_from_segments(const uint8_t *const *segs, const size_t *lens, size_t n, char **buf,
                             struct http_route *route, const char **why);

/* The request method of a CoAP method code (1 GET, 2 POST, 3 PUT, 4
 * DELETE, 5 FETCH, 6 PATCH, 7 iPATCH) as an HTTP method name; NULL for
 * others. */
const char *coap_method_name(uint8_t code);
/* The CoAP method code for an HTTP method (GET, POST, PUT, DELETE,
 * FETCH, PATCH, iPATCH); 0 for others. */
uint8_t coap_method_code(const char *method);
