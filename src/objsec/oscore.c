/* oscore.c - OSCORE (RFC 8613) message protection; see oscore.h.
 *
 * Cleanup style: goto to one exit. Plaintexts live in a heap buffer that
 * is wiped before it is freed; keys are wiped by oscore_ctx_free().
 */
#include "oscore.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>

#include "cbor.h"
#include "cose.h"

#define INFO_MAX      (16 + OSCORE_MAX_ID + OSCORE_MAX_ID_CONTEXT)
#define AAD_ARRAY_MAX (16 + OSCORE_MAX_ID + OSCORE_MAX_PIV)
#define AAD_MAX       (AAD_ARRAY_MAX + 16)

/* ---- key derivation --------------------------------------------------- */

static int hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                       const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
    int r = -EIO;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = NULL;
    OSSL_PARAM params[5], *p = params;

    if (!kdf)
        return -EIO;
    ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (!ctx)
        return -ENOMEM;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
    if (salt_len) /* absent salt = HashLen zeros (RFC 5869 §2.2) */
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    *p = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(ctx, out, out_len, params) == 1)
        r = 0;
    EVP_KDF_CTX_free(ctx);
    return r;
}

int oscore_hkdf_info(const uint8_t *id, size_t id_len, const uint8_t *id_context,
                     size_t id_context_len, int64_t alg, const char *type, size_t l, uint8_t *out,
                     size_t cap, size_t *out_len)
{
    struct cbor_enc e;
    if ((!id && id_len) || !type)
        return -EINVAL;
    cbor_enc_init(&e, out, cap);
    cbor_put_array(&e, 5);
    cbor_put_bstr(&e, id, id_len);
    if (id_context)
        cbor_put_bstr(&e, id_context, id_context_len);
    else
        cbor_put_null(&e);
    cbor_put_int(&e, alg);
    cbor_put_cstr(&e, type);
    cbor_put_uint(&e, l);
    return cbor_enc_finish(&e, out_len);
}

static int derive(const struct oscore_ctx_params *p, const uint8_t *id, size_t id_len,
                  const char *type, uint8_t *out, size_t out_len)
{
    uint8_t info[INFO_MAX];
    size_t info_len;
    int r = oscore_hkdf_info(id, id_len, p->id_context, p->id_context_len,
                             COSE_ALG_AES_CCM_16_64_128, type, out_len, info, sizeof(info),
                             &info_len);
    if (r < 0)
        return r;
    return hkdf_sha256(p->master_secret, p->master_secret_len, p->master_salt,
                       p->master_salt ? p->master_salt_len : 0, info, info_len, out, out_len);
}

