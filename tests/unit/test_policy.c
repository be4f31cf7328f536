/* test_policy.c - the policy engine: expression parser, compilation of the
 * [thing] policy keys against a TD, every branch of policy_decide for every
 * scheme, combinations, precedence of overrides, deny by default,
 * policy_may_see, and that no secret reaches a reason or a principal.
 *
 * Every test runs twice: without and with a credential cache
 * (credcache.h) in the policy env; with the cache each decision is made
 * twice and both must agree, so the second one (a cache hit where the
 * first verified a credential) gives exactly the uncached answer.
 *
 * JWTs are minted here with OpenSSL (Ed25519 keys generated at test time).
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
#include <openssl/evp.h>

#include "auth/apikeys.h"
#include "auth/certmap.h"
#include "auth/credcache.h"
#include "auth/jwt.h"
#include "auth/users.h"
#include "config.h"
#include "policy.h"
#include "td.h"

#define NOW        INT64_C(1700000000)
#define LAMP_TD    "tests/data/policy/lamp.td.json"
#define ALICE_PW   "alice-pw-Secr3t"
#define BOB_PW     "bob-pw-Secr3t"
#define BOT_KEY    "wk_test_4f9d8a7c6b5e4d3c2b1a0f9e8d7c6b5a"
#define CERT_ALICE "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define BIT(k)     (1u << (k))

/* ---- shared state: credentials and keys ----------------------------------- */

static struct users *g_users;
static struct apikeys *g_apikeys;
static struct certmap *g_certmap;
static EVP_PKEY *g_idp_key, *g_other_key, *g_rogue_key;
static char *g_idp_jwks, *g_other_jwks;
static struct credcache *g_cache; /* the second pass only */

static char *b64url(const void *p, size_t n)
{
    char *o = malloc(b64url_encoded_len(n) + 1);
    assert_non_null(o);
    b64url_encode(p, n, o);
    return o;
}

static char *jwks_of(EVP_PKEY *k, const char *kid)
{
    uint8_t pub[32];
    size_t n = sizeof(pub);
    assert_int_equal(EVP_PKEY_get_raw_public_key(k, pub, &n), 1);
    char *x = b64url(pub, n), *out = NULL;
    assert_true(asprintf(&out,
                         "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\","
                         "\"kid\":\"%s\",\"alg\":\"EdDSA\",\"use\":\"sig\"}]}",
                         x, kid) > 0);
    free(x);
    return out;
}

/* A compact JWS (EdDSA). aud/scope NULL: absent; nbf 0: absent. */
static char *mint(EVP_PKEY *key, const char *kid, const char *iss, const char *sub, const char *aud,
                  int64_t exp, int64_t nbf, const char *scope)
{
    json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "EdDSA", "typ", "JWT", "kid", kid);
    json_t *p = json_pack("{s:s, s:s, s:I, s:I}", "iss", iss, "sub", sub, "exp", (json_int_t)exp,
                          "iat", (json_int_t)(NOW - 10));
    assert_non_null(h);
    assert_non_null(p);
    if (aud)
        json_object_set_new(p, "aud", json_string(aud));
    if (nbf)
        json_object_set_new(p, "nbf", json_integer(nbf));
    if (scope)
        json_object_set_new(p, "scope", json_string(scope));
    char *hs = json_dumps(h, JSON_COMPACT), *ps = json_dumps(p, JSON_COMPACT);
    char *hb = b64url(hs, strlen(hs)), *pb = b64url(ps, strlen(ps));
    char *input = NULL, *tok = NULL;
    assert_true(asprintf(&input, "%s.%s", hb, pb) > 0);
    uint8_t sig[64];
    size_t sl = sizeof(sig);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(mc, NULL, NULL, NULL, key), 1);
    assert_int_equal(EVP_DigestSign(mc, sig, &sl, (const uint8_t *)input, strlen(input)), 1);
    EVP_MD_CTX_free(mc);
    char *sb = b64url(sig, sl);
    assert_true(asprintf(&tok, "%s.%s", input, sb) > 0);
    free(sb);
    free(input);
    free(hb);
    free(pb);
    free(hs);
    free(ps);
    json_decref(h);
    json_decref(p);
    return tok;
}

static char *idp_token(const char *sub, const char *scope)
{
    return mint(g_idp_key, "idp-1", "https://idp.example", sub, "wotgw", NOW + 300, 0, scope);
}

static int group_setup(void **state)
{
    struct diags d = {0};
    assert_int_equal(users_load("tests/data/policy/users", &g_users, &d), 0);
    assert_int_equal(apikeys_load("tests/data/policy/apikeys", &g_apikeys, &d), 0);
    assert_int_equal(certmap_load("tests/data/policy/certmap", &g_certmap, &d), 0);
    diag_free(&d);
    g_idp_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    g_other_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    g_rogue_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(g_idp_key);
    assert_non_null(g_other_key);
    assert_non_null(g_rogue_key);
    g_idp_jwks = jwks_of(g_idp_key, "idp-1");
    g_other_jwks = jwks_of(g_other_key, "other-1");
    return 0;
}

static int group_teardown(void **state)
{
    users_free(g_users);
    apikeys_free(g_apikeys);
    certmap_free(g_certmap);
    EVP_PKEY_free(g_idp_key);
    EVP_PKEY_free(g_other_key);
    EVP_PKEY_free(g_rogue_key);
    free(g_idp_jwks);
    free(g_other_jwks);
    return 0;
}

/* ---- a fixture: config + TD + compiled policy ------------------------------ */

struct fx {
    char dir[64];
    char path[128];
    char *text;
    struct config *conf;
    const struct thing_conf *tc;
    struct td *td;
    struct policy_thing *pt;
    struct diags d;
    int rc;
    struct jwt_issuer iss[2];
    const struct jwt_issuer *iss_ptrs[2];
    struct policy_env env;
};

static const char *const ISSUERS = "[issuer idp]\n"
                                   "issuer = https://idp.example\n"
                                   "jwks = idp.jwks\n"
                                   "audience = wotgw\n"
                                   "token_url = https://idp.example/token\n"
                                   "authorization_url = https://idp.example/auth\n"
                                   "flow = code\n"
                                   "[issuer other]\n"
                                   "issuer = https://other.example\n"
                                   "jwks = other.jwks\n"
                                   "audience = wotgw\n";

/* Loads a config whose [thing lamp] has td = TD and the given policy keys,
 * then compiles the policy (result in f->rc). */
static void fx_load_td(struct fx *f, const char *td_rel, const char *body, bool issuers)
{
    memset(f, 0, sizeof(*f));
    strcpy(f->dir, "/tmp/wotgw-policy-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/wotgw.conf", f->dir);
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_true(asprintf(&f->text,
                         "[gateway]\nbase_url = https://gw.example:8443\n"
                         "[credentials]\napikey_header = X-Key\n"
                         "%s"
                         "%s"
                         "[thing lamp]\ntd = %s/%s\n%s",
                         /* policy compilation only needs the key, not the file */
                         issuers ? "oscore = oscore.ctx\n" : "", issuers ? ISSUERS : "", cwd,
                         td_rel, body) > 0);
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(f->text, fp);
    fclose(fp);
    int r = config_load(f->path, &f->conf, &f->d);
    if (r < 0)
        diag_print(&f->d, stderr);
    assert_int_equal(r, 0);
    f->tc = config_find_thing(f->conf, "lamp");
    assert_non_null(f->tc);
    const struct td_limits lim = {.max_size = 1u << 20, .max_depth = 32};
    r = td_load_file(f->tc->td, &lim, &f->td, &f->d);
    if (r < 0)
        diag_print(&f->d, stderr);
    assert_int_equal(r, 0);
    f->rc = policy_thing_compile(f->conf, f->tc, f->td, &f->pt, &f->d);
    for (size_t i = 0; i < f->conf->n_issuers && i < 2; i++) {
        const char *jw = !strcmp(f->conf->issuers[i].name, "idp") ? g_idp_jwks : g_other_jwks;
        f->iss[i].conf = &f->conf->issuers[i];
        assert_int_equal(jwks_parse("test.jwks", jw, strlen(jw), f->conf->issuers[i].algorithms,
                                    &f->iss[i].keys, &f->d),
                         0);
        f->iss_ptrs[i] = &f->iss[i];
    }
    f->env = (struct policy_env){
            .users = g_users,
            .apikeys = g_apikeys,
            .certmap = g_certmap,
            .issuers = f->iss_ptrs,
            .n_issuers = f->conf->n_issuers,
            .max_token_size = 8192,
            .now = NOW,
            .credcache = g_cache,
    };
    /* a new configuration: like a reload, a new (empty) cache */
    credcache_flush(g_cache);
}

