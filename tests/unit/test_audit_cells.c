/* audit_session_cells (worker/audit.h): a session's jobs in the order they
 * arrived, each with its code, its latest finished attempt's status and
 * the cell fields of its result; other sessions' jobs left out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "schema/schema.h"
#include "worker/audit.h"

static char dir[64], path[128], err[512];
static struct audit_store *store;

#define OK(call)                                                                                   \
    do {                                                                                           \
        if ((call) < 0)                                                                            \
            fail_msg("%s: %s", #call, err);                                                        \
    } while (0)

static void add_cell(const char *id, const char *session, int64_t created_ms, const char *code,
                     const struct brig_result *result)
{
    struct brig_job job = {.id = id, .runtime = "python", .session = session};
    job.code = (struct brig_bytes){code, strlen(code)};
    msgpack_sbuffer raw, res;
    struct brig_error why;
    msgpack_sbuffer_init(&raw);
    msgpack_sbuffer_init(&res);
    assert_int_equal(brig_job_encode(&job, &raw, &why), 0);
    struct audit_message msg = {.topic = "brig.jobs",
                                .offset = created_ms,
                                .received_ms = created_ms,
                                .payload = raw.data,
                                .payload_len = raw.size,
                                .job_id = id};
    int64_t message_id, attempt_id, number;
    OK(audit_record_message(store, &msg, &message_id, err, sizeof err));
    OK(audit_record_job(store, id, message_id, NULL, "python", session, NULL, raw.data, raw.size,
                        err, sizeof err));
    OK(audit_attempt_begin(store, id, created_ms, "python", NULL, NULL, NULL, &attempt_id, &number,
                           err, sizeof err));
    if (result) {
        assert_int_equal(brig_result_encode(result, &res, &why), 0);
        struct audit_outcome outcome = {.finished_ms = created_ms + 1, .status = result->status};
        OK(audit_attempt_end(store, attempt_id, &outcome, res.data, res.size, err, sizeof err));
    }
    msgpack_sbuffer_destroy(&raw);
    msgpack_sbuffer_destroy(&res);
}

struct seen {
    int rows;
    char text[1024];
};

static int collect(void *ctx, const struct audit_cell_row *row)
{
    struct seen *s = ctx;
    size_t n = strlen(s->text);
    const struct brig_result *r = row->result;
    snprintf(s->text + n, sizeof(s->text) - n, "%s[%.*s] %s", row->job_id,
             row->job ? (int)row->job->code.len : 0, row->job ? row->job->code.data : "",
             row->status ? row->status : "-");
    n = strlen(s->text);
    if (r && r->output_count)
        snprintf(s->text + n, sizeof(s->text) - n, " %s:%s", r->outputs[0].kind,
                 r->outputs[0].data[0].path);
    n = strlen(s->text);
    if (r && r->exception_name)
        snprintf(s->text + n, sizeof(s->text) - n, " %s", r->exception_name);
    n = strlen(s->text);
    if (r && r->has_interpreter)
        snprintf(s->text + n, sizeof(s->text) - n, " #%llu",
                 (unsigned long long)r->execution_count);
    n = strlen(s->text);
    snprintf(s->text + n, sizeof(s->text) - n, "; ");
    s->rows++;
    return 0;
}

static void test_a_sessions_cells_in_order(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/brig-test-cells.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/audit.db", dir);
    OK(audit_open(path, "worker-1", &store, err, sizeof err));

    struct brig_file png = {.path = "image/png", .content = {"\x89PNG", 4}};
    struct brig_output out = {.kind = "display", .data = &png, .data_count = 1};
    const char *tb[] = {"Traceback", "NameError"};
    struct brig_result first = {.id = "c1",
                                .attempt = 1,
                                .status = BRIG_STATUS_OK,
                                .outputs = &out,
                                .output_count = 1,
                                .has_interpreter = true,
                                .interpreter_started = true,
                                .execution_count = 1};
    struct brig_result second = {.id = "c2",
                                 .attempt = 1,
                                 .status = BRIG_STATUS_FAILED,
                                 .exception_name = "NameError",
                                 .exception_value = "y",
                                 .traceback = tb,
                                 .traceback_count = 2,
                                 .has_interpreter = true,
                                 .execution_count = 2};
    add_cell("c2", "nb", 2000, "y", &second);
    add_cell("c1", "nb", 1000, "plot()", &first);
    add_cell("other", "nb-2", 1500, "secret", &first);
    add_cell("c3", "nb", 3000, "while True: pass", NULL);
    OK(audit_flush(store, err, sizeof err));

    struct seen seen = {0};
    OK(audit_session_cells(path, "nb", collect, &seen, err, sizeof err));
    assert_int_equal(seen.rows, 3);
    assert_string_equal(seen.text, "c1[plot()] ok display:image/png #1; "
                                   "c2[y] failed NameError #2; "
                                   "c3[while True: pass] -; ");
    struct seen none = {0};
    OK(audit_session_cells(path, "nobody", collect, &none, err, sizeof err));
    assert_int_equal(none.rows, 0);
    assert_int_equal(audit_session_cells(path, "", collect, &none, err, sizeof err), -1);
    assert_non_null(strstr(err, "session: missing"));

    OK(audit_close(store, err, sizeof err));
    char command[160];
    snprintf(command, sizeof command, "rm -rf %s", dir);
    assert_int_equal(system(command), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_sessions_cells_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
