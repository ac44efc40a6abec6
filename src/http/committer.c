/*
 * committer.c — group commit: the one writer thread.
 *
 * SQLite has one writer at a time, and a durable commit costs an fsync that
 * takes far longer than the work of one request.  So loop threads never
 * write: they queue jf_write_jobs here, and the writer takes everything that
 * is waiting (at most JF_COMMIT_BATCH_MAX), runs it in ONE transaction
 * (jf_tx_batch), and commits once.  While one batch is being synced
 * the next one gathers, so the batch size follows the load by itself: one
 * request alone is committed at once, 64 concurrent ones share one fsync.
 *
 * Invariants:
 * - A job is answered only after the COMMIT that contains it returned OK;
 *   if the commit fails, every job of the batch is answered 503 (nothing of
 *   the batch is on disk, so a retry is safe and exactly-once holds).
 * - A job's failure writes nothing and its neighbours in the batch are
 *   unaffected.  A batch runs first without a savepoint per job (a savepoint
 *   copies every page a job touches: a fifth of an earn's work on SQLite);
 *   a job that fails leaves the transaction untouched as long as it failed
 *   before writing, which the store's write mark tells (store.h).  If a job
 *   fails after writing, the transaction is rolled back and the same batch
 *   runs again at once with a savepoint per job, whose rollback undoes only
 *   that job (jf_tx_batch in the engine).  Nothing is answered before the commit, so the rerun is
 *   invisible to clients.
 * - JF_RETRY is not an answer.  On PostgreSQL, with several servers on one
 *   database, it is routine: two servers race on a biz_no or on creating a
 *   member, batches deadlock, a lock wait times out.  The job is rolled
 *   back to its savepoint and run again in the next transaction (the whole
 *   batch again if the transaction itself failed with JF_RETRY), at most
 *   JF_COMMIT_ATTEMPTS_MAX times, then 503.  A job's run may therefore be
 *   called more than once and must keep nothing from a rolled-back run.
 * - Jobs on one member run in arrival order, so of two requests with the
 *   same biz_no the first runs and the second sees its idempotency record
 *   (a replay).  On PostgreSQL a batch is ordered by member first, so that
 *   all servers lock members in one order.
 * - Standalone jobs (running the due jobs) open their own transactions and
 *   run between batches, never inside one.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/metrics.h"
#include "util/tz.h"

/* Transactions a write job may take part in: the first, plus retries after
 * JF_RETRY (a lock wait that timed out, a deadlock, a key raced by another
 * server).  With the pauses of retry_pause this gives up after about 130 ms
 * of pauses plus the lock waits themselves, and answers 503. */
#define JF_COMMIT_ATTEMPTS_MAX 8

typedef struct {
    jf_write_job *job;
    size_t arrival;
} batch_slot;

struct jf_committer {
    jf_server *srv;
    jf_store *store; /* the only write handle */
    /* Several servers may share the database (PostgreSQL): sort each batch
     * by member so that their committers lock members in one order. */
    bool sort_batches;
    size_t batch_max; /* JF_COMMIT_BATCH_MAX, or _SAVEPOINTS without a write mark */
    uint64_t rng; /* xorshift state for retry pauses */
    /* Scratch for run_batch, JF_COMMIT_BATCH_MAX each. */
    batch_slot *slots;
    jf_write_job **pending, **again;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    jf_write_job *head, *tail; /* FIFO, guarded by mu */
    size_t queued;
    bool stop;
    struct timespec last_jobs_run;
    /* Checkpoints run here, on a connection of their own, not inside some
     * batch's COMMIT (where SQLite would do them: a 100+ ms stall). */
    jf_store *checkpoint_store;
    pthread_t checkpointer;
    pthread_cond_t checkpoint_cv; /* its own: a signal for the writer must never wake it instead */
    bool checkpointing;
};

struct jf_req_link {
    jf_write_job *job;
};

static int64_t mono_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void hand_back(jf_write_job *job) {
    h2o_multithread_send_message(&job->loop->done_receiver, &job->msg);
}

static void fail_job(jf_write_job *job, jf_code code, const char *what, const jf_error *cause) {
    job->code = jf_fail(&job->err, code, "", "%s: %s", what, cause->detail[0] ? cause->detail : "store error");
}

/* A short pause before a retry: 1, 2, 4 … 64 ms, half of it random so that
 * two servers whose batches met do not meet again in lockstep. */
