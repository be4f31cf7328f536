/* config.c - the validated configuration model; see config.h and
 * wotgw.conf(5). Cleanup style: goto to one exit; allocation failures in
 * the validators set ctx.oom and surface as -ENOMEM at the end. */
#define _GNU_SOURCE
#include "config.h"
#include "mqtt_topic.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_STATE_DIR  "/var/lib/wotgw"
#define DEFAULT_REALM      "wotgw"
#define DEFAULT_LISTEN     "0.0.0.0:8443"
#define DEFAULT_BASE_URL   "https://localhost:8443"
#define DEFAULT_APIKEY_HDR "X-API-Key"
#define DEFAULT_ALGS       (JWT_ALG_ES256 | JWT_ALG_EDDSA)
#define DEFAULT_LEEWAY_S   30
#define MAX_LEEWAY_S       300
#define MAX_URL_LEN        2048
#define MAX_REALM_LEN      128
#define MAX_ISS_LEN        1024
#define MAX_HEADER_NAME    64
#define MAX_ERRORS         200 /* reported; the rest are counted */

struct ctx {
    struct config *c;
    struct diags *d;
    size_t n_errors;
    bool oom;
};

static void cerr(struct ctx *x, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void cerr(struct ctx *x, unsigned line, const char *fmt, ...)
{
    va_list ap;
    if (++x->n_errors > MAX_ERRORS) {
        if (x->n_errors == MAX_ERRORS + 1)
            diag_add(x->d, x->c->path, 0, "too many errors (more than %d), the rest not shown",
                     MAX_ERRORS);
        return;
    }
    va_start(ap, fmt);
    diag_addv(x->d, false, x->c->path, line, fmt, ap);
    va_end(ap);
}

static void cwarn(struct ctx *x, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void cwarn(struct ctx *x, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_addv(x->d, true, x->c->path, line, fmt, ap);
    va_end(ap);
}

static char *xstrdup(struct ctx *x, const char *s)
{
    char *r = strdup(s);
    if (!r)
        x->oom = true;
    return r;
}

static char *xjoin(struct ctx *x, const char *dir, const char *rel)
{
    char *r = util_path_join(dir, rel);
    if (!r)
        x->oom = true;
    return r;
}

static void label(const struct ini_section *s, char *buf, size_t n)
{
    if (ini_section_label(s, buf, n) < 0)
        snprintf(buf, n, "[%s]", s->type);
}

/* Fetches a key and marks it used. Returns the entry when present with a
 * non-empty value, NULL when absent or empty (empty: an error). */
static struct ini_entry *get(struct ctx *x, struct ini_section *s, const char *key)
{
    struct ini_entry *e = ini_get(s, key);
    if (e && !*e->value) {
        cerr(x, e->line, "%s: empty value", key);
        return NULL;
    }
    return e;
}

static void require(struct ctx *x, struct ini_section *s, const char *key)
{
    if (ini_get(s, key))
        return;
    char l[INI_SECTION_LABEL_MAX];
    label(s, l, sizeof(l));
    cerr(x, s->line, "missing required key '%s' in %s", key, l);
}

/* ---- unknown keys ---------------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(prev));
    }
    return prev[lb];
}

static bool is_policy_key(const char *k)
{
    static const char *const pfx[] = {"security", "allow", "scopes"};
    for (size_t i = 0; i < ARRAY_SIZE(pfx); i++) {
        size_t n = strlen(pfx[i]);
        if (!strncmp(k, pfx[i], n) && (k[n] == '\0' || (k[n] == '.' && k[n + 1] != '\0')))
            return true;
    }
    return false;
}

/* Reports every key of s that nobody consumed (policy keys of a thing
 * excepted) and marks it, so that ini_report_unused() stays quiet. */
static void report_unknown(struct ctx *x, struct ini_section *s, const char *const *known,
                           bool policy)
{
    char l[INI_SECTION_LABEL_MAX];
    label(s, l, sizeof(l));
    for (size_t i = 0; i < s->n_entries; i++) {
        struct ini_entry *e = &s->entries[i];
        if (e->used || (policy && is_policy_key(e->key)))
            continue;
        e->used = true;
        const char *best = NULL;
        size_t bd = 3; /* suggest at distance 1 or 2 only */
        for (size_t k = 0; known[k]; k++) {
            size_t dd = edit_distance(e->key, known[k]);
            /* "max_body" for "max_body_size" */
            size_t kl = strlen(e->key);
            if (dd > 2 && kl >= 4 && !strncmp(known[k], e->key, kl))
                dd = 2;
            if (dd < bd)
                bd = dd, best = known[k];
        }
        if (best)
            cerr(x, e->line, "unknown key '%s' in %s (did you mean '%s'?)", e->key, l, best);
        else
            cerr(x, e->line, "unknown key '%s' in %s", e->key, l);
    }
}

/* ---- value checks ------------------------------------------------------------ */

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* [A-Za-z0-9._~-]{1,64}, and not "." or "..": a safe URL path segment. */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CONFIG_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
        return false;
    for (const char *p = s; *p; p++)
        if (!is_alpha(*p) && !is_digit(*p) && !strchr("._~-", *p))
            return false;
    return true;
}

/* RFC 9110 token */
static bool valid_http_token(const char *s)
{
    if (!*s)
        return false;
    for (const char *p = s; *p; p++)
        if (!is_alpha(*p) && !is_digit(*p) && !strchr("!#$%&'*+-.^_`|~", *p))
            return false;
    return true;
}

static bool no_blank(const char *s)
{
    return !strpbrk(s, " \t");
}

/* An https URL: "https://" host [":" port] [path] [? query when allowed];
 * no user info, no fragment. Writes a reason into why. */
static bool valid_https_url(const char *v, bool allow_query, const char **why)
{
    if (strlen(v) > MAX_URL_LEN) {
        *why = "longer than 2048 characters";
        return false;
    }
    if (strncasecmp(v, "https://", 8)) {
        *why = "must start with https://";
        return false;
    }
    const char *a = v + 8, *ae = a + strcspn(a, "/?#");
    if (memchr(a, '@', (size_t)(ae - a))) {
        *why = "must not contain user information ('@')";
        return false;
    }
    const char *port = NULL;
    if (*a == '[') {
        const char *rb = memchr(a, ']', (size_t)(ae - a));
        char buf[INET6_ADDRSTRLEN + 1];
        struct in6_addr a6;
        if (!rb || (size_t)(rb - a - 1) >= sizeof(buf)) {
            *why = "has a broken [IPv6] host";
            return false;
        }
        memcpy(buf, a + 1, (size_t)(rb - a - 1));
        buf[rb - a - 1] = '\0';
        if (inet_pton(AF_INET6, buf, &a6) != 1) {
            *why = "has a broken [IPv6] host";
            return false;
        }
        if (rb + 1 < ae) {
            if (rb[1] != ':') {
                *why = "has text after the [IPv6] host";
                return false;
            }
            port = rb + 2;
        }
    } else {
        const char *h = a;
        for (; h < ae && *h != ':'; h++) {
            if (!is_alpha(*h) && !is_digit(*h) && *h != '.' && *h != '-') {
                *why = "has an invalid character in the host name";
                return false;
            }
        }
        if (h == a) {
            *why = "has no host";
            return false;
        }
        if (h < ae)
            port = h + 1;
    }
    if (port) {
        unsigned long pv = 0;
        const char *q = port;
        for (; q < ae && is_digit(*q) && pv <= 65535; q++)
            pv = pv * 10 + (unsigned long)(*q - '0');
        if (q != ae || q == port || pv == 0 || pv > 65535) {
            *why = "has an invalid port (1 to 65535)";
            return false;
        }
    }
    for (const char *p = ae; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '<' || ch == '>' || ch == '\\' ||
            ch == '^' || ch == '`' || ch == '{' || ch == '|' || ch == '}') {
            *why = "contains a character that must be percent-encoded";
            return false;
        }
        if (ch == '#') {
            *why = "must not have a fragment ('#')";
            return false;
        }
        if (ch == '?' && !allow_query) {
            *why = "must not have a query ('?')";
            return false;
        }
        if (ch == '%' && !(is_hex(p[1]) && is_hex(p[2]))) {
            *why = "has a broken percent-encoding";
            return false;
        }
    }
    return true;
}

/* "host:port" or "[v6]:port" with an IP literal host. Fills the host
 * text (without brackets), whether it is a wildcard, and the port. */
