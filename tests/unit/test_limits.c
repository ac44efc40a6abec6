/*
 * test_limits.c — every limit of limits.h violated through the engine
 * (suite "limits"): each answered with its error code and the offending
 * field, and nothing written (the digest of every table is unchanged, no
 * member is created).  The largest allowed value of each is accepted.
 */
#include <stdio.h>

#include "fixture.h"

#define T0 FX_T0

static jf_result H0; /* an open hold of m1, for capture and release */

static void limits_setup(void) {
    fx_setup();
    fx_earn_ok(&fx, T0, "m1", 1000, "e0");
    H0 = fx_hold_ok(&fx, T0, "m1", 100, 600, "h0");
}

TestSuite(limits, .init = limits_setup, .fini = fx_teardown, .timeout = 60);

typedef enum { EARN, SPEND, HOLD, CAPTURE, RELEASE, REVERSE, ADJUST } op;

static jf_code run(op kind, const void *req, jf_result *out, jf_error *err) {
    int64_t now = T0 + 1;
    switch (kind) {
    case EARN: return fx_earn(&fx, now, req, out, err);
    case SPEND: return fx_spend(&fx, now, req, out, err);
    case HOLD: return fx_hold(&fx, now, req, out, err);
    case CAPTURE: return fx_capture(&fx, now, req, out, err);
    case RELEASE: return fx_release(&fx, now, req, out, err);
    case REVERSE: return fx_reverse(&fx, now, req, out, err);
    case ADJUST: return fx_adjust(&fx, now, req, out, err);
    }
    return JF_INTERNAL;
}

/* The request is refused with want/field and nothing is written. */
static void refused_at(int line, op kind, const void *req, jf_code want, const char *field) {
    fx_state before = fx_snapshot(&fx);
    jf_result out;
    jf_error err = {0};
    jf_code rc = run(kind, req, &out, &err);
    cr_assert_eq(rc, want, "line %d: got %s (field \"%s\": %s), want %s", line, jf_code_name(rc), err.field,
                 err.detail, jf_code_name(want));
    cr_assert_str_eq(err.field, field, "line %d: field \"%s\", want \"%s\" (%s)", line, err.field, field,
                     err.detail);
    cr_assert_neq(err.detail[0], '\0', "line %d: the error says what is wrong", line);
    FX_ASSERT_UNCHANGED(&fx, before);
}
#define REFUSED(kind, req, want, field) refused_at(__LINE__, kind, req, want, field)

static jf_result accepted_at(int line, op kind, const void *req) {
    jf_result out;
    jf_error err = {0};
    jf_code rc = run(kind, req, &out, &err);
    cr_assert_eq(rc, JF_OK, "line %d: got %s (field \"%s\": %s)", line, jf_code_name(rc), err.field, err.detail);
    return out;
}
#define ACCEPTED(kind, req) accepted_at(__LINE__, kind, req)

