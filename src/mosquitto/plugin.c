/* plugin.c - wotgw's mosquitto broker plugin (mosquitto 2.0, plugin API
 * version 5): the broker's events turned into the decisions of acl.h.
 *
 * Built as build/wotgw_mosquitto.so from this folder and position-
 * independent copies of the whole library (see the Makefile), so the
 * broker enforces the very policy code the daemon runs. mosquitto.conf:
 *
 *     per_listener_settings false
 *     allow_anonymous false
 *     plugin /usr/lib/wotgw/wotgw_mosquitto.so
 *     plugin_opt_config /etc/wotgw/wotgw.conf
 *
 * Events:
 *  MOSQ_EVT_BASIC_AUTH  every CONNECT (with or without user name; the
 *                       client certificate is read here, so listeners
 *                       must not set use_identity_as_username)
 *  MOSQ_EVT_ACL_CHECK   every PUBLISH (write), SUBSCRIBE, UNSUBSCRIBE and
 *                       every message delivered (read)
 *  MOSQ_EVT_MESSAGE     a PUBLISH the ACL accepted: the response topic of
 *                       an action invocation is checked or added, and the
 *                       principal attached as the user property
 *                       "wotgw-principal" (a client that sets any
 *                       "wotgw-" user property itself is refused)
 *  MOSQ_EVT_DISCONNECT  the client's credentials are wiped
 *  MOSQ_EVT_RELOAD      SIGHUP: wotgw.conf is loaded again; when that
 *                       fails (logged with FILE:LINE) the old set stays
 *
 * Without a loaded configuration (the first load failed) every client is
 * refused: the plugin fails closed, the broker keeps running, and a
 * SIGHUP tries again.
 *
 * Clients are found by the broker's struct mosquitto pointer, in a hash
 * table. A record exists from a successful BASIC_AUTH to the client's
 * DISCONNECT; a new BASIC_AUTH on the same pointer replaces any record.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mqtt_protocol.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "acl.h"
#include "auth/certmap.h"
#include "config.h"
#include "log.h"
#include "util.h"

#define TABLE_BUCKETS       4096 /* a power of two */
#define PRINCIPAL_PROPERTY  "wotgw-principal"
#define RESERVED_PROPERTIES "wotgw-"

struct entry {
    const struct mosquitto *key;
    struct mqacl_client *cl;
    struct entry *next;
};

struct plugin {
    mosquitto_plugin_id_t *id;
    char *config_path;
    struct mqacl acl;
    struct entry *buckets[TABLE_BUCKETS];
    size_t n_clients;
    uint64_t reloads, failed_reloads;
};

/* ---- the client table ---------------------------------------------------------- */

static size_t bucket_of(const struct mosquitto *key)
{
    uint64_t v = (uint64_t)(uintptr_t)key;
    v = (v >> 4) * 0x9E3779B97F4A7C15ull;
    return (size_t)(v >> 52) & (TABLE_BUCKETS - 1);
}

static struct mqacl_client *client_find(struct plugin *p, const struct mosquitto *key)
{
    for (struct entry *e = p->buckets[bucket_of(key)]; e; e = e->next)
        if (e->key == key)
            return e->cl;
    return NULL;
}

static void client_drop(struct plugin *p, const struct mosquitto *key)
{
    struct entry **pp = &p->buckets[bucket_of(key)];
    for (; *pp; pp = &(*pp)->next) {
        struct entry *e = *pp;
        if (e->key != key)
            continue;
        *pp = e->next;
        mqacl_client_free(e->cl);
        free(e);
        p->n_clients--;
        return;
    }
}

static int client_add(struct plugin *p, const struct mosquitto *key, struct mqacl_client *cl)
{
    struct entry *e = malloc(sizeof(*e));
    if (!e)
        return -ENOMEM;
    size_t b = bucket_of(key);
    *e = (struct entry){.key = key, .cl = cl, .next = p->buckets[b]};
    p->buckets[b] = e;
    p->n_clients++;
    return 0;
}

