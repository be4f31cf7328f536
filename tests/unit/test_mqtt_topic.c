/* test_mqtt_topic.c - mqtt_topic.c: the topic layout both ways, the
 * canonical level encoding, MQTT 5 filter rules and matching (with the
 * '$' rule and shared subscriptions), and the operation map. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mqtt_topic.h"
#include "south/mqtt.h"

/* ---- prefix ----------------------------------------------------------------- */

static void test_prefix(void **state)
{
    (void)state;
    assert_true(mqtt_prefix_valid("wot"));
    assert_true(mqtt_prefix_valid("home/wot-gw_1.x~"));
    assert_false(mqtt_prefix_valid(NULL));
    assert_false(mqtt_prefix_valid(""));
    assert_false(mqtt_prefix_valid("/wot"));
    assert_false(mqtt_prefix_valid("wot/"));
    assert_false(mqtt_prefix_valid("a//b"));
    assert_false(mqtt_prefix_valid("$SYS"));
    assert_false(mqtt_prefix_valid("w+t"));
    assert_false(mqtt_prefix_valid("wot/#"));
    assert_false(mqtt_prefix_valid("w t"));
    char big[MQTT_TOPIC_PREFIX_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_false(mqtt_prefix_valid(big));
    big[MQTT_TOPIC_PREFIX_MAX] = '\0';
    assert_true(mqtt_prefix_valid(big));
}

/* ---- parse ------------------------------------------------------------------- */

static void expect(const char *prefix, const char *topic, enum mqtt_topic_kind kind,
                   const char *thing, const char *name, const char *client)
{
    struct mqtt_topic t;
    int r = mqtt_topic_parse(prefix, topic, &t);
    if (r != 0)
        fail_msg("'%s' did not parse: %d", topic, r);
    assert_int_equal(t.kind, kind);
    assert_string_equal(t.thing, thing);
    assert_string_equal(t.name, name);
    assert_string_equal(t.client, client ? client : "");
}

static void test_parse_layout(void **state)
{
    (void)state;
    expect("wot", "wot/lamp/properties/on", MQTT_TOPIC_PROPERTY, "lamp", "on", NULL);
    expect("wot", "wot/lamp/properties/on/set", MQTT_TOPIC_PROPERTY_SET, "lamp", "on", NULL);
    expect("wot", "wot/lamp/actions/toggle", MQTT_TOPIC_ACTION, "lamp", "toggle", NULL);
    expect("wot", "wot/lamp/actions/toggle/response/c1", MQTT_TOPIC_ACTION_RESPONSE, "lamp",
           "toggle", "c1");
    expect("wot", "wot/lamp/actions/toggle/response/c1/req/42", MQTT_TOPIC_ACTION_RESPONSE, "lamp",
           "toggle", "c1");
    expect("wot", "wot/lamp/events/overheated", MQTT_TOPIC_EVENT, "lamp", "overheated", NULL);
    expect("home/gw", "home/gw/t.1/events/e~x", MQTT_TOPIC_EVENT, "t.1", "e~x", NULL);
    /* encoded names */
    expect("wot", "wot/lamp/properties/a%2Fb", MQTT_TOPIC_PROPERTY, "lamp", "a/b", NULL);
    expect("wot", "wot/lamp/properties/%2B%23%24%25", MQTT_TOPIC_PROPERTY, "lamp", "+#$%", NULL);
    expect("wot", "wot/lamp/properties/sch%C3%B6n%20x", MQTT_TOPIC_PROPERTY, "lamp",
           "sch\xc3\xb6n x", NULL);
    expect("wot", "wot/lamp/actions/go/response/auto-1%2F2", MQTT_TOPIC_ACTION_RESPONSE, "lamp",
           "go", "auto-1/2");
    /* the collection words are names too */
    expect("wot", "wot/properties/properties/set", MQTT_TOPIC_PROPERTY, "properties", "set", NULL);
    expect("wot", "wot/properties/properties/set/set", MQTT_TOPIC_PROPERTY_SET, "properties", "set",
           NULL);
}

static void refused(const char *prefix, const char *topic, int err)
{
    struct mqtt_topic t;
    int r = mqtt_topic_parse(prefix, topic, &t);
    if (r != err)
        fail_msg("'%s': %d, expected %d", topic ? topic : "(null)", r, err);
}

static void test_parse_refused(void **state)
{
    (void)state;
    refused("wot", NULL, -EINVAL);
    refused("wot", "", -EINVAL);
    refused("wot", "wot", -EINVAL);
    refused("wot", "wot/", -EINVAL);
    refused("wot", "wot/lamp", -EINVAL);
    refused("wot", "wot/lamp/properties", -EINVAL);
    refused("wot", "wot/lamp/properties/", -EINVAL);
    refused("wot", "wot//properties/on", -EINVAL);
    refused("wot", "wotx/lamp/properties/on", -EINVAL);
    refused("wot", "wo/lamp/properties/on", -EINVAL);
    refused("wot", "other/lamp/properties/on", -EINVAL);
    refused("wot", "$SYS/broker/uptime", -EINVAL);
    refused("wot", "/wot/lamp/properties/on", -EINVAL);
    refused("wot", "wot/lamp/things/on", -EINVAL);
    refused("wot", "wot/lamp/properties/on/get", -EINVAL);
    refused("wot", "wot/lamp/properties/on/set/x", -EINVAL);
    refused("wot", "wot/lamp/properties/on/", -EINVAL);
    refused("wot", "wot/lamp/events/e/x", -EINVAL);
    refused("wot", "wot/lamp/actions/a/result/c", -EINVAL);
    refused("wot", "wot/lamp/actions/a/response", -EINVAL);
    refused("wot", "wot/lamp/actions/a/response/", -EINVAL);
    refused("wot", "wot/lamp/actions/a/x", -EINVAL);
    /* wildcards are filters, not topics */
    refused("wot", "wot/+/properties/on", -EINVAL);
    refused("wot", "wot/lamp/properties/#", -EINVAL);
    /* non-canonical or broken encodings */
    refused("wot", "wot/lamp/properties/%6Fn", -EINVAL);
    refused("wot", "wot/lamp/properties/a%2fb", -EINVAL);
    refused("wot", "wot/lamp/properties/a%2", -EINVAL);
    refused("wot", "wot/lamp/properties/a%", -EINVAL);
    refused("wot", "wot/lamp/properties/a%G0", -EINVAL);
    refused("wot", "wot/lamp/properties/a%00b", -EINVAL);
    refused("wot", "wot/lamp/properties/a b", -EINVAL);
    refused("wot", "wot/lamp/properties/sch\xc3\xb6n", -EINVAL);
    refused("wot", "wot/lamp/properties/$x", -EINVAL);
    refused("wot", "wot/la%6Dp/properties/on", -EINVAL);
    /* bad prefix */
    refused("", "wot/lamp/properties/on", -EINVAL);
    refused("wot/", "wot/lamp/properties/on", -EINVAL);
    refused(NULL, "wot/lamp/properties/on", -EINVAL);
}

static void test_parse_limits(void **state)
{
    (void)state;
    char name[MQTT_TOPIC_NAME_MAX + 2];
    char topic[MQTT_TOPIC_MAX + 64];
    struct mqtt_topic t;
    memset(name, 'n', sizeof(name));
    name[MQTT_TOPIC_NAME_MAX] = '\0';
    snprintf(topic, sizeof(topic), "wot/lamp/properties/%s", name);
    assert_int_equal(mqtt_topic_parse("wot", topic, &t), 0);
    assert_int_equal(strlen(t.name), MQTT_TOPIC_NAME_MAX);
    name[MQTT_TOPIC_NAME_MAX] = 'n';
    name[MQTT_TOPIC_NAME_MAX + 1] = '\0';
    snprintf(topic, sizeof(topic), "wot/lamp/properties/%s", name);
    assert_int_equal(mqtt_topic_parse("wot", topic, &t), -ENAMETOOLONG);
    /* a long response suffix is fine up to MQTT_TOPIC_MAX, then refused */
    int n = snprintf(topic, sizeof(topic), "wot/lamp/actions/a/response/c/");
    memset(topic + n, 'x', MQTT_TOPIC_MAX - (size_t)n);
    topic[MQTT_TOPIC_MAX] = '\0';
    assert_int_equal(mqtt_topic_parse("wot", topic, &t), 0);
    assert_int_equal(t.kind, MQTT_TOPIC_ACTION_RESPONSE);
    topic[MQTT_TOPIC_MAX] = 'x';
    topic[MQTT_TOPIC_MAX + 1] = '\0';
    assert_int_equal(mqtt_topic_parse("wot", topic, &t), -ENAMETOOLONG);
}

/* ---- format -------------------------------------------------------------------- */

static void test_format(void **state)
{
    (void)state;
    char buf[MQTT_TOPIC_MAX + 1];
    struct mqtt_topic t;
    int n;
    n = mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY, "lamp", "on", NULL, buf, sizeof(buf));
    assert_int_equal(n, (int)strlen("wot/lamp/properties/on"));
    assert_string_equal(buf, "wot/lamp/properties/on");
    mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY_SET, "lamp", "on", NULL, buf, sizeof(buf));
    assert_string_equal(buf, "wot/lamp/properties/on/set");
    mqtt_topic_format("wot", MQTT_TOPIC_ACTION, "lamp", "toggle", NULL, buf, sizeof(buf));
    assert_string_equal(buf, "wot/lamp/actions/toggle");
    mqtt_topic_format("wot", MQTT_TOPIC_ACTION_RESPONSE, "lamp", "toggle", "cid 1", buf,
                      sizeof(buf));
    assert_string_equal(buf, "wot/lamp/actions/toggle/response/cid%201");
    mqtt_topic_format("a/b", MQTT_TOPIC_EVENT, "lamp", "x/y+z#", NULL, buf, sizeof(buf));
    assert_string_equal(buf, "a/b/lamp/events/x%2Fy%2Bz%23");
    /* NULL names: single-level wildcards */
    mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY, "lamp", NULL, NULL, buf, sizeof(buf));
    assert_string_equal(buf, "wot/lamp/properties/+");
    mqtt_topic_format("wot", MQTT_TOPIC_ACTION_RESPONSE, "lamp", "a", NULL, buf, sizeof(buf));
    assert_string_equal(buf, "wot/lamp/actions/a/response/+");
    assert_true(mqtt_filter_valid(buf));

    /* round trip with awkward names */
    const char *names[] = {"on", "a/b", "%", "%25", "+", "#", "$SYS", "sch\xc3\xb6n", " ", "~._-"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        n = mqtt_topic_format("wot", MQTT_TOPIC_ACTION_RESPONSE, "th", names[i], names[i], buf,
                              sizeof(buf));
        assert_true(n > 0);
        assert_true(mqtt_topic_name_valid(buf));
        assert_int_equal(mqtt_topic_parse("wot", buf, &t), 0);
        assert_string_equal(t.name, names[i]);
        assert_string_equal(t.client, names[i]);
    }

    /* errors */
    assert_int_equal(
            mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY, "lamp", "", NULL, buf, sizeof(buf)),
            -EINVAL);
    assert_int_equal(
            mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY, "", "on", NULL, buf, sizeof(buf)),
            -EINVAL);
    assert_int_equal(
            mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY, NULL, "on", NULL, buf, sizeof(buf)),
            -EINVAL);
    assert_int_equal(
            mqtt_topic_format("#", MQTT_TOPIC_PROPERTY, "lamp", "on", NULL, buf, sizeof(buf)),
            -EINVAL);
    char small[22];
    assert_int_equal(
            mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY, "lamp", "on", NULL, small, sizeof(small)),
            -ENAMETOOLONG);
    assert_string_equal(small, "");
    char fits[23];
    assert_int_equal(
            mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY, "lamp", "on", NULL, fits, sizeof(fits)),
            22);
    char big[MQTT_TOPIC_MAX];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    static char out[4 * MQTT_TOPIC_MAX];
    assert_int_equal(
            mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY, "lamp", big, NULL, out, sizeof(out)),
            -ENAMETOOLONG);
    /* names the parser would refuse are never formatted */
    big[MQTT_TOPIC_NAME_MAX] = '\0';
    assert_true(mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY, "lamp", big, NULL, out, sizeof(out)) >
                0);
    big[MQTT_TOPIC_NAME_MAX] = 'b';
    big[MQTT_TOPIC_NAME_MAX + 1] = '\0';
    assert_int_equal(
            mqtt_topic_format("wot", MQTT_TOPIC_PROPERTY, "lamp", big, NULL, out, sizeof(out)),
            -ENAMETOOLONG);
}

