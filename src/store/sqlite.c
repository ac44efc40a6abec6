/*
 * sqlite.c — the SQLite store backend.
 *
 * One connection per jf_store, in WAL mode with synchronous=FULL (a commit
 * returns only after fsync: durability is a product principle), foreign keys
 * on and a busy timeout so that other connections wait rather than fail.
 * Every SQL statement is registered once in the table below and prepared
 * lazily, once per connection, as a persistent statement; after each use it
 * is reset and its bindings cleared, so that no statement holds a read
 * snapshot or points into the caller's memory between calls.
 *
 * A jf_store from here is used by one thread at a time (the connection is
 * opened without SQLite's mutexes); use one store per thread.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/sqlite_schema.h"
#include "store/sqlite_vfs.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/json_text.h"
#include "util/tz.h"

/* How long a statement waits for another connection's lock before it gives
 * up with SQLITE_BUSY (then JF_RETRY). */
#define SQ_BUSY_TIMEOUT_MS 5000

/* Checkpoint the WAL into the database after this many pages (64 MiB of
 * 4 KiB pages) rather than SQLite's 1000: a 256-earn commit writes more than
 * 1000 pages, and checkpointing less often lets pages that many commits
 * touched (a hot member, an index's upper levels) reach the database once. */
#define SQ_WAL_AUTOCHECKPOINT_PAGES 16384
/* When the log starts over, a file that grew past this is cut back to it.
 * Well above where the checkpointer has the log start over
 * (JF_LOG_RESTART_FRAMES, 256 MiB; the file overshoots that to ~450 MiB
 * at saturation while the last passes run): cutting the file at every
 * restart stalled the writer in ftruncate and took the HTTP earn p99 from
 * 7-11 ms to 30-64 ms; with the cut only after a burst past 1 GiB, a busy
 * server writes over the same blocks. */
#define SQ_WAL_SIZE_LIMIT_BYTES (1024LL << 20)

/* Page cache per connection (negative: KiB), filled only as pages are
 * read.  Every page not in it is looked up in the log's index
 * (sqlite3WalFindFrame, one hash table per 4,096 frames of a log that grows
 * to JF_LOG_RESTART_FRAMES) before the memory map, so a writer that touches
 * random leaves of a million members gains from a large one: bench-ledger,
 * 256 earns per transaction, 1,000,000 members, three sizes interleaved
 * (ops/s with the sync in COMMIT / deferred): 32 MiB 25.4k/27.7k and
 * 26.1k/26.7k, 128 MiB 28.1k/29.1k and 30.0k/29.1k, 256 MiB 25.7k/32.2k.
 * (A larger cache used to cost more than it saved: SQLite's default cache
 * walked all of itself at every commit; sqlite_pcache.c.) */
/* Reads through a memory map instead of a pread per page: syscalls are
 * what this kind of VM charges most for.  Measured with bench-ledger at
 * 200,000 members, 256 earns per transaction, alternated twice: +5..8 %
 * durable earns and spends.  SQLite caps it at its compile-time maximum. */
#define SQ_MMAP_SIZE_BYTES 2147418112LL
#define SQ_CACHE_SIZE_KIB 131072

/* Online backup: pages copied per step, and the pause between steps that
 * lets other connections of this process get the CPU. */
#define SQ_BACKUP_PAGES_PER_STEP 1024
#define SQ_BACKUP_PAUSE_US 1000
/* A backup step is retried at most this many times while busy. */
#define SQ_BACKUP_BUSY_RETRIES_MAX 5000

#define TENANT_COLS                                                                                   \
    "id, slug, name, timezone, expiry_kind, expiry_n, expiry_unit, expiry_round, clear_month, "      \
    "clear_day, expiry_years, refund_policy, created_at_ms, updated_at_ms"
#define MEMBER_COLS                                                                                   \
    "id, tenant_id, ext_id, status, available, frozen, pending, debt, earned, spent, expired, "      \
    "entry_seq, last_hash, created_at_ms, updated_at_ms"
#define ENTRY_COLS                                                                                    \
    "id, tenant_id, member_id, seq, kind, points, d_available, d_frozen, d_pending, d_debt, "        \
    "d_earned, d_spent, d_expired, available_after, scene, biz_no, reason, operator_id, "            \
    "ref_entry_id, lot_id, hold_id, created_at_ms, prev_hash, hash"
#define LOT_COLS                                                                                      \
    "id, tenant_id, member_id, entry_id, amount, remaining, state, available_at_ms, expires_at_ms, " \
    "created_at_ms"
#define MOVE_COLS "id, entry_id, lot_id, points"
#define HOLD_COLS                                                                                     \
    "id, tenant_id, member_id, entry_id, points, captured, state, biz_no, expires_at_ms, "           \
    "created_at_ms, closed_at_ms"
#define IDEM_COLS "tenant_id, biz_no, op, fingerprint, member_id, entry_id, result, created_at_ms"
#define KEY_COLS "id, tenant_id, name, prefix, secret_hash, role, created_at_ms, revoked_at_ms"

