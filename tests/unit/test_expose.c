/* test_expose.c - the exposed TD: allowlisted terms only, no device
 * address anywhere, north HTTPS forms per exposed op, security and scopes
 * per form, combo definitions, affordances left out when nothing is
 * exposed, the @context rules of the TD 1.1 schema.
 *
 * With WOTGW_EXPOSED_OUT set, also writes the exposed TD of every loadable
 * TD in tests/data/tds there (tests/integration/test_exposed_schema.sh
 * validates them against the W3C TD 1.1 JSON Schema).
 */
#define _GNU_SOURCE
#include <dirent.h>
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

#include "config.h"
#include "expose.h"
#include "policy.h"
#include "td.h"

#define LAMP_TD   "tests/data/policy/lamp.td.json"
#define THERMO_TD "tests/data/policy/thermo.td.json"
#define LOOSE_TD  "tests/data/policy/loose.td.json"
#define GW        "https://gw.example:8443/things/lamp"

struct fx {
    char dir[64];
    char path[128];
    struct config *conf;
    const struct thing_conf *tc;
    struct td *td;
    struct policy_thing *pt;
    json_t *out;
    char *dump;
    struct diags d;
    int rc; /* expose_td */
};

static const char *const HEAD = "[gateway]\nbase_url = https://gw.example:8443/\n"
                                "[credentials]\napikey_header = X-Key\n"
                                "oscore = oscore.ctx\n" /* compiled against, never read */
                                "[issuer idp]\n"
                                "issuer = https://idp.example\n"
                                "jwks = idp.jwks\n"
                                "audience = wotgw\n"
                                "authorization_url = https://idp.example/auth\n"
                                "token_url = https://idp.example/token\n"
                                "flow = code\n"
                                "[issuer dev]\n"
                                "issuer = https://dev.example\n"
                                "jwks = dev.jwks\n"
                                "audience = wotgw\n"
                                "algorithms = EdDSA\n"
                                "token_url = https://dev.example/token\n"
                                "device_authorization_url = https://dev.example/device\n"
                                "flow = device\n";

/* Set by the MQTTS tests: a section written between HEAD and the thing. */
static const char *extra_section = "";

#define MQTT_SECTION "[mqtt]\nbroker_url = mqtts://mq.example:8883\npassword_file = mqtt.secret\n"
#define MQ           "mqtts://mq.example:8883/"

/* Config with [thing NAME] td = TD (absolute) + body; TD, policy and
 * exposed TD built. Returns the policy compile result (the expose result is
 * in f->rc). */
static int fx_load_named(struct fx *f, const char *name, const char *td_path, const char *body)
{
    memset(f, 0, sizeof(*f));
    strcpy(f->dir, "/tmp/wotgw-expose-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/wotgw.conf", f->dir);
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fprintf(fp, "%s%s[thing %s]\ntd = %s%s%s\n%s", HEAD, extra_section, name,
            td_path[0] == '/' ? "" : cwd, td_path[0] == '/' ? "" : "/", td_path, body);
    fclose(fp);
    int r = config_load(f->path, &f->conf, &f->d);
    if (r < 0)
        diag_print(&f->d, stderr);
    assert_int_equal(r, 0);
    f->tc = config_find_thing(f->conf, name);
    assert_non_null(f->tc);
    const struct td_limits lim = {.max_size = 1u << 20, .max_depth = 32};
    r = td_load_file(f->tc->td, &lim, &f->td, &f->d);
    if (r < 0)
        return r;
    r = policy_thing_compile(f->conf, f->tc, f->td, &f->pt, &f->d);
    if (r < 0)
        return r;
    f->rc = expose_td(f->conf, f->tc, f->td, f->pt, &f->out, &f->d);
    if (f->out) {
        f->dump = json_dumps(f->out, JSON_COMPACT);
        assert_non_null(f->dump);
    }
    return 0;
}

static void fx_load(struct fx *f, const char *td_path, const char *body)
{
    int r = fx_load_named(f, "lamp", td_path, body);
    if (r < 0 || f->rc < 0)
        diag_print(&f->d, stderr);
    assert_int_equal(r, 0);
    assert_int_equal(f->rc, 0);
    assert_non_null(f->out);
}

/* With WOTGW_EXPOSED_OUT set, keeps the exposed TD for schema validation. */
static void maybe_write(const struct fx *f, const char *name)
{
    const char *outdir = getenv("WOTGW_EXPOSED_OUT");
    if (!outdir || !f->out)
        return;
    char p[1024];
    snprintf(p, sizeof(p), "%s/%s.td.json", outdir, name);
    assert_int_equal(json_dump_file(f->out, p, JSON_INDENT(2)), 0);
}

static void fx_free(struct fx *f)
{
    free(f->dump);
    json_decref(f->out);
    policy_thing_free(f->pt);
    td_free(f->td);
    config_free(f->conf);
    diag_free(&f->d);
    unlink(f->path);
    rmdir(f->dir);
}

static json_t *get_path(json_t *root, const char *path)
{
    char *copy = strdup(path), *save = NULL;
    json_t *v = root;
    for (char *t = strtok_r(copy, "/", &save); t && v; t = strtok_r(NULL, "/", &save)) {
        if (json_is_array(v))
            v = json_array_get(v, (size_t)atoi(t));
        else
            v = json_object_get(v, t);
    }
    free(copy);
    return v;
}

static const char *str_at(json_t *root, const char *path)
{
    json_t *v = get_path(root, path);
    if (!json_is_string(v))
        fail_msg("%s: not a string", path);
    return json_string_value(v);
}

/* The form of affordance path (e.g. "properties/on") whose op is op. */
static json_t *form_for(json_t *root, const char *aff_path, const char *op)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/forms", aff_path);
    json_t *forms = get_path(root, p), *f;
    size_t i;
    json_array_foreach(forms, i, f)
    {
        if (!strcmp(json_string_value(json_object_get(f, "op")), op))
            return f;
    }
    return NULL;
}

