/* coap_util.c - see coap_util.h. */
#define _GNU_SOURCE
#include "coap_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct format {
    int num;
    const char *type;
};

/* IANA CoAP Content-Formats (the ones named in issue 4 and a few more).
 * The first entry of a number is its canonical type. */
static const struct format formats[] = {
        {0, "text/plain;charset=utf-8"},
        {16, "application/cose;cose-type=\"cose-encrypt0\""},
        {17, "application/cose;cose-type=\"cose-mac0\""},
        {18, "application/cose;cose-type=\"cose-sign1\""},
        {40, "application/link-format"},
        {41, "application/xml"},
        {42, "application/octet-stream"},
        {47, "application/exi"},
        {50, "application/json"},
        {51, "application/json-patch+json"},
        {52, "application/merge-patch+json"},
        {60, "application/cbor"},
        {61, "application/cwt"},
        {96, "application/cose;cose-type=\"cose-encrypt\""},
        {97, "application/cose;cose-type=\"cose-mac\""},
        {98, "application/cose;cose-type=\"cose-sign\""},
        {110, "application/senml+json"},
        {111, "application/sensml+json"},
        {112, "application/senml+cbor"},
        {113, "application/sensml+cbor"},
        {432, "application/td+json"},
        {10001, "application/oscore"},
};

/* Media type without blanks, lower case, parameters kept (for the COSE
 * ones), into buf. */
static void normalize(const char *in, char *buf, size_t cap)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '\t')
            continue;
        buf[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    buf[n] = '\0';
}

int coap_format_from_type(const char *ct)
{
    char norm[160], base[160];
    if (!ct)
        return COAP_FORMAT_NONE;
    normalize(ct, norm, sizeof(norm));
    size_t bl = strcspn(norm, ";");
    memcpy(base, norm, bl);
    base[bl] = '\0';
    /* a full match first (COSE types differ only in their parameter) */
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (!strcmp(norm, formats[i].type))
            return formats[i].num;
    if (!strcmp(base, "text/plain"))
        return 0;
    if (!strcmp(base, "application/cose")) {
        /* cose-type missing or unknown: COSE_Sign1 is not assumed */
        return COAP_FORMAT_OCTET_STREAM;
    }
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (!strchr(formats[i].type, ';') && !strcmp(base, formats[i].type))
            return formats[i].num;
    return COAP_FORMAT_OCTET_STREAM;
}

const char *coap_format_to_type(int num)
{
    if (num == COAP_FORMAT_NONE)
        return NULL;
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (formats[i].num == num)
            return num == 0 ? "text/plain" : formats[i].type;
    return "application/octet-stream";
}

#define CC(c, d) ((uint8_t)((c) << 5 | (d)))

uint8_t coap_code_from_http(int status, bool get)
{
    switch (status) {
    case 200: return get ? CC(2, 5) : CC(2, 4);
    case 201: return CC(2, 1);
    case 202: return get ? CC(2, 5) : CC(2, 4);
    case 203: return CC(2, 5);
    case 204: return get ? CC(2, 5) : CC(2, 4);
    case 400: return CC(4, 0);
    case 401: return CC(4, 1);
    case 402: return CC(4, 0);
    case 403: return CC(4, 3);
    case 404: return CC(4, 4);
    case 405: return CC(4, 5);
    case 406: return CC(4, 6);
    case 408: return CC(4, 8);
    case 409: return CC(4, 9);
    case 412: return CC(4, 12);
    case 413: return CC(4, 13);
    case 414: return CC(4, 0); /* no CoAP counterpart */
    case 415: return CC(4, 15);
    case 422: return CC(4, 22);
    case 429: return CC(4, 29);
    case 500: return CC(5, 0);
    case 501: return CC(5, 1);
    case 502: return CC(5, 2);
    case 503: return CC(5, 3);
    case 504: return CC(5, 4);
    case 505: return CC(5, 0);
    default: break;
    }
    if (status >= 200 && status < 300)
        return get ? CC(2, 5) : CC(2, 4);
    if (status >= 400 && status < 500)
        return CC(4, 0);
    if (status >= 500 && status < 600)
        return CC(5, 0);
    return CC(5, 2); /* 1xx, 3xx: nothing a CoAP consumer can follow */
}