/* Every statement this backend runs.  X(name, sql). */
#define SQ_STATEMENTS(X)                                                                              \
    X(BEGIN_WRITE, "BEGIN IMMEDIATE")                                                                 \
    X(BEGIN_READ, "BEGIN")                                                                            \
    X(COMMIT, "COMMIT")                                                                               \
    X(ROLLBACK, "ROLLBACK")                                                                           \
    X(SAVEPOINT, "SAVEPOINT jf_op")                                                                   \
    X(RELEASE, "RELEASE jf_op")                                                                       \
    X(ROLLBACK_TO, "ROLLBACK TO jf_op")                                                               \
    X(TENANT_INSERT,                                                                                  \
      "INSERT INTO tenants (slug, name, timezone, expiry_kind, expiry_n, expiry_unit, expiry_round, " \
      "clear_month, clear_day, expiry_years, refund_policy, created_at_ms, updated_at_ms) "          \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")                             \
    X(TENANT_UPDATE,                                                                                  \
      "UPDATE tenants SET slug = ?1, name = ?2, timezone = ?3, expiry_kind = ?4, expiry_n = ?5, "    \
      "expiry_unit = ?6, expiry_round = ?7, clear_month = ?8, clear_day = ?9, expiry_years = ?10, "  \
      "refund_policy = ?11, created_at_ms = ?12, updated_at_ms = ?13 WHERE id = ?14")                \
    X(TENANT_GET, "SELECT " TENANT_COLS " FROM tenants WHERE id = ?1")                                \
    X(TENANT_GET_BY_SLUG, "SELECT " TENANT_COLS " FROM tenants WHERE slug = ?1")                      \
    X(TENANT_LIST, "SELECT " TENANT_COLS " FROM tenants WHERE id > ?1 ORDER BY id LIMIT ?2")          \
    X(MEMBER_INSERT,                                                                                  \
      "INSERT INTO members (tenant_id, ext_id, status, available, frozen, pending, debt, earned, "    \
      "spent, expired, entry_seq, last_hash, created_at_ms, updated_at_ms, due_floor_ms) "           \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 9223372036854775807)")   \
    X(MEMBER_GET, "SELECT " MEMBER_COLS " FROM members WHERE tenant_id = ?1 AND ext_id = ?2")        \
    X(MEMBER_GET_BY_ID, "SELECT " MEMBER_COLS " FROM members WHERE id = ?1")                          \
    /* With the lock (for_update): the member and its due floor (sq_due). */                          \
    X(MEMBER_LOCK, "SELECT " MEMBER_COLS ", due_floor_ms, memo FROM members WHERE tenant_id = ?1 AND ext_id = ?2") \
    X(MEMBER_LOCK_BY_ID, "SELECT " MEMBER_COLS ", due_floor_ms, memo FROM members WHERE id = ?1")             \
    X(MEMBER_MEMO_CLEAR, "UPDATE members SET memo = '' WHERE id = ?1 AND memo <> ''")                  \
    X(MEMBER_MEMO_SET, "UPDATE members SET memo = ?2 WHERE id = ?1")                                   \
    X(MEMBER_FLOOR_SET, "UPDATE members SET due_floor_ms = ?1 WHERE id = ?2")                          \
    X(MEMBER_FLOOR_LOWER, "UPDATE members SET due_floor_ms = ?1 WHERE id = ?2 AND due_floor_ms > ?1")   \
    X(MEMBER_FLOOR_GET, "SELECT due_floor_ms FROM members WHERE id = ?1")                              \
    X(MEMBER_UPDATE,                                                                                  \
      "UPDATE members SET status = ?1, available = ?2, frozen = ?3, pending = ?4, debt = ?5, "       \
      "earned = ?6, spent = ?7, expired = ?8, entry_seq = ?9, last_hash = ?10, updated_at_ms = ?11 " \
      "WHERE id = ?12")                                                                               \
    X(MEMBER_UPDATE_MEMO,                                                                             \
      "UPDATE members SET status = ?1, available = ?2, frozen = ?3, pending = ?4, debt = ?5, "       \
      "earned = ?6, spent = ?7, expired = ?8, entry_seq = ?9, last_hash = ?10, updated_at_ms = ?11, " \
      "memo = ?13 WHERE id = ?12")                                                                    \
    X(MEMBER_LIST,                                                                                    \
      "SELECT " MEMBER_COLS " FROM members WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3")   \
    X(MEMBERS_DUE,                                                                                    \
      "SELECT member_id FROM lots WHERE tenant_id = ?1 AND state = 0 AND available_at_ms <= ?2 "     \
      "  AND member_id > ?3 "                                                                         \
      "UNION SELECT member_id FROM lots WHERE tenant_id = ?1 AND state = 1 AND remaining > 0 "       \
      "  AND expires_at_ms < 9223372036854775807 AND expires_at_ms <= ?2 AND member_id > ?3 "         \
      "UNION SELECT member_id FROM holds WHERE tenant_id = ?1 AND state = 0 AND expires_at_ms <= ?2 " \
      "  AND member_id > ?3 "                                                                         \
      "ORDER BY 1 LIMIT ?4")                                                                          \
    X(ENTRY_INSERT,                                                                                   \
      "INSERT INTO entries (tenant_id, member_id, seq, kind, points, d_available, d_frozen, "        \
      "d_pending, d_debt, d_earned, d_spent, d_expired, available_after, scene, biz_no, reason, "    \
      "operator_id, ref_entry_id, lot_id, hold_id, created_at_ms, prev_hash, hash) VALUES (?1, ?2, " \
      "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, " \
      "?23)")                                                                                         \
    X(ENTRY_GET, "SELECT " ENTRY_COLS " FROM entries WHERE id = ?1")                                  \
    /* Newest first by seq, which is id order within a member (entries are     \
     * appended under the member's lock), so the (member_id, seq) index serves \
     * it; the cursor id becomes a seq bound by one primary-key lookup.  ?3:   \
     * kinds bit mask (all bits: any kind); ?4: scene ('' = any). */           \
    X(ENTRY_LIST,                                                                                     \
      "SELECT " ENTRY_COLS " FROM entries WHERE member_id = ?1 AND id < ?2 AND seq < coalesce("     \
      "(SELECT seq FROM entries WHERE id = ?2 AND member_id = ?1), 9223372036854775807) "            \
      "AND ((?3 >> kind) & 1) = 1 AND (?4 = '' OR scene = ?4) "                                       \
      "AND created_at_ms >= ?5 AND created_at_ms < ?6 ORDER BY seq DESC LIMIT ?7")                    \
    X(ENTRY_CHAIN,                                                                                    \
      "SELECT " ENTRY_COLS " FROM entries WHERE member_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")  \
    /* "ref_entry_id > 0" lets the partial index entries_ref serve it. */                            \
    X(ENTRY_LIST_BY_REF,                                                                              \
      "SELECT " ENTRY_COLS " FROM entries WHERE ref_entry_id = ?1 AND ref_entry_id > 0 "             \
      "ORDER BY id LIMIT ?2")                                                                         \
    X(LOT_INSERT,                                                                                     \
      "INSERT INTO lots (tenant_id, member_id, entry_id, amount, remaining, state, available_at_ms, " \
      "expires_at_ms, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")                   \
    X(LOT_GET, "SELECT " LOT_COLS " FROM lots WHERE id = ?1")                                         \
    X(LOT_UPDATE,                                                                                     \
      "UPDATE lots SET remaining = ?1, state = ?2, entry_id = ?3 WHERE id = ?4 "                     \
      "RETURNING member_id, state, remaining, available_at_ms, expires_at_ms")                       \
    X(LOT_LINK_ENTRY, "UPDATE lots SET entry_id = ?1 WHERE id = ?2")                                  \
    /* The id the next entry will get: SQLite gives a new row the largest  \
     * rowid plus one (sq_lot_insert). */                                    \
    X(ENTRY_NEXT_ID, "SELECT coalesce(max(id), 0) + 1 FROM entries")                                  \
    /* ?2: state or -1; ?3: only remaining > 0; ?4: expires_at_ms bound (inclusive).  The two      \
     * ranges of lots_by_member (schema migration 5), spendable and not, merged in order. */         \
    X(LOT_LIST,                                                                                       \
      "SELECT " LOT_COLS " FROM lots WHERE member_id = ?1 AND (state = 1 AND remaining > 0) = 1 "    \
      "AND (?2 < 0 OR state = ?2) AND (?3 = 0 OR remaining > 0) AND expires_at_ms <= ?4 "            \
      "AND (expires_at_ms, id) > (?5, ?6) "                                                           \
      "UNION ALL SELECT " LOT_COLS " FROM lots WHERE member_id = ?1 "                                 \
      "AND (state = 1 AND remaining > 0) = 0 AND (?2 < 0 OR state = ?2) AND (?3 = 0 OR remaining > 0) " \
      "AND expires_at_ms <= ?4 AND (expires_at_ms, id) > (?5, ?6) "                                   \
      "ORDER BY expires_at_ms, id LIMIT ?7")                                                          \
    X(LOT_LIST_SPENDABLE,                                                                             \
      "SELECT " LOT_COLS " FROM lots WHERE member_id = ?1 AND (state = 1 AND remaining > 0) = 1 "    \
      "AND (expires_at_ms, id) > (?2, ?3) ORDER BY expires_at_ms, id LIMIT ?4")                       \
    X(LOT_LIST_ACTIVATABLE,                                                                           \
      "SELECT " LOT_COLS " FROM lots WHERE member_id = ?1 AND state = 0 AND available_at_ms <= ?2 "   \
      "ORDER BY id LIMIT ?3")                                                                         \
    X(LOT_LIST_EXPIRABLE,                                                                             \
      "SELECT " LOT_COLS " FROM lots WHERE member_id = ?1 AND (state = 1 AND remaining > 0) = 1 "    \
      "AND expires_at_ms <= ?2 ORDER BY expires_at_ms, id LIMIT ?3")                                  \
    X(MOVE_INSERT, "INSERT INTO lot_moves (entry_id, lot_id, points) VALUES (?1, ?2, ?3)")            \
    X(MOVE_LIST_BY_ENTRY,                                                                             \
      "SELECT " MOVE_COLS " FROM lot_moves WHERE entry_id = ?1 ORDER BY id LIMIT ?2")                 \
    X(MOVE_SUM_BY_LOT, "SELECT coalesce(sum(points), 0) FROM lot_moves WHERE lot_id = ?1")            \
    X(MOVE_SUM_BY_LOT_KIND,                                                                           \
      "SELECT coalesce(sum(m.points), 0) FROM lot_moves m JOIN entries e ON e.id = m.entry_id "       \
      "WHERE m.lot_id = ?1 AND e.kind = ?2")                                                          \
    X(HOLD_INSERT,                                                                                    \
      "INSERT INTO holds (tenant_id, member_id, entry_id, points, captured, state, biz_no, "         \
      "expires_at_ms, created_at_ms, closed_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")\
    X(HOLD_GET, "SELECT " HOLD_COLS " FROM holds WHERE id = ?1")                                      \
    X(HOLD_UPDATE,                                                                                    \
      "UPDATE holds SET captured = ?1, state = ?2, closed_at_ms = ?3, entry_id = ?4 WHERE id = ?5 "  \
      "RETURNING member_id, state, expires_at_ms")                                                    \
    /* What of a member is due when (settling, settle.c): its earliest open   \
     * hold's end, pending lot's activation and spendable lot's expiry; NULL:  \
     * none.  Run to bring a member's due floor up to date (sq_due). */       \
    X(MEMBER_DUE,                                                                                     \
      "SELECT (SELECT min(expires_at_ms) FROM holds WHERE member_id = ?1 AND state = 0), "           \
      "(SELECT min(available_at_ms) FROM lots WHERE member_id = ?1 AND state = 0), "                 \
      "(SELECT expires_at_ms FROM lots WHERE member_id = ?1 AND (state = 1 AND remaining > 0) = 1 "  \
      "ORDER BY expires_at_ms, id LIMIT 1)")                                                          \
    X(HOLD_LIST_OPEN,                                                                                 \
      "SELECT " HOLD_COLS " FROM holds WHERE member_id = ?1 AND state = 0 AND expires_at_ms <= ?2 "  \
      "ORDER BY id LIMIT ?3")                                                                         \
    X(IDEM_GET, "SELECT " IDEM_COLS " FROM idempotency WHERE tenant_id = ?1 AND biz_no = ?2")        \
    X(IDEM_INSERT,                                                                                    \
      "INSERT INTO idempotency (" IDEM_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")              \
    X(KEY_INSERT,                                                                                     \
      "INSERT INTO api_keys (tenant_id, name, prefix, secret_hash, role, created_at_ms, "            \
      "revoked_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")                                           \
    X(KEY_GET_BY_HASH, "SELECT " KEY_COLS " FROM api_keys WHERE secret_hash = ?1")                    \
    X(KEY_GET, "SELECT " KEY_COLS " FROM api_keys WHERE id = ?1")                                     \
    X(KEY_LIST,                                                                                       \
      "SELECT " KEY_COLS " FROM api_keys WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3")     \
    X(KEY_REVOKE, "UPDATE api_keys SET revoked_at_ms = ?1 WHERE id = ?2")                             \
    X(SCHEMA_VERSION, "SELECT coalesce(max(version), 0) FROM schema_migrations")                      \
    X(SCHEMA_RECORD, "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?1, ?2)")          \
    SQ_RULE_STATEMENTS(X)

/* Statements of earning rules, tasks, events, awards, check-ins, task
 * progress and settings (issue 5). */
#define RULE_COLS                                                                                     \
    "id, tenant_id, kind, version, enabled, event_type, definition, created_at_ms, updated_at_ms, history"
#define EVENT_COLS                                                                                    \
    "tenant_id, event_id, member_id, type, amount_fen, occurred_at_ms, refunded_fen, refund_of, "    \
    "fingerprint, created_at_ms"
#define AWARD_COLS                                                                                    \
    "tenant_id, event_id, rule_id, rule_version, member_id, points, reversed, occurred_at_ms, "      \
    "biz_no, explanation, created_at_ms, entry_id"
#define CHECKIN_COLS "tenant_id, member_id, day, streak, points, makeup, cost, created_at_ms"
#define PROGRESS_COLS                                                                                 \
    "tenant_id, task_id, member_id, period_start_ms, task_version, progress, completed_at_ms, "      \
    "rewarded_at_ms, updated_at_ms"
#define SQ_RULE_STATEMENTS(X)                                                                         \
    X(RULE_INSERT,                                                                                    \
      "INSERT INTO rules (tenant_id, kind, version, enabled, event_type, definition, created_at_ms, " \
      "updated_at_ms, history) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")                          \
    X(RULE_UPDATE,                                                                                    \
      "UPDATE rules SET version = ?1, enabled = ?2, event_type = ?3, definition = ?4, "              \
      "updated_at_ms = ?5, history = ?8 WHERE id = ?6 AND tenant_id = ?7")                           \
    X(RULE_GET, "SELECT " RULE_COLS " FROM rules WHERE id = ?1 AND tenant_id = ?2")                   \
    X(RULE_LIST,                                                                                      \
      "SELECT " RULE_COLS " FROM rules WHERE tenant_id = ?1 AND kind = ?2 AND id > ?3 "             \
      "ORDER BY id LIMIT ?4")                                                                         \
    X(RULE_VERSION_INSERT,                                                                            \
      "INSERT INTO rule_versions (rule_id, version, tenant_id, enabled, definition, created_at_ms) "  \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                                              \
    X(RULE_VERSION_GET,                                                                               \
      "SELECT rule_id, tenant_id, version, enabled, definition, created_at_ms FROM rule_versions "    \
      "WHERE rule_id = ?1 AND version = ?2 AND tenant_id = ?3")                                       \
    X(EVENT_EXISTS, "SELECT 1 FROM events WHERE tenant_id = ?1 AND event_id = ?2")                    \
    X(EVENT_INSERT,                                                                                   \
      "INSERT INTO events (" EVENT_COLS ", counted, awards, answer) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "  \
      "?7, ?8, ?9, ?10, ?11, ?12, ?13)")                                                              \
    X(EVENT_GET, "SELECT " EVENT_COLS " FROM events WHERE tenant_id = ?1 AND event_id = ?2")          \
    X(EVENT_UPDATE_REFUNDED,                                                                          \
      "UPDATE events SET refunded_fen = ?1 WHERE tenant_id = ?2 AND event_id = ?3")                  \
    X(ORDER_COUNT,                                                                                    \
      "SELECT count(*) FROM events WHERE member_id = ?1 AND type = 'order.paid' AND counted = 1 "     \
      "AND occurred_at_ms < ?2 AND NOT (refunded_fen > 0 AND refunded_fen >= amount_fen)")            \
    X(ORDER_COUNT_ALL,                                                                                \
      "UPDATE events SET counted = 1 WHERE tenant_id = ?1 AND type = 'order.paid' AND counted = 0")   \
    X(AWARD_INSERT,                                                                                   \
      "INSERT INTO awards (" AWARD_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)") \
    X(AWARD_LIST_BY_EVENT,                                                                            \
      "SELECT " AWARD_COLS " FROM awards WHERE tenant_id = ?1 AND event_id = ?2 "                     \
      "ORDER BY rule_id LIMIT ?3")                                                                    \
    X(EVENT_AWARDS_APPEND,                                                                            \
      "UPDATE events SET awards = awards || ?3 WHERE tenant_id = ?1 AND event_id = ?2")               \
    X(EVENT_AWARDS_GET,                                                                               \
      "SELECT event_id, member_id, occurred_at_ms, created_at_ms, awards FROM events "                \
      "WHERE tenant_id = ?1 AND event_id = ?2")                                                       \
    X(EVENT_AWARDS_SET, "UPDATE events SET awards = ?3 WHERE tenant_id = ?1 AND event_id = ?2")       \
    X(EVENT_AWARDS_PAGE,                                                                              \
      "SELECT event_id, member_id, occurred_at_ms, created_at_ms, awards FROM events "                \
      "WHERE tenant_id = ?1 AND event_id > ?2 AND awards <> '' ORDER BY event_id LIMIT ?3")           \
    X(AWARD_UPDATE_REVERSED,                                                                          \
      "UPDATE awards SET reversed = ?1 WHERE tenant_id = ?2 AND event_id = ?3 AND rule_id = ?4")     \
    X(AWARD_STATS_MEMBER,                                                                             \
      "SELECT count(*), coalesce(sum(points - reversed), 0) FROM awards WHERE rule_id = ?1 "         \
      "AND member_id = ?2 AND occurred_at_ms >= ?3 AND occurred_at_ms < ?4")                         \
    X(AWARD_COUNT_MEMBER,                                                                             \
      "SELECT count(*) FROM awards WHERE rule_id = ?1 AND member_id = ?2 AND occurred_at_ms >= ?3 "   \
      "AND occurred_at_ms < ?4")                                                                      \
    X(AWARD_TIMES_MEMBER,                                                                             \
      "SELECT occurred_at_ms FROM awards WHERE rule_id = ?1 AND member_id = ?2 "                      \
      "ORDER BY occurred_at_ms DESC LIMIT ?3")                                                        \
    X(AWARD_STATS_RULE,                                                                               \
      "SELECT count(*), coalesce(sum(points - reversed), 0) FROM awards WHERE rule_id = ?1 "         \
      "AND occurred_at_ms >= ?2 AND occurred_at_ms < ?3")                                            \
    X(CHECKIN_INSERT,                                                                                 \
      "INSERT INTO checkins (" CHECKIN_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")              \
    X(CHECKIN_UPDATE, "UPDATE checkins SET streak = ?1, points = ?2 WHERE member_id = ?3 AND day = ?4") \
    X(CHECKIN_LIST,                                                                                   \
      "SELECT " CHECKIN_COLS " FROM checkins WHERE member_id = ?1 AND day >= ?2 AND day <= ?3 "      \
      "ORDER BY day LIMIT ?4")                                                                        \
    X(PROGRESS_GET,                                                                                   \
      "SELECT " PROGRESS_COLS " FROM task_progress WHERE task_id = ?1 AND member_id = ?2 "            \
      "AND period_start_ms = ?3")                                                                     \
    X(PROGRESS_PUT,                                                                                   \
      "INSERT OR REPLACE INTO task_progress (" PROGRESS_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, " \
      "?8, ?9)")                                                                                      \
    X(SETTING_GET, "SELECT value FROM settings WHERE tenant_id = ?1 AND name = ?2")                   \
    X(SETTING_PUT,                                                                                    \
      "INSERT OR REPLACE INTO settings (tenant_id, name, value, updated_at_ms) VALUES (?1, ?2, ?3, ?4)") \
    X(EVENT_ANSWER_SET, "UPDATE events SET answer = ?3 WHERE tenant_id = ?1 AND event_id = ?2")       \
    X(EVENT_ANSWER_GET,                                                                               \
      "SELECT CASE WHEN e.answer <> '' THEN e.answer ELSE a.answer END FROM events e "               \
      "LEFT JOIN event_answers a ON e.answer = '' AND a.id = e.answer_id "                           \
      "AND a.event_id IN (e.event_id, '') WHERE e.tenant_id = ?1 AND e.event_id = ?2 "               \
      "AND (e.answer <> '' OR a.id IS NOT NULL)")                                                     \
    X(RULE_BUDGET_GET, "SELECT points FROM rule_budgets WHERE tenant_id = ?1 AND rule_id = ?2")       \
    X(RULE_BUDGET_ADD, "UPDATE rule_budgets SET points = points + ?1 WHERE tenant_id = ?2 AND rule_id = ?3") \
    X(RULE_BUDGET_CREATE,                                                                             \
      "INSERT INTO rule_budgets (tenant_id, rule_id, points) VALUES (?2, ?3, ?1) "                   \
      "ON CONFLICT (tenant_id, rule_id) DO UPDATE SET points = points + excluded.points")

typedef enum {
#define SQ_X(name, sql) SQ_##name,
    SQ_STATEMENTS(SQ_X)
#undef SQ_X
        SQ__COUNT
} sq_id;

static const char *const sq_sql[SQ__COUNT] = {
#define SQ_X(name, sql) [SQ_##name] = sql,
    SQ_STATEMENTS(SQ_X)
#undef SQ_X
};

static const char *const sq_names[SQ__COUNT] = {
#define SQ_X(name, sql) [SQ_##name] = #name,
    SQ_STATEMENTS(SQ_X)
#undef SQ_X
};

typedef enum { TX_NONE = 0, TX_READ = 1, TX_WRITE = 2 } sq_tx;

/* When a locked member may have something due, as read with its lock:
 * valid until a transaction or savepoint edge is crossed or a statement
 * fails (one that fails with an I/O error may have rolled everything
 * back).  Writes of the member's lots and holds lower its times as they
 * lower the floor (sq_floor_lower), so other writes — an event's rows, a
 * task's progress — leave it valid.  The settling queries answer "nothing"
 * from it without running.
 *
 * The times come from the member row's due floor (migration 8): never
 * later than the earliest of its open holds' ends, pending lots'
 * activations and spendable lots' expiries, so a floor after `now` proves
 * that nothing is due without reading the holds and lots.  Every write of
 * a lot or a hold goes through sq_lot_insert, sq_lot_update,
 * sq_hold_insert or sq_hold_update, and each lowers the floor when what it
 * wrote is due earlier (sq_floor_lower; verify checks the floor through
 * member_store_check).  Nothing raises it but MEMBER_DUE: when a settling
 * query had to run for the locked member (its floor was not after `now`),
 * the member's next update writes the exact earliest time back (refresh).
 * (Triggers did the lowering at first; at ~10k instructions per lot
 * insert they cost what the floor saved.) */
typedef struct {
    bool valid;
    int64_t member_id;
    uint64_t failures; /* q->failures when read */
    int64_t hold_min, pending_min, active_min; /* INT64_MAX: none */
    int64_t refresh; /* member whose floor to bring up to date; 0: none */
    /* A time the member's stored floor is known not to be after (read
     * with the lock, or written since): a lot or hold due no earlier needs
     * no write.  floor_member 0: none known.  Forgotten at every
     * transaction and savepoint edge, like the rest. */
    int64_t floor_member, floor_at_most;
} sq_due;

/* The memo of the member locked last (members.memo, schema 12): entries
 * "<kind><id>:<n>:<v1>,<v2>,…;" of two kinds —
 *   r: a rule with a frequency that the member was counted for: <n> a time
 *      from which the list holds every award of the rule (the least integer:
 *      all of them), then the occurred_at of its last SQ_MEMO_TIMES awards,
 *      ascending.  award_stats counts a period starting no earlier than
 *      that from the list, and fills the entry on a miss; award_insert adds
 *      to it;
 *   k: a task whose progress was read: <n> the period's start, then the
 *      progress row's task_version, progress, completed_at, rewarded_at,
 *      updated_at (none: no row), as progress_get gives it and progress_put
 *      writes it —
 * parsed into items with the lock and written back, as text, with the
 * member's next update when it changed (dirty), or else before another
 * lock replaces it and at the job's end (sq_memo_flush).  A write of awards or
 * progress of a member whose memo is not the one read clears that member's
 * memo instead, so that no entry misses a write.  Read with the lock,
 * forgotten at every transaction and savepoint edge, trusted only while no
 * statement failed since (like sq_due).  Rule entries exist only for rules
 * that keep a history (the engine counts no other), so every award of them
 * since the entry was made went through here. */
#define SQ_MEMO_TIMES 4
#define SQ_MEMO_VALUES 5  /* at most, of either kind */
#define SQ_MEMO_ITEMS 16  /* entries kept; a memo of more is read as empty */
#define SQ_MEMO_BYTES_MAX (SQ_MEMO_ITEMS * (SQ_MEMO_VALUES + 2) * (JF_INT_TEXT_MAX + 1))
typedef struct {
    int64_t from;
    int n;
    int64_t t[SQ_MEMO_VALUES + 1];
} sq_memo_entry;
typedef struct {
    bool valid, dirty;
    int64_t member_id, tenant_id;
    uint64_t failures;
    int count;
    struct {
        char kind;
        int64_t id;
        sq_memo_entry e;
    } items[SQ_MEMO_ITEMS];
} sq_memo;

/* The longest text of one award kept in its event's row (schema 11): five
 * integers, the biz_no, separators; and of one event's (at most one award
 * per rule). */
#define SQ_AWARD_TEXT_MAX (5 * JF_INT_TEXT_MAX + JF_BIZ_NO_LEN_MAX + 8)
#define SQ_EVENT_AWARDS_MAX ((size_t)JF_RULES_PER_TENANT_MAX * SQ_AWARD_TEXT_MAX)

/* The event row inserted last, held back until its answer is written: the
 * awards of rules without a history (schema 11) are appended to it in
 * memory meanwhile, and the answer goes in the row (schema 13), so that the
 * row is written once, whole, instead of being inserted and then updated
 * (an update of a row cost as much as inserting it).  event_insert only
 * looks the event_id up.  Written with the answer (sq_event_answer_put),
 * or before any statement that reads or writes events (sq_events_flush),
 * and at the end of the job (savepoint release, commit); dropped with what
 * a rollback undoes.  A row held back counts as written (write_mark). */
typedef struct {
    bool active;
    jf_event_row row;
    size_t awards_len;
    char *awards; /* SQ_EVENT_AWARDS_MAX + 1 bytes once needed */
    const char *answer; /* the caller's, during sq_event_answer_put; else "" */
} sq_pending_event;

/* The last setting read or written in this write transaction (the rules'
 * generation, read by every event: jf_ruleset_acquire), so that the
 * events of a batch read it once.  Short values only. */
#define SQ_SETTING_MEMO_BYTES 64
typedef struct {
    bool valid;
    bool found;
    int64_t tenant_id;
    char name[SQ_SETTING_MEMO_BYTES];
    char value[SQ_SETTING_MEMO_BYTES];
} sq_setting_memo;

typedef struct {
    jf_store base; /* base.impl points back here */
    sqlite3 *db;
    /* Counted in sq_open_files (the database file's device and inode). */
    bool counted;
    dev_t file_dev;
    ino_t file_ino;
    sq_tx tx;
    bool in_savepoint; /* one level: the committer's per-request savepoint */
    uint64_t failures; /* statements that failed (part of write_mark) */
    sq_due due;
    sq_memo memo;
    /* A new lot names the entry inserted next (the one that creates it,
     * store.h) by the id that entry will get, so that lot_link_entry finds
     * the link written already instead of updating the lot: next_entry_id
     * (0: not known; read once per transaction, then counted) and the last
     * lot so written.  Reset at every transaction and savepoint edge. */
    int64_t next_entry_id;
    int64_t linked_lot_id, linked_entry_id;
    sq_pending_event pending;
    uint64_t deferred; /* event rows held back (pending), part of write_mark */
    sq_setting_memo setting;
    sqlite3_stmt *stmts[SQ__COUNT];
    /* After defer_sync: the log's path and a descriptor of it that
     * log_sync, on its own thread, syncs (-1 until the first sync). */
    char *wal_path;
    int wal_fd;
    bool fail_log_sync; /* JIFEN_TEST_FAIL_LOG_SYNC=1: the tests' failing disk */
} sq_store;

static const jf_store_ops sq_ops;

static sq_store *sq_of(jf_store *s) {
    assert(s != NULL);
    assert(s->ops == &sq_ops);
    return s->impl;
}

/* What the events' store ops remember within a write transaction, forgotten
 * at its start (another connection may have written since) and whenever
 * writes are rolled back (what they remember may have been undone). */
static void sq_event_memos_forget(sq_store *q) {
    q->pending.active = false;
    q->setting.valid = false;
}

static jf_code sq_events_flush(sq_store *q, jf_error *err);
static jf_code sq_memo_flush(sq_store *q, jf_error *err);

/* ---- errors ------------------------------------------------------------ */

/* Map an SQLite result code to the store's codes (see store.h).  `what` names
 * the operation; detail carries SQLite's own message. */
static jf_code sq_code_of(int rc) {
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return JF_RETRY;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) return JF_ALREADY_EXISTS;
        return JF_INTERNAL;
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_NOLFS:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_PERM:
        return JF_UNAVAILABLE;
    default:
        return JF_INTERNAL;
    }
}

static jf_code sq_fail_db(sqlite3 *db, int rc, jf_error *err, const char *what) {
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return jf_fail(err, sq_code_of(rc), "", "sqlite %s: %s (%s)", what, msg, sqlite3_errstr(rc));
}

static jf_code sq_fail(sq_store *q, int rc, jf_error *err, const char *what) {
    q->failures++;
    return sq_fail_db(q->db, rc, err, what);
}

/* ---- statements -------------------------------------------------------- */

/* The prepared statement `id`, prepared on first use. */
static sqlite3_stmt *sq_stmt(sq_store *q, sq_id id, jf_error *err) {
    assert((unsigned)id < SQ__COUNT);
    if (q->stmts[id] != NULL) return q->stmts[id];
    int rc = sqlite3_prepare_v3(q->db, sq_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &q->stmts[id], NULL);
    if (rc != SQLITE_OK) {
        sq_fail(q, rc, err, "prepare");
        q->stmts[id] = NULL;
        return NULL;
    }
    return q->stmts[id];
}

/* Return a statement to its idle state: no snapshot held, no bindings. */
static void sq_done(sqlite3_stmt *st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Bind helpers.  Text and blobs are bound SQLITE_STATIC: the caller's
 * records outlive the statement's use, which ends in sq_done. */
static int sq_text(sqlite3_stmt *st, int i, const char *s) {
    return sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

static int sq_hash(sqlite3_stmt *st, int i, const uint8_t *h) {
    return sqlite3_bind_blob(st, i, h, JF_HASH_BYTES, SQLITE_STATIC);
}

/* Column helpers.  Text longer than the buffer cannot come from the engine
 * (it checks every limit before writing); it is cut rather than overflowed. */
static void sq_col_text(sqlite3_stmt *st, int col, char *dst, size_t size) {
    assert(size > 0);
    const unsigned char *t = sqlite3_column_text(st, col);
    int bytes = sqlite3_column_bytes(st, col);
    size_t n = (t == NULL || bytes < 0) ? 0 : (size_t)bytes;
    if (n >= size) n = size - 1;
    if (n > 0) memcpy(dst, t, n);
    dst[n] = '\0';
}

static void sq_col_hash(sqlite3_stmt *st, int col, uint8_t *dst) {
    const void *b = sqlite3_column_blob(st, col);
    if (b != NULL && sqlite3_column_bytes(st, col) == JF_HASH_BYTES)
        memcpy(dst, b, JF_HASH_BYTES);
    else
        memset(dst, 0, JF_HASH_BYTES);
}

#define I64(col) sqlite3_column_int64(st, (col))

typedef void (*sq_reader)(sqlite3_stmt *st, void *out);

/* Step a bound statement expecting at most one row; read it into out. */
static jf_code sq_get(sq_store *q, sqlite3_stmt *st, int bind_rc, sq_reader read, void *out, jf_error *err,
                      const char *what) {
    jf_code code = JF_OK;
    if (bind_rc != SQLITE_OK) {
        code = sq_fail(q, bind_rc, err, what);
    } else {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            read(st, out);
        else if (rc == SQLITE_DONE)
            code = jf_fail(err, JF_NOT_FOUND, "", "%s: no such row", what);
        else
            code = sq_fail(q, rc, err, what);
    }
    sq_done(st);
    return code;
}

/* Step a bound statement reading up to cap rows of elem_size bytes. */
static jf_code sq_list(sq_store *q, sqlite3_stmt *st, int bind_rc, sq_reader read, void *out, size_t elem_size,
                       size_t cap, size_t *n, jf_error *err, const char *what) {
    assert(n != NULL);
    assert(out != NULL || cap == 0);
    *n = 0;
    jf_code code = JF_OK;
    if (bind_rc != SQLITE_OK) {
        code = sq_fail(q, bind_rc, err, what);
        cap = 0;
    }
    while (*n < cap) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) {
            code = sq_fail(q, rc, err, what);
            break;
        }
        read(st, (char *)out + *n * elem_size);
        (*n)++;
    }
    sq_done(st);
    return code;
}

