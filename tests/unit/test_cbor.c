/* test_cbor.c - objsec/cbor.c: deterministic encoding (RFC 8949
 * Appendix A examples, §4.2.1 map order), the bounded decoder, every
 * not-well-formed example of RFC 8949 Appendix F, strict mode, limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "objsec/cbor.h"
#include "util.h"

/* hex with optional blanks between bytes */
static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    char tmp[2048];
    size_t k = 0, n = 0;
    for (; *h; h++)
        if (*h != ' ') {
            assert_true(k + 1 < sizeof(tmp));
            tmp[k++] = *h;
        }
    tmp[k] = 0;
    assert_int_equal(hex_decode(tmp, out, cap, &n), 0);
    return n;
}

/* the encoder's output equals the hex */
#define assert_enc(e, hexstr)                                                                      \
    do {                                                                                           \
        uint8_t want_[512];                                                                        \
        size_t wn_ = unhex(hexstr, want_, sizeof(want_)), gn_ = 0;                                 \
        assert_int_equal(cbor_enc_finish(e, &gn_), 0);                                             \
        assert_int_equal(gn_, wn_);                                                                \
        assert_memory_equal((e)->buf, want_, wn_);                                                 \
    } while (0)

static void test_encode_rfc8949_examples(void **state)
{
    uint8_t buf[512];
    struct cbor_enc e;
    static const struct {
        uint64_t v;
        const char *hex;
    } uints[] = {
            {0, "00"},
            {1, "01"},
            {10, "0a"},
            {23, "17"},
            {24, "1818"},
            {25, "1819"},
            {100, "1864"},
            {255, "18ff"},
            {256, "190100"},
            {1000, "1903e8"},
            {65535, "19ffff"},
            {65536, "1a00010000"},
            {1000000, "1a000f4240"},
            {4294967295u, "1affffffff"},
            {4294967296u, "1b0000000100000000"},
            {1000000000000ull, "1b000000e8d4a51000"},
            {18446744073709551615ull, "1bffffffffffffffff"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(uints); i++) {
        cbor_enc_init(&e, buf, sizeof(buf));
        cbor_put_uint(&e, uints[i].v);
        assert_enc(&e, uints[i].hex);
    }
    static const struct {
        int64_t v;
        const char *hex;
    } ints[] = {{-1, "20"},
                {-10, "29"},
                {-24, "37"},
                {-25, "3818"},
                {-100, "3863"},
                {-1000, "3903e7"},
                {INT64_MIN, "3b7fffffffffffffff"},
                {7, "07"}};
    for (size_t i = 0; i < ARRAY_SIZE(ints); i++) {
        cbor_enc_init(&e, buf, sizeof(buf));
        cbor_put_int(&e, ints[i].v);
        assert_enc(&e, ints[i].hex);
    }
    cbor_enc_init(&e, buf, sizeof(buf));
    cbor_put_nint(&e, UINT64_MAX); /* -18446744073709551616 */
    assert_enc(&e, "3bffffffffffffffff");

    cbor_enc_init(&e, buf, sizeof(buf));
    cbor_put_bstr(&e, NULL, 0);
    cbor_put_bstr(&e, "\x01\x02\x03\x04", 4);
    cbor_put_cstr(&e, "");
    cbor_put_cstr(&e, "a");
    cbor_put_cstr(&e, "IETF");
    cbor_put_cstr(&e, "\"\\");
    cbor_put_cstr(&e, "\xc3\xbc");
    cbor_put_cstr(&e, "\xe6\xb0\xb4");
    assert_enc(&e, "40440102030460616164494554466222 5c62c3bc63e6b0b4");

    cbor_enc_init(&e, buf, sizeof(buf));
    cbor_put_array(&e, 0);
    cbor_put_array(&e, 3);
    cbor_put_uint(&e, 1);
    cbor_put_uint(&e, 2);
    cbor_put_uint(&e, 3);
    cbor_put_array(&e, 3);
    cbor_put_uint(&e, 1);
    cbor_put_array(&e, 2);
    cbor_put_uint(&e, 2);
    cbor_put_uint(&e, 3);
    cbor_put_array(&e, 2);
    cbor_put_uint(&e, 4);
    cbor_put_uint(&e, 5);
    assert_enc(&e, "80830102038301820203820405");

    cbor_enc_init(&e, buf, sizeof(buf));
    cbor_put_array(&e, 25);
    for (unsigned i = 1; i <= 25; i++)
        cbor_put_uint(&e, i);
    assert_enc(&e, "98190102030405060708090a0b0c0d0e0f101112131415161718181819");

    cbor_enc_init(&e, buf, sizeof(buf));
    cbor_put_tag(&e, 1);
    cbor_put_uint(&e, 1363896240);
    cbor_put_tag(&e, 23);
    cbor_put_bstr(&e, "\x01\x02\x03\x04", 4);
    cbor_put_bool(&e, false);
    cbor_put_bool(&e, true);
    cbor_put_null(&e);
    cbor_put_raw(&e, "\xf7", 1);
    assert_enc(&e, "c11a514b67b0d74401020304f4f5f6f7");
}

static void test_encode_maps_sorted(void **state)
{
    uint8_t buf[256];
    struct cbor_enc e;
    size_t m;

    /* {} and {1: 2, 3: 4} and {"a": 1, "b": [2, 3]} (RFC 8949 App. A) */
    cbor_enc_init(&e, buf, sizeof(buf));
    m = cbor_enc_map_begin(&e, 0);
    cbor_enc_map_end(&e, m, 0);
    assert_enc(&e, "a0");

    cbor_enc_init(&e, buf, sizeof(buf));
    m = cbor_enc_map_begin(&e, 2);
    cbor_put_uint(&e, 3);
    cbor_put_uint(&e, 4);
    cbor_put_uint(&e, 1);
    cbor_put_uint(&e, 2);
    cbor_enc_map_end(&e, m, 2);
    assert_enc(&e, "a201020304");

    cbor_enc_init(&e, buf, sizeof(buf));
    m = cbor_enc_map_begin(&e, 2);
    cbor_put_cstr(&e, "b");
    cbor_put_array(&e, 2);
    cbor_put_uint(&e, 2);
    cbor_put_uint(&e, 3);
    cbor_put_cstr(&e, "a");
    cbor_put_uint(&e, 1);
    cbor_enc_map_end(&e, m, 2);
    assert_enc(&e, "a26161016162820203");

    /* §4.2.1: bytewise order of the encoded keys: 1 (01) < 4 (04) <
     * 100 (1864) < -1 (20) < -2 (21) < "a" (6161) < h'00' (4100);
     * nested maps are sorted on their own */
    cbor_enc_init(&e, buf, sizeof(buf));
    m = cbor_enc_map_begin(&e, 7);
    cbor_put_bstr(&e, "\x00", 1);
    cbor_put_uint(&e, 7);
    cbor_put_int(&e, -2);
    cbor_put_uint(&e, 6);
    cbor_put_cstr(&e, "a");
    {
        size_t m2 = cbor_enc_map_begin(&e, 2);
        cbor_put_int(&e, -1);
        cbor_put_uint(&e, 0);
        cbor_put_int(&e, 5);
        cbor_put_uint(&e, 0);
        cbor_enc_map_end(&e, m2, 2);
    }
    cbor_put_int(&e, 100);
    cbor_put_uint(&e, 3);
    cbor_put_int(&e, -1);
    cbor_put_uint(&e, 4);
    cbor_put_int(&e, 4);
    cbor_put_uint(&e, 2);
    cbor_put_int(&e, 1);
    cbor_put_uint(&e, 1);
    cbor_enc_map_end(&e, m, 7);
    assert_enc(&e, "a7 0101 0402 186403 2004 2106 410007 6161a2050020 00");

    /* the result passes the strict (deterministic) decoder */
    size_t n;
    assert_int_equal(cbor_enc_finish(&e, &n), 0);
    struct cbor_limits strict = cbor_limits_default;
    strict.strict = true;
    assert_int_equal(cbor_validate(buf, n, &strict, false, NULL, NULL, NULL), 0);

    /* duplicate keys */
    cbor_enc_init(&e, buf, sizeof(buf));
    m = cbor_enc_map_begin(&e, 2);
    cbor_put_int(&e, 1);
    cbor_put_int(&e, 1);
    cbor_put_int(&e, 1);
    cbor_put_int(&e, 2);
    cbor_enc_map_end(&e, m, 2);
    assert_int_equal(cbor_enc_finish(&e, &n), -EINVAL);

    /* fewer entries than announced, and more */
    cbor_enc_init(&e, buf, sizeof(buf));
    m = cbor_enc_map_begin(&e, 2);
    cbor_put_int(&e, 1);
    cbor_put_int(&e, 1);
    cbor_enc_map_end(&e, m, 2);
    assert_int_equal(cbor_enc_finish(&e, &n), -EINVAL);
    cbor_enc_init(&e, buf, sizeof(buf));
    m = cbor_enc_map_begin(&e, 1);
    cbor_put_int(&e, 1);
    cbor_put_int(&e, 1);
    cbor_put_int(&e, 2);
    cbor_put_int(&e, 1);
    cbor_enc_map_end(&e, m, 1);
    assert_int_equal(cbor_enc_finish(&e, &n), -EINVAL);
}

static void test_encode_bounds(void **state)
{
    uint8_t buf[16];
    struct cbor_enc e;
    size_t n = 0;

    /* size only */
    cbor_enc_init(&e, NULL, 0);
    cbor_put_bstr(&e, "0123456789", 10);
    cbor_put_uint(&e, 1000000);
    assert_int_equal(cbor_enc_finish(&e, &n), 0);
    assert_int_equal(n, 16);

    /* too small: -ENOBUFS, nothing written past the cap, sticky */
    for (size_t cap = 0; cap < 16; cap++) {
        memset(buf, 0xaa, sizeof(buf));
        cbor_enc_init(&e, buf, cap);
        cbor_put_bstr(&e, "0123456789", 10);
        cbor_put_uint(&e, 1000000);
        assert_int_equal(cbor_enc_finish(&e, &n), -ENOBUFS);
        for (size_t i = cap; i < sizeof(buf); i++)
            assert_int_equal(buf[i], 0xaa);
    }
    cbor_enc_init(&e, buf, 16);
    cbor_put_bstr(&e, "0123456789", 10);
    cbor_put_uint(&e, 1000000);
    assert_int_equal(cbor_enc_finish(&e, &n), 0);
    assert_int_equal(n, 16);
    cbor_put_uint(&e, 1);
    assert_int_equal(cbor_enc_finish(&e, &n), -ENOBUFS);
}

static int validate_hex(const char *hex, const struct cbor_limits *lim)
{
    uint8_t tmp[512];
    size_t n = unhex(hex, tmp, sizeof(tmp));
    /* exact-size heap copy so that ASan sees any overread */
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    memcpy(p, tmp, n);
    int r = cbor_validate(p, n, lim, false, NULL, NULL, NULL);
    free(p);
    return r;
}

static void test_decode_rfc8949_examples(void **state)
{
    uint8_t buf[128];
    struct cbor_dec d;
    uint64_t u;
    int64_t i;
    const uint8_t *p;
    const char *s;
    size_t n;
    bool b;
    enum cbor_type t;

    n = unhex("1bffffffffffffffff", buf, sizeof(buf));
    assert_int_equal(cbor_dec_init(&d, buf, n, NULL), 0);
    assert_int_equal(cbor_get_uint(&d, &u), 0);
    assert_true(u == UINT64_MAX);
    assert_true(cbor_at_end(&d));

    n = unhex("3903e7", buf, sizeof(buf));
    assert_int_equal(cbor_dec_init(&d, buf, n, NULL), 0);
    assert_int_equal(cbor_get_int(&d, &i), 0);
    assert_int_equal(i, -1000);

    n = unhex("3b7fffffffffffffff", buf, sizeof(buf));
    assert_int_equal(cbor_dec_init(&d, buf, n, NULL), 0);
    assert_int_equal(cbor_get_int(&d, &i), 0);
    assert_true(i == INT64_MIN);

    /* out of int64 range either way */
    n = unhex("3b8000000000000000", buf, sizeof(buf));
    assert_int_equal(cbor_dec_init(&d, buf, n, NULL), 0);
    assert_int_equal(cbor_get_int(&d, &i), -ERANGE);
    n = unhex("1b8000000000000000", buf, sizeof(buf));
    assert_int_equal(cbor_dec_init(&d, buf, n, NULL), 0);
    assert_int_equal(cbor_get_int(&d, &i), -ERANGE);

    /* [1, [2, 3], {"a": h'0102', "b": true}, null, 1(2)] */
    n = unhex("8501820203a26161420102616 2f5f6c102", buf, sizeof(buf));
    assert_int_equal(cbor_dec_init(&d, buf, n, NULL), 0);
    assert_int_equal(cbor_peek(&d, &t), 0);
    assert_int_equal(t, CBOR_ARRAY);
    assert_int_equal(cbor_get_array(&d, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(cbor_get_uint(&d, &u), 0);
    assert_int_equal(u, 1);
    const uint8_t *sp;
    size_t sn;
    assert_int_equal(cbor_skip(&d, &sp, &sn), 0);
    assert_int_equal(sn, 3);
    assert_int_equal(sp[0], 0x82);
    assert_int_equal(cbor_get_map(&d, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(cbor_get_tstr(&d, &s, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(s[0], 'a');
    assert_int_equal(cbor_get_bstr(&d, &p, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(p, "\x01\x02", 2);
    assert_int_equal(cbor_get_tstr(&d, &s, &n), 0);
    assert_int_equal(cbor_get_bool(&d, &b), 0);
    assert_true(b);
    assert_int_equal(cbor_get_null(&d), 0);
    assert_int_equal(cbor_get_tag(&d, &u), 0);
    assert_int_equal(u, 1);
    assert_int_equal(cbor_get_uint(&d, &u), 0);
    assert_int_equal(u, 2);
    assert_true(cbor_at_end(&d));
    assert_int_equal(cbor_peek(&d, &t), -EBADMSG); /* nothing left */

    /* wrong types; the error is sticky and records why */
    n = unhex("820102", buf, sizeof(buf));
    assert_int_equal(cbor_dec_init(&d, buf, n, NULL), 0);
    assert_int_equal(cbor_get_map(&d, &n), -EBADMSG);
    assert_non_null(d.why);
    assert_int_equal(d.err_off, 0);
    assert_int_equal(cbor_get_array(&d, &n), -EBADMSG);
    assert_false(cbor_at_end(&d));

    n = unhex("01", buf, sizeof(buf));
    assert_int_equal(cbor_dec_init(&d, buf, n, NULL), 0);
    assert_int_equal(cbor_get_bstr(&d, &p, &n), -EBADMSG);
    n = unhex("f4", buf, sizeof(buf));
    assert_int_equal(cbor_dec_init(&d, buf, n, NULL), 0);
    assert_int_equal(cbor_get_null(&d), -EBADMSG);
    n = unhex("f6", buf, sizeof(buf));
    assert_int_equal(cbor_dec_init(&d, buf, n, NULL), 0);
    assert_int_equal(cbor_get_bool(&d, &b), -EBADMSG);
    n = unhex("40", buf, sizeof(buf));
    assert_int_equal(cbor_dec_init(&d, buf, n, NULL), 0);
    assert_int_equal(cbor_get_tstr(&d, &s, &n), -EBADMSG);

    /* floats and simple values are well-formed (not strict) */
    assert_int_equal(validate_hex("f93c00", NULL), 0);
    assert_int_equal(validate_hex("fa47c35000", NULL), 0);
    assert_int_equal(validate_hex("fb3ff199999999999a", NULL), 0);
    assert_int_equal(validate_hex("f0", NULL), 0);
    assert_int_equal(validate_hex("f8ff", NULL), 0);
    /* UTF-8 */
    assert_int_equal(validate_hex("62c3bc", NULL), 0);
    assert_int_equal(validate_hex("64f0908591", NULL), 0);
}

/* RFC 8949 Appendix F.1: every not-well-formed example. */
static const char *const not_well_formed[] = {
        /* end of input in a head */
        "18",
        "19",
        "1a",
        "1b",
        "1901",
        "1a0102",
        "1b01020304050607",
        "38",
        "58",
        "78",
        "98",
        "9a01ff00",
        "b8",
        "d8",
        "f8",
        "f900",
        "fa0000",
        "fb000000",
        /* definite-length strings with short data */
        "41",
        "61",
        "5affffffff00",
        "5bffffffffffffffff010203",
        "7affffffff00",
        "7b7fffffffffffffff010203",
        /* definite-length maps and arrays not closed with enough items */
        "81",
        "818181818181818181",
        "8200",
        "a1",
        "a20102",
        "a100",
        "a2000000",
        /* tag number not followed by tag content */
        "c0",
        /* indefinite-length strings not closed by a break */
        "5f4100",
        "7f6100",
        /* indefinite-length maps and arrays not closed by a break */
        "9f",
        "9f0102",
        "bf",
        "bf01020102",
        "819f",
        "9f8000",
        "9f9f9f9f9fffffffff",
        "9f819f819f9fffffff",
        /* reserved additional information values */
        "1c",
        "1d",
        "1e",
        "3c",
        "3d",
        "3e",
        "5c",
        "5d",
        "5e",
        "7c",
        "7d",
        "7e",
        "9c",
        "9d",
        "9e",
        "bc",
        "bd",
        "be",
        "dc",
        "dd",
        "de",
        "fc",
        "fd",
        "fe",
        /* reserved two-byte encodings of simple values */
        "f800",
        "f801",
        "f818",
        "f81f",
        /* indefinite-length string chunks not of the correct type */
        "5f00ff",
        "5f21ff",
        "5f6100ff",
        "5f80ff",
        "5fa0ff",
        "5fc000ff",
        "5fe0ff",
        "7f4100ff",
        /* indefinite-length string chunks not definite length */
        "5f5f4100ffff",
        "7f7f6100ffff",
        /* break on its own outside an indefinite-length item */
        "ff",
        /* break in a definite-length array or map or a tag */
        "81ff",
        "8200ff",
        "a1ff",
        "a1ff00",
        "a100ff",
        "a20000ff",
        "9f81ff",
        "9f829f819f9fffffffff",
        /* break in an indefinite map in value position */
        "bf00ff",
        "bf000000ff",
        /* major types 0, 1, 6 with additional information 31 */
        "1f",
        "3f",
        "df",
        /* ours: trailing bytes, invalid UTF-8 (overlong, surrogate, lone
         * continuation, truncated sequence) */
        "0000",
        "8100 00",
        "62c328",
        "62c0af",
        "63eda080",
        "6180",
        "62e282",
};

static void test_not_well_formed(void **state)
{
    struct cbor_limits indef = cbor_limits_default;
    indef.allow_indefinite = true;
    struct cbor_limits strict = cbor_limits_default;
    strict.strict = true;
    for (size_t i = 0; i < ARRAY_SIZE(not_well_formed); i++) {
        const char *h = not_well_formed[i];
        if (validate_hex(h, NULL) != -EBADMSG || validate_hex(h, &indef) != -EBADMSG ||
            validate_hex(h, &strict) != -EBADMSG)
            fail_msg("accepted or wrong error: %s", h);
    }
    /* the decoder refuses them too, and records a reason */
    uint8_t buf[8] = {0x1c};
    struct cbor_dec d;
    assert_int_equal(cbor_dec_init(&d, buf, 1, NULL), -EBADMSG);
    assert_string_equal(d.why, "reserved additional information");
    uint64_t u;
    assert_int_equal(cbor_get_uint(&d, &u), -EBADMSG);
    assert_int_equal(cbor_validate(buf, 0, NULL, false, NULL, NULL, NULL), -EBADMSG);
    assert_int_equal(cbor_validate(NULL, 1, NULL, false, NULL, NULL, NULL), -EINVAL);

    const char *why = NULL;
    size_t off = 0;
    buf[0] = 0x82;
    buf[1] = 0x00;
    buf[2] = 0xff;
    assert_int_equal(cbor_validate(buf, 3, NULL, false, NULL, &why, &off), -EBADMSG);
    assert_int_equal(off, 2);
    assert_non_null(why);
}

static void test_indefinite(void **state)
{
    struct cbor_limits indef = cbor_limits_default;
    indef.allow_indefinite = true;
    struct cbor_limits strict = indef;
    strict.strict = true;
    static const char *const ok[] = {
            "5f42010243030405ff",     "7f657374726561646d696e67ff", "9fff", "9f018202039f0405ffff",
            "bf61610161629f0203ffff", "826161bf61626163ff",         "5fff",
    };
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        assert_int_equal(validate_hex(ok[i], &indef), 0);
        assert_int_equal(validate_hex(ok[i], NULL), -EBADMSG);
        assert_int_equal(validate_hex(ok[i], &strict), -EBADMSG);
    }
    /* the typed getters never accept indefinite lengths */
    uint8_t buf[16];
    size_t n = unhex("9f01ff", buf, sizeof(buf));
    struct cbor_dec d;
    assert_int_equal(cbor_dec_init(&d, buf, n, &indef), 0);
    assert_int_equal(cbor_get_array(&d, &n), -EBADMSG);
    n = unhex("9f01ff", buf, sizeof(buf));
    assert_int_equal(cbor_dec_init(&d, buf, n, &indef), 0);
    const uint8_t *p;
    size_t sn;
    assert_int_equal(cbor_skip(&d, &p, &sn), 0);
    assert_int_equal(sn, 3);
}

static void test_strict(void **state)
{
    struct cbor_limits strict = cbor_limits_default;
    strict.strict = true;
    static const char *const non_deterministic[] = {
            "1817",
            "190017",
            "1a00000017",
            "1b0000000000000017",
            "1900ff",
            "1a0000ffff",
            "1b00000000ffffffff",
            "3817",
            "5801ff",
            "780161",
            "9800",
            "b800",
            "d80101",
            "a2030401 02",
            "a2010201 03",
            "a2616201616101",
            "f0",
            "f820",
            "a2200001 00",
    };
    for (size_t i = 0; i < ARRAY_SIZE(non_deterministic); i++) {
        if (validate_hex(non_deterministic[i], NULL) != 0)
            fail_msg("refused when not strict: %s", non_deterministic[i]);
        if (validate_hex(non_deterministic[i], &strict) != -EBADMSG)
            fail_msg("accepted in strict mode: %s", non_deterministic[i]);
    }
    /* deterministic ones pass */
    assert_int_equal(validate_hex("a3010203040506", &strict), 0);
    assert_int_equal(validate_hex("a201002000", &strict), 0);
    assert_int_equal(validate_hex("f4", &strict), 0);
    assert_int_equal(validate_hex("1818", &strict), 0);
    assert_int_equal(validate_hex("fb3ff199999999999a", &strict), 0);
}

static void test_limits(void **state)
{
    uint8_t *buf = calloc(1, 70000);
    assert_non_null(buf);
    struct cbor_limits lim = cbor_limits_default;

    /* depth: 16 nested arrays + a leaf = depth 17 */
    for (size_t i = 0; i < 16; i++)
        buf[i] = 0x81;
    buf[16] = 0x00;
    assert_int_equal(cbor_validate(buf, 17, &lim, false, NULL, NULL, NULL), -E2BIG);
    assert_int_equal(cbor_validate(buf + 1, 16, &lim, false, NULL, NULL, NULL), 0);
    /* a huge max_depth is clamped to CBOR_HARD_MAX_DEPTH */
    lim.max_depth = 100000;
    for (size_t i = 0; i < 80; i++)
        buf[i] = 0x81;
    buf[80] = 0x00;
    assert_int_equal(cbor_validate(buf, 81, &lim, false, NULL, NULL, NULL), -E2BIG);
    /* tags nest too */
    memset(buf, 0xc1, 80);
    buf[80] = 0x00;
    assert_int_equal(cbor_validate(buf, 81, &lim, false, NULL, NULL, NULL), -E2BIG);

    /* items: an array of 1024 zeros is 1025 items */
    lim = cbor_limits_default;
    buf[0] = 0x99;
    buf[1] = 0x04;
    buf[2] = 0x00;
    memset(buf + 3, 0, 1024);
    assert_int_equal(cbor_validate(buf, 3 + 1024, &lim, false, NULL, NULL, NULL), -E2BIG);
    buf[2] = 0x00; /* 0x0400 -> 1023 entries */
    buf[1] = 0x03;
    buf[2] = 0xff;
    assert_int_equal(cbor_validate(buf, 3 + 1023, &lim, false, NULL, NULL, NULL), 0);
    /* a map claiming many entries is refused before walking it */
    lim.max_items = 11;
    size_t n = unhex("a5 01010101010101010101", buf, 64); /* 1 + 10 items */
    assert_int_equal(cbor_validate(buf, n, &lim, false, NULL, NULL, NULL), 0);
    n = unhex("a6 010101010101010101010101", buf, 64);
    assert_int_equal(cbor_validate(buf, n, &lim, false, NULL, NULL, NULL), -E2BIG);

    /* string length */
    lim = cbor_limits_default;
    buf[0] = 0x5a;
    buf[1] = 0x00;
    buf[2] = 0x01;
    buf[3] = 0x00;
    buf[4] = 0x01; /* 65537 */
    memset(buf + 5, 'x', 65537);
    assert_int_equal(cbor_validate(buf, 5 + 65537, &lim, false, NULL, NULL, NULL), -E2BIG);
    buf[4] = 0x00; /* 65536 */
    assert_int_equal(cbor_validate(buf, 5 + 65536, &lim, false, NULL, NULL, NULL), 0);
    lim.max_str = 100;
    assert_int_equal(cbor_validate(buf, 5 + 65536, &lim, false, NULL, NULL, NULL), -E2BIG);
    /* indefinite strings count the sum of their chunks */
    lim.allow_indefinite = true;
    lim.max_str = 4;
    n = unhex("5f4301020343040506ff", buf, 64);
    assert_int_equal(cbor_validate(buf, n, &lim, false, NULL, NULL, NULL), -E2BIG);
    lim.max_str = 6;
    assert_int_equal(cbor_validate(buf, n, &lim, false, NULL, NULL, NULL), 0);

    /* total size */
    lim = cbor_limits_default;
    lim.max_size = 4;
    n = unhex("4401020304", buf, 64);
    assert_int_equal(cbor_validate(buf, n, &lim, false, NULL, NULL, NULL), -E2BIG);
    lim.max_size = 5;
    assert_int_equal(cbor_validate(buf, n, &lim, false, NULL, NULL, NULL), 0);
    struct cbor_dec d;
    lim.max_size = 4;
    assert_int_equal(cbor_dec_init(&d, buf, n, &lim), -E2BIG);

    /* trailing bytes are fine only when asked */
    size_t il = 0;
    n = unhex("0102", buf, 64);
    assert_int_equal(cbor_validate(buf, n, NULL, true, &il, NULL, NULL), 0);
    assert_int_equal(il, 1);
    assert_int_equal(cbor_validate(buf, n, NULL, false, &il, NULL, NULL), -EBADMSG);
    free(buf);
}

/* Every strict prefix of a valid item is refused without reading past it. */
static void test_prefixes(void **state)
{
    uint8_t buf[128];
    size_t n = unhex("d28443a10126a10442313154546869732069732074686520636f6e74656e742e"
                     "5840"
                     "0000000000000000000000000000000000000000000000000000000000000000"
                     "0000000000000000000000000000000000000000000000000000000000000000",
                     buf, sizeof(buf));
    assert_int_equal(cbor_validate(buf, n, NULL, false, NULL, NULL, NULL), 0);
    for (size_t k = 0; k < n; k++) {
        uint8_t *p = malloc(k ? k : 1);
        assert_non_null(p);
        memcpy(p, buf, k);
        assert_int_equal(cbor_validate(p, k, NULL, false, NULL, NULL, NULL), -EBADMSG);
        struct cbor_dec d;
        assert_true(cbor_dec_init(&d, p, k, NULL) < 0);
        free(p);
    }
}

/* encode -> strict decode round trip of every integer boundary */
static void test_roundtrip(void **state)
{
    static const uint64_t vals[] = {0,
                                    1,
                                    23,
                                    24,
                                    255,
                                    256,
                                    65535,
                                    65536,
                                    0xffffffffu,
                                    0x100000000ull,
                                    UINT64_MAX / 2,
                                    UINT64_MAX};
    struct cbor_limits strict = cbor_limits_default;
    strict.strict = true;
    for (size_t i = 0; i < ARRAY_SIZE(vals); i++) {
        uint8_t buf[32];
        struct cbor_enc e;
        struct cbor_dec d;
        size_t n;
        uint64_t u;
        int64_t s;
        cbor_enc_init(&e, buf, sizeof(buf));
        cbor_put_array(&e, 2);
        cbor_put_uint(&e, vals[i]);
        cbor_put_nint(&e, vals[i]);
        assert_int_equal(cbor_enc_finish(&e, &n), 0);
        assert_int_equal(cbor_dec_init(&d, buf, n, &strict), 0);
        assert_int_equal(cbor_get_array(&d, &n), 0);
        assert_int_equal(cbor_get_uint(&d, &u), 0);
        assert_true(u == vals[i]);
        if (vals[i] <= (uint64_t)INT64_MAX) {
            assert_int_equal(cbor_get_int(&d, &s), 0);
            assert_true(s == -1 - (int64_t)vals[i]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_encode_rfc8949_examples),
            cmocka_unit_test(test_encode_maps_sorted),
            cmocka_unit_test(test_encode_bounds),
            cmocka_unit_test(test_decode_rfc8949_examples),
            cmocka_unit_test(test_not_well_formed),
            cmocka_unit_test(test_indefinite),
            cmocka_unit_test(test_strict),
            cmocka_unit_test(test_limits),
            cmocka_unit_test(test_prefixes),
            cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
