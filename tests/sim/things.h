/* things.h - the things of the simulated device (wotgw-simdev), apart
 * from any protocol: their affordances, state and behaviour (values and
 * their validation, actions, events, observers, fault modes).
 *
 * A protocol binding (http.c and coap.c; MQTT later) maps its requests
 * onto these calls and its notifications onto struct sim_watch; td.c
 * describes the things as Thing Descriptions. Everything runs in the one
 * sd-event loop of main.c: no locks, no threads.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#define SIM_MAX_BODY       (1024 * 1024) /* request and stored payloads */
#define SIM_MAX_CT         127           /* stored content type length */
#define SIM_JSON           "application/json"
#define SIM_OCTETS         "application/octet-stream"
#define SIM_DEFAULT_SLOW   2000 /* ms */
#define SIM_DEFAULT_EVENTS 5000 /* ms */

enum sim_kind { SIM_PROPERTY, SIM_ACTION, SIM_EVENT };

/* How a property of the faulty thing misbehaves. Each binding decides what
 * that looks like in its protocol. */
enum sim_fault {
    SIM_FAULT_NONE,
    SIM_FAULT_SLOW,    /* answers {"slow":true} after slow_ms */
    SIM_FAULT_HANG,    /* never answers (until the device exits) */
    SIM_FAULT_BROKEN,  /* starts an answer, then breaks the connection */
    SIM_FAULT_HEADERS, /* answers with the request's metadata as JSON */
    SIM_FAULT_STATUS,  /* answers with a server error (HTTP 503) */
};

/* Value type of a property (and how writes are validated). */
enum sim_type {
    SIM_T_NONE,   /* no stored value (fault properties, actions) */
    SIM_T_BOOL,   /* JSON boolean */
    SIM_T_INT,    /* JSON integer in [min, max] */
    SIM_T_NUMBER, /* JSON number */
    SIM_T_STRING, /* JSON string */
    SIM_T_BYTES,  /* any bytes with their content type */
};

struct sim_watch;
/* A change of an observed property (its new value) or an event (its data). */
typedef void (*sim_watch_fn)(struct sim_watch *w, const uint8_t *data, size_t len);

/* An observer of one property or event. once: removed before fn runs.
 * fn may add or remove any watch (its own included). */
struct sim_watch {
    sim_watch_fn fn;
    void *ud;
    bool once;
    /* internal */
    struct sim_watch *next, **pprev;
};

struct sim_thing;

struct sim_aff {
    const char *name;
    enum sim_kind kind;
    enum sim_type type;
    const char *schema; /* TD data schema members as JSON object text, NULL: none */
    const char *description;
    bool writable, observable;
    int64_t min, max; /* SIM_T_INT */
    enum sim_fault fault;
    const char *content_type; /* TD form contentType, NULL: application/json */
    /* state */
    struct sim_thing *thing;
    unsigned index;          /* 0..sim_n_affs()-1, unique over all things */
    uint8_t *value;          /* JSON text, or the bytes of SIM_T_BYTES */
    size_t len;              /* of value */
    char ct[SIM_MAX_CT + 1]; /* content type of value */
    uint64_t version;        /* bumped on every change of value */
    struct sim_watch *watchers;
};

struct sim_thing {
    const char *name, *title, *description;
    bool readall; /* has a readallproperties form */
    struct sim_aff *affs;
    size_t n_affs;
};

struct sim_config {
    uint64_t slow_ms;           /* SIM_FAULT_SLOW delay */
    uint64_t event_interval_ms; /* 0: events only when triggered */
};

struct sim_stats {
    uint64_t events, changes;
};

int sim_init(sd_event *ev, const struct sim_config *cfg);
void sim_fini(void);
const struct sim_config *sim_config(void);

size_t sim_n_things(void);
struct sim_thing *sim_thing_at(size_t i);
size_t sim_n_affs(void); /* over all things */
struct sim_thing *sim_find_thing(const char *name, size_t len);
struct sim_aff *sim_find_aff(struct sim_thing *t, enum sim_kind kind, const char *name, size_t len);

/* Writes a property. ct is the payload's content type (NULL: none).
 * Returns 0, or -EROFS (not writable), -ENOTSUP (content type not
 * accepted), -EBADMSG (malformed JSON), -EINVAL (wrong type or range),
 * -EFBIG (over SIM_MAX_BODY), -ENOMEM; *why is a short reason (static). */
int sim_write(struct sim_aff *a, const char *ct, const uint8_t *data, size_t len, const char **why);

/* readallproperties: a JSON object of every readable plain-valued property.
 * Caller frees *out. */
int sim_readall(struct sim_thing *t, char **out, size_t *len);

/* Invokes an action. The output is in *out (JSON text, caller frees) with
 * its content type in *out_ct; an action that echoes its input sets *out
 * NULL and *echo true (the binding answers with the input as it came). */
int sim_invoke(struct sim_aff *a, const char *ct, const uint8_t *in, size_t inlen, char **out,
               size_t *out_len, const char **out_ct, bool *echo, const char **why);

/* Fires an event now (the test hook and the event timer). */
int sim_fire(struct sim_aff *event);

void sim_watch_add(struct sim_aff *a, struct sim_watch *w);
void sim_watch_del(struct sim_watch *w); /* no-op when not added */
bool sim_watch_active(const struct sim_watch *w);

const struct sim_stats *sim_stats(void);
