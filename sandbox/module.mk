LIB_MODULES += sandbox
sandbox_SRCS := $(filter-out sandbox/main.c,$(wildcard sandbox/*.c))
PROGRAMS += brig-jail
brig-jail_SRCS := sandbox/main.c
# The warm interpreter's server embeds CPython; nothing else links it.
PROGRAMS += brig-zygote
brig-zygote_SRCS := sandbox/zygote/main.c sandbox/zygote/python.c
PYTHON_EMBED_CFLAGS = $(eval PYTHON_EMBED_CFLAGS := $$(shell pkg-config --cflags python3-embed))$(PYTHON_EMBED_CFLAGS)
brig-zygote_LDLIBS = $(eval brig-zygote_LDLIBS := $$(shell pkg-config --libs python3-embed))$(brig-zygote_LDLIBS)
$(BUILD)/obj/sandbox/zygote/python.o: OBJ_CFLAGS = $(PYTHON_EMBED_CFLAGS)
UNIT_TESTS += test_units test_runtime test_runtime_run test_cli_args test_outcome_json
UNIT_TESTS += test_seccomp
UNIT_TESTS += test_jail
UNIT_TESTS += test_cgroup
UNIT_TESTS += test_session
test_jail_SRCS := tests/unit/tree.c
test_session_SRCS := tests/unit/tree.c
test_cgroup_SRCS := tests/unit/tree.c
UNIT_TESTS += test_warm
test_warm_SRCS := tests/unit/tree.c
# It starts the real server.
$(BUILD)/tests/test_warm: $(BUILD)/bin/brig-zygote
