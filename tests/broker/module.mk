HELPER_BINS += brig-test-broker
brig-test-broker_SRCS := tests/broker/main.c