/* Step a bound write statement to completion.  An UPDATE must touch exactly
 * one row (else JF_NOT_FOUND). */
static jf_code sq_write(sq_store *q, sqlite3_stmt *st, int bind_rc, bool is_update, jf_error *err,
                        const char *what) {
    assert(q->tx == TX_WRITE); /* writes happen only inside begin/commit */
    jf_code code = JF_OK;
    if (bind_rc != SQLITE_OK) {
        code = sq_fail(q, bind_rc, err, what);
    } else {
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            code = sq_fail(q, rc, err, what);
        else if (is_update && sqlite3_changes(q->db) != 1)
            code = jf_fail(err, JF_NOT_FOUND, "", "%s: no such row", what);
    }
    sq_done(st);
    return code;
}

/* Run a statement that takes no parameters and returns no rows. */
static jf_code sq_run(sq_store *q, sq_id id, jf_error *err, const char *what) {
    sqlite3_stmt *st = sq_stmt(q, id, err);
    if (st == NULL) return err ? err->code : JF_INTERNAL;
    int rc = sqlite3_step(st);
    sq_done(st);
    return rc == SQLITE_DONE ? JF_OK : sq_fail(q, rc, err, what);
}

#define STMT_OR_FAIL(q, id, err)                                                                      \
    sqlite3_stmt *st = sq_stmt((q), (id), (err));                                                     \
    if (st == NULL) return (err) ? (err)->code : JF_INTERNAL

/* Return a store call's failure: the flushes that come first in an
 * operation (sq_events_flush before a statement that reads or writes
 * events, sq_memo_flush before a lock replaces the member's memo). */
#define SQ_TRY(call)                                                                                  \
    do {                                                                                              \
        jf_code try_code_ = (call);                                                                   \
        if (try_code_ != JF_OK) return try_code_;                                                     \
    } while (0)

/* ---- transactions ------------------------------------------------------ */

static void sq_due_forget(sq_store *q) {
    q->memo.valid = false;
    q->due.valid = false;
    q->due.refresh = 0;
    q->due.floor_member = 0;
}

static void sq_links_forget(sq_store *q) { q->next_entry_id = q->linked_lot_id = q->linked_entry_id = 0; }

static jf_code sq_begin(jf_store *s, jf_error *err) {
    sq_store *q = sq_of(s);
    assert(q->tx == TX_NONE);
    jf_code code = sq_run(q, SQ_BEGIN_WRITE, err, "begin");
    if (code == JF_OK) q->tx = TX_WRITE;
    sq_due_forget(q);
    sq_links_forget(q);
    sq_event_memos_forget(q);
    return code;
}

static jf_code sq_begin_read(jf_store *s, jf_error *err) {
    sq_store *q = sq_of(s);
    assert(q->tx == TX_NONE);
    jf_code code = sq_run(q, SQ_BEGIN_READ, err, "begin read");
    if (code == JF_OK) q->tx = TX_READ;
    return code;
}

static void sq_rollback(jf_store *s) {
    sq_store *q = sq_of(s);
    /* SQLite may already have rolled back by itself (I/O error, full disk). */
    if (!sqlite3_get_autocommit(q->db)) (void)sq_run(q, SQ_ROLLBACK, NULL, "rollback");
    q->tx = TX_NONE;
    q->in_savepoint = false;
    sq_due_forget(q);
    sq_links_forget(q);
    sq_event_memos_forget(q);
}

/* A failed commit leaves nothing open: the transaction is rolled back. */
static jf_code sq_commit(jf_store *s, jf_error *err) {
    sq_store *q = sq_of(s);
    assert(q->tx != TX_NONE);
    assert(!q->in_savepoint);
    jf_code code = sq_events_flush(q, err);
    if (code == JF_OK) code = sq_memo_flush(q, err);
    if (code == JF_OK) code = sq_run(q, SQ_COMMIT, err, "commit");
    if (code != JF_OK) sq_rollback(s);
    q->tx = TX_NONE;
    sq_due_forget(q);
    sq_links_forget(q);
    return code;
}

static jf_code sq_savepoint(jf_store *s, jf_error *err) {
    sq_store *q = sq_of(s);
    assert(q->tx == TX_WRITE);
    assert(!q->in_savepoint);
    jf_code code = sq_events_flush(q, err);
    if (code == JF_OK) code = sq_memo_flush(q, err);
    if (code == JF_OK) code = sq_run(q, SQ_SAVEPOINT, err, "savepoint");
    if (code == JF_OK) q->in_savepoint = true;
    sq_due_forget(q);
    sq_links_forget(q);
    return code;
}

static void sq_savepoint_rollback(jf_store *s);

/* A release that fails undoes the savepoint (store.h). */
static jf_code sq_savepoint_release(jf_store *s, jf_error *err) {
    sq_store *q = sq_of(s);
    assert(q->in_savepoint);
    jf_code code = sq_events_flush(q, err);
    if (code == JF_OK) code = sq_memo_flush(q, err);
    if (code == JF_OK) code = sq_run(q, SQ_RELEASE, err, "release savepoint");
    if (code == JF_OK)
        q->in_savepoint = false;
    else
        sq_savepoint_rollback(s);
    sq_due_forget(q);
    sq_links_forget(q);
    return code;
}

/* Rows changed by this connection (sqlite3_total_changes64 counts every
 * INSERT, UPDATE and DELETE) plus statements that failed: a failed
 * statement is rolled back by SQLite itself, but one that failed with an
 * I/O error or a full disk may have rolled back the whole transaction. */
static uint64_t sq_write_mark(jf_store *s) {
    sq_store *q = sq_of(s);
    return (uint64_t)sqlite3_total_changes64(q->db) + q->failures + q->deferred;
}

static void sq_savepoint_rollback(jf_store *s) {
    sq_store *q = sq_of(s);
    assert(q->in_savepoint);
    if (!sqlite3_get_autocommit(q->db)) {
        (void)sq_run(q, SQ_ROLLBACK_TO, NULL, "rollback to savepoint");
        (void)sq_run(q, SQ_RELEASE, NULL, "release savepoint");
    }
    q->in_savepoint = false;
    sq_due_forget(q);
    sq_links_forget(q);
    sq_event_memos_forget(q);
}

/* ---- tenants ----------------------------------------------------------- */

static void read_tenant(sqlite3_stmt *st, void *out) {
    jf_tenant *t = out;
    memset(t, 0, sizeof *t);
    t->id = I64(0);
    sq_col_text(st, 1, t->slug, sizeof t->slug);
    sq_col_text(st, 2, t->name, sizeof t->name);
    sq_col_text(st, 3, t->timezone, sizeof t->timezone);
    t->expiry.kind = (jf_expiry_kind)I64(4);
    t->expiry.n = (int32_t)I64(5);
    t->expiry.unit = (jf_expiry_unit)I64(6);
    t->expiry.round = (jf_expiry_round)I64(7);
    t->expiry.clear_month = (int32_t)I64(8);
    t->expiry.clear_day = (int32_t)I64(9);
    t->expiry.years = (int32_t)I64(10);
    t->refund = (jf_refund_policy)I64(11);
    t->created_at_ms = I64(12);
    t->updated_at_ms = I64(13);
}

static int bind_tenant(sqlite3_stmt *st, const jf_tenant *t) {
    int rc = sq_text(st, 1, t->slug);
    rc |= sq_text(st, 2, t->name);
    rc |= sq_text(st, 3, t->timezone);
    rc |= sqlite3_bind_int64(st, 4, t->expiry.kind);
    rc |= sqlite3_bind_int64(st, 5, t->expiry.n);
    rc |= sqlite3_bind_int64(st, 6, t->expiry.unit);
    rc |= sqlite3_bind_int64(st, 7, t->expiry.round);
    rc |= sqlite3_bind_int64(st, 8, t->expiry.clear_month);
    rc |= sqlite3_bind_int64(st, 9, t->expiry.clear_day);
    rc |= sqlite3_bind_int64(st, 10, t->expiry.years);
    rc |= sqlite3_bind_int64(st, 11, t->refund);
    rc |= sqlite3_bind_int64(st, 12, t->created_at_ms);
    rc |= sqlite3_bind_int64(st, 13, t->updated_at_ms);
    return rc;
}

static jf_code sq_tenant_insert(jf_store *s, jf_tenant *t, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_TENANT_INSERT, err);
    jf_code code = sq_write(q, st, bind_tenant(st, t), false, err, "tenant insert");
    if (code == JF_OK) t->id = sqlite3_last_insert_rowid(q->db);
    return code;
}

static jf_code sq_tenant_update(jf_store *s, const jf_tenant *t, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_TENANT_UPDATE, err);
    int rc = bind_tenant(st, t) | sqlite3_bind_int64(st, 14, t->id);
    return sq_write(q, st, rc, true, err, "tenant update");
}

static jf_code sq_tenant_get(jf_store *s, int64_t id, jf_tenant *out, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_TENANT_GET, err);
    return sq_get(q, st, sqlite3_bind_int64(st, 1, id), read_tenant, out, err, "tenant get");
}

static jf_code sq_tenant_get_by_slug(jf_store *s, const char *slug, jf_tenant *out, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_TENANT_GET_BY_SLUG, err);
    return sq_get(q, st, sq_text(st, 1, slug), read_tenant, out, err, "tenant get");
}

static jf_code sq_tenant_list(jf_store *s, int64_t after_id, jf_tenant *out, size_t cap, size_t *n,
                              jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_TENANT_LIST, err);
    int rc = sqlite3_bind_int64(st, 1, after_id) | sqlite3_bind_int64(st, 2, (int64_t)cap);
    return sq_list(q, st, rc, read_tenant, out, sizeof *out, cap, n, err, "tenant list");
}

/* ---- members ----------------------------------------------------------- */

static void read_account(sqlite3_stmt *st, int col, jf_account *a) {
    a->available = I64(col);
    a->frozen = I64(col + 1);
    a->pending = I64(col + 2);
    a->debt = I64(col + 3);
    a->earned = I64(col + 4);
    a->spent = I64(col + 5);
    a->expired = I64(col + 6);
}

static int bind_account(sqlite3_stmt *st, int i, const jf_account *a) {
    int rc = sqlite3_bind_int64(st, i, a->available);
    rc |= sqlite3_bind_int64(st, i + 1, a->frozen);
    rc |= sqlite3_bind_int64(st, i + 2, a->pending);
    rc |= sqlite3_bind_int64(st, i + 3, a->debt);
    rc |= sqlite3_bind_int64(st, i + 4, a->earned);
    rc |= sqlite3_bind_int64(st, i + 5, a->spent);
    rc |= sqlite3_bind_int64(st, i + 6, a->expired);
    return rc;
}

/* ---- member hints ------------------------------------------------------ */

/* Where a member's row is, by its tenant and member id (the text one):
 * a process-wide, lossy table of row ids, shared by every connection.  A
 * member is looked up by that text on every operation; the lookup walks
 * the members(tenant_id, ext_id) index to the row id, then the table to
 * the row — two random descents of B-trees that, with a million members,
 * are mostly not in the CPU's cache or SQLite's.  A hint saves the first:
 * the row is read by its id and is the member only if its tenant and text
 * are the ones asked for; otherwise (a slot taken over by another member,
 * a row id of a transaction rolled back and given to someone else since)
 * the index is walked as before.  So a hint is never trusted, only tried.
 * A slot is one 64-bit word: 24 bits of the key's hash beside a 40-bit
 * row id, read and written with relaxed atomics (a torn or stale word is
 * just a wrong hint).  16 MiB of zeroes until used. */
#define SQ_HINT_BITS 21
#define SQ_HINT_ID_BITS 40
#define SQ_HINT_SLOT(h) (&sq_hints[(h) & (((uint64_t)1 << SQ_HINT_BITS) - 1)])
static _Atomic uint64_t sq_hints[(size_t)1 << SQ_HINT_BITS];
/* Per thread: a shared counter would bounce its cache line between the
 * loop threads and the committer on every lookup. */
static _Thread_local uint64_t sq_hint_hits;

