/* mqtt.c - see mqtt.h. */
#define _GNU_SOURCE
#include "north/mqtt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "auth/keysync.h"
#include "cose_consumers.h"
#include "cose_sign.h"
#include "log.h"
#include "mqtt_topic.h"
#include "north/http_util.h"
#include "north/https.h"
#include "oauth/as.h"
#include "proxy.h"
#include "util.h"

#define MISC_INTERVAL_US (1000000ull)
#define BACKOFF_MIN_US   (100000ull)
#define BACKOFF_MAX_US   (10000000ull)
#define FEED_RETRY_US    (5000000ull)
#define SECRET_MIN       16
#define SECRET_MAX       1024
#define WOTGW_SELF       "wotgw"

struct mq;

/* A command from a consumer, waiting for its device. */
struct cmd {
    struct mq *m;
    struct cmd *prev, *next;
    struct interaction in;
    struct proxy_call *call;
    enum mqtt_topic_kind kind;
    char *thing, *name, *principal, *content_type, *resp_topic;
    uint8_t *payload;
    size_t len;
    void *corr;
    uint16_t corr_len;
    uint64_t seq; /* arrival order */
    bool started; /* handed to the proxy; else waiting behind one on its topic */
};

/* A value source published to the broker: a property (retained) or an
 * event. */
struct feed {
    struct mq *m;
    enum mqtt_topic_kind kind; /* MQTT_TOPIC_PROPERTY or MQTT_TOPIC_EVENT */
    char *thing, *name, *topic;
    struct interaction in;
    struct proxy_call *call; /* the stream, or a read in flight */
    sd_event_source *timer;  /* the next read, or a retry of the stream */
    bool stream;             /* observe / subscribe; else read every poll_us */
    bool primed;             /* an observed property: read once before observing */
    /* an observed property is also read every poll_us, in case a
     * notification was missed (a device that restarted with another value
     * while the observation was being retried) */
    struct interaction rin;
    struct proxy_call *rcall;
    sd_event_source *rtimer;
    uint64_t poll_us;
    uint8_t *last;
    size_t last_len;
    char *last_type;
    bool have_last;
    /* [thing] cose_sign = yes: what is published is a COSE_Sign1 of the
     * value (cose_sign.h) */
    struct cose_signer *cose;
    /* [thing] cose_encrypt_to: what is published goes only as a
     * COSE_Encrypt0 to each principal, on its own topic
     * (MQTT_TOPIC_*_COSE); nothing on the plain topic */
    char **enc_to, **enc_topics;
    size_t n_enc;
};

struct mq {
    struct gw *gw;
    struct mosquitto *mosq;
    sd_event_source *io, *misc, *retry;
    int fd;
    bool connected, stopping;
    uint64_t backoff_us;
    /* from the state in force at start / the last reload */
    char *host, *prefix, *client_id, *ca;
    int port;
    char *secret;
    size_t secret_len;
    struct cmd *cmds;
    size_t n_cmds;
    struct feed *feeds;
    size_t n_feeds;
    /* [credentials] cose_keys: for things with cose_commands = required */
    struct cose_consumers *consumers;
    uint64_t received, answered, published, dropped;
    uint64_t seq;
    /* the last document published for the broker plugin (auth/keysync.h);
     * NULL after every (re)connect */
    char *keys_doc;
    /* what keys_doc was built from: the key sets of the synced issuers
     * (referenced, so that none is freed and its address reused), the
     * reload count and the revocation generation */
    struct jwks **keys_sets;
    size_t n_keys_sets;
    uint64_t keys_reloads, keys_revoked_gen;
    bool keys_failed;   /* the last build failed (logged once) */
    bool plain_cleared; /* clear_plain_of_encrypted() ran */
};

static struct mq *mq_fe;

static void mq_update_io(struct mq *m);
static void mq_schedule_connect(struct mq *m);
static void feed_publish(struct feed *f);
static void feed_poll_soon(struct mq *m, const char *thing, const char *name);
static void cmd_end(struct cmd *c);

/* ---- the secret ----------------------------------------------------------------------------- */

static void secret_wipe(struct mq *m)
{
    if (m->secret) {
        OPENSSL_cleanse(m->secret, m->secret_len);
        free(m->secret);
    }
    m->secret = NULL;
    m->secret_len = 0;
}

/* The password file: one line, as the plugin reads it. */
static int read_secret(const char *path, char **out, size_t *len, struct diags *d)
{
    int r = util_read_secret_line(path, SECRET_MIN, SECRET_MAX, out, len);
    if (r == -EINVAL)
        diag_add(d, path, 1, "wotgw's MQTT password must be one line of %d to %d bytes", SECRET_MIN,
                 SECRET_MAX);
    else if (r < 0)
        diag_add(d, path, 0, "cannot read wotgw's MQTT password: %s",
                 r == -EFBIG ? "longer than 1024 bytes" : strerror(-r));
    return r;
}

static int mqtt_check(const struct gw_state *s, struct diags *d)
{
    const struct mqtt_conf *mc = &s->conf->mqtt;
    if (!mc->enabled)
        return 0;
    const char *cose_keys = s->conf->credentials.cose_keys;
    for (size_t i = 0; i < s->n_things; i++) {
        const struct thing_conf *tc = s->things[i].conf;
        if ((tc->cose_commands || tc->cose_encrypt_to) && !cose_keys) {
            diag_add(d, s->conf->path, tc->line, "thing %s: %s needs [credentials] cose_keys",
                     tc->name, tc->cose_commands ? "cose_commands = required" : "cose_encrypt_to");
            return -EINVAL;
        }
    }
    if (cose_keys) {
        struct cose_consumers *cc = NULL;
        int r = cose_consumers_load(cose_keys, &cc, d);
        /* every principal a thing encrypts to has an encryption key */
        for (size_t i = 0; r == 0 && i < s->n_things; i++) {
            const struct thing_conf *tc = s->things[i].conf;
            for (char **p = tc->cose_encrypt_to; p && *p; p++)
                if (!cose_consumers_enc_key(cc, *p)) {
                    diag_add(d, s->conf->path, tc->cose_encrypt_to_line,
                             "thing %s: cose_encrypt_to names %s, who has no A128GCM or "
                             "AES-CCM-16-64-128 key in %s (wotgw-passwd cose-consumer-secret)",
                             tc->name, *p, cose_keys);
                    r = -EINVAL;
                }
        }
        cose_consumers_free(cc);
        if (r < 0)
            return r;
    }
    if (!mc->password_file)
        return 0;
    char *sec = NULL;
    size_t n = 0;
    int r = read_secret(mc->password_file, &sec, &n, d);
    if (r < 0)
        return r;
    OPENSSL_cleanse(sec, n);
    free(sec);
    if (mc->broker_ca && access(mc->broker_ca, R_OK) < 0) {
        diag_add(d, mc->broker_ca, 0, "broker_ca: %m");
        return -errno;
    }
    return 0;
}

