/*
 * test_store.c — the store conformance suite.
 *
 * Written only against the jf_store interface, so that every backend passes
 * the same tests.  The backend comes from JIFEN_TEST_STORE (unset or
 * "sqlite": a fresh SQLite file in a temporary directory; "postgres": a fresh
 * database on the cluster of JIFEN_TEST_PG_URL, see fixture.h).  Backend
 * specifics live in the helpers at the top, never in the test bodies.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h" /* fx_store_location: the backend's fresh store */
#include "store/checkpointer.h"
#include "store/store.h"

/* ---- backend helpers --------------------------------------------------- */

static char tmp_dir[256];
static char db_location[320];
static jf_store *S; /* the store under test */

static bool backend_is_sqlite(void) {
    const char *b = getenv("JIFEN_TEST_STORE");
    return b == NULL || b[0] == '\0' || strcmp(b, "sqlite") == 0;
}

static jf_store *open_store(void) {
    jf_store *s = NULL;
    jf_error err = {0};
    jf_code code = jf_store_open(db_location, &s, &err);
    cr_assert_eq(code, JF_OK, "open %s: %s", db_location, err.detail);
    cr_assert_not_null(s);
    return s;
}

/* Raw SQL behind the store's back (the tamper test's tool). */
static jf_code raw_exec(jf_store *s, const char *sql, jf_error *err) {
    return jf_store_exec_raw(s, sql, err);
}

/* Make lock waits short, so a busy test fails fast instead of waiting the
 * store's full busy timeout. */
static void short_lock_wait(jf_store *s) {
    jf_error err = {0};
    const char *sql = backend_is_sqlite() ? "PRAGMA busy_timeout = 50" : "SET lock_timeout = '50ms'";
    cr_assert_eq(raw_exec(s, sql, &err), JF_OK, "%s", err.detail);
}

/* Drop one of the append-only triggers by name, as the tamper test does. */
static void drop_trigger(jf_store *s, const char *table, const char *name) {
    char sql[128];
    if (backend_is_sqlite())
        snprintf(sql, sizeof sql, "DROP TRIGGER %s", name);
    else
        snprintf(sql, sizeof sql, "DROP TRIGGER %s ON %s", name, table);
    jf_error err = {0};
    cr_assert_eq(raw_exec(s, sql, &err), JF_OK, "%s", err.detail);
}

/* SQLite: make the kept answers look as they were written before schema 13
 * (answers were rows of event_answers, named by the event's answer_id) —
 * and with owners, before schema 7 (an event row reserved its answer's id,
 * and the answer named the event; before, the event row was updated with
 * the id, as PostgreSQL still does, which has nothing to change). */
static void answers_as_before(jf_store *s, bool with_owners) {
    if (!backend_is_sqlite()) return;
    jf_error err = {0};
    cr_assert_eq(raw_exec(s,
                          "INSERT INTO event_answers (tenant_id, event_id, answer) "
                          "SELECT tenant_id, event_id, answer FROM events WHERE answer <> ''; "
                          "UPDATE events SET answer = '', answer_id = (SELECT id FROM event_answers a "
                          "WHERE a.tenant_id = events.tenant_id AND a.event_id = events.event_id) "
                          "WHERE answer <> ''",
                          &err),
                 JF_OK, "%s", err.detail);
    if (!with_owners)
        cr_assert_eq(raw_exec(s, "UPDATE event_answers SET event_id = ''", &err), JF_OK, "%s", err.detail);
}

static void setup(void) {
    if (!backend_is_sqlite() && !fx_backend_is_postgres())
        cr_assert_fail("JIFEN_TEST_STORE=%s: no such backend", getenv("JIFEN_TEST_STORE"));
    snprintf(tmp_dir, sizeof tmp_dir, "%s/jifen-store-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(tmp_dir));
    fx_store_location(db_location, sizeof db_location, tmp_dir, "test.db"); /* PostgreSQL: a new database */
    S = open_store();
}

static void teardown(void) {
    jf_store_close(S);
    S = NULL;
    fx_store_location_drop(db_location);
    fx_remove_tree(tmp_dir);
}

TestSuite(store, .init = setup, .fini = teardown);

/* ---- record helpers ---------------------------------------------------- */

#define T0 1700000000000LL /* 2023-11-14, a fixed "now" */

#define OK(call)                                                                                      \
    do {                                                                                              \
        jf_error err_ = {0};                                                                          \
        jf_code code_ = (call);                                                                       \
        cr_assert_eq(code_, JF_OK, "%s -> %s: %s", #call, jf_code_name(code_), err_.detail);          \
    } while (0)
#define E (&err_)

/* Expect a specific code. */
#define EXPECT(code, call)                                                                            \
    do {                                                                                              \
        jf_error err_ = {0};                                                                          \
        jf_code code_ = (call);                                                                       \
        cr_assert_eq(code_, (code), "%s -> %s (want %s): %s", #call, jf_code_name(code_),             \
                     jf_code_name(code), err_.detail);                                                \
    } while (0)

static void begin(void) { OK(S->ops->begin(S, E)); }
static void commit(void) { OK(S->ops->commit(S, E)); }

static void fill_hash(uint8_t h[JF_HASH_BYTES], uint8_t seed) {
    for (int i = 0; i < JF_HASH_BYTES; i++) h[i] = (uint8_t)(seed + i * 7);
}

static int64_t add_tenant(const char *slug) {
    jf_tenant t = {0};
    snprintf(t.slug, sizeof t.slug, "%s", slug);
    snprintf(t.name, sizeof t.name, "Tenant %s", slug);
    snprintf(t.timezone, sizeof t.timezone, "Asia/Shanghai");
    t.created_at_ms = t.updated_at_ms = T0;
    OK(S->ops->tenant_insert(S, &t, E));
    cr_assert_gt(t.id, 0);
    return t.id;
}

static int64_t add_member(int64_t tenant_id, const char *ext_id) {
    jf_member m = {0};
    m.tenant_id = tenant_id;
    snprintf(m.ext_id, sizeof m.ext_id, "%s", ext_id);
    m.created_at_ms = m.updated_at_ms = T0;
    OK(S->ops->member_insert(S, &m, E));
    cr_assert_gt(m.id, 0);
    return m.id;
}

static jf_entry make_entry(int64_t tenant_id, int64_t member_id, int64_t seq, jf_entry_kind kind, int64_t points,
                           int64_t at_ms) {
    jf_entry e = {0};
    e.tenant_id = tenant_id;
    e.member_id = member_id;
    e.seq = seq;
    e.kind = kind;
    e.points = points;
    e.delta.available = points;
    e.available_after = points * seq;
    snprintf(e.scene, sizeof e.scene, "order");
    snprintf(e.biz_no, sizeof e.biz_no, "b-%lld-%lld", (long long)member_id, (long long)seq);
    e.created_at_ms = at_ms;
    fill_hash(e.prev_hash, (uint8_t)(seq - 1));
    fill_hash(e.hash, (uint8_t)seq);
    return e;
}

static int64_t add_entry(int64_t tenant_id, int64_t member_id, int64_t seq, jf_entry_kind kind, int64_t points,
                         int64_t at_ms) {
    jf_entry e = make_entry(tenant_id, member_id, seq, kind, points, at_ms);
    OK(S->ops->entry_insert(S, &e, E));
    cr_assert_gt(e.id, 0);
    return e.id;
}

static int64_t add_lot(int64_t tenant_id, int64_t member_id, int64_t amount, jf_lot_state state,
                       int64_t available_at_ms, int64_t expires_at_ms) {
    jf_lot l = {0};
    l.tenant_id = tenant_id;
    l.member_id = member_id;
    l.amount = l.remaining = amount;
    l.state = state;
    l.available_at_ms = available_at_ms;
    l.expires_at_ms = expires_at_ms;
    l.created_at_ms = T0;
    OK(S->ops->lot_insert(S, &l, E));
    cr_assert_gt(l.id, 0);
    return l.id;
}

static int64_t add_hold(int64_t tenant_id, int64_t member_id, int64_t points, int64_t expires_at_ms) {
    jf_hold h = {0};
    h.tenant_id = tenant_id;
    h.member_id = member_id;
    h.points = points;
    h.state = JF_HOLD_OPEN;
    snprintf(h.biz_no, sizeof h.biz_no, "hold-%lld", (long long)expires_at_ms);
    h.expires_at_ms = expires_at_ms;
    h.created_at_ms = T0;
    OK(S->ops->hold_insert(S, &h, E));
    return h.id;
}

/* A tenant with one member, committed. */
static void tenant_and_member(int64_t *tenant_id, int64_t *member_id) {
    begin();
    *tenant_id = add_tenant("shop");
    *member_id = add_member(*tenant_id, "alice");
    commit();
}

/* ---- tenants ----------------------------------------------------------- */

Test(store, tenant_round_trip) {
    jf_tenant t = {0};
    snprintf(t.slug, sizeof t.slug, "coffee-shop");
    snprintf(t.name, sizeof t.name, "咖啡店 Coffee");
    snprintf(t.timezone, sizeof t.timezone, "America/New_York");
    t.expiry = (jf_expiry_policy){.kind = JF_EXPIRY_ANNUAL, .n = 12, .unit = JF_UNIT_MONTHS,
                                  .round = JF_ROUND_QUARTER, .clear_month = 12, .clear_day = 31, .years = 2};
    t.refund = JF_REFUND_CLAMP;
    t.created_at_ms = T0;
    t.updated_at_ms = T0 + 1;
    begin();
    OK(S->ops->tenant_insert(S, &t, E));
    commit();
    cr_assert_gt(t.id, 0);

    jf_tenant got;
    OK(S->ops->tenant_get(S, t.id, &got, E));
    cr_assert_eq(memcmp(&got, &t, sizeof t), 0, "tenant differs after round trip");
    OK(S->ops->tenant_get_by_slug(S, "coffee-shop", &got, E));
    cr_assert_eq(got.id, t.id);
    cr_assert_str_eq(got.name, "咖啡店 Coffee");

    t.expiry = (jf_expiry_policy){.kind = JF_EXPIRY_ROLLING, .n = 90, .unit = JF_UNIT_DAYS, .round = JF_ROUND_DAY};
    t.refund = JF_REFUND_DEBT;
    memset(t.timezone, 0, sizeof t.timezone); /* memcmp below compares whole buffers */
    snprintf(t.timezone, sizeof t.timezone, "Asia/Shanghai");
    t.updated_at_ms = T0 + 2;
    begin();
    OK(S->ops->tenant_update(S, &t, E));
    commit();
    OK(S->ops->tenant_get(S, t.id, &got, E));
    cr_assert_eq(memcmp(&got, &t, sizeof t), 0, "tenant differs after update");
}

Test(store, tenant_not_found_and_unique_slug) {
    jf_tenant got;
    EXPECT(JF_NOT_FOUND, S->ops->tenant_get(S, 42, &got, E));
    EXPECT(JF_NOT_FOUND, S->ops->tenant_get_by_slug(S, "nope", &got, E));
    begin();
    add_tenant("shop");
    jf_tenant dup = {.created_at_ms = T0, .updated_at_ms = T0};
    snprintf(dup.slug, sizeof dup.slug, "shop");
    EXPECT(JF_ALREADY_EXISTS, S->ops->tenant_insert(S, &dup, E));
    jf_tenant ghost = {.id = 999, .created_at_ms = T0, .updated_at_ms = T0};
    snprintf(ghost.slug, sizeof ghost.slug, "ghost");
    EXPECT(JF_NOT_FOUND, S->ops->tenant_update(S, &ghost, E));
    commit();
}

Test(store, tenant_list_pages_by_id) {
    begin();
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        char slug[16];
        snprintf(slug, sizeof slug, "t%d", i);
        ids[i] = add_tenant(slug);
    }
    commit();
    jf_tenant page[2];
    size_t n = 0;
    OK(S->ops->tenant_list(S, 0, page, 2, &n, E));
    cr_assert_eq(n, 2);
    cr_assert_eq(page[0].id, ids[0]);
    cr_assert_eq(page[1].id, ids[1]);
    OK(S->ops->tenant_list(S, ids[3], page, 2, &n, E));
    cr_assert_eq(n, 1);
    cr_assert_eq(page[0].id, ids[4]);
}

/* ---- members ----------------------------------------------------------- */

Test(store, member_round_trip_and_update) {
    begin();
    int64_t tid = add_tenant("shop");
    jf_member m = {0};
    m.tenant_id = tid;
    memset(m.ext_id, 'x', JF_MEMBER_ID_LEN_MAX); /* the longest member id */
    m.ext_id[0] = 'A';
    m.created_at_ms = m.updated_at_ms = T0;
    OK(S->ops->member_insert(S, &m, E));
    commit();

    jf_member got;
    OK(S->ops->member_get(S, tid, m.ext_id, false, &got, E));
    cr_assert_eq(memcmp(&got, &m, sizeof m), 0, "member differs after round trip");
    cr_assert_eq(strlen(got.ext_id), JF_MEMBER_ID_LEN_MAX);

    m.status = JF_MEMBER_FROZEN;
    m.acct = (jf_account){.available = 10, .frozen = 20, .pending = 30, .debt = 40, .earned = 50,
                          .spent = 60, .expired = 70};
    m.entry_seq = 7;
    fill_hash(m.last_hash, 200);
    m.updated_at_ms = T0 + 5;
    begin();
    OK(S->ops->member_get_by_id(S, m.id, true, &got, E));
    OK(S->ops->member_update(S, &m, E));
    commit();
    OK(S->ops->member_get_by_id(S, m.id, false, &got, E));
    cr_assert_eq(memcmp(&got, &m, sizeof m), 0, "member differs after update");
}

Test(store, member_not_found_and_unique_per_tenant) {
    begin();
    int64_t t1 = add_tenant("one");
    int64_t t2 = add_tenant("two");
    int64_t a1 = add_member(t1, "alice");
    int64_t a2 = add_member(t2, "alice"); /* the same id in another tenant is another member */
    cr_assert_neq(a1, a2);
    jf_member dup = {.tenant_id = t1, .created_at_ms = T0, .updated_at_ms = T0};
    snprintf(dup.ext_id, sizeof dup.ext_id, "alice");
    EXPECT(JF_ALREADY_EXISTS, S->ops->member_insert(S, &dup, E));
    jf_member ghost = {.id = 9999};
    EXPECT(JF_NOT_FOUND, S->ops->member_update(S, &ghost, E));
    commit();
    jf_member got;
    OK(S->ops->member_get(S, t2, "alice", false, &got, E));
    cr_assert_eq(got.id, a2);
    EXPECT(JF_NOT_FOUND, S->ops->member_get(S, t1, "bob", false, &got, E));
    EXPECT(JF_NOT_FOUND, S->ops->member_get_by_id(S, 9999, false, &got, E));
}

/* SQLite's member hints (sqlite.c): a lookup by the member's text id is
 * answered through the row id remembered for it, and a hint that names a
 * row no longer the member's — a creation rolled back, its row id given to
 * another member since — is never believed. */
Test(store, sqlite_member_hints_are_tried_never_trusted) {
    if (!backend_is_sqlite()) cr_skip_test("SQLite's member hints");
    begin();
    int64_t t1 = add_tenant("one");
    int64_t t2 = add_tenant("two");
    int64_t alice = add_member(t1, "alice");
    commit();
    jf_member got;
    uint64_t hits = jf_sqlite_member_hint_hits();
    OK(S->ops->member_get(S, t1, "alice", false, &got, E));
    cr_assert_eq(got.id, alice);
    cr_assert_gt(jf_sqlite_member_hint_hits(), hits, "the hint answered");
    /* The same text in another tenant is another member. */
    EXPECT(JF_NOT_FOUND, S->ops->member_get(S, t2, "alice", false, &got, E));

    /* "ghost" is created (its hint names the new row id), then rolled back. */
    begin();
    int64_t ghost = add_member(t1, "ghost");
    S->ops->rollback(S);
    EXPECT(JF_NOT_FOUND, S->ops->member_get(S, t1, "ghost", false, &got, E));
    /* The row id goes to the next member created; "ghost" still does not
     * exist, and locking the newcomer by its text finds the newcomer. */
    begin();
    int64_t bob = add_member(t1, "bob");
    cr_assert_eq(bob, ghost, "SQLite gives the rolled-back row id again");
    EXPECT(JF_NOT_FOUND, S->ops->member_get(S, t1, "ghost", true, &got, E));
    OK(S->ops->member_get(S, t1, "bob", true, &got, E));
    cr_assert_eq(got.id, bob);
    cr_assert_str_eq(got.ext_id, "bob");
    commit();
    OK(S->ops->member_get(S, t1, "bob", false, &got, E));
    cr_assert_eq(got.id, bob);
}

Test(store, member_list_by_tenant) {
    begin();
    int64_t t1 = add_tenant("one");
    int64_t t2 = add_tenant("two");
    int64_t m[4];
    m[0] = add_member(t1, "a");
    add_member(t2, "b");
    m[1] = add_member(t1, "c");
    m[2] = add_member(t1, "d");
    commit();
    jf_member page[2];
    size_t n = 0;
    OK(S->ops->member_list(S, t1, 0, page, 2, &n, E));
    cr_assert_eq(n, 2);
    cr_assert_eq(page[0].id, m[0]);
    cr_assert_eq(page[1].id, m[1]);
    OK(S->ops->member_list(S, t1, page[1].id, page, 2, &n, E));
    cr_assert_eq(n, 1);
    cr_assert_eq(page[0].id, m[2]);
}

/* ---- entries ----------------------------------------------------------- */

Test(store, entry_round_trip_every_field) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    jf_entry e = {0};
    e.tenant_id = tid;
    e.member_id = mid;
    e.seq = 1;
    e.kind = JF_ENTRY_REVERSE;
    e.points = -1000000000000LL;
    e.delta = (jf_account){.available = -5, .frozen = -6, .pending = -7, .debt = 8, .earned = -9,
                           .spent = -10, .expired = -11};
    e.available_after = -3;
    snprintf(e.scene, sizeof e.scene, "mall.refund_2");
    memset(e.biz_no, '~', JF_BIZ_NO_LEN_MAX);
    /* 256 bytes of UTF-8: 85 three-byte characters and one ASCII byte. */
    size_t off = 0;
    for (int i = 0; i < 85; i++) off += (size_t)snprintf(e.reason + off, sizeof e.reason - off, "退");
    snprintf(e.reason + off, sizeof e.reason - off, "!");
    cr_assert_eq(strlen(e.reason), JF_REASON_BYTES_MAX);
    snprintf(e.operator_id, sizeof e.operator_id, "ops@example.com");
    e.ref_entry_id = 77;
    e.lot_id = 88;
    e.hold_id = 99;
    e.created_at_ms = T0 + 123;
    fill_hash(e.prev_hash, 0); /* includes a zero byte */
    fill_hash(e.hash, 255);
    begin();
    OK(S->ops->entry_insert(S, &e, E));
    commit();
    cr_assert_gt(e.id, 0);
    jf_entry got;
    OK(S->ops->entry_get(S, e.id, &got, E));
    cr_assert_eq(memcmp(&got, &e, sizeof e), 0, "entry differs after round trip");
    EXPECT(JF_NOT_FOUND, S->ops->entry_get(S, e.id + 1, &got, E));
}

