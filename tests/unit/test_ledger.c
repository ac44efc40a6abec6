/*
 * test_ledger.c — the ledger engine's operations, one scenario each, against
 * a real SQLite store (suite "ledger").
 *
 * Every scenario asserts exact numbers — the account's seven fields, each
 * entry's kind, points and available_after, each lot's remaining and state,
 * each hold's state — and ends with verify finding nothing.  Refunds are in
 * test_ledger_refund.c, expiry policies through the engine in
 * test_ledger_expiry.c, limits in test_limits.c.
 */
#include <stdio.h>

#include "fixture.h"

TestSuite(ledger, .init = fx_setup, .fini = fx_teardown, .timeout = 30);

#define T0 FX_T0
#define DAY FX_DAY

/* An earn with an explicit expiry (JF_NEVER: never). */
static jf_result earn_exp(int64_t now, const char *member, int64_t points, const char *biz, int64_t expires_at) {
    jf_earn_req r = {.member_id = member, .points = points, .biz_no = biz, .expires_at_ms = expires_at};
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_earn(&fx, now, &r, &out, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    return out;
}

/* ---- earn ---- */

Test(ledger, earn_active) {
    jf_result r = fx_earn_ok(&fx, T0, "m1", 100, "e1");
    cr_assert_eq(r.op, JF_OP_EARN);
    cr_assert_not(r.replayed);
    cr_assert_gt(r.entry.id, 0);
    cr_assert_eq(r.entry.seq, 1);
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_EARN, 100, 100);
    FX_ASSERT_ACCT(r.entry.delta, 100, 0, 0, 0, 100, 0, 0);
    cr_assert_str_eq(r.entry.scene, "order");
    cr_assert_str_eq(r.entry.biz_no, "e1");
    cr_assert_eq(r.entry.created_at_ms, T0);
    FX_ASSERT_ACCT(r.member.acct, 100, 0, 0, 0, 100, 0, 0);

    jf_member m = fx_member(&fx, "m1");
    FX_ASSERT_ACCT(m.acct, 100, 0, 0, 0, 100, 0, 0);
    cr_assert_eq(m.status, JF_MEMBER_ACTIVE);
    cr_assert_eq(m.entry_seq, 1);
    cr_assert(memcmp(m.last_hash, r.entry.hash, JF_HASH_BYTES) == 0);

    jf_lot lots[4];
    cr_assert_eq(fx_lots(&fx, "m1", lots, 4), 1);
    FX_ASSERT_LOT(lots[0], 100, JF_LOT_ACTIVE);
    cr_assert_eq(lots[0].amount, 100);
    cr_assert_eq(lots[0].expires_at_ms, JF_NEVER);
    cr_assert_eq(lots[0].available_at_ms, T0);
    cr_assert_eq(lots[0].entry_id, r.entry.id, "the lot links its earn entry");
    cr_assert_eq(r.entry.lot_id, lots[0].id, "the earn entry links its lot");
    fx_verify_clean(&fx);
}

Test(ledger, earn_second_chains_hash) {
    jf_result a = fx_earn_ok(&fx, T0, "m1", 10, "e1");
    jf_result b = fx_earn_ok(&fx, T0 + 1, "m1", 20, "e2");
    cr_assert_eq(b.entry.seq, 2);
    cr_assert(memcmp(b.entry.prev_hash, a.entry.hash, JF_HASH_BYTES) == 0);
    FX_ASSERT_ENTRY(b.entry, JF_ENTRY_EARN, 20, 30);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 30, 0, 0, 0, 30, 0, 0);
    fx_verify_clean(&fx);
}

Test(ledger, earn_pending_then_activated_by_jobs) {
    int64_t at = T0 + 7 * DAY;
    jf_earn_req req = {.member_id = "m1", .points = 100, .biz_no = "e1", .available_at_ms = at};
    jf_result r;
    jf_error err = {0};
    jf_code rc = fx_earn(&fx, T0, &req, &r, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_EARN, 100, 0);
    FX_ASSERT_ACCT(r.entry.delta, 0, 0, 100, 0, 100, 0, 0);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 100, 0, 100, 0, 0);
    jf_lot lot[2];
    cr_assert_eq(fx_lots(&fx, "m1", lot, 2), 1);
    FX_ASSERT_LOT(lot[0], 100, JF_LOT_PENDING);
    cr_assert_eq(lot[0].available_at_ms, at);

    /* Pending points cannot be spent. */
    jf_spend_req sp = {.member_id = "m1", .points = 1, .biz_no = "s1"};
    fx_state before = fx_snapshot(&fx);
    rc = fx_spend(&fx, T0 + DAY, &sp, &r, &err);
    FX_ASSERT_FAIL(rc, JF_INSUFFICIENT_POINTS, err, "points");
    FX_ASSERT_UNCHANGED(&fx, before);

    /* One millisecond early: nothing is due. */
    jf_job_stats st = fx_jobs_ok(&fx, at - 1);
    cr_assert_eq(st.lots_activated, 0);
    cr_assert_eq(st.members_settled, 0);
    FX_ASSERT_UNCHANGED(&fx, before);

    st = fx_jobs_ok(&fx, at);
    cr_assert_eq(st.lots_activated, 1);
    cr_assert_eq(st.points_activated, 100);
    cr_assert_eq(st.members_settled, 1);
    jf_entry e[4];
    cr_assert_eq(fx_entries(&fx, "m1", e, 4), 2);
    FX_ASSERT_ENTRY(e[1], JF_ENTRY_ACTIVATE, 100, 100);
    FX_ASSERT_ACCT(e[1].delta, 100, 0, -100, 0, 0, 0, 0);
    cr_assert_eq(e[1].created_at_ms, at);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 100, 0, 0, 0, 100, 0, 0);
    FX_ASSERT_LOT(fx_lot(&fx, lot[0].id), 100, JF_LOT_ACTIVE);

    /* A second run does nothing. */
    before = fx_snapshot(&fx);
    st = fx_jobs_ok(&fx, at + 1);
    cr_assert_eq(st.lots_activated, 0);
    FX_ASSERT_UNCHANGED(&fx, before);
    fx_spend_ok(&fx, at + 2, "m1", 100, "s2");
    fx_verify_clean(&fx);
}

Test(ledger, earn_pending_activated_by_the_members_next_operation) {
    int64_t at = T0 + DAY;
    jf_earn_req req = {.member_id = "m1", .points = 50, .biz_no = "e1", .available_at_ms = at};
    jf_error err = {0};
    jf_result r;
    jf_code rc = fx_earn(&fx, T0, &req, &r, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    /* No jobs ran: the spend settles the member first. */
    jf_result s = fx_spend_ok(&fx, at, "m1", 50, "s1");
    FX_ASSERT_ENTRY(s.entry, JF_ENTRY_SPEND, -50, 0);
    jf_entry e[4];
    cr_assert_eq(fx_entries(&fx, "m1", e, 4), 3);
    FX_ASSERT_ENTRY(e[1], JF_ENTRY_ACTIVATE, 50, 50);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 50, 50, 0);
    fx_verify_clean(&fx);
}

