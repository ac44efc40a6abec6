/*
 * store.h — the backend-neutral store interface.
 *
 * The store is thin: rows in, rows out.  It knows SQL and its database; it
 * knows nothing of points, policies or idempotency rules, which live in the
 * engine once.  A backend (SQLite, PostgreSQL) is a jf_store_ops table plus
 * its private handle; the engine calls through jf_store.
 *
 * Conventions every backend keeps:
 * - Every function returns JF_OK, JF_NOT_FOUND (for a get of a missing row),
 *   JF_ALREADY_EXISTS (unique violation on insert), JF_RETRY (serialization
 *   failure or busy: the transaction runner starts the transaction again) or
 *   JF_UNAVAILABLE / JF_INTERNAL with err->detail saying what the database said.
 * - Inserts fill in the new row's id.
 * - Lists fill at most `cap` records into a caller-owned array and set *n.
 * - Writes happen only inside begin/commit; savepoints nest inside one
 *   transaction (the committer gives each request its own savepoint).
 * - member_get(..., for_update=true) locks the member row until the end of
 *   the transaction (SQLite: the writer lock already serialises; PostgreSQL:
 *   SELECT … FOR UPDATE).  Every write to a member's account, lots, holds or
 *   entries happens after that lock, so operations on one member serialise.
 * - Entries are append-only: the schema makes UPDATE and DELETE on them fail.
 */
#ifndef JF_STORE_H
#define JF_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/types.h"
#include "util/errors.h"

typedef struct jf_store jf_store;

/* Which entries a history query wants. */
typedef struct {
    uint32_t kinds_mask;   /* bit (1u << kind); 0 = all kinds */
    const char *scene;     /* NULL or "" = any */
    int64_t from_ms;       /* created_at_ms >= from_ms; 0 = no bound */
    int64_t to_ms;         /* created_at_ms <  to_ms;   0 = no bound */
    int64_t before_id;     /* cursor: id < before_id;   0 = from the newest */
} jf_entry_filter;

/* Lot listing for queries: by state, by expiry window, keyset-paginated by
 * (expires_at_ms, id) ascending. */
typedef struct {
    int32_t state;           /* -1 = any, else jf_lot_state */
    bool only_remaining;     /* remaining > 0 */
    int64_t expires_before_ms; /* expires_at_ms < this; 0 = no bound */
    int64_t after_expires_at_ms; /* cursor: (expires_at, id) > (this, after_id) */
    int64_t after_id;        /* 0 = from the start */
} jf_lot_filter;

/* One job of a batch, as batch_members hears of it: the member it will
 * lock and the biz_no it will look up ("": none, or not known).  The
 * strings are the caller's, read during the call only. */
typedef struct {
    int64_t tenant_id;
    const char *member_id; /* the merchant's id (ext_id) */
    const char *biz_no;
} jf_batch_member;


/* ---- earning rules, tasks, events, awards, check-ins (issue 5) ----
 * Rules and tasks are stored as their JSON definition (the engine parses
 * and checks it, rules.h); the row carries what queries select by. */
typedef enum { JF_DEF_RULE = 0, JF_DEF_TASK = 1 } jf_def_kind;

typedef struct {
    int64_t id;
    int64_t tenant_id;
    int32_t kind;     /* jf_def_kind */
    int64_t version;  /* 1, 2, 3… */
    bool enabled;
    char event_type[JF_EVENT_TYPE_LEN_MAX + 1];
    char definition[JF_RULE_DEFINITION_BYTES_MAX + 1];
    int64_t created_at_ms;
    int64_t updated_at_ms;
    /* A rule whose awards are kept where award_stats counts them: one
     * that has had a frequency, a member cap or a budget (set by the
     * engine, never cleared; award_history_start counts the awards made
     * before).  Every rule that existed before SQLite schema 11 has it;
     * PostgreSQL keeps every award so (reads true, stores nothing). */
    bool history;
} jf_rule_row;

/* One event received (order.paid, …, order.refunded), keyed by
 * (tenant, event_id): the event's idempotency record. */
