/*
 * reverse.c — taking back an earn, or giving back a spend or a capture.
 *
 * Reversing an EARN of x points (an order refunded):
 *   1. from the earn's own lot, what is left of it (pending or active);
 *   2. then what of its own lot has expired (not reversed yet): those points
 *      are already gone, so they move from `expired` back out of `earned`
 *      instead of being taken twice;
 *   3. then from the member's other spendable lots, first-expiring-first;
 *   4. what still is not covered is the shortfall: under the tenant's "debt"
 *      policy it becomes debt (paid off by the next points that arrive),
 *      under "clamp" it is forgiven.  The result reports both parts.
 *   The reverse entry's `points` is -x, the requested amount, so that the
 *   reversals of one earn always add up to at most the earn.
 * Reversing a SPEND or a CAPTURE of x points (a redemption cancelled):
 *   the points go back to exactly the lots they came from, latest-taken
 *   first; a lot that has expired meanwhile gets its points back and expires
 *   again at once (an expire entry follows), so nothing outlives its expiry.
 *   Returned points pay off debt first, like any points that arrive.
 * Reversals of one original add up and can never exceed it.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

/* How much of target has been reversed already (sum over its reverse
 * entries), and how much of that came out of `expired`. */
static jf_code reversed_so_far(jf_store *s, const jf_entry *target, int64_t *sum, int64_t *from_expired,
                               jf_error *err) {
    jf_entry *refs = NULL;
    size_t n = 0;
    TRY(jf_entries_by_ref(s, target->id, JF_ENTRY_REVERSE, &refs, &n, err));
    *sum = 0;
    *from_expired = 0;
    for (size_t i = 0; i < n; i++) {
        *sum += refs[i].points < 0 ? -refs[i].points : refs[i].points;
        *from_expired -= refs[i].delta.expired;
    }
    free(refs);
    return JF_OK;
}

static jf_code reverse_earn(jf_mop *op, const jf_entry *target, int64_t x, int64_t expired_done, jf_entry *e,
                            jf_result *out, jf_error *err) {
    jf_store *s = op->c->store;
    jf_changes ch = {0};
    jf_code rc = JF_OK;
    int64_t from_own = 0, from_pending = 0, from_expired = 0, from_others = 0;

    jf_lot own;
    rc = ST(s, lot_get, target->lot_id, &own, err);
    if (rc == JF_OK && own.state != JF_LOT_EXPIRED && own.remaining > 0) {
        int64_t take = own.remaining < x ? own.remaining : x;
        own.remaining -= take;
        rc = ST(s, lot_update, &own, err);
        if (rc == JF_OK) rc = jf_changes_push(&ch, &own, -take, err);
        if (own.state == JF_LOT_PENDING) from_pending = take;
        else from_own = take;
    }
    int64_t rest = x - from_own - from_pending;
    if (rc == JF_OK && rest > 0) {
        int64_t expired_moves = 0;
        rc = ST(s, move_sum_by_lot_kind, own.id, JF_ENTRY_EXPIRE, &expired_moves, err);
        int64_t left = -expired_moves - expired_done;
        from_expired = left < rest ? (left > 0 ? left : 0) : rest;
        rest -= from_expired;
    }
    if (rc == JF_OK && rest > 0) {
        /* The own lot was taken first, so what is left in available is
         * all in other lots. */
        int64_t avail = op->m.acct.available - from_own;
        from_others = avail < rest ? avail : rest;
        if (from_others > 0) rc = jf_mop_take_fifo(op, from_others, &ch, err);
    }
    int64_t shortfall = rest - from_others;
    bool debt = op->c->tenant->refund == JF_REFUND_DEBT;
    e->points = -x;
    e->delta.pending = -from_pending;
    e->delta.available = -(from_own + from_others);
    e->delta.expired = -from_expired;
    e->delta.debt = debt ? shortfall : 0;
    e->delta.earned = -(debt ? x : x - shortfall);
    if (rc == JF_OK) rc = jf_mop_append(op, e, err);
    if (rc == JF_OK) rc = jf_changes_moves(s, &ch, e->id, err);
    jf_changes_free(&ch);
    out->reversed_points = from_own + from_pending + from_expired + from_others;
    out->debt_points = debt ? shortfall : 0;
    out->clamped_points = debt ? 0 : shortfall;
    return rc;
}

