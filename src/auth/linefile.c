/* linefile.c - see linefile.h. */
#define _GNU_SOURCE
#include "linefile.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '@' || c == '-';
}

bool linefile_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > LINEFILE_MAX_NAME)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char(s[i]))
            return false;
    return true;
}

int linefile_groups_split(const char *s, size_t len, size_t max_groups, char ***out,
                          const char **why)
{
    size_t n = 0;
    int r;
    char **v = calloc(max_groups + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t start = 0, i = 0; len && i <= len; i++) {
        if (i < len && s[i] != ',')
            continue;
        if (!linefile_name_ok(s + start, i - start)) {
            *why = "invalid group name (allowed: 1 to 64 of A-Z a-z 0-9 . _ @ -)";
            r = -EINVAL;
            goto fail;
        }
        if (n == max_groups) {
            *why = "too many groups";
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

int linefile_each(const char *path, const char *text, size_t len, size_t max_line, struct diags *d,
                  int (*fn)(void *ud, unsigned ln, char *line), void *ud)
{
    char *line = malloc(max_line + 1);
    if (!line)
        return -ENOMEM;
    unsigned ln = 0;
    int bad = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *s = text + pos;
        pos += ll + (nl ? 1 : 0);
        ln++;
        if (ll && s[ll - 1] == '\r')
            ll--;
        if (ll > max_line) {
            diag_add(d, path, ln, "line longer than %zu bytes", max_line);
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
        int r = fn(ud, ln, line);
        if (r == -EINVAL) {
            bad = r;
        } else if (r == -E2BIG) {
            bad = -EINVAL;
            break;
        } else if (r < 0) {
            free(line);
            return r;
        }
    }
    free(line);
    return bad;
}

int linefile_load_secret(const char *path, size_t max, const char *what, mode_t others_mask,
                         bool refuse, const char *perm_msg,
                         int (*parse)(const char *path, const char *text, size_t len, void *out,
                                      struct diags *d),
                         void *out, struct diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int r = util_read_file(path, max, &buf, &len);
    if (r < 0) {
        diag_add(d, path, 0, "cannot read %s: %s", what,
                 r == -EFBIG ? "file too large" : strerror(-r));
        return r;
    }
    if (stat(path, &st) == 0 && (st.st_mode & others_mask)) {
        if (refuse) {
            diag_add(d, path, 0, "%s", perm_msg);
            r = -EPERM;
            goto out;
        }
        diag_warn(d, path, 0, "%s", perm_msg);
    }
    r = parse(path, buf, len, out, d);
out:
    OPENSSL_cleanse(buf, len);
    free(buf);
    return r;
}