typedef struct {
    int64_t tenant_id;
    char event_id[JF_EVENT_ID_LEN_MAX + 1];
    int64_t member_id; /* internal id */
    char type[JF_EVENT_TYPE_LEN_MAX + 1];
    int64_t amount_fen; /* -1: none */
    int64_t occurred_at_ms;
    int64_t refunded_fen; /* order events: refunded so far (1 once refunded, for an order without amount) */
    char refund_of[JF_EVENT_ID_LEN_MAX + 1]; /* order.refunded: the original event_id */
    uint8_t fingerprint[JF_HASH_BYTES];
    int64_t created_at_ms;
    /* An order.paid that member.orders_count counts: the tenant counts its
     * orders (a rule of it has read member.orders_count, or it existed
     * before orders were counted only then: SQLite schema 10).  Written,
     * never read back; PostgreSQL counts every order (pg.c:
     * pg_order_count_all). */
    bool counted;
} jf_event_row;

/* One award of one rule for one event, keyed by (tenant, event_id, rule_id);
 * its points went to the ledger as the earn entry entry_id (biz_no on the
 * entry).  entry_id 0: an award written before the column existed (SQLite
 * schema 6, PostgreSQL 4), whose earn is found by the idempotency record of
 * biz_no. */
typedef struct {
    int64_t tenant_id;
    char event_id[JF_EVENT_ID_LEN_MAX + 1];
    int64_t rule_id;
    int64_t rule_version;
    int64_t member_id;
    int64_t points;
    int64_t reversed; /* taken back by refunds so far */
    int64_t occurred_at_ms;
    char biz_no[JF_BIZ_NO_LEN_MAX + 1];
    char explanation[JF_EXPLANATION_BYTES_MAX + 1];
    int64_t created_at_ms;
    int64_t entry_id;
    /* award_insert: the rule keeps a history (jf_rule_row.history), so the
     * award must count in award_stats.  An award without may be kept with
     * its event instead (SQLite: in the event's row, without its
     * explanation, which the event's answer has; listed and updated like
     * any other). */
    bool history;
} jf_award_row;

/* One check-in of one member on one tenant-time day (YYYYMMDD). */
typedef struct {
    int64_t tenant_id;
    int64_t member_id;
    int32_t day;
    int64_t streak;
    int64_t points;
    bool makeup;
    int64_t cost; /* points a make-up check-in cost */
    int64_t created_at_ms;
} jf_checkin_row;

/* A member's progress on a task in one period (period_start_ms: the start
 * of the day/week/month in tenant time, 0 for one-time tasks). */
typedef struct {
    int64_t tenant_id;
    int64_t task_id;
    int64_t member_id;
    int64_t period_start_ms;
    int64_t task_version;
    int64_t progress;
    int64_t completed_at_ms; /* 0 until the goal is reached */
    int64_t rewarded_at_ms;  /* 0 until the reward is earned (auto or claim) */
    int64_t updated_at_ms;
} jf_progress_row;

