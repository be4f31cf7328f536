/* apikeys.c - the API keys file; see apikeys.h.
 * Cleanup style: goto to one exit.
 */
#define _GNU_SOURCE
#include "apikeys.h"

#include "linefile.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static void apikey_clear(struct apikey *k)
{
    free(k->name);
    util_strv_free(k->groups);
    OPENSSL_cleanse(k->sha256, sizeof(k->sha256));
    *k = (struct apikey){0};
}

void apikeys_free(struct apikeys *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++)
        apikey_clear(&k->v[i]);
    free(k->v);
    free(k);
}

/* One entry line (NUL-terminated) into k; -EINVAL after a diagnostic. */
static int line_parse(const char *path, unsigned ln, const char *s, struct apikey *k,
                      struct diags *d)
{
    const char *why = NULL;
    const char *c1 = strchr(s, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1) {
        diag_add(d, path, ln, "expected NAME:SHA256HEX[:GROUP,...]");
        return -EINVAL;
    }
    if (!linefile_name_ok(s, (size_t)(c1 - s))) {
        diag_add(d, path, ln, "invalid key name (allowed: 1 to 64 of A-Z a-z 0-9 . _ @ -)");
        return -EINVAL;
    }
    k->name = strndup(s, (size_t)(c1 - s));
    if (!k->name)
        return -ENOMEM;
    const char *h = c1 + 1;
    size_t hl = c2 ? (size_t)(c2 - h) : strlen(h);
    bool hex_ok = hl == 64;
    for (size_t i = 0; hex_ok && i < hl; i++)
        hex_ok = is_hex(h[i]);
    if (!hex_ok) {
        diag_add(d, path, ln, "key '%s': expected the SHA-256 of the key as 64 hex digits",
                 k->name);
        return -EINVAL;
    }
    char hex[65];
    size_t outlen = 0;
    memcpy(hex, h, 64);
    hex[64] = '\0';
    if (hex_decode(hex, k->sha256, sizeof(k->sha256), &outlen) < 0 || outlen != 32) {
        diag_add(d, path, ln, "key '%s': bad hex digest", k->name);
        return -EINVAL;
    }
    const char *g = c2 ? c2 + 1 : "";
    int r = linefile_groups_split(g, strlen(g), APIKEYS_MAX_GROUPS, &k->groups, &why);
    if (r == -EINVAL)
        diag_add(d, path, ln, "key '%s': %s", k->name, why);
    return r;
}

static int by_name(const void *a, const void *b, void *arg)
{
    const struct apikey *v = arg;
    return strcmp(v[*(const size_t *)a].name, v[*(const size_t *)b].name);
}

static int by_hash(const void *a, const void *b, void *arg)
{
    const struct apikey *v = arg;
    return memcmp(v[*(const size_t *)a].sha256, v[*(const size_t *)b].sha256, 32);
}

/* Two names for one key, or one name twice, refuse the file. Sorting keeps
 * this O(n log n) for large files. */
static int check_duplicates(const char *path, const struct apikeys *k, const unsigned *lines,
                            struct diags *d)
{
    int r = 0;
    size_t *ix = calloc(k->n, sizeof(*ix));
    if (!ix)
        return -ENOMEM;
    for (size_t i = 0; i < k->n; i++)
        ix[i] = i;
    qsort_r(ix, k->n, sizeof(*ix), by_name, k->v);
    for (size_t i = 1; i < k->n; i++) {
        size_t a = ix[i - 1] < ix[i] ? ix[i - 1] : ix[i], b = ix[i - 1] ^ ix[i] ^ a;
        if (!strcmp(k->v[a].name, k->v[b].name)) {
            diag_add(d, path, lines[b], "duplicate key name '%s' (also on line %u)", k->v[b].name,
                     lines[a]);
            r = -EINVAL;
        }
    }
    qsort_r(ix, k->n, sizeof(*ix), by_hash, k->v);
    for (size_t i = 1; i < k->n; i++) {
        size_t a = ix[i - 1] < ix[i] ? ix[i - 1] : ix[i], b = ix[i - 1] ^ ix[i] ^ a;
        if (!memcmp(k->v[a].sha256, k->v[b].sha256, 32)) {
            diag_add(d, path, lines[b], "key '%s' has the same key as '%s' (line %u)", k->v[b].name,
                     k->v[a].name, lines[a]);
            r = -EINVAL;
        }
    }
    free(ix);
    return r;
}

struct parse_ctx {
    const char *path;
    struct diags *d;
    struct apikeys *k;
    unsigned *lines; /* line number of each entry */
    size_t cap;
};

static int entry_line(void *ud, unsigned ln, char *line)
{
    struct parse_ctx *c = ud;
    struct apikeys *k = c->k;
    if (k->n == APIKEYS_MAX_ENTRIES) {
        diag_add(c->d, c->path, ln, "more than %u keys", APIKEYS_MAX_ENTRIES);
        return -E2BIG;
    }
    if (k->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        struct apikey *nv = reallocarray(k->v, nc, sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        k->v = nv;
        unsigned *nl = reallocarray(c->lines, nc, sizeof(*nl));
        if (!nl)
            return -ENOMEM;
        c->lines = nl;
        c->cap = nc;
    }
    struct apikey *e = &k->v[k->n];
    *e = (struct apikey){0};
    c->lines[k->n] = ln;
    k->n++;
    return line_parse(c->path, ln, line, e, c->d);
}

int apikeys_parse(const char *path, const char *text, size_t len, struct apikeys **out,
                  struct diags *d)
{
    struct parse_ctx c = {.path = path, .d = d};
    int r;

    *out = NULL;
    if (len > APIKEYS_MAX_FILE_SIZE) {
        diag_add(d, path, 0, "file larger than %u bytes", APIKEYS_MAX_FILE_SIZE);
        return -EFBIG;
    }
    c.k = calloc(1, sizeof(*c.k));
    if (!c.k) {
        r = -ENOMEM;
        goto out;
    }
    r = linefile_each(path, text, len, APIKEYS_MAX_LINE, d, entry_line, &c);
    if (r == 0 && c.k->n > 1)
        r = check_duplicates(path, c.k, c.lines, d);
    if (r < 0)
        goto out;
    *out = c.k;
    c.k = NULL;
out:
    apikeys_free(c.k);
    free(c.lines);
    if (r == -ENOMEM)
        diag_add(d, path, 0, "out of memory");
    return r;
}

int apikeys_load(const char *path, struct apikeys **out, struct diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int r = util_read_file(path, APIKEYS_MAX_FILE_SIZE, &buf, &len);
    if (r < 0) {
        diag_add(d, path, 0, "cannot read API keys file: %s", strerror(-r));
        return r;
    }
    r = apikeys_parse(path, buf, len, out, d);
    free(buf);
    return r;
}

const struct apikey *apikeys_verify(const struct apikeys *k, const char *key, size_t len)
{
    uint8_t md[32];
    unsigned mdlen = 0;
    size_t found = 0, any = 0;
    if (!k || !key || len == 0 || len > APIKEYS_MAX_KEY)
        return NULL;
    if (EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != sizeof(md))
        return NULL;
    /* every entry is compared, and the index is selected without a
     * data-dependent branch */
    for (size_t i = 0; i < k->n; i++) {
        size_t eq = (size_t)(CRYPTO_memcmp(md, k->v[i].sha256, sizeof(md)) == 0);
        size_t mask = (size_t)0 - eq;
        found = (found & ~mask) | (i & mask);
        any |= eq;
    }
    OPENSSL_cleanse(md, sizeof(md));
    return any ? &k->v[found] : NULL;
}
