/* policy.c - the policy engine; see policy.h.
 *
 * Compilation (policy_thing_compile) turns the policy keys of a [thing]
 * section into a table with one resolved struct policy_form per
 * (affordance, operation the device supports) and per thing-level
 * operation. A decision (policy_decide) is then a binary search for the
 * affordance and a walk over a small expression tree; it allocates
 * nothing itself (jwt_verify allocates the claims it returns; they are
 * freed before policy_decide returns).
 *
 * Cleanup style: goto to one exit.
 */
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/apikeys.h"
#include "auth/certmap.h"
#include "auth/credcache.h"
#include "auth/extiss.h"
#include "auth/jwt.h"
#include "auth/users.h"

/* ---- limits -------------------------------------------------------------- */
#define SEC_EXPR_MAX_LEN    1024 /* bytes of one EXPR */
#define SEC_EXPR_MAX_DEPTH  8    /* nested parentheses */
#define SEC_EXPR_MAX_LEAVES 16   /* schemes in one EXPR */
#define ISSUER_NAME_MAX     64
#define POLICY_MAX_KEYS     1024 /* policy keys in one [thing] */
#define POLICY_MAX_WORDS    64   /* entries of one allow / scopes list */
#define WHO_NAME_MAX        64
#define SCOPE_MAX_LEN       128
#define TOKEN_MEMO_MAX      8

static char *const empty_strv[] = {NULL};

/* ---- expressions ------------------------------------------------------- */

static const char *const sec_names[SEC__COUNT] = {
        [SEC_NOSEC] = "nosec",   [SEC_BASIC] = "basic",   [SEC_APIKEY] = "apikey",
        [SEC_BEARER] = "bearer", [SEC_OAUTH2] = "oauth2", [SEC_PSK] = "psk",
        [SEC_CERT] = "cert",     [SEC_OSCORE] = "oscore", [SEC_ALLOF] = "allOf",
        [SEC_ONEOF] = "oneOf",
};

const char *sec_kind_name(enum sec_kind k)
{
    if ((int)k < 0 || k >= SEC__COUNT)
        return "invalid";
    return sec_names[k];
}

static bool sec_is_combo(const struct sec_expr *e)
{
    return e->kind == SEC_ALLOF || e->kind == SEC_ONEOF;
}

static bool sec_is_token(enum sec_kind k)
{
    return k == SEC_BEARER || k == SEC_OAUTH2;
}

void sec_expr_free(struct sec_expr *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_subs; i++)
        sec_expr_free(e->subs[i]);
    free(e->subs);
    free(e->issuer);
    free(e->text);
    free(e);
}

unsigned sec_expr_schemes(const struct sec_expr *e)
{
    if (!e)
        return 0;
    if (!sec_is_combo(e))
        return 1u << e->kind;
    unsigned bits = 0;
    for (size_t i = 0; i < e->n_subs; i++)
        bits |= sec_expr_schemes(e->subs[i]);
    return bits;
}

struct parser {
    const char *s;
    size_t pos;
    size_t depth;
    size_t leaves;
    int rc; /* 0, -EINVAL or -ENOMEM */
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 2, 3))) static void perr(struct parser *p, const char *fmt, ...)
{
    if (p->rc)
        return;
    p->rc = -EINVAL;
    if (p->err && p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
    }
}

static void pnomem(struct parser *p)
{
    if (!p->rc)
        p->rc = -ENOMEM;
    if (p->err && p->errlen)
        snprintf(p->err, p->errlen, "out of memory");
}

