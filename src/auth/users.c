/* users.c - the users file; see users.h.
 *
 * Hashes are checked with libxcrypt's crypt_rn(). Only strong methods are
 * accepted at load time; a weak or malformed hash refuses the file with
 * FILE:LINE so that an administrator re-hashes it with wotgw-passwd.
 * Cleanup style: goto to one exit.
 */
#define _GNU_SOURCE
#include "users.h"

#include "linefile.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/* Hashed for unknown users when the file has no password user at all. A
 * fixed yescrypt setting with libxcrypt's default cost; the salt is not a
 * secret. */
#define USERS_BUILTIN_DUMMY "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$"

/* The crypt(5) alphabet plus "$". */
static bool crypt_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/' || c == '$';
}

/* Why hash (NUL-terminated) is refused, or NULL when it is acceptable.
 * *warn gets a warning for acceptable but cheap settings. */
static const char *hash_problem(const char *h, const char **warn)
{
    size_t len = strlen(h);
    *warn = NULL;
    if (len == 0)
        return "empty password hash (\"!\" means no password login)";
    if (len >= CRYPT_OUTPUT_SIZE)
        return "password hash too long";
    for (size_t i = 0; i < len; i++)
        if (!crypt_char(h[i]))
            return "password hash has characters outside the crypt(5) alphabet";
    if (!strncmp(h, "$1$", 3))
        return "weak password hash method MD5-crypt ($1$); set a new password with "
               "wotgw-passwd";
    if (!strncmp(h, "$5$", 3) || !strncmp(h, "$6$", 3))
        return "password hash method SHA-crypt ($5$/$6$) is not accepted; set a new "
               "password with wotgw-passwd (yescrypt or bcrypt)";
    if (h[0] != '$')
        return "weak password hash method DES-crypt (or not a crypt(5) hash); set a new "
               "password with wotgw-passwd";
    /* the hash proper: after the last '$' */
    const char *last = strrchr(h, '$');
    size_t tail = len - (size_t)(last - h) - 1;
    if (!strncmp(h, "$2b$", 4)) {
        /* $2b$NN$ + 22 salt + 31 hash */
        if (len != 60 || h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' || h[6] != '$' ||
            last != h + 6)
            return "malformed bcrypt hash";
        int cost = (h[4] - '0') * 10 + (h[5] - '0');
        if (cost < 4 || cost > 31)
            return "malformed bcrypt hash (cost out of range)";
        if (cost < 10)
            *warn = "bcrypt cost below 10 is cheap to brute-force";
    } else if (!strncmp(h, "$y$", 3) || !strncmp(h, "$gy$", 4)) {
        /* $y$PARAMS$SALT$HASH */
        const char *p = h + (h[1] == 'g' ? 4 : 3);
        const char *d1 = strchr(p, '$');
        if (!d1 || d1 == p || d1[1] == '$' || !d1[1] || last == d1 || tail != 43 ||
            strchr(d1 + 1, '$') != last)
            return "malformed yescrypt hash";
    } else if (!strncmp(h, "$7$", 3)) {
        /* $7$PARAMS+SALT$HASH */
        if (last == h + 2 || last == h + 3 || tail != 43 || strchr(h + 3, '$') != last)
            return "malformed scrypt hash";
    } else {
        return "unknown or unaccepted password hash method (accepted: yescrypt $y$, bcrypt "
               "$2b$, scrypt $7$, gost-yescrypt $gy$)";
    }
    if (crypt_checksalt(h) != CRYPT_SALT_OK)
        return "password hash method disabled or invalid in libxcrypt";
    return NULL;
}

bool users_hash_method_ok(const char *hash)
{
    const char *warn;
    return hash && hash_problem(hash, &warn) == NULL;
}

static void user_clear(struct user *u)
{
    free(u->name);
    util_secret_free(u->hash);
    util_strv_free(u->groups);
    *u = (struct user){0};
}

void users_free(struct users *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++)
        user_clear(&u->v[i]);
    free(u->v);
    free(u->dummy);
    free(u);
}

struct tmp_user {
    struct user u;
    unsigned line;
};

static int tmp_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tmp_user *)a)->u.name, ((const struct tmp_user *)b)->u.name);
}

/* Parses one non-comment line (NUL-terminated, no newline) into t.
 * -EINVAL after adding a diagnostic. */
static int line_parse(const char *path, unsigned ln, const char *s, struct tmp_user *t,
                      struct diags *d)
{
    const char *why = NULL, *warn = NULL;
    int r;
    const char *c1 = strchr(s, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1) {
        diag_add(d, path, ln, "expected NAME:HASH[:GROUP,...]");
        return -EINVAL;
    }
    if (!linefile_name_ok(s, (size_t)(c1 - s))) {
        diag_add(d, path, ln, "invalid user name (allowed: 1 to 64 of A-Z a-z 0-9 . _ @ -)");
        return -EINVAL;
    }
    t->line = ln;
    t->u.name = strndup(s, (size_t)(c1 - s));
    if (!t->u.name)
        return -ENOMEM;
    size_t hl = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
    t->u.hash = strndup(c1 + 1, hl);
    if (!t->u.hash)
        return -ENOMEM;
    if (strcmp(t->u.hash, "!") != 0) {
        why = hash_problem(t->u.hash, &warn);
        if (why) {
            diag_add(d, path, ln, "user '%s': %s", t->u.name, why);
            return -EINVAL;
        }
        if (warn)
            diag_warn(d, path, ln, "user '%s': %s", t->u.name, warn);
    }
    const char *g = c2 ? c2 + 1 : "";
    r = linefile_groups_split(g, strlen(g), USERS_MAX_GROUPS, &t->u.groups, &why);
    if (r == -EINVAL)
        diag_add(d, path, ln, "user '%s': %s", t->u.name, why);
    return r;
}

