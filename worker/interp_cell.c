/* One cell in a session's interpreter (interp.h): start the interpreter if
 * it is not there, send the code, then watch the kernel's stdout, stderr and
 * channel, the cell's limits and its cancel switch until the kernel says
 * "done", dies, breaks the protocol or outlives the grace after an
 * interrupt. Nothing that comes out of the jail is trusted: frames are
 * decoded strictly (interp_channel.h), their order is checked here, and
 * SCHEMA.md 6.1's bounds are the worker's to keep. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "worker/egress.h"
#include "worker/interp_impl.h"
#include "worker/log.h"

/* A kernel starts within this, warm or cold, or is given up. */
#define START_MS 60000
/* How often limits are checked while nothing happens. */
#define TICK_MS 20
#define CHUNK 65536

enum why_stopped { WHY_NONE, WHY_WALL, WHY_CPU, WHY_CANCEL, WHY_OUTPUT };

enum end { END_NONE, END_DONE, END_DIED, END_VIOLATION, END_KILLED, END_NO_START };

struct run {
    struct interp_pool *pool;
    const struct interp_cell *cell;
    struct interp_cell_result *res;
    struct interp *ip;
    struct jail_live_fds fds;
    bool ready, result_seen, error_seen;
    enum interp_done_status done_status;
    enum end end;
    enum why_stopped why;
    int64_t exec_ms, interrupted_ms;
    uint64_t cpu_before_us;
    size_t outputs_bytes, outputs_capacity;
    msgpack_sbuffer send; /* the exec frame */
    size_t sent;
    char problem[256];
};

static void set_problem(struct run *r, enum end end, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_problem(struct run *r, enum end end, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->problem, sizeof(r->problem), fmt, ap);
    va_end(ap);
    r->end = end;
}

static void interrupt(struct run *r, enum why_stopped why)
{
    char err[256];
    if (r->why != WHY_NONE)
        return;
    r->why = why;
    r->interrupted_ms = monotonic_ms();
    if (jail_live_interrupt(r->ip->live, err, sizeof(err)) < 0)
        log_warn(NULL, "session %s: %s", r->ip->session, err);
}

/* ---- stdout and stderr ---- */

static int capture(struct jail_capture *c, const char *data, size_t len)
{
    char *grown = realloc(c->data, c->len + len + 1);
    if (!grown)
        return -1;
    memcpy(grown + c->len, data, len);
    c->data = grown;
    c->len += len;
    c->data[c->len] = '\0';
    return 0;
}

/* Reads what is there; the cell's output_bytes cover both streams, as for a
 * job, and past them the cell is interrupted. */
static void read_stream(struct run *r, int fd, enum jail_stream stream)
{
    char buf[CHUNK];
    struct jail_capture *c = stream == JAIL_STDOUT ? &r->res->jail.out : &r->res->jail.err;
    uint64_t cap = r->cell->spec->limits.output_bytes;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        if (r->cell->on_output)
            r->cell->on_output(r->cell->output_ctx, stream, buf, (size_t)n);
        size_t used = r->res->jail.out.len + r->res->jail.err.len;
        size_t room = used < cap ? (size_t)(cap - used) : 0;
        size_t keep = (size_t)n < room ? (size_t)n : room;
        if (keep < (size_t)n) {
            c->truncated = true;
            interrupt(r, WHY_OUTPUT);
        }
        if (keep > 0 && capture(c, buf, keep) < 0) {
            c->truncated = true;
            interrupt(r, WHY_OUTPUT);
        }
    }
}

static void read_streams(struct run *r)
{
    read_stream(r, r->fds.out, JAIL_STDOUT);
    read_stream(r, r->fds.err, JAIL_STDERR);
}

/* ---- frames ---- */

static char *clean(const struct interp_text *t, size_t max)
{
    return interp_clean_text(t->data, t->len, max);
}

