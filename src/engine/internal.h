/*
 * internal.h — helpers shared by the engine's files; not part of its API.
 */
#ifndef JF_ENGINE_INTERNAL_H
#define JF_ENGINE_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "engine/ledger.h"
#include "util/text.h"

/* Call a store op: s->ops->name(s, ...). */
#define ST(s, name, ...) ((s)->ops->name((s), __VA_ARGS__))

/* Propagate a non-OK code. */
#define TRY(expr)                              \
    do {                                       \
        jf_code try_code_ = (expr);            \
        if (try_code_ != JF_OK) return try_code_; \
    } while (0)


/* ---- validation (validate.c); field names are the API's ---- */
jf_code jf_check_member_id(const char *s, const char *field, jf_error *err);
jf_code jf_check_biz_no(const char *s, const char *field, jf_error *err);
jf_code jf_check_points(int64_t p, const char *field, jf_error *err);
jf_code jf_check_text(const char *s, const char *field, size_t max_bytes, bool required, jf_error *err);
jf_code jf_check_scene(const char *s, jf_error *err);
jf_code jf_check_time(int64_t ms, const char *field, jf_error *err);
bool jf_utf8_valid(const char *s, size_t len);

/* ---- canonical encoding for hashes and fingerprints (hash.c) ---- */
typedef struct {
    uint8_t buf[2048];
    size_t len;
} jf_canon;
void jf_canon_init(jf_canon *c, const char *tag);
void jf_canon_int(jf_canon *c, int64_t v);
void jf_canon_str(jf_canon *c, const char *s);
void jf_canon_bytes(jf_canon *c, const uint8_t *p, size_t n);
void jf_canon_sha256(const jf_canon *c, uint8_t out[JF_HASH_BYTES]);


/* ---- account arithmetic (ledger.c) ---- */
/* Add delta to acct; refuses (JF_LIMIT_EXCEEDED) if any field would leave
 * [0, JF_QUANTITY_MAX]; acct unchanged then. */
jf_code jf_account_apply(jf_account *acct, const jf_account *delta, jf_error *err);

/* ---- one member being changed inside an operation (ledger.c) ---- */
typedef struct {
    const jf_ctx *c;
    jf_member m;
    bool dirty;
    bool settled; /* jf_mop_settle has run: a second call has nothing to do */
} jf_mop;

/* Lock and load the member by internal id. */
jf_code jf_mop_lock_id(jf_mop *op, const jf_ctx *c, int64_t member_id, jf_error *err);
/* Append an entry for op->m: fills seq, hashes, created_at, available_after,
 * applies e->delta to the account, inserts it (e->id set). */
jf_code jf_mop_append(jf_mop *op, jf_entry *e, jf_error *err);
/* Write the member row if it changed. */
jf_code jf_mop_flush(jf_mop *op, jf_error *err);
/* JF_FROZEN if the member is frozen (it may not earn, spend or hold). */
jf_code jf_mop_refuse_frozen(const jf_mop *op, jf_error *err);
/* New points earned now, the work of jf_earn after its checks: a lot and an
 * earn entry e (the caller fills its scene, biz_no, reason; e->id and the
 * chain fields are set).  available_at_ms before now: at once; expires_at_ms
 * 0: the tenant's policy; points that would expire before they can be used
 * are refused (JF_INVALID_FIELD "expires_at").  The caller has settled. */
jf_code jf_mop_earn(jf_mop *op, jf_entry *e, int64_t points, int64_t available_at_ms, int64_t expires_at_ms,
                    jf_error *err);
/* Reverse points (0: all that is left) of target, an earn, spend or capture
 * entry of op's member, as a reverse entry with biz_no and reason
 * (reverse.c; the rules are there).  Refuses more than is left to reverse
 * (JF_REVERSAL_EXCEEDED; target_name names target in the message), then
 * settles op and writes.  out: entry, reversed_points, debt_points,
 * clamped_points. */
jf_code jf_mop_reverse(jf_mop *op, const jf_entry *target, int64_t points, const char *biz_no, const char *reason,
                       const char *target_name, jf_result *out, jf_error *err);

