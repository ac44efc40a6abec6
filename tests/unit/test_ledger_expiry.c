/*
 * test_ledger_expiry.c — expiry through the engine (suite "ledger_expiry"):
 * the tenant's policy decides each lot's expires_at when points are earned,
 * and the jobs (or the member's next operation) expire them exactly at that
 * instant — not a millisecond earlier — with one expire entry per member per
 * run.  Policies in Asia/Shanghai and America/New_York (DST), across month
 * ends, year ends and 2028-02-29.  The calendar itself is unit-tested in
 * test_expiry.c; here the point is that the engine uses it as specified.
 *
 * Expected instants are RFC 3339 literals with the zone's offset, parsed by
 * jf_parse_rfc3339 (plain arithmetic, no zone data).
 */
#include <stdio.h>

#include "fixture.h"

TestSuite(ledger_expiry, .init = fx_setup, .fini = fx_teardown, .timeout = 30);

#define SH "Asia/Shanghai"
#define NY "America/New_York"
#define DAY FX_DAY

static void use_tenant(const char *slug, const char *tz, jf_expiry_policy p) {
    fx_tenant_create(&fx, slug, tz, &p, JF_REFUND_DEBT);
}

/* Earn at `at` (RFC 3339) and return the lot's expires_at. */
static int64_t earn_at(const char *member, const char *biz, int64_t points, const char *at) {
    jf_result r = fx_earn_ok(&fx, fx_time(at), member, points, biz);
    return fx_lot(&fx, r.entry.lot_id).expires_at_ms;
}

#define ASSERT_EXPIRES(got_ms, want_rfc3339)                                                                   \
    do {                                                                                                     \
        int64_t want_ = fx_time(want_rfc3339);                                                               \
        cr_assert_eq((got_ms), want_, "expires_at %lld, want %lld (%s)", (long long)(got_ms), (long long)want_, \
                     want_rfc3339);                                                                          \
    } while (0)

/* Jobs one millisecond before `at` do nothing; at `at` they expire `points`
 * of `lots` lots of one member, in one expire entry; a rerun does nothing. */
static void expect_expiry_at(const char *member, int64_t at, int64_t lots, int64_t points) {
    fx_state before = fx_snapshot(&fx);
    jf_member m0 = fx_member(&fx, member);
    jf_job_stats st = fx_jobs_ok(&fx, at - 1);
    cr_assert_eq(st.lots_expired, 0, "nothing expires 1 ms early");
    FX_ASSERT_UNCHANGED(&fx, before);

    st = fx_jobs_ok(&fx, at);
    cr_assert_eq(st.lots_expired, lots);
    cr_assert_eq(st.points_expired, points);
    cr_assert_eq(st.members_settled, 1);
    jf_member m = fx_member(&fx, member);
    cr_assert_eq(m.entry_seq, m0.entry_seq + 1, "one expire entry");
    cr_assert_eq(m.acct.expired, m0.acct.expired + points);
    cr_assert_eq(m.acct.available, m0.acct.available - points);
    static jf_entry e[256];
    size_t n = fx_entries(&fx, member, e, 256);
    cr_assert(n >= 1 && n <= 256);
    FX_ASSERT_ENTRY(e[n - 1], JF_ENTRY_EXPIRE, -points, m.acct.available);
    FX_ASSERT_ACCT(e[n - 1].delta, -points, 0, 0, 0, 0, 0, points);
    cr_assert_eq(e[n - 1].created_at_ms, at);
    cr_assert_str_eq(e[n - 1].biz_no, "");

    before = fx_snapshot(&fx);
    st = fx_jobs_ok(&fx, at);
    cr_assert_eq(st.lots_expired, 0, "a second run does nothing");
    cr_assert_eq(st.members_settled, 0);
    FX_ASSERT_UNCHANGED(&fx, before);
    fx_verify_clean(&fx);
}

Test(ledger_expiry, never) {
    int64_t exp = earn_at("m1", "e1", 100, "2026-01-15T10:00:00+08:00");
    cr_assert_eq(exp, JF_NEVER);
    fx_state before = fx_snapshot(&fx);
    jf_job_stats st = fx_jobs_ok(&fx, fx_time("2199-12-31T00:00:00Z"));
    cr_assert_eq(st.lots_expired, 0);
    FX_ASSERT_UNCHANGED(&fx, before);
}

