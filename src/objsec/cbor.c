/* cbor.c - deterministic CBOR encoder and bounded decoder; see cbor.h.
 *
 * Cleanup style: nothing here allocates; every function returns early.
 * The validator is recursive, bounded by CBOR_HARD_MAX_DEPTH.
 */
#include "cbor.h"

#include <errno.h>
#include <string.h>

const struct cbor_limits cbor_limits_default = {
        .max_depth = 16,
        .max_items = 1024,
        .max_str = 65536,
        .max_size = 1u << 20,
        .strict = false,
        .allow_indefinite = false,
};

/* ---- encoder ---------------------------------------------------------- */

void cbor_enc_init(struct cbor_enc *e, uint8_t *buf, size_t cap)
{
    e->buf = buf;
    e->cap = buf ? cap : 0;
    e->len = 0;
    e->err = 0;
}

int cbor_enc_finish(const struct cbor_enc *e, size_t *len)
{
    if (e->err < 0)
        return e->err;
    if (len)
        *len = e->len;
    return 0;
}

static void put_bytes(struct cbor_enc *e, const void *p, size_t n)
{
    if (e->err < 0)
        return;
    if (!e->buf) {
        if (n > SIZE_MAX - e->len) {
            e->err = -ENOBUFS;
            return;
        }
        e->len += n;
        return;
    }
    if (n > e->cap - e->len) {
        e->err = -ENOBUFS;
        return;
    }
    if (n)
        memcpy(e->buf + e->len, p, n);
    e->len += n;
}

static size_t head_encode(uint8_t out[CBOR_HEAD_MAX], unsigned mt, uint64_t v)
{
    uint8_t ib = (uint8_t)(mt << 5);
    if (v < 24) {
        out[0] = ib | (uint8_t)v;
        return 1;
    }
    size_t n;
    if (v <= 0xff) {
        out[0] = ib | 24;
        n = 1;
    } else if (v <= 0xffff) {
        out[0] = ib | 25;
        n = 2;
    } else if (v <= 0xffffffffu) {
        out[0] = ib | 26;
        n = 4;
    } else {
        out[0] = ib | 27;
        n = 8;
    }
    for (size_t i = 0; i < n; i++)
        out[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return 1 + n;
}

static void put_head(struct cbor_enc *e, unsigned mt, uint64_t v)
{
    uint8_t h[CBOR_HEAD_MAX];
    put_bytes(e, h, head_encode(h, mt, v));
}

void cbor_put_uint(struct cbor_enc *e, uint64_t v)
{
    put_head(e, CBOR_UINT, v);
}

void cbor_put_nint(struct cbor_enc *e, uint64_t v)
{
    put_head(e, CBOR_NINT, v);
}

void cbor_put_int(struct cbor_enc *e, int64_t v)
{
    if (v >= 0)
        put_head(e, CBOR_UINT, (uint64_t)v);
    else
        put_head(e, CBOR_NINT, (uint64_t)(-1 - v));
}

void cbor_put_bstr_head(struct cbor_enc *e, size_t n)
{
    put_head(e, CBOR_BSTR, n);
}

void cbor_put_bstr(struct cbor_enc *e, const void *data, size_t n)
{
    put_head(e, CBOR_BSTR, n);
    put_bytes(e, data, n);
}

void cbor_put_tstr(struct cbor_enc *e, const char *s, size_t n)
{
    put_head(e, CBOR_TSTR, n);
    put_bytes(e, s, n);
}

void cbor_put_cstr(struct cbor_enc *e, const char *s)
{
    cbor_put_tstr(e, s, strlen(s));
}

void cbor_put_array(struct cbor_enc *e, size_t n)
{
    put_head(e, CBOR_ARRAY, n);
}

void cbor_put_tag(struct cbor_enc *e, uint64_t tag)
{
    put_head(e, CBOR_TAG, tag);
}

void cbor_put_bool(struct cbor_enc *e, bool v)
{
    uint8_t b = v ? CBOR_TRUE : CBOR_FALSE;
    put_bytes(e, &b, 1);
}

void cbor_put_null(struct cbor_enc *e)
{
    uint8_t b = CBOR_NULL;
    put_bytes(e, &b, 1);
}

void cbor_put_raw(struct cbor_enc *e, const void *data, size_t n)
{
    put_bytes(e, data, n);
}

/* ---- validation ------------------------------------------------------- */

struct vstate {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    const struct cbor_limits *lim;
    size_t items;
    const char *why;
    size_t err_off;
};

static int vfail(struct vstate *s, int err, size_t off, const char *why)
{
    s->why = why;
    s->err_off = off;
    return err;
}

/* Reads the head at pos. For ai 31, *arg is 0. */
static int read_head(const uint8_t *buf, size_t len, size_t pos, unsigned *mt, unsigned *ai,
                     uint64_t *arg, size_t *hlen)
{
    if (pos >= len)
        return -EBADMSG;
    uint8_t ib = buf[pos];
    *mt = ib >> 5;
    *ai = ib & 0x1f;
    if (*ai < 24) {
        *arg = *ai;
        *hlen = 1;
        return 0;
    }
    if (*ai == 31) {
        *arg = 0;
        *hlen = 1;
        return 0;
    }
    if (*ai > 27)
        return -EBADMSG; /* 28..30 reserved */
    size_t n = (size_t)1 << (*ai - 24);
    if (n > len - pos - 1)
        return -EBADMSG;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | buf[pos + 1 + i];
    *arg = v;
    *hlen = 1 + n;
    return 0;
}

static bool head_is_shortest(unsigned ai, uint64_t arg)
{
    switch (ai) {
    case 24: return arg >= 24;
    case 25: return arg > 0xff;
    case 26: return arg > 0xffff;
    case 27: return arg > 0xffffffffu;
    default: return true;
    }
}

static bool utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (k > n - i - 1)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

static int v_item(struct vstate *s, unsigned depth);

/* the body of a string whose head (definite) was just read */
static int v_string_body(struct vstate *s, unsigned mt, uint64_t n, size_t at)
{
    if (n > s->len - s->pos)
        return vfail(s, -EBADMSG, at, "truncated string");
    if (n > s->lim->max_str)
        return vfail(s, -E2BIG, at, "string too long");
    if (mt == CBOR_TSTR && !utf8_valid(s->buf + s->pos, (size_t)n))
        return vfail(s, -EBADMSG, at, "invalid UTF-8 in text string");
    s->pos += (size_t)n;
    return 0;
}

static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return an < bn ? -1 : an > bn ? 1 : 0;
}

