/* test_oauth_as.c - the built-in authorization server end to end at the
 * function level: every grant through as_handle() with a fixed clock,
 * the tokens checked with jwt_verify() against the state's "local" issuer
 * and with policy_decide(), and the refusals: PKCE plain / missing /
 * wrong, code reuse (revoking what the code gave), redirect URI mismatch
 * without an open redirect, token substitution between clients, implicit
 * and password grants, wrong client secrets, device-flow pending /
 * slow_down / denied / expired, refresh reuse revoking the family and
 * every access token issued from it (the per-family list, its bound and
 * the grants file written before it existed),
 * revocation, introspection, CSRF, login back-off, malformed and
 * oversized bodies, persistence across a restart, a torn temp file and a
 * corrupt store, and signing-key rotation.
 *
 * Everything (users, clients, config, state directory) is made in a
 * private temporary directory.
 */
#define _GNU_SOURCE
#include <crypt.h>
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fs_testutil.h"
#include <jansson.h>
#include <openssl/evp.h>

#include "auth/jwt.h"
#include "log.h"
#include "oauth/as.h"
#include "oauth/as_internal.h"
#include "oauth/keys.h"
#include "policy.h"
#include "state.h"

#define NOW        INT64_C(1700000000)
#define ALICE_PW   "alice-Secr3t-pw"
#define BOB_PW     "bob-Secr3t-pw"
#define SVC_SECRET "svc-secret-0123456789abcdefghijklmnopqrstuvwxyz"
#define RS_SECRET  "rs-secret-0123456789abcdefghijklmnopqrstuvwxyz"
#define APP_REDIR  "https://app.example/cb"
#define APP2_REDIR "https://app2.example/cb"
#define VERIFIER   "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define CHALLENGE  "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" /* RFC 7636 App. B */
#define PEER       "192.0.2.7:40000"
#define ISSUER     "https://gw.test:8443"
#define FORM_CT    "application/x-www-form-urlencoded"

static char g_dir[256];
static struct gw_state *g_st;
static struct as *g_as;
static char g_cookie[256]; /* "name=value" of the AS cookie, "" if none */
static struct sbuf g_log;  /* every log line of the test */

static void log_sink(const char *line, void *ud)
{
    (void)ud;
    sb_puts(&g_log, line);
    sb_puts(&g_log, "\n");
}

/* No secret may reach a log line. */
static void assert_not_logged(const char *secret)
{
    assert_false(g_log.failed);
    if (g_log.p && strstr(g_log.p, secret)) {
        fprintf(stderr, "logged: %s\n", secret);
        fail();
    }
}

/* ---- fixture ------------------------------------------------------------------------- */

static void write_file(const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static char *hash_pw(const char *pw)
{
    char *salt = crypt_gensalt_ra("$2b$", 4, NULL, 0);
    assert_non_null(salt);
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    assert_non_null(cd);
    char *h = crypt_r(pw, salt, cd);
    assert_non_null(h);
    char *out = strdup(h);
    free(cd);
    free(salt);
    return out;
}

static void sha256_hex(const char *s, char out[65])
{
    uint8_t md[32];
    unsigned n = 0;
    assert_int_equal(EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL), 1);
    hex_encode(md, 32, out);
}

static void write_clients(void)
{
    char svc[65], rs[65], *text = NULL;
    sha256_hex(SVC_SECRET, svc);
    sha256_hex(RS_SECRET, rs);
    assert_true(asprintf(&text,
                         "# test clients\n"
                         "app type=public grants=authorization_code,refresh_token scopes=* "
                         "redirect_uri=" APP_REDIR " redirect_uri=http://127.0.0.1:5000/cb\n"
                         "app2 type=public grants=authorization_code scopes=lamp:read "
                         "redirect_uri=" APP2_REDIR "\n"
                         "svc type=confidential secret=%s grants=client_credentials "
                         "scopes=lamp:read,lamp:invoke\n"
                         "rs type=confidential secret=%s grants=client_credentials "
                         "scopes=lamp:read\n"
                         "tv type=public grants=device_code,refresh_token scopes=lamp:read,"
                         "lamp:write\n",
                         svc, rs) > 0);
    write_file("clients", text);
    free(text);
}

static void load(void)
{
    struct diags d = {0};
    char p[512];
    snprintf(p, sizeof(p), "%s/wotgw.conf", g_dir);
    int r = state_load(p, &g_st, &d);
    if (r < 0 || d.n_errors)
        diag_print(&d, stderr);
    assert_int_equal(r, 0);
    assert_int_equal(d.n_errors, 0);
    diag_free(&d);
    r = as_new(g_st, NOW, &g_as, &d);
    if (r < 0)
        diag_print(&d, stderr);
    assert_int_equal(r, 0);
    diag_free(&d);
}

static void unload(void)
{
    as_free(g_as);
    g_as = NULL;
    state_free(g_st);
    g_st = NULL;
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/wotgw-oauth-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    char p[512], cwd[256];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(p, sizeof(p), "%s/state", g_dir);
    assert_int_equal(mkdir(p, 0700), 0);
    char *alice = hash_pw(ALICE_PW), *bob = hash_pw(BOB_PW), *users = NULL;
    assert_true(asprintf(&users, "alice:%s:home\nbob:%s:guests\n", alice, bob) > 0);
    write_file("users", users);
    free(users);
    free(alice);
    free(bob);
    write_clients();
    char *conf = NULL;
    assert_true(asprintf(&conf,
                         "[gateway]\nstate_dir = state\nbase_url = " ISSUER "/\n"
                         "[https]\nlisten = 127.0.0.1:8443\ncertificate = cert.pem\nkey = key.pem\n"
                         "[credentials]\nusers = users\n"
                         "[oauth]\nenabled = yes\nclients = clients\n"
                         "resource_owners = group:home\n"
                         "[thing lamp]\ntd = %s/tests/data/oauth/lamp.td.json\n"
                         "security = oauth2:local\n"
                         "[thing door]\ntd = %s/tests/data/oauth/door.td.json\n"
                         "security = basic\nallow = *\n",
                         cwd, cwd) > 0);
    write_file("wotgw.conf", conf);
    free(conf);
    g_cookie[0] = '\0';
    sb_free(&g_log);
    g_log.max = 8u << 20;
    log_set_test_sink(log_sink, NULL);
    load();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unload();
    tu_rm_rf(g_dir);
    log_set_test_sink(NULL, NULL);
    sb_free(&g_log);
    return 0;
}

/* ---- requests ------------------------------------------------------------------------- */

struct call {
    const char *method, *path, *query, *body, *auth, *ct, *peer;
    int64_t now;
    bool no_cookie;
};

static struct as_response call(struct call c)
{
    struct as_response rs;
    struct as_request rq = {
            .method = c.method ? c.method : (c.body ? "POST" : "GET"),
            .path = c.path,
            .query = c.query,
            .content_type = c.ct ? c.ct : (c.body ? FORM_CT : NULL),
            .body = (const uint8_t *)c.body,
            .body_len = c.body ? strlen(c.body) : 0,
            .authorization = c.auth,
            .cookie = !c.no_cookie && g_cookie[0] ? g_cookie : NULL,
            .peer = c.peer ? c.peer : PEER,
            .now = c.now ? c.now : NOW,
    };
    assert_int_equal(as_handle(g_as, &rq, &rs), 0);
    if (rs.set_cookie) {
        /* keep "name=value" */
        size_t n = strcspn(rs.set_cookie, ";");
        assert_true(n < sizeof(g_cookie));
        memcpy(g_cookie, rs.set_cookie, n);
        g_cookie[n] = '\0';
    }
    return rs;
}

static json_t *body_json(const struct as_response *rs)
{
    json_error_t je;
    assert_non_null(rs->body);
    json_t *j = json_loadb(rs->body, rs->body_len, 0, &je);
    if (!j)
        fprintf(stderr, "not JSON: %.*s\n", (int)rs->body_len, rs->body);
    assert_non_null(j);
    return j;
}

static const char *jstr(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}

/* Status and "error" of a JSON error response. */
static void expect_error(struct as_response rs, int status, const char *error)
{
    if (rs.status != status)
        fprintf(stderr, "status %d: %.*s\n", rs.status, (int)rs.body_len, rs.body ? rs.body : "");
    assert_int_equal(rs.status, status);
    json_t *j = body_json(&rs);
    assert_string_equal(jstr(j, "error"), error);
    json_decref(j);
    as_response_free(&rs);
}

/* The value of a hidden input in an HTML page; caller frees. */
static char *html_field(const struct as_response *rs, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "name=\"%s\" value=\"", name);
    assert_non_null(rs->body);
    const char *p = strstr(rs->body, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    return strndup(p, strcspn(p, "\""));
}

/* A query parameter of a Location; caller frees. */
static char *loc_param(const char *loc, const char *name)
{
    const char *q = strchr(loc, '?');
    char pat[64];
    snprintf(pat, sizeof(pat), "%s=", name);
    for (const char *p = q; p; p = strchr(p + 1, '&')) {
        if (!strncmp(p + 1, pat, strlen(pat))) {
            const char *v = p + 1 + strlen(pat);
            char *raw = strndup(v, strcspn(v, "&")), *out = NULL;
            assert_int_equal(form_pct_decode(raw, strlen(raw), 4096, &out), 0);
            free(raw);
            return out;
        }
    }
    return NULL;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, f);
    assert_true(vasprintf(&s, f, ap) > 0);
    va_end(ap);
    return s;
}

static char *basic(const char *id, const char *secret)
{
    char raw[256], enc[400];
    snprintf(raw, sizeof(raw), "%s:%s", id, secret);
    EVP_EncodeBlock((unsigned char *)enc, (const unsigned char *)raw, (int)strlen(raw));
    return fmt("Basic %s", enc);
}

/* ---- the browser part of the code flow ----------------------------------------------------- */

/* Logs in on a page that shows the login form; returns the response to
 * the login POST. */
static struct as_response login(const struct as_response *page, const char *user, const char *pw,
                                int64_t now, const char *peer)
{
    char *csrf = html_field(page, "csrf"), *req = html_field(page, "req");
    char *flow = html_field(page, "flow"), *uc = html_field(page, "user_code");
    assert_non_null(csrf);
    char *body = fmt("csrf=%s%s%s%s%s%s%s&username=%s&password=%s", csrf, req ? "&req=" : "",
                     req ? req : "", flow ? "&flow=" : "", flow ? flow : "",
                     uc ? "&user_code=" : "", uc ? uc : "", user, pw);
    struct as_response rs =
            call((struct call){.path = "/oauth/login", .body = body, .now = now, .peer = peer});
    free(body);
    free(csrf);
    free(req);
    free(flow);
    free(uc);
    return rs;
}