static void skip_blanks(struct parser *p)
{
    while (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')
        p->pos++;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '~';
}

/* Canonical text of e from its subs' texts. */
static int sec_make_text(struct sec_expr *e)
{
    size_t n = 0;
    if (!sec_is_combo(e)) {
        const char *name = sec_names[e->kind];
        n = strlen(name) + (e->issuer ? 1 + strlen(e->issuer) : 0);
        e->text = malloc(n + 1);
        if (!e->text)
            return -ENOMEM;
        if (e->issuer)
            snprintf(e->text, n + 1, "%s:%s", name, e->issuer);
        else
            snprintf(e->text, n + 1, "%s", name);
        return 0;
    }
    for (size_t i = 0; i < e->n_subs; i++)
        n += strlen(e->subs[i]->text) + 3; /* parentheses and separator */
    e->text = malloc(n + 1);
    if (!e->text)
        return -ENOMEM;
    char *o = e->text;
    for (size_t i = 0; i < e->n_subs; i++) {
        const struct sec_expr *s = e->subs[i];
        if (i)
            *o++ = e->kind == SEC_ONEOF ? '|' : '&';
        size_t l = strlen(s->text);
        if (sec_is_combo(s))
            *o++ = '(';
        memcpy(o, s->text, l);
        o += l;
        if (sec_is_combo(s))
            *o++ = ')';
    }
    *o = '\0';
    return 0;
}

static struct sec_expr *parse_or(struct parser *p);

static struct sec_expr *parse_factor(struct parser *p)
{
    skip_blanks(p);
    char c = p->s[p->pos];
    if (c == '(') {
        if (++p->depth > SEC_EXPR_MAX_DEPTH) {
            perr(p, "parentheses nested deeper than %d", SEC_EXPR_MAX_DEPTH);
            return NULL;
        }
        p->pos++;
        struct sec_expr *e = parse_or(p);
        if (!e)
            return NULL;
        skip_blanks(p);
        if (p->s[p->pos] != ')') {
            perr(p, "missing ')' at position %zu", p->pos + 1);
            sec_expr_free(e);
            return NULL;
        }
        p->pos++;
        p->depth--;
        return e;
    }
    size_t start = p->pos;
    while (is_name_char(p->s[p->pos]))
        p->pos++;
    size_t len = p->pos - start;
    if (!len) {
        if (c == '\0')
            perr(p, "expected a scheme at the end");
        else if (c >= 0x21 && c < 0x7f)
            perr(p, "expected a scheme at position %zu, found '%c'", start + 1, c);
        else
            perr(p, "unexpected character at position %zu", start + 1);
        return NULL;
    }
    char next = p->s[p->pos];
    if (next && next != ' ' && next != '\t' && next != '|' && next != '&' && next != ')' &&
        next != ':') {
        if (next >= 0x21 && next < 0x7f)
            perr(p, "unexpected '%c' at position %zu", next, p->pos + 1);
        else
            perr(p, "unexpected character at position %zu", p->pos + 1);
        return NULL;
    }
    int kind = -1;
    for (int k = 0; k < SEC_ALLOF; k++)
        if (strlen(sec_names[k]) == len && !memcmp(sec_names[k], p->s + start, len))
            kind = k;
    if (kind < 0) {
        perr(p, "unknown scheme '%.*s' (nosec, basic, apikey, bearer, oauth2, psk, cert or oscore)",
             (int)(len > 32 ? 32 : len), p->s + start);
        return NULL;
    }
    if (++p->leaves > SEC_EXPR_MAX_LEAVES) {
        perr(p, "more than %d schemes", SEC_EXPR_MAX_LEAVES);
        return NULL;
    }
    struct sec_expr *e = calloc(1, sizeof(*e));
    if (!e) {
        pnomem(p);
        return NULL;
    }
    e->kind = (enum sec_kind)kind;
    if (p->s[p->pos] == ':') {
        p->pos++;
        size_t is = p->pos;
        while (is_name_char(p->s[p->pos]))
            p->pos++;
        size_t il = p->pos - is;
        if (!sec_is_token(e->kind)) {
            perr(p, "':issuer' is only allowed after bearer or oauth2, not after %s",
                 sec_names[kind]);
            goto fail;
        }
        if (!il || il > ISSUER_NAME_MAX) {
            perr(p, "bad issuer name after '%s:' (1 to %d of A-Z a-z 0-9 . _ ~ -)", sec_names[kind],
                 ISSUER_NAME_MAX);
            goto fail;
        }
        e->issuer = strndup(p->s + is, il);
        if (!e->issuer) {
            pnomem(p);
            goto fail;
        }
    }
    if (sec_make_text(e) < 0) {
        pnomem(p);
        goto fail;
    }
    return e;
fail:
    sec_expr_free(e);
    return NULL;
}

/* Builds a combo of kind from v (n >= 2), flattening nested combos of the
 * same kind and refusing duplicates. Takes ownership of v's elements. */
static struct sec_expr *make_combo(struct parser *p, enum sec_kind kind, struct sec_expr **v,
                                   size_t n)
{
    struct sec_expr *e = calloc(1, sizeof(*e));
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i]->kind == kind ? v[i]->n_subs : 1;
    struct sec_expr **subs = calloc(total, sizeof(*subs));
    if (!e || !subs) {
        pnomem(p);
        free(subs);
        free(e);
        for (size_t i = 0; i < n; i++)
            sec_expr_free(v[i]);
        return NULL;
    }
    e->kind = kind;
    e->subs = subs;
    for (size_t i = 0; i < n; i++) {
        if (v[i]->kind == kind) {
            for (size_t k = 0; k < v[i]->n_subs; k++)
                subs[e->n_subs++] = v[i]->subs[k];
            v[i]->n_subs = 0;
            sec_expr_free(v[i]);
        } else {
            subs[e->n_subs++] = v[i];
        }
        v[i] = NULL;
    }
    for (size_t i = 0; i < e->n_subs; i++)
        for (size_t k = 0; k < i; k++)
            if (!strcmp(subs[i]->text, subs[k]->text)) {
                perr(p, "'%.64s' appears twice in one %s", subs[i]->text,
                     kind == SEC_ONEOF ? "'|' list" : "'&' list");
                sec_expr_free(e);
                return NULL;
            }
    if (sec_make_text(e) < 0) {
        pnomem(p);
        sec_expr_free(e);
        return NULL;
    }
    return e;
}

/* One level: term *(sep term), term parsed by sub (NULL: parse_factor). */
static struct sec_expr *parse_list(struct parser *p, char sep, enum sec_kind kind,
                                   struct sec_expr *(*sub)(struct parser *))
{
    struct sec_expr *v[SEC_EXPR_MAX_LEAVES];
    size_t n = 0;
    for (;;) {
        struct sec_expr *e = sub(p);
        if (!e)
            goto fail;
        v[n++] = e;
        skip_blanks(p);
        if (p->s[p->pos] != sep)
            break;
        p->pos++;
        if (n == ARRAY_SIZE(v)) {
            perr(p, "more than %d schemes", SEC_EXPR_MAX_LEAVES);
            goto fail;
        }
    }
    if (n == 1)
        return v[0];
    return make_combo(p, kind, v, n);
fail:
    for (size_t i = 0; i < n; i++)
        sec_expr_free(v[i]);
    return NULL;
}

static struct sec_expr *parse_and(struct parser *p)
{
    return parse_list(p, '&', SEC_ALLOF, parse_factor);
}

static struct sec_expr *parse_or(struct parser *p)
{
    return parse_list(p, '|', SEC_ONEOF, parse_and);
}

int sec_expr_parse(const char *s, struct sec_expr **out, char *err, size_t errlen)
{
    struct parser p = {.s = s, .err = err, .errlen = errlen};
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!s) {
        perr(&p, "empty expression");
        return p.rc;
    }
    size_t len = strnlen(s, SEC_EXPR_MAX_LEN + 1);
    if (len > SEC_EXPR_MAX_LEN) {
        perr(&p, "expression longer than %d bytes", SEC_EXPR_MAX_LEN);
        return p.rc;
    }
    skip_blanks(&p);
    if (!s[p.pos]) {
        perr(&p, "empty expression");
        return p.rc;
    }
    struct sec_expr *e = parse_or(&p);
    if (!e)
        return p.rc ? p.rc : -EINVAL;
    skip_blanks(&p);
    if (s[p.pos]) {
        if (s[p.pos] == ')')
            perr(&p, "unbalanced ')' at position %zu", p.pos + 1);
        else if (s[p.pos] >= 0x21 && s[p.pos] < 0x7f)
            perr(&p, "unexpected '%c' at position %zu", s[p.pos], p.pos + 1);
        else
            perr(&p, "unexpected character at position %zu", p.pos + 1);
        sec_expr_free(e);
        return p.rc;
    }
    if ((sec_expr_schemes(e) & (1u << SEC_NOSEC)) && sec_is_combo(e)) {
        perr(&p, "nosec cannot be combined with other schemes");
        sec_expr_free(e);
        return p.rc;
    }
    *out = e;
    return 0;
}

