/*
 * ledger.h — the points ledger: every operation that changes or reads points.
 *
 * The engine is pure domain logic over the store interface; it knows nothing
 * of HTTP or of which database it runs on.  Each write operation:
 *   1. validates its request (limits.h) — a bad request writes nothing;
 *   2. checks idempotency on (tenant, biz_no): a replay returns the original
 *      result with replayed = true; the same biz_no with a different request
 *      is JF_IDEMPOTENCY_CONFLICT;
 *   3. locks the member, settles it as of now (activates due pending lots,
 *      expires due lots, releases timed-out holds) so it never spends points
 *      that are already gone;
 *   4. writes its entries, lot moves, lots, holds and the account, each entry
 *      hash-chained to the member's previous one;
 *   5. records the idempotency result.
 * Write operations must run inside a store transaction (jf_tx_run, or the
 * committer's savepoint); on any non-OK return the caller rolls back.
 */
#ifndef JF_LEDGER_H
#define JF_LEDGER_H

#include "engine/types.h"
#include "store/store.h"
#include "util/errors.h"

/* Where and when an operation runs. */
typedef struct {
    jf_store *store;
    const jf_tenant *tenant;
    int64_t now_ms;
} jf_ctx;

typedef struct {
    const char *member_id;
    int64_t points;
    const char *biz_no;
    const char *scene;       /* NULL → "order" */
    const char *reason;      /* may be NULL */
    const char *operator_id; /* may be NULL */
    int64_t expires_at_ms;   /* 0: from the tenant's policy; JF_NEVER: never */
    int64_t available_at_ms; /* 0: now (active at once); later: pending until then */
} jf_earn_req;

typedef struct {
    const char *member_id;
    int64_t points;
    const char *biz_no;
    const char *scene;  /* NULL → "redeem" */
    const char *reason;
} jf_spend_req;

typedef struct {
    const char *member_id;
    int64_t points;
    const char *biz_no;
    int64_t ttl_s;
    const char *scene;  /* NULL → "checkout" */
    const char *reason;
} jf_hold_req;

typedef struct {
    int64_t hold_id;
    int64_t points; /* 0: capture all; else 1..held, the rest is released */
    const char *biz_no;
} jf_capture_req;

typedef struct {
    int64_t hold_id;
    const char *biz_no;
} jf_release_req;

typedef struct {
    const char *member_id;
    const char *target_biz_no; /* the earn, spend or capture to reverse */
    int64_t points;            /* 0: all that is not reversed yet */
    const char *biz_no;
    const char *reason;
} jf_reverse_req;

typedef struct {
    const char *member_id;
    int64_t points; /* non-zero, |points| <= JF_POINTS_MAX */
    const char *biz_no;
    const char *reason;      /* required */
    const char *operator_id; /* required */
} jf_adjust_req;

/* What a write operation did.  entry is the principal entry (for a capture
 * with a remainder, `extra` is the release entry that returned it). */
typedef struct {
    jf_op_kind op;
    bool replayed;
    jf_member member; /* the member after the operation */
    jf_entry entry;
    bool has_extra;
    jf_entry extra;
    bool has_hold;
    jf_hold hold;     /* hold / capture / release: the hold after the operation */
    /* Reversals: how the requested points were covered. */
    int64_t reversed_points; /* taken back (or restored) from lots */
    int64_t debt_points;     /* shortfall recorded as debt */
    int64_t clamped_points;  /* shortfall forgiven under the clamp policy */
} jf_result;

/* ---- tenants ---- */

/* Defaults: timezone "Asia/Shanghai", expiry never, refund policy debt. */
void jf_tenant_defaults(jf_tenant *t);
jf_code jf_tenant_validate(const jf_tenant *t, jf_error *err);
/* Create a tenant (inside a write transaction). */
jf_code jf_tenant_create(jf_store *s, jf_tenant *t, int64_t now_ms, jf_error *err);
/* Replace a tenant's settings (slug and id are kept). */
jf_code jf_tenant_update(jf_store *s, jf_tenant *t, int64_t now_ms, jf_error *err);

/* ---- members ---- */

/* Create the member if it does not exist, optionally setting its status
 * (status < 0: leave as is / active for a new member).  *created says which. */
jf_code jf_member_upsert(const jf_ctx *c, const char *member_id, int status, jf_member *out, bool *created,
                         jf_error *err);
jf_code jf_member_get(const jf_ctx *c, const char *member_id, jf_member *out, jf_error *err);

/* ---- writes ---- */
jf_code jf_earn(const jf_ctx *c, const jf_earn_req *r, jf_result *out, jf_error *err);
jf_code jf_spend(const jf_ctx *c, const jf_spend_req *r, jf_result *out, jf_error *err);
jf_code jf_hold_create(const jf_ctx *c, const jf_hold_req *r, jf_result *out, jf_error *err);
jf_code jf_capture(const jf_ctx *c, const jf_capture_req *r, jf_result *out, jf_error *err);
jf_code jf_release(const jf_ctx *c, const jf_release_req *r, jf_result *out, jf_error *err);
jf_code jf_reverse(const jf_ctx *c, const jf_reverse_req *r, jf_result *out, jf_error *err);
jf_code jf_adjust(const jf_ctx *c, const jf_adjust_req *r, jf_result *out, jf_error *err);

