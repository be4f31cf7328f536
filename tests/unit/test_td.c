/* test_td.c - td.c: every TD in tests/data/tds loads or is refused as
 * listed below; RFC 3986 reference resolution; op defaults; the refusal
 * rules (limits, malformed JSON, Thing Models, pre-1.0 drafts, no id, no
 * usable form); look-ups. */
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

#include <cmocka.h>

#include "td.h"

#define TDS_DIR "tests/data/tds"
#define BIT(op) (1u << (op))

static const struct td_limits lim = {.max_size = 1u << 20, .max_depth = 32};

/* ---- helpers -------------------------------------------------------------- */

static int parse_str(const char *json, struct td **td, struct diags *d)
{
    return td_parse("mem.json", json, strlen(json), &lim, td, d);
}

/* Parses a document that must load; fails the test with its diags if not. */
static struct td *must_load(const char *json, struct diags *d)
{
    struct td *td = NULL;
    int r = parse_str(json, &td, d);
    if (r != 0)
        diag_print(d, stderr);
    assert_int_equal(r, 0);
    assert_non_null(td);
    return td;
}

/* Parses a document that must be refused with needle in an error. */
static void must_refuse(const char *json, const char *needle)
{
    struct diags d = {0};
    struct td *td = NULL;
    int r = parse_str(json, &td, &d);
    if (r != -EINVAL || !diag_contains(&d, needle)) {
        fprintf(stderr, "expected refusal with \"%s\", got %d:\n", needle, r);
        diag_print(&d, stderr);
    }
    assert_int_equal(r, -EINVAL);
    assert_null(td);
    assert_true(d.n_errors > 0);
    assert_true(diag_contains(&d, needle));
    diag_free(&d);
}

/* A one-property TD around a property body and a base (NULL: none). */
static char *one_property(const char *base, const char *body)
{
    char *s = NULL;
    int n = asprintf(&s, "{\"id\":\"urn:t\",\"title\":\"t\"%s%s%s,\"properties\":{\"p\":%s}}",
                     base ? ",\"base\":\"" : "", base ? base : "", base ? "\"" : "", body);
    assert_true(n > 0);
    return s;
}

static uint32_t prop_ops(const char *body, bool *loaded, struct diags *d)
{
    char *s = one_property("http://192.0.2.1/", body);
    struct td *td = NULL;
    int r = parse_str(s, &td, d);
    free(s);
    *loaded = r == 0;
    if (r)
        return 0;
    uint32_t ops = td->n_affs ? td_ops(td, &td->affs[0]) : 0;
    td_free(td);
    return ops;
}

static bool warned(const struct diags *d, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].warning && strstr(d->v[i].msg, needle))
            return true;
    return false;
}

/* ---- every TD of the data set ------------------------------------------- */

struct expect {
    const char *file;
    const char *refused; /* NULL: loads; else a part of the error message */
};

/* Which files load and which are refused. A new file in tests/data/tds
 * must be added here (test_every_file_listed). */
static const struct expect expected[] = {
        {"playground__5-protocols__CoAP-simple-td-defaults.td.jsonld", NULL},
        /* https-only TDs load (a warning says nothing can be routed: wotgw
         * reaches devices over plain http/coap/mqtt only). */
        {"playground__6-security-schemas__combo-security-def-oneOf.td.jsonld", NULL},
        /* "invalid" for the playground because of an empty security array;
         * that is the policy's business, not the device model's. */
        {"playground__invalid__emptySecurity.json", NULL},
        /* no affordances and no forms at all */
        {"playground__invalid__invalidSecuScheme.json", "no usable form"},
        /* RFC 6570 templates ({secKey}, {?lat,long}) stay in the href */
        {"playground__notValidYet__uriSecurity.json", NULL},
        {"playground__valid__apikeySec.json", NULL},
        {"playground__valid__bearerExtension.json", NULL},
        {"playground__valid__pskSec.json", NULL},
        /* a simplified-TD proposal: "@id" and "name", no "id" */
        {"wottd__simplified-td__example.json", "no \"id\": wotgw needs a stable id"},
        {"wottesting__2022.06.Online__siemens-pv-system.td.jsonld", NULL},
        {"wottesting__2024.11.Munich__3temperatureSensor.td.jsonld", NULL},
        {"wottesting__2024.11.Munich__Dimmer-Switch-TUM.td.jsonld", NULL},
        {"wottesting__2024.11.Munich__RainbowHAT-TUM.td.jsonld", NULL},
        {"wottesting__2024.11.Munich__on-off-light.td.json", NULL},
        {"wottesting__2024.11.Munich__piper.td.jsonld", NULL},
        {"wottesting__input_2022__Blue_Pump_Oauth2.jsonld", NULL},
        {"wottesting__input_2022__Fujitsu-Buzzer.json", NULL},
        {"wottesting__input_2022__PanaSimCleaner5.jsonld", NULL},
        /* base ".../things/org.eclipse.ditto:floor-lamp-1" with hrefs
         * "/attributes/...": RFC 3986 replaces the whole path, so the
         * forms point at https://ditto.eclipseprojects.io/attributes/...
         * (what any RFC 3986 consumer does; the author meant otherwise). */
        {"wottesting__input_2022__ditto_floor-lamp-1.td.jsonld", NULL},
        {"wottesting__input_2022__huawei-cf-secure-psk.td.jsonld", NULL},
        {"wottesting__input_2022__intel-nodejs-speak-array.td.jsonld", NULL},
        {"wottesting__input_2022__light.json", NULL},
        {"wottesting__input_2022__securityTest-siemens.json", NULL},
        {"wottesting__input_2022__sensor.esp_grove_1_temperature_2.td.jsonld", NULL},
        /* href "" resolves to the base itself */
        {"wottesting__input_2022__tum-light1.td.jsonld", NULL},
        /* a 2018 draft (Lyon plugfest): "name" instead of "title",
         * "mediaType", but properties/actions maps with op and href, so it
         * loads with a warning and the id as title. */
        {"wottesting__plugfest__td-light-mqttactions.json", NULL},
        /* our own (see SOURCES.md) */
        {"wotgw__nosec-lamp.td.json", NULL},
        {"wotgw__old-2017-interaction.json", "old pre-1.0 Thing Description"},
        {"wotgw__thing-model.tm.json", "a Thing Model"},
        {"wotgw__placeholder-href.json", "a Thing Model"},
        {"wotgw__not-json.yaml.json", "not valid JSON"},
        {"wotgw__syntax-error.json", "not valid JSON"},
        {"wotgw__relative-no-base.json", "no usable form"},
};

static const struct expect *lookup(const char *file)
{
    for (size_t i = 0; i < ARRAY_SIZE(expected); i++)
        if (!strcmp(expected[i].file, file))
            return &expected[i];
    return NULL;
}