static void assert_strv(json_t *a, const char *const *want)
{
    assert_true(json_is_array(a));
    size_t n = 0;
    while (want[n])
        n++;
    assert_int_equal(json_array_size(a), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_array_get(a, i)), want[i]);
}

/* Every security name used is defined; every combo's members too. */
static void assert_security_consistent(json_t *root)
{
    json_t *defs = json_object_get(root, "securityDefinitions");
    assert_true(json_is_object(defs));
    assert_true(json_object_size(defs) > 0);
    assert_non_null(json_object_get(defs, json_string_value(json_object_get(root, "security"))));
    const char *k;
    json_t *d;
    json_object_foreach(defs, k, d)
    {
        const char *scheme = json_string_value(json_object_get(d, "scheme"));
        assert_non_null(scheme);
        if (strcmp(scheme, "combo"))
            continue;
        json_t *m = json_object_get(d, "oneOf");
        if (!m)
            m = json_object_get(d, "allOf");
        assert_true(json_array_size(m) >= 2);
        size_t i;
        json_t *n;
        json_array_foreach(m, i, n)
        {
            assert_non_null(json_object_get(defs, json_string_value(n)));
        }
    }
    static const char *const kinds[] = {"properties", "actions", "events"};
    for (size_t k2 = 0; k2 < 3; k2++) {
        json_t *coll = json_object_get(root, kinds[k2]), *a;
        const char *name;
        json_object_foreach(coll, name, a)
        {
            json_t *forms = json_object_get(a, "forms"), *f;
            size_t i;
            assert_true(json_array_size(forms) > 0);
            json_array_foreach(forms, i, f)
            {
                json_t *s = json_object_get(f, "security");
                if (s)
                    assert_non_null(json_object_get(defs, json_string_value(s)));
                assert_non_null(json_object_get(f, "href"));
                assert_non_null(json_object_get(f, "contentType"));
            }
        }
    }
}

/* ---- tests ----------------------------------------------------------------- */

static void test_path_segment(void **state)
{
    static const char *const cases[][2] = {
            {"on", "on"},
            {"colour temp", "colour%20temp"},
            {"a/b?c#d%e", "a%2Fb%3Fc%23d%25e"},
            {"-._~AZaz09", "-._~AZaz09"},
            {"\xc3\xbc", "%C3%BC"},
            {"", ""},
            {"..", ".."},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *s = expose_path_segment(cases[i][0]);
        assert_non_null(s);
        assert_string_equal(s, cases[i][1]);
        free(s);
    }
}

