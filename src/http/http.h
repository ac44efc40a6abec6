/*
 * http.h — what the HTTP layer's files share: the server, its loop threads,
 * one request in flight (jf_call) and the write jobs handed to the committer.
 *
 * Threads: N event-loop threads (h2o evloop), each with its own read-only
 * store handle; one committer thread with the only write handle.  A request
 * is parsed, authenticated and (for reads) answered on its loop thread; a
 * write becomes a jf_write_job that the committer runs inside a batch and
 * hands back to the loop thread, which answers once the batch is durable.
 */
#ifndef JF_HTTP_HTTP_H
#define JF_HTTP_HTTP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <h2o.h>
#include <jansson.h>

#include "engine/ledger.h"
#include "engine/types.h"
#include "store/store.h"
#include "util/errors.h"

/* ---- limits of the HTTP edge (each with its reason) ---- */

/* Request bodies: 64 KiB is hundreds of times any real request; a larger
 * body is a mistake or an attack.  h2o itself refuses beyond the hard cap
 * (with its own 413) so that it never buffers megabytes per connection. */
#define JF_HTTP_BODY_BYTES_MAX (64 * 1024)
#define JF_HTTP_BODY_BYTES_HARD_MAX (1024 * 1024)
/* Request target: ids are short; 4 KiB leaves room for every query. */
#define JF_HTTP_URI_BYTES_MAX 4096
/* Headers: total name+value bytes and count.  Browsers send < 8 KiB. */
#define JF_HTTP_HEADER_BYTES_MAX (16 * 1024)
#define JF_HTTP_HEADERS_MAX 64
/* Open connections across all threads; beyond it new ones are closed at
 * once (the kernel backlog holds the rest). */
#define JF_HTTP_CONNECTIONS_MAX 4096
/* Time allowed to send a request head or body, and to sit idle between
 * requests: slow or silent clients give their slot back. */
#define JF_HTTP_IO_TIMEOUT_MS 10000
/* Write requests per transaction: bounds the time one commit holds the
 * writer lock and the work lost to a failed commit. */
#define JF_COMMIT_BATCH_MAX 512
/* When every job of a batch may run in its own savepoint (stores without a
 * write mark; PostgreSQL, whose failed batches run again with savepoints),
 * each job is a subtransaction, and a PostgreSQL
 * backend caches only 64 subtransaction ids per transaction
 * (PGPROC_MAX_CACHED_SUBXIDS); beyond that every snapshot taken on the
 * server has to consult pg_subtrans and slows down.  Such batches stop at 64. */
#define JF_COMMIT_BATCH_MAX_SAVEPOINTS 64
/* Committer writers of a server on PostgreSQL (--committers): each is a
 * thread with its own connection running its own batches, jobs shared out
 * by member, so the database works on several batches at once (its
 * backends in parallel, their fsyncs overlapping) — as if the server were
 * that many servers.  SQLite has one writer at a time: always one there.
 * Every writer is a connection: max_connections must cover servers ×
 * (threads + committers + 1).  The default is one: each writer's batches
 * are smaller (the same requests shared out), so PostgreSQL spends more
 * per request, which pays only when it has cores to spare (on a machine of
 * its own), not where it shares two cores with jifen (docs/scaling.md). */
#define JF_COMMITTERS_MAX 16
#define JF_COMMITTERS_PG_DEFAULT 1
/* Write requests waiting for the committer; beyond it new writes get 503
 * rather than queueing without bound (memory, latency). */
#define JF_COMMIT_QUEUE_MAX 16384
/* Seconds between runs of the due jobs (expiry, activation, hold
 * timeouts) when the clock is real. */
#define JF_JOBS_INTERVAL_S 60
/* Authenticated keys (with their tenant) are cached per loop thread for at
 * most this long.  A revocation or tenant change in this process clears
 * every cache at once; the time bound is what another server sharing the
 * database may lag behind. */
#define JF_AUTH_CACHE_TTL_MS 1000
#define JF_AUTH_CACHE_SLOTS 64
/* Loop threads. */
#define JF_HTTP_THREADS_MAX 64
/* Path parameters per route. */
#define JF_HTTP_PARAMS_MAX 2
/* Graceful shutdown: in-flight writes are always finished; idle or slow
 * connections get this long before the process exits. */