/* ---- publishing ------------------------------------------------------------------------------ */

static int publish(struct mq *m, const char *topic, const void *data, size_t len, bool retain,
                   const char *content_type, const void *corr, uint16_t corr_len, int status)
{
    if (!m->connected)
        return -ENOTCONN;
    if (len > MQTT_MAX_PAYLOAD)
        return -EMSGSIZE;
    mosquitto_property *props = NULL;
    int r = 0;
    if (content_type && *content_type)
        r = mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, content_type);
    if (!r && corr && corr_len)
        r = mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr, corr_len);
    if (!r && status) {
        char st[8];
        snprintf(st, sizeof(st), "%d", status);
        r = mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
                                               MQTT_RESPONSE_STATUS_KEY, st);
    }
    if (!r)
        r = mosquitto_publish_v5(m->mosq, NULL, topic, (int)len, data, 1, retain, props);
    mosquitto_property_free_all(&props);
    if (r != MOSQ_ERR_SUCCESS) {
        log_msg(LOG_WARNING, "mqtt: publish to %s failed: %s", topic, mosquitto_strerror(r));
        m->dropped++;
        return -EIO;
    }
    m->published++;
    mq_update_io(m);
    return 0;
}

/* ---- commands -------------------------------------------------------------------------------- */

static void cmd_free(struct cmd *c)
{
    struct mq *m = c->m;
    if (c->prev)
        c->prev->next = c->next;
    else if (m->cmds == c)
        m->cmds = c->next;
    if (c->next)
        c->next->prev = c->prev;
    m->n_cmds--;
    free(c->thing);
    free(c->name);
    free(c->principal);
    free(c->content_type);
    free(c->resp_topic);
    free(c->payload);
    free(c->corr);
    free(c);
}

/* The outcome of a command: to its response topic when it has one. */
static void cmd_answer(struct cmd *c, const struct proxy_result *res)
{
    struct mq *m = c->m;
    m->answered++;
    if (c->kind == MQTT_TOPIC_PROPERTY_SET && res->status >= 200 && res->status < 300)
        feed_poll_soon(m, c->thing, c->name);
    if (!c->resp_topic)
        return;
    if (res->from_device || (res->body && res->body_len)) {
        publish(m, c->resp_topic, res->body, res->body_len, false, res->content_type, c->corr,
                c->corr_len, res->status);
        return;
    }
    size_t n = 0;
    char *body = http_problem_json(res->status, res->detail, &n);
    publish(m, c->resp_topic, body ? body : "", body ? n : 0, false,
            body ? "application/problem+json" : NULL, c->corr, c->corr_len, res->status);
    free(body);
}

/* A command the front end refuses before the proxy (too large, too many,
 * out of memory, not signed as its thing requires): answered, and logged
 * like every interaction. */
static void cmd_refuse(struct cmd *c, int status, const char *detail)
{
    struct proxy_result res = {.status = status, .detail = detail};
    struct log_interaction li = {
            .thing = c->thing,
            .affordance = c->name,
            .op = c->kind == MQTT_TOPIC_ACTION ? "invokeaction" : "writeproperty",
            .protocol = "mqtts",
            .principal = c->principal,
            .peer = "broker",
            .decision = "deny",
            .reason = detail,
            .status = status,
    };
    log_interaction(LOG_NOTICE, &li);
    c->m->gw->counters.requests++;
    cmd_answer(c, &res);
    if (c->started)
        cmd_end(c); /* the next one on its topic may start */
    else
        cmd_free(c);
}

static void cmd_done(void *ud, const struct proxy_result *res)
{
    struct cmd *c = ud;
    struct gw *gw = c->m->gw;
    c->call = NULL;
    cmd_answer(c, res);
    cmd_end(c);
    daemon_drain_progress(gw);
}

static int cmd_event(void *ud, const char *event, const uint8_t *data, size_t len,
                     const char *content_type)
{
    return -EPROTO; /* commands are never streams */
}

static const struct proxy_ops cmd_ops = {.done = cmd_done, .event = cmd_event};

static bool dup_into(char **dst, const char *src)
{
    return !src || (*dst = strdup(src)) != NULL;
}

static bool same_topic(const struct cmd *a, const struct cmd *b)
{
    return a->kind == b->kind && !strcmp(a->thing, b->thing) && !strcmp(a->name, b->name);
}

/* Hands c to the proxy; an answer the gateway gives itself ends c here. */
static void cmd_start(struct cmd *c)
{
    struct mq *m = c->m;
    struct proxy_result res = {0};
    c->started = true;
    /* [thing] cose_commands = required: the consumer's COSE_Sign1, and the
     * device gets what was signed */
    const struct thing *t = state_find_thing(m->gw->state, c->thing);
    if (t && t->conf->cose_commands) {
        const uint8_t *pl = NULL;
        const char *ct = NULL, *why = NULL;
        size_t pn = 0;
        if (cose_consumers_verify(m->consumers, c->principal, c->payload, c->len, &pl, &pn, &ct,
                                  &why) < 0) {
            cmd_refuse(c, 403, why);
            return;
        }
        if (pn)
            memmove(c->payload, pl, pn);
        c->len = pn;
        free(c->content_type);
        c->content_type = NULL;
        if (ct && !(c->content_type = strdup(ct))) {
            cmd_refuse(c, 500, "out of memory");
            return;
        }
    }
    c->in = (struct interaction){
            .thing = c->thing,
            .affordance = c->name,
            .op = c->kind == MQTT_TOPIC_ACTION ? WOT_OP_INVOKEACTION : WOT_OP_WRITEPROPERTY,
            .protocol = PROTO_MQTT,
            .payload = c->payload,
            .payload_len = c->len,
            .content_type = c->content_type,
            .cred = {.vouched = c->principal},
            .peer = "broker",
    };
    int r = proxy_start(m->gw->proxy, &c->in, &cmd_ops, c, &c->call, &res);
    if (r == PROXY_DONE || r < 0) {
        if (r < 0)
            res = (struct proxy_result){.status = 500, .detail = "out of memory"};
        cmd_answer(c, &res);
        cmd_end(c);
    }
}

