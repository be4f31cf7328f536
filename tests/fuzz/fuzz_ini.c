/* fuzz_ini.c - the INI reader and the config validation on top of it:
 * any bytes must give 0 or -EINVAL with diagnostics, never a crash, a
 * leak or undefined behaviour. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ini.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct diags d = {0};
    struct ini_file f;
    int r = ini_parse("fuzz.conf", text, size, &f, &d);
    if (r != 0 && r != -EINVAL && r != -ENOMEM)
        abort();
    if (r == -EINVAL && d.n_errors == 0)
        abort(); /* an error must be explained */
    if (r != -ENOMEM) {
        char label[INI_SECTION_LABEL_MAX];
        for (size_t i = 0; i < f.n_sections; i++) {
            if (ini_section_label(&f.sections[i], label, sizeof(label)) < 0)
                abort(); /* the documented maximum must hold */
            (void)ini_get(&f.sections[i], "td");
        }
        ini_report_unused(&f, &d);
        ini_free(&f);
    }
    diag_free(&d);

    struct config *c = NULL;
    r = config_parse("fuzz.conf", text, size, &c, &d);
    if ((r == 0) != (c != NULL))
        abort();
    if (r == -EINVAL && d.n_errors == 0)
        abort();
    if (c) {
        if (!c->base_url || !c->realm || !c->td_dir || !c->state_dir ||
            !c->credentials.apikey_header || !c->https.listen)
            abort(); /* what a successful load promises */
        for (size_t i = 0; i < c->n_things; i++)
            if (!c->things[i].td || config_find_thing(c, c->things[i].name) != &c->things[i])
                abort();
        for (size_t i = 0; i < c->n_issuers; i++)
            if (!c->issuers[i].iss || !c->issuers[i].jwks || !c->issuers[i].audiences ||
                !c->issuers[i].audiences[0])
                abort();
        ini_report_unused(&c->ini, &d);
        config_free(c);
    }
    diag_free(&d);
    return 0;
}
