/* td.c - see td.h. The device Thing Description model: jansson parses,
 * this file checks the limits, refuses what is not a TD (Thing Models,
 * pre-1.0 drafts, files without "id"), resolves every href against "base"
 * (RFC 3986 §5) and fills in the default ops of TD 1.1 §5.3.4.2.
 *
 * Cleanup style: goto to one exit. */
#define _GNU_SOURCE
#include "td.h"

#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- RFC 3986 references ------------------------------------------------ */

/* A URI reference split as in RFC 3986 Appendix B; slices of the input. */
struct uri_ref {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_len, auth_len, path_len, query_len, frag_len;
    bool has_scheme, has_auth, has_query, has_frag;
};

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Length of a scheme (RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" /
 * "." )) followed by ':' at the start of s, 0 when there is none. */
static size_t scheme_len(const char *s)
{
    if (!is_alpha(s[0]))
        return 0;
    size_t i = 1;
    while (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return s[i] == ':' ? i : 0;
}

static void uri_split(const char *s, struct uri_ref *u)
{
    *u = (struct uri_ref){0};
    size_t n = scheme_len(s);
    if (n) {
        u->has_scheme = true;
        u->scheme = s;
        u->scheme_len = n;
        s += n + 1;
    }
    if (s[0] == '/' && s[1] == '/') {
        s += 2;
        size_t a = strcspn(s, "/?#");
        u->has_auth = true;
        u->auth = s;
        u->auth_len = a;
        s += a;
    }
    size_t p = strcspn(s, "?#");
    u->path = s;
    u->path_len = p;
    s += p;
    if (*s == '?') {
        s++;
        size_t q = strcspn(s, "#");
        u->has_query = true;
        u->query = s;
        u->query_len = q;
        s += q;
    }
    if (*s == '#') {
        u->has_frag = true;
        u->frag = s + 1;
        u->frag_len = strlen(s + 1);
    }
}

static bool starts(const char *s, const char *end, const char *prefix)
{
    size_t n = strlen(prefix);
    return (size_t)(end - s) >= n && !memcmp(s, prefix, n);
}

static bool equals(const char *s, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - s) == n && !memcmp(s, word, n);
}

/* RFC 3986 §5.2.4. in[0..n) is modified (it is a scratch copy); the
 * result (at most n bytes) is written to out; returns its length. */
