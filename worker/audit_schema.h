/* The audit database's schema and its migrations, and the error sentence
 * shared by the store's write and read sides. Internal to worker/audit*.c. */
#ifndef BRIG_WORKER_AUDIT_SCHEMA_H
#define BRIG_WORKER_AUDIT_SCHEMA_H

#include <stddef.h>

#include <sqlite3.h>

/* How long a statement waits for a lock held by another connection (a
 * checkpoint, a reader recovering the WAL) before failing with SQLITE_BUSY. */
#define AUDIT_BUSY_TIMEOUT_MS 5000

/* The schema version (PRAGMA user_version) this code migrates up to. */
int audit_schema_version(void);

/* Reads the database's user_version into *version; fails when it is newer
 * than audit_schema_version(), since this code cannot know what it means. */
int audit_schema_read_version(sqlite3 *db, const char *path, int *version, char *err,
                              size_t errlen);

/* Runs every migration step past the database's version, each in its own
 * transaction together with the user_version it leads to. */
int audit_schema_migrate(sqlite3 *db, const char *path, char *err, size_t errlen);

/* Opens the database at path for writing, by one process at a time: creates
 * it 0600 when missing, holds an flock on *lock_fd (closed by the caller,
 * after sqlite3_close, even on failure), WAL mode, synchronous=NORMAL,
 * foreign keys on, and brings the schema up to date (refusing a database
 * from a newer brig). On failure *db may be set: the caller closes it. */
int audit_db_open_writer(const char *path, sqlite3 **db, int *lock_fd, char *err, size_t errlen);

/* Writes "audit store PATH: <what, from fmt>: <sqlite3_errmsg>" into err;
 * returns -1. */
int audit_sql_error(sqlite3 *db, const char *path, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
