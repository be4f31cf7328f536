/* test_oscore.c - objsec/oscore.c against RFC 8613 Appendix C (C.1-C.3
 * key derivation, C.4-C.8 protected requests and responses, byte for
 * byte, whole CoAP messages included), plus the OSCORE option and CoAP
 * option codecs, the replay window, sequence number persistence
 * (Appendix B.1.1), option classes / Observe, and malformed input. */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "objsec/cose.h"
#include "objsec/oscore.h"
#include "util.h"

#define VECTORS "tests/data/oscore/rfc8613-appendix-c.json"

struct bytes {
    uint8_t b[2048];
    size_t n;
};

static void unhex(const char *h, struct bytes *out)
{
    out->n = 0;
    assert_non_null(h);
    assert_int_equal(hex_decode(h, out->b, sizeof(out->b), &out->n), 0);
}

static json_t *vectors;

static int setup(void **state)
{
    json_error_t e;
    vectors = json_load_file(VECTORS, 0, &e);
    if (!vectors) {
        fprintf(stderr, "%s: %s\n", VECTORS, e.text);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    json_decref(vectors);
    return 0;
}

static json_t *kd(const char *name)
{
    json_t *v = json_object_get(json_object_get(vectors, "key_derivation"), name);
    assert_non_null(v);
    return v;
}

static json_t *mp(const char *name)
{
    json_t *v = json_object_get(json_object_get(vectors, "message_protection"), name);
    assert_non_null(v);
    return v;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* a context from a C.x.y key-derivation vector */
static struct oscore_ctx *ctx_from(const char *name, uint64_t seq_start, bool send_kid_context)
{
    json_t *v = kd(name);
    struct bytes secret, salt, sid, rid, idc;
    struct oscore_ctx_params p = {0};
    struct oscore_ctx *c = NULL;
    unhex(str(v, "master_secret"), &secret);
    unhex(str(v, "sender_id"), &sid);
    unhex(str(v, "recipient_id"), &rid);
    p.master_secret = secret.b;
    p.master_secret_len = secret.n;
    p.sender_id = sid.b;
    p.sender_id_len = sid.n;
    p.recipient_id = rid.b;
    p.recipient_id_len = rid.n;
    if (str(v, "master_salt")) {
        unhex(str(v, "master_salt"), &salt);
        p.master_salt = salt.b;
        p.master_salt_len = salt.n;
    }
    if (str(v, "id_context")) {
        unhex(str(v, "id_context"), &idc);
        p.id_context = idc.b;
        p.id_context_len = idc.n;
    }
    p.seq_start = seq_start;
    p.send_kid_context = send_kid_context;
    assert_int_equal(oscore_ctx_new(&p, &c), 0);
    return c;
}

static void assert_bytes(const uint8_t *got, size_t n, const char *want_hex)
{
    struct bytes w;
    unhex(want_hex, &w);
    assert_int_equal(n, w.n);
    if (n)
        assert_memory_equal(got, w.b, n);
}

/* ---- C.1 - C.3: key derivation ---------------------------------------- */

static void test_key_derivation(void **state)
{
    static const char *const names[] = {"C.1.1", "C.1.2", "C.2.1", "C.2.2", "C.3.1", "C.3.2"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        json_t *v = kd(names[i]);
        struct bytes sid, rid, idc;
        uint8_t info[128];
        size_t n;
        bool has_idc = str(v, "id_context") != NULL;
        unhex(str(v, "sender_id"), &sid);
        unhex(str(v, "recipient_id"), &rid);
        if (has_idc)
            unhex(str(v, "id_context"), &idc);
        assert_int_equal(oscore_hkdf_info(sid.b, sid.n, has_idc ? idc.b : NULL, has_idc ? idc.n : 0,
                                          10, "Key", 16, info, sizeof(info), &n),
                         0);
        assert_bytes(info, n, str(v, "info_sender_key"));
        assert_int_equal(oscore_hkdf_info(rid.b, rid.n, has_idc ? idc.b : NULL, has_idc ? idc.n : 0,
                                          10, "Key", 16, info, sizeof(info), &n),
                         0);
        assert_bytes(info, n, str(v, "info_recipient_key"));
        assert_int_equal(oscore_hkdf_info((const uint8_t *)"", 0, has_idc ? idc.b : NULL,
                                          has_idc ? idc.n : 0, 10, "IV", 13, info, sizeof(info),
                                          &n),
                         0);
        assert_bytes(info, n, str(v, "info_common_iv"));

        struct oscore_ctx *c = ctx_from(names[i], 0, false);
        assert_bytes(c->sender_key, OSCORE_KEY_LEN, str(v, "sender_key"));
        assert_bytes(c->recipient_key, OSCORE_KEY_LEN, str(v, "recipient_key"));
        assert_bytes(c->common_iv, OSCORE_NONCE_LEN, str(v, "common_iv"));
        uint8_t nonce[OSCORE_NONCE_LEN];
        assert_int_equal(oscore_nonce(c, sid.b, sid.n, (const uint8_t *)"\0", 1, nonce), 0);
        assert_bytes(nonce, sizeof(nonce), str(v, "sender_nonce_piv0"));
        assert_int_equal(oscore_nonce(c, rid.b, rid.n, (const uint8_t *)"\0", 1, nonce), 0);
        assert_bytes(nonce, sizeof(nonce), str(v, "recipient_nonce_piv0"));
        oscore_ctx_free(c);
    }
}

/* ---- a minimal CoAP framing for the vectors --------------------------- */

struct coap {
    uint8_t hdr0; /* version, type, token length */
    uint8_t mid[2];
    uint8_t token[8];
    size_t tkl;
    struct oscore_msg m;
};

static void coap_parse(const struct bytes *b, struct coap *c)
{
    size_t consumed;
    memset(c, 0, sizeof(*c));
    assert_true(b->n >= 4);
    c->hdr0 = b->b[0];
    c->tkl = b->b[0] & 0x0f;
    c->m.code = b->b[1];
    memcpy(c->mid, b->b + 2, 2);
    assert_true(c->tkl <= 8 && 4 + c->tkl <= b->n);
    memcpy(c->token, b->b + 4, c->tkl);
    const uint8_t *opts = b->b + 4 + c->tkl;
    size_t len = b->n - 4 - c->tkl;
    assert_int_equal(oscore_options_decode(opts, len, c->m.opts, OSCORE_MAX_OPTIONS, &c->m.n_opts,
                                           &consumed),
                     0);
    if (consumed < len) {
        c->m.payload = opts + consumed;
        c->m.payload_len = len - consumed;
    }
}

static void coap_build(const struct coap *hdr, const struct oscore_msg *m, struct bytes *out)
{
    size_t n;
    out->b[0] = hdr->hdr0;
    out->b[1] = m->code;
    memcpy(out->b + 2, hdr->mid, 2);
    memcpy(out->b + 4, hdr->token, hdr->tkl);
    out->n = 4 + hdr->tkl;
    assert_int_equal(
            oscore_options_encode(m->opts, m->n_opts, out->b + out->n, sizeof(out->b) - out->n, &n),
            0);
    out->n += n;
    if (m->payload_len) {
        out->b[out->n++] = 0xff;
        memcpy(out->b + out->n, m->payload, m->payload_len);
        out->n += m->payload_len;
    }
}

static const struct oscore_option *opt(const struct oscore_msg *m, uint16_t num)
{
    for (size_t i = 0; i < m->n_opts; i++)
        if (m->opts[i].number == num)
            return &m->opts[i];
    return NULL;
}

/* ---- C.4 - C.6: requests ---------------------------------------------- */

static void check_request(const char *vec, const char *client, const char *server, bool kidctx)
{
    json_t *v = mp(vec);
    struct bytes plain, prot, built, aad_array, aad;
    struct coap in, wire;
    struct oscore_msg outer, inner;
    struct oscore_req req_c, req_s;
    uint8_t buf[512], buf2[512];
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(v, "sender_sequence_number"));

    unhex(str(v, "unprotected_coap_message"), &plain);
    unhex(str(v, "protected_coap_message"), &prot);
    coap_parse(&plain, &in);

    /* AAD and nonce */
    struct bytes kid, piv;
    unhex(str(v, "kid"), &kid);
    unhex(str(v, "partial_iv"), &piv);
    assert_int_equal(oscore_aad(10, kid.b, kid.n, piv.b, piv.n, aad_array.b, sizeof(aad_array.b),
                                &aad_array.n, aad.b, sizeof(aad.b), &aad.n),
                     0);
    assert_bytes(aad_array.b, aad_array.n, str(v, "aad_array"));
    assert_bytes(aad.b, aad.n, str(v, "aad"));

    struct oscore_ctx *c = ctx_from(client, seq, kidctx);
    uint8_t nonce[OSCORE_NONCE_LEN];
    assert_int_equal(oscore_nonce(c, kid.b, kid.n, piv.b, piv.n, nonce), 0);
    assert_bytes(nonce, sizeof(nonce), str(v, "nonce"));
    assert_bytes(c->sender_key, OSCORE_KEY_LEN, str(v, "encryption_key"));

    assert_int_equal(oscore_protect_request(c, &in.m, &outer, buf, sizeof(buf), &req_c), 0);
    const struct oscore_option *o = opt(&outer, OSCORE_OPT_OSCORE);
    assert_non_null(o);
    assert_bytes(o->value, o->len, str(v, "oscore_option_value"));
    assert_bytes(outer.payload, outer.payload_len, str(v, "ciphertext"));
    coap_build(&in, &outer, &built);
    assert_int_equal(built.n, prot.n);
    assert_memory_equal(built.b, prot.b, prot.n); /* the whole protected message */
    assert_int_equal(c->seq, seq + 1);
    assert_bytes(req_c.piv, req_c.piv_len, str(v, "partial_iv"));

    /* the server side gets the original message back */
    struct oscore_ctx *s = ctx_from(server, 0, false);
    coap_parse(&prot, &wire);
    assert_int_equal(oscore_unprotect_request(s, &wire.m, &inner, buf2, sizeof(buf2), &req_s), 0);
    coap_build(&wire, &inner, &built);
    assert_int_equal(built.n, plain.n);
    assert_memory_equal(built.b, plain.b, plain.n);
    assert_int_equal(req_s.kid_len, kid.n);
    assert_int_equal(req_s.piv_len, piv.n);
    assert_memory_equal(req_s.piv, piv.b, piv.n);
    /* and refuses it the second time */
    assert_int_equal(oscore_unprotect_request(s, &wire.m, &inner, buf2, sizeof(buf2), &req_s),
                     -EALREADY);
    oscore_ctx_free(s);
    oscore_ctx_free(c);
}

static void test_request_vectors(void **state)
{
    check_request("C.4", "C.1.1", "C.1.2", false);
    check_request("C.5", "C.2.1", "C.2.2", false);
    check_request("C.6", "C.3.1", "C.3.2", true);
}

/* ---- C.7, C.8: responses ---------------------------------------------- */

static void check_response(const char *vec, bool new_piv)
{
    json_t *v = mp(vec);
    struct bytes req_plain, plain, prot, built;
    struct coap rq, rs, wire;
    struct oscore_msg outer, inner, rq_outer, rq_inner;
    struct oscore_req req_c, req_s;
    uint8_t b1[512], b2[512], b3[512], b4[512];

    /* request C.4: client C.1.1 (seq 20) -> server C.1.2 */
    struct oscore_ctx *cl = ctx_from("C.1.1", 20, false);
    struct oscore_ctx *sv = ctx_from(
            "C.1.2", (uint64_t)json_integer_value(json_object_get(v, "sender_sequence_number")),
            false);
    unhex(str(mp("C.4"), "unprotected_coap_message"), &req_plain);
    coap_parse(&req_plain, &rq);
    assert_int_equal(oscore_protect_request(cl, &rq.m, &rq_outer, b1, sizeof(b1), &req_c), 0);
    assert_int_equal(oscore_unprotect_request(sv, &rq_outer, &rq_inner, b2, sizeof(b2), &req_s), 0);

    /* the response */
    unhex(str(v, "unprotected_coap_message"), &plain);
    unhex(str(v, "protected_coap_message"), &prot);
    coap_parse(&plain, &rs);
    struct bytes aad_array, aad;
    assert_int_equal(oscore_aad(10, req_s.kid, req_s.kid_len, req_s.piv, req_s.piv_len, aad_array.b,
                                sizeof(aad_array.b), &aad_array.n, aad.b, sizeof(aad.b), &aad.n),
                     0);
    assert_bytes(aad_array.b, aad_array.n, str(v, "aad_array"));
    assert_bytes(aad.b, aad.n, str(v, "aad"));
    assert_int_equal(oscore_protect_response(sv, &req_s, new_piv, &rs.m, &outer, b3, sizeof(b3)),
                     0);
    const struct oscore_option *o = opt(&outer, OSCORE_OPT_OSCORE);
    assert_non_null(o);
    assert_bytes(o->value, o->len, str(v, "oscore_option_value"));
    assert_bytes(outer.payload, outer.payload_len, str(v, "ciphertext"));
    coap_build(&rs, &outer, &built);
    assert_int_equal(built.n, prot.n);
    assert_memory_equal(built.b, prot.b, prot.n);

    /* the client gets the response back */
    coap_parse(&prot, &wire);
    assert_int_equal(oscore_unprotect_response(cl, &req_c, &wire.m, &inner, b4, sizeof(b4)), 0);
    coap_build(&wire, &inner, &built);
    assert_int_equal(built.n, plain.n);
    assert_memory_equal(built.b, plain.b, plain.n);
    /* a response for another request does not decrypt */
    struct oscore_req other = req_c;
    other.piv[0] ^= 1;
    assert_int_equal(oscore_unprotect_response(cl, &other, &wire.m, &inner, b4, sizeof(b4)),
                     -EACCES);
    oscore_ctx_free(cl);
    oscore_ctx_free(sv);
}

static void test_response_vectors(void **state)
{
    check_response("C.7", false);
    check_response("C.8", true);
}

/* ---- the OSCORE option ------------------------------------------------ */

static void test_option_value(void **state)
{
    struct oscore_option_value v;
    struct bytes b;
    uint8_t out[OSCORE_OPTION_VALUE_MAX];
    size_t n;

    /* the vectors' values */
    unhex("19140837cbf3210017a2d3", &b);
    assert_int_equal(oscore_option_decode(b.b, b.n, &v), 0);
    assert_int_equal(v.piv_len, 1);
    assert_int_equal(v.piv[0], 0x14);
    assert_true(v.has_kid_context);
    assert_int_equal(v.kid_context_len, 8);
    assert_true(v.has_kid);
    assert_int_equal(v.kid_len, 0);
    assert_int_equal(oscore_option_encode(&v, out, sizeof(out), &n), 0);
    assert_int_equal(n, b.n);
    assert_memory_equal(out, b.b, n);
    for (size_t cap = 0; cap < b.n; cap++)
        assert_int_equal(oscore_option_encode(&v, out, cap, &n), -ENOBUFS);

    unhex("091400", &b);
    assert_int_equal(oscore_option_decode(b.b, b.n, &v), 0);
    assert_int_equal(v.kid_len, 1);
    assert_false(v.has_kid_context);
    assert_int_equal(oscore_option_decode(NULL, 0, &v), 0);
    assert_null(v.piv);
    assert_false(v.has_kid);
    memset(&v, 0, sizeof(v));
    assert_int_equal(oscore_option_encode(&v, out, sizeof(out), &n), 0);
    assert_int_equal(n, 0);

    /* 5-byte PIV with 7-byte kid, PIV 0, empty kid context and kid, ... */
    static const char *const good[] = {"0d010203040501020304050607", "0100", "1800", "1001aa",
                                       "0801"};
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        unhex(good[i], &b);
        assert_int_equal(oscore_option_decode(b.b, b.n, &v), 0);
        assert_int_equal(oscore_option_encode(&v, out, sizeof(out), &n), 0);
        assert_int_equal(n, b.n);
        assert_memory_equal(out, b.b, n);
    }
    static const char *const bad[] = {
            "00",             /* all flags zero must be an empty value */
            "2914",           /* reserved bit 2 (0x20) */
            "4914",           /* reserved bit 1 (0x40) */
            "8914",           /* extension bit 0 (0x80) */
            "06010203040506", /* n = 6 */
            "07010203040506 07",
            "0201",               /* PIV truncated */
            "11",                 /* h without s */
            "1103",               /* PIV missing */
            "110103",             /* s = 3 with nothing after */
            "1101050102",         /* s larger than the rest */
            "080102030405060708", /* kid of 8 bytes */
            "0101 02",            /* bytes no flag accounts for */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char hx[64];
        size_t j = 0;
        for (const char *c = bad[i]; *c; c++)
            if (*c != ' ')
                hx[j++] = *c;
        hx[j] = 0;
        unhex(hx, &b);
        uint8_t *copy = malloc(b.n);
        assert_non_null(copy);
        memcpy(copy, b.b, b.n);
        if (oscore_option_decode(copy, b.n, &v) != -EBADMSG)
            fail_msg("accepted: %s", bad[i]);
        free(copy);
    }
    v = (struct oscore_option_value){.piv = out, .piv_len = 6};
    assert_int_equal(oscore_option_encode(&v, out, sizeof(out), &n), -EINVAL);
}

