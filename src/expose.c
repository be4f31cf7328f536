/* expose.c - the exposed Thing Description; see expose.h.
 *
 * Built from an allowlist: only the terms named below are copied from the
 * device TD, every string copied is checked for the device's address
 * (authority of base and of every form href), and all forms, links,
 * security definitions and base are written by wotgw itself.
 *
 * North forms come from a table of bindings, one per north protocol; each
 * knows its routes and writes href, op and its protocol's terms. The
 * security, scopes and contentType of a form are common to all bindings.
 *
 * Cleanup style: goto to one exit.
 */
#define _GNU_SOURCE
#include "expose.h"
#include "cose_consumers.h"
#include "cose_sign.h"
#include "mqtt_topic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TD_CONTEXT_V1      "https://www.w3.org/2019/wot/td/v1"
#define TD_CONTEXT_V11     "https://www.w3.org/2022/wot/td/v1.1"
#define TD_CONTEXT_OLD     "http://www.w3.org/ns/td"
#define EXPOSE_MAX_NEEDLES 64
#define EXPOSE_MAX_COMBOS  64
#define EXPOSE_MAX_DEPTH   64    /* recursion of the address scrubber */
#define MQV_CONTEXT_PREFIX "mqv" /* the W3C WoT MQTT binding template */
#define MQV_CONTEXT_IRI    "https://www.w3.org/2019/wot/mqtt#"
#define COV_CONTEXT_PREFIX "cov" /* the W3C WoT CoAP binding template */
#define COV_CONTEXT_IRI    "http://www.example.org/coap-binding#"

struct needle {
    char *s;
    bool url_only; /* match only as "//s" (short host names) */
};

struct combo_name {
    const char *text; /* canonical expression text, borrowed from the policy */
    char *name;
};

struct expose_ctx {
    const struct config *conf;
    const struct thing_conf *tc;
    const struct td *td;
    const struct policy_thing *pt;
    struct diags *d;
    const char *file; /* for messages: the TD file */
    char *thing_seg;  /* percent-encoded thing name */
    const struct sec_expr *top;
    json_t *defs;
    struct combo_name combos[EXPOSE_MAX_COMBOS];
    size_t n_combos;
    struct needle needles[EXPOSE_MAX_NEEDLES];
    size_t n_needles;
    size_t n_scrubbed; /* values left out: they held a device address */
    size_t n_fixed;    /* terms left out: not TD 1.1 syntax */
    size_t n_forms;
};

/* ---- small helpers ------------------------------------------------------- */

char *expose_path_segment(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* json_object_set_new that reports failure (and never leaks v). */
static int set_new(json_t *obj, const char *key, json_t *v)
{
    if (!v)
        return -ENOMEM;
    return json_object_set_new(obj, key, v) < 0 ? -ENOMEM : 0;
}

static int append_new(json_t *arr, json_t *v)
{
    if (!v)
        return -ENOMEM;
    return json_array_append_new(arr, v) < 0 ? -ENOMEM : 0;
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v && v[i]; i++)
        if (append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* ---- device addresses ---------------------------------------------------- */

static int add_needle(struct expose_ctx *x, const char *s, size_t n, bool url_only)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < x->n_needles; i++)
        if (strlen(x->needles[i].s) == n && !memcmp(x->needles[i].s, s, n))
            return 0;
    if (x->n_needles == EXPOSE_MAX_NEEDLES)
        return 0; /* the forms themselves are never copied; this is defence in depth */
    char *c = strndup(s, n);
    if (!c)
        return -ENOMEM;
    x->needles[x->n_needles++] = (struct needle){.s = c, .url_only = url_only};
    return 0;
}

/* Adds the authority (and any userinfo) of an absolute URI. */
static int add_uri_needles(struct expose_ctx *x, const char *uri)
{
    if (!uri)
        return 0;
    const char *p = strstr(uri, "://");
    if (!p)
        return 0;
    p += 3;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n);
    int r;
    if (at) {
        if ((r = add_needle(x, p, (size_t)(at - p), false)) < 0)
            return r;
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    /* "localhost" alone would hit every description that says localhost;
     * a host with a port, a dot or a ':' (IPv6) is specific enough. */
    bool specific = memchr(p, '.', n) || memchr(p, ':', n);
    return add_needle(x, p, n, !specific || n < 4);
}

static int collect_needles(struct expose_ctx *x)
{
    const struct td *td = x->td;
    int r = add_uri_needles(x, td->base);
    for (size_t i = 0; r >= 0 && i < td->n_forms; i++)
        r = add_uri_needles(x, td->forms[i].href);
    for (size_t i = 0; r >= 0 && i < td->n_affs; i++)
        for (size_t k = 0; r >= 0 && k < td->affs[i].n_forms; k++)
            r = add_uri_needles(x, td->affs[i].forms[k].href);
    return r;
}

static bool leaks(const struct expose_ctx *x, const char *s)
{
    for (size_t i = 0; i < x->n_needles; i++) {
        const struct needle *nd = &x->needles[i];
        const char *hit = s;
        while ((hit = strstr(hit, nd->s))) {
            if (!nd->url_only || (hit - s >= 2 && hit[-1] == '/' && hit[-2] == '/'))
                return true;
            hit++;
        }
    }
    return false;
}

/* Removes every member / element of v that is (or whose key is) a string
 * containing a device address. */
static void scrub(struct expose_ctx *x, json_t *v, unsigned depth)
{
    if (depth > EXPOSE_MAX_DEPTH)
        return;
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        void *tmp;
        json_object_foreach_safe(v, tmp, k, m)
        {
            if (leaks(x, k) || (json_is_string(m) && leaks(x, json_string_value(m)))) {
                json_object_del(v, k);
                x->n_scrubbed++;
            } else {
                scrub(x, m, depth + 1);
            }
        }
    } else if (json_is_array(v)) {
        for (size_t i = json_array_size(v); i-- > 0;) {
            json_t *m = json_array_get(v, i);
            if (json_is_string(m) && leaks(x, json_string_value(m))) {
                json_array_remove(v, i);
                x->n_scrubbed++;
            } else {
                scrub(x, m, depth + 1);
            }
        }
    }
}

/* ---- @context -------------------------------------------------------------- */

static bool is_td_uri(const char *s)
{
    return !strcmp(s, TD_CONTEXT_V1) || !strcmp(s, TD_CONTEXT_V11) || !strcmp(s, TD_CONTEXT_OLD);
}

/* True when a consumer that can present only the leaf schemes in leaves
 * (bits 1u << enum sec_kind) can meet e: every part of an allOf, one of a
 * oneOf. What a north protocol decides its forms by. */
static bool sec_expr_met_if(const struct sec_expr *e, unsigned leaves,
                            bool (*leaf_ok)(const struct sec_expr *leaf, const struct config *c),
                            const struct config *c)
{
    switch (e->kind) {
    case SEC_ALLOF:
        for (size_t i = 0; i < e->n_subs; i++)
            if (!sec_expr_met_if(e->subs[i], leaves, leaf_ok, c))
                return false;
        return true;
    case SEC_ONEOF:
        for (size_t i = 0; i < e->n_subs; i++)
            if (sec_expr_met_if(e->subs[i], leaves, leaf_ok, c))
                return true;
        return false;
    default: return ((leaves >> e->kind) & 1u) && (!leaf_ok || leaf_ok(e, c));
    }
}

static bool sec_expr_met_by(const struct sec_expr *e, unsigned leaves)
{
    return sec_expr_met_if(e, leaves, NULL, NULL);
}

static bool mqtts_enabled(const struct config *conf);
static bool coaps_enabled(const struct config *conf);

/* Keeps the device's extra vocabularies in a form the TD 1.1 schema
 * accepts (URI strings, objects of string values) and adds ours. */
