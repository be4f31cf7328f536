/* test_oscore_server.c - objsec/oscore_server.c and objsec/oscore_store.c:
 * a full round trip client context -> server -> protected response, the
 * Echo exchange that synchronises a context after a (re)start (RFC 8613
 * Appendix B.1.2, RFC 9175), replay, unknown kid and kid context,
 * tampered ciphertext and malformed options with their RFC 8613 §8.2
 * answers, failure logging (kid in hex, never a key), state carried over
 * a reload, and sender sequence numbers persisted ahead of use (Appendix
 * B.1.1) across a simulated crash. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/oscore_ctx.h"
#include "log.h"
#include "objsec/cose.h"
#include "objsec/oscore.h"
#include "objsec/oscore_server.h"
#include "objsec/oscore_store.h"
#include "util.h"

#define SECRET "0102030405060708090a0b0c0d0e0f10"
#define SALT   "9e7ca92223786340"
/* the gateway: sender 01, recipient (= the device's kid) 02 */
#define CTX_FILE                                                                                   \
    "dev1 sender_id=01 recipient_id=02 master_secret=" SECRET " master_salt=" SALT "\n"            \
    "dev2 sender_id=01 recipient_id=03 id_context=abcd master_secret=" SECRET "\n"

static uint64_t fake_now;
static uint64_t now_fn(void)
{
    return fake_now;
}

/* ---- log capture ---- */
static char logbuf[16384];
static void sink(const char *line, void *ud)
{
    (void)ud;
    size_t l = strlen(logbuf);
    snprintf(logbuf + l, sizeof(logbuf) - l, "%s\n", line);
}

static struct oscore_ctx_store *contexts(void)
{
    struct diags d = {0};
    struct oscore_ctx_store *s = NULL;
    assert_int_equal(oscore_ctx_parse("oscore", CTX_FILE, strlen(CTX_FILE), &s, &d), 0);
    diag_free(&d);
    return s;
}

static struct oscore_server *server(struct oscore_store *st, uint64_t k)
{
    struct oscore_ctx_store *cs = contexts();
    struct diags d = {0};
    struct oscore_server *srv = NULL;
    struct oscore_server_params p = {
            .contexts = cs, .store = st, .seq_interval = k, .now_us = now_fn};
    assert_int_equal(oscore_server_new(&p, &srv, &d), 0);
    diag_print(&d, stderr);
    assert_int_equal(d.n_errors, 0);
    diag_free(&d);
    oscore_ctx_store_free(cs); /* the server keeps its own copy */
    assert_int_equal(oscore_server_count(srv), 2);
    return srv;
}

/* The device's side of a context: the ids swapped. */
static struct oscore_ctx *client(const char *sid_hex, const char *idctx_hex, bool send_kid_ctx)
{
    uint8_t secret[16], salt[8], sid[8], rid[1] = {0x01}, idctx[8];
    size_t n;
    assert_int_equal(hex_decode(SECRET, secret, sizeof(secret), &n), 0);
    assert_int_equal(hex_decode(SALT, salt, sizeof(salt), &n), 0);
    size_t sid_len = 0, idctx_len = 0;
    assert_int_equal(hex_decode(sid_hex, sid, sizeof(sid), &sid_len), 0);
    if (idctx_hex)
        assert_int_equal(hex_decode(idctx_hex, idctx, sizeof(idctx), &idctx_len), 0);
    struct oscore_ctx_params p = {
            .master_secret = secret,
            .master_secret_len = sizeof(secret),
            .master_salt = idctx_hex ? NULL : salt,
            .master_salt_len = idctx_hex ? 0 : sizeof(salt),
            .sender_id = sid,
            .sender_id_len = sid_len,
            .recipient_id = rid,
            .recipient_id_len = 1,
            .id_context = idctx_hex ? idctx : NULL,
            .id_context_len = idctx_len,
            .send_kid_context = send_kid_ctx,
    };
    struct oscore_ctx *c = NULL;
    assert_int_equal(oscore_ctx_new(&p, &c), 0);
    return c;
}

struct wire {
    struct oscore_msg m;
    uint8_t buf[1024];
    struct oscore_req req;
};