/* Runs authorize -> login -> consent with the given query; approve with
 * the scope checkboxes in keep (NULL: all). Returns the final response
 * (a redirect to the client). */
static struct as_response code_flow(const char *query, bool approve, const char *keep)
{
    struct as_response rs = call((struct call){.path = "/oauth/authorize", .query = query});
    struct as_response cp = rs;
    assert_int_equal(rs.status, 200);
    if (strstr(rs.body, "action=\"/oauth/login\"")) {
        struct as_response lr = login(&rs, "alice", ALICE_PW, 0, NULL);
        as_response_free(&rs);
        assert_int_equal(lr.status, 303);
        assert_non_null(lr.location);
        assert_true(!strncmp(lr.location, "/oauth/consent?req=", 19));
        cp = call((struct call){.path = "/oauth/consent",
                                .query = lr.location + strlen("/oauth/consent?")});
        as_response_free(&lr);
    }
    assert_int_equal(cp.status, 200);
    assert_non_null(strstr(cp.body, "Allow access?"));
    char *csrf = html_field(&cp, "csrf"), *req = html_field(&cp, "req");
    char *body = fmt("csrf=%s&req=%s&decision=%s%s", csrf, req, approve ? "approve" : "deny",
                     keep ? keep : "&s_0=1&s_1=1&s_2=1&s_3=1");
    as_response_free(&cp);
    struct as_response out = call((struct call){.path = "/oauth/consent", .body = body});
    free(body);
    free(csrf);
    free(req);
    return out;
}

static const char *const default_query =
        "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
        "&scope=lamp%3Aread&state=st4te&code_challenge=" CHALLENGE "&code_challenge_method=S256";

/* A fresh code for app (scope lamp:read). Caller frees. */
static char *get_code(const char *query)
{
    struct as_response rs = code_flow(query ? query : default_query, true, NULL);
    assert_int_equal(rs.status, 303);
    assert_true(!strncmp(rs.location, APP_REDIR "?", strlen(APP_REDIR) + 1));
    char *st = loc_param(rs.location, "state"), *iss = loc_param(rs.location, "iss");
    assert_string_equal(st, "st4te");
    assert_string_equal(iss, ISSUER);
    free(st);
    free(iss);
    char *code = loc_param(rs.location, "code");
    assert_non_null(code);
    as_response_free(&rs);
    return code;
}

static struct as_response redeem(const char *code, const char *client, const char *redirect,
                                 const char *verifier)
{
    char *body = fmt("grant_type=authorization_code&code=%s&client_id=%s&redirect_uri=%s%s%s", code,
                     client, redirect, verifier ? "&code_verifier=" : "", verifier ? verifier : "");
    struct as_response rs = call((struct call){.path = "/oauth/token", .body = body});
    free(body);
    return rs;
}

/* ---- checks on tokens ------------------------------------------------------------------ */

static enum policy_verdict decide(const char *tok, const char *aff, enum wot_op op,
                                  bool *insufficient)
{
    const struct thing *t = state_find_thing(g_st, "lamp");
    assert_non_null(t);
    struct policy_env env;
    state_policy_env(g_st, NOW + 1, &env);
    struct credentials cred = {.bearer = tok, .bearer_len = strlen(tok)};
    struct policy_decision dec;
    policy_decide(&env, t->policy, aff, op, &cred, &dec);
    if (insufficient)
        *insufficient = dec.insufficient_scope;
    return dec.verdict;
}

static void check_access_token(const char *tok, const char *sub, const char *client,
                               const char *scope)
{
    struct jwt_claims c = {0};
    const struct jwt_issuer *which = NULL;
    enum jwt_error e = jwt_verify(g_st->issuer_ptrs, g_st->n_issuers, "local", tok, strlen(tok), 0,
                                  NOW + 1, &c, &which);
    assert_int_equal(e, JWT_OK);
    assert_string_equal(which->conf->name, "local");
    assert_string_equal(c.iss, ISSUER);
    assert_string_equal(c.sub, sub);
    assert_string_equal(c.client_id, client);
    assert_int_equal(c.iat, NOW);
    assert_int_equal(c.exp, NOW + 600);
    size_t n = 0;
    char buf[512] = "";
    for (char **s = c.scopes; s && *s; s++, n++) {
        if (n)
            strcat(buf, " ");
        strcat(buf, *s);
    }
    assert_string_equal(buf, scope);
    jwt_claims_free(&c);
    /* header: ES256, typ at+jwt; payload has a jti */
    const char *dot = strchr(tok, '.');
    uint8_t raw[1024];
    size_t rl = 0;
    assert_int_equal(b64url_decode(tok, (size_t)(dot - tok), raw, sizeof(raw), &rl), 0);
    json_t *h = json_loadb((const char *)raw, rl, 0, NULL);
    assert_string_equal(jstr(h, "alg"), "ES256");
    assert_string_equal(jstr(h, "typ"), "at+jwt");
    json_decref(h);
    const char *dot2 = strchr(dot + 1, '.');
    assert_int_equal(b64url_decode(dot + 1, (size_t)(dot2 - dot - 1), raw, sizeof(raw), &rl), 0);
    json_t *p = json_loadb((const char *)raw, rl, 0, NULL);
    assert_non_null(jstr(p, "jti"));
    assert_true(strlen(jstr(p, "jti")) >= 20);
    assert_string_equal(jstr(p, "aud"), ISSUER);
    json_decref(p);
}

static json_t *introspect(const char *tok)
{
    char *auth = basic("rs", RS_SECRET), *body = fmt("token=%s", tok);
    struct as_response rs =
            call((struct call){.path = "/oauth/introspect", .body = body, .auth = auth});
    assert_int_equal(rs.status, 200);
    json_t *j = body_json(&rs);
    as_response_free(&rs);
    free(auth);
    free(body);
    return j;
}

static bool active(const char *tok)
{
    json_t *j = introspect(tok);
    bool a = json_is_true(json_object_get(j, "active"));
    json_decref(j);
    return a;
}

/* ---- tests: metadata ---------------------------------------------------------------------- */

static void test_metadata(void **state)
{
    struct as_response rs = call((struct call){.path = AS_WELL_KNOWN_PATH});
    assert_int_equal(rs.status, 200);
    json_t *m = body_json(&rs);
    assert_string_equal(jstr(m, "issuer"), ISSUER);
    assert_string_equal(jstr(m, "authorization_endpoint"), ISSUER "/oauth/authorize");
    assert_string_equal(jstr(m, "token_endpoint"), ISSUER "/oauth/token");
    assert_string_equal(jstr(m, "device_authorization_endpoint"),
                        ISSUER "/oauth/device_authorization");
    assert_string_equal(jstr(m, "jwks_uri"), ISSUER "/oauth/jwks");
    assert_string_equal(jstr(m, "introspection_endpoint"), ISSUER "/oauth/introspect");
    assert_string_equal(jstr(m, "revocation_endpoint"), ISSUER "/oauth/revoke");
    json_t *pk = json_object_get(m, "code_challenge_methods_supported");
    assert_int_equal(json_array_size(pk), 1);
    assert_string_equal(json_string_value(json_array_get(pk, 0)), "S256");
    json_t *rt = json_object_get(m, "response_types_supported");
    assert_int_equal(json_array_size(rt), 1);
    assert_string_equal(json_string_value(json_array_get(rt, 0)), "code");
    /* scopes: the lamp's defaults, nothing of the basic-only door */
    json_t *sc = json_object_get(m, "scopes_supported");
    char all[256] = "";
    size_t i;
    json_t *v;
    json_array_foreach(sc, i, v)
    {
        strcat(all, json_string_value(v));
        strcat(all, " ");
    }
    assert_string_equal(all, "lamp:read lamp:write lamp:invoke lamp:subscribe ");
    json_t *gt = json_object_get(m, "grant_types_supported");
    json_array_foreach(gt, i, v)
    {
        assert_string_not_equal(json_string_value(v), "password");
        assert_string_not_equal(json_string_value(v), "implicit");
    }
    json_decref(m);
    as_response_free(&rs);

    rs = call((struct call){.path = "/oauth/jwks"});
    assert_int_equal(rs.status, 200);
    json_t *k = body_json(&rs);
    json_t *k0 = json_array_get(json_object_get(k, "keys"), 0);
    assert_string_equal(jstr(k0, "kty"), "EC");
    assert_string_equal(jstr(k0, "alg"), "ES256");
    assert_null(json_object_get(k0, "d")); /* public only */
    json_decref(k);
    as_response_free(&rs);

    /* the exposed TD points consumers at these endpoints */
    const struct thing *t = state_find_thing(g_st, "lamp");
    json_t *def =
            json_object_get(json_object_get(t->exposed, "securityDefinitions"), "oauth2_local_sc");
    assert_non_null(def);
    assert_string_equal(jstr(def, "scheme"), "oauth2");
    assert_string_equal(jstr(def, "flow"), "code");
    assert_string_equal(jstr(def, "authorization"), ISSUER "/oauth/authorize");
    assert_string_equal(jstr(def, "token"), ISSUER "/oauth/token");
    json_t *form = json_array_get(
            json_object_get(json_object_get(json_object_get(t->exposed, "properties"), "on"),
                            "forms"),
            0);
    assert_non_null(json_object_get(form, "scopes"));

    /* every answer is a protocol answer */
    expect_error(call((struct call){.path = "/oauth/nothing"}), 404, "not_found");
    expect_error(call((struct call){.path = "/oauth/token"}), 405, "invalid_request");
    assert_true(as_handles_path("/oauth/token"));
    assert_true(as_handles_path(AS_WELL_KNOWN_PATH));
    assert_false(as_handles_path("/things/lamp"));
    assert_false(as_handles_path("/oauthx"));
    (void)state;
}

/* ---- tests: authorization code + PKCE ------------------------------------------------------- */

