/* acl.c - the decisions of wotgw's mosquitto plugin; see acl.h.
 *
 * Cleanup style: goto to one exit where a function owns more than one
 * resource; secrets are wiped with OPENSSL_cleanse before they are freed.
 */
#define _GNU_SOURCE
#include "acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/certmap.h"
#include "auth/credcache.h"
#include "auth/jwt.h"
#include "auth/keysync.h"
#include "auth/users.h"
#include "log.h"

struct cache_slot {
    uint64_t generation; /* 0: empty */
    uint64_t hash;
    char *topic;
    char *principal;
    enum mqacl_access access;
    bool allow;
};

struct mqacl_client {
    char *client_id;
    char *peer;
    bool daemon;
    /* what it presented, kept for the decisions (wiped on free) */
    char *user;
    char *pass;
    size_t pass_len;
    char *token;
    size_t token_len;
    int64_t token_until;         /* exp + leeway; valid while now < token_until (as jwt.c) */
    char *token_iss, *token_jti; /* for revocation (keysync_revoked); may be NULL */
    bool has_cert;
    char cert_cn[CERTMAP_MAX_CN + 1];
    char cert_sha256[65];
    struct credentials cred;
    char principal[POLICY_PRINCIPAL_MAX]; /* of the last allowed publish */
    struct cache_slot *cache;             /* MQACL_CACHE_SLOTS, made on first use */
};

static struct mqacl_stats stats;

void mqacl_get_stats(struct mqacl_stats *st)
{
    *st = stats;
}

/* ---- loading ---------------------------------------------------------------- */

static void secret_free(char *s, size_t n)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, n);
    free(s);
}

/* Reads wotgw's own password: one line, a trailing newline dropped. */
static int read_secret(const char *path, char **out, size_t *outlen, struct diags *d)
{
    int r = util_read_secret_line(path, MQACL_SECRET_MIN, MQACL_SECRET_MAX, out, outlen);
    if (r == -EINVAL)
        diag_add(d, path, 1,
                 "wotgw's MQTT password must be one line of %d to %d bytes (e.g. `openssl rand "
                 "-base64 32`)",
                 MQACL_SECRET_MIN, MQACL_SECRET_MAX);
    else if (r < 0)
        diag_add(d, path, 0, "cannot read wotgw's MQTT password: %s",
                 r == -EFBIG ? "longer than 1024 bytes" : strerror(-r));
    return r;
}

static void clear_loaded(struct mqacl *a)
{
    state_free(a->state);
    a->state = NULL;
    secret_free(a->secret, a->secret_len);
    a->secret = NULL;
    a->secret_len = 0;
}

static void log_keys_diags(const struct diags *d)
{
    for (size_t i = 0; i < d->n; i++)
        log_msg(d->v[i].warning ? LOG_WARNING : LOG_ERR, "mqtts: %s: %s", d->v[i].file,
                d->v[i].msg);
}

int mqacl_load(struct mqacl *a, const char *config_path, struct diags *d)
{
    struct gw_state *s = NULL;
    char *secret = NULL;
    size_t secret_len = 0;
    /* never the authorization server's keys from its state directory:
     * they come from the daemon (mqacl_keys_update) */
    int r = state_load_opts(config_path, STATE_LOAD_NO_LOCAL_KEYS, &s, d);
    if (r < 0)
        return r;
    const struct mqtt_conf *mc = &s->conf->mqtt;
    if (!mc->enabled || !mc->topic_prefix || !mc->client_id || !mc->password_file) {
        diag_add(d, config_path, 0,
                 "no [mqtt] section: the broker plugin has no topics to enforce and refuses "
                 "every client");
        r = -EINVAL;
        goto fail;
    }
    r = read_secret(mc->password_file, &secret, &secret_len, d);
    if (r < 0)
        goto fail;
    if (a->keys) { /* the daemon's keys, until it sends new ones */
        struct diags kd = {0};
        keysync_apply(a->keys, s, &kd);
        log_keys_diags(&kd);
        diag_free(&kd);
    }
    clear_loaded(a);
    a->state = s;
    a->secret = secret;
    a->secret_len = secret_len;
    a->generation++;
    return 0;
fail:
    state_free(s);
    return r;
}

void mqacl_clear(struct mqacl *a)
{
    clear_loaded(a);
    keysync_free(a->keys);
    a->keys = NULL;
}