static bool parse_listen(const char *w, char *host, size_t hostlen, bool *v6, bool *wildcard,
                         unsigned *port, const char **why)
{
    const char *hb, *he, *colon;
    *v6 = false;
    if (*w == '[') {
        hb = w + 1;
        he = strchr(hb, ']');
        if (!he) {
            *why = "missing ']' after the IPv6 address";
            return false;
        }
        if (he[1] != ':') {
            *why = "expected ':PORT' after ']'";
            return false;
        }
        colon = he + 1;
        *v6 = true;
    } else {
        colon = strrchr(w, ':');
        if (!colon) {
            *why = "expected HOST:PORT";
            return false;
        }
        hb = w;
        he = colon;
        if (memchr(hb, ':', (size_t)(he - hb))) {
            *why = "write IPv6 addresses in brackets, e.g. [::]:8443";
            return false;
        }
    }
    if ((size_t)(he - hb) >= hostlen || he == hb) {
        *why = "expected an IP address before the port";
        return false;
    }
    memcpy(host, hb, (size_t)(he - hb));
    host[he - hb] = '\0';
    uint64_t pv;
    if (util_parse_uint(colon + 1, 1, 65535, &pv) < 0) {
        *why = "the port must be a number from 1 to 65535";
        return false;
    }
    *port = (unsigned)pv;
    if (*v6) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1) {
            *why = "not an IPv6 address";
            return false;
        }
        *wildcard = !memcmp(&a6, &in6addr_any, sizeof(a6));
    } else {
        struct in_addr a4;
        if (inet_pton(AF_INET, host, &a4) != 1) {
            *why = "the host must be an IP address (0.0.0.0 for all IPv4 addresses, [::] for "
                   "all IPv6 addresses); names are not resolved";
            return false;
        }
        *wildcard = a4.s_addr == htonl(INADDR_ANY);
    }
    return true;
}

bool config_parse_address(const char *w, char *host, size_t hostlen, unsigned *port)
{
    bool v6, wild;
    const char *why;
    return parse_listen(w, host, hostlen, &v6, &wild, port, &why) && !wild;
}

static int parse_algorithms_why(const char *s, unsigned *out, const char **bad, size_t *badlen,
                                const char **why)
{
    unsigned bits = 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *b = p;
        while (*p && *p != ' ' && *p != '\t' && *p != ',')
            p++;
        size_t n = (size_t)(p - b);
        *bad = b;
        *badlen = n;
        if (n == 5 && !memcmp(b, "ES256", 5))
            bits |= JWT_ALG_ES256;
        else if (n == 5 && !memcmp(b, "EdDSA", 5))
            bits |= JWT_ALG_EDDSA;
        else if (n == 5 && !memcmp(b, "RS256", 5))
            bits |= JWT_ALG_RS256;
        else {
            if (n == 4 && !strncasecmp(b, "none", 4))
                *why = "unsigned tokens are never accepted";
            else if (n >= 2 && !strncasecmp(b, "HS", 2))
                *why = "HMAC algorithms need a shared secret and invite key confusion";
            else
                *why = "unknown or unsupported algorithm";
            return -EINVAL;
        }
    }
    if (!bits) {
        *bad = s;
        *badlen = 0;
        *why = "no algorithm given";
        return -EINVAL;
    }
    *out = bits;
    return 0;
}

int config_parse_algorithms(const char *s, unsigned *out)
{
    const char *bad, *why;
    size_t badlen;
    return parse_algorithms_why(s, out, &bad, &badlen, &why);
}

/* ---- [limits] ---------------------------------------------------------------- */

enum limit_kind { LIM_SIZE, LIM_COUNT, LIM_DURATION };

struct limit_def {
    const char *key;
    enum limit_kind kind;
    size_t off;
    uint64_t def, min, max;
};

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define SEC 1000000ull

static const struct limit_def limit_defs[] = {
        {"max_body_size", LIM_SIZE, offsetof(struct limits, max_body_size), LIMIT_DEFAULT_MAX_BODY,
         KiB, 256 * MiB},
        {"max_header_size", LIM_SIZE, offsetof(struct limits, max_header_size),
         LIMIT_DEFAULT_MAX_HEADER, KiB, MiB},
        {"max_connections", LIM_COUNT, offsetof(struct limits, max_connections),
         LIMIT_DEFAULT_MAX_CONNECTIONS, 1, 65536},
        {"max_pending_requests", LIM_COUNT, offsetof(struct limits, max_pending_requests),
         LIMIT_DEFAULT_MAX_PENDING, 1, 65536},
        {"device_timeout", LIM_DURATION, offsetof(struct limits, device_timeout_us),
         LIMIT_DEFAULT_DEVICE_TIMEOUT, 100000, 600 * SEC},
        {"max_json_depth", LIM_COUNT, offsetof(struct limits, max_json_depth),
         LIMIT_DEFAULT_MAX_JSON_DEPTH, 8, 256},
        {"max_token_size", LIM_SIZE, offsetof(struct limits, max_token_size),
         LIMIT_DEFAULT_MAX_TOKEN, KiB, 64 * KiB},
        {"max_td_size", LIM_SIZE, offsetof(struct limits, max_td_size), LIMIT_DEFAULT_MAX_TD, KiB,
         16 * MiB},
        {"max_streams", LIM_COUNT, offsetof(struct limits, max_streams), LIMIT_DEFAULT_MAX_STREAMS,
         1, 65536},
        {"idle_timeout", LIM_DURATION, offsetof(struct limits, idle_timeout_us),
         LIMIT_DEFAULT_CONN_TIMEOUT, SEC, 3600 * SEC},
};

static void fmt_value(enum limit_kind k, uint64_t v, char *buf, size_t n)
{
    static const struct {
        uint64_t m;
        const char *u;
    } sizes[] = {{1ull << 30, "G"}, {MiB, "M"}, {KiB, "K"}},
      durs[] = {{3600 * SEC, "h"}, {60 * SEC, "m"}, {SEC, "s"}, {1000, "ms"}};
    if (k == LIM_SIZE) {
        for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
            if (v && v % sizes[i].m == 0) {
                snprintf(buf, n, "%llu%s", (unsigned long long)(v / sizes[i].m), sizes[i].u);
                return;
            }
    } else if (k == LIM_DURATION) {
        for (size_t i = 0; i < ARRAY_SIZE(durs); i++)
            if (v && v % durs[i].m == 0) {
                snprintf(buf, n, "%llu%s", (unsigned long long)(v / durs[i].m), durs[i].u);
                return;
            }
        snprintf(buf, n, "%lluus", (unsigned long long)v);
        return;
    }
    snprintf(buf, n, "%llu", (unsigned long long)v);
}

static void do_limits(struct ctx *x, struct ini_section *s)
{
    struct limits *l = &x->c->limits;
    for (size_t i = 0; i < ARRAY_SIZE(limit_defs); i++)
        *(uint64_t *)((char *)l + limit_defs[i].off) = limit_defs[i].def;
    if (!s)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(limit_defs); i++) {
        const struct limit_def *ld = &limit_defs[i];
        struct ini_entry *e = get(x, s, ld->key);
        if (!e)
            continue;
        uint64_t v = 0;
        int r;
        const char *what;
        switch (ld->kind) {
        case LIM_SIZE:
            r = util_parse_size(e->value, &v);
            what = "a size (bytes, or a number followed by K, M or G)";
            break;
        case LIM_DURATION:
            r = util_parse_duration_us(e->value, &v);
            what = "a duration (e.g. 500ms, 10s, 5m, 1h; a bare number is seconds)";
            break;
        default:
            r = util_parse_uint(e->value, 0, UINT64_MAX, &v);
            what = "a whole number";
            break;
        }
        char lo[32], hi[32];
        fmt_value(ld->kind, ld->min, lo, sizeof(lo));
        fmt_value(ld->kind, ld->max, hi, sizeof(hi));
        if (r == -EINVAL)
            cerr(x, e->line, "%s: '%s' is not %s", ld->key, e->value, what);
        else if (r < 0 || v < ld->min || v > ld->max)
            cerr(x, e->line, "%s = %s is out of range (%s to %s)", ld->key, e->value, lo, hi);
        else
            *(uint64_t *)((char *)l + ld->off) = v;
    }
    static const char *const known[] = {"max_body_size",
                                        "max_header_size",
                                        "max_connections",
                                        "max_pending_requests",
                                        "device_timeout",
                                        "max_json_depth",
                                        "max_token_size",
                                        "max_td_size",
                                        "max_streams",
                                        "idle_timeout",
                                        NULL};
    report_unknown(x, s, known, false);
    if (l->max_token_size > l->max_header_size) {
        struct ini_entry *e = ini_get(s, "max_token_size");
        cwarn(x, e ? e->line : s->line,
              "max_token_size (%llu) is larger than max_header_size (%llu): such tokens cannot "
              "arrive in an HTTP header",
              (unsigned long long)l->max_token_size, (unsigned long long)l->max_header_size);
    }
}

