/* test_keysync.c - auth/keysync.c, the document the daemon publishes to
 * the broker plugin: keysync_build() on a real state (the [oauth] local
 * issuer with the keys the authorization server made, a jwks_uri issuer
 * with and without a key set, a jwks = FILE issuer left out), revoked
 * entries (expired and unusable ones left out, the cap), the same bytes
 * for the same input, the size limit; keysync_parse() of what it built and
 * of malformed documents (each refused with -EINVAL and a reason);
 * keysync_apply() on the plugin's state (matching by name and kind and
 * jwks_uri only, "jwks": null, a key set that does not parse, no change
 * on the same text, the credential cache flushed on a change only) and
 * keysync_revoked().
 *
 * Everything (config, users, state directory) is made in a private
 * temporary directory; key sets come from tests/data/auth.
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

#include "auth/credcache.h"
#include "auth/jwt.h"
#include "auth/keysync.h"
#include "state.h"
#include "util.h"

#define NOW      INT64_C(1700000000)
#define ALICE_PW "alice-Secr3t-pw"
#define EXT_URI  "https://127.0.0.1:1/jwks"
#define EXT_ISS  "https://ext.test"
#define LOC_ISS  "https://gw.test:8443"

static char g_dir[] = "/tmp/test_keysync.XXXXXX";
static char *g_set3; /* tests/data/auth/issuer.jwks: ES256, EdDSA, RS256 */
static char *g_set1; /* tests/data/auth/es256.jwk.json: one ES256 key */
static size_t g_set3_len, g_set1_len;

/* ---- fixture ------------------------------------------------------------------------- */

static void write_file(const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static char *read_data(const char *path, size_t *len)
{
    char *buf = NULL;
    assert_int_equal(util_read_file(path, 1u << 20, &buf, len), 0);
    return buf;
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(g_dir));
    char p[512], cwd[256];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(p, sizeof(p), "%s/state", g_dir);
    assert_int_equal(mkdir(p, 0700), 0);
    char *salt = crypt_gensalt_ra("$2b$", 4, NULL, 0);
    assert_non_null(salt);
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    assert_non_null(cd);
    char *h = crypt_r(ALICE_PW, salt, cd), *users = NULL;
    assert_non_null(h);
    assert_true(asprintf(&users, "alice:%s:home\n", h) > 0);
    write_file("users", users);
    free(users);
    free(cd);
    free(salt);
    write_file("clients", "# no clients\n");
    char *conf = NULL;
    assert_true(asprintf(&conf,
                         "[gateway]\nstate_dir = state\nbase_url = " LOC_ISS "/\n"
                         "[https]\nlisten = 127.0.0.1:8443\ncertificate = cert.pem\n"
                         "key = key.pem\n"
                         "[credentials]\nusers = users\n"
                         "[oauth]\nenabled = yes\nclients = clients\n"
                         "[issuer ext]\nissuer = " EXT_ISS "\njwks_uri = " EXT_URI "\n"
                         "audience = https://gw.test\nalgorithms = ES256 EdDSA RS256\n"
                         "[issuer late]\nissuer = https://late.test\n"
                         "jwks_uri = https://127.0.0.1:2/jwks\naudience = https://gw.test\n"
                         "[issuer file]\nissuer = https://file.test\n"
                         "jwks = %s/tests/data/auth/es256.jwk.json\naudience = https://gw.test\n",
                         cwd) > 0);
    write_file("wotgw.conf", conf);
    free(conf);
    g_set3 = read_data("tests/data/auth/issuer.jwks", &g_set3_len);
    g_set1 = read_data("tests/data/auth/es256.jwk.json", &g_set1_len);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rm_rf(g_dir);
    free(g_set3);
    free(g_set1);
    return 0;
}

/* The daemon's state (flags 0: the local issuer gets the authorization
 * server's keys) or the plugin's (STATE_LOAD_NO_LOCAL_KEYS). */
static struct gw_state *load(unsigned flags)
{
    struct diags d = {0};
    char p[512];
    snprintf(p, sizeof(p), "%s/wotgw.conf", g_dir);
    struct gw_state *s = NULL;
    int r = state_load_opts(p, flags, &s, &d);
    if (r < 0 || d.n_errors)
        diag_print(&d, stderr);
    assert_int_equal(r, 0);
    assert_int_equal(d.n_errors, 0);
    diag_free(&d);
    assert_non_null(s);
    return s;
}

static struct jwt_issuer *issuer(struct gw_state *s, const char *name)
{
    for (size_t i = 0; i < s->n_issuers; i++)
        if (s->issuers[i].conf && !strcmp(s->issuers[i].conf->name, name))
            return &s->issuers[i];
    fail_msg("no issuer %s", name);
    return NULL;
}

static struct jwks *parse_set(const char *text, size_t len, unsigned algs)
{
    struct diags d = {0};
    struct jwks *k = NULL;
    assert_int_equal(jwks_parse("test", text, len, algs, &k, &d), 0);
    diag_free(&d);
    assert_non_null(k);
    assert_non_null(k->text);
    return k;
}

static void set_keys(struct gw_state *s, const char *name, struct jwks *k)
{
    struct jwt_issuer *ji = issuer(s, name);
    jwks_free(ji->keys);
    ji->keys = k;
}

static struct keysync *parse_ok(const char *doc, size_t len)
{
    struct keysync *k = NULL;
    const char *why = NULL;
    int r = keysync_parse(doc, len, &k, &why);
    if (r != 0)
        fprintf(stderr, "refused (%s): %.200s\n", why ? why : "?", doc);
    assert_int_equal(r, 0);
    assert_non_null(k);
    return k;
}

static struct keysync *parse_str(const char *doc)
{
    return parse_ok(doc, strlen(doc));
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    assert_true(vasprintf(&s, f, ap) >= 0);
    va_end(ap);
    return s;
}

