/* fuzz_td.c - td_parse on arbitrary bytes, then every look-up on what
 * loaded; and td_resolve_uri on the input split at the first newline
 * (base, reference), checking that resolving a result again is a no-op. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "td.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void resolve(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return;
    char *s = malloc(size + 1);
    if (!s)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    char *nl = strchr(s, '\n');
    const char *base = NULL, *ref = s;
    if (nl) {
        *nl = '\0';
        base = s;
        ref = nl + 1;
    }
    char *out = NULL;
    if (td_resolve_uri(base, ref, &out) == 0) {
        char *again = NULL;
        if (td_resolve_uri(NULL, out, &again) != 0 || strcmp(again, out))
            abort();
        free(again);
    }
    free(out);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct td_limits lim = {.max_size = 1u << 20, .max_depth = 32};
    struct diags d = {0};
    struct td *td = NULL;
    int r = td_parse("fuzz.json", (const char *)data, size, &lim, &td, &d);
    if (r == 0) {
        if (!td || !td->id || !td->title)
            abort();
        for (size_t i = 0; i <= td->n_affs; i++) {
            const struct td_affordance *a = i < td->n_affs ? &td->affs[i] : NULL;
            if (a && td_find_name(td, a->name) == NULL)
                abort();
            uint32_t ops = td_ops(td, a);
            for (int op = 0; op < WOT_OP__COUNT; op++) {
                const struct td_form *f = td_find_form(td, a, (enum wot_op)op, op % 4 - 1);
                /* OSCORE passthrough forms count in td_ops() only */
                const struct td_form *of = td_find_oscore_form(td, a, op);
                if ((f != NULL || of != NULL) != ((ops >> op) & 1))
                    abort();
                if (f && (!f->supported || !strstr(f->href, "://") || f->oscore))
                    abort();
                if (of && (!of->oscore || strcmp(of->scheme, "coap") || !td->oscore_href))
                    abort();
            }
        }
        td_free(td);
    } else if (d.n_errors == 0 || td) {
        abort(); /* a refusal always says why */
    }
    diag_free(&d);
    resolve(data, size);
    return 0;
}