/* c is answered: the next command waiting on its topic starts. */
static void cmd_end(struct cmd *c)
{
    struct mq *m = c->m;
    struct cmd *next = NULL;
    for (struct cmd *o = m->cmds; o; o = o->next)
        if (o != c && !o->started && same_topic(o, c) && (!next || o->seq < next->seq))
            next = o;
    cmd_free(c);
    if (next)
        cmd_start(next); /* when stopping, the proxy answers 503 at once */
}

static void on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    struct mq *m = ud;
    struct mqtt_topic t;
    m->received++;
    if (mqtt_topic_parse(m->prefix, msg->topic, &t) < 0 ||
        (t.kind != MQTT_TOPIC_PROPERTY_SET && t.kind != MQTT_TOPIC_ACTION)) {
        log_msg(LOG_DEBUG, "mqtt: ignoring a message on %s", msg->topic);
        return;
    }
    /* the principal the plugin decided for; it refuses publishes that
     * carry a wotgw-* property of their own */
    char *principal = NULL, *key = NULL, *val = NULL;
    const mosquitto_property *p = props;
    bool first = true;
    while ((p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &key, &val,
                                                    !first))) {
        first = false;
        bool mine = !strcmp(key, MQTT_PRINCIPAL_KEY) && !principal;
        free(key);
        if (mine)
            principal = val;
        else
            free(val);
        key = val = NULL;
    }
    if (!principal || !*principal) {
        free(principal);
        m->dropped++;
        log_msg(LOG_WARNING,
                "mqtt: dropping a message on %s without the plugin's principal: is the broker "
                "running wotgw's plugin?",
                msg->topic);
        return;
    }
    struct cmd *c = calloc(1, sizeof(*c));
    if (!c) {
        free(principal);
        m->dropped++;
        return;
    }
    c->m = m;
    c->kind = t.kind;
    c->principal = principal;
    char *rt = NULL, *ct = NULL;
    void *corr = NULL;
    uint16_t corr_len = 0;
    mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &rt, false);
    mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &ct, false);
    mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len, false);
    c->resp_topic = rt;
    c->content_type = ct;
    c->corr = corr;
    c->corr_len = corr_len;
    bool ok = dup_into(&c->thing, t.thing) && dup_into(&c->name, t.name);
    if (ok && msg->payloadlen > 0) {
        c->payload = malloc((size_t)msg->payloadlen);
        ok = c->payload != NULL;
        if (ok) {
            memcpy(c->payload, msg->payload, (size_t)msg->payloadlen);
            c->len = (size_t)msg->payloadlen;
        }
    }
    c->next = m->cmds;
    if (m->cmds)
        m->cmds->prev = c;
    m->cmds = c;
    m->n_cmds++;
    if (!ok) {
        cmd_refuse(c, 500, "out of memory");
        return;
    }
    if (c->len > m->gw->state->conf->limits.max_body_size) {
        cmd_refuse(c, 413, "the payload is larger than max_body_size");
        return;
    }
    if (m->n_cmds > MQTT_MAX_INFLIGHT_CMDS) {
        cmd_refuse(c, 503, "too many commands in progress");
        return;
    }
    c->seq = ++m->seq;
    /* MQTT keeps the order of messages on a topic: a command waits for
     * the one before it on the same topic (last write wins, as sent) */
    for (struct cmd *o = m->cmds; o; o = o->next)
        if (o != c && same_topic(o, c))
            return;
    cmd_start(c);
}

/* ---- feeds ----------------------------------------------------------------------------------- */

static void feed_arm(struct feed *f, uint64_t delay_us);
static void feed_check_arm(struct feed *f, uint64_t delay_us);

static void feed_store(struct feed *f, const uint8_t *data, size_t len, const char *type)
{
    if (f->have_last && f->last_len == len && (!len || !memcmp(f->last, data, len)))
        return; /* unchanged: the retained value stands */
    uint8_t *copy = len ? malloc(len) : NULL;
    if (len && !copy)
        return;
    if (len)
        memcpy(copy, data, len);
    free(f->last);
    free(f->last_type);
    f->last = copy;
    f->last_len = len;
    f->last_type = type ? strdup(type) : NULL;
    f->have_last = true;
    feed_publish(f);
}

/* A value or event as a COSE_Encrypt0 to each principal of the thing's
 * cose_encrypt_to, on that principal's topic. */
static void feed_send_encrypted(struct feed *f, const uint8_t *data, size_t len, bool retain,
                                const char *type)
{
    for (size_t i = 0; i < f->n_enc; i++) {
        const struct cose_key *k = cose_consumers_enc_key(f->m->consumers, f->enc_to[i]);
        uint8_t *msg = NULL;
        size_t mlen = 0;
        int r = k ? cose_consumers_encrypt0(k, type, data, len, &msg, &mlen) : -ENOKEY;
        if (r < 0) {
            log_msg(LOG_ERR, "mqtt: cannot encrypt %s/%s to %s as COSE_Encrypt0: %s", f->thing,
                    f->name, f->enc_to[i],
                    r == -ENOKEY ? "no encryption key in cose_keys" : strerror(-r));
            f->m->dropped++;
            continue;
        }
        publish(f->m, f->enc_topics[i], msg, mlen, retain, COSE_ENCRYPT0_MEDIA, NULL, 0, 0);
        free(msg);
    }
}

