/* mqtt.h - the daemon's side of the MQTT front end: wotgw as a
 * libmosquitto client (MQTT 5) of the broker that runs wotgw's plugin
 * (src/mosquitto/), in the one sd-event loop.
 *
 * The broker and its plugin decide who may connect, publish and subscribe;
 * this client carries what they let through:
 *
 *  commands   it subscribes (QoS 1) to PREFIX/+/properties/+/set and
 *             PREFIX/+/actions/+ and turns each message into a
 *             writeproperty / invokeaction of the thing's device, in the
 *             device's protocol, payload untouched. The principal is the
 *             one the plugin attached ("wotgw-principal"); a message
 *             without it is dropped. The outcome goes to the message's
 *             response topic (MQTT 5; the plugin adds one for MQTT 3.1.1
 *             actions) with its correlation data, the user property
 *             "wotgw-status" (an HTTP status code) and, for gateway errors,
 *             an RFC 9457 problem body.
 *  values     every property that an exposed TD offers over MQTT
 *             (subscribe forms) is read from its device and published,
 *             retained, to PREFIX/{thing}/properties/{name}: observed
 *             where the device TD has an observeproperty form (and read
 *             every poll_interval all the same, for missed notifications),
 *             else read every poll_interval of the thing (and right after
 *             a write through wotgw). Only changed values are published. The last value is
 * published again after each reconnect. events     every event offered over MQTT whose device TD
 * has a subscribeevent form is subscribed to and each notification published (QoS 1, not retained)
 * to PREFIX/{thing}/events/{e}.
 *
 * The session is persistent (clean start off, session expiry
 * MQTT_SESSION_EXPIRY_S): commands published with QoS 1 while wotgw is
 * away are queued by the broker and delivered when it is back. When the
 * broker goes away the client reconnects with exponential backoff (0.1 s
 * doubling to 10 s) and subscribes again.
 *
 * Active when wotgw.conf has an [mqtt] section.
 */
#pragma once

#include "daemon.h"

#define MQTT_SESSION_EXPIRY_S    86400u
#define MQTT_KEEPALIVE_S         30
#define MQTT_MAX_INFLIGHT_CMDS   256 /* commands waiting for their device */
#define MQTT_RESPONSE_STATUS_KEY "wotgw-status"
#define MQTT_PRINCIPAL_KEY       "wotgw-principal"

extern const struct frontend_ops mqtt_frontend;
