/* http_util.c - see http_util.h. Pure functions; cleanup style: early
 * returns (nothing to release except in the SSE parser, which frees in
 * http_sse_parser_free()). */
#define _GNU_SOURCE
#include "north/http_util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy.h"
#include "util.h"

/* ---- paths ----------------------------------------------------------------------- */

static bool is_pchar(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("-._~!$&'()*+,;=:@", c) != NULL;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

int http_path_split(const char *path, char *buf, size_t buflen, const char **segs, size_t max_segs,
                    size_t *n_segs)
{
    size_t plen = strnlen(path, HTTP_PATH_MAX + 1);
    *n_segs = 0;
    if (plen > HTTP_PATH_MAX)
        return -E2BIG;
    if (path[0] != '/')
        return -EINVAL;
    if (buflen < plen + 1)
        return -ENOBUFS;
    if (plen == 1)
        return 0;
    size_t n = 0, o = 0;
    const char *p = path + 1;
    for (;;) {
        if (n == max_segs)
            return -E2BIG;
        char *seg = buf + o;
        while (*p && *p != '/') {
            unsigned char c = (unsigned char)*p;
            if (c == '%') {
                int h = hexval((unsigned char)p[1]), l = h < 0 ? -1 : hexval((unsigned char)p[2]);
                if (h < 0 || l < 0)
                    return -EINVAL;
                c = (unsigned char)(h << 4 | l);
                if (c < 0x20 || c == 0x7f)
                    return -EINVAL;
                p += 3;
            } else if (is_pchar(c)) {
                p++;
            } else {
                return -EINVAL;
            }
            buf[o++] = (char)c;
        }
        buf[o++] = '\0';
        if (!strcmp(seg, ".") || !strcmp(seg, "..") ||
            !utf8_ok((const unsigned char *)seg, strlen(seg)))
            return -EINVAL;
        segs[n++] = seg;
        if (!*p)
            break;
        p++; /* the '/' */
    }
    *n_segs = n;
    return 0;
}

int http_route_parse(const char *path, char *buf, size_t buflen, struct http_route *out)
{
    const char *s[HTTP_SEGMENTS_MAX];
    size_t n;
    *out = (struct http_route){.kind = HTTP_ROUTE_NONE};
    int r = http_path_split(path, buf, buflen, s, HTTP_SEGMENTS_MAX, &n);
    if (r == -E2BIG && strnlen(path, HTTP_PATH_MAX + 1) <= HTTP_PATH_MAX)
        return 0; /* too many segments: no route has that many */
    if (r < 0)
        return r;
    if (n == 2 && !strcmp(s[0], ".well-known") && !strcmp(s[1], "wot")) {
        out->kind = HTTP_ROUTE_WELLKNOWN;
        return 0;
    }
    if (n < 1 || strcmp(s[0], "things"))
        return 0;
    if (n == 1) {
        out->kind = HTTP_ROUTE_THINGS;
        return 0;
    }
    if (!*s[1])
        return 0;
    out->thing = s[1];
    if (n == 2) {
        out->kind = HTTP_ROUTE_TD;
        return 0;
    }
    if (n == 3) {
        if (!strcmp(s[2], "properties"))
            out->kind = HTTP_ROUTE_READALL;
        return 0;
    }
    if (!*s[3])
        return 0;
    out->aff = s[3];
    if (n == 4) {
        if (!strcmp(s[2], "properties"))
            out->kind = HTTP_ROUTE_PROPERTY;
        else if (!strcmp(s[2], "actions"))
            out->kind = HTTP_ROUTE_ACTION;
        else if (!strcmp(s[2], "events"))
            out->kind = HTTP_ROUTE_EVENT;
        return 0;
    }
    if (n == 5 && !strcmp(s[2], "properties") && !strcmp(s[4], "observe"))
        out->kind = HTTP_ROUTE_OBSERVE;
    return 0;
}

enum wot_op http_route_op(enum http_route_kind kind, const char *method)
{
    bool get = !strcmp(method, "GET");
    switch (kind) {
    case HTTP_ROUTE_READALL: return get ? WOT_OP_READALLPROPERTIES : WOT_OP__INVALID;
    case HTTP_ROUTE_PROPERTY:
        if (get)
            return WOT_OP_READPROPERTY;
        return !strcmp(method, "PUT") ? WOT_OP_WRITEPROPERTY : WOT_OP__INVALID;
    case HTTP_ROUTE_OBSERVE: return get ? WOT_OP_OBSERVEPROPERTY : WOT_OP__INVALID;
    case HTTP_ROUTE_ACTION: return !strcmp(method, "POST") ? WOT_OP_INVOKEACTION : WOT_OP__INVALID;
    case HTTP_ROUTE_EVENT: return get ? WOT_OP_SUBSCRIBEEVENT : WOT_OP__INVALID;
    default: return WOT_OP__INVALID;
    }
}

size_t http_route_allow(enum http_route_kind kind, uint32_t ops, char *out, size_t cap)
{
    static const struct {
        enum http_route_kind kind;
        enum wot_op op;
        const char *method;
    } map[] = {
            {HTTP_ROUTE_READALL, WOT_OP_READALLPROPERTIES, "GET"},
            {HTTP_ROUTE_PROPERTY, WOT_OP_READPROPERTY, "GET"},
            {HTTP_ROUTE_PROPERTY, WOT_OP_WRITEPROPERTY, "PUT"},
            {HTTP_ROUTE_OBSERVE, WOT_OP_OBSERVEPROPERTY, "GET"},
            {HTTP_ROUTE_ACTION, WOT_OP_INVOKEACTION, "POST"},
            {HTTP_ROUTE_EVENT, WOT_OP_SUBSCRIBEEVENT, "GET"},
    };
    size_t len = 0;
    if (cap)
        out[0] = '\0';
    if (kind == HTTP_ROUTE_WELLKNOWN || kind == HTTP_ROUTE_THINGS || kind == HTTP_ROUTE_TD) {
        int n = snprintf(out, cap, "GET, HEAD");
        return n > 0 && (size_t)n < cap ? (size_t)n : 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
        if (map[i].kind != kind || !(ops & (1u << map[i].op)))
            continue;
        int n = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", map[i].method);
        if (n < 0 || (size_t)n >= cap - len) {
            out[len] = '\0';
            return len;
        }
        len += (size_t)n;
    }
    return len;
}

/* ---- credentials ------------------------------------------------------------------ */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

/* RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool is_b64token(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-._~+/", c))
            i++;
        else
            break;
    }
    if (i == 0)
        return false;
    while (i < n && s[i] == '=')
        i++;
    return i == n;
}

void http_parse_authorization(const char *value, struct credentials *cred, char *buf)
{
    if (!value)
        return;
    while (is_blank(*value))
        value++;
    size_t sl = strcspn(value, " \t");
    const char *param = value + sl;
    while (is_blank(*param))
        param++;
    size_t pl = strlen(param);
    while (pl && is_blank(param[pl - 1]))
        pl--;
    if (sl == 5 && !strncasecmp(value, "Basic", 5)) {
        size_t n = 0;
        /* the decoded form is at most 3/4 of the encoded one */
        if (pl == 0 || pl / 4 * 3 > HTTP_BASIC_MAX - 2 ||
            b64_decode(param, pl, (uint8_t *)buf, HTTP_BASIC_MAX - 2, &n) < 0) {
            cred->malformed = "malformed Basic credentials";
            return;
        }
        char *colon = memchr(buf, ':', n);
        if (!colon || colon == buf || has_ctl(buf, (size_t)(colon - buf))) {
            cred->malformed = "malformed Basic credentials";
            return;
        }
        *colon = '\0';
        buf[n] = '\0';
        cred->basic_user = buf;
        cred->basic_pass = colon + 1;
        cred->basic_pass_len = n - (size_t)(colon + 1 - buf);
    } else if (sl == 6 && !strncasecmp(value, "Bearer", 6)) {
        if (!is_b64token(param, pl)) {
            cred->malformed = "malformed Bearer token";
            return;
        }
        cred->bearer = param;
        cred->bearer_len = pl;
    }
}

