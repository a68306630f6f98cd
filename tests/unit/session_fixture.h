/* What the session tests share: a jail context and a sessions root in
 * temporary directories (setup_context / teardown_context, the group's
 * fixture), and workspaces, jobs and files in them; each helper fails the
 * test on error. Needs root, user namespaces and cgroups. */
#ifndef BRIG_TESTS_SESSION_FIXTURE_H
#define BRIG_TESTS_SESSION_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "sandbox/sandbox.h"
#include "sandbox/session.h"

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define QUOTA (8 * MIB)
#define SESSION_UID_FIRST 0x71000000u
#define SESSION_UID_LAST 0x71ffffffu
#define UID_RECORDS "/run/brig/session-uids"

extern struct jail_context *ctx;
extern char state_dir[64];
extern char scratch_dir[64];
extern char root[128];

int setup_context(void **state);
void unmount_leftovers(const char *dir);
void remove_uid_records(void);
int teardown_context(void **state);
struct jail_workspace *acquire(const char *id, uint64_t quota);
void remove_session(const char *id);
unsigned uid_of(const struct jail_workspace *ws);
struct jail_outcome run_in(struct jail_workspace *ws, const char *script);
void assert_ok(const struct jail_outcome *out);
void run_ok(struct jail_workspace *ws, const char *script);
char *read_in(const struct jail_workspace *ws, const char *name);
char *work_dir_of(const char *id);
char *mount_line(const char *path);
bool exists_in_root(const char *name);
bool uid_recorded(unsigned uid);
void sleep_ms(long ms);
struct jail_workspace *new_workspace(void);
void put(struct jail_workspace *ws, const char *path, const char *text, unsigned mode);
const char *hash_of(const struct jail_workspace *ws, char hex[65]);

#endif
