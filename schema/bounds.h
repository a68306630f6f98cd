/* Every bound of the wire schema, in one place. schema/SCHEMA.md gives the
 * reason for each; the test vectors probe their edges. Sizes are in bytes of
 * the encoded text or data, counts in elements or map entries. */
#ifndef BRIG_SCHEMA_BOUNDS_H
#define BRIG_SCHEMA_BOUNDS_H

#define BRIG_SCHEMA_VERSION 1
/* Results are version 2 when their status is one version 1 lacks
 * (`cancelled`); readers speak both. */
#define BRIG_RESULT_VERSION_MAX 2

/* Whole messages. A dead letter carries a whole job plus its own fields,
 * its key of at most BRIG_DEAD_LETTER_KEY_MAX among them. */
#define BRIG_JOB_MAX_BYTES (16u << 20)
#define BRIG_RESULT_MAX_BYTES (16u << 20)
#define BRIG_LOG_CHUNK_MAX_BYTES (1u << 20)
#define BRIG_DEAD_LETTER_MAX_BYTES (BRIG_JOB_MAX_BYTES + (64u << 10))

/* Structure of any message: nesting (the top-level map is depth 1), objects
 * (every key and value counts), keys of the top-level map, entries of any
 * other map. They bound the decoder's memory and time on hostile input. */
#define BRIG_MAX_DEPTH 8
#define BRIG_MAX_OBJECTS 16384
#define BRIG_MAX_TOP_KEYS 64
#define BRIG_MAX_MAP_ENTRIES 256

/* Integers with no natural bound stay exact in JSON and JavaScript clients. */
#define BRIG_UINT_MAX 9007199254740991ull /* 2^53 - 1 */
/* Unix milliseconds up to 9999-12-31T23:59:59.999Z: catches seconds or
 * microseconds sent by mistake without limiting any real date. */
#define BRIG_TIME_MS_MAX 253402300799999ull

/* Names and tokens. */
#define BRIG_ID_MAX 64 /* job ids, session ids, worker ids */
#define BRIG_RUNTIME_NAME_MAX 32
#define BRIG_RUNTIME_VERSION_MAX 64
#define BRIG_TOPIC_MAX 249 /* Kafka's own limit */
#define BRIG_SYSCALL_NAME_MAX 64

/* Job. */
#define BRIG_ARGV_MAX 128
#define BRIG_ARGS_MAX 128
#define BRIG_ARG_MAX_BYTES 4096
#define BRIG_CODE_MAX_BYTES (1u << 20)
#define BRIG_STDIN_MAX_BYTES (4u << 20)
#define BRIG_ENV_MAX 64
#define BRIG_ENV_NAME_MAX 128
#define BRIG_ENV_VALUE_MAX 4096
#define BRIG_SECRETS_MAX 16 /* names as env names */
#define BRIG_FILES_MAX 256
#define BRIG_PATH_MAX 1024
#define BRIG_PATH_COMPONENT_MAX 255
#define BRIG_COLLECT_MAX 32
#define BRIG_GLOB_MAX 256
#define BRIG_ALLOW_MAX 64
#define BRIG_ALLOW_RULE_MAX 261 /* "*." + 253-byte host + ":65535" */
#define BRIG_HOST_MAX 253
#define BRIG_METADATA_MAX 16
#define BRIG_METADATA_KEY_MAX 64
#define BRIG_METADATA_VALUE_MAX 1024