/* A string of n copies of c (n < 1024). */
static const char *repeat(char *buf, size_t cap, char c, size_t n) {
    cr_assert_lt(n, cap);
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

/* ---- points: 1..10^12 ---- */

Test(limits, points) {
    const int64_t bad[] = {0, -1, JF_POINTS_MAX + 1, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t p = bad[i];
        REFUSED(EARN, (&(jf_earn_req){.member_id = "new", .points = p, .biz_no = "x"}), JF_INVALID_FIELD, "points");
        REFUSED(SPEND, (&(jf_spend_req){.member_id = "m1", .points = p, .biz_no = "x"}), JF_INVALID_FIELD, "points");
        REFUSED(HOLD, (&(jf_hold_req){.member_id = "m1", .points = p, .biz_no = "x", .ttl_s = 60}),
                JF_INVALID_FIELD, "points");
        if (p != -1) /* an adjustment may be negative */
            REFUSED(ADJUST,
                    (&(jf_adjust_req){.member_id = "m1", .points = p, .biz_no = "x", .reason = "r",
                                      .operator_id = "o"}),
                    JF_INVALID_FIELD, "points");
        if (p == 0) continue; /* 0 means "all" for capture and reverse */
        REFUSED(CAPTURE, (&(jf_capture_req){.hold_id = H0.hold.id, .points = p, .biz_no = "x"}), JF_INVALID_FIELD,
                "points");
        REFUSED(REVERSE, (&(jf_reverse_req){.member_id = "m1", .target_biz_no = "e0", .points = p, .biz_no = "x"}),
                JF_INVALID_FIELD, "points");
    }
    /* Negative adjustments have the same bound. */
    REFUSED(ADJUST,
            (&(jf_adjust_req){.member_id = "m1", .points = -JF_POINTS_MAX - 1, .biz_no = "x", .reason = "r",
                              .operator_id = "o"}),
            JF_INVALID_FIELD, "points");
    cr_assert_not(fx_member_exists(&fx, "new"));

    /* The maximum is accepted by every operation. */
    jf_result e = ACCEPTED(EARN, (&(jf_earn_req){.member_id = "big", .points = JF_POINTS_MAX, .biz_no = "b1"}));
    FX_ASSERT_ENTRY(e.entry, JF_ENTRY_EARN, JF_POINTS_MAX, JF_POINTS_MAX);
    ACCEPTED(ADJUST, (&(jf_adjust_req){.member_id = "big", .points = JF_POINTS_MAX, .biz_no = "b2", .reason = "r",
                                       .operator_id = "o"}));
    jf_result h = ACCEPTED(HOLD, (&(jf_hold_req){.member_id = "big", .points = JF_POINTS_MAX, .biz_no = "b3",
                                                 .ttl_s = 60}));
    ACCEPTED(CAPTURE, (&(jf_capture_req){.hold_id = h.hold.id, .points = JF_POINTS_MAX, .biz_no = "b4"}));
    ACCEPTED(SPEND, (&(jf_spend_req){.member_id = "big", .points = JF_POINTS_MAX, .biz_no = "b5"}));
    ACCEPTED(REVERSE, (&(jf_reverse_req){.member_id = "big", .target_biz_no = "b5", .points = JF_POINTS_MAX,
                                         .biz_no = "b6"}));
    ACCEPTED(ADJUST, (&(jf_adjust_req){.member_id = "big", .points = -JF_POINTS_MAX, .biz_no = "b7", .reason = "r",
                                       .operator_id = "o"}));
    FX_ASSERT_ACCT(fx_member(&fx, "big").acct, 0, 0, 0, 0, 2 * JF_POINTS_MAX, 2 * JF_POINTS_MAX, 0);
    fx_verify_clean(&fx);
}

/* ---- biz_no: 1..64 printable ASCII ---- */

Test(limits, biz_no) {
    char b65[80], b64[80];
    repeat(b65, sizeof b65, 'k', 65);
    repeat(b64, sizeof b64, 'k', 64);
    const char *bad[] = {"", NULL, b65, "a b", " ", "订单1", "a\tb", "a\x7f", "\xc3\xa9t\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *b = bad[i];
        REFUSED(EARN, (&(jf_earn_req){.member_id = "new", .points = 1, .biz_no = b}), JF_INVALID_FIELD, "biz_no");
        REFUSED(SPEND, (&(jf_spend_req){.member_id = "m1", .points = 1, .biz_no = b}), JF_INVALID_FIELD, "biz_no");
        REFUSED(HOLD, (&(jf_hold_req){.member_id = "m1", .points = 1, .biz_no = b, .ttl_s = 60}), JF_INVALID_FIELD,
                "biz_no");
        REFUSED(CAPTURE, (&(jf_capture_req){.hold_id = H0.hold.id, .biz_no = b}), JF_INVALID_FIELD, "biz_no");
        REFUSED(RELEASE, (&(jf_release_req){.hold_id = H0.hold.id, .biz_no = b}), JF_INVALID_FIELD, "biz_no");
        REFUSED(REVERSE, (&(jf_reverse_req){.member_id = "m1", .target_biz_no = "e0", .biz_no = b}),
                JF_INVALID_FIELD, "biz_no");
        REFUSED(REVERSE, (&(jf_reverse_req){.member_id = "m1", .target_biz_no = b, .biz_no = "x"}),
                JF_INVALID_FIELD, "target_biz_no");
        REFUSED(ADJUST,
                (&(jf_adjust_req){.member_id = "m1", .points = 1, .biz_no = b, .reason = "r", .operator_id = "o"}),
                JF_INVALID_FIELD, "biz_no");
    }
    cr_assert_not(fx_member_exists(&fx, "new"));
    /* 64 characters, and every printable ASCII character, are fine. */
    jf_result e = ACCEPTED(EARN, (&(jf_earn_req){.member_id = "m1", .points = 1, .biz_no = b64}));
    cr_assert_str_eq(e.entry.biz_no, b64);
    ACCEPTED(EARN, (&(jf_earn_req){.member_id = "m1", .points = 1, .biz_no = "!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"}));
    ACCEPTED(REVERSE, (&(jf_reverse_req){.member_id = "m1", .target_biz_no = b64, .biz_no = "r64"}));
    fx_verify_clean(&fx);
}

/* ---- member id: 1..64 of [A-Za-z0-9_.:@-] ---- */

Test(limits, member_id) {
    char m65[80], m64[80];
    repeat(m65, sizeof m65, 'm', 65);
    repeat(m64, sizeof m64, 'm', 64);
    const char *bad[] = {"", NULL, m65, "a b", "a/b", "a#b", "a+b", "会员", "m\n", "m%41"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *m = bad[i];
        REFUSED(EARN, (&(jf_earn_req){.member_id = m, .points = 1, .biz_no = "x"}), JF_INVALID_FIELD, "member_id");
        REFUSED(SPEND, (&(jf_spend_req){.member_id = m, .points = 1, .biz_no = "x"}), JF_INVALID_FIELD,
                "member_id");
        REFUSED(HOLD, (&(jf_hold_req){.member_id = m, .points = 1, .biz_no = "x", .ttl_s = 60}), JF_INVALID_FIELD,
                "member_id");
        REFUSED(REVERSE, (&(jf_reverse_req){.member_id = m, .target_biz_no = "e0", .biz_no = "x"}),
                JF_INVALID_FIELD, "member_id");
        REFUSED(ADJUST,
                (&(jf_adjust_req){.member_id = m, .points = 1, .biz_no = "x", .reason = "r", .operator_id = "o"}),
                JF_INVALID_FIELD, "member_id");
        fx_state before = fx_snapshot(&fx);
        jf_member out;
        jf_error err = {0};
        jf_code rc = fx_upsert(&fx, T0, m, -1, &out, &err);
        FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "member_id");
        FX_ASSERT_UNCHANGED(&fx, before);
    }
    ACCEPTED(EARN, (&(jf_earn_req){.member_id = m64, .points = 1, .biz_no = "x1"}));
    ACCEPTED(EARN, (&(jf_earn_req){.member_id = "Az09_.:@-", .points = 1, .biz_no = "x2"}));
    cr_assert(fx_member_exists(&fx, m64));
    fx_verify_clean(&fx);
}

