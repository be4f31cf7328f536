/* as.c - the authorization server: setup, lifecycle, endpoint dispatch,
 * RFC 8414 metadata, the JWKS, the scope catalogue and shared helpers;
 * see as.h. Cleanup style: goto to one exit. */
#define _GNU_SOURCE
#include "as_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "../log.h"
#include "../policy.h"

const struct as_header as_security_headers[] = {
        {"Cache-Control", "no-store"},
        {"Pragma", "no-cache"},
        {"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                                    "frame-ancestors 'none'; base-uri 'none'"},
        {"X-Frame-Options", "DENY"},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"},
        {NULL, NULL},
};

/* ---- setup ------------------------------------------------------------------------ */

void as_setup_free(struct as_setup *s)
{
    if (!s)
        return;
    as_keys_free(s->keys);
    clients_free(s->clients);
    free(s);
}

static bool perm_error(int r)
{
    return r == -EACCES || r == -EPERM || r == -EROFS;
}

/* Moves the records of from into d, as warnings when warn. */
static void diags_move(struct diags *d, struct diags *from, bool warn)
{
    for (size_t i = 0; i < from->n; i++) {
        const struct diag *g = &from->v[i];
        if (warn || g->warning)
            diag_warn(d, g->file, g->line, "%s", g->msg);
        else
            diag_add(d, g->file, g->line, "%s", g->msg);
    }
    diag_free(from);
}

int as_setup_load(const struct config *conf, int64_t now, struct as_setup **out,
                  struct jwks **local_keys, struct diags *d)
{
    struct as_setup *s = calloc(1, sizeof(*s));
    struct diags tmp = {0};
    int r;
    *out = NULL;
    *local_keys = NULL;
    if (!s)
        return -ENOMEM;
    s->conf = conf;
    if (!conf->oauth.dir) {
        r = -EINVAL;
        goto fail;
    }
    /* A process that may not read the keys (the broker plugin, `wotgw -t`
     * as another user) still loads the rest: the "local" issuer then has
     * no key (its tokens are refused) and as_new() refuses to run. */
    r = as_keys_load(conf->oauth.dir, true, now, &s->keys, &tmp);
    diags_move(d, &tmp, perm_error(r));
    if (r < 0 && !perm_error(r))
        goto fail;
    r = clients_load(conf->oauth.clients, &s->clients, &tmp);
    diags_move(d, &tmp, perm_error(r));
    if (r < 0 && !perm_error(r))
        goto fail;
    if (s->keys) {
        r = as_keys_jwks(s->keys, local_keys, d);
        if (r < 0)
            goto fail;
    }
    *out = s;
    return 0;
fail:
    as_setup_free(s);
    return r;
}

/* ---- helpers ----------------------------------------------------------------------- */

const char *as_log_safe(const char *in, char *out, size_t cap)
{
    size_t k = 0;
    if (!cap)
        return "";
    for (const char *p = in ? in : ""; *p && k + 1 < cap; p++)
        out[k++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    out[k] = '\0';
    if (!k && cap > 1)
        snprintf(out, cap, "-");
    return out;
}

int as_random(char *out, size_t cap, size_t n)
{
    uint8_t raw[64];
    if (n > sizeof(raw) || b64url_encoded_len(n) + 1 > cap)
        return -ENOBUFS;
    if (RAND_bytes(raw, (int)n) != 1)
        return -EIO;
    b64url_encode(raw, n, out);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

const struct as_scope *as_scope_find(const struct as *as, const char *scope)
{
    for (size_t i = 0; i < as->n_scopes; i++)
        if (!strcmp(as->scopes[i].name, scope))
            return &as->scopes[i];
    return NULL;
}

bool as_scope_known(const struct as *as, const char *scope)
{
    return as_scope_find(as, scope) != NULL;
}

/* Is word (n bytes) one of the space-separated words of list? */
static bool word_in(const char *word, size_t n, const char *list)
{
    const char *p = list;
    while (p && *p) {
        size_t l = strcspn(p, " ");
        if (l == n && !strncmp(p, word, n))
            return true;
        p += l;
        p += strspn(p, " ");
    }
    return false;
}

bool as_scope_subset(const char *sub, const char *of)
{
    const char *p = sub;
    while (*p) {
        size_t l = strcspn(p, " ");
        if (l && !word_in(p, l, of))
            return false;
        p += l;
        p += strspn(p, " ");
    }
    return true;
}

int as_scope_resolve(const struct as *as, const struct as_client *c, const char *req, char **out,
                     const char **why)
{
    struct sbuf b = {.max = FORM_MAX_VALUE};
    size_t count = 0;
    *out = NULL;
    if (!req || !*req) {
        for (size_t i = 0; i < as->n_scopes && count < JWT_MAX_SCOPES; i++)
            if (client_scope_allowed(c, as->scopes[i].name)) {
                if (count++)
                    sb_puts(&b, " ");
                sb_puts(&b, as->scopes[i].name);
            }
        if (!count) {
            sb_free(&b);
            *why = "the client may not ask for any scope the exposed things use";
            return -EINVAL;
        }
    } else {
        const char *p = req;
        if (*p == ' ' || req[strlen(req) - 1] == ' ' || strstr(req, "  ")) {
            *why = "scope: separate the scopes with single spaces";
            return -EINVAL;
        }
        while (*p) {
            size_t l = strcspn(p, " ");
            char tok[CLIENT_SCOPE_MAX + 1];
            if (!clients_scope_token_ok(p, l)) {
                sb_free(&b);
                *why = "scope: not a valid scope token";
                return -EINVAL;
            }
            memcpy(tok, p, l);
            tok[l] = '\0';
            if (b.n && word_in(tok, l, b.p)) {
                sb_free(&b);
                *why = "scope: a scope is given twice";
                return -EINVAL;
            }
            if (++count > JWT_MAX_SCOPES) {
                sb_free(&b);
                *why = "scope: too many scopes";
                return -EINVAL;
            }
            if (!as_scope_known(as, tok)) {
                sb_free(&b);
                *why = "scope: unknown scope";
                return -EINVAL;
            }
            if (!client_scope_allowed(c, tok)) {
                sb_free(&b);
                *why = "scope: the client may not ask for this scope";
                return -EINVAL;
            }
            if (b.n)
                sb_puts(&b, " ");
            sb_puts(&b, tok);
            p += l;
            if (*p == ' ')
                p++;
        }
    }
    *out = sb_steal(&b, NULL);
    if (!*out) {
        *why = "scope: too long";
        return -ENOMEM;
    }
    return 0;
}

bool as_owner_allowed(const struct as *as, const char *user)
{
    const struct users *u = as->st->users;
    const struct user *us = u ? users_find(u, user) : NULL;
    if (!us)
        return false;
    for (char **w = as->oc->owners; w && *w; w++) {
        if (!strcmp(*w, "*"))
            return true;
        if (!strncmp(*w, "user:", 5) && !strcmp(*w + 5, user))
            return true;
        if (!strncmp(*w, "group:", 6) && user_in_group(us, *w + 6))
            return true;
    }
    return false;
}

int as_mint_access(struct as *as, const char *client, const char *sub, const char *scope,
                   int64_t now, char **tok, char jti[STORE_ID_MAX], int64_t *exp)
{
    int r = as_random(jti, STORE_ID_MAX, 16);
    if (r < 0)
        return r;
    *exp = now + (int64_t)as->oc->access_token_lifetime_s;
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "iss", as->oc->issuer,
                               "sub", sub, "aud", as->oc->audience, "exp", (json_int_t)*exp, "iat",
                               (json_int_t)now, "jti", jti, "scope", scope, "client_id", client);
    if (!claims)
        return -ENOMEM;
    r = as_keys_sign(as->setup->keys, claims, tok);
    json_decref(claims);
    return r;
}

char *as_url(const struct as *as, const char *path)
{
    char *u = NULL;
    if (asprintf(&u, "%s%s", as->oc->issuer, path) < 0)
        return NULL;
    return u;
}

int as_json(struct as_response *rs, int status, json_t *body)
{
    if (!body)
        return -ENOMEM;
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s)
        return -ENOMEM;
    free(rs->body);
    rs->status = status;
    rs->content_type = "application/json";
    rs->body = s;
    rs->body_len = strlen(s);
    return 0;
}

int as_error(struct as_response *rs, int status, const char *error, const char *desc)
{
    json_t *o = desc ? json_pack("{s:s, s:s}", "error", error, "error_description", desc)
                     : json_pack("{s:s}", "error", error);
    return as_json(rs, status, o);
}

int as_html(struct as_response *rs, int status, struct sbuf *page)
{
    size_t n = 0;
    char *s = sb_steal(page, &n);
    if (!s)
        return -ENOMEM;
    free(rs->body);
    rs->status = status;
    rs->content_type = "text/html; charset=utf-8";
    rs->body = s;
    rs->body_len = n;
    return 0;
}

int as_redirect(struct as_response *rs, char *location)
{
    if (!location)
        return -ENOMEM;
    free(rs->location);
    rs->status = 303;
    rs->location = location;
    free(rs->body);
    rs->body = NULL;
    rs->body_len = 0;
    rs->content_type = NULL;
    return 0;
}

void as_response_free(struct as_response *rs)
{
    if (!rs)
        return;
    free(rs->body);
    free(rs->location);
    free(rs->set_cookie);
    free(rs->www_authenticate);
    *rs = (struct as_response){0};
}

/* ---- the scope catalogue ------------------------------------------------------------ */

static bool accepts_local(const struct sec_expr *e)
{
    if (!e)
        return false;
    if (e->kind == SEC_ALLOF || e->kind == SEC_ONEOF) {
        for (size_t i = 0; i < e->n_subs; i++)
            if (accepts_local(e->subs[i]))
                return true;
        return false;
    }
    return (e->kind == SEC_OAUTH2 || e->kind == SEC_BEARER) &&
           (!e->issuer || !strcmp(e->issuer, OAUTH_LOCAL_ISSUER));
}

static const char *op_phrase(enum wot_op op)
{
    switch (op) {
    case WOT_OP_READPROPERTY: return "read";
    case WOT_OP_WRITEPROPERTY: return "change";
    case WOT_OP_OBSERVEPROPERTY: return "observe";
    case WOT_OP_UNOBSERVEPROPERTY: return "stop observing";
    case WOT_OP_INVOKEACTION: return "run";
    case WOT_OP_QUERYACTION: return "query";
    case WOT_OP_CANCELACTION: return "cancel";
    case WOT_OP_SUBSCRIBEEVENT: return "subscribe to";
    case WOT_OP_UNSUBSCRIBEEVENT: return "unsubscribe from";
    case WOT_OP_READALLPROPERTIES: return "read all properties";
    case WOT_OP_WRITEALLPROPERTIES: return "change all properties";
    case WOT_OP_READMULTIPLEPROPERTIES: return "read several properties";
    case WOT_OP_WRITEMULTIPLEPROPERTIES: return "change several properties";
    case WOT_OP_OBSERVEALLPROPERTIES: return "observe all properties";
    case WOT_OP_UNOBSERVEALLPROPERTIES: return "stop observing all properties";
    case WOT_OP_QUERYALLACTIONS: return "query all actions";
    case WOT_OP_SUBSCRIBEALLEVENTS: return "subscribe to all events";
    case WOT_OP_UNSUBSCRIBEALLEVENTS: return "unsubscribe from all events";
    default: return "use";
    }
}

struct cat_entry {
    char *name;
    struct sbuf what;
    size_t items;
};

#define CAT_MAX_ITEMS 12

static void catalog_free(struct as_scope *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].what);
    }
    free(v);
}

