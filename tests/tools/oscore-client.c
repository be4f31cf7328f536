/* oscore-client.c - a small OSCORE (RFC 8613) client over plain CoAP (UDP)
 * for the tests: Debian 12 has no OSCORE-capable CoAP client (libcoap
 * 4.3.1 is built without it, aiocoap is not packaged), so this one is
 * built on wotgw's own objsec/oscore.c, which the unit tests check against
 * the RFC 8613 Appendix C vectors.
 *
 *   wotgw-oscore-client -f CONTEXTS -n NAME [-m get|put|post] [-e PAYLOAD]
 *       [-t FORMAT] [-s SEQ] [--no-echo] [--replay] [--tamper] [-v]
 *       coap://IP:PORT/PATH
 *
 * CONTEXTS is the gateway's contexts file (auth/oscore_ctx.h): the client
 * takes NAME's line and swaps Sender and Recipient ID. SEQ is the first
 * sender sequence number (the caller keeps them increasing across runs).
 * Prints the answer as "C.DD PAYLOAD" (the inner code of a protected
 * answer) or "C.DD PAYLOAD (unprotected)"; with -v also "outer C.DD" and
 * "piv HEX" (the Partial IV of a protected answer that has one). A 4.01
 * challenge with an Echo option (RFC 9175) is answered once with a new
 * request carrying the Echo (printed as "echo"), unless --no-echo.
 * --replay sends the same datagram twice and prints both answers;
 * --tamper flips a bit of the ciphertext. An answer in outer Block2
 * blocks (RFC 8613 §4.1.3.4.2) is put together before it is verified:
 * the client repeats its request with an outer Block2 for each next
 * block (with -v, "block N" for each). A request whose protected payload
 * is over 1024 bytes goes in outer Block1 blocks the same way (with -v,
 * "block1 N" for each block sent), each with Size1 unless --no-size1; an
 * answer other than 2.31 Continue before the last block ends the
 * transfer and is printed. --save FILE keeps the request
 * datagram; --resend FILE sends a kept one again as it is (new message ID
 * only) and prints the answer's outer code and whether it is protected
 * (its plaintext cannot be read: the request's state is gone). Exit 0
 * when an answer came,
 * With an https:// URL the request goes over HTTP (RFC 8613 §11): a POST
 * of the protected request (Content-Type application/oscore, the OSCORE
 * option value base64url in the OSCORE header) to https://HOST:PORT plus
 * --target (default "/": the gateway's own contexts; /things/ID/oscore
 * passes it through to a device that speaks OSCORE), the URL's path being
 * the inner Uri-Path; --cacert FILE verifies the server, -H "Name: value"
 * adds a header (the outer request's own credentials). An answer that is
 * not 200 with an OSCORE header prints as "HTTP NNN BODY (unprotected)".
 * With -v the client also prints "sent-option HEX" and "sent-payload HEX"
 * (the outer OSCORE option value and payload as sent), "recv-option HEX"
 * (when the answer has one) and "recv-payload HEX" (the outer answer as
 * received) and, over HTTP,
 * "http STATUS oscore=HEADER content-type=TYPE" ("-" for a missing one).
 * --load SECONDS (with --inflight N, 16): after one request as above, a
 * load of GETs with N in flight for SECONDS, printed like the benchmark's
 * coap-load: "requests=N errors=N rps=R p50_us=A p99_us=B". Exit 0
 * when an answer came,
 * 1 on a timeout or an error, 2 on bad usage.
 * --observe N (coap:// only; RFC 8613 §4.1.3.5, RFC 7641): the request is
 * a registration (inner GET with Observe 0: outer FETCH with an outer
 * Observe 0); prints its answer (the first response: with a device that
 * has no current value, the first notification) and then up to N
 * notifications, each as "C.DD PAYLOAD" and, with -v, "piv HEX" and
 * "observe V" (the outer Observe value) before it; then deregisters (a new
 * request with the same token and an inner Observe 1, its answer printed
 * as "deregistered C.DD") and exits 0, or 1 when fewer than N arrived
 * within --wait SECONDS (default 10) or a notification failed to verify.
 * A notification without Observe (the gateway ended the observation)
 * ends the wait. --rst deregisters instead with a RST to the next
 * notification (printed as "reset"; RFC 7641 §3.6). --vanish exits after
 * the N notifications without a word (a consumer that went away: what
 * comes next is never acknowledged).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "auth/oscore_ctx.h"
#include "north/http_oscore.h"
#include "objsec/oscore.h"
#include "util.h"

#define ECHO_OPT   252
#define MAX_DGRAM  65536
#define MAX_BODY   (OSCORE_MAX_PLAINTEXT + 1024) /* a block-wise answer put together */
#define TIMEOUT_MS 5000

static int sock = -1;
static struct sockaddr_in peer;
static int verbose;
static int timeout_ms = TIMEOUT_MS;
static int no_ack;         /* receive(): leave a confirmable answer unacknowledged */
static int no_size1;       /* send_blocks1(): leave Size1 out (a client the server cannot serve) */
static int observe_vanish; /* observe_run(): exit after N notifications, no deregistration */
static int observe_rst;    /* --rst: deregister with a RST to the next notification */

static void hexprint(const char *label, const uint8_t *p, size_t n)
{
    printf("%s ", label);
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
    printf("\n");
}

