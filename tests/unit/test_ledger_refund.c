/*
 * test_ledger_refund.c — reversals (suite "refund"): taking back an earn
 * (own lot first, then the balance, then debt or clamp), giving back a spend
 * or a capture to exactly the lots it took, partial reversals that add up,
 * and what cannot be reversed.  Semantics: src/engine/reverse.c.
 */
#include "fixture.h"

TestSuite(refund, .init = fx_setup, .fini = fx_teardown, .timeout = 30);

#define T0 FX_T0
#define DAY FX_DAY

static jf_result earn_req(int64_t now, const jf_earn_req *r) {
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_earn(&fx, now, r, &out, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    return out;
}

static jf_result earn_exp(int64_t now, const char *member, int64_t points, const char *biz, int64_t expires_at) {
    jf_earn_req r = {.member_id = member, .points = points, .biz_no = biz, .expires_at_ms = expires_at};
    return earn_req(now, &r);
}

/* A reversal that must fail with code/field and write nothing. */
static void reverse_refused(int64_t now, const char *member, const char *target, int64_t points, const char *biz,
                            jf_code want, const char *field) {
    fx_state before = fx_snapshot(&fx);
    jf_reverse_req r = {.member_id = member, .target_biz_no = target, .points = points, .biz_no = biz};
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_reverse(&fx, now, &r, &out, &err);
    FX_ASSERT_FAIL(rc, want, err, field);
    FX_ASSERT_UNCHANGED(&fx, before);
}

static void use_clamp_policy(void) {
    jf_tenant t = fx.tenant;
    t.refund = JF_REFUND_CLAMP;
    fx_tenant_update(&fx, &t);
}

/* ---- reversing an earn ---- */

Test(refund, earn_reversed_fully) {
    jf_result e = fx_earn_ok(&fx, T0, "m1", 100, "e1");
    jf_result r = fx_reverse_ok(&fx, T0 + 1, "m1", "e1", 0, "r1");
    cr_assert_eq(r.op, JF_OP_REVERSE);
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, -100, 0);
    FX_ASSERT_ACCT(r.entry.delta, -100, 0, 0, 0, -100, 0, 0);
    cr_assert_eq(r.entry.ref_entry_id, e.entry.id);
    cr_assert_str_eq(r.entry.scene, "order", "a reversal keeps its original's scene");
    cr_assert_eq(r.reversed_points, 100);
    cr_assert_eq(r.debt_points, 0);
    cr_assert_eq(r.clamped_points, 0);
    FX_ASSERT_ACCT(r.member.acct, 0, 0, 0, 0, 0, 0, 0);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 0, 0, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e.entry.lot_id), 0, JF_LOT_ACTIVE);
    jf_lot_move mv[4];
    cr_assert_eq(fx_moves(&fx, r.entry.id, mv, 4), 1);
    cr_assert_eq(mv[0].lot_id, e.entry.lot_id);
    cr_assert_eq(mv[0].points, -100);

    reverse_refused(T0 + 2, "m1", "e1", 0, "r2", JF_REVERSAL_EXCEEDED, "target_biz_no");
    reverse_refused(T0 + 2, "m1", "e1", 1, "r2", JF_REVERSAL_EXCEEDED, "target_biz_no");
    fx_verify_clean(&fx);
}

Test(refund, partial_reversals_add_up_and_never_exceed_the_earn) {
    jf_result e = fx_earn_ok(&fx, T0, "m1", 100, "e1");
    jf_result r = fx_reverse_ok(&fx, T0 + 1, "m1", "e1", 30, "r1");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, -30, 70);
    cr_assert_eq(r.reversed_points, 30);
    r = fx_reverse_ok(&fx, T0 + 2, "m1", "e1", 50, "r2");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, -50, 20);
    FX_ASSERT_LOT(fx_lot(&fx, e.entry.lot_id), 20, JF_LOT_ACTIVE);

    /* 20 are left: 21 is too many, and nothing is written. */
    reverse_refused(T0 + 3, "m1", "e1", 21, "r3", JF_REVERSAL_EXCEEDED, "points");
    /* "All that is left" is 20. */
    r = fx_reverse_ok(&fx, T0 + 4, "m1", "e1", 0, "r3");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, -20, 0);
    cr_assert_eq(r.reversed_points, 20);
    reverse_refused(T0 + 5, "m1", "e1", 1, "r4", JF_REVERSAL_EXCEEDED, "target_biz_no");
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 0, 0, 0);
    fx_verify_clean(&fx);
}

