/*
 * limits.h — every bound jifen enforces, in one place, each with its reason.
 *
 * A limit is checked at the edge (CLI, HTTP, engine entry) before any
 * arithmetic or storage happens, so an operation that breaks one is refused
 * with a clear error and writes nothing.  The compile-time asserts at the end
 * keep the bounds consistent with each other.
 */
#ifndef JF_LIMITS_H
#define JF_LIMITS_H

#include <stdint.h>

/* Points moved by one operation: 1..10^12.  Large enough for any real
 * programme (a trillion points), small enough that thousands of operations
 * still sum below JF_QUANTITY_MAX without overflow checks failing. */
#define JF_POINTS_MIN 1LL
#define JF_POINTS_MAX 1000000000000LL

/* Every stored quantity (balances, lifetime counters, stock, fen) stays
 * below 2^53 so that JavaScript clients read it exactly. */
#define JF_QUANTITY_MAX 9007199254740991LL

/* biz_no: the caller's idempotency key, 1..64 printable ASCII (0x21..0x7e).
 * 64 fits a UUID, a ULID or an order number with a prefix. */
#define JF_BIZ_NO_LEN_MAX 64

/* member id: the merchant's own id, 1..64 of [A-Za-z0-9_.:@-]; safe in a URL
 * path segment without escaping, fits an openid or a phone-derived id. */
#define JF_MEMBER_ID_LEN_MAX 64

/* reason: free text shown to operators and members, at most 256 UTF-8 bytes
 * (about 85 Chinese characters); must be valid UTF-8 without control chars. */
#define JF_REASON_BYTES_MAX 256

/* scene: a short machine tag (order, checkin, mall, admin…), 1..32 of
 * [a-z0-9_.-]; reports group by it, so it must stay a small vocabulary. */
#define JF_SCENE_LEN_MAX 32

/* operator: who did an admin action (a console user or key name). */
#define JF_OPERATOR_LEN_MAX 64

/* tenant slug: 1..32 of [a-z0-9-], used in logs and the CLI. */
#define JF_TENANT_SLUG_LEN_MAX 32
#define JF_TENANT_NAME_BYTES_MAX 128

/* IANA zone names are at most ~30 bytes today ("America/Argentina/ComodRivadavia"). */
#define JF_TIMEZONE_LEN_MAX 64

/* Hold time-to-live: 1 s .. 30 days.  A checkout hold longer than a month is
 * a forgotten hold; the points would be frozen with no one to release them. */
#define JF_HOLD_TTL_S_MIN 1LL
#define JF_HOLD_TTL_S_MAX (30LL * 86400)

/* Page size of every list: 1..200, default 50.  Bounds the work and the
 * response size of a single request. */
#define JF_PAGE_LIMIT_MIN 1
#define JF_PAGE_LIMIT_MAX 200
#define JF_PAGE_LIMIT_DEFAULT 50

/* "points expiring within N days": 1..3660 (ten years). */
#define JF_EXPIRING_DAYS_MAX 3660

/* Expiry policy bounds: rolling N days (1..36600) or months (1..1200);
 * annual clearing of what was earned K years before, K in 0..100. */
#define JF_EXPIRY_DAYS_MAX 36600
#define JF_EXPIRY_MONTHS_MAX 1200
#define JF_EXPIRY_YEARS_MAX 100

/* Times accepted from callers: 2000-01-01 .. 2200-01-01 UTC.  Outside that a
 * time is a bug in the caller (seconds sent as milliseconds, say). */
#define JF_TIME_MS_MIN 946684800000LL
#define JF_TIME_MS_MAX 7258118400000LL

/* Lots a single operation walks at most per store round trip. */
#define JF_LOT_BATCH 64
/* The first page of a spend's lots (first-expiring first): most spends are
 * covered by one or two lots, and every lot read is a row fetched. */
#define JF_LOT_FIRST_PAGE 4

/* Members settled per job transaction: bounds a job transaction's size so
 * that the writer lock is never held for long. */
#define JF_JOB_MEMBERS_PER_TX 256

/* API key secret length in bytes before encoding (32 bytes = 256 bits). */
#define JF_KEY_SECRET_BYTES 32
#define JF_KEY_NAME_BYTES_MAX 64

/* ---- earning rules, events, check-in, tasks (issue 5) ---- */

/* Event type: 1..64 of [a-z0-9_.-] ("order.paid", "survey.completed", a
 * merchant's own "store.visited"); matched exactly against rules. */
#define JF_EVENT_TYPE_LEN_MAX 64

/* event_id: the caller's idempotency key of an event, like biz_no. */
#define JF_EVENT_ID_LEN_MAX 64

/* Items of one event: an order with more lines is split by the merchant;
 * every item may be weighed by every rule, so this bounds evaluation. */
#define JF_EVENT_ITEMS_MAX 100

/* SKU and category of an item: short codes, like a scene. */
#define JF_ITEM_CODE_BYTES_MAX 64

/* Earning rules per tenant (enabled or not): every event of a type is
 * evaluated against all of its type, so the bound is a bound on work. */
#define JF_RULES_PER_TENANT_MAX 100

/* Tasks per tenant: a member's task list shows every one of them. */
#define JF_TASKS_PER_TENANT_MAX 50

/* A rule's or task's stored definition (JSON): the condition (4 KiB at
 * most) plus its settings. */
#define JF_RULE_DEFINITION_BYTES_MAX 16384

/* Name of a rule or task, shown to operators and in award explanations. */
#define JF_RULE_NAME_BYTES_MAX 128

/* An award's explanation of its computation, stored with the award. */
#define JF_EXPLANATION_BYTES_MAX 384

/* Attributes of one event (the merchant's own facts a condition may read):
 * at most 32, each a string of at most 256 bytes, an integer, a boolean, or
 * a list of at most 64 strings or integers (the language's list bound), 256
 * list items in all — enough for tags, small enough to check per event. */
#define JF_EVENT_ATTRIBUTES_MAX 32
#define JF_EVENT_ATTRIBUTE_BYTES_MAX 256
#define JF_EVENT_ATTRIBUTE_LIST_MAX 64
#define JF_EVENT_ATTRIBUTE_ITEMS_MAX 256

/* The stored answer of one event (for replays): up to 100 awards with
 * their names and explanations, 50 tasks and the refund's reversals, as
 * compact JSON — about 120 KiB at the very most. */
#define JF_EVENT_ANSWER_BYTES_MAX (256 * 1024)

/* Campaign multipliers: integers 1..100 (weekend x3, member day x2); more
 * than a hundredfold is a typo that would flood the ledger. */
#define JF_MULTIPLIER_MAX 100

/* Check-in streak schedule: at most 31 steps (a month). */
#define JF_CHECKIN_SCHEDULE_MAX 31

/* Tenant settings (check-in configuration): one small JSON value each. */
#define JF_SETTING_BYTES_MAX 2048

_Static_assert(JF_POINTS_MAX < JF_QUANTITY_MAX / 1000, "points per op must leave headroom");
_Static_assert(JF_PAGE_LIMIT_DEFAULT <= JF_PAGE_LIMIT_MAX, "default page within bounds");
_Static_assert(JF_HOLD_TTL_S_MAX * 1000 < JF_TIME_MS_MAX, "ttl in ms fits");

#endif