static int v_item(struct vstate *s, unsigned depth)
{
    const struct cbor_limits *lim = s->lim;
    size_t at = s->pos;
    unsigned mt, ai;
    uint64_t arg;
    size_t hlen;
    int r;

    if (depth > lim->max_depth)
        return vfail(s, -E2BIG, at, "nesting too deep");
    if (++s->items > lim->max_items)
        return vfail(s, -E2BIG, at, "too many data items");
    r = read_head(s->buf, s->len, s->pos, &mt, &ai, &arg, &hlen);
    if (r < 0)
        return vfail(s, r, at,
                     s->pos < s->len && (s->buf[s->pos] & 0x1f) >= 28 &&
                                     (s->buf[s->pos] & 0x1f) <= 30
                             ? "reserved additional information"
                             : "truncated item");
    if (lim->strict && mt != CBOR_SIMPLE && !head_is_shortest(ai, arg))
        return vfail(s, -EBADMSG, at, "non-shortest head");
    s->pos += hlen;

    switch (mt) {
    case CBOR_UINT:
    case CBOR_NINT:
        if (ai == 31)
            return vfail(s, -EBADMSG, at, "indefinite length on an integer");
        return 0;

    case CBOR_BSTR:
    case CBOR_TSTR:
        if (ai != 31)
            return v_string_body(s, mt, arg, at);
        if (!lim->allow_indefinite || lim->strict)
            return vfail(s, -EBADMSG, at, "indefinite-length string");
        {
            uint64_t total = 0;
            for (;;) {
                size_t cat = s->pos;
                if (s->pos >= s->len)
                    return vfail(s, -EBADMSG, cat, "unterminated indefinite string");
                if (s->buf[s->pos] == 0xff) {
                    s->pos++;
                    return 0;
                }
                if (++s->items > lim->max_items)
                    return vfail(s, -E2BIG, cat, "too many data items");
                unsigned cmt, cai;
                uint64_t carg;
                size_t chl;
                r = read_head(s->buf, s->len, s->pos, &cmt, &cai, &carg, &chl);
                if (r < 0)
                    return vfail(s, r, cat, "truncated string chunk");
                if (cmt != mt || cai == 31)
                    return vfail(s, -EBADMSG, cat, "bad chunk in indefinite string");
                if (lim->strict && !head_is_shortest(cai, carg))
                    return vfail(s, -EBADMSG, cat, "non-shortest head");
                s->pos += chl;
                total += carg;
                if (total > lim->max_str)
                    return vfail(s, -E2BIG, cat, "string too long");
                r = v_string_body(s, cmt, carg, cat);
                if (r < 0)
                    return r;
            }
        }

    case CBOR_ARRAY:
    case CBOR_MAP:
        if (ai == 31) {
            if (!lim->allow_indefinite || lim->strict)
                return vfail(s, -EBADMSG, at, "indefinite-length container");
            for (size_t i = 0;; i++) {
                if (s->pos >= s->len)
                    return vfail(s, -EBADMSG, s->pos, "unterminated indefinite container");
                if (s->buf[s->pos] == 0xff) {
                    if (mt == CBOR_MAP && (i & 1))
                        return vfail(s, -EBADMSG, s->pos, "map key without value");
                    s->pos++;
                    return 0;
                }
                r = v_item(s, depth + 1);
                if (r < 0)
                    return r;
            }
        } else {
            uint64_t n = arg;
            if (mt == CBOR_MAP) {
                if (n > (s->len - s->pos) / 2)
                    return vfail(s, -EBADMSG, at, "truncated map");
                n *= 2;
            } else if (n > s->len - s->pos) {
                return vfail(s, -EBADMSG, at, "truncated array");
            }
            if (n > lim->max_items - s->items)
                return vfail(s, -E2BIG, at, "too many data items");
            const uint8_t *prev = NULL;
            size_t prev_n = 0;
            for (uint64_t i = 0; i < n; i++) {
                size_t kat = s->pos;
                r = v_item(s, depth + 1);
                if (r < 0)
                    return r;
                if (mt == CBOR_MAP && lim->strict && !(i & 1)) {
                    const uint8_t *k = s->buf + kat;
                    size_t kn = s->pos - kat;
                    if (prev) {
                        int c = key_cmp(prev, prev_n, k, kn);
                        if (c == 0)
                            return vfail(s, -EBADMSG, kat, "duplicate map key");
                        if (c > 0)
                            return vfail(s, -EBADMSG, kat, "map keys not in canonical order");
                    }
                    prev = k;
                    prev_n = kn;
                }
            }
            return 0;
        }

    case CBOR_TAG:
        if (ai == 31)
            return vfail(s, -EBADMSG, at, "indefinite length on a tag");
        return v_item(s, depth + 1);

    default: /* CBOR_SIMPLE */
        if (ai == 31)
            return vfail(s, -EBADMSG, at, "break outside an indefinite-length item");
        if (ai == 24) {
            if (arg < 32)
                return vfail(s, -EBADMSG, at, "invalid two-byte simple value");
            if (lim->strict)
                return vfail(s, -EBADMSG, at, "unassigned simple value");
        } else if (ai < 20 && lim->strict) {
            return vfail(s, -EBADMSG, at, "unassigned simple value");
        }
        return 0; /* false, true, null, undefined, floats */
    }
}

