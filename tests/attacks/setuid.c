/* Set-user-ID programs: every setuid or setgid file in the jail's /usr/bin
 * and /usr/sbin (su, passwd, mount... as the host has them) is run, and
 * must not gain anything: the jail's mounts are nosuid and the job runs with
 * no_new_privs. How a run went is read from the program's own loader:
 * LD_SHOW_AUXV makes it print the auxiliary vector (AT_EUID, AT_SECURE)
 * before main, and a loader that did gain privileges runs in secure mode,
 * ignores LD_SHOW_AUXV and prints nothing of the kind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/attacks/attack.h"

enum { WAIT_MS = 10 * 1000 };

/* Runs program with LD_SHOW_AUXV=1, stdin /dev/null and stdout into out;
 * returns how many bytes came before the loader's AT_SECURE line (or EOF). */
static size_t run_showing_auxv(const char *program, char *out, size_t size)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        perror("pipe");
        exit(2);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        dup2(null, STDIN_FILENO);
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        char *const argv[] = {(char *)program, "--help", NULL};
        char *const envp[] = {"LD_SHOW_AUXV=1", "PATH=/usr/bin:/bin", NULL};
        execve(program, argv, envp);
        _exit(127);
    }
    close(pipefd[1]);
    size_t used = 0;
    struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
    while (used + 1 < size && !strstr(out, "AT_SECURE:") && poll(&pfd, 1, WAIT_MS) > 0) {
        ssize_t n = read(pipefd[0], out + used, size - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
        out[used] = '\0';
    }
    close(pipefd[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return used;
}

static long auxv_value(const char *auxv, const char *key)
{
    const char *line = strstr(auxv, key);
    return line ? strtol(line + strlen(key), NULL, 10) : -1;
}

static void try_program(const char *path)
{
    char out[16384] = "";
    run_showing_auxv(path, out, sizeof(out));
    long euid = auxv_value(out, "AT_EUID:");
    long secure = auxv_value(out, "AT_SECURE:");
    if (euid == (long)getuid() && secure == 0)
        attack_contained("%s ran as euid %ld, not in secure mode", path, euid);
    else if (euid < 0)
        attack_escaped("%s ran in secure mode: its set-ID bit took effect", path);
    else
        attack_escaped("%s ran as euid %ld (AT_SECURE %ld)", path, euid, secure);
}

static int try_directory(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int tried = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & (S_ISUID | S_ISGID)))
            continue;
        try_program(path);
        tried++;
    }
    closedir(d);
    return tried;
}

int main(void)
{
    int tried = try_directory("/usr/bin") + try_directory("/usr/sbin");
    if (tried == 0) {
        fprintf(stderr, "no setuid or setgid program in /usr/bin or /usr/sbin to try\n");
        return 2;
    }
    return attack_finish();
}
