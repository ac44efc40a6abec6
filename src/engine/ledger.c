/*
 * ledger.c — the write operations of the points ledger: earn, spend, hold,
 * capture, release, adjust (reversals are in reverse.c, settling and jobs in
 * settle.c).
 *
 * Every operation follows the same steps (see ledger.h): validate, lock the
 * member, check idempotency, settle, change, record.  The member row is
 * locked for the whole operation and written once at the end (jf_mop_flush).
 *
 * Lots change in place (remaining, state) and every change is also written
 * as a lot move tied to the entry that caused it, so that
 *   lot.remaining == lot.amount + sum(moves of the lot)
 * holds at all times and a refund can restore exactly what was taken.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/expiry.h"
#include "engine/internal.h"

/* ---- account arithmetic ---- */

#define ACCOUNT_FIELDS(X) X(available) X(frozen) X(pending) X(debt) X(earned) X(spent) X(expired)

jf_code jf_account_apply(jf_account *acct, const jf_account *delta, jf_error *err) {
    jf_account next = *acct;
#define APPLY(f)                                                                                         \
    if (__builtin_add_overflow(next.f, delta->f, &next.f) || next.f < 0 || next.f > JF_QUANTITY_MAX) {   \
        if (next.f < 0 && delta->f < 0)                                                                  \
            return jf_fail(err, JF_INTERNAL, "", "account field " #f " would go below zero");            \
        return jf_fail(err, JF_LIMIT_EXCEEDED, "points", "the member's " #f " would exceed %lld",        \
                       (long long)JF_QUANTITY_MAX);                                                      \
    }
    ACCOUNT_FIELDS(APPLY)
#undef APPLY
    *acct = next;
    return JF_OK;
}

/* ---- lot changes ---- */

jf_code jf_changes_push(jf_changes *c, const jf_lot *lot, int64_t points, jf_error *err) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        jf_lot_change *v = realloc(c->v, cap * sizeof *v);
        if (v == NULL) return jf_fail(err, JF_INTERNAL, "", "out of memory");
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n].lot = *lot;
    c->v[c->n].points = points;
    c->n++;
    return JF_OK;
}

void jf_changes_free(jf_changes *c) {
    free(c->v);
    memset(c, 0, sizeof *c);
}

jf_code jf_changes_moves(jf_store *s, const jf_changes *ch, int64_t entry_id, jf_error *err) {
    for (size_t i = 0; i < ch->n; i++) {
        if (ch->v[i].points == 0) continue;
        jf_lot_move mv = {.entry_id = entry_id, .lot_id = ch->v[i].lot.id, .points = ch->v[i].points};
        TRY(ST(s, move_insert, &mv, err));
    }
    return JF_OK;
}

jf_code jf_mop_pay_debt(jf_mop *op, jf_changes *ch, int64_t *paid, jf_error *err) {
    int64_t debt = op->m.acct.debt;
    size_t returned = ch->n;
    *paid = 0;
    for (size_t i = 0; i < returned && debt > 0; i++) {
        jf_lot lot = ch->v[i].lot; /* a copy: the push below may move ch->v */
        int64_t back = ch->v[i].points;
        if (back <= 0 || lot.expires_at_ms <= op->c->now_ms) continue;
        int64_t pay = back < debt ? back : debt;
        lot.remaining -= pay;
        TRY(ST(op->c->store, lot_update, &lot, err));
        TRY(jf_changes_push(ch, &lot, -pay, err));
        debt -= pay;
        *paid += pay;
    }
    return JF_OK;
}

/* ---- the member inside an operation ---- */

jf_code jf_mop_lock_id(jf_mop *op, const jf_ctx *c, int64_t member_id, jf_error *err) {
    memset(op, 0, sizeof *op);
    op->c = c;
    jf_code rc = ST(c->store, member_get_by_id, member_id, true, &op->m, err);
    if (rc == JF_NOT_FOUND) return jf_fail(err, JF_NOT_FOUND, "member_id", "member not found");
    if (rc == JF_OK && op->m.tenant_id != c->tenant->id)
        return jf_fail(err, JF_NOT_FOUND, "member_id", "member not found");
    return rc;
}