Test(store, entry_seq_unique_per_member) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t other = add_member(tid, "bob");
    add_entry(tid, mid, 1, JF_ENTRY_EARN, 10, T0);
    add_entry(tid, other, 1, JF_ENTRY_EARN, 10, T0);
    jf_entry dup = make_entry(tid, mid, 1, JF_ENTRY_EARN, 10, T0);
    EXPECT(JF_ALREADY_EXISTS, S->ops->entry_insert(S, &dup, E));
    commit();
}

Test(store, entry_list_newest_first_with_filters) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    static const jf_entry_kind kinds[6] = {JF_ENTRY_EARN,  JF_ENTRY_SPEND, JF_ENTRY_EARN,
                                           JF_ENTRY_EXPIRE, JF_ENTRY_EARN, JF_ENTRY_ADJUST};
    int64_t ids[6];
    begin();
    int64_t other = add_member(tid, "bob");
    add_entry(tid, other, 1, JF_ENTRY_EARN, 1, T0); /* another member's: never listed */
    for (int i = 0; i < 6; i++) {
        jf_entry e = make_entry(tid, mid, i + 1, kinds[i], i % 2 ? -(i + 1) : i + 1, T0 + i * 1000);
        snprintf(e.scene, sizeof e.scene, "%s", i < 3 ? "order" : "checkin");
        OK(S->ops->entry_insert(S, &e, E));
        ids[i] = e.id;
    }
    commit();

    jf_entry out[10];
    size_t n = 0;
    jf_entry_filter all = {0};
    OK(S->ops->entry_list(S, mid, &all, out, 10, &n, E));
    cr_assert_eq(n, 6);
    for (int i = 0; i < 6; i++) cr_assert_eq(out[i].id, ids[5 - i], "newest first");

    /* Cursor pages: 4 then 2. */
    OK(S->ops->entry_list(S, mid, &all, out, 4, &n, E));
    cr_assert_eq(n, 4);
    jf_entry_filter next = {.before_id = out[3].id};
    OK(S->ops->entry_list(S, mid, &next, out, 4, &n, E));
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].id, ids[1]);
    cr_assert_eq(out[1].id, ids[0]);

    jf_entry_filter earns = {.kinds_mask = 1u << JF_ENTRY_EARN};
    OK(S->ops->entry_list(S, mid, &earns, out, 10, &n, E));
    cr_assert_eq(n, 3);
    cr_assert_eq(out[0].id, ids[4]);
    jf_entry_filter two = {.kinds_mask = (1u << JF_ENTRY_SPEND) | (1u << JF_ENTRY_ADJUST)};
    OK(S->ops->entry_list(S, mid, &two, out, 10, &n, E));
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].id, ids[5]);
    cr_assert_eq(out[1].id, ids[1]);

    jf_entry_filter scene = {.scene = "checkin"};
    OK(S->ops->entry_list(S, mid, &scene, out, 10, &n, E));
    cr_assert_eq(n, 3);
    jf_entry_filter empty_scene = {.scene = ""};
    OK(S->ops->entry_list(S, mid, &empty_scene, out, 10, &n, E));
    cr_assert_eq(n, 6);

    /* [T0+1000, T0+4000): entries 1, 2, 3. */
    jf_entry_filter range = {.from_ms = T0 + 1000, .to_ms = T0 + 4000};
    OK(S->ops->entry_list(S, mid, &range, out, 10, &n, E));
    cr_assert_eq(n, 3);
    cr_assert_eq(out[0].id, ids[3]);
    cr_assert_eq(out[2].id, ids[1]);

    jf_entry_filter combined = {.kinds_mask = 1u << JF_ENTRY_EARN, .scene = "order", .from_ms = T0 + 1,
                                .before_id = ids[5]};
    OK(S->ops->entry_list(S, mid, &combined, out, 10, &n, E));
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].id, ids[2]);
}

