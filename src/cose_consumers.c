/* cose_consumers.c - see cose_consumers.h. */
#include "cose_consumers.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/linefile.h"
#include "coap_util.h"
#include "cose_sign.h"
#include "objsec/cose.h"

void cose_consumers_free(struct cose_consumers *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].principal);
        cose_key_free(c->v[i].key);
    }
    free(c->v);
    free(c);
}

static const struct cose_consumer_key *find(const struct cose_consumers *c, const char *principal,
                                            const uint8_t *kid, size_t kid_len)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct cose_key *k = c->v[i].key;
        if (!strcmp(c->v[i].principal, principal) && k->kid_len == kid_len &&
            !memcmp(k->kid, kid, kid_len))
            return &c->v[i];
    }
    return NULL;
}

static bool is_aead(int64_t alg)
{
    return alg == COSE_ALG_A128GCM || alg == COSE_ALG_AES_CCM_16_64_128;
}

static bool is_hmac(int64_t alg)
{
    return alg == COSE_ALG_HMAC256_64 || alg == COSE_ALG_HMAC256_256;
}

/* Why k may not stand in the file, or NULL. */
static const char *key_problem(const struct cose_key *k)
{
    if (k->kty == COSE_KTY_SYMMETRIC) {
        if (is_aead(k->alg))
            return cose_key_allows(k, k->alg, COSE_KEY_OP_ENCRYPT) < 0
                           ? "the symmetric key does not fit its alg or may not encrypt"
                           : NULL;
        if (is_hmac(k->alg))
            return cose_key_allows(k, k->alg, COSE_KEY_OP_MAC_VERIFY) < 0
                           ? "the symmetric key does not fit its alg or may not verify MACs"
                           : NULL;
        return "a symmetric key needs an alg (3): HMAC 256/64 (4) or HMAC 256/256 (5) for "
               "commands, A128GCM (1) or AES-CCM-16-64-128 (10) for encrypted values";
    }
    if (k->kty != COSE_KTY_EC2 && k->kty != COSE_KTY_OKP)
        return "only EC2 P-256 (ES256), OKP Ed25519 (EdDSA) and Symmetric keys are used";
    if (k->has_private)
        return "the key has a private part: consumers' signing keys are public keys only";
    return NULL;
}

/* One line "PRINCIPAL HEX" (NUL-terminated, no newline). */
static int parse_line(struct cose_consumers *c, char *line, const char *path, unsigned ln,
                      bool *symmetric, struct diags *d)
{
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p || *p == '#')
        return 0;
    char *name = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    if (!*p) {
        diag_add(d, path, ln, "expected PRINCIPAL HEX-COSE_KEY");
        return -EINVAL;
    }
    *p++ = '\0';
    while (*p == ' ' || *p == '\t')
        p++;
    char *hex = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '\r')
        p++;
    *p = '\0';
    if (!*name || strlen(name) > COSE_CONSUMERS_MAX_PRINCIPAL) {
        diag_add(d, path, ln, "bad principal");
        return -EINVAL;
    }
    uint8_t buf[COSE_KEY_ENCODED_MAX];
    size_t n = 0;
    int r = hex_decode(hex, buf, sizeof buf, &n);
    if (r < 0 || n == 0) {
        OPENSSL_cleanse(buf, sizeof buf);
        diag_add(d, path, ln, "the key is not hex of a COSE_Key (at most %d bytes)",
                 COSE_KEY_ENCODED_MAX);
        return -EINVAL;
    }
    struct cose_key *k = NULL;
    r = cose_key_decode(buf, n, &k);
    OPENSSL_cleanse(buf, sizeof buf);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        diag_add(d, path, ln, "not a usable COSE_Key: %s", strerror(-r));
        return -EINVAL;
    }
    if (k->kty == COSE_KTY_SYMMETRIC)
        *symmetric = true;
    const char *bad = key_problem(k);
    if (!bad && (!k->has_kid || !k->kid_len))
        bad = "the key has no kid";
    else if (!bad && find(c, name, k->kid, k->kid_len))
        bad = "a second key with the same kid for this principal";
    else if (!bad && c->n >= COSE_CONSUMERS_MAX_KEYS)
        bad = "too many keys";
    if (bad) {
        diag_add(d, path, ln, "%s", bad);
        cose_key_free(k);
        return -EINVAL;
    }
    struct cose_consumer_key *v = realloc(c->v, (c->n + 1) * sizeof(*v));
    char *pr = strdup(name);
    if (!v || !pr) {
        if (v)
            c->v = v;
        free(pr);
        cose_key_free(k);
        return -ENOMEM;
    }
    c->v = v;
    c->v[c->n++] = (struct cose_consumer_key){.principal = pr, .key = k};
    return 0;
}

/* linefile_load_secret's parser: text is wiped by the caller; the line
 * copy here is wiped too. */