/* SQLite keeps a member's due floor (sqlite.c: sq_due): never after
 * anything due, lowered by what opens a hold or makes a lot pending or
 * spendable, brought up to date by the first operation that finds it not
 * after its time. */
static int64_t due_floor(const char *member_id) {
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT due_floor_ms FROM members WHERE ext_id = '%s'", member_id);
    return fx_sqlite_int(&fx, sql);
}

Test(ledger, due_floor_follows_holds_and_lots) {
    if (fx_backend_is_postgres()) cr_skip_test("the due floor is SQLite's");
    jf_earn_req far = {.member_id = "m1", .points = 100, .biz_no = "e1", .expires_at_ms = T0 + 30 * DAY};
    jf_result r;
    jf_error err = {0};
    jf_code rc = fx_earn(&fx, T0, &far, &r, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(due_floor("m1"), T0 + 30 * DAY, "the lot's expiry");
    jf_result h = fx_hold_ok(&fx, T0 + 1, "m1", 10, 600, "h1");
    cr_assert_eq(due_floor("m1"), T0 + 1 + 600 * FX_SECOND, "the open hold ends first");
    jf_earn_req later = {.member_id = "m1", .points = 5, .biz_no = "e2", .available_at_ms = T0 + 2 * DAY,
                         .expires_at_ms = T0 + 40 * DAY};
    rc = fx_earn(&fx, T0 + 2, &later, &r, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(due_floor("m1"), T0 + 1 + 600 * FX_SECOND, "a later activation leaves it");
    fx_release_ok(&fx, T0 + 3, h.hold.id, "r1");
    cr_assert_eq(due_floor("m1"), T0 + 1 + 600 * FX_SECOND, "closing a hold leaves it low");
    fx_verify_clean(&fx);
    /* Past the hold's end nothing is due, and the operation finds out. */
    fx_earn_ok(&fx, T0 + DAY, "m1", 1, "e3");
    cr_assert_eq(due_floor("m1"), T0 + 2 * DAY, "up to date: the pending lot's activation");
    /* The activation, then the lot becomes due by expiry instead. */
    fx_spend_ok(&fx, T0 + 3 * DAY, "m1", 1, "s1");
    cr_assert_eq(fx_member(&fx, "m1").acct.pending, 0, "activated by the spend's settling");
    cr_assert_eq(due_floor("m1"), T0 + 30 * DAY);
    /* Spending all of the first lot leaves the floor at its expiry until a
     * settling finds nothing due (after a second hold's end, here). */
    fx_spend_ok(&fx, T0 + 3 * DAY, "m1", 99, "s2");
    jf_result h2 = fx_hold_ok(&fx, T0 + 4 * DAY, "m1", 1, 600, "h2");
    fx_release_ok(&fx, T0 + 4 * DAY + 1, h2.hold.id, "r2");
    fx_earn_ok(&fx, T0 + 5 * DAY, "m1", 1, "e4");
    cr_assert_eq(due_floor("m1"), T0 + 40 * DAY, "the spent lot no longer counts");
    /* A reversal that gives the points back makes the lot spendable again. */
    fx_reverse_ok(&fx, T0 + 5 * DAY, "m1", "s2", 99, "v1");
    cr_assert_eq(due_floor("m1"), T0 + 30 * DAY, "lowered to the restored lot's expiry");
    fx_verify_clean(&fx);
    /* Past it, the next operation expires it. */
    fx_earn_ok(&fx, T0 + 31 * DAY, "m1", 1, "e5");
    cr_assert_eq(fx_member(&fx, "m1").acct.expired, 99);
    cr_assert_eq(due_floor("m1"), T0 + 40 * DAY);
    /* A reversal restoring a lot already past its expiry expires it again
     * in the same operation (reverse.c), and leaves the floor up to date. */
    fx_spend_ok(&fx, T0 + 31 * DAY, "m1", 5, "s3");
    fx_reverse_ok(&fx, T0 + 41 * DAY, "m1", "s3", 5, "v2");
    jf_member m = fx_member(&fx, "m1");
    cr_assert_eq(m.acct.expired, 99 + 5);
    cr_assert_eq(m.acct.available, 3, "e3, e4 and e5 never expire");
    cr_assert_eq(due_floor("m1"), INT64_MAX, "nothing left that could be due");
    fx_verify_clean(&fx);
}

/* ---- spend ---- */

Test(ledger, spend) {
    jf_result e1 = fx_earn_ok(&fx, T0, "m1", 100, "e1");
    jf_result s = fx_spend_ok(&fx, T0 + 1, "m1", 30, "s1");
    FX_ASSERT_ENTRY(s.entry, JF_ENTRY_SPEND, -30, 70);
    FX_ASSERT_ACCT(s.entry.delta, -30, 0, 0, 0, 0, 30, 0);
    cr_assert_str_eq(s.entry.scene, "redeem");
    FX_ASSERT_ACCT(s.member.acct, 70, 0, 0, 0, 100, 30, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e1.entry.lot_id), 70, JF_LOT_ACTIVE);
    jf_lot_move mv[4];
    cr_assert_eq(fx_moves(&fx, s.entry.id, mv, 4), 1);
    cr_assert_eq(mv[0].lot_id, e1.entry.lot_id);
    cr_assert_eq(mv[0].points, -30);

    /* All of it, then one more. */
    s = fx_spend_ok(&fx, T0 + 2, "m1", 70, "s2");
    FX_ASSERT_ENTRY(s.entry, JF_ENTRY_SPEND, -70, 0);
    fx_state before = fx_snapshot(&fx);
    jf_spend_req r = {.member_id = "m1", .points = 1, .biz_no = "s3"};
    jf_error err = {0};
    jf_code rc = fx_spend(&fx, T0 + 3, &r, &s, &err);
    FX_ASSERT_FAIL(rc, JF_INSUFFICIENT_POINTS, err, "points");
    FX_ASSERT_UNCHANGED(&fx, before);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 100, 100, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e1.entry.lot_id), 0, JF_LOT_ACTIVE);
    fx_verify_clean(&fx);
}

Test(ledger, spend_unknown_member_is_not_found_and_creates_nothing) {
    fx_state before = fx_snapshot(&fx);
    jf_spend_req r = {.member_id = "ghost", .points = 1, .biz_no = "s1"};
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_spend(&fx, T0, &r, &out, &err);
    FX_ASSERT_FAIL(rc, JF_NOT_FOUND, err, "member_id");
    FX_ASSERT_UNCHANGED(&fx, before);
    cr_assert_not(fx_member_exists(&fx, "ghost"));
}

/* ---- FIFO ---- */