Test(ledger_expiry, rolling_days_shanghai) {
    use_tenant("sh", SH, fx_policy_rolling(30, JF_UNIT_DAYS, JF_ROUND_NONE));
    int64_t exp = earn_at("m1", "e1", 100, "2026-01-15T10:20:30+08:00");
    ASSERT_EXPIRES(exp, "2026-02-14T10:20:30+08:00");
    expect_expiry_at("m1", exp, 1, 100);
    jf_lot lot[2];
    cr_assert_eq(fx_lots(&fx, "m1", lot, 2), 1);
    FX_ASSERT_LOT(lot[0], 0, JF_LOT_EXPIRED);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 100, 0, 100);
}

Test(ledger_expiry, rolling_days_across_year_end_and_leap_day) {
    use_tenant("sh", SH, fx_policy_rolling(1, JF_UNIT_DAYS, JF_ROUND_NONE));
    ASSERT_EXPIRES(earn_at("m1", "e1", 1, "2026-12-31T23:59:59+08:00"), "2027-01-01T23:59:59+08:00");
    ASSERT_EXPIRES(earn_at("m2", "e2", 1, "2028-02-28T08:00:00+08:00"), "2028-02-29T08:00:00+08:00");
    ASSERT_EXPIRES(earn_at("m3", "e3", 1, "2028-02-29T12:00:00+08:00"), "2028-03-01T12:00:00+08:00");
    expect_expiry_at("m1", fx_time("2027-01-01T23:59:59+08:00"), 1, 1);
    expect_expiry_at("m2", fx_time("2028-02-29T08:00:00+08:00"), 1, 1);
    expect_expiry_at("m3", fx_time("2028-03-01T12:00:00+08:00"), 1, 1);
}

Test(ledger_expiry, rolling_months_rounded_to_month_end_shanghai) {
    use_tenant("sh", SH, fx_policy_rolling(1, JF_UNIT_MONTHS, JF_ROUND_MONTH));
    /* Jan 31 + 1 month = Feb 28, rounded up to the end of February. */
    int64_t exp = earn_at("m1", "e1", 40, "2026-01-31T10:00:00+08:00");
    ASSERT_EXPIRES(exp, "2026-03-01T00:00:00+08:00");
    /* Earned the next day: Feb 1 + 1 month = Mar 1 → end of March. */
    ASSERT_EXPIRES(earn_at("m1", "e2", 2, "2026-02-01T10:00:00+08:00"), "2026-04-01T00:00:00+08:00");
    /* Across the year end. */
    ASSERT_EXPIRES(earn_at("m2", "e3", 3, "2026-12-31T23:59:59+08:00"), "2027-02-01T00:00:00+08:00");
    /* Into the leap February. */
    ASSERT_EXPIRES(earn_at("m3", "e4", 4, "2028-01-31T10:00:00+08:00"), "2028-03-01T00:00:00+08:00");
    expect_expiry_at("m1", exp, 1, 40);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 2, 0, 0, 0, 42, 0, 40);
}

Test(ledger_expiry, rolling_months_from_the_leap_day) {
    use_tenant("sh", SH, fx_policy_rolling(12, JF_UNIT_MONTHS, JF_ROUND_NONE));
    int64_t exp = earn_at("m1", "e1", 29, "2028-02-29T12:00:00+08:00");
    ASSERT_EXPIRES(exp, "2029-02-28T12:00:00+08:00");
    expect_expiry_at("m1", exp, 1, 29);
}