static const struct cbor_limits *limits_clamp(const struct cbor_limits *in, struct cbor_limits *tmp)
{
    *tmp = in ? *in : cbor_limits_default;
    if (tmp->max_depth > CBOR_HARD_MAX_DEPTH)
        tmp->max_depth = CBOR_HARD_MAX_DEPTH;
    if (tmp->max_size > CBOR_HARD_MAX_SIZE)
        tmp->max_size = CBOR_HARD_MAX_SIZE;
    return tmp;
}

int cbor_validate(const uint8_t *buf, size_t len, const struct cbor_limits *lim, bool trailing_ok,
                  size_t *item_len, const char **why, size_t *err_off)
{
    struct cbor_limits l;
    struct vstate s = {.buf = buf, .len = len, .lim = limits_clamp(lim, &l)};
    int r;

    if (!buf && len)
        return -EINVAL;
    if (len > s.lim->max_size) {
        r = vfail(&s, -E2BIG, 0, "input too large");
    } else if (len == 0) {
        r = vfail(&s, -EBADMSG, 0, "empty input");
    } else {
        r = v_item(&s, 1);
        if (r == 0 && !trailing_ok && s.pos != len)
            r = vfail(&s, -EBADMSG, s.pos, "trailing bytes after the item");
    }
    if (why)
        *why = r < 0 ? s.why : NULL;
    if (err_off)
        *err_off = r < 0 ? s.err_off : 0;
    if (r == 0 && item_len)
        *item_len = s.pos;
    return r;
}

