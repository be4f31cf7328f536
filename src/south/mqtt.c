/* south/mqtt.c - see mqtt.h. */
#define _GNU_SOURCE
#include "south/mqtt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <mosquitto.h>

#include "log.h"
#include "mqtt_topic.h"
#include "util.h"

#define DEFAULT_TIMEOUT_US (10 * 1000000ull)
#define BACKOFF_MIN_US     (100000ull)
#define BACKOFF_MAX_US     (10 * 1000000ull)
#define MISC_INTERVAL_US   (1000000ull)
#define KEEPALIVE_S        30
#define HOST_MAX           64

struct broker;

struct topic {
    struct topic *next;
    char *name;
    uint8_t *val;
    size_t len;
    bool have;
};

struct south_mqtt_call {
    struct broker *b;
    struct south_mqtt_call *prev, *next;
    enum south_mqtt_mode mode;
    char *topic;
    uint8_t *body;
    size_t len;
    int qos;
    bool retain;
    int mid;   /* PUBLISH: the message id once handed to libmosquitto */
    bool sent; /* PUBLISH: handed over */
    sd_event_source *timer;
    enum south_mqtt_error result; /* set when the timer fires to finish */
    const char *result_text;
    bool finishing;
    south_mqtt_fn done, notify;
    void *ud;
};

struct broker {
    struct south_mqtt *s;
    struct broker *next;
    char host[HOST_MAX];
    int port;
    struct mosquitto *mosq;
    sd_event_source *io, *retry;
    int fd;
    bool connected;
    uint64_t backoff_us;
    struct topic *topics;
    struct south_mqtt_call *calls;
};

struct south_mqtt {
    sd_event *ev;
    sd_event_source *misc;
    struct broker *brokers;
    char client_id[48];
};

static void broker_update_io(struct broker *b);
static void broker_schedule(struct broker *b);

const char *south_mqtt_error_name(enum south_mqtt_error e)
{
    switch (e) {
    case SOUTH_MQTT_OK: return "ok";
    case SOUTH_MQTT_CONNECT: return "device broker unreachable";
    case SOUTH_MQTT_TIMEOUT: return "device timeout";
    case SOUTH_MQTT_INTERNAL: return "internal error";
    }
    return "?";
}

int south_mqtt_parse_url(const char *url, char *host, size_t hostlen, int *port)
{
    if (!url || strncasecmp(url, "mqtt://", 7))
        return -EINVAL;
    const char *h = url + 7, *he, *p;
    if (*h == '[') {
        he = strchr(h, ']');
        if (!he)
            return -EINVAL;
        h++;
        p = he + 1;
    } else {
        he = h + strcspn(h, ":/?#");
        p = he;
    }
    size_t n = (size_t)(he - h);
    if (n == 0 || n >= hostlen)
        return -EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    if (!strcasecmp(host, "localhost"))
        snprintf(host, hostlen, "127.0.0.1");
    unsigned char buf[16];
    if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
        return -EINVAL;
    *port = 1883;
    if (*p == ':') {
        char *end;
        unsigned long v = strtoul(p + 1, &end, 10);
        if (end == p + 1 || v == 0 || v > 65535 || (*end && !strchr("/?#", *end)))
            return -EINVAL;
        *port = (int)v;
    } else if (*p && !strchr("/?#", *p)) {
        return -EINVAL;
    }
    return 0;
}

/* ---- calls ----------------------------------------------------------------------------------- */

static void call_unlink_free(struct south_mqtt_call *c)
{
    struct broker *b = c->b;
    if (c->prev)
        c->prev->next = c->next;
    else if (b->calls == c)
        b->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    sd_event_source_disable_unref(c->timer);
    free(c->topic);
    free(c->body);
    free(c);
}

/* Ends c now with r (done() then the call is gone). */
static void call_end(struct south_mqtt_call *c, const struct south_mqtt_response *r)
{
    south_mqtt_fn done = c->done;
    void *ud = c->ud;
    call_unlink_free(c);
    done(ud, r);
}

static int call_timer_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    struct south_mqtt_call *c = ud;
    struct south_mqtt_response r = {.error = SOUTH_MQTT_TIMEOUT};
    if (c->finishing) {
        r.error = c->result;
        r.error_text = c->result_text;
        if (c->mode == SOUTH_MQTT_READ && r.error == SOUTH_MQTT_OK) {
            /* the value as it is now */
            for (struct topic *t = c->b->topics; t; t = t->next)
                if (t->have && !strcmp(t->name, c->topic)) {
                    r.body = t->val;
                    r.body_len = t->len;
                }
        }
    } else {
        r.error_text = c->mode == SOUTH_MQTT_READ ? "the device has not published a value"
                                                  : "the device broker did not acknowledge";
    }
    call_end(c, &r);
    return 0;
}