static void test_code_flow(void **state)
{
    char *code = get_code(NULL);
    struct as_response rs = redeem(code, "app", APP_REDIR, VERIFIER);
    assert_int_equal(rs.status, 200);
    json_t *j = body_json(&rs);
    assert_string_equal(jstr(j, "token_type"), "Bearer");
    assert_string_equal(jstr(j, "scope"), "lamp:read");
    assert_int_equal(json_integer_value(json_object_get(j, "expires_in")), 600);
    const char *at = jstr(j, "access_token");
    assert_non_null(jstr(j, "refresh_token"));
    check_access_token(at, "alice", "app", "lamp:read");

    /* the resource server: read allowed, write 403 insufficient_scope */
    bool ins = false;
    assert_int_equal(decide(at, "on", WOT_OP_READPROPERTY, &ins), POLICY_ALLOW);
    assert_int_equal(decide(at, "on", WOT_OP_WRITEPROPERTY, &ins), POLICY_DENY_FORBIDDEN);
    assert_true(ins);
    assert_int_equal(decide(at, "toggle", WOT_OP_INVOKEACTION, &ins), POLICY_DENY_FORBIDDEN);
    assert_false(as_token_revoked(g_as, at, strlen(at)));
    assert_true(active(at));
    /* logged: who got what; never the password, the code or the tokens */
    assert_non_null(strstr(g_log.p, "grant=authorization_code client=app sub=alice"));
    assert_not_logged(ALICE_PW);
    assert_not_logged(code);
    assert_not_logged(at);
    assert_not_logged(jstr(j, "refresh_token"));
    assert_not_logged(VERIFIER);
    json_decref(j);
    as_response_free(&rs);
    free(code);
    (void)state;
}

static void test_code_scope_subset_by_owner(void **state)
{
    /* the client asks for read and write; alice unchecks write */
    const char *q = "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
                    "&scope=lamp%3Aread%20lamp%3Awrite&state=st4te&code_challenge=" CHALLENGE
                    "&code_challenge_method=S256";
    struct as_response rs = code_flow(q, true, "&s_0=1");
    assert_int_equal(rs.status, 303);
    char *code = loc_param(rs.location, "code");
    as_response_free(&rs);
    rs = redeem(code, "app", APP_REDIR, VERIFIER);
    assert_int_equal(rs.status, 200);
    json_t *j = body_json(&rs);
    assert_string_equal(jstr(j, "scope"), "lamp:read");
    check_access_token(jstr(j, "access_token"), "alice", "app", "lamp:read");
    json_decref(j);
    as_response_free(&rs);
    free(code);

    /* nothing checked: denied */
    rs = code_flow(q, true, "");
    assert_int_equal(rs.status, 303);
    char *err = loc_param(rs.location, "error");
    assert_string_equal(err, "access_denied");
    free(err);
    as_response_free(&rs);

    /* the consent page names the client, the scopes and what they allow */
    rs = call((struct call){.path = "/oauth/authorize", .query = q});
    struct as_response lr = login(&rs, "alice", ALICE_PW, 0, NULL);
    as_response_free(&rs);
    rs = call((struct call){.path = "/oauth/consent",
                            .query = lr.location + strlen("/oauth/consent?")});
    as_response_free(&lr);
    assert_non_null(strstr(rs.body, "<span class=\"client\">app</span>"));
    assert_non_null(strstr(rs.body, "lamp:write"));
    assert_non_null(strstr(rs.body, "Kitchen lamp: change on"));
    assert_non_null(strstr(rs.body, "Kitchen lamp: read brightness"));
    assert_null(strstr(rs.body, "<script"));
    assert_null(strstr(rs.body, "http://")); /* no external assets */
    as_response_free(&rs);
    (void)state;
}

static void test_code_denied(void **state)
{
    struct as_response rs = code_flow(default_query, false, NULL);
    assert_int_equal(rs.status, 303);
    char *err = loc_param(rs.location, "error"), *st = loc_param(rs.location, "state");
    assert_string_equal(err, "access_denied");
    assert_string_equal(st, "st4te");
    assert_null(loc_param(rs.location, "code"));
    free(err);
    free(st);
    as_response_free(&rs);
    (void)state;
}

static void test_pkce(void **state)
{
    /* wrong verifier: refused, and the code is burnt */
    char *code = get_code(NULL);
    expect_error(redeem(code, "app", APP_REDIR, "wrong-verifier-wrong-verifier-wrong-verifier-x"),
                 400, "invalid_grant");
    expect_error(redeem(code, "app", APP_REDIR, VERIFIER), 400, "invalid_grant");
    free(code);

    /* PKCE downgrade: the code was bound to a challenge; no verifier */
    code = get_code(NULL);
    expect_error(redeem(code, "app", APP_REDIR, NULL), 400, "invalid_request");
    free(code);

    /* plain refused, missing refused: an error redirect, never a code */
    const char *plain = "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example"
                        "%2Fcb&state=s&code_challenge=" VERIFIER "&code_challenge_method=plain";
    struct as_response rs = call((struct call){.path = "/oauth/authorize", .query = plain});
    assert_int_equal(rs.status, 303);
    char *err = loc_param(rs.location, "error"),
         *desc = loc_param(rs.location, "error_description");
    assert_string_equal(err, "invalid_request");
    assert_non_null(strstr(desc, "plain"));
    free(err);
    free(desc);
    as_response_free(&rs);
    const char *none = "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example"
                       "%2Fcb&state=s";
    rs = call((struct call){.path = "/oauth/authorize", .query = none});
    assert_int_equal(rs.status, 303);
    err = loc_param(rs.location, "error");
    assert_string_equal(err, "invalid_request");
    free(err);
    as_response_free(&rs);
    (void)state;
}

static void test_code_reuse_revokes(void **state)
{
    char *code = get_code(NULL);
    struct as_response rs = redeem(code, "app", APP_REDIR, VERIFIER);
    assert_int_equal(rs.status, 200);
    json_t *j = body_json(&rs);
    char *at = strdup(jstr(j, "access_token")), *rt = strdup(jstr(j, "refresh_token"));
    json_decref(j);
    as_response_free(&rs);
    assert_true(active(at));
    assert_true(active(rt));

    /* the same code again */
    expect_error(redeem(code, "app", APP_REDIR, VERIFIER), 400, "invalid_grant");
    /* everything it gave is revoked */
    assert_false(active(at));
    assert_false(active(rt));
    assert_true(as_token_revoked(g_as, at, strlen(at)));
    char *body = fmt("grant_type=refresh_token&refresh_token=%s&client_id=app", rt);
    expect_error(call((struct call){.path = "/oauth/token", .body = body}), 400, "invalid_grant");
    free(body);
    free(at);
    free(rt);
    free(code);
    (void)state;
}

static void test_redirect_uri(void **state)
{
    /* unregistered redirect_uri: an error page, no Location (no open redirect) */
    const char *evil = "response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fevil.example"
                       "%2Fcb&state=s&code_challenge=" CHALLENGE "&code_challenge_method=S256";
    struct as_response rs = call((struct call){.path = "/oauth/authorize", .query = evil});
    assert_int_equal(rs.status, 400);
    assert_null(rs.location);
    assert_null(strstr(rs.body, "evil.example"));
    as_response_free(&rs);
    /* prefix and suffix tricks are not an exact match */
    const char *tricks[] = {"https%3A%2F%2Fapp.example%2Fcb%2F..%2Fx",
                            "https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1",
                            "https%3A%2F%2Fapp.example%2Fcbx", "HTTPS%3A%2F%2Fapp.example%2Fcb",
                            "https%3A%2F%2Fapp.example%2Fcb%23frag"};
    for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
        char *q = fmt("response_type=code&client_id=app&redirect_uri=%s&code_challenge=" CHALLENGE
                      "&code_challenge_method=S256",
                      tricks[i]);
        rs = call((struct call){.path = "/oauth/authorize", .query = q});
        assert_int_equal(rs.status, 400);
        assert_null(rs.location);
        as_response_free(&rs);
        free(q);
    }
    /* missing, and an unknown client: no redirect either */
    rs = call((struct call){.path = "/oauth/authorize",
                            .query = "response_type=code&client_id=app&code_challenge=" CHALLENGE
                                     "&code_challenge_method=S256"});
    assert_int_equal(rs.status, 400);
    assert_null(rs.location);
    as_response_free(&rs);
    rs = call((struct call){.path = "/oauth/authorize",
                            .query = "response_type=code&client_id=nobody&redirect_uri="
                                     "https%3A%2F%2Fevil.example%2F"});
    assert_int_equal(rs.status, 400);
    assert_null(rs.location);
    as_response_free(&rs);
    /* a malformed query: an error page too */
    rs = call((struct call){.path = "/oauth/authorize", .query = "client_id=app&client_id=app2"});
    assert_int_equal(rs.status, 400);
    assert_null(rs.location);
    as_response_free(&rs);

    /* the token request's redirect_uri must equal the authorization request's */
    char *code = get_code(NULL);
    expect_error(redeem(code, "app", "http://127.0.0.1:5000/cb", VERIFIER), 400, "invalid_grant");
    free(code);
    (void)state;
}

static void test_implicit_and_password_refused(void **state)
{
    const char *q = "response_type=token&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
                    "&state=s";
    struct as_response rs = call((struct call){.path = "/oauth/authorize", .query = q});
    assert_int_equal(rs.status, 303);
    char *err = loc_param(rs.location, "error");
    assert_string_equal(err, "unsupported_response_type");
    assert_null(loc_param(rs.location, "access_token"));
    free(err);
    as_response_free(&rs);

    char *auth = basic("svc", SVC_SECRET);
    expect_error(call((struct call){.path = "/oauth/token",
                                    .body = "grant_type=password&username=alice&password=" ALICE_PW,
                                    .auth = auth}),
                 400, "unsupported_grant_type");
    expect_error(call((struct call){
                         .path = "/oauth/token", .body = "grant_type=implicit", .auth = auth}),
                 400, "unsupported_grant_type");
    free(auth);
    (void)state;
}

static void test_token_substitution(void **state)
{
    /* a code issued to app, redeemed by app2 with app2's own redirect */
    char *code = get_code(NULL);
    expect_error(redeem(code, "app2", APP2_REDIR, VERIFIER), 400, "invalid_grant");
    /* and it is burnt for app too */
    expect_error(redeem(code, "app", APP_REDIR, VERIFIER), 400, "invalid_grant");
    free(code);

    /* a refresh token of app presented by tv: refused, family revoked */
    code = get_code(NULL);
    struct as_response rs = redeem(code, "app", APP_REDIR, VERIFIER);
    json_t *j = body_json(&rs);
    char *rt = strdup(jstr(j, "refresh_token"));
    json_decref(j);
    as_response_free(&rs);
    char *body = fmt("grant_type=refresh_token&refresh_token=%s&client_id=tv", rt);
    expect_error(call((struct call){.path = "/oauth/token", .body = body}), 400, "invalid_grant");
    free(body);
    body = fmt("grant_type=refresh_token&refresh_token=%s&client_id=app", rt);
    expect_error(call((struct call){.path = "/oauth/token", .body = body}), 400, "invalid_grant");
    free(body);
    free(rt);
    free(code);
    (void)state;
}

