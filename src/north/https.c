/* https.c - see https.h.
 *
 * Objects:
 *   struct https           the front end (gw->https)
 *   struct https_listener  one bound listening socket per [https] listen
 *   struct https_gen       one generation: the MHD daemons started with one
 *                          set of certificates and limits (a reload starts a
 *                          new one and retires the old)
 *   struct https_daemon    one MHD daemon of a generation on one listener
 *   struct https_conn      per TLS connection (MHD socket context): peer,
 *                          client certificate verified once
 *   struct https_req       per request (MHD con_cls), reference counted: the
 *                          connection holds one until the request completes,
 *                          a streaming response another until MHD frees it
 *
 * Cleanup style: goto to one exit in functions that acquire several
 * things; object lifetimes end in one *_free() each.
 */
#define _GNU_SOURCE
#include "north/https.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/extiss.h"
#include "coap_util.h"
#include "cose_sign.h"
#include "log.h"
#include "north/http_oscore.h"
#include "north/http_util.h"
#include "oauth/as.h"
#include "oscore_gw.h"
#include "proxy.h"

#define HTTPS_PEM_MAX        (1u << 20) /* certificate, key and CA files */
#define HTTPS_STREAM_BUF_MAX (1u << 20) /* SSE bytes waiting for a slow consumer */
#define HTTPS_STREAM_BLOCK   (16u << 10)
#define HTTPS_HSTS           "max-age=63072000"
#define HTTPS_CN_MAX         256
/* A body over max_body_size is read and dropped up to this many times the
 * limit, then answered with 413 on a connection that stays usable: a
 * response queued in the middle of an upload makes libmicrohttpd close the
 * connection without sending it. Beyond that the connection is closed. */
#define HTTPS_DISCARD_FACTOR 4

/* TLS 1.3 only by default; with 1.2, AEAD ciphers and ECDHE key exchange
 * only (RFC 9325). Both were checked with openssl s_client -tls1_3,
 * -tls1_2, -tls1_1 and -tls1 (tests/integration/test_https.sh). */
#define PRIO_COMMON                                                                                \
    ":-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD"                     \
    ":-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1"                   \
    ":+GROUP-SECP384R1:%SERVER_PRECEDENCE"
#define PRIO_TLS13 "SECURE128:-VERS-ALL:+VERS-TLS1.3" PRIO_COMMON
#define PRIO_TLS12 "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" PRIO_COMMON

struct https;
struct https_gen;

struct https_listener {
    char *addr; /* as configured */
    int fd;
};

struct https_daemon {
    struct https_gen *gen;
    struct MHD_Daemon *mhd;
    sd_event_source *io, *timer, *kick;
    bool armed;        /* timer enabled, for armed_at */
    uint64_t armed_at; /* CLOCK_MONOTONIC us */
    unsigned long conns;
    bool quiesced;
};

struct https_gen {
    struct https *h;
    struct https_gen *next;
    struct https_daemon *d;
    size_t n;
    unsigned long conns;
    bool retired;
    bool running; /* inside MHD_run of one of its daemons */
};

struct https_conn {
    struct https_daemon *d;
    char peer[INET6_ADDRSTRLEN + 8];
    bool cert_checked;
    bool cert_ok;
    char cert_cn[HTTPS_CN_MAX];
    char cert_sha256[65];
};

struct https_req {
    struct https *h;
    struct https_conn *cx;
    struct MHD_Connection *conn;
    struct https_req *prev, *next;
    unsigned refs;
    struct http_route route;
    char *pathbuf;
    char pathbuf_small[256];
    struct interaction in;
    char *basic; /* decoded Basic credentials (HTTP_BASIC_MAX), wiped */
    uint8_t *body;
    size_t body_len, body_cap;
    uint64_t body_max;
    uint64_t discarded; /* body bytes dropped after the limit was passed */
    bool too_large;     /* answer 413 once the body is read */
    bool may_discard;   /* an early answer waits until the body was dropped */
    bool has_body;
    bool dispatched;
    bool in_first_call;
    bool bearer_scheme; /* Authorization: Bearer was sent, parsed or not */
    bool suspended;
    /* the external issuer step before a decision (auth/extiss.h) */
    struct extiss_wait *prep;
    bool prepped, prep_ready;
    int prep_status;
    bool queued;
    /* a request for the authorization server (oauth/as.h) */
    bool as_req;
    char *as_method, *as_path, *as_query, *as_ctype, *as_auth, *as_cookie;
    struct proxy_call *call;
    struct MHD_Response *resp; /* ready to queue after a resume */
    unsigned resp_status;
    /* Accept: application/cose; cose-type="cose-sign1" (cose_sign.h): the
     * thing's key, held until the device's answer is signed */
    struct cose_signer *cose;
    /* OSCORE over HTTP (north/http_oscore.h): the request's target, its
     * OSCORE option value; for the gateway's own contexts the server it
     * was verified with (held until the answer is protected), what
     * protecting needs, the decrypted request (the route, the context's
     * name and the payload given to the proxy point into it) */
    enum http_oscore_target osc;
    uint8_t osc_opt[OSCORE_OPTION_VALUE_MAX];
    size_t osc_opt_len;
    struct oscore_gw *osrv;
    struct oscore_srv_result osc_res;
    uint8_t *osc_plain;
    size_t osc_plain_cap;
    char *osc_pathbuf;
    char osc_name[OSCORE_CTX_MAX_NAME + 1];
    bool osc_get;
    /* streams */
    bool stream;
    bool stream_done;
    bool client_gone;
    char *sbuf;
    size_t slen, soff, scap;
    sd_event_source *rdhup;
};

struct https {
    struct gw *gw;
    struct https_listener *ls;
    size_t n_ls;
    struct https_gen *gens; /* newest first */
    struct https_req *reqs;
    size_t n_reqs;
    bool draining;
    struct as *as; /* the built-in authorization server ([oauth]), or NULL */
};

const char *https_priorities(enum tls_min_version min)
{
    return min == TLS_MIN_1_2 ? PRIO_TLS12 : PRIO_TLS13;
}

/* ---- TLS material ----------------------------------------------------------------- */

struct tls_files {
    char *cert, *key, *ca; /* PEM text, NUL-terminated; key wiped on free */
    size_t cert_len, key_len, ca_len;
};

static void tls_files_free(struct tls_files *f)
{
    free(f->cert);
    if (f->key) {
        OPENSSL_cleanse(f->key, f->key_len);
        free(f->key);
    }
    free(f->ca);
    *f = (struct tls_files){0};
}

static int read_pem(const char *path, char **out, size_t *len, struct diags *d)
{
    int r = util_read_file(path, HTTPS_PEM_MAX, out, len);
    if (r < 0)
        diag_add(d, path, 0, "cannot read: %s", r == -EFBIG ? "file too large" : strerror(-r));
    return r;
}

static int tls_files_load(const struct https_conf *hc, struct tls_files *f, struct diags *d)
{
    gnutls_certificate_credentials_t cred = NULL;
    int r = 0;
    *f = (struct tls_files){0};
    if (!hc->certificate || !hc->key)
        return -EINVAL; /* config_load() already said so */
    if (read_pem(hc->certificate, &f->cert, &f->cert_len, d) < 0)
        r = -EINVAL;
    if (read_pem(hc->key, &f->key, &f->key_len, d) < 0)
        r = -EINVAL;
    if (hc->client_ca && read_pem(hc->client_ca, &f->ca, &f->ca_len, d) < 0)
        r = -EINVAL;
    if (r < 0)
        goto out;
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        r = -ENOMEM;
        goto out;
    }
    gnutls_datum_t c = {(unsigned char *)f->cert, (unsigned)f->cert_len};
    gnutls_datum_t k = {(unsigned char *)f->key, (unsigned)f->key_len};
    /* certificate alone first, for a clear message */
    gnutls_x509_crt_t *crts = NULL;
    unsigned n_crts = 0;
    int g = gnutls_x509_crt_list_import2(&crts, &n_crts, &c, GNUTLS_X509_FMT_PEM, 0);
    if (g < 0 || n_crts == 0) {
        diag_add(d, hc->certificate, 0, "not a PEM certificate (%s)",
                 g < 0 ? gnutls_strerror(g) : "no certificate found");
        r = -EINVAL;
    } else {
        time_t exp = gnutls_x509_crt_get_expiration_time(crts[0]);
        if (exp != (time_t)-1 && exp < time(NULL))
            diag_warn(d, hc->certificate, 0, "the certificate has expired");
    }
    for (unsigned i = 0; i < n_crts; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
    if (r == 0) {
        g = gnutls_certificate_set_x509_key_mem2(cred, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (g == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
            diag_add(d, hc->key, 0, "the key does not match the certificate %s", hc->certificate);
            r = -EINVAL;
        } else if (g < 0) {
            diag_add(d, hc->key, 0, "not a usable PEM private key (%s)", gnutls_strerror(g));
            r = -EINVAL;
        }
    }
    if (f->ca) {
        gnutls_datum_t a = {(unsigned char *)f->ca, (unsigned)f->ca_len};
        g = gnutls_certificate_set_x509_trust_mem(cred, &a, GNUTLS_X509_FMT_PEM);
        if (g <= 0) {
            diag_add(d, hc->client_ca, 0, "no CA certificate in it (%s)",
                     g < 0 ? gnutls_strerror(g) : "none found");
            r = -EINVAL;
        }
    }
out:
    if (cred)
        gnutls_certificate_free_credentials(cred);
    if (r < 0)
        tls_files_free(f);
    return r;
}

int https_check(const struct gw_state *s, struct diags *d)
{
    const struct https_conf *hc = &s->conf->https;
    if (!hc->enabled)
        return 0;
    struct tls_files f;
    int r = tls_files_load(hc, &f, d);
    tls_files_free(&f);
    return r;
}

/* ---- listeners ------------------------------------------------------------------------ */

static int listener_open(struct https_listener *l, const char *addr)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon;
    bool v6 = addr[0] == '[';
    if (v6) {
        const char *e = strchr(addr, ']');
        if (!e || e[1] != ':' || (size_t)(e - addr - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, addr + 1, (size_t)(e - addr - 1));
        host[e - addr - 1] = '\0';
        colon = e + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || (size_t)(colon - addr) >= sizeof(host))
            return -EINVAL;
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
    }
    unsigned long port = strtoul(colon + 1, NULL, 10);
    if (port == 0 || port > 65535)
        return -EINVAL;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return -EINVAL;
        sl = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return -EINVAL;
        sl = sizeof(*a);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (v6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, SOMAXCONN) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    l->addr = strdup(addr);
    if (!l->addr) {
        close(fd);
        return -ENOMEM;
    }
    l->fd = fd;
    return 0;
}