Test(ledger_expiry, annual_clearing_shanghai_one_entry_for_two_lots) {
    use_tenant("sh", SH, fx_policy_annual(12, 31, 1));
    /* Everything earned in 2026 clears at the end of 2027. */
    int64_t a = earn_at("m1", "e1", 10, "2026-06-01T12:00:00+08:00");
    int64_t b = earn_at("m1", "e2", 20, "2026-12-31T23:59:59+08:00");
    int64_t c = earn_at("m1", "e3", 40, "2027-01-01T00:00:00+08:00");
    ASSERT_EXPIRES(a, "2028-01-01T00:00:00+08:00");
    ASSERT_EXPIRES(b, "2028-01-01T00:00:00+08:00");
    ASSERT_EXPIRES(c, "2029-01-01T00:00:00+08:00");
    expect_expiry_at("m1", a, 2, 30);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 40, 0, 0, 0, 70, 0, 30);
    expect_expiry_at("m1", c, 1, 40);
}

Test(ledger_expiry, annual_clearing_new_york) {
    use_tenant("ny", NY, fx_policy_annual(12, 31, 1));
    /* 23:30 on Dec 31 in New York is already 2027 in UTC: still a 2026 earn. */
    int64_t a = earn_at("m1", "e1", 10, "2026-12-31T23:30:00-05:00");
    ASSERT_EXPIRES(a, "2028-01-01T00:00:00-05:00");
    int64_t b = earn_at("m2", "e2", 10, "2027-01-01T00:00:00-05:00");
    ASSERT_EXPIRES(b, "2029-01-01T00:00:00-05:00");
    /* A summer earn (EDT) clears at the same winter (EST) midnight. */
    ASSERT_EXPIRES(earn_at("m1", "e3", 15, "2026-07-04T12:00:00-04:00"), "2028-01-01T00:00:00-05:00");
    expect_expiry_at("m1", a, 2, 25);
    expect_expiry_at("m2", b, 1, 10);
}

Test(ledger_expiry, annual_clearing_on_february_28_across_the_leap_day) {
    use_tenant("ny", NY, fx_policy_annual(2, 28, 0));
    /* The 2028 clearing is at the end of Feb 28, i.e. 2028-02-29T00:00: an
     * earn on the leap day is after it and clears a year later. */
    int64_t a = earn_at("m1", "e1", 5, "2028-02-28T23:59:59-05:00");
    ASSERT_EXPIRES(a, "2028-02-29T00:00:00-05:00");
    int64_t b = earn_at("m2", "e2", 7, "2028-02-29T12:00:00-05:00");
    ASSERT_EXPIRES(b, "2029-03-01T00:00:00-05:00");
    expect_expiry_at("m1", a, 1, 5);
    expect_expiry_at("m2", b, 1, 7);
}

Test(ledger_expiry, rolling_day_across_dst_new_york) {
    use_tenant("ny", NY, fx_policy_rolling(1, JF_UNIT_DAYS, JF_ROUND_NONE));
    /* The spring-forward day has 23 hours: one local day later. */
    int64_t a = earn_at("m1", "e1", 8, "2026-03-07T12:00:00-05:00");
    ASSERT_EXPIRES(a, "2026-03-08T12:00:00-04:00");
    cr_assert_eq(a - fx_time("2026-03-07T12:00:00-05:00"), 23 * FX_HOUR);
    /* The fall-back day has 25. */
    int64_t b = earn_at("m2", "e2", 9, "2026-10-31T12:00:00-04:00");
    ASSERT_EXPIRES(b, "2026-11-01T12:00:00-05:00");
    cr_assert_eq(b - fx_time("2026-10-31T12:00:00-04:00"), 25 * FX_HOUR);
    expect_expiry_at("m1", a, 1, 8);
    expect_expiry_at("m2", b, 1, 9);
}

Test(ledger_expiry, rolling_month_rounded_across_dst_and_month_end_new_york) {
    use_tenant("ny", NY, fx_policy_rolling(1, JF_UNIT_MONTHS, JF_ROUND_MONTH));
    int64_t a = earn_at("m1", "e1", 3, "2026-10-31T10:00:00-04:00");
    ASSERT_EXPIRES(a, "2026-12-01T00:00:00-05:00");
    expect_expiry_at("m1", a, 1, 3);
}