/* ---- tests: client credentials --------------------------------------------------------------- */

static void test_client_credentials(void **state)
{
    char *auth = basic("svc", SVC_SECRET);
    struct as_response rs = call((struct call){.path = "/oauth/token",
                                               .body = "grant_type=client_credentials&scope="
                                                       "lamp%3Aread",
                                               .auth = auth});
    assert_int_equal(rs.status, 200);
    json_t *j = body_json(&rs);
    const char *at = jstr(j, "access_token");
    assert_null(json_object_get(j, "refresh_token"));
    check_access_token(at, "svc", "svc", "lamp:read");
    bool ins = false;
    assert_int_equal(decide(at, "brightness", WOT_OP_READPROPERTY, &ins), POLICY_ALLOW);
    assert_int_equal(decide(at, "on", WOT_OP_WRITEPROPERTY, &ins), POLICY_DENY_FORBIDDEN);
    assert_true(ins);
    json_decref(j);
    as_response_free(&rs);

    /* no scope asked: everything the client may have */
    rs = call((struct call){
            .path = "/oauth/token", .body = "grant_type=client_credentials", .auth = auth});
    j = body_json(&rs);
    assert_string_equal(jstr(j, "scope"), "lamp:read lamp:invoke");
    json_decref(j);
    as_response_free(&rs);
    free(auth);

    /* the secret in the body works too */
    rs = call((struct call){
            .path = "/oauth/token",
            .body = "grant_type=client_credentials&client_id=svc&client_secret=" SVC_SECRET});
    assert_int_equal(rs.status, 200);
    as_response_free(&rs);

    /* wrong secret: 401 invalid_client with a challenge */
    auth = basic("svc", "not-the-secret-XyZ");
    rs = call((struct call){
            .path = "/oauth/token", .body = "grant_type=client_credentials", .auth = auth});
    assert_int_equal(rs.status, 401);
    assert_non_null(rs.www_authenticate);
    assert_true(!strncmp(rs.www_authenticate, "Basic ", 6));
    assert_null(strstr(rs.body, "XyZ")); /* no secret echoed */
    expect_error(rs, 401, "invalid_client");
    free(auth);
    assert_non_null(strstr(g_log.p, "client 'svc' failed authentication"));
    assert_not_logged("not-the-secret-XyZ");
    assert_not_logged(SVC_SECRET);
    expect_error(call((struct call){.path = "/oauth/token",
                                    .body = "grant_type=client_credentials&client_id=svc"}),
                 401, "invalid_client");
    auth = basic("nobody", SVC_SECRET);
    expect_error(call((struct call){.path = "/oauth/token",
                                    .body = "grant_type=client_credentials",
                                    .auth = auth}),
                 401, "invalid_client");
    free(auth);
    /* both methods at once */
    auth = basic("svc", SVC_SECRET);
    expect_error(call((struct call){.path = "/oauth/token",
                                    .body = "grant_type=client_credentials&client_secret=x",
                                    .auth = auth}),
                 400, "invalid_request");
    /* a scope the client may not have, an unknown scope */
    expect_error(call((struct call){.path = "/oauth/token",
                                    .body = "grant_type=client_credentials&scope=lamp%3Awrite",
                                    .auth = auth}),
                 400, "invalid_scope");
    expect_error(call((struct call){.path = "/oauth/token",
                                    .body = "grant_type=client_credentials&scope=door%3Aread",
                                    .auth = auth}),
                 400, "invalid_scope");
    free(auth);
    /* public clients cannot use it */
    expect_error(call((struct call){.path = "/oauth/token",
                                    .body = "grant_type=client_credentials&client_id=app"}),
                 400, "unauthorized_client");
    /* a confidential client not allowed another grant */
    auth = basic("svc", SVC_SECRET);
    expect_error(call((struct call){.path = "/oauth/token",
                                    .body = "grant_type=refresh_token&refresh_token=x",
                                    .auth = auth}),
                 400, "unauthorized_client");
    free(auth);
    (void)state;
}

/* ---- tests: device flow ---------------------------------------------------------------------- */

struct dev {
    char *device_code, *user_code, *complete;
    int interval;
};

static struct dev device_start(void)
{
    struct as_response rs = call((struct call){.path = "/oauth/device_authorization",
                                               .body = "client_id=tv&scope=lamp%3Aread"});
    assert_int_equal(rs.status, 200);
    json_t *j = body_json(&rs);
    struct dev d = {
            .device_code = strdup(jstr(j, "device_code")),
            .user_code = strdup(jstr(j, "user_code")),
            .complete = strdup(jstr(j, "verification_uri_complete")),
            .interval = (int)json_integer_value(json_object_get(j, "interval")),
    };
    assert_string_equal(jstr(j, "verification_uri"), ISSUER "/oauth/device");
    assert_int_equal(json_integer_value(json_object_get(j, "expires_in")), 600);
    assert_int_equal(strlen(d.user_code), 9);
    assert_int_equal(d.user_code[4], '-');
    json_decref(j);
    as_response_free(&rs);
    return d;
}

static void dev_free(struct dev *d)
{
    free(d->device_code);
    free(d->user_code);
    free(d->complete);
}

static struct as_response poll_dev(const struct dev *d, int64_t now)
{
    char *body = fmt("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Adevice_code"
                     "&device_code=%s&client_id=tv",
                     d->device_code);
    struct as_response rs = call((struct call){.path = "/oauth/token", .body = body, .now = now});
    free(body);
    return rs;
}

/* The person: opens the verification URI, logs in, enters the code,
 * answers. */
static void device_answer(const struct dev *d, bool approve, int64_t now)
{
    g_cookie[0] = '\0';
    struct as_response rs = call((struct call){.path = "/oauth/device", .now = now});
    assert_int_equal(rs.status, 200);
    struct as_response lr = login(&rs, "alice", ALICE_PW, now, NULL);
    as_response_free(&rs);
    assert_int_equal(lr.status, 303);
    assert_string_equal(lr.location, "/oauth/device");
    as_response_free(&lr);
    rs = call((struct call){.path = "/oauth/device", .now = now});
    assert_int_equal(rs.status, 200);
    char *csrf = html_field(&rs, "csrf");
    as_response_free(&rs);
    /* lower case, no dash: still the code */
    char uc[16];
    snprintf(uc, sizeof(uc), "%.4s%.4s", d->user_code, d->user_code + 5);
    for (char *p = uc; *p; p++)
        *p = (char)(*p - 'A' + 'a');
    char *body = fmt("csrf=%s&user_code=%s", csrf, uc);
    rs = call((struct call){.path = "/oauth/device", .body = body, .now = now});
    free(body);
    assert_int_equal(rs.status, 303);
    struct as_response cp = call((struct call){.path = "/oauth/consent",
                                               .query = rs.location + strlen("/oauth/consent?"),
                                               .now = now});
    as_response_free(&rs);
    assert_int_equal(cp.status, 200);
    assert_non_null(strstr(cp.body, "tv</span> (a device)"));
    char *shown = fmt("<p class=\"code\">%s</p>", d->user_code);
    assert_non_null(strstr(cp.body, shown));
    free(shown);
    char *req = html_field(&cp, "req");
    free(csrf);
    csrf = html_field(&cp, "csrf");
    as_response_free(&cp);
    body = fmt("csrf=%s&req=%s&decision=%s&s_0=1", csrf, req, approve ? "approve" : "deny");
    rs = call((struct call){.path = "/oauth/consent", .body = body, .now = now});
    assert_int_equal(rs.status, 200);
    assert_non_null(strstr(rs.body, approve ? "Device connected" : "Request denied"));
    as_response_free(&rs);
    free(body);
    free(req);
    free(csrf);
}

static void test_device_flow(void **state)
{
    struct dev d = device_start();
    assert_int_equal(d.interval, 5);
    expect_error(poll_dev(&d, NOW), 400, "authorization_pending");
    /* polling again at once: slow_down, and the interval grows */
    struct as_response rs = poll_dev(&d, NOW + 1);
    assert_int_equal(rs.status, 400);
    json_t *j = body_json(&rs);
    assert_string_equal(jstr(j, "error"), "slow_down");
    assert_int_equal(json_integer_value(json_object_get(j, "interval")), 10);
    json_decref(j);
    as_response_free(&rs);
    expect_error(poll_dev(&d, NOW + 12), 400, "authorization_pending");

    device_answer(&d, true, NOW + 20);
    rs = poll_dev(&d, NOW + 30);
    assert_int_equal(rs.status, 200);
    j = body_json(&rs);
    assert_string_equal(jstr(j, "scope"), "lamp:read");
    assert_non_null(jstr(j, "refresh_token"));
    {
        struct jwt_claims c = {0};
        const char *at = jstr(j, "access_token");
        assert_int_equal(jwt_verify(g_st->issuer_ptrs, g_st->n_issuers, "local", at, strlen(at), 0,
                                    NOW + 31, &c, NULL),
                         JWT_OK);
        assert_string_equal(c.sub, "alice");
        assert_string_equal(c.client_id, "tv");
        jwt_claims_free(&c);
    }
    json_decref(j);
    as_response_free(&rs);
    /* used once */
    expect_error(poll_dev(&d, NOW + 60), 400, "invalid_grant");
    /* another client cannot poll it */
    dev_free(&d);

    /* denied */
    d = device_start();
    device_answer(&d, false, NOW + 5);
    expect_error(poll_dev(&d, NOW + 10), 400, "access_denied");
    dev_free(&d);

    /* expired */
    d = device_start();
    expect_error(poll_dev(&d, NOW + 601), 400, "expired_token");
    dev_free(&d);

    /* a wrong user code: an error page, no consent */
    d = device_start();
    g_cookie[0] = '\0';
    rs = call((struct call){.path = "/oauth/device"});
    struct as_response lr = login(&rs, "alice", ALICE_PW, 0, NULL);
    as_response_free(&rs);
    as_response_free(&lr);
    rs = call((struct call){.path = "/oauth/device"});
    char *csrf = html_field(&rs, "csrf");
    as_response_free(&rs);
    char *body = fmt("csrf=%s&user_code=BCDF-GHJK", csrf);
    rs = call((struct call){.path = "/oauth/device", .body = body});
    assert_int_equal(rs.status, 400);
    assert_null(rs.location);
    as_response_free(&rs);
    free(body);
    free(csrf);
    /* verification_uri_complete carries the code through the login */
    g_cookie[0] = '\0';
    const char *qs = strchr(d.complete, '?') + 1;
    rs = call((struct call){.path = "/oauth/device", .query = qs});
    lr = login(&rs, "alice", ALICE_PW, 0, NULL);
    as_response_free(&rs);
    assert_int_equal(lr.status, 303);
    char *want = fmt("/oauth/device?user_code=%s", d.user_code);
    assert_string_equal(lr.location, want);
    free(want);
    as_response_free(&lr);
    dev_free(&d);

    /* a client without the grant */
    expect_error(
            call((struct call){.path = "/oauth/device_authorization", .body = "client_id=app"}),
            400, "unauthorized_client");
    (void)state;
}

