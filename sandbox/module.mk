LIB_MODULES += sandbox
sandbox_SRCS := $(filter-out sandbox/main.c,$(wildcard sandbox/*.c))
PROGRAMS += brig-jail
brig-jail_SRCS := sandbox/main.c