/* ---- [https] ------------------------------------------------------------------ */

static void do_https(struct ctx *x, struct ini_section *s)
{
    struct https_conf *h = &x->c->https;
    struct config *c = x->c;
    struct ini_entry *e;
    h->tls_min = TLS_MIN_1_3;
    if (!s) {
        h->listen = calloc(1, sizeof(char *));
        if (!h->listen)
            x->oom = true;
        return;
    }
    h->enabled = true;
    h->line = s->line;

    e = get(x, s, "listen");
    const char *lv = e ? e->value : DEFAULT_LISTEN;
    unsigned lline = e ? e->line : s->line;
    if (util_split_words(lv, &h->listen, &h->n_listen) < 0) {
        x->oom = true;
        return;
    }
    if (h->n_listen > CONFIG_MAX_LISTEN)
        cerr(x, lline, "listen: more than %d addresses", CONFIG_MAX_LISTEN);
    for (size_t i = 0; i < h->n_listen && i < CONFIG_MAX_LISTEN; i++) {
        char host[INET6_ADDRSTRLEN + 1];
        bool v6, wild;
        unsigned port;
        const char *why;
        if (!parse_listen(h->listen[i], host, sizeof(host), &v6, &wild, &port, &why)) {
            cerr(x, lline, "listen: '%s': %s", h->listen[i], why);
            continue;
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(h->listen[k], h->listen[i]))
                cerr(x, lline, "listen: '%s' is given twice", h->listen[i]);
    }

    if ((e = get(x, s, "certificate")))
        h->certificate = xjoin(x, c->dir, e->value);
    if ((e = get(x, s, "key")))
        h->key = xjoin(x, c->dir, e->value);
    if ((e = get(x, s, "client_ca")))
        h->client_ca = xjoin(x, c->dir, e->value);
    require(x, s, "certificate");
    require(x, s, "key");

    if ((e = get(x, s, "tls_min_version"))) {
        if (!strcmp(e->value, "1.3"))
            h->tls_min = TLS_MIN_1_3;
        else if (!strcmp(e->value, "1.2"))
            h->tls_min = TLS_MIN_1_2;
        else if (!strcmp(e->value, "1.0") || !strcmp(e->value, "1.1"))
            cerr(x, e->line,
                 "tls_min_version = %s is not allowed: TLS 1.0 and 1.1 are deprecated (RFC "
                 "8996); use 1.3 (the default) or 1.2",
                 e->value);
        else
            cerr(x, e->line, "tls_min_version must be 1.3 or 1.2, not '%s'", e->value);
    }
    static const char *const known[] = {"listen",    "certificate",     "key",
                                        "client_ca", "tls_min_version", NULL};
    report_unknown(x, s, known, false);
}

/* "https://HOST:PORT" from the first listen address. */
static char *default_base_url(struct ctx *x)
{
    const struct https_conf *h = &x->c->https;
    char host[INET6_ADDRSTRLEN + 1], *url = NULL;
    bool v6, wild;
    unsigned port;
    const char *why;
    if (!h->enabled || !h->n_listen ||
        !parse_listen(h->listen[0], host, sizeof(host), &v6, &wild, &port, &why))
        return xstrdup(x, DEFAULT_BASE_URL);
    if (wild)
        v6 = false, strcpy(host, "localhost");
    if (asprintf(&url, "https://%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port) < 0) {
        x->oom = true;
        return NULL;
    }
    return url;
}

/* ---- [coaps] ----------------------------------------------------------------- */

/* "coaps://HOST:PORT": the host of base_url, the port of the first listen. */
static char *default_coaps_url(struct ctx *x, const char *scheme, unsigned port)
{
    const char *b = x->c->base_url, *a, *e;
    char *url = NULL;
    if (!b || strncasecmp(b, "https://", 8))
        b = DEFAULT_BASE_URL;
    a = b + 8;
    if (*a == '[')
        e = strchr(a, ']') ? strchr(a, ']') + 1 : a + strcspn(a, "/?#");
    else
        e = a + strcspn(a, ":/?#");
    if (asprintf(&url, "%s://%.*s:%u", scheme, (int)(e - a), a, port) < 0) {
        x->oom = true;
        return NULL;
    }
    return url;
}

/* After [https] and [gateway]: certificate, key and client_ca default to
 * those of [https], the public URL to base_url's host. */
static void do_coaps(struct ctx *x, struct ini_section *s)
{
    struct config *c = x->c;
    struct coaps_conf *k = &c->coaps;
    struct ini_entry *e;
    const char *why;
    k->max_sessions = COAPS_DEFAULT_MAX_SESSIONS;
    k->max_observers_per_peer = COAPS_DEFAULT_MAX_OBSERVERS;
    if (!s)
        return;
    k->enabled = true;
    k->line = s->line;

    e = get(x, s, "listen");
    const char *lv = e ? e->value : COAPS_DEFAULT_LISTEN;
    unsigned lline = e ? e->line : s->line, first_port = COAPS_DEFAULT_PORT;
    if (util_split_words(lv, &k->listen, &k->n_listen) < 0) {
        x->oom = true;
        return;
    }
    if (k->n_listen == 0)
        cerr(x, lline, "listen: no address");
    if (k->n_listen > CONFIG_MAX_LISTEN)
        cerr(x, lline, "listen: more than %d addresses", CONFIG_MAX_LISTEN);
    for (size_t i = 0; i < k->n_listen && i < CONFIG_MAX_LISTEN; i++) {
        char host[INET6_ADDRSTRLEN + 1];
        bool v6, wild;
        unsigned port;
        if (!parse_listen(k->listen[i], host, sizeof(host), &v6, &wild, &port, &why)) {
            cerr(x, lline, "listen: '%s': %s", k->listen[i], why);
            continue;
        }
        if (i == 0)
            first_port = port;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(k->listen[j], k->listen[i]))
                cerr(x, lline, "listen: '%s' is given twice", k->listen[i]);
    }

    if ((e = get(x, s, "url"))) {
        char *https = NULL;
        size_t n = strlen(e->value);
        while (n > 8 && e->value[n - 1] == '/')
            n--;
        if (strncasecmp(e->value, "coaps://", 8)) {
            cerr(x, e->line, "url '%s' must start with coaps://", e->value);
        } else if (asprintf(&https, "https://%.*s", (int)(n - 8), e->value + 8) < 0) {
            x->oom = true;
        } else if (!valid_https_url(https, false, &why)) {
            cerr(x, e->line, "url '%s' %s", e->value, why);
        } else if (strcspn(https + 8, "/?#") != strlen(https + 8)) {
            cerr(x, e->line, "url '%s': give only coaps://HOST[:PORT], without a path", e->value);
        } else if (!(k->url = strndup(e->value, n))) {
            x->oom = true;
        }
        free(https);
    } else {
        k->url = default_coaps_url(x, "coaps", first_port);
    }

    if ((e = get(x, s, "certificate")))
        k->certificate = xjoin(x, c->dir, e->value);
    else if (c->https.certificate)
        k->certificate = xstrdup(x, c->https.certificate);
    if ((e = get(x, s, "key")))
        k->key = xjoin(x, c->dir, e->value);
    else if (c->https.key && !ini_get(s, "certificate"))
        k->key = xstrdup(x, c->https.key);
    if ((e = get(x, s, "client_ca")))
        k->client_ca = xjoin(x, c->dir, e->value);
    else if (c->https.client_ca)
        k->client_ca = xstrdup(x, c->https.client_ca);
    if (!k->certificate != !k->key)
        cerr(x, s->line, "[coaps]: give certificate and key together (or neither: PSK only)");
    if (k->client_ca && !k->certificate)
        cerr(x, s->line, "[coaps]: client_ca needs a certificate and key of the gateway");

    if ((e = get(x, s, "max_sessions"))) {
        uint64_t v;
        if (util_parse_uint(e->value, 1, 65536, &v) < 0)
            cerr(x, e->line, "max_sessions = %s is out of range (1 to 65536)", e->value);
        else
            k->max_sessions = v;
    }
    if ((e = get(x, s, "max_observers_per_peer"))) {
        uint64_t v;
        if (util_parse_uint(e->value, 0, 1024, &v) < 0)
            cerr(x, e->line, "max_observers_per_peer = %s is out of range (0 to 1024)", e->value);
        else
            k->max_observers_per_peer = v;
    }

    e = get(x, s, "rpk_listen");
    if (util_split_words(e ? e->value : "", &k->rpk_listen, &k->n_rpk_listen) < 0) {
        x->oom = true;
        return;
    }
    if (k->n_rpk_listen > CONFIG_MAX_LISTEN)
        cerr(x, e->line, "rpk_listen: more than %d addresses", CONFIG_MAX_LISTEN);
    for (size_t i = 0; i < k->n_rpk_listen && i < CONFIG_MAX_LISTEN; i++) {
        char host[INET6_ADDRSTRLEN + 1];
        bool v6, wild;
        unsigned port;
        if (!parse_listen(k->rpk_listen[i], host, sizeof(host), &v6, &wild, &port, &why)) {
            cerr(x, e->line, "rpk_listen: '%s': %s", k->rpk_listen[i], why);
            continue;
        }
        for (size_t j = 0; j < k->n_listen; j++)
            if (!strcmp(k->listen[j], k->rpk_listen[i]))
                cerr(x, e->line, "rpk_listen: '%s' is also a listen address", k->rpk_listen[i]);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(k->rpk_listen[j], k->rpk_listen[i]))
                cerr(x, e->line, "rpk_listen: '%s' is given twice", k->rpk_listen[i]);
    }
    if ((e = get(x, s, "rpk_key")))
        k->rpk_key = xjoin(x, c->dir, e->value);
    if (k->n_rpk_listen && !k->rpk_key)
        cerr(x, s->line, "[coaps]: rpk_listen needs rpk_key (the gateway's EC private key)");
    if (!k->n_rpk_listen && k->rpk_key)
        cerr(x, s->line, "[coaps]: rpk_key is set but rpk_listen is not");
    /* plain CoAP for nosec forms */
    e = get(x, s, "coap_listen");
    if (util_split_words(e ? e->value : "", &k->coap_listen, &k->n_coap_listen) < 0) {
        x->oom = true;
        return;
    }
    unsigned coap_port = 5683;
    if (k->n_coap_listen > CONFIG_MAX_LISTEN)
        cerr(x, e->line, "coap_listen: more than %d addresses", CONFIG_MAX_LISTEN);
    for (size_t i = 0; i < k->n_coap_listen && i < CONFIG_MAX_LISTEN; i++) {
        char host[INET6_ADDRSTRLEN + 1];
        bool v6, wild;
        unsigned port;
        if (!parse_listen(k->coap_listen[i], host, sizeof(host), &v6, &wild, &port, &why)) {
            cerr(x, e->line, "coap_listen: '%s': %s", k->coap_listen[i], why);
            continue;
        }
        if (i == 0)
            coap_port = port;
        for (size_t j = 0; j < k->n_listen; j++)
            if (!strcmp(k->listen[j], k->coap_listen[i]))
                cerr(x, e->line, "coap_listen: '%s' is also a listen address", k->coap_listen[i]);
        for (size_t j = 0; j < k->n_rpk_listen; j++)
            if (!strcmp(k->rpk_listen[j], k->coap_listen[i]))
                cerr(x, e->line, "coap_listen: '%s' is also an rpk_listen address",
                     k->coap_listen[i]);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(k->coap_listen[j], k->coap_listen[i]))
                cerr(x, e->line, "coap_listen: '%s' is given twice", k->coap_listen[i]);
    }
    if ((e = get(x, s, "coap_url"))) {
        size_t n = strlen(e->value);
        while (n > 7 && e->value[n - 1] == '/')
            n--;
        if (!k->n_coap_listen)
            cerr(x, e->line, "coap_url is set but coap_listen is not");
        else if (strncasecmp(e->value, "coap://", 7) || n <= 7 ||
                 strcspn(e->value + 7, "/?#") < n - 7)
            cerr(x, e->line, "coap_url '%s': give coap://HOST[:PORT], without a path", e->value);
        else if (!(k->coap_url = strndup(e->value, n)))
            x->oom = true;
    } else if (k->n_coap_listen) {
        k->coap_url = default_coaps_url(x, "coap", coap_port);
    }
    static const char *const known[] = {"listen",
                                        "url",
                                        "certificate",
                                        "key",
                                        "client_ca",
                                        "max_sessions",
                                        "rpk_listen",
                                        "rpk_key",
                                        "coap_listen",
                                        "coap_url",
                                        "max_observers_per_peer",
                                        NULL};
    report_unknown(x, s, known, false);
}