static void test_device_rate_limit(void **state)
{
    /* one address may not fill the device-code store */
    for (int i = 0; i < AS_DEVICE_PER_PEER; i++) {
        struct as_response rs = call((struct call){.path = "/oauth/device_authorization",
                                                   .body = "client_id=tv",
                                                   .peer = "192.0.2.50:1"});
        assert_int_equal(rs.status, 200);
        as_response_free(&rs);
    }
    expect_error(call((struct call){.path = "/oauth/device_authorization",
                                    .body = "client_id=tv",
                                    .peer = "192.0.2.50:2"}),
                 429, "slow_down");
    struct as_response rs = call((struct call){
            .path = "/oauth/device_authorization", .body = "client_id=tv", .peer = "192.0.2.51:1"});
    assert_int_equal(rs.status, 200);
    as_response_free(&rs);
    rs = call((struct call){.path = "/oauth/device_authorization",
                            .body = "client_id=tv",
                            .peer = "192.0.2.50:3",
                            .now = NOW + AS_DEVICE_WINDOW});
    assert_int_equal(rs.status, 200);
    as_response_free(&rs);
    (void)state;
}

/* ---- tests: refresh rotation, revocation, introspection ------------------------------------ */

static char *refresh(const char *rt, int status, char **new_at)
{
    char *body = fmt("grant_type=refresh_token&refresh_token=%s&client_id=app", rt);
    struct as_response rs = call((struct call){.path = "/oauth/token", .body = body});
    free(body);
    assert_int_equal(rs.status, status);
    char *nrt = NULL;
    if (status == 200) {
        json_t *j = body_json(&rs);
        nrt = strdup(jstr(j, "refresh_token"));
        if (new_at)
            *new_at = strdup(jstr(j, "access_token"));
        json_decref(j);
    }
    as_response_free(&rs);
    return nrt;
}

static void test_refresh_rotation(void **state)
{
    char *code = get_code(NULL);
    struct as_response rs = redeem(code, "app", APP_REDIR, VERIFIER);
    json_t *j = body_json(&rs);
    char *rt1 = strdup(jstr(j, "refresh_token"));
    json_decref(j);
    as_response_free(&rs);

    char *at2 = NULL;
    char *rt2 = refresh(rt1, 200, &at2);
    assert_string_not_equal(rt1, rt2);
    check_access_token(at2, "alice", "app", "lamp:read");
    char *at3 = NULL;
    char *rt3 = refresh(rt2, 200, &at3);
    /* a narrower scope is fine, a wider one not */
    char *body =
            fmt("grant_type=refresh_token&refresh_token=%s&client_id=app&scope=lamp%%3Awrite", rt3);
    expect_error(call((struct call){.path = "/oauth/token", .body = body}), 400, "invalid_scope");
    free(body);
    assert_true(active(rt3));

    /* rt1 comes back: the family is revoked, rt3 with it */
    refresh(rt1, 400, NULL);
    assert_false(active(rt3));
    refresh(rt3, 400, NULL);
    /* the family's last access token is revoked with it */
    assert_true(as_token_revoked(g_as, at3, strlen(at3)));
    assert_false(active(at3));
    free(at3);
    free(rt1);
    free(rt2);
    free(rt3);
    free(at2);
    free(code);
    (void)state;
}

static void test_revocation(void **state)
{
    char *code = get_code(NULL);
    struct as_response rs = redeem(code, "app", APP_REDIR, VERIFIER);
    json_t *j = body_json(&rs);
    char *at = strdup(jstr(j, "access_token")), *rt = strdup(jstr(j, "refresh_token"));
    json_decref(j);
    as_response_free(&rs);

    /* another client's revocation does nothing (still 200) */
    char *auth = basic("svc", SVC_SECRET), *body = fmt("token=%s", rt);
    rs = call((struct call){.path = "/oauth/revoke", .body = body, .auth = auth});
    assert_int_equal(rs.status, 200);
    as_response_free(&rs);
    free(auth);
    free(body);
    assert_true(active(rt));

    /* the access token */
    body = fmt("token=%s&token_type_hint=access_token&client_id=app", at);
    rs = call((struct call){.path = "/oauth/revoke", .body = body});
    assert_int_equal(rs.status, 200);
    as_response_free(&rs);
    free(body);
    assert_false(active(at));
    assert_true(as_token_revoked(g_as, at, strlen(at)));
    assert_true(active(rt));

    /* the refresh token */
    body = fmt("token=%s&client_id=app", rt);
    rs = call((struct call){.path = "/oauth/revoke", .body = body});
    assert_int_equal(rs.status, 200);
    as_response_free(&rs);
    free(body);
    assert_false(active(rt));
    refresh(rt, 400, NULL);

    /* unknown tokens: 200 too; no token: invalid_request; no client: 401 */
    rs = call((struct call){.path = "/oauth/revoke", .body = "token=nonsense&client_id=app"});
    assert_int_equal(rs.status, 200);
    as_response_free(&rs);
    expect_error(call((struct call){.path = "/oauth/revoke", .body = "client_id=app"}), 400,
                 "invalid_request");
    expect_error(call((struct call){.path = "/oauth/revoke", .body = "token=x"}), 401,
                 "invalid_client");
    free(at);
    free(rt);
    free(code);
    (void)state;
}

static void test_introspection(void **state)
{
    char *auth = basic("svc", SVC_SECRET);
    struct as_response rs = call((struct call){
            .path = "/oauth/token", .body = "grant_type=client_credentials", .auth = auth});
    json_t *j = body_json(&rs);
    char *at = strdup(jstr(j, "access_token"));
    json_decref(j);
    as_response_free(&rs);
    free(auth);

    j = introspect(at);
    assert_true(json_is_true(json_object_get(j, "active")));
    assert_string_equal(jstr(j, "client_id"), "svc");
    assert_string_equal(jstr(j, "sub"), "svc");
    assert_string_equal(jstr(j, "scope"), "lamp:read lamp:invoke");
    assert_string_equal(jstr(j, "iss"), ISSUER);
    assert_int_equal(json_integer_value(json_object_get(j, "exp")), NOW + 600);
    json_decref(j);
    j = introspect("not-a-token");
    assert_true(json_is_false(json_object_get(j, "active")));
    assert_int_equal(json_object_size(j), 1);
    json_decref(j);
    /* a tampered token */
    at[strlen(at) - 3] = at[strlen(at) - 3] == 'A' ? 'B' : 'A';
    assert_false(active(at));

    /* client authentication is required, and public clients may not */
    char *body = fmt("token=%s", at);
    expect_error(call((struct call){.path = "/oauth/introspect", .body = body}), 401,
                 "invalid_client");
    free(body);
    expect_error(call((struct call){.path = "/oauth/introspect", .body = "token=x&client_id=app"}),
                 401, "invalid_client");
    auth = basic("rs", "wrong");
    expect_error(call((struct call){.path = "/oauth/introspect", .body = "token=x", .auth = auth}),
                 401, "invalid_client");
    free(auth);
    free(at);
    (void)state;
}

/* ---- tests: bad input -------------------------------------------------------------------------
 */

static void test_bad_input(void **state)
{
    char *big = malloc(AS_MAX_BODY + 100);
    memset(big, 'a', AS_MAX_BODY + 99);
    memcpy(big, "grant_type=", 11);
    big[AS_MAX_BODY + 99] = '\0';
    const char *eps[] = {"/oauth/token", "/oauth/device_authorization", "/oauth/introspect",
                         "/oauth/revoke"};
    for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
        expect_error(call((struct call){.path = eps[i], .body = big}), 413, "invalid_request");
        expect_error(call((struct call){.path = eps[i], .body = "a=1&&b=2"}), 400,
                     "invalid_request");
        expect_error(call((struct call){.path = eps[i], .body = "a=%zz"}), 400, "invalid_request");
        expect_error(call((struct call){.path = eps[i], .body = "client_id=app&client_id=app"}),
                     400, "invalid_request");
        expect_error(call((struct call){.path = eps[i], .body = "a=1", .ct = "application/json"}),
                     400, "invalid_request");
        expect_error(call((struct call){.path = eps[i], .body = "a=1", .query = "x=1"}), 400,
                     "invalid_request");
        expect_error(call((struct call){.path = eps[i], .body = "a=%00"}), 400, "invalid_request");
        expect_error(call((struct call){.path = eps[i], .body = "a=%ff%fe"}), 400,
                     "invalid_request");
    }
    /* the browser endpoints answer with pages */
    struct as_response rs = call((struct call){.path = "/oauth/login", .body = big});
    assert_int_equal(rs.status, 413);
    assert_string_equal(rs.content_type, "text/html; charset=utf-8");
    as_response_free(&rs);
    rs = call((struct call){.path = "/oauth/consent", .body = "x"});
    assert_int_equal(rs.status, 400);
    as_response_free(&rs);
    free(big);
    /* an oversized query */
    char *q = malloc(FORM_MAX_INPUT + 10);
    memset(q, 'b', FORM_MAX_INPUT + 9);
    q[0] = 'x';
    q[1] = '=';
    q[FORM_MAX_INPUT + 9] = '\0';
    rs = call((struct call){.path = "/oauth/authorize", .query = q});
    assert_int_equal(rs.status, 400);
    assert_null(rs.location);
    as_response_free(&rs);
    free(q);
    /* a long state is refused without echoing it */
    char *st = malloc(2000);
    memset(st, 's', 1999);
    st[1999] = '\0';
    q = fmt("response_type=code&client_id=app&redirect_uri=https%%3A%%2F%%2Fapp.example%%2Fcb"
            "&state=%s&code_challenge=" CHALLENGE "&code_challenge_method=S256",
            st);
    rs = call((struct call){.path = "/oauth/authorize", .query = q});
    assert_int_equal(rs.status, 303);
    assert_null(strstr(rs.location, "sss"));
    as_response_free(&rs);
    free(q);
    free(st);
    /* grant_type missing, malformed Basic */
    expect_error(call((struct call){.path = "/oauth/token", .body = "client_id=app"}), 400,
                 "invalid_request");
    expect_error(call((struct call){.path = "/oauth/token",
                                    .body = "grant_type=client_credentials",
                                    .auth = "Basic !!!"}),
                 401, "invalid_client");
    expect_error(call((struct call){.path = "/oauth/token",
                                    .body = "grant_type=client_credentials",
                                    .auth = "Bearer abc"}),
                 401, "invalid_client");
    /* a garbage code, a garbage verifier */
    expect_error(redeem("nope", "app", APP_REDIR, VERIFIER), 400, "invalid_grant");
    expect_error(redeem("nope", "app", APP_REDIR, "short"), 400, "invalid_grant");
    (void)state;
}