void oscore_ctx_free(struct oscore_ctx *c)
{
    if (!c)
        return;
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

int oscore_ctx_new(const struct oscore_ctx_params *p, struct oscore_ctx **out)
{
    struct oscore_ctx *c = NULL;
    int r;

    if (!p || !out)
        return -EINVAL;
    *out = NULL;
    if (p->aead_alg != 0 && p->aead_alg != COSE_ALG_AES_CCM_16_64_128)
        return -ENOTSUP;
    if (!p->master_secret || p->master_secret_len == 0 || (!p->sender_id && p->sender_id_len) ||
        (!p->recipient_id && p->recipient_id_len) || (!p->id_context && p->id_context_len))
        return -EINVAL;
    if (p->master_secret_len > OSCORE_MAX_MASTER_SECRET ||
        (p->master_salt && p->master_salt_len > OSCORE_MAX_MASTER_SALT) ||
        p->sender_id_len > OSCORE_MAX_ID || p->recipient_id_len > OSCORE_MAX_ID ||
        (p->id_context && p->id_context_len > OSCORE_MAX_ID_CONTEXT))
        return -E2BIG;
    if (p->sender_id_len == p->recipient_id_len &&
        (p->sender_id_len == 0 || memcmp(p->sender_id, p->recipient_id, p->sender_id_len) == 0))
        return -EINVAL; /* §3.3: sender and recipient IDs differ */
    if (p->seq_store && p->seq_interval == 0)
        return -EINVAL;
    if (p->seq_start > OSCORE_MAX_SEQ + 1 || p->replay_floor > OSCORE_MAX_SEQ + 1)
        return -EINVAL;

    c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->alg = COSE_ALG_AES_CCM_16_64_128;
    if (p->sender_id_len)
        memcpy(c->sender_id, p->sender_id, p->sender_id_len);
    c->sender_id_len = p->sender_id_len;
    if (p->recipient_id_len)
        memcpy(c->recipient_id, p->recipient_id, p->recipient_id_len);
    c->recipient_id_len = p->recipient_id_len;
    if (p->id_context) {
        c->has_id_context = true;
        if (p->id_context_len)
            memcpy(c->id_context, p->id_context, p->id_context_len);
        c->id_context_len = p->id_context_len;
    }
    c->send_kid_context = p->send_kid_context && p->id_context;
    r = derive(p, c->sender_id, c->sender_id_len, "Key", c->sender_key, OSCORE_KEY_LEN);
    if (r == 0)
        r = derive(p, c->recipient_id, c->recipient_id_len, "Key", c->recipient_key,
                   OSCORE_KEY_LEN);
    if (r == 0)
        r = derive(p, (const uint8_t *)"", 0, "IV", c->common_iv, OSCORE_NONCE_LEN);
    if (r < 0)
        goto out;
    c->seq = p->seq_start;
    c->seq_store = p->seq_store;
    c->userdata = p->userdata;
    c->seq_interval = p->seq_interval;
    c->seq_bound = p->seq_store ? p->seq_start : OSCORE_MAX_SEQ + 1;
    c->replay_floor = p->replay_floor;
    *out = c;
    c = NULL;
out:
    oscore_ctx_free(c);
    return r;
}

/* ---- sequence numbers and replay -------------------------------------- */

int oscore_next_seq(struct oscore_ctx *c, uint64_t *seq)
{
    if (c->seq > OSCORE_MAX_SEQ)
        return -ENOSPC;
    if (c->seq >= c->seq_bound) {
        uint64_t bound = c->seq + c->seq_interval;
        if (bound > OSCORE_MAX_SEQ + 1 || bound < c->seq)
            bound = OSCORE_MAX_SEQ + 1;
        int r = c->seq_store(c->userdata, bound);
        if (r != 0)
            return r < 0 ? r : -EIO;
        c->seq_bound = bound;
    }
    *seq = c->seq++;
    return 0;
}

static size_t piv_from_seq(uint64_t seq, uint8_t piv[OSCORE_MAX_PIV])
{
    size_t n = 1;
    while (n < OSCORE_MAX_PIV && (seq >> (8 * n)))
        n++;
    for (size_t i = 0; i < n; i++)
        piv[i] = (uint8_t)(seq >> (8 * (n - 1 - i)));
    return n;
}

static int seq_from_piv(const uint8_t *piv, size_t n, uint64_t *seq)
{
    uint64_t v = 0;
    if (n == 0 || n > OSCORE_MAX_PIV || (n > 1 && piv[0] == 0))
        return -EBADMSG; /* absent, too long or not minimal */
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | piv[i];
    *seq = v;
    return 0;
}

static int replay_check(const struct oscore_ctx *c, uint64_t seq)
{
    if (seq < c->replay_floor)
        return -ESTALE;
    if (!c->replay_seen || seq > c->replay_max)
        return 0;
    uint64_t diff = c->replay_max - seq;
    if (diff >= OSCORE_REPLAY_WINDOW)
        return -ESTALE;
    if (c->replay_bits & (UINT64_C(1) << diff))
        return -EALREADY;
    return 0;
}

static void replay_update(struct oscore_ctx *c, uint64_t seq)
{
    if (!c->replay_seen) {
        c->replay_seen = true;
        c->replay_max = seq;
        c->replay_bits = 1;
        return;
    }
    if (seq > c->replay_max) {
        uint64_t shift = seq - c->replay_max;
        c->replay_bits = shift >= 64 ? 0 : c->replay_bits << shift;
        c->replay_bits |= 1;
        c->replay_max = seq;
        return;
    }
    c->replay_bits |= UINT64_C(1) << (c->replay_max - seq);
}

void oscore_replay_clear(struct oscore_ctx *c)
{
    c->replay_seen = false;
    c->replay_max = 0;
    c->replay_bits = 0;
    c->replay_floor = 0;
}

void oscore_replay_sync(struct oscore_ctx *c, uint64_t seq)
{
    c->replay_seen = true;
    c->replay_max = seq;
    c->replay_bits = 1;
    c->replay_floor = seq;
}

/* ---- nonce and AAD ---------------------------------------------------- */

int oscore_nonce(const struct oscore_ctx *c, const uint8_t *id_piv, size_t id_piv_len,
                 const uint8_t *piv, size_t piv_len, uint8_t nonce[OSCORE_NONCE_LEN])
{
    if (id_piv_len > OSCORE_MAX_ID || piv_len > OSCORE_MAX_PIV || (!id_piv && id_piv_len) ||
        (!piv && piv_len))
        return -EINVAL;
    memset(nonce, 0, OSCORE_NONCE_LEN);
    nonce[0] = (uint8_t)id_piv_len;
    if (id_piv_len)
        memcpy(nonce + 1 + OSCORE_MAX_ID - id_piv_len, id_piv, id_piv_len);
    if (piv_len)
        memcpy(nonce + OSCORE_NONCE_LEN - piv_len, piv, piv_len);
    for (size_t i = 0; i < OSCORE_NONCE_LEN; i++)
        nonce[i] ^= c->common_iv[i];
    return 0;
}

int oscore_aad(int64_t alg, const uint8_t *kid, size_t kid_len, const uint8_t *piv, size_t piv_len,
               uint8_t *aad_array, size_t array_cap, size_t *array_len, uint8_t *aad,
               size_t aad_cap, size_t *aad_len)
{
    uint8_t arr[AAD_ARRAY_MAX];
    size_t n;
    struct cbor_enc e;
    int r;

    if (kid_len > OSCORE_MAX_ID || piv_len > OSCORE_MAX_PIV)
        return -EINVAL;
    cbor_enc_init(&e, arr, sizeof(arr));
    cbor_put_array(&e, 5);
    cbor_put_uint(&e, OSCORE_VERSION);
    cbor_put_array(&e, 1);
    cbor_put_int(&e, alg);
    cbor_put_bstr(&e, kid, kid_len);
    cbor_put_bstr(&e, piv, piv_len);
    cbor_put_bstr(&e, NULL, 0); /* no Class I options */
    r = cbor_enc_finish(&e, &n);
    if (r < 0)
        return r;
    if (aad_array) {
        if (array_cap < n)
            return -ENOBUFS;
        memcpy(aad_array, arr, n);
        *array_len = n;
    }
    return cose_enc_structure(NULL, 0, arr, n, aad, aad_cap, aad_len);
}

/* ---- the OSCORE option ------------------------------------------------ */

#define FLAG_N_MASK   0x07
#define FLAG_K        0x08
#define FLAG_H        0x10
#define FLAG_RESERVED 0xe0

int oscore_option_encode(const struct oscore_option_value *v, uint8_t *out, size_t cap,
                         size_t *out_len)
{
    size_t n = 0;
    uint8_t flags = 0;

    if ((v->piv && (v->piv_len == 0 || v->piv_len > OSCORE_MAX_PIV)) ||
        (v->has_kid_context && v->kid_context_len > 255) ||
        (v->has_kid && v->kid_len > OSCORE_MAX_ID))
        return -EINVAL;
    flags = (uint8_t)((v->piv ? v->piv_len : 0) | (v->has_kid ? FLAG_K : 0) |
                      (v->has_kid_context ? FLAG_H : 0));
    if (flags == 0) { /* all flags zero: the value is empty */
        *out_len = 0;
        return 0;
    }
    size_t need = 1 + (v->piv ? v->piv_len : 0) +
                  (v->has_kid_context ? 1 + v->kid_context_len : 0) + (v->has_kid ? v->kid_len : 0);
    if (need > cap)
        return -ENOBUFS;
    out[n++] = flags;
    if (v->piv) {
        memcpy(out + n, v->piv, v->piv_len);
        n += v->piv_len;
    }
    if (v->has_kid_context) {
        out[n++] = (uint8_t)v->kid_context_len;
        if (v->kid_context_len)
            memcpy(out + n, v->kid_context, v->kid_context_len);
        n += v->kid_context_len;
    }
    if (v->has_kid) {
        if (v->kid_len)
            memcpy(out + n, v->kid, v->kid_len);
        n += v->kid_len;
    }
    *out_len = n;
    return 0;
}

int oscore_option_decode(const uint8_t *in, size_t len, struct oscore_option_value *v)
{
    size_t pos = 1, n;
    memset(v, 0, sizeof(*v));
    if (len == 0)
        return 0;
    if (!in)
        return -EINVAL;
    if (len > OSCORE_OPTION_VALUE_MAX + 255)
        return -EBADMSG;
    uint8_t flags = in[0];
    if (flags & FLAG_RESERVED)
        return -EBADMSG;
    n = flags & FLAG_N_MASK;
    if (n > OSCORE_MAX_PIV)
        return -EBADMSG; /* 6 and 7 are reserved */
    if (flags == 0)
        return -EBADMSG; /* must have been sent as an empty value */
    if (n) {
        if (n > len - pos)
            return -EBADMSG;
        v->piv = in + pos;
        v->piv_len = n;
        pos += n;
    }
    if (flags & FLAG_H) {
        if (pos >= len)
            return -EBADMSG;
        size_t s = in[pos++];
        if (s > len - pos)
            return -EBADMSG;
        v->has_kid_context = true;
        v->kid_context = in + pos;
        v->kid_context_len = s;
        pos += s;
    }
    if (flags & FLAG_K) {
        v->has_kid = true;
        v->kid = in + pos;
        v->kid_len = len - pos;
        if (v->kid_len > OSCORE_MAX_ID)
            return -EBADMSG;
        pos = len;
    }
    if (pos != len)
        return -EBADMSG; /* bytes that no flag accounts for */
    return 0;
}

/* ---- CoAP option lists ------------------------------------------------ */

static uint8_t nibble(uint32_t v)
{
    return v < 13 ? (uint8_t)v : v < 269 ? 13 : 14;
}

static size_t ext_bytes(uint32_t v)
{
    return v < 13 ? 0 : v < 269 ? 1 : 2;
}

static void put_ext(uint8_t *p, uint32_t v)
{
    if (v >= 269) {
        p[0] = (uint8_t)((v - 269) >> 8);
        p[1] = (uint8_t)(v - 269);
    } else if (v >= 13) {
        p[0] = (uint8_t)(v - 13);
    }
}

int oscore_options_encode(const struct oscore_option *opts, size_t n, uint8_t *out, size_t cap,
                          size_t *out_len)
{
    size_t pos = 0;
    uint32_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        const struct oscore_option *o = &opts[i];
        if (o->number < prev || o->len > OSCORE_MAX_OPTION_LEN || (!o->value && o->len))
            return -EINVAL;
        uint32_t delta = o->number - prev;
        size_t need = 1 + ext_bytes(delta) + ext_bytes(o->len) + o->len;
        if (need > cap - pos)
            return -ENOBUFS;
        out[pos] = (uint8_t)(nibble(delta) << 4 | nibble(o->len));
        pos++;
        put_ext(out + pos, delta);
        pos += ext_bytes(delta);
        put_ext(out + pos, o->len);
        pos += ext_bytes(o->len);
        if (o->len)
            memcpy(out + pos, o->value, o->len);
        pos += o->len;
        prev = o->number;
    }
    *out_len = pos;
    return 0;
}