static int cat_add(struct cat_entry *cat, size_t *n, const char *scope, const char *thing,
                   const char *aff, enum wot_op op)
{
    struct cat_entry *e = NULL;
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(cat[i].name, scope))
            e = &cat[i];
    if (!e) {
        if (*n == AS_MAX_SCOPES)
            return 0; /* the catalogue is full: further scopes are unknown */
        e = &cat[(*n)++];
        *e = (struct cat_entry){.name = strdup(scope), .what = {.max = 4096}};
        if (!e->name)
            return -ENOMEM;
    }
    if (e->items == CAT_MAX_ITEMS)
        sb_puts(&e->what, ", and more");
    if (e->items++ >= CAT_MAX_ITEMS)
        return 0;
    if (e->items > 1)
        sb_puts(&e->what, ", ");
    sb_printf(&e->what, "%s: %s%s%s", thing, op_phrase(op), aff ? " " : "", aff ? aff : "");
    return e->what.failed ? -ENOMEM : 0;
}

static int build_catalog(const struct gw_state *st, struct as_scope **out, size_t *n_out)
{
    struct cat_entry *cat = calloc(AS_MAX_SCOPES, sizeof(*cat));
    size_t n = 0;
    int r = 0;
    *out = NULL;
    *n_out = 0;
    if (!cat)
        return -ENOMEM;
    for (size_t t = 0; t < st->n_things && r == 0; t++) {
        const struct thing *th = &st->things[t];
        const char *title = th->td->title ? th->td->title : th->conf->name;
        for (size_t a = 0; a <= th->td->n_affs && r == 0; a++) {
            const struct td_affordance *aff = a < th->td->n_affs ? &th->td->affs[a] : NULL;
            uint32_t ops = td_ops(th->td, aff);
            for (int op = 0; op < WOT_OP__COUNT && r == 0; op++) {
                struct policy_form pf;
                if (!(ops & (1u << op)))
                    continue;
                policy_lookup(th->policy, aff ? aff->name : NULL, (enum wot_op)op, &pf);
                if (!pf.security || !accepts_local(pf.security))
                    continue;
                for (char *const *s = pf.scopes; *s && r == 0; s++)
                    r = cat_add(cat, &n, *s, title, aff ? aff->name : NULL, (enum wot_op)op);
            }
        }
    }
    struct as_scope *v = n ? calloc(n, sizeof(*v)) : NULL;
    if (n && !v)
        r = -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (r == 0) {
            v[i].name = cat[i].name;
            v[i].what = sb_steal(&cat[i].what, NULL);
            if (!v[i].what)
                r = -ENOMEM;
        } else {
            free(cat[i].name);
            sb_free(&cat[i].what);
        }
    }
    free(cat);
    if (r < 0) {
        catalog_free(v, v ? n : 0);
        return r;
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

void as_free(struct as *as)
{
    if (!as)
        return;
    as_pages_reset(as);
    store_free(as->store);
    catalog_free(as->scopes, as->n_scopes);
    free(as->peer_thr);
    free(as->user_thr);
    free(as->dev_thr);
    free(as);
}

static int attach(struct as *as, const struct gw_state *st, int64_t now, struct diags *d)
{
    struct as_scope *cat = NULL;
    size_t n = 0;
    int r;
    if (!st->oauth || !st->conf->oauth.enabled)
        return -ENOENT;
    if (!st->oauth->keys || !st->oauth->clients) {
        diag_add(d, st->conf->oauth.dir, 0,
                 "the authorization server cannot read its %s (see the warnings above)",
                 st->oauth->keys ? "clients file" : "signing keys");
        return -EACCES;
    }
    r = build_catalog(st, &cat, &n);
    if (r < 0)
        return r;
    if (!as->store || strcmp(as->oc->dir, st->conf->oauth.dir)) {
        struct as_store *ns = NULL;
        r = store_open(st->conf->oauth.dir, now, &ns, d);
        if (r < 0) {
            catalog_free(cat, n);
            return r;
        }
        store_free(as->store);
        as->store = ns;
    }
    catalog_free(as->scopes, as->n_scopes);
    as->scopes = cat;
    as->n_scopes = n;
    as->st = st;
    as->conf = st->conf;
    as->oc = &st->conf->oauth;
    as->setup = st->oauth;
    return 0;
}

int as_new(const struct gw_state *st, int64_t now, struct as **out, struct diags *d)
{
    struct as *as = calloc(1, sizeof(*as));
    int r;
    *out = NULL;
    if (!as)
        return -ENOMEM;
    as->peer_thr = calloc(AS_MAX_THROTTLE, sizeof(*as->peer_thr));
    as->user_thr = calloc(AS_MAX_THROTTLE, sizeof(*as->user_thr));
    as->dev_thr = calloc(AS_MAX_THROTTLE, sizeof(*as->dev_thr));
    if (!as->peer_thr || !as->user_thr || !as->dev_thr) {
        r = -ENOMEM;
        goto fail;
    }
    r = attach(as, st, now, d);
    if (r < 0)
        goto fail;
    *out = as;
    return 0;
fail:
    as_free(as);
    return r;
}

int as_reload(struct as *as, const struct gw_state *st, int64_t now, struct diags *d)
{
    return attach(as, st, now, d);
}

int as_update(struct as **asp, const struct gw_state *st, int64_t now, struct diags *d)
{
    if (!st->oauth) {
        as_free(*asp);
        *asp = NULL;
        return 0;
    }
    if (*asp)
        return as_reload(*asp, st, now, d);
    return as_new(st, now, asp, d);
}

/* ---- metadata and keys --------------------------------------------------------------- */

static int metadata(struct as *as, struct as_response *rs)
{
    json_t *scopes = json_array();
    if (!scopes)
        return -ENOMEM;
    for (size_t i = 0; i < as->n_scopes; i++)
        if (json_array_append_new(scopes, json_string(as->scopes[i].name)) < 0) {
            json_decref(scopes);
            return -ENOMEM;
        }
    char *authz = as_url(as, "/oauth/authorize"), *token = as_url(as, "/oauth/token"),
         *dev = as_url(as, "/oauth/device_authorization"), *jwks = as_url(as, "/oauth/jwks"),
         *intro = as_url(as, "/oauth/introspect"), *rev = as_url(as, "/oauth/revoke");
    json_t *m = NULL;
    if (authz && token && dev && jwks && intro && rev)
        m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:[s], s:[s], s:[s,s,s,s], "
                      "s:[s], s:[s,s,s], s:[s,s,s], s:[s,s], s:b}",
                      "issuer", as->oc->issuer, "authorization_endpoint", authz, "token_endpoint",
                      token, "device_authorization_endpoint", dev, "jwks_uri", jwks,
                      "introspection_endpoint", intro, "revocation_endpoint", rev,
                      "scopes_supported", scopes, "response_types_supported", "code",
                      "response_modes_supported", "query", "grant_types_supported",
                      "authorization_code", "client_credentials", GRANT_TYPE_DEVICE_URN,
                      "refresh_token", "code_challenge_methods_supported", "S256",
                      "token_endpoint_auth_methods_supported", "client_secret_basic",
                      "client_secret_post", "none", "revocation_endpoint_auth_methods_supported",
                      "client_secret_basic", "client_secret_post", "none",
                      "introspection_endpoint_auth_methods_supported", "client_secret_basic",
                      "client_secret_post", "authorization_response_iss_parameter_supported", 1);
    else
        json_decref(scopes);
    free(authz);
    free(token);
    free(dev);
    free(jwks);
    free(intro);
    free(rev);
    return as_json(rs, 200, m);
}