/* ---- tests: browser security ------------------------------------------------------------------
 */

static void test_cookie_and_csrf(void **state)
{
    g_cookie[0] = '\0';
    struct as_response rs = call((struct call){.path = "/oauth/authorize", .query = default_query});
    assert_non_null(rs.set_cookie);
    assert_true(!strncmp(rs.set_cookie, "__Host-wotgw_as=", 16));
    assert_non_null(strstr(rs.set_cookie, "; Path=/"));
    assert_non_null(strstr(rs.set_cookie, "; Secure"));
    assert_non_null(strstr(rs.set_cookie, "; HttpOnly"));
    assert_non_null(strstr(rs.set_cookie, "; SameSite=Strict"));
    assert_null(strstr(rs.set_cookie, "Domain"));
    char *req = html_field(&rs, "req"), *csrf = html_field(&rs, "csrf");
    as_response_free(&rs);

    /* a wrong CSRF token */
    char *body = fmt("csrf=x%s&req=%s&username=alice&password=" ALICE_PW, csrf, req);
    rs = call((struct call){.path = "/oauth/login", .body = body});
    assert_int_equal(rs.status, 403);
    as_response_free(&rs);
    free(body);
    /* no cookie (a cross-site post) */
    body = fmt("csrf=%s&req=%s&username=alice&password=" ALICE_PW, csrf, req);
    rs = call((struct call){.path = "/oauth/login", .body = body, .no_cookie = true});
    assert_int_equal(rs.status, 400);
    assert_null(rs.location);
    as_response_free(&rs);
    /* the right one: a new session id after login */
    char before[256];
    snprintf(before, sizeof(before), "%s", g_cookie);
    rs = call((struct call){.path = "/oauth/login", .body = body});
    assert_int_equal(rs.status, 303);
    assert_non_null(rs.set_cookie);
    assert_string_not_equal(before, g_cookie);
    as_response_free(&rs);
    free(body);
    /* the old cookie is worthless now */
    char after[256];
    snprintf(after, sizeof(after), "%s", g_cookie);
    snprintf(g_cookie, sizeof(g_cookie), "%s", before);
    char *q = fmt("req=%s", req);
    rs = call((struct call){.path = "/oauth/consent", .query = q});
    assert_int_equal(rs.status, 400);
    as_response_free(&rs);
    snprintf(g_cookie, sizeof(g_cookie), "%s", after);
    rs = call((struct call){.path = "/oauth/consent", .query = q});
    assert_int_equal(rs.status, 200);
    char *csrf2 = html_field(&rs, "csrf");
    as_response_free(&rs);
    /* consent with a stale CSRF token (the pre-login one) */
    body = fmt("csrf=%s&req=%s&decision=approve&s_0=1", csrf, req);
    rs = call((struct call){.path = "/oauth/consent", .body = body});
    assert_int_equal(rs.status, 403);
    assert_null(rs.location);
    as_response_free(&rs);
    free(body);
    /* a request id of another session */
    g_cookie[0] = '\0';
    rs = call((struct call){.path = "/oauth/consent", .query = q});
    assert_int_equal(rs.status, 400);
    as_response_free(&rs);
    free(q);
    free(csrf2);
    free(csrf);
    free(req);
    (void)state;
}

/* A new browser session at now, then one login; the status. */
static int fresh_login(const char *user, const char *pw, int64_t now, const char *peer)
{
    g_cookie[0] = '\0';
    struct as_response page =
            call((struct call){.path = "/oauth/authorize", .query = default_query, .now = now});
    struct as_response rs = login(&page, user, pw, now, peer);
    int st = rs.status;
    as_response_free(&rs);
    as_response_free(&page);
    return st;
}

static void test_login_backoff(void **state)
{
    g_cookie[0] = '\0';
    struct as_response page =
            call((struct call){.path = "/oauth/authorize", .query = default_query});
    /* failures from one address: 5 are free, then 1, 2, 4 ... seconds */
    const int64_t t0 = NOW + 1;
    for (int i = 0; i < 7; i++) {
        struct as_response rs = login(&page, "alice", "guess-XyZ", t0 + 10 * i, NULL);
        assert_int_equal(rs.status, 200);
        assert_non_null(strstr(rs.body, "Wrong user name or password"));
        assert_null(strstr(rs.body, "guess-XyZ"));
        as_response_free(&rs);
    }
    assert_non_null(strstr(g_log.p, "failed sign-in for 'alice' from 192.0.2.7"));
    assert_not_logged("guess-XyZ");
    const int64_t last = t0 + 60; /* 7 failures: wait 4 s */
    struct as_response rs = login(&page, "alice", ALICE_PW, last + 1, NULL);
    assert_int_equal(rs.status, 429); /* even the right password waits */
    assert_non_null(strstr(rs.body, "Wait 3 seconds"));
    as_response_free(&rs);
    /* another address is not blocked by this one */
    rs = login(&page, "alice", ALICE_PW, last + 1, "198.51.100.9:1234");
    assert_int_equal(rs.status, 303);
    as_response_free(&rs);
    /* the wait is bounded: after it the right password works */
    g_cookie[0] = '\0';
    as_response_free(&page);
    page = call((struct call){.path = "/oauth/authorize", .query = default_query, .now = last + 4});
    rs = login(&page, "alice", ALICE_PW, last + 4, NULL);
    assert_int_equal(rs.status, 303);
    as_response_free(&rs);
    as_response_free(&page);
    as_response_free(&page);
    /* a stranger hammering from one address waits at most 15 minutes */
    int64_t t = NOW + 500;
    for (int i = 0; i < 30; i++) {
        int st = fresh_login("bob", "guess", t, "192.0.2.99:1");
        if (st == 429)
            t += 901;
    }
    assert_int_equal(fresh_login("bob", "guess", t, "192.0.2.99:1"), 200); /* a failure at t */
    assert_int_equal(fresh_login("bob", "guess", t + 1, "192.0.2.99:1"), 429);
    assert_int_equal(fresh_login("alice", ALICE_PW, t + 899, "192.0.2.99:1"), 429);
    assert_int_equal(fresh_login("alice", ALICE_PW, t + 901, "192.0.2.99:1"), 303);

    /* per user: failures over many addresses slow that name down, at most 60 s */
    const int64_t t2 = NOW + 100000;
    for (int i = 0; i < 17; i++) {
        char peer[64];
        snprintf(peer, sizeof(peer), "203.0.113.%d:1000", i + 1);
        assert_int_equal(fresh_login("alice", "guess", t2 + 100 * i, peer), 200);
    }
    const int64_t last2 = t2 + 1600;
    assert_int_equal(fresh_login("alice", ALICE_PW, last2 + 1, "203.0.113.200:1"), 429);
    assert_int_equal(fresh_login("alice", ALICE_PW, last2 + 59, "203.0.113.201:1"), 429);
    assert_int_equal(fresh_login("alice", ALICE_PW, last2 + 61, "203.0.113.200:1"), 303);

    /* IPv6: one /64 is one client */
    const int64_t t3 = NOW + 200000;
    for (int i = 0; i < 6; i++) {
        char peer[64];
        snprintf(peer, sizeof(peer), "[2001:db8:1:2::%x]:443", i + 1);
        assert_int_equal(fresh_login("carol", "guess", t3 + 10 * i, peer), 200);
    }
    assert_int_equal(fresh_login("alice", ALICE_PW, t3 + 51, "[2001:db8:1:2::ff]:443"), 429);
    assert_int_equal(fresh_login("alice", ALICE_PW, t3 + 51, "[2001:db8:1:3::ff]:443"), 303);
    (void)state;
}

static void test_resource_owners(void **state)
{
    /* bob has a password but is not in resource_owners (group:home) */
    g_cookie[0] = '\0';
    struct as_response page =
            call((struct call){.path = "/oauth/authorize", .query = default_query});
    struct as_response rs = login(&page, "bob", BOB_PW, 0, NULL);
    assert_int_equal(rs.status, 200);
    assert_non_null(strstr(rs.body, "Wrong user name or password"));
    as_response_free(&rs);
    rs = login(&page, "nobody", "whatever-pw", 0, NULL);
    assert_int_equal(rs.status, 200);
    as_response_free(&rs);
    as_response_free(&page);
    (void)state;
}

/* ---- tests: persistence --------------------------------------------------------------------- */

static void restart(void)
{
    unload();
    load();
}

static void test_persistence(void **state)
{
    char *code = get_code(NULL);
    struct as_response rs = redeem(code, "app", APP_REDIR, VERIFIER);
    json_t *j = body_json(&rs);
    char *rt = strdup(jstr(j, "refresh_token")), *at = strdup(jstr(j, "access_token"));
    json_decref(j);
    as_response_free(&rs);
    struct dev d = device_start();

    restart();

    /* the access token still verifies (same key), the refresh token works */
    check_access_token(at, "alice", "app", "lamp:read");
    char *rt2 = refresh(rt, 200, NULL);
    /* reuse detection survives a restart */
    restart();
    refresh(rt, 400, NULL);
    refresh(rt2, 400, NULL);
    /* a used code is still known as used */
    expect_error(redeem(code, "app", APP_REDIR, VERIFIER), 400, "invalid_grant");
    /* the device code too */
    expect_error(poll_dev(&d, NOW + 3), 400, "authorization_pending");
    dev_free(&d);

    /* only hashes on disk */
    char p[512], *buf = NULL;
    size_t len = 0;
    snprintf(p, sizeof(p), "%s/state/oauth/grants.json", g_dir);
    assert_int_equal(util_read_file(p, 1u << 24, &buf, &len), 0);
    assert_null(strstr(buf, rt));
    assert_null(strstr(buf, rt2));
    assert_null(strstr(buf, code));
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    free(buf);
    snprintf(p, sizeof(p), "%s/state/oauth/keys.json", g_dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 077, 0);
    free(rt);
    free(rt2);
    free(at);
    free(code);
    (void)state;
}