/* ---- [gateway] --------------------------------------------------------------- */

static void do_gateway(struct ctx *x, struct ini_section *s)
{
    struct config *c = x->c;
    struct ini_entry *e;
    const char *why;

    if ((e = get(x, s, "td_dir")))
        c->td_dir = xjoin(x, c->dir, e->value);
    else
        c->td_dir = xjoin(x, c->dir, "things");
    if ((e = get(x, s, "state_dir")))
        c->state_dir = xjoin(x, c->dir, e->value);
    else
        c->state_dir = xstrdup(x, DEFAULT_STATE_DIR);

    if ((e = get(x, s, "base_url"))) {
        if (!valid_https_url(e->value, false, &why)) {
            cerr(x, e->line, "base_url '%s' %s", e->value, why);
        } else if ((c->base_url = xstrdup(x, e->value))) {
            /* no trailing '/': forms append "/things/..." */
            size_t n = strlen(c->base_url);
            while (n > 8 && c->base_url[n - 1] == '/')
                c->base_url[--n] = '\0';
        }
    }
    if (!c->base_url && !x->oom)
        c->base_url = default_base_url(x);

    c->realm = NULL;
    if ((e = get(x, s, "realm"))) {
        bool ok = strlen(e->value) <= MAX_REALM_LEN;
        for (const char *p = e->value; ok && *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f || *p == '"' || *p == '\\')
                ok = false;
        if (ok)
            c->realm = xstrdup(x, e->value);
        else
            cerr(x, e->line, "realm: at most %d printable ASCII characters without '\"' or '\\'",
                 MAX_REALM_LEN);
    }
    if (!c->realm)
        c->realm = xstrdup(x, DEFAULT_REALM);

    if ((e = get(x, s, "log_level"))) {
        if (!strcmp(e->value, "debug"))
            c->debug = true;
        else if (strcmp(e->value, "info"))
            cerr(x, e->line, "log_level must be info or debug, not '%s'", e->value);
    }
    if (s) {
        static const char *const known[] = {"td_dir", "state_dir", "base_url",
                                            "realm",  "log_level", NULL};
        report_unknown(x, s, known, false);
    }
}

/* ---- [credentials] ------------------------------------------------------------ */

static void do_credentials(struct ctx *x, struct ini_section *s)
{
    struct config *c = x->c;
    struct credentials_conf *cr = &c->credentials;
    struct ini_entry *e;
    if ((e = get(x, s, "users"))) {
        cr->users = xjoin(x, c->dir, e->value);
        cr->users_line = e->line;
    }
    if ((e = get(x, s, "apikeys"))) {
        cr->apikeys = xjoin(x, c->dir, e->value);
        cr->apikeys_line = e->line;
    }
    if ((e = get(x, s, "cert_identities"))) {
        cr->cert_identities = xjoin(x, c->dir, e->value);
        cr->cert_identities_line = e->line;
    }
    if ((e = get(x, s, "psk"))) {
        cr->psk = xjoin(x, c->dir, e->value);
        cr->psk_line = e->line;
    }
    if ((e = get(x, s, "oscore"))) {
        cr->oscore = xjoin(x, c->dir, e->value);
        cr->oscore_line = e->line;
    }
    if ((e = get(x, s, "cose_keys"))) {
        cr->cose_keys = xjoin(x, c->dir, e->value);
        cr->cose_keys_line = e->line;
    }
    if ((e = get(x, s, "apikey_header"))) {
        static const char *const reserved[] = {
                "Authorization",  "Proxy-Authorization", "Cookie",     "Host",
                "Content-Length", "Content-Type",        "Connection", "Transfer-Encoding",
        };
        bool res = false;
        for (size_t i = 0; i < ARRAY_SIZE(reserved); i++)
            if (!strcasecmp(e->value, reserved[i]))
                res = true;
        if (!valid_http_token(e->value) || strlen(e->value) > MAX_HEADER_NAME)
            cerr(x, e->line,
                 "apikey_header '%s' is not an HTTP header name (letters, digits and "
                 "!#$%%&'*+-.^_`|~, at most %d)",
                 e->value, MAX_HEADER_NAME);
        else if (res)
            cerr(x, e->line, "apikey_header cannot be %s: HTTP itself uses that header", e->value);
        else
            cr->apikey_header = xstrdup(x, e->value);
    }
    if (!cr->apikey_header)
        cr->apikey_header = xstrdup(x, DEFAULT_APIKEY_HDR);
    if (s) {
        static const char *const known[] = {"users", "apikeys", "cert_identities", "apikey_header",
                                            "psk",   "oscore",  "cose_keys",       NULL};
        report_unknown(x, s, known, false);
    }
}