/* ---- dispatch ----------------------------------------------------------------------- */

bool as_handles_path(const char *path)
{
    return path && (!strcmp(path, AS_WELL_KNOWN_PATH) ||
                    !strncmp(path, AS_PATH_PREFIX, strlen(AS_PATH_PREFIX)));
}

static bool is_form(const char *ct)
{
    size_t n = strlen("application/x-www-form-urlencoded");
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", n))
        return false;
    const char *p = ct + n;
    p += strspn(p, " \t");
    return !*p || *p == ';';
}

/* POST endpoints: a form body, no query. */
static int read_form(const struct as_request *rq, struct as_response *rs, struct form *f, bool html)
{
    const char *why = NULL;
    int r;
    if (rq->body_len > AS_MAX_BODY) {
        r = html ? as_error_page(rs, 413, "Request too large", "The form was too large.")
                 : as_error(rs, 413, "invalid_request", "request body too large");
        return r < 0 ? r : 1;
    }
    if (!is_form(rq->content_type)) {
        r = html ? as_error_page(rs, 415, "Unsupported form", "Send the form as a browser does.")
                 : as_error(rs, 400, "invalid_request",
                            "the body must be application/x-www-form-urlencoded");
        return r < 0 ? r : 1;
    }
    if (rq->query && *rq->query) {
        r = html ? as_error_page(rs, 400, "Bad request", "Unexpected query in the address.")
                 : as_error(rs, 400, "invalid_request",
                            "parameters must be in the body, not in the query");
        return r < 0 ? r : 1;
    }
    r = form_parse((const char *)rq->body, rq->body_len, f, &why);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        r = html ? as_error_page(rs, 400, "Bad request", why)
                 : as_error(rs, r == -E2BIG ? 413 : 400, "invalid_request", why);
        return r < 0 ? r : 1;
    }
    return 0;
}