static int get_ext(const uint8_t *in, size_t len, size_t *pos, unsigned nib, uint32_t *v)
{
    if (nib < 13) {
        *v = nib;
    } else if (nib == 13) {
        if (*pos >= len)
            return -EBADMSG;
        *v = (uint32_t)in[*pos] + 13;
        *pos += 1;
    } else if (nib == 14) {
        if (len - *pos < 2)
            return -EBADMSG;
        *v = ((uint32_t)in[*pos] << 8 | in[*pos + 1]) + 269;
        *pos += 2;
    } else {
        return -EBADMSG; /* 15 is reserved outside the payload marker */
    }
    return 0;
}

int oscore_options_decode(const uint8_t *in, size_t len, struct oscore_option *opts, size_t max,
                          size_t *n, size_t *consumed)
{
    size_t pos = 0, count = 0;
    uint32_t num = 0;

    if (!in && len)
        return -EINVAL;
    while (pos < len) {
        uint8_t b = in[pos++];
        uint32_t delta, olen;
        if (b == 0xff) {
            if (pos == len)
                return -EBADMSG; /* payload marker without a payload */
            *n = count;
            *consumed = pos;
            return 0;
        }
        if (get_ext(in, len, &pos, b >> 4, &delta) < 0 ||
            get_ext(in, len, &pos, b & 0x0f, &olen) < 0)
            return -EBADMSG;
        num += delta;
        if (num > 65535)
            return -EBADMSG;
        if (olen > len - pos)
            return -EBADMSG;
        if (olen > OSCORE_MAX_OPTION_LEN || count >= max)
            return -E2BIG;
        opts[count].number = (uint16_t)num;
        opts[count].len = (uint16_t)olen;
        opts[count].value = in + pos;
        count++;
        pos += olen;
    }
    *n = count;
    *consumed = len;
    return 0;
}

