/* store.c - persistent grants of the authorization server; see store.h.
 * Cleanup style: goto to one exit. */
#define _GNU_SOURCE
#include "store.h"

#include "../config.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

void store_hash(const char *s, size_t len, uint8_t out[32])
{
    unsigned n = 0;
    if (EVP_Digest(s, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
        memset(out, 0xff, 32); /* never matches a stored hash of real input */
}

void as_fix_owner(const char *path)
{
    struct stat st;
    if (geteuid() != 0)
        return;
    char *dir = util_dirname(path);
    if (dir && stat(dir, &st) == 0 && (st.st_uid != 0 || st.st_gid != 0))
        if (lchown(path, st.st_uid, st.st_gid) < 0) {
            /* best effort: the daemon reports an unreadable file itself */
        }
    free(dir);
}

int as_dir_prepare(const char *dir, struct diags *d)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            diag_add(d, dir, 0, "not a directory");
            return -ENOTDIR;
        }
        return 0;
    }
    if (errno != ENOENT) {
        int r = -errno;
        diag_add(d, dir, 0, "cannot use: %s", strerror(-r));
        return r;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        int r = -errno;
        diag_add(d, dir, 0, "cannot create the directory: %s (is [gateway] state_dir writable?)",
                 strerror(-r));
        return r;
    }
    as_fix_owner(dir);
    return 0;
}

/* ---- records --------------------------------------------------------------------- */

static void code_clear(struct st_code *c)
{
    free(c->client);
    free(c->redirect_uri);
    free(c->challenge);
    free(c->scope);
    free(c->sub);
    *c = (struct st_code){0};
}

static void device_clear(struct st_device *v)
{
    free(v->client);
    free(v->scope);
    free(v->sub);
    *v = (struct st_device){0};
}

static void family_clear(struct st_family *f)
{
    free(f->client);
    free(f->sub);
    free(f->scope);
    *f = (struct st_family){0};
}

void store_free(struct as_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_codes; i++)
        code_clear(&s->codes[i]);
    for (size_t i = 0; i < s->n_devices; i++)
        device_clear(&s->devices[i]);
    for (size_t i = 0; s->families && i < s->n_families; i++)
        family_clear(&s->families[i]);
    free(s->families);
    free(s->revoked);
    free(s->path);
    free(s);
}

struct st_code *store_new_code(struct as_store *s)
{
    if (s->n_codes == STORE_MAX_CODES) {
        /* evict the oldest */
        size_t o = 0;
        for (size_t i = 1; i < s->n_codes; i++)
            if (s->codes[i].iat < s->codes[o].iat)
                o = i;
        code_clear(&s->codes[o]);
        s->codes[o] = s->codes[--s->n_codes];
        s->codes[s->n_codes] = (struct st_code){0};
    }
    return &s->codes[s->n_codes++];
}

struct st_device *store_new_device(struct as_store *s, int64_t now)
{
    if (s->n_devices == STORE_MAX_DEVICES) {
        /* only an expired one may make room */
        size_t o = 0;
        for (size_t i = 1; i < s->n_devices; i++)
            if (s->devices[i].exp < s->devices[o].exp)
                o = i;
        if (s->devices[o].exp > now)
            return NULL;
        device_clear(&s->devices[o]);
        s->devices[o] = s->devices[--s->n_devices];
        s->devices[s->n_devices] = (struct st_device){0};
    }
    return &s->devices[s->n_devices++];
}

struct st_family *store_new_family(struct as_store *s)
{
    if (s->n_families == STORE_MAX_FAMILIES) {
        size_t o = 0;
        for (size_t i = 1; i < s->n_families; i++)
            if (s->families[i].used_at < s->families[o].used_at)
                o = i;
        family_clear(&s->families[o]);
        s->families[o] = s->families[--s->n_families];
        s->families[s->n_families] = (struct st_family){0};
    }
    return &s->families[s->n_families++];
}