Test(ledger_expiry, adjustment_and_pending_earn_follow_the_policy) {
    use_tenant("sh", SH, fx_policy_rolling(10, JF_UNIT_DAYS, JF_ROUND_NONE));
    int64_t t = fx_time("2026-01-15T10:00:00+08:00");
    jf_result a = fx_adjust_ok(&fx, t, "m1", 5, "a1");
    ASSERT_EXPIRES(fx_lot(&fx, a.entry.lot_id).expires_at_ms, "2026-01-25T10:00:00+08:00");
    /* Pending: the policy counts from the earn, not from activation. */
    jf_earn_req r = {.member_id = "m1", .points = 6, .biz_no = "p1", .available_at_ms = t + 3 * DAY};
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_earn(&fx, t, &r, &out, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    ASSERT_EXPIRES(fx_lot(&fx, out.entry.lot_id).expires_at_ms, "2026-01-25T10:00:00+08:00");
    /* Activation after the policy's expiry would make points that can never
     * be used: refused, nothing written. */
    fx_state before = fx_snapshot(&fx);
    r.biz_no = "p2";
    r.available_at_ms = t + 10 * DAY;
    rc = fx_earn(&fx, t, &r, &out, &err);
    FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "expires_at");
    FX_ASSERT_UNCHANGED(&fx, before);
    /* An explicit expiry overrides the policy, JF_NEVER included. */
    r = (jf_earn_req){.member_id = "m1", .points = 7, .biz_no = "x1", .expires_at_ms = JF_NEVER};
    rc = fx_earn(&fx, t, &r, &out, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(fx_lot(&fx, out.entry.lot_id).expires_at_ms, JF_NEVER);
    /* Both policy lots expire together in one entry; the pending one
     * activates in the same run, then expires. */
    jf_job_stats st = fx_jobs_ok(&fx, fx_time("2026-01-25T10:00:00+08:00"));
    cr_assert_eq(st.lots_activated, 1);
    cr_assert_eq(st.lots_expired, 2);
    cr_assert_eq(st.points_expired, 11);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 7, 0, 0, 0, 18, 0, 11);
    fx_verify_clean(&fx);
}

Test(ledger_expiry, one_expire_entry_per_member_per_run) {
    int64_t t = FX_T0;
    const int64_t exp[3] = {t + 1 * DAY, t + 2 * DAY, t + 3 * DAY};
    for (int i = 0; i < 3; i++) {
        char biz[16];
        snprintf(biz, sizeof biz, "m1e%d", i);
        jf_earn_req r = {.member_id = "m1", .points = 10 * (i + 1), .biz_no = biz, .expires_at_ms = exp[i]};
        jf_result out;
        jf_error err = {0};
        jf_code rc = fx_earn(&fx, t, &r, &out, &err);
        FX_ASSERT_CODE(rc, JF_OK, err);
    }
    jf_earn_req r2 = {.member_id = "m2", .points = 5, .biz_no = "m2e", .expires_at_ms = exp[0]};
    jf_earn_req r3 = {.member_id = "m3", .points = 5, .biz_no = "m3e", .expires_at_ms = t + 30 * DAY};
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_earn(&fx, t, &r2, &out, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    rc = fx_earn(&fx, t, &r3, &out, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);

    jf_job_stats st = fx_jobs_ok(&fx, t + 3 * DAY);
    cr_assert_eq(st.members_settled, 2);
    cr_assert_eq(st.lots_expired, 4);
    cr_assert_eq(st.points_expired, 65);
    jf_entry e[8];
    cr_assert_eq(fx_entries(&fx, "m1", e, 8), 4);
    FX_ASSERT_ENTRY(e[3], JF_ENTRY_EXPIRE, -60, 0);
    cr_assert_eq(fx_entries(&fx, "m2", e, 8), 2);
    FX_ASSERT_ENTRY(e[1], JF_ENTRY_EXPIRE, -5, 0);
    cr_assert_eq(fx_entries(&fx, "m3", e, 8), 1, "a member with nothing due is untouched");
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 60, 0, 60);
    fx_verify_clean(&fx);
}

