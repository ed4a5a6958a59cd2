/*  status.h: the small health status a running agent keeps up to date in a file, and
    `meshdl status`, which reads it: the HEALTHCHECK of the Docker image.

    The agent rewrites the file about once a second, atomically (a temporary file renamed
    over it), so a reader sees a whole old status or a whole new one, never half of one.
    One JSON object on one line:
      {"agent": "ID", "state": "training", "peers": 3, "min_peers": 3, "step": 120,
       "epoch": 0.52, "shard": 1, "shards": 4, "time": 1790000000.1,
       "first_step_time": 1790000000.0, "message": ""}
    state: starting | waiting (for --min-peers) | training | done | stopped | failed.
    Healthy = training, and the file was written within the last max_age seconds (an agent
    that hangs or dies stops rewriting it). An agent that finished its run (done) is not
    unhealthy either. */
#ifndef MDL_STATUS_H
#define MDL_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *agent;      /* agent id, 16 hex digits */
    const char *state;      /* see above */
    uint64_t peers;         /* live peers now */
    int min_peers;          /* --min-peers */
    uint64_t step;
    double epoch;
    long shard, shards;     /* -1 while --shard auto has not chosen */
    double first_step_time; /* wall clock of the first step, NAN before it */
    const char *message;    /* why it failed or waits; may be NULL */
    double worker_s, comm_s; /* seconds since the worker's, the comm thread's heartbeat (NAN: none) */
} mdl_status_t;

/* Adds st's keys (the object above) to the open JSON object j (a mdl_json_t of
   report.h, begun by the caller): what the status file and GET /status share. */
void mdl_status_json (const mdl_status_t *st, void *j);

/* Writes st to path atomically (path.tmp, then rename). Returns 0 or MDL_EIO; on error
   the previous file, if any, is left as it was. */
int mdl_status_write (const char *path, const mdl_status_t *st);

/* Reads the status at path and judges it: returns 0 when healthy or finished (done),
   1 when not (starting, waiting, stopped, failed; a missing, unreadable, malformed or
   stale file). line receives one sentence saying why ("healthy: agent ... training, step
   ...", "finished: agent ... done at step ...", "unhealthy: ..."). With waiting_ok, an
   agent that is starting or waiting for its peers, with a fresh file, is healthy too: a
   liveness check for orchestrators that list a task under its name only once it is
   healthy (Docker Swarm's tasks.SERVICE), where the peers come from that very name. */
int mdl_status_check (const char *path, double max_age, bool waiting_ok, char *line, size_t len);

#endif
