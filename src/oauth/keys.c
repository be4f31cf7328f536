/* keys.c - signing keys of the authorization server; see keys.h.
 * Cleanup style: goto to one exit. */
#define _GNU_SOURCE
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>

#include "store.h"

static const char *alg_name(unsigned alg)
{
    return alg == JWT_ALG_EDDSA ? "EdDSA" : "ES256";
}

static void key_clear(struct as_key *k)
{
    EVP_PKEY_free(k->pkey);
    *k = (struct as_key){0};
}

void as_keys_free(struct as_keys *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++)
        key_clear(&k->v[i]);
    free(k->v);
    free(k);
}

static int b64(const uint8_t *p, size_t n, char *out, size_t cap)
{
    if (b64url_encoded_len(n) + 1 > cap)
        return -ENOBUFS;
    b64url_encode(p, n, out);
    return 0;
}

/* The public JWK members of pk: kty, crv, x (and y). */
static json_t *public_jwk(EVP_PKEY *pk, unsigned alg)
{
    char x[64], y[64];
    if (alg == JWT_ALG_EDDSA) {
        uint8_t raw[32];
        size_t n = sizeof(raw);
        if (EVP_PKEY_get_raw_public_key(pk, raw, &n) != 1 || n != 32 ||
            b64(raw, n, x, sizeof(x)) < 0)
            return NULL;
        return json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x);
    }
    BIGNUM *bx = NULL, *by = NULL;
    uint8_t rx[32], ry[32];
    json_t *o = NULL;
    if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
        EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1 ||
        BN_bn2binpad(bx, rx, 32) != 32 || BN_bn2binpad(by, ry, 32) != 32)
        goto out;
    if (b64(rx, 32, x, sizeof(x)) < 0 || b64(ry, 32, y, sizeof(y)) < 0)
        goto out;
    o = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
out:
    BN_free(bx);
    BN_free(by);
    return o;
}

/* RFC 7638 thumbprint: SHA-256 of the required members in lexical order,
 * no blanks. */
static int thumbprint(EVP_PKEY *pk, unsigned alg, char *kid, size_t cap)
{
    json_t *j = public_jwk(pk, alg);
    char *s = NULL;
    int r = -EIO;
    uint8_t md[32];
    unsigned mdlen = 0;
    if (!j)
        return -EIO;
    s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s)
        goto out;
    if (EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        goto out;
    r = b64(md, 32, kid, cap);
out:
    free(s);
    json_decref(j);
    return r;
}

static EVP_PKEY *generate(unsigned alg)
{
    if (alg == JWT_ALG_EDDSA)
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* alg implied by the key: P-256 EC or Ed25519; 0 otherwise. */
static unsigned key_alg(EVP_PKEY *pk)
{
    if (EVP_PKEY_is_a(pk, "ED25519"))
        return JWT_ALG_EDDSA;
    if (EVP_PKEY_is_a(pk, "EC")) {
        char g[32];
        size_t gl = 0;
        if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof(g), &gl) ==
                    1 &&
            (!strcmp(g, "prime256v1") || !strcmp(g, "P-256")))
            return JWT_ALG_ES256;
    }
    return 0;
}

static char *pem_of(EVP_PKEY *pk)
{
    BIO *b = BIO_new(BIO_s_secmem());
    char *out = NULL, *data;
    if (!b)
        return NULL;
    if (PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) != 1)
        goto out;
    long n = BIO_get_mem_data(b, &data);
    if (n > 0)
        out = strndup(data, (size_t)n);
out:
    BIO_free(b);
    return out;
}

/* ---- the file ---------------------------------------------------------------- */

struct keyfile {
    struct as_key *v; /* every key of the file */
    size_t n;
};

static void keyfile_clear(struct keyfile *f)
{
    for (size_t i = 0; i < f->n; i++)
        key_clear(&f->v[i]);
    free(f->v);
    *f = (struct keyfile){0};
}

