/* cose_key.c - COSE_Key reading, writing and generation; see cose_key.h.
 *
 * Cleanup style: goto to one exit. Secret bytes (d, k) are wiped from
 * every temporary buffer and from the struct on free.
 */
#include "cose_key.h"

#include <errno.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "cbor.h"

/* ---- algorithms a key allows ------------------------------------------ */

static bool alg_known(int64_t alg)
{
    switch (alg) {
    case COSE_ALG_A128GCM:
    case COSE_ALG_HMAC256_64:
    case COSE_ALG_HMAC256_256:
    case COSE_ALG_AES_CCM_16_64_128:
    case COSE_ALG_ES256:
    case COSE_ALG_EDDSA: return true;
    default: return false;
    }
}

/* does the key type / size fit alg (ignoring the key's own alg and ops) */
static bool type_fits(const struct cose_key *k, int64_t alg)
{
    switch (alg) {
    case COSE_ALG_ES256: return k->kty == COSE_KTY_EC2 && k->crv == COSE_CRV_P256;
    case COSE_ALG_EDDSA: return k->kty == COSE_KTY_OKP && k->crv == COSE_CRV_ED25519;
    case COSE_ALG_HMAC256_64:
    case COSE_ALG_HMAC256_256:
        return k->kty == COSE_KTY_SYMMETRIC && k->k_len >= COSE_KEY_MIN_HMAC &&
               k->k_len <= COSE_KEY_MAX_SYMMETRIC;
    case COSE_ALG_A128GCM:
    case COSE_ALG_AES_CCM_16_64_128: return k->kty == COSE_KTY_SYMMETRIC && k->k_len == 16;
    default: return false;
    }
}

int cose_key_allows(const struct cose_key *k, int64_t alg, enum cose_key_op op)
{
    if (!k)
        return -EINVAL;
    if (!alg_known(alg))
        return -ENOTSUP;
    if (k->alg != COSE_ALG_NONE && k->alg != alg)
        return -EKEYREJECTED;
    if (!type_fits(k, alg))
        return -EKEYREJECTED;
    if (k->ops && !(k->ops & (1u << op)))
        return -EKEYREJECTED;
    return 0;
}

int cose_key_default_alg(const struct cose_key *k, int64_t *alg)
{
    if (k->alg != COSE_ALG_NONE) {
        *alg = k->alg;
        return 0;
    }
    if (k->kty == COSE_KTY_EC2 && k->crv == COSE_CRV_P256) {
        *alg = COSE_ALG_ES256;
        return 0;
    }
    if (k->kty == COSE_KTY_OKP && k->crv == COSE_CRV_ED25519) {
        *alg = COSE_ALG_EDDSA;
        return 0;
    }
    return -EINVAL;
}

/* ---- construction ----------------------------------------------------- */

void cose_key_free(struct cose_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}

void cose_keys_free(struct cose_key **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        cose_key_free(v[i]);
    free(v);
}

static int ec_pkey(struct cose_key *k)
{
    int r = -EKEYREJECTED;
    uint8_t pub[65];
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
    BIGNUM *priv = NULL;

    pub[0] = 0x04;
    memcpy(pub + 1, k->x, 32);
    memcpy(pub + 33, k->y, 32);
    bld = OSSL_PARAM_BLD_new();
    if (!bld) {
        r = -ENOMEM;
        goto out;
    }
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub))) {
        r = -ENOMEM;
        goto out;
    }
    if (k->has_private) {
        priv = BN_secure_new();
        if (!priv || !BN_bin2bn(k->d, 32, priv) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)) {
            r = -ENOMEM;
            goto out;
        }
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!params || !ctx) {
        r = -ENOMEM;
        goto out;
    }
    if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &k->pkey, k->has_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          params) <= 0)
        goto out;
    chk = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    if (!chk) {
        r = -ENOMEM;
        goto out;
    }
    /* the point must lie on the curve; a private scalar must match it */
    if (EVP_PKEY_public_check(chk) != 1)
        goto out;
    if (k->has_private && EVP_PKEY_pairwise_check(chk) != 1)
        goto out;
    r = 0;
out:
    if (r < 0) {
        EVP_PKEY_free(k->pkey);
        k->pkey = NULL;
    }
    EVP_PKEY_CTX_free(chk);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params); /* the secure-heap part (d) is cleared */
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(priv);
    return r;
}

