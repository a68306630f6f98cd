LIB_MODULES += worker
worker_SRCS := $(filter-out worker/main.c,$(wildcard worker/*.c))
PROGRAMS += brig-worker
brig-worker_SRCS := worker/main.c
UNIT_TESTS += test_tracker test_scheduler test_publish test_slots test_job_spec
UNIT_TESTS += test_audit test_audit_fleet test_audit_cells test_tenants
HELPER_BINS += bench_audit
bench_audit_SRCS := tests/bench/audit.c
UNIT_TESTS += test_collect
UNIT_TESTS += test_metrics test_metrics_server test_log
# The metrics endpoint (worker/metrics_server.c) is served by libmicrohttpd.
PKGS += libmicrohttpd
UNIT_TESTS += test_egress
test_egress_SRCS := tests/unit/tree.c
UNIT_TESTS += test_interp_channel