static uint64_t sq_hint_hash(int64_t tenant_id, const char *ext_id) {
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)tenant_id * 0x9E3779B97F4A7C15ULL;
    for (const unsigned char *p = (const unsigned char *)ext_id; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

static int64_t sq_hint_get(uint64_t h) {
    uint64_t v = atomic_load_explicit(SQ_HINT_SLOT(h), memory_order_relaxed);
    if (v == 0 || v >> SQ_HINT_ID_BITS != h >> SQ_HINT_ID_BITS) return 0;
    return (int64_t)(v & (((uint64_t)1 << SQ_HINT_ID_BITS) - 1));
}

static void sq_hint_put(uint64_t h, int64_t id) {
    if (id <= 0 || (uint64_t)id >> SQ_HINT_ID_BITS != 0) return;
    uint64_t v = (h >> SQ_HINT_ID_BITS) << SQ_HINT_ID_BITS | (uint64_t)id;
    atomic_store_explicit(SQ_HINT_SLOT(h), v, memory_order_relaxed);
}

uint64_t jf_sqlite_member_hint_hits(void) { return sq_hint_hits; }

static jf_code sq_member_get_by_id(jf_store *s, int64_t id, bool for_update, jf_member *out, jf_error *err);

/* ---- the member's memo (sq_memo) ---- */

static _Thread_local uint64_t sq_memo_hits;
uint64_t jf_sqlite_memo_hits(void) { return sq_memo_hits; }

/* Whether q->memo is member_id's, read in this transaction and trusted. */
static bool sq_memo_of(const sq_store *q, int64_t member_id) {
    return q->memo.valid && q->memo.member_id == member_id && q->memo.failures == q->failures;
}

/* Parse the integer at *p (an optional '-', digits) ended by one of
 * `ends`; advances past that character and gives it in *end.  By hand: a
 * memo is parsed with every lock (and an event's awards text, sq_award_*,
 * with the same rules). */
static bool text_int(const char **p, const char *ends, int64_t *v, char *end) {
    const char *c = *p;
    bool neg = *c == '-';
    if (neg) c++;
    uint64_t u = 0;
    const char *digits = c;
    while (*c >= '0' && *c <= '9' && c - digits < 19) u = u * 10 + (uint64_t)(*c++ - '0');
    if (c == digits || *c == '\0' || strchr(ends, *c) == NULL) return false; /* also a 20th digit */
    if (u <= (uint64_t)INT64_MAX) *v = neg ? -(int64_t)u : (int64_t)u;
    else if (neg && u == (uint64_t)INT64_MAX + 1) *v = INT64_MIN; /* the least integer: "all awards" */
    else return false;
    *end = *c;
    *p = c + 1;
    return true;
}

/* The entry at *p (its kind and id), advancing past it; false if the text
 * does not parse there. */
static bool memo_next(const char **p, char *kind, int64_t *id, sq_memo_entry *e) {
    char end;
    *kind = **p;
    if (*kind != 'r' && *kind != 'k') return false;
    (*p)++;
    e->n = 0;
    if (!text_int(p, ":", id, &end) || !text_int(p, ":", &e->from, &end)) return false;
    if (**p == ';') {
        (*p)++;
        return true;
    }
    do {
        if (e->n == SQ_MEMO_VALUES || !text_int(p, ",;", &e->t[e->n], &end)) return false;
        e->n++;
    } while (end == ',');
    return true;
}

/* Whether an entry says what its kind says: a rule's at most
 * SQ_MEMO_TIMES times, ascending, none before its bound; a task's row
 * whole or absent. */
static bool memo_entry_sane(char kind, const sq_memo_entry *e) {
    if (kind == 'k') return e->n == 0 || e->n == 5;
    if (e->n > SQ_MEMO_TIMES || (e->n > 0 && e->t[0] < e->from)) return false;
    for (int i = 1; i < e->n; i++)
        if (e->t[i] < e->t[i - 1]) return false;
    return true;
}

/* The stored text into m's entries; a text that does not parse, holds an
 * entry that is not sane, or holds more than SQ_MEMO_ITEMS is read as
 * empty (nothing known). */
static void memo_parse(sq_memo *m, const char *text) {
    m->count = 0;
    for (const char *p = text; *p != '\0'; m->count++) {
        if (m->count == SQ_MEMO_ITEMS ||
            !memo_next(&p, &m->items[m->count].kind, &m->items[m->count].id, &m->items[m->count].e) ||
            !memo_entry_sane(m->items[m->count].kind, &m->items[m->count].e)) {
            m->count = 0;
            return;
        }
    }
}

/* m as text into out (SQ_MEMO_BYTES_MAX + 1 bytes). */
static void memo_text(const sq_memo *m, char *out) {
    size_t o = 0;
    for (int i = 0; i < m->count; i++) {
        const sq_memo_entry *e = &m->items[i].e;
        out[o++] = m->items[i].kind;
        o += jf_int_text(out + o, m->items[i].id);
        out[o++] = ':';
        o += jf_int_text(out + o, e->from);
        out[o++] = ':';
        for (int k = 0; k < e->n; k++) {
            if (k > 0) out[o++] = ',';
            o += jf_int_text(out + o, e->t[k]);
        }
        out[o++] = ';';
    }
    out[o] = '\0';
}

/* The entry of (kind, id), or NULL. */
static sq_memo_entry *memo_find(sq_memo *m, char kind, int64_t id) {
    for (int i = 0; i < m->count; i++)
        if (m->items[i].kind == kind && m->items[i].id == id) return &m->items[i].e;
    return NULL;
}

/* Put (kind, id)'s entry e, replacing the one there; when the memo is
 * full the entry is left out: nothing known of it. */
static void memo_put(sq_memo *m, char kind, int64_t id, const sq_memo_entry *e) {
    sq_memo_entry *have = memo_find(m, kind, id);
    if (have == NULL && m->count < SQ_MEMO_ITEMS) {
        m->items[m->count].kind = kind;
        m->items[m->count].id = id;
        have = &m->items[m->count++].e;
    }
    if (have != NULL) *have = *e;
    m->dirty = true;
}

/* A write of the member's awards or progress that its memo cannot follow
 * (not the memo read here): the stored memo is cleared. */
static jf_code memo_clear(sq_store *q, int64_t member_id, jf_error *err) {
    STMT_OR_FAIL(q, SQ_MEMBER_MEMO_CLEAR, err);
    return sq_write(q, st, sqlite3_bind_int64(st, 1, member_id), false, err, "member memo clear");
}

/* Write the memo back if it changed since it was read or last written:
 * before another lock replaces it (of any member: the same one's row is
 * read again) and at every savepoint and commit edge, so that what a job
 * wrote after the member's update (an event's tasks, a claim) is not lost.
 * The member's update writes it too (MEMBER_UPDATE_MEMO), which is the
 * usual way. */
static jf_code sq_memo_flush(sq_store *q, jf_error *err) {
    if (!q->memo.valid || !q->memo.dirty) return JF_OK;
    if (q->memo.failures != q->failures) { /* what it learned may be wrong: the stored one is stale */
        q->memo.valid = false;
        return memo_clear(q, q->memo.member_id, err);
    }
    char text[SQ_MEMO_BYTES_MAX + 1];
    memo_text(&q->memo, text);
    STMT_OR_FAIL(q, SQ_MEMBER_MEMO_SET, err);
    int rc = sqlite3_bind_int64(st, 1, q->memo.member_id) | sq_text(st, 2, text);
    jf_code code = sq_write(q, st, rc, true, err, "member memo");
    if (code == JF_OK) q->memo.dirty = false;
    return code;
}

/* The memo of a member just locked (read from its row) or created. */
static void memo_start(sq_store *q, int64_t member_id, int64_t tenant_id, const char *text) {
    q->memo.valid = true;
    q->memo.dirty = false;
    q->memo.member_id = member_id;
    q->memo.tenant_id = tenant_id;
    q->memo.failures = q->failures;
    memo_parse(&q->memo, text);
}

/* Add an award at t to an entry: the list keeps the last SQ_MEMO_TIMES;
 * one dropped moves `from` past it.  An award before `from` is outside
 * what the list claims to hold. */
static void memo_entry_add(sq_memo_entry *e, int64_t t) {
    if (t < e->from) return;
    int i = e->n;
    while (i > 0 && e->t[i - 1] > t) {
        e->t[i] = e->t[i - 1];
        i--;
    }
    e->t[i] = t;
    if (++e->n > SQ_MEMO_TIMES) {
        e->from = e->t[0] + 1;
        memmove(e->t, e->t + 1, sizeof e->t[0] * SQ_MEMO_TIMES);
        e->n = SQ_MEMO_TIMES;
    }
}

static void read_member(sqlite3_stmt *st, void *out) {
    jf_member *m = out;
    memset(m, 0, sizeof *m);
    m->id = I64(0);
    m->tenant_id = I64(1);
    sq_col_text(st, 2, m->ext_id, sizeof m->ext_id);
    m->status = (jf_member_status)I64(3);
    read_account(st, 4, &m->acct);
    m->entry_seq = I64(11);
    sq_col_hash(st, 12, m->last_hash);
    m->created_at_ms = I64(13);
    m->updated_at_ms = I64(14);
}

static jf_code sq_member_insert(jf_store *s, jf_member *m, jf_error *err) {
    sq_store *q = sq_of(s);
    SQ_TRY(sq_memo_flush(q, err));
    STMT_OR_FAIL(q, SQ_MEMBER_INSERT, err);
    int rc = sqlite3_bind_int64(st, 1, m->tenant_id);
    rc |= sq_text(st, 2, m->ext_id);
    rc |= sqlite3_bind_int64(st, 3, m->status);
    rc |= bind_account(st, 4, &m->acct);
    rc |= sqlite3_bind_int64(st, 11, m->entry_seq);
    rc |= sq_hash(st, 12, m->last_hash);
    rc |= sqlite3_bind_int64(st, 13, m->created_at_ms);
    rc |= sqlite3_bind_int64(st, 14, m->updated_at_ms);
    jf_code code = sq_write(q, st, rc, false, err, "member insert");
    if (code == JF_OK) {
        m->id = sqlite3_last_insert_rowid(q->db);
        sq_hint_put(sq_hint_hash(m->tenant_id, m->ext_id), m->id); /* tried, never trusted */
        memo_start(q, m->id, m->tenant_id, "");
        /* A new member has nothing that could be due. */
        q->due = (sq_due){.valid = true, .member_id = m->id, .failures = q->failures,
                          .hold_min = INT64_MAX, .pending_min = INT64_MAX, .active_min = INT64_MAX,
                          .refresh = q->due.refresh, /* another member's, still owed */
                          .floor_member = m->id, .floor_at_most = INT64_MAX};
    }
    return code;
}

static int64_t column_or_max(sqlite3_stmt *st, int col) {
    return sqlite3_column_type(st, col) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(st, col);
}

/* A locked member (MEMBER_LOCK*): the member, and its due floor into
 * q->due (see sq_due), as of now: nothing has been written since. */
typedef struct {
    sq_store *q;
    jf_member *m;
} sq_lock_read;

static void read_member_locked(sqlite3_stmt *st, void *out) {
    sq_lock_read *r = out;
    read_member(st, r->m);
    const char *memo = (const char *)sqlite3_column_text(st, 16);
    memo_start(r->q, r->m->id, r->m->tenant_id, memo ? memo : "");
    int64_t floor = I64(15);
    r->q->due = (sq_due){.valid = true,
                         .member_id = r->m->id,
                         .failures = r->q->failures,
                         .refresh = r->q->due.refresh, /* a refresh still owed to another member */
                         .hold_min = floor,
                         .pending_min = floor,
                         .active_min = floor,
                         .floor_member = r->m->id,
                         .floor_at_most = floor};
}

/* Whether q->due says that nothing of member_id is due by now_ms whose
 * earliest time is min (one of its fields).  When the summary is there
 * but cannot say so, the member's floor is brought up to date with its
 * next update (sq_due: refresh). */
static bool sq_due_none(sq_store *q, int64_t member_id, int64_t min, int64_t now_ms) {
    if (!q->due.valid || q->due.member_id != member_id || q->due.failures != q->failures) return false;
    if (min > now_ms) return true;
    q->due.refresh = member_id;
    return false;
}

/* for_update: SQLite has one writer at a time, so the write transaction
 * (BEGIN IMMEDIATE) already holds the lock that PostgreSQL's FOR UPDATE
 * takes; the flag only asks for the due floor (sq_due). */
static jf_code sq_member_get(jf_store *s, int64_t tenant_id, const char *ext_id, bool for_update, jf_member *out,
                             jf_error *err) {
    sq_store *q = sq_of(s);
    assert(!for_update || q->tx == TX_WRITE);
    uint64_t h = sq_hint_hash(tenant_id, ext_id);
    int64_t hint = sq_hint_get(h);
    if (hint != 0) {
        jf_code code = sq_member_get_by_id(s, hint, for_update, out, err);
        if (code == JF_OK && out->tenant_id == tenant_id && strcmp(out->ext_id, ext_id) == 0) {
            sq_hint_hits++;
            return JF_OK;
        }
        if (code != JF_OK && code != JF_NOT_FOUND) return code;
        jf_error_clear(err);
        memset(out, 0, sizeof *out); /* not another member's row, whatever comes next */
    }
    if (for_update) { /* a refresh owed to another member stays owed */
        q->due.valid = false;
        q->due.floor_member = 0;
        SQ_TRY(sq_memo_flush(q, err));
    }
    STMT_OR_FAIL(q, for_update ? SQ_MEMBER_LOCK : SQ_MEMBER_GET, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sq_text(st, 2, ext_id);
    jf_code code;
    if (!for_update) {
        code = sq_get(q, st, rc, read_member, out, err, "member get");
    } else {
        sq_lock_read r = {q, out};
        code = sq_get(q, st, rc, read_member_locked, &r, err, "member get");
    }
    if (code == JF_OK) sq_hint_put(h, out->id);
    return code;
}

static jf_code sq_member_get_by_id(jf_store *s, int64_t id, bool for_update, jf_member *out, jf_error *err) {
    sq_store *q = sq_of(s);
    assert(!for_update || q->tx == TX_WRITE);
    if (for_update) { /* a refresh owed to another member stays owed */
        q->due.valid = false;
        q->due.floor_member = 0;
        SQ_TRY(sq_memo_flush(q, err));
    }
    STMT_OR_FAIL(q, for_update ? SQ_MEMBER_LOCK_BY_ID : SQ_MEMBER_GET_BY_ID, err);
    int rc = sqlite3_bind_int64(st, 1, id);
    if (!for_update) return sq_get(q, st, rc, read_member, out, err, "member get");
    sq_lock_read r = {q, out};
    return sq_get(q, st, rc, read_member_locked, &r, err, "member get");
}

static jf_code sq_due_min(sq_store *q, int64_t member_id, int64_t *min, jf_error *err);

/* Write the exact earliest due time of a member as its floor (sq_due). */
static jf_code sq_due_refresh(sq_store *q, int64_t member_id, jf_error *err) {
    q->due.refresh = 0;
    int64_t floor;
    jf_code code = sq_due_min(q, member_id, &floor, err);
    if (code != JF_OK) return code;
    STMT_OR_FAIL(q, SQ_MEMBER_FLOOR_SET, err);
    int rc = sqlite3_bind_int64(st, 1, floor) | sqlite3_bind_int64(st, 2, member_id);
    code = sq_write(q, st, rc, true, err, "member due floor");
    if (code == JF_OK && q->due.floor_member == member_id) q->due.floor_at_most = floor;
    return code;
}

/* Keep member_id's floor no later than `at`, when something of it is now
 * due then (sq_due).  The write is skipped when the floor is known to be
 * no later already — nearly always: a new lot usually expires after the
 * member's earlier ones. */
static jf_code sq_floor_lower(sq_store *q, int64_t member_id, int64_t at, jf_error *err) {
    assert(member_id > 0);
    if (at == INT64_MAX) return JF_OK; /* never due */
    if (q->due.valid && q->due.member_id == member_id) {
        if (at < q->due.hold_min) q->due.hold_min = at;
        if (at < q->due.pending_min) q->due.pending_min = at;
        if (at < q->due.active_min) q->due.active_min = at;
    }
    if (q->due.floor_member == member_id && q->due.floor_at_most <= at) return JF_OK;
    STMT_OR_FAIL(q, SQ_MEMBER_FLOOR_LOWER, err);
    int rc = sqlite3_bind_int64(st, 1, at) | sqlite3_bind_int64(st, 2, member_id);
    jf_code code = sq_write(q, st, rc, false, err, "member due floor");
    if (code == JF_OK) {
        /* Whatever it was, it is no later than `at` now. */
        q->due.floor_member = member_id;
        q->due.floor_at_most = at;
    }
    return code;
}

/* When a lot is due for settling (sq_due): a pending lot at its
 * activation, a spendable one at its expiry; INT64_MAX: never. */
static int64_t lot_due_at(const jf_lot *l) {
    if (l->state == JF_LOT_PENDING) return l->available_at_ms;
    if (l->state == JF_LOT_ACTIVE && l->remaining > 0) return l->expires_at_ms;
    return INT64_MAX;
}

/* The exact earliest due time of a member (MEMBER_DUE; INT64_MAX: none). */
static jf_code sq_due_min(sq_store *q, int64_t member_id, int64_t *min, jf_error *err) {
    *min = INT64_MAX;
    STMT_OR_FAIL(q, SQ_MEMBER_DUE, err);
    int rc = sqlite3_bind_int64(st, 1, member_id);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        for (int i = 0; i < 3; i++) {
            int64_t t = column_or_max(st, i);
            if (t < *min) *min = t;
        }
    sq_done(st);
    return rc == SQLITE_ROW ? JF_OK : sq_fail(q, rc, err, "member due");
}

static jf_code sq_member_store_check(jf_store *s, int64_t member_id, char *finding, size_t cap, jf_error *err) {
    sq_store *q = sq_of(s);
    finding[0] = '\0';
    int64_t min;
    jf_code code = sq_due_min(q, member_id, &min, err);
    if (code != JF_OK) return code;
    STMT_OR_FAIL(q, SQ_MEMBER_FLOOR_GET, err);
    int rc = sqlite3_bind_int64(st, 1, member_id);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    int64_t floor = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sq_done(st);
    if (rc != SQLITE_ROW) return sq_fail(q, rc, err, "member due floor");
    if (floor > min)
        snprintf(finding, cap, "due floor %lld is after %lld, when something of the member is due",
                 (long long)floor, (long long)min);
    return JF_OK;
}

static jf_code sq_member_update(jf_store *s, const jf_member *m, jf_error *err) {
    sq_store *q = sq_of(s);
    if (q->due.refresh == m->id) {
        jf_code code = sq_due_refresh(q, m->id, err);
        if (code != JF_OK) return code;
    }
    bool memo = sq_memo_of(q, m->id) && q->memo.dirty;
    STMT_OR_FAIL(q, memo ? SQ_MEMBER_UPDATE_MEMO : SQ_MEMBER_UPDATE, err);
    int rc = sqlite3_bind_int64(st, 1, m->status);
    rc |= bind_account(st, 2, &m->acct);
    rc |= sqlite3_bind_int64(st, 9, m->entry_seq);
    rc |= sq_hash(st, 10, m->last_hash);
    rc |= sqlite3_bind_int64(st, 11, m->updated_at_ms);
    rc |= sqlite3_bind_int64(st, 12, m->id);
    char text[SQ_MEMO_BYTES_MAX + 1];
    if (memo) {
        memo_text(&q->memo, text);
        rc |= sq_text(st, 13, text);
    }
    jf_code code = sq_write(q, st, rc, true, err, "member update");
    if (code == JF_OK && memo) q->memo.dirty = false;
    return code;
}

static jf_code sq_member_list(jf_store *s, int64_t tenant_id, int64_t after_id, jf_member *out, size_t cap,
                              size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_MEMBER_LIST, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sqlite3_bind_int64(st, 2, after_id) |
             sqlite3_bind_int64(st, 3, (int64_t)cap);
    return sq_list(q, st, rc, read_member, out, sizeof *out, cap, n, err, "member list");
}

static void read_id(sqlite3_stmt *st, void *out) { *(int64_t *)out = I64(0); }

static jf_code sq_members_due(jf_store *s, int64_t tenant_id, int64_t now_ms, int64_t after_id, int64_t *ids,
                              size_t cap, size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_MEMBERS_DUE, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sqlite3_bind_int64(st, 2, now_ms) |
             sqlite3_bind_int64(st, 3, after_id) | sqlite3_bind_int64(st, 4, (int64_t)cap);
    return sq_list(q, st, rc, read_id, ids, sizeof *ids, cap, n, err, "members due");
}

/* ---- entries ----------------------------------------------------------- */

static void read_entry(sqlite3_stmt *st, void *out) {
    jf_entry *e = out;
    memset(e, 0, sizeof *e);
    e->id = I64(0);
    e->tenant_id = I64(1);
    e->member_id = I64(2);
    e->seq = I64(3);
    e->kind = (jf_entry_kind)I64(4);
    e->points = I64(5);
    read_account(st, 6, &e->delta);
    e->available_after = I64(13);
    sq_col_text(st, 14, e->scene, sizeof e->scene);
    sq_col_text(st, 15, e->biz_no, sizeof e->biz_no);
    sq_col_text(st, 16, e->reason, sizeof e->reason);
    sq_col_text(st, 17, e->operator_id, sizeof e->operator_id);
    e->ref_entry_id = I64(18);
    e->lot_id = I64(19);
    e->hold_id = I64(20);
    e->created_at_ms = I64(21);
    sq_col_hash(st, 22, e->prev_hash);
    sq_col_hash(st, 23, e->hash);
}

static jf_code sq_entry_insert(jf_store *s, jf_entry *e, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_ENTRY_INSERT, err);
    int rc = sqlite3_bind_int64(st, 1, e->tenant_id);
    rc |= sqlite3_bind_int64(st, 2, e->member_id);
    rc |= sqlite3_bind_int64(st, 3, e->seq);
    rc |= sqlite3_bind_int64(st, 4, e->kind);
    rc |= sqlite3_bind_int64(st, 5, e->points);
    rc |= bind_account(st, 6, &e->delta);
    rc |= sqlite3_bind_int64(st, 13, e->available_after);
    rc |= sq_text(st, 14, e->scene);
    rc |= sq_text(st, 15, e->biz_no);
    rc |= sq_text(st, 16, e->reason);
    rc |= sq_text(st, 17, e->operator_id);
    rc |= sqlite3_bind_int64(st, 18, e->ref_entry_id);
    rc |= sqlite3_bind_int64(st, 19, e->lot_id);
    rc |= sqlite3_bind_int64(st, 20, e->hold_id);
    rc |= sqlite3_bind_int64(st, 21, e->created_at_ms);
    rc |= sq_hash(st, 22, e->prev_hash);
    rc |= sq_hash(st, 23, e->hash);
    jf_code code = sq_write(q, st, rc, false, err, "entry insert");
    if (code == JF_OK) {
        e->id = sqlite3_last_insert_rowid(q->db);
        q->next_entry_id = e->id + 1;
    } else {
        q->next_entry_id = 0;
    }
    return code;
}

static jf_code sq_entry_get(jf_store *s, int64_t id, jf_entry *out, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_ENTRY_GET, err);
    return sq_get(q, st, sqlite3_bind_int64(st, 1, id), read_entry, out, err, "entry get");
}

/* The filter's "no bound" zeros become the widest bounds, so that the
 * statement has one shape and the index range on (member_id, id) is used. */
static jf_code sq_entry_list(jf_store *s, int64_t member_id, const jf_entry_filter *f, jf_entry *out, size_t cap,
                             size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    assert(f != NULL);
    STMT_OR_FAIL(q, SQ_ENTRY_LIST, err);
    int64_t kinds = f->kinds_mask == 0 ? INT64_MAX : (int64_t)f->kinds_mask;
    int rc = sqlite3_bind_int64(st, 1, member_id);
    rc |= sqlite3_bind_int64(st, 2, f->before_id == 0 ? INT64_MAX : f->before_id);
    rc |= sqlite3_bind_int64(st, 3, kinds);
    rc |= sq_text(st, 4, f->scene);
    rc |= sqlite3_bind_int64(st, 5, f->from_ms == 0 ? INT64_MIN : f->from_ms);
    rc |= sqlite3_bind_int64(st, 6, f->to_ms == 0 ? INT64_MAX : f->to_ms);
    rc |= sqlite3_bind_int64(st, 7, (int64_t)cap);
    return sq_list(q, st, rc, read_entry, out, sizeof *out, cap, n, err, "entry list");
}

static jf_code sq_entry_chain(jf_store *s, int64_t member_id, int64_t after_seq, jf_entry *out, size_t cap,
                              size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_ENTRY_CHAIN, err);
    int rc = sqlite3_bind_int64(st, 1, member_id) | sqlite3_bind_int64(st, 2, after_seq) |
             sqlite3_bind_int64(st, 3, (int64_t)cap);
    return sq_list(q, st, rc, read_entry, out, sizeof *out, cap, n, err, "entry chain");
}

static jf_code sq_entry_list_by_ref(jf_store *s, int64_t ref_entry_id, jf_entry *out, size_t cap, size_t *n,
                                    jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_ENTRY_LIST_BY_REF, err);
    int rc = sqlite3_bind_int64(st, 1, ref_entry_id) | sqlite3_bind_int64(st, 2, (int64_t)cap);
    return sq_list(q, st, rc, read_entry, out, sizeof *out, cap, n, err, "entry list by ref");
}

/* ---- lots and moves ---------------------------------------------------- */

static void read_lot(sqlite3_stmt *st, void *out) {
    jf_lot *l = out;
    memset(l, 0, sizeof *l);
    l->id = I64(0);
    l->tenant_id = I64(1);
    l->member_id = I64(2);
    l->entry_id = I64(3);
    l->amount = I64(4);
    l->remaining = I64(5);
    l->state = (jf_lot_state)I64(6);
    l->available_at_ms = I64(7);
    l->expires_at_ms = I64(8);
    l->created_at_ms = I64(9);
}

/* A lot without an entry_id gets the id the next entry insert will take
 * (the entry that creates it, inserted next: store.h); lot_link_entry then
 * has nothing to write when that is what it links. */
static jf_code sq_lot_insert(jf_store *s, jf_lot *l, jf_error *err) {
    sq_store *q = sq_of(s);
    int64_t entry_id = l->entry_id;
    if (entry_id == 0 && q->next_entry_id == 0) {
        sqlite3_stmt *next = sq_stmt(q, SQ_ENTRY_NEXT_ID, err);
        if (next == NULL) return err ? err->code : JF_INTERNAL;
        jf_code code = sq_get(q, next, SQLITE_OK, read_id, &q->next_entry_id, err, "entry next id");
        if (code != JF_OK) return code;
    }
    if (entry_id == 0) entry_id = q->next_entry_id;
    STMT_OR_FAIL(q, SQ_LOT_INSERT, err);
    int rc = sqlite3_bind_int64(st, 1, l->tenant_id);
    rc |= sqlite3_bind_int64(st, 2, l->member_id);
    rc |= sqlite3_bind_int64(st, 3, entry_id);
    rc |= sqlite3_bind_int64(st, 4, l->amount);
    rc |= sqlite3_bind_int64(st, 5, l->remaining);
    rc |= sqlite3_bind_int64(st, 6, l->state);
    rc |= sqlite3_bind_int64(st, 7, l->available_at_ms);
    rc |= sqlite3_bind_int64(st, 8, l->expires_at_ms);
    rc |= sqlite3_bind_int64(st, 9, l->created_at_ms);
    jf_code code = sq_write(q, st, rc, false, err, "lot insert");
    if (code == JF_OK) code = sq_floor_lower(q, l->member_id, lot_due_at(l), err);
    if (code == JF_OK) {
        l->id = sqlite3_last_insert_rowid(q->db);
        q->linked_lot_id = l->entry_id == 0 ? l->id : 0;
        q->linked_entry_id = entry_id;
    }
    return code;
}

