/* ini.c - the strict INI reader; see ini.h and wotgw.conf(5). */
#define _GNU_SOURCE
#include "ini.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A file with this many errors is garbage: stop reporting, stay bounded. */
#define INI_MAX_ERRORS 200
/* Longest section type and name. */
#define INI_MAX_TYPE 64
#define INI_MAX_NAME 256
/* Far beyond any real config; they keep the duplicate checks cheap. */
#define INI_MAX_SECTIONS 4096
#define INI_MAX_KEYS     2048 /* per section */

struct parser {
    const char *path;
    struct ini_file *out;
    struct diags *d;
    size_t n_errors;
    bool gave_up;
    size_t cap_sections;
    size_t cap_entries; /* of the current section */
    uint32_t *hashes;   /* of the current section's keys, cap_entries long */
    /* current section: an index into out->sections, or NONE / REFUSED */
    size_t cur;
    unsigned refused_line; /* REFUSED: line of the header that was refused */
};

#define SEC_NONE    SIZE_MAX
#define SEC_REFUSED (SIZE_MAX - 1)

static void perr(struct parser *p, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void perr(struct parser *p, unsigned line, const char *fmt, ...)
{
    p->n_errors++;
    if (p->gave_up)
        return;
    if (p->n_errors > INI_MAX_ERRORS) {
        diag_add(p->d, p->path, line, "too many errors (more than %d), giving up", INI_MAX_ERRORS);
        p->gave_up = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    diag_addv(p->d, false, p->path, line, fmt, ap);
    va_end(ap);
}

static uint32_t key_hash(const char *k, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Checks one line (without its line ending) for NUL, control characters
 * and invalid UTF-8. Reports the first problem; returns false then. */
static bool line_chars_ok(struct parser *p, unsigned lineno, const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t col = i + 1;
        if (c == 0) {
            perr(p, lineno, "NUL byte at column %zu", col);
            return false;
        }
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                perr(p, lineno, "control character 0x%02x at column %zu", c, col);
                return false;
            }
            i++;
            continue;
        }
        /* UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF */
        size_t len;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf)
            len = 2, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            len = 3, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            len = 4, cp = c & 0x07, min = 0x10000;
        else
            goto bad;
        if (n - i < len)
            goto bad;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                goto bad;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            goto bad;
        if (cp >= 0x80 && cp <= 0x9f) {
            perr(p, lineno, "control character U+%04X at column %zu", (unsigned)cp, col);
            return false;
        }
        i += len;
        continue;
    bad:
        perr(p, lineno, "invalid UTF-8 at column %zu", col);
        return false;
    }
    return true;
}

static void refuse_section(struct parser *p, unsigned lineno)
{
    p->cur = SEC_REFUSED;
    p->refused_line = lineno;
}

static bool type_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* "[type]", "[type name]" or "[type "quoted name"]"; s is the trimmed
 * line, starting with '['. Returns 0, -EINVAL (reported), -ENOMEM. */