/* ---- option classes --------------------------------------------------- */

/* true for Class U-only options (kept outside, never encrypted) */
static bool class_u_only(uint16_t num)
{
    return num == OSCORE_OPT_URI_HOST || num == OSCORE_OPT_URI_PORT || num == OSCORE_OPT_OSCORE ||
           num == OSCORE_OPT_PROXY_URI || num == OSCORE_OPT_PROXY_SCHEME;
}

static bool is_request_code(uint8_t code)
{
    return (code >> 5) == 0 && code != 0;
}

static bool is_response_code(uint8_t code)
{
    unsigned cls = code >> 5;
    return cls >= 2 && cls <= 5;
}

static int check_msg(const struct oscore_msg *m)
{
    if (m->n_opts > OSCORE_MAX_OPTIONS || (!m->payload && m->payload_len))
        return -EINVAL;
    if (m->payload_len > OSCORE_MAX_PLAINTEXT)
        return -E2BIG;
    for (size_t i = 0; i < m->n_opts; i++) {
        if (i && m->opts[i].number < m->opts[i - 1].number)
            return -EINVAL;
        if ((!m->opts[i].value && m->opts[i].len) || m->opts[i].len > OSCORE_MAX_OPTION_LEN)
            return -EINVAL;
    }
    return 0;
}

