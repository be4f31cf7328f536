/* test_config.c - config.c: every key, defaults, diagnostics with lines,
 * path resolution, and the shipped example configuration. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "util.h"

#define INLINE "tests/data/config/inline.conf"

static char datadir[PATH_MAX]; /* absolute tests/data/config */

static void dump(const struct diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "  diag: %s:%u: %s%s\n", d->v[i].file, d->v[i].line,
                d->v[i].warning ? "warning: " : "", d->v[i].msg);
}

static void expect_diag_in(const struct diags *d, const char *file, unsigned line,
                           const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].line == line && strstr(d->v[i].msg, needle) && !strcmp(d->v[i].file, file))
            return;
    fprintf(stderr, "expected diag %s:%u containing '%s', got:\n", file, line, needle);
    dump(d);
    fail();
}

static void expect_diag(const struct diags *d, unsigned line, const char *needle)
{
    expect_diag_in(d, INLINE, line, needle);
}

static void expect_clean(const struct diags *d)
{
    if (d->n) {
        dump(d);
        fail();
    }
}

/* Parses text as tests/data/config/inline.conf. */
static int parse(const char *text, struct config **c, struct diags *d)
{
    return config_parse(INLINE, text, strlen(text), c, d);
}

/* Parses text that must load without any diagnostic. */
static struct config *good(const char *text)
{
    struct config *c = NULL;
    struct diags d = {0};
    int r = parse(text, &c, &d);
    if (r != 0 || d.n) {
        fprintf(stderr, "config failed to load (%d):\n%s\n", r, text);
        dump(&d);
        fail();
    }
    diag_free(&d);
    return c;
}

/* Parses text that must load without an error (warnings allowed). */
static struct config *no_error(const char *text)
{
    struct config *c = NULL;
    struct diags d = {0};
    int r = parse(text, &c, &d);
    if (r != 0 || d.n_errors) {
        fprintf(stderr, "config failed to load (%d):\n%s\n", r, text);
        dump(&d);
        fail();
    }
    diag_free(&d);
    return c;
}

/* Parses text that must fail with (at least) the given error at line. */
static void bad(const char *text, unsigned line, const char *needle)
{
    struct config *c = (struct config *)1;
    struct diags d = {0};
    assert_int_equal(parse(text, &c, &d), -EINVAL);
    assert_null(c);
    assert_true(d.n_errors >= 1);
    expect_diag(&d, line, needle);
    diag_free(&d);
}

static char *in_data(const char *rel)
{
    char *s = NULL;
    assert_true(asprintf(&s, "%s/%s", datadir, rel) > 0);
    return s;
}

static void assert_path(const char *got, const char *rel)
{
    char *want = in_data(rel);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(want);
}

static int setup(void **state)
{
    return realpath("tests/data/config", datadir) ? 0 : -1;
}

/* ---- the shipped example ----------------------------------------------------- */

static void test_example_config(void **state)
{
    struct config *c = NULL;
    struct diags d = {0};
    assert_int_equal(config_load("conf/wotgw.conf", &c, &d), 0);
    expect_clean(&d);
    assert_non_null(c);
    assert_true(c->https.enabled);
    assert_int_equal(c->https.n_listen, 2);
    assert_string_equal(c->base_url, "https://gateway.home.example:8443");
    assert_int_equal(c->n_issuers, 1);
    assert_string_equal(c->issuers[0].flow, "code");
    assert_int_equal(c->n_things, 2);
    const struct thing_conf *lamp = config_find_thing(c, "lamp");
    const struct thing_conf *therm = config_find_thing(c, "thermometer");
    assert_non_null(lamp);
    assert_non_null(therm);
    assert_true(strstr(lamp->td, "/conf/things/lamp.td.json") != NULL);
    assert_true(strstr(c->https.certificate, "/conf/tls/server.crt") != NULL);
    /* the policy keys are left for policy_thing_compile */
    ini_report_unused(&c->ini, &d);
    assert_true(d.n_errors >= 8);
    for (size_t i = 0; i < d.n; i++)
        assert_true(strstr(d.v[i].msg, "'security") || strstr(d.v[i].msg, "'allow") ||
                    strstr(d.v[i].msg, "'scopes"));
    diag_free(&d);
    config_free(c);
}

/* ---- defaults and every key ----------------------------------------------------- */

static void test_defaults(void **state)
{
    struct config *c = good("# nothing but a comment\n");
    assert_string_equal(c->path, INLINE);
    assert_string_equal(c->dir, datadir);
    assert_path(c->td_dir, "things");
    assert_string_equal(c->state_dir, "/var/lib/wotgw");
    assert_string_equal(c->base_url, "https://localhost:8443");
    assert_string_equal(c->realm, "wotgw");
    assert_false(c->debug);
    assert_false(c->https.enabled);
    assert_int_equal(c->https.n_listen, 0);
    assert_non_null(c->https.listen);
    assert_null(c->https.listen[0]);
    assert_null(c->credentials.users);
    assert_null(c->credentials.apikeys);
    assert_null(c->credentials.cert_identities);
    assert_string_equal(c->credentials.apikey_header, "X-API-Key");
    const struct limits *l = &c->limits;
    assert_int_equal(l->max_body_size, LIMIT_DEFAULT_MAX_BODY);
    assert_int_equal(l->max_header_size, LIMIT_DEFAULT_MAX_HEADER);
    assert_int_equal(l->max_connections, LIMIT_DEFAULT_MAX_CONNECTIONS);
    assert_int_equal(l->max_pending_requests, LIMIT_DEFAULT_MAX_PENDING);
    assert_int_equal(l->device_timeout_us, LIMIT_DEFAULT_DEVICE_TIMEOUT);
    assert_int_equal(l->max_json_depth, LIMIT_DEFAULT_MAX_JSON_DEPTH);
    assert_int_equal(l->max_token_size, LIMIT_DEFAULT_MAX_TOKEN);
    assert_int_equal(l->max_td_size, LIMIT_DEFAULT_MAX_TD);
    assert_int_equal(l->max_streams, LIMIT_DEFAULT_MAX_STREAMS);
    assert_int_equal(l->idle_timeout_us, LIMIT_DEFAULT_CONN_TIMEOUT);
    assert_int_equal(c->n_issuers, 0);
    assert_int_equal(c->n_things, 0);
    assert_null(config_find_thing(c, "lamp"));
    assert_null(config_find_issuer(c, "idp"));
    config_free(c);
    config_free(NULL);

    /* [https] defaults */
    c = good("[https]\ncertificate = c.pem\nkey = k.pem\n");
    assert_true(c->https.enabled);
    assert_int_equal(c->https.line, 1);
    assert_int_equal(c->https.n_listen, 1);
    assert_string_equal(c->https.listen[0], "0.0.0.0:8443");
    assert_null(c->https.listen[1]);
    assert_int_equal(c->https.tls_min, TLS_MIN_1_3);
    assert_null(c->https.client_ca);
    assert_path(c->https.certificate, "c.pem");
    assert_path(c->https.key, "k.pem");
    assert_string_equal(c->base_url, "https://localhost:8443");
    config_free(c);

    /* [issuer] defaults */
    c = good("[issuer a]\nissuer = https://a.example\njwks = a.jwks\naudience = gw\n");
    const struct issuer_conf *ic = config_find_issuer(c, "a");
    assert_non_null(ic);
    assert_int_equal(ic->line, 1);
    assert_string_equal(ic->name, "a");
    assert_int_equal(ic->algorithms, JWT_ALG_ES256 | JWT_ALG_EDDSA);
    assert_int_equal(ic->leeway_s, 30);
    assert_null(ic->flow);
    assert_null(ic->token_url);
    assert_null(ic->authorization_url);
    assert_null(ic->device_authorization_url);
    assert_path(ic->jwks, "a.jwks");
    assert_int_equal(ic->jwks_line, 3);
    config_free(c);
}

