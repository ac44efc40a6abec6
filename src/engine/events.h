/*
 * events.h — events in, awards out: the earning engine over the store.
 *
 * POST /v1/events hands an event here.  Inside one write transaction:
 *   1. the event_id is the idempotency key: an event seen before answers
 *      exactly what it answered the first time (replayed: the answer is kept
 *      with the event, event_answer.c); the same event_id with another body
 *      is JF_IDEMPOTENCY_CONFLICT;
 *   2. the member is created if new and locked, once for the whole event:
 *      the event is one member operation (settled once, written once);
 *   3. every enabled rule of the event's type is computed (rules.h) and
 *      limited by what the store says it already awarded (frequency, caps,
 *      budget); each award becomes an earn entry and a lot of that member
 *      operation (biz_no derived from (event_id, rule id), no idempotency
 *      record of its own: the event row is the event's and its awards'),
 *      and an award row that records the rule's id and version and the
 *      entry;
 *   4. tasks listening to the event's type advance; a task reaching its goal
 *      rewards at once or waits for a claim.
 * order.refunded names the original event (refund_of) and optionally the
 * refunded amount: every award of the original is reversed in proportion,
 * as the ledger reverses an earn (jf_mop_reverse), all in one member
 * operation; refunds add up and never exceed the order.
 * A dry run computes the same answer on a read transaction and writes
 * nothing.
 *
 * member.orders_count counts a member's orders from an index that only a
 * tenant that counts orders writes: the first save of a rule that mentions
 * member.orders_count counts the tenant's orders recorded so far and sets
 * the tenant counting (its setting orders.counted), in the save's
 * transaction; an order is written counted when the ruleset the event runs
 * under says so.  A tenant whose rules never read the count pays nothing for
 * it.
 *
 * Rules and tasks are compiled once per tenant and cached (jf_ruleset); a
 * change bumps the tenant's generation in the same transaction, and every
 * event reads the generation, so a cached set is never used after a change
 * committed — on this server or another sharing the database.
 */
#ifndef JF_EVENTS_H
#define JF_EVENTS_H

#include <stddef.h>
#include <string.h>

#include "engine/ledger.h"
#include "engine/rules.h"
#include "engine/tasks.h"

/* ---- the compiled rules and tasks of a tenant ---- */
typedef struct jf_ruleset jf_ruleset;
struct jf_ruleset {
    int64_t tenant_id;
    int64_t generation;
    int refs; /* guarded by the cache's mutex */
    size_t rule_count;
    jf_compiled_rule *rules; /* enabled rules, id order */
    size_t task_count;
    jf_compiled_task *tasks; /* enabled tasks, id order */
    bool orders_counted;     /* the tenant's orders are written counted (jf_event_row.counted) */
};

/* The tenant's rules and tasks as of the store's transaction (read or write);
 * release it when done.  Thread-safe. */
jf_code jf_ruleset_acquire(jf_store *s, int64_t tenant_id, jf_ruleset **out, jf_error *err);
void jf_ruleset_release(jf_ruleset *rs);
/* Mark the tenant's rules and tasks changed (inside the changing write
 * transaction). */
jf_code jf_ruleset_bump(jf_store *s, int64_t tenant_id, int64_t now_ms, jf_error *err);

/* ---- definitions: create, update, read (rules and tasks alike) ---- */

/* Create (id 0) or replace (id > 0) a rule or task from its JSON
 * definition: checked and compiled first; a new version is recorded.
 * *out is the stored row.  Write transaction. */
jf_code jf_definition_save(const jf_ctx *c, jf_def_kind kind, int64_t id, const json_t *def, jf_rule_row *out,
                           jf_error *err);
/* Enable or disable (a new version too). */
jf_code jf_definition_set_enabled(const jf_ctx *c, jf_def_kind kind, int64_t id, bool enabled, jf_rule_row *out,
                                  jf_error *err);
jf_code jf_definition_get(const jf_ctx *c, jf_def_kind kind, int64_t id, jf_rule_row *out, jf_error *err);

/* ---- events ---- */

#define JF_EVENT_REFUNDED "order.refunded"

typedef struct {
    int64_t rule_id;
    int64_t rule_version;
    char biz_no[JF_BIZ_NO_LEN_MAX + 1];
    int64_t awarded;       /* the award's points */
    int64_t reversed_now;  /* by this refund */
    int64_t reversed_total;
    int64_t debt_points, clamped_points;
} jf_reversal;

/* What an event did.  The lists come last and only their first *_count
 * elements mean anything: an outcome is 80 KiB, nearly all of it room for
 * the longest lists, and zeroing it all for every event showed up in
 * callgrind (jf_event_outcome_reset clears the rest). */
typedef struct {
    bool replayed;
    bool is_refund;
    bool member_known; /* false only in a dry run for a member never seen */
    jf_member member;  /* after the event */
    int64_t occurred_at_ms;
    int64_t points_total;
    /* Refunds. */
    char refund_of[JF_EVENT_ID_LEN_MAX + 1];
    int64_t refund_fen, refunded_fen, order_fen;
    int64_t reversed_total;
    size_t award_count; /* every rule of the event's type, given or not */
    size_t task_count;
    size_t reversal_count;
    /* ---- the lists (JF_EVENT_OUTCOME_LISTS) ---- */
    jf_award awards[JF_RULES_PER_TENANT_MAX];
    jf_task_state tasks[JF_TASKS_PER_TENANT_MAX];
    jf_reversal reversals[JF_RULES_PER_TENANT_MAX];
} jf_event_outcome;

/* Where the lists start: everything before is cleared by a reset. */
#define JF_EVENT_OUTCOME_LISTS offsetof(jf_event_outcome, awards)

/* An empty outcome: counts zero, everything before the lists zeroed; an
 * element of a list is written whole when it is added. */
static inline void jf_event_outcome_reset(jf_event_outcome *out) { memset(out, 0, JF_EVENT_OUTCOME_LISTS); }

/* Validate an event (limits, names, times: occurred_at not after now). */
jf_code jf_event_validate(const jf_ctx *c, const jf_event *ev, jf_error *err);

/* Process an event (refunds included).  fingerprint: SHA-256 of the
 * canonical request, for the event_id idempotency check.  dry_run: on a
 * read transaction, nothing is written.  refund_of / refund_fen are read
 * for order.refunded (refund_fen < 0: the rest of the order). */
jf_code jf_event_process(const jf_ctx *c, const jf_event *ev, const char *refund_of, int64_t refund_fen,
                         const uint8_t fingerprint[JF_HASH_BYTES], bool dry_run, jf_event_outcome *out,
                         jf_error *err);

/* The answer of an event kept for its replays (event_answer.c): compact
 * JSON of everything jf_event_outcome shows except `replayed`.  encode: a
 * new string (free() it), NULL if longer than JF_EVENT_ANSWER_BYTES_MAX;
 * decode: fills a reset outcome (jf_event_outcome_reset), JF_INTERNAL if the text is malformed. */
char *jf_event_answer_encode(const jf_event_outcome *out);
jf_code jf_event_answer_decode(const char *text, jf_event_outcome *out, jf_error *err);

/* biz_no of the ledger entry made for (tag, key, n): "<tag>-" + 40 hex
 * digits of SHA-256, so that any event_id yields a valid, stable biz_no. */
void jf_derived_biz_no(const char *tag, const char *key, int64_t n, char out[JF_BIZ_NO_LEN_MAX + 1]);

#endif