static void test_every_file_listed(void **state)
{
    DIR *dir = opendir(TDS_DIR);
    assert_non_null(dir);
    size_t seen = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "SOURCES.md"))
            continue;
        if (!lookup(e->d_name))
            fail_msg("%s/%s is not in the expected[] table of test_td.c", TDS_DIR, e->d_name);
        seen++;
    }
    closedir(dir);
    assert_int_equal(seen, ARRAY_SIZE(expected));
}

static void check_loaded(const char *path, const struct td *td, const struct diags *d)
{
    assert_non_null(td->id);
    assert_true(td->id[0] != '\0');
    assert_non_null(td->title);
    assert_true(td->title[0] != '\0');
    assert_string_equal(td->path, path);
    assert_true(json_is_object(td->json));
    size_t usable = 0;
    for (size_t i = 0; i < td->n_affs + 1; i++) {
        const struct td_affordance *a = i < td->n_affs ? &td->affs[i] : NULL;
        const struct td_form *forms = a ? a->forms : td->forms;
        size_t n = a ? a->n_forms : td->n_forms;
        if (a && n == 0) {
            /* an affordance without forms is reported */
            char needle[256];
            snprintf(needle, sizeof(needle), "\"%s\" has no usable form", a->name);
            assert_true(warned(d, needle));
        }
        for (size_t k = 0; k < n; k++) {
            const struct td_form *f = &forms[k];
            size_t sl = strlen(f->scheme);
            /* absolute: a scheme, then ':' */
            assert_true(sl > 0);
            assert_int_equal(strncasecmp(f->href, f->scheme, sl), 0);
            assert_int_equal(f->href[sl], ':');
            assert_non_null(f->content_type);
            assert_true(f->ops != 0);
            if (a)
                for (int op = 0; op < WOT_OP__COUNT; op++)
                    if (f->ops & BIT(op))
                        assert_int_equal(wot_op_aff_kind((enum wot_op)op), a->kind);
            if (f->supported) {
                assert_true(!strcmp(f->scheme, "http") || !strcmp(f->scheme, "coap") ||
                            !strcmp(f->scheme, "mqtt"));
                assert_non_null(strstr(f->href, "://"));
            }
            if (strstr(f->href, "://") && f->href[sl + 3] != '/')
                usable++;
        }
    }
    assert_true(usable > 0);
}

static void test_data_set(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(expected); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", TDS_DIR, expected[i].file);
        struct diags d = {0};
        struct td *td = NULL;
        int r = td_load_file(path, &lim, &td, &d);
        if ((r == 0) != (expected[i].refused == NULL)) {
            fprintf(stderr, "%s: got %d\n", path, r);
            diag_print(&d, stderr);
            fail();
        }
        if (r == 0) {
            check_loaded(path, td, &d);
            td_free(td);
        } else {
            assert_int_equal(r, -EINVAL);
            assert_null(td);
            assert_true(d.n_errors > 0);
            bool found = false;
            for (size_t k = 0; k < d.n; k++) {
                if (d.v[k].warning)
                    continue;
                assert_string_equal(d.v[k].file, path); /* names the file */
                assert_true(strlen(d.v[k].msg) > 10);
                found |= strstr(d.v[k].msg, expected[i].refused) != NULL;
            }
            if (!found)
                diag_print(&d, stderr);
            assert_true(found);
        }
        diag_free(&d);
    }
}

/* Details of a few real files. */
static void test_data_details(void **state)
{
    struct diags d = {0};
    struct td *td = NULL;

    /* writeOnly properties without op get writeproperty only */
    assert_int_equal(
            td_load_file(TDS_DIR "/wottesting__input_2022__Fujitsu-Buzzer.json", &lim, &td, &d), 0);
    const struct td_affordance *a = td_find(td, AFF_PROPERTY, "rotate");
    assert_non_null(a);
    assert_true(a->write_only);
    assert_int_equal(td_ops(td, a), BIT(WOT_OP_WRITEPROPERTY));
    assert_string_equal(a->forms[0].href, "http://192.168.11.10:8080/Things/"
                                          "urn%3Acom%3Afujitsu%3Aiot%3Aiwt120ctl001/rotate");
    td_free(td);
    diag_free(&d);

    /* 2018 draft: title falls back to the id, with a warning */
    assert_int_equal(
            td_load_file(TDS_DIR "/wottesting__plugfest__td-light-mqttactions.json", &lim, &td, &d),
            0);
    assert_string_equal(td->title, td->id);
    assert_true(warned(&d, "no string \"title\""));
    a = td_find(td, AFF_ACTION, "SwitchOn");
    assert_non_null(a);
    const struct td_form *f = td_find_form(td, a, WOT_OP_INVOKEACTION, PROTO_MQTT);
    assert_non_null(f);
    assert_string_equal(f->href, "mqtt://0m2m.net:8099/plugfest/light/state");
    f = td_find_form(td, a, WOT_OP_INVOKEACTION, -1);
    assert_string_equal(f->href, "http://159.203.213.90:1880/light");
    td_free(td);
    diag_free(&d);

    /* href "" is the base; a template in the base is kept */
    assert_int_equal(
            td_load_file(TDS_DIR "/wottesting__input_2022__tum-light1.td.jsonld", &lim, &td, &d),
            0);
    a = td_find(td, AFF_PROPERTY, "lightInformation");
    assert_non_null(a);
    assert_string_equal(a->forms[0].href,
                        "https://esiremotelab.esi.ei.tum.de:8081/LabLocal/api/{hueKey}/lights/1/");
    assert_false(a->forms[0].supported);
    assert_int_equal(a->forms[0].protocol, PROTO_HTTP);
    /* https only: nothing is routable, and the loader says so */
    assert_null(td_find_form(td, a, WOT_OP_READPROPERTY, -1));
    assert_true(warned(&d, "every form needs TLS"));
    td_free(td);
    diag_free(&d);

    /* the CoAP example of the playground */
    assert_int_equal(td_load_file(TDS_DIR "/playground__5-protocols__CoAP-simple-td-defaults"
                                          ".td.jsonld",
                                  &lim, &td, &d),
                     0);
    a = td_find(td, AFF_EVENT, "overheating");
    assert_non_null(a);
    f = td_find_form(td, a, WOT_OP_SUBSCRIBEEVENT, -1);
    assert_non_null(f);
    assert_int_equal(f->protocol, PROTO_COAP);
    assert_true(f->supported);
    td_free(td);
    diag_free(&d);
}

/* ---- our lamp: base resolution, op defaults, look-ups ------------------- */

