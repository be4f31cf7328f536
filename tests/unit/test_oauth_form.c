/* test_oauth_form.c - the authorization server's hand-written parsers:
 * application/x-www-form-urlencoded (malformed, oversized, duplicate,
 * control characters, invalid UTF-8), percent-decoding, the HTML / URL
 * encoders, the clients file (every refusal with its line), redirect URI
 * rules, user codes, and the [oauth] config section with the implicit
 * "local" issuer and the exposed TD's oauth2 definition.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "oauth/as_internal.h"
#include "oauth/clients.h"
#include "oauth/form.h"

/* ---- forms --------------------------------------------------------------------------- */

static int parse(const char *s, struct form *f, const char **why)
{
    return form_parse(s, strlen(s), f, why);
}

static void test_form_ok(void **state)
{
    struct form f;
    const char *why;
    assert_int_equal(parse("a=1&b=x+y&c=%41%42%2b&d=&e.f-g_h=%E2%82%AC", &f, &why), 0);
    assert_int_equal(f.n, 5);
    assert_string_equal(form_get(&f, "a"), "1");
    assert_string_equal(form_get(&f, "b"), "x y");
    assert_string_equal(form_get(&f, "c"), "AB+");
    assert_null(form_get(&f, "d")); /* empty = omitted */
    assert_true(form_has(&f, "d"));
    assert_string_equal(form_get(&f, "e.f-g_h"), "\xe2\x82\xac");
    assert_null(form_get(&f, "zz"));
    assert_false(form_has(&f, "zz"));
    form_free(&f);
    assert_int_equal(parse("", &f, &why), 0);
    assert_int_equal(f.n, 0);
    form_free(&f);
    /* names may be percent-encoded too */
    assert_int_equal(parse("client%5Fid=app", &f, &why), 0);
    assert_string_equal(form_get(&f, "client_id"), "app");
    form_free(&f);
    (void)state;
}

static void test_form_bad(void **state)
{
    static const char *const bad[] = {
            "a=1&&b=2", "a=1&",    "&a=1",  "a",        "=1",          "a=1&b",
            "a=%",      "a=%4",    "a=%zz", "a=%0",     "a=%00",       "a=%0a",
            "a=%7f",    "a=\t",    "a=%ff", "a=%c0%af", "a=%ed%a0%80", "a=%f4%90%80%80",
            "a b=1",    "a%20b=1", "%00=1", "a=1&a=2",  "a=1&b=2&a=",  "a/b=1",
            "a=%e2%82", "a=\xff",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct form f = {0};
        const char *why = NULL;
        int r = parse(bad[i], &f, &why);
        if (r != -EINVAL)
            fprintf(stderr, "accepted or wrong error for '%s': %d\n", bad[i], r);
        assert_int_equal(r, -EINVAL);
        assert_non_null(why);
        assert_int_equal(f.n, 0);
        assert_null(f.v);
    }
    /* embedded NUL */
    struct form f;
    assert_int_equal(form_parse("a=1\0b=2", 7, &f, NULL), -EINVAL);
    (void)state;
}

static void test_form_limits(void **state)
{
    struct form f;
    const char *why;
    char *s = malloc(FORM_MAX_INPUT + 2);
    /* too long as a whole */
    memset(s, 'a', FORM_MAX_INPUT + 1);
    s[0] = 'x';
    s[1] = '=';
    s[FORM_MAX_INPUT + 1] = '\0';
    assert_int_equal(parse(s, &f, &why), -E2BIG);
    /* one value too long */
    memset(s, 'a', FORM_MAX_VALUE + 3);
    s[FORM_MAX_VALUE + 3] = '\0';
    s[1] = '=';
    assert_int_equal(parse(s, &f, &why), -E2BIG);
    s[FORM_MAX_VALUE + 2] = '\0'; /* exactly the limit */
    assert_int_equal(parse(s, &f, &why), 0);
    assert_int_equal(f.v[0].value_len, FORM_MAX_VALUE);
    form_free(&f);
    /* a name too long */
    memset(s, 'n', FORM_MAX_NAME + 1);
    strcpy(s + FORM_MAX_NAME + 1, "=1");
    assert_int_equal(parse(s, &f, &why), -E2BIG);
    /* too many pairs */
    s[0] = '\0';
    for (int i = 0; i <= FORM_MAX_PARAMS; i++)
        sprintf(s + strlen(s), "%sp%d=1", i ? "&" : "", i);
    assert_int_equal(parse(s, &f, &why), -E2BIG);
    free(s);
    (void)state;
}