/* A CoAP datagram: header, token, options (sorted), payload. */
static int encode(uint8_t type, uint8_t code, uint16_t mid, const uint8_t *tok, size_t tkl,
                  const struct oscore_msg *m, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = 4 + tkl, ol = 0;
    if (n > cap)
        return -ENOBUFS;
    out[0] = (uint8_t)(0x40 | type << 4 | tkl);
    out[1] = code;
    out[2] = (uint8_t)(mid >> 8);
    out[3] = (uint8_t)mid;
    memcpy(out + 4, tok, tkl);
    int r = oscore_options_encode(m->opts, m->n_opts, out + n, cap - n, &ol);
    if (r < 0)
        return r;
    n += ol;
    if (m->payload_len) {
        if (n + 1 + m->payload_len > cap)
            return -ENOBUFS;
        out[n++] = 0xff;
        memcpy(out + n, m->payload, m->payload_len);
        n += m->payload_len;
    }
    *len = n;
    return 0;
}

struct dgram {
    uint8_t type, code;
    uint16_t mid;
    uint8_t tok[8];
    size_t tkl;
    struct oscore_msg m;
};

static int decode(const uint8_t *in, size_t len, struct dgram *d)
{
    if (len < 4 || (in[0] >> 6) != 1 || (in[0] & 15) > 8)
        return -EBADMSG;
    d->type = (in[0] >> 4) & 3;
    d->tkl = in[0] & 15;
    d->code = in[1];
    d->mid = (uint16_t)(in[2] << 8 | in[3]);
    if (4 + d->tkl > len)
        return -EBADMSG;
    memcpy(d->tok, in + 4, d->tkl);
    memset(&d->m, 0, sizeof(d->m));
    d->m.code = d->code;
    size_t used = 0, off = 4 + d->tkl;
    int r = oscore_options_decode(in + off, len - off, d->m.opts, OSCORE_MAX_OPTIONS, &d->m.n_opts,
                                  &used);
    if (r < 0)
        return r;
    if (off + used < len) {
        d->m.payload = in + off + used;
        d->m.payload_len = len - off - used;
    }
    return 0;
}

/* The answer to token tok: skips an empty ACK, acknowledges a separate
 * confirmable answer. 0, or -ETIMEDOUT. */
static int receive(const uint8_t *tok, size_t tkl, uint8_t *buf, size_t cap, struct dgram *d)
{
    for (;;) {
        struct pollfd p = {.fd = sock, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0)
            return -ETIMEDOUT;
        ssize_t n = recv(sock, buf, cap, 0);
        if (n < 0 || decode(buf, (size_t)n, d) < 0)
            continue;
        if (d->code == 0) /* the empty ACK of a separate answer */
            continue;
        if (d->tkl != tkl || memcmp(d->tok, tok, tkl))
            continue;
        if (d->type == 0 && !no_ack) { /* CON: acknowledge it */
            uint8_t ack[4] = {0x60, 0, (uint8_t)(d->mid >> 8), (uint8_t)d->mid};
            send(sock, ack, sizeof(ack), 0);
        }
        return 0;
    }
}

/* Appends option number with the CoAP uint value v (shortest form) to m,
 * its bytes in buf. 0, or -E2BIG when m has no room. */
static int add_uint_opt(struct oscore_msg *m, uint16_t number, uint32_t v, uint8_t buf[4])
{
    size_t l = v > 0xffffff ? 4 : v > 0xffff ? 3 : v > 0xff ? 2 : v ? 1 : 0;
    for (size_t i = 0; i < l; i++)
        buf[i] = (uint8_t)(v >> (8 * (l - 1 - i)));
    if (m->n_opts >= OSCORE_MAX_OPTIONS)
        return -E2BIG;
    m->opts[m->n_opts++] =
            (struct oscore_option){.number = number, .len = (uint16_t)l, .value = buf};
    return 0;
}

/* A request whose protected payload is larger than BLOCK1_SIZE goes in
 * outer Block1 blocks (RFC 8613 §4.1.3.4.2, RFC 7959 §2.5): each block a
 * confirmable request with the same options, token, Block1 and Size1, answered
 * 2.31 Continue until the last, whose answer (in d, read into buf) is the
 * server's. 0, -EBADMSG (an answer other than 2.31 before the last
 * block: in d), -E2BIG (the request cannot be encoded) or -ETIMEDOUT. With -v, "block1 N" for each
 * block sent. */
#define BLOCK1_OPT  27
#define SIZE1_OPT   60
#define BLOCK1_SZX  6 /* 1024 bytes */
#define BLOCK1_SIZE ((size_t)16 << BLOCK1_SZX)
static int send_blocks1(const struct oscore_msg *outer, uint16_t *mid, const uint8_t *tok,
                        size_t tkl, uint8_t *buf, size_t cap, struct dgram *d)
{
    static uint8_t out[MAX_DGRAM];
    size_t n = (outer->payload_len + BLOCK1_SIZE - 1) / BLOCK1_SIZE;
    for (size_t num = 0; num < n; num++) {
        struct oscore_msg m = *outer;
        bool more = num + 1 < n;
        uint8_t bv[4], sv[4];
        uint32_t b1 = (uint32_t)num << 4 | (more ? 8u : 0u) | BLOCK1_SZX;
        /* Size1: the whole size (libcoap puts the body together with it) */
        if (add_uint_opt(&m, BLOCK1_OPT, b1, bv) < 0 ||
            (!no_size1 && add_uint_opt(&m, SIZE1_OPT, (uint32_t)outer->payload_len, sv) < 0))
            return -E2BIG;
        m.payload = outer->payload + num * BLOCK1_SIZE;
        m.payload_len = more ? BLOCK1_SIZE : outer->payload_len - num * BLOCK1_SIZE;
        size_t dl = 0;
        if (num)
            ++*mid;
        if (encode(0, m.code, *mid, tok, tkl, &m, out, sizeof(out), &dl) < 0)
            return -E2BIG;
        send(sock, out, dl, 0);
        if (verbose)
            printf("block1 %zu\n", num);
        if (receive(tok, tkl, buf, cap, d) < 0)
            return -ETIMEDOUT;
        if (more && d->code != 0x5f) /* 2.31 Continue */
            return -EBADMSG;
    }
    return 0;
}