/* A value or event to the feed's topic, signed for a thing with a COSE key. */
static void feed_send(struct feed *f, const uint8_t *data, size_t len, bool retain,
                      const char *type)
{
    if (f->n_enc) {
        feed_send_encrypted(f, data, len, retain, type);
        return;
    }
    if (!f->cose) {
        publish(f->m, f->topic, data, len, retain, type, NULL, 0, 0);
        return;
    }
    uint8_t *msg = NULL;
    size_t mlen = 0;
    int r = cose_signer_sign1(f->cose, type, data, len, &msg, &mlen);
    if (r < 0) {
        log_msg(LOG_ERR, "mqtt: cannot sign %s/%s as COSE_Sign1 (kid %s): %s", f->thing, f->name,
                f->cose->kid_hex, strerror(-r));
        f->m->dropped++;
        return;
    }
    publish(f->m, f->topic, msg, mlen, retain, COSE_SIGN1_MEDIA, NULL, 0, 0);
    free(msg);
}

static void feed_publish(struct feed *f)
{
    if (f->kind == MQTT_TOPIC_PROPERTY && f->have_last)
        feed_send(f, f->last, f->last_len, true, f->last_type);
}

static void feed_done(void *ud, const struct proxy_result *res)
{
    struct feed *f = ud;
    bool read = f->in.op == WOT_OP_READPROPERTY;
    f->call = NULL;
    if (read && res->status >= 200 && res->status < 300 && res->from_device)
        feed_store(f, res->body, res->body_len, res->content_type);
    else if (res->status >= 300)
        log_msg(LOG_DEBUG, "mqtt: reading %s/%s for %s: %d", f->thing, f->name, f->topic,
                res->status);
    if (f->m->stopping)
        return;
    if (f->stream && read && res->status < 300) {
        f->primed = true; /* the current value is there: now observe */
        feed_arm(f, 0);
        if (f->kind == MQTT_TOPIC_PROPERTY)
            feed_check_arm(f, f->poll_us);
        return;
    }
    /* a stream that ended: the device may have restarted with another
     * value, so read it again before observing again */
    if (f->stream && !read)
        f->primed = false;
    /* a poll: the next one; a stream that ended (or its first read
     * failed): again a little later */
    feed_arm(f, f->stream ? FEED_RETRY_US : f->poll_us);
}

static int feed_event(void *ud, const char *event, const uint8_t *data, size_t len,
                      const char *content_type)
{
    struct feed *f = ud;
    if (f->kind == MQTT_TOPIC_PROPERTY)
        feed_store(f, data, len, content_type);
    else
        feed_send(f, data, len, false, content_type);
    return 0;
}

static const struct proxy_ops feed_ops = {.done = feed_done, .event = feed_event};

static void feed_start(struct feed *f)
{
    struct proxy_result res;
    f->in = (struct interaction){
            .thing = f->thing,
            .affordance = f->name,
            .op = f->kind == MQTT_TOPIC_EVENT ? WOT_OP_SUBSCRIBEEVENT
                  : f->stream && f->primed    ? WOT_OP_OBSERVEPROPERTY
                                              : WOT_OP_READPROPERTY,
            .protocol = PROTO_MQTT,
            .cred = {.vouched = WOTGW_SELF},
            .peer = "wotgw",
    };
    int r = proxy_start(f->m->gw->proxy, &f->in, &feed_ops, f, &f->call, &res);
    if (r == PROXY_DONE)
        feed_done(f, &res);
    else if (r < 0)
        feed_arm(f, FEED_RETRY_US);
}

static int feed_timer_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    struct feed *f = ud;
    if (!f->call && !f->m->stopping)
        feed_start(f);
    return 0;
}

static void feed_arm(struct feed *f, uint64_t delay_us)
{
    util_timer_arm(f->m->gw->ev, &f->timer, delay_us, feed_timer_cb, f);
}

static void feed_check_done(void *ud, const struct proxy_result *res)
{
    struct feed *f = ud;
    f->rcall = NULL;
    if (res->status >= 200 && res->status < 300 && res->from_device)
        feed_store(f, res->body, res->body_len, res->content_type);
    if (!f->m->stopping)
        feed_check_arm(f, f->poll_us);
}

static int feed_check_event(void *ud, const char *event, const uint8_t *data, size_t len,
                            const char *content_type)
{
    return -EPROTO; /* a read is no stream */
}

static const struct proxy_ops feed_check_ops = {.done = feed_check_done, .event = feed_check_event};

static int feed_check_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    struct feed *f = ud;
    if (f->rcall || f->m->stopping)
        return 0;
    struct proxy_result res;
    f->rin = (struct interaction){
            .thing = f->thing,
            .affordance = f->name,
            .op = WOT_OP_READPROPERTY,
            .protocol = PROTO_MQTT,
            .cred = {.vouched = WOTGW_SELF},
            .peer = "wotgw",
    };
    int r = proxy_start(f->m->gw->proxy, &f->rin, &feed_check_ops, f, &f->rcall, &res);
    if (r == PROXY_DONE)
        feed_check_done(f, &res);
    else if (r < 0)
        feed_check_arm(f, f->poll_us);
    return 0;
}

static void feed_check_arm(struct feed *f, uint64_t delay_us)
{
    util_timer_arm(f->m->gw->ev, &f->rtimer, delay_us, feed_check_cb, f);
}

/* After a write through wotgw: a polled property is read again now. */
static void feed_poll_soon(struct mq *m, const char *thing, const char *name)
{
    for (size_t i = 0; i < m->n_feeds; i++) {
        struct feed *f = &m->feeds[i];
        if (f->kind == MQTT_TOPIC_PROPERTY && !f->stream && !f->call && !strcmp(f->thing, thing) &&
            !strcmp(f->name, name))
            feed_arm(f, 0);
    }
}

static void feeds_stop(struct mq *m)
{
    for (size_t i = 0; i < m->n_feeds; i++) {
        struct feed *f = &m->feeds[i];
        if (f->call)
            proxy_cancel(f->call);
        if (f->rcall)
            proxy_cancel(f->rcall);
        sd_event_source_disable_unref(f->timer);
        sd_event_source_disable_unref(f->rtimer);
        free(f->thing);
        free(f->name);
        free(f->topic);
        free(f->last);
        free(f->last_type);
        cose_signer_unref(f->cose);
        util_strv_free(f->enc_to);
        util_strv_free(f->enc_topics);
    }
    free(m->feeds);
    m->feeds = NULL;
    m->n_feeds = 0;
}

