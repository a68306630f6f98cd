/* brig-worker's structured log on stderr (or any fd): one line per event,
 * either logfmt-style text
 *
 *   ts=2024-05-01T12:00:00.123Z level=info worker=w1 job=abc msg="started"
 *
 * or one JSON object per line (--log-format json)
 *
 *   {"ts":"2024-05-01T12:00:00.123Z","level":"info","worker":"w1","job":"abc","msg":"started"}
 *
 * Timestamps are UTC, RFC 3339 with milliseconds. job is left out of lines
 * that are about no job; every line about a job passes its id. Each line is
 * built whole and written with one write(2) under a lock, so lines from slot
 * threads and the main loop never interleave.
 *
 * Rule: no secret at info level or above. A job's env, code, stdin and files
 * are its sender's secrets and never go into a log line at any level; its
 * output may reach debug level only.
 *
 * Until log_configure() the log is text at info level on stderr. */
#ifndef BRIG_WORKER_LOG_H
#define BRIG_WORKER_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
};

enum log_format {
    LOG_FORMAT_TEXT,
    LOG_FORMAT_JSON,
};

/* "debug" "info" "warn" "error"; -1 for anything else. */
int log_level_parse(const char *text, enum log_level *out);
/* "text" "json"; -1 for anything else. */
int log_format_parse(const char *text, enum log_format *out);

/* Lines below level are dropped. worker (may be NULL) names this process in
 * every line; fd is where lines go (stderr: 2). */
void log_configure(enum log_format format, enum log_level level, const char *worker, int fd);

/* Whether a line at level would be written: skip costly formatting when not. */
bool log_enabled(enum log_level level);

/* job: the id of the job the line is about, or NULL. */
void log_message(enum log_level level, const char *job, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmessage(enum log_level level, const char *job, const char *fmt, va_list args)
    __attribute__((format(printf, 3, 0)));

#define log_debug(job, ...) log_message(LOG_LEVEL_DEBUG, (job), __VA_ARGS__)
#define log_info(job, ...) log_message(LOG_LEVEL_INFO, (job), __VA_ARGS__)
#define log_warn(job, ...) log_message(LOG_LEVEL_WARN, (job), __VA_ARGS__)
#define log_error(job, ...) log_message(LOG_LEVEL_ERROR, (job), __VA_ARGS__)

#endif
