/* fuzz_cbor.c - the CBOR validator and pull decoder on any bytes, under
 * three limit sets (default, strict, indefinite allowed). A valid item is
 * walked with the typed getters and re-encoded with the deterministic
 * encoder; invariants (abort on violation): the walk consumes exactly the
 * input, the re-encoding is never longer than the input and, unless the
 * input had an unassigned simple value, passes the strict decoder; a
 * strictly valid input re-encodes to itself. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objsec/cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct walk {
    struct cbor_dec d;
    struct cbor_enc e;
    bool odd_simple;
};

static int walk_item(struct walk *w, unsigned depth)
{
    enum cbor_type t;
    size_t n;
    const uint8_t *p;
    int r;

    if (depth > CBOR_HARD_MAX_DEPTH)
        abort(); /* the validator bounds this */
    r = cbor_peek(&w->d, &t);
    if (r < 0)
        return r;
    switch (t) {
    case CBOR_UINT:
    case CBOR_NINT:
    case CBOR_SIMPLE: {
        const uint8_t *raw;
        r = cbor_skip(&w->d, &raw, &n);
        if (r < 0)
            return r;
        unsigned ai = raw[0] & 0x1f;
        uint64_t v = ai;
        if (t != CBOR_SIMPLE && ai >= 24) {
            v = 0;
            for (size_t i = 1; i < n; i++)
                v = (v << 8) | raw[i];
        }
        if (t == CBOR_UINT)
            cbor_put_uint(&w->e, v);
        else if (t == CBOR_NINT)
            cbor_put_nint(&w->e, v);
        else {
            if (ai < 20 || ai == 24)
                w->odd_simple = true;
            cbor_put_raw(&w->e, raw, n); /* simple values and floats as they are */
        }
        return 0;
    }
    case CBOR_BSTR:
        r = cbor_get_bstr(&w->d, &p, &n);
        if (r == 0)
            cbor_put_bstr(&w->e, p, n);
        return r;
    case CBOR_TSTR: {
        const char *s;
        r = cbor_get_tstr(&w->d, &s, &n);
        if (r == 0)
            cbor_put_tstr(&w->e, s, n);
        return r;
    }
    case CBOR_ARRAY:
        r = cbor_get_array(&w->d, &n);
        if (r < 0)
            return r;
        cbor_put_array(&w->e, n);
        for (size_t i = 0; i < n; i++)
            if ((r = walk_item(w, depth + 1)) < 0)
                return r;
        return 0;
    case CBOR_MAP: {
        r = cbor_get_map(&w->d, &n);
        if (r < 0)
            return r;
        size_t mark = cbor_enc_map_begin(&w->e, n);
        for (size_t i = 0; i < 2 * n; i++)
            if ((r = walk_item(w, depth + 1)) < 0)
                return r;
        cbor_enc_map_end(&w->e, mark, n);
        return 0;
    }
    case CBOR_TAG: {
        uint64_t tag;
        r = cbor_get_tag(&w->d, &tag);
        if (r < 0)
            return r;
        cbor_put_tag(&w->e, tag);
        return walk_item(w, depth + 1);
    }
    }
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cbor_limits strict = cbor_limits_default, indef = cbor_limits_default;
    strict.strict = true;
    indef.allow_indefinite = true;
    size_t item_len;
    const char *why;
    size_t off;

    int rs = cbor_validate(data, size, &strict, false, NULL, &why, &off);
    int ri = cbor_validate(data, size, &indef, true, &item_len, &why, &off);
    if (ri == 0 && item_len > size)
        abort();
    if (ri < 0 && (!why || off > size))
        abort(); /* failures are explained and located */

    static uint8_t out[1u << 20];
    struct walk w = {.odd_simple = false};
    int r = cbor_dec_init(&w.d, data, size, NULL);
    if (rs == 0 && r != 0)
        abort(); /* strict implies default */
    if (r < 0)
        return 0;
    cbor_enc_init(&w.e, out, sizeof(out));
    r = walk_item(&w, 1);
    if (r == -EBADMSG || r == -ERANGE || r == -E2BIG)
        return 0; /* e.g. a getter refusing what only skip accepts */
    if (r < 0 || !cbor_at_end(&w.d))
        abort(); /* a valid item walks to its end */
    size_t n;
    r = cbor_enc_finish(&w.e, &n);
    if (r == -EINVAL)
        return 0; /* duplicate map keys */
    if (r < 0 || n > size)
        abort();
    if (!w.odd_simple && cbor_validate(out, n, &strict, false, NULL, NULL, NULL) != 0)
        abort(); /* our encoding is deterministic */
    if (rs == 0 && (n != size || memcmp(out, data, size) != 0))
        abort(); /* deterministic input is a fixed point */
    return 0;
}
