/* fuzz_oscore.c - OSCORE on any bytes: the OSCORE option value codec,
 * the CoAP option list codec, request unprotection (server context of
 * RFC 8613 C.1.2), response unprotection (client context C.1.1, request
 * C.4: kid h'', Partial IV 0x14) and a protect/unprotect round trip.
 *
 * Input: byte 0 is a CoAP code, the rest a CoAP option list, optionally
 * followed by 0xFF and a payload (the shape of a CoAP message after its
 * header and token). Invariants (abort on violation): decoded values lie
 * inside the input; a decoded option value re-encodes to the same bytes;
 * a request or response that protects unprotects to exactly the same code,
 * options and payload. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objsec/oscore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct oscore_ctx *server, *client, *rt_client, *rt_server;

static struct oscore_ctx *mk(const uint8_t *sid, size_t sid_len, const uint8_t *rid, size_t rid_len)
{
    static const uint8_t secret[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    static const uint8_t salt[8] = {0x9e, 0x7c, 0xa9, 0x22, 0x23, 0x78, 0x63, 0x40};
    struct oscore_ctx_params p = {.master_secret = secret,
                                  .master_secret_len = 16,
                                  .master_salt = salt,
                                  .master_salt_len = 8,
                                  .sender_id = sid,
                                  .sender_id_len = sid_len,
                                  .recipient_id = rid,
                                  .recipient_id_len = rid_len};
    struct oscore_ctx *c = NULL;
    if (oscore_ctx_new(&p, &c) < 0)
        abort();
    return c;
}

static void init(void)
{
    static const uint8_t empty[1] = {0}, one[1] = {1};
    server = mk(one, 1, empty, 0); /* C.1.2 */
    client = mk(empty, 0, one, 1); /* C.1.1 */
    rt_client = mk(empty, 0, one, 1);
    rt_server = mk(one, 1, empty, 0);
}

static bool inside(const uint8_t *p, size_t n, const uint8_t *base, size_t size)
{
    return n == 0 || (p >= base && p + n <= base + size);
}

static void same_msg(const struct oscore_msg *a, const struct oscore_msg *b)
{
    if (a->code != b->code || a->n_opts != b->n_opts || a->payload_len != b->payload_len)
        abort();
    for (size_t i = 0; i < a->n_opts; i++)
        if (a->opts[i].number != b->opts[i].number || a->opts[i].len != b->opts[i].len ||
            (a->opts[i].len && memcmp(a->opts[i].value, b->opts[i].value, a->opts[i].len)))
            abort();
    if (a->payload_len && memcmp(a->payload, b->payload, a->payload_len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[OSCORE_MAX_PLAINTEXT + 4096], buf2[OSCORE_MAX_PLAINTEXT + 4096];
    struct oscore_option_value v;
    struct oscore_msg in = {0}, out, back;
    struct oscore_req req;
    size_t consumed, n;
    int r;

    if (!server)
        init();

    /* the option value codec on the whole input */
    if (oscore_option_decode(data, size, &v) == 0) {
        uint8_t enc[OSCORE_OPTION_VALUE_MAX + 256];
        if (!inside(v.piv, v.piv_len, data, size) || !inside(v.kid, v.kid_len, data, size) ||
            !inside(v.kid_context, v.kid_context_len, data, size))
            abort();
        if (oscore_option_encode(&v, enc, sizeof(enc), &n) != 0 || n != size ||
            (n && memcmp(enc, data, n)))
            abort();
    }

    if (size < 1)
        return 0;
    in.code = data[0];
    r = oscore_options_decode(data + 1, size - 1, in.opts, OSCORE_MAX_OPTIONS, &in.n_opts,
                              &consumed);
    if (r < 0)
        return 0;
    if (consumed > size - 1)
        abort();
    if (consumed < size - 1) {
        in.payload = data + 1 + consumed;
        in.payload_len = size - 1 - consumed;
    }
    for (size_t i = 0; i < in.n_opts; i++)
        if (!inside(in.opts[i].value, in.opts[i].len, data, size) ||
            (i && in.opts[i].number < in.opts[i - 1].number))
            abort();

    /* as a received protected message */
    r = oscore_unprotect_request(server, &in, &out, buf, sizeof(buf), &req);
    if (r == 0 && (req.piv_len == 0 || req.piv_len > OSCORE_MAX_PIV))
        abort();
    static const struct oscore_req c4 = {.kid_len = 0, .piv = {0x14}, .piv_len = 1};
    r = oscore_unprotect_response(client, &c4, &in, &out, buf, sizeof(buf));
    (void)r;

    /* as a plain message: protect, then unprotect on the other side */
    struct oscore_req rc, rs;
    r = oscore_protect_request(rt_client, &in, &out, buf, sizeof(buf), &rc);
    if (r == 0) {
        if (oscore_unprotect_request(rt_server, &out, &back, buf2, sizeof(buf2), &rs) != 0)
            abort();
        same_msg(&in, &back);
    }
    /* a response to a fixed request, with and without a new Partial IV */
    for (int np = 0; np < 2; np++) {
        r = oscore_protect_response(rt_server, &c4, np, &in, &out, buf, sizeof(buf));
        if (r == 0) {
            if (oscore_unprotect_response(rt_client, &c4, &out, &back, buf2, sizeof(buf2)) != 0)
                abort();
            same_msg(&in, &back);
        }
    }
    return 0;
}