Test(refund, earn_already_spent_becomes_debt_paid_off_by_the_next_earn) {
    jf_result e1 = fx_earn_ok(&fx, T0, "m1", 100, "e1");
    fx_spend_ok(&fx, T0 + 1, "m1", 80, "s1");
    jf_result r = fx_reverse_ok(&fx, T0 + 2, "m1", "e1", 0, "r1");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, -100, 0);
    FX_ASSERT_ACCT(r.entry.delta, -20, 0, 0, 80, -100, 0, 0);
    cr_assert_eq(r.reversed_points, 20);
    cr_assert_eq(r.debt_points, 80);
    cr_assert_eq(r.clamped_points, 0);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 80, 0, 80, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e1.entry.lot_id), 0, JF_LOT_ACTIVE);
    fx_verify_clean(&fx);

    /* The next 50 points all go to the debt. */
    jf_result e2 = fx_earn_ok(&fx, T0 + 3, "m1", 50, "e2");
    FX_ASSERT_ENTRY(e2.entry, JF_ENTRY_EARN, 50, 0);
    FX_ASSERT_ACCT(e2.entry.delta, 0, 0, 0, -50, 50, 0, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e2.entry.lot_id), 0, JF_LOT_ACTIVE);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 30, 50, 80, 0);
    /* Still nothing to spend. */
    fx_state before = fx_snapshot(&fx);
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_spend(&fx, T0 + 4, &(jf_spend_req){.member_id = "m1", .points = 1, .biz_no = "s2"}, &out, &err);
    FX_ASSERT_FAIL(rc, JF_INSUFFICIENT_POINTS, err, "points");
    FX_ASSERT_UNCHANGED(&fx, before);

    /* The next 100: 30 pay the rest of the debt, 70 are available. */
    jf_result e3 = fx_earn_ok(&fx, T0 + 5, "m1", 100, "e3");
    FX_ASSERT_ENTRY(e3.entry, JF_ENTRY_EARN, 100, 70);
    FX_ASSERT_ACCT(e3.entry.delta, 70, 0, 0, -30, 100, 0, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e3.entry.lot_id), 70, JF_LOT_ACTIVE);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 70, 0, 0, 0, 150, 80, 0);
    /* A positive adjustment pays debt too. */
    fx_spend_ok(&fx, T0 + 6, "m1", 70, "s3");
    fx_reverse_ok(&fx, T0 + 7, "m1", "e3", 0, "r3");
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 100, 50, 150, 0);
    jf_result a = fx_adjust_ok(&fx, T0 + 8, "m1", 40, "a1");
    FX_ASSERT_ACCT(a.entry.delta, 0, 0, 0, -40, 40, 0, 0);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 60, 90, 150, 0);
    fx_verify_clean(&fx);
}