static int keyfile_parse(const char *path, const char *buf, size_t len, struct keyfile *f,
                         struct diags *d)
{
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je), *keys, *e;
    size_t i;
    int r = -EINVAL;
    *f = (struct keyfile){0};
    if (!root) {
        diag_add(d, path, (unsigned)(je.line > 0 ? je.line : 0), "invalid JSON: %s", je.text);
        return -EINVAL;
    }
    keys = json_object_get(root, "keys");
    if (!json_is_array(keys) || json_array_size(keys) == 0 ||
        json_array_size(keys) > AS_KEYS_MAX + 1) {
        diag_add(d, path, 0, "\"keys\" must be an array of 1 to %d keys", AS_KEYS_MAX);
        goto out;
    }
    f->v = calloc(json_array_size(keys), sizeof(*f->v));
    if (!f->v) {
        r = -ENOMEM;
        goto out;
    }
    json_array_foreach(keys, i, e)
    {
        const char *kid = NULL, *alg = NULL, *pem = NULL;
        json_int_t created = 0, retired = 0;
        if (json_unpack(e, "{s:s, s:s, s:I, s:I, s:s}", "kid", &kid, "alg", &alg, "created",
                        &created, "retired", &retired, "pem", &pem) < 0 ||
            created < 0 || retired < 0) {
            diag_add(d, path, 0, "key %zu: needs kid, alg, created, retired and pem", i + 1);
            goto out;
        }
        struct as_key *k = &f->v[f->n];
        BIO *b = BIO_new_mem_buf(pem, -1);
        k->pkey = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        f->n++;
        if (!k->pkey) {
            diag_add(d, path, 0, "key %zu: unreadable private key", i + 1);
            goto out;
        }
        k->alg = key_alg(k->pkey);
        if (!k->alg || strcmp(alg, alg_name(k->alg))) {
            diag_add(d, path, 0, "key %zu: alg must be ES256 (P-256) or EdDSA (Ed25519)", i + 1);
            goto out;
        }
        if (thumbprint(k->pkey, k->alg, k->kid, sizeof(k->kid)) < 0 || strcmp(k->kid, kid)) {
            diag_add(d, path, 0, "key %zu: kid is not the key's thumbprint", i + 1);
            goto out;
        }
        k->created = created;
        k->retired = retired;
    }
    size_t active = 0;
    for (i = 0; i < f->n; i++)
        if (!f->v[i].retired)
            active++;
    if (active != 1) {
        diag_add(d, path, 0, "exactly one key must be active (retired 0), not %zu", active);
        goto out;
    }
    r = 0;
out:
    json_decref(root);
    if (r < 0)
        keyfile_clear(f);
    return r;
}

static int keyfile_write(const char *path, const struct keyfile *f)
{
    json_t *keys = json_array(), *root = NULL;
    char *s = NULL;
    int r = -ENOMEM;
    if (!keys)
        return -ENOMEM;
    for (size_t i = 0; i < f->n; i++) {
        const struct as_key *k = &f->v[i];
        char *pem = pem_of(k->pkey);
        if (!pem)
            goto out;
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:s}", "kid", k->kid, "alg", alg_name(k->alg),
                              "created", (json_int_t)k->created, "retired", (json_int_t)k->retired,
                              "pem", pem);
        OPENSSL_cleanse(pem, strlen(pem));
        free(pem);
        if (!o || json_array_append_new(keys, o) < 0)
            goto out;
    }
    root = json_pack("{s:O}", "keys", keys);
    if (!root)
        goto out;
    s = json_dumps(root, JSON_INDENT(1));
    if (!s)
        goto out;
    r = util_write_file_atomic(path, s, strlen(s), 0600);
    if (r == 0)
        as_fix_owner(path);
out:
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
    json_decref(root);
    json_decref(keys);
    return r;
}

static int new_key(unsigned alg, int64_t now, struct as_key *k)
{
    *k = (struct as_key){.alg = alg, .created = now};
    k->pkey = generate(alg);
    if (!k->pkey || thumbprint(k->pkey, alg, k->kid, sizeof(k->kid)) < 0) {
        key_clear(k);
        return -EIO;
    }
    return 0;
}

static int read_keyfile(const char *path, struct keyfile *f, struct diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    int r = util_read_file(path, AS_KEYS_MAX_FILE_SIZE, &buf, &len);
    if (r < 0) {
        if (r != -ENOENT)
            diag_add(d, path, 0, "cannot read: %s", strerror(-r));
        return r;
    }
    r = keyfile_parse(path, buf, len, f, d);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return r;
}