static void listener_close(struct https_listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    free(l->addr);
    l->addr = NULL;
}

/* ---- the loop glue ------------------------------------------------------------------------ */

static void gen_maybe_free(struct https_gen *g);

/* The timer only ever moves earlier while it is armed: a timer that fires
 * before MHD needs it costs one idle MHD_run, whereas moving it on every
 * request costs a timerfd_settime() each (MHD's next timeout is an idle
 * connection's, and moves with every request). */
static void daemon_rearm(struct https_daemon *d)
{
    MHD_UNSIGNED_LONG_LONG to;
    if (!d->timer)
        return;
    if (MHD_get_timeout(d->mhd, &to) != MHD_YES) {
        if (d->armed) {
            sd_event_source_set_enabled(d->timer, SD_EVENT_OFF);
            d->armed = false;
        }
        return;
    }
    uint64_t now;
    sd_event_now(d->gen->h->gw->ev, CLOCK_MONOTONIC, &now);
    uint64_t at = now + (uint64_t)to * 1000u;
    if (d->armed && d->armed_at <= at && d->armed_at > now)
        return;
    sd_event_source_set_time(d->timer, at);
    sd_event_source_set_enabled(d->timer, SD_EVENT_ONESHOT);
    d->armed = true;
    d->armed_at = at;
}

/* MHD_run, then the next timeout; a retired generation whose last
 * connection closed is freed here (never inside MHD's own callbacks). */
static void daemon_run_once(struct https_daemon *d)
{
    struct https_gen *g = d->gen;
    g->running = true;
    MHD_run(d->mhd);
    g->running = false;
    daemon_rearm(d);
    gen_maybe_free(g);
}

static int on_mhd_io(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
    daemon_run_once(ud);
    return 0;
}

static int on_mhd_timer(sd_event_source *s, uint64_t usec, void *ud)
{
    struct https_daemon *d = ud;
    d->armed = false; /* a oneshot timer is off once it fired */
    daemon_run_once(d);
    return 0;
}

static int on_mhd_kick(sd_event_source *s, void *ud)
{
    daemon_run_once(ud);
    return 0;
}

/* MHD does not wake an external loop on resume (Trap 1.1): a defer
 * source runs MHD_run on the next iteration. */
static void req_resume(struct https_req *rq)
{
    if (!rq->suspended)
        return;
    rq->suspended = false;
    MHD_resume_connection(rq->conn);
    struct https_daemon *d = rq->cx->d;
    if (d->kick)
        sd_event_source_set_enabled(d->kick, SD_EVENT_ONESHOT);
}

/* ---- requests -------------------------------------------------------------------------- */

static void as_req_free(struct https_req *rq);

static void req_unref(struct https_req *rq)
{
    if (!rq || --rq->refs)
        return;
    sd_event_source_disable_unref(rq->rdhup);
    if (rq->resp)
        MHD_destroy_response(rq->resp);
    if (rq->basic) {
        OPENSSL_cleanse(rq->basic, HTTP_BASIC_MAX);
        free(rq->basic);
    }
    if (rq->pathbuf != rq->pathbuf_small)
        free(rq->pathbuf);
    if (rq->as_req && rq->body) /* login forms carry passwords */
        OPENSSL_cleanse(rq->body, rq->body_cap);
    as_req_free(rq);
    cose_signer_unref(rq->cose);
    oscore_gw_unref(rq->osrv);
    if (rq->osc_plain) {
        OPENSSL_cleanse(rq->osc_plain, rq->osc_plain_cap);
        free(rq->osc_plain);
    }
    free(rq->osc_pathbuf);
    free(rq->body);
    free(rq->sbuf);
    free(rq);
}

static void req_unlink(struct https_req *rq)
{
    struct https *h = rq->h;
    if (rq->prev)
        rq->prev->next = rq->next;
    else if (h->reqs == rq)
        h->reqs = rq->next;
    if (rq->next)
        rq->next->prev = rq->prev;
    rq->prev = rq->next = NULL;
    h->n_reqs--;
}

static enum MHD_Result add_header(struct MHD_Response *r, const char *name, const char *value)
{
    return MHD_add_response_header(r, name, value);
}

/* Headers every response carries. */
static bool common_headers(struct https *h, struct MHD_Response *r)
{
    bool ok = add_header(r, "X-Content-Type-Options", "nosniff") == MHD_YES &&
              add_header(r, "Strict-Transport-Security", HTTPS_HSTS) == MHD_YES &&
              add_header(r, "Cache-Control", "no-store") == MHD_YES;
    if (ok && h->draining)
        ok = add_header(r, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    return ok;
}

/* The front end's own error/refusal response for res (status >= 300, or
 * 200 with a body of the gateway's own). */
static struct MHD_Response *make_response(struct https *h, const struct proxy_result *res,
                                          enum http_route_kind kind)
{
    const struct config *conf = h->gw->state->conf;
    struct MHD_Response *r = NULL;
    if (res->body || res->from_device) {
        r = MHD_create_response_from_buffer(res->body_len, (void *)res->body,
                                            MHD_RESPMEM_MUST_COPY);
        if (!r)
            return NULL;
        if (res->content_type && http_content_type_ok(res->content_type) &&
            add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type) != MHD_YES)
            goto fail;
    } else {
        size_t len = 0;
        char *body = http_problem_json(res->status, res->detail, &len);
        if (!body)
            return NULL;
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(body);
            return NULL;
        }
        if (add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json") != MHD_YES)
            goto fail;
    }
    if (!common_headers(h, r))
        goto fail;
    if (res->status == 401 && !res->from_device) {
        char ch[4][HTTP_CHALLENGE_MAX];
        size_t n = http_challenges(res->challenge, conf->realm, conf->credentials.apikey_header,
                                   res->invalid_token, ch, 4);
        for (size_t i = 0; i < n; i++)
            if (add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, ch[i]) != MHD_YES)
                goto fail;
    } else if (res->status == 403 && res->insufficient_scope && !res->from_device) {
        char ch[HTTP_CHALLENGE_MAX * 2];
        if (http_insufficient_scope(conf->realm, res->scopes, ch, sizeof(ch)) &&
            add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, ch) != MHD_YES)
            goto fail;
    } else if (res->status == 405 && !res->from_device) {
        char allow[64];
        http_route_allow(kind, res->allow_ops, allow, sizeof(allow));
        if (add_header(r, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES)
            goto fail;
    }
    return r;
fail:
    MHD_destroy_response(r);
    return NULL;
}

static enum MHD_Result queue(struct https_req *rq, unsigned status, struct MHD_Response *r)
{
    if (!r)
        return MHD_NO; /* out of memory: MHD closes the connection */
    enum MHD_Result ret = MHD_queue_response(rq->conn, status, r);
    MHD_destroy_response(r);
    rq->queued = true;
    return ret;
}

/* Queues r now, or, while the request is still being read (its first
 * call), keeps it for the final call when there is no body or the body is
 * to be read and dropped first: a response queued before MHD saw the end
 * of the request makes MHD close the connection (mid-upload, without even
 * sending it), and a refusal should not cost a consumer its keep-alive
 * connection. */
static enum MHD_Result answer(struct https_req *rq, unsigned status, struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    if (rq->in_first_call && (!rq->has_body || rq->may_discard)) {
        rq->resp = r;
        rq->resp_status = status;
        return MHD_YES;
    }
    return queue(rq, status, r);
}

static enum MHD_Result queue_result(struct https_req *rq, const struct proxy_result *res_in)
{
    struct proxy_result copy = *res_in;
    const struct proxy_result *res = &copy;
    /* a Bearer token that did not even parse is refused like a bad one
     * (RFC 6750 §3.1) */
    if (copy.status == 401 && rq->bearer_scheme)
        copy.invalid_token = true;
    if (res->status == 405 && !res->from_device) {
        char allow[64];
        if (!http_route_allow(rq->route.kind, res->allow_ops, allow, sizeof(allow))) {
            /* nothing at all is offered on this route */
            struct proxy_result nf = {.status = 404, .detail = "not exposed"};
            return answer(rq, 404, make_response(rq->h, &nf, rq->route.kind));
        }
    }
    return answer(rq, (unsigned)res->status, make_response(rq->h, res, rq->route.kind));
}