Test(refund, earn_reversal_takes_from_other_lots_first_expiring_first_before_debt) {
    jf_result e1 = earn_exp(T0, "m1", 100, "e1", T0 + 10 * DAY);
    jf_result e2 = earn_exp(T0, "m1", 50, "e2", JF_NEVER);
    jf_result e3 = earn_exp(T0, "m1", 20, "e3", T0 + 20 * DAY);
    /* 110: all of e1 (first-expiring), 10 of e3; e2 (never) untouched. */
    fx_spend_ok(&fx, T0 + 1, "m1", 110, "s1");
    FX_ASSERT_LOT(fx_lot(&fx, e1.entry.lot_id), 0, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, e3.entry.lot_id), 10, JF_LOT_ACTIVE);
    jf_result r = fx_reverse_ok(&fx, T0 + 2, "m1", "e1", 80, "r1");
    /* Own lot is empty: 10 from e3 (expires first), 50 from e2, 20 debt. */
    FX_ASSERT_ACCT(r.entry.delta, -60, 0, 0, 20, -80, 0, 0);
    cr_assert_eq(r.reversed_points, 60);
    cr_assert_eq(r.debt_points, 20);
    jf_lot_move mv[4];
    cr_assert_eq(fx_moves(&fx, r.entry.id, mv, 4), 2);
    cr_assert_eq(mv[0].lot_id, e3.entry.lot_id);
    cr_assert_eq(mv[0].points, -10);
    cr_assert_eq(mv[1].lot_id, e2.entry.lot_id);
    cr_assert_eq(mv[1].points, -50);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 20, 90, 110, 0);
    fx_verify_clean(&fx);
}

Test(refund, earn_reversal_takes_own_lot_before_others) {
    jf_result e1 = earn_exp(T0, "m1", 50, "e1", JF_NEVER);
    jf_result e2 = earn_exp(T0, "m1", 50, "e2", T0 + 10 * DAY);
    fx_spend_ok(&fx, T0 + 1, "m1", 30, "s1"); /* from e2, which expires first */
    FX_ASSERT_LOT(fx_lot(&fx, e2.entry.lot_id), 20, JF_LOT_ACTIVE);
    jf_result r = fx_reverse_ok(&fx, T0 + 2, "m1", "e2", 0, "r1");
    /* e2's own 20 first, then 30 from e1. */
    jf_lot_move mv[4];
    cr_assert_eq(fx_moves(&fx, r.entry.id, mv, 4), 2);
    cr_assert_eq(mv[0].lot_id, e2.entry.lot_id);
    cr_assert_eq(mv[0].points, -20);
    cr_assert_eq(mv[1].lot_id, e1.entry.lot_id);
    cr_assert_eq(mv[1].points, -30);
    FX_ASSERT_LOT(fx_lot(&fx, e2.entry.lot_id), 0, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, e1.entry.lot_id), 20, JF_LOT_ACTIVE);
    cr_assert_eq(r.reversed_points, 50);
    cr_assert_eq(r.debt_points, 0);
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, -50, 20);
    FX_ASSERT_ACCT(r.entry.delta, -50, 0, 0, 0, -50, 0, 0);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 20, 0, 0, 0, 50, 30, 0);
    fx_verify_clean(&fx);
}

Test(refund, reversing_an_earn_that_paid_debt_restores_the_debt) {
    fx_earn_ok(&fx, T0, "m1", 30, "e0");
    fx_spend_ok(&fx, T0, "m1", 30, "s0");
    fx_reverse_ok(&fx, T0, "m1", "e0", 0, "r0"); /* debt 30 */
    jf_result e1 = fx_earn_ok(&fx, T0 + 1, "m1", 100, "e1");
    FX_ASSERT_LOT(fx_lot(&fx, e1.entry.lot_id), 70, JF_LOT_ACTIVE);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 70, 0, 0, 0, 100, 30, 0);
    jf_result r = fx_reverse_ok(&fx, T0 + 2, "m1", "e1", 0, "r1");
    cr_assert_eq(r.reversed_points, 70);
    cr_assert_eq(r.debt_points, 30);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 30, 0, 30, 0);
    fx_verify_clean(&fx);
}