/* True when the exposed TD offers op on collection/name over MQTT (a form
 * with mqv:controlPacket "subscribe" for one of the ops). */
static bool offered_over_mqtt(const json_t *exposed, const char *collection, const char *name,
                              const char *op1, const char *op2)
{
    json_t *forms =
            json_object_get(json_object_get(json_object_get(exposed, collection), name), "forms");
    size_t i;
    json_t *f;
    json_array_foreach(forms, i, f)
    {
        const char *pkt = json_string_value(json_object_get(f, "mqv:controlPacket"));
        const char *op = json_string_value(json_object_get(f, "op"));
        if (pkt && op && !strcmp(pkt, "subscribe") &&
            (!strcmp(op, op1) || (op2 && !strcmp(op, op2))))
            return true;
    }
    return false;
}

/* f's COSE_Encrypt0 topics, one for each principal of to (NULL: none). */
static int feed_enc_topics(struct mq *m, struct feed *f, char *const *to)
{
    size_t n = 0;
    while (to && to[n])
        n++;
    if (!n)
        return 0;
    f->enc_to = calloc(n + 1, sizeof(char *));
    f->enc_topics = calloc(n + 1, sizeof(char *));
    if (!f->enc_to || !f->enc_topics)
        return -ENOMEM;
    enum mqtt_topic_kind kind =
            f->kind == MQTT_TOPIC_PROPERTY ? MQTT_TOPIC_PROPERTY_COSE : MQTT_TOPIC_EVENT_COSE;
    for (size_t i = 0; i < n; i++) {
        char topic[MQTT_TOPIC_MAX + 1];
        int r = mqtt_topic_format(m->prefix, kind, f->thing, f->name, to[i], topic, sizeof(topic));
        if (r < 0) {
            log_msg(LOG_ERR, "mqtt: no COSE_Encrypt0 topic for %s/%s to %s: %s", f->thing, f->name,
                    to[i], strerror(-r));
            continue;
        }
        if (!(f->enc_to[f->n_enc] = strdup(to[i])) || !(f->enc_topics[f->n_enc] = strdup(topic)))
            return -ENOMEM;
        f->n_enc++;
    }
    return 0;
}

static int feeds_build(struct mq *m)
{
    const struct gw_state *s = m->gw->state;
    size_t cap = 0;
    for (size_t i = 0; i < s->n_things; i++)
        cap += s->things[i].td->n_affs;
    if (!cap)
        return 0;
    m->feeds = calloc(cap, sizeof(*m->feeds));
    if (!m->feeds)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_things; i++) {
        const struct thing *t = &s->things[i];
        for (size_t k = 0; k < t->td->n_affs; k++) {
            const struct td_affordance *a = &t->td->affs[k];
            enum mqtt_topic_kind kind;
            bool stream;
            if (a->kind == AFF_PROPERTY) {
                if (!offered_over_mqtt(t->exposed, "properties", a->name, "readproperty",
                                       "observeproperty"))
                    continue;
                stream = td_find_form(t->td, a, WOT_OP_OBSERVEPROPERTY, -1) != NULL;
                if (!stream && !td_find_form(t->td, a, WOT_OP_READPROPERTY, -1))
                    continue;
                kind = MQTT_TOPIC_PROPERTY;
            } else if (a->kind == AFF_EVENT) {
                if (!offered_over_mqtt(t->exposed, "events", a->name, "subscribeevent", NULL) ||
                    !td_find_form(t->td, a, WOT_OP_SUBSCRIBEEVENT, -1))
                    continue;
                stream = true;
                kind = MQTT_TOPIC_EVENT;
            } else {
                continue;
            }
            char topic[MQTT_TOPIC_MAX + 1];
            if (mqtt_topic_format(m->prefix, kind, t->conf->name, a->name, NULL, topic,
                                  sizeof(topic)) < 0)
                continue;
            struct feed *f = &m->feeds[m->n_feeds];
            *f = (struct feed){.m = m,
                               .kind = kind,
                               .stream = stream,
                               .poll_us = t->conf->poll_interval_s * 1000000ull};
            f->thing = strdup(t->conf->name);
            f->name = strdup(a->name);
            f->topic = strdup(topic);
            f->cose = cose_signer_ref(t->cose);
            m->n_feeds++;
            if (!f->thing || !f->name || !f->topic)
                return -ENOMEM;
            int r = feed_enc_topics(m, f, t->conf->cose_encrypt_to);
            if (r < 0)
                return r;
        }
    }
    /* spread the first reads a little */
    for (size_t i = 0; i < m->n_feeds; i++)
        feed_arm(&m->feeds[i], (uint64_t)(i % 50) * 20000ull);
    return 0;
}

/* ---- the connection ------------------------------------------------------------------------- */

static void mq_drop_io(struct mq *m)
{
    m->io = sd_event_source_disable_unref(m->io);
    m->fd = -1;
}

static void mq_lost(struct mq *m, const char *why)
{
    bool was = m->connected;
    m->connected = false;
    mq_drop_io(m);
    if (m->mosq)
        mosquitto_disconnect(m->mosq);
    if (was)
        log_msg(LOG_WARNING, "mqtt: lost the broker at %s:%d (%s): reconnecting", m->host, m->port,
                why);
    if (!m->stopping)
        mq_schedule_connect(m);
}

static int mq_io_cb(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
    struct mq *m = ud;
    int r = MOSQ_ERR_SUCCESS;
    if ((revents & (EPOLLHUP | EPOLLERR)) && m->stopping) {
        mq_drop_io(m);
        m->connected = false;
        return 0;
    }
    if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
        r = mosquitto_loop_read(m->mosq, 1);
    if (r == MOSQ_ERR_SUCCESS && (revents & EPOLLOUT))
        r = mosquitto_loop_write(m->mosq, 1);
    if (r != MOSQ_ERR_SUCCESS) {
        mq_lost(m, r == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(r));
        return 0;
    }
    mq_update_io(m);
    return 0;
}

/* The trap of integration.md §1d: anything queued from inside a callback
 * waits for EPOLLOUT. */
