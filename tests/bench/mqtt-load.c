/* mqtt-load.c - a small MQTT 5 load generator on libmosquitto (not part of
 * the build; tests/bench/mqtt.sh compiles it). One thread, one poll loop
 * over its connections; every message carries its sequence number as
 * MQTT 5 correlation data, so latencies are exact per message.
 *
 *   mqtt-load stream [OPTIONS]   a publisher and a subscriber: QoS 1
 *                                PUBLISH to TOPIC, latency = publish call
 *                                -> delivery to the subscriber
 *   mqtt-load rr [OPTIONS]       one client: QoS 1 PUBLISH to TOPIC with a
 *                                response topic (MQTT 5 request/response),
 *                                latency = publish call -> the response
 *
 * Options:
 *   -h HOST -p PORT          the broker (publisher / requester)
 *   -s PORT                  stream: the subscriber's port (default -p)
 *   --cafile FILE            TLS 1.3 for the publisher (and -S for the sub)
 *   -S                       stream: the subscriber uses TLS too
 *   -i ID -u USER            publisher client id / user name; its password
 *                            from the environment variable MQ_PUB_PW
 *   -I ID -U USER            subscriber client id / user name; password
 *                            from MQ_SUB_PW (stream)
 *   -t TOPIC                 the topic published to
 *   -T TOPIC                 the subscribed topic (stream: default -t;
 *                            rr: the response topic, also sent as such)
 *   -m PAYLOAD               the payload (default empty)
 *   -w WINDOW                messages in flight end to end (default 16)
 *   -n N                     at most N measured messages (default 100000)
 *   -d SECONDS               at most SECONDS of measurement (default 5)
 *   -W N                     warm-up messages, not counted (default 200)
 *   -c NAME=PID              CPU time of process PID (all its threads,
 *                            /proc/PID/task/TID/schedstat) over the
 *                            measurement, per message; repeatable
 *
 * Prints one line:
 *   "ok=N errors=N secs=S rate=R p50_us=A p99_us=B cpu_load_us=L [cpu_NAME_us=C ...]"
 * (cpu_load_us: this load client's own CPU per message)
 * errors: PUBACK reason >= 128, or (rr) a response whose user property
 * wotgw-status is not 2xx. Exits 1 when nothing was measured, on any
 * error, or when nothing progressed for 10 s. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#define MAX_CPU 4

static struct {
    bool rr;
    const char *host, *cafile, *topic, *sub_topic, *payload;
    int port, sub_port;
    bool sub_tls;
    const char *pub_id, *pub_user, *sub_id, *sub_user;
    long window, n_max, warmup;
    double secs;
    int n_cpu;
    const char *cpu_name[MAX_CPU];
    int cpu_pid[MAX_CPU];
} opt = {.host = "127.0.0.1",
         .payload = "",
         .pub_id = "bench-pub",
         .sub_id = "bench-sub",
         .window = 16,
         .n_max = 100000,
         .warmup = 200,
         .secs = 5};

static struct mosquitto *pub, *sub;
static int pub_connected, sub_ready; /* 0 waiting, 1 ok, -1 refused */
static uint64_t *sent_at;            /* by sequence number; 0: not sent */
static uint8_t *done;                /* by sequence number */
static uint32_t *lat;                /* measured latencies, us */
static long cap, n_sent, n_lat, n_err, in_flight, n_done;
static uint64_t t_start, t_end, last_progress;
static long mid_seq[65536]; /* the publisher's message ids -> sequence numbers */
static bool measuring, stop_sending;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "mqtt-load: %s: %s\n", what, rc ? mosquitto_strerror(rc) : strerror(errno));
    exit(1);
}

/* CPU nanoseconds of every thread of pid (the first field of schedstat) */
static uint64_t cpu_ns(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[300];
        snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", pid, e->d_name);
        FILE *f = fopen(p, "r");
        unsigned long long ns;
        if (f && fscanf(f, "%llu", &ns) == 1)
            sum += ns;
        if (f)
            fclose(f);
    }
    closedir(d);
    return sum;
}

static uint64_t cpu_before[MAX_CPU];
static uint64_t self_before;