/* ---- jobs ---- */
typedef struct {
    int64_t members_settled;
    int64_t lots_activated;
    int64_t points_activated;
    int64_t lots_expired;
    int64_t points_expired;
    int64_t holds_released;
    int64_t points_released;
} jf_job_stats;

/* Settle one member as of c->now_ms (inside a write transaction). */
jf_code jf_settle_member(const jf_ctx *c, int64_t member_id, jf_job_stats *stats, jf_error *err);
/* Run every due job of every tenant as of now_ms: members are settled in
 * transactions of at most JF_JOB_MEMBERS_PER_TX, each committed before the
 * next, so a crash loses at most the transaction in flight and a rerun does
 * exactly what is left.  Opens its own transactions. */
jf_code jf_jobs_run(jf_store *s, int64_t now_ms, jf_job_stats *stats, jf_error *err);

/* ---- queries (inside a read or write transaction) ---- */
jf_code jf_entries_list(const jf_ctx *c, const char *member_id, const jf_entry_filter *f, jf_entry *out,
                        size_t limit, size_t *n, jf_error *err);
jf_code jf_lots_list(const jf_ctx *c, const char *member_id, const jf_lot_filter *f, jf_lot *out, size_t limit,
                     size_t *n, jf_error *err);
/* Points expiring in [now, now + days): the lots, and their total. */
jf_code jf_expiring(const jf_ctx *c, const char *member_id, int32_t days, jf_lot *out, size_t limit, size_t *n,
                    int64_t *total, jf_error *err);

/* ---- verify ---- */
typedef void (*jf_verify_report_fn)(void *arg, int64_t tenant_id, const char *member_id, const char *finding);
/* Check every member of every tenant; calls report for each finding and
 * sets *findings to their count.  Returns non-OK only if the store failed. */
jf_code jf_verify(jf_store *s, jf_verify_report_fn report, void *arg, int64_t *findings, jf_error *err);

/* ---- helpers shared with the front ends ---- */
/* Compute the hash of e (over its canonical fields and e->prev_hash). */
void jf_entry_hash(const jf_entry *e, const char *member_ext_id, uint8_t out[JF_HASH_BYTES]);
/* Serialise / parse a result for the idempotency record. */
jf_code jf_result_encode(const jf_result *r, char *buf, size_t cap);
jf_code jf_result_decode(jf_store *s, const char *buf, jf_result *out, jf_error *err);

/* SHA-256 of n bytes with the algorithm fetched once and a per-thread
 * digest context (hash.c): every hash in jifen goes through here. */
void jf_sha256(const void *data, size_t n, uint8_t out[JF_HASH_BYTES]);

/* ---- the transaction runner ---- */
/* Run fn inside a write transaction: begin, fn, commit; roll back when fn
 * fails; start again (at most JF_TX_RETRIES times) on JF_RETRY. */
#define JF_TX_RETRIES 8
typedef jf_code (*jf_tx_fn)(jf_store *s, void *arg, jf_error *err);
jf_code jf_tx_run(jf_store *s, jf_tx_fn fn, void *arg, jf_error *err);

/* Run n jobs in ONE write transaction and commit once (the HTTP
 * committer's batches).  run(s, i, arg) runs job i and returns its answer
 * (it keeps its own error detail); a job that fails writes nothing and its
 * neighbours still commit.  First without a savepoint per job: a job that
 * fails without moving the store's write mark left the transaction as it
 * found it.  If one fails after writing (or asks for JF_RETRY), everything
 * is rolled back and every job runs again, each in its own savepoint, and
 * *reran is set; run must therefore keep nothing from a rolled-back run.
 * A backend that sends writes ahead (begin_batch, store.h) may report a
 * job's failed write to a later job, or at the end of the pass
 * (writes_check): that too reruns the batch with savepoints.
 * Backends without a write mark always use savepoints.  Returns JF_OK when
 * the transaction committed (jobs that answered JF_RETRY were rolled back
 * alone and may run again in another transaction), else the failure of
 * begin, a savepoint or commit: nothing of the batch is on disk. */
typedef jf_code (*jf_batch_fn)(jf_store *s, size_t i, void *arg);
/* Job i, which run() answered JF_OK, failed after all: its savepoint could
 * not be released (a write it sent ahead failed, PostgreSQL); the store has
 * undone it and the others go on. */
typedef void (*jf_batch_failed_fn)(size_t i, void *arg, jf_code code, const jf_error *err);
jf_code jf_tx_batch(jf_store *s, size_t n, jf_batch_fn run, jf_batch_failed_fn failed, void *arg, bool *reran,
                    jf_error *err);

#endif