Test(refund, debt_is_paid_off_by_a_pending_lot_when_it_activates) {
    fx_earn_ok(&fx, T0, "m1", 100, "e1");
    fx_spend_ok(&fx, T0, "m1", 100, "s1");
    fx_reverse_ok(&fx, T0 + 1, "m1", "e1", 0, "r1");
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 100, 0, 100, 0);

    /* Pending points do not pay debt while pending. */
    jf_earn_req p = {.member_id = "m1", .points = 60, .biz_no = "p1", .available_at_ms = T0 + DAY};
    jf_result e2 = earn_req(T0 + 2, &p);
    FX_ASSERT_ACCT(e2.entry.delta, 0, 0, 60, 0, 60, 0, 0);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 60, 100, 60, 100, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e2.entry.lot_id), 60, JF_LOT_PENDING);

    jf_job_stats st = fx_jobs_ok(&fx, T0 + DAY);
    cr_assert_eq(st.lots_activated, 1);
    cr_assert_eq(st.points_activated, 60);
    jf_entry e[8];
    size_t n = fx_entries(&fx, "m1", e, 8);
    cr_assert_eq(n, 5);
    FX_ASSERT_ENTRY(e[4], JF_ENTRY_ACTIVATE, 60, 0);
    FX_ASSERT_ACCT(e[4].delta, 0, 0, -60, -60, 0, 0, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e2.entry.lot_id), 0, JF_LOT_ACTIVE);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 40, 60, 100, 0);

    /* Two pending lots activating in one run: 40 of debt left, 100 arrive. */
    p.biz_no = "p2";
    p.points = 30;
    p.available_at_ms = T0 + 2 * DAY;
    jf_result e3 = earn_req(T0 + DAY + 1, &p);
    p.biz_no = "p3";
    p.points = 70;
    jf_result e4 = earn_req(T0 + DAY + 2, &p);
    st = fx_jobs_ok(&fx, T0 + 2 * DAY);
    cr_assert_eq(st.lots_activated, 2);
    n = fx_entries(&fx, "m1", e, 8);
    cr_assert_eq(n, 8);
    FX_ASSERT_ENTRY(e[7], JF_ENTRY_ACTIVATE, 100, 60);
    FX_ASSERT_ACCT(e[7].delta, 60, 0, -100, -40, 0, 0, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e3.entry.lot_id), 0, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, e4.entry.lot_id), 60, JF_LOT_ACTIVE);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 60, 0, 0, 0, 160, 100, 0);
    fx_verify_clean(&fx);
}

Test(refund, clamp_policy_forgives_the_shortfall_and_reports_it) {
    use_clamp_policy();
    jf_result e1 = fx_earn_ok(&fx, T0, "m1", 100, "e1");
    fx_spend_ok(&fx, T0 + 1, "m1", 80, "s1");
    jf_result r = fx_reverse_ok(&fx, T0 + 2, "m1", "e1", 0, "r1");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, -100, 0);
    FX_ASSERT_ACCT(r.entry.delta, -20, 0, 0, 0, -20, 0, 0);
    cr_assert_eq(r.reversed_points, 20);
    cr_assert_eq(r.debt_points, 0);
    cr_assert_eq(r.clamped_points, 80);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 80, 80, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e1.entry.lot_id), 0, JF_LOT_ACTIVE);
    /* The earn counts as fully reversed. */
    reverse_refused(T0 + 3, "m1", "e1", 1, "r2", JF_REVERSAL_EXCEEDED, "target_biz_no");
    /* No debt: the next points are all available. */
    jf_result e2 = fx_earn_ok(&fx, T0 + 4, "m1", 50, "e2");
    FX_ASSERT_ENTRY(e2.entry, JF_ENTRY_EARN, 50, 50);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 50, 0, 0, 0, 130, 80, 0);
    fx_verify_clean(&fx);
}

