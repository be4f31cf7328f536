/* fuzz_jwks.c - JWK Set parsing: any bytes give 0 with at least one
 * usable key, or an error explained in the diagnostics; never a crash, a
 * leak or undefined behaviour. The first byte, when present, selects the
 * allowed algorithms (low three bits). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct diags d = {0};
    struct jwks *k = NULL;
    if (size < 1)
        return 0;
    unsigned allowed = data[0] & 7u;
    int r = jwks_parse("fuzz.jwks", (const char *)data + 1, size - 1, allowed, &k, &d);
    if ((r == 0) != (k != NULL))
        abort();
    if (r < 0 && r != -ENOMEM && d.n_errors == 0)
        abort(); /* an error must be explained */
    if (k) {
        if (k->n == 0 || k->n > JWKS_MAX_KEYS)
            abort();
        for (size_t i = 0; i < k->n; i++)
            if (!k->v[i].pkey || !(k->v[i].alg & allowed))
                abort();
    }
    jwks_free(k);
    diag_free(&d);
    return 0;
}
