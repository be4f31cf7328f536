/* coaps.h - the CoAPS front end: libcoap 3 (GnuTLS flavour) on the
 * daemon's sd-event loop (libcoap's internal epoll fd as an io source, a
 * timer from coap_io_prepare_epoll(), coap_io_process() with
 * COAP_IO_NO_WAIT; integration.md §1c, §3).
 *
 * DTLS 1.2 (RFC 7925) only, on every [coaps] listen address, with
 *   PSK    identities and keys from the [credentials] psk file
 *          (auth/psk.h), looked up per identity: an unknown identity fails
 *          the handshake; the identity is the psk principal;
 *   X.509  client certificates verified against [coaps] client_ca (by
 *          default [https]'s), mapped through cert_identities like HTTPS;
 *   RPK    raw public keys (RFC 7250) on rpk_listen, a libcoap context of
 *          their own (RPK is per context): libcoap reports every raw key
 *          as validated, so the SHA-256 of the key's SubjectPublicKeyInfo
 *          must be listed in cert_identities ("sha256:HEX USER"); USER is
 *          the principal of the cert scheme.
 * Plain CoAP (no DTLS) is not served.
 *
 * Routes (wotgw(8)) mirror HTTPS: /things/{t}/properties/{p} GET / PUT,
 * /things/{t}/actions/{a} POST, /things/{t}/properties GET
 * (readallproperties), /things/{t} (the exposed TD, Content-Format 432),
 * /things (the listing, 432), /.well-known/wot (the directory TD),
 * /.well-known/core (RFC 6690 links of the routes the peer may see). Each
 * request becomes a struct interaction for the proxy (proxy.h); one that
 * waits for its device is acknowledged at once (empty ACK) and answered
 * later with a separate response (libcoap async), never blocking the
 * loop. Payloads and Content-Format pass through; answers larger than
 * the block size go block-wise (RFC 7959), and so may requests.
 *
 * Observe (RFC 7641): every property and event of the loaded things has
 * an observable libcoap resource of its own path (libcoap keeps the
 * observers); a GET with Observe 0 there is observeproperty or
 * subscribeevent, decided per consumer by the policy, one proxy stream
 * per observer; the resource keeps the newest value, fed by its oldest
 * stream, and libcoap sends it to every observer (wotgw(8)).
 *
 * Codes: 4.00 malformed path or option value, 4.01 no or unknown
 * credentials for the thing, 4.03 not allowed, 4.04 unknown thing or
 * affordance (4.01 to callers that do not authenticate), 4.05 method or
 * operation not offered,
 * 4.13 body over max_body_size (with Size1), 4.02 unknown critical option
 * (libcoap), 5.02 device refused or unreachable, 5.03 busy or shutting
 * down, 5.04 device timeout. Errors carry a short diagnostic payload.
 */
#pragma once

#include <coap3/coap.h>

#include "daemon.h"
#include "north/http_util.h"

extern const struct frontend_ops coaps_frontend;

/* Checks what [coaps] and [credentials] psk name: the pre-shared keys
 * file parses, the certificate, key and client CA files are readable.
 * 0 when there is nothing to check. */
int coaps_check(const struct gw_state *s, struct diags *d);

/* The route and Content-Format of a request PDU (pure: unit-tested and
 * fuzzed). The Uri-Path options are percent-encoded and parsed by
 * http_route_parse() exactly as an HTTPS path; *buf (caller frees, also
 * on error) holds the decoded segments route points into; *format is
 * COAP_FORMAT_NONE without a Content-Format option. Returns 0, or the
 * HTTP status of the refusal with a static reason in *why: 400 (malformed
 * path or Content-Format), 404 (no such route), 500 (out of memory). */
int coaps_map_request(const coap_pdu_t *req, char **buf, struct http_route *route, int *format,
                      const char **why);
