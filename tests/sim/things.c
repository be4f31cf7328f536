/* things.c - the simulated things: a lamp, a thermometer and a faulty
 * device, their state and behaviour (see things.h). Protocol-free. */
#include "things.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define TEMP_STEP_US (1000 * 1000ull) /* the thermometer moves once a second */

static struct sim_aff lamp_affs[] = {
        {.name = "on",
         .kind = SIM_PROPERTY,
         .type = SIM_T_BOOL,
         .schema = "{\"type\": \"boolean\"}",
         .description = "Whether the lamp is on.",
         .writable = true,
         .observable = true},
        {.name = "brightness",
         .kind = SIM_PROPERTY,
         .type = SIM_T_INT,
         .schema =
                 "{\"type\": \"integer\", \"minimum\": 0, \"maximum\": 100, \"unit\": \"percent\"}",
         .description = "Brightness in percent.",
         .writable = true,
         .observable = true,
         .min = 0,
         .max = 100},
        {.name = "toggle",
         .kind = SIM_ACTION,
         .schema = "{\"output\": {\"type\": \"object\", \"properties\": {\"on\": {\"type\": "
                   "\"boolean\"}}}}",
         .description = "Switches the lamp on or off; answers the new state."},
        {.name = "overheated",
         .kind = SIM_EVENT,
         .schema = "{\"data\": {\"type\": \"number\", \"unit\": \"celsius\"}}",
         .description = "The lamp is too hot; the data is its temperature."},
};

static struct sim_aff thermo_affs[] = {
        {.name = "temperature",
         .kind = SIM_PROPERTY,
         .type = SIM_T_NUMBER,
         .schema = "{\"type\": \"number\", \"unit\": \"celsius\"}",
         .description = "Room temperature; varies slowly.",
         .observable = true},
        {.name = "unit",
         .kind = SIM_PROPERTY,
         .type = SIM_T_STRING,
         .schema = "{\"type\": \"string\"}",
         .description = "Unit of the temperature."},
};

static struct sim_aff faulty_affs[] = {
        {.name = "slow",
         .kind = SIM_PROPERTY,
         .schema = "{\"type\": \"object\"}",
         .description = "Answers {\"slow\":true} after --slow-ms.",
         .fault = SIM_FAULT_SLOW},
        {.name = "hang",
         .kind = SIM_PROPERTY,
         .schema = "{\"type\": \"object\"}",
         .description = "Never answers.",
         .fault = SIM_FAULT_HANG},
        {.name = "broken",
         .kind = SIM_PROPERTY,
         .schema = "{\"type\": \"string\"}",
         .description = "Announces 1000 bytes, sends 10 and closes the connection.",
         .fault = SIM_FAULT_BROKEN},
        {.name = "blob",
         .kind = SIM_PROPERTY,
         .type = SIM_T_BYTES,
         .description = "Any bytes up to 1 MiB, stored with their content type.",
         .writable = true,
         .content_type = SIM_OCTETS},
        {.name = "headers",
         .kind = SIM_PROPERTY,
         .schema = "{\"type\": \"object\"}",
         .description = "The request headers it received, names in lower case.",
         .fault = SIM_FAULT_HEADERS},
        {.name = "status",
         .kind = SIM_PROPERTY,
         .schema = "{\"type\": \"object\"}",
         .description = "Always fails with 503 and a JSON body.",
         .fault = SIM_FAULT_STATUS},
        {.name = "echo",
         .kind = SIM_ACTION,
         .description = "Answers its input, bytes and content type unchanged (up to 1 MiB).",
         .content_type = SIM_OCTETS},
};

static struct sim_thing things[] = {
        {.name = "lamp",
         .title = "Lamp",
         .description = "A dimmable lamp that speaks plain HTTP (the simulated device, "
                        "wotgw-simdev).",
         .readall = true,
         .affs = lamp_affs,
         .n_affs = sizeof(lamp_affs) / sizeof(lamp_affs[0])},
        {.name = "thermometer",
         .title = "Thermometer",
         .description = "A room thermometer that speaks plain HTTP (the simulated device, "
                        "wotgw-simdev).",
         .readall = true,
         .affs = thermo_affs,
         .n_affs = sizeof(thermo_affs) / sizeof(thermo_affs[0])},
        {.name = "faulty",
         .title = "Faulty device",
         .description = "Misbehaves on purpose, for fault and pass-through tests (the simulated "
                        "device, wotgw-simdev).",
         .affs = faulty_affs,
         .n_affs = sizeof(faulty_affs) / sizeof(faulty_affs[0])},
};
#define N_THINGS (sizeof(things) / sizeof(things[0]))