Test(ledger_expiry, operations_settle_expiry_first) {
    jf_earn_req r = {.member_id = "m1", .points = 50, .biz_no = "e1", .expires_at_ms = FX_T0 + DAY};
    jf_result out;
    jf_error err = {0};
    jf_code rc = fx_earn(&fx, FX_T0, &r, &out, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    /* At the expiry instant the points are gone: the spend is refused, and
     * the refusal writes nothing (not even the expiry). */
    fx_state before = fx_snapshot(&fx);
    rc = fx_spend(&fx, FX_T0 + DAY, &(jf_spend_req){.member_id = "m1", .points = 50, .biz_no = "s1"}, &out, &err);
    FX_ASSERT_FAIL(rc, JF_INSUFFICIENT_POINTS, err, "points");
    FX_ASSERT_UNCHANGED(&fx, before);
    /* One millisecond before, they can be spent. */
    rc = fx_spend(&fx, FX_T0 + DAY - 1, &(jf_spend_req){.member_id = "m1", .points = 20, .biz_no = "s1"}, &out,
                  &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    /* An earn after the expiry writes the expiry first. */
    jf_result e2 = fx_earn_ok(&fx, FX_T0 + DAY, "m1", 5, "e2");
    FX_ASSERT_ENTRY(e2.entry, JF_ENTRY_EARN, 5, 5);
    jf_entry e[6];
    cr_assert_eq(fx_entries(&fx, "m1", e, 6), 4);
    FX_ASSERT_ENTRY(e[2], JF_ENTRY_EXPIRE, -30, 0);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 5, 0, 0, 0, 55, 20, 30);
    fx_verify_clean(&fx);
}

/* ---- points expiring soon ---- */

Test(ledger_expiry, expiring_window) {
    int64_t t = FX_T0;
    struct {
        const char *biz;
        int64_t points;
        int64_t expires;
    } lots[] = {
        {"d3", 5, t + 3 * DAY},   /* spent below: not listed */
        {"d5", 10, t + 5 * DAY},
        {"d10", 20, t + 10 * DAY}, /* exactly at the end of a 10-day window: outside it */
        {"d40", 40, t + 40 * DAY},
        {"never", 80, JF_NEVER},
    };
    for (size_t i = 0; i < sizeof lots / sizeof lots[0]; i++) {
        jf_earn_req r = {.member_id = "m1", .points = lots[i].points, .biz_no = lots[i].biz,
                         .expires_at_ms = lots[i].expires};
        jf_result out;
        jf_error err = {0};
        jf_code rc = fx_earn(&fx, t, &r, &out, &err);
        FX_ASSERT_CODE(rc, JF_OK, err);
    }
    fx_spend_ok(&fx, t, "m1", 5, "s1");

    jf_ctx c = fx_ctx(&fx, t);
    jf_lot out[JF_PAGE_LIMIT_MAX];
    size_t n = 0;
    int64_t total = 0;
    jf_error err = {0};
    cr_assert_eq(fx.store->ops->begin_read(fx.store, &err), JF_OK);
    jf_code rc = jf_expiring(&c, "m1", 10, out, JF_PAGE_LIMIT_MAX, &n, &total, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(n, 1);
    cr_assert_eq(total, 10);
    cr_assert_eq(out[0].expires_at_ms, t + 5 * DAY);
    rc = jf_expiring(&c, "m1", 11, out, JF_PAGE_LIMIT_MAX, &n, &total, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(n, 2);
    cr_assert_eq(total, 30);
    /* The page is cut, the total is not. */
    rc = jf_expiring(&c, "m1", JF_EXPIRING_DAYS_MAX, out, 1, &n, &total, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(n, 1);
    cr_assert_eq(total, 70);
    cr_assert_eq(out[0].expires_at_ms, t + 5 * DAY, "soonest first");
    /* Bad windows and pages. */
    rc = jf_expiring(&c, "m1", 0, out, 10, &n, &total, &err);
    FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "days");
    rc = jf_expiring(&c, "m1", JF_EXPIRING_DAYS_MAX + 1, out, 10, &n, &total, &err);
    FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "days");
    rc = jf_expiring(&c, "m1", 10, out, 0, &n, &total, &err);
    FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "limit");
    rc = jf_expiring(&c, "m1", 10, out, JF_PAGE_LIMIT_MAX + 1, &n, &total, &err);
    FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "limit");
    rc = jf_expiring(&c, "nobody", 10, out, 10, &n, &total, &err);
    FX_ASSERT_FAIL(rc, JF_NOT_FOUND, err, "member_id");
    fx.store->ops->rollback(fx.store);

    /* Later, the window moves with now (in local days). */
    c = fx_ctx(&fx, t + 2 * DAY);
    cr_assert_eq(fx.store->ops->begin_read(fx.store, &err), JF_OK);
    rc = jf_expiring(&c, "m1", 8, out, JF_PAGE_LIMIT_MAX, &n, &total, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(total, 10);
    rc = jf_expiring(&c, "m1", 9, out, JF_PAGE_LIMIT_MAX, &n, &total, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(total, 30);
    fx.store->ops->rollback(fx.store);
}

/* ---- more than one page of everything ---- */

/* Bulk writes in one transaction (thousands of commits would only test the
 * disk).  kind: 0 earn expiring at `at`, 1 earn pending until `at`, 2 hold
 * of 1 point with a ttl reaching `at`.  member NULL: one member per item. */
typedef struct {
    int kind;
    int count;
    const char *member;
    int64_t now;
    int64_t at;
} bulk_arg;

static jf_code bulk_tx(jf_store *s, void *arg, jf_error *err) {
    bulk_arg *a = arg;
    (void)s;
    jf_ctx c = fx_ctx(&fx, a->now);
    for (int i = 0; i < a->count; i++) {
        char member[32], biz[48];
        snprintf(member, sizeof member, "%s", a->member ? a->member : "");
        if (a->member == NULL) snprintf(member, sizeof member, "bulk-%d", i);
        snprintf(biz, sizeof biz, "bulk-%d-%d", a->kind, i);
        jf_result out;
        jf_code rc;
        if (a->kind == 0) {
            jf_earn_req r = {.member_id = member, .points = i + 1, .biz_no = biz, .expires_at_ms = a->at};
            rc = jf_earn(&c, &r, &out, err);
        } else if (a->kind == 1) {
            jf_earn_req r = {.member_id = member, .points = i + 1, .biz_no = biz, .available_at_ms = a->at};
            rc = jf_earn(&c, &r, &out, err);
        } else {
            jf_hold_req r = {.member_id = member, .points = 1, .biz_no = biz, .ttl_s = (a->at - a->now) / 1000};
            rc = jf_hold_create(&c, &r, &out, err);
        }
        if (rc != JF_OK) return rc;
    }
    return JF_OK;
}

static void bulk(int kind, int count, const char *member, int64_t now, int64_t at) {
    bulk_arg a = {kind, count, member, now, at};
    jf_error err = {0};
    jf_code rc = fx_tx(&fx, bulk_tx, &a, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
}

#define MANY (JF_LOT_BATCH + 6)
#define SUM_1_TO(n) ((int64_t)(n) * ((n) + 1) / 2)

Test(ledger_expiry, more_lots_than_a_page_expire_in_one_entry) {
    int64_t at = FX_T0 + DAY;
    bulk(0, MANY, "m1", FX_T0, at);
    expect_expiry_at("m1", at, MANY, SUM_1_TO(MANY));
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, SUM_1_TO(MANY), 0, SUM_1_TO(MANY));
}

Test(ledger_expiry, more_pending_lots_than_a_page_activate_in_one_entry) {
    int64_t at = FX_T0 + DAY;
    bulk(1, MANY, "m1", FX_T0, at);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, SUM_1_TO(MANY), 0, SUM_1_TO(MANY), 0, 0);
    jf_job_stats st = fx_jobs_ok(&fx, at);
    cr_assert_eq(st.lots_activated, MANY);
    cr_assert_eq(st.points_activated, SUM_1_TO(MANY));
    jf_member m = fx_member(&fx, "m1");
    FX_ASSERT_ACCT(m.acct, SUM_1_TO(MANY), 0, 0, 0, SUM_1_TO(MANY), 0, 0);
    cr_assert_eq(m.entry_seq, MANY + 1, "one activate entry");
    fx_verify_clean(&fx);
}

Test(ledger_expiry, more_holds_than_a_page_time_out) {
    fx_earn_ok(&fx, FX_T0, "m1", 1000, "e1");
    int64_t at = FX_T0 + FX_HOUR;
    bulk(2, MANY, "m1", FX_T0, at);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 1000 - MANY, MANY, 0, 0, 1000, 0, 0);
    jf_job_stats st = fx_jobs_ok(&fx, at);
    cr_assert_eq(st.holds_released, MANY);
    cr_assert_eq(st.points_released, MANY);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 1000, 0, 0, 0, 1000, 0, 0);
    fx_verify_clean(&fx);
}

