/* proxy.h - the protocol-neutral core between the north front ends and the
 * devices (DESIGN.md: "interaction -> policy -> router -> south client").
 *
 * A front end turns a protocol request into a struct interaction and calls
 * proxy_start(). The proxy finds the thing in the current state, asks the
 * policy (policy_decide), logs the outcome once (log_interaction, with
 * every field) and counts it in gw->counters, picks the device's form
 * (td_find_form) and calls the device in its protocol (HTTP through
 * south/http.h, nosec CoAP through south/coap.h with its response codes
 * mapped per RFC 8075; the switch in proxy.c names where MQTT devices
 * go). The outcome
 * comes back as a protocol-neutral struct proxy_result whose status is an
 * HTTP status code (RFC 8075 maps it to CoAP; MQTT v5 reason codes map
 * from its class); observe/subscribe come back as a stream of events.
 *
 * Status codes a front end gets:
 *   device's own   the device answered (status, content type and body
 *                  untouched; a device 401/407 becomes 502: the device has
 *                  no business asking consumers for credentials)
 *   401 / 403      the policy refused (challenge bits, invalid_token,
 *                  insufficient_scope and scopes set)
 *   404            unknown thing (only to callers whose credentials
 *                  authenticate: others get 401, so that existence does not
 *                  leak) or affordance, or the device has no form for it
 *   405            the affordance exists but the operation is not exposed
 *                  (allow_ops: what is)
 *   502            device refused, unreachable, closed mid-answer, answer
 *                  too large or not what the operation needs
 *   503            too many pending requests / streams, or shutting down
 *   504            the device did not answer within limits.device_timeout
 *   500            out of memory
 *
 * Lifetime and reload. Every call holds a reference on the state it was
 * decided under (gw_state_hold(), daemon.h), so a SIGHUP reload never frees
 * a thing, TD or policy under a call in flight. A stream lives across
 * reloads: proxy_reload() decides it again under the new state and ends it
 * (403/404) if the new policy no longer allows it, else moves it to the
 * new state.
 *
 * The interaction (and every pointer in it, credentials included) must stay
 * valid until done() was called or proxy_cancel() returned.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interaction.h"

struct gw;
struct proxy;
struct proxy_call;

/* An OSCORE message passed through to a device that speaks OSCORE itself
 * (RFC 8613 §11.5): the gateway maps only the outer message. */
struct proxy_oscore_msg {
    uint8_t code;          /* outer CoAP code: request 0.02 POST or 0.05 FETCH; answer */
    bool has_option;       /* the OSCORE option is present (its value may be empty) */
    const uint8_t *option; /* OSCORE option value */
    size_t option_len;
    const uint8_t *payload;
    size_t payload_len;
};

struct proxy_result {
    int status;       /* an HTTP status code, see above */
    bool from_device; /* status, content_type and body are the device's */
    const char *content_type;
    const uint8_t *body; /* NULL / 0 for gateway errors (the front end writes
                          * its protocol's problem body from detail) */
    size_t body_len;
    const char *detail; /* static text for the problem body: never a secret
                         * nor a device address */
    /* 401 */
    unsigned challenge; /* bits (1u << enum sec_kind) */
    bool invalid_token;
    /* 403 */
    bool insufficient_scope;
    char *const *scopes; /* NULL-terminated; valid during the callback */
    /* 405 */
    uint32_t allow_ops; /* bits (1u << enum wot_op) exposed on the affordance */
    /* streams: the stream is over because the consumer's credentials or
     * the policy changed, the device ended it, or shutdown */
    bool stream_end;
    const struct proxy_oscore_msg *oscore; /* passthrough answers */
};

/* What a front end hands in for the answer. For a stream (observeproperty,
 * subscribeevent), proxy_start() returning 0 means "accepted: start the
 * stream now"; event() then delivers each notification (data bytes as the
 * device sent them, event name or NULL) and done() the end. event()
 * returning < 0 ends the stream (the consumer is too slow or gone): the
 * proxy then cancels the device call and calls done() with stream_end. */
struct proxy_ops {
    void (*done)(void *ud, const struct proxy_result *res);
    int (*event)(void *ud, const char *event, const uint8_t *data, size_t len,
                 const char *content_type);
};

/* Created by the daemon when a front end needs it (gw->proxy). */
int proxy_new(struct gw *gw, struct proxy **out);
/* Cancels what is left without calling done(). */
void proxy_free(struct proxy *p);

#define PROXY_DONE 1

/* Starts one interaction. Returns
 *   PROXY_DONE  decided without a device (every 4xx/5xx of the gateway's
 *               own): *res is filled, valid until the next proxy call; the
 *               interaction is logged; done() is never called;
 *   0           pending: done() (and for streams event()) come later from
 *               the loop, never from inside proxy_start(); *call may be
 *               passed to proxy_cancel();
 *   < 0         -ENOMEM (nothing logged, done() never called). */