static struct {
    sd_event *ev;
    struct sim_config cfg;
    sd_event_source *event_timer, *temp_timer;
    struct sim_aff *on, *temperature, *overheated;
    int temp_tenths; /* thermometer value in 0.1 °C */
    uint64_t n_events;
    uint32_t rnd;
    size_t n_affs;
    struct sim_stats stats;
} S;

/* ---- watchers ------------------------------------------------------------- */

bool sim_watch_active(const struct sim_watch *w)
{
    return w->pprev != NULL;
}

void sim_watch_add(struct sim_aff *a, struct sim_watch *w)
{
    sim_watch_del(w);
    w->next = a->watchers;
    if (w->next)
        w->next->pprev = &w->next;
    a->watchers = w;
    w->pprev = &a->watchers;
}

void sim_watch_del(struct sim_watch *w)
{
    if (!w->pprev)
        return;
    *w->pprev = w->next;
    if (w->next)
        w->next->pprev = w->pprev;
    w->next = NULL;
    w->pprev = NULL;
}

static void notify(struct sim_aff *a, const uint8_t *data, size_t len)
{
    /* Take the current list: watchers added by a callback wait for the next
     * notification; callbacks may remove any watcher. */
    struct sim_watch *pending = a->watchers;
    a->watchers = NULL;
    if (pending)
        pending->pprev = &pending;
    struct sim_watch *w;
    while ((w = pending)) {
        sim_watch_del(w);
        if (!w->once)
            sim_watch_add(a, w);
        w->fn(w, data, len);
    }
}

/* ---- values --------------------------------------------------------------- */

static int set_value(struct sim_aff *a, const void *data, size_t len, const char *ct)
{
    if (a->value && len == a->len && !memcmp(a->value, data, len) && !strcmp(a->ct, ct))
        return 0; /* unchanged: nothing to notify */
    uint8_t *v = malloc(len ? len : 1);
    if (!v)
        return -ENOMEM;
    if (len)
        memcpy(v, data, len);
    free(a->value);
    a->value = v;
    a->len = len;
    snprintf(a->ct, sizeof(a->ct), "%s", ct);
    a->version++;
    S.stats.changes++;
    if (a->observable)
        notify(a, a->value, a->len);
    return 0;
}

static int set_text(struct sim_aff *a, const char *text)
{
    return set_value(a, text, strlen(text), SIM_JSON);
}

