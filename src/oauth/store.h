/* store.h - what the authorization server must remember across restarts:
 * authorization codes, device codes, refresh-token families and revoked
 * access tokens, kept in <state_dir>/oauth/grants.json.
 *
 * Only SHA-256 hashes of codes, user codes and refresh tokens are stored,
 * never the values. Every change is saved before the answer that depends
 * on it leaves (store_save: the whole file written to a temp file, fsync,
 * rename, fsync of the directory), so a crash loses nothing already
 * answered; a torn temp file left by a crash is never read. A grants.json
 * that does not parse is moved aside (grants.json.corrupt) with a warning
 * and the store starts empty: every refresh token is then refused (fail
 * closed). Records that do not validate are skipped with a warning.
 *
 * Bounds: STORE_MAX_CODES codes, STORE_MAX_DEVICES device codes (new
 * ones are refused when full), STORE_MAX_FAMILIES families (the least
 * recently used is evicted), STORE_MAX_REVOKED revoked access-token ids
 * (the one closest to expiry is dropped), STORE_MAX_OLD previous refresh
 * tokens per family remembered for reuse detection, STORE_MAX_ISSUED
 * unexpired access tokens per family (see store_family_add_jti).
 *
 * A family remembers the id (jti) and expiry of every access token issued
 * from it that has not expired yet, so that revoking the family (refresh
 * token or code reuse, RFC 7009 revocation, owner gone) revokes every
 * one of them, not only the last. On disk: "issued": [{"jti", "exp"}...];
 * a family without "issued" (files written before it existed) loads its
 * last access token from "jti" / "jti_exp", which are still written (the
 * newest entry) so that an older wotgw can read the file.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util.h"

#define AS_STORE_FILE          "grants.json"
#define STORE_MAX_CODES        256
#define STORE_MAX_DEVICES      256
#define STORE_MAX_FAMILIES     1024
#define STORE_MAX_OLD          8
#define STORE_MAX_ISSUED       32 /* unexpired access tokens remembered per family */
#define STORE_MAX_REVOKED      4096
#define STORE_MAX_FILE_SIZE    (8u << 20)
#define STORE_USED_CODE_KEEP_S 600 /* a used code is remembered this long */
#define STORE_EXPIRED_KEEP_S   600 /* an expired device code, to say so */
#define STORE_ID_MAX           24  /* jti and family ids: 22 base64url chars */
#define STORE_TEXT_MAX         4096

struct st_code {
    uint8_t h[32]; /* SHA-256 of the code */
    char *client, *redirect_uri, *challenge, *scope, *sub;
    int64_t iat, exp;
    bool used;
    /* what it was exchanged for, revoked if the code comes back */
    char family[STORE_ID_MAX]; /* "" when no refresh token */
    char jti[STORE_ID_MAX];
    int64_t jti_exp;
};

enum st_device_status {
    DEV_PENDING,
    DEV_APPROVED,
    DEV_DENIED,
    DEV_USED, /* exchanged for tokens */
};

struct st_device {
    uint8_t h[32];  /* SHA-256 of the device code */
    uint8_t uh[32]; /* SHA-256 of the normalised user code */
    char *client;
    char *scope; /* requested; the granted scopes once approved */
    char *sub;   /* the approving user, NULL until approved */
    int64_t iat, exp;
    unsigned interval;   /* seconds between polls (grows on slow_down) */
    int status;          /* enum st_device_status */
    int64_t last_poll;   /* memory only: 0 after a restart */
    unsigned user_tries; /* memory only */
};

/* An access token: its id and expiry. */
struct st_revoked {
    char jti[STORE_ID_MAX];
    int64_t exp;
};

struct st_family {
    char id[STORE_ID_MAX];
    char *client, *sub, *scope;
    int64_t iat, exp, used_at;
    uint8_t cur[32]; /* hash of the current refresh token */
    uint8_t old[STORE_MAX_OLD][32];
    size_t n_old;
    bool revoked;
    /* the access tokens issued from it that have not expired, oldest first */
    struct st_revoked issued[STORE_MAX_ISSUED];
    size_t n_issued;
};

struct as_store {
    char *path;
    struct st_code codes[STORE_MAX_CODES];
    size_t n_codes;
    struct st_device devices[STORE_MAX_DEVICES];
    size_t n_devices;
    struct st_family *families; /* STORE_MAX_FAMILIES */
    size_t n_families;
    struct st_revoked *revoked; /* STORE_MAX_REVOKED */
    size_t n_revoked;
};

/* Opens (and loads) DIR/grants.json, creating DIR when needed. */
int store_open(const char *dir, int64_t now, struct as_store **out, struct diags *d);
void store_free(struct as_store *s);
/* Writes the whole store atomically. */
int store_save(struct as_store *s);
/* Drops expired records (used codes are kept STORE_USED_CODE_KEEP_S after
 * issue, device codes STORE_EXPIRED_KEEP_S after expiry). */
void store_prune(struct as_store *s, int64_t now);

/* Each returns a zeroed slot (fields to be filled by the caller; strings
 * are freed by the store), or NULL when full (devices: unless one has
 * expired). */
struct st_code *store_new_code(struct as_store *s);
struct st_device *store_new_device(struct as_store *s, int64_t now);
struct st_family *store_new_family(struct as_store *s);
int store_revoke_jti(struct as_store *s, const char *jti, int64_t exp);
/* Remembers an access token issued from family f, after dropping the
 * ones expired at now. When STORE_MAX_ISSUED unexpired ones are already
 * remembered, the one closest to expiry is revoked (store_revoke_jti) and
 * forgotten to make room: every live access token of a family is thus
 * either remembered with it or already revoked. Returns 1 when one was
 * revoked that way, 0 otherwise, -EINVAL for a bad jti. */
int store_family_add_jti(struct as_store *s, struct st_family *f, const char *jti, int64_t exp,
                         int64_t now);
/* Marks f revoked and revokes every access token remembered for it. */
void store_revoke_family(struct as_store *s, struct st_family *f);

struct st_code *store_find_code(struct as_store *s, const uint8_t h[32]);
struct st_device *store_find_device(struct as_store *s, const uint8_t h[32]);
struct st_device *store_find_user_code(struct as_store *s, const uint8_t uh[32]);
/* The family whose current token hashes to h (*reused false) or that
 * issued h before (*reused true). */
struct st_family *store_find_refresh(struct as_store *s, const uint8_t h[32], bool *reused);
struct st_family *store_find_family(struct as_store *s, const char *id);
bool store_jti_revoked(const struct as_store *s, const char *jti);
/* Changes whenever any store's revoked ids change (process-wide). */
uint64_t store_revoked_generation(void);

/* SHA-256 of a string. */
void store_hash(const char *s, size_t len, uint8_t out[32]);

/* Makes dir (mode 0700) if missing; its parent must exist. */
int as_dir_prepare(const char *dir, struct diags *d);
/* Run as root: gives path the owner and group of its directory. */
void as_fix_owner(const char *path);