Test(ledger, fifo_first_expiring_first_never_last_ties_oldest_first) {
    /* Lots in earning order, with their expiries. */
    jf_result never = earn_exp(T0, "m1", 10, "never", JF_NEVER);
    jf_result d30 = earn_exp(T0 + 1, "m1", 10, "d30", T0 + 30 * DAY);
    jf_result d10a = earn_exp(T0 + 2, "m1", 10, "d10a", T0 + 10 * DAY);
    jf_result d20 = earn_exp(T0 + 3, "m1", 10, "d20", T0 + 20 * DAY);
    jf_result d10b = earn_exp(T0 + 4, "m1", 10, "d10b", T0 + 10 * DAY);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 50, 0, 0, 0, 50, 0, 0);

    /* 25 points: d10a (10, older tie), d10b (10), then 5 of d20. */
    jf_result s1 = fx_spend_ok(&fx, T0 + 10, "m1", 25, "s1");
    jf_lot_move mv[8];
    cr_assert_eq(fx_moves(&fx, s1.entry.id, mv, 8), 3);
    cr_assert_eq(mv[0].lot_id, d10a.entry.lot_id);
    cr_assert_eq(mv[0].points, -10);
    cr_assert_eq(mv[1].lot_id, d10b.entry.lot_id);
    cr_assert_eq(mv[1].points, -10);
    cr_assert_eq(mv[2].lot_id, d20.entry.lot_id);
    cr_assert_eq(mv[2].points, -5);
    FX_ASSERT_LOT(fx_lot(&fx, d10a.entry.lot_id), 0, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, d10b.entry.lot_id), 0, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, d20.entry.lot_id), 5, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, d30.entry.lot_id), 10, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, never.entry.lot_id), 10, JF_LOT_ACTIVE);

    /* 12 more: the rest of d20, 7 of d30; the never-expiring lot untouched. */
    jf_result s2 = fx_spend_ok(&fx, T0 + 11, "m1", 12, "s2");
    cr_assert_eq(fx_moves(&fx, s2.entry.id, mv, 8), 2);
    cr_assert_eq(mv[0].lot_id, d20.entry.lot_id);
    cr_assert_eq(mv[0].points, -5);
    cr_assert_eq(mv[1].lot_id, d30.entry.lot_id);
    cr_assert_eq(mv[1].points, -7);
    FX_ASSERT_LOT(fx_lot(&fx, d30.entry.lot_id), 3, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, never.entry.lot_id), 10, JF_LOT_ACTIVE);

    /* The last 13: 3 of d30, then the never-expiring lot. */
    jf_result s3 = fx_spend_ok(&fx, T0 + 12, "m1", 13, "s3");
    cr_assert_eq(fx_moves(&fx, s3.entry.id, mv, 8), 2);
    cr_assert_eq(mv[0].lot_id, d30.entry.lot_id);
    cr_assert_eq(mv[1].lot_id, never.entry.lot_id);
    cr_assert_eq(mv[1].points, -10);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 50, 50, 0);
    fx_verify_clean(&fx);
}

Test(ledger, fifo_never_expiring_ties_go_oldest_first) {
    jf_result a = fx_earn_ok(&fx, T0, "m1", 5, "a");
    jf_result b = fx_earn_ok(&fx, T0 + 1, "m1", 5, "b");
    jf_result s = fx_spend_ok(&fx, T0 + 2, "m1", 7, "s");
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 0, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, b.entry.lot_id), 3, JF_LOT_ACTIVE);
    FX_ASSERT_ENTRY(s.entry, JF_ENTRY_SPEND, -7, 3);
    fx_verify_clean(&fx);
}

/* More lots than one store page (JF_LOT_BATCH): spending, holding and
 * releasing walk every page. */
typedef struct {
    int n;
} many_arg;

static jf_code earn_many_tx(jf_store *s, void *arg, jf_error *err) {
    many_arg *a = arg;
    (void)s;
    jf_ctx c = fx_ctx(&fx, T0);
    for (int i = 0; i < a->n; i++) {
        char biz[32];
        snprintf(biz, sizeof biz, "e%d", i);
        /* Expiries from far to near, so that spending order is not id order. */
        jf_earn_req r = {.member_id = "m1", .points = 1, .biz_no = biz,
                         .expires_at_ms = T0 + (int64_t)(a->n - i + 10) * DAY};
        jf_result out;
        jf_code rc = jf_earn(&c, &r, &out, err);
        if (rc != JF_OK) return rc;
    }
    return JF_OK;
}

Test(ledger, fifo_across_more_lots_than_a_page) {
    int n = 2 * JF_LOT_BATCH + 7;
    many_arg a = {n};
    jf_error err = {0};
    jf_code rc = fx_tx(&fx, earn_many_tx, &a, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    jf_result h = fx_hold_ok(&fx, T0 + 1, "m1", n - 3, 60, "h1");
    FX_ASSERT_ACCT(h.member.acct, 3, n - 3, 0, 0, n, 0, 0);
    jf_lot lots[2 * JF_LOT_BATCH + 7];
    cr_assert_eq(fx_lots(&fx, "m1", lots, (size_t)n), (size_t)n);
    /* The three never taken are the latest-expiring: the first three earned. */
    for (int i = 0; i < n; i++) FX_ASSERT_LOT(lots[i], i < 3 ? 1 : 0, JF_LOT_ACTIVE);
    fx_release_ok(&fx, T0 + 2, h.hold.id, "r1");
    cr_assert_eq(fx_lots(&fx, "m1", lots, (size_t)n), (size_t)n);
    for (int i = 0; i < n; i++) FX_ASSERT_LOT(lots[i], 1, JF_LOT_ACTIVE);
    jf_result s = fx_spend_ok(&fx, T0 + 3, "m1", n, "s1");
    FX_ASSERT_ENTRY(s.entry, JF_ENTRY_SPEND, -n, 0);
    jf_lot_move mv[2 * JF_LOT_BATCH + 7];
    cr_assert_eq(fx_moves(&fx, s.entry.id, mv, (size_t)n), (size_t)n);
    for (int i = 1; i < n; i++) cr_assert_lt(mv[i].lot_id, mv[i - 1].lot_id, "nearest expiry (latest earned) first");
    fx_verify_clean(&fx);
}

/* ---- holds ---- */

Test(ledger, hold_then_capture_all) {
    jf_result e1 = fx_earn_ok(&fx, T0, "m1", 100, "e1");
    jf_result h = fx_hold_ok(&fx, T0 + 1, "m1", 40, 600, "h1");
    FX_ASSERT_ENTRY(h.entry, JF_ENTRY_HOLD, -40, 60);
    FX_ASSERT_ACCT(h.entry.delta, -40, 40, 0, 0, 0, 0, 0);
    cr_assert_str_eq(h.entry.scene, "checkout");
    cr_assert(h.has_hold);
    cr_assert_eq(h.hold.state, JF_HOLD_OPEN);
    cr_assert_eq(h.hold.points, 40);
    cr_assert_eq(h.hold.captured, 0);
    cr_assert_eq(h.hold.expires_at_ms, T0 + 1 + 600 * 1000);
    cr_assert_eq(h.entry.hold_id, h.hold.id);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 60, 40, 0, 0, 100, 0, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e1.entry.lot_id), 60, JF_LOT_ACTIVE);
    fx_verify_clean(&fx);

    jf_result c = fx_capture_ok(&fx, T0 + 2, h.hold.id, 0, "c1");
    FX_ASSERT_ENTRY(c.entry, JF_ENTRY_CAPTURE, -40, 60);
    FX_ASSERT_ACCT(c.entry.delta, 0, -40, 0, 0, 0, 40, 0);
    cr_assert_eq(c.entry.ref_entry_id, h.entry.id);
    cr_assert_not(c.has_extra);
    cr_assert_eq(c.hold.state, JF_HOLD_CAPTURED);
    cr_assert_eq(c.hold.captured, 40);
    jf_hold stored = fx_hold_get(&fx, h.hold.id);
    cr_assert_eq(stored.state, JF_HOLD_CAPTURED);
    cr_assert_eq(stored.captured, 40);
    cr_assert_eq(stored.closed_at_ms, T0 + 2);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 60, 0, 0, 0, 100, 40, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e1.entry.lot_id), 60, JF_LOT_ACTIVE);

    /* A closed hold cannot be captured or released again. */
    fx_state before = fx_snapshot(&fx);
    jf_capture_req cr = {.hold_id = h.hold.id, .biz_no = "c2"};
    jf_error err = {0};
    jf_result out;
    jf_code rc = fx_capture(&fx, T0 + 3, &cr, &out, &err);
    FX_ASSERT_FAIL(rc, JF_HOLD_NOT_OPEN, err, "hold_id");
    jf_release_req rr = {.hold_id = h.hold.id, .biz_no = "r2"};
    rc = fx_release(&fx, T0 + 3, &rr, &out, &err);
    FX_ASSERT_FAIL(rc, JF_HOLD_NOT_OPEN, err, "hold_id");
    FX_ASSERT_UNCHANGED(&fx, before);
    fx_verify_clean(&fx);
}