/* Bumped by every change to any store's revoked ids (never reused, unlike
 * a store's address): the broker plugin's document is rebuilt on it. */
static uint64_t revoked_generation;

uint64_t store_revoked_generation(void)
{
    return revoked_generation;
}

int store_revoke_jti(struct as_store *s, const char *jti, int64_t exp)
{
    if (!jti || !*jti || strlen(jti) >= STORE_ID_MAX)
        return -EINVAL;
    if (store_jti_revoked(s, jti))
        return 0;
    if (s->n_revoked == STORE_MAX_REVOKED) {
        size_t o = 0;
        for (size_t i = 1; i < s->n_revoked; i++)
            if (s->revoked[i].exp < s->revoked[o].exp)
                o = i;
        s->revoked[o] = s->revoked[--s->n_revoked];
    }
    struct st_revoked *r = &s->revoked[s->n_revoked++];
    snprintf(r->jti, sizeof(r->jti), "%s", jti);
    r->exp = exp;
    revoked_generation++;
    return 0;
}

/* Forgets the access tokens of f that are past exp and the leeway at now
 * (order kept). */
static void family_drop_expired(struct st_family *f, int64_t now)
{
    size_t k = 0;
    /* still accepted within the issuer's leeway: kept, to be revoked */
    for (size_t i = 0; i < f->n_issued; i++)
        if (f->issued[i].exp > now - OAUTH_LOCAL_LEEWAY_S)
            f->issued[k++] = f->issued[i];
    for (size_t i = k; i < f->n_issued; i++)
        f->issued[i] = (struct st_revoked){0};
    f->n_issued = k;
}

int store_family_add_jti(struct as_store *s, struct st_family *f, const char *jti, int64_t exp,
                         int64_t now)
{
    int r = 0;
    if (!jti || !*jti || strlen(jti) >= STORE_ID_MAX)
        return -EINVAL;
    family_drop_expired(f, now);
    for (size_t i = 0; i < f->n_issued; i++)
        if (!strcmp(f->issued[i].jti, jti))
            return 0;
    if (f->n_issued == STORE_MAX_ISSUED) {
        /* full of live tokens: revoke the one closest to expiry rather
         * than lose track of it */
        size_t o = 0;
        for (size_t i = 1; i < f->n_issued; i++)
            if (f->issued[i].exp < f->issued[o].exp)
                o = i;
        (void)store_revoke_jti(s, f->issued[o].jti, f->issued[o].exp);
        memmove(&f->issued[o], &f->issued[o + 1], (f->n_issued - o - 1) * sizeof(f->issued[0]));
        f->issued[--f->n_issued] = (struct st_revoked){0};
        r = 1;
    }
    struct st_revoked *e = &f->issued[f->n_issued++];
    snprintf(e->jti, sizeof(e->jti), "%s", jti);
    e->exp = exp;
    return r;
}

void store_revoke_family(struct as_store *s, struct st_family *f)
{
    f->revoked = true;
    for (size_t i = 0; i < f->n_issued; i++)
        (void)store_revoke_jti(s, f->issued[i].jti, f->issued[i].exp);
}

struct st_code *store_find_code(struct as_store *s, const uint8_t h[32])
{
    for (size_t i = 0; i < s->n_codes; i++)
        if (!CRYPTO_memcmp(s->codes[i].h, h, 32))
            return &s->codes[i];
    return NULL;
}

struct st_device *store_find_device(struct as_store *s, const uint8_t h[32])
{
    for (size_t i = 0; i < s->n_devices; i++)
        if (!CRYPTO_memcmp(s->devices[i].h, h, 32))
            return &s->devices[i];
    return NULL;
}

struct st_device *store_find_user_code(struct as_store *s, const uint8_t uh[32])
{
    for (size_t i = 0; i < s->n_devices; i++)
        if (!CRYPTO_memcmp(s->devices[i].uh, uh, 32))
            return &s->devices[i];
    return NULL;
}