static void table_clear(struct plugin *p)
{
    for (size_t b = 0; b < TABLE_BUCKETS; b++)
        while (p->buckets[b])
            client_drop(p, p->buckets[b]->key);
}

/* ---- loading ------------------------------------------------------------------------ */

static void log_diags(const struct diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct diag *g = &d->v[i];
        int prio = g->warning ? LOG_WARNING : LOG_ERR;
        if (g->line)
            log_msg(prio, "%s:%u: %s%s", g->file, g->line, g->warning ? "warning: " : "", g->msg);
        else
            log_msg(prio, "%s: %s%s", g->file, g->warning ? "warning: " : "", g->msg);
    }
}

static int load(struct plugin *p, bool reload)
{
    struct diags d = {0};
    int r = mqacl_load(&p->acl, p->config_path, &d);
    log_diags(&d);
    diag_free(&d);
    if (r < 0) {
        if (p->acl.state)
            log_msg(LOG_ERR,
                    "mqtts: %s: the new configuration was refused; the previous one stays "
                    "in force",
                    p->config_path);
        else
            log_msg(LOG_ERR,
                    "mqtts: %s: no configuration loaded: every client is refused until a "
                    "reload (SIGHUP) succeeds",
                    p->config_path);
        return r;
    }
    const struct gw_state *s = p->acl.state;
    log_set_debug(s->conf->debug);
    log_msg(LOG_INFO, "mqtts: %s %s: %zu thing(s)%s, topics under %s/, wotgw's own client '%s'",
            reload ? "reloaded" : "loaded", p->config_path, s->n_things,
            s->n_refused ? " (some refused, see above)" : "", s->conf->mqtt.topic_prefix,
            s->conf->mqtt.client_id);
    return 0;
}

/* ---- events ------------------------------------------------------------------------ */

/* The verified client certificate's first subject CN and the SHA-256 of
 * its DER encoding. 1: found, 0: no certificate, -EINVAL: unusable. */
static int cert_identity(const struct mosquitto *client, char *cn, size_t cnlen, char hex[65])
{
    X509 *x = mosquitto_client_certificate(client);
    int r = -EINVAL;
    unsigned char *u = NULL;
    if (!x)
        return 0;
    X509_NAME *name = X509_get_subject_name(x);
    int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    if (i < 0)
        goto done;
    const ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    int n = data ? ASN1_STRING_to_UTF8(&u, data) : -1;
    if (n <= 0 || (size_t)n >= cnlen || memchr(u, '\0', (size_t)n))
        goto done;
    memcpy(cn, u, (size_t)n);
    cn[n] = '\0';
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdl = 0;
    if (X509_digest(x, EVP_sha256(), md, &mdl) != 1 || mdl != 32)
        goto done;
    hex_encode(md, 32, hex);
    r = 1;
done:
    OPENSSL_free(u);
    X509_free(x);
    return r;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_basic_auth *ev = event_data;
    struct plugin *p = userdata;
    char cn[CERTMAP_MAX_CN + 1], hex[65], principal[POLICY_PRINCIPAL_MAX];
    const char *reason = NULL;
    client_drop(p, ev->client);
    const char *peer = mosquitto_client_address(ev->client);
    const char *cid = mosquitto_client_id(ev->client);
    int c = cert_identity(ev->client, cn, sizeof(cn), hex);
    if (c < 0) {
        log_msg(LOG_NOTICE,
                "mqtts: %s: connection refused: client certificate without a usable "
                "subject CN",
                peer ? peer : "?");
        return MOSQ_ERR_AUTH;
    }
    struct mqacl_connect conn = {
            .client_id = cid,
            .username = ev->username,
            .password = ev->password,
            .peer = peer,
            .cert_cn = c > 0 ? cn : NULL,
            .cert_sha256 = c > 0 ? hex : NULL,
    };
    struct mqacl_client *cl = NULL;
    int r = mqacl_authenticate(&p->acl, &conn, (int64_t)time(NULL), &cl, &reason, principal,
                               sizeof(principal));
    if (r == 0 && client_add(p, ev->client, cl) < 0) {
        mqacl_client_free(cl);
        reason = "out of memory";
        r = -ENOMEM;
    }
    if (r < 0) {
        /* the user name is the client's claim, not a secret; the password
         * and token never appear */
        log_msg(LOG_NOTICE, "mqtts: %s: connection refused (client id '%s', user name '%s'): %s",
                peer ? peer : "?", cid ? cid : "", ev->username ? ev->username : "",
                reason ? reason : "refused");
        return MOSQ_ERR_AUTH;
    }
    log_msg(LOG_INFO, "mqtts: %s: client '%s' connected as %s", peer ? peer : "?", cid, principal);
    return MOSQ_ERR_SUCCESS;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ev = event_data;
    struct plugin *p = userdata;
    enum mqacl_access access;
    switch (ev->access) {
    case MOSQ_ACL_READ: access = MQACL_READ; break;
    case MOSQ_ACL_WRITE: access = MQACL_WRITE; break;
    case MOSQ_ACL_SUBSCRIBE: access = MQACL_SUBSCRIBE; break;
    case MOSQ_ACL_UNSUBSCRIBE: access = MQACL_UNSUBSCRIBE; break;
    default: return MOSQ_ERR_ACL_DENIED;
    }
    const char *reason = NULL;
    struct mqacl_client *cl = client_find(p, ev->client);
    if (access == MQACL_WRITE && ev->retain && ev->payloadlen == 0 &&
        mqacl_may_clear(&p->acl, cl, ev->topic))
        return MOSQ_ERR_SUCCESS; /* wotgw removes a retained value it no longer offers */
    bool ok = mqacl_check(&p->acl, cl, mosquitto_client_id(ev->client),
                          mosquitto_client_username(ev->client), access, ev->topic, ev->retain,
                          (int64_t)time(NULL), &reason);
    return ok ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
}

