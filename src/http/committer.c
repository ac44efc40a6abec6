/*
 * committer.c — group commit: the writer threads.
 *
 * SQLite has one writer at a time, and a durable commit costs an fsync that
 * takes far longer than the work of one request.  So loop threads never
 * write: they queue jf_write_jobs here, and the writer takes everything that
 * is waiting (at most JF_COMMIT_BATCH_MAX), runs it in ONE transaction
 * (jf_tx_batch), and commits once.  While one batch runs the next one
 * gathers, so the batch size follows the load by itself: one request alone
 * is committed at once, 64 concurrent ones share one transaction.
 *
 * Where the store can (SQLite: store.h defer_sync), the COMMIT writes the
 * log without syncing it, and a syncer thread syncs it and only then hands
 * the batch's answers back; meanwhile the writer runs the next batch.  One
 * sync covers every batch committed before it began, so the fsync no
 * longer stalls the writer.  --sync-each-commit turns this off.
 *
 * On PostgreSQL a server runs several writers (--committers, http.h
 * JF_COMMITTERS_*), each a thread with its own connection and queue, as if
 * it were that many servers: a job goes to the writer its (tenant, member)
 * hashes to, so one member's jobs keep their arrival order on one writer,
 * and the database works on several batches at once.  Between writers
 * correctness comes from the database, exactly as between servers
 * (docs/scaling.md).  SQLite keeps one writer.
 *
 * Invariants:
 * - A job is answered only after the COMMIT that contains it returned OK
 *   and the log holding that commit was synced; if the commit fails, every
 *   job of the batch is answered 503 (nothing of the batch is on disk, so a
 *   retry is safe and exactly-once holds).  Readers on other connections
 *   may see a commit a moment before its sync: a power loss in that moment
 *   loses it, and no one was told it happened (its answer waits for the
 *   sync, and so does the answer to a replay of it, which runs here).
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
 *   run between batches, never inside one, on writer 0, which also runs
 *   the periodic due jobs.
 */
#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/metrics.h"
#include "store/checkpointer.h"
#include "util/clock.h"
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

/* One writer thread, its connection and its queue.  Jobs on one member
 * always go to the same writer (writer_of), which runs them in order. */
typedef struct {
    jf_committer *c;
    size_t index;
    jf_store *store; /* this writer's write handle */
    uint64_t rng;    /* xorshift state for retry pauses */
    /* Scratch for run_batch, JF_COMMIT_BATCH_MAX each. */
    batch_slot *slots;
    jf_write_job **pending, **again;
    jf_batch_member *hints; /* hint_members */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    jf_write_job *head, *tail; /* FIFO, guarded by mu */
    size_t queued;
    bool stop;
    struct timespec last_jobs_run; /* writer 0 runs the periodic jobs */
    jf_write_job *out_head, *out_tail; /* answered, until passed on (deliver) */
} jf_writer;

struct jf_committer {
    jf_server *srv;
    /* Several writers may share the database (PostgreSQL: other servers,
     * other writers of this one): sort each batch by member so that they
     * lock members in one order. */
    bool sort_batches;
    size_t batch_max; /* JF_COMMIT_BATCH_MAX, or _SAVEPOINTS (see jf_committer_start) */
    size_t queue_max; /* per writer: JF_COMMIT_QUEUE_MAX shared out */
    jf_writer *writers;
    size_t writers_n;
    /* SQLite: checkpoints run on a connection of their own, not inside
     * some batch's COMMIT (where SQLite would do them: a 100+ ms stall). */
    jf_checkpointer *checkpointer;
    /* Deferred syncs (store.h: defer_sync; SQLite, one writer): the writer
     * commits without syncing and passes the jobs it answered (its out
     * list) to the syncer, which syncs the log once for everything passed
     * to it and only then hands those jobs back.  Meanwhile the writer runs
     * the next batch. */
    bool deferred;
    pthread_t syncer;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    jf_write_job *sync_head, *sync_tail; /* guarded by sync_mu */
    bool sync_stop;                      /* guarded by sync_mu */
    atomic_bool sync_failed; /* a sync failed: no more writes are taken */
};

