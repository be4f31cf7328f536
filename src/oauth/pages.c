/* pages.c - what a person sees: the authorization endpoint, the login,
 * consent and device-verification pages, browser sessions with CSRF
 * tokens, and the back-off after failed logins; see as.h.
 * Cleanup style: goto to one exit. */
#define _GNU_SOURCE
#include "as_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../log.h"

/* ---- page layout --------------------------------------------------------------------- */

static const char page_css[] =
        "*{box-sizing:border-box}"
        "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
        "background:#f3f4f6;color:#111827}"
        "main{max-width:28rem;margin:2rem auto;padding:1.5rem;background:#fff;"
        "border-radius:.75rem;box-shadow:0 1px 3px rgba(0,0,0,.15)}"
        "h1{font-size:1.35rem;margin:0 0 1rem}"
        "p{margin:.5rem 0}"
        "label{display:block;margin:.75rem 0 .25rem;font-weight:600}"
        "input[type=text],input[type=password]{width:100%;padding:.7rem;font-size:1rem;"
        "border:1px solid #9ca3af;border-radius:.4rem}"
        "button{width:100%;padding:.8rem;margin-top:1rem;font-size:1rem;border:0;"
        "border-radius:.4rem;background:#1d4ed8;color:#fff;cursor:pointer}"
        "button.deny{background:#e5e7eb;color:#111827}"
        "ul.scopes{list-style:none;padding:0;margin:.5rem 0}"
        "ul.scopes li{padding:.6rem;border:1px solid #e5e7eb;border-radius:.4rem;margin:.4rem 0}"
        "ul.scopes label{display:flex;gap:.6rem;margin:0;font-weight:400}"
        "ul.scopes input{width:1.3rem;height:1.3rem;flex:none;margin-top:.15rem}"
        "code,.client{font-family:ui-monospace,monospace;font-weight:700}"
        ".err{background:#fee2e2;color:#991b1b;padding:.6rem;border-radius:.4rem}"
        ".muted{color:#6b7280;font-size:.9rem}"
        "input.code{text-transform:uppercase;letter-spacing:.12em;"
        "font-family:ui-monospace,monospace}"
        "@media (max-width:30rem){main{margin:.75rem}}"
        ".code{font:700 1.6rem ui-monospace,monospace;letter-spacing:.15rem;text-align:center}";

static void page_begin(struct sbuf *b, const char *title)
{
    sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
               "<meta name=\"referrer\" content=\"no-referrer\"><title>");
    sb_html(b, title);
    sb_puts(b, " - wotgw</title><style>");
    sb_puts(b, page_css);
    sb_puts(b, "</style></head><body><main><h1>");
    sb_html(b, title);
    sb_puts(b, "</h1>\n");
}

static void page_end(struct sbuf *b)
{
    sb_puts(b, "<p class=\"muted\">wotgw gateway sign-in</p></main></body></html>\n");
}

static void hidden(struct sbuf *b, const char *name, const char *value)
{
    sb_puts(b, "<input type=\"hidden\" name=\"");
    sb_html(b, name);
    sb_puts(b, "\" value=\"");
    sb_html(b, value);
    sb_puts(b, "\">");
}

int as_error_page(struct as_response *rs, int status, const char *title, const char *msg)
{
    struct sbuf b = {0};
    page_begin(&b, title);
    sb_puts(&b, "<p class=\"err\">");
    sb_html(&b, msg ? msg : "");
    sb_puts(&b, "</p><p>Go back to the application and start again.</p>");
    page_end(&b);
    return as_html(rs, status, &b);
}

/* ---- sessions ------------------------------------------------------------------------- */

/* The value of our cookie in a Cookie header, copied into v (43 chars of
 * base64url); false when absent or malformed. */