static void test_good_file(void **state)
{
    struct config *c = NULL;
    struct diags d = {0};
    assert_int_equal(config_load("tests/data/config/good.conf", &c, &d), 0);
    expect_clean(&d);
    assert_string_equal(c->path, "tests/data/config/good.conf");
    assert_string_equal(c->dir, datadir);
    /* [gateway] */
    assert_path(c->td_dir, "devices");
    assert_path(c->state_dir, "state");
    assert_string_equal(c->base_url, "https://gw.example.org:9443/wot");
    assert_string_equal(c->realm, "home gateway");
    assert_true(c->debug);
    /* [https] */
    assert_true(c->https.enabled);
    assert_int_equal(c->https.line, 10);
    assert_int_equal(c->https.n_listen, 2);
    assert_string_equal(c->https.listen[0], "127.0.0.1:9443");
    assert_string_equal(c->https.listen[1], "[::1]:9443");
    assert_path(c->https.certificate, "tls/server.crt");
    assert_string_equal(c->https.key, "/etc/wotgw/tls/server.key");
    assert_path(c->https.client_ca, "tls/ca.crt");
    assert_int_equal(c->https.tls_min, TLS_MIN_1_2);
    /* [limits] */
    const struct limits *l = &c->limits;
    assert_int_equal(l->max_body_size, 64 * 1024);
    assert_int_equal(l->max_header_size, 32 * 1024);
    assert_int_equal(l->max_connections, 100);
    assert_int_equal(l->max_pending_requests, 200);
    assert_int_equal(l->device_timeout_us, 2500000);
    assert_int_equal(l->max_json_depth, 16);
    assert_int_equal(l->max_token_size, 4096);
    assert_int_equal(l->max_td_size, 2 * 1024 * 1024);
    assert_int_equal(l->max_streams, 8);
    assert_int_equal(l->idle_timeout_us, 120000000);
    /* [credentials] */
    assert_path(c->credentials.users, "users");
    assert_int_equal(c->credentials.users_line, 30);
    assert_string_equal(c->credentials.apikeys, "/etc/wotgw/apikeys");
    assert_int_equal(c->credentials.apikeys_line, 31);
    assert_path(c->credentials.cert_identities, "certs.map");
    assert_int_equal(c->credentials.cert_identities_line, 32);
    assert_string_equal(c->credentials.apikey_header, "X-Gateway-Key");
    /* [issuer idp] */
    assert_int_equal(c->n_issuers, 2);
    const struct issuer_conf *ic = config_find_issuer(c, "idp");
    assert_non_null(ic);
    assert_int_equal(ic->line, 35);
    assert_string_equal(ic->iss, "https://idp.example.org/realms/home");
    assert_path(ic->jwks, "keys/idp.jwks.json");
    assert_int_equal(ic->jwks_line, 37);
    assert_string_equal(ic->audiences[0], "https://gw.example.org:9443");
    assert_string_equal(ic->audiences[1], "wotgw");
    assert_null(ic->audiences[2]);
    assert_int_equal(ic->algorithms, JWT_ALG_RS256 | JWT_ALG_EDDSA);
    assert_int_equal(ic->leeway_s, 60);
    assert_string_equal(ic->authorization_url, "https://idp.example.org/auth?tenant=home");
    assert_string_equal(ic->token_url, "https://idp.example.org/token");
    assert_string_equal(ic->device_authorization_url, "https://idp.example.org/device");
    assert_string_equal(ic->flow, "device");
    ic = config_find_issuer(c, "other");
    assert_non_null(ic);
    assert_string_equal(ic->jwks, "/srv/other.jwks");
    assert_null(config_find_issuer(c, "nosuch"));
    /* [thing ...]: td relative to td_dir */
    assert_int_equal(c->n_things, 2);
    const struct thing_conf *t = config_find_thing(c, "lamp");
    assert_non_null(t);
    assert_int_equal(t->line, 51);
    assert_path(t->td, "devices/lamp.td.json");
    assert_int_equal(t->td_line, 52);
    assert_non_null(t->section);
    assert_string_equal(t->section->name, "lamp");
    t = config_find_thing(c, "sensor.2_a~b-c");
    assert_non_null(t);
    assert_string_equal(t->td, "/srv/tds/sensor.json");

    /* everything but the policy keys is marked used */
    ini_report_unused(&c->ini, &d);
    assert_int_equal(d.n_errors, 5);
    expect_diag_in(&d, "tests/data/config/good.conf", 53, "unknown key 'security' in [thing lamp]");
    expect_diag_in(&d, "tests/data/config/good.conf", 56, "'security.brightness.readproperty'");
    expect_diag_in(&d, "tests/data/config/good.conf", 60,
                   "unknown key 'allow.x' in [thing sensor.2_a~b-c]");
    diag_free(&d);
    config_free(c);
}

static void test_crlf_file(void **state)
{
    struct config *c = NULL;
    struct diags d = {0};
    assert_int_equal(config_load("tests/data/config/crlf.conf", &c, &d), 0);
    expect_clean(&d);
    assert_string_equal(c->realm, "crlf");
    assert_path(c->things[0].td, "things/lamp.td.json");
    config_free(c);
}

/* ---- [gateway] ------------------------------------------------------------------ */

