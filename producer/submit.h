/* Publishing jobs: the delivery report callback the client's producer is
 * created with. */
#ifndef BRIG_PRODUCER_SUBMIT_H
#define BRIG_PRODUCER_SUBMIT_H

#include <librdkafka/rdkafka.h>

void submit_delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

#endif