jf_code jf_mop_lock_ext(jf_mop *op, const jf_ctx *c, const char *ext_id, bool create, jf_error *err) {
    memset(op, 0, sizeof *op);
    op->c = c;
    jf_code rc = ST(c->store, member_get, c->tenant->id, ext_id, true, &op->m, err);
    if (rc != JF_NOT_FOUND) return rc;
    if (!create) return jf_fail(err, JF_NOT_FOUND, "member_id", "member %s does not exist", ext_id);
    memset(&op->m, 0, sizeof op->m);
    op->m.tenant_id = c->tenant->id;
    snprintf(op->m.ext_id, sizeof op->m.ext_id, "%s", ext_id);
    op->m.status = JF_MEMBER_ACTIVE;
    op->m.created_at_ms = c->now_ms;
    op->m.updated_at_ms = c->now_ms;
    rc = ST(c->store, member_insert, &op->m, err);
    /* Another server created it between our get and insert: run again. */
    if (rc == JF_ALREADY_EXISTS) return jf_fail(err, JF_RETRY, "", "member created concurrently");
    return rc;
}

jf_code jf_mop_append(jf_mop *op, jf_entry *e, jf_error *err) {
    jf_member *m = &op->m;
    e->tenant_id = m->tenant_id;
    e->member_id = m->id;
    e->seq = m->entry_seq + 1;
    e->created_at_ms = op->c->now_ms;
    TRY(jf_account_apply(&m->acct, &e->delta, err));
    e->available_after = m->acct.available;
    memcpy(e->prev_hash, m->last_hash, JF_HASH_BYTES);
    jf_entry_hash(e, m->ext_id, e->hash);
    TRY(ST(op->c->store, entry_insert, e, err));
    m->entry_seq = e->seq;
    memcpy(m->last_hash, e->hash, JF_HASH_BYTES);
    m->updated_at_ms = op->c->now_ms;
    op->dirty = true;
    return JF_OK;
}

jf_code jf_mop_flush(jf_mop *op, jf_error *err) {
    if (!op->dirty) return JF_OK;
    TRY(ST(op->c->store, member_update, &op->m, err));
    op->dirty = false;
    return JF_OK;
}

jf_code jf_mop_take_fifo(jf_mop *op, int64_t points, jf_changes *ch, jf_error *err) {
    jf_store *s = op->c->store;
    int64_t need = points;
    int64_t after_exp = INT64_MIN, after_id = 0;
    jf_lot page[JF_LOT_BATCH];
    /* Most spends take one or two lots: read a few first, then pages that
     * double up to JF_LOT_BATCH.  (Reading a whole batch of 64 rows for a
     * spend of one lot was half of a spend's work.) */
    size_t want = JF_LOT_FIRST_PAGE;
    while (need > 0) {
        size_t n = 0;
        TRY(ST(s, lot_list_spendable, op->m.id, after_exp, after_id, page, want, &n, err));
        want = want * 2 < JF_LOT_BATCH ? want * 2 : JF_LOT_BATCH;
        if (n == 0)
            return jf_fail(err, JF_INTERNAL, "", "member %s: lots hold less than the available balance",
                           op->m.ext_id);
        for (size_t i = 0; i < n && need > 0; i++) {
            jf_lot *lot = &page[i];
            int64_t take = lot->remaining < need ? lot->remaining : need;
            lot->remaining -= take;
            need -= take;
            TRY(ST(s, lot_update, lot, err));
            TRY(jf_changes_push(ch, lot, -take, err));
            after_exp = lot->expires_at_ms;
            after_id = lot->id;
        }
    }
    return JF_OK;
}

/* Common front of a member operation: lock, replay check.  On replay the
 * caller returns at once with the original result. */
static jf_code begin_member_op(jf_mop *op, const jf_ctx *c, const char *member_id, bool create,
                               const char *biz_no, jf_op_kind kind, const uint8_t fp[JF_HASH_BYTES],
                               jf_result *out, bool *replayed, jf_error *err) {
    if (c->store->ops->idem_prefetch) c->store->ops->idem_prefetch(c->store, c->tenant->id, biz_no);
    TRY(jf_mop_lock_ext(op, c, member_id, create, err));
    TRY(jf_idem_lookup(c, biz_no, kind, fp, out, replayed, err));
    return JF_OK;
}

