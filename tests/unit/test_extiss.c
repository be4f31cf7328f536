/* test_extiss.c - the pieces of the external issuer support that need no
 * network: the RFC 7662 answer parser (jwt_introspection_parse) with good
 * and malformed answers, jwt_peek, shared key sets (jwks_ref), and the
 * extiss object without issuers. The fetches themselves are exercised by
 * tests/integration/test_external_issuer.sh. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/extiss.h"
#include "config.h"
#include "auth/jwt.h"
#include "south/http.h"
#include "util.h"

#define NOW 1700000000LL

static char *auds[] = {"https://gw.test", NULL};
static struct issuer_conf conf = {
        .name = "intro",
        .iss = "https://intro.test",
        .audiences = auds,
        .algorithms = JWT_ALG_ES256,
        .leeway_s = 30,
};

static int parse(const char *s, struct jwt_claims *c, enum jwt_error *why)
{
    return jwt_introspection_parse(&conf, s, strlen(s), NOW, c, why);
}

static void test_active(void **st)
{
    struct jwt_claims c;
    enum jwt_error why;
    assert_int_equal(parse("{\"active\":true,\"sub\":\"dave\",\"exp\":1700000100,"
                           "\"scope\":\"lamp:read lamp:write\",\"client_id\":\"app\","
                           "\"iss\":\"https://intro.test\",\"aud\":[\"x\",\"https://gw.test\"],"
                           "\"iat\":1699999000,\"token_type\":\"Bearer\",\"extra\":{\"a\":[1]}}",
                           &c, &why),
                     1);
    assert_int_equal(why, JWT_OK);
    assert_string_equal(c.sub, "dave");
    assert_string_equal(c.iss, "https://intro.test");
    assert_string_equal(c.client_id, "app");
    assert_string_equal(c.scopes[0], "lamp:read");
    assert_string_equal(c.scopes[1], "lamp:write");
    assert_null(c.scopes[2]);
    assert_int_equal(c.exp, 1700000100);
    jwt_claims_free(&c);
    /* username instead of sub, no iss (the issuer's), no scope */
    assert_int_equal(
            parse("{\"active\":true,\"username\":\"erin\",\"exp\":1700000100.7}", &c, &why), 1);
    assert_string_equal(c.sub, "erin");
    assert_string_equal(c.iss, "https://intro.test");
    assert_non_null(c.scopes);
    assert_null(c.scopes[0]);
    assert_int_equal(c.exp, 1700000100);
    jwt_claims_free(&c);
}

static void test_refused(void **st)
{
    static const struct {
        const char *json;
        enum jwt_error why;
    } v[] = {
            {"{\"active\":false}", JWT_INACTIVE},
            {"{\"active\":false,\"sub\":\"dave\",\"exp\":1800000000}", JWT_INACTIVE},
            {"{\"active\":true,\"sub\":\"dave\"}", JWT_EXPIRED},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":1700000000}", JWT_EXPIRED}, /* == now */
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":1699999999}", JWT_EXPIRED},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":\"1800000000\"}", JWT_EXPIRED},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":-1}", JWT_EXPIRED},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":1e300}", JWT_EXPIRED},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":1800000000,\"nbf\":1700000100}",
             JWT_NOT_YET_VALID},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":1800000000,\"nbf\":\"x\"}", JWT_MALFORMED},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":1800000000,\"iss\":\"https://evil\"}",
             JWT_UNKNOWN_ISSUER},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":1800000000,\"iss\":7}", JWT_UNKNOWN_ISSUER},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":1800000000,\"aud\":\"other\"}",
             JWT_WRONG_AUDIENCE},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":1800000000,\"aud\":[1]}",
             JWT_WRONG_AUDIENCE},
            {"{\"active\":true,\"exp\":1800000000}", JWT_MISSING_CLAIM},
            {"{\"active\":true,\"sub\":\"\",\"exp\":1800000000}", JWT_MISSING_CLAIM},
            {"{\"active\":true,\"sub\":42,\"exp\":1800000000}", JWT_MISSING_CLAIM},
            {"{\"active\":true,\"sub\":\"a\\nb\",\"exp\":1800000000}", JWT_MISSING_CLAIM},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":1800000000,\"scope\":\"a\\\"b\"}",
             JWT_MALFORMED},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":1800000000,\"scope\":[\"a\"]}",
             JWT_MALFORMED},
            {"{\"active\":true,\"sub\":\"dave\",\"exp\":1800000000,\"client_id\":3}",
             JWT_MALFORMED},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct jwt_claims c;
        enum jwt_error why = JWT_OK;
        int r = parse(v[i].json, &c, &why);
        if (r != 0 || why != v[i].why)
            fail_msg("%s: %d %d (want 0 %d)", v[i].json, r, why, v[i].why);
        assert_null(c.sub);
        assert_null(c.scopes);
    }
    /* a long sub */
    char big[600];
    snprintf(big, sizeof(big), "{\"active\":true,\"exp\":1800000000,\"sub\":\"%0300d\"}", 0);
    struct jwt_claims c;
    enum jwt_error why;
    assert_int_equal(parse(big, &c, &why), 0);
    assert_int_equal(why, JWT_MISSING_CLAIM);
}