static bool cookie_value(const char *hdr, char v[AS_RAND_MAX])
{
    const size_t nl = strlen(AS_COOKIE_NAME);
    const char *p = hdr;
    while (p && *p) {
        p += strspn(p, " \t;");
        size_t l = strcspn(p, ";");
        if (l > nl && !strncmp(p, AS_COOKIE_NAME, nl) && p[nl] == '=') {
            const char *val = p + nl + 1;
            size_t vl = l - nl - 1;
            while (vl && (val[vl - 1] == ' ' || val[vl - 1] == '\t'))
                vl--;
            if (vl != b64url_encoded_len(AS_TOKEN_BYTES))
                return false;
            for (size_t i = 0; i < vl; i++) {
                char c = val[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_'))
                    return false;
            }
            memcpy(v, val, vl);
            v[vl] = '\0';
            return true;
        }
        p += l;
    }
    return false;
}

static struct as_session *session_find(struct as *as, const struct as_request *rq)
{
    char v[AS_RAND_MAX];
    uint8_t h[32];
    if (!rq->cookie || !cookie_value(rq->cookie, v))
        return NULL;
    store_hash(v, strlen(v), h);
    OPENSSL_cleanse(v, sizeof(v));
    for (size_t i = 0; i < as->n_sessions; i++)
        if (!CRYPTO_memcmp(as->sessions[i].h, h, 32) && as->sessions[i].expires > rq->now)
            return &as->sessions[i];
    return NULL;
}

static void session_drop(struct as *as, size_t i)
{
    OPENSSL_cleanse(&as->sessions[i], sizeof(as->sessions[i]));
    as->sessions[i] = as->sessions[--as->n_sessions];
}

/* Gives s a new cookie value (and CSRF token) and sets the cookie. */
static int session_issue(struct as *as, struct as_session *s, int64_t now, int64_t lifetime,
                         struct as_response *rs)
{
    char v[AS_RAND_MAX];
    int r;
    if ((r = as_random(v, sizeof(v), AS_TOKEN_BYTES)) < 0 ||
        (r = as_random(s->csrf, sizeof(s->csrf), AS_TOKEN_BYTES)) < 0)
        return r;
    uint8_t old[32];
    memcpy(old, s->h, 32);
    store_hash(v, strlen(v), s->h);
    s->expires = now + lifetime;
    /* pending requests follow their session */
    for (size_t i = 0; i < as->n_pending; i++)
        if (!CRYPTO_memcmp(as->pending[i].session, old, 32))
            memcpy(as->pending[i].session, s->h, 32);
    free(rs->set_cookie);
    rs->set_cookie = NULL;
    if (asprintf(&rs->set_cookie, "%s=%s; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=%lld",
                 AS_COOKIE_NAME, v, (long long)lifetime) < 0) {
        rs->set_cookie = NULL;
        r = -ENOMEM;
    }
    OPENSSL_cleanse(v, sizeof(v));
    return r;
}

/* A new, not yet logged-in session. */
static struct as_session *session_new(struct as *as, int64_t now, struct as_response *rs, int *err)
{
    if (as->n_sessions == AS_MAX_SESSIONS) {
        /* evict: the oldest session nobody logged into, else the oldest */
        size_t o = 0;
        bool anon = false;
        for (size_t i = 0; i < as->n_sessions; i++) {
            bool a = !as->sessions[i].user[0];
            if ((a && !anon) || (a == anon && as->sessions[i].created < as->sessions[o].created)) {
                o = i;
                anon = a;
            }
        }
        session_drop(as, o);
    }
    struct as_session *s = &as->sessions[as->n_sessions++];
    *s = (struct as_session){.created = now};
    *err = session_issue(as, s, now, AS_PRELOGIN_LIFETIME, rs);
    if (*err < 0) {
        session_drop(as, (size_t)(s - as->sessions));
        return NULL;
    }
    return s;
}

static bool csrf_ok(const struct as_session *s, const struct form *f)
{
    const char *t = form_get(f, "csrf");
    return s && t && util_secret_eq(t, strlen(t), s->csrf, strlen(s->csrf));
}

/* ---- pending requests ------------------------------------------------------------------- */

static void pending_clear(struct as_pending *p)
{
    free(p->client);
    free(p->redirect_uri);
    free(p->state);
    free(p->challenge);
    free(p->scope);
    OPENSSL_cleanse(p, sizeof(*p));
}

static void pending_drop(struct as *as, struct as_pending *p)
{
    size_t i = (size_t)(p - as->pending);
    pending_clear(p);
    as->pending[i] = as->pending[--as->n_pending];
    as->pending[as->n_pending] = (struct as_pending){0};
}

static struct as_pending *pending_new(struct as *as, const struct as_session *s, int kind,
                                      int64_t now)
{
    if (as->n_pending == AS_MAX_PENDING) {
        size_t o = 0;
        for (size_t i = 1; i < as->n_pending; i++)
            if (as->pending[i].exp < as->pending[o].exp)
                o = i;
        pending_drop(as, &as->pending[o]);
    }
    struct as_pending *p = &as->pending[as->n_pending];
    *p = (struct as_pending){.kind = kind, .exp = now + AS_PENDING_LIFETIME};
    if (as_random(p->id, sizeof(p->id), 16) < 0)
        return NULL;
    memcpy(p->session, s->h, 32);
    as->n_pending++;
    return p;
}

static struct as_pending *pending_find(struct as *as, const struct as_session *s, const char *id,
                                       int64_t now)
{
    if (!s || !id)
        return NULL;
    for (size_t i = 0; i < as->n_pending; i++) {
        struct as_pending *p = &as->pending[i];
        if (p->exp > now && !strcmp(p->id, id) && !CRYPTO_memcmp(p->session, s->h, 32))
            return p;
    }
    return NULL;
}

void as_pages_reset(struct as *as)
{
    for (size_t i = 0; i < as->n_pending; i++)
        pending_clear(&as->pending[i]);
    as->n_pending = 0;
    OPENSSL_cleanse(as->sessions, sizeof(as->sessions));
    as->n_sessions = 0;
}

void as_pages_prune(struct as *as, int64_t now)
{
    for (size_t i = 0; i < as->n_sessions;)
        if (as->sessions[i].expires <= now)
            session_drop(as, i);
        else
            i++;
    for (size_t i = 0; i < as->n_pending;)
        if (as->pending[i].exp <= now)
            pending_drop(as, &as->pending[i]);
        else
            i++;
}

/* ---- back-off ---------------------------------------------------------------------------- */

/* The part of "ip:port" that identifies a client: the IPv4 address, or
 * the /64 of an IPv6 one. */
static void peer_key(const char *peer, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN + 1] = "";
    const char *p = peer ? peer : "";
    if (*p == '[') {
        const char *rb = strchr(p, ']');
        size_t l = rb ? (size_t)(rb - p - 1) : 0;
        struct in6_addr a;
        if (rb && l < sizeof(host)) {
            memcpy(host, p + 1, l);
            host[l] = '\0';
            if (inet_pton(AF_INET6, host, &a) == 1) {
                memset(a.s6_addr + 8, 0, 8);
                inet_ntop(AF_INET6, &a, host, sizeof(host));
                snprintf(out, cap, "%s/64", host);
                return;
            }
        }
    } else {
        const char *colon = strrchr(p, ':');
        size_t l = colon ? (size_t)(colon - p) : strlen(p);
        if (l < sizeof(host)) {
            memcpy(host, p, l);
            host[l] = '\0';
            snprintf(out, cap, "%s", host);
            return;
        }
    }
    snprintf(out, cap, "%.40s", p);
}