static void print_code(uint8_t code)
{
    printf("%u.%02u", code >> 5, code & 31);
}

static const struct oscore_option *find_opt(const struct oscore_msg *m, uint16_t num)
{
    for (size_t i = 0; i < m->n_opts; i++)
        if (m->opts[i].number == num)
            return &m->opts[i];
    return NULL;
}

/* An answer in outer Block2 blocks (RFC 8613 §4.1.3.4.2, RFC 7959): asks
 * for the next blocks by sending the request again (same bytes, a new
 * message ID, an outer Block2 with the block's number) and puts the
 * protected payload together in body, which d->m.payload then points to.
 * d's options stay those of the first block. 0 when complete (or no
 * Block2), -EBADMSG on an out-of-order or oversized answer, -ETIMEDOUT. */
#define BLOCK2_OPT 23
static int fetch_blocks(const struct oscore_msg *outer, uint16_t *mid, const uint8_t *tok,
                        size_t tkl, struct dgram *d, uint8_t *body, size_t cap)
{
    const struct oscore_option *b = find_opt(&d->m, BLOCK2_OPT);
    if (!b || b->len > 3)
        return b ? -EBADMSG : 0;
    uint32_t v = 0;
    for (size_t i = 0; i < b->len; i++)
        v = v << 8 | b->value[i];
    if (!(v & 8)) /* M = 0: one block only */
        return 0;
    unsigned szx = v & 7;
    size_t bs = (size_t)16 << szx, total = 0;
    if ((v >> 4) != 0 || szx == 7 || d->m.payload_len != bs || d->m.payload_len > cap)
        return -EBADMSG;
    memcpy(body, d->m.payload, d->m.payload_len);
    total = d->m.payload_len;
    static uint8_t out[MAX_DGRAM], in[MAX_DGRAM];
    for (uint32_t num = 1;; num++) {
        struct oscore_msg m = *outer;
        if (m.payload_len > 1024) /* it went in Block1 blocks: not again */
            m.payload_len = 0;
        uint8_t bv[4];
        if (add_uint_opt(&m, BLOCK2_OPT, num << 4 | szx, bv) < 0)
            return -EBADMSG;
        size_t dl = 0;
        ++*mid;
        if (encode(0, m.code, *mid, tok, tkl, &m, out, sizeof(out), &dl) < 0)
            return -EBADMSG;
        send(sock, out, dl, 0);
        struct dgram nd;
        if (receive(tok, tkl, in, sizeof(in), &nd) < 0)
            return -ETIMEDOUT;
        const struct oscore_option *nb = find_opt(&nd.m, BLOCK2_OPT);
        uint32_t nv = 0;
        for (size_t i = 0; nb && i < nb->len && nb->len <= 3; i++)
            nv = nv << 8 | nb->value[i];
        if (!nb || (nv >> 4) != num || (nv & 7) != szx || total + nd.m.payload_len > cap)
            return -EBADMSG;
        memcpy(body + total, nd.m.payload, nd.m.payload_len);
        total += nd.m.payload_len;
        if (verbose)
            printf("block %u\n", num);
        if (!(nv & 8))
            break;
        if (nd.m.payload_len != bs)
            return -EBADMSG;
    }
    d->m.payload = body;
    d->m.payload_len = total;
    return 0;
}

/* ---- HTTP (RFC 8613 §11) --------------------------------------------------------------- */

struct http_io {
    uint8_t *buf;
    size_t cap, len;
    char oscore[256];
    int has_oscore;
    char ctype[128];
};

static size_t http_body(char *p, size_t sz, size_t n, void *ud)
{
    struct http_io *io = ud;
    size_t k = sz * n;
    if (io->len + k > io->cap)
        return 0;
    memcpy(io->buf + io->len, p, k);
    io->len += k;
    return k;
}

static size_t http_header(char *p, size_t sz, size_t n, void *ud)
{
    struct http_io *io = ud;
    size_t k = sz * n;
    if (k > 13 && !strncasecmp(p, "content-type:", 13)) {
        size_t i = 13, e = k;
        while (i < e && (p[i] == ' ' || p[i] == '\t'))
            i++;
        while (e > i && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' '))
            e--;
        if (e - i < sizeof(io->ctype)) {
            memcpy(io->ctype, p + i, e - i);
            io->ctype[e - i] = '\0';
        }
    }
    if (k > 7 && !strncasecmp(p, "oscore:", 7)) {
        size_t i = 7, e = k;
        while (i < e && (p[i] == ' ' || p[i] == '\t'))
            i++;
        while (e > i && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' '))
            e--;
        if (e - i < sizeof(io->oscore)) {
            memcpy(io->oscore, p + i, e - i);
            io->oscore[e - i] = '\0';
            io->has_oscore = 1;
        }
    }
    return k;
}

