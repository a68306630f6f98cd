/* bench_spawn: how long whole programs take to start and end, measured side
 * by side so that the machine's noise falls on all of them alike.
 *
 *   bench_spawn N LABEL PROGRAM [ARG...] [:: LABEL PROGRAM [ARG...]]...
 *
 * After WARMUP_ROUNDS unmeasured rounds, runs the commands in turn (A, B, C,
 * A, B, C, ...) N times each, every run a fork, execvp and waitpid with stdin
 * and stdout on /dev/null, timed from just before the fork to just after the
 * wait. Prints one summary row per command (stats.h). A run that does not
 * exit 0 stops everything: a start that failed is not a fast one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/bench/stats.h"
#include "common/common.h"

#define WARMUP_ROUNDS 10
#define SEPARATOR "::"

struct command {
    const char *label;
    char **argv; /* points into main's argv, NULL-terminated in place */
    struct samples samples;
};

static void usage(void)
{
    fprintf(stderr, "usage: bench_spawn N LABEL PROGRAM [ARG...] [" SEPARATOR
                    " LABEL PROGRAM [ARG...]]...\n");
}

/* Splits argv at each SEPARATOR into commands; returns how many, or -1. */
static int parse_commands(int argc, char **argv, struct command *commands, int max)
{
    int n = 0, i = 0;
    while (i < argc) {
        int end = i;
        while (end < argc && strcmp(argv[end], SEPARATOR) != 0)
            end++;
        if (end - i < 2 || n == max)
            return -1;
        commands[n].label = argv[i];
        commands[n].argv = &argv[i + 1];
        if (end < argc)
            argv[end] = NULL; /* the separator becomes the command's terminator */
        n++;
        i = end + 1;
    }
    return n;
}

/* One run of cmd; its wall time in microseconds, or -1 when it failed. */
static double run_once(const struct command *cmd, int devnull)
{
    uint64_t start = monotonic_ns();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench_spawn: fork for %s: %s\n", cmd->label, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        if (dup2(devnull, STDIN_FILENO) < 0 || dup2(devnull, STDOUT_FILENO) < 0)
            _exit(126);
        execvp(cmd->argv[0], cmd->argv);
        fprintf(stderr, "bench_spawn: executing %s: %s\n", cmd->argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "bench_spawn: waiting for %s: %s\n", cmd->label, strerror(errno));
            return -1;
        }
    }
    uint64_t end = monotonic_ns();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_spawn: %s %s %d\n", cmd->label,
                WIFEXITED(status) ? "exited with status" : "was killed by signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    return (double)(end - start) / 1000.0;
}

int main(int argc, char **argv)
{
    enum { MAX_COMMANDS = 8 };
    struct command commands[MAX_COMMANDS] = {0};
    int rc = 1, devnull = -1, n_commands;
    char *end;

    long rounds = argc > 1 ? strtol(argv[1], &end, 10) : 0;
    if (argc < 4 || *end != '\0' || rounds <= 0 ||
        (n_commands = parse_commands(argc - 2, argv + 2, commands, MAX_COMMANDS)) < 0) {
        usage();
        return 2;
    }
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) {
        fprintf(stderr, "bench_spawn: opening /dev/null: %s\n", strerror(errno));
        return 1;
    }
    for (int c = 0; c < n_commands; c++) {
        if (samples_init(&commands[c].samples, (size_t)rounds) < 0) {
            fprintf(stderr, "bench_spawn: room for %ld samples: %s\n", rounds, strerror(errno));
            goto out;
        }
    }
    for (long round = -WARMUP_ROUNDS; round < rounds; round++) {
        for (int c = 0; c < n_commands; c++) {
            double us = run_once(&commands[c], devnull);
            if (us < 0)
                goto out;
            if (round >= 0)
                samples_add(&commands[c].samples, us);
        }
    }
    for (int c = 0; c < n_commands; c++)
        samples_print_row(&commands[c].samples, commands[c].label);
    rc = 0;
out:
    for (int c = 0; c < n_commands; c++)
        samples_free(&commands[c].samples);
    close(devnull);
    return rc;
}