Test(refund, clamp_policy_partial_shortfall) {
    use_clamp_policy();
    fx_earn_ok(&fx, T0, "m1", 100, "e1");
    fx_spend_ok(&fx, T0 + 1, "m1", 90, "s1");
    jf_result r = fx_reverse_ok(&fx, T0 + 2, "m1", "e1", 40, "r1");
    cr_assert_eq(r.reversed_points, 10);
    cr_assert_eq(r.clamped_points, 30);
    cr_assert_eq(r.debt_points, 0);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 90, 90, 0);
    /* 60 left to reverse, whatever was clamped. */
    reverse_refused(T0 + 3, "m1", "e1", 61, "r2", JF_REVERSAL_EXCEEDED, "points");
    r = fx_reverse_ok(&fx, T0 + 3, "m1", "e1", 0, "r2");
    cr_assert_eq(r.clamped_points, 60);
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, -60, 0);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 90, 90, 0);
    fx_verify_clean(&fx);
}

Test(refund, pending_earn_reversed_before_it_activates) {
    jf_earn_req p = {.member_id = "m1", .points = 100, .biz_no = "e1", .available_at_ms = T0 + DAY};
    jf_result e = earn_req(T0, &p);
    jf_result r = fx_reverse_ok(&fx, T0 + 1, "m1", "e1", 40, "r1");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, -40, 0);
    FX_ASSERT_ACCT(r.entry.delta, 0, 0, -40, 0, -40, 0, 0);
    cr_assert_eq(r.reversed_points, 40);
    FX_ASSERT_LOT(fx_lot(&fx, e.entry.lot_id), 60, JF_LOT_PENDING);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 60, 0, 60, 0, 0);
    jf_job_stats st = fx_jobs_ok(&fx, T0 + DAY);
    cr_assert_eq(st.points_activated, 60);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 60, 0, 0, 0, 60, 0, 0);
    FX_ASSERT_LOT(fx_lot(&fx, e.entry.lot_id), 60, JF_LOT_ACTIVE);
    fx_verify_clean(&fx);
}

Test(refund, fully_reversed_pending_earn_activates_without_a_zero_entry) {
    jf_earn_req p = {.member_id = "m1", .points = 100, .biz_no = "e1", .available_at_ms = T0 + DAY};
    jf_result e = earn_req(T0, &p);
    fx_reverse_ok(&fx, T0 + 1, "m1", "e1", 0, "r1");
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 0, 0, 0);
    fx_jobs_ok(&fx, T0 + DAY);
    jf_entry all[4];
    size_t n = fx_entries(&fx, "m1", all, 4);
    cr_assert_eq(n, 2, "regression: an empty pending lot must activate without a zero-point entry (%zu entries)", n);
    FX_ASSERT_LOT(fx_lot(&fx, e.entry.lot_id), 0, JF_LOT_ACTIVE);
    fx_verify_clean(&fx);
}

/* ---- reversing a spend or a capture ---- */

Test(refund, spend_reversal_restores_exactly_the_lots_it_took_latest_first) {
    jf_result a = earn_exp(T0, "m1", 50, "a", T0 + 10 * DAY);
    jf_result b = earn_exp(T0, "m1", 50, "b", JF_NEVER);
    jf_result s = fx_spend_ok(&fx, T0 + 1, "m1", 70, "s1"); /* a 50, b 20 */
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 0, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, b.entry.lot_id), 30, JF_LOT_ACTIVE);

    jf_result r = fx_reverse_ok(&fx, T0 + 2, "m1", "s1", 30, "r1");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, 30, 60);
    FX_ASSERT_ACCT(r.entry.delta, 30, 0, 0, 0, 0, -30, 0);
    cr_assert_eq(r.entry.ref_entry_id, s.entry.id);
    cr_assert_eq(r.reversed_points, 30);
    cr_assert_eq(r.debt_points, 0);
    jf_lot_move mv[4];
    cr_assert_eq(fx_moves(&fx, r.entry.id, mv, 4), 2);
    cr_assert_eq(mv[0].lot_id, b.entry.lot_id, "latest-taken first");
    cr_assert_eq(mv[0].points, 20);
    cr_assert_eq(mv[1].lot_id, a.entry.lot_id);
    cr_assert_eq(mv[1].points, 10);
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 10, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, b.entry.lot_id), 50, JF_LOT_ACTIVE);

    reverse_refused(T0 + 3, "m1", "s1", 41, "r2", JF_REVERSAL_EXCEEDED, "points");
    r = fx_reverse_ok(&fx, T0 + 3, "m1", "s1", 0, "r2");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, 40, 100);
    cr_assert_eq(fx_moves(&fx, r.entry.id, mv, 4), 1);
    cr_assert_eq(mv[0].lot_id, a.entry.lot_id);
    cr_assert_eq(mv[0].points, 40);
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 50, JF_LOT_ACTIVE);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 100, 0, 0, 0, 100, 0, 0);
    reverse_refused(T0 + 4, "m1", "s1", 0, "r3", JF_REVERSAL_EXCEEDED, "target_biz_no");
    fx_verify_clean(&fx);
}

