/* td.h - the simulated device's own Thing Descriptions (TD 1.1, nosec,
 * "base": "http://AUTHORITY/THING/", relative hrefs, ids
 * urn:dev:wotgw-sim:THING). The HTTP forms are written here; a CoAP or MQTT
 * binding adds its forms (absolute hrefs) beside them. */
#pragma once

#include <jansson.h>

#include "things.h"

/* authority: "127.0.0.1:8081" or "[::1]:8081". NULL on ENOMEM. */
json_t *sim_td(const struct sim_thing *t, const char *authority);
/* The same thing over plain CoAP (coap.h): id urn:dev:wotgw-sim:coap-THING,
 * "base": "coap://AUTHORITY/THING/", CoAP forms only (cov:method;
 * observeproperty with subprotocol cov:observe), no event forms. */
json_t *sim_td_coap(const struct sim_thing *t, const char *authority);
/* The same CoAP forms for a device that speaks OSCORE (RFC 8613) itself
 * (coap.h, --oscore-contexts): id urn:dev:wotgw-sim:oscore-THING, the
 * security scheme "wotgw:OSCORESecurityScheme" (the "wotgw" context term
 * of the gateway's exposed TDs) on the whole thing. */
json_t *sim_td_oscore(const struct sim_thing *t, const char *authority);