static struct as_throttle *thr_get(struct as_throttle *v, size_t *n, const char *key, int64_t now,
                                   bool create)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(v[i].key, key)) {
            if (now - v[i].last > AS_THROTTLE_FORGET)
                v[i].fails = 0;
            return &v[i];
        }
    if (!create)
        return NULL;
    size_t i = *n;
    if (*n == AS_MAX_THROTTLE) {
        i = 0;
        for (size_t k = 1; k < *n; k++)
            if (v[k].last < v[i].last)
                i = k;
    } else {
        (*n)++;
    }
    v[i] = (struct as_throttle){.last = now};
    snprintf(v[i].key, sizeof(v[i].key), "%s", key);
    return &v[i];
}

/* Seconds to wait before the next attempt. */
static int64_t thr_wait(const struct as_throttle *t, unsigned free_fails, int64_t cap, int64_t now)
{
    if (!t || t->fails < free_fails)
        return 0;
    unsigned sh = t->fails - free_fails;
    int64_t d = sh >= 20 ? cap : (int64_t)1 << sh;
    if (d > cap)
        d = cap;
    int64_t left = t->last + d - now;
    return left > 0 ? left : 0;
}

static void thr_fail(struct as_throttle *v, size_t *n, const char *key, int64_t now)
{
    struct as_throttle *t = thr_get(v, n, key, now, true);
    if (t->fails < 1000)
        t->fails++;
    t->last = now;
}

static void thr_reset(struct as_throttle *v, size_t *n, const char *key)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(v[i].key, key)) {
            v[i] = v[--(*n)];
            return;
        }
}

bool as_device_rate_ok(struct as *as, const char *peer, int64_t now)
{
    char pk[USERS_MAX_NAME + 8];
    peer_key(peer, pk, sizeof(pk));
    struct as_throttle *t = thr_get(as->dev_thr, &as->n_dev_thr, pk, now, true);
    if (now - t->last >= AS_DEVICE_WINDOW) {
        t->last = now;
        t->fails = 0;
    }
    if (t->fails >= AS_DEVICE_PER_PEER)
        return false;
    t->fails++;
    return true;
}

