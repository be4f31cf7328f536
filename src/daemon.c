/* daemon.c - see daemon.h. */
#define _GNU_SOURCE
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "auth/extiss.h"
#include "oscore_gw.h"
#include "log.h"
#include "north/coaps.h"
#include "north/https.h"
#include "north/mqtt.h"
#include "proxy.h"
#include "south/http.h"

/* The north front ends. */
static const struct frontend_ops *const frontends[] = {
        &https_frontend,
        &coaps_frontend,
        &mqtt_frontend,
};

#define STATUS_INTERVAL_US (5 * 1000000ull)
#define DRAIN_TICK_US      (50 * 1000ull)

/* ---- state references ------------------------------------------------------- */

static struct gw_state_ref *state_ref_new(struct gw_state *s)
{
    struct gw_state_ref *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->state = s;
    r->refs = 1;
    return r;
}

struct gw_state_ref *gw_state_hold(struct gw *gw)
{
    gw->cur->refs++;
    return gw->cur;
}

void gw_state_release(struct gw_state_ref *r)
{
    if (!r || --r->refs)
        return;
    state_free(r->state);
    free(r);
}

int daemon_check(const struct gw_state *s, struct diags *d)
{
    int ret = 0;
    for (size_t i = 0; i < ARRAY_SIZE(frontends); i++) {
        int r = frontends[i] && frontends[i]->check ? frontends[i]->check(s, d) : 0;
        if (r < 0 && ret == 0)
            ret = r;
    }
    return ret;
}

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
             "%zu things (%zu refused), %llu requests, %llu denied, %zu in progress, %llu reloads "
             "(%llu failed)",
             s->n_things, s->n_refused, (unsigned long long)gw->counters.requests,
             (unsigned long long)gw->counters.denials, gw->proxy ? proxy_pending(gw->proxy) : 0,
             (unsigned long long)gw->reloads, (unsigned long long)gw->failed_reloads);
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
    if (r >= 0) {
        /* certificates and keys are part of the checked set */
        int c = daemon_check(ns, &d);
        if (c < 0)
            r = c;
    }
    if (r >= 0 && d.n_errors > 0) {
        /* At start a refused thing is skipped; a reload is all or nothing
         * so that a typo never takes a serving thing away. */
        r = -EINVAL;
    }
    /* the OSCORE contexts: a refused file fails the reload like any error */
    struct oscore_gw *nosc = NULL;
    if (r >= 0 && (r = oscore_gw_load(ns->conf, gw->oscore, &nosc)) < 0)
        log_msg(LOG_ERR, "%s: refused", ns->conf->credentials.oscore);
    struct gw_state_ref *nref = r >= 0 ? state_ref_new(ns) : NULL;
    if (r >= 0 && !nref)
        r = -ENOMEM;
    log_diags(&d);
    diag_free(&d);
    if (r < 0) {
        oscore_gw_unref(nosc);
        state_free(ns);
        gw->failed_reloads++;
        log_msg(LOG_ERR, "reload of %s failed (%s): keeping the running configuration",
                gw->config_path, strerror(-r));
        sd_notify(0, "READY=1");
        daemon_update_status(gw);
        return r;
    }
    struct gw_state_ref *old = gw->cur;
    gw->cur = nref;
    gw->state = ns;
    gw->reloads++;
    oscore_gw_unref(gw->oscore); /* requests still waiting keep the old one */
    gw->oscore = nosc;
    if (gw->extiss) { /* keeps fetched keys and timers of unchanged issuers */
        (void)extiss_attach(gw->extiss, ns->issuers, ns->n_issuers, ns->credcache);
        ns->extiss = gw->extiss;
    }
    for (size_t i = 0; i < ARRAY_SIZE(frontends); i++)
        if (frontends[i] && frontends[i]->reload && frontends[i]->reload(gw) < 0)
            log_msg(LOG_ERR, "%s: reload failed: keeping its previous listeners",
                    frontends[i]->name);
    if (gw->proxy)
        proxy_reload(gw->proxy);
    /* requests in flight keep the old state until they end */
    gw_state_release(old);
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

