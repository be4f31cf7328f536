/* config.h - the gateway configuration (/etc/wotgw/wotgw.conf) as a
 * validated model. Every key is documented in man/wotgw.conf.5.
 *
 * config_load() reads the INI file and checks every value; it does not
 * read the files the config names (TDs, credentials, keys): state.c does,
 * so that `wotgw -t` and a reload check the whole set.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ini.h"
#include "util.h"

#define WOTGW_DEFAULT_CONFIG "/etc/wotgw/wotgw.conf"

/* Safe defaults; each is a [limits] key. */
#define LIMIT_DEFAULT_MAX_BODY        (1u << 20)  /* max_body_size */
#define LIMIT_DEFAULT_MAX_HEADER      (16u << 10) /* max_header_size */
#define LIMIT_DEFAULT_MAX_CONNECTIONS 256         /* max_connections */
#define LIMIT_DEFAULT_MAX_PENDING     512         /* max_pending_requests */
#define LIMIT_DEFAULT_DEVICE_TIMEOUT  10000000ull /* device_timeout, us */
#define LIMIT_DEFAULT_MAX_JSON_DEPTH  32          /* max_json_depth */
#define LIMIT_DEFAULT_MAX_TOKEN       8192        /* max_token_size */
#define LIMIT_DEFAULT_MAX_TD          (1u << 20)  /* max_td_size */
#define LIMIT_DEFAULT_MAX_STREAMS     64          /* max_streams */
#define LIMIT_DEFAULT_CONN_TIMEOUT    30000000ull /* idle_timeout, us */

/* Caps the config file itself and the number of some sections. */
#define CONFIG_MAX_FILE_SIZE (4u << 20)
#define CONFIG_MAX_THINGS    1024
#define CONFIG_MAX_ISSUERS   64
#define CONFIG_MAX_LISTEN    16
#define CONFIG_MAX_AUDIENCES 16
#define CONFIG_NAME_MAX      64 /* [thing NAME], [issuer NAME] */

struct limits {
    uint64_t max_body_size;
    uint64_t max_header_size;
    uint64_t max_connections;
    uint64_t max_pending_requests;
    uint64_t device_timeout_us;
    uint64_t max_json_depth;
    uint64_t max_token_size;
    uint64_t max_td_size;
    uint64_t max_streams;
    uint64_t idle_timeout_us;
};

enum tls_min_version {
    TLS_MIN_1_3 = 0, /* the default */
    TLS_MIN_1_2,
};

/* [https] */
struct https_conf {
    bool enabled; /* the section is present */
    unsigned line;
    char **listen; /* "IP:port" / "[IPv6]:port", NULL-terminated (empty when disabled) */
    size_t n_listen;
    char *certificate; /* absolute paths (resolved against the config dir) */
    char *key;
    char *client_ca; /* NULL: no client certificates requested */
    enum tls_min_version tls_min;
};

/* [credentials] */
struct credentials_conf {
    char *users; /* users file (wotgw-passwd), NULL: none */
    unsigned users_line;
    char *apikeys; /* API keys file, NULL: none */
    unsigned apikeys_line;
    char *cert_identities; /* certificate -> user map, NULL: none */
    unsigned cert_identities_line;
    char *psk; /* CoAPS pre-shared keys (auth/psk.h), NULL: none */
    unsigned psk_line;
    char *oscore; /* OSCORE security contexts (auth/oscore_ctx.h), NULL: none */
    unsigned oscore_line;
    char *cose_keys; /* consumers' COSE_Sign1 keys (cose_consumers.h), NULL: none */
    unsigned cose_keys_line;
    char *apikey_header; /* header name, default "X-API-Key" */
};

/* JWS algorithms an issuer may use (bit set). */
enum jwt_alg_bit {
    JWT_ALG_ES256 = 1u << 0,
    JWT_ALG_EDDSA = 1u << 1,
    JWT_ALG_RS256 = 1u << 2,
};

