LIB_MODULES += producer
producer_SRCS := $(filter-out producer/main.c,$(wildcard producer/*.c))
PROGRAMS += brig
brig_SRCS := producer/main.c
UNIT_TESTS += test_producer_json test_producer_options test_producer_replay test_producer_out
UNIT_TESTS += test_producer_logs test_producer_client test_producer_audit test_producer_cells
test_producer_out_SRCS := tests/unit/file_check.c
test_producer_cells_SRCS := tests/unit/file_check.c