static void retry_pause(jf_committer *c, int attempt) {
    assert(attempt >= 1);
    int64_t step_us = (int64_t)1000 << (attempt - 1 < 6 ? attempt - 1 : 6);
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    int64_t pause_us = step_us / 2 + (int64_t)(c->rng % (uint64_t)(step_us / 2 + 1));
    struct timespec ts = {pause_us / 1000000, (long)(pause_us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Order a batch by (tenant, member), arrival order among equals, so that
 * every server's committer takes member row locks in the same order and two
 * batches cannot deadlock on each other's members.  Reordering is allowed:
 * no job of a batch has been answered yet, so they are all concurrent, and
 * any order is one a client could have seen.  Two jobs on one member keep
 * their arrival order (the first of two same-biz_no requests runs first). */
static int batch_slot_cmp(const void *a, const void *b) {
    const batch_slot *x = a, *y = b;
    if (x->job->tenant.id != y->job->tenant.id) return x->job->tenant.id < y->job->tenant.id ? -1 : 1;
    int m = strcmp(x->job->member_id, y->job->member_id);
    if (m != 0) return m;
    return x->arrival < y->arrival ? -1 : x->arrival > y->arrival;
}

static void sort_by_member(jf_committer *c, jf_write_job **jobs, size_t n) {
    assert(n <= JF_COMMIT_BATCH_MAX);
    for (size_t i = 0; i < n; i++) c->slots[i] = (batch_slot){jobs[i], i};
    qsort(c->slots, n, sizeof *c->slots, batch_slot_cmp);
    for (size_t i = 0; i < n; i++) jobs[i] = c->slots[i].job;
}

static jf_code run_one(jf_store *s, size_t i, void *arg) {
    jf_write_job *job = ((jf_write_job **)arg)[i];
    jf_error_clear(&job->err);
    job->code = job->run(s, job, &job->err);
    return job->code;
}

static void failed_one(size_t i, void *arg, jf_code code, const jf_error *err) {
    jf_write_job *job = ((jf_write_job **)arg)[i];
    job->err = *err;
    job->code = code;
}

/* One transaction over jobs[0..n) (jf_tx_batch).  Returns JF_OK when it
 * committed (then the jobs that asked for a retry are moved to again[],
 * *again_n of them, and the rest are finished), or the failure of the
 * transaction (every job: nothing of it is on disk; JF_RETRY when it should
 * run again). */
static jf_code attempt_batch(jf_committer *c, jf_write_job **jobs, size_t n, jf_write_job **again, size_t *again_n,
                             jf_error *err) {
    *again_n = 0;
    bool reran = false;
    jf_code rc = jf_tx_batch(c->store, n, run_one, failed_one, jobs, &reran, err);
    if (reran) jf_metrics_batch_rerun();
    if (rc == JF_OK)
        for (size_t i = 0; i < n; i++)
            if (jobs[i]->code == JF_RETRY) again[(*again_n)++] = jobs[i];
    return rc;
}

/* Run a batch until every job has an answer.  Jobs that asked for a retry
 * run again in a fresh transaction after a short pause — not in the same
 * one, where the locks of the batch's other jobs would still be held (a
 * deadlock victim retried in place meets the same deadlock).  The whole
 * batch runs again when the transaction itself failed with JF_RETRY (on
 * PostgreSQL a serialization failure can abort the whole transaction); a job
 * whose run gave a business answer simply gives it again.  At most
 * JF_COMMIT_ATTEMPTS_MAX transactions per job; beyond that, 503.  Each
 * job is handed back as soon as the transaction holding its answer has
 * committed (or failed). */
static void run_batch(jf_committer *c, jf_write_job **jobs, size_t n) {
    if (c->sort_batches) sort_by_member(c, jobs, n);
    jf_write_job **pending = c->pending, **again = c->again;
    memcpy(pending, jobs, n * sizeof *jobs);
    size_t pending_n = n;
    for (int attempt = 0; pending_n > 0; attempt++) {
        if (attempt > 0) retry_pause(c, attempt);
        int64_t t0 = mono_us();
        size_t again_n = 0;
        jf_error err;
        jf_code rc = attempt_batch(c, pending, pending_n, again, &again_n, &err);
        jf_metrics_batch(pending_n, mono_us() - t0, rc == JF_OK);
        bool last = attempt + 1 >= JF_COMMIT_ATTEMPTS_MAX;
        if (rc == JF_RETRY && !last) continue; /* the same jobs, a new transaction */
        if (rc != JF_OK) {
            const char *what = rc == JF_RETRY ? "the database stayed busy; retry" : "the batch could not be committed";
            for (size_t i = 0; i < pending_n; i++) {
                fail_job(pending[i], JF_UNAVAILABLE, what, &err);
                hand_back(pending[i]);
            }
            return;
        }
        for (size_t i = 0, k = 0; i < pending_n; i++) {
            if (k < again_n && pending[i] == again[k]) {
                k++;
                if (!last) continue;
                jf_error cause = pending[i]->err;
                fail_job(pending[i], JF_UNAVAILABLE, "the database stayed busy; retry", &cause);
            }
            hand_back(pending[i]);
        }
        if (last) return;
        jf_write_job **t = pending;
        pending = again;
        again = t;
        pending_n = again_n;
    }
}

static void run_standalone(jf_committer *c, jf_write_job *job) {
    jf_error_clear(&job->err);
    job->code = job->run(c->store, job, &job->err);
}

static void process(jf_committer *c, jf_write_job **jobs, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (jobs[i]->standalone) {
            run_standalone(c, jobs[i]);
            hand_back(jobs[i]);
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !jobs[j]->standalone) j++;
        run_batch(c, jobs + i, j - i); /* hands every job back */
        i = j;
    }
}

/* Expire, activate and time out holds as of the wall clock, so that points
 * expire without an operator.  Not with the test clock: there "now" belongs
 * to the tests. */
static void periodic_jobs(jf_committer *c) {
    if (c->srv->cfg.test_clock) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (c->last_jobs_run.tv_sec != 0 && now.tv_sec - c->last_jobs_run.tv_sec < JF_JOBS_INTERVAL_S) return;
    c->last_jobs_run = now;
    jf_job_stats stats;
    memset(&stats, 0, sizeof stats);
    jf_error err;
    jf_error_clear(&err);
    jf_code rc = jf_jobs_run(c->store, jf_now_ms(), &stats, &err);
    jf_metrics_jobs_run();
    if (rc != JF_OK) fprintf(stderr, "jifen: periodic jobs failed: %s: %s\n", jf_code_name(rc), err.detail);
}

static size_t take(jf_committer *c, jf_write_job **out, bool *stop) {
    pthread_mutex_lock(&c->mu);
    if (c->head == NULL && !c->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&c->cv, &c->mu, &until);
    }
    size_t n = 0;
    while (c->head && n < c->batch_max) {
        out[n++] = c->head;
        c->head = c->head->next;
    }
    if (c->head == NULL) c->tail = NULL;
    c->queued -= n;
    *stop = c->stop;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static void *writer_main(void *arg) {
    jf_committer *c = arg;
    jf_write_job **jobs = calloc(JF_COMMIT_BATCH_MAX, sizeof *jobs);
    assert(jobs != NULL);
    for (;;) {
        bool stop = false;
        size_t n = take(c, jobs, &stop);
        if (n > 0) process(c, jobs, n);
        else if (stop) break;
        periodic_jobs(c);
    }
    free(jobs);
    return NULL;
}

static void *checkpointer_main(void *arg) {
    jf_committer *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += JF_CHECKPOINT_INTERVAL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&c->checkpoint_cv, &c->mu, &until);
        if (c->stop) break;
        pthread_mutex_unlock(&c->mu);
        jf_error err;
        jf_error_clear(&err);
        if (c->checkpoint_store->ops->checkpoint(c->checkpoint_store, &err) != JF_OK)
            fprintf(stderr, "jifen: checkpoint failed: %s\n", err.detail);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Move checkpoints off the writer: a second connection and a thread.  If
 * any of it fails, the writer keeps checkpointing by itself. */
static void checkpointer_start(jf_committer *c) {
    jf_error err;
    jf_error_clear(&err);
    if (jf_store_open(c->srv->cfg.db_path, &c->checkpoint_store, &err) != JF_OK) return;
    if (c->store->ops->set_auto_checkpoint(c->store, false, &err) == JF_OK &&
        pthread_create(&c->checkpointer, NULL, checkpointer_main, c) == 0) {
        c->checkpointing = true;
        return;
    }
    c->store->ops->set_auto_checkpoint(c->store, true, &err);
    jf_store_close(c->checkpoint_store);
    c->checkpoint_store = NULL;
}

static void committer_free(jf_committer *c) {
    free(c->slots);
    free(c->pending);
    free(c->again);
    free(c);
}

jf_code jf_committer_start(jf_server *srv, jf_committer **out, jf_error *err) {
    jf_committer *c = calloc(1, sizeof *c);
    if (c == NULL) return jf_fail(err, JF_INTERNAL, "", "out of memory");
    c->srv = srv;
    c->slots = calloc(JF_COMMIT_BATCH_MAX, sizeof *c->slots);
    c->pending = calloc(JF_COMMIT_BATCH_MAX, sizeof *c->pending);
    c->again = calloc(JF_COMMIT_BATCH_MAX, sizeof *c->again);
    if (c->slots == NULL || c->pending == NULL || c->again == NULL) {
        committer_free(c);
        return jf_fail(err, JF_INTERNAL, "", "out of memory");
    }
    c->rng = (uint64_t)mono_us() | 1;
    jf_code rc = jf_store_open(srv->cfg.db_path, &c->store, err);
    if (rc != JF_OK) {
        committer_free(c);
        return rc;
    }
    c->sort_batches = strcmp(c->store->ops->name, "postgres") == 0;
    /* A backend that sends writes ahead (PostgreSQL: begin_batch) runs a
     * batch again with a savepoint per job when one fails: its batches stop
     * where savepoints would have them stop. */
    const jf_store_ops *ops = c->store->ops;
    c->batch_max = ops->write_mark && !ops->begin_batch ? JF_COMMIT_BATCH_MAX : JF_COMMIT_BATCH_MAX_SAVEPOINTS;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_cond_init(&c->checkpoint_cv, NULL);
    checkpointer_start(c);
    if (pthread_create(&c->thread, NULL, writer_main, c) != 0) {
        jf_store_close(c->store);
        committer_free(c);
        return jf_fail(err, JF_INTERNAL, "", "could not start the committer thread");
    }
    *out = c;
    return JF_OK;
}

bool jf_committer_submit(jf_committer *c, jf_write_job *job) {
    job->next = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->queued >= JF_COMMIT_QUEUE_MAX || c->stop) {
        pthread_mutex_unlock(&c->mu);
        return false;
    }
    if (c->tail)
        c->tail->next = job;
    else
        c->head = job;
    c->tail = job;
    c->queued++;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return true;
}

void jf_committer_stop(jf_committer *c) {
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_signal(&c->cv);
    pthread_cond_signal(&c->checkpoint_cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    if (c->checkpointing) {
        pthread_join(c->checkpointer, NULL);
        jf_store_close(c->checkpoint_store);
    }
    jf_store_close(c->store);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->checkpoint_cv);
    committer_free(c);
}

/* ---- the loop-thread side ---- */

/* The request's pool is going away (the client closed the connection):
 * the job must not answer it. */
static void on_req_gone(void *p) {
    jf_req_link *link = p;
    if (link->job) {
        link->job->req = NULL;
        link->job->link = NULL;
    }
}

jf_write_job *jf_write_job_new(jf_call *call, size_t size, jf_write_run_fn run, jf_write_done_fn done) {
    assert(size >= sizeof(jf_write_job));
    jf_write_job *job = calloc(1, size);
    if (job == NULL) return NULL;
    job->run = run;
    job->done = done;
    job->loop = call->loop;
    job->req = call->req;
    job->meta = call->meta;
    job->tenant = call->tenant;
    job->key = call->key;
    job->now_ms = call->now_ms;
    jf_req_link *link = h2o_mem_alloc_shared(&call->req->pool, sizeof *link, on_req_gone);
    link->job = job;
    job->link = link;
    return job;
}

static void job_free(jf_write_job *job) {
    if (job->link) job->link->job = NULL;
    json_decref(job->body);
    free(job);
}

void jf_write_job_submit(jf_write_job *job) {
    jf_loop *loop = job->loop;
    if (!jf_committer_submit(loop->server->committer, job)) {
        job->code = jf_fail(&job->err, JF_UNAVAILABLE, "", "the server is busy or shutting down; retry");
        jf_write_job *j = job;
        if (j->link) j->link->job = NULL;
        j->link = NULL;
        jf_write_job_answer(j, 0, NULL);
        job_free(j);
        return;
    }
    loop->writes_in_flight++;
}

void jf_write_jobs_done(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages) {
    jf_loop *loop = H2O_STRUCT_FROM_MEMBER(jf_loop, done_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        jf_write_job *job = H2O_STRUCT_FROM_MEMBER(jf_write_job, msg, m);
        /* Detach from the pool first: answering may end the request. */
        if (job->link) job->link->job = NULL;
        job->link = NULL;
        job->done(job);
        assert(loop->writes_in_flight > 0);
        loop->writes_in_flight--;
        job_free(job);
    }
}