static int backoff_page(struct as_response *rs, int64_t wait)
{
    struct sbuf b = {0};
    page_begin(&b, "Too many attempts");
    sb_printf(&b,
              "<p class=\"err\">Too many failed attempts. Wait %lld seconds, then go back and "
              "try again.</p>",
              (long long)wait);
    page_end(&b);
    return as_html(rs, 429, &b);
}

/* ---- pages ---------------------------------------------------------------------------- */

/* The login form. req: a pending code request (or NULL); device: the
 * device flow, with an optional user code to carry. */
static int login_page(struct as *as, const struct as_session *s, const struct as_pending *p,
                      bool device, const char *user_code, const char *username, const char *error,
                      int status, struct as_response *rs)
{
    struct sbuf b = {0};
    page_begin(&b, "Sign in");
    if (p && p->kind == PEND_CODE) {
        sb_puts(&b, "<p>The application <span class=\"client\">");
        sb_html(&b, p->client);
        sb_puts(&b, "</span> asks for access to things on this gateway. Sign in to decide.</p>");
    } else {
        sb_puts(&b, "<p>Sign in to connect a device to this gateway.</p>");
    }
    if (error) {
        sb_puts(&b, "<p class=\"err\">");
        sb_html(&b, error);
        sb_puts(&b, "</p>");
    }
    sb_puts(&b, "<form method=\"post\" action=\"/oauth/login\">");
    hidden(&b, "csrf", s->csrf);
    if (p)
        hidden(&b, "req", p->id);
    if (device)
        hidden(&b, "flow", "device");
    if (device && user_code)
        hidden(&b, "user_code", user_code);
    /* after a failed attempt the user name stays (never the password) */
    sb_puts(&b, "<label for=\"username\">User name</label>"
                "<input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" "
                "autocapitalize=\"none\" spellcheck=\"false\" required maxlength=\"64\" value=\"");
    sb_html(&b, username && strlen(username) <= 64 ? username : "");
    sb_puts(&b, "\"><label for=\"password\">Password</label>"
                "<input type=\"password\" id=\"password\" name=\"password\" "
                "autocomplete=\"current-password\" required maxlength=\"1024\">"
                "<button type=\"submit\">Sign in</button></form>");
    page_end(&b);
    (void)as;
    return as_html(rs, status, &b);
}

static int consent_page(struct as *as, const struct as_session *s, const struct as_pending *p,
                        struct as_response *rs)
{
    struct sbuf b = {0};
    size_t i = 0;
    page_begin(&b, "Allow access?");
    sb_puts(&b, "<p><span class=\"client\">");
    sb_html(&b, p->client);
    sb_puts(&b, p->kind == PEND_DEVICE ? "</span> (a device)" : "</span>");
    sb_puts(&b, " asks to act for <b>");
    sb_html(&b, s->user);
    sb_puts(&b, "</b>. Uncheck what you do not want to allow.</p>");
    if (p->kind == PEND_DEVICE) {
        sb_puts(&b, "<p>Check that your device shows this code:</p><p class=\"code\">");
        sb_html(&b, p->user_code);
        sb_puts(&b, "</p>");
    }
    sb_puts(&b, "<form method=\"post\" action=\"/oauth/consent\">");
    hidden(&b, "csrf", s->csrf);
    hidden(&b, "req", p->id);
    sb_puts(&b, "<ul class=\"scopes\">");
    for (const char *q = p->scope; *q; i++) {
        size_t l = strcspn(q, " ");
        char name[CLIENT_SCOPE_MAX + 1];
        snprintf(name, sizeof(name), "%.*s", (int)(l < CLIENT_SCOPE_MAX ? l : CLIENT_SCOPE_MAX), q);
        const struct as_scope *sc = as_scope_find(as, name);
        sb_printf(&b,
                  "<li><label><input type=\"checkbox\" name=\"s_%zu\" value=\"1\" checked>"
                  "<span><code>",
                  i);
        sb_html(&b, name);
        sb_puts(&b, "</code><br>");
        sb_html(&b, sc && sc->what ? sc->what : "");
        sb_puts(&b, "</span></label></li>");
        q += l;
        q += strspn(q, " ");
    }
    sb_puts(&b, "</ul><button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>"
                "<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"deny\">Deny"
                "</button></form>");
    page_end(&b);
    return as_html(rs, 200, &b);
}

