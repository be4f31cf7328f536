/* http_oscore.c - see http_oscore.h. */
#define _GNU_SOURCE
#include "http_oscore.h"

#include <errno.h>
#include <string.h>

#include "../coap_util.h"
#include "../util.h"

int http_oscore_header_decode(const char *value, uint8_t out[OSCORE_OPTION_VALUE_MAX], size_t *len)
{
    *len = 0;
    if (!value)
        return -EINVAL;
    size_t n = strlen(value);
    /* §11.1: OSCORE = 2*base64url-char */
    if (n < 2 || n > HTTP_OSCORE_HDR_MAX - 1)
        return -EINVAL;
    if (b64url_decode(value, n, out, OSCORE_OPTION_VALUE_MAX, len) < 0)
        return -EINVAL;
    if (*len == 1 && out[0] == 0) /* "AA": the empty option value */
        *len = 0;
    return 0;
}

void http_oscore_header_encode(const uint8_t *v, size_t len, char *out)
{
    /* an empty option value is sent as the one flag byte 0x00 ("AA", as
     * in the examples of RFC 8613 §11.5): the header is never empty */
    static const uint8_t zero = 0;
    if (!len)
        b64url_encode(&zero, 1, out);
    else
        b64url_encode(v, len, out);
}

enum http_oscore_target http_oscore_target(const char *path, char *buf, size_t cap,
                                           const char **thing)
{
    static const char suffix[] = "/" HTTP_OSCORE_PASS;
    *thing = NULL;
    if (!path)
        return HTTP_OSCORE_NONE;
    if (!strcmp(path, "/"))
        return HTTP_OSCORE_GATEWAY;
    size_t n = strlen(path), sl = sizeof(suffix) - 1;
    if (n <= sl || n >= cap || strcmp(path + n - sl, suffix))
        return HTTP_OSCORE_NONE;
    /* "/things/ID" is what is left: checked and decoded as the TD route */
    char prefix[HTTP_PATH_MAX + 1];
    if (n - sl > HTTP_PATH_MAX)
        return HTTP_OSCORE_NONE;
    memcpy(prefix, path, n - sl);
    prefix[n - sl] = '\0';
    struct http_route r;
    if (http_route_parse(prefix, buf, cap, &r) < 0 || r.kind != HTTP_ROUTE_TD || !r.thing)
        return HTTP_OSCORE_NONE;
    *thing = r.thing;
    return HTTP_OSCORE_DEVICE;
}

void http_oscore_outer_request(const uint8_t *opt, size_t opt_len, const uint8_t *body, size_t len,
                               struct oscore_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->code = 0x02; /* POST */
    m->opts[0] = (struct oscore_option){
            .number = OSCORE_OPT_OSCORE, .len = (uint16_t)opt_len, .value = opt};
    m->n_opts = 1;
    m->payload = len ? body : NULL;
    m->payload_len = len;
}

const struct oscore_option *http_oscore_find(const struct oscore_msg *m)
{
    for (size_t i = 0; i < m->n_opts; i++)
        if (m->opts[i].number == OSCORE_OPT_OSCORE)
            return &m->opts[i];
    return NULL;
}

int http_oscore_status(const struct oscore_msg *outer)
{
    if (http_oscore_find(outer) && (outer->code >> 5) == 2)
        return 200;
    return coap_code_to_http(outer->code, outer->payload_len > 0);
}

int http_oscore_inner_route(const struct oscore_msg *inner, char **buf, struct http_route *route,
                            int *format, const char **why)
{
    const uint8_t *segs[COAP_SEGMENTS_MAX + 1];
    size_t lens[COAP_SEGMENTS_MAX + 1], n = 0;
    *buf = NULL;
    *route = (struct http_route){0};
    *format = COAP_FORMAT_NONE;
    for (size_t i = 0; i < inner->n_opts; i++) {
        const struct oscore_option *o = &inner->opts[i];
        if (o->number == 11) { /* Uri-Path */
            if (n == COAP_SEGMENTS_MAX + 1) {
                *why = "no such resource";
                return 404;
            }
            segs[n] = o->value;
            lens[n++] = o->len;
        } else if (o->number == 12) { /* Content-Format */
            if (o->len > 2) {
                *why = "malformed Content-Format option";
                return 400;
            }
            int f = 0;
            for (size_t k = 0; k < o->len; k++)
                f = f << 8 | o->value[k];
            *format = f;
        }
    }
    return coap_route_from_segments(segs, lens, n, buf, route, why);
}
