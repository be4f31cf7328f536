/* test_mqtt_acl.c - the decisions of the mosquitto plugin (src/mosquitto/
 * acl.c) without a broker: loading (and refusing) configurations, who may
 * connect, what each principal may publish, subscribe to and receive,
 * wildcards, response topics, wotgw's own client and its offline session,
 * token expiry at a given clock, the decision cache and its invalidation
 * on reload. tests/integration/test_mqtt_plugin.sh runs the same code in
 * a real broker.
 *
 * src/mosquitto/ is not part of libwotgw.a (it is the plugin's), so the
 * module is compiled into this test directly.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/mosquitto/acl.c"

#define SECRET "0123456789abcdef-the-mqtt-secret"

static char g_dir[64];
static char g_conf[128];
static EVP_PKEY *g_key;
static int64_t g_now;
static struct mqacl g_acl;

/* ---- fixtures ------------------------------------------------------------- */

static char *b64u(const void *p, size_t n)
{
    char *o = malloc(b64url_encoded_len(n) + 1);
    assert_non_null(o);
    b64url_encode(p, n, o);
    return o;
}

static void write_file(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* An EdDSA token of issuer idp for sub with scope, expiring at exp. */
static char *token(const char *sub, const char *scope, int64_t exp)
{
    json_t *h = json_pack("{s:s, s:s, s:s}", "alg", "EdDSA", "typ", "JWT", "kid", "k1");
    json_t *p = json_pack("{s:s, s:s, s:s, s:I, s:s}", "iss", "https://idp.example", "sub", sub,
                          "aud", "wotgw", "exp", (json_int_t)exp, "scope", scope);
    char *hs = json_dumps(h, JSON_COMPACT), *ps = json_dumps(p, JSON_COMPACT);
    char *hb = b64u(hs, strlen(hs)), *pb = b64u(ps, strlen(ps)), *input = NULL, *tok = NULL;
    assert_true(asprintf(&input, "%s.%s", hb, pb) > 0);
    uint8_t sig[64];
    size_t sl = sizeof(sig);
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestSignInit(mc, NULL, NULL, NULL, g_key), 1);
    assert_int_equal(EVP_DigestSign(mc, sig, &sl, (const uint8_t *)input, strlen(input)), 1);
    EVP_MD_CTX_free(mc);
    char *sb = b64u(sig, sl);
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

/* wotgw.conf with the lamp policy given (and [mqtt] unless without). */
static void write_conf(const char *lamp_allow, bool with_mqtt)
{
    char cwd[2048], *text = NULL;
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_true(asprintf(&text,
                         "[gateway]\nbase_url = https://gw.example:8443\n"
                         "[credentials]\nusers = %s/tests/data/policy/users\n"
                         "cert_identities = %s/tests/data/policy/certmap\n"
                         "[issuer idp]\nissuer = https://idp.example\njwks = idp.jwks\n"
                         "audience = wotgw\nalgorithms = EdDSA\nleeway = 10s\n"
                         "%s"
                         "[thing lamp]\ntd = %s/tests/data/policy/lamp.td.json\n"
                         "security = basic | bearer:idp | cert\nallow = %s\n"
                         "allow.brightness = group:family group:guests\n"
                         "allow.readallproperties = group:family group:guests\n"
                         "[thing lamp2]\ntd = %s/tests/data/policy/lamp.td.json\n"
                         "security = basic\nallow = user:bob\n",
                         cwd, cwd, with_mqtt ? "[mqtt]\npassword_file = secret\n" : "", cwd,
                         lamp_allow, cwd) > 0);
    write_file("wotgw.conf", text);
    free(text);
}

static int setup(void **state)
{
    strcpy(g_dir, "/tmp/wotgw-mqacl-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    snprintf(g_conf, sizeof(g_conf), "%s/wotgw.conf", g_dir);
    g_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(g_key);
    uint8_t pub[32];
    size_t n = sizeof(pub);
    assert_int_equal(EVP_PKEY_get_raw_public_key(g_key, pub, &n), 1);
    char *x = b64u(pub, n), *jwks = NULL;
    assert_true(asprintf(&jwks,
                         "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":"
                         "\"k1\",\"alg\":\"EdDSA\",\"use\":\"sig\"}]}",
                         x) > 0);
    write_file("idp.jwks", jwks);
    free(x);
    free(jwks);
    write_file("secret", SECRET "\n");
    write_conf("group:family user:carol", true);
    g_now = (int64_t)time(NULL);
    struct diags d = {0};
    int r = mqacl_load(&g_acl, g_conf, &d);
    if (r < 0)
        diag_print(&d, stderr);
    diag_free(&d);
    assert_int_equal(r, 0);
    return 0;
}

static int teardown(void **state)
{
    mqacl_clear(&g_acl);
    EVP_PKEY_free(g_key);
    static const char *const files[] = {"wotgw.conf", "idp.jwks", "secret", "short"};
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", g_dir, files[i]);
        unlink(p);
    }
    rmdir(g_dir);
    return 0;
}

/* Authenticates; fails the test unless the expected result. */
static struct mqacl_client *connect_as(const char *cid, const char *user, const char *pass,
                                       const char *cn, const char *peer, int want,
                                       const char *want_principal)
{
    struct mqacl_connect c = {
            .client_id = cid,
            .username = user,
            .password = pass,
            .peer = peer ? peer : "192.0.2.7",
            .cert_cn = cn,
            .cert_sha256 =
                    cn ? "0000000000000000000000000000000000000000000000000000000000000000" : NULL,
    };
    struct mqacl_client *cl = NULL;
    const char *reason = NULL;
    char principal[POLICY_PRINCIPAL_MAX];
    int r = mqacl_authenticate(&g_acl, &c, g_now, &cl, &reason, principal, sizeof(principal));
    if (r != want)
        fail_msg("connect %s/%s: %d (%s), expected %d", cid ? cid : "-", user ? user : "-", r,
                 reason ? reason : "-", want);
    assert_non_null(reason);
    if (want == 0) {
        assert_non_null(cl);
        if (want_principal)
            assert_string_equal(principal, want_principal);
    } else {
        assert_null(cl);
        assert_string_equal(principal, "");
    }
    return cl;
}

static bool can(struct mqacl_client *cl, enum mqacl_access a, const char *topic)
{
    const char *reason = NULL;
    bool ok = mqacl_check(&g_acl, cl, cl ? cl->client_id : NULL, NULL, a, topic, false, g_now,
                          &reason);
    assert_non_null(reason);
    return ok;
}

#define R  MQACL_READ
#define W  MQACL_WRITE
#define S  MQACL_SUBSCRIBE
#define US MQACL_UNSUBSCRIBE

/* ---- tests ------------------------------------------------------------------- */

static void test_load_refused(void **state)
{
    struct diags d = {0};
    uint64_t gen = g_acl.generation;
    struct gw_state *before = g_acl.state;

    /* no [mqtt] section: refused, the loaded set stays */
    write_conf("group:family user:carol", false);
    assert_int_equal(mqacl_load(&g_acl, g_conf, &d), -EINVAL);
    assert_true(diag_contains(&d, "no [mqtt] section"));
    diag_free(&d);
    assert_ptr_equal(g_acl.state, before);
    assert_int_equal(g_acl.generation, gen);

    /* a password file too short */
    write_file("short", "tooshort\n");
    write_conf("group:family user:carol", true);
    char *text = NULL, *p;
    size_t len;
    assert_int_equal(util_read_file(g_conf, 1 << 20, &text, &len), 0);
    p = strstr(text, "password_file = secret");
    assert_non_null(p);
    memcpy(p, "password_file = short\n", 22);
    memmove(p + 22, p + 23, strlen(p + 23) + 1);
    write_file("wotgw.conf", text);
    free(text);
    assert_int_equal(mqacl_load(&g_acl, g_conf, &d), -EINVAL);
    assert_true(diag_contains(&d, "must be one line of 16 to 1024 bytes"));
    assert_null(strstr(d.v[d.n - 1].msg, "tooshort"));
    diag_free(&d);

    /* a broken config: FILE:LINE, nothing changes */
    write_file("wotgw.conf", "[mqtt]\npassword_file = secret\nfrobnicate = 1\n");
    assert_int_equal(mqacl_load(&g_acl, g_conf, &d), -EINVAL);
    assert_true(d.n_errors > 0);
    assert_int_equal(d.v[0].line, 3);
    diag_free(&d);
    assert_ptr_equal(g_acl.state, before);

    /* nothing ever loaded: every client refused, every check denied */
    struct mqacl empty = {0};
    struct mqacl_connect c = {.client_id = "c", .username = "alice", .password = "alice-pw-Secr3t"};
    struct mqacl_client *cl = NULL;
    const char *reason = NULL;
    char pr[POLICY_PRINCIPAL_MAX];
    assert_int_equal(mqacl_authenticate(&empty, &c, g_now, &cl, &reason, pr, sizeof(pr)), -EACCES);
    assert_null(cl);
    assert_non_null(strstr(reason, "no configuration"));
    assert_false(mqacl_check(&empty, NULL, "wotgw", "wotgw", R, "wot/lamp/properties/on", false,
                             g_now, &reason));
    write_conf("group:family user:carol", true);
}

static void test_authenticate(void **state)
{
    struct mqacl_client *cl;
    connect_as("c1", NULL, NULL, NULL, NULL, -EACCES, NULL);
    connect_as("c1", "alice", NULL, NULL, NULL, -EACCES, NULL);
    connect_as("c1", NULL, "alice-pw-Secr3t", NULL, NULL, -EACCES, NULL);
    connect_as("c1", "alice", "wrong", NULL, NULL, -EACCES, NULL);
    connect_as("c1", "mallory", "alice-pw-Secr3t", NULL, NULL, -EACCES, NULL);
    connect_as("c1", "carol", "x", NULL, NULL, -EACCES, NULL); /* "!" hash */
    connect_as(NULL, "alice", "alice-pw-Secr3t", NULL, NULL, -EACCES, NULL);
    connect_as("", "alice", "alice-pw-Secr3t", NULL, NULL, -EACCES, NULL);
    cl = connect_as("c1", "alice", "alice-pw-Secr3t", NULL, NULL, 0, "alice");
    assert_false(mqacl_client_is_daemon(cl));
    mqacl_client_free(cl);

    /* tokens: the user name is free */
    char *t = token("svc", "lamp:read", g_now + 60);
    cl = connect_as("c2", "whatever", t, NULL, NULL, 0, "idp:svc");
    mqacl_client_free(cl);
    cl = connect_as("c2", NULL, t, NULL, NULL, 0, "idp:svc");
    mqacl_client_free(cl);
    free(t);
    t = token("svc", "lamp:read", g_now - 60);
    connect_as("c2", NULL, t, NULL, NULL, -EACCES, NULL);
    free(t);
    connect_as("c2", NULL, "eyJhbGciOiJFZERTQSJ9.e30.AAAA", NULL, NULL, -EACCES, NULL);
    connect_as("c2", NULL, "eyJ.a.b.c", NULL, NULL, -EACCES, NULL); /* a password then */

    /* certificates, mapped by cert_identities */
    cl = connect_as("c3", NULL, NULL, "device-7", NULL, 0, "carol");
    mqacl_client_free(cl);
    cl = connect_as("c3", NULL, NULL, "someone", NULL, 0, "someone");
    mqacl_client_free(cl);
    cl = connect_as("c3", "bob", "bob-pw-Secr3t", "device-7", NULL, 0, "bob+carol");
    mqacl_client_free(cl);
    connect_as("c3", "bob", "wrong", "device-7", NULL, -EACCES, NULL);

    /* wotgw's own client */
    cl = connect_as("wotgw", "wotgw", SECRET, NULL, "127.0.0.1", 0, "wotgw");
    assert_true(mqacl_client_is_daemon(cl));
    mqacl_client_free(cl);
    cl = connect_as("wotgw", "wotgw", SECRET, NULL, "::1", 0, "wotgw");
    mqacl_client_free(cl);
    cl = connect_as("wotgw", "wotgw", SECRET, NULL, "::ffff:127.0.0.2", 0, "wotgw");
    mqacl_client_free(cl);
    connect_as("wotgw", "wotgw", SECRET, NULL, "192.0.2.1", -EACCES, NULL);
    connect_as("wotgw", "wotgw", SECRET "x", NULL, "127.0.0.1", -EACCES, NULL);
    connect_as("wotgw", "wotgw", NULL, NULL, "127.0.0.1", -EACCES, NULL);
    connect_as("wotgw", "alice", "alice-pw-Secr3t", NULL, "127.0.0.1", -EACCES, NULL);
    connect_as("other", "wotgw", SECRET, NULL, "127.0.0.1", -EACCES, NULL);
    connect_as("wotgw", NULL, NULL, "device-7", "127.0.0.1", -EACCES, NULL);
}

static void test_consumer_topics(void **state)
{
    struct mqacl_client *a = connect_as("alice-1", "alice", "alice-pw-Secr3t", NULL, NULL, 0, NULL);
    struct mqacl_client *b = connect_as("bob-1", "bob", "bob-pw-Secr3t", NULL, NULL, 0, NULL);

    /* alice: family, the whole lamp */
    assert_true(can(a, S, "wot/lamp/properties/on"));
    assert_true(can(a, R, "wot/lamp/properties/on"));
    assert_true(can(a, W, "wot/lamp/properties/on/set"));
    assert_true(can(a, W, "wot/lamp/actions/toggle"));
    assert_true(can(a, S, "wot/lamp/events/overheated"));
    assert_true(can(a, S, "wot/lamp/properties/colour%20temp"));
    assert_false(can(a, W, "wot/lamp/properties/on"));             /* values are wotgw's */
    assert_false(can(a, W, "wot/lamp/events/overheated"));         /* so are events */
    assert_false(can(a, S, "wot/lamp/properties/on/set"));         /* commands of others */
    assert_false(can(a, S, "wot/lamp/actions/toggle"));            /* likewise */
    assert_false(can(a, W, "wot/lamp/properties/brightness/set")); /* read-only */
    assert_false(can(a, S, "wot/lamp2/properties/on"));            /* bob's thing */
    assert_false(can(a, S, "wot/lamp/properties/nosuch"));
    assert_false(can(a, S, "wot/nosuch/properties/on"));
    assert_false(can(a, S, "wot/lamp/properties/%6Fn")); /* non-canonical */
    assert_false(can(a, W, "wot/lamp/properties/on/set/x"));
    assert_false(can(a, S, "$SYS/broker/uptime"));
    assert_false(can(a, S, "other/topic"));
    assert_true(can(a, US, "anything/at/all"));
    /* a retained command would run again on every subscription of wotgw */
    const char *reason = NULL;
    assert_false(mqacl_check(&g_acl, a, "alice-1", "alice", W, "wot/lamp/properties/on/set", true,
                             g_now, &reason));
    assert_non_null(strstr(reason, "never retained"));
    assert_true(can(a, W, "wot/lamp/properties/on/set"));

    /* wildcards: granted when something readable matches, deliveries
     * decided one by one */
    assert_true(can(a, S, "wot/#"));
    assert_true(can(a, S, "#"));
    assert_true(can(a, S, "wot/+/properties/brightness"));
    assert_true(can(a, S, "$share/grp/wot/lamp/events/+"));
    assert_false(can(a, S, "wot/lamp2/#"));
    assert_false(can(a, S, "$SYS/#"));
    assert_false(can(a, S, "+/monitor"));
    assert_false(can(a, S, "wot/#/x"));
    assert_false(can(a, S, "$share//wot/#"));
    assert_false(can(a, S, "wot/+/properties/+/set"));
    assert_false(can(a, R, "wot/lamp2/properties/on"));

    /* response topics: the client's own only */
    assert_true(can(a, S, "wot/lamp/actions/toggle/response/alice-1"));
    assert_true(can(a, S, "wot/lamp/actions/toggle/response/alice-1/#"));
    assert_true(can(a, R, "wot/lamp/actions/toggle/response/alice-1/req/9"));
    assert_true(can(a, S, "wot/+/actions/+/response/alice-1/#"));
    assert_false(can(a, S, "wot/lamp/actions/toggle/response/bob-1"));
    assert_false(can(a, R, "wot/lamp/actions/toggle/response/bob-1"));
    /* granted (her own matches), but another's response is never delivered */
    assert_true(can(a, S, "wot/lamp/actions/toggle/response/+"));
    assert_false(can(a, R, "wot/lamp/actions/toggle/response/bob-1/x"));
    assert_false(can(a, W, "wot/lamp/actions/toggle/response/alice-1"));

    /* bob: guests may read the brightness only (readallproperties, which
     * they also have, opens no other property's topic); lamp2 is his */
    assert_true(can(b, S, "wot/lamp/properties/brightness"));
    assert_false(can(b, S, "wot/lamp/properties/on"));
    assert_false(can(b, S, "wot/lamp/properties/temp.celsius"));
    assert_false(can(b, W, "wot/lamp/actions/toggle"));
    assert_true(can(b, W, "wot/lamp2/properties/on/set"));
    assert_true(can(b, S, "wot/#"));
    assert_true(can(b, R, "wot/lamp/properties/brightness"));
    assert_false(can(b, R, "wot/lamp/properties/on"));
    assert_false(can(b, S, "wot/lamp/actions/toggle/response/bob-1")); /* no invokeaction */
    assert_true(can(b, S, "wot/lamp2/actions/toggle/response/bob-1"));

    mqacl_client_free(a);
    mqacl_client_free(b);
}

static void test_tokens_and_expiry(void **state)
{
    char *t = token("svc", "lamp:read lamp:invoke", g_now + 30);
    struct mqacl_client *c = connect_as("svc-1", NULL, t, NULL, NULL, 0, "idp:svc");
    const char *reason = NULL;
    assert_true(can(c, S, "wot/lamp/properties/on"));
    assert_true(can(c, W, "wot/lamp/actions/toggle"));
    assert_false(can(c, W, "wot/lamp/properties/on/set")); /* no lamp:write */
    assert_false(can(c, S, "wot/lamp2/properties/on"));    /* basic only there */
    /* the same decisions later: allowed before exp + leeway (10 s), even
     * from the cache, denied from then on */
    assert_true(mqacl_check(&g_acl, c, "svc-1", NULL, S, "wot/lamp/properties/on", false,
                            g_now + 39, &reason));
    assert_true(mqacl_check(&g_acl, c, "svc-1", NULL, S, "wot/lamp/properties/on", false,
                            g_now + 39, &reason));
    assert_false(mqacl_check(&g_acl, c, "svc-1", NULL, S, "wot/lamp/properties/on", false,
                             g_now + 40, &reason));
    assert_string_equal(reason, "the access token has expired");
    assert_false(mqacl_check(&g_acl, c, "svc-1", NULL, R, "wot/lamp/properties/on", false,
                             g_now + 41, &reason));
    assert_false(mqacl_check(&g_acl, c, "svc-1", NULL, W, "wot/lamp/actions/toggle", false,
                             g_now + 99, &reason));
    assert_true(mqacl_check(&g_acl, c, "svc-1", NULL, US, "wot/lamp/properties/on", false,
                            g_now + 99, &reason));
    mqacl_client_free(c);
    free(t);
}

static void test_certificates(void **state)
{
    struct mqacl_client *c = connect_as("dev", NULL, NULL, "device-7", NULL, 0, "carol");
    assert_true(can(c, S, "wot/lamp/properties/on"));
    assert_true(can(c, W, "wot/lamp/properties/on/set"));
    assert_false(can(c, S, "wot/lamp2/properties/on"));
    mqacl_client_free(c);
    c = connect_as("x", NULL, NULL, "stranger", NULL, 0, "stranger");
    assert_false(can(c, S, "wot/lamp/properties/on"));
    assert_false(can(c, S, "wot/#"));
    mqacl_client_free(c);
}

static void test_daemon(void **state)
{
    struct mqacl_client *d = connect_as("wotgw", "wotgw", SECRET, NULL, "127.0.0.1", 0, "wotgw");
    assert_true(can(d, W, "wot/lamp/properties/on"));
    const char *why = NULL;
    assert_true(mqacl_check(&g_acl, d, "wotgw", "wotgw", W, "wot/lamp/properties/on", true, g_now,
                            &why)); /* its values are retained */
    assert_true(can(d, W, "wot/lamp/events/overheated"));
    assert_true(can(d, W, "wot/lamp/actions/toggle/response/alice-1/r1"));
    assert_false(can(d, W, "wot/lamp/properties/on/set"));
    assert_false(can(d, W, "wot/lamp/actions/toggle"));
    assert_false(can(d, W, "wot/nosuch/properties/on"));
    assert_false(can(d, W, "wot/lamp/properties/nosuch"));
    assert_false(can(d, W, "$SYS/x"));
    assert_true(can(d, S, "wot/+/properties/+/set"));
    assert_true(can(d, S, "$share/wotgw/wot/+/actions/+"));
    assert_false(can(d, S, "#"));
    assert_false(can(d, S, "other/#"));
    assert_true(can(d, R, "wot/lamp/properties/on/set"));
    assert_true(can(d, R, "wot/lamp/actions/toggle"));
    assert_true(can(d, R, "wot/lamp/properties/on"));
    assert_false(can(d, R, "wot/lamp/events/overheated"));
    /* removing retained values: property topics of the layout, configured
     * or not any more; its own, nobody else's; never other topics */
    assert_true(mqacl_may_clear(&g_acl, d, "wot/lamp/properties/on"));
    assert_true(mqacl_may_clear(&g_acl, d, "wot/gone/properties/on"));
    assert_true(mqacl_may_clear(&g_acl, d, "wot/lamp/properties/nosuch/cose/bob"));
    assert_false(mqacl_may_clear(&g_acl, d, "wot/lamp/properties/on/set"));
    assert_false(mqacl_may_clear(&g_acl, d, "wot/lamp/events/overheated"));
    assert_false(mqacl_may_clear(&g_acl, d, "wot/lamp/actions/toggle"));
    assert_false(mqacl_may_clear(&g_acl, d, "other/lamp/properties/on"));
    assert_false(mqacl_may_clear(&g_acl, d, "wot/lamp/properties/o%6E"));
    assert_false(mqacl_may_clear(&g_acl, d, "$SYS/x"));
    assert_false(mqacl_may_clear(&g_acl, d, NULL));
    assert_false(mqacl_may_clear(&g_acl, NULL, "wot/lamp/properties/on"));
    struct mqacl_client *alice =
            connect_as("alice-1", "alice", "alice-pw-Secr3t", NULL, NULL, 0, NULL);
    assert_false(mqacl_may_clear(&g_acl, alice, "wot/lamp/properties/on"));
    mqacl_client_free(alice);
    mqacl_client_free(d);

    /* its offline session: found by client id and user name */
    const char *reason;
    assert_true(mqacl_check(&g_acl, NULL, "wotgw", "wotgw", R, "wot/lamp/properties/on/set", false,
                            g_now, &reason));
    assert_false(mqacl_check(&g_acl, NULL, "wotgw", "wotgw", R, "wot/lamp/events/overheated", false,
                             g_now, &reason));
    assert_false(mqacl_check(&g_acl, NULL, "wotgw", "alice", R, "wot/lamp/properties/on/set", false,
                             g_now, &reason));
    /* anyone else without a record: denied */
    assert_false(mqacl_check(&g_acl, NULL, "alice-1", "alice", R, "wot/lamp/properties/on", false,
                             g_now, &reason));
}

static void test_response_topic(void **state)
{
    struct mqacl_client *a = connect_as("alice-1", "alice", "alice-pw-Secr3t", NULL, NULL, 0, NULL);
    struct mqacl_client *w = connect_as("a/b+c", "alice", "alice-pw-Secr3t", NULL, NULL, 0, NULL);
    struct mqacl_client *d = connect_as("wotgw", "wotgw", SECRET, NULL, "127.0.0.1", 0, NULL);
    char buf[MQTT_TOPIC_MAX + 1];
    assert_int_equal(
            mqacl_response_topic(&g_acl, a, "wot/lamp/actions/toggle", NULL, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "wot/lamp/actions/toggle/response/alice-1");
    assert_int_equal(mqacl_response_topic(&g_acl, a, "wot/lamp/actions/toggle",
                                          "wot/lamp/actions/toggle/response/alice-1/q/7", buf,
                                          sizeof(buf)),
                     1);
    assert_string_equal(buf, "wot/lamp/actions/toggle/response/alice-1/q/7");
    assert_int_equal(mqacl_response_topic(&g_acl, a, "wot/lamp/actions/toggle",
                                          "wot/lamp/actions/toggle/response/bob-1", buf,
                                          sizeof(buf)),
                     -EACCES);
    assert_int_equal(mqacl_response_topic(&g_acl, a, "wot/lamp/actions/toggle",
                                          "wot/lamp/actions/reboot/response/alice-1", buf,
                                          sizeof(buf)),
                     -EACCES);
    assert_int_equal(mqacl_response_topic(&g_acl, a, "wot/lamp/actions/toggle",
                                          "wot/lamp/properties/on", buf, sizeof(buf)),
                     -EACCES);
    assert_int_equal(
            mqacl_response_topic(&g_acl, a, "wot/lamp/properties/on/set", NULL, buf, sizeof(buf)),
            0);
    assert_int_equal(
            mqacl_response_topic(&g_acl, d, "wot/lamp/actions/toggle", NULL, buf, sizeof(buf)), 0);
    /* a client id that is not a topic level is encoded */
    assert_int_equal(
            mqacl_response_topic(&g_acl, w, "wot/lamp/actions/toggle", NULL, buf, sizeof(buf)), 1);
    assert_string_equal(buf, "wot/lamp/actions/toggle/response/a%2Fb%2Bc");
    assert_true(can(w, S, "wot/lamp/actions/toggle/response/a%2Fb%2Bc"));
    assert_false(can(w, S, "wot/lamp/actions/toggle/response/a"));
    mqacl_client_free(a);
    mqacl_client_free(w);
    mqacl_client_free(d);
}

static void test_cache_and_reload(void **state)
{
    struct mqacl_client *a = connect_as("alice-1", "alice", "alice-pw-Secr3t", NULL, NULL, 0, NULL);
    struct mqacl_stats s0, s1;
    mqacl_get_stats(&s0);
    assert_true(can(a, S, "wot/lamp/properties/on"));
    assert_true(can(a, S, "wot/lamp/properties/on"));
    assert_true(can(a, W, "wot/lamp/properties/on/set"));
    assert_string_equal(mqacl_client_principal(a), "alice");
    assert_true(can(a, W, "wot/lamp/properties/on/set"));
    assert_string_equal(mqacl_client_principal(a), "alice");
    assert_false(can(a, S, "wot/lamp2/properties/on"));
    assert_false(can(a, S, "wot/lamp2/properties/on"));
    mqacl_get_stats(&s1);
    assert_int_equal(s1.checks - s0.checks, 6);
    assert_int_equal(s1.cache_hits - s0.cache_hits, 3);
    assert_int_equal(s1.denials - s0.denials, 2);

    /* many topics: the cache stays bounded and decisions stay right */
    char topic[64];
    for (int i = 0; i < 3 * MQACL_CACHE_SLOTS; i++) {
        snprintf(topic, sizeof(topic), "wot/lamp/properties/x%d", i);
        assert_false(can(a, S, topic));
    }
    assert_true(can(a, S, "wot/lamp/properties/on"));

    /* a reload that revokes alice: cached allows are not reused */
    write_conf("user:carol", true);
    struct diags d = {0};
    uint64_t gen = g_acl.generation;
    assert_int_equal(mqacl_load(&g_acl, g_conf, &d), 0);
    diag_free(&d);
    assert_int_equal(g_acl.generation, gen + 1);
    assert_false(can(a, S, "wot/lamp/properties/on"));
    assert_false(can(a, W, "wot/lamp/properties/on/set"));
    assert_true(can(a, S, "wot/lamp/properties/brightness")); /* family may still read it */
    write_conf("group:family user:carol", true);
    assert_int_equal(mqacl_load(&g_acl, g_conf, &d), 0);
    diag_free(&d);
    assert_true(can(a, S, "wot/lamp/properties/on"));
    mqacl_client_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_authenticate),
            cmocka_unit_test(test_consumer_topics),
            cmocka_unit_test(test_tokens_and_expiry),
            cmocka_unit_test(test_certificates),
            cmocka_unit_test(test_daemon),
            cmocka_unit_test(test_response_topic),
            cmocka_unit_test(test_cache_and_reload),
            cmocka_unit_test(test_load_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