static int parse_file(const char *path, const char *text, size_t len, void *out, struct diags *d)
{
    struct cose_consumers **res = out;
    struct cose_consumers *c = calloc(1, sizeof(*c));
    char *copy = malloc(len + 1);
    if (!c || !copy) {
        free(c);
        free(copy);
        return -ENOMEM;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    unsigned ln = 0;
    int bad = 0;
    bool symmetric = false;
    if (memchr(text, '\0', len)) {
        diag_add(d, path, 0, "NUL byte in the file");
        bad = -EINVAL;
    }
    for (char *line = copy, *next; bad != -ENOMEM && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        ln++;
        int r = parse_line(c, line, path, ln, &symmetric, d);
        if (r < 0)
            bad = r == -ENOMEM ? r : -EINVAL;
    }
    OPENSSL_cleanse(copy, len);
    free(copy);
    struct stat st;
    if (!bad && symmetric && stat(path, &st) == 0 && (st.st_mode & S_IRWXO)) {
        diag_add(d, path, 0,
                 "the file holds symmetric (secret) COSE keys and others may access it "
                 "(chmod o-rwx)");
        bad = -EPERM;
    }
    if (bad) {
        cose_consumers_free(c);
        return bad;
    }
    *res = c;
    return 0;
}

int cose_consumers_parse(const char *path, const char *text, size_t len,
                         struct cose_consumers **out, struct diags *d)
{
    *out = NULL;
    return parse_file(path, text, len, out, d);
}

int cose_consumers_load(const char *path, struct cose_consumers **out, struct diags *d)
{
    *out = NULL;
    return linefile_load_secret(path, COSE_CONSUMERS_FILE_MAX, "the consumers' COSE keys", 0, false,
                                "", parse_file, out, d);
}

int cose_consumers_verify(const struct cose_consumers *c, const char *principal, const uint8_t *msg,
                          size_t len, const uint8_t **payload, size_t *plen, const char **ctype,
                          const char **why)
{
    struct cose_msg m;
    *ctype = NULL;
    /* an untagged Mac0 decodes as a Sign1 too: the key decides */
    if (cose_decode(msg, len, COSE_SIGN1, &m) < 0 && cose_decode(msg, len, COSE_MAC0, &m) < 0) {
        *why = "this thing accepts commands only as a COSE_Sign1 or COSE_Mac0 by the consumer";
        return -EACCES;
    }
    if (!m.hdr.has_kid) {
        *why = "the COSE message has no kid";
        return -EACCES;
    }
    const struct cose_consumer_key *k = c ? find(c, principal, m.hdr.kid, m.hdr.kid_len) : NULL;
    if (!k) {
        *why = "the COSE message's kid is not a registered key of this consumer";
        return -EACCES;
    }
    if (k->key->kty == COSE_KTY_SYMMETRIC) {
        if (!is_hmac(k->key->alg) || cose_mac0_verify(k->key, msg, len, NULL, &m) < 0 ||
            m.detached) {
            *why = "the COSE_Mac0 does not verify with the consumer's key";
            return -EACCES;
        }
    } else if (cose_sign1_verify(k->key, msg, len, NULL, &m) < 0 || m.detached) {
        *why = "the COSE_Sign1 does not verify with the consumer's key";
        return -EACCES;
    }
    *payload = m.payload;
    *plen = m.payload_len;
    if (m.hdr.has_ctype && !m.hdr.ctype_str && m.hdr.ctype <= 65535)
        *ctype = coap_format_to_type((int)m.hdr.ctype);
    return 0;
}

const struct cose_key *cose_consumers_enc_key(const struct cose_consumers *c, const char *principal)
{
    const struct cose_key *k = NULL;
    for (size_t i = 0; c && principal && i < c->n; i++)
        if (c->v[i].key->kty == COSE_KTY_SYMMETRIC && is_aead(c->v[i].key->alg) &&
            !strcmp(c->v[i].principal, principal))
            k = c->v[i].key;
    return k;
}

int cose_consumers_encrypt0(const struct cose_key *k, const char *content_type,
                            const uint8_t *payload, size_t len, uint8_t **out, size_t *out_len)
{
    struct cose_params p = {.alg = k->alg, .kid = k->kid, .kid_len = k->kid_len};
    *out = NULL;
    if (len > COSE_MAX_MESSAGE - COSE_OVERHEAD)
        return -E2BIG;
    cose_params_content_type(&p, content_type);
    size_t cap = len + COSE_OVERHEAD;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    /* no iv / partial_iv: cose.c makes a fresh random IV and sends it */
    int r = cose_encrypt0_create(k, &p, payload, len, buf, cap, out_len);
    if (r < 0) {
        free(buf);
        return r;
    }
    *out = buf;
    return 0;
}