static json_t *make_context(struct expose_ctx *x, const json_t *dev)
{
    bool v1 = false;
    json_t *ctx = json_array(), *extras = json_array();
    if (!ctx || !extras)
        goto fail;
    if (json_is_string(dev)) {
        v1 = !strcmp(json_string_value(dev), TD_CONTEXT_V1);
    } else if (json_is_array(dev)) {
        size_t i;
        const json_t *e;
        json_array_foreach(dev, i, e)
        {
            if (json_is_string(e)) {
                const char *s = json_string_value(e);
                if (!strcmp(s, TD_CONTEXT_V1))
                    v1 = true;
                if (is_td_uri(s) || !*s)
                    continue;
                if (append_new(extras, json_string(s)) < 0)
                    goto fail;
            } else if (json_is_object(e)) {
                json_t *o = json_object();
                const char *k;
                const json_t *m;
                if (!o)
                    goto fail;
                json_object_foreach((json_t *)e, k, m)
                {
                    if (!json_is_string(m) || !strcmp(k, WOTGW_CONTEXT_PREFIX) ||
                        !strcmp(k, MQV_CONTEXT_PREFIX) ||
                        (coaps_enabled(x->conf) && !strcmp(k, COV_CONTEXT_PREFIX)))
                        continue;
                    if (set_new(o, k, json_string(json_string_value(m))) < 0) {
                        json_decref(o);
                        goto fail;
                    }
                }
                if (!json_object_size(o)) {
                    json_decref(o);
                    continue;
                }
                if (append_new(extras, o) < 0)
                    goto fail;
            }
        }
    }
    scrub(x, extras, 0);
    if (v1 && append_new(ctx, json_string(TD_CONTEXT_V1)) < 0)
        goto fail;
    if (append_new(ctx, json_string(TD_CONTEXT_V11)) < 0)
        goto fail;
    if (json_array_extend(ctx, extras) < 0)
        goto fail;
    json_t *ours = json_object();
    if (!ours || set_new(ours, WOTGW_CONTEXT_PREFIX, json_string(WOTGW_CONTEXT_IRI)) < 0 ||
        (mqtts_enabled(x->conf) &&
         set_new(ours, MQV_CONTEXT_PREFIX, json_string(MQV_CONTEXT_IRI)) < 0) ||
        (coaps_enabled(x->conf) &&
         set_new(ours, COV_CONTEXT_PREFIX, json_string(COV_CONTEXT_IRI)) < 0) ||
        append_new(ctx, ours) < 0) {
        json_decref(ours);
        goto fail;
    }
    json_decref(extras);
    return ctx;
fail:
    json_decref(ctx);
    json_decref(extras);
    return NULL;
}

/* ---- copied terms ------------------------------------------------------------
 * Device TDs are often older or looser than TD 1.1. Every term the TD 1.1
 * JSON Schema constrains is checked on the copy and left out when it does
 * not match, so that the exposed TD always validates. */

enum term_type {
    T_STRING,
    T_STRMAP,   /* object of strings (titles, descriptions) */
    T_TYPEDECL, /* string or array of strings, not "tm:ThingModel" */
    T_BOOL,
    T_NUMBER,
    T_UINT,   /* integer >= 0 */
    T_POSNUM, /* number > 0 */
    T_DSTYPE, /* a data schema "type" */
    T_ENUM,   /* non-empty array of distinct values */
    T_STRARRAY,
    T_DATETIME,
    T_VERSION,         /* {"instance": string} */
    T_SCHEMA,          /* a data schema */
    T_SCHEMA_ARRAY,    /* array of data schemas */
    T_SCHEMA_OR_ARRAY, /* "items" */
    T_SCHEMA_MAP,      /* object of data schemas (properties, schemaDefinitions) */
};

struct term_rule {
    const char *name;
    enum term_type type;
};

#define COMMON_TERMS                                                                               \
    {"@type", T_TYPEDECL}, {"title", T_STRING}, {"titles", T_STRMAP}, {"description", T_STRING},   \
    {                                                                                              \
        "descriptions", T_STRMAP                                                                   \
    }

static const struct term_rule schema_rules[] = {
        COMMON_TERMS,
        {"writeOnly", T_BOOL},
        {"readOnly", T_BOOL},
        {"oneOf", T_SCHEMA_ARRAY},
        {"unit", T_STRING},
        {"enum", T_ENUM},
        {"format", T_STRING},
        {"contentEncoding", T_STRING},
        {"contentMediaType", T_STRING},
        {"type", T_DSTYPE},
        {"items", T_SCHEMA_OR_ARRAY},
        {"maxItems", T_UINT},
        {"minItems", T_UINT},
        {"minimum", T_NUMBER},
        {"maximum", T_NUMBER},
        {"exclusiveMinimum", T_NUMBER},
        {"exclusiveMaximum", T_NUMBER},
        {"minLength", T_UINT},
        {"maxLength", T_UINT},
        {"multipleOf", T_POSNUM},
        {"properties", T_SCHEMA_MAP},
        {"required", T_STRARRAY},
        {"observable", T_BOOL}, /* property affordances only; harmless elsewhere */
        {NULL, T_STRING},
};

static const struct term_rule action_rules[] = {
        COMMON_TERMS,           {"input", T_SCHEMA},     {"output", T_SCHEMA}, {"safe", T_BOOL},
        {"idempotent", T_BOOL}, {"synchronous", T_BOOL}, {NULL, T_STRING},
};

static const struct term_rule event_rules[] = {
        COMMON_TERMS,
        {"subscription", T_SCHEMA},
        {"data", T_SCHEMA},
        {"dataResponse", T_SCHEMA},
        {"cancellation", T_SCHEMA},
        {NULL, T_STRING},
};

static const struct term_rule thing_rules[] = {
        {"id", T_STRING},         COMMON_TERMS,
        {"version", T_VERSION},   {"created", T_DATETIME},
        {"modified", T_DATETIME}, {"schemaDefinitions", T_SCHEMA_MAP},
        {NULL, T_STRING},
};

static bool all_strings(const json_t *v, bool array)
{
    size_t i;
    const char *k;
    const json_t *m;
    if (array) {
        json_array_foreach(v, i, m)
        {
            if (!json_is_string(m))
                return false;
        }
    } else {
        json_object_foreach((json_t *)v, k, m)
        {
            if (!json_is_string(m))
                return false;
        }
    }
    return true;
}

static bool is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static bool is_datetime(const char *s)
{
    if (strlen(s) < 20 || !is_digits(s, 4) || s[4] != '-' || !is_digits(s + 5, 2) || s[7] != '-' ||
        !is_digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !is_digits(s + 11, 2) ||
        s[13] != ':' || !is_digits(s + 14, 2) || s[16] != ':' || !is_digits(s + 17, 2))
        return false;
    int mo = atoi(s + 5), d = atoi(s + 8), h = atoi(s + 11), mi = atoi(s + 14), se = atoi(s + 17);
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0';
    return (*p == '+' || *p == '-') && is_digits(p + 1, 2) && p[3] == ':' && is_digits(p + 4, 2) &&
           p[6] == '\0' && atoi(p + 1) <= 23 && atoi(p + 4) <= 59;
}

/* A URI with a scheme (JSON Schema "uri" format, roughly). */
static bool is_uri(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return false;
    const char *p = s;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.')
        p++;
    if (*p != ':' || !p[1])
        return false;
    for (; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == '"' || *p == '<' || *p == '>' || *p == '\\' ||
            *p == '^' || *p == '`' || *p == '{' || *p == '|' || *p == '}' || *p == 0x7f)
            return false;
    return true;
}

static void sanitize(struct expose_ctx *x, json_t *obj, const struct term_rule *rules,
                     unsigned depth);

