# make bench's helper programs (tests/bench/run.sh builds them); bench_audit
# is registered with the audit store it measures, in worker/module.mk.
HELPER_BINS += bench_spawn bench_jail_run bench_warm bench_driver_c
bench_spawn_SRCS := tests/bench/spawn.c tests/bench/stats.c
bench_jail_run_SRCS := tests/bench/jail_run.c tests/bench/stats.c
bench_warm_SRCS := tests/bench/warm.c tests/bench/stats.c
bench_driver_c_SRCS := tests/bench/driver_c.c
