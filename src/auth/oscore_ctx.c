/* oscore_ctx.c - the OSCORE security contexts file; see oscore_ctx.h.
 * Cleanup style: goto to one exit.
 */
#define _GNU_SOURCE
#include "oscore_ctx.h"

#include "linefile.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void entry_clear(struct oscore_ctx_entry *e)
{
    free(e->name);
    OPENSSL_cleanse(e, sizeof(*e));
}

void oscore_ctx_store_free(struct oscore_ctx_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        entry_clear(&s->v[i]);
    free(s->v);
    free(s);
}

/* Strict hex (no separators) into out; -EINVAL, -E2BIG over cap. */
static int unhex(const char *s, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    if (len % 2)
        return -EINVAL;
    if (len / 2 > cap)
        return -E2BIG;
    for (size_t i = 0; i < len; i += 2) {
        int a = hex_digit(s[i]), b = hex_digit(s[i + 1]);
        if (a < 0 || b < 0)
            return -EINVAL;
        out[i / 2] = (uint8_t)(a << 4 | b);
    }
    *out_len = len / 2;
    return 0;
}

enum field {
    F_SENDER,
    F_RECIPIENT,
    F_IDCTX,
    F_SECRET,
    F_SALT,
    F_N,
};

/* One line into e (e->name allocated). -EINVAL with a reason in err;
 * -ENOMEM. A secret never goes into err. */
static int line_parse(const char *line, struct oscore_ctx_entry *e, char *err, size_t errlen)
{
    bool seen[F_N] = {0};
    const char *p = line;
    size_t nl = strcspn(p, " \t");
    int r;

    if (!linefile_name_ok(p, nl)) {
        snprintf(err, errlen, "invalid context name (allowed: 1 to %d of A-Z a-z 0-9 . _ @ -)",
                 OSCORE_CTX_MAX_NAME);
        return -EINVAL;
    }
    e->name = strndup(p, nl);
    if (!e->name)
        return -ENOMEM;
    p += nl;
    for (;;) {
        p += strspn(p, " \t");
        if (!*p)
            break;
        size_t fl = strcspn(p, " \t");
        const char *eq = memchr(p, '=', fl);
        if (!eq) {
            /* the field itself is not shown: it may be a misplaced secret */
            snprintf(err, errlen, "context '%s': expected KEY=VALUE fields", e->name);
            return -EINVAL;
        }
        size_t kl = (size_t)(eq - p);
        const char *v = eq + 1;
        size_t vl = fl - kl - 1;
        enum field f;
        bool b64 = false;
#define KEY(s) (kl == sizeof(s) - 1 && !memcmp(p, s, kl))
        if (KEY("sender_id"))
            f = F_SENDER;
        else if (KEY("recipient_id"))
            f = F_RECIPIENT;
        else if (KEY("id_context"))
            f = F_IDCTX;
        else if (KEY("master_secret"))
            f = F_SECRET;
        else if (KEY("master_secret_b64"))
            f = F_SECRET, b64 = true;
        else if (KEY("master_salt"))
            f = F_SALT;
        else if (KEY("master_salt_b64"))
            f = F_SALT, b64 = true;
        else {
            snprintf(err, errlen, "context '%s': unknown key '%.*s'", e->name,
                     (int)(kl > 32 ? 32 : kl), p);
            return -EINVAL;
        }
#undef KEY
        static const char *const fname[F_N] = {"sender_id", "recipient_id", "id_context",
                                               "master_secret", "master_salt"};
        if (seen[f]) {
            snprintf(err, errlen, "context '%s': %s given twice", e->name, fname[f]);
            return -EINVAL;
        }
        seen[f] = true;
        uint8_t *dst;
        size_t cap, *dlen;
        switch (f) {
        case F_SENDER: dst = e->sender_id, cap = OSCORE_MAX_ID, dlen = &e->sender_id_len; break;
        case F_RECIPIENT:
            dst = e->recipient_id, cap = OSCORE_MAX_ID, dlen = &e->recipient_id_len;
            break;
        case F_IDCTX:
            dst = e->id_context, cap = OSCORE_MAX_ID_CONTEXT, dlen = &e->id_context_len;
            e->has_id_context = true;
            break;
        case F_SECRET:
            dst = e->master_secret, cap = OSCORE_MAX_MASTER_SECRET, dlen = &e->master_secret_len;
            break;
        default:
            dst = e->master_salt, cap = OSCORE_MAX_MASTER_SALT, dlen = &e->master_salt_len;
            break;
        }
        if (b64) {
            r = vl ? b64url_decode(v, vl, dst, cap, dlen) : (*dlen = 0, 0);
            if (r == -ENOBUFS)
                r = -E2BIG;
        } else {
            r = unhex(v, vl, dst, cap, dlen);
        }
        if (r == -E2BIG) {
            snprintf(err, errlen, "context '%s': %s longer than %zu bytes", e->name, fname[f], cap);
            return -EINVAL;
        }
        if (r < 0) {
            snprintf(err, errlen, "context '%s': %s is not %s", e->name, fname[f],
                     b64 ? "base64url (without padding)" : "hex");
            return -EINVAL;
        }
        p += fl;
    }
    if (!seen[F_SENDER] || !seen[F_RECIPIENT] || !seen[F_SECRET]) {
        snprintf(err, errlen, "context '%s': needs sender_id, recipient_id and master_secret",
                 e->name);
        return -EINVAL;
    }
    if (e->master_secret_len < OSCORE_CTX_MIN_SECRET) {
        snprintf(err, errlen, "context '%s': master_secret shorter than %d bytes", e->name,
                 OSCORE_CTX_MIN_SECRET);
        return -EINVAL;
    }
    if (e->sender_id_len == e->recipient_id_len &&
        !memcmp(e->sender_id, e->recipient_id, e->sender_id_len)) {
        snprintf(err, errlen, "context '%s': sender_id and recipient_id must differ", e->name);
        return -EINVAL;
    }
    return 0;
}