/* Common end: write the member, record the result for replays. */
static jf_code end_member_op(jf_mop *op, const char *biz_no, const uint8_t fp[JF_HASH_BYTES], jf_result *out,
                             jf_error *err) {
    TRY(jf_mop_flush(op, err));
    out->member = op->m;
    return jf_idem_record(op->c, biz_no, fp, out, err);
}

jf_code jf_mop_refuse_frozen(const jf_mop *op, jf_error *err) {
    if (op->m.status == JF_MEMBER_FROZEN)
        return jf_fail(err, JF_FROZEN, "member_id", "member %s is frozen", op->m.ext_id);
    return JF_OK;
}

static jf_code refuse_short(const jf_mop *op, int64_t points, jf_error *err) {
    if (op->m.acct.available < points)
        return jf_fail(err, JF_INSUFFICIENT_POINTS, "points", "member %s has %lld available, %lld requested",
                       op->m.ext_id, (long long)op->m.acct.available, (long long)points);
    return JF_OK;
}

/* New points: a lot, and an entry of `kind` (earn or adjust).  Active points
 * pay off debt first; pending points do so when they activate. */
static jf_code credit_new_lot(jf_mop *op, jf_entry *e, int64_t points, int64_t available_at_ms,
                              int64_t expires_at_ms, jf_error *err) {
    jf_store *s = op->c->store;
    int64_t now = op->c->now_ms;
    bool pending = available_at_ms > now;
    int64_t pay = 0;
    if (!pending) pay = op->m.acct.debt < points ? op->m.acct.debt : points;
    jf_lot lot = {
        .tenant_id = op->m.tenant_id,
        .member_id = op->m.id,
        .amount = points,
        .remaining = points - pay,
        .state = pending ? JF_LOT_PENDING : JF_LOT_ACTIVE,
        .available_at_ms = pending ? available_at_ms : now,
        .expires_at_ms = expires_at_ms,
        .created_at_ms = now,
    };
    TRY(ST(s, lot_insert, &lot, err));
    e->points = points;
    e->lot_id = lot.id;
    e->delta.earned = points;
    if (pending) {
        e->delta.pending = points;
    } else {
        e->delta.available = points - pay;
        e->delta.debt = -pay;
    }
    TRY(jf_mop_append(op, e, err));
    TRY(ST(s, lot_link_entry, lot.id, e->id, err));
    if (pay > 0) {
        jf_lot_move mv = {.entry_id = e->id, .lot_id = lot.id, .points = -pay};
        TRY(ST(s, move_insert, &mv, err));
    }
    return JF_OK;
}

jf_code jf_mop_earn(jf_mop *op, jf_entry *e, int64_t points, int64_t available_at_ms, int64_t expires_at_ms,
                    jf_error *err) {
    const jf_ctx *c = op->c;
    int64_t available_at = available_at_ms > c->now_ms ? available_at_ms : c->now_ms;
    int64_t expires_at = expires_at_ms;
    if (expires_at == 0)
        TRY(jf_expiry_compute(&c->tenant->expiry, c->tenant->timezone, c->now_ms, &expires_at, err));
    if (expires_at <= available_at)
        return jf_fail(err, JF_INVALID_FIELD, "expires_at",
                       "must be later than now and than available_at (the points would expire before use)");
    e->kind = JF_ENTRY_EARN;
    return credit_new_lot(op, e, points, available_at, expires_at, err);
}

/* Points leave the account through lots (spend, negative adjust). */
static jf_code debit_fifo(jf_mop *op, jf_entry *e, int64_t points, jf_error *err) {
    jf_changes ch = {0};
    jf_code rc = jf_mop_take_fifo(op, points, &ch, err);
    if (rc == JF_OK) {
        e->points = -points;
        e->delta.available = -points;
        e->delta.spent = points;
        rc = jf_mop_append(op, e, err);
    }
    if (rc == JF_OK) rc = jf_changes_moves(op->c->store, &ch, e->id, err);
    jf_changes_free(&ch);
    return rc;
}

/* Callers have validated src against the field's limit; a longer one is cut. */

/* ---- fingerprints ---- */