/* [issuer NAME]: an OAuth2 / JWT issuer whose tokens we accept. */
struct issuer_conf {
    char *name; /* section name, used in "bearer:NAME" */
    unsigned line;
    char *iss;  /* expected "iss" claim */
    char *jwks; /* JWKS file, absolute; NULL with jwks_uri or introspection_url */
    unsigned jwks_line;
    /* Exactly one key source: jwks, jwks_uri or introspection_url
     * (auth/extiss.h fetches the last two on the daemon's loop). */
    char *jwks_uri;              /* https:// URL of the JWK Set */
    uint64_t jwks_refresh_s;     /* background refetch interval; default 1 h */
    uint64_t jwks_max_stale_s;   /* last good set kept while refetches fail; default 24 h */
    uint64_t jwks_refetch_min_s; /* min interval of unknown-kid refetches; default 60 s */
    char *introspection_url;     /* RFC 7662 endpoint, https:// */
    char *introspection_client_id;
    char *introspection_secret_file;    /* absolute; one line, read by the daemon */
    uint64_t introspection_cache;       /* max cached answers; default 1024 */
    uint64_t introspection_cache_ttl_s; /* default 60 s; never past the token's exp */
    char *ca;            /* CA bundle (PEM) for jwks_uri / introspection_url; NULL: system store */
    char **audiences;    /* accepted "aud" values (any one), NULL-terminated */
    unsigned algorithms; /* enum jwt_alg_bit set; default ES256|EDDSA */
    uint64_t leeway_s;   /* clock skew allowed on exp/nbf; default 30 s */
    /* For the exposed TD's oauth2/bearer definitions (may be NULL). */
    char *authorization_url;
    char *token_url;
    char *device_authorization_url;
    char *flow; /* oauth2 flow written in the TD: "client", "code" or "device" */
    bool local; /* the built-in authorization server ([oauth]), named "local" */
};

/* [oauth]: the built-in authorization server (oauth/as.h). When enabled,
 * config_load() also adds an issuer_conf named OAUTH_LOCAL_ISSUER (local
 * set) whose keys are the server's own, so that policies name it as
 * "oauth2:local" / "bearer:local". */
#define OAUTH_LOCAL_ISSUER "local"
/* Its leeway on exp / nbf: a revoked token of the server is remembered at
 * least this long past its exp (oauth/store.h). */
#define OAUTH_LOCAL_LEEWAY_S 30

struct oauth_conf {
    bool enabled;
    unsigned line;
    char *issuer;   /* https origin, no path; default: the origin of base_url */
    char *audience; /* "aud" of the tokens it issues; default base_url */
    char *clients;  /* clients file, absolute; default <config dir>/clients */
    unsigned clients_line;
    char *dir; /* <state_dir>/oauth: keys and grants */
    uint64_t access_token_lifetime_s;
    uint64_t refresh_token_lifetime_s;
    uint64_t code_lifetime_s;
    uint64_t device_code_lifetime_s;
    uint64_t device_poll_interval_s;
    uint64_t session_lifetime_s;
    char *flow;    /* oauth2 flow written in exposed TDs: code, device or client */
    char **owners; /* who may log in and consent: "*", "user:N", "group:G"; NULL-terminated */
};

/* [mqtt]: the MQTT front end (the mosquitto broker with wotgw's plugin,
 * src/mosquitto/) and wotgw's own connection to that broker. The plugin
 * reads all of it; broker and broker_ca are for the daemon's MQTT client
 * (see wotgw.conf(5)). Present only when the section is. */
#define MQTT_DEFAULT_PORT      8883
#define MQTT_DEFAULT_BROKER    "127.0.0.1:1883"
#define MQTT_DEFAULT_CLIENT_ID "wotgw"
#define MQTT_CLIENT_ID_MAX     64

struct mqtt_conf {
    bool enabled; /* the section is present */
    unsigned line;
    char *broker_url;   /* public "mqtts://HOST:PORT" written into forms; default from
                         * base_url's host and port 8883 */
    char *topic_prefix; /* default "wot" (mqtt_topic.h) */
    char *broker;       /* "IP:port" of the broker for wotgw's own connection */
    bool broker_loopback;
    char *client_id;     /* wotgw's client id and MQTT user name; default "wotgw" */
    char *password_file; /* its password (one line), absolute */
    unsigned password_file_line;
    char *broker_ca; /* CA of the broker's certificate: TLS to the broker; NULL: plain
                      * (loopback only) */
};

/* [coaps]: the CoAPS front end (north/coaps.h), DTLS 1.2 with PSK and
 * X.509 client certificates. Present only when the section is. */
#define COAPS_DEFAULT_LISTEN        "0.0.0.0:5684"
#define COAPS_DEFAULT_PORT          5684
#define COAPS_DEFAULT_MAX_SESSIONS  256
#define COAPS_DEFAULT_MAX_OBSERVERS 16

