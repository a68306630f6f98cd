# brig: one Makefile; each module directory contributes a module.mk.
#
#   make            build the programs into build/bin
#   make test       unit tests (cmocka), then end-to-end tests (pytest)
#   make run        the showcase
#   make asan       unit tests under AddressSanitizer + UBSan
#   make fuzz       every fuzz target for FUZZ_SECONDS (default 60)
#   make bench      the benchmarks (not part of make test)
#   make mcp        the MCP server's venv, for build/bin/brig mcp (mk/mcp.mk)
#   make kafka      a local Apache Kafka (KRaft) in build/kafka, KAFKA_NODES=3 for three nodes;
#                   make kafka-stop stops it (mk/kafka.sh)
#   make format / make lint / make deps / make clean

SHELL   := /bin/bash
ifeq ($(origin CC),default)
CC      := gcc
endif
BUILD   ?= build
PYTHON  := /usr/bin/python3
PKGS    := rdkafka msgpack libseccomp sqlite3 libcrypto jansson libarchive

# pkg-config runs once, at first use, after `deps` has installed the packages.
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
# Libraries that ship no pkg-config file.
SYS_LIBS   := -lhttp_parser
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $(PKGS)) $(SYS_LIBS))$(PKG_LIBS)
CMOCKA_LIBS = $(eval CMOCKA_LIBS := $$(shell pkg-config --libs cmocka))$(CMOCKA_LIBS)

# brig's version, the one place it is written. Every program's --version
# prints it with the commit it was built from, when the tree is a git
# checkout: "brig 0.1.0 (git 1bd847b0c2e4)", "-dirty" after the hash when
# the tree had uncommitted changes. $(BUILD)/gen/brig_version.h holds the
# string; it is rewritten only when it changes, so only the programs'
# mains are rebuilt when the commit changes.
BRIG_VERSION := 0.1.0
VERSION_H    := $(BUILD)/gen/brig_version.h