/* this process's CPU nanoseconds */
static uint64_t self_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* a message came back: the delivery (stream) or the response (rr) */
static void complete(long seq, bool ok)
{
    if (seq < 0 || seq >= n_sent || done[seq])
        return; /* unknown or a QoS 1 duplicate */
    done[seq] = 1;
    in_flight--;
    n_done++;
    uint64_t t = now_us();
    last_progress = t;
    if (!ok)
        n_err++;
    if (measuring && seq >= opt.warmup) {
        if (ok)
            lat[n_lat++] = (uint32_t)(t - sent_at[seq]);
        t_end = t;
    }
}

static long seq_of(const mosquitto_property *props)
{
    void *cd = NULL;
    uint16_t len = 0;
    if (!mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &cd, &len, false))
        return -1;
    long seq = -1;
    if (len == 8) {
        uint64_t v;
        memcpy(&v, cd, 8);
        seq = (long)v;
    }
    free(cd);
    return seq;
}

static void on_connect(struct mosquitto *m, void *ud, int rc, int flags,
                       const mosquitto_property *p)
{
    (void)ud, (void)flags, (void)p;
    if (m == pub)
        pub_connected = rc == 0 ? 1 : -1;
    if (rc != 0) {
        fprintf(stderr, "mqtt-load: CONNACK %d (%s)\n", rc, mosquitto_reason_string(rc));
        return;
    }
    if (m == sub || opt.rr) {
        const char *t = opt.sub_topic ? opt.sub_topic : opt.topic;
        int r = mosquitto_subscribe_v5(m, NULL, t, 1, 0, NULL);
        if (r)
            die("subscribe", r);
    }
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted,
                         const mosquitto_property *p)
{
    (void)m, (void)ud, (void)mid, (void)p;
    sub_ready = n == 1 && granted[0] == 1 ? 1 : -1;
    if (sub_ready < 0)
        fprintf(stderr, "mqtt-load: SUBACK %d\n", n ? granted[0] : -1);
}

static void on_publish(struct mosquitto *m, void *ud, int mid, int reason,
                       const mosquitto_property *p)
{
    (void)m, (void)ud, (void)p;
    if (reason >= 128) {
        fprintf(stderr, "mqtt-load: PUBACK %d (%s)\n", reason, mosquitto_reason_string(reason));
        /* nothing will come back for it */
        complete(mid_seq[mid & 0xffff], false);
    }
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
    (void)m, (void)ud, (void)msg;
    bool ok = true;
    if (opt.rr) {
        char *name = NULL, *value = NULL;
        const mosquitto_property *pr = props;
        bool skip = false;
        ok = false;
        while ((pr = mosquitto_property_read_string_pair(pr, MQTT_PROP_USER_PROPERTY, &name, &value,
                                                         skip))) {
            if (!strcmp(name, "wotgw-status") && value[0] == '2')
                ok = true;
            free(name);
            free(value);
            name = value = NULL;
            skip = true;
        }
    }
    complete(seq_of(props), ok);
}

static void send_one(void)
{
    long seq = n_sent;
    uint64_t v = (uint64_t)seq;
    mosquitto_property *props = NULL;
    if (mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, &v, 8))
        die("property", MOSQ_ERR_NOMEM);
    if (opt.rr && mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, opt.sub_topic))
        die("property", MOSQ_ERR_NOMEM);
    sent_at[seq] = now_us();
    n_sent++;
    in_flight++;
    int mid = 0;
    int r = mosquitto_publish_v5(pub, &mid, opt.topic, (int)strlen(opt.payload), opt.payload, 1,
                                 false, props);
    mosquitto_property_free_all(&props);
    if (r)
        die("publish", r);
    mid_seq[mid & 0xffff] = seq; /* fewer than 65535 in flight: unique */
}