void http_parse_apikey(const char *value, struct credentials *cred)
{
    if (!value)
        return;
    while (is_blank(*value))
        value++;
    size_t n = strlen(value);
    while (n && is_blank(value[n - 1]))
        n--;
    if (!n || has_ctl(value, n)) {
        cred->malformed = "malformed API key";
        return;
    }
    cred->apikey = value;
    cred->apikey_len = n;
}

/* ---- responses ------------------------------------------------------------------ */

/* Appends s as the inside of a quoted-string; false when it does not fit. */
static bool put_quoted(char *out, size_t cap, size_t *len, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            c = '?';
        if (c == '"' || c == '\\') {
            if (*len + 1 >= cap)
                return false;
            out[(*len)++] = '\\';
        }
        if (*len + 1 >= cap)
            return false;
        out[(*len)++] = (char)c;
    }
    out[*len] = '\0';
    return true;
}

static bool put_str(char *out, size_t cap, size_t *len, const char *s)
{
    size_t n = strlen(s);
    if (*len + n >= cap)
        return false;
    memcpy(out + *len, s, n + 1);
    *len += n;
    return true;
}

/* SCHEME realm="REALM"[, extra] */
static size_t challenge(char *out, size_t cap, const char *scheme, const char *realm,
                        const char *name, const char *value)
{
    size_t len = 0;
    out[0] = '\0';
    if (!put_str(out, cap, &len, scheme) || !put_str(out, cap, &len, " realm=\"") ||
        !put_quoted(out, cap, &len, realm) || !put_str(out, cap, &len, "\""))
        return 0;
    if (name && (!put_str(out, cap, &len, ", ") || !put_str(out, cap, &len, name) ||
                 !put_str(out, cap, &len, "=\"") || !put_quoted(out, cap, &len, value) ||
                 !put_str(out, cap, &len, "\"")))
        return 0;
    return len;
}

