/* acl.h - the decisions of wotgw's mosquitto plugin, apart from the
 * broker's API (plugin.c turns mosquitto events into these calls).
 *
 * Who may connect. Every client authenticates; what it presented is
 * checked when it connects and kept (copied, wiped when it disconnects)
 * for the decisions that follow:
 *  - a password that is a compact JWS ("eyJ...", three base64url parts):
 *    a bearer / oauth2 access token of a configured [issuer], with the
 *    same checks as the HTTPS front end (signature, exp, nbf, aud, iss,
 *    size); the user name is free (it is not used);
 *  - any other password: the user name and password of the users file;
 *  - a client certificate the broker verified (require_certificate on
 *    the listener): its subject CN and SHA-256 fingerprint, mapped by
 *    cert_identities as for HTTPS;
 *  - nothing of these, a user name without a password, or a credential
 *    that does not verify: refused (CONNACK "not authorized").
 * wotgw's own client is the one whose client id and user name are
 * [mqtt] client_id: it must present the password of [mqtt] password_file
 * and, when [mqtt] broker is a loopback address, come from loopback. Any
 * other client using that client id or user name is refused, so nobody
 * can take over its session.
 *
 * What a consumer may do (topics: mqtt_topic.h). Each PUBLISH, SUBSCRIBE
 * and each delivered message is decided by policy_decide() on the exposed
 * TD's operation for the topic (mqtt_topic_ops(): any one of its ops
 * suffices), with the credentials kept from CONNECT and the clock of the
 * moment. A filter with wildcards is accepted when at least one topic
 * that exists (in the loaded TDs) and that the client may read matches it
 * (looked at for at most MQACL_MAX_WILDCARD_CHECKS topics); every message
 * delivered through it is then decided again on its own topic, so a
 * wildcard never widens access. Response topics
 * PREFIX/{thing}/actions/{name}/response/{client}[/...] are readable only
 * by the client whose id is {client}, and only with invokeaction on that
 * action. The COSE_Encrypt0 topics of a thing with cose_encrypt_to,
 * PREFIX/{thing}/properties|events/{name}/cose/{principal}, exist only
 * for the principals it names and are readable only by {principal}
 * itself (the principal the policy decided for, with the operations of
 * the plain topic). UNSUBSCRIBE is always allowed. Everything outside the layout
 * ($SYS included) is denied, and so is a consumer's PUBLISH with the
 * retain flag: a retained command would be carried out again every time
 * wotgw subscribes.
 *
 * A token's expiry is checked on every decision, cached or not: once the
 * token has expired (exp plus the issuer's leeway) every publish,
 * subscribe and delivery of that connection is denied; the client must
 * reconnect with a fresh token. So is a token of the built-in
 * authorization server once the daemon reports it revoked
 * (mqacl_keys_update).
 *
 * wotgw's own client may publish to property, event, encrypted property
 * and event, and response topics of configured things and affordances, and subscribe to and receive
 * the set and action topics (and the property topics, to restore retained values), nothing else.
 *
 * Decisions are cached per client (MQACL_CACHE_SLOTS entries keyed by
 * access and topic, compared in full) and dropped on every reload.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt_topic.h"
#include "policy.h"
#include "state.h"

#define MQACL_CACHE_SLOTS         64
#define MQACL_MAX_WILDCARD_CHECKS 4096
#define MQACL_SECRET_MIN          16 /* bytes of wotgw's own password */
#define MQACL_SECRET_MAX          1024
#define MQACL_MAX_CLIENT_ID       1024 /* longer client ids are refused */

enum mqacl_access {
    MQACL_READ,  /* a message delivered to the client */
    MQACL_WRITE, /* the client publishes */
    MQACL_SUBSCRIBE,
    MQACL_UNSUBSCRIBE,
};

/* Everything loaded from wotgw.conf, swapped whole on reload. */
struct mqacl {
    struct gw_state *state; /* NULL: nothing ever loaded, everything refused */
    char *secret;           /* wotgw's own password ([mqtt] password_file) */
    size_t secret_len;
    uint64_t generation; /* bumped by every load and keys update: cached decisions are for one */
    /* the daemon's last keys and revocations (auth/keysync.h), applied to
     * every state loaded after them */
    struct keysync *keys;
};