static void test_malformed(void **st)
{
    static const char *const v[] = {
            "",
            "null",
            "[]",
            "\"active\"",
            "{",
            "{\"active\":\"true\",\"sub\":\"dave\",\"exp\":1800000000}",
            "{\"active\":1}",
            "{\"sub\":\"dave\",\"exp\":1800000000}",
            "{\"active\":true,\"active\":true,\"sub\":\"dave\",\"exp\":1800000000}",
            "{\"active\":true,\"sub\":\"dave\",\"sub\":\"root\",\"exp\":1800000000}",
            "<html>502 Bad Gateway</html>",
            "{\"active\":true,\"sub\":\"a\\u0000b\",\"exp\":1800000000}", /* jansson: no NUL */
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct jwt_claims c;
        enum jwt_error why;
        if (parse(v[i], &c, &why) != -EINVAL)
            fail_msg("accepted: %s", v[i]);
        assert_null(c.sub);
    }
    /* over the size limit */
    size_t n = JWT_MAX_INTROSPECTION + 64;
    char *b = malloc(n + 1);
    assert_non_null(b);
    memset(b, ' ', n);
    memcpy(b, "{\"active\":false}", 16);
    b[n] = '\0';
    struct jwt_claims c;
    assert_int_equal(jwt_introspection_parse(&conf, b, n, NOW, &c, NULL), -EINVAL);
    free(b);
    assert_int_equal(jwt_introspection_parse(NULL, "{}", 2, NOW, &c, NULL), -EINVAL);
    assert_int_equal(jwt_introspection_parse(&conf, "{\"active\":true}", 5, NOW, &c, NULL),
                     -EINVAL); /* cut short */
}

static char *b64j(const char *s)
{
    char *o = malloc(b64url_encoded_len(strlen(s)) + 1);
    assert_non_null(o);
    b64url_encode((const uint8_t *)s, strlen(s), o);
    return o;
}

static void test_peek(void **st)
{
    char *h = b64j("{\"alg\":\"ES256\",\"kid\":\"k-2\"}"),
         *p = b64j("{\"iss\":\"https://x.test\"}"), *h2 = b64j("{\"alg\":\"ES256\"}"),
         *p2 = b64j("{\"sub\":\"x\"}"), *hn = b64j("{\"alg\":\"none\"}");
    char tok[512], iss[64], kid[16];
    snprintf(tok, sizeof(tok), "%s.%s.c2ln", h, p);
    assert_int_equal(jwt_peek(tok, strlen(tok), iss, sizeof(iss), kid, sizeof(kid)), 0);
    assert_string_equal(iss, "https://x.test");
    assert_string_equal(kid, "k-2");
    snprintf(tok, sizeof(tok), "%s.%s.c2ln", h2, p);
    assert_int_equal(jwt_peek(tok, strlen(tok), iss, sizeof(iss), kid, sizeof(kid)), 0);
    assert_string_equal(kid, "");
    snprintf(tok, sizeof(tok), "%s.%s.c2ln", h, p2); /* no iss */
    assert_int_equal(jwt_peek(tok, strlen(tok), iss, sizeof(iss), kid, sizeof(kid)), -EINVAL);
    snprintf(tok, sizeof(tok), "%s.%s.c2ln", hn, p); /* alg none */
    assert_int_equal(jwt_peek(tok, strlen(tok), iss, sizeof(iss), kid, sizeof(kid)), -EINVAL);
    snprintf(tok, sizeof(tok), "%s.%s.c2ln", h, p); /* iss does not fit */
    assert_int_equal(jwt_peek(tok, strlen(tok), iss, 8, kid, sizeof(kid)), -EINVAL);
    assert_int_equal(jwt_peek("opaque-token", 12, iss, sizeof(iss), kid, sizeof(kid)), -EINVAL);
    assert_int_equal(jwt_peek("a.b.c", 5, iss, sizeof(iss), kid, sizeof(kid)), -EINVAL);
    free(h);
    free(p);
    free(h2);
    free(p2);
    free(hn);
}

