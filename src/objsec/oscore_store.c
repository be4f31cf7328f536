/* oscore_store.c - see oscore_store.h. */
#define _GNU_SOURCE
#include "oscore_store.h"

#include "oscore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool name_ok(const char *n)
{
    size_t l = strlen(n);
    return l > 0 && l <= 64 &&
           strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-") == l;
}

int oscore_store_open(const char *state_dir, struct oscore_store **out, struct diags *d)
{
    struct oscore_store *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s)
        return -ENOMEM;
    s->dir = util_path_join(state_dir, OSCORE_STORE_SUBDIR);
    if (!s->dir) {
        free(s);
        return -ENOMEM;
    }
    if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
        int r = -errno;
        diag_add(d, s->dir, 0, "cannot make the OSCORE state directory: %s", strerror(-r));
        oscore_store_free(s);
        return r;
    }
    *out = s;
    return 0;
}

void oscore_store_free(struct oscore_store *s)
{
    if (!s)
        return;
    free(s->dir);
    free(s);
}

static char *file_of(const struct oscore_store *s, const char *name)
{
    char *p = NULL;
    if (!name_ok(name))
        return NULL;
    return asprintf(&p, "%s/%s.seq", s->dir, name) < 0 ? NULL : p;
}

int oscore_store_get(const struct oscore_store *s, const char *name, uint64_t *bound,
                     struct diags *d)
{
    char *path = file_of(s, name), *buf = NULL;
    size_t len = 0;
    int r;
    *bound = 0;
    if (!path)
        return name_ok(name) ? -ENOMEM : -EINVAL;
    r = util_read_file(path, OSCORE_STORE_MAX_FILE, &buf, &len);
    if (r == -ENOENT) {
        r = 0;
        goto out;
    }
    if (r < 0) {
        diag_add(d, path, 0, "cannot read the OSCORE sequence number bound: %s",
                 r == -EFBIG ? "file too large" : strerror(-r));
        if (r == -EFBIG)
            r = -EBADMSG;
        goto out;
    }
    if (len < 2 || buf[len - 1] != '\n' || strspn(buf, "0123456789") != len - 1 ||
        (buf[0] == '0' && len > 2)) {
        r = -EBADMSG;
    } else {
        buf[len - 1] = '\0';
        r = util_parse_uint(buf, 0, OSCORE_MAX_SEQ + 1, bound);
        if (r < 0)
            r = -EBADMSG;
    }
    if (r < 0)
        diag_add(d, path, 0,
                 "damaged OSCORE sequence number bound; context '%s' refused (remove the file "
                 "only together with a new context: oscore del and add)",
                 name);
out:
    free(buf);
    free(path);
    return r;
}

int oscore_store_put(const struct oscore_store *s, const char *name, uint64_t bound)
{
    char *path = file_of(s, name), text[32];
    if (!path)
        return name_ok(name) ? -ENOMEM : -EINVAL;
    int n = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)bound);
    int r = util_write_file_atomic(path, text, (size_t)n, 0600);
    free(path);
    return r;
}

int oscore_store_remove(const struct oscore_store *s, const char *name)
{
    char *path = file_of(s, name);
    if (!path)
        return name_ok(name) ? -ENOMEM : -EINVAL;
    int r = unlink(path) < 0 && errno != ENOENT ? -errno : 0;
    free(path);
    return r;
}
