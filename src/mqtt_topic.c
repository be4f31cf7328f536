/* mqtt_topic.c - wotgw's MQTT topic layout; see mqtt_topic.h.
 *
 * Everything walks the strings level by level with bounded lengths; no
 * allocation, so there is nothing to clean up.
 */
#define _GNU_SOURCE
#include "mqtt_topic.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char hexdigits[] = "0123456789ABCDEF";

const char *mqtt_topic_kind_name(enum mqtt_topic_kind k)
{
    switch (k) {
    case MQTT_TOPIC_PROPERTY: return "property";
    case MQTT_TOPIC_PROPERTY_SET: return "property-set";
    case MQTT_TOPIC_ACTION: return "action";
    case MQTT_TOPIC_ACTION_RESPONSE: return "action-response";
    case MQTT_TOPIC_EVENT: return "event";
    case MQTT_TOPIC_PROPERTY_COSE: return "property-cose";
    case MQTT_TOPIC_EVENT_COSE: return "event-cose";
    }
    return "?";
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

bool mqtt_prefix_valid(const char *prefix)
{
    size_t n = prefix ? strnlen(prefix, MQTT_TOPIC_PREFIX_MAX + 1) : 0;
    if (n == 0 || n > MQTT_TOPIC_PREFIX_MAX || prefix[0] == '$')
        return false;
    bool level_empty = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)prefix[i];
        if (c == '/') {
            if (level_empty)
                return false;
            level_empty = true;
        } else if (unreserved(c)) {
            level_empty = false;
        } else {
            return false;
        }
    }
    return !level_empty;
}

int mqtt_level_encode(const char *s, char *buf, size_t size)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        size_t need = unreserved(*p) ? 1 : 3;
        if (o + need >= size)
            return -ENAMETOOLONG;
        if (need == 1) {
            buf[o++] = (char)*p;
        } else {
            buf[o++] = '%';
            buf[o++] = hexdigits[*p >> 4];
            buf[o++] = hexdigits[*p & 15];
        }
    }
    if (o >= size)
        return -ENAMETOOLONG;
    buf[o] = '\0';
    return (int)o;
}

static int hexval(char c)
{
    /* upper case only: the canonical encoding */
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the level s[0..n) into out (MQTT_TOPIC_NAME_MAX + 1 bytes).
 * Only the canonical encoding is accepted. */
static int level_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    if (n == 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o == MQTT_TOPIC_NAME_MAX)
            return -ENAMETOOLONG;
        if (unreserved(c)) {
            out[o++] = (char)c;
            continue;
        }
        if (c != '%' || n - i < 3)
            return -EINVAL;
        int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        unsigned char v = (unsigned char)(hi << 4 | lo);
        if (v == 0 || unreserved(v))
            return -EINVAL; /* NUL, or not how it would be encoded */
        out[o++] = (char)v;
        i += 2;
    }
    out[o] = '\0';
    return 0;
}

/* The level starting at p: its length; *next the start of the following
 * level or NULL at the end. */
static size_t level(const char *p, const char **next)
{
    const char *e = strchrnul(p, '/');
    *next = *e ? e + 1 : NULL;
    return (size_t)(e - p);
}

static bool level_is(const char *p, size_t n, const char *word)
{
    return strlen(word) == n && !memcmp(p, word, n);
}

