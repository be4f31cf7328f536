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
 * from any binding, notifies their observers. Events are not offered. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

struct sim_coap;

/* Binds UDP on addr (a port other than 0). */
int sim_coap_start(sd_event *ev, const struct sockaddr *addr, socklen_t len, bool quiet,
                   struct sim_coap **out);
void sim_coap_stop(struct sim_coap *c);