/* ---- CoAP option lists ------------------------------------------------ */

static void test_options_codec(void **state)
{
    static uint8_t big[600];
    struct oscore_option in[] = {
            {1, 0, NULL},    {12, 1, big},   {13, 12, big},   {14, 13, big},    {268, 268, big},
            {281, 269, big}, {550, 0, NULL}, {65535, 1, big}, {65535, 0, NULL},
    };
    struct oscore_option out[OSCORE_MAX_OPTIONS];
    uint8_t buf[2048];
    size_t n, cnt, consumed;
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)i;
    assert_int_equal(oscore_options_encode(in, ARRAY_SIZE(in), buf, sizeof(buf), &n), 0);
    buf[n] = 0xff;
    buf[n + 1] = 0x42;
    assert_int_equal(oscore_options_decode(buf, n + 2, out, OSCORE_MAX_OPTIONS, &cnt, &consumed),
                     0);
    assert_int_equal(cnt, ARRAY_SIZE(in));
    assert_int_equal(consumed, n + 1);
    for (size_t i = 0; i < cnt; i++) {
        assert_int_equal(out[i].number, in[i].number);
        assert_int_equal(out[i].len, in[i].len);
        if (in[i].len)
            assert_memory_equal(out[i].value, in[i].value, in[i].len);
    }
    /* bounds */
    for (size_t cap = 0; cap < n; cap += 7)
        assert_int_equal(oscore_options_encode(in, ARRAY_SIZE(in), buf, cap, &n), -ENOBUFS);
    struct oscore_option unsorted[] = {{11, 0, NULL}, {3, 0, NULL}};
    assert_int_equal(oscore_options_encode(unsorted, 2, buf, sizeof(buf), &n), -EINVAL);
    struct oscore_option toolong[] = {{11, OSCORE_MAX_OPTION_LEN + 1, big}};
    assert_int_equal(oscore_options_encode(toolong, 1, buf, sizeof(buf), &n), -EINVAL);

    static const char *const bad[] = {
            "f0",            /* delta 15 */
            "0f",            /* length 15 */
            "d0",            /* 1-byte extended delta missing */
            "e000",          /* 2-byte extended delta truncated */
            "01",            /* value truncated */
            "0d05",          /* 18-byte value, 0 present */
            "ff",            /* marker without payload */
            "e0fef3 e0fef3", /* 65535 + 65535: number overflow */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        char hx[64];
        size_t j = 0;
        struct bytes b;
        for (const char *c = bad[i]; *c; c++)
            if (*c != ' ')
                hx[j++] = *c;
        hx[j] = 0;
        unhex(hx, &b);
        uint8_t *copy = malloc(b.n);
        assert_non_null(copy);
        memcpy(copy, b.b, b.n);
        if (oscore_options_decode(copy, b.n, out, OSCORE_MAX_OPTIONS, &cnt, &consumed) != -EBADMSG)
            fail_msg("accepted: %s", bad[i]);
        free(copy);
    }
    /* too many options */
    memset(buf, 0x00, 50); /* 50 empty options with delta 0 */
    assert_int_equal(oscore_options_decode(buf, 50, out, OSCORE_MAX_OPTIONS, &cnt, &consumed),
                     -E2BIG);
    assert_int_equal(oscore_options_decode(buf, 40, out, OSCORE_MAX_OPTIONS, &cnt, &consumed), 0);
}

