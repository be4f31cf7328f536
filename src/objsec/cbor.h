/* cbor.h - a small CBOR (RFC 8949) codec for COSE and OSCORE.
 *
 * Encoder: deterministic encoding (RFC 8949 §4.2.1): every head in its
 * shortest form, definite lengths only, map entries sorted bytewise by
 * their encoded keys (cbor_enc_map_end sorts them in place and refuses
 * duplicate keys). It writes into a caller-bounded buffer and never past
 * it; errors are sticky: once a call fails, later calls do nothing and
 * cbor_enc_finish() returns the first error (-ENOBUFS when the buffer is
 * too small, -EINVAL for a bad map).
 *
 * Decoder: a pull decoder over a caller buffer, with hard limits (nesting
 * depth, number of data items, string length, total size). cbor_dec_init()
 * first checks that the buffer holds exactly one well-formed item within
 * the limits (no truncation, no trailing bytes, no reserved additional
 * information, no break outside an indefinite item, no two-byte simple
 * value below 32); with strict set it also refuses anything that is not
 * deterministically encoded (a non-shortest head, unsorted or duplicate
 * map keys, simple values other than false/true/null/undefined). Indefinite
 * lengths are refused unless allow_indefinite is set, and the typed
 * getters always refuse them (COSE forbids them). Nothing ever reads past
 * the buffer.
 *
 * Errors (negative errno):
 *   -EBADMSG  not well-formed, or not what the caller asked for (type)
 *   -E2BIG    a limit exceeded (depth, items, string length, total size)
 *   -ERANGE   an integer that does not fit the requested C type
 *   -ENOBUFS  (encoder) the output buffer is too small
 *   -EINVAL   bad arguments; (encoder) duplicate map keys
 * A failing decoder records a short reason and the byte offset
 * (cbor_dec.why, cbor_dec.err_off) for diagnostics; both are safe to log
 * (no input bytes are copied into them).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* major types */
enum cbor_type {
    CBOR_UINT = 0,
    CBOR_NINT = 1,
    CBOR_BSTR = 2,
    CBOR_TSTR = 3,
    CBOR_ARRAY = 4,
    CBOR_MAP = 5,
    CBOR_TAG = 6,
    CBOR_SIMPLE = 7, /* false, true, null, undefined, other simple, floats */
};

#define CBOR_FALSE     0xf4
#define CBOR_TRUE      0xf5
#define CBOR_NULL      0xf6
#define CBOR_UNDEFINED 0xf7

/* Hard ceilings that no limits struct can raise. */
#define CBOR_HARD_MAX_DEPTH 64
#define CBOR_HARD_MAX_SIZE  (16u << 20)

/* maximum encoded size of a head (initial byte + 8-byte argument) */
#define CBOR_HEAD_MAX 9

/* ---- encoder ---------------------------------------------------------- */

struct cbor_enc {
    uint8_t *buf; /* may be NULL with cap 0: then only len is computed */
    size_t cap;
    size_t len;
    int err;
};

void cbor_enc_init(struct cbor_enc *e, uint8_t *buf, size_t cap);
/* 0 and the encoded length, or the first error. */
int cbor_enc_finish(const struct cbor_enc *e, size_t *len);

void cbor_put_uint(struct cbor_enc *e, uint64_t v);
void cbor_put_int(struct cbor_enc *e, int64_t v);
/* -1 - v for v in [0, UINT64_MAX]: every CBOR negative integer */
void cbor_put_nint(struct cbor_enc *e, uint64_t v);
void cbor_put_bstr(struct cbor_enc *e, const void *data, size_t n);
/* Only the head of a byte string of n bytes: the caller writes n bytes of
 * content next (e.g. a bstr-wrapped structure of known size). */
void cbor_put_bstr_head(struct cbor_enc *e, size_t n);
void cbor_put_tstr(struct cbor_enc *e, const char *s, size_t n);
void cbor_put_cstr(struct cbor_enc *e, const char *s); /* NUL-terminated */
void cbor_put_array(struct cbor_enc *e, size_t n);
void cbor_put_tag(struct cbor_enc *e, uint64_t tag);
void cbor_put_bool(struct cbor_enc *e, bool v);
void cbor_put_null(struct cbor_enc *e);
/* Copies an already encoded item as is (the caller vouches for it). */
void cbor_put_raw(struct cbor_enc *e, const void *data, size_t n);

/* Maps: cbor_enc_map_begin() writes the head of a map with n entries and
 * returns a mark; the caller then writes n key/value pairs in any order
 * (nested maps may use their own begin/end); cbor_enc_map_end() sorts the
 * entries bytewise by encoded key, in place, and refuses duplicate keys
 * (-EINVAL) or a wrong number of entries. When the buffer is NULL (size
 * computation only) sorting is skipped. */
size_t cbor_enc_map_begin(struct cbor_enc *e, size_t n);
void cbor_enc_map_end(struct cbor_enc *e, size_t mark, size_t n);

/* ---- decoder ---------------------------------------------------------- */

struct cbor_limits {
    unsigned max_depth;    /* nesting of arrays, maps, tags (1 = flat item) */
    size_t max_items;      /* data items in total, counting every nested one */
    size_t max_str;        /* bytes of one byte or text string */
    size_t max_size;       /* bytes of the whole input */
    bool strict;           /* deterministic encoding only */
    bool allow_indefinite; /* accept indefinite-length items (never in COSE) */
};

/* depth 16, 1024 items, 64 KiB strings, 1 MiB input, not strict, no
 * indefinite lengths */
extern const struct cbor_limits cbor_limits_default;

struct cbor_dec {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    struct cbor_limits lim;
    int err;         /* first error, sticky */
    const char *why; /* static string, NULL when no error */
    size_t err_off;  /* byte offset of the error */
};

/* Checks buf (see above) and positions the decoder on its one item.
 * lim NULL means cbor_limits_default. */
int cbor_dec_init(struct cbor_dec *d, const uint8_t *buf, size_t len,
                  const struct cbor_limits *lim);
/* Well-formedness and limit check only; *item_len gets the size of the
 * first item. With trailing_ok false, bytes after it are an error. */
int cbor_validate(const uint8_t *buf, size_t len, const struct cbor_limits *lim, bool trailing_ok,
                  size_t *item_len, const char **why, size_t *err_off);

/* Pull API: each call consumes one item (or one head for arrays, maps and
 * tags) at the current position. On failure nothing is consumed, the
 * error is recorded and every later call fails too. */
int cbor_peek(struct cbor_dec *d, enum cbor_type *type);
bool cbor_at_end(const struct cbor_dec *d);
int cbor_get_uint(struct cbor_dec *d, uint64_t *v);
/* UINT or NINT that fits int64_t */
int cbor_get_int(struct cbor_dec *d, int64_t *v);
/* Zero-copy: *p points into the decoder's buffer. */
int cbor_get_bstr(struct cbor_dec *d, const uint8_t **p, size_t *n);
int cbor_get_tstr(struct cbor_dec *d, const char **p, size_t *n);
int cbor_get_array(struct cbor_dec *d, size_t *n);
int cbor_get_map(struct cbor_dec *d, size_t *n);
int cbor_get_tag(struct cbor_dec *d, uint64_t *tag);
int cbor_get_bool(struct cbor_dec *d, bool *v);
int cbor_get_null(struct cbor_dec *d);
/* Skips one whole item (with everything nested in it). *start and *n, when
 * not NULL, get its encoded bytes. */
int cbor_skip(struct cbor_dec *d, const uint8_t **start, size_t *n);
