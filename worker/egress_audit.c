#include "worker/egress_audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Appends a clause to err, "; " between clauses. */
static void add_clause(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_clause(char *err, size_t errlen, const char *fmt, ...)
{
    size_t used = strnlen(err, errlen);
    if (used + 1 >= errlen)
        return;
    if (used > 0)
        used += (size_t)snprintf(err + used, errlen - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    if (used < errlen)
        vsnprintf(err + used, errlen - used, fmt, ap);
    va_end(ap);
}

int egress_audit_drain(struct egress_proxy *proxy, struct audit_store *store, char *err,
                       size_t errlen)
{
    struct egress_report report;
    egress_take_report(proxy, &report);
    char first[512] = "";
    size_t unwritten = 0;
    for (size_t i = 0; i < report.count; i++) {
        const struct egress_record *r = &report.records[i];
        struct audit_connection conn = {
            .job_id = r->job_id,
            .host = r->host,
            .port = r->port,
            .allowed = r->allowed,
            .reason = r->reason,
            .ts_ms = r->ts_ms,
        };
        char why[512];
        if (audit_record_connection(store, &conn, why, sizeof(why)) < 0 && unwritten++ == 0)
            snprintf(first, sizeof(first), "%s", why);
    }
    err[0] = '\0';
    if (unwritten > 0)
        add_clause(err, errlen, "%zu of %zu egress connection record(s) not written, the first: %s",
                   unwritten, report.count, first);
    if (report.lost > 0)
        add_clause(err, errlen,
                   "%llu egress connection record(s) lost: the queue was full or memory ran out",
                   (unsigned long long)report.lost);
    if (report.failures > 0)
        add_clause(err, errlen, "the egress proxy failed %llu time(s), the last: %s",
                   (unsigned long long)report.failures, report.last_failure);
    egress_report_free(&report);
    return err[0] ? -1 : 0;
}
