#include "producer/audit_dbs.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int add_path(struct audit_dbs *dbs, const char *path)
{
    char **paths = realloc(dbs->paths, (dbs->count + 1) * sizeof *paths);
    if (!paths)
        return -1;
    dbs->paths = paths;
    if (!(paths[dbs->count] = strdup(path)))
        return -1;
    dbs->count++;
    return 0;
}

const char *audit_data_dir(void)
{
    const char *dir = getenv("BRIG_DATA_DIR");
    return dir && *dir ? dir : "/var/lib/brig";
}

int audit_dbs_find(const char *given, struct audit_dbs *dbs, char *err, size_t errlen)
{
    memset(dbs, 0, sizeof *dbs);
    if (given) {
        if (add_path(dbs, given) < 0) {
            snprintf(err, errlen, "%s", strerror(ENOMEM));
            return -1;
        }
        return 0;
    }
    const char *dir = audit_data_dir();
    char pattern[4096], fleet[4096];
    snprintf(pattern, sizeof pattern, "%s/audit-*.db", dir);
    snprintf(fleet, sizeof fleet, "%s/%s", dir, AUDIT_FLEET_DB);
    bool has_fleet = access(fleet, F_OK) == 0;
    glob_t found;
    int rc = glob(pattern, 0, NULL, &found);
    if (rc == GLOB_NOMATCH && has_fleet)
        return add_path(dbs, fleet) < 0 ? (snprintf(err, errlen, "%s", strerror(ENOMEM)), -1) : 0;
    if (rc == GLOB_NOMATCH) {
        snprintf(err, errlen,
                 "no audit store matches %s, and there is no %s (give --audit-db PATH, set "
                 "BRIG_DATA_DIR to the worker's data directory, or run brig audit sync)",
                 pattern, fleet);
        return -1;
    }
    if (rc != 0) {
        snprintf(err, errlen, "listing %s: %s", pattern,
                 rc == GLOB_NOSPACE ? strerror(ENOMEM) : "read error");
        return -1;
    }
    for (size_t i = 0; i < found.gl_pathc; i++) {
        if (add_path(dbs, found.gl_pathv[i]) < 0) {
            snprintf(err, errlen, "%s", strerror(ENOMEM));
            globfree(&found);
            audit_dbs_free(dbs);
            return -1;
        }
    }
    globfree(&found);
    if (has_fleet && add_path(dbs, fleet) < 0) {
        snprintf(err, errlen, "%s", strerror(ENOMEM));
        audit_dbs_free(dbs);
        return -1;
    }
    return 0;
}

void audit_dbs_free(struct audit_dbs *dbs)
{
    for (size_t i = 0; i < dbs->count; i++)
        free(dbs->paths[i]);
    free(dbs->paths);
    memset(dbs, 0, sizeof *dbs);
}

int audit_dbs_show(const struct audit_dbs *dbs, const char *job_id,
                   struct audit_job_record **record, const char **db, char *err, size_t errlen)
{
    *record = NULL;
    for (size_t i = 0; i < dbs->count; i++) {
        struct audit_job_record *this;
        int found = audit_show(dbs->paths[i], job_id, &this, err, errlen);
        if (found < 0) {
            audit_job_record_free(*record);
            *record = NULL;
            return -1;
        }
        if (found == 0)
            continue;
        if (*record && ((*record)->n_attempts > this->n_attempts ||
                        ((*record)->n_attempts == this->n_attempts &&
                         (*record)->n_redeliveries >= this->n_redeliveries))) {
            audit_job_record_free(this);
            continue;
        }
        audit_job_record_free(*record);
        *record = this;
        *db = dbs->paths[i];
    }
    return *record != NULL;
}

const struct audit_attempt_record *audit_final_attempt(const struct audit_job_record *record)
{
    const struct audit_attempt_record *final = NULL;
    for (size_t i = 0; i < record->n_attempts; i++) {
        const struct audit_attempt_record *a = &record->attempts[i];
        if (a->state && strcmp(a->state, "finished") == 0 && a->result)
            final = a;
    }
    return final;
}
