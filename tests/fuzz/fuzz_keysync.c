/* fuzz_keysync.c - the broker plugin's side of auth/keysync.h: any bytes
 * give 0 with a document or -EINVAL with a reason; never a crash, a leak
 * or undefined behaviour. On success every revoked entry of the input is
 * found again by keysync_revoked() (the sort and the search agree), a few
 * other jtis are looked up, and the document is applied to a small
 * hand-made set of issuers (a local one, two jwks_uri ones, a jwks = FILE
 * one), which also runs the key set texts through jwks_parse(). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/jwt.h"
#include "auth/keysync.h"
#include "state.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_revoked(const struct keysync *k, const char *buf, size_t len)
{
    json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    const char *iss = json_string_value(json_object_get(doc, "revoked_iss"));
    size_t i;
    json_t *v;
    if (!doc)
        abort(); /* keysync_parse accepted what jansson refuses */
    json_array_foreach(json_object_get(doc, "revoked"), i, v)
    {
        const char *jti = json_string_value(json_array_get(v, 0));
        if (!jti || !*jti || strlen(jti) > KEYSYNC_MAX_JTI)
            abort();
        if (keysync_revoked(k, iss, jti) != (iss != NULL))
            abort();
    }
    if (json_array_size(json_object_get(doc, "revoked")) != keysync_n_revoked(k) ||
        json_array_size(json_object_get(doc, "issuers")) != keysync_n_issuers(k))
        abort();
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *auds[] = {"https://gw.test", NULL};
    static const struct issuer_conf confs[] = {
            {.name = "ext",
             .iss = "https://ext.test",
             .jwks_uri = "https://127.0.0.1:1/jwks",
             .audiences = auds,
             .algorithms = JWT_ALG_ES256 | JWT_ALG_EDDSA | JWT_ALG_RS256},
            {.name = "late",
             .iss = "https://late.test",
             .jwks_uri = "https://127.0.0.1:2/jwks",
             .audiences = auds,
             .algorithms = JWT_ALG_ES256},
            {.name = "file",
             .iss = "https://file.test",
             .jwks = "/nonexistent/file.jwks",
             .audiences = auds,
             .algorithms = JWT_ALG_ES256},
            {.name = "local",
             .iss = "https://gw.test:8443",
             .audiences = auds,
             .algorithms = JWT_ALG_ES256 | JWT_ALG_EDDSA,
             .local = true},
    };
    struct keysync *k = (struct keysync *)1;
    const char *why = NULL;
    int r = keysync_parse((const char *)data, size, &k, &why);
    if ((r == 0) != (k != NULL) || !why)
        abort();
    if (r < 0) {
        if (r != -EINVAL && r != -ENOMEM)
            abort();
        return 0;
    }
    if (keysync_n_issuers(k) > KEYSYNC_MAX_ISSUERS || keysync_n_revoked(k) > KEYSYNC_MAX_REVOKED)
        abort();
    check_revoked(k, (const char *)data, size);
    static const char *const jtis[] = {"", "a", "jti-1",
                                       "0123456789012345678901234567890123456789"
                                       "012345678901234567890123x"};
    for (size_t i = 0; i < sizeof(jtis) / sizeof(*jtis); i++) {
        (void)keysync_revoked(k, "https://gw.test:8443", jtis[i]);
        (void)keysync_revoked(k, "", jtis[i]);
        if (keysync_revoked(k, NULL, jtis[i]) || keysync_revoked(NULL, "x", jtis[i]))
            abort();
    }
    if (keysync_revoked(k, "https://gw.test:8443", jtis[3]))
        abort(); /* overlong: never revoked */

    /* applied twice: the second time changes nothing */
    struct jwt_issuer iss[sizeof(confs) / sizeof(*confs)] = {0};
    for (size_t i = 0; i < sizeof(confs) / sizeof(*confs); i++)
        iss[i].conf = &confs[i];
    struct gw_state s = {.issuers = iss, .n_issuers = sizeof(confs) / sizeof(*confs)};
    struct diags d = {0};
    size_t n = keysync_apply(k, &s, &d);
    if (n > s.n_issuers || iss[2].keys)
        abort(); /* a jwks = FILE issuer never takes keys from the document */
    struct jwks *before[sizeof(confs) / sizeof(*confs)];
    for (size_t i = 0; i < s.n_issuers; i++)
        before[i] = iss[i].keys;
    if (keysync_apply(k, &s, &d) != n)
        abort();
    for (size_t i = 0; i < s.n_issuers; i++) {
        if (before[i] && iss[i].keys != before[i])
            abort();
        jwks_free(iss[i].keys);
    }
    diag_free(&d);
    keysync_free(k);
    return 0;
}