/* ---- reason: at most 256 bytes of UTF-8, no control characters ---- */

Test(limits, reason_and_operator) {
    char r257[300], r256[300], han86[300], han85[300];
    repeat(r257, sizeof r257, 'r', 257);
    repeat(r256, sizeof r256, 'r', 256);
    han86[0] = han85[0] = '\0';
    for (int i = 0; i < 86; i++) strcat(han86, "积");          /* 258 bytes */
    for (int i = 0; i < 85; i++) strcat(han85, "积");          /* 255 bytes */
    strcat(han85, "a");                                         /* 256 */
    const char *bad[] = {
        r257, han86,
        "\xff",             /* not UTF-8 at all */
        "\xc0\x80",         /* overlong NUL */
        "\xe0\x80\xaf",     /* overlong '/' */
        "\xed\xa0\x80",     /* a UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* beyond U+10FFFF */
        "ab\xe7\xa7",       /* cut in the middle of a character */
        "a\nb", "a\tb", "a\rb", "\x1b[31mred", "del\x7f",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *r = bad[i];
        REFUSED(EARN, (&(jf_earn_req){.member_id = "new", .points = 1, .biz_no = "x", .reason = r}),
                JF_INVALID_FIELD, "reason");
        REFUSED(SPEND, (&(jf_spend_req){.member_id = "m1", .points = 1, .biz_no = "x", .reason = r}),
                JF_INVALID_FIELD, "reason");
        REFUSED(HOLD, (&(jf_hold_req){.member_id = "m1", .points = 1, .biz_no = "x", .ttl_s = 60, .reason = r}),
                JF_INVALID_FIELD, "reason");
        REFUSED(REVERSE, (&(jf_reverse_req){.member_id = "m1", .target_biz_no = "e0", .biz_no = "x", .reason = r}),
                JF_INVALID_FIELD, "reason");
        REFUSED(ADJUST,
                (&(jf_adjust_req){.member_id = "m1", .points = 1, .biz_no = "x", .reason = r, .operator_id = "o"}),
                JF_INVALID_FIELD, "reason");
        if (i >= 2) /* operators are short; the encoding rules are the same */
            REFUSED(ADJUST,
                    (&(jf_adjust_req){.member_id = "m1", .points = 1, .biz_no = "x", .reason = "ok",
                                      .operator_id = r}),
                    JF_INVALID_FIELD, "operator");
    }
    char o65[80];
    repeat(o65, sizeof o65, 'o', 65);
    REFUSED(ADJUST,
            (&(jf_adjust_req){.member_id = "m1", .points = 1, .biz_no = "x", .reason = "ok", .operator_id = o65}),
            JF_INVALID_FIELD, "operator");
    REFUSED(EARN, (&(jf_earn_req){.member_id = "m1", .points = 1, .biz_no = "x", .operator_id = o65}),
            JF_INVALID_FIELD, "operator");
    cr_assert_not(fx_member_exists(&fx, "new"));

    jf_result e = ACCEPTED(EARN, (&(jf_earn_req){.member_id = "m1", .points = 1, .biz_no = "x1", .reason = r256}));
    cr_assert_str_eq(e.entry.reason, r256);
    e = ACCEPTED(EARN, (&(jf_earn_req){.member_id = "m1", .points = 1, .biz_no = "x2", .reason = han85}));
    cr_assert_str_eq(e.entry.reason, han85);
    cr_assert_str_eq(fx_entry(&fx, e.entry.id).reason, han85, "stored whole");
    ACCEPTED(EARN, (&(jf_earn_req){.member_id = "m1", .points = 1, .biz_no = "x3", .reason = "emoji \xf0\x9f\x8e\x81 ok"}));
    fx_verify_clean(&fx);
}