static void mq_update_io(struct mq *m)
{
    if (!m->mosq)
        return;
    int fd = mosquitto_socket(m->mosq);
    if (fd < 0) {
        mq_drop_io(m);
        return;
    }
    uint32_t ev = (m->stopping ? 0 : EPOLLIN) | (mosquitto_want_write(m->mosq) ? EPOLLOUT : 0);
    if (m->io && fd == m->fd) {
        sd_event_source_set_io_events(m->io, ev);
        return;
    }
    mq_drop_io(m);
    if (sd_event_add_io(m->gw->ev, &m->io, fd, ev, mq_io_cb, m) < 0) {
        log_msg(LOG_ERR, "mqtt: cannot watch the broker connection");
        return;
    }
    m->fd = fd;
}

/* ---- retained values wotgw no longer offers ------------------------------------------------ */

/* The topics whose retained values the feeds own: a property's plain
 * topic (unless it goes encrypted only) and its encrypted topics. A
 * NULL-terminated list (util_strv_free), NULL when out of memory. */
static char **retained_topics(const struct mq *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_feeds; i++)
        n += 1 + m->feeds[i].n_enc;
    char **v = calloc(n + 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; v && i < m->n_feeds; i++) {
        const struct feed *f = &m->feeds[i];
        if (f->kind != MQTT_TOPIC_PROPERTY)
            continue;
        if (!f->n_enc && !(v[k++] = strdup(f->topic)))
            goto oom;
        for (size_t e = 0; e < f->n_enc; e++)
            if (!(v[k++] = strdup(f->enc_topics[e])))
                goto oom;
    }
    return v;
oom:
    util_strv_free(v);
    return NULL;
}

/* An empty retained PUBLISH removes the retained value (MQTT 5 §3.3.1.3);
 * the plugin lets wotgw's own client do this on any property topic
 * (mqacl_may_clear). */
static void clear_retained(struct mq *m, const char *topic, const char *why)
{
    if (publish(m, topic, "", 0, true, NULL, NULL, 0, 0) == 0)
        log_msg(LOG_INFO, "mqtt: removed the retained value of %s (%s)", topic, why);
}

/* At the first connection: a property that goes encrypted only has no
 * plaintext value on its plain topic, also none retained before its thing
 * got cose_encrypt_to while wotgw was stopped (later changes: mqtt_reload). */
static void clear_plain_of_encrypted(struct mq *m)
{
    if (m->plain_cleared)
        return;
    m->plain_cleared = true;
    for (size_t i = 0; i < m->n_feeds; i++) {
        const struct feed *f = &m->feeds[i];
        if (f->kind == MQTT_TOPIC_PROPERTY && f->n_enc)
            clear_retained(m, f->topic, "the value goes encrypted only");
    }
}

/* ---- keys and revocations for the broker plugin -------------------------------------------- */

static void keys_forget(struct mq *m)
{
    for (size_t i = 0; i < m->n_keys_sets; i++)
        jwks_free(m->keys_sets[i]);
    free(m->keys_sets);
    m->keys_sets = NULL;
    m->n_keys_sets = 0;
    free(m->keys_doc);
    m->keys_doc = NULL;
}

/* Whether what keys_doc was built from is still what the state holds:
 * then nothing is built (keys_sync runs every second). */
static bool keys_unchanged(const struct mq *m)
{
    const struct gw_state *s = m->gw->state;
    if (!m->keys_doc || m->keys_reloads != m->gw->reloads ||
        m->keys_revoked_gen != as_revoked_generation())
        return false;
    size_t k = 0;
    for (size_t i = 0; i < s->n_issuers; i++) {
        if (!keysync_synced(s->issuers[i].conf))
            continue;
        if (k >= m->n_keys_sets || m->keys_sets[k] != s->issuers[i].keys)
            return false;
        k++;
    }
    return k == m->n_keys_sets;
}

static void keys_remember(struct mq *m, char *doc)
{
    const struct gw_state *s = m->gw->state;
    keys_forget(m);
    m->keys_doc = doc;
    m->keys_reloads = m->gw->reloads;
    m->keys_revoked_gen = as_revoked_generation();
    m->keys_sets = calloc(s->n_issuers ? s->n_issuers : 1, sizeof(*m->keys_sets));
    for (size_t i = 0; m->keys_sets && i < s->n_issuers; i++)
        if (keysync_synced(s->issuers[i].conf))
            m->keys_sets[m->n_keys_sets++] = jwks_ref(s->issuers[i].keys);
}

/* Publishes the plugin's document (auth/keysync.h) when it changed since
 * the last one this connection carried: at connect and then within a
 * second of a key rotation, a jwks_uri refresh or a revocation. */
static void keys_sync(struct mq *m)
{
    if (!m->connected || keys_unchanged(m))
        return;
    struct as *as = https_as(m->gw->https);
    json_t *rv = as ? as_revoked_json(as) : NULL;
    char *doc = NULL;
    size_t len = 0;
    int r = -ENOMEM;
    struct diags d = {0};
    if (!as || rv)
        r = keysync_build(m->gw->state, as_issuer(as), rv, (int64_t)time(NULL), &doc, &len, &d);
    json_decref(rv);
    if (r < 0) {
        if (!m->keys_failed)
            log_msg(LOG_ERR,
                    "mqtt: the keys and revocations for the broker plugin cannot be sent: %s",
                    strerror(-r));
        m->keys_failed = true;
        diag_free(&d);
        return;
    }
    m->keys_failed = false;
    if (m->keys_doc && !strcmp(m->keys_doc, doc)) { /* unchanged: said before */
        keys_remember(m, doc);
        diag_free(&d);
        return;
    }
    for (size_t i = 0; i < d.n; i++)
        log_msg(LOG_WARNING, "mqtt: %s", d.v[i].msg);
    diag_free(&d);
    char topic[MQTT_TOPIC_PREFIX_MAX + sizeof(KEYSYNC_TOPIC_LEVELS) + 1];
    snprintf(topic, sizeof(topic), "%s/%s", m->prefix, KEYSYNC_TOPIC_LEVELS);
    if (publish(m, topic, doc, len, false, "application/json", NULL, 0, 0) < 0) {
        free(doc);
        return;
    }
    log_msg(m->keys_doc ? LOG_INFO : LOG_DEBUG,
            "mqtt: sent the broker plugin the keys and revocations (%zu bytes)", len);
    keys_remember(m, doc);
}

