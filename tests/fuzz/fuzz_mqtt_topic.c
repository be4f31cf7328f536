/* fuzz_mqtt_topic.c - the MQTT topic layout and filter matching on
 * arbitrary bytes. Input: "PREFIX\nFILTER\nTOPIC" (missing parts empty).
 * Never crashes, and checks invariants:
 *   - a topic that parses formats back to itself (the encoding is
 *     canonical), except for the client's own levels after a response
 *     topic's {client}, which are kept as the prefix of the topic;
 *   - a valid topic matches itself as a filter, and "#" (unless '$');
 *   - filter_match implies filter_match_under;
 *   - a stripped shared subscription is a suffix of the input;
 *   - the first line as a device broker URL (south_mqtt_parse_url): when
 *     it parses, the host is an IP literal and the port in 1..65535. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "mqtt_topic.h"
#include "south/mqtt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4 * MQTT_TOPIC_MAX)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char *prefix = s, *filter = "", *topic = "";
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        filter = nl + 1;
        nl = strchr(filter, '\n');
        if (nl) {
            *nl = '\0';
            topic = nl + 1;
        }
    }

    char host[64];
    int port = 0;
    if (south_mqtt_parse_url(prefix, host, sizeof(host), &port) == 0) {
        unsigned char a[16];
        if (port < 1 || port > 65535 ||
            (inet_pton(AF_INET, host, a) != 1 && inet_pton(AF_INET6, host, a) != 1))
            abort();
    }

    struct mqtt_topic t;
    int r = mqtt_topic_parse(prefix, topic, &t);
    if (r != 0 && r != -EINVAL && r != -ENAMETOOLONG)
        abort();
    if (r == 0) {
        char buf[MQTT_TOPIC_MAX + 1];
        /* the kinds with a client part: action responses, and the COSE
         * topics of one recipient (.../cose/PRINCIPAL) */
        bool client = t.kind == MQTT_TOPIC_ACTION_RESPONSE || t.kind == MQTT_TOPIC_PROPERTY_COSE ||
                      t.kind == MQTT_TOPIC_EVENT_COSE;
        int n = mqtt_topic_format(prefix, t.kind, t.thing, t.name, client ? t.client : NULL, buf,
                                  sizeof(buf));
        if (n < 0)
            abort();
        if (t.kind == MQTT_TOPIC_ACTION_RESPONSE) {
            if (strncmp(topic, buf, (size_t)n) != 0 || (topic[n] != '\0' && topic[n] != '/'))
                abort();
        } else if (strcmp(buf, topic) != 0) {
            abort();
        }
        enum wot_op ops[MQTT_TOPIC_MAX_OPS];
        if (mqtt_topic_ops(t.kind, true, ops) > MQTT_TOPIC_MAX_OPS ||
            mqtt_topic_ops(t.kind, false, ops) > MQTT_TOPIC_MAX_OPS)
            abort();
    }

    if (mqtt_topic_name_valid(topic)) {
        if (!mqtt_filter_valid(topic) || !mqtt_filter_match(topic, topic))
            abort();
        if (topic[0] != '$' && !mqtt_filter_match("#", topic))
            abort();
    }
    bool m = mqtt_filter_match(filter, topic);
    if (m && !mqtt_filter_match_under(filter, topic))
        abort();
    if (m && (!mqtt_filter_valid(filter) || !mqtt_topic_name_valid(topic)))
        abort();
    const char *inner = mqtt_filter_strip_share(filter);
    if (inner && (inner < filter || inner > filter + strlen(filter)))
        abort();
    char enc[64];
    r = mqtt_level_encode(prefix, enc, sizeof(enc));
    if (r != -ENAMETOOLONG && (r < 0 || (size_t)r != strlen(enc)))
        abort();
    free(s);
    return 0;
}
