/* cose.c - COSE_Sign1, COSE_Mac0, COSE_Encrypt0; see cose.h.
 *
 * Cleanup style: goto to one exit. The *_structure buffers are heap
 * copies bounded by COSE_MAX_MESSAGE + COSE_MAX_EXTERNAL_AAD; key bytes
 * only ever sit in the caller's struct cose_key and in OpenSSL contexts.
 */
#include "cose.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "cbor.h"

#define PROT_MAX 256 /* encoded protected bucket we create */
#define SIG_MAX  64

static const struct cbor_limits msg_limits = {
        .max_depth = 8,
        .max_items = 512,
        .max_str = COSE_MAX_MESSAGE,
        .max_size = COSE_MAX_MESSAGE,
};

/* ---- header buckets --------------------------------------------------- */

struct label {
    bool is_text;
    int64_t v;
    const char *s;
    size_t n;
};

struct hparse {
    struct cose_headers *h;
    struct label seen[2 * COSE_MAX_HEADERS];
    size_t n_seen;
    struct label crit[COSE_MAX_CRIT];
    size_t n_crit;
    bool has_crit;
};

static bool label_eq(const struct label *a, const struct label *b)
{
    if (a->is_text != b->is_text)
        return false;
    if (!a->is_text)
        return a->v == b->v;
    return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
}

static int read_label(struct cbor_dec *d, struct label *l)
{
    enum cbor_type t;
    memset(l, 0, sizeof(*l));
    if (cbor_peek(d, &t) < 0)
        return -EBADMSG;
    if (t == CBOR_TSTR) {
        l->is_text = true;
        return cbor_get_tstr(d, &l->s, &l->n) < 0 ? -EBADMSG : 0;
    }
    return cbor_get_int(d, &l->v) < 0 ? -EBADMSG : 0;
}

static int parse_bucket(struct cbor_dec *d, struct hparse *hp, bool prot)
{
    struct cose_headers *h = hp->h;
    enum cbor_type t;
    size_t n;

    if (cbor_get_map(d, &n) < 0)
        return -EBADMSG;
    if (n > COSE_MAX_HEADERS)
        return -E2BIG;
    for (size_t i = 0; i < n; i++) {
        struct label l;
        if (read_label(d, &l) < 0)
            return -EBADMSG;
        for (size_t j = 0; j < hp->n_seen; j++)
            if (label_eq(&hp->seen[j], &l))
                return -EBADMSG; /* duplicate, in one or across buckets */
        hp->seen[hp->n_seen++] = l;
        if (l.is_text) {
            if (cbor_skip(d, NULL, NULL) < 0)
                return -EBADMSG;
            continue;
        }
        switch (l.v) {
        case COSE_HDR_ALG:
            if (cbor_peek(d, &t) < 0)
                return -EBADMSG;
            h->has_alg = true;
            h->alg_protected = prot;
            if (t == CBOR_TSTR) {
                const char *s;
                size_t sn;
                if (cbor_get_tstr(d, &s, &sn) < 0)
                    return -EBADMSG;
                h->alg_unsupported = true;
            } else if (cbor_get_int(d, &h->alg) < 0) {
                return -EBADMSG;
            }
            break;
        case COSE_HDR_CRIT: {
            size_t m;
            if (!prot)
                return -EBADMSG; /* crit must be protected */
            if (cbor_get_array(d, &m) < 0 || m == 0)
                return -EBADMSG;
            if (m > COSE_MAX_CRIT)
                return -E2BIG;
            for (size_t j = 0; j < m; j++)
                if (read_label(d, &hp->crit[j]) < 0)
                    return -EBADMSG;
            hp->n_crit = m;
            hp->has_crit = true;
            break;
        }
        case COSE_HDR_CTYPE:
            if (cbor_peek(d, &t) < 0)
                return -EBADMSG;
            h->has_ctype = true;
            if (t == CBOR_TSTR) {
                if (cbor_get_tstr(d, &h->ctype_str, &h->ctype_str_len) < 0)
                    return -EBADMSG;
                if (h->ctype_str_len == 0 || h->ctype_str_len > COSE_MAX_CTYPE_STR)
                    return -EBADMSG;
            } else if (cbor_get_uint(d, &h->ctype) < 0 || h->ctype > 65535) {
                return -EBADMSG;
            }
            break;
        case COSE_HDR_KID:
            if (cbor_get_bstr(d, &h->kid, &h->kid_len) < 0 || h->kid_len > COSE_MAX_KID)
                return -EBADMSG;
            h->has_kid = true;
            break;
        case COSE_HDR_IV:
            if (cbor_get_bstr(d, &h->iv, &h->iv_len) < 0 || h->iv_len > COSE_MAX_IV)
                return -EBADMSG;
            h->has_iv = true;
            break;
        case COSE_HDR_PARTIAL_IV:
            if (cbor_get_bstr(d, &h->partial_iv, &h->partial_iv_len) < 0 ||
                h->partial_iv_len > COSE_MAX_IV || h->partial_iv_len == 0)
                return -EBADMSG;
            h->has_partial_iv = true;
            break;
        default:
            if (cbor_skip(d, NULL, NULL) < 0)
                return -EBADMSG;
        }
    }
    return 0;
}