Test(ledger, hold_then_capture_part_releases_the_rest_latest_taken_first) {
    jf_result a = earn_exp(T0, "m1", 30, "a", T0 + 10 * DAY);
    jf_result b = earn_exp(T0, "m1", 70, "b", JF_NEVER);
    jf_result h = fx_hold_ok(&fx, T0 + 1, "m1", 60, 600, "h1");
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 0, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, b.entry.lot_id), 40, JF_LOT_ACTIVE);

    jf_result c = fx_capture_ok(&fx, T0 + 2, h.hold.id, 40, "c1");
    FX_ASSERT_ENTRY(c.entry, JF_ENTRY_CAPTURE, -40, 40);
    cr_assert(c.has_extra);
    FX_ASSERT_ENTRY(c.extra, JF_ENTRY_RELEASE, 20, 60);
    FX_ASSERT_ACCT(c.extra.delta, 20, -20, 0, 0, 0, 0, 0);
    cr_assert_eq(c.hold.state, JF_HOLD_CAPTURED);
    cr_assert_eq(c.hold.captured, 40);
    FX_ASSERT_ACCT(c.member.acct, 60, 0, 0, 0, 100, 40, 0);
    /* What the capture keeps is the first-expiring part: all of a, 10 of b. */
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 0, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, b.entry.lot_id), 60, JF_LOT_ACTIVE);
    jf_hold stored = fx_hold_get(&fx, h.hold.id);
    cr_assert_eq(stored.state, JF_HOLD_CAPTURED);
    cr_assert_eq(stored.captured, 40);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 60, 0, 0, 0, 100, 40, 0);
    fx_verify_clean(&fx);
}

Test(ledger, capture_more_than_held_is_refused) {
    fx_earn_ok(&fx, T0, "m1", 100, "e1");
    jf_result h = fx_hold_ok(&fx, T0 + 1, "m1", 40, 600, "h1");
    fx_state before = fx_snapshot(&fx);
    jf_capture_req cr = {.hold_id = h.hold.id, .points = 41, .biz_no = "c1"};
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_capture(&fx, T0 + 2, &cr, &out, &err);
    FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "points");
    FX_ASSERT_UNCHANGED(&fx, before);
    cr.hold_id = h.hold.id + 1000;
    rc = fx_capture(&fx, T0 + 2, &cr, &out, &err);
    FX_ASSERT_FAIL(rc, JF_NOT_FOUND, err, "hold_id");
    FX_ASSERT_UNCHANGED(&fx, before);
    fx_verify_clean(&fx);
}

Test(ledger, hold_then_release) {
    jf_result e1 = fx_earn_ok(&fx, T0, "m1", 100, "e1");
    jf_result h = fx_hold_ok(&fx, T0 + 1, "m1", 100, 600, "h1");
    FX_ASSERT_ENTRY(h.entry, JF_ENTRY_HOLD, -100, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e1.entry.lot_id), 0, JF_LOT_ACTIVE);

    /* Held points cannot be spent twice. */
    fx_state before = fx_snapshot(&fx);
    jf_spend_req sp = {.member_id = "m1", .points = 1, .biz_no = "s1"};
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_spend(&fx, T0 + 2, &sp, &out, &err);
    FX_ASSERT_FAIL(rc, JF_INSUFFICIENT_POINTS, err, "points");
    jf_hold_req hr = {.member_id = "m1", .points = 1, .biz_no = "h2", .ttl_s = 60};
    rc = fx_hold(&fx, T0 + 2, &hr, &out, &err);
    FX_ASSERT_FAIL(rc, JF_INSUFFICIENT_POINTS, err, "points");
    FX_ASSERT_UNCHANGED(&fx, before);

    jf_result r = fx_release_ok(&fx, T0 + 3, h.hold.id, "r1");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_RELEASE, 100, 100);
    FX_ASSERT_ACCT(r.entry.delta, 100, -100, 0, 0, 0, 0, 0);
    cr_assert_eq(r.entry.ref_entry_id, h.entry.id);
    cr_assert_eq(r.hold.state, JF_HOLD_RELEASED);
    cr_assert_eq(fx_hold_get(&fx, h.hold.id).state, JF_HOLD_RELEASED);
    cr_assert_eq(fx_hold_get(&fx, h.hold.id).closed_at_ms, T0 + 3);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 100, 0, 0, 0, 100, 0, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e1.entry.lot_id), 100, JF_LOT_ACTIVE);
    fx_verify_clean(&fx);
}

Test(ledger, hold_times_out_through_jobs) {
    jf_result e1 = fx_earn_ok(&fx, T0, "m1", 100, "e1");
    jf_result h = fx_hold_ok(&fx, T0, "m1", 40, 60, "h1");
    int64_t due = T0 + 60 * FX_SECOND;
    cr_assert_eq(h.hold.expires_at_ms, due);

    fx_state before = fx_snapshot(&fx);
    jf_job_stats st = fx_jobs_ok(&fx, due - 1);
    cr_assert_eq(st.holds_released, 0);
    FX_ASSERT_UNCHANGED(&fx, before);

    st = fx_jobs_ok(&fx, due);
    cr_assert_eq(st.holds_released, 1);
    cr_assert_eq(st.points_released, 40);
    cr_assert_eq(st.members_settled, 1);
    jf_hold stored = fx_hold_get(&fx, h.hold.id);
    cr_assert_eq(stored.state, JF_HOLD_EXPIRED);
    cr_assert_eq(stored.closed_at_ms, due);
    jf_entry e[4];
    cr_assert_eq(fx_entries(&fx, "m1", e, 4), 3);
    FX_ASSERT_ENTRY(e[2], JF_ENTRY_RELEASE, 40, 100);
    cr_assert_eq(e[2].hold_id, h.hold.id);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 100, 0, 0, 0, 100, 0, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e1.entry.lot_id), 100, JF_LOT_ACTIVE);

    /* Too late to capture. */
    before = fx_snapshot(&fx);
    jf_capture_req cr = {.hold_id = h.hold.id, .biz_no = "c1"};
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_capture(&fx, due + 1, &cr, &out, &err);
    FX_ASSERT_FAIL(rc, JF_HOLD_NOT_OPEN, err, "hold_id");
    FX_ASSERT_UNCHANGED(&fx, before);
    st = fx_jobs_ok(&fx, due + 1);
    cr_assert_eq(st.holds_released, 0);
    FX_ASSERT_UNCHANGED(&fx, before);
    fx_verify_clean(&fx);
}