static void test_pct_and_encoders(void **state)
{
    char *o = NULL;
    assert_int_equal(form_pct_decode("a%3Ab+c", 7, 64, &o), 0);
    assert_string_equal(o, "a:b+c"); /* "+" stays in Basic credentials */
    free(o);
    assert_int_equal(form_pct_decode("a%3", 3, 64, &o), -EINVAL);
    assert_int_equal(form_pct_decode("abcdef", 6, 3, &o), -E2BIG);

    struct sbuf b = {0};
    sb_html(&b, "<a href=\"x\">'&'</a>\x01\n");
    sb_puts(&b, "|");
    sb_urlenc(&b, "a b/c?d=e&f~g.h-i_j\xe2\x82\xac");
    char *s = sb_steal(&b, NULL);
    assert_string_equal(s, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\n|"
                           "a%20b%2Fc%3Fd%3De%26f~g.h-i_j%E2%82%AC");
    free(s);
    /* a bounded buffer fails instead of growing */
    struct sbuf small = {.max = 8};
    sb_puts(&small, "12345");
    sb_puts(&small, "6789");
    assert_true(small.failed);
    assert_null(sb_steal(&small, NULL));
    (void)state;
}

static void test_user_code(void **state)
{
    char n[AS_USER_CODE_LEN + 1];
    assert_true(as_user_code_norm("BCDF-GHJK", n));
    assert_string_equal(n, "BCDFGHJK");
    assert_true(as_user_code_norm("bcdf ghjk", n));
    assert_string_equal(n, "BCDFGHJK");
    assert_false(as_user_code_norm("BCDF-GHJ", n));   /* short */
    assert_false(as_user_code_norm("BCDF-GHJKL", n)); /* long */
    assert_false(as_user_code_norm("ABCD-EFGH", n));  /* vowels are not used */
    assert_false(as_user_code_norm("BCDF-GHJ1", n));
    assert_false(as_user_code_norm("", n));
    (void)state;
}

/* ---- clients file ---------------------------------------------------------------------- */

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_clients_ok(void **state)
{
    const char *text = "# comment\n\n"
                       "app type=public grants=authorization_code,refresh_token scopes=* "
                       "redirect_uri=https://app.example/cb redirect_uri=http://127.0.0.1:5000/x\n"
                       "svc\ttype=confidential secret=" SHA " grants=client_credentials "
                       "scopes=lamp:read,lamp:write\r\n"
                       "tv type=public grants=urn:ietf:params:oauth:grant-type:device_code "
                       "scopes=lamp:read\n"
                       "v6 type=public grants=authorization_code scopes=a "
                       "redirect_uri=http://[::1]:8080/cb redirect_uri=http://localhost/cb\n";
    struct as_clients *c = NULL;
    struct diags d = {0};
    assert_int_equal(clients_parse("clients", text, strlen(text), &c, &d), 0);
    assert_int_equal(c->n, 4);
    const struct as_client *app = clients_find(c, "app"), *svc = clients_find(c, "svc");
    assert_non_null(app);
    assert_false(app->confidential);
    assert_int_equal(app->grants, CG_CODE | CG_REFRESH);
    assert_true(client_redirect_ok(app, "https://app.example/cb"));
    assert_false(client_redirect_ok(app, "https://app.example/cb/"));
    assert_false(client_redirect_ok(app, "https://APP.example/cb"));
    assert_true(client_scope_allowed(app, "anything"));
    assert_true(svc->confidential);
    assert_int_equal(svc->grants, CG_CLIENT);
    assert_true(client_scope_allowed(svc, "lamp:write"));
    assert_false(client_scope_allowed(svc, "lamp:invoke"));
    assert_false(client_secret_ok(app, "x", 1));
    assert_int_equal(clients_find(c, "tv")->grants, CG_DEVICE);
    assert_null(clients_find(c, "nobody"));
    assert_null(clients_find(c, NULL));
    clients_free(c);
    diag_free(&d);
    (void)state;
}