struct st_family *store_find_refresh(struct as_store *s, const uint8_t h[32], bool *reused)
{
    *reused = false;
    for (size_t i = 0; i < s->n_families; i++) {
        struct st_family *f = &s->families[i];
        if (!CRYPTO_memcmp(f->cur, h, 32))
            return f;
        for (size_t k = 0; k < f->n_old; k++)
            if (!CRYPTO_memcmp(f->old[k], h, 32)) {
                *reused = true;
                return f;
            }
    }
    return NULL;
}

struct st_family *store_find_family(struct as_store *s, const char *id)
{
    if (!id || !*id)
        return NULL;
    for (size_t i = 0; i < s->n_families; i++)
        if (!strcmp(s->families[i].id, id))
            return &s->families[i];
    return NULL;
}

bool store_jti_revoked(const struct as_store *s, const char *jti)
{
    for (size_t i = 0; i < s->n_revoked; i++)
        if (!strcmp(s->revoked[i].jti, jti))
            return true;
    return false;
}

void store_prune(struct as_store *s, int64_t now)
{
    for (size_t i = 0; i < s->n_codes;) {
        struct st_code *c = &s->codes[i];
        int64_t until = c->used ? c->iat + STORE_USED_CODE_KEEP_S : c->exp;
        if (until <= now) {
            code_clear(c);
            s->codes[i] = s->codes[--s->n_codes];
            s->codes[s->n_codes] = (struct st_code){0};
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < s->n_devices;) {
        /* kept a while after expiry, to answer expired_token */
        if (s->devices[i].exp + STORE_EXPIRED_KEEP_S <= now) {
            device_clear(&s->devices[i]);
            s->devices[i] = s->devices[--s->n_devices];
            s->devices[s->n_devices] = (struct st_device){0};
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < s->n_families;) {
        if (s->families[i].exp <= now) {
            family_clear(&s->families[i]);
            s->families[i] = s->families[--s->n_families];
            s->families[s->n_families] = (struct st_family){0};
        } else {
            family_drop_expired(&s->families[i], now);
            i++;
        }
    }
    for (size_t i = 0; i < s->n_revoked;) { /* as long as the leeway accepts them */
        if (s->revoked[i].exp <= now - OAUTH_LOCAL_LEEWAY_S) {
            s->revoked[i] = s->revoked[--s->n_revoked];
            revoked_generation++;
        } else
            i++;
    }
}

/* ---- JSON ------------------------------------------------------------------------ */

static json_t *hex_json(const uint8_t h[32])
{
    char x[65];
    hex_encode(h, 32, x);
    return json_string(x);
}

static bool hex_get(json_t *o, const char *key, uint8_t out[32])
{
    const char *s = json_string_value(json_object_get(o, key));
    size_t n = 0;
    return s && strlen(s) == 64 && hex_decode(s, out, 32, &n) == 0 && n == 32;
}

/* A string member copied, NULL when absent, null or over the limit. */
static bool str_get(json_t *o, const char *key, bool required, char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return !required;
    const char *s = json_string_value(v);
    if (!s || strlen(s) > STORE_TEXT_MAX)
        return false;
    *out = strdup(s);
    return *out != NULL;
}

static bool id_get(json_t *o, const char *key, char out[STORE_ID_MAX])
{
    const char *s = json_string_value(json_object_get(o, key));
    out[0] = '\0';
    if (!s)
        return !json_object_get(o, key);
    if (strlen(s) >= STORE_ID_MAX)
        return false;
    strcpy(out, s);
    return true;
}

static bool int_get(json_t *o, const char *key, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = json_integer_value(v);
    return true;
}

static json_t *nstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *dump(const struct as_store *s)
{
    json_t *codes = json_array(), *devs = json_array(), *fams = json_array(), *rev = json_array(),
           *root = NULL;
    if (!codes || !devs || !fams || !rev)
        goto fail;
    for (size_t i = 0; i < s->n_codes; i++) {
        const struct st_code *c = &s->codes[i];
        json_t *o =
                json_pack("{s:o, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:s, s:I}", "h",
                          hex_json(c->h), "client", c->client, "redirect_uri", c->redirect_uri,
                          "challenge", c->challenge, "scope", c->scope, "sub", c->sub, "iat",
                          (json_int_t)c->iat, "exp", (json_int_t)c->exp, "used", c->used, "family",
                          c->family, "jti", c->jti, "jti_exp", (json_int_t)c->jti_exp);
        if (!o || json_array_append_new(codes, o) < 0)
            goto fail;
    }
    for (size_t i = 0; i < s->n_devices; i++) {
        const struct st_device *v = &s->devices[i];
        json_t *o = json_pack("{s:o, s:o, s:s, s:s, s:o, s:I, s:I, s:i, s:i}", "h", hex_json(v->h),
                              "uh", hex_json(v->uh), "client", v->client, "scope", v->scope, "sub",
                              nstr(v->sub), "iat", (json_int_t)v->iat, "exp", (json_int_t)v->exp,
                              "interval", (int)v->interval, "status", v->status);
        if (!o || json_array_append_new(devs, o) < 0)
            goto fail;
    }
    for (size_t i = 0; i < s->n_families; i++) {
        const struct st_family *f = &s->families[i];
        json_t *old = json_array(), *issued = json_array();
        for (size_t k = 0; old && k < f->n_old; k++)
            if (json_array_append_new(old, hex_json(f->old[k])) < 0) {
                json_decref(old);
                old = NULL;
            }
        for (size_t k = 0; issued && k < f->n_issued; k++) {
            json_t *e = json_pack("{s:s, s:I}", "jti", f->issued[k].jti, "exp",
                                  (json_int_t)f->issued[k].exp);
            if (!e || json_array_append_new(issued, e) < 0) {
                json_decref(issued);
                issued = NULL;
            }
        }
        /* "jti" / "jti_exp": the newest, for an older wotgw reading the file */
        const struct st_revoked *last = f->n_issued ? &f->issued[f->n_issued - 1] : NULL;
        json_t *o = old && issued
                            ? json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:b, s:o, "
                                        "s:s, s:I}",
                                        "id", f->id, "client", f->client, "sub", f->sub, "scope",
                                        f->scope, "iat", (json_int_t)f->iat, "exp",
                                        (json_int_t)f->exp, "used_at", (json_int_t)f->used_at,
                                        "cur", hex_json(f->cur), "old", old, "revoked", f->revoked,
                                        "issued", issued, "jti", last ? last->jti : "", "jti_exp",
                                        (json_int_t)(last ? last->exp : 0))
                            : NULL;
        if (!o) {
            /* json_pack steals its "o" arguments even when it fails */
            if (!old || !issued) {
                json_decref(old);
                json_decref(issued);
            }
            goto fail;
        }
        if (json_array_append_new(fams, o) < 0)
            goto fail;
    }
    for (size_t i = 0; i < s->n_revoked; i++) {
        json_t *o = json_pack("{s:s, s:I}", "jti", s->revoked[i].jti, "exp",
                              (json_int_t)s->revoked[i].exp);
        if (!o || json_array_append_new(rev, o) < 0)
            goto fail;
    }
    root = json_pack("{s:i, s:o, s:o, s:o, s:o}", "version", 1, "codes", codes, "devices", devs,
                     "families", fams, "revoked", rev);
    return root;
fail:
    json_decref(codes);
    json_decref(devs);
    json_decref(fams);
    json_decref(rev);
    return NULL;
}

int store_save(struct as_store *s)
{
    json_t *j = dump(s);
    char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int r = -ENOMEM;
    json_decref(j);
    if (txt) {
        r = util_write_file_atomic(s->path, txt, strlen(txt), 0600);
        if (r == 0)
            as_fix_owner(s->path);
    }
    free(txt);
    return r;
}

static bool load_code(json_t *o, struct st_code *c)
{
    int64_t used = 0;
    json_t *u = json_object_get(o, "used");
    if (!json_is_boolean(u))
        return false;
    used = json_is_true(u);
    c->used = used;
    return hex_get(o, "h", c->h) && str_get(o, "client", true, &c->client) &&
           str_get(o, "redirect_uri", true, &c->redirect_uri) &&
           str_get(o, "challenge", true, &c->challenge) && str_get(o, "scope", true, &c->scope) &&
           str_get(o, "sub", true, &c->sub) && int_get(o, "iat", &c->iat) &&
           int_get(o, "exp", &c->exp) && id_get(o, "family", c->family) &&
           id_get(o, "jti", c->jti) && int_get(o, "jti_exp", &c->jti_exp);
}

static bool load_device(json_t *o, struct st_device *v)
{
    int64_t interval = 0, status = 0;
    json_t *st = json_object_get(o, "status"), *iv = json_object_get(o, "interval");
    if (!json_is_integer(st) || !json_is_integer(iv))
        return false;
    status = json_integer_value(st);
    interval = json_integer_value(iv);
    if (status < DEV_PENDING || status > DEV_USED || interval < 1 || interval > 3600)
        return false;
    v->status = (int)status;
    v->interval = (unsigned)interval;
    return hex_get(o, "h", v->h) && hex_get(o, "uh", v->uh) &&
           str_get(o, "client", true, &v->client) && str_get(o, "scope", true, &v->scope) &&
           str_get(o, "sub", false, &v->sub) && int_get(o, "iat", &v->iat) &&
           int_get(o, "exp", &v->exp) &&
           (v->status == DEV_PENDING || v->status == DEV_DENIED || v->sub);
}

/* The access tokens of a family: "issued", or in a file written before
 * it existed, "jti" / "jti_exp" (the last one). */
static bool load_issued(json_t *o, struct st_family *f)
{
    json_t *iss = json_object_get(o, "issued"), *e;
    size_t i;
    if (!iss) {
        char jti[STORE_ID_MAX];
        int64_t exp = 0;
        if (!id_get(o, "jti", jti))
            return false;
        if (!jti[0])
            return !json_object_get(o, "jti_exp") || int_get(o, "jti_exp", &exp);
        return int_get(o, "jti_exp", &exp) && store_family_add_jti(NULL, f, jti, exp, 0) == 0;
    }
    if (!json_is_array(iss) || json_array_size(iss) > STORE_MAX_ISSUED)
        return false;
    json_array_foreach(iss, i, e)
    {
        char jti[STORE_ID_MAX];
        int64_t exp = 0;
        if (!json_is_object(e) || !id_get(e, "jti", jti) || !jti[0] || !int_get(e, "exp", &exp))
            return false;
        /* never full here (at most STORE_MAX_ISSUED entries): s unused */
        if (store_family_add_jti(NULL, f, jti, exp, 0) != 0)
            return false;
    }
    return true;
}

static bool load_family(json_t *o, struct st_family *f)
{
    json_t *old = json_object_get(o, "old"), *rv = json_object_get(o, "revoked"), *e;
    size_t i;
    if (!json_is_array(old) || json_array_size(old) > STORE_MAX_OLD || !json_is_boolean(rv))
        return false;
    f->revoked = json_is_true(rv);
    json_array_foreach(old, i, e)
    {
        const char *s = json_string_value(e);
        size_t n = 0;
        if (!s || strlen(s) != 64 || hex_decode(s, f->old[i], 32, &n) < 0 || n != 32)
            return false;
        f->n_old++;
    }
    return id_get(o, "id", f->id) && f->id[0] && str_get(o, "client", true, &f->client) &&
           str_get(o, "sub", true, &f->sub) && str_get(o, "scope", true, &f->scope) &&
           int_get(o, "iat", &f->iat) && int_get(o, "exp", &f->exp) &&
           int_get(o, "used_at", &f->used_at) && hex_get(o, "cur", f->cur) && load_issued(o, f);
}

static int load(struct as_store *s, const char *buf, size_t len, struct diags *d)
{
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je), *arr, *e;
    size_t i, skipped = 0;
    if (!root || !json_is_object(root) ||
        json_integer_value(json_object_get(root, "version")) != 1) {
        json_decref(root);
        return -EINVAL;
    }
    arr = json_object_get(root, "codes");
    json_array_foreach(arr, i, e)
    {
        if (s->n_codes == STORE_MAX_CODES)
            break;
        struct st_code *c = &s->codes[s->n_codes];
        if (load_code(e, c))
            s->n_codes++;
        else
            code_clear(c), skipped++;
    }
    arr = json_object_get(root, "devices");
    json_array_foreach(arr, i, e)
    {
        if (s->n_devices == STORE_MAX_DEVICES)
            break;
        struct st_device *v = &s->devices[s->n_devices];
        if (load_device(e, v))
            s->n_devices++;
        else
            device_clear(v), skipped++;
    }
    arr = json_object_get(root, "families");
    json_array_foreach(arr, i, e)
    {
        if (s->n_families == STORE_MAX_FAMILIES)
            break;
        struct st_family *f = &s->families[s->n_families];
        if (load_family(e, f) && !store_find_family(s, f->id))
            s->n_families++;
        else
            family_clear(f), skipped++;
    }
    arr = json_object_get(root, "revoked");
    json_array_foreach(arr, i, e)
    {
        const char *jti = json_string_value(json_object_get(e, "jti"));
        int64_t exp;
        if (jti && int_get(e, "exp", &exp) && store_revoke_jti(s, jti, exp) == 0)
            continue;
        skipped++;
    }
    if (skipped)
        diag_warn(d, s->path, 0, "%zu invalid records skipped", skipped);
    json_decref(root);
    return 0;
}