Test(store, entry_chain_and_by_ref) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t first = add_entry(tid, mid, 1, JF_ENTRY_EARN, 100, T0);
    add_entry(tid, mid, 2, JF_ENTRY_EARN, 100, T0);
    int64_t rev[2];
    for (int i = 0; i < 2; i++) {
        jf_entry e = make_entry(tid, mid, 3 + i, JF_ENTRY_REVERSE, -10, T0);
        e.ref_entry_id = first;
        OK(S->ops->entry_insert(S, &e, E));
        rev[i] = e.id;
    }
    commit();
    jf_entry out[8];
    size_t n = 0;
    OK(S->ops->entry_chain(S, mid, 0, out, 8, &n, E));
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < n; i++) cr_assert_eq(out[i].seq, (int64_t)i + 1);
    OK(S->ops->entry_chain(S, mid, 2, out, 1, &n, E));
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].seq, 3);

    OK(S->ops->entry_list_by_ref(S, first, out, 8, &n, E));
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].id, rev[0]);
    cr_assert_eq(out[1].id, rev[1]);
    OK(S->ops->entry_list_by_ref(S, 0, out, 8, &n, E)); /* 0 means "no reference": never a match */
    cr_assert_eq(n, 0);
}

/* ---- lots, moves ------------------------------------------------------- */

Test(store, lot_round_trip_and_update) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t eid = add_entry(tid, mid, 1, JF_ENTRY_EARN, 500, T0);
    jf_lot l = {.tenant_id = tid, .member_id = mid, .entry_id = eid, .amount = 500, .remaining = 500,
                .state = JF_LOT_PENDING, .available_at_ms = T0 + 10, .expires_at_ms = JF_NEVER,
                .created_at_ms = T0};
    OK(S->ops->lot_insert(S, &l, E));
    commit();
    jf_lot got;
    OK(S->ops->lot_get(S, l.id, &got, E));
    cr_assert_eq(memcmp(&got, &l, sizeof l), 0, "lot differs after round trip");
    cr_assert_eq(got.expires_at_ms, JF_NEVER);

    l.remaining = 120;
    l.state = JF_LOT_ACTIVE;
    l.entry_id = eid + 1000; /* lot_update links the lot to its entry */
    begin();
    OK(S->ops->lot_update(S, &l, E));
    jf_lot ghost = {.id = l.id + 100};
    EXPECT(JF_NOT_FOUND, S->ops->lot_update(S, &ghost, E));
    commit();
    OK(S->ops->lot_get(S, l.id, &got, E));
    cr_assert_eq(got.remaining, 120);
    cr_assert_eq(got.state, JF_LOT_ACTIVE);
    cr_assert_eq(got.amount, 500);
    cr_assert_eq(got.entry_id, eid + 1000);
    EXPECT(JF_NOT_FOUND, S->ops->lot_get(S, l.id + 100, &got, E));
}

/* A lot is inserted before the entry that creates it (which names it) and
 * then linked to that entry; the link holds also when another entry came in
 * between, and after a savepoint took a lot and its entry back. */
Test(store, lot_linked_to_the_entry_that_creates_it) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t lot1 = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, JF_NEVER);
    int64_t e1 = add_entry(tid, mid, 1, JF_ENTRY_EARN, 10, T0);
    OK(S->ops->lot_link_entry(S, lot1, e1, E));
    int64_t lot2 = add_lot(tid, mid, 20, JF_LOT_ACTIVE, T0, JF_NEVER);
    int64_t between = add_entry(tid, mid, 2, JF_ENTRY_ADJUST, 0, T0);
    int64_t e2 = add_entry(tid, mid, 3, JF_ENTRY_EARN, 20, T0);
    OK(S->ops->lot_link_entry(S, lot2, e2, E));
    OK(S->ops->savepoint(S, E));
    add_lot(tid, mid, 30, JF_LOT_ACTIVE, T0, JF_NEVER);
    add_entry(tid, mid, 4, JF_ENTRY_EARN, 30, T0);
    S->ops->savepoint_rollback(S);
    int64_t lot3 = add_lot(tid, mid, 40, JF_LOT_ACTIVE, T0, JF_NEVER);
    int64_t e3 = add_entry(tid, mid, 4, JF_ENTRY_EARN, 40, T0);
    OK(S->ops->lot_link_entry(S, lot3, e3, E));
    commit();
    const int64_t lots[] = {lot1, lot2, lot3}, entries[] = {e1, e2, e3};
    for (int i = 0; i < 3; i++) {
        jf_lot got;
        OK(S->ops->lot_get(S, lots[i], &got, E));
        cr_assert_eq(got.entry_id, entries[i], "lot %d names entry %lld, not %lld (between: %lld)", i + 1,
                     (long long)got.entry_id, (long long)entries[i], (long long)between);
    }
}

Test(store, spendable_order_and_cursor) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t other = add_member(tid, "bob");
    int64_t never1 = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, JF_NEVER);
    int64_t late = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, T0 + 300);
    int64_t early_a = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, T0 + 100);
    int64_t early_b = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, T0 + 100); /* tie: id order */
    int64_t never2 = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, JF_NEVER);
    add_lot(tid, mid, 10, JF_LOT_PENDING, T0 + 50, T0 + 1);   /* pending: not spendable */
    add_lot(tid, mid, 10, JF_LOT_EXPIRED, T0, T0 + 2);        /* expired: not spendable */
    add_lot(tid, other, 10, JF_LOT_ACTIVE, T0, T0 + 3);       /* someone else's */
    int64_t used = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, T0 + 4);
    jf_lot u = {.id = used, .remaining = 0, .state = JF_LOT_ACTIVE};
    OK(S->ops->lot_update(S, &u, E)); /* used up: not spendable */
    commit();

    int64_t want[5] = {early_a, early_b, late, never1, never2};
    jf_lot out[5];
    size_t n = 0;
    OK(S->ops->lot_list_spendable(S, mid, INT64_MIN, 0, out, 5, &n, E));
    cr_assert_eq(n, 5);
    for (int i = 0; i < 5; i++) cr_assert_eq(out[i].id, want[i], "spending order at %d", i);

    /* Keyset pages of two. */
    int64_t after_exp = INT64_MIN, after_id = 0;
    int got = 0;
    for (int page = 0; page < 4; page++) {
        OK(S->ops->lot_list_spendable(S, mid, after_exp, after_id, out, 2, &n, E));
        for (size_t i = 0; i < n; i++) cr_assert_eq(out[i].id, want[got++]);
        if (n == 0) break;
        after_exp = out[n - 1].expires_at_ms;
        after_id = out[n - 1].id;
    }
    cr_assert_eq(got, 5);
}

Test(store, lot_list_filters) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t pending = add_lot(tid, mid, 10, JF_LOT_PENDING, T0 + 50, T0 + 500);
    int64_t active = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, T0 + 200);
    int64_t expired = add_lot(tid, mid, 10, JF_LOT_EXPIRED, T0, T0 + 100);
    int64_t never = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, JF_NEVER);
    jf_lot x = {.id = expired, .remaining = 0, .state = JF_LOT_EXPIRED};
    OK(S->ops->lot_update(S, &x, E));
    commit();

    jf_lot out[8];
    size_t n = 0;
    jf_lot_filter any = {.state = -1};
    OK(S->ops->lot_list(S, mid, &any, out, 8, &n, E));
    cr_assert_eq(n, 4);
    cr_assert_eq(out[0].id, expired);
    cr_assert_eq(out[1].id, active);
    cr_assert_eq(out[2].id, pending);
    cr_assert_eq(out[3].id, never);

    jf_lot_filter act = {.state = JF_LOT_ACTIVE};
    OK(S->ops->lot_list(S, mid, &act, out, 8, &n, E));
    cr_assert_eq(n, 2);
    jf_lot_filter rem = {.state = -1, .only_remaining = true};
    OK(S->ops->lot_list(S, mid, &rem, out, 8, &n, E));
    cr_assert_eq(n, 3);
    jf_lot_filter window = {.state = -1, .only_remaining = true, .expires_before_ms = T0 + 500};
    OK(S->ops->lot_list(S, mid, &window, out, 8, &n, E));
    cr_assert_eq(n, 1, "expires_before is exclusive");
    cr_assert_eq(out[0].id, active);
    jf_lot_filter cursor = {.state = -1, .after_expires_at_ms = T0 + 200, .after_id = active};
    OK(S->ops->lot_list(S, mid, &cursor, out, 8, &n, E));
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].id, pending);
    cr_assert_eq(out[1].id, never);
}

/* Listing every lot walks spendable and not-spendable lots in one
 * (expires_at, id) order, page by page; on SQLite they sit in two ranges of
 * one index (migration 5) that the listing merges. */
Test(store, lot_list_merges_spendable_and_spent_lots_in_order) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t ids[6];
    ids[0] = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, T0 + 100);  /* spent below */
    ids[1] = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, T0 + 100);  /* spendable, same expiry */
    ids[2] = add_lot(tid, mid, 10, JF_LOT_PENDING, T0, T0 + 150);
    ids[3] = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, T0 + 200);
    ids[4] = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, T0 + 200);  /* spent below */
    ids[5] = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, JF_NEVER);
    for (int i = 0; i < 6; i += 4) {
        jf_lot spent = {.id = ids[i], .remaining = 0, .state = JF_LOT_ACTIVE};
        OK(S->ops->lot_update(S, &spent, E));
    }
    commit();
    jf_lot_filter f = {.state = -1};
    jf_lot out[1];
    size_t n = 0;
    for (int i = 0; i < 6; i++) {
        OK(S->ops->lot_list(S, mid, &f, out, 1, &n, E));
        cr_assert_eq(n, 1, "page %d", i);
        cr_assert_eq(out[0].id, ids[i], "page %d: lot %lld, expected %lld", i, (long long)out[0].id, (long long)ids[i]);
        f.after_expires_at_ms = out[0].expires_at_ms;
        f.after_id = out[0].id;
    }
    OK(S->ops->lot_list(S, mid, &f, out, 1, &n, E));
    cr_assert_eq(n, 0);
}

/* SQLite: the hot lot queries read the one member index in order (no scan,
 * no sort) — the queries must spell the index's expression as it is. */
Test(store, sqlite_lot_queries_use_the_member_index_without_sorting) {
    if (!backend_is_sqlite()) cr_skip_test("SQLite's planner");
    static const char *const names[] = {"LOT_LIST", "LOT_LIST_SPENDABLE", "LOT_LIST_EXPIRABLE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char plan[1024];
        OK(jf_sqlite_plan(S, names[i], plan, sizeof plan, E));
        cr_assert(strstr(plan, "USING INDEX lots_by_member (member_id=? AND <expr>=?") != NULL, "%s: %s", names[i], plan);
        cr_assert(strstr(plan, "TEMP B-TREE") == NULL, "%s sorts: %s", names[i], plan);
        cr_assert(strstr(plan, "SCAN") == NULL, "%s scans: %s", names[i], plan);
    }
}

/* member.orders_count reads an index of counted orders only (migrations 9
 * and 10), and reads nothing but that index. */
Test(store, sqlite_order_count_reads_the_orders_index_only) {
    if (!backend_is_sqlite()) cr_skip_test("SQLite's planner");
    char plan[1024];
    OK(jf_sqlite_plan(S, "ORDER_COUNT", plan, sizeof plan, E));
    cr_assert(strstr(plan, "USING COVERING INDEX events_orders") != NULL, "%s", plan);
    cr_assert(strstr(plan, "SCAN") == NULL, "%s", plan);
}