/* A document with the local issuer's and ext's sets (JSON string texts). */
static struct keysync *doc_local_ext(const char *local_jwks, const char *ext_jwks)
{
    char *doc = fmt("{\"v\":1,\"issuers\":["
                    "{\"name\":\"local\",\"local\":true,\"jwks_uri\":null,\"jwks\":%s},"
                    "{\"name\":\"ext\",\"local\":false,\"jwks_uri\":\"" EXT_URI "\",\"jwks\":%s}],"
                    "\"revoked_iss\":null,\"revoked\":[]}",
                    local_jwks, ext_jwks);
    struct keysync *k = parse_str(doc);
    free(doc);
    return k;
}

/* A JSON string literal (with quotes) for text. */
static char *jstr(const char *text, size_t len)
{
    json_t *j = json_stringn(text, len);
    assert_non_null(j);
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(j);
    assert_non_null(s);
    return s;
}

static size_t cache_entries(const struct gw_state *s)
{
    struct credcache_stats st = {0};
    credcache_get_stats(s->credcache, &st);
    return st.entries;
}

/* Puts one entry into s's credential cache (alice's password). */
static void cache_fill(struct gw_state *s)
{
    const struct user *u = NULL;
    assert_true(credcache_users_verify(s->credcache, s->users, "alice", ALICE_PW, strlen(ALICE_PW),
                                       NOW, &u));
    assert_non_null(u);
    assert_int_equal(cache_entries(s), 1);
}

/* Whether a record of d names a file (here: the key set's label) with needle. */
static bool diag_file_has(const struct diags *d, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].file && strstr(d->v[i].file, needle))
            return true;
    return false;
}

/* ---- keysync_build and the round trip --------------------------------------------------- */

static void test_build_roundtrip(void **state)
{
    (void)state;
    struct gw_state *s = load(0);
    const struct jwt_issuer *loc = issuer(s, OAUTH_LOCAL_ISSUER);
    assert_non_null(loc->keys); /* made by the authorization server */
    assert_non_null(loc->keys->text);
    assert_null(issuer(s, "ext")->keys); /* never fetched here */
    assert_non_null(issuer(s, "file")->keys);
    set_keys(s, "ext",
             parse_set(g_set3, g_set3_len, JWT_ALG_ES256 | JWT_ALG_EDDSA | JWT_ALG_RS256));

    json_t *rv =
            json_pack("[[s,I],[s,I],[s,I],[s,I],[s,I],[s,s],s,[s,I],[I,I]]", "tok-a",
                      (json_int_t)(NOW + 60), "tok-expired", (json_int_t)(NOW - JWT_MAX_LEEWAY_S),
                      "tok-leeway", (json_int_t)NOW, "", (json_int_t)(NOW + 60),
                      "0123456789012345678901234567890123456789012345678901234567890123x",
                      (json_int_t)(NOW + 60), "tok-str-exp", "soon", "not-an-entry",
                      "0123456789012345678901234567890123456789012345678901234567890123",
                      (json_int_t)(NOW + 60), (json_int_t)5, (json_int_t)(NOW + 60));
    assert_non_null(rv);
    char *out = NULL, *out2 = NULL;
    size_t len = 0, len2 = 0;
    assert_int_equal(keysync_build(s, LOC_ISS, rv, NOW, &out, &len, NULL), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    /* the same input: the same bytes */
    assert_int_equal(keysync_build(s, LOC_ISS, rv, NOW, &out2, &len2, NULL), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(out, out2, len);
    free(out2);

    /* what it contains */
    json_error_t je;
    json_t *doc = json_loadb(out, len, JSON_REJECT_DUPLICATES, &je);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "v")), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "revoked_iss")), LOC_ISS);
    json_t *iss = json_object_get(doc, "issuers");
    assert_int_equal(json_array_size(iss), 3); /* local, ext, late; not file */
    size_t i;
    json_t *e;
    bool seen_local = false, seen_ext = false, seen_late = false;
    json_array_foreach(iss, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        assert_non_null(name);
        assert_string_not_equal(name, "file");
        const json_t *jw = json_object_get(e, "jwks"), *uri = json_object_get(e, "jwks_uri");
        if (!strcmp(name, OAUTH_LOCAL_ISSUER)) {
            seen_local = true;
            assert_true(json_is_true(json_object_get(e, "local")));
            assert_true(json_is_null(uri));
            assert_true(json_is_string(jw));
            assert_int_equal(json_string_length(jw), loc->keys->text_len);
            assert_memory_equal(json_string_value(jw), loc->keys->text, loc->keys->text_len);
        } else if (!strcmp(name, "ext")) {
            seen_ext = true;
            assert_true(json_is_false(json_object_get(e, "local")));
            assert_string_equal(json_string_value(uri), EXT_URI);
            assert_int_equal(json_string_length(jw), g_set3_len);
            assert_memory_equal(json_string_value(jw), g_set3, g_set3_len);
        } else {
            assert_string_equal(name, "late");
            seen_late = true;
            assert_true(json_is_false(json_object_get(e, "local")));
            assert_string_equal(json_string_value(uri), "https://127.0.0.1:2/jwks");
            assert_non_null(jw);
            assert_true(json_is_null(jw)); /* no keys: null */
        }
    }
    assert_true(seen_local && seen_ext && seen_late);
    json_t *jr = json_object_get(doc, "revoked");
    assert_int_equal(json_array_size(jr), 3);
    assert_string_equal(json_string_value(json_array_get(json_array_get(jr, 0), 0)), "tok-a");
    assert_int_equal(json_integer_value(json_array_get(json_array_get(jr, 0), 1)), NOW + 60);
    /* past exp, but an issuer's leeway may still accept it: kept */
    assert_string_equal(json_string_value(json_array_get(json_array_get(jr, 1), 0)), "tok-leeway");
    assert_int_equal(json_string_length(json_array_get(json_array_get(jr, 2), 0)), KEYSYNC_MAX_JTI);
    json_decref(doc);

    /* the plugin parses it */
    struct keysync *k = parse_ok(out, len);
    assert_int_equal(keysync_n_issuers(k), 3);
    assert_int_equal(keysync_n_revoked(k), 3);
    assert_true(keysync_revoked(k, LOC_ISS, "tok-a"));
    assert_true(keysync_revoked(
            k, LOC_ISS, "0123456789012345678901234567890123456789012345678901234567890123"));
    assert_false(keysync_revoked(k, LOC_ISS, "tok-expired"));
    assert_true(keysync_revoked(k, LOC_ISS, "tok-leeway"));
    assert_false(keysync_revoked(k, LOC_ISS, "tok-str-exp"));

    /* and installs the daemon's keys into its own state */
    struct gw_state *p = load(STATE_LOAD_NO_LOCAL_KEYS);
    assert_null(issuer(p, OAUTH_LOCAL_ISSUER)->keys);
    struct jwks *file_keys = issuer(p, "file")->keys;
    assert_non_null(file_keys);
    struct diags d = {0};
    assert_int_equal(keysync_apply(k, p, &d), 3);
    assert_int_equal(d.n_errors, 0);
    diag_free(&d);
    const struct jwks *pk = issuer(p, OAUTH_LOCAL_ISSUER)->keys;
    assert_non_null(pk);
    assert_int_equal(pk->n, loc->keys->n);
    assert_int_equal(pk->text_len, loc->keys->text_len);
    assert_memory_equal(pk->text, loc->keys->text, pk->text_len);
    pk = issuer(p, "ext")->keys;
    assert_non_null(pk);
    assert_int_equal(pk->n, 3);
    assert_null(issuer(p, "late")->keys);
    assert_ptr_equal(issuer(p, "file")->keys, file_keys); /* jwks = FILE: untouched */

    /* built again from the plugin's state: the same issuers and keys */
    assert_int_equal(keysync_build(p, LOC_ISS, rv, NOW, &out2, &len2, NULL), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(out, out2, len);
    free(out2);

    keysync_free(k);
    state_free(p);
    free(out);
    json_decref(rv);
    state_free(s);
}