int proxy_start(struct proxy *p, const struct interaction *in, const struct proxy_ops *ops,
                void *ud, struct proxy_call **call, struct proxy_result *res);

/* in->thing names the thing, in->cred/peer/protocol as for proxy_start (in->affordance
 * and in->op are ignored: the gateway cannot see them). The thing must be an OSCORE
 * passthrough thing (else 404 for callers that may see it, as proxy_start does). The
 * credentials must meet the security of EVERY form of the thing (the gateway cannot tell
 * which form is addressed, so it asks what all of them ask). Return values as proxy_start;
 * on a device answer, done() gets res with status = the HTTP status for the outer code
 * (2.04 -> 200 per §11), from_device, and res->oscore pointing at the device's outer
 * answer (valid during the callback). Logged and counted like any interaction (OP
 * "oscore-passthrough" or similar).
 *
 * In detail: every operation the device offers on every affordance and on
 * the thing (td_ops) is decided with the credentials; the first refusal is
 * the answer (401 / 403 as proxy_start), and an operation the policy does
 * not expose is a 403 ("the policy does not expose every operation of the
 * thing"): a passthrough request could address it. The request needs the
 * OSCORE option (else 400), a code of 0.02 or 0.05 (else 400), an option
 * value of at most OSCORE_OPTION_VALUE_MAX bytes (else 400) and a payload
 * within limits.max_body_size (else 413). It goes to the scheme and
 * authority of the thing's first passthrough form (td.h: oscore_href) as
 * one confirmable CoAP request with the OSCORE option and the payload only
 * (south/coap.h), with limits.device_timeout. res->body / body_len are the
 * answer's payload too; content_type "application/oscore" when the answer
 * has the OSCORE option, else the Content-Format's media type or NULL (an
 * unprotected OSCORE error of the device, RFC 8613 §8.2: its status (e.g.
 * 401, 400) and diagnostic are the device's, passed on; no challenge
 * bits). OP in the log: "oscore-passthrough", no affordance. A plain
 * proxy_start() of an operation the device offers only through OSCORE
 * gets 400 (nothing is sent to the device). */
int proxy_oscore_forward(struct proxy *p, const struct interaction *in,
                         const struct proxy_oscore_msg *req, const struct proxy_ops *ops, void *ud,
                         struct proxy_call **call, struct proxy_result *res);

/* A request whose protocol method maps to no operation of its route (for
 * HTTP: DELETE on a property, PUT on an action, ...); in->op is ignored.
 * Fills res: 405 with allow_ops (the operations exposed on the affordance
 * of that kind, or on the thing for AFF_THING), or 401/404 when the
 * caller may not learn whether the thing or affordance exists. Logged. */
void proxy_not_allowed(struct proxy *p, const struct interaction *in, enum wot_aff_kind kind,
                       struct proxy_result *res);

/* The consumer went away: cancels the device call, logs the interaction
 * (a stream: its normal end; a request: "consumer went away"); done() is
 * not called. */
void proxy_cancel(struct proxy_call *call);

/* The things a thing-level operation is about: an exposed TD or the
 * directory. Synchronous; *body (JSON text, caller frees) is set on 200
 * only; the request is logged (OP "retrievetd", "listtds" or
 * "retrievedirectory") and counted.
 *   proxy_get_td         the exposed TD of thing if policy_may_see(), else
 *                        401 (no credential authenticates) or 404
 *   proxy_list_tds       a JSON array of the exposed TDs the credentials
 *                        may see (WoT Discovery "listing"); 401 when no
 *                        credentials were presented (or none
 *                        authenticates) and nothing is visible
 *   proxy_directory_td   the gateway's own Thing Description Directory TD
 *                        (public: it names the security schemes in use and
 *                        the /things routes, no thing)
 * Each returns 0 (res filled; res->body is *body) or -ENOMEM. */
int proxy_get_td(struct proxy *p, const struct interaction *in, struct proxy_result *res,
                 char **body);
int proxy_list_tds(struct proxy *p, const struct interaction *in, struct proxy_result *res,
                   char **body);
int proxy_directory_td(struct proxy *p, const struct interaction *in, struct proxy_result *res,
                       char **body);

/* The state changed (after a successful reload): streams are decided
 * again under the new state; those no longer allowed end with 403/404. */
void proxy_reload(struct proxy *p);

/* Shutdown. Streams end now (done() with stream_end); with force, every
 * request still waiting for its device is failed with 503 as well.
 * Returns the number of calls still in flight. */
size_t proxy_drain(struct proxy *p, bool force);

/* Calls in flight / of them streams (STATUS= and tests). */
size_t proxy_pending(const struct proxy *p);
size_t proxy_streams(const struct proxy *p);
