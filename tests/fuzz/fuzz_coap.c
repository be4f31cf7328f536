/* fuzz_coap.c - the CoAP side of the front end and the device client on
 * arbitrary bytes: a datagram parsed as a CoAP message (libcoap) and
 * mapped to a route and Content-Format as the CoAPS front end does
 * (coaps_map_request), the same bytes as a device coap:// URL
 * (south_coap_parse_url) and as a media type (coap_format_from_type).
 * Never crashes or leaks; accepted results keep their bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coap_util.h"
#include "north/coaps.h"
#include "south/coap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int started;
    if (!started) {
        coap_startup();
        coap_set_log_level(LOG_EMERG);
        started = 1;
    }
    coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, size + 16);
    if (pdu && coap_pdu_parse(COAP_PROTO_UDP, data, size, pdu)) {
        char *buf = NULL;
        struct http_route route;
        int format;
        const char *why = NULL;
        int st = coaps_map_request(pdu, &buf, &route, &format, &why);
        if (st && (!why || (st != 400 && st != 404 && st != 500)))
            abort();
        if (!st && (route.kind == HTTP_ROUTE_NONE || format < COAP_FORMAT_NONE || format > 0xffff))
            abort();
        if (!st && route.thing && strlen(route.thing) > COAP_URI_PATH_MAX)
            abort();
        free(buf);
    }
    if (pdu)
        coap_delete_pdu(pdu);

    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    uint8_t ubuf[4096];
    struct south_coap_url u;
    if (south_coap_parse_url(s, ubuf, sizeof(ubuf), &u) == 0) {
        if (!u.port || u.n_path > SOUTH_COAP_MAX_OPTS || u.n_query > SOUTH_COAP_MAX_OPTS ||
            strlen(u.host) >= sizeof(u.host))
            abort();
        for (size_t i = 0; i < u.n_path; i++)
            if (u.path_len[i] > 255 || u.path[i] < ubuf ||
                u.path[i] + u.path_len[i] > ubuf + sizeof(ubuf))
                abort();
    }
    int fmt = coap_format_from_type(s);
    if (fmt < 0 || !coap_format_to_type(fmt))
        abort();
    free(s);
    return 0;
}