static void test_clients_bad(void **state)
{
    static const struct {
        const char *line, *msg;
    } bad[] = {
            {"bad/name type=public grants=device_code scopes=a", "client name"},
            {"a type=public grants=device_code", "scopes= is required"},
            {"a type=public scopes=a", "grants= is required"},
            {"a grants=device_code scopes=a", "type= is required"},
            {"a type=secret grants=device_code scopes=a", "public or confidential"},
            {"a type=public grants=implicit scopes=a", "refused"},
            {"a type=public grants=password scopes=a", "refused"},
            {"a type=public grants=magic scopes=a", "unknown grant"},
            {"a type=public grants=device_code, scopes=a", "grant"},
            {"a type=public grants=client_credentials scopes=a", "confidential clients only"},
            {"a type=confidential grants=client_credentials scopes=a", "needs secret"},
            {"a type=public secret=" SHA " grants=device_code scopes=a", "no secret"},
            {"a type=confidential secret=abc grants=client_credentials scopes=a", "SHA-256"},
            {"a type=public grants=authorization_code scopes=a", "at least one redirect_uri"},
            {"a type=public grants=device_code scopes=a redirect_uri=https://x/cb",
             "only used with authorization_code"},
            {"a type=public grants=refresh_token scopes=a", "needs authorization_code"},
            {"a type=public grants=device_code scopes=a,a", "twice"},
            {"a type=public grants=device_code scopes=a\"b", "not a valid scope"},
            {"a type=public grants=device_code scopes=a colour=red", "unknown key"},
            {"a type=public grants=device_code scopes=a type=public", "twice"},
            {"a type=public grants=device_code scopes=", "empty value"},
            {"a type=public grants=device_code scopes=a junk", "KEY=VALUE"},
            {"a type=public grants=authorization_code scopes=a redirect_uri=http://app.example/cb",
             "loopback"},
            {"a type=public grants=authorization_code scopes=a redirect_uri=https://x/cb#f",
             "fragment"},
            {"a type=public grants=authorization_code scopes=a redirect_uri=https://u@x/cb",
             "user information"},
            {"a type=public grants=authorization_code scopes=a redirect_uri=javascript:alert(1)",
             "https://"},
            {"a type=public grants=authorization_code scopes=a redirect_uri=https:///cb",
             "no host"},
            {"a type=public grants=authorization_code scopes=a redirect_uri=https://x:0/cb",
             "port"},
            {"a type=public grants=authorization_code scopes=a redirect_uri=https://x:99999/cb",
             "port"},
            {"a type=public grants=authorization_code scopes=a redirect_uri=https://x/%zz",
             "percent"},
            {"a type=public grants=authorization_code scopes=a redirect_uri=https://x/a "
             "redirect_uri=https://x/a",
             "twice"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        int r = clients_check_line(bad[i].line, err, sizeof(err));
        if (r != -EINVAL || !strstr(err, bad[i].msg))
            fprintf(stderr, "line '%s': r=%d err='%s'\n", bad[i].line, r, err);
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err, bad[i].msg));
        /* and the whole file is refused with the line number */
        char *text = NULL;
        assert_true(asprintf(&text, "# c\n%s\n", bad[i].line) > 0);
        struct as_clients *c = (void *)1;
        struct diags d = {0};
        assert_int_equal(clients_parse("clients", text, strlen(text), &c, &d), -EINVAL);
        assert_null(c);
        assert_int_equal(d.v[0].line, 2);
        diag_free(&d);
        free(text);
    }
    /* duplicates and NUL bytes */
    const char *dup = "a type=public grants=device_code scopes=a\n"
                      "a type=public grants=device_code scopes=b\n";
    struct as_clients *c = NULL;
    struct diags d = {0};
    assert_int_equal(clients_parse("clients", dup, strlen(dup), &c, &d), -EINVAL);
    assert_true(diag_contains(&d, "already defined on line 1"));
    diag_free(&d);
    assert_int_equal(clients_parse("clients", "a\0b", 3, &c, &d), -EINVAL);
    diag_free(&d);
    /* a missing file is an empty set */
    assert_int_equal(clients_load("/nonexistent/wotgw-clients", &c, &d), 0);
    assert_int_equal(c->n, 0);
    clients_free(c);
    diag_free(&d);
    assert_int_equal(clients_check_line("# a comment", NULL, 0), 0);
    (void)state;
}

/* ---- [oauth] in the config ----------------------------------------------------------------- */

static struct config *conf_of(const char *text, struct diags *d, int want)
{
    struct config *c = NULL;
    char cwd[256];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    char *path = NULL;
    assert_true(asprintf(&path, "%s/tests/data/oauth/wotgw.conf", cwd) > 0);
    int r = config_parse(path, text, strlen(text), &c, d);
    free(path);
    if (r != want)
        diag_print(d, stderr);
    assert_int_equal(r, want);
    return c;
}

#define HTTPS "[https]\nlisten = 127.0.0.1:8443\ncertificate = c.pem\nkey = k.pem\n"