struct jf_req_link {
    jf_write_job *job;
};

static void hand_back(jf_write_job *job) {
    h2o_multithread_send_message(&job->loop->done_receiver, &job->msg);
}

/* A job answered by a writer: handed back now, or, with deferred syncs,
 * kept until pass_on gives it to the syncer. */
static void deliver(jf_writer *w, jf_write_job *job) {
    if (!w->c->deferred) {
        hand_back(job);
        return;
    }
    job->next = NULL;
    if (w->out_tail) w->out_tail->next = job;
    else w->out_head = job;
    w->out_tail = job;
}

/* Everything delivered since the last call goes to the syncer at once, so
 * that one sync covers the whole of it. */
static void pass_on(jf_writer *w) {
    jf_committer *c = w->c;
    if (w->out_head == NULL) return;
    pthread_mutex_lock(&c->sync_mu);
    if (c->sync_tail) c->sync_tail->next = w->out_head;
    else c->sync_head = w->out_head;
    c->sync_tail = w->out_tail;
    pthread_cond_signal(&c->sync_cv);
    pthread_mutex_unlock(&c->sync_mu);
    w->out_head = w->out_tail = NULL;
}

static void fail_job(jf_write_job *job, jf_code code, const char *what, const jf_error *cause) {
    job->code = jf_fail(&job->err, code, "", "%s: %s", what, cause->detail[0] ? cause->detail : "store error");
}

/* A short pause before a retry: 1, 2, 4 … 64 ms, half of it random so that
 * two servers whose batches met do not meet again in lockstep. */