/* GET /temp, with an inner Echo when echo != NULL. */
static void request(struct oscore_ctx *cl, const uint8_t *echo, size_t echo_len, struct wire *w)
{
    struct oscore_msg in = {.code = 0x01, .n_opts = 1};
    in.opts[0] = (struct oscore_option){11, 4, (const uint8_t *)"temp"};
    if (echo) {
        in.opts[1] = (struct oscore_option){OSCORE_OPT_ECHO, (uint16_t)echo_len, echo};
        in.n_opts = 2;
    }
    assert_int_equal(oscore_protect_request(cl, &in, &w->m, w->buf, sizeof(w->buf), &w->req), 0);
}

static const struct oscore_option *find(const struct oscore_msg *m, uint16_t num)
{
    for (size_t i = 0; i < m->n_opts; i++)
        if (m->opts[i].number == num)
            return &m->opts[i];
    return NULL;
}

/* The client reads a challenge: a protected 4.01 with an Echo. */
static size_t read_challenge(struct oscore_server *srv, struct oscore_srv_result *res,
                             struct oscore_ctx *cl, const struct wire *w, uint8_t echo[64])
{
    struct oscore_msg out, plain;
    uint8_t buf[512], pbuf[512];
    assert_int_equal(oscore_server_challenge(srv, res, &out, buf, sizeof(buf)), 0);
    const struct oscore_option *oo = find(&out, OSCORE_OPT_OSCORE);
    assert_non_null(oo);
    /* a nonce of its own: the request's may have been answered before */
    struct oscore_option_value ov;
    assert_int_equal(oscore_option_decode(oo->value, oo->len, &ov), 0);
    assert_non_null(ov.piv);
    assert_null(find(&out, OSCORE_OPT_ECHO)); /* the Echo is inside (Class E) */
    assert_int_equal(oscore_unprotect_response(cl, &w->req, &out, &plain, pbuf, sizeof(pbuf)), 0);
    assert_int_equal(plain.code, OSCORE_CODE_UNAUTHORIZED);
    const struct oscore_option *e = find(&plain, OSCORE_OPT_ECHO);
    assert_non_null(e);
    assert_int_equal(e->len, OSCORE_ECHO_LEN);
    memcpy(echo, e->value, e->len);
    return e->len;
}

static enum oscore_srv_status receive(struct oscore_server *srv, const struct wire *w,
                                      struct oscore_srv_result *res, uint8_t *buf, size_t cap)
{
    return oscore_server_unprotect(srv, &w->m, buf, cap, res);
}

/* Brings a fresh server's context of cl in sync: challenge, then Echo. */
static void sync_ctx(struct oscore_server *srv, struct oscore_ctx *cl, const char *name)
{
    struct wire w1, w2;
    struct oscore_srv_result res;
    uint8_t buf[1024], echo[64];
    request(cl, NULL, 0, &w1);
    assert_int_equal(receive(srv, &w1, &res, buf, sizeof(buf)), OSCORE_SRV_CHALLENGE);
    assert_string_equal(res.name, name);
    size_t el = read_challenge(srv, &res, cl, &w1, echo);
    request(cl, echo, el, &w2);
    assert_int_equal(receive(srv, &w2, &res, buf, sizeof(buf)), OSCORE_SRV_OK);
    assert_true(oscore_server_synchronised(srv, name));
}