/* ---- compiled policy ------------------------------------------------- */

enum pfield {
    F_SECURITY,
    F_ALLOW,
    F_SCOPES,
    F__COUNT,
};

static const char *const field_names[F__COUNT] = {"security", "allow", "scopes"};

struct prule {
    enum pfield field;
    char *aff; /* NULL: any affordance */
    int op;    /* enum wot_op, or -1: any */
    unsigned line;
    struct sec_expr *expr; /* F_SECURITY */
    char **words;          /* F_ALLOW, F_SCOPES */
};

struct paff {
    char *name;
    enum wot_aff_kind kind;
    struct policy_form forms[WOT_OP__COUNT];
};

enum scope_class {
    SC_READ,
    SC_WRITE,
    SC_INVOKE,
    SC_SUBSCRIBE,
    SC__COUNT,
};

struct policy_thing {
    char *name;
    struct prule *rules;
    size_t n_rules;
    struct paff *affs; /* sorted by (name, kind) */
    size_t n_affs;
    struct policy_form thing_forms[WOT_OP__COUNT];
    char *default_scopes[SC__COUNT][2]; /* {"THING:read", NULL}, ... */
};

static enum scope_class op_scope_class(enum wot_op op)
{
    switch (op) {
    case WOT_OP_WRITEPROPERTY:
    case WOT_OP_WRITEALLPROPERTIES:
    case WOT_OP_WRITEMULTIPLEPROPERTIES: return SC_WRITE;
    case WOT_OP_INVOKEACTION:
    case WOT_OP_QUERYACTION:
    case WOT_OP_CANCELACTION:
    case WOT_OP_QUERYALLACTIONS: return SC_INVOKE;
    case WOT_OP_SUBSCRIBEEVENT:
    case WOT_OP_UNSUBSCRIBEEVENT:
    case WOT_OP_SUBSCRIBEALLEVENTS:
    case WOT_OP_UNSUBSCRIBEALLEVENTS: return SC_SUBSCRIBE;
    default: return SC_READ;
    }
}

const char *policy_thing_name(const struct policy_thing *pt)
{
    return pt ? pt->name : NULL;
}

void policy_thing_free(struct policy_thing *pt)
{
    if (!pt)
        return;
    for (size_t i = 0; i < pt->n_rules; i++) {
        free(pt->rules[i].aff);
        sec_expr_free(pt->rules[i].expr);
        util_strv_free(pt->rules[i].words);
    }
    free(pt->rules);
    for (size_t i = 0; i < pt->n_affs; i++)
        free(pt->affs[i].name);
    free(pt->affs);
    for (int i = 0; i < SC__COUNT; i++)
        free(pt->default_scopes[i][0]);
    free(pt->name);
    free(pt);
}

static int paff_cmp(const char *name, enum wot_aff_kind kind, const struct paff *a)
{
    int c = strcmp(name, a->name);
    if (c)
        return c;
    return (int)kind - (int)a->kind;
}

static int paff_qsort_cmp(const void *x, const void *y)
{
    const struct paff *a = x;
    return paff_cmp(a->name, a->kind, y);
}

static void form_not_exposed(struct policy_form *f)
{
    *f = (struct policy_form){.security = NULL, .allow = NULL, .scopes = empty_strv};
}

void policy_lookup(const struct policy_thing *pt, const char *aff, enum wot_op op,
                   struct policy_form *out)
{
    form_not_exposed(out);
    if (!pt || (int)op < 0 || op >= WOT_OP__COUNT)
        return;
    enum wot_aff_kind kind = wot_op_aff_kind(op);
    if (!aff) {
        if (kind == AFF_THING)
            *out = pt->thing_forms[op];
        return;
    }
    if (kind == AFF_THING)
        return;
    size_t lo = 0, hi = pt->n_affs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = paff_cmp(aff, kind, &pt->affs[mid]);
        if (!c) {
            *out = pt->affs[mid].forms[op];
            return;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
}

/* ---- compiling --------------------------------------------------------- */

struct compiler {
    const struct config *conf;
    const struct thing_conf *tc;
    const struct td *td;
    struct policy_thing *pt;
    struct diags *d;
    const char *file;
    bool failed;
    bool has_allow;
    size_t rules_cap;
};

__attribute__((format(printf, 3, 4))) static void cerr(struct compiler *c, unsigned line,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_addv(c->d, false, c->file, line, fmt, ap);
    va_end(ap);
    c->failed = true;
}

static bool who_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > WHO_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!is_name_char(*s) && *s != '@')
            return false;
    return true;
}

static bool scope_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > SCOPE_MAX_LEN)
        return false;
    /* RFC 6749 §3.3 scope-token */
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch < 0x21 || ch > 0x7e || ch == '"' || ch == '\\')
            return false;
    }
    return true;
}

/* Does any affordance of kind (or the thing for AFF_THING) offer op? */
static bool td_offers_op(const struct td *td, enum wot_op op)
{
    enum wot_aff_kind kind = wot_op_aff_kind(op);
    if (kind == AFF_THING)
        return td_ops(td, NULL) & (1u << op);
    for (size_t i = 0; i < td->n_affs; i++)
        if (td->affs[i].kind == kind && (td_ops(td, &td->affs[i]) & (1u << op)))
            return true;
    return false;
}

/* Splits the part of a key after "FIELD." into affordance and op; 0 or
 * -EINVAL (reported). */
