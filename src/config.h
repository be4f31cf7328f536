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
    char *jwks; /* JWKS file, absolute */
    unsigned jwks_line;
    char **audiences;    /* accepted "aud" values (any one), NULL-terminated */
    unsigned algorithms; /* enum jwt_alg_bit set; default ES256|EDDSA */
    uint64_t leeway_s;   /* clock skew allowed on exp/nbf; default 30 s */
    /* For the exposed TD's oauth2/bearer definitions (may be NULL). */
    char *authorization_url;
    char *token_url;
    char *device_authorization_url;
    char *flow; /* oauth2 flow written in the TD: "client", "code" or "device" */
};

/* [thing NAME] */
struct thing_conf {
    char *name; /* URL segment; [A-Za-z0-9._~-]+ */
    unsigned line;
    char *td; /* device TD file, absolute */
    unsigned td_line;
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

    struct issuer_conf *issuers;
    size_t n_issuers;
    struct thing_conf *things;
    size_t n_things;
};

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