/* A gateway error that never reached the proxy (bad request, limits):
 * logged here, with what is known. */
static enum MHD_Result queue_error(struct https_req *rq, int status, const char *detail,
                                   uint32_t allow_ops)
{
    struct log_interaction li = {
            .thing = rq->route.thing,
            .affordance = rq->route.aff,
            .protocol = "https",
            .peer = rq->cx->peer,
            .decision = "deny",
            .reason = detail,
            .status = status,
    };
    log_interaction(LOG_NOTICE, &li);
    rq->h->gw->counters.requests++;
    struct proxy_result res = {.status = status, .detail = detail, .allow_ops = allow_ops};
    return queue_result(rq, &res);
}

/* ---- COSE_Sign1 answers (cose_sign.h) ------------------------------------------------------ */

/* Before the device is asked: NULL to go on (rq->cose set when the answer
 * is to be signed), else the detail of a 406. Only a caller who may see
 * the thing learns that it cannot sign; others get the proxy's 401/404. */
static const char *cose_negotiate(struct https_req *rq)
{
    const char *accept =
            MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    struct cose_accept a;
    if (!accept || !strcasestr(accept, "application/cose"))
        return NULL;
    cose_accept_parse(accept, &a);
    if (!a.sign1)
        return NULL;
    bool op_ok = rq->in.op == WOT_OP_READPROPERTY || rq->in.op == WOT_OP_INVOKEACTION;
    const struct gw_state *s = rq->h->gw->state;
    const struct thing *t = state_find_thing(s, rq->in.thing);
    if (op_ok && t && t->cose) {
        rq->cose = cose_signer_ref(t->cose);
        return NULL;
    }
    if (a.others || !t)
        return NULL;
    struct policy_env env;
    state_policy_env(s, (int64_t)time(NULL), &env);
    if (!policy_may_see(&env, t->policy, t->td, &rq->in.cred))
        return NULL;
    return op_ok ? "this thing does not sign its answers (no COSE key): ask without "
                   "Accept: application/cose"
                 : "COSE_Sign1 answers are offered for readproperty and invokeaction only";
}

/* The device's 2xx answer as a COSE_Sign1; a 500 when it cannot be signed. */
static struct MHD_Response *cose_response(struct https_req *rq, const struct proxy_result *res)
{
    uint8_t *msg = NULL;
    size_t len = 0;
    int r = cose_signer_sign1(rq->cose, res->content_type, res->body, res->body_len, &msg, &len);
    if (r < 0) {
        log_msg(LOG_ERR, "thing %s: cannot sign the answer as COSE_Sign1 (kid %s): %s",
                rq->in.thing, rq->cose->kid_hex, strerror(-r));
        struct proxy_result err = {.status = 500, .detail = "the answer could not be signed"};
        rq->resp_status = 500;
        return make_response(rq->h, &err, rq->route.kind);
    }
    struct MHD_Response *m = MHD_create_response_from_buffer(len, msg, MHD_RESPMEM_MUST_FREE);
    if (!m) {
        free(msg);
        return NULL;
    }
    if (add_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, COSE_SIGN1_MEDIA) != MHD_YES ||
        add_header(m, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT) != MHD_YES ||
        !common_headers(rq->h, m)) {
        MHD_destroy_response(m);
        return NULL;
    }
    return m;
}

/* ---- OSCORE over HTTP (RFC 8613 §11, north/http_oscore.h) ---------------------------------- */

/* The HTTP answer for an outer CoAP answer m: 200 with the OSCORE header
 * and application/oscore for a protected one, else its RFC 8075 status
 * with the diagnostic as text. Sets rq->resp_status. */
static struct MHD_Response *osc_http(struct https_req *rq, const struct oscore_msg *m)
{
    const struct oscore_option *o = http_oscore_find(m);
    rq->resp_status = (unsigned)http_oscore_status(m);
    struct MHD_Response *r = MHD_create_response_from_buffer(m->payload_len, (void *)m->payload,
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r)
        return NULL;
    bool ok = true;
    if (o) {
        char hv[HTTP_OSCORE_HDR_MAX];
        http_oscore_header_encode(o->value, o->len, hv);
        ok = add_header(r, HTTP_OSCORE_HEADER, hv) == MHD_YES &&
             add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, HTTP_OSCORE_MEDIA) == MHD_YES;
    } else if (m->payload_len) {
        ok = add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8") == MHD_YES;
    }
    if (!ok || !common_headers(rq->h, r)) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

/* An unprotected OSCORE error (§8.2): code and diagnostic. */
static struct MHD_Response *osc_error(struct https_req *rq, uint8_t code, const char *diagnostic)
{
    struct oscore_msg m = {.code = code};
    if (diagnostic) {
        m.payload = (const uint8_t *)diagnostic;
        m.payload_len = strlen(diagnostic);
    }
    return osc_http(rq, &m);
}

/* The answer to a request verified with the gateway's contexts: the
 * result as the inner CoAP answer (RFC 8075 code, Content-Format and
 * body; a gateway error's detail as its diagnostic payload), protected
 * with the request's context. */
static struct MHD_Response *osc_protect(struct https_req *rq, const struct proxy_result *res)
{
    static const char too_large[] = "the answer is too large for one OSCORE message";
    struct oscore_msg plain = {.code = coap_code_from_http(res->status, rq->osc_get)};
    uint8_t fmt[2];
    if (res->body || res->from_device) {
        plain.payload = res->body;
        plain.payload_len = res->body_len;
        int f = res->content_type ? coap_format_from_type(res->content_type) : COAP_FORMAT_NONE;
        if (f != COAP_FORMAT_NONE) {
            size_t fl = 0;
            if (f > 255)
                fmt[fl++] = (uint8_t)(f >> 8);
            if (f > 0)
                fmt[fl++] = (uint8_t)f;
            plain.opts[plain.n_opts++] =
                    (struct oscore_option){.number = 12, .len = (uint16_t)fl, .value = fmt};
        }
    } else if (res->detail) {
        plain.payload = (const uint8_t *)res->detail;
        plain.payload_len = strlen(res->detail);
    }
    if (plain.payload_len > OSCORE_MAX_PLAINTEXT - 64)
        plain = (struct oscore_msg){.code = 0xa0, /* 5.00 */
                                    .payload = (const uint8_t *)too_large,
                                    .payload_len = sizeof(too_large) - 1};
    size_t cap = 1 + 8 + plain.payload_len + OSCORE_OVERHEAD + 64;
    uint8_t *buf = malloc(cap);
    struct oscore_msg out;
    struct MHD_Response *r;
    if (!buf || oscore_server_protect_response(rq->osrv->s, &rq->osc_res, false, &plain, &out, buf,
                                               cap) < 0)
        r = osc_error(rq, OSCORE_CODE_INTERNAL, NULL);
    else
        r = osc_http(rq, &out);
    free(buf);
    return r;
}

/* The answer to an OSCORE request, from the proxy's result: protected
 * for the gateway's contexts; for a device's own, its outer answer as it
 * came, or the gateway's refusal (401 with challenges, 404, 502, ...). */
static struct MHD_Response *osc_result(struct https_req *rq, const struct proxy_result *res)
{
    if (rq->osc == HTTP_OSCORE_GATEWAY)
        return osc_protect(rq, res);
    if (res->from_device && res->oscore) {
        struct oscore_msg m = {.code = res->oscore->code,
                               .payload = res->oscore->payload,
                               .payload_len = res->oscore->payload_len};
        if (res->oscore->has_option)
            m.opts[m.n_opts++] = (struct oscore_option){.number = OSCORE_OPT_OSCORE,
                                                        .len = (uint16_t)res->oscore->option_len,
                                                        .value = res->oscore->option};
        return osc_http(rq, &m);
    }
    rq->resp_status = (unsigned)res->status;
    return make_response(rq->h, res, rq->route.kind);
}

/* ---- proxy callbacks ---------------------------------------------------------------------- */

static void on_proxy_done(void *ud, const struct proxy_result *res)
{
    struct https_req *rq = ud;
    rq->call = NULL;
    if (rq->stream) {
        rq->stream_done = true;
        req_resume(rq);
        return;
    }
    rq->resp_status = (unsigned)res->status;
    if (rq->osc) {
        rq->resp = osc_result(rq, res);
        req_resume(rq);
        return;
    }
    /* 204/205 carry no body: nothing to sign */
    if (rq->cose && res->from_device && res->status >= 200 && res->status < 300 &&
        res->status != 204 && res->status != 205)
        rq->resp = cose_response(rq, res);
    else
        rq->resp = make_response(rq->h, res, rq->route.kind);
    req_resume(rq);
}

