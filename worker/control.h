/* The control topic, <prefix>.control: requests about jobs (cancel) that
 * every worker reads whole, outside the consumer group, so that whichever
 * worker holds the job acts on it. Reading starts CONTROL_LOOKBACK_MS back
 * at start, so that a worker restarted within that time still knows of
 * recent cancels of jobs it will be given again. */
#ifndef BRIG_WORKER_CONTROL_H
#define BRIG_WORKER_CONTROL_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "schema/schema.h"
#include "worker/config.h"

#define CONTROL_LOOKBACK_MS (10 * 60 * 1000)

struct control_reader;

/* Assigns every partition of topic, from CONTROL_LOOKBACK_MS ago. */
int control_reader_new(const struct worker_config *config, const char *topic,
                       struct control_reader **out, char *err, size_t errlen);
void control_reader_free(struct control_reader *r);

/* Main loop thread, without waiting: each request that arrived, decoded,
 * goes to fn with its message (for the signature's headers); a message that
 * does not decode is logged and skipped. */
typedef void (*control_request_fn)(void *ctx, const struct brig_control *request,
                                   const rd_kafka_message_t *msg);
void control_reader_poll(struct control_reader *r, control_request_fn fn, void *ctx);

#endif