static int check_crit(const struct hparse *hp, size_t n_prot)
{
    for (size_t i = 0; i < hp->n_crit; i++) {
        const struct label *c = &hp->crit[i];
        bool found = false;
        if (c->is_text || c->v < COSE_HDR_ALG || c->v > COSE_HDR_PARTIAL_IV)
            return -ENOTSUP; /* not a parameter we understand */
        for (size_t j = 0; j < n_prot; j++)
            if (label_eq(&hp->seen[j], c))
                found = true;
        if (!found)
            return -EBADMSG; /* critical parameter not in the protected bucket */
    }
    return 0;
}

/* ---- decoding --------------------------------------------------------- */

int cose_decode(const uint8_t *buf, size_t len, enum cose_type type, struct cose_msg *msg)
{
    struct cbor_dec d;
    struct hparse hp;
    enum cbor_type t;
    size_t n, n_prot;
    int r;

    if (!buf || !msg)
        return -EINVAL;
    memset(msg, 0, sizeof(*msg));
    memset(&hp, 0, sizeof(hp));
    hp.h = &msg->hdr;
    if (len > COSE_MAX_MESSAGE)
        return -E2BIG;
    r = cbor_dec_init(&d, buf, len, &msg_limits);
    if (r < 0)
        return r == -E2BIG ? r : -EBADMSG;
    if (cbor_peek(&d, &t) < 0)
        return -EBADMSG;
    if (t == CBOR_TAG) {
        uint64_t tag;
        if (cbor_get_tag(&d, &tag) < 0)
            return -EBADMSG;
        if (tag != COSE_SIGN1 && tag != COSE_MAC0 && tag != COSE_ENCRYPT0)
            return -EBADMSG;
        if (type != COSE_TYPE_ANY && tag != (uint64_t)type)
            return -EBADMSG;
        msg->type = (enum cose_type)tag;
        msg->tagged = true;
    } else {
        if (type == COSE_TYPE_ANY)
            return -EBADMSG;
        msg->type = type;
    }
    if (cbor_get_array(&d, &n) < 0 || n != (msg->type == COSE_ENCRYPT0 ? 3u : 4u))
        return -EBADMSG;

    /* protected bucket */
    if (cbor_get_bstr(&d, &msg->protected_hdr, &msg->protected_len) < 0)
        return -EBADMSG;
    if (msg->protected_len) {
        struct cbor_dec pd;
        r = cbor_dec_init(&pd, msg->protected_hdr, msg->protected_len, &msg_limits);
        if (r < 0)
            return r == -E2BIG ? r : -EBADMSG;
        r = parse_bucket(&pd, &hp, true);
        if (r < 0)
            return r;
    }
    n_prot = hp.n_seen;
    r = parse_bucket(&d, &hp, false);
    if (r < 0)
        return r;
    r = check_crit(&hp, n_prot);
    if (r < 0)
        return r;
    if (msg->hdr.has_iv && msg->hdr.has_partial_iv)
        return -EBADMSG;

    /* payload / ciphertext */
    if (cbor_peek(&d, &t) < 0)
        return -EBADMSG;
    if (t == CBOR_SIMPLE) {
        if (cbor_get_null(&d) < 0)
            return -EBADMSG;
        msg->detached = true;
    } else if (cbor_get_bstr(&d, &msg->payload, &msg->payload_len) < 0) {
        return -EBADMSG;
    }
    if (msg->type != COSE_ENCRYPT0) {
        if (cbor_get_bstr(&d, &msg->tag, &msg->tag_len) < 0)
            return -EBADMSG;
    }
    if (!cbor_at_end(&d))
        return -EBADMSG;
    return 0;
}

/* ---- structures ------------------------------------------------------- */

/* The protected bucket as it enters a *_structure: h'A0' counts as empty. */
static void prot_for_structure(const struct cose_msg *m, const uint8_t **p, size_t *n)
{
    if (m->protected_len == 1 && m->protected_hdr[0] == 0xa0) {
        *p = m->protected_hdr;
        *n = 0;
        return;
    }
    *p = m->protected_hdr;
    *n = m->protected_len;
}

