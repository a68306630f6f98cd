/* The per-process jail_context: everything that is the same for every jail,
 * made once (state directory, host uids, cgroups, the seccomp program, the
 * base mount plan, the policy hash). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "sandbox/jail_host.h"

#define DEFAULT_STATE_DIR "/run/brig"
#define UID_LOCK_DIR DEFAULT_STATE_DIR "/uids"
#define MAX_JAILS_LIMIT 65536

/* Creates dir unless it exists, accepts it only if it is a real directory
 * of ours, and gives it exactly mode: jails look up their mount points
 * through the state directory as their own uid, so it must be 0711. */
static int make_private_dir(const char *dir, mode_t mode, char *err, size_t errlen)
{
    if (mkdir(dir, mode) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "creating %s: %s", dir, strerror(errno));
        return -1;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "opening %s: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "%s must be owned by uid %u, not %u", dir, (unsigned)geteuid(),
                 (unsigned)st.st_uid);
        close(fd);
        return -1;
    }
    if ((st.st_mode & 07777) != mode && fchmod(fd, mode) != 0) {
        snprintf(err, errlen, "setting the mode of %s to %#o: %s", dir, (unsigned)mode,
                 strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int read_cap_last_cap(char *err, size_t errlen)
{
    const char *path = "/proc/sys/kernel/cap_last_cap";
    FILE *file = fopen(path, "re");
    int value = -1;
    if (file == NULL || fscanf(file, "%d", &value) != 1 || value < 0 || value > 63) {
        snprintf(err, errlen, "reading %s: %s", path,
                 file ? "not a capability number" : strerror(errno));
        value = -1;
    }
    if (file != NULL)
        fclose(file);
    return value;
}

static unsigned usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* The environment every job starts from, a line per variable. */
static char *describe_env(const struct jail_context *ctx)
{
    char err[256];
    char **envp = privs_build_env((const char *const *)ctx->env, NULL, err, sizeof(err));
    char *text = NULL;
    size_t len = 0;
    FILE *out = envp != NULL ? open_memstream(&text, &len) : NULL;
    for (size_t i = 0; out != NULL && envp[i] != NULL; i++)
        fprintf(out, "env %s\n", envp[i]);
    if (out != NULL && fclose(out) != 0) {
        free(text);
        text = NULL;
    }
    free(envp);
    return text;
}

/* The operator's part of every jail: binds and environment, checked. */
static int take_operator_config(struct jail_context *ctx, const struct jail_context_config *config,
                                char *err, size_t errlen)
{
    char **envp = privs_build_env(config->env, NULL, err, errlen);
    if (envp == NULL)
        return -1;
    free(envp);
    if ((ctx->env = strv_copy(config->env)) == NULL) {
        snprintf(err, errlen, "copying the jails' environment: %s", strerror(errno));
        return -1;
    }
    if (config->n_binds > 0 && config->binds == NULL) {
        snprintf(err, errlen, "config.binds is NULL but n_binds is %zu", config->n_binds);
        return -1;
    }
    return jail_binds_check(config->binds, config->n_binds, err, errlen);
}

/* SHA-256 of the seccomp program, the mounts, the environment and the default limits. */
static int hash_policy(struct jail_context *ctx, char *err, size_t errlen)
{
    struct jail_limits limits;
    jail_limits_default(&limits);
    struct mnt_plan job_plan;
    char plan_err[256];
    if (mnt_plan_job(&job_plan, ctx->root_dir, &limits, NULL, NULL, 0, plan_err,
                     sizeof(plan_err)) != 0) {
        snprintf(err, errlen, "%s", plan_err);
        return -1;
    }
    char *base_text = mnt_plan_describe(&ctx->base_plan);
    char *job_text = mnt_plan_describe(&job_plan);
    mnt_plan_free(&job_plan);
    char *env_text = describe_env(ctx);
    char identity[512];
    snprintf(identity, sizeof(identity),
             "uid=%d gid=%d hostname=%s\n"
             "wall_ms=%llu cpu_ms=%llu memory_bytes=%llu pids=%llu output_bytes=%llu "
             "fsize_bytes=%llu nofile=%llu stack_bytes=%llu tmp_bytes=%llu disk_bytes=%llu "
             "cpu_millis=%u\n",
             JAIL_INSIDE_ID, JAIL_INSIDE_ID, JAIL_HOSTNAME, (unsigned long long)limits.wall_ms,
             (unsigned long long)limits.cpu_ms, (unsigned long long)limits.memory_bytes,
             (unsigned long long)limits.pids, (unsigned long long)limits.output_bytes,
             (unsigned long long)limits.fsize_bytes, (unsigned long long)limits.nofile,
             (unsigned long long)limits.stack_bytes, (unsigned long long)limits.tmp_bytes,
             (unsigned long long)limits.disk_bytes, limits.cpu_millis);
    size_t program_len;
    const void *program = seccomp_policy_program(ctx->seccomp, &program_len);

    int rc = -1;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (base_text != NULL && job_text != NULL && md != NULL &&
        EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(md, program, program_len) == 1 &&
        EVP_DigestUpdate(md, base_text, strlen(base_text)) == 1 &&
        EVP_DigestUpdate(md, job_text, strlen(job_text)) == 1 && env_text != NULL &&
        EVP_DigestUpdate(md, env_text, strlen(env_text)) == 1 &&
        EVP_DigestUpdate(md, identity, strlen(identity)) == 1 &&
        EVP_DigestFinal_ex(md, digest, &digest_len) == 1 && digest_len == 32) {
        for (unsigned i = 0; i < digest_len; i++)
            snprintf(ctx->policy_hash + 2 * i, 3, "%02x", digest[i]);
        rc = 0;
    } else {
        snprintf(err, errlen, "hashing the jail policy failed (out of memory or libcrypto)");
    }
    EVP_MD_CTX_free(md);
    free(base_text);
    free(job_text);
    free(env_text);
    return rc;
}

static char *join(const char *dir, const char *name)
{
    char *path;
    return asprintf(&path, "%s/%s", dir, name) < 0 ? NULL : path;
}

/* The jail builds its mounts from inside its own user namespace, as a host
 * uid that owns nothing, so it can only reach the state directory (its root
 * and the workspaces), or an image, through directories that let everyone
 * search them. */
int jail_check_reachable(const char *what, const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *end = path + strlen(path); end > path; end = strrchr(path, '/')) {
        *end = '\0';
        const char *ancestor = path[0] ? path : "/";
        struct stat st;
        if (stat(ancestor, &st) != 0) {
            snprintf(err, errlen, "checking %s: %s", ancestor, strerror(errno));
            return -1;
        }
        if (!(st.st_mode & S_IXOTH)) {
            snprintf(err, errlen,
                     "%s %s is out of the jails' reach: %s is mode %04o and jails "
                     "(unprivileged host uids) need to search it (chmod o+x, or choose another "
                     "place)",
                     what, dir, ancestor, (unsigned)(st.st_mode & 07777));
            return -1;
        }
    }
    return 0;
}

int jail_context_new(const struct jail_context_config *config, struct jail_context **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    if (config == NULL || config->max_jails == 0 || config->max_jails > MAX_JAILS_LIMIT) {
        snprintf(err, errlen, "config.max_jails must be between 1 and %d", MAX_JAILS_LIMIT);
        return -1;
    }
    if (config->state_dir != NULL && config->state_dir[0] != '/') {
        snprintf(err, errlen, "config.state_dir \"%s\" must be an absolute path",
                 config->state_dir);
        return -1;
    }
    if (geteuid() != 0) {
        snprintf(err, errlen,
                 "the jail must run as root: it maps host uids, mounts workspaces and "
                 "manages cgroups");
        return -1;
    }
    struct jail_context *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        snprintf(err, errlen, "allocating the jail context: %s", strerror(errno));
        return -1;
    }
    pthread_mutex_init(&ctx->policy_hash_lock, NULL);
    ctx->ncpus = usable_cpus();
    ctx->state_dir = strdup(config->state_dir ? config->state_dir : DEFAULT_STATE_DIR);
    if (ctx->state_dir == NULL || (ctx->root_dir = join(ctx->state_dir, "root")) == NULL ||
        (ctx->ws_dir = join(ctx->state_dir, "ws")) == NULL) {
        snprintf(err, errlen, "allocating the jail context: %s", strerror(errno));
        goto fail;
    }
    /* Host uids are the host's: their locks are in the default state
     * directory whatever this context's, so that processes with different
     * state directories (tests, two installations) never share a uid. */
    if (make_private_dir(DEFAULT_STATE_DIR, 0711, err, errlen) != 0 ||
        make_private_dir(UID_LOCK_DIR, 0700, err, errlen) != 0 ||
        make_private_dir(ctx->state_dir, 0711, err, errlen) != 0 ||
        make_private_dir(ctx->ws_dir, 0711, err, errlen) != 0 ||
        make_private_dir(ctx->root_dir, 0700, err, errlen) != 0 ||
        jail_check_reachable("state directory", ctx->ws_dir, err, errlen) != 0)
        goto fail;
    if ((ctx->cap_last_cap = read_cap_last_cap(err, errlen)) < 0 ||
        owner_self(&ctx->owner, err, errlen) != 0)
        goto fail;
    if (uid_pool_claim(&ctx->uids, UID_LOCK_DIR, config->max_jails, err, errlen) != 0)
        goto fail;
    workspace_sweep_stale(ctx);
    if (cgroup_backend_detect(config->cgroup_root, &ctx->cgroups, err, errlen) != 0)
        goto fail;
    if (seccomp_policy_build(&ctx->seccomp, err, errlen) != 0)
        goto fail;
    if (take_operator_config(ctx, config, err, errlen) != 0 ||
        mnt_plan_base(&ctx->base_plan, ctx->root_dir, err, errlen) != 0 ||
        mnt_plan_binds(&ctx->base_plan, ctx->root_dir, config->binds, config->n_binds, err,
                       errlen) != 0)
        goto fail;
    static const char *const cold[] = {"--cold", NULL};
    if (config->spawner_path != NULL &&
        server_start(ctx, config->spawner_path, cold, &ctx->spawner, err, errlen) != 0)
        goto fail;
    if (config->netns_pool > 0 &&
        netns_pool_start(config->netns_pool, &ctx->netns, err, errlen) != 0)
        goto fail;
    *out = ctx;
    return 0;

fail:
    jail_context_free(ctx);
    return -1;
}

