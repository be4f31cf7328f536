/* cose_sign.c - per-thing COSE_Sign1 keys; see cose_sign.h.
 *
 * Cleanup style: goto to one exit.
 */
#define _GNU_SOURCE
#include "cose_sign.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coap_util.h"
#include "oauth/store.h"
#include "objsec/cose.h"

int cose_signer_kid(const struct cose_key *k, uint8_t kid[COSE_SIGN_KID_LEN])
{
    struct cose_key_params p = {.kty = k->kty, .crv = k->crv, .x = k->x, .x_len = 32};
    struct cose_key *t = NULL;
    uint8_t buf[COSE_KEY_ENCODED_MAX], md[32];
    size_t len = 0;
    unsigned mdlen = 0;
    if (k->kty == COSE_KTY_EC2) {
        p.y = k->y;
        p.y_len = 32;
    } else if (k->kty != COSE_KTY_OKP) {
        return -EINVAL;
    }
    int r = cose_key_new(&p, &t);
    if (r < 0)
        return r;
    r = cose_key_encode(t, false, buf, sizeof(buf), &len);
    cose_key_free(t);
    if (r < 0)
        return r;
    if (EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return -EIO;
    memcpy(kid, md, COSE_SIGN_KID_LEN);
    return 0;
}

static int key_path(const char *dir, const char *thing, const char *suffix, char **out)
{
    /* thing names are URL segments ([A-Za-z0-9._~-]): never a '/' */
    if (!*thing || strchr(thing, '/') || !strcmp(thing, ".") || !strcmp(thing, ".."))
        return -EINVAL;
    return asprintf(out, "%s/%s.key%s", dir, thing, suffix) < 0 ? -ENOMEM : 0;
}

static int lock_key(const char *dir, const char *thing, struct diags *d)
{
    char *lp = NULL;
    int r = key_path(dir, thing, ".lock", &lp);
    if (r < 0)
        return r;
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        r = -errno;
        diag_add(d, lp, 0, "cannot open the lock file: %s", strerror(-r));
        free(lp);
        return r;
    }
    as_fix_owner(lp);
    free(lp);
    if (flock(fd, LOCK_EX) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

static int signer_new(struct cose_key *k, struct cose_signer **out)
{
    struct cose_signer *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->refs = 1;
    s->key = k;
    memcpy(s->kid, k->kid, COSE_SIGN_KID_LEN);
    hex_encode(s->kid, COSE_SIGN_KID_LEN, s->kid_hex);
    *out = s;
    return 0;
}

/* Reads path: -ENOENT quietly, other problems into d. */
static int read_key(const char *path, struct cose_key **out, struct diags *d)
{
    struct cose_key **keys = NULL;
    size_t n = 0;
    uint8_t kid[COSE_SIGN_KID_LEN];
    *out = NULL;
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return -ENOENT;
    if (access(path, R_OK) < 0) {
        int r = -errno;
        diag_add(d, path, 0, "cannot read: %s", strerror(-r));
        return r;
    }
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        diag_warn(d, path, 0, "readable by group or others (mode %03o): chmod 600",
                  (unsigned)(st.st_mode & 0777));
    int r = cose_key_read_file(path, &keys, &n, d);
    if (r < 0)
        return r;
    r = -EINVAL;
    if (n != 1)
        diag_add(d, path, 0, "must hold exactly one COSE_Key, not %zu", n);
    else if (keys[0]->kty != COSE_KTY_EC2 || keys[0]->crv != COSE_CRV_P256 ||
             cose_key_allows(keys[0], COSE_ALG_ES256, COSE_KEY_OP_SIGN) < 0)
        diag_add(d, path, 0, "must be an EC2 P-256 key for ES256 signing");
    else if (!keys[0]->has_private)
        diag_add(d, path, 0, "has no private key (d)");
    else if (cose_signer_kid(keys[0], kid) < 0 || !keys[0]->has_kid ||
             keys[0]->kid_len != COSE_SIGN_KID_LEN || memcmp(keys[0]->kid, kid, sizeof(kid)))
        diag_add(d, path, 0, "kid is not the first %d bytes of the key's RFC 9679 thumbprint",
                 COSE_SIGN_KID_LEN);
    else {
        *out = keys[0];
        keys[0] = NULL;
        r = 0;
    }
    cose_keys_free(keys, n);
    return r;
}

/* A fresh ES256 key with its kid. */
static int make_key(struct cose_key **out)
{
    struct cose_key *g = NULL;
    uint8_t kid[COSE_SIGN_KID_LEN];
    int r = cose_key_generate(COSE_ALG_ES256, NULL, 0, &g);
    if (r < 0)
        return r;
    r = cose_signer_kid(g, kid);
    if (r == 0) {
        struct cose_key_params p = {
                .kty = g->kty,
                .crv = g->crv,
                .alg = COSE_ALG_ES256,
                .kid = kid,
                .kid_len = sizeof(kid),
                .x = g->x,
                .x_len = 32,
                .y = g->y,
                .y_len = 32,
                .d = g->d,
                .d_len = 32,
        };
        r = cose_key_new(&p, out);
    }
    cose_key_free(g);
    return r;
}

static int write_key(const char *path, const struct cose_key *k, struct diags *d)
{
    uint8_t buf[COSE_KEY_ENCODED_MAX];
    size_t len = 0;
    int r = cose_key_encode(k, true, buf, sizeof(buf), &len);
    if (r == 0)
        r = util_write_file_atomic(path, buf, len, 0600);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (r < 0)
        diag_add(d, path, 0, "cannot write the signing key: %s", strerror(-r));
    else
        as_fix_owner(path);
    return r;
}

int cose_signer_load(const char *dir, const char *thing, bool create, struct cose_signer **out,
                     struct diags *d)
{
    char *path = NULL;
    struct cose_key *k = NULL;
    int lock = -1;
    *out = NULL;
    int r = key_path(dir, thing, "", &path);
    if (r < 0)
        return r;
    r = read_key(path, &k, d);
    if (r == -ENOENT && create) {
        r = as_dir_prepare(dir, d);
        if (r < 0)
            goto out;
        lock = lock_key(dir, thing, d);
        if (lock < 0) {
            r = lock;
            goto out;
        }
        r = read_key(path, &k, d); /* someone may have made it meanwhile */
        if (r == -ENOENT) {
            r = make_key(&k);
            if (r < 0) {
                diag_add(d, path, 0, "cannot generate a signing key");
                goto out;
            }
            r = write_key(path, k, d);
        }
    } else if (r == -ENOENT) {
        diag_add(d, path, 0, "no signing key yet");
    }
    if (r < 0)
        goto out;
    r = signer_new(k, out);
    if (r == 0)
        k = NULL;
out:
    if (lock >= 0)
        close(lock);
    cose_key_free(k);
    free(path);
    return r;
}

int cose_signer_rotate(const char *dir, const char *thing, char *kid_hex, struct diags *d)
{
    char *path = NULL;
    struct cose_key *k = NULL;
    int lock = -1;
    int r = key_path(dir, thing, "", &path);
    if (r < 0)
        return r;
    r = as_dir_prepare(dir, d);
    if (r < 0)
        goto out;
    lock = lock_key(dir, thing, d);
    if (lock < 0) {
        r = lock;
        goto out;
    }
    r = make_key(&k);
    if (r < 0) {
        diag_add(d, path, 0, "cannot generate a signing key");
        goto out;
    }
    r = write_key(path, k, d);
    if (r == 0)
        hex_encode(k->kid, COSE_SIGN_KID_LEN, kid_hex);
out:
    if (lock >= 0)
        close(lock);
    cose_key_free(k);
    free(path);
    return r;
}

struct cose_signer *cose_signer_ref(struct cose_signer *s)
{
    if (s)
        s->refs++;
    return s;
}

void cose_signer_unref(struct cose_signer *s)
{
    if (!s || --s->refs)
        return;
    cose_key_free(s->key);
    free(s);
}

json_t *cose_signer_jwk(const struct cose_signer *s)
{
    char x[64], y[64];
    b64url_encode(s->key->x, 32, x);
    b64url_encode(s->key->y, 32, y);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", x,
                     "y", y, "alg", "ES256", "use", "sig", "kid", s->kid_hex);
}

/* ---- content formats ------------------------------------------------------------ */

int cose_content_format(const char *media_type)
{
    if (!media_type)
        return -1;
    int cf = coap_format_from_type(media_type);
    if (cf != COAP_FORMAT_OCTET_STREAM)
        return cf;
    /* 42 is also coap_util's answer for any type it does not know */
    const char *p = media_type + strspn(media_type, " \t");
    size_t n = strcspn(p, "; \t");
    return n == strlen("application/octet-stream") && !strncasecmp(p, "application/octet-stream", n)
                   ? cf
                   : -1;
}

void cose_params_content_type(struct cose_params *p, const char *content_type)
{
    if (!content_type || !*content_type)
        return;
    int cf = cose_content_format(content_type);
    p->has_ctype = true;
    if (cf >= 0) {
        p->ctype = (uint64_t)cf;
        return;
    }
    /* the media type without trailing blanks; too long: none */
    size_t l = strlen(content_type);
    while (l && (content_type[l - 1] == ' ' || content_type[l - 1] == '\t'))
        l--;
    p->ctype_str = content_type;
    p->ctype_str_len = l;
    if (!l || l > COSE_MAX_CTYPE_STR)
        p->has_ctype = false;
}

int cose_signer_sign1(const struct cose_signer *s, const char *content_type, const uint8_t *payload,
                      size_t len, uint8_t **out, size_t *out_len)
{
    struct cose_params p = {
            .alg = COSE_ALG_ES256,
            .kid = s->kid,
            .kid_len = COSE_SIGN_KID_LEN,
    };
    *out = NULL;
    if (len > COSE_MAX_MESSAGE - COSE_OVERHEAD)
        return -E2BIG;
    cose_params_content_type(&p, content_type);
    size_t cap = len + COSE_OVERHEAD;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    int r = cose_sign1_create(s->key, &p, payload, len, buf, cap, out_len);
    if (r < 0) {
        free(buf);
        return r;
    }
    *out = buf;
    return 0;
}

/* ---- Accept ------------------------------------------------------------------------ */

/* One media range of an Accept header: [start, end). */
static void accept_range(const char *s, size_t n, struct cose_accept *a)
{
    char type[64], name[32], value[64];
    size_t i = 0, t = 0;
    bool q0 = false, sign1_param = true;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (i < n && s[i] != ';' && s[i] != ' ' && s[i] != '\t' && t + 1 < sizeof(type))
        type[t++] = s[i++];
    type[t] = 0;
    if (!t)
        return;
    while (i < n) {
        while (i < n && s[i] != ';')
            i++;
        if (i >= n)
            break;
        i++;
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t k = 0, v = 0;
        while (i < n && s[i] != '=' && s[i] != ';' && s[i] != ' ' && k + 1 < sizeof(name))
            name[k++] = s[i++];
        name[k] = 0;
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i < n && s[i] == '=') {
            i++;
            while (i < n && (s[i] == ' ' || s[i] == '\t'))
                i++;
            bool quoted = i < n && s[i] == '"';
            if (quoted)
                i++;
            while (i < n && (quoted ? s[i] != '"' : (s[i] != ';' && s[i] != ' ')) &&
                   v + 1 < sizeof(value))
                value[v++] = s[i++];
            if (quoted && i < n)
                i++;
        }
        value[v] = 0;
        if (!strcasecmp(name, "q")) {
            /* q=0, q=0.0, q=0.00, q=0.000 */
            q0 = value[0] == '0' && strspn(value + 1, ".0") == strlen(value + 1);
        } else if (!strcasecmp(name, "cose-type")) {
            sign1_param = !strcasecmp(value, "cose-sign1");
        }
    }
    if (q0)
        return;
    if (!strcasecmp(type, "application/cose")) {
        if (sign1_param)
            a->sign1 = true;
    } else {
        a->others = true;
    }
}

void cose_accept_parse(const char *accept, struct cose_accept *out)
{
    *out = (struct cose_accept){0};
    if (!accept || !accept[strspn(accept, " \t,")]) {
        out->others = true; /* no or an empty Accept: anything */
        return;
    }
    const char *p = accept;
    while (*p) {
        /* a ',' inside a quoted string does not end the range */
        const char *e = p;
        bool quoted = false;
        while (*e && (quoted || *e != ',')) {
            if (*e == '"')
                quoted = !quoted;
            e++;
        }
        accept_range(p, (size_t)(e - p), out);
        p = *e ? e + 1 : e;
    }
}