static int device_entry_page(const struct as_session *s, const char *user_code, const char *error,
                             int status, struct as_response *rs)
{
    struct sbuf b = {0};
    page_begin(&b, "Connect a device");
    sb_puts(&b, "<p>Enter the code that your device shows.</p>");
    if (error) {
        sb_puts(&b, "<p class=\"err\">");
        sb_html(&b, error);
        sb_puts(&b, "</p>");
    }
    sb_puts(&b, "<form method=\"post\" action=\"/oauth/device\">");
    hidden(&b, "csrf", s->csrf);
    sb_puts(&b, "<label for=\"user_code\">Code</label><input type=\"text\" class=\"code\" "
                "id=\"user_code\" name=\"user_code\" autocomplete=\"off\" autocapitalize="
                "\"characters\" spellcheck=\"false\" required maxlength=\"16\" value=\"");
    sb_html(&b, user_code ? user_code : "");
    sb_puts(&b, "\"><button type=\"submit\">Continue</button></form>");
    page_end(&b);
    return as_html(rs, status, &b);
}

static int done_page(struct as_response *rs, const char *title, const char *msg)
{
    struct sbuf b = {0};
    page_begin(&b, title);
    sb_puts(&b, "<p>");
    sb_html(&b, msg);
    sb_puts(&b, "</p>");
    page_end(&b);
    return as_html(rs, 200, &b);
}

/* ---- redirects back to the client ------------------------------------------------------ */

/* redirect_uri with parameters appended (k, v pairs, NULL-terminated;
 * NULL values skipped). */
static char *redirect_to(const char *ruri, ...)
{
    struct sbuf b = {.max = 16384};
    va_list ap;
    bool first = !strchr(ruri, '?');
    sb_puts(&b, ruri);
    va_start(ap, ruri);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        if (!v)
            continue;
        sb_puts(&b, first ? "?" : "&");
        first = false;
        sb_urlenc(&b, k);
        sb_puts(&b, "=");
        sb_urlenc(&b, v);
    }
    va_end(ap);
    return sb_steal(&b, NULL);
}

static int redirect_error(struct as *as, struct as_response *rs, const char *ruri,
                          const char *state, const char *error, const char *desc)
{
    return as_redirect(rs, redirect_to(ruri, "error", error, "error_description", desc, "state",
                                       state, "iss", as->oc->issuer, NULL));
}

