/* state.c - loads the config and everything it names into one immutable
 * set; see state.h. */
#include "state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/oscore_ctx.h"
#include "cose_sign.h"
#include "expose.h"
#include "oauth/as.h"

static void thing_clear(struct thing *t)
{
    json_decref(t->exposed);
    cose_signer_unref(t->cose);
    policy_thing_free(t->policy);
    td_free(t->td);
    *t = (struct thing){0};
}

void state_free(struct gw_state *s)
{
    if (!s)
        return;
    credcache_free(s->credcache);
    for (size_t i = 0; i < s->n_things; i++)
        thing_clear(&s->things[i]);
    free(s->things);
    for (size_t i = 0; i < s->n_issuers; i++)
        jwks_free(s->issuers[i].keys);
    free(s->issuers);
    free(s->issuer_ptrs);
    as_setup_free(s->oauth);
    users_free(s->users);
    apikeys_free(s->apikeys);
    certmap_free(s->certmap);
    config_free(s->conf);
    free(s);
}

/* cose_sign = yes: the thing's signing key (made on first use) and its
 * COSE forms in the exposed TD. A process that may not read or write the
 * key (the broker plugin, `wotgw -t` as another user) only warns: the
 * thing then has no key and answers COSE requests with 406. */
static int thing_cose_load(const struct config *c, const struct thing_conf *tc, struct thing *t,
                           struct diags *d)
{
    struct diags tmp = {0};
    char *dir = util_path_join(c->state_dir, COSE_SIGN_DIR);
    if (!dir)
        return -ENOMEM;
    int r = cose_signer_load(dir, tc->name, true, &t->cose, &tmp);
    free(dir);
    bool perm = r == -EACCES || r == -EPERM || r == -EROFS;
    for (size_t i = 0; i < tmp.n; i++) {
        if (perm || tmp.v[i].warning)
            diag_warn(d, tmp.v[i].file, tmp.v[i].line, "%s", tmp.v[i].msg);
        else
            diag_add(d, tmp.v[i].file, tmp.v[i].line, "%s", tmp.v[i].msg);
    }
    diag_free(&tmp);
    if (r < 0)
        return perm ? 0 : r;
    return expose_cose(c, tc, t->cose, t->exposed, d);
}

/* [credentials] oscore: the contexts file must parse (the front ends load
 * it again with their sequence numbers: objsec/oscore_server.h). Like a
 * signing key, a file this process may not read (the broker plugin, which
 * never terminates OSCORE, or `wotgw -t` as another user) only warns. */
static int oscore_check(const struct config *c, struct diags *d)
{
    struct diags tmp = {0};
    struct oscore_ctx_store *cs = NULL;
    int r = oscore_ctx_load(c->credentials.oscore, &cs, &tmp);
    oscore_ctx_store_free(cs);
    bool perm = r == -EACCES; /* not -EPERM: a file open to others is refused */
    for (size_t i = 0; i < tmp.n; i++) {
        if (perm || tmp.v[i].warning)
            diag_warn(d, tmp.v[i].file, tmp.v[i].line, "%s", tmp.v[i].msg);
        else
            diag_add(d, tmp.v[i].file, tmp.v[i].line, "%s", tmp.v[i].msg);
    }
    diag_free(&tmp);
    if (r == -ENOMEM)
        return r;
    return perm ? 0 : r < 0 ? -EINVAL : 0;
}

/* Loads one thing: device TD, policy, exposed TD. -EINVAL with the reason
 * in d when the thing must be refused. */
static int thing_load(const struct config *c, const struct thing_conf *tc, struct thing *t,
                      struct diags *d)
{
    const struct td_limits lim = {
            .max_size = (size_t)c->limits.max_td_size,
            .max_depth = (size_t)c->limits.max_json_depth,
    };
    int r;
    *t = (struct thing){.conf = tc};
    r = td_load_file(tc->td, &lim, &t->td, d);
    if (r < 0)
        goto fail;
    r = policy_thing_compile(c, tc, t->td, &t->policy, d);
    if (r < 0)
        goto fail;
    r = expose_td(c, tc, t->td, t->policy, &t->exposed, d);
    if (r < 0)
        goto fail;
    if (tc->cose_sign) {
        r = thing_cose_load(c, tc, t, d);
        if (r < 0)
            goto fail;
    }
    return 0;
fail:
    thing_clear(t);
    return r;
}