static void test_round_trip_and_echo(void **state)
{
    struct oscore_server *srv = server(NULL, 0);
    struct oscore_ctx *cl = client("02", NULL, false);
    struct oscore_srv_result res;
    struct wire w1, w2, w3;
    uint8_t buf[1024], echo[64];
    fake_now = 1000;

    /* a fresh server: the first request is verified but not processed */
    request(cl, NULL, 0, &w1);
    assert_int_equal(receive(srv, &w1, &res, buf, sizeof(buf)), OSCORE_SRV_CHALLENGE);
    assert_string_equal(res.name, "dev1");
    assert_int_equal(res.inner.n_opts, 0);
    assert_false(oscore_server_synchronised(srv, "dev1"));
    size_t el = read_challenge(srv, &res, cl, &w1, echo);
    /* a protected answer is only for OK results */
    struct oscore_msg plain = {.code = 0x45}, out;
    assert_int_equal(oscore_server_protect_response(srv, &res, false, &plain, &out, buf + 512, 512),
                     -EINVAL);

    /* the request with the Echo is accepted */
    request(cl, echo, el, &w2);
    assert_int_equal(receive(srv, &w2, &res, buf, sizeof(buf)), OSCORE_SRV_OK);
    assert_string_equal(res.name, "dev1");
    assert_int_equal(res.inner.code, 0x01);
    assert_int_equal(res.inner.n_opts, 1); /* the Echo is taken out */
    assert_int_equal(res.inner.opts[0].number, 11);
    assert_memory_equal(res.inner.opts[0].value, "temp", 4);
    assert_true(oscore_server_synchronised(srv, "dev1"));

    /* the answer, protected, read by the client */
    uint8_t rbuf[512], pbuf[512];
    struct oscore_msg answer = {.code = 0x45, .payload = (const uint8_t *)"21.5", .payload_len = 4};
    struct oscore_msg got;
    assert_int_equal(
            oscore_server_protect_response(srv, &res, false, &answer, &out, rbuf, sizeof(rbuf)), 0);
    assert_int_equal(out.code, OSCORE_CODE_CHANGED);
    assert_int_equal(oscore_unprotect_response(cl, &w2.req, &out, &got, pbuf, sizeof(pbuf)), 0);
    assert_int_equal(got.code, 0x45);
    assert_int_equal(got.payload_len, 4);
    assert_memory_equal(got.payload, "21.5", 4);

    /* synchronised: the next request needs no Echo */
    request(cl, NULL, 0, &w3);
    assert_int_equal(receive(srv, &w3, &res, buf, sizeof(buf)), OSCORE_SRV_OK);
    /* a late Echo on a synchronised context is ignored and removed */
    request(cl, echo, el, &w3);
    assert_int_equal(receive(srv, &w3, &res, buf, sizeof(buf)), OSCORE_SRV_OK);
    assert_null(find(&res.inner, OSCORE_OPT_ECHO));

    /* replays: the same message again, and the first (pre-Echo) one */
    assert_int_equal(receive(srv, &w2, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
    assert_int_equal(res.err, -EALREADY);
    assert_int_equal(res.code, OSCORE_CODE_UNAUTHORIZED);
    assert_string_equal(res.diagnostic, "Replay detected");
    assert_int_equal(receive(srv, &w1, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
    assert_int_equal(res.err, -ESTALE);
    assert_string_equal(res.diagnostic, "Replay detected");

    oscore_ctx_free(cl);
    oscore_server_free(srv);
}

static void test_echo_wrong_and_expired(void **state)
{
    struct oscore_server *srv = server(NULL, 0);
    struct oscore_ctx *cl = client("02", NULL, false);
    struct oscore_srv_result res;
    struct wire w;
    uint8_t buf[1024], echo[64], echo2[64], bad[OSCORE_ECHO_LEN] = {0};
    fake_now = 5000000;

    request(cl, NULL, 0, &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_CHALLENGE);
    size_t el = read_challenge(srv, &res, cl, &w, echo);
    /* a wrong Echo: challenged again, with the same pending value */
    request(cl, bad, sizeof(bad), &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_CHALLENGE);
    assert_int_equal(read_challenge(srv, &res, cl, &w, echo2), el);
    assert_memory_equal(echo, echo2, el);
    /* a truncated one neither */
    request(cl, echo, el - 1, &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_CHALLENGE);
    /* expired: a new value; the old one no longer works */
    fake_now += OSCORE_ECHO_LIFETIME_DEFAULT + 1;
    request(cl, echo, el, &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_CHALLENGE);
    read_challenge(srv, &res, cl, &w, echo2);
    assert_memory_not_equal(echo, echo2, el);
    assert_false(oscore_server_synchronised(srv, "dev1"));
    request(cl, echo2, el, &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_OK);
    assert_true(oscore_server_synchronised(srv, "dev1"));
    /* an Echo of one context does not synchronise another */
    struct oscore_ctx *cl2 = client("03", "abcd", true);
    request(cl2, echo2, el, &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_CHALLENGE);
    assert_string_equal(res.name, "dev2");
    oscore_ctx_free(cl2);
    oscore_ctx_free(cl);
    oscore_server_free(srv);
}

static void test_restart_and_adopt(void **state)
{
    struct oscore_server *srv = server(NULL, 0);
    struct oscore_ctx *cl = client("02", NULL, false);
    struct oscore_srv_result res;
    struct wire old, w;
    uint8_t buf[1024], echo[64];
    fake_now = 1;
    sync_ctx(srv, cl, "dev1");
    request(cl, NULL, 0, &old);
    assert_int_equal(receive(srv, &old, &res, buf, sizeof(buf)), OSCORE_SRV_OK);

    /* a reload with unchanged contexts keeps the state */
    struct oscore_server *srv2 = server(NULL, 0);
    oscore_server_adopt(srv2, srv);
    assert_true(oscore_server_synchronised(srv2, "dev1"));
    assert_int_equal(receive(srv2, &old, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
    assert_int_equal(res.err, -EALREADY);
    request(cl, NULL, 0, &w);
    assert_int_equal(receive(srv2, &w, &res, buf, sizeof(buf)), OSCORE_SRV_OK);
    oscore_server_free(srv2);

    /* a restart: the window is not trusted; a replayed old request is
     * verified but only challenged, never processed */
    oscore_server_free(srv);
    srv = server(NULL, 0);
    assert_int_equal(receive(srv, &old, &res, buf, sizeof(buf)), OSCORE_SRV_CHALLENGE);
    size_t el = read_challenge(srv, &res, cl, &old, echo);
    request(cl, echo, el, &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_OK);
    /* now the old one is too old */
    assert_int_equal(receive(srv, &old, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
    assert_int_equal(res.err, -ESTALE);
    oscore_ctx_free(cl);
    oscore_server_free(srv);
}

static void test_errors(void **state)
{
    struct oscore_server *srv = server(NULL, 0);
    struct oscore_ctx *cl = client("02", NULL, false);
    struct oscore_srv_result res;
    struct wire w;
    uint8_t buf[1024];
    fake_now = 1;
    logbuf[0] = '\0';
    log_set_test_sink(sink, NULL);
    sync_ctx(srv, cl, "dev1");

    /* unknown kid */
    struct oscore_ctx *stranger = client("0a0b", NULL, false);
    request(stranger, NULL, 0, &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
    assert_int_equal(res.err, -ENOENT);
    assert_int_equal(res.code, OSCORE_CODE_UNAUTHORIZED);
    assert_string_equal(res.diagnostic, "Security context not found");
    assert_non_null(strstr(logbuf, "security context not found (kid=0a0b)"));
    oscore_ctx_free(stranger);

    /* the right kid with a kid context of no context */
    struct oscore_ctx *wrongctx = client("03", "abce", true);
    request(wrongctx, NULL, 0, &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
    assert_int_equal(res.err, -ENOENT);
    assert_non_null(strstr(logbuf, "kid=03 kid_context=abce"));
    oscore_ctx_free(wrongctx);
    /* dev2 found without a kid context in the request too */
    struct oscore_ctx *dev2 = client("03", "abcd", false);
    request(dev2, NULL, 0, &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_CHALLENGE);
    assert_string_equal(res.name, "dev2");
    oscore_ctx_free(dev2);

    /* tampered ciphertext */
    request(cl, NULL, 0, &w);
    uint8_t *ct = (uint8_t *)w.m.payload;
    ct[0] ^= 0x01;
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
    assert_int_equal(res.err, -EACCES);
    assert_int_equal(res.code, OSCORE_CODE_BAD_REQUEST);
    assert_string_equal(res.diagnostic, "Decryption failed");
    assert_non_null(strstr(logbuf, "decryption failed (kid=02 context='dev1')"));
    /* the failed request did not move the window: the intact one passes */
    ct[0] ^= 0x01;
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_OK);
    /* tampered tag */
    request(cl, NULL, 0, &w);
    ((uint8_t *)w.m.payload)[w.m.payload_len - 1] ^= 0x80;
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
    assert_int_equal(res.err, -EACCES);

    /* malformed OSCORE option: reserved flag bit, n = 7, missing kid */
    request(cl, NULL, 0, &w);
    struct oscore_option *o = (struct oscore_option *)find(&w.m, OSCORE_OPT_OSCORE);
    uint8_t bad[8];
    memcpy(bad, o->value, o->len);
    bad[0] |= 0x80;
    o->value = bad;
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
    assert_int_equal(res.err, -EBADMSG);
    assert_int_equal(res.code, OSCORE_CODE_BAD_OPTION);
    assert_string_equal(res.diagnostic, "Failed to decode COSE");
    bad[0] = 0x07;
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
    assert_int_equal(res.err, -EBADMSG);
    uint8_t nokid[2] = {0x01, 0x05}; /* Partial IV only */
    o->value = nokid;
    o->len = 2;
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
    assert_int_equal(res.err, -EBADMSG);
    uint8_t nonmin[4] = {0x0a, 0x00, 0x05, 0x02}; /* PIV 00 05: not minimal */
    o->value = nonmin;
    o->len = 4;
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
    assert_int_equal(res.err, -EBADMSG);
    /* no OSCORE option at all; no payload */
    struct oscore_msg plain = {.code = 0x01};
    assert_int_equal(oscore_server_unprotect(srv, &plain, buf, sizeof(buf), &res),
                     OSCORE_SRV_ERROR);
    assert_int_equal(res.code, OSCORE_CODE_BAD_OPTION);
    /* a buffer too small: 5.00, no diagnostic */
    request(cl, NULL, 0, &w);
    assert_int_equal(receive(srv, &w, &res, buf, 2), OSCORE_SRV_ERROR);
    assert_int_equal(res.code, OSCORE_CODE_INTERNAL);
    assert_null(res.diagnostic);

    /* authentic, but the inner message is malformed: a payload marker
     * with nothing after it */
    {
        static const uint8_t pt[] = {0x01, 0xff};
        uint8_t nonce[OSCORE_NONCE_LEN], aad[64], piv[1] = {0x77};
        size_t aad_len, n;
        assert_int_equal(oscore_nonce(cl, cl->sender_id, cl->sender_id_len, piv, 1, nonce), 0);
        assert_int_equal(oscore_aad(10, cl->sender_id, cl->sender_id_len, piv, 1, NULL, 0, NULL,
                                    aad, sizeof(aad), &aad_len),
                         0);
        w.buf[0] = 0x09;
        w.buf[1] = piv[0];
        w.buf[2] = 0x02;
        assert_int_equal(cose_aead_encrypt(10, cl->sender_key, 16, nonce, 13, aad, aad_len, pt,
                                           sizeof(pt), w.buf + 3, sizeof(w.buf) - 3, &n),
                         0);
        memset(&w.m, 0, sizeof(w.m));
        w.m.code = OSCORE_CODE_POST;
        w.m.n_opts = 1;
        w.m.opts[0] = (struct oscore_option){OSCORE_OPT_OSCORE, 3, w.buf};
        w.m.payload = w.buf + 3;
        w.m.payload_len = n;
        assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_ERROR);
        assert_int_equal(res.err, -EPROTO);
        assert_int_equal(res.code, OSCORE_CODE_BAD_REQUEST);
        assert_string_equal(res.diagnostic, "Malformed inner message");
    }

    /* the error table */
    uint8_t code;
    const char *dg;
    oscore_server_error_answer(-ESTALE, &code, &dg);
    assert_int_equal(code, OSCORE_CODE_UNAUTHORIZED);
    assert_string_equal(dg, "Replay detected");
    oscore_server_error_answer(-EPROTO, &code, &dg);
    assert_int_equal(code, OSCORE_CODE_BAD_REQUEST);
    assert_string_equal(dg, "Malformed inner message");

    /* no key material in the log */
    assert_null(strstr(logbuf, "0102030405"));
    assert_null(strstr(logbuf, SALT));
    log_set_test_sink(NULL, NULL);
    oscore_ctx_free(cl);
    oscore_server_free(srv);
}

/* ---- sequence numbers across a crash ---- */

static char statedir[64];

static int store_setup(void **state)
{
    snprintf(statedir, sizeof(statedir), "/tmp/test_oscore_srv.XXXXXX");
    assert_non_null(mkdtemp(statedir));
    return 0;
}

static int store_teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", statedir);
    return system(cmd) == 0 ? 0 : -1;
}

static uint64_t stored(const char *name)
{
    char path[128], *text = NULL;
    size_t len;
    snprintf(path, sizeof(path), "%s/oscore/%s.seq", statedir, name);
    if (util_read_file(path, 64, &text, &len) < 0)
        return UINT64_MAX;
    uint64_t v = strtoull(text, NULL, 10);
    free(text);
    return v;
}

/* n notifications (new Partial IVs) of dev1 to cl; their numbers into seen */
static void notify(struct oscore_server *srv, struct oscore_ctx *cl, int n, uint64_t *seen,
                   size_t *n_seen)
{
    struct oscore_srv_result res;
    struct wire w;
    uint8_t buf[1024], rbuf[512], pbuf[512];
    request(cl, NULL, 0, &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_OK);
    for (int i = 0; i < n; i++) {
        struct oscore_msg answer = {
                .code = 0x45, .payload = (const uint8_t *)"x", .payload_len = 1};
        struct oscore_msg out, got;
        assert_int_equal(
                oscore_server_protect_response(srv, &res, true, &answer, &out, rbuf, sizeof(rbuf)),
                0);
        const struct oscore_option *o = find(&out, OSCORE_OPT_OSCORE);
        struct oscore_option_value v;
        assert_int_equal(oscore_option_decode(o->value, o->len, &v), 0);
        assert_non_null(v.piv);
        uint64_t seq = 0;
        for (size_t k = 0; k < v.piv_len; k++)
            seq = seq << 8 | v.piv[k];
        seen[(*n_seen)++] = seq;
        assert_int_equal(oscore_unprotect_response(cl, &w.req, &out, &got, pbuf, sizeof(pbuf)), 0);
        /* persisted ahead of use */
        assert_true(stored("dev1") > seq);
    }
}

static void test_seq_persistence(void **state)
{
    struct diags d = {0};
    struct oscore_store *st = NULL;
    uint64_t seen[200];
    size_t n_seen = 0;
    fake_now = 1;
    assert_int_equal(oscore_store_open(statedir, &st, &d), 0);
    char sub[128];
    struct stat sb;
    snprintf(sub, sizeof(sub), "%s/oscore", statedir);
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    uint64_t b;
    assert_int_equal(oscore_store_get(st, "dev1", &b, &d), 0);
    assert_int_equal(b, 0);

    struct oscore_ctx *cl = client("02", NULL, false);
    struct oscore_server *srv = server(st, 10);
    sync_ctx(srv, cl, "dev1");
    notify(srv, cl, 25, seen, &n_seen);
    assert_int_equal(stored("dev1"), 30); /* 0 -> 10 -> 20 -> 30 */
    snprintf(sub, sizeof(sub), "%s/oscore/dev1.seq", statedir);
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* crash: the server is dropped without storing anything more */
    oscore_server_free(srv);
    srv = server(st, 10);
    sync_ctx(srv, cl, "dev1");
    notify(srv, cl, 12, seen, &n_seen);
    assert_int_equal(seen[25], 31); /* the stored bound, 30, went to the Echo challenge */
    /* and again, without a single use in between */
    oscore_server_free(srv);
    srv = server(st, 10);
    oscore_server_free(srv);
    srv = server(st, 10);
    sync_ctx(srv, cl, "dev1");
    notify(srv, cl, 3, seen, &n_seen);
    /* no number was ever used twice, and they only grow */
    for (size_t i = 1; i < n_seen; i++)
        assert_true(seen[i] > seen[i - 1]);
    oscore_server_free(srv);

    /* a damaged file refuses that context only */
    assert_int_equal(util_write_file_atomic(sub, "12x\n", 4, 0600), 0);
    struct oscore_ctx_store *cs = contexts();
    struct oscore_server_params p = {.contexts = cs, .store = st, .now_us = now_fn};
    assert_int_equal(oscore_server_new(&p, &srv, &d), 0);
    assert_true(diag_contains(&d, "damaged OSCORE sequence number bound"));
    assert_int_equal(oscore_server_count(srv), 1);
    diag_free(&d);
    oscore_server_free(srv);
    oscore_ctx_store_free(cs);
    const char *bad[] = {"", "\n", "01\n", "5", "-1\n", "1099511627777\n", " 5\n"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_int_equal(util_write_file_atomic(sub, bad[i], strlen(bad[i]), 0600), 0);
        assert_int_equal(oscore_store_get(st, "dev1", &b, &d), -EBADMSG);
        diag_free(&d);
    }
    assert_int_equal(oscore_store_put(st, "dev1", 1099511627776u), 0);
    assert_int_equal(oscore_store_get(st, "dev1", &b, &d), 0);
    assert_int_equal(b, 1099511627776u);
    assert_int_equal(oscore_store_remove(st, "dev1"), 0);
    assert_int_equal(oscore_store_remove(st, "dev1"), 0);
    assert_int_equal(oscore_store_get(st, "dev1", &b, &d), 0);
    assert_int_equal(b, 0);
    assert_int_equal(oscore_store_put(st, "../x", 1), -EINVAL);

    /* storing fails: no number is handed out (K = 1: every number is stored) */
    srv = server(st, 1);
    sync_ctx(srv, cl, "dev1");
    struct oscore_srv_result res;
    struct wire w;
    uint8_t buf[1024], rbuf[512];
    request(cl, NULL, 0, &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_OK);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/oscore'", statedir);
    assert_int_equal(system(cmd), 0);
    struct oscore_msg answer = {.code = 0x45}, out;
    assert_true(oscore_server_protect_response(srv, &res, true, &answer, &out, rbuf, sizeof(rbuf)) <
                0);
    /* a response with the request's nonce needs no number */
    assert_int_equal(
            oscore_server_protect_response(srv, &res, false, &answer, &out, rbuf, sizeof(rbuf)), 0);
    oscore_server_free(srv);
    oscore_store_free(st);
    oscore_ctx_free(cl);
    diag_free(&d);
}

/* the front end's entry point: file + state directory */
static void test_load(void **state)
{
    struct diags d = {0};
    struct oscore_server *srv = NULL;
    char path[128];
    snprintf(path, sizeof(path), "%s/contexts", statedir);
    assert_int_equal(util_write_file_atomic(path, CTX_FILE, strlen(CTX_FILE), 0640), 0);
    assert_int_equal(oscore_server_load(path, statedir, &srv, &d), 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(oscore_server_count(srv), 2);
    /* it persists: a challenge takes number 0 and stores the bound */
    struct oscore_ctx *cl = client("02", NULL, false);
    fake_now = 1;
    struct oscore_srv_result res;
    struct wire w;
    uint8_t buf[1024], echo[64];
    request(cl, NULL, 0, &w);
    assert_int_equal(receive(srv, &w, &res, buf, sizeof(buf)), OSCORE_SRV_CHALLENGE);
    read_challenge(srv, &res, cl, &w, echo);
    assert_int_equal(stored("dev1"), OSCORE_STORE_DEFAULT_K);
    oscore_server_free(srv);
    oscore_ctx_free(cl);
    /* without a state directory: nothing persisted */
    assert_int_equal(oscore_server_load(path, NULL, &srv, &d), 0);
    oscore_server_free(srv);
    /* a file others can read is refused; so is a broken one */
    chmod(path, 0644);
    assert_int_equal(oscore_server_load(path, statedir, &srv, &d), -EPERM);
    assert_null(srv);
    diag_free(&d);
    assert_int_equal(util_write_file_atomic(path, "x\n", 2, 0600), 0);
    assert_int_equal(oscore_server_load(path, statedir, &srv, &d), -EINVAL);
    assert_true(d.n_errors > 0);
    assert_null(srv);
    diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_round_trip_and_echo),
            cmocka_unit_test(test_echo_wrong_and_expired),
            cmocka_unit_test(test_restart_and_adopt),
            cmocka_unit_test(test_errors),
            cmocka_unit_test_setup_teardown(test_seq_persistence, store_setup, store_teardown),
            cmocka_unit_test_setup_teardown(test_load, store_setup, store_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