static const char *http_origin, *http_target = "/", *http_cacert;
static struct curl_slist *http_headers;
static uint8_t http_opt[OSCORE_OPTION_VALUE_MAX];

/* POSTs outer (its OSCORE option in the header, its payload as the body)
 * and makes d the outer answer: 2.04 with the OSCORE option and the body
 * when the answer is 200 with an OSCORE header, else code (status / 100)
 * . (status % 100) with the body, unprotected. */
static int http_exchange(const struct oscore_msg *outer, int tamper, uint8_t *rbuf, size_t cap,
                         struct dgram *d)
{
    const struct oscore_option *oo = NULL;
    for (size_t i = 0; i < outer->n_opts; i++)
        if (outer->opts[i].number == OSCORE_OPT_OSCORE)
            oo = &outer->opts[i];
    char hv[HTTP_OSCORE_HDR_MAX], hdr[HTTP_OSCORE_HDR_MAX + 16], url[1024];
    http_oscore_header_encode(oo ? oo->value : NULL, oo ? oo->len : 0, hv);
    snprintf(hdr, sizeof(hdr), "OSCORE: %s", hv);
    snprintf(url, sizeof(url), "%s%s", http_origin, http_target);
    static uint8_t body[MAX_DGRAM];
    memcpy(body, outer->payload, outer->payload_len);
    if (tamper && outer->payload_len)
        body[outer->payload_len - 1] ^= 0x01;
    struct curl_slist *h = NULL;
    for (struct curl_slist *x = http_headers; x; x = x->next)
        h = curl_slist_append(h, x->data);
    h = curl_slist_append(h, hdr);
    h = curl_slist_append(h, "Content-Type: application/oscore");
    h = curl_slist_append(h, "Expect:");
    struct http_io io = {.buf = rbuf, .cap = cap};
    CURL *c = curl_easy_init();
    if (!c || !h)
        return -ENOMEM;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)outer->payload_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &io);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &io);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (http_cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, http_cacert);
    CURLcode cr = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    if (cr != CURLE_OK) {
        fprintf(stderr, "http: %s\n", curl_easy_strerror(cr));
        return -EIO;
    }
    if (verbose)
        printf("http %ld oscore=%s content-type=%s\n", status, io.has_oscore ? io.oscore : "-",
               io.ctype[0] ? io.ctype : "-");
    memset(d, 0, sizeof(*d));
    d->m.payload = io.len ? rbuf : NULL;
    d->m.payload_len = io.len;
    size_t ol = 0;
    if (status == 200 && io.has_oscore &&
        http_oscore_header_decode(io.oscore, http_opt, &ol) == 0) {
        d->code = d->m.code = 0x44;
        d->m.opts[0] = (struct oscore_option){
                .number = OSCORE_OPT_OSCORE, .len = (uint16_t)ol, .value = http_opt};
        d->m.n_opts = 1;
    } else {
        d->code = d->m.code = (uint8_t)((status / 100) << 5 | (status % 100));
    }
    return 0;
}

/* ---- load ----------------------------------------------------------------------------- */

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

struct slot {
    uint8_t tok[4];
    struct oscore_req req;
    uint64_t sent;
    bool busy;
};

/* One protected GET in slot k (its token: the slot number and a
 * generation). */
static int load_send(struct oscore_ctx *ctx, uint8_t code, const char *path, struct slot *sl,
                     unsigned k, uint16_t *mid)
{
    static uint8_t work[4096], dg[4096];
    static uint32_t gen;
    struct oscore_msg plain = {.code = code};
    char segs[512];
    snprintf(segs, sizeof(segs), "%s", path ? path : "");
    for (char *sp = NULL, *seg = strtok_r(segs, "/", &sp); seg; seg = strtok_r(NULL, "/", &sp))
        plain.opts[plain.n_opts++] = (struct oscore_option){
                .number = 11, .len = (uint16_t)strlen(seg), .value = (const uint8_t *)seg};
    struct oscore_msg outer;
    if (oscore_protect_request(ctx, &plain, &outer, work, sizeof(work), &sl[k].req) < 0)
        return -1;
    gen++;
    sl[k].tok[0] = (uint8_t)(k >> 8);
    sl[k].tok[1] = (uint8_t)k;
    sl[k].tok[2] = (uint8_t)(gen >> 8);
    sl[k].tok[3] = (uint8_t)gen;
    size_t dl = 0;
    if (encode(0, outer.code, ++*mid, sl[k].tok, 4, &outer, dg, sizeof(dg), &dl) < 0)
        return -1;
    sl[k].sent = now_us();
    sl[k].busy = true;
    return send(sock, dg, dl, 0) < 0 ? -1 : 0;
}