OPT_CFLAGS ?= -O2
CFLAGS_ALL = -std=gnu11 $(OPT_CFLAGS) -g -Wall -Wextra -Werror -D_GNU_SOURCE -I. -I$(BUILD)/gen \
             -DBRIG_SOURCE_DIR='"$(CURDIR)"' \
             -MMD -MP $(PKG_CFLAGS) $(OBJ_CFLAGS) $(EXTRA_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(EXTRA_LDFLAGS) $(LDFLAGS)

# Filled by the module.mk files:
#   LIB_MODULES   modules built as static libraries, dependents first (link order)
#   <m>_SRCS      a module's library sources
#   PROGRAMS      program names, each with <name>_SRCS (its main) and maybe <name>_LDLIBS
#   HELPER_BINS   extra binaries for tests (attack programs...), each with <name>_SRCS
#   FUZZ_TARGETS  libFuzzer targets, each with <name>_SRCS
#   UNIT_TESTS    cmocka test names (tests/unit/<name>.c)
LIB_MODULES  :=
PROGRAMS     :=
HELPER_BINS  :=
FUZZ_TARGETS :=
UNIT_TESTS   :=

include producer/module.mk worker/module.mk sandbox/module.mk schema/module.mk common/module.mk
-include tests/module.mk $(wildcard tests/*/module.mk)

LIBS = $(foreach m,$(LIB_MODULES),$(BUILD)/lib/libbrig_$(m).a)
obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

.PHONY: all deps test unit e2e run asan fuzz bench format lint clean kafka kafka-stop FORCE
.DEFAULT_GOAL := all

all: $(addprefix $(BUILD)/bin/,$(PROGRAMS))

deps:
	@mk/deps.sh

$(BUILD)/obj/%.o: %.c | deps $(VERSION_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(VERSION_H): FORCE
	@mkdir -p $(dir $@)
	@commit=$$(test -e .git && git describe --always --dirty --abbrev=12 --exclude='*' 2>/dev/null); \
	printf '/* Written by the Makefile. */\n#define BRIG_VERSION "%s"\n' \
	    "$(BRIG_VERSION)$${commit:+ (git $$commit)}" >$@.tmp; \
	if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

define lib_template
$(BUILD)/lib/libbrig_$(1).a: $(call obj,$($(1)_SRCS))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach m,$(LIB_MODULES),$(eval $(call lib_template,$(m))))

define bin_template
$(2)/$(1): $(call obj,$($(1)_SRCS)) $$(LIBS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS_ALL) -o $$@ $(call obj,$($(1)_SRCS)) $$(LIBS) $$(PKG_LIBS) $(3) -lpthread
endef
$(foreach p,$(PROGRAMS),$(eval $(call bin_template,$(p),$(BUILD)/bin,$$($(p)_LDLIBS))))
$(foreach p,$(HELPER_BINS),$(eval $(call bin_template,$(p),$(BUILD)/helpers,$($(p)_LDLIBS))))
$(foreach t,$(UNIT_TESTS),$(eval $(t)_SRCS := tests/unit/$(t).c $($(t)_SRCS)))
$(foreach t,$(UNIT_TESTS),$(eval $(call bin_template,$(t),$(BUILD)/tests,$$(CMOCKA_LIBS))))

UNIT_BINS = $(addprefix $(BUILD)/tests/,$(UNIT_TESTS))
HELPERS   = $(addprefix $(BUILD)/helpers/,$(HELPER_BINS))

# Every unit test binary runs even when one fails; the exit status says if any did.
unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do echo "== $$t"; $$t || fail=1; done; exit $$fail

# mk/test.sh runs the end-to-end tests (and for make test the unit tests)
# side by side: E2E_SPLIT, E2E_WORKERS and E2E_TMP are its knobs.
export PYTHON PYTEST_ARGS E2E_SPLIT E2E_WORKERS E2E_TMP
e2e: all $(HELPERS)
	@mk/test.sh $(BUILD)

test: deps
	$(MAKE) -j$(shell nproc) all $(UNIT_BINS) $(HELPERS)
	@mk/test.sh $(BUILD) unit

run: all
	tests/showcase.sh $(BUILD)

# Sanitized builds live in their own trees so they never mix with the release objects.
asan: deps
	$(MAKE) BUILD=build/asan OPT_CFLAGS=-O1 \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    EXTRA_LDFLAGS="-fsanitize=address,undefined" unit

FUZZ_SECONDS ?= 60
FUZZ_BINS = $(addprefix $(BUILD)/fuzz/,$(FUZZ_TARGETS))
fuzz: deps
	mk/deps.sh clang libclang-rt-14-dev
	$(MAKE) BUILD=build/fuzzbuild CC=clang OPT_CFLAGS=-O1 \
	    EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" \
	    fuzz-run FUZZ_SECONDS=$(FUZZ_SECONDS)

define fuzz_template
$(BUILD)/fuzz/$(1): $(call obj,$($(1)_SRCS)) $$(LIBS)
	@mkdir -p $$(dir $$@)
	$$(CC) -fsanitize=fuzzer,address,undefined -o $$@ $(call obj,$($(1)_SRCS)) $$(LIBS) $$(PKG_LIBS) -lpthread
endef
$(foreach f,$(FUZZ_TARGETS),$(eval $(call fuzz_template,$(f))))

.PHONY: fuzz-run
fuzz-run: $(FUZZ_BINS)
	@$(foreach f,$(FUZZ_TARGETS), \
	    corpus=$(BUILD)/corpus/$(f); log=$(BUILD)/fuzz/$(f).log; mkdir -p $$corpus; \
	    echo "== $(f) for $(FUZZ_SECONDS)s"; \
	    if ! $(BUILD)/fuzz/$(f) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	            $$corpus $($(f)_SEEDS) >$$log 2>&1; then tail -n 60 $$log; exit 1; fi; \
	    grep -E 'stat::number_of_executed_units|stat::peak_rss' $$log;)

bench: all
	mk/deps.sh bubblewrap linux-perf
	tests/bench/run.sh $(BUILD)

kafka:
	mk/kafka.sh start

kafka-stop:
	mk/kafka.sh stop

C_SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(C_SOURCES)

lint: deps
	clang-format --dry-run --Werror $(C_SOURCES)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr --suppress=missingIncludeSystem -I. -D_GNU_SOURCE $(C_SOURCES)

include mk/mcp.mk mk/install.mk

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