/* The lots target took, net of what was already given back, in the order it
 * took them: ch[i].points > 0 is what may still be restored to ch[i].lot. */
static jf_code restorable_lots(jf_store *s, const jf_entry *target, jf_changes *ch, jf_error *err) {
    int64_t taking_entry = target->kind == JF_ENTRY_CAPTURE ? target->ref_entry_id : target->id;
    jf_lot_move *mv = NULL;
    size_t n = 0;
    TRY(jf_moves_of_entry(s, taking_entry, &mv, &n, err));
    jf_code rc = JF_OK;
    for (size_t i = 0; i < n && rc == JF_OK; i++) {
        jf_lot lot = {.id = mv[i].lot_id};
        rc = jf_changes_push(ch, &lot, -mv[i].points, err);
    }
    free(mv);
    TRY(rc);

    /* Subtract what went back: a capture's released remainder, and every
     * earlier reversal of target. */
    jf_entry *refs = NULL;
    size_t nr = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0 && target->kind != JF_ENTRY_CAPTURE) continue;
        int64_t ref = pass == 0 ? target->ref_entry_id : target->id;
        int kind = pass == 0 ? JF_ENTRY_RELEASE : JF_ENTRY_REVERSE;
        TRY(jf_entries_by_ref(s, ref, kind, &refs, &nr, err));
        for (size_t r = 0; r < nr && rc == JF_OK; r++) {
            rc = jf_moves_of_entry(s, refs[r].id, &mv, &n, err);
            for (size_t i = 0; i < n && rc == JF_OK; i++)
                for (size_t k = 0; k < ch->n && mv[i].points > 0; k++) /* returns, not debt paydowns */
                    if (ch->v[k].lot.id == mv[i].lot_id) {
                        int64_t back = mv[i].points < ch->v[k].points ? mv[i].points : ch->v[k].points;
                        ch->v[k].points -= back;
                        mv[i].points -= back;
                    }
            free(mv);
            mv = NULL;
        }
        free(refs);
        refs = NULL;
        TRY(rc);
    }
    return JF_OK;
}

static jf_code reverse_spend(jf_mop *op, const jf_entry *target, int64_t x, jf_entry *e, jf_result *out,
                             jf_error *err) {
    jf_store *s = op->c->store;
    jf_changes can = {0}, done = {0};
    jf_code rc = restorable_lots(s, target, &can, err);
    int64_t need = x;
    for (size_t i = can.n; i-- > 0 && need > 0 && rc == JF_OK;) {
        int64_t give = can.v[i].points < need ? can.v[i].points : need;
        if (give <= 0) continue;
        jf_lot lot;
        rc = ST(s, lot_get, can.v[i].lot.id, &lot, err);
        if (rc != JF_OK) break;
        lot.remaining += give;
        if (lot.state == JF_LOT_EXPIRED) lot.state = JF_LOT_ACTIVE; /* expires again below */
        rc = ST(s, lot_update, &lot, err);
        if (rc == JF_OK) rc = jf_changes_push(&done, &lot, give, err);
        need -= give;
    }
    if (rc == JF_OK && need != 0)
        rc = jf_fail(err, JF_INTERNAL, "", "entry %lld: its lot moves cover less than it took", (long long)target->id);
    int64_t paid = 0;
    if (rc == JF_OK) rc = jf_mop_pay_debt(op, &done, &paid, err);
    e->points = x;
    e->delta.available = x - paid;
    e->delta.debt = -paid;
    e->delta.spent = -x;
    if (rc == JF_OK) rc = jf_mop_append(op, e, err);
    if (rc == JF_OK) rc = jf_changes_moves(s, &done, e->id, err);
    jf_changes_free(&can);
    jf_changes_free(&done);
    TRY(rc);
    out->reversed_points = x;
    return jf_mop_expire_due(op, NULL, err);
}