static int run_load(struct oscore_ctx *ctx, uint8_t code, const char *path, double secs, unsigned n)
{
    struct slot *sl = calloc(n, sizeof(*sl));
    size_t cap = 1u << 20, nl = 0, nerr = 0;
    uint64_t *lat = malloc(cap * sizeof(*lat));
    static uint8_t rb[MAX_DGRAM], pb[MAX_DGRAM];
    uint16_t mid = (uint16_t)getpid();
    if (!sl || !lat)
        return 1;
    uint64_t start = now_us(), end = start + (uint64_t)(secs * 1e6);
    for (unsigned k = 0; k < n; k++)
        load_send(ctx, code, path, sl, k, &mid);
    while (now_us() < end) {
        struct pollfd p = {.fd = sock, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) {
            uint64_t t = now_us();
            for (unsigned k = 0; k < n; k++)
                if (sl[k].busy && t - sl[k].sent > 2000000) { /* lost: count, go on */
                    nerr++;
                    load_send(ctx, code, path, sl, k, &mid);
                }
            continue;
        }
        ssize_t got = recv(sock, rb, sizeof(rb), 0);
        struct dgram d;
        if (got < 0 || decode(rb, (size_t)got, &d) < 0 || d.code == 0 || d.tkl != 4)
            continue;
        if (d.type == 0) {
            uint8_t ack[4] = {0x60, 0, (uint8_t)(d.mid >> 8), (uint8_t)d.mid};
            send(sock, ack, sizeof(ack), 0);
        }
        unsigned k = (unsigned)(d.tok[0] << 8 | d.tok[1]);
        if (k >= n || !sl[k].busy || memcmp(sl[k].tok, d.tok, 4))
            continue;
        struct oscore_msg inner;
        uint64_t t = now_us();
        if (oscore_unprotect_response(ctx, &sl[k].req, &d.m, &inner, pb, sizeof(pb)) < 0 ||
            (inner.code >> 5) != 2)
            nerr++;
        else if (nl < cap)
            lat[nl++] = t - sl[k].sent;
        sl[k].busy = false;
        load_send(ctx, code, path, sl, k, &mid);
    }
    double el = (double)(now_us() - start) / 1e6;
    qsort(lat, nl, sizeof(*lat), cmp_u64);
    printf("requests=%zu errors=%zu rps=%.0f p50_us=%llu p99_us=%llu\n", nl, nerr, nl / el,
           nl ? (unsigned long long)lat[nl / 2] : 0ull,
           nl ? (unsigned long long)lat[nl * 99 / 100] : 0ull);
    free(sl);
    free(lat);
    return 0;
}

static uint8_t code_of(const char *method)
{
    return !strcmp(method, "get")    ? 1
           : !strcmp(method, "post") ? 2
           : !strcmp(method, "put")  ? 3
                                     : 0;
}

/* The notifications of an observation registered with oreq and token tok
 * (see --observe above), then the deregistration. */
