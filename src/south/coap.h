/* south/coap.h - the CoAP device client: libcoap 3 (its own context, so
 * its own epoll fd) driven by the daemon's sd-event loop, for nosec
 * coap:// device forms. No threads, no blocking call.
 *
 * Each call is one confirmable request (libcoap retransmits per RFC 7252
 * §4.2) with its own overall timeout; block-wise transfers (RFC 7959) go
 * both ways inside libcoap, so the answer arrives whole. One UDP session
 * per device address is kept for the life of the client. Payload bytes
 * and the Content-Format pass through unchanged. Observations (RFC 7641)
 * of the same URL are shared: one registration with the device however
 * many calls observe it; a call that joins later gets the device's last
 * notification (from the loop) as its first; the last call to leave
 * deregisters.
 *
 * The OSCORE option (9) is known to the client (libcoap 4.3.1 has no
 * OSCORE of its own): it passes OSCORE messages through unchanged
 * (south_coap_request.oscore).
 *
 * Device addresses must be IP literals ("localhost" is taken as
 * 127.0.0.1): wotgw never resolves names on the loop.
 *
 * done() is called exactly once, from the loop (never from inside
 * south_coap_start()), unless the call was cancelled first; after done()
 * or south_coap_cancel() the handle is gone. From inside done() it is
 * safe to start and cancel calls, not to free the client.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct south_coap;
struct south_coap_call;

enum south_coap_error {
    SOUTH_COAP_OK,        /* the device answered (any response code) */
    SOUTH_COAP_CONNECT,   /* unreachable, RST, retransmissions exhausted, bad address -> 502 */
    SOUTH_COAP_TIMEOUT,   /* no answer within timeout_us -> 504 */
    SOUTH_COAP_PROTOCOL,  /* an answer that is not a response -> 502 */
    SOUTH_COAP_TOO_LARGE, /* answer body over max_response -> 502 */
    SOUTH_COAP_INTERNAL,  /* out of memory, libcoap setup failure -> 500 */
};
const char *south_coap_error_name(enum south_coap_error e);

struct south_coap_request {
    uint8_t method;      /* CoAP method code: 1 GET, 2 POST, 3 PUT, ... */
    const char *url;     /* absolute coap:// URL of the device form */
    int content_format;  /* of body; -1: no Content-Format option */
    const uint8_t *body; /* copied; may be NULL */
    size_t body_len;
    uint64_t timeout_us; /* whole call, 0: 10 s */
    size_t max_response; /* 0: 1 MiB */
    /* OSCORE passthrough (RFC 8613, the device speaks it itself): the
     * request carries the OSCORE option (9) with this value (may be
     * empty) and the body as it is; method is the outer code (POST or
     * FETCH), content_format must be -1. Uri-Path and Uri-Query are
     * inside the ciphertext: the URL's path and query are NOT sent; its
     * host goes as Uri-Host when it is a name (not an IP literal). */
    bool oscore;
    const uint8_t *oscore_option;
    size_t oscore_option_len;
};

struct south_coap_response {
    enum south_coap_error error;
    const char *error_text; /* static, safe to log; NULL if OK */
    uint8_t code;           /* CoAP response code (class << 5 | detail) */
    int content_format;     /* -1 when the answer had none */
    const uint8_t *body;    /* whole body; valid only during done() */
    size_t body_len;
    bool final; /* notify(): the device answered without Observe, done() follows */
    /* the answer's OSCORE option (any answer; valid only during done()) */
    bool has_oscore;
    const uint8_t *oscore_option;
    size_t oscore_option_len;
};

typedef void (*south_coap_done_fn)(void *ud, const struct south_coap_response *resp);
/* An observation's notification (a 2.xx with Observe): resp as for done();
 * the call goes on. */
typedef void (*south_coap_notify_fn)(void *ud, const struct south_coap_response *resp);

int south_coap_new(sd_event *ev, struct south_coap **out);
/* Cancels every call without calling done(). NULL is fine. */
void south_coap_free(struct south_coap *c);
/* Starts one request. Returns 0 and the handle, or -EINVAL (not a coap://
 * URL, not an IP literal host, a path or query that cannot be encoded),
 * -ENOMEM; done() is then not called. */
int south_coap_start(struct south_coap *c, const struct south_coap_request *req,
                     south_coap_done_fn done, void *ud, struct south_coap_call **out);
/* Observes a resource (RFC 7641, GET with Observe 0), shared with every
 * other call observing the same URL with a plain GET (see above; anything
 * else gets an observation of its own): notify() for every
 * notification, the first within timeout_us (then no overall timeout);
 * done() when the device ends it (an answer without Observe is delivered
 * once through notify() and then ends it), an error, or RST. Cancelling
 * sends a deregistration. */
int south_coap_observe(struct south_coap *c, const struct south_coap_request *req,
                       south_coap_notify_fn notify, south_coap_done_fn done, void *ud,
                       struct south_coap_call **out);
void south_coap_cancel(struct south_coap_call *call);
size_t south_coap_active(const struct south_coap *c);

/* Splits a coap:// URL into host (brackets removed), port (default 5683),
 * and the percent-decoded path segments and query parts, each as Uri-Path /
 * Uri-Query option values written into buf. Pure (unit-tested, fuzzed).
 * Returns 0 or -EINVAL / -E2BIG. */
#define SOUTH_COAP_MAX_OPTS 32
struct south_coap_url {
    char host[64];
    uint16_t port;
    size_t n_path, n_query;
    const uint8_t *path[SOUTH_COAP_MAX_OPTS];
    size_t path_len[SOUTH_COAP_MAX_OPTS];
    const uint8_t *query[SOUTH_COAP_MAX_OPTS];
    size_t query_len[SOUTH_COAP_MAX_OPTS];
};
int south_coap_parse_url(const char *url, uint8_t *buf, size_t cap, struct south_coap_url *out);