static int okp_pkey(struct cose_key *k, bool has_x)
{
    uint8_t pub[32];
    size_t n = sizeof(pub);

    if (k->has_private) {
        k->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, k->d, 32);
        if (!k->pkey)
            return -EKEYREJECTED;
        if (EVP_PKEY_get_raw_public_key(k->pkey, pub, &n) != 1 || n != 32)
            return -EIO;
        if (has_x && CRYPTO_memcmp(pub, k->x, 32) != 0)
            return -EKEYREJECTED; /* x is not the public key of d */
        memcpy(k->x, pub, 32);
        return 0;
    }
    k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->x, 32);
    return k->pkey ? 0 : -EKEYREJECTED;
}

int cose_key_new(const struct cose_key_params *p, struct cose_key **out)
{
    int r;
    struct cose_key *k = NULL;

    if (!p || !out)
        return -EINVAL;
    *out = NULL;
    k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->kty = p->kty;
    k->alg = p->alg;
    k->ops = p->ops;
    if (p->kid) {
        if (p->kid_len > COSE_KEY_MAX_KID) {
            r = -E2BIG;
            goto out;
        }
        memcpy(k->kid, p->kid, p->kid_len);
        k->kid_len = p->kid_len;
        k->has_kid = true;
    }
    if (p->base_iv) {
        if (p->base_iv_len > COSE_KEY_MAX_BASE_IV || p->base_iv_len == 0) {
            r = -EKEYREJECTED;
            goto out;
        }
        memcpy(k->base_iv, p->base_iv, p->base_iv_len);
        k->base_iv_len = p->base_iv_len;
    }

    switch (p->kty) {
    case COSE_KTY_EC2:
        if (p->crv != COSE_CRV_P256) {
            r = -ENOTSUP;
            goto out;
        }
        k->crv = p->crv;
        if (!p->x || !p->y || p->x_len != 32 || p->y_len != 32 || (p->d && p->d_len != 32) ||
            p->k) {
            r = -EKEYREJECTED;
            goto out;
        }
        memcpy(k->x, p->x, 32);
        memcpy(k->y, p->y, 32);
        if (p->d) {
            memcpy(k->d, p->d, 32);
            k->has_private = true;
        }
        r = ec_pkey(k);
        break;
    case COSE_KTY_OKP:
        if (p->crv != COSE_CRV_ED25519) {
            r = -ENOTSUP;
            goto out;
        }
        k->crv = p->crv;
        if ((!p->x && !p->d) || (p->x && p->x_len != 32) || (p->d && p->d_len != 32) || p->y ||
            p->k) {
            r = -EKEYREJECTED;
            goto out;
        }
        if (p->x)
            memcpy(k->x, p->x, 32);
        if (p->d) {
            memcpy(k->d, p->d, 32);
            k->has_private = true;
        }
        r = okp_pkey(k, p->x != NULL);
        break;
    case COSE_KTY_SYMMETRIC:
        if (p->crv || !p->k || p->k_len == 0 || p->k_len > COSE_KEY_MAX_SYMMETRIC || p->x || p->y ||
            p->d) {
            r = -EKEYREJECTED;
            goto out;
        }
        memcpy(k->k, p->k, p->k_len);
        k->k_len = p->k_len;
        k->has_private = true;
        r = 0;
        break;
    default: r = -ENOTSUP; goto out;
    }
    if (r < 0)
        goto out;
    if (k->alg != COSE_ALG_NONE) {
        if (!alg_known(k->alg)) {
            r = -ENOTSUP;
            goto out;
        }
        if (!type_fits(k, k->alg)) {
            r = -EKEYREJECTED;
            goto out;
        }
    }
    *out = k;
    k = NULL;
    r = 0;
out:
    cose_key_free(k);
    return r;
}

/* ---- COSE_Key decoding ------------------------------------------------ */

static const struct cbor_limits key_limits = {
        .max_depth = 4,
        .max_items = 256,
        .max_str = 1024,
        .max_size = COSE_KEY_FILE_MAX,
};