Test(store, activatable_expirable_and_members_due) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t t2 = add_tenant("elsewhere");
    int64_t bob = add_member(tid, "bob");
    int64_t carol = add_member(tid, "carol");
    int64_t dave = add_member(tid, "dave");
    int64_t stranger = add_member(t2, "eve");
    int64_t p1 = add_lot(tid, mid, 10, JF_LOT_PENDING, T0 + 100, JF_NEVER);
    add_lot(tid, mid, 10, JF_LOT_PENDING, T0 + 900, JF_NEVER);
    int64_t x1 = add_lot(tid, bob, 10, JF_LOT_ACTIVE, T0, T0 + 100);
    add_lot(tid, bob, 10, JF_LOT_ACTIVE, T0, T0 + 900);
    add_lot(tid, bob, 10, JF_LOT_ACTIVE, T0, JF_NEVER);
    add_hold(tid, carol, 5, T0 + 100);
    add_lot(tid, dave, 10, JF_LOT_ACTIVE, T0, T0 + 200);
    add_lot(t2, stranger, 10, JF_LOT_ACTIVE, T0, T0 + 1); /* another tenant */
    commit();

    jf_lot out[4];
    size_t n = 0;
    OK(S->ops->lot_list_activatable(S, mid, T0 + 100, out, 4, &n, E));
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].id, p1);
    OK(S->ops->lot_list_activatable(S, mid, T0 + 99, out, 4, &n, E));
    cr_assert_eq(n, 0);
    OK(S->ops->lot_list_expirable(S, bob, T0 + 100, out, 4, &n, E));
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].id, x1);
    OK(S->ops->lot_list_expirable(S, bob, INT64_MAX - 1, out, 4, &n, E));
    cr_assert_eq(n, 2, "never-expiring lots never expire");

    int64_t ids[8];
    OK(S->ops->members_due(S, tid, T0 + 99, 0, ids, 8, &n, E));
    cr_assert_eq(n, 0, "nothing due yet");
    OK(S->ops->members_due(S, tid, T0 + 100, 0, ids, 8, &n, E));
    cr_assert_eq(n, 3);
    cr_assert_eq(ids[0], mid);
    cr_assert_eq(ids[1], bob);
    cr_assert_eq(ids[2], carol);
    OK(S->ops->members_due(S, tid, T0 + 1000, bob, ids, 1, &n, E));
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], carol);
    OK(S->ops->members_due(S, tid, T0 + 1000, carol, ids, 8, &n, E));
    cr_assert_eq(n, 1);
    cr_assert_eq(ids[0], dave);
}

Test(store, moves_list_and_sum) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t lot_a = add_lot(tid, mid, 100, JF_LOT_ACTIVE, T0, JF_NEVER);
    int64_t lot_b = add_lot(tid, mid, 100, JF_LOT_ACTIVE, T0, T0 + 5);
    int64_t spend = add_entry(tid, mid, 1, JF_ENTRY_SPEND, -70, T0);
    int64_t back = add_entry(tid, mid, 2, JF_ENTRY_REVERSE, 20, T0);
    jf_lot_move mvs[3] = {{.entry_id = spend, .lot_id = lot_b, .points = -50},
                          {.entry_id = spend, .lot_id = lot_a, .points = -20},
                          {.entry_id = back, .lot_id = lot_b, .points = 20}};
    for (int i = 0; i < 3; i++) {
        OK(S->ops->move_insert(S, &mvs[i], E));
        cr_assert_gt(mvs[i].id, 0);
    }
    commit();
    jf_lot_move out[4];
    size_t n = 0;
    OK(S->ops->move_list_by_entry(S, spend, out, 4, &n, E));
    cr_assert_eq(n, 2);
    cr_assert_eq(memcmp(&out[0], &mvs[0], sizeof mvs[0]), 0);
    cr_assert_eq(memcmp(&out[1], &mvs[1], sizeof mvs[1]), 0);
    int64_t sum = 1;
    OK(S->ops->move_sum_by_lot(S, lot_b, &sum, E));
    cr_assert_eq(sum, -30);
    OK(S->ops->move_sum_by_lot(S, lot_a, &sum, E));
    cr_assert_eq(sum, -20);
    OK(S->ops->move_sum_by_lot(S, 12345, &sum, E));
    cr_assert_eq(sum, 0, "a lot without moves sums to 0");
}

/* ---- holds, idempotency, keys ------------------------------------------ */

Test(store, holds_round_trip_and_open_list) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t eid = add_entry(tid, mid, 1, JF_ENTRY_HOLD, -30, T0);
    jf_hold h = {.tenant_id = tid, .member_id = mid, .entry_id = eid, .points = 30, .state = JF_HOLD_OPEN,
                 .expires_at_ms = T0 + 300, .created_at_ms = T0};
    memset(h.biz_no, 'h', JF_BIZ_NO_LEN_MAX);
    OK(S->ops->hold_insert(S, &h, E));
    int64_t soon = add_hold(tid, mid, 5, T0 + 100);
    int64_t closed = add_hold(tid, mid, 5, T0 + 50);
    commit();

    jf_hold got;
    OK(S->ops->hold_get(S, h.id, &got, E));
    cr_assert_eq(memcmp(&got, &h, sizeof h), 0, "hold differs after round trip");
    EXPECT(JF_NOT_FOUND, S->ops->hold_get(S, h.id + 100, &got, E));

    OK(S->ops->hold_get(S, closed, &got, E));
    got.captured = 5;
    got.state = JF_HOLD_CAPTURED;
    got.closed_at_ms = T0 + 10;
    got.entry_id = eid; /* hold_update links the hold to its entry */
    begin();
    OK(S->ops->hold_update(S, &got, E));
    commit();
    jf_hold again;
    OK(S->ops->hold_get(S, closed, &again, E));
    cr_assert_eq(memcmp(&again, &got, sizeof got), 0, "hold differs after update");

    jf_hold out[4];
    size_t n = 0;
    OK(S->ops->hold_list_open(S, mid, INT64_MAX, out, 4, &n, E));
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].id, h.id);
    cr_assert_eq(out[1].id, soon);
    OK(S->ops->hold_list_open(S, mid, T0 + 100, out, 4, &n, E));
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].id, soon);
    OK(S->ops->hold_list_open(S, mid, T0 + 99, out, 4, &n, E));
    cr_assert_eq(n, 0);
}

Test(store, idempotency_round_trip_and_unique) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    jf_idem r = {.tenant_id = tid, .op = JF_OP_REVERSE, .member_id = mid, .entry_id = 42, .created_at_ms = T0};
    memset(r.biz_no, '#', JF_BIZ_NO_LEN_MAX);
    fill_hash(r.fingerprint, 9);
    memset(r.result, 'r', sizeof r.result - 1);
    memcpy(r.result, "{\"reason\":\"退款\"", strlen("{\"reason\":\"退款\""));
    begin();
    int64_t t2 = add_tenant("other");
    OK(S->ops->idem_insert(S, &r, E));
    EXPECT(JF_ALREADY_EXISTS, S->ops->idem_insert(S, &r, E));
    jf_idem r2 = r;
    r2.tenant_id = t2; /* the same key in another tenant is another key */
    OK(S->ops->idem_insert(S, &r2, E));
    commit();
    jf_idem got;
    OK(S->ops->idem_get(S, tid, r.biz_no, &got, E));
    cr_assert_eq(memcmp(&got, &r, sizeof r), 0, "idempotency record differs after round trip");
    EXPECT(JF_NOT_FOUND, S->ops->idem_get(S, tid, "unknown", &got, E));
}

Test(store, api_keys) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    jf_api_key k = {.tenant_id = tid, .role = JF_ROLE_ADMIN, .created_at_ms = T0};
    snprintf(k.name, sizeof k.name, "后台 console");
    snprintf(k.prefix, sizeof k.prefix, "jf_live_abcd");
    fill_hash(k.secret_hash, 3);
    jf_api_key k2 = k;
    fill_hash(k2.secret_hash, 4);
    k2.role = JF_ROLE_READ;
    begin();
    OK(S->ops->key_insert(S, &k, E));
    OK(S->ops->key_insert(S, &k2, E));
    jf_api_key dup = k;
    EXPECT(JF_ALREADY_EXISTS, S->ops->key_insert(S, &dup, E));
    commit();
    jf_api_key got;
    OK(S->ops->key_get_by_hash(S, k.secret_hash, &got, E));
    cr_assert_eq(memcmp(&got, &k, sizeof k), 0, "key differs after round trip");
    OK(S->ops->key_get(S, k2.id, &got, E));
    cr_assert_eq(memcmp(&got, &k2, sizeof k2), 0);
    uint8_t unknown[JF_HASH_BYTES] = {0};
    EXPECT(JF_NOT_FOUND, S->ops->key_get_by_hash(S, unknown, &got, E));
    jf_api_key out[4];
    size_t n = 0;
    OK(S->ops->key_list(S, tid, 0, out, 4, &n, E));
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].id, k.id);
    OK(S->ops->key_list(S, tid, k.id, out, 4, &n, E));
    cr_assert_eq(n, 1);
    begin();
    OK(S->ops->key_revoke(S, k.id, T0 + 9, E));
    EXPECT(JF_NOT_FOUND, S->ops->key_revoke(S, k2.id + 100, T0, E));
    commit();
    OK(S->ops->key_get(S, k.id, &got, E));
    cr_assert_eq(got.revoked_at_ms, T0 + 9);
}

/* ---- transactions ------------------------------------------------------ */

Test(store, savepoint_rollback_keeps_earlier_work) {
    begin();
    int64_t kept = add_tenant("kept");
    OK(S->ops->savepoint(S, E));
    add_tenant("undone");
    S->ops->savepoint_rollback(S);
    OK(S->ops->savepoint(S, E));
    int64_t released = add_tenant("released");
    OK(S->ops->savepoint_release(S, E));
    commit();
    jf_tenant got;
    OK(S->ops->tenant_get(S, kept, &got, E));
    OK(S->ops->tenant_get(S, released, &got, E));
    EXPECT(JF_NOT_FOUND, S->ops->tenant_get_by_slug(S, "undone", &got, E));
}

Test(store, rollback_discards_everything) {
    begin();
    add_tenant("gone");
    OK(S->ops->savepoint(S, E));
    add_tenant("gone-too");
    OK(S->ops->savepoint_release(S, E));
    S->ops->rollback(S);
    jf_tenant got;
    EXPECT(JF_NOT_FOUND, S->ops->tenant_get_by_slug(S, "gone", &got, E));
    EXPECT(JF_NOT_FOUND, S->ops->tenant_get_by_slug(S, "gone-too", &got, E));
    /* The store is usable again. */
    begin();
    add_tenant("back");
    commit();
}

Test(store, read_snapshot_and_second_connection) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    jf_store *other = open_store();
    OK(other->ops->begin_read(other, E));
    jf_member before;
    OK(other->ops->member_get_by_id(other, mid, false, &before, E));
    /* A write committed meanwhile is not seen inside the snapshot. */
    begin();
    jf_member m = before;
    m.acct.available = 99;
    OK(S->ops->member_update(S, &m, E));
    commit();
    jf_member during;
    OK(other->ops->member_get_by_id(other, mid, false, &during, E));
    cr_assert_eq(during.acct.available, before.acct.available);
    OK(other->ops->commit(other, E));
    OK(other->ops->member_get_by_id(other, mid, false, &during, E));
    cr_assert_eq(during.acct.available, 99);
    jf_store_close(other);
}

/* ---- schema ------------------------------------------------------------ */

Test(store, entries_and_moves_are_append_only) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t lot = add_lot(tid, mid, 10, JF_LOT_ACTIVE, T0, JF_NEVER);
    int64_t eid = add_entry(tid, mid, 1, JF_ENTRY_SPEND, -5, T0);
    jf_lot_move mv = {.entry_id = eid, .lot_id = lot, .points = -5};
    OK(S->ops->move_insert(S, &mv, E));
    commit();
    static const char *const forbidden[] = {
        "UPDATE entries SET points = 1000",
        "DELETE FROM entries",
        "UPDATE lot_moves SET points = 1000",
        "DELETE FROM lot_moves",
    };
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
        jf_error err = {0};
        cr_assert_neq(raw_exec(S, forbidden[i], &err), JF_OK, "%s must fail", forbidden[i]);
        cr_assert(strstr(err.detail, "append-only") != NULL, "%s: %s", forbidden[i], err.detail);
    }
    jf_entry e;
    OK(S->ops->entry_get(S, eid, &e, E));
    cr_assert_eq(e.points, -5);

    /* The tamper test's path: drop the trigger by name, then change a row. */
    drop_trigger(S, "entries", "entries_no_update");
    OK(raw_exec(S, "UPDATE entries SET points = 1000", E));
    OK(S->ops->entry_get(S, eid, &e, E));
    cr_assert_eq(e.points, 1000);
}