static void test_lamp(void **state)
{
    struct diags d = {0};
    struct td *td = NULL;
    assert_int_equal(td_load_file(TDS_DIR "/wotgw__nosec-lamp.td.json", &lim, &td, &d), 0);
    assert_int_equal(d.n_errors, 0);
    assert_string_equal(td->id, "urn:wotgw:test:nosec-lamp");
    assert_string_equal(td->title, "Test lamp");
    assert_string_equal(td->base, "http://192.0.2.10:8080/lamp/");
    assert_int_equal(td->n_affs, 6);

    const struct td_affordance *on = td_find(td, AFF_PROPERTY, "on");
    assert_non_null(on);
    assert_true(on->observable);
    assert_false(on->read_only);
    assert_int_equal(on->n_forms, 3);
    assert_string_equal(on->forms[0].href, "http://192.0.2.10:8080/lamp/properties/on");
    assert_int_equal(on->forms[0].ops, BIT(WOT_OP_READPROPERTY) | BIT(WOT_OP_WRITEPROPERTY));
    assert_string_equal(on->forms[0].content_type, "application/json");
    assert_null(on->forms[0].method);
    assert_null(on->forms[0].subprotocol);
    /* observable adds no op by itself; the second form says so */
    assert_int_equal(on->forms[1].ops, BIT(WOT_OP_OBSERVEPROPERTY) | BIT(WOT_OP_UNOBSERVEPROPERTY));
    assert_string_equal(on->forms[1].subprotocol, "longpoll");
    assert_string_equal(on->forms[2].content_type, "application/cbor");
    assert_int_equal(on->forms[2].protocol, PROTO_COAP);
    assert_int_equal(td_ops(td, on), BIT(WOT_OP_READPROPERTY) | BIT(WOT_OP_WRITEPROPERTY) |
                                             BIT(WOT_OP_OBSERVEPROPERTY) |
                                             BIT(WOT_OP_UNOBSERVEPROPERTY));
    /* preferred protocol, else the first supported form */
    assert_ptr_equal(td_find_form(td, on, WOT_OP_READPROPERTY, PROTO_COAP), &on->forms[2]);
    assert_ptr_equal(td_find_form(td, on, WOT_OP_READPROPERTY, PROTO_HTTP), &on->forms[0]);
    assert_ptr_equal(td_find_form(td, on, WOT_OP_READPROPERTY, PROTO_MQTT), &on->forms[0]);
    assert_ptr_equal(td_find_form(td, on, WOT_OP_OBSERVEPROPERTY, -1), &on->forms[1]);
    assert_null(td_find_form(td, on, WOT_OP_INVOKEACTION, -1));
    assert_null(td_find_form(td, on, WOT_OP__INVALID, -1));
    assert_null(td_find_form(td, on, WOT_OP__COUNT, -1));

    const struct td_affordance *t = td_find(td, AFF_PROPERTY, "temperature");
    assert_non_null(t);
    assert_true(t->read_only);
    assert_string_equal(t->forms[0].href, "http://192.0.2.10:8080/sensors/temperature");
    assert_string_equal(t->forms[0].method, "GET");
    assert_int_equal(td_ops(td, t), BIT(WOT_OP_READPROPERTY));
    assert_null(td_find_form(td, t, WOT_OP_WRITEPROPERTY, -1));

    const struct td_affordance *disp = td_find(td, AFF_PROPERTY, "display");
    assert_true(disp->write_only);
    assert_string_equal(disp->forms[0].href, "http://192.0.2.10:8080/display");
    assert_int_equal(td_ops(td, disp), BIT(WOT_OP_WRITEPROPERTY));

    /* a property and an action named "toggle": td_find_name prefers the property */
    const struct td_affordance *pt = td_find(td, AFF_PROPERTY, "toggle");
    const struct td_affordance *at = td_find(td, AFF_ACTION, "toggle");
    assert_non_null(pt);
    assert_non_null(at);
    assert_ptr_not_equal(pt, at);
    assert_ptr_equal(td_find_name(td, "toggle"), pt);
    assert_ptr_equal(td_find_name(td, "overheated"), td_find(td, AFF_EVENT, "overheated"));
    assert_null(td_find_name(td, "nope"));
    assert_null(td_find(td, AFF_EVENT, "toggle"));
    assert_null(td_find(td, AFF_PROPERTY, NULL));

    /* https form kept but never chosen; mqtt preferred when asked */
    assert_false(at->forms[0].supported);
    assert_string_equal(at->forms[0].scheme, "https");
    assert_ptr_equal(td_find_form(td, at, WOT_OP_INVOKEACTION, -1), &at->forms[1]);
    assert_ptr_equal(td_find_form(td, at, WOT_OP_INVOKEACTION, PROTO_HTTP), &at->forms[2]);
    assert_int_equal(at->forms[1].protocol, PROTO_MQTT);
    assert_int_equal(td_ops(td, at), BIT(WOT_OP_INVOKEACTION));

    const struct td_affordance *ev = td_find(td, AFF_EVENT, "overheated");
    assert_int_equal(td_ops(td, ev), BIT(WOT_OP_SUBSCRIBEEVENT) | BIT(WOT_OP_UNSUBSCRIBEEVENT));

    /* top-level forms */
    assert_int_equal(td->n_forms, 2);
    assert_int_equal(td_ops(td, NULL), BIT(WOT_OP_READALLPROPERTIES) |
                                               BIT(WOT_OP_READMULTIPLEPROPERTIES) |
                                               BIT(WOT_OP_WRITEALLPROPERTIES));
    const struct td_form *f = td_find_form(td, NULL, WOT_OP_WRITEALLPROPERTIES, -1);
    assert_non_null(f);
    assert_string_equal(f->method, "PUT");
    assert_string_equal(f->href, "http://192.0.2.10:8080/lamp/properties");
    assert_null(td_find_form(td, NULL, WOT_OP_OBSERVEALLPROPERTIES, -1));
    td_free(td);
    diag_free(&d);
}

/* ---- RFC 3986 §5.4 -------------------------------------------------------- */

