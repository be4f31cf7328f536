/* log.h - logging to journald (structured fields) when running under it,
 * to stderr otherwise.
 *
 * Under journald (JOURNAL_STREAM set, or stderr connected to the journal)
 * every call becomes one sd_journal_send() entry with fields; elsewhere a
 * plain "<prio>message KEY=value ..." line on stderr (the "<N>" prefix only
 * when stderr is a journal stream or WOTGW_LOG_PREFIX=1). Never pass a
 * secret: callers log names, reasons and sizes, not passwords, tokens or keys.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* Decides the sink once. debug: also emit LOG_DEBUG. */
void log_init(bool debug);
void log_set_debug(bool debug);
bool log_debug_enabled(void);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One interaction's outcome (DESIGN.md's fields). NULL strings are left out. */
struct log_interaction {
    const char *thing;
    const char *affordance;
    const char *op;
    const char *protocol;
    const char *principal;
    const char *peer;
    const char *decision; /* "allow" / "deny" */
    const char *reason;
    int status; /* protocol status code, 0 if none */
    uint64_t duration_us;
};
void log_interaction(int prio, const struct log_interaction *li);

/* Test hook: when set, every formatted line (as it would go to stderr) is
 * also passed here. */
void log_set_test_sink(void (*sink)(const char *line, void *ud), void *ud);