/* ---- replay window ---------------------------------------------------- */

struct prot_msg {
    struct oscore_msg m;
    uint8_t buf[256];
};

static void make_request(struct oscore_ctx *cl, struct prot_msg *pm)
{
    static const uint8_t path[] = "temp";
    struct oscore_msg in = {.code = 0x01, .n_opts = 1};
    struct oscore_req req;
    in.opts[0] = (struct oscore_option){OSCORE_OPT_URI_PATH, 4, path};
    assert_int_equal(oscore_protect_request(cl, &in, &pm->m, pm->buf, sizeof(pm->buf), &req), 0);
    /* the outer message points into pm->buf only (no outer options from in) */
}

static int receive(struct oscore_ctx *sv, const struct prot_msg *pm)
{
    struct oscore_msg inner;
    struct oscore_req req;
    uint8_t buf[256];
    int r = oscore_unprotect_request(sv, &pm->m, &inner, buf, sizeof(buf), &req);
    if (r == 0) {
        assert_int_equal(inner.code, 0x01);
        assert_int_equal(inner.n_opts, 1);
        assert_memory_equal(inner.opts[0].value, "temp", 4);
    }
    return r;
}

static void test_replay_window(void **state)
{
    struct oscore_ctx *cl = ctx_from("C.1.1", 0, false);
    struct oscore_ctx *sv = ctx_from("C.1.2", 0, false);
    struct prot_msg *pm = calloc(80, sizeof(*pm));
    assert_non_null(pm);
    for (size_t i = 0; i < 80; i++)
        make_request(cl, &pm[i]);

    assert_int_equal(receive(sv, &pm[0]), 0);
    assert_int_equal(receive(sv, &pm[0]), -EALREADY);
    assert_int_equal(receive(sv, &pm[5]), 0);
    assert_int_equal(receive(sv, &pm[3]), 0); /* late but inside the window */
    assert_int_equal(receive(sv, &pm[3]), -EALREADY);
    assert_int_equal(receive(sv, &pm[5]), -EALREADY);

    /* a forged copy does not move the window */
    struct prot_msg forged = pm[10];
    forged.m.payload = forged.buf + (pm[10].m.payload - pm[10].buf);
    for (size_t i = 0; i < forged.m.n_opts; i++)
        forged.m.opts[i].value = forged.buf + (pm[10].m.opts[i].value - pm[10].buf);
    forged.buf[forged.m.payload - forged.buf + 2] ^= 0x10;
    assert_int_equal(receive(sv, &forged), -EACCES);
    assert_int_equal(receive(sv, &pm[10]), 0);

    /* 64 ahead: 10 is still in, 5 and 3 ... then too old */
    assert_int_equal(receive(sv, &pm[68]), 0);
    assert_int_equal(receive(sv, &pm[10]), -EALREADY);
    assert_int_equal(receive(sv, &pm[5]), -EALREADY); /* 68 - 5 = 63: last slot */
    assert_int_equal(receive(sv, &pm[4]), -ESTALE);   /* 64 behind */
    assert_int_equal(receive(sv, &pm[6]), 0);
    assert_int_equal(receive(sv, &pm[79]), 0);
    assert_int_equal(receive(sv, &pm[6]), -ESTALE);
    assert_int_equal(receive(sv, &pm[16]), 0);
    assert_int_equal(receive(sv, &pm[15]), -ESTALE);
    oscore_ctx_free(sv);

    /* replay_floor: a restarted server refuses what it may have seen */
    struct bytes secret, salt;
    unhex(str(kd("C.1.2"), "master_secret"), &secret);
    unhex(str(kd("C.1.2"), "master_salt"), &salt);
    struct oscore_ctx_params p = {.master_secret = secret.b,
                                  .master_secret_len = secret.n,
                                  .master_salt = salt.b,
                                  .master_salt_len = salt.n,
                                  .sender_id = (const uint8_t *)"\x01",
                                  .sender_id_len = 1,
                                  .recipient_id = (const uint8_t *)"",
                                  .replay_floor = 50};
    assert_int_equal(oscore_ctx_new(&p, &sv), 0);
    assert_int_equal(receive(sv, &pm[49]), -ESTALE);
    assert_int_equal(receive(sv, &pm[50]), 0);
    oscore_ctx_free(sv);
    oscore_ctx_free(cl);
    free(pm);
}