static void test_resolve_rfc3986(void **state)
{
    static const char *const cases[][2] = {
            /* §5.4.1 normal examples */
            {"g:h", "g:h"},
            {"g", "http://a/b/c/g"},
            {"./g", "http://a/b/c/g"},
            {"g/", "http://a/b/c/g/"},
            {"/g", "http://a/g"},
            {"//g", "http://g"},
            {"?y", "http://a/b/c/d;p?y"},
            {"g?y", "http://a/b/c/g?y"},
            {"#s", "http://a/b/c/d;p?q#s"},
            {"g#s", "http://a/b/c/g#s"},
            {"g?y#s", "http://a/b/c/g?y#s"},
            {";x", "http://a/b/c/;x"},
            {"g;x", "http://a/b/c/g;x"},
            {"g;x?y#s", "http://a/b/c/g;x?y#s"},
            {"", "http://a/b/c/d;p?q"},
            {".", "http://a/b/c/"},
            {"./", "http://a/b/c/"},
            {"..", "http://a/b/"},
            {"../", "http://a/b/"},
            {"../g", "http://a/b/g"},
            {"../..", "http://a/"},
            {"../../", "http://a/"},
            {"../../g", "http://a/g"},
            /* §5.4.2 abnormal examples */
            {"../../../g", "http://a/g"},
            {"../../../../g", "http://a/g"},
            {"/./g", "http://a/g"},
            {"/../g", "http://a/g"},
            {"g.", "http://a/b/c/g."},
            {".g", "http://a/b/c/.g"},
            {"g..", "http://a/b/c/g.."},
            {"..g", "http://a/b/c/..g"},
            {"./../g", "http://a/b/g"},
            {"./g/.", "http://a/b/c/g/"},
            {"g/./h", "http://a/b/c/g/h"},
            {"g/../h", "http://a/b/c/h"},
            {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
            {"g;x=1/../y", "http://a/b/c/y"},
            {"g?y/./x", "http://a/b/c/g?y/./x"},
            {"g?y/../x", "http://a/b/c/g?y/../x"},
            {"g#s/./x", "http://a/b/c/g#s/./x"},
            {"g#s/../x", "http://a/b/c/g#s/../x"},
            {"http:g", "http:g"}, /* strict parser */
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *out = NULL;
        int r = td_resolve_uri("http://a/b/c/d;p?q", cases[i][0], &out);
        if (r != 0 || strcmp(out, cases[i][1]))
            fail_msg("\"%s\": got %d \"%s\", want \"%s\"", cases[i][0], r, out ? out : "",
                     cases[i][1]);
        free(out);
    }
}

static void test_resolve_more(void **state)
{
    static const char *const cases[][3] = {
            /* base without a trailing "/": the last segment is replaced */
            {"http://h/things/lamp", "on", "http://h/things/on"},
            {"http://h/things/lamp/", "on", "http://h/things/lamp/on"},
            /* base with an authority and an empty path (§5.2.3) */
            {"http://192.0.2.1:8080", "x", "http://192.0.2.1:8080/x"},
            {"coap://h:5683", "/x?y", "coap://h:5683/x?y"},
            {"http://h/a/b", "../../../x", "http://h/x"},
            /* an href with a scheme ignores the base; scheme in lower case */
            {"http://h/a/", "MQTT://broker/topic/./x", "mqtt://broker/topic/x"},
            {NULL, "HTTP://Host/A", "http://Host/A"},
            {NULL, "coap://h/a/../b", "coap://h/b"},
            /* the fragment of the base is dropped, its query kept for "" */
            {"http://h/p?q#f", "", "http://h/p?q"},
            /* URI templates pass through */
            {"http://h:5050", "/{?text}", "http://h:5050/{?text}"},
            {"https://h/api/{key}/l/1/", "state", "https://h/api/{key}/l/1/state"},
            /* a path starting with "//" without authority stays a path */
            {NULL, "g:/.//x", "g:/.//x"},
            {"g:/a/", "..//x", "g:/.//x"},
            {"urn:x:y", "z", "urn:z"},
            /* an empty reference takes a base that was not normalized
             * without its dot segments (found by fuzz_td) */
            {"http://h/a/../b?q", "", "http://h/b?q"},
            {"x: y/../z", "", "x:/z"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *out = NULL;
        int r = td_resolve_uri(cases[i][0], cases[i][1], &out);
        if (r != 0 || strcmp(out, cases[i][2]))
            fail_msg("\"%s\" + \"%s\": got %d \"%s\", want \"%s\"",
                     cases[i][0] ? cases[i][0] : "(null)", cases[i][1], r, out ? out : "",
                     cases[i][2]);
        /* resolving the result again changes nothing */
        char *again = NULL;
        assert_int_equal(td_resolve_uri(NULL, out, &again), 0);
        assert_string_equal(again, out);
        free(again);
        free(out);
    }
    char *out = (char *)1;
    /* relative reference and no (absolute) base */
    assert_int_equal(td_resolve_uri(NULL, "x", &out), -EINVAL);
    assert_null(out);
    assert_int_equal(td_resolve_uri("/relative/base", "x", &out), -EINVAL);
    assert_int_equal(td_resolve_uri("1http://h/", "x", &out), -EINVAL);
    assert_int_equal(td_resolve_uri("http://h/", NULL, &out), -EINVAL);
}

/* ---- op defaults and op rules ------------------------------------------ */

static void test_op_defaults(void **state)
{
    struct diags d = {0};
    bool ok;
    const uint32_t rw = BIT(WOT_OP_READPROPERTY) | BIT(WOT_OP_WRITEPROPERTY);

    assert_int_equal(prop_ops("{\"forms\":[{\"href\":\"p\"}]}", &ok, &d), rw);
    assert_true(ok);
    assert_int_equal(prop_ops("{\"readOnly\":true,\"forms\":[{\"href\":\"p\"}]}", &ok, &d),
                     BIT(WOT_OP_READPROPERTY));
    assert_int_equal(prop_ops("{\"writeOnly\":true,\"forms\":[{\"href\":\"p\"}]}", &ok, &d),
                     BIT(WOT_OP_WRITEPROPERTY));
    assert_int_equal(prop_ops("{\"readOnly\":false,\"writeOnly\":false,\"forms\":[{\"href\":"
                              "\"p\"}]}",
                              &ok, &d),
                     rw);
    /* observable adds nothing without an op */
    assert_int_equal(prop_ops("{\"observable\":true,\"forms\":[{\"href\":\"p\"}]}", &ok, &d), rw);
    assert_int_equal(d.n_errors, 0);

    /* explicit op: string and array */
    assert_int_equal(prop_ops("{\"forms\":[{\"href\":\"p\",\"op\":\"observeproperty\"}]}", &ok, &d),
                     BIT(WOT_OP_OBSERVEPROPERTY));
    assert_int_equal(prop_ops("{\"forms\":[{\"href\":\"p\",\"op\":[\"readproperty\","
                              "\"unobserveproperty\"]}]}",
                              &ok, &d),
                     BIT(WOT_OP_READPROPERTY) | BIT(WOT_OP_UNOBSERVEPROPERTY));

    /* unknown ops and ops of another kind are dropped with a warning */
    diag_free(&d);
    assert_int_equal(prop_ops("{\"forms\":[{\"href\":\"p\",\"op\":[\"readproperty\","
                              "\"frobnicate\",\"invokeaction\",\"readallproperties\",7]}]}",
                              &ok, &d),
                     BIT(WOT_OP_READPROPERTY));
    assert_true(warned(&d, "unknown op \"frobnicate\""));
    assert_true(warned(&d, "op \"invokeaction\" does not apply to a property"));
    assert_true(warned(&d, "op \"readallproperties\" does not apply"));
    assert_true(warned(&d, "not a string"));

    /* readOnly with an explicit writeproperty: dropped */
    diag_free(&d);
    assert_int_equal(prop_ops("{\"readOnly\":true,\"forms\":[{\"href\":\"p\",\"op\":["
                              "\"readproperty\",\"writeproperty\"]}]}",
                              &ok, &d),
                     BIT(WOT_OP_READPROPERTY));
    assert_true(warned(&d, "readOnly"));
    diag_free(&d);
    assert_int_equal(prop_ops("{\"writeOnly\":true,\"forms\":[{\"href\":\"p\",\"op\":["
                              "\"readproperty\",\"writeproperty\",\"observeproperty\"]}]}",
                              &ok, &d),
                     BIT(WOT_OP_WRITEPROPERTY));
    assert_true(warned(&d, "writeOnly"));

    /* a form whose ops all go is skipped; the TD then has nothing usable */
    diag_free(&d);
    prop_ops("{\"forms\":[{\"href\":\"p\",\"op\":\"bogus\"}]}", &ok, &d);
    assert_false(ok);
    assert_true(warned(&d, "no operation left"));
    assert_true(diag_contains(&d, "no usable form"));
    diag_free(&d);
    prop_ops("{\"readOnly\":true,\"writeOnly\":true,\"forms\":[{\"href\":\"p\"}]}", &ok, &d);
    assert_false(ok);
    assert_true(warned(&d, "both readOnly and writeOnly"));
    diag_free(&d);
    /* op of the wrong type */
    prop_ops("{\"forms\":[{\"href\":\"p\",\"op\":{\"a\":1}}]}", &ok, &d);
    assert_false(ok);
    assert_true(warned(&d, "neither a string nor an array"));
    diag_free(&d);
    /* readOnly not a boolean: warning, taken as false */
    assert_int_equal(prop_ops("{\"readOnly\":\"yes\",\"forms\":[{\"href\":\"p\"}]}", &ok, &d), rw);
    assert_true(warned(&d, "not a boolean"));
    diag_free(&d);

    /* action and event defaults */
    struct td *td = must_load("{\"id\":\"urn:t\",\"title\":\"t\",\"base\":\"coap://h/\","
                              "\"actions\":{\"a\":{\"forms\":[{\"href\":\"a\"}]}},"
                              "\"events\":{\"e\":{\"forms\":[{\"href\":\"e\"}]}}}",
                              &d);
    assert_int_equal(td_ops(td, td_find(td, AFF_ACTION, "a")), BIT(WOT_OP_INVOKEACTION));
    assert_int_equal(td_ops(td, td_find(td, AFF_EVENT, "e")),
                     BIT(WOT_OP_SUBSCRIBEEVENT) | BIT(WOT_OP_UNSUBSCRIBEEVENT));
    td_free(td);
    diag_free(&d);
}

static void test_top_level_forms(void **state)
{
    struct diags d = {0};
    struct td *td = must_load("{\"id\":\"urn:t\",\"title\":\"t\",\"base\":\"http://h/\","
                              "\"properties\":{\"p\":{\"forms\":[{\"href\":\"p\"}]}},"
                              "\"forms\":[{\"href\":\"all\"},"
                              "{\"href\":\"all\",\"op\":[\"readallproperties\",\"readproperty\"]},"
                              "{\"href\":\"all\",\"op\":\"queryallactions\"}]}",
                              &d);
    /* the first form has no op: skipped */
    assert_true(warned(&d, "top-level form 0: a top-level form needs an \"op\""));
    assert_true(warned(&d, "op \"readproperty\" does not apply to the thing"));
    assert_int_equal(td->n_forms, 2);
    assert_int_equal(td_ops(td, NULL), BIT(WOT_OP_READALLPROPERTIES) | BIT(WOT_OP_QUERYALLACTIONS));
    td_free(td);
    diag_free(&d);

    /* only top-level forms: that is enough to load */
    td = must_load("{\"id\":\"urn:t\",\"title\":\"t\",\"forms\":[{\"href\":\"http://h/all\","
                   "\"op\":\"readallproperties\"}]}",
                   &d);
    assert_int_equal(td->n_affs, 0);
    assert_non_null(td_find_form(td, NULL, WOT_OP_READALLPROPERTIES, -1));
    td_free(td);
    diag_free(&d);

    /* "forms" not an array: warning */
    must_refuse("{\"id\":\"urn:t\",\"title\":\"t\",\"forms\":{\"href\":\"http://h/\"}}",
                "no usable form");
}

/* ---- forms: href, base, scheme, fields ----------------------------------- */

static void test_forms(void **state)
{
    struct diags d = {0};
    struct td *td =
            must_load("{\"id\":\"urn:t\",\"title\":\"t\",\"base\":\"http://192.0.2.1:8080/a/\","
                      "\"properties\":{\"p\":{\"forms\":["
                      "{\"op\":\"readproperty\"},"                           /* 0: no href */
                      "{\"href\":42},"                                       /* 1: not a string */
                      "\"http://h/\","                                       /* 2: not an object */
                      "{\"href\":\"ws://h/p\"},"                             /* kept, unsupported */
                      "{\"href\":\"http:nohost\"},"                          /* no host */
                      "{\"href\":\"HTTP://192.0.2.1/P\",\"contentType\":5}," /* upper-case scheme */
                      "{\"href\":\"mqtts://b/t\"},"                          /* TLS: unsupported */
                      "{\"href\":\"p\",\"contentType\":\"text/plain\",\"htv:methodName\":\"PATCH\","
                      "\"subprotocol\":\"sse\"}"
                      "]}}}",
                      &d);
    assert_true(warned(&d, "form 0: no string \"href\""));
    assert_true(warned(&d, "form 1: no string \"href\""));
    assert_true(warned(&d, "form 2: not an object"));
    assert_true(warned(&d, "has no host"));
    assert_true(warned(&d, "\"contentType\" is not a string"));
    const struct td_affordance *a = td_find(td, AFF_PROPERTY, "p");
    assert_int_equal(a->n_forms, 5);
    assert_string_equal(a->forms[0].scheme, "ws");
    assert_false(a->forms[0].supported);
    assert_string_equal(a->forms[1].scheme, "http");
    assert_false(a->forms[1].supported);
    assert_string_equal(a->forms[2].href, "http://192.0.2.1/P");
    assert_true(a->forms[2].supported);
    assert_string_equal(a->forms[2].content_type, TD_DEFAULT_CONTENT_TYPE);
    assert_false(a->forms[3].supported);
    assert_int_equal(a->forms[3].protocol, PROTO_MQTT);
    assert_string_equal(a->forms[4].href, "http://192.0.2.1:8080/a/p");
    assert_string_equal(a->forms[4].content_type, "text/plain");
    assert_string_equal(a->forms[4].method, "PATCH");
    assert_string_equal(a->forms[4].subprotocol, "sse");
    assert_true(json_is_object(a->forms[4].json));
    assert_ptr_equal(td_find_form(td, a, WOT_OP_READPROPERTY, PROTO_COAP), &a->forms[2]);
    td_free(td);
    diag_free(&d);

    /* messages never carry control characters or a URI's userinfo */
    td = must_load("{\"id\":\"urn:t\",\"title\":\"t\",\"properties\":{"
                   "\"a\\nb\":{\"forms\":[{\"href\":\"http://user:s3cret@/p\"},"
                   "{\"href\":\"http://user:s3cret@:80/p\"},{\"href\":\"coap://h/\"}]}}}",
                   &d);
    assert_true(warned(&d, "property \"a?b\" form 0: \"http://***@/p\" has no host"));
    assert_true(warned(&d, "form 1: \"http://***@:80/p\" has no host"));
    for (size_t i = 0; i < d.n; i++) {
        assert_null(strstr(d.v[i].msg, "s3cret"));
        assert_null(strchr(d.v[i].msg, '\n'));
    }
    td_free(td);
    diag_free(&d);
    /* long names are cut */
    char *longname = malloc(2001);
    assert_non_null(longname);
    memset(longname, 'n', 2000);
    longname[2000] = '\0';
    char *doc = NULL;
    assert_true(asprintf(&doc,
                         "{\"id\":\"urn:t\",\"title\":\"t\",\"properties\":{\"%s\":{}},"
                         "\"forms\":[{\"href\":\"http://h/\",\"op\":\"readallproperties\"}]}",
                         longname) > 0);
    td = must_load(doc, &d);
    assert_string_equal(td->affs[0].name, longname);
    assert_true(warned(&d, "nnn...\" has no usable form"));
    assert_true(strlen(d.v[0].msg) < 200);
    td_free(td);
    diag_free(&d);
    free(doc);
    free(longname);

    /* a relative href and no base: that form is skipped */
    td = must_load("{\"id\":\"urn:t\",\"title\":\"t\",\"properties\":{"
                   "\"p\":{\"forms\":[{\"href\":\"/p\"},{\"href\":\"coap://h/p\"}]},"
                   "\"q\":{\"forms\":[{\"href\":\"q\"}]},\"r\":{}}}",
                   &d);
    assert_true(warned(&d, "relative href \"/p\" and no absolute \"base\""));
    assert_int_equal(td_find(td, AFF_PROPERTY, "p")->n_forms, 1);
    assert_int_equal(td_find(td, AFF_PROPERTY, "q")->n_forms, 0);
    assert_true(warned(&d, "property \"q\" has no usable form"));
    assert_true(warned(&d, "property \"r\" has no usable form"));
    assert_int_equal(td_ops(td, td_find(td, AFF_PROPERTY, "q")), 0);
    assert_null(td_find_form(td, td_find(td, AFF_PROPERTY, "q"), WOT_OP_READPROPERTY, -1));
    td_free(td);
    diag_free(&d);

    /* a relative base is no base */
    char *s = one_property("things/lamp/", "{\"forms\":[{\"href\":\"p\"}]}");
    assert_int_equal(parse_str(s, &td, &d), -EINVAL);
    assert_true(warned(&d, "is not an absolute URI"));
    assert_true(diag_contains(&d, "no usable form"));
    free(s);
    diag_free(&d);
    /* base not a string */
    must_refuse("{\"id\":\"urn:t\",\"title\":\"t\",\"base\":[1],\"properties\":{\"p\":{\"forms\":"
                "[{\"href\":\"p\"}]}}}",
                "no usable form");
    /* only schemes wotgw does not know, or no host */
    must_refuse(
            "{\"id\":\"urn:t\",\"title\":\"t\",\"properties\":{\"p\":{\"forms\":[{\"href\":\"ws:"
            "//h/p\"},{\"href\":\"urn:x\"},{\"href\":\"http:///p\"},{\"href\":\"coap:p\"}]}}}",
            "no usable form");
    /* "forms" of an affordance not an array */
    s = one_property("http://h/", "{\"forms\":{\"href\":\"p\"}}");
    assert_int_equal(parse_str(s, &td, &d), -EINVAL);
    assert_true(warned(&d, "\"forms\" is not an array"));
    free(s);
    diag_free(&d);
}

/* ---- refusals ------------------------------------------------------------ */

static void test_malformed_json(void **state)
{
    struct diags d = {0};
    struct td *td = NULL;
    const char *doc = "{\n  \"id\": \"urn:t\",\n  \"title\": \"t\"\n  \"base\": 1\n}\n";
    assert_int_equal(parse_str(doc, &td, &d), -EINVAL);
    assert_null(td);
    assert_int_equal(d.n_errors, 1);
    assert_string_equal(d.v[0].file, "mem.json");
    assert_int_equal(d.v[0].line, 4);
    assert_non_null(strstr(d.v[0].msg, "not valid JSON"));
    diag_free(&d);

    /* the syntax-error file: line 5 */
    assert_int_equal(td_load_file(TDS_DIR "/wotgw__syntax-error.json", &lim, &td, &d), -EINVAL);
    assert_int_equal(d.v[0].line, 5);
    assert_string_equal(d.v[0].file, TDS_DIR "/wotgw__syntax-error.json");
    diag_free(&d);

    static const char *const bad[] = {
            "",
            "   ",
            "{",
            "{\"id\": \"urn:t\"",
            "{\"id\": \"urn:t\",}",
            "{\"id\": urn}",
            "title: lamp\n",
            "<html><body>404</body></html>",
            "{\"id\": \"\\ud800\"}",            /* lone surrogate */
            "{\"id\": \"\xff\xfe\"}",           /* not UTF-8 */
            "{\"id\": \"a\\u0000b\"}",          /* NUL in a string */
            "{\"a\": 1e99999}",                 /* real overflow */
            "{\"a\": 99999999999999999999999}", /* integer overflow */
            "{} {}",                            /* trailing data */
            "\xEF\xBB\xBF",                     /* only a BOM */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_int_equal(td_parse("bad.json", bad[i], strlen(bad[i]), &lim, &td, &d), -EINVAL);
        assert_null(td);
        assert_true(d.n_errors > 0);
        assert_true(diag_contains(&d, "not valid JSON"));
        diag_free(&d);
    }
    /* an embedded NUL byte */
    static const char nul[] = "{\"id\":\"urn:t\"\0,\"title\":\"t\"}";
    assert_int_equal(td_parse("nul.json", nul, sizeof(nul) - 1, &lim, &td, &d), -EINVAL);
    assert_true(diag_contains(&d, "not valid JSON"));
    diag_free(&d);
    /* NULL buffer */
    assert_int_equal(td_parse("null.json", NULL, 0, &lim, &td, &d), -EINVAL);
    diag_free(&d);
    assert_int_equal(td_parse("null.json", NULL, 5, &lim, &td, &d), -EINVAL);
    diag_free(&d);

    /* a UTF-8 BOM before the document is tolerated */
    const char *bom = "\xEF\xBB\xBF{\"id\":\"urn:t\",\"title\":\"t\",\"forms\":[{\"href\":\"http://"
                      "h/\",\"op\":\"readallproperties\"}]}";
    assert_int_equal(td_parse("bom.json", bom, strlen(bom), &lim, &td, &d), 0);
    td_free(td);
    diag_free(&d);
}

static void test_duplicate_keys(void **state)
{
    must_refuse("{\"id\":\"urn:a\",\"title\":\"t\",\"id\":\"urn:b\"}", "duplicate");
    struct diags d = {0};
    struct td *td = NULL;
    const char *doc = "{\"id\":\"urn:a\",\"title\":\"t\",\n\"properties\":{\n"
                      "\"p\":{\"forms\":[{\"href\":\"http://h/\"}]},\n"
                      "\"p\":{\"forms\":[{\"href\":\"http://h/2\"}]}}}";
    assert_int_equal(parse_str(doc, &td, &d), -EINVAL);
    assert_int_equal(d.v[0].line, 4);
    assert_true(diag_contains(&d, "duplicate object key"));
    diag_free(&d);
}

static char *nested(size_t depth)
{
    /* {"id":"urn:t","title":"t","x":[[...]],"forms":[...]}: the object is
     * level 1, so "x" adds depth - 1 levels of arrays. */
    const char *head = "{\"id\":\"urn:t\",\"title\":\"t\",\"forms\":[{\"href\":\"http://h/\","
                       "\"op\":\"readallproperties\"}],\"x\":";
    size_t n = depth - 1, hl = strlen(head);
    char *s = malloc(hl + 2 * n + 3);
    assert_non_null(s);
    memcpy(s, head, hl);
    memset(s + hl, '[', n);
    memset(s + hl + n, ']', n);
    strcpy(s + hl + 2 * n, "}");
    return s;
}

static void test_depth_limit(void **state)
{
    struct diags d = {0};
    struct td *td = NULL;
    struct td_limits l = {.max_size = 1u << 20, .max_depth = 8};
    char *s = nested(8);
    assert_int_equal(td_parse("d.json", s, strlen(s), &l, &td, &d), 0);
    td_free(td);
    free(s);
    diag_free(&d);
    s = nested(9);
    assert_int_equal(td_parse("d.json", s, strlen(s), &l, &td, &d), -EINVAL);
    assert_true(diag_contains(&d, "nested deeper than 8 levels"));
    free(s);
    diag_free(&d);
    /* far deeper than jansson's own limit: refused, no crash */
    s = nested(200000);
    assert_int_equal(td_parse("d.json", s, strlen(s), &lim, &td, &d), -EINVAL);
    assert_true(d.n_errors > 0);
    free(s);
    diag_free(&d);
    /* deep objects in an affordance */
    s = one_property("http://h/", "{\"forms\":[{\"href\":\"p\"}],\"a\":{\"b\":{\"c\":{\"d\":{"
                                  "\"e\":{\"f\":{}}}}}}}");
    assert_int_equal(td_parse("d.json", s, strlen(s), &l, &td, &d), -EINVAL);
    assert_true(diag_contains(&d, "nested deeper"));
    free(s);
    diag_free(&d);
}

static void test_size_limit(void **state)
{
    struct diags d = {0};
    struct td *td = NULL;
    const char *doc = "{\"id\":\"urn:t\",\"title\":\"t\",\"forms\":[{\"href\":\"http://h/\","
                      "\"op\":\"readallproperties\"}]}";
    size_t n = strlen(doc);
    struct td_limits l = {.max_size = n, .max_depth = 32};
    assert_int_equal(td_parse("s.json", doc, n, &l, &td, &d), 0);
    td_free(td);
    l.max_size = n - 1;
    assert_int_equal(td_parse("s.json", doc, n, &l, &td, &d), -EINVAL);
    assert_null(td);
    assert_true(diag_contains(&d, "larger than the limit"));
    diag_free(&d);
    /* from a file */
    l.max_size = 1000;
    assert_int_equal(
            td_load_file(TDS_DIR "/wottesting__input_2022__tum-light1.td.jsonld", &l, &td, &d),
            -EINVAL);
    assert_true(diag_contains(&d, "larger than the limit of 1000 bytes"));
    assert_string_equal(d.v[0].file, TDS_DIR "/wottesting__input_2022__tum-light1.td.jsonld");
    diag_free(&d);
    /* files that cannot be read */
    assert_int_equal(td_load_file(TDS_DIR "/no-such-file.json", &lim, &td, &d), -EINVAL);
    assert_true(diag_contains(&d, "cannot read"));
    assert_string_equal(d.v[0].file, TDS_DIR "/no-such-file.json");
    diag_free(&d);
    assert_int_equal(td_load_file(TDS_DIR, &lim, &td, &d), -EINVAL);
    assert_true(diag_contains(&d, "cannot read"));
    diag_free(&d);
}

static void test_not_a_td(void **state)
{
    must_refuse("[]", "not a JSON object");
    must_refuse("[{\"id\":\"urn:t\"}]", "not a JSON object");
    must_refuse("\"td\"", "not a JSON object");
    must_refuse("42", "not a JSON object");
    must_refuse("null", "not a JSON object");
    /* id */
    must_refuse("{\"title\":\"t\",\"forms\":[{\"href\":\"http://h/\",\"op\":"
                "\"readallproperties\"}]}",
                "no \"id\": wotgw needs a stable id");
    must_refuse("{\"@id\":\"urn:t\",\"title\":\"t\"}", "no \"id\"");
    must_refuse("{\"id\":42,\"title\":\"t\"}", "\"id\" is not a non-empty string");
    must_refuse("{\"id\":\"\",\"title\":\"t\"}", "\"id\" is not a non-empty string");
    must_refuse("{\"id\":\"urn:t\",\"title\":\"t\"}", "no usable form");
    must_refuse("{\"id\":\"urn:t\",\"title\":\"t\",\"properties\":{}}", "no usable form");
    /* Thing Models */
    must_refuse("{\"@type\":\"tm:ThingModel\",\"id\":\"urn:t\",\"title\":\"t\"}",
                "a Thing Model, not a Thing Description");
    must_refuse("{\"@type\":[\"Thing\",\"tm:ThingModel\"],\"title\":\"t\"}", "a Thing Model");
    must_refuse("{\"id\":\"urn:t\",\"title\":\"t\",\"base\":\"http://{{IP}}/\"}", "a Thing Model");
    must_refuse("{\"id\":\"urn:{{ID}}\",\"title\":\"t\"}", "a Thing Model");
    must_refuse("{\"id\":\"urn:t\",\"title\":\"t\",\"forms\":[{\"href\":\"http://h/{{x}}\",\"op\""
                ":\"readallproperties\"}]}",
                "a Thing Model");
    /* pre-1.0 drafts */
    must_refuse("{\"id\":\"urn:t\",\"name\":\"t\",\"interaction\":[]}", "pre-1.0");
    must_refuse("{\"@id\":\"urn:t\",\"name\":\"t\",\"interactions\":[{\"name\":\"p\"}]}",
                "\"interactions\" array");
    must_refuse("{\"id\":\"urn:t\",\"name\":\"t\",\"links\":[{\"href\":\"http://h/\"}]}",
                "pre-1.0");
}

static void test_non_object_affordances(void **state)
{
    must_refuse("{\"id\":\"urn:t\",\"title\":\"t\",\"properties\":[]}",
                "\"properties\" is not an object");
    must_refuse("{\"id\":\"urn:t\",\"title\":\"t\",\"actions\":\"x\"}",
                "\"actions\" is not an object");
    must_refuse("{\"id\":\"urn:t\",\"title\":\"t\",\"events\":null}",
                "\"events\" is not an object");
    must_refuse("{\"id\":\"urn:t\",\"title\":\"t\",\"properties\":{\"p\":3}}",
                "property \"p\" is not an object");
    must_refuse("{\"id\":\"urn:t\",\"title\":\"t\",\"events\":{\"e\":[{\"forms\":[]}]}}",
                "event \"e\" is not an object");
    /* an affordance with an empty name is skipped */
    struct diags d = {0};
    struct td *td = must_load("{\"id\":\"urn:t\",\"title\":\"t\",\"properties\":{\"\":{\"forms\":"
                              "[{\"href\":\"http://h/\"}]},\"p\":{\"forms\":[{\"href\":\"http://"
                              "h/p\"}]}}}",
                              &d);
    assert_int_equal(td->n_affs, 1);
    assert_true(warned(&d, "empty name"));
    td_free(td);
    diag_free(&d);
}

static char *repeat_doc(const char *head, const char *item, size_t n, const char *tail)
{
    size_t hl = strlen(head), il = strlen(item), tl = strlen(tail);
    char *s = malloc(hl + n * (il + 1) + tl + 1);
    assert_non_null(s);
    char *p = s;
    memcpy(p, head, hl);
    p += hl;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, item, il);
        p += il;
    }
    memcpy(p, tail, tl);
    p[tl] = '\0';
    return s;
}