static void fx_load(struct fx *f, const char *body)
{
    fx_load_td(f, LAMP_TD, body, true);
    if (f->rc < 0)
        diag_print(&f->d, stderr);
    assert_int_equal(f->rc, 0);
}

static void fx_free(struct fx *f)
{
    policy_thing_free(f->pt);
    td_free(f->td);
    for (size_t i = 0; i < 2; i++)
        jwks_free(f->iss[i].keys);
    config_free(f->conf);
    diag_free(&f->d);
    unlink(f->path);
    rmdir(f->dir);
    free(f->text);
}

/* The config line of the first line starting with key. */
static unsigned line_of(const struct fx *f, const char *key)
{
    unsigned line = 1;
    size_t kl = strlen(key);
    for (const char *p = f->text; *p; p++) {
        if ((p == f->text || p[-1] == '\n') && !strncmp(p, key, kl))
            return line;
        if (*p == '\n')
            line++;
    }
    fail_msg("no line starting with %s", key);
    return 0;
}

/* True when d has an error at f->path:line whose message contains needle. */
static bool has_error_at(const struct fx *f, unsigned line, const char *needle)
{
    for (size_t i = 0; i < f->d.n; i++) {
        const struct diag *g = &f->d.v[i];
        if (!g->warning && g->line == line && !strcmp(g->file, f->path) && strstr(g->msg, needle))
            return true;
    }
    diag_print(&f->d, stderr);
    return false;
}

static bool has_warning(const struct fx *f, const char *needle)
{
    for (size_t i = 0; i < f->d.n; i++)
        if (f->d.v[i].warning && strstr(f->d.v[i].msg, needle))
            return true;
    return false;
}

static void decide(struct fx *f, const char *aff, enum wot_op op, const struct credentials *c,
                   struct policy_decision *out)
{
    memset(out, 0x5a, sizeof(*out)); /* every field must be written */
    policy_decide(&f->env, f->pt, aff, op, c, out);
    assert_non_null(out->reason);
    assert_non_null(out->scopes);
    assert_true(memchr(out->principal, '\0', sizeof(out->principal)) != NULL);
    if (f->env.credcache) {
        struct policy_decision again;
        memset(&again, 0x5a, sizeof(again));
        policy_decide(&f->env, f->pt, aff, op, c, &again);
        assert_int_equal(again.verdict, out->verdict);
        assert_string_equal(again.reason, out->reason);
        assert_string_equal(again.principal, out->principal);
        assert_int_equal(again.challenge, out->challenge);
        assert_int_equal(again.invalid_token, out->invalid_token);
        assert_int_equal(again.insufficient_scope, out->insufficient_scope);
        assert_ptr_equal(again.scopes, out->scopes);
    }
}

static void assert_no_secret(const struct policy_decision *d, const char *secret)
{
    if (!secret || !*secret)
        return;
    assert_null(strstr(d->reason, secret));
    assert_null(strstr(d->principal, secret));
}

/* ---- sec_expr_parse ---------------------------------------------------------- */

static void check_canon(const char *in, const char *canon, unsigned schemes)
{
    struct sec_expr *e = NULL;
    char err[128];
    int r = sec_expr_parse(in, &e, err, sizeof(err));
    if (r)
        fail_msg("'%s': %s", in, err);
    assert_non_null(e);
    assert_string_equal(e->text, canon);
    assert_int_equal(sec_expr_schemes(e), schemes);
    /* the canonical text parses to itself */
    struct sec_expr *e2 = NULL;
    assert_int_equal(sec_expr_parse(e->text, &e2, err, sizeof(err)), 0);
    assert_string_equal(e2->text, canon);
    sec_expr_free(e2);
    sec_expr_free(e);
}

static void test_expr_valid(void **state)
{
    check_canon("basic", "basic", BIT(SEC_BASIC));
    check_canon("  nosec\t", "nosec", BIT(SEC_NOSEC));
    check_canon("basic | bearer", "basic|bearer", BIT(SEC_BASIC) | BIT(SEC_BEARER));
    check_canon("basic|(bearer:idp&cert)", "basic|(bearer:idp&cert)",
                BIT(SEC_BASIC) | BIT(SEC_BEARER) | BIT(SEC_CERT));
    check_canon("basic | bearer:idp & cert", "basic|(bearer:idp&cert)",
                BIT(SEC_BASIC) | BIT(SEC_BEARER) | BIT(SEC_CERT));
    check_canon("((basic))", "basic", BIT(SEC_BASIC));
    check_canon("(basic|apikey)|psk", "basic|apikey|psk",
                BIT(SEC_BASIC) | BIT(SEC_APIKEY) | BIT(SEC_PSK));
    check_canon("cert&(psk&oauth2:other)", "cert&psk&oauth2:other",
                BIT(SEC_CERT) | BIT(SEC_PSK) | BIT(SEC_OAUTH2));
    check_canon("(basic|apikey)&cert", "(basic|apikey)&cert",
                BIT(SEC_BASIC) | BIT(SEC_APIKEY) | BIT(SEC_CERT));
    check_canon("bearer:a|bearer:b", "bearer:a|bearer:b", BIT(SEC_BEARER));
    check_canon("oscore", "oscore", BIT(SEC_OSCORE));
    check_canon("oscore | psk", "oscore|psk", BIT(SEC_OSCORE) | BIT(SEC_PSK));
    check_canon("(oscore&psk)|(oscore&cert)", "(oscore&psk)|(oscore&cert)",
                BIT(SEC_OSCORE) | BIT(SEC_PSK) | BIT(SEC_CERT));

    struct sec_expr *e = NULL;
    assert_int_equal(sec_expr_parse("basic|(bearer:idp&cert)", &e, NULL, 0), 0);
    assert_int_equal(e->kind, SEC_ONEOF);
    assert_int_equal(e->n_subs, 2);
    assert_int_equal(e->subs[0]->kind, SEC_BASIC);
    assert_int_equal(e->subs[1]->kind, SEC_ALLOF);
    assert_string_equal(e->subs[1]->subs[0]->issuer, "idp");
    assert_null(e->subs[1]->subs[1]->issuer);
    sec_expr_free(e);

    assert_string_equal(sec_kind_name(SEC_OAUTH2), "oauth2");
    assert_string_equal(sec_kind_name(SEC_ALLOF), "allOf");
    assert_string_equal(sec_kind_name(SEC_OSCORE), "oscore");
    assert_string_equal(sec_kind_name((enum sec_kind)99), "invalid");
    assert_int_equal(sec_expr_schemes(NULL), 0);
}