static int observe_run(struct oscore_ctx *ctx, const struct oscore_req *oreq, const uint8_t *tok,
                       size_t tkl, const char *path, long n, double wait_s)
{
    static uint8_t rbuf[MAX_DGRAM], pbuf[MAX_DGRAM], work[MAX_DGRAM], dgram[MAX_DGRAM];
    long got = 0;
    int bad = 0, ended = 0;
    uint64_t deadline = now_us() + (uint64_t)(wait_s * 1e6);
    while (got < n && !bad && !ended) {
        uint64_t now = now_us();
        if (now >= deadline)
            break;
        timeout_ms = (int)((deadline - now) / 1000) + 1;
        struct dgram d;
        if (receive(tok, tkl, rbuf, sizeof(rbuf), &d) < 0)
            break;
        const struct oscore_option *oo = find_opt(&d.m, OSCORE_OPT_OSCORE);
        const struct oscore_option *ob = find_opt(&d.m, OSCORE_OPT_OBSERVE);
        if (!oo) {
            print_code(d.code);
            printf(" %.*s (unprotected)\n", (int)d.m.payload_len, (const char *)d.m.payload);
            ended = 1;
            break;
        }
        struct oscore_option_value ov;
        if (oscore_option_decode(oo->value, oo->len, &ov) < 0 || !ov.piv) {
            printf("notification without a Partial IV\n");
            bad = 1;
            break;
        }
        if (verbose) {
            hexprint("piv", ov.piv, ov.piv_len);
            if (ob) {
                uint32_t v = 0;
                for (size_t i = 0; i < ob->len; i++)
                    v = v << 8 | ob->value[i];
                printf("observe %u\n", v);
            }
        }
        struct oscore_msg inner;
        int r = oscore_unprotect_response(ctx, oreq, &d.m, &inner, pbuf, sizeof(pbuf));
        if (r < 0) {
            printf("unprotect failed: %s\n", strerror(-r));
            bad = 1;
            break;
        }
        print_code(inner.code);
        printf(" %.*s\n", (int)inner.payload_len, (const char *)inner.payload);
        if (!ob)
            ended = 1;
        else
            got++;
    }
    timeout_ms = TIMEOUT_MS;
    if (observe_rst && !ended) {
        struct dgram d;
        no_ack = 1;
        timeout_ms = (int)(wait_s * 1000);
        if (receive(tok, tkl, rbuf, sizeof(rbuf), &d) == 0) {
            uint8_t rst[4] = {0x70, 0, (uint8_t)(d.mid >> 8), (uint8_t)d.mid};
            send(sock, rst, sizeof(rst), 0);
            printf("reset\n");
        } else {
            printf("reset timeout\n");
            bad = 1;
        }
        return got >= n && !bad ? 0 : 1;
    }
    if (observe_vanish) /* gone without a word: nothing acknowledged from now on */
        return got >= n && !bad ? 0 : 1;
    /* deregistration: the same token, an inner Observe 1 */
    struct oscore_msg plain = {.code = 1};
    static const uint8_t one = 1;
    plain.opts[plain.n_opts++] =
            (struct oscore_option){.number = OSCORE_OPT_OBSERVE, .len = 1, .value = &one};
    char *segs = strdup(path ? path : "");
    for (char *sp = NULL, *seg = strtok_r(segs, "/", &sp); seg; seg = strtok_r(NULL, "/", &sp))
        plain.opts[plain.n_opts++] = (struct oscore_option){
                .number = 11, .len = (uint16_t)strlen(seg), .value = (const uint8_t *)seg};
    struct oscore_msg outer;
    struct oscore_req dreq;
    size_t dl = 0;
    int r = oscore_protect_request(ctx, &plain, &outer, work, sizeof(work), &dreq);
    uint16_t mid = (uint16_t)(rand() ^ getpid());
    if (r == 0 && !ended)
        r = encode(0, outer.code, mid, tok, tkl, &outer, dgram, sizeof(dgram), &dl);
    if (r == 0 && !ended) {
        send(sock, dgram, dl, 0);
        struct dgram d;
        /* notifications still under way carry the same token: skip them */
        for (int k = 0; k < 8; k++) {
            if (receive(tok, tkl, rbuf, sizeof(rbuf), &d) < 0) {
                printf("deregistered timeout\n");
                break;
            }
            struct oscore_msg inner;
            if (find_opt(&d.m, OSCORE_OPT_OSCORE) &&
                oscore_unprotect_response(ctx, &dreq, &d.m, &inner, pbuf, sizeof(pbuf)) == 0) {
                printf("deregistered ");
                print_code(inner.code);
                printf("\n");
                break;
            }
        }
    }
    free(segs);
    return got >= n && !bad ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *file = NULL, *name = NULL, *method = "get", *payload = NULL;
    long format = -1;
    unsigned long long seq = 0;
    int no_echo = 0, replay = 0, tamper = 0;
    const char *save = NULL, *resend = NULL;
    double load = 0;
    unsigned inflight = 16;
    setvbuf(stdout, NULL, _IOLBF, 0); /* --observe: lines as they come (tests poll the output) */
    static const struct option lo[] = {{"no-echo", no_argument, NULL, 'E'},
                                       {"load", required_argument, NULL, 'L'},
                                       {"inflight", required_argument, NULL, 'I'},
                                       {"save", required_argument, NULL, 'S'},
                                       {"resend", required_argument, NULL, 'X'},
                                       {"replay", no_argument, NULL, 'R'},
                                       {"tamper", no_argument, NULL, 'T'},
                                       {"target", required_argument, NULL, 'G'},
                                       {"cacert", required_argument, NULL, 'C'},
                                       {"observe", required_argument, NULL, 'O'},
                                       {"wait", required_argument, NULL, 'W'},
                                       {"rst", no_argument, NULL, 'r'},
                                       {"no-size1", no_argument, NULL, 'Z'},
                                       {"vanish", no_argument, NULL, 'V'},
                                       {NULL, 0, NULL, 0}};
    long observe = -1;
    double wait_s = 10;
    int o;
    while ((o = getopt_long(argc, argv, "f:n:m:e:t:s:vH:", lo, NULL)) != -1) {
        switch (o) {
        case 'f': file = optarg; break;
        case 'n': name = optarg; break;
        case 'm': method = optarg; break;
        case 'e': payload = optarg; break;
        case 't': format = strtol(optarg, NULL, 10); break;
        case 's': seq = strtoull(optarg, NULL, 10); break;
        case 'v': verbose = 1; break;
        case 'E': no_echo = 1; break;
        case 'Z': no_size1 = 1; break;
        case 'V': observe_vanish = 1; break;
        case 'R': replay = 1; break;
        case 'T': tamper = 1; break;
        case 'S': save = optarg; break;
        case 'L': load = strtod(optarg, NULL); break;
        case 'I': inflight = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'X': resend = optarg; break;
        case 'G': http_target = optarg; break;
        case 'C': http_cacert = optarg; break;
        case 'H': http_headers = curl_slist_append(http_headers, optarg); break;
        case 'O': observe = strtol(optarg, NULL, 10); break;
        case 'W': wait_s = strtod(optarg, NULL); break;
        case 'r': observe_rst = 1; break;
        default: return 2;
        }
    }
    int https = optind == argc - 1 && !strncmp(argv[optind], "https://", 8);
    if (!file || !name || optind != argc - 1 || (!https && strncmp(argv[optind], "coap://", 7)) ||
        (https && (load > 0 || save || resend || observe >= 0)) ||
        (observe >= 0 && (code_of(method) != 1 || replay || load > 0 || resend))) {
        fprintf(stderr,
                "usage: %s -f CONTEXTS -n NAME [-m get|put|post] [-e PAYLOAD] [-t FORMAT] "
                "[-s SEQ] [--no-echo] [--replay] [--tamper] [-v] coap://IP:PORT/PATH\n"
                "       %s ... [--target PATH] [--cacert FILE] [-H HEADER]... "
                "https://HOST:PORT/PATH\n",
                argv[0], argv[0]);
        return 2;
    }
    uint8_t code = code_of(method);
    if (!code)
        return 2;

    /* the context, seen from the client */
    struct oscore_ctx_store *store = NULL;
    struct diags dg = {0};
    if (oscore_ctx_load(file, &store, &dg) < 0) {
        for (size_t i = 0; i < dg.n; i++)
            fprintf(stderr, "%s: %s\n", dg.v[i].file, dg.v[i].msg);
        return 1;
    }
    diag_free(&dg);
    const struct oscore_ctx_entry *e = oscore_ctx_find(store, name);
    if (!e) {
        fprintf(stderr, "no context %s\n", name);
        return 1;
    }
    struct oscore_ctx_params cp = {
            .master_secret = e->master_secret,
            .master_secret_len = e->master_secret_len,
            .master_salt = e->master_salt_len ? e->master_salt : NULL,
            .master_salt_len = e->master_salt_len,
            .sender_id = e->recipient_id,
            .sender_id_len = e->recipient_id_len,
            .recipient_id = e->sender_id,
            .recipient_id_len = e->sender_id_len,
            .id_context = e->has_id_context ? e->id_context : NULL,
            .id_context_len = e->id_context_len,
            .send_kid_context = e->has_id_context,
            .seq_start = seq,
    };
    struct oscore_ctx *ctx = NULL;
    if (oscore_ctx_new(&cp, &ctx) < 0) {
        fprintf(stderr, "bad context\n");
        return 1;
    }
    oscore_ctx_store_free(store);

    /* the address and the Uri-Path options */
    char *url = strdup(argv[optind] + (https ? 8 : 7));
    char *path = strchr(url, '/');
    if (path)
        *path++ = '\0';
    static char origin[512];
    if (https) {
        snprintf(origin, sizeof(origin), "https://%s", url);
        http_origin = origin;
        curl_global_init(CURL_GLOBAL_DEFAULT);
    }
    char *colon = https ? NULL : strrchr(url, ':');
    if (https)
        goto connected;
    if (!colon)
        return 2;
    *colon = '\0';
    memset(&peer, 0, sizeof(peer));
    peer.sin_family = AF_INET;
    peer.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, url, &peer.sin_addr) != 1)
        return 2;
    sock = socket(AF_INET, SOCK_DGRAM, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&peer, sizeof(peer)) < 0)
        return 1;

