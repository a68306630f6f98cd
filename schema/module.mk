LIB_MODULES += schema
schema_SRCS := $(wildcard schema/*.c)