static int parse_section(struct parser *p, unsigned lineno, const char *s, size_t n)
{
    char *type = NULL, *name = NULL;
    int r = -EINVAL;
    if (s[n - 1] != ']') {
        const char *rb = memchr(s, ']', n);
        if (rb)
            perr(p, lineno,
                 "broken section header: text after ']' (comments must be on a line of their "
                 "own; its keys are refused)");
        else
            perr(p, lineno, "broken section header: missing ']' (its keys are refused)");
        goto out;
    }
    const char *b = s + 1, *e = s + n - 1; /* inside the brackets */
    while (b < e && is_blank(*b))
        b++;
    while (e > b && is_blank(e[-1]))
        e--;
    if (b == e) {
        perr(p, lineno, "broken section header: empty section type (its keys are refused)");
        goto out;
    }
    if (!((*b >= 'a' && *b <= 'z') || (*b >= 'A' && *b <= 'Z'))) {
        perr(p, lineno,
             "broken section header: the section type must start with a letter (its keys are "
             "refused)");
        goto out;
    }
    const char *t = b;
    while (t < e && type_char(*t))
        t++;
    if ((size_t)(t - b) > INI_MAX_TYPE) {
        perr(p, lineno, "broken section header: section type longer than %d characters",
             INI_MAX_TYPE);
        goto out;
    }
    if (t < e && !is_blank(*t)) {
        perr(p, lineno,
             "broken section header: unexpected '%c' in the section type (its keys are refused)",
             *t);
        goto out;
    }
    type = strndup(b, (size_t)(t - b));
    if (!type) {
        r = -ENOMEM;
        goto out;
    }
    while (t < e && is_blank(*t))
        t++;
    if (t < e) {
        const char *nb = t, *ne = e;
        if (*t == '"') {
            /* quoted: blanks allowed, \" and \\ escapes */
            name = malloc((size_t)(e - t));
            if (!name) {
                r = -ENOMEM;
                goto out;
            }
            size_t k = 0;
            const char *q = t + 1;
            for (; q < e && *q != '"'; q++) {
                if (*q == '\\') {
                    if (q + 1 < e && (q[1] == '"' || q[1] == '\\')) {
                        name[k++] = *++q;
                        continue;
                    }
                    perr(p, lineno,
                         "broken section header: only \\\" and \\\\ may follow '\\' in a "
                         "quoted name (its keys are refused)");
                    goto out;
                }
                name[k++] = *q;
            }
            if (q >= e) {
                perr(p, lineno,
                     "broken section header: unterminated quoted name (its keys are refused)");
                goto out;
            }
            if (q + 1 != e) {
                perr(p, lineno,
                     "broken section header: text after the quoted name (its keys are refused)");
                goto out;
            }
            name[k] = '\0';
            if (k == 0) {
                perr(p, lineno, "broken section header: empty name (its keys are refused)");
                goto out;
            }
        } else {
            for (const char *q = nb; q < ne; q++) {
                if (is_blank(*q) || *q == '"' || *q == '[' || *q == ']') {
                    perr(p, lineno,
                         "broken section header: unexpected '%c' in the name; quote a name "
                         "that holds blanks: [%s \"...\"] (its keys are refused)",
                         is_blank(*q) ? ' ' : *q, type);
                    goto out;
                }
            }
            name = strndup(nb, (size_t)(ne - nb));
            if (!name) {
                r = -ENOMEM;
                goto out;
            }
        }
        if (strlen(name) > INI_MAX_NAME) {
            perr(p, lineno, "broken section header: name longer than %d bytes", INI_MAX_NAME);
            goto out;
        }
    }

    /* duplicate sections */
    struct ini_file *f = p->out;
    for (size_t i = 0; i < f->n_sections; i++) {
        const struct ini_section *o = &f->sections[i];
        if (strcmp(o->type, type))
            continue;
        if ((!o->name && !name) || (o->name && name && !strcmp(o->name, name))) {
            perr(p, lineno, "duplicate section [%s%s%s] (first at line %u; its keys are refused)",
                 type, name ? " " : "", name ? name : "", o->line);
            goto out;
        }
    }
    if (f->n_sections >= INI_MAX_SECTIONS) {
        perr(p, lineno, "more than %d sections (its keys are refused)", INI_MAX_SECTIONS);
        goto out;
    }
    if (f->n_sections == p->cap_sections) {
        size_t cap = p->cap_sections ? p->cap_sections * 2 : 8;
        struct ini_section *v = realloc(f->sections, cap * sizeof(*v));
        if (!v) {
            r = -ENOMEM;
            goto out;
        }
        f->sections = v;
        p->cap_sections = cap;
    }
    f->sections[f->n_sections] = (struct ini_section){.type = type, .name = name, .line = lineno};
    type = name = NULL;
    p->cur = f->n_sections++;
    p->cap_entries = 0;
    r = 0;
out:
    if (r == -EINVAL)
        refuse_section(p, lineno);
    free(type);
    free(name);
    return r;
}

static int parse_key(struct parser *p, unsigned lineno, const char *s, size_t n)
{
    const char *eq = memchr(s, '=', n);
    if (!eq) {
        perr(p, lineno, "expected 'key = value', a [section] header or a comment");
        return -EINVAL;
    }
    const char *kb = s, *ke = eq;
    while (ke > kb && is_blank(ke[-1]))
        ke--;
    const char *vb = eq + 1, *ve = s + n;
    while (vb < ve && is_blank(*vb))
        vb++;
    if (ke == kb) {
        perr(p, lineno, "empty key before '='");
        return -EINVAL;
    }
    for (const char *q = kb; q < ke; q++) {
        if (is_blank(*q)) {
            perr(p, lineno, "blank inside the key '%.*s'", (int)(ke - kb), kb);
            return -EINVAL;
        }
    }
    if (p->cur == SEC_NONE) {
        perr(p, lineno, "key '%.*s' outside any section: put it under a [section] header",
             (int)(ke - kb), kb);
        return -EINVAL;
    }
    if (p->cur == SEC_REFUSED) {
        /* the refused header was reported once; its keys go nowhere */
        return 0;
    }
    struct ini_section *sec = &p->out->sections[p->cur];
    uint32_t h = key_hash(kb, (size_t)(ke - kb));
    for (size_t i = 0; i < sec->n_entries; i++) {
        if (p->hashes[i] == h && strlen(sec->entries[i].key) == (size_t)(ke - kb) &&
            !memcmp(sec->entries[i].key, kb, (size_t)(ke - kb))) {
            perr(p, lineno, "duplicate key '%s' (first at line %u)", sec->entries[i].key,
                 sec->entries[i].line);
            return -EINVAL;
        }
    }
    if (sec->n_entries >= INI_MAX_KEYS) {
        perr(p, lineno, "more than %d keys in one section", INI_MAX_KEYS);
        return -EINVAL;
    }
    if (sec->n_entries == p->cap_entries) {
        size_t cap = p->cap_entries ? p->cap_entries * 2 : 8;
        struct ini_entry *v = realloc(sec->entries, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        sec->entries = v;
        uint32_t *hv = realloc(p->hashes, cap * sizeof(*hv));
        if (!hv)
            return -ENOMEM;
        p->hashes = hv;
        p->cap_entries = cap;
    }
    p->hashes[sec->n_entries] = h;
    char *key = strndup(kb, (size_t)(ke - kb));
    char *value = strndup(vb, (size_t)(ve - vb));
    if (!key || !value) {
        free(key);
        free(value);
        return -ENOMEM;
    }
    sec->entries[sec->n_entries++] = (struct ini_entry){.key = key, .value = value, .line = lineno};
    return 0;
}

int ini_parse(const char *path, const char *text, size_t len, struct ini_file *out, struct diags *d)
{
    int r = 0;
    struct parser p = {.path = path ? path : "", .out = out, .d = d, .cur = SEC_NONE};
    *out = (struct ini_file){0};
    out->path = strdup(p.path);
    if (!out->path)
        return -ENOMEM;

    size_t pos = 0;
    /* a UTF-8 byte order mark some editors write */
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
        pos = 3;
    unsigned lineno = 0;
    while (pos < len && !p.gave_up) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (lineno < UINT32_MAX)
            lineno++;
        if (n && line[n - 1] == '\r') /* CRLF */
            n--;
        bool chars_ok = line_chars_ok(&p, lineno, (const unsigned char *)line, n);

        /* trim blanks */
        const char *s = line;
        while (n && is_blank(*s))
            s++, n--;
        while (n && is_blank(s[n - 1]))
            n--;
        if (!chars_ok) {
            /* a damaged header must not let its keys fall into the
             * previous section */
            if (n && *s == '[')
                refuse_section(&p, lineno);
            continue;
        }
        if (n == 0 || *s == '#' || *s == ';')
            continue;
        if (*s == '[')
            r = parse_section(&p, lineno, s, n);
        else
            r = parse_key(&p, lineno, s, n);
        if (r == -ENOMEM)
            goto fail;
    }
    free(p.hashes);
    return p.n_errors ? -EINVAL : 0;
fail:
    free(p.hashes);
    ini_free(out);
    return r;
}

