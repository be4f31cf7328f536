/* main.c - the wotgw command line; see wotgw(8). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "state.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: wotgw [-c FILE] [-t] [-v] [--print-td THING] [--version] [-h]\n"
            "Web of Things security gateway. Runs in the foreground.\n\n"
            "  -c, --config FILE    configuration file (default %s)\n"
            "  -t, --test           check the configuration and every file it names, then exit\n"
            "  -v, --verbose        debug logging\n"
            "      --print-td THING print the exposed Thing Description of THING and exit\n"
            "      --version        print the version and exit\n"
            "  -h, --help           this help\n",
            WOTGW_DEFAULT_CONFIG);
}

/* -t: every problem as FILE:LINE: message on stderr, exit 1; or a one-line
 * summary on stdout, exit 0. */
static int check_config(const char *path)
{
    struct diags d = {0};
    struct gw_state *s = NULL;
    int r = state_load(path, &s, &d);
    /* What the front ends would refuse at start (unreadable certificate,
     * bad TLS priority...) is a configuration error too. */
    if (r >= 0 && daemon_check(s, &d) < 0 && d.n_errors == 0)
        r = -EINVAL;
    diag_print(&d, stderr);
    size_t errors = d.n_errors, warnings = d.n - d.n_errors;
    diag_free(&d);
    if (r < 0 || errors) {
        fprintf(stderr, "%s: %zu error%s, %zu warning%s\n", path, errors, errors == 1 ? "" : "s",
                warnings, warnings == 1 ? "" : "s");
        state_free(s);
        return EXIT_FAILURE;
    }
    printf("%s: configuration OK: %zu thing%s, %zu issuer%s, %zu user%s, %zu API key%s, "
           "%zu warning%s\n",
           path, s->n_things, s->n_things == 1 ? "" : "s", s->n_issuers,
           s->n_issuers == 1 ? "" : "s", s->users ? s->users->n : 0,
           s->users && s->users->n == 1 ? "" : "s", s->apikeys ? s->apikeys->n : 0,
           s->apikeys && s->apikeys->n == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
    state_free(s);
    return EXIT_SUCCESS;
}

static int print_td(const char *path, const char *name)
{
    struct diags d = {0};
    struct gw_state *s = NULL;
    int rc = EXIT_FAILURE;
    int r = state_load(path, &s, &d);
    if (r < 0) {
        diag_print(&d, stderr);
        goto out;
    }
    const struct thing *t = state_find_thing(s, name);
    if (!t) {
        diag_print(&d, stderr);
        fprintf(stderr, "wotgw: no thing '%s' is exposed by %s\n", name, path);
        goto out;
    }
    if (json_dumpf(t->exposed, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
        goto out;
    putchar('\n');
    rc = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
    diag_free(&d);
    state_free(s);
    return rc;
}

int main(int argc, char **argv)
{
    enum { OPT_PRINT_TD = 256, OPT_VERSION };
    static const struct option opts[] = {
            {"config", required_argument, NULL, 'c'},
            {"test", no_argument, NULL, 't'},
            {"verbose", no_argument, NULL, 'v'},
            {"print-td", required_argument, NULL, OPT_PRINT_TD},
            {"version", no_argument, NULL, OPT_VERSION},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    const char *config = WOTGW_DEFAULT_CONFIG, *td = NULL;
    bool test = false, verbose = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:tvh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 't': test = true; break;
        case 'v': verbose = true; break;
        case OPT_PRINT_TD: td = optarg; break;
        case OPT_VERSION: printf("wotgw %s\n", WOTGW_VERSION); return EXIT_SUCCESS;
        case 'h': usage(stdout); return EXIT_SUCCESS;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "wotgw: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    log_init(verbose);
    if (test)
        return check_config(config);
    if (td)
        return print_td(config, td);
    return daemon_run(config);
}