/* Finishes c from the loop, never from the caller's stack. */
static void call_finish_later(struct south_mqtt_call *c, enum south_mqtt_error e, const char *text)
{
    if (c->finishing)
        return;
    c->finishing = true;
    c->result = e;
    c->result_text = text;
    util_timer_arm(c->b->s->ev, &c->timer, 0, call_timer_cb, c);
}

static void call_send(struct south_mqtt_call *c)
{
    struct broker *b = c->b;
    int r = mosquitto_publish(b->mosq, &c->mid, c->topic, (int)c->len, c->body, c->qos, c->retain);
    if (r != MOSQ_ERR_SUCCESS) {
        call_finish_later(c, SOUTH_MQTT_CONNECT, "publish to the device broker failed");
        return;
    }
    c->sent = true;
    if (c->qos == 0)
        call_finish_later(c, SOUTH_MQTT_OK, NULL);
}

/* ---- topics ---------------------------------------------------------------------------------- */

static struct topic *topic_find(struct broker *b, const char *name)
{
    for (struct topic *t = b->topics; t; t = t->next)
        if (!strcmp(t->name, name))
            return t;
    return NULL;
}

static int topic_want(struct broker *b, const char *name, struct topic **out)
{
    struct topic *t = topic_find(b, name);
    if (!t) {
        t = calloc(1, sizeof(*t));
        if (!t || !(t->name = strdup(name))) {
            free(t);
            return -ENOMEM;
        }
        t->next = b->topics;
        b->topics = t;
        if (b->connected)
            mosquitto_subscribe(b->mosq, NULL, name, 1);
    }
    *out = t;
    return 0;
}

static void on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *msg)
{
    struct broker *b = ud;
    for (struct topic *t = b->topics; t; t = t->next) {
        bool match = false;
        if (mosquitto_topic_matches_sub(t->name, msg->topic, &match) != MOSQ_ERR_SUCCESS || !match)
            continue;
        size_t n = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
        uint8_t *v = n ? malloc(n) : NULL;
        if (n && !v)
            continue;
        if (n)
            memcpy(v, msg->payload, n);
        free(t->val);
        t->val = v;
        t->len = n;
        t->have = true;
        struct south_mqtt_call *next;
        for (struct south_mqtt_call *c = b->calls; c; c = next) {
            next = c->next;
            if (c->finishing || strcmp(c->topic, t->name))
                continue;
            if (c->mode == SOUTH_MQTT_READ) {
                call_finish_later(c, SOUTH_MQTT_OK, NULL);
            } else if (c->mode == SOUTH_MQTT_WATCH) {
                struct south_mqtt_response r = {.body = v, .body_len = n};
                c->notify(c->ud, &r);
            }
        }
    }
}

/* ---- the connection -------------------------------------------------------------------------- */

static void broker_fail_calls(struct broker *b, bool all)
{
    for (struct south_mqtt_call *c = b->calls; c; c = c->next) {
        if (c->finishing)
            continue;
        if (c->mode == SOUTH_MQTT_WATCH || (c->mode == SOUTH_MQTT_PUBLISH && (c->sent || all)))
            call_finish_later(c, SOUTH_MQTT_CONNECT, "lost the device broker");
        else if (all)
            call_finish_later(c, SOUTH_MQTT_CONNECT, "device broker unreachable");
    }
}

static void broker_lost(struct broker *b, const char *why)
{
    bool was = b->connected;
    b->connected = false;
    b->io = sd_event_source_disable_unref(b->io);
    b->fd = -1;
    mosquitto_disconnect(b->mosq);
    if (was)
        log_msg(LOG_WARNING, "south mqtt: lost the device broker %s:%d (%s)", b->host, b->port,
                why);
    /* sent publishes and watches fail; reads wait for their timeout */
    broker_fail_calls(b, !was);
    broker_schedule(b);
}

static int broker_io_cb(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
    struct broker *b = ud;
    int r = MOSQ_ERR_SUCCESS;
    if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
        r = mosquitto_loop_read(b->mosq, 1);
    if (r == MOSQ_ERR_SUCCESS && (revents & EPOLLOUT))
        r = mosquitto_loop_write(b->mosq, 1);
    if (r != MOSQ_ERR_SUCCESS) {
        broker_lost(b, r == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(r));
        return 0;
    }
    broker_update_io(b);
    return 0;
}