Test(store, reopen_is_idempotent) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    jf_store_close(S);
    S = open_store();
    jf_store_close(S);
    S = open_store();
    jf_member got;
    OK(S->ops->member_get(S, tid, "alice", false, &got, E));
    cr_assert_eq(got.id, mid);
}

Test(store, newer_schema_is_refused) {
    OK(raw_exec(S, "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (1000000, 0)", E));
    jf_store_close(S);
    S = NULL;
    jf_error err = {0};
    jf_store *s = NULL;
    jf_code code = jf_store_open(db_location, &s, &err);
    cr_assert_neq(code, JF_OK);
    cr_assert_null(s);
    cr_assert(strstr(err.detail, "newer") != NULL, "detail: %s", err.detail);
}

Test(store, open_dispatch) {
    jf_error err = {0};
    jf_store *s = NULL;
    cr_assert_eq(jf_store_open("postgres://localhost/jifen", &s, &err), JF_UNAVAILABLE);
    cr_assert_null(s);
    cr_assert(strstr(err.detail, "PostgreSQL") != NULL);
    cr_assert_eq(jf_store_open("postgresql://u@h/db", &s, &err), JF_UNAVAILABLE);
    cr_assert_eq(jf_store_open("", &s, &err), JF_INVALID_FIELD);
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.db", tmp_dir);
    cr_assert_eq(jf_store_open(missing, &s, &err), JF_UNAVAILABLE);
    cr_assert_null(s);
}

Test(store, writer_busy_is_retry) {
    /* PostgreSQL writers lock rows, not the database: its lock wait is
     * tested in test_pg.c (pg/row_lock_wait_is_retry). */
    if (!backend_is_sqlite()) cr_skip_test("BEGIN takes no lock on PostgreSQL");
    jf_store *other = open_store();
    short_lock_wait(other);
    begin();
    EXPECT(JF_RETRY, other->ops->begin(other, E));
    commit();
    OK(other->ops->begin(other, E));
    other->ops->rollback(other);
    jf_store_close(other);
}

/* ---- backup ------------------------------------------------------------ */

typedef struct {
    int64_t tenant_id;
    int64_t member_id;
    atomic_bool stop;
    atomic_long committed;
} writer_arg;

/* Each transaction appends one entry and moves the account with it, so a
 * consistent copy has account == sum of entries for every member. */
static void *writer_main(void *p) {
    writer_arg *w = p;
    jf_store *s = NULL;
    jf_error err = {0};
    if (jf_store_open(db_location, &s, &err) != JF_OK) return NULL;
    while (!atomic_load(&w->stop)) {
        if (s->ops->begin(s, &err) != JF_OK) continue;
        jf_member m;
        bool ok = s->ops->member_get_by_id(s, w->member_id, true, &m, &err) == JF_OK;
        jf_entry e = make_entry(w->tenant_id, w->member_id, m.entry_seq + 1, JF_ENTRY_EARN, 3, T0);
        ok = ok && s->ops->entry_insert(s, &e, &err) == JF_OK;
        m.entry_seq++;
        m.acct.available += 3;
        ok = ok && s->ops->member_update(s, &m, &err) == JF_OK;
        if (ok && s->ops->commit(s, &err) == JF_OK)
            atomic_fetch_add(&w->committed, 1);
        else if (!ok)
            s->ops->rollback(s);
    }
    jf_store_close(s);
    return NULL;
}

static void check_member_consistent(jf_store *s, int64_t member_id) {
    jf_member m;
    OK(s->ops->member_get_by_id(s, member_id, false, &m, E));
    static jf_entry chunk[200];
    int64_t sum = 0, count = 0, after = 0;
    size_t n = 0;
    do {
        OK(s->ops->entry_chain(s, member_id, after, chunk, 200, &n, E));
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(chunk[i].seq, count + 1);
            sum += chunk[i].delta.available;
            count++;
        }
        if (n > 0) after = chunk[n - 1].seq;
    } while (n > 0);
    cr_assert_eq(count, m.entry_seq);
    cr_assert_eq(sum, m.acct.available);
}

Test(store, backup_while_writing, .timeout = 60) {
    if (!backend_is_sqlite()) cr_skip_test("online backup is SQLite's");
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    /* Enough rows for the copy to take several steps. */
    begin();
    jf_member m;
    OK(S->ops->member_get_by_id(S, mid, true, &m, E));
    for (int i = 0; i < 20000; i++) {
        jf_entry e = make_entry(tid, mid, ++m.entry_seq, JF_ENTRY_EARN, 2, T0);
        OK(S->ops->entry_insert(S, &e, E));
        m.acct.available += 2;
    }
    OK(S->ops->member_update(S, &m, E));
    commit();

    writer_arg w = {.tenant_id = tid, .member_id = mid};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, writer_main, &w), 0);
    while (atomic_load(&w.committed) < 5) usleep(1000);
    char dest[400];
    snprintf(dest, sizeof dest, "%s/backup.db", tmp_dir);
    jf_error err = {0};
    jf_code code = jf_sqlite_backup(db_location, dest, &err);
    long during = atomic_load(&w.committed);
    usleep(20000);
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    cr_assert_eq(code, JF_OK, "backup: %s", err.detail);
    cr_assert_gt(atomic_load(&w.committed), during, "writes went on during the backup");

    EXPECT(JF_ALREADY_EXISTS, jf_sqlite_backup(db_location, dest, E));
    jf_store *copy = NULL;
    OK(jf_sqlite_open(dest, &copy, E));
    check_member_consistent(copy, mid);
    jf_store_close(copy);
    check_member_consistent(S, mid);
}

Test(store, backup_failure_leaves_no_file) {
    if (!backend_is_sqlite()) cr_skip_test("online backup is SQLite's");
    char src[400], dest[400];
    snprintf(src, sizeof src, "%s/missing.db", tmp_dir);
    snprintf(dest, sizeof dest, "%s/copy.db", tmp_dir);
    jf_error err = {0};
    cr_assert_neq(jf_sqlite_backup(src, dest, &err), JF_OK);
    cr_assert_neq(access(dest, F_OK), 0, "no partial backup file is left");
}

/* Checkpoints from a second connection while the first one, with its own
 * automatic checkpoints off, keeps writing: both succeed and every commit
 * stays readable from a fresh connection. */
Test(store, checkpoint_from_another_connection) {
    OK(S->ops->set_auto_checkpoint(S, false, E));
    jf_store *other = NULL;
    OK(jf_store_open(db_location, &other, E));
    for (int i = 0; i < 20; i++) {
        jf_tenant t = {0};
        snprintf(t.slug, sizeof t.slug, "ckpt-%d", i);
        snprintf(t.timezone, sizeof t.timezone, "UTC");
        begin();
        OK(S->ops->tenant_insert(S, &t, E));
        if (i == 10) OK(other->ops->checkpoint(other, NULL, E)); /* while a write transaction is open */
        commit();
        OK(other->ops->checkpoint(other, NULL, E));
    }
    OK(S->ops->set_auto_checkpoint(S, true, E));
    jf_store_close(other);
    jf_store *fresh = NULL;
    OK(jf_store_open(db_location, &fresh, E));
    jf_tenant got;
    OK(fresh->ops->begin_read(fresh, E));
    OK(fresh->ops->tenant_get_by_slug(fresh, "ckpt-19", &got, E));
    fresh->ops->rollback(fresh);
    jf_store_close(fresh);
}

/* Under back-to-back writes a checkpoint on another connection always runs
 * while the writer is inside a transaction, so the log never starts over
 * and only grows (to 1.2 GB in nine seconds of the HTTP benchmark); once
 * the writer takes its turn between two transactions, its next one starts
 * the log over. */
Test(store, log_starts_over_after_the_writers_turn) {
    if (!backend_is_sqlite()) cr_skip_test("SQLite's log");
    jf_checkpointer *cp = jf_checkpointer_start(db_location, S, 3600 * 1000, 8);
    cr_assert_not_null(cp);
    int64_t frames[6];
    for (int i = 0; i < 6; i++) {
        jf_tenant t = {0};
        snprintf(t.slug, sizeof t.slug, "restart-%d", i);
        snprintf(t.timezone, sizeof t.timezone, "UTC");
        begin();
        frames[i] = jf_checkpointer_run(cp); /* as the thread would, mid-transaction */
        OK(S->ops->tenant_insert(S, &t, E));
        commit();
        if (i > 0) cr_assert_gt(frames[i], frames[i - 1], "pass %d: the log only grows (%lld after %lld)", i,
                                (long long)frames[i], (long long)frames[i - 1]);
    }
    cr_assert_geq(frames[5], 8, "the last pass asked for the writer's turn");
    jf_checkpoint_counts before, after_turn;
    jf_checkpointer_counts(&before);
    jf_checkpointer_writer_turn(cp);
    jf_checkpointer_counts(&after_turn);
    cr_assert_eq(after_turn.turns, before.turns + 1, "the turn is counted (/metrics)");
    uint64_t in_buckets = 0;
    for (int b = 0; b < JF_CHECKPOINT_TURN_BUCKETS; b++) in_buckets += after_turn.turn_le[b] - before.turn_le[b];
    cr_assert_eq(in_buckets, 1, "in one bucket of the histogram");
    jf_checkpointer_writer_turn(cp); /* not asked for again: nothing to count */
    jf_checkpointer_counts(&before);
    cr_assert_eq(before.turns, after_turn.turns);
    jf_tenant t = {0};
    snprintf(t.slug, sizeof t.slug, "restart-after");
    snprintf(t.timezone, sizeof t.timezone, "UTC");
    begin();
    OK(S->ops->tenant_insert(S, &t, E));
    commit();
    begin();
    int64_t after = jf_checkpointer_run(cp);
    OK(S->ops->tenant_get_by_slug(S, "restart-after", &t, E));
    commit();
    cr_assert(after > 0 && after < frames[1], "the log started over: %lld frames, was %lld", (long long)after,
              (long long)frames[5]);
    jf_checkpointer_stop(cp);
}

/* ---- events: answers, orders counted, budget counters, the tenant lock
 * (schema migration 3) ---- */

static void add_event_of(int64_t tid, int64_t mid, const char *type, const char *event_id, int64_t amount_fen,
                         int64_t at_ms, bool counted) {
    jf_event_row e = {.tenant_id = tid, .member_id = mid, .amount_fen = amount_fen, .occurred_at_ms = at_ms,
                      .created_at_ms = T0, .counted = counted};
    snprintf(e.event_id, sizeof e.event_id, "%s", event_id);
    snprintf(e.type, sizeof e.type, "%s", type);
    fill_hash(e.fingerprint, 1);
    OK(S->ops->event_insert(S, &e, E));
}

/* An order of a tenant that counts its orders. */
static void add_event(int64_t tid, int64_t mid, const char *event_id, int64_t amount_fen, int64_t at_ms) {
    add_event_of(tid, mid, "order.paid", event_id, amount_fen, at_ms, true);
}