/* ---- map sorting (encoder) -------------------------------------------- */

/* length of the (trusted, just encoded) item at p */
static int item_len(const uint8_t *p, size_t n, size_t *out)
{
    static const struct cbor_limits any = {
            .max_depth = CBOR_HARD_MAX_DEPTH,
            .max_items = SIZE_MAX,
            .max_str = SIZE_MAX,
            .max_size = CBOR_HARD_MAX_SIZE,
    };
    return cbor_validate(p, n, &any, true, out, NULL, NULL);
}

static void reverse(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        uint8_t t = p[i];
        p[i] = p[n - 1 - i];
        p[n - 1 - i] = t;
    }
}

/* [a | b] -> [b | a] in place */
static void rotate(uint8_t *p, size_t an, size_t bn)
{
    reverse(p, an);
    reverse(p + an, bn);
    reverse(p, an + bn);
}

size_t cbor_enc_map_begin(struct cbor_enc *e, size_t n)
{
    put_head(e, CBOR_MAP, n);
    return e->len;
}

void cbor_enc_map_end(struct cbor_enc *e, size_t mark, size_t n)
{
    if (e->err < 0 || !e->buf)
        return;
    if (mark > e->len) {
        e->err = -EINVAL;
        return;
    }
    uint8_t *base = e->buf;
    size_t end = e->len;
    size_t sorted_end = mark; /* [mark, sorted_end) holds i sorted pairs */
    for (size_t i = 0; i < n; i++) {
        size_t kn, vn;
        if (sorted_end >= end || item_len(base + sorted_end, end - sorted_end, &kn) < 0 ||
            item_len(base + sorted_end + kn, end - sorted_end - kn, &vn) < 0) {
            e->err = -EINVAL;
            return;
        }
        const uint8_t *key = base + sorted_end;
        /* find the first sorted pair whose key is greater */
        size_t q = mark;
        while (q < sorted_end) {
            size_t qk, qv;
            if (item_len(base + q, end - q, &qk) < 0 ||
                item_len(base + q + qk, end - q - qk, &qv) < 0) {
                e->err = -EINVAL;
                return;
            }
            int c = key_cmp(base + q, qk, key, kn);
            if (c == 0) {
                e->err = -EINVAL; /* duplicate key */
                return;
            }
            if (c > 0)
                break;
            q += qk + qv;
        }
        if (q < sorted_end)
            rotate(base + q, sorted_end - q, kn + vn);
        sorted_end += kn + vn;
    }
    if (sorted_end != end)
        e->err = -EINVAL; /* more (or fewer) entries than announced */
}

/* ---- pull decoder ----------------------------------------------------- */

int cbor_dec_init(struct cbor_dec *d, const uint8_t *buf, size_t len, const struct cbor_limits *lim)
{
    struct cbor_limits l;
    memset(d, 0, sizeof(*d));
    d->lim = *limits_clamp(lim, &l);
    d->buf = buf;
    d->len = len;
    int r = cbor_validate(buf, len, &d->lim, false, NULL, &d->why, &d->err_off);
    if (r < 0) {
        d->err = r;
        d->len = 0;
    }
    return r;
}

static int dfail(struct cbor_dec *d, int err, const char *why)
{
    if (d->err == 0) {
        d->err = err;
        d->why = why;
        d->err_off = d->pos;
    }
    return err;
}

bool cbor_at_end(const struct cbor_dec *d)
{
    return d->err == 0 && d->pos == d->len;
}

/* head of the expected major type; refuses indefinite lengths */
static int get_head(struct cbor_dec *d, unsigned want, uint64_t *arg, size_t *hlen)
{
    unsigned mt, ai;
    if (d->err < 0)
        return d->err;
    if (read_head(d->buf, d->len, d->pos, &mt, &ai, arg, hlen) < 0)
        return dfail(d, -EBADMSG, "truncated item");
    if (mt != want)
        return dfail(d, -EBADMSG, "unexpected data item type");
    if (ai == 31)
        return dfail(d, -EBADMSG, "indefinite length not allowed here");
    return 0;
}