static void test_torn_write(void **state)
{
    char *code = get_code(NULL);
    struct as_response rs = redeem(code, "app", APP_REDIR, VERIFIER);
    json_t *j = body_json(&rs);
    char *rt = strdup(jstr(j, "refresh_token"));
    json_decref(j);
    as_response_free(&rs);

    /* a crash mid-write leaves a torn temp file: ignored */
    char p[512];
    snprintf(p, sizeof(p), "%s/state/oauth/grants.json.tmpAbC123", g_dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("{\"version\":1,\"codes\":[{\"h\":\"00", f);
    fclose(f);
    restart();
    struct stat st;
    assert_int_equal(stat(p, &st), -1); /* and removed */
    char *rt2 = refresh(rt, 200, NULL);
    free(rt2);

    /* a corrupt store: moved aside, started empty, every old token refused */
    snprintf(p, sizeof(p), "%s/state/oauth/grants.json", g_dir);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs("{\"version\":1,\"families\":[", f);
    fclose(f);
    restart();
    refresh(rt, 400, NULL);
    snprintf(p, sizeof(p), "%s/state/oauth/grants.json.corrupt", g_dir);
    assert_int_equal(stat(p, &st), 0);
    /* and it keeps working */
    free(code);
    code = get_code(NULL);
    rs = redeem(code, "app", APP_REDIR, VERIFIER);
    assert_int_equal(rs.status, 200);
    as_response_free(&rs);
    free(code);
    free(rt);
    (void)state;
}

static void test_key_rotation(void **state)
{
    char *auth = basic("svc", SVC_SECRET);
    struct as_response rs = call((struct call){
            .path = "/oauth/token", .body = "grant_type=client_credentials", .auth = auth});
    json_t *j = body_json(&rs);
    char *old = strdup(jstr(j, "access_token"));
    json_decref(j);
    as_response_free(&rs);

    char dir[512], kid[AS_KID_MAX];
    struct diags d = {0};
    snprintf(dir, sizeof(dir), "%s/state/oauth", g_dir);
    assert_int_equal(as_keys_rotate(dir, JWT_ALG_EDDSA, false, time(NULL), kid, sizeof(kid), &d),
                     0);
    diag_free(&d);
    restart();

    rs = call((struct call){.path = "/oauth/jwks"});
    j = body_json(&rs);
    json_t *keys = json_object_get(j, "keys");
    assert_int_equal(json_array_size(keys), 2);
    assert_string_equal(jstr(json_array_get(keys, 0), "kid"), kid);
    assert_string_equal(jstr(json_array_get(keys, 0), "alg"), "EdDSA");
    json_decref(j);
    as_response_free(&rs);

    /* new tokens: EdDSA with the new kid; the old token still verifies */
    rs = call((struct call){
            .path = "/oauth/token", .body = "grant_type=client_credentials", .auth = auth});
    j = body_json(&rs);
    const char *nt = jstr(j, "access_token");
    uint8_t raw[512];
    size_t rl = 0;
    assert_int_equal(b64url_decode(nt, strcspn(nt, "."), raw, sizeof(raw), &rl), 0);
    json_t *h = json_loadb((const char *)raw, rl, 0, NULL);
    assert_string_equal(jstr(h, "alg"), "EdDSA");
    assert_string_equal(jstr(h, "kid"), kid);
    json_decref(h);
    assert_int_equal(decide(nt, "on", WOT_OP_READPROPERTY, NULL), POLICY_ALLOW);
    assert_int_equal(decide(old, "on", WOT_OP_READPROPERTY, NULL), POLICY_ALLOW);
    json_decref(j);
    as_response_free(&rs);

    /* dropping the old key (it leaked): old tokens stop verifying */
    assert_int_equal(as_keys_rotate(dir, JWT_ALG_ES256, true, time(NULL), kid, sizeof(kid), &d), 0);
    diag_free(&d);
    restart();
    assert_int_equal(decide(old, "on", WOT_OP_READPROPERTY, NULL), POLICY_DENY_UNAUTHENTICATED);
    free(old);
    free(auth);
    (void)state;
}

/* ---- tests: every access token of a grant (wotgw.conf(5)) ------------------------------------ */

/* The jti claim of an access token (not verified). Caller frees. */
static char *jti_of(const char *tok)
{
    const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    uint8_t raw[1024];
    size_t rl = 0;
    assert_non_null(d2);
    assert_int_equal(b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), raw, sizeof(raw), &rl), 0);
    json_t *p = json_loadb((const char *)raw, rl, 0, NULL);
    char *j = strdup(jstr(p, "jti"));
    json_decref(p);
    return j;
}

/* The family holding refresh token rt (current or old). */
static struct st_family *family_of(const char *rt)
{
    uint8_t h[32];
    bool reused;
    store_hash(rt, strlen(rt), h);
    struct st_family *f = store_find_refresh(g_as->store, h, &reused);
    assert_non_null(f);
    return f;
}

static bool family_has(const struct st_family *f, const char *jti)
{
    for (size_t i = 0; i < f->n_issued; i++)
        if (!strcmp(f->issued[i].jti, jti))
            return true;
    return false;
}

/* A code exchanged: *at, *rt (caller frees). */
static void code_tokens(char **code, char **at, char **rt)
{
    *code = get_code(NULL);
    struct as_response rs = redeem(*code, "app", APP_REDIR, VERIFIER);
    assert_int_equal(rs.status, 200);
    json_t *j = body_json(&rs);
    *at = strdup(jstr(j, "access_token"));
    *rt = strdup(jstr(j, "refresh_token"));
    json_decref(j);
    as_response_free(&rs);
}

static void assert_all_revoked(char *const *at, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!as_token_revoked(g_as, at[i], strlen(at[i]))) {
            fprintf(stderr, "access token %zu of %zu not revoked\n", i, n);
            fail();
        }
        assert_false(active(at[i])); /* front ends ask as_token_revoked() after the policy */
    }
}

static void test_refresh_reuse_revokes_all(void **state)
{
    char *code, *at[4], *rt[4];
    code_tokens(&code, &at[0], &rt[0]);
    /* three refreshes: four access tokens of one grant, all live */
    for (int i = 1; i < 4; i++)
        rt[i] = refresh(rt[i - 1], 200, &at[i]);
    struct st_family *f = family_of(rt[3]);
    assert_int_equal(f->n_issued, 4);
    for (int i = 0; i < 4; i++) {
        char *jti = jti_of(at[i]);
        assert_true(family_has(f, jti));
        free(jti);
        assert_true(active(at[i]));
        assert_int_equal(decide(at[i], "on", WOT_OP_READPROPERTY, NULL), POLICY_ALLOW);
    }
    /* an old refresh token comes back: every access token of the grant goes */
    refresh(rt[1], 400, NULL);
    assert_all_revoked(at, 4);
    refresh(rt[3], 400, NULL);
    assert_non_null(strstr(g_log.p, "used twice"));
    /* and stays revoked across a restart */
    restart();
    assert_all_revoked(at, 4);
    for (int i = 0; i < 4; i++) {
        free(at[i]);
        free(rt[i]);
    }
    free(code);
    (void)state;
}

static void test_code_reuse_revokes_all(void **state)
{
    char *code, *at[3], *rt[3];
    code_tokens(&code, &at[0], &rt[0]);
    for (int i = 1; i < 3; i++)
        rt[i] = refresh(rt[i - 1], 200, &at[i]);
    for (int i = 0; i < 3; i++)
        assert_true(active(at[i]));
    expect_error(redeem(code, "app", APP_REDIR, VERIFIER), 400, "invalid_grant");
    assert_all_revoked(at, 3);
    refresh(rt[2], 400, NULL);
    for (int i = 0; i < 3; i++) {
        free(at[i]);
        free(rt[i]);
    }
    free(code);
    (void)state;
}

/* More live access tokens than a family remembers: the oldest are revoked
 * as new ones come, so revoking the grant still leaves none alive. */
#define N_BOUND (STORE_MAX_ISSUED + 9)
static void test_family_bound(void **state)
{
    char *code, *at[N_BOUND], *rt;
    code_tokens(&code, &at[0], &rt);
    for (int i = 1; i < N_BOUND; i++) {
        char *n = refresh(rt, 200, &at[i]);
        free(rt);
        rt = n;
    }
    struct st_family *f = family_of(rt);
    assert_int_equal(f->n_issued, STORE_MAX_ISSUED);
    for (int i = 0; i < N_BOUND; i++) {
        char *jti = jti_of(at[i]);
        bool old = i < N_BOUND - STORE_MAX_ISSUED;
        assert_int_equal(family_has(f, jti), !old);
        assert_int_equal(as_token_revoked(g_as, at[i], strlen(at[i])), old);
        free(jti);
    }
    assert_non_null(strstr(g_log.p, "the oldest is revoked"));
    /* RFC 7009 revocation of the refresh token takes every one of them */
    char *body = fmt("token=%s&client_id=app", rt);
    struct as_response rs = call((struct call){.path = "/oauth/revoke", .body = body});
    assert_int_equal(rs.status, 200);
    as_response_free(&rs);
    free(body);
    for (int i = 0; i < N_BOUND; i++) {
        assert_true(as_token_revoked(g_as, at[i], strlen(at[i])));
        free(at[i]);
    }
    free(rt);
    free(code);
    (void)state;
}

/* store_family_add_jti on its own: expired ones dropped first, then the
 * one closest to expiry revoked; the list saved and loaded. */
