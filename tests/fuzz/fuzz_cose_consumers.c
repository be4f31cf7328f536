/* fuzz_cose_consumers.c - the consumers' COSE keys file (cose_consumers.c,
 * [credentials] cose_keys) on arbitrary bytes: 0 or an explained error,
 * never a crash or a leak; whatever is accepted holds keys with a kid and
 * no private part of an asymmetric key, and a message made with none of
 * them is refused. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cose_consumers.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > COSE_CONSUMERS_FILE_MAX)
        return 0;
    struct diags d = {0};
    struct cose_consumers *c = NULL;
    int r = cose_consumers_parse("/nonexistent/fuzz.cose", (const char *)data, size, &c, &d);
    if (r != 0 && r != -EINVAL && r != -ENOMEM)
        abort();
    if ((r == 0) != (c != NULL))
        abort();
    if (r == -EINVAL && d.n_errors == 0)
        abort(); /* an error must be explained */
    if (c) {
        for (size_t i = 0; i < c->n; i++) {
            const struct cose_consumer_key *k = &c->v[i];
            if (!k->principal || !*k->principal || !k->key || !k->key->kid_len)
                abort();
        }
        /* the input itself as a command: refused unless it verifies */
        const uint8_t *pl;
        size_t pn;
        const char *ct, *why = NULL;
        for (size_t i = 0; i < c->n && i < 4; i++)
            if (cose_consumers_verify(c, c->v[i].principal, data, size, &pl, &pn, &ct, &why) < 0 &&
                !why)
                abort();
        cose_consumers_free(c);
    }
    diag_free(&d);
    return 0;
}