/* Settle as of now: release timed-out holds, activate due lots, expire due
 * lots (settle.c).  Once per operation: the time is the operation's, so
 * settling again would find nothing due, and an operation making several
 * changes (the awards of an event, the reversals of a refund) settles for
 * the first and returns at once for the others. */
jf_code jf_mop_settle(jf_mop *op, jf_job_stats *stats, jf_error *err);
/* Only the expiry step (after an operation that restored points to lots). */
jf_code jf_mop_expire_due(jf_mop *op, jf_job_stats *stats, jf_error *err);
/* Restore the points of a hold to its lots (latest-taken first), as a
 * release entry; used by release, capture remainders and time-outs. */
jf_code jf_mop_release_hold(jf_mop *op, jf_hold *h, int64_t points, jf_hold_state final_state,
                            const char *biz_no, const char *reason, jf_entry *out, jf_error *err);

/* A growable array of lot changes, reused within an operation. */
typedef struct {
    jf_lot lot;
    int64_t points; /* signed change of remaining */
} jf_lot_change;
typedef struct {
    jf_lot_change *v;
    size_t n, cap;
} jf_changes;
jf_code jf_changes_push(jf_changes *c, const jf_lot *lot, int64_t points, jf_error *err);
void jf_changes_free(jf_changes *c);


/* Call fn for every tenant, in id order, each outside any transaction (the
 * list is read in short read transactions of 16).  Stops at fn's first
 * non-OK code (tenant.c). */
typedef jf_code (*jf_tenant_fn)(jf_store *s, const jf_tenant *t, void *arg, jf_error *err);
jf_code jf_tenants_each(jf_store *s, jf_tenant_fn fn, void *arg, jf_error *err);

/* ---- idempotency (result.c) ---- */
/* Look biz_no up.  Not seen: *replayed = false.  Seen with the same op and
 * fingerprint: out is the original result, *replayed = true.  Otherwise
 * JF_IDEMPOTENCY_CONFLICT. */
jf_code jf_idem_lookup(const jf_ctx *c, const char *biz_no, jf_op_kind op, const uint8_t fp[JF_HASH_BYTES],
                       jf_result *out, bool *replayed, jf_error *err);
jf_code jf_idem_record(const jf_ctx *c, const char *biz_no, const uint8_t fp[JF_HASH_BYTES], const jf_result *res,
                       jf_error *err);

/* Entries referring to ref (kind filter: -1 any), all of them, id
 * ascending, into a malloc'ed array the caller frees. */
jf_code jf_entries_by_ref(jf_store *s, int64_t ref, int kind, jf_entry **out, size_t *n, jf_error *err);
/* All open holds of a member, malloc'ed. */
jf_code jf_holds_open_all(jf_store *s, int64_t member_id, jf_hold **out, size_t *n, jf_error *err);
/* All lot moves of an entry, malloc'ed. */
jf_code jf_moves_of_entry(jf_store *s, int64_t entry_id, jf_lot_move **out, size_t *n, jf_error *err);

/* Lock (creating if asked) the member with this external id. */
jf_code jf_mop_lock_ext(jf_mop *op, const jf_ctx *c, const char *ext_id, bool create, jf_error *err);
/* Take points from spendable lots, first-expiring-first; lots are updated at
 * once, the changes kept for the moves. */
jf_code jf_mop_take_fifo(jf_mop *op, int64_t points, jf_changes *ch, jf_error *err);
/* Points just returned to lots (ch: the returns, points > 0) pay off debt
 * first, as new points do: from each returned amount in order, skipping
 * lots already past their expiry.  Appends the paydown moves to ch. */
jf_code jf_mop_pay_debt(jf_mop *op, jf_changes *ch, int64_t *paid, jf_error *err);
/* Insert the moves of ch for entry_id (lots were already updated). */
jf_code jf_changes_moves(jf_store *s, const jf_changes *ch, int64_t entry_id, jf_error *err);

/* The phrases a kept event answer writes as one byte each
 * (event_answer.c): the i-th (NULL past the last), and whether c may start
 * one (for its tests). */
const char *jf_answer_phrase(size_t i);
bool jf_answer_phrase_may_start(unsigned char c);

#endif