size_t http_challenges(unsigned schemes, const char *realm, const char *apikey_header,
                       bool invalid_token, char out[][HTTP_CHALLENGE_MAX], size_t max)
{
    size_t n = 0;
    if (!realm)
        realm = "wotgw";
    if (n < max && (schemes & (1u << SEC_BASIC)) &&
        challenge(out[n], HTTP_CHALLENGE_MAX, "Basic", realm, "charset", "UTF-8"))
        n++;
    if (n < max && (schemes & ((1u << SEC_BEARER) | (1u << SEC_OAUTH2))) &&
        challenge(out[n], HTTP_CHALLENGE_MAX, "Bearer", realm, invalid_token ? "error" : NULL,
                  "invalid_token"))
        n++;
    if (n < max && (schemes & (1u << SEC_APIKEY)) &&
        challenge(out[n], HTTP_CHALLENGE_MAX, "APIKey", realm, "header",
                  apikey_header ? apikey_header : "X-API-Key"))
        n++;
    if (n < max && (schemes & (1u << SEC_CERT)) &&
        challenge(out[n], HTTP_CHALLENGE_MAX, "ClientCert", realm, NULL, NULL))
        n++;
    return n;
}

size_t http_insufficient_scope(const char *realm, char *const *scopes, char *out, size_t cap)
{
    size_t len = 0;
    if (!cap)
        return 0;
    out[0] = '\0';
    if (!put_str(out, cap, &len, "Bearer realm=\"") ||
        !put_quoted(out, cap, &len, realm ? realm : "wotgw") ||
        !put_str(out, cap, &len, "\", error=\"insufficient_scope\""))
        return 0;
    if (scopes && scopes[0]) {
        if (!put_str(out, cap, &len, ", scope=\""))
            return 0;
        for (size_t i = 0; scopes[i]; i++)
            if ((i && !put_str(out, cap, &len, " ")) || !put_quoted(out, cap, &len, scopes[i]))
                return 0;
        if (!put_str(out, cap, &len, "\""))
            return 0;
    }
    return len;
}