/* ---- [issuer NAME] ---------------------------------------------------------- */

static void issuer_url(struct ctx *x, struct ini_section *s, const char *key, char **dst)
{
    struct ini_entry *e = get(x, s, key);
    const char *why;
    if (!e)
        return;
    if (!valid_https_url(e->value, true, &why))
        cerr(x, e->line, "%s '%s' %s", key, e->value, why);
    else
        *dst = xstrdup(x, e->value);
}

static uint64_t secs_key(struct ctx *x, struct ini_section *s, const char *key, uint64_t def,
                         uint64_t lo, uint64_t hi, const char *range);

/* The key source of an [issuer]: exactly one of jwks, jwks_uri,
 * introspection_url, with the keys that go with it. */
static void do_issuer_source(struct ctx *x, struct ini_section *s, struct issuer_conf *ic)
{
    struct config *c = x->c;
    struct ini_entry *e;
    struct ini_entry *ej = ini_get(s, "jwks"), *eu = ini_get(s, "jwks_uri"),
                     *ei = ini_get(s, "introspection_url");
    int n = !!ej + !!eu + !!ei;
    if (n == 0)
        cerr(x, s->line,
             "missing required key 'jwks' in [issuer %s] (or jwks_uri, or introspection_url)",
             s->name);
    else if (n > 1)
        cerr(x, (eu ? eu : ei)->line,
             "[issuer %s]: give only one of jwks, jwks_uri and introspection_url", s->name);
    issuer_url(x, s, "jwks_uri", &ic->jwks_uri);
    issuer_url(x, s, "introspection_url", &ic->introspection_url);
    ic->jwks_refresh_s = secs_key(x, s, "jwks_refresh", 3600, 1, 7 * 86400, "1s to 7d");
    ic->jwks_max_stale_s = secs_key(x, s, "jwks_max_stale", 86400, 0, 30 * 86400, "0 to 30d");
    ic->jwks_refetch_min_s = secs_key(x, s, "jwks_refetch_min", 60, 1, 86400, "1s to 1d");
    ic->introspection_cache_ttl_s =
            secs_key(x, s, "introspection_cache_ttl", 60, 1, 3600, "1s to 1h");
    ic->introspection_cache = 1024;
    if ((e = get(x, s, "introspection_cache"))) {
        uint64_t v;
        if (util_parse_uint(e->value, 16, 65536, &v) < 0)
            cerr(x, e->line, "introspection_cache = %s: give a count from 16 to 65536", e->value);
        else
            ic->introspection_cache = v;
    }
    if ((e = get(x, s, "introspection_client_id"))) {
        if (!*e->value || strlen(e->value) > 255 || !no_blank(e->value))
            cerr(x, e->line, "introspection_client_id: 1 to 255 characters without blanks");
        else
            ic->introspection_client_id = xstrdup(x, e->value);
    }
    if ((e = get(x, s, "introspection_secret_file")))
        ic->introspection_secret_file = xjoin(x, c->dir, e->value);
    if ((e = get(x, s, "ca")))
        ic->ca = xjoin(x, c->dir, e->value);
    if (ei && (!ic->introspection_client_id || !ic->introspection_secret_file))
        cerr(x, ei->line,
             "introspection_url needs introspection_client_id and introspection_secret_file");
    static const char *const uri_keys[] = {"jwks_refresh", "jwks_max_stale", "jwks_refetch_min",
                                           NULL};
    static const char *const intro_keys[] = {"introspection_client_id", "introspection_secret_file",
                                             "introspection_cache", "introspection_cache_ttl",
                                             NULL};
    for (size_t i = 0; uri_keys[i]; i++)
        if (!eu && (e = ini_get(s, uri_keys[i])))
            cerr(x, e->line, "%s needs jwks_uri", uri_keys[i]);
    for (size_t i = 0; intro_keys[i]; i++)
        if (!ei && (e = ini_get(s, intro_keys[i])))
            cerr(x, e->line, "%s needs introspection_url", intro_keys[i]);
    if (!eu && !ei && (e = ini_get(s, "ca")))
        cerr(x, e->line, "ca needs jwks_uri or introspection_url");
}

static void do_issuer(struct ctx *x, struct ini_section *s, struct issuer_conf *ic)
{
    struct config *c = x->c;
    struct ini_entry *e;
    ic->line = s->line;
    ic->name = xstrdup(x, s->name);
    ic->algorithms = DEFAULT_ALGS;
    ic->leeway_s = DEFAULT_LEEWAY_S;

    if ((e = get(x, s, "issuer"))) {
        if (strlen(e->value) > MAX_ISS_LEN || !no_blank(e->value)) {
            cerr(x, e->line, "issuer: at most %d characters without blanks", MAX_ISS_LEN);
        } else {
            for (struct issuer_conf *o = c->issuers; o < ic; o++)
                if (o->iss && !strcmp(o->iss, e->value))
                    cerr(x, e->line, "issuer '%s' is already configured in [issuer %s] (line %u)",
                         e->value, o->name, o->line);
            ic->iss = xstrdup(x, e->value);
        }
    }
    if ((e = get(x, s, "jwks"))) {
        ic->jwks = xjoin(x, c->dir, e->value);
        ic->jwks_line = e->line;
    }
    if ((e = get(x, s, "audience"))) {
        size_t n = 0;
        if (util_split_words(e->value, &ic->audiences, &n) < 0)
            x->oom = true;
        else if (n > CONFIG_MAX_AUDIENCES)
            cerr(x, e->line, "audience: more than %d values", CONFIG_MAX_AUDIENCES);
        for (size_t i = 0; ic->audiences && i < n; i++)
            if (strlen(ic->audiences[i]) > MAX_ISS_LEN)
                cerr(x, e->line, "audience: a value longer than %d characters", MAX_ISS_LEN);
    }
    require(x, s, "issuer");
    require(x, s, "audience");
    do_issuer_source(x, s, ic);

    if ((e = get(x, s, "algorithms"))) {
        const char *bad, *why;
        size_t badlen;
        if (parse_algorithms_why(e->value, &ic->algorithms, &bad, &badlen, &why) < 0) {
            if (badlen)
                cerr(x, e->line,
                     "algorithms: '%.*s' is not accepted: %s (allowed: ES256 EdDSA "
                     "RS256)",
                     (int)badlen, bad, why);
            else
                cerr(x, e->line, "algorithms: %s (allowed: ES256 EdDSA RS256)", why);
        }
    }
    if ((e = get(x, s, "leeway"))) {
        uint64_t us;
        int r = util_parse_duration_us(e->value, &us);
        if (r == -EINVAL)
            cerr(x, e->line, "leeway: '%s' is not a duration (e.g. 30s, 2m)", e->value);
        else if (r < 0 || us > MAX_LEEWAY_S * SEC)
            cerr(x, e->line, "leeway = %s is out of range (0 to 5m)", e->value);
        else if (us % SEC)
            cerr(x, e->line, "leeway = %s: give whole seconds", e->value);
        else
            ic->leeway_s = us / SEC;
    }
    issuer_url(x, s, "authorization_url", &ic->authorization_url);
    issuer_url(x, s, "token_url", &ic->token_url);
    issuer_url(x, s, "device_authorization_url", &ic->device_authorization_url);

    struct ini_entry *fe = get(x, s, "flow");
    if (fe) {
        const char *f = fe->value;
        if (!strcmp(f, "client") || !strcmp(f, "code") || !strcmp(f, "device"))
            ic->flow = xstrdup(x, f);
        else if (!strcmp(f, "implicit") || !strcmp(f, "password"))
            cerr(x, fe->line,
                 "flow = %s is refused: the OAuth 2.0 Security Best Current Practice (RFC "
                 "9700) forbids the %s grant; use code, device or client",
                 f, f);
        else
            cerr(x, fe->line, "flow must be client, code or device, not '%s'", f);
    } else if (ic->token_url) {
        ic->flow = xstrdup(x, "client");
    }
    /* what each flow needs in the TD's oauth2 definition */
    unsigned fl = fe ? fe->line : s->line;
    struct ini_entry *tu = ini_get(s, "token_url");
    if (ic->flow) {
        if (!ic->token_url && !tu)
            cerr(x, fl, "flow = %s needs token_url", ic->flow);
        if (!strcmp(ic->flow, "code") && !ic->authorization_url && !ini_get(s, "authorization_url"))
            cerr(x, fl, "flow = code needs authorization_url");
        if (!strcmp(ic->flow, "device") && !ic->device_authorization_url &&
            !ini_get(s, "device_authorization_url"))
            cerr(x, fl, "flow = device needs device_authorization_url");
    } else if (!fe && !tu) {
        struct ini_entry *o = ini_get(s, "authorization_url");
        if (!o)
            o = ini_get(s, "device_authorization_url");
        if (o)
            cerr(x, o->line, "%s needs token_url (and a flow)", o->key);
    }
    static const char *const known[] = {"issuer",
                                        "jwks",
                                        "jwks_uri",
                                        "jwks_refresh",
                                        "jwks_max_stale",
                                        "jwks_refetch_min",
                                        "introspection_url",
                                        "introspection_client_id",
                                        "introspection_secret_file",
                                        "introspection_cache",
                                        "introspection_cache_ttl",
                                        "ca",
                                        "audience",
                                        "algorithms",
                                        "leeway",
                                        "authorization_url",
                                        "token_url",
                                        "device_authorization_url",
                                        "flow",
                                        NULL};
    report_unknown(x, s, known, false);
}