/* [context, protected, external_aad, (payload)] into a new buffer */
static int build_structure(const char *context, const uint8_t *prot, size_t prot_len,
                           const uint8_t *ext, size_t ext_len, const uint8_t *payload,
                           size_t payload_len, bool with_payload, uint8_t **out, size_t *out_len)
{
    struct cbor_enc e;
    size_t n;
    uint8_t *buf;

    if (ext_len > COSE_MAX_EXTERNAL_AAD || payload_len > COSE_MAX_MESSAGE ||
        prot_len > COSE_MAX_MESSAGE)
        return -E2BIG;
    for (int pass = 0; pass < 2; pass++) {
        cbor_enc_init(&e, pass ? buf : NULL, pass ? n : 0);
        cbor_put_array(&e, with_payload ? 4 : 3);
        cbor_put_cstr(&e, context);
        cbor_put_bstr(&e, prot, prot_len);
        cbor_put_bstr(&e, ext, ext_len);
        if (with_payload)
            cbor_put_bstr(&e, payload, payload_len);
        if (pass == 0) {
            if (cbor_enc_finish(&e, &n) < 0)
                return -E2BIG;
            buf = malloc(n ? n : 1);
            if (!buf)
                return -ENOMEM;
        }
    }
    if (cbor_enc_finish(&e, out_len) < 0) {
        free(buf);
        return -EIO;
    }
    *out = buf;
    return 0;
}

int cose_enc_structure(const uint8_t *prot, size_t prot_len, const uint8_t *ext, size_t ext_len,
                       uint8_t *out, size_t cap, size_t *out_len)
{
    struct cbor_enc e;
    cbor_enc_init(&e, out, cap);
    cbor_put_array(&e, 3);
    cbor_put_cstr(&e, "Encrypt0");
    cbor_put_bstr(&e, prot, prot_len);
    cbor_put_bstr(&e, ext, ext_len);
    return cbor_enc_finish(&e, out_len);
}

/* ---- primitives ------------------------------------------------------- */

static int es256_sign(EVP_PKEY *pk, const uint8_t *tbs, size_t n, uint8_t sig[64])
{
    int r = -EIO;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t dlen = sizeof(der);
    const uint8_t *p = der;
    ECDSA_SIG *es = NULL;
    const BIGNUM *br, *bs;

    if (!md)
        return -ENOMEM;
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) != 1 ||
        EVP_DigestSign(md, der, &dlen, tbs, n) != 1)
        goto out;
    es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
    if (!es)
        goto out;
    ECDSA_SIG_get0(es, &br, &bs);
    if (BN_bn2binpad(br, sig, 32) != 32 || BN_bn2binpad(bs, sig + 32, 32) != 32)
        goto out;
    r = 0;
out:
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return r;
}

static int es256_verify(EVP_PKEY *pk, const uint8_t *tbs, size_t n, const uint8_t *sig,
                        size_t sig_len)
{
    int r = -EACCES;
    EVP_MD_CTX *md = NULL;
    ECDSA_SIG *es = NULL;
    BIGNUM *br = NULL, *bs = NULL;
    uint8_t *der = NULL;
    int dlen;

    if (sig_len != 64)
        return -EACCES;
    es = ECDSA_SIG_new();
    br = BN_bin2bn(sig, 32, NULL);
    bs = BN_bin2bn(sig + 32, 32, NULL);
    md = EVP_MD_CTX_new();
    if (!es || !br || !bs || !md) {
        r = -ENOMEM;
        goto out;
    }
    if (ECDSA_SIG_set0(es, br, bs) != 1) {
        r = -EIO;
        goto out;
    }
    br = bs = NULL;
    dlen = i2d_ECDSA_SIG(es, &der);
    if (dlen <= 0) {
        r = -EIO;
        goto out;
    }
    if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) != 1) {
        r = -EIO;
        goto out;
    }
    if (EVP_DigestVerify(md, der, (size_t)dlen, tbs, n) == 1)
        r = 0;
out:
    OPENSSL_free(der);
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return r;
}

static int eddsa_sign(EVP_PKEY *pk, const uint8_t *tbs, size_t n, uint8_t sig[64])
{
    int r = -EIO;
    size_t slen = 64;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return -ENOMEM;
    if (EVP_DigestSignInit(md, NULL, NULL, NULL, pk) == 1 &&
        EVP_DigestSign(md, sig, &slen, tbs, n) == 1 && slen == 64)
        r = 0;
    EVP_MD_CTX_free(md);
    return r;
}