static jf_code sq_lot_get(jf_store *s, int64_t id, jf_lot *out, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_LOT_GET, err);
    return sq_get(q, st, sqlite3_bind_int64(st, 1, id), read_lot, out, err, "lot get");
}

/* Step an UPDATE … RETURNING of one row by id: the row as written into
 * `row` (read), JF_NOT_FOUND when there is none. */
static jf_code sq_update_returning(sq_store *q, sqlite3_stmt *st, int bind_rc, sq_reader read, void *row,
                                   jf_error *err, const char *what) {
    assert(q->tx == TX_WRITE);
    jf_code code = JF_OK;
    if (bind_rc != SQLITE_OK) {
        code = sq_fail(q, bind_rc, err, what);
    } else {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            read(st, row);
            rc = sqlite3_step(st);
        } else if (rc == SQLITE_DONE) {
            code = jf_fail(err, JF_NOT_FOUND, "", "%s: no such row", what);
        }
        if (code == JF_OK && rc != SQLITE_DONE) code = sq_fail(q, rc, err, what);
    }
    sq_done(st);
    return code;
}

static void read_lot_due(sqlite3_stmt *st, void *out) {
    jf_lot *l = out;
    l->member_id = I64(0);
    l->state = (jf_lot_state)I64(1);
    l->remaining = I64(2);
    l->available_at_ms = I64(3);
    l->expires_at_ms = I64(4);
}

/* The member and times come from the row as written (RETURNING), not
 * from l: a caller need only fill in what the update writes. */
static jf_code sq_lot_update(jf_store *s, const jf_lot *l, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_LOT_UPDATE, err);
    int rc = sqlite3_bind_int64(st, 1, l->remaining) | sqlite3_bind_int64(st, 2, l->state) |
             sqlite3_bind_int64(st, 3, l->entry_id) | sqlite3_bind_int64(st, 4, l->id);
    jf_lot row;
    jf_code code = sq_update_returning(q, st, rc, read_lot_due, &row, err, "lot update");
    return code == JF_OK ? sq_floor_lower(q, row.member_id, lot_due_at(&row), err) : code;
}

static jf_code sq_lot_link_entry(jf_store *s, int64_t lot_id, int64_t entry_id, jf_error *err) {
    sq_store *q = sq_of(s);
    if (lot_id == q->linked_lot_id && entry_id == q->linked_entry_id) return JF_OK; /* written with the lot */
    STMT_OR_FAIL(q, SQ_LOT_LINK_ENTRY, err);
    int rc = sqlite3_bind_int64(st, 1, entry_id) | sqlite3_bind_int64(st, 2, lot_id);
    return sq_write(q, st, rc, true, err, "lot link entry");
}

static jf_code sq_lot_list(jf_store *s, int64_t member_id, const jf_lot_filter *f, jf_lot *out, size_t cap,
                           size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    assert(f != NULL);
    STMT_OR_FAIL(q, SQ_LOT_LIST, err);
    /* expires_before_ms is exclusive; the statement's bound is inclusive so
     * that "no bound" (INT64_MAX) still includes never-expiring lots. */
    int64_t expires_max = f->expires_before_ms == 0 ? INT64_MAX : f->expires_before_ms - 1;
    bool from_start = f->after_id == 0;
    int rc = sqlite3_bind_int64(st, 1, member_id);
    rc |= sqlite3_bind_int64(st, 2, f->state < 0 ? -1 : f->state);
    rc |= sqlite3_bind_int64(st, 3, f->only_remaining ? 1 : 0);
    rc |= sqlite3_bind_int64(st, 4, expires_max);
    rc |= sqlite3_bind_int64(st, 5, from_start ? INT64_MIN : f->after_expires_at_ms);
    rc |= sqlite3_bind_int64(st, 6, from_start ? 0 : f->after_id);
    rc |= sqlite3_bind_int64(st, 7, (int64_t)cap);
    return sq_list(q, st, rc, read_lot, out, sizeof *out, cap, n, err, "lot list");
}

static jf_code sq_lot_list_spendable(jf_store *s, int64_t member_id, int64_t after_expires_at_ms, int64_t after_id,
                                     jf_lot *out, size_t cap, size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_LOT_LIST_SPENDABLE, err);
    int rc = sqlite3_bind_int64(st, 1, member_id) | sqlite3_bind_int64(st, 2, after_expires_at_ms) |
             sqlite3_bind_int64(st, 3, after_id) | sqlite3_bind_int64(st, 4, (int64_t)cap);
    return sq_list(q, st, rc, read_lot, out, sizeof *out, cap, n, err, "spendable lots");
}

static jf_code sq_lot_list_by_time(sq_store *q, sq_id id, int64_t member_id, int64_t now_ms, jf_lot *out,
                                   size_t cap, size_t *n, jf_error *err, const char *what) {
    STMT_OR_FAIL(q, id, err);
    int rc = sqlite3_bind_int64(st, 1, member_id) | sqlite3_bind_int64(st, 2, now_ms) |
             sqlite3_bind_int64(st, 3, (int64_t)cap);
    return sq_list(q, st, rc, read_lot, out, sizeof *out, cap, n, err, what);
}

static jf_code sq_lot_list_activatable(jf_store *s, int64_t member_id, int64_t now_ms, jf_lot *out, size_t cap,
                                       size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    *n = 0;
    if (sq_due_none(q, member_id, q->due.pending_min, now_ms)) return JF_OK;
    return sq_lot_list_by_time(sq_of(s), SQ_LOT_LIST_ACTIVATABLE, member_id, now_ms, out, cap, n, err,
                               "activatable lots");
}

static jf_code sq_lot_list_expirable(jf_store *s, int64_t member_id, int64_t now_ms, jf_lot *out, size_t cap,
                                     size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    *n = 0;
    if (sq_due_none(q, member_id, q->due.active_min, now_ms)) return JF_OK;
    return sq_lot_list_by_time(sq_of(s), SQ_LOT_LIST_EXPIRABLE, member_id, now_ms, out, cap, n, err,
                               "expirable lots");
}

static void read_move(sqlite3_stmt *st, void *out) {
    jf_lot_move *mv = out;
    mv->id = I64(0);
    mv->entry_id = I64(1);
    mv->lot_id = I64(2);
    mv->points = I64(3);
}

static jf_code sq_move_insert(jf_store *s, jf_lot_move *mv, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_MOVE_INSERT, err);
    int rc = sqlite3_bind_int64(st, 1, mv->entry_id) | sqlite3_bind_int64(st, 2, mv->lot_id) |
             sqlite3_bind_int64(st, 3, mv->points);
    jf_code code = sq_write(q, st, rc, false, err, "lot move insert");
    if (code == JF_OK) mv->id = sqlite3_last_insert_rowid(q->db);
    return code;
}

static jf_code sq_move_list_by_entry(jf_store *s, int64_t entry_id, jf_lot_move *out, size_t cap, size_t *n,
                                     jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_MOVE_LIST_BY_ENTRY, err);
    int rc = sqlite3_bind_int64(st, 1, entry_id) | sqlite3_bind_int64(st, 2, (int64_t)cap);
    return sq_list(q, st, rc, read_move, out, sizeof *out, cap, n, err, "lot moves");
}

static jf_code sq_move_sum_by_lot(jf_store *s, int64_t lot_id, int64_t *sum, jf_error *err) {
    sq_store *q = sq_of(s);
    assert(sum != NULL);
    STMT_OR_FAIL(q, SQ_MOVE_SUM_BY_LOT, err);
    return sq_get(q, st, sqlite3_bind_int64(st, 1, lot_id), read_id, sum, err, "lot move sum");
}

static jf_code sq_set_auto_checkpoint(jf_store *s, bool on, jf_error *err) {
    sq_store *q = sq_of(s);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA wal_autocheckpoint = %d", on ? SQ_WAL_AUTOCHECKPOINT_PAGES : 0);
    int rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? JF_OK : sq_fail(q, rc, err, "autocheckpoint");
}

/* PASSIVE: copy what can be copied without waiting for readers or the
 * writer.  SQLite starts the log over only when the writer begins a
 * transaction after a checkpoint has caught up with it; see checkpointer.h
 * for how the writer makes sure that happens. */
static jf_code sq_checkpoint(jf_store *s, int64_t *log_frames, jf_error *err) {
    sq_store *q = sq_of(s);
    int frames = -1, done = -1;
    int rc = sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &done);
    if (log_frames) *log_frames = rc == SQLITE_OK ? frames : -1;
    if (rc == SQLITE_OK && done > 0 && done < frames) {
        /* SQLite syncs the database file only after a checkpoint that
         * reached the log's end; one that the writer outran leaves what it
         * copied to the kernel.  Sync it here, off the writer's path, so
         * that the checkpoint that does reach the end (the writer's turn,
         * checkpointer.h) has only its own few pages to sync. */
        sqlite3_file *f = NULL;
        if (sqlite3_file_control(q->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) == SQLITE_OK && f && f->pMethods)
            rc = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
    }
    return rc == SQLITE_OK || rc == SQLITE_BUSY ? JF_OK : sq_fail(q, rc, err, "checkpoint");
}

static jf_code sq_move_sum_by_lot_kind(jf_store *s, int64_t lot_id, jf_entry_kind kind, int64_t *sum,
                                       jf_error *err) {
    sq_store *q = sq_of(s);
    assert(sum != NULL);
    STMT_OR_FAIL(q, SQ_MOVE_SUM_BY_LOT_KIND, err);
    int rc = sqlite3_bind_int64(st, 1, lot_id) | sqlite3_bind_int64(st, 2, (int64_t)kind);
    return sq_get(q, st, rc, read_id, sum, err, "lot move sum by kind");
}

/* ---- holds ------------------------------------------------------------- */

static void read_hold(sqlite3_stmt *st, void *out) {
    jf_hold *h = out;
    memset(h, 0, sizeof *h);
    h->id = I64(0);
    h->tenant_id = I64(1);
    h->member_id = I64(2);
    h->entry_id = I64(3);
    h->points = I64(4);
    h->captured = I64(5);
    h->state = (jf_hold_state)I64(6);
    sq_col_text(st, 7, h->biz_no, sizeof h->biz_no);
    h->expires_at_ms = I64(8);
    h->created_at_ms = I64(9);
    h->closed_at_ms = I64(10);
}

static jf_code sq_hold_insert(jf_store *s, jf_hold *h, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_HOLD_INSERT, err);
    int rc = sqlite3_bind_int64(st, 1, h->tenant_id);
    rc |= sqlite3_bind_int64(st, 2, h->member_id);
    rc |= sqlite3_bind_int64(st, 3, h->entry_id);
    rc |= sqlite3_bind_int64(st, 4, h->points);
    rc |= sqlite3_bind_int64(st, 5, h->captured);
    rc |= sqlite3_bind_int64(st, 6, h->state);
    rc |= sq_text(st, 7, h->biz_no);
    rc |= sqlite3_bind_int64(st, 8, h->expires_at_ms);
    rc |= sqlite3_bind_int64(st, 9, h->created_at_ms);
    rc |= sqlite3_bind_int64(st, 10, h->closed_at_ms);
    jf_code code = sq_write(q, st, rc, false, err, "hold insert");
    if (code == JF_OK) h->id = sqlite3_last_insert_rowid(q->db);
    if (code == JF_OK && h->state == JF_HOLD_OPEN) code = sq_floor_lower(q, h->member_id, h->expires_at_ms, err);
    return code;
}

static jf_code sq_hold_get(jf_store *s, int64_t id, jf_hold *out, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_HOLD_GET, err);
    return sq_get(q, st, sqlite3_bind_int64(st, 1, id), read_hold, out, err, "hold get");
}

static void read_hold_due(sqlite3_stmt *st, void *out) {
    jf_hold *h = out;
    h->member_id = I64(0);
    h->state = (jf_hold_state)I64(1);
    h->expires_at_ms = I64(2);
}

/* As sq_lot_update: the floor from the row as written. */
static jf_code sq_hold_update(jf_store *s, const jf_hold *h, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_HOLD_UPDATE, err);
    int rc = sqlite3_bind_int64(st, 1, h->captured) | sqlite3_bind_int64(st, 2, h->state) |
             sqlite3_bind_int64(st, 3, h->closed_at_ms) | sqlite3_bind_int64(st, 4, h->entry_id) |
             sqlite3_bind_int64(st, 5, h->id);
    jf_hold row;
    jf_code code = sq_update_returning(q, st, rc, read_hold_due, &row, err, "hold update");
    if (code == JF_OK && row.state == JF_HOLD_OPEN) code = sq_floor_lower(q, row.member_id, row.expires_at_ms, err);
    return code;
}

static jf_code sq_hold_list_open(jf_store *s, int64_t member_id, int64_t before_ms, jf_hold *out, size_t cap,
                                 size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    *n = 0;
    if (sq_due_none(q, member_id, q->due.hold_min, before_ms)) return JF_OK;
    STMT_OR_FAIL(q, SQ_HOLD_LIST_OPEN, err);
    int rc = sqlite3_bind_int64(st, 1, member_id) | sqlite3_bind_int64(st, 2, before_ms) |
             sqlite3_bind_int64(st, 3, (int64_t)cap);
    return sq_list(q, st, rc, read_hold, out, sizeof *out, cap, n, err, "open holds");
}

/* ---- idempotency and keys ---------------------------------------------- */

static void read_idem(sqlite3_stmt *st, void *out) {
    jf_idem *r = out;
    memset(r, 0, sizeof *r);
    r->tenant_id = I64(0);
    sq_col_text(st, 1, r->biz_no, sizeof r->biz_no);
    r->op = (jf_op_kind)I64(2);
    sq_col_hash(st, 3, r->fingerprint);
    r->member_id = I64(4);
    r->entry_id = I64(5);
    sq_col_text(st, 6, r->result, sizeof r->result);
    r->created_at_ms = I64(7);
}

static jf_code sq_idem_get(jf_store *s, int64_t tenant_id, const char *biz_no, jf_idem *out, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_IDEM_GET, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sq_text(st, 2, biz_no);
    return sq_get(q, st, rc, read_idem, out, err, "idempotency get");
}

static jf_code sq_idem_insert(jf_store *s, const jf_idem *r, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_IDEM_INSERT, err);
    int rc = sqlite3_bind_int64(st, 1, r->tenant_id);
    rc |= sq_text(st, 2, r->biz_no);
    rc |= sqlite3_bind_int64(st, 3, r->op);
    rc |= sq_hash(st, 4, r->fingerprint);
    rc |= sqlite3_bind_int64(st, 5, r->member_id);
    rc |= sqlite3_bind_int64(st, 6, r->entry_id);
    rc |= sq_text(st, 7, r->result);
    rc |= sqlite3_bind_int64(st, 8, r->created_at_ms);
    return sq_write(q, st, rc, false, err, "idempotency insert");
}

static void read_key(sqlite3_stmt *st, void *out) {
    jf_api_key *k = out;
    memset(k, 0, sizeof *k);
    k->id = I64(0);
    k->tenant_id = I64(1);
    sq_col_text(st, 2, k->name, sizeof k->name);
    sq_col_text(st, 3, k->prefix, sizeof k->prefix);
    sq_col_hash(st, 4, k->secret_hash);
    k->role = (jf_role)I64(5);
    k->created_at_ms = I64(6);
    k->revoked_at_ms = I64(7);
}

static jf_code sq_key_insert(jf_store *s, jf_api_key *k, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_KEY_INSERT, err);
    int rc = sqlite3_bind_int64(st, 1, k->tenant_id);
    rc |= sq_text(st, 2, k->name);
    rc |= sq_text(st, 3, k->prefix);
    rc |= sq_hash(st, 4, k->secret_hash);
    rc |= sqlite3_bind_int64(st, 5, k->role);
    rc |= sqlite3_bind_int64(st, 6, k->created_at_ms);
    rc |= sqlite3_bind_int64(st, 7, k->revoked_at_ms);
    jf_code code = sq_write(q, st, rc, false, err, "api key insert");
    if (code == JF_OK) k->id = sqlite3_last_insert_rowid(q->db);
    return code;
}

static jf_code sq_key_get_by_hash(jf_store *s, const uint8_t hash[JF_HASH_BYTES], jf_api_key *out,
                                  jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_KEY_GET_BY_HASH, err);
    return sq_get(q, st, sq_hash(st, 1, hash), read_key, out, err, "api key get");
}

static jf_code sq_key_get(jf_store *s, int64_t id, jf_api_key *out, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_KEY_GET, err);
    return sq_get(q, st, sqlite3_bind_int64(st, 1, id), read_key, out, err, "api key get");
}

static jf_code sq_key_list(jf_store *s, int64_t tenant_id, int64_t after_id, jf_api_key *out, size_t cap,
                           size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_KEY_LIST, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sqlite3_bind_int64(st, 2, after_id) |
             sqlite3_bind_int64(st, 3, (int64_t)cap);
    return sq_list(q, st, rc, read_key, out, sizeof *out, cap, n, err, "api key list");
}

static jf_code sq_key_revoke(jf_store *s, int64_t id, int64_t revoked_at_ms, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_KEY_REVOKE, err);
    int rc = sqlite3_bind_int64(st, 1, revoked_at_ms) | sqlite3_bind_int64(st, 2, id);
    return sq_write(q, st, rc, true, err, "api key revoke");
}

/* ---- open, migrate, close ---------------------------------------------- */

static void sq_open_files_leave(const sq_store *q);

static void sq_close(jf_store *s) {
    if (s == NULL) return;
    sq_store *q = sq_of(s);
    sq_open_files_leave(q);
    if (q->tx != TX_NONE) sq_rollback(s);
    for (int i = 0; i < SQ__COUNT; i++) sqlite3_finalize(q->stmts[i]);
    sqlite3_close_v2(q->db);
    if (q->wal_fd >= 0) close(q->wal_fd);
    free(q->wal_path);
    free(q->pending.awards);
    free(q);
}

static jf_code sq_exec(sq_store *q, const char *sql, jf_error *err, const char *what) {
    int rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? JF_OK : sq_fail(q, rc, err, what);
}

/* Commits that write the log without syncing it; log_sync syncs it from
 * another thread through a descriptor of its own (fdatasync syncs the
 * file, whichever descriptor asks), so it shares nothing with the
 * connection.  WAL mode with synchronous=NORMAL keeps every commit whole:
 * a power loss can only lose the last ones, which no one was told of. */
