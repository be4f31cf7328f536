/* coap-load.c - a small CoAP load generator on libcoap (not part of the
 * build; tests/bench/coaps.sh compiles it): S client sessions, each with
 * one confirmable GET in flight at a time (libcoap keeps NSTART = 1 per
 * session, RFC 7252 §4.7), for D seconds; prints requests/s and the
 * p50 / p99 latency in microseconds as one line:
 *
 *   coap-load [-s SESSIONS] [-d SECONDS] [-u IDENTITY -k KEY] URL
 *   -> "requests=N errors=N rps=R p50_us=A p99_us=B"
 *
 * URL is coap://IP:PORT/path or coaps://IP:PORT/path (PSK with -u/-k, the
 * key as text like coap-client's -k). A response other than 2.xx counts as
 * an error. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct sess {
    coap_session_t *s;
    uint8_t token[8];
    size_t token_len;
    uint64_t sent_us;
};

static struct sess *sessions;
static size_t n_sessions;
static coap_uri_t uri;
static uint8_t path_buf[512];
static size_t path_len;
static uint64_t *lat;
static size_t n_lat, cap_lat, n_err;
static int running = 1;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void send_one(struct sess *x)
{
    coap_pdu_t *p = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET,
                                  coap_new_message_id(x->s), coap_session_max_pdu_size(x->s));
    if (!p)
        return;
    coap_session_new_token(x->s, &x->token_len, x->token);
    coap_add_token(p, x->token_len, x->token);
    /* path_buf holds the path without its leading '/': one option a segment */
    const uint8_t *b = path_buf, *end = path_buf + path_len;
    while (b < end) {
        const uint8_t *slash = memchr(b, '/', (size_t)(end - b));
        const uint8_t *se = slash ? slash : end;
        coap_add_option(p, COAP_OPTION_URI_PATH, (size_t)(se - b), b);
        b = se + 1;
    }
    x->sent_us = now_us();
    coap_send(x->s, p);
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
                                   const coap_pdu_t *recv, const coap_mid_t mid)
{
    struct sess *x = coap_session_get_app_data(s);
    (void)sent;
    (void)mid;
    if (!x)
        return COAP_RESPONSE_OK;
    coap_bin_const_t t = coap_pdu_get_token(recv);
    if (t.length != x->token_len || memcmp(t.s, x->token, t.length))
        return COAP_RESPONSE_OK;
    uint64_t d = now_us() - x->sent_us;
    if ((coap_pdu_get_code(recv) >> 5) != 2) {
        if (!n_err && getenv("COAP_LOAD_DEBUG"))
            fprintf(stderr, "coap-load: first error: %u.%02u\n", coap_pdu_get_code(recv) >> 5,
                    coap_pdu_get_code(recv) & 31);
        n_err++;
    }
    if (n_lat == cap_lat) {
        cap_lat = cap_lat ? cap_lat * 2 : 65536;
        lat = realloc(lat, cap_lat * sizeof(*lat));
        if (!lat)
            exit(1);
    }
    lat[n_lat++] = d;
    if (running)
        send_one(x);
    return COAP_RESPONSE_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *ident = NULL, *key = NULL;
    unsigned secs = 5;
    int c;
    n_sessions = 16;
    while ((c = getopt(argc, argv, "s:d:u:k:")) != -1) {
        switch (c) {
        case 's': n_sessions = strtoul(optarg, NULL, 10); break;
        case 'd': secs = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'u': ident = optarg; break;
        case 'k': key = optarg; break;
        default: return 2;
        }
    }
    if (optind != argc - 1 || !n_sessions) {
        fprintf(stderr, "usage: coap-load [-s SESSIONS] [-d SECONDS] [-u ID -k KEY] URL\n");
        return 2;
    }
    const char *url = argv[optind];
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    if (coap_split_uri((const uint8_t *)url, strlen(url), &uri) < 0) {
        fprintf(stderr, "coap-load: bad URL\n");
        return 2;
    }
    path_len = uri.path.length < sizeof(path_buf) ? uri.path.length : 0;
    memcpy(path_buf, uri.path.s, path_len);
    coap_address_t dst;
    coap_address_init(&dst);
    char host[64];
    snprintf(host, sizeof(host), "%.*s", (int)uri.host.length, (const char *)uri.host.s);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons(uri.port);
    if (inet_pton(AF_INET, host, &dst.addr.sin.sin_addr) != 1) {
        fprintf(stderr, "coap-load: the host must be an IPv4 address\n");
        return 2;
    }
    dst.size = sizeof(dst.addr.sin);
    coap_context_t *ctx = coap_new_context(NULL);
    coap_register_response_handler(ctx, on_response);
    sessions = calloc(n_sessions, sizeof(*sessions));
    bool dtls = uri.scheme == COAP_URI_SCHEME_COAPS;
    for (size_t i = 0; i < n_sessions; i++) {
        if (dtls) {
            static coap_dtls_cpsk_t cp;
            memset(&cp, 0, sizeof(cp));
            cp.version = COAP_DTLS_CPSK_SETUP_VERSION;
            cp.psk_info.identity.s = (const uint8_t *)ident;
            cp.psk_info.identity.length = ident ? strlen(ident) : 0;
            cp.psk_info.key.s = (const uint8_t *)key;
            cp.psk_info.key.length = key ? strlen(key) : 0;
            sessions[i].s = coap_new_client_session_psk2(ctx, NULL, &dst, COAP_PROTO_DTLS, &cp);
        } else {
            sessions[i].s = coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
        }
        if (!sessions[i].s) {
            fprintf(stderr, "coap-load: cannot create session %zu\n", i);
            return 1;
        }
        coap_session_set_app_data(sessions[i].s, &sessions[i]);
    }
    /* warm up: one request per session (DTLS handshakes), not counted */
    for (size_t i = 0; i < n_sessions; i++)
        send_one(&sessions[i]);
    uint64_t warm_end = now_us() + 3000000u;
    while (n_lat < n_sessions && now_us() < warm_end)
        coap_io_process(ctx, 100);
    n_lat = 0;
    n_err = 0;
    uint64_t t0 = now_us(), end = t0 + (uint64_t)secs * 1000000u;
    while (now_us() < end)
        coap_io_process(ctx, 100);
    running = 0;
    double elapsed = (double)(now_us() - t0) / 1e6;
    size_t n = n_lat;
    qsort(lat, n, sizeof(*lat), cmp_u64);
    printf("requests=%zu errors=%zu rps=%.0f p50_us=%llu p99_us=%llu\n", n, n_err, n / elapsed,
           n ? (unsigned long long)lat[n / 2] : 0ull,
           n ? (unsigned long long)lat[(n * 99) / 100] : 0ull);
    for (size_t i = 0; i < n_sessions; i++)
        coap_session_release(sessions[i].s);
    coap_free_context(ctx);
    free(sessions);
    free(lat);
    return 0;
}
