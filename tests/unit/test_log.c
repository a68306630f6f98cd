/* brig-worker's structured log: both formats, level filtering, escaping,
 * and whole lines under concurrent writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker/log.h"

/* Every test logs into a fresh temporary file. */
static int setup_capture(void **state)
{
    FILE *f = tmpfile();
    if (!f)
        return -1;
    *state = f;
    return 0;
}

static int teardown_capture(void **state)
{
    log_configure(LOG_FORMAT_TEXT, LOG_LEVEL_INFO, NULL, STDERR_FILENO);
    fclose(*state);
    return 0;
}

static void capture(void **state, enum log_format format, enum log_level level)
{
    log_configure(format, level, "w1", fileno((FILE *)*state));
}

/* What was logged so far, as a malloc'd string. */
static char *captured(void **state)
{
    int fd = fileno((FILE *)*state);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(fd, text, (size_t)size, 0), size);
    return text;
}

/* 2024-05-01T12:00:00.123Z */
static void assert_timestamp(const char *ts, size_t len)
{
    assert_int_equal(len, 24);
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < len; i++) {
        if (shape[i] == 'd')
            assert_true(ts[i] >= '0' && ts[i] <= '9');
        else
            assert_int_equal(ts[i], shape[i]);
    }
}

static void text_lines_carry_level_worker_and_job(void **state)
{
    capture(state, LOG_FORMAT_TEXT, LOG_LEVEL_INFO);
    log_info("job-1", "started in slot %d", 3);
    log_warn(NULL, "no job here");
    char *text = captured(state);

    char *first = strtok(text, "\n"), *second = strtok(NULL, "\n");
    assert_non_null(second);
    assert_null(strtok(NULL, "\n"));
    assert_int_equal(strncmp(first, "ts=", 3), 0);
    assert_timestamp(first + 3, strcspn(first + 3, " "));
    assert_string_equal(first + 3 + 24,
                        " level=info worker=w1 job=job-1 msg=\"started in slot 3\"");
    assert_int_equal(strncmp(second, "ts=", 3), 0);
    assert_timestamp(second + 3, strcspn(second + 3, " "));
    assert_string_equal(second + 3 + 24, " level=warn worker=w1 msg=\"no job here\"");
    free(text);
}

static void text_values_are_quoted_and_escaped(void **state)
{
    capture(state, LOG_FORMAT_TEXT, LOG_LEVEL_DEBUG);
    log_error("id with space", "say \"hi\"\nnext \\ line\ttab\x01");
    char *text = captured(state);
    assert_non_null(strstr(text, " level=error worker=w1 job=\"id with space\" "
                                 "msg=\"say \\\"hi\\\"\\nnext \\\\ line\\ttab\\u0001\"\n"));
    /* One line, whatever the message held. */
    assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text));
    free(text);
}

static void json_lines_parse_and_round_trip(void **state)
{
    const char *message = "say \"hi\"\nnext \\ line \xc3\xa9";
    capture(state, LOG_FORMAT_JSON, LOG_LEVEL_DEBUG);
    log_debug("job-7", "%s", message);
    log_info(NULL, "plain");
    char *text = captured(state);

    char *line = strtok(text, "\n");
    json_error_t error;
    json_t *first = json_loads(line, 0, &error);
    if (!first)
        fail_msg("line 1 is not JSON (%s): %s", error.text, line);
    assert_string_equal(json_string_value(json_object_get(first, "level")), "debug");
    assert_string_equal(json_string_value(json_object_get(first, "worker")), "w1");
    assert_string_equal(json_string_value(json_object_get(first, "job")), "job-7");
    assert_string_equal(json_string_value(json_object_get(first, "msg")), message);
    const char *ts = json_string_value(json_object_get(first, "ts"));
    assert_non_null(ts);
    assert_timestamp(ts, strlen(ts));
    assert_int_equal(json_object_size(first), 5);
    json_decref(first);

    json_t *second = json_loads(strtok(NULL, "\n"), 0, &error);
    assert_non_null(second);
    assert_null(json_object_get(second, "job"));
    assert_string_equal(json_string_value(json_object_get(second, "msg")), "plain");
    json_decref(second);
    assert_null(strtok(NULL, "\n"));
    free(text);
}