int as_handle(struct as *as, const struct as_request *rq, struct as_response *rs)
{
    struct form f = {0};
    const char *p = rq->path, *m = rq->method;
    bool get = !strcmp(m, "GET"), post = !strcmp(m, "POST");
    int r;
    *rs = (struct as_response){0};

    store_prune(as->store, rq->now);
    as_pages_prune(as, rq->now);

    static const struct {
        const char *path;
        bool get, post, html;
    } routes[] = {
            {AS_WELL_KNOWN_PATH, true, false, false},
            {"/oauth/jwks", true, false, false},
            {"/oauth/authorize", true, false, true},
            {"/oauth/login", false, true, true},
            {"/oauth/consent", true, true, true},
            {"/oauth/device", true, true, true},
            {"/oauth/token", false, true, false},
            {"/oauth/device_authorization", false, true, false},
            {"/oauth/introspect", false, true, false},
            {"/oauth/revoke", false, true, false},
    };
    size_t i;
    for (i = 0; i < ARRAY_SIZE(routes); i++)
        if (!strcmp(p, routes[i].path))
            break;
    if (i == ARRAY_SIZE(routes)) {
        r = as_error(rs, 404, "not_found", "no such endpoint");
        goto out;
    }
    if (!((get && routes[i].get) || (post && routes[i].post))) {
        r = as_error(rs, 405, "invalid_request", "method not allowed on this endpoint");
        goto out;
    }
    if (post) {
        r = read_form(rq, rs, &f, routes[i].html);
        if (r != 0) {
            r = r < 0 ? r : 0;
            goto out;
        }
    }
    if (!strcmp(p, AS_WELL_KNOWN_PATH))
        r = metadata(as, rs);
    else if (!strcmp(p, "/oauth/jwks"))
        r = as_json(rs, 200, as_keys_jwks_json(as->setup->keys));
    else if (!strcmp(p, "/oauth/authorize"))
        r = as_authorize(as, rq, rs);
    else if (!strcmp(p, "/oauth/login"))
        r = as_login(as, rq, &f, rs);
    else if (!strcmp(p, "/oauth/consent"))
        r = get ? as_consent_page(as, rq, rs) : as_consent(as, rq, &f, rs);
    else if (!strcmp(p, "/oauth/device"))
        r = get ? as_device_page(as, rq, rs) : as_device_submit(as, rq, &f, rs);
    else if (!strcmp(p, "/oauth/token"))
        r = as_token_endpoint(as, rq, &f, rs);
    else if (!strcmp(p, "/oauth/device_authorization"))
        r = as_device_authorization(as, rq, &f, rs);
    else if (!strcmp(p, "/oauth/introspect"))
        r = as_introspect(as, rq, &f, rs);
    else
        r = as_revoke(as, rq, &f, rs);
out:
    form_free(&f);
    if (r < 0)
        as_response_free(rs);
    return r;
}

