/* fuzz_oauth_form.c - the authorization server's parsers on arbitrary
 * bytes: form_parse (bodies and queries) never crashes, what parses obeys
 * the limits and re-encodes to a form that parses to the same pairs; the
 * same bytes as a clients-file line and as a user code. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/as_internal.h"
#include "oauth/clients.h"
#include "oauth/form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct form f = {0}, g = {0};
    const char *why = NULL;
    int r = form_parse((const char *)data, size, &f, &why);
    if (r == 0) {
        if (f.n > FORM_MAX_PARAMS)
            abort();
        struct sbuf b = {.max = 4 * FORM_MAX_INPUT};
        for (size_t i = 0; i < f.n; i++) {
            if (!f.v[i].name[0] || strlen(f.v[i].name) > FORM_MAX_NAME ||
                f.v[i].value_len > FORM_MAX_VALUE || strlen(f.v[i].value) != f.v[i].value_len)
                abort();
            for (size_t k = 0; k < i; k++)
                if (!strcmp(f.v[i].name, f.v[k].name))
                    abort();
            if (i)
                sb_puts(&b, "&");
            sb_urlenc(&b, f.v[i].name);
            sb_puts(&b, "=");
            sb_urlenc(&b, f.v[i].value);
        }
        size_t n = 0;
        char *s = sb_steal(&b, &n);
        if (!s)
            abort();
        /* percent-encoding can triple the length past the input limit */
        if (n <= FORM_MAX_INPUT) {
            if (form_parse(s, n, &g, &why) != 0 || g.n != f.n)
                abort();
            for (size_t i = 0; i < f.n; i++)
                if (strcmp(f.v[i].name, g.v[i].name) || strcmp(f.v[i].value, g.v[i].value))
                    abort();
            form_free(&g);
        }
        free(s);
        form_free(&f);
    } else if (f.n || f.v || !why) {
        abort();
    }

    if (size <= 4096) {
        char *line = malloc(size + 1);
        if (!line)
            return 0;
        memcpy(line, data, size);
        line[size] = '\0';
        char err[256];
        (void)clients_check_line(line, err, sizeof(err));
        char uc[AS_USER_CODE_LEN + 1];
        if (as_user_code_norm(line, uc) && strlen(uc) != AS_USER_CODE_LEN)
            abort();
        free(line);
    }
    return 0;
}