static void test_gateway(void **state)
{
    struct config *c;
    c = good("[gateway]\ntd_dir = /srv/tds\nstate_dir = /tmp/st\nlog_level = info\n");
    assert_string_equal(c->td_dir, "/srv/tds");
    assert_string_equal(c->state_dir, "/tmp/st");
    assert_false(c->debug);
    config_free(c);
    c = good("[gateway]\nbase_url = HTTPS://[2001:db8::1]:443\n");
    assert_string_equal(c->base_url, "HTTPS://[2001:db8::1]:443");
    config_free(c);
    c = good("[gateway]\nbase_url = https://gw.example/\n");
    assert_string_equal(c->base_url, "https://gw.example");
    config_free(c);
    c = good("[gateway]\nbase_url = https://gw.example/a%20b/c//\n");
    assert_string_equal(c->base_url, "https://gw.example/a%20b/c");
    config_free(c);

    bad("[gateway]\nbase_url = http://gw.example\n", 2, "must start with https://");
    bad("[gateway]\nbase_url = gw.example:8443\n", 2, "must start with https://");
    bad("[gateway]\nbase_url = https://user:pw@gw.example\n", 2, "user information");
    bad("[gateway]\nbase_url = https://gw.example/#x\n", 2, "fragment");
    bad("[gateway]\nbase_url = https://gw.example/?x=1\n", 2, "query");
    bad("[gateway]\nbase_url = https://gw.example:0\n", 2, "invalid port");
    bad("[gateway]\nbase_url = https://gw.example:65536\n", 2, "invalid port");
    bad("[gateway]\nbase_url = https://gw.example:\n", 2, "invalid port");
    bad("[gateway]\nbase_url = https://gw.example:8x\n", 2, "invalid port");
    bad("[gateway]\nbase_url = https://\n", 2, "no host");
    bad("[gateway]\nbase_url = https:///path\n", 2, "no host");
    bad("[gateway]\nbase_url = https://gw_example\n", 2, "invalid character in the host");
    bad("[gateway]\nbase_url = https://[::1\n", 2, "[IPv6]");
    bad("[gateway]\nbase_url = https://[zz::1]/\n", 2, "[IPv6]");
    bad("[gateway]\nbase_url = https://[::1]x/\n", 2, "after the [IPv6] host");
    bad("[gateway]\nbase_url = https://gw.example/a b\n", 2, "percent-encoded");
    bad("[gateway]\nbase_url = https://gw.example/%zz\n", 2, "percent-encoding");
    bad("[gateway]\nbase_url = https://gw.example/\xc3\xa9\n", 2, "percent-encoded");
    bad("[gateway]\nbase_url =\n", 2, "base_url: empty value");
    bad("[gateway]\nrealm = say \"hi\"\n", 2, "realm: at most 128 printable ASCII");
    bad("[gateway]\nrealm = caf\xc3\xa9\n", 2, "realm");
    bad("[gateway]\nlog_level = verbose\n", 2, "log_level must be info or debug, not 'verbose'");
    bad("[gateway]\nlog_level = DEBUG\n", 2, "log_level must be info or debug");
    bad("[gateway]\ntd_dir =\n", 2, "td_dir: empty value");
    bad("[gateway]\nbaseurl = https://x\n", 2,
        "unknown key 'baseurl' in [gateway] (did you mean 'base_url'?)");
    bad("[gateway]\nfrobnicate = 1\n", 2, "unknown key 'frobnicate' in [gateway]");

    char realm[130];
    memset(realm, 'r', 129);
    realm[129] = '\0';
    char *text = NULL;
    assert_true(asprintf(&text, "[gateway]\nrealm = %s\n", realm) > 0);
    bad(text, 2, "realm");
    free(text);
    realm[128] = '\0';
    assert_true(asprintf(&text, "[gateway]\nrealm = %s\n", realm) > 0);
    c = good(text);
    assert_string_equal(c->realm, realm);
    config_free(c);
    free(text);
}

/* ---- [https] --------------------------------------------------------------------- */