static void fp_common(jf_canon *k, jf_op_kind kind, const char *member_id, int64_t points, const char *scene,
                      const char *reason) {
    jf_canon_init(k, "jifen/request/1");
    jf_canon_int(k, kind);
    jf_canon_str(k, member_id);
    jf_canon_int(k, points);
    jf_canon_str(k, scene);
    jf_canon_str(k, reason);
}

/* ---- earn ---- */

jf_code jf_earn(const jf_ctx *c, const jf_earn_req *r, jf_result *out, jf_error *err) {
    memset(out, 0, sizeof *out);
    out->op = JF_OP_EARN;
    const char *scene = r->scene ? r->scene : "order";
    TRY(jf_check_member_id(r->member_id, "member_id", err));
    TRY(jf_check_points(r->points, "points", err));
    TRY(jf_check_biz_no(r->biz_no, "biz_no", err));
    TRY(jf_check_scene(scene, err));
    TRY(jf_check_text(r->reason, "reason", JF_REASON_BYTES_MAX, false, err));
    TRY(jf_check_text(r->operator_id, "operator", JF_OPERATOR_LEN_MAX, false, err));
    if (r->available_at_ms != 0) TRY(jf_check_time(r->available_at_ms, "available_at", err));
    if (r->expires_at_ms != 0 && r->expires_at_ms != JF_NEVER) TRY(jf_check_time(r->expires_at_ms, "expires_at", err));

    jf_canon k;
    fp_common(&k, JF_OP_EARN, r->member_id, r->points, scene, r->reason);
    jf_canon_str(&k, r->operator_id);
    jf_canon_int(&k, r->expires_at_ms);
    jf_canon_int(&k, r->available_at_ms);
    uint8_t fp[JF_HASH_BYTES];
    jf_canon_sha256(&k, fp);

    jf_mop op;
    bool replayed = false;
    TRY(begin_member_op(&op, c, r->member_id, true, r->biz_no, JF_OP_EARN, fp, out, &replayed, err));
    if (replayed) return JF_OK;
    TRY(jf_mop_refuse_frozen(&op, err));
    TRY(jf_mop_settle(&op, NULL, err));

    jf_entry e = {.kind = JF_ENTRY_EARN};
    JF_COPY(e.scene, scene);
    JF_COPY(e.biz_no, r->biz_no);
    JF_COPY(e.reason, r->reason);
    JF_COPY(e.operator_id, r->operator_id);
    TRY(jf_mop_earn(&op, &e, r->points, r->available_at_ms, r->expires_at_ms, err));
    out->entry = e;
    return end_member_op(&op, r->biz_no, fp, out, err);
}

/* ---- spend ---- */

jf_code jf_spend(const jf_ctx *c, const jf_spend_req *r, jf_result *out, jf_error *err) {
    memset(out, 0, sizeof *out);
    out->op = JF_OP_SPEND;
    const char *scene = r->scene ? r->scene : "redeem";
    TRY(jf_check_member_id(r->member_id, "member_id", err));
    TRY(jf_check_points(r->points, "points", err));
    TRY(jf_check_biz_no(r->biz_no, "biz_no", err));
    TRY(jf_check_scene(scene, err));
    TRY(jf_check_text(r->reason, "reason", JF_REASON_BYTES_MAX, false, err));

    jf_canon k;
    fp_common(&k, JF_OP_SPEND, r->member_id, r->points, scene, r->reason);
    uint8_t fp[JF_HASH_BYTES];
    jf_canon_sha256(&k, fp);

    jf_mop op;
    bool replayed = false;
    TRY(begin_member_op(&op, c, r->member_id, false, r->biz_no, JF_OP_SPEND, fp, out, &replayed, err));
    if (replayed) return JF_OK;
    TRY(jf_mop_refuse_frozen(&op, err));
    TRY(jf_mop_settle(&op, NULL, err));
    TRY(refuse_short(&op, r->points, err));

    jf_entry e = {.kind = JF_ENTRY_SPEND};
    JF_COPY(e.scene, scene);
    JF_COPY(e.biz_no, r->biz_no);
    JF_COPY(e.reason, r->reason);
    TRY(debit_fifo(&op, &e, r->points, err));
    out->entry = e;
    return end_member_op(&op, r->biz_no, fp, out, err);
}

/* ---- adjust ---- */

