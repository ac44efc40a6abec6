/*
 * committer.c — group commit: the one writer thread.
 *
 * SQLite has one writer at a time, and a durable commit costs an fsync that
 * takes far longer than the work of one request.  So loop threads never
 * write: they queue jf_write_jobs here, and the writer takes everything that
 * is waiting (at most JF_COMMIT_BATCH_MAX), runs it in ONE transaction with
 * a savepoint per job, and commits once.  While one batch is being synced
 * the next one gathers, so the batch size follows the load by itself: one
 * request alone is committed at once, 64 concurrent ones share one fsync.
 *
 * Invariants:
 * - A job is answered only after the COMMIT that contains it returned OK;
 *   if the commit fails, every job of the batch is answered 503 (nothing of
 *   the batch is on disk, so a retry is safe and exactly-once holds).
 * - A job's failure rolls back to its savepoint: it writes nothing and its
 *   neighbours in the batch are unaffected.
 * - Jobs run in arrival order, so of two requests with the same biz_no the
 *   first runs and the second sees its idempotency record (a replay).
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

struct jf_committer {
    jf_server *srv;
    jf_store *store; /* the only write handle */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    jf_write_job *head, *tail; /* FIFO, guarded by mu */
    size_t queued;
    bool stop;
    struct timespec last_jobs_run;
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

static void run_batch(jf_committer *c, jf_write_job **jobs, size_t n) {
    jf_store *s = c->store;
    int64_t t0 = mono_us();
    jf_error err;
    jf_error_clear(&err);
    jf_code rc = s->ops->begin(s, &err);
    if (rc != JF_OK) {
        for (size_t i = 0; i < n; i++) fail_job(jobs[i], JF_UNAVAILABLE, "could not start a transaction", &err);
        jf_metrics_batch(n, mono_us() - t0, 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        jf_write_job *job = jobs[i];
        jf_error_clear(&job->err);
        rc = s->ops->savepoint(s, &job->err);
        if (rc != JF_OK) {
            job->code = rc;
            continue;
        }
        job->code = job->run(s, job, &job->err);
        if (job->code == JF_OK) {
            rc = s->ops->savepoint_release(s, &job->err);
            if (rc != JF_OK) job->code = rc;
        } else {
            s->ops->savepoint_rollback(s);
        }
    }
    jf_error_clear(&err);
    rc = s->ops->commit(s, &err);
    if (rc != JF_OK) {
        s->ops->rollback(s);
        for (size_t i = 0; i < n; i++) fail_job(jobs[i], JF_UNAVAILABLE, "the batch could not be committed", &err);
    }
    jf_metrics_batch(n, mono_us() - t0, rc == JF_OK);
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
        run_batch(c, jobs + i, j - i);
        for (size_t k = i; k < j; k++) hand_back(jobs[k]);
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
    while (c->head && n < JF_COMMIT_BATCH_MAX) {
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

jf_code jf_committer_start(jf_server *srv, jf_committer **out, jf_error *err) {
    jf_committer *c = calloc(1, sizeof *c);
    if (c == NULL) return jf_fail(err, JF_INTERNAL, "", "out of memory");
    c->srv = srv;
    jf_code rc = jf_store_open(srv->cfg.db_path, &c->store, err);
    if (rc != JF_OK) {
        free(c);
        return rc;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (pthread_create(&c->thread, NULL, writer_main, c) != 0) {
        jf_store_close(c->store);
        free(c);
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
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    jf_store_close(c->store);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
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
