/* daemon.h - the one event loop and what lives on it: the loaded state,
 * signals (SIGHUP reload, SIGTERM/SIGINT stop), sd_notify and the
 * watchdog, and the table of north front ends that plug into it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "state.h"

struct gw;

/* A north front end (HTTPS, CoAPS, MQTT), in the style of relayd's
 * protocol tables. check() validates what the front end itself reads for
 * a loaded state (certificates, keys, CAs) with FILE: messages in d: `wotgw
 * -t` and every reload run it, and a reload with an error keeps the old
 * set. start() binds its listeners on the loop (READY=1 is sent only after
 * every start() succeeded); reload() is called after a new state replaced
 * the old one (certificates, limits); drain() begins the shutdown on
 * SIGTERM (stop accepting, finish or fail what is in flight; with force,
 * fail what is left) and returns how many requests are still unanswered:
 * the loop exits when every front end reports 0 or after
 * DAEMON_DRAIN_TIMEOUT_US; stop() closes everything. Any may be NULL. */
struct frontend_ops {
    const char *name;
    int (*check)(const struct gw_state *s, struct diags *d);
    int (*start)(struct gw *gw);
    int (*reload)(struct gw *gw);
    size_t (*drain)(struct gw *gw, bool force);
    void (*stop)(struct gw *gw);
};

/* SIGTERM: requests in flight get this long to finish, then the rest are
 * failed (503) and get as long again to be sent. */
#define DAEMON_DRAIN_GRACE_US   (2 * 1000000ull)
#define DAEMON_DRAIN_TIMEOUT_US (4 * 1000000ull)

/* A loaded state with a reference count. The daemon holds one on the
 * current state; a request in flight holds one on the state it was decided
 * under (gw_state_hold), so that a reload, which drops the daemon's, never
 * frees what a request still uses. */
struct gw_state_ref {
    struct gw_state *state;
    unsigned long refs;
};

struct gw_counters {
    uint64_t requests;
    uint64_t denials;
};

struct south_http;
struct proxy;
struct https;
struct extiss;
struct oscore_gw;

struct gw {
    sd_event *ev;
    const char *config_path;
    struct gw_state *state;   /* current set (== cur->state); replaced whole on reload */
    struct gw_state_ref *cur; /* its reference */
    struct south_http *south; /* HTTP device client */
    struct proxy *proxy;      /* the protocol-neutral core */
    struct https *https;      /* the HTTPS front end (north/https.h) */
    struct extiss *extiss;    /* jwks_uri / introspection issuers (auth/extiss.h) */
    struct oscore_gw *oscore; /* [credentials] oscore, shared by CoAP(S) and HTTPS; or NULL */
    bool stopping;            /* SIGTERM received: draining */
    bool drain_forced;
    uint64_t stop_started_us;
    sd_event_source *drain_timer;
    struct gw_counters counters;
    uint64_t reloads, failed_reloads;
    sd_event_source *status_timer;
    char last_status[256];
};

/* Loads the state, starts the front ends, notifies READY=1 and runs the
 * loop until SIGTERM/SIGINT. Returns the process exit code. */
int daemon_run(const char *config_path);

/* Reloads config and TDs atomically (the SIGHUP handler). Returns 0 when
 * the new set replaced the old, a negative errno when the old one stays. */
int daemon_reload(struct gw *gw);

/* Sends STATUS= with the current counts if they changed. */
void daemon_update_status(struct gw *gw);

/* The checks of every front end (frontend_ops.check) on a loaded state:
 * `wotgw -t` calls it after state_load(). Returns 0 or the first error. */
int daemon_check(const struct gw_state *s, struct diags *d);

/* A new reference on the current state. Never fails. */
struct gw_state_ref *gw_state_hold(struct gw *gw);
/* Drops a reference; the state is freed with its last one. NULL ok. */
void gw_state_release(struct gw_state_ref *r);

/* Front ends call this when a drained request completed, so that the
 * shutdown does not wait for the next drain tick. */
void daemon_drain_progress(struct gw *gw);
