/* main.c - wotgw-simdev, the simulated nosec device of the demo, the tests
 * and the benchmark (usage in tests/sim/README.md).
 *
 *   wotgw-simdev --listen 127.0.0.1:PORT [--coap-listen 127.0.0.1:PORT]
 *                [--oscore-contexts FILE] [--write-tds DIR] [--print-td THING]
 *                [--slow-ms N] [--event-interval-ms N] [-q]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coap.h"
#include "http.h"
#include "td.h"
#include "things.h"
#include "util.h"

#define PROG "wotgw-simdev"

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " --listen ADDR:PORT [--coap-listen ADDR:PORT]\n"
               "                    [--oscore-contexts FILE] [--write-tds DIR] [--print-td THING]\n"
               "                    [--slow-ms N] [--event-interval-ms N] [-q]\n"
               "  ADDR is an IPv4 address or [IPv6]; things: lamp, thermometer, faulty\n");
}

struct listen_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char host[INET6_ADDRSTRLEN + 2]; /* as in a URL: "127.0.0.1" or "[::1]" */
    unsigned port;
};

static int parse_listen(const char *s, struct listen_addr *la)
{
    char host[INET6_ADDRSTRLEN];
    const char *colon;
    memset(la, 0, sizeof(*la));
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    uint64_t port;
    if (util_parse_uint(colon + 1, 0, 65535, &port) < 0)
        return -EINVAL;
    la->port = (unsigned)port;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&la->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&la->ss;
    if (s[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        la->len = sizeof(*v4);
        snprintf(la->host, sizeof(la->host), "%s", host);
    } else if (s[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        la->len = sizeof(*v6);
        snprintf(la->host, sizeof(la->host), "[%s]", host);
    } else {
        return -EINVAL;
    }
    return 0;
}

static int open_listener(struct listen_addr *la)
{
    int fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (la->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&la->ss, la->len) < 0 || listen(fd, 511) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof(got);
    if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0)
        la->port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                   : ((struct sockaddr_in *)&got)->sin_port);
    return fd;
}

/* kind: 0 HTTP, 1 CoAP, 2 CoAP with OSCORE */
static char *td_text(const struct sim_thing *t, const char *authority, int kind)
{
    json_t *td = kind == 2   ? sim_td_oscore(t, authority)
                 : kind == 1 ? sim_td_coap(t, authority)
                             : sim_td(t, authority);
    if (!td)
        return NULL;
    char *txt = json_dumps(td, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(td);
    if (!txt)
        return NULL;
    char *out = NULL;
    if (asprintf(&out, "%s\n", txt) < 0)
        out = NULL;
    free(txt);
    return out;
}

/* DIR/THING.td.json, and with a CoAP authority DIR/coap-THING.td.json
 * (with OSCORE: DIR/oscore-THING.td.json instead). */
static int write_tds(const char *dir, const char *authority, const char *coap_authority,
                     bool oscore)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, PROG ": %s: %s\n", dir, strerror(errno));
        return -errno;
    }
    for (size_t i = 0; i < 2 * sim_n_things(); i++) {
        const struct sim_thing *t = sim_thing_at(i % sim_n_things());
        bool coap = i >= sim_n_things();
        if (coap && !coap_authority)
            break;
        char name[64];
        snprintf(name, sizeof(name), "%s%s.td.json", coap ? (oscore ? "oscore-" : "coap-") : "",
                 t->name);
        char *path = util_path_join(dir, name);
        char *txt = td_text(t, coap ? coap_authority : authority, coap ? (oscore ? 2 : 1) : 0);
        int r = path && txt ? util_write_file_atomic(path, txt, strlen(txt), 0644) : -ENOMEM;
        if (r < 0)
            fprintf(stderr, PROG ": %s: %s\n", path ? path : name, strerror(-r));
        free(path);
        free(txt);
        if (r < 0)
            return r;
    }
    return 0;
}

static int print_td(const char *thing, const char *authority)
{
    const struct sim_thing *t = sim_find_thing(thing, strlen(thing));
    if (!t) {
        fprintf(stderr, PROG ": no thing '%s' (lamp, thermometer, faulty)\n", thing);
        return -ENOENT;
    }
    char *txt = td_text(t, authority, 0);
    if (!txt)
        return -ENOMEM;
    fputs(txt, stdout);
    free(txt);
    return fflush(stdout) == 0 ? 0 : -EIO;
}