static void test_config_oauth(void **state)
{
    struct diags d = {0};
    struct config *c =
            conf_of("[gateway]\nstate_dir = /var/lib/x\nbase_url = https://gw:8443/wot\n" HTTPS
                    "[oauth]\nenabled = yes\n",
                    &d, 0);
    assert_true(c->oauth.enabled);
    assert_string_equal(c->oauth.issuer, "https://gw:8443");
    assert_string_equal(c->oauth.audience, "https://gw:8443/wot");
    assert_string_equal(c->oauth.dir, "/var/lib/x/oauth");
    assert_non_null(strstr(c->oauth.clients, "/tests/data/oauth/clients"));
    assert_int_equal(c->oauth.access_token_lifetime_s, 600);
    assert_int_equal(c->oauth.code_lifetime_s, 60);
    assert_int_equal(c->oauth.refresh_token_lifetime_s, 30 * 86400);
    assert_string_equal(c->oauth.flow, "code");
    const struct issuer_conf *ic = config_find_issuer(c, "local");
    assert_non_null(ic);
    assert_true(ic->local);
    assert_string_equal(ic->iss, "https://gw:8443");
    assert_string_equal(ic->audiences[0], "https://gw:8443/wot");
    assert_string_equal(ic->token_url, "https://gw:8443/oauth/token");
    assert_string_equal(ic->authorization_url, "https://gw:8443/oauth/authorize");
    assert_string_equal(ic->device_authorization_url, "https://gw:8443/oauth/device_authorization");
    assert_string_equal(ic->flow, "code");
    config_free(c);
    diag_free(&d);

    /* disabled: no local issuer */
    c = conf_of(HTTPS "[oauth]\nenabled = no\n", &d, 0);
    assert_null(config_find_issuer(c, "local"));
    config_free(c);
    diag_free(&d);

    /* every key */
    c = conf_of(HTTPS
                "[oauth]\nenabled = yes\nissuer = https://auth.example\naudience = urn:gw\n"
                "clients = /etc/c\naccess_token_lifetime = 5m\nrefresh_token_lifetime = 24h\n"
                "code_lifetime = 30s\ndevice_code_lifetime = 15m\ndevice_poll_interval = 10s\n"
                "session_lifetime = 10m\nflow = device\n"
                "resource_owners = user:alice group:home\n",
                &d, 0);
    assert_string_equal(c->oauth.issuer, "https://auth.example");
    assert_string_equal(c->oauth.audience, "urn:gw");
    assert_string_equal(c->oauth.clients, "/etc/c");
    assert_int_equal(c->oauth.access_token_lifetime_s, 300);
    assert_int_equal(c->oauth.device_poll_interval_s, 10);
    assert_string_equal(config_find_issuer(c, "local")->flow, "device");
    assert_string_equal(c->oauth.owners[1], "group:home");
    config_free(c);
    diag_free(&d);

    static const struct {
        const char *text, *msg;
    } bad[] = {
            {"[oauth]\nenabled = yes\n", "needs an [https] section"},
            {HTTPS "[oauth]\nenabled = maybe\n", "yes or no"},
            {HTTPS "[oauth]\nenabled = yes\nissuer = http://x\n", "https://"},
            {HTTPS "[oauth]\nenabled = yes\nissuer = https://x/path\n", "without a path"},
            {HTTPS "[oauth]\nenabled = yes\ncode_lifetime = 5m\n", "out of range"},
            {HTTPS "[oauth]\nenabled = yes\naccess_token_lifetime = 2h\n", "out of range"},
            {HTTPS "[oauth]\nenabled = yes\naccess_token_lifetime = soon\n", "not a duration"},
            {HTTPS "[oauth]\nenabled = yes\nflow = implicit\n", "refused"},
            {HTTPS "[oauth]\nenabled = yes\nflow = magic\n", "code, device or client"},
            {HTTPS "[oauth]\nenabled = yes\nresource_owners = alice\n", "resource_owners"},
            {HTTPS "[oauth]\nenabled = yes\nlifetime = 1h\n", "unknown key"},
            {HTTPS "[oauth]\nenabled = yes\n[issuer local]\nissuer = https://i\njwks = j\n"
                   "audience = a\n",
             "reserved"},
            {HTTPS "[oauth]\nenabled = yes\nissuer = https://i\n[issuer idp]\n"
                   "issuer = https://i\njwks = j\naudience = a\n",
             "already configured"},
            {HTTPS "[oauth]\n[oauth]\n", "duplicate section"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct config *x = NULL;
        int r = config_parse("/tmp/t.conf", bad[i].text, strlen(bad[i].text), &x, &d);
        if (r != -EINVAL || !diag_contains(&d, bad[i].msg)) {
            fprintf(stderr, "case %zu: r=%d\n", i, r);
            diag_print(&d, stderr);
        }
        assert_int_equal(r, -EINVAL);
        assert_true(diag_contains(&d, bad[i].msg));
        diag_free(&d);
    }
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_form_ok),     cmocka_unit_test(test_form_bad),
            cmocka_unit_test(test_form_limits), cmocka_unit_test(test_pct_and_encoders),
            cmocka_unit_test(test_user_code),   cmocka_unit_test(test_clients_ok),
            cmocka_unit_test(test_clients_bad), cmocka_unit_test(test_config_oauth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
