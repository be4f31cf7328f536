/* http.h - the simulated device's HTTP binding: libmicrohttpd without
 * threads of its own, driven by the sd-event loop (its epoll fd), serving
 * every thing of things.h under /THING/ (routes in tests/sim/README.md).
 *
 * Test hooks outside the TDs: POST /lamp/_trigger/overheated fires the
 * event now; GET /_sim/stats answers {"connections":N,"open":N,
 * "requests":N} (connections accepted since start, open now, requests
 * seen); GET /_sim/redirect answers 302 to /lamp/properties/on. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

struct sim_http;

/* listen_fd: a bound, listening TCP socket (taken over). quiet: no log
 * line per request. */
int sim_http_start(sd_event *ev, int listen_fd, bool quiet, struct sim_http **out);
/* Answers or closes every waiting request, then stops. */
void sim_http_stop(struct sim_http *h);