static int on_proxy_event(void *ud, const char *event, const uint8_t *data, size_t len,
                          const char *content_type)
{
    struct https_req *rq = ud;
    if (rq->client_gone)
        return -EPIPE;
    size_t need = http_sse_encoded_max(len, event);
    if (rq->soff) {
        memmove(rq->sbuf, rq->sbuf + rq->soff, rq->slen - rq->soff);
        rq->slen -= rq->soff;
        rq->soff = 0;
    }
    if (rq->slen + need > HTTPS_STREAM_BUF_MAX)
        return -ENOBUFS; /* the consumer does not keep up: end its stream */
    if (rq->slen + need > rq->scap) {
        size_t nc = rq->scap ? rq->scap : 4096;
        while (nc < rq->slen + need)
            nc *= 2;
        char *nb = realloc(rq->sbuf, nc);
        if (!nb)
            return -ENOMEM;
        rq->sbuf = nb;
        rq->scap = nc;
    }
    rq->slen += http_sse_encode(data, len, event, rq->sbuf + rq->slen, rq->scap - rq->slen);
    req_resume(rq);
    return 0;
}

static const struct proxy_ops https_proxy_ops = {
        .done = on_proxy_done,
        .event = on_proxy_event,
};

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct https_req *rq = cls;
    if (rq->client_gone)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (rq->soff < rq->slen) {
        size_t n = rq->slen - rq->soff;
        if (n > max)
            n = max;
        memcpy(buf, rq->sbuf + rq->soff, n);
        rq->soff += n;
        return (ssize_t)n;
    }
    if (rq->stream_done)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* nothing to send: wait for the next event */
    rq->suspended = true;
    MHD_suspend_connection(rq->conn);
    return 0;
}

static void stream_reader_free(void *cls)
{
    req_unref(cls);
}

/* The consumer closed its end of a stream: MHD would only notice on the
 * next write. */
static int on_rdhup(sd_event_source *s, int fd, uint32_t revents, void *ud)
{
    struct https_req *rq = ud;
    sd_event_source_set_enabled(s, SD_EVENT_OFF);
    rq->client_gone = true;
    req_resume(rq);
    return 0;
}

static enum MHD_Result start_stream(struct https_req *rq)
{
    static const char hello[] = ": stream open\n\n";
    struct MHD_Response *r = MHD_create_response_from_callback(
            MHD_SIZE_UNKNOWN, HTTPS_STREAM_BLOCK, stream_reader, rq, stream_reader_free);
    if (!r)
        return MHD_NO;
    rq->refs++; /* the response's; dropped by stream_reader_free */
    rq->stream = true;
    rq->sbuf = malloc(4096);
    if (rq->sbuf) {
        rq->scap = 4096;
        memcpy(rq->sbuf, hello, sizeof(hello) - 1);
        rq->slen = sizeof(hello) - 1;
    }
    if (add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream") != MHD_YES ||
        !common_headers(rq->h, r)) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        (void)sd_event_add_io(rq->h->gw->ev, &rq->rdhup, ci->connect_fd, EPOLLRDHUP, on_rdhup, rq);
    return queue(rq, MHD_HTTP_OK, r);
}

/* ---- the access handler --------------------------------------------------------------- */

struct hdr_scan {
    const char *apikey_name;
    size_t total;
    const char *authorization, *apikey, *content_type, *content_length, *transfer_encoding;
    const char *cookie;
    const char *oscore;
    bool expect_continue;
    unsigned n_authorization, n_apikey, n_content_type, n_oscore;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct hdr_scan *s = cls;
    if (!key)
        return MHD_YES;
    s->total += strlen(key) + (value ? strlen(value) : 0) + 4;
    if (!value)
        return MHD_YES;
    if (!strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION)) {
        s->authorization = value;
        s->n_authorization++;
    } else if (!strcasecmp(key, s->apikey_name)) {
        s->apikey = value;
        s->n_apikey++;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE)) {
        s->content_type = value;
        s->n_content_type++;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        s->content_length = value;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        s->transfer_encoding = value;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_COOKIE)) {
        s->cookie = value;
    } else if (!strcasecmp(key, HTTP_OSCORE_HEADER)) {
        s->oscore = value;
        s->n_oscore++;
    } else if (!strcasecmp(key, MHD_HTTP_HEADER_EXPECT)) {
        s->expect_continue = !strcasecmp(value, "100-continue");
    }
    return MHD_YES;
}

/* The client certificate of a connection, verified once against the
 * generation's client CA (GnuTLS only requested it). */
static void conn_check_cert(struct https_conn *cx, struct MHD_Connection *conn)
{
    cx->cert_checked = true;
    const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return;
    gnutls_session_t s = (gnutls_session_t)ci->tls_session;
    unsigned n = 0;
    const gnutls_datum_t *pc = gnutls_certificate_get_peers(s, &n);
    if (!pc || !n)
        return;
    unsigned status = 0;
    gnutls_typed_vdata_st vd = {
            .type = GNUTLS_DT_KEY_PURPOSE_OID,
            .data = (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT,
    };
    int rc = gnutls_certificate_verify_peers(s, &vd, 1, &status);
    if (rc != 0 || status != 0) {
        log_msg(LOG_NOTICE, "https: %s: client certificate not verified against client_ca",
                cx->peer);
        return;
    }
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0)
        return;
    char cn[HTTPS_CN_MAX];
    size_t cnl = sizeof(cn);
    if (gnutls_x509_crt_import(crt, &pc[0], GNUTLS_X509_FMT_DER) == 0 &&
        gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cnl) == 0 &&
        cnl > 0 && memchr(cn, '\0', sizeof(cn))) {
        unsigned char dg[32];
        size_t dl = sizeof(dg);
        gnutls_datum_t der = pc[0];
        if (gnutls_fingerprint(GNUTLS_DIG_SHA256, &der, dg, &dl) == 0 && dl == 32) {
            hex_encode(dg, 32, cx->cert_sha256);
            memcpy(cx->cert_cn, cn, sizeof(cn));
            cx->cert_ok = true;
        }
    }
    gnutls_x509_crt_deinit(crt);
}

/* ---- the authorization server ([oauth]) ------------------------------------------------- */

struct qbuild {
    char *s;
    size_t len, cap;
    bool fail;
};

/* MHD keeps query arguments undecoded (no_unescape): joining them again
 * gives the query as sent, which the server decodes itself. */
static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct qbuild *q = cls;
    size_t need = q->len + 1 + strlen(key) + (value ? 1 + strlen(value) : 0) + 1;
    if (need > AS_MAX_BODY) { /* a query as large as a body is refused */
        q->fail = true;
        return MHD_NO;
    }
    if (need > q->cap) {
        size_t nc = need * 2;
        char *ns = realloc(q->s, nc);
        if (!ns) {
            q->fail = true;
            return MHD_NO;
        }
        q->s = ns;
        q->cap = nc;
    }
    q->len += (size_t)sprintf(q->s + q->len, "%s%s%s%s", q->len ? "&" : "", key, value ? "=" : "",
                              value ? value : "");
    return MHD_YES;
}

static void as_req_free(struct https_req *rq)
{
    free(rq->as_method);
    free(rq->as_path);
    free(rq->as_query);
    free(rq->as_ctype);
    if (rq->as_auth) {
        OPENSSL_cleanse(rq->as_auth, strlen(rq->as_auth));
        free(rq->as_auth);
    }
    if (rq->as_cookie) {
        OPENSSL_cleanse(rq->as_cookie, strlen(rq->as_cookie));
        free(rq->as_cookie);
    }
    rq->as_method = rq->as_path = rq->as_query = rq->as_ctype = rq->as_auth = rq->as_cookie = NULL;
}

static char *dup_or_null(const char *s, bool *fail)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *fail = true;
    return d;
}

/* The headers and query of a request for the server, kept for its final
 * call (MHD's strings live as long as the request, but copies keep this
 * independent of that). */
static enum MHD_Result as_first_call(struct https_req *rq, const char *url, const char *method,
                                     const struct hdr_scan *hs, uint64_t clen)
{
    bool fail = false;
    rq->as_req = true;
    rq->body_max = AS_MAX_BODY;
    if (clen > AS_MAX_BODY)
        return queue_error(rq, MHD_HTTP_CONTENT_TOO_LARGE,
                           "the request body is larger than the limit", 0);
    struct qbuild q = {0};
    MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, query_arg, &q);
    if (q.fail) {
        free(q.s);
        return queue_error(rq, MHD_HTTP_URI_TOO_LONG, "the query is too long", 0);
    }
    rq->as_query = q.s; /* NULL: no query */
    rq->as_method = dup_or_null(method, &fail);
    rq->as_path = dup_or_null(url, &fail);
    rq->as_ctype = dup_or_null(hs->content_type, &fail);
    rq->as_auth = hs->n_authorization == 1 ? dup_or_null(hs->authorization, &fail) : NULL;
    rq->as_cookie = dup_or_null(hs->cookie, &fail);
    if (fail)
        return MHD_NO;
    if (rq->h->draining || rq->h->gw->stopping)
        return queue_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "the gateway is shutting down", 0);
    if (clen && !rq->too_large) {
        rq->body = malloc((size_t)clen);
        if (!rq->body)
            return MHD_NO;
        rq->body_cap = (size_t)clen;
    }
    return MHD_YES;
}