int mqtt_topic_parse(const char *prefix, const char *topic, struct mqtt_topic *out)
{
    memset(out, 0, sizeof(*out));
    if (!mqtt_prefix_valid(prefix) || !topic)
        return -EINVAL;
    size_t tl = strnlen(topic, MQTT_TOPIC_MAX + 1);
    if (tl > MQTT_TOPIC_MAX)
        return -ENAMETOOLONG;
    if (!mqtt_topic_name_valid(topic))
        return -EINVAL;
    size_t pl = strlen(prefix);
    if (strncmp(topic, prefix, pl) != 0 || topic[pl] != '/')
        return -EINVAL;

    const char *p = topic + pl + 1, *next;
    const char *lv[5];
    size_t ln[5], n = 0;
    /* thing, collection, name and at most two more levels before the rest */
    while (p && n < 5) {
        lv[n] = p;
        ln[n] = level(p, &next);
        n++;
        p = next;
    }
    const char *rest = p; /* levels after the fifth, or NULL */
    if (n < 3)
        return -EINVAL;
    int r = level_decode(lv[0], ln[0], out->thing);
    if (r == 0)
        r = level_decode(lv[2], ln[2], out->name);
    if (r < 0)
        return r;
    if (level_is(lv[1], ln[1], "properties")) {
        if (n == 3)
            out->kind = MQTT_TOPIC_PROPERTY;
        else if (n == 4 && level_is(lv[3], ln[3], "set"))
            out->kind = MQTT_TOPIC_PROPERTY_SET;
        else if (n == 5 && level_is(lv[3], ln[3], "cose"))
            out->kind = MQTT_TOPIC_PROPERTY_COSE;
        else
            return -EINVAL;
    } else if (level_is(lv[1], ln[1], "actions")) {
        if (n == 3) {
            out->kind = MQTT_TOPIC_ACTION;
        } else if (n == 5 && level_is(lv[3], ln[3], "response")) {
            out->kind = MQTT_TOPIC_ACTION_RESPONSE;
            if ((r = level_decode(lv[4], ln[4], out->client)) < 0)
                return r;
            (void)rest; /* any further levels are the client's own */
        } else {
            return -EINVAL;
        }
    } else if (level_is(lv[1], ln[1], "events")) {
        if (n == 3)
            out->kind = MQTT_TOPIC_EVENT;
        else if (n == 5 && level_is(lv[3], ln[3], "cose"))
            out->kind = MQTT_TOPIC_EVENT_COSE;
        else
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if ((out->kind == MQTT_TOPIC_PROPERTY_COSE || out->kind == MQTT_TOPIC_EVENT_COSE) &&
        (r = level_decode(lv[4], ln[4], out->client)) < 0)
        return r;
    if (rest && out->kind != MQTT_TOPIC_ACTION_RESPONSE)
        return -EINVAL;
    return 0;
}

/* Appends s (len n) at buf[*o]; -ENAMETOOLONG when it does not fit. */
static int put(char *buf, size_t size, size_t *o, const char *s, size_t n)
{
    if (n >= size - *o)
        return -ENAMETOOLONG;
    memcpy(buf + *o, s, n);
    *o += n;
    buf[*o] = '\0';
    return 0;
}

static int put_level(char *buf, size_t size, size_t *o, const char *name)
{
    if (!name)
        return put(buf, size, o, "/+", 2);
    if (!*name)
        return -EINVAL;
    if (strnlen(name, MQTT_TOPIC_NAME_MAX + 1) > MQTT_TOPIC_NAME_MAX)
        return -ENAMETOOLONG; /* mqtt_topic_parse() would refuse it */
    int r = put(buf, size, o, "/", 1);
    if (r < 0)
        return r;
    r = mqtt_level_encode(name, buf + *o, size - *o);
    if (r < 0)
        return r;
    *o += (size_t)r;
    return 0;
}

int mqtt_topic_format(const char *prefix, enum mqtt_topic_kind kind, const char *thing,
                      const char *name, const char *client, char *buf, size_t size)
{
    size_t o = 0;
    if (!buf || size == 0)
        return -ENAMETOOLONG;
    buf[0] = '\0';
    if (!mqtt_prefix_valid(prefix) || !thing || !*thing)
        return -EINVAL;
    if (size > MQTT_TOPIC_MAX + 1)
        size = MQTT_TOPIC_MAX + 1;
    const char *coll = kind == MQTT_TOPIC_PROPERTY || kind == MQTT_TOPIC_PROPERTY_SET ||
                                       kind == MQTT_TOPIC_PROPERTY_COSE
                               ? "properties"
                       : kind == MQTT_TOPIC_EVENT || kind == MQTT_TOPIC_EVENT_COSE ? "events"
                                                                                   : "actions";
    int r = put(buf, size, &o, prefix, strlen(prefix));
    if (!r)
        r = put_level(buf, size, &o, thing);
    if (!r)
        r = put_level(buf, size, &o, coll);
    if (!r)
        r = put_level(buf, size, &o, name);
    if (!r && kind == MQTT_TOPIC_PROPERTY_SET)
        r = put(buf, size, &o, "/set", 4);
    if (!r && kind == MQTT_TOPIC_ACTION_RESPONSE) {
        r = put(buf, size, &o, "/response", 9);
        if (!r)
            r = put_level(buf, size, &o, client);
    }
    if (!r && (kind == MQTT_TOPIC_PROPERTY_COSE || kind == MQTT_TOPIC_EVENT_COSE)) {
        r = put(buf, size, &o, "/cose", 5);
        if (!r)
            r = put_level(buf, size, &o, client);
    }
    if (r < 0) {
        buf[0] = '\0';
        return r;
    }
    return (int)o;
}

bool mqtt_topic_name_valid(const char *topic)
{
    if (!topic)
        return false;
    size_t n = strnlen(topic, MQTT_TOPIC_MAX + 1);
    return n > 0 && n <= MQTT_TOPIC_MAX && !memchr(topic, '+', n) && !memchr(topic, '#', n);
}

bool mqtt_filter_valid(const char *filter)
{
    if (!filter)
        return false;
    size_t n = strnlen(filter, MQTT_TOPIC_MAX + 1);
    if (n == 0 || n > MQTT_TOPIC_MAX)
        return false;
    const char *p = filter, *next;
    while (p) {
        size_t ln = level(p, &next);
        bool wild = memchr(p, '+', ln) || memchr(p, '#', ln);
        if (wild && ln != 1)
            return false;
        if (ln == 1 && *p == '#' && next)
            return false;
        p = next;
    }
    return true;
}

bool mqtt_filter_has_wildcards(const char *filter)
{
    return filter && (strchr(filter, '+') || strchr(filter, '#'));
}

/* The walk shared by match and match_under. under: the topic may go on
 * below t. */
static bool filter_walk(const char *f, const char *t, bool under)
{
    if (!mqtt_filter_valid(f) || !mqtt_topic_name_valid(t))
        return false;
    if (t[0] == '$' && (f[0] == '+' || f[0] == '#'))
        return false;
    const char *fp = f, *tp = t;
    for (;;) {
        const char *fnext, *tnext;
        size_t fl = level(fp, &fnext);
        if (fl == 1 && *fp == '#')
            return true; /* the rest, including the parent level itself */
        if (!tp)
            return under; /* t ended, f goes on: a topic below t can follow it */
        size_t tl = level(tp, &tnext);
        bool plus = fl == 1 && *fp == '+';
        if (!plus && (fl != tl || memcmp(fp, tp, fl) != 0))
            return false;
        if (!fnext && !tnext)
            return true;
        if (!fnext)
            return false; /* t has more levels than f */
        fp = fnext;
        tp = tnext;
    }
}

bool mqtt_filter_match(const char *filter, const char *topic)
{
    return filter_walk(filter, topic, false);
}

bool mqtt_filter_match_under(const char *filter, const char *base)
{
    return filter_walk(filter, base, true);
}

const char *mqtt_filter_strip_share(const char *filter)
{
    static const char share[] = "$share/";
    if (!filter)
        return NULL;
    if (strncmp(filter, share, sizeof(share) - 1) != 0)
        return strncmp(filter, "$share", 6) == 0 && (filter[6] == '\0') ? NULL : filter;
    const char *g = filter + sizeof(share) - 1;
    const char *slash = strchr(g, '/');
    if (!slash || slash == g || memchr(g, '+', (size_t)(slash - g)) ||
        memchr(g, '#', (size_t)(slash - g)) || !slash[1])
        return NULL;
    return slash + 1;
}

size_t mqtt_topic_ops(enum mqtt_topic_kind k, bool publish, enum wot_op ops[MQTT_TOPIC_MAX_OPS])
{
    size_t n = 0;
    if (publish) {
        if (k == MQTT_TOPIC_PROPERTY_SET)
            ops[n++] = WOT_OP_WRITEPROPERTY;
        else if (k == MQTT_TOPIC_ACTION)
            ops[n++] = WOT_OP_INVOKEACTION;
        return n;
    }
    switch (k) {
    case MQTT_TOPIC_PROPERTY:
    case MQTT_TOPIC_PROPERTY_COSE:
        ops[n++] = WOT_OP_OBSERVEPROPERTY;
        ops[n++] = WOT_OP_READPROPERTY;
        break;
    case MQTT_TOPIC_EVENT:
    case MQTT_TOPIC_EVENT_COSE: ops[n++] = WOT_OP_SUBSCRIBEEVENT; break;
    case MQTT_TOPIC_ACTION_RESPONSE: ops[n++] = WOT_OP_INVOKEACTION; break;
    default: break;
    }
    return n;
}