static void check_bad(const char *in, const char *msg)
{
    struct sec_expr *e = (struct sec_expr *)1;
    char err[160] = "x";
    int r = sec_expr_parse(in, &e, err, sizeof(err));
    assert_int_equal(r, -EINVAL);
    assert_null(e);
    if (!strstr(err, msg))
        fail_msg("'%s': got '%s', expected '%s'", in ? in : "(null)", err, msg);
}

static void test_expr_invalid(void **state)
{
    check_bad(NULL, "empty");
    check_bad("", "empty");
    check_bad("  \t", "empty");
    check_bad("bsic", "unknown scheme 'bsic'");
    check_bad("BASIC", "unknown scheme 'BASIC'");
    check_bad("digest", "unknown scheme 'digest'");
    check_bad("basic|", "expected a scheme at the end");
    check_bad("|basic", "expected a scheme at position 1");
    check_bad("basic||bearer", "position 7");
    check_bad("basic&", "expected a scheme");
    check_bad("(basic", "missing ')'");
    check_bad("basic)", "unbalanced ')'");
    check_bad("()", "expected a scheme");
    check_bad("basic bearer", "unexpected 'b'");
    check_bad("basic:idp", "only allowed after bearer or oauth2");
    check_bad("cert:x", "only allowed after bearer or oauth2");
    check_bad("bearer:", "bad issuer name");
    check_bad("bearer:a/b", "unexpected '/'");
    check_bad("nosec|basic", "nosec cannot be combined");
    check_bad("cert&nosec", "nosec cannot be combined");
    check_bad("(nosec)|(nosec)", "appears twice");
    check_bad("basic|basic", "appears twice");
    check_bad("basic|(bearer&cert)|(cert&bearer)|(bearer&cert)", "appears twice");
    check_bad("basic\x01", "unexpected character");
    check_bad("basic$", "unexpected '$' at position 6");
    check_bad("(basic)x", "unexpected 'x'");
    check_bad("b\xc3\xa4sic", "unexpected character");
    /* bounds */
    check_bad("(((((((((basic)))))))))", "nested deeper");
    check_bad("basic|apikey|psk|cert|bearer:a|bearer:b|bearer:c|bearer:d|bearer:e|"
              "bearer:f|bearer:g|bearer:h|bearer:i|bearer:j|bearer:k|bearer:l|bearer:m",
              "more than 16 schemes");
    char *longs = malloc(2000);
    memset(longs, ' ', 1999);
    longs[1999] = '\0';
    memcpy(longs, "basic", 5);
    check_bad(longs, "longer than 1024");
    free(longs);
    char issuer[100];
    snprintf(issuer, sizeof(issuer), "bearer:%070d", 7);
    check_bad(issuer, "bad issuer name");
    /* a NULL error buffer is fine */
    struct sec_expr *e = NULL;
    assert_int_equal(sec_expr_parse("nope", &e, NULL, 0), -EINVAL);
    assert_null(e);
}

/* ---- compilation --------------------------------------------------------------- */

static void test_compile_no_security(void **state)
{
    struct fx f;
    fx_load_td(&f, LAMP_TD, "allow = *\n", true);
    assert_int_equal(f.rc, -EINVAL);
    assert_null(f.pt);
    assert_true(
            has_error_at(&f, line_of(&f, "[thing lamp]"), "nothing exposed: add a security key"));
    fx_free(&f);
}