static void test_lamp(void **state)
{
    struct fx f;
    fx_load(&f, LAMP_TD,
            "security = basic | bearer:idp\nallow = group:family\n"
            "security.brightness = nosec\nscopes.toggle = lamp:switch\n"
            "security.reboot = cert & apikey\nallow.reboot = *\n"
            "security.overheated = oauth2:dev\n");
    json_t *o = f.out;

    /* nothing of the device's address, links, base, security, uriVariables */
    assert_null(strstr(f.dump, "192.168.77.5"));
    assert_null(strstr(f.dump, ":8080"));
    static const char *const never[] = {"base", "links", "support", "profile"};
    for (size_t i = 0; i < ARRAY_SIZE(never); i++)
        assert_null(json_object_get(o, never[i]));
    assert_null(strstr(f.dump, "uriVariables"));
    assert_null(strstr(f.dump, "longpoll"));
    assert_null(strstr(f.dump, "properties/ct"));
    assert_true(diag_contains(&f.d, "containing the device address left out"));

    /* @context: 1.1 first, the device's string-valued vocabulary, ours */
    json_t *ctx = json_object_get(o, "@context");
    assert_int_equal(json_array_size(ctx), 3);
    assert_string_equal(str_at(o, "@context/0"), "https://www.w3.org/2022/wot/td/v1.1");
    assert_string_equal(str_at(o, "@context/1/saref"), "https://saref.etsi.org/core/");
    assert_string_equal(str_at(o, "@context/2/wotgw"), WOTGW_CONTEXT_IRI);

    /* copied terms */
    assert_string_equal(str_at(o, "id"), "urn:dev:wotgw-test:lamp-7");
    assert_string_equal(str_at(o, "title"), "Policy test lamp");
    assert_string_equal(str_at(o, "titles/de"), "Testlampe");
    assert_string_equal(str_at(o, "version/instance"), "1.2.0");
    assert_string_equal(str_at(o, "created"), "2024-11-20T10:00:00Z");
    assert_string_equal(str_at(o, "@type/0"), "saref:LightingDevice");
    assert_int_equal(json_integer_value(get_path(o, "schemaDefinitions/level/maximum")), 100);
    assert_true(json_is_true(get_path(o, "properties/on/observable")));
    assert_string_equal(str_at(o, "properties/colour temp/unit"), "K");
    assert_null(get_path(o, "properties/secret/description")); /* had the device URL */
    assert_string_equal(str_at(o, "properties/secret/type"), "string");

    /* security definitions */
    assert_string_equal(str_at(o, "security"), "combo1_sc");
    assert_string_equal(str_at(o, "securityDefinitions/combo1_sc/scheme"), "combo");
    static const char *const one[] = {"basic_sc", "bearer_idp_sc", NULL};
    assert_strv(get_path(o, "securityDefinitions/combo1_sc/oneOf"), one);
    assert_string_equal(str_at(o, "securityDefinitions/basic_sc/scheme"), "basic");
    assert_string_equal(str_at(o, "securityDefinitions/basic_sc/in"), "header");
    assert_string_equal(str_at(o, "securityDefinitions/bearer_idp_sc/scheme"), "bearer");
    assert_string_equal(str_at(o, "securityDefinitions/bearer_idp_sc/format"), "jwt");
    assert_string_equal(str_at(o, "securityDefinitions/bearer_idp_sc/alg"), "ES256");
    assert_string_equal(str_at(o, "securityDefinitions/bearer_idp_sc/authorization"),
                        "https://idp.example/auth");
    assert_string_equal(str_at(o, "securityDefinitions/nosec_sc/scheme"), "nosec");
    static const char *const all[] = {"cert_sc", "apikey_sc", NULL};
    const char *rb = str_at(o, "actions/reboot/forms/0/security");
    char p[128];
    snprintf(p, sizeof(p), "securityDefinitions/%s/allOf", rb);
    assert_strv(get_path(o, p), all);
    assert_string_equal(str_at(o, "securityDefinitions/cert_sc/scheme"), "wotgw:cert");
    assert_string_equal(str_at(o, "securityDefinitions/apikey_sc/name"), "X-Key");
    assert_string_equal(str_at(o, "securityDefinitions/apikey_sc/in"), "header");
    assert_string_equal(str_at(o, "securityDefinitions/oauth2_dev_sc/flow"), "device");
    assert_string_equal(str_at(o, "securityDefinitions/oauth2_dev_sc/token"),
                        "https://dev.example/token");
    assert_string_equal(str_at(o, "securityDefinitions/oauth2_dev_sc/authorization"),
                        "https://dev.example/device");
    assert_security_consistent(o);

    /* forms per op, with methods, routes and scopes */
    json_t *fm = form_for(o, "properties/on", "readproperty");
    assert_non_null(fm);
    assert_string_equal(json_string_value(json_object_get(fm, "href")), GW "/properties/on");
    assert_string_equal(json_string_value(json_object_get(fm, "htv:methodName")), "GET");
    assert_string_equal(json_string_value(json_object_get(fm, "contentType")), "application/json");
    assert_null(json_object_get(fm, "security")); /* the top-level one applies */
    static const char *const rd[] = {"lamp:read", NULL};
    static const char *const wr[] = {"lamp:write", NULL};
    assert_strv(json_object_get(fm, "scopes"), rd);
    fm = form_for(o, "properties/on", "writeproperty");
    assert_non_null(fm);
    assert_string_equal(json_string_value(json_object_get(fm, "htv:methodName")), "PUT");
    assert_strv(json_object_get(fm, "scopes"), wr);
    fm = form_for(o, "properties/on", "observeproperty");
    assert_non_null(fm);
    assert_string_equal(json_string_value(json_object_get(fm, "href")),
                        GW "/properties/on/observe");
    assert_string_equal(json_string_value(json_object_get(fm, "subprotocol")), "sse");
    assert_int_equal(json_array_size(get_path(o, "properties/on/forms")), 3);

    fm = form_for(o, "properties/brightness", "readproperty");
    assert_string_equal(json_string_value(json_object_get(fm, "security")), "nosec_sc");
    assert_null(json_object_get(fm, "scopes"));
    assert_int_equal(json_array_size(get_path(o, "properties/brightness/forms")), 1);

    fm = form_for(o, "properties/colour temp", "writeproperty");
    assert_string_equal(json_string_value(json_object_get(fm, "href")),
                        GW "/properties/colour%20temp");
    assert_string_equal(json_string_value(json_object_get(fm, "contentType")), "application/cbor");
    fm = form_for(o, "properties/temp.celsius", "readproperty");
    assert_string_equal(json_string_value(json_object_get(fm, "href")),
                        GW "/properties/temp.celsius");

    fm = form_for(o, "actions/toggle", "invokeaction");
    assert_string_equal(json_string_value(json_object_get(fm, "href")), GW "/actions/toggle");
    assert_string_equal(json_string_value(json_object_get(fm, "htv:methodName")), "POST");
    static const char *const sw[] = {"lamp:switch", NULL};
    assert_strv(json_object_get(fm, "scopes"), sw);

    /* reboot: own combo, no token so no scopes; queryaction has no route */
    fm = form_for(o, "actions/reboot", "invokeaction");
    assert_null(json_object_get(fm, "scopes"));
    assert_string_equal(json_string_value(json_object_get(fm, "contentType")), "text/plain");
    assert_int_equal(json_array_size(get_path(o, "actions/reboot/forms")), 1);
    assert_string_equal(str_at(o, "actions/reboot/input/type"), "string");

    fm = form_for(o, "events/overheated", "subscribeevent");
    assert_string_equal(json_string_value(json_object_get(fm, "href")), GW "/events/overheated");
    assert_string_equal(json_string_value(json_object_get(fm, "subprotocol")), "sse");
    assert_string_equal(json_string_value(json_object_get(fm, "security")), "oauth2_dev_sc");
    static const char *const sub[] = {"lamp:subscribe", NULL};
    assert_strv(json_object_get(fm, "scopes"), sub);

    /* thing-level form */
    assert_string_equal(str_at(o, "forms/0/op"), "readallproperties");
    assert_string_equal(str_at(o, "forms/0/href"), GW "/properties");
    assert_int_equal(json_array_size(json_object_get(o, "forms")), 1);
    maybe_write(&f, "policy-lamp");
    fx_free(&f);
}