static int decode_key_map(struct cbor_dec *dec, struct cose_key **out)
{
    struct cose_key_params p = {0};
    size_t n;
    int64_t seen[COSE_KEY_MAX_LABELS];
    size_t n_seen = 0;
    bool has_kty = false, has_m1 = false;
    const uint8_t *m1 = NULL; /* crv (int) or k (bstr): depends on kty */
    size_t m1_len = 0;
    int64_t m1_int = 0;
    bool m1_is_int = false;
    int r;

    r = cbor_get_map(dec, &n);
    if (r < 0)
        return -EBADMSG;
    if (n > COSE_KEY_MAX_LABELS)
        return -E2BIG;
    for (size_t i = 0; i < n; i++) {
        enum cbor_type t;
        int64_t label;
        if (cbor_peek(dec, &t) < 0)
            return -EBADMSG;
        if (t == CBOR_TSTR) { /* text labels: not ours; skip key and value */
            if (cbor_skip(dec, NULL, NULL) < 0 || cbor_skip(dec, NULL, NULL) < 0)
                return -EBADMSG;
            continue;
        }
        if (cbor_get_int(dec, &label) < 0)
            return -EBADMSG;
        for (size_t j = 0; j < n_seen; j++)
            if (seen[j] == label)
                return -EBADMSG; /* duplicate label */
        seen[n_seen++] = label;

        switch (label) {
        case COSE_KEY_LABEL_KTY:
            if (cbor_peek(dec, &t) < 0)
                return -EBADMSG;
            if (t == CBOR_TSTR)
                return -ENOTSUP;
            {
                int64_t v;
                if (cbor_get_int(dec, &v) < 0)
                    return -EBADMSG;
                if (v != COSE_KTY_OKP && v != COSE_KTY_EC2 && v != COSE_KTY_SYMMETRIC)
                    return -ENOTSUP;
                p.kty = (int)v;
                has_kty = true;
            }
            break;
        case COSE_KEY_LABEL_KID:
            if (cbor_get_bstr(dec, &p.kid, &p.kid_len) < 0)
                return -EBADMSG;
            if (p.kid_len > COSE_KEY_MAX_KID)
                return -E2BIG;
            break;
        case COSE_KEY_LABEL_ALG:
            if (cbor_peek(dec, &t) < 0)
                return -EBADMSG;
            if (t == CBOR_TSTR)
                return -ENOTSUP;
            if (cbor_get_int(dec, &p.alg) < 0)
                return -EBADMSG;
            if (p.alg == COSE_ALG_NONE || !alg_known(p.alg))
                return -ENOTSUP;
            break;
        case COSE_KEY_LABEL_KEY_OPS: {
            size_t m;
            if (cbor_get_array(dec, &m) < 0)
                return -EBADMSG;
            if (m == 0 || m > 16)
                return -EBADMSG;
            for (size_t j = 0; j < m; j++) {
                int64_t op;
                if (cbor_peek(dec, &t) < 0)
                    return -EBADMSG;
                if (t == CBOR_TSTR) { /* unknown op names grant nothing */
                    if (cbor_skip(dec, NULL, NULL) < 0)
                        return -EBADMSG;
                    continue;
                }
                if (cbor_get_int(dec, &op) < 0)
                    return -EBADMSG;
                if (op >= 1 && op <= 31)
                    p.ops |= 1u << op;
            }
            if (!p.ops)
                return -EKEYREJECTED; /* key_ops that allow nothing we do */
            break;
        }
        case COSE_KEY_LABEL_BASE_IV:
            if (cbor_get_bstr(dec, &p.base_iv, &p.base_iv_len) < 0)
                return -EBADMSG;
            break;
        case -1:
            if (cbor_peek(dec, &t) < 0)
                return -EBADMSG;
            has_m1 = true;
            if (t == CBOR_BSTR) {
                if (cbor_get_bstr(dec, &m1, &m1_len) < 0)
                    return -EBADMSG;
            } else if (t == CBOR_TSTR) {
                return -ENOTSUP; /* curve by name */
            } else {
                if (cbor_get_int(dec, &m1_int) < 0)
                    return -EBADMSG;
                m1_is_int = true;
            }
            break;
        case COSE_KEY_LABEL_X:
            if (cbor_get_bstr(dec, &p.x, &p.x_len) < 0)
                return -EBADMSG;
            break;
        case COSE_KEY_LABEL_Y:
            if (cbor_peek(dec, &t) < 0)
                return -EBADMSG;
            if (t == CBOR_SIMPLE)
                return -ENOTSUP; /* compressed point (sign bit) */
            if (cbor_get_bstr(dec, &p.y, &p.y_len) < 0)
                return -EBADMSG;
            break;
        case COSE_KEY_LABEL_D:
            if (cbor_get_bstr(dec, &p.d, &p.d_len) < 0)
                return -EBADMSG;
            break;
        default:
            if (cbor_skip(dec, NULL, NULL) < 0)
                return -EBADMSG;
        }
    }
    if (!has_kty)
        return -EBADMSG;
    if (p.kty == COSE_KTY_SYMMETRIC) {
        if (!has_m1 || m1_is_int)
            return -EKEYREJECTED;
        p.k = m1;
        p.k_len = m1_len;
    } else {
        if (!has_m1 || !m1_is_int)
            return -EKEYREJECTED;
        if (m1_int != COSE_CRV_P256 && m1_int != COSE_CRV_ED25519)
            return -ENOTSUP;
        p.crv = (int)m1_int;
    }
    return cose_key_new(&p, out);
}

