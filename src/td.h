/* td.h - a device's own Thing Description (TD 1.0 / 1.1, JSON or JSON-LD)
 * as the router needs it: affordances, their forms with absolute hrefs
 * (base resolved), ops (with the binding defaults filled in), content
 * types and protocol.
 *
 * A TD without "id", with a JSON syntax error, over the size or depth
 * limits, or with no usable form is refused with a clear message in the
 * diags naming the file (and line for JSON errors).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interaction.h"
#include "util.h"

#define TD_DEFAULT_CONTENT_TYPE "application/json"

/* Bounds beyond the size and depth limits; a TD over them is refused. */
#define TD_MAX_AFFORDANCES 1024 /* properties + actions + events */
#define TD_MAX_FORMS       64   /* forms of one affordance, or top-level forms */
#define TD_MAX_WARNINGS    32   /* per file; further ones are summed up in one */

/* A device form. href may hold RFC 6570 templates ("{?lat,long}") that
 * the TD's uriVariables describe; they are kept as written. A TD with
 * "{{placeholders}}" is a Thing Model and is refused. */
struct td_form {
    char *href;                 /* absolute URI (base resolved, RFC 3986 §5) */
    char *scheme;               /* URI scheme of href in lower case: "http", "coap", ... */
    bool supported;             /* plain http, coap or mqtt with a host: wotgw can reach it */
    enum wot_protocol protocol; /* valid when supported; also set (with supported
                                   false) for https, coaps and mqtts, which
                                   need device credentials wotgw does not have */
    char *content_type;         /* default application/json */
    uint32_t ops;               /* bit (1u << enum wot_op) per operation */
    char *method;               /* htv:methodName, NULL when absent */
    char *subprotocol;          /* e.g. "longpoll", "sse", "websub", NULL */
    bool oscore;                /* a coap:// form whose security is OSCORE (RFC 8613):
                                   reached only by passing OSCORE messages through
                                   (td->oscore_href); td_find_form() skips it */
    json_t *json;               /* the form object as in the TD (borrowed ref of td->json) */
};

struct td_affordance {
    char *name;
    enum wot_aff_kind kind; /* AFF_PROPERTY, AFF_ACTION or AFF_EVENT */
    bool read_only, write_only, observable;
    json_t *json; /* the affordance object (borrowed ref of td->json) */
    struct td_form *forms;
    size_t n_forms;
};

struct td {
    char *path; /* file it came from */
    char *id;
    char *title;
    char *base;   /* NULL when absent */
    json_t *json; /* the whole document (owned) */
    struct td_affordance *affs;
    size_t n_affs;
    struct td_form *forms; /* top-level (thing) forms, e.g. readallproperties */
    size_t n_forms;
    /* OSCORE passthrough (the device speaks OSCORE itself): the href of
     * the first coap:// form whose security is OSCORE, NULL when none.
     * The outer messages go to its scheme and authority. */
    const char *oscore_href;
};

struct td_limits {
    size_t max_size;  /* bytes */
    size_t max_depth; /* JSON nesting */
};

/* Rules (TD 1.1): "id" (string) is required; a missing "title" is a
 * warning and the id stands in. When a form has no "op", the defaults of
 * TD 1.1 §5.3.4.2 apply: readproperty + writeproperty (only the first for
 * readOnly, only the second for writeOnly), invokeaction, subscribeevent +
 * unsubscribeevent; top-level forms need an explicit op. Ops that do not
 * fit the affordance (invokeaction on a property, writeproperty on a
 * readOnly property, ...) and unknown ops are dropped with a warning. A
 * form without a string href, or with a relative href and no absolute
 * "base", is skipped with a warning; an affordance left without forms is
 * kept (n_forms 0, a warning). The TD is refused when no form at all
 * resolves to an http(s), coap(s) or mqtt(s) URI with a host.
 *
 * Security (TD 1.1 §5.3.1.3): a form's "security" (a name or an array of
 * names, all of which apply) replaces the thing's. A definition whose
 * "scheme" is "oscore", or a compact IRI whose term is
 * "OSCORESecurityScheme" ("wotgw:OSCORESecurityScheme"), is OSCORE
 * (RFC 8613); a "combo" is OSCORE when its allOf names one, or every
 * name of its oneOf is. A coap:// form that needs OSCORE is a passthrough
 * form (td_form.oscore): wotgw cannot read nor write what it carries and
 * forwards OSCORE messages to it unchanged (proxy_oscore_forward); an
 * http(s) or mqtt(s) form that needs OSCORE is unsupported (a warning).
 * Passthrough forms on more than one device address: only the first one's
 * is used (a warning). A malformed "securityDefinitions" or "security", or
 * a name with no definition, is a warning; the form is then taken as
 * needing no OSCORE. Other schemes are not looked at: every other form is
 * called without credentials, as before.
 *
 * Parses a TD. path is only used in messages. lim NULL (or a 0 field)
 * means 1 MiB and depth 32. Strings from the TD in messages have control
 * characters and URI userinfo masked. Returns 0, -EINVAL (the
 * reason in d), or -ENOMEM. */
int td_parse(const char *path, const char *buf, size_t len, const struct td_limits *lim,
             struct td **out, struct diags *d);
int td_load_file(const char *path, const struct td_limits *lim, struct td **out, struct diags *d);
void td_free(struct td *td);

/* Finds an affordance by kind and name; NULL when absent. */
const struct td_affordance *td_find(const struct td *td, enum wot_aff_kind kind, const char *name);
/* Finds any affordance with that name (properties, then actions, then
 * events); NULL when absent. */
const struct td_affordance *td_find_name(const struct td *td, const char *name);
/* The device form to use for op on aff (NULL aff: thing-level forms):
 * the first supported form whose ops include op, preferring protocol
 * pref when several match; OSCORE passthrough forms are never returned.
 * NULL when the device has none. */
const struct td_form *td_find_form(const struct td *td, const struct td_affordance *aff,
                                   enum wot_op op, int pref /* enum wot_protocol or -1 */);
/* Bit set of the operations the device supports on aff (NULL: thing):
 * the union of the ops of its supported forms, OSCORE passthrough forms
 * included. */
uint32_t td_ops(const struct td *td, const struct td_affordance *aff);
/* The first OSCORE passthrough form of aff (NULL: thing level) whose ops
 * include op (op < 0: any op); NULL when none. */
const struct td_form *td_find_oscore_form(const struct td *td, const struct td_affordance *aff,
                                          int op);

/* RFC 3986 §5.2 reference resolution: *out (caller frees) is ref resolved
 * against base, with dot segments removed and the scheme in lower case.
 * base may be NULL when ref has a scheme. -EINVAL when ref is relative and
 * base is NULL or has no scheme; -ENOMEM. */
int td_resolve_uri(const char *base, const char *ref, char **out);