static bool b64url_str(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

/* ---- GET /oauth/authorize ------------------------------------------------------------------ */

int as_authorize(struct as *as, const struct as_request *rq, struct as_response *rs)
{
    struct form q = {0};
    const char *why = NULL;
    char *scope = NULL;
    int r;
    const char *qs = rq->query ? rq->query : "";
    r = form_parse(qs, strlen(qs), &q, &why);
    if (r == -ENOMEM)
        return r;
    if (r < 0)
        return as_error_page(rs, 400, "Invalid request", why);
    const char *cid = form_get(&q, "client_id"), *ruri = form_get(&q, "redirect_uri");
    const struct as_client *cl = clients_find(as->setup->clients, cid);
    /* Until client and redirect_uri check out, never redirect anywhere. */
    if (!cl) {
        r = as_error_page(rs, 400, "Unknown application",
                          cid ? "This application is not registered with the gateway."
                              : "The request names no application (client_id).");
        goto out;
    }
    if (!ruri || !client_redirect_ok(cl, ruri)) {
        r = as_error_page(rs, 400, "Invalid redirect",
                          "The application's return address (redirect_uri) is missing or not "
                          "registered.");
        goto out;
    }
    const char *state = form_get(&q, "state"), *rt = form_get(&q, "response_type");
    const char *ch = form_get(&q, "code_challenge"), *cm = form_get(&q, "code_challenge_method");
    if (state && strlen(state) > AS_MAX_STATE) {
        r = redirect_error(as, rs, ruri, NULL, "invalid_request", "state is too long");
        goto out;
    }
    if (!rt) {
        r = redirect_error(as, rs, ruri, state, "invalid_request", "response_type is required");
        goto out;
    }
    if (strcmp(rt, "code")) {
        r = redirect_error(as, rs, ruri, state, "unsupported_response_type",
                           !strcmp(rt, "token") ? "the implicit grant is not supported (RFC 9700)"
                                                : "only response_type=code is supported");
        goto out;
    }
    if (!(cl->grants & CG_CODE)) {
        r = redirect_error(as, rs, ruri, state, "unauthorized_client",
                           "the client may not use the authorization code grant");
        goto out;
    }
    if (!cm || strcmp(cm, "S256")) {
        r = redirect_error(as, rs, ruri, state, "invalid_request",
                           cm && !strcmp(cm, "plain")
                                   ? "code_challenge_method plain is refused; use S256"
                                   : "PKCE is required: code_challenge_method=S256");
        goto out;
    }
    if (!ch || !b64url_str(ch, 43)) {
        r = redirect_error(as, rs, ruri, state, "invalid_request",
                           "code_challenge must be the base64url SHA-256 of the verifier");
        goto out;
    }
    r = as_scope_resolve(as, cl, form_get(&q, "scope"), &scope, &why);
    if (r == -ENOMEM)
        goto out;
    if (r < 0) {
        r = redirect_error(as, rs, ruri, state, "invalid_scope", why);
        goto out;
    }
    struct as_session *s = session_find(as, rq);
    if (!s && !(s = session_new(as, rq->now, rs, &r)))
        goto out;
    struct as_pending *p = pending_new(as, s, PEND_CODE, rq->now);
    if (!p) {
        r = -ENOMEM;
        goto out;
    }
    p->client = strdup(cl->id);
    p->redirect_uri = strdup(ruri);
    p->state = state ? strdup(state) : NULL;
    p->challenge = strdup(ch);
    p->scope = scope;
    scope = NULL;
    if (!p->client || !p->redirect_uri || (state && !p->state) || !p->challenge) {
        pending_drop(as, p);
        r = -ENOMEM;
        goto out;
    }
    if (s->user[0] && as_owner_allowed(as, s->user))
        r = consent_page(as, s, p, rs);
    else
        r = login_page(as, s, p, false, NULL, NULL, NULL, 200, rs);
out:
    free(scope);
    form_free(&q);
    return r;
}

/* ---- POST /oauth/login ----------------------------------------------------------------------- */

int as_login(struct as *as, const struct as_request *rq, const struct form *f,
             struct as_response *rs)
{
    struct as_session *s = session_find(as, rq);
    char pk[USERS_MAX_NAME + 8];
    const char *user = form_get(f, "username"), *pw = form_get(f, "password");
    bool device = form_get(f, "flow") && !strcmp(form_get(f, "flow"), "device");
    const char *uc = form_get(f, "user_code");
    int r;
    if (!s)
        return as_error_page(rs, 400, "Session expired",
                             "Your sign-in session has expired or cookies are blocked.");
    if (!csrf_ok(s, f))
        return as_error_page(rs, 403, "Invalid form",
                             "The form is stale or was not sent by "
                             "this site.");
    struct as_pending *p = pending_find(as, s, form_get(f, "req"), rq->now);
    if (!p && !device)
        return as_error_page(rs, 400, "Request expired", "The authorization request has expired.");
    if (!user || !pw)
        return login_page(as, s, p, device, uc, user, "Enter your user name and password.", 200,
                          rs);
    peer_key(rq->peer, pk, sizeof(pk));
    struct as_throttle *tp = thr_get(as->peer_thr, &as->n_peer_thr, pk, rq->now, false);
    struct as_throttle *tu = strlen(user) <= USERS_MAX_NAME
                                     ? thr_get(as->user_thr, &as->n_user_thr, user, rq->now, false)
                                     : NULL;
    int64_t w1 = thr_wait(tp, AS_PEER_FREE_FAILS, AS_PEER_MAX_DELAY, rq->now);
    int64_t w2 = thr_wait(tu, AS_USER_FREE_FAILS, AS_USER_MAX_DELAY, rq->now);
    char su[USERS_MAX_NAME + 1];
    if (w1 || w2) {
        log_msg(LOG_WARNING, "oauth: sign-in for '%s' from %s refused: back-off (%llds)",
                as_log_safe(user, su, sizeof(su)), pk, (long long)(w1 > w2 ? w1 : w2));
        return backoff_page(rs, w1 > w2 ? w1 : w2);
    }
    const struct user *u = NULL;
    bool ok = as->st->users && users_verify(as->st->users, user, pw, strlen(pw), &u) &&
              as_owner_allowed(as, user);
    if (!ok) {
        log_msg(LOG_NOTICE, "oauth: failed sign-in for '%s' from %s",
                as_log_safe(user, su, sizeof(su)), pk);
        thr_fail(as->peer_thr, &as->n_peer_thr, pk, rq->now);
        if (strlen(user) <= USERS_MAX_NAME)
            thr_fail(as->user_thr, &as->n_user_thr, user, rq->now);
        return login_page(as, s, p, device, uc, user, "Wrong user name or password.", 200, rs);
    }
    thr_reset(as->peer_thr, &as->n_peer_thr, pk);
    thr_reset(as->user_thr, &as->n_user_thr, user);
    /* a fresh session id after login (no fixation) */
    snprintf(s->user, sizeof(s->user), "%s", user);
    r = session_issue(as, s, rq->now, (int64_t)as->oc->session_lifetime_s, rs);
    if (r < 0)
        return r;
    char *loc = NULL;
    if (p) {
        if (asprintf(&loc, "/oauth/consent?req=%s", p->id) < 0)
            loc = NULL;
    } else {
        char norm[AS_USER_CODE_LEN + 1];
        if (uc && as_user_code_norm(uc, norm)) {
            if (asprintf(&loc, "/oauth/device?user_code=%.4s-%.4s", norm, norm + 4) < 0)
                loc = NULL;
        } else {
            loc = strdup("/oauth/device");
        }
    }
    return as_redirect(rs, loc);
}

/* ---- consent --------------------------------------------------------------------------------- */

static const char *query_param(const struct as_request *rq, struct form *q, const char *name)
{
    const char *qs = rq->query ? rq->query : "";
    if (form_parse(qs, strlen(qs), q, NULL) < 0)
        return NULL;
    return form_get(q, name);
}

int as_consent_page(struct as *as, const struct as_request *rq, struct as_response *rs)
{
    struct form q = {0};
    struct as_session *s = session_find(as, rq);
    const char *id = query_param(rq, &q, "req");
    struct as_pending *p = pending_find(as, s, id, rq->now);
    int r;
    if (!s || !p)
        r = as_error_page(rs, 400, "Request expired", "The authorization request has expired.");
    else if (!s->user[0] || !as_owner_allowed(as, s->user))
        r = login_page(as, s, p, p->kind == PEND_DEVICE, NULL, NULL, NULL, 200, rs);
    else
        r = consent_page(as, s, p, rs);
    form_free(&q);
    return r;
}

/* The scopes of p the form left checked (s_0, s_1, ... by position). */
static char *granted_scopes(const struct as_pending *p, const struct form *f)
{
    struct sbuf b = {.max = FORM_MAX_VALUE};
    size_t i = 0;
    for (const char *q = p->scope; *q; i++) {
        size_t l = strcspn(q, " ");
        char key[32];
        snprintf(key, sizeof(key), "s_%zu", i);
        const char *v = form_get(f, key);
        if (v && !strcmp(v, "1")) {
            if (b.n)
                sb_puts(&b, " ");
            sb_put(&b, q, l);
        }
        q += l;
        q += strspn(q, " ");
    }
    if (!b.n) {
        sb_free(&b);
        return strdup("");
    }
    return sb_steal(&b, NULL);
}

int as_consent(struct as *as, const struct as_request *rq, const struct form *f,
               struct as_response *rs)
{
    struct as_session *s = session_find(as, rq);
    char *granted = NULL, *code = NULL;
    int r;
    if (!s)
        return as_error_page(rs, 400, "Session expired",
                             "Your sign-in session has expired or cookies are blocked.");
    if (!csrf_ok(s, f))
        return as_error_page(rs, 403, "Invalid form",
                             "The form is stale or was not sent by this site.");
    struct as_pending *p = pending_find(as, s, form_get(f, "req"), rq->now);
    if (!p)
        return as_error_page(rs, 400, "Request expired", "The authorization request has expired.");
    if (!s->user[0] || !as_owner_allowed(as, s->user))
        return login_page(as, s, p, p->kind == PEND_DEVICE, NULL, NULL, NULL, 200, rs);
    const char *dec = form_get(f, "decision");
    bool approve = dec && !strcmp(dec, "approve");
    if (!dec || (!approve && strcmp(dec, "deny")))
        return as_error_page(rs, 400, "Invalid form", "Choose Allow or Deny.");
    if (approve) {
        granted = granted_scopes(p, f);
        if (!granted)
            return -ENOMEM;
        if (!*granted)
            approve = false; /* nothing left to allow */
    }
    log_msg(LOG_INFO, "oauth: '%s' %s %s client '%s'%s%s", s->user, approve ? "allowed" : "denied",
            p->kind == PEND_DEVICE ? "device" : "app", p->client, approve ? " scope=" : "",
            approve ? granted : "");
    if (p->kind == PEND_CODE) {
        if (!approve) {
            r = redirect_error(as, rs, p->redirect_uri, p->state, "access_denied",
                               "the resource owner denied the request");
        } else {
            r = as_issue_code(as, p, s->user, granted, rq->now, &code);
            if (r == 0)
                r = as_redirect(rs, redirect_to(p->redirect_uri, "code", code, "state", p->state,
                                                "iss", as->oc->issuer, NULL));
            else if (r != -ENOMEM)
                r = as_error_page(rs, 503, "Try again", "The gateway could not save the grant.");
        }
    } else {
        struct st_device *d = store_find_device(as->store, p->device_h);
        if (!d || d->status != DEV_PENDING || d->exp <= rq->now) {
            r = as_error_page(rs, 400, "Code expired",
                              "The device code has expired or was already used.");
        } else {
            d->status = approve ? DEV_APPROVED : DEV_DENIED;
            if (approve) {
                free(d->scope);
                d->scope = granted;
                granted = NULL;
                d->sub = strdup(s->user);
                if (!d->sub) {
                    d->status = DEV_DENIED;
                    r = -ENOMEM;
                    goto out;
                }
            }
            r = store_save(as->store);
            if (r < 0)
                r = as_error_page(rs, 503, "Try again", "The gateway could not save the answer.");
            else if (approve)
                r = done_page(rs, "Device connected",
                              "You may close this page and return to your device.");
            else
                r = done_page(rs, "Request denied", "The device was not given access.");
        }
    }
    pending_drop(as, p);
out:
    free(granted);
    util_secret_free(code);
    return r;
}

/* ---- device verification ----------------------------------------------------------------------
 */

int as_device_page(struct as *as, const struct as_request *rq, struct as_response *rs)
{
    struct form q = {0};
    const char *uc = query_param(rq, &q, "user_code");
    struct as_session *s = session_find(as, rq);
    char norm[AS_USER_CODE_LEN + 1], shown[AS_USER_CODE_LEN + 2] = "";
    int r = 0;
    if (uc && as_user_code_norm(uc, norm))
        snprintf(shown, sizeof(shown), "%.4s-%.4s", norm, norm + 4);
    if (!s && !(s = session_new(as, rq->now, rs, &r))) {
        form_free(&q);
        return r;
    }
    if (!s->user[0] || !as_owner_allowed(as, s->user))
        r = login_page(as, s, NULL, true, shown[0] ? shown : NULL, NULL, NULL, 200, rs);
    else
        r = device_entry_page(s, shown, NULL, 200, rs);
    form_free(&q);
    return r;
}

int as_device_submit(struct as *as, const struct as_request *rq, const struct form *f,
                     struct as_response *rs)
{
    struct as_session *s = session_find(as, rq);
    char pk[USERS_MAX_NAME + 8], norm[AS_USER_CODE_LEN + 1];
    if (!s)
        return as_error_page(rs, 400, "Session expired",
                             "Your sign-in session has expired or cookies are blocked.");
    if (!csrf_ok(s, f))
        return as_error_page(rs, 403, "Invalid form",
                             "The form is stale or was not sent by this site.");
    if (!s->user[0] || !as_owner_allowed(as, s->user))
        return login_page(as, s, NULL, true, NULL, NULL, NULL, 200, rs);
    peer_key(rq->peer, pk, sizeof(pk));
    int64_t w = thr_wait(thr_get(as->peer_thr, &as->n_peer_thr, pk, rq->now, false),
                         AS_PEER_FREE_FAILS, AS_PEER_MAX_DELAY, rq->now);
    if (w)
        return backoff_page(rs, w);
    const char *uc = form_get(f, "user_code");
    struct st_device *d = NULL;
    if (uc && as_user_code_norm(uc, norm)) {
        uint8_t uh[32];
        store_hash(norm, AS_USER_CODE_LEN, uh);
        d = store_find_user_code(as->store, uh);
    }
    if (!d || d->status != DEV_PENDING || d->exp <= rq->now) {
        thr_fail(as->peer_thr, &as->n_peer_thr, pk, rq->now);
        return device_entry_page(s, NULL, "Unknown or expired code.", 400, rs);
    }
    struct as_pending *p = pending_new(as, s, PEND_DEVICE, rq->now);
    if (!p)
        return -ENOMEM;
    p->client = strdup(d->client);
    p->scope = strdup(d->scope);
    memcpy(p->device_h, d->h, 32);
    snprintf(p->user_code, sizeof(p->user_code), "%.4s-%.4s", norm, norm + 4);
    if (!p->client || !p->scope) {
        pending_drop(as, p);
        return -ENOMEM;
    }
    char *loc = NULL;
    if (asprintf(&loc, "/oauth/consent?req=%s", p->id) < 0)
        loc = NULL;
    return as_redirect(rs, loc);
}