static void add_output(struct run *r, const struct interp_frame *f)
{
    struct interp_cell_result *res = r->res;
    if (res->output_count == BRIG_OUTPUTS_MAX) {
        res->outputs_truncated = true;
        return;
    }
    struct brig_file *data = calloc(f->item_count, sizeof(*data));
    size_t size = 0, made = 0;
    for (; data && made < f->item_count; made++) {
        const struct interp_mime *m = &f->items[made];
        char *body = m->text ? clean(&m->data, BRIG_OUTPUTS_MAX_BYTES) : malloc(m->data.len + 1);
        char *type = strdup(m->type);
        if (!body || !type) {
            free(body);
            free(type);
            break;
        }
        size_t len = m->text ? strlen(body) : m->data.len;
        if (!m->text)
            memcpy(body, m->data.data, len);
        data[made] = (struct brig_file){.path = type, .content = {body, len}};
        size += len;
    }
    bool fits = data && made == f->item_count && r->outputs_bytes + size <= BRIG_OUTPUTS_MAX_BYTES;
    if (fits && res->output_count == r->outputs_capacity) {
        size_t capacity = r->outputs_capacity ? r->outputs_capacity * 2 : 8;
        struct brig_output *grown = realloc(res->outputs, capacity * sizeof(*grown));
        if (grown) {
            res->outputs = grown;
            r->outputs_capacity = capacity;
        } else {
            fits = false;
        }
    }
    if (!fits) {
        for (size_t i = 0; i < made; i++) {
            free((void *)data[i].path);
            free((void *)data[i].content.data);
        }
        free(data);
        res->outputs_truncated = true;
        return;
    }
    r->outputs_bytes += size;
    res->outputs[res->output_count++] = (struct brig_output){
        .kind = f->result ? "result" : "display", .data = data, .data_count = f->item_count};
}