jf_code jf_adjust(const jf_ctx *c, const jf_adjust_req *r, jf_result *out, jf_error *err) {
    memset(out, 0, sizeof *out);
    out->op = JF_OP_ADJUST;
    TRY(jf_check_member_id(r->member_id, "member_id", err));
    if (r->points == 0 || r->points < -JF_POINTS_MAX || r->points > JF_POINTS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "points", "must be a non-zero whole number from -%lld to %lld",
                       (long long)JF_POINTS_MAX, (long long)JF_POINTS_MAX);
    TRY(jf_check_biz_no(r->biz_no, "biz_no", err));
    TRY(jf_check_text(r->reason, "reason", JF_REASON_BYTES_MAX, true, err));
    TRY(jf_check_text(r->operator_id, "operator", JF_OPERATOR_LEN_MAX, true, err));

    jf_canon k;
    fp_common(&k, JF_OP_ADJUST, r->member_id, r->points, "admin", r->reason);
    jf_canon_str(&k, r->operator_id);
    uint8_t fp[JF_HASH_BYTES];
    jf_canon_sha256(&k, fp);

    jf_mop op;
    bool replayed = false;
    TRY(begin_member_op(&op, c, r->member_id, r->points > 0, r->biz_no, JF_OP_ADJUST, fp, out, &replayed, err));
    if (replayed) return JF_OK;
    TRY(jf_mop_settle(&op, NULL, err));

    jf_entry e = {.kind = JF_ENTRY_ADJUST};
    JF_COPY(e.scene, "admin");
    JF_COPY(e.biz_no, r->biz_no);
    JF_COPY(e.reason, r->reason);
    JF_COPY(e.operator_id, r->operator_id);
    if (r->points > 0) {
        int64_t expires_at;
        TRY(jf_expiry_compute(&c->tenant->expiry, c->tenant->timezone, c->now_ms, &expires_at, err));
        TRY(credit_new_lot(&op, &e, r->points, c->now_ms, expires_at, err));
    } else {
        TRY(refuse_short(&op, -r->points, err));
        TRY(debit_fifo(&op, &e, -r->points, err));
    }
    out->entry = e;
    return end_member_op(&op, r->biz_no, fp, out, err);
}

/* ---- holds ---- */

jf_code jf_hold_create(const jf_ctx *c, const jf_hold_req *r, jf_result *out, jf_error *err) {
    memset(out, 0, sizeof *out);
    out->op = JF_OP_HOLD;
    const char *scene = r->scene ? r->scene : "checkout";
    TRY(jf_check_member_id(r->member_id, "member_id", err));
    TRY(jf_check_points(r->points, "points", err));
    TRY(jf_check_biz_no(r->biz_no, "biz_no", err));
    TRY(jf_check_scene(scene, err));
    TRY(jf_check_text(r->reason, "reason", JF_REASON_BYTES_MAX, false, err));
    if (r->ttl_s < JF_HOLD_TTL_S_MIN || r->ttl_s > JF_HOLD_TTL_S_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "ttl_s", "must be %lld..%lld seconds (30 days)",
                       (long long)JF_HOLD_TTL_S_MIN, (long long)JF_HOLD_TTL_S_MAX);

    jf_canon k;
    fp_common(&k, JF_OP_HOLD, r->member_id, r->points, scene, r->reason);
    jf_canon_int(&k, r->ttl_s);
    uint8_t fp[JF_HASH_BYTES];
    jf_canon_sha256(&k, fp);

    jf_mop op;
    bool replayed = false;
    TRY(begin_member_op(&op, c, r->member_id, false, r->biz_no, JF_OP_HOLD, fp, out, &replayed, err));
    if (replayed) return JF_OK;
    TRY(jf_mop_refuse_frozen(&op, err));
    TRY(jf_mop_settle(&op, NULL, err));
    TRY(refuse_short(&op, r->points, err));

    jf_store *s = c->store;
    jf_hold h = {
        .tenant_id = c->tenant->id,
        .member_id = op.m.id,
        .points = r->points,
        .state = JF_HOLD_OPEN,
        .expires_at_ms = c->now_ms + r->ttl_s * 1000,
        .created_at_ms = c->now_ms,
    };
    JF_COPY(h.biz_no, r->biz_no);
    TRY(ST(s, hold_insert, &h, err));

    jf_changes ch = {0};
    jf_entry e = {.kind = JF_ENTRY_HOLD, .points = -r->points, .hold_id = h.id};
    e.delta.available = -r->points;
    e.delta.frozen = r->points;
    JF_COPY(e.scene, scene);
    JF_COPY(e.biz_no, r->biz_no);
    JF_COPY(e.reason, r->reason);
    jf_code rc = jf_mop_take_fifo(&op, r->points, &ch, err);
    if (rc == JF_OK) rc = jf_mop_append(&op, &e, err);
    if (rc == JF_OK) rc = jf_changes_moves(s, &ch, e.id, err);
    jf_changes_free(&ch);
    TRY(rc);
    h.entry_id = e.id;
    TRY(ST(s, hold_update, &h, err));
    out->entry = e;
    out->has_hold = true;
    out->hold = h;
    return end_member_op(&op, r->biz_no, fp, out, err);
}