/* What is still unanswered; with force, fail it now. */
static size_t drain_step(struct gw *gw, bool force)
{
    size_t left = 0;
    if (gw->proxy)
        left += proxy_drain(gw->proxy, force);
    for (size_t i = 0; i < ARRAY_SIZE(frontends); i++)
        if (frontends[i] && frontends[i]->drain)
            left += frontends[i]->drain(gw, force);
    return left;
}

static int on_drain_tick(sd_event_source *s, uint64_t usec, void *ud)
{
    struct gw *gw = ud;
    uint64_t now;
    sd_event_now(gw->ev, CLOCK_MONOTONIC, &now);
    uint64_t elapsed = now - gw->stop_started_us;
    bool force = elapsed >= DAEMON_DRAIN_GRACE_US;
    if (force && !gw->drain_forced) {
        gw->drain_forced = true;
        log_msg(LOG_NOTICE, "requests still in progress after %llu ms: failing them",
                (unsigned long long)(DAEMON_DRAIN_GRACE_US / 1000));
    }
    size_t left = drain_step(gw, force);
    if (left == 0 || elapsed >= DAEMON_DRAIN_TIMEOUT_US) {
        if (left)
            log_msg(LOG_WARNING, "stopping with %zu requests unanswered", left);
        return sd_event_exit(gw->ev, 0);
    }
    sd_event_source_set_time(s, now + DRAIN_TICK_US);
    return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

void daemon_drain_progress(struct gw *gw)
{
    if (!gw->stopping || !gw->drain_timer)
        return;
    uint64_t now;
    sd_event_now(gw->ev, CLOCK_MONOTONIC, &now);
    sd_event_source_set_time(gw->drain_timer, now);
    sd_event_source_set_enabled(gw->drain_timer, SD_EVENT_ONESHOT);
}

static int on_stop(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
    struct gw *gw = ud;
    if (gw->stopping)
        return 0;
    log_msg(LOG_INFO, "received %s, stopping", strsignal((int)si->ssi_signo));
    sd_notify(0, "STOPPING=1");
    gw->stopping = true;
    sd_event_now(gw->ev, CLOCK_MONOTONIC, &gw->stop_started_us);
    /* stop accepting, end streams; requests get DAEMON_DRAIN_GRACE_US */
    if (drain_step(gw, false) == 0)
        return sd_event_exit(gw->ev, 0);
    int r = sd_event_add_time(gw->ev, &gw->drain_timer, CLOCK_MONOTONIC,
                              gw->stop_started_us + DRAIN_TICK_US, 1000, on_drain_tick, gw);
    if (r < 0)
        return sd_event_exit(gw->ev, 0);
    return 0;
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
    if (r >= 0 && daemon_check(gw.state, &d) < 0)
        r = -EINVAL;
    log_diags(&d);
    diag_free(&d);
    if (r < 0 || !(gw.cur = state_ref_new(gw.state))) {
        log_msg(LOG_ERR, "cannot start: %s has errors", config_path);
        state_free(gw.state);
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

    if ((r = south_http_new(gw.ev, &gw.south)) < 0 || (r = proxy_new(&gw, &gw.proxy)) < 0) {
        log_msg(LOG_ERR, "device client: %s", strerror(-r));
        goto out;
    }
    /* external issuers: first JWKS fetches start now, in the background */
    if ((r = extiss_new(gw.ev, gw.south, &gw.extiss)) < 0 ||
        (r = extiss_attach(gw.extiss, gw.state->issuers, gw.state->n_issuers,
                           gw.state->credcache)) < 0) {
        log_msg(LOG_ERR, "external issuers: %s", strerror(-r));
        goto out;
    }
    gw.state->extiss = gw.extiss;
    if ((r = oscore_gw_load(gw.state->conf, NULL, &gw.oscore)) < 0) {
        log_msg(LOG_ERR, "%s: refused", gw.state->conf->credentials.oscore);
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
    /* front ends are stopped: cancel what is left, then the device client */
    proxy_free(gw.proxy);
    extiss_free(gw.extiss); /* before the client its fetches run on */
    oscore_gw_unref(gw.oscore);
    south_http_free(gw.south);
    sd_event_source_disable_unref(gw.drain_timer);
    sd_event_source_disable_unref(gw.status_timer);
    sd_event_unref(gw.ev);
    gw_state_release(gw.cur);
    log_msg(LOG_INFO, "stopped");
    return rc;
}
