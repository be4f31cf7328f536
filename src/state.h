/* state.h - everything loaded from the config: the config model,
 * credential stores, issuers with their keys, and each thing (device TD,
 * compiled policy, exposed TD). Built completely before use, swapped as a
 * whole on reload, never changed in place.
 *
 * One exception, kept apart: each loaded state owns a credential cache
 * (auth/credcache.h), the only mutable object it points at. It caches
 * verifications against this state's users and issuer keys, so it lives
 * and dies with them: a reload starts an empty cache (with a new key) and
 * state_free() wipes the old one. state_policy_env() hands it to the
 * policy engine.
 */
#pragma once

#include <jansson.h>

#include "auth/apikeys.h"
#include "auth/certmap.h"
#include "auth/credcache.h"
#include "auth/jwt.h"
#include "auth/users.h"
#include "config.h"
#include "policy.h"
#include "td.h"

struct as_setup;
struct extiss;

struct thing {
    const struct thing_conf *conf;
    struct td *td;
    struct policy_thing *policy;
    json_t *exposed; /* the exposed TD */
    /* [thing] cose_sign = yes: its COSE_Sign1 key (cose_sign.h), else NULL.
     * Reference-counted: a request in flight may keep it past a reload. */
    struct cose_signer *cose;
};

struct gw_state {
    struct config *conf;
    struct users *users;
    struct apikeys *apikeys;
    struct certmap *certmap;
    struct jwt_issuer *issuers; /* n_issuers, same order as conf->issuers */
    const struct jwt_issuer **issuer_ptrs;
    size_t n_issuers;
    struct thing *things; /* only the things that loaded */
    size_t n_things;
    size_t n_refused;            /* things refused (bad TD or policy) */
    struct credcache *credcache; /* mutable; see the top of this file */
    /* [oauth] enabled: the authorization server's keys and clients
     * (oauth/as.h); its keys are also those of the "local" issuer. */
    struct as_setup *oauth;
    /* The daemon's external issuer fetcher and introspection cache
     * (auth/extiss.h), not owned; NULL outside the daemon. */
    struct extiss *extiss;
};

/* Loads config_path and everything it names. Returns 0 when the config
 * itself and every credential/key file loaded (things whose TD or policy
 * is broken are refused with errors in d and counted in n_refused), or a
 * negative errno with the problems in d. */
int state_load(const char *config_path, struct gw_state **out, struct diags *d);
/* STATE_LOAD_NO_LOCAL_KEYS: the local issuer ([oauth]) gets no keys and
 * nothing of the authorization server's state directory is read (the
 * broker plugin: its keys come from the daemon, auth/keysync.h). */
#define STATE_LOAD_NO_LOCAL_KEYS (1u << 0)
int state_load_opts(const char *config_path, unsigned flags, struct gw_state **out,
                    struct diags *d);
void state_free(struct gw_state *s);

const struct thing *state_find_thing(const struct gw_state *s, const char *name);
/* Fills env for a decision at time now. */
void state_policy_env(const struct gw_state *s, int64_t now, struct policy_env *env);
