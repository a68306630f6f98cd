/* The few Kafka protocol messages the embedded broker's gate (broker_gate.h)
 * reads or writes; every other request and response passes through it as
 * bytes. The gate pins the mock broker to the versions handled here, all of
 * them non-flexible (request header v1, response header v0):
 *
 *   Produce 0-7           request parsed, response parsed or written
 *   OffsetCommit 0-7      request and response parsed
 *   Metadata 0-2          response: broker ports rewritten in place
 *   FindCoordinator 0-2   response: the coordinator's port rewritten in place
 *
 * Frames are the bytes after the 4-byte size. Parsers never trust a length:
 * anything short or inconsistent is -1, and the gate closes the connection. */
#ifndef BRIG_WORKER_GATE_WIRE_H
#define BRIG_WORKER_GATE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    KAFKA_API_PRODUCE = 0,
    KAFKA_API_METADATA = 3,
    KAFKA_API_OFFSET_COMMIT = 8,
    KAFKA_API_FIND_COORDINATOR = 10,
};

enum {
    KAFKA_ERR_MESSAGE_TOO_LARGE = 10,
    KAFKA_ERR_NOT_ENOUGH_REPLICAS = 19,
};

/* The highest version of each API above that the gate handles. */
#define GATE_PRODUCE_MAX_VERSION 7
#define GATE_OFFSET_COMMIT_MAX_VERSION 7
#define GATE_METADATA_MAX_VERSION 2
#define GATE_FIND_COORDINATOR_MAX_VERSION 2

struct gate_request_header {
    int16_t api_key, version;
    int32_t correlation_id;
    size_t body; /* where the request's body starts in the frame */
};

/* A partition entry of a Produce request, or of an OffsetCommit request or
 * of either's response. */
struct gate_entry {
    const char *topic;
    size_t topic_len;
    int32_t partition;
    int64_t offset;       /* OffsetCommit: the committed offset; Produce response: the base */
    int16_t error;        /* responses */
    size_t records_len;   /* Produce request: the record batches' bytes */
    int32_t record_count; /* Produce request: of the first batch, as the broker counts */
};

struct gate_entries {
    struct gate_entry *v;
    size_t n;
};

void gate_entries_free(struct gate_entries *entries);

/* The request header of frame, or -1. */
int gate_parse_request_header(const uint8_t *frame, size_t len, struct gate_request_header *out);

/* A Produce request's acks and partition entries (pointing into frame). */
int gate_parse_produce(const uint8_t *frame, size_t len, const struct gate_request_header *h,
                       int16_t *acks, struct gate_entries *out);

/* The frame of a Produce response that gives each entry its error and no
 * offset, or NULL (out of memory); *len is its size without the 4-byte
 * size prefix, which the frame includes. */
uint8_t *gate_produce_refusal(const struct gate_request_header *h,
                              const struct gate_entries *entries, size_t *len);

/* A Produce response's entries: topic, partition, error and base offset. */
int gate_parse_produce_response(const uint8_t *frame, size_t len, int16_t version,
                                struct gate_entries *out);

/* An OffsetCommit request's group (pointing into frame) and entries. */
int gate_parse_offset_commit(const uint8_t *frame, size_t len, const struct gate_request_header *h,
                             const char **group, size_t *group_len, struct gate_entries *out);

/* An OffsetCommit response's entries: topic, partition and error. */
int gate_parse_offset_commit_response(const uint8_t *frame, size_t len, int16_t version,
                                      struct gate_entries *out);

/* Rewrites in place every broker port of a Metadata or FindCoordinator
 * response of the given version: map(port, ctx) gives the new one. */
int gate_rewrite_ports(uint8_t *frame, size_t len, int16_t api_key, int16_t version,
                       int32_t (*map)(int32_t port, void *ctx), void *ctx);

#endif