static const struct oscore_option *find_opt(const struct oscore_msg *m, uint16_t num, size_t *count)
{
    const struct oscore_option *o = NULL;
    *count = 0;
    for (size_t i = 0; i < m->n_opts; i++)
        if (m->opts[i].number == num) {
            if (!o)
                o = &m->opts[i];
            (*count)++;
        }
    return o;
}

/* merges two sorted option lists into out (sorted, a first on ties) */
static int merge_opts(const struct oscore_option *a, size_t na, const struct oscore_option *b,
                      size_t nb, struct oscore_msg *out)
{
    size_t i = 0, j = 0;
    if (na + nb > OSCORE_MAX_OPTIONS)
        return -E2BIG;
    out->n_opts = 0;
    while (i < na || j < nb) {
        if (j >= nb || (i < na && a[i].number <= b[j].number))
            out->opts[out->n_opts++] = a[i++];
        else
            out->opts[out->n_opts++] = b[j++];
    }
    return 0;
}

/* ---- protect ---------------------------------------------------------- */

/* Refuses what cannot be protected and gives the plaintext size. */
static int protectable(const struct oscore_msg *in, size_t *pt_len)
{
    const struct oscore_option *prev = NULL;
    size_t opts_len = 0;
    for (size_t i = 0; i < in->n_opts; i++) {
        const struct oscore_option *o = &in->opts[i];
        if (o->number == OSCORE_OPT_PROXY_URI)
            return -ENOTSUP;
        if (o->number == OSCORE_OPT_OSCORE)
            return -EINVAL; /* already protected */
        if (class_u_only(o->number))
            continue;
        uint32_t d = o->number - (prev ? prev->number : 0);
        opts_len += 1 + ext_bytes(d) + ext_bytes(o->len) + o->len;
        prev = o;
    }
    *pt_len = 1 + opts_len + (in->payload_len ? 1 + in->payload_len : 0);
    return *pt_len > OSCORE_MAX_PLAINTEXT ? -E2BIG : 0;
}

/* Encrypts in (code, Class E options, payload) into buf after the option
 * value already at buf[0, optv_len), and builds the outer message. The
 * caller checked protectable() and the capacity. */