connected:
    if (resend) { /* a kept datagram, as it was */
        static uint8_t kept[MAX_DGRAM], ans[MAX_DGRAM];
        FILE *f = fopen(resend, "rb");
        size_t kl = f ? fread(kept, 1, sizeof(kept), f) : 0;
        if (f)
            fclose(f);
        int ok = kl >= 4;
        struct dgram d;
        if (ok) {
            uint16_t mid = (uint16_t)(rand() ^ getpid());
            kept[2] = (uint8_t)(mid >> 8);
            kept[3] = (uint8_t)mid;
            send(sock, kept, kl, 0);
            ok = receive(kept + 4, kept[0] & 15, ans, sizeof(ans), &d) == 0;
            if (!ok)
                printf("timeout\n");
        }
        if (ok) {
            print_code(d.code);
            printf(find_opt(&d.m, OSCORE_OPT_OSCORE) ? " (protected)\n" : " %.*s (unprotected)\n",
                   (int)d.m.payload_len, (const char *)d.m.payload);
        }
        oscore_ctx_free(ctx);
        free(url);
        close(sock);
        return ok ? 0 : 1;
    }
    uint8_t fmt[2];
    uint8_t echo[64];
    size_t echo_len = 0;
    static uint8_t dgram[MAX_DGRAM], rbuf[MAX_DGRAM], work[MAX_DGRAM], pbuf[MAX_BODY];
    static uint8_t body[MAX_BODY];
    int rc = 1, registered = 0;
    if (observe >= 0) /* the first response may wait for the device's next value */
        timeout_ms = (int)(wait_s * 1000);
    for (int attempt = 0; attempt < 2; attempt++) {
        struct oscore_msg plain = {.code = code};
        static const uint8_t zero = 0;
        if (observe >= 0) /* Observe 0 (registration), before Uri-Path */
            plain.opts[plain.n_opts++] =
                    (struct oscore_option){.number = OSCORE_OPT_OBSERVE, .len = 0, .value = &zero};
        char *segs = path ? strdup(path) : strdup("");
        for (char *sp = NULL, *seg = strtok_r(segs, "/", &sp); seg; seg = strtok_r(NULL, "/", &sp))
            plain.opts[plain.n_opts++] = (struct oscore_option){
                    .number = 11, .len = (uint16_t)strlen(seg), .value = (const uint8_t *)seg};
        if (format >= 0) {
            size_t fl = 0;
            if (format > 255) {
                fmt[fl++] = (uint8_t)(format >> 8);
                fmt[fl++] = (uint8_t)format;
            } else if (format > 0) {
                fmt[fl++] = (uint8_t)format;
            }
            plain.opts[plain.n_opts++] =
                    (struct oscore_option){.number = 12, .len = (uint16_t)fl, .value = fmt};
        }
        if (echo_len)
            plain.opts[plain.n_opts++] = (struct oscore_option){
                    .number = ECHO_OPT, .len = (uint16_t)echo_len, .value = echo};
        if (payload) {
            plain.payload = (const uint8_t *)payload;
            plain.payload_len = strlen(payload);
        }
        struct oscore_msg outer;
        struct oscore_req oreq;
        int r = oscore_protect_request(ctx, &plain, &outer, work, sizeof(work), &oreq);
        if (r < 0) {
            fprintf(stderr, "protect: %s\n", strerror(-r));
            return 1;
        }
        uint8_t tok[4];
        uint16_t mid = (uint16_t)(rand() ^ getpid());
        for (size_t i = 0; i < sizeof(tok); i++)
            tok[i] = (uint8_t)rand();
        size_t dl = 0;
        if (encode(0, outer.code, mid, tok, sizeof(tok), &outer, dgram, sizeof(dgram), &dl) < 0)
            return 1;
        if (tamper)
            dgram[dl - 1] ^= 0x01;
        if (save) {
            FILE *f = fopen(save, "wb");
            if (!f || fwrite(dgram, 1, dl, f) != dl) {
                fprintf(stderr, "cannot write %s\n", save);
                return 1;
            }
            fclose(f);
        }
        free(segs);
        if (verbose) {
            const struct oscore_option *so = find_opt(&outer, OSCORE_OPT_OSCORE);
            hexprint("sent-option", so ? so->value : NULL, so ? so->len : 0);
            hexprint("sent-payload", outer.payload, outer.payload_len);
        }
        int rounds = replay ? 2 : 1;
        int challenged = 0;
        for (int k = 0; k < rounds; k++) {
            if (k) { /* the same bytes again, with a new message ID only */
                mid++;
                dgram[2] = (uint8_t)(mid >> 8);
                dgram[3] = (uint8_t)mid;
            }
            struct dgram d;
            if (https) {
                if (http_exchange(&outer, tamper, rbuf, sizeof(rbuf), &d) < 0) {
                    printf("timeout\n");
                    continue;
                }
            } else if (outer.payload_len > BLOCK1_SIZE) {
                int b1 = send_blocks1(&outer, &mid, tok, sizeof(tok), rbuf, sizeof(rbuf), &d);
                if (b1 == -ETIMEDOUT || b1 == -E2BIG) {
                    printf("%s\n", b1 == -ETIMEDOUT ? "timeout" : "request too large");
                    continue;
                }
                int br = b1 < 0 ? 0
                                : fetch_blocks(&outer, &mid, tok, sizeof(tok), &d, body,
                                               sizeof(body));
                if (br < 0) {
                    printf("%s\n", br == -ETIMEDOUT ? "timeout" : "bad block-wise answer");
                    continue;
                }
            } else {
                send(sock, dgram, dl, 0);
                if (receive(tok, sizeof(tok), rbuf, sizeof(rbuf), &d) < 0) {
                    printf("timeout\n");
                    continue;
                }
                int br = fetch_blocks(&outer, &mid, tok, sizeof(tok), &d, body, sizeof(body));
                if (br < 0) {
                    printf("%s\n", br == -ETIMEDOUT ? "timeout" : "bad block-wise answer");
                    continue;
                }
            }
            if (verbose) {
                printf("outer ");
                print_code(d.code);
                printf("\n");
                const struct oscore_option *ro = find_opt(&d.m, OSCORE_OPT_OSCORE);
                if (ro)
                    hexprint("recv-option", ro->value, ro->len);
                hexprint("recv-payload", d.m.payload, d.m.payload_len);
            }
            const struct oscore_option *oo = find_opt(&d.m, OSCORE_OPT_OSCORE);
            if (!oo && https) {
                printf("HTTP %u%02u %.*s (unprotected)\n", d.code >> 5, d.code & 31,
                       (int)d.m.payload_len, (const char *)d.m.payload);
                rc = 0;
                continue;
            }
            if (!oo) {
                print_code(d.code);
                printf(" %.*s (unprotected)\n", (int)d.m.payload_len, (const char *)d.m.payload);
                rc = 0;
                continue;
            }
            struct oscore_option_value ov;
            if (verbose && oscore_option_decode(oo->value, oo->len, &ov) == 0 && ov.piv)
                hexprint("piv", ov.piv, ov.piv_len);
            struct oscore_msg inner;
            r = oscore_unprotect_response(ctx, &oreq, &d.m, &inner, pbuf, sizeof(pbuf));
            if (r < 0) {
                printf("unprotect failed: %s\n", strerror(-r));
                continue;
            }
            const struct oscore_option *eo = find_opt(&inner, ECHO_OPT);
            if (inner.code == 0x81 && eo && !no_echo && !echo_len && eo->len <= sizeof(echo)) {
                memcpy(echo, eo->value, eo->len);
                echo_len = eo->len;
                printf("echo\n");
                challenged = 1;
                break;
            }
            const struct oscore_option *ob = find_opt(&d.m, OSCORE_OPT_OBSERVE);
            if (observe >= 0 && verbose && ob) {
                uint32_t v = 0;
                for (size_t i = 0; i < ob->len; i++)
                    v = v << 8 | ob->value[i];
                printf("observe %u\n", v);
            }
            print_code(inner.code);
            printf(" %.*s\n", (int)inner.payload_len, (const char *)inner.payload);
            rc = 0;
            registered = ob != NULL;
        }
        if (!challenged && observe >= 0 && rc == 0) {
            if (!registered) {
                printf("not registered\n");
                rc = 1;
            } else {
                rc = observe_run(ctx, &oreq, tok, sizeof(tok), path, observe, wait_s);
            }
        }
        if (!challenged)
            break;
    }
    if (load > 0 && rc == 0)
        rc = run_load(ctx, code, path, load, inflight ? inflight : 1);
    oscore_ctx_free(ctx);
    free(url);
    if (sock >= 0)
        close(sock);
    curl_slist_free_all(http_headers);
    if (https)
        curl_global_cleanup();
    return rc;
}