static struct mosquitto *client(const char *id, const char *user, const char *pw_env, int port,
                                bool tls)
{
    struct mosquitto *m = mosquitto_new(id, true, NULL);
    if (!m)
        die("mosquitto_new", MOSQ_ERR_NOMEM);
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    /* the end-to-end window is ours; the client never holds messages back */
    mosquitto_int_option(m, MOSQ_OPT_SEND_MAXIMUM, 65535);
    mosquitto_int_option(m, MOSQ_OPT_RECEIVE_MAXIMUM, 65535);
    /* as wotgw's own client: no Nagle delay of a PUBLISH behind a PUBACK */
    mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    const char *pw = getenv(pw_env);
    if (user && mosquitto_username_pw_set(m, user, pw))
        die("username_pw_set", MOSQ_ERR_INVAL);
    if (tls) {
        int r = mosquitto_tls_set(m, opt.cafile, NULL, NULL, NULL, NULL);
        if (!r)
            r = mosquitto_tls_opts_set(m, 1, "tlsv1.3", NULL);
        if (r)
            die("tls_set", r);
    }
    mosquitto_connect_v5_callback_set(m, on_connect);
    mosquitto_subscribe_v5_callback_set(m, on_subscribe);
    mosquitto_publish_v5_callback_set(m, on_publish);
    mosquitto_message_v5_callback_set(m, on_message);
    int r = mosquitto_connect_bind_v5(m, opt.host, port, 60, NULL, NULL);
    if (r)
        die("connect", r);
    return m;
}