static int eddsa_verify(EVP_PKEY *pk, const uint8_t *tbs, size_t n, const uint8_t *sig,
                        size_t sig_len)
{
    int r = -EACCES;
    EVP_MD_CTX *md;
    if (sig_len != 64)
        return -EACCES;
    md = EVP_MD_CTX_new();
    if (!md)
        return -ENOMEM;
    if (EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) != 1)
        r = -EIO;
    else if (EVP_DigestVerify(md, sig, sig_len, tbs, n) == 1)
        r = 0;
    EVP_MD_CTX_free(md);
    return r;
}

static size_t hmac_tag_len(int64_t alg)
{
    return alg == COSE_ALG_HMAC256_64 ? 8 : 32;
}

static int hmac256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t n,
                   uint8_t out[32])
{
    int r = -EIO;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = NULL;
    size_t olen = 0;
    OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_end(),
    };

    if (!mac)
        goto out;
    ctx = EVP_MAC_CTX_new(mac);
    if (!ctx)
        goto out;
    if (EVP_MAC_init(ctx, key, key_len, params) != 1 || EVP_MAC_update(ctx, data, n) != 1 ||
        EVP_MAC_final(ctx, out, &olen, 32) != 1 || olen != 32)
        goto out;
    r = 0;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return r;
}

int cose_aead_params(int64_t alg, size_t *key_len, size_t *nonce_len, size_t *tag_len)
{
    size_t k, nl, t;
    switch (alg) {
    case COSE_ALG_AES_CCM_16_64_128:
        k = 16;
        nl = 13;
        t = 8;
        break;
    case COSE_ALG_A128GCM:
        k = 16;
        nl = 12;
        t = 16;
        break;
    default: return -ENOTSUP;
    }
    if (key_len)
        *key_len = k;
    if (nonce_len)
        *nonce_len = nl;
    if (tag_len)
        *tag_len = t;
    return 0;
}

/* the AEAD length limit of both algorithms here, far above COSE_MAX_MESSAGE */
#define AEAD_MAX_LEN ((size_t)INT32_MAX)

int cose_aead_encrypt(int64_t alg, const uint8_t *key, size_t key_len, const uint8_t *nonce,
                      size_t nonce_len, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                      size_t pt_len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t kl, nl, tl;
    EVP_CIPHER_CTX *c = NULL;
    int l, r;
    bool ccm = alg == COSE_ALG_AES_CCM_16_64_128;

    r = cose_aead_params(alg, &kl, &nl, &tl);
    if (r < 0)
        return r;
    if (key_len != kl || nonce_len != nl || (!pt && pt_len) || (!aad && aad_len))
        return -EINVAL;
    if (pt_len > AEAD_MAX_LEN || aad_len > AEAD_MAX_LEN)
        return -E2BIG;
    if (cap < pt_len + tl)
        return -ENOBUFS;
    c = EVP_CIPHER_CTX_new();
    if (!c)
        return -ENOMEM;
    r = -EIO;
    if (EVP_EncryptInit_ex(c, ccm ? EVP_aes_128_ccm() : EVP_aes_128_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, (int)nl, NULL) != 1)
        goto out;
    if (ccm && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, (int)tl, NULL) != 1)
        goto out;
    if (EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) != 1)
        goto out;
    if (ccm && EVP_EncryptUpdate(c, NULL, &l, NULL, (int)pt_len) != 1)
        goto out;
    if (aad_len && EVP_EncryptUpdate(c, NULL, &l, aad, (int)aad_len) != 1)
        goto out;
    /* CCM needs the data call even for an empty plaintext */
    if (EVP_EncryptUpdate(c, out, &l, pt ? pt : (const uint8_t *)"", (int)pt_len) != 1 ||
        (size_t)l != pt_len)
        goto out;
    if (EVP_EncryptFinal_ex(c, out + l, &l) != 1 || l != 0)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, (int)tl, out + pt_len) != 1)
        goto out;
    *out_len = pt_len + tl;
    r = 0;
out:
    if (r < 0)
        OPENSSL_cleanse(out, cap < pt_len + tl ? cap : pt_len + tl);
    EVP_CIPHER_CTX_free(c);
    return r;
}