/* ---- Appendix B.1.1 ---------------------------------------------------- */

struct store_log {
    uint64_t bounds[16];
    size_t n;
    int fail;
};

static int store_cb(void *userdata, uint64_t bound)
{
    struct store_log *l = userdata;
    if (l->fail)
        return l->fail;
    assert_true(l->n < ARRAY_SIZE(l->bounds));
    l->bounds[l->n++] = bound;
    return 0;
}

static struct oscore_ctx *persistent_ctx(struct store_log *log, uint64_t start, uint64_t k)
{
    struct oscore_ctx *c = NULL;
    struct oscore_ctx_params p = {.master_secret = (const uint8_t *)"0123456789abcdef",
                                  .master_secret_len = 16,
                                  .sender_id = (const uint8_t *)"A",
                                  .sender_id_len = 1,
                                  .recipient_id = (const uint8_t *)"B",
                                  .recipient_id_len = 1,
                                  .seq_start = start,
                                  .seq_interval = k,
                                  .seq_store = store_cb,
                                  .userdata = log};
    assert_int_equal(oscore_ctx_new(&p, &c), 0);
    return c;
}

static void test_seq_persistence(void **state)
{
    struct store_log log = {0};
    struct oscore_ctx *c = persistent_ctx(&log, 0, 10);
    uint64_t s;
    /* the bound is stored before the first number is handed out */
    assert_int_equal(oscore_next_seq(c, &s), 0);
    assert_int_equal(s, 0);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.bounds[0], 10);
    for (uint64_t i = 1; i < 10; i++) {
        assert_int_equal(oscore_next_seq(c, &s), 0);
        assert_int_equal(s, i);
    }
    assert_int_equal(log.n, 1);
    /* storing fails: no number, and the next call tries again */
    log.fail = -EIO;
    assert_int_equal(oscore_next_seq(c, &s), -EIO);
    log.fail = 7; /* a positive return is an error too */
    assert_int_equal(oscore_next_seq(c, &s), -EIO);
    log.fail = 0;
    assert_int_equal(oscore_next_seq(c, &s), 0);
    assert_int_equal(s, 10);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.bounds[1], 20);
    /* protecting a request uses (and persists) numbers too */
    struct prot_msg pm;
    for (int i = 0; i < 9; i++)
        make_request(c, &pm);
    assert_int_equal(log.n, 2);
    make_request(c, &pm);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.bounds[2], 30);
    oscore_ctx_free(c);

    /* restart from the persisted bound: nothing below 30 is reused */
    c = persistent_ctx(&log, 30, 10);
    assert_int_equal(oscore_next_seq(c, &s), 0);
    assert_int_equal(s, 30);
    assert_int_equal(log.bounds[3], 40);
    oscore_ctx_free(c);

    /* the end of the sequence number space */
    log.n = 0;
    c = persistent_ctx(&log, OSCORE_MAX_SEQ - 1, 10);
    assert_int_equal(oscore_next_seq(c, &s), 0);
    assert_true(s == OSCORE_MAX_SEQ - 1);
    assert_true(log.bounds[0] == OSCORE_MAX_SEQ + 1);
    assert_int_equal(oscore_next_seq(c, &s), 0);
    assert_true(s == OSCORE_MAX_SEQ);
    assert_int_equal(oscore_next_seq(c, &s), -ENOSPC);
    assert_int_equal(oscore_next_seq(c, &s), -ENOSPC);
    struct oscore_msg in = {.code = 0x01}, out;
    struct oscore_req req;
    uint8_t buf[128];
    assert_int_equal(oscore_protect_request(c, &in, &out, buf, sizeof(buf), &req), -ENOSPC);
    oscore_ctx_free(c);

    /* a 5-byte Partial IV round trips */
    struct oscore_ctx *cl = ctx_from("C.1.1", OSCORE_MAX_SEQ, false);
    struct oscore_ctx *sv = ctx_from("C.1.2", 0, false);
    make_request(cl, &pm);
    const struct oscore_option *o = opt(&pm.m, OSCORE_OPT_OSCORE);
    assert_non_null(o);
    assert_int_equal(o->value[0], 0x0d); /* k, n = 5 */
    assert_int_equal(receive(sv, &pm), 0);
    oscore_ctx_free(cl);
    oscore_ctx_free(sv);
}