jf_code jf_reverse(const jf_ctx *c, const jf_reverse_req *r, jf_result *out, jf_error *err) {
    memset(out, 0, sizeof *out);
    out->op = JF_OP_REVERSE;
    TRY(jf_check_member_id(r->member_id, "member_id", err));
    TRY(jf_check_biz_no(r->target_biz_no, "target_biz_no", err));
    if (r->points != 0) TRY(jf_check_points(r->points, "points", err));
    TRY(jf_check_biz_no(r->biz_no, "biz_no", err));
    TRY(jf_check_text(r->reason, "reason", JF_REASON_BYTES_MAX, false, err));
    if (strcmp(r->biz_no, r->target_biz_no) == 0)
        return jf_fail(err, JF_INVALID_FIELD, "biz_no", "must differ from target_biz_no");

    jf_canon k;
    jf_canon_init(&k, "jifen/request/1");
    jf_canon_int(&k, JF_OP_REVERSE);
    jf_canon_str(&k, r->member_id);
    jf_canon_str(&k, r->target_biz_no);
    jf_canon_int(&k, r->points);
    jf_canon_str(&k, r->reason);
    uint8_t fp[JF_HASH_BYTES];
    jf_canon_sha256(&k, fp);

    jf_store *s = c->store;
    jf_mop op;
    bool replayed = false;
    TRY(jf_mop_lock_ext(&op, c, r->member_id, false, err));
    TRY(jf_idem_lookup(c, r->biz_no, JF_OP_REVERSE, fp, out, &replayed, err));
    if (replayed) return JF_OK;

    jf_idem orig;
    jf_code rc = ST(s, idem_get, c->tenant->id, r->target_biz_no, &orig, err);
    if (rc == JF_NOT_FOUND || (rc == JF_OK && orig.member_id != op.m.id))
        return jf_fail(err, JF_NOT_FOUND, "target_biz_no", "no operation %s for member %s", r->target_biz_no,
                       r->member_id);
    TRY(rc);
    if (orig.op != JF_OP_EARN && orig.op != JF_OP_SPEND && orig.op != JF_OP_CAPTURE)
        return jf_fail(err, JF_NOT_REVERSIBLE, "target_biz_no",
                       "only an earn, a spend or a capture can be reversed; correct other operations with an "
                       "adjustment");
    jf_entry target;
    TRY(ST(s, entry_get, orig.entry_id, &target, err));
    TRY(jf_mop_reverse(&op, &target, r->points, r->biz_no, r->reason, r->target_biz_no, out, err));
    TRY(jf_mop_flush(&op, err));
    out->member = op.m;
    return jf_idem_record(c, r->biz_no, fp, out, err);
}

jf_code jf_mop_reverse(jf_mop *op, const jf_entry *target, int64_t points, const char *biz_no, const char *reason,
                       const char *target_name, jf_result *out, jf_error *err) {
    int64_t original = target->points < 0 ? -target->points : target->points;
    int64_t done = 0, expired_done = 0;
    TRY(reversed_so_far(op->c->store, target, &done, &expired_done, err));
    int64_t left = original - done;
    int64_t x = points ? points : left;
    if (left == 0)
        return jf_fail(err, JF_REVERSAL_EXCEEDED, "target_biz_no", "%s is already fully reversed", target_name);
    if (x > left)
        return jf_fail(err, JF_REVERSAL_EXCEEDED, "points", "only %lld of %s's %lld points are left to reverse",
                       (long long)left, target_name, (long long)original);

    TRY(jf_mop_settle(op, NULL, err));
    jf_entry e = {.kind = JF_ENTRY_REVERSE, .ref_entry_id = target->id};
    snprintf(e.scene, sizeof e.scene, "%s", target->scene);
    snprintf(e.biz_no, sizeof e.biz_no, "%s", biz_no);
    snprintf(e.reason, sizeof e.reason, "%s", reason ? reason : "");
    if (target->kind == JF_ENTRY_EARN) TRY(reverse_earn(op, target, x, expired_done, &e, out, err));
    else TRY(reverse_spend(op, target, x, &e, out, err));
    out->entry = e;
    return JF_OK;
}