Test(ledger, capture_at_the_holds_expiry_is_too_late) {
    fx_earn_ok(&fx, T0, "m1", 100, "e1");
    jf_result h = fx_hold_ok(&fx, T0, "m1", 40, 60, "h1");
    jf_result h2 = fx_hold_ok(&fx, T0, "m1", 10, 60, "h2");
    /* One millisecond before: still open. */
    jf_result c = fx_capture_ok(&fx, T0 + 60 * FX_SECOND - 1, h.hold.id, 0, "c1");
    cr_assert_eq(c.hold.state, JF_HOLD_CAPTURED);
    /* At expires_at: the settle that comes first releases it. */
    jf_capture_req cr = {.hold_id = h2.hold.id, .biz_no = "c2"};
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_capture(&fx, T0 + 60 * FX_SECOND, &cr, &out, &err);
    FX_ASSERT_FAIL(rc, JF_HOLD_NOT_OPEN, err, "hold_id");
    /* The refusal rolled back the settle too: the hold is still open until a
     * job (or the member's next operation) releases it. */
    cr_assert_eq(fx_hold_get(&fx, h2.hold.id).state, JF_HOLD_OPEN);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 50, 10, 0, 0, 100, 40, 0);
    fx_verify_clean(&fx);
}

Test(ledger, timed_out_hold_on_an_expired_lot_expires_its_points) {
    jf_result a = earn_exp(T0, "m1", 50, "a", T0 + DAY);
    jf_result h = fx_hold_ok(&fx, T0, "m1", 50, 2 * 86400, "h1");
    /* The lot's expiry passes while its points are held: nothing to expire. */
    jf_job_stats st = fx_jobs_ok(&fx, T0 + DAY);
    cr_assert_eq(st.lots_expired, 0);
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 0, JF_LOT_ACTIVE);
    /* The hold times out: its points go back to the lot and expire with it
     * in the same run. */
    st = fx_jobs_ok(&fx, h.hold.expires_at_ms);
    cr_assert_eq(st.holds_released, 1);
    cr_assert_eq(st.lots_expired, 1);
    cr_assert_eq(st.points_expired, 50);
    jf_entry e[5];
    cr_assert_eq(fx_entries(&fx, "m1", e, 5), 4);
    FX_ASSERT_ENTRY(e[2], JF_ENTRY_RELEASE, 50, 50);
    FX_ASSERT_ENTRY(e[3], JF_ENTRY_EXPIRE, -50, 0);
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 0, JF_LOT_EXPIRED);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 50, 0, 50);
    fx_verify_clean(&fx);
}

Test(ledger, release_onto_an_expired_lot_expires_its_points) {
    jf_result a = earn_exp(T0, "m1", 30, "a", T0 + DAY);
    jf_result b = earn_exp(T0, "m1", 30, "b", JF_NEVER);
    jf_result h = fx_hold_ok(&fx, T0, "m1", 40, 2 * 86400, "h1"); /* a 30, b 10 */
    jf_result r = fx_release_ok(&fx, T0 + DAY + 5, h.hold.id, "r1");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_RELEASE, 40, 60);
    jf_entry e[8];
    size_t n = fx_entries(&fx, "m1", e, 8);
    cr_assert_eq(n, 5);
    FX_ASSERT_ENTRY(e[4], JF_ENTRY_EXPIRE, -30, 30);
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 0, JF_LOT_EXPIRED);
    FX_ASSERT_LOT(fx_lot(&fx, b.entry.lot_id), 30, JF_LOT_ACTIVE);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 30, 0, 0, 0, 60, 0, 30);
    fx_verify_clean(&fx);
}

Test(ledger, partial_capture_after_the_lots_expiry_expires_the_remainder) {
    jf_result a = earn_exp(T0, "m1", 50, "a", T0 + DAY);
    jf_result h = fx_hold_ok(&fx, T0, "m1", 50, 2 * 86400, "h1");
    /* The lot expired while held; the capture keeps 20, the 30 returned
     * expire at once. */
    jf_result c = fx_capture_ok(&fx, T0 + DAY + 1, h.hold.id, 20, "c1");
    FX_ASSERT_ENTRY(c.entry, JF_ENTRY_CAPTURE, -20, 0);
    cr_assert(c.has_extra);
    FX_ASSERT_ENTRY(c.extra, JF_ENTRY_RELEASE, 30, 30);
    jf_entry e[6];
    cr_assert_eq(fx_entries(&fx, "m1", e, 6), 5);
    FX_ASSERT_ENTRY(e[4], JF_ENTRY_EXPIRE, -30, 0);
    FX_ASSERT_ACCT(c.member.acct, 0, 0, 0, 0, 50, 20, 30);
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 0, JF_LOT_EXPIRED);
    /* Reversing the capture gives its 20 back to the expired lot: they
     * expire again at once. */
    jf_result r = fx_reverse_ok(&fx, T0 + DAY + 2, "m1", "c1", 0, "r1");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, 20, 20);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 50, 0, 50);
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 0, JF_LOT_EXPIRED);
    fx_verify_clean(&fx);
}

/* ---- adjust ---- */