static enum MHD_Result as_dispatch(struct https_req *rq)
{
    struct https *h = rq->h;
    rq->dispatched = true;
    struct as_request ar = {
            .method = rq->as_method,
            .path = rq->as_path,
            .query = rq->as_query,
            .content_type = rq->as_ctype,
            .body = rq->body,
            .body_len = rq->body_len,
            .authorization = rq->as_auth,
            .cookie = rq->as_cookie,
            .peer = rq->cx->peer,
            .now = (int64_t)time(NULL),
    };
    struct as_response rs = {0};
    if (!h->as || as_handle(h->as, &ar, &rs) < 0)
        return queue_error(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", 0);
    struct MHD_Response *r = MHD_create_response_from_buffer(
            rs.body_len, rs.body ? rs.body : (void *)"", MHD_RESPMEM_MUST_COPY);
    bool ok = r && common_headers(h, r);
    for (size_t i = 0; ok && as_security_headers[i].name; i++)
        if (strcasecmp(as_security_headers[i].name, "Cache-Control") &&
            strcasecmp(as_security_headers[i].name, "X-Content-Type-Options"))
            ok = add_header(r, as_security_headers[i].name, as_security_headers[i].value) ==
                 MHD_YES;
    if (ok && rs.content_type)
        ok = add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs.content_type) == MHD_YES;
    if (ok && rs.location)
        ok = add_header(r, MHD_HTTP_HEADER_LOCATION, rs.location) == MHD_YES;
    if (ok && rs.set_cookie)
        ok = add_header(r, MHD_HTTP_HEADER_SET_COOKIE, rs.set_cookie) == MHD_YES;
    if (ok && rs.www_authenticate)
        ok = add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, rs.www_authenticate) == MHD_YES;
    unsigned status = (unsigned)rs.status;
    as_response_free(&rs);
    if (!ok) {
        if (r)
            MHD_destroy_response(r);
        return MHD_NO;
    }
    log_msg(LOG_INFO, "oauth: %s %s from %s: %u", ar.method, ar.path, ar.peer, status);
    return queue(rq, status, r);
}

/* The listing is application/td+json; a client that asks for
 * application/ld+json (the WoT Discovery listing type) and not td+json
 * gets the same array under that type. */
static bool listing_wants_ld(struct MHD_Connection *conn)
{
    const char *a = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    return a && strcasestr(a, "application/ld+json") && !strcasestr(a, "application/td+json");
}

/* Queues an OSCORE answer made by osc_http() (which set its status). */
static enum MHD_Result osc_queue(struct https_req *rq, struct MHD_Response *m)
{
    return queue(rq, rq->resp_status, m);
}

/* An OSCORE request's own refusal of the inner request (bad route,
 * method, payload): logged like queue_error(), answered protected. */
static enum MHD_Result osc_local(struct https_req *rq, int status, const char *detail)
{
    struct log_interaction li = {
            .thing = rq->route.thing,
            .affordance = rq->route.aff,
            .protocol = "https",
            .peer = rq->cx->peer,
            .principal = rq->osc_name,
            .decision = "deny",
            .reason = detail,
            .status = status,
    };
    log_interaction(LOG_NOTICE, &li);
    rq->h->gw->counters.requests++;
    struct proxy_result res = {.status = status, .detail = detail};
    struct MHD_Response *r = osc_result(rq, &res);
    return osc_queue(rq, r);
}

/* The final call of an OSCORE request (RFC 8613 §11): passed through to
 * a device that speaks OSCORE, or verified with the gateway's contexts,
 * the inner request routed like a CoAP request to the gateway (the
 * context's name its credential, with what the HTTP request carries),
 * the answer protected. */
static enum MHD_Result osc_dispatch(struct https_req *rq)
{
    struct https *h = rq->h;
    struct proxy_result res;
    char *body = NULL;
    int r;
    if (rq->osc == HTTP_OSCORE_DEVICE) { /* RFC 8613 §11.5: only the outer message is mapped */
        struct proxy_oscore_msg m = {.code = 0x02, /* POST */
                                     .has_option = true,
                                     .option = rq->osc_opt,
                                     .option_len = rq->osc_opt_len,
                                     .payload = rq->body,
                                     .payload_len = rq->body_len};
        rq->in.op = WOT_OP__INVALID;
        r = proxy_oscore_forward(h->gw->proxy, &rq->in, &m, &https_proxy_ops, rq, &rq->call, &res);
        if (r < 0)
            return MHD_NO;
        if (r == PROXY_DONE) /* the gateway's own refusal */
            return queue_result(rq, &res);
        rq->suspended = true;
        MHD_suspend_connection(rq->conn);
        return MHD_YES;
    }
    struct oscore_gw *og = h->gw->oscore;
    if (!og)
        return osc_queue(rq, osc_error(rq, OSCORE_CODE_BAD_OPTION, "OSCORE is not enabled here"));
    struct oscore_msg outer;
    http_oscore_outer_request(rq->osc_opt, rq->osc_opt_len, rq->body, rq->body_len, &outer);
    rq->osc_plain_cap = rq->body_len + 16;
    rq->osc_plain = malloc(rq->osc_plain_cap);
    if (!rq->osc_plain)
        return MHD_NO;
    struct oscore_srv_result sr;
    switch (oscore_server_unprotect(og->s, &outer, rq->osc_plain, rq->osc_plain_cap, &sr)) {
    case OSCORE_SRV_ERROR: {
        struct MHD_Response *m = osc_error(rq, sr.code, sr.diagnostic);
        return osc_queue(rq, m);
    }
    case OSCORE_SRV_CHALLENGE: {
        uint8_t cbuf[256];
        struct oscore_msg cm;
        struct MHD_Response *m = oscore_server_challenge(og->s, &sr, &cm, cbuf, sizeof(cbuf)) < 0
                                         ? osc_error(rq, OSCORE_CODE_INTERNAL, NULL)
                                         : osc_http(rq, &cm);
        return osc_queue(rq, m);
    }
    case OSCORE_SRV_OK: break;
    }
    rq->osrv = oscore_gw_ref(og);
    rq->osc_res = sr; /* its inner request points into rq->osc_plain */
    snprintf(rq->osc_name, sizeof(rq->osc_name), "%s", sr.name ? sr.name : "");
    rq->in.cred.oscore_context = rq->osc_name;
    rq->osc_get = sr.inner.code == 0x01;
    const char *method = coap_method_name(sr.inner.code);
    const char *why = NULL;
    int fmt = COAP_FORMAT_NONE;
    int st = http_oscore_inner_route(&sr.inner, &rq->osc_pathbuf, &rq->route, &fmt, &why);
    if (st)
        return osc_local(rq, st, why);
    rq->in.thing = rq->route.thing;
    rq->in.affordance = rq->route.aff;
    rq->in.content_type = fmt != COAP_FORMAT_NONE ? coap_format_to_type(fmt) : NULL;
    rq->in.payload = sr.inner.payload;
    rq->in.payload_len = sr.inner.payload_len;
    if (rq->in.payload_len && (rq->osc_get || rq->route.kind <= HTTP_ROUTE_TD))
        return osc_local(rq, 400, "this request takes no payload");
    if (rq->route.kind == HTTP_ROUTE_WELLKNOWN || rq->route.kind == HTTP_ROUTE_THINGS ||
        rq->route.kind == HTTP_ROUTE_TD) {
        if (!rq->osc_get)
            return osc_local(rq, 405, "only GET is allowed here");
        rq->in.op = WOT_OP__INVALID;
        r = rq->route.kind == HTTP_ROUTE_WELLKNOWN
                    ? proxy_directory_td(h->gw->proxy, &rq->in, &res, &body)
            : rq->route.kind == HTTP_ROUTE_THINGS
                    ? proxy_list_tds(h->gw->proxy, &rq->in, &res, &body)
                    : proxy_get_td(h->gw->proxy, &rq->in, &res, &body);
        if (r < 0)
            return MHD_NO;
        struct MHD_Response *m = osc_result(rq, &res);
        free(body);
        return osc_queue(rq, m);
    }
    rq->in.op = method ? http_route_op(rq->route.kind, method) : WOT_OP__INVALID;
    if (rq->in.op == WOT_OP_OBSERVEPROPERTY || rq->in.op == WOT_OP_SUBSCRIBEEVENT)
        return osc_local(rq, 400,
                         "observeproperty and subscribeevent are not offered over OSCORE on "
                         "HTTP: use CoAP(S) or Server-Sent Events");
    if (rq->in.op == WOT_OP__INVALID) {
        static const enum wot_aff_kind kinds[] = {
                [HTTP_ROUTE_READALL] = AFF_THING,    [HTTP_ROUTE_PROPERTY] = AFF_PROPERTY,
                [HTTP_ROUTE_OBSERVE] = AFF_PROPERTY, [HTTP_ROUTE_ACTION] = AFF_ACTION,
                [HTTP_ROUTE_EVENT] = AFF_EVENT,
        };
        proxy_not_allowed(h->gw->proxy, &rq->in, kinds[rq->route.kind], &res);
        return osc_queue(rq, osc_result(rq, &res));
    }
    r = proxy_start(h->gw->proxy, &rq->in, &https_proxy_ops, rq, &rq->call, &res);
    if (r < 0)
        return MHD_NO;
    if (r == PROXY_DONE)
        return osc_queue(rq, osc_result(rq, &res));
    rq->suspended = true;
    MHD_suspend_connection(rq->conn);
    return MHD_YES;
}

/* The external issuer step is over: decide (see on_request). */
static void on_extiss_ready(void *ud, int status)
{
    struct https_req *rq = ud;
    rq->prep = NULL;
    rq->prep_status = status;
    rq->prep_ready = true;
    req_resume(rq);
}