static void test_store_issued(void **state)
{
    char dir[512], jti[STORE_ID_MAX];
    struct diags d = {0};
    struct as_store *s = NULL;
    snprintf(dir, sizeof(dir), "%s/store2", g_dir);
    assert_int_equal(store_open(dir, NOW, &s, &d), 0);
    struct st_family *f = store_new_family(s);
    snprintf(f->id, sizeof(f->id), "fam1");
    f->client = strdup("app");
    f->sub = strdup("alice");
    f->scope = strdup("lamp:read");
    f->iat = f->used_at = NOW;
    f->exp = NOW + 86400;
    for (int i = 0; i < STORE_MAX_ISSUED; i++) {
        snprintf(jti, sizeof(jti), "jti-%02d", i);
        assert_int_equal(store_family_add_jti(s, f, jti, NOW + 100 + i, NOW), 0);
    }
    assert_int_equal(store_family_add_jti(s, f, "jti-00", NOW + 100, NOW), 0); /* known */
    assert_int_equal(f->n_issued, STORE_MAX_ISSUED);
    assert_false(store_jti_revoked(s, "jti-00"));
    /* full of live ones: the one closest to expiry is revoked */
    assert_int_equal(store_family_add_jti(s, f, "jti-new1", NOW + 600, NOW), 1);
    assert_int_equal(f->n_issued, STORE_MAX_ISSUED);
    assert_true(store_jti_revoked(s, "jti-00"));
    assert_false(store_jti_revoked(s, "jti-01"));
    assert_string_equal(f->issued[0].jti, "jti-01");
    assert_string_equal(f->issued[STORE_MAX_ISSUED - 1].jti, "jti-new1");
    /* jti-01..05 past exp but within the local issuer's leeway: still
     * remembered (they would still be accepted) */
    assert_int_equal(store_family_add_jti(s, f, "jti-new2", NOW + 700, NOW + 105), 1);
    assert_true(store_jti_revoked(s, "jti-01")); /* the full list made room */
    assert_int_equal(s->n_revoked, 2);
    /* later, jti-02..05 are past the leeway too: dropped, nothing revoked */
    assert_int_equal(
            store_family_add_jti(s, f, "jti-new3", NOW + 700, NOW + 105 + OAUTH_LOCAL_LEEWAY_S), 0);
    assert_int_equal(f->n_issued, STORE_MAX_ISSUED - 4 + 1);
    assert_false(store_jti_revoked(s, "jti-02"));
    assert_int_equal(s->n_revoked, 2);
    assert_int_equal(store_family_add_jti(s, f, "", NOW + 700, NOW), -EINVAL);
    assert_int_equal(store_save(s), 0);
    store_free(s);

    /* saved and loaded; "jti" / "jti_exp" hold the newest for older readers */
    char p[600], *buf = NULL;
    size_t len = 0;
    snprintf(p, sizeof(p), "%s/grants.json", dir);
    assert_int_equal(util_read_file(p, 1u << 24, &buf, &len), 0);
    json_t *root = json_loadb(buf, len, 0, NULL);
    free(buf);
    json_t *fam = json_array_get(json_object_get(root, "families"), 0);
    assert_int_equal(json_array_size(json_object_get(fam, "issued")), STORE_MAX_ISSUED - 3);
    assert_string_equal(jstr(fam, "jti"), "jti-new3");
    assert_int_equal(json_integer_value(json_object_get(fam, "jti_exp")), NOW + 700);
    json_decref(root);
    assert_int_equal(store_open(dir, NOW + 105, &s, &d), 0);
    assert_int_equal(d.n, 0);
    f = store_find_family(s, "fam1");
    assert_non_null(f);
    assert_int_equal(f->n_issued, STORE_MAX_ISSUED - 3);
    assert_string_equal(f->issued[0].jti, "jti-06");
    assert_int_equal(f->issued[0].exp, NOW + 106);
    /* pruning forgets the expired ones */
    store_prune(s, NOW + 110 + OAUTH_LOCAL_LEEWAY_S);
    assert_int_equal(f->n_issued, STORE_MAX_ISSUED - 3 - 5);
    /* revoking the family revokes every one remembered */
    store_revoke_family(s, f);
    assert_true(f->revoked);
    for (size_t i = 0; i < f->n_issued; i++)
        assert_true(store_jti_revoked(s, f->issued[i].jti));
    assert_true(store_jti_revoked(s, "jti-new1"));
    assert_true(store_jti_revoked(s, "jti-new2"));
    store_free(s);

    /* more entries than the bound, or a bad one: the family is skipped */
    struct sbuf b = {.max = 1u << 20};
    sb_puts(&b, "{\"version\":1,\"families\":[{\"id\":\"big\",\"client\":\"app\",\"sub\":\"a\","
                "\"scope\":\"s\",\"iat\":1,\"exp\":9999999999,\"used_at\":1,\"cur\":\"");
    for (int i = 0; i < 64; i++)
        sb_puts(&b, "ab");
    sb_puts(&b, "\",\"old\":[],\"revoked\":false,\"issued\":[");
    for (int i = 0; i <= STORE_MAX_ISSUED; i++) {
        char ent[64];
        snprintf(ent, sizeof(ent), "%s{\"jti\":\"j%d\",\"exp\":9999999999}", i ? "," : "", i);
        sb_puts(&b, ent);
    }
    sb_puts(&b, "]}]}");
    assert_false(b.failed);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(b.p, fp);
    fclose(fp);
    sb_free(&b);
    diag_free(&d);
    assert_int_equal(store_open(dir, NOW, &s, &d), 0);
    assert_int_equal(s->n_families, 0);
    assert_true(diag_contains(&d, "invalid records skipped"));
    store_free(s);
    diag_free(&d);
    (void)state;
}

/* A grants file written before "issued" existed still loads: the last
 * access token of each family from "jti" / "jti_exp". */
static void test_store_old_format(void **state)
{
    char dir[512], p[600], cur[65];
    struct diags d = {0};
    struct as_store *s = NULL;
    snprintf(dir, sizeof(dir), "%s/store3", g_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(p, sizeof(p), "%s/grants.json", dir);
    sha256_hex("some refresh token", cur);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fprintf(fp,
            "{\"version\":1,\"codes\":[],\"devices\":[],\"families\":["
            "{\"id\":\"f1\",\"client\":\"app\",\"sub\":\"alice\",\"scope\":\"lamp:read\","
            "\"iat\":%lld,\"exp\":%lld,\"used_at\":%lld,\"cur\":\"%s\",\"old\":[],"
            "\"revoked\":false,\"jti\":\"old-jti-1\",\"jti_exp\":%lld},"
            "{\"id\":\"f2\",\"client\":\"tv\",\"sub\":\"alice\",\"scope\":\"lamp:read\","
            "\"iat\":%lld,\"exp\":%lld,\"used_at\":%lld,\"cur\":\"%s\",\"old\":[],"
            "\"revoked\":false,\"jti\":\"\",\"jti_exp\":0}],\"revoked\":[]}",
            (long long)NOW, (long long)NOW + 86400, (long long)NOW, cur, (long long)NOW + 600,
            (long long)NOW, (long long)NOW + 86400, (long long)NOW, cur);
    fclose(fp);
    assert_int_equal(store_open(dir, NOW, &s, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(s->n_families, 2);
    struct st_family *f = store_find_family(s, "f1");
    assert_non_null(f);
    assert_int_equal(f->n_issued, 1);
    assert_string_equal(f->issued[0].jti, "old-jti-1");
    assert_int_equal(f->issued[0].exp, NOW + 600);
    assert_int_equal(store_find_family(s, "f2")->n_issued, 0);
    store_revoke_family(s, f);
    assert_true(store_jti_revoked(s, "old-jti-1"));
    store_free(s);
    diag_free(&d);

    /* end to end: a grant saved in the old format, then refresh token reuse */
    char *code, *at[2], *rt[2];
    code_tokens(&code, &at[0], &rt[0]);
    rt[1] = refresh(rt[0], 200, &at[1]);
    unload();
    char *buf = NULL;
    size_t len = 0;
    snprintf(p, sizeof(p), "%s/state/oauth/grants.json", g_dir);
    assert_int_equal(util_read_file(p, 1u << 24, &buf, &len), 0);
    json_t *root = json_loadb(buf, len, 0, NULL);
    free(buf);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(root, "families"), i, e)
    {
        assert_int_equal(json_object_del(e, "issued"), 0);
    }
    char *txt = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    assert_int_equal(util_write_file_atomic(p, txt, strlen(txt), 0600), 0);
    free(txt);
    load();
    assert_int_equal(family_of(rt[1])->n_issued, 1); /* only the last one was known */
    refresh(rt[0], 400, NULL);
    assert_true(as_token_revoked(g_as, at[1], strlen(at[1])));
    for (int k = 0; k < 2; k++) {
        free(at[k]);
        free(rt[k]);
    }
    free(code);
    (void)state;
}

static void test_reload(void **state)
{
    /* a reload keeps sessions and the store; a config without [oauth] frees it */
    char *code = get_code(NULL);
    struct gw_state *old = g_st;
    struct diags d = {0};
    char p[512];
    snprintf(p, sizeof(p), "%s/wotgw.conf", g_dir);
    assert_int_equal(state_load(p, &g_st, &d), 0);
    assert_int_equal(as_update(&g_as, g_st, NOW, &d), 0);
    assert_non_null(g_as);
    state_free(old);
    struct as_response rs = redeem(code, "app", APP_REDIR, VERIFIER);
    assert_int_equal(rs.status, 200);
    as_response_free(&rs);
    free(code);
    diag_free(&d);
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_metadata, setup, teardown),
            cmocka_unit_test_setup_teardown(test_code_flow, setup, teardown),
            cmocka_unit_test_setup_teardown(test_code_scope_subset_by_owner, setup, teardown),
            cmocka_unit_test_setup_teardown(test_code_denied, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pkce, setup, teardown),
            cmocka_unit_test_setup_teardown(test_code_reuse_revokes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_redirect_uri, setup, teardown),
            cmocka_unit_test_setup_teardown(test_implicit_and_password_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_token_substitution, setup, teardown),
            cmocka_unit_test_setup_teardown(test_client_credentials, setup, teardown),
            cmocka_unit_test_setup_teardown(test_device_flow, setup, teardown),
            cmocka_unit_test_setup_teardown(test_device_rate_limit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refresh_rotation, setup, teardown),
            cmocka_unit_test_setup_teardown(test_revocation, setup, teardown),
            cmocka_unit_test_setup_teardown(test_introspection, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
            cmocka_unit_test_setup_teardown(test_cookie_and_csrf, setup, teardown),
            cmocka_unit_test_setup_teardown(test_login_backoff, setup, teardown),
            cmocka_unit_test_setup_teardown(test_resource_owners, setup, teardown),
            cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
            cmocka_unit_test_setup_teardown(test_torn_write, setup, teardown),
            cmocka_unit_test_setup_teardown(test_key_rotation, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
            cmocka_unit_test_setup_teardown(test_refresh_reuse_revokes_all, setup, teardown),
            cmocka_unit_test_setup_teardown(test_code_reuse_revokes_all, setup, teardown),
            cmocka_unit_test_setup_teardown(test_family_bound, setup, teardown),
            cmocka_unit_test_setup_teardown(test_store_issued, setup, teardown),
            cmocka_unit_test_setup_teardown(test_store_old_format, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