/* ---- option classes, Observe ------------------------------------------ */

static void test_classes_and_observe(void **state)
{
    struct oscore_ctx *cl = ctx_from("C.3.1", 0, true);
    struct oscore_ctx *sv = ctx_from("C.3.2", 0, false);
    static const uint8_t host[] = "gw.example", path[] = "lamp", port[] = {0x16, 0x33},
                         scheme[] = "coap", obs[] = {0};
    struct oscore_msg in = {.code = 0x01, .payload = (const uint8_t *)"x", .payload_len = 1};
    struct oscore_option opts[] = {
            {OSCORE_OPT_URI_HOST, 10, host},
            {OSCORE_OPT_OBSERVE, 0, obs},
            {OSCORE_OPT_URI_PORT, 2, port},
            {OSCORE_OPT_URI_PATH, 4, path},
            {12, 1, obs},
            {OSCORE_OPT_PROXY_SCHEME, 4, scheme},
            {2048, 3, (const uint8_t *)"unk"},
    };
    memcpy(in.opts, opts, sizeof(opts));
    in.n_opts = ARRAY_SIZE(opts);
    struct oscore_msg outer, inner, resp_outer, resp_inner;
    struct oscore_req rc, rs;
    uint8_t b1[512], b2[512], b3[512], b4[512];

    assert_int_equal(oscore_protect_request(cl, &in, &outer, b1, sizeof(b1), &rc), 0);
    assert_int_equal(outer.code, OSCORE_CODE_FETCH);
    assert_true(rc.observe);
    /* outside: Uri-Host, Observe, Uri-Port, OSCORE, Proxy-Scheme */
    assert_int_equal(outer.n_opts, 5);
    static const uint16_t want[] = {3, 6, 7, 9, 39};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(outer.opts[i].number, want[i]);
    /* the kid context travels in the option */
    assert_int_equal(outer.opts[3].value[0] & 0x10, 0x10);

    assert_int_equal(oscore_unprotect_request(sv, &outer, &inner, b2, sizeof(b2), &rs), 0);
    assert_int_equal(inner.code, 0x01);
    assert_int_equal(inner.n_opts, in.n_opts);
    for (size_t i = 0; i < in.n_opts; i++) {
        assert_int_equal(inner.opts[i].number, in.opts[i].number);
        assert_int_equal(inner.opts[i].len, in.opts[i].len);
        assert_memory_equal(inner.opts[i].value, in.opts[i].value, in.opts[i].len);
    }
    assert_int_equal(inner.payload_len, 1);
    assert_true(rs.observe);

    /* a notification: 2.05 with Observe; needs its own Partial IV */
    static const uint8_t seqno[] = {0x07};
    struct oscore_msg resp = {
            .code = 0x45, .n_opts = 2, .payload = (const uint8_t *)"on", .payload_len = 2};
    resp.opts[0] = (struct oscore_option){OSCORE_OPT_OBSERVE, 1, seqno};
    resp.opts[1] = (struct oscore_option){12, 0, NULL};
    assert_int_equal(oscore_protect_response(sv, &rs, false, &resp, &resp_outer, b3, sizeof(b3)),
                     -EINVAL);
    assert_int_equal(oscore_protect_response(sv, &rs, true, &resp, &resp_outer, b3, sizeof(b3)), 0);
    assert_int_equal(resp_outer.code, OSCORE_CODE_CONTENT);
    assert_int_equal(resp_outer.n_opts, 2); /* Observe, OSCORE */
    assert_int_equal(resp_outer.opts[0].number, OSCORE_OPT_OBSERVE);
    assert_int_equal(oscore_unprotect_response(cl, &rc, &resp_outer, &resp_inner, b4, sizeof(b4)),
                     0);
    assert_int_equal(resp_inner.code, 0x45);
    assert_int_equal(resp_inner.n_opts, 2);
    assert_int_equal(resp_inner.opts[0].len, 1);
    assert_int_equal(resp_inner.opts[0].value[0], 0x07);
    assert_int_equal(resp_inner.payload_len, 2);
    /* an outer Class E option is dropped on the way in */
    struct oscore_msg tampered = resp_outer;
    tampered.opts[2] = tampered.opts[1];
    tampered.opts[1] = (struct oscore_option){8, 3, (const uint8_t *)"bad"};
    tampered.n_opts = 3;
    assert_int_equal(oscore_unprotect_response(cl, &rc, &tampered, &resp_inner, b4, sizeof(b4)), 0);
    assert_int_equal(resp_inner.n_opts, 2);
    oscore_ctx_free(cl);
    oscore_ctx_free(sv);
}

