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

#include "interaction.h"
#include "util.h"

#define TD_DEFAULT_CONTENT_TYPE "application/json"

struct td_form {
    char *href;         /* absolute URI (base resolved) */
    char *scheme;       /* URI scheme of href: "http", "coap", "mqtt", ... */
    bool supported;     /* scheme maps to a protocol wotgw speaks south */
    enum wot_protocol protocol; /* valid when supported */
    char *content_type; /* default application/json */
    uint32_t ops;       /* bit (1u << enum wot_op) per operation */
    char *method;       /* htv:methodName, NULL when absent */
    char *subprotocol;  /* e.g. "longpoll", "sse", "websub", NULL */
    json_t *json;       /* the form object as in the TD (borrowed ref of td->json) */
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
    char *path;  /* file it came from */
    char *id;
    char *title;
    char *base; /* NULL when absent */
    json_t *json; /* the whole document (owned) */
    struct td_affordance *affs;
    size_t n_affs;
    struct td_form *forms; /* top-level (thing) forms, e.g. readallproperties */
    size_t n_forms;
};

struct td_limits {
    size_t max_size;  /* bytes */
    size_t max_depth; /* JSON nesting */
};

/* Parses a TD. path is only used in messages. Returns 0, -EINVAL (the
 * reason in d), or -ENOMEM. */
int td_parse(const char *path, const char *buf, size_t len, const struct td_limits *lim,
             struct td **out, struct diags *d);
int td_load_file(const char *path, const struct td_limits *lim, struct td **out,
                 struct diags *d);
void td_free(struct td *td);

/* Finds an affordance by kind and name; NULL when absent. */
const struct td_affordance *td_find(const struct td *td, enum wot_aff_kind kind,
                                    const char *name);
/* Finds any affordance with that name (properties, then actions, then
 * events); NULL when absent. */
const struct td_affordance *td_find_name(const struct td *td, const char *name);
/* The device form to use for op on aff (NULL aff: thing-level forms):
 * the first supported form whose ops include op, preferring protocol
 * pref when several match. NULL when the device has none. */
const struct td_form *td_find_form(const struct td *td, const struct td_affordance *aff,
                                   enum wot_op op, int pref /* enum wot_protocol or -1 */);
/* Bit set of the operations the device supports on aff (NULL: thing). */
uint32_t td_ops(const struct td *td, const struct td_affordance *aff);
