/* cose_consumers.c - see cose_consumers.h. */
#include "cose_consumers.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coap_util.h"
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

/* One line "PRINCIPAL HEX" (NUL-terminated, no newline). */
static int parse_line(struct cose_consumers *c, char *line, const char *path, unsigned ln,
                      struct diags *d)
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
    if (!*name || strlen(name) > 256) {
        diag_add(d, path, ln, "bad principal");
        return -EINVAL;
    }
    uint8_t buf[COSE_KEY_ENCODED_MAX];
    size_t n = 0;
    if (hex_decode(hex, buf, sizeof buf, &n) < 0 || n == 0) {
        diag_add(d, path, ln, "the key is not hex of a COSE_Key (at most %d bytes)",
                 COSE_KEY_ENCODED_MAX);
        return -EINVAL;
    }
    struct cose_key *k = NULL;
    int r = cose_key_decode(buf, n, &k);
    if (r < 0) {
        diag_add(d, path, ln, "not a usable COSE_Key: %s", strerror(-r));
        return -EINVAL;
    }
    const char *bad = NULL;
    if (k->kty != COSE_KTY_EC2 && k->kty != COSE_KTY_OKP)
        bad = "only EC2 P-256 (ES256) and OKP Ed25519 (EdDSA) keys sign commands";
    else if (k->has_private)
        bad = "the key has a private part: consumers' files hold public keys only";
    else if (!k->has_kid || !k->kid_len)
        bad = "the key has no kid";
    else if (find(c, name, k->kid, k->kid_len))
        bad = "a second key with the same kid for this principal";
    else if (c->n >= COSE_CONSUMERS_MAX_KEYS)
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

int cose_consumers_load(const char *path, struct cose_consumers **out, struct diags *d)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int r = util_read_file(path, COSE_CONSUMERS_FILE_MAX, &text, &len);
    if (r < 0) {
        diag_add(d, path, 0, "cannot read the consumers' COSE keys: %s", strerror(-r));
        return r;
    }
    struct cose_consumers *c = calloc(1, sizeof(*c));
    if (!c) {
        free(text);
        return -ENOMEM;
    }
    unsigned ln = 0;
    int bad = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        ln++;
        r = parse_line(c, line, path, ln, d);
        if (r == -ENOMEM) {
            bad = r;
            break;
        }
        if (r < 0)
            bad = -EINVAL;
    }
    free(text);
    if (bad) {
        cose_consumers_free(c);
        return bad;
    }
    *out = c;
    return 0;
}

int cose_consumers_verify(const struct cose_consumers *c, const char *principal, const uint8_t *msg,
                          size_t len, const uint8_t **payload, size_t *plen, const char **ctype,
                          const char **why)
{
    struct cose_msg m;
    *ctype = NULL;
    if (cose_decode(msg, len, COSE_SIGN1, &m) < 0) {
        *why = "this thing accepts commands only as a COSE_Sign1 signed by the consumer";
        return -EACCES;
    }
    if (!m.hdr.has_kid) {
        *why = "the COSE_Sign1 has no kid";
        return -EACCES;
    }
    const struct cose_consumer_key *k = c ? find(c, principal, m.hdr.kid, m.hdr.kid_len) : NULL;
    if (!k) {
        *why = "the COSE_Sign1's kid is not a registered key of this consumer";
        return -EACCES;
    }
    if (cose_sign1_verify(k->key, msg, len, NULL, &m) < 0 || m.detached) {
        *why = "the COSE_Sign1 does not verify with the consumer's key";
        return -EACCES;
    }
    *payload = m.payload;
    *plen = m.payload_len;
    if (m.hdr.has_ctype && !m.hdr.ctype_str && m.hdr.ctype <= 65535)
        *ctype = coap_format_to_type((int)m.hdr.ctype);
    return 0;
}