const char *http_status_title(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

char *http_problem_json(int status, const char *detail, size_t *len)
{
    json_t *o = json_pack("{s:s, s:s, s:i}", "type", "about:blank", "title",
                          http_status_title(status), "status", status);
    if (!o)
        return NULL;
    if (detail && json_object_set_new(o, "detail", json_string(detail)) < 0) {
        json_decref(o);
        return NULL;
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s && len)
        *len = strlen(s);
    return s;
}

bool http_header_forwarded(const char *name)
{
    return !strcasecmp(name, "Content-Type") || !strcasecmp(name, "Accept");
}

bool http_header_hop_by_hop(const char *name)
{
    static const char *const hop[] = {
            "Connection",
            "Keep-Alive",
            "Proxy-Connection",
            "TE",
            "Trailer",
            "Transfer-Encoding",
            "Upgrade",
            "Proxy-Authenticate",
            "Proxy-Authorization",
    };
    for (size_t i = 0; i < ARRAY_SIZE(hop); i++)
        if (!strcasecmp(name, hop[i]))
            return true;
    return false;
}

static bool is_tchar(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool http_content_type_ok(const char *v)
{
    size_t n = strnlen(v, 257), i = 0;
    if (n == 0 || n > 256)
        return false;
    while (i < n && is_tchar((unsigned char)v[i]))
        i++;
    if (i == 0 || v[i] != '/')
        return false;
    size_t sub = ++i;
    while (i < n && is_tchar((unsigned char)v[i]))
        i++;
    if (i == sub)
        return false;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return false;
    }
    return true;
}

/* ---- Server-Sent Events ---------------------------------------------------------- */

size_t http_sse_encoded_max(size_t len, const char *event)
{
    /* worst case: every byte a line break -> "data: \n" (7) per byte */
    size_t ev = event && *event ? 8 + strnlen(event, HTTP_SSE_EVENT_MAX) : 0;
    return ev + 7 * (len + 1) + 2;
}

size_t http_sse_encode(const uint8_t *data, size_t len, const char *event, char *out, size_t cap)
{
    size_t o = 0;
    if (cap < http_sse_encoded_max(len, event))
        return 0;
    if (event && *event) {
        memcpy(out, "event: ", 7);
        o = 7;
        for (size_t i = 0; event[i] && i < HTTP_SSE_EVENT_MAX; i++) {
            char c = event[i];
            out[o++] = (c == '\r' || c == '\n') ? ' ' : c;
        }
        out[o++] = '\n';
    }
    size_t i = 0;
    do {
        memcpy(out + o, "data: ", 6);
        o += 6;
        while (i < len && data[i] != '\n' && data[i] != '\r')
            out[o++] = (char)data[i++];
        out[o++] = '\n';
        if (i < len) {
            if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
                i++;
            i++;
            if (i == len) { /* a final line break: one empty data line */
                memcpy(out + o, "data: \n", 7);
                o += 7;
                break;
            }
        }
    } while (i < len);
    out[o++] = '\n';
    return o;
}

void http_sse_parser_init(struct http_sse_parser *p, size_t max)
{
    *p = (struct http_sse_parser){.max = max ? max : (64u << 10)};
}

void http_sse_parser_free(struct http_sse_parser *p)
{
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
    p->line_len = p->line_cap = p->data_len = p->data_cap = 0;
}

static int grow(char **buf, size_t *cap, size_t need, size_t max)
{
    if (need <= *cap)
        return 0;
    if (need > max + 1)
        return -EMSGSIZE;
    size_t nc = *cap ? *cap : 256;
    while (nc < need)
        nc *= 2;
    if (nc > max + 1)
        nc = max + 1;
    char *nb = realloc(*buf, nc);
    if (!nb)
        return -ENOMEM;
    *buf = nb;
    *cap = nc;
    return 0;
}

static int sse_line(struct http_sse_parser *p, http_sse_event_fn fn, void *ud)
{
    const char *l = p->line ? p->line : "";
    size_t n = p->line_len;
    if (n == 0) { /* dispatch */
        int r = 0;
        if (p->has_data)
            r = fn(ud, p->event, (const uint8_t *)(p->data ? p->data : ""), p->data_len);
        p->data_len = 0;
        p->has_data = false;
        p->event[0] = '\0';
        return r;
    }
    if (l[0] == ':')
        return 0; /* comment */
    const char *colon = memchr(l, ':', n);
    size_t fl = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    if (colon && v < l + n && *v == ' ')
        v++;
    size_t vl = (size_t)(l + n - v);
    if (fl == 4 && !memcmp(l, "data", 4)) {
        size_t need = p->data_len + (p->has_data ? 1 : 0) + vl;
        if (need > p->max)
            return -EMSGSIZE;
        int r = grow(&p->data, &p->data_cap, need + 1, p->max);
        if (r < 0)
            return r;
        if (p->has_data)
            p->data[p->data_len++] = '\n';
        memcpy(p->data + p->data_len, v, vl);
        p->data_len += vl;
        p->has_data = true;
    } else if (fl == 5 && !memcmp(l, "event", 5)) {
        size_t k = vl < HTTP_SSE_EVENT_MAX ? vl : HTTP_SSE_EVENT_MAX;
        memcpy(p->event, v, k);
        p->event[k] = '\0';
        for (size_t i = 0; i < k; i++)
            if ((unsigned char)p->event[i] < 0x20)
                p->event[i] = '?';
    }
    return 0;
}

int http_sse_feed(struct http_sse_parser *p, const uint8_t *buf, size_t len, http_sse_event_fn fn,
                  void *ud)
{
    size_t i = 0;
    if (!p->bom_checked && len) {
        /* a UTF-8 BOM at the start of the stream is skipped; it may be
         * split over feeds only in theory: devices send it whole */
        p->bom_checked = true;
        if (len >= 3 && buf[0] == 0xef && buf[1] == 0xbb && buf[2] == 0xbf)
            i = 3;
    }
    for (; i < len; i++) {
        uint8_t c = buf[i];
        if (p->skip_lf) {
            p->skip_lf = false;
            if (c == '\n')
                continue;
        }
        if (c == '\r' || c == '\n') {
            p->skip_lf = c == '\r';
            int r = sse_line(p, fn, ud);
            p->line_len = 0;
            if (r)
                return r;
            continue;
        }
        if (p->line_len >= p->max)
            return -EMSGSIZE;
        int r = grow(&p->line, &p->line_cap, p->line_len + 2, p->max);
        if (r < 0)
            return r;
        p->line[p->line_len++] = (char)c;
    }
    return 0;
}