/* true: keep v (possibly trimmed); false: leave the term out. */
static bool term_fix(struct expose_ctx *x, json_t *v, enum term_type t, unsigned depth)
{
    size_t i;
    json_t *m;
    switch (t) {
    case T_STRING: return json_is_string(v);
    case T_STRMAP: return json_is_object(v) && all_strings(v, false);
    case T_TYPEDECL:
        if (json_is_string(v))
            return strcmp(json_string_value(v), "tm:ThingModel") != 0;
        if (!json_is_array(v) || !all_strings(v, true))
            return false;
        json_array_foreach(v, i, m)
        {
            if (!strcmp(json_string_value(m), "tm:ThingModel"))
                return false;
        }
        return true;
    case T_BOOL: return json_is_boolean(v);
    case T_NUMBER: return json_is_number(v);
    case T_UINT: return json_is_integer(v) && json_integer_value(v) >= 0;
    case T_POSNUM: return json_is_number(v) && json_number_value(v) > 0;
    case T_DSTYPE: {
        static const char *const types[] = {"boolean", "integer", "number", "string",
                                            "object",  "array",   "null"};
        if (!json_is_string(v))
            return false;
        for (i = 0; i < ARRAY_SIZE(types); i++)
            if (!strcmp(json_string_value(v), types[i]))
                return true;
        return false;
    }
    case T_ENUM: {
        size_t n = json_array_size(v);
        if (!json_is_array(v) || !n || n > 1024)
            return false;
        for (i = 0; i < n; i++)
            for (size_t k = 0; k < i; k++)
                if (json_equal(json_array_get(v, i), json_array_get(v, k)))
                    return false;
        return true;
    }
    case T_STRARRAY: return json_is_array(v) && all_strings(v, true);
    case T_DATETIME: return json_is_string(v) && is_datetime(json_string_value(v));
    case T_VERSION: return json_is_object(v) && json_is_string(json_object_get(v, "instance"));
    case T_SCHEMA:
        if (!json_is_object(v) || depth >= EXPOSE_MAX_DEPTH)
            return false;
        sanitize(x, v, schema_rules, depth + 1);
        return true;
    case T_SCHEMA_ARRAY:
        if (!json_is_array(v))
            return false;
        for (i = json_array_size(v); i-- > 0;) {
            if (!term_fix(x, json_array_get(v, i), T_SCHEMA, depth)) {
                json_array_remove(v, i);
                x->n_fixed++;
            }
        }
        return true;
    case T_SCHEMA_OR_ARRAY:
        if (json_is_object(v))
            return term_fix(x, v, T_SCHEMA, depth);
        return term_fix(x, v, T_SCHEMA_ARRAY, depth);
    case T_SCHEMA_MAP: {
        const char *k;
        void *tmp;
        if (!json_is_object(v))
            return false;
        json_object_foreach_safe(v, tmp, k, m)
        {
            if (!term_fix(x, m, T_SCHEMA, depth)) {
                json_object_del(v, k);
                x->n_fixed++;
            }
        }
        return true;
    }
    }
    return false;
}

/* Leaves out every term of obj that rules constrain and that does not fit. */
static void sanitize(struct expose_ctx *x, json_t *obj, const struct term_rule *rules,
                     unsigned depth)
{
    for (const struct term_rule *r = rules; r->name; r++) {
        json_t *v = json_object_get(obj, r->name);
        if (v && !term_fix(x, v, r->type, depth)) {
            json_object_del(obj, r->name);
            x->n_fixed++;
        }
    }
}