/* ---- [oauth] ----------------------------------------------------------------- */

/* A duration key in whole seconds within [lo, hi]; def when absent. */
static uint64_t secs_key(struct ctx *x, struct ini_section *s, const char *key, uint64_t def,
                         uint64_t lo, uint64_t hi, const char *range)
{
    struct ini_entry *e = get(x, s, key);
    uint64_t us;
    if (!e)
        return def;
    int r = util_parse_duration_us(e->value, &us);
    if (r == -EINVAL)
        cerr(x, e->line, "%s: '%s' is not a duration (e.g. 30s, 10m, 720h)", key, e->value);
    else if (r < 0 || us % SEC || us / SEC < lo || us / SEC > hi)
        cerr(x, e->line, "%s = %s is out of range (%s, whole seconds)", key, e->value, range);
    else
        return us / SEC;
    return def;
}

/* "*", "user:NAME" or "group:NAME" with NAME as in the users file. */
static bool owner_ok(const char *w)
{
    static const char chars[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-";
    const char *n = NULL;
    if (!strcmp(w, "*"))
        return true;
    if (!strncmp(w, "user:", 5))
        n = w + 5;
    else if (!strncmp(w, "group:", 6))
        n = w + 6;
    return n && *n && strlen(n) <= 64 && strspn(n, chars) == strlen(n);
}

/* "https://host[:port]" of base_url. */
static char *url_origin(struct ctx *x, const char *url)
{
    const char *a = url + 8, *end = a + strcspn(a, "/?#");
    char *o = strndup(url, (size_t)(end - url));
    if (!o)
        x->oom = true;
    return o;
}

static void do_oauth(struct ctx *x, struct ini_section *s, struct issuer_conf *ic)
{
    struct config *c = x->c;
    struct oauth_conf *o = &c->oauth;
    struct ini_entry *e;
    const char *why;
    if (!s)
        return;
    o->line = s->line;
    if ((e = get(x, s, "enabled")) && util_parse_bool(e->value, &o->enabled) < 0)
        cerr(x, e->line, "enabled must be yes or no, not '%s'", e->value);
    if ((e = get(x, s, "issuer"))) {
        const char *path = e->value + 8 + strcspn(e->value + 8, "/?#");
        if (!valid_https_url(e->value, false, &why))
            cerr(x, e->line, "issuer '%s' %s", e->value, why);
        else if (*path && strcmp(path, "/"))
            cerr(x, e->line, "issuer '%s': give only https://HOST[:PORT], without a path",
                 e->value);
        else if (!(o->issuer = strndup(e->value, (size_t)(path - e->value))))
            x->oom = true;
    } else if (c->base_url) {
        o->issuer = url_origin(x, c->base_url);
    }
    if ((e = get(x, s, "audience"))) {
        if (strlen(e->value) > MAX_ISS_LEN || !no_blank(e->value))
            cerr(x, e->line, "audience: at most %d characters without blanks", MAX_ISS_LEN);
        else
            o->audience = xstrdup(x, e->value);
    } else if (c->base_url) {
        o->audience = xstrdup(x, c->base_url);
    }
    e = get(x, s, "clients");
    o->clients = xjoin(x, c->dir, e ? e->value : "clients");
    o->clients_line = e ? e->line : s->line;
    if (c->state_dir)
        o->dir = xjoin(x, c->state_dir, "oauth");
    o->access_token_lifetime_s = secs_key(x, s, "access_token_lifetime", 600, 60, 3600, "1m to 1h");
    o->refresh_token_lifetime_s =
            secs_key(x, s, "refresh_token_lifetime", 30 * 86400, 3600, 365 * 86400, "1h to 8760h");
    o->code_lifetime_s = secs_key(x, s, "code_lifetime", 60, 10, 60, "10s to 60s");
    o->device_code_lifetime_s = secs_key(x, s, "device_code_lifetime", 600, 60, 1800, "1m to 30m");
    o->device_poll_interval_s = secs_key(x, s, "device_poll_interval", 5, 1, 60, "1s to 60s");
    o->session_lifetime_s = secs_key(x, s, "session_lifetime", 3600, 300, 43200, "5m to 12h");
    if ((e = get(x, s, "flow"))) {
        if (!strcmp(e->value, "code") || !strcmp(e->value, "device") || !strcmp(e->value, "client"))
            o->flow = xstrdup(x, e->value);
        else if (!strcmp(e->value, "implicit") || !strcmp(e->value, "password"))
            cerr(x, e->line, "flow = %s is refused (RFC 9700); use code, device or client",
                 e->value);
        else
            cerr(x, e->line, "flow must be code, device or client, not '%s'", e->value);
    }
    if (!o->flow)
        o->flow = xstrdup(x, "code");
    e = get(x, s, "resource_owners");
    if (util_split_words(e ? e->value : "*", &o->owners, &(size_t){0}) < 0) {
        x->oom = true;
    } else {
        for (char **w = o->owners; *w; w++)
            if (!owner_ok(*w))
                cerr(x, e ? e->line : s->line,
                     "resource_owners: '%s' is not *, user:NAME or group:NAME", *w);
    }
    static const char *const known[] = {"enabled",
                                        "issuer",
                                        "audience",
                                        "clients",
                                        "access_token_lifetime",
                                        "refresh_token_lifetime",
                                        "code_lifetime",
                                        "device_code_lifetime",
                                        "device_poll_interval",
                                        "session_lifetime",
                                        "flow",
                                        "resource_owners",
                                        NULL};
    report_unknown(x, s, known, false);
    if (!o->enabled)
        return;
    if (!c->https.enabled)
        cerr(x, s->line, "the authorization server ([oauth] enabled) needs an [https] section");
    if (config_find_issuer(c, OAUTH_LOCAL_ISSUER))
        cerr(x, s->line, "[issuer %s] is reserved for the built-in authorization server; rename it",
             OAUTH_LOCAL_ISSUER);
    for (size_t i = 0; o->issuer && i < c->n_issuers; i++)
        if (c->issuers[i].iss && !strcmp(c->issuers[i].iss, o->issuer))
            cerr(x, s->line, "issuer '%s' is already configured in [issuer %s] (line %u)",
                 o->issuer, c->issuers[i].name, c->issuers[i].line);
    if (!ic || !o->issuer || !o->audience)
        return;
    /* the implicit [issuer local] */
    ic->line = s->line;
    ic->local = true;
    ic->name = xstrdup(x, OAUTH_LOCAL_ISSUER);
    ic->iss = xstrdup(x, o->issuer);
    ic->jwks = o->dir ? xjoin(x, o->dir, "keys.json") : NULL;
    ic->jwks_line = s->line;
    ic->algorithms = JWT_ALG_ES256 | JWT_ALG_EDDSA;
    ic->leeway_s = OAUTH_LOCAL_LEEWAY_S;
    ic->audiences = calloc(2, sizeof(char *));
    if (ic->audiences)
        ic->audiences[0] = xstrdup(x, o->audience);
    else
        x->oom = true;
    if (asprintf(&ic->authorization_url, "%s/oauth/authorize", o->issuer) < 0 ||
        asprintf(&ic->token_url, "%s/oauth/token", o->issuer) < 0 ||
        asprintf(&ic->device_authorization_url, "%s/oauth/device_authorization", o->issuer) < 0)
        x->oom = true;
    ic->flow = xstrdup(x, o->flow);
    c->n_issuers++;
}

/* ---- [mqtt] ------------------------------------------------------------------ */

/* "mqtts://HOST:8883" with the host of base_url. */
static char *default_broker_url(struct ctx *x)
{
    const char *b = x->c->base_url, *a, *e;
    char *url = NULL;
    if (!b || strncasecmp(b, "https://", 8))
        b = DEFAULT_BASE_URL;
    a = b + 8;
    if (*a == '[')
        e = strchr(a, ']') ? strchr(a, ']') + 1 : a + strcspn(a, "/?#");
    else
        e = a + strcspn(a, ":/?#");
    if (asprintf(&url, "mqtts://%.*s:%d", (int)(e - a), a, MQTT_DEFAULT_PORT) < 0) {
        x->oom = true;
        return NULL;
    }
    return url;
}

static bool is_loopback(const char *host, bool v6)
{
    if (v6) {
        struct in6_addr a6;
        return inet_pton(AF_INET6, host, &a6) == 1 && !memcmp(&a6, &in6addr_loopback, sizeof(a6));
    }
    struct in_addr a4;
    return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

static void do_mqtt(struct ctx *x, struct ini_section *s)
{
    struct config *c = x->c;
    struct mqtt_conf *m = &c->mqtt;
    struct ini_entry *e;
    const char *why;
    if (!s)
        return;
    m->enabled = true;
    m->line = s->line;

    if ((e = get(x, s, "broker_url"))) {
        char *https = NULL;
        size_t n = strlen(e->value);
        while (n > 8 && e->value[n - 1] == '/')
            n--;
        if (strncasecmp(e->value, "mqtts://", 8)) {
            cerr(x, e->line, "broker_url '%s' must start with mqtts:// (consumers use TLS)",
                 e->value);
        } else if (asprintf(&https, "https://%.*s", (int)(n - 8), e->value + 8) < 0) {
            x->oom = true;
        } else if (!valid_https_url(https, false, &why)) {
            cerr(x, e->line, "broker_url '%s' %s", e->value, why);
        } else if (strcspn(https + 8, "/?#") != strlen(https + 8)) {
            cerr(x, e->line, "broker_url '%s': give only mqtts://HOST[:PORT], without a path",
                 e->value);
        } else if (!(m->broker_url = strndup(e->value, n))) {
            x->oom = true;
        }
        free(https);
    } else {
        m->broker_url = default_broker_url(x);
    }

    if ((e = get(x, s, "topic_prefix"))) {
        if (mqtt_prefix_valid(e->value))
            m->topic_prefix = xstrdup(x, e->value);
        else
            cerr(x, e->line,
                 "topic_prefix '%s': use 1 to %d bytes of levels of A-Z a-z 0-9 . _ ~ - "
                 "separated by single '/', not starting with '$'",
                 e->value, MQTT_TOPIC_PREFIX_MAX);
    } else {
        m->topic_prefix = xstrdup(x, MQTT_TOPIC_DEFAULT_PREFIX);
    }

    e = get(x, s, "broker");
    const char *bv = e ? e->value : MQTT_DEFAULT_BROKER;
    char host[INET6_ADDRSTRLEN + 1];
    bool v6, wild, broker_ok = false;
    unsigned port;
    if (!parse_listen(bv, host, sizeof(host), &v6, &wild, &port, &why))
        cerr(x, e ? e->line : s->line, "broker: '%s': %s", bv, why);
    else if (wild)
        cerr(x, e ? e->line : s->line, "broker: '%s' is not an address to connect to", bv);
    else
        broker_ok = true;
    m->broker_loopback = broker_ok && is_loopback(host, v6);
    m->broker = xstrdup(x, bv);

    if ((e = get(x, s, "client_id"))) {
        size_t n = strlen(e->value);
        if (n > MQTT_CLIENT_ID_MAX ||
            strspn(e->value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                             "0123456789._-") != n)
            cerr(x, e->line, "client_id '%s': use 1 to %d of A-Z a-z 0-9 . _ -", e->value,
                 MQTT_CLIENT_ID_MAX);
        else
            m->client_id = xstrdup(x, e->value);
    } else {
        m->client_id = xstrdup(x, MQTT_DEFAULT_CLIENT_ID);
    }

    if ((e = get(x, s, "password_file"))) {
        m->password_file = xjoin(x, c->dir, e->value);
        m->password_file_line = e->line;
    }
    require(x, s, "password_file");
    if ((e = get(x, s, "broker_ca")))
        m->broker_ca = xjoin(x, c->dir, e->value);
    else if (broker_ok && !m->broker_loopback)
        cerr(x, s->line,
             "broker '%s' is not on the loopback interface: set broker_ca (wotgw then connects "
             "to it with TLS)",
             bv);

    static const char *const known[] = {"broker_url",    "topic_prefix", "broker", "client_id",
                                        "password_file", "broker_ca",    NULL};
    report_unknown(x, s, known, false);
}

/* ---- [thing NAME] ------------------------------------------------------------ */

static void do_thing(struct ctx *x, struct ini_section *s, struct thing_conf *tc)
{
    struct ini_entry *e;
    tc->line = s->line;
    tc->name = xstrdup(x, s->name);
    tc->section = s;
    if ((e = get(x, s, "td"))) {
        tc->td = xjoin(x, x->c->td_dir ? x->c->td_dir : x->c->dir, e->value);
        tc->td_line = e->line;
    }
    require(x, s, "td");
    tc->poll_interval_s =
            secs_key(x, s, "poll_interval", THING_DEFAULT_POLL_S, 1, 86400, "1s to 24h");
    if ((e = get(x, s, "cose_sign")) && util_parse_bool(e->value, &tc->cose_sign) < 0)
        cerr(x, e->line, "cose_sign must be yes or no, not '%s'", e->value);
    if ((e = get(x, s, "cose_commands"))) {
        if (!strcmp(e->value, "required"))
            tc->cose_commands = true;
        else if (strcmp(e->value, "no"))
            cerr(x, e->line, "cose_commands must be required or no, not '%s'", e->value);
    }
    if ((e = get(x, s, "cose_encrypt_to"))) {
        size_t n = 0;
        tc->cose_encrypt_to_line = e->line;
        if (util_split_words(e->value, &tc->cose_encrypt_to, &n) < 0 || !n)
            cerr(x, e->line, "cose_encrypt_to: one or more principals separated by commas");
        for (size_t i = 0; tc->cose_encrypt_to && i < n; i++) {
            const char *pr = tc->cose_encrypt_to[i];
            if (strlen(pr) > MQTT_TOPIC_NAME_MAX || strchr(pr, '#'))
                cerr(x, e->line, "cose_encrypt_to: '%s' is not a principal", pr);
            for (size_t j = 0; j < i; j++)
                if (!strcmp(pr, tc->cose_encrypt_to[j]))
                    cerr(x, e->line, "cose_encrypt_to: '%s' is named twice", pr);
        }
    }
    static const char *const known[] = {
            "td",        "security",      "allow",           "scopes", "poll_interval",
            "cose_sign", "cose_commands", "cose_encrypt_to", NULL};
    report_unknown(x, s, known, true);
}

/* ---- the whole file ------------------------------------------------------------ */

static bool singleton(struct ctx *x, struct ini_section *s)
{
    if (s->name) {
        cerr(x, s->line, "[%s] takes no name", s->type);
        return false;
    }
    return true;
}

static bool named(struct ctx *x, struct ini_section *s)
{
    if (!s->name) {
        cerr(x, s->line, "[%s] needs a name: [%s NAME]", s->type, s->type);
        return false;
    }
    if (!valid_name(s->name)) {
        cerr(x, s->line, "[%s] name '%s': use 1 to %d of A-Z a-z 0-9 . _ ~ - (and not '.' or '..')",
             s->type, s->name, CONFIG_NAME_MAX);
        return false;
    }
    return true;
}

static char *config_dir(const char *path)
{
    char *dir = util_dirname(path);
    if (!dir)
        return NULL;
    char *abs = realpath(dir, NULL);
    if (abs) {
        free(dir);
        return abs;
    }
    return dir;
}

static int build(struct config *c, int ini_r, struct diags *d)
{
    struct ctx x = {.c = c, .d = d};
    struct ini_section *gateway = NULL, *https = NULL, *limits = NULL, *creds = NULL;
    struct ini_section *oauth = NULL; /* [oauth] */
    struct ini_section *mqtt = NULL;  /* [mqtt] */
    struct ini_section *coaps = NULL; /* [coaps] */
    size_t n_iss = 0, n_things = 0;
    int r;

    if (ini_r == -ENOMEM)
        return -ENOMEM;
    if (ini_r < 0 && ini_r != -EINVAL)
        return ini_r;

    for (size_t i = 0; i < c->ini.n_sections; i++) {
        struct ini_section *s = &c->ini.sections[i];
        const char *t = s->type;
        if (!strcmp(t, "gateway")) {
            if (singleton(&x, s))
                gateway = s;
        } else if (!strcmp(t, "https")) {
            if (singleton(&x, s))
                https = s;
        } else if (!strcmp(t, "limits")) {
            if (singleton(&x, s))
                limits = s;
        } else if (!strcmp(t, "credentials")) {
            if (singleton(&x, s))
                creds = s;
        } else if (!strcmp(t, "oauth")) {
            if (singleton(&x, s))
                oauth = s;
        } else if (!strcmp(t, "issuer")) {
            if (named(&x, s))
                n_iss++;
        } else if (!strcmp(t, "thing")) {
            if (named(&x, s))
                n_things++;
        } else if (!strcmp(t, "mqtt")) {
            if (singleton(&x, s))
                mqtt = s;
        } else if (!strcmp(t, "coaps")) {
            if (singleton(&x, s))
                coaps = s;
        } else if (!strcmp(t, "coap")) {
            cerr(&x, s->line, "section [%s] is not supported by this version", t);
        } else {
            char l[INI_SECTION_LABEL_MAX];
            label(s, l, sizeof(l));
            cerr(&x, s->line,
                 "unknown section %s (known: gateway, https, limits, credentials, issuer, oauth, "
                 "mqtt, coaps, thing)",
                 l);
        }
    }
    if (n_iss > CONFIG_MAX_ISSUERS) {
        cerr(&x, 0, "more than %d [issuer] sections", CONFIG_MAX_ISSUERS);
        n_iss = CONFIG_MAX_ISSUERS;
    }
    if (n_things > CONFIG_MAX_THINGS) {
        cerr(&x, 0, "more than %d [thing] sections", CONFIG_MAX_THINGS);
        n_things = CONFIG_MAX_THINGS;
    }
    /* one more slot for the [oauth] server's own issuer */
    if ((n_iss || oauth) && !(c->issuers = calloc(n_iss + 1, sizeof(*c->issuers))))
        return -ENOMEM;
    if (n_things && !(c->things = calloc(n_things, sizeof(*c->things))))
        return -ENOMEM;

    do_limits(&x, limits);
    do_https(&x, https);
    do_gateway(&x, gateway);
    do_credentials(&x, creds);
    do_mqtt(&x, mqtt);
    do_coaps(&x, coaps);
    for (size_t i = 0; i < c->ini.n_sections && !x.oom; i++) {
        struct ini_section *s = &c->ini.sections[i];
        if (!s->name || !valid_name(s->name))
            continue;
        if (!strcmp(s->type, "issuer") && c->n_issuers < n_iss)
            do_issuer(&x, s, &c->issuers[c->n_issuers++]);
        else if (!strcmp(s->type, "thing") && c->n_things < n_things)
            do_thing(&x, s, &c->things[c->n_things++]);
    }
    if (!x.oom)
        do_oauth(&x, oauth, c->issuers ? &c->issuers[c->n_issuers] : NULL);

    if (x.oom)
        r = -ENOMEM;
    else if (x.n_errors || ini_r < 0)
        r = -EINVAL;
    else
        r = 0;
    return r;
}

/* Puts the records this load added (from index start on) in line order,
 * stable, so that `wotgw -t` reads top to bottom. */
static void sort_diags(struct diags *d, size_t start)
{
    if (!d)
        return;
    for (size_t i = start + 1; i < d->n; i++) {
        struct diag t = d->v[i];
        size_t j = i;
        for (; j > start && d->v[j - 1].line > t.line; j--)
            d->v[j] = d->v[j - 1];
        d->v[j] = t;
    }
}

static struct config *config_new(const char *path)
{
    struct config *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->path = strdup(path);
    c->dir = config_dir(path);
    if (!c->path || !c->dir) {
        config_free(c);
        return NULL;
    }
    return c;
}

int config_load(const char *path, struct config **out, struct diags *d)
{
    int r;
    size_t start = d ? d->n : 0;
    *out = NULL;
    struct config *c = config_new(path);
    if (!c)
        return -ENOMEM;
    r = ini_load(path, CONFIG_MAX_FILE_SIZE, &c->ini, d);
    if (r < 0 && r != -EINVAL && r != -ENOMEM)
        goto out; /* unreadable: ini_load said why */
    r = build(c, r, d);
    sort_diags(d, start);
out:
    if (r < 0)
        config_free(c);
    else
        *out = c;
    return r;
}

int config_parse(const char *path, const char *text, size_t len, struct config **out,
                 struct diags *d)
{
    int r;
    size_t start = d ? d->n : 0;
    *out = NULL;
    struct config *c = config_new(path);
    if (!c)
        return -ENOMEM;
    if (len > CONFIG_MAX_FILE_SIZE) {
        diag_add(d, path, 0, "file is larger than %u bytes", CONFIG_MAX_FILE_SIZE);
        r = -EFBIG;
        goto out;
    }
    r = ini_parse(path, text, len, &c->ini, d);
    r = build(c, r, d);
    sort_diags(d, start);
out:
    if (r < 0)
        config_free(c);
    else
        *out = c;
    return r;
}

void config_free(struct config *c)
{
    if (!c)
        return;
    free(c->td_dir);
    free(c->state_dir);
    free(c->base_url);
    free(c->realm);
    util_strv_free(c->https.listen);
    free(c->https.certificate);
    free(c->https.key);
    free(c->https.client_ca);
    free(c->credentials.users);
    free(c->credentials.apikeys);
    free(c->credentials.cose_keys);
    free(c->credentials.cert_identities);
    free(c->credentials.apikey_header);
    free(c->credentials.psk);
    free(c->credentials.oscore);
    util_strv_free(c->coaps.listen);
    free(c->coaps.url);
    free(c->coaps.certificate);
    free(c->coaps.key);
    free(c->coaps.client_ca);
    util_strv_free(c->coaps.rpk_listen);
    util_strv_free(c->coaps.coap_listen);
    free(c->coaps.coap_url);
    free(c->coaps.rpk_key);
    for (size_t i = 0; i < c->n_issuers; i++) {
        struct issuer_conf *ic = &c->issuers[i];
        free(ic->name);
        free(ic->iss);
        free(ic->jwks);
        free(ic->jwks_uri);
        free(ic->introspection_url);
        free(ic->introspection_client_id);
        free(ic->introspection_secret_file);
        free(ic->ca);
        util_strv_free(ic->audiences);
        free(ic->authorization_url);
        free(ic->token_url);
        free(ic->device_authorization_url);
        free(ic->flow);
    }
    free(c->issuers);
    free(c->oauth.issuer);
    free(c->oauth.audience);
    free(c->oauth.clients);
    free(c->oauth.dir);
    free(c->oauth.flow);
    util_strv_free(c->oauth.owners);
    free(c->mqtt.broker_url);
    free(c->mqtt.topic_prefix);
    free(c->mqtt.broker);
    free(c->mqtt.client_id);
    free(c->mqtt.password_file);
    free(c->mqtt.broker_ca);
    for (size_t i = 0; i < c->n_things; i++) {
        free(c->things[i].name);
        free(c->things[i].td);
        util_strv_free(c->things[i].cose_encrypt_to);
    }
    free(c->things);
    ini_free(&c->ini);
    free(c->path);
    free(c->dir);
    free(c);
}

const struct issuer_conf *config_find_issuer(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->n_issuers; i++)
        if (c->issuers[i].name && !strcmp(c->issuers[i].name, name))
            return &c->issuers[i];
    return NULL;
}

const struct thing_conf *config_find_thing(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->n_things; i++)
        if (c->things[i].name && !strcmp(c->things[i].name, name))
            return &c->things[i];
    return NULL;
}