Test(store, event_answers_round_trip) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    /* An answer of 100 KiB with multi-byte text and quotes. */
    size_t n = 100 * 1024;
    char *answer = malloc(n + 1), *got = malloc(n + 1);
    for (size_t i = 0; i < n; i++) answer[i] = "ab\"\\{}"[i % 6];
    memcpy(answer, "积分", strlen("积分"));
    answer[n] = '\0';
    begin();
    add_event(tid, mid, "e1", 1000, T0);
    add_event(tid, mid, "e2", 1000, T0);
    OK(S->ops->event_answer_put(S, tid, "e1", answer, E));
    EXPECT(JF_NOT_FOUND, S->ops->event_answer_put(S, tid, "nope", "{}", E));
    commit();
    OK(S->ops->event_answer_get(S, tid, "e1", got, n + 1, E));
    cr_assert_str_eq(got, answer);
    EXPECT(JF_INTERNAL, S->ops->event_answer_get(S, tid, "e1", got, n, E)); /* one byte short: refused, not cut */
    EXPECT(JF_NOT_FOUND, S->ops->event_answer_get(S, tid, "e2", got, n + 1, E)); /* recorded without one */
    EXPECT(JF_NOT_FOUND, S->ops->event_answer_get(S, tid, "e3", got, n + 1, E));
    begin();
    int64_t t2 = add_tenant("other");
    commit();
    EXPECT(JF_NOT_FOUND, S->ops->event_answer_get(S, t2, "e1", got, n + 1, E)); /* another tenant's e1 */
    free(answer);
    free(got);
}

/* The text a keyed getter (event_answer_get, setting_get) gives for key:
 * want, or JF_NOT_FOUND when want is NULL. */
typedef jf_code (*text_get_fn)(jf_store *s, int64_t tenant_id, const char *key, char *out, size_t cap, jf_error *err);
static void expect_text(text_get_fn get, int64_t tid, const char *key, const char *want) {
    char got[64];
    if (want == NULL) {
        EXPECT(JF_NOT_FOUND, get(S, tid, key, got, sizeof got, E));
        return;
    }
    OK(get(S, tid, key, got, sizeof got, E));
    cr_assert_str_eq(got, want, "the text of %s", key);
}
#define expect_answer(tid, event_id, want) expect_text(S->ops->event_answer_get, (tid), (event_id), (want))
#define expect_setting(tid, name, want) expect_text(S->ops->setting_get, (tid), (name), (want))

/* Each event's answer is its own, however events and answers alternate in
 * a transaction: an event left without an answer (the engine writes both
 * in one job; a store must not count on it) does not read the answer of
 * the event after it. */
Test(store, event_answers_stay_with_their_events) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    add_event(tid, mid, "e1", 1000, T0);
    OK(S->ops->event_answer_put(S, tid, "e1", "{\"a\":1}", E));
    add_event(tid, mid, "e2", 1000, T0);
    OK(S->ops->event_answer_put(S, tid, "e2", "{\"a\":2}", E));
    add_event(tid, mid, "e3", 1000, T0); /* never answered */
    add_event(tid, mid, "e4", 1000, T0);
    OK(S->ops->event_answer_put(S, tid, "e4", "{\"a\":4}", E));
    commit();
    begin();
    add_event(tid, mid, "e5", 1000, T0); /* never answered, last of its transaction */
    commit();
    begin();
    add_event(tid, mid, "e6", 1000, T0);
    OK(S->ops->event_answer_put(S, tid, "e6", "{\"a\":6}", E));
    commit();
    expect_answer(tid, "e1", "{\"a\":1}");
    expect_answer(tid, "e2", "{\"a\":2}");
    expect_answer(tid, "e3", NULL);
    expect_answer(tid, "e4", "{\"a\":4}");
    expect_answer(tid, "e5", NULL);
    expect_answer(tid, "e6", "{\"a\":6}");
    /* Answers kept as rows of their own (SQLite before schema 13) read as
     * before; an event whose reserved answer id an answer of another event
     * took reads as without one. */
    answers_as_before(S, true);
    if (backend_is_sqlite()) {
        jf_error err = {0};
        cr_assert_eq(raw_exec(S,
                              "UPDATE events SET answer_id = (SELECT answer_id FROM events WHERE event_id = 'e4') "
                              "WHERE event_id = 'e3'",
                              &err),
                     JF_OK, "%s", err.detail);
    }
    expect_answer(tid, "e1", "{\"a\":1}");
    expect_answer(tid, "e2", "{\"a\":2}");
    expect_answer(tid, "e3", NULL);
    expect_answer(tid, "e4", "{\"a\":4}");
    expect_answer(tid, "e6", "{\"a\":6}");
    /* And those kept before they named their event. */
    answers_as_before(S, false);
    expect_answer(tid, "e1", "{\"a\":1}");
    expect_answer(tid, "e6", "{\"a\":6}");
    expect_answer(tid, "e5", NULL);
    /* A new answer of an event whose row is written already goes in it. */
    begin();
    add_event(tid, mid, "e7", 1000, T0);
    add_event(tid, mid, "e8", 1000, T0);
    OK(S->ops->event_answer_put(S, tid, "e7", "{\"a\":7}", E));
    commit();
    expect_answer(tid, "e7", "{\"a\":7}");
    expect_answer(tid, "e8", NULL);
}

/* A setting read again in one write transaction (the rules' generation,
 * read by every event of a batch) is what the database holds: after a
 * write, after a savepoint or a transaction rolled back, and after
 * another connection wrote between transactions. */
Test(store, settings_read_again_are_current) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    expect_setting(tid, "gen", NULL);
    OK(S->ops->setting_put(S, tid, "gen", "1", T0, E));
    expect_setting(tid, "gen", "1");
    OK(S->ops->savepoint(S, E));
    OK(S->ops->setting_put(S, tid, "gen", "2", T0, E));
    expect_setting(tid, "gen", "2");
    S->ops->savepoint_rollback(S);
    expect_setting(tid, "gen", "1");
    commit();
    begin();
    expect_setting(tid, "gen", "1");
    OK(S->ops->setting_put(S, tid, "gen", "3", T0, E));
    expect_setting(tid, "gen", "3");
    S->ops->rollback(S);
    begin();
    expect_setting(tid, "gen", "1");
    commit();
    jf_store *other = open_store();
    jf_error err = {0};
    cr_assert_eq(other->ops->begin(other, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(other->ops->setting_put(other, tid, "gen", "4", T0, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(other->ops->commit(other, &err), JF_OK, "%s", err.detail);
    jf_store_close(other);
    begin();
    expect_setting(tid, "gen", "4");
    char cut[2]; /* a caller's short buffer gets the value cut, as before */
    OK(S->ops->setting_put(S, tid, "long", "abc", T0, E));
    OK(S->ops->setting_get(S, tid, "long", cut, sizeof cut, E));
    cr_assert_str_eq(cut, "a");
    expect_setting(tid, "long", "abc");
    commit();
}

Test(store, order_count_leaves_out_fully_refunded) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    add_event(tid, mid, "full", 1000, T0);
    add_event(tid, mid, "part", 1000, T0 + 1);
    add_event(tid, mid, "no-amount", -1, T0 + 2);
    add_event(tid, mid, "zero", 0, T0 + 3);
    add_event(tid, mid, "later", 1000, T0 + 10);
    commit();
    int64_t count = -1;
    OK(S->ops->order_count(S, mid, T0 + 10, &count, E));
    cr_assert_eq(count, 4, "before T0 + 10, not at it");
    begin();
    OK(S->ops->event_update_refunded(S, tid, "full", 1000, E));
    OK(S->ops->event_update_refunded(S, tid, "part", 999, E));
    OK(S->ops->event_update_refunded(S, tid, "no-amount", 1, E)); /* refunded whole: 1 */
    commit();
    OK(S->ops->order_count(S, mid, T0 + 10, &count, E));
    cr_assert_eq(count, 2, "part and zero (not refunded) count; full and no-amount do not");
    begin();
    OK(S->ops->event_update_refunded(S, tid, "zero", 1, E));
    commit();
    OK(S->ops->order_count(S, mid, T0 + 11, &count, E));
    cr_assert_eq(count, 2, "part and later");
}

/* SQLite: orders written uncounted (their tenant does not count orders)
 * are not counted until order_count_all counts every order of their tenant
 * — and only of their tenant, and only orders.  PostgreSQL counts every
 * order from the start. */
Test(store, order_count_counts_counted_orders_and_order_count_all_counts_a_tenants) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t t2 = add_tenant("elsewhere");
    int64_t stranger = add_member(t2, "eve");
    add_event_of(tid, mid, "order.paid", "o1", 1000, T0, false);
    add_event_of(tid, mid, "order.paid", "o2", 1000, T0 + 1, true);
    add_event_of(tid, mid, "review.posted", "r1", -1, T0 + 2, false);
    add_event_of(t2, stranger, "order.paid", "s1", 1000, T0, false);
    commit();
    int64_t count = -1;
    bool sqlite = backend_is_sqlite();
    OK(S->ops->order_count(S, mid, T0 + 10, &count, E));
    cr_assert_eq(count, sqlite ? 1 : 2, "o2 only (SQLite)");
    begin();
    OK(S->ops->order_count_all(S, tid, E));
    OK(S->ops->order_count_all(S, tid, E)); /* again: nothing left to count */
    commit();
    OK(S->ops->order_count(S, mid, T0 + 10, &count, E));
    cr_assert_eq(count, 2, "o1 and o2, not the review");
    OK(S->ops->order_count(S, stranger, T0 + 10, &count, E));
    cr_assert_eq(count, sqlite ? 0 : 1, "the other tenant's order is not counted (SQLite)");
    begin();
    OK(S->ops->order_count_all(S, t2, E));
    commit();
    OK(S->ops->order_count(S, stranger, T0 + 10, &count, E));
    cr_assert_eq(count, 1);
}

static void add_award(int64_t tid, int64_t mid, const char *event_id, int64_t rule_id, int64_t points,
                      int64_t entry_id, bool history) {
    jf_award_row a = {.tenant_id = tid, .rule_id = rule_id, .rule_version = 2, .member_id = mid, .points = points,
                      .occurred_at_ms = T0, .created_at_ms = T0, .entry_id = entry_id, .history = history};
    snprintf(a.event_id, sizeof a.event_id, "%s", event_id);
    snprintf(a.biz_no, sizeof a.biz_no, "ev-%s-%lld", event_id, (long long)rule_id);
    snprintf(a.explanation, sizeof a.explanation, "%lld points", (long long)points);
    OK(S->ops->award_insert(S, &a, E));
}

static void award_count(int64_t rule_id, int64_t mid, int64_t want_count, int64_t want_net) {
    int64_t count = -1, net = -1;
    OK(S->ops->award_stats(S, rule_id, mid, INT64_MIN, INT64_MAX, &count, &net, E));
    cr_assert_eq(count, want_count, "awards of rule %lld: %lld", (long long)rule_id, (long long)count);
    cr_assert_eq(net, want_net, "net points of rule %lld: %lld", (long long)rule_id, (long long)net);
}

/* Awards of rules without a history (SQLite keeps them in their event's
 * row) are listed with the rows, by rule id, and updated like them; once
 * their rule starts keeping a history they count in award_stats, all of
 * them (more events than a page of the move), once. */
Test(store, awards_without_a_history_list_update_and_join_the_history) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    add_event(tid, mid, "e1", 1000, T0);
    add_award(tid, mid, "e1", 30, 3, 103, false);
    add_award(tid, mid, "e1", 10, 1, 101, true);
    add_award(tid, mid, "e1", 20, 2, 102, false);
    EXPECT(JF_NOT_FOUND, S->ops->award_update_reversed(S, tid, "e1", 40, 1, E));
    OK(S->ops->award_update_reversed(S, tid, "e1", 20, 1, E));
    for (int i = 0; i < 70; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%02d", i);
        add_event(tid, mid, id, 1000, T0);
        add_award(tid, mid, id, 20, 5, 200 + i, false);
    }
    commit();
    jf_award_row rows[4];
    size_t n = 0;
    OK(S->ops->award_list_by_event(S, tid, "e1", rows, 4, &n, E));
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(rows[i].rule_id, 10 * (int64_t)(i + 1), "by rule id");
        cr_assert_eq(rows[i].points, (int64_t)i + 1);
        cr_assert_eq(rows[i].entry_id, 101 + (int64_t)i);
        cr_assert_eq(rows[i].rule_version, 2);
        cr_assert_eq(rows[i].member_id, mid);
        cr_assert_eq(rows[i].occurred_at_ms, T0);
        cr_assert_str_eq(rows[i].event_id, "e1");
        char biz_no[64];
        snprintf(biz_no, sizeof biz_no, "ev-e1-%d", 10 * (int)(i + 1));
        cr_assert_str_eq(rows[i].biz_no, biz_no);
    }
    cr_assert_eq(rows[1].reversed, 1);
    OK(S->ops->award_list_by_event(S, tid, "e1", rows, 2, &n, E));
    cr_assert_eq(n, 2, "at most cap");
    award_count(10, mid, 1, 1);
    begin();
    OK(S->ops->award_history_start(S, tid, 20, E));
    OK(S->ops->award_history_start(S, tid, 20, E)); /* again: nothing left to move */
    commit();
    award_count(20, mid, 71, 2 - 1 + 70 * 5);
    award_count(30, mid, backend_is_sqlite() ? 0 : 1, backend_is_sqlite() ? 0 : 3); /* still in the event's row */
    OK(S->ops->award_list_by_event(S, tid, "e1", rows, 4, &n, E));
    cr_assert_eq(n, 3, "moved, not copied");
    cr_assert_eq(rows[1].rule_id, 20);
    cr_assert_eq(rows[1].reversed, 1);
    cr_assert_eq(rows[1].entry_id, 102);
    cr_assert_eq(rows[2].rule_id, 30);
    begin();
    OK(S->ops->award_update_reversed(S, tid, "e1", 20, 2, E)); /* a row now */
    OK(S->ops->award_update_reversed(S, tid, "e1", 30, 3, E)); /* still in the event's row */
    commit();
    award_count(20, mid, 71, 70 * 5);
    OK(S->ops->award_list_by_event(S, tid, "e1", rows, 4, &n, E));
    cr_assert_eq(rows[2].reversed, 3);
    /* An award for an event written already (SQLite: not held back, so the
     * event's row is updated), listed like the others. */
    begin();
    add_event(tid, mid, "e2", 1000, T0);
    add_event(tid, mid, "e3", 1000, T0);
    add_award(tid, mid, "e2", 60, 6, 106, false);
    add_award(tid, mid, "e2", 50, 5, 105, false);
    commit();
    OK(S->ops->award_list_by_event(S, tid, "e2", rows, 4, &n, E));
    cr_assert_eq(n, 2);
    cr_assert_eq(rows[0].rule_id, 50);
    cr_assert_eq(rows[0].entry_id, 105);
    cr_assert_eq(rows[1].rule_id, 60);
    cr_assert_eq(rows[1].points, 6);
    OK(S->ops->award_list_by_event(S, tid, "e3", rows, 4, &n, E));
    cr_assert_eq(n, 0);
}

