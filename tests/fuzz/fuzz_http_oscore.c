/* fuzz_http_oscore.c - OSCORE over HTTP (north/http_oscore.c) on
 * arbitrary bytes: the OSCORE header field, the request target, and the
 * route of an inner request whose options are decoded from the input
 * (objsec/oscore.h's option decoder). Never crashes; a header that decodes
 * encodes back to one that decodes to the same value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coap_util.h"
#include "north/http_oscore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    uint8_t v[OSCORE_OPTION_VALUE_MAX], w[OSCORE_OPTION_VALUE_MAX];
    size_t n = 0, m = 0;
    if (http_oscore_header_decode(s, v, &n) == 0) {
        char enc[HTTP_OSCORE_HDR_MAX];
        if (n > OSCORE_OPTION_VALUE_MAX)
            abort();
        http_oscore_header_encode(v, n, enc);
        if (http_oscore_header_decode(enc, w, &m) != 0 || m != n || memcmp(v, w, n))
            abort();
    }

    char *buf = malloc(size + 1);
    if (buf) {
        const char *thing = NULL;
        enum http_oscore_target t = http_oscore_target(s, buf, size + 1, &thing);
        if ((t == HTTP_OSCORE_DEVICE) != (thing != NULL))
            abort();
        if (thing && !*thing)
            abort();
        free(buf);
    }

    /* the inner request: options and payload as the decoder reads them */
    struct oscore_msg in = {.code = size ? data[0] : 1};
    size_t used = 0;
    if (size > 1 && oscore_options_decode(data + 1, size - 1, in.opts, OSCORE_MAX_OPTIONS,
                                          &in.n_opts, &used) == 0) {
        char *rb = NULL;
        struct http_route r;
        int fmt = 0;
        const char *why = NULL;
        int st = http_oscore_inner_route(&in, &rb, &r, &fmt, &why);
        if (st == 0 && (r.kind == HTTP_ROUTE_NONE || fmt < COAP_FORMAT_NONE || fmt > 0xffff))
            abort();
        if (st != 0 && !why)
            abort();
        free(rb);
    }
    free(s);
    return 0;
}