/* ---- malformed and refused input -------------------------------------- */

/* a request sealed by hand with the client's key (to test inner checks) */
static void seal_raw(struct oscore_ctx *cl, uint8_t seq, const struct bytes *pt,
                     struct prot_msg *pm)
{
    uint8_t nonce[OSCORE_NONCE_LEN], aad[64];
    size_t aad_len, n;
    uint8_t piv[1] = {seq};
    assert_int_equal(oscore_nonce(cl, cl->sender_id, cl->sender_id_len, piv, 1, nonce), 0);
    assert_int_equal(oscore_aad(10, cl->sender_id, cl->sender_id_len, piv, 1, NULL, 0, NULL, aad,
                                sizeof(aad), &aad_len),
                     0);
    pm->buf[0] = 0x09;
    pm->buf[1] = seq;
    memcpy(pm->buf + 2, cl->sender_id, cl->sender_id_len);
    size_t ov = 2 + cl->sender_id_len;
    assert_int_equal(cose_aead_encrypt(10, cl->sender_key, 16, nonce, 13, aad, aad_len, pt->b,
                                       pt->n, pm->buf + ov, sizeof(pm->buf) - ov, &n),
                     0);
    memset(&pm->m, 0, sizeof(pm->m));
    pm->m.code = OSCORE_CODE_POST;
    pm->m.n_opts = 1;
    pm->m.opts[0] = (struct oscore_option){OSCORE_OPT_OSCORE, (uint16_t)ov, pm->buf};
    pm->m.payload = pm->buf + ov;
    pm->m.payload_len = n;
}

