/* daemon.c - see daemon.h. */
#define _GNU_SOURCE
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "log.h"

/* The north front ends. Empty until the HTTPS, CoAPS and MQTT front ends
 * land; each adds one entry here. */
static const struct frontend_ops *const frontends[] = {
        NULL,
};

#define STATUS_INTERVAL_US (5 * 1000000ull)

static void log_diags(const struct diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct diag *g = &d->v[i];
        int prio = g->warning ? LOG_WARNING : LOG_ERR;
        if (g->line)
            log_msg(prio, "%s:%u: %s%s", g->file, g->line, g->warning ? "warning: " : "", g->msg);
        else
            log_msg(prio, "%s: %s%s", g->file, g->warning ? "warning: " : "", g->msg);
    }
}

void daemon_update_status(struct gw *gw)
{
    char status[256];
    const struct gw_state *s = gw->state;
    snprintf(status, sizeof(status),
             "%zu things (%zu refused), %llu requests, %llu denied, %llu reloads (%llu failed)",
             s->n_things, s->n_refused, (unsigned long long)gw->counters.requests,
             (unsigned long long)gw->counters.denials, (unsigned long long)gw->reloads,
             (unsigned long long)gw->failed_reloads);
    if (!strcmp(status, gw->last_status))
        return;
    memcpy(gw->last_status, status, sizeof(status));
    sd_notifyf(0, "STATUS=%s", status);
}

int daemon_reload(struct gw *gw)
{
    struct diags d = {0};
    struct gw_state *ns = NULL;
    sd_notify(0, "RELOADING=1");
    log_msg(LOG_INFO, "reloading %s", gw->config_path);
    int r = state_load(gw->config_path, &ns, &d);
    if (r >= 0 && d.n_errors > 0) {
        /* At start a refused thing is skipped; a reload is all or nothing
         * so that a typo never takes a serving thing away. */
        r = -EINVAL;
    }
    log_diags(&d);
    diag_free(&d);
    if (r < 0) {
        state_free(ns);
        gw->failed_reloads++;
        log_msg(LOG_ERR, "reload of %s failed (%s): keeping the running configuration",
                gw->config_path, strerror(-r));
        sd_notify(0, "READY=1");
        daemon_update_status(gw);
        return r;
    }
    struct gw_state *old = gw->state;
    gw->state = ns;
    for (size_t i = 0; i < ARRAY_SIZE(frontends); i++)
        if (frontends[i] && frontends[i]->reload && frontends[i]->reload(gw) < 0)
            log_msg(LOG_ERR, "%s: reload failed: keeping its previous listeners",
                    frontends[i]->name);
    state_free(old);
    gw->reloads++;
    log_set_debug(log_debug_enabled() || gw->state->conf->debug);
    log_msg(LOG_INFO, "reloaded: %zu things", gw->state->n_things);
    sd_notify(0, "READY=1");
    daemon_update_status(gw);
    return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
    (void)daemon_reload(ud);
    return 0;
}

static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
    struct gw *gw = ud;
    log_msg(LOG_INFO, "received %s, stopping", strsignal((int)si->ssi_signo));
    sd_notify(0, "STOPPING=1");
    return sd_event_exit(gw->ev, 0);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *ud)
{
    struct gw *gw = ud;
    daemon_update_status(gw);
    sd_event_source_set_time(s, usec + STATUS_INTERVAL_US);
    return 0;
}

int daemon_run(const char *config_path)
{
    struct gw gw = {.config_path = config_path};
    struct diags d = {0};
    int r, rc = EXIT_FAILURE;
    size_t started = 0;

    r = state_load(config_path, &gw.state, &d);
    log_diags(&d);
    diag_free(&d);
    if (r < 0) {
        log_msg(LOG_ERR, "cannot start: %s has errors", config_path);
        return EXIT_FAILURE;
    }
    if (gw.state->conf->debug)
        log_set_debug(true);

    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0) {
        log_msg(LOG_ERR, "sigprocmask: %m");
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);

    r = sd_event_default(&gw.ev);
    if (r < 0) {
        log_msg(LOG_ERR, "sd_event_default: %s", strerror(-r));
        goto out;
    }
    if ((r = sd_event_add_signal(gw.ev, NULL, SIGTERM, on_stop, &gw)) < 0 ||
        (r = sd_event_add_signal(gw.ev, NULL, SIGINT, on_stop, &gw)) < 0 ||
        (r = sd_event_add_signal(gw.ev, NULL, SIGHUP, on_sighup, &gw)) < 0) {
        log_msg(LOG_ERR, "sd_event_add_signal: %s", strerror(-r));
        goto out;
    }
    /* sd-event pings WATCHDOG=1 itself while the loop iterates; 0 when
     * there is no watchdog. */
    r = sd_event_set_watchdog(gw.ev, 1);
    if (r < 0)
        log_msg(LOG_WARNING, "watchdog: %s", strerror(-r));
    uint64_t now;
    sd_event_now(gw.ev, CLOCK_MONOTONIC, &now);
    r = sd_event_add_time(gw.ev, &gw.status_timer, CLOCK_MONOTONIC, now + STATUS_INTERVAL_US,
                          1000000, on_status_timer, &gw);
    if (r < 0 || (r = sd_event_source_set_enabled(gw.status_timer, SD_EVENT_ON)) < 0) {
        log_msg(LOG_ERR, "status timer: %s", strerror(-r));
        goto out;
    }

    for (started = 0; started < ARRAY_SIZE(frontends); started++) {
        const struct frontend_ops *fe = frontends[started];
        if (fe && fe->start && (r = fe->start(&gw)) < 0) {
            log_msg(LOG_ERR, "%s: cannot start: %s", fe->name, strerror(-r));
            goto stop;
        }
    }

    log_msg(LOG_INFO, "wotgw %s ready: %zu things (%zu refused), %zu issuers", WOTGW_VERSION,
            gw.state->n_things, gw.state->n_refused, gw.state->n_issuers);
    sd_notify(0, "READY=1");
    daemon_update_status(&gw);

    r = sd_event_loop(gw.ev);
    if (r < 0)
        log_msg(LOG_ERR, "event loop: %s", strerror(-r));
    else
        rc = EXIT_SUCCESS;
stop:
    while (started > 0) {
        const struct frontend_ops *fe = frontends[--started];
        if (fe && fe->stop)
            fe->stop(&gw);
    }
out:
    sd_event_source_disable_unref(gw.status_timer);
    sd_event_unref(gw.ev);
    state_free(gw.state);
    log_msg(LOG_INFO, "stopped");
    return rc;
}
