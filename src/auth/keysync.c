/* auth/keysync.c - see keysync.h. */
#include "keysync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "credcache.h"
#include "jwt.h"

struct ks_issuer {
    char *name;
    bool local;
    char *jwks_uri; /* NULL for local */
    char *jwks;     /* NULL: no keys */
    size_t jwks_len;
};

struct ks_jti {
    char jti[KEYSYNC_MAX_JTI + 1];
    int64_t exp;
};

struct keysync {
    struct ks_issuer *iss;
    size_t n_iss;
    char *revoked_iss;
    struct ks_jti *rv; /* sorted by jti */
    size_t n_rv;
};

/* ---- the daemon's side ------------------------------------------------------------------ */

bool keysync_synced(const struct issuer_conf *ic)
{
    return ic && (ic->local || ic->jwks_uri);
}

int keysync_build(const struct gw_state *s, const char *revoked_iss, const json_t *revoked,
                  int64_t now, char **out, size_t *len, struct diags *d)
{
    *out = NULL;
    *len = 0;
    json_t *doc = json_object(), *iss = json_array(), *rv = json_array();
    int r = -ENOMEM;
    if (!doc || !iss || !rv)
        goto out;
    for (size_t i = 0; s && i < s->n_issuers; i++) {
        const struct jwt_issuer *ji = &s->issuers[i];
        const struct issuer_conf *ic = ji->conf;
        if (!keysync_synced(ic))
            continue;
        const struct jwks *k = ji->keys;
        json_t *e = json_pack("{s:s, s:b, s:s?, s:s%}", "name", ic->name, "local", ic->local,
                              "jwks_uri", ic->local ? NULL : ic->jwks_uri, "jwks",
                              k && k->text ? k->text : "", k && k->text ? k->text_len : 0);
        if (!e || json_array_append_new(iss, e) < 0)
            goto out;
        if (!k || !k->text) /* no keys: null, so that the plugin drops its own */
            json_object_set_new(e, "jwks", json_null());
    }
    size_t i;
    json_t *v;
    json_array_foreach(revoked, i, v)
    {
        const char *jti = json_string_value(json_array_get(v, 0));
        json_int_t exp = json_integer_value(json_array_get(v, 1));
        /* kept past exp as long as any issuer's leeway may accept it */
        if (!jti || !*jti || strlen(jti) > KEYSYNC_MAX_JTI || exp <= now - JWT_MAX_LEEWAY_S)
            continue;
        if (json_array_size(rv) >= KEYSYNC_MAX_REVOKED)
            break;
        if (json_array_append_new(rv, json_pack("[s, I]", jti, exp)) < 0)
            goto out;
    }
    if (json_object_set_new(doc, "v", json_integer(1)) < 0 ||
        json_object_set(doc, "issuers", iss) < 0 ||
        json_object_set_new(doc, "revoked_iss",
                            revoked_iss ? json_string(revoked_iss) : json_null()) < 0 ||
        json_object_set(doc, "revoked", rv) < 0)
        goto out;
    char *txt = json_dumps(doc, JSON_COMPACT);
    /* Too large: the key set of a jwks_uri issuer (whose server decides its
     * size) must not keep the local keys and the revocations from going out.
     * Drop the largest ones (the plugin then has none for that issuer: fail
     * closed) until it fits. */
    while (txt && strlen(txt) > KEYSYNC_MAX_SIZE) {
        json_t *big = NULL, *e;
        size_t j, max = 0;
        json_array_foreach(iss, j, e)
        {
            size_t l = json_string_length(json_object_get(e, "jwks"));
            if (!json_is_true(json_object_get(e, "local")) && l > max) {
                big = e;
                max = l;
            }
        }
        free(txt);
        if (big)
            diag_warn(d, "keysync", 0,
                      "the key set of [issuer %s] (%zu bytes) does not fit: the broker plugin "
                      "gets none, and refuses its tokens",
                      json_string_value(json_object_get(big, "name")), max);
        txt = big && json_object_set_new(big, "jwks", json_null()) == 0
                      ? json_dumps(doc, JSON_COMPACT)
                      : NULL;
        if (!big) {
            r = -EMSGSIZE;
            goto out;
        }
    }
    if (!txt)
        goto out;
    *out = txt;
    *len = strlen(txt);
    r = 0;
out:
    json_decref(doc);
    json_decref(iss);
    json_decref(rv);
    return r;
}