static int split_target(struct compiler *c, const struct ini_entry *en, const char *rest,
                        char **aff, int *op)
{
    *aff = NULL;
    *op = -1;
    if (!*rest) {
        cerr(c, en->line, "'%s': empty affordance or operation after '.'", en->key);
        return -EINVAL;
    }
    const char *dot = strrchr(rest, '.');
    const char *last = dot ? dot + 1 : rest;
    enum wot_op o = wot_op_from_name(last);
    const char *name = NULL;
    size_t name_len = 0;
    if (o != WOT_OP__INVALID) {
        if (dot) {
            name_len = (size_t)(dot - rest);
            char *prefix = strndup(rest, name_len);
            if (!prefix)
                return -ENOMEM;
            bool found = td_find_name(c->td, prefix) != NULL;
            free(prefix);
            if (found) {
                name = rest;
            } else if (td_find_name(c->td, rest)) {
                /* an affordance whose name ends in ".OPNAME" */
                name = rest;
                name_len = strlen(rest);
                o = WOT_OP__INVALID;
            } else {
                cerr(c, en->line, "'%s': the TD has no affordance '%.*s'", en->key, (int)name_len,
                     rest);
                return -EINVAL;
            }
        }
    } else {
        name = rest;
        name_len = strlen(rest);
        if (!td_find_name(c->td, rest)) {
            cerr(c, en->line, "'%s': the TD has no affordance '%s' (and '%s' is not an operation)",
                 en->key, rest, last);
            return -EINVAL;
        }
    }
    if (name) {
        *aff = strndup(name, name_len);
        if (!*aff)
            return -ENOMEM;
    }
    if (o == WOT_OP__INVALID)
        return 0;
    *op = (int)o;
    enum wot_aff_kind kind = wot_op_aff_kind(o);
    if (*aff) {
        if (kind == AFF_THING) {
            cerr(c, en->line, "'%s': %s is a thing-level operation, it takes no affordance",
                 en->key, wot_op_name(o));
            return -EINVAL;
        }
        const struct td_affordance *a = td_find(c->td, kind, *aff);
        if (!a) {
            cerr(c, en->line, "'%s': '%s' is not a %s of the TD, %s does not apply", en->key, *aff,
                 wot_aff_kind_name(kind), wot_op_name(o));
            return -EINVAL;
        }
        if (!(td_ops(c->td, a) & (1u << o))) {
            cerr(c, en->line, "'%s': the device offers no %s on '%s'", en->key, wot_op_name(o),
                 *aff);
            return -EINVAL;
        }
    } else if (!td_offers_op(c->td, o)) {
        cerr(c, en->line, "'%s': the device offers no %s%s", en->key, wot_op_name(o),
             kind == AFF_THING ? "" : " on any affordance");
        return -EINVAL;
    }
    return 0;
}

static int check_issuers(struct compiler *c, const struct ini_entry *en, const struct sec_expr *e)
{
    if (sec_is_combo(e)) {
        for (size_t i = 0; i < e->n_subs; i++)
            check_issuers(c, en, e->subs[i]);
        return 0;
    }
    if (e->kind == SEC_OSCORE && !c->conf->credentials.oscore)
        cerr(c, en->line, "%s: oscore needs an OSCORE contexts file ([credentials] oscore)",
             en->key);
    if (!sec_is_token(e->kind))
        return 0;
    if (e->issuer && !config_find_issuer(c->conf, e->issuer))
        cerr(c, en->line, "%s: unknown issuer '%s' (no [issuer %s] section)", en->key, e->issuer,
             e->issuer);
    else if (!e->issuer && c->conf->n_issuers == 0)
        cerr(c, en->line, "%s: %s needs an [issuer NAME] section", en->key, sec_kind_name(e->kind));
    return 0;
}

static int parse_words(struct compiler *c, const struct ini_entry *en, enum pfield f, char ***out)
{
    char **v = NULL;
    size_t n = 0;
    int r = util_split_words(en->value, &v, &n);
    if (r < 0)
        return r;
    if (!n) {
        cerr(c, en->line, "%s: empty list (remove the key instead)", en->key);
        goto bad;
    }
    if (n > POLICY_MAX_WORDS) {
        cerr(c, en->line, "%s: more than %d entries", en->key, POLICY_MAX_WORDS);
        goto bad;
    }
    for (size_t i = 0; i < n; i++) {
        const char *w = v[i];
        if (f == F_SCOPES) {
            if (!scope_ok(w)) {
                cerr(c, en->line, "%s: invalid scope '%.64s'", en->key, w);
                goto bad;
            }
        } else if (strcmp(w, "*") != 0) {
            const char *name = NULL;
            if (!strncmp(w, "user:", 5))
                name = w + 5;
            else if (!strncmp(w, "group:", 6))
                name = w + 6;
            if (!name || !who_name_ok(name)) {
                cerr(c, en->line, "%s: '%.64s' is not user:NAME, group:NAME or *", en->key, w);
                goto bad;
            }
        }
        for (size_t k = 0; k < i; k++)
            if (!strcmp(v[k], w)) {
                cerr(c, en->line, "%s: '%.64s' listed twice", en->key, w);
                goto bad;
            }
    }
    *out = v;
    return 0;
bad:
    util_strv_free(v);
    return -EINVAL;
}