int cose_aead_decrypt(int64_t alg, const uint8_t *key, size_t key_len, const uint8_t *nonce,
                      size_t nonce_len, const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                      size_t ct_len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t kl, nl, tl, n;
    EVP_CIPHER_CTX *c = NULL;
    int l, r;
    bool ccm = alg == COSE_ALG_AES_CCM_16_64_128;
    uint8_t tag[16];

    r = cose_aead_params(alg, &kl, &nl, &tl);
    if (r < 0)
        return r;
    if (key_len != kl || nonce_len != nl || !ct || (!aad && aad_len))
        return -EINVAL;
    if (ct_len < tl)
        return -EACCES; /* too short to hold a tag: cannot be authentic */
    n = ct_len - tl;
    if (n > AEAD_MAX_LEN || aad_len > AEAD_MAX_LEN)
        return -E2BIG;
    if (cap < n)
        return -ENOBUFS;
    memcpy(tag, ct + n, tl);
    c = EVP_CIPHER_CTX_new();
    if (!c)
        return -ENOMEM;
    r = -EIO;
    if (EVP_DecryptInit_ex(c, ccm ? EVP_aes_128_ccm() : EVP_aes_128_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, (int)nl, NULL) != 1)
        goto out;
    if (ccm && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, (int)tl, tag) != 1)
        goto out;
    if (EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) != 1)
        goto out;
    if (ccm && EVP_DecryptUpdate(c, NULL, &l, NULL, (int)n) != 1)
        goto out;
    if (aad_len && EVP_DecryptUpdate(c, NULL, &l, aad, (int)aad_len) != 1)
        goto out;
    if (ccm) {
        /* CCM verifies the tag in this call */
        if (EVP_DecryptUpdate(c, out, &l, ct, (int)n) != 1) {
            r = -EACCES;
            goto out;
        }
    } else {
        if (EVP_DecryptUpdate(c, out, &l, ct, (int)n) != 1 || (size_t)l != n)
            goto out;
        if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, (int)tl, tag) != 1)
            goto out;
        if (EVP_DecryptFinal_ex(c, out + l, &l) != 1) {
            r = -EACCES;
            goto out;
        }
    }
    *out_len = n;
    r = 0;
out:
    if (r < 0)
        OPENSSL_cleanse(out, n);
    EVP_CIPHER_CTX_free(c);
    return r;
}

/* ---- creating --------------------------------------------------------- */

/* protected bucket of a new message into prot[PROT_MAX] */
static int encode_protected(const struct cose_params *p, int64_t alg, uint8_t *prot,
                            size_t *prot_len)
{
    struct cbor_enc e;
    size_t n = (!p->alg_unprotected) + (p->has_ctype) + (p->kid && p->kid_protected);
    size_t mark;

    if (n == 0) {
        *prot_len = 0;
        return 0;
    }
    cbor_enc_init(&e, prot, PROT_MAX);
    mark = cbor_enc_map_begin(&e, n);
    if (!p->alg_unprotected) {
        cbor_put_int(&e, COSE_HDR_ALG);
        cbor_put_int(&e, alg);
    }
    if (p->has_ctype) {
        cbor_put_int(&e, COSE_HDR_CTYPE);
        if (p->ctype_str)
            cbor_put_tstr(&e, p->ctype_str, p->ctype_str_len);
        else
            cbor_put_uint(&e, p->ctype);
    }
    if (p->kid && p->kid_protected) {
        cbor_put_int(&e, COSE_HDR_KID);
        cbor_put_bstr(&e, p->kid, p->kid_len);
    }
    cbor_enc_map_end(&e, mark, n);
    return cbor_enc_finish(&e, prot_len) < 0 ? -E2BIG : 0;
}

static void encode_unprotected(struct cbor_enc *e, const struct cose_params *p, int64_t alg,
                               const uint8_t *iv, size_t iv_len, bool iv_is_partial)
{
    size_t n = (p->alg_unprotected) + (p->kid && !p->kid_protected) + (iv != NULL);
    size_t mark = cbor_enc_map_begin(e, n);
    if (p->alg_unprotected) {
        cbor_put_int(e, COSE_HDR_ALG);
        cbor_put_int(e, alg);
    }
    if (p->kid && !p->kid_protected) {
        cbor_put_int(e, COSE_HDR_KID);
        cbor_put_bstr(e, p->kid, p->kid_len);
    }
    if (iv) {
        cbor_put_int(e, iv_is_partial ? COSE_HDR_PARTIAL_IV : COSE_HDR_IV);
        cbor_put_bstr(e, iv, iv_len);
    }
    cbor_enc_map_end(e, mark, n);
}

static int check_params(const struct cose_params *p)
{
    if (!p)
        return -EINVAL;
    if ((p->kid && p->kid_len > COSE_MAX_KID) || (p->has_ctype && p->ctype > 65535))
        return -EINVAL;
    if (p->has_ctype && p->ctype_str &&
        (p->ctype_str_len == 0 || p->ctype_str_len > COSE_MAX_CTYPE_STR))
        return -EINVAL;
    if (p->external_aad_len > COSE_MAX_EXTERNAL_AAD)
        return -E2BIG;
    if (!p->external_aad && p->external_aad_len)
        return -EINVAL;
    return 0;
}

