/* fuzz_introspect.c - RFC 7662 introspection answers (jwt_introspection_parse):
 * any bytes give 1 with a usable principal (sub without control
 * characters, exp in the future, scopes that are RFC 6749 scope tokens),
 * 0 with a reason and no claims, or -EINVAL; never a crash, a leak or
 * undefined behaviour. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *auds[] = {"https://gw.test", "wotgw", NULL};
    static const struct issuer_conf conf = {
            .name = "intro",
            .iss = "https://intro.test",
            .audiences = auds,
            .algorithms = JWT_ALG_ES256,
            .leeway_s = 30,
    };
    const int64_t now = 1700000000;
    struct jwt_claims c;
    enum jwt_error why = JWT_OK;
    int r = jwt_introspection_parse(&conf, (const char *)data, size, now, &c, &why);
    if (r == 1) {
        if (why != JWT_OK || !c.sub || !*c.sub || strlen(c.sub) > JWT_MAX_SUB || !c.iss ||
            c.exp <= now || !c.scopes)
            abort();
        for (const char *p = c.sub; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                abort();
        for (size_t i = 0; c.scopes[i]; i++)
            if (!*c.scopes[i] || strchr(c.scopes[i], ' ') || i >= JWT_MAX_SCOPES)
                abort();
    } else if (r == 0) {
        if (why == JWT_OK || c.sub || c.scopes)
            abort();
    } else if (r != -EINVAL || c.sub) {
        abort();
    }
    jwt_claims_free(&c);
    return 0;
}
