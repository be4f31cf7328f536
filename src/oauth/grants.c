/* grants.c - the token endpoint (authorization_code with PKCE S256,
 * client_credentials, device_code, refresh_token with rotation and reuse
 * detection), device authorization (RFC 8628), introspection (RFC 7662)
 * and revocation (RFC 7009); see as.h. Cleanup style: goto to one exit. */
#define _GNU_SOURCE
#include "as_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../log.h"

#define BASIC_MAX 1024 /* decoded Authorization: Basic */

/* ---- client authentication (RFC 6749 §2.3) ------------------------------------------- */

/* Fills rs with a 401 invalid_client; returns 1 (answered) or -ENOMEM. */
static int invalid_client(struct as_response *rs, const char *desc)
{
    int r = as_error(rs, 401, "invalid_client", desc);
    if (r == 0 && !(rs->www_authenticate = strdup("Basic realm=\"wotgw oauth\"")))
        r = -ENOMEM;
    return r < 0 ? r : 1;
}

/* Identifies and authenticates the client. Returns 0 with *out, 1 when
 * rs holds the error, or -ENOMEM. Public clients identify themselves with
 * client_id only; confidential ones must prove their secret (Basic or
 * client_secret in the body, not both). need_secret refuses public
 * clients. */
static int authenticate(struct as *as, const struct as_request *rq, const struct form *f,
                        bool need_secret, const struct as_client **out, struct as_response *rs)
{
    char *id = NULL, *secret = NULL;
    uint8_t raw[BASIC_MAX + 1];
    size_t rl = 0;
    int r = 1;
    const char *fid = form_get(f, "client_id"), *fsec = form_get(f, "client_secret");
    const struct as_client *c = NULL;
    *out = NULL;

    if (rq->authorization) {
        const char *a = rq->authorization;
        if (strncasecmp(a, "Basic ", 6)) {
            r = invalid_client(rs, "unsupported client authentication scheme");
            goto out;
        }
        a += 6;
        a += strspn(a, " ");
        if (fsec) {
            r = as_error(rs, 400, "invalid_request", "use one client authentication method");
            r = r < 0 ? r : 1;
            goto out;
        }
        if (b64_decode(a, strlen(a), raw, BASIC_MAX, &rl) < 0) {
            r = invalid_client(rs, "malformed Basic credentials");
            goto out;
        }
        raw[rl] = '\0';
        const uint8_t *colon = memchr(raw, ':', rl);
        if (!colon || memchr(raw, '\0', rl)) {
            r = invalid_client(rs, "malformed Basic credentials");
            goto out;
        }
        int e1 = form_pct_decode((const char *)raw, (size_t)(colon - raw), CLIENT_ID_MAX, &id);
        int e2 = form_pct_decode((const char *)colon + 1, rl - (size_t)(colon + 1 - raw),
                                 CLIENT_SECRET_MAX, &secret);
        if (e1 == -ENOMEM || e2 == -ENOMEM) {
            r = -ENOMEM;
            goto out;
        }
        if (e1 < 0 || e2 < 0) {
            r = invalid_client(rs, "malformed Basic credentials");
            goto out;
        }
        if (fid && strcmp(fid, id)) {
            r = invalid_client(rs, "client_id does not match the credentials");
            goto out;
        }
    } else {
        if (!fid) {
            r = invalid_client(rs, "client authentication required");
            goto out;
        }
        if (!(id = strdup(fid))) {
            r = -ENOMEM;
            goto out;
        }
        if (fsec && !(secret = strdup(fsec))) {
            r = -ENOMEM;
            goto out;
        }
    }
    c = clients_find(as->setup->clients, id);
    char sid[CLIENT_ID_MAX + 1], sp[64];
    if (!c) {
        log_msg(LOG_NOTICE, "oauth: unknown client '%s' from %s", as_log_safe(id, sid, sizeof(sid)),
                as_log_safe(rq->peer, sp, sizeof(sp)));
        r = invalid_client(rs, "unknown client or wrong secret");
        goto out;
    }
    if (c->confidential) {
        if (!secret || !client_secret_ok(c, secret, strlen(secret))) {
            log_msg(LOG_NOTICE, "oauth: client '%s' failed authentication from %s", c->id,
                    as_log_safe(rq->peer, sp, sizeof(sp)));
            r = invalid_client(rs, "unknown client or wrong secret");
            goto out;
        }
    } else if (secret) {
        r = invalid_client(rs, "a public client has no secret");
        goto out;
    } else if (need_secret) {
        r = invalid_client(rs, "this endpoint is for confidential clients");
        goto out;
    }
    *out = c;
    r = 0;
out:
    OPENSSL_cleanse(raw, sizeof(raw));
    free(id);
    util_secret_free(secret);
    return r;
}

