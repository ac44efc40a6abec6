/*
 * txn.c — the one transaction runner.
 *
 * Every write outside the HTTP committer goes through here: begin, run,
 * commit; roll back on failure; on JF_RETRY (a serialization failure, a lock
 * time-out, a unique key taken by a concurrent writer) start again, a bounded
 * number of times with a short growing pause.
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