Test(ledger_expiry, jobs_cover_more_members_than_one_transaction) {
    int count = JF_JOB_MEMBERS_PER_TX + 44;
    int64_t at = FX_T0 + DAY;
    bulk(0, count, NULL, FX_T0, at);
    fx_state before = fx_snapshot(&fx);
    jf_job_stats st = fx_jobs_ok(&fx, at - 1);
    cr_assert_eq(st.members_settled, 0);
    FX_ASSERT_UNCHANGED(&fx, before);
    st = fx_jobs_ok(&fx, at);
    cr_assert_eq(st.members_settled, count);
    cr_assert_eq(st.lots_expired, count);
    cr_assert_eq(st.points_expired, SUM_1_TO(count));
    FX_ASSERT_ACCT(fx_member(&fx, "bulk-0").acct, 0, 0, 0, 0, 1, 0, 1);
    char last[32];
    snprintf(last, sizeof last, "bulk-%d", count - 1);
    FX_ASSERT_ACCT(fx_member(&fx, last).acct, 0, 0, 0, 0, count, 0, count);
    before = fx_snapshot(&fx);
    st = fx_jobs_ok(&fx, at);
    cr_assert_eq(st.members_settled, 0);
    FX_ASSERT_UNCHANGED(&fx, before);
    fx_verify_clean(&fx);
}

