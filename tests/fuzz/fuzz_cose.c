/* fuzz_cose.c - COSE message decoding and every verify/decrypt path, and
 * COSE_Key / COSE_KeySet decoding, on any bytes. Fixed keys: the COSE WG
 * examples' P-256 key "11", the RFC 8032 Ed25519 test key, an HMAC key and
 * an AES key with a Base IV (so that Partial IVs are reached). The first
 * byte, when present, gives the external AAD length (its low 4 bits):
 * that many bytes at the end of the input; the message lies between. Invariants: decoding is
 * consistent (a message that verifies also decodes, its payload lies inside the input or is the
 * detached one), never a crash, leak or UB. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "objsec/cose.h"
#include "objsec/cose_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cose_key *k_es, *k_ed, *k_hmac, *k_aes, *k_ccm;

static void init_keys(void)
{
    static const uint8_t x[32] = {0xba, 0xc5, 0xb1, 0x1c, 0xad, 0x8f, 0x99, 0xf9, 0xc7, 0x2b, 0x05,
                                  0xcf, 0x4b, 0x9e, 0x26, 0xd2, 0x44, 0xdc, 0x18, 0x9f, 0x74, 0x52,
                                  0x28, 0x25, 0x5a, 0x21, 0x9a, 0x86, 0xd6, 0xa0, 0x9e, 0xff};
    static const uint8_t y[32] = {0x20, 0x13, 0x8b, 0xf8, 0x2d, 0xc1, 0xb6, 0xd5, 0x62, 0xbe, 0x0f,
                                  0xa5, 0x4a, 0xb7, 0x80, 0x4a, 0x3a, 0x64, 0xb6, 0xd7, 0x2c, 0xcf,
                                  0xed, 0x6b, 0x6f, 0xb6, 0xed, 0x28, 0xbb, 0xfc, 0x11, 0x7e};
    static const uint8_t ed[32] = {0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe,
                                   0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6,
                                   0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};
    static const uint8_t k[32] = {0x84, 0x9b, 0x57, 0x21, 0x9d, 0xae, 0x48, 0xde, 0x64, 0x6d, 0x07,
                                  0xdb, 0xb5, 0x33, 0x56, 0x6e, 0x97, 0x66, 0x86, 0x45, 0x7c, 0x14,
                                  0x91, 0xbe, 0x3a, 0x76, 0xdc, 0xea, 0x6c, 0x42, 0x71, 0x88};
    static const uint8_t biv[8] = {0x89, 0xf5, 0x2f, 0x65, 0xa1, 0xc5, 0x80, 0x93};
    struct cose_key_params p;

    p = (struct cose_key_params){
            .kty = COSE_KTY_EC2, .crv = COSE_CRV_P256, .x = x, .y = y, .x_len = 32, .y_len = 32};
    if (cose_key_new(&p, &k_es) < 0)
        abort();
    p = (struct cose_key_params){
            .kty = COSE_KTY_OKP, .crv = COSE_CRV_ED25519, .x = ed, .x_len = 32};
    if (cose_key_new(&p, &k_ed) < 0)
        abort();
    p = (struct cose_key_params){.kty = COSE_KTY_SYMMETRIC, .k = k, .k_len = 32};
    if (cose_key_new(&p, &k_hmac) < 0)
        abort();
    p = (struct cose_key_params){.kty = COSE_KTY_SYMMETRIC,
                                 .k = k,
                                 .k_len = 16,
                                 .base_iv = biv,
                                 .base_iv_len = sizeof(biv),
                                 .alg = COSE_ALG_A128GCM};
    if (cose_key_new(&p, &k_aes) < 0)
        abort();
    p.alg = COSE_ALG_AES_CCM_16_64_128;
    if (cose_key_new(&p, &k_ccm) < 0)
        abort();
}

static void check_payload(const struct cose_msg *m, const uint8_t *data, size_t size,
                          const struct cose_verify_opts *o)
{
    if (m->detached) {
        if (m->payload != o->detached_payload)
            abort();
        return;
    }
    if (m->payload_len > size ||
        (m->payload_len && (m->payload < data || m->payload + m->payload_len > data + size)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pt[1u << 20];
    struct cose_msg m;
    size_t n;
    int r;

    if (!k_es)
        init_keys();

    /* keys */
    struct cose_key *key = NULL, **keys = NULL;
    if (cose_key_decode(data, size, &key) == 0) {
        uint8_t enc[COSE_KEY_ENCODED_MAX];
        if (!key || cose_key_encode(key, true, enc, sizeof(enc), &n) < 0)
            abort();
        struct cose_key *again = NULL;
        if (cose_key_decode(enc, n, &again) != 0)
            abort(); /* our own encoding reads back */
        cose_key_free(again);
    } else if (key) {
        abort();
    }
    cose_key_free(key);
    if (cose_keyset_decode(data, size, &keys, &n) == 0) {
        if (!keys || n == 0 || n > COSE_KEYSET_MAX)
            abort();
        cose_keys_free(keys, n);
    }

    /* messages */
    size_t ext_len = size ? (data[0] & 0x0f) : 0;
    if (ext_len > size)
        ext_len = size;
    struct cose_verify_opts o = {.external_aad = data + size - ext_len,
                                 .external_aad_len = ext_len,
                                 .detached_payload = (const uint8_t *)"detached",
                                 .detached_len = 8};
    const uint8_t *msg = data + (size ? 1 : 0);
    size_t len = size ? size - 1 : 0;
    if (ext_len > len)
        ext_len = len;
    len -= ext_len; /* the message, then the external AAD */
    o.external_aad = msg + len;
    o.external_aad_len = ext_len;

    int rd = cose_decode(msg, len, COSE_TYPE_ANY, &m);
    (void)rd;
    static const enum cose_type types[] = {COSE_SIGN1, COSE_MAC0, COSE_ENCRYPT0};
    for (size_t i = 0; i < 3; i++) {
        r = cose_decode(msg, len, types[i], &m);
        if (r == 0 && m.type != types[i])
            abort();
    }
    const struct cose_key *sign_keys[] = {k_es, k_ed, k_hmac};
    for (size_t i = 0; i < 3; i++) {
        r = cose_sign1_verify(sign_keys[i], msg, len, &o, &m);
        if (r == 0) {
            if (cose_decode(msg, len, COSE_SIGN1, &m) != 0)
                abort();
            check_payload(&m, msg, len, &o);
        }
    }
    r = cose_mac0_verify(k_hmac, msg, len, &o, &m);
    if (r == 0)
        check_payload(&m, msg, len, &o);
    const struct cose_key *enc_keys[] = {k_aes, k_ccm, k_hmac};
    for (size_t i = 0; i < 3; i++) {
        r = cose_encrypt0_decrypt(enc_keys[i], msg, len, &o, pt, sizeof(pt), &n, &m);
        if (r == 0 && (n > len || m.payload_len < n))
            abort();
    }
    return 0;
}
