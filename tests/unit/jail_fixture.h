/* What the jail tests share: a jail context in a temporary state directory
 * (setup_context / teardown_context, the group's fixture), and specs run
 * through jail_run. Needs root, user namespaces and cgroups. */
#ifndef BRIG_TESTS_JAIL_FIXTURE_H
#define BRIG_TESTS_JAIL_FIXTURE_H

#include "sandbox/sandbox.h"

#define MIB (1024ull * 1024)
/* The host uid range of user.c. */
#define JAIL_UID_FIRST 0x70000000u
#define JAIL_UID_END 0x71000000u

extern struct jail_context *ctx;
extern char state_dir[64];

int setup_context(void **state);
int teardown_context(void **state);
struct jail_spec spec_for(const char *const *argv);
struct jail_outcome run_spec(const struct jail_spec *spec);
struct jail_outcome run_sh(const char *script);
void assert_status(const struct jail_outcome *out, brig_status expected);

#endif
