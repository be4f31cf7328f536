/* oscore_gw.c - the gateway's one OSCORE server (see oscore_gw.h) */
#include "oscore_gw.h"

#include <errno.h>
#include <stdlib.h>
#include <syslog.h>

#include "log.h"

int oscore_gw_load(const struct config *conf, const struct oscore_gw *old, struct oscore_gw **out)
{
    *out = NULL;
    if (!conf->credentials.oscore)
        return 0;
    struct oscore_server *srv = NULL;
    struct diags d = {0};
    int r = oscore_server_load(conf->credentials.oscore, conf->state_dir, &srv, &d);
    for (size_t i = 0; i < d.n; i++)
        log_msg(d.v[i].warning ? LOG_WARNING : LOG_ERR, "%s: %s", d.v[i].file, d.v[i].msg);
    diag_free(&d);
    if (r < 0)
        return r;
    struct oscore_gw *o = calloc(1, sizeof(*o));
    if (!o) {
        oscore_server_free(srv);
        return -ENOMEM;
    }
    o->s = srv;
    o->refs = 1;
    if (old)
        oscore_server_adopt(srv, old->s);
    log_msg(LOG_INFO, "%zu OSCORE context(s) loaded from %s", oscore_server_count(srv),
            conf->credentials.oscore);
    *out = o;
    return 0;
}

struct oscore_gw *oscore_gw_ref(struct oscore_gw *o)
{
    if (o)
        o->refs++;
    return o;
}

void oscore_gw_unref(struct oscore_gw *o)
{
    if (o && !--o->refs) {
        oscore_server_free(o->s);
        free(o);
    }
}