Test(ledger, adjust_plus_and_minus) {
    jf_result p = fx_adjust_ok(&fx, T0, "m1", 50, "a1");
    FX_ASSERT_ENTRY(p.entry, JF_ENTRY_ADJUST, 50, 50);
    FX_ASSERT_ACCT(p.entry.delta, 50, 0, 0, 0, 50, 0, 0);
    cr_assert_str_eq(p.entry.scene, "admin");
    cr_assert_str_eq(p.entry.reason, "test adjustment");
    cr_assert_str_eq(p.entry.operator_id, "tester");
    cr_assert_gt(p.entry.lot_id, 0);
    FX_ASSERT_LOT(fx_lot(&fx, p.entry.lot_id), 50, JF_LOT_ACTIVE);

    jf_result m = fx_adjust_ok(&fx, T0 + 1, "m1", -20, "a2");
    FX_ASSERT_ENTRY(m.entry, JF_ENTRY_ADJUST, -20, 30);
    FX_ASSERT_ACCT(m.entry.delta, -20, 0, 0, 0, 0, 20, 0);
    cr_assert_eq(m.entry.lot_id, 0);
    FX_ASSERT_LOT(fx_lot(&fx, p.entry.lot_id), 30, JF_LOT_ACTIVE);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 30, 0, 0, 0, 50, 20, 0);

    fx_state before = fx_snapshot(&fx);
    jf_adjust_req r = {.member_id = "m1", .points = -31, .biz_no = "a3", .reason = "x", .operator_id = "op"};
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_adjust(&fx, T0 + 2, &r, &out, &err);
    FX_ASSERT_FAIL(rc, JF_INSUFFICIENT_POINTS, err, "points");
    r.points = 0;
    rc = fx_adjust(&fx, T0 + 2, &r, &out, &err);
    FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "points");
    r.points = 5;
    r.reason = NULL;
    rc = fx_adjust(&fx, T0 + 2, &r, &out, &err);
    FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "reason");
    r.reason = "x";
    r.operator_id = "";
    rc = fx_adjust(&fx, T0 + 2, &r, &out, &err);
    FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "operator");
    /* A negative adjustment does not create a member. */
    jf_adjust_req g = {.member_id = "ghost", .points = -1, .biz_no = "a4", .reason = "x", .operator_id = "op"};
    rc = fx_adjust(&fx, T0 + 2, &g, &out, &err);
    FX_ASSERT_FAIL(rc, JF_NOT_FOUND, err, "member_id");
    FX_ASSERT_UNCHANGED(&fx, before);
    fx_verify_clean(&fx);
}

/* ---- members ---- */

