/* expose.h - the exposed Thing Description: what consumers see of a
 * device through wotgw.
 *
 * Same title, id, descriptions, affordances and data schemas as the
 * device TD; the device's forms replaced by the gateway's north forms (one
 * table entry per north protocol: HTTPS now, CoAPS and MQTTS later); the
 * securityDefinitions, security and per-form scopes written from the
 * policy. No device address, port, base, link or device credential ever
 * appears: only an allowlist of TD terms is copied.
 *
 * Only forms whose operation the device supports and the policy exposes
 * are written; an affordance left without forms is omitted.
 */
#pragma once

#include <jansson.h>

#include "config.h"
#include "policy.h"
#include "td.h"

/* North HTTPS routes (wotgw(8) documents them), relative to base_url:
 *   /things/{thing}                            the exposed TD
 *   /things/{thing}/properties                 readallproperties
 *   /things/{thing}/properties/{p}             readproperty GET, writeproperty PUT
 *   /things/{thing}/properties/{p}/observe     observeproperty (SSE)
 *   /things/{thing}/actions/{a}                invokeaction POST
 *   /things/{thing}/events/{e}                 subscribeevent (SSE)
 * Names are percent-encoded in hrefs. */

/* The context term wotgw adds for its own security schemes ("wotgw:cert",
 * "wotgw:OSCORESecurityScheme") and vocabulary. A coap:// or coaps:// form
 * whose expression cannot be met on that protocol without OSCORE carries
 * "wotgw:objectSecurity": "oscore"; no https:// or mqtts:// form is written
 * for an expression that needs OSCORE there. */
#define WOTGW_CONTEXT_PREFIX "wotgw"
#define WOTGW_CONTEXT_IRI    "https://wotgw.example/ns#"

/* Builds the exposed TD of one thing. Returns 0 (*out: new reference),
 * -EINVAL when nothing at all is exposed (message in d), -ENOMEM. */
int expose_td(const struct config *conf, const struct thing_conf *tc, const struct td *td,
              const struct policy_thing *pt, json_t **out, struct diags *d);

/* [thing] cose_sign = yes (cose_sign.h): adds to the exposed TD of the thing
 *   "wotgw:coseKey"   (top level) the public signing key as a JWK, with
 *                     "kid" the hex of the COSE kid bytes;
 *   a second HTTPS form after every readproperty and invokeaction HTTPS
 *   form, the same but with "htv:headers" asking for
 *   Accept: application/cose; cose-type="cose-sign1", "response":
 *   {"contentType": that type} (readproperty: also its "contentType"),
 *   "wotgw:objectSecurity": "cose-sign1" and "wotgw:coseKid": the kid hex;
 *   on every MQTT "subscribe" form (values and events wotgw publishes, all
 *   signed for the thing: north/mqtt.c) "contentType" becomes that type,
 *   with the same two terms.
 * s NULL: nothing is added. 0 or -ENOMEM. */
struct cose_signer;
int expose_cose(const struct config *conf, const struct thing_conf *tc, const struct cose_signer *s,
                json_t *exposed, struct diags *d);

/* Percent-encodes one path segment (RFC 3986 unreserved kept). Caller frees. */
char *expose_path_segment(const char *s);