#define JF_HTTP_DRAIN_MS_MAX 5000

typedef struct jf_server jf_server;
typedef struct jf_loop jf_loop;
typedef struct jf_committer jf_committer;
typedef struct jf_route jf_route;

typedef struct {
    const char *db_path;
    char listen_host[256];
    uint16_t listen_port;
    int threads;
    int committers; /* PostgreSQL only; 0: JF_COMMITTERS_PG_DEFAULT */
    bool test_clock;
    bool access_log;
    bool demo;
    /* Sync the log inside each COMMIT (as before deferred syncs): the
     * writer waits for every fsync instead of running the next batch. */
    bool sync_each_commit;
} jf_serve_config;

struct jf_loop {
    int index;
    jf_server *server;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    int listen_fd;
    h2o_socket_t *listener;
    jf_store *store; /* this thread's read handle */
    bool reading; /* store holds this turn's read snapshot (jf_loop_read) */
    uint64_t read_generation; /* the auth cache's generation when it began */
    uint64_t server_errors; /* answers of status 500 and up, so far */
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t done_receiver; /* finished write jobs */
    size_t writes_in_flight;
    pthread_t thread;
};

struct jf_server {
    jf_serve_config cfg;
    h2o_globalconf_t globalconf;
    h2o_hostconf_t *hostconf;
    jf_loop *loops;
    int loops_n;
    jf_committer *committer;
    atomic_int stopping;
    atomic_long connections;
};

/* What the access log and the metrics need about a request; copied into a
 * write job because the request itself may be gone by the time it ends. */
typedef struct {
    int route_index; /* -1: no route matched */
    struct timespec started;
    char method[8];
    char path[128];
    char tenant[JF_TENANT_SLUG_LEN_MAX + 1];
} jf_call_meta;

/* One request being handled (allocated in the request's pool). */
typedef struct {
    h2o_req_t *req;
    jf_loop *loop;
    const jf_route *route;
    jf_call_meta meta;
    h2o_iovec_t params[JF_HTTP_PARAMS_MAX]; /* path parameters, in pattern order */
    bool authenticated;
    jf_api_key key;
    jf_tenant tenant;
    int64_t now_ms;
} jf_call;

typedef void (*jf_handler_fn)(jf_call *call);

/* Route flags. */
#define JF_ROUTE_BODY 1u          /* takes a JSON body */
#define JF_ROUTE_BODY_OPTIONAL 2u /* an empty body means {} */
#define JF_AUTH_NONE (-1)

struct jf_route {
    const char *method;
    const char *pattern; /* "/v1/members/{member_id}/earn" */
    jf_handler_fn handler;
    int role; /* JF_AUTH_NONE or the least jf_role allowed */
    unsigned flags;
    const char *name; /* metrics label and OpenAPI operationId */
};

/* ---- write jobs ---- */

typedef struct jf_write_job jf_write_job;
/* Runs on the committer thread inside the batch transaction (or, for a
 * standalone job, outside any transaction). */
typedef jf_code (*jf_write_run_fn)(jf_store *s, jf_write_job *job, jf_error *err);
/* Runs on the loop thread after the batch committed (or failed); answers
 * job->req unless it is NULL (the client went away). */
typedef void (*jf_write_done_fn)(jf_write_job *job);

typedef struct jf_req_link jf_req_link;

struct jf_write_job {
    h2o_multithread_message_t msg; /* back to the loop thread */
    jf_write_job *next;            /* the committer's queue */
    jf_write_run_fn run;
    jf_write_done_fn done;
    bool standalone; /* opens its own transactions (jobs run) */
    jf_loop *loop;
    h2o_req_t *req;     /* NULL once the client has gone */
    jf_req_link *link;  /* in req's pool; clears req when the pool goes */
    jf_call_meta meta;
    jf_tenant tenant;
    jf_api_key key;
    int64_t now_ms;
    json_t *body;                          /* the parsed request (owned) */
    void *extra;                           /* a handler's own block (owned: free()d with the job) */
    char member_id[JF_MEMBER_ID_LEN_MAX + 1];
    int64_t id_param;                      /* hold_id, key_id */
    /* Results, filled on the committer thread. */
    jf_code code;
    jf_error err;
    jf_result result;
};

/* ---- server.c ---- */
int jf_server_run(const jf_serve_config *cfg);

