/* fuzz_secexpr.c - sec_expr_parse on arbitrary bytes: never crashes, and
 * whatever parses has a canonical text that parses to itself with the
 * same scheme set. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char err[128];
    struct sec_expr *e = NULL;
    if (sec_expr_parse(s, &e, err, sizeof(err)) == 0) {
        struct sec_expr *e2 = NULL;
        if (sec_expr_parse(e->text, &e2, err, sizeof(err)) != 0)
            abort();
        if (strcmp(e->text, e2->text) || sec_expr_schemes(e) != sec_expr_schemes(e2))
            abort();
        sec_expr_free(e2);
        sec_expr_free(e);
    } else if (e || !memchr(err, '\0', sizeof(err))) {
        abort();
    }
    free(s);
    return 0;
}