static void test_omitted_affordances(void **state)
{
    struct fx f;
    fx_load(&f, LAMP_TD,
            "security.on.writeproperty = basic\nallow = *\n"
            "security.toggle = apikey\nsecurity.secret = apikey\n");
    json_t *o = f.out;
    /* most common expression on top */
    assert_string_equal(str_at(o, "security"), "apikey_sc");
    assert_int_equal(json_object_size(json_object_get(o, "properties")), 2);
    assert_int_equal(json_array_size(get_path(o, "properties/on/forms")), 1);
    assert_string_equal(str_at(o, "properties/on/forms/0/op"), "writeproperty");
    assert_string_equal(str_at(o, "properties/on/forms/0/security"), "basic_sc");
    assert_null(get_path(o, "properties/secret/forms/0/security"));
    assert_null(get_path(o, "properties/brightness"));
    assert_null(get_path(o, "actions/reboot"));
    assert_non_null(get_path(o, "actions/toggle"));
    assert_null(json_object_get(o, "events"));
    assert_null(json_object_get(o, "forms"));
    assert_null(get_path(o, "securityDefinitions/nosec_sc"));
    assert_int_equal(json_object_size(json_object_get(o, "securityDefinitions")), 2);
    assert_security_consistent(o);
    maybe_write(&f, "policy-lamp-partial");
    fx_free(&f);
}

static void test_nothing_exposed(void **state)
{
    struct fx f;
    /* the only exposed operation has no north route */
    int r = fx_load_named(&f, "lamp", LAMP_TD,
                          "security.reboot.queryaction = basic\n"
                          "allow = *\n");
    assert_int_equal(r, 0);
    assert_int_equal(f.rc, -EINVAL);
    assert_null(f.out);
    assert_true(diag_contains(&f.d, "nothing exposed"));
    fx_free(&f);
}

static void test_thermo_context_and_id(void **state)
{
    struct fx f;
    fx_load(&f, THERMO_TD, "security = bearer\n");
    json_t *o = f.out;
    /* a TD 1.0 context becomes [1.0, 1.1, ours] */
    assert_int_equal(json_array_size(json_object_get(o, "@context")), 3);
    assert_string_equal(str_at(o, "@context/0"), "https://www.w3.org/2019/wot/td/v1");
    assert_string_equal(str_at(o, "@context/1"), "https://www.w3.org/2022/wot/td/v1.1");
    assert_string_equal(str_at(o, "@context/2/wotgw"), WOTGW_CONTEXT_IRI);
    /* the id was the device URL */
    assert_string_equal(str_at(o, "id"), "urn:wotgw:thing:lamp");
    assert_null(strstr(f.dump, "192.168.77.6"));
    /* bearer without issuer, two issuers: no authorization URL, alg of both */
    assert_string_equal(str_at(o, "security"), "bearer_sc");
    assert_null(get_path(o, "securityDefinitions/bearer_sc/authorization"));
    assert_string_equal(str_at(o, "securityDefinitions/bearer_sc/alg"), "ES256");
    assert_security_consistent(o);
    maybe_write(&f, "policy-thermo");
    fx_free(&f);
}

static void test_loose_td_sanitized(void **state)
{
    struct fx f;
    fx_load(&f, LOOSE_TD, "security = basic\nallow = *\n");
    json_t *o = f.out;
    assert_true(diag_contains(&f.d, "not TD 1.1 syntax left out"));
    /* context: 1.0 then 1.1, the old URI and non-string objects dropped,
     * a device "wotgw" prefix never overrides ours */
    json_t *ctx = json_object_get(o, "@context");
    assert_int_equal(json_array_size(ctx), 4);
    assert_string_equal(str_at(o, "@context/0"), "https://www.w3.org/2019/wot/td/v1");
    assert_string_equal(str_at(o, "@context/1"), "https://www.w3.org/2022/wot/td/v1.1");
    assert_string_equal(str_at(o, "@context/2/ex"), "https://example.org/ns#");
    assert_null(get_path(o, "@context/2/wotgw"));
    assert_string_equal(str_at(o, "@context/3/wotgw"), WOTGW_CONTEXT_IRI);
    assert_null(strstr(f.dump, "evil.example"));
    assert_null(strstr(f.dump, "10.1.2.3"));
    /* thing-level terms */
    assert_string_equal(str_at(o, "id"), "urn:wotgw:thing:lamp");
    assert_null(json_object_get(o, "@type"));
    assert_null(json_object_get(o, "created"));
    assert_null(json_object_get(o, "version"));
    assert_null(get_path(o, "schemaDefinitions/bad"));
    assert_non_null(get_path(o, "schemaDefinitions/good"));
    assert_null(get_path(o, "schemaDefinitions/good/minimum"));
    /* data schemas */
    assert_null(get_path(o, "properties/p/type"));
    assert_null(get_path(o, "properties/p/enum"));
    assert_int_equal(json_integer_value(get_path(o, "properties/p/minimum")), 0);
    assert_null(get_path(o, "properties/p/properties/name"));
    assert_string_equal(str_at(o, "properties/p/properties/ok/type"), "string");
    assert_null(get_path(o, "properties/p/properties/ok/enum"));
    assert_int_equal(json_array_size(get_path(o, "properties/p/items")), 1);
    assert_string_equal(str_at(o, "properties/p/ex:note"), "kept");
    assert_null(get_path(o, "actions/a/input"));
    assert_null(get_path(o, "actions/a/safe"));
    assert_true(json_is_true(get_path(o, "actions/a/idempotent")));
    assert_string_equal(str_at(o, "events/e/data/type"), "number");
    assert_null(get_path(o, "events/e/data/multipleOf"));
    assert_security_consistent(o);
    maybe_write(&f, "policy-loose");
    fx_free(&f);
}

/* ---- MQTTS forms ------------------------------------------------------------------ */

/* The form of aff_path for op whose href starts with scheme. */
static json_t *form_for_scheme(json_t *root, const char *aff_path, const char *op,
                               const char *scheme)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/forms", aff_path);
    json_t *forms = get_path(root, p), *f;
    size_t i;
    json_array_foreach(forms, i, f)
    {
        const char *href = json_string_value(json_object_get(f, "href"));
        if (!strcmp(json_string_value(json_object_get(f, "op")), op) && href &&
            !strncmp(href, scheme, strlen(scheme)))
            return f;
    }
    return NULL;
}