static void test_level_encode(void **state)
{
    (void)state;
    char buf[16];
    assert_int_equal(mqtt_level_encode("a b", buf, sizeof(buf)), 5);
    assert_string_equal(buf, "a%20b");
    assert_int_equal(mqtt_level_encode("", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(mqtt_level_encode("\xff", buf, 4), 3);
    assert_string_equal(buf, "%FF");
    assert_int_equal(mqtt_level_encode("\xff", buf, 3), -ENAMETOOLONG);
    assert_int_equal(mqtt_level_encode("abc", buf, 3), -ENAMETOOLONG);
}

/* ---- filters --------------------------------------------------------------------- */

static void test_filter_valid(void **state)
{
    (void)state;
    assert_true(mqtt_filter_valid("#"));
    assert_true(mqtt_filter_valid("+"));
    assert_true(mqtt_filter_valid("wot/#"));
    assert_true(mqtt_filter_valid("wot/+/properties/+"));
    assert_true(mqtt_filter_valid("+/+/#"));
    assert_true(mqtt_filter_valid("/"));
    assert_true(mqtt_filter_valid("a//b"));
    assert_false(mqtt_filter_valid(""));
    assert_false(mqtt_filter_valid(NULL));
    assert_false(mqtt_filter_valid("wot/#/x"));
    assert_false(mqtt_filter_valid("wot#"));
    assert_false(mqtt_filter_valid("wot/a#"));
    assert_false(mqtt_filter_valid("wot/a+"));
    assert_false(mqtt_filter_valid("wot/++"));
    assert_false(mqtt_filter_valid("##"));
    assert_true(mqtt_filter_has_wildcards("a/+"));
    assert_true(mqtt_filter_has_wildcards("#"));
    assert_false(mqtt_filter_has_wildcards("a/b"));
    assert_true(mqtt_topic_name_valid("a/b"));
    assert_true(mqtt_topic_name_valid("/"));
    assert_false(mqtt_topic_name_valid("a/+"));
    assert_false(mqtt_topic_name_valid("a/#"));
    assert_false(mqtt_topic_name_valid(""));
    static char big[MQTT_TOPIC_MAX + 2];
    memset(big, 'x', MQTT_TOPIC_MAX + 1);
    assert_false(mqtt_topic_name_valid(big));
    assert_false(mqtt_filter_valid(big));
    big[MQTT_TOPIC_MAX] = '\0';
    assert_true(mqtt_topic_name_valid(big));
    assert_true(mqtt_filter_valid(big));
}

static void test_filter_match(void **state)
{
    (void)state;
    /* MQTT 5 §4.7.1 examples */
    assert_true(mqtt_filter_match("sport/tennis/player1/#", "sport/tennis/player1"));
    assert_true(mqtt_filter_match("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
    assert_true(
            mqtt_filter_match("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
    assert_true(mqtt_filter_match("sport/#", "sport"));
    assert_true(mqtt_filter_match("#", "sport/tennis"));
    assert_true(mqtt_filter_match("sport/tennis/+", "sport/tennis/player1"));
    assert_false(mqtt_filter_match("sport/tennis/+", "sport/tennis/player1/ranking"));
    assert_false(mqtt_filter_match("sport/+", "sport"));
    assert_true(mqtt_filter_match("sport/+", "sport/"));
    assert_true(mqtt_filter_match("+/+", "/finance"));
    assert_true(mqtt_filter_match("/+", "/finance"));
    assert_false(mqtt_filter_match("+", "/finance"));
    assert_true(mqtt_filter_match("+", "finance"));
    /* §4.7.2: wildcards at the start do not match '$' topics */
    assert_false(mqtt_filter_match("#", "$SYS/x"));
    assert_false(mqtt_filter_match("+/monitor/Clients", "$SYS/monitor/Clients"));
    assert_true(mqtt_filter_match("$SYS/#", "$SYS/monitor/Clients"));
    assert_true(mqtt_filter_match("$SYS/monitor/+", "$SYS/monitor/Clients"));
    /* exact and near misses */
    assert_true(mqtt_filter_match("wot/lamp/properties/on", "wot/lamp/properties/on"));
    assert_false(mqtt_filter_match("wot/lamp/properties/on", "wot/lamp/properties/o"));
    assert_false(mqtt_filter_match("wot/lamp/properties/o", "wot/lamp/properties/on"));
    assert_false(mqtt_filter_match("wot/lamp/properties/on", "wot/lamp/properties/on/set"));
    assert_true(mqtt_filter_match("wot/+/properties/+", "wot/lamp/properties/on"));
    assert_false(mqtt_filter_match("wot/+/properties/+", "wot/lamp/properties/on/set"));
    assert_true(mqtt_filter_match("wot/+/properties/+/set", "wot/lamp/properties/on/set"));
    /* invalid inputs never match */
    assert_false(mqtt_filter_match("wot/#/x", "wot/a/x"));
    assert_false(mqtt_filter_match("wot/#", "wot/+"));
    assert_false(mqtt_filter_match("", ""));
}

static void test_filter_match_under(void **state)
{
    (void)state;
    const char *base = "wot/lamp/actions/go/response/c1";
    assert_true(mqtt_filter_match_under(base, base));
    assert_true(mqtt_filter_match_under("wot/lamp/actions/go/response/c1/#", base));
    assert_true(mqtt_filter_match_under("wot/lamp/actions/go/response/c1/req", base));
    assert_true(mqtt_filter_match_under("wot/lamp/actions/go/response/c1/+/x", base));
    assert_true(mqtt_filter_match_under("wot/+/actions/+/response/+", base));
    assert_true(mqtt_filter_match_under("wot/#", base));
    assert_true(mqtt_filter_match_under("#", base));
    assert_false(mqtt_filter_match_under("wot/lamp/actions/go/response/c2", base));
    assert_false(mqtt_filter_match_under("wot/lamp/actions/go/response", base));
    assert_false(mqtt_filter_match_under("wot/lamp/actions/go/response/+x", base));
    assert_false(mqtt_filter_match_under("wot/lamp/events/#", base));
    assert_false(mqtt_filter_match_under("#", "$x/y"));
}

static void test_strip_share(void **state)
{
    (void)state;
    assert_string_equal(mqtt_filter_strip_share("wot/#"), "wot/#");
    assert_string_equal(mqtt_filter_strip_share("$share/g/wot/#"), "wot/#");
    assert_string_equal(mqtt_filter_strip_share("$share/g/#"), "#");
    assert_string_equal(mqtt_filter_strip_share("$shared/x"), "$shared/x");
    assert_string_equal(mqtt_filter_strip_share("$SYS/#"), "$SYS/#");
    assert_null(mqtt_filter_strip_share("$share"));
    assert_null(mqtt_filter_strip_share("$share/"));
    assert_null(mqtt_filter_strip_share("$share/g"));
    assert_null(mqtt_filter_strip_share("$share/g/"));
    assert_null(mqtt_filter_strip_share("$share//wot/#"));
    assert_null(mqtt_filter_strip_share("$share/+/wot/#"));
    assert_null(mqtt_filter_strip_share("$share/#/wot"));
    assert_null(mqtt_filter_strip_share(NULL));
}

/* ---- operations -------------------------------------------------------------------- */

static bool has(const enum wot_op *ops, size_t n, enum wot_op op)
{
    for (size_t i = 0; i < n; i++)
        if (ops[i] == op)
            return true;
    return false;
}

static void test_ops(void **state)
{
    (void)state;
    enum wot_op ops[MQTT_TOPIC_MAX_OPS];
    size_t n;
    n = mqtt_topic_ops(MQTT_TOPIC_PROPERTY_SET, true, ops);
    assert_int_equal(n, 1);
    assert_int_equal(ops[0], WOT_OP_WRITEPROPERTY);
    n = mqtt_topic_ops(MQTT_TOPIC_ACTION, true, ops);
    assert_int_equal(n, 1);
    assert_int_equal(ops[0], WOT_OP_INVOKEACTION);
    /* consumers never publish values, events or responses */
    assert_int_equal(mqtt_topic_ops(MQTT_TOPIC_PROPERTY, true, ops), 0);
    assert_int_equal(mqtt_topic_ops(MQTT_TOPIC_EVENT, true, ops), 0);
    assert_int_equal(mqtt_topic_ops(MQTT_TOPIC_ACTION_RESPONSE, true, ops), 0);
    /* nor read the commands of others */
    assert_int_equal(mqtt_topic_ops(MQTT_TOPIC_PROPERTY_SET, false, ops), 0);
    assert_int_equal(mqtt_topic_ops(MQTT_TOPIC_ACTION, false, ops), 0);
    n = mqtt_topic_ops(MQTT_TOPIC_PROPERTY, false, ops);
    assert_int_equal(n, 2);
    assert_true(has(ops, n, WOT_OP_OBSERVEPROPERTY));
    assert_true(has(ops, n, WOT_OP_READPROPERTY));
    /* thing-level operations never open one property's topic (no widening
     * past a stricter per-property policy) */
    assert_false(has(ops, n, WOT_OP_OBSERVEALLPROPERTIES));
    assert_false(has(ops, n, WOT_OP_READALLPROPERTIES));
    assert_false(has(ops, n, WOT_OP_WRITEPROPERTY));
    n = mqtt_topic_ops(MQTT_TOPIC_EVENT, false, ops);
    assert_int_equal(n, 1);
    assert_true(has(ops, n, WOT_OP_SUBSCRIBEEVENT));
    assert_false(has(ops, n, WOT_OP_SUBSCRIBEALLEVENTS));
    n = mqtt_topic_ops(MQTT_TOPIC_ACTION_RESPONSE, false, ops);
    assert_int_equal(n, 1);
    assert_int_equal(ops[0], WOT_OP_INVOKEACTION);
    assert_string_equal(mqtt_topic_kind_name(MQTT_TOPIC_PROPERTY_SET), "property-set");
    assert_string_equal(mqtt_topic_kind_name(MQTT_TOPIC_ACTION_RESPONSE), "action-response");
}

/* south/mqtt.h: the broker address of an mqtt:// device form */
static void test_south_url(void **state)
{
    (void)state;
    char host[64];
    int port = 0;
    assert_int_equal(
            south_mqtt_parse_url("mqtt://127.0.0.1:1884/meter/power", host, sizeof(host), &port),
            0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 1884);
    assert_int_equal(south_mqtt_parse_url("MQTT://[::1]/x", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 1883);
    assert_int_equal(south_mqtt_parse_url("mqtt://localhost", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    /* refused: other schemes, names, bad ports, garbage after the host */
    static const char *const bad[] = {"mqtts://127.0.0.1/x",
                                      "http://127.0.0.1/",
                                      "mqtt://",
                                      "mqtt:///x",
                                      "mqtt://device.lan/x",
                                      "mqtt://127.0.0.1:0/x",
                                      "mqtt://127.0.0.1:65536/x",
                                      "mqtt://127.0.0.1:/x",
                                      "mqtt://127.0.0.1:12ab/x",
                                      "mqtt://[::1/x",
                                      "mqtt://127.0.0.1@evil/x",
                                      "mqtt://[zz::1]:1883/x",
                                      "mqtt://1.2.3.4.5/",
                                      NULL};
    for (size_t i = 0; bad[i]; i++) {
        assert_int_equal(south_mqtt_parse_url(bad[i], host, sizeof(host), &port), -EINVAL);
    }
    assert_int_equal(south_mqtt_parse_url(NULL, host, sizeof(host), &port), -EINVAL);
    /* a host that does not fit */
    char small[4];
    assert_int_equal(south_mqtt_parse_url("mqtt://127.0.0.1/x", small, sizeof(small), &port),
                     -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_prefix),       cmocka_unit_test(test_south_url),
            cmocka_unit_test(test_parse_layout), cmocka_unit_test(test_parse_refused),
            cmocka_unit_test(test_parse_limits), cmocka_unit_test(test_format),
            cmocka_unit_test(test_level_encode), cmocka_unit_test(test_filter_valid),
            cmocka_unit_test(test_filter_match), cmocka_unit_test(test_filter_match_under),
            cmocka_unit_test(test_strip_share),  cmocka_unit_test(test_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