static int mq_misc_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    struct mq *m = ud;
    keys_sync(m);
    if (m->io) {
        int r = mosquitto_loop_misc(m->mosq);
        if (r != MOSQ_ERR_SUCCESS && r != MOSQ_ERR_NO_CONN)
            mq_lost(m, mosquitto_strerror(r));
        else
            mq_update_io(m);
    }
    sd_event_source_set_time(s, usec + MISC_INTERVAL_US);
    return 0;
}

static void on_connect(struct mosquitto *mosq, void *ud, int rc, int flags,
                       const mosquitto_property *props)
{
    struct mq *m = ud;
    if (rc != 0) {
        log_msg(LOG_ERR, "mqtt: the broker at %s:%d refused wotgw's connection: %s", m->host,
                m->port, mosquitto_reason_string(rc));
        mq_lost(m, "refused");
        return;
    }
    m->connected = true;
    m->backoff_us = 0;
    bool resumed = flags & 1; /* CONNACK session present */
    const SSL *ssl = mosquitto_ssl_get(mosq);
    log_msg(LOG_INFO, "mqtt: connected to the broker at %s:%d as %s (%s session, %s)", m->host,
            m->port, m->client_id, resumed ? "resumed" : "new",
            ssl ? SSL_get_version(ssl) : "plain, loopback");
    /* PREFIX/+/properties/+/set and PREFIX/+/actions/+ (the prefix is
     * valid: checked by config_load) */
    char set[MQTT_TOPIC_PREFIX_MAX + 32], act[MQTT_TOPIC_PREFIX_MAX + 32];
    char *subs[2] = {set, act};
    snprintf(set, sizeof(set), "%s/+/properties/+/set", m->prefix);
    snprintf(act, sizeof(act), "%s/+/actions/+", m->prefix);
    int r = mosquitto_subscribe_multiple(mosq, NULL, 2, subs, 1, 0, NULL);
    if (r != MOSQ_ERR_SUCCESS)
        log_msg(LOG_ERR, "mqtt: subscribe: %s", mosquitto_strerror(r));
    /* first what the plugin needs to check tokens, then the values the
     * broker may have lost */
    keys_forget(m);
    keys_sync(m);
    clear_plain_of_encrypted(m);
    for (size_t i = 0; i < m->n_feeds; i++)
        feed_publish(&m->feeds[i]);
    mq_update_io(m);
}

static void on_subscribe(struct mosquitto *mosq, void *ud, int mid, int n, const int *granted,
                         const mosquitto_property *props)
{
    for (int i = 0; i < n; i++)
        if (granted[i] >= 0x80)
            log_msg(LOG_ERR,
                    "mqtt: the broker refused wotgw's command subscription (%d): check the "
                    "plugin's configuration",
                    granted[i]);
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc, const mosquitto_property *p)
{
    struct mq *m = ud;
    if (m->connected && !m->stopping)
        mq_lost(m, rc ? mosquitto_reason_string(rc) : "disconnected");
}

static int mq_connect(struct mq *m)
{
    mosquitto_property *props = NULL;
    int r = mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                         MQTT_SESSION_EXPIRY_S);
    if (r == MOSQ_ERR_SUCCESS)
        r = mosquitto_connect_bind_v5(m->mosq, m->host, m->port, MQTT_KEEPALIVE_S, NULL, props);
    mosquitto_property_free_all(&props);
    if (r != MOSQ_ERR_SUCCESS)
        return r;
    int fd = mosquitto_socket(m->mosq);
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    mq_update_io(m);
    return MOSQ_ERR_SUCCESS;
}

static int mq_retry_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    struct mq *m = ud;
    if (m->stopping || m->io)
        return 0;
    int r = mq_connect(m);
    if (r != MOSQ_ERR_SUCCESS) {
        log_msg(LOG_DEBUG, "mqtt: broker at %s:%d: %s", m->host, m->port,
                r == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(r));
        mq_schedule_connect(m);
    }
    return 0;
}

static void mq_schedule_connect(struct mq *m)
{
    m->backoff_us = m->backoff_us ? m->backoff_us * 2 : BACKOFF_MIN_US;
    if (m->backoff_us > BACKOFF_MAX_US)
        m->backoff_us = BACKOFF_MAX_US;
    util_timer_arm(m->gw->ev, &m->retry, m->backoff_us, mq_retry_cb, m);
}

/* ---- front end ------------------------------------------------------------------------------ */

static void mq_free(struct mq *m)
{
    if (!m)
        return;
    feeds_stop(m);
    while (m->cmds) {
        struct cmd *c = m->cmds;
        if (c->call)
            proxy_cancel(c->call);
        cmd_free(c);
    }
    mq_drop_io(m);
    sd_event_source_disable_unref(m->misc);
    sd_event_source_disable_unref(m->retry);
    if (m->mosq)
        mosquitto_destroy(m->mosq);
    secret_wipe(m);
    keys_forget(m);
    cose_consumers_free(m->consumers);
    free(m->host);
    free(m->prefix);
    free(m->client_id);
    free(m->ca);
    free(m);
}