static void test_jwks_ref(void **st)
{
    static const char set[] = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"a\","
                              "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                              "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}";
    struct diags d = {0};
    struct jwks *k = NULL;
    assert_int_equal(jwks_parse("t", set, strlen(set), JWT_ALG_ES256, &k, &d), 0);
    diag_free(&d);
    assert_true(jwks_has_kid(k, "a"));
    assert_false(jwks_has_kid(k, "b"));
    assert_false(jwks_has_kid(NULL, "a"));
    assert_ptr_equal(jwks_ref(k), k);
    assert_ptr_equal(jwks_ref(k), k);
    jwks_free(k);
    jwks_free(k);
    assert_true(jwks_has_kid(k, "a")); /* still one owner */
    jwks_free(k);                      /* ASan: freed exactly once */
    assert_null(jwks_ref(NULL));
}

static void ready(void *ud, int status)
{
    (void)ud;
    (void)status;
    fail_msg("no wait expected");
}

static void test_extiss_empty(void **st)
{
    sd_event *ev = NULL;
    struct south_http *h = NULL;
    struct extiss *x = NULL;
    struct extiss_wait *w = (struct extiss_wait *)1;
    struct jwt_claims c;
    const char *name = "x";
    assert_int_equal(sd_event_new(&ev), 0);
    assert_int_equal(south_http_new(ev, &h), 0);
    assert_int_equal(extiss_new(ev, h, &x), 0);
    assert_int_equal(extiss_attach(x, NULL, 0, NULL), 0);
    assert_int_equal(extiss_prepare(x, "tok", 3, 0, ready, NULL, &w), 0);
    assert_null(w);
    assert_int_equal(extiss_lookup(x, NULL, "tok", 3, NOW, &c, &name), JWT_UNKNOWN_ISSUER);
    assert_null(name);
    assert_int_equal(extiss_lookup(NULL, NULL, "tok", 3, NOW, &c, &name), JWT_UNKNOWN_ISSUER);
    assert_false(extiss_has_keys(x, "none"));
    extiss_cancel(NULL);
    extiss_free(x);
    extiss_free(NULL);
    south_http_free(h);
    sd_event_unref(ev);
}

/* internal https calls: refused without tls, Authorization only with tls */
static void done_cb(void *ud, const struct south_http_response *r)
{
    (void)ud;
    (void)r;
}

static void test_http_tls_flags(void **st)
{
    sd_event *ev = NULL;
    struct south_http *h = NULL;
    assert_int_equal(sd_event_new(&ev), 0);
    assert_int_equal(south_http_new(ev, &h), 0);
    struct south_http_request rq = {.method = "GET", .url = "https://127.0.0.1:1/x"};
    assert_int_equal(south_http_start(h, &rq, done_cb, NULL, NULL, NULL), -EINVAL);
    rq.url = "http://127.0.0.1:1/x";
    rq.authorization = "Basic eDp5";
    assert_int_equal(south_http_start(h, &rq, done_cb, NULL, NULL, NULL), -EINVAL);
    rq.tls = true;
    rq.url = "https://127.0.0.1:1/x";
    rq.authorization = "Basic a\r\nX: y";
    assert_int_equal(south_http_start(h, &rq, done_cb, NULL, NULL, NULL), -EINVAL);
    struct south_http_call *call = NULL;
    rq.authorization = "Basic eDp5";
    assert_int_equal(south_http_start(h, &rq, done_cb, NULL, NULL, &call), 0);
    south_http_cancel(call);
    south_http_free(h);
    sd_event_unref(ev);
}

/* ---- the [issuer] keys ---------------------------------------------------------------- */

#define CONF_PATH "tests/data/config/inline.conf"
#define HEAD      "[issuer x]\nissuer = https://x.test\naudience = gw\n"

static struct config *conf_ok(const char *text)
{
    struct config *c = NULL;
    struct diags d = {0};
    int r = config_parse(CONF_PATH, text, strlen(text), &c, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "  diag: %u: %s\n", d.v[i].line, d.v[i].msg);
    assert_int_equal(r, 0);
    assert_int_equal(d.n, 0);
    diag_free(&d);
    return c;
}