/* Temp files left by a crash in the middle of store_save(): never read,
 * removed. */
static void remove_temp_files(const char *dir)
{
    static const char prefix[] = AS_STORE_FILE ".tmp";
    DIR *dp = opendir(dir);
    struct dirent *e;
    if (!dp)
        return;
    while ((e = readdir(dp)))
        if (!strncmp(e->d_name, prefix, sizeof(prefix) - 1))
            (void)unlinkat(dirfd(dp), e->d_name, 0);
    closedir(dp);
}

int store_open(const char *dir, int64_t now, struct as_store **out, struct diags *d)
{
    struct as_store *s = calloc(1, sizeof(*s));
    char *buf = NULL;
    size_t len = 0;
    int r;
    *out = NULL;
    if (!s)
        return -ENOMEM;
    s->families = calloc(STORE_MAX_FAMILIES, sizeof(*s->families));
    s->revoked = calloc(STORE_MAX_REVOKED, sizeof(*s->revoked));
    if (!s->families || !s->revoked || asprintf(&s->path, "%s/%s", dir, AS_STORE_FILE) < 0) {
        s->path = NULL;
        r = -ENOMEM;
        goto fail;
    }
    r = as_dir_prepare(dir, d);
    if (r < 0)
        goto fail;
    remove_temp_files(dir);
    r = util_read_file(s->path, STORE_MAX_FILE_SIZE, &buf, &len);
    if (r == -ENOENT) {
        r = 0;
    } else if (r < 0 && r != -EFBIG) {
        diag_add(d, s->path, 0, "cannot read: %s", strerror(-r));
        goto fail;
    } else if (r == -EFBIG || load(s, buf, len, d) < 0) {
        /* fail closed: start empty, keep the old file for a look */
        char *aside = NULL;
        if (asprintf(&aside, "%s.corrupt", s->path) >= 0) {
            (void)rename(s->path, aside);
            diag_warn(d, s->path, 0,
                      "unreadable grants store moved to %s; starting empty (every refresh token "
                      "issued so far is refused)",
                      aside);
            free(aside);
        }
        r = 0;
    }
    free(buf);
    buf = NULL;
    store_prune(s, now);
    *out = s;
    return 0;
fail:
    free(buf);
    store_free(s);
    return r;
}