static void test_build_empty_and_null(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    /* no state, no revocations */
    assert_int_equal(keysync_build(NULL, NULL, NULL, NOW, &out, &len, NULL), 0);
    assert_string_equal(out, "{\"v\":1,\"issuers\":[],\"revoked_iss\":null,\"revoked\":[]}");
    assert_int_equal(len, strlen(out));
    struct keysync *k = parse_ok(out, len);
    assert_int_equal(keysync_n_issuers(k), 0);
    assert_int_equal(keysync_n_revoked(k), 0);
    assert_false(keysync_revoked(k, LOC_ISS, "a"));
    keysync_free(k);
    free(out);

    /* a state whose local issuer has no keys: null, and so has ext */
    struct gw_state *s = load(STATE_LOAD_NO_LOCAL_KEYS);
    json_t *rv = json_array(); /* no revocations */
    assert_int_equal(keysync_build(s, LOC_ISS, rv, NOW, &out, &len, NULL), 0);
    json_t *doc = json_loadb(out, len, 0, NULL);
    assert_non_null(doc);
    json_t *iss = json_object_get(doc, "issuers");
    assert_int_equal(json_array_size(iss), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *jw = json_object_get(json_array_get(iss, i), "jwks");
        assert_non_null(jw);
        assert_true(json_is_null(jw));
    }
    assert_int_equal(json_array_size(json_object_get(doc, "revoked")), 0);
    json_decref(doc);
    free(out);
    json_decref(rv);
    state_free(s);
}

static void test_build_revoked_cap(void **state)
{
    (void)state;
    json_t *rv = json_array();
    assert_non_null(rv);
    for (unsigned i = 0; i < KEYSYNC_MAX_REVOKED + 100; i++) {
        char jti[32];
        snprintf(jti, sizeof(jti), "j%u", i);
        assert_int_equal(json_array_append_new(rv, json_pack("[s,I]", jti, (json_int_t)NOW + 1)),
                         0);
    }
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(keysync_build(NULL, LOC_ISS, rv, NOW, &out, &len, NULL), 0);
    struct keysync *k = parse_ok(out, len);
    assert_int_equal(keysync_n_revoked(k), KEYSYNC_MAX_REVOKED);
    assert_true(keysync_revoked(k, LOC_ISS, "j0"));
    char last[32];
    snprintf(last, sizeof(last), "j%u", KEYSYNC_MAX_REVOKED - 1);
    assert_true(keysync_revoked(k, LOC_ISS, last));
    snprintf(last, sizeof(last), "j%u", KEYSYNC_MAX_REVOKED);
    assert_false(keysync_revoked(k, LOC_ISS, last));
    keysync_free(k);
    free(out);
    json_decref(rv);
}

static void test_build_too_large(void **state)
{
    (void)state;
    struct gw_state *s = load(STATE_LOAD_NO_LOCAL_KEYS);
    /* a key set text of the local issuer over KEYSYNC_MAX_SIZE (jwks_parse
     * would refuse it; this only checks the limit of the document) */
    struct jwks *big = calloc(1, sizeof(*big));
    assert_non_null(big);
    big->text_len = KEYSYNC_MAX_SIZE;
    big->text = malloc(big->text_len + 1);
    assert_non_null(big->text);
    memset(big->text, 'a', big->text_len);
    big->text[big->text_len] = '\0';
    set_keys(s, OAUTH_LOCAL_ISSUER, big);
    char *out = (char *)"x";
    size_t len = 1;
    assert_int_equal(keysync_build(s, NULL, NULL, NOW, &out, &len, NULL), -EMSGSIZE);
    assert_null(out);
    assert_int_equal(len, 0);
    state_free(s);

    /* too large by a jwks_uri issuer's set (its server decides the size):
     * that set goes as null, with a warning, and the rest still goes out */
    s = load(STATE_LOAD_NO_LOCAL_KEYS);
    big = calloc(1, sizeof(*big));
    assert_non_null(big);
    big->text_len = KEYSYNC_MAX_SIZE - 10;
    big->text = malloc(big->text_len + 1);
    assert_non_null(big->text);
    memset(big->text, '"', big->text_len); /* escaped: twice as long */
    big->text[big->text_len] = '\0';
    set_keys(s, "ext", big);
    json_t *rv = json_pack("[[s,I]]", "tok-a", (json_int_t)(NOW + 60));
    struct diags d = {0};
    assert_int_equal(keysync_build(s, LOC_ISS, rv, NOW, &out, &len, &d), 0);
    assert_true(len <= KEYSYNC_MAX_SIZE);
    assert_int_equal(d.n, 1);
    assert_true(d.v[0].warning);
    assert_non_null(strstr(d.v[0].msg, "[issuer ext]"));
    struct keysync *k = parse_ok(out, len);
    assert_true(keysync_revoked(k, LOC_ISS, "tok-a"));
    json_t *doc = json_loads(out, 0, NULL);
    json_t *e;
    size_t i;
    bool seen = false;
    json_array_foreach(json_object_get(doc, "issuers"), i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "name")), "ext")) {
            seen = true;
            assert_true(json_is_null(json_object_get(e, "jwks")));
        }
    }
    assert_true(seen);
    json_decref(doc);
    keysync_free(k);
    free(out);
    json_decref(rv);
    diag_free(&d);
    state_free(s);
}