bool mqacl_is_keys_topic(const struct mqacl *a, const char *topic)
{
    if (!a->state || !topic)
        return false;
    const char *prefix = a->state->conf->mqtt.topic_prefix;
    size_t pl = strlen(prefix);
    return !strncmp(topic, prefix, pl) && topic[pl] == '/' &&
           !strcmp(topic + pl + 1, KEYSYNC_TOPIC_LEVELS);
}

int mqacl_keys_update(struct mqacl *a, const void *doc, size_t len)
{
    const char *why = NULL;
    struct keysync *k = NULL;
    int r = keysync_parse(doc, len, &k, &why);
    if (r < 0) {
        log_msg(LOG_ERR, "mqtts: the keys from wotgw were refused (%s); the previous ones stay",
                r == -ENOMEM ? "out of memory" : why);
        return r;
    }
    struct diags d = {0};
    size_t n = a->state ? keysync_apply(k, a->state, &d) : 0;
    log_keys_diags(&d);
    diag_free(&d);
    keysync_free(a->keys);
    a->keys = k;
    a->generation++; /* decisions cached before may be for revoked tokens */
    /* wotgw sends one at every connection and then only on changes */
    log_msg(LOG_INFO,
            "mqtts: keys from wotgw: %zu issuer(s) (%zu configured here), %zu revoked token(s)",
            keysync_n_issuers(k), n, keysync_n_revoked(k));
    return 0;
}

/* ---- clients ----------------------------------------------------------------- */

static void cache_free(struct cache_slot *c)
{
    for (size_t i = 0; c && i < MQACL_CACHE_SLOTS; i++) {
        free(c[i].topic);
        free(c[i].principal);
    }
    free(c);
}

void mqacl_client_free(struct mqacl_client *cl)
{
    if (!cl)
        return;
    if (cl->pass)
        secret_free(cl->pass, cl->pass_len);
    if (cl->token)
        secret_free(cl->token, cl->token_len);
    free(cl->user);
    free(cl->token_iss);
    free(cl->token_jti);
    free(cl->client_id);
    free(cl->peer);
    cache_free(cl->cache);
    OPENSSL_cleanse(cl, sizeof(*cl));
    free(cl);
}

const char *mqacl_client_principal(const struct mqacl_client *cl)
{
    return cl ? cl->principal : "";
}

bool mqacl_may_clear(const struct mqacl *a, const struct mqacl_client *cl, const char *topic)
{
    struct mqtt_topic t;
    if (!a->state || !cl || !cl->daemon || !topic ||
        mqtt_topic_parse(a->state->conf->mqtt.topic_prefix, topic, &t) < 0)
        return false;
    return t.kind == MQTT_TOPIC_PROPERTY || t.kind == MQTT_TOPIC_PROPERTY_COSE;
}

bool mqacl_client_is_daemon(const struct mqacl_client *cl)
{
    return cl && cl->daemon;
}

static bool peer_is_loopback(const char *peer)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (!peer)
        return false;
    if (inet_pton(AF_INET, peer, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, peer, &a6) != 1)
        return false;
    if (!memcmp(&a6, &in6addr_loopback, sizeof(a6)))
        return true;
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

/* A compact JWS: "eyJ" (a JSON object header), three non-empty base64url
 * parts. Anything else is a password. */
static bool looks_like_jwt(const char *s)
{
    if (strncmp(s, "eyJ", 3) != 0)
        return false;
    int dots = 0;
    size_t part = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (!part)
                return false;
            dots++;
            part = 0;
            continue;
        }
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return false;
        part++;
    }
    return dots == 2 && part > 0;
}

static void principal_add(char *buf, size_t len, const char *s)
{
    size_t n = strlen(buf);
    if (n && n + 1 < len)
        buf[n++] = '+', buf[n] = '\0';
    snprintf(buf + n, len - n, "%s", s);
}

