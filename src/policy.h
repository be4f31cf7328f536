/* policy.h - the policy engine: which credentials each form of an exposed
 * TD requires, and allow/deny for one interaction. Pure: no I/O, no
 * clock (the caller passes "now"), no allocation on the decision path.
 *
 * The policy of a thing comes from its [thing NAME] section:
 *   security[.AFF][.OP] = EXPR     which schemes consumers must use
 *   allow[.AFF][.OP]    = WHO ...  who may (identity schemes)
 *   scopes[.AFF][.OP]   = SCOPE .. scopes a token must carry (all of them)
 * For each field the most specific key wins: AFF.OP, then AFF, then OP,
 * then the thing-wide key. No security key for a form = not exposed.
 *
 * EXPR grammar (wotgw.conf(5)):
 *   expr   = term *( "|" term )       ; oneOf: any one suffices
 *   term   = factor *( "&" factor )   ; allOf: all are required
 *   factor = scheme [ ":" issuer ] / "(" expr ")"
 *   scheme = "nosec" / "basic" / "apikey" / "bearer" / "oauth2" / "psk" / "cert"
 *          / "oscore"
 * "nosec" may not be combined with anything. ":issuer" (bearer, oauth2
 * only) names an [issuer NAME] section; without it, any configured issuer.
 * "oscore" needs [credentials] oscore (the contexts file).
 *
 * KEY suffixes: "security.X" where X is an operation name applies to that
 * operation on every affordance (or the thing); otherwise X is an
 * affordance name. "security.A.OP" splits at the last '.': OP must be an
 * operation and A an affordance (names may contain dots: "temp.c" is an
 * affordance when "temp" is none). Affordances must exist in the TD and
 * the device must offer OP there. Limits: EXPR at most 1024 bytes, 16
 * schemes, 8 nested parentheses; 1024 policy keys per thing; 64 entries
 * per allow/scopes list. Canonical text: "|" / "&" without blanks, nested
 * combinations in parentheses, "(a|b)|c" flattened to "a|b|c"; a scheme
 * twice in one list is refused.
 *
 * WHO: "user:NAME", "group:NAME" or "*" (anyone the scheme authenticated).
 * Identity schemes (basic, apikey, cert, psk, oscore) are authorized by allow;
 * token schemes (bearer, oauth2) by scopes. When no scopes key applies,
 * a token needs "THING:read" (readproperty, readallproperties,
 * readmultipleproperties, observe*), "THING:write" (write*), "THING:invoke"
 * (invokeaction, queryaction, cancelaction, queryallactions) or
 * "THING:subscribe" (subscribe*, unsubscribe*).
 *
 * Principals: basic → the user name; apikey → the key's name (groups: the
 * key's own plus those of a user of that name); psk → the identity; oscore
 * → the name of the OSCORE security context the front end verified the
 * request with (cred->oscore_context; groups of a user of that name, as
 * for psk); cert →
 * certmap_principal() (groups of a user of that name); bearer/oauth2 →
 * "ISSUER:sub" with ISSUER the [issuer NAME] section name, so that equal
 * "sub" values of two issuers never meet; nosec → "anonymous"; allOf →
 * the parts joined with "+" ("alice+carol"). "user:NAME" matches the
 * principal. Control characters in a principal become '?'; it is cut at
 * POLICY_PRINCIPAL_MAX - 1 bytes on a UTF-8 boundary. Only authenticated
 * identities become principals (empty on 401).
 *
 * Combinations: oneOf allows when any part allows; otherwise 403 when a
 * part authenticated, else 401. allOf needs every part authenticated (else
 * 401, evaluation stops at the first failure) and every part authorized
 * (else 403). Each credential is checked at most once per decision.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "interaction.h"
#include "td.h"
#include "util.h"

struct users;
struct apikeys;
struct extiss;
struct certmap;
struct jwt_issuer;
struct credcache;

enum sec_kind {
    SEC_NOSEC,
    SEC_BASIC,
    SEC_APIKEY,
    SEC_BEARER,
    SEC_OAUTH2,
    SEC_PSK,
    SEC_CERT,
    SEC_OSCORE, /* met by cred->oscore_context (a verified OSCORE request) */
    SEC_ALLOF,
    SEC_ONEOF,
    SEC__COUNT,
};

const char *sec_kind_name(enum sec_kind k); /* "basic", ..., "allOf", "oneOf" */