static int serve(struct listen_addr *la, struct listen_addr *cl, const char *oscore,
                 const struct sim_config *cfg, bool quiet)
{
    sd_event *ev = NULL;
    struct sim_http *h = NULL;
    struct sim_coap *co = NULL;
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGTERM);
    sigaddset(&ss, SIGINT);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    signal(SIGPIPE, SIG_IGN);
    int r = sd_event_new(&ev);
    if (r < 0)
        goto out;
    if ((r = sd_event_add_signal(ev, NULL, SIGTERM, NULL, NULL)) < 0 ||
        (r = sd_event_add_signal(ev, NULL, SIGINT, NULL, NULL)) < 0)
        goto out;
    if ((r = sim_init(ev, cfg)) < 0)
        goto out;
    int fd = open_listener(la);
    if (fd < 0) {
        r = fd;
        fprintf(stderr, PROG ": cannot listen on %s:%u: %s\n", la->host, la->port, strerror(-r));
        goto out;
    }
    if ((r = sim_http_start(ev, fd, quiet, &h)) < 0)
        goto out;
    printf(PROG ": listening on http://%s:%u\n", la->host, la->port);
    if (cl) {
        if ((r = sim_coap_start(ev, (struct sockaddr *)&cl->ss, cl->len, quiet, oscore, &co)) < 0) {
            fprintf(stderr, PROG ": cannot listen on coap://%s:%u: %s\n", cl->host, cl->port,
                    strerror(-r));
            goto out;
        }
        printf(PROG ": listening on coap://%s:%u\n", cl->host, cl->port);
    }
    fflush(stdout);
    r = sd_event_loop(ev);
out:
    if (r < 0)
        fprintf(stderr, PROG ": %s\n", strerror(-r));
    sim_coap_stop(co);
    sim_http_stop(h);
    sim_fini();
    sd_event_unref(ev);
    return r;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
            {"listen", required_argument, NULL, 'l'},
            {"coap-listen", required_argument, NULL, 'c'},
            {"oscore-contexts", required_argument, NULL, 'o'},
            {"write-tds", required_argument, NULL, 'w'},
            {"print-td", required_argument, NULL, 'p'},
            {"slow-ms", required_argument, NULL, 's'},
            {"event-interval-ms", required_argument, NULL, 'e'},
            {"quiet", no_argument, NULL, 'q'},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    const char *listen_s = NULL, *coap_s = NULL, *tds_dir = NULL, *print = NULL, *oscore = NULL;
    struct sim_config cfg = {.slow_ms = SIM_DEFAULT_SLOW, .event_interval_ms = SIM_DEFAULT_EVENTS};
    bool quiet = false;
    uint64_t v;
    int c;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen_s = optarg; break;
        case 'c': coap_s = optarg; break;
        case 'o': oscore = optarg; break;
        case 'w': tds_dir = optarg; break;
        case 'p': print = optarg; break;
        case 's':
        case 'e':
            if (util_parse_uint(optarg, 0, 24ull * 3600 * 1000, &v) < 0) {
                fprintf(stderr, PROG ": --%s: not a number of milliseconds: %s\n",
                        c == 's' ? "slow-ms" : "event-interval-ms", optarg);
                return 2;
            }
            if (c == 's')
                cfg.slow_ms = v;
            else
                cfg.event_interval_ms = v;
            break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !listen_s) {
        usage(stderr);
        return 2;
    }
    if (oscore && !coap_s) {
        fprintf(stderr, PROG ": --oscore-contexts needs --coap-listen\n");
        return 2;
    }
    struct listen_addr la;
    if (parse_listen(listen_s, &la) < 0) {
        fprintf(stderr, PROG ": --listen: expected IPv4:PORT or [IPv6]:PORT, got '%s'\n", listen_s);
        return 2;
    }
    char authority[sizeof(la.host) + 8];
    snprintf(authority, sizeof(authority), "%s:%u", la.host, la.port);
    struct listen_addr cl;
    char coap_authority[sizeof(cl.host) + 16];
    if (coap_s) {
        if (parse_listen(coap_s, &cl) < 0 || cl.port == 0) {
            fprintf(stderr,
                    PROG
                    ": --coap-listen: expected IPv4:PORT or [IPv6]:PORT (not port 0), got '%s'\n",
                    coap_s);
            return 2;
        }
        snprintf(coap_authority, sizeof(coap_authority), "%s:%u", cl.host, cl.port);
    }
    if (tds_dir || print) {
        if (la.port == 0) {
            fprintf(stderr, PROG ": TDs need the real port, not 0\n");
            return 2;
        }
        int r = sim_init(NULL, &cfg);
        if (r >= 0 && tds_dir)
            r = write_tds(tds_dir, authority, coap_s ? coap_authority : NULL, oscore != NULL);
        if (r >= 0 && print)
            r = print_td(print, authority);
        sim_fini();
        return r < 0 ? 1 : 0;
    }
    return serve(&la, coap_s ? &cl : NULL, oscore, &cfg, quiet) < 0 ? 1 : 0;
}