int ini_load(const char *path, size_t max_size, struct ini_file *out, struct diags *d)
{
    char *text = NULL;
    size_t len = 0;
    *out = (struct ini_file){0};
    int r = util_read_file(path, max_size, &text, &len);
    if (r == -EFBIG) {
        diag_add(d, path, 0, "file is larger than %zu bytes", max_size);
        return r;
    }
    if (r < 0) {
        diag_add(d, path, 0, "cannot read: %s", strerror(-r));
        return r;
    }
    r = ini_parse(path, text, len, out, d);
    free(text);
    return r;
}

void ini_free(struct ini_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_sections; i++) {
        struct ini_section *s = &f->sections[i];
        for (size_t k = 0; k < s->n_entries; k++) {
            free(s->entries[k].key);
            free(s->entries[k].value);
        }
        free(s->entries);
        free(s->type);
        free(s->name);
    }
    free(f->sections);
    free(f->path);
    *f = (struct ini_file){0};
}

struct ini_entry *ini_get(struct ini_section *s, const char *key)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->n_entries; i++) {
        if (!strcmp(s->entries[i].key, key)) {
            s->entries[i].used = true;
            return &s->entries[i];
        }
    }
    return NULL;
}

static bool name_needs_quotes(const char *name)
{
    for (const char *q = name; *q; q++)
        if (is_blank(*q) || *q == '"' || *q == '[' || *q == ']' || *q == '\\')
            return true;
    return false;
}

int ini_section_label(const struct ini_section *s, char *buf, size_t size)
{
    int n;
    if (!s->name)
        n = snprintf(buf, size, "[%s]", s->type);
    else if (!name_needs_quotes(s->name))
        n = snprintf(buf, size, "[%s %s]", s->type, s->name);
    else {
        /* escape " and \ as the reader expects them */
        size_t k = 0;
        n = snprintf(buf, size, "[%s \"", s->type);
        if (n < 0 || (size_t)n >= size)
            return -ENOBUFS;
        k = (size_t)n;
        for (const char *q = s->name; *q; q++) {
            if (*q == '"' || *q == '\\') {
                if (k + 1 >= size)
                    return -ENOBUFS;
                buf[k++] = '\\';
            }
            if (k + 1 >= size)
                return -ENOBUFS;
            buf[k++] = *q;
        }
        if (k + 3 > size)
            return -ENOBUFS;
        buf[k++] = '"';
        buf[k++] = ']';
        buf[k] = '\0';
        return 0;
    }
    return n < 0 || (size_t)n >= size ? -ENOBUFS : 0;
}

void ini_report_unused(const struct ini_file *f, struct diags *d)
{
    for (size_t i = 0; i < f->n_sections; i++) {
        const struct ini_section *s = &f->sections[i];
        char label[INI_SECTION_LABEL_MAX];
        for (size_t k = 0; k < s->n_entries; k++) {
            if (s->entries[k].used)
                continue;
            if (ini_section_label(s, label, sizeof(label)) < 0)
                snprintf(label, sizeof(label), "[%s]", s->type);
            diag_add(d, f->path, s->entries[k].line, "unknown key '%s' in %s", s->entries[k].key,
                     label);
        }
    }
}