int state_load(const char *config_path, struct gw_state **out, struct diags *d)
{
    return state_load_opts(config_path, 0, out, d);
}

int state_load_opts(const char *config_path, unsigned flags, struct gw_state **out, struct diags *d)
{
    int r;
    struct gw_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;

    r = config_load(config_path, &s->conf, d);
    if (r < 0)
        goto fail;
    const struct config *c = s->conf;

    /* Credential files: a broken one is fatal (fail closed). */
    int cred_err = 0;
    if (c->credentials.users && (r = users_load(c->credentials.users, &s->users, d)) < 0)
        cred_err = r;
    if (c->credentials.apikeys && (r = apikeys_load(c->credentials.apikeys, &s->apikeys, d)) < 0)
        cred_err = r;
    if (c->credentials.cert_identities &&
        (r = certmap_load(c->credentials.cert_identities, &s->certmap, d)) < 0)
        cred_err = r;

    if (c->credentials.oscore && (r = oscore_check(c, d)) < 0)
        cred_err = r;

    s->n_issuers = c->n_issuers;
    if (c->n_issuers) {
        s->issuers = calloc(c->n_issuers, sizeof(*s->issuers));
        s->issuer_ptrs = calloc(c->n_issuers, sizeof(*s->issuer_ptrs));
        if (!s->issuers || !s->issuer_ptrs) {
            r = -ENOMEM;
            goto fail;
        }
    }
    for (size_t i = 0; i < c->n_issuers; i++) {
        const struct issuer_conf *ic = &c->issuers[i];
        s->issuers[i].conf = ic;
        s->issuer_ptrs[i] = &s->issuers[i];
        if (ic->local && (flags & STATE_LOAD_NO_LOCAL_KEYS))
            r = 0;
        else if (ic->local) /* the [oauth] server's own keys, made on first use */
            r = as_setup_load(c, (int64_t)time(NULL), &s->oauth, &s->issuers[i].keys, d);
        else if (ic->jwks)
            r = jwks_load_file(ic->jwks, ic->algorithms, &s->issuers[i].keys, d);
        else /* jwks_uri / introspection_url: auth/extiss.h fills it in the daemon */
            r = 0;
        if (r < 0)
            cred_err = r;
    }
    if (cred_err) {
        r = cred_err;
        goto fail;
    }

    if (c->n_things) {
        s->things = calloc(c->n_things, sizeof(*s->things));
        if (!s->things) {
            r = -ENOMEM;
            goto fail;
        }
    }
    for (size_t i = 0; i < c->n_things; i++) {
        r = thing_load(c, &c->things[i], &s->things[s->n_things], d);
        if (r == -ENOMEM)
            goto fail;
        if (r < 0) {
            diag_add(d, c->path, c->things[i].line, "thing '%s' refused (see above)",
                     c->things[i].name);
            s->n_refused++;
            /* its keys were judged with the thing: no "unknown key" noise */
            struct ini_section *sec = c->things[i].section;
            for (size_t k = 0; sec && k < sec->n_entries; k++)
                sec->entries[k].used = true;
            continue;
        }
        s->n_things++;
    }
    /* Policy compilation marked the policy keys it understood. */
    size_t before = d ? d->n_errors : 0;
    ini_report_unused(&s->conf->ini, d);
    if (d && d->n_errors > before) {
        r = -EINVAL;
        goto fail;
    }
    /* Without a random key (-EIO) the state works uncached. */
    r = credcache_new(0, &s->credcache);
    if (r == -ENOMEM)
        goto fail;
    *out = s;
    return 0;
fail:
    state_free(s);
    *out = NULL;
    return r;
}

const struct thing *state_find_thing(const struct gw_state *s, const char *name)
{
    for (size_t i = 0; i < s->n_things; i++)
        if (!strcmp(s->things[i].conf->name, name))
            return &s->things[i];
    return NULL;
}

void state_policy_env(const struct gw_state *s, int64_t now, struct policy_env *env)
{
    *env = (struct policy_env){
            .users = s->users,
            .apikeys = s->apikeys,
            .certmap = s->certmap,
            .issuers = s->issuer_ptrs,
            .n_issuers = s->n_issuers,
            .max_token_size = (size_t)s->conf->limits.max_token_size,
            .now = now,
            .credcache = s->credcache,
            .extiss = s->extiss,
    };
}
