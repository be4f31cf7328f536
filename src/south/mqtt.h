/* south/mqtt.h - the MQTT device client: nosec MQTT devices on a plain
 * broker that only the gateway reaches (loopback or the LAN side), their
 * topics named by the device TD's mqtt:// forms (mqv:topic for publish,
 * mqv:filter for subscribe, else the href's path).
 *
 * One libmosquitto connection (MQTT 3.1.1, clean session, client id
 * "wotgw-south-PID") per broker address, on the daemon's sd-event loop,
 * made at the first call and kept; lost connections are made again with
 * a backoff (0.1 s doubling to 10 s) while anything uses them. Every topic
 * a read or watch names is subscribed (QoS 1) and its last message kept:
 *
 *   SOUTH_MQTT_READ     the last value published on the topic (retained
 *                       values arrive right after the subscription); a
 *                       topic that never had one within timeout_us ends
 *                       with SOUTH_MQTT_TIMEOUT ("never published")
 *   SOUTH_MQTT_PUBLISH  publishes the body (QoS and retain of the form);
 *                       done when the broker acknowledged it (QoS 1/2) or
 *                       it was written (QoS 0)
 *   SOUTH_MQTT_WATCH    every later message on the topic through notify()
 *                       until cancelled; done() if the connection is lost
 *
 * Broker addresses must be IP literals ("localhost" is 127.0.0.1).
 * done() is called exactly once, from the loop (never from inside
 * south_mqtt_start()), unless the call was cancelled first.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct south_mqtt;
struct south_mqtt_call;

enum south_mqtt_mode {
    SOUTH_MQTT_READ,
    SOUTH_MQTT_PUBLISH,
    SOUTH_MQTT_WATCH,
};

enum south_mqtt_error {
    SOUTH_MQTT_OK,
    SOUTH_MQTT_CONNECT,  /* broker unreachable, refused, or lost -> 502 */
    SOUTH_MQTT_TIMEOUT,  /* no value / no acknowledgement in time -> 504 */
    SOUTH_MQTT_INTERNAL, /* out of memory, libmosquitto failure -> 500 */
};

struct south_mqtt_request {
    enum south_mqtt_mode mode;
    const char *url;   /* mqtt://IP[:port]/... of the form (port default 1883) */
    const char *topic; /* topic or filter (no wildcards for PUBLISH) */
    const uint8_t *body;
    size_t body_len;
    int qos; /* PUBLISH: 0, 1 or 2 */
    bool retain;
    uint64_t timeout_us; /* READ and PUBLISH; 0: 10 s */
};

struct south_mqtt_response {
    enum south_mqtt_error error;
    const char *error_text; /* static, safe to log */
    const uint8_t *body;    /* READ / notify: the message; valid during the callback */
    size_t body_len;
};

typedef void (*south_mqtt_fn)(void *ud, const struct south_mqtt_response *r);

const char *south_mqtt_error_name(enum south_mqtt_error e);

int south_mqtt_new(sd_event *ev, struct south_mqtt **out);
/* Cancels every call without calling done(). NULL is fine. */
void south_mqtt_free(struct south_mqtt *s);

/* Returns 0 and the handle, -EINVAL (not an mqtt:// URL with an IP
 * literal, a bad topic) or -ENOMEM; done() is then not called. notify is
 * for SOUTH_MQTT_WATCH only. */
int south_mqtt_start(struct south_mqtt *s, const struct south_mqtt_request *req, south_mqtt_fn done,
                     south_mqtt_fn notify, void *ud, struct south_mqtt_call **out);
void south_mqtt_cancel(struct south_mqtt_call *call);

/* mqtt://HOST[:PORT][/path]: the IP literal (brackets removed, localhost
 * as 127.0.0.1) and port. Pure. 0 or -EINVAL. */
int south_mqtt_parse_url(const char *url, char *host, size_t hostlen, int *port);