/* ---- routes.c ---- */
extern const jf_route jf_routes[];
extern const int jf_routes_n;
/* The route table as JSON [{"method","path","name","role","body"}] (for tests). */
void jf_routes_print_json(FILE *out);
/* Forget every cached key and tenant (after a revocation or tenant change
 * committed). */
void jf_auth_cache_invalidate(void);
/* h2o's on_req for every request. */
int jf_dispatch(h2o_handler_t *self, h2o_req_t *req);
/* The read snapshot of the loop's turn (one h2o_evloop_run: one wait for
 * events, then their callbacks).  The first request of a turn that reads
 * the database opens it on the thread's handle; the others of the turn
 * share it; the loop ends it when the turn is over (jf_loop_read_end).
 * Everything a request of the turn can have been told was committed was
 * committed before the turn's wait returned — a client sends a request
 * after the answer to its write, and the committer hands an answer to a
 * loop only after the commit — so a snapshot opened after that wait shows
 * it: reads see every write their client saw acknowledged.  One snapshot
 * instead of one per request saves a BEGIN and a ROLLBACK per request
 * (with SQLite, taking and dropping a read lock in the log's shared
 * memory, two fcntl calls). */
jf_code jf_loop_read(jf_loop *loop, jf_error *err);
void jf_loop_read_end(jf_loop *loop);
/* An API key and its tenant for a request on loop (routes.c): from the
 * thread's cache of keys, or read in the turn's snapshot (begun if need
 * be).  JF_UNAUTHORIZED for an unknown or revoked key. */
jf_code jf_auth_lookup(jf_loop *loop, const char *key, jf_api_key *out_key, jf_tenant *out_tenant, jf_error *err);

/* ---- respond.c: every answer goes through here (metrics, access log) ---- */
/* extra_headers: NULL-terminated name, value pairs (may be NULL). */
void jf_respond(h2o_req_t *req, jf_loop *loop, const jf_call_meta *meta, int status, const char *content_type,
                const char *body, size_t len, const char *const *extra_headers);
void jf_respond_json(jf_call *call, int status, json_t *doc); /* steals doc */
/* The same with the JSON text already written (freed here; NULL: a 500). */
void jf_respond_json_text(jf_call *call, int status, char *text, size_t len);
void jf_respond_error(jf_call *call, const jf_error *err);
/* invalid_json with its position. */
void jf_respond_json_error(jf_call *call, const jf_error *err, int line, int column);

/* ---- committer.c ---- */
jf_code jf_committer_start(jf_server *srv, jf_committer **out, jf_error *err);
/* Hand a job to the committer (any loop thread); false when the queue is
 * full (JF_COMMIT_QUEUE_MAX) and the job was not taken. */
bool jf_committer_submit(jf_committer *c, jf_write_job *job);
/* Whether writes can no longer be made durable (a sync of the log failed):
 * the committer refuses them, and /healthz says so. */
bool jf_committer_failed(jf_committer *c);
/* Finish every queued job, commit, stop the threads. */
void jf_committer_stop(jf_committer *c);
/* How many writers it runs (1 on SQLite; JF_COMMITTERS_* on PostgreSQL). */
size_t jf_committer_writers(const jf_committer *c);
/* Create a job for call (zeroed, size bytes, sz >= sizeof(jf_write_job)),
 * tied to the request so that the answer finds it (or learns it is gone). */
jf_write_job *jf_write_job_new(jf_call *call, size_t size, jf_write_run_fn run, jf_write_done_fn done);
/* Submit: counts the write in flight on its loop; when the committer is
 * full or the server is stopping, answers 503 at once and frees the job. */
void jf_write_job_submit(jf_write_job *job);
/* h2o_multithread receiver callback on each loop. */
void jf_write_jobs_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);
/* Answer a finished job whose run produced a jf_result: 201 with the
 * rendered result, the replay header when replayed, or its error. */
void jf_write_job_answer_result(jf_write_job *job);
/* Answer status with the JSON text already written (freed here; NULL: a
 * 500), marked Idempotent-Replayed when replayed; or the job's error. */
void jf_write_job_answer_text(jf_write_job *job, int status, char *text, size_t len, bool replayed);
/* Answer a finished job with a JSON document (steals doc) or its error. */
void jf_write_job_answer(jf_write_job *job, int status, json_t *doc);

#endif