static size_t remove_dot_segments(char *in, size_t n, char *out)
{
    char *i = in, *e = in + n;
    size_t o = 0;
    while (i < e) {
        if (starts(i, e, "../")) { /* A */
            i += 3;
        } else if (starts(i, e, "./")) {
            i += 2;
        } else if (starts(i, e, "/./")) { /* B */
            i += 2;
        } else if (equals(i, e, "/.")) {
            i += 1;
            *i = '/';
        } else if (starts(i, e, "/../") || equals(i, e, "/..")) { /* C */
            if (starts(i, e, "/../")) {
                i += 3;
            } else {
                i += 2;
                *i = '/';
            }
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else if (equals(i, e, ".") || equals(i, e, "..")) { /* D */
            i = e;
        } else { /* E */
            if (*i == '/')
                out[o++] = *i++;
            while (i < e && *i != '/')
                out[o++] = *i++;
        }
    }
    return o;
}

/* Appends path[0..n) to *p with dot segments removed. */
static void put_path(char **p, const char *path, size_t n, char *scratch)
{
    memcpy(scratch, path, n);
    *p += remove_dot_segments(scratch, n, *p);
}

static void put(char **p, const char *s, size_t n)
{
    memcpy(*p, s, n);
    *p += n;
}

int td_resolve_uri(const char *base, const char *ref, char **out)
{
    int r;
    struct uri_ref b, R;
    char *res = NULL, *scratch = NULL, *pathbuf = NULL;
    *out = NULL;
    if (!ref)
        return -EINVAL;
    uri_split(ref, &R);
    if (!R.has_scheme) {
        if (!base)
            return -EINVAL;
        uri_split(base, &b);
        if (!b.has_scheme)
            return -EINVAL;
    } else {
        b = (struct uri_ref){0};
    }
    /* The result is never longer than base + ref + the "/" of a merge
     * and the "/." of a path that starts with "//". */
    size_t cap = strlen(ref) + (base ? strlen(base) : 0) + 8;
    res = malloc(cap);
    scratch = malloc(cap);
    pathbuf = malloc(cap);
    if (!res || !scratch || !pathbuf) {
        r = -ENOMEM;
        goto out;
    }
    char *p = res;
    const struct uri_ref *s = R.has_scheme ? &R : &b;
    for (size_t k = 0; k < s->scheme_len; k++) {
        char c = s->scheme[k];
        *p++ = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    *p++ = ':';

    /* §5.2.2: authority, path and query of the target. */
    const struct uri_ref *a; /* whose authority */
    const struct uri_ref *q; /* whose query */
    if (R.has_scheme || R.has_auth) {
        a = &R;
        q = &R;
    } else {
        a = &b;
        q = (R.path_len == 0 && !R.has_query) ? &b : &R;
    }
    if (a->has_auth) {
        put(&p, "//", 2);
        put(&p, a->auth, a->auth_len);
    }
    char *pp = pathbuf;
    if (R.has_scheme || R.has_auth) {
        put_path(&pp, R.path, R.path_len, scratch);
    } else if (R.path_len == 0) {
        /* T.path = Base.path (§5.2.2); with dot segments removed as in
         * every other branch, for a base that was not normalized */
        put_path(&pp, b.path, b.path_len, scratch);
    } else if (R.path[0] == '/') {
        put_path(&pp, R.path, R.path_len, scratch);
    } else {
        /* §5.2.3 merge, then remove dot segments. */
        size_t m = 0;
        if (b.has_auth && b.path_len == 0) {
            scratch[m++] = '/';
        } else {
            const char *slash = memrchr(b.path, '/', b.path_len);
            if (slash) {
                size_t k = (size_t)(slash - b.path) + 1;
                memcpy(scratch, b.path, k);
                m = k;
            }
        }
        memcpy(scratch + m, R.path, R.path_len);
        m += R.path_len;
        pp += remove_dot_segments(scratch, m, pp);
    }
    /* A path that starts with "//" without an authority would read back
     * as one ("g:/.//x" gives "g://x"): keep it a path with "/." (as the
     * WHATWG URL standard does), so resolving the result again is a no-op. */
    size_t plen = (size_t)(pp - pathbuf);
    if (!a->has_auth && plen >= 2 && pathbuf[0] == '/' && pathbuf[1] == '/')
        put(&p, "/.", 2);
    put(&p, pathbuf, plen);
    if (q->has_query) {
        *p++ = '?';
        put(&p, q->query, q->query_len);
    }
    if (R.has_frag) {
        *p++ = '#';
        put(&p, R.frag, R.frag_len);
    }
    *p = '\0';
    *out = res;
    res = NULL;
    r = 0;
out:
    free(res);
    free(scratch);
    free(pathbuf);
    return r;
}

/* A string from the document made fit for a one-line message: control
 * characters become '?', the userinfo of a URI (it may hold a password)
 * becomes "***", and it is cut to fit buf (with "..."). Returns buf. */
static const char *shown(char *buf, size_t cap, const char *s, bool uri)
{
    size_t o = 0, skip_from = SIZE_MAX, skip_to = 0;
    bool cut = false;
    if (uri) {
        struct uri_ref u;
        uri_split(s, &u);
        const char *at = u.has_auth ? memrchr(u.auth, '@', u.auth_len) : NULL;
        if (at && at > u.auth) {
            skip_from = (size_t)(u.auth - s);
            skip_to = (size_t)(at - s);
        }
    }
    for (size_t i = 0; s[i] && !cut; i++) {
        const char *piece = "?";
        size_t n = 1;
        unsigned char ch = (unsigned char)s[i];
        if (i == skip_from) {
            piece = "***";
            n = 3;
            i = skip_to - 1; /* continue at the '@' */
        } else if (ch >= 0x20 && ch != 0x7f) {
            piece = s + i;
        }
        if (o + n + 4 > cap) {
            cut = true;
            break;
        }
        memcpy(buf + o, piece, n);
        o += n;
    }
    if (cut) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- parsing ------------------------------------------------------------ */

struct ctx {
    const char *path;
    struct diags *d;
    unsigned n_warn;
    const char *base; /* absolute "base" or NULL */
    bool thing_model; /* saw a {{placeholder}} */
    size_t n_usable;  /* forms with a scheme wotgw knows and a host */
    size_t n_supported;
    struct td *td;
    json_t *defs;      /* "securityDefinitions" when an object */
    bool thing_oscore; /* the thing-level "security" needs OSCORE */
};

static void warn(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct ctx *c, const char *fmt, ...)
{
    c->n_warn++;
    if (c->n_warn > TD_MAX_WARNINGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    diag_addv(c->d, true, c->path, 0, fmt, ap);
    va_end(ap);
}

static const char *const kind_keys[] = {"properties", "actions", "events"};

/* true if v is nested deeper than max (an object or array is one level). */
static bool too_deep(json_t *v, size_t depth, size_t max)
{
    if (!json_is_object(v) && !json_is_array(v))
        return false;
    if (depth + 1 > max)
        return true;
    if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
        {
            if (too_deep(e, depth + 1, max))
                return true;
        }
    } else {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (too_deep(e, depth + 1, max))
                return true;
        }
    }
    return false;
}

static bool type_has(json_t *type, const char *a, const char *b)
{
    if (json_is_string(type))
        return !strcmp(json_string_value(type), a) || !strcmp(json_string_value(type), b);
    size_t i;
    json_t *e;
    json_array_foreach(type, i, e)
    {
        if (json_is_string(e) &&
            (!strcmp(json_string_value(e), a) || !strcmp(json_string_value(e), b)))
            return true;
    }
    return false;
}

/* ---- security: which forms need OSCORE ------------------------------------- */

#define TD_MAX_COMBO_DEPTH 8

/* "oscore", a compact IRI "PREFIX:OSCORESecurityScheme" or an IRI ending
 * in "#OSCORESecurityScheme". */
static bool scheme_is_oscore(const char *s)
{
    static const char term[] = "OSCORESecurityScheme";
    if (!strcmp(s, "oscore"))
        return true;
    size_t n = strlen(s), t = sizeof(term) - 1;
    return n > t + 1 && !strcmp(s + n - t, term) && (s[n - t - 1] == ':' || s[n - t - 1] == '#');
}

static bool def_is_oscore(struct ctx *c, json_t *name, const char *where, unsigned depth);

/* A "security" value: a name or an array of names, all of which apply. */
static bool sec_is_oscore(struct ctx *c, json_t *sec, const char *where, unsigned depth)
{
    if (json_is_string(sec))
        return def_is_oscore(c, sec, where, depth);
    if (!json_is_array(sec)) {
        warn(c, "%s: \"security\" is neither a string nor an array; ignored", where);
        return false;
    }
    size_t i;
    json_t *e;
    bool osc = false;
    json_array_foreach(sec, i, e)
    {
        osc |= def_is_oscore(c, e, where, depth);
    }
    return osc;
}

static bool def_is_oscore(struct ctx *c, json_t *name, const char *where, unsigned depth)
{
    char nb[72];
    if (!json_is_string(name)) {
        warn(c, "%s: a security name is not a string; ignored", where);
        return false;
    }
    const char *n = json_string_value(name);
    json_t *d = json_object_get(c->defs, n);
    if (!json_is_object(d)) {
        warn(c, "%s: security \"%s\" has no definition in \"securityDefinitions\"", where,
             shown(nb, sizeof(nb), n, false));
        return false;
    }
    const char *scheme = json_string_value(json_object_get(d, "scheme"));
    if (!scheme) {
        warn(c, "security definition \"%s\" has no string \"scheme\"",
             shown(nb, sizeof(nb), n, false));
        return false;
    }
    if (scheme_is_oscore(scheme))
        return true;
    if (strcmp(scheme, "combo") || depth >= TD_MAX_COMBO_DEPTH)
        return false;
    json_t *all = json_object_get(d, "allOf"), *one = json_object_get(d, "oneOf");
    if (json_is_array(all)) {
        size_t i;
        json_t *e;
        json_array_foreach(all, i, e)
        {
            if (def_is_oscore(c, e, where, depth + 1))
                return true;
        }
        return false;
    }
    if (json_is_array(one) && json_array_size(one)) {
        size_t i;
        json_t *e;
        json_array_foreach(one, i, e)
        {
            if (!def_is_oscore(c, e, where, depth + 1))
                return false;
        }
        return true;
    }
    warn(c, "security definition \"%s\": a combo without an allOf or oneOf array",
         shown(nb, sizeof(nb), n, false));
    return false;
}

/* Length of "scheme://authority" of an absolute URI. */
static size_t origin_len(const char *href)
{
    const char *p = strstr(href, "://");
    if (!p)
        return strlen(href);
    p += 3;
    return (size_t)(p - href) + strcspn(p, "/?#");
}

/* Marks f as an OSCORE passthrough form, or unsupported where OSCORE
 * cannot be passed through. */
static void form_oscore(struct ctx *c, struct td_form *f, const char *where)
{
    char ub[112];
    if (strcmp(f->scheme, "coap") != 0) {
        if (f->supported) {
            f->supported = false;
            c->n_supported--;
        }
        warn(c, "%s: needs OSCORE over %s, which wotgw cannot pass through (only coap://)", where,
             f->scheme);
        return;
    }
    if (!f->supported)
        return; /* no host: warned already */
    f->oscore = true;
    if (!c->td->oscore_href) {
        c->td->oscore_href = f->href;
    } else {
        size_t a = origin_len(c->td->oscore_href), b = origin_len(f->href);
        if (a != b || strncasecmp(c->td->oscore_href, f->href, a))
            warn(c,
                 "%s: OSCORE passthrough forms on more than one device address; only the "
                 "first one's (\"%s\") is used",
                 where, shown(ub, sizeof(ub), c->td->oscore_href, true));
    }
}

/* Optional string member: NULL when absent, a warning when not a string.
 * Returns -ENOMEM or 0. */
static int opt_string(struct ctx *c, json_t *obj, const char *key, const char *where, char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        warn(c, "%s: \"%s\" is not a string; ignored", where, key);
        return 0;
    }
    *out = strdup(json_string_value(v));
    return *out ? 0 : -ENOMEM;
}

static void form_clear(struct td_form *f)
{
    free(f->href);
    free(f->scheme);
    free(f->content_type);
    free(f->method);
    free(f->subprotocol);
    *f = (struct td_form){0};
}

static uint32_t default_ops(const struct td_affordance *a)
{
    switch (a->kind) {
    case AFF_PROPERTY: {
        uint32_t ops = 0;
        if (!a->write_only)
            ops |= 1u << WOT_OP_READPROPERTY;
        if (!a->read_only)
            ops |= 1u << WOT_OP_WRITEPROPERTY;
        return ops;
    }
    case AFF_ACTION: return 1u << WOT_OP_INVOKEACTION;
    case AFF_EVENT: return 1u << WOT_OP_SUBSCRIBEEVENT | 1u << WOT_OP_UNSUBSCRIBEEVENT;
    default: return 0;
    }
}

/* One op name of a form: adds its bit to *ops or warns. */
static void add_op(struct ctx *c, const struct td_affordance *a, const char *where, json_t *v,
                   uint32_t *ops)
{
    if (!json_is_string(v)) {
        warn(c, "%s: an \"op\" entry is not a string; ignored", where);
        return;
    }
    const char *name = json_string_value(v);
    enum wot_op op = wot_op_from_name(name);
    if (op == WOT_OP__INVALID) {
        char nb[72];
        warn(c, "%s: unknown op \"%s\"; ignored", where, shown(nb, sizeof(nb), name, false));
        return;
    }
    enum wot_aff_kind want = a ? a->kind : AFF_THING;
    if (wot_op_aff_kind(op) != want) {
        warn(c, "%s: op \"%s\" does not apply to %s %s; ignored", where, name, a ? "a" : "the",
             wot_aff_kind_name(want));
        return;
    }
    if (a && a->read_only && op == WOT_OP_WRITEPROPERTY) {
        warn(c, "%s: op \"writeproperty\" on a readOnly property; ignored", where);
        return;
    }
    if (a && a->write_only &&
        (op == WOT_OP_READPROPERTY || op == WOT_OP_OBSERVEPROPERTY ||
         op == WOT_OP_UNOBSERVEPROPERTY)) {
        warn(c, "%s: op \"%s\" on a writeOnly property; ignored", where, name);
        return;
    }
    *ops |= 1u << op;
}

/* Parses one form of a (NULL: a top-level form). Returns 1 when *f was
 * filled, 0 when the form was skipped (with a warning), -EINVAL for a
 * Thing Model placeholder, -ENOMEM. */
static int parse_form(struct ctx *c, const struct td_affordance *a, json_t *obj, size_t idx,
                      struct td_form *f)
{
    int r;
    char where[160], nb[72], ub[112];
    if (a)
        snprintf(where, sizeof(where), "%s \"%s\" form %zu", wot_aff_kind_name(a->kind),
                 shown(nb, sizeof(nb), a->name, false), idx);
    else
        snprintf(where, sizeof(where), "top-level form %zu", idx);
    *f = (struct td_form){.json = obj};

    if (!json_is_object(obj)) {
        warn(c, "%s: not an object; skipped", where);
        return 0;
    }
    json_t *href = json_object_get(obj, "href");
    if (!json_is_string(href)) {
        warn(c, "%s: no string \"href\"; skipped", where);
        return 0;
    }
    const char *h = json_string_value(href);
    if (strstr(h, "{{")) {
        c->thing_model = true;
        return -EINVAL;
    }

    /* ops */
    uint32_t ops = 0;
    json_t *op = json_object_get(obj, "op");
    if (!op) {
        if (!a) {
            warn(c, "%s: a top-level form needs an \"op\"; skipped", where);
            return 0;
        }
        ops = default_ops(a);
    } else if (json_is_array(op)) {
        size_t i;
        json_t *e;
        json_array_foreach(op, i, e)
        {
            add_op(c, a, where, e, &ops);
        }
    } else if (json_is_string(op)) {
        add_op(c, a, where, op, &ops);
    } else {
        warn(c, "%s: \"op\" is neither a string nor an array; skipped", where);
        return 0;
    }
    if (!ops) {
        warn(c, "%s: no operation left; skipped", where);
        return 0;
    }
    f->ops = ops;

    r = td_resolve_uri(c->base, h, &f->href);
    if (r == -EINVAL) {
        warn(c, "%s: relative href \"%s\" and no absolute \"base\" to resolve it; skipped", where,
             shown(ub, sizeof(ub), h, true));
        return 0;
    }
    if (r < 0)
        goto fail;
    size_t n = scheme_len(f->href);
    f->scheme = strndup(f->href, n);
    if (!f->scheme) {
        r = -ENOMEM;
        goto fail;
    }
    struct uri_ref u;
    uri_split(f->href, &u);
    /* a host: the authority without userinfo must not be empty or ":port" */
    bool host = false;
    if (u.has_auth) {
        const char *at = memrchr(u.auth, '@', u.auth_len);
        const char *h0 = at ? at + 1 : u.auth;
        size_t hl = u.auth_len - (size_t)(h0 - u.auth);
        host = hl > 0 && h0[0] != ':';
    }
    static const struct {
        const char *name;
        enum wot_protocol proto;
        bool plain;
    } schemes[] = {
            {"http", PROTO_HTTP, true}, {"https", PROTO_HTTP, false},
            {"coap", PROTO_COAP, true}, {"coaps", PROTO_COAP, false},
            {"mqtt", PROTO_MQTT, true}, {"mqtts", PROTO_MQTT, false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
        if (strcmp(f->scheme, schemes[i].name))
            continue;
        f->protocol = schemes[i].proto;
        if (!host) {
            warn(c, "%s: \"%s\" has no host", where, shown(ub, sizeof(ub), f->href, true));
            break;
        }
        c->n_usable++;
        f->supported = schemes[i].plain;
        if (f->supported)
            c->n_supported++;
        break;
    }

    json_t *fsec = json_object_get(obj, "security");
    if (fsec ? sec_is_oscore(c, fsec, where, 0) : c->thing_oscore)
        form_oscore(c, f, where);

    if ((r = opt_string(c, obj, "contentType", where, &f->content_type)) < 0 ||
        (r = opt_string(c, obj, "htv:methodName", where, &f->method)) < 0 ||
        (r = opt_string(c, obj, "subprotocol", where, &f->subprotocol)) < 0)
        goto fail;
    if (!f->content_type && !(f->content_type = strdup(TD_DEFAULT_CONTENT_TYPE))) {
        r = -ENOMEM;
        goto fail;
    }
    return 1;
fail:
    form_clear(f);
    return r;
}

/* Parses the forms array of a (NULL: top-level "forms" of the thing) into
 * *forms / *n. Returns 0, -EINVAL (refused, message added), -ENOMEM. */
static int parse_forms(struct ctx *c, const struct td_affordance *a, json_t *arr,
                       struct td_form **forms, size_t *n)
{
    int r;
    char nb[72];
    size_t cnt = json_array_size(arr);
    *forms = NULL;
    *n = 0;
    if (cnt == 0)
        return 0;
    if (cnt > TD_MAX_FORMS) {
        if (a)
            diag_add(c->d, c->path, 0, "%s \"%s\" has %zu forms; at most %d are allowed",
                     wot_aff_kind_name(a->kind), shown(nb, sizeof(nb), a->name, false), cnt,
                     TD_MAX_FORMS);
        else
            diag_add(c->d, c->path, 0, "%zu top-level forms; at most %d are allowed", cnt,
                     TD_MAX_FORMS);
        return -EINVAL;
    }
    *forms = calloc(cnt, sizeof(**forms));
    if (!*forms)
        return -ENOMEM;
    for (size_t i = 0; i < cnt; i++) {
        r = parse_form(c, a, json_array_get(arr, i), i, &(*forms)[*n]);
        if (r < 0)
            return r; /* the caller frees what was filled */
        if (r > 0)
            (*n)++;
    }
    return 0;
}

static bool get_flag(struct ctx *c, json_t *obj, const char *key, const char *kind,
                     const char *name)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return false;
    if (!json_is_boolean(v)) {
        char nb[72];
        warn(c, "%s \"%s\": \"%s\" is not a boolean; taken as false", kind,
             shown(nb, sizeof(nb), name, false), key);
        return false;
    }
    return json_is_true(v);
}

static int parse_affordances(struct ctx *c, struct td *td)
{
    int r;
    size_t total = 0;
    for (size_t k = 0; k < ARRAY_SIZE(kind_keys); k++) {
        json_t *v = json_object_get(td->json, kind_keys[k]);
        if (!v)
            continue;
        if (!json_is_object(v)) {
            diag_add(c->d, c->path, 0,
                     "\"%s\" is not an object (TD 1.0/1.1 map affordance names to objects)",
                     kind_keys[k]);
            return -EINVAL;
        }
        total += json_object_size(v);
    }
    if (total > TD_MAX_AFFORDANCES) {
        diag_add(c->d, c->path, 0, "%zu affordances; at most %d are allowed", total,
                 TD_MAX_AFFORDANCES);
        return -EINVAL;
    }
    if (total == 0)
        return 0;
    td->affs = calloc(total, sizeof(*td->affs));
    if (!td->affs)
        return -ENOMEM;

    for (size_t k = 0; k < ARRAY_SIZE(kind_keys); k++) {
        json_t *v = json_object_get(td->json, kind_keys[k]);
        const char *name;
        json_t *obj;
        enum wot_aff_kind kind = (enum wot_aff_kind)k; /* same order as enum */
        const char *kn = wot_aff_kind_name(kind);
        json_object_foreach(v, name, obj)
        {
            char nb[72];
            const char *nm = shown(nb, sizeof(nb), name, false);
            if (!json_is_object(obj)) {
                diag_add(c->d, c->path, 0, "%s \"%s\" is not an object", kn, nm);
                return -EINVAL;
            }
            if (!*name) {
                warn(c, "a %s with an empty name; skipped", kn);
                continue;
            }
            struct td_affordance *a = &td->affs[td->n_affs];
            a->name = strdup(name);
            if (!a->name)
                return -ENOMEM;
            td->n_affs++;
            a->kind = kind;
            a->json = obj;
            if (kind == AFF_PROPERTY) {
                a->read_only = get_flag(c, obj, "readOnly", kn, name);
                a->write_only = get_flag(c, obj, "writeOnly", kn, name);
                a->observable = get_flag(c, obj, "observable", kn, name);
                if (a->read_only && a->write_only)
                    warn(c, "property \"%s\" is both readOnly and writeOnly", nm);
            }
            json_t *forms = json_object_get(obj, "forms");
            if (forms && !json_is_array(forms)) {
                warn(c, "%s \"%s\": \"forms\" is not an array", kn, nm);
                forms = NULL;
            }
            r = parse_forms(c, a, forms, &a->forms, &a->n_forms);
            if (r < 0)
                return r;
            if (!a->n_forms)
                warn(c, "%s \"%s\" has no usable form; it cannot be reached", kn, nm);
        }
    }
    return 0;
}

static bool href_placeholder(json_t *forms)
{
    size_t i;
    json_t *f;
    json_array_foreach(forms, i, f)
    {
        json_t *h = json_object_get(f, "href");
        if (json_is_string(h) && strstr(json_string_value(h), "{{"))
            return true;
    }
    return false;
}

/* A Thing Model names its placeholders "{{NAME}}" (TD 1.1 §10.3.3); look
 * for them in base and the hrefs before complaining about a missing id. */
static bool has_placeholder(json_t *root)
{
    json_t *base = json_object_get(root, "base");
    if (json_is_string(base) && strstr(json_string_value(base), "{{"))
        return true;
    if (href_placeholder(json_object_get(root, "forms")))
        return true;
    for (size_t k = 0; k < ARRAY_SIZE(kind_keys); k++) {
        const char *name;
        json_t *a;
        json_object_foreach(json_object_get(root, kind_keys[k]), name, a)
        {
            if (href_placeholder(json_object_get(a, "forms")))
                return true;
        }
    }
    return false;
}

/* Thing-level checks before the affordances: Thing Model, pre-1.0 draft,
 * id, title, base. */
static int parse_thing(struct ctx *c, struct td *td)
{
    json_t *root = td->json;
    json_t *type = json_object_get(root, "@type");
    if (type_has(type, "tm:ThingModel", "ThingModel")) {
        diag_add(c->d, c->path, 0,
                 "a Thing Model, not a Thing Description (\"@type\": \"tm:ThingModel\")");
        return -EINVAL;
    }
    if (has_placeholder(root)) {
        c->thing_model = true;
        return -EINVAL;
    }
    bool has_aff = false;
    for (size_t k = 0; k < ARRAY_SIZE(kind_keys); k++)
        has_aff |= json_object_get(root, kind_keys[k]) != NULL;
    if (!has_aff) {
        const char *old =
                json_is_array(json_object_get(root, "interaction"))    ? "interaction"
                : json_is_array(json_object_get(root, "interactions")) ? "interactions"
                : (json_is_array(json_object_get(root, "links")) && !json_object_get(root, "forms"))
                        ? "links"
                        : NULL;
        if (old) {
            diag_add(c->d, c->path, 0,
                     "an old pre-1.0 Thing Description (\"%s\" array and no "
                     "properties/actions/events); wotgw reads TD 1.0 and 1.1 only",
                     old);
            return -EINVAL;
        }
    }
    json_t *id = json_object_get(root, "id");
    if (!id) {
        diag_add(c->d, c->path, 0, "no \"id\": wotgw needs a stable id");
        return -EINVAL;
    }
    if (!json_is_string(id) || !*json_string_value(id)) {
        diag_add(c->d, c->path, 0, "\"id\" is not a non-empty string: wotgw needs a stable id");
        return -EINVAL;
    }
    if (strstr(json_string_value(id), "{{")) {
        c->thing_model = true;
        return -EINVAL;
    }
    td->id = strdup(json_string_value(id));
    if (!td->id)
        return -ENOMEM;
    json_t *title = json_object_get(root, "title");
    if (json_is_string(title)) {
        td->title = strdup(json_string_value(title));
    } else {
        warn(c, "no string \"title\" (TD 1.0 and 1.1 require one); the id stands in");
        td->title = strdup(td->id);
    }
    if (!td->title)
        return -ENOMEM;
    json_t *defs = json_object_get(root, "securityDefinitions");
    if (defs && !json_is_object(defs))
        warn(c, "\"securityDefinitions\" is not an object; ignored");
    else
        c->defs = defs;
    json_t *sec = json_object_get(root, "security");
    if (sec)
        c->thing_oscore = sec_is_oscore(c, sec, "the thing", 0);
    json_t *base = json_object_get(root, "base");
    char ub[112];
    if (base && !json_is_string(base)) {
        warn(c, "\"base\" is not a string; ignored");
    } else if (base) {
        const char *b = json_string_value(base);
        if (strstr(b, "{{")) {
            c->thing_model = true;
            return -EINVAL;
        }
        td->base = strdup(b);
        if (!td->base)
            return -ENOMEM;
        if (scheme_len(b))
            c->base = td->base;
        else
            warn(c,
                 "\"base\" \"%s\" is not an absolute URI; relative hrefs cannot be "
                 "resolved",
                 shown(ub, sizeof(ub), b, true));
    }
    return 0;
}

int td_parse(const char *path, const char *buf, size_t len, const struct td_limits *lim,
             struct td **out, struct diags *d)
{
    int r;
    struct td *td = NULL;
    struct ctx c = {.path = path ? path : "<td>", .d = d};
    size_t max_size = lim && lim->max_size ? lim->max_size : (1u << 20);
    size_t max_depth = lim && lim->max_depth ? lim->max_depth : 32;
    *out = NULL;

    if (len > max_size) {
        diag_add(d, c.path, 0, "%zu bytes: larger than the limit of %zu bytes (max_td_size)", len,
                 max_size);
        return -EINVAL;
    }
    if (!buf && len) {
        diag_add(d, c.path, 0, "no data");
        return -EINVAL;
    }
    /* A UTF-8 byte order mark is not JSON but some editors write one. */
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) {
        buf += 3;
        len -= 3;
    }
    td = calloc(1, sizeof(*td));
    if (!td)
        return -ENOMEM;
    c.td = td;
    td->path = strdup(c.path);
    if (!td->path) {
        r = -ENOMEM;
        goto out;
    }
    json_error_t err;
    char eb[JSON_ERROR_TEXT_LENGTH + 8];
    td->json = json_loadb(buf ? buf : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!td->json) {
        diag_add(d, c.path, err.line > 0 ? (unsigned)err.line : 0, "not valid JSON: %s (column %d)",
                 shown(eb, sizeof(eb), err.text, false), err.column);
        r = -EINVAL;
        goto out;
    }
    if (too_deep(td->json, 0, max_depth)) {
        diag_add(d, c.path, 0, "JSON nested deeper than %zu levels (max_json_depth)", max_depth);
        r = -EINVAL;
        goto out;
    }
    if (!json_is_object(td->json)) {
        diag_add(d, c.path, 0, "not a Thing Description: the document is not a JSON object");
        r = -EINVAL;
        goto out;
    }
    if ((r = parse_thing(&c, td)) < 0 || (r = parse_affordances(&c, td)) < 0)
        goto out;
    json_t *forms = json_object_get(td->json, "forms");
    if (forms && !json_is_array(forms)) {
        warn(&c, "top-level \"forms\" is not an array; ignored");
        forms = NULL;
    }
    if ((r = parse_forms(&c, NULL, forms, &td->forms, &td->n_forms)) < 0)
        goto out;
    if (c.n_usable == 0) {
        diag_add(d, c.path, 0,
                 "no usable form: no href resolves to an http, https, coap, coaps, mqtt or "
                 "mqtts URI with a host");
        r = -EINVAL;
        goto out;
    }
    if (c.n_supported == 0)
        warn(&c, "every form needs TLS to the device (https, coaps, mqtts); wotgw reaches "
                 "devices over plain http, coap and mqtt only, so no interaction can be routed");
    *out = td;
    td = NULL;
    r = 0;
out:
    if (c.n_warn > TD_MAX_WARNINGS)
        diag_warn(d, c.path, 0, "%u more warnings not shown", c.n_warn - TD_MAX_WARNINGS);
    if (r == -EINVAL && c.thing_model)
        diag_add(d, c.path, 0,
                 "a Thing Model, not a Thing Description (\"{{placeholders}}\" in an href, "
                 "base or id)");
    if (r == -ENOMEM)
        diag_add(d, c.path, 0, "out of memory");
    td_free(td);
    return r;
}

