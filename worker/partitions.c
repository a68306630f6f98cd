/* The jobs topic's partitions as this worker holds them: assignment and
 * revocation, the offsets it may store, and offsets it never got to read.
 *
 * At-least-once: a partition's stored offset is its lowest unfinished one
 * (tracker.h), and a task's offset finishes only when task_release() is
 * told it was answered, after its answer's delivery. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "worker/interp.h"
#include "worker/log.h"
#include "worker/metrics.h"
#include "worker/worker.h"

struct partition_state *partition_of(struct worker *w, int32_t p)
{
    if (p < 0)
        return NULL;
    if (p >= w->n_partitions) {
        int32_t n = p + 1;
        struct partition_state *grown = realloc(w->partitions, (size_t)n * sizeof(*grown));
        if (!grown)
            return NULL;
        memset(grown + w->n_partitions, 0, (size_t)(n - w->n_partitions) * sizeof(*grown));
        w->partitions = grown;
        w->n_partitions = n;
    }
    return &w->partitions[p];
}

void task_release(struct worker *w, struct task *task, bool answered)
{
    struct partition_state *ps = partition_of(w, task->partition);
    /* A task from before a revoke belongs to no tracker of ours any more. */
    if (ps && ps->assigned && ps->generation == task->generation) {
        if (answered)
            tracker_finish(ps->tracker, task->offset);
        ps->outstanding--;
    }
    task_free(task);
}

unsigned tasks_in_flight(const struct worker *w)
{
    unsigned n = 0;
    for (int32_t p = 0; p < w->n_partitions; p++)
        n += w->partitions[p].outstanding;
    return n;
}

void store_offsets(struct worker *w)
{
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(8);
    for (int32_t p = 0; p < w->n_partitions; p++) {
        struct partition_state *ps = &w->partitions[p];
        int64_t committable = ps->assigned && !ps->lost ? tracker_committable(ps->tracker) : -1;
        if (committable >= 0)
            rd_kafka_topic_partition_list_add(offsets, w->topic_jobs, p)->offset = committable;
    }
    if (offsets->cnt > 0) {
        rd_kafka_resp_err_t rc = rd_kafka_offsets_store(w->consumer, offsets);
        if (rc)
            log_error(NULL, "storing offsets: %s", rd_kafka_err2str(rc));
    }
    rd_kafka_topic_partition_list_destroy(offsets);
}

/* ---- offsets deleted before they were read ----
 *
 * Retention deletes jobs nobody ran; the embedded broker deletes past a few
 * MiB a partition, read or not. librdkafka moves a position below the log
 * start to it with a log line at most. Here a message whose offset is past
 * the expected one is checked against the partition's log start: offsets
 * below it were deleted unread. A group with no committed offset expects
 * offset 0, where auto.offset.reset=earliest starts it unless jobs were
 * deleted before any worker read them (a first worker's group join takes
 * seconds: seen, jobs of 2 MiB sent meanwhile gone without a word). A
 * partition whose every unread job was deleted sends no message to check:
 * the statistics show it (seen: a 6 MiB job and the small one after it).
 * Other gaps (transaction markers, aborted records) are normal. */

#define WATERMARK_TIMEOUT_MS 2000

/* Offsets first to last of partition p were deleted unread: an error log,
 * the metric and the audit store's skipped_offsets say so. */
static void report_deleted(struct worker *w, int32_t p, int64_t first, int64_t last)
{
    uint64_t count = (uint64_t)(last - first + 1);
    metrics_offsets_skipped(p, count);
    log_error(NULL,
              "%s[%d]: %llu message(s) at offsets %lld to %lld were deleted by the cluster "
              "before this worker read them (retention, or the embedded broker's size limit); "
              "they never ran and nobody was answered",
              w->topic_jobs, (int)p, (unsigned long long)count, (long long)first, (long long)last);
    char err[512];
    if (audit_record_skipped(w->audit, w->topic_jobs, p, first, last, wall_clock_ms(), err,
                             sizeof(err)) < 0)
        log_error(NULL, "audit store: recording skipped offsets: %s", err);
}

/* The partition's log start, or -1 (said) when the cluster does not tell. */
static int64_t log_start(struct worker *w, int32_t p, int64_t from)
{
    int64_t low = -1, high = -1;
    rd_kafka_resp_err_t rc = rd_kafka_query_watermark_offsets(w->consumer, w->topic_jobs, p, &low,
                                                              &high, WATERMARK_TIMEOUT_MS);
    if (rc) {
        log_error(NULL,
                  "%s[%d]: the partition's log start could not be read (%s): messages from "
                  "offset %lld on may have been deleted unread",
                  w->topic_jobs, (int)p, rd_kafka_err2str(rc), (long long)from);
        return -1;
    }
    return low;
}

void check_offset(struct worker *w, const rd_kafka_message_t *msg)
{
    struct partition_state *ps = partition_of(w, msg->partition);
    int64_t expected = ps->expected;
    ps->expected = msg->offset + 1;
    if (expected < 0 || msg->offset <= expected)
        return;
    int64_t low = log_start(w, msg->partition, expected);
    if (low <= expected)
        return; /* still in the log (markers, aborted records), or unknown (said) */
    report_deleted(w, msg->partition, expected, (low < msg->offset ? low : msg->offset) - 1);
}

/* The consumer fetches at or past the log start and holds nothing fetched
 * for the loop, yet the loop expects an offset below it: nothing below will
 * come. (Nothing held means every message fetched before these statistics
 * were made has been through intake: they come through the same queue.) */