static int resolve_alg(const struct cose_key *key, const struct cose_params *p, enum cose_key_op op,
                       int64_t *alg)
{
    int r;
    if (p->alg != COSE_ALG_NONE) {
        *alg = p->alg;
    } else {
        r = cose_key_default_alg(key, alg);
        if (r < 0)
            return r;
    }
    return cose_key_allows(key, *alg, op);
}

/* writes [tag] [prot, unprot, payload|nil, tag|-] into out */
static int assemble(enum cose_type type, const struct cose_params *p, int64_t alg,
                    const uint8_t *prot, size_t prot_len, const uint8_t *iv, size_t iv_len,
                    bool iv_is_partial, const uint8_t *payload, size_t payload_len, bool detached,
                    const uint8_t *tag, size_t tag_len, uint8_t *out, size_t cap, size_t *out_len)
{
    struct cbor_enc e;
    cbor_enc_init(&e, out, cap);
    if (!p->untagged)
        cbor_put_tag(&e, type);
    cbor_put_array(&e, type == COSE_ENCRYPT0 ? 3 : 4);
    cbor_put_bstr(&e, prot, prot_len);
    encode_unprotected(&e, p, alg, iv, iv_len, iv_is_partial);
    if (detached)
        cbor_put_null(&e);
    else
        cbor_put_bstr(&e, payload, payload_len);
    if (type != COSE_ENCRYPT0)
        cbor_put_bstr(&e, tag, tag_len);
    return cbor_enc_finish(&e, out_len);
}

int cose_sign1_create(const struct cose_key *key, const struct cose_params *p,
                      const uint8_t *payload, size_t payload_len, uint8_t *out, size_t cap,
                      size_t *out_len)
{
    uint8_t prot[PROT_MAX], sig[SIG_MAX];
    size_t prot_len, tbs_len = 0;
    uint8_t *tbs = NULL;
    int64_t alg;
    int r;

    if (!key || !out || !out_len || (!payload && payload_len))
        return -EINVAL;
    r = check_params(p);
    if (r < 0)
        return r;
    if (payload_len > COSE_MAX_MESSAGE)
        return -E2BIG;
    r = resolve_alg(key, p, COSE_KEY_OP_SIGN, &alg);
    if (r < 0)
        return r;
    if (!key->has_private)
        return -ENOKEY;
    r = encode_protected(p, alg, prot, &prot_len);
    if (r < 0)
        return r;
    r = build_structure("Signature1", prot, prot_len, p->external_aad, p->external_aad_len, payload,
                        payload_len, true, &tbs, &tbs_len);
    if (r < 0)
        return r;
    if (alg == COSE_ALG_ES256)
        r = es256_sign(key->pkey, tbs, tbs_len, sig);
    else
        r = eddsa_sign(key->pkey, tbs, tbs_len, sig);
    free(tbs);
    if (r < 0)
        return r;
    return assemble(COSE_SIGN1, p, alg, prot, prot_len, NULL, 0, false, payload, payload_len,
                    p->detached, sig, 64, out, cap, out_len);
}

int cose_mac0_create(const struct cose_key *key, const struct cose_params *p,
                     const uint8_t *payload, size_t payload_len, uint8_t *out, size_t cap,
                     size_t *out_len)
{
    uint8_t prot[PROT_MAX], tag[32];
    size_t prot_len, tbm_len = 0;
    uint8_t *tbm = NULL;
    int64_t alg;
    int r;

    if (!key || !out || !out_len || (!payload && payload_len))
        return -EINVAL;
    r = check_params(p);
    if (r < 0)
        return r;
    if (payload_len > COSE_MAX_MESSAGE)
        return -E2BIG;
    r = resolve_alg(key, p, COSE_KEY_OP_MAC_CREATE, &alg);
    if (r < 0)
        return r;
    r = encode_protected(p, alg, prot, &prot_len);
    if (r < 0)
        return r;
    r = build_structure("MAC0", prot, prot_len, p->external_aad, p->external_aad_len, payload,
                        payload_len, true, &tbm, &tbm_len);
    if (r < 0)
        return r;
    r = hmac256(key->k, key->k_len, tbm, tbm_len, tag);
    free(tbm);
    if (r == 0)
        r = assemble(COSE_MAC0, p, alg, prot, prot_len, NULL, 0, false, payload, payload_len,
                     p->detached, tag, hmac_tag_len(alg), out, cap, out_len);
    OPENSSL_cleanse(tag, sizeof(tag));
    return r;
}