/* ---- keysync_apply ------------------------------------------------------------------- */

static void test_apply(void **state)
{
    (void)state;
    struct gw_state *p = load(STATE_LOAD_NO_LOCAL_KEYS);
    char *s3 = jstr(g_set3, g_set3_len), *s1 = jstr(g_set1, g_set1_len);
    struct diags d = {0};

    /* local and ext get their sets */
    struct keysync *k = doc_local_ext(s1, s3);
    char *doc = NULL;
    cache_fill(p);
    assert_int_equal(keysync_apply(k, p, &d), 2);
    assert_int_equal(cache_entries(p), 0); /* flushed: the keys changed */
    struct jwks *lk = issuer(p, OAUTH_LOCAL_ISSUER)->keys, *ek = issuer(p, "ext")->keys;
    assert_non_null(lk);
    assert_int_equal(lk->n, 1);
    assert_int_equal(lk->text_len, g_set1_len);
    assert_memory_equal(lk->text, g_set1, g_set1_len);
    assert_non_null(ek);
    assert_int_equal(ek->n, 3); /* ext allows RS256 */
    assert_true(jwks_has_kid(ek, "rs-1"));
    assert_null(issuer(p, "late")->keys);

    /* the same document again: no change, the same key objects, no flush */
    cache_fill(p);
    assert_int_equal(keysync_apply(k, p, &d), 2);
    assert_ptr_equal(issuer(p, OAUTH_LOCAL_ISSUER)->keys, lk);
    assert_ptr_equal(issuer(p, "ext")->keys, ek);
    assert_int_equal(cache_entries(p), 1);
    assert_int_equal(d.n_errors, 0);
    keysync_free(k);

    /* a new document with the same texts: still no change */
    doc = fmt("{\"v\":1,\"issuers\":["
              "{\"name\":\"ext\",\"local\":false,\"jwks_uri\":\"" EXT_URI "\",\"jwks\":%s},"
              "{\"name\":\"local\",\"local\":true,\"jwks\":%s}],"
              "\"revoked_iss\":null,\"revoked\":[]}",
              s3, s1);
    k = parse_str(doc);
    free(doc);
    assert_int_equal(keysync_apply(k, p, &d), 2);
    assert_ptr_equal(issuer(p, OAUTH_LOCAL_ISSUER)->keys, lk);
    assert_ptr_equal(issuer(p, "ext")->keys, ek);
    assert_int_equal(cache_entries(p), 1);
    keysync_free(k);

    /* only the local issuer's set changes: ext keeps its object */
    doc = fmt("{\"v\":1,\"issuers\":["
              "{\"name\":\"ext\",\"local\":false,\"jwks_uri\":\"" EXT_URI "\",\"jwks\":%s},"
              "{\"name\":\"local\",\"local\":true,\"jwks\":%s}],"
              "\"revoked_iss\":null,\"revoked\":[]}",
              s3, s3);
    k = parse_str(doc);
    free(doc);
    assert_int_equal(keysync_apply(k, p, &d), 2);
    lk = issuer(p, OAUTH_LOCAL_ISSUER)->keys;
    assert_non_null(lk);
    assert_int_equal(lk->n, 2); /* the local issuer: ES256 and EdDSA only */
    assert_false(jwks_has_kid(lk, "rs-1"));
    assert_ptr_equal(issuer(p, "ext")->keys, ek);
    assert_int_equal(cache_entries(p), 0);
    keysync_free(k);
    assert_int_equal(d.n_errors, 0);
    diag_free(&d);

    free(s3);
    free(s1);
    state_free(p);
}

/* Applies doc to p and checks that it matched none of p's issuers and
 * changed none of their keys. */
static void apply_none(struct gw_state *p, const char *doc)
{
    struct jwks *before[16];
    assert_true(p->n_issuers <= 16);
    for (size_t i = 0; i < p->n_issuers; i++)
        before[i] = p->issuers[i].keys;
    struct keysync *k = parse_str(doc);
    struct diags d = {0};
    cache_fill(p);
    assert_int_equal(keysync_apply(k, p, &d), 0);
    assert_int_equal(d.n, 0);
    diag_free(&d);
    for (size_t i = 0; i < p->n_issuers; i++)
        assert_ptr_equal(p->issuers[i].keys, before[i]);
    assert_int_equal(cache_entries(p), 1);
    credcache_flush(p->credcache);
    keysync_free(k);
}