jf_code jf_mop_release_hold(jf_mop *op, jf_hold *h, int64_t points, jf_hold_state final_state, const char *biz_no,
                            const char *reason, jf_entry *out, jf_error *err) {
    jf_store *s = op->c->store;
    jf_lot_move *moves = NULL;
    size_t n = 0;
    TRY(jf_moves_of_entry(s, h->entry_id, &moves, &n, err));
    /* Give back the latest-taken lots first, so that what a partial capture
     * keeps is the first-expiring part of the hold. */
    jf_changes ch = {0};
    jf_code rc = JF_OK;
    int64_t need = points;
    for (size_t i = n; i-- > 0 && need > 0 && rc == JF_OK;) {
        int64_t taken = -moves[i].points;
        int64_t give = taken < need ? taken : need;
        jf_lot lot;
        rc = ST(s, lot_get, moves[i].lot_id, &lot, err);
        if (rc != JF_OK) break;
        lot.remaining += give;
        if (lot.state == JF_LOT_EXPIRED) lot.state = JF_LOT_ACTIVE; /* expired again by the caller's settle */
        rc = ST(s, lot_update, &lot, err);
        if (rc == JF_OK) rc = jf_changes_push(&ch, &lot, give, err);
        need -= give;
    }
    free(moves);
    if (rc == JF_OK && need != 0)
        rc = jf_fail(err, JF_INTERNAL, "", "hold %lld: its lot moves cover less than its points", (long long)h->id);
    int64_t paid = 0;
    if (rc == JF_OK) rc = jf_mop_pay_debt(op, &ch, &paid, err);
    jf_entry e = {.kind = JF_ENTRY_RELEASE, .points = points, .ref_entry_id = h->entry_id, .hold_id = h->id};
    e.delta.frozen = -points;
    e.delta.available = points - paid;
    e.delta.debt = -paid;
    JF_COPY(e.scene, "checkout");
    JF_COPY(e.biz_no, biz_no);
    JF_COPY(e.reason, reason);
    if (rc == JF_OK) rc = jf_mop_append(op, &e, err);
    if (rc == JF_OK) rc = jf_changes_moves(s, &ch, e.id, err);
    jf_changes_free(&ch);
    TRY(rc);
    h->state = final_state;
    h->closed_at_ms = op->c->now_ms;
    TRY(ST(s, hold_update, h, err));
    if (out) *out = e;
    return JF_OK;
}

/* Find the hold, lock its member, check replay, settle, and require it open. */
static jf_code begin_hold_op(jf_mop *op, const jf_ctx *c, int64_t hold_id, const char *biz_no, jf_op_kind kind,
                             const uint8_t fp[JF_HASH_BYTES], jf_hold *h, jf_result *out, bool *replayed,
                             jf_error *err) {
    jf_store *s = c->store;
    jf_code rc = ST(s, hold_get, hold_id, h, err);
    if (rc == JF_NOT_FOUND || (rc == JF_OK && h->tenant_id != c->tenant->id))
        return jf_fail(err, JF_NOT_FOUND, "hold_id", "hold %lld not found", (long long)hold_id);
    TRY(rc);
    TRY(jf_mop_lock_id(op, c, h->member_id, err));
    TRY(jf_idem_lookup(c, biz_no, kind, fp, out, replayed, err));
    if (*replayed) return JF_OK;
    TRY(jf_mop_settle(op, NULL, err)); /* may release it if its time is up */
    TRY(ST(s, hold_get, hold_id, h, err));
    if (h->state != JF_HOLD_OPEN)
        return jf_fail(err, JF_HOLD_NOT_OPEN, "hold_id", "hold %lld is %s", (long long)hold_id,
                       jf_hold_state_name(h->state));
    return JF_OK;
}

