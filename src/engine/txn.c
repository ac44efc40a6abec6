/*
 * txn.c — the one transaction runner.
 *
 * Every write outside the HTTP committer goes through here: begin, run,
 * commit; roll back on failure; on JF_RETRY (a serialization failure, a lock
 * time-out, a unique key taken by a concurrent writer) start again, a bounded
 * number of times with a short growing pause.
 *
 * jf_tx_batch is the committer's: many jobs, one transaction, one commit.
 */
#include <time.h>

#include "engine/internal.h"

jf_code jf_tx_run(jf_store *s, jf_tx_fn fn, void *arg, jf_error *err) {
    jf_code rc = JF_RETRY;
    for (int attempt = 0; attempt < JF_TX_RETRIES; attempt++) {
        if (attempt > 0) {
            struct timespec ts = {0, (long)(1000000L << (attempt < 6 ? attempt : 6))}; /* 2..64 ms */
            nanosleep(&ts, NULL);
        }
        jf_error_clear(err);
        rc = ST(s, begin, err);
        if (rc == JF_RETRY) continue;
        if (rc != JF_OK) return rc;
        rc = fn(s, arg, err);
        if (rc == JF_OK) rc = ST(s, commit, err);
        if (rc == JF_OK) return JF_OK;
        s->ops->rollback(s);
        if (rc != JF_RETRY) return rc;
    }
    return jf_fail(err, JF_UNAVAILABLE, "", "the database stayed busy; try again");
}

/* One pass over the jobs inside an open transaction.  *clean = false when
 * an unguarded job failed after it may have written (the pass stops there):
 * only a rollback of the whole transaction undoes that.  A release that
 * fails fails its job alone (store.h).  Returns the failure of a SAVEPOINT,
 * which fails the transaction. */
static jf_code batch_pass(jf_store *s, size_t n, jf_batch_fn run, jf_batch_failed_fn failed, void *arg,
                          bool guarded, bool *clean, jf_error *err) {
    *clean = true;
    for (size_t i = 0; i < n; i++) {
        if (!guarded) {
            uint64_t mark = s->ops->write_mark(s);
            jf_code rc = run(s, i, arg);
            if (rc != JF_OK && (rc == JF_RETRY || s->ops->write_mark(s) != mark)) {
                *clean = false;
                return JF_OK;
            }
            continue;
        }
        jf_code rc = ST(s, savepoint, err);
        if (rc != JF_OK) return rc;
        if (run(s, i, arg) == JF_OK) {
            jf_error release_err = {0};
            rc = ST(s, savepoint_release, &release_err);
            if (rc != JF_OK && failed != NULL) failed(i, arg, rc, &release_err);
        } else {
            s->ops->savepoint_rollback(s);
        }
    }
    return JF_OK;
}

/* The first pass's start: a backend that sends writes ahead (store.h:
 * begin_batch) is told that no savepoint will contain them. */
static jf_code batch_begin(jf_store *s, bool guarded, jf_error *err) {
    if (!guarded && s->ops->begin_batch != NULL) return ST(s, begin_batch, err);
    return ST(s, begin, err);
}

/* After an unguarded pass: whether every write sent ahead succeeded.  A
 * failure found here belongs to some job of the pass (its mark moved). */
static bool batch_writes_ok(jf_store *s, bool guarded) {
    if (guarded || s->ops->writes_check == NULL) return true;
    jf_error ignored;
    jf_error_clear(&ignored);
    return s->ops->writes_check(s, &ignored) == JF_OK;
}

jf_code jf_tx_batch(jf_store *s, size_t n, jf_batch_fn run, jf_batch_failed_fn failed, void *arg, bool *reran,
                    jf_error *err) {
    bool guarded = s->ops->write_mark == NULL;
    *reran = false;
    for (;;) {
        jf_error_clear(err);
        jf_code rc = batch_begin(s, guarded, err);
        if (rc != JF_OK) return rc;
        bool clean = true;
        rc = batch_pass(s, n, run, failed, arg, guarded, &clean, err);
        if (rc == JF_OK && clean) clean = batch_writes_ok(s, guarded);
        if (rc == JF_OK && !clean) {
            s->ops->rollback(s);
            guarded = true;
            *reran = true;
            continue;
        }
        if (rc == JF_OK) rc = ST(s, commit, err);
        if (rc != JF_OK) s->ops->rollback(s);
        return rc;
    }
}
