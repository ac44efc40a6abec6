/*
 * settle.c — bringing a member up to "now", and the jobs that do it for
 * every member that is due.
 *
 * Settling a member as of now does three things, in this order:
 *   1. release its holds whose time is up (a release entry each; the hold
 *      ends as "expired");
 *   2. activate its pending lots whose available_at has come (one activate
 *      entry; activated points pay off debt first);
 *   3. expire its active lots whose expires_at has come (one expire entry).
 * Step 3 comes last so that points a timed-out hold returns to an already
 * expired lot expire in the same pass.  Every write operation settles its
 * member first, so it never spends points that are already gone; the jobs
 * settle everyone else.  Settling is a function of the stored state and the
 * time only, so running it twice does nothing the second time — that is
 * what makes the jobs idempotent and resumable after a crash.
 */
#include <string.h>

#include "engine/internal.h"

static jf_code release_timed_out(jf_mop *op, jf_job_stats *stats, jf_error *err) {
    jf_hold page[JF_LOT_BATCH];
    for (;;) {
        size_t n = 0;
        TRY(ST(op->c->store, hold_list_open, op->m.id, op->c->now_ms, page, JF_LOT_BATCH, &n, err));
        for (size_t i = 0; i < n; i++) {
            int64_t held = page[i].points - page[i].captured;
            TRY(jf_mop_release_hold(op, &page[i], held, JF_HOLD_EXPIRED, "", "hold timed out", NULL, err));
            if (stats) {
                stats->holds_released++;
                stats->points_released += held;
            }
        }
        if (n < JF_LOT_BATCH) return JF_OK; /* released holds leave the list */
    }
}

static jf_code activate_due(jf_mop *op, jf_job_stats *stats, jf_error *err) {
    jf_store *s = op->c->store;
    jf_changes ch = {0};
    jf_lot page[JF_LOT_BATCH];
    int64_t activated = 0, paid = 0, lots = 0;
    int64_t debt_left = op->m.acct.debt;
    jf_code rc = JF_OK;
    for (;;) {
        size_t n = 0;
        rc = ST(s, lot_list_activatable, op->m.id, op->c->now_ms, page, JF_LOT_BATCH, &n, err);
        if (rc != JF_OK) break;
        for (size_t i = 0; i < n && rc == JF_OK; i++) {
            jf_lot *lot = &page[i];
            /* A lot already past its expiry (the jobs ran late) activates
             * and expires in the same pass; it pays no debt. */
            bool expired = lot->expires_at_ms <= op->c->now_ms;
            int64_t pay = expired ? 0 : debt_left < lot->remaining ? debt_left : lot->remaining;
            activated += lot->remaining;
            paid += pay;
            debt_left -= pay;
            lot->remaining -= pay;
            lot->state = JF_LOT_ACTIVE;
            lots++;
            rc = ST(s, lot_update, lot, err); /* leaves the activatable list */
            if (rc == JF_OK && pay > 0) rc = jf_changes_push(&ch, lot, -pay, err);
        }
        if (rc != JF_OK || n < JF_LOT_BATCH) break;
    }
    /* A pending lot emptied by a reversal becomes active with nothing: no
     * entry for zero points. */
    if (rc == JF_OK && activated > 0) {
        jf_entry e = {.kind = JF_ENTRY_ACTIVATE, .points = activated};
        e.delta.pending = -activated;
        e.delta.available = activated - paid;
        e.delta.debt = -paid;
        snprintf(e.scene, sizeof e.scene, "system");
        snprintf(e.reason, sizeof e.reason, "pending points became available");
        rc = jf_mop_append(op, &e, err);
        if (rc == JF_OK) rc = jf_changes_moves(s, &ch, e.id, err);
        if (stats) {
            stats->lots_activated += lots;
            stats->points_activated += activated;
        }
    }
    jf_changes_free(&ch);
    return rc;
}

