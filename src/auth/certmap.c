/* certmap.c - certificate identity map; see certmap.h.
 * Cleanup style: goto to one exit.
 */
#define _GNU_SOURCE
#include "certmap.h"

#include "linefile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Normalises a fingerprint (64 hex digits, or 32 pairs separated by ':')
 * into 64 lower-case hex digits in out[65]. */
static int fpr_normalize(const char *in, size_t len, char out[65])
{
    char buf[3 * 32 + 1];
    uint8_t raw[32];
    size_t n = 0;
    if (len > sizeof(buf) - 1)
        return -EINVAL;
    memcpy(buf, in, len);
    buf[len] = '\0';
    /* hex_decode accepts ':' anywhere between pairs; require either none
     * or all 31 of them */
    size_t colons = 0;
    for (size_t i = 0; i < len; i++)
        colons += buf[i] == ':';
    if (colons != 0 && (colons != 31 || len != 95))
        return -EINVAL;
    if (hex_decode(buf, raw, sizeof(raw), &n) < 0 || n != sizeof(raw))
        return -EINVAL;
    hex_encode(raw, sizeof(raw), out);
    return 0;
}

static void entry_clear(struct certmap_entry *e)
{
    free(e->cn);
    free(e->sha256_hex);
    free(e->user);
    *e = (struct certmap_entry){0};
}

void certmap_free(struct certmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        entry_clear(&m->v[i]);
    free(m->v);
    free(m);
}

/* One entry line (NUL-terminated, len bytes) into e; -EINVAL after a
 * diagnostic. */
static int line_parse(const char *path, unsigned ln, const char *s, size_t len,
                      struct certmap_entry *e, struct diags *d)
{
    /* USER: the last blank-separated word */
    size_t end = len;
    while (end && is_blank(s[end - 1]))
        end--;
    size_t us = end;
    while (us && !is_blank(s[us - 1]))
        us--;
    size_t vend = us;
    while (vend && is_blank(s[vend - 1]))
        vend--;
    bool is_cn = !strncmp(s, "cn:", 3), is_fpr = !strncmp(s, "sha256:", 7);
    if (!is_cn && !is_fpr) {
        diag_add(d, path, ln, "expected 'cn:COMMON_NAME USER' or 'sha256:HEX USER'");
        return -EINVAL;
    }
    size_t vstart = is_cn ? 3 : 7;
    if (us == 0 || vend <= vstart) {
        diag_add(d, path, ln, "expected 'cn:COMMON_NAME USER' or 'sha256:HEX USER'");
        return -EINVAL;
    }
    if (!linefile_name_ok(s + us, end - us)) {
        diag_add(d, path, ln, "invalid user name (allowed: 1 to 64 of A-Z a-z 0-9 . _ @ -)");
        return -EINVAL;
    }
    while (vstart < vend && is_blank(s[vstart]))
        vstart++;
    const char *v = s + vstart;
    size_t vl = vend - vstart;
    if (is_cn) {
        if (vl > CERTMAP_MAX_CN) {
            diag_add(d, path, ln, "CN longer than %u bytes", CERTMAP_MAX_CN);
            return -EINVAL;
        }
        for (size_t i = 0; i < vl; i++)
            if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
                diag_add(d, path, ln, "control character in CN");
                return -EINVAL;
            }
        e->cn = strndup(v, vl);
        if (!e->cn)
            return -ENOMEM;
    } else {
        char hex[65];
        if (fpr_normalize(v, vl, hex) < 0) {
            diag_add(d, path, ln,
                     "expected the SHA-256 fingerprint as 64 hex digits (optionally with ':' "
                     "between byte pairs)");
            return -EINVAL;
        }
        e->sha256_hex = strdup(hex);
        if (!e->sha256_hex)
            return -ENOMEM;
    }
    e->user = strndup(s + us, end - us);
    return e->user ? 0 : -ENOMEM;
}

struct parse_ctx {
    const char *path;
    struct diags *d;
    struct certmap *m;
    unsigned *lines; /* line number of each entry */
    size_t cap;
};

static int entry_line(void *ud, unsigned ln, char *line)
{
    struct parse_ctx *c = ud;
    struct certmap *m = c->m;
    if (m->n == CERTMAP_MAX_ENTRIES) {
        diag_add(c->d, c->path, ln, "more than %u mappings", CERTMAP_MAX_ENTRIES);
        return -E2BIG;
    }
    if (m->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        struct certmap_entry *nv = reallocarray(m->v, nc, sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        m->v = nv;
        unsigned *nl = reallocarray(c->lines, nc, sizeof(*nl));
        if (!nl)
            return -ENOMEM;
        c->lines = nl;
        c->cap = nc;
    }
    struct certmap_entry *e = &m->v[m->n];
    *e = (struct certmap_entry){0};
    c->lines[m->n] = ln;
    m->n++;
    int r = line_parse(c->path, ln, line, strlen(line), e, c->d);
    if (r < 0)
        return r;
    /* at most CERTMAP_MAX_ENTRIES^2 / 2 comparisons */
    for (size_t i = 0; i + 1 < m->n; i++) {
        const struct certmap_entry *o = &m->v[i];
        if ((e->cn && o->cn && !strcmp(e->cn, o->cn)) ||
            (e->sha256_hex && o->sha256_hex && !strcmp(e->sha256_hex, o->sha256_hex))) {
            diag_add(c->d, c->path, ln, "%s '%s' is already mapped on line %u",
                     e->cn ? "CN" : "fingerprint", e->cn ? e->cn : e->sha256_hex, c->lines[i]);
            return -EINVAL;
        }
    }
    return 0;
}

int certmap_parse(const char *path, const char *text, size_t len, struct certmap **out,
                  struct diags *d)
{
    struct parse_ctx c = {.path = path, .d = d};
    int r;

    *out = NULL;
    if (len > CERTMAP_MAX_FILE_SIZE) {
        diag_add(d, path, 0, "file larger than %u bytes", CERTMAP_MAX_FILE_SIZE);
        return -EFBIG;
    }
    c.m = calloc(1, sizeof(*c.m));
    if (!c.m) {
        r = -ENOMEM;
        goto out;
    }
    r = linefile_each(path, text, len, CERTMAP_MAX_LINE, d, entry_line, &c);
    if (r < 0)
        goto out;
    *out = c.m;
    c.m = NULL;
out:
    certmap_free(c.m);
    free(c.lines);
    if (r == -ENOMEM)
        diag_add(d, path, 0, "out of memory");
    return r;
}

int certmap_load(const char *path, struct certmap **out, struct diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int r = util_read_file(path, CERTMAP_MAX_FILE_SIZE, &buf, &len);
    if (r < 0) {
        diag_add(d, path, 0, "cannot read certificate identities file: %s", strerror(-r));
        return r;
    }
    r = certmap_parse(path, buf, len, out, d);
    free(buf);
    return r;
}

const char *certmap_principal(const struct certmap *m, const char *cn, const char *sha256_hex)
{
    char fpr[65];
    bool have_fpr = m && sha256_hex && fpr_normalize(sha256_hex, strlen(sha256_hex), fpr) == 0;
    if (m && have_fpr)
        for (size_t i = 0; i < m->n; i++)
            if (m->v[i].sha256_hex && !strcmp(m->v[i].sha256_hex, fpr))
                return m->v[i].user;
    if (m && cn)
        for (size_t i = 0; i < m->n; i++)
            if (m->v[i].cn && !strcmp(m->v[i].cn, cn))
                return m->v[i].user;
    return cn;
}