Test(refund, spend_reversal_onto_an_expired_lot_expires_again) {
    jf_result a = earn_exp(T0, "m1", 50, "a", T0 + 10 * DAY);
    fx_spend_ok(&fx, T0 + 1, "m1", 50, "s1");
    int64_t later = T0 + 11 * DAY;
    jf_result r = fx_reverse_ok(&fx, later, "m1", "s1", 0, "r1");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, 50, 50);
    cr_assert_eq(r.reversed_points, 50);
    FX_ASSERT_ACCT(r.member.acct, 0, 0, 0, 0, 50, 0, 50);
    jf_entry e[6];
    cr_assert_eq(fx_entries(&fx, "m1", e, 6), 4);
    FX_ASSERT_ENTRY(e[3], JF_ENTRY_EXPIRE, -50, 0);
    cr_assert_eq(e[3].created_at_ms, later);
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 0, JF_LOT_EXPIRED);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 50, 0, 50);
    fx_state before = fx_snapshot(&fx);
    jf_job_stats st = fx_jobs_ok(&fx, later + 1);
    cr_assert_eq(st.lots_expired, 0);
    FX_ASSERT_UNCHANGED(&fx, before);
    fx_verify_clean(&fx);
}

Test(refund, partial_spend_reversal_split_between_live_and_expired_lots) {
    jf_result a = earn_exp(T0, "m1", 30, "a", T0 + 10 * DAY);
    jf_result b = earn_exp(T0, "m1", 30, "b", JF_NEVER);
    fx_spend_ok(&fx, T0 + 1, "m1", 50, "s1"); /* a 30, b 20 */
    int64_t later = T0 + 11 * DAY;
    jf_result r = fx_reverse_ok(&fx, later, "m1", "s1", 25, "r1"); /* b +20, a +5 */
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, 25, 35);
    FX_ASSERT_LOT(fx_lot(&fx, b.entry.lot_id), 30, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 0, JF_LOT_EXPIRED);
    jf_entry e[6];
    cr_assert_eq(fx_entries(&fx, "m1", e, 6), 5);
    FX_ASSERT_ENTRY(e[4], JF_ENTRY_EXPIRE, -5, 30);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 30, 0, 0, 0, 60, 25, 5);
    /* The rest goes to the expired lot and expires at once. */
    r = fx_reverse_ok(&fx, later + 1, "m1", "s1", 0, "r2");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, 25, 55);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 30, 0, 0, 0, 60, 0, 30);
    fx_verify_clean(&fx);
}