jf_code jf_mop_expire_due(jf_mop *op, jf_job_stats *stats, jf_error *err) {
    jf_store *s = op->c->store;
    jf_changes ch = {0};
    jf_lot page[JF_LOT_BATCH];
    int64_t expired = 0;
    jf_code rc = JF_OK;
    for (;;) {
        size_t n = 0;
        rc = ST(s, lot_list_expirable, op->m.id, op->c->now_ms, page, JF_LOT_BATCH, &n, err);
        if (rc != JF_OK) break;
        for (size_t i = 0; i < n && rc == JF_OK; i++) {
            jf_lot *lot = &page[i];
            int64_t x = lot->remaining;
            expired += x;
            lot->remaining = 0;
            lot->state = JF_LOT_EXPIRED;
            rc = ST(s, lot_update, lot, err); /* leaves the expirable list */
            if (rc == JF_OK) rc = jf_changes_push(&ch, lot, -x, err);
        }
        if (rc != JF_OK || n < JF_LOT_BATCH) break;
    }
    if (rc == JF_OK && ch.n > 0) {
        jf_entry e = {.kind = JF_ENTRY_EXPIRE, .points = -expired};
        e.delta.available = -expired;
        e.delta.expired = expired;
        snprintf(e.scene, sizeof e.scene, "system");
        snprintf(e.reason, sizeof e.reason, "points expired");
        rc = jf_mop_append(op, &e, err);
        if (rc == JF_OK) rc = jf_changes_moves(s, &ch, e.id, err);
        if (stats) {
            stats->lots_expired += (int64_t)ch.n;
            stats->points_expired += expired;
        }
    }
    jf_changes_free(&ch);
    return rc;
}

jf_code jf_mop_settle(jf_mop *op, jf_job_stats *stats, jf_error *err) {
    if (op->settled) return JF_OK;
    TRY(release_timed_out(op, stats, err));
    TRY(activate_due(op, stats, err));
    TRY(jf_mop_expire_due(op, stats, err));
    op->settled = true;
    return JF_OK;
}

jf_code jf_settle_member(const jf_ctx *c, int64_t member_id, jf_job_stats *stats, jf_error *err) {
    jf_mop op;
    TRY(jf_mop_lock_id(&op, c, member_id, err));
    TRY(jf_mop_settle(&op, stats, err));
    if (stats && op.dirty) stats->members_settled++;
    return jf_mop_flush(&op, err);
}

/* One job transaction: settle up to JF_JOB_MEMBERS_PER_TX due members of a
 * tenant with ids above *after. */
typedef struct {
    const jf_tenant *tenant;
    int64_t now_ms;
    int64_t after;      /* input: start after this member id */
    int64_t next_after; /* output, published by the caller once committed */
    size_t settled;
    jf_job_stats stats;
} job_batch;

static jf_code job_batch_run(jf_store *s, void *arg, jf_error *err) {
    job_batch *b = arg;
    int64_t ids[JF_JOB_MEMBERS_PER_TX];
    size_t n = 0;
    memset(&b->stats, 0, sizeof b->stats); /* a retried transaction counts again from zero */
    TRY(ST(s, members_due, b->tenant->id, b->now_ms, b->after, ids, JF_JOB_MEMBERS_PER_TX, &n, err));
    jf_ctx c = {.store = s, .tenant = b->tenant, .now_ms = b->now_ms};
    for (size_t i = 0; i < n; i++) TRY(jf_settle_member(&c, ids[i], &b->stats, err));
    b->settled = n;
    b->next_after = n > 0 ? ids[n - 1] : b->after;
    return JF_OK;
}

static void stats_add(jf_job_stats *to, const jf_job_stats *from) {
    to->members_settled += from->members_settled;
    to->lots_activated += from->lots_activated;
    to->points_activated += from->points_activated;
    to->lots_expired += from->lots_expired;
    to->points_expired += from->points_expired;
    to->holds_released += from->holds_released;
    to->points_released += from->points_released;
}

typedef struct {
    int64_t now_ms;
    jf_job_stats total;
} jobs_run;

static jf_code jobs_for_tenant(jf_store *s, const jf_tenant *t, void *arg, jf_error *err) {
    jobs_run *run = arg;
    job_batch b = {.tenant = t, .now_ms = run->now_ms};
    do {
        TRY(jf_tx_run(s, job_batch_run, &b, err));
        stats_add(&run->total, &b.stats);
        b.after = b.next_after;
    } while (b.settled == JF_JOB_MEMBERS_PER_TX);
    return JF_OK;
}

jf_code jf_jobs_run(jf_store *s, int64_t now_ms, jf_job_stats *stats, jf_error *err) {
    jobs_run run = {.now_ms = now_ms};
    TRY(jf_tenants_each(s, jobs_for_tenant, &run, err));
    if (stats) *stats = run.total;
    return JF_OK;
}