int td_load_file(const char *path, const struct td_limits *lim, struct td **out, struct diags *d)
{
    int r;
    char *buf = NULL;
    size_t len = 0;
    size_t max_size = lim && lim->max_size ? lim->max_size : (1u << 20);
    *out = NULL;
    r = util_read_file(path, max_size, &buf, &len);
    if (r == -EFBIG) {
        diag_add(d, path, 0, "larger than the limit of %zu bytes (max_td_size)", max_size);
        r = -EINVAL;
        goto out;
    }
    if (r < 0) {
        diag_add(d, path, 0, "cannot read the Thing Description: %s", strerror(-r));
        r = r == -ENOMEM ? r : -EINVAL;
        goto out;
    }
    r = td_parse(path, buf, len, lim, out, d);
out:
    free(buf);
    return r;
}

void td_free(struct td *td)
{
    if (!td)
        return;
    for (size_t i = 0; i < td->n_affs; i++) {
        struct td_affordance *a = &td->affs[i];
        for (size_t k = 0; k < a->n_forms; k++)
            form_clear(&a->forms[k]);
        free(a->forms);
        free(a->name);
    }
    for (size_t k = 0; k < td->n_forms; k++)
        form_clear(&td->forms[k]);
    free(td->forms);
    free(td->affs);
    free(td->path);
    free(td->id);
    free(td->title);
    free(td->base);
    json_decref(td->json);
    free(td);
}

