/* fuzz_oscore_ctx.c - the OSCORE security contexts file (auth/oscore_ctx.c)
 * on arbitrary bytes: 0 or an explained -EINVAL, never a crash or a leak;
 * whatever is accepted keeps the documented bounds, is found again by
 * name, agrees with oscore_ctx_check_line() and gives parameters that
 * oscore_ctx_new() accepts. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/oscore_ctx.h"
#include "objsec/oscore.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct diags d = {0};
    struct oscore_ctx_store *s = NULL;
    int r = oscore_ctx_parse("fuzz.oscore", (const char *)data, size, &s, &d);
    if (r != 0 && r != -EINVAL && r != -EFBIG && r != -ENOMEM)
        abort();
    if ((r == 0) != (s != NULL))
        abort();
    if (r == -EINVAL && d.n_errors == 0)
        abort(); /* an error must be explained */
    if (s) {
        for (size_t i = 0; i < s->n; i++) {
            const struct oscore_ctx_entry *e = &s->v[i];
            size_t nl = strlen(e->name);
            if (nl == 0 || nl > OSCORE_CTX_MAX_NAME || e->sender_id_len > OSCORE_MAX_ID ||
                e->recipient_id_len > OSCORE_MAX_ID || e->id_context_len > OSCORE_MAX_ID_CONTEXT ||
                e->master_secret_len < OSCORE_CTX_MIN_SECRET ||
                e->master_secret_len > OSCORE_MAX_MASTER_SECRET ||
                e->master_salt_len > OSCORE_MAX_MASTER_SALT ||
                (!e->has_id_context && e->id_context_len))
                abort();
            if (i && strcmp(s->v[i - 1].name, e->name) >= 0)
                abort(); /* sorted, no duplicates */
            if (oscore_ctx_find(s, e->name) != e)
                abort();
            struct oscore_ctx_params p;
            struct oscore_ctx *c = NULL;
            oscore_ctx_entry_params(e, &p);
            if (oscore_ctx_new(&p, &c) != 0)
                abort();
            oscore_ctx_free(c);
        }
        oscore_ctx_store_free(s);
    }
    /* the whole input as one line */
    char *line = malloc(size + 1);
    if (line) {
        memcpy(line, data, size);
        line[size] = '\0';
        char err[200];
        (void)oscore_ctx_check_line(line, err, sizeof(err));
        free(line);
    }
    diag_free(&d);
    return 0;
}