static int copy_terms(struct expose_ctx *x, json_t *root)
{
    const json_t *dev = x->td->json;
    for (const struct term_rule *t = thing_rules; t->name; t++) {
        if (!strcmp(t->name, "title"))
            continue; /* written by expose_td */
        const json_t *v = json_object_get(dev, t->name);
        if (!v)
            continue;
        json_t *c = json_deep_copy(v);
        if (!c)
            return -ENOMEM;
        bool leak = json_is_string(c) && leaks(x, json_string_value(c));
        if (leak)
            x->n_scrubbed++;
        else
            scrub(x, c, 0);
        bool ok = !leak && term_fix(x, c, t->type, 0);
        if (ok && !strcmp(t->name, "id"))
            ok = is_uri(json_string_value(c));
        if (ok && t->type == T_SCHEMA_MAP)
            ok = json_object_size(c) > 0;
        if (!ok && !leak)
            x->n_fixed++;
        if (!ok && !strcmp(t->name, "id")) {
            /* the device's own URL, or not a URI: a name of ours */
            json_decref(c);
            char *id = NULL;
            if (asprintf(&id, "urn:wotgw:thing:%s", x->thing_seg) < 0)
                return -ENOMEM;
            int r = set_new(root, "id", json_string(id));
            free(id);
            if (r < 0)
                return r;
            continue;
        }
        if (!ok) {
            json_decref(c);
            continue;
        }
        if (set_new(root, t->name, c) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* ---- security definitions ------------------------------------------------------ */

static const char *alg_name(unsigned algs)
{
    if (algs & JWT_ALG_ES256)
        return "ES256";
    if (algs & JWT_ALG_EDDSA)
        return "EdDSA";
    if (algs & JWT_ALG_RS256)
        return "RS256";
    return NULL;
}

/* The issuer a token leaf describes: the named one, or the only one. */
static const struct issuer_conf *leaf_issuer(const struct expose_ctx *x, const struct sec_expr *e)
{
    if (e->issuer)
        return config_find_issuer(x->conf, e->issuer);
    return x->conf->n_issuers == 1 ? &x->conf->issuers[0] : NULL;
}

static json_t *leaf_definition(struct expose_ctx *x, const struct sec_expr *e)
{
    json_t *o = json_object();
    const struct issuer_conf *ic;
    int r = 0;
    if (!o)
        return NULL;
    switch (e->kind) {
    case SEC_NOSEC: r = set_new(o, "scheme", json_string("nosec")); break;
    case SEC_BASIC:
        r = set_new(o, "scheme", json_string("basic"));
        if (!r)
            r = set_new(o, "in", json_string("header"));
        break;
    case SEC_APIKEY:
        r = set_new(o, "scheme", json_string("apikey"));
        if (!r)
            r = set_new(o, "in", json_string("header"));
        if (!r)
            r = set_new(o, "name",
                        json_string(x->conf->credentials.apikey_header
                                            ? x->conf->credentials.apikey_header
                                            : "X-API-Key"));
        break;
    case SEC_BEARER: {
        ic = leaf_issuer(x, e);
        unsigned algs = 0;
        if (ic)
            algs = ic->algorithms;
        else
            for (size_t i = 0; i < x->conf->n_issuers; i++)
                algs |= x->conf->issuers[i].algorithms;
        r = set_new(o, "scheme", json_string("bearer"));
        if (!r)
            r = set_new(o, "in", json_string("header"));
        if (!r)
            r = set_new(o, "format", json_string("jwt"));
        if (!r && alg_name(algs))
            r = set_new(o, "alg", json_string(alg_name(algs)));
        if (!r && ic && ic->authorization_url)
            r = set_new(o, "authorization", json_string(ic->authorization_url));
        break;
    }
    case SEC_OAUTH2:
        ic = leaf_issuer(x, e);
        r = set_new(o, "scheme", json_string("oauth2"));
        if (!r && ic && ic->flow) {
            const char *authz = !strcmp(ic->flow, "device") ? ic->device_authorization_url
                                                            : ic->authorization_url;
            r = set_new(o, "flow", json_string(ic->flow));
            if (!r && ic->token_url)
                r = set_new(o, "token", json_string(ic->token_url));
            if (!r && authz && strcmp(ic->flow, "client") != 0)
                r = set_new(o, "authorization", json_string(authz));
        }
        break;
    case SEC_PSK: r = set_new(o, "scheme", json_string("psk")); break;
    case SEC_CERT:
        r = set_new(o, "scheme", json_string(WOTGW_CONTEXT_PREFIX ":cert"));
        if (!r)
            r = set_new(o, "description",
                        json_string("TLS client certificate issued by the gateway's client "
                                    "CA"));
        break;
    case SEC_OSCORE:
        r = set_new(o, "scheme", json_string(WOTGW_CONTEXT_PREFIX ":OSCORESecurityScheme"));
        if (!r)
            r = set_new(o, "description",
                        json_string("OSCORE (RFC 8613) object security: requests "
                                    "protected with a security context provisioned on the "
                                    "gateway (AES-CCM-16-64-128, HKDF-SHA-256); forms marked "
                                    "wotgw:objectSecurity \"oscore\" require it. On CoAP(S) "
                                    "the protected request goes to the form's href; on HTTPS "
                                    "it is POSTed to the origin (https://HOST:PORT/) with "
                                    "the OSCORE header, the href's path inside it (RFC 8613 "
                                    "section 11)"));
        break;
    default: r = -EINVAL; break;
    }
    if (r < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The name of e's definition, adding it (and its parts) to x->defs.
 * NULL on ENOMEM or too many combos. */
static const char *def_name(struct expose_ctx *x, const struct sec_expr *e)
{
    if (e->kind != SEC_ALLOF && e->kind != SEC_ONEOF) {
        /* leaf: "<scheme>_sc" or "<scheme>_<issuer>_sc" */
        char name[128];
        if (e->issuer)
            snprintf(name, sizeof(name), "%s_%s_sc", sec_kind_name(e->kind), e->issuer);
        else
            snprintf(name, sizeof(name), "%s_sc", sec_kind_name(e->kind));
        if (!json_object_get(x->defs, name) && set_new(x->defs, name, leaf_definition(x, e)) < 0)
            return NULL;
        /* the key is owned by the object */
        void *it = json_object_iter_at(x->defs, name);
        return it ? json_object_iter_key(it) : NULL;
    }
    for (size_t i = 0; i < x->n_combos; i++)
        if (!strcmp(x->combos[i].text, e->text))
            return x->combos[i].name;
    if (x->n_combos == EXPOSE_MAX_COMBOS)
        return NULL;
    json_t *names = json_array(), *o = json_object();
    if (!names || !o)
        goto fail;
    for (size_t i = 0; i < e->n_subs; i++) {
        const char *n = def_name(x, e->subs[i]);
        if (!n || append_new(names, json_string(n)) < 0)
            goto fail;
    }
    char name[32];
    snprintf(name, sizeof(name), "combo%zu_sc", x->n_combos + 1);
    char *copy = strdup(name);
    if (!copy)
        goto fail;
    if (set_new(o, "scheme", json_string("combo")) < 0) {
        free(copy);
        goto fail;
    }
    int r = set_new(o, e->kind == SEC_ALLOF ? "allOf" : "oneOf", names); /* takes names */
    names = NULL;
    if (r < 0) {
        free(copy);
        goto fail;
    }
    if (set_new(x->defs, name, o) < 0) {
        free(copy);
        return NULL;
    }
    x->combos[x->n_combos++] = (struct combo_name){.text = e->text, .name = copy};
    return copy;
fail:
    json_decref(names);
    json_decref(o);
    return NULL;
}

/* ---- north bindings ------------------------------------------------------------ */

struct north_binding {
    const char *name;
    bool (*enabled)(const struct config *conf);
    /* Makes the form for op on aff (NULL: thing level): *form NULL when
     * the binding has no route for op. 0 or -ENOMEM. */
    int (*make_form)(const struct expose_ctx *x, const struct td_affordance *aff, enum wot_op op,
                     json_t **form);
    /* false when a consumer of this protocol cannot present the
     * credentials the expression asks for: the form is left out. */
    bool (*supports)(const struct config *c, const struct sec_expr *e);
    /* The leaf schemes (1u << enum sec_kind) a consumer of this protocol
     * can present, what supports() decides by. When it holds oscore, a
     * form whose expression cannot be met here without OSCORE is marked
     * "wotgw:objectSecurity": "oscore". */
    unsigned leaves;
    /* observe / subscribe can be protected with OSCORE here */
    bool oscore_streams;
};

#define SEC_ALL_LEAVES ((1u << SEC_ALLOF) - 1u) /* every leaf scheme */
#define SEC_OSCORE_BIT (1u << SEC_OSCORE)

struct https_route {
    enum wot_op op;
    const char *method;
    const char *suffix;   /* after the affordance segment */
    const char *subproto; /* NULL or "sse" */
};

static const struct https_route https_routes[] = {
        {WOT_OP_READPROPERTY, "GET", "", NULL},
        {WOT_OP_WRITEPROPERTY, "PUT", "", NULL},
        {WOT_OP_OBSERVEPROPERTY, "GET", "/observe", "sse"},
        {WOT_OP_INVOKEACTION, "POST", "", NULL},
        {WOT_OP_SUBSCRIBEEVENT, "GET", "", "sse"},
        {WOT_OP_READALLPROPERTIES, "GET", "", NULL},
};

static bool https_enabled(const struct config *conf)
{
    return conf->base_url && *conf->base_url;
}

/* Every scheme but psk (a DTLS credential): OSCORE too, over HTTP (RFC
 * 8613 section 11: the protected request is POSTed to the gateway's
 * origin, the form's path inside it), but not for observe and subscribe
 * (oscore_streams). */
#define HTTPS_LEAVES (SEC_ALL_LEAVES & ~(1u << SEC_PSK))
static bool https_supports(const struct config *c, const struct sec_expr *e)
{
    return sec_expr_met_by(e, HTTPS_LEAVES);
}
/* What the request to a device's own OSCORE endpoint can carry: the
 * gateway's OSCORE is not one of them (the message is the device's). */
static bool https_plain_supports(const struct sec_expr *e)
{
    return sec_expr_met_by(e, HTTPS_LEAVES & ~SEC_OSCORE_BIT);
}

static const char *kind_collection(enum wot_aff_kind k)
{
    switch (k) {
    case AFF_PROPERTY: return "properties";
    case AFF_ACTION: return "actions";
    case AFF_EVENT: return "events";
    default: return "properties"; /* readallproperties */
    }
}

static int https_make_form(const struct expose_ctx *x, const struct td_affordance *aff,
                           enum wot_op op, json_t **form)
{
    const struct https_route *rt = NULL;
    *form = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(https_routes); i++)
        if (https_routes[i].op == op)
            rt = &https_routes[i];
    if (!rt)
        return 0;
    char *seg = aff ? expose_path_segment(aff->name) : NULL;
    if (aff && !seg)
        return -ENOMEM;
    char *href = NULL;
    const char *base = x->conf->base_url;
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    int n = asprintf(&href, "%.*s/things/%s/%s%s%s%s", (int)bl, base, x->thing_seg,
                     kind_collection(aff ? aff->kind : AFF_THING), seg ? "/" : "", seg ? seg : "",
                     rt->suffix);
    free(seg);
    if (n < 0)
        return -ENOMEM;
    json_t *f = json_object();
    int r = f ? 0 : -ENOMEM;
    if (!r)
        r = set_new(f, "href", json_string(href));
    free(href);
    if (!r)
        r = set_new(f, "op", json_string(wot_op_name(op)));
    if (!r)
        r = set_new(f, "htv:methodName", json_string(rt->method));
    if (!r && rt->subproto)
        r = set_new(f, "subprotocol", json_string(rt->subproto));
    if (r < 0) {
        json_decref(f);
        return r;
    }
    *form = f;
    return 0;
}

/* MQTTS: the mosquitto broker with wotgw's plugin (src/mosquitto/), topics
 * as in mqtt_topic.h, terms of the W3C WoT MQTT binding template ("mqv:").
 * href is the broker URL with the topic (or filter) as its path: node-wot's
 * MQTT client takes the topic from there; mqv:topic / mqv:filter say the
 * same for consumers of the current binding template. */
struct mqtts_route {
    enum wot_op op;
    enum mqtt_topic_kind kind;
    bool all;           /* a filter over every affordance of the kind ("+") */
    const char *packet; /* mqv:controlPacket */
};

static const struct mqtts_route mqtts_routes[] = {
        {WOT_OP_READPROPERTY, MQTT_TOPIC_PROPERTY, false, "subscribe"},
        {WOT_OP_OBSERVEPROPERTY, MQTT_TOPIC_PROPERTY, false, "subscribe"},
        {WOT_OP_UNOBSERVEPROPERTY, MQTT_TOPIC_PROPERTY, false, "unsubscribe"},
        {WOT_OP_WRITEPROPERTY, MQTT_TOPIC_PROPERTY_SET, false, "publish"},
        {WOT_OP_INVOKEACTION, MQTT_TOPIC_ACTION, false, "publish"},
        {WOT_OP_SUBSCRIBEEVENT, MQTT_TOPIC_EVENT, false, "subscribe"},
        {WOT_OP_UNSUBSCRIBEEVENT, MQTT_TOPIC_EVENT, false, "unsubscribe"},
        {WOT_OP_OBSERVEALLPROPERTIES, MQTT_TOPIC_PROPERTY, true, "subscribe"},
        {WOT_OP_UNOBSERVEALLPROPERTIES, MQTT_TOPIC_PROPERTY, true, "unsubscribe"},
        {WOT_OP_SUBSCRIBEALLEVENTS, MQTT_TOPIC_EVENT, true, "subscribe"},
        {WOT_OP_UNSUBSCRIBEALLEVENTS, MQTT_TOPIC_EVENT, true, "unsubscribe"},
};

static bool mqtts_enabled(const struct config *conf)
{
    return conf->mqtt.enabled && conf->mqtt.broker_url && conf->mqtt.topic_prefix;
}

/* MQTT consumers present a user name and password (basic, or a JWT as the
 * password for bearer/oauth2) and a client certificate; the broker
 * requires every client to authenticate, so nosec is not offered, and
 * neither are apikey (an HTTP header), psk (DTLS) and oscore (CoAP). */
#define MQTTS_LEAVES                                                                               \
    ((1u << SEC_BASIC) | (1u << SEC_BEARER) | (1u << SEC_OAUTH2) | (1u << SEC_CERT))
/* A bearer / oauth2 token over MQTT: the plugin verifies it inside the
 * broker, with keys (auth/keysync.h), so an issuer known only by
 * introspection cannot be met there; without an issuer named, one of the
 * others must exist. */
static bool mqtts_token_ok(const struct sec_expr *leaf, const struct config *c)
{
    if (leaf->kind != SEC_BEARER && leaf->kind != SEC_OAUTH2)
        return true;
    if (leaf->issuer) {
        const struct issuer_conf *ic = config_find_issuer(c, leaf->issuer);
        return ic && !ic->introspection_url;
    }
    for (size_t i = 0; i < c->n_issuers; i++)
        if (!c->issuers[i].introspection_url)
            return true;
    return false;
}

static bool mqtts_supports(const struct config *c, const struct sec_expr *e)
{
    return sec_expr_met_if(e, MQTTS_LEAVES, mqtts_token_ok, c);
}

static int mqtts_make_form(const struct expose_ctx *x, const struct td_affordance *aff,
                           enum wot_op op, json_t **form)
{
    const struct mqtts_route *rt = NULL;
    *form = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(mqtts_routes); i++)
        if (mqtts_routes[i].op == op)
            rt = &mqtts_routes[i];
    if (!rt || (!rt->all && !aff) || (rt->all && aff))
        return 0;
    char topic[MQTT_TOPIC_MAX + 1];
    int n = mqtt_topic_format(x->conf->mqtt.topic_prefix, rt->kind, x->tc->name,
                              rt->all ? NULL : aff->name, NULL, topic, sizeof(topic));
    if (n == -ENAMETOOLONG)
        return 0; /* a name too long for a topic: no MQTT form */
    if (n < 0)
        return n;
    char *href = NULL;
    if (asprintf(&href, "%s/%s", x->conf->mqtt.broker_url, topic) < 0)
        return -ENOMEM;
    bool publish = !strcmp(rt->packet, "publish");
    json_t *f = json_object();
    int r = f ? 0 : -ENOMEM;
    if (!r)
        r = set_new(f, "href", json_string(href));
    free(href);
    if (!r)
        r = set_new(f, "op", json_string(wot_op_name(op)));
    if (!r)
        r = set_new(f, "mqv:controlPacket", json_string(rt->packet));
    if (!r)
        r = set_new(f, publish ? "mqv:topic" : "mqv:filter", json_string(topic));
    /* commands are QoS 1 end to end; a read is the retained value */
    if (!r && strcmp(rt->packet, "unsubscribe"))
        r = set_new(f, "mqv:qos", json_string("1"));
    if (!r && (publish || op == WOT_OP_READPROPERTY))
        r = set_new(f, "mqv:retain", json_boolean(op == WOT_OP_READPROPERTY));
    if (r < 0) {
        json_decref(f);
        return r;
    }
    *form = f;
    return 0;
}

/* [thing] cose_commands / cose_encrypt_to on the MQTT forms of one forms
 * array (cose_consumers.h): publish forms say that the command must be a
 * COSE_Sign1 or COSE_Mac0 by the consumer; each subscribe / unsubscribe
 * form becomes one form for each principal the thing encrypts to, on that
 * principal's topic (.../cose/PRINCIPAL), with the kid of its key (cc:
 * the keys file when this process may read it, else NULL: no kid). */
static int mqtts_cose_list(const struct thing_conf *tc, const struct cose_consumers *cc,
                           json_t *forms)
{
    for (size_t i = 0; i < json_array_size(forms); i++) {
        json_t *f = json_array_get(forms, i);
        const char *pkt = json_string_value(json_object_get(f, "mqv:controlPacket"));
        const char *filter = json_string_value(json_object_get(f, "mqv:filter"));
        const char *href = json_string_value(json_object_get(f, "href"));
        if (!pkt)
            continue;
        if (!strcmp(pkt, "publish")) {
            if (tc->cose_commands &&
                (set_new(f, "contentType", json_string("application/cose")) < 0 ||
                 set_new(f, "wotgw:objectSecurity", json_string("cose-sign1-or-mac0-required")) <
                         0))
                return -ENOMEM;
            continue;
        }
        if (!tc->cose_encrypt_to || !filter || !href)
            continue;
        bool sub = !strcmp(pkt, "subscribe");
        size_t n = 0; /* forms added after f */
        for (char *const *p = tc->cose_encrypt_to; *p; p++) {
            char lvl[MQTT_TOPIC_MAX + 1], kid[2 * COSE_KEY_MAX_KID + 1];
            char *t = NULL, *h = NULL;
            if (mqtt_level_encode(*p, lvl, sizeof(lvl)) < 0)
                continue; /* no topic for it (mqtt.c logs it) */
            json_t *c = json_deep_copy(f);
            int r = c ? 0 : -ENOMEM;
            if (!r && asprintf(&t, "%s/cose/%s", filter, lvl) < 0) {
                t = NULL;
                r = -ENOMEM;
            }
            if (!r && asprintf(&h, "%s/cose/%s", href, lvl) < 0) {
                h = NULL;
                r = -ENOMEM;
            }
            if (!r)
                r = set_new(c, "href", json_string(h));
            if (!r)
                r = set_new(c, "mqv:filter", json_string(t));
            free(t);
            free(h);
            if (!r && sub)
                r = set_new(c, "contentType", json_string(COSE_ENCRYPT0_MEDIA));
            if (!r && sub)
                r = set_new(c, "wotgw:objectSecurity", json_string("cose-encrypt0"));
            if (!r && sub)
                r = set_new(c, "wotgw:coseRecipient", json_string(*p));
            const struct cose_key *k = cose_consumers_enc_key(cc, *p);
            if (!r && sub && k) {
                hex_encode(k->kid, k->kid_len, kid);
                r = set_new(c, "wotgw:coseKid", json_string(kid));
            }
            if (r) {
                json_decref(c);
                return r;
            }
            if (json_array_insert_new(forms, i + 1 + n, c) < 0)
                return -ENOMEM;
            n++;
        }
        /* nothing in plain text on the plain topic: its form goes; the
         * loop goes on after the n new ones (i wraps to -1 and back when
         * none was added to forms[0]) */
        if (json_array_remove(forms, i) < 0)
            return -ENOMEM;
        i = i + n - 1;
    }
    return 0;
}

static int mqtts_cose_forms(const struct expose_ctx *x, json_t *root)
{
    static const char *const kinds[] = {"properties", "actions", "events"};
    const struct thing_conf *tc = x->tc;
    if (!mqtts_enabled(x->conf) || (!tc->cose_commands && !tc->cose_encrypt_to))
        return 0;
    struct cose_consumers *cc = NULL;
    if (tc->cose_encrypt_to && x->conf->credentials.cose_keys) {
        /* a process that may not read the file (the broker plugin) or a
         * broken file (the MQTT front end refuses it): no kids */
        struct diags tmp = {0};
        cose_consumers_load(x->conf->credentials.cose_keys, &cc, &tmp);
        diag_free(&tmp);
    }
    int r = 0;
    for (size_t k = 0; !r && k < ARRAY_SIZE(kinds); k++) {
        const char *name;
        json_t *aff;
        json_object_foreach(json_object_get(root, kinds[k]), name, aff)
        {
            if ((r = mqtts_cose_list(tc, cc, json_object_get(aff, "forms"))) < 0)
                break;
        }
    }
    if (!r)
        r = mqtts_cose_list(tc, cc, json_object_get(root, "forms"));
    cose_consumers_free(cc);
    return r;
}

/* CoAPS (north/coaps.h): DTLS with PSK or a client certificate, the same
 * paths as HTTPS under [coaps] url, terms of the W3C WoT CoAP binding
 * template ("cov:"). Observing a property or an event is a GET with the
 * Observe option (RFC 7641) on the property's or event's own path:
 * subprotocol "cov:observe". */
struct coaps_route {
    enum wot_op op;
    const char *method; /* cov:method */
    bool observe;
};

static const struct coaps_route coaps_routes[] = {
        {WOT_OP_READPROPERTY, "GET", false},   {WOT_OP_WRITEPROPERTY, "PUT", false},
        {WOT_OP_INVOKEACTION, "POST", false},  {WOT_OP_READALLPROPERTIES, "GET", false},
        {WOT_OP_OBSERVEPROPERTY, "GET", true}, {WOT_OP_SUBSCRIBEEVENT, "GET", true},
};

static bool coaps_enabled(const struct config *conf)
{
    return conf->coaps.enabled && conf->coaps.url;
}

/* A CoAPS consumer presents a PSK identity or a client certificate in
 * the DTLS handshake, and may protect the request with OSCORE inside it;
 * nosec is served to any consumer that completed a handshake. */
#define COAPS_LEAVES ((1u << SEC_NOSEC) | (1u << SEC_PSK) | (1u << SEC_CERT) | SEC_OSCORE_BIT)
static bool coaps_supports(const struct config *c, const struct sec_expr *e)
{
    return sec_expr_met_by(e, COAPS_LEAVES);
}

static int coap_form(const struct expose_ctx *x, const char *base, const struct td_affordance *aff,
                     enum wot_op op, json_t **form);

static int coaps_make_form(const struct expose_ctx *x, const struct td_affordance *aff,
                           enum wot_op op, json_t **form)
{
    return coap_form(x, x->conf->coaps.url, aff, op, form);
}

/* Plain CoAP ([coaps] coap_listen): the same routes, for nosec forms and
 * forms an OSCORE-protected request meets. */
static bool coap_enabled(const struct config *conf)
{
    return conf->coaps.enabled && conf->coaps.coap_url;
}

#define COAP_LEAVES ((1u << SEC_NOSEC) | SEC_OSCORE_BIT)
static bool coap_supports(const struct config *c, const struct sec_expr *e)
{
    return sec_expr_met_by(e, COAP_LEAVES);
}

static int coap_make_form(const struct expose_ctx *x, const struct td_affordance *aff,
                          enum wot_op op, json_t **form)
{
    return coap_form(x, x->conf->coaps.coap_url, aff, op, form);
}

static int coap_form(const struct expose_ctx *x, const char *base, const struct td_affordance *aff,
                     enum wot_op op, json_t **form)
{
    const struct coaps_route *rt = NULL;
    *form = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(coaps_routes); i++)
        if (coaps_routes[i].op == op)
            rt = &coaps_routes[i];
    if (!rt)
        return 0;
    char *seg = aff ? expose_path_segment(aff->name) : NULL;
    if (aff && !seg)
        return -ENOMEM;
    char *href = NULL;
    int n = asprintf(&href, "%s/things/%s/%s%s%s", base, x->thing_seg,
                     kind_collection(aff ? aff->kind : AFF_THING), seg ? "/" : "", seg ? seg : "");
    free(seg);
    if (n < 0)
        return -ENOMEM;
    json_t *f = json_object();
    int r = f ? 0 : -ENOMEM;
    if (!r)
        r = set_new(f, "href", json_string(href));
    free(href);
    if (!r)
        r = set_new(f, "op", json_string(wot_op_name(op)));
    if (!r)
        r = set_new(f, "cov:method", json_string(rt->method));
    if (!r && rt->observe)
        r = set_new(f, "subprotocol", json_string("cov:observe"));
    if (r < 0) {
        json_decref(f);
        return r;
    }
    *form = f;
    return 0;
}

/* One entry per north protocol. */
static const struct north_binding north_bindings[] = {
        {"https", https_enabled, https_make_form, https_supports, HTTPS_LEAVES, false},
        {"mqtts", mqtts_enabled, mqtts_make_form, mqtts_supports, MQTTS_LEAVES, false},
        {"coaps", coaps_enabled, coaps_make_form, coaps_supports, COAPS_LEAVES, true},
        {"coap", coap_enabled, coap_make_form, coap_supports, COAP_LEAVES, true},
};

/* True when a request on nb must be protected with OSCORE to meet e (it
 * can be met there with OSCORE, and not without). */
static bool needs_oscore(const struct north_binding *nb, const struct sec_expr *e)
{
    return (nb->leaves & SEC_OSCORE_BIT) && sec_expr_met_by(e, nb->leaves) &&
           !sec_expr_met_by(e, nb->leaves & ~SEC_OSCORE_BIT);
}

/* ---- forms ---------------------------------------------------------------------- */

static bool same_expr(const struct sec_expr *a, const struct sec_expr *b)
{
    return a && b && !strcmp(a->text, b->text);
}

/* ---- OSCORE passthrough (td.h: the device speaks OSCORE itself) ---------------------- */

#define OSCORE_DEVICE_SC "oscore_device_sc"

/* The definition of end-to-end OSCORE with the device. */
static int oscore_device_def(struct expose_ctx *x)
{
    if (json_object_get(x->defs, OSCORE_DEVICE_SC))
        return 0;
    json_t *o = json_object();
    int r = o ? set_new(o, "scheme", json_string(WOTGW_CONTEXT_PREFIX ":OSCORESecurityScheme"))
              : -ENOMEM;
    if (!r)
        r = set_new(o, "description",
                    json_string("OSCORE (RFC 8613) end to end with the device: the security "
                                "context is the device's own, not the gateway's; the gateway "
                                "forwards the protected messages unchanged (RFC 8613 section "
                                "11.5). POST the protected request (Content-Type "
                                "application/oscore, an OSCORE header) to the part of the "
                                "form's href before \"/oscore/\" followed by \"/oscore\"; the "
                                "rest of the href's path is the inner Uri-Path"));
    if (r < 0) {
        json_decref(o);
        return r;
    }
    return set_new(x->defs, OSCORE_DEVICE_SC, o);
}

/* Observe is not passed through (one request, one answer). */
static bool oscore_stream_op(enum wot_op op)
{
    switch (op) {
    case WOT_OP_OBSERVEPROPERTY:
    case WOT_OP_UNOBSERVEPROPERTY:
    case WOT_OP_SUBSCRIBEEVENT:
    case WOT_OP_UNSUBSCRIBEEVENT:
    case WOT_OP_OBSERVEALLPROPERTIES:
    case WOT_OP_UNOBSERVEALLPROPERTIES:
    case WOT_OP_SUBSCRIBEALLEVENTS:
    case WOT_OP_UNSUBSCRIBEALLEVENTS: return true;
    default: return false;
    }
}

/* One HTTPS form per passthrough form of the device on aff (NULL: thing
 * level), with the operations of it the policy exposes (not observe nor
 * subscribe: Observe is not passed through): href
 * BASE/things/ID/oscore/DEVICE-PATH, the device's contentType,
 * "wotgw:objectSecurity": "oscore-passthrough", and as security the
 * gateway's expression and the device's OSCORE. */
static int add_oscore_forms(struct expose_ctx *x, const struct td_affordance *aff, json_t *forms)
{
    const struct td_form *dev = aff ? aff->forms : x->td->forms;
    size_t n = aff ? aff->n_forms : x->td->n_forms;
    if (!https_enabled(x->conf))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!dev[i].oscore)
            continue;
        json_t *ops = json_array();
        const struct sec_expr *sec = NULL;
        if (!ops)
            return -ENOMEM;
        for (int op = 0; op < WOT_OP__COUNT; op++) {
            struct policy_form pf;
            if (!(dev[i].ops & (1u << op)) || oscore_stream_op((enum wot_op)op))
                continue;
            policy_lookup(x->pt, aff ? aff->name : NULL, (enum wot_op)op, &pf);
            if (!pf.security || !https_plain_supports(pf.security))
                continue;
            if (!sec)
                sec = pf.security;
            if (append_new(ops, json_string(wot_op_name((enum wot_op)op))) < 0) {
                json_decref(ops);
                return -ENOMEM;
            }
        }
        if (!json_array_size(ops)) {
            json_decref(ops);
            continue;
        }
        /* the device path, without the leading '/', query and fragment */
        const char *p = strstr(dev[i].href, "://");
        p = p ? p + 3 + strcspn(p + 3, "/?#") : dev[i].href;
        if (*p == '/')
            p++;
        size_t pl = strcspn(p, "?#{");
        const char *base = x->conf->base_url;
        size_t bl = strlen(base);
        while (bl && base[bl - 1] == '/')
            bl--;
        char *href = NULL;
        if (asprintf(&href, "%.*s/things/%s/oscore/%.*s", (int)bl, base, x->thing_seg, (int)pl, p) <
            0) {
            json_decref(ops);
            return -ENOMEM;
        }
        const char *name = def_name(x, sec);
        json_t *f = json_object();
        int r = f && name ? 0 : -ENOMEM;
        if (!r)
            r = set_new(f, "href", json_string(href));
        free(href);
        if (!r)
            r = set_new(f, "op",
                        json_array_size(ops) == 1 ? json_incref(json_array_get(ops, 0))
                                                  : json_incref(ops));
        if (!r)
            r = set_new(f, "htv:methodName", json_string("POST"));
        if (!r)
            r = set_new(f, "contentType",
                        json_string(dev[i].content_type ? dev[i].content_type
                                                        : TD_DEFAULT_CONTENT_TYPE));
        if (!r)
            r = oscore_device_def(x);
        if (!r)
            r = set_new(f, "security", json_pack("[ss]", name, OSCORE_DEVICE_SC));
        if (!r && (sec_expr_schemes(sec) & ((1u << SEC_BEARER) | (1u << SEC_OAUTH2)))) {
            struct policy_form pf;
            json_t *first = json_array_get(ops, 0);
            policy_lookup(x->pt, aff ? aff->name : NULL, wot_op_from_name(json_string_value(first)),
                          &pf);
            r = set_new(f, "scopes", strv_json(pf.scopes));
        }
        if (!r)
            r = set_new(f, WOTGW_CONTEXT_PREFIX ":objectSecurity",
                        json_string("oscore-passthrough"));
        json_decref(ops);
        if (!r)
            r = append_new(forms, f);
        else
            json_decref(f);
        if (r < 0)
            return r;
        x->n_forms++;
    }
    return 0;
}

