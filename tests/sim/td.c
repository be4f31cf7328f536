/* td.c - Thing Descriptions of the simulated things (see td.h). */
#include "td.h"

#include <stdio.h>
#include <string.h>

static json_t *form(const char *href, const char *op, const char *ct, const char *subprotocol)
{
    json_t *f = json_object();
    if (!f)
        return NULL;
    json_object_set_new(f, "href", json_string(href));
    json_object_set_new(f, "op", json_string(op));
    json_object_set_new(f, "contentType", json_string(ct));
    if (subprotocol)
        json_object_set_new(f, "subprotocol", json_string(subprotocol));
    return f;
}

/* The HTTP forms of one affordance (paths as http.c serves them). */
static json_t *http_forms(const struct sim_aff *a)
{
    char href[128];
    const char *ct = a->content_type ? a->content_type : SIM_JSON;
    json_t *forms = json_array();
    if (!forms)
        return NULL;
    switch (a->kind) {
    case SIM_PROPERTY:
        snprintf(href, sizeof(href), "properties/%s", a->name);
        if (a->writable) {
            json_t *f = form(href, "readproperty", ct, NULL);
            json_object_set_new(f, "op", json_pack("[ss]", "readproperty", "writeproperty"));
            json_array_append_new(forms, f);
        } else {
            json_array_append_new(forms, form(href, "readproperty", ct, NULL));
        }
        if (a->observable) {
            snprintf(href, sizeof(href), "properties/%s/observe", a->name);
            json_array_append_new(forms, form(href, "observeproperty", ct, "longpoll"));
        }
        break;
    case SIM_ACTION:
        snprintf(href, sizeof(href), "actions/%s", a->name);
        json_array_append_new(forms, form(href, "invokeaction", ct, NULL));
        break;
    case SIM_EVENT:
        snprintf(href, sizeof(href), "events/%s", a->name);
        json_array_append_new(forms, form(href, "subscribeevent", ct, "longpoll"));
        snprintf(href, sizeof(href), "events/%s/sse", a->name);
        json_array_append_new(forms, form(href, "subscribeevent", "text/event-stream", "sse"));
        break;
    }
    return forms;
}

/* The CoAP forms of one affordance (paths as coap.c serves them). */
static json_t *coap_forms(const struct sim_aff *a)
{
    char href[128];
    const char *ct = a->content_type ? a->content_type : SIM_JSON;
    json_t *forms = json_array(), *f;
    if (!forms)
        return NULL;
    switch (a->kind) {
    case SIM_PROPERTY:
        snprintf(href, sizeof(href), "properties/%s", a->name);
        json_array_append_new(forms, f = form(href, "readproperty", ct, NULL));
        json_object_set_new(f, "cov:method", json_string("GET"));
        if (a->writable) {
            json_array_append_new(forms, f = form(href, "writeproperty", ct, NULL));
            json_object_set_new(f, "cov:method", json_string("PUT"));
        }
        if (a->observable) { /* RFC 7641 on the same resource */
            json_array_append_new(forms, f = form(href, "observeproperty", ct, "cov:observe"));
            json_object_set_new(f, "cov:method", json_string("GET"));
        }
        break;
    case SIM_ACTION:
        snprintf(href, sizeof(href), "actions/%s", a->name);
        json_array_append_new(forms, f = form(href, "invokeaction", ct, NULL));
        json_object_set_new(f, "cov:method", json_string("POST"));
        break;
    case SIM_EVENT: /* RFC 7641: each event is a notification */
        snprintf(href, sizeof(href), "events/%s", a->name);
        json_array_append_new(forms, f = form(href, "subscribeevent", ct, "cov:observe"));
        json_object_set_new(f, "cov:method", json_string("GET"));
        break;
    }
    return forms;
}

