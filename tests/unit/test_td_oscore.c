/* test_td_oscore.c - td.c: devices that speak OSCORE themselves (RFC 8613):
 * which security definitions are OSCORE ("oscore", compact IRIs of the
 * term OSCORESecurityScheme, combos), form-level security replacing the
 * thing's, passthrough forms (td_form.oscore, td->oscore_href, skipped by
 * td_find_form, counted by td_ops, found by td_find_oscore_form), OSCORE
 * on forms that cannot pass it through, and malformed security terms
 * (warnings, never a crash, never OSCORE by accident). */
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

#include "td.h"

#define BIT(op) (1u << (op))

static const struct td_limits lim = {.max_size = 1u << 20, .max_depth = 32};

static struct td *load(const char *json, struct diags *d)
{
    struct td *td = NULL;
    int r = td_parse("mem.json", json, strlen(json), &lim, &td, d);
    if (r != 0)
        diag_print(d, stderr);
    assert_int_equal(r, 0);
    assert_non_null(td);
    assert_int_equal(d->n_errors, 0);
    return td;
}

/* A lamp with one property "on" whose forms are given, the thing's
 * security sec (a JSON value) and definitions defs (a JSON object body). */
static char *lamp(const char *defs, const char *sec, const char *forms)
{
    char *s = NULL;
    int n = asprintf(&s,
                     "{\"@context\": \"https://www.w3.org/2022/wot/td/v1.1\", \"id\": \"urn:x\","
                     " \"title\": \"Lamp\", \"base\": \"coap://192.0.2.1:5683/lamp/\","
                     " \"securityDefinitions\": {%s}, \"security\": %s,"
                     " \"properties\": {\"on\": {\"type\": \"boolean\", \"forms\": [%s]}}}",
                     defs, sec, forms);
    assert_true(n > 0);
    return s;
}

static const char COAP_FORM[] = "{\"href\": \"properties/on\"}";

/* The thing-level security and the result for the lamp's form. */
static bool form_is_oscore(const char *defs, const char *sec, const char *forms, struct diags *d)
{
    char *s = lamp(defs, sec, forms);
    struct td *td = load(s, d);
    free(s);
    const struct td_affordance *a = td_find(td, AFF_PROPERTY, "on");
    assert_non_null(a);
    assert_true(a->n_forms >= 1);
    bool osc = a->forms[0].oscore;
    assert_true(osc == (td->oscore_href != NULL));
    td_free(td);
    return osc;
}