/* Takes DIR/keys.json.lock. */
static int lock_keys(const char *dir, struct diags *d)
{
    char *lp = NULL;
    if (asprintf(&lp, "%s/%s.lock", dir, AS_KEYS_FILE) < 0)
        return -ENOMEM;
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int r = -errno;
        diag_add(d, lp, 0, "cannot open the lock file: %s", strerror(-r));
        free(lp);
        return r;
    }
    as_fix_owner(lp);
    free(lp);
    if (flock(fd, LOCK_EX) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

static int publish(const struct keyfile *f, int64_t now, struct as_keys **out)
{
    struct as_keys *k = calloc(1, sizeof(*k));
    if (!k || !(k->v = calloc(f->n, sizeof(*k->v)))) {
        free(k);
        return -ENOMEM;
    }
    /* the active key first */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < f->n; i++) {
            const struct as_key *s = &f->v[i];
            bool active = !s->retired;
            if ((pass == 0) != active)
                continue;
            if (!active && s->retired + AS_KEY_RETIRED_PUBLISH_S <= now)
                continue;
            k->v[k->n] = *s;
            if (!EVP_PKEY_up_ref(s->pkey)) {
                k->v[k->n].pkey = NULL;
                as_keys_free(k);
                return -ENOMEM;
            }
            k->n++;
        }
    *out = k;
    return 0;
}

int as_keys_load(const char *dir, bool create, int64_t now, struct as_keys **out, struct diags *d)
{
    struct keyfile f = {0};
    char *path = NULL;
    int lock = -1, r;
    *out = NULL;
    if (asprintf(&path, "%s/%s", dir, AS_KEYS_FILE) < 0)
        return -ENOMEM;
    r = read_keyfile(path, &f, d);
    if (r == -ENOENT && create) {
        r = as_dir_prepare(dir, d);
        if (r < 0)
            goto out;
        lock = lock_keys(dir, d);
        if (lock < 0) {
            r = lock;
            goto out;
        }
        /* someone may have made it meanwhile */
        r = read_keyfile(path, &f, d);
        if (r == -ENOENT) {
            f.v = calloc(1, sizeof(*f.v));
            if (!f.v) {
                r = -ENOMEM;
                goto out;
            }
            r = new_key(JWT_ALG_ES256, now, &f.v[0]);
            if (r < 0) {
                diag_add(d, path, 0, "cannot generate a signing key");
                goto out;
            }
            f.n = 1;
            r = keyfile_write(path, &f);
            if (r < 0) {
                diag_add(d, path, 0, "cannot write the signing key: %s", strerror(-r));
                goto out;
            }
        }
    } else if (r == -ENOENT) {
        diag_add(d, path, 0, "no signing key yet");
    }
    if (r < 0)
        goto out;
    r = publish(&f, now, out);
out:
    if (lock >= 0)
        close(lock);
    keyfile_clear(&f);
    free(path);
    return r;
}

int as_keys_rotate(const char *dir, unsigned alg, bool drop_old, int64_t now, char *kid,
                   size_t kid_cap, struct diags *d)
{
    struct keyfile f = {0};
    char *path = NULL;
    int lock = -1, r;
    struct as_key nk = {0};
    if (alg != JWT_ALG_ES256 && alg != JWT_ALG_EDDSA)
        return -EINVAL;
    if (asprintf(&path, "%s/%s", dir, AS_KEYS_FILE) < 0)
        return -ENOMEM;
    r = as_dir_prepare(dir, d);
    if (r < 0)
        goto out;
    lock = lock_keys(dir, d);
    if (lock < 0) {
        r = lock;
        goto out;
    }
    r = read_keyfile(path, &f, d);
    if (r < 0 && r != -ENOENT)
        goto out;
    r = new_key(alg, now, &nk);
    if (r < 0) {
        diag_add(d, path, 0, "cannot generate a signing key");
        goto out;
    }
    /* keep: the keys still published, retired now; then the new one */
    struct as_key *v = calloc(f.n + 1, sizeof(*v));
    size_t n = 0;
    if (!v) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < f.n; i++) {
        struct as_key *k = &f.v[i];
        if (!k->retired)
            k->retired = now > 0 ? now : 1;
        if (drop_old || k->retired + AS_KEY_RETIRED_PUBLISH_S <= now || n >= AS_KEYS_MAX - 1) {
            key_clear(k);
            continue;
        }
        v[n++] = *k;
        *k = (struct as_key){0};
    }
    v[n++] = nk;
    nk = (struct as_key){0};
    keyfile_clear(&f);
    f.v = v;
    f.n = n;
    r = keyfile_write(path, &f);
    if (r < 0) {
        diag_add(d, path, 0, "cannot write: %s", strerror(-r));
        goto out;
    }
    snprintf(kid, kid_cap, "%s", f.v[f.n - 1].kid);