static json_t *affordance(const struct sim_aff *a, bool coap)
{
    json_t *o = NULL;
    if (a->schema) {
        json_error_t jerr;
        o = json_loads(a->schema, 0, &jerr);
        if (!o) {
            fprintf(stderr, "wotgw-simdev: bad schema of %s: %s\n", a->name, jerr.text);
            return NULL;
        }
    } else {
        o = json_object();
    }
    if (!o)
        return NULL;
    if (a->description)
        json_object_set_new(o, "description", json_string(a->description));
    if (a->kind == SIM_PROPERTY) {
        if (!a->writable)
            json_object_set_new(o, "readOnly", json_true());
        if (a->observable)
            json_object_set_new(o, "observable", json_true());
    }
    json_t *forms = coap ? coap_forms(a) : http_forms(a);
    if (!forms || json_object_set_new(o, "forms", forms) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

enum td_kind { TD_HTTP, TD_COAP, TD_OSCORE };

static json_t *make_td(const struct sim_thing *t, const char *authority, enum td_kind kind)
{
    bool coap = kind != TD_HTTP;
    const char *prefix = kind == TD_OSCORE ? "oscore-" : kind == TD_COAP ? "coap-" : "";
    char buf[512];
    json_t *td = json_object();
    json_t *props = json_object(), *actions = json_object(), *events = json_object();
    if (!td || !props || !actions || !events)
        goto fail;
    if (kind == TD_OSCORE)
        json_object_set_new(td, "@context",
                            json_pack("[s{ssss}]", "https://www.w3.org/2022/wot/td/v1.1", "cov",
                                      "http://www.example.org/coap-binding#", "wotgw",
                                      "https://wotgw.example/ns#"));
    else if (coap)
        json_object_set_new(td, "@context",
                            json_pack("[s{ss}]", "https://www.w3.org/2022/wot/td/v1.1", "cov",
                                      "http://www.example.org/coap-binding#"));
    else
        json_object_set_new(td, "@context", json_string("https://www.w3.org/2022/wot/td/v1.1"));
    snprintf(buf, sizeof(buf), "urn:dev:wotgw-sim:%s%s", prefix, t->name);
    json_object_set_new(td, "id", json_string(buf));
    json_object_set_new(td, "title", json_string(t->title));
    json_object_set_new(td, "description", json_string(t->description));
    snprintf(buf, sizeof(buf), "%s://%s/%s/", coap ? "coap" : "http", authority, t->name);
    json_object_set_new(td, "base", json_string(buf));
    if (kind == TD_OSCORE) {
        json_object_set_new(td, "securityDefinitions",
                            json_pack("{s{ssss}}", "oscore_sc", "scheme",
                                      "wotgw:OSCORESecurityScheme", "description",
                                      "OSCORE (RFC 8613) end to end with the device: requests "
                                      "protected with one of the device's security contexts"));
        json_object_set_new(td, "security", json_string("oscore_sc"));
    } else {
        json_object_set_new(td, "securityDefinitions",
                            json_pack("{s{ss}}", "nosec_sc", "scheme", "nosec"));
        json_object_set_new(td, "security", json_string("nosec_sc"));
    }
    for (size_t i = 0; i < t->n_affs; i++) {
        const struct sim_aff *a = &t->affs[i];
        json_t *o = affordance(a, coap);
        json_t *into = a->kind == SIM_PROPERTY ? props : a->kind == SIM_ACTION ? actions : events;
        if (!o || json_object_set_new(into, a->name, o) < 0)
            goto fail;
    }
    if (json_object_size(props))
        json_object_set(td, "properties", props);
    if (json_object_size(actions))
        json_object_set(td, "actions", actions);
    if (json_object_size(events))
        json_object_set(td, "events", events);
    if (t->readall) {
        json_t *f = form("properties", "readallproperties", SIM_JSON, NULL);
        if (coap)
            json_object_set_new(f, "cov:method", json_string("GET"));
        json_object_set_new(td, "forms", json_pack("[o]", f));
    }
    json_decref(props);
    json_decref(actions);
    json_decref(events);
    return td;
fail:
    json_decref(td);
    json_decref(props);
    json_decref(actions);
    json_decref(events);
    return NULL;
}

json_t *sim_td(const struct sim_thing *t, const char *authority)
{
    return make_td(t, authority, TD_HTTP);
}

json_t *sim_td_coap(const struct sim_thing *t, const char *authority)
{
    return make_td(t, authority, TD_COAP);
}

json_t *sim_td_oscore(const struct sim_thing *t, const char *authority)
{
    return make_td(t, authority, TD_OSCORE);
}