static void test_malformed(void **state)
{
    struct oscore_ctx *cl = ctx_from("C.2.1", 1, false);
    struct oscore_ctx *sv = ctx_from("C.2.2", 0, false);
    struct prot_msg pm, bad;
    struct oscore_msg inner;
    struct oscore_req req;
    uint8_t buf[256];
    struct bytes pt;

    make_request(cl, &pm);
    /* no OSCORE option, two of them */
    bad = pm;
    bad.m.n_opts = 0;
    assert_int_equal(oscore_unprotect_request(sv, &bad.m, &inner, buf, sizeof(buf), &req),
                     -EBADMSG);
    bad.m.n_opts = 2;
    bad.m.opts[1] = bad.m.opts[0];
    assert_int_equal(oscore_unprotect_request(sv, &bad.m, &inner, buf, sizeof(buf), &req),
                     -EBADMSG);
    /* wrong kid, request without PIV or kid, non-minimal PIV, kid context */
    static const struct {
        const char *value;
        int err;
    } opts[] = {
            {"090101", -ENOENT},      /* kid 01: not this context's recipient */
            {"0800", -EBADMSG},       /* no Partial IV */
            {"0101", -EBADMSG},       /* no kid */
            {"0a000100", -EBADMSG},   /* Partial IV 0x0001: not minimal */
            {"19010100 00", -ENOENT}, /* kid context, but the context has none */
            {"", -EBADMSG},           /* empty: neither */
            {"2901 00", -EBADMSG},    /* reserved bit */
    };
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        char hx[32];
        size_t j = 0;
        struct bytes v;
        for (const char *c = opts[i].value; *c; c++)
            if (*c != ' ')
                hx[j++] = *c;
        hx[j] = 0;
        if (j)
            unhex(hx, &v);
        else
            v.n = 0;
        bad = pm;
        bad.m.payload = pm.m.payload;
        bad.m.opts[0].value = v.b;
        bad.m.opts[0].len = (uint16_t)v.n;
        int r = oscore_unprotect_request(sv, &bad.m, &inner, buf, sizeof(buf), &req);
        if (r != opts[i].err)
            fail_msg("option %s: %d, want %d", opts[i].value, r, opts[i].err);
    }
    /* empty payload, truncated ciphertext, small work buffer */
    bad = pm;
    bad.m.payload_len = 0;
    assert_int_equal(oscore_unprotect_request(sv, &bad.m, &inner, buf, sizeof(buf), &req),
                     -EBADMSG);
    bad.m.payload = pm.m.payload;
    bad.m.payload_len = 7;
    assert_int_equal(oscore_unprotect_request(sv, &bad.m, &inner, buf, sizeof(buf), &req), -EACCES);
    assert_int_equal(oscore_unprotect_request(sv, &pm.m, &inner, buf, 2, &req), -ENOBUFS);
    /* unsorted outer options */
    bad = pm;
    bad.m.n_opts = 2;
    bad.m.opts[1] = (struct oscore_option){3, 1, (const uint8_t *)"h"};
    assert_int_equal(oscore_unprotect_request(sv, &bad.m, &inner, buf, sizeof(buf), &req),
                     -EBADMSG);
    /* and the good one still works after all that */
    assert_int_equal(oscore_unprotect_request(sv, &pm.m, &inner, buf, sizeof(buf), &req), 0);

    /* inner checks on hand-sealed plaintexts */
    static const struct {
        const char *pt;
        int err;
    } inner_cases[] = {
            {"45", -EBADMSG},        /* a response code in a request */
            {"00", -EBADMSG},        /* empty message code */
            {"01 f0", -EBADMSG},     /* bad option */
            {"01 ff", -EBADMSG},     /* marker without payload */
            {"01 9100", -EBADMSG},   /* an inner OSCORE option */
            {"01 3161", 0},          /* inner Uri-Host: dropped */
            {"02 b3747631 ff41", 0}, /* fine */
    };
    for (size_t i = 0; i < ARRAY_SIZE(inner_cases); i++) {
        char hx[32];
        size_t j = 0;
        for (const char *c = inner_cases[i].pt; *c; c++)
            if (*c != ' ')
                hx[j++] = *c;
        hx[j] = 0;
        unhex(hx, &pt);
        seal_raw(cl, (uint8_t)(10 + i), &pt, &bad);
        int r = oscore_unprotect_request(sv, &bad.m, &inner, buf, sizeof(buf), &req);
        if (r != inner_cases[i].err)
            fail_msg("inner %s: %d, want %d", inner_cases[i].pt, r, inner_cases[i].err);
        if (i == 5)
            assert_int_equal(inner.n_opts, 0);
    }
    /* an empty plaintext (tag only) */
    pt.n = 0;
    seal_raw(cl, 30, &pt, &bad);
    assert_int_equal(oscore_unprotect_request(sv, &bad.m, &inner, buf, sizeof(buf), &req),
                     -EBADMSG);

    /* refused on the way out */
    struct oscore_msg in = {.code = 0x01, .n_opts = 1}, out;
    in.opts[0] = (struct oscore_option){OSCORE_OPT_PROXY_URI, 4, (const uint8_t *)"coap"};
    assert_int_equal(oscore_protect_request(cl, &in, &out, buf, sizeof(buf), &req), -ENOTSUP);
    in.opts[0] = (struct oscore_option){OSCORE_OPT_OSCORE, 0, NULL};
    assert_int_equal(oscore_protect_request(cl, &in, &out, buf, sizeof(buf), &req), -EINVAL);
    in.n_opts = 2;
    in.opts[0] = (struct oscore_option){11, 1, (const uint8_t *)"a"};
    in.opts[1] = (struct oscore_option){3, 1, (const uint8_t *)"h"};
    assert_int_equal(oscore_protect_request(cl, &in, &out, buf, sizeof(buf), &req), -EINVAL);
    in.n_opts = 0;
    in.code = 0x45;
    assert_int_equal(oscore_protect_request(cl, &in, &out, buf, sizeof(buf), &req), -EINVAL);
    in.code = 0x01;
    in.payload = (const uint8_t *)"payload";
    in.payload_len = 7;
    for (size_t cap = 0; cap < 3 + 1 + 8 + 8; cap++)
        assert_int_equal(oscore_protect_request(cl, &in, &out, buf, cap, &req), -ENOBUFS);
    assert_int_equal(oscore_protect_request(cl, &in, &out, buf, 3 + 1 + 8 + 8 + 1, &req), 0);
    in.code = 0x01;
    assert_int_equal(oscore_protect_response(sv, &req, false, &in, &out, buf, sizeof(buf)),
                     -EINVAL); /* a request code in a response */
    struct oscore_req badreq = req;
    badreq.piv_len = 0;
    in.code = 0x45;
    assert_int_equal(oscore_protect_response(sv, &badreq, false, &in, &out, buf, sizeof(buf)),
                     -EINVAL);
    oscore_ctx_free(cl);
    oscore_ctx_free(sv);
}

