/* credcache.h - a small cache of credentials that were verified
 * successfully, so that a consumer presenting the same password or the
 * same access token on every request pays for crypt(5) (yescrypt: several
 * milliseconds) or a signature check (ES256: tens of microseconds) once,
 * not on every request.
 *
 * What is stored. An entry is found by a digest: HMAC-SHA256 under a
 * 256-bit key drawn from the OpenSSL DRBG when the cache is created (one
 * cache, hence one key, per loaded state: a reload starts a new one) over
 * a domain tag and the whole credential:
 *   basic:  "B" || len(user) (4 bytes) || user || password
 *   bearer: "T" || issuer restriction || NUL || the whole token
 * The plaintext password is never stored, and neither is the token: a
 * basic entry holds the digest, its expiry and a pointer to the user
 * record it authenticated; a token entry holds the digest, its expiry, the
 * issuer that verified it and the claims jwt_verify() returned (sub, iss,
 * client_id, scopes, exp, nbf, iat: not a credential, without the
 * signature they prove nothing). Without
 * the key (never written anywhere, wiped on free) a digest cannot be
 * tested against guessed passwords, and it is computed over the full
 * credential, so two users with the same password, or a user name that
 * is a prefix of another, never meet (the user name's length is hashed).
 * Lookups compare the digests of every slot of the set with CRYPTO_memcmp
 * (no early exit); the set is chosen by digest bits an attacker cannot
 * predict without the key.
 *
 * What is trusted on a hit, and why that is as strong as a full check.
 *  - basic: a hit means this exact (user, password) pair was verified by
 *    crypt_r against the loaded users file less than
 *    CREDCACHE_PASSWORD_TTL_S seconds ago (an absolute TTL from the
 *    verification, not renewed by use). The users file cannot change
 *    under the cache: the cache belongs to one loaded state and a reload
 *    (the only way a changed password or a removed user takes effect)
 *    starts an empty one. The user record is looked up again by name and
 *    must be the one the entry points at.
 *  - bearer: signature verification, key selection and the claim checks
 *    other than time (aud, iss, sub, scope syntax) depend only on the
 *    token, the loaded keys and the issuer's config, all fixed for the
 *    cache's lifetime, so they are done once. What depends on time is
 *    re-checked on every hit with jwt_claims_check_time(), the very code
 *    jwt_verify() runs: exp and nbf with the issuer's leeway against
 *    "now". (Re-parsing the JSON payload with jwt_claims_check() on every
 *    hit cost 3 us per request, 6% of the gateway's CPU under the
 *    benchmark, and would check nothing more.) An entry also never
 *    outlives the token's exp (+ leeway) nor CREDCACHE_TOKEN_TTL_S. The issuer
 *    restriction of the policy leaf ("bearer:home") is part of the digest,
 *    so a result obtained for one restriction is never reused for another.
 *
 * Why failures are never cached. Caching "this password is wrong" keyed by
 * the secret would let anyone fill the cache for free: a random password
 * or a random token costs the attacker nothing, so they could evict every
 * real entry (forcing crypt_r on every legitimate request again) and grow
 * a negative cache without bound. Only a successful verification creates
 * an entry, so inserting requires a valid credential: an outsider cannot
 * insert anything, and a legitimate user can insert only one entry per
 * credential they really hold. Wrong passwords keep costing one crypt_r
 * each, so the cache does not make guessing any faster; a hit is only
 * possible for a credential that would have been accepted anyway, so
 * hit-or-miss timing tells an attacker nothing beyond the 200-or-401 it
 * gets either way.
 *
 * Bounds: CREDCACHE_DEFAULT_ENTRIES entries (sets of CREDCACHE_WAYS slots,
 * least recently used slot of the set evicted); tokens whose claims take
 * more than CREDCACHE_MAX_CLAIMS bytes are verified every time and never
 * cached, so the cache never holds more than about entries * (claims +
 * 700) bytes (2.7 MiB at the default size, a few KiB in practice). On
 * flush and free every slot, its claims and the key are wiped with
 * OPENSSL_cleanse.
 *
 * Contract: a cache is used with the users and issuers of one loaded
 * state only (state.h gives each state its own), because entries point
 * into them. Entries are re-validated cheaply on every hit (the user
 * record by name, the issuer by membership of the list passed in), but
 * keys and hashes are not compared: that is what reload-flushes-all is
 * for. Not thread safe: one cache belongs to the one event loop thread.
 * All functions accept a NULL cache and then verify without caching.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jwt.h"
#include "users.h"

#define CREDCACHE_DEFAULT_ENTRIES 1024
#define CREDCACHE_MAX_ENTRIES     65536
#define CREDCACHE_WAYS            8
#define CREDCACHE_PASSWORD_TTL_S  60
#define CREDCACHE_TOKEN_TTL_S     300
#define CREDCACHE_MAX_CLAIMS      2048

struct credcache;

struct credcache_stats {
    uint64_t hits, misses, inserts, evictions, expired;
    size_t entries; /* slots in use */
    size_t capacity;
};

/* A cache of max_entries (0: CREDCACHE_DEFAULT_ENTRIES; rounded up to a
 * power of two times CREDCACHE_WAYS, at most CREDCACHE_MAX_ENTRIES).
 * Returns 0, -ENOMEM, or -EIO when no random key or HMAC is available. */
int credcache_new(size_t max_entries, struct credcache **out);
/* Wipes every entry and the key, then frees. NULL ok. */
void credcache_free(struct credcache *c);
/* Wipes and drops every entry (the key stays). NULL ok. */
void credcache_flush(struct credcache *c);
void credcache_get_stats(const struct credcache *c, struct credcache_stats *st);

/* users_verify() with the cache: a hit returns the user without crypt_r;
 * a miss calls users_verify() and caches a success. Same contract as
 * users_verify(): false and *out NULL on any failure. now: seconds since
 * the epoch (the policy's clock). */
bool credcache_users_verify(struct credcache *c, const struct users *u, const char *name,
                            const char *pass, size_t pass_len, int64_t now,
                            const struct user **out);

/* jwt_verify() with the cache, same arguments and results. A hit re-runs
 * jwt_claims_check_time() on the cached claims at now and hands out a
 * copy of them; a miss calls jwt_verify() and caches a success. */
enum jwt_error credcache_jwt_verify(struct credcache *c, const struct jwt_issuer *const *issuers,
                                    size_t n_issuers, const char *only_issuer, const char *tok,
                                    size_t len, size_t max_len, int64_t now,
                                    struct jwt_claims *claims, const struct jwt_issuer **which);
