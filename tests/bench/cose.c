/* cose.c - COSE message rates of wotgw's own library (src/objsec/cose.h),
 * single thread (not part of the build; tests/bench/cose.sh compiles it
 * against build/libwotgw.a and sets it against `openssl speed`).
 *
 *   cose-bench [-d SECONDS] [-b PAYLOAD_BYTES]
 *
 * For each algorithm a fresh key (with a kid) is generated, then for
 * SECONDS each: create a message over a PAYLOAD_BYTES (64) payload, and
 * verify (or decrypt) one such message again and again. Sign1: ES256
 * (P-256) and EdDSA (Ed25519); Mac0: HMAC 256/64; Encrypt0:
 * AES-CCM-16-64-128 (a fresh random IV per message, as in real use).
 * Prints one line per measurement:
 *
 *   ours ALG OP OPS_PER_SECOND COUNT
 *
 * with OP sign/verify (Sign1), mac/check (Mac0), encrypt/decrypt
 * (Encrypt0). Exits non-zero if any operation fails. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "objsec/cose.h"
#include "objsec/cose_key.h"

static double seconds = 3.0;
static size_t payload_len = 64;
static uint8_t payload[4096];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum op { OP_CREATE, OP_CHECK };

/* One COSE operation; 0 or a negative errno. */
static int once(enum cose_type type, enum op op, const struct cose_key *key,
                const struct cose_params *p, uint8_t *msg, size_t *msg_len, size_t cap)
{
    static uint8_t pt[4096 + COSE_OVERHEAD];
    size_t pt_len;
    switch (type) {
    case COSE_SIGN1:
        return op == OP_CREATE ? cose_sign1_create(key, p, payload, payload_len, msg, cap, msg_len)
                               : cose_sign1_verify(key, msg, *msg_len, NULL, NULL);
    case COSE_MAC0:
        return op == OP_CREATE ? cose_mac0_create(key, p, payload, payload_len, msg, cap, msg_len)
                               : cose_mac0_verify(key, msg, *msg_len, NULL, NULL);
    case COSE_ENCRYPT0:
        if (op == OP_CREATE)
            return cose_encrypt0_create(key, p, payload, payload_len, msg, cap, msg_len);
        int r = cose_encrypt0_decrypt(key, msg, *msg_len, NULL, pt, sizeof pt, &pt_len, NULL);
        if (r == 0 && (pt_len != payload_len || memcmp(pt, payload, pt_len) != 0))
            r = -EBADMSG;
        return r;
    default: return -EINVAL;
    }
}

static int measure(const char *name, int64_t alg, enum cose_type type, const char *op_create,
                   const char *op_check)
{
    static const uint8_t kid[] = "bench-key";
    struct cose_key *key = NULL;
    int r = cose_key_generate(alg, kid, sizeof kid - 1, &key);
    if (r < 0) {
        fprintf(stderr, "cose-bench: %s: key generation: %s\n", name, strerror(-r));
        return -1;
    }
    struct cose_params p = {.alg = alg, .kid = kid, .kid_len = sizeof kid - 1};
    static uint8_t msg[sizeof payload + COSE_OVERHEAD];
    size_t msg_len = 0;
    for (int o = OP_CREATE; o <= OP_CHECK; o++) {
        /* a warm-up call, which also leaves a message for OP_CHECK */
        r = once(type, OP_CREATE, key, &p, msg, &msg_len, sizeof msg);
        if (r == 0 && o == OP_CHECK)
            r = once(type, OP_CHECK, key, &p, msg, &msg_len, sizeof msg);
        if (r < 0)
            break;
        unsigned long n = 0;
        double t0 = now_s(), t = t0, end = t0 + seconds;
        while (t < end) {
            for (int i = 0; i < 16; i++) {
                size_t len = msg_len;
                r = once(type, o, key, &p, msg, &len, sizeof msg);
                if (r < 0)
                    break;
                if (o == OP_CREATE)
                    msg_len = len;
                n++;
            }
            if (r < 0)
                break;
            t = now_s();
        }
        if (r < 0)
            break;
        printf("ours %s %s %.1f %lu\n", name, o == OP_CREATE ? op_create : op_check,
               (double)n / (t - t0), n);
        fflush(stdout);
    }
    cose_key_free(key);
    if (r < 0) {
        fprintf(stderr, "cose-bench: %s: %s\n", name, strerror(-r));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "d:b:")) != -1) {
        switch (c) {
        case 'd': seconds = atof(optarg); break;
        case 'b': payload_len = (size_t)atol(optarg); break;
        default: fprintf(stderr, "usage: cose-bench [-d SECONDS] [-b PAYLOAD_BYTES]\n"); return 2;
        }
    }
    if (seconds <= 0 || payload_len > sizeof payload) {
        fprintf(stderr, "cose-bench: bad -d or -b (payload at most %zu bytes)\n", sizeof payload);
        return 2;
    }
    for (size_t i = 0; i < payload_len; i++)
        payload[i] = (uint8_t)(i * 7 + 1);
    int bad = 0;
    bad |= measure("ES256", COSE_ALG_ES256, COSE_SIGN1, "sign", "verify");
    bad |= measure("EdDSA", COSE_ALG_EDDSA, COSE_SIGN1, "sign", "verify");
    bad |= measure("HMAC256/64", COSE_ALG_HMAC256_64, COSE_MAC0, "mac", "check");
    bad |= measure("AES-CCM-16-64-128", COSE_ALG_AES_CCM_16_64_128, COSE_ENCRYPT0, "encrypt",
                   "decrypt");
    return bad ? 1 : 0;
}
