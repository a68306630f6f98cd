/* brig-worker's HTTP endpoint (libmicrohttpd, on its own thread):
 *
 *   GET /metrics   the registry in Prometheus text format 0.0.4
 *   GET /healthz   200 "ok" while the process runs
 *   GET /readyz    200 "ready" when the readiness callback says so, else 503
 *                  with its reasons
 *
 * Other paths get 404, other methods 405. Connections are few and short:
 * at most 32 at a time, idle ones closed after 10 s. */
#ifndef BRIG_WORKER_METRICS_SERVER_H
#define BRIG_WORKER_METRICS_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "worker/metrics_registry.h"

/* Says whether the worker is ready; when not, writes why into reason (one
 * line per failed check). Runs on the server's thread, so it reads only
 * state that is safe to read from there. */
typedef bool (*metrics_readiness_fn)(void *ctx, char *reason, size_t reason_len);

struct metrics_server;

/* Listens on addr, "HOST:PORT" ("[::1]:9464" for IPv6; an empty host means
 * every interface, port 0 a free port) and serves registry. Returns -1 with
 * a message naming the address in err. */
int metrics_server_start(const char *addr, struct metrics_registry *registry,
                         metrics_readiness_fn ready, void *ready_ctx, struct metrics_server **out,
                         char *err, size_t errlen);

/* "HOST:PORT" as bound, with the actual port. */
const char *metrics_server_address(const struct metrics_server *server);

/* Stops serving (waits for requests in progress) and frees. NULL is a no-op. */
void metrics_server_stop(struct metrics_server *server);

#endif