/* ---- responses -------------------------------------------------------------------------- */

static int token_response(struct as *as, struct as_response *rs, const char *access, int64_t exp,
                          int64_t now, const char *scope, const char *refresh)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:s}", "access_token", access, "token_type", "Bearer",
                          "expires_in", (json_int_t)(exp - now), "scope", scope);
    if (o && refresh && json_object_set_new(o, "refresh_token", json_string(refresh)) < 0) {
        json_decref(o);
        o = NULL;
    }
    (void)as;
    return as_json(rs, 200, o);
}

static int save_or_fail(struct as *as, struct as_response *rs)
{
    int r = store_save(as->store);
    if (r == 0)
        return 0;
    return as_error(rs, 503, "temporarily_unavailable", "cannot save the grant; try again") < 0
                   ? -ENOMEM
                   : 1;
}

/* Revokes a family and every unexpired access token issued from it. */
static void revoke_family(struct as *as, struct st_family *fam)
{
    store_revoke_family(as->store, fam);
}

/* Remembers an access token with the family that issued it (see
 * store_family_add_jti: past STORE_MAX_ISSUED live ones, the oldest is
 * revoked). */
static void family_add(struct as *as, struct st_family *fam, const char *jti, int64_t exp,
                       int64_t now)
{
    if (store_family_add_jti(as->store, fam, jti, exp, now) == 1)
        log_msg(LOG_NOTICE,
                "oauth: grant of client '%s' for '%s' has %d unexpired access tokens; the "
                "oldest is revoked",
                fam->client, fam->sub, STORE_MAX_ISSUED);
}

/* Starts a refresh-token family; *tok gets the first refresh token. */
static int new_family(struct as *as, const char *client, const char *sub, const char *scope,
                      int64_t now, char **tok, struct st_family **out)
{
    char rt[AS_RAND_MAX], id[STORE_ID_MAX];
    int r;
    *tok = NULL;
    *out = NULL;
    if ((r = as_random(rt, sizeof(rt), AS_TOKEN_BYTES)) < 0 ||
        (r = as_random(id, sizeof(id), 16)) < 0)
        return r;
    struct st_family *f = store_new_family(as->store);
    *f = (struct st_family){0};
    snprintf(f->id, sizeof(f->id), "%s", id);
    f->client = strdup(client);
    f->sub = strdup(sub);
    f->scope = strdup(scope);
    f->iat = f->used_at = now;
    f->exp = now + (int64_t)as->oc->refresh_token_lifetime_s;
    store_hash(rt, strlen(rt), f->cur);
    if (!f->client || !f->sub || !f->scope || !(*tok = strdup(rt))) {
        /* leave a dead family that the next prune removes */
        f->exp = 0;
        f->revoked = true;
        OPENSSL_cleanse(rt, sizeof(rt));
        return -ENOMEM;
    }
    OPENSSL_cleanse(rt, sizeof(rt));
    *out = f;
    return 0;
}

/* ---- authorization_code ---------------------------------------------------------------- */