static void json_stays_valid_with_invalid_utf8(void **state)
{
    capture(state, LOG_FORMAT_JSON, LOG_LEVEL_INFO);
    log_warn("bad\xff", "bytes \xc3 and \x80 here");
    char *text = captured(state);
    json_t *line = json_loads(text, 0, NULL);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "job")), "bad?");
    assert_string_equal(json_string_value(json_object_get(line, "msg")), "bytes ? and ? here");
    json_decref(line);
    free(text);
}

static void lines_below_the_level_are_dropped(void **state)
{
    capture(state, LOG_FORMAT_TEXT, LOG_LEVEL_WARN);
    assert_false(log_enabled(LOG_LEVEL_INFO));
    assert_true(log_enabled(LOG_LEVEL_ERROR));
    log_debug("j", "debug line");
    log_info("j", "info line");
    log_warn("j", "warn line");
    log_error("j", "error line");
    char *text = captured(state);
    assert_null(strstr(text, "debug line"));
    assert_null(strstr(text, "info line"));
    assert_non_null(strstr(text, "level=warn worker=w1 job=j msg=\"warn line\""));
    assert_non_null(strstr(text, "level=error worker=w1 job=j msg=\"error line\""));
    free(text);
}

static void levels_and_formats_parse(void **state)
{
    (void)state;
    enum log_level level;
    enum log_format format;
    assert_int_equal(log_level_parse("debug", &level), 0);
    assert_int_equal(level, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("error", &level), 0);
    assert_int_equal(level, LOG_LEVEL_ERROR);
    assert_int_equal(log_level_parse("verbose", &level), -1);
    assert_int_equal(log_level_parse("INFO", &level), -1);
    assert_int_equal(log_format_parse("json", &format), 0);
    assert_int_equal(format, LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("text", &format), 0);
    assert_int_equal(format, LOG_FORMAT_TEXT);
    assert_int_equal(log_format_parse("yaml", &format), -1);
}

#define THREADS 4
#define LINES 500

static void *log_many(void *arg)
{
    char job[16];
    snprintf(job, sizeof(job), "job-%d", (int)(intptr_t)arg);
    for (int i = 0; i < LINES; i++)
        log_info(job, "line %d of a message long enough to be worth interleaving: %0200d", i, i);
    return NULL;
}

static void concurrent_lines_stay_whole(void **state)
{
    capture(state, LOG_FORMAT_JSON, LOG_LEVEL_INFO);
    pthread_t threads[THREADS];
    for (intptr_t t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, log_many, (void *)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);

    char *text = captured(state);
    int per_job[THREADS] = {0}, lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *object = json_loads(line, 0, NULL);
        if (!object)
            fail_msg("line %d is not whole JSON: %.80s", lines + 1, line);
        int job = atoi(json_string_value(json_object_get(object, "job")) + 4);
        assert_in_range(job, 0, THREADS - 1);
        per_job[job]++;
        lines++;
        json_decref(object);
    }
    assert_int_equal(lines, THREADS * LINES);
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(per_job[t], LINES);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(text_lines_carry_level_worker_and_job, setup_capture,
                                        teardown_capture),
        cmocka_unit_test_setup_teardown(text_values_are_quoted_and_escaped, setup_capture,
                                        teardown_capture),
        cmocka_unit_test_setup_teardown(json_lines_parse_and_round_trip, setup_capture,
                                        teardown_capture),
        cmocka_unit_test_setup_teardown(json_stays_valid_with_invalid_utf8, setup_capture,
                                        teardown_capture),
        cmocka_unit_test_setup_teardown(lines_below_the_level_are_dropped, setup_capture,
                                        teardown_capture),
        cmocka_unit_test(levels_and_formats_parse),
        cmocka_unit_test_setup_teardown(concurrent_lines_stay_whole, setup_capture,
                                        teardown_capture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