static jf_code sq_defer_sync(jf_store *s, bool on, jf_error *err) {
    sq_store *q = sq_of(s);
    if (!on) return sq_exec(q, "PRAGMA synchronous = FULL", err, "sync each commit");
    if (q->wal_path == NULL) {
        const char *db = sqlite3_db_filename(q->db, "main");
        if (db == NULL || db[0] == '\0') return jf_fail(err, JF_UNAVAILABLE, "", "sqlite: a database without a file");
        size_t n = strlen(db);
        q->wal_path = malloc(n + 5);
        if (q->wal_path == NULL) return jf_fail(err, JF_UNAVAILABLE, "", "out of memory");
        memcpy(q->wal_path, db, n);
        memcpy(q->wal_path + n, "-wal", 5);
    }
    const char *fault = getenv("JIFEN_TEST_FAIL_LOG_SYNC");
    q->fail_log_sync = fault != NULL && strcmp(fault, "1") == 0;
    return sq_exec(q, "PRAGMA synchronous = NORMAL", err, "defer sync");
}

static jf_code sq_log_sync(jf_store *s, jf_error *err) {
    sq_store *q = sq_of(s);
    if (q->wal_path == NULL) return JF_OK; /* commits sync themselves */
    /* The log SQLite writes is the file the path names now: should it ever
     * be a new one, sync that. */
    struct stat named, held;
    if (q->wal_fd >= 0 && (stat(q->wal_path, &named) != 0 || fstat(q->wal_fd, &held) != 0 ||
                           named.st_ino != held.st_ino || named.st_dev != held.st_dev)) {
        close(q->wal_fd);
        q->wal_fd = -1;
    }
    if (q->wal_fd < 0) q->wal_fd = open(q->wal_path, O_RDONLY | O_CLOEXEC);
    if (q->wal_fd < 0)
        return jf_fail(err, JF_UNAVAILABLE, "", "sqlite: open %s to sync it: %s", q->wal_path, strerror(errno));
    if (q->fail_log_sync) errno = EIO;
    int64_t t0 = jf_mono_us();
    if (q->fail_log_sync || fdatasync(q->wal_fd) != 0)
        return jf_fail(err, JF_UNAVAILABLE, "", "sqlite: fdatasync %s: %s", q->wal_path, strerror(errno));
    jf_sqlite_vfs_count_sync(JF_SQLITE_WAL, jf_mono_us() - t0);
    return JF_OK;
}

/* The schema version recorded in the database; 0 if it has none yet.  Not
 * through the statement table: the table may not exist. */
static jf_code sq_schema_version(sq_store *q, int64_t *version, jf_error *err) {
    *version = 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(q->db,
                                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return sq_fail(q, rc, err, "schema version");
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) return JF_OK;
    if (rc != SQLITE_ROW) return sq_fail(q, rc, err, "schema version");
    st = sq_stmt(q, SQ_SCHEMA_VERSION, err);
    if (st == NULL) return err ? err->code : JF_INTERNAL;
    return sq_get(q, st, SQLITE_OK, read_id, version, err, "schema version");
}

static jf_code sq_refuse_newer(int64_t version, jf_error *err) {
    return jf_fail(err, JF_UNAVAILABLE, "", "database schema version %lld is newer than this jifen (%lld); "
                   "upgrade jifen to open it", (long long)version, (long long)JF_SQLITE_SCHEMA_VERSION);
}

/* Apply the migrations the database has not had, in one write transaction. */
static jf_code sq_migrate_locked(sq_store *q, jf_error *err) {
    jf_code code = sq_exec(q, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                              "applied_at_ms INTEGER NOT NULL)", err, "migrate");
    int64_t version = 0;
    if (code == JF_OK) code = sq_schema_version(q, &version, err);
    if (code != JF_OK) return code;
    if (version > JF_SQLITE_SCHEMA_VERSION) return sq_refuse_newer(version, err);
    for (int64_t v = version + 1; v <= JF_SQLITE_SCHEMA_VERSION; v++) {
        code = sq_exec(q, jf_sqlite_migrations[v - 1], err, "migrate");
        if (code != JF_OK) return code;
        STMT_OR_FAIL(q, SQ_SCHEMA_RECORD, err);
        int rc = sqlite3_bind_int64(st, 1, v) | sqlite3_bind_int64(st, 2, jf_now_ms());
        code = sq_write(q, st, rc, false, err, "migrate");
        if (code != JF_OK) return code;
    }
    return JF_OK;
}

/* ---- who else has the database open ------------------------------------ */

/* A migration changes what every writer must do (8: keep the members' due
 * floor with every lot and hold it writes), and a process that opened the
 * database before would go on writing by the old rules, silently.  So an
 * existing database is migrated only when no other process has it open.
 *
 * Every connection to a WAL database holds a shared lock in the -shm file
 * (SQLite's unix VFS: bytes 120..128, its eight locks and the "DMS" byte)
 * for as long as it has the file mapped, and F_GETLK reports the locks of
 * other processes.  The probe opens and closes a descriptor of the -shm
 * file, and closing any descriptor of a file drops every POSIX lock the
 * process holds on it; so it runs only while this process has no
 * connection to the database (the counts below), under sq_open_mu, which
 * every open takes. */
#define SQ_SHM_LOCKS_FIRST 120
#define SQ_SHM_LOCKS_BYTES 9

typedef struct {
    dev_t dev;
    ino_t ino;
    int n; /* this process's connections; 0: a free slot */
} sq_open_file;

static pthread_mutex_t sq_open_mu = PTHREAD_MUTEX_INITIALIZER;
static sq_open_file sq_open_files[64]; /* guarded by sq_open_mu */

static sq_open_file *sq_open_file_of(dev_t dev, ino_t ino) {
    for (size_t i = 0; i < sizeof sq_open_files / sizeof sq_open_files[0]; i++)
        if (sq_open_files[i].n > 0 && sq_open_files[i].dev == dev && sq_open_files[i].ino == ino)
            return &sq_open_files[i];
    return NULL;
}

static bool sq_shared_with_another_process(const char *path) {
    char shm[PATH_MAX];
    if (snprintf(shm, sizeof shm, "%s-shm", path) >= (int)sizeof shm) return false;
    int fd = open(shm, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false; /* no -shm file: nobody has it mapped */
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = SQ_SHM_LOCKS_FIRST,
                       .l_len = SQ_SHM_LOCKS_BYTES};
    bool held = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    close(fd);
    return held;
}

/* Under sq_open_mu: count q's connection to its file.  With the table
 * full (64 files open at once) it goes uncounted, and a later first open
 * of the same file could probe while it is open: its locks would be lost.
 * No jifen process opens that many databases. */
static void sq_open_files_enter(sq_store *q) {
    struct stat sb;
    const char *path = sqlite3_db_filename(q->db, "main");
    if (path == NULL || stat(path, &sb) != 0) return;
    sq_open_file *f = sq_open_file_of(sb.st_dev, sb.st_ino);
    for (size_t i = 0; f == NULL && i < sizeof sq_open_files / sizeof sq_open_files[0]; i++)
        if (sq_open_files[i].n == 0) {
            f = &sq_open_files[i];
            *f = (sq_open_file){.dev = sb.st_dev, .ino = sb.st_ino, .n = 0};
        }
    if (f == NULL) return;
    f->n++;
    q->counted = true;
    q->file_dev = sb.st_dev;
    q->file_ino = sb.st_ino;
}

static void sq_open_files_leave(const sq_store *q) {
    if (!q->counted) return;
    pthread_mutex_lock(&sq_open_mu);
    sq_open_file *f = sq_open_file_of(q->file_dev, q->file_ino);
    if (f != NULL) f->n--;
    pthread_mutex_unlock(&sq_open_mu);
}

static jf_code sq_migrate(sq_store *q, bool shared, jf_error *err) {
    int64_t version = 0;
    jf_code code = sq_schema_version(q, &version, err);
    if (code != JF_OK) return code;
    if (version > JF_SQLITE_SCHEMA_VERSION) return sq_refuse_newer(version, err);
    if (version == JF_SQLITE_SCHEMA_VERSION) return JF_OK; /* no writer lock needed */
    if (version > 0 && shared)
        return jf_fail(err, JF_UNAVAILABLE, "",
                       "database schema version %lld needs migrating to %lld, and another process has the "
                       "database open (an older jifen would go on writing by the old rules): stop it, "
                       "then start this one",
                       (long long)version, (long long)JF_SQLITE_SCHEMA_VERSION);
    code = sq_begin(&q->base, err);
    if (code != JF_OK) return code;
    code = sq_migrate_locked(q, err);
    if (code == JF_OK) return sq_commit(&q->base, err);
    sq_rollback(&q->base);
    return code;
}

/* Set the connection's pragmas.  journal_mode answers with the mode it got;
 * anything but "wal" (say, a read-only directory) is refused. */
static jf_code sq_configure(sq_store *q, jf_error *err) {
    sqlite3_extended_result_codes(q->db, 1);
    sqlite3_busy_timeout(q->db, SQ_BUSY_TIMEOUT_MS);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(q->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc != SQLITE_OK) return sq_fail(q, rc, err, "journal_mode");
    rc = sqlite3_step(st);
    bool wal = rc == SQLITE_ROW && sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) return sq_fail(q, rc, err, "journal_mode");
    if (!wal) return jf_fail(err, JF_UNAVAILABLE, "", "sqlite: cannot switch the database to WAL mode");
    char sql[256];
    snprintf(sql, sizeof sql,
             "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -%d; "
             "PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = %d; PRAGMA mmap_size = %lld; "
             "PRAGMA journal_size_limit = %lld;",
             SQ_CACHE_SIZE_KIB, SQ_WAL_AUTOCHECKPOINT_PAGES, (long long)SQ_MMAP_SIZE_BYTES,
             (long long)SQ_WAL_SIZE_LIMIT_BYTES);
    return sq_exec(q, sql, err, "pragma");
}

jf_code jf_sqlite_open(const char *path, jf_store **out, jf_error *err) {
    assert(path != NULL);
    assert(out != NULL);
    *out = NULL;
    sq_store *q = calloc(1, sizeof *q);
    if (q == NULL) return jf_fail(err, JF_UNAVAILABLE, "", "out of memory");
    q->base.ops = &sq_ops;
    q->base.impl = q;
    q->wal_fd = -1;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    pthread_mutex_lock(&sq_open_mu);
    /* The first connection of this process to an existing file: does any
     * other process have it open (sq_shared_with_another_process)? */
    struct stat sb;
    bool shared = stat(path, &sb) == 0 && sq_open_file_of(sb.st_dev, sb.st_ino) == NULL &&
                  sq_shared_with_another_process(path);
    int rc = sqlite3_open_v2(path, &q->db, flags, jf_sqlite_vfs());
    jf_code code = JF_OK;
    if (rc != SQLITE_OK)
        code = jf_fail(err, JF_UNAVAILABLE, "", "sqlite open %s: %s", path,
                       q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
    if (code == JF_OK) sq_open_files_enter(q);
    pthread_mutex_unlock(&sq_open_mu);
    if (code == JF_OK) code = sq_configure(q, err);
    if (code == JF_OK) code = sq_migrate(q, shared, err);
    if (code != JF_OK) {
        sq_close(&q->base);
        return code;
    }
    *out = &q->base;
    return JF_OK;
}

jf_code jf_sqlite_exec_raw(jf_store *s, const char *sql, jf_error *err) {
    assert(sql != NULL);
    if (s == NULL || s->ops != &sq_ops) return jf_fail(err, JF_INTERNAL, "", "not a SQLite store");
    return sq_exec(sq_of(s), sql, err, "exec");
}

jf_code jf_sqlite_plan(jf_store *s, const char *name, char *out, size_t cap, jf_error *err) {
    if (s == NULL || s->ops != &sq_ops) return jf_fail(err, JF_INTERNAL, "", "not a SQLite store");
    sq_store *q = sq_of(s);
    int id = 0;
    while (id < SQ__COUNT && strcmp(sq_names[id], name) != 0) id++;
    if (id == SQ__COUNT) return jf_fail(err, JF_NOT_FOUND, "", "no statement %s", name);
    char *sql = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sq_sql[id]);
    sqlite3_stmt *st = NULL;
    int rc = sql ? sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc != SQLITE_OK) return sq_fail(q, rc, err, "plan");
    size_t used = 0;
    out[0] = '\0';
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int w = snprintf(out + used, cap - used, "%s%s", used ? "; " : "", (const char *)sqlite3_column_text(st, 3));
        if (w < 0 || (size_t)w >= cap - used) break;
        used += (size_t)w;
    }
    sqlite3_finalize(st);
    return JF_OK;
}

/* ---- online backup ----------------------------------------------------- */

static void sq_remove_partial(const char *dest_path) {
    static const char *const suffixes[] = {"", "-journal", "-wal", "-shm"};
    char name[PATH_MAX];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (snprintf(name, sizeof name, "%s%s", dest_path, suffixes[i]) < (int)sizeof name) unlink(name);
    }
}

/* fsync a file and the directory that names it, so the copy survives a
 * power cut once backup returns. */
static jf_code sq_fsync_path(const char *path, jf_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return jf_fail(err, JF_UNAVAILABLE, "", "fsync %s: %s", path, strerror(e));
    }
    close(fd);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: some file systems refuse directory fsync */
        close(fd);
    }
    return JF_OK;
}

/* Copy all pages.  The source connection holds one read transaction for the
 * whole copy: in WAL mode that does not block writers, and it keeps the
 * snapshot fixed, so the copy is consistent and never restarts however busy
 * the writers are.  Steps are chunked with a pause between them. */
static jf_code sq_backup_copy(sqlite3 *src, sqlite3 *dst, jf_error *err) {
    int rc = sqlite3_exec(src, "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return sq_fail_db(src, rc, err, "backup snapshot");
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL) {
        sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
        return sq_fail_db(dst, sqlite3_errcode(dst), err, "backup init");
    }
    int busy = 0;
    do {
        rc = sqlite3_backup_step(b, SQ_BACKUP_PAGES_PER_STEP);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) busy++;
        if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) usleep(SQ_BACKUP_PAUSE_US);
    } while ((rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && busy < SQ_BACKUP_BUSY_RETRIES_MAX);
    sqlite3_backup_finish(b);
    sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
    if (rc != SQLITE_DONE) return sq_fail_db(dst, rc, err, "backup step");
    return JF_OK;
}

jf_code jf_sqlite_backup(const char *src_path, const char *dest_path, jf_error *err) {
    assert(src_path != NULL);
    assert(dest_path != NULL);
    if (access(dest_path, F_OK) == 0)
        return jf_fail(err, JF_ALREADY_EXISTS, "to", "backup destination %s already exists", dest_path);
    sqlite3 *src = NULL, *dst = NULL;
    jf_code code = JF_OK;
    int rc = sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK) code = sq_fail_db(src, rc, err, "backup open source");
    if (code == JF_OK) {
        sqlite3_busy_timeout(src, SQ_BUSY_TIMEOUT_MS);
        rc = sqlite3_open_v2(dest_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE,
                             NULL);
        if (rc != SQLITE_OK) code = sq_fail_db(dst, rc, err, "backup open destination");
    }
    if (code == JF_OK) {
        sqlite3_busy_timeout(dst, SQ_BUSY_TIMEOUT_MS);
        rc = sqlite3_exec(dst, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
        if (rc != SQLITE_OK) code = sq_fail_db(dst, rc, err, "backup pragma");
    }
    if (code == JF_OK) code = sq_backup_copy(src, dst, err);
    rc = sqlite3_close_v2(dst);
    if (code == JF_OK && rc != SQLITE_OK) code = jf_fail(err, JF_UNAVAILABLE, "", "backup close destination");
    sqlite3_close_v2(src);
    if (code == JF_OK) code = sq_fsync_path(dest_path, err);
    if (code != JF_OK) sq_remove_partial(dest_path);
    return code;
}

/* ---- earning rules, tasks, events, awards, check-ins, settings (issue 5) ---- */

static void read_rule(sqlite3_stmt *st, void *out) {
    jf_rule_row *r = out;
    r->id = I64(0);
    r->tenant_id = I64(1);
    r->kind = (int32_t)I64(2);
    r->version = I64(3);
    r->enabled = I64(4) != 0;
    sq_col_text(st, 5, r->event_type, sizeof r->event_type);
    sq_col_text(st, 6, r->definition, sizeof r->definition);
    r->created_at_ms = I64(7);
    r->updated_at_ms = I64(8);
    r->history = I64(9) != 0;
}

static jf_code sq_rule_insert(jf_store *s, jf_rule_row *r, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_RULE_INSERT, err);
    int rc = sqlite3_bind_int64(st, 1, r->tenant_id);
    rc |= sqlite3_bind_int64(st, 2, r->kind);
    rc |= sqlite3_bind_int64(st, 3, r->version);
    rc |= sqlite3_bind_int64(st, 4, r->enabled);
    rc |= sq_text(st, 5, r->event_type);
    rc |= sq_text(st, 6, r->definition);
    rc |= sqlite3_bind_int64(st, 7, r->created_at_ms);
    rc |= sqlite3_bind_int64(st, 8, r->updated_at_ms);
    rc |= sqlite3_bind_int(st, 9, r->history);
    jf_code code = sq_write(q, st, rc, false, err, "rule insert");
    if (code == JF_OK) r->id = sqlite3_last_insert_rowid(q->db);
    return code;
}

static jf_code sq_rule_update(jf_store *s, const jf_rule_row *r, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_RULE_UPDATE, err);
    int rc = sqlite3_bind_int64(st, 1, r->version);
    rc |= sqlite3_bind_int64(st, 2, r->enabled);
    rc |= sq_text(st, 3, r->event_type);
    rc |= sq_text(st, 4, r->definition);
    rc |= sqlite3_bind_int64(st, 5, r->updated_at_ms);
    rc |= sqlite3_bind_int64(st, 6, r->id);
    rc |= sqlite3_bind_int64(st, 7, r->tenant_id);
    rc |= sqlite3_bind_int(st, 8, r->history);
    return sq_write(q, st, rc, true, err, "rule update");
}

/* for_update: the write transaction already holds SQLite's only writer lock. */
static jf_code sq_rule_get(jf_store *s, int64_t tenant_id, int64_t id, bool for_update, jf_rule_row *out,
                           jf_error *err) {
    sq_store *q = sq_of(s);
    assert(!for_update || q->tx == TX_WRITE);
    STMT_OR_FAIL(q, SQ_RULE_GET, err);
    int rc = sqlite3_bind_int64(st, 1, id) | sqlite3_bind_int64(st, 2, tenant_id);
    return sq_get(q, st, rc, read_rule, out, err, "rule get");
}

static jf_code sq_rule_list(jf_store *s, int64_t tenant_id, int32_t kind, int64_t after_id, jf_rule_row *out,
                            size_t cap, size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_RULE_LIST, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sqlite3_bind_int64(st, 2, kind) |
             sqlite3_bind_int64(st, 3, after_id) | sqlite3_bind_int64(st, 4, (int64_t)cap);
    return sq_list(q, st, rc, read_rule, out, sizeof *out, cap, n, err, "rule list");
}

static jf_code sq_rule_version_insert(jf_store *s, const jf_rule_row *r, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_RULE_VERSION_INSERT, err);
    int rc = sqlite3_bind_int64(st, 1, r->id);
    rc |= sqlite3_bind_int64(st, 2, r->version);
    rc |= sqlite3_bind_int64(st, 3, r->tenant_id);
    rc |= sqlite3_bind_int64(st, 4, r->enabled);
    rc |= sq_text(st, 5, r->definition);
    rc |= sqlite3_bind_int64(st, 6, r->updated_at_ms);
    return sq_write(q, st, rc, false, err, "rule version insert");
}

static void read_rule_version(sqlite3_stmt *st, void *out) {
    jf_rule_row *r = out;
    memset(r, 0, sizeof *r);
    r->id = I64(0);
    r->tenant_id = I64(1);
    r->version = I64(2);
    r->enabled = I64(3) != 0;
    sq_col_text(st, 4, r->definition, sizeof r->definition);
    r->created_at_ms = I64(5);
}