int cbor_peek(struct cbor_dec *d, enum cbor_type *type)
{
    if (d->err < 0)
        return d->err;
    if (d->pos >= d->len)
        return dfail(d, -EBADMSG, "no more items");
    *type = (enum cbor_type)(d->buf[d->pos] >> 5);
    return 0;
}

int cbor_get_uint(struct cbor_dec *d, uint64_t *v)
{
    uint64_t arg;
    size_t hl;
    int r = get_head(d, CBOR_UINT, &arg, &hl);
    if (r < 0)
        return r;
    d->pos += hl;
    *v = arg;
    return 0;
}

int cbor_get_int(struct cbor_dec *d, int64_t *v)
{
    enum cbor_type t;
    uint64_t arg;
    size_t hl;
    int r = cbor_peek(d, &t);
    if (r < 0)
        return r;
    if (t != CBOR_UINT && t != CBOR_NINT)
        return dfail(d, -EBADMSG, "expected an integer");
    r = get_head(d, t, &arg, &hl);
    if (r < 0)
        return r;
    if (arg > INT64_MAX)
        return dfail(d, -ERANGE, "integer out of range");
    d->pos += hl;
    *v = t == CBOR_UINT ? (int64_t)arg : -1 - (int64_t)arg;
    return 0;
}

static int get_string(struct cbor_dec *d, unsigned mt, const uint8_t **p, size_t *n)
{
    uint64_t arg;
    size_t hl;
    int r = get_head(d, mt, &arg, &hl);
    if (r < 0)
        return r;
    if (arg > d->len - d->pos - hl)
        return dfail(d, -EBADMSG, "truncated string");
    *p = d->buf + d->pos + hl;
    *n = (size_t)arg;
    d->pos += hl + (size_t)arg;
    return 0;
}

int cbor_get_bstr(struct cbor_dec *d, const uint8_t **p, size_t *n)
{
    return get_string(d, CBOR_BSTR, p, n);
}

int cbor_get_tstr(struct cbor_dec *d, const char **p, size_t *n)
{
    const uint8_t *q;
    int r = get_string(d, CBOR_TSTR, &q, n);
    if (r == 0)
        *p = (const char *)q;
    return r;
}

static int get_count(struct cbor_dec *d, unsigned mt, size_t *n)
{
    uint64_t arg;
    size_t hl;
    int r = get_head(d, mt, &arg, &hl);
    if (r < 0)
        return r;
    if (arg > d->len - d->pos - hl) /* every entry takes at least a byte */
        return dfail(d, -EBADMSG, "container larger than the input");
    d->pos += hl;
    *n = (size_t)arg;
    return 0;
}

int cbor_get_array(struct cbor_dec *d, size_t *n)
{
    return get_count(d, CBOR_ARRAY, n);
}

int cbor_get_map(struct cbor_dec *d, size_t *n)
{
    return get_count(d, CBOR_MAP, n);
}

int cbor_get_tag(struct cbor_dec *d, uint64_t *tag)
{
    uint64_t arg;
    size_t hl;
    int r = get_head(d, CBOR_TAG, &arg, &hl);
    if (r < 0)
        return r;
    d->pos += hl;
    *tag = arg;
    return 0;
}

int cbor_get_bool(struct cbor_dec *d, bool *v)
{
    if (d->err < 0)
        return d->err;
    if (d->pos >= d->len || (d->buf[d->pos] != CBOR_TRUE && d->buf[d->pos] != CBOR_FALSE))
        return dfail(d, -EBADMSG, "expected a boolean");
    *v = d->buf[d->pos++] == CBOR_TRUE;
    return 0;
}

int cbor_get_null(struct cbor_dec *d)
{
    if (d->err < 0)
        return d->err;
    if (d->pos >= d->len || d->buf[d->pos] != CBOR_NULL)
        return dfail(d, -EBADMSG, "expected null");
    d->pos++;
    return 0;
}

int cbor_skip(struct cbor_dec *d, const uint8_t **start, size_t *n)
{
    size_t l;
    const char *why = NULL;
    size_t off;
    if (d->err < 0)
        return d->err;
    if (d->pos >= d->len)
        return dfail(d, -EBADMSG, "no more items");
    int r = cbor_validate(d->buf + d->pos, d->len - d->pos, &d->lim, true, &l, &why, &off);
    if (r < 0)
        return dfail(d, r, why ? why : "malformed item");
    if (start)
        *start = d->buf + d->pos;
    if (n)
        *n = l;
    d->pos += l;
    return 0;
}