/* ---- the plugin's side ------------------------------------------------------------------ */

void keysync_free(struct keysync *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n_iss; i++) {
        free(k->iss[i].name);
        free(k->iss[i].jwks_uri);
        free(k->iss[i].jwks);
    }
    free(k->iss);
    free(k->revoked_iss);
    free(k->rv);
    free(k);
}

static int jti_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ks_jti *)a)->jti, ((const struct ks_jti *)b)->jti);
}

/* A string member without NUL bytes, of at most max bytes. */
static bool str_ok(const json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) <= max &&
           strlen(json_string_value(v)) == json_string_length(v);
}

static int parse_issuer(const json_t *o, struct ks_issuer *e, const char **why)
{
    const json_t *name = json_object_get(o, "name"), *local = json_object_get(o, "local"),
                 *uri = json_object_get(o, "jwks_uri"), *jwks = json_object_get(o, "jwks");
    if (!json_is_object(o) || !str_ok(name, CONFIG_NAME_MAX) || !json_string_length(name) ||
        !json_is_boolean(local)) {
        *why = "an issuer without a usable name or \"local\"";
        return -EINVAL;
    }
    e->local = json_is_true(local);
    if (e->local ? (uri && !json_is_null(uri)) : !str_ok(uri, 4096)) {
        *why = "an issuer's jwks_uri does not fit its kind";
        return -EINVAL;
    }
    if (!json_is_null(jwks) && !str_ok(jwks, JWKS_MAX_FILE_SIZE)) {
        *why = "an issuer's \"jwks\" is neither a JWK Set text nor null";
        return -EINVAL;
    }
    e->name = strdup(json_string_value(name));
    e->jwks_uri = e->local ? NULL : strdup(json_string_value(uri));
    if (json_is_string(jwks)) {
        e->jwks_len = json_string_length(jwks);
        e->jwks = malloc(e->jwks_len + 1);
        if (e->jwks)
            memcpy(e->jwks, json_string_value(jwks), e->jwks_len + 1);
    }
    if (!e->name || (!e->local && !e->jwks_uri) || (json_is_string(jwks) && !e->jwks))
        return -ENOMEM;
    return 0;
}