/* Adds the forms of aff (NULL: thing) to forms. */
static int add_forms(struct expose_ctx *x, const struct td_affordance *aff, json_t *forms)
{
    uint32_t ops = td_ops(x->td, aff);
    for (int op = 0; op < WOT_OP__COUNT; op++) {
        if (!(ops & (1u << op)))
            continue;
        struct policy_form pf;
        policy_lookup(x->pt, aff ? aff->name : NULL, (enum wot_op)op, &pf);
        if (!pf.security)
            continue;
        const struct td_form *dev = td_find_form(x->td, aff, (enum wot_op)op, -1);
        if (!dev && td_find_oscore_form(x->td, aff, op))
            continue; /* OSCORE end to end only: add_oscore_forms */
        for (size_t b = 0; b < ARRAY_SIZE(north_bindings); b++) {
            const struct north_binding *nb = &north_bindings[b];
            json_t *f = NULL;
            if (!nb->enabled(x->conf) || !nb->supports(x->conf, pf.security))
                continue;
            if (!nb->oscore_streams && needs_oscore(nb, pf.security) &&
                oscore_stream_op((enum wot_op)op))
                continue;
            int r = nb->make_form(x, aff, (enum wot_op)op, &f);
            if (r < 0)
                return r;
            if (!f)
                continue;
            const char *ct = dev && dev->content_type ? dev->content_type : TD_DEFAULT_CONTENT_TYPE;
            r = set_new(f, "contentType", json_string(ct));
            if (!r && !same_expr(pf.security, x->top)) {
                const char *name = def_name(x, pf.security);
                r = name ? set_new(f, "security", json_string(name)) : -ENOMEM;
            }
            if (!r && (sec_expr_schemes(pf.security) & ((1u << SEC_BEARER) | (1u << SEC_OAUTH2))))
                r = set_new(f, "scopes", strv_json(pf.scopes));
            if (!r && needs_oscore(nb, pf.security))
                r = set_new(f, WOTGW_CONTEXT_PREFIX ":objectSecurity", json_string("oscore"));
            if (!r)
                r = append_new(forms, f);
            else
                json_decref(f);
            if (r < 0)
                return r;
            x->n_forms++;
        }
    }
    return add_oscore_forms(x, aff, forms);
}