static int protect(const struct oscore_ctx *c, const struct oscore_msg *in, uint8_t outer_code,
                   const uint8_t nonce[OSCORE_NONCE_LEN], const uint8_t *aad, size_t aad_len,
                   size_t optv_len, struct oscore_msg *out, uint8_t *buf, size_t cap)
{
    struct oscore_option inner[OSCORE_MAX_OPTIONS], outer[OSCORE_MAX_OPTIONS];
    struct oscore_option oscore_opt = {
            .number = OSCORE_OPT_OSCORE, .len = (uint16_t)optv_len, .value = buf};
    size_t ni = 0, no = 0, opts_len = 0, pt_len, ct_len = 0;
    uint8_t *pt = NULL;
    int r;

    for (size_t i = 0; i < in->n_opts; i++) {
        const struct oscore_option *o = &in->opts[i];
        if (class_u_only(o->number)) {
            outer[no++] = *o;
        } else {
            inner[ni++] = *o;
            if (o->number == OSCORE_OPT_OBSERVE)
                outer[no++] = *o;
        }
    }
    /* the plaintext: code, Inner options, payload */
    r = protectable(in, &pt_len);
    if (r < 0)
        return r;
    if (optv_len > cap || pt_len + OSCORE_TAG_LEN > cap - optv_len)
        return -ENOBUFS;
    pt = malloc(pt_len);
    if (!pt)
        return -ENOMEM;
    pt[0] = in->code;
    r = oscore_options_encode(inner, ni, pt + 1, pt_len - 1, &opts_len);
    if (r < 0)
        goto out;
    if (in->payload_len) {
        pt[1 + opts_len] = 0xff;
        memcpy(pt + 2 + opts_len, in->payload, in->payload_len);
    }
    r = cose_aead_encrypt(c->alg, c->sender_key, OSCORE_KEY_LEN, nonce, OSCORE_NONCE_LEN, aad,
                          aad_len, pt, pt_len, buf + optv_len, cap - optv_len, &ct_len);
    if (r < 0)
        goto out;
    /* the outer message: Class U options with the OSCORE option in place */
    r = merge_opts(outer, no, &oscore_opt, 1, out);
    if (r < 0)
        goto out;
    out->code = outer_code;
    out->payload = buf + optv_len;
    out->payload_len = ct_len;
out:
    OPENSSL_cleanse(pt, pt_len);
    free(pt);
    return r;
}

/* Everything that can fail before a sequence number is spent. */
static int precheck(const struct oscore_ctx *c, const struct oscore_msg *in, size_t optv_len,
                    size_t cap, size_t *n_outer)
{
    size_t pt_len, no = 1;
    int r = protectable(in, &pt_len);
    if (r < 0)
        return r;
    if (optv_len > cap || pt_len + OSCORE_TAG_LEN > cap - optv_len)
        return -ENOBUFS;
    for (size_t i = 0; i < in->n_opts; i++)
        if (class_u_only(in->opts[i].number) || in->opts[i].number == OSCORE_OPT_OBSERVE)
            no++;
    if (no > OSCORE_MAX_OPTIONS)
        return -E2BIG;
    if (n_outer)
        *n_outer = no;
    return 0;
}

int oscore_protect_request(struct oscore_ctx *c, const struct oscore_msg *in,
                           struct oscore_msg *out, uint8_t *buf, size_t cap, struct oscore_req *req)
{
    struct oscore_option_value v = {0};
    uint8_t piv[OSCORE_MAX_PIV], nonce[OSCORE_NONCE_LEN], aad[AAD_MAX];
    size_t piv_len, optv_len, aad_len, cnt;
    uint64_t seq;
    bool observe;
    int r;

    if (!c || !in || !out || !buf || !req || in == out)
        return -EINVAL;
    r = check_msg(in);
    if (r < 0)
        return r;
    if (!is_request_code(in->code))
        return -EINVAL;
    observe = find_opt(in, OSCORE_OPT_OBSERVE, &cnt) != NULL;
    /* the option value's size is known before the number is taken */
    piv_len = piv_from_seq(c->seq, piv);
    r = precheck(c, in,
                 1 + piv_len + c->sender_id_len + (c->send_kid_context ? 1 + c->id_context_len : 0),
                 cap, NULL);
    if (r < 0)
        return r;
    r = oscore_next_seq(c, &seq);
    if (r < 0)
        return r;
    piv_len = piv_from_seq(seq, piv);

    v.piv = piv;
    v.piv_len = piv_len;
    v.has_kid = true;
    v.kid = c->sender_id;
    v.kid_len = c->sender_id_len;
    if (c->send_kid_context) {
        v.has_kid_context = true;
        v.kid_context = c->id_context;
        v.kid_context_len = c->id_context_len;
    }
    r = oscore_option_encode(&v, buf, cap, &optv_len);
    if (r < 0)
        return r;
    r = oscore_nonce(c, c->sender_id, c->sender_id_len, piv, piv_len, nonce);
    if (r == 0)
        r = oscore_aad(c->alg, c->sender_id, c->sender_id_len, piv, piv_len, NULL, 0, NULL, aad,
                       sizeof(aad), &aad_len);
    if (r == 0)
        r = protect(c, in, observe ? OSCORE_CODE_FETCH : OSCORE_CODE_POST, nonce, aad, aad_len,
                    optv_len, out, buf, cap);
    if (r < 0)
        return r;
    memset(req, 0, sizeof(*req));
    memcpy(req->kid, c->sender_id, c->sender_id_len);
    req->kid_len = c->sender_id_len;
    memcpy(req->piv, piv, piv_len);
    req->piv_len = piv_len;
    req->observe = observe;
    return 0;
}