/* one round of the poll loop over the connections, at most ms long */
static void loop_once(int ms)
{
    struct mosquitto *ms_[2] = {pub, sub};
    struct pollfd pf[2];
    int n = 0;
    for (int i = 0; i < 2; i++) {
        if (!ms_[i])
            continue;
        pf[n].fd = mosquitto_socket(ms_[i]);
        pf[n].events = POLLIN | (mosquitto_want_write(ms_[i]) ? POLLOUT : 0);
        pf[n].revents = 0;
        n++;
    }
    if (poll(pf, (nfds_t)n, ms) < 0 && errno != EINTR)
        die("poll", 0);
    n = 0;
    for (int i = 0; i < 2; i++) {
        if (!ms_[i])
            continue;
        int r = MOSQ_ERR_SUCCESS;
        if (pf[n].revents & (POLLIN | POLLHUP | POLLERR))
            r = mosquitto_loop_read(ms_[i], 1000);
        if (!r && (pf[n].revents & POLLOUT || mosquitto_want_write(ms_[i])))
            r = mosquitto_loop_write(ms_[i], 1000);
        if (!r)
            r = mosquitto_loop_misc(ms_[i]);
        if (r)
            die(ms_[i] == pub ? "publisher connection" : "subscriber connection", r);
        n++;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "stream") && strcmp(argv[1], "rr"))) {
        fprintf(stderr, "usage: mqtt-load stream|rr [OPTIONS] (see the source)\n");
        return 2;
    }
    opt.rr = !strcmp(argv[1], "rr");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-S")) {
            opt.sub_tls = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "mqtt-load: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "-h"))
            opt.host = v;
        else if (!strcmp(a, "-p"))
            opt.port = atoi(v);
        else if (!strcmp(a, "-s"))
            opt.sub_port = atoi(v);
        else if (!strcmp(a, "--cafile"))
            opt.cafile = v;
        else if (!strcmp(a, "-i"))
            opt.pub_id = v;
        else if (!strcmp(a, "-u"))
            opt.pub_user = v;
        else if (!strcmp(a, "-I"))
            opt.sub_id = v;
        else if (!strcmp(a, "-U"))
            opt.sub_user = v;
        else if (!strcmp(a, "-t"))
            opt.topic = v;
        else if (!strcmp(a, "-T"))
            opt.sub_topic = v;
        else if (!strcmp(a, "-m"))
            opt.payload = v;
        else if (!strcmp(a, "-w"))
            opt.window = atol(v);
        else if (!strcmp(a, "-n"))
            opt.n_max = atol(v);
        else if (!strcmp(a, "-d"))
            opt.secs = atof(v);
        else if (!strcmp(a, "-W"))
            opt.warmup = atol(v);
        else if (!strcmp(a, "-c") && opt.n_cpu < MAX_CPU && strchr(v, '=')) {
            opt.cpu_name[opt.n_cpu] = strndup(v, (size_t)(strchr(v, '=') - v));
            opt.cpu_pid[opt.n_cpu++] = atoi(strchr(v, '=') + 1);
        } else {
            fprintf(stderr, "mqtt-load: unknown option %s\n", a);
            return 2;
        }
    }
    if (!opt.port || !opt.topic || (opt.rr && !opt.sub_topic) || opt.window < 1 || opt.n_max < 1 ||
        opt.warmup < 0) {
        fprintf(stderr, "mqtt-load: -p, -t (and -T for rr) are needed\n");
        return 2;
    }
    if (!opt.sub_port)
        opt.sub_port = opt.port;
    cap = opt.warmup + opt.n_max + opt.window;
    sent_at = calloc((size_t)cap, sizeof(*sent_at));
    done = calloc((size_t)cap, 1);
    lat = calloc((size_t)cap, sizeof(*lat));
    if (!sent_at || !done || !lat)
        die("calloc", 0);

    mosquitto_lib_init();
    pub = client(opt.pub_id, opt.pub_user, "MQ_PUB_PW", opt.port, opt.cafile != NULL);
    if (!opt.rr)
        sub = client(opt.sub_id, opt.sub_user, "MQ_SUB_PW", opt.sub_port, opt.sub_tls);
    uint64_t deadline = now_us() + 10000000u;
    while (pub_connected == 0 || sub_ready == 0) {
        if (pub_connected < 0 || sub_ready < 0 || now_us() > deadline) {
            fprintf(stderr, "mqtt-load: not connected / subscribed within 10 s\n");
            return 1;
        }
        loop_once(50);
    }

    last_progress = now_us();
    uint64_t stop_at = 0;
    for (;;) {
        uint64_t t = now_us();
        if (!measuring && n_done >= opt.warmup) {
            measuring = true;
            t_start = t_end = t;
            stop_at = t + (uint64_t)(opt.secs * 1e6);
            for (int i = 0; i < opt.n_cpu; i++)
                cpu_before[i] = cpu_ns(opt.cpu_pid[i]);
            self_before = self_cpu_ns();
        }
        if (measuring && !stop_sending && (t >= stop_at || n_sent >= opt.warmup + opt.n_max))
            stop_sending = true;
        if (stop_sending && in_flight == 0)
            break;
        if (t - last_progress > 10000000u) {
            fprintf(stderr, "mqtt-load: no progress for 10 s (%ld in flight)\n", in_flight);
            break;
        }
        while (!stop_sending && in_flight < opt.window && n_sent < cap &&
               (measuring || n_sent < opt.warmup))
            send_one();
        loop_once(100);
    }
    long counted = 0;
    for (long s = opt.warmup; s < n_sent; s++)
        counted += done[s];
    double secs = (double)(t_end - t_start) / 1e6;
    qsort(lat, (size_t)n_lat, sizeof(*lat), cmp_u32);
    uint32_t p50 = n_lat ? lat[(n_lat - 1) * 50 / 100] : 0;
    uint32_t p99 = n_lat ? lat[(n_lat - 1) * 99 / 100] : 0;
    printf("ok=%ld errors=%ld secs=%.3f rate=%.0f p50_us=%u p99_us=%u", n_lat, n_err, secs,
           secs > 0 ? (double)n_lat / secs : 0.0, p50, p99);
    uint64_t self_ns = self_cpu_ns() - self_before;
    printf(" cpu_load_us=%.1f", n_lat ? (double)self_ns / 1e3 / (double)n_lat : 0.0);
    for (int i = 0; i < opt.n_cpu; i++) {
        uint64_t ns = cpu_ns(opt.cpu_pid[i]) - cpu_before[i];
        printf(" cpu_%s_us=%.1f", opt.cpu_name[i], n_lat ? (double)ns / 1e3 / (double)n_lat : 0.0);
    }
    printf("\n");
    mosquitto_disconnect_v5(pub, 0, NULL);
    if (sub)
        mosquitto_disconnect_v5(sub, 0, NULL);
    mosquitto_lib_cleanup();
    bool lost = counted < n_sent - opt.warmup;
    if (lost)
        fprintf(stderr, "mqtt-load: %ld of %ld measured messages never came back\n",
                n_sent - opt.warmup - counted, n_sent - opt.warmup);
    return n_lat == 0 || n_err || lost ? 1 : 0;
}