static const char *fstr(json_t *form, const char *key)
{
    json_t *v = json_object_get(form, key);
    if (!json_is_string(v))
        fail_msg("form term %s: not a string", key);
    return json_string_value(v);
}

static void test_mqtts_lamp(void **state)
{
    struct fx f;
    extra_section = MQTT_SECTION;
    fx_load(&f, LAMP_TD,
            "security = basic | bearer:idp\nallow = group:family\n"
            "security.brightness = nosec\nscopes.toggle = lamp:switch\n"
            "security.reboot = cert & apikey\nallow.reboot = *\n"
            "security.overheated = oauth2:dev\n");
    extra_section = "";
    json_t *o = f.out;

    /* the binding template's vocabulary in the context, beside ours */
    assert_int_equal(json_array_size(json_object_get(o, "@context")), 3);
    assert_string_equal(str_at(o, "@context/2/wotgw"), WOTGW_CONTEXT_IRI);
    assert_string_equal(str_at(o, "@context/2/mqv"), "https://www.w3.org/2019/wot/mqtt#");
    assert_security_consistent(o);

    /* property "on": read (retained value), observe, write (the set topic) */
    assert_int_equal(json_array_size(get_path(o, "properties/on/forms")), 6);
    json_t *fm = form_for_scheme(o, "properties/on", "readproperty", "mqtts:");
    assert_non_null(fm);
    assert_string_equal(fstr(fm, "href"), MQ "wot/lamp/properties/on");
    assert_string_equal(fstr(fm, "mqv:controlPacket"), "subscribe");
    assert_string_equal(fstr(fm, "mqv:filter"), "wot/lamp/properties/on");
    assert_null(json_object_get(fm, "mqv:topic"));
    assert_string_equal(fstr(fm, "mqv:qos"), "1");
    assert_true(json_is_true(json_object_get(fm, "mqv:retain")));
    assert_string_equal(fstr(fm, "contentType"), "application/json");
    assert_null(json_object_get(fm, "security")); /* the top-level one */
    assert_null(json_object_get(fm, "htv:methodName"));
    static const char *const rd[] = {"lamp:read", NULL};
    assert_strv(json_object_get(fm, "scopes"), rd);
    fm = form_for_scheme(o, "properties/on", "observeproperty", "mqtts:");
    assert_non_null(fm);
    assert_string_equal(fstr(fm, "mqv:controlPacket"), "subscribe");
    assert_string_equal(fstr(fm, "mqv:filter"), "wot/lamp/properties/on");
    assert_null(json_object_get(fm, "mqv:retain"));
    fm = form_for_scheme(o, "properties/on", "writeproperty", "mqtts:");
    assert_non_null(fm);
    assert_string_equal(fstr(fm, "href"), MQ "wot/lamp/properties/on/set");
    assert_string_equal(fstr(fm, "mqv:controlPacket"), "publish");
    assert_string_equal(fstr(fm, "mqv:topic"), "wot/lamp/properties/on/set");
    assert_null(json_object_get(fm, "mqv:filter"));
    assert_string_equal(fstr(fm, "mqv:qos"), "1");
    assert_true(json_is_false(json_object_get(fm, "mqv:retain")));
    static const char *const wr[] = {"lamp:write", NULL};
    assert_strv(json_object_get(fm, "scopes"), wr);
    /* the HTTPS forms are unchanged */
    fm = form_for_scheme(o, "properties/on", "readproperty", "https:");
    assert_string_equal(fstr(fm, "href"), GW "/properties/on");

    /* names are encoded as one topic level; the content type is the device's */
    fm = form_for_scheme(o, "properties/colour temp", "writeproperty", "mqtts:");
    assert_string_equal(fstr(fm, "mqv:topic"), "wot/lamp/properties/colour%20temp/set");
    assert_string_equal(fstr(fm, "contentType"), "application/cbor");

    /* nosec and cert & apikey cannot be presented over MQTT: HTTPS only */
    assert_int_equal(json_array_size(get_path(o, "properties/brightness/forms")), 1);
    assert_null(form_for_scheme(o, "properties/brightness", "readproperty", "mqtts:"));
    assert_int_equal(json_array_size(get_path(o, "actions/reboot/forms")), 1);
    assert_null(strstr(f.dump, "wot/lamp/actions/reboot"));

    /* an action: QoS 1 publish, its own scopes */
    fm = form_for_scheme(o, "actions/toggle", "invokeaction", "mqtts:");
    assert_non_null(fm);
    assert_string_equal(fstr(fm, "href"), MQ "wot/lamp/actions/toggle");
    assert_string_equal(fstr(fm, "mqv:controlPacket"), "publish");
    assert_string_equal(fstr(fm, "mqv:topic"), "wot/lamp/actions/toggle");
    static const char *const sw[] = {"lamp:switch", NULL};
    assert_strv(json_object_get(fm, "scopes"), sw);

    /* an event with its form-level security */
    fm = form_for_scheme(o, "events/overheated", "subscribeevent", "mqtts:");
    assert_non_null(fm);
    assert_string_equal(fstr(fm, "mqv:filter"), "wot/lamp/events/overheated");
    assert_string_equal(fstr(fm, "security"), "oauth2_dev_sc");
    assert_int_equal(json_array_size(get_path(o, "events/overheated/forms")), 2);

    /* readallproperties has no MQTT route */
    assert_int_equal(json_array_size(json_object_get(o, "forms")), 1);
    assert_null(strstr(f.dump, "wot/lamp/properties\""));
    maybe_write(&f, "policy-lamp-mqtts");
    fx_free(&f);
}