/* The thing-wide expression, else the one most forms use. */
static const struct sec_expr *pick_top(const struct expose_ctx *x)
{
    const struct sec_expr *top = policy_thing_security(x->pt);
    if (top)
        return top;
    const struct sec_expr *seen[256];
    size_t count[256] = {0}, n = 0, best = 0;
    for (size_t i = 0; i <= x->td->n_affs; i++) {
        const struct td_affordance *a = i < x->td->n_affs ? &x->td->affs[i] : NULL;
        uint32_t ops = td_ops(x->td, a);
        for (int op = 0; op < WOT_OP__COUNT; op++) {
            struct policy_form pf;
            if (!(ops & (1u << op)))
                continue;
            policy_lookup(x->pt, a ? a->name : NULL, (enum wot_op)op, &pf);
            if (!pf.security)
                continue;
            size_t k = 0;
            while (k < n && !same_expr(seen[k], pf.security))
                k++;
            if (k == n) {
                if (n == ARRAY_SIZE(seen))
                    continue;
                seen[n++] = pf.security;
            }
            count[k]++;
            if (!top || count[k] > count[best]) {
                best = k;
                top = seen[k];
            }
        }
    }
    return top;
}

static int add_affordances(struct expose_ctx *x, json_t *root)
{
    static const char *const kinds[] = {"properties", "actions", "events"};
    static const enum wot_aff_kind kind_of[] = {AFF_PROPERTY, AFF_ACTION, AFF_EVENT};
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        json_t *coll = json_object();
        if (!coll)
            return -ENOMEM;
        for (size_t i = 0; i < x->td->n_affs; i++) {
            const struct td_affordance *a = &x->td->affs[i];
            if (a->kind != kind_of[k])
                continue;
            json_t *forms = json_array(), *o = json_object();
            int r = forms && o ? add_forms(x, a, forms) : -ENOMEM;
            if (r < 0 || !json_array_size(forms)) {
                json_decref(forms);
                json_decref(o);
                if (r < 0) {
                    json_decref(coll);
                    return r;
                }
                continue; /* nothing exposed: the affordance is left out */
            }
            const char *key;
            const json_t *m;
            json_object_foreach(a->json, key, m)
            {
                if (!strcmp(key, "forms") || !strcmp(key, "uriVariables") ||
                    !strcmp(key, "security") || !strcmp(key, "scopes"))
                    continue;
                if (!r)
                    r = set_new(o, key, json_deep_copy(m));
            }
            if (!r) {
                scrub(x, o, 0);
                sanitize(x, o,
                         a->kind == AFF_PROPERTY ? schema_rules
                         : a->kind == AFF_ACTION ? action_rules
                                                 : event_rules,
                         0);
                r = set_new(o, "forms", forms);
                forms = NULL;
            }
            if (!r)
                r = set_new(coll, a->name, o);
            else
                json_decref(o);
            json_decref(forms);
            if (r < 0) {
                json_decref(coll);
                return r;
            }
        }
        if (json_object_size(coll) && set_new(root, kinds[k], coll) < 0)
            return -ENOMEM;
        if (!json_object_size(coll))
            json_decref(coll);
    }
    return 0;
}