static jf_code sq_rule_version_get(jf_store *s, int64_t tenant_id, int64_t id, int64_t version, jf_rule_row *out,
                                   jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_RULE_VERSION_GET, err);
    int rc = sqlite3_bind_int64(st, 1, id) | sqlite3_bind_int64(st, 2, version) | sqlite3_bind_int64(st, 3, tenant_id);
    return sq_get(q, st, rc, read_rule_version, out, err, "rule version get");
}

static void read_event(sqlite3_stmt *st, void *out) {
    jf_event_row *e = out;
    memset(e, 0, sizeof *e);
    e->tenant_id = I64(0);
    sq_col_text(st, 1, e->event_id, sizeof e->event_id);
    e->member_id = I64(2);
    sq_col_text(st, 3, e->type, sizeof e->type);
    e->amount_fen = I64(4);
    e->occurred_at_ms = I64(5);
    e->refunded_fen = I64(6);
    sq_col_text(st, 7, e->refund_of, sizeof e->refund_of);
    sq_col_hash(st, 8, e->fingerprint);
    e->created_at_ms = I64(9);
}

static void read_int(sqlite3_stmt *st, void *out) { *(int64_t *)out = I64(0); }

/* Looks the event_id up and holds the row back (sq_pending_event). */
static jf_code sq_event_insert(jf_store *s, const jf_event_row *e, jf_error *err) {
    sq_store *q = sq_of(s);
    assert(q->tx == TX_WRITE);
    jf_code code = sq_events_flush(q, err);
    if (code != JF_OK) return code;
    STMT_OR_FAIL(q, SQ_EVENT_EXISTS, err);
    int rc = sqlite3_bind_int64(st, 1, e->tenant_id) | sq_text(st, 2, e->event_id);
    int64_t one = 0;
    code = sq_get(q, st, rc, read_int, &one, err, "event insert");
    if (code == JF_OK) return jf_fail(err, JF_ALREADY_EXISTS, "", "event insert: the key already exists");
    if (code != JF_NOT_FOUND) return code;
    jf_error_clear(err);
    if (q->pending.awards == NULL) {
        q->pending.awards = malloc(SQ_EVENT_AWARDS_MAX + 1);
        if (q->pending.awards == NULL) abort();
    }
    q->pending.active = true;
    q->pending.row = *e;
    q->pending.awards_len = 0;
    q->pending.awards[0] = '\0';
    q->pending.answer = "";
    q->deferred++;
    return JF_OK;
}

/* Whether the row held back is (tenant_id, event_id)'s. */
static bool sq_pending_is(const sq_store *q, int64_t tenant_id, const char *event_id) {
    return q->pending.active && q->pending.row.tenant_id == tenant_id && strcmp(q->pending.row.event_id, event_id) == 0;
}

/* Write the event row held back, if any. */
static jf_code sq_events_flush(sq_store *q, jf_error *err) {
    if (!q->pending.active) return JF_OK;
    q->pending.active = false;
    const jf_event_row *e = &q->pending.row;
    const char *answer = q->pending.answer; /* the caller's: bound until sq_write is done */
    q->pending.answer = "";
    STMT_OR_FAIL(q, SQ_EVENT_INSERT, err);
    int rc = sqlite3_bind_int64(st, 1, e->tenant_id);
    rc |= sq_text(st, 2, e->event_id);
    rc |= sqlite3_bind_int64(st, 3, e->member_id);
    rc |= sq_text(st, 4, e->type);
    rc |= sqlite3_bind_int64(st, 5, e->amount_fen);
    rc |= sqlite3_bind_int64(st, 6, e->occurred_at_ms);
    rc |= sqlite3_bind_int64(st, 7, e->refunded_fen);
    rc |= sq_text(st, 8, e->refund_of);
    rc |= sq_hash(st, 9, e->fingerprint);
    rc |= sqlite3_bind_int64(st, 10, e->created_at_ms);
    rc |= sqlite3_bind_int(st, 11, e->counted);
    rc |= sqlite3_bind_text(st, 12, q->pending.awards, (int)q->pending.awards_len, SQLITE_STATIC);
    rc |= sq_text(st, 13, answer);
    return sq_write(q, st, rc, false, err, "event insert");
}

static jf_code sq_event_get(jf_store *s, int64_t tenant_id, const char *event_id, jf_event_row *out,
                            jf_error *err) {
    sq_store *q = sq_of(s);
    SQ_TRY(sq_events_flush(q, err));
    STMT_OR_FAIL(q, SQ_EVENT_GET, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sq_text(st, 2, event_id);
    return sq_get(q, st, rc, read_event, out, err, "event get");
}

static jf_code sq_event_update_refunded(jf_store *s, int64_t tenant_id, const char *event_id, int64_t refunded_fen,
                                        jf_error *err) {
    sq_store *q = sq_of(s);
    SQ_TRY(sq_events_flush(q, err));
    STMT_OR_FAIL(q, SQ_EVENT_UPDATE_REFUNDED, err);
    int rc = sqlite3_bind_int64(st, 1, refunded_fen) | sqlite3_bind_int64(st, 2, tenant_id) |
             sq_text(st, 3, event_id);
    return sq_write(q, st, rc, true, err, "event update");
}

static void read_count_sum(sqlite3_stmt *st, void *out) {
    int64_t *v = out;
    v[0] = I64(0);
    v[1] = sqlite3_column_count(st) > 1 ? I64(1) : 0;
}

static jf_code sq_order_count(jf_store *s, int64_t member_id, int64_t before_ms, int64_t *count, jf_error *err) {
    sq_store *q = sq_of(s);
    SQ_TRY(sq_events_flush(q, err));
    STMT_OR_FAIL(q, SQ_ORDER_COUNT, err);
    int rc = sqlite3_bind_int64(st, 1, member_id) | sqlite3_bind_int64(st, 2, before_ms);
    int64_t v[2] = {0, 0};
    jf_code code = sq_get(q, st, rc, read_count_sum, v, err, "order count");
    *count = v[0];
    return code;
}

static jf_code sq_order_count_all(jf_store *s, int64_t tenant_id, jf_error *err) {
    sq_store *q = sq_of(s);
    SQ_TRY(sq_events_flush(q, err));
    STMT_OR_FAIL(q, SQ_ORDER_COUNT_ALL, err);
    return sq_write(q, st, sqlite3_bind_int64(st, 1, tenant_id), false, err, "order count all");
}

static void read_award(sqlite3_stmt *st, void *out) {
    jf_award_row *a = out;
    memset(a, 0, sizeof *a);
    a->tenant_id = I64(0);
    sq_col_text(st, 1, a->event_id, sizeof a->event_id);
    a->rule_id = I64(2);
    a->rule_version = I64(3);
    a->member_id = I64(4);
    a->points = I64(5);
    a->reversed = I64(6);
    a->occurred_at_ms = I64(7);
    sq_col_text(st, 8, a->biz_no, sizeof a->biz_no);
    sq_col_text(st, 9, a->explanation, sizeof a->explanation);
    a->created_at_ms = I64(10);
    a->entry_id = I64(11);
}

/* ---- awards kept in their event's row (schema 11) ----
 * An award of a rule without a history (jf_award_row.history false) is
 * appended to events.awards as "rule_id,rule_version,points,reversed,
 * entry_id,biz_no;" — in memory while the event's row is held back
 * (sq_pending_event), else by an UPDATE of the row — instead of a row in
 * awards and an entry in its index by rule and member.  Refunds list and update them as rows; a rule
 * that starts keeping a history moves its awards into rows
 * (sq_award_history_start).  A biz_no is text of [a-z0-9._-] (derived by
 * the engine), so ',' and ';' delimit. */

static size_t put_award_int(char *out, size_t o, int64_t v) {
    o += jf_int_text(out + o, v);
    out[o++] = ',';
    return o;
}

/* a as text into out (SQ_AWARD_TEXT_MAX + 1 bytes); false if its biz_no
 * has a delimiter. */
static bool award_text(const jf_award_row *a, char *out) {
    if (strpbrk(a->biz_no, ",;") != NULL) return false;
    size_t o = put_award_int(out, 0, a->rule_id);
    o = put_award_int(out, o, a->rule_version);
    o = put_award_int(out, o, a->points);
    o = put_award_int(out, o, a->reversed);
    o = put_award_int(out, o, a->entry_id);
    size_t b = strlen(a->biz_no);
    memcpy(out + o, a->biz_no, b);
    o += b;
    out[o++] = ';';
    out[o] = '\0';
    return true;
}

/* An event's row as the award operations read it. */
typedef struct {
    char event_id[JF_EVENT_ID_LEN_MAX + 1];
    int64_t member_id, occurred_at_ms, created_at_ms;
    char *awards; /* SQ_EVENT_AWARDS_MAX + 1 bytes, owned by the caller */
} sq_event_awards;

static void read_event_awards(sqlite3_stmt *st, void *out) {
    sq_event_awards *e = out;
    sq_col_text(st, 0, e->event_id, sizeof e->event_id);
    e->member_id = I64(1);
    e->occurred_at_ms = I64(2);
    e->created_at_ms = I64(3);
    sq_col_text(st, 4, e->awards, SQ_EVENT_AWARDS_MAX + 1);
}

/* The award at *p of e's text into *a (the event's columns filled in);
 * advances *p past it.  False at the end or on text that does not parse. */
static bool next_event_award(const sq_event_awards *e, int64_t tenant_id, const char **p, jf_award_row *a) {
    if (**p == '\0') return false;
    memset(a, 0, sizeof *a);
    int64_t v[5];
    const char *c = *p;
    char end;
    for (int i = 0; i < 5; i++)
        if (!text_int(&c, ",", &v[i], &end)) return false;
    const char *semi = strchr(c, ';');
    if (semi == NULL || (size_t)(semi - c) > JF_BIZ_NO_LEN_MAX) return false;
    a->tenant_id = tenant_id;
    memcpy(a->event_id, e->event_id, sizeof a->event_id);
    a->rule_id = v[0];
    a->rule_version = v[1];
    a->points = v[2];
    a->reversed = v[3];
    a->entry_id = v[4];
    memcpy(a->biz_no, c, (size_t)(semi - c));
    a->biz_no[semi - c] = '\0';
    a->member_id = e->member_id;
    a->occurred_at_ms = e->occurred_at_ms;
    a->created_at_ms = e->created_at_ms;
    *p = semi + 1;
    return true;
}

static jf_code event_awards_get(sq_store *q, int64_t tenant_id, const char *event_id, sq_event_awards *e,
                                jf_error *err) {
    SQ_TRY(sq_events_flush(q, err));
    STMT_OR_FAIL(q, SQ_EVENT_AWARDS_GET, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sq_text(st, 2, event_id);
    return sq_get(q, st, rc, read_event_awards, e, err, "event awards");
}

static jf_code event_awards_set(sq_store *q, int64_t tenant_id, const char *event_id, const char *awards,
                                jf_error *err) {
    SQ_TRY(sq_events_flush(q, err));
    STMT_OR_FAIL(q, SQ_EVENT_AWARDS_SET, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sq_text(st, 2, event_id) | sq_text(st, 3, awards);
    return sq_write(q, st, rc, true, err, "event awards");
}

static jf_code sq_award_insert(jf_store *s, const jf_award_row *a, jf_error *err) {
    sq_store *q = sq_of(s);
    if (!a->history) {
        char text[SQ_AWARD_TEXT_MAX + 1];
        if (!award_text(a, text))
            return jf_fail(err, JF_INTERNAL, "", "award insert: biz_no %s has a delimiter", a->biz_no);
        size_t len = strlen(text);
        if (sq_pending_is(q, a->tenant_id, a->event_id) && q->pending.awards_len + len <= SQ_EVENT_AWARDS_MAX) {
            memcpy(q->pending.awards + q->pending.awards_len, text, len + 1);
            q->pending.awards_len += len;
            return JF_OK;
        }
        SQ_TRY(sq_events_flush(q, err));
        STMT_OR_FAIL(q, SQ_EVENT_AWARDS_APPEND, err);
        int rc = sqlite3_bind_int64(st, 1, a->tenant_id) | sq_text(st, 2, a->event_id) | sq_text(st, 3, text);
        return sq_write(q, st, rc, true, err, "award insert (event row)");
    }
    STMT_OR_FAIL(q, SQ_AWARD_INSERT, err);
    int rc = sqlite3_bind_int64(st, 1, a->tenant_id);
    rc |= sq_text(st, 2, a->event_id);
    rc |= sqlite3_bind_int64(st, 3, a->rule_id);
    rc |= sqlite3_bind_int64(st, 4, a->rule_version);
    rc |= sqlite3_bind_int64(st, 5, a->member_id);
    rc |= sqlite3_bind_int64(st, 6, a->points);
    rc |= sqlite3_bind_int64(st, 7, a->reversed);
    rc |= sqlite3_bind_int64(st, 8, a->occurred_at_ms);
    rc |= sq_text(st, 9, a->biz_no);
    rc |= sq_text(st, 10, a->explanation);
    rc |= sqlite3_bind_int64(st, 11, a->created_at_ms);
    rc |= sqlite3_bind_int64(st, 12, a->entry_id);
    jf_code code = sq_write(q, st, rc, false, err, "award insert");
    if (code != JF_OK) return code;
    /* The member's memo (sq_memo) learns of it; one not read here is
     * cleared, so that it never misses an award. */
    if (sq_memo_of(q, a->member_id)) {
        sq_memo_entry *e = memo_find(&q->memo, 'r', a->rule_id);
        if (e != NULL) {
            memo_entry_add(e, a->occurred_at_ms);
            q->memo.dirty = true;
        }
        return JF_OK;
    }
    return memo_clear(q, a->member_id, err);
}

static char *event_awards_buffer(void) {
    char *b = malloc(SQ_EVENT_AWARDS_MAX + 1);
    if (b == NULL) abort();
    b[0] = '\0';
    return b;
}

/* The rows, then the awards in the event's row, by rule id. */
static jf_code sq_award_list_by_event(jf_store *s, int64_t tenant_id, const char *event_id, jf_award_row *out,
                                      size_t cap, size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_AWARD_LIST_BY_EVENT, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sq_text(st, 2, event_id) |
             sqlite3_bind_int64(st, 3, (int64_t)cap);
    jf_code code = sq_list(q, st, rc, read_award, out, sizeof *out, cap, n, err, "award list");
    if (code != JF_OK) return code;
    sq_event_awards e = {.awards = event_awards_buffer()};
    code = event_awards_get(q, tenant_id, event_id, &e, err);
    if (code == JF_NOT_FOUND) {
        jf_error_clear(err);
        code = JF_OK;
    }
    const char *p = e.awards;
    jf_award_row a;
    while (code == JF_OK && *n < cap && next_event_award(&e, tenant_id, &p, &a)) {
        size_t k = *n; /* insertion by rule id: a few awards */
        while (k > 0 && out[k - 1].rule_id > a.rule_id) {
            out[k] = out[k - 1];
            k--;
        }
        out[k] = a;
        (*n)++;
    }
    if (code == JF_OK && *n < cap && *p != '\0')
        code = jf_fail(err, JF_INTERNAL, "", "award list: event %s: unreadable awards \"%.40s\"", event_id, p);
    free(e.awards);
    return code;
}

/* Rewrite the event's awards text with the award of rule_id changed
 * (reversed >= 0) or left out (reversed < 0): JF_NOT_FOUND if it has none. */
static jf_code event_award_rewrite(sq_store *q, int64_t tenant_id, const char *event_id, int64_t rule_id,
                                   int64_t reversed, sq_event_awards *e, jf_error *err) {
    char *text = event_awards_buffer();
    const char *p = e->awards;
    size_t o = 0;
    bool found = false, written = true;
    jf_award_row a;
    while (written && next_event_award(e, tenant_id, &p, &a)) {
        if (a.rule_id == rule_id) {
            found = true;
            if (reversed < 0) continue;
            a.reversed = reversed;
        }
        written = award_text(&a, text + o);
        if (written) o += strlen(text + o);
    }
    jf_code code;
    if (*p != '\0' || !written)
        code = jf_fail(err, JF_INTERNAL, "", "event %s: unreadable awards \"%.40s\"", event_id, p);
    else if (!found)
        code = jf_fail(err, JF_NOT_FOUND, "", "award update: event %s has no award of rule %lld", event_id,
                       (long long)rule_id);
    else
        code = event_awards_set(q, tenant_id, event_id, text, err);
    free(text);
    return code;
}

static jf_code sq_award_update_reversed(jf_store *s, int64_t tenant_id, const char *event_id, int64_t rule_id,
                                        int64_t reversed, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_AWARD_UPDATE_REVERSED, err);
    int rc = sqlite3_bind_int64(st, 1, reversed) | sqlite3_bind_int64(st, 2, tenant_id) |
             sq_text(st, 3, event_id) | sqlite3_bind_int64(st, 4, rule_id);
    jf_code code = sq_write(q, st, rc, true, err, "award update");
    if (code != JF_NOT_FOUND) return code;
    jf_error_clear(err);
    sq_event_awards e = {.awards = event_awards_buffer()};
    code = event_awards_get(q, tenant_id, event_id, &e, err);
    if (code == JF_OK) code = event_award_rewrite(q, tenant_id, event_id, rule_id, reversed, &e, err);
    free(e.awards);
    return code;
}

/* Move the rule's awards from the tenant's events' rows into rows, a page
 * of events at a time (the page is read whole before it is rewritten). */
#define SQ_HISTORY_PAGE 64
static jf_code sq_award_history_start(jf_store *s, int64_t tenant_id, int64_t rule_id, jf_error *err) {
    sq_store *q = sq_of(s);
    SQ_TRY(sq_events_flush(q, err));
    sq_event_awards *page = calloc(SQ_HISTORY_PAGE, sizeof *page);
    if (page == NULL) abort();
    for (size_t i = 0; i < SQ_HISTORY_PAGE; i++) page[i].awards = event_awards_buffer();
    char after[JF_EVENT_ID_LEN_MAX + 1] = "";
    jf_code code = JF_OK;
    for (;;) {
        sqlite3_stmt *st = sq_stmt(q, SQ_EVENT_AWARDS_PAGE, err);
        if (st == NULL) {
            code = err ? err->code : JF_INTERNAL;
            break;
        }
        int rc = sqlite3_bind_int64(st, 1, tenant_id) | sq_text(st, 2, after) |
                 sqlite3_bind_int64(st, 3, SQ_HISTORY_PAGE);
        size_t n = 0;
        code = sq_list(q, st, rc, read_event_awards, page, sizeof *page, SQ_HISTORY_PAGE, &n, err, "award history");
        for (size_t i = 0; code == JF_OK && i < n; i++) {
            const char *p = page[i].awards;
            jf_award_row a;
            bool has = false;
            while (!has && next_event_award(&page[i], tenant_id, &p, &a)) has = a.rule_id == rule_id;
            if (!has && *p != '\0') {
                code = jf_fail(err, JF_INTERNAL, "", "event %s: unreadable awards \"%.40s\"", page[i].event_id, p);
                break;
            }
            if (!has) continue;
            a.history = true;
            code = sq_award_insert(s, &a, err);
            if (code == JF_OK)
                code = event_award_rewrite(q, tenant_id, page[i].event_id, rule_id, -1, &page[i], err);
        }
        if (code != JF_OK || n < SQ_HISTORY_PAGE) break;
        memcpy(after, page[n - 1].event_id, sizeof after);
    }
    for (size_t i = 0; i < SQ_HISTORY_PAGE; i++) free(page[i].awards);
    free(page);
    return code;
}

/* How many of rule_id's awards of the member fall in [from_ms, to_ms),
 * from the member's memo (sq_memo), its entry filled first if it has none;
 * *answered false when the memo cannot say. */
static jf_code memo_count(sq_store *q, int64_t rule_id, int64_t member_id, int64_t from_ms, int64_t to_ms,
                          int64_t *count, bool *answered, jf_error *err) {
    *answered = false;
    if (!sq_memo_of(q, member_id)) return JF_OK;
    sq_memo_entry e;
    const sq_memo_entry *have = memo_find(&q->memo, 'r', rule_id);
    if (have != NULL) {
        e = *have;
        if (from_ms >= e.from) sq_memo_hits++;
    } else {
        STMT_OR_FAIL(q, SQ_AWARD_TIMES_MEMBER, err);
        int rc = sqlite3_bind_int64(st, 1, rule_id) | sqlite3_bind_int64(st, 2, member_id) |
                 sqlite3_bind_int64(st, 3, SQ_MEMO_TIMES + 1);
        int64_t latest[SQ_MEMO_TIMES + 1]; /* descending */
        size_t n = 0;
        jf_code code = sq_list(q, st, rc, read_int, latest, sizeof latest[0], SQ_MEMO_TIMES + 1, &n, err, "award times");
        if (code != JF_OK) return code;
        e.n = n > SQ_MEMO_TIMES ? SQ_MEMO_TIMES : (int)n;
        e.from = n > SQ_MEMO_TIMES ? latest[SQ_MEMO_TIMES] + 1 : INT64_MIN;
        for (int i = 0; i < e.n; i++) e.t[i] = latest[e.n - 1 - i];
        memo_put(&q->memo, 'r', rule_id, &e);
    }
    if (from_ms < e.from) return JF_OK;
    *count = 0;
    for (int i = 0; i < e.n; i++) *count += e.t[i] >= from_ms && e.t[i] < to_ms;
    *answered = true;
    return JF_OK;
}

static jf_code sq_award_stats(jf_store *s, int64_t rule_id, int64_t member_id, int64_t from_ms, int64_t to_ms,
                              int64_t *count, int64_t *points, jf_error *err) {
    sq_store *q = sq_of(s);
    if (member_id != 0 && points == NULL) { /* a frequency: the member's memo may know */
        bool answered;
        jf_code code = memo_count(q, rule_id, member_id, from_ms, to_ms, count, &answered, err);
        if (code != JF_OK || answered) return code;
    }
    int rc;
    sqlite3_stmt *st;
    if (member_id != 0) {
        st = sq_stmt(q, points ? SQ_AWARD_STATS_MEMBER : SQ_AWARD_COUNT_MEMBER, err);
        if (st == NULL) return err ? err->code : JF_INTERNAL;
        rc = sqlite3_bind_int64(st, 1, rule_id) | sqlite3_bind_int64(st, 2, member_id) |
             sqlite3_bind_int64(st, 3, from_ms) | sqlite3_bind_int64(st, 4, to_ms);
    } else {
        st = sq_stmt(q, SQ_AWARD_STATS_RULE, err);
        if (st == NULL) return err ? err->code : JF_INTERNAL;
        rc = sqlite3_bind_int64(st, 1, rule_id) | sqlite3_bind_int64(st, 2, from_ms) |
             sqlite3_bind_int64(st, 3, to_ms);
    }
    int64_t v[2] = {0, 0};
    jf_code code = sq_get(q, st, rc, read_count_sum, v, err, "award stats");
    *count = v[0];
    if (points) *points = v[1];
    return code;
}

static void read_checkin(sqlite3_stmt *st, void *out) {
    jf_checkin_row *c = out;
    memset(c, 0, sizeof *c);
    c->tenant_id = I64(0);
    c->member_id = I64(1);
    c->day = (int32_t)I64(2);
    c->streak = I64(3);
    c->points = I64(4);
    c->makeup = I64(5) != 0;
    c->cost = I64(6);
    c->created_at_ms = I64(7);
}

static jf_code sq_checkin_insert(jf_store *s, const jf_checkin_row *c, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_CHECKIN_INSERT, err);
    int rc = sqlite3_bind_int64(st, 1, c->tenant_id);
    rc |= sqlite3_bind_int64(st, 2, c->member_id);
    rc |= sqlite3_bind_int64(st, 3, c->day);
    rc |= sqlite3_bind_int64(st, 4, c->streak);
    rc |= sqlite3_bind_int64(st, 5, c->points);
    rc |= sqlite3_bind_int64(st, 6, c->makeup);
    rc |= sqlite3_bind_int64(st, 7, c->cost);
    rc |= sqlite3_bind_int64(st, 8, c->created_at_ms);
    return sq_write(q, st, rc, false, err, "checkin insert");
}

static jf_code sq_checkin_update(jf_store *s, const jf_checkin_row *c, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_CHECKIN_UPDATE, err);
    int rc = sqlite3_bind_int64(st, 1, c->streak) | sqlite3_bind_int64(st, 2, c->points) |
             sqlite3_bind_int64(st, 3, c->member_id) | sqlite3_bind_int64(st, 4, c->day);
    return sq_write(q, st, rc, true, err, "checkin update");
}