/* Result. */
#define BRIG_ATTEMPT_MAX 4294967295ull
#define BRIG_OUTPUT_MAX_BYTES (8u << 20) /* stdout, stderr: each */
#define BRIG_EXIT_CODE_MAX 255
#define BRIG_SIGNAL_MAX 64
#define BRIG_OMITTED_MAX 256
#define BRIG_OMITTED_REASON_MAX 256
#define BRIG_ERROR_TEXT_MAX 1024
/* A cell's rich results (SCHEMA.md section 6.1). */
#define BRIG_OUTPUTS_MAX 256
#define BRIG_OUTPUT_KIND_MAX 32
#define BRIG_MIME_ITEMS_MAX 16
#define BRIG_MIME_TYPE_MAX 127
#define BRIG_OUTPUTS_MAX_BYTES (2u << 20) /* the data of all outputs */
#define BRIG_EXCEPTION_NAME_MAX 256
#define BRIG_EXCEPTION_VALUE_MAX (64u << 10)
#define BRIG_TRACEBACK_MAX 256
#define BRIG_TRACEBACK_ENTRY_MAX (16u << 10)

/* Log chunk. */
#define BRIG_LOG_DATA_MAX_BYTES (64u << 10)

/* Control message. */
#define BRIG_CONTROL_MAX_BYTES 4096u
#define BRIG_CONTROL_BY_MAX 128 /* who asked */

/* Dead letter. */
#define BRIG_DEAD_LETTER_DATA_MAX BRIG_JOB_MAX_BYTES
/* Kafka bounds a key only by the record size; jobs are keyed by a session or
 * id of at most 64 bytes, and a dead letter must stay within its bound. */
#define BRIG_DEAD_LETTER_KEY_MAX (16u << 10)
#define BRIG_PARTITION_MAX 2147483647ull
#define BRIG_REASON_MAX 1024
#define BRIG_FIELD_MAX 63 /* struct brig_error.field without its NUL */

/* Runtimes record: what one worker offers (<prefix>.runtimes). */
#define BRIG_RUNTIMES_MAX_BYTES (1u << 20)
#define BRIG_RUNTIMES_MAX 256
#define BRIG_RUNTIME_ALIASES_MAX 16
#define BRIG_RUNTIME_IMAGE_MAX 1024

/* Job limits: each optional; absent means the default. */
#define BRIG_WALL_MS_MIN 100ull
#define BRIG_WALL_MS_MAX 600000ull
#define BRIG_WALL_MS_DEFAULT 10000ull
#define BRIG_CPU_MS_MIN 100ull
#define BRIG_CPU_MS_MAX 600000ull
#define BRIG_CPU_MS_DEFAULT 10000ull
#define BRIG_MEMORY_BYTES_MIN (16ull << 20)
#define BRIG_MEMORY_BYTES_MAX (8ull << 30)
#define BRIG_MEMORY_BYTES_DEFAULT (256ull << 20)
#define BRIG_PIDS_MIN 1ull
#define BRIG_PIDS_MAX 4096ull
#define BRIG_PIDS_DEFAULT 64ull
#define BRIG_OUTPUT_BYTES_MIN (1ull << 10)
#define BRIG_OUTPUT_BYTES_MAX ((unsigned long long)BRIG_OUTPUT_MAX_BYTES)
#define BRIG_OUTPUT_BYTES_DEFAULT (1ull << 20)
#define BRIG_FSIZE_BYTES_MIN (4ull << 10)
#define BRIG_FSIZE_BYTES_MAX (1ull << 30)
#define BRIG_FSIZE_BYTES_DEFAULT (64ull << 20)
#define BRIG_DISK_BYTES_MIN (1ull << 20)
#define BRIG_DISK_BYTES_MAX (8ull << 30)
#define BRIG_DISK_BYTES_DEFAULT (128ull << 20)
#define BRIG_TMP_BYTES_MIN (1ull << 20)
#define BRIG_TMP_BYTES_MAX (4ull << 30)
#define BRIG_TMP_BYTES_DEFAULT (64ull << 20)
#define BRIG_CPU_MILLIS_MIN 10ull
#define BRIG_CPU_MILLIS_MAX 64000ull
#define BRIG_CPU_MILLIS_DEFAULT 1000ull
#define BRIG_COLLECT_BYTES_MIN (1ull << 10)
#define BRIG_COLLECT_BYTES_MAX (4ull << 20)
#define BRIG_COLLECT_BYTES_DEFAULT (1ull << 20)

#endif
