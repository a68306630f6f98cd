/* What the job keeps of the worker: nothing. No capability (bounding,
 * ambient, effective, permitted, inheritable), no_new_privs, default signal
 * handling, no descriptor but 0-2 (the caller closes them), and an
 * environment made from scratch. */
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/jail_host.h"
#include "common/common.h"

int privs_drop(int cap_last_cap, struct jail_fail *fail)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return fail_at(fail, "set no_new_privs", errno);
    /* The bounding set first: dropping from it takes CAP_SETPCAP. */
    for (int cap = 0; cap <= cap_last_cap; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            return fail_at(fail, "drop the bounding capabilities", errno);
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        return fail_at(fail, "clear the ambient capabilities", errno);
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &header, data) != 0)
        return fail_at(fail, "clear the capabilities", errno);
    return 0;
}

/* The kernel's struct sigaction, for rt_sigaction without glibc, which
 * refuses to touch the two signals it keeps for itself (32 and 33) and whose
 * handlers the child must not keep either. */
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

void privs_reset_signals(void)
{
    struct kernel_sigaction dfl = {.handler = SIG_DFL};
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
    }
    uint64_t none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
}

/* MPLBACKEND: Debian's /etc/matplotlibrc names TkAgg, which a jail, with
 * no display, cannot use (without python3-tk matplotlib falls back to Agg
 * itself; with it, plotting fails). MPLCONFIGDIR and XDG_CACHE_HOME: what
 * matplotlib, pip, fontconfig and the like keep for themselves goes to
 * /tmp, not into /work among the job's files (where a session's quota would
 * pay for it). */
static const char *const default_env[] = {
    "PATH=" JAIL_DEFAULT_PATH,
    "HOME=/work",
    "LANG=C.UTF-8",
    "MPLBACKEND=Agg",
    "MPLCONFIGDIR=/tmp/matplotlib",
    "XDG_CACHE_HOME=/tmp/.cache",
};
#define DEFAULT_ENV_COUNT ARRAY_SIZE(default_env)

static size_t env_name_len(const char *entry)
{
    return strcspn(entry, "=");
}

static size_t env_count(const char *const *env)
{
    size_t n = 0;
    while (env != NULL && env[n] != NULL)
        n++;
    return n;
}

static int check_env(const char *const *env, const char *what, char *err, size_t errlen)
{
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        size_t name = env_name_len(env[i]);
        if (name == 0 || env[i][name] != '=') {
            snprintf(err, errlen, "%s[%zu] \"%.40s\" is not NAME=VALUE", what, i, env[i]);
            return -1;
        }
    }
    return 0;
}

/* Puts entry in envp[0..*count), replacing one of the same name. */
static void set_entry(char **envp, size_t *count, const char *entry)
{
    size_t name = env_name_len(entry);
    size_t slot = 0;
    while (slot < *count &&
           !(env_name_len(envp[slot]) == name && memcmp(envp[slot], entry, name) == 0))
        slot++;
    envp[slot] = (char *)entry;
    if (slot == *count)
        (*count)++;
}

char **privs_build_env(const char *const *base, const char *const *env, char *err, size_t errlen)
{
    if (check_env(base, "the jails' environment", err, errlen) != 0 ||
        check_env(env, "env", err, errlen) != 0)
        return NULL;
    /* The entries point at the caller's strings, which outlive the jail. */
    char **envp = calloc(DEFAULT_ENV_COUNT + env_count(base) + env_count(env) + 1, sizeof(*envp));
    if (envp == NULL) {
        snprintf(err, errlen, "allocating the environment: %s", strerror(errno));
        return NULL;
    }
    size_t count = 0;
    for (size_t i = 0; i < DEFAULT_ENV_COUNT; i++)
        envp[count++] = (char *)default_env[i];
    for (size_t i = 0; base != NULL && base[i] != NULL; i++)
        set_entry(envp, &count, base[i]);
    for (size_t i = 0; env != NULL && env[i] != NULL; i++)
        set_entry(envp, &count, env[i]);
    envp[count] = NULL;
    return envp;
}

char **privs_exec_candidates(const char *argv0, char *const *envp, char *err, size_t errlen)
{
    if (argv0 == NULL || argv0[0] == '\0') {
        snprintf(err, errlen, "argv[0] is empty");
        return NULL;
    }
    const char *path = "";
    if (strchr(argv0, '/') != NULL) {
        path = NULL;
    } else {
        for (size_t i = 0; envp[i] != NULL; i++) {
            if (strncmp(envp[i], "PATH=", 5) == 0)
                path = envp[i] + 5;
        }
    }
    /* One block: the pointer array, then the strings. */
    size_t count = 1, bytes = strlen(argv0) + 1;
    for (const char *p = path; p != NULL && *p != '\0'; p += strcspn(p, ":"), p += *p == ':') {
        count++;
        bytes += strcspn(p, ":") + 1 + strlen(argv0) + 1;
    }
    char **candidates = malloc((count + 1) * sizeof(char *) + bytes);
    if (candidates == NULL) {
        snprintf(err, errlen, "allocating the program's search path: %s", strerror(errno));
        return NULL;
    }
    char *text = (char *)(candidates + count + 1);
    size_t n = 0;
    if (path == NULL) {
        candidates[n++] = strcpy(text, argv0);
    } else {
        for (const char *p = path; *p != '\0'; p += strcspn(p, ":"), p += *p == ':') {
            size_t dir = strcspn(p, ":");
            if (dir == 0)
                continue;
            int len = sprintf(text, "%.*s/%s", (int)dir, p, argv0);
            candidates[n++] = text;
            text += len + 1;
        }
    }
    candidates[n] = NULL;
    return candidates;
}