static int compile_entry(struct compiler *c, struct ini_entry *en)
{
    int f = -1;
    const char *rest = NULL;
    for (int i = 0; i < F__COUNT; i++) {
        size_t l = strlen(field_names[i]);
        if (!strncmp(en->key, field_names[i], l) && (en->key[l] == '\0' || en->key[l] == '.')) {
            f = i;
            rest = en->key[l] ? en->key + l + 1 : NULL;
        }
    }
    if (f < 0)
        return 0; /* not a policy key: config.c judges it */
    en->used = true;
    if (c->pt->n_rules >= POLICY_MAX_KEYS) {
        cerr(c, en->line, "more than %d policy keys in [thing %s]", POLICY_MAX_KEYS, c->tc->name);
        return -EINVAL;
    }
    struct prule rule = {.field = (enum pfield)f, .op = -1, .line = en->line};
    int r = 0;
    if (rest && (r = split_target(c, en, rest, &rule.aff, &rule.op)) < 0)
        goto fail;
    for (size_t i = 0; i < c->pt->n_rules; i++) {
        const struct prule *o = &c->pt->rules[i];
        if (o->field == rule.field && o->op == rule.op &&
            ((!o->aff && !rule.aff) || (o->aff && rule.aff && !strcmp(o->aff, rule.aff)))) {
            cerr(c, en->line, "%s: the same rule as line %u", en->key, o->line);
            r = -EINVAL;
            goto fail;
        }
    }
    if (f == F_SECURITY) {
        char err[160];
        r = sec_expr_parse(en->value, &rule.expr, err, sizeof(err));
        if (r == -EINVAL)
            cerr(c, en->line, "%s: %s", en->key, err);
        if (r < 0)
            goto fail;
        check_issuers(c, en, rule.expr);
    } else {
        r = parse_words(c, en, (enum pfield)f, &rule.words);
        if (r < 0)
            goto fail;
        if (f == F_ALLOW)
            c->has_allow = true;
    }
    if (c->pt->n_rules == c->rules_cap) {
        size_t cap = c->rules_cap ? c->rules_cap * 2 : 8;
        struct prule *v = realloc(c->pt->rules, cap * sizeof(*v));
        if (!v) {
            r = -ENOMEM;
            goto fail;
        }
        c->pt->rules = v;
        c->rules_cap = cap;
    }
    c->pt->rules[c->pt->n_rules++] = rule;
    return 0;
fail:
    free(rule.aff);
    sec_expr_free(rule.expr);
    util_strv_free(rule.words);
    return r;
}

/* The most specific rule of each field for (aff, op): AFF.OP, AFF, OP,
 * thing-wide. rules[] is the subset that can apply to aff. */
static void resolve(struct policy_thing *pt, const struct prule *const *rules, size_t n,
                    enum wot_op op, struct policy_form *out)
{
    const struct prule *best[F__COUNT] = {0};
    int best_rank[F__COUNT] = {-1, -1, -1};
    for (size_t i = 0; i < n; i++) {
        const struct prule *r = rules[i];
        if (r->op >= 0 && r->op != (int)op)
            continue;
        int rank = (r->aff ? 2 : 0) + (r->op >= 0 ? 1 : 0);
        if (rank > best_rank[r->field]) {
            best_rank[r->field] = rank;
            best[r->field] = r;
        }
    }
    form_not_exposed(out);
    if (!best[F_SECURITY])
        return;
    out->security = best[F_SECURITY]->expr;
    out->allow = best[F_ALLOW] ? best[F_ALLOW]->words : NULL;
    out->scopes = best[F_SCOPES] ? best[F_SCOPES]->words : pt->default_scopes[op_scope_class(op)];
}

static int resolve_all(struct compiler *c)
{
    struct policy_thing *pt = c->pt;
    const struct td *td = c->td;
    int r = 0;
    const struct prule **subset = calloc(pt->n_rules ? pt->n_rules : 1, sizeof(*subset));
    if (!subset)
        return -ENOMEM;
    if (td->n_affs) {
        pt->affs = calloc(td->n_affs, sizeof(*pt->affs));
        if (!pt->affs) {
            r = -ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < td->n_affs; i++) {
        const struct td_affordance *a = &td->affs[i];
        struct paff *p = &pt->affs[pt->n_affs];
        p->name = strdup(a->name);
        if (!p->name) {
            r = -ENOMEM;
            goto out;
        }
        p->kind = a->kind;
        pt->n_affs++;
        size_t n = 0;
        for (size_t k = 0; k < pt->n_rules; k++)
            if (!pt->rules[k].aff || !strcmp(pt->rules[k].aff, a->name))
                subset[n++] = &pt->rules[k];
        uint32_t ops = td_ops(td, a);
        for (int op = 0; op < WOT_OP__COUNT; op++) {
            form_not_exposed(&p->forms[op]);
            if ((ops & (1u << op)) && wot_op_aff_kind((enum wot_op)op) == a->kind)
                resolve(pt, subset, n, (enum wot_op)op, &p->forms[op]);
        }
    }
    if (pt->n_affs > 1)
        qsort(pt->affs, pt->n_affs, sizeof(*pt->affs), paff_qsort_cmp);
    size_t n = 0;
    for (size_t k = 0; k < pt->n_rules; k++)
        if (!pt->rules[k].aff)
            subset[n++] = &pt->rules[k];
    uint32_t ops = td_ops(td, NULL);
    for (int op = 0; op < WOT_OP__COUNT; op++) {
        form_not_exposed(&pt->thing_forms[op]);
        if ((ops & (1u << op)) && wot_op_aff_kind((enum wot_op)op) == AFF_THING)
            resolve(pt, subset, n, (enum wot_op)op, &pt->thing_forms[op]);
    }
out:
    free(subset);
    return r;
}

#define IDENTITY_SCHEMES                                                                           \
    ((1u << SEC_BASIC) | (1u << SEC_APIKEY) | (1u << SEC_PSK) | (1u << SEC_CERT) |                 \
     (1u << SEC_OSCORE))

/* Warnings: identity schemes with nobody allowed; thing-level property
 * operations that bypass a per-property policy. */
static void compile_warnings(struct compiler *c)
{
    struct policy_thing *pt = c->pt;
    unsigned used = 0;
    for (size_t i = 0; i < pt->n_affs; i++)
        for (int op = 0; op < WOT_OP__COUNT; op++)
            used |= sec_expr_schemes(pt->affs[i].forms[op].security);
    for (int op = 0; op < WOT_OP__COUNT; op++)
        used |= sec_expr_schemes(pt->thing_forms[op].security);
    if ((used & IDENTITY_SCHEMES) && !c->has_allow) {
        const char *which = "";
        for (int k = SEC_BASIC; k < SEC_ALLOF; k++)
            if ((used & IDENTITY_SCHEMES) & (1u << k)) {
                which = sec_names[k];
                break;
            }
        diag_warn(c->d, c->file, c->tc->line,
                  "[thing %s] uses %s but has no allow key: nobody can use those forms",
                  c->tc->name, which);
    }
    static const enum wot_op bulk[] = {
            WOT_OP_READALLPROPERTIES,      WOT_OP_WRITEALLPROPERTIES,
            WOT_OP_READMULTIPLEPROPERTIES, WOT_OP_WRITEMULTIPLEPROPERTIES,
            WOT_OP_OBSERVEALLPROPERTIES,
    };
    const struct prule *prop_rule = NULL;
    for (size_t k = 0; k < pt->n_rules && !prop_rule; k++)
        if (pt->rules[k].aff && td_find(c->td, AFF_PROPERTY, pt->rules[k].aff))
            prop_rule = &pt->rules[k];
    if (!prop_rule)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(bulk); i++) {
        if (!pt->thing_forms[bulk[i]].security)
            continue;
        bool explicit = false;
        for (size_t k = 0; k < pt->n_rules; k++)
            if (!pt->rules[k].aff && pt->rules[k].op == (int)bulk[i])
                explicit = true;
        if (!explicit)
            diag_warn(c->d, c->file, prop_rule->line,
                      "property '%s' has its own policy, but %s reaches it under the "
                      "thing-wide one; add security.%s to decide",
                      prop_rule->aff, wot_op_name(bulk[i]), wot_op_name(bulk[i]));
    }
}