Test(ledger_expiry, jobs_and_verify_cover_more_tenants_than_a_page) {
    /* 20 tenants (jobs and verify list them 16 at a time); each has one
     * member with a lot expiring at the same instant. */
    int64_t at = FX_T0 + DAY;
    for (int i = 0; i < 20; i++) {
        char slug[16];
        snprintf(slug, sizeof slug, "t-%d", i);
        fx_tenant_create(&fx, slug, i % 2 ? NY : SH, NULL, JF_REFUND_DEBT);
        jf_earn_req r = {.member_id = "m1", .points = 10, .biz_no = "e1", .expires_at_ms = at};
        jf_result out;
        jf_error err = {0};
        jf_code rc = fx_earn(&fx, FX_T0, &r, &out, &err);
        FX_ASSERT_CODE(rc, JF_OK, err);
    }
    jf_job_stats st = fx_jobs_ok(&fx, at);
    cr_assert_eq(st.members_settled, 20);
    cr_assert_eq(st.points_expired, 200);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 10, 0, 10); /* the last tenant's */
    fx_verify_clean(&fx);
    /* verify reaches the last tenant too. */
    jf_error err = {0};
    cr_assert_eq(jf_sqlite_exec_raw(fx.store, "UPDATE members SET expired = 9 WHERE id = (SELECT max(id) FROM members)",
                                    &err),
                 JF_OK, "%s", err.detail);
    fx_findings f = fx_verify(&fx);
    cr_assert_gt(f.count, 0);
    cr_assert_eq(f.tenant_id[0], fx.tenant.id);
}

Test(ledger_expiry, expiring_total_spans_more_lots_than_a_page) {
    bulk(0, MANY, "m1", FX_T0, FX_T0 + DAY);
    jf_ctx c = fx_ctx(&fx, FX_T0);
    jf_lot out[10];
    size_t n = 0;
    int64_t total = 0;
    jf_error err = {0};
    cr_assert_eq(fx.store->ops->begin_read(fx.store, &err), JF_OK);
    jf_code rc = jf_expiring(&c, "m1", 2, out, 10, &n, &total, &err);
    fx.store->ops->rollback(fx.store);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(n, 10);
    cr_assert_eq(total, SUM_1_TO(MANY));
}