/* ---- look-ups ------------------------------------------------------------ */

const struct td_affordance *td_find(const struct td *td, enum wot_aff_kind kind, const char *name)
{
    if (!td || !name)
        return NULL;
    for (size_t i = 0; i < td->n_affs; i++)
        if (td->affs[i].kind == kind && !strcmp(td->affs[i].name, name))
            return &td->affs[i];
    return NULL;
}

const struct td_affordance *td_find_name(const struct td *td, const char *name)
{
    static const enum wot_aff_kind order[] = {AFF_PROPERTY, AFF_ACTION, AFF_EVENT};
    for (size_t k = 0; k < ARRAY_SIZE(order); k++) {
        const struct td_affordance *a = td_find(td, order[k], name);
        if (a)
            return a;
    }
    return NULL;
}

const struct td_form *td_find_form(const struct td *td, const struct td_affordance *aff,
                                   enum wot_op op, int pref)
{
    if (!td || (int)op < 0 || op >= WOT_OP__COUNT)
        return NULL;
    const struct td_form *forms = aff ? aff->forms : td->forms;
    size_t n = aff ? aff->n_forms : td->n_forms;
    const struct td_form *first = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct td_form *f = &forms[i];
        if (!f->supported || f->oscore || !(f->ops & (1u << op)))
            continue;
        if (pref < 0 || (int)f->protocol == pref)
            return f;
        if (!first)
            first = f;
    }
    return first;
}

uint32_t td_ops(const struct td *td, const struct td_affordance *aff)
{
    if (!td)
        return 0;
    const struct td_form *forms = aff ? aff->forms : td->forms;
    size_t n = aff ? aff->n_forms : td->n_forms;
    uint32_t ops = 0;
    for (size_t i = 0; i < n; i++)
        if (forms[i].supported)
            ops |= forms[i].ops;
    return ops;
}

const struct td_form *td_find_oscore_form(const struct td *td, const struct td_affordance *aff,
                                          int op)
{
    if (!td || op >= WOT_OP__COUNT)
        return NULL;
    const struct td_form *forms = aff ? aff->forms : td->forms;
    size_t n = aff ? aff->n_forms : td->n_forms;
    for (size_t i = 0; i < n; i++)
        if (forms[i].oscore && (op < 0 || (forms[i].ops & (1u << op))))
            return &forms[i];
    return NULL;
}