Test(limits, reason_c1_control_characters) {
    /* U+0085 (NEL) and U+009B (CSI) are control characters (Unicode Cc) as
     * much as \n and ESC are: a terminal or a log reader acts on them. */
    const char *bad[] = {"a\xc2\x85" "b", "\xc2\x9b" "31mred"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fx_state before = fx_snapshot(&fx);
        jf_result out;
        jf_error err = {0};
        jf_earn_req r = {.member_id = "m1", .points = 1, .biz_no = "c1", .reason = bad[i]};
        jf_code rc = fx_earn(&fx, T0 + 1, &r, &out, &err);
            FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "reason");
        FX_ASSERT_UNCHANGED(&fx, before);
    }
}

/* ---- scene: 1..32 of [a-z0-9_.-] ---- */

Test(limits, scene) {
    char s33[40];
    repeat(s33, sizeof s33, 's', 33);
    const char *bad[] = {"", "Order", "a b", "a/b", s33, "积分"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REFUSED(EARN, (&(jf_earn_req){.member_id = "new", .points = 1, .biz_no = "x", .scene = bad[i]}),
                JF_INVALID_FIELD, "scene");
        REFUSED(SPEND, (&(jf_spend_req){.member_id = "m1", .points = 1, .biz_no = "x", .scene = bad[i]}),
                JF_INVALID_FIELD, "scene");
        REFUSED(HOLD, (&(jf_hold_req){.member_id = "m1", .points = 1, .biz_no = "x", .ttl_s = 1, .scene = bad[i]}),
                JF_INVALID_FIELD, "scene");
    }
    char s32[40];
    repeat(s32, sizeof s32, 's', 32);
    jf_result e = ACCEPTED(EARN, (&(jf_earn_req){.member_id = "m1", .points = 1, .biz_no = "x1", .scene = s32}));
    cr_assert_str_eq(e.entry.scene, s32);
    ACCEPTED(EARN, (&(jf_earn_req){.member_id = "m1", .points = 1, .biz_no = "x2", .scene = "order.paid_v-2"}));
    fx_verify_clean(&fx);
}

/* ---- hold ttl: 1 s .. 30 days ---- */