Test(refund, capture_reversal_restores_the_captured_lots) {
    jf_result a = earn_exp(T0, "m1", 30, "a", T0 + 10 * DAY);
    jf_result b = earn_exp(T0, "m1", 70, "b", JF_NEVER);
    jf_result h = fx_hold_ok(&fx, T0 + 1, "m1", 60, 600, "h1"); /* a 30, b 30 */
    jf_result c = fx_capture_ok(&fx, T0 + 2, h.hold.id, 40, "c1"); /* keeps a 30, b 10 */
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 0, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, b.entry.lot_id), 60, JF_LOT_ACTIVE);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 60, 0, 0, 0, 100, 40, 0);

    jf_result r = fx_reverse_ok(&fx, T0 + 3, "m1", "c1", 15, "r1");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, 15, 75);
    FX_ASSERT_ACCT(r.entry.delta, 15, 0, 0, 0, 0, -15, 0);
    cr_assert_eq(r.entry.ref_entry_id, c.entry.id);
    /* Latest-taken first among what the capture kept: b 10, then a 5. */
    FX_ASSERT_LOT(fx_lot(&fx, b.entry.lot_id), 70, JF_LOT_ACTIVE);
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 5, JF_LOT_ACTIVE);
    reverse_refused(T0 + 4, "m1", "c1", 26, "r2", JF_REVERSAL_EXCEEDED, "points");
    r = fx_reverse_ok(&fx, T0 + 4, "m1", "c1", 0, "r2");
    FX_ASSERT_ENTRY(r.entry, JF_ENTRY_REVERSE, 25, 100);
    FX_ASSERT_LOT(fx_lot(&fx, a.entry.lot_id), 30, JF_LOT_ACTIVE);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 100, 0, 0, 0, 100, 0, 0);
    reverse_refused(T0 + 5, "m1", "c1", 0, "r3", JF_REVERSAL_EXCEEDED, "target_biz_no");
    fx_verify_clean(&fx);
}

/* ---- what cannot be reversed ---- */

Test(refund, only_earns_spends_and_captures_are_reversible) {
    fx_earn_ok(&fx, T0, "m1", 100, "e1");
    fx_earn_ok(&fx, T0, "m2", 100, "m2e1");
    fx_adjust_ok(&fx, T0, "m1", 5, "a1");
    jf_result h1 = fx_hold_ok(&fx, T0, "m1", 10, 600, "h1");
    fx_hold_ok(&fx, T0, "m1", 10, 600, "h2");
    fx_release_ok(&fx, T0 + 1, h1.hold.id, "rl1");
    fx_reverse_ok(&fx, T0 + 2, "m1", "e1", 1, "v1");

    reverse_refused(T0 + 3, "m1", "a1", 0, "x1", JF_NOT_REVERSIBLE, "target_biz_no");
    reverse_refused(T0 + 3, "m1", "h2", 0, "x1", JF_NOT_REVERSIBLE, "target_biz_no");
    reverse_refused(T0 + 3, "m1", "rl1", 0, "x1", JF_NOT_REVERSIBLE, "target_biz_no");
    reverse_refused(T0 + 3, "m1", "v1", 0, "x1", JF_NOT_REVERSIBLE, "target_biz_no");
    reverse_refused(T0 + 3, "m1", "nope", 0, "x1", JF_NOT_FOUND, "target_biz_no");
    /* Another member's earn does not exist for this member. */
    reverse_refused(T0 + 3, "m1", "m2e1", 0, "x1", JF_NOT_FOUND, "target_biz_no");
    reverse_refused(T0 + 3, "ghost", "e1", 0, "x1", JF_NOT_FOUND, "member_id");
    reverse_refused(T0 + 3, "m1", "e1", 0, "e1", JF_INVALID_FIELD, "biz_no");
    reverse_refused(T0 + 3, "m1", "e1", JF_POINTS_MAX + 1, "x1", JF_INVALID_FIELD, "points");
    reverse_refused(T0 + 3, "m1", "e1", -1, "x1", JF_INVALID_FIELD, "points");
    reverse_refused(T0 + 3, "m1", "", 0, "x1", JF_INVALID_FIELD, "target_biz_no");
    /* A reversal in another tenant does not see this tenant's earn. */
    jf_tenant t1 = fx.tenant;
    fx_tenant_create(&fx, "t2", NULL, NULL, JF_REFUND_DEBT);
    fx_earn_ok(&fx, T0, "m1", 1, "t2e1");
    reverse_refused(T0 + 3, "m1", "e1", 0, "x1", JF_NOT_FOUND, "target_biz_no");
    fx.tenant = t1;
    fx_verify_clean(&fx);
}

