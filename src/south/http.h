/* south/http.h - the HTTP device client: libcurl's multi socket interface
 * driven by the daemon's sd-event loop (no threads, no blocking call).
 *
 * One client per loop. Each call is one request to a device's nosec form;
 * connections are reused per device (curl's connection cache), DNS is
 * asynchronous (curl's threaded resolver), every call has its own timeout.
 * Payload bytes and content types pass through unchanged.
 *
 * Completion is always reported through done() exactly once, from the loop
 * (never from inside south_http_start()), unless the call was cancelled
 * first. After done() or south_http_cancel() the call handle is gone.
 *
 * From inside done() and chunk() it is safe to start new calls, cancel any
 * call (the current one too, from chunk()) and unpause streams; not to
 * call south_http_free().
 *
 * What goes to the device: plain http:// only (https:// only for internal
 * callers that set tls, see struct south_http_request); no redirect is followed (a
 * 3xx is passed through as the device's answer); no proxy from the
 * environment; HTTP/1.1 keep-alive; headers are Host, Content-Length when
 * there is a body, and Content-Type / Accept only when given (curl adds no
 * "Expect: 100-continue", no default Accept, no form content type).
 * Response bytes are not decoded (no Content-Encoding handling).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

struct south_http;      /* the client */
struct south_http_call; /* one request in flight */

/* How a call ended. */
enum south_http_error {
    SOUTH_HTTP_OK,        /* the device answered (any HTTP status) */
    SOUTH_HTTP_CONNECT,   /* refused / unreachable / DNS failure -> 502 */
    SOUTH_HTTP_TIMEOUT,   /* no complete answer within timeout_us -> 504 */
    SOUTH_HTTP_PROTOCOL,  /* closed mid-answer, malformed HTTP -> 502 */
    SOUTH_HTTP_TOO_LARGE, /* answer body over max_response -> 502 */
    SOUTH_HTTP_INTERNAL,  /* out of memory, curl setup failure -> 500 */
};
const char *south_http_error_name(enum south_http_error e); /* "connect", ... */

struct south_http_request {
    const char *method;       /* "GET", "PUT", "POST", ... */
    const char *url;          /* absolute http:// URL of the device form */
    const char *content_type; /* of body; NULL: no Content-Type header */
    const uint8_t *body;      /* copied by south_http_start(); may be NULL */
    size_t body_len;
    const char *accept;          /* Accept header, NULL: none */
    uint64_t timeout_us;         /* whole call; 0: no overall timeout (streams), the
                                  * connect phase is still bounded by connect_timeout_us */
    uint64_t connect_timeout_us; /* 0: same as timeout_us, or 10 s for streams */
    size_t max_response;         /* body limit when not streaming; 0: 1 MiB */
    bool stream;                 /* deliver the body through chunk() as it arrives */
    /* Internal callers only (auth/extiss.h), never device forms: allow an
     * https:// URL, verified (TLS >= 1.2, peer certificate and host name)
     * against ca_file (PEM bundle; NULL: the system store). Such a call
     * gets an easy handle of its own that is wiped and destroyed after
     * it, so neither its TLS settings nor its secrets reach another call. */
    bool tls;
    const char *ca_file;
    /* Authorization header value (tls calls only, e.g. "Basic ..."). */
    const char *authorization;
};

struct south_http_response {
    enum south_http_error error;
    const char *error_text;   /* short, static or curl's; safe to log; NULL if OK */
    long status;              /* HTTP status when error == SOUTH_HTTP_OK */
    const char *content_type; /* device's Content-Type or NULL */
    const uint8_t *body;      /* whole body (not streaming); NULL/0 when empty */
    size_t body_len;
    uint64_t duration_us;
};

/* Called once with the outcome; resp and its pointers are valid only
 * during the call. For a stream, called when the device ends it. */
typedef void (*south_http_done_fn)(void *ud, const struct south_http_response *resp);

/* Streams only. The first call comes as soon as the final header block has
 * arrived (status and content type in *head, data NULL; its return value is
 * ignored), then one per chunk of body bytes. A stream that ends without a
 * body byte still gets the head call before done(). Return 0 when the bytes
 * were taken, SOUTH_HTTP_PAUSE to leave them with the client: the transfer
 * pauses and the same bytes come again after south_http_unpause(). */
#define SOUTH_HTTP_PAUSE 1
typedef int (*south_http_chunk_fn)(void *ud, const struct south_http_response *head,
                                   const uint8_t *data, size_t len);

int south_http_new(sd_event *ev, struct south_http **out);
/* Cancels every call in flight without calling done(); NULL is fine. Not
 * from inside done() or chunk(). */
void south_http_free(struct south_http *c);

/* Starts one request. chunk may be NULL unless req->stream. Returns 0 and
 * the handle (may be ignored), or a negative errno (-EINVAL for a URL that
 * is not http:// (or https:// with tls), -ENOMEM) and done() is not called. */
int south_http_start(struct south_http *c, const struct south_http_request *req,
                     south_http_done_fn done, south_http_chunk_fn chunk, void *ud,
                     struct south_http_call **out);
/* Stops a call; done() is not called afterwards. NULL is fine. */
void south_http_cancel(struct south_http_call *call);
/* Resumes a stream paused by chunk() returning SOUTH_HTTP_PAUSE. The bytes
 * come again from the loop, never from inside this call. A no-op for a call
 * that is not paused. */
void south_http_unpause(struct south_http_call *call);
/* Calls in flight (for STATUS= and tests). */
size_t south_http_active(const struct south_http *c);
