#include "worker/readiness.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct check_state {
    bool ok;
    char reason[256];
};

static const struct {
    const char *name;
    const char *not_yet;
} checks[READY_CHECKS] = {
    [READY_KAFKA] = {"kafka", "no connection to a Kafka broker yet"},
    [READY_AUDIT] = {"audit", "the audit store is not open yet"},
    [READY_JAILS] = {"jails", "the jail context is not set up yet"},
    [READY_RUNNING] = {"consumer", "not consuming jobs yet"},
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct check_state state[READY_CHECKS];
static bool initialized;

/* lock held */
static void reset_locked(void)
{
    for (int c = 0; c < READY_CHECKS; c++) {
        state[c].ok = false;
        snprintf(state[c].reason, sizeof(state[c].reason), "%s", checks[c].not_yet);
    }
    initialized = true;
}

void readiness_reset(void)
{
    pthread_mutex_lock(&lock);
    reset_locked();
    pthread_mutex_unlock(&lock);
}

void readiness_set(enum readiness_check check, bool ok, const char *reason, ...)
{
    char text[256] = "";
    if ((unsigned)check >= READY_CHECKS)
        return;
    if (!ok) {
        va_list args;
        va_start(args, reason);
        vsnprintf(text, sizeof(text), reason, args);
        va_end(args);
    }
    pthread_mutex_lock(&lock);
    if (!initialized)
        reset_locked();
    state[check].ok = ok;
    memcpy(state[check].reason, text, sizeof(text));
    pthread_mutex_unlock(&lock);
}

void readiness_pass(enum readiness_check check)
{
    readiness_set(check, true, "%s", "");
}

bool readiness_report(void *ctx, char *reason, size_t reason_len)
{
    bool ready = true;
    size_t used = 0;
    (void)ctx;
    if (reason_len)
        reason[0] = '\0';
    pthread_mutex_lock(&lock);
    if (!initialized)
        reset_locked();
    for (int c = 0; c < READY_CHECKS; c++) {
        if (state[c].ok)
            continue;
        ready = false;
        if (used < reason_len) {
            int n = snprintf(reason + used, reason_len - used, "%s%s: %s", used ? "\n" : "",
                             checks[c].name, state[c].reason);
            used += n > 0 ? (size_t)n : 0;
        }
    }
    pthread_mutex_unlock(&lock);
    return ready;
}
