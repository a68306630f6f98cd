#include "schema/fuzz/roundtrip.h"

BRIG_FUZZ_ROUNDTRIP(job)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Besides the round trip: peeking never reads out of bounds (ASan watches),
 * and on a job that decodes it finds exactly the decoded id and topic. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[BRIG_ID_MAX + 1], topic[BRIG_TOPIC_MAX + 1];
    struct brig_job job;
    struct brig_error err;
    roundtrip(data, size);
    bool peeked = brig_job_peek_reply(data, size, id, sizeof id, topic, sizeof topic);
    if (brig_job_decode(data, size, &job, &err) == 0) {
        if (!peeked || strcmp(id, job.id) != 0 ||
            strcmp(topic, job.reply_topic ? job.reply_topic : "") != 0)
            abort();
        brig_job_free(&job);
    }
    return 0;
}