int oscore_ctx_check_line(const char *line, char *err, size_t errlen)
{
    struct oscore_ctx_entry e = {0};
    char dummy[1];
    if (!err || !errlen)
        err = dummy, errlen = sizeof(dummy);
    err[0] = '\0';
    if (strlen(line) > OSCORE_CTX_MAX_LINE) {
        snprintf(err, errlen, "line longer than %d bytes", OSCORE_CTX_MAX_LINE);
        return -EINVAL;
    }
    int r = line_parse(line, &e, err, errlen);
    entry_clear(&e);
    return r;
}

void oscore_ctx_entry_params(const struct oscore_ctx_entry *e, struct oscore_ctx_params *p)
{
    *p = (struct oscore_ctx_params){
            .master_secret = e->master_secret,
            .master_secret_len = e->master_secret_len,
            .master_salt = e->master_salt_len ? e->master_salt : NULL,
            .master_salt_len = e->master_salt_len,
            .sender_id = e->sender_id_len ? e->sender_id : NULL,
            .sender_id_len = e->sender_id_len,
            .recipient_id = e->recipient_id_len ? e->recipient_id : NULL,
            .recipient_id_len = e->recipient_id_len,
            .id_context = e->has_id_context ? e->id_context : NULL,
            .id_context_len = e->id_context_len,
    };
}

/* ---- the file ----------------------------------------------------------- */

struct parse_ctx {
    const char *path;
    struct diags *d;
    struct oscore_ctx_store *s;
    unsigned *lines;
    size_t cap;
};

