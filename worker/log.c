#include "worker/log.h"
#include "common/common.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_ERROR] = "error",
};

static struct {
    pthread_mutex_t lock; /* guards the fields below and the writes */
    enum log_format format;
    int fd;
    char worker[256];
    atomic_int level; /* read without the lock on every call */
} logger = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .format = LOG_FORMAT_TEXT,
    .fd = STDERR_FILENO,
    .level = LOG_LEVEL_INFO,
};

int log_level_parse(const char *text, enum log_level *out)
{
    for (int level = LOG_LEVEL_DEBUG; level <= LOG_LEVEL_ERROR; level++) {
        if (strcmp(text, level_names[level]) == 0) {
            *out = (enum log_level)level;
            return 0;
        }
    }
    return -1;
}

int log_format_parse(const char *text, enum log_format *out)
{
    if (strcmp(text, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcmp(text, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

void log_configure(enum log_format format, enum log_level level, const char *worker, int fd)
{
    pthread_mutex_lock(&logger.lock);
    logger.format = format;
    logger.fd = fd;
    snprintf(logger.worker, sizeof(logger.worker), "%s", worker ? worker : "");
    atomic_store(&logger.level, (int)level);
    pthread_mutex_unlock(&logger.lock);
}

bool log_enabled(enum log_level level)
{
    return (int)level >= atomic_load(&logger.level);
}

/* 2024-05-01T12:00:00.123Z */
static void timestamp(char *buf, size_t len)
{
    struct timespec now;
    struct tm utc;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &utc);
    snprintf(buf + n, len - n, ".%03ldZ", now.tv_nsec / 1000000);
}

/* ---- text ---- */

static bool needs_quotes(const char *value)
{
    if (!*value)
        return true;
    for (const unsigned char *c = (const unsigned char *)value; *c; c++)
        if (*c <= ' ' || *c == '=' || *c == '"' || *c == '\\' || *c == 0x7f)
            return true;
    return false;
}

static void put_text_value(FILE *out, const char *key, const char *value, bool quote)
{
    fprintf(out, " %s=", key);
    if (!quote && !needs_quotes(value)) {
        fputs(value, out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(out, "\\%c", *c);
        else if (*c == '\n')
            fputs("\\n", out);
        else if (*c == '\t')
            fputs("\\t", out);
        else if (*c == '\r')
            fputs("\\r", out);
        else if (*c < ' ' || *c == 0x7f)
            fprintf(out, "\\u%04x", *c);
        else
            fputc(*c, out);
    }
    fputc('"', out);
}

static char *text_line(const char *ts, enum log_level level, const char *job, const char *msg,
                       size_t *len)
{
    char *line = NULL;
    FILE *out = open_memstream(&line, len);
    if (!out)
        return NULL;
    fprintf(out, "ts=%s level=%s", ts, level_names[level]);
    if (logger.worker[0])
        put_text_value(out, "worker", logger.worker, false);
    if (job)
        put_text_value(out, "job", job, false);
    put_text_value(out, "msg", msg, true);
    fputc('\n', out);
    bool failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        free(line);
        return NULL;
    }
    return line;
}

/* ---- json ---- */

/* A JSON string of text; bytes of an invalid UTF-8 sequence (a job id or
 * message the job controls) become '?', since JSON text must be UTF-8. */
static json_t *json_text(const char *text)
{
    json_t *string = json_string(text);
    if (string)
        return string;
    char *copy = strdup(text);
    if (!copy)
        return NULL;
    for (char *c = copy; *c; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    string = json_string(copy);
    free(copy);
    return string;
}

static char *json_line(const char *ts, enum log_level level, const char *job, const char *msg,
                       size_t *len)
{
    json_t *object = json_object();
    char *line = NULL;
    if (!object)
        return NULL;
    int rc = json_object_set_new(object, "ts", json_string(ts));
    rc |= json_object_set_new(object, "level", json_string(level_names[level]));
    if (logger.worker[0])
        rc |= json_object_set_new(object, "worker", json_text(logger.worker));
    if (job)
        rc |= json_object_set_new(object, "job", json_text(job));
    rc |= json_object_set_new(object, "msg", json_text(msg));
    char *body = rc == 0 ? json_dumps(object, JSON_COMPACT) : NULL;
    json_decref(object);
    if (body && asprintf(&line, "%s\n", body) < 0)
        line = NULL;
    free(body);
    if (line)
        *len = strlen(line);
    return line;
}

/* ---- output ---- */

void log_vmessage(enum log_level level, const char *job, const char *fmt, va_list args)
{
    if (!log_enabled(level))
        return;
    char ts[40], *msg = NULL, *line = NULL;
    size_t len = 0;
    timestamp(ts, sizeof(ts));
    if (vasprintf(&msg, fmt, args) < 0)
        msg = NULL;

    pthread_mutex_lock(&logger.lock);
    const char *text = msg ? msg : "(out of memory formatting this line)";
    line = logger.format == LOG_FORMAT_JSON ? json_line(ts, level, job, text, &len)
                                            : text_line(ts, level, job, text, &len);
    if (line)
        (void)write_all(logger.fd, line, len); /* nowhere left to report a failure */
    pthread_mutex_unlock(&logger.lock);
    free(line);
    free(msg);
}

void log_message(enum log_level level, const char *job, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    log_vmessage(level, job, fmt, args);
    va_end(args);
}
