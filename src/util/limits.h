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

/* Members settled per job transaction: bounds a job transaction's size so
 * that the writer lock is never held for long. */
#define JF_JOB_MEMBERS_PER_TX 256

/* API key secret length in bytes before encoding (32 bytes = 256 bits). */
#define JF_KEY_SECRET_BYTES 32
#define JF_KEY_NAME_BYTES_MAX 64

_Static_assert(JF_POINTS_MAX < JF_QUANTITY_MAX / 1000, "points per op must leave headroom");
_Static_assert(JF_PAGE_LIMIT_DEFAULT <= JF_PAGE_LIMIT_MAX, "default page within bounds");
_Static_assert(JF_HOLD_TTL_S_MAX * 1000 < JF_TIME_MS_MAX, "ttl in ms fits");

#endif
