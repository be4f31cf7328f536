/* form.c - strict form parsing and text helpers; see form.h.
 * Cleanup style: goto to one exit. */
#define _GNU_SOURCE
#include "form.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define SB_DEFAULT_MAX (1u << 20)

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

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if
 * invalid (RFC 3629: no overlongs, no surrogates, at most U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0)
            return 0; /* overlong */
        if (c == 0xed && s[1] >= 0xa0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90)
            return 0;
        if (c == 0xf4 && s[1] >= 0x90)
            return 0;
        return 4;
    }
    return 0;
}

static bool text_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return false;
        size_t k = utf8_seq(s + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

/* Decodes [s, s+n) into a new string; plus: '+' means space. */
static int decode(const char *s, size_t n, bool plus, size_t max, char **out, size_t *outlen,
                  const char **why)
{
    char *o = malloc(n + 1);
    size_t k = 0;
    if (!o)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                *why = "broken percent-encoding";
                OPENSSL_cleanse(o, n + 1);
                free(o);
                return -EINVAL;
            }
            o[k++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus) {
            o[k++] = ' ';
        } else {
            o[k++] = c;
        }
    }
    o[k] = '\0';
    if (k > max) {
        *why = "a parameter is too long";
        OPENSSL_cleanse(o, n + 1);
        free(o);
        return -E2BIG;
    }
    if (!text_ok((const unsigned char *)o, k)) {
        *why = "control character or invalid UTF-8 in a parameter";
        OPENSSL_cleanse(o, n + 1);
        free(o);
        return -EINVAL;
    }
    *out = o;
    *outlen = k;
    return 0;
}

static bool name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

void form_free(struct form *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].name);
        if (f->v[i].value) {
            OPENSSL_cleanse(f->v[i].value, f->v[i].value_len);
            free(f->v[i].value);
        }
    }
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

int form_parse(const char *s, size_t len, struct form *out, const char **why)
{
    const char *dummy;
    int r = 0;
    if (!why)
        why = &dummy;
    *why = NULL;
    *out = (struct form){0};
    if (len > FORM_MAX_INPUT) {
        *why = "request too large";
        return -E2BIG;
    }
    if (len == 0)
        return 0;
    if (memchr(s, '\0', len)) {
        *why = "NUL byte in the request";
        return -EINVAL;
    }
    /* count pairs first: bounded allocation */
    size_t pairs = 1;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '&')
            pairs++;
    if (pairs > FORM_MAX_PARAMS) {
        *why = "too many parameters";
        return -E2BIG;
    }
    out->v = calloc(pairs, sizeof(*out->v));
    if (!out->v)
        return -ENOMEM;
    const char *p = s, *end = s + len;
    while (p <= end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        if (pe == p) {
            *why = "empty parameter";
            r = -EINVAL;
            goto fail;
        }
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (!eq) {
            *why = "parameter without '='";
            r = -EINVAL;
            goto fail;
        }
        if (eq == p) {
            *why = "parameter without a name";
            r = -EINVAL;
            goto fail;
        }
        struct form_param *fp = &out->v[out->n];
        size_t nl;
        r = decode(p, (size_t)(eq - p), true, FORM_MAX_NAME, &fp->name, &nl, why);
        if (r < 0)
            goto fail;
        if (!name_ok(fp->name)) {
            free(fp->name);
            fp->name = NULL;
            *why = "invalid parameter name";
            r = -EINVAL;
            goto fail;
        }
        r = decode(eq + 1, (size_t)(pe - eq - 1), true, FORM_MAX_VALUE, &fp->value, &fp->value_len,
                   why);
        if (r < 0) {
            free(fp->name);
            fp->name = NULL;
            goto fail;
        }
        out->n++;
        for (size_t i = 0; i + 1 < out->n; i++)
            if (!strcmp(out->v[i].name, fp->name)) {
                *why = "a parameter is given more than once";
                r = -EINVAL;
                goto fail;
            }
        if (!amp)
            break;
        p = amp + 1;
        if (p == end) {
            *why = "empty parameter";
            r = -EINVAL;
            goto fail;
        }
    }
    return 0;
fail:
    form_free(out);
    return r;
}

const char *form_get(const struct form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->v[i].name, name))
            return f->v[i].value_len ? f->v[i].value : NULL;
    return NULL;
}

bool form_has(const struct form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->v[i].name, name))
            return true;
    return false;
}

int form_pct_decode(const char *s, size_t len, size_t max, char **out)
{
    const char *why;
    size_t n;
    *out = NULL;
    return decode(s, len, false, max, out, &n, &why);
}

/* ---- sbuf ----------------------------------------------------------------- */

void sb_put(struct sbuf *b, const char *s, size_t n)
{
    size_t max = b->max ? b->max : SB_DEFAULT_MAX;
    if (b->failed)
        return;
    if (n > max || b->n + n > max) {
        b->failed = true;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void sb_puts(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    sb_put(b, s, (size_t)n);
    free(s);
}

void sb_html(struct sbuf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&#39;"); break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
                break;
            sb_put(b, (const char *)&c, 1);
        }
    }
}

void sb_urlenc(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            sb_put(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_put(b, e, 3);
        }
    }
}

char *sb_steal(struct sbuf *b, size_t *len)
{
    char *p = NULL;
    if (!b->failed && !b->p)
        sb_put(b, "", 0);
    if (b->failed) {
        free(b->p);
    } else {
        p = b->p;
        if (len)
            *len = b->n;
    }
    *b = (struct sbuf){.max = b->max};
    return p;
}

void sb_free(struct sbuf *b)
{
    free(b->p);
    *b = (struct sbuf){.max = b->max};
}
