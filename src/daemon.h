/* daemon.h - the one event loop and what lives on it: the loaded state,
 * signals (SIGHUP reload, SIGTERM/SIGINT stop), sd_notify and the
 * watchdog, and the table of north front ends that plug into it.
 */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

#include "state.h"

struct gw;

/* A north front end (HTTPS, CoAPS, MQTT), in the style of relayd's
 * protocol tables. start() binds its listeners on the loop (READY=1 is
 * sent only after every start() succeeded); reload() is called after a
 * new state replaced the old one (certificates, limits); stop() closes
 * everything. Any may be NULL. */
struct frontend_ops {
    const char *name;
    int (*start)(struct gw *gw);
    int (*reload)(struct gw *gw);
    void (*stop)(struct gw *gw);
};

struct gw_counters {
    uint64_t requests;
    uint64_t denials;
};

struct gw {
    sd_event *ev;
    const char *config_path;
    struct gw_state *state; /* current set; replaced whole on reload */
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