/* "application/json" with optional parameters, any case. */
static bool is_json_type(const char *ct)
{
    if (!ct)
        return false;
    size_t n = strlen(SIM_JSON);
    if (strncasecmp(ct, SIM_JSON, n))
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

int sim_write(struct sim_aff *a, const char *ct, const uint8_t *data, size_t len, const char **why)
{
    *why = NULL;
    if (a->kind != SIM_PROPERTY || !a->writable) {
        *why = "the property is read-only";
        return -EROFS;
    }
    if (len > SIM_MAX_BODY) {
        *why = "the value is larger than 1 MiB";
        return -EFBIG;
    }
    if (a->type == SIM_T_BYTES) {
        if (!ct || !*ct)
            ct = SIM_OCTETS;
        if (strlen(ct) > SIM_MAX_CT || strpbrk(ct, "\r\n")) {
            *why = "content type too long or malformed";
            return -ENOTSUP;
        }
        return set_value(a, data, len, ct);
    }
    if (!is_json_type(ct)) {
        *why = "the content type must be application/json";
        return -ENOTSUP;
    }
    json_error_t jerr;
    json_t *j =
            json_loadb((const char *)data, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        *why = "malformed JSON";
        return -EBADMSG;
    }
    int r = 0;
    switch (a->type) {
    case SIM_T_BOOL:
        if (!json_is_boolean(j))
            *why = "expected a boolean";
        break;
    case SIM_T_INT:
        if (!json_is_integer(j))
            *why = "expected an integer";
        else if (json_integer_value(j) < a->min || json_integer_value(j) > a->max)
            *why = "out of range";
        break;
    case SIM_T_NUMBER:
        if (!json_is_number(j))
            *why = "expected a number";
        break;
    case SIM_T_STRING:
        if (!json_is_string(j))
            *why = "expected a string";
        break;
    default: *why = "not writable"; break;
    }
    if (*why) {
        json_decref(j);
        return -EINVAL;
    }
    char *txt = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(j);
    if (!txt)
        return -ENOMEM;
    r = set_text(a, txt);
    free(txt);
    return r;
}

int sim_readall(struct sim_thing *t, char **out, size_t *len)
{
    size_t cap = 2;
    for (size_t i = 0; i < t->n_affs; i++) {
        const struct sim_aff *a = &t->affs[i];
        if (a->kind == SIM_PROPERTY && a->value && a->type != SIM_T_BYTES)
            cap += strlen(a->name) + a->len + 4;
    }
    char *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    size_t n = 0;
    buf[n++] = '{';
    for (size_t i = 0; i < t->n_affs; i++) {
        const struct sim_aff *a = &t->affs[i];
        if (a->kind != SIM_PROPERTY || !a->value || a->type == SIM_T_BYTES)
            continue;
        if (n > 1)
            buf[n++] = ',';
        n += (size_t)sprintf(buf + n, "\"%s\":", a->name);
        memcpy(buf + n, a->value, a->len);
        n += a->len;
    }
    buf[n++] = '}';
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int sim_invoke(struct sim_aff *a, const char *ct, const uint8_t *in, size_t inlen, char **out,
               size_t *out_len, const char **out_ct, bool *echo, const char **why)
{
    *out = NULL;
    *out_len = 0;
    *out_ct = NULL;
    *echo = false;
    *why = NULL;
    if (a->kind != SIM_ACTION)
        return -EINVAL;
    if (inlen > SIM_MAX_BODY) {
        *why = "the input is larger than 1 MiB";
        return -EFBIG;
    }
    if (!strcmp(a->name, "echo")) {
        *echo = true;
        return 0;
    }
    if (!strcmp(a->name, "toggle")) {
        bool now_on = !(S.on->len == 4 && !memcmp(S.on->value, "true", 4));
        int r = set_text(S.on, now_on ? "true" : "false");
        if (r < 0)
            return r;
        *out = strdup(now_on ? "{\"on\":true}" : "{\"on\":false}");
        if (!*out)
            return -ENOMEM;
        *out_len = strlen(*out);
        *out_ct = SIM_JSON;
        return 0;
    }
    *why = "unknown action";
    return -ENOENT;
}

int sim_fire(struct sim_aff *e)
{
    if (e->kind != SIM_EVENT)
        return -EINVAL;
    char txt[32];
    if (e == S.overheated) { /* the lamp's temperature: 70.0 .. 89.9 */
        unsigned t = 700 + (unsigned)((S.n_events * 37) % 200);
        snprintf(txt, sizeof(txt), "%u.%u", t / 10, t % 10);
    } else {
        snprintf(txt, sizeof(txt), "%" PRIu64, S.n_events);
    }
    S.n_events++;
    S.stats.events++;
    notify(e, (const uint8_t *)txt, strlen(txt));
    return 0;
}

const struct sim_stats *sim_stats(void)
{
    return &S.stats;
}

/* ---- timers --------------------------------------------------------------- */

static int rearm(sd_event_source *s, uint64_t usec, uint64_t delay)
{
    int r = sd_event_source_set_time(s, usec + delay);
    if (r >= 0)
        r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    return r;
}

static int event_timer_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    sim_fire(S.overheated);
    return rearm(s, usec, S.cfg.event_interval_ms * 1000);
}

static uint32_t rnd(void)
{
    S.rnd = S.rnd * 1103515245u + 12345u;
    return S.rnd >> 16;
}

static int set_temperature(int tenths)
{
    char txt[32];
    S.temp_tenths = tenths;
    snprintf(txt, sizeof(txt), "%s%d.%d", tenths < 0 ? "-" : "", abs(tenths) / 10,
             abs(tenths) % 10);
    return set_text(S.temperature, txt);
}

static int temp_timer_cb(sd_event_source *s, uint64_t usec, void *ud)
{
    /* a random walk of 0.1 °C a step between 18 and 26 °C: always a change */
    int t = S.temp_tenths + ((rnd() & 1) ? 1 : -1);
    if (t < 180)
        t = 181;
    if (t > 260)
        t = 259;
    set_temperature(t);
    return rearm(s, usec, TEMP_STEP_US);
}

/* ---- setup ---------------------------------------------------------------- */

const struct sim_config *sim_config(void)
{
    return &S.cfg;
}

size_t sim_n_things(void)
{
    return N_THINGS;
}

struct sim_thing *sim_thing_at(size_t i)
{
    return i < N_THINGS ? &things[i] : NULL;
}

size_t sim_n_affs(void)
{
    return S.n_affs;
}

struct sim_thing *sim_find_thing(const char *name, size_t len)
{
    for (size_t i = 0; i < N_THINGS; i++)
        if (strlen(things[i].name) == len && !memcmp(things[i].name, name, len))
            return &things[i];
    return NULL;
}

struct sim_aff *sim_find_aff(struct sim_thing *t, enum sim_kind kind, const char *name, size_t len)
{
    for (size_t i = 0; i < t->n_affs; i++) {
        struct sim_aff *a = &t->affs[i];
        if (a->kind == kind && strlen(a->name) == len && !memcmp(a->name, name, len))
            return a;
    }
    return NULL;
}

static struct sim_aff *aff(const char *thing, enum sim_kind kind, const char *name)
{
    struct sim_thing *t = sim_find_thing(thing, strlen(thing));
    return t ? sim_find_aff(t, kind, name, strlen(name)) : NULL;
}

int sim_init(sd_event *ev, const struct sim_config *cfg)
{
    int r;
    S.ev = ev;
    S.cfg = *cfg;
    S.rnd = (uint32_t)getpid() ^ (uint32_t)time(NULL);
    S.n_affs = 0;
    for (size_t i = 0; i < N_THINGS; i++)
        for (size_t j = 0; j < things[i].n_affs; j++) {
            things[i].affs[j].thing = &things[i];
            things[i].affs[j].index = (unsigned)S.n_affs++;
        }
    S.on = aff("lamp", SIM_PROPERTY, "on");
    S.temperature = aff("thermometer", SIM_PROPERTY, "temperature");
    S.overheated = aff("lamp", SIM_EVENT, "overheated");
    if ((r = set_text(S.on, "false")) < 0 ||
        (r = set_text(aff("lamp", SIM_PROPERTY, "brightness"), "50")) < 0 ||
        (r = set_temperature(215)) < 0 ||
        (r = set_text(aff("thermometer", SIM_PROPERTY, "unit"), "\"celsius\"")) < 0 ||
        (r = set_value(aff("faulty", SIM_PROPERTY, "blob"), "", 0, SIM_OCTETS)) < 0)
        return r;
    if (!ev)
        return 0; /* describing only (--print-td, --write-tds) */
    uint64_t now;
    sd_event_now(ev, CLOCK_MONOTONIC, &now);
    if (cfg->event_interval_ms) {
        r = sd_event_add_time(ev, &S.event_timer, CLOCK_MONOTONIC,
                              now + cfg->event_interval_ms * 1000, 1000, event_timer_cb, NULL);
        if (r < 0)
            return r;
    }
    r = sd_event_add_time(ev, &S.temp_timer, CLOCK_MONOTONIC, now + TEMP_STEP_US, 1000,
                          temp_timer_cb, NULL);
    return r < 0 ? r : 0;
}

void sim_fini(void)
{
    S.event_timer = sd_event_source_disable_unref(S.event_timer);
    S.temp_timer = sd_event_source_disable_unref(S.temp_timer);
    for (size_t i = 0; i < N_THINGS; i++)
        for (size_t j = 0; j < things[i].n_affs; j++) {
            struct sim_aff *a = &things[i].affs[j];
            while (a->watchers)
                sim_watch_del(a->watchers);
            free(a->value);
            a->value = NULL;
            a->len = 0;
        }
}