static void test_apply_mismatch(void **state)
{
    (void)state;
    struct gw_state *p = load(STATE_LOAD_NO_LOCAL_KEYS);
    char *s1 = jstr(g_set1, g_set1_len);
    struct jwks *file_keys = issuer(p, "file")->keys;
    assert_non_null(file_keys);
    /* each an issuer entry without its "jwks" (a good key set, added) */
    static const char *const entries[] = {
            /* the same name, another jwks_uri */
            "\"name\":\"ext\",\"local\":false,\"jwks_uri\":\"https://127.0.0.1:2/jwks\"",
            "\"name\":\"ext\",\"local\":false,\"jwks_uri\":\"https://127.0.0.1:1/jwks/\"",
            "\"name\":\"late\",\"local\":false,\"jwks_uri\":\"" EXT_URI "\"",
            /* the same name, another kind */
            "\"name\":\"ext\",\"local\":true,\"jwks_uri\":null",
            "\"name\":\"local\",\"local\":false,\"jwks_uri\":\"" EXT_URI "\"",
            /* a jwks = FILE issuer, as either kind */
            "\"name\":\"file\",\"local\":false,\"jwks_uri\":\"" EXT_URI "\"",
            "\"name\":\"file\",\"local\":true",
            "\"name\":\"file\",\"local\":false,\"jwks_uri\":\"\"",
            /* names the plugin does not have, or only in another case */
            "\"name\":\"nobody\",\"local\":false,\"jwks_uri\":\"" EXT_URI "\"",
            "\"name\":\"EXT\",\"local\":false,\"jwks_uri\":\"" EXT_URI "\"",
            "\"name\":\"Local\",\"local\":true",
    };
    for (size_t i = 0; i < sizeof(entries) / sizeof(*entries); i++) {
        char *doc = fmt("{\"v\":1,\"issuers\":[{%s,\"jwks\":%s}],\"revoked_iss\":null,"
                        "\"revoked\":[]}",
                        entries[i], s1);
        apply_none(p, doc);
        free(doc);
    }
    assert_null(issuer(p, OAUTH_LOCAL_ISSUER)->keys);
    assert_null(issuer(p, "ext")->keys);
    assert_ptr_equal(issuer(p, "file")->keys, file_keys);

    /* keys the plugin holds for ext, then a document without a matching
     * entry (the daemon's ext moved to another URL): they are dropped, the
     * file issuer's stay */
    set_keys(p, "ext", parse_set(g_set1, g_set1_len, JWT_ALG_ES256 | JWT_ALG_EDDSA));
    assert_non_null(issuer(p, "ext")->keys);
    char *moved = fmt("{\"v\":1,\"issuers\":[{\"name\":\"ext\",\"local\":false,"
                      "\"jwks_uri\":\"https://127.0.0.1:2/jwks\",\"jwks\":%s}],"
                      "\"revoked_iss\":null,\"revoked\":[]}",
                      s1);
    struct keysync *km = parse_str(moved);
    struct diags dm = {0};
    assert_int_equal(keysync_apply(km, p, &dm), 0);
    assert_null(issuer(p, "ext")->keys);
    assert_ptr_equal(issuer(p, "file")->keys, file_keys);
    keysync_free(km);
    free(moved);

    /* NULL document or state: nothing */
    struct keysync *k =
            parse_str("{\"v\":1,\"issuers\":[{\"name\":\"local\",\"local\":true,\"jwks\":null}],"
                      "\"revoked_iss\":null,\"revoked\":[]}");
    struct diags d = {0};
    assert_int_equal(keysync_apply(NULL, p, &d), 0);
    assert_int_equal(keysync_apply(k, NULL, &d), 0);
    assert_int_equal(d.n, 0);
    keysync_free(k);
    free(s1);
    state_free(p);
}

static void test_apply_null_and_bad(void **state)
{
    (void)state;
    struct gw_state *p = load(STATE_LOAD_NO_LOCAL_KEYS);
    char *s1 = jstr(g_set1, g_set1_len), *s3 = jstr(g_set3, g_set3_len);
    struct diags d = {0};
    struct keysync *k = doc_local_ext(s1, s3);
    char *doc = NULL;
    assert_int_equal(keysync_apply(k, p, &d), 2);
    keysync_free(k);
    assert_non_null(issuer(p, OAUTH_LOCAL_ISSUER)->keys);
    assert_non_null(issuer(p, "ext")->keys);

    /* "jwks": null takes the keys away (and flushes the cache) */
    k = parse_str("{\"v\":1,\"issuers\":["
                  "{\"name\":\"ext\",\"local\":false,\"jwks_uri\":\"" EXT_URI "\",\"jwks\":null}],"
                  "\"revoked_iss\":null,\"revoked\":[]}");
    cache_fill(p);
    assert_int_equal(keysync_apply(k, p, &d), 1);
    keysync_free(k);
    assert_null(issuer(p, "ext")->keys);
    assert_int_equal(cache_entries(p), 0);
    assert_int_equal(d.n_errors, 0);

    /* key set texts that do not parse: no keys, reported */
    static const char *const bad[] = {
            "\"not a JWK Set\"",
            "\"\"",
            "\"{\\\"keys\\\":[]}\"",
            /* a private key */
            "\"{\\\"keys\\\":[{\\\"kty\\\":\\\"OKP\\\",\\\"crv\\\":\\\"Ed25519\\\","
            "\\\"x\\\":\\\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\\\","
            "\\\"d\\\":\\\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\\\"}]}\"",
            /* only an X25519 key: not a signature key, no usable key */
            "\"{\\\"keys\\\":[{\\\"kty\\\":\\\"OKP\\\",\\\"crv\\\":\\\"X25519\\\","
            "\\\"x\\\":\\\"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo\\\"}]}\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        /* give it good keys first */
        doc = fmt("{\"v\":1,\"issuers\":[{\"name\":\"local\",\"local\":true,\"jwks\":%s}],"
                  "\"revoked_iss\":null,\"revoked\":[]}",
                  s1);
        k = parse_str(doc);
        free(doc);
        keysync_apply(k, p, &d);
        keysync_free(k);
        assert_non_null(issuer(p, OAUTH_LOCAL_ISSUER)->keys);
        diag_free(&d);

        doc = fmt("{\"v\":1,\"issuers\":[{\"name\":\"local\",\"local\":true,\"jwks\":%s}],"
                  "\"revoked_iss\":null,\"revoked\":[]}",
                  bad[i]);
        k = parse_str(doc);
        free(doc);
        cache_fill(p);
        assert_int_equal(keysync_apply(k, p, &d), 1);
        keysync_free(k);
        assert_null(issuer(p, OAUTH_LOCAL_ISSUER)->keys);
        if (d.n_errors == 0)
            fail_msg("bad set %zu not reported", i);
        assert_true(diag_file_has(&d, "[issuer local]"));
        assert_int_equal(cache_entries(p), 0);
        diag_free(&d);
    }
    free(s1);
    free(s3);
    state_free(p);
}

/* ---- keysync_revoked ----------------------------------------------------------------- */

