/*
 * fixture.h — a fresh ledger to test against, and the helpers every engine
 * test needs: open a SQLite store in a temporary directory, create a tenant,
 * run one engine operation in its own transaction at a chosen "now", read
 * members, entries, lots and holds back, check that nothing was written, and
 * run verify.
 *
 * A test world is an fx_world.  The simplest use is the default world `fx`
 * with `.init = fx_setup, .fini = fx_teardown`: a store with one tenant
 * ("t1", Asia/Shanghai, expiry never, refund policy debt) that every fx_*
 * operation runs against.  Tests needing several stores (crash tests) or a
 * store without a tenant use fx_open/fx_close on their own fx_world.
 *
 * Operations come in two forms:
 *   fx_earn(w, now, &req, &res, &err)  returns the engine's code; on failure
 *                                       the transaction is rolled back, as the
 *                                       engine's contract asks;
 *   fx_earn_ok(w, now, member, points, biz_no)
 *                                       asserts success and returns the result.
 * Reads (fx_member, fx_lots, fx_entries, …) run in their own read
 * transaction and assert that the store answered.
 *
 * The temporary directory is under $TMPDIR (default /dev/shm if it exists,
 * else /tmp): the store runs with synchronous=FULL, and a RAM file system
 * keeps a test's hundreds of commits fast without changing what is tested.
 */
#ifndef JF_TEST_FIXTURE_H
#define JF_TEST_FIXTURE_H

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/ledger.h"
#include "store/store.h"

/* Fixed instants (UTC ms) tests start from.  T0 is 2026-01-15T10:00:00+08:00
 * (02:00Z), an ordinary Thursday far from any month end or DST change. */
#define FX_T0 1768442400000LL
#define FX_SECOND 1000LL
#define FX_MINUTE (60 * FX_SECOND)
#define FX_HOUR (60 * FX_MINUTE)
#define FX_DAY (24 * FX_HOUR)

typedef struct {
    char dir[256];     /* the temporary directory, removed by fx_close */
    char path[320];    /* the SQLite file inside it, or a PostgreSQL URL (fx_store_location) */
    jf_store *store;
    jf_tenant tenant;  /* the tenant fx_* operations run against */
} fx_world;

/* The default world of fx_setup / fx_teardown. */
extern fx_world fx;

/* .init / .fini for Criterion: open `fx` with the default tenant "t1". */
void fx_setup(void);
void fx_teardown(void);

/* Open a new empty store in a new temporary directory (no tenant). */
void fx_open(fx_world *w);
/* Close the store and remove the directory. */
void fx_close(fx_world *w);
/* Close the store and open the same file again (keeps w->tenant). */
void fx_reopen(fx_world *w);

/* Create a tenant (inside its own write transaction) and make it w's
 * current tenant.  tz NULL: Asia/Shanghai; policy NULL: never. */
void fx_tenant_create(fx_world *w, const char *slug, const char *tz, const jf_expiry_policy *policy,
                      jf_refund_policy refund);
/* Change the current tenant's settings (jf_tenant_update) at now. */
void fx_tenant_update(fx_world *w, const jf_tenant *t);
/* Expiry policies, for fx_tenant_create. */
jf_expiry_policy fx_policy_rolling(int32_t n, jf_expiry_unit unit, jf_expiry_round round);
jf_expiry_policy fx_policy_annual(int32_t clear_month, int32_t clear_day, int32_t years);

/* The context of an operation on w's current tenant at now_ms. */
jf_ctx fx_ctx(fx_world *w, int64_t now_ms);

/* Run fn in a write transaction (jf_tx_run on w's store). */
jf_code fx_tx(fx_world *w, jf_tx_fn fn, void *arg, jf_error *err);

/* ---- one engine operation, in its own write transaction, at now ---- */
/* err may be NULL.  On a non-OK code nothing is committed. */
jf_code fx_earn(fx_world *w, int64_t now, const jf_earn_req *r, jf_result *out, jf_error *err);
jf_code fx_spend(fx_world *w, int64_t now, const jf_spend_req *r, jf_result *out, jf_error *err);
jf_code fx_hold(fx_world *w, int64_t now, const jf_hold_req *r, jf_result *out, jf_error *err);
jf_code fx_capture(fx_world *w, int64_t now, const jf_capture_req *r, jf_result *out, jf_error *err);
jf_code fx_release(fx_world *w, int64_t now, const jf_release_req *r, jf_result *out, jf_error *err);
jf_code fx_reverse(fx_world *w, int64_t now, const jf_reverse_req *r, jf_result *out, jf_error *err);
jf_code fx_adjust(fx_world *w, int64_t now, const jf_adjust_req *r, jf_result *out, jf_error *err);
/* status < 0: leave as is. */
jf_code fx_upsert(fx_world *w, int64_t now, const char *member_id, int status, jf_member *out, jf_error *err);
/* jf_jobs_run as of now (opens its own transactions). */
jf_code fx_jobs(fx_world *w, int64_t now, jf_job_stats *stats, jf_error *err);

