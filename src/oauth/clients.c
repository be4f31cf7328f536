/* clients.c - the clients file; see clients.h.
 * Cleanup style: goto to one exit. */
#define _GNU_SOURCE
#include "clients.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

static bool id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '@' || c == '-';
}

static bool id_ok(const char *s, size_t n)
{
    if (n == 0 || n > CLIENT_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!id_char(s[i]))
            return false;
    return true;
}

bool clients_scope_token_ok(const char *s, size_t len)
{
    if (len == 0 || len > CLIENT_SCOPE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)))
            return false;
    }
    return true;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_loopback_host(const char *h, size_t n)
{
    return (n == 9 && !strncasecmp(h, "127.0.0.1", 9)) || (n == 5 && !memcmp(h, "[::1]", 5)) ||
           (n == 9 && !strncasecmp(h, "localhost", 9));
}

bool clients_redirect_uri_ok(const char *uri, const char **why)
{
    size_t n = strlen(uri);
    bool https;
    if (n > CLIENT_URI_MAX) {
        *why = "longer than 2048 characters";
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)uri[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
            c == '`' || c == '{' || c == '|' || c == '}') {
            *why = "contains a character that must be percent-encoded";
            return false;
        }
    }
    if (strchr(uri, '#')) {
        *why = "must not have a fragment";
        return false;
    }
    if (!strncasecmp(uri, "https://", 8))
        https = true;
    else if (!strncasecmp(uri, "http://", 7))
        https = false;
    else {
        *why = "must be an https:// URI (or http:// on a loopback address)";
        return false;
    }
    const char *a = uri + (https ? 8 : 7);
    size_t al = strcspn(a, "/?");
    if (memchr(a, '@', al)) {
        *why = "must not contain user information";
        return false;
    }
    /* host without the port */
    size_t hl = al;
    if (a[0] == '[') {
        const char *rb = memchr(a, ']', al);
        if (!rb) {
            *why = "has a broken [IPv6] host";
            return false;
        }
        hl = (size_t)(rb - a) + 1;
    } else {
        const char *colon = memchr(a, ':', al);
        if (colon)
            hl = (size_t)(colon - a);
    }
    if (hl == 0) {
        *why = "has no host";
        return false;
    }
    if (hl < al) {
        /* ":port" */
        const char *p = a + hl;
        if (*p != ':' || al - hl < 2 || al - hl > 6) {
            *why = "has an invalid port";
            return false;
        }
        unsigned long v = 0;
        for (size_t i = 1; i < al - hl; i++) {
            if (p[i] < '0' || p[i] > '9') {
                *why = "has an invalid port";
                return false;
            }
            v = v * 10 + (unsigned long)(p[i] - '0');
        }
        if (v == 0 || v > 65535) {
            *why = "has an invalid port";
            return false;
        }
    }
    if (!https && !is_loopback_host(a, hl)) {
        *why = "uses http:// on a host that is not a loopback address (use https://)";
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (uri[i] == '%' && !(i + 2 < n && is_hex(uri[i + 1]) && is_hex(uri[i + 2]))) {
            *why = "has a broken percent-encoding";
            return false;
        }
    return true;
}

static const struct {
    const char *name;
    unsigned bit;
} grant_names[] = {
        {"authorization_code", CG_CODE},    {"refresh_token", CG_REFRESH},
        {"client_credentials", CG_CLIENT},  {"device_code", CG_DEVICE},
        {GRANT_TYPE_DEVICE_URN, CG_DEVICE},
};

int clients_parse_grants(const char *list, unsigned *out, char *bad, size_t cap)
{
    *out = 0;
    const char *p = list;
    if (!*list) {
        snprintf(bad, cap, "(empty)");
        return -EINVAL;
    }
    while (*p) {
        size_t n = strcspn(p, ",");
        bool found = false;
        for (size_t i = 0; i < ARRAY_SIZE(grant_names); i++)
            if (strlen(grant_names[i].name) == n && !strncmp(p, grant_names[i].name, n)) {
                *out |= grant_names[i].bit;
                found = true;
            }
        if (!found) {
            snprintf(bad, cap, "%.*s", (int)(n > 80 ? 80 : n), p);
            return -EINVAL;
        }
        p += n;
        if (*p == ',') {
            p++;
            if (!*p) {
                snprintf(bad, cap, "(empty)");
                return -EINVAL;
            }
        }
    }
    return 0;
}