int coap_code_to_http(uint8_t code, bool has_payload)
{
    unsigned c = code >> 5, d = code & 31;
    if (c == 2) {
        switch (d) {
        case 1: return 201;
        case 2:
        case 4: return has_payload ? 200 : 204;
        case 3:
        case 5: return 200;
        default: return has_payload ? 200 : 204;
        }
    }
    if (c == 4) {
        switch (d) {
        case 0: return 400;
        case 1: return 401;
        case 2: return 400; /* bad option */
        case 3: return 403;
        case 4: return 404;
        case 5: return 405;
        case 6: return 406;
        case 8: return 400; /* request entity incomplete */
        case 9: return 409;
        case 12: return 412;
        case 13: return 413;
        case 15: return 415;
        case 22: return 422;
        case 29: return 429;
        default: return 400;
        }
    }
    if (c == 5) {
        switch (d) {
        case 0: return 500;
        case 1: return 501;
        case 2: return 502;
        case 3: return 503;
        case 4: return 504;
        case 5: return 502; /* proxying not supported */
        default: return 500;
        }
    }
    return 502;
}

const char *coap_code_str(uint8_t code, char buf[8])
{
    snprintf(buf, 8, "%u.%02u", (unsigned)(code >> 5), (unsigned)(code & 31));
    return buf;
}

static bool unreserved(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int coap_path_from_segments(const uint8_t *const *segs, const size_t *lens, size_t n, char *out,
                            size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (cap < 2)
        return -E2BIG;
    if (n == 0) {
        out[0] = '/';
        out[1] = '\0';
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= cap)
            return -E2BIG;
        out[o++] = '/';
        for (size_t k = 0; k < lens[i]; k++) {
            uint8_t c = segs[i][k];
            if (unreserved(c)) {
                if (o + 1 >= cap)
                    return -E2BIG;
                out[o++] = (char)c;
            } else {
                if (o + 3 >= cap)
                    return -E2BIG;
                out[o++] = '%';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 15];
            }
        }
    }
    out[o] = '\0';
    return (int)o;
}

const char *coap_method_name(uint8_t code)
{
    static const char *const names[] = {NULL,     "GET",   "POST",  "PUT",
                                        "DELETE", "FETCH", "PATCH", "iPATCH"};
    return code < sizeof(names) / sizeof(names[0]) ? names[code] : NULL;
}

uint8_t coap_method_code(const char *m)
{
    if (!m)
        return 0;
    for (uint8_t c = 1; c <= 7; c++)
        if (!strcmp(coap_method_name(c), m))
            return c;
    return 0;
}

int coap_route_from_segments(const uint8_t *const *segs, const size_t *lens, size_t n, char **buf,
                             struct http_route *route, const char **why)
{
    size_t total = 0;
    *buf = NULL;
    *route = (struct http_route){0};
    for (size_t i = 0; i < n; i++)
        total += 3 * lens[i] + 1;
    if (n > COAP_SEGMENTS_MAX + 1 || total > COAP_URI_PATH_MAX) {
        *why = "no such resource";
        return 404;
    }
    char *enc = malloc(total + 2), *dec = malloc(total + 2);
    if (!enc || !dec || coap_path_from_segments(segs, lens, n, enc, total + 2) < 0) {
        free(enc);
        free(dec);
        *why = "internal error";
        return 500;
    }
    int r = http_route_parse(enc, dec, total + 2, route);
    free(enc);
    *buf = dec;
    if (r < 0) {
        *route = (struct http_route){0};
        *why = "malformed request path (a '.' or '..' segment, a control character or bytes "
               "that are not UTF-8)";
        return 400;
    }
    if (route->kind == HTTP_ROUTE_NONE) {
        *why = "no such resource";
        return 404;
    }
    return 0;
}