int keysync_parse(const char *buf, size_t len, struct keysync **out, const char **why)
{
    *out = NULL;
    *why = "not a valid document";
    if (!buf || len > KEYSYNC_MAX_SIZE) {
        *why = "larger than the limit";
        return -EINVAL;
    }
    json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    struct keysync *k = calloc(1, sizeof(*k));
    int r = -EINVAL;
    if (!k) {
        r = -ENOMEM;
        goto out;
    }
    const json_t *iss = json_object_get(doc, "issuers"), *rv = json_object_get(doc, "revoked"),
                 *riss = json_object_get(doc, "revoked_iss");
    if (!json_is_object(doc) || json_integer_value(json_object_get(doc, "v")) != 1 ||
        !json_is_integer(json_object_get(doc, "v"))) {
        *why = "not a version 1 document";
        goto out;
    }
    if (!json_is_array(iss) || json_array_size(iss) > KEYSYNC_MAX_ISSUERS || !json_is_array(rv) ||
        json_array_size(rv) > KEYSYNC_MAX_REVOKED || !(json_is_null(riss) || str_ok(riss, 4096))) {
        *why = "\"issuers\", \"revoked\" or \"revoked_iss\" missing or too large";
        goto out;
    }
    if (json_array_size(iss) && !(k->iss = calloc(json_array_size(iss), sizeof(*k->iss)))) {
        r = -ENOMEM;
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(iss, i, v)
    {
        r = parse_issuer(v, &k->iss[k->n_iss++], why);
        if (r < 0)
            goto out;
        for (size_t j = 0; j + 1 < k->n_iss; j++)
            if (!strcmp(k->iss[j].name, k->iss[i].name)) {
                *why = "an issuer named twice";
                r = -EINVAL;
                goto out;
            }
    }
    r = -EINVAL;
    if (json_is_string(riss) && !(k->revoked_iss = strdup(json_string_value(riss)))) {
        r = -ENOMEM;
        goto out;
    }
    if (json_array_size(rv) && !(k->rv = calloc(json_array_size(rv), sizeof(*k->rv)))) {
        r = -ENOMEM;
        goto out;
    }
    json_array_foreach(rv, i, v)
    {
        const json_t *jti = json_array_get(v, 0), *exp = json_array_get(v, 1);
        if (!json_is_array(v) || json_array_size(v) != 2 || !str_ok(jti, KEYSYNC_MAX_JTI) ||
            !json_string_length(jti) || !json_is_integer(exp)) {
            *why = "a revoked entry is not [jti, exp]";
            goto out;
        }
        memcpy(k->rv[k->n_rv].jti, json_string_value(jti), json_string_length(jti) + 1);
        k->rv[k->n_rv++].exp = json_integer_value(exp);
    }
    if (k->n_rv)
        qsort(k->rv, k->n_rv, sizeof(*k->rv), jti_cmp);
    *out = k;
    k = NULL;
    *why = "ok";
    r = 0;
out:
    json_decref(doc);
    keysync_free(k);
    return r;
}

static const struct ks_issuer *find(const struct keysync *k, const struct issuer_conf *ic)
{
    for (size_t i = 0; i < k->n_iss; i++) {
        const struct ks_issuer *e = &k->iss[i];
        if (strcmp(e->name, ic->name) || e->local != ic->local)
            continue;
        if (!e->local && (!ic->jwks_uri || strcmp(e->jwks_uri, ic->jwks_uri)))
            continue;
        return e;
    }
    return NULL;
}

size_t keysync_apply(const struct keysync *k, struct gw_state *s, struct diags *d)
{
    size_t n = 0;
    bool changed = false;
    for (size_t i = 0; k && s && i < s->n_issuers; i++) {
        struct jwt_issuer *ji = &s->issuers[i];
        const struct issuer_conf *ic = ji->conf;
        if (!keysync_synced(ic))
            continue;
        const struct ks_issuer *e = find(k, ic);
        if (!e) { /* the daemon no longer vouches for keys it may have sent */
            if (ji->keys) {
                jwks_free(ji->keys);
                ji->keys = NULL;
                changed = true;
            }
            continue;
        }
        n++;
        if (!e->jwks && !ji->keys)
            continue; /* none before, none now */
        if (ji->keys && e->jwks && ji->keys->text_len == e->jwks_len &&
            !memcmp(ji->keys->text, e->jwks, e->jwks_len))
            continue; /* the same set */
        struct jwks *nk = NULL;
        if (e->jwks) {
            char label[CONFIG_NAME_MAX + 48];
            snprintf(label, sizeof(label), "key set of [issuer %s] from wotgw", ic->name);
            if (jwks_parse(label, e->jwks, e->jwks_len, ic->algorithms, &nk, d) < 0)
                nk = NULL;
        }
        jwks_free(ji->keys);
        ji->keys = nk;
        changed = true;
    }
    if (changed)
        credcache_flush(s->credcache); /* tokens verified with a key that may be gone */
    return n;
}

bool keysync_revoked(const struct keysync *k, const char *iss, const char *jti)
{
    if (!k || !k->n_rv || !k->revoked_iss || !iss || !jti || strcmp(iss, k->revoked_iss) ||
        strlen(jti) > KEYSYNC_MAX_JTI)
        return false;
    struct ks_jti key = {0};
    memcpy(key.jti, jti, strlen(jti) + 1);
    return bsearch(&key, k->rv, k->n_rv, sizeof(*k->rv), jti_cmp) != NULL;
}

size_t keysync_n_issuers(const struct keysync *k)
{
    return k ? k->n_iss : 0;
}

size_t keysync_n_revoked(const struct keysync *k)
{
    return k ? k->n_rv : 0;
}