static void fp_hold(uint8_t fp[JF_HASH_BYTES], jf_op_kind kind, int64_t hold_id, int64_t points) {
    jf_canon k;
    jf_canon_init(&k, "jifen/request/1");
    jf_canon_int(&k, kind);
    jf_canon_int(&k, hold_id);
    jf_canon_int(&k, points);
    jf_canon_sha256(&k, fp);
}

jf_code jf_capture(const jf_ctx *c, const jf_capture_req *r, jf_result *out, jf_error *err) {
    memset(out, 0, sizeof *out);
    out->op = JF_OP_CAPTURE;
    if (r->hold_id <= 0) return jf_fail(err, JF_INVALID_FIELD, "hold_id", "must be a hold id");
    if (r->points != 0) TRY(jf_check_points(r->points, "points", err));
    TRY(jf_check_biz_no(r->biz_no, "biz_no", err));
    uint8_t fp[JF_HASH_BYTES];
    fp_hold(fp, JF_OP_CAPTURE, r->hold_id, r->points);

    jf_mop op;
    jf_hold h;
    bool replayed = false;
    TRY(begin_hold_op(&op, c, r->hold_id, r->biz_no, JF_OP_CAPTURE, fp, &h, out, &replayed, err));
    if (replayed) return JF_OK;
    int64_t held = h.points - h.captured;
    int64_t capture = r->points ? r->points : held;
    if (capture > held)
        return jf_fail(err, JF_INVALID_FIELD, "points", "hold %lld holds %lld points; cannot capture %lld",
                       (long long)h.id, (long long)held, (long long)capture);

    jf_entry e = {.kind = JF_ENTRY_CAPTURE, .points = -capture, .ref_entry_id = h.entry_id, .hold_id = h.id};
    e.delta.frozen = -capture;
    e.delta.spent = capture;
    JF_COPY(e.scene, "checkout");
    JF_COPY(e.biz_no, r->biz_no);
    TRY(jf_mop_append(&op, &e, err));
    h.captured += capture;
    h.state = JF_HOLD_CAPTURED;
    h.closed_at_ms = c->now_ms;
    TRY(ST(c->store, hold_update, &h, err));
    if (capture < held) {
        TRY(jf_mop_release_hold(&op, &h, held - capture, JF_HOLD_CAPTURED, r->biz_no, "capture remainder",
                                &out->extra, err));
        out->has_extra = true;
        TRY(jf_mop_expire_due(&op, NULL, err));
    }
    out->entry = e;
    out->has_hold = true;
    out->hold = h;
    return end_member_op(&op, r->biz_no, fp, out, err);
}

jf_code jf_release(const jf_ctx *c, const jf_release_req *r, jf_result *out, jf_error *err) {
    memset(out, 0, sizeof *out);
    out->op = JF_OP_RELEASE;
    if (r->hold_id <= 0) return jf_fail(err, JF_INVALID_FIELD, "hold_id", "must be a hold id");
    TRY(jf_check_biz_no(r->biz_no, "biz_no", err));
    uint8_t fp[JF_HASH_BYTES];
    fp_hold(fp, JF_OP_RELEASE, r->hold_id, 0);

    jf_mop op;
    jf_hold h;
    bool replayed = false;
    TRY(begin_hold_op(&op, c, r->hold_id, r->biz_no, JF_OP_RELEASE, fp, &h, out, &replayed, err));
    if (replayed) return JF_OK;
    TRY(jf_mop_release_hold(&op, &h, h.points - h.captured, JF_HOLD_RELEASED, r->biz_no, "", &out->entry, err));
    TRY(jf_mop_expire_due(&op, NULL, err));
    out->has_hold = true;
    out->hold = h;
    return end_member_op(&op, r->biz_no, fp, out, err);
}
