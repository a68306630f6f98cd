# make install / make uninstall, with the usual PREFIX and DESTDIR:
#
#   make install PREFIX=/usr/local DESTDIR=/tmp/stage
#
# installs what `make` built in $(BUILD) (pass BUILD= to install another
# build tree):
#   bin/brig, bin/brig-jail          the client and the standalone jail
#   sbin/brig-worker                 the pool: a root daemon, hence sbin and man 8
#   sbin/brig-zygote                 warm runtimes' server, which the worker starts from its own directory
#   sbin/brig-image                  unpacks runtimes' root images; the worker runs it from its own directory
#   share/brig/runtimes.json         where the programs look first (<exe>/../share/brig)
#   share/brig/kernels/              sessions' live interpreters (worker/interp.h)
#   lib/libbrig.a                    the C client, static only
#   include/brig/brig.h              its header, with the schema headers it
#   include/brig/schema/*.h            includes (found through -I.../include/brig)
#   lib/pkgconfig/brig.pc            from producer/brig.pc.in
#   share/man/man1, man8             brig(1), brig-jail(1), brig-worker(8), brig-image(8)
#   lib/systemd/system/brig-worker.service
# and `make uninstall` removes exactly those files, then the directories
# that are brig's own (share/brig, include/brig) when they are left empty.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system

LIBBRIG    := $(BUILD)/lib/libbrig.a
MAN_PAGES  := $(wildcard docs/man/*.[18])

# The headers brig.h pulls in from the tree, as the compiler sees them.
LIBBRIG_HEADERS = $(filter %.h,$(shell $(CC) -I. $(PKG_CFLAGS) -MM -x c producer/brig.h))
# Installed as include/brig/brig.h and include/brig/<module>/<name>.h, so
# that brig.h's #include "schema/schema.h" still resolves.
installed_header = $(DESTDIR)$(INCLUDEDIR)/brig/$(patsubst producer/%,%,$(1))
header_subdirs = $(sort $(patsubst %/,%,$(dir $(foreach h,$(filter-out producer/%,$(LIBBRIG_HEADERS)),$(call installed_header,$(h))))))
# The functions those headers declare: the library's whole interface. (The
# sed script is a variable of its own: its lone "(" would end $(shell).)
declared_function := s/^[a-z][a-z_ ]*[ *]\(brig_[a-z0-9_]*\)(.*/\1/p
LIBBRIG_API = $(shell sed -n '$(declared_function)' $(LIBBRIG_HEADERS))

# libbrig is one relocatable object linked from the module libraries: the
# client's functions and whatever they use (from producer, schema and the
# worker's state file), nothing of the CLI, the worker or the jail. Every
# symbol but the API is then made local, so that a program linking libbrig
# cannot collide with brig's internal names.
$(LIBBRIG): $(LIBS) producer/brig.h $(wildcard schema/*.h)
	@mkdir -p $(dir $@)
	$(LD) -r -o $(@:.a=.o) $(addprefix -u ,$(LIBBRIG_API)) --start-group $(LIBS) --end-group
	printf '%s\n' $(LIBBRIG_API) >$(@:.a=.api)
	objcopy --keep-global-symbols=$(@:.a=.api) $(@:.a=.o)
	rm -f $@ && ar rcs $@ $(@:.a=.o)
	rm -f $(@:.a=.o) $(@:.a=.api)

.PHONY: install uninstall
install: all $(LIBBRIG)
	install -D -m 755 $(BUILD)/bin/brig $(DESTDIR)$(BINDIR)/brig
	install -D -m 755 $(BUILD)/bin/brig-jail $(DESTDIR)$(BINDIR)/brig-jail
	install -D -m 755 $(BUILD)/bin/brig-worker $(DESTDIR)$(SBINDIR)/brig-worker
	install -D -m 755 $(BUILD)/bin/brig-zygote $(DESTDIR)$(SBINDIR)/brig-zygote
	install -D -m 755 $(BUILD)/bin/brig-image $(DESTDIR)$(SBINDIR)/brig-image
	install -D -m 644 sandbox/runtimes.json $(DESTDIR)$(DATADIR)/brig/runtimes.json
	install -D -m 644 sandbox/kernels/python_kernel.py $(DESTDIR)$(DATADIR)/brig/kernels/python_kernel.py
	install -D -m 644 $(LIBBRIG) $(DESTDIR)$(LIBDIR)/libbrig.a
	$(foreach h,$(LIBBRIG_HEADERS),install -D -m 644 $(h) $(call installed_header,$(h)) &&) true
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(BRIG_VERSION)|g' \
	    producer/brig.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/brig.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/brig.pc
	$(foreach m,$(MAN_PAGES),install -D -m 644 $(m) \
	    $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)) &&) true
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|^ExecStart=/usr/local/sbin/brig-worker|ExecStart=$(SBINDIR)/brig-worker|' \
	    docker/brig-worker.service >$(DESTDIR)$(UNITDIR)/brig-worker.service
	chmod 644 $(DESTDIR)$(UNITDIR)/brig-worker.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/brig $(DESTDIR)$(BINDIR)/brig-jail $(DESTDIR)$(SBINDIR)/brig-worker
	rm -f $(DESTDIR)$(SBINDIR)/brig-zygote $(DESTDIR)$(SBINDIR)/brig-image
	rm -f $(DESTDIR)$(DATADIR)/brig/runtimes.json $(DESTDIR)$(LIBDIR)/libbrig.a
	rm -f $(DESTDIR)$(DATADIR)/brig/kernels/python_kernel.py
	rm -f $(foreach h,$(LIBBRIG_HEADERS),$(call installed_header,$(h)))
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/brig.pc
	rm -f $(foreach m,$(MAN_PAGES), \
	    $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))
	rm -f $(DESTDIR)$(UNITDIR)/brig-worker.service
	for dir in $(header_subdirs) $(DESTDIR)$(INCLUDEDIR)/brig $(DESTDIR)$(DATADIR)/brig/kernels \
	    $(DESTDIR)$(DATADIR)/brig; do \
	    if [ -d "$$dir" ]; then rmdir --ignore-fail-on-non-empty "$$dir"; fi; \
	done
