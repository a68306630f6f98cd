/* The pool of live interpreters (interp.h): which session has one, and when
 * each ends. */
#include "worker/interp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "sandbox/self_path.h"
#include "worker/egress.h"
#include "worker/interp_impl.h"
#include "worker/log.h"
#include "worker/session_env.h"

/* A kernel is brig's own file, small; anything larger is not one. */
#define KERNEL_MAX (1u << 20)

static char *read_kernel(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        snprintf(err, errlen, "opening the kernel %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(KERNEL_MAX + 1);
    size_t len = 0;
    ssize_t n = 0;
    while (text && len < KERNEL_MAX && (n = read(fd, text + len, KERNEL_MAX - len)) > 0)
        len += (size_t)n;
    int saved = errno;
    close(fd);
    if (!text || n < 0 || len == KERNEL_MAX) {
        snprintf(err, errlen, "reading the kernel %s: %s", path,
                 !text || n < 0 ? strerror(saved) : "over 1 MiB");
        free(text);
        return NULL;
    }
    text[len] = '\0';
    return text;
}

/* Installed beside the runtime table, else the source tree's; path gets
 * the file read. */
static char *load_kernel(const char *name, char path[PATH_MAX], char *err, size_t errlen)
{
    char relative[128];
    snprintf(relative, sizeof(relative), "../share/brig/kernels/%s", name);
    if (self_relative_path(relative, path, PATH_MAX, err, errlen) != 0)
        return NULL;
    if (access(path, R_OK) != 0)
        snprintf(path, PATH_MAX, "%s/sandbox/kernels/%s", BRIG_SOURCE_DIR, name);
    return read_kernel(path, err, errlen);
}

/* What the Python kernel imports (venv: it makes the session's,
 * session_env.h), so that a warm start skips it, then the kernel itself, run
 * by the server as the module brig_python_kernel (sandbox/zygote/python.h),
 * which builds the kernel's shell before the fork. */
#define KERNEL_MODULE "brig_python_kernel="
static const char *const kernel_imports[] = {"msgpack", "IPython.core.interactiveshell",
                                             "matplotlib_inline.backend_inline",
                                             "matplotlib.pyplot", "venv"};

static const char *const kernel_files[KERNEL_COUNT] = {
    [KERNEL_PYTHON] = "python_kernel.py",
    [KERNEL_NODE] = "node_kernel.js",
};

/* The runtimes whose session jobs are cells, and their kernel; dialect, the
 * argument after a node kernel's source, says which language its cells are. */
static const struct {
    const char *runtime;
    enum interp_kernel kernel;
    const char *dialect;
} cell_runtimes[] = {
    {"python", KERNEL_PYTHON, NULL},
    {"javascript", KERNEL_NODE, NULL},
    {"typescript", KERNEL_NODE, "typescript"},
};

static int cell_runtime(const char *runtime_name)
{
    for (size_t i = 0; runtime_name && i < sizeof(cell_runtimes) / sizeof(cell_runtimes[0]); i++)
        if (strcmp(runtime_name, cell_runtimes[i].runtime) == 0)
            return (int)i;
    return -1;
}

int interp_pool_new(const struct interp_pool_config *config, struct jail_context *jail,
                    const char *zygote, struct interp_pool **out, char *err, size_t errlen)
{
    struct interp_pool *pool = calloc(1, sizeof(*pool));
    if (!pool) {
        snprintf(err, errlen, "allocating the interpreter pool: %s", strerror(errno));
        return -1;
    }
    pool->config = *config;
    pthread_mutex_init(&pool->lock, NULL);
    char paths[KERNEL_COUNT][PATH_MAX];
    for (int k = 0; k < KERNEL_COUNT; k++) {
        pool->kernels[k] = load_kernel(kernel_files[k], paths[k], err, errlen);
        if (!pool->kernels[k]) {
            interp_pool_free(pool);
            return -1;
        }
    }
    char module[sizeof(KERNEL_MODULE) + PATH_MAX];
    snprintf(module, sizeof(module), KERNEL_MODULE "%s", paths[KERNEL_PYTHON]);
    const char *preload[ARRAY_SIZE(kernel_imports) + 2];
    memcpy(preload, kernel_imports, sizeof(kernel_imports));
    preload[ARRAY_SIZE(kernel_imports)] = module;
    preload[ARRAY_SIZE(kernel_imports) + 1] = NULL;
    char why[256];
    if (zygote && jail_server_start_warm(jail, zygote, preload, &pool->warm, why, sizeof(why)) < 0)
        log_warn(NULL, "the Python kernel starts cold: its warm server: %s", why);
    *out = pool;
    return 0;
}

struct jail_server *interp_pool_kernel_server(const struct interp_pool *pool)
{
    return pool->warm;
}

bool interp_runtime_has_kernel(const char *runtime_name)
{
    return cell_runtime(runtime_name) >= 0;
}

bool interp_kernel_makes_venv(const struct runtime *rt)
{
    int i = cell_runtime(rt ? rt->name : NULL);
    return (i < 0 || cell_runtimes[i].kernel == KERNEL_PYTHON) && (!rt || !rt->image);
}

void interp_kernel_command(const struct interp_pool *pool, const struct runtime *rt,
                           const char **argv, struct jail_server **warm)
{
    const char *const *command;
    /* Node's REPL rewriting of a top-level await is internal; node cannot
     * start from a fork of a warm server. */
    static const char *const node[] = {"node", "--expose-internals",
                                       "--disable-warning=ExperimentalWarning", "-e", NULL};
    static const char *const python[] = {"python3", "-c", NULL};
    int i = cell_runtime(rt ? rt->name : NULL);
    if (i < 0)
        i = 0;
    enum interp_kernel k = cell_runtimes[i].kernel;
    command = k == KERNEL_NODE ? node : python;
    *warm = k == KERNEL_PYTHON ? pool->warm : NULL;
    size_t n = 0;
    for (; command[n]; n++)
        argv[n] = command[n];
    argv[n++] = pool->kernels[k];
    if (cell_runtimes[i].dialect)
        argv[n++] = cell_runtimes[i].dialect;
    if (interp_kernel_makes_venv(rt)) {
        argv[n++] = session_env_make_venv;
        argv[n++] = session_env_pip_guard;
    }
    argv[n] = NULL;
}

void interp_end(struct interp *ip, struct jail_outcome *how)
{
    struct jail_outcome ignored;
    if (ip->live) {
        jail_live_stop(ip->live, how ? how : &ignored);
        if (!how)
            jail_outcome_free(&ignored);
    }
    ip->live = NULL;
    /* After the jail: every request it made is decided and recorded. */
    egress_job_close(ip->egress);
    ip->egress = NULL;
    free(ip->network_key);
    ip->network_key = NULL;
    ip->count = 0;
    interp_reader_free(&ip->reader);
}

static void interp_free(struct interp *ip)
{
    interp_end(ip, NULL);
    free(ip);
}

/* Unlinks the interpreters that pass test (idle ones only) into *gone. */
static void unlink_idle(struct interp_pool *pool,
                        bool (*test)(struct interp_pool *, const struct interp *, void *),
                        void *arg, struct interp **gone)
{
    for (struct interp **at = &pool->list; *at;) {
        struct interp *ip = *at;
        if (!ip->busy && test(pool, ip, arg)) {
            *at = ip->next;
            ip->next = *gone;
            *gone = ip;
        } else {
            at = &ip->next;
        }
    }
}

static void free_list(struct interp *list)
{
    while (list) {
        struct interp *next = list->next;
        log_info(NULL, "session %s: its interpreter ended", list->session);
        interp_free(list);
        list = next;
    }
}

static bool any(struct interp_pool *pool, const struct interp *ip, void *arg)
{
    (void)pool, (void)ip, (void)arg;
    return true;
}

void interp_pool_free(struct interp_pool *pool)
{
    if (!pool)
        return;
    struct interp *gone = NULL;
    unlink_idle(pool, any, NULL, &gone);
    free_list(gone);
    pthread_mutex_destroy(&pool->lock);
    jail_server_free(pool->warm);
    for (int k = 0; k < KERNEL_COUNT; k++)
        free(pool->kernels[k]);
    free(pool);
}

static bool expired(struct interp_pool *pool, const struct interp *ip, void *arg)
{
    int64_t now = *(const int64_t *)arg;
    const struct interp_pool_config *c = &pool->config;
    return (c->idle_ms && now - ip->last_used_ms > (int64_t)c->idle_ms) ||
           now - ip->started_ms > (int64_t)c->lifetime_ms;
}

void interp_pool_sweep(struct interp_pool *pool)
{
    int64_t now = monotonic_ms();
    struct interp *gone = NULL;
    pthread_mutex_lock(&pool->lock);
    unlink_idle(pool, expired, &now, &gone);
    pthread_mutex_unlock(&pool->lock);
    free_list(gone);
}

static bool of_partition(struct interp_pool *pool, const struct interp *ip, void *arg)
{
    (void)pool;
    return ip->partition == *(const int32_t *)arg;
}

void interp_pool_end_partition(struct interp_pool *pool, int32_t partition)
{
    struct interp *gone = NULL;
    pthread_mutex_lock(&pool->lock);
    for (struct interp *ip = pool->list; ip; ip = ip->next)
        if (ip->busy && ip->partition == partition)
            ip->doomed = true;
    unlink_idle(pool, of_partition, &partition, &gone);
    pthread_mutex_unlock(&pool->lock);
    free_list(gone);
}

/* The least recently used idle interpreter, when the pool is full. */
static struct interp *evict(struct interp_pool *pool)
{
    unsigned n = 0;
    struct interp *oldest = NULL, **oldest_at = NULL;
    for (struct interp **at = &pool->list; *at; at = &(*at)->next) {
        n += (*at)->live != NULL || (*at)->busy;
        if (!(*at)->busy) {
            oldest = *at;
            oldest_at = at;
        }
    }
    if (n < pool->config.max_live || !oldest)
        return NULL;
    *oldest_at = oldest->next;
    oldest->next = NULL;
    return oldest;
}

struct interp *interp_take(struct interp_pool *pool, const char *session, int32_t partition)
{
    struct interp *ip, *evicted = NULL;
    pthread_mutex_lock(&pool->lock);
    struct interp **at = &pool->list;
    while (*at && strcmp((*at)->session, session) != 0)
        at = &(*at)->next;
    ip = *at;
    if (ip) {
        *at = ip->next;
    } else {
        evicted = evict(pool);
        ip = calloc(1, sizeof(*ip));
        if (ip)
            snprintf(ip->session, sizeof(ip->session), "%s", session);
    }
    if (ip) {
        ip->busy = true;
        ip->partition = partition;
        ip->next = pool->list;
        pool->list = ip;
    }
    pthread_mutex_unlock(&pool->lock);
    if (evicted) {
        log_info(NULL, "session %s: its idle interpreter ended to make room (--max-interpreters)",
                 evicted->session);
        interp_free(evicted);
    }
    return ip;
}

void interp_put(struct interp_pool *pool, struct interp *ip)
{
    if (ip->doomed)
        interp_end(ip, NULL);
    pthread_mutex_lock(&pool->lock);
    ip->busy = false;
    ip->doomed = false;
    ip->last_used_ms = monotonic_ms();
    if (!ip->live) {
        for (struct interp **at = &pool->list; *at; at = &(*at)->next) {
            if (*at == ip) {
                *at = ip->next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&pool->lock);
    if (!ip->live)
        interp_free(ip);
}