int cose_key_decode(const uint8_t *buf, size_t len, struct cose_key **out)
{
    struct cbor_dec dec;
    int r;

    if (!out)
        return -EINVAL;
    *out = NULL;
    r = cbor_dec_init(&dec, buf, len, &key_limits);
    if (r < 0)
        return r == -E2BIG ? r : -EBADMSG;
    return decode_key_map(&dec, out);
}

int cose_keyset_decode(const uint8_t *buf, size_t len, struct cose_key ***keys, size_t *n)
{
    struct cbor_dec dec;
    struct cose_key **v = NULL;
    size_t count = 0, m = 1;
    enum cbor_type t;
    int r;

    if (!keys || !n)
        return -EINVAL;
    *keys = NULL;
    *n = 0;
    r = cbor_dec_init(&dec, buf, len, &key_limits);
    if (r < 0)
        return r == -E2BIG ? r : -EBADMSG;
    r = cbor_peek(&dec, &t);
    if (r < 0)
        return -EBADMSG;
    if (t == CBOR_ARRAY) {
        if (cbor_get_array(&dec, &m) < 0)
            return -EBADMSG;
        if (m == 0)
            return -EBADMSG;
        if (m > COSE_KEYSET_MAX)
            return -E2BIG;
    } else if (t != CBOR_MAP) {
        return -EBADMSG;
    }
    v = calloc(m, sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (count = 0; count < m; count++) {
        r = decode_key_map(&dec, &v[count]);
        if (r < 0)
            goto out;
    }
    *keys = v;
    *n = count;
    v = NULL;
    r = 0;
out:
    cose_keys_free(v, count);
    return r;
}

static const char *key_err(int r)
{
    switch (r) {
    case -EBADMSG: return "not a well-formed COSE_Key or COSE_KeySet";
    case -ENOTSUP: return "unsupported key type, curve or algorithm";
    case -EKEYREJECTED: return "invalid key material (lengths, point, or alg/key mismatch)";
    case -E2BIG: return "too large (too many keys, labels or bytes)";
    case -ENOMEM: return "out of memory";
    default: return "cannot be used";
    }
}

int cose_key_read_file(const char *path, struct cose_key ***keys, size_t *n, struct diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    struct cose_key **v = NULL;
    size_t count = 0;
    int r;

    *keys = NULL;
    *n = 0;
    r = util_read_file(path, COSE_KEY_FILE_MAX, &buf, &len);
    if (r < 0) {
        diag_add(d, path, 0, "cannot read COSE key file: %s",
                 r == -EFBIG ? "file too large" : "read error");
        r = -EINVAL;
        goto out;
    }
    r = cose_keyset_decode((const uint8_t *)buf, len, &v, &count);
    if (r < 0) {
        diag_add(d, path, 0, "COSE key file: %s", key_err(r));
        r = -EINVAL;
        goto out;
    }
    for (size_t i = 0; i < count; i++)
        for (size_t j = 0; j < i; j++)
            if (v[i]->has_kid && v[j]->has_kid && v[i]->kid_len == v[j]->kid_len &&
                memcmp(v[i]->kid, v[j]->kid, v[i]->kid_len) == 0) {
                diag_add(d, path, 0, "COSE key file: keys %zu and %zu have the same kid", j + 1,
                         i + 1);
                r = -EINVAL;
                goto out;
            }
    *keys = v;
    *n = count;
    v = NULL;
    count = 0;
    r = 0;
out:
    cose_keys_free(v, count);
    if (buf) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
    return r;
}

/* ---- generation and encoding ------------------------------------------ */

int cose_key_generate(int64_t alg, const uint8_t *kid, size_t kid_len, struct cose_key **out)
{
    struct cose_key_params p = {.alg = alg, .kid = kid, .kid_len = kid_len};
    uint8_t secret[32], x[32], y[32], pub[65];
    EVP_PKEY *pk = NULL;
    BIGNUM *priv = NULL;
    size_t n;
    int r;

    *out = NULL;
    switch (alg) {
    case COSE_ALG_ES256:
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        if (!pk) {
            r = -EIO;
            goto out;
        }
        n = sizeof(pub);
        if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &n) !=
                    1 ||
            n != 65 || pub[0] != 0x04 ||
            EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &priv) != 1 ||
            BN_bn2binpad(priv, secret, 32) != 32) {
            r = -EIO;
            goto out;
        }
        memcpy(x, pub + 1, 32);
        memcpy(y, pub + 33, 32);
        p.kty = COSE_KTY_EC2;
        p.crv = COSE_CRV_P256;
        p.x = x;
        p.y = y;
        p.d = secret;
        p.x_len = p.y_len = p.d_len = 32;
        break;
    case COSE_ALG_EDDSA:
        if (RAND_priv_bytes(secret, 32) != 1) {
            r = -EIO;
            goto out;
        }
        p.kty = COSE_KTY_OKP;
        p.crv = COSE_CRV_ED25519;
        p.d = secret;
        p.d_len = 32;
        break;
    case COSE_ALG_HMAC256_64:
    case COSE_ALG_HMAC256_256:
    case COSE_ALG_A128GCM:
    case COSE_ALG_AES_CCM_16_64_128:
        p.kty = COSE_KTY_SYMMETRIC;
        p.k = secret;
        p.k_len = (alg == COSE_ALG_HMAC256_64 || alg == COSE_ALG_HMAC256_256) ? 32 : 16;
        if (RAND_priv_bytes(secret, (int)p.k_len) != 1) {
            r = -EIO;
            goto out;
        }
        break;
    default: r = -ENOTSUP; goto out;
    }
    r = cose_key_new(&p, out);