static void test_mqtts_only_supported_security(void **state)
{
    struct fx f;
    /* a topic prefix of two levels; cert alone, and a oneOf that MQTT can
     * satisfy in part, are offered; apikey alone is not */
    extra_section = "[mqtt]\ntopic_prefix = home/wot\npassword_file = s\n";
    fx_load(&f, LAMP_TD,
            "security = cert\nallow = *\nsecurity.toggle = apikey | basic\n"
            "security.on = apikey\nsecurity.overheated = basic & cert\n");
    extra_section = "";
    json_t *o = f.out;
    /* broker_url from base_url's host */
    json_t *fm = form_for_scheme(o, "properties/brightness", "readproperty", "mqtts:");
    assert_non_null(fm);
    assert_string_equal(fstr(fm, "href"),
                        "mqtts://gw.example:8883/home/wot/lamp/properties/brightness");
    assert_string_equal(fstr(fm, "mqv:filter"), "home/wot/lamp/properties/brightness");
    assert_null(form_for_scheme(o, "properties/on", "readproperty", "mqtts:"));
    assert_non_null(form_for_scheme(o, "properties/on", "readproperty", "https:"));
    fm = form_for_scheme(o, "actions/toggle", "invokeaction", "mqtts:");
    assert_non_null(fm);
    assert_non_null(json_object_get(fm, "security"));
    assert_non_null(form_for_scheme(o, "events/overheated", "subscribeevent", "mqtts:"));
    assert_security_consistent(o);
    maybe_write(&f, "policy-lamp-mqtts-cert");
    fx_free(&f);

    /* nothing but apikey: no MQTT form at all, no mqv forms */
    extra_section = MQTT_SECTION;
    fx_load(&f, LAMP_TD, "security = apikey\nallow = *\n");
    extra_section = "";
    assert_null(strstr(f.dump, "mqtts:"));
    assert_null(strstr(f.dump, "mqv:controlPacket"));
    fx_free(&f);

    /* an issuer known only by introspection: the broker plugin cannot ask
     * it (auth/keysync.h), so its tokens alone get no MQTT form; with
     * basic beside it they do; a bearer naming no issuer counts the
     * issuers with keys (idp, dev) */
    extra_section = MQTT_SECTION "[issuer intro]\nissuer = https://intro.example\n"
                                 "introspection_url = https://intro.example/introspect\n"
                                 "introspection_client_id = gw\n"
                                 "introspection_secret_file = gw.secret\naudience = wotgw\n";
    fx_load(&f, LAMP_TD,
            "security = bearer:intro\nallow = *\nsecurity.toggle = basic | bearer:intro\n"
            "security.on = bearer\n");
    extra_section = "";
    o = f.out;
    assert_null(form_for_scheme(o, "properties/brightness", "readproperty", "mqtts:"));
    assert_non_null(form_for_scheme(o, "properties/brightness", "readproperty", "https:"));
    assert_non_null(form_for_scheme(o, "actions/toggle", "invokeaction", "mqtts:"));
    assert_non_null(form_for_scheme(o, "properties/on", "readproperty", "mqtts:"));
    assert_security_consistent(o);
    fx_free(&f);
}

/* ---- OSCORE: the coap:// and coaps:// forms ------------------------------------------ */

#define COAPS_SECTION                                                                              \
    "[coaps]\nlisten = 127.0.0.1:5684\nurl = coaps://gw.example:5684\n"                            \
    "coap_listen = 127.0.0.1:5683\ncoap_url = coap://gw.example:5683\n"

static size_t count_forms(json_t *o, const char *aff_path, const char *scheme)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/forms", aff_path);
    json_t *forms = get_path(o, p), *f;
    size_t i, n = 0;
    json_array_foreach(forms, i, f)
    {
        const char *href = json_string_value(json_object_get(f, "href"));
        if (href && !strncmp(href, scheme, strlen(scheme)))
            n++;
    }
    return n;
}

static const char *objsec(json_t *form)
{
    assert_non_null(form);
    return json_string_value(json_object_get(form, "wotgw:objectSecurity"));
}