typedef struct {
    const char *name; /* "sqlite", "postgres" */

    void (*close)(jf_store *s);

    /* Transactions.  begin() starts a write transaction (SQLite: BEGIN
     * IMMEDIATE).  begin_read() a read-only snapshot. */
    jf_code (*begin)(jf_store *s, jf_error *err);
    jf_code (*begin_read)(jf_store *s, jf_error *err);
    jf_code (*commit)(jf_store *s, jf_error *err);
    void (*rollback)(jf_store *s);
    jf_code (*savepoint)(jf_store *s, jf_error *err);
    /* A release that fails has undone the savepoint's work and left the
     * transaction usable (PostgreSQL reports a write the job sent ahead
     * here, see pg.c): the job fails alone. */
    jf_code (*savepoint_release)(jf_store *s, jf_error *err);
    void (*savepoint_rollback)(jf_store *s);
    /* A number that moves whenever the open write transaction may have
     * changed: a row was inserted, updated or deleted, or a statement
     * failed.  A job that fails without moving it has left the transaction
     * exactly as it found it, so the committer can run a batch without a
     * savepoint per job (on SQLite a savepoint copies every page a job
     * touches into the statement journal: a fifth of an earn's work) and
     * fall back to savepoints only when a failed job moved the mark.  NULL
     * when the backend cannot tell: every job then gets its savepoint. */
    uint64_t (*write_mark)(jf_store *s);
    /* Optional, with write_mark (NULL: begin, and every write is checked
     * when it is made).  begin_batch starts a write transaction whose jobs
     * run one after another without a savepoint each, watched by the write
     * mark (jf_tx_batch's first pass).  The backend may then send a job's
     * writes ahead without waiting for their answers (PostgreSQL: its
     * pipeline), so a write that fails is found late: by a later call of
     * the same job or of a later one, which answers the failure, or by
     * writes_check at the latest.  Finding it moves the write mark, and
     * the transaction is lost: the batch runs again with savepoints.
     * writes_check waits until every write sent ahead has been checked:
     * JF_OK, or the failure found. */
    jf_code (*begin_batch)(jf_store *s, jf_error *err);
    jf_code (*writes_check)(jf_store *s, jf_error *err);

    /* Checkpoints (moving the write-ahead log into the database file).  By
     * default the store does them itself, which on SQLite means inside some
     * COMMIT: a long stall for that one batch.  A server turns that off on
     * its writer (set_auto_checkpoint false) and calls checkpoint() from a
     * connection of its own instead; checkpoint() never blocks the writer.
     * log_frames (may be NULL) gets how many frames the log holds after it
     * (-1: unknown, another checkpoint was running).  Backends without such
     * a log (PostgreSQL) do nothing, set 0 and answer JF_OK. */
    jf_code (*set_auto_checkpoint)(jf_store *s, bool on, jf_error *err);
    jf_code (*checkpoint)(jf_store *s, int64_t *log_frames, jf_error *err);

    /* Deferred log syncs, so that a writer can run its next transaction
     * while the last one's log is being synced (optional: NULL where a
     * COMMIT is durable on its own terms, as on PostgreSQL).
     * defer_sync(on): from now on this connection's COMMITs write the log
     * but do not sync it (SQLite: synchronous=NORMAL — a power loss can then
     * lose the last commits, never corrupt or tear one); off: they sync it
     * again.  log_sync: make every commit of this connection so far
     * durable.  log_sync may be called from another thread while the
     * connection runs other ops; it touches nothing else of the store.
     * Whoever defers must call log_sync before it tells anyone that a
     * commit happened. */
    jf_code (*defer_sync)(jf_store *s, bool on, jf_error *err);
    jf_code (*log_sync)(jf_store *s, jf_error *err);

    /* Tenants. */
    jf_code (*tenant_insert)(jf_store *s, jf_tenant *t, jf_error *err);
    jf_code (*tenant_update)(jf_store *s, const jf_tenant *t, jf_error *err);
    jf_code (*tenant_get)(jf_store *s, int64_t id, jf_tenant *out, jf_error *err);
    jf_code (*tenant_get_by_slug)(jf_store *s, const char *slug, jf_tenant *out, jf_error *err);
    jf_code (*tenant_list)(jf_store *s, int64_t after_id, jf_tenant *out, size_t cap, size_t *n, jf_error *err);

    /* Members.  member_update writes status, account, entry_seq, last_hash
     * and updated_at.  A get with for_update (the member's lock) may also
     * read when anything of the member is due, so that the settling lists
     * below answer "nothing" without a query until something is written
     * (both backends do). */
    jf_code (*member_insert)(jf_store *s, jf_member *m, jf_error *err);
    jf_code (*member_get)(jf_store *s, int64_t tenant_id, const char *ext_id, bool for_update,
                          jf_member *out, jf_error *err);
    jf_code (*member_get_by_id)(jf_store *s, int64_t id, bool for_update, jf_member *out, jf_error *err);
    jf_code (*member_update)(jf_store *s, const jf_member *m, jf_error *err);
    /* Optional (NULL: nothing to check).  What the store keeps of a member
     * beyond the ledger's records, checked against them for verify (SQLite:
     * the member's due floor, which must not be after anything due).
     * finding is "" when it agrees. */
    jf_code (*member_store_check)(jf_store *s, int64_t member_id, char *finding, size_t cap, jf_error *err);
    /* Members of a tenant by id ascending, id > after_id. */
    jf_code (*member_list)(jf_store *s, int64_t tenant_id, int64_t after_id, jf_member *out, size_t cap,
                           size_t *n, jf_error *err);
    /* Ids (ascending, > after_id) of the tenant's members that have a pending
     * lot with available_at <= now, an active lot with remaining > 0 and
     * expires_at <= now, or an open hold with expires_at <= now. */
    jf_code (*members_due)(jf_store *s, int64_t tenant_id, int64_t now_ms, int64_t after_id, int64_t *ids,
                           size_t cap, size_t *n, jf_error *err);

    /* Entries. */
    jf_code (*entry_insert)(jf_store *s, jf_entry *e, jf_error *err);
    jf_code (*entry_get)(jf_store *s, int64_t id, jf_entry *out, jf_error *err);
    /* Newest first (id descending) with the filter. */
    jf_code (*entry_list)(jf_store *s, int64_t member_id, const jf_entry_filter *f, jf_entry *out, size_t cap,
                          size_t *n, jf_error *err);
    /* Chain order (seq ascending, seq > after_seq), for verify. */
    jf_code (*entry_chain)(jf_store *s, int64_t member_id, int64_t after_seq, jf_entry *out, size_t cap,
                           size_t *n, jf_error *err);
    /* Entries whose ref_entry_id == ref, id ascending. */
    jf_code (*entry_list_by_ref)(jf_store *s, int64_t ref_entry_id, jf_entry *out, size_t cap, size_t *n,
                                 jf_error *err);

    /* Lots.  lot_update writes entry_id, remaining and state.  The engine
     * inserts a lot before the entry that creates it (the entry names its
     * lot), then links them with lot_link_entry, which writes only entry_id
     * (no column any index of lots depends on, so no index is rewritten).
     * The link may be written with the lot already — SQLite's store names
     * the id the next entry will take, PostgreSQL's holds the lot's INSERT
     * back until the link — and lot_link_entry then writes nothing. */
    jf_code (*lot_insert)(jf_store *s, jf_lot *l, jf_error *err);
    jf_code (*lot_get)(jf_store *s, int64_t id, jf_lot *out, jf_error *err);
    jf_code (*lot_update)(jf_store *s, const jf_lot *l, jf_error *err);
    jf_code (*lot_link_entry)(jf_store *s, int64_t lot_id, int64_t entry_id, jf_error *err);
    jf_code (*lot_list)(jf_store *s, int64_t member_id, const jf_lot_filter *f, jf_lot *out, size_t cap,
                        size_t *n, jf_error *err);
    /* Active lots with remaining > 0, in spending order: expires_at_ms
     * ascending (JF_NEVER sorts last), then id ascending; keyset cursor
     * (after_expires_at_ms, after_id), start with (INT64_MIN, 0). */
    jf_code (*lot_list_spendable)(jf_store *s, int64_t member_id, int64_t after_expires_at_ms, int64_t after_id,
                                  jf_lot *out, size_t cap, size_t *n, jf_error *err);
    /* Pending lots with available_at_ms <= now, id ascending. */
    jf_code (*lot_list_activatable)(jf_store *s, int64_t member_id, int64_t now_ms, jf_lot *out, size_t cap,
                                    size_t *n, jf_error *err);
    /* Active lots with remaining > 0 and expires_at_ms <= now, in spending
     * order (expires_at_ms, id) — the order of the index, so no sort. */
    jf_code (*lot_list_expirable)(jf_store *s, int64_t member_id, int64_t now_ms, jf_lot *out, size_t cap,
                                  size_t *n, jf_error *err);

    /* Lot moves. */
    jf_code (*move_insert)(jf_store *s, jf_lot_move *mv, jf_error *err);
    /* Moves of one entry, id ascending. */
    jf_code (*move_list_by_entry)(jf_store *s, int64_t entry_id, jf_lot_move *out, size_t cap, size_t *n,
                                  jf_error *err);
    /* Sum of all moves of one lot (for verify). */
    jf_code (*move_sum_by_lot)(jf_store *s, int64_t lot_id, int64_t *sum, jf_error *err);
    /* Sum of the moves of one lot made by entries of one kind (how much of
     * a lot expired: kind JF_ENTRY_EXPIRE). */
    jf_code (*move_sum_by_lot_kind)(jf_store *s, int64_t lot_id, jf_entry_kind kind, int64_t *sum, jf_error *err);

    /* Holds.  hold_update writes entry_id, captured, state and closed_at
     * (inserted before its hold entry, then linked, like lots). */
    jf_code (*hold_insert)(jf_store *s, jf_hold *h, jf_error *err);
    jf_code (*hold_get)(jf_store *s, int64_t id, jf_hold *out, jf_error *err);
    jf_code (*hold_update)(jf_store *s, const jf_hold *h, jf_error *err);
    /* Open holds of a member with expires_at_ms <= before_ms (INT64_MAX: all
     * open holds), id ascending. */
    jf_code (*hold_list_open)(jf_store *s, int64_t member_id, int64_t before_ms, jf_hold *out, size_t cap,
                              size_t *n, jf_error *err);

    /* Idempotency records. */
    jf_code (*idem_get)(jf_store *s, int64_t tenant_id, const char *biz_no, jf_idem *out, jf_error *err);
    jf_code (*idem_insert)(jf_store *s, const jf_idem *r, jf_error *err);
    /* Optional (NULL: not offered).  A hint: the operation about to lock a
     * member will then look up (tenant_id, biz_no), so a backend may read
     * the record with the lock (PostgreSQL: in the lock's round trip).
     * idem_get answers the same with or without it. */
    void (*idem_prefetch)(jf_store *s, int64_t tenant_id, const char *biz_no);
    /* Optional (NULL: not offered).  A hint before a batch (jf_tx_batch):
     * the members its jobs will lock and the biz_nos they will look up,
     * jobs[0..n) in the order the jobs run.  A backend may lock all those
     * members when the batch's first pass (begin_batch) locks its first
     * member, and answer the jobs' member locks and idempotency lookups
     * from what it read then (PostgreSQL: three statements for the batch
     * instead of two per job).  Every answer is the same with or without
     * it; only members a job names are locked.  The hint is forgotten when
     * that pass ends, and ignored by begin. */
    void (*batch_members)(jf_store *s, const jf_batch_member *jobs, size_t n);

    /* API keys. */
    jf_code (*key_insert)(jf_store *s, jf_api_key *k, jf_error *err);
    jf_code (*key_get_by_hash)(jf_store *s, const uint8_t hash[JF_HASH_BYTES], jf_api_key *out, jf_error *err);
    jf_code (*key_get)(jf_store *s, int64_t id, jf_api_key *out, jf_error *err);
    jf_code (*key_list)(jf_store *s, int64_t tenant_id, int64_t after_id, jf_api_key *out, size_t cap, size_t *n,
                        jf_error *err);
    jf_code (*key_revoke)(jf_store *s, int64_t id, int64_t revoked_at_ms, jf_error *err);

    /* ---- earning rules and tasks, events, awards, check-ins, settings
     * (issue 5; engine: rules.h, events.h, checkin.h, tasks.h) ---- */
    /* Rules and tasks: the current version in rules, every version in
     * rule_versions.  rule_update writes version, enabled, event_type,
     * definition and updated_at.  rule_list: the tenant's rows of one
     * kind, id ascending, id > after_id. */
    jf_code (*rule_insert)(jf_store *s, jf_rule_row *r, jf_error *err);
    jf_code (*rule_update)(jf_store *s, const jf_rule_row *r, jf_error *err);
    jf_code (*rule_get)(jf_store *s, int64_t tenant_id, int64_t id, bool for_update, jf_rule_row *out, jf_error *err);
    jf_code (*rule_list)(jf_store *s, int64_t tenant_id, int32_t kind, int64_t after_id, jf_rule_row *out, size_t cap,
                         size_t *n, jf_error *err);
    jf_code (*rule_version_insert)(jf_store *s, const jf_rule_row *r, jf_error *err);
    /* One version as it was saved: id, tenant_id, version, enabled,
     * definition and created_at (kind and event_type are the rule's, not
     * kept per version: left empty).  JF_NOT_FOUND: no such version of
     * a rule or task of the tenant. */
    jf_code (*rule_version_get)(jf_store *s, int64_t tenant_id, int64_t id, int64_t version, jf_rule_row *out,
                                jf_error *err);
    /* Events (JF_ALREADY_EXISTS on a second insert of an event_id, which
     * writes nothing and leaves the transaction usable: the engine inserts
     * first to tell a new event from one seen before). */
    jf_code (*event_insert)(jf_store *s, const jf_event_row *e, jf_error *err);
    jf_code (*event_get)(jf_store *s, int64_t tenant_id, const char *event_id, jf_event_row *out, jf_error *err);
    jf_code (*event_update_refunded)(jf_store *s, int64_t tenant_id, const char *event_id, int64_t refunded_fen,
                                     jf_error *err);
    /* A member's counted order.paid events that occurred before before_ms,
     * leaving out those refunded in full (refunded_fen > 0 and refunded_fen
     * >= amount_fen): member.orders_count.  (Only counted orders are
     * indexed by member.) */
    jf_code (*order_count)(jf_store *s, int64_t member_id, int64_t before_ms, int64_t *count, jf_error *err);
    /* Count every order.paid of the tenant recorded so far (events.counted):
     * when the tenant starts counting orders, in the transaction that
     * starts it (which SQLite's one writer orders before or after every
     * event's). */
    jf_code (*order_count_all)(jf_store *s, int64_t tenant_id, jf_error *err);
    /* Awards. */
    jf_code (*award_insert)(jf_store *s, const jf_award_row *a, jf_error *err);
    /* The awards made before of a rule that starts keeping a history
     * (jf_rule_row.history), counted in award_stats from now on. */
    jf_code (*award_history_start)(jf_store *s, int64_t tenant_id, int64_t rule_id, jf_error *err);
    /* Awards of one event, rule_id ascending. */
    jf_code (*award_list_by_event)(jf_store *s, int64_t tenant_id, const char *event_id, jf_award_row *out,
                                   size_t cap, size_t *n, jf_error *err);
    jf_code (*award_update_reversed)(jf_store *s, int64_t tenant_id, const char *event_id, int64_t rule_id,
                                     int64_t reversed, jf_error *err);
    /* Awards of a rule that keeps a history (member_id 0: of every member)
     * with occurred_at in [from_ms, to_ms): how many, and their points net
     * of reversals (points NULL: only how many, which the index answers
     * alone). */
    jf_code (*award_stats)(jf_store *s, int64_t rule_id, int64_t member_id, int64_t from_ms, int64_t to_ms,
                           int64_t *count, int64_t *points, jf_error *err);
    /* Check-ins (JF_ALREADY_EXISTS on a second one for a day).
     * checkin_update writes streak and points.  checkin_list: days in
     * [from_day, to_day], ascending. */
    jf_code (*checkin_insert)(jf_store *s, const jf_checkin_row *c, jf_error *err);
    jf_code (*checkin_update)(jf_store *s, const jf_checkin_row *c, jf_error *err);
    jf_code (*checkin_list)(jf_store *s, int64_t member_id, int32_t from_day, int32_t to_day, jf_checkin_row *out,
                            size_t cap, size_t *n, jf_error *err);
    /* Task progress (progress_put inserts or replaces). */
    jf_code (*progress_get)(jf_store *s, int64_t task_id, int64_t member_id, int64_t period_start_ms,
                            jf_progress_row *out, jf_error *err);
    jf_code (*progress_put)(jf_store *s, const jf_progress_row *p, jf_error *err);
    /* Tenant settings by name (JSON text; setting_put inserts or replaces). */
    jf_code (*setting_get)(jf_store *s, int64_t tenant_id, const char *name, char *value, size_t cap, jf_error *err);
    jf_code (*setting_put)(jf_store *s, int64_t tenant_id, const char *name, const char *value, int64_t now_ms,
                           jf_error *err);
    /* tenant_lock: lock the tenant's row until the end of the write
     * transaction, so that a check over the tenant's rows ("at most 100
     * rules") and the write it allows run one at a time (PostgreSQL: SELECT
     * … FOR NO KEY UPDATE, which does not block foreign-key checks; SQLite:
     * nothing to do, the writer lock serialises). */
    jf_code (*tenant_lock)(jf_store *s, int64_t tenant_id, jf_error *err);
    /* The answer of an event as the engine encoded it (text of at most
     * JF_EVENT_ANSWER_BYTES_MAX bytes), kept for replays.  get: JF_NOT_FOUND
     * for an event recorded without one; an answer that does not fit cap is
     * JF_INTERNAL. */
    jf_code (*event_answer_put)(jf_store *s, int64_t tenant_id, const char *event_id, const char *answer,
                                jf_error *err);
    jf_code (*event_answer_get)(jf_store *s, int64_t tenant_id, const char *event_id, char *answer, size_t cap,
                                jf_error *err);
    /* A rule's campaign-budget counter (points).  get: JF_NOT_FOUND without
     * a row; for_update locks the row (PostgreSQL).  add: points += delta,
     * creating the row with delta when create, else JF_NOT_FOUND without one. */
    jf_code (*rule_budget_get)(jf_store *s, int64_t tenant_id, int64_t rule_id, bool for_update, int64_t *points,
                               jf_error *err);
    jf_code (*rule_budget_add)(jf_store *s, int64_t tenant_id, int64_t rule_id, int64_t delta, bool create,
                               jf_error *err);
} jf_store_ops;