static bool verifier_ok(const char *v)
{
    size_t n = strlen(v);
    if (n < 43 || n > 128)
        return false;
    for (const char *p = v; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_' || *p == '~'))
            return false;
    return true;
}

static bool pkce_match(const char *verifier, const char *challenge)
{
    uint8_t md[32];
    unsigned n = 0;
    char enc[64];
    if (EVP_Digest(verifier, strlen(verifier), md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return false;
    b64url_encode(md, 32, enc);
    return util_secret_eq(enc, strlen(enc), challenge, strlen(challenge));
}

int as_issue_code(struct as *as, const struct as_pending *p, const char *user, const char *granted,
                  int64_t now, char **code)
{
    char v[AS_RAND_MAX];
    int r = as_random(v, sizeof(v), AS_TOKEN_BYTES);
    *code = NULL;
    if (r < 0)
        return r;
    struct st_code *c = store_new_code(as->store);
    *c = (struct st_code){0};
    store_hash(v, strlen(v), c->h);
    c->client = strdup(p->client);
    c->redirect_uri = strdup(p->redirect_uri);
    c->challenge = strdup(p->challenge);
    c->scope = strdup(granted);
    c->sub = strdup(user);
    c->iat = now;
    c->exp = now + (int64_t)as->oc->code_lifetime_s;
    if (!c->client || !c->redirect_uri || !c->challenge || !c->scope || !c->sub ||
        !(*code = strdup(v))) {
        c->exp = 0; /* pruned */
        r = -ENOMEM;
    } else {
        r = store_save(as->store);
        if (r < 0) {
            c->exp = 0;
            util_secret_free(*code);
            *code = NULL;
        }
    }
    OPENSSL_cleanse(v, sizeof(v));
    return r;
}

static int grant_code(struct as *as, const struct as_request *rq, const struct form *f,
                      const struct as_client *cl, struct as_response *rs)
{
    const char *code = form_get(f, "code"), *ruri = form_get(f, "redirect_uri"),
               *ver = form_get(f, "code_verifier");
    char *access = NULL, *refresh = NULL;
    int r;
    if (!(cl->grants & CG_CODE))
        return as_error(rs, 400, "unauthorized_client",
                        "the client may not use the authorization_code grant");
    if (!code)
        return as_error(rs, 400, "invalid_request", "code is required");
    if (!ruri)
        return as_error(rs, 400, "invalid_request", "redirect_uri is required");
    if (!ver)
        return as_error(rs, 400, "invalid_request", "code_verifier is required (PKCE)");
    if (!verifier_ok(ver))
        return as_error(rs, 400, "invalid_grant", "malformed code_verifier");
    uint8_t h[32];
    store_hash(code, strlen(code), h);
    struct st_code *c = store_find_code(as->store, h);
    if (!c)
        return as_error(rs, 400, "invalid_grant", "unknown or expired code");
    if (c->used) {
        /* a code replayed: revoke what it gave (RFC 6749 §4.1.2) */
        struct st_family *fam = store_find_family(as->store, c->family);
        if (fam)
            revoke_family(as, fam);
        if (c->jti[0])
            (void)store_revoke_jti(as->store, c->jti, c->jti_exp);
        (void)store_save(as->store);
        log_msg(LOG_WARNING,
                "oauth: authorization code of client '%s' for '%s' used twice (by '%s'); its "
                "tokens are revoked",
                c->client, c->sub, cl->id);
        return as_error(rs, 400, "invalid_grant", "code already used; its tokens are revoked");
    }
    /* single use from here on, whatever the outcome */
    c->used = true;
    const char *why = NULL;
    if (c->exp <= rq->now)
        why = "unknown or expired code";
    else if (strcmp(c->client, cl->id))
        why = "the code was issued to another client";
    else if (strcmp(c->redirect_uri, ruri))
        why = "redirect_uri differs from the authorization request";
    else if (!pkce_match(ver, c->challenge))
        why = "code_verifier does not match the code_challenge";
    if (why) {
        (void)store_save(as->store);
        log_msg(LOG_NOTICE, "oauth: code exchange by client '%s' refused: %s", cl->id, why);
        return as_error(rs, 400, "invalid_grant", why);
    }
    int64_t exp;
    r = as_mint_access(as, cl->id, c->sub, c->scope, rq->now, &access, c->jti, &exp);
    if (r < 0)
        goto out;
    c->jti_exp = exp;
    if (cl->grants & CG_REFRESH) {
        struct st_family *fam;
        r = new_family(as, cl->id, c->sub, c->scope, rq->now, &refresh, &fam);
        if (r < 0)
            goto out;
        snprintf(c->family, sizeof(c->family), "%s", fam->id);
        family_add(as, fam, c->jti, exp, rq->now);
    }
    r = save_or_fail(as, rs);
    if (r != 0) {
        r = r < 0 ? r : 0;
        goto out;
    }
    r = token_response(as, rs, access, exp, rq->now, c->scope, refresh);
    log_msg(LOG_INFO, "oauth: token issued: grant=authorization_code client=%s sub=%s scope=%s",
            cl->id, c->sub, c->scope);
out:
    util_secret_free(access);
    util_secret_free(refresh);
    return r;
}

/* ---- client_credentials ------------------------------------------------------------------ */

static int grant_client(struct as *as, const struct as_request *rq, const struct form *f,
                        const struct as_client *cl, struct as_response *rs)
{
    char *scope = NULL, *access = NULL, jti[STORE_ID_MAX];
    const char *why;
    int64_t exp;
    int r;
    if (!cl->confidential || !(cl->grants & CG_CLIENT))
        return as_error(rs, 400, "unauthorized_client",
                        "the client may not use the client_credentials grant");
    r = as_scope_resolve(as, cl, form_get(f, "scope"), &scope, &why);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return as_error(rs, 400, "invalid_scope", why);
    r = as_mint_access(as, cl->id, cl->id, scope, rq->now, &access, jti, &exp);
    if (r == 0)
        r = token_response(as, rs, access, exp, rq->now, scope, NULL);
    if (r == 0)
        log_msg(LOG_INFO, "oauth: token issued: grant=client_credentials client=%s scope=%s",
                cl->id, scope);
    free(scope);
    util_secret_free(access);
    return r;
}

/* ---- device_code (RFC 8628 §3.4, §3.5) --------------------------------------------------- */

static int grant_device(struct as *as, const struct as_request *rq, const struct form *f,
                        const struct as_client *cl, struct as_response *rs)
{
    const char *dc = form_get(f, "device_code");
    char *access = NULL, *refresh = NULL, jti[STORE_ID_MAX];
    int64_t exp;
    int r;
    if (!(cl->grants & CG_DEVICE))
        return as_error(rs, 400, "unauthorized_client",
                        "the client may not use the device_code grant");
    if (!dc)
        return as_error(rs, 400, "invalid_request", "device_code is required");
    uint8_t h[32];
    store_hash(dc, strlen(dc), h);
    struct st_device *d = store_find_device(as->store, h);
    if (!d || strcmp(d->client, cl->id))
        return as_error(rs, 400, "invalid_grant", "unknown device_code");
    if (d->exp <= rq->now)
        return as_error(rs, 400, "expired_token", "the device code has expired");
    if (d->status == DEV_USED)
        return as_error(rs, 400, "invalid_grant", "the device code was already used");
    if (d->last_poll && rq->now - d->last_poll < (int64_t)d->interval) {
        d->interval += 5; /* RFC 8628 §3.5 */
        if (d->interval > 60)
            d->interval = 60;
        d->last_poll = rq->now;
        json_t *o = json_pack("{s:s, s:s, s:i}", "error", "slow_down", "error_description",
                              "polling too fast", "interval", (int)d->interval);
        return as_json(rs, 400, o);
    }
    d->last_poll = rq->now;
    if (d->status == DEV_PENDING)
        return as_error(rs, 400, "authorization_pending", "the user has not yet answered");
    if (d->status == DEV_DENIED) {
        d->status = DEV_USED;
        (void)store_save(as->store);
        return as_error(rs, 400, "access_denied", "the user denied the request");
    }
    /* approved */
    d->status = DEV_USED;
    r = as_mint_access(as, cl->id, d->sub, d->scope, rq->now, &access, jti, &exp);
    if (r < 0)
        goto out;
    if (cl->grants & CG_REFRESH) {
        struct st_family *fam;
        r = new_family(as, cl->id, d->sub, d->scope, rq->now, &refresh, &fam);
        if (r < 0)
            goto out;
        family_add(as, fam, jti, exp, rq->now);
    }
    r = save_or_fail(as, rs);
    if (r != 0) {
        r = r < 0 ? r : 0;
        goto out;
    }
    r = token_response(as, rs, access, exp, rq->now, d->scope, refresh);
    log_msg(LOG_INFO, "oauth: token issued: grant=device_code client=%s sub=%s scope=%s", cl->id,
            d->sub, d->scope);
out:
    util_secret_free(access);
    util_secret_free(refresh);
    return r;
}

/* ---- refresh_token (RFC 6749 §6, rotation per RFC 9700 §4.14.2) ------------------------ */

/* The family's scopes that the client and the catalogue still allow. */
static char *still_allowed(struct as *as, const struct as_client *cl, const char *scope)
{
    struct sbuf b = {.max = FORM_MAX_VALUE};
    const char *p = scope;
    while (*p) {
        size_t l = strcspn(p, " ");
        char tok[CLIENT_SCOPE_MAX + 1];
        if (l && l <= CLIENT_SCOPE_MAX) {
            memcpy(tok, p, l);
            tok[l] = '\0';
            if (as_scope_known(as, tok) && client_scope_allowed(cl, tok)) {
                if (b.n)
                    sb_puts(&b, " ");
                sb_puts(&b, tok);
            }
        }
        p += l;
        p += strspn(p, " ");
    }
    if (!b.n) {
        sb_free(&b);
        return strdup("");
    }
    return sb_steal(&b, NULL);
}

static int grant_refresh(struct as *as, const struct as_request *rq, const struct form *f,
                         const struct as_client *cl, struct as_response *rs)
{
    const char *rt = form_get(f, "refresh_token"), *req = form_get(f, "scope");
    char *access = NULL, *scope = NULL, nrt[AS_RAND_MAX] = "", jti[STORE_ID_MAX];
    int64_t exp;
    bool reused;
    int r;
    if (!(cl->grants & CG_REFRESH))
        return as_error(rs, 400, "unauthorized_client",
                        "the client may not use the refresh_token grant");
    if (!rt)
        return as_error(rs, 400, "invalid_request", "refresh_token is required");
    uint8_t h[32];
    store_hash(rt, strlen(rt), h);
    struct st_family *fam = store_find_refresh(as->store, h, &reused);
    if (!fam || fam->exp <= rq->now)
        return as_error(rs, 400, "invalid_grant", "unknown or expired refresh token");
    if (fam->revoked)
        return as_error(rs, 400, "invalid_grant", "the refresh token was revoked");
    if (reused || strcmp(fam->client, cl->id)) {
        /* a rotated-out token came back, or another client holds it: it
         * leaked, so the whole family goes */
        revoke_family(as, fam);
        (void)store_save(as->store);
        log_msg(LOG_WARNING,
                "oauth: refresh token of client '%s' for '%s' %s; the grant is revoked",
                fam->client, fam->sub, reused ? "used twice" : "presented by another client");
        return as_error(rs, 400, "invalid_grant",
                        reused ? "refresh token reused; its grant is revoked"
                               : "the refresh token was issued to another client");
    }
    /* the user may have gone since */
    if (strcmp(fam->sub, fam->client) && !as_owner_allowed(as, fam->sub)) {
        revoke_family(as, fam);
        (void)store_save(as->store);
        return as_error(rs, 400, "invalid_grant", "the resource owner is no longer allowed");
    }
    scope = still_allowed(as, cl, fam->scope);
    if (!scope)
        return -ENOMEM;
    if (!*scope) {
        r = as_error(rs, 400, "invalid_grant", "none of the granted scopes is still available");
        goto out;
    }
    if (req) {
        if (!as_scope_subset(req, scope)) {
            r = as_error(rs, 400, "invalid_scope", "scope exceeds the original grant");
            goto out;
        }
        char *nsc = NULL;
        const char *why;
        r = as_scope_resolve(as, cl, req, &nsc, &why);
        if (r == -ENOMEM)
            goto out;
        if (r < 0) {
            r = as_error(rs, 400, "invalid_scope", why);
            goto out;
        }
        free(scope);
        scope = nsc;
    }
    /* rotate */
    if ((r = as_random(nrt, sizeof(nrt), AS_TOKEN_BYTES)) < 0)
        goto out;
    if (fam->n_old == STORE_MAX_OLD) {
        memmove(fam->old[0], fam->old[1], (STORE_MAX_OLD - 1) * 32);
        fam->n_old--;
    }
    memcpy(fam->old[fam->n_old++], fam->cur, 32);
    store_hash(nrt, strlen(nrt), fam->cur);
    fam->used_at = rq->now;
    r = as_mint_access(as, cl->id, fam->sub, scope, rq->now, &access, jti, &exp);
    if (r < 0)
        goto out;
    family_add(as, fam, jti, exp, rq->now);
    r = save_or_fail(as, rs);
    if (r != 0) {
        r = r < 0 ? r : 0;
        goto out;
    }
    r = token_response(as, rs, access, exp, rq->now, scope, nrt);
    log_msg(LOG_INFO, "oauth: token issued: grant=refresh_token client=%s sub=%s scope=%s", cl->id,
            fam->sub, scope);
out:
    OPENSSL_cleanse(nrt, sizeof(nrt));
    util_secret_free(access);
    free(scope);
    return r;
}

/* ---- the token endpoint ------------------------------------------------------------------ */

int as_token_endpoint(struct as *as, const struct as_request *rq, const struct form *f,
                      struct as_response *rs)
{
    const char *gt = form_get(f, "grant_type");
    const struct as_client *cl;
    if (!gt)
        return as_error(rs, 400, "invalid_request", "grant_type is required");
    bool known = !strcmp(gt, "authorization_code") || !strcmp(gt, "client_credentials") ||
                 !strcmp(gt, GRANT_TYPE_DEVICE_URN) || !strcmp(gt, "refresh_token");
    if (!known)
        return as_error(rs, 400, "unsupported_grant_type",
                        !strcmp(gt, "password") ? "the password grant is not supported (RFC 9700)"
                                                : "unsupported grant_type");
    int r = authenticate(as, rq, f, false, &cl, rs);
    if (r != 0)
        return r < 0 ? r : 0;
    if (!strcmp(gt, "authorization_code"))
        return grant_code(as, rq, f, cl, rs);
    if (!strcmp(gt, "client_credentials"))
        return grant_client(as, rq, f, cl, rs);
    if (!strcmp(gt, "refresh_token"))
        return grant_refresh(as, rq, f, cl, rs);
    return grant_device(as, rq, f, cl, rs);
}

/* ---- device authorization (RFC 8628 §3.1, §3.2) ------------------------------------------ */

bool as_user_code_norm(const char *in, char out[AS_USER_CODE_LEN + 1])
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == '-' || c == ' ')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (!strchr(AS_USER_CODE_CHARS, c) || c == '\0' || n == AS_USER_CODE_LEN)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    return n == AS_USER_CODE_LEN;
}

static int make_user_code(char out[AS_USER_CODE_LEN + 1])
{
    const size_t k = sizeof(AS_USER_CODE_CHARS) - 1; /* 20 */
    size_t n = 0;
    while (n < AS_USER_CODE_LEN) {
        uint8_t b[16];
        if (RAND_bytes(b, sizeof(b)) != 1)
            return -EIO;
        for (size_t i = 0; i < sizeof(b) && n < AS_USER_CODE_LEN; i++)
            if (b[i] < 256 - 256 % k) /* no modulo bias */
                out[n++] = AS_USER_CODE_CHARS[b[i] % k];
        OPENSSL_cleanse(b, sizeof(b));
    }
    out[n] = '\0';
    return 0;
}

int as_device_authorization(struct as *as, const struct as_request *rq, const struct form *f,
                            struct as_response *rs)
{
    const struct as_client *cl;
    char *scope = NULL, *vuri = NULL, *vcomplete = NULL, dc[AS_RAND_MAX], uc[AS_USER_CODE_LEN + 1];
    const char *why;
    int r = authenticate(as, rq, f, false, &cl, rs);
    if (r != 0)
        return r < 0 ? r : 0;
    if (!(cl->grants & CG_DEVICE))
        return as_error(rs, 400, "unauthorized_client",
                        "the client may not use the device_code grant");
    if (!as_device_rate_ok(as, rq->peer, rq->now)) {
        char sp[64];
        log_msg(LOG_WARNING, "oauth: too many device authorizations from %s",
                as_log_safe(rq->peer, sp, sizeof(sp)));
        return as_error(rs, 429, "slow_down", "too many device authorizations; try later");
    }
    r = as_scope_resolve(as, cl, form_get(f, "scope"), &scope, &why);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return as_error(rs, 400, "invalid_scope", why);
    uint8_t uh[32];
    int tries = 0;
    do {
        if ((r = make_user_code(uc)) < 0)
            goto out;
        store_hash(uc, AS_USER_CODE_LEN, uh);
    } while (store_find_user_code(as->store, uh) && ++tries < 8);
    if ((r = as_random(dc, sizeof(dc), AS_TOKEN_BYTES)) < 0)
        goto out;
    struct st_device *d = store_new_device(as->store, rq->now);
    if (!d || tries == 8) {
        r = as_error(rs, 503, "temporarily_unavailable",
                     "too many pending device requests; try again later");
        goto out;
    }
    *d = (struct st_device){0};
    store_hash(dc, strlen(dc), d->h);
    memcpy(d->uh, uh, 32);
    d->client = strdup(cl->id);
    d->scope = scope;
    scope = NULL;
    d->iat = rq->now;
    d->exp = rq->now + (int64_t)as->oc->device_code_lifetime_s;
    d->interval = (unsigned)as->oc->device_poll_interval_s;
    d->status = DEV_PENDING;
    if (!d->client) {
        d->exp = 0;
        r = -ENOMEM;
        goto out;
    }
    r = save_or_fail(as, rs);
    if (r != 0) {
        d->exp = 0;
        r = r < 0 ? r : 0;
        goto out;
    }
    char shown[AS_USER_CODE_LEN + 2];
    snprintf(shown, sizeof(shown), "%.4s-%.4s", uc, uc + 4);
    vuri = as_url(as, "/oauth/device");
    if (!vuri || asprintf(&vcomplete, "%s?user_code=%s", vuri, shown) < 0) {
        vcomplete = NULL;
        r = -ENOMEM;
        goto out;
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:i}", "device_code", dc, "user_code", shown,
                          "verification_uri", vuri, "verification_uri_complete", vcomplete,
                          "expires_in", (json_int_t)as->oc->device_code_lifetime_s, "interval",
                          (int)as->oc->device_poll_interval_s);
    r = as_json(rs, 200, o);
out:
    OPENSSL_cleanse(dc, sizeof(dc));
    OPENSSL_cleanse(uc, sizeof(uc));
    free(scope);
    free(vuri);
    free(vcomplete);
    return r;
}