struct parse_ctx {
    const char *path;
    struct diags *d;
    struct tmp_user *tv;
    size_t n, cap;
};

static int entry_line(void *ud, unsigned ln, char *line)
{
    struct parse_ctx *c = ud;
    if (c->n == USERS_MAX_ENTRIES) {
        diag_add(c->d, c->path, ln, "more than %u users", USERS_MAX_ENTRIES);
        return -E2BIG;
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        struct tmp_user *nv = reallocarray(c->tv, nc, sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        c->tv = nv;
        c->cap = nc;
    }
    c->tv[c->n] = (struct tmp_user){0};
    return line_parse(c->path, ln, line, &c->tv[c->n++], c->d);
}

int users_parse(const char *path, const char *text, size_t len, struct users **out, struct diags *d)
{
    struct parse_ctx c = {.path = path, .d = d};
    struct users *u = NULL;
    int r;

    *out = NULL;
    if (len > USERS_MAX_FILE_SIZE) {
        diag_add(d, path, 0, "file larger than %u bytes", USERS_MAX_FILE_SIZE);
        return -EFBIG;
    }
    r = linefile_each(path, text, len, USERS_MAX_LINE, d, entry_line, &c);
    struct tmp_user *tv = c.tv;
    size_t n = c.n;
    if (r < 0)
        goto out;

    u = calloc(1, sizeof(*u));
    if (!u) {
        r = -ENOMEM;
        goto out;
    }
    /* the dummy: the first password user's hash in file order */
    for (size_t i = 0; i < n && !u->dummy; i++)
        if (strcmp(tv[i].u.hash, "!") != 0)
            u->dummy = strdup(tv[i].u.hash);
    if (!u->dummy)
        u->dummy = strdup(USERS_BUILTIN_DUMMY);
    if (!u->dummy) {
        r = -ENOMEM;
        goto out;
    }
    if (n)
        qsort(tv, n, sizeof(*tv), tmp_cmp);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(tv[i].u.name, tv[i - 1].u.name)) {
            unsigned a = tv[i - 1].line < tv[i].line ? tv[i - 1].line : tv[i].line;
            unsigned b = tv[i - 1].line < tv[i].line ? tv[i].line : tv[i - 1].line;
            diag_add(d, path, b, "duplicate user '%s' (also on line %u)", tv[i].u.name, a);
            r = -EINVAL;
        }
    if (r < 0)
        goto out;
    if (n) {
        u->v = calloc(n, sizeof(*u->v));
        if (!u->v) {
            r = -ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        u->v[i] = tv[i].u;
        tv[i].u = (struct user){0};
    }
    u->n = n;
    n = 0;
    *out = u;
    u = NULL;
out:
    for (size_t i = 0; i < n; i++)
        user_clear(&tv[i].u);
    free(tv);
    users_free(u);
    if (r == -ENOMEM)
        diag_add(d, path, 0, "out of memory");
    return r;
}

int users_load(const char *path, struct users **out, struct diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int r = util_read_file(path, USERS_MAX_FILE_SIZE, &buf, &len);
    if (r < 0) {
        diag_add(d, path, 0, "cannot read users file: %s", strerror(-r));
        return r;
    }
    r = users_parse(path, buf, len, out, d);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return r;
}

static int user_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct user *)elem)->name);
}

const struct user *users_find(const struct users *u, const char *name)
{
    if (!u || !name || !u->n)
        return NULL;
    return bsearch(name, u->v, u->n, sizeof(*u->v), user_key_cmp);
}

bool users_verify(const struct users *u, const char *name, const char *pass, size_t pass_len,
                  const struct user **out)
{
    struct crypt_data *cd = NULL;
    char *pw = NULL;
    bool ok = false;
    const struct user *usr = users_find(u, name);
    bool usable = pass && pass_len <= USERS_MAX_PASSWORD && !memchr(pass, '\0', pass_len);
    bool real = usr && strcmp(usr->hash, "!") != 0 && usable;
    const char *setting = real ? usr->hash : (u && u->dummy ? u->dummy : USERS_BUILTIN_DUMMY);

    if (out)
        *out = NULL;
    if (!usable)
        pass_len = 0;
    pw = malloc(pass_len + 1);
    cd = calloc(1, sizeof(*cd));
    if (!pw || !cd)
        goto out;
    if (pass_len)
        memcpy(pw, pass, pass_len);
    pw[pass_len] = '\0';
    /* always one hash computation, whether or not the user exists */
    const char *h = crypt_rn(pw, setting, cd, sizeof(*cd));
    if (h && h[0] != '*' && real)
        ok = util_secret_eq(h, strlen(h), usr->hash, strlen(usr->hash));
out:
    if (cd) {
        OPENSSL_cleanse(cd, sizeof(*cd));
        free(cd);
    }
    if (pw) {
        OPENSSL_cleanse(pw, pass_len + 1);
        free(pw);
    }
    if (ok && out)
        *out = usr;
    return ok;
}

bool user_in_group(const struct user *u, const char *group)
{
    if (!u || !group)
        return false;
    return util_strv_contains(u->groups, group);
}
