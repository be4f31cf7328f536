/* simdev_testutil.h - for the unit tests that talk to a real peer over
 * loopback: the simulated device (build/wotgw-simdev) in OSCORE mode, and
 * the helpers around it. Included by one test file each (static
 * functions). */
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "objsec/oscore.h"

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A UDP port on 127.0.0.1 that was free a moment ago; 0 when none. */
static unsigned free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) < 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* Starts the simulated device dev with its CoAP things on coap
 * ("127.0.0.1:PORT") taking OSCORE only with the contexts file ctxs, its
 * stderr in log_path (no events unless events), and waits up to 10 s for
 * it to say it serves CoAP. The pid, or -1 (then nothing is left
 * running). */
static pid_t simdev_oscore_start(const char *dev, const char *coap, const char *ctxs,
                                 const char *log_path, bool events)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        int lf = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        dup2(p[1], 1);
        if (lf >= 0)
            dup2(lf, 2);
        close(p[0]);
        close(p[1]);
        execl(dev, dev, "--listen", "127.0.0.1:0", "--coap-listen", coap, "--oscore-contexts", ctxs,
              "--event-interval-ms", events ? "5000" : "0", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char out[512];
    size_t got = 0;
    uint64_t end = now_us() + 10000000u;
    out[0] = '\0';
    while (got < sizeof(out) - 1 && !strstr(out, "coap://") && now_us() < end) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = read(p[0], out + got, sizeof(out) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        out[got] = '\0';
    }
    close(p[0]);
    if (!strstr(out, "listening on coap://")) {
        fprintf(stderr, "device did not start: '%s'\n", out);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

/* The consumer's side of the device's context "sender_id=01
 * recipient_id=02 master_secret=SECRET_HEX" (32 hex digits): the IDs
 * swapped, sequence numbers from 1. 0 or -1. */
static int simdev_consumer_ctx(const char *secret_hex, struct oscore_ctx **out)
{
    static uint8_t secret[16];
    for (size_t i = 0; i < 16; i++)
        if (sscanf(secret_hex + 2 * i, "%2hhx", &secret[i]) != 1)
            return -1;
    static const uint8_t dev_id[] = {0x01}, my_id[] = {0x02};
    struct oscore_ctx_params cp = {
            .master_secret = secret,
            .master_secret_len = sizeof(secret),
            .sender_id = my_id,
            .sender_id_len = 1,
            .recipient_id = dev_id,
            .recipient_id_len = 1,
            .seq_start = 1,
    };
    return oscore_ctx_new(&cp, out) < 0 ? -1 : 0;
}
