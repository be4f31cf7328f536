/* coap.h - the simulated device's plain CoAP binding (RFC 7252, no DTLS):
 * libcoap on the sd-event loop (its epoll fd), serving every thing of
 * things.h under /THING/ like http.c (routes in tests/sim/README.md):
 *
 *   GET  /THING/properties           readallproperties (2.05, JSON)
 *   GET  /THING/properties/P         the value with its Content-Format
 *   PUT  /THING/properties/P         writeproperty: 2.04; 4.00 bad value,
 *                                    4.05 read-only, 4.13 over 1 MiB,
 *                                    4.15 Content-Format not accepted
 *   POST /THING/actions/A            invokeaction: 2.05 with the output
 *
 * Faults of the faulty thing: slow (a separate response after --slow-ms),
 * hang (acknowledged, never answered), broken (answered with RST),
 * status (5.03 with {"error":"device unavailable"}), headers (the option
 * numbers of the request as a JSON array). Block-wise transfers both ways
 * by libcoap. Observable properties accept Observe (RFC 7641): every change,
 * from any binding, notifies their observers. Events are not offered.
 *
 * With an OSCORE contexts file (auth/oscore_ctx.h, the format of
 * wotgw-passwd oscore add; the simulated device plays the side the file
 * describes, as the gateway does), the device speaks OSCORE (RFC 8613)
 * itself: every CoAP request must be OSCORE-protected (others get 4.01
 * Unauthorized "OSCORE required"); a protected request is verified with
 * objsec/oscore_server.h (the Echo exchange after a start, the section 8.2
 * errors), its inner request is dispatched to the same handlers, and the
 * answer is protected. Observe, and the faulty thing's slow, hang and
 * broken faults, are not offered over OSCORE (5.01). Unless quiet, each
 * protected request and answer is logged with the hex of its OSCORE
 * option and payload (tests/sim/README.md). */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

struct sim_coap;

/* Binds UDP on addr (a port other than 0). oscore_contexts: NULL, or the
 * contexts file that makes the device speak OSCORE only (see above); a
 * file that cannot be loaded fails the start (-EINVAL, message on stderr). */
int sim_coap_start(sd_event *ev, const struct sockaddr *addr, socklen_t len, bool quiet,
                   const char *oscore_contexts, struct sim_coap **out);
void sim_coap_stop(struct sim_coap *c);
