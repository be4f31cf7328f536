/* auth/extiss.h - external OAuth issuers whose keys or answers come over
 * the network, on the daemon's sd-event loop (no thread, no blocking call):
 *
 *  - [issuer] jwks_uri = https://...: the JWK Set is fetched at start and
 *    every jwks_refresh, parsed with jwks_parse() and swapped in whole (the
 *    old set stays until a new one parsed fine; when the bytes did not
 *    change nothing is swapped). Fail closed: until the first good fetch
 *    the issuer has no keys (its tokens get 401 invalid_token) while the
 *    daemon retries with a backoff (1 s doubling, at most jwks_refresh and
 *    5 min); when refetches keep failing the last good set is used for
 *    jwks_max_stale after the last good fetch, then dropped (every token
 *    of the issuer refused) until a fetch works again. Each change between
 *    "fetching works" and "fails" is logged once, never with a token.
 *    A token naming a kid the set lacks (or arriving while the issuer has
 *    no keys) makes extiss_prepare() run one refetch, at most one per
 *    jwks_refetch_min per issuer; concurrent requests wait for the same
 *    fetch.
 *
 *  - [issuer] introspection_url = https://...: RFC 7662. A bearer token not
 *    in the issuer's cache is POSTed (token, token_type_hint=access_token,
 *    HTTP Basic client authentication with introspection_client_id and the
 *    secret read from introspection_secret_file) while the HTTPS request
 *    waits; the answer is parsed by jwt_introspection_parse() and cached
 *    by SHA-256 of the token: active answers for introspection_cache_ttl
 *    but never past the token's exp, inactive or refused ones for at most
 *    EXTISS_NEGATIVE_TTL_S. The cache holds introspection_cache entries
 *    (least recently used evicted, refused answers first). When the
 *    endpoint cannot be asked or answers something other than 200 with a
 *    JSON object (down, timeout, 401 for a wrong client secret, 5xx, bad
 *    JSON), nothing is cached and the request gets 503: the gateway cannot
 *    decide, the token may well be good. At most EXTISS_MAX_PENDING
 *    introspections run per issuer; beyond that requests get 503 too.
 *
 * The policy engine (policy.c) reads the result synchronously: key sets are
 * installed into the loaded state's jwt_issuer (shared by reference,
 * jwks_ref()), introspection results through extiss_lookup().
 *
 * Single-threaded: everything runs on the loop that owns the extiss.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "credcache.h"
#include "jwt.h"

#define EXTISS_MAX_PENDING     64                /* introspections in flight per issuer */
#define EXTISS_NEGATIVE_TTL_S  10                /* inactive / refused answers */
#define EXTISS_JWKS_MAX        (64 * 1024)       /* bytes of a fetched JWK Set */
#define EXTISS_FETCH_TIMEOUT   (10 * 1000000ull) /* us, whole request */
#define EXTISS_CONNECT_TIMEOUT (5 * 1000000ull)
#define EXTISS_BACKOFF_MAX_S   300

struct south_http;
struct extiss;
struct extiss_wait;

struct extiss_stats {
    uint64_t jwks_fetches, jwks_failures, introspections, introspection_failures;
    uint64_t cache_hits, cache_misses;
};

int extiss_new(sd_event *ev, struct south_http *http, struct extiss **out);
/* Cancels every fetch; waiting requests are told to decide (status 0).
 * NULL ok. */
void extiss_free(struct extiss *x);

/* Takes over the issuers of a newly loaded state (at start and on every
 * reload): issuers with jwks_uri / introspection_url that were there before
 * with the same URL, CA and client keep their keys, timers and cache
 * (the cache is flushed: audiences may have changed); new ones start
 * fetching; gone ones stop. Installs the current key sets into issuers[]
 * (n of them) and flushes cc when a set changes later. Reads the client
 * secrets: returns -errno (logged) when one cannot be read, and then that
 * issuer answers every token with 503. cc may be NULL. */
int extiss_attach(struct extiss *x, struct jwt_issuer *issuers, size_t n, struct credcache *cc);

/* Called once when a waiting request may be decided. status 0: decide now
 * (the policy consults the refreshed keys / the cache); -EAGAIN: an
 * introspection could not be done (answer 503). */
typedef void (*extiss_ready_fn)(void *ud, int status);

/* The asynchronous step before a decision on a request carrying the bearer
 * token tok. Returns 0: nothing to wait for, decide now; 1: *out is a
 * pending wait and cb comes later from the loop (never from inside this
 * call); -EAGAIN: too many introspections in flight (answer 503); other
 * negative errno on errors (decide now). */
int extiss_prepare(struct extiss *x, const char *tok, size_t len, size_t max_len,
                   extiss_ready_fn cb, void *ud, struct extiss_wait **out);
/* Forgets a pending wait (the request went away): cb is not called. The
 * fetch or introspection goes on and its result is still cached. */
void extiss_cancel(struct extiss_wait *w);

/* For policy.c: the cached introspection result for tok among the
 * introspection issuers (only the one named only_issuer when not NULL).
 * JWT_OK with claims (a copy) and *issuer_name (the [issuer NAME], valid
 * until the next extiss_attach) for an active, unexpired entry;
 * JWT_INACTIVE (or the refusal's reason) for a cached refusal;
 * JWT_UNKNOWN_ISSUER when nothing is cached. x NULL: JWT_UNKNOWN_ISSUER. */
enum jwt_error extiss_lookup(struct extiss *x, const char *only_issuer, const char *tok, size_t len,
                             int64_t now, struct jwt_claims *claims, const char **issuer_name);

void extiss_get_stats(const struct extiss *x, struct extiss_stats *st);

/* For tests: how an issuer's key source stands. */
bool extiss_has_keys(const struct extiss *x, const char *issuer_name);