static void conf_bad(const char *text, unsigned line, const char *needle)
{
    struct config *c = NULL;
    struct diags d = {0};
    assert_int_equal(config_parse(CONF_PATH, text, strlen(text), &c, &d), -EINVAL);
    bool found = false;
    for (size_t i = 0; i < d.n; i++)
        if (d.v[i].line == line && strstr(d.v[i].msg, needle))
            found = true;
    if (!found) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "  diag: %u: %s\n", d.v[i].line, d.v[i].msg);
        fail_msg("no diag at line %u with '%s'", line, needle);
    }
    diag_free(&d);
}

static void test_config_keys(void **st)
{
    struct config *c = conf_ok(HEAD "jwks_uri = https://idp.test/jwks\nca = ca.pem\n");
    const struct issuer_conf *ic = config_find_issuer(c, "x");
    assert_non_null(ic);
    assert_null(ic->jwks);
    assert_string_equal(ic->jwks_uri, "https://idp.test/jwks");
    assert_int_equal(ic->jwks_refresh_s, 3600);
    assert_int_equal(ic->jwks_max_stale_s, 86400);
    assert_int_equal(ic->jwks_refetch_min_s, 60);
    assert_non_null(strstr(ic->ca, "/ca.pem"));
    config_free(c);
    c = conf_ok(HEAD "jwks_uri = https://idp.test/jwks\njwks_refresh = 5m\njwks_max_stale = 0\n"
                     "jwks_refetch_min = 10s\n");
    ic = config_find_issuer(c, "x");
    assert_int_equal(ic->jwks_refresh_s, 300);
    assert_int_equal(ic->jwks_max_stale_s, 0);
    assert_int_equal(ic->jwks_refetch_min_s, 10);
    config_free(c);
    c = conf_ok(HEAD "introspection_url = https://idp.test/introspect\n"
                     "introspection_client_id = gw\nintrospection_secret_file = gw.secret\n"
                     "introspection_cache = 32\nintrospection_cache_ttl = 2m\n");
    ic = config_find_issuer(c, "x");
    assert_string_equal(ic->introspection_url, "https://idp.test/introspect");
    assert_string_equal(ic->introspection_client_id, "gw");
    assert_non_null(strstr(ic->introspection_secret_file, "/gw.secret"));
    assert_int_equal(ic->introspection_cache, 32);
    assert_int_equal(ic->introspection_cache_ttl_s, 120);
    config_free(c);

    conf_bad(HEAD, 1, "missing required key 'jwks'");
    conf_bad(HEAD "jwks = a.json\njwks_uri = https://idp.test/jwks\n", 5, "give only one of");
    conf_bad(HEAD "jwks_uri = https://idp.test/jwks\nintrospection_url = https://idp.test/i\n"
                  "introspection_client_id = gw\nintrospection_secret_file = s\n",
             4, "give only one of");
    conf_bad(HEAD "jwks_uri = http://idp.test/jwks\n", 4, "must start with https://");
    conf_bad(HEAD "jwks_uri = https://user@idp.test/jwks\n", 4, "user information");
    conf_bad(HEAD "jwks_uri = https://idp.test/jwks\njwks_refresh = 0s\n", 5, "out of range");
    conf_bad(HEAD "jwks_uri = https://idp.test/jwks\njwks_refresh = soon\n", 5, "not a duration");
    conf_bad(HEAD "jwks = a.json\njwks_refresh = 1h\n", 5, "jwks_refresh needs jwks_uri");
    conf_bad(HEAD "jwks = a.json\nca = ca.pem\n", 5, "ca needs jwks_uri or introspection_url");
    conf_bad(HEAD "introspection_url = https://idp.test/i\n", 4,
             "needs introspection_client_id and introspection_secret_file");
    conf_bad(HEAD "introspection_url = https://idp.test/i\nintrospection_client_id = gw\n"
                  "introspection_secret_file = s\nintrospection_cache = 3\n",
             7, "from 16 to 65536");
    conf_bad(HEAD "introspection_url = https://idp.test/i\nintrospection_client_id = g w\n"
                  "introspection_secret_file = s\n",
             5, "without blanks");
    conf_bad(HEAD "jwks_uri = https://idp.test/jwks\nintrospection_cache = 64\n", 5,
             "introspection_cache needs introspection_url");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_active),         cmocka_unit_test(test_refused),
            cmocka_unit_test(test_malformed),      cmocka_unit_test(test_peek),
            cmocka_unit_test(test_jwks_ref),       cmocka_unit_test(test_extiss_empty),
            cmocka_unit_test(test_http_tls_flags), cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
