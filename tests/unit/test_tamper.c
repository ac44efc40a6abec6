/*
 * test_tamper.c — changes behind the engine's back (suite "tamper").
 *
 * Raw SQL (jf_sqlite_exec_raw) plays the attacker or the corrupting disk:
 * it drops the append-only triggers (entries_no_update, entries_no_delete,
 * lot_moves_no_update, lot_moves_no_delete — src/store/sqlite_schema.h) and
 * edits rows.  verify must then report findings that name exactly the member
 * touched (and its tenant), and nobody else.
 */
#include <stdio.h>

#include "fixture.h"

#define T0 FX_T0

/* Three members with some history each; m2 is the one tampered with. */
static void tamper_setup(void) {
    fx_setup();
    const char *members[] = {"m1", "m2", "m3"};
    for (int i = 0; i < 3; i++) {
        char biz[32];
        snprintf(biz, sizeof biz, "%s-e1", members[i]);
        fx_earn_ok(&fx, T0, members[i], 100, biz);
        snprintf(biz, sizeof biz, "%s-s1", members[i]);
        fx_spend_ok(&fx, T0 + 1, members[i], 30, biz);
        snprintf(biz, sizeof biz, "%s-h1", members[i]);
        fx_hold_ok(&fx, T0 + 2, members[i], 20, 600, biz);
        snprintf(biz, sizeof biz, "%s-e2", members[i]);
        fx_earn_ok(&fx, T0 + 3, members[i], 50, biz);
    }
    fx_verify_clean(&fx);
}

TestSuite(tamper, .init = tamper_setup, .fini = fx_teardown, .timeout = 30);

static void sql(const char *text) {
    jf_error err = {0};
    jf_code rc = jf_sqlite_exec_raw(fx.store, text, &err);
    cr_assert_eq(rc, JF_OK, "%s: %s", text, err.detail);
}

static void sqlf(const char *fmt, long long a) {
    char text[512];
    snprintf(text, sizeof text, fmt, a);
    sql(text);
}

static void drop_triggers(void) {
    sql("DROP TRIGGER entries_no_update; DROP TRIGGER entries_no_delete; "
        "DROP TRIGGER lot_moves_no_update; DROP TRIGGER lot_moves_no_delete;");
}

/* verify finds something, and every finding names member (of tenant). */
static fx_findings expect_findings_only_for(int64_t tenant_id, const char *member) {
    fx_findings f = fx_verify(&fx);
    cr_assert_gt(f.count, 0, "verify found nothing after tampering with %s", member);
    for (size_t i = 0; i < f.kept; i++) {
        cr_assert_str_eq(f.member_id[i], member, "finding about %s: %s", f.member_id[i], f.text[i]);
        cr_assert_eq(f.tenant_id[i], tenant_id, "finding in tenant %lld: %s", (long long)f.tenant_id[i], f.text[i]);
    }
    return f;
}

static bool any_finding_contains(const fx_findings *f, const char *needle) {
    for (size_t i = 0; i < f->kept; i++)
        if (strstr(f->text[i], needle) != NULL) return true;
    return false;
}

