/* apikeys.c - the API keys file; see apikeys.h.
 * Cleanup style: goto to one exit.
 */
#define _GNU_SOURCE
#include "apikeys.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '@' || c == '-';
}

static bool word_ok(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char(s[i]))
            return false;
    return true;
}

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

static int groups_split(const char *s, size_t len, char ***out, const char **why)
{
    size_t n = 0;
    int r;
    char **v = calloc(APIKEYS_MAX_GROUPS + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t start = 0, i = 0; len && i <= len; i++) {
        if (i < len && s[i] != ',')
            continue;
        if (!word_ok(s + start, i - start)) {
            *why = "invalid group name (allowed: 1 to 64 of A-Z a-z 0-9 . _ @ -)";
            r = -EINVAL;
            goto fail;
        }
        if (n == APIKEYS_MAX_GROUPS) {
            *why = "too many groups (at most 32)";
            r = -EINVAL;
            goto fail;
        }
        v[n] = strndup(s + start, i - start);
        if (!v[n]) {
            r = -ENOMEM;
            goto fail;
        }
        n++;
        start = i + 1;
    }
    *out = v;
    return 0;
fail:
    util_strv_free(v);
    return r;
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
    if (!word_ok(s, (size_t)(c1 - s))) {
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
    int r = groups_split(g, strlen(g), &k->groups, &why);
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

int apikeys_parse(const char *path, const char *text, size_t len, struct apikeys **out,
                  struct diags *d)
{
    struct apikeys *k = NULL;
    unsigned *lines = NULL;
    char *line = NULL;
    size_t cap = 0;
    unsigned ln = 0;
    int r = 0, bad = 0;

    *out = NULL;
    if (len > APIKEYS_MAX_FILE_SIZE) {
        diag_add(d, path, 0, "file larger than %u bytes", APIKEYS_MAX_FILE_SIZE);
        return -EFBIG;
    }
    k = calloc(1, sizeof(*k));
    line = malloc(APIKEYS_MAX_LINE + 1);
    if (!k || !line) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *s = text + pos;
        pos += ll + (nl ? 1 : 0);
        ln++;
        if (ll && s[ll - 1] == '\r')
            ll--;
        if (ll > APIKEYS_MAX_LINE) {
            diag_add(d, path, ln, "line longer than %u bytes", APIKEYS_MAX_LINE);
            bad = -EINVAL;
            continue;
        }
        if (memchr(s, '\0', ll)) {
            diag_add(d, path, ln, "NUL byte in line");
            bad = -EINVAL;
            continue;
        }
        memcpy(line, s, ll);
        line[ll] = '\0';
        if (line[0] == '#' || line[strspn(line, " \t")] == '\0')
            continue;
        if (k->n == APIKEYS_MAX_ENTRIES) {
            diag_add(d, path, ln, "more than %u keys", APIKEYS_MAX_ENTRIES);
            bad = -EINVAL;
            break;
        }
        if (k->n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            struct apikey *nv = reallocarray(k->v, nc, sizeof(*nv));
            if (!nv) {
                r = -ENOMEM;
                goto out;
            }
            k->v = nv;
            unsigned *nl2 = reallocarray(lines, nc, sizeof(*nl2));
            if (!nl2) {
                r = -ENOMEM;
                goto out;
            }
            lines = nl2;
            cap = nc;
        }
        struct apikey *e = &k->v[k->n];
        *e = (struct apikey){0};
        lines[k->n] = ln;
        k->n++;
        r = line_parse(path, ln, line, e, d);
        if (r == -ENOMEM)
            goto out;
        if (r < 0) {
            bad = r;
            r = 0;
        }
    }
    if (!bad && k->n > 1)
        r = check_duplicates(path, k, lines, d);
    if (r == -ENOMEM)
        goto out;
    if (r < 0)
        bad = r;
    if (bad) {
        r = bad;
        goto out;
    }
    *out = k;
    k = NULL;
out:
    apikeys_free(k);
    free(lines);
    free(line);
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