static void ctx_free(struct expose_ctx *x)
{
    for (size_t i = 0; i < x->n_needles; i++)
        free(x->needles[i].s);
    for (size_t i = 0; i < x->n_combos; i++)
        free(x->combos[i].name);
    free(x->thing_seg);
    json_decref(x->defs);
}

int expose_td(const struct config *conf, const struct thing_conf *tc, const struct td *td,
              const struct policy_thing *pt, json_t **out, struct diags *d)
{
    struct expose_ctx x = {
            .conf = conf,
            .tc = tc,
            .td = td,
            .pt = pt,
            .d = d,
            .file = td->path ? td->path : tc->td,
    };
    json_t *root = NULL, *forms = NULL;
    int r = -ENOMEM;
    *out = NULL;
    x.thing_seg = expose_path_segment(tc->name);
    x.defs = json_object();
    root = json_object();
    forms = json_array();
    if (!x.thing_seg || !x.defs || !root || !forms)
        goto done;
    if ((r = collect_needles(&x)) < 0)
        goto done;
    x.top = pick_top(&x);
    if (!x.top) {
        diag_add(d, conf->path, tc->line,
                 "[thing %s]: nothing exposed: no operation the device offers has a "
                 "security key",
                 tc->name);
        r = -EINVAL;
        goto done;
    }

    /* the top-level definition first: it gets the first combo name */
    const char *top_name = def_name(&x, x.top);
    r = -ENOMEM;
    if (!top_name)
        goto done;
    if (set_new(root, "@context", make_context(&x, json_object_get(td->json, "@context"))) < 0)
        goto done;
    const json_t *title = json_object_get(td->json, "title");
    if (set_new(root, "title",
                json_string(json_is_string(title) ? json_string_value(title) : tc->name)) < 0)
        goto done;
    if (leaks(&x, json_string_value(json_object_get(root, "title")))) {
        x.n_scrubbed++;
        if (set_new(root, "title", json_string(tc->name)) < 0)
            goto done;
    }
    if ((r = copy_terms(&x, root)) < 0)
        goto done;
    /* placeholders, filled once the forms are known, keep the term order */
    if ((r = set_new(root, "securityDefinitions", json_object())) < 0 ||
        (r = set_new(root, "security", json_null())) < 0)
        goto done;
    if ((r = add_affordances(&x, root)) < 0)
        goto done;
    if ((r = add_forms(&x, NULL, forms)) < 0)
        goto done;
    if (json_array_size(forms)) {
        r = set_new(root, "forms", forms);
        forms = NULL;
        if (r < 0)
            goto done;
    }
    if (!x.n_forms) {
        diag_add(d, conf->path, tc->line,
                 "[thing %s]: nothing exposed: no north protocol has a route for the "
                 "operations the policy allows",
                 tc->name);
        r = -EINVAL;
        goto done;
    }
    r = -ENOMEM;
    if (set_new(root, "security", json_string(top_name)) < 0)
        goto done;
    r = set_new(root, "securityDefinitions", x.defs);
    x.defs = NULL;
    if (r < 0)
        goto done;
    if (x.n_fixed)
        diag_warn(d, x.file, 0,
                  "exposed TD of '%s': %zu term(s) that are not TD 1.1 syntax left out", tc->name,
                  x.n_fixed);
    if (x.n_scrubbed)
        diag_warn(d, x.file, 0,
                  "exposed TD of '%s': %zu value(s) containing the device address left out",
                  tc->name, x.n_scrubbed);
    if ((r = mqtts_cose_forms(&x, root)) < 0)
        goto done;
    *out = root;
    root = NULL;
    r = 0;
done:
    if (r == -ENOMEM)
        diag_add(d, conf->path, tc->line, "[thing %s]: out of memory", tc->name);
    json_decref(forms);
    json_decref(root);
    ctx_free(&x);
    return r;
}