static void test_https(void **state)
{
    static const struct {
        const char *listen, *base;
    } def[] = {
            {"0.0.0.0:8443", "https://localhost:8443"},
            {"127.0.0.1:9443", "https://127.0.0.1:9443"},
            {"[::]:443", "https://localhost:443"},
            {"[::1]:8443 0.0.0.0:1", "https://[::1]:8443"},
            {"10.0.0.1:8443,10.0.0.2:8443", "https://10.0.0.1:8443"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(def); i++) {
        char *text = NULL;
        assert_true(asprintf(&text, "[https]\nlisten = %s\ncertificate = c\nkey = k\n",
                             def[i].listen) > 0);
        struct config *c = good(text);
        assert_string_equal(c->base_url, def[i].base);
        config_free(c);
        free(text);
    }
    /* an explicit base_url wins over the listen address */
    struct config *c = good("[gateway]\nbase_url = https://gw.example\n"
                            "[https]\nlisten = 127.0.0.1:9443\ncertificate = c\nkey = k\n");
    assert_string_equal(c->base_url, "https://gw.example");
    config_free(c);
    c = good("[https]\ncertificate = c\nkey = k\ntls_min_version = 1.3\n");
    assert_int_equal(c->https.tls_min, TLS_MIN_1_3);
    config_free(c);

#define H "[https]\ncertificate = c\nkey = k\n"
    bad("[https]\nkey = k\n", 1, "missing required key 'certificate' in [https]");
    bad("[https]\ncertificate = c\n", 1, "missing required key 'key' in [https]");
    bad("[https]\ncertificate =\nkey = k\n", 2, "certificate: empty value");
    bad(H "listen = gw.local:8443\n", 4, "names are not resolved");
    bad(H "listen = :::8443\n", 4, "IPv6 addresses in brackets");
    bad(H "listen = 0.0.0.0\n", 4, "expected HOST:PORT");
    bad(H "listen = 0.0.0.0:0\n", 4, "1 to 65535");
    bad(H "listen = 0.0.0.0:65536\n", 4, "1 to 65535");
    bad(H "listen = 0.0.0.0:+1\n", 4, "1 to 65535");
    bad(H "listen = :8443\n", 4, "expected an IP address");
    bad(H "listen = [::1:8443\n", 4, "missing ']'");
    bad(H "listen = [::1]8443\n", 4, "expected ':PORT'");
    bad(H "listen = [1.2.3.4]:8443\n", 4, "not an IPv6 address");
    bad(H "listen = 256.0.0.1:8443\n", 4, "must be an IP address");
    bad(H "listen = 0.0.0.0:8443 0.0.0.0:8443\n", 4, "'0.0.0.0:8443' is given twice");
    bad(H "listen = 1.1.1.1:1 1.1.1.1:2 1.1.1.1:3 1.1.1.1:4 1.1.1.1:5 1.1.1.1:6 1.1.1.1:7 "
          "1.1.1.1:8 1.1.1.1:9 1.1.1.1:10 1.1.1.1:11 1.1.1.1:12 1.1.1.1:13 1.1.1.1:14 "
          "1.1.1.1:15 1.1.1.1:16 1.1.1.1:17\n",
        4, "more than 16 addresses");
    bad(H "tls_min_version = 1.1\n", 4, "TLS 1.0 and 1.1 are deprecated (RFC 8996)");
    bad(H "tls_min_version = 1.0\n", 4, "tls_min_version = 1.0 is not allowed");
    bad(H "tls_min_version = TLSv1.3\n", 4, "tls_min_version must be 1.3 or 1.2, not 'TLSv1.3'");
    bad(H "tls_min_version = 1.4\n", 4, "must be 1.3 or 1.2");
    bad(H "port = 8443\n", 4, "unknown key 'port' in [https]");
    bad(H "certificat = x\n", 4, "did you mean 'certificate'");
#undef H
}

/* ---- [limits] ------------------------------------------------------------------- */

static void test_limits(void **state)
{
    static const struct {
        const char *key, *low, *high, *garbage, *range;
    } lim[] = {
            {"max_body_size", "1K", "256M", "1T", "(1K to 256M)"},
            {"max_header_size", "1024", "1M", "16 K", "(1K to 1M)"},
            {"max_connections", "1", "65536", "1K", "(1 to 65536)"},
            {"max_pending_requests", "1", "65536", "-1", "(1 to 65536)"},
            {"device_timeout", "100ms", "10m", "10 s", "(100ms to 10m)"},
            {"max_json_depth", "8", "256", "3.5", "(8 to 256)"},
            {"max_token_size", "1K", "64K", "big", "(1K to 64K)"},
            {"max_td_size", "1K", "16M", "0x100", "(1K to 16M)"},
            {"max_streams", "1", "65536", "many", "(1 to 65536)"},
            {"idle_timeout", "1s", "1h", "1d", "(1s to 1h)"},
    };
    static const struct {
        const char *key, *below, *above;
    } out[] = {
            {"max_body_size", "1023", "257M"}, {"max_header_size", "1023", "2M"},
            {"max_connections", "0", "65537"}, {"max_pending_requests", "0", "100000"},
            {"device_timeout", "99ms", "11m"}, {"max_json_depth", "7", "257"},
            {"max_token_size", "512", "65K"},  {"max_td_size", "1000", "17M"},
            {"max_streams", "0", "65537"},     {"idle_timeout", "999ms", "61m"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(lim); i++) {
        char *text = NULL;
        struct config *c;
        /* the bounds themselves are accepted */
        assert_true(asprintf(&text, "[limits]\n%s = %s\n", lim[i].key, lim[i].low) > 0);
        c = no_error(text);
        config_free(c);
        free(text);
        assert_true(asprintf(&text, "[limits]\n%s = %s\n", lim[i].key, lim[i].high) > 0);
        c = no_error(text);
        config_free(c);
        free(text);
        /* not a number */
        assert_true(asprintf(&text, "[limits]\n%s = %s\n", lim[i].key, lim[i].garbage) > 0);
        char *msg = NULL;
        assert_true(asprintf(&msg, "%s: '%s' is not", lim[i].key, lim[i].garbage) > 0);
        bad(text, 2, msg);
        free(msg);
        free(text);
        /* out of range, with the range in the message */
        assert_string_equal(out[i].key, lim[i].key);
        const char *vals[] = {out[i].below, out[i].above, "99999999999999999999999"};
        for (size_t k = 0; k < ARRAY_SIZE(vals); k++) {
            assert_true(asprintf(&text, "[limits]\n\n%s = %s\n", lim[i].key, vals[k]) > 0);
            assert_true(asprintf(&msg, "%s = %s is out of range %s", lim[i].key, vals[k],
                                 lim[i].range) > 0);
            bad(text, 3, msg);
            free(msg);
            free(text);
        }
        assert_true(asprintf(&text, "[limits]\n%s =\n", lim[i].key) > 0);
        bad(text, 2, "empty value");
        free(text);
    }
    struct config *c = good("[limits]\nmax_td_size = 3M\ndevice_timeout = 30\n"
                            "idle_timeout = 1h\nmax_token_size = 16K\n");
    assert_int_equal(c->limits.max_td_size, 3u << 20);
    assert_int_equal(c->limits.device_timeout_us, 30000000);
    assert_int_equal(c->limits.idle_timeout_us, 3600000000ull);
    assert_int_equal(c->limits.max_token_size, 16384);
    config_free(c);

    /* a token that cannot fit in a header: a warning, not an error */
    struct diags d = {0};
    c = NULL;
    assert_int_equal(parse("[limits]\nmax_header_size = 4K\nmax_token_size = 8K\n", &c, &d), 0);
    assert_non_null(c);
    assert_int_equal(d.n_errors, 0);
    assert_int_equal(d.n, 1);
    assert_true(d.v[0].warning);
    expect_diag(&d, 3, "larger than max_header_size");
    config_free(c);
    diag_free(&d);

    bad("[limits]\nmax_body = 1M\n", 2,
        "unknown key 'max_body' in [limits] (did you mean "
        "'max_body_size'?)");
    bad("[limits]\nmax_conections = 1\n", 2, "did you mean 'max_connections'");
}

/* ---- [credentials] ---------------------------------------------------------------- */

static void test_credentials(void **state)
{
    struct config *c = good("[credentials]\nusers = /etc/wotgw/users\napikeys = sub/keys\n"
                            "apikey_header = x-my_key.2\n");
    assert_string_equal(c->credentials.users, "/etc/wotgw/users");
    assert_int_equal(c->credentials.users_line, 2);
    assert_path(c->credentials.apikeys, "sub/keys");
    assert_null(c->credentials.cert_identities);
    assert_string_equal(c->credentials.apikey_header, "x-my_key.2");
    config_free(c);

    bad("[credentials]\napikey_header = X API Key\n", 2, "is not an HTTP header name");
    bad("[credentials]\napikey_header = X-Key:\n", 2, "is not an HTTP header name");
    bad("[credentials]\napikey_header = authorization\n", 2,
        "apikey_header cannot be authorization");
    bad("[credentials]\napikey_header = Cookie\n", 2, "HTTP itself uses that header");
    bad("[credentials]\napikey_header = "
        "X-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
        2, "at most 64");
    bad("[credentials]\nusers =\n", 2, "users: empty value");
    bad("[credentials]\nuser = u\n", 2, "did you mean 'users'");
    bad("[credentials]\npasswords = u\n", 2, "unknown key 'passwords' in [credentials]");
}

/* ---- [issuer NAME] ----------------------------------------------------------------- */

#define ISS "[issuer idp]\nissuer = https://idp.example\njwks = idp.jwks\naudience = gw\n"

static void test_issuer(void **state)
{
    struct config *c;
    struct diags d = {0};

    /* required keys: all three reported at the section line */
    c = (struct config *)1;
    assert_int_equal(parse("\n[issuer idp]\nleeway = 10s\n", &c, &d), -EINVAL);
    assert_null(c);
    expect_diag(&d, 2, "missing required key 'issuer' in [issuer idp]");
    expect_diag(&d, 2, "missing required key 'jwks' in [issuer idp]");
    expect_diag(&d, 2, "missing required key 'audience' in [issuer idp]");
    assert_int_equal(d.n_errors, 3);
    diag_free(&d);

    c = good(ISS);
    assert_string_equal(c->issuers[0].iss, "https://idp.example");
    assert_string_equal(c->issuers[0].audiences[0], "gw");
    assert_null(c->issuers[0].audiences[1]);
    config_free(c);

    c = good(ISS "algorithms = ES256,RS256  EdDSA\nleeway = 0\n");
    assert_int_equal(c->issuers[0].algorithms, JWT_ALG_ES256 | JWT_ALG_RS256 | JWT_ALG_EDDSA);
    assert_int_equal(c->issuers[0].leeway_s, 0);
    config_free(c);
    c = good(ISS "leeway = 5m\n");
    assert_int_equal(c->issuers[0].leeway_s, 300);
    config_free(c);
    c = good("[issuer idp]\nissuer = urn:x\njwks = j\naudience = a, b c\n");
    assert_string_equal(c->issuers[0].audiences[2], "c");
    config_free(c);
    /* flow defaults to client when token_url is set */
    c = good(ISS "token_url = https://idp.example/token\n");
    assert_string_equal(c->issuers[0].flow, "client");
    config_free(c);
    c = good(ISS
             "token_url = https://idp.example/token\nauthorization_url = https://idp.example/a\n"
             "flow = code\n");
    assert_string_equal(c->issuers[0].flow, "code");
    config_free(c);

    bad(ISS "algorithms = none\n", 5, "'none' is not accepted: unsigned tokens are never accepted");
    bad(ISS "algorithms = ES256 HS256\n", 5, "'HS256' is not accepted: HMAC algorithms");
    bad(ISS "algorithms = ES384\n", 5, "'ES384' is not accepted: unknown or unsupported");
    bad(ISS "algorithms = es256\n", 5, "'es256' is not accepted");
    bad(ISS "algorithms = , ,\n", 5, "algorithms: no algorithm given");
    bad(ISS "algorithms =\n", 5, "algorithms: empty value");
    bad(ISS "leeway = 6m\n", 5, "leeway = 6m is out of range (0 to 5m)");
    bad(ISS "leeway = 1500ms\n", 5, "whole seconds");
    bad(ISS "leeway = soon\n", 5, "not a duration");
    bad(ISS "token_url = http://idp.example/token\n", 5,
        "token_url 'http://idp.example/token' "
        "must start with https://");
    bad(ISS "authorization_url = https://idp.example/a#f\ntoken_url = https://idp.example/t\n", 5,
        "fragment");
    bad(ISS "device_authorization_url = ftp://x\n", 5, "must start with https://");
    bad(ISS "flow = implicit\ntoken_url = https://idp.example/t\n", 5,
        "flow = implicit is refused");
    bad(ISS "flow = password\ntoken_url = https://idp.example/t\n", 5, "forbids the password");
    bad(ISS "flow = pkce\n", 5, "flow must be client, code or device, not 'pkce'");
    bad(ISS "flow = client\n", 5, "flow = client needs token_url");
    bad(ISS "flow = code\ntoken_url = https://idp.example/t\n", 5,
        "flow = code needs authorization_url");
    bad(ISS "flow = device\ntoken_url = https://idp.example/t\n", 5,
        "flow = device needs device_authorization_url");
    bad(ISS "authorization_url = https://idp.example/a\n", 5, "authorization_url needs token_url");
    bad(ISS "device_authorization_url = https://idp.example/d\n", 5,
        "device_authorization_url needs token_url");
    bad(ISS "[issuer other]\nissuer = https://idp.example\njwks = j\naudience = a\n", 6,
        "issuer 'https://idp.example' is already configured in [issuer idp] (line 1)");
    bad("[issuer idp]\nissuer = a b\njwks = j\naudience = a\n", 2, "without blanks");
    bad(ISS "audiences = x\n", 5, "did you mean 'audience'");
    bad(ISS "secret = x\n", 5, "unknown key 'secret' in [issuer idp]");
    bad("[issuer]\nissuer = x\n", 1, "[issuer] needs a name: [issuer NAME]");
    bad("[issuer \"my idp\"]\nissuer = x\n", 1, "[issuer] name 'my idp'");
    bad("[issuer a]\nissuer = x\njwks = j\naudience = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
        4, "audience: more than 16 values");

    unsigned bits = 0;
    assert_int_equal(config_parse_algorithms("EdDSA", &bits), 0);
    assert_int_equal(bits, JWT_ALG_EDDSA);
    assert_int_equal(config_parse_algorithms("RS256 ES256", &bits), 0);
    assert_int_equal(bits, JWT_ALG_RS256 | JWT_ALG_ES256);
    assert_int_equal(config_parse_algorithms("", &bits), -EINVAL);
    assert_int_equal(config_parse_algorithms("none", &bits), -EINVAL);
    assert_int_equal(config_parse_algorithms("NONE", &bits), -EINVAL);
    assert_int_equal(config_parse_algorithms("HS512", &bits), -EINVAL);
    assert_int_equal(config_parse_algorithms("ES256 PS256", &bits), -EINVAL);
}

/* ---- [thing NAME] --------------------------------------------------------------------- */

static void test_thing(void **state)
{
    struct config *c = good("[thing a.b_c~d-9]\ntd = sub/a.json\nsecurity = basic\n"
                            "allow.on.readproperty = *\nscopes.toggle = x\n");
    const struct thing_conf *t = config_find_thing(c, "a.b_c~d-9");
    assert_non_null(t);
    assert_string_equal(t->name, "a.b_c~d-9");
    assert_path(t->td, "things/sub/a.json");
    assert_int_equal(t->td_line, 2);
    assert_int_equal(t->line, 1);
    /* td used, policy keys not */
    assert_true(t->section->entries[0].used);
    for (size_t i = 1; i < t->section->n_entries; i++)
        assert_false(t->section->entries[i].used);
    config_free(c);

    /* td follows td_dir; an absolute td ignores it */
    c = good("[gateway]\ntd_dir = /srv/t\n[thing a]\ntd = a.json\n[thing b]\ntd = /x/b.json\n");
    assert_string_equal(config_find_thing(c, "a")->td, "/srv/t/a.json");
    assert_string_equal(config_find_thing(c, "b")->td, "/x/b.json");
    config_free(c);

    char name[66];
    memset(name, 'n', 65);
    name[65] = '\0';
    char *text = NULL;
    assert_true(asprintf(&text, "[thing %s]\ntd = x\n", name) > 0);
    bad(text, 1, "use 1 to 64 of");
    free(text);
    name[64] = '\0';
    assert_true(asprintf(&text, "[thing %s]\ntd = x\n", name) > 0);
    c = good(text);
    assert_non_null(config_find_thing(c, name));
    config_free(c);
    free(text);

    bad("[thing]\ntd = x\n", 1, "[thing] needs a name");
    bad("[thing ..]\ntd = x\n", 1, "not '.' or '..'");
    bad("[thing .]\ntd = x\n", 1, "[thing] name '.'");
    bad("[thing \"door sensor\"]\ntd = x\n", 1, "[thing] name 'door sensor'");
    bad("[thing a/b]\ntd = x\n", 1, "[thing] name 'a/b'");
    bad("[thing caf\xc3\xa9]\ntd = x\n", 1, "[thing] name");
    bad("[thing lamp]\nsecurity = basic\n", 1, "missing required key 'td' in [thing lamp]");
    bad("[thing lamp]\ntd =\n", 2, "td: empty value");
    bad("[thing lamp]\ntd = x\nprotcol = http\n", 3, "unknown key 'protcol' in [thing lamp]");
    bad("[thing lamp]\ntd = x\nsecurty = basic\n", 3, "did you mean 'security'");
    bad("[thing lamp]\ntd = x\nsecurity. = basic\n", 3, "unknown key 'security.'");
    bad("[thing lamp]\ntd = x\nsecurityx = basic\n", 3, "unknown key 'securityx'");
    bad("[thing lamp]\ntd = x\nallowed = *\n", 3, "unknown key 'allowed'");
    bad("[thing lamp]\ntd = x\n[thing lamp]\ntd = y\n", 3, "duplicate section [thing lamp]");
}

/* ---- [mqtt] -------------------------------------------------------------------------------- */

static void test_mqtt(void **state)
{
    /* absent: disabled, nothing set */
    struct config *c = good("[gateway]\nbase_url = https://gw.example:8443\n");
    assert_false(c->mqtt.enabled);
    assert_null(c->mqtt.broker_url);
    assert_null(c->mqtt.topic_prefix);
    config_free(c);

    /* defaults: the host of base_url, port 8883 */
    c = good("[gateway]\nbase_url = https://gw.example:8443/base\n[mqtt]\npassword_file = "
             "mqtt.secret\n");
    assert_true(c->mqtt.enabled);
    assert_int_equal(c->mqtt.line, 3);
    assert_string_equal(c->mqtt.broker_url, "mqtts://gw.example:8883");
    assert_string_equal(c->mqtt.topic_prefix, "wot");
    assert_string_equal(c->mqtt.broker, "127.0.0.1:1883");
    assert_true(c->mqtt.broker_loopback);
    assert_string_equal(c->mqtt.client_id, "wotgw");
    assert_path(c->mqtt.password_file, "mqtt.secret");
    assert_int_equal(c->mqtt.password_file_line, 4);
    assert_null(c->mqtt.broker_ca);
    config_free(c);
    c = good("[gateway]\nbase_url = https://[fd00::1]/\n[mqtt]\npassword_file = p\n");
    assert_string_equal(c->mqtt.broker_url, "mqtts://[fd00::1]:8883");
    config_free(c);
    c = good("[mqtt]\npassword_file = p\n"); /* base_url from the default listen */
    assert_string_equal(c->mqtt.broker_url, "mqtts://localhost:8883");
    config_free(c);

    /* every key */
    c = good("[mqtt]\nbroker_url = mqtts://mqtt.home.example:18883/\ntopic_prefix = home/wot\n"
             "broker = [::1]:1884\nclient_id = gw-1.a_b\npassword_file = /etc/x/secret\n"
             "broker_ca = tls/ca.crt\n");
    assert_string_equal(c->mqtt.broker_url, "mqtts://mqtt.home.example:18883");
    assert_string_equal(c->mqtt.topic_prefix, "home/wot");
    assert_string_equal(c->mqtt.broker, "[::1]:1884");
    assert_true(c->mqtt.broker_loopback);
    assert_string_equal(c->mqtt.client_id, "gw-1.a_b");
    assert_string_equal(c->mqtt.password_file, "/etc/x/secret");
    assert_path(c->mqtt.broker_ca, "tls/ca.crt");
    config_free(c);
    c = good("[mqtt]\nbroker = 192.168.1.5:8883\nbroker_ca = ca.crt\npassword_file = p\n");
    assert_false(c->mqtt.broker_loopback);
    config_free(c);
    c = good("[mqtt]\nbroker = 127.8.9.10:1\npassword_file = p\n");
    assert_true(c->mqtt.broker_loopback);
    config_free(c);

    /* bad values, each with its line */
    bad("[mqtt]\nbroker_url = mqtt://gw:1883\npassword_file = p\n", 2, "must start with mqtts://");
    bad("[mqtt]\nbroker_url = https://gw:8883\npassword_file = p\n", 2, "must start with mqtts://");
    bad("[mqtt]\nbroker_url = mqtts://gw:8883/wot\npassword_file = p\n", 2, "without a path");
    bad("[mqtt]\nbroker_url = mqtts://gw:99999\npassword_file = p\n", 2, "invalid port");
    bad("[mqtt]\nbroker_url = mqtts://u@gw\npassword_file = p\n", 2, "user information");
    bad("[mqtt]\nbroker_url = mqtts://\npassword_file = p\n", 2, "has no host");
    bad("[mqtt]\nbroker_url =\npassword_file = p\n", 2, "empty value");
    bad("[mqtt]\ntopic_prefix = wot/#\npassword_file = p\n", 2, "topic_prefix 'wot/#'");
    bad("[mqtt]\ntopic_prefix = /wot\npassword_file = p\n", 2, "topic_prefix");
    bad("[mqtt]\ntopic_prefix = $SYS\npassword_file = p\n", 2, "not starting with '$'");
    bad("[mqtt]\ntopic_prefix = a//b\npassword_file = p\n", 2, "topic_prefix");
    bad("[mqtt]\ntopic_prefix = w t\npassword_file = p\n", 2, "topic_prefix");
    bad("[mqtt]\nbroker = localhost:1883\npassword_file = p\n", 2, "names are not resolved");
    bad("[mqtt]\nbroker = 127.0.0.1\npassword_file = p\n", 2, "expected HOST:PORT");
    bad("[mqtt]\nbroker = 127.0.0.1:0\npassword_file = p\n", 2, "port must be a number");
    bad("[mqtt]\nbroker = 0.0.0.0:1883\npassword_file = p\n", 2, "not an address to connect");
    bad("[mqtt]\nbroker = [::]:1883\npassword_file = p\n", 2, "not an address to connect");
    bad("[mqtt]\nbroker = 192.168.1.5:8883\npassword_file = p\n", 1, "set broker_ca");
    bad("[mqtt]\nclient_id = wot gw\npassword_file = p\n", 2, "client_id 'wot gw'");
    bad("[mqtt]\nclient_id = a/b\npassword_file = p\n", 2, "client_id");
    bad("[mqtt]\nclient_id = "
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\npassword_file = p\n",
        2, "client_id");
    bad("[mqtt]\nbroker_url = mqtts://gw\n", 1, "missing required key 'password_file' in [mqtt]");
    bad("[mqtt]\npassword_file = p\ntopic_prefx = x\n", 3, "did you mean 'topic_prefix'");
    bad("[mqtt]\npassword_file = p\nport = 8883\n", 3, "unknown key 'port' in [mqtt]");
}

static void test_coaps(void **state)
{
    /* absent: disabled; psk absent */
    struct config *c = good("[gateway]\nbase_url = https://gw.example:8443\n");
    assert_false(c->coaps.enabled);
    assert_null(c->coaps.url);
    assert_null(c->credentials.psk);
    config_free(c);

    /* defaults: port 5684 on all IPv4 addresses, the host of base_url, [https]'s files */
    c = good("[gateway]\nbase_url = https://gw.example:8443/base\n[https]\ncertificate = "
             "s.crt\nkey = s.key\nclient_ca = ca.crt\n[coaps]\n[credentials]\npsk = psk\n");
    assert_true(c->coaps.enabled);
    assert_int_equal(c->coaps.line, 7);
    assert_int_equal(c->coaps.n_listen, 1);
    assert_string_equal(c->coaps.listen[0], "0.0.0.0:5684");
    assert_string_equal(c->coaps.url, "coaps://gw.example:5684");
    assert_path(c->coaps.certificate, "s.crt");
    assert_path(c->coaps.key, "s.key");
    assert_path(c->coaps.client_ca, "ca.crt");
    assert_int_equal(c->coaps.max_sessions, COAPS_DEFAULT_MAX_SESSIONS);
    assert_path(c->credentials.psk, "psk");
    assert_int_equal(c->credentials.psk_line, 9);
    config_free(c);

    /* PSK only: no [https] files, the url from the first listen port */
    c = good("[gateway]\nbase_url = https://[fd00::1]/\n[coaps]\nlisten = 127.0.0.1:15684 "
             "[::1]:5684\n");
    assert_int_equal(c->coaps.n_listen, 2);
    assert_string_equal(c->coaps.url, "coaps://[fd00::1]:15684");
    assert_null(c->coaps.certificate);
    assert_null(c->coaps.key);
    assert_null(c->coaps.client_ca);
    config_free(c);

    /* every key; its own certificate does not take [https]'s key */
    c = good("[https]\ncertificate = s.crt\nkey = s.key\n[coaps]\nlisten = [::]:5684\n"
             "url = coaps://coap.home.example:5684/\ncertificate = /etc/c.crt\nkey = c.key\n"
             "client_ca = other-ca.crt\nmax_sessions = 32\n");
    assert_string_equal(c->coaps.url, "coaps://coap.home.example:5684");
    assert_string_equal(c->coaps.certificate, "/etc/c.crt");
    assert_path(c->coaps.key, "c.key");
    assert_path(c->coaps.client_ca, "other-ca.crt");
    assert_int_equal(c->coaps.max_sessions, 32);
    config_free(c);

    /* bad values, each with its line */
    bad("[coaps]\nlisten = 127.0.0.1\n", 2, "expected HOST:PORT");
    bad("[coaps]\nlisten = localhost:5684\n", 2, "listen: 'localhost:5684'");
    bad("[coaps]\nlisten = 127.0.0.1:5684 127.0.0.1:5684\n", 2, "given twice");
    bad("[coaps]\nlisten =\n", 2, "empty value");
    bad("[coaps]\nurl = coap://gw:5683\n", 2, "must start with coaps://");
    bad("[coaps]\nurl = coaps://gw/things\n", 2, "without a path");
    bad("[coaps]\nurl = coaps://u@gw\n", 2, "user information");
    bad("[coaps]\ncertificate = c.crt\n", 1, "certificate and key together");
    bad("[coaps]\nkey = c.key\n", 1, "certificate and key together");
    bad("[coaps]\nclient_ca = ca.crt\n", 1, "client_ca needs a certificate");
    bad("[coaps]\nmax_sessions = 0\n", 2, "max_sessions = 0 is out of range");
    bad("[coaps]\nmax_sessions = many\n", 2, "max_sessions");
    bad("[coaps]\nport = 5684\n", 2, "unknown key 'port' in [coaps]");
    bad("[coaps]\n[coaps]\n", 2, "duplicate section [coaps]");
    bad("[coaps x]\n", 1, "[coaps] takes no name");
    bad("[credentials]\npsk =\n", 2, "empty value");

    /* raw public keys: a listener of their own with the gateway's EC key */
    c = good("[coaps]\nlisten = 127.0.0.1:5684\nrpk_listen = 127.0.0.1:5685 [::1]:5685\n"
             "rpk_key = rpk.pem\n");
    assert_int_equal(c->coaps.n_rpk_listen, 2);
    assert_string_equal(c->coaps.rpk_listen[1], "[::1]:5685");
    assert_path(c->coaps.rpk_key, "rpk.pem");
    config_free(c);
    c = good("[coaps]\n");
    assert_int_equal(c->coaps.n_rpk_listen, 0);
    assert_null(c->coaps.rpk_key);
    config_free(c);
    bad("[coaps]\nrpk_listen = 127.0.0.1:5685\n", 1, "rpk_listen needs rpk_key");
    bad("[coaps]\nrpk_key = k.pem\n", 1, "rpk_key is set but rpk_listen is not");
    bad("[coaps]\nrpk_listen = 0.0.0.0:5684\nrpk_key = k\n", 2, "is also a listen address");
    bad("[coaps]\nrpk_listen = 127.0.0.1:1 127.0.0.1:1\nrpk_key = k\n", 2, "given twice");
    bad("[coaps]\nrpk_listen = nowhere\nrpk_key = k\n", 2, "rpk_listen: 'nowhere'");

    /* plain CoAP for nosec forms */
    c = good("[coaps]\ncoap_listen = 127.0.0.1:5683\n");
    assert_int_equal(c->coaps.n_coap_listen, 1);
    assert_string_equal(c->coaps.coap_url, "coap://localhost:5683");
    config_free(c);
    c = good("[coaps]\ncoap_listen = 127.0.0.1:5683\ncoap_url = coap://gw.lan:5683/\n");
    assert_string_equal(c->coaps.coap_url, "coap://gw.lan:5683");
    config_free(c);
    c = good("[coaps]\n");
    assert_null(c->coaps.coap_url);
    config_free(c);
    bad("[coaps]\ncoap_url = coap://x\n", 2, "coap_url is set but coap_listen is not");
    bad("[coaps]\ncoap_listen = 127.0.0.1:1\ncoap_url = coaps://x\n", 3, "coap_url 'coaps://x'");
    bad("[coaps]\ncoap_listen = 127.0.0.1:1\ncoap_url = coap://x/p\n", 3, "without a path");
    bad("[coaps]\ncoap_listen = 0.0.0.0:5684\n", 2, "is also a listen address");
    bad("[coaps]\ncoap_listen = 127.0.0.1:1 127.0.0.1:1\n", 2, "given twice");
    bad("[coaps]\ncoap_listen = nowhere\n", 2, "coap_listen: 'nowhere'");
}

/* ---- the file as a whole ---------------------------------------------------------------- */

static void test_sections(void **state)
{
    bad("[coap]\nlisten = 0.0.0.0:5684\n", 1, "section [coap] is not supported by this version");
    bad("[mqtt]\nbroker_url = mqtts://x\npassword_file = p\n[mqtt]\npassword_file = p\n", 4,
        "duplicate section [mqtt]");
    bad("[mqtt x]\npassword_file = p\n", 1, "[mqtt] takes no name");
    bad("[gateways]\n", 1, "unknown section [gateways]");
    bad("[Gateway]\n", 1, "unknown section [Gateway]");
    bad("[device lamp]\n", 1, "unknown section [device lamp]");
    bad("[gateway main]\n", 1, "[gateway] takes no name");
    bad("[https x]\n", 1, "[https] takes no name");
    bad("[limits x]\n", 1, "[limits] takes no name");
    bad("[credentials x]\n", 1, "[credentials] takes no name");
    bad("realm = x\n[gateway]\n", 1, "key 'realm' outside any section");
    bad("[gateway]\nrealm = a\nrealm = b\n", 3, "duplicate key 'realm' (first at line 2)");

    /* keys after a broken header are not filed under the previous one */
    struct config *c = NULL;
    struct diags d = {0};
    assert_int_equal(
            parse("[gateway]\nrealm = ok\n[thing lamp\ntd = x\nsecurity = nosec\n", &c, &d),
            -EINVAL);
    expect_diag(&d, 3, "missing ']'");
    assert_int_equal(d.n_errors, 1); /* no "unknown key 'td' in [gateway]" */
    diag_free(&d);

    /* too many things */
    size_t n = CONFIG_MAX_THINGS + 1, cap = n * 32, k = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(text + k, cap - k, "[thing t%zu]\ntd = x\n", i);
    assert_int_equal(parse(text, &c, &d), -EINVAL);
    assert_true(diag_contains(&d, "more than 1024 [thing] sections"));
    diag_free(&d);
    free(text);
}

static void test_long_value(void **state)
{
    char v[301];
    for (size_t i = 0; i < 300; i++)
        v[i] = (char)('a' + i % 26);
    v[300] = '\0';
    char *text = NULL;
    assert_true(asprintf(&text,
                         "[thing lamp]\ntd = %s\n[issuer i]\nissuer = urn:%s\njwks = j\n"
                         "audience = %s\n",
                         v, v, v) > 0);
    struct config *c = good(text);
    char *want = NULL;
    assert_true(asprintf(&want, "%s/things/%s", datadir, v) > 0);
    assert_string_equal(c->things[0].td, want);
    assert_int_equal(strlen(c->issuers[0].iss), 304);
    assert_string_equal(c->issuers[0].audiences[0], v);
    config_free(c);
    free(want);
    free(text);
}

static void test_errors_file(void **state)
{
    const char *p = "tests/data/config/errors.conf";
    struct config *c = (struct config *)1;
    struct diags d = {0};
    assert_int_equal(config_load(p, &c, &d), -EINVAL);
    assert_null(c);
    expect_diag_in(&d, p, 4, "must start with https://");
    expect_diag_in(&d, p, 5, "log_level must be info or debug");
    expect_diag_in(&d, p, 6, "unknown key 'protcol' in [gateway]");
    expect_diag_in(&d, p, 8, "missing required key 'certificate' in [https]");
    expect_diag_in(&d, p, 8, "missing required key 'key' in [https]");
    expect_diag_in(&d, p, 9, "names are not resolved");
    expect_diag_in(&d, p, 10, "RFC 8996");
    expect_diag_in(&d, p, 13, "max_body_size: '12X' is not a size");
    expect_diag_in(&d, p, 14, "max_connections = 0 is out of range");
    expect_diag_in(&d, p, 16, "missing ']'");
    expect_diag_in(&d, p, 19, "missing required key 'td' in [thing door]");
    expect_diag_in(&d, p, 22, "missing required key 'jwks' in [issuer idp]");
    expect_diag_in(&d, p, 22, "missing required key 'audience' in [issuer idp]");
    expect_diag_in(&d, p, 24, "'none' is not accepted");
    expect_diag_in(&d, p, 26, "section [coap] is not supported");
    assert_int_equal(d.n_errors, 15);
    assert_int_equal(d.n, 15);
    /* reported top to bottom */
    for (size_t i = 1; i < d.n; i++)
        assert_true(d.v[i - 1].line <= d.v[i].line);
    diag_free(&d);

    /* bounded: 500 unknown keys give 200 messages and a last word */
    size_t n = 500, cap = n * 16 + 16, k = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    k = (size_t)snprintf(text, cap, "[gateway]\n");
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(text + k, cap - k, "zz%zu = 1\n", i);
    assert_int_equal(parse(text, &c, &d), -EINVAL);
    assert_int_equal(d.n, 201);
    expect_diag(&d, 0, "too many errors (more than 200)");
    expect_diag(&d, 201, "unknown key 'zz199'");
    diag_free(&d);
    free(text);
}

static void test_load_errors(void **state)
{
    struct config *c = (struct config *)1;
    struct diags d = {0};
    assert_int_equal(config_load("tests/data/config/nosuch.conf", &c, &d), -ENOENT);
    assert_null(c);
    assert_int_equal(d.n_errors, 1);
    assert_string_equal(d.v[0].file, "tests/data/config/nosuch.conf");
    assert_true(diag_contains(&d, "cannot read"));
    diag_free(&d);

    assert_int_equal(config_load("tests/data/config", &c, &d), -EISDIR);
    assert_null(c);
    diag_free(&d);

    /* a config in the working directory: its dir is the absolute cwd */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(config_parse("x.conf", "", 0, &c, &d), 0);
    assert_string_equal(c->dir, cwd);
    config_free(c);

    /* errors without a diags sink still fail */
    assert_int_equal(config_parse(INLINE, "[nope]\n", 7, &c, NULL), -EINVAL);
    assert_null(c);
    assert_int_equal(config_parse(INLINE, "[a\n", 3, &c, NULL), -EINVAL);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_example_config), cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_good_file),      cmocka_unit_test(test_crlf_file),
            cmocka_unit_test(test_gateway),        cmocka_unit_test(test_https),
            cmocka_unit_test(test_limits),         cmocka_unit_test(test_credentials),
            cmocka_unit_test(test_issuer),         cmocka_unit_test(test_thing),
            cmocka_unit_test(test_sections),       cmocka_unit_test(test_long_value),
            cmocka_unit_test(test_errors_file),    cmocka_unit_test(test_load_errors),
            cmocka_unit_test(test_mqtt),           cmocka_unit_test(test_coaps),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