static void test_oscore_forms(void **state)
{
    struct fx f;
    extra_section = COAPS_SECTION MQTT_SECTION;
    fx_load(&f, LAMP_TD,
            "security = oscore\nallow = user:sensor-7\n"
            "security.brightness = nosec\n"
            "security.toggle = oscore | psk\n"
            "security.reboot = oscore & psk\n"
            "security.overheated = basic | oscore\n");
    extra_section = "";
    json_t *o = f.out;
    assert_security_consistent(o);

    /* the scheme, in wotgw's vocabulary (the context already has it) */
    assert_string_equal(str_at(o, "@context/2/wotgw"), WOTGW_CONTEXT_IRI);
    assert_string_equal(str_at(o, "@context/2/cov"), "http://www.example.org/coap-binding#");
    assert_string_equal(str_at(o, "security"), "oscore_sc");
    assert_string_equal(str_at(o, "securityDefinitions/oscore_sc/scheme"),
                        "wotgw:OSCORESecurityScheme");
    assert_non_null(strstr(str_at(o, "securityDefinitions/oscore_sc/description"), "RFC 8613"));
    assert_null(get_path(o, "securityDefinitions/oscore_sc/in"));

    /* oscore alone: CoAP, CoAPS and HTTPS (RFC 8613 section 11) forms, all
     * marked; no MQTT form; over HTTPS no observe / subscribe */
    json_t *fm = form_for_scheme(o, "properties/on", "readproperty", "coap:");
    assert_string_equal(fstr(fm, "href"), "coap://gw.example:5683/things/lamp/properties/on");
    assert_string_equal(objsec(fm), "oscore");
    assert_string_equal(fstr(fm, "cov:method"), "GET");
    assert_string_equal(fstr(fm, "contentType"), "application/json"); /* the inner one */
    assert_null(json_object_get(fm, "security"));                     /* the top-level one */
    fm = form_for_scheme(o, "properties/on", "readproperty", "coaps:");
    assert_string_equal(objsec(fm), "oscore");
    fm = form_for_scheme(o, "properties/on", "observeproperty", "coap:");
    assert_string_equal(objsec(fm), "oscore");
    fm = form_for_scheme(o, "properties/on", "readproperty", "https:");
    assert_string_equal(fstr(fm, "href"), "https://gw.example:8443/things/lamp/properties/on");
    assert_string_equal(objsec(fm), "oscore");
    assert_null(form_for_scheme(o, "properties/on", "observeproperty", "https:"));
    assert_int_equal(count_forms(o, "properties/on", "mqtts:"), 0);
    assert_string_equal(objsec(form_for_scheme(o, "", "readallproperties", "https:")), "oscore");
    fm = form_for_scheme(o, "", "readallproperties", "coap:");
    assert_string_equal(objsec(fm), "oscore");

    /* nosec: every binding that serves nosec, none marked */
    assert_int_equal(count_forms(o, "properties/brightness", "https:"), 1);
    assert_int_equal(count_forms(o, "properties/brightness", "coap:"), 1);
    assert_int_equal(count_forms(o, "properties/brightness", "coaps:"), 1);
    assert_int_equal(count_forms(o, "properties/brightness", "mqtts:"), 0);
    assert_null(objsec(form_for_scheme(o, "properties/brightness", "readproperty", "coap:")));
    assert_null(objsec(form_for_scheme(o, "properties/brightness", "readproperty", "coaps:")));

    /* oscore | psk: over CoAPS a PSK is enough (not marked); plain CoAP
     * needs OSCORE; no MQTT form */
    fm = form_for_scheme(o, "actions/toggle", "invokeaction", "coaps:");
    assert_null(objsec(fm));
    assert_string_equal(fstr(fm, "security"), "combo1_sc");
    static const char *const op[] = {"oscore_sc", "psk_sc", NULL};
    assert_strv(get_path(o, "securityDefinitions/combo1_sc/oneOf"), op);
    fm = form_for_scheme(o, "actions/toggle", "invokeaction", "coap:");
    assert_string_equal(objsec(fm), "oscore");
    assert_int_equal(count_forms(o, "actions/toggle", "coap:"), 1);
    assert_int_equal(count_forms(o, "actions/toggle", "coaps:"), 1);
    assert_int_equal(count_forms(o, "actions/toggle", "mqtts:"), 0);
    /* over HTTPS no PSK (a DTLS credential): OSCORE on HTTP, marked */
    assert_string_equal(objsec(form_for_scheme(o, "actions/toggle", "invokeaction", "https:")),
                        "oscore");

    /* oscore & psk: OSCORE inside DTLS, CoAPS only */
    assert_int_equal(json_array_size(get_path(o, "actions/reboot/forms")), 1);
    fm = form_for_scheme(o, "actions/reboot", "invokeaction", "coaps:");
    assert_string_equal(objsec(fm), "oscore");
    static const char *const ao[] = {"oscore_sc", "psk_sc", NULL};
    assert_strv(get_path(o, "securityDefinitions/combo2_sc/allOf"), ao);

    /* basic | oscore: HTTPS and MQTT with basic (not marked), CoAP(S) with
     * OSCORE (marked) */
    fm = form_for_scheme(o, "events/overheated", "subscribeevent", "https:");
    assert_null(objsec(fm));
    fm = form_for_scheme(o, "events/overheated", "subscribeevent", "mqtts:");
    assert_null(objsec(fm));
    fm = form_for_scheme(o, "events/overheated", "subscribeevent", "coaps:");
    assert_string_equal(objsec(fm), "oscore");
    fm = form_for_scheme(o, "events/overheated", "subscribeevent", "coap:");
    assert_string_equal(objsec(fm), "oscore");
    assert_string_equal(fstr(fm, "subprotocol"), "cov:observe");

    /* no HTTPS or MQTT form ever carries the term */
    static const char *const kinds[] = {"properties", "actions", "events"};
    for (size_t k = 0; k < 3; k++) {
        const char *name;
        json_t *a;
        json_object_foreach(json_object_get(o, kinds[k]), name, a)
        {
            size_t i;
            json_t *x;
            json_array_foreach(json_object_get(a, "forms"), i, x)
            {
                const char *href = json_string_value(json_object_get(x, "href"));
                if (objsec(x))
                    assert_true(!strncmp(href, "coap:", 5) || !strncmp(href, "coaps:", 6) ||
                                !strncmp(href, "https:", 6));
                if (objsec(x) && !strncmp(href, "https:", 6)) {
                    const char *fop =
                            json_string_value(json_array_get(json_object_get(x, "op"), 0));
                    if (!fop)
                        fop = json_string_value(json_object_get(x, "op"));
                    assert_non_null(fop);
                    assert_null(strstr(fop, "observe"));
                    assert_null(strstr(fop, "subscribe"));
                }
            }
        }
    }
    maybe_write(&f, "policy-lamp-oscore");
    fx_free(&f);

    /* without a plain CoAP address nor CoAPS: oscore alone is offered over
     * HTTPS only */
    int r = fx_load_named(&f, "lamp", LAMP_TD, "security = oscore\nallow = *\n");
    assert_int_equal(r, 0);
    assert_int_equal(f.rc, 0);
    assert_string_equal(objsec(form_for_scheme(f.out, "properties/on", "readproperty", "https:")),
                        "oscore");
    assert_int_equal(count_forms(f.out, "properties/on", "coap:"), 0);
    fx_free(&f);
}

/* ---- every TD in tests/data/tds ------------------------------------------------- */