/* ---- debt and returning points ---- */

Test(refund, spend_reversal_while_in_debt_pays_the_debt_first) {
    fx_earn_ok(&fx, T0, "m1", 100, "e1");
    fx_spend_ok(&fx, T0 + 1, "m1", 100, "s1");
    fx_reverse_ok(&fx, T0 + 2, "m1", "e1", 0, "r1"); /* the order is refunded: debt 100 */
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 100, 0, 100, 0);
    /* The redemption is cancelled too: its 100 points come back. */
    jf_result r = fx_reverse_ok(&fx, T0 + 3, "m1", "s1", 0, "r2");
    fx_verify_clean(&fx);
    jf_member m = fx_member(&fx, "m1");
    /* Regression: returned points pay the debt first. */
    FX_ASSERT_ACCT(m.acct, 0, 0, 0, 0, 0, 0, 0);
    (void)r;
}

Test(refund, released_hold_while_in_debt_pays_the_debt_first) {
    fx_earn_ok(&fx, T0, "m1", 100, "e1");
    jf_result h = fx_hold_ok(&fx, T0 + 1, "m1", 100, 600, "h1");
    /* The earn is refunded while its points sit in a checkout hold. */
    jf_result r = fx_reverse_ok(&fx, T0 + 2, "m1", "e1", 0, "r1");
    cr_assert_eq(r.debt_points, 100);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 100, 0, 100, 0, 0, 0);
    /* The checkout is abandoned. */
    fx_release_ok(&fx, T0 + 3, h.hold.id, "rl1");
    fx_verify_clean(&fx);
    jf_member m = fx_member(&fx, "m1");
    /* Regression: released points pay the debt first. */
    FX_ASSERT_ACCT(m.acct, 0, 0, 0, 0, 0, 0, 0);
}

Test(refund, reversing_an_expired_earn_does_not_take_other_points) {
    earn_exp(T0, "m1", 100, "e1", T0 + 10 * DAY);
    earn_exp(T0, "m1", 50, "e2", JF_NEVER);
    fx_jobs_ok(&fx, T0 + 10 * DAY); /* e1's 100 expire */
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 50, 0, 0, 0, 150, 0, 100);
    /* The order behind e1 is refunded after its points expired. */
    jf_result r = fx_reverse_ok(&fx, T0 + 11 * DAY, "m1", "e1", 0, "r1");
    fx_verify_clean(&fx);
    jf_member m = fx_member(&fx, "m1");
    /* Regression: the expired part comes back out of `expired`. */
    FX_ASSERT_ACCT(m.acct, 50, 0, 0, 0, 50, 0, 0);
    cr_assert_eq(r.debt_points, 0);
    cr_assert_eq(r.reversed_points, 100);
}

/* Regression: when the jobs run after a pending lot's expiry as well as its
 * activation, the lot activates and expires in one pass and pays no debt —
 * expired points settle nothing. */
Test(refund, late_jobs_do_not_pay_debt_with_points_already_expired) {
    fx_earn_ok(&fx, T0, "m1", 100, "e1");
    fx_spend_ok(&fx, T0, "m1", 100, "s1");
    fx_reverse_ok(&fx, T0 + 1, "m1", "e1", 0, "r1"); /* debt 100 */
    jf_earn_req p = {.member_id = "m1", .points = 60, .biz_no = "p1", .available_at_ms = T0 + DAY,
                     .expires_at_ms = T0 + 10 * DAY};
    jf_result e2 = earn_req(T0 + 2, &p);
    jf_job_stats st = fx_jobs_ok(&fx, T0 + 20 * DAY); /* both due by now */
    cr_assert_eq(st.points_activated, 60);
    cr_assert_eq(st.points_expired, 60);
    FX_ASSERT_LOT(fx_lot(&fx, e2.entry.lot_id), 0, JF_LOT_EXPIRED);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 100, 60, 100, 60);
    fx_verify_clean(&fx);
}