int policy_thing_compile(const struct config *conf, const struct thing_conf *tc,
                         const struct td *td, struct policy_thing **out, struct diags *d)
{
    int r = 0;
    struct compiler c = {
            .conf = conf,
            .tc = tc,
            .td = td,
            .d = d,
            .file = conf->path ? conf->path : conf->ini.path,
    };
    *out = NULL;
    c.pt = calloc(1, sizeof(*c.pt));
    if (!c.pt)
        return -ENOMEM;
    c.pt->name = strdup(tc->name);
    if (!c.pt->name) {
        r = -ENOMEM;
        goto fail;
    }
    static const char *const suffix[SC__COUNT] = {":read", ":write", ":invoke", ":subscribe"};
    for (int i = 0; i < SC__COUNT; i++) {
        size_t l = strlen(tc->name) + strlen(suffix[i]) + 1;
        char *s = malloc(l);
        if (!s) {
            r = -ENOMEM;
            goto fail;
        }
        snprintf(s, l, "%s%s", tc->name, suffix[i]);
        c.pt->default_scopes[i][0] = s;
    }
    struct ini_section *sec = tc->section;
    bool has_security = false;
    for (size_t i = 0; sec && i < sec->n_entries; i++) {
        r = compile_entry(&c, &sec->entries[i]);
        if (r == -ENOMEM)
            goto fail;
    }
    for (size_t i = 0; i < c.pt->n_rules; i++)
        if (c.pt->rules[i].field == F_SECURITY)
            has_security = true;
    if (!has_security && !c.failed)
        cerr(&c, tc->line, "[thing %s]: nothing exposed: add a security key", tc->name);
    if (c.failed) {
        r = -EINVAL;
        goto fail;
    }
    r = resolve_all(&c);
    if (r < 0)
        goto fail;
    compile_warnings(&c);
    *out = c.pt;
    return 0;
fail:
    policy_thing_free(c.pt);
    return r;
}

/* ---- deciding ---------------------------------------------------------- */

enum auth_st {
    ST_MISSING,   /* no credential for the scheme */
    ST_FAIL,      /* a credential, refused */
    ST_FORBIDDEN, /* authenticated, not authorized */
    ST_OK,        /* authenticated (and, after authz, authorized) */
};

struct res {
    enum auth_st st;
    const char *reason;
};

/* Authentication of one identity scheme, done at most once per decision. */
struct ident_memo {
    bool done;
    enum auth_st st; /* ST_MISSING, ST_FAIL or ST_OK */
    const char *reason;
    const char *principal;   /* borrowed from env or cred */
    const struct user *user; /* for groups, may be NULL */
    char *const *key_groups; /* an API key's own groups, may be NULL */
};

/* Verification of the bearer token for one issuer restriction. */
struct token_memo {
    const char *issuer; /* the leaf's restriction, NULL: any */
    enum auth_st st;
    const char *reason;
    const struct jwt_issuer *which;
    struct jwt_claims claims;
};

struct dctx {
    const struct policy_env *env;
    const struct credentials *cred;
    struct ident_memo ident[SEC__COUNT];
    struct token_memo tok[TOKEN_MEMO_MAX];
    size_t n_tok;
    bool token_refused;
    bool scope_short;
};

static void dctx_done(struct dctx *c)
{
    for (size_t i = 0; i < c->n_tok; i++)
        jwt_claims_free(&c->tok[i].claims);
    c->n_tok = 0;
}

/* Copies s into buf (cap bytes) after "pos" bytes already there; control
 * characters become '?', a cut never splits a UTF-8 sequence. */
