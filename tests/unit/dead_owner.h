/* Test helper: the owner (sandbox/owner.h) of a process that has been and
 * gone, for leftovers "made by a dead process". */
#ifndef BRIG_TESTS_UNIT_DEAD_OWNER_H
#define BRIG_TESTS_UNIT_DEAD_OWNER_H

#include "sandbox/owner.h"

/* Forks a child that exits at once, reads its start time while it is a
 * zombie, and reaps it. Fails the test when it cannot. */
struct owner dead_owner(void);

#endif