Test(ledger, member_upsert_and_freeze) {
    jf_member m;
    jf_error err = {0};
    jf_code rc = fx_upsert(&fx, T0, "m1", -1, &m, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(m.status, JF_MEMBER_ACTIVE);
    FX_ASSERT_ACCT(m.acct, 0, 0, 0, 0, 0, 0, 0);
    cr_assert_eq(m.entry_seq, 0);
    jf_result e1 = fx_earn_ok(&fx, T0 + 1, "m1", 100, "e1");
    jf_result h = fx_hold_ok(&fx, T0 + 1, "m1", 10, 600, "h1");

    rc = fx_upsert(&fx, T0 + 2, "m1", JF_MEMBER_FROZEN, &m, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(m.status, JF_MEMBER_FROZEN);
    cr_assert_eq(fx_member(&fx, "m1").status, JF_MEMBER_FROZEN);
    FX_ASSERT_ACCT(m.acct, 90, 10, 0, 0, 100, 0, 0);

    /* Frozen: no earning, spending or holding, and nothing written. */
    fx_state before = fx_snapshot(&fx);
    jf_result out;
    jf_earn_req er = {.member_id = "m1", .points = 5, .biz_no = "e2"};
    rc = fx_earn(&fx, T0 + 3, &er, &out, &err);
    FX_ASSERT_FAIL(rc, JF_FROZEN, err, "member_id");
    jf_spend_req sr = {.member_id = "m1", .points = 5, .biz_no = "s1"};
    rc = fx_spend(&fx, T0 + 3, &sr, &out, &err);
    FX_ASSERT_FAIL(rc, JF_FROZEN, err, "member_id");
    jf_hold_req hr = {.member_id = "m1", .points = 5, .biz_no = "h2", .ttl_s = 60};
    rc = fx_hold(&fx, T0 + 3, &hr, &out, &err);
    FX_ASSERT_FAIL(rc, JF_FROZEN, err, "member_id");
    FX_ASSERT_UNCHANGED(&fx, before);

    /* Operators can still adjust, and refunds still reverse. */
    jf_result a = fx_adjust_ok(&fx, T0 + 4, "m1", 7, "a1");
    FX_ASSERT_ENTRY(a.entry, JF_ENTRY_ADJUST, 7, 97);
    jf_result rv = fx_reverse_ok(&fx, T0 + 5, "m1", "e1", 20, "rv1");
    FX_ASSERT_ENTRY(rv.entry, JF_ENTRY_REVERSE, -20, 77);
    cr_assert_eq(rv.member.status, JF_MEMBER_FROZEN);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 77, 10, 0, 0, 87, 0, 0);
    (void)e1;
    (void)h;

    /* Upserting without a status leaves it frozen; unfreezing works. */
    rc = fx_upsert(&fx, T0 + 6, "m1", -1, &m, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(m.status, JF_MEMBER_FROZEN);
    rc = fx_upsert(&fx, T0 + 6, "m1", JF_MEMBER_ACTIVE, &m, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(m.status, JF_MEMBER_ACTIVE);
    fx_earn_ok(&fx, T0 + 7, "m1", 5, "e2");
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 82, 10, 0, 0, 92, 0, 0);

    /* A bad status writes nothing. */
    before = fx_snapshot(&fx);
    rc = fx_upsert(&fx, T0 + 8, "m1", 7, &m, &err);
    FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "status");
    FX_ASSERT_UNCHANGED(&fx, before);
    fx_verify_clean(&fx);
}

Test(ledger, frozen_member_can_be_created_frozen) {
    jf_member m;
    jf_error err = {0};
    jf_code rc = fx_upsert(&fx, T0, "m2", JF_MEMBER_FROZEN, &m, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(fx_member(&fx, "m2").status, JF_MEMBER_FROZEN);
    jf_earn_req er = {.member_id = "m2", .points = 5, .biz_no = "e1"};
    jf_result out;
    rc = fx_earn(&fx, T0 + 1, &er, &out, &err);
    FX_ASSERT_FAIL(rc, JF_FROZEN, err, "member_id");
    fx_verify_clean(&fx);
}

/* ---- idempotency ---- */

/* Replaying a request answers the original result and writes nothing. */
#define ASSERT_REPLAY(orig, again, before)                                                                   \
    do {                                                                                                     \
        cr_assert((again).replayed, "the replay says replayed");                                            \
        cr_assert_not((orig).replayed);                                                                      \
        cr_assert_eq((again).op, (orig).op);                                                                 \
        cr_assert_eq((again).entry.id, (orig).entry.id, "same entry");                                       \
        cr_assert_eq((again).entry.points, (orig).entry.points);                                             \
        cr_assert_eq((again).entry.available_after, (orig).entry.available_after);                           \
        cr_assert(memcmp((again).entry.hash, (orig).entry.hash, JF_HASH_BYTES) == 0);                        \
        cr_assert_eq((again).member.id, (orig).member.id);                                                   \
        cr_assert_eq((again).member.status, (orig).member.status);                                           \
        FX_ASSERT_ACCT((again).member.acct, (orig).member.acct.available, (orig).member.acct.frozen,         \
                       (orig).member.acct.pending, (orig).member.acct.debt, (orig).member.acct.earned,       \
                       (orig).member.acct.spent, (orig).member.acct.expired);                                \
        cr_assert_eq((again).has_extra, (orig).has_extra);                                                   \
        if ((orig).has_extra) cr_assert_eq((again).extra.id, (orig).extra.id);                               \
        cr_assert_eq((again).has_hold, (orig).has_hold);                                                     \
        if ((orig).has_hold) {                                                                               \
            cr_assert_eq((again).hold.id, (orig).hold.id);                                                   \
            cr_assert_eq((again).hold.state, (orig).hold.state, "hold state as first answered");            \
            cr_assert_eq((again).hold.captured, (orig).hold.captured);                                       \
            cr_assert_eq((again).hold.closed_at_ms, (orig).hold.closed_at_ms);                               \
        }                                                                                                    \
        cr_assert_eq((again).reversed_points, (orig).reversed_points);                                       \
        cr_assert_eq((again).debt_points, (orig).debt_points);                                               \
        cr_assert_eq((again).clamped_points, (orig).clamped_points);                                         \
        FX_ASSERT_UNCHANGED(&fx, before);                                                                    \
    } while (0)

Test(ledger, replay_of_every_write_answers_the_original_and_writes_nothing) {
    jf_earn_req er = {.member_id = "m1", .points = 100, .biz_no = "e1", .reason = "order 1"};
    jf_spend_req sr = {.member_id = "m1", .points = 10, .biz_no = "s1"};
    jf_hold_req hr = {.member_id = "m1", .points = 30, .biz_no = "h1", .ttl_s = 600};
    jf_hold_req hr2 = {.member_id = "m1", .points = 5, .biz_no = "h2", .ttl_s = 600};
    jf_adjust_req ar = {.member_id = "m1", .points = 3, .biz_no = "a1", .reason = "goodwill", .operator_id = "op"};
    jf_result e, s, h, h2, c, r, rv, a, again;
    jf_error err = {0};
    jf_code rc;
#define RUN(call) \
    rc = (call);  \
    FX_ASSERT_CODE(rc, JF_OK, err)
    RUN(fx_earn(&fx, T0, &er, &e, &err));
    RUN(fx_spend(&fx, T0 + 1, &sr, &s, &err));
    RUN(fx_hold(&fx, T0 + 2, &hr, &h, &err));
    RUN(fx_hold(&fx, T0 + 2, &hr2, &h2, &err));
    jf_capture_req cq = {.hold_id = h.hold.id, .points = 20, .biz_no = "c1"};
    jf_release_req rq = {.hold_id = h2.hold.id, .biz_no = "r1"};
    jf_reverse_req vq = {.member_id = "m1", .target_biz_no = "s1", .points = 4, .biz_no = "v1"};
    RUN(fx_capture(&fx, T0 + 3, &cq, &c, &err));
    RUN(fx_release(&fx, T0 + 4, &rq, &r, &err));
    RUN(fx_reverse(&fx, T0 + 5, &vq, &rv, &err));
    RUN(fx_adjust(&fx, T0 + 6, &ar, &a, &err));
    /* Change the account after all of them, so that a replay that read the
     * current account would be caught. */
    fx_earn_ok(&fx, T0 + 7, "m1", 1000, "later");
    fx_state before = fx_snapshot(&fx);

    int64_t later = T0 + 8;
    RUN(fx_earn(&fx, later, &er, &again, &err));
    ASSERT_REPLAY(e, again, before);
    FX_ASSERT_ACCT(again.member.acct, 100, 0, 0, 0, 100, 0, 0);
    RUN(fx_spend(&fx, later, &sr, &again, &err));
    ASSERT_REPLAY(s, again, before);
    FX_ASSERT_ACCT(again.member.acct, 90, 0, 0, 0, 100, 10, 0);
    RUN(fx_hold(&fx, later, &hr, &again, &err));
    ASSERT_REPLAY(h, again, before);
    cr_assert_eq(again.hold.state, JF_HOLD_OPEN, "the hold as it was when first answered");
    RUN(fx_capture(&fx, later, &cq, &again, &err));
    ASSERT_REPLAY(c, again, before);
    cr_assert(again.has_extra);
    RUN(fx_release(&fx, later, &rq, &again, &err));
    ASSERT_REPLAY(r, again, before);
    RUN(fx_reverse(&fx, later, &vq, &again, &err));
    ASSERT_REPLAY(rv, again, before);
    cr_assert_eq(again.reversed_points, 4);
    RUN(fx_adjust(&fx, later, &ar, &again, &err));
    ASSERT_REPLAY(a, again, before);
    /* Replays are answered even to a frozen member, and past a hold's expiry. */
    jf_member m;
    RUN(fx_upsert(&fx, later, "m1", JF_MEMBER_FROZEN, &m, &err));
    before = fx_snapshot(&fx);
    RUN(fx_earn(&fx, later + 30 * DAY, &er, &again, &err));
    ASSERT_REPLAY(e, again, before);
    RUN(fx_hold(&fx, later + 30 * DAY, &hr, &again, &err));
    ASSERT_REPLAY(h, again, before);
#undef RUN
    fx_verify_clean(&fx);
}

Test(ledger, same_biz_no_with_a_different_request_is_a_conflict) {
    fx_earn_ok(&fx, T0, "m1", 100, "e1");
    fx_earn_ok(&fx, T0, "m2", 100, "e2");
    jf_result h = fx_hold_ok(&fx, T0, "m1", 10, 600, "h1");
    fx_state before = fx_snapshot(&fx);
    jf_result out;
    jf_error err = {0};
    jf_code rc;
#define CONFLICT(call)                                              \
    do {                                                            \
        memset(&err, 0, sizeof err);                                \
        rc = (call);                                                \
        FX_ASSERT_FAIL(rc, JF_IDEMPOTENCY_CONFLICT, err, "biz_no"); \
        FX_ASSERT_UNCHANGED(&fx, before);                           \
    } while (0)
    CONFLICT(fx_earn(&fx, T0 + 1, &(jf_earn_req){.member_id = "m1", .points = 101, .biz_no = "e1"}, &out, &err));
    CONFLICT(fx_earn(&fx, T0 + 1, &(jf_earn_req){.member_id = "m1", .points = 100, .biz_no = "e1", .reason = "x"},
                     &out, &err));
    CONFLICT(fx_earn(&fx, T0 + 1, &(jf_earn_req){.member_id = "m1", .points = 100, .biz_no = "e1", .scene = "task"},
                     &out, &err));
    CONFLICT(fx_earn(&fx, T0 + 1,
                     &(jf_earn_req){.member_id = "m1", .points = 100, .biz_no = "e1", .expires_at_ms = JF_NEVER},
                     &out, &err));
    /* Another member with the same key: the new member is not created. */
    CONFLICT(fx_earn(&fx, T0 + 1, &(jf_earn_req){.member_id = "m3", .points = 100, .biz_no = "e1"}, &out, &err));
    cr_assert_not(fx_member_exists(&fx, "m3"));
    /* Another operation with the same key. */
    CONFLICT(fx_spend(&fx, T0 + 1, &(jf_spend_req){.member_id = "m1", .points = 100, .biz_no = "e1"}, &out, &err));
    CONFLICT(fx_hold(&fx, T0 + 1, &(jf_hold_req){.member_id = "m1", .points = 100, .biz_no = "e1", .ttl_s = 60},
                     &out, &err));
    CONFLICT(fx_adjust(&fx, T0 + 1,
                       &(jf_adjust_req){.member_id = "m1", .points = 100, .biz_no = "e1", .reason = "r",
                                        .operator_id = "o"},
                       &out, &err));
    CONFLICT(fx_capture(&fx, T0 + 1, &(jf_capture_req){.hold_id = h.hold.id, .biz_no = "e1"}, &out, &err));
    CONFLICT(fx_release(&fx, T0 + 1, &(jf_release_req){.hold_id = h.hold.id, .biz_no = "h1"}, &out, &err));
    CONFLICT(fx_reverse(&fx, T0 + 1, &(jf_reverse_req){.member_id = "m1", .target_biz_no = "e2", .biz_no = "e1"},
                        &out, &err));
    CONFLICT(fx_hold(&fx, T0 + 1, &(jf_hold_req){.member_id = "m1", .points = 10, .biz_no = "h1", .ttl_s = 61},
                     &out, &err));
#undef CONFLICT
    cr_assert_eq(fx_hold_get(&fx, h.hold.id).state, JF_HOLD_OPEN);
    fx_verify_clean(&fx);
}

Test(ledger, failed_operation_leaves_its_biz_no_free) {
    fx_earn_ok(&fx, T0, "m1", 10, "e1");
    jf_spend_req sr = {.member_id = "m1", .points = 20, .biz_no = "s1"};
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_spend(&fx, T0 + 1, &sr, &out, &err);
    FX_ASSERT_FAIL(rc, JF_INSUFFICIENT_POINTS, err, "points");
    fx_earn_ok(&fx, T0 + 2, "m1", 10, "e2");
    /* The same request, now that it can succeed, is a first request. */
    rc = fx_spend(&fx, T0 + 3, &sr, &out, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_not(out.replayed);
    FX_ASSERT_ENTRY(out.entry, JF_ENTRY_SPEND, -20, 0);
    fx_verify_clean(&fx);
}

/* ---- tenants ---- */

Test(ledger, tenants_are_isolated) {
    fx_earn_ok(&fx, T0, "m1", 100, "e1");
    jf_result h = fx_hold_ok(&fx, T0, "m1", 10, 600, "h1");
    jf_tenant t1 = fx.tenant;
    fx_tenant_create(&fx, "t2", "America/New_York", NULL, JF_REFUND_CLAMP);
    /* The same member id and biz_no in another tenant are other ones. */
    jf_result e2 = fx_earn_ok(&fx, T0, "m1", 7, "e1");
    cr_assert_not(e2.replayed);
    FX_ASSERT_ACCT(e2.member.acct, 7, 0, 0, 0, 7, 0, 0);
    fx_state before = fx_snapshot(&fx);
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_capture(&fx, T0 + 1, &(jf_capture_req){.hold_id = h.hold.id, .biz_no = "c1"}, &out, &err);
    FX_ASSERT_FAIL(rc, JF_NOT_FOUND, err, "hold_id");
    rc = fx_release(&fx, T0 + 1, &(jf_release_req){.hold_id = h.hold.id, .biz_no = "r1"}, &out, &err);
    FX_ASSERT_FAIL(rc, JF_NOT_FOUND, err, "hold_id");
    FX_ASSERT_UNCHANGED(&fx, before);
    fx.tenant = t1;
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 90, 10, 0, 0, 100, 0, 0);
    /* Jobs run every tenant. */
    jf_job_stats st = fx_jobs_ok(&fx, T0 + 600 * FX_SECOND);
    cr_assert_eq(st.holds_released, 1);
    fx_verify_clean(&fx);
}

/* ---- queries ---- */

Test(ledger, entries_list_newest_first_with_filters_and_cursor) {
    fx_earn_ok(&fx, T0, "m1", 10, "e1");
    fx_spend_ok(&fx, T0 + 1, "m1", 3, "s1");
    fx_earn_ok(&fx, T0 + 2, "m1", 5, "e2");
    jf_ctx c = fx_ctx(&fx, T0 + 3);
    jf_entry out[JF_PAGE_LIMIT_MAX];
    size_t n = 0;
    jf_error err = {0};
    jf_entry_filter f = {0};
    cr_assert_eq(fx.store->ops->begin_read(fx.store, &err), JF_OK);
    jf_code rc = jf_entries_list(&c, "m1", &f, out, 2, &n, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(out[0].biz_no, "e2");
    cr_assert_str_eq(out[1].biz_no, "s1");
    f.before_id = out[1].id;
    rc = jf_entries_list(&c, "m1", &f, out, 2, &n, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(out[0].biz_no, "e1");
    jf_entry_filter kinds = {.kinds_mask = 1u << JF_ENTRY_SPEND};
    rc = jf_entries_list(&c, "m1", &kinds, out, JF_PAGE_LIMIT_MAX, &n, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].kind, JF_ENTRY_SPEND);
    jf_entry_filter window = {.from_ms = T0 + 1, .to_ms = T0 + 2};
    rc = jf_entries_list(&c, "m1", &window, out, JF_PAGE_LIMIT_MAX, &n, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(out[0].biz_no, "s1");
    rc = jf_entries_list(&c, "nobody", &f, out, 10, &n, &err);
    FX_ASSERT_FAIL(rc, JF_NOT_FOUND, err, "member_id");
    fx.store->ops->rollback(fx.store);
}

/* The idempotency record's snapshot text (result.c): exact, and refused
 * rather than cut when it does not fit. */
Test(ledger, result_snapshot_text) {
    jf_result r;
    memset(&r, 0, sizeof r);
    r.member.id = 7;
    r.member.status = JF_MEMBER_FROZEN;
    r.member.acct = (jf_account){1, 2, 3, 4, 5, 6, 1000000000000LL};
    r.entry.id = 9;
    r.reversed_points = 11;
    r.debt_points = -0; /* zero */
    r.clamped_points = 12;
    char buf[1024];
    cr_assert_eq(jf_result_encode(&r, buf, sizeof buf), JF_OK);
    char want[256];
    snprintf(want, sizeof want,
             "{\"v\":1,\"m\":7,\"st\":%d,\"a\":[1,2,3,4,5,6,1000000000000],\"e\":9,\"x\":0,\"r\":[11,0,12]}",
             (int)JF_MEMBER_FROZEN);
    cr_assert_str_eq(buf, want);
    r.has_extra = true;
    r.extra.id = 10;
    r.has_hold = true;
    r.hold = (jf_hold){.id = 3, .captured = 5, .state = JF_HOLD_CAPTURED, .closed_at_ms = 1700000000000LL};
    cr_assert_eq(jf_result_encode(&r, buf, sizeof buf), JF_OK);
    snprintf(want, sizeof want,
             "{\"v\":1,\"m\":7,\"st\":%d,\"a\":[1,2,3,4,5,6,1000000000000],\"e\":9,\"x\":10,\"r\":[11,0,12],"
             "\"h\":[3,5,%d,1700000000000]}",
             (int)JF_MEMBER_FROZEN, (int)JF_HOLD_CAPTURED);
    cr_assert_str_eq(buf, want);
    cr_assert_eq(jf_result_encode(&r, buf, strlen(want)), JF_INTERNAL, "one byte short for the NUL");
    cr_assert_eq(jf_result_encode(&r, buf, strlen(want) + 1), JF_OK);
}