static void test_ctx_params(void **state)
{
    struct oscore_ctx *c = NULL;
    const uint8_t secret[16] = {1};
    struct oscore_ctx_params base = {.master_secret = secret,
                                     .master_secret_len = 16,
                                     .sender_id = (const uint8_t *)"A",
                                     .sender_id_len = 1,
                                     .recipient_id = (const uint8_t *)"B",
                                     .recipient_id_len = 1};
    struct oscore_ctx_params p = base;
    assert_int_equal(oscore_ctx_new(&p, &c), 0);
    oscore_ctx_free(c);
    p.recipient_id = (const uint8_t *)"A";
    assert_int_equal(oscore_ctx_new(&p, &c), -EINVAL);
    p = base;
    p.sender_id_len = 8;
    p.sender_id = (const uint8_t *)"12345678";
    assert_int_equal(oscore_ctx_new(&p, &c), -E2BIG);
    p = base;
    p.aead_alg = COSE_ALG_A128GCM;
    assert_int_equal(oscore_ctx_new(&p, &c), -ENOTSUP);
    p = base;
    p.master_secret_len = 0;
    assert_int_equal(oscore_ctx_new(&p, &c), -EINVAL);
    p = base;
    p.master_secret_len = OSCORE_MAX_MASTER_SECRET + 1;
    assert_int_equal(oscore_ctx_new(&p, &c), -E2BIG);
    p = base;
    p.seq_store = store_cb;
    assert_int_equal(oscore_ctx_new(&p, &c), -EINVAL); /* no interval */
    p = base;
    p.id_context = secret;
    p.id_context_len = OSCORE_MAX_ID_CONTEXT + 1;
    assert_int_equal(oscore_ctx_new(&p, &c), -E2BIG);
    p = base;
    p.seq_start = OSCORE_MAX_SEQ + 2;
    assert_int_equal(oscore_ctx_new(&p, &c), -EINVAL);
    assert_null(c);
    /* an empty ID Context differs from none (h'' vs nil in the info) */
    struct oscore_ctx *c1 = NULL, *c2 = NULL;
    p = base;
    assert_int_equal(oscore_ctx_new(&p, &c1), 0);
    p.id_context = secret;
    p.id_context_len = 0;
    assert_int_equal(oscore_ctx_new(&p, &c2), 0);
    assert_memory_not_equal(c1->sender_key, c2->sender_key, OSCORE_KEY_LEN);
    oscore_ctx_free(c1);
    oscore_ctx_free(c2);
    oscore_ctx_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_key_derivation),   cmocka_unit_test(test_request_vectors),
            cmocka_unit_test(test_response_vectors), cmocka_unit_test(test_option_value),
            cmocka_unit_test(test_options_codec),    cmocka_unit_test(test_replay_window),
            cmocka_unit_test(test_seq_persistence),  cmocka_unit_test(test_classes_and_observe),
            cmocka_unit_test(test_malformed),        cmocka_unit_test(test_ctx_params),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