/* nonce from a Partial IV and the key's Base IV */
static int nonce_from_partial(const struct cose_key *key, const uint8_t *piv, size_t piv_len,
                              uint8_t *nonce, size_t nonce_len)
{
    if (!key->base_iv_len)
        return -ENOKEY;
    if (key->base_iv_len > nonce_len || piv_len > nonce_len)
        return -EKEYREJECTED;
    memset(nonce, 0, nonce_len);
    memcpy(nonce, key->base_iv, key->base_iv_len);
    for (size_t i = 0; i < piv_len; i++)
        nonce[nonce_len - piv_len + i] ^= piv[i];
    return 0;
}

int cose_encrypt0_create(const struct cose_key *key, const struct cose_params *p,
                         const uint8_t *plaintext, size_t plaintext_len, uint8_t *out, size_t cap,
                         size_t *out_len)
{
    uint8_t prot[PROT_MAX], nonce[COSE_MAX_IV], aad_stack[512];
    uint8_t *aad = aad_stack, *ct = NULL;
    size_t prot_len, aad_len, nl, tl, ct_len = 0;
    const uint8_t *hdr_iv;
    size_t hdr_iv_len;
    bool partial = false;
    int64_t alg;
    int r;

    if (!key || !out || !out_len || (!plaintext && plaintext_len))
        return -EINVAL;
    r = check_params(p);
    if (r < 0)
        return r;
    if (p->detached || (p->iv && p->partial_iv))
        return -EINVAL;
    if (plaintext_len > COSE_MAX_MESSAGE)
        return -E2BIG;
    r = resolve_alg(key, p, COSE_KEY_OP_ENCRYPT, &alg);
    if (r < 0)
        return r;
    r = cose_aead_params(alg, NULL, &nl, &tl);
    if (r < 0)
        return r;
    if (p->iv) {
        if (p->iv_len != nl)
            return -EINVAL;
        memcpy(nonce, p->iv, nl);
        hdr_iv = p->iv;
        hdr_iv_len = nl;
    } else if (p->partial_iv) {
        if (p->partial_iv_len == 0 || p->partial_iv_len > nl)
            return -EINVAL;
        r = nonce_from_partial(key, p->partial_iv, p->partial_iv_len, nonce, nl);
        if (r < 0)
            return r;
        hdr_iv = p->partial_iv;
        hdr_iv_len = p->partial_iv_len;
        partial = true;
    } else {
        if (RAND_bytes(nonce, (int)nl) != 1)
            return -EIO;
        hdr_iv = nonce;
        hdr_iv_len = nl;
    }
    r = encode_protected(p, alg, prot, &prot_len);
    if (r < 0)
        return r;
    aad_len = prot_len + p->external_aad_len + 32;
    if (aad_len > sizeof(aad_stack)) {
        aad = malloc(aad_len);
        if (!aad)
            return -ENOMEM;
    }
    r = cose_enc_structure(prot, prot_len, p->external_aad, p->external_aad_len, aad, aad_len,
                           &aad_len);
    if (r < 0)
        goto out;
    ct = malloc(plaintext_len + tl);
    if (!ct) {
        r = -ENOMEM;
        goto out;
    }
    r = cose_aead_encrypt(alg, key->k, key->k_len, nonce, nl, aad, aad_len, plaintext,
                          plaintext_len, ct, plaintext_len + tl, &ct_len);
    if (r < 0)
        goto out;
    r = assemble(COSE_ENCRYPT0, p, alg, prot, prot_len, hdr_iv, hdr_iv_len, partial, ct, ct_len,
                 false, NULL, 0, out, cap, out_len);
out:
    free(ct);
    if (aad != aad_stack)
        free(aad);
    return r;
}

/* ---- verifying -------------------------------------------------------- */

static int decode_for(const struct cose_key *key, const uint8_t *buf, size_t len,
                      enum cose_type type, const struct cose_verify_opts *o, enum cose_key_op op,
                      struct cose_msg *m)
{
    int r;
    if (!key || !buf)
        return -EINVAL;
    if (o &&
        ((o->external_aad_len && !o->external_aad) || (o->detached_len && !o->detached_payload)))
        return -EINVAL;
    if (o && o->external_aad_len > COSE_MAX_EXTERNAL_AAD)
        return -E2BIG;
    r = cose_decode(buf, len, type, m);
    if (r < 0)
        return r;
    if (o && o->require_tag && !m->tagged)
        return -EBADMSG;
    if (m->hdr.alg_unsupported)
        return -ENOTSUP;
    if (!m->hdr.has_alg)
        return -EBADMSG;
    r = cose_key_allows(key, m->hdr.alg, op);
    if (r < 0)
        return r;
    if (m->detached) {
        if (!o || !o->detached_payload || type == COSE_ENCRYPT0)
            return -EBADMSG;
        m->payload = o->detached_payload;
        m->payload_len = o->detached_len;
    }
    return 0;
}

