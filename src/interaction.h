/* interaction.h - the protocol-neutral request that every north front end
 * builds and the policy engine and the router consume.
 *
 * A front end fills one of these from its protocol (HTTP request, CoAP
 * PDU, MQTT message) and knows nothing about devices or policy. All
 * pointers are borrowed from the front end for the duration of the call.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* W3C WoT TD 1.1 operation types (§5.3.4.2, "op"). */
enum wot_op {
    WOT_OP_READPROPERTY,
    WOT_OP_WRITEPROPERTY,
    WOT_OP_OBSERVEPROPERTY,
    WOT_OP_UNOBSERVEPROPERTY,
    WOT_OP_INVOKEACTION,
    WOT_OP_QUERYACTION,
    WOT_OP_CANCELACTION,
    WOT_OP_SUBSCRIBEEVENT,
    WOT_OP_UNSUBSCRIBEEVENT,
    WOT_OP_READALLPROPERTIES,
    WOT_OP_WRITEALLPROPERTIES,
    WOT_OP_READMULTIPLEPROPERTIES,
    WOT_OP_WRITEMULTIPLEPROPERTIES,
    WOT_OP_OBSERVEALLPROPERTIES,
    WOT_OP_UNOBSERVEALLPROPERTIES,
    WOT_OP_QUERYALLACTIONS,
    WOT_OP_SUBSCRIBEALLEVENTS,
    WOT_OP_UNSUBSCRIBEALLEVENTS,
    WOT_OP__COUNT,
    WOT_OP__INVALID = -1,
};

/* Which kind of affordance an operation applies to. Thing-level
 * operations (readallproperties, ...) use AFF_THING and no name. */
enum wot_aff_kind {
    AFF_PROPERTY,
    AFF_ACTION,
    AFF_EVENT,
    AFF_THING,
};

enum wot_protocol {
    PROTO_HTTP,
    PROTO_COAP,
    PROTO_MQTT,
    PROTO__COUNT,
};

const char *wot_op_name(enum wot_op op);
/* WOT_OP__INVALID for an unknown name. */
enum wot_op wot_op_from_name(const char *name);
enum wot_aff_kind wot_op_aff_kind(enum wot_op op);
const char *wot_aff_kind_name(enum wot_aff_kind k); /* "property", ... */
const char *wot_protocol_name(enum wot_protocol p); /* "https", "coaps", "mqtts" */

/* The credentials a consumer presented. A front end fills only what it
 * saw; NULL / 0 means "not presented". Secrets are borrowed, never copied
 * into logs. */
struct credentials {
    /* HTTP Basic (or MQTT username/password): both NULL when absent. */
    const char *basic_user;
    const char *basic_pass;
    size_t basic_pass_len;
    /* A bearer token (Authorization: Bearer, MQTT password that looks like
     * a JWT), raw compact JWS. */
    const char *bearer;
    size_t bearer_len;
    /* API key (header named by the policy). */
    const char *apikey;
    size_t apikey_len;
    /* TLS client certificate: set only when the front end verified it
     * against the configured CA. Subject CN and SHA-256 fingerprint of the
     * DER certificate in lower-case hex (64 chars). */
    const char *cert_cn;
    const char *cert_sha256;
    /* DTLS PSK identity the handshake succeeded with. */
    const char *psk_identity;
    /* The name of the OSCORE security context (auth/oscore_ctx.h) a CoAP
     * request was verified and decrypted with: set only by the CoAP front
     * end, after verification. */
    const char *oscore_context;
    /* Set by the MQTT front end only (north/mqtt.h), for a message that
     * reached wotgw's own broker session: the principal that the broker's
     * plugin authenticated and authorized for exactly this publish
     * (user property "wotgw-principal"), or "wotgw" for the gateway's own
     * reads that feed the broker's value and event topics (each delivery
     * is decided by the plugin). The proxy then checks only that the
     * operation is exposed; it never decides again with a copy of the
     * plugin's inputs. */
    const char *vouched;
    /* Anything malformed the front end saw (e.g. an undecodable Basic
     * header): the policy denies with this reason instead of treating the
     * credential as absent. Static string. */
    const char *malformed;
};

struct interaction {
    const char *thing;      /* config name of the thing (URL segment) */
    const char *affordance; /* NULL for thing-level operations */
    enum wot_op op;
    enum wot_protocol protocol;
    const uint8_t *payload;
    size_t payload_len;
    const char *content_type; /* NULL: none given */
    struct credentials cred;
    const char *peer; /* "ip:port" of the consumer */
};
