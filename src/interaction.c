/* interaction.c - names of WoT operations, affordance kinds, protocols. */
#include "interaction.h"

#include <string.h>

static const char *const op_names[WOT_OP__COUNT] = {
        [WOT_OP_READPROPERTY] = "readproperty",
        [WOT_OP_WRITEPROPERTY] = "writeproperty",
        [WOT_OP_OBSERVEPROPERTY] = "observeproperty",
        [WOT_OP_UNOBSERVEPROPERTY] = "unobserveproperty",
        [WOT_OP_INVOKEACTION] = "invokeaction",
        [WOT_OP_QUERYACTION] = "queryaction",
        [WOT_OP_CANCELACTION] = "cancelaction",
        [WOT_OP_SUBSCRIBEEVENT] = "subscribeevent",
        [WOT_OP_UNSUBSCRIBEEVENT] = "unsubscribeevent",
        [WOT_OP_READALLPROPERTIES] = "readallproperties",
        [WOT_OP_WRITEALLPROPERTIES] = "writeallproperties",
        [WOT_OP_READMULTIPLEPROPERTIES] = "readmultipleproperties",
        [WOT_OP_WRITEMULTIPLEPROPERTIES] = "writemultipleproperties",
        [WOT_OP_OBSERVEALLPROPERTIES] = "observeallproperties",
        [WOT_OP_UNOBSERVEALLPROPERTIES] = "unobserveallproperties",
        [WOT_OP_QUERYALLACTIONS] = "queryallactions",
        [WOT_OP_SUBSCRIBEALLEVENTS] = "subscribeallevents",
        [WOT_OP_UNSUBSCRIBEALLEVENTS] = "unsubscribeallevents",
};

const char *wot_op_name(enum wot_op op)
{
    if ((int)op < 0 || op >= WOT_OP__COUNT)
        return "invalid";
    return op_names[op];
}

enum wot_op wot_op_from_name(const char *name)
{
    if (!name)
        return WOT_OP__INVALID;
    for (int i = 0; i < WOT_OP__COUNT; i++)
        if (!strcmp(op_names[i], name))
            return (enum wot_op)i;
    return WOT_OP__INVALID;
}

enum wot_aff_kind wot_op_aff_kind(enum wot_op op)
{
    switch (op) {
    case WOT_OP_READPROPERTY:
    case WOT_OP_WRITEPROPERTY:
    case WOT_OP_OBSERVEPROPERTY:
    case WOT_OP_UNOBSERVEPROPERTY: return AFF_PROPERTY;
    case WOT_OP_INVOKEACTION:
    case WOT_OP_QUERYACTION:
    case WOT_OP_CANCELACTION: return AFF_ACTION;
    case WOT_OP_SUBSCRIBEEVENT:
    case WOT_OP_UNSUBSCRIBEEVENT: return AFF_EVENT;
    default: return AFF_THING;
    }
}

const char *wot_aff_kind_name(enum wot_aff_kind k)
{
    switch (k) {
    case AFF_PROPERTY: return "property";
    case AFF_ACTION: return "action";
    case AFF_EVENT: return "event";
    default: return "thing";
    }
}

const char *wot_protocol_name(enum wot_protocol p)
{
    switch (p) {
    case PROTO_HTTP: return "https";
    case PROTO_COAP: return "coaps";
    case PROTO_MQTT: return "mqtts";
    default: return "unknown";
    }
}
