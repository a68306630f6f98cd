LIB_MODULES += worker
worker_SRCS := $(filter-out worker/main.c,$(wildcard worker/*.c))
PROGRAMS += brig-worker
brig-worker_SRCS := worker/main.c
UNIT_TESTS += test_tracker test_scheduler test_publish test_slots test_job_spec test_loop
UNIT_TESTS += test_audit test_audit_read test_audit_fleet test_tenants
# The embedded broker's gate (worker/broker_gate.h).
UNIT_TESTS += test_gate
test_audit_SRCS := tests/unit/audit_fixture.c
test_audit_read_SRCS := tests/unit/audit_fixture.c
# The Kafka settings that keep a call's wait short.
UNIT_TESTS += test_kafka_latency
HELPER_BINS += bench_audit
bench_audit_SRCS := tests/bench/audit.c
UNIT_TESTS += test_collect test_collect_bounds
test_collect_SRCS := tests/unit/collect_fixture.c
test_collect_bounds_SRCS := tests/unit/collect_fixture.c
UNIT_TESTS += test_metrics test_metrics_server test_log
# The metrics endpoint (worker/metrics_server.c) is served by libmicrohttpd.
PKGS += libmicrohttpd
UNIT_TESTS += test_egress test_egress_proxy
test_egress_SRCS := tests/unit/tree.c tests/unit/egress_fixture.c
test_egress_proxy_SRCS := tests/unit/tree.c tests/unit/egress_fixture.c
UNIT_TESTS += test_interp_channel
# Secrets (worker/secrets.c) and the egress proxy's interception of HTTPS
# (worker/egress_tls*.c) use libcrypto and libssl.
PKGS += libssl
UNIT_TESTS += test_secrets test_egress_tls test_egress_secrets