static void test_huge_arrays(void **state)
{
    struct diags d = {0};
    struct td *td = NULL;
    struct td_limits big = {.max_size = 16u << 20, .max_depth = 32};

    /* 100000 unknown ops: the warnings stop at TD_MAX_WARNINGS */
    char *s = repeat_doc("{\"id\":\"urn:t\",\"title\":\"t\",\"properties\":{\"p\":{\"forms\":[{"
                         "\"href\":\"http://h/\",\"op\":[\"readproperty\",",
                         "\"nope\"", 100000, "]}]}}}");
    assert_int_equal(td_parse("h.json", s, strlen(s), &big, &td, &d), 0);
    assert_int_equal(td_ops(td, &td->affs[0]), BIT(WOT_OP_READPROPERTY));
    assert_true(d.n <= TD_MAX_WARNINGS + 1);
    assert_true(diag_contains(&d, "more warnings not shown"));
    td_free(td);
    free(s);
    diag_free(&d);

    /* too many forms */
    s = repeat_doc("{\"id\":\"urn:t\",\"title\":\"t\",\"properties\":{\"p\":{\"forms\":[",
                   "{\"href\":\"http://h/\"}", TD_MAX_FORMS + 1, "]}}}");
    assert_int_equal(td_parse("h.json", s, strlen(s), &big, &td, &d), -EINVAL);
    assert_true(diag_contains(&d, "at most 64 are allowed"));
    free(s);
    diag_free(&d);
    s = repeat_doc("{\"id\":\"urn:t\",\"title\":\"t\",\"forms\":[",
                   "{\"href\":\"http://h/\",\"op\":\"readallproperties\"}", 100000, "]}");
    assert_int_equal(td_parse("h.json", s, strlen(s), &big, &td, &d), -EINVAL);
    assert_true(diag_contains(&d, "100000 top-level forms"));
    free(s);
    diag_free(&d);
    /* exactly TD_MAX_FORMS is fine */
    s = repeat_doc("{\"id\":\"urn:t\",\"title\":\"t\",\"properties\":{\"p\":{\"forms\":[",
                   "{\"href\":\"http://h/\"}", TD_MAX_FORMS, "]}}}");
    assert_int_equal(td_parse("h.json", s, strlen(s), &big, &td, &d), 0);
    assert_int_equal(td->affs[0].n_forms, TD_MAX_FORMS);
    td_free(td);
    free(s);
    diag_free(&d);

    /* too many affordances */
    char *items = NULL;
    size_t cap = (TD_MAX_AFFORDANCES + 1) * 48 + 64, n = 0;
    items = malloc(cap);
    assert_non_null(items);
    n += (size_t)snprintf(items, cap, "{\"id\":\"urn:t\",\"title\":\"t\",\"actions\":{");
    for (int i = 0; i <= TD_MAX_AFFORDANCES; i++)
        n += (size_t)snprintf(items + n, cap - n,
                              "%s\"a%d\":{\"forms\":[{\"href\":\"http://h/\"}]}", i ? "," : "", i);
    n += (size_t)snprintf(items + n, cap - n, "}}");
    assert_true(n < cap);
    assert_int_equal(td_parse("h.json", items, n, &big, &td, &d), -EINVAL);
    assert_true(diag_contains(&d, "1025 affordances"));
    free(items);
    diag_free(&d);

    /* a huge array elsewhere (links) is just data */
    s = repeat_doc("{\"id\":\"urn:t\",\"title\":\"t\",\"properties\":{\"p\":{\"forms\":[{\"href\":"
                   "\"coap://h/\"}]}},\"links\":[",
                   "{\"href\":\"http://h/x\"}", 200000, "]}");
    assert_int_equal(td_parse("h.json", s, strlen(s), &big, &td, &d), 0);
    td_free(td);
    free(s);
    diag_free(&d);
}