static int entry_line(void *ud, unsigned ln, char *line)
{
    struct parse_ctx *c = ud;
    struct oscore_ctx_store *s = c->s;
    char err[160];
    if (s->n == OSCORE_CTX_MAX_ENTRIES) {
        diag_add(c->d, c->path, ln, "more than %u contexts", OSCORE_CTX_MAX_ENTRIES);
        return -E2BIG;
    }
    if (s->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        struct oscore_ctx_entry *nv = reallocarray(s->v, nc, sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        s->v = nv;
        unsigned *nli = reallocarray(c->lines, nc, sizeof(*nli));
        if (!nli)
            return -ENOMEM;
        c->lines = nli;
        c->cap = nc;
    }
    struct oscore_ctx_entry *e = &s->v[s->n];
    *e = (struct oscore_ctx_entry){0};
    c->lines[s->n] = ln;
    s->n++;
    int r = line_parse(line, e, err, sizeof(err));
    OPENSSL_cleanse(line, strlen(line)); /* the secret's digits */
    if (r == -EINVAL)
        diag_add(c->d, c->path, ln, "%s", err);
    return r;
}

struct ix {
    const struct oscore_ctx_entry *e;
    unsigned line;
};

static int ix_by_name(const void *a, const void *b)
{
    const struct ix *x = a, *y = b;
    int c = strcmp(x->e->name, y->e->name);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* recipient_id, then id_context (absent before present), then line */
static int ix_by_rid(const void *a, const void *b)
{
    const struct ix *x = a, *y = b;
    const struct oscore_ctx_entry *p = x->e, *q = y->e;
    if (p->recipient_id_len != q->recipient_id_len)
        return p->recipient_id_len < q->recipient_id_len ? -1 : 1;
    int c = memcmp(p->recipient_id, q->recipient_id, p->recipient_id_len);
    if (c)
        return c;
    if (p->has_id_context != q->has_id_context)
        return p->has_id_context ? 1 : -1;
    if (p->id_context_len != q->id_context_len)
        return p->id_context_len < q->id_context_len ? -1 : 1;
    c = memcmp(p->id_context, q->id_context, p->id_context_len);
    if (c)
        return c;
    return (x->line > y->line) - (x->line < y->line);
}

static bool same_rid(const struct oscore_ctx_entry *p, const struct oscore_ctx_entry *q)
{
    return p->recipient_id_len == q->recipient_id_len &&
           !memcmp(p->recipient_id, q->recipient_id, p->recipient_id_len) &&
           p->has_id_context == q->has_id_context && p->id_context_len == q->id_context_len &&
           !memcmp(p->id_context, q->id_context, p->id_context_len);
}

static int check_duplicates(const char *path, const struct oscore_ctx_store *s,
                            const unsigned *lines, struct diags *d)
{
    struct ix *ix = calloc(s->n, sizeof(*ix));
    int r = 0;
    if (!ix)
        return -ENOMEM;
    for (size_t i = 0; i < s->n; i++)
        ix[i] = (struct ix){&s->v[i], lines[i]};
    qsort(ix, s->n, sizeof(*ix), ix_by_name);
    for (size_t i = 1; i < s->n; i++)
        if (!strcmp(ix[i - 1].e->name, ix[i].e->name)) {
            diag_add(d, path, ix[i].line, "duplicate context name '%s' (also on line %u)",
                     ix[i].e->name, ix[i - 1].line);
            r = -EINVAL;
        }
    qsort(ix, s->n, sizeof(*ix), ix_by_rid);
    for (size_t i = 1; i < s->n; i++)
        if (same_rid(ix[i - 1].e, ix[i].e)) {
            diag_add(d, path, ix[i].line,
                     "context '%s': same recipient_id and id_context as '%s' on line %u",
                     ix[i].e->name, ix[i - 1].e->name, ix[i - 1].line);
            r = -EINVAL;
        }
    free(ix);
    return r;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct oscore_ctx_entry *)a)->name,
                  ((const struct oscore_ctx_entry *)b)->name);
}

int oscore_ctx_parse(const char *path, const char *text, size_t len, struct oscore_ctx_store **out,
                     struct diags *d)
{
    struct parse_ctx c = {.path = path, .d = d};
    int r;

    *out = NULL;
    if (len > OSCORE_CTX_MAX_FILE_SIZE) {
        diag_add(d, path, 0, "file larger than %u bytes", OSCORE_CTX_MAX_FILE_SIZE);
        return -EFBIG;
    }
    c.s = calloc(1, sizeof(*c.s));
    if (!c.s) {
        r = -ENOMEM;
        goto out;
    }
    r = linefile_each(path, text, len, OSCORE_CTX_MAX_LINE, d, entry_line, &c);
    if (r == 0 && c.s->n > 1)
        r = check_duplicates(path, c.s, c.lines, d);
    if (r < 0)
        goto out;
    if (c.s->n > 1)
        qsort(c.s->v, c.s->n, sizeof(*c.s->v), by_name);
    *out = c.s;
    c.s = NULL;
out:
    oscore_ctx_store_free(c.s);
    free(c.lines);
    if (r == -ENOMEM)
        diag_add(d, path, 0, "out of memory");
    return r;
}

static int parse_any(const char *path, const char *text, size_t len, void *out, struct diags *d)
{
    return oscore_ctx_parse(path, text, len, out, d);
}

int oscore_ctx_load(const char *path, struct oscore_ctx_store **out, struct diags *d)
{
    *out = NULL;
    return linefile_load_secret(path, OSCORE_CTX_MAX_FILE_SIZE, "OSCORE contexts file", S_IRWXO,
                                true,
                                "the OSCORE contexts file holds master secrets and must not be "
                                "accessible to others (chmod o-rwx; 0640 root:wotgw or 0600 wotgw)",
                                parse_any, out, d);
}

const struct oscore_ctx_entry *oscore_ctx_find(const struct oscore_ctx_store *s, const char *name)
{
    if (!s || !name)
        return NULL;
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->v[mid].name, name);
        if (!c)
            return &s->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
