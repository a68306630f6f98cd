LIB_MODULES += sandbox
sandbox_SRCS := $(filter-out sandbox/main.c,$(wildcard sandbox/*.c))
PROGRAMS += brig-jail
brig-jail_SRCS := sandbox/main.c
UNIT_TESTS += test_units test_runtime test_runtime_run test_cli_args test_outcome_json
UNIT_TESTS += test_seccomp
UNIT_TESTS += test_jail
UNIT_TESTS += test_cgroup