/* True when props holds a user property whose name starts with
 * RESERVED_PROPERTIES. */
static bool has_reserved_property(const mosquitto_property *props)
{
    const mosquitto_property *pr = props;
    bool skip = false;
    for (;;) {
        char *name = NULL, *value = NULL;
        pr = mosquitto_property_read_string_pair(pr, MQTT_PROP_USER_PROPERTY, &name, &value, skip);
        if (!pr)
            return false;
        bool reserved =
                name && !strncmp(name, RESERVED_PROPERTIES, sizeof(RESERVED_PROPERTIES) - 1);
        mosquitto_free(name);
        mosquitto_free(value);
        if (reserved)
            return true;
        skip = true;
    }
}

static int on_message(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *ev = event_data;
    struct plugin *p = userdata;
    struct mqacl_client *cl = client_find(p, ev->client);
    if (cl && mqacl_client_is_daemon(cl) && mqacl_is_keys_topic(&p->acl, ev->topic)) {
        /* for us alone: nobody may read it (mqacl_check) */
        mqacl_keys_update(&p->acl, ev->payload, (size_t)ev->payloadlen);
        return MOSQ_ERR_SUCCESS;
    }
    if (!cl || mqacl_client_is_daemon(cl))
        return MOSQ_ERR_SUCCESS;
    const char *peer = mosquitto_client_address(ev->client);
    if (has_reserved_property(ev->properties)) {
        log_msg(LOG_NOTICE,
                "mqtts: %s: publish to %s refused: user properties named %s* are "
                "set by wotgw only",
                peer ? peer : "?", ev->topic, RESERVED_PROPERTIES);
        return MOSQ_ERR_ACL_DENIED;
    }
    char *given = NULL;
    char rt[MQTT_TOPIC_MAX + 1];
    mosquitto_property_read_string(ev->properties, MQTT_PROP_RESPONSE_TOPIC, &given, false);
    int r = mqacl_response_topic(&p->acl, cl, ev->topic, given, rt, sizeof(rt));
    bool had = given != NULL;
    mosquitto_free(given);
    if (r < 0) {
        log_msg(LOG_NOTICE,
                "mqtts: %s: invokeaction on %s refused: the response topic must be the "
                "client's own (%s/{thing}/actions/{name}/response/{client id}[/...])",
                peer ? peer : "?", ev->topic, p->acl.state->conf->mqtt.topic_prefix);
        return MOSQ_ERR_ACL_DENIED;
    }
    if (r == 1 && !had &&
        mosquitto_property_add_string(&ev->properties, MQTT_PROP_RESPONSE_TOPIC, rt) != 0)
        return MOSQ_ERR_NOMEM;
    const char *principal = mqacl_client_principal(cl);
    if (*principal && mosquitto_property_add_string_pair(&ev->properties, MQTT_PROP_USER_PROPERTY,
                                                         PRINCIPAL_PROPERTY, principal) != 0)
        return MOSQ_ERR_NOMEM;
    return MOSQ_ERR_SUCCESS;
}