/* What a client presented in CONNECT (and its TLS handshake). */
struct mqacl_connect {
    const char *client_id;
    const char *username; /* NULL: none */
    const char *password; /* NULL: none */
    const char *peer;     /* the client's IP address */
    const char *cert_cn;  /* a verified client certificate, or NULL */
    const char *cert_sha256;
};

struct mqacl_client; /* one connected client */

/* A document of keys and revocations that wotgw's own client published to
 * PREFIX/$wotgw/keys (auth/keysync.h): installed into the loaded state and
 * kept for the next loads. From then on, the tokens it revokes are refused
 * on every decision and at CONNECT. Returns 0, or -EINVAL (logged: the
 * previous document stays) / -ENOMEM. */
int mqacl_keys_update(struct mqacl *a, const void *doc, size_t len);
/* The topic of that document under a's prefix, or NULL (nothing loaded). */
bool mqacl_is_keys_topic(const struct mqacl *a, const char *topic);

/* Loads config_path into a (replacing what it held only on success).
 * Errors (FILE:LINE) go to d. Returns 0 or a negative errno. */
int mqacl_load(struct mqacl *a, const char *config_path, struct diags *d);
void mqacl_clear(struct mqacl *a);

/* Authenticates a connecting client. 0 and *out (free with
 * mqacl_client_free), or -EACCES with a reason (static, safe to log,
 * never a secret) and *principal left empty. principal gets the identity
 * for the log ("alice", "home:sub", "cert:client1", "wotgw"). */
int mqacl_authenticate(const struct mqacl *a, const struct mqacl_connect *c, int64_t now,
                       struct mqacl_client **out, const char **reason, char *principal,
                       size_t principal_len);
/* Wipes the client's credentials and frees it. NULL ok. */
void mqacl_client_free(struct mqacl_client *cl);

/* One decision. topic is the topic or (SUBSCRIBE/UNSUBSCRIBE) the filter;
 * cl NULL: a client without a record (refused, except wotgw's own
 * offline session: client_id and username are then its). retain: the
 * PUBLISH's retain flag (WRITE only). On a decision
 * that was not cached, *logged tells whether it was logged (denials of
 * publish and subscribe are, at notice level; of deliveries at debug).
 * reason: why, for the caller's log (static). */
bool mqacl_check(const struct mqacl *a, struct mqacl_client *cl, const char *client_id,
                 const char *username, enum mqacl_access access, const char *topic, bool retain,
                 int64_t now, const char **reason);

/* For a PUBLISH the broker accepted from cl: the response topic the
 * result of an invokeaction goes to. topic is the message's topic; given
 * the response topic the client set (NULL: none), writes the one to use
 * into buf. Returns 1 when the message is on an action topic (buf set),
 * 0 when it needs no response topic, -EACCES when the client set a
 * response topic that is not its own. */
int mqacl_response_topic(const struct mqacl *a, const struct mqacl_client *cl, const char *topic,
                         const char *given, char *buf, size_t size);

/* The principal the client's last allowed publish was decided for
 * ("" when none); borrowed from cl. */
const char *mqacl_client_principal(const struct mqacl_client *cl);
bool mqacl_client_is_daemon(const struct mqacl_client *cl);

/* Whether cl may remove the retained value of topic (an empty retained
 * PUBLISH): only wotgw's own client, only on a property or encrypted
 * property topic of the layout under the prefix, whether or not the
 * thing, affordance or principal is still configured (wotgw clears what
 * it stopped offering, also when the plugin was reloaded first). */
bool mqacl_may_clear(const struct mqacl *a, const struct mqacl_client *cl, const char *topic);

/* Counters for the log. */
struct mqacl_stats {
    uint64_t checks, cache_hits, denials;
};
void mqacl_get_stats(struct mqacl_stats *st);
