/* Host strings in the jail: reads strings from stdin, one per line, that
 * exist only on the host side (the value of an environment variable set for
 * brig-jail, host paths on brig-jail's command line), and looks for each in
 * every place a process's own words show: its environment, and the
 * environment and command line of every process visible here, the jail's
 * init included. The strings come on stdin so that they are on no command
 * line themselves. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/attacks/attack.h"

enum { MAX_NEEDLES = 16 };

extern char **environ;

/* Environ and cmdline are NUL-separated: look at every piece. */
static bool contains(const char *data, long len, const char *needle)
{
    for (const char *piece = data; piece < data + len; piece += strlen(piece) + 1) {
        if (strstr(piece, needle))
            return true;
    }
    return false;
}

static void search_environ(char *const *needles, int n)
{
    for (int i = 0; i < n; i++) {
        bool found = false;
        for (char **var = environ; *var; var++) {
            if (strstr(*var, needles[i])) {
                attack_escaped("environment variable %.*s carries \"%s\"", (int)strcspn(*var, "="),
                               *var, needles[i]);
                found = true;
            }
        }
        if (!found)
            attack_contained("no environment variable carries \"%s\"", needles[i]);
    }
}

static void search_file(const char *path, char *const *needles, int n)
{
    static char data[1 << 16];
    long len = attack_read_file(path, data, sizeof(data));
    if (len < 0) {
        attack_must_fail(len, "read %s", path);
        return;
    }
    bool found = false;
    for (int i = 0; i < n; i++) {
        if (contains(data, len, needles[i])) {
            attack_escaped("%s carries \"%s\"", path, needles[i]);
            found = true;
        }
    }
    if (!found)
        attack_contained("%s carries none of them", path);
}

int main(void)
{
    static char input[4096];
    ssize_t len = read(STDIN_FILENO, input, sizeof(input) - 1);
    if (len <= 0)
        attack_usage("attack_host_strings < FILE (the strings, one per line)");
    input[len] = '\0';
    char *needles[MAX_NEEDLES];
    int n = 0;
    for (char *line = strtok(input, "\n"); line && n < MAX_NEEDLES; line = strtok(NULL, "\n"))
        needles[n++] = line;

    search_environ(needles, n);
    int pids[64];
    int count = attack_list_pids(pids, 64);
    for (int i = 0; i < count; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/environ", pids[i]);
        search_file(path, needles, n);
        snprintf(path, sizeof(path), "/proc/%d/cmdline", pids[i]);
        search_file(path, needles, n);
    }
    return attack_finish();
}