static void test_null_args(void **state)
{
    assert_null(td_find(NULL, AFF_PROPERTY, "p"));
    assert_null(td_find_name(NULL, "p"));
    assert_null(td_find_form(NULL, NULL, WOT_OP_READPROPERTY, -1));
    assert_int_equal(td_ops(NULL, NULL), 0);
    td_free(NULL);
    /* NULL limits: the defaults (1 MiB, depth 32) */
    struct diags d = {0};
    struct td *td = NULL;
    const char *doc = "{\"id\":\"urn:t\",\"title\":\"t\",\"forms\":[{\"href\":\"http://h/\","
                      "\"op\":\"readallproperties\"}]}";
    assert_int_equal(td_parse(NULL, doc, strlen(doc), NULL, &td, &d), 0);
    assert_string_equal(td->path, "<td>");
    td_free(td);
    diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_every_file_listed),
            cmocka_unit_test(test_data_set),
            cmocka_unit_test(test_data_details),
            cmocka_unit_test(test_lamp),
            cmocka_unit_test(test_resolve_rfc3986),
            cmocka_unit_test(test_resolve_more),
            cmocka_unit_test(test_op_defaults),
            cmocka_unit_test(test_top_level_forms),
            cmocka_unit_test(test_forms),
            cmocka_unit_test(test_malformed_json),
            cmocka_unit_test(test_duplicate_keys),
            cmocka_unit_test(test_depth_limit),
            cmocka_unit_test(test_size_limit),
            cmocka_unit_test(test_not_a_td),
            cmocka_unit_test(test_non_object_affordances),
            cmocka_unit_test(test_huge_arrays),
            cmocka_unit_test(test_null_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
