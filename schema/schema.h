/* The wire schema: jobs, results, log chunks, dead letters and runtimes
 * records as msgpack maps
 * (schema/SCHEMA.md is the reference; this is its C binding).
 *
 * Decoding is strict: any message that breaks a rule is refused with a
 * brig_error naming the field and the reason, and nothing is allocated.
 * A decoded struct owns copies of everything it points to, in one arena
 * released by its *_free function.
 *
 * Encoding takes a struct the caller filled (zero-initialise it, then set
 * fields; pointers stay the caller's) and appends one message to a
 * msgpack_sbuffer. The encoder then decodes what it wrote, so it never emits a
 * message that a reader would refuse: it fails with the same brig_error
 * instead, and leaves the buffer as it was. */
#ifndef BRIG_SCHEMA_H
#define BRIG_SCHEMA_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "schema/bounds.h"
#include "schema/status.h"

/* field is a path into the message: "limits.memory_bytes", "args[3]",
 * "files[\"a/b\"]"; empty when the message as a whole is at fault. */
struct brig_error {
    char field[64];
    char reason[192];
};

/* "field: reason", or just the reason when the field is empty. */
void brig_error_format(const struct brig_error *err, char *buf, size_t len);

/* Binary data; data == NULL means absent. Decoded data is followed by a NUL
 * that len does not count, so text-like data can be printed as it is. */
struct brig_bytes {
    const char *data;
    size_t len;
};

struct brig_pair {
    const char *name;
    const char *value;
};

struct brig_file {
    const char *path;
    struct brig_bytes content;
};

/* 0 in a field means "not given": brig_limits_resolve() fills the default. */
struct brig_limits {
    uint64_t wall_ms;
    uint64_t cpu_ms;
    uint64_t memory_bytes;
    uint64_t pids;
    uint64_t output_bytes;
    uint64_t fsize_bytes;
    uint64_t disk_bytes;
    uint64_t tmp_bytes;
    uint64_t cpu_millis;
    uint64_t collect_bytes;
};

/* Copies given, with every field left at 0 replaced by its default. */
void brig_limits_resolve(const struct brig_limits *given, struct brig_limits *effective);

/* The limits of SCHEMA.md section 5.1 one at a time, in its order: the
 * field's name, where it is in struct brig_limits, its bounds and default.
 * NULL past the last. */
struct brig_limit_info {
    const char *name;
    size_t offset;
    uint64_t min, max, fallback;
};
const struct brig_limit_info *brig_limit_info(size_t i);
uint64_t *brig_limit_field(struct brig_limits *limits, const struct brig_limit_info *info);

enum brig_network_mode { BRIG_NETWORK_NONE = 0, BRIG_NETWORK_ALLOW };

/* One allow-list entry, as in "*.example.com:443". */
struct brig_net_rule {
    const char *host; /* lowercase name, IPv4 literal, or IPv6 literal without brackets */
    bool wildcard;    /* "*.host": every name ending in ".host", not host itself */
    uint16_t port;    /* 0 = every port */
};

struct brig_network {
    enum brig_network_mode mode;
    struct brig_net_rule *rules;
    size_t rule_count;
};

struct brig_job {
    const char *id;
    const char *runtime; /* exactly one of runtime and argv */
    const char *const *argv;
    size_t argv_count;
    struct brig_bytes code; /* required with runtime, refused with argv */
    const char *const *args;
    size_t args_count;
    struct brig_bytes stdin_data;
    struct brig_pair *env;
    size_t env_count;
    struct brig_file *files;
    size_t file_count;
    struct brig_limits limits;
    struct brig_network network;
    const char *session; /* NULL or "" = stateless */
    const char *const *collect;
    size_t collect_count;
    const char *reply_topic; /* NULL = <prefix>.results */
    bool stream_logs;
    struct brig_pair *metadata;
    size_t metadata_count;
    uint64_t deadline_ms; /* 0 = none */
    const char *replay_of;
    /* Paths of files (keys of files) written with mode 0755 instead of 0644. */
    const char *const *executable;
    size_t executable_count;
    /* Names of the worker's secrets the job uses: its environment holds a
     * placeholder for each, never the value (SCHEMA.md section 5). */
    const char *const *secrets;
    size_t secret_count;
    msgpack_zone *arena; /* owns the above when decoded; NULL when caller-built */
};

struct brig_omitted_file {
    const char *path;
    const char *reason;
};

/* One rich result of a cell (SCHEMA.md section 6.1): a MIME bundle. */
struct brig_output {
    const char *kind; /* "display" or "result"; readers skip others */
    /* The bundle as (name, bytes) pairs like files: path holds the MIME
     * type ("image/png"), content the data. */
    struct brig_file *data;
    size_t data_count;
};