static void test_scheme_names(void **state)
{
    static const struct {
        const char *scheme;
        bool oscore;
    } cases[] = {
            {"oscore", true},
            {"wotgw:OSCORESecurityScheme", true},
            {"ace:OSCORESecurityScheme", true},
            {"https://example.org/ns#OSCORESecurityScheme", true},
            {"OSCORESecurityScheme", false},
            {":OSCORESecurityScheme", false},
            {"wotgw:OSCORESecuritySchemeX", false},
            {"wotgw:oscoresecurityscheme", false},
            {"OSCORE", false},
            {"nosec", false},
            {"psk", false},
            {"", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char defs[256];
        struct diags d = {0};
        snprintf(defs, sizeof(defs), "\"o_sc\": {\"scheme\": \"%s\"}", cases[i].scheme);
        bool got = form_is_oscore(defs, "\"o_sc\"", COAP_FORM, &d);
        if (got != cases[i].oscore)
            fprintf(stderr, "scheme \"%s\": expected %d\n", cases[i].scheme, cases[i].oscore);
        assert_int_equal(got, cases[i].oscore);
        diag_free(&d);
    }
}

static void test_passthrough_forms(void **state)
{
    struct diags d = {0};
    char *s = lamp("\"oscore_sc\": {\"scheme\": \"wotgw:OSCORESecurityScheme\"}", "[\"oscore_sc\"]",
                   "{\"href\": \"properties/on\", \"op\": [\"readproperty\", \"writeproperty\"]}");
    struct td *td = load(s, &d);
    free(s);
    const struct td_affordance *a = td_find(td, AFF_PROPERTY, "on");
    assert_non_null(a);
    assert_int_equal(a->n_forms, 1);
    assert_true(a->forms[0].oscore);
    assert_true(a->forms[0].supported);
    assert_string_equal(td->oscore_href, "coap://192.0.2.1:5683/lamp/properties/on");
    /* never a plain form, but the operations are the device's */
    assert_null(td_find_form(td, a, WOT_OP_READPROPERTY, -1));
    assert_null(td_find_form(td, a, WOT_OP_WRITEPROPERTY, PROTO_COAP));
    assert_int_equal(td_ops(td, a), BIT(WOT_OP_READPROPERTY) | BIT(WOT_OP_WRITEPROPERTY));
    assert_ptr_equal(td_find_oscore_form(td, a, WOT_OP_READPROPERTY), &a->forms[0]);
    assert_ptr_equal(td_find_oscore_form(td, a, -1), &a->forms[0]);
    assert_null(td_find_oscore_form(td, a, WOT_OP_INVOKEACTION));
    assert_null(td_find_oscore_form(td, NULL, -1));
    assert_null(td_find_oscore_form(NULL, a, -1));
    assert_null(td_find_oscore_form(td, a, WOT_OP__COUNT));
    td_free(td);
    diag_free(&d);
}

/* A form's "security" replaces the thing's, both ways. */
static void test_form_security(void **state)
{
    static const char defs[] = "\"nosec_sc\": {\"scheme\": \"nosec\"},"
                               " \"oscore_sc\": {\"scheme\": \"oscore\"}";
    struct diags d = {0};
    assert_false(form_is_oscore(defs, "\"oscore_sc\"",
                                "{\"href\": \"properties/on\", \"security\": \"nosec_sc\"}", &d));
    assert_true(form_is_oscore(defs, "\"nosec_sc\"",
                               "{\"href\": \"properties/on\", \"security\": [\"oscore_sc\"]}", &d));
    /* an array: all apply, one OSCORE is enough */
    assert_true(form_is_oscore(defs, "[\"nosec_sc\", \"oscore_sc\"]", COAP_FORM, &d));
    assert_int_equal(d.n_errors, 0);
    diag_free(&d);

    /* a thing with a plain HTTP form and an OSCORE CoAP form: the HTTP one is used */
    char *s =
            lamp(defs, "\"nosec_sc\"",
                 "{\"href\": \"coap://192.0.2.1/lamp/properties/on\", \"security\": \"oscore_sc\"},"
                 " {\"href\": \"http://192.0.2.1/lamp/properties/on\"}");
    struct td *td = load(s, &d);
    free(s);
    const struct td_affordance *a = td_find(td, AFF_PROPERTY, "on");
    const struct td_form *f = td_find_form(td, a, WOT_OP_READPROPERTY, -1);
    assert_non_null(f);
    assert_int_equal(f->protocol, PROTO_HTTP);
    assert_false(f->oscore);
    assert_non_null(td_find_oscore_form(td, a, WOT_OP_READPROPERTY));
    assert_string_equal(td->oscore_href, "coap://192.0.2.1/lamp/properties/on");
    td_free(td);
    diag_free(&d);
}

static void test_combos(void **state)
{
    static const char defs[] =
            "\"nosec_sc\": {\"scheme\": \"nosec\"}, \"osc\": {\"scheme\": \"oscore\"},"
            " \"psk\": {\"scheme\": \"psk\"},"
            " \"all\": {\"scheme\": \"combo\", \"allOf\": [\"psk\", \"osc\"]},"
            " \"one\": {\"scheme\": \"combo\", \"oneOf\": [\"osc\", \"nosec_sc\"]},"
            " \"only\": {\"scheme\": \"combo\", \"oneOf\": [\"osc\", \"all\"]},"
            " \"none\": {\"scheme\": \"combo\", \"allOf\": [\"psk\", \"nosec_sc\"]},"
            " \"self\": {\"scheme\": \"combo\", \"allOf\": [\"self\"]},"
            " \"loop\": {\"scheme\": \"combo\", \"oneOf\": [\"loop\"]},"
            " \"bare\": {\"scheme\": \"combo\"}";
    struct diags d = {0};
    assert_true(form_is_oscore(defs, "\"all\"", COAP_FORM, &d));
    assert_false(form_is_oscore(defs, "\"one\"", COAP_FORM, &d)); /* nosec suffices */
    assert_true(form_is_oscore(defs, "\"only\"", COAP_FORM, &d));
    assert_false(form_is_oscore(defs, "\"none\"", COAP_FORM, &d));
    /* a combo that names itself ends at the depth limit */
    assert_false(form_is_oscore(defs, "\"self\"", COAP_FORM, &d));
    assert_false(form_is_oscore(defs, "\"loop\"", COAP_FORM, &d));
    diag_free(&d);
    d = (struct diags){0};
    assert_false(form_is_oscore(defs, "\"bare\"", COAP_FORM, &d));
    assert_true(diag_contains(&d, "a combo without an allOf or oneOf array"));
    diag_free(&d);
}

/* OSCORE where it cannot be passed through: the form is not used. */
static void test_not_coap(void **state)
{
    static const char defs[] = "\"osc\": {\"scheme\": \"oscore\"}";
    struct diags d = {0};
    char *s = lamp(defs, "\"osc\"",
                   "{\"href\": \"http://192.0.2.1/lamp/properties/on\"},"
                   " {\"href\": \"coaps://192.0.2.1/lamp/properties/on\"}");
    struct td *td = load(s, &d);
    free(s);
    const struct td_affordance *a = td_find(td, AFF_PROPERTY, "on");
    assert_int_equal(a->n_forms, 2);
    assert_false(a->forms[0].supported);
    assert_false(a->forms[0].oscore);
    assert_false(a->forms[1].oscore);
    assert_null(td->oscore_href);
    assert_null(td_find_form(td, a, WOT_OP_READPROPERTY, -1));
    assert_int_equal(td_ops(td, a), 0);
    assert_true(diag_contains(&d, "needs OSCORE over http, which wotgw cannot pass through"));
    assert_true(diag_contains(&d, "needs OSCORE over coaps"));
    td_free(td);
    diag_free(&d);
}

/* Two device addresses: the first is used, with a warning. */
static void test_two_addresses(void **state)
{
    static const char defs[] = "\"osc\": {\"scheme\": \"oscore\"}";
    struct diags d = {0};
    char *s = lamp(defs, "\"osc\"",
                   "{\"href\": \"coap://192.0.2.1/lamp/properties/on\"},"
                   " {\"href\": \"coap://192.0.2.1:5683/lamp/properties/on\", \"op\": "
                   "\"writeproperty\"},"
                   " {\"href\": \"coap://192.0.2.2/lamp/properties/on\"}");
    struct td *td = load(s, &d);
    free(s);
    assert_string_equal(td->oscore_href, "coap://192.0.2.1/lamp/properties/on");
    assert_true(diag_contains(&d, "OSCORE passthrough forms on more than one device address"));
    /* the same host with the port written out is another authority too */
    size_t warnings = d.n;
    assert_true(warnings >= 2);
    td_free(td);
    diag_free(&d);
}

/* Malformed security terms: warnings, the TD loads, nothing is OSCORE. */
static void test_malformed(void **state)
{
    static const struct {
        const char *defs, *sec, *forms, *warning;
    } cases[] = {
            {"\"osc\": {\"scheme\": \"oscore\"}", "\"nosuch\"", COAP_FORM, "has no definition"},
            {"\"osc\": {\"scheme\": 7}", "\"osc\"", COAP_FORM, "has no string \"scheme\""},
            {"\"osc\": {}", "\"osc\"", COAP_FORM, "has no string \"scheme\""},
            {"\"osc\": \"oscore\"", "\"osc\"", COAP_FORM, "has no definition"},
            {"\"osc\": {\"scheme\": \"oscore\"}", "7", COAP_FORM,
             "is neither a string nor an array"},
            {"\"osc\": {\"scheme\": \"oscore\"}", "{\"osc\": true}", COAP_FORM,
             "is neither a string nor an array"},
            {"\"osc\": {\"scheme\": \"oscore\"}", "[7, null]", COAP_FORM,
             "a security name is not a string"},
            {"\"osc\": {\"scheme\": \"oscore\"}", "\"nosuch\"",
             "{\"href\": \"properties/on\", \"security\": 3}", "is neither a string nor an array"},
            {"\"c\": {\"scheme\": \"combo\", \"allOf\": \"osc\"}", "\"c\"", COAP_FORM,
             "a combo without an allOf or oneOf array"},
            {"\"c\": {\"scheme\": \"combo\", \"oneOf\": []}", "\"c\"", COAP_FORM,
             "a combo without an allOf or oneOf array"},
            {"\"c\": {\"scheme\": \"combo\", \"allOf\": [1, {}]}", "\"c\"", COAP_FORM,
             "a security name is not a string"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct diags d = {0};
        bool osc = form_is_oscore(cases[i].defs, cases[i].sec, cases[i].forms, &d);
        if (osc || !diag_contains(&d, cases[i].warning)) {
            fprintf(stderr, "case %zu: expected \"%s\"\n", i, cases[i].warning);
            diag_print(&d, stderr);
        }
        assert_false(osc);
        assert_true(diag_contains(&d, cases[i].warning));
        diag_free(&d);
    }
    /* securityDefinitions not an object, or absent */
    static const char *const docs[] = {
            "{\"id\": \"urn:x\", \"title\": \"t\", \"securityDefinitions\": [\"oscore\"],"
            " \"security\": \"oscore\", \"properties\": {\"on\": {\"forms\": [{\"href\": "
            "\"coap://192.0.2.1/on\"}]}}}",
            "{\"id\": \"urn:x\", \"title\": \"t\", \"security\": \"oscore\","
            " \"properties\": {\"on\": {\"forms\": [{\"href\": \"coap://192.0.2.1/on\"}]}}}",
            "{\"id\": \"urn:x\", \"title\": \"t\", \"securityDefinitions\": null,"
            " \"properties\": {\"on\": {\"forms\": [{\"href\": \"coap://192.0.2.1/on\","
            " \"security\": [[\"oscore\"]]}]}}}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct diags d = {0};
        struct td *td = load(docs[i], &d);
        const struct td_affordance *a = td_find(td, AFF_PROPERTY, "on");
        assert_non_null(a);
        assert_false(a->forms[0].oscore);
        assert_null(td->oscore_href);
        assert_non_null(td_find_form(td, a, WOT_OP_READPROPERTY, -1));
        assert_true(d.n > 0); /* warned */
        td_free(td);
        diag_free(&d);
    }
}

/* The simulated device's own OSCORE TD shape: top-level forms too. */
static void test_top_level(void **state)
{
    static const char doc[] =
            "{\"@context\": [\"https://www.w3.org/2022/wot/td/v1.1\", {\"wotgw\": "
            "\"https://wotgw.example/ns#\"}], \"id\": \"urn:dev:x\", \"title\": \"x\","
            " \"base\": \"coap://127.0.0.1:5683/lamp/\","
            " \"securityDefinitions\": {\"oscore_sc\": {\"scheme\": "
            "\"wotgw:OSCORESecurityScheme\"}}, \"security\": \"oscore_sc\","
            " \"properties\": {\"on\": {\"forms\": [{\"href\": \"properties/on\"}]}},"
            " \"forms\": [{\"href\": \"properties\", \"op\": \"readallproperties\"}]}";
    struct diags d = {0};
    struct td *td = load(doc, &d);
    assert_int_equal(td->n_forms, 1);
    assert_true(td->forms[0].oscore);
    assert_null(td_find_form(td, NULL, WOT_OP_READALLPROPERTIES, -1));
    assert_int_equal(td_ops(td, NULL), BIT(WOT_OP_READALLPROPERTIES));
    assert_ptr_equal(td_find_oscore_form(td, NULL, WOT_OP_READALLPROPERTIES), &td->forms[0]);
    assert_string_equal(td->oscore_href, "coap://127.0.0.1:5683/lamp/properties/on");
    assert_int_equal(d.n, 0);
    td_free(td);
    diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_scheme_names),  cmocka_unit_test(test_passthrough_forms),
            cmocka_unit_test(test_form_security), cmocka_unit_test(test_combos),
            cmocka_unit_test(test_not_coap),      cmocka_unit_test(test_two_addresses),
            cmocka_unit_test(test_malformed),     cmocka_unit_test(test_top_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
