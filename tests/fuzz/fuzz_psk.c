/* fuzz_psk.c - the CoAPS pre-shared keys file (auth/psk.c) on arbitrary
 * bytes: 0 or an explained -EINVAL, never a crash or a leak; whatever is
 * accepted keeps the documented bounds and is found again by identity. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/psk.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct diags d = {0};
    struct psk_store *s = NULL;
    int r = psk_parse("fuzz.psk", (const char *)data, size, &s, &d);
    if (r != 0 && r != -EINVAL && r != -EFBIG && r != -ENOMEM)
        abort();
    if ((r == 0) != (s != NULL))
        abort();
    if (r == -EINVAL && d.n_errors == 0)
        abort(); /* an error must be explained */
    if (s) {
        for (size_t i = 0; i < s->n; i++) {
            const struct psk_entry *e = &s->v[i];
            size_t il = strlen(e->identity);
            if (il == 0 || il > PSK_MAX_IDENTITY || e->key_len < PSK_MIN_KEY ||
                e->key_len > PSK_MAX_KEY)
                abort();
            if (psk_find(s, e->identity, il) != e)
                abort();
        }
        (void)psk_find(s, (const char *)data, size);
        psk_free(s);
    }
    diag_free(&d);
    return 0;
}