static int split_commas(const char *s, char ***out, size_t *n)
{
    size_t cnt = 1;
    for (const char *p = s; *p; p++)
        if (*p == ',')
            cnt++;
    char **v = calloc(cnt + 1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    size_t k = 0;
    const char *p = s;
    for (;;) {
        size_t l = strcspn(p, ",");
        v[k] = strndup(p, l);
        if (!v[k]) {
            util_strv_free(v);
            return -ENOMEM;
        }
        k++;
        if (!p[l])
            break;
        p += l + 1;
    }
    *out = v;
    *n = k;
    return 0;
}

static void client_clear(struct as_client *c)
{
    free(c->id);
    util_strv_free(c->scopes);
    util_strv_free(c->redirect_uris);
    OPENSSL_cleanse(c->secret_sha256, sizeof(c->secret_sha256));
    *c = (struct as_client){0};
}

/* Parses one non-comment line into c. -EINVAL with err, -ENOMEM. */
static int parse_line(const char *line, struct as_client *c, char *err, size_t errlen)
{
    int r = -EINVAL;
    char *copy = strdup(line), *save = NULL;
    bool have_type = false, have_secret = false, have_grants = false, have_scopes = false;
    *c = (struct as_client){0};
    if (!copy)
        return -ENOMEM;
    c->redirect_uris = calloc(CLIENT_MAX_REDIRECTS + 1, sizeof(char *));
    if (!c->redirect_uris) {
        r = -ENOMEM;
        goto fail;
    }
    char *tok = strtok_r(copy, " \t", &save);
    if (!tok || !id_ok(tok, strlen(tok))) {
        snprintf(err, errlen, "client name must be 1 to %d of A-Z a-z 0-9 . _ @ -", CLIENT_ID_MAX);
        goto fail;
    }
    if (!(c->id = strdup(tok))) {
        r = -ENOMEM;
        goto fail;
    }
    while ((tok = strtok_r(NULL, " \t", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok) {
            snprintf(err, errlen, "expected KEY=VALUE, not '%.40s'", tok);
            goto fail;
        }
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        if (!*v) {
            snprintf(err, errlen, "%s: empty value", k);
            goto fail;
        }
        if (!strcmp(k, "type")) {
            if (have_type) {
                snprintf(err, errlen, "type is given twice");
                goto fail;
            }
            have_type = true;
            if (!strcmp(v, "confidential"))
                c->confidential = true;
            else if (strcmp(v, "public")) {
                snprintf(err, errlen, "type must be public or confidential");
                goto fail;
            }
        } else if (!strcmp(k, "secret")) {
            size_t ol = 0;
            if (have_secret) {
                snprintf(err, errlen, "secret is given twice");
                goto fail;
            }
            have_secret = true;
            if (strlen(v) != 64 ||
                hex_decode(v, c->secret_sha256, sizeof(c->secret_sha256), &ol) < 0 || ol != 32) {
                snprintf(err, errlen, "secret must be the SHA-256 of the secret (64 hex digits)");
                goto fail;
            }
        } else if (!strcmp(k, "grants")) {
            char bad[96];
            if (have_grants) {
                snprintf(err, errlen, "grants is given twice");
                goto fail;
            }
            have_grants = true;
            if (clients_parse_grants(v, &c->grants, bad, sizeof(bad)) < 0) {
                if (!strcmp(bad, "implicit") || !strcmp(bad, "password"))
                    snprintf(err, errlen,
                             "grant '%s' is refused (RFC 9700); use authorization_code, "
                             "device_code or client_credentials",
                             bad);
                else
                    snprintf(err, errlen,
                             "unknown grant '%s' (authorization_code, refresh_token, "
                             "client_credentials, device_code)",
                             bad);
                goto fail;
            }
        } else if (!strcmp(k, "scopes")) {
            size_t n = 0;
            if (have_scopes) {
                snprintf(err, errlen, "scopes is given twice");
                goto fail;
            }
            have_scopes = true;
            if ((r = split_commas(v, &c->scopes, &n)) < 0)
                goto fail;
            r = -EINVAL;
            if (n > CLIENT_MAX_SCOPES) {
                snprintf(err, errlen, "more than %d scopes", CLIENT_MAX_SCOPES);
                goto fail;
            }
            for (size_t i = 0; i < n; i++) {
                if (!clients_scope_token_ok(c->scopes[i], strlen(c->scopes[i]))) {
                    snprintf(err, errlen, "scope '%.40s' is not a valid scope token", c->scopes[i]);
                    goto fail;
                }
                for (size_t j = 0; j < i; j++)
                    if (!strcmp(c->scopes[i], c->scopes[j])) {
                        snprintf(err, errlen, "scope '%.40s' is given twice", c->scopes[i]);
                        goto fail;
                    }
            }
        } else if (!strcmp(k, "redirect_uri")) {
            const char *why;
            if (c->n_redirect_uris == CLIENT_MAX_REDIRECTS) {
                snprintf(err, errlen, "more than %d redirect URIs", CLIENT_MAX_REDIRECTS);
                goto fail;
            }
            if (!clients_redirect_uri_ok(v, &why)) {
                snprintf(err, errlen, "redirect_uri %s", why);
                goto fail;
            }
            for (size_t i = 0; i < c->n_redirect_uris; i++)
                if (!strcmp(c->redirect_uris[i], v)) {
                    snprintf(err, errlen, "a redirect_uri is given twice");
                    goto fail;
                }
            if (!(c->redirect_uris[c->n_redirect_uris] = strdup(v))) {
                r = -ENOMEM;
                goto fail;
            }
            c->n_redirect_uris++;
        } else {
            snprintf(err, errlen,
                     "unknown key '%.40s' (type, secret, grants, scopes, redirect_uri)", k);
            goto fail;
        }
    }
    if (!have_type) {
        snprintf(err, errlen, "type= is required (public or confidential)");
        goto fail;
    }
    if (c->confidential && !have_secret) {
        snprintf(err, errlen, "a confidential client needs secret=");
        goto fail;
    }
    if (!c->confidential && have_secret) {
        snprintf(err, errlen, "a public client has no secret");
        goto fail;
    }
    if (!have_grants) {
        snprintf(err, errlen, "grants= is required");
        goto fail;
    }
    if (!have_scopes) {
        snprintf(err, errlen, "scopes= is required");
        goto fail;
    }
    if ((c->grants & CG_CLIENT) && !c->confidential) {
        snprintf(err, errlen, "client_credentials is for confidential clients only");
        goto fail;
    }
    if ((c->grants & CG_CODE) && !c->n_redirect_uris) {
        snprintf(err, errlen, "authorization_code needs at least one redirect_uri");
        goto fail;
    }
    if (!(c->grants & CG_CODE) && c->n_redirect_uris) {
        snprintf(err, errlen, "redirect_uri is only used with authorization_code");
        goto fail;
    }
    if (c->grants == CG_REFRESH) {
        snprintf(err, errlen, "refresh_token needs authorization_code or device_code");
        goto fail;
    }
    free(copy);
    return 0;
fail:
    free(copy);
    client_clear(c);
    return r;
}

static bool skip_line(const char *s)
{
    s += strspn(s, " \t");
    return !*s || *s == '#';
}

int clients_check_line(const char *line, char *err, size_t errlen)
{
    struct as_client c;
    if (skip_line(line))
        return 0;
    int r = parse_line(line, &c, err, errlen);
    if (r == 0)
        client_clear(&c);
    return r;
}

void clients_free(struct as_clients *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        client_clear(&c->v[i]);
    free(c->v);
    free(c);
}

int clients_parse(const char *path, const char *text, size_t len, struct as_clients **out,
                  struct diags *d)
{
    int r = 0;
    struct as_clients *c = calloc(1, sizeof(*c));
    size_t cap = 0;
    unsigned lineno = 0;
    *out = NULL;
    if (!c)
        return -ENOMEM;
    const char *p = text, *end = text + len;
    if (memchr(text, '\0', len)) {
        diag_add(d, path, 0, "NUL byte in the file");
        r = -EINVAL;
        goto out;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lineno++;
        if (ll && p[ll - 1] == '\r')
            ll--;
        char *line = strndup(p, ll);
        if (!line) {
            r = -ENOMEM;
            goto out;
        }
        p = nl ? nl + 1 : end;
        if (skip_line(line)) {
            free(line);
            continue;
        }
        if (c->n == CLIENTS_MAX) {
            diag_add(d, path, lineno, "more than %d clients", CLIENTS_MAX);
            free(line);
            r = -EINVAL;
            goto out;
        }
        if (c->n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct as_client *v = realloc(c->v, nc * sizeof(*v));
            if (!v) {
                free(line);
                r = -ENOMEM;
                goto out;
            }
            c->v = v;
            cap = nc;
        }
        char err[256];
        int pr = parse_line(line, &c->v[c->n], err, sizeof(err));
        free(line);
        if (pr == -ENOMEM) {
            r = pr;
            goto out;
        }
        if (pr < 0) {
            diag_add(d, path, lineno, "%s", err);
            r = -EINVAL;
            continue;
        }
        c->v[c->n].line = lineno;
        for (size_t i = 0; i < c->n; i++)
            if (!strcmp(c->v[i].id, c->v[c->n].id)) {
                diag_add(d, path, lineno, "client '%s' is already defined on line %u",
                         c->v[c->n].id, c->v[i].line);
                r = -EINVAL;
            }
        c->n++;
    }
out:
    if (r < 0) {
        clients_free(c);
        return r;
    }
    *out = c;
    return 0;
}

int clients_load(const char *path, struct as_clients **out, struct diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    int r = util_read_file(path, CLIENTS_MAX_FILE_SIZE, &buf, &len);
    if (r == -ENOENT) {
        *out = calloc(1, sizeof(**out));
        return *out ? 0 : -ENOMEM;
    }
    if (r < 0) {
        *out = NULL;
        if (r == -EFBIG)
            diag_add(d, path, 0, "file is larger than %u bytes", CLIENTS_MAX_FILE_SIZE);
        else
            diag_add(d, path, 0, "cannot read: %s", strerror(-r));
        return r;
    }
    r = clients_parse(path, buf, len, out, d);
    free(buf);
    return r;
}

const struct as_client *clients_find(const struct as_clients *c, const char *id)
{
    if (!c || !id)
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].id, id))
            return &c->v[i];
    return NULL;
}

bool client_redirect_ok(const struct as_client *c, const char *uri)
{
    if (!uri)
        return false;
    for (size_t i = 0; i < c->n_redirect_uris; i++)
        if (!strcmp(c->redirect_uris[i], uri))
            return true;
    return false;
}

bool client_scope_allowed(const struct as_client *c, const char *scope)
{
    for (char **s = c->scopes; s && *s; s++)
        if (!strcmp(*s, "*") || !strcmp(*s, scope))
            return true;
    return false;
}

bool client_secret_ok(const struct as_client *c, const char *secret, size_t len)
{
    uint8_t md[32];
    unsigned mdlen = 0;
    if (!c->confidential || !secret || len == 0 || len > CLIENT_SECRET_MAX)
        return false;
    if (EVP_Digest(secret, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return false;
    bool ok = CRYPTO_memcmp(md, c->secret_sha256, 32) == 0;
    OPENSSL_cleanse(md, sizeof(md));
    return ok;
}
