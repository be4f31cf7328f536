/* util.c - see util.h. */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- diagnostics ------------------------------------------------------- */

void diag_addv(struct diags *d, bool warning, const char *file, unsigned line, const char *fmt,
               va_list ap)
{
    if (!d)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        struct diag *v = realloc(d->v, cap * sizeof(*v));
        if (!v)
            return;
        d->v = v;
        d->cap = cap;
    }
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        return;
    char *f = strdup(file ? file : "");
    if (!f) {
        free(msg);
        return;
    }
    d->v[d->n++] = (struct diag){.file = f, .line = line, .warning = warning, .msg = msg};
    if (!warning)
        d->n_errors++;
}

void diag_add(struct diags *d, const char *file, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_addv(d, false, file, line, fmt, ap);
    va_end(ap);
}

void diag_warn(struct diags *d, const char *file, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_addv(d, true, file, line, fmt, ap);
    va_end(ap);
}

void diag_print(const struct diags *d, void *stdio_file)
{
    FILE *f = stdio_file;
    for (size_t i = 0; i < d->n; i++) {
        const struct diag *g = &d->v[i];
        const char *w = g->warning ? "warning: " : "";
        if (g->line)
            fprintf(f, "%s:%u: %s%s\n", g->file, g->line, w, g->msg);
        else
            fprintf(f, "%s: %s%s\n", g->file, w, g->msg);
    }
}

bool diag_contains(const struct diags *d, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (strstr(d->v[i].msg, needle))
            return true;
    return false;
}

void diag_free(struct diags *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].msg);
    }
    free(d->v);
    *d = (struct diags){0};
}

/* ---- files ------------------------------------------------------------- */

int util_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int r;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        r = -EFBIG;
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    buf = malloc(cap);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    for (;;) {
        if (n + 1 >= cap) {
            /* the file grew while we read it */
            if (cap > max) {
                r = -EFBIG;
                goto out;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 2 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                r = -ENOMEM;
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t k = read(fd, buf + n, cap - n - 1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto out;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n > max) {
            r = -EFBIG;
            goto out;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    r = 0;
out:
    free(buf);
    close(fd);
    return r;
}

char *util_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

char *util_path_join(const char *dir, const char *rel)
{
    char *s = NULL;
    if (rel[0] == '/' || !dir || !*dir)
        return strdup(rel);
    size_t dl = strlen(dir);
    if (asprintf(&s, "%s%s%s", dir, dir[dl - 1] == '/' ? "" : "/", rel) < 0)
        return NULL;
    return s;
}

int util_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    int r = 0, fd = -1, dfd = -1;
    char *tmp = NULL, *dir = NULL;
    if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0)
        return -ENOMEM;
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    if (fchmod(fd, mode) < 0) {
        r = -errno;
        goto fail;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t k = write(fd, p, left);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto fail;
        }
        p += k;
        left -= (size_t)k;
    }
    if (fsync(fd) < 0) {
        r = -errno;
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        r = -errno;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        r = -errno;
        goto fail;
    }
    dir = util_dirname(path);
    if (dir) {
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(dir);
    free(tmp);
    return r;
}

/* ---- values ------------------------------------------------------------ */

static int parse_u64_prefix(const char *s, uint64_t *v, const char **end)
{
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    uint64_t x = 0;
    while (*s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -ERANGE;
        x = x * 10 + d;
        s++;
    }
    *v = x;
    *end = s;
    return 0;
}

static int mul_checked(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a && b > UINT64_MAX / a)
        return -ERANGE;
    *out = a * b;
    return 0;
}

int util_parse_size(const char *s, uint64_t *out)
{
    uint64_t v, m = 1;
    const char *e;
    int r = parse_u64_prefix(s, &v, &e);
    if (r < 0)
        return r;
    if (*e == 'K' || *e == 'k')
        m = 1ull << 10, e++;
    else if (*e == 'M')
        m = 1ull << 20, e++;
    else if (*e == 'G')
        m = 1ull << 30, e++;
    if (*e == 'B' || (*e == 'i' && e[1] == 'B' && m > 1 && (e++, true)))
        e++;
    if (*e)
        return -EINVAL;
    return mul_checked(v, m, out);
}

int util_parse_duration_us(const char *s, uint64_t *out)
{
    uint64_t v, m;
    const char *e;
    int r = parse_u64_prefix(s, &v, &e);
    if (r < 0)
        return r;
    if (!*e || !strcmp(e, "s"))
        m = 1000000;
    else if (!strcmp(e, "ms"))
        m = 1000;
    else if (!strcmp(e, "us"))
        m = 1;
    else if (!strcmp(e, "m") || !strcmp(e, "min"))
        m = 60000000;
    else if (!strcmp(e, "h"))
        m = 3600000000ull;
    else
        return -EINVAL;
    return mul_checked(v, m, out);
}