int mqacl_authenticate(const struct mqacl *a, const struct mqacl_connect *c, int64_t now,
                       struct mqacl_client **out, const char **reason, char *principal,
                       size_t principal_len)
{
    struct mqacl_client *cl = NULL;
    struct jwt_claims claims = {0};
    int r = -EACCES;
    *out = NULL;
    principal[0] = '\0';
    if (!a->state) {
        *reason = "no configuration loaded: every client is refused";
        goto done;
    }
    const struct gw_state *s = a->state;
    const struct mqtt_conf *mc = &s->conf->mqtt;
    if (!c->client_id || !*c->client_id || strlen(c->client_id) > MQACL_MAX_CLIENT_ID) {
        *reason = "no usable client id";
        goto done;
    }
    cl = calloc(1, sizeof(*cl));
    if (!cl || !(cl->client_id = strdup(c->client_id)) ||
        !(cl->peer = strdup(c->peer ? c->peer : "?"))) {
        *reason = "out of memory";
        r = -ENOMEM;
        goto done;
    }

    /* wotgw's own client: its id and user name are reserved */
    bool own_id = !strcmp(c->client_id, mc->client_id);
    bool own_user = c->username && !strcmp(c->username, mc->client_id);
    if (own_id || own_user) {
        if (!own_id || !own_user) {
            *reason = "client id or user name reserved for wotgw's own client";
            goto done;
        }
        if (!c->password || !a->secret ||
            !util_secret_eq(c->password, strlen(c->password), a->secret, a->secret_len)) {
            *reason = "wrong password for wotgw's own client";
            goto done;
        }
        if (mc->broker_loopback && !peer_is_loopback(c->peer)) {
            *reason = "wotgw's own client must connect from loopback";
            goto done;
        }
        cl->daemon = true;
        snprintf(principal, principal_len, "%s", mc->client_id);
        r = 0;
        goto done;
    }

    if (!c->password && !c->cert_cn) {
        *reason = c->username ? "a user name without a password" : "no credentials";
        goto done;
    }
    if (c->password) {
        size_t plen = strlen(c->password);
        if (looks_like_jwt(c->password)) {
            const struct jwt_issuer *which = NULL;
            enum jwt_error e = credcache_jwt_verify(
                    s->credcache, (const struct jwt_issuer *const *)s->issuer_ptrs, s->n_issuers,
                    NULL, c->password, plen, (size_t)s->conf->limits.max_token_size, now, &claims,
                    &which);
            if (e != JWT_OK) {
                *reason = jwt_error_str(e);
                goto done;
            }
            uint64_t leeway = which && which->conf ? which->conf->leeway_s : 0;
            if (leeway > JWT_MAX_LEEWAY_S)
                leeway = JWT_MAX_LEEWAY_S;
            cl->token_until = claims.exp + (int64_t)leeway;
            if (!(cl->token = strdup(c->password))) {
                *reason = "out of memory";
                r = -ENOMEM;
                goto done;
            }
            if (claims.jti && keysync_revoked(a->keys, claims.iss, claims.jti)) {
                *reason = "the access token was revoked";
                goto done;
            }
            if ((claims.iss && !(cl->token_iss = strdup(claims.iss))) ||
                (claims.jti && !(cl->token_jti = strdup(claims.jti)))) {
                *reason = "out of memory";
                r = -ENOMEM;
                goto done;
            }
            cl->token_len = plen;
            cl->cred.bearer = cl->token;
            cl->cred.bearer_len = plen;
            char who[POLICY_PRINCIPAL_MAX];
            snprintf(who, sizeof(who), "%s:%s", which && which->conf ? which->conf->name : "?",
                     claims.sub ? claims.sub : "?");
            principal_add(principal, principal_len, who);
        } else {
            if (!c->username) {
                *reason = "a password without a user name";
                goto done;
            }
            if (!credcache_users_verify(s->credcache, s->users, c->username, c->password, plen, now,
                                        NULL)) {
                *reason = "wrong user name or password";
                goto done;
            }
            if (!(cl->user = strdup(c->username)) || !(cl->pass = strdup(c->password))) {
                *reason = "out of memory";
                r = -ENOMEM;
                goto done;
            }
            cl->pass_len = plen;
            cl->cred.basic_user = cl->user;
            cl->cred.basic_pass = cl->pass;
            cl->cred.basic_pass_len = plen;
            principal_add(principal, principal_len, c->username);
        }
    }
    if (c->cert_cn) {
        if (strlen(c->cert_cn) > CERTMAP_MAX_CN || !c->cert_sha256 ||
            strlen(c->cert_sha256) != 64) {
            *reason = "unusable client certificate";
            goto done;
        }
        cl->has_cert = true;
        snprintf(cl->cert_cn, sizeof(cl->cert_cn), "%s", c->cert_cn);
        snprintf(cl->cert_sha256, sizeof(cl->cert_sha256), "%s", c->cert_sha256);
        cl->cred.cert_cn = cl->cert_cn;
        cl->cred.cert_sha256 = cl->cert_sha256;
        const char *p = certmap_principal(s->certmap, cl->cert_cn, cl->cert_sha256);
        principal_add(principal, principal_len, p ? p : "?");
    }
    r = 0;
done:
    jwt_claims_free(&claims);
    if (r == 0) {
        *reason = "authenticated";
        *out = cl;
    } else {
        principal[0] = '\0';
        mqacl_client_free(cl);
    }
    return r;
}