static void retry_pause(jf_writer *w, int attempt) {
    assert(attempt >= 1);
    int64_t step_us = (int64_t)1000 << (attempt - 1 < 6 ? attempt - 1 : 6);
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    int64_t pause_us = step_us / 2 + (int64_t)(w->rng % (uint64_t)(step_us / 2 + 1));
    struct timespec ts = {pause_us / 1000000, (long)(pause_us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Order a batch by (tenant, member), arrival order among equals, so that
 * every writer takes member row locks in the same order and two batches
 * cannot deadlock on each other's members.  Reordering is allowed: no job
 * of a batch has been answered yet, so they are all concurrent, and any
 * order is one a client could have seen.  Two jobs on one member keep
 * their arrival order (the first of two same-biz_no requests runs first). */
static int batch_slot_cmp(const void *a, const void *b) {
    const batch_slot *x = a, *y = b;
    if (x->job->tenant.id != y->job->tenant.id) return x->job->tenant.id < y->job->tenant.id ? -1 : 1;
    int m = strcmp(x->job->member_id, y->job->member_id);
    if (m != 0) return m;
    return x->arrival < y->arrival ? -1 : x->arrival > y->arrival;
}

static void sort_by_member(jf_writer *w, jf_write_job **jobs, size_t n) {
    assert(n <= JF_COMMIT_BATCH_MAX);
    for (size_t i = 0; i < n; i++) w->slots[i] = (batch_slot){jobs[i], i};
    qsort(w->slots, n, sizeof *w->slots, batch_slot_cmp);
    for (size_t i = 0; i < n; i++) jobs[i] = w->slots[i].job;
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

/* Tell the store which members the batch's jobs will lock and which
 * biz_no each will look up (store.h: batch_members; PostgreSQL locks them
 * all at once).  The biz_no is the body's "biz_no" where it has one; a
 * wrong guess only costs the job its own lock statement. */
static void hint_members(jf_writer *w, jf_write_job **jobs, size_t n) {
    jf_store *s = w->store;
    if (s->ops->batch_members == NULL) return;
    assert(n <= JF_COMMIT_BATCH_MAX);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (jobs[i]->member_id[0] == '\0') continue;
        const char *biz_no = json_string_value(json_object_get(jobs[i]->body, "biz_no"));
        w->hints[k++] = (jf_batch_member){jobs[i]->tenant.id, jobs[i]->member_id, biz_no ? biz_no : ""};
    }
    if (k > 0) s->ops->batch_members(s, w->hints, k);
}

/* One transaction over jobs[0..n) (jf_tx_batch).  Returns JF_OK when it
 * committed (then the jobs that asked for a retry are moved to again[],
 * *again_n of them, and the rest are finished), or the failure of the
 * transaction (every job: nothing of it is on disk; JF_RETRY when it should
 * run again). */
static jf_code attempt_batch(jf_writer *w, jf_write_job **jobs, size_t n, jf_write_job **again, size_t *again_n,
                             jf_error *err) {
    *again_n = 0;
    bool reran = false;
    hint_members(w, jobs, n);
    jf_code rc = jf_tx_batch(w->store, n, run_one, failed_one, jobs, &reran, err);
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
static void run_batch(jf_writer *w, jf_write_job **jobs, size_t n) {
    if (w->c->sort_batches) sort_by_member(w, jobs, n);
    jf_write_job **pending = w->pending, **again = w->again;
    memcpy(pending, jobs, n * sizeof *jobs);
    size_t pending_n = n;
    for (int attempt = 0; pending_n > 0; attempt++) {
        if (attempt > 0) retry_pause(w, attempt);
        int64_t t0 = jf_mono_us();
        size_t again_n = 0;
        jf_error err;
        jf_code rc = attempt_batch(w, pending, pending_n, again, &again_n, &err);
        jf_metrics_batch(pending_n, jf_mono_us() - t0, rc == JF_OK);
        if (rc == JF_OK && !w->c->deferred) jf_metrics_fsync();
        bool last = attempt + 1 >= JF_COMMIT_ATTEMPTS_MAX;
        if (rc == JF_RETRY && !last) continue; /* the same jobs, a new transaction */
        if (rc != JF_OK) {
            const char *what = rc == JF_RETRY ? "the database stayed busy; retry" : "the batch could not be committed";
            for (size_t i = 0; i < pending_n; i++) {
                fail_job(pending[i], JF_UNAVAILABLE, what, &err);
                deliver(w, pending[i]);
            }
            pass_on(w);
            return;
        }
        for (size_t i = 0, k = 0; i < pending_n; i++) {
            if (k < again_n && pending[i] == again[k]) {
                k++;
                if (!last) continue;
                jf_error cause = pending[i]->err;
                fail_job(pending[i], JF_UNAVAILABLE, "the database stayed busy; retry", &cause);
            }
            deliver(w, pending[i]);
        }
        pass_on(w); /* not after the retries below: those may pause */
        if (last) return;
        jf_write_job **t = pending;
        pending = again;
        again = t;
        pending_n = again_n;
    }
}

static void run_standalone(jf_writer *w, jf_write_job *job) {
    jf_error_clear(&job->err);
    job->code = job->run(w->store, job, &job->err);
}

static void process(jf_writer *w, jf_write_job **jobs, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (jobs[i]->standalone) {
            run_standalone(w, jobs[i]);
            deliver(w, jobs[i]);
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !jobs[j]->standalone) j++;
        run_batch(w, jobs + i, j - i); /* delivers every job */
        i = j;
    }
    pass_on(w);
}

/* Expire, activate and time out holds as of the wall clock, so that points
 * expire without an operator (writer 0 only: one runner per server is
 * enough, and several are safe, docs/scaling.md).  Not with the test
 * clock: there "now" belongs to the tests. */
static void periodic_jobs(jf_writer *w) {
    if (w->c->srv->cfg.test_clock || w->index != 0) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (w->last_jobs_run.tv_sec != 0 && now.tv_sec - w->last_jobs_run.tv_sec < JF_JOBS_INTERVAL_S) return;
    w->last_jobs_run = now;
    jf_job_stats stats;
    memset(&stats, 0, sizeof stats);
    jf_error err;
    jf_error_clear(&err);
    jf_code rc = jf_jobs_run(w->store, jf_now_ms(), &stats, &err);
    jf_metrics_jobs_run();
    if (rc != JF_OK) fprintf(stderr, "jifen: periodic jobs failed: %s: %s\n", jf_code_name(rc), err.detail);
}

static size_t take(jf_writer *w, jf_write_job **out, bool *stop) {
    pthread_mutex_lock(&w->mu);
    if (w->head == NULL && !w->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&w->cv, &w->mu, &until);
    }
    size_t n = 0;
    while (w->head && n < w->c->batch_max) {
        out[n++] = w->head;
        w->head = w->head->next;
    }
    if (w->head == NULL) w->tail = NULL;
    w->queued -= n;
    *stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    return n;
}

static void *writer_main(void *arg) {
    jf_writer *w = arg;
    jf_write_job **jobs = calloc(JF_COMMIT_BATCH_MAX, sizeof *jobs);
    assert(jobs != NULL);
    for (;;) {
        bool stop = false;
        size_t n = take(w, jobs, &stop);
        if (n > 0) process(w, jobs, n);
        else if (stop) break;
        if (w->index == 0) jf_checkpointer_writer_turn(w->c->checkpointer);
        periodic_jobs(w);
    }
    free(jobs);
    return NULL;
}

/* The syncer: sync the log for everything passed on so far, then hand it
 * back.  Jobs passed on while a sync runs wait for the next one: they may
 * have committed after that sync began.  On stop it drains the list first.
 * A sync that fails answers its jobs 503 (their commits may or may not
 * survive a power loss; a retry with the same biz_no is safe either way)
 * and stops the server taking writes: after a failed fsync the kernel may
 * have dropped the pages it could not write, so nothing later can be
 * promised durable. */
static void *syncer_main(void *arg) {
    jf_committer *c = arg;
    jf_store *s = c->writers[0].store;
    pthread_mutex_lock(&c->sync_mu);
    for (;;) {
        while (c->sync_head == NULL && !c->sync_stop) pthread_cond_wait(&c->sync_cv, &c->sync_mu);
        if (c->sync_head == NULL) break; /* stopping, and nothing left */
        jf_write_job *job = c->sync_head;
        c->sync_head = c->sync_tail = NULL;
        pthread_mutex_unlock(&c->sync_mu);
        jf_error err;
        jf_error_clear(&err);
        jf_code rc = s->ops->log_sync(s, &err);
        if (rc == JF_OK) {
            jf_metrics_fsync();
        } else {
            fprintf(stderr, "jifen: syncing the log failed, no more writes are taken: %s\n", err.detail);
            atomic_store(&c->sync_failed, true);
        }
        while (job != NULL) {
            jf_write_job *next = job->next;
            if (rc != JF_OK) fail_job(job, JF_UNAVAILABLE, "the write could not be made durable", &err);
            hand_back(job);
            job = next;
        }
        pthread_mutex_lock(&c->sync_mu);
    }
    pthread_mutex_unlock(&c->sync_mu);
    return NULL;
}

/* Defer syncs to a syncer thread where the store can (one writer; not
 * with --sync-each-commit).  Without one, each COMMIT syncs as before. */
static void syncer_start(jf_committer *c) {
    jf_store *s = c->writers[0].store;
    if (c->writers_n != 1 || c->srv->cfg.sync_each_commit || s->ops->defer_sync == NULL || s->ops->log_sync == NULL)
        return;
    jf_error err;
    jf_error_clear(&err);
    if (s->ops->defer_sync(s, true, &err) != JF_OK) {
        fprintf(stderr, "jifen: deferred syncs are off: %s\n", err.detail);
        return;
    }
    pthread_mutex_init(&c->sync_mu, NULL);
    pthread_cond_init(&c->sync_cv, NULL);
    if (pthread_create(&c->syncer, NULL, syncer_main, c) == 0) {
        pthread_setname_np(c->syncer, "jf-syncer");
    } else {
        /* No syncer: each COMMIT syncs again (or, if even that is refused,
         * nothing could be promised durable). */
        pthread_mutex_destroy(&c->sync_mu);
        pthread_cond_destroy(&c->sync_cv);
        if (s->ops->defer_sync(s, false, &err) != JF_OK) abort();
        fprintf(stderr, "jifen: deferred syncs are off: no syncer thread\n");
        return;
    }
    c->deferred = true;
}

/* After the writers: it answers what they passed on. */
static void syncer_stop(jf_committer *c) {
    if (!c->deferred) return;
    pthread_mutex_lock(&c->sync_mu);
    c->sync_stop = true;
    pthread_cond_signal(&c->sync_cv);
    pthread_mutex_unlock(&c->sync_mu);
    pthread_join(c->syncer, NULL);
    pthread_mutex_destroy(&c->sync_mu);
    pthread_cond_destroy(&c->sync_cv);
    c->deferred = false;
}

static void writer_free(jf_writer *w) {
    free(w->slots);
    free(w->pending);
    free(w->again);
    free(w->hints);
}

static void committer_free(jf_committer *c) {
    for (size_t i = 0; i < c->writers_n; i++) writer_free(&c->writers[i]);
    free(c->writers);
    free(c);
}

/* Writer i: its scratch, its connection, its lock.  Not started yet. */
static jf_code writer_open(jf_committer *c, size_t i, jf_error *err) {
    jf_writer *w = &c->writers[i];
    w->c = c;
    w->index = i;
    w->slots = calloc(JF_COMMIT_BATCH_MAX, sizeof *w->slots);
    w->pending = calloc(JF_COMMIT_BATCH_MAX, sizeof *w->pending);
    w->again = calloc(JF_COMMIT_BATCH_MAX, sizeof *w->again);
    w->hints = calloc(JF_COMMIT_BATCH_MAX, sizeof *w->hints);
    if (w->slots == NULL || w->pending == NULL || w->again == NULL || w->hints == NULL)
        return jf_fail(err, JF_INTERNAL, "", "out of memory");
    w->rng = ((uint64_t)jf_mono_us() + i * 0x9e3779b97f4a7c15ULL) | 1;
    jf_code rc = jf_store_open(c->srv->cfg.db_path, &w->store, err);
    if (rc != JF_OK) return rc;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    return JF_OK;
}

/* How many writers: SQLite has one writer at a time, so one; PostgreSQL
 * takes the configured count (0: JF_COMMITTERS_PG_DEFAULT). */
static size_t writers_wanted(const jf_server *srv, const jf_store *first) {
    if (strcmp(first->ops->name, "postgres") != 0) return 1;
    int n = srv->cfg.committers > 0 ? srv->cfg.committers : JF_COMMITTERS_PG_DEFAULT;
    assert(n >= 1 && n <= JF_COMMITTERS_MAX);
    return (size_t)n;
}

/* Stop and join the started writers (each finishes its queue). */
static void writers_join(jf_committer *c) {
    for (size_t i = 0; i < c->writers_n; i++) {
        jf_writer *w = &c->writers[i];
        if (!w->started) continue;
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    for (size_t i = 0; i < c->writers_n; i++) {
        jf_writer *w = &c->writers[i];
        if (w->started) pthread_join(w->thread, NULL);
        w->started = false;
    }
}

/* Join the writers, then the syncer and the checkpointer (which use the
 * first writer's store), then close every writer's store. */
static void writers_stop(jf_committer *c) {
    writers_join(c);
    syncer_stop(c);
    jf_checkpointer_stop(c->checkpointer);
    c->checkpointer = NULL;
    for (size_t i = 0; i < c->writers_n; i++) {
        jf_writer *w = &c->writers[i];
        if (w->store == NULL) continue;
        jf_store_close(w->store);
        w->store = NULL;
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
}

jf_code jf_committer_start(jf_server *srv, jf_committer **out, jf_error *err) {
    jf_committer *c = calloc(1, sizeof *c);
    if (c == NULL) return jf_fail(err, JF_INTERNAL, "", "out of memory");
    c->srv = srv;
    c->writers = calloc(JF_COMMITTERS_MAX, sizeof *c->writers);
    if (c->writers == NULL) {
        free(c);
        return jf_fail(err, JF_INTERNAL, "", "out of memory");
    }
    c->writers_n = 1;
    jf_code rc = writer_open(c, 0, err);
    size_t wanted = rc == JF_OK ? writers_wanted(srv, c->writers[0].store) : 1;
    while (rc == JF_OK && c->writers_n < wanted) rc = writer_open(c, c->writers_n++, err);
    if (rc != JF_OK) {
        writers_stop(c);
        committer_free(c);
        return rc;
    }
    const jf_store_ops *ops = c->writers[0].store->ops;
    c->sort_batches = strcmp(ops->name, "postgres") == 0;
    /* A backend that sends writes ahead (PostgreSQL: begin_batch) runs a
     * batch again with a savepoint per job when one fails: its batches stop
     * where savepoints would have them stop. */
    c->batch_max = ops->write_mark && !ops->begin_batch ? JF_COMMIT_BATCH_MAX : JF_COMMIT_BATCH_MAX_SAVEPOINTS;
    c->queue_max = JF_COMMIT_QUEUE_MAX / c->writers_n;
    /* PostgreSQL checkpoints by itself: no connection is kept for it. */
    if (!c->sort_batches)
        c->checkpointer = jf_checkpointer_start(srv->cfg.db_path, c->writers[0].store, JF_CHECKPOINT_INTERVAL_MS,
                                                 JF_LOG_RESTART_FRAMES);
    syncer_start(c);
    for (size_t i = 0; i < c->writers_n && rc == JF_OK; i++) {
        jf_writer *w = &c->writers[i];
        if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
            rc = jf_fail(err, JF_INTERNAL, "", "could not start a committer thread");
        } else {
            pthread_setname_np(w->thread, "jf-committer");
            w->started = true;
        }
    }
    if (rc != JF_OK) {
        jf_committer_stop(c);
        return rc;
    }
    *out = c;
    return JF_OK;
}

/* The writer of a job: by (tenant, member), so that one member's jobs run
 * on one writer, in arrival order (FNV-1a). */
static jf_writer *writer_of(jf_committer *c, const jf_write_job *job) {
    if (c->writers_n == 1) return &c->writers[0];
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < 8; i++) h = (h ^ (uint8_t)((uint64_t)job->tenant.id >> (8 * i))) * 1099511628211ULL;
    for (const char *p = job->member_id; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    /* Standalone jobs (the due jobs) go to writer 0, with the periodic ones. */
    return job->standalone ? &c->writers[0] : &c->writers[h % c->writers_n];
}

bool jf_committer_failed(jf_committer *c) { return atomic_load(&c->sync_failed); }

bool jf_committer_submit(jf_committer *c, jf_write_job *job) {
    job->next = NULL;
    jf_writer *w = writer_of(c, job);
    pthread_mutex_lock(&w->mu);
    if (w->queued >= c->queue_max || w->stop || atomic_load(&c->sync_failed)) {
        pthread_mutex_unlock(&w->mu);
        return false;
    }
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    w->queued++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return true;
}

size_t jf_committer_writers(const jf_committer *c) { return c->writers_n; }

/* Every writer finishes its queue, the syncer answers what they passed
 * on, the checkpointer stops; all closed. */
void jf_committer_stop(jf_committer *c) {
    writers_stop(c);
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
    free(job->extra);
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