int oscore_protect_response(struct oscore_ctx *c, const struct oscore_req *req, bool new_piv,
                            const struct oscore_msg *in, struct oscore_msg *out, uint8_t *buf,
                            size_t cap)
{
    struct oscore_option_value v = {0};
    uint8_t piv[OSCORE_MAX_PIV], nonce[OSCORE_NONCE_LEN], aad[AAD_MAX];
    size_t piv_len, optv_len = 0, aad_len, cnt;
    bool observe;
    int r;

    if (!c || !req || !in || !out || !buf || in == out)
        return -EINVAL;
    if (req->kid_len > OSCORE_MAX_ID || req->piv_len == 0 || req->piv_len > OSCORE_MAX_PIV)
        return -EINVAL;
    r = check_msg(in);
    if (r < 0)
        return r;
    if (!is_response_code(in->code))
        return -EINVAL;
    observe = find_opt(in, OSCORE_OPT_OBSERVE, &cnt) != NULL;
    if (observe && !new_piv)
        return -EINVAL; /* §8.3: notifications carry their own Partial IV */
    r = precheck(c, in, new_piv ? 1 + piv_from_seq(c->seq, piv) : 0, cap, NULL);
    if (r < 0)
        return r;
    if (new_piv) {
        uint64_t seq;
        r = oscore_next_seq(c, &seq);
        if (r < 0)
            return r;
        piv_len = piv_from_seq(seq, piv);
        v.piv = piv;
        v.piv_len = piv_len;
        r = oscore_option_encode(&v, buf, cap, &optv_len);
        if (r == 0)
            r = oscore_nonce(c, c->sender_id, c->sender_id_len, piv, piv_len, nonce);
    } else {
        /* the request's nonce: its kid is the client's Sender ID */
        r = oscore_nonce(c, req->kid, req->kid_len, req->piv, req->piv_len, nonce);
    }
    if (r == 0)
        r = oscore_aad(c->alg, req->kid, req->kid_len, req->piv, req->piv_len, NULL, 0, NULL, aad,
                       sizeof(aad), &aad_len);
    if (r == 0)
        r = protect(c, in, observe ? OSCORE_CODE_CONTENT : OSCORE_CODE_CHANGED, nonce, aad, aad_len,
                    optv_len, out, buf, cap);
    return r;
}

/* ---- unprotect -------------------------------------------------------- */

static int unprotect(const struct oscore_ctx *c, const struct oscore_msg *in, bool request,
                     const uint8_t nonce[OSCORE_NONCE_LEN], const uint8_t *aad, size_t aad_len,
                     struct oscore_msg *out, uint8_t *buf, size_t cap)
{
    struct oscore_option inner[OSCORE_MAX_OPTIONS], kept[OSCORE_MAX_OPTIONS],
            outer[OSCORE_MAX_OPTIONS];
    size_t pt_len = 0, n_inner = 0, n_kept = 0, n_outer = 0, consumed;
    int r;

    if (!in->payload || in->payload_len == 0)
        return -EBADMSG;
    r = cose_aead_decrypt(c->alg, c->recipient_key, OSCORE_KEY_LEN, nonce, OSCORE_NONCE_LEN, aad,
                          aad_len, in->payload, in->payload_len, buf, cap, &pt_len);
    if (r < 0)
        return r;
    r = -EBADMSG;
    if (pt_len < 1)
        goto fail;
    if (request ? !is_request_code(buf[0]) : !is_response_code(buf[0]))
        goto fail;
    r = oscore_options_decode(buf + 1, pt_len - 1, inner, OSCORE_MAX_OPTIONS, &n_inner, &consumed);
    if (r < 0)
        goto fail;
    for (size_t i = 0; i < n_inner; i++) {
        if (inner[i].number == OSCORE_OPT_OSCORE) {
            r = -EBADMSG;
            goto fail;
        }
        if (!class_u_only(inner[i].number)) /* inner Class U options are ignored */
            kept[n_kept++] = inner[i];
    }
    for (size_t i = 0; i < in->n_opts; i++)
        if (class_u_only(in->opts[i].number) && in->opts[i].number != OSCORE_OPT_OSCORE)
            outer[n_outer++] = in->opts[i];
    r = merge_opts(outer, n_outer, kept, n_kept, out);
    if (r < 0)
        goto fail;
    out->code = buf[0];
    out->payload = consumed < pt_len - 1 ? buf + 1 + consumed : NULL;
    out->payload_len = consumed < pt_len - 1 ? pt_len - 1 - consumed : 0;
    return 0;
fail:
    OPENSSL_cleanse(buf, pt_len);
    return r;
}