static bool simple_name(const char *s)
{
    if (!*s || strlen(s) > 40)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return false;
    return true;
}

/* Device authorities (host[:port]) of base and every form. */
static void assert_no_device_address(const struct td *td, const char *dump, const char *file)
{
    const char *uris[512];
    size_t n = 0;
    if (td->base)
        uris[n++] = td->base;
    for (size_t i = 0; i < td->n_forms && n < ARRAY_SIZE(uris); i++)
        uris[n++] = td->forms[i].href;
    for (size_t i = 0; i < td->n_affs; i++)
        for (size_t k = 0; k < td->affs[i].n_forms && n < ARRAY_SIZE(uris); k++)
            uris[n++] = td->affs[i].forms[k].href;
    for (size_t i = 0; i < n; i++) {
        const char *p = strstr(uris[i], "://");
        if (!p)
            continue;
        p += 3;
        size_t l = strcspn(p, "/?#");
        const char *at = memchr(p, '@', l);
        if (at) {
            l -= (size_t)(at + 1 - p);
            p = at + 1;
        }
        char auth[300];
        snprintf(auth, sizeof(auth), "//%.*s", (int)(l > 250 ? 250 : l), p);
        if (l && strstr(dump, auth))
            fail_msg("%s: device authority %s in the exposed TD", file, auth);
    }
}

/* Every TD with the HTTPS binding only, or (mqtt) with MQTTS too: the
 * exposed TDs are written as NAME.td.json or NAME-mqtts.td.json. */
static void all_tds(bool mqtt)
{
    const char *outdir = getenv("WOTGW_EXPOSED_OUT");
    extra_section = mqtt ? MQTT_SECTION : "";
    DIR *dir = opendir("tests/data/tds");
    assert_non_null(dir);
    struct dirent *de;
    size_t loaded = 0, exposed = 0;
    while ((de = readdir(dir))) {
        const char *n = de->d_name;
        size_t l = strlen(n);
        if (n[0] == '.' ||
            !(l > 5 && (!strcmp(n + l - 5, ".json") || (l > 7 && !strcmp(n + l - 7, ".jsonld")))))
            continue;
        char path[512], name[65];
        snprintf(path, sizeof(path), "tests/data/tds/%s", n);
        /* thing name: the file name up to 64 chars of [A-Za-z0-9._~-] */
        size_t k = 0;
        for (const char *p = n; *p && k < 64 && strncmp(p, ".json", 5); p++)
            name[k++] = ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                         (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')
                                ? *p
                                : '_';
        name[k] = '\0';

        /* first a probe to learn whether the TD loads and its affordances */
        struct diags pd = {0};
        struct td *probe = NULL;
        const struct td_limits lim = {.max_size = 1u << 20, .max_depth = 32};
        if (td_load_file(path, &lim, &probe, &pd) < 0) {
            diag_free(&pd);
            continue;
        }
        diag_free(&pd);
        loaded++;
        char body[512] = "security = basic | bearer\nallow = *\n";
        for (size_t i = 0; i < probe->n_affs; i++)
            if (simple_name(probe->affs[i].name) && td_ops(probe, &probe->affs[i])) {
                snprintf(body + strlen(body), sizeof(body) - strlen(body),
                         "scopes.%s = %s:custom\n", probe->affs[i].name, name);
                break;
            }
        td_free(probe);

        struct fx f;
        int r = fx_load_named(&f, name, path, body);
        if (r < 0) {
            diag_print(&f.d, stderr);
            fail_msg("%s: policy refused", n);
        }
        if (f.rc == -EINVAL) {
            if (getenv("WOTGW_TEST_VERBOSE"))
                diag_print(&f.d, stderr);
            /* no operation with a north route (e.g. only thing-level bulk ops) */
            assert_true(diag_contains(&f.d, "nothing exposed"));
            fx_free(&f);
            continue;
        }
        assert_int_equal(f.rc, 0);
        exposed++;
        assert_non_null(json_object_get(f.out, "title"));
        assert_non_null(json_object_get(f.out, "@context"));
        assert_security_consistent(f.out);
        assert_null(json_object_get(f.out, "base"));
        assert_null(json_object_get(f.out, "links"));
        assert_no_device_address(f.td, f.dump, n);
        if (mqtt)
            assert_non_null(strstr(f.dump, "\"mqv:controlPacket\""));
        else
            assert_null(strstr(f.dump, "mqv:"));
        if (outdir) {
            char op[1024];
            snprintf(op, sizeof(op), "%s/%s%s.td.json", outdir, name, mqtt ? "-mqtts" : "");
            assert_int_equal(json_dump_file(f.out, op, JSON_INDENT(2)), 0);
        }
        fx_free(&f);
    }
    closedir(dir);
    extra_section = "";
    print_message("%zu TDs loaded, %zu exposed%s\n", loaded, exposed, mqtt ? " with MQTTS" : "");
    assert_true(loaded >= 10);
    /* TDs whose every form is https/coaps/mqtts cannot be routed (td.c) */
    assert_true(exposed >= 8);
}

static void test_all_tds(void **state)
{
    all_tds(false);
}

static void test_all_tds_mqtts(void **state)
{
    all_tds(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_path_segment),
            cmocka_unit_test(test_lamp),
            cmocka_unit_test(test_omitted_affordances),
            cmocka_unit_test(test_nothing_exposed),
            cmocka_unit_test(test_thermo_context_and_id),
            cmocka_unit_test(test_loose_td_sanitized),
            cmocka_unit_test(test_all_tds),
            cmocka_unit_test(test_mqtts_lamp),
            cmocka_unit_test(test_mqtts_only_supported_security),
            cmocka_unit_test(test_all_tds_mqtts),
            cmocka_unit_test(test_oscore_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