struct jail_server *jail_context_spawner(struct jail_context *ctx)
{
    return ctx->spawner;
}

void jail_context_free(struct jail_context *ctx)
{
    if (ctx == NULL)
        return;
    netns_pool_stop(ctx->netns);
    jail_server_free(ctx->spawner);
    mnt_plan_free(&ctx->base_plan);
    strv_free(ctx->env);
    seccomp_policy_free(ctx->seccomp);
    pthread_mutex_destroy(&ctx->policy_hash_lock);
    if (ctx->cgroups != NULL)
        cgroup_backend_free(ctx->cgroups);
    if (ctx->uids.size > 0)
        uid_pool_release(&ctx->uids);
    free(ctx->state_dir);
    free(ctx->root_dir);
    free(ctx->ws_dir);
    free(ctx);
}

/* Hashed on first use: libcrypto's start-up costs a program that runs one
 * jail and never reports the hash (brig-jail without --json) about a tenth
 * of its run. */
const char *jail_policy_hash(struct jail_context *ctx)
{
    pthread_mutex_lock(&ctx->policy_hash_lock);
    if (ctx->policy_hash[0] == '\0') {
        char err[256];
        if (hash_policy(ctx, err, sizeof(err)) != 0)
            snprintf(ctx->policy_hash, sizeof(ctx->policy_hash), "unknown (%.40s)", err);
    }
    pthread_mutex_unlock(&ctx->policy_hash_lock);
    return ctx->policy_hash;
}

const char *jail_cgroup_version(const struct jail_context *ctx)
{
    return cgroup_backend_version(ctx->cgroups);
}