static void test_revoked(void **state)
{
    (void)state;
    struct keysync *k =
            parse_str("{\"v\":1,\"issuers\":[],\"revoked_iss\":\"" LOC_ISS "\",\"revoked\":["
                      "[\"zz\",1],[\"b\",1700000100],[\"a\",0],[\"m\",-5],[\"b\",2],"
                      "[\"0123456789012345678901234567890123456789012345678901234567890123\",9]]}");
    assert_int_equal(keysync_n_revoked(k), 6);
    assert_int_equal(keysync_n_issuers(k), 0);
    assert_true(keysync_revoked(k, LOC_ISS, "a"));
    assert_true(keysync_revoked(k, LOC_ISS, "b"));
    assert_true(keysync_revoked(k, LOC_ISS, "m"));
    assert_true(keysync_revoked(k, LOC_ISS, "zz"));
    assert_true(keysync_revoked(
            k, LOC_ISS, "0123456789012345678901234567890123456789012345678901234567890123"));
    /* not found */
    assert_false(keysync_revoked(k, LOC_ISS, "c"));
    assert_false(keysync_revoked(k, LOC_ISS, "z"));
    assert_false(keysync_revoked(k, LOC_ISS, "zzz"));
    assert_false(keysync_revoked(k, LOC_ISS, "A"));
    assert_false(keysync_revoked(k, LOC_ISS, ""));
    /* another issuer */
    assert_false(keysync_revoked(k, EXT_ISS, "a"));
    assert_false(keysync_revoked(k, LOC_ISS "/", "a"));
    assert_false(keysync_revoked(k, NULL, "a"));
    assert_false(keysync_revoked(k, LOC_ISS, NULL));
    /* overlong: never in the list, refused before any copy */
    assert_false(keysync_revoked(
            k, LOC_ISS, "0123456789012345678901234567890123456789012345678901234567890123x"));
    char huge[4096];
    memset(huge, 'a', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_false(keysync_revoked(k, LOC_ISS, huge));
    keysync_free(k);
    /* no document */
    assert_false(keysync_revoked(NULL, LOC_ISS, "a"));
    assert_int_equal(keysync_n_revoked(NULL), 0);
    assert_int_equal(keysync_n_issuers(NULL), 0);
    keysync_free(NULL);
    /* entries without revoked_iss: nobody's */
    k = parse_str("{\"v\":1,\"issuers\":[],\"revoked_iss\":null,\"revoked\":[[\"a\",1]]}");
    assert_int_equal(keysync_n_revoked(k), 1);
    assert_false(keysync_revoked(k, LOC_ISS, "a"));
    assert_false(keysync_revoked(k, "", "a"));
    keysync_free(k);
}

/* ---- malformed documents ------------------------------------------------------------- */

static void refused(const char *doc, size_t len, const char *why_expected)
{
    struct keysync *k = (struct keysync *)1;
    const char *why = NULL;
    int r = keysync_parse(doc, len, &k, &why);
    if (r != -EINVAL)
        fprintf(stderr, "not refused (%d): %.300s\n", r, doc ? doc : "(null)");
    assert_int_equal(r, -EINVAL);
    assert_null(k);
    assert_non_null(why);
    assert_string_not_equal(why, "ok");
    if (why_expected && strcmp(why, why_expected)) {
        fprintf(stderr, "doc: %.300s\n", doc);
        assert_string_equal(why, why_expected);
    }
}

static void refused_str(const char *doc, const char *why_expected)
{
    refused(doc, strlen(doc), why_expected);
}

#define W_VERSION "not a version 1 document"
#define W_TOP     "\"issuers\", \"revoked\" or \"revoked_iss\" missing or too large"
#define W_NAME    "an issuer without a usable name or \"local\""
#define W_URI     "an issuer's jwks_uri does not fit its kind"
#define W_JWKS    "an issuer's \"jwks\" is neither a JWK Set text nor null"
#define W_TWICE   "an issuer named twice"
#define W_RV      "a revoked entry is not [jti, exp]"
#define W_SIZE    "larger than the limit"

#define DOC_ISS(iss) "{\"v\":1,\"issuers\":[" iss "],\"revoked_iss\":null,\"revoked\":[]}"
#define DOC_RV(rv)   "{\"v\":1,\"issuers\":[],\"revoked_iss\":\"i\",\"revoked\":[" rv "]}"
#define LOCAL_OK     "{\"name\":\"local\",\"local\":true,\"jwks_uri\":null,\"jwks\":null}"
#define EXT_OK(n)    "{\"name\":\"" n "\",\"local\":false,\"jwks_uri\":\"u\",\"jwks\":null}"
#define NAME64       "0123456789012345678901234567890123456789012345678901234567890123"
#define JTI64        NAME64

static void test_parse_malformed(void **state)
{
    (void)state;
    /* the good ones these are made from */
    keysync_free(parse_str(DOC_ISS(LOCAL_OK "," EXT_OK("e"))));
    keysync_free(parse_str(DOC_ISS(EXT_OK(NAME64))));
    keysync_free(parse_str(DOC_RV("[\"" JTI64 "\",1],[\"x\",-1]")));
    keysync_free(parse_str(" {\"revoked\":[],\"revoked_iss\":null,\"issuers\":[],\"v\":1} \n"));
    keysync_free(parse_str(DOC_ISS("{\"name\":\"local\",\"local\":true,\"jwks\":\"\"}")));

    /* not JSON, not an object */
    refused_str("", NULL);
    refused_str("{", NULL);
    refused_str("not json", NULL);
    refused_str("[1]", NULL);
    refused_str("1", NULL);
    refused_str("\"v\"", NULL);
    refused_str("null", NULL);
    refused_str(DOC_ISS("") "x", NULL);                  /* trailing garbage */
    refused_str(DOC_ISS("") DOC_ISS(""), NULL);          /* two documents */
    refused(DOC_ISS(""), strlen(DOC_ISS("")) - 1, NULL); /* cut short */
    refused(NULL, 0, NULL);
    refused("\xff\xfe{}", 4, NULL);
    /* v */
    refused_str("{\"issuers\":[],\"revoked_iss\":null,\"revoked\":[]}", W_VERSION);
    refused_str("{\"v\":2,\"issuers\":[],\"revoked_iss\":null,\"revoked\":[]}", W_VERSION);
    refused_str("{\"v\":0,\"issuers\":[],\"revoked_iss\":null,\"revoked\":[]}", W_VERSION);
    refused_str("{\"v\":\"1\",\"issuers\":[],\"revoked_iss\":null,\"revoked\":[]}", W_VERSION);
    refused_str("{\"v\":1.0,\"issuers\":[],\"revoked_iss\":null,\"revoked\":[]}", W_VERSION);
    refused_str("{\"v\":true,\"issuers\":[],\"revoked_iss\":null,\"revoked\":[]}", W_VERSION);
    refused_str("{\"v\":null,\"issuers\":[],\"revoked_iss\":null,\"revoked\":[]}", W_VERSION);
    refused_str("{\"v\":[1],\"issuers\":[],\"revoked_iss\":null,\"revoked\":[]}", W_VERSION);
    refused_str("{\"v\":4294967297,\"issuers\":[],\"revoked_iss\":null,\"revoked\":[]}", W_VERSION);
    /* top-level members */
    refused_str("{\"v\":1,\"revoked_iss\":null,\"revoked\":[]}", W_TOP);
    refused_str("{\"v\":1,\"issuers\":{},\"revoked_iss\":null,\"revoked\":[]}", W_TOP);
    refused_str("{\"v\":1,\"issuers\":null,\"revoked_iss\":null,\"revoked\":[]}", W_TOP);
    refused_str("{\"v\":1,\"issuers\":\"[]\",\"revoked_iss\":null,\"revoked\":[]}", W_TOP);
    refused_str("{\"v\":1,\"issuers\":[],\"revoked_iss\":null}", W_TOP);
    refused_str("{\"v\":1,\"issuers\":[],\"revoked_iss\":null,\"revoked\":{}}", W_TOP);
    refused_str("{\"v\":1,\"issuers\":[],\"revoked\":[]}", W_TOP);
    refused_str("{\"v\":1,\"issuers\":[],\"revoked_iss\":1,\"revoked\":[]}", W_TOP);
    refused_str("{\"v\":1,\"issuers\":[],\"revoked_iss\":[\"i\"],\"revoked\":[]}", W_TOP);
    /* an issuer */
    refused_str(DOC_ISS("1"), W_NAME);
    refused_str(DOC_ISS("null"), W_NAME);
    refused_str(DOC_ISS("[\"local\",true,null,null]"), W_NAME);
    refused_str(DOC_ISS("{\"local\":true,\"jwks_uri\":null,\"jwks\":null}"), W_NAME);
    refused_str(DOC_ISS("{\"name\":\"\",\"local\":true,\"jwks_uri\":null,\"jwks\":null}"), W_NAME);
    refused_str(DOC_ISS("{\"name\":null,\"local\":true,\"jwks_uri\":null,\"jwks\":null}"), W_NAME);
    refused_str(DOC_ISS("{\"name\":7,\"local\":true,\"jwks_uri\":null,\"jwks\":null}"), W_NAME);
    refused_str(DOC_ISS(EXT_OK(NAME64 "x")), W_NAME);
    refused_str(DOC_ISS("{\"name\":\"a\\u0000b\",\"local\":true,\"jwks\":null}"), NULL);
    refused_str(DOC_ISS("{\"name\":\"local\",\"jwks_uri\":null,\"jwks\":null}"), W_NAME);
    refused_str(DOC_ISS("{\"name\":\"local\",\"local\":1,\"jwks_uri\":null,\"jwks\":null}"),
                W_NAME);
    refused_str(DOC_ISS("{\"name\":\"local\",\"local\":\"true\",\"jwks_uri\":null,\"jwks\":null}"),
                W_NAME);
    refused_str(DOC_ISS("{\"name\":\"local\",\"local\":null,\"jwks_uri\":null,\"jwks\":null}"),
                W_NAME);
    /* jwks_uri and the kind */
    refused_str(DOC_ISS("{\"name\":\"local\",\"local\":true,\"jwks_uri\":\"u\",\"jwks\":null}"),
                W_URI);
    refused_str(DOC_ISS("{\"name\":\"local\",\"local\":true,\"jwks_uri\":\"\",\"jwks\":null}"),
                W_URI);
    refused_str(DOC_ISS("{\"name\":\"local\",\"local\":true,\"jwks_uri\":false,\"jwks\":null}"),
                W_URI);
    refused_str(DOC_ISS("{\"name\":\"e\",\"local\":false,\"jwks\":null}"), W_URI);
    refused_str(DOC_ISS("{\"name\":\"e\",\"local\":false,\"jwks_uri\":null,\"jwks\":null}"), W_URI);
    refused_str(DOC_ISS("{\"name\":\"e\",\"local\":false,\"jwks_uri\":1,\"jwks\":null}"), W_URI);
    refused_str(DOC_ISS("{\"name\":\"e\",\"local\":false,\"jwks_uri\":[\"u\"],\"jwks\":null}"),
                W_URI);
    /* jwks */
    refused_str(DOC_ISS("{\"name\":\"local\",\"local\":true,\"jwks\":1}"), W_JWKS);
    refused_str(DOC_ISS("{\"name\":\"local\",\"local\":true,\"jwks\":{\"keys\":[]}}"), W_JWKS);
    refused_str(DOC_ISS("{\"name\":\"local\",\"local\":true,\"jwks\":false}"), W_JWKS);
    refused_str(DOC_ISS("{\"name\":\"local\",\"local\":true}"), W_JWKS);
    refused_str(DOC_ISS("{\"name\":\"e\",\"local\":false,\"jwks_uri\":\"u\",\"jwks\":[]}"), W_JWKS);
    /* a NUL inside strings: refused (by the JSON parser) */
    refused_str(DOC_ISS("{\"name\":\"local\",\"local\":true,\"jwks\":\"{}\\u0000x\"}"), NULL);
    refused_str(DOC_ISS("{\"name\":\"e\",\"local\":false,\"jwks_uri\":\"u\\u0000v\","
                        "\"jwks\":null}"),
                NULL);
    refused_str("{\"v\":1,\"issuers\":[],\"revoked_iss\":\"i\\u0000\",\"revoked\":[]}", NULL);
    refused_str(DOC_RV("[\"a\\u0000b\",1]"), NULL);
    {
        /* a raw NUL byte */
        static const char raw[] = "{\"v\":1,\"issuers\":[],\"revoked_iss\":\"a\0b\","
                                  "\"revoked\":[]}";
        refused(raw, sizeof(raw) - 1, NULL);
    }
    /* duplicate issuer names, duplicate JSON keys */
    refused_str(DOC_ISS(LOCAL_OK "," LOCAL_OK), W_TWICE);
    refused_str(DOC_ISS(EXT_OK("e") "," LOCAL_OK "," EXT_OK("e")), W_TWICE);
    refused_str(DOC_ISS(EXT_OK("local") "," LOCAL_OK), W_TWICE);
    refused_str("{\"v\":1,\"v\":1,\"issuers\":[],\"revoked_iss\":null,\"revoked\":[]}", NULL);
    refused_str("{\"v\":1,\"issuers\":[],\"issuers\":[],\"revoked_iss\":null,\"revoked\":[]}",
                NULL);
    refused_str(DOC_ISS("{\"name\":\"local\",\"name\":\"x\",\"local\":true,\"jwks\":null}"), NULL);
    refused_str(DOC_ISS("{\"name\":\"local\",\"local\":true,\"jwks\":null,\"jwks\":\"{}\"}"), NULL);
    /* revoked entries */
    refused_str(DOC_RV("\"a\""), W_RV);
    refused_str(DOC_RV("null"), W_RV);
    refused_str(DOC_RV("[]"), W_RV);
    refused_str(DOC_RV("[\"a\"]"), W_RV);
    refused_str(DOC_RV("[\"a\",1,2]"), W_RV);
    refused_str(DOC_RV("{\"jti\":\"a\",\"exp\":1}"), W_RV);
    refused_str(DOC_RV("[\"\",1]"), W_RV);
    refused_str(DOC_RV("[\"" JTI64 "x\",1]"), W_RV);
    refused_str(DOC_RV("[1,1]"), W_RV);
    refused_str(DOC_RV("[null,1]"), W_RV);
    refused_str(DOC_RV("[\"a\",\"1\"]"), W_RV);
    refused_str(DOC_RV("[\"a\",1.5]"), W_RV);
    refused_str(DOC_RV("[\"a\",null]"), W_RV);
    refused_str(DOC_RV("[1,\"a\"]"), W_RV);
    refused_str(DOC_RV("[\"a\",1],[\"b\"]"), W_RV);
}

static void test_parse_limits(void **state)
{
    (void)state;
    /* KEYSYNC_MAX_ISSUERS distinct issuers: fine; one more: refused */
    for (unsigned n = KEYSYNC_MAX_ISSUERS; n <= KEYSYNC_MAX_ISSUERS + 1; n++) {
        char *p = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&p, &len);
        assert_non_null(f);
        fputs("{\"v\":1,\"issuers\":[", f);
        for (unsigned i = 0; i < n; i++)
            fprintf(f, "%s{\"name\":\"i%u\",\"local\":false,\"jwks_uri\":\"u\",\"jwks\":null}",
                    i ? "," : "", i);
        fputs("],\"revoked_iss\":null,\"revoked\":[]}", f);
        assert_int_equal(fclose(f), 0);
        if (n == KEYSYNC_MAX_ISSUERS) {
            struct keysync *k = parse_ok(p, len);
            assert_int_equal(keysync_n_issuers(k), KEYSYNC_MAX_ISSUERS);
            keysync_free(k);
        } else {
            refused(p, len, W_TOP);
        }
        free(p);
    }
    /* KEYSYNC_MAX_REVOKED entries: fine; one more: refused */
    for (unsigned n = KEYSYNC_MAX_REVOKED; n <= KEYSYNC_MAX_REVOKED + 1; n++) {
        char *p = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&p, &len);
        assert_non_null(f);
        fputs("{\"v\":1,\"issuers\":[],\"revoked_iss\":\"i\",\"revoked\":[", f);
        for (unsigned i = 0; i < n; i++)
            fprintf(f, "%s[\"r%u\",%u]", i ? "," : "", i, i);
        fputs("]}", f);
        assert_int_equal(fclose(f), 0);
        if (n == KEYSYNC_MAX_REVOKED) {
            struct keysync *k = parse_ok(p, len);
            assert_int_equal(keysync_n_revoked(k), KEYSYNC_MAX_REVOKED);
            assert_true(keysync_revoked(k, "i", "r0"));
            assert_true(keysync_revoked(k, "i", "r8191"));
            assert_true(keysync_revoked(k, "i", "r4096"));
            assert_false(keysync_revoked(k, "i", "r8192"));
            keysync_free(k);
        } else {
            refused(p, len, W_TOP);
        }
        free(p);
    }
    /* the size: a document padded with spaces to exactly the limit is
     * fine, one byte more is refused before it is parsed */
    static const char doc[] = DOC_ISS("");
    char *big = malloc(KEYSYNC_MAX_SIZE + 2);
    assert_non_null(big);
    memcpy(big, doc, sizeof(doc) - 1);
    memset(big + sizeof(doc) - 1, ' ', KEYSYNC_MAX_SIZE + 1 - (sizeof(doc) - 1));
    big[KEYSYNC_MAX_SIZE + 1] = '\0';
    struct keysync *k = parse_ok(big, KEYSYNC_MAX_SIZE);
    keysync_free(k);
    refused(big, KEYSYNC_MAX_SIZE + 1, W_SIZE);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_build_roundtrip),
            cmocka_unit_test(test_build_empty_and_null),
            cmocka_unit_test(test_build_revoked_cap),
            cmocka_unit_test(test_build_too_large),
            cmocka_unit_test(test_apply),
            cmocka_unit_test(test_apply_mismatch),
            cmocka_unit_test(test_apply_null_and_bad),
            cmocka_unit_test(test_revoked),
            cmocka_unit_test(test_parse_malformed),
            cmocka_unit_test(test_parse_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
