/* brig session: the stateful workspaces of this host's workers. Sessions are
 * tmpfs mounts shared by every worker process of a host, so this command
 * acts on the host it runs on, like brig audit. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "producer/cli_common.h"
#include "producer/commands.h"
#include "sandbox/session.h"
#include "schema/signature.h"
#include "common/units.h"
#include "worker/state_file.h"

static const char session_help[] =
    "usage: brig session ls [--json] [--sessions-dir DIR] [--tenant T]\n"
    "       brig session rm [--sessions-dir DIR] [--tenant T] ID...\n"
    "       brig session show [--audit-db PATH] [--json] [--lines N] ID\n"
    "\n"
    "show lists a session's cells and process jobs in order, from the audit\n"
    "stores (brig session show --help).\n"
    "\n"
    "ls and rm list or remove the session workspaces of the workers on this host. A\n"
    "session holds the files its jobs left in /work until it is removed or stays\n"
    "idle longer than the workers' --session-ttl. rm waits up to 10 s for a job\n"
    "of the session that is still running.\n"
    "\n"
    "  --sessions-dir DIR  where the workers keep them (default $BRIG_SESSIONS_DIR,\n"
    "                      else <state dir>/sessions: $BRIG_STATE_DIR, /run/brig)\n"
    "  --tenant T          the sessions of tenant T (workers with --tenants); ls\n"
    "                      without it lists every tenant's too, as T/ID\n"
    "  --json              one JSON object per session: id, uid, quota_bytes,\n"
    "                      used_bytes, created_ms, last_used_ms (Unix ms), and\n"
    "                      tenant for a tenant's\n"
    "\n"
    "ls prints the last use as local time and how long the session has been idle\n"
    "(\"42s\", \"3m12s\", \"2h05m\", \"3d04h\").\n";

#define REMOVE_WAIT_MS 10000

struct listing {
    bool json;
    const char *tenant; /* NULL: sessions without a tenant */
    const char *dir;
    int rc;
};

static void print_session(void *arg, const struct jail_session_info *info)
{
    const struct listing *l = arg;
    if (l->json) {
        json_t *o =
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "id", info->id, "uid",
                      (json_int_t)info->uid, "quota_bytes", (json_int_t)info->quota_bytes,
                      "used_bytes", (json_int_t)info->used_bytes, "created_ms",
                      (json_int_t)info->created_ms, "last_used_ms", (json_int_t)info->last_used_ms);
        if (o && l->tenant)
            json_object_set_new(o, "tenant", json_string(l->tenant));
        print_json_line(o);
        return;
    }
    char name[BRIG_TENANT_MAX + 2 + 256];
    snprintf(name, sizeof(name), "%s%s%s", l->tenant ? l->tenant : "", l->tenant ? "/" : "",
             info->id);
    char used[32], quota[32], last_used[32], idle[32];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    units_format_size(info->used_bytes, used, sizeof(used));
    units_format_size(info->quota_bytes, quota, sizeof(quota));
    cli_format_time((int64_t)info->last_used_ms, last_used, sizeof(last_used));
    /* A clock set back shows as no idle time rather than a huge one. */
    cli_format_age(now_ms > info->last_used_ms ? now_ms - info->last_used_ms : 0, idle,
                   sizeof(idle));
    printf("%-40s %12s %12s  %-19s  %s\n", name, used, quota, last_used, idle);
}

/* The root of the sessions of tenant (NULL: dir itself) into buf. */
static int tenant_root(const char *dir, const char *tenant, char *buf, size_t len)
{
    char err[512];
    if (jail_session_tenant_root(dir, tenant, false, buf, len, err, sizeof(err)) < 0) {
        cli_error("session", "%s", err);
        return -1;
    }
    return 0;
}

static void list_tenant(void *arg, const char *tenant)
{
    struct listing *l = arg;
    char root[4096], err[512];
    struct listing of_tenant = {.json = l->json, .tenant = tenant};
    if (tenant_root(l->dir, tenant, root, sizeof(root)) < 0) {
        l->rc = 1;
    } else if (jail_session_list(root, print_session, &of_tenant, err, sizeof(err)) < 0) {
        cli_error("session", "%s", err);
        l->rc = 1;
    }
}

int cmd_session(int argc, char **argv)
{
    static const struct option options[] = {
        {"sessions-dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"tenant", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    char state[4096], sessions[4096];
    const char *dir =
        brig_sessions_dir(brig_state_dir(state, sizeof(state)), sessions, sizeof(sessions));
    bool json = false;
    const char *tenant = NULL;
    int opt;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(session_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "show") == 0)
        return cmd_session_show(argc - 1, argv + 1);
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc - 1, argv + 1, "", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 't':
            tenant = optarg;
            break;
        case 'h':
            fputs(session_help, stdout);
            return 0;
        default:
            return cli_usage_error("session", "unknown option (see brig session --help)");
        }
    }
    char **ids = argv + 1 + optind;
    int n_ids = argc - 1 - optind;
    char err[512], root[4096];
    if (tenant_root(dir, tenant, root, sizeof(root)) < 0)
        return 1;

    if (strcmp(verb, "ls") == 0) {
        if (n_ids > 0)
            return cli_usage_error("session", "ls takes no ids");
        if (!json)
            printf("%-40s %12s %12s  %-19s  %s\n", "SESSION", "USED", "QUOTA", "LAST USED", "IDLE");
        struct listing l = {.json = json, .tenant = tenant, .dir = dir};
        if (jail_session_list(root, print_session, &l, err, sizeof(err)) < 0 ||
            (!tenant && jail_session_tenants(dir, list_tenant, &l, err, sizeof(err)) < 0)) {
            cli_error("session", "%s", err);
            return 1;
        }
        return l.rc;
    }
    if (strcmp(verb, "rm") == 0) {
        if (n_ids == 0)
            return cli_usage_error("session", "rm needs at least one session id");
        int rc = 0;
        for (int i = 0; i < n_ids; i++) {
            int removed = jail_session_remove(root, ids[i], REMOVE_WAIT_MS, err, sizeof(err));
            if (removed == JAIL_SESSION_BUSY) {
                cli_error("session", "%s is busy: a job of it is still running", ids[i]);
                rc = 1;
            } else if (removed < 0) {
                cli_error("session", "%s", err);
                rc = 1;
            }
        }
        return rc;
    }
    return cli_usage_error("session", "expected ls, rm or show (see brig session --help)");
}