struct sec_expr {
    enum sec_kind kind;
    char *issuer;           /* SEC_BEARER / SEC_OAUTH2: issuer section name or NULL */
    struct sec_expr **subs; /* SEC_ALLOF / SEC_ONEOF, n_subs >= 2 */
    size_t n_subs;
    char *text; /* canonical form, e.g. "basic|(bearer:idp&cert)" */
};

/* Parses EXPR. On a syntax error returns -EINVAL and writes a short
 * message ("unknown scheme 'bsic'") to err. */
int sec_expr_parse(const char *s, struct sec_expr **out, char *err, size_t errlen);
void sec_expr_free(struct sec_expr *e);
/* Bit set (1u << enum sec_kind) of the leaf schemes in e. */
unsigned sec_expr_schemes(const struct sec_expr *e);

struct policy_thing; /* opaque, compiled from one [thing] section */

/* Compiles the policy keys of tc->section against the device TD: every
 * affordance and op named must exist in the TD (FILE:LINE errors), issuers
 * must be configured, "user:"/"group:" entries well formed. Marks the keys
 * used. Returns 0, -EINVAL (errors in d) or -ENOMEM. */
int policy_thing_compile(const struct config *conf, const struct thing_conf *tc,
                         const struct td *td, struct policy_thing **out, struct diags *d);
void policy_thing_free(struct policy_thing *pt);

/* What applies to one (affordance, op). Pointers borrowed from pt. */
struct policy_form {
    const struct sec_expr *security; /* NULL: the form is not exposed */
    char *const *allow;              /* NULL-terminated; NULL: nobody */
    char *const *scopes;             /* NULL-terminated, never NULL */
};

/* aff NULL: a thing-level operation. Always succeeds. An operation the
 * device does not offer on aff, or of another kind of affordance, is not
 * exposed. */
void policy_lookup(const struct policy_thing *pt, const char *aff, enum wot_op op,
                   struct policy_form *out);

/* Everything a decision reads, loaded at start and on reload. */
struct policy_env {
    const struct users *users;     /* may be NULL: basic always fails */
    const struct apikeys *apikeys; /* may be NULL */
    const struct certmap *certmap; /* may be NULL: cert principal = CN */
    const struct jwt_issuer *const *issuers;
    size_t n_issuers;
    size_t max_token_size;
    int64_t now; /* seconds since the epoch */
    /* Verified passwords and tokens (credcache.h); may be NULL: every
     * credential is verified in full. The one mutable thing a decision
     * touches: a hit skips crypt_r or the signature check, a verified
     * miss is inserted. */
    struct credcache *credcache;
    /* External issuers (auth/extiss.h): the introspection cache consulted
     * for tokens no key verifies; may be NULL. */
    struct extiss *extiss;
};

enum policy_verdict {
    POLICY_ALLOW,
    POLICY_DENY_UNAUTHENTICATED, /* 401: no or wrong credentials */
    POLICY_DENY_FORBIDDEN,       /* 403: authenticated, not allowed */
    POLICY_DENY_NOT_EXPOSED,     /* 404/405: no policy for this form */
};

#define POLICY_PRINCIPAL_MAX 256

struct policy_decision {
    enum policy_verdict verdict;
    const char *reason;                   /* static text, never a secret: safe to log */
    char principal[POLICY_PRINCIPAL_MAX]; /* "alice", "anonymous", ... "" if none */
    unsigned challenge;                   /* 401: bits (1u << enum sec_kind) to challenge */
    bool invalid_token;                   /* 401 only: a bearer token was presented and refused */
    bool insufficient_scope;              /* 403 only: a token lacked scopes */
    char *const *scopes;                  /* the scopes the form requires (for 403) */
};

/* Decides one interaction. Never fails: a malformed credential is a deny
 * (401 with cred->malformed as the reason). Allocates nothing itself;
 * jwt_verify allocates the claims, freed before returning (and the
 * credential cache, when env has one, its entries). The challenge
 * is set on 401 only and never holds nosec. */
void policy_decide(const struct policy_env *env, const struct policy_thing *pt, const char *aff,
                   enum wot_op op, const struct credentials *cred, struct policy_decision *out);

/* True when cred may perform at least one operation on the thing: the
 * condition for seeing its TD. */
bool policy_may_see(const struct policy_env *env, const struct policy_thing *pt,
                    const struct td *td, const struct credentials *cred);

/* The thing's name as given to policy_thing_compile. */
const char *policy_thing_name(const struct policy_thing *pt);
/* The thing-wide expression (the bare "security" key), NULL when there is
 * none; the exposed TD's top-level "security". Borrowed from pt. */
const struct sec_expr *policy_thing_security(const struct policy_thing *pt);