/* The id of a member's entry with this biz_no. */
static int64_t entry_id_of(const char *member, const char *biz_no) {
    jf_entry e[16];
    size_t n = fx_entries(&fx, member, e, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        if (strcmp(e[i].biz_no, biz_no) == 0) return e[i].id;
    cr_assert_fail("%s has no entry %s", member, biz_no);
    return 0;
}

Test(tamper, triggers_refuse_update_and_delete) {
    int64_t id = entry_id_of("m2", "m2-e1");
    fx_state before = fx_snapshot(&fx);
    char text[200];
    jf_error err = {0};
    snprintf(text, sizeof text, "UPDATE entries SET points = points + 1 WHERE id = %lld", (long long)id);
    cr_assert_neq(jf_sqlite_exec_raw(fx.store, text, &err), JF_OK, "entries are append-only");
    snprintf(text, sizeof text, "DELETE FROM entries WHERE id = %lld", (long long)id);
    cr_assert_neq(jf_sqlite_exec_raw(fx.store, text, &err), JF_OK, "entries are append-only");
    cr_assert_neq(jf_sqlite_exec_raw(fx.store, "UPDATE lot_moves SET points = 0", &err), JF_OK);
    cr_assert_neq(jf_sqlite_exec_raw(fx.store, "DELETE FROM lot_moves", &err), JF_OK);
    FX_ASSERT_UNCHANGED(&fx, before);
    fx_verify_clean(&fx);
}

Test(tamper, due_floor_after_an_open_hold) {
    /* m2's hold is open until T0 + 2 + 600 s: a floor after that would let
     * an operation after the hold's end skip releasing it. */
    sql("UPDATE members SET due_floor_ms = 9223372036854775807 WHERE ext_id = 'm2'");
    fx_findings f = expect_findings_only_for(fx.tenant.id, "m2");
    cr_assert(any_finding_contains(&f, "due floor"), "%s", f.text[0]);
    cr_assert_eq(f.count, 1, "%s", f.text[0]);
}

Test(tamper, entry_points_changed) {
    drop_triggers();
    int64_t id = entry_id_of("m2", "m2-e1");
    sqlf("UPDATE entries SET points = points + 1 WHERE id = %lld", (long long)id);
    fx_findings f = expect_findings_only_for(fx.tenant.id, "m2");
    cr_assert(any_finding_contains(&f, "tampered"), "the hash check names the entry: %s", f.text[0]);
    cr_assert_eq(f.count, 1, "points alone are in no sum: only the hash breaks (%s)", f.text[0]);
}

Test(tamper, entry_delta_and_balance_changed) {
    drop_triggers();
    int64_t id = entry_id_of("m2", "m2-e2");
    /* A gift of 1000 points, consistent within the row. */
    sqlf("UPDATE entries SET points = points + 1000, d_available = d_available + 1000, d_earned = d_earned + 1000, "
         "available_after = available_after + 1000 WHERE id = %lld",
         (long long)id);
    fx_findings f = expect_findings_only_for(fx.tenant.id, "m2");
    cr_assert(any_finding_contains(&f, "tampered"));
    cr_assert(any_finding_contains(&f, "its entries sum to"), "the account no longer matches the entries");
}

Test(tamper, last_entry_rewritten_with_a_valid_hash) {
    drop_triggers();
    /* The attacker recomputes the edited entry's hash: the chain still
     * breaks, at the member's last_hash. */
    jf_entry e[8];
    size_t n = fx_entries(&fx, "m2", e, 8);
    cr_assert_eq(n, 4);
    jf_entry last = e[n - 1];
    last.points += 7;
    uint8_t h[JF_HASH_BYTES];
    jf_entry_hash(&last, "m2", h);
    char hex[2 * JF_HASH_BYTES + 1];
    for (int i = 0; i < JF_HASH_BYTES; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
    char text[300];
    snprintf(text, sizeof text, "UPDATE entries SET points = %lld, hash = X'%s' WHERE id = %lld",
             (long long)last.points, hex, (long long)last.id);
    sql(text);
    fx_findings f = expect_findings_only_for(fx.tenant.id, "m2");
    cr_assert(!any_finding_contains(&f, "tampered"), "the row itself is consistent");
    cr_assert(any_finding_contains(&f, "last_hash"), "%s", f.text[0]);
}

Test(tamper, entry_deleted) {
    drop_triggers();
    /* A spend in the middle of the chain disappears (its lot moves point at
     * it, so foreign keys are switched off first). */
    sql("PRAGMA foreign_keys = OFF");
    sqlf("DELETE FROM entries WHERE id = %lld", (long long)entry_id_of("m2", "m2-s1"));
    fx_findings f = expect_findings_only_for(fx.tenant.id, "m2");
    cr_assert(any_finding_contains(&f, "seq"), "the gap in the chain is found: %s", f.text[0]);
}

Test(tamper, lot_remaining_changed) {
    jf_lot lots[4];
    cr_assert_eq(fx_lots(&fx, "m2", lots, 4), 2);
    sqlf("UPDATE lots SET remaining = remaining + 5 WHERE id = %lld", (long long)lots[1].id);
    fx_findings f = expect_findings_only_for(fx.tenant.id, "m2");
    cr_assert(any_finding_contains(&f, "lot"), "%s", f.text[0]);
}

Test(tamper, lot_move_deleted) {
    drop_triggers();
    int64_t spend = entry_id_of("m2", "m2-s1");
    sqlf("DELETE FROM lot_moves WHERE entry_id = %lld", (long long)spend);
    expect_findings_only_for(fx.tenant.id, "m2");
}

Test(tamper, member_account_changed) {
    sql("UPDATE members SET available = available + 5 WHERE ext_id = 'm2'");
    fx_findings f = expect_findings_only_for(fx.tenant.id, "m2");
    cr_assert(any_finding_contains(&f, "available"), "%s", f.text[0]);
}

Test(tamper, hold_closed_behind_the_engine) {
    sql("UPDATE holds SET state = 2 WHERE biz_no = 'm2-h1'");
    fx_findings f = expect_findings_only_for(fx.tenant.id, "m2");
    cr_assert(any_finding_contains(&f, "frozen"), "%s", f.text[0]);
}

Test(tamper, names_the_tenant_of_the_member) {
    /* The same member id in a second tenant, tampered there only. */
    jf_tenant t1 = fx.tenant;
    fx_tenant_create(&fx, "t2", NULL, NULL, JF_REFUND_DEBT);
    jf_result e = fx_earn_ok(&fx, T0, "m2", 10, "t2-e1");
    drop_triggers();
    sqlf("UPDATE entries SET points = 11 WHERE id = %lld", (long long)e.entry.id);
    expect_findings_only_for(fx.tenant.id, "m2");
    cr_assert_neq(fx.tenant.id, t1.id);
}