out:
    OPENSSL_cleanse(secret, sizeof(secret));
    BN_clear_free(priv);
    EVP_PKEY_free(pk);
    return r;
}

int cose_key_encode(const struct cose_key *k, bool with_private, uint8_t *buf, size_t cap,
                    size_t *len)
{
    struct cbor_enc e;
    size_t n = 1; /* kty */
    size_t mark;

    if (!k || !len)
        return -EINVAL;
    if (k->kty == COSE_KTY_SYMMETRIC && !with_private)
        return -EPERM;
    n += k->has_kid + (k->alg != COSE_ALG_NONE) + (k->base_iv_len > 0);
    if (k->kty == COSE_KTY_SYMMETRIC)
        n += 1;
    else
        n += 2 + (k->kty == COSE_KTY_EC2) + (with_private && k->has_private);
    if (k->ops)
        n += 1;

    cbor_enc_init(&e, buf, cap);
    mark = cbor_enc_map_begin(&e, n);
    cbor_put_int(&e, COSE_KEY_LABEL_KTY);
    cbor_put_int(&e, k->kty);
    if (k->has_kid) {
        cbor_put_int(&e, COSE_KEY_LABEL_KID);
        cbor_put_bstr(&e, k->kid, k->kid_len);
    }
    if (k->alg != COSE_ALG_NONE) {
        cbor_put_int(&e, COSE_KEY_LABEL_ALG);
        cbor_put_int(&e, k->alg);
    }
    if (k->ops) {
        size_t m = 0;
        for (unsigned b = 1; b < 32; b++)
            m += (k->ops >> b) & 1;
        cbor_put_int(&e, COSE_KEY_LABEL_KEY_OPS);
        cbor_put_array(&e, m);
        for (unsigned b = 1; b < 32; b++)
            if ((k->ops >> b) & 1)
                cbor_put_uint(&e, b);
    }
    if (k->base_iv_len) {
        cbor_put_int(&e, COSE_KEY_LABEL_BASE_IV);
        cbor_put_bstr(&e, k->base_iv, k->base_iv_len);
    }
    if (k->kty == COSE_KTY_SYMMETRIC) {
        cbor_put_int(&e, COSE_KEY_LABEL_K);
        cbor_put_bstr(&e, k->k, k->k_len);
    } else {
        cbor_put_int(&e, COSE_KEY_LABEL_CRV);
        cbor_put_int(&e, k->crv);
        cbor_put_int(&e, COSE_KEY_LABEL_X);
        cbor_put_bstr(&e, k->x, 32);
        if (k->kty == COSE_KTY_EC2) {
            cbor_put_int(&e, COSE_KEY_LABEL_Y);
            cbor_put_bstr(&e, k->y, 32);
        }
        if (with_private && k->has_private) {
            cbor_put_int(&e, COSE_KEY_LABEL_D);
            cbor_put_bstr(&e, k->d, 32);
        }
    }
    cbor_enc_map_end(&e, mark, n);
    return cbor_enc_finish(&e, len);
}