int cose_sign1_verify(const struct cose_key *key, const uint8_t *buf, size_t len,
                      const struct cose_verify_opts *o, struct cose_msg *msg)
{
    struct cose_msg m;
    const uint8_t *prot;
    size_t prot_len, tbs_len = 0;
    uint8_t *tbs = NULL;
    int r;

    r = decode_for(key, buf, len, COSE_SIGN1, o, COSE_KEY_OP_VERIFY, &m);
    if (r < 0)
        return r;
    prot_for_structure(&m, &prot, &prot_len);
    r = build_structure("Signature1", prot, prot_len, o ? o->external_aad : NULL,
                        o ? o->external_aad_len : 0, m.payload, m.payload_len, true, &tbs,
                        &tbs_len);
    if (r < 0)
        return r;
    if (m.hdr.alg == COSE_ALG_ES256)
        r = es256_verify(key->pkey, tbs, tbs_len, m.tag, m.tag_len);
    else
        r = eddsa_verify(key->pkey, tbs, tbs_len, m.tag, m.tag_len);
    free(tbs);
    if (r == 0 && msg)
        *msg = m;
    return r;
}

int cose_mac0_verify(const struct cose_key *key, const uint8_t *buf, size_t len,
                     const struct cose_verify_opts *o, struct cose_msg *msg)
{
    struct cose_msg m;
    const uint8_t *prot;
    size_t prot_len, tbm_len = 0;
    uint8_t *tbm = NULL, tag[32];
    int r;

    r = decode_for(key, buf, len, COSE_MAC0, o, COSE_KEY_OP_MAC_VERIFY, &m);
    if (r < 0)
        return r;
    prot_for_structure(&m, &prot, &prot_len);
    r = build_structure("MAC0", prot, prot_len, o ? o->external_aad : NULL,
                        o ? o->external_aad_len : 0, m.payload, m.payload_len, true, &tbm,
                        &tbm_len);
    if (r < 0)
        return r;
    r = hmac256(key->k, key->k_len, tbm, tbm_len, tag);
    free(tbm);
    if (r == 0) {
        size_t tl = hmac_tag_len(m.hdr.alg);
        if (m.tag_len != tl || CRYPTO_memcmp(tag, m.tag, tl) != 0)
            r = -EACCES;
    }
    OPENSSL_cleanse(tag, sizeof(tag));
    if (r == 0 && msg)
        *msg = m;
    return r;
}

int cose_encrypt0_decrypt(const struct cose_key *key, const uint8_t *buf, size_t len,
                          const struct cose_verify_opts *o, uint8_t *plaintext, size_t cap,
                          size_t *plaintext_len, struct cose_msg *msg)
{
    struct cose_msg m;
    const uint8_t *prot;
    uint8_t nonce[COSE_MAX_IV], aad_stack[512];
    uint8_t *aad = aad_stack;
    size_t prot_len, aad_len, nl;
    int r;

    if (!plaintext || !plaintext_len)
        return -EINVAL;
    r = decode_for(key, buf, len, COSE_ENCRYPT0, o, COSE_KEY_OP_DECRYPT, &m);
    if (r < 0)
        return r;
    if (m.detached)
        return -EBADMSG;
    r = cose_aead_params(m.hdr.alg, NULL, &nl, NULL);
    if (r < 0)
        return r;
    if (m.hdr.has_iv) {
        if (m.hdr.iv_len != nl)
            return -EBADMSG;
        memcpy(nonce, m.hdr.iv, nl);
    } else if (m.hdr.has_partial_iv) {
        if (m.hdr.partial_iv_len > nl)
            return -EBADMSG;
        r = nonce_from_partial(key, m.hdr.partial_iv, m.hdr.partial_iv_len, nonce, nl);
        if (r < 0)
            return r;
    } else {
        return -EBADMSG; /* no IV at all */
    }
    prot_for_structure(&m, &prot, &prot_len);
    aad_len = prot_len + (o ? o->external_aad_len : 0) + 32;
    if (aad_len > sizeof(aad_stack)) {
        aad = malloc(aad_len);
        if (!aad)
            return -ENOMEM;
    }
    r = cose_enc_structure(prot, prot_len, o ? o->external_aad : NULL, o ? o->external_aad_len : 0,
                           aad, aad_len, &aad_len);
    if (r == 0)
        r = cose_aead_decrypt(m.hdr.alg, key->k, key->k_len, nonce, nl, aad, aad_len, m.payload,
                              m.payload_len, plaintext, cap, plaintext_len);
    if (aad != aad_stack)
        free(aad);
    if (r == 0 && msg)
        *msg = m;
    return r;
}
