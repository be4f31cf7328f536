/* test_log.c - log.c: the plain-line format with structured fields and
 * the debug switch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static char last[4096];
static int lines;

static void sink(const char *line, void *ud)
{
    snprintf(last, sizeof(last), "%s", line);
    lines++;
}

static int setup(void **state)
{
    unsetenv("JOURNAL_STREAM");
    log_init(false);
    log_set_test_sink(sink, NULL);
    last[0] = '\0';
    lines = 0;
    return 0;
}

static void test_fields(void **state)
{
    struct log_interaction li = {
            .thing = "lamp",
            .affordance = "brightness",
            .op = "readproperty",
            .protocol = "https",
            .principal = "alice",
            .peer = "127.0.0.1:5555",
            .decision = "deny",
            .reason = "user not allowed",
            .status = 403,
            .duration_us = 42,
    };
    log_interaction(LOG_NOTICE, &li);
    assert_int_equal(lines, 1);
    assert_non_null(strstr(last, "deny readproperty lamp/brightness by alice: user not allowed"));
    assert_non_null(strstr(last, " THING=lamp"));
    assert_non_null(strstr(last, " AFFORDANCE=brightness"));
    assert_non_null(strstr(last, " OP=readproperty"));
    assert_non_null(strstr(last, " PROTOCOL=https"));
    assert_non_null(strstr(last, " PRINCIPAL=alice"));
    assert_non_null(strstr(last, " PEER=127.0.0.1:5555"));
    assert_non_null(strstr(last, " DECISION=deny"));
    assert_non_null(strstr(last, " REASON=\"user not allowed\""));
    assert_non_null(strstr(last, " STATUS=403"));
    assert_non_null(strstr(last, " DURATION_US=42"));
}

static void test_missing_fields(void **state)
{
    struct log_interaction li = {.thing = "lamp", .op = "readallproperties", .decision = "allow"};
    log_interaction(LOG_INFO, &li);
    assert_non_null(strstr(last, "allow readallproperties lamp by anonymous"));
    assert_null(strstr(last, "AFFORDANCE="));
    assert_null(strstr(last, "REASON="));
}

static void test_debug_switch(void **state)
{
    log_msg(LOG_DEBUG, "hidden %d", 1);
    assert_int_equal(lines, 0);
    log_set_debug(true);
    assert_true(log_debug_enabled());
    log_msg(LOG_DEBUG, "shown %d", 2);
    assert_int_equal(lines, 1);
    assert_string_equal(last, "shown 2");
    log_set_debug(false);
}

static void test_long_line_truncated_safely(void **state)
{
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_msg(LOG_INFO, "%s", big);
    assert_int_equal(lines, 1);
    assert_true(strlen(last) < sizeof(big));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup(test_fields, setup),
            cmocka_unit_test_setup(test_missing_fields, setup),
            cmocka_unit_test_setup(test_debug_switch, setup),
            cmocka_unit_test_setup(test_long_line_truncated_safely, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