/* The same, asserting JF_OK (the failure message names the code and detail). */
jf_result fx_earn_ok(fx_world *w, int64_t now, const char *member_id, int64_t points, const char *biz_no);
jf_result fx_spend_ok(fx_world *w, int64_t now, const char *member_id, int64_t points, const char *biz_no);
jf_result fx_hold_ok(fx_world *w, int64_t now, const char *member_id, int64_t points, int64_t ttl_s,
                     const char *biz_no);
jf_result fx_capture_ok(fx_world *w, int64_t now, int64_t hold_id, int64_t points, const char *biz_no);
jf_result fx_release_ok(fx_world *w, int64_t now, int64_t hold_id, const char *biz_no);
jf_result fx_reverse_ok(fx_world *w, int64_t now, const char *member_id, const char *target_biz_no,
                        int64_t points, const char *biz_no);
jf_result fx_adjust_ok(fx_world *w, int64_t now, const char *member_id, int64_t points, const char *biz_no);
jf_job_stats fx_jobs_ok(fx_world *w, int64_t now);

/* ---- reads (each in its own read transaction) ---- */
/* The member (asserts it exists). */
jf_member fx_member(fx_world *w, const char *member_id);
bool fx_member_exists(fx_world *w, const char *member_id);
/* All of a member's entries in chain order (seq 1, 2, …); returns the count
 * (at most cap are stored). */
size_t fx_entries(fx_world *w, const char *member_id, jf_entry *out, size_t cap);
/* All of a member's lots, any state, by id ascending; returns the count. */
size_t fx_lots(fx_world *w, const char *member_id, jf_lot *out, size_t cap);
jf_lot fx_lot(fx_world *w, int64_t lot_id);
jf_entry fx_entry(fx_world *w, int64_t entry_id);
jf_hold fx_hold_get(fx_world *w, int64_t hold_id);
/* The lot moves of an entry, id ascending; returns the count. */
size_t fx_moves(fx_world *w, int64_t entry_id, jf_lot_move *out, size_t cap);
/* Rows in a table (read straight from the SQLite file). */
int64_t fx_count(fx_world *w, const char *table);
/* The first column of the first row of a query on the SQLite file. */
int64_t fx_sqlite_int(fx_world *w, const char *sql);

/* ---- "nothing was written" ---- */
/* A digest of every row of every ledger table, and their counts. */
typedef struct {
    uint8_t digest[32];
    int64_t members, entries, lots, moves, holds, idem;
} fx_state;
fx_state fx_snapshot(fx_world *w);
/* Assert that the database is exactly as in `before`. */
#define FX_ASSERT_UNCHANGED(w, before)                                                                          \
    do {                                                                                                      \
        fx_state fx_after_ = fx_snapshot(w);                                                                  \
        cr_assert_eq(fx_after_.members, (before).members, "members: %lld, were %lld",                         \
                     (long long)fx_after_.members, (long long)(before).members);                              \
        cr_assert_eq(fx_after_.entries, (before).entries, "entries: %lld, were %lld",                         \
                     (long long)fx_after_.entries, (long long)(before).entries);                              \
        cr_assert_eq(fx_after_.lots, (before).lots, "lots changed");                                          \
        cr_assert_eq(fx_after_.moves, (before).moves, "lot moves changed");                                   \
        cr_assert_eq(fx_after_.holds, (before).holds, "holds changed");                                       \
        cr_assert_eq(fx_after_.idem, (before).idem, "idempotency records changed");                           \
        cr_assert(memcmp(fx_after_.digest, (before).digest, 32) == 0, "a row changed");                       \
    } while (0)

/* ---- verify ---- */
/* Findings of one jf_verify run. */
#define FX_FINDINGS_MAX 32
typedef struct {
    int64_t count;
    size_t kept; /* at most FX_FINDINGS_MAX are kept */
    int64_t tenant_id[FX_FINDINGS_MAX];
    char member_id[FX_FINDINGS_MAX][JF_MEMBER_ID_LEN_MAX + 1];
    char text[FX_FINDINGS_MAX][256];
} fx_findings;
/* Run jf_verify (asserting the store answered) and collect what it found. */
fx_findings fx_verify(fx_world *w);
/* Assert that verify finds nothing; the failure lists the findings. */
void fx_verify_clean(fx_world *w);