static enum MHD_Result dispatch(struct https_req *rq)
{
    struct https *h = rq->h;
    struct proxy_result res;
    char *body = NULL;
    int r;
    rq->dispatched = true;
    /* A bearer token of a jwks_uri issuer with an unknown kid, or one to be
     * introspected: wait for the fetch / introspection, then decide. */
    if (!rq->prepped && rq->in.cred.bearer && !rq->in.cred.malformed && h->gw->extiss) {
        rq->prepped = true;
        r = extiss_prepare(h->gw->extiss, rq->in.cred.bearer, rq->in.cred.bearer_len,
                           (size_t)h->gw->state->conf->limits.max_token_size, on_extiss_ready, rq,
                           &rq->prep);
        if (r == 1) {
            rq->suspended = true;
            MHD_suspend_connection(rq->conn);
            return MHD_YES;
        }
        if (r == -EAGAIN)
            return queue_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "the token's issuer cannot be asked about it now", 0);
    }
    if (rq->osc)
        return osc_dispatch(rq);
    rq->in.payload = rq->body;
    rq->in.payload_len = rq->body_len;
    switch (rq->route.kind) {
    case HTTP_ROUTE_WELLKNOWN: r = proxy_directory_td(h->gw->proxy, &rq->in, &res, &body); break;
    case HTTP_ROUTE_THINGS:
        r = proxy_list_tds(h->gw->proxy, &rq->in, &res, &body);
        if (r == 0 && res.status == 200 && listing_wants_ld(rq->conn))
            res.content_type = "application/ld+json";
        break;
    case HTTP_ROUTE_TD: r = proxy_get_td(h->gw->proxy, &rq->in, &res, &body); break;
    default: {
        const char *no_cose = cose_negotiate(rq);
        if (no_cose)
            return queue_error(rq, MHD_HTTP_NOT_ACCEPTABLE, no_cose, 0);
        r = proxy_start(h->gw->proxy, &rq->in, &https_proxy_ops, rq, &rq->call, &res);
        if (r == 0) {
            if (rq->in.op == WOT_OP_OBSERVEPROPERTY || rq->in.op == WOT_OP_SUBSCRIBEEVENT)
                return start_stream(rq);
            rq->suspended = true;
            MHD_suspend_connection(rq->conn);
            return MHD_YES;
        }
        break;
    }
    }
    if (r < 0)
        return MHD_NO;
    enum MHD_Result ret = queue_result(rq, &res);
    free(body);
    return ret;
}

static bool method_is(const char *m, const char *want)
{
    return !strcmp(m, want);
}

/* The request's credentials (Authorization, the API key header, the TLS
 * client certificate) into rq->in.cred. false when out of memory. */
static bool req_credentials(struct https_req *rq, const struct hdr_scan *hs)
{
    struct https *h = rq->h;
    struct credentials *cred = &rq->in.cred;
    if (hs->n_authorization > 1) {
        cred->malformed = "more than one Authorization header";
    } else if (hs->authorization) {
        if (!strncasecmp(hs->authorization, "Basic", 5)) {
            rq->basic = malloc(HTTP_BASIC_MAX);
            if (!rq->basic)
                return false;
        }
        http_parse_authorization(hs->authorization, cred, rq->basic);
        const char *a = hs->authorization + strspn(hs->authorization, " \t");
        rq->bearer_scheme = !strncasecmp(a, "Bearer", 6) && (!a[6] || a[6] == ' ' || a[6] == '\t');
    }
    if (!cred->malformed && cred->bearer && h->as &&
        as_token_revoked(h->as, cred->bearer, cred->bearer_len))
        cred->malformed = "the access token was revoked";
    if (!cred->malformed) {
        if (hs->n_apikey > 1)
            cred->malformed = "more than one API key header";
        else
            http_parse_apikey(hs->apikey, cred);
    }
    struct https_conn *cx = rq->cx;
    if (!cx->cert_checked)
        conn_check_cert(cx, rq->conn);
    if (cx->cert_ok) {
        cred->cert_cn = cx->cert_cn;
        cred->cert_sha256 = cx->cert_sha256;
    }
    return true;
}

/* A refusal of an OSCORE request before its body was read. */
static enum MHD_Result osc_refuse(struct https_req *rq, int status, const char *detail)
{
    if (status != MHD_HTTP_METHOD_NOT_ALLOWED)
        return queue_error(rq, status, detail, 0);
    struct log_interaction li = {.protocol = "https",
                                 .peer = rq->cx->peer,
                                 .decision = "deny",
                                 .reason = detail,
                                 .status = status};
    log_interaction(LOG_NOTICE, &li);
    rq->h->gw->counters.requests++;
    size_t len = 0;
    char *body = http_problem_json(status, detail, &len);
    struct MHD_Response *r =
            body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!r) {
        free(body);
        return MHD_NO;
    }
    if (add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json") != MHD_YES ||
        add_header(r, MHD_HTTP_HEADER_ALLOW, "POST") != MHD_YES || !common_headers(rq->h, r)) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    return answer(rq, (unsigned)status, r);
}

/* Whether a Content-Type is application/oscore (parameters ignored). */
static bool is_oscore_media(const char *ct)
{
    size_t n = strlen(HTTP_OSCORE_MEDIA);
    if (!ct || strncasecmp(ct, HTTP_OSCORE_MEDIA, n))
        return false;
    ct += n;
    ct += strspn(ct, " \t");
    return !*ct || *ct == ';';
}

/* First call of a request with an OSCORE header (RFC 8613 §11.1): its
 * target, method, content type and header checked; the body is read. */
static enum MHD_Result osc_first_call(struct https_req *rq, const char *url, const char *method,
                                      const struct hdr_scan *hs)
{
    struct https *h = rq->h;
    size_t ul = strlen(url);
    if (ul < sizeof(rq->pathbuf_small))
        rq->pathbuf = rq->pathbuf_small;
    else if (!(rq->pathbuf = malloc(ul + 1)))
        return MHD_NO;
    const char *thing = NULL;
    rq->osc = http_oscore_target(url, rq->pathbuf, ul + 1, &thing);
    if (rq->osc == HTTP_OSCORE_NONE)
        return osc_refuse(rq, MHD_HTTP_NOT_FOUND,
                          "an OSCORE request goes to / (the gateway's OSCORE contexts) or to "
                          "/things/ID/oscore (a device that speaks OSCORE itself)");
    if (!method_is(method, "POST"))
        return osc_refuse(rq, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "an OSCORE request is a POST (RFC 8613 section 11.1)");
    if (hs->n_oscore > 1)
        return osc_refuse(rq, MHD_HTTP_BAD_REQUEST, "more than one OSCORE header");
    if (http_oscore_header_decode(hs->oscore, rq->osc_opt, &rq->osc_opt_len) < 0)
        return osc_refuse(rq, MHD_HTTP_BAD_REQUEST,
                          "malformed OSCORE header (RFC 8613 section 11.1: the option value in "
                          "base64url without padding)");
    if (hs->n_content_type != 1 || !is_oscore_media(hs->content_type))
        return osc_refuse(rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                          "an OSCORE request has Content-Type application/oscore");
    if (!rq->has_body)
        return osc_refuse(rq, MHD_HTTP_BAD_REQUEST,
                          "an OSCORE request carries the protected message as its body");
    if (!req_credentials(rq, hs))
        return MHD_NO;
    rq->in.thing = thing;
    rq->in.protocol = PROTO_HTTP;
    rq->in.peer = rq->cx->peer;
    if (h->draining || h->gw->stopping)
        return osc_refuse(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "the gateway is shutting down");
    return MHD_YES; /* the body is read into rq->body */
}

/* First call for a request: everything that can be decided from the
 * request line and headers. Returns MHD_YES with nothing queued when the
 * body (if any) is to be read. */
static enum MHD_Result first_call(struct https_req *rq, const char *url, const char *method)
{
    struct https *h = rq->h;
    const struct config *conf = h->gw->state->conf;
    const struct limits *lim = &conf->limits;
    struct MHD_Connection *conn = rq->conn;