static void principal_append(char *buf, size_t cap, const char *s)
{
    size_t pos = strnlen(buf, cap);
    if (!s || pos + 1 >= cap)
        return;
    size_t avail = cap - 1 - pos;
    size_t n = strlen(s);
    if (n > avail) {
        n = avail;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[pos + i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    buf[pos + n] = '\0';
}

/* The password check. With env->credcache, a (user, password) pair
 * verified less than CREDCACHE_PASSWORD_TTL_S ago is found by its keyed
 * digest and crypt_r runs once per user and password (credcache.h). */
static bool basic_check(const struct policy_env *env, const char *user, const char *pass,
                        size_t pass_len, const struct user **u)
{
    *u = NULL;
    if (!env->users || !pass)
        return false;
    return credcache_users_verify(env->credcache, env->users, user, pass, pass_len, env->now, u);
}

static const struct ident_memo *ident_auth(struct dctx *c, enum sec_kind kind)
{
    struct ident_memo *m = &c->ident[kind];
    if (m->done)
        return m;
    m->done = true;
    m->st = ST_MISSING;
    m->reason = "no credentials";
    const struct credentials *cr = c->cred;
    const struct policy_env *env = c->env;
    switch (kind) {
    case SEC_BASIC: {
        if (!cr->basic_user)
            break;
        const struct user *u = NULL;
        if (!basic_check(env, cr->basic_user, cr->basic_pass, cr->basic_pass_len, &u) || !u) {
            m->st = ST_FAIL;
            m->reason = "wrong user name or password";
            break;
        }
        m->st = ST_OK;
        m->principal = u->name;
        m->user = u;
        break;
    }
    case SEC_APIKEY: {
        if (!cr->apikey)
            break;
        const struct apikey *k =
                env->apikeys ? apikeys_verify(env->apikeys, cr->apikey, cr->apikey_len) : NULL;
        if (!k) {
            m->st = ST_FAIL;
            m->reason = "unknown API key";
            break;
        }
        m->st = ST_OK;
        m->principal = k->name;
        m->key_groups = k->groups;
        m->user = env->users ? users_find(env->users, k->name) : NULL;
        break;
    }
    case SEC_PSK:
        if (!cr->psk_identity)
            break;
        if (!cr->psk_identity[0]) {
            m->st = ST_FAIL;
            m->reason = "empty PSK identity";
            break;
        }
        m->st = ST_OK;
        m->principal = cr->psk_identity;
        m->user = env->users ? users_find(env->users, cr->psk_identity) : NULL;
        break;
    case SEC_OSCORE:
        /* set by the CoAP front end only after the request verified with
         * this context (auth/oscore_ctx.h: NAME is never empty there) */
        if (!cr->oscore_context)
            break;
        if (!cr->oscore_context[0]) {
            m->st = ST_FAIL;
            m->reason = "empty OSCORE context name";
            break;
        }
        m->st = ST_OK;
        m->principal = cr->oscore_context;
        m->user = env->users ? users_find(env->users, cr->oscore_context) : NULL;
        break;
    case SEC_CERT: {
        if (!cr->cert_cn && !cr->cert_sha256)
            break;
        const char *p = env->certmap ? certmap_principal(env->certmap, cr->cert_cn, cr->cert_sha256)
                                     : cr->cert_cn;
        if (!p || !p[0]) {
            m->st = ST_FAIL;
            m->reason = "client certificate without a usable identity";
            break;
        }
        m->st = ST_OK;
        m->principal = p;
        m->user = env->users ? users_find(env->users, p) : NULL;
        break;
    }
    default: break;
    }
    return m;
}

static bool allow_match(char *const *allow, const struct ident_memo *m)
{
    for (size_t i = 0; allow && allow[i]; i++) {
        const char *w = allow[i];
        if (!strcmp(w, "*"))
            return true;
        if (!strncmp(w, "user:", 5) && !strcmp(w + 5, m->principal))
            return true;
        if (!strncmp(w, "group:", 6)) {
            if (m->user && user_in_group(m->user, w + 6))
                return true;
            if (m->key_groups && util_strv_contains(m->key_groups, w + 6))
                return true;
        }
    }
    return false;
}

static bool scopes_granted(char *const *need, char *const *have)
{
    for (size_t i = 0; need && need[i]; i++)
        if (!have || !util_strv_contains(have, need[i]))
            return false;
    return true;
}

static void token_verify(struct dctx *c, const char *issuer, struct token_memo *t)
{
    const struct credentials *cr = c->cred;
    const struct policy_env *env = c->env;
    *t = (struct token_memo){.issuer = issuer, .st = ST_MISSING, .reason = "no credentials"};
    if (!cr->bearer)
        return;
    enum jwt_error e = credcache_jwt_verify(env->credcache, env->issuers, env->n_issuers, issuer,
                                            cr->bearer, cr->bearer_len, env->max_token_size,
                                            env->now, &t->claims, &t->which);
    if (e != JWT_OK && env->extiss) {
        /* an introspection issuer's answer, cached by the HTTPS front end's
         * pre-step (auth/extiss.h) */
        const char *name = NULL;
        struct jwt_claims ic;
        enum jwt_error ie = extiss_lookup(env->extiss, issuer, cr->bearer, cr->bearer_len, env->now,
                                          &ic, &name);
        for (size_t i = 0; ie == JWT_OK && name && i < env->n_issuers; i++)
            if (env->issuers[i] && env->issuers[i]->conf && env->issuers[i]->conf->name &&
                !strcmp(env->issuers[i]->conf->name, name)) {
                jwt_claims_free(&t->claims);
                t->claims = ic;
                ic = (struct jwt_claims){0};
                t->which = env->issuers[i];
                e = JWT_OK;
                break;
            }
        jwt_claims_free(&ic);
        if (e != JWT_OK && ie != JWT_UNKNOWN_ISSUER)
            e = ie; /* the cached refusal says more than "no key" */
    }
    if (e != JWT_OK || !t->which || !t->claims.sub) {
        t->st = ST_FAIL;
        t->reason = e != JWT_OK ? jwt_error_str(e) : "token without subject";
        return;
    }
    t->st = ST_OK;
}

static struct res eval_token(struct dctx *c, const struct sec_expr *e, const struct policy_form *f,
                             char *pr, size_t cap)
{
    struct token_memo local, *t = NULL;
    for (size_t i = 0; i < c->n_tok && !t; i++) {
        const char *a = c->tok[i].issuer;
        if ((!a && !e->issuer) || (a && e->issuer && !strcmp(a, e->issuer)))
            t = &c->tok[i];
    }
    bool transient = false;
    if (!t) {
        if (c->n_tok < TOKEN_MEMO_MAX) {
            t = &c->tok[c->n_tok++];
        } else {
            t = &local;
            transient = true;
        }
        token_verify(c, e->issuer, t);
    }
    struct res r = {t->st, t->reason};
    if (t->st == ST_FAIL)
        c->token_refused = true;
    if (t->st == ST_OK) {
        principal_append(pr, cap, t->which->conf ? t->which->conf->name : NULL);
        principal_append(pr, cap, ":");
        principal_append(pr, cap, t->claims.sub);
        if (scopes_granted(f->scopes, t->claims.scopes)) {
            r = (struct res){ST_OK, "allowed"};
        } else {
            r = (struct res){ST_FORBIDDEN, "insufficient scope"};
            c->scope_short = true;
        }
    }
    if (transient)
        jwt_claims_free(&local.claims);
    return r;
}

static int st_rank(enum auth_st st)
{
    switch (st) {
    case ST_OK: return 3;
    case ST_FORBIDDEN: return 2;
    case ST_FAIL: return 1;
    default: return 0;
    }
}

static struct res eval(struct dctx *c, const struct sec_expr *e, const struct policy_form *f,
                       char *pr, size_t cap)
{
    pr[0] = '\0';
    switch (e->kind) {
    case SEC_NOSEC: principal_append(pr, cap, "anonymous"); return (struct res){ST_OK, "allowed"};
    case SEC_BASIC:
    case SEC_APIKEY:
    case SEC_PSK:
    case SEC_CERT:
    case SEC_OSCORE: {
        const struct ident_memo *m = ident_auth(c, e->kind);
        if (m->st != ST_OK)
            return (struct res){m->st, m->reason};
        principal_append(pr, cap, m->principal);
        if (!allow_match(f->allow, m))
            return (struct res){ST_FORBIDDEN, "user not allowed"};
        return (struct res){ST_OK, "allowed"};
    }
    case SEC_BEARER:
    case SEC_OAUTH2: return eval_token(c, e, f, pr, cap);
    case SEC_ONEOF: {
        struct res best = {ST_MISSING, "no credentials"};
        char tmp[POLICY_PRINCIPAL_MAX];
        for (size_t i = 0; i < e->n_subs; i++) {
            struct res r = eval(c, e->subs[i], f, tmp, sizeof(tmp));
            if (st_rank(r.st) > st_rank(best.st)) {
                best = r;
                pr[0] = '\0';
                if (r.st == ST_OK || r.st == ST_FORBIDDEN)
                    principal_append(pr, cap, tmp);
            }
            if (r.st == ST_OK)
                break;
        }
        return best;
    }
    case SEC_ALLOF: {
        struct res forbidden = {ST_OK, "allowed"};
        char tmp[POLICY_PRINCIPAL_MAX];
        for (size_t i = 0; i < e->n_subs; i++) {
            struct res r = eval(c, e->subs[i], f, tmp, sizeof(tmp));
            if (r.st == ST_MISSING || r.st == ST_FAIL) {
                pr[0] = '\0';
                return r; /* everything must authenticate: stop here */
            }
            if (r.st == ST_FORBIDDEN && forbidden.st == ST_OK)
                forbidden = r;
            if (pr[0])
                principal_append(pr, cap, "+");
            principal_append(pr, cap, tmp);
        }
        return forbidden;
    }
    default: return (struct res){ST_FAIL, "internal error"};
    }
}

void policy_decide(const struct policy_env *env, const struct policy_thing *pt, const char *aff,
                   enum wot_op op, const struct credentials *cred, struct policy_decision *out)
{
    struct policy_form f;
    out->verdict = POLICY_DENY_NOT_EXPOSED;
    out->reason = "not exposed";
    out->principal[0] = '\0';
    out->challenge = 0;
    out->invalid_token = false;
    out->insufficient_scope = false;
    out->scopes = empty_strv;

    policy_lookup(pt, aff, op, &f);
    if (!f.security)
        return;
    out->scopes = f.scopes;
    unsigned challenge = sec_expr_schemes(f.security) & ~(1u << SEC_NOSEC);
    if (cred->malformed) {
        out->verdict = POLICY_DENY_UNAUTHENTICATED;
        out->reason = cred->malformed;
        out->challenge = challenge;
        return;
    }
    struct dctx c = {.env = env, .cred = cred};
    struct res r = eval(&c, f.security, &f, out->principal, sizeof(out->principal));
    dctx_done(&c);
    out->reason = r.reason;
    switch (r.st) {
    case ST_OK: out->verdict = POLICY_ALLOW; break;
    case ST_FORBIDDEN:
        out->verdict = POLICY_DENY_FORBIDDEN;
        out->insufficient_scope = c.scope_short;
        break;
    default:
        out->verdict = POLICY_DENY_UNAUTHENTICATED;
        out->principal[0] = '\0';
        out->challenge = challenge;
        out->invalid_token = c.token_refused;
        break;
    }
}

bool policy_may_see(const struct policy_env *env, const struct policy_thing *pt,
                    const struct td *td, const struct credentials *cred)
{
    if (!pt || cred->malformed)
        return false;
    struct dctx c = {.env = env, .cred = cred};
    char pr[POLICY_PRINCIPAL_MAX];
    bool seen = false;
    for (int op = 0; op < WOT_OP__COUNT && !seen; op++) {
        const struct policy_form *f = &pt->thing_forms[op];
        if (f->security && eval(&c, f->security, f, pr, sizeof(pr)).st == ST_OK)
            seen = true;
    }
    for (size_t i = 0; i < pt->n_affs && !seen; i++)
        for (int op = 0; op < WOT_OP__COUNT && !seen; op++) {
            const struct policy_form *f = &pt->affs[i].forms[op];
            if (f->security && eval(&c, f->security, f, pr, sizeof(pr)).st == ST_OK)
                seen = true;
        }
    dctx_done(&c);
    return seen;
}

const struct sec_expr *policy_thing_security(const struct policy_thing *pt)
{
    for (size_t i = 0; pt && i < pt->n_rules; i++)
        if (pt->rules[i].field == F_SECURITY && !pt->rules[i].aff && pt->rules[i].op < 0)
            return pt->rules[i].expr;
    return NULL;
}
