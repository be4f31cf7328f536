/* fuzz_http_path.c - the HTTPS front end's hand-written parsers on
 * arbitrary bytes: the request path and its routes, the Authorization and
 * API-key header values, and the SSE parser of device event streams.
 * Never crashes; whatever is accepted keeps the documented invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "north/http_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_event(void *ud, const char *event, const uint8_t *d, size_t len)
{
    size_t *total = ud;
    if (strlen(event) > HTTP_SSE_EVENT_MAX || len > 4096)
        abort();
    /* what is re-encoded for a consumer always ends an event */
    size_t cap = http_sse_encoded_max(len, event);
    char *out = malloc(cap);
    if (!out)
        return 0;
    size_t n = http_sse_encode(d, len, event, out, cap);
    if (n < 2 || n > cap || out[n - 1] != '\n' || out[n - 2] != '\n')
        abort();
    free(out);
    *total += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    /* paths */
    char *buf = malloc(size + 1);
    if (buf) {
        const char *segs[HTTP_SEGMENTS_MAX];
        size_t n = 0;
        if (http_path_split(s, buf, size + 1, segs, HTTP_SEGMENTS_MAX, &n) == 0) {
            for (size_t i = 0; i < n; i++) {
                if (!strcmp(segs[i], ".") || !strcmp(segs[i], ".."))
                    abort();
                for (const char *p = segs[i]; *p; p++)
                    if ((unsigned char)*p < 0x20 || *p == 0x7f)
                        abort();
            }
        }
        struct http_route r;
        if (http_route_parse(s, buf, size + 1, &r) == 0 && r.kind != HTTP_ROUTE_NONE) {
            if (r.kind >= HTTP_ROUTE_TD && (!r.thing || !*r.thing))
                abort();
            if (r.kind >= HTTP_ROUTE_PROPERTY && r.kind != HTTP_ROUTE_READALL &&
                (!r.aff || !*r.aff))
                abort();
        }
        free(buf);
    }

    /* header values */
    char basic[HTTP_BASIC_MAX];
    struct credentials c = {0};
    http_parse_authorization(s, &c, basic);
    if (c.basic_user && (!c.basic_pass || c.malformed || !*c.basic_user))
        abort();
    if (c.bearer && (c.bearer_len == 0 || c.malformed))
        abort();
    memset(&c, 0, sizeof(c));
    http_parse_apikey(s, &c);
    if (c.apikey && (c.apikey_len == 0 || c.malformed))
        abort();
    (void)http_content_type_ok(s);

    /* SSE, fed in two pieces */
    struct http_sse_parser p;
    size_t total = 0;
    http_sse_parser_init(&p, 4096);
    size_t half = size / 2;
    if (http_sse_feed(&p, data, half, on_event, &total) == 0)
        (void)http_sse_feed(&p, data + half, size - half, on_event, &total);
    http_sse_parser_free(&p);

    free(s);
    return 0;
}
