LIB_MODULES += common
common_SRCS := $(wildcard common/*.c)
UNIT_TESTS += test_units test_properties
