/*
 * metrics.h — counters and histograms for GET /metrics (Prometheus text).
 *
 * Plain relaxed atomics in static arrays: a request costs a few uncontended
 * increments, nothing allocates, nothing locks.  Exact totals are not
 * needed at the instant of a scrape, only eventually.
 */
#ifndef JF_HTTP_METRICS_H
#define JF_HTTP_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Routes the metrics can tell apart; index JF_METRICS_ROUTES_MAX is "unmatched". */
#define JF_METRICS_ROUTES_MAX 48

/* A request finished: route index (-1: unmatched), status, latency. */
void jf_metrics_request(int route_index, int status, int64_t latency_us);
/* The committer committed a batch of `jobs` (ok = the commit succeeded). */
void jf_metrics_batch(size_t jobs, int64_t commit_us, int ok);
/* A batch rolled back and run again with a savepoint per job, because a job
 * failed after writing (committer.c). */
void jf_metrics_batch_rerun(void);
/* One durable sync the committer waited for. */
void jf_metrics_fsync(void);
void jf_metrics_jobs_run(void);
void jf_metrics_connections(long open);

/* The Prometheus text exposition (malloc'd, *len set). */
char *jf_metrics_render(size_t *len);

#endif
