/* log.c - see log.h. */
#define _GNU_SOURCE
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static bool use_journal;
static bool use_prefix;
static bool debug_on;
static void (*test_sink)(const char *line, void *ud);
static void *test_ud;

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected to our
 * stderr; only trust it when stderr really is that stream. */
static bool stderr_is_journal(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    if (!e)
        return false;
    unsigned long long dev, ino;
    if (sscanf(e, "%llu:%llu", &dev, &ino) != 2)
        return false;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(bool debug)
{
    debug_on = debug;
    use_journal = stderr_is_journal();
    const char *p = getenv("WOTGW_LOG_PREFIX");
    use_prefix = use_journal || (p && !strcmp(p, "1"));
}

void log_set_debug(bool debug)
{
    debug_on = debug;
}

bool log_debug_enabled(void)
{
    return debug_on;
}

void log_set_test_sink(void (*sink)(const char *line, void *ud), void *ud)
{
    test_sink = sink;
    test_ud = ud;
}

static void emit_line(int prio, const char *line)
{
    if (test_sink)
        test_sink(line, test_ud);
    if (use_prefix)
        fprintf(stderr, "<%d>%s\n", prio, line);
    else
        fprintf(stderr, "%s\n", line);
}

void log_msg(int prio, const char *fmt, ...)
{
    if (prio >= LOG_DEBUG && !debug_on)
        return;
    char buf[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (use_journal) {
        sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%d", prio, "SYSLOG_IDENTIFIER=wotgw", NULL);
        if (test_sink)
            test_sink(buf, test_ud);
        return;
    }
    emit_line(prio, buf);
}

/* Appends " KEY=value" (value quoted when it holds blanks) to buf. */
static void kv(char *buf, size_t cap, size_t *n, const char *key, const char *val)
{
    if (!val || *n >= cap)
        return;
    bool q = strpbrk(val, " \t\"=") != NULL;
    int k = snprintf(buf + *n, cap - *n, q ? " %s=\"%s\"" : " %s=%s", key, val);
    if (k > 0)
        *n += (size_t)k < cap - *n ? (size_t)k : cap - *n - 1;
}

void log_interaction(int prio, const struct log_interaction *li)
{
    if (prio >= LOG_DEBUG && !debug_on)
        return;
    /* "deny readproperty lamp/brightness by alice: wrong password" */
    char msg[LOG_LINE_MAX];
    snprintf(msg, sizeof(msg), "%s %s %s%s%s by %s%s%s", li->decision ? li->decision : "-",
             li->op ? li->op : "-", li->thing ? li->thing : "-", li->affordance ? "/" : "",
             li->affordance ? li->affordance : "",
             li->principal && *li->principal ? li->principal : "anonymous", li->reason ? ": " : "",
             li->reason ? li->reason : "");

    if (use_journal) {
        char status[16], dur[32];
        snprintf(status, sizeof(status), "%d", li->status);
        snprintf(dur, sizeof(dur), "%llu", (unsigned long long)li->duration_us);
        sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio, "SYSLOG_IDENTIFIER=wotgw",
                        "THING=%s", li->thing ? li->thing : "", "AFFORDANCE=%s",
                        li->affordance ? li->affordance : "", "OP=%s", li->op ? li->op : "",
                        "PROTOCOL=%s", li->protocol ? li->protocol : "", "PRINCIPAL=%s",
                        li->principal ? li->principal : "", "PEER=%s", li->peer ? li->peer : "",
                        "DECISION=%s", li->decision ? li->decision : "", "REASON=%s",
                        li->reason ? li->reason : "", "STATUS=%s", status, "DURATION_US=%s", dur,
                        NULL);
        if (!test_sink)
            return;
    }
    char line[LOG_LINE_MAX * 2];
    size_t m = (size_t)snprintf(line, sizeof(line), "%s", msg);
    kv(line, sizeof(line), &m, "THING", li->thing);
    kv(line, sizeof(line), &m, "AFFORDANCE", li->affordance);
    kv(line, sizeof(line), &m, "OP", li->op);
    kv(line, sizeof(line), &m, "PROTOCOL", li->protocol);
    kv(line, sizeof(line), &m, "PRINCIPAL", li->principal);
    kv(line, sizeof(line), &m, "PEER", li->peer);
    kv(line, sizeof(line), &m, "DECISION", li->decision);
    kv(line, sizeof(line), &m, "REASON", li->reason);
    char num[32];
    snprintf(num, sizeof(num), "%d", li->status);
    kv(line, sizeof(line), &m, "STATUS", num);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)li->duration_us);
    kv(line, sizeof(line), &m, "DURATION_US", num);
    if (use_journal) {
        test_sink(line, test_ud);
        return;
    }
    emit_line(prio, line);
}
