/* oscore_gw.h - the gateway's one OSCORE server (objsec/oscore_server.h),
 * shared by the front ends that terminate OSCORE: CoAP(S) (RFC 8613) and
 * HTTPS (RFC 8613 §11). One server means one replay window and one
 * sender sequence number per context, whichever front end a consumer
 * uses, and one set of sequence files in <state_dir>/oscore.
 *
 * The daemon loads it from [credentials] oscore at start and at every
 * reload (gw->oscore, NULL when none is configured); a reload keeps the
 * state of the contexts that did not change (oscore_server_adopt). A
 * request verified with it holds a reference until its answer is
 * protected, so a reload never frees a server under a request in flight.
 */
#pragma once

#include "config.h"
#include "objsec/oscore_server.h"

struct oscore_gw {
    struct oscore_server *s;
    unsigned refs;
};

/* The server of conf ([credentials] oscore, state_dir), adopting what
 * old (may be NULL) knows of unchanged contexts. *out is NULL when conf
 * names no contexts file. Problems are logged; < 0 when the file is
 * refused (the caller keeps the old one). */
int oscore_gw_load(const struct config *conf, const struct oscore_gw *old, struct oscore_gw **out);
struct oscore_gw *oscore_gw_ref(struct oscore_gw *o); /* NULL ok */
void oscore_gw_unref(struct oscore_gw *o);            /* NULL ok */
