/* brig-worker: the configuration, the signals, then the worker's parts
 * around its main loop (worker.h tells the whole story). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "worker/log.h"
#include "worker/worker.h"

static struct worker *running_worker;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (running_worker)
        running_worker->stop_requests++;
}

static void on_reload_signal(int sig)
{
    (void)sig;
    if (running_worker)
        running_worker->reload_requests = 1;
}

/* SIGHUP reads the tenants file again; without one it keeps its default. */
static int install_signal_handlers(bool tenants)
{
    struct sigaction sa = {.sa_handler = on_stop_signal}, hup = {.sa_handler = on_reload_signal};
    sigemptyset(&sa.sa_mask);
    sigemptyset(&hup.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0 ||
        (tenants && sigaction(SIGHUP, &hup, NULL) < 0)) {
        log_error(NULL, "installing signal handlers: %s", strerror(errno));
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int main(int argc, char **argv)
{
    struct worker_config config;
    static struct worker w;
    char err[1024];

    int parsed = worker_config_parse(argc, argv, &config, err, sizeof(err));
    if (parsed != 0) {
        if (parsed < 0)
            fprintf(stderr, "brig-worker: %s\n", err);
        worker_config_free(&config);
        return parsed < 0 ? 2 : 0;
    }
    log_configure(config.log_format, config.log_level, config.worker_id, STDERR_FILENO);
    running_worker = &w;
    int status = 1;
    if (install_signal_handlers(config.tenants != NULL) == 0 && worker_open(&w, &config) == 0)
        status = worker_run(&w);
    if (worker_close(&w) < 0 && status == 0)
        status = 1;
    running_worker = NULL;
    worker_config_free(&config);
    return status;
}