/* ---- decisions ----------------------------------------------------------------- */

static enum wot_aff_kind topic_aff_kind(enum mqtt_topic_kind k)
{
    switch (k) {
    case MQTT_TOPIC_PROPERTY:
    case MQTT_TOPIC_PROPERTY_SET:
    case MQTT_TOPIC_PROPERTY_COSE: return AFF_PROPERTY;
    case MQTT_TOPIC_ACTION:
    case MQTT_TOPIC_ACTION_RESPONSE: return AFF_ACTION;
    case MQTT_TOPIC_EVENT:
    case MQTT_TOPIC_EVENT_COSE: return AFF_EVENT;
    }
    return AFF_THING;
}

/* A topic of the layout whose thing and affordance are loaded. */
static const struct thing *resolve(const struct mqacl *a, const char *topic, struct mqtt_topic *t,
                                   const char **reason)
{
    if (mqtt_topic_parse(a->state->conf->mqtt.topic_prefix, topic, t) < 0) {
        *reason = "not a topic of wotgw's layout";
        return NULL;
    }
    const struct thing *th = state_find_thing(a->state, t->thing);
    if (!th) {
        *reason = "no such thing";
        return NULL;
    }
    if (!td_find(th->td, topic_aff_kind(t->kind), t->name)) {
        *reason = "no such affordance";
        return NULL;
    }
    /* an encrypted topic exists for the principals cose_encrypt_to names */
    if ((t->kind == MQTT_TOPIC_PROPERTY_COSE || t->kind == MQTT_TOPIC_EVENT_COSE) &&
        !util_strv_contains(th->conf->cose_encrypt_to, t->client)) {
        *reason = "no such encrypted topic (cose_encrypt_to)";
        return NULL;
    }
    return th;
}

/* One decision on a topic name (no wildcards). */
struct verdict {
    bool allow;
    const char *reason;
    const char *op; /* the operation decided on */
    char principal[POLICY_PRINCIPAL_MAX];
    char thing[MQTT_TOPIC_NAME_MAX + 1]; /* "" when not known */
    char affordance[MQTT_TOPIC_NAME_MAX + 1];
};

static void decide_topic(const struct mqacl *a, const struct mqacl_client *cl, const char *topic,
                         bool publish, int64_t now, struct verdict *v)
{
    struct mqtt_topic t;
    const struct thing *th = resolve(a, topic, &t, &v->reason);
    v->allow = false;
    v->op = NULL;
    v->principal[0] = v->thing[0] = v->affordance[0] = '\0';
    if (!th)
        return;
    memcpy(v->thing, t.thing, sizeof(v->thing));
    memcpy(v->affordance, t.name, sizeof(v->affordance));
    enum wot_op ops[MQTT_TOPIC_MAX_OPS];
    size_t n = mqtt_topic_ops(t.kind, publish, ops);
    if (!n) {
        v->reason = publish ? "only wotgw publishes to this topic"
                            : "only wotgw subscribes to this topic";
        return;
    }
    if (t.kind == MQTT_TOPIC_ACTION_RESPONSE && strcmp(t.client, cl->client_id) != 0) {
        v->reason = "the response topic of another client";
        return;
    }
    struct policy_env env;
    state_policy_env(a->state, now, &env);
    bool why_not_exposed = false;
    v->reason = NULL;
    for (size_t i = 0; i < n; i++) {
        struct policy_decision dec;
        const char *aff = wot_op_aff_kind(ops[i]) == AFF_THING ? NULL : t.name;
        policy_decide(&env, th->policy, aff, ops[i], &cl->cred, &dec);
        bool not_exposed = dec.verdict == POLICY_DENY_NOT_EXPOSED;
        if (dec.verdict == POLICY_ALLOW || !v->reason || (why_not_exposed && !not_exposed)) {
            /* the allow, else the first denial that is more than "not exposed" */
            v->reason = dec.reason;
            v->op = wot_op_name(ops[i]);
            why_not_exposed = not_exposed;
            snprintf(v->principal, sizeof(v->principal), "%s", dec.principal);
        }
        if (dec.verdict == POLICY_ALLOW) {
            /* a COSE_Encrypt0 topic: only for the principal it is
             * encrypted to (what the policy decided for) */
            if ((t.kind == MQTT_TOPIC_PROPERTY_COSE || t.kind == MQTT_TOPIC_EVENT_COSE) &&
                strcmp(dec.principal, t.client) != 0) {
                v->reason = "the encrypted topic of another principal";
                return;
            }
            v->allow = true;
            return;
        }
    }
}

