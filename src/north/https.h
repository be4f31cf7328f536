/* https.h - the HTTPS front end: libmicrohttpd with GnuTLS, without
 * threads of its own, on the daemon's sd-event loop (its epoll fd as an io
 * source, a timer from MHD_get_timeout, a defer source after every
 * resume: integration.md Trap 1.1).
 *
 * Routes (wotgw(8), expose.h): the north forms of the exposed TDs, the TD
 * of each thing, the directory listing and the directory's own TD. Each
 * request becomes a struct interaction for the proxy (proxy.h); a request
 * that waits for its device is suspended and resumed by the answer.
 *
 * Listeners are sockets of our own ([https] listen), handed to one MHD
 * daemon per address. A reload starts a new generation of daemons on the
 * same sockets with the new certificate, key, client CA, TLS versions and
 * limits, and quiesces the old one: established connections stay with the
 * old generation until they close, new ones get the new certificate, and
 * no connection is refused or dropped in between.
 */
#pragma once

#include "daemon.h"

extern const struct frontend_ops https_frontend;

/* Reads and checks the certificate, key and client CA of s->conf->https
 * (FILE: messages in d): every certificate parses, the key matches the
 * certificate, the CA file holds at least one certificate. 0 when [https]
 * is absent or everything is fine, else -EINVAL / -errno. */
int https_check(const struct gw_state *s, struct diags *d);

/* The GnuTLS priority string for a minimum TLS version: TLS 1.3 only, or
 * 1.3 and 1.2 with AEAD ciphers and ECDHE only. Never anything older. */
const char *https_priorities(enum tls_min_version min);

/* The built-in authorization server of the running HTTPS front end
 * ([oauth]), or NULL (gw->https NULL, or no server). */
struct as *https_as(const struct https *h);