/* The memo tests: two members of one tenant, and a transaction per step
 * that locks one of them (memo_step), updates it — before the step's reads
 * and writes or after them (the writes of a task's claim, or an event's
 * tasks, come after the member's update) — and ends committed, or one time
 * in five rolled back (memo_step_end: false). */
static int64_t memo_members(int64_t members[2]) {
    int64_t tid;
    tenant_and_member(&tid, &members[0]);
    begin();
    members[1] = add_member(tid, "memo2");
    commit();
    return tid;
}

static bool memo_update_first;

static jf_member memo_step(int64_t member_id, unsigned *seed) {
    begin();
    jf_member m;
    OK(S->ops->member_get_by_id(S, member_id, true, &m, E));
    memo_update_first = rand_r(seed) % 2 == 0;
    if (memo_update_first) OK(S->ops->member_update(S, &m, E));
    return m;
}

static bool memo_step_end(const jf_member *m, unsigned *seed) {
    if (!memo_update_first) OK(S->ops->member_update(S, m, E));
    if (rand_r(seed) % 5 == 0) {
        S->ops->rollback(S);
        return false;
    }
    commit();
    return true;
}

/* Frequency counts (award_stats without points) of a locked member, which
 * SQLite answers from the member's memo, are the awards' count: random
 * awards of two rules for two members, in and out of time order, more
 * than the memo keeps, counted over random periods; an award of the member
 * not locked; a fifth of the transactions rolled back. */
#define MEMO_STEPS 600
Test(store, frequency_counts_with_the_member_memo_are_the_awards) {
    int64_t members[2];
    int64_t tid = memo_members(members);
    static int64_t times[2][2][MEMO_STEPS * 3], committed_n[2][2];
    int64_t n[2][2] = {{0}};
    uint64_t hits = jf_sqlite_memo_hits();
    unsigned seed = 20261206;
    for (int step = 0; step < MEMO_STEPS; step++) {
        int who = rand_r(&seed) % 2;
        jf_member m = memo_step(members[who], &seed);
        for (int k = 0; k < 3; k++) {
            int rule = rand_r(&seed) % 2, action = rand_r(&seed) % 4;
            if (action == 0) {
                /* an award, now and then of the other member, now and then long ago */
                int whose = rand_r(&seed) % 5 == 0 ? 1 - who : who;
                int64_t at = T0 + (rand_r(&seed) % 8 == 0 ? -(int64_t)(rand_r(&seed) % 1000) : step * 10 + k);
                char event_id[32];
                snprintf(event_id, sizeof event_id, "m%d-%d", step, k);
                jf_award_row a = {.tenant_id = tid, .rule_id = 7 + rule, .rule_version = 1,
                                  .member_id = members[whose], .points = 1, .occurred_at_ms = at,
                                  .created_at_ms = T0, .history = true};
                snprintf(a.event_id, sizeof a.event_id, "%s", event_id);
                snprintf(a.biz_no, sizeof a.biz_no, "b-%s", event_id);
                OK(S->ops->award_insert(S, &a, E));
                times[whose][rule][n[whose][rule]++] = at;
                continue;
            }
            int64_t from = action == 1 ? INT64_MIN : T0 + step * 10 - (int64_t)(rand_r(&seed) % 200);
            int64_t to = action == 3 ? INT64_MAX : from == INT64_MIN ? T0 + step * 10 : from + 1 + rand_r(&seed) % 100;
            int64_t want = 0, got = -1;
            for (int64_t i = 0; i < n[who][rule]; i++) want += times[who][rule][i] >= from && times[who][rule][i] < to;
            OK(S->ops->award_stats(S, 7 + rule, members[who], from, to, &got, NULL, E));
            cr_assert_eq(got, want, "step %d: rule %d of member %d in [%lld, %lld): %lld, want %lld", step, 7 + rule,
                         who, (long long)from, (long long)to, (long long)got, (long long)want);
        }
        if (memo_step_end(&m, &seed)) memcpy(committed_n, n, sizeof n);
        else memcpy(n, committed_n, sizeof n);
    }
    if (backend_is_sqlite()) /* most counts: how many depends on the draws */
        cr_assert_gt(jf_sqlite_memo_hits() - hits, MEMO_STEPS / 2, "%llu from the memo",
                     (unsigned long long)(jf_sqlite_memo_hits() - hits));
}

/* Task progress read with the member locked, which SQLite answers from
 * the member's memo, is the progress rows: random puts of two tasks for
 * two members over a few periods, now and then of the member not locked,
 * gets of random periods, a fifth of the transactions rolled back. */
Test(store, task_progress_with_the_member_memo_is_the_rows) {
    int64_t members[2];
    int64_t tid = memo_members(members);
    /* model: [member][task][period] progress, 0 = no row */
    int64_t model[2][2][3] = {{{0}}}, committed[2][2][3] = {{{0}}};
    uint64_t hits = jf_sqlite_memo_hits();
    unsigned seed = 61206;
    for (int step = 0; step < MEMO_STEPS; step++) {
        int who = rand_r(&seed) % 2;
        jf_member m = memo_step(members[who], &seed);
        for (int k = 0; k < 3; k++) {
            int task = rand_r(&seed) % 2, period = rand_r(&seed) % 3;
            if (rand_r(&seed) % 3 == 0) {
                int whose = rand_r(&seed) % 5 == 0 ? 1 - who : who;
                int64_t progress = model[whose][task][period] + 1 + rand_r(&seed) % 3;
                jf_progress_row p = {.tenant_id = tid, .task_id = 40 + task, .member_id = members[whose],
                                     .period_start_ms = T0 + period * 1000, .task_version = 1 + step % 3,
                                     .progress = progress, .completed_at_ms = progress >= 5 ? T0 + step : 0,
                                     .updated_at_ms = T0 + step};
                OK(S->ops->progress_put(S, &p, E));
                model[whose][task][period] = progress;
                continue;
            }
            jf_progress_row got;
            jf_error err = {0};
            jf_code rc = S->ops->progress_get(S, 40 + task, members[who], T0 + period * 1000, &got, &err);
            if (model[who][task][period] == 0) {
                cr_assert_eq(rc, JF_NOT_FOUND, "step %d: task %d period %d: %s", step, task, period, jf_code_name(rc));
                continue;
            }
            cr_assert_eq(rc, JF_OK, "step %d: %s: %s", step, jf_code_name(rc), err.detail);
            cr_assert_eq(got.progress, model[who][task][period], "step %d: task %d period %d: %lld, want %lld", step,
                         task, period, (long long)got.progress, (long long)model[who][task][period]);
            cr_assert_eq(got.tenant_id, tid);
            cr_assert_eq(got.member_id, members[who]);
            cr_assert_eq(got.task_id, 40 + task);
            cr_assert_eq(got.period_start_ms, T0 + period * 1000);
            cr_assert_eq(got.completed_at_ms != 0, got.progress >= 5);
        }
        if (memo_step_end(&m, &seed)) memcpy(committed, model, sizeof model);
        else memcpy(model, committed, sizeof model);
    }
    if (backend_is_sqlite())
        cr_assert_gt(jf_sqlite_memo_hits() - hits, MEMO_STEPS / 4, "%llu from the memo",
                     (unsigned long long)(jf_sqlite_memo_hits() - hits));
}

/* A memo read back in a later transaction answers by itself — found by
 * review: "all of them" is the least integer, which the memo's parser
 * refused, so every stored memo was read as empty.  An award row written
 * behind the store's back tells a memo that answered (0) from one filled
 * again from the awards (1).  And a stored memo that is not sane (times out
 * of order, more than it keeps) is read as empty: the count is the awards'. */
Test(store, a_stored_memo_answers_and_an_insane_one_is_ignored) {
    if (!backend_is_sqlite()) cr_skip_test("SQLite's memo");
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    jf_member m;
    int64_t got = -1;
    begin();
    OK(S->ops->member_get_by_id(S, mid, true, &m, E));
    OK(S->ops->award_stats(S, 7, mid, INT64_MIN, INT64_MAX, &got, NULL, E)); /* fills r7: none, from the least */
    OK(S->ops->member_update(S, &m, E));
    commit();
    char sql[400];
    snprintf(sql, sizeof sql,
             "INSERT INTO awards (tenant_id, event_id, rule_id, rule_version, member_id, points, reversed, "
             "occurred_at_ms, biz_no, explanation, created_at_ms, entry_id) VALUES (%lld, 'x', 7, 1, %lld, 1, 0, 5, "
             "'bx', '', 5, 0)",
             (long long)tid, (long long)mid);
    OK(raw_exec(S, sql, E));
    uint64_t hits = jf_sqlite_memo_hits();
    begin();
    OK(S->ops->member_get_by_id(S, mid, true, &m, E));
    OK(S->ops->award_stats(S, 7, mid, INT64_MIN, INT64_MAX, &got, NULL, E));
    S->ops->rollback(S);
    cr_assert_eq(got, 0, "the stored memo answered (filled again: %lld)", (long long)got);
    cr_assert_eq(jf_sqlite_memo_hits(), hits + 1);
    static const char *const insane[] = {"r7:0:9,5;", "r7:0:1,2,3,4,5;", "r7:10:5;", "k7:0:1,2;", "r7:0:5"};
    for (size_t i = 0; i < sizeof insane / sizeof insane[0]; i++) {
        snprintf(sql, sizeof sql, "UPDATE members SET memo = '%s' WHERE id = %lld", insane[i], (long long)mid);
        OK(raw_exec(S, sql, E));
        begin();
        OK(S->ops->member_get_by_id(S, mid, true, &m, E));
        OK(S->ops->award_stats(S, 7, mid, 0, INT64_MAX, &got, NULL, E));
        S->ops->rollback(S);
        cr_assert_eq(got, 1, "memo \"%s\": %lld", insane[i], (long long)got);
    }
}