struct jf_store {
    const jf_store_ops *ops;
    void *impl;
};

/* Open the store named by a location: a filesystem path (SQLite) or a
 * postgres:// URL.  Applies pending schema migrations.  *out is NULL on
 * failure and err says why. */
jf_code jf_store_open(const char *location, jf_store **out, jf_error *err);
void jf_store_close(jf_store *s);

/* Backend constructors (used by jf_store_open and by tests). */
jf_code jf_sqlite_open(const char *path, jf_store **out, jf_error *err);
/* SQLite online backup of the whole database to dest_path. */
jf_code jf_sqlite_backup(const char *src_path, const char *dest_path, jf_error *err);
/* Test hook: run raw SQL on a SQLite store (the tamper test uses it). */
jf_code jf_sqlite_exec_raw(jf_store *s, const char *sql, jf_error *err);
/* Test hook: lookups of a member by its text id on the calling thread that a
 * member hint answered (sqlite.c: a row read by the id the hint named, and
 * checked). */
uint64_t jf_sqlite_member_hint_hits(void);
/* Test hook: frequency counts this thread's SQLite stores answered from a
 * member's memo (sqlite.c: sq_memo). */
uint64_t jf_sqlite_memo_hits(void);
/* Test hook: SQLite's query plan of one of the store's statements, by its
 * name in sqlite.c's statement table ("LOT_LIST"), as "detail; detail". */
jf_code jf_sqlite_plan(jf_store *s, const char *name, char *out, size_t cap, jf_error *err);
/* PostgreSQL (libpq): url is postgres://… or postgresql://….  Backups of a
 * PostgreSQL store are taken with pg_dump (docs/scaling.md). */
jf_code jf_pg_open(const char *url, jf_store **out, jf_error *err);
/* Test hook: run raw SQL on a PostgreSQL store. */
jf_code jf_pg_exec_raw(jf_store *s, const char *sql, jf_error *err);
/* Test hook: raw SQL on either backend (the store's own dialect). */
jf_code jf_store_exec_raw(jf_store *s, const char *sql, jf_error *err);

#endif