Test(limits, hold_ttl) {
    const int64_t bad[] = {0, -1, JF_HOLD_TTL_S_MAX + 1, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        REFUSED(HOLD, (&(jf_hold_req){.member_id = "m1", .points = 1, .biz_no = "x", .ttl_s = bad[i]}),
                JF_INVALID_FIELD, "ttl_s");
    jf_result h = ACCEPTED(HOLD, (&(jf_hold_req){.member_id = "m1", .points = 1, .biz_no = "h1", .ttl_s = 1}));
    cr_assert_eq(h.hold.expires_at_ms, T0 + 1 + 1000);
    h = ACCEPTED(HOLD, (&(jf_hold_req){.member_id = "m1", .points = 1, .biz_no = "h2",
                                       .ttl_s = JF_HOLD_TTL_S_MAX}));
    cr_assert_eq(h.hold.expires_at_ms, T0 + 1 + 30 * FX_DAY);
    fx_verify_clean(&fx);
}

/* ---- holds by id ---- */

Test(limits, hold_id) {
    const int64_t bad[] = {0, -1, INT64_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REFUSED(CAPTURE, (&(jf_capture_req){.hold_id = bad[i], .biz_no = "x"}), JF_INVALID_FIELD, "hold_id");
        REFUSED(RELEASE, (&(jf_release_req){.hold_id = bad[i], .biz_no = "x"}), JF_INVALID_FIELD, "hold_id");
    }
    REFUSED(CAPTURE, (&(jf_capture_req){.hold_id = INT64_MAX, .biz_no = "x"}), JF_NOT_FOUND, "hold_id");
    REFUSED(RELEASE, (&(jf_release_req){.hold_id = H0.hold.id + 1, .biz_no = "x"}), JF_NOT_FOUND, "hold_id");
}

/* ---- times: 2000-01-01 .. 2200-01-01 ---- */

Test(limits, times) {
    const int64_t bad[] = {-5, 1, JF_TIME_MS_MIN - 1, JF_TIME_MS_MAX + 1, JF_NEVER - 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        REFUSED(EARN, (&(jf_earn_req){.member_id = "new", .points = 1, .biz_no = "x", .available_at_ms = bad[i]}),
                JF_INVALID_FIELD, "available_at");
        REFUSED(EARN, (&(jf_earn_req){.member_id = "new", .points = 1, .biz_no = "x", .expires_at_ms = bad[i]}),
                JF_INVALID_FIELD, "expires_at");
    }
    /* Expiring now or before now, or before activation: never usable. */
    REFUSED(EARN, (&(jf_earn_req){.member_id = "new", .points = 1, .biz_no = "x", .expires_at_ms = T0 + 1}),
            JF_INVALID_FIELD, "expires_at");
    REFUSED(EARN, (&(jf_earn_req){.member_id = "new", .points = 1, .biz_no = "x", .expires_at_ms = T0}),
            JF_INVALID_FIELD, "expires_at");
    REFUSED(EARN,
            (&(jf_earn_req){.member_id = "new", .points = 1, .biz_no = "x", .available_at_ms = T0 + 100,
                            .expires_at_ms = T0 + 100}),
            JF_INVALID_FIELD, "expires_at");
    cr_assert_not(fx_member_exists(&fx, "new"));
    /* A past activation time means "now". */
    jf_result e = ACCEPTED(EARN, (&(jf_earn_req){.member_id = "m1", .points = 1, .biz_no = "x1",
                                                 .available_at_ms = JF_TIME_MS_MIN}));
    FX_ASSERT_ACCT(e.entry.delta, 1, 0, 0, 0, 1, 0, 0);
    ACCEPTED(EARN, (&(jf_earn_req){.member_id = "m1", .points = 1, .biz_no = "x2", .expires_at_ms = T0 + 2}));
    ACCEPTED(EARN, (&(jf_earn_req){.member_id = "m1", .points = 1, .biz_no = "x3", .expires_at_ms = JF_TIME_MS_MAX,
                                   .available_at_ms = JF_TIME_MS_MAX - 1}));
    fx_verify_clean(&fx);
}

/* ---- page size: 1..200 ---- */

Test(limits, page_size) {
    jf_ctx c = fx_ctx(&fx, T0 + 1);
    jf_entry entries[JF_PAGE_LIMIT_MAX + 1];
    jf_lot lots[JF_PAGE_LIMIT_MAX + 1];
    jf_entry_filter ef = {0};
    jf_lot_filter lf = {.state = -1};
    size_t n = 99;
    jf_error err = {0};
    cr_assert_eq(fx.store->ops->begin_read(fx.store, &err), JF_OK);
    const size_t bad[] = {0, JF_PAGE_LIMIT_MAX + 1, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jf_code rc = jf_entries_list(&c, "m1", &ef, entries, bad[i], &n, &err);
        FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "limit");
        rc = jf_lots_list(&c, "m1", &lf, lots, bad[i], &n, &err);
        FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, "limit");
    }
    jf_code rc = jf_entries_list(&c, "m1", &ef, entries, JF_PAGE_LIMIT_MAX, &n, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(n, 2);
    rc = jf_lots_list(&c, "m1", &lf, lots, 1, &n, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    cr_assert_eq(n, 1);
    fx.store->ops->rollback(fx.store);
}

/* ---- tenant settings ---- */

typedef struct {
    jf_tenant t;
} tenant_arg;

static jf_code create_tenant_tx(jf_store *s, void *arg, jf_error *err) {
    tenant_arg *a = arg;
    return jf_tenant_create(s, &a->t, T0, err);
}

static void tenant_refused(const jf_tenant *t, const char *field) {
    fx_state before = fx_snapshot(&fx);
    int64_t tenants = fx_count(&fx, "tenants");
    tenant_arg a = {*t};
    jf_error err = {0};
    jf_code rc = fx_tx(&fx, create_tenant_tx, &a, &err);
    FX_ASSERT_FAIL(rc, JF_INVALID_FIELD, err, field);
    FX_ASSERT_UNCHANGED(&fx, before);
    cr_assert_eq(fx_count(&fx, "tenants"), tenants);
}

Test(limits, tenant_settings) {
    jf_tenant t;
    jf_tenant_defaults(&t);
    snprintf(t.slug, sizeof t.slug, "ok-1");
    jf_tenant bad = t;
    bad.slug[0] = '\0';
    tenant_refused(&bad, "tenant");
    bad = t;
    snprintf(bad.slug, sizeof bad.slug, "Upper");
    tenant_refused(&bad, "tenant");
    bad = t;
    snprintf(bad.timezone, sizeof bad.timezone, "Mars/Olympus");
    tenant_refused(&bad, "timezone");
    bad = t;
    snprintf(bad.timezone, sizeof bad.timezone, "GMT+8");
    tenant_refused(&bad, "timezone");
    bad = t;
    bad.expiry = fx_policy_rolling(0, JF_UNIT_DAYS, JF_ROUND_NONE);
    tenant_refused(&bad, "expiry.n");
    bad.expiry = fx_policy_rolling(JF_EXPIRY_MONTHS_MAX + 1, JF_UNIT_MONTHS, JF_ROUND_NONE);
    tenant_refused(&bad, "expiry.n");
    bad.expiry = fx_policy_annual(2, 29, 1);
    tenant_refused(&bad, "expiry.clear_date");
    bad.expiry = fx_policy_annual(4, 31, 1);
    tenant_refused(&bad, "expiry.clear_date");
    bad.expiry = fx_policy_annual(12, 31, JF_EXPIRY_YEARS_MAX + 1);
    tenant_refused(&bad, "expiry.years");
    bad = t;
    bad.refund = (jf_refund_policy)2;
    tenant_refused(&bad, "refund_policy");
    /* The defaults are valid, and a slug cannot be taken twice. */
    tenant_arg a = {t};
    jf_error err = {0};
    jf_code rc = fx_tx(&fx, create_tenant_tx, &a, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    a.t = t;
    rc = fx_tx(&fx, create_tenant_tx, &a, &err);
    FX_ASSERT_FAIL(rc, JF_ALREADY_EXISTS, err, "tenant");
}

/* ---- balances stay below 2^53 ---- */

typedef struct {
    int count;
} fill_arg;

/* Earn JF_POINTS_MAX `count` times for "rich", in one transaction. */
static jf_code fill_tx(jf_store *s, void *arg, jf_error *err) {
    fill_arg *a = arg;
    (void)s;
    jf_ctx c = fx_ctx(&fx, T0 + 1);
    for (int i = 0; i < a->count; i++) {
        char biz[32];
        snprintf(biz, sizeof biz, "fill-%d", i);
        jf_earn_req r = {.member_id = "rich", .points = JF_POINTS_MAX, .biz_no = biz};
        jf_result out;
        jf_code rc = jf_earn(&c, &r, &out, err);
        if (rc != JF_OK) return rc;
    }
    return JF_OK;
}

/* REFUSED for a member with thousands of rows: the row counts and the
 * member row instead of a digest of every row (which would dominate the
 * test's time). */
static void refused_light_at(int line, op kind, const void *req, jf_code want, const char *field) {
    jf_member m0 = fx_member(&fx, "rich");
    int64_t entries = fx_count(&fx, "entries"), lots = fx_count(&fx, "lots");
    int64_t moves = fx_count(&fx, "lot_moves"), idem = fx_count(&fx, "idempotency");
    jf_result out;
    jf_error err = {0};
    jf_code rc = run(kind, req, &out, &err);
    cr_assert_eq(rc, want, "line %d: got %s (field \"%s\": %s), want %s", line, jf_code_name(rc), err.field,
                 err.detail, jf_code_name(want));
    cr_assert_str_eq(err.field, field, "line %d: field \"%s\", want \"%s\"", line, err.field, field);
    jf_member m1 = fx_member(&fx, "rich");
    cr_assert(memcmp(&m0.acct, &m1.acct, sizeof m0.acct) == 0, "line %d: the account changed", line);
    cr_assert_eq(m0.entry_seq, m1.entry_seq, "line %d", line);
    cr_assert(memcmp(m0.last_hash, m1.last_hash, JF_HASH_BYTES) == 0, "line %d", line);
    cr_assert_eq(m0.updated_at_ms, m1.updated_at_ms, "line %d", line);
    cr_assert_eq(fx_count(&fx, "entries"), entries, "line %d", line);
    cr_assert_eq(fx_count(&fx, "lots"), lots, "line %d", line);
    cr_assert_eq(fx_count(&fx, "lot_moves"), moves, "line %d", line);
    cr_assert_eq(fx_count(&fx, "idempotency"), idem, "line %d", line);
}
#define REFUSED_LIGHT(kind, req, want, field) refused_light_at(__LINE__, kind, req, want, field)

Test(limits, balance_cannot_pass_2_pow_53_minus_1) {
    /* 9007 × 10^12 = 9 007 000 000 000 000; 2^53 − 1 = 9 007 199 254 740 991. */
    int count = (int)(JF_QUANTITY_MAX / JF_POINTS_MAX);
    cr_assert_eq(count, 9007);
    fill_arg a = {count};
    jf_error err = {0};
    jf_code rc = fx_tx(&fx, fill_tx, &a, &err);
    FX_ASSERT_CODE(rc, JF_OK, err);
    int64_t full = (int64_t)count * JF_POINTS_MAX;
    int64_t room = JF_QUANTITY_MAX - full; /* 199 254 740 991 */
    FX_ASSERT_ACCT(fx_member(&fx, "rich").acct, full, 0, 0, 0, full, 0, 0);

    REFUSED_LIGHT(EARN, (&(jf_earn_req){.member_id = "rich", .points = JF_POINTS_MAX, .biz_no = "over"}),
            JF_LIMIT_EXCEEDED, "points");
    REFUSED_LIGHT(EARN, (&(jf_earn_req){.member_id = "rich", .points = room + 1, .biz_no = "over"}), JF_LIMIT_EXCEEDED,
            "points");
    REFUSED_LIGHT(ADJUST,
            (&(jf_adjust_req){.member_id = "rich", .points = room + 1, .biz_no = "over", .reason = "r",
                              .operator_id = "o"}),
            JF_LIMIT_EXCEEDED, "points");
    /* Exactly to the maximum. */
    jf_result e = ACCEPTED(EARN, (&(jf_earn_req){.member_id = "rich", .points = room, .biz_no = "top"}));
    FX_ASSERT_ENTRY(e.entry, JF_ENTRY_EARN, room, JF_QUANTITY_MAX);
    REFUSED_LIGHT(EARN, (&(jf_earn_req){.member_id = "rich", .points = 1, .biz_no = "over"}), JF_LIMIT_EXCEEDED, "points");
    /* Pending points count too: available + pending is the member's balance. */
    REFUSED_LIGHT(EARN,
            (&(jf_earn_req){.member_id = "rich", .points = 1, .biz_no = "over", .available_at_ms = T0 + FX_DAY}),
            JF_LIMIT_EXCEEDED, "points");
    FX_ASSERT_ACCT(fx_member(&fx, "rich").acct, JF_QUANTITY_MAX, 0, 0, 0, JF_QUANTITY_MAX, 0, 0);
    fx_verify_clean(&fx);
}
