LIB_MODULES += producer
producer_SRCS := $(filter-out producer/main.c,$(wildcard producer/*.c))
PROGRAMS += brig
brig_SRCS := producer/main.c
