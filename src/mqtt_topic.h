/* mqtt_topic.h - wotgw's MQTT topic layout, shared by the broker plugin
 * (src/mosquitto/) and the daemon's own MQTT client. Pure: no I/O, no
 * allocation, no global state.
 *
 * Every topic lies under one prefix ([mqtt] topic_prefix, default "wot"):
 *
 *   PREFIX/{thing}/properties/{name}          the value, retained; wotgw
 *                                             publishes, consumers subscribe
 *                                             (observeproperty, readproperty)
 *   PREFIX/{thing}/properties/{name}/set      consumers publish the new value
 *                                             (writeproperty); wotgw subscribes
 *   PREFIX/{thing}/actions/{name}             consumers publish the input
 *                                             (invokeaction); wotgw subscribes
 *   PREFIX/{thing}/actions/{name}/response/{client}[/...]
 *                                             wotgw publishes the result; only
 *                                             the client whose id is {client}
 *                                             subscribes (MQTT 5 response topic)
 *   PREFIX/{thing}/events/{name}              wotgw publishes, consumers
 *                                             subscribe (subscribeevent)
 *   PREFIX/{thing}/properties/{name}/cose/{principal}
 *   PREFIX/{thing}/events/{name}/cose/{principal}
 *                                             for a thing with cose_encrypt_to:
 *                                             the value (retained) or event as
 *                                             a COSE_Encrypt0 to {principal};
 *                                             wotgw publishes, only that
 *                                             principal subscribes (with
 *                                             observeproperty / readproperty
 *                                             or subscribeevent)
 *
 * {thing} is the [thing NAME] of wotgw.conf; {name} the affordance name of
 * the TD; {client} the MQTT client identifier. Each is one topic level,
 * percent-encoded like the HTTPS path segments (RFC 3986 unreserved
 * characters A-Z a-z 0-9 - . _ ~ kept, every other byte %XX with upper-case
 * hex), so that '/', '+', '#' or '$' in a name never change the structure.
 * Only that canonical encoding parses: "%6Fn" is not "on".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "interaction.h"

#define MQTT_TOPIC_DEFAULT_PREFIX "wot"
#define MQTT_TOPIC_PREFIX_MAX     128  /* bytes of topic_prefix */
#define MQTT_TOPIC_MAX            1024 /* bytes of a topic or filter wotgw deals with */
#define MQTT_TOPIC_NAME_MAX       255  /* decoded bytes of {thing}, {name}, {client} */
#define MQTT_TOPIC_MAX_OPS        4

enum mqtt_topic_kind {
    MQTT_TOPIC_PROPERTY,
    MQTT_TOPIC_PROPERTY_SET,
    MQTT_TOPIC_ACTION,
    MQTT_TOPIC_ACTION_RESPONSE,
    MQTT_TOPIC_EVENT,
    MQTT_TOPIC_PROPERTY_COSE, /* client: the principal */
    MQTT_TOPIC_EVENT_COSE,    /* client: the principal */
};

/* A parsed topic: the decoded names (NUL-terminated, never containing a
 * NUL themselves). */
struct mqtt_topic {
    enum mqtt_topic_kind kind;
    char thing[MQTT_TOPIC_NAME_MAX + 1];
    char name[MQTT_TOPIC_NAME_MAX + 1];
    /* MQTT_TOPIC_ACTION_RESPONSE: the client id; *_COSE: the principal;
     * else "" */
    char client[MQTT_TOPIC_NAME_MAX + 1];
};

/* "property", "property-set", "action", "action-response", "event",
 * "property-cose", "event-cose". */
const char *mqtt_topic_kind_name(enum mqtt_topic_kind k);

/* A valid topic_prefix: 1 to MQTT_TOPIC_PREFIX_MAX bytes, levels of
 * [A-Za-z0-9._~-]+ separated by single '/', not starting with '$'. */
bool mqtt_prefix_valid(const char *prefix);

/* Parses a topic name (no wildcards) against the layout. Returns 0, or
 * -EINVAL when topic is not one of the layout's topics (another prefix, an
 * unknown collection, an empty or non-canonical level, a wildcard), or
 * -ENAMETOOLONG (topic over MQTT_TOPIC_MAX or a name over
 * MQTT_TOPIC_NAME_MAX). */
int mqtt_topic_parse(const char *prefix, const char *topic, struct mqtt_topic *out);

/* Writes the topic of kind for thing and name (and client for
 * MQTT_TOPIC_ACTION_RESPONSE, the principal for *_COSE) into buf, encoding each name. A NULL name
 * or client writes the single-level wildcard "+" instead: a filter.
 * Returns the length (without the NUL), -EINVAL (bad prefix, empty name,
 * missing thing) or -ENAMETOOLONG (a name over MQTT_TOPIC_NAME_MAX, or
 * the topic does not fit size or MQTT_TOPIC_MAX). */
int mqtt_topic_format(const char *prefix, enum mqtt_topic_kind kind, const char *thing,
                      const char *name, const char *client, char *buf, size_t size);

/* Percent-encodes one level as above. Returns the length or -ENAMETOOLONG. */
int mqtt_level_encode(const char *s, char *buf, size_t size);

/* MQTT 5 §4.7: a topic name is non-empty and holds no '+' or '#'; a filter
 * is non-empty, '+' fills a whole level, '#' a whole last level. Both are
 * refused here over MQTT_TOPIC_MAX bytes. */
bool mqtt_topic_name_valid(const char *topic);
bool mqtt_filter_valid(const char *filter);
bool mqtt_filter_has_wildcards(const char *filter);

/* True when filter matches topic (MQTT 5 §4.7, with §4.7.2: a filter
 * starting with a wildcard does not match a topic starting with '$').
 * Both must be valid; false otherwise. */
bool mqtt_filter_match(const char *filter, const char *topic);

/* True when filter matches base or some topic below it (base/...): the
 * question for a namespace such as a client's response topics. */
bool mqtt_filter_match_under(const char *filter, const char *base);

/* A shared subscription "$share/GROUP/FILTER" gives FILTER; any other
 * filter is returned as is. NULL for a malformed shared subscription
 * (empty or wildcard GROUP, no FILTER). */
const char *mqtt_filter_strip_share(const char *filter);

/* The WoT operations that authorize an MQTT packet on a topic of kind k,
 * any one of them sufficing; written to ops, the count returned (0: no
 * consumer may do it). publish false means SUBSCRIBE and delivery.
 *   publish:   property-set → writeproperty; action → invokeaction
 *   subscribe: property → observeproperty, readproperty
 *              event → subscribeevent
 *              action-response → invokeaction (and {client} must be the
 *                         subscriber's own client id: the caller checks)
 *              property-cose → observeproperty, readproperty; event-cose →
 *                         subscribeevent (and {principal} must be the
 *                         subscriber's principal: the caller checks)
 * The thing-level operations (observeallproperties, readallproperties,
 * subscribeallevents) never authorize one affordance's topic: like the
 * HTTPS readallproperties, which answers with only the properties the
 * caller may read, each value is decided on its own affordance. */
size_t mqtt_topic_ops(enum mqtt_topic_kind k, bool publish, enum wot_op ops[MQTT_TOPIC_MAX_OPS]);