/* ---- assertions ---- */
/* The code, and for failures the field, of an operation's error. */
#define FX_ASSERT_CODE(got, want, err)                                                                           \
    cr_assert_eq((got), (want), "got %s (field \"%s\": %s), want %s", jf_code_name(got), (err).field,          \
                 (err).detail, jf_code_name(want))
#define FX_ASSERT_FAIL(got, want, err, want_field)                                                                \
    do {                                                                                                       \
        FX_ASSERT_CODE(got, want, err);                                                                        \
        cr_assert_str_eq((err).field, (want_field), "%s: field \"%s\", want \"%s\" (%s)", jf_code_name(got),  \
                         (err).field, (want_field), (err).detail);                                             \
    } while (0)
/* Every field of an account. */
#define FX_ASSERT_ACCT(acct, av, fr, pe, de, ea, sp, ex)                                                        \
    do {                                                                                                       \
        const jf_account fx_a_ = (acct);                                                                       \
        const jf_account fx_w_ = {(av), (fr), (pe), (de), (ea), (sp), (ex)};                                   \
        cr_assert(memcmp(&fx_a_, &fx_w_, sizeof fx_a_) == 0,                                                   \
                  "account {available %lld, frozen %lld, pending %lld, debt %lld, earned %lld, spent %lld, "  \
                  "expired %lld}, want {%lld, %lld, %lld, %lld, %lld, %lld, %lld}",                            \
                  (long long)fx_a_.available, (long long)fx_a_.frozen, (long long)fx_a_.pending,               \
                  (long long)fx_a_.debt, (long long)fx_a_.earned, (long long)fx_a_.spent,                      \
                  (long long)fx_a_.expired, (long long)fx_w_.available, (long long)fx_w_.frozen,               \
                  (long long)fx_w_.pending, (long long)fx_w_.debt, (long long)fx_w_.earned,                    \
                  (long long)fx_w_.spent, (long long)fx_w_.expired);                                           \
    } while (0)
/* An entry's kind, points and available_after. */
#define FX_ASSERT_ENTRY(e, kind_, points_, available_after_)                                                     \
    do {                                                                                                       \
        const jf_entry *fx_e_ = &(e);                                                                          \
        cr_assert_eq(fx_e_->kind, (kind_), "entry %lld (seq %lld): kind %s, want %s", (long long)fx_e_->id,    \
                     (long long)fx_e_->seq, jf_entry_kind_name(fx_e_->kind), jf_entry_kind_name(kind_));       \
        cr_assert_eq(fx_e_->points, (points_), "entry %lld (%s): points %lld, want %lld", (long long)fx_e_->id, \
                     jf_entry_kind_name(fx_e_->kind), (long long)fx_e_->points, (long long)(points_));         \
        cr_assert_eq(fx_e_->available_after, (available_after_), "entry %lld (%s): available_after %lld, want %lld", \
                     (long long)fx_e_->id, jf_entry_kind_name(fx_e_->kind), (long long)fx_e_->available_after, \
                     (long long)(available_after_));                                                           \
    } while (0)
/* A lot's remaining and state. */
#define FX_ASSERT_LOT(lot, remaining_, state_)                                                                   \
    do {                                                                                                       \
        const jf_lot fx_l_ = (lot);                                                                            \
        cr_assert_eq(fx_l_.remaining, (remaining_), "lot %lld: remaining %lld, want %lld", (long long)fx_l_.id, \
                     (long long)fx_l_.remaining, (long long)(remaining_));                                     \
        cr_assert_eq(fx_l_.state, (state_), "lot %lld: state %s, want %s", (long long)fx_l_.id,                \
                     jf_lot_state_name(fx_l_.state), jf_lot_state_name(state_));                               \
    } while (0)

/* An RFC 3339 time as UTC ms (asserts it parses). */
int64_t fx_time(const char *rfc3339);

/* ---- the backend under test (added for the PostgreSQL store, issue 4) ----
 * JIFEN_TEST_STORE unset or "sqlite": a SQLite file in the test's directory.
 * JIFEN_TEST_STORE=postgres: a fresh database per store, created through a
 * maintenance connection to JIFEN_TEST_PG_URL (a postgres:// URL of the test
 * cluster, scripts/pg-test.sh) and dropped afterwards.  fx_open/fx_close use
 * these, and so can tests that open stores themselves. */
bool fx_backend_is_postgres(void);
/* Where a new, empty store lives: "dir/file" on SQLite; on PostgreSQL the
 * URL of a newly created database with a unique name. */
void fx_store_location(char *out, size_t size, const char *dir, const char *file);
/* Remove a temporary directory and the files in it (not recursive: tests
 * make flat directories). */
void fx_remove_tree(const char *dir);
/* Drop the database of a location from fx_store_location (no-op on SQLite:
 * the caller removes its directory). */
void fx_store_location_drop(const char *location);

#endif