static int on_disconnect(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_disconnect *ev = event_data;
    client_drop(userdata, ev->client);
    return MOSQ_ERR_SUCCESS;
}

static int on_reload(int event, void *event_data, void *userdata)
{
    struct plugin *p = userdata;
    struct mqacl_stats st;
    p->reloads++;
    if (load(p, true) < 0)
        p->failed_reloads++;
    mqacl_get_stats(&st);
    log_msg(LOG_INFO,
            "mqtts: %zu client(s); %llu decisions, %llu from the cache, %llu denied; %llu "
            "reload(s), %llu failed",
            p->n_clients, (unsigned long long)st.checks, (unsigned long long)st.cache_hits,
            (unsigned long long)st.denials, (unsigned long long)p->reloads,
            (unsigned long long)p->failed_reloads);
    return MOSQ_ERR_SUCCESS;
}

/* ---- the plugin API ------------------------------------------------------------------ */

static const struct {
    int event;
    MOSQ_FUNC_generic_callback cb;
} callbacks[] = {
        {MOSQ_EVT_BASIC_AUTH, on_basic_auth}, {MOSQ_EVT_ACL_CHECK, on_acl_check},
        {MOSQ_EVT_MESSAGE, on_message},       {MOSQ_EVT_DISCONNECT, on_disconnect},
        {MOSQ_EVT_RELOAD, on_reload},
};

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5)
            return 5;
    return -1;
}

static void plugin_free(struct plugin *p)
{
    if (!p)
        return;
    table_clear(p);
    mqacl_clear(&p->acl);
    free(p->config_path);
    free(p);
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *options, int option_count)
{
    struct plugin *p = calloc(1, sizeof(*p));
    const char *path = WOTGW_DEFAULT_CONFIG;
    *userdata = NULL;
    if (!p)
        return MOSQ_ERR_NOMEM;
    p->id = identifier;
    log_init(false);
    for (int i = 0; i < option_count; i++) {
        if (!strcmp(options[i].key, "config"))
            path = options[i].value;
        else
            log_msg(LOG_WARNING, "mqtts: unknown option plugin_opt_%s (known: config)",
                    options[i].key);
    }
    if (!(p->config_path = strdup(path))) {
        plugin_free(p);
        return MOSQ_ERR_NOMEM;
    }
    load(p, false); /* a failure leaves no configuration: everything is refused */
    for (size_t i = 0; i < ARRAY_SIZE(callbacks); i++) {
        int r = mosquitto_callback_register(identifier, callbacks[i].event, callbacks[i].cb, NULL,
                                            p);
        if (r != MOSQ_ERR_SUCCESS) {
            for (size_t k = 0; k < i; k++)
                mosquitto_callback_unregister(identifier, callbacks[k].event, callbacks[k].cb,
                                              NULL);
            log_msg(LOG_ERR, "mqtts: cannot register the plugin's callbacks (%d)", r);
            plugin_free(p);
            return r;
        }
    }
    *userdata = p;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    struct plugin *p = userdata;
    if (!p)
        return MOSQ_ERR_SUCCESS;
    for (size_t i = 0; i < ARRAY_SIZE(callbacks); i++)
        mosquitto_callback_unregister(p->id, callbacks[i].event, callbacks[i].cb, NULL);
    plugin_free(p);
    return MOSQ_ERR_SUCCESS;
}