static void broker_update_io(struct broker *b)
{
    int fd = mosquitto_socket(b->mosq);
    if (fd < 0) {
        b->io = sd_event_source_disable_unref(b->io);
        b->fd = -1;
        return;
    }
    uint32_t ev = EPOLLIN | (mosquitto_want_write(b->mosq) ? EPOLLOUT : 0);
    if (b->io && fd == b->fd) {
        sd_event_source_set_io_events(b->io, ev);
        return;
    }
    b->io = sd_event_source_disable_unref(b->io);
    if (sd_event_add_io(b->s->ev, &b->io, fd, ev, broker_io_cb, b) >= 0)
        b->fd = fd;
}

static void on_connect(struct mosquitto *mosq, void *ud, int rc)
{
    struct broker *b = ud;
    if (rc != 0) {
        log_msg(LOG_WARNING, "south mqtt: the device broker %s:%d refused the connection: %s",
                b->host, b->port, mosquitto_connack_string(rc));
        broker_lost(b, "refused");
        return;
    }
    b->connected = true;
    b->backoff_us = 0;
    log_msg(LOG_INFO, "south mqtt: connected to the device broker %s:%d", b->host, b->port);
    for (struct topic *t = b->topics; t; t = t->next)
        mosquitto_subscribe(mosq, NULL, t->name, 1);
    for (struct south_mqtt_call *c = b->calls; c; c = c->next)
        if (c->mode == SOUTH_MQTT_PUBLISH && !c->sent && !c->finishing)
            call_send(c);
    broker_update_io(b);
}

static void on_publish(struct mosquitto *mosq, void *ud, int mid)
{
    struct broker *b = ud;
    for (struct south_mqtt_call *c = b->calls; c; c = c->next)
        if (c->mode == SOUTH_MQTT_PUBLISH && c->sent && c->mid == mid && !c->finishing) {
            call_finish_later(c, SOUTH_MQTT_OK, NULL);
            break;
        }
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc)
{
    struct broker *b = ud;
    if (b->connected)
        broker_lost(b, "disconnected");
}

static int broker_connect(struct broker *b)
{
    int r = mosquitto_connect_async(b->mosq, b->host, b->port, KEEPALIVE_S);
    if (r != MOSQ_ERR_SUCCESS)
        return r;
    broker_update_io(b);
    return 0;
}

static int broker_retry_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    struct broker *b = ud;
    if (b->io || (!b->calls && !b->topics))
        return 0;
    int r = broker_connect(b);
    if (r != MOSQ_ERR_SUCCESS) {
        broker_fail_calls(b, true);
        broker_schedule(b);
    }
    return 0;
}

static void broker_schedule(struct broker *b)
{
    b->backoff_us = b->backoff_us ? b->backoff_us * 2 : BACKOFF_MIN_US;
    if (b->backoff_us > BACKOFF_MAX_US)
        b->backoff_us = BACKOFF_MAX_US;
    util_timer_arm(b->s->ev, &b->retry, b->backoff_us, broker_retry_cb, b);
}

static int misc_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    struct south_mqtt *sm = ud;
    for (struct broker *b = sm->brokers; b; b = b->next) {
        if (!b->io)
            continue;
        int r = mosquitto_loop_misc(b->mosq);
        if (r != MOSQ_ERR_SUCCESS && r != MOSQ_ERR_NO_CONN)
            broker_lost(b, mosquitto_strerror(r));
        else
            broker_update_io(b);
    }
    sd_event_source_set_time(s, usec + MISC_INTERVAL_US);
    return 0;
}