    struct hdr_scan hs = {
            .apikey_name =
                    conf->credentials.apikey_header ? conf->credentials.apikey_header : "X-API-Key",
    };
    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &hs);
    uint64_t clen = 0;
    bool bad_clen =
            hs.content_length && util_parse_uint(hs.content_length, 0, UINT64_MAX, &clen) < 0;
    rq->has_body = hs.transfer_encoding != NULL || clen > 0 || bad_clen;
    if (bad_clen)
        return queue_error(rq, MHD_HTTP_BAD_REQUEST, "malformed Content-Length", 0);
    /* An answer decided now, before the body: a client that waits for
     * 100-continue gets it at once; one that sends its body anyway has it
     * read and dropped first (up to HTTPS_DISCARD_FACTOR times the limit),
     * so that it reads the answer instead of a reset. */
    rq->body_max = lim->max_body_size;
    rq->may_discard = rq->has_body && !hs.expect_continue &&
                      clen <= lim->max_body_size * HTTPS_DISCARD_FACTOR;
    if (clen > lim->max_body_size)
        return queue_error(rq, MHD_HTTP_CONTENT_TOO_LARGE,
                           "the request body is larger than the limit", 0);
    if (hs.total + strlen(url) + strlen(method) > lim->max_header_size)
        return queue_error(rq, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                           "the request headers are larger than the limit", 0);

    size_t ul = strlen(url);
    if (ul > HTTP_PATH_MAX)
        return queue_error(rq, MHD_HTTP_URI_TOO_LONG, "the request path is too long", 0);
    if (hs.n_oscore)
        return osc_first_call(rq, url, method, &hs);
    if (h->as && as_handles_path(url))
        return as_first_call(rq, url, method, &hs, clen);
    if (ul < sizeof(rq->pathbuf_small)) {
        rq->pathbuf = rq->pathbuf_small;
    } else if (!(rq->pathbuf = malloc(ul + 1))) {
        return MHD_NO;
    }
    int r = http_route_parse(url, rq->pathbuf, ul + 1, &rq->route);
    if (r < 0)
        return queue_error(rq, MHD_HTTP_BAD_REQUEST,
                           "malformed request path (bad percent-encoding, a '.' or '..' segment, "
                           "or a character not allowed in a path)",
                           0);
    if (rq->route.kind == HTTP_ROUTE_NONE)
        return queue_error(rq, MHD_HTTP_NOT_FOUND, "no such resource", 0);

    if (!req_credentials(rq, &hs))
        return MHD_NO;
    rq->in.thing = rq->route.thing;
    rq->in.affordance = rq->route.aff;
    rq->in.protocol = PROTO_HTTP;
    rq->in.peer = rq->cx->peer;

    if (h->draining || h->gw->stopping)
        return queue_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "the gateway is shutting down", 0);

    bool dir = rq->route.kind == HTTP_ROUTE_WELLKNOWN || rq->route.kind == HTTP_ROUTE_THINGS ||
               rq->route.kind == HTTP_ROUTE_TD;
    if (dir) {
        if (!method_is(method, "GET") && !method_is(method, "HEAD"))
            return queue_error(rq, MHD_HTTP_METHOD_NOT_ALLOWED,
                               "only GET and HEAD are allowed here", 0);
        rq->in.op = WOT_OP__INVALID;
    } else {
        rq->in.op = http_route_op(rq->route.kind, method);
        if (rq->in.op == WOT_OP__INVALID) {
            /* a method the route does not have: 405 with what the exposed
             * TD offers there (the proxy hides unknown things) */
            static const enum wot_aff_kind kinds[] = {
                    [HTTP_ROUTE_READALL] = AFF_THING,    [HTTP_ROUTE_PROPERTY] = AFF_PROPERTY,
                    [HTTP_ROUTE_OBSERVE] = AFF_PROPERTY, [HTTP_ROUTE_ACTION] = AFF_ACTION,
                    [HTTP_ROUTE_EVENT] = AFF_EVENT,
            };
            struct proxy_result res;
            proxy_not_allowed(h->gw->proxy, &rq->in, kinds[rq->route.kind], &res);
            return queue_result(rq, &res);
        }
    }

    /* body */
    if (hs.n_content_type > 1 || (hs.content_type && !http_content_type_ok(hs.content_type)))
        return queue_error(rq, MHD_HTTP_BAD_REQUEST, "malformed Content-Type", 0);
    rq->in.content_type = hs.content_type;
    if (rq->has_body && (dir || method_is(method, "GET")))
        return queue_error(rq, MHD_HTTP_BAD_REQUEST, "this request takes no body", 0);
    if (clen && !rq->too_large) {
        rq->body = malloc((size_t)clen);
        if (!rq->body)
            return MHD_NO;
        rq->body_cap = (size_t)clen;
    }
    /* no body: dispatched by the final call (see answer()) */
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct https_daemon *d = cls;
    struct https *h = d->gen->h;
    struct https_req *rq = *con_cls;
    if (!rq) {
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct https_conn *cx = ci ? ci->socket_context : NULL;
        if (!cx)
            return MHD_NO;
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        rq->h = h;
        rq->cx = cx;
        rq->conn = conn;
        rq->refs = 1;
        rq->next = h->reqs;
        if (h->reqs)
            h->reqs->prev = rq;
        h->reqs = rq;
        h->n_reqs++;
        *con_cls = rq;
        rq->in_first_call = true;
        enum MHD_Result ret = first_call(rq, url, method);
        rq->in_first_call = false;
        return ret;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->queued || rq->dispatched)
            return MHD_YES; /* an answer is on its way: the rest is dropped */
        if (rq->resp || rq->too_large || rq->body_len + n > rq->body_max) {
            rq->too_large = true;
            rq->discarded += n;
            if (rq->discarded > rq->body_max * HTTPS_DISCARD_FACTOR)
                return MHD_NO; /* far too much: close the connection */
            return MHD_YES;
        }
        if (rq->body_len + n > rq->body_cap) {
            size_t nc = rq->body_cap ? rq->body_cap : 4096;
            while (nc < rq->body_len + n)
                nc *= 2;
            if (nc > rq->body_max)
                nc = (size_t)rq->body_max;
            uint8_t *nb = realloc(rq->body, nc);
            if (!nb)
                return MHD_NO;
            rq->body = nb;
            rq->body_cap = nc;
        }
        memcpy(rq->body + rq->body_len, upload_data, n);
        rq->body_len += n;
        return MHD_YES;
    }
    if (rq->prep_ready) { /* resumed after the external issuer step */
        rq->prep_ready = false;
        if (rq->prep_status == -EAGAIN)
            return queue_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "the token's issuer cannot be asked about it now", 0);
        return dispatch(rq);
    }
    if (rq->resp) { /* resumed with the device's answer */
        struct MHD_Response *r = rq->resp;
        rq->resp = NULL;
        return queue(rq, rq->resp_status, r);
    }
    if (rq->queued || rq->dispatched)
        return MHD_YES;
    if (rq->too_large)
        return queue_error(rq, MHD_HTTP_CONTENT_TOO_LARGE,
                           "the request body is larger than the limit", 0);
    if (rq->as_req)
        return as_dispatch(rq);
    return dispatch(rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct https_req *rq = *con_cls;
    if (!rq)
        return;
    *con_cls = NULL;
    if (rq->call) {
        struct proxy_call *c = rq->call;
        rq->call = NULL;
        proxy_cancel(c);
    }
    extiss_cancel(rq->prep);
    rq->prep = NULL;
    sd_event_source_disable_unref(rq->rdhup);
    rq->rdhup = NULL;
    struct gw *gw = rq->h->gw;
    req_unlink(rq);
    req_unref(rq);
    daemon_drain_progress(gw);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct https_daemon *d = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct https_conn *cx = calloc(1, sizeof(*cx));
        if (!cx)
            return; /* on_request refuses the connection's requests */
        cx->d = d;
        const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;
        char ip[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;
        if (sa && sa->sa_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
            port = ntohs(a->sin_port);
            snprintf(cx->peer, sizeof(cx->peer), "%s:%u", ip, port);
        } else if (sa && sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
            port = ntohs(a->sin6_port);
            snprintf(cx->peer, sizeof(cx->peer), "[%s]:%u", ip, port);
        } else {
            snprintf(cx->peer, sizeof(cx->peer), "?");
        }
        *socket_context = cx;
        d->conns++;
        d->gen->conns++;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct https_conn *cx = *socket_context;
        if (cx) {
            free(cx);
            *socket_context = NULL;
            d->conns--;
            d->gen->conns--;
        }
    }
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    if (!log_debug_enabled())
        return;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_msg(LOG_DEBUG, "https: libmicrohttpd: %s", buf);
}

/* Percent-decoding is ours (http_path_split): MHD hands the path as sent,
 * so that "%2F" stays inside its segment. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

/* ---- generations ---------------------------------------------------------------------- */

static void daemon_free(struct https_daemon *d)
{
    sd_event_source_disable_unref(d->io);
    sd_event_source_disable_unref(d->timer);
    sd_event_source_disable_unref(d->kick);
    d->io = d->timer = d->kick = NULL;
    if (d->mhd)
        MHD_stop_daemon(d->mhd);
    d->mhd = NULL;
}

static void gen_free(struct https_gen *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        daemon_free(&g->d[i]);
    free(g->d);
    free(g);
}

static void gen_unlink(struct https_gen *g)
{
    struct https_gen **pp = &g->h->gens;
    while (*pp && *pp != g)
        pp = &(*pp)->next;
    if (*pp)
        *pp = g->next;
}

static void gen_maybe_free(struct https_gen *g)
{
    if (!g->retired || g->conns || g->running)
        return;
    gen_unlink(g);
    gen_free(g);
}

static void gen_quiesce(struct https_gen *g)
{
    for (size_t i = 0; i < g->n; i++) {
        struct https_daemon *d = &g->d[i];
        if (d->quiesced || !d->mhd)
            continue;
        MHD_socket fd = MHD_quiesce_daemon(d->mhd);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
        d->quiesced = true;
        daemon_rearm(d);
    }
}