Test(store, rule_budget_counters) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    int64_t points = -1;
    begin();
    int64_t t2 = add_tenant("other");
    EXPECT(JF_NOT_FOUND, S->ops->rule_budget_get(S, tid, 5, true, &points, E));
    EXPECT(JF_NOT_FOUND, S->ops->rule_budget_add(S, tid, 5, -3, false, E)); /* no row: nothing to give back to */
    OK(S->ops->rule_budget_add(S, tid, 5, 40, true, E));
    OK(S->ops->rule_budget_add(S, tid, 5, 40, true, E));
    OK(S->ops->rule_budget_add(S, tid, 5, -15, false, E));
    OK(S->ops->rule_budget_add(S, t2, 5, 7, true, E));
    OK(S->ops->rule_budget_get(S, tid, 5, true, &points, E));
    cr_assert_eq(points, 65);
    OK(S->ops->tenant_lock(S, tid, E));
    commit();
    OK(S->ops->rule_budget_get(S, t2, 5, false, &points, E));
    cr_assert_eq(points, 7, "per tenant");
    OK(S->ops->rule_budget_get(S, tid, 5, false, &points, E));
    cr_assert_eq(points, 65);
}

/* Every version of a rule is read back as it was saved, and only by its
 * tenant (the replay of an event names rules by their version). */
Test(store, rule_versions_are_read_back) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    begin();
    int64_t t2 = add_tenant("other");
    jf_rule_row r = {.tenant_id = tid, .kind = JF_DEF_TASK, .version = 1, .enabled = true,
                     .created_at_ms = T0, .updated_at_ms = T0};
    snprintf(r.event_type, sizeof r.event_type, "order.paid");
    snprintf(r.definition, sizeof r.definition, "{\"name\":\"first\"}");
    OK(S->ops->rule_insert(S, &r, E));
    OK(S->ops->rule_version_insert(S, &r, E));
    r.version = 2;
    r.enabled = false;
    r.updated_at_ms = T0 + 5;
    snprintf(r.definition, sizeof r.definition, "{\"name\":\"second, 积分\"}");
    OK(S->ops->rule_update(S, &r, E));
    OK(S->ops->rule_version_insert(S, &r, E));
    commit();
    jf_rule_row got;
    OK(S->ops->begin_read(S, E));
    OK(S->ops->rule_version_get(S, tid, r.id, 1, &got, E));
    cr_assert(got.id == r.id && got.tenant_id == tid && got.version == 1 && got.enabled && got.created_at_ms == T0);
    cr_assert_str_eq(got.definition, "{\"name\":\"first\"}");
    OK(S->ops->rule_version_get(S, tid, r.id, 2, &got, E));
    cr_assert(got.version == 2 && !got.enabled && got.created_at_ms == T0 + 5);
    cr_assert_str_eq(got.definition, "{\"name\":\"second, 积分\"}");
    EXPECT(JF_NOT_FOUND, S->ops->rule_version_get(S, tid, r.id, 3, &got, E));
    EXPECT(JF_NOT_FOUND, S->ops->rule_version_get(S, t2, r.id, 1, &got, E));
    EXPECT(JF_NOT_FOUND, S->ops->rule_version_get(S, tid, r.id + 1, 1, &got, E));
    S->ops->rollback(S);
}

/* A database at schema 2 with rules and awards: migration 3 fills every
 * rule's budget counter from its awards (net of reversals), adds the event
 * answers and rebuilds the orders index. */
Test(store, migration_3_counts_existing_awards) {
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    jf_rule_row rules[3] = {{.tenant_id = tid, .kind = JF_DEF_RULE, .version = 1, .enabled = true},
                            {.tenant_id = tid, .kind = JF_DEF_RULE, .version = 1, .enabled = true},
                            {.tenant_id = tid, .kind = JF_DEF_TASK, .version = 1, .enabled = true}};
    begin();
    for (int i = 0; i < 3; i++) {
        snprintf(rules[i].event_type, sizeof rules[i].event_type, "order.paid");
        snprintf(rules[i].definition, sizeof rules[i].definition, "{}");
        OK(S->ops->rule_insert(S, &rules[i], E));
    }
    const struct {
        const char *event_id;
        int64_t points, reversed;
    } awards[] = {{"o1", 40, 10}, {"o2", 20, 0}};
    for (int i = 0; i < 2; i++) {
        jf_award_row a = {.tenant_id = tid, .rule_id = rules[0].id, .rule_version = 1, .member_id = mid,
                          .points = awards[i].points, .reversed = awards[i].reversed, .occurred_at_ms = T0,
                          .created_at_ms = T0, .history = true};
        snprintf(a.event_id, sizeof a.event_id, "%s", awards[i].event_id);
        snprintf(a.biz_no, sizeof a.biz_no, "ev-%d", i);
        OK(S->ops->award_insert(S, &a, E));
    }
    add_event(tid, mid, "o1", 1000, T0);
    commit();
    /* Back to schema 2, as a database written before this migration is.
     * Later migrations are forgotten too (they run again on open; each
     * recreates what it changes, or is undone here: the awards' entry_id),
     * or the store would think itself past 3. */
    const char *undo[] = {"DELETE FROM schema_migrations WHERE version >= 3", "ALTER TABLE awards DROP COLUMN entry_id",
                          "DROP TABLE rule_budgets",
                          "DROP TABLE event_answers", "DROP INDEX events_orders", /* 9 (5 on PostgreSQL) */
                          "DELETE FROM settings", /* SQLite's 10 */
                          "CREATE INDEX events_member ON events(member_id, type, occurred_at_ms)",
                          "ALTER TABLE events DROP COLUMN answer_id"};
    for (size_t i = 0; i < sizeof undo / sizeof undo[0]; i++) OK(raw_exec(S, undo[i], E));
    if (backend_is_sqlite()) {
        OK(raw_exec(S, "ALTER TABLE members DROP COLUMN due_floor_ms", E)); /* 8 */
        OK(raw_exec(S, "ALTER TABLE events DROP COLUMN counted", E));       /* 10 */
        OK(raw_exec(S, "ALTER TABLE events DROP COLUMN awards", E));        /* 11 */
        OK(raw_exec(S, "ALTER TABLE rules DROP COLUMN history", E));
        OK(raw_exec(S, "ALTER TABLE members DROP COLUMN memo", E));         /* 12 */
        OK(raw_exec(S, "ALTER TABLE events DROP COLUMN answer", E));        /* 13 */
    }
    jf_store_close(S);
    S = open_store(); /* applies migration 3 */
    int64_t points = -1;
    OK(S->ops->rule_budget_get(S, tid, rules[0].id, false, &points, E));
    cr_assert_eq(points, 50, "40 - 10 + 20");
    OK(S->ops->rule_budget_get(S, tid, rules[1].id, false, &points, E));
    cr_assert_eq(points, 0);
    EXPECT(JF_NOT_FOUND, S->ops->rule_budget_get(S, tid, rules[2].id, false, &points, E)); /* a task */
    char answer[8];
    EXPECT(JF_NOT_FOUND, S->ops->event_answer_get(S, tid, "o1", answer, sizeof answer, E));
    begin();
    OK(S->ops->event_answer_put(S, tid, "o1", "{}", E));
    commit();
    OK(S->ops->event_answer_get(S, tid, "o1", answer, sizeof answer, E));
    cr_assert_str_eq(answer, "{}");
    /* Migration 9 (5): the orders index, built from the orders there;
     * SQLite's migration 10: those orders count, and so do the tenant's
     * next ones. */
    int64_t orders = -1;
    OK(S->ops->order_count(S, mid, T0 + 1, &orders, E));
    cr_assert_eq(orders, 1);
    if (backend_is_sqlite()) expect_setting(tid, "orders.counted", "1");
}

/* A process that keeps the database open (as an older server still
 * running would): a plain SQLite connection that has read once, so it
 * holds its -shm locks, until its stdin pipe closes. */
static pid_t hold_open_in_child(const char *path, int *release_fd) {
    int ready[2], release[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(release), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(ready[0]);
        close(release[1]);
        sqlite3 *db = NULL;
        int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, "SELECT count(*) FROM members", NULL, NULL, NULL);
        char c = rc == SQLITE_OK ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1) _exit(2);
        while (read(release[0], &c, 1) > 0) {
        }
        sqlite3_close(db);
        _exit(0);
    }
    close(ready[1]);
    close(release[0]);
    char c = 0;
    cr_assert_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);
    cr_assert_eq(c, 'y', "the child could not open the database");
    *release_fd = release[1];
    return pid;
}

static void let_go(pid_t pid, int release_fd) {
    close(release_fd);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A migration changes what every writer must do; a process that had the
 * database open before would go on by the old rules.  So an existing
 * database is not migrated while another process has it open. */
Test(store, no_migration_while_another_process_has_the_database_open) {
    if (!backend_is_sqlite()) cr_skip_test("SQLite's migrations");
    int64_t tid, mid;
    tenant_and_member(&tid, &mid);
    /* Back to schema 7, as a database written before migration 8. */
    OK(raw_exec(S, "DELETE FROM schema_migrations WHERE version >= 8", E));
    OK(raw_exec(S, "ALTER TABLE members DROP COLUMN due_floor_ms", E));
    OK(raw_exec(S, "DROP INDEX events_orders", E));               /* 9 and 10 */
    OK(raw_exec(S, "ALTER TABLE events DROP COLUMN counted", E)); /* 10 */
    OK(raw_exec(S, "ALTER TABLE events DROP COLUMN awards", E));  /* 11 */
    OK(raw_exec(S, "ALTER TABLE rules DROP COLUMN history", E));
    OK(raw_exec(S, "ALTER TABLE members DROP COLUMN memo", E));   /* 12 */
    OK(raw_exec(S, "ALTER TABLE events DROP COLUMN answer", E));  /* 13 */
    jf_store_close(S);
    S = NULL;

    int release;
    pid_t child = hold_open_in_child(db_location, &release);
    jf_store *s = NULL;
    jf_error err = {0};
    jf_code rc = jf_store_open(db_location, &s, &err);
    cr_assert_eq(rc, JF_UNAVAILABLE, "opened (%s) while another process had it open", err.detail);
    cr_assert_null(s);
    cr_assert(strstr(err.detail, "another process has the database open") != NULL, "%s", err.detail);
    let_go(child, release);

    S = open_store(); /* alone now: migrates */
    jf_member m;
    OK(S->ops->member_get_by_id(S, mid, false, &m, E));
    begin();
    OK(S->ops->member_get_by_id(S, mid, true, &m, E)); /* reads the new column */
    commit();

    /* Up to date, another process may share it as before. */
    jf_store_close(S);
    child = hold_open_in_child(db_location, &release);
    S = open_store();
    let_go(child, release);
}
