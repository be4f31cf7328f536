/* psk.c - the pre-shared keys file; see psk.h.
 * Cleanup style: goto to one exit.
 */
#define _GNU_SOURCE
#include "psk.h"

#include "linefile.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void entry_clear(struct psk_entry *e)
{
    free(e->identity);
    OPENSSL_cleanse(e->key, sizeof(e->key));
    *e = (struct psk_entry){0};
}

void psk_free(struct psk_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        entry_clear(&s->v[i]);
    free(s->v);
    free(s);
}

/* One entry line (ll bytes, no NUL inside) into e; -EINVAL after a
 * diagnostic. The key never appears in a message. */
static int line_parse(const char *path, unsigned ln, const char *s, size_t ll, struct psk_entry *e,
                      struct diags *d)
{
    const char *colon = memchr(s, ':', ll);
    if (!colon) {
        diag_add(d, path, ln, "expected IDENTITY:KEYHEX");
        return -EINVAL;
    }
    size_t il = (size_t)(colon - s);
    if (!linefile_name_ok(s, il)) {
        diag_add(d, path, ln, "invalid identity (allowed: 1 to %d of A-Z a-z 0-9 . _ @ -)",
                 PSK_MAX_IDENTITY);
        return -EINVAL;
    }
    e->identity = strndup(s, il);
    if (!e->identity)
        return -ENOMEM;
    const char *h = colon + 1;
    size_t hl = ll - il - 1;
    if (hl % 2 || hl < 2 * PSK_MIN_KEY || hl > 2 * PSK_MAX_KEY) {
        diag_add(d, path, ln, "identity '%s': the key must be %d to %d bytes as hex digits",
                 e->identity, PSK_MIN_KEY, PSK_MAX_KEY);
        return -EINVAL;
    }
    for (size_t i = 0; i < hl; i += 2) {
        int a = hexval(h[i]), b = hexval(h[i + 1]);
        if (a < 0 || b < 0) {
            OPENSSL_cleanse(e->key, sizeof(e->key));
            diag_add(d, path, ln, "identity '%s': the key is not hex", e->identity);
            return -EINVAL;
        }
        e->key[i / 2] = (uint8_t)(a << 4 | b);
    }
    e->key_len = hl / 2;
    return 0;
}

static int by_identity(const void *a, const void *b)
{
    return strcmp(((const struct psk_entry *)a)->identity, ((const struct psk_entry *)b)->identity);
}

struct line_ix {
    const char *identity;
    unsigned line;
};

static int ix_cmp(const void *a, const void *b)
{
    const struct line_ix *x = a, *y = b;
    int c = strcmp(x->identity, y->identity);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int check_duplicates(const char *path, const struct psk_store *s, const unsigned *lines,
                            struct diags *d)
{
    struct line_ix *ix = calloc(s->n, sizeof(*ix));
    int r = 0;
    if (!ix)
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++)
        ix[i] = (struct line_ix){s->v[i].identity, lines[i]};
    qsort(ix, s->n, sizeof(*ix), ix_cmp);
    for (size_t i = 1; i < s->n; i++)
        if (!strcmp(ix[i - 1].identity, ix[i].identity)) {
            diag_add(d, path, ix[i].line, "duplicate identity '%s' (also on line %u)",
                     ix[i].identity, ix[i - 1].line);
            r = -EINVAL;
        }
    free(ix);
    return r;
}

struct parse_ctx {
    const char *path;
    struct diags *d;
    struct psk_store *s;
    unsigned *lines;
    size_t cap;
};

static int entry_line(void *ud, unsigned ln, char *line)
{
    struct parse_ctx *c = ud;
    struct psk_store *s = c->s;
    if (s->n == PSK_MAX_ENTRIES) {
        diag_add(c->d, c->path, ln, "more than %u keys", PSK_MAX_ENTRIES);
        return -E2BIG;
    }
    if (s->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        struct psk_entry *nv = reallocarray(s->v, nc, sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        s->v = nv;
        unsigned *nl = reallocarray(c->lines, nc, sizeof(*nl));
        if (!nl)
            return -ENOMEM;
        c->lines = nl;
        c->cap = nc;
    }
    struct psk_entry *e = &s->v[s->n];
    *e = (struct psk_entry){0};
    c->lines[s->n] = ln;
    s->n++;
    int r = line_parse(c->path, ln, line, strlen(line), e, c->d);
    OPENSSL_cleanse(line, strlen(line)); /* the key's hex digits */
    return r;
}

int psk_parse(const char *path, const char *text, size_t len, struct psk_store **out,
              struct diags *d)
{
    struct parse_ctx c = {.path = path, .d = d};
    int r;

    *out = NULL;
    if (len > PSK_MAX_FILE_SIZE) {
        diag_add(d, path, 0, "file larger than %u bytes", PSK_MAX_FILE_SIZE);
        return -EFBIG;
    }
    c.s = calloc(1, sizeof(*c.s));
    if (!c.s) {
        r = -ENOMEM;
        goto out;
    }
    r = linefile_each(path, text, len, PSK_MAX_LINE, d, entry_line, &c);
    if (r == 0 && c.s->n > 1)
        r = check_duplicates(path, c.s, c.lines, d);
    if (r < 0)
        goto out;
    if (c.s->n > 1)
        qsort(c.s->v, c.s->n, sizeof(*c.s->v), by_identity);
    *out = c.s;
    c.s = NULL;
out:
    psk_free(c.s);
    free(c.lines);
    if (r == -ENOMEM)
        diag_add(d, path, 0, "out of memory");
    return r;
}

static int parse_any(const char *path, const char *text, size_t len, void *out, struct diags *d)
{
    return psk_parse(path, text, len, out, d);
}

int psk_load(const char *path, struct psk_store **out, struct diags *d)
{
    *out = NULL;
    return linefile_load_secret(
            path, PSK_MAX_FILE_SIZE, "pre-shared keys file", S_IROTH | S_IWOTH, false,
            "the pre-shared keys file is readable or writable by others (chmod o-rw)", parse_any,
            out, d);
}

const struct psk_entry *psk_find(const struct psk_store *s, const char *identity, size_t len)
{
    if (!s || !identity || len == 0 || len > PSK_MAX_IDENTITY)
        return NULL;
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = s->v[mid].identity;
        size_t ml = strlen(m);
        int c = memcmp(m, identity, ml < len ? ml : len);
        if (!c)
            c = (ml > len) - (ml < len);
        if (!c)
            return &s->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