void check_log_start(struct worker *w, const struct stats_partition *seen)
{
    struct partition_state *ps = partition_of(w, seen->partition);
    if (!ps || !ps->assigned || ps->expected < 0 || seen->queued != 0 ||
        seen->log_start <= ps->expected || seen->next_fetch < seen->log_start)
        return;
    report_deleted(w, seen->partition, ps->expected, seen->log_start - 1);
    ps->expected = seen->log_start;
}

/* ---- rebalances ---- */

static bool in_list(const rd_kafka_topic_partition_list_t *parts, int32_t p)
{
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition == p)
            return true;
    return false;
}

static unsigned outstanding_in(struct worker *w, const rd_kafka_topic_partition_list_t *parts)
{
    unsigned n = 0;
    for (int i = 0; i < parts->cnt; i++) {
        struct partition_state *ps = partition_of(w, parts->elems[i].partition);
        n += ps ? ps->outstanding : 0;
    }
    return n;
}

static bool not_revoked(const struct task *task, void *parts)
{
    return !in_list(parts, task->partition);
}

/* Partitions lost are another member's: no offset the loop stores while
 * their running jobs finish, and none stored before the loss was known and
 * not yet committed, may be committed when they are unassigned (librdkafka
 * commits what is stored then; the broker would refuse it, and this member
 * has no business trying). A logical offset is stored whatever the
 * assignment, and is no offset to commit. */
static void forget_offsets(struct worker *w, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *none = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        struct partition_state *ps = partition_of(w, parts->elems[i].partition);
        if (ps)
            ps->lost = true;
        rd_kafka_topic_partition_list_add(none, parts->elems[i].topic, parts->elems[i].partition)
            ->offset = RD_KAFKA_OFFSET_INVALID;
    }
    rd_kafka_resp_err_t rc = rd_kafka_offsets_store(w->consumer, none);
    if (rc)
        log_error(NULL, "forgetting the stored offsets of lost partitions: %s",
                  rd_kafka_err2str(rc));
    rd_kafka_topic_partition_list_destroy(none);
}

/* Gives up the partitions' waiting jobs (their next owner gets them again),
 * lets running ones finish within the revoke timeout, stores the offsets of
 * what was answered (committed as the partitions are unassigned), then
 * forgets the partitions. Partitions lost (the group gave them to another
 * member while this one could not reach it) are someone else's already:
 * nothing is stored for them, and their jobs still running finish (within
 * their own limits) and are answered, a second answer where the new owner
 * runs them again. */
static void revoke_partitions(struct worker *w, const rd_kafka_topic_partition_list_t *parts,
                              bool lost)
{
    if (lost)
        forget_offsets(w, parts);
    struct task *given_up = sched_take_unless(w->scheduler, not_revoked, (void *)parts);
    for (struct task *task = given_up, *next; task; task = next) {
        next = task->next;
        task_release(w, task, false);
    }

    int64_t deadline = monotonic_ms() + (int64_t)w->config->revoke_timeout_ms;
    while (outstanding_in(w, parts) > 0 && monotonic_ms() < deadline && !w->fatal)
        worker_turn(w);
    /* librdkafka commits the stored offsets of partitions it unassigns
     * (enable.auto.commit). A synchronous commit here could wait for ever:
     * during a close, a member the group no longer knows waits for a join
     * that never comes. */
    if (!w->fatal && !lost)
        store_offsets(w);

    for (int i = 0; i < parts->cnt; i++) {
        struct partition_state *ps = partition_of(w, parts->elems[i].partition);
        if (!ps)
            continue;
        if (ps->outstanding > 0)
            log_warn(NULL,
                     "partition %d revoked with %u job(s) still running; their answers will not "
                     "be committed here",
                     (int)parts->elems[i].partition, ps->outstanding);
        metrics_forget_lag(parts->elems[i].partition);
        /* Its sessions' next cells run wherever the partition goes. */
        if (w->interps)
            interp_pool_end_partition(w->interps, parts->elems[i].partition);
        ps->assigned = false;
        ps->outstanding = 0;
        tracker_free(ps->tracker);
        ps->tracker = NULL;
    }
}

/* The committed offsets of the partitions, as where reading should start;
 * -1 where unknown (a new group, or the coordinator did not answer). */
#define COMMITTED_TIMEOUT_MS 5000

static void assign_partitions(struct worker *w, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t rc = rd_kafka_committed(w->consumer, committed, COMMITTED_TIMEOUT_MS);
    if (rc)
        log_warn(NULL, "reading the committed offsets of the assigned partitions: %s",
                 rd_kafka_err2str(rc));
    for (int i = 0; i < parts->cnt; i++) {
        struct partition_state *ps = partition_of(w, parts->elems[i].partition);
        if (!ps)
            continue;
        tracker_free(ps->tracker);
        ps->tracker = tracker_new();
        ps->assigned = ps->tracker != NULL;
        ps->lost = false;
        ps->outstanding = 0;
        ps->generation++;
        const rd_kafka_topic_partition_t *c = &committed->elems[i];
        ps->expected = rc || c->err ? -1 : c->offset >= 0 ? c->offset : 0;
    }
    rd_kafka_topic_partition_list_destroy(committed);
}

void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                  void *opaque)
{
    struct worker *w = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign_partitions(w, parts);
        if (cooperative)
            rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (w->paused)
            rd_kafka_pause_partitions(rk, parts);
        log_info(NULL, "assigned %d partition(s)", parts->cnt);
    } else {
        bool lost = rd_kafka_assignment_lost(rk);
        if (lost)
            log_warn(NULL,
                     "lost %d partition(s): the group gave them to another member while this "
                     "worker could not reach it; their waiting jobs are given up and no offset is "
                     "stored for them",
                     parts->cnt);
        revoke_partitions(w, parts, lost);
        if (cooperative)
            rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
        log_info(NULL, "released %d partition(s)", parts->cnt);
    }
}