static jf_code sq_checkin_list(jf_store *s, int64_t member_id, int32_t from_day, int32_t to_day,
                               jf_checkin_row *out, size_t cap, size_t *n, jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_CHECKIN_LIST, err);
    int rc = sqlite3_bind_int64(st, 1, member_id) | sqlite3_bind_int64(st, 2, from_day) |
             sqlite3_bind_int64(st, 3, to_day) | sqlite3_bind_int64(st, 4, (int64_t)cap);
    return sq_list(q, st, rc, read_checkin, out, sizeof *out, cap, n, err, "checkin list");
}

static void read_progress(sqlite3_stmt *st, void *out) {
    jf_progress_row *p = out;
    memset(p, 0, sizeof *p);
    p->tenant_id = I64(0);
    p->task_id = I64(1);
    p->member_id = I64(2);
    p->period_start_ms = I64(3);
    p->task_version = I64(4);
    p->progress = I64(5);
    p->completed_at_ms = I64(6);
    p->rewarded_at_ms = I64(7);
    p->updated_at_ms = I64(8);
}

/* A progress row as a memo entry (sq_memo: k), or its absence. */
static void progress_memo_put(sq_store *q, const jf_progress_row *p, bool found) {
    sq_memo_entry e = {.from = p->period_start_ms, .n = found ? 5 : 0,
                       .t = {p->task_version, p->progress, p->completed_at_ms, p->rewarded_at_ms, p->updated_at_ms}};
    memo_put(&q->memo, 'k', p->task_id, &e);
}

/* The locked member's memo answers for the period it holds (sq_memo). */
static jf_code sq_progress_get(jf_store *s, int64_t task_id, int64_t member_id, int64_t period_start_ms,
                               jf_progress_row *out, jf_error *err) {
    sq_store *q = sq_of(s);
    bool memo = sq_memo_of(q, member_id);
    const sq_memo_entry *e = memo ? memo_find(&q->memo, 'k', task_id) : NULL;
    if (e != NULL && e->from == period_start_ms && (e->n == 0 || e->n == 5)) {
        sq_memo_hits++;
        if (e->n == 0) return jf_fail(err, JF_NOT_FOUND, "", "task progress get: no such row");
        *out = (jf_progress_row){.tenant_id = q->memo.tenant_id, .task_id = task_id, .member_id = member_id,
                                 .period_start_ms = period_start_ms, .task_version = e->t[0], .progress = e->t[1],
                                 .completed_at_ms = e->t[2], .rewarded_at_ms = e->t[3], .updated_at_ms = e->t[4]};
        return JF_OK;
    }
    STMT_OR_FAIL(q, SQ_PROGRESS_GET, err);
    int rc = sqlite3_bind_int64(st, 1, task_id) | sqlite3_bind_int64(st, 2, member_id) |
             sqlite3_bind_int64(st, 3, period_start_ms);
    jf_code code = sq_get(q, st, rc, read_progress, out, err, "task progress get");
    if (memo && (code == JF_OK || code == JF_NOT_FOUND) && (code == JF_NOT_FOUND || out->tenant_id == q->memo.tenant_id)) {
        jf_progress_row none = {.task_id = task_id, .period_start_ms = period_start_ms};
        progress_memo_put(q, code == JF_OK ? out : &none, code == JF_OK);
    }
    return code;
}

static jf_code sq_progress_put(jf_store *s, const jf_progress_row *p, jf_error *err) {
    sq_store *q = sq_of(s);
    bool memo = sq_memo_of(q, p->member_id) && p->tenant_id == q->memo.tenant_id;
    STMT_OR_FAIL(q, SQ_PROGRESS_PUT, err);
    int rc = sqlite3_bind_int64(st, 1, p->tenant_id);
    rc |= sqlite3_bind_int64(st, 2, p->task_id);
    rc |= sqlite3_bind_int64(st, 3, p->member_id);
    rc |= sqlite3_bind_int64(st, 4, p->period_start_ms);
    rc |= sqlite3_bind_int64(st, 5, p->task_version);
    rc |= sqlite3_bind_int64(st, 6, p->progress);
    rc |= sqlite3_bind_int64(st, 7, p->completed_at_ms);
    rc |= sqlite3_bind_int64(st, 8, p->rewarded_at_ms);
    rc |= sqlite3_bind_int64(st, 9, p->updated_at_ms);
    jf_code code = sq_write(q, st, rc, false, err, "task progress put");
    if (code != JF_OK) return code;
    if (!memo) return memo_clear(q, p->member_id, err);
    progress_memo_put(q, p, true);
    return JF_OK;
}

typedef struct {
    char *buf;
    size_t cap;
} sq_text_out;

static void read_setting(sqlite3_stmt *st, void *out) {
    sq_text_out *t = out;
    sq_col_text(st, 0, t->buf, t->cap);
}

static bool setting_memo_is(const sq_store *q, int64_t tenant_id, const char *name) {
    return q->setting.valid && q->setting.tenant_id == tenant_id && strcmp(q->setting.name, name) == 0;
}

/* Remember a short setting within a write transaction (found: value is
 * the setting's; else there is none). */
static void setting_memo_put(sq_store *q, int64_t tenant_id, const char *name, bool found, const char *value) {
    q->setting.valid = false;
    if (q->tx != TX_WRITE || strlen(name) >= SQ_SETTING_MEMO_BYTES || strlen(value) >= SQ_SETTING_MEMO_BYTES) return;
    q->setting.tenant_id = tenant_id;
    q->setting.found = found;
    memcpy(q->setting.name, name, strlen(name) + 1);
    memcpy(q->setting.value, value, strlen(value) + 1);
    q->setting.valid = true;
}

static jf_code sq_setting_get(jf_store *s, int64_t tenant_id, const char *name, char *value, size_t cap,
                              jf_error *err) {
    sq_store *q = sq_of(s);
    assert(cap > 0);
    if (q->tx == TX_WRITE && setting_memo_is(q, tenant_id, name)) {
        if (!q->setting.found) return jf_fail(err, JF_NOT_FOUND, "", "setting get: no such row");
        size_t n = strlen(q->setting.value);
        if (n >= cap) n = cap - 1; /* cut as sq_col_text cuts */
        memcpy(value, q->setting.value, n);
        value[n] = '\0';
        return JF_OK;
    }
    STMT_OR_FAIL(q, SQ_SETTING_GET, err);
    char read[SQ_SETTING_MEMO_BYTES];
    bool memo = cap <= sizeof read; /* read whole into the memo's room, then cut for the caller */
    sq_text_out t = {memo ? read : value, memo ? sizeof read : cap};
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sq_text(st, 2, name);
    jf_code code = sq_get(q, st, rc, read_setting, &t, err, "setting get");
    if (code == JF_OK && memo) {
        size_t n = strlen(read);
        if (n + 1 < sizeof read) setting_memo_put(q, tenant_id, name, true, read); /* not cut: whole */
        if (n >= cap) n = cap - 1;
        memcpy(value, read, n);
        value[n] = '\0';
    }
    if (code == JF_NOT_FOUND) setting_memo_put(q, tenant_id, name, false, "");
    return code;
}

static jf_code sq_setting_put(jf_store *s, int64_t tenant_id, const char *name, const char *value, int64_t now_ms,
                              jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, SQ_SETTING_PUT, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sq_text(st, 2, name) | sq_text(st, 3, value) |
             sqlite3_bind_int64(st, 4, now_ms);
    q->setting.valid = false;
    jf_code code = sq_write(q, st, rc, false, err, "setting put");
    if (code == JF_OK) setting_memo_put(q, tenant_id, name, true, value);
    return code;
}

/* Nothing to lock: the write transaction holds SQLite's only writer lock. */
static jf_code sq_tenant_lock(jf_store *s, int64_t tenant_id, jf_error *err) {
    (void)tenant_id;
    (void)err;
    assert(sq_of(s)->tx == TX_WRITE);
    return JF_OK;
}

/* The answer goes in the event's row (schema 13): with the row held back
 * (sq_event_insert), which is then written once, whole; else by an update.
 * Answers kept before are rows of event_answers (schemas 3-12), which the
 * event names by answer_id and which name their event (schema 7 linked
 * them with event_id ''); they are still read (EVENT_ANSWER_GET). */
static jf_code sq_event_answer_put(jf_store *s, int64_t tenant_id, const char *event_id, const char *answer,
                                   jf_error *err) {
    sq_store *q = sq_of(s);
    if (sq_pending_is(q, tenant_id, event_id)) {
        q->pending.answer = answer;
        return sq_events_flush(q, err);
    }
    SQ_TRY(sq_events_flush(q, err));
    STMT_OR_FAIL(q, SQ_EVENT_ANSWER_SET, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sq_text(st, 2, event_id) | sq_text(st, 3, answer);
    return sq_write(q, st, rc, true, err, "event answer");
}

static void read_long_text(sqlite3_stmt *st, void *out) {
    sq_text_out *t = out;
    if ((size_t)sqlite3_column_bytes(st, 0) >= t->cap) t->cap = 0; /* does not fit: the caller fails */
    else sq_col_text(st, 0, t->buf, t->cap);
}

static jf_code sq_event_answer_get(jf_store *s, int64_t tenant_id, const char *event_id, char *answer, size_t cap,
                                   jf_error *err) {
    sq_store *q = sq_of(s);
    SQ_TRY(sq_events_flush(q, err));
    STMT_OR_FAIL(q, SQ_EVENT_ANSWER_GET, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sq_text(st, 2, event_id);
    sq_text_out t = {answer, cap};
    jf_code code = sq_get(q, st, rc, read_long_text, &t, err, "event answer get");
    if (code == JF_OK && t.cap == 0) return jf_fail(err, JF_INTERNAL, "", "event answer get: longer than %zu bytes", cap);
    return code;
}

/* for_update: the write transaction already holds SQLite's only writer lock. */
static jf_code sq_rule_budget_get(jf_store *s, int64_t tenant_id, int64_t rule_id, bool for_update, int64_t *points,
                                  jf_error *err) {
    sq_store *q = sq_of(s);
    assert(!for_update || q->tx == TX_WRITE);
    STMT_OR_FAIL(q, SQ_RULE_BUDGET_GET, err);
    int rc = sqlite3_bind_int64(st, 1, tenant_id) | sqlite3_bind_int64(st, 2, rule_id);
    return sq_get(q, st, rc, read_int, points, err, "rule budget get");
}

static jf_code sq_rule_budget_add(jf_store *s, int64_t tenant_id, int64_t rule_id, int64_t delta, bool create,
                                  jf_error *err) {
    sq_store *q = sq_of(s);
    STMT_OR_FAIL(q, create ? SQ_RULE_BUDGET_CREATE : SQ_RULE_BUDGET_ADD, err);
    int rc = sqlite3_bind_int64(st, 1, delta) | sqlite3_bind_int64(st, 2, tenant_id) |
             sqlite3_bind_int64(st, 3, rule_id);
    return sq_write(q, st, rc, !create, err, "rule budget add");
}

static const jf_store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .begin = sq_begin,
    .begin_read = sq_begin_read,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .savepoint = sq_savepoint,
    .savepoint_release = sq_savepoint_release,
    .savepoint_rollback = sq_savepoint_rollback,
    .write_mark = sq_write_mark,
    .tenant_insert = sq_tenant_insert,
    .tenant_update = sq_tenant_update,
    .tenant_get = sq_tenant_get,
    .tenant_get_by_slug = sq_tenant_get_by_slug,
    .tenant_list = sq_tenant_list,
    .member_insert = sq_member_insert,
    .member_get = sq_member_get,
    .member_get_by_id = sq_member_get_by_id,
    .member_update = sq_member_update,
    .member_store_check = sq_member_store_check,
    .member_list = sq_member_list,
    .members_due = sq_members_due,
    .entry_insert = sq_entry_insert,
    .entry_get = sq_entry_get,
    .entry_list = sq_entry_list,
    .entry_chain = sq_entry_chain,
    .entry_list_by_ref = sq_entry_list_by_ref,
    .lot_insert = sq_lot_insert,
    .lot_get = sq_lot_get,
    .lot_update = sq_lot_update,
    .lot_link_entry = sq_lot_link_entry,
    .lot_list = sq_lot_list,
    .lot_list_spendable = sq_lot_list_spendable,
    .lot_list_activatable = sq_lot_list_activatable,
    .lot_list_expirable = sq_lot_list_expirable,
    .move_insert = sq_move_insert,
    .move_list_by_entry = sq_move_list_by_entry,
    .move_sum_by_lot = sq_move_sum_by_lot,
    .move_sum_by_lot_kind = sq_move_sum_by_lot_kind,
    .set_auto_checkpoint = sq_set_auto_checkpoint,
    .checkpoint = sq_checkpoint,
    .defer_sync = sq_defer_sync,
    .log_sync = sq_log_sync,
    .hold_insert = sq_hold_insert,
    .hold_get = sq_hold_get,
    .hold_update = sq_hold_update,
    .hold_list_open = sq_hold_list_open,
    .idem_get = sq_idem_get,
    .idem_insert = sq_idem_insert,
    .key_insert = sq_key_insert,
    .key_get_by_hash = sq_key_get_by_hash,
    .key_get = sq_key_get,
    .key_list = sq_key_list,
    .key_revoke = sq_key_revoke,
    .rule_insert = sq_rule_insert,
    .rule_update = sq_rule_update,
    .rule_get = sq_rule_get,
    .rule_list = sq_rule_list,
    .rule_version_insert = sq_rule_version_insert,
    .rule_version_get = sq_rule_version_get,
    .event_insert = sq_event_insert,
    .event_get = sq_event_get,
    .event_update_refunded = sq_event_update_refunded,
    .order_count = sq_order_count,
    .order_count_all = sq_order_count_all,
    .award_insert = sq_award_insert,
    .award_history_start = sq_award_history_start,
    .award_list_by_event = sq_award_list_by_event,
    .award_update_reversed = sq_award_update_reversed,
    .award_stats = sq_award_stats,
    .checkin_insert = sq_checkin_insert,
    .checkin_update = sq_checkin_update,
    .checkin_list = sq_checkin_list,
    .progress_get = sq_progress_get,
    .progress_put = sq_progress_put,
    .setting_get = sq_setting_get,
    .setting_put = sq_setting_put,
    .tenant_lock = sq_tenant_lock,
    .event_answer_put = sq_event_answer_put,
    .event_answer_get = sq_event_answer_get,
    .rule_budget_get = sq_rule_budget_get,
    .rule_budget_add = sq_rule_budget_add,
};