struct brig_result {
    const char *id;
    uint64_t attempt; /* >= 1 */
    brig_status status;
    bool has_exit_code;
    int exit_code;
    int signal; /* 0 = none */
    struct brig_bytes stdout_data;
    struct brig_bytes stderr_data;
    bool stdout_truncated;
    bool stderr_truncated;
    struct brig_file *files;
    size_t file_count;
    struct brig_omitted_file *files_omitted;
    size_t omitted_count;
    bool files_omitted_truncated; /* files_omitted does not list every omission */
    bool has_usage;
    uint64_t wall_us;
    uint64_t cpu_us;
    uint64_t peak_memory_bytes;
    /* usage.compile_us: the runtime's compile step, when it had one. */
    bool has_compile_us;
    uint64_t compile_us;
    const char *runtime_name; /* NULL = no runtime field */
    const char *runtime_version;
    const char *worker_id;
    uint64_t received_ms; /* 0 = absent, as for the other times */
    uint64_t started_ms;
    uint64_t finished_ms;
    const char *error;
    const char *syscall;
    struct brig_pair *metadata;
    size_t metadata_count;
    const char *session;
    const char *replay_of;
    /* A cell's rich results, in order; outputs past the bounds dropped. */
    struct brig_output *outputs;
    size_t output_count;
    bool outputs_truncated;
    /* The exception a cell raised: exception_name NULL = none. */
    const char *exception_name;
    const char *exception_value; /* NULL = absent */
    const char *const *traceback;
    size_t traceback_count;
    /* A cell's interpreter: has_interpreter false on a result of no cell. */
    bool has_interpreter;
    bool interpreter_started; /* this cell started a fresh interpreter */
    bool state_lost;          /* the interpreter ended during this cell */
    uint64_t execution_count; /* 0 = absent */
    msgpack_zone *arena;
};

enum brig_stream { BRIG_STREAM_STDOUT = 1, BRIG_STREAM_STDERR = 2 };

struct brig_log_chunk {
    const char *id;
    uint64_t attempt;
    enum brig_stream stream;
    uint64_t seq; /* from 0 for each (id, attempt, stream) */
    struct brig_bytes data;
    uint64_t ts_ms;
    bool eos;
    msgpack_zone *arena;
};

struct brig_dead_letter {
    struct brig_bytes data; /* the original message, or its first BRIG_DEAD_LETTER_DATA_MAX bytes */
    bool data_truncated;
    const char *id; /* the job id when one could be recovered */
    const char *topic;
    uint64_t partition;
    uint64_t offset;
    /* The consumed message's Kafka key, or its first BRIG_DEAD_LETTER_KEY_MAX
     * bytes. data NULL: the key was null; non-NULL with len 0: empty. */
    struct brig_bytes key;
    bool key_truncated;
    const char *reason;
    const char *field; /* may be NULL or "" */
    uint64_t received_ms;
    const char *worker_id;
    msgpack_zone *arena;
};

/* A request to the workers, on <prefix>.control, which every worker reads
 * whole (SCHEMA.md section 8a). */
enum brig_control_op {
    BRIG_CONTROL_CANCEL = 1, /* stop job id, or answer it cancelled unrun */
};

struct brig_control {
    enum brig_control_op op;
    const char *id; /* the job */
    const char *by; /* who asked, as the client says; NULL = not said */
    uint64_t ts_ms; /* when it was asked */
    msgpack_zone *arena;
};

/* One runtime a worker offers, as it announces it. */
struct brig_runtime_entry {
    const char *name; /* the canonical name, which results and the audit store record */
    const char *const *aliases;
    size_t alias_count;
    const char *version; /* NULL: its version command failed */
    bool warm;           /* jobs start from a warm interpreter */
    const char *image;   /* its root image; NULL: the host's /usr */
};

/* The runtimes record of <prefix>.runtimes: one per worker, keyed by its id. */
struct brig_runtimes {
    const char *worker_id;
    uint64_t started_ms;
    struct brig_runtime_entry *runtimes;
    size_t runtime_count;
    msgpack_zone *arena;
};

/* Each decoder returns 0, or -1 with err filled and *out zeroed. */
int brig_job_decode(const void *buf, size_t len, struct brig_job *out, struct brig_error *err);
int brig_result_decode(const void *buf, size_t len, struct brig_result *out,
                       struct brig_error *err);
int brig_log_chunk_decode(const void *buf, size_t len, struct brig_log_chunk *out,
                          struct brig_error *err);
int brig_dead_letter_decode(const void *buf, size_t len, struct brig_dead_letter *out,
                            struct brig_error *err);
int brig_control_decode(const void *buf, size_t len, struct brig_control *out,
                        struct brig_error *err);
int brig_runtimes_decode(const void *buf, size_t len, struct brig_runtimes *out,
                         struct brig_error *err);

/* Each encoder appends one message to out and returns 0, or -1 with err
 * filled and out unchanged. */
int brig_job_encode(const struct brig_job *job, msgpack_sbuffer *out, struct brig_error *err);
int brig_result_encode(const struct brig_result *result, msgpack_sbuffer *out,
                       struct brig_error *err);
int brig_log_chunk_encode(const struct brig_log_chunk *chunk, msgpack_sbuffer *out,
                          struct brig_error *err);
int brig_dead_letter_encode(const struct brig_dead_letter *letter, msgpack_sbuffer *out,
                            struct brig_error *err);
int brig_control_encode(const struct brig_control *control, msgpack_sbuffer *out,
                        struct brig_error *err);
int brig_runtimes_encode(const struct brig_runtimes *record, msgpack_sbuffer *out,
                         struct brig_error *err);

/* Release what a decoder allocated and zero the struct; harmless on a
 * zeroed or caller-built struct. */
void brig_job_free(struct brig_job *job);
void brig_result_free(struct brig_result *result);
void brig_log_chunk_free(struct brig_log_chunk *chunk);
void brig_dead_letter_free(struct brig_dead_letter *letter);
void brig_control_free(struct brig_control *control);
void brig_runtimes_free(struct brig_runtimes *record);

/* Best effort on a job that failed to decode (truncated, wrong types, ...):
 * finds a valid top-level "id" and, if there is one, a valid "reply_topic"
 * (else reply_topic is set to ""), so the sender can be told with a rejected
 * result. Returns false when no valid id was found. Never reads past len. */
bool brig_job_peek_reply(const void *buf, size_t len, char *id, size_t idlen, char *reply_topic,
                         size_t tlen);

#endif