struct coaps_conf {
    bool enabled; /* the section is present */
    unsigned line;
    char **listen; /* "IP:port" / "[IPv6]:port", NULL-terminated */
    size_t n_listen;
    char *url;         /* public "coaps://HOST:PORT" written into forms; default from
                        * base_url's host and the first listen port */
    char *certificate; /* absolute; default [https] certificate; NULL: PSK only */
    char *key;
    char *client_ca; /* default [https] client_ca; NULL: no client certificates */
    uint64_t max_sessions;
    uint64_t max_observers_per_peer; /* observations (RFC 7641) of one DTLS session */
    /* raw public keys (RFC 7250): a listener of their own (libcoap sets RPK
     * per context); NULL-terminated, empty: no RPK */
    char **rpk_listen;
    size_t n_rpk_listen;
    char *rpk_key; /* the gateway's EC private key (SEC1 PEM), absolute */
    /* plain CoAP (no DTLS) for the forms whose security is nosec:
     * "IP:port" addresses, NULL-terminated, empty: none */
    char **coap_listen;
    size_t n_coap_listen;
    char *coap_url; /* public "coap://HOST:PORT"; default from base_url's host and the
                     * first coap_listen port; NULL without coap_listen */
};

/* [thing NAME] */
#define THING_DEFAULT_POLL_S 30
struct thing_conf {
    char *name; /* URL segment; [A-Za-z0-9._~-]+ */
    unsigned line;
    char *td; /* device TD file, absolute */
    unsigned td_line;
    /* [mqtt]: how often wotgw reads a property the device cannot be asked
     * to notify (no observeproperty form) to publish its value to the
     * property topic; seconds, default THING_DEFAULT_POLL_S. */
    uint64_t poll_interval_s;
    /* cose_sign = yes: answers are signed as COSE_Sign1 on request with a
     * per-thing key in <state_dir>/cose/NAME.key (cose_sign.h). */
    bool cose_sign;
    /* cose_commands = required: MQTT commands must be a COSE_Sign1 by a
     * key of the sending principal in [credentials] cose_keys
     * (cose_consumers.h). */
    bool cose_commands;
    /* cose_encrypt_to = PRINCIPAL[,PRINCIPAL...]: on MQTT the thing's
     * values and events go only as COSE_Encrypt0, one topic per principal
     * (.../cose/PRINCIPAL), under that principal's symmetric key in
     * [credentials] cose_keys (cose_consumers.h). NULL-terminated; NULL:
     * none. */
    char **cose_encrypt_to;
    unsigned cose_encrypt_to_line;
    /* Borrowed from config.ini. config_load() checks that every other key
     * of the section is a policy key (security, allow, scopes, each
     * optionally followed by ".AFFORDANCE", ".OP" or ".AFFORDANCE.OP");
     * policy_thing_compile() validates those and marks them used. */
    struct ini_section *section;
};

struct config {
    char *path; /* as given */
    char *dir;  /* its directory, absolute: relative paths are resolved against it */
    struct ini_file ini;

    /* [gateway] */
    char *td_dir;    /* default: <config dir>/things */
    char *state_dir; /* default: /var/lib/wotgw */
    char *base_url;  /* public base of north HTTPS forms, never NULL, no trailing '/';
                      * default from the first [https] listen */
    char *realm;     /* HTTP auth realm; default "wotgw" */
    bool debug;      /* log_level = debug */

    struct https_conf https;
    struct credentials_conf credentials;
    struct limits limits;

    struct oauth_conf oauth;
    struct mqtt_conf mqtt;
    struct coaps_conf coaps;

    struct issuer_conf *issuers; /* with the [oauth] one last, when enabled */
    size_t n_issuers;
    struct thing_conf *things;
    size_t n_things;
};

/* "IP:port" or "[IPv6]:port" of a peer to connect to (as [mqtt] broker):
 * the address without brackets into host, the port into *port. False for
 * anything else, a wildcard address included. */
bool config_parse_address(const char *w, char *host, size_t hostlen, unsigned *port);

/* Loads and validates path. Returns 0, or -EINVAL with the problems in d
 * (each FILE:LINE), or another -errno (file unreadable: also in d).
 * On failure *out is NULL. Every key it consumes is marked used; policy
 * keys of [thing] sections are left for policy_thing_compile(). */
int config_load(const char *path, struct config **out, struct diags *d);
/* The same on text already in memory (len bytes) that came from path
 * (relative paths resolve against path's directory); for tests and the
 * fuzzer. */
int config_parse(const char *path, const char *text, size_t len, struct config **out,
                 struct diags *d);
void config_free(struct config *c);

const struct issuer_conf *config_find_issuer(const struct config *c, const char *name);
const struct thing_conf *config_find_thing(const struct config *c, const char *name);

/* Parses a space-separated list of JWS algorithm names into bits.
 * -EINVAL for an empty list, "none", HS*, or any other name. */
int config_parse_algorithms(const char *s, unsigned *out);