static int set_exception(struct run *r, const struct interp_frame *f)
{
    struct interp_cell_result *res = r->res;
    res->exception_name = clean(&f->name, BRIG_EXCEPTION_NAME_MAX);
    res->exception_value = clean(&f->value, BRIG_EXCEPTION_VALUE_MAX);
    res->traceback = calloc(f->traceback_count ? f->traceback_count : 1, sizeof(char *));
    if (!res->exception_name || !res->exception_value || !res->traceback)
        return -1;
    /* The name is one line (SCHEMA.md 6.1). */
    for (char *c = res->exception_name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    if (!res->exception_name[0]) {
        free(res->exception_name);
        res->exception_name = strdup("Exception");
    }
    for (size_t i = 0; i < f->traceback_count; i++) {
        if (!(res->traceback[i] = clean(&f->traceback[i], BRIG_TRACEBACK_ENTRY_MAX)))
            return -1;
        res->traceback_count++;
    }
    return res->exception_name ? 0 : -1;
}

static void send_exec(struct run *r)
{
    const struct interp_cell *cell = r->cell;
    interp_exec_encode(&r->send, cell->code, cell->code_len, cell->env, cell->env_count,
                       r->ip->count + 1);
    r->exec_ms = monotonic_ms();
    struct jail_live_usage usage;
    if (jail_live_usage(r->ip->live, &usage) == 0)
        r->cpu_before_us = usage.cpu_us;
}

/* Each frame in the order the protocol allows: ready once, first; then a
 * cell's outputs, at most one result and one error, and done, last. */
static void on_frame(struct run *r, const struct interp_frame *f)
{
    if (r->end != END_NONE) {
        set_problem(r, END_VIOLATION, "a frame after the cell's done");
        return;
    }
    if (!r->ready) {
        if (f->type != INTERP_READY) {
            set_problem(r, END_VIOLATION, "a frame before ready");
            return;
        }
        r->ready = true;
        send_exec(r);
        return;
    }
    switch (f->type) {
    case INTERP_READY:
        set_problem(r, END_VIOLATION, "ready twice");
        break;
    case INTERP_OUTPUT:
        if (f->result && r->result_seen)
            set_problem(r, END_VIOLATION, "two results in one cell");
        r->result_seen |= f->result;
        add_output(r, f);
        break;
    case INTERP_DROPPED:
        r->res->outputs_truncated = true;
        break;
    case INTERP_ERROR:
        if (r->error_seen)
            set_problem(r, END_VIOLATION, "two errors in one cell");
        else if (set_exception(r, f) < 0)
            set_problem(r, END_VIOLATION, "out of memory keeping the cell's exception");
        r->error_seen = true;
        break;
    case INTERP_DONE:
        r->done_status = f->status;
        r->end = END_DONE;
        break;
    }
}

static void read_channel(struct run *r)
{
    char buf[CHUNK], why[200];
    for (;;) {
        ssize_t n = read(r->fds.from_program, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        if (interp_reader_feed(&r->ip->reader, buf, (size_t)n) < 0) {
            set_problem(r, END_VIOLATION, "out of memory reading the channel");
            return;
        }
        const char *frame;
        size_t len;
        int got;
        while ((got = interp_reader_next(&r->ip->reader, &frame, &len, why, sizeof(why))) == 1) {
            struct interp_frame f;
            if (interp_frame_decode(frame, len, &f, why, sizeof(why)) < 0) {
                set_problem(r, END_VIOLATION, "%s", why);
                return;
            }
            on_frame(r, &f);
            if (r->end == END_VIOLATION)
                return;
        }
        if (got < 0) {
            set_problem(r, END_VIOLATION, "%s", why);
            return;
        }
    }
}

static void write_exec(struct run *r)
{
    while (r->sent < r->send.size) {
        ssize_t n = write(r->fds.to_program, r->send.data + r->sent, r->send.size - r->sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            set_problem(r, END_DIED, "sending the cell: %s", strerror(errno));
        if (n <= 0)
            return;
        r->sent += (size_t)n;
    }
}

/* ---- the loop ---- */

static void check_limits(struct run *r, int64_t now)
{
    const struct jail_limits *l = &r->cell->spec->limits;
    if (!r->ready) {
        if (now - r->exec_ms > START_MS)
            set_problem(r, END_NO_START, "the interpreter did not start within %d s",
                        START_MS / 1000);
        return;
    }
    if (r->why != WHY_NONE) {
        if (now - r->interrupted_ms > (int64_t)r->pool->config.grace_ms)
            set_problem(r, END_KILLED,
                        "the interpreter did not stop within %llu ms of the interrupt: killed",
                        (unsigned long long)r->pool->config.grace_ms);
        return;
    }
    struct jail_live_usage usage;
    if (l->wall_ms && now - r->exec_ms > (int64_t)l->wall_ms)
        interrupt(r, WHY_WALL);
    else if (l->cpu_ms && jail_live_usage(r->ip->live, &usage) == 0 &&
             usage.cpu_us - r->cpu_before_us > l->cpu_ms * 1000)
        interrupt(r, WHY_CPU);
}

static void watch(struct run *r)
{
    enum { OUT, ERR, CHANNEL, ENDED, TO, CANCEL, N };
    while (r->end == END_NONE) {
        struct pollfd p[N] = {
            [OUT] = {r->fds.out, POLLIN, 0},
            [ERR] = {r->fds.err, POLLIN, 0},
            [CHANNEL] = {r->fds.from_program, POLLIN, 0},
            [ENDED] = {r->fds.ended, POLLIN, 0},
            [TO] = {r->sent < r->send.size ? r->fds.to_program : -1, POLLOUT, 0},
            [CANCEL] = {r->cell->cancel_fd > 0 && r->why != WHY_CANCEL ? r->cell->cancel_fd : -1,
                        POLLIN, 0},
        };
        if (poll(p, N, TICK_MS) < 0 && errno != EINTR) {
            set_problem(r, END_DIED, "waiting for the interpreter: %s", strerror(errno));
            return;
        }
        read_streams(r);
        read_channel(r);
        if (r->end != END_NONE)
            return;
        if (p[TO].revents)
            write_exec(r);
        if (p[CANCEL].revents & POLLIN)
            interrupt(r, WHY_CANCEL);
        if (p[ENDED].revents) {
            read_streams(r);
            set_problem(r, END_DIED, "the interpreter ended during the cell");
            return;
        }
        check_limits(r, monotonic_ms());
    }
}

/* The device of the session's tmpfs as this cell sees it; 0 if unknown. */
static dev_t workspace_dev(const struct interp_cell *cell)
{
    struct stat st;
    if (!cell->spec->workspace || fstat(jail_workspace_dirfd(cell->spec->workspace), &st) != 0)
        return 0;
    return st.st_dev;
}

/* An interpreter left from an earlier cell that died, outlived its lifetime,
 * wrote on its channel between cells or works in a session since removed
 * (brig session rm) is not reused. */
static bool reusable(struct run *r)
{
    struct interp *ip = r->ip;
    if (!ip->live)
        return false;
    struct pollfd p[2] = {{r->fds.ended, POLLIN, 0}, {r->fds.from_program, POLLIN, 0}};
    if (poll(p, 2, 0) != 0) {
        log_warn(NULL, "session %s: its interpreter %s between cells: a fresh one starts",
                 ip->session, p[0].revents ? "ended" : "wrote on its channel");
        return false;
    }
    if (workspace_dev(r->cell) != ip->workspace_dev) {
        log_info(NULL, "session %s: its workspace was made again: a fresh interpreter starts",
                 ip->session);
        return false;
    }
    if (strcmp(ip->network_key, r->cell->network_key) != 0) {
        log_info(NULL, "session %s: a cell with other network rules: a fresh interpreter starts",
                 ip->session);
        return false;
    }
    return monotonic_ms() - ip->started_ms <= (int64_t)r->pool->config.lifetime_ms;
}

static int start(struct run *r, char *err, size_t errlen)
{
    const struct interp_cell *cell = r->cell;
    const char *argv[7];
    struct jail_server *pool_warm;
    const struct runtime *rt = cell->runtime;
    interp_kernel_command(r->pool, rt, argv, &pool_warm);
    struct jail_spec spec = *cell->spec;
    spec.argv = argv;
    /* A runtime on a root image has its own interpreter: the pool's server
     * is the host's. */
    spec.image = rt ? rt->image : NULL;
    spec.warm = rt && rt->warm ? rt->warm : spec.image ? NULL : pool_warm;
    /* RLIMIT_CPU counts the interpreter's whole life, not one cell. */
    spec.limits.cpu_ms = r->pool->config.lifetime_ms;
    spec.on_output = NULL;
    spec.cancel_fd = 0;
    if (!(r->ip->network_key = strdup(cell->network_key))) {
        snprintf(err, errlen, "keeping the cell's network rules: %s", strerror(errno));
        return -1;
    }
    if (jail_live_start(cell->jail, &spec, &r->ip->live, err, errlen) < 0) {
        free(r->ip->network_key);
        r->ip->network_key = NULL;
        return -1;
    }
    r->ip->egress = *cell->egress;
    *cell->egress = NULL;
    r->ip->started_ms = monotonic_ms();
    r->ip->workspace_dev = workspace_dev(cell);
    r->ip->count = 0;
    interp_reader_init(&r->ip->reader);
    r->res->started = true;
    return 0;
}

static brig_status stopped_status(enum why_stopped why, struct jail_outcome *out)
{
    switch (why) {
    case WHY_WALL:
        return BRIG_STATUS_TIMEOUT;
    case WHY_CPU:
        return BRIG_STATUS_CPU_TIMEOUT;
    case WHY_OUTPUT:
        return BRIG_STATUS_OUTPUT_LIMIT;
    case WHY_CANCEL:
        out->cancelled = true;
        return BRIG_STATUS_INTERNAL_ERROR;
    default:
        return BRIG_STATUS_OK;
    }
}

/* The interpreter is gone: the cell's status says why. */
static void lose(struct run *r)
{
    struct jail_outcome how;
    struct jail_outcome *out = &r->res->jail;
    struct jail_live_usage usage = {0};
    bool oom = jail_live_usage(r->ip->live, &usage) == 0 && usage.oom_killed;
    interp_end(r->ip, &how);
    r->res->state_lost = true;
    out->peak_memory_bytes = how.peak_memory_bytes;
    out->cpu_us = how.cpu_us > r->cpu_before_us ? how.cpu_us - r->cpu_before_us : 0;
    if (oom || how.status == BRIG_STATUS_OOM) {
        out->status = BRIG_STATUS_OOM;
        snprintf(out->message, sizeof(out->message),
                 "the interpreter ran out of memory (memory_bytes): its state is lost");
    } else if (r->end == END_VIOLATION) {
        out->status = BRIG_STATUS_FAILED;
        snprintf(out->message, sizeof(out->message),
                 "the interpreter broke the channel's protocol (%.160s): its state is lost",
                 r->problem);
    } else if (r->why != WHY_NONE) {
        out->status = stopped_status(r->why, out);
        snprintf(out->message, sizeof(out->message), "%.200s", r->problem);
    } else if (r->end == END_NO_START) {
        out->status = BRIG_STATUS_SETUP_ERROR;
        snprintf(out->message, sizeof(out->message), "%.200s", r->problem);
    } else {
        out->status = how.status == BRIG_STATUS_OK ? BRIG_STATUS_FAILED : how.status;
        out->exit_code = how.exit_code;
        out->signal = how.signal;
        snprintf(out->syscall, sizeof(out->syscall), "%s", how.syscall);
        if (how.signal)
            snprintf(out->message, sizeof(out->message),
                     "the interpreter was killed by signal %d during the cell: its state is lost",
                     how.signal);
        else
            snprintf(out->message, sizeof(out->message),
                     "the interpreter exited with %d during the cell: its state is lost",
                     how.exit_code);
    }
    jail_outcome_free(&how);
}

static void finish_done(struct run *r)
{
    struct jail_outcome *out = &r->res->jail;
    struct jail_live_usage usage;
    /* The kernel flushed before "done": what it wrote is in the pipes. */
    read_streams(r);
    if (jail_live_usage(r->ip->live, &usage) == 0) {
        out->cpu_us = usage.cpu_us - r->cpu_before_us;
        out->peak_memory_bytes = usage.peak_memory_bytes;
    }
    r->ip->count++;
    if (r->why != WHY_NONE)
        out->status = stopped_status(r->why, out);
    else
        out->status = r->done_status == INTERP_DONE_OK ? BRIG_STATUS_OK : BRIG_STATUS_FAILED;
}

void interp_run_cell(struct interp_pool *pool, const struct interp_cell *cell,
                     struct interp_cell_result *result)
{
    memset(result, 0, sizeof(*result));
    struct run r = {.pool = pool, .cell = cell, .res = result};
    msgpack_sbuffer_init(&r.send);
    r.ip = interp_take(pool, cell->session, cell->partition);
    if (!r.ip) {
        result->jail.status = BRIG_STATUS_INTERNAL_ERROR;
        snprintf(result->jail.message, sizeof(result->jail.message),
                 "out of memory taking the session's interpreter");
        return;
    }
    if (r.ip->live)
        jail_live_fds(r.ip->live, &r.fds);
    if (r.ip->live && !reusable(&r))
        interp_end(r.ip, NULL);
    char err[256];
    if (!r.ip->live && start(&r, err, sizeof(err)) < 0) {
        result->jail.status = BRIG_STATUS_SETUP_ERROR;
        result->started = true;
        result->state_lost = true;
        snprintf(result->jail.message, sizeof(result->jail.message),
                 "starting the session's interpreter: %.200s", err);
        interp_put(pool, r.ip);
        return;
    }
    jail_live_fds(r.ip->live, &r.fds);
    if (r.ip->egress)
        egress_job_rename(r.ip->egress, cell->job_id);
    r.ready = !result->started;
    if (r.ready)
        send_exec(&r);
    else
        r.exec_ms = monotonic_ms(); /* the start's own clock, until ready */
    write_exec(&r);
    watch(&r);
    result->execution_count = r.ip->count + 1;
    if (r.end == END_DONE && interp_reader_pending(&r.ip->reader) > 0)
        set_problem(&r, END_VIOLATION, "bytes after the cell's done");
    if (r.end == END_DONE)
        finish_done(&r);
    else
        lose(&r);
    result->jail.wall_us = (uint64_t)(monotonic_ms() - r.exec_ms) * 1000;
    msgpack_sbuffer_destroy(&r.send);
    interp_put(pool, r.ip);
}

void interp_cell_result_free(struct interp_cell_result *result)
{
    jail_outcome_free(&result->jail);
    for (size_t i = 0; i < result->output_count; i++) {
        for (size_t k = 0; k < result->outputs[i].data_count; k++) {
            free((void *)result->outputs[i].data[k].path);
            free((void *)result->outputs[i].data[k].content.data);
        }
        free(result->outputs[i].data);
    }
    free(result->outputs);
    free(result->exception_name);
    free(result->exception_value);
    for (size_t i = 0; i < result->traceback_count; i++)
        free(result->traceback[i]);
    free(result->traceback);
    memset(result, 0, sizeof(*result));
}
