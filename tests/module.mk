# The jail's attack programs: tests/attacks/<name>.c becomes helpers/attack_<name>.
# They are linked statically because they run inside the jail from a read-only
# bind of the build directory, and must not depend on what the jail's /lib holds.
ATTACKS := $(filter-out attack,$(basename $(notdir $(wildcard tests/attacks/*.c))))
HELPER_BINS += $(addprefix attack_,$(ATTACKS))
$(foreach a,$(ATTACKS),$(eval attack_$(a)_SRCS := tests/attacks/$(a).c tests/attacks/attack.c))
$(foreach a,$(ATTACKS),$(eval attack_$(a)_LDLIBS := -static))