static void test_compile_errors(void **state)
{
    static const struct {
        const char *body;
        const char *key;
        const char *msg;
    } cases[] = {
            {"security = basic\nsecurity.nolamp = basic\n", "security.nolamp",
             "no affordance 'nolamp'"},
            {"security = basic\nallow.nolamp.readproperty = *\n", "allow.nolamp",
             "no affordance 'nolamp'"},
            {"security = basic\nsecurity.brightness.writeproperty = basic\n",
             "security.brightness.", "offers no writeproperty on 'brightness'"},
            {"security = basic\nsecurity.on.readallproperties = basic\n", "security.on.",
             "thing-level operation"},
            {"security = basic\nsecurity.toggle.readproperty = basic\n", "security.toggle",
             "'toggle' is not a property"},
            {"security = basic\nscopes.writeallproperties = x\n", "scopes.write",
             "offers no writeallproperties"},
            {"security = basic\nsecurity.cancelaction = basic\n", "security.cancel",
             "offers no cancelaction on any affordance"},
            {"security = bsic\n", "security =", "unknown scheme 'bsic'"},
            {"security = bearer:nobody\n", "security =", "unknown issuer 'nobody'"},
            {"security = basic\nsecurity.on = nosec | basic\n", "security.on",
             "nosec cannot be combined"},
            {"security = basic\nallow = alice\n", "allow =", "'alice' is not user:NAME"},
            {"security = basic\nallow = user:\n", "allow =", "'user:' is not user:NAME"},
            {"security = basic\nallow = group:a/b\n", "allow =", "not user:NAME"},
            {"security = basic\nallow = * *\n", "allow =", "listed twice"},
            {"security = bearer\nscopes = a\"b\n", "scopes =", "invalid scope"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct fx f;
        fx_load_td(&f, LAMP_TD, cases[i].body, true);
        if (f.rc != -EINVAL)
            fail_msg("case %zu compiled: %s", i, cases[i].body);
        assert_null(f.pt);
        assert_true(has_error_at(&f, line_of(&f, cases[i].key), cases[i].msg));
        fx_free(&f);
    }
}

static void test_compile_no_issuer(void **state)
{
    struct fx f;
    fx_load_td(&f, LAMP_TD, "security = basic\nsecurity.toggle = oauth2\n", false);
    assert_int_equal(f.rc, -EINVAL);
    assert_true(has_error_at(&f, line_of(&f, "security.toggle"), "needs an [issuer NAME]"));
    fx_free(&f);
}

/* like bearer needs an [issuer], oscore needs the contexts file */
static void test_compile_no_oscore_contexts(void **state)
{
    struct fx f;
    fx_load_td(&f, LAMP_TD, "security = basic\nallow = *\nsecurity.toggle = psk | oscore\n", false);
    assert_int_equal(f.rc, -EINVAL);
    assert_null(f.pt);
    assert_true(has_error_at(&f, line_of(&f, "security.toggle"),
                             "oscore needs an OSCORE contexts file ([credentials] oscore)"));
    fx_free(&f);
    fx_load_td(&f, LAMP_TD, "security = psk\nallow = *\n", false);
    assert_int_equal(f.rc, 0);
    fx_free(&f);
}

static void test_compile_marks_used_and_warns(void **state)
{
    struct fx f;
    fx_load(&f, "security = basic | bearer\nscopes.on = lamp:light\n"
                "security.secret = cert\n");
    struct ini_section *s = f.tc->section;
    size_t n_policy = 0;
    for (size_t i = 0; i < s->n_entries; i++)
        if (strcmp(s->entries[i].key, "td")) {
            assert_true(s->entries[i].used);
            n_policy++;
        }
    assert_int_equal(n_policy, 3);
    /* basic/cert without any allow key: nobody can use them */
    assert_true(has_warning(&f, "no allow key"));
    /* readallproperties reaches 'secret' under the thing-wide policy */
    assert_true(has_warning(&f, "readallproperties"));
    assert_string_equal(policy_thing_name(f.pt), "lamp");
    assert_non_null(policy_thing_security(f.pt));
    assert_string_equal(policy_thing_security(f.pt)->text, "basic|bearer");
    fx_free(&f);

    /* token-only policy with an explicit bulk rule: no warning */
    fx_load(&f, "security = bearer\nsecurity.secret = bearer:idp\n"
                "security.readallproperties = bearer:other\n");
    assert_false(has_warning(&f, "no allow key"));
    assert_false(has_warning(&f, "readallproperties"));
    fx_free(&f);
}

static void test_compile_dotted_names(void **state)
{
    struct fx f;
    struct policy_form pf;
    /* "temp.celsius" is an affordance; "temp.celsius.readproperty" splits */
    fx_load(&f, "security = basic\nallow = *\nsecurity.temp.celsius = cert\n"
                "scopes.temp.celsius.readproperty = t:c\n");
    policy_lookup(f.pt, "temp.celsius", WOT_OP_READPROPERTY, &pf);
    assert_non_null(pf.security);
    assert_string_equal(pf.security->text, "cert");
    assert_string_equal(pf.scopes[0], "t:c");
    assert_null(pf.scopes[1]);
    fx_free(&f);
}

/* ---- lookup and precedence ---------------------------------------------------- */

static void test_precedence(void **state)
{
    struct fx f;
    struct policy_form pf;
    fx_load(&f, "security = basic\n"
                "security.readproperty = apikey\n"
                "security.on = cert\n"
                "security.on.writeproperty = psk\n"
                "allow = group:family\n"
                "allow.readproperty = group:bots\n"
                "allow.on = user:carol\n"
                "allow.on.writeproperty = user:alice\n"
                "scopes = s:thing\n"
                "scopes.invokeaction = s:op\n"
                "scopes.toggle = s:aff\n"
                "scopes.toggle.invokeaction = s:affop\n");
    /* AFF.OP beats AFF beats OP beats thing-wide, per field */
    policy_lookup(f.pt, "on", WOT_OP_WRITEPROPERTY, &pf);
    assert_string_equal(pf.security->text, "psk");
    assert_string_equal(pf.allow[0], "user:alice");
    assert_string_equal(pf.scopes[0], "s:thing");
    policy_lookup(f.pt, "on", WOT_OP_READPROPERTY, &pf);
    assert_string_equal(pf.security->text, "cert");
    assert_string_equal(pf.allow[0], "user:carol");
    policy_lookup(f.pt, "on", WOT_OP_OBSERVEPROPERTY, &pf);
    assert_string_equal(pf.security->text, "cert");
    policy_lookup(f.pt, "brightness", WOT_OP_READPROPERTY, &pf);
    assert_string_equal(pf.security->text, "apikey");
    assert_string_equal(pf.allow[0], "group:bots");
    policy_lookup(f.pt, "colour temp", WOT_OP_WRITEPROPERTY, &pf);
    assert_string_equal(pf.security->text, "basic");
    assert_string_equal(pf.allow[0], "group:family");
    policy_lookup(f.pt, "toggle", WOT_OP_INVOKEACTION, &pf);
    assert_string_equal(pf.security->text, "basic");
    assert_string_equal(pf.scopes[0], "s:affop");
    policy_lookup(f.pt, "reboot", WOT_OP_INVOKEACTION, &pf);
    assert_string_equal(pf.scopes[0], "s:op");
    policy_lookup(f.pt, NULL, WOT_OP_READALLPROPERTIES, &pf);
    assert_string_equal(pf.security->text, "basic");
    assert_string_equal(pf.scopes[0], "s:thing");
    assert_null(pf.scopes[1]);
    fx_free(&f);
}

static void test_default_scopes_and_not_exposed(void **state)
{
    struct fx f;
    struct policy_form pf;
    fx_load(&f, "security.on = bearer\nsecurity.toggle = bearer\nsecurity.overheated = bearer\n"
                "security.readallproperties = bearer\n");
    policy_lookup(f.pt, "on", WOT_OP_READPROPERTY, &pf);
    assert_string_equal(pf.scopes[0], "lamp:read");
    policy_lookup(f.pt, "on", WOT_OP_OBSERVEPROPERTY, &pf);
    assert_string_equal(pf.scopes[0], "lamp:read");
    policy_lookup(f.pt, "on", WOT_OP_WRITEPROPERTY, &pf);
    assert_string_equal(pf.scopes[0], "lamp:write");
    assert_null(pf.allow);
    policy_lookup(f.pt, "toggle", WOT_OP_INVOKEACTION, &pf);
    assert_string_equal(pf.scopes[0], "lamp:invoke");
    policy_lookup(f.pt, "overheated", WOT_OP_SUBSCRIBEEVENT, &pf);
    assert_string_equal(pf.scopes[0], "lamp:subscribe");
    policy_lookup(f.pt, NULL, WOT_OP_READALLPROPERTIES, &pf);
    assert_string_equal(pf.scopes[0], "lamp:read");

    /* deny by default: everything without a security key */
    static const struct {
        const char *aff;
        enum wot_op op;
    } none[] = {
            {"brightness", WOT_OP_READPROPERTY}, /* no key applies */
            {"reboot", WOT_OP_INVOKEACTION},     /* no key applies */
            {"on", WOT_OP_UNOBSERVEPROPERTY},    /* the device does not offer it */
            {"on", WOT_OP_INVOKEACTION},         /* wrong kind */
            {"toggle", WOT_OP_READPROPERTY},     /* wrong kind */
            {"nolamp", WOT_OP_READPROPERTY},     /* no such affordance */
            {"on", WOT_OP_READALLPROPERTIES},    /* thing-level op with a name */
            {NULL, WOT_OP_READPROPERTY},         /* affordance op without a name */
            {NULL, WOT_OP_WRITEALLPROPERTIES},   /* not offered */
            {"on", (enum wot_op)WOT_OP__COUNT},  /* out of range */
            {"on", WOT_OP__INVALID},
    };
    for (size_t i = 0; i < ARRAY_SIZE(none); i++) {
        struct policy_decision d;
        policy_lookup(f.pt, none[i].aff, none[i].op, &pf);
        assert_null(pf.security);
        assert_null(pf.allow);
        assert_non_null(pf.scopes);
        assert_null(pf.scopes[0]);
        struct credentials c = {.bearer = "x", .bearer_len = 1};
        decide(&f, none[i].aff, none[i].op, &c, &d);
        assert_int_equal(d.verdict, POLICY_DENY_NOT_EXPOSED);
        assert_string_equal(d.reason, "not exposed");
        assert_string_equal(d.principal, "");
    }
    policy_lookup(NULL, "on", WOT_OP_READPROPERTY, &pf);
    assert_null(pf.security);
    fx_free(&f);
}

/* ---- decisions, scheme by scheme -------------------------------------------------- */

static void test_basic(void **state)
{
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = basic\nallow = group:family\n");
    struct credentials c = {
            .basic_user = "alice", .basic_pass = ALICE_PW, .basic_pass_len = strlen(ALICE_PW)};
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "alice");
    assert_int_equal(d.challenge, 0);
    assert_no_secret(&d, ALICE_PW);

    /* missing */
    struct credentials none = {0};
    decide(&f, "on", WOT_OP_READPROPERTY, &none, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_string_equal(d.reason, "no credentials");
    assert_int_equal(d.challenge, BIT(SEC_BASIC));
    assert_string_equal(d.principal, "");
    assert_false(d.invalid_token);

    /* wrong password, and a password of another user */
    c.basic_pass = BOB_PW;
    c.basic_pass_len = strlen(BOB_PW);
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_string_equal(d.reason, "wrong user name or password");
    assert_string_equal(d.principal, "");
    assert_no_secret(&d, BOB_PW);
    /* the length counts: a prefix of the right password is wrong */
    c.basic_pass = ALICE_PW;
    c.basic_pass_len = strlen(ALICE_PW) - 1;
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);

    /* unknown user, and a "!" user */
    struct credentials u = {
            .basic_user = "mallory", .basic_pass = ALICE_PW, .basic_pass_len = strlen(ALICE_PW)};
    decide(&f, "on", WOT_OP_READPROPERTY, &u, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_string_equal(d.reason, "wrong user name or password");
    u.basic_user = "carol";
    decide(&f, "on", WOT_OP_READPROPERTY, &u, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);

    /* authenticated, not allowed */
    struct credentials b = {
            .basic_user = "bob", .basic_pass = BOB_PW, .basic_pass_len = strlen(BOB_PW)};
    decide(&f, "on", WOT_OP_READPROPERTY, &b, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_string_equal(d.principal, "bob");
    assert_string_equal(d.reason, "user not allowed");
    assert_false(d.insufficient_scope);
    assert_no_secret(&d, BOB_PW);

    /* malformed header */
    struct credentials m = {.malformed = "undecodable Basic credentials"};
    decide(&f, "on", WOT_OP_READPROPERTY, &m, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_string_equal(d.reason, "undecodable Basic credentials");
    assert_int_equal(d.challenge, BIT(SEC_BASIC));
    /* malformed wins even with good credentials alongside */
    c.basic_pass = ALICE_PW;
    c.basic_pass_len = strlen(ALICE_PW);
    c.malformed = "bad header";
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    c.malformed = NULL;

    /* no users file: basic always fails */
    f.env.users = NULL;
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    fx_free(&f);

    /* no allow key at all: deny by default */
    fx_load(&f, "security = basic\n");
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_string_equal(d.principal, "alice");
    fx_free(&f);

    /* allow by user name and by "*" */
    fx_load(&f, "security = basic\nallow = user:bob\nallow.toggle = *\n");
    decide(&f, "on", WOT_OP_READPROPERTY, &b, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    fx_free(&f);
}

static void test_apikey(void **state)
{
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = apikey\nallow = group:bots\nallow.toggle = user:alice\n");
    struct credentials c = {.apikey = BOT_KEY, .apikey_len = strlen(BOT_KEY)};
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "sensorbot");
    assert_no_secret(&d, BOT_KEY);

    decide(&f, "toggle", WOT_OP_INVOKEACTION, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_string_equal(d.principal, "sensorbot");

    struct credentials w = {.apikey = "wk_test_wrong", .apikey_len = 13};
    decide(&f, "on", WOT_OP_READPROPERTY, &w, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_string_equal(d.reason, "unknown API key");
    assert_int_equal(d.challenge, BIT(SEC_APIKEY));
    assert_no_secret(&d, "wk_test_wrong");
    /* a prefix of the key is not the key */
    w.apikey = BOT_KEY;
    w.apikey_len = strlen(BOT_KEY) - 1;
    decide(&f, "on", WOT_OP_READPROPERTY, &w, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);

    struct credentials none = {
            .basic_user = "alice", .basic_pass = ALICE_PW, .basic_pass_len = strlen(ALICE_PW)};
    decide(&f, "on", WOT_OP_READPROPERTY, &none, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_string_equal(d.reason, "no credentials");

    f.env.apikeys = NULL;
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    fx_free(&f);
}

static void token_case(struct fx *f, const char *aff, enum wot_op op, const char *tok,
                       enum policy_verdict v, const char *reason)
{
    struct policy_decision d;
    struct credentials c = {.bearer = tok, .bearer_len = strlen(tok)};
    decide(f, aff, op, &c, &d);
    if (d.verdict != v || (reason && strcmp(d.reason, reason)))
        fail_msg("verdict %d reason '%s', expected %d '%s'", d.verdict, d.reason, v,
                 reason ? reason : "");
    assert_no_secret(&d, tok);
    /* no part of the token either (the signature is the secret-ish bit) */
    const char *sig = strrchr(tok, '.');
    if (sig && strlen(sig) > 8)
        assert_no_secret(&d, sig + 1);
    if (v == POLICY_DENY_UNAUTHENTICATED) {
        assert_true(d.invalid_token);
        assert_string_equal(d.principal, "");
    }
}

static void test_bearer(void **state)
{
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = bearer\nscopes.toggle = lamp:switch lamp:admin\n"
                "security.reboot = bearer:other\n");
    char *ok = idp_token("alice-sub", "lamp:read lamp:switch lamp:admin");
    struct credentials c = {.bearer = ok, .bearer_len = strlen(ok)};
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "idp:alice-sub");
    assert_false(d.invalid_token);
    assert_no_secret(&d, ok);
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);

    /* insufficient scope: default lamp:write missing; one of two missing */
    decide(&f, "on", WOT_OP_WRITEPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_true(d.insufficient_scope);
    assert_string_equal(d.reason, "insufficient scope");
    assert_string_equal(d.scopes[0], "lamp:write");
    assert_string_equal(d.principal, "idp:alice-sub");
    char *half = idp_token("alice-sub", "lamp:switch");
    token_case(&f, "toggle", WOT_OP_INVOKEACTION, half, POLICY_DENY_FORBIDDEN,
               "insufficient scope");
    char *noscope = idp_token("alice-sub", NULL);
    token_case(&f, "on", WOT_OP_READPROPERTY, noscope, POLICY_DENY_FORBIDDEN, "insufficient scope");

    /* missing */
    struct credentials none = {0};
    decide(&f, "on", WOT_OP_READPROPERTY, &none, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_false(d.invalid_token);
    assert_int_equal(d.challenge, BIT(SEC_BEARER));
    assert_string_equal(d.reason, "no credentials");

    /* malformed, wrong signature, expired, not yet valid, wrong audience */
    token_case(&f, "on", WOT_OP_READPROPERTY, "not-a-jwt", POLICY_DENY_UNAUTHENTICATED,
               jwt_error_str(JWT_MALFORMED));
    char *rogue = mint(g_rogue_key, "idp-1", "https://idp.example", "alice-sub", "wotgw", NOW + 300,
                       0, "lamp:read");
    token_case(&f, "on", WOT_OP_READPROPERTY, rogue, POLICY_DENY_UNAUTHENTICATED,
               jwt_error_str(JWT_BAD_SIGNATURE));
    char *expired = mint(g_idp_key, "idp-1", "https://idp.example", "alice-sub", "wotgw",
                         NOW - 3600, 0, "lamp:read");
    token_case(&f, "on", WOT_OP_READPROPERTY, expired, POLICY_DENY_UNAUTHENTICATED,
               jwt_error_str(JWT_EXPIRED));
    char *early = mint(g_idp_key, "idp-1", "https://idp.example", "alice-sub", "wotgw", NOW + 7200,
                       NOW + 3600, "lamp:read");
    token_case(&f, "on", WOT_OP_READPROPERTY, early, POLICY_DENY_UNAUTHENTICATED,
               jwt_error_str(JWT_NOT_YET_VALID));
    char *aud = mint(g_idp_key, "idp-1", "https://idp.example", "alice-sub", "someone-else",
                     NOW + 300, 0, "lamp:read");
    token_case(&f, "on", WOT_OP_READPROPERTY, aud, POLICY_DENY_UNAUTHENTICATED,
               jwt_error_str(JWT_WRONG_AUDIENCE));
    char *foreign = mint(g_idp_key, "idp-1", "https://evil.example", "alice-sub", "wotgw",
                         NOW + 300, 0, "lamp:read");
    token_case(&f, "on", WOT_OP_READPROPERTY, foreign, POLICY_DENY_UNAUTHENTICATED, NULL);

    /* over max_token_size */
    f.env.max_token_size = 16;
    token_case(&f, "on", WOT_OP_READPROPERTY, ok, POLICY_DENY_UNAUTHENTICATED,
               jwt_error_str(JWT_TOO_LARGE));
    f.env.max_token_size = 8192;

    /* issuer restriction: reboot takes only "other"'s tokens */
    char *other = mint(g_other_key, "other-1", "https://other.example", "svc", "wotgw", NOW + 300,
                       0, "lamp:invoke");
    token_case(&f, "reboot", WOT_OP_INVOKEACTION, ok, POLICY_DENY_UNAUTHENTICATED, NULL);
    token_case(&f, "reboot", WOT_OP_INVOKEACTION, other, POLICY_ALLOW, NULL);
    c.bearer = other;
    c.bearer_len = strlen(other);
    decide(&f, "reboot", WOT_OP_INVOKEACTION, &c, &d);
    assert_string_equal(d.principal, "other:svc");
    /* and an unrestricted leaf takes any configured issuer */
    token_case(&f, "toggle", WOT_OP_INVOKEACTION, other, POLICY_DENY_FORBIDDEN,
               "insufficient scope");

    /* a bearer token never satisfies basic */
    fx_free(&f);
    fx_load(&f, "security = basic\nallow = *\n");
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_string_equal(d.reason, "no credentials");
    assert_false(d.invalid_token);
    fx_free(&f);
    free(ok);
    free(half);
    free(noscope);
    free(rogue);
    free(expired);
    free(early);
    free(aud);
    free(foreign);
    free(other);
}

static void test_oauth2(void **state)
{
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = oauth2:idp\nscopes = lamp:all\n");
    char *ok = idp_token("dev-42", "lamp:all");
    char *bad = idp_token("dev-42", "lamp:read");
    struct credentials c = {.bearer = ok, .bearer_len = strlen(ok)};
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "idp:dev-42");
    token_case(&f, "toggle", WOT_OP_INVOKEACTION, bad, POLICY_DENY_FORBIDDEN, "insufficient scope");
    struct credentials none = {0};
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &none, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_int_equal(d.challenge, BIT(SEC_OAUTH2));
    char *other = mint(g_other_key, "other-1", "https://other.example", "svc", "wotgw", NOW + 300,
                       0, "lamp:all");
    token_case(&f, "toggle", WOT_OP_INVOKEACTION, other, POLICY_DENY_UNAUTHENTICATED, NULL);
    fx_free(&f);
    free(ok);
    free(bad);
    free(other);
}

static void test_psk(void **state)
{
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = psk\nallow = group:family\nallow.toggle = *\n");
    struct credentials c = {.psk_identity = "carol"};
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "carol");
    struct credentials dave = {.psk_identity = "dave"};
    decide(&f, "on", WOT_OP_READPROPERTY, &dave, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_string_equal(d.principal, "dave");
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &dave, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    struct credentials none = {.cert_cn = "device-7"};
    decide(&f, "on", WOT_OP_READPROPERTY, &none, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_int_equal(d.challenge, BIT(SEC_PSK));
    struct credentials empty = {.psk_identity = ""};
    decide(&f, "on", WOT_OP_READPROPERTY, &empty, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    /* control characters never reach a log line through the principal */
    struct credentials ctl = {.psk_identity = "ev\nil\x1b[0m"};
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &ctl, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "ev?il?[0m");
    /* without a users file: identity still works, groups do not */
    f.env.users = NULL;
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    fx_free(&f);
}

/* The OSCORE context the CoAP front end verified a request with is the
 * principal, exactly like a PSK identity: user:NAME, and groups of a user
 * of that name. */
static void test_oscore(void **state)
{
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = oscore\nallow = group:family user:sensor-9\nallow.toggle = *\n");
    struct credentials c = {.oscore_context = "carol"};
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "carol");
    /* a context with no users-file entry, allowed by name */
    struct credentials s9 = {.oscore_context = "sensor-9"};
    decide(&f, "on", WOT_OP_READPROPERTY, &s9, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "sensor-9");
    struct credentials dave = {.oscore_context = "dave"};
    decide(&f, "on", WOT_OP_READPROPERTY, &dave, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_string_equal(d.principal, "dave");
    assert_string_equal(d.reason, "user not allowed");
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &dave, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "dave");
    /* no OSCORE: unauthenticated (4.01 over CoAP), whatever else came */
    struct credentials none = {0};
    decide(&f, "on", WOT_OP_READPROPERTY, &none, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_int_equal(d.challenge, BIT(SEC_OSCORE));
    assert_string_equal(d.principal, "");
    struct credentials other = {.psk_identity = "carol", .cert_cn = "device-7"};
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &other, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_int_equal(d.challenge, BIT(SEC_OSCORE));
    struct credentials empty = {.oscore_context = ""};
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &empty, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    /* an OSCORE context does not stand in for a PSK identity of its name */
    fx_free(&f);
    fx_load(&f, "security = psk\nallow = *\n");
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_int_equal(d.challenge, BIT(SEC_PSK));
    /* without a users file: the name still works, groups do not */
    fx_free(&f);
    fx_load(&f, "security = oscore\nallow = group:family\n");
    f.env.users = NULL;
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    fx_free(&f);
    /* control characters never reach a log line through the principal */
    fx_load(&f, "security = oscore\nallow = *\n");
    struct credentials ctl = {.oscore_context = "ev\nil\x1b[0m"};
    decide(&f, "on", WOT_OP_READPROPERTY, &ctl, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "ev?il?[0m");
    assert_true(policy_may_see(&f.env, f.pt, f.td, &ctl));
    assert_false(policy_may_see(&f.env, f.pt, f.td, &none));
    fx_free(&f);
}

/* oscore with psk: either one (oneOf), or both in one request (allOf). */
static void test_oscore_combos(void **state)
{
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = oscore | psk\nallow = user:carol user:ctx-1\n"
                "security.toggle = oscore & psk\nallow.toggle = user:ctx-1 user:dave\n");
    struct credentials o = {.oscore_context = "ctx-1"};
    decide(&f, "on", WOT_OP_READPROPERTY, &o, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "ctx-1");
    struct credentials p = {.psk_identity = "carol"};
    decide(&f, "on", WOT_OP_READPROPERTY, &p, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "carol");
    /* OSCORE inside DTLS: the first part that allows decides */
    struct credentials both = {.oscore_context = "ctx-1", .psk_identity = "dave"};
    decide(&f, "on", WOT_OP_READPROPERTY, &both, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "ctx-1");
    struct credentials nope = {.oscore_context = "dave", .psk_identity = "dave"};
    decide(&f, "on", WOT_OP_READPROPERTY, &nope, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    struct credentials none = {0};
    decide(&f, "on", WOT_OP_READPROPERTY, &none, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_int_equal(d.challenge, BIT(SEC_OSCORE) | BIT(SEC_PSK));
    /* allOf: both authenticated, both allowed; principal joined with "+" */
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &both, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "ctx-1+dave");
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &o, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_string_equal(d.principal, "");
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &p, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    struct credentials half = {.oscore_context = "ctx-1", .psk_identity = "carol"};
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &half, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_string_equal(d.principal, "ctx-1+carol");
    fx_free(&f);
}

static void test_cert(void **state)
{
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = cert\nallow = group:family\nallow.toggle = user:x-unmapped\n");
    struct credentials c = {.cert_cn = "device-7", .cert_sha256 = "ab"};
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "carol");
    /* the fingerprint maps first */
    struct credentials fp = {.cert_cn = "device-7", .cert_sha256 = CERT_ALICE};
    decide(&f, "on", WOT_OP_READPROPERTY, &fp, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "alice");
    /* unmapped: the CN */
    struct credentials un = {.cert_cn = "x-unmapped"};
    decide(&f, "on", WOT_OP_READPROPERTY, &un, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_string_equal(d.principal, "x-unmapped");
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &un, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    /* missing */
    struct credentials none = {.psk_identity = "carol"};
    decide(&f, "on", WOT_OP_READPROPERTY, &none, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_int_equal(d.challenge, BIT(SEC_CERT));
    /* no certmap: principal = CN; no CN at all: refused */
    f.env.certmap = NULL;
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_string_equal(d.principal, "device-7");
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    struct credentials nocn = {.cert_sha256 = CERT_ALICE};
    decide(&f, "on", WOT_OP_READPROPERTY, &nocn, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    fx_free(&f);
}

static void test_nosec_only_where_written(void **state)
{
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = basic\nallow = *\nsecurity.brightness.readproperty = nosec\n");
    struct credentials none = {0};
    decide(&f, "brightness", WOT_OP_READPROPERTY, &none, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "anonymous");
    /* whatever else is presented, nosec stays anonymous */
    struct credentials c = {.basic_user = "alice", .basic_pass = "nope", .basic_pass_len = 4};
    decide(&f, "brightness", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "anonymous");
    /* everything else still needs basic */
    decide(&f, "on", WOT_OP_READPROPERTY, &none, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    decide(&f, "secret", WOT_OP_READPROPERTY, &none, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    decide(&f, NULL, WOT_OP_READALLPROPERTIES, &none, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    fx_free(&f);
}

/* ---- combinations ------------------------------------------------------------------ */

static void test_oneof(void **state)
{
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = basic | bearer:idp\nallow = group:family\n");
    char *tok = idp_token("alice-sub", "lamp:read");
    char *noscope = idp_token("alice-sub", "other");
    struct credentials c = {.bearer = tok, .bearer_len = strlen(tok)};
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "idp:alice-sub");

    /* nothing presented: 401, challenge both */
    struct credentials none = {0};
    decide(&f, "on", WOT_OP_READPROPERTY, &none, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_int_equal(d.challenge, BIT(SEC_BASIC) | BIT(SEC_BEARER));
    assert_false(d.invalid_token);

    /* wrong password, no token: 401 */
    struct credentials w = {
            .basic_user = "alice", .basic_pass = BOB_PW, .basic_pass_len = strlen(BOB_PW)};
    decide(&f, "on", WOT_OP_READPROPERTY, &w, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_string_equal(d.reason, "wrong user name or password");

    /* a bad token and no basic: 401 invalid_token */
    struct credentials bt = {.bearer = "x.y.z", .bearer_len = 5};
    decide(&f, "on", WOT_OP_READPROPERTY, &bt, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_true(d.invalid_token);

    /* bob authenticates but is not allowed, no token: 403 */
    struct credentials b = {
            .basic_user = "bob", .basic_pass = BOB_PW, .basic_pass_len = strlen(BOB_PW)};
    decide(&f, "on", WOT_OP_READPROPERTY, &b, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_string_equal(d.principal, "bob");

    /* bob (forbidden) and a wrong token: 403 beats 401 */
    b.bearer = "x.y.z";
    b.bearer_len = 5;
    decide(&f, "on", WOT_OP_READPROPERTY, &b, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);

    /* bob (forbidden) and a good token: allowed */
    b.bearer = tok;
    b.bearer_len = strlen(tok);
    decide(&f, "on", WOT_OP_READPROPERTY, &b, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "idp:alice-sub");

    /* token without the scope: 403 insufficient_scope */
    struct credentials ns = {.bearer = noscope, .bearer_len = strlen(noscope)};
    decide(&f, "on", WOT_OP_READPROPERTY, &ns, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_true(d.insufficient_scope);

    /* wrong password + a good token: allowed */
    w.bearer = tok;
    w.bearer_len = strlen(tok);
    decide(&f, "on", WOT_OP_READPROPERTY, &w, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_no_secret(&d, BOB_PW);
    fx_free(&f);
    free(tok);
    free(noscope);
}

static void test_allof(void **state)
{
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = basic & cert\nallow = group:family\n"
                "security.toggle = (basic|apikey) & bearer:idp\nallow.toggle = *\n");
    struct credentials c = {.basic_user = "alice",
                            .basic_pass = ALICE_PW,
                            .basic_pass_len = strlen(ALICE_PW),
                            .cert_cn = "device-7"};
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "alice+carol");
    assert_no_secret(&d, ALICE_PW);

    /* one missing: 401 with both challenged */
    struct credentials nocert = c;
    nocert.cert_cn = NULL;
    decide(&f, "on", WOT_OP_READPROPERTY, &nocert, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_int_equal(d.challenge, BIT(SEC_BASIC) | BIT(SEC_CERT));
    assert_string_equal(d.principal, "");

    /* one wrong: 401 */
    struct credentials wrong = c;
    wrong.basic_pass = BOB_PW;
    wrong.basic_pass_len = strlen(BOB_PW);
    decide(&f, "on", WOT_OP_READPROPERTY, &wrong, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_string_equal(d.reason, "wrong user name or password");

    /* both authenticate, one not allowed: 403 */
    struct credentials bob = {.basic_user = "bob",
                              .basic_pass = BOB_PW,
                              .basic_pass_len = strlen(BOB_PW),
                              .cert_cn = "device-7"};
    decide(&f, "on", WOT_OP_READPROPERTY, &bob, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_string_equal(d.principal, "bob+carol");

    /* nested: (basic|apikey) & bearer:idp */
    char *tok = idp_token("svc", "lamp:invoke");
    char *weak = idp_token("svc", "lamp:read");
    struct credentials k = {.apikey = BOT_KEY,
                            .apikey_len = strlen(BOT_KEY),
                            .bearer = tok,
                            .bearer_len = strlen(tok)};
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &k, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "sensorbot+idp:svc");
    k.bearer = weak;
    k.bearer_len = strlen(weak);
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &k, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_true(d.insufficient_scope);
    k.bearer = NULL;
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &k, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_int_equal(d.challenge, BIT(SEC_BASIC) | BIT(SEC_APIKEY) | BIT(SEC_BEARER));
    k.bearer = "a.b.c";
    k.bearer_len = 5;
    decide(&f, "toggle", WOT_OP_INVOKEACTION, &k, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_true(d.invalid_token);
    fx_free(&f);
    free(tok);
    free(weak);
}

static void test_principal_bounded(void **state)
{
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = psk & cert\nallow = *\n");
    char id[400];
    memset(id, 'p', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    id[POLICY_PRINCIPAL_MAX - 2] = '\xc3'; /* a 2-byte UTF-8 sequence across the cut */
    id[POLICY_PRINCIPAL_MAX - 1] = '\xa4';
    struct credentials c = {.psk_identity = id, .cert_cn = "device-7"};
    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    size_t n = strlen(d.principal);
    assert_true(n < POLICY_PRINCIPAL_MAX);
    assert_true(n >= POLICY_PRINCIPAL_MAX - 3);
    /* no dangling lead byte at the end */
    assert_true(((unsigned char)d.principal[n - 1] & 0xc0) != 0xc0);
    fx_free(&f);
}

/* ---- policy_may_see ------------------------------------------------------------------ */

static void test_may_see(void **state)
{
    struct fx f;
    fx_load(&f, "security.toggle = basic\nallow.toggle = user:bob\n"
                "security.overheated = bearer:idp\nscopes.overheated = alarms\n");
    struct credentials none = {0};
    assert_false(policy_may_see(&f.env, f.pt, f.td, &none));
    struct credentials alice = {
            .basic_user = "alice", .basic_pass = ALICE_PW, .basic_pass_len = strlen(ALICE_PW)};
    assert_false(policy_may_see(&f.env, f.pt, f.td, &alice));
    struct credentials bob = {
            .basic_user = "bob", .basic_pass = BOB_PW, .basic_pass_len = strlen(BOB_PW)};
    assert_true(policy_may_see(&f.env, f.pt, f.td, &bob));
    bob.malformed = "bad";
    assert_false(policy_may_see(&f.env, f.pt, f.td, &bob));
    char *tok = idp_token("x", "alarms");
    char *weak = idp_token("x", "lamp:read");
    struct credentials t = {.bearer = tok, .bearer_len = strlen(tok)};
    assert_true(policy_may_see(&f.env, f.pt, f.td, &t));
    t.bearer = weak;
    t.bearer_len = strlen(weak);
    assert_false(policy_may_see(&f.env, f.pt, f.td, &t));
    assert_false(policy_may_see(&f.env, NULL, f.td, &t));
    fx_free(&f);

    /* a nosec form makes the TD visible to everyone */
    fx_load(&f, "security = basic\nallow = *\nsecurity.brightness = nosec\n");
    assert_true(policy_may_see(&f.env, f.pt, f.td, &none));
    fx_free(&f);
    free(tok);
    free(weak);
}

/* ---- secrets: never in reason or principal -------------------------------------------- */

static void test_no_secret_anywhere(void **state)
{
    struct fx f;
    fx_load(&f, "security = basic | apikey | bearer | psk | cert\nallow = user:nobody\n");
    char *tok = idp_token("sub-1", "nothing");
    const char *pws[] = {ALICE_PW, BOB_PW, "hunter2-very-secret"};
    const char *keys[] = {BOT_KEY, "wk_test_not_a_key_at_all"};
    const char *toks[] = {tok, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2VjcmV0LXNpZ25hdHVyZQ"};
    const char *users[] = {"alice", "bob", "hunter2-very-secret"};
    for (size_t u = 0; u < ARRAY_SIZE(users); u++)
        for (size_t p = 0; p < ARRAY_SIZE(pws); p++)
            for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
                for (size_t t = 0; t < ARRAY_SIZE(toks); t++) {
                    struct policy_decision d;
                    struct credentials c = {
                            .basic_user = users[u],
                            .basic_pass = pws[p],
                            .basic_pass_len = strlen(pws[p]),
                            .apikey = keys[k],
                            .apikey_len = strlen(keys[k]),
                            .bearer = toks[t],
                            .bearer_len = strlen(toks[t]),
                    };
                    decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
                    assert_int_not_equal(d.verdict, POLICY_ALLOW);
                    assert_no_secret(&d, pws[p]);
                    assert_no_secret(&d, keys[k]);
                    assert_no_secret(&d, toks[t]);
                    assert_no_secret(&d, strrchr(toks[t], '.') + 1);
                    /* an unverified user name is not a principal either */
                    if (d.verdict == POLICY_DENY_UNAUTHENTICATED)
                        assert_string_equal(d.principal, "");
                }
    fx_free(&f);
    free(tok);
}

static int group_setup_cached(void **state)
{
    assert_int_equal(credcache_new(0, &g_cache), 0);
    return group_setup(state);
}

static int group_teardown_cached(void **state)
{
    credcache_free(g_cache);
    g_cache = NULL;
    return group_teardown(state);
}

/* With a cache: the password and the token are verified once, later
 * decisions are hits; wrong credentials are never hits; an expired token
 * is refused even though it was cached. */
static void test_cache_hits(void **state)
{
    struct credcache *own = NULL;
    struct credcache_stats st;
    assert_int_equal(credcache_new(0, &own), 0);
    struct fx f;
    struct policy_decision d;
    fx_load(&f, "security = basic | bearer:idp\nallow = group:family\n");
    f.env.credcache = own;
    struct credentials c = {
            .basic_user = "alice", .basic_pass = ALICE_PW, .basic_pass_len = strlen(ALICE_PW)};
    for (int i = 0; i < 5; i++) {
        decide(&f, "on", WOT_OP_READPROPERTY, &c, &d);
        assert_int_equal(d.verdict, POLICY_ALLOW);
        assert_string_equal(d.principal, "alice");
    }
    credcache_get_stats(own, &st);
    assert_int_equal(st.inserts, 1);
    assert_true(st.hits >= 4);
    struct credentials w = {
            .basic_user = "alice", .basic_pass = BOB_PW, .basic_pass_len = strlen(BOB_PW)};
    decide(&f, "on", WOT_OP_READPROPERTY, &w, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    credcache_get_stats(own, &st);
    assert_int_equal(st.inserts, 1);

    char *tok = idp_token("svc", "lamp:read");
    struct credentials b = {.bearer = tok, .bearer_len = strlen(tok)};
    decide(&f, "on", WOT_OP_READPROPERTY, &b, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    assert_string_equal(d.principal, "idp:svc");
    uint64_t hits = (credcache_get_stats(own, &st), st.hits);
    decide(&f, "on", WOT_OP_READPROPERTY, &b, &d);
    assert_int_equal(d.verdict, POLICY_ALLOW);
    decide(&f, "on", WOT_OP_WRITEPROPERTY, &b, &d);
    assert_int_equal(d.verdict, POLICY_DENY_FORBIDDEN);
    assert_true(d.insufficient_scope);
    credcache_get_stats(own, &st);
    assert_true(st.hits >= hits + 2);
    assert_int_equal(st.inserts, 2);
    /* past exp (+ 30 s leeway): refused although cached */
    f.env.now = NOW + 330;
    decide(&f, "on", WOT_OP_READPROPERTY, &b, &d);
    assert_int_equal(d.verdict, POLICY_DENY_UNAUTHENTICATED);
    assert_true(d.invalid_token);
    assert_string_equal(d.reason, "token expired");
    free(tok);
    fx_free(&f);
    credcache_free(own);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_expr_valid),
            cmocka_unit_test(test_expr_invalid),
            cmocka_unit_test(test_compile_no_security),
            cmocka_unit_test(test_compile_errors),
            cmocka_unit_test(test_compile_no_issuer),
            cmocka_unit_test(test_compile_no_oscore_contexts),
            cmocka_unit_test(test_compile_marks_used_and_warns),
            cmocka_unit_test(test_compile_dotted_names),
            cmocka_unit_test(test_precedence),
            cmocka_unit_test(test_default_scopes_and_not_exposed),
            cmocka_unit_test(test_basic),
            cmocka_unit_test(test_apikey),
            cmocka_unit_test(test_bearer),
            cmocka_unit_test(test_oauth2),
            cmocka_unit_test(test_psk),
            cmocka_unit_test(test_oscore),
            cmocka_unit_test(test_oscore_combos),
            cmocka_unit_test(test_cert),
            cmocka_unit_test(test_nosec_only_where_written),
            cmocka_unit_test(test_oneof),
            cmocka_unit_test(test_allof),
            cmocka_unit_test(test_principal_bounded),
            cmocka_unit_test(test_may_see),
            cmocka_unit_test(test_no_secret_anywhere),
            cmocka_unit_test(test_cache_hits),
    };
    int failed = cmocka_run_group_tests_name("policy", tests, group_setup, group_teardown);
    failed += cmocka_run_group_tests_name("policy with credential cache", tests, group_setup_cached,
                                          group_teardown_cached);
    return failed;
}
