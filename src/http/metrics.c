/*
 * metrics.c — Prometheus counters (see metrics.h).
 */
#include "http/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "store/checkpointer.h"
#include "store/sqlite_vfs.h"

#define STATUS_MAX 600
static const double latency_le_ms[] = {0.25, 0.5, 1, 2, 5, 10, 15, 25, 50, 100, 250, 500, 1000, 2500};
#define LAT_N (sizeof latency_le_ms / sizeof latency_le_ms[0])
static const int batch_le[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
#define BATCH_N (sizeof batch_le / sizeof batch_le[0])

typedef struct {
    atomic_uint_fast64_t status[STATUS_MAX];
    atomic_uint_fast64_t latency[LAT_N + 1]; /* non-cumulative; last is +Inf */
    atomic_uint_fast64_t latency_sum_us;
    atomic_uint_fast64_t count;
} route_stats;

static route_stats routes[JF_METRICS_ROUTES_MAX + 1];
static atomic_uint_fast64_t batch_hist[BATCH_N + 1];
static atomic_uint_fast64_t batch_jobs_sum, batch_count, commit_us_sum, commit_failures, jobs_runs, batch_reruns, fsyncs;
static atomic_long connections_open;

void jf_metrics_request(int route_index, int status, int64_t latency_us) {
    if (route_index < 0 || route_index >= JF_METRICS_ROUTES_MAX) route_index = JF_METRICS_ROUTES_MAX;
    route_stats *r = &routes[route_index];
    if (status < 0 || status >= STATUS_MAX) status = 0;
    atomic_fetch_add_explicit(&r->status[status], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < LAT_N && (double)latency_us > latency_le_ms[b] * 1000.0) b++;
    atomic_fetch_add_explicit(&r->latency[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->latency_sum_us, (uint64_t)(latency_us > 0 ? latency_us : 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
}

void jf_metrics_batch(size_t jobs, int64_t commit_us, int ok) {
    size_t b = 0;
    while (b < BATCH_N && jobs > (size_t)batch_le[b]) b++;
    atomic_fetch_add_explicit(&batch_hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&batch_jobs_sum, jobs, memory_order_relaxed);
    atomic_fetch_add_explicit(&batch_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&commit_us_sum, (uint64_t)(commit_us > 0 ? commit_us : 0), memory_order_relaxed);
    if (!ok) atomic_fetch_add_explicit(&commit_failures, 1, memory_order_relaxed);
}

void jf_metrics_fsync(void) { atomic_fetch_add_explicit(&fsyncs, 1, memory_order_relaxed); }

void jf_metrics_batch_rerun(void) { atomic_fetch_add_explicit(&batch_reruns, 1, memory_order_relaxed); }

void jf_metrics_jobs_run(void) { atomic_fetch_add_explicit(&jobs_runs, 1, memory_order_relaxed); }

void jf_metrics_connections(long open) { atomic_store_explicit(&connections_open, open, memory_order_relaxed); }

static uint64_t ld(atomic_uint_fast64_t *a) { return atomic_load_explicit(a, memory_order_relaxed); }

static const char *route_label(int i) {
    return i < jf_routes_n && i < JF_METRICS_ROUTES_MAX ? jf_routes[i].name : "unmatched";
}

static void render_requests(FILE *f) {
    fputs("# HELP jifen_http_requests_total HTTP requests by route and status.\n"
          "# TYPE jifen_http_requests_total counter\n", f);
    for (int i = 0; i <= JF_METRICS_ROUTES_MAX; i++) {
        if (i < JF_METRICS_ROUTES_MAX && i >= jf_routes_n) continue;
        for (int s = 0; s < STATUS_MAX; s++) {
            uint64_t n = ld(&routes[i].status[s]);
            if (n) fprintf(f, "jifen_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_label(i), s,
                           (unsigned long long)n);
        }
    }
    fputs("# HELP jifen_http_request_duration_seconds Time from request received to response handed to the socket.\n"
          "# TYPE jifen_http_request_duration_seconds histogram\n", f);
    for (int i = 0; i <= JF_METRICS_ROUTES_MAX; i++) {
        if (i < JF_METRICS_ROUTES_MAX && i >= jf_routes_n) continue;
        uint64_t count = ld(&routes[i].count);
        if (count == 0) continue;
        uint64_t cum = 0;
        for (size_t b = 0; b < LAT_N; b++) {
            cum += ld(&routes[i].latency[b]);
            fprintf(f, "jifen_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n", route_label(i),
                    latency_le_ms[b] / 1000.0, (unsigned long long)cum);
        }
        cum += ld(&routes[i].latency[LAT_N]);
        fprintf(f, "jifen_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", route_label(i),
                (unsigned long long)cum);
        fprintf(f, "jifen_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route_label(i),
                (double)ld(&routes[i].latency_sum_us) / 1e6);
        fprintf(f, "jifen_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route_label(i),
                (unsigned long long)count);
    }
}

static void render_committer(FILE *f) {
    fputs("# HELP jifen_committer_batch_size Write requests per committed transaction.\n"
          "# TYPE jifen_committer_batch_size histogram\n", f);
    uint64_t cum = 0;
    for (size_t b = 0; b < BATCH_N; b++) {
        cum += ld(&batch_hist[b]);
        fprintf(f, "jifen_committer_batch_size_bucket{le=\"%d\"} %llu\n", batch_le[b], (unsigned long long)cum);
    }
    cum += ld(&batch_hist[BATCH_N]);
    fprintf(f, "jifen_committer_batch_size_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    fprintf(f, "jifen_committer_batch_size_sum %llu\n", (unsigned long long)ld(&batch_jobs_sum));
    fprintf(f, "jifen_committer_batch_size_count %llu\n", (unsigned long long)ld(&batch_count));
    fprintf(f, "# HELP jifen_commits_total Write transactions (batches) committed.\n"
               "# TYPE jifen_commits_total counter\njifen_commits_total %llu\n",
            (unsigned long long)(ld(&batch_count) - ld(&commit_failures)));
    fprintf(f, "# HELP jifen_fsyncs_total Durable syncs the committer waited for before answering: one per"
               " committed batch, or with deferred syncs one per sync of the log, which may cover several.\n"
               "# TYPE jifen_fsyncs_total counter\njifen_fsyncs_total %llu\n",
            (unsigned long long)ld(&fsyncs));
    jf_sqlite_io_counts wal;
    jf_sqlite_vfs_counts(JF_SQLITE_WAL, &wal);
    fprintf(f, "# HELP jifen_sqlite_wal_syncs_total fsyncs of SQLite's write-ahead log (0 on PostgreSQL).\n"
               "# TYPE jifen_sqlite_wal_syncs_total counter\njifen_sqlite_wal_syncs_total %llu\n"
               "# HELP jifen_sqlite_wal_writes_total Write calls that reached SQLite's write-ahead log: a commit's"
               " frames go in one call per 124 KiB.\n"
               "# TYPE jifen_sqlite_wal_writes_total counter\njifen_sqlite_wal_writes_total %llu\n"
               "# HELP jifen_sqlite_wal_bytes_total Bytes written to SQLite's write-ahead log.\n"
               "# TYPE jifen_sqlite_wal_bytes_total counter\njifen_sqlite_wal_bytes_total %llu\n",
            (unsigned long long)wal.syncs, (unsigned long long)wal.writes, (unsigned long long)wal.bytes);
    jf_sqlite_io_counts db;
    jf_sqlite_vfs_counts(JF_SQLITE_DB, &db);
    fprintf(f, "# HELP jifen_sqlite_wal_sync_seconds_total Time spent in fsyncs of SQLite's write-ahead log.\n"
               "# TYPE jifen_sqlite_wal_sync_seconds_total counter\njifen_sqlite_wal_sync_seconds_total %.6f\n"
               "# HELP jifen_sqlite_db_syncs_total fsyncs of the SQLite database file (checkpoints).\n"
               "# TYPE jifen_sqlite_db_syncs_total counter\njifen_sqlite_db_syncs_total %llu\n"
               "# HELP jifen_sqlite_db_sync_seconds_total Time spent in fsyncs of the SQLite database file.\n"
               "# TYPE jifen_sqlite_db_sync_seconds_total counter\njifen_sqlite_db_sync_seconds_total %.6f\n",
            (double)wal.sync_us / 1e6, (unsigned long long)db.syncs, (double)db.sync_us / 1e6);
    jf_checkpoint_counts cp;
    jf_checkpointer_counts(&cp);
    fputs("# HELP jifen_sqlite_log_restart_turn_seconds The writer's pauses to let SQLite's log start over"
          " (it copies what the checkpoint thread left and syncs the database; writes wait meanwhile).\n"
          "# TYPE jifen_sqlite_log_restart_turn_seconds histogram\n", f);
    uint64_t turns_le = 0;
    for (size_t b = 0; b < JF_CHECKPOINT_TURN_BUCKETS; b++) {
        turns_le += cp.turn_le[b];
        if (b + 1 < JF_CHECKPOINT_TURN_BUCKETS)
            fprintf(f, "jifen_sqlite_log_restart_turn_seconds_bucket{le=\"%g\"} %llu\n",
                    (double)JF_CHECKPOINT_TURN_LE_US[b] / 1e6, (unsigned long long)turns_le);
        else
            fprintf(f, "jifen_sqlite_log_restart_turn_seconds_bucket{le=\"+Inf\"} %llu\n",
                    (unsigned long long)turns_le);
    }
    fprintf(f, "jifen_sqlite_log_restart_turn_seconds_sum %.6f\njifen_sqlite_log_restart_turn_seconds_count %llu\n",
            (double)cp.turn_us / 1e6, (unsigned long long)cp.turns);
    fprintf(f, "# HELP jifen_commit_failures_total Batches whose commit failed (every request in them got 503).\n"
               "# TYPE jifen_commit_failures_total counter\njifen_commit_failures_total %llu\n",
            (unsigned long long)ld(&commit_failures));
    fprintf(f, "# HELP jifen_committer_batch_reruns_total Batches rolled back and run again with a savepoint per"
               " request, because a request failed after writing.\n"
               "# TYPE jifen_committer_batch_reruns_total counter\njifen_committer_batch_reruns_total %llu\n",
            (unsigned long long)ld(&batch_reruns));
    fprintf(f, "# HELP jifen_commit_seconds_total Time spent running and committing batches.\n"
               "# TYPE jifen_commit_seconds_total counter\njifen_commit_seconds_total %.6f\n",
            (double)ld(&commit_us_sum) / 1e6);
    fprintf(f, "# HELP jifen_jobs_runs_total Runs of the due jobs (expiry, activation, hold timeouts).\n"
               "# TYPE jifen_jobs_runs_total counter\njifen_jobs_runs_total %llu\n",
            (unsigned long long)ld(&jobs_runs));
    fprintf(f, "# HELP jifen_http_connections Open HTTP connections.\n"
               "# TYPE jifen_http_connections gauge\njifen_http_connections %ld\n",
            atomic_load_explicit(&connections_open, memory_order_relaxed));
}

char *jf_metrics_render(size_t *len) {
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (f == NULL) {
        *len = 0;
        return NULL;
    }
    render_requests(f);
    render_committer(f);
    fclose(f);
    *len = size;
    return buf;
}
