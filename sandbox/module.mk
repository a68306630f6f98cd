LIB_MODULES += sandbox
sandbox_SRCS := $(filter-out sandbox/main.c sandbox/image_main.c sandbox/seccomp_gen.c,$(wildcard sandbox/*.c))
# The seccomp program is compiled once, at build time: seccomp_gen runs the
# rules through libseccomp and writes the BPF as a C array.
SECCOMP_PROGRAM := $(BUILD)/gen/sandbox/seccomp_program.h
SECCOMP_GEN_OBJS := $(addprefix $(BUILD)/obj/sandbox/,seccomp_gen.o seccomp_compile.o seccomp_rules.o)
$(BUILD)/gen/seccomp_gen: $(SECCOMP_GEN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_ALL) $(filter -fsanitize=%,$(EXTRA_CFLAGS)) -o $@ $^ -lseccomp
$(SECCOMP_PROGRAM): $(BUILD)/gen/seccomp_gen
	@mkdir -p $(dir $@)
	$< >$@.tmp && mv $@.tmp $@
$(BUILD)/obj/sandbox/seccomp_policy.o: $(SECCOMP_PROGRAM)
$(BUILD)/obj/sandbox/seccomp_policy.o: OBJ_CFLAGS = -I$(BUILD)/gen
PROGRAMS += brig-jail
brig-jail_SRCS := sandbox/main.c
# Unpacks runtimes' root images, in a process of its own (sandbox/image.h).
PROGRAMS += brig-image
brig-image_SRCS := sandbox/image_main.c
# The warm interpreter's server embeds CPython; nothing else links it.
PROGRAMS += brig-zygote
brig-zygote_SRCS := sandbox/zygote/main.c sandbox/zygote/python.c sandbox/zygote/view.c
PYTHON_EMBED_CFLAGS = $(eval PYTHON_EMBED_CFLAGS := $$(shell pkg-config --cflags python3-embed))$(PYTHON_EMBED_CFLAGS)
brig-zygote_LDLIBS = $(eval brig-zygote_LDLIBS := $$(shell pkg-config --libs python3-embed))$(brig-zygote_LDLIBS)
$(BUILD)/obj/sandbox/zygote/python.o: OBJ_CFLAGS = $(PYTHON_EMBED_CFLAGS)
UNIT_TESTS += test_runtime test_runtime_run test_cli_args test_outcome_json
UNIT_TESTS += test_seccomp
UNIT_TESTS += test_jail
UNIT_TESTS += test_binds
test_binds_SRCS := tests/unit/tree.c
UNIT_TESTS += test_cgroup
UNIT_TESTS += test_session
test_jail_SRCS := tests/unit/tree.c
test_session_SRCS := tests/unit/tree.c
test_cgroup_SRCS := tests/unit/tree.c tests/unit/dead_owner.c
UNIT_TESTS += test_reclaim
test_reclaim_SRCS := tests/unit/tree.c tests/unit/dead_owner.c
# A worker with a spawner is killed too.
$(BUILD)/tests/test_reclaim: $(BUILD)/bin/brig-zygote
# Root images: the writer against hostile images (in process), and brig-image,
# its cache and the jails' plan on an image.
UNIT_TESTS += test_image_unpack test_image
test_image_unpack_SRCS := tests/unit/image_tar.c tests/unit/tree.c
test_image_SRCS := tests/unit/image_tar.c tests/unit/tree.c
$(BUILD)/tests/test_image: $(BUILD)/bin/brig-image
UNIT_TESTS += test_warm
test_warm_SRCS := tests/unit/tree.c
# It starts the real server.
$(BUILD)/tests/test_warm: $(BUILD)/bin/brig-zygote
# Live jails, cloned the three ways (in process, spawner, warm server).
UNIT_TESTS += test_interp_jail
test_interp_jail_SRCS := tests/unit/tree.c
$(BUILD)/tests/test_interp_jail: $(BUILD)/bin/brig-zygote