static int get_oscore_option(const struct oscore_msg *in, struct oscore_option_value *v)
{
    size_t cnt;
    const struct oscore_option *o;
    int r = check_msg(in);
    if (r < 0)
        return r == -EINVAL ? -EBADMSG : r;
    o = find_opt(in, OSCORE_OPT_OSCORE, &cnt);
    if (!o || cnt != 1)
        return -EBADMSG;
    return oscore_option_decode(o->value, o->len, v);
}

int oscore_unprotect_request(struct oscore_ctx *c, const struct oscore_msg *in,
                             struct oscore_msg *out, uint8_t *buf, size_t cap,
                             struct oscore_req *req)
{
    struct oscore_option_value v;
    uint8_t nonce[OSCORE_NONCE_LEN], aad[AAD_MAX];
    size_t aad_len, cnt;
    uint64_t seq;
    int r;

    if (!c || !in || !out || !buf || !req || in == out)
        return -EINVAL;
    r = get_oscore_option(in, &v);
    if (r < 0)
        return r;
    if (!v.piv || !v.has_kid)
        return -EBADMSG; /* §6.1: requests carry both */
    r = seq_from_piv(v.piv, v.piv_len, &seq);
    if (r < 0)
        return r;
    if (v.kid_len != c->recipient_id_len || memcmp(v.kid, c->recipient_id, v.kid_len) != 0)
        return -ENOENT;
    if (v.has_kid_context && (!c->has_id_context || v.kid_context_len != c->id_context_len ||
                              memcmp(v.kid_context, c->id_context, v.kid_context_len) != 0))
        return -ENOENT;
    r = replay_check(c, seq);
    if (r < 0)
        return r;
    r = oscore_nonce(c, v.kid, v.kid_len, v.piv, v.piv_len, nonce);
    if (r == 0)
        r = oscore_aad(c->alg, v.kid, v.kid_len, v.piv, v.piv_len, NULL, 0, NULL, aad, sizeof(aad),
                       &aad_len);
    if (r == 0)
        r = unprotect(c, in, true, nonce, aad, aad_len, out, buf, cap);
    if (r < 0)
        return r;
    replay_update(c, seq);
    memset(req, 0, sizeof(*req));
    memcpy(req->kid, v.kid, v.kid_len);
    req->kid_len = v.kid_len;
    memcpy(req->piv, v.piv, v.piv_len);
    req->piv_len = v.piv_len;
    req->observe = find_opt(out, OSCORE_OPT_OBSERVE, &cnt) != NULL;
    return 0;
}

int oscore_unprotect_response(struct oscore_ctx *c, const struct oscore_req *req,
                              const struct oscore_msg *in, struct oscore_msg *out, uint8_t *buf,
                              size_t cap)
{
    struct oscore_option_value v;
    uint8_t nonce[OSCORE_NONCE_LEN], aad[AAD_MAX];
    size_t aad_len;
    uint64_t seq;
    int r;

    if (!c || !req || !in || !out || !buf || in == out)
        return -EINVAL;
    if (req->kid_len > OSCORE_MAX_ID || req->piv_len == 0 || req->piv_len > OSCORE_MAX_PIV)
        return -EINVAL;
    r = get_oscore_option(in, &v);
    if (r < 0)
        return r;
    if (v.has_kid &&
        (v.kid_len != c->recipient_id_len || memcmp(v.kid, c->recipient_id, v.kid_len) != 0))
        return -ENOENT;
    if (v.has_kid_context && (!c->has_id_context || v.kid_context_len != c->id_context_len ||
                              memcmp(v.kid_context, c->id_context, v.kid_context_len) != 0))
        return -ENOENT;
    if (v.piv) {
        r = seq_from_piv(v.piv, v.piv_len, &seq);
        if (r == 0)
            r = oscore_nonce(c, c->recipient_id, c->recipient_id_len, v.piv, v.piv_len, nonce);
    } else {
        r = oscore_nonce(c, req->kid, req->kid_len, req->piv, req->piv_len, nonce);
    }
    if (r == 0)
        r = oscore_aad(c->alg, req->kid, req->kid_len, req->piv, req->piv_len, NULL, 0, NULL, aad,
                       sizeof(aad), &aad_len);
    if (r == 0)
        r = unprotect(c, in, false, nonce, aad, aad_len, out, buf, cap);
    return r;
}
