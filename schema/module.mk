LIB_MODULES += schema
schema_SRCS := $(wildcard schema/*.c)

UNIT_TESTS += test_schema_vectors test_schema_roundtrip test_schema_errors test_signature
test_schema_vectors_SRCS := tests/unit/test_schema_support.c
test_schema_roundtrip_SRCS := tests/unit/test_schema_support.c
test_schema_errors_SRCS := tests/unit/test_schema_support.c

FUZZ_TARGETS += fuzz_job fuzz_result fuzz_log_chunk fuzz_dead_letter fuzz_runtimes
fuzz_job_SRCS := schema/fuzz/job.c
fuzz_result_SRCS := schema/fuzz/result.c
fuzz_log_chunk_SRCS := schema/fuzz/log_chunk.c
fuzz_dead_letter_SRCS := schema/fuzz/dead_letter.c
fuzz_runtimes_SRCS := schema/fuzz/runtimes.c
fuzz_job_SEEDS := schema/vectors
fuzz_result_SEEDS := schema/vectors
fuzz_log_chunk_SEEDS := schema/vectors
fuzz_dead_letter_SEEDS := schema/vectors
fuzz_runtimes_SEEDS := schema/vectors
