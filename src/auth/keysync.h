/* auth/keysync.h - what the broker plugin needs of the daemon's token
 * state, sent over MQTT.
 *
 * The broker plugin (src/mosquitto/) checks access tokens itself, in the
 * broker's process, but two things only the daemon has:
 *  - the keys of the built-in authorization server ([oauth], the "local"
 *    issuer): its state directory is the daemon's alone (the shipped units
 *    run the two as different users), and a broker has no business
 *    reading signing keys anyway;
 *  - the JWK Sets of issuers with jwks_uri, which the daemon fetches
 *    (auth/extiss.h) and the plugin, inside the broker's single thread,
 *    must not;
 *  - the access tokens of the local issuer revoked at /oauth/revoke (or
 *    through a reused code or refresh token).
 * wotgw's own MQTT client (authenticated by its password, from loopback)
 * publishes them as one JSON document to PREFIX/$wotgw/keys, not
 * retained, on every connection and whenever they change; the plugin
 * takes it from that client only (no other client may publish or read the
 * topic), installs the key sets into its own issuers and refuses revoked
 * tokens from then on, also on connections that are open. Until the first
 * document arrives after a broker start, tokens of the local and jwks_uri
 * issuers are refused (fail closed). The '$' level cannot be a thing's
 * topic: names are percent-encoded there (mqtt_topic.h).
 *
 * The document:
 *   {"v": 1,
 *    "issuers": [{"name": NAME, "local": true|false, "jwks_uri": URL|null,
 *                 "jwks": "<JWK Set text>"|null}, ...],
 *    "revoked_iss": "<iss of the local issuer>"|null,
 *    "revoked": [["<jti>", <exp>], ...]}
 * An issuer entry applies to the plugin's [issuer NAME] only when that is
 * the same kind of issuer (local, or the same jwks_uri); "jwks": null
 * takes its keys away (the daemon has none: never fetched, or stale), and
 * so does a document without an entry for a local or jwks_uri issuer of
 * the plugin (the daemon's configuration no longer has it).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../state.h"

#define KEYSYNC_TOPIC_LEVELS "$wotgw/keys" /* after PREFIX/ */
#define KEYSYNC_MAX_SIZE     (1u << 20)    /* bytes of the document */
#define KEYSYNC_MAX_ISSUERS  256
#define KEYSYNC_MAX_REVOKED  8192
#define KEYSYNC_MAX_JTI      64

struct keysync;

/* Whether the document carries ic's keys: the local issuer and jwks_uri
 * issuers (a jwks file the plugin reads itself). */
bool keysync_synced(const struct issuer_conf *ic);

/* The daemon's document for state s: its local and jwks_uri issuers with
 * the key sets they hold now, and the revoked jtis of the local issuer
 * revoked_iss (revoked: a JSON array of [jti, exp], or NULL; entries past
 * exp + JWT_MAX_LEEWAY_S at now are left out). When it would be larger
 * than KEYSYNC_MAX_SIZE, the largest jwks_uri key sets are sent as null
 * (those issuers' tokens are refused over MQTT; a warning in d) so that
 * the local keys and the revocations still go out. *out is
 * NUL-terminated, free() it. Returns 0 or -ENOMEM / -EMSGSIZE. The same
 * input gives the same bytes, so the caller can publish only changes. */
int keysync_build(const struct gw_state *s, const char *revoked_iss, const json_t *revoked,
                  int64_t now, char **out, size_t *len, struct diags *d);

/* The plugin's side: parses a document. 0 and *out, or -EINVAL with *why
 * (static, safe to log) when it is not a valid document, -ENOMEM. */
int keysync_parse(const char *buf, size_t len, struct keysync **out, const char **why);
void keysync_free(struct keysync *k);

/* Installs k's key sets into the matching issuers of s (see above) and
 * flushes s's credential cache when one changed. Key sets that do not
 * parse (with the issuer's algorithms) leave that issuer without keys and
 * are reported in d. Returns the number of issuers k applied to. */
size_t keysync_apply(const struct keysync *k, struct gw_state *s, struct diags *d);

/* Whether the token with this iss and jti was revoked (k NULL: false). */
bool keysync_revoked(const struct keysync *k, const char *iss, const char *jti);

/* Counts, for the log. */
size_t keysync_n_issuers(const struct keysync *k);
size_t keysync_n_revoked(const struct keysync *k);