/* One topic a wildcard filter matches: true when that settles the
 * subscription (v filled: allowed, or the budget of topics to check is
 * spent), false to go on with the next. */
static bool wildcard_try(const struct mqacl *a, const struct mqacl_client *cl, const char *topic,
                         int64_t now, size_t *budget, struct verdict *v)
{
    if (!(*budget)--) {
        v->reason = "the filter matches too many topics to check";
        return true;
    }
    struct verdict one;
    decide_topic(a, cl, topic, false, now, &one);
    if (!one.allow)
        return false;
    *v = one;
    v->op = "subscribe";
    return true;
}

/* A filter with wildcards: accepted when some existing topic it matches
 * may be read (deliveries are decided one by one anyway). */
static void decide_wildcard(const struct mqacl *a, const struct mqacl_client *cl,
                            const char *filter, int64_t now, struct verdict *v)
{
    const struct gw_state *s = a->state;
    const char *prefix = s->conf->mqtt.topic_prefix;
    size_t budget = MQACL_MAX_WILDCARD_CHECKS;
    char base[MQTT_TOPIC_MAX + 1], topic[MQTT_TOPIC_MAX + 1];
    v->allow = false;
    v->op = "subscribe";
    v->principal[0] = v->thing[0] = v->affordance[0] = '\0';
    v->reason = "no topic the client may read matches the filter";
    if (!mqtt_filter_match_under(filter, prefix))
        return;
    for (size_t i = 0; i < s->n_things; i++) {
        const struct thing *th = &s->things[i];
        size_t pl = strlen(prefix);
        memcpy(base, prefix, pl);
        base[pl] = '/';
        if (mqtt_level_encode(th->conf->name, base + pl + 1, sizeof(base) - pl - 1) < 0 ||
            !mqtt_filter_match_under(filter, base))
            continue;
        for (size_t k = 0; k < th->td->n_affs; k++) {
            const struct td_affordance *af = &th->td->affs[k];
            enum mqtt_topic_kind kind = af->kind == AFF_PROPERTY ? MQTT_TOPIC_PROPERTY
                                        : af->kind == AFF_EVENT  ? MQTT_TOPIC_EVENT
                                                                 : MQTT_TOPIC_ACTION_RESPONSE;
            if (mqtt_topic_format(prefix, kind, th->conf->name, af->name,
                                  kind == MQTT_TOPIC_ACTION_RESPONSE ? cl->client_id : NULL, topic,
                                  sizeof(topic)) < 0)
                continue;
            bool match = kind == MQTT_TOPIC_ACTION_RESPONSE ? mqtt_filter_match_under(filter, topic)
                                                            : mqtt_filter_match(filter, topic);
            if (!match)
                continue;
            if (wildcard_try(a, cl, topic, now, &budget, v))
                return;
        }
        /* the COSE_Encrypt0 topics of the thing's values and events */
        for (size_t k = 0; th->conf->cose_encrypt_to && k < th->td->n_affs; k++) {
            const struct td_affordance *af = &th->td->affs[k];
            if (af->kind != AFF_PROPERTY && af->kind != AFF_EVENT)
                continue;
            for (char *const *p = th->conf->cose_encrypt_to; *p; p++) {
                if (mqtt_topic_format(prefix,
                                      af->kind == AFF_PROPERTY ? MQTT_TOPIC_PROPERTY_COSE
                                                               : MQTT_TOPIC_EVENT_COSE,
                                      th->conf->name, af->name, *p, topic, sizeof(topic)) < 0 ||
                    !mqtt_filter_match(filter, topic))
                    continue;
                if (wildcard_try(a, cl, topic, now, &budget, v))
                    return;
            }
        }
    }
}