/* ---- COSE_Sign1 forms (cose_sign.h) ------------------------------------------------ */

/* The COSE variant of an HTTPS readproperty / invokeaction form. */
static json_t *cose_form(const json_t *f, bool read, const char *kid_hex)
{
    json_t *c = json_deep_copy(f);
    if (!c)
        return NULL;
    int r = read ? set_new(c, "contentType", json_string(COSE_SIGN1_MEDIA)) : 0;
    if (!r)
        r = set_new(c, "htv:headers",
                    json_pack("[{s:s, s:s}]", "htv:fieldName", "Accept", "htv:fieldValue",
                              COSE_SIGN1_MEDIA));
    if (!r)
        r = set_new(c, "response", json_pack("{s:s}", "contentType", COSE_SIGN1_MEDIA));
    if (!r)
        r = set_new(c, "wotgw:objectSecurity", json_string("cose-sign1"));
    if (!r)
        r = set_new(c, "wotgw:coseKid", json_string(kid_hex));
    if (r < 0) {
        json_decref(c);
        return NULL;
    }
    return c;
}

static int cose_forms(json_t *forms, const char *kid_hex)
{
    for (size_t i = 0; i < json_array_size(forms); i++) {
        json_t *f = json_array_get(forms, i);
        const char *op = json_string_value(json_object_get(f, "op"));
        const char *pkt = json_string_value(json_object_get(f, "mqv:controlPacket"));
        if (pkt && !strcmp(pkt, "subscribe")) {
            /* what wotgw publishes to the broker for the thing is signed
             * (encrypted instead with cose_encrypt_to: mqtts_cose_list) */
            if (json_object_get(f, "wotgw:objectSecurity"))
                continue;
            if (set_new(f, "contentType", json_string(COSE_SIGN1_MEDIA)) < 0 ||
                set_new(f, "wotgw:objectSecurity", json_string("cose-sign1")) < 0 ||
                set_new(f, "wotgw:coseKid", json_string(kid_hex)) < 0)
                return -ENOMEM;
            continue;
        }
        if (!op || !json_object_get(f, "htv:methodName") || json_object_get(f, "subprotocol") ||
            json_object_get(f, "wotgw:objectSecurity"))
            continue;
        bool read = !strcmp(op, "readproperty");
        if (!read && strcmp(op, "invokeaction"))
            continue;
        json_t *c = cose_form(f, read, kid_hex);
        if (!c || json_array_insert_new(forms, i + 1, c) < 0)
            return -ENOMEM;
        i++;
    }
    return 0;
}

int expose_cose(const struct config *conf, const struct thing_conf *tc, const struct cose_signer *s,
                json_t *exposed, struct diags *d)
{
    static const char *const kinds[] = {"properties", "actions", "events"};
    if (!s || !exposed)
        return 0;
    json_t *jwk = cose_signer_jwk(s);
    if (!jwk || set_new(exposed, "wotgw:coseKey", jwk) < 0)
        goto nomem;
    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        const char *name;
        json_t *aff;
        json_object_foreach(json_object_get(exposed, kinds[k]), name, aff)
        {
            if (cose_forms(json_object_get(aff, "forms"), s->kid_hex) < 0)
                goto nomem;
        }
    }
    if (cose_forms(json_object_get(exposed, "forms"), s->kid_hex) < 0)
        goto nomem;
    return 0;
nomem:
    diag_add(d, conf->path, tc->line, "[thing %s]: out of memory", tc->name);
    return -ENOMEM;
}