out:
    key_clear(&nk);
    if (lock >= 0)
        close(lock);
    keyfile_clear(&f);
    free(path);
    return r;
}

json_t *as_keys_jwks_json(const struct as_keys *k)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < k->n; i++) {
        json_t *j = public_jwk(k->v[i].pkey, k->v[i].alg);
        if (!j || json_object_set_new(j, "kid", json_string(k->v[i].kid)) < 0 ||
            json_object_set_new(j, "alg", json_string(alg_name(k->v[i].alg))) < 0 ||
            json_object_set_new(j, "use", json_string("sig")) < 0 ||
            json_array_append_new(arr, j) < 0) {
            json_decref(j);
            json_decref(arr);
            return NULL;
        }
    }
    json_t *root = json_pack("{s:o}", "keys", arr);
    return root;
}

int as_keys_jwks(const struct as_keys *k, struct jwks **out, struct diags *d)
{
    json_t *j = as_keys_jwks_json(k);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int r = -ENOMEM;
    *out = NULL;
    if (s)
        r = jwks_parse("(authorization server keys)", s, strlen(s), JWT_ALG_ES256 | JWT_ALG_EDDSA,
                       out, d);
    free(s);
    json_decref(j);
    return r;
}

int as_keys_sign(const struct as_keys *k, const json_t *claims, char **out)
{
    const struct as_key *key = k && k->n ? &k->v[0] : NULL;
    char *hs = NULL, *ps = NULL, *input = NULL, *tok = NULL;
    EVP_MD_CTX *mc = NULL;
    ECDSA_SIG *es = NULL;
    uint8_t sig[160], raw[64];
    size_t sl = sizeof(sig);
    int r = -EIO;
    *out = NULL;
    if (!key || key->retired)
        return -ENOKEY;
    json_t *h = json_pack("{s:s, s:s, s:s}", "alg", alg_name(key->alg), "kid", key->kid, "typ",
                          "at+jwt");
    hs = h ? json_dumps(h, JSON_COMPACT) : NULL;
    json_decref(h);
    ps = json_dumps(claims, JSON_COMPACT);
    if (!hs || !ps) {
        r = -ENOMEM;
        goto out;
    }
    size_t hl = b64url_encoded_len(strlen(hs)), pl = b64url_encoded_len(strlen(ps));
    input = malloc(hl + 1 + pl + 1);
    if (!input) {
        r = -ENOMEM;
        goto out;
    }
    b64url_encode((const uint8_t *)hs, strlen(hs), input);
    input[hl] = '.';
    b64url_encode((const uint8_t *)ps, strlen(ps), input + hl + 1);
    mc = EVP_MD_CTX_new();
    if (!mc ||
        EVP_DigestSignInit_ex(mc, NULL, key->alg == JWT_ALG_EDDSA ? NULL : "SHA256", NULL, NULL,
                              key->pkey, NULL) != 1 ||
        EVP_DigestSign(mc, sig, &sl, (const uint8_t *)input, hl + 1 + pl) != 1)
        goto out;
    const uint8_t *sp = sig;
    size_t spl = sl;
    if (key->alg == JWT_ALG_ES256) {
        const uint8_t *q = sig;
        const BIGNUM *br, *bs;
        es = d2i_ECDSA_SIG(NULL, &q, (long)sl);
        if (!es)
            goto out;
        ECDSA_SIG_get0(es, &br, &bs);
        if (BN_bn2binpad(br, raw, 32) != 32 || BN_bn2binpad(bs, raw + 32, 32) != 32)
            goto out;
        sp = raw;
        spl = 64;
    }
    size_t sgl = b64url_encoded_len(spl);
    tok = malloc(hl + 1 + pl + 1 + sgl + 1);
    if (!tok) {
        r = -ENOMEM;
        goto out;
    }
    memcpy(tok, input, hl + 1 + pl);
    tok[hl + 1 + pl] = '.';
    b64url_encode(sp, spl, tok + hl + 1 + pl + 1);
    *out = tok;
    tok = NULL;
    r = 0;
out:
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(mc);
    free(tok);
    free(input);
    free(hs);
    free(ps);
    return r;
}