/* wotgw's own client. */
static bool daemon_check(const struct mqacl *a, enum mqacl_access access, const char *topic,
                         const char **reason)
{
    const char *prefix = a->state->conf->mqtt.topic_prefix;
    struct mqtt_topic t;
    if (access == MQACL_UNSUBSCRIBE)
        return *reason = "allowed", true;
    if (access == MQACL_SUBSCRIBE) {
        const char *f = mqtt_filter_strip_share(topic);
        size_t pl = strlen(prefix);
        if (!f || !mqtt_filter_valid(f) || strncmp(f, prefix, pl) != 0 || f[pl] != '/')
            return *reason = "wotgw subscribes only under its topic prefix", false;
        return *reason = "allowed", true;
    }
    if (access == MQACL_WRITE && mqacl_is_keys_topic(a, topic))
        return *reason = "allowed", true;
    if (!resolve(a, topic, &t, reason))
        return false;
    bool ok = access == MQACL_WRITE
                      ? (t.kind == MQTT_TOPIC_PROPERTY || t.kind == MQTT_TOPIC_EVENT ||
                         t.kind == MQTT_TOPIC_ACTION_RESPONSE ||
                         t.kind == MQTT_TOPIC_PROPERTY_COSE || t.kind == MQTT_TOPIC_EVENT_COSE)
                      : (t.kind == MQTT_TOPIC_PROPERTY_SET || t.kind == MQTT_TOPIC_ACTION ||
                         t.kind == MQTT_TOPIC_PROPERTY);
    *reason = ok ? "allowed" : "not a topic wotgw's own client uses that way";
    return ok;
}