static int mqtt_start(struct gw *gw)
{
    const struct mqtt_conf *mc = &gw->state->conf->mqtt;
    if (!mc->enabled)
        return 0;
    struct diags d = {0};
    struct mq *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->gw = gw;
    m->fd = -1;
    char host[64];
    unsigned port;
    int r = -EINVAL;
    if (!config_parse_address(mc->broker, host, sizeof(host), &port))
        goto fail;
    m->host = strdup(host);
    m->port = (int)port;
    m->prefix = strdup(mc->topic_prefix);
    m->client_id = strdup(mc->client_id);
    r = -ENOMEM;
    if (!m->host || !m->prefix || !m->client_id)
        goto fail;
    r = read_secret(mc->password_file, &m->secret, &m->secret_len, &d);
    if (r < 0)
        goto fail;
    if (gw->state->conf->credentials.cose_keys &&
        (r = cose_consumers_load(gw->state->conf->credentials.cose_keys, &m->consumers, &d)) < 0)
        goto fail;
    mosquitto_lib_init();
    /* clean_session false: the persistent session of mqtt.h */
    m->mosq = mosquitto_new(m->client_id, false, m);
    r = -ENOMEM;
    if (!m->mosq)
        goto fail;
    mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    r = -EINVAL;
    if (mosquitto_username_pw_set(m->mosq, m->client_id, m->secret) != MOSQ_ERR_SUCCESS)
        goto fail;
    if (mc->broker_ca) {
        if (mosquitto_tls_set(m->mosq, mc->broker_ca, NULL, NULL, NULL, NULL) != MOSQ_ERR_SUCCESS ||
            mosquitto_tls_opts_set(m->mosq, 1, "tlsv1.3", NULL) != MOSQ_ERR_SUCCESS) {
            diag_add(&d, mc->broker_ca, 0, "cannot use it for TLS to the broker");
            goto fail;
        }
    }
    mosquitto_connect_v5_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
    mosquitto_message_v5_callback_set(m->mosq, on_message);
    mosquitto_subscribe_v5_callback_set(m->mosq, on_subscribe);
    uint64_t now;
    sd_event_now(gw->ev, CLOCK_MONOTONIC, &now);
    if ((r = sd_event_add_time(gw->ev, &m->misc, CLOCK_MONOTONIC, now + MISC_INTERVAL_US, 100000,
                               mq_misc_cb, m)) < 0 ||
        (r = sd_event_source_set_enabled(m->misc, SD_EVENT_ON)) < 0)
        goto fail;
    if ((r = feeds_build(m)) < 0)
        goto fail;
    mq_fe = m;
    /* the broker may start after wotgw: a refused first connection is
     * retried like a lost one */
    int c = mq_connect(m);
    if (c != MOSQ_ERR_SUCCESS) {
        log_msg(LOG_WARNING, "mqtt: broker at %s:%d not reachable yet (%s): retrying", m->host,
                m->port, c == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(c));
        mq_schedule_connect(m);
    }
    log_msg(LOG_INFO, "mqtt: %zu value and event topics fed under %s/", m->n_feeds, m->prefix);
    return 0;
fail:
    for (size_t i = 0; i < d.n; i++)
        log_msg(LOG_ERR, "%s: %s", d.v[i].file, d.v[i].msg);
    diag_free(&d);
    mq_free(m);
    return r < 0 ? r : -EINVAL;
}

static int mqtt_reload(struct gw *gw)
{
    struct mq *m = mq_fe;
    const struct mqtt_conf *mc = &gw->state->conf->mqtt;
    if (!m) {
        if (mc->enabled)
            log_msg(LOG_WARNING, "mqtt: [mqtt] was added: restart wotgw to connect to the broker");
        return 0;
    }
    if (!mc->enabled || strcmp(mc->topic_prefix, m->prefix) || strcmp(mc->client_id, m->client_id))
        log_msg(LOG_WARNING,
                "mqtt: the [mqtt] connection settings changed: restart wotgw to apply them");
    /* the consumers' keys may have changed (mqtt_check read them) */
    struct cose_consumers *cc = NULL;
    const char *cose_keys = gw->state->conf->credentials.cose_keys;
    if (cose_keys) {
        struct diags d = {0};
        if (cose_consumers_load(cose_keys, &cc, &d) < 0) {
            for (size_t i = 0; i < d.n; i++)
                log_msg(LOG_ERR, "%s: %s", d.v[i].file, d.v[i].msg);
            log_msg(LOG_ERR, "mqtt: keeping the consumers' COSE keys loaded before");
            cc = m->consumers;
            m->consumers = NULL;
        }
        diag_free(&d);
    }
    cose_consumers_free(m->consumers);
    m->consumers = cc;
    keys_sync(m); /* the issuers' keys may have changed */
    /* the things and their exposed TDs may have changed: what is no longer
     * fed loses its retained value (a removed thing, property or
     * principal; a property that now goes encrypted only) */
    char **before = retained_topics(m);
    feeds_stop(m);
    int r = feeds_build(m);
    char **after = r < 0 ? NULL : retained_topics(m);
    for (size_t i = 0; before && after && before[i]; i++)
        if (!util_strv_contains(after, before[i]))
            clear_retained(m, before[i], "no longer offered");
    util_strv_free(before);
    util_strv_free(after);
    return r;
}

static size_t mqtt_drain(struct gw *gw, bool force)
{
    struct mq *m = mq_fe;
    if (!m)
        return 0;
    if (!m->stopping) {
        m->stopping = true;
        feeds_stop(m);
        /* no new commands: wotgw stops reading, so what the broker sends
         * now is never acknowledged and is delivered again to the
         * persistent session when wotgw is back */
        mq_update_io(m);
    }
    if (force) {
        while (m->cmds) {
            struct cmd *c = m->cmds;
            struct proxy_result res = {.status = 503, .detail = "the gateway is shutting down"};
            if (c->call)
                proxy_cancel(c->call);
            c->call = NULL;
            cmd_answer(c, &res);
            cmd_free(c);
        }
    }
    if (m->n_cmds == 0 && m->connected) {
        mosquitto_disconnect(m->mosq);
        m->connected = false;
        mq_update_io(m);
    }
    return m->n_cmds;
}

static void mqtt_stop(struct gw *gw)
{
    struct mq *m = mq_fe;
    if (!m)
        return;
    if (m->connected) {
        /* let the answers and DISCONNECT go out */
        mosquitto_disconnect(m->mosq);
        for (int i = 0; i < 10 && mosquitto_want_write(m->mosq); i++)
            mosquitto_loop_write(m->mosq, 1);
    }
    log_msg(LOG_INFO, "mqtt: %llu commands received, %llu answered, %llu messages published",
            (unsigned long long)m->received, (unsigned long long)m->answered,
            (unsigned long long)m->published);
    mq_fe = NULL;
    mq_free(m);
}

const struct frontend_ops mqtt_frontend = {
        .name = "mqtt",
        .check = mqtt_check,
        .start = mqtt_start,
        .reload = mqtt_reload,
        .drain = mqtt_drain,
        .stop = mqtt_stop,
};