/* ---- revocation check for the resource server ------------------------------------------ */

json_t *as_revoked_json(const struct as *as)
{
    json_t *a = json_array();
    for (size_t i = 0; a && as && i < as->store->n_revoked; i++) {
        const struct st_revoked *r = &as->store->revoked[i];
        if (json_array_append_new(a, json_pack("[s, I]", r->jti, (json_int_t)r->exp)) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

uint64_t as_revoked_generation(void)
{
    return store_revoked_generation();
}

const char *as_issuer(const struct as *as)
{
    return as ? as->oc->issuer : NULL;
}

bool as_token_revoked(const struct as *as, const char *tok, size_t len)
{
    size_t n = 0;
    bool revoked = false;
    if (!as || !tok || len > JWT_HARD_MAX_SIZE)
        return false;
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    uint8_t *buf = d2 ? malloc(len) : NULL;
    if (!buf || b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), buf, len, &n) < 0) {
        free(buf);
        return false;
    }
    json_t *j = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
    free(buf);
    const char *iss = json_string_value(json_object_get(j, "iss"));
    const char *jti = json_string_value(json_object_get(j, "jti"));
    if (iss && jti && !strcmp(iss, as->oc->issuer))
        revoked = store_jti_revoked(as->store, jti);
    json_decref(j);
    return revoked;
}