static struct broker *broker_get(struct south_mqtt *s, const char *host, int port)
{
    for (struct broker *b = s->brokers; b; b = b->next)
        if (b->port == port && !strcmp(b->host, host))
            return b;
    struct broker *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->s = s;
    b->fd = -1;
    snprintf(b->host, sizeof(b->host), "%s", host);
    b->port = port;
    b->mosq = mosquitto_new(s->client_id, true, b);
    if (!b->mosq) {
        free(b);
        return NULL;
    }
    mosquitto_int_option(b->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(b->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(b->mosq, on_connect);
    mosquitto_disconnect_callback_set(b->mosq, on_disconnect);
    mosquitto_message_callback_set(b->mosq, on_message);
    mosquitto_publish_callback_set(b->mosq, on_publish);
    b->next = s->brokers;
    s->brokers = b;
    if (broker_connect(b) != MOSQ_ERR_SUCCESS)
        broker_schedule(b);
    return b;
}

/* ---- API ------------------------------------------------------------------------------------- */

int south_mqtt_new(sd_event *ev, struct south_mqtt **out)
{
    struct south_mqtt *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->ev = ev;
    snprintf(s->client_id, sizeof(s->client_id), "wotgw-south-%ld", (long)getpid());
    mosquitto_lib_init();
    uint64_t now;
    sd_event_now(ev, CLOCK_MONOTONIC, &now);
    int r = sd_event_add_time(ev, &s->misc, CLOCK_MONOTONIC, now + MISC_INTERVAL_US, 100000,
                              misc_cb, s);
    if (r >= 0)
        r = sd_event_source_set_enabled(s->misc, SD_EVENT_ON);
    if (r < 0) {
        south_mqtt_free(s);
        return r;
    }
    *out = s;
    return 0;
}

void south_mqtt_free(struct south_mqtt *s)
{
    if (!s)
        return;
    while (s->brokers) {
        struct broker *b = s->brokers;
        s->brokers = b->next;
        while (b->calls)
            call_unlink_free(b->calls);
        while (b->topics) {
            struct topic *t = b->topics;
            b->topics = t->next;
            free(t->name);
            free(t->val);
            free(t);
        }
        b->io = sd_event_source_disable_unref(b->io);
        b->retry = sd_event_source_disable_unref(b->retry);
        if (b->connected) {
            b->connected = false; /* on_disconnect, called from inside, does nothing */
            mosquitto_disconnect(b->mosq);
        }
        mosquitto_destroy(b->mosq);
        free(b);
    }
    sd_event_source_disable_unref(s->misc);
    free(s);
}

int south_mqtt_start(struct south_mqtt *s, const struct south_mqtt_request *req, south_mqtt_fn done,
                     south_mqtt_fn notify, void *ud, struct south_mqtt_call **out)
{
    char host[HOST_MAX];
    int port;
    if (south_mqtt_parse_url(req->url, host, sizeof(host), &port) < 0 || !req->topic)
        return -EINVAL;
    bool publish = req->mode == SOUTH_MQTT_PUBLISH;
    if (publish ? !mqtt_topic_name_valid(req->topic) : !mqtt_filter_valid(req->topic))
        return -EINVAL;
    if (publish && (req->qos < 0 || req->qos > 2))
        return -EINVAL;
    struct broker *b = broker_get(s, host, port);
    if (!b)
        return -ENOMEM;
    struct south_mqtt_call *c = calloc(1, sizeof(*c));
    if (!c || !(c->topic = strdup(req->topic))) {
        free(c);
        return -ENOMEM;
    }
    c->b = b;
    c->mode = req->mode;
    c->qos = req->qos;
    c->retain = req->retain;
    c->done = done;
    c->notify = notify;
    c->ud = ud;
    if (publish && req->body_len) {
        c->body = malloc(req->body_len);
        if (!c->body) {
            free(c->topic);
            free(c);
            return -ENOMEM;
        }
        memcpy(c->body, req->body, req->body_len);
        c->len = req->body_len;
    }
    c->next = b->calls;
    if (b->calls)
        b->calls->prev = c;
    b->calls = c;
    if (req->mode != SOUTH_MQTT_WATCH) {
        uint64_t now, to = req->timeout_us ? req->timeout_us : DEFAULT_TIMEOUT_US;
        sd_event_now(s->ev, CLOCK_MONOTONIC, &now);
        if (sd_event_add_time(s->ev, &c->timer, CLOCK_MONOTONIC, now + to, 1000, call_timer_cb, c) <
            0) {
            call_unlink_free(c);
            return -ENOMEM;
        }
    }
    if (!publish) {
        struct topic *t;
        if (topic_want(b, req->topic, &t) < 0) {
            call_unlink_free(c);
            return -ENOMEM;
        }
        if (req->mode == SOUTH_MQTT_READ && t->have)
            call_finish_later(c, SOUTH_MQTT_OK, NULL);
    } else if (b->connected) {
        call_send(c);
    }
    if (!b->connected && !b->io) {
        int on = SD_EVENT_OFF;
        if (b->retry)
            sd_event_source_get_enabled(b->retry, &on);
        if (on == SD_EVENT_OFF)
            broker_schedule(b);
    }
    broker_update_io(b);
    *out = c;
    return 0;
}

void south_mqtt_cancel(struct south_mqtt_call *c)
{
    if (c)
        call_unlink_free(c);
}