static int daemon_start(struct https *h, struct https_gen *g, struct https_daemon *d,
                        struct https_listener *l, const struct tls_files *tf,
                        const struct config *conf)
{
    const struct limits *lim = &conf->limits;
    int fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return -errno;
    d->gen = g;
    unsigned timeout_s = (unsigned)((lim->idle_timeout_us + 999999u) / 1000000u);
    if (!timeout_s)
        timeout_s = 1;
    size_t mem = (size_t)lim->max_header_size + (32u << 10);
    /* No MHD_USE_TURBO: it cuts about 6 of 22 syscalls per request, but
     * with it stalled connections (tests/integration/test_badinput.sh,
     * slowloris) were no longer closed after idle_timeout. */
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TLS | MHD_USE_ERROR_LOG;
    if (l->addr[0] == '[')
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem opts[] = {
            {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL},
            {MHD_OPTION_LISTEN_SOCKET, fd, NULL},
            {MHD_OPTION_HTTPS_MEM_CERT, 0, tf->cert},
            {MHD_OPTION_HTTPS_MEM_KEY, 0, tf->key},
            {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)https_priorities(conf->https.tls_min)},
            {tf->ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, tf->ca},
            {MHD_OPTION_END, 0, NULL},
    };
    d->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, d, MHD_OPTION_ARRAY, opts,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, d,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, d,
                              MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)lim->max_connections,
                              MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem, MHD_OPTION_STRICT_FOR_CLIENT,
                              (int)0, MHD_OPTION_SIGPIPE_HANDLED_BY_APP, (int)1, MHD_OPTION_END);
    if (!d->mhd) {
        close(fd);
        return -EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di)
        return -EIO;
    sd_event *ev = h->gw->ev;
    int r = sd_event_add_io(ev, &d->io, di->epoll_fd, EPOLLIN, on_mhd_io, d);
    if (r >= 0)
        r = sd_event_add_time(ev, &d->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_mhd_timer, d);
    if (r >= 0)
        r = sd_event_add_defer(ev, &d->kick, on_mhd_kick, d);
    if (r >= 0)
        r = sd_event_source_set_enabled(d->kick, SD_EVENT_OFF);
    if (r < 0)
        return r;
    daemon_rearm(d);
    return 0;
}

/* A new generation on the current listeners with the current state. */
static int gen_start(struct https *h, struct https_gen **out)
{
    const struct config *conf = h->gw->state->conf;
    struct diags d = {0};
    struct tls_files tf;
    struct https_gen *g = NULL;
    int r = tls_files_load(&conf->https, &tf, &d);
    for (size_t i = 0; i < d.n; i++)
        log_msg(d.v[i].warning ? LOG_WARNING : LOG_ERR, "%s: %s", d.v[i].file, d.v[i].msg);
    diag_free(&d);
    if (r < 0)
        return r;
    g = calloc(1, sizeof(*g));
    if (!g || !(g->d = calloc(h->n_ls ? h->n_ls : 1, sizeof(*g->d)))) {
        r = -ENOMEM;
        goto out;
    }
    g->h = h;
    g->n = h->n_ls;
    for (size_t i = 0; i < h->n_ls; i++) {
        r = daemon_start(h, g, &g->d[i], &h->ls[i], &tf, conf);
        if (r < 0) {
            log_msg(LOG_ERR, "https: cannot start on %s: %s", h->ls[i].addr, strerror(-r));
            goto out;
        }
    }
    *out = g;
    g = NULL;
    r = 0;
out:
    tls_files_free(&tf); /* GnuTLS holds its own copy now */
    gen_free(g);
    return r;
}

/* Opens the listeners of the current config, reusing open ones. */
static int listeners_update(struct https *h)
{
    const struct https_conf *hc = &h->gw->state->conf->https;
    struct https_listener *nl = calloc(hc->n_listen ? hc->n_listen : 1, sizeof(*nl));
    if (!nl)
        return -ENOMEM;
    size_t n = 0;
    int r = 0;
    for (size_t i = 0; i < hc->n_listen; i++) {
        nl[i].fd = -1;
        for (size_t k = 0; k < h->n_ls; k++)
            if (h->ls[k].fd >= 0 && !strcmp(h->ls[k].addr, hc->listen[i])) {
                nl[i] = h->ls[k];
                h->ls[k].fd = -1;
                h->ls[k].addr = NULL;
                break;
            }
        if (nl[i].fd < 0 && (r = listener_open(&nl[i], hc->listen[i])) < 0) {
            log_msg(LOG_ERR, "https: cannot listen on %s: %s", hc->listen[i], strerror(-r));
            break;
        }
        n = i + 1;
    }
    if (r < 0) {
        /* give back what was reused, close what was new */
        for (size_t i = 0; i < n; i++) {
            bool given_back = false;
            for (size_t k = 0; k < h->n_ls && !given_back; k++)
                if (h->ls[k].fd < 0 && !h->ls[k].addr) {
                    h->ls[k] = nl[i];
                    given_back = true;
                }
            if (!given_back)
                listener_close(&nl[i]);
        }
        free(nl);
        return r;
    }
    for (size_t k = 0; k < h->n_ls; k++)
        listener_close(&h->ls[k]);
    free(h->ls);
    h->ls = nl;
    h->n_ls = hc->n_listen;
    return 0;
}

/* ---- the front end ------------------------------------------------------------------- */

/* The authorization server follows the state: created with [oauth],
 * switched to each reloaded state, freed without it. A server that cannot
 * start leaves its paths answering 404, logged. */
static void https_as_update(struct https *h)
{
    struct diags d = {0};
    if (as_update(&h->as, h->gw->state, (int64_t)time(NULL), &d) < 0) {
        for (size_t i = 0; i < d.n; i++)
            log_msg(LOG_ERR, "oauth: %s:%u: %s", d.v[i].file, d.v[i].line, d.v[i].msg);
        log_msg(LOG_ERR, "oauth: the authorization server is off");
        as_free(h->as);
        h->as = NULL;
    } else if (h->as) {
        log_msg(LOG_INFO, "oauth: authorization server on /oauth/ and " AS_WELL_KNOWN_PATH);
    }
    diag_free(&d);
}

struct as *https_as(const struct https *h)
{
    return h ? h->as : NULL;
}

static int https_start(struct gw *gw)
{
    if (!gw->state->conf->https.enabled)
        return 0;
    struct https *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->gw = gw;
    gw->https = h;
    int r = listeners_update(h);
    struct https_gen *g = NULL;
    if (r >= 0)
        r = gen_start(h, &g);
    if (r < 0)
        return r; /* https_stop() frees what there is */
    h->gens = g;
    https_as_update(h);
    for (size_t i = 0; i < h->n_ls; i++)
        log_msg(LOG_INFO, "https: listening on %s (TLS %s)", h->ls[i].addr,
                gw->state->conf->https.tls_min == TLS_MIN_1_2 ? "1.2 and 1.3" : "1.3");
    return 0;
}

static int https_reload(struct gw *gw)
{
    struct https *h = gw->https;
    const struct https_conf *hc = &gw->state->conf->https;
    if (!h) {
        if (!hc->enabled)
            return 0;
        return https_start(gw);
    }
    /* [https] removed: stop listening, let connections finish */
    if (!hc->enabled) {
        for (struct https_gen *g = h->gens; g; g = g->next) {
            g->retired = true;
            gen_quiesce(g);
        }
        for (size_t k = 0; k < h->n_ls; k++)
            listener_close(&h->ls[k]);
        h->n_ls = 0;
        struct https_gen *next;
        for (struct https_gen *g = h->gens; g; g = next) {
            next = g->next;
            gen_maybe_free(g);
        }
        return 0;
    }
    int r = listeners_update(h);
    if (r < 0)
        return r;
    struct https_gen *g = NULL;
    r = gen_start(h, &g);
    if (r < 0)
        return r;
    for (struct https_gen *o = h->gens; o; o = o->next) {
        o->retired = true;
        gen_quiesce(o);
    }
    g->next = h->gens;
    h->gens = g;
    struct https_gen *next;
    for (struct https_gen *o = g->next; o; o = next) {
        next = o->next;
        gen_maybe_free(o);
    }
    https_as_update(h);
    log_msg(LOG_INFO, "https: certificate, key, client CA and limits reloaded");
    return 0;
}

static size_t https_drain(struct gw *gw, bool force)
{
    struct https *h = gw->https;
    if (!h)
        return 0;
    if (!h->draining) {
        h->draining = true;
        for (struct https_gen *g = h->gens; g; g = g->next)
            gen_quiesce(g);
        for (size_t k = 0; k < h->n_ls; k++)
            listener_close(&h->ls[k]);
    }
    return h->n_reqs;
}

static void https_stop(struct gw *gw)
{
    struct https *h = gw->https;
    if (!h)
        return;
    /* MHD_stop_daemon() with suspended connections is not allowed: fail
     * what is left, resume everything, let MHD see the resumes. */
    for (struct https_req *rq = h->reqs; rq; rq = rq->next) {
        if (rq->call) {
            struct proxy_call *c = rq->call;
            rq->call = NULL;
            proxy_cancel(c);
        }
        extiss_cancel(rq->prep);
        rq->prep = NULL;
        rq->stream_done = true;
        rq->client_gone = true;
        req_resume(rq);
    }
    for (struct https_gen *g = h->gens; g; g = g->next)
        for (size_t i = 0; i < g->n; i++)
            if (g->d[i].mhd) {
                g->running = true;
                MHD_run(g->d[i].mhd);
                g->running = false;
            }
    while (h->gens) {
        struct https_gen *g = h->gens;
        h->gens = g->next;
        gen_free(g);
    }
    for (size_t k = 0; k < h->n_ls; k++)
        listener_close(&h->ls[k]);
    as_free(h->as);
    free(h->ls);
    free(h);
    gw->https = NULL;
}

static int https_check_frontend(const struct gw_state *s, struct diags *d)
{
    return https_check(s, d);
}

const struct frontend_ops https_frontend = {
        .name = "https",
        .check = https_check_frontend,
        .start = https_start,
        .reload = https_reload,
        .drain = https_drain,
        .stop = https_stop,
};