/* ---- introspection (RFC 7662) and revocation (RFC 7009) -------------------------------- */

/* Verifies tok as one of our access tokens. On success fills claims and
 * *payload (the JSON claims, caller decrefs). */
static bool our_access_token(struct as *as, const char *tok, int64_t now, json_t **payload)
{
    struct jwt_claims cl = {0};
    const struct jwt_issuer *which = NULL;
    uint8_t *p = NULL;
    size_t pl = 0;
    *payload = NULL;
    enum jwt_error e = jwt_verify_payload(
            as->st->issuer_ptrs, as->st->n_issuers, OAUTH_LOCAL_ISSUER, tok, strlen(tok),
            (size_t)as->conf->limits.max_token_size, now, &cl, &which, &p, &pl);
    jwt_claims_free(&cl);
    if (e != JWT_OK) {
        free(p);
        return false;
    }
    *payload = json_loadb((const char *)p, pl, JSON_REJECT_DUPLICATES, NULL);
    free(p);
    const char *jti = json_string_value(json_object_get(*payload, "jti"));
    if (!jti || store_jti_revoked(as->store, jti)) {
        json_decref(*payload);
        *payload = NULL;
        return false;
    }
    return true;
}

int as_introspect(struct as *as, const struct as_request *rq, const struct form *f,
                  struct as_response *rs)
{
    const struct as_client *cl;
    const char *tok = form_get(f, "token");
    int r = authenticate(as, rq, f, true, &cl, rs);
    if (r != 0)
        return r < 0 ? r : 0;
    if (!tok)
        return as_error(rs, 400, "invalid_request", "token is required");
    /* refresh token? */
    uint8_t h[32];
    bool reused;
    store_hash(tok, strlen(tok), h);
    struct st_family *fam = store_find_refresh(as->store, h, &reused);
    if (fam && !reused && !fam->revoked && fam->exp > rq->now)
        return as_json(rs, 200,
                       json_pack("{s:b, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "active", 1,
                                 "client_id", fam->client, "sub", fam->sub, "scope", fam->scope,
                                 "iss", as->oc->issuer, "exp", (json_int_t)fam->exp, "iat",
                                 (json_int_t)fam->iat, "token_type", "refresh_token"));
    json_t *p = NULL;
    if (strlen(tok) <= JWT_HARD_MAX_SIZE && our_access_token(as, tok, rq->now, &p)) {
        json_t *o = json_pack("{s:b, s:O*, s:O*, s:O*, s:O*, s:O*, s:O*, s:O*, s:O*, s:s}",
                              "active", 1, "scope", json_object_get(p, "scope"), "client_id",
                              json_object_get(p, "client_id"), "sub", json_object_get(p, "sub"),
                              "iss", json_object_get(p, "iss"), "aud", json_object_get(p, "aud"),
                              "exp", json_object_get(p, "exp"), "iat", json_object_get(p, "iat"),
                              "jti", json_object_get(p, "jti"), "token_type", "Bearer");
        json_decref(p);
        return as_json(rs, 200, o);
    }
    return as_json(rs, 200, json_pack("{s:b}", "active", 0));
}