static uint64_t topic_hash(const char *topic, enum mqacl_access access)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)access;
    for (const unsigned char *p = (const unsigned char *)topic; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

static const char *access_name(enum mqacl_access a)
{
    switch (a) {
    case MQACL_READ: return "deliver";
    case MQACL_WRITE: return "publish";
    case MQACL_SUBSCRIBE: return "subscribe";
    case MQACL_UNSUBSCRIBE: return "unsubscribe";
    }
    return "?";
}

static void log_verdict(const struct mqacl_client *cl, enum mqacl_access access, const char *topic,
                        const struct verdict *v)
{
    int prio = v->allow || access == MQACL_READ ? LOG_DEBUG : LOG_NOTICE;
    if (prio == LOG_DEBUG && !log_debug_enabled())
        return;
    char why[MQTT_TOPIC_MAX + 256];
    snprintf(why, sizeof(why), "%s (%s %s)", v->reason ? v->reason : "-", access_name(access),
             topic);
    struct log_interaction li = {
            .thing = v->thing[0] ? v->thing : NULL,
            .affordance = v->affordance[0] ? v->affordance : NULL,
            .op = v->op,
            .protocol = "mqtts",
            .principal = v->principal[0] ? v->principal : NULL,
            .peer = cl ? cl->peer : NULL,
            .decision = v->allow ? "allow" : "deny",
            .reason = why,
            .status = v->allow ? 0 : 135, /* MQTT 5 "Not authorized" */
    };
    log_interaction(prio, &li);
}

bool mqacl_check(const struct mqacl *a, struct mqacl_client *cl, const char *client_id,
                 const char *username, enum mqacl_access access, const char *topic, bool retain,
                 int64_t now, const char **reason)
{
    stats.checks++;
    if (!a->state || !topic) {
        *reason = "no configuration loaded";
        goto deny;
    }
    const struct mqtt_conf *mc = &a->state->conf->mqtt;
    if (!cl) {
        /* wotgw's own persistent session while it is offline: messages
         * are queued for it (its id and user name are reserved) */
        if (client_id && username && !strcmp(client_id, mc->client_id) &&
            !strcmp(username, mc->client_id)) {
            if (daemon_check(a, access, topic, reason))
                return true;
            goto deny;
        }
        *reason = "no credentials kept for this client (disconnected, or a listener with "
                  "use_identity_as_username)";
        goto deny;
    }
    if (cl->daemon) {
        if (daemon_check(a, access, topic, reason))
            return true;
        log_msg(LOG_NOTICE, "mqtts: wotgw's own client: %s %s denied: %s", access_name(access),
                topic, *reason);
        goto deny;
    }
    if (access == MQACL_UNSUBSCRIBE) {
        *reason = "allowed";
        return true;
    }
    if (access == MQACL_WRITE && retain) {
        *reason = "commands are never retained (clear the retain flag)";
        log_msg(LOG_NOTICE, "mqtts: %s: publish %s denied: %s", cl->peer, topic, *reason);
        goto deny;
    }
    if (cl->token && now >= cl->token_until) {
        *reason = "the access token has expired";
        if (access != MQACL_READ)
            log_msg(LOG_NOTICE, "mqtts: %s: %s %s denied: %s", cl->peer, access_name(access), topic,
                    *reason);
        goto deny;
    }
    if (cl->token_jti && keysync_revoked(a->keys, cl->token_iss, cl->token_jti)) {
        *reason = "the access token was revoked";
        if (access != MQACL_READ)
            log_msg(LOG_NOTICE, "mqtts: %s: %s %s denied: %s", cl->peer, access_name(access), topic,
                    *reason);
        goto deny;
    }
    if (strlen(topic) > MQTT_TOPIC_MAX) {
        *reason = "topic too long";
        goto deny;
    }

    /* the cache */
    uint64_t h = topic_hash(topic, access);
    if (!cl->cache)
        cl->cache = calloc(MQACL_CACHE_SLOTS, sizeof(*cl->cache));
    struct cache_slot *slot = cl->cache ? &cl->cache[h % MQACL_CACHE_SLOTS] : NULL;
    if (slot && slot->generation == a->generation && slot->hash == h && slot->access == access &&
        !strcmp(slot->topic, topic)) {
        stats.cache_hits++;
        *reason = slot->allow ? "allowed (cached)" : "denied (cached)";
        if (slot->allow && access == MQACL_WRITE)
            snprintf(cl->principal, sizeof(cl->principal), "%s", slot->principal);
        if (!slot->allow)
            goto deny;
        return true;
    }

    struct verdict v;
    if (access == MQACL_SUBSCRIBE) {
        const char *f = mqtt_filter_strip_share(topic);
        if (!f || !mqtt_filter_valid(f)) {
            v = (struct verdict){.reason = "malformed filter", .op = "subscribe"};
        } else if (mqtt_filter_has_wildcards(f)) {
            decide_wildcard(a, cl, f, now, &v);
        } else {
            decide_topic(a, cl, f, false, now, &v);
        }
    } else {
        decide_topic(a, cl, topic, access == MQACL_WRITE, now, &v);
    }
    log_verdict(cl, access, topic, &v);
    if (v.allow && access == MQACL_WRITE)
        snprintf(cl->principal, sizeof(cl->principal), "%s", v.principal);
    if (slot) {
        char *t = strdup(topic), *p = strdup(v.principal);
        if (t && p) {
            free(slot->topic);
            free(slot->principal);
            *slot = (struct cache_slot){
                    .generation = a->generation,
                    .hash = h,
                    .topic = t,
                    .principal = p,
                    .access = access,
                    .allow = v.allow,
            };
        } else {
            free(t);
            free(p);
        }
    }
    *reason = v.reason ? v.reason : (v.allow ? "allowed" : "denied");
    if (v.allow)
        return true;
deny:
    stats.denials++;
    return false;
}

int mqacl_response_topic(const struct mqacl *a, const struct mqacl_client *cl, const char *topic,
                         const char *given, char *buf, size_t size)
{
    struct mqtt_topic t, g;
    if (!a->state || !cl || cl->daemon || !topic)
        return 0;
    const char *prefix = a->state->conf->mqtt.topic_prefix;
    if (mqtt_topic_parse(prefix, topic, &t) < 0 || t.kind != MQTT_TOPIC_ACTION)
        return 0;
    if (given) {
        if (mqtt_topic_parse(prefix, given, &g) < 0 || g.kind != MQTT_TOPIC_ACTION_RESPONSE ||
            strcmp(g.thing, t.thing) || strcmp(g.name, t.name) || strcmp(g.client, cl->client_id))
            return -EACCES;
        if (strlen(given) >= size)
            return -EACCES;
        memcpy(buf, given, strlen(given) + 1);
        return 1;
    }
    if (mqtt_topic_format(prefix, MQTT_TOPIC_ACTION_RESPONSE, t.thing, t.name, cl->client_id, buf,
                          size) < 0)
        return -EACCES;
    return 1;
}