int util_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        if (!strcmp(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcmp(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

int util_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v;
    const char *e;
    int r = parse_u64_prefix(s, &v, &e);
    if (r < 0)
        return r;
    if (*e)
        return -EINVAL;
    if (v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

static bool is_sep(char c)
{
    return c == ' ' || c == '\t' || c == ',';
}

int util_split_words(const char *s, char ***out, size_t *n)
{
    size_t cnt = 0;
    for (const char *p = s; *p;) {
        while (*p && is_sep(*p))
            p++;
        if (!*p)
            break;
        cnt++;
        while (*p && !is_sep(*p))
            p++;
    }
    char **v = calloc(cnt + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    size_t i = 0;
    for (const char *p = s; *p;) {
        while (*p && is_sep(*p))
            p++;
        if (!*p)
            break;
        const char *b = p;
        while (*p && !is_sep(*p))
            p++;
        v[i] = strndup(b, (size_t)(p - b));
        if (!v[i]) {
            util_strv_free(v);
            return -ENOMEM;
        }
        i++;
    }
    *out = v;
    if (n)
        *n = cnt;
    return 0;
}

void util_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

bool util_strv_contains(char *const *v, const char *s)
{
    if (!v)
        return false;
    for (; *v; v++)
        if (!strcmp(*v, s))
            return true;
    return false;
}

/* ---- encodings --------------------------------------------------------- */

static const char b64url_alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(const char *alpha, char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == alpha[62])
        return 62;
    if (c == alpha[63])
        return 63;
    return -1;
}

/* Decodes unpadded base64 in alphabet alpha; rejects non-canonical
 * trailing bits and a length of 1 mod 4. */
static int b64_decode_raw(const char *alpha, const char *in, size_t inlen, uint8_t *out, size_t cap,
                          size_t *outlen)
{
    if (inlen % 4 == 1)
        return -EINVAL;
    size_t need = inlen / 4 * 3 + (inlen % 4 ? inlen % 4 - 1 : 0);
    if (need > cap)
        return -ENOBUFS;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < inlen; i++) {
        int v = b64_val(alpha, in[i]);
        if (v < 0)
            return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* leftover bits must be zero */
        return -EINVAL;
    *outlen = o;
    return 0;
}

int b64url_decode(const char *in, size_t inlen, uint8_t *out, size_t cap, size_t *outlen)
{
    return b64_decode_raw(b64url_alpha, in, inlen, out, cap, outlen);
}

int b64_decode(const char *in, size_t inlen, uint8_t *out, size_t cap, size_t *outlen)
{
    if (inlen % 4)
        return -EINVAL;
    size_t pad = 0;
    while (pad < 2 && inlen > pad && in[inlen - 1 - pad] == '=')
        pad++;
    return b64_decode_raw(b64_alpha, in, inlen - pad, out, cap, outlen);
}

size_t b64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

void b64url_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alpha[v >> 18];
        out[o++] = b64url_alpha[(v >> 12) & 63];
        out[o++] = b64url_alpha[(v >> 6) & 63];
        out[o++] = b64url_alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alpha[v >> 18];
        out[o++] = b64url_alpha[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alpha[v >> 18];
        out[o++] = b64url_alpha[(v >> 12) & 63];
        out[o++] = b64url_alpha[(v >> 6) & 63];
    }
    out[o] = '\0';
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char h[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = h[in[i] >> 4];
        out[2 * i + 1] = h[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(const char *in, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t o = 0;
    for (const char *p = in; *p;) {
        if (*p == ':') {
            if (p == in || !p[1] || p[1] == ':')
                return -EINVAL;
            p++;
            continue;
        }
        int hi = hex_digit(p[0]), lo = p[1] ? hex_digit(p[1]) : -1;
        if (hi < 0 || lo < 0)
            return -EINVAL;
        if (o >= cap)
            return -ENOBUFS;
        out[o++] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    *outlen = o;
    return 0;
}

/* ---- secrets ----------------------------------------------------------- */

bool util_secret_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return false;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

void util_secret_free(char *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

int util_read_secret_line(const char *path, size_t min, size_t max, char **out, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    int r = util_read_file(path, max + 2, &buf, &n);
    if (r < 0)
        return r;
    if (n && buf[n - 1] == '\n')
        n--;
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (n < min || n > max || strlen(buf) != n || memchr(buf, '\n', n) || memchr(buf, '\r', n)) {
        OPENSSL_cleanse(buf, n);
        free(buf);
        return -EINVAL;
    }
    *out = buf;
    *len = n;
    return 0;
}

int util_timer_arm(sd_event *ev, sd_event_source **s, uint64_t delay_us, sd_event_time_handler_t cb,
                   void *ud)
{
    uint64_t now;
    int r = sd_event_now(ev, CLOCK_MONOTONIC, &now);
    if (r < 0)
        return r;
    uint64_t accuracy = delay_us ? 10000 : 1; /* "now" means now */
    if (!*s)
        return sd_event_add_time(ev, s, CLOCK_MONOTONIC, now + delay_us, accuracy, cb, ud);
    r = sd_event_source_set_time_accuracy(*s, accuracy);
    if (r >= 0)
        r = sd_event_source_set_time(*s, now + delay_us);
    return r < 0 ? r : sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
}