int as_revoke(struct as *as, const struct as_request *rq, const struct form *f,
              struct as_response *rs)
{
    const struct as_client *cl;
    const char *tok = form_get(f, "token");
    int r = authenticate(as, rq, f, false, &cl, rs);
    if (r != 0)
        return r < 0 ? r : 0;
    if (!tok)
        return as_error(rs, 400, "invalid_request", "token is required");
    uint8_t h[32];
    bool reused;
    store_hash(tok, strlen(tok), h);
    struct st_family *fam = store_find_refresh(as->store, h, &reused);
    if (fam && !strcmp(fam->client, cl->id) && !fam->revoked) {
        revoke_family(as, fam);
        r = save_or_fail(as, rs);
        if (r != 0)
            return r < 0 ? r : 0;
    } else if (!fam) {
        json_t *p = NULL;
        if (strlen(tok) <= JWT_HARD_MAX_SIZE && our_access_token(as, tok, rq->now, &p)) {
            const char *cid = json_string_value(json_object_get(p, "client_id"));
            const char *jti = json_string_value(json_object_get(p, "jti"));
            json_int_t exp = json_integer_value(json_object_get(p, "exp"));
            if (cid && jti && !strcmp(cid, cl->id) && store_revoke_jti(as->store, jti, exp) == 0) {
                r = save_or_fail(as, rs);
                if (r != 0) {
                    json_decref(p);
                    return r < 0 ? r : 0;
                }
            }
            json_decref(p);
        }
    }
    /* RFC 7009 §2.2: 200 also for unknown tokens and other clients' ones */
    free(rs->body);
    rs->body = strdup("");
    rs->body_len = 0;
    rs->status = 200;
    rs->content_type = "application/json";
    return rs->body ? 0 : -ENOMEM;
}
