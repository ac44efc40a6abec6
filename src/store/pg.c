/*
 * pg.c — the PostgreSQL store backend (libpq).
 *
 * One connection per jf_store, used by one thread at a time, like sqlite.c.
 * Several jifen servers may share one database: correctness between them
 * comes from the database, never from this process —
 *   - a write transaction runs at READ COMMITTED and the engine locks the
 *     member row first (member_get … for_update = SELECT … FOR UPDATE); every
 *     later statement takes a fresh snapshot, so it sees whatever the previous
 *     holder of the lock committed;
 *   - uniqueness (one member per (tenant, ext_id), one answer per (tenant,
 *     biz_no), one entry per (member, seq)) is a unique index; an insert that
 *     meets an existing key does nothing (ON CONFLICT DO NOTHING) and answers
 *     JF_ALREADY_EXISTS, so the transaction stays usable, as on SQLite;
 *   - a read transaction is REPEATABLE READ READ ONLY: one snapshot for
 *     verify and for the reads of a request.
 *
 * Statements are registered once in the table below, prepared lazily once
 * per connection and run in libpq's pipeline mode: sent without waiting,
 * their results read when the engine needs one (see "connection and the
 * pipeline" below: an earn waits twice in a savepoint, once in a batch
 * without savepoints, and not at all when its batch's members were locked
 * at once, pg_pre).  Parameters and results travel as
 * text (integers in decimal, hashes as bytea hex), which keeps the
 * conversions obvious; every parameter carries an explicit cast.
 *
 * Errors (see store.h): unique_violation → JF_ALREADY_EXISTS;
 * serialization_failure, deadlock_detected, lock_not_available → JF_RETRY;
 * a lost connection (no SQLSTATE, class 08, 57P01..57P03) → JF_UNAVAILABLE
 * and the connection is marked broken: the transaction is gone, nothing of it
 * was written.  The next begin (or a read outside a transaction) tries
 * PQreset once and answers JF_UNAVAILABLE if the server is still away, so a
 * server rides out a PostgreSQL restart without being restarted itself.  A
 * write sent ahead that fails is answered to its job (below).  A
 * COMMIT whose answer is lost is the one ambiguous case: it may have
 * committed; the client's retry with the same biz_no replays it.
 *
 * Schema migrations are applied on open in one transaction that first takes
 * pg_advisory_xact_lock, so servers starting together do not race; a
 * database newer than this binary is refused.
 *
 * Citus (distributed PostgreSQL): every per-tenant table carries tenant_id,
 * the distribution column; see the schema comments and docs/scaling.md.
 */
#include <assert.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/pg.h"
#include "store/store.h"
#include "util/json_text.h"
#include "util/tz.h"

/* Seconds libpq waits to connect (open, and PQreset after a lost
 * connection); a URL's own connect_timeout wins. */
#define PG_CONNECT_TIMEOUT_S "10"

/* How long a statement waits for another transaction's row lock before it
 * fails with lock_not_available (then JF_RETRY): the same bound as SQLite's
 * busy timeout, so a stuck holder costs a request seconds, not forever. */
#define PG_LOCK_TIMEOUT "5s"

/* Key of the advisory lock that serialises migrations across servers
 * ("jifen" in ASCII). */
#define PG_MIGRATION_LOCK_KEY "439788414318"

/* The most parameters one statement takes (entry insert with its id: 24). */
#define PG_PARAMS_MAX 24

/* ---- schema -------------------------------------------------------------- */

/*
 * Migration N (1-based) is pg_migrations[N - 1]; never edit one that has
 * shipped, append.  The same tables, columns and index shapes as SQLite's
 * (src/store/sqlite_schema.h), in PostgreSQL's words:
 * - Ids are BIGINT GENERATED ALWAYS AS IDENTITY; every integer is BIGINT, so
 *   JF_NEVER (9223372036854775807) fits expires_at_ms and "expires_at_ms
 *   ascending" puts never-expiring lots last.
 * - Hashes are BYTEA of 32 bytes.
 * - Optional references are 0 when absent and carry no foreign key (an earn
 *   entry and its lot refer to each other).
 * - tenant_id has no foreign key on the hot tables (entries, lots, lot_moves,
 *   holds, idempotency): PostgreSQL checks a foreign key by taking FOR KEY
 *   SHARE on the referenced row, and every concurrent writer of a tenant
 *   sharing-locking the one tenant row creates a multixact per insert.  The
 *   member foreign keys stay: that row is already locked by the writer.
 * - Entries and lot moves are append-only: row triggers refuse UPDATE and
 *   DELETE, a statement trigger refuses TRUNCATE.  The triggers have the
 *   SQLite names (entries_no_update, …) because the tamper test drops them.
 * - Partial indexes serve the job queries, as on SQLite.
 *
 * Citus: tenants and api_keys would be reference tables (small, read by every
 * shard; api_keys is looked up by secret hash before the tenant is known);
 * members, entries, lots, lot_moves, holds and idempotency would be
 * distributed by tenant_id and co-located, so one operation touches one
 * shard.  lot_moves therefore carries tenant_id too (filled from its lot).
 */
static const char *const pg_migrations[] = {
    /* 1: the ledger. */
    "CREATE TABLE tenants (" /* Citus: reference table */
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  slug TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  timezone TEXT NOT NULL DEFAULT '',"
    "  expiry_kind BIGINT NOT NULL DEFAULT 0,"
    "  expiry_n BIGINT NOT NULL DEFAULT 0,"
    "  expiry_unit BIGINT NOT NULL DEFAULT 0,"
    "  expiry_round BIGINT NOT NULL DEFAULT 0,"
    "  clear_month BIGINT NOT NULL DEFAULT 0,"
    "  clear_day BIGINT NOT NULL DEFAULT 0,"
    "  expiry_years BIGINT NOT NULL DEFAULT 0,"
    "  refund_policy BIGINT NOT NULL DEFAULT 0,"
    "  created_at_ms BIGINT NOT NULL,"
    "  updated_at_ms BIGINT NOT NULL"
    ");"
    "CREATE TABLE members (" /* Citus: distributed by tenant_id */
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  tenant_id BIGINT NOT NULL REFERENCES tenants(id),"
    "  ext_id TEXT NOT NULL,"
    "  status BIGINT NOT NULL DEFAULT 0,"
    "  available BIGINT NOT NULL DEFAULT 0,"
    "  frozen BIGINT NOT NULL DEFAULT 0,"
    "  pending BIGINT NOT NULL DEFAULT 0,"
    "  debt BIGINT NOT NULL DEFAULT 0,"
    "  earned BIGINT NOT NULL DEFAULT 0,"
    "  spent BIGINT NOT NULL DEFAULT 0,"
    "  expired BIGINT NOT NULL DEFAULT 0,"
    "  entry_seq BIGINT NOT NULL DEFAULT 0,"
    "  last_hash BYTEA NOT NULL CHECK (octet_length(last_hash) = 32),"
    "  created_at_ms BIGINT NOT NULL,"
    "  updated_at_ms BIGINT NOT NULL,"
    "  UNIQUE (tenant_id, ext_id)"
    ");"
    "CREATE INDEX members_tenant ON members(tenant_id, id);"
    "CREATE TABLE entries (" /* Citus: distributed by tenant_id */
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  tenant_id BIGINT NOT NULL,"
    "  member_id BIGINT NOT NULL REFERENCES members(id),"
    "  seq BIGINT NOT NULL,"
    "  kind BIGINT NOT NULL,"
    "  points BIGINT NOT NULL,"
    "  d_available BIGINT NOT NULL,"
    "  d_frozen BIGINT NOT NULL,"
    "  d_pending BIGINT NOT NULL,"
    "  d_debt BIGINT NOT NULL,"
    "  d_earned BIGINT NOT NULL,"
    "  d_spent BIGINT NOT NULL,"
    "  d_expired BIGINT NOT NULL,"
    "  available_after BIGINT NOT NULL,"
    "  scene TEXT NOT NULL DEFAULT '',"
    "  biz_no TEXT NOT NULL DEFAULT '',"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  operator_id TEXT NOT NULL DEFAULT '',"
    "  ref_entry_id BIGINT NOT NULL DEFAULT 0,"
    "  lot_id BIGINT NOT NULL DEFAULT 0,"
    "  hold_id BIGINT NOT NULL DEFAULT 0,"
    "  created_at_ms BIGINT NOT NULL,"
    "  prev_hash BYTEA NOT NULL CHECK (octet_length(prev_hash) = 32),"
    "  hash BYTEA NOT NULL CHECK (octet_length(hash) = 32),"
    "  UNIQUE (member_id, seq)"
    ");"
    "CREATE INDEX entries_ref ON entries(ref_entry_id) WHERE ref_entry_id > 0;"
    "CREATE FUNCTION jf_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
    "  BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END $$;"
    "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries"
    "  FOR EACH ROW EXECUTE FUNCTION jf_append_only('entries are append-only');"
    "CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries"
    "  FOR EACH ROW EXECUTE FUNCTION jf_append_only('entries are append-only');"
    "CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries"
    "  FOR EACH STATEMENT EXECUTE FUNCTION jf_append_only('entries are append-only');"
    "CREATE TABLE lots (" /* Citus: distributed by tenant_id */
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  tenant_id BIGINT NOT NULL,"
    "  member_id BIGINT NOT NULL REFERENCES members(id),"
    "  entry_id BIGINT NOT NULL DEFAULT 0,"
    "  amount BIGINT NOT NULL,"
    "  remaining BIGINT NOT NULL,"
    "  state BIGINT NOT NULL,"
    "  available_at_ms BIGINT NOT NULL,"
    "  expires_at_ms BIGINT NOT NULL,"
    "  created_at_ms BIGINT NOT NULL"
    ");"
    "CREATE INDEX lots_member ON lots(member_id, expires_at_ms, id);"
    "CREATE INDEX lots_spendable ON lots(member_id, expires_at_ms, id) WHERE state = 1 AND remaining > 0;"
    "CREATE INDEX lots_pending ON lots(member_id, id) WHERE state = 0;"
    "CREATE INDEX lots_due_expiry ON lots(tenant_id, expires_at_ms, member_id) WHERE state = 1 AND remaining > 0;"
    "CREATE INDEX lots_due_activation ON lots(tenant_id, available_at_ms, member_id) WHERE state = 0;"
    "CREATE TABLE lot_moves (" /* Citus: distributed by tenant_id */
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  tenant_id BIGINT NOT NULL,"
    "  entry_id BIGINT NOT NULL REFERENCES entries(id),"
    "  lot_id BIGINT NOT NULL REFERENCES lots(id),"
    "  points BIGINT NOT NULL"
    ");"
    "CREATE INDEX lot_moves_entry ON lot_moves(entry_id);"
    "CREATE INDEX lot_moves_lot ON lot_moves(lot_id, points);"
    "CREATE TRIGGER lot_moves_no_update BEFORE UPDATE ON lot_moves"
    "  FOR EACH ROW EXECUTE FUNCTION jf_append_only('lot moves are append-only');"
    "CREATE TRIGGER lot_moves_no_delete BEFORE DELETE ON lot_moves"
    "  FOR EACH ROW EXECUTE FUNCTION jf_append_only('lot moves are append-only');"
    "CREATE TRIGGER lot_moves_no_truncate BEFORE TRUNCATE ON lot_moves"
    "  FOR EACH STATEMENT EXECUTE FUNCTION jf_append_only('lot moves are append-only');"
    "CREATE TABLE holds (" /* Citus: distributed by tenant_id */
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  tenant_id BIGINT NOT NULL,"
    "  member_id BIGINT NOT NULL REFERENCES members(id),"
    "  entry_id BIGINT NOT NULL DEFAULT 0,"
    "  points BIGINT NOT NULL,"
    "  captured BIGINT NOT NULL DEFAULT 0,"
    "  state BIGINT NOT NULL,"
    "  biz_no TEXT NOT NULL DEFAULT '',"
    "  expires_at_ms BIGINT NOT NULL,"
    "  created_at_ms BIGINT NOT NULL,"
    "  closed_at_ms BIGINT NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX holds_open ON holds(member_id, id) WHERE state = 0;"
    "CREATE INDEX holds_due ON holds(tenant_id, expires_at_ms, member_id) WHERE state = 0;"
    "CREATE TABLE idempotency (" /* Citus: distributed by tenant_id (the key starts with it) */
    "  tenant_id BIGINT NOT NULL,"
    "  biz_no TEXT NOT NULL,"
    "  op BIGINT NOT NULL,"
    "  fingerprint BYTEA NOT NULL CHECK (octet_length(fingerprint) = 32),"
    "  member_id BIGINT NOT NULL DEFAULT 0,"
    "  entry_id BIGINT NOT NULL DEFAULT 0,"
    "  result TEXT NOT NULL DEFAULT '',"
    "  created_at_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (tenant_id, biz_no)"
    ");"
    "CREATE TABLE api_keys (" /* Citus: reference table */
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  tenant_id BIGINT NOT NULL REFERENCES tenants(id),"
    "  name TEXT NOT NULL DEFAULT '',"
    "  prefix TEXT NOT NULL DEFAULT '',"
    "  secret_hash BYTEA NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),"
    "  role BIGINT NOT NULL,"
    "  created_at_ms BIGINT NOT NULL,"
    "  revoked_at_ms BIGINT NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX api_keys_tenant ON api_keys(tenant_id, id);",
    /* 2: earning rules and tasks, events, awards, check-ins, task progress
     * and tenant settings (issue 5); the same shapes as SQLite's migration 2.
     * Citus: all distributed by tenant_id (each carries it). */
    "CREATE TABLE rules ("
    "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  tenant_id BIGINT NOT NULL REFERENCES tenants(id),"
    "  kind BIGINT NOT NULL,"
    "  version BIGINT NOT NULL,"
    "  enabled BIGINT NOT NULL,"
    "  event_type TEXT NOT NULL DEFAULT '',"
    "  definition TEXT NOT NULL,"
    "  created_at_ms BIGINT NOT NULL,"
    "  updated_at_ms BIGINT NOT NULL"
    ");"
    "CREATE INDEX rules_tenant ON rules(tenant_id, kind, id);"
    "CREATE TABLE rule_versions ("
    "  rule_id BIGINT NOT NULL REFERENCES rules(id),"
    "  version BIGINT NOT NULL,"
    "  tenant_id BIGINT NOT NULL,"
    "  enabled BIGINT NOT NULL,"
    "  definition TEXT NOT NULL,"
    "  created_at_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (rule_id, version)"
    ");"
    "CREATE TABLE events ("
    "  tenant_id BIGINT NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  member_id BIGINT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  amount_fen BIGINT NOT NULL,"
    "  occurred_at_ms BIGINT NOT NULL,"
    "  refunded_fen BIGINT NOT NULL DEFAULT 0,"
    "  refund_of TEXT NOT NULL DEFAULT '',"
    "  fingerprint BYTEA NOT NULL CHECK (octet_length(fingerprint) = 32),"
    "  created_at_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (tenant_id, event_id)"
    ");"
    "CREATE INDEX events_member ON events(member_id, type, occurred_at_ms);"
    "CREATE TABLE awards ("
    "  tenant_id BIGINT NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  rule_id BIGINT NOT NULL,"
    "  rule_version BIGINT NOT NULL,"
    "  member_id BIGINT NOT NULL,"
    "  points BIGINT NOT NULL,"
    "  reversed BIGINT NOT NULL DEFAULT 0,"
    "  occurred_at_ms BIGINT NOT NULL,"
    "  biz_no TEXT NOT NULL,"
    "  explanation TEXT NOT NULL DEFAULT '',"
    "  created_at_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (tenant_id, event_id, rule_id)"
    ");"
    "CREATE INDEX awards_rule_member ON awards(rule_id, member_id, occurred_at_ms);"
    "CREATE TABLE checkins ("
    "  member_id BIGINT NOT NULL REFERENCES members(id),"
    "  day BIGINT NOT NULL,"
    "  tenant_id BIGINT NOT NULL,"
    "  streak BIGINT NOT NULL,"
    "  points BIGINT NOT NULL,"
    "  makeup BIGINT NOT NULL DEFAULT 0,"
    "  cost BIGINT NOT NULL DEFAULT 0,"
    "  created_at_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (member_id, day)"
    ");"
    "CREATE TABLE task_progress ("
    "  task_id BIGINT NOT NULL,"
    "  member_id BIGINT NOT NULL,"
    "  period_start_ms BIGINT NOT NULL,"
    "  tenant_id BIGINT NOT NULL,"
    "  task_version BIGINT NOT NULL,"
    "  progress BIGINT NOT NULL,"
    "  completed_at_ms BIGINT NOT NULL DEFAULT 0,"
    "  rewarded_at_ms BIGINT NOT NULL DEFAULT 0,"
    "  updated_at_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (task_id, member_id, period_start_ms)"
    ");"
    "CREATE TABLE settings ("
    "  tenant_id BIGINT NOT NULL REFERENCES tenants(id),"
    "  name TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  updated_at_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (tenant_id, name)"
    ");",
    /* 3: event answers, rule budget counters, the orders index covering
     * refunds; the same shapes as SQLite's migration 3.  Citus: both new
     * tables distributed by tenant_id (event_answers' key includes it). */
    "ALTER TABLE events ADD COLUMN answer_id BIGINT NOT NULL DEFAULT 0;"
    "CREATE TABLE event_answers ("
    "  id BIGINT GENERATED ALWAYS AS IDENTITY,"
    "  tenant_id BIGINT NOT NULL,"
    "  answer TEXT NOT NULL,"
    "  PRIMARY KEY (tenant_id, id)"
    ");"
    "CREATE TABLE rule_budgets ("
    "  tenant_id BIGINT NOT NULL,"
    "  rule_id BIGINT NOT NULL,"
    "  points BIGINT NOT NULL,"
    "  PRIMARY KEY (tenant_id, rule_id)"
    ");"
    "INSERT INTO rule_budgets (tenant_id, rule_id, points)"
    "  SELECT r.tenant_id, r.id, coalesce((SELECT sum(a.points - a.reversed) FROM awards a"
    "    WHERE a.rule_id = r.id), 0) FROM rules r WHERE r.kind = 0;"
    "DROP INDEX events_member;"
    "CREATE INDEX events_member ON events(member_id, type, occurred_at_ms, refunded_fen, amount_fen);",
    /* 4: an award names the earn entry it produced (0 for awards written
     * before, whose earn has an idempotency record); SQLite's migration 6. */
    "ALTER TABLE awards ADD COLUMN entry_id BIGINT NOT NULL DEFAULT 0;",
    /* 5: the index behind member.orders_count holds orders only (SQLite's
     * migration 9: every other event skips it). */
    "DROP INDEX IF EXISTS events_member;"
    "CREATE INDEX IF NOT EXISTS events_orders ON events(member_id, occurred_at_ms, refunded_fen, amount_fen, type)"
    "  WHERE type = 'order.paid';",
};

#define PG_SCHEMA_LATEST ((int64_t)(sizeof pg_migrations / sizeof pg_migrations[0]))

/* ---- statements ---------------------------------------------------------- */

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
/* A member's earliest open hold expiry, pending lot activation and active
 * lot expiry (NULL: none), from the partial indexes the settling queries
 * use; the member is m. */
#define MEMBER_DUE_MINS                                                                               \
    "(SELECT min(h.expires_at_ms) FROM holds h WHERE h.member_id = m.id AND h.state = 0), "         \
    "(SELECT min(l.available_at_ms) FROM lots l WHERE l.member_id = m.id AND l.state = 0), "        \
    "(SELECT min(l.expires_at_ms) FROM lots l WHERE l.member_id = m.id AND l.state = 1 AND "        \
    "l.remaining > 0)"
#define DRAWN_IDS "nextval('lots_id_seq'::regclass), nextval('entries_id_seq'::regclass)"
#define MEMBER_DUE_COLS "m.id, " MEMBER_DUE_MINS ", " DRAWN_IDS
#define MOVE_COLS "id, entry_id, lot_id, points"
#define HOLD_COLS                                                                                     \
    "id, tenant_id, member_id, entry_id, points, captured, state, biz_no, expires_at_ms, "           \
    "created_at_ms, closed_at_ms"
#define IDEM_COLS "tenant_id, biz_no, op, fingerprint, member_id, entry_id, result, created_at_ms"
#define IDEM_COLS_I                                                                                   \
    "i.tenant_id, i.biz_no, i.op, i.fingerprint, i.member_id, i.entry_id, i.result, i.created_at_ms"
#define KEY_COLS "id, tenant_id, name, prefix, secret_hash, role, created_at_ms, revoked_at_ms"

/* Casts, so that no parameter's type is left to inference. */
#define B(n) "$" #n "::bigint"
#define T(n) "$" #n "::text"
#define H(n) "$" #n "::bytea"
/* Arrays of them: the parameters of the statements that write many rows at
 * once (pg_flush), one array per column, in the single-row statement's
 * parameter order. */
#define BA(n) "$" #n "::bigint[]"
#define TA(n) "$" #n "::text[]"
#define HA(n) "$" #n "::bytea[]"

#define ENTRY_INSERT_INTO                                                                             \
    "INSERT INTO entries (tenant_id, member_id, seq, kind, points, d_available, d_frozen, "          \
    "d_pending, d_debt, d_earned, d_spent, d_expired, available_after, scene, biz_no, reason, "      \
    "operator_id, ref_entry_id, lot_id, hold_id, created_at_ms, prev_hash, hash"
#define ENTRY_INSERT_VALUES                                                                           \
    B(1) ", " B(2) ", " B(3) ", " B(4) ", " B(5) ", " B(6) ", " B(7) ", " B(8) ", " B(9) ", " B(10)  \
    ", " B(11) ", " B(12) ", " B(13) ", " T(14) ", " T(15) ", " T(16) ", " T(17) ", " B(18) ", "      \
    B(19) ", " B(20) ", " B(21) ", " H(22) ", " H(23)
#define LOT_INSERT_INTO                                                                               \
    "INSERT INTO lots (tenant_id, member_id, entry_id, amount, remaining, state, available_at_ms, "   \
    "expires_at_ms, created_at_ms"
#define LOT_INSERT_VALUES                                                                             \
    B(1) ", " B(2) ", " B(3) ", " B(4) ", " B(5) ", " B(6) ", " B(7) ", " B(8) ", " B(9)

/* Every statement this backend runs.  X(name, sql). */
#define PG_STATEMENTS(X)                                                                              \
    X(BEGIN_WRITE, "BEGIN ISOLATION LEVEL READ COMMITTED")                                            \
    X(BEGIN_READ, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")                                  \
    X(COMMIT, "COMMIT")                                                                               \
    X(ROLLBACK, "ROLLBACK")                                                                           \
    X(SAVEPOINT, "SAVEPOINT jf_op")                                                                   \
    X(RELEASE, "RELEASE SAVEPOINT jf_op")                                                             \
    X(ROLLBACK_TO, "ROLLBACK TO SAVEPOINT jf_op")                                                     \
    X(TENANT_INSERT,                                                                                  \
      "INSERT INTO tenants (slug, name, timezone, expiry_kind, expiry_n, expiry_unit, expiry_round, " \
      "clear_month, clear_day, expiry_years, refund_policy, created_at_ms, updated_at_ms) "          \
      "VALUES (" T(1) ", " T(2) ", " T(3) ", " B(4) ", " B(5) ", " B(6) ", " B(7) ", " B(8) ", "      \
      B(9) ", " B(10) ", " B(11) ", " B(12) ", " B(13) ") ON CONFLICT DO NOTHING RETURNING id")       \
    X(TENANT_UPDATE,                                                                                  \
      "UPDATE tenants SET slug = " T(1) ", name = " T(2) ", timezone = " T(3) ", expiry_kind = " B(4) \
      ", expiry_n = " B(5) ", expiry_unit = " B(6) ", expiry_round = " B(7) ", clear_month = " B(8)   \
      ", clear_day = " B(9) ", expiry_years = " B(10) ", refund_policy = " B(11)                      \
      ", created_at_ms = " B(12) ", updated_at_ms = " B(13) " WHERE id = " B(14))                     \
    X(TENANT_GET, "SELECT " TENANT_COLS " FROM tenants WHERE id = " B(1))                             \
    X(TENANT_GET_BY_SLUG, "SELECT " TENANT_COLS " FROM tenants WHERE slug = " T(1))                   \
    X(TENANT_LIST, "SELECT " TENANT_COLS " FROM tenants WHERE id > " B(1) " ORDER BY id LIMIT " B(2)) \
    X(MEMBER_INSERT,                                                                                  \
      "INSERT INTO members (tenant_id, ext_id, status, available, frozen, pending, debt, earned, "    \
      "spent, expired, entry_seq, last_hash, created_at_ms, updated_at_ms) VALUES (" B(1) ", " T(2)   \
      ", " B(3) ", " B(4) ", " B(5) ", " B(6) ", " B(7) ", " B(8) ", " B(9) ", " B(10) ", " B(11)     \
      ", " H(12) ", " B(13) ", " B(14) ") ON CONFLICT DO NOTHING RETURNING id")                       \
    X(MEMBER_GET, "SELECT " MEMBER_COLS " FROM members WHERE tenant_id = " B(1) " AND ext_id = " T(2)) \
    X(MEMBER_GET_LOCK,                                                                                \
      "SELECT " MEMBER_COLS " FROM members WHERE tenant_id = " B(1) " AND ext_id = " T(2)             \
      " FOR UPDATE")                                                                                  \
    X(MEMBER_GET_BY_ID, "SELECT " MEMBER_COLS " FROM members WHERE id = " B(1))                       \
    X(MEMBER_GET_BY_ID_LOCK, "SELECT " MEMBER_COLS " FROM members WHERE id = " B(1) " FOR UPDATE")    \
    /* Sent right after the lock, in the same round trip (pg_member_lock):  \
     * the member's earliest open hold expiry, pending lot activation and    \
     * active lot expiry (NULL: none), from the partial indexes the settling \
     * queries use; and a lot id and an entry id drawn for the operation's   \
     * first lot and entry (sequences of the identity columns). */           \
    /* By external id, with the idempotency record of biz_no $3 ('': none   \
     * asked) in the same statement: one row always (NULLs for a missing     \
     * member or record). */                                                 \
    X(MEMBER_DUE, "SELECT " MEMBER_DUE_COLS ", " IDEM_COLS_I " FROM (VALUES (1)) v LEFT JOIN members m " \
      "ON m.tenant_id = " B(1) " AND m.ext_id = " T(2) " LEFT JOIN idempotency i ON i.tenant_id = "    \
      B(1) " AND i.biz_no = " T(3))                                                                    \
    X(MEMBER_DUE_BY_ID, "SELECT " MEMBER_DUE_COLS " FROM members m WHERE m.id = " B(1))                \
    X(MEMBER_UPDATE,                                                                                  \
      "UPDATE members SET status = " B(1) ", available = " B(2) ", frozen = " B(3) ", pending = "     \
      B(4) ", debt = " B(5) ", earned = " B(6) ", spent = " B(7) ", expired = " B(8)                  \
      ", entry_seq = " B(9) ", last_hash = " H(10) ", updated_at_ms = " B(11) " WHERE id = " B(12))   \
    X(MEMBER_LIST,                                                                                    \
      "SELECT " MEMBER_COLS " FROM members WHERE tenant_id = " B(1) " AND id > " B(2)                 \
      " ORDER BY id LIMIT " B(3))                                                                     \
    X(MEMBERS_DUE,                                                                                    \
      "SELECT member_id FROM lots WHERE tenant_id = " B(1) " AND state = 0 AND available_at_ms <= "   \
      B(2) " AND member_id > " B(3) " UNION SELECT member_id FROM lots WHERE tenant_id = " B(1)       \
      " AND state = 1 AND remaining > 0 AND expires_at_ms <= " B(2) " AND member_id > " B(3)          \
      " UNION SELECT member_id FROM holds WHERE tenant_id = " B(1) " AND state = 0 AND "              \
      "expires_at_ms <= " B(2) " AND member_id > " B(3) " ORDER BY 1 LIMIT " B(4))                    \
    X(ENTRY_INSERT, ENTRY_INSERT_INTO ") VALUES (" ENTRY_INSERT_VALUES ") ON CONFLICT DO NOTHING RETURNING id") \
    /* With the id the member lock drew (pg_member_lock), sent ahead. */                               \
    X(ENTRY_INSERT_ID,                                                                                \
      ENTRY_INSERT_INTO ", id) OVERRIDING SYSTEM VALUE VALUES (" ENTRY_INSERT_VALUES ", " B(24) ")")   \
    X(ENTRY_GET, "SELECT " ENTRY_COLS " FROM entries WHERE id = " B(1))                               \
    /* Newest first by seq (id order within a member: entries are appended     \
     * under the member's lock), served by the (member_id, seq) index; the     \
     * cursor id becomes a seq bound.  $3: kinds mask; $4: scene ('' = any). */ \
    X(ENTRY_LIST,                                                                                     \
      "SELECT " ENTRY_COLS " FROM entries WHERE member_id = " B(1) " AND id < " B(2)                  \
      " AND seq < coalesce((SELECT seq FROM entries WHERE id = " B(2) " AND member_id = " B(1)        \
      "), 9223372036854775807) AND ((" B(3) " >> kind::int) & 1) = 1 AND (" T(4) " = '' OR scene = "  \
      T(4) ") AND created_at_ms >= " B(5) " AND created_at_ms < " B(6) " ORDER BY seq DESC LIMIT "    \
      B(7))                                                                                           \
    X(ENTRY_CHAIN,                                                                                    \
      "SELECT " ENTRY_COLS " FROM entries WHERE member_id = " B(1) " AND seq > " B(2)                 \
      " ORDER BY seq LIMIT " B(3))                                                                    \
    X(ENTRY_LIST_BY_REF,                                                                              \
      "SELECT " ENTRY_COLS " FROM entries WHERE ref_entry_id = " B(1) " AND ref_entry_id > 0 "       \
      "ORDER BY id LIMIT " B(2))                                                                      \
    X(LOT_INSERT, LOT_INSERT_INTO ") VALUES (" LOT_INSERT_VALUES ") RETURNING id")                    \
    X(LOT_INSERT_ID, LOT_INSERT_INTO ", id) OVERRIDING SYSTEM VALUE VALUES (" LOT_INSERT_VALUES ", " B(10) ")") \
    X(LOT_GET, "SELECT " LOT_COLS " FROM lots WHERE id = " B(1))                                      \
    X(LOT_UPDATE,                                                                                     \
      "UPDATE lots SET remaining = " B(1) ", state = " B(2) ", entry_id = " B(3) " WHERE id = " B(4))  \
    X(LOT_LINK_ENTRY, "UPDATE lots SET entry_id = " B(1) " WHERE id = " B(2))                        \
    /* $2: state or -1; $3: only remaining > 0; $4: expires_at_ms bound (inclusive). */              \
    X(LOT_LIST,                                                                                       \
      "SELECT " LOT_COLS " FROM lots WHERE member_id = " B(1) " AND (" B(2) " < 0 OR state = " B(2)   \
      ") AND (" B(3) " = 0 OR remaining > 0) AND expires_at_ms <= " B(4) " AND (expires_at_ms, id) > (" \
      B(5) ", " B(6) ") ORDER BY expires_at_ms, id LIMIT " B(7))                                      \
    X(LOT_LIST_SPENDABLE,                                                                             \
      "SELECT " LOT_COLS " FROM lots WHERE member_id = " B(1) " AND state = 1 AND remaining > 0 "    \
      "AND (expires_at_ms, id) > (" B(2) ", " B(3) ") ORDER BY expires_at_ms, id LIMIT " B(4))        \
    X(LOT_LIST_ACTIVATABLE,                                                                           \
      "SELECT " LOT_COLS " FROM lots WHERE member_id = " B(1) " AND state = 0 AND available_at_ms <= " \
      B(2) " ORDER BY id LIMIT " B(3))                                                                \
    X(LOT_LIST_EXPIRABLE,                                                                             \
      "SELECT " LOT_COLS " FROM lots WHERE member_id = " B(1) " AND state = 1 AND remaining > 0 "    \
      "AND expires_at_ms <= " B(2) " ORDER BY expires_at_ms, id LIMIT " B(3))                         \
    /* tenant_id (the distribution column) comes from the lot. */                                    \
    X(MOVE_INSERT,                                                                                    \
      "INSERT INTO lot_moves (tenant_id, entry_id, lot_id, points) SELECT tenant_id, " B(1) ", " B(2) \
      ", " B(3) " FROM lots WHERE id = " B(2) " RETURNING id")                                        \
    X(MOVE_LIST_BY_ENTRY,                                                                             \
      "SELECT " MOVE_COLS " FROM lot_moves WHERE entry_id = " B(1) " ORDER BY id LIMIT " B(2))        \
    X(MOVE_SUM_BY_LOT, "SELECT coalesce(sum(points), 0)::bigint FROM lot_moves WHERE lot_id = " B(1)) \
    X(MOVE_SUM_BY_LOT_KIND,                                                                           \
      "SELECT coalesce(sum(m.points), 0)::bigint FROM lot_moves m JOIN entries e ON e.id = m.entry_id " \
      "WHERE m.lot_id = " B(1) " AND e.kind = " B(2))                                                 \
    X(HOLD_INSERT,                                                                                    \
      "INSERT INTO holds (tenant_id, member_id, entry_id, points, captured, state, biz_no, "         \
      "expires_at_ms, created_at_ms, closed_at_ms) VALUES (" B(1) ", " B(2) ", " B(3) ", " B(4) ", "  \
      B(5) ", " B(6) ", " T(7) ", " B(8) ", " B(9) ", " B(10) ") RETURNING id")                       \
    X(HOLD_GET, "SELECT " HOLD_COLS " FROM holds WHERE id = " B(1))                                   \
    X(HOLD_UPDATE,                                                                                    \
      "UPDATE holds SET captured = " B(1) ", state = " B(2) ", closed_at_ms = " B(3)                  \
      ", entry_id = " B(4) " WHERE id = " B(5))                                                       \
    X(HOLD_LIST_OPEN,                                                                                 \
      "SELECT " HOLD_COLS " FROM holds WHERE member_id = " B(1) " AND state = 0 AND expires_at_ms <= " \
      B(2) " ORDER BY id LIMIT " B(3))                                                                \
    X(IDEM_GET, "SELECT " IDEM_COLS " FROM idempotency WHERE tenant_id = " B(1) " AND biz_no = " T(2)) \
    X(IDEM_INSERT,                                                                                    \
      "INSERT INTO idempotency (" IDEM_COLS ") VALUES (" B(1) ", " T(2) ", " B(3) ", " H(4) ", " B(5) \
      ", " B(6) ", " T(7) ", " B(8) ") ON CONFLICT DO NOTHING RETURNING 1")                           \
    /* The inserts a batch without savepoints holds back (pg_defer), many    \
     * rows per statement: the parameters of the single-row statements above, \
     * one array each. */                                                      \
    X(ENTRY_INSERT_MANY,                                                                              \
      ENTRY_INSERT_INTO ", id) OVERRIDING SYSTEM VALUE SELECT * FROM unnest(" BA(1) ", " BA(2) ", "  \
      BA(3) ", " BA(4) ", " BA(5) ", " BA(6) ", " BA(7) ", " BA(8) ", " BA(9) ", " BA(10) ", " BA(11) \
      ", " BA(12) ", " BA(13) ", " TA(14) ", " TA(15) ", " TA(16) ", " TA(17) ", " BA(18) ", " BA(19)  \
      ", " BA(20) ", " BA(21) ", " HA(22) ", " HA(23) ", " BA(24) ")")                                \
    X(LOT_INSERT_MANY,                                                                                \
      LOT_INSERT_INTO ", id) OVERRIDING SYSTEM VALUE SELECT * FROM unnest(" BA(1) ", " BA(2) ", "    \
      BA(3) ", " BA(4) ", " BA(5) ", " BA(6) ", " BA(7) ", " BA(8) ", " BA(9) ", " BA(10) ")")       \
    X(IDEM_INSERT_MANY,                                                                               \
      "INSERT INTO idempotency (" IDEM_COLS ") SELECT * FROM unnest(" BA(1) ", " TA(2) ", " BA(3) ", " \
      HA(4) ", " BA(5) ", " BA(6) ", " TA(7) ", " BA(8) ") ON CONFLICT DO NOTHING RETURNING 1")        \
    /* A batch's member locks, all at once (pg_pre): the members, sorted,    \
     * locked one after another in the arrays' order (a lateral subquery per  \
     * member: a parameterized index scan, never a scan of every member);     \
     * then, each with a snapshot taken after every lock was granted, their    \
     * rows with what each has due (ko: the member's place in the arrays),    \
     * and for each job a lot id and an entry id drawn under those locks and \
     * the idempotency record of its biz_no, in the jobs' order. */            \
    X(PRE_LOCK,                                                                                       \
      "SELECT m.id FROM unnest(" BA(1) ", " TA(2) ") k(kt, ke) CROSS JOIN LATERAL (SELECT id FROM "    \
      "members WHERE tenant_id = k.kt AND ext_id = k.ke FOR UPDATE) m")                              \
    X(PRE_MEMBERS,                                                                                    \
      "SELECT " MEMBER_COLS ", " MEMBER_DUE_MINS ", k.ko FROM unnest(" BA(1) ", " TA(2) ") WITH "       \
      "ORDINALITY k(kt, ke, ko) CROSS JOIN LATERAL (SELECT * FROM members WHERE tenant_id = k.kt AND "  \
      "ext_id = k.ke OFFSET 0) m")                                                                    \
    X(PRE_JOBS,                                                                                       \
      "SELECT " DRAWN_IDS ", " IDEM_COLS_I " FROM unnest(" BA(1) ", " TA(2) ") WITH ORDINALITY "        \
      "k(kt, kb, ko) LEFT JOIN LATERAL (SELECT * FROM idempotency WHERE tenant_id = k.kt AND biz_no = " \
      "k.kb OFFSET 0) i ON true ORDER BY k.ko")                                                       \
    /* The member updates a batch holds back (pg_defer).  m.id = ANY(…) lets \
     * PostgreSQL find the rows by index; joined only to the unnest, it      \
     * planned a scan of every member. */                                     \
    X(MEMBER_UPDATE_MANY,                                                                             \
      "UPDATE members m SET status = u.status, available = u.available, frozen = u.frozen, pending = " \
      "u.pending, debt = u.debt, earned = u.earned, spent = u.spent, expired = u.expired, entry_seq = " \
      "u.entry_seq, last_hash = u.last_hash, updated_at_ms = u.updated_at_ms FROM unnest(" BA(1) ", "    \
      BA(2) ", " BA(3) ", " BA(4) ", " BA(5) ", " BA(6) ", " BA(7) ", " BA(8) ", " BA(9) ", " HA(10)     \
      ", " BA(11) ", " BA(12) ") u(status, available, frozen, pending, debt, earned, spent, expired, "   \
      "entry_seq, last_hash, updated_at_ms, id) WHERE m.id = u.id AND m.id = ANY(" BA(12) ")")          \
    X(KEY_INSERT,                                                                                     \
      "INSERT INTO api_keys (tenant_id, name, prefix, secret_hash, role, created_at_ms, "            \
      "revoked_at_ms) VALUES (" B(1) ", " T(2) ", " T(3) ", " H(4) ", " B(5) ", " B(6) ", " B(7)      \
      ") ON CONFLICT DO NOTHING RETURNING id")                                                        \
    X(KEY_GET_BY_HASH, "SELECT " KEY_COLS " FROM api_keys WHERE secret_hash = " H(1))                 \
    X(KEY_GET, "SELECT " KEY_COLS " FROM api_keys WHERE id = " B(1))                                  \
    X(KEY_LIST,                                                                                       \
      "SELECT " KEY_COLS " FROM api_keys WHERE tenant_id = " B(1) " AND id > " B(2)                   \
      " ORDER BY id LIMIT " B(3))                                                                     \
    X(KEY_REVOKE, "UPDATE api_keys SET revoked_at_ms = " B(1) " WHERE id = " B(2))                    \
    X(SCHEMA_VERSION, "SELECT coalesce(max(version), 0)::bigint FROM schema_migrations")              \
    X(SCHEMA_RECORD, "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (" B(1) ", " B(2) ")") \
    PG_RULE_STATEMENTS(X)

/* Statements of earning rules, tasks, events, awards, check-ins, task
 * progress and settings (issue 5). */
#define RULE_COLS "id, tenant_id, kind, version, enabled, event_type, definition, created_at_ms, updated_at_ms"
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
#define PG_RULE_STATEMENTS(X)                                                                         \
    X(RULE_INSERT,                                                                                    \
      "INSERT INTO rules (tenant_id, kind, version, enabled, event_type, definition, created_at_ms, " \
      "updated_at_ms) VALUES (" B(1) ", " B(2) ", " B(3) ", " B(4) ", " T(5) ", " T(6) ", " B(7) ", " \
      B(8) ") RETURNING id")                                                                          \
    X(RULE_UPDATE,                                                                                    \
      "UPDATE rules SET version = " B(1) ", enabled = " B(2) ", event_type = " T(3) ", definition = " \
      T(4) ", updated_at_ms = " B(5) " WHERE id = " B(6) " AND tenant_id = " B(7))                   \
    X(RULE_GET, "SELECT " RULE_COLS " FROM rules WHERE id = " B(1) " AND tenant_id = " B(2))         \
    X(RULE_GET_LOCK, "SELECT " RULE_COLS " FROM rules WHERE id = " B(1) " AND tenant_id = " B(2)     \
      " FOR UPDATE")                                                                                  \
    X(RULE_LIST,                                                                                      \
      "SELECT " RULE_COLS " FROM rules WHERE tenant_id = " B(1) " AND kind = " B(2) " AND id > " B(3) \
      " ORDER BY id LIMIT " B(4))                                                                     \
    X(RULE_VERSION_INSERT,                                                                            \
      "INSERT INTO rule_versions (rule_id, version, tenant_id, enabled, definition, created_at_ms) "  \
      "VALUES (" B(1) ", " B(2) ", " B(3) ", " B(4) ", " T(5) ", " B(6) ") ON CONFLICT DO NOTHING "   \
      "RETURNING 1")                                                                                  \
    X(RULE_VERSION_GET,                                                                               \
      "SELECT rule_id, tenant_id, version, enabled, definition, created_at_ms FROM rule_versions "    \
      "WHERE rule_id = " B(1) " AND version = " B(2) " AND tenant_id = " B(3))                        \
    X(EVENT_INSERT,                                                                                   \
      "INSERT INTO events (" EVENT_COLS ") VALUES (" B(1) ", " T(2) ", " B(3) ", " T(4) ", " B(5)    \
      ", " B(6) ", " B(7) ", " T(8) ", " H(9) ", " B(10) ") ON CONFLICT DO NOTHING RETURNING 1")      \
    X(EVENT_GET, "SELECT " EVENT_COLS " FROM events WHERE tenant_id = " B(1) " AND event_id = " T(2)) \
    X(EVENT_UPDATE_REFUNDED,                                                                          \
      "UPDATE events SET refunded_fen = " B(1) " WHERE tenant_id = " B(2) " AND event_id = " T(3))   \
    X(ORDER_COUNT,                                                                                    \
      "SELECT count(*)::bigint FROM events WHERE member_id = " B(1) " AND type = 'order.paid'"       \
      " AND occurred_at_ms < " B(2) " AND NOT (refunded_fen > 0 AND refunded_fen >= amount_fen)")    \
    X(AWARD_INSERT,                                                                                   \
      "INSERT INTO awards (" AWARD_COLS ") VALUES (" B(1) ", " T(2) ", " B(3) ", " B(4) ", " B(5)    \
      ", " B(6) ", " B(7) ", " B(8) ", " T(9) ", " T(10) ", " B(11) ", " B(12) ") ON CONFLICT DO NOTHING " \
      "RETURNING 1")                                                                                  \
    X(AWARD_LIST_BY_EVENT,                                                                            \
      "SELECT " AWARD_COLS " FROM awards WHERE tenant_id = " B(1) " AND event_id = " T(2)             \
      " ORDER BY rule_id LIMIT " B(3))                                                                \
    X(AWARD_UPDATE_REVERSED,                                                                          \
      "UPDATE awards SET reversed = " B(1) " WHERE tenant_id = " B(2) " AND event_id = " T(3)        \
      " AND rule_id = " B(4))                                                                         \
    X(AWARD_STATS_MEMBER,                                                                             \
      "SELECT count(*)::bigint, coalesce(sum(points - reversed), 0)::bigint FROM awards "            \
      "WHERE rule_id = " B(1) " AND member_id = " B(2) " AND occurred_at_ms >= " B(3)                \
      " AND occurred_at_ms < " B(4))                                                                  \
    X(AWARD_COUNT_MEMBER,                                                                             \
      "SELECT count(*)::bigint FROM awards WHERE rule_id = " B(1) " AND member_id = " B(2)             \
      " AND occurred_at_ms >= " B(3) " AND occurred_at_ms < " B(4))                                   \
    X(AWARD_STATS_RULE,                                                                               \
      "SELECT count(*)::bigint, coalesce(sum(points - reversed), 0)::bigint FROM awards "            \
      "WHERE rule_id = " B(1) " AND occurred_at_ms >= " B(2) " AND occurred_at_ms < " B(3))          \
    X(CHECKIN_INSERT,                                                                                 \
      "INSERT INTO checkins (" CHECKIN_COLS ") VALUES (" B(1) ", " B(2) ", " B(3) ", " B(4) ", " B(5) \
      ", " B(6) ", " B(7) ", " B(8) ") ON CONFLICT DO NOTHING RETURNING 1")                           \
    X(CHECKIN_UPDATE,                                                                                 \
      "UPDATE checkins SET streak = " B(1) ", points = " B(2) " WHERE member_id = " B(3)              \
      " AND day = " B(4))                                                                             \
    X(CHECKIN_LIST,                                                                                   \
      "SELECT " CHECKIN_COLS " FROM checkins WHERE member_id = " B(1) " AND day >= " B(2)             \
      " AND day <= " B(3) " ORDER BY day LIMIT " B(4))                                                \
    X(PROGRESS_GET,                                                                                   \
      "SELECT " PROGRESS_COLS " FROM task_progress WHERE task_id = " B(1) " AND member_id = " B(2)    \
      " AND period_start_ms = " B(3))                                                                 \
    X(PROGRESS_PUT,                                                                                   \
      "INSERT INTO task_progress (" PROGRESS_COLS ") VALUES (" B(1) ", " B(2) ", " B(3) ", " B(4)    \
      ", " B(5) ", " B(6) ", " B(7) ", " B(8) ", " B(9) ") ON CONFLICT (task_id, member_id, "         \
      "period_start_ms) DO UPDATE SET task_version = EXCLUDED.task_version, progress = "             \
      "EXCLUDED.progress, completed_at_ms = EXCLUDED.completed_at_ms, rewarded_at_ms = "             \
      "EXCLUDED.rewarded_at_ms, updated_at_ms = EXCLUDED.updated_at_ms")                             \
    X(SETTING_GET, "SELECT value FROM settings WHERE tenant_id = " B(1) " AND name = " T(2))          \
    X(SETTING_PUT,                                                                                    \
      "INSERT INTO settings (tenant_id, name, value, updated_at_ms) VALUES (" B(1) ", " T(2) ", "    \
      T(3) ", " B(4) ") ON CONFLICT (tenant_id, name) DO UPDATE SET value = EXCLUDED.value, "         \
      "updated_at_ms = EXCLUDED.updated_at_ms")                                                       \
    X(TENANT_LOCK, "SELECT id FROM tenants WHERE id = " B(1) " FOR NO KEY UPDATE")                    \
    X(EVENT_ANSWER_PUT,                                                                               \
      "WITH a AS (INSERT INTO event_answers (tenant_id, answer) VALUES (" B(1) ", " T(3) ") "        \
      "RETURNING id) UPDATE events SET answer_id = (SELECT id FROM a) WHERE tenant_id = " B(1)       \
      " AND event_id = " T(2))                                                                        \
    X(EVENT_ANSWER_GET,                                                                               \
      "SELECT a.answer FROM events e JOIN event_answers a ON a.tenant_id = e.tenant_id "             \
      "AND a.id = e.answer_id WHERE e.tenant_id = " B(1) " AND e.event_id = " T(2))                  \
    X(RULE_BUDGET_GET, "SELECT points FROM rule_budgets WHERE tenant_id = " B(1) " AND rule_id = " B(2)) \
    X(RULE_BUDGET_GET_LOCK,                                                                           \
      "SELECT points FROM rule_budgets WHERE tenant_id = " B(1) " AND rule_id = " B(2) " FOR UPDATE") \
    X(RULE_BUDGET_ADD,                                                                                \
      "UPDATE rule_budgets SET points = points + " B(1) " WHERE tenant_id = " B(2) " AND rule_id = " B(3)) \
    X(RULE_BUDGET_CREATE,                                                                             \
      "INSERT INTO rule_budgets (tenant_id, rule_id, points) VALUES (" B(2) ", " B(3) ", " B(1) ") " \
      "ON CONFLICT (tenant_id, rule_id) DO UPDATE SET points = rule_budgets.points + EXCLUDED.points")

typedef enum {
#define PG_X(name, sql) PG_##name,
    PG_STATEMENTS(PG_X)
#undef PG_X
        PG__COUNT
} pg_id;

static const char *const pg_sql[PG__COUNT] = {
#define PG_X(name, sql) [PG_##name] = sql,
    PG_STATEMENTS(PG_X)
#undef PG_X
};

/* Prepared statement names: the enum's names. */
static const char *const pg_names[PG__COUNT] = {
#define PG_X(name, sql) [PG_##name] = "jf_" #name,
    PG_STATEMENTS(PG_X)
#undef PG_X
};

#undef B
#undef T
#undef H
#undef BA
#undef TA
#undef HA

typedef enum { TX_NONE = 0, TX_READ = 1, TX_WRITE = 2 } pg_tx;

/* What the result of a statement in the pipeline must be (pg_sync checks). */
typedef enum {
    PQ_PREPARE,    /* PQsendPrepare of the statement that follows */
    PQ_CONTROL,    /* BEGIN, SAVEPOINT, RELEASE, ROLLBACK TO: a failure loses the transaction */
    PQ_LAX,        /* nobody cares any more (ROLLBACK; the statements of a job rolled back) */
    PQ_WRITE,      /* a write sent ahead: any row count */
    PQ_UPDATE_ONE, /* an UPDATE sent ahead: exactly one row */
    PQ_INSERT_ONE, /* an INSERT … RETURNING sent ahead: one row */
    PQ_RESULT,     /* the caller waits for this result */
    PQ_SYNC,       /* a synchronisation point (PQpipelineSync) */
} pq_kind;

typedef struct {
    pg_id id;
    pq_kind kind;
    int rows; /* PQ_UPDATE_ONE, PQ_INSERT_ONE: the rows it must touch (1, or a flush's count) */
    const char *what; /* for the error message */
} pq_item;

/* Statements in flight at most; a longer run of writes is synced early. */
#define PG_QUEUE_MAX 128

/* Rows a batch without savepoints holds back at most (pg_defer); then they
 * are flushed.  Four per earn: a batch of JF_COMMIT_BATCH_MAX_SAVEPOINTS
 * earns fits. */
#define PG_DEFER_ROWS_MAX 256
/* Fewer rows of one table than this are flushed one statement each. */
#define PG_FLUSH_MANY_MIN 4

/* One held-back row: the single-row statement it stands for and its text
 * parameters, copied into the store's arena (offsets). */
typedef struct {
    pg_id id;
    int n;
    uint32_t off[PG_PARAMS_MAX];
} pg_row;

/* A member locked while rows were held back: a second lock of it must see
 * them, so it flushes first (id 0: not known, a member not found). */
typedef struct {
    int64_t id;
    int64_t tenant_id;
    char ext_id[JF_MEMBER_ID_LEN_MAX + 1];
} pg_locked;

/* What the member row lock learned of the member's due work (the member's
 * earliest open hold expiry, pending lot activation and active lot expiry;
 * has_* false: none at all), so that settling a member with nothing due
 * asks nothing more.  Valid only while nothing has been written since, in
 * the transaction holding the member's lock. */
typedef struct {
    bool valid;
    int64_t member_id;
    bool has_hold, has_pending, has_active;
    int64_t hold_min, pending_min, active_min;
} pg_due;

/* Ids drawn from the lots' and entries' sequences while member_id was
 * being locked (0: none, or used): the operation's first lot and entry take
 * them and are sent ahead instead of waiting for INSERT … RETURNING id.
 * Drawn under the member's lock, they are larger than every id of the
 * member's earlier rows, so id order within a member stays creation order
 * (ENTRY_LIST and the spending order rely on it), as with ids drawn by the
 * INSERT itself. */
typedef struct {
    int64_t member_id;
    int64_t lot_id, entry_id;
} pg_drawn;

/* A lot inserted with a drawn id, not sent yet.  The engine inserts a lot,
 * then its entry, then sets the lot's entry_id (and maybe remaining): held
 * back until then, the INSERT carries the final values and the UPDATE is
 * never sent (one statement and one dead row version less per earn).  It
 * goes out ahead of any other statement but the entry's insert (which does
 * not refer to the lot row), at the latest with the next Sync. */
typedef struct {
    bool active;
    jf_lot lot;
} pg_held_lot;

/* The idempotency record an operation will look up after its member lock
 * (store.h: idem_prefetch): asked for before the lock, read in the lock's
 * round trip, answered to the idem_get that follows. */
typedef enum { IDEM_NONE = 0, IDEM_ASKED, IDEM_READ } pg_idem_state;

typedef struct {
    pg_idem_state state;
    int64_t tenant_id;
    char biz_no[JF_BIZ_NO_LEN_MAX + 1];
    bool found;
    jf_idem rec;
} pg_idem_ahead;

/* A batch's members locked at once (store.h: batch_members).  The
 * committer names a batch's jobs before its first pass: each job's member
 * (tenant_id, ext_id) and the biz_no it will look up.  At the pass's first
 * member lock the store locks every member named, in (tenant_id, ext_id)
 * order — the order the committer sorts batches in, so every writer and
 * server locks members in one order — and reads, after the last lock was
 * granted, each member's row and due summary, and for each job two drawn
 * ids and its idempotency record (PRE_LOCK, PRE_MEMBERS, PRE_JOBS: one
 * round trip, three statements for the batch).  A job's member lock is then
 * answered from what was read, without a statement, when a job named with
 * that member and biz_no has not been answered yet.  That stays true
 * because the member's lock has been held since, and every write of this
 * transaction that the answer depends on is followed here:
 *   - member_update: the row read is kept up to date;
 *   - lots and holds inserted or updated: the due summary is kept as lower
 *     bounds of the earliest due times (a write can only add due rows or
 *     take some away; pg_pre_lot, pg_pre_hold), so "nothing due before t"
 *     stays true;
 *   - lots and entries inserted: ids drawn at the batch lock are used only
 *     while they are larger than every id of the member's rows written in
 *     this transaction (id order within a member is creation order);
 *   - idempotency records inserted: a job whose biz_no was inserted since
 *     is not answered from the read (it may be a replay now).
 * Only members PRE_LOCK locked are answered (pre_was_locked).
 * Anything else — a savepoint, raw SQL, the end of the pass — drops it;
 * what it cannot answer (a member not found, another biz_no, a second job
 * with the same one) takes the ordinary lock, which waits. */
#define PG_PRE_JOBS_MAX 64 /* the committer's batches on PostgreSQL (JF_COMMIT_BATCH_MAX_SAVEPOINTS) */

typedef enum { PRE_NONE = 0, PRE_HINTED, PRE_PENDING, PRE_READ } pg_pre_state;

typedef struct {
    int64_t tenant_id;
    char ext_id[JF_MEMBER_ID_LEN_MAX + 1];
    int named; /* its place in the order it was named (before sorting) */
    bool found;
    jf_member m;                      /* as it is now in this transaction */
    pg_due due;                       /* lower bounds (see above) */
    int64_t lot_id_max, entry_id_max; /* of its rows written in this transaction */
} pg_pre_member;

typedef struct {
    int member; /* index into pg_pre.members */
    char biz_no[JF_BIZ_NO_LEN_MAX + 1];
    bool used;
    bool idem_stale; /* a record with its biz_no was inserted since it was read */
    bool idem_found;
    int64_t lot_id, entry_id; /* drawn under the lock */
    jf_idem idem;             /* last: not cleared when named */
} pg_pre_job;

typedef struct {
    pg_pre_state state;
    int members_n, jobs_n;
    pg_pre_member members[PG_PRE_JOBS_MAX]; /* sorted by (tenant_id, ext_id): the lock order */
    pg_pre_job jobs[PG_PRE_JOBS_MAX];       /* in the order the jobs run */
} pg_pre;

typedef struct {
    jf_store base; /* base.impl points back here */
    PGconn *conn;
    pg_tx tx;
    pg_id begin_id;    /* the BEGIN of the open transaction */
    /* BEGIN is not sent yet: it goes ahead of the transaction's first
     * statement, and a transaction that sends none costs nothing. */
    bool begin_pending;
    bool in_savepoint; /* one level: the committer's per-request savepoint */
    /* Begun by begin_batch: jobs run without savepoints and their writes
     * are sent ahead all the same (see pg_ahead). */
    bool batch;
    /* The write mark (store.h): moves with every write made or sent ahead
     * and with every failure found. */
    uint64_t mark;
    /* Writes held back in a batch without savepoints (pg_defer): rows_n
     * rows (PG_DEFER_ROWS_MAX), their text in arena, and the members
     * locked since the last flush. */
    pg_row *rows;
    int rows_n;
    char *arena;
    size_t arena_used, arena_cap;
    pg_locked *locked;
    int locked_n;
    bool lock_phase; /* pg_member_lock is sending: no flush */
    /* The last savepoint was released by the engine but RELEASE is not sent
     * yet: it goes ahead of the next SAVEPOINT (COMMIT releases it anyway). */
    bool release_pending;
    /* The connection was lost: the open transaction (if any) is gone, and the
     * next begin reconnects first. */
    bool broken;
    bool prepared[PG__COUNT]; /* on this connection (or sent ahead to be) */
    /* The pipeline: statements sent whose results are not read yet. */
    pq_item queue[PG_QUEUE_MAX];
    int queued;
    /* The open transaction has sent something besides BEGIN/SAVEPOINT. */
    bool data_sent;
    /* A statement sent ahead failed (found at a sync): the savepoint, or the
     * transaction when failed_tx, is lost; every call answers this failure
     * until the savepoint or the transaction is rolled back. */
    jf_code failed;
    bool failed_tx;
    jf_error failed_err;
    pg_due due;
    pg_drawn drawn;
    pg_held_lot held;
    pg_idem_ahead idem;
    pg_pre *pre;
    jf_pg_counters counters;
} pg_store;

static const jf_store_ops pg_ops;

static pg_store *pg_of(jf_store *s) {
    assert(s != NULL);
    assert(s->ops == &pg_ops);
    return s->impl;
}

/* ---- errors -------------------------------------------------------------- */

/* Whether a failure means the connection is gone (rather than the
 * statement). */
static bool pg_connection_lost(PGconn *conn, const char *sqlstate) {
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) return true;
    if (sqlstate == NULL || sqlstate[0] == '\0') return true; /* libpq's own: the socket failed */
    if (strncmp(sqlstate, "08", 2) == 0) return true;         /* connection exception */
    /* admin_shutdown, crash_shutdown, cannot_connect_now */
    return strcmp(sqlstate, "57P01") == 0 || strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0;
}

static jf_code pg_code_of(const char *sqlstate) {
    if (strcmp(sqlstate, "23505") == 0) return JF_ALREADY_EXISTS;   /* unique_violation */
    if (strcmp(sqlstate, "40001") == 0 ||                           /* serialization_failure */
        strcmp(sqlstate, "40P01") == 0 ||                           /* deadlock_detected */
        strcmp(sqlstate, "55P03") == 0)                             /* lock_not_available */
        return JF_RETRY;
    if (strncmp(sqlstate, "53", 2) == 0) return JF_UNAVAILABLE;     /* insufficient resources */
    return JF_INTERNAL;
}

/* The first line of a message, without its trailing newline. */
static void pg_first_line(const char *msg, char *out, size_t size) {
    assert(size > 0);
    size_t n = strcspn(msg ? msg : "", "\n");
    if (n >= size) n = size - 1;
    if (n > 0) memcpy(out, msg, n);
    out[n] = '\0';
}

/* Report a failed result (res may be NULL: libpq could not even send).
 * Marks the connection broken when it is. */
static jf_code pg_fail(pg_store *q, const PGresult *res, jf_error *err, const char *what) {
    q->mark++; /* PostgreSQL aborts the transaction (or the savepoint) at any error */
    const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char msg[200];
    pg_first_line(primary ? primary : PQerrorMessage(q->conn), msg, sizeof msg);
    if (pg_connection_lost(q->conn, sqlstate)) {
        q->broken = true;
        return jf_fail(err, JF_UNAVAILABLE, "", "PostgreSQL %s: connection lost: %s", what, msg);
    }
    return jf_fail(err, pg_code_of(sqlstate), "", "PostgreSQL %s: %s (SQLSTATE %s)", what, msg, sqlstate);
}

/* ---- parameters and columns --------------------------------------------- */

/* A statement's parameters, as text.  Integers and hashes are formatted into
 * scratch; text parameters point at the caller's record, which outlives the
 * call. */
typedef struct {
    int n;
    const char *v[PG_PARAMS_MAX];
    char scratch[PG_PARAMS_MAX][2 * JF_HASH_BYTES + 3]; /* "\x" + hex + NUL; fits any int64 */
} pg_args;

static void arg_i64(pg_args *a, int64_t x) {
    assert(a->n < PG_PARAMS_MAX);
    jf_int_text(a->scratch[a->n], x);
    a->v[a->n] = a->scratch[a->n];
    a->n++;
}

static void arg_text(pg_args *a, const char *s) {
    assert(a->n < PG_PARAMS_MAX);
    a->v[a->n++] = s ? s : "";
}

static void arg_hash(pg_args *a, const uint8_t *h) {
    static const char hex[] = "0123456789abcdef";
    assert(a->n < PG_PARAMS_MAX);
    char *p = a->scratch[a->n];
    *p++ = '\\';
    *p++ = 'x';
    for (int i = 0; i < JF_HASH_BYTES; i++) {
        *p++ = hex[h[i] >> 4];
        *p++ = hex[h[i] & 15];
    }
    *p = '\0';
    a->v[a->n] = a->scratch[a->n];
    a->n++;
}

static int64_t col_i64(const PGresult *r, int row, int col) {
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Text longer than the buffer cannot come from the engine (it checks every
 * limit before writing); it is cut rather than overflowed. */
static void col_text(const PGresult *r, int row, int col, char *dst, size_t size) {
    assert(size > 0);
    int len = PQgetlength(r, row, col);
    size_t n = len < 0 ? 0 : (size_t)len;
    if (n >= size) n = size - 1;
    if (n > 0) memcpy(dst, PQgetvalue(r, row, col), n);
    dst[n] = '\0';
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A bytea in hex output format ("\x…", set on every connection); anything
 * but 32 bytes reads as zeros, as on SQLite. */
static void col_hash(const PGresult *r, int row, int col, uint8_t *dst) {
    const char *s = PQgetvalue(r, row, col);
    memset(dst, 0, JF_HASH_BYTES);
    if (PQgetlength(r, row, col) != 2 + 2 * JF_HASH_BYTES || s[0] != '\\' || s[1] != 'x') return;
    for (int i = 0; i < JF_HASH_BYTES; i++) {
        int hi = hex_digit(s[2 + 2 * i]), lo = hex_digit(s[3 + 2 * i]);
        if (hi < 0 || lo < 0) {
            memset(dst, 0, JF_HASH_BYTES);
            return;
        }
        dst[i] = (uint8_t)(hi << 4 | lo);
    }
}

/* ---- connection and the pipeline ----------------------------------------- */

/*
 * The connection stays in libpq's pipeline mode.  Statements are sent with
 * PQsendQueryPrepared and their results read only when someone needs one:
 * pg_sync sends a Sync and reads every result up to it, in order, checking
 * each against what its sender expected (pq_kind).  So a run of statements
 * whose results the engine does not need at once costs one round trip with
 * the next one it does need:
 *   - BEGIN goes with the transaction's first statement (a transaction
 *     that sends none costs nothing); SAVEPOINT, and the RELEASE of the
 *     previous job's savepoint, are sent ahead; all are checked with the
 *     first statement that needs an answer;
 *   - inside a savepoint (the committer's job), UPDATEs, the lot move INSERT
 *     and the INSERTs that take ids drawn under the member lock (pg_drawn;
 *     a lot is even held back until its entry link is set, pg_held_lot) are
 *     sent ahead ("writes sent ahead"); they are checked at the next sync,
 *     at the latest when the engine releases the savepoint;
 *   - the member lock brings, in its round trip, what the member has due
 *     (pg_due) and the idempotency record the engine said it will look up
 *     (idem_prefetch, pg_idem_ahead), so an earn waits twice in all: at the
 *     lock, and at its idempotency insert;
 *   - ROLLBACK is sent and flushed, its result read with the next sync.
 * A statement sent ahead that fails — an error, or an UPDATE that touched
 * no row — fails the job it belongs to, and only that job: the failure is
 * kept (q->failed) and answered to every call of the job from then on, its
 * savepoint release rolls the job back and answers the failure, and
 * savepoint_rollback clears it.  PostgreSQL itself skips everything after an
 * error up to the Sync, and a Sync is always placed before the ROLLBACK TO
 * that undoes a failed job, so the neighbours in the batch are untouched.
 * Codes: serialization failure, deadlock and lock timeout stay JF_RETRY and
 * a lost connection JF_UNAVAILABLE wherever they surface; any other failure
 * of a write sent ahead (a zero-row UPDATE: a row the engine read under the
 * member lock is gone) is JF_INTERNAL, whichever later call it surfaces in,
 * so that no caller takes it for an answer about its own statement.  A
 * failed transaction-control statement (BEGIN, SAVEPOINT, RELEASE) loses
 * the whole transaction: its commit fails, and the committer answers every
 * job of the batch 503 — nothing of it is on disk.
 * In a batch begun with begin_batch (jf_tx_batch's first pass, no
 * savepoints) writes are sent ahead as in a savepoint — an earn's rows are
 * even held back and flushed one statement per table (pg_defer, below) —
 * and any failure found loses the whole transaction: it moves the write
 * mark and the batch runs again with savepoints.  There, when the committer
 * named the batch's members (store.h: batch_members), they are all locked
 * at the first lock, and the jobs' locks answered from what was read then
 * (pg_pre): a batch of earns waits three times in all (that lock, the
 * flush, COMMIT).
 * Elsewhere outside a savepoint every write is synchronous, as before: the
 * engine sees its answer at once.
 */

static void pg_quiet(void *arg, const char *message) {
    (void)arg;
    (void)message; /* NOTICEs (e.g. "already exists, skipping") are not errors */
}

/* Forget the pipeline: after the connection is lost, or reset. */
static void pq_clear(pg_store *q) {
    q->queued = 0;
    q->release_pending = false;
}

/* Settings every session needs; run after connecting and after a reset,
 * before the connection enters pipeline mode. */
static jf_code pg_session_setup(pg_store *q, jf_error *err) {
    PQsetNoticeProcessor(q->conn, pg_quiet, NULL);
    PGresult *res = PQexec(q->conn, "SET lock_timeout = '" PG_LOCK_TIMEOUT "'; SET bytea_output = 'hex'; "
                                    "SET client_min_messages = 'warning'");
    jf_code code = JF_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) code = pg_fail(q, res, err, "session setup");
    PQclear(res);
    memset(q->prepared, 0, sizeof q->prepared); /* prepared statements live and die with the session */
    pq_clear(q);
    if (code == JF_OK && !PQenterPipelineMode(q->conn)) {
        char msg[200];
        pg_first_line(PQerrorMessage(q->conn), msg, sizeof msg);
        code = jf_fail(err, JF_UNAVAILABLE, "", "PostgreSQL pipeline mode: %s", msg);
    }
    return code;
}

/* After a lost connection: reconnect once.  Only between transactions —
 * inside one, the transaction is gone and the caller must roll back first. */
static jf_code pg_reconnect(pg_store *q, jf_error *err) {
    assert(q->tx == TX_NONE);
    PQreset(q->conn); /* also leaves pipeline mode and drops whatever was in flight */
    pq_clear(q);
    if (PQstatus(q->conn) != CONNECTION_OK) {
        char msg[200];
        pg_first_line(PQerrorMessage(q->conn), msg, sizeof msg);
        return jf_fail(err, JF_UNAVAILABLE, "", "PostgreSQL is unavailable: %s", msg);
    }
    q->broken = false;
    jf_code code = pg_session_setup(q, err);
    if (code != JF_OK) q->broken = true; /* not in pipeline mode: reset again next time */
    return code;
}

/* The connection is usable for a statement: a broken one is reconnected
 * between transactions and refused inside one. */
static jf_code pg_usable(pg_store *q, jf_error *err) {
    if (!q->broken) return JF_OK;
    if (q->tx != TX_NONE)
        return jf_fail(err, JF_UNAVAILABLE, "", "PostgreSQL connection lost; the transaction is gone");
    return pg_reconnect(q, err);
}

/* libpq could not send or read: the connection is gone (or in a state only
 * a reset clears, which is the same to us). */
static jf_code pg_lost(pg_store *q, jf_error *err, const char *what) {
    q->mark++;
    char msg[200];
    pg_first_line(PQerrorMessage(q->conn), msg, sizeof msg);
    q->broken = true;
    pq_clear(q);
    return jf_fail(err, JF_UNAVAILABLE, "", "PostgreSQL %s: connection lost: %s", what, msg[0] ? msg : "no answer");
}

static void pq_push(pg_store *q, pg_id id, pq_kind kind, int rows, const char *what) {
    assert(q->queued < PG_QUEUE_MAX);
    q->queue[q->queued++] = (pq_item){id, kind, rows, what};
}

/* Whether a write sent ahead (or held back) is waiting for its check. */
static bool pq_writes_unchecked(const pg_store *q) {
    if (q->held.active || q->rows_n > 0) return true;
    for (int i = 0; i < q->queued; i++)
        if (q->queue[i].kind == PQ_WRITE || q->queue[i].kind == PQ_UPDATE_ONE || q->queue[i].kind == PQ_INSERT_ONE)
            return true;
    return false;
}

/* What a failure of a statement sent ahead is called in the call where it
 * surfaces: only retry and unavailability keep their meaning there. */
static jf_code pq_deferred_code(jf_code code) {
    return code == JF_RETRY || code == JF_UNAVAILABLE ? code : JF_INTERNAL;
}

/* The kept failure of a statement sent ahead, answered again. */
static jf_code pg_failed(pg_store *q, jf_error *err) {
    if (err != NULL) *err = q->failed_err;
    return q->failed;
}

static void pg_due_forget(pg_store *q) { q->due.valid = false; }

/* At the edges of a job or transaction: nothing learned under a lock is
 * used past them. */
static void pg_lock_forget(pg_store *q) {
    pg_due_forget(q);
    q->drawn = (pg_drawn){0, 0, 0};
    q->idem.state = IDEM_NONE;
}

/* Whether writes are sent ahead: inside a job's savepoint, whose release
 * checks them, or in a batch begun without savepoints (begin_batch), whose
 * runner watches the write mark and calls writes_check at its end. */
static bool pg_ahead(const pg_store *q) { return q->in_savepoint || q->batch; }

/* A drawn id (*slot) for a row of member_id, if one is there to take:
 * only where the insert can be sent ahead. */
static int64_t pg_drawn_take(pg_store *q, int64_t member_id, int64_t *slot) {
    if (!pg_ahead(q) || q->drawn.member_id != member_id || *slot == 0) return 0;
    int64_t id = *slot;
    *slot = 0;
    return id;
}

static jf_code pg_sync_all(pg_store *q, PGresult **out, int n_out, jf_error *err);
static jf_code pg_held_send(pg_store *q, jf_error *err);
static jf_code pg_flush(pg_store *q, jf_error *err);
static jf_code pg_send(pg_store *q, pg_id id, const pg_args *a, pq_kind kind, jf_error *err, const char *what);

/* Put a statement into the pipeline (prepared first if this connection has
 * not seen it).  Nothing is read; pg_sync checks it later as `kind` says
 * (rows: see pq_item).  Rows held back go first (pg_flush), unless this is
 * a member lock that does not need them. */
static jf_code pg_send_rows(pg_store *q, pg_id id, const pg_args *a, pq_kind kind, int rows, jf_error *err,
                            const char *what) {
    assert((unsigned)id < PG__COUNT);
    jf_code code = pg_usable(q, err);
    if (code != JF_OK) return code;
    if (q->rows_n > 0 && !q->lock_phase) {
        code = pg_flush(q, err);
        if (code != JF_OK) return code;
    }
    if (q->queued + 5 > PG_QUEUE_MAX) { /* room for BEGIN, a statement, their prepares and a Sync */
        /* A failure found here is kept in q->failed for the job's next
         * call; the rollbacks must still go out, so only a lost connection
         * stops the send. */
        code = pg_sync_all(q, NULL, 0, err);
        if (q->broken) return code;
    }
    if (q->begin_pending) {
        q->begin_pending = false;
        code = pg_send(q, q->begin_id, NULL, PQ_CONTROL, err, "begin");
        if (code != JF_OK) return code;
    }
    if (q->held.active && id != PG_ENTRY_INSERT_ID) {
        code = pg_held_send(q, err);
        if (code != JF_OK) return code;
    }
    if (!q->prepared[id]) {
        if (!PQsendPrepare(q->conn, pg_names[id], pg_sql[id], 0, NULL)) return pg_lost(q, err, "prepare");
        q->prepared[id] = true; /* undone if the prepare fails */
        pq_push(q, id, PQ_PREPARE, 0, "prepare");
    }
    if (!PQsendQueryPrepared(q->conn, pg_names[id], a ? a->n : 0, a ? a->v : NULL, NULL, NULL, 0))
        return pg_lost(q, err, what);
    pq_push(q, id, kind, rows, what);
    q->counters.statements++;
    if (kind != PQ_CONTROL && kind != PQ_LAX) q->data_sent = true;
    if (kind == PQ_WRITE || kind == PQ_UPDATE_ONE || kind == PQ_INSERT_ONE) q->mark++;
    return JF_OK;
}

static jf_code pg_send(pg_store *q, pg_id id, const pg_args *a, pq_kind kind, jf_error *err, const char *what) {
    return pg_send_rows(q, id, a, kind, 1, err, what);
}

/* A Sync into the pipeline, flushed, its results left for the next pg_sync. */
static jf_code pg_send_sync(pg_store *q, jf_error *err) {
    if (q->queued == 0 || q->queue[q->queued - 1].kind == PQ_SYNC) return JF_OK;
    if (!PQpipelineSync(q->conn)) return pg_lost(q, err, "sync");
    pq_push(q, PG__COUNT, PQ_SYNC, 0, "sync");
    return JF_OK;
}

/* One statement's result checked against what its sender expected: JF_OK,
 * or the failure (err filled).  res is an ordinary result (not a Sync). */
static jf_code pq_check(pg_store *q, const pq_item *it, PGresult *res, jf_error *err) {
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return pg_fail(q, res, err, it->what);
    const char *missing = NULL;
    if (it->kind == PQ_UPDATE_ONE && strtol(PQcmdTuples(res), NULL, 10) != it->rows) missing = "no such row";
    if (it->kind == PQ_INSERT_ONE && PQntuples(res) != it->rows) missing = "nothing inserted";
    if (missing == NULL) return JF_OK;
    q->mark++;
    return jf_fail(err, JF_NOT_FOUND, "", "PostgreSQL %s (sent ahead): %s", it->what, missing);
}

/*
 * Read every result in flight, up to a Sync sent now.  The PQ_RESULT
 * statements' results go to out[0..n_out) in order (the caller clears them);
 * everything else is checked and cleared.  Returns the first failure: that
 * of a statement the caller waits for (its own answer, as PQexecPrepared
 * would have given it), or of one sent ahead (kept in q->failed, see above).
 * On failure out[] is all NULL.
 */
static jf_code pg_sync_all(pg_store *q, PGresult **out, int n_out, jf_error *err) {
    for (int i = 0; i < n_out; i++) out[i] = NULL;
    jf_code code = pg_usable(q, err);
    if (code == JF_OK && q->held.active) code = pg_held_send(q, err);
    if (code != JF_OK) return code;
    if (q->queued == 0) return JF_OK;
    code = pg_send_sync(q, err);
    if (code != JF_OK) return code;
    q->counters.round_trips++;
    jf_code first = JF_OK;   /* the first failure */
    bool first_ahead = false; /* … was of a statement sent ahead */
    bool first_control = false;
    jf_error first_err;
    jf_error_clear(&first_err);
    int k = 0;
    for (int i = 0; i < q->queued; i++) {
        pq_item it = q->queue[i];
        PGresult *res = PQgetResult(q->conn);
        if (res == NULL) {
            code = pg_lost(q, err, it.what);
            goto lost;
        }
        ExecStatusType st = PQresultStatus(res);
        if (it.kind == PQ_SYNC) {
            PQclear(res);
            if (st != PGRES_PIPELINE_SYNC) {
                code = pg_lost(q, err, "sync");
                goto lost;
            }
            continue;
        }
        /* Each statement's results end with a NULL (a Sync's do not). */
        for (PGresult *extra; (extra = PQgetResult(q->conn)) != NULL;) PQclear(extra);
        jf_code c = JF_OK;
        jf_error e;
        jf_error_clear(&e);
        if (st == PGRES_PIPELINE_ABORTED) {
            /* An earlier statement failed; this one never ran. */
            if (it.kind == PQ_PREPARE) q->prepared[it.id] = false;
        } else if (it.kind == PQ_PREPARE) {
            if (st != PGRES_COMMAND_OK) {
                q->prepared[it.id] = false;
                c = pg_fail(q, res, &e, "prepare");
            }
        } else if (it.kind != PQ_LAX) {
            c = pq_check(q, &it, res, &e);
        }
        if (q->broken) { /* pg_fail found the connection gone */
            PQclear(res);
            if (err != NULL) *err = e;
            code = JF_UNAVAILABLE;
            goto lost;
        }
        if (c != JF_OK && first == JF_OK) {
            first = c;
            first_err = e;
            pq_kind fk = it.kind == PQ_PREPARE && i + 1 < q->queued ? q->queue[i + 1].kind : it.kind;
            first_ahead = fk != PQ_RESULT;
            first_control = fk == PQ_CONTROL || fk == PQ_PREPARE;
        }
        if (it.kind == PQ_RESULT && k < n_out)
            out[k++] = res;
        else
            PQclear(res);
    }
    q->queued = 0;
    if (first == JF_OK) return JF_OK;
    for (int i = 0; i < k; i++) {
        PQclear(out[i]);
        out[i] = NULL;
    }
    if (first_ahead && q->tx != TX_NONE) {
        q->failed = pq_deferred_code(first);
        q->failed_tx = first_control || !q->in_savepoint;
        q->failed_err = first_err;
        q->failed_err.code = q->failed;
        return pg_failed(q, err);
    }
    if (q->batch && !q->in_savepoint && q->tx != TX_NONE) {
        /* The caller gets its own statement's failure; with no savepoint
         * to roll back to, PostgreSQL has aborted the transaction, so every
         * later call (writes_check included) answers it too. */
        q->failed = pq_deferred_code(first);
        q->failed_tx = true;
        q->failed_err = first_err;
        q->failed_err.code = q->failed;
    }
    if (err != NULL) *err = first_err;
    return first;
lost:
    for (int i = 0; i < k; i++) {
        PQclear(out[i]);
        out[i] = NULL;
    }
    return code;
}

/* pg_sync_all, unless a statement sent ahead has already failed: then that
 * failure, again. */
static jf_code pg_sync(pg_store *q, PGresult **out, int n_out, jf_error *err) {
    for (int i = 0; i < n_out; i++) out[i] = NULL;
    if (q->failed != JF_OK) return pg_failed(q, err);
    return pg_sync_all(q, out, n_out, err);
}

/* Statements the caller waits for: sent (after whatever is in flight) and
 * their results read.  The first statement of a transaction that finds the
 * connection lost — PostgreSQL restarted while we were idle — is the old
 * "BEGIN failed": nothing of the transaction has happened, so reconnect
 * once and send the transaction's start again. */
typedef struct {
    pg_id id;
    const pg_args *a;
} pg_stmt;

static jf_code pg_query_many(pg_store *q, const pg_stmt *st, int n, PGresult **out, jf_error *err,
                             const char *what) {
    for (int i = 0; i < n; i++) out[i] = NULL;
    if (q->failed != JF_OK) return pg_failed(q, err);
    bool fresh = q->tx != TX_NONE && !q->data_sent;
    for (int attempt = 0;; attempt++) {
        jf_code code = JF_OK;
        for (int i = 0; i < n && code == JF_OK; i++) code = pg_send(q, st[i].id, st[i].a, PQ_RESULT, err, what);
        if (code == JF_OK) code = pg_sync(q, out, n, err);
        if (code != JF_UNAVAILABLE || !q->broken || !fresh || attempt > 0) return code;
        pg_tx tx = q->tx;
        bool in_savepoint = q->in_savepoint;
        q->tx = TX_NONE;
        code = pg_reconnect(q, err);
        q->tx = tx;
        q->begin_pending = true;
        if (code == JF_OK && in_savepoint) code = pg_send(q, PG_SAVEPOINT, NULL, PQ_CONTROL, err, "savepoint");
        if (code != JF_OK) return code;
    }
}

/* Run statement id and wait for it.  On success *out is the result (the
 * caller clears it); on failure it is NULL and the code says why. */
static jf_code pg_run(pg_store *q, pg_id id, const pg_args *a, PGresult **out, jf_error *err, const char *what) {
    pg_stmt st = {id, a};
    return pg_query_many(q, &st, 1, out, err, what);
}

typedef void (*pg_reader)(const PGresult *r, int row, void *out);

/* At most one row, read into out; none is JF_NOT_FOUND. */
static jf_code pg_get(pg_store *q, pg_id id, const pg_args *a, pg_reader read, void *out, jf_error *err,
                      const char *what) {
    PGresult *res;
    jf_code code = pg_run(q, id, a, &res, err, what);
    if (code != JF_OK) return code;
    if (PQntuples(res) == 0)
        code = jf_fail(err, JF_NOT_FOUND, "", "%s: no such row", what);
    else
        read(res, 0, out);
    PQclear(res);
    return code;
}

/* Up to cap rows of elem_size bytes (the statements say LIMIT cap). */
static jf_code pg_list(pg_store *q, pg_id id, const pg_args *a, pg_reader read, void *out, size_t elem_size,
                       size_t cap, size_t *n, jf_error *err, const char *what) {
    assert(n != NULL);
    assert(out != NULL || cap == 0);
    *n = 0;
    PGresult *res;
    jf_code code = pg_run(q, id, a, &res, err, what);
    if (code != JF_OK) return code;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && *n < cap; i++) {
        read(res, i, (char *)out + *n * elem_size);
        (*n)++;
    }
    PQclear(res);
    return JF_OK;
}

/* A write.  An UPDATE must touch exactly one row (else JF_NOT_FOUND). */
static jf_code pg_write(pg_store *q, pg_id id, const pg_args *a, bool is_update, jf_error *err, const char *what) {
    assert(q->tx == TX_WRITE); /* writes happen only inside begin/commit */
    pg_due_forget(q);
    q->mark++;
    PGresult *res;
    jf_code code = pg_run(q, id, a, &res, err, what);
    if (code != JF_OK) return code;
    if (is_update && strcmp(PQcmdTuples(res), "1") != 0) code = jf_fail(err, JF_NOT_FOUND, "", "%s: no such row", what);
    PQclear(res);
    return code;
}

/* An INSERT … RETURNING id (ON CONFLICT DO NOTHING: no row back means the
 * key exists, JF_ALREADY_EXISTS). */
static jf_code pg_insert(pg_store *q, pg_id id, const pg_args *a, int64_t *new_id, jf_error *err, const char *what) {
    assert(q->tx == TX_WRITE);
    pg_due_forget(q);
    q->mark++;
    PGresult *res;
    jf_code code = pg_run(q, id, a, &res, err, what);
    if (code != JF_OK) return code;
    if (PQntuples(res) != 1)
        code = jf_fail(err, JF_ALREADY_EXISTS, "", "%s: the key already exists", what);
    else if (new_id != NULL)
        *new_id = col_i64(res, 0, 0);
    PQclear(res);
    return code;
}

/* A write whose answer the engine does not need now: inside a savepoint or
 * a batch (pg_ahead) it is sent ahead (kind: PQ_WRITE, PQ_UPDATE_ONE or
 * PQ_INSERT_ONE) and checked at the next sync; else it runs now, as
 * pg_write/pg_insert. */
static jf_code pg_write_ahead(pg_store *q, pg_id id, const pg_args *a, pq_kind kind, jf_error *err,
                              const char *what) {
    assert(q->tx == TX_WRITE);
    if (!pg_ahead(q)) {
        assert(kind != PQ_INSERT_ONE); /* its caller wants the new id: pg_insert */
        return pg_write(q, id, a, kind == PQ_UPDATE_ONE, err, what);
    }
    pg_due_forget(q);
    if (q->failed != JF_OK) return pg_failed(q, err);
    return pg_send(q, id, a, kind, err, what);
}

/* ---- rows held back: a batch's inserts, many rows per statement --------
 *
 * In a batch without savepoints (begin_batch) the rows an earn writes —
 * its entry and lot (with the ids drawn under the member lock), the
 * idempotency record and the member update — are not sent one statement
 * each but held back here (pg_defer), and sent as one statement per table
 * for the whole batch (pg_flush: INSERT … SELECT * FROM unnest of one array
 * per column; UPDATE … FROM unnest, which also names the ids as
 * m.id = ANY(…) so that PostgreSQL finds the members by index: joined to
 * the unnest alone it planned a scan of every member).  PostgreSQL's work
 * per statement (its portal, executor start and end, the CHECK constraints
 * parsed again) is paid once per batch, not once per row.  A member's
 * second update before a flush replaces its first (pg_defer_row).
 * Held-back rows are invisible to the database, so they are flushed before
 * anything could need them:
 *   - before any statement but a member lock (pg_send_rows), whatever it
 *     reads or writes (a lock answered from the batch's lock, pg_pre,
 *     reads nothing);
 *   - before a member lock of a member locked since the last flush (only
 *     under its lock are a member's rows written, store.h) or whose
 *     idempotency lookup names a biz_no held back (pg_member_lock);
 *   - when PG_DEFER_ROWS_MAX rows are held, and at writes_check, commit,
 *     savepoint and raw SQL.
 * A flushed statement that fails — or an idempotency insert that inserted
 * fewer rows than it was given (a key another server took meanwhile) — is
 * a failure of writes sent ahead: it loses the transaction, moves the write
 * mark, and the batch runs again with savepoints, where nothing is held
 * back. */

static bool pg_deferring(const pg_store *q) { return q->batch && !q->in_savepoint && q->tx == TX_WRITE; }

static const char *pg_row_arg(const pg_store *q, const pg_row *r, int i) {
    assert(i < r->n);
    return q->arena + r->off[i];
}

/* Where a row held back goes: a new one, or — for a member update — the
 * same member's update held before, which this one replaces (it writes
 * every column the earlier one did; a member is updated once per flush,
 * as the many-row UPDATE needs). */
static pg_row *pg_defer_row(pg_store *q, pg_id id, const pg_args *a) {
    if (id == PG_MEMBER_UPDATE) {
        assert(a->n == 12);
        for (int k = 0; k < q->rows_n; k++)
            if (q->rows[k].id == id && strcmp(pg_row_arg(q, &q->rows[k], 11), a->v[11]) == 0) return &q->rows[k];
    }
    return &q->rows[q->rows_n++];
}

/* Hold back an insert or a member update (its text parameters copied). */
static jf_code pg_defer(pg_store *q, pg_id id, const pg_args *a, jf_error *err) {
    assert(pg_deferring(q));
    assert(a->n <= PG_PARAMS_MAX);
    pg_due_forget(q);
    if (q->failed != JF_OK) return pg_failed(q, err);
    if (q->rows_n == PG_DEFER_ROWS_MAX) {
        jf_code code = pg_flush(q, err);
        if (code != JF_OK) return code;
    }
    size_t need = 0;
    for (int i = 0; i < a->n; i++) need += strlen(a->v[i]) + 1;
    if (q->arena_used + need > q->arena_cap) {
        size_t cap = q->arena_cap ? q->arena_cap : 16384;
        while (cap < q->arena_used + need) cap *= 2;
        char *grown = realloc(q->arena, cap);
        if (grown == NULL) return jf_fail(err, JF_INTERNAL, "", "PostgreSQL: out of memory holding back a write");
        q->arena = grown;
        q->arena_cap = cap;
    }
    pg_row *r = pg_defer_row(q, id, a);
    r->id = id;
    r->n = a->n;
    for (int i = 0; i < a->n; i++) {
        size_t len = strlen(a->v[i]) + 1;
        r->off[i] = (uint32_t)q->arena_used;
        memcpy(q->arena + q->arena_used, a->v[i], len);
        q->arena_used += len;
    }
    q->mark++;
    return JF_OK;
}

/* At the end of the transaction (or of its first pass). */
static void pg_defer_forget(pg_store *q) {
    q->rows_n = 0;
    q->arena_used = 0;
    q->locked_n = 0;
}

/* One element of an array literal (one array parameter, growing in a
 * jf_json_text used as a plain buffer), quoted: any type's text form reads
 * back from it ("\\x…" for bytea). */
static void text_put_element(jf_json_text *t, const char *v, bool first) {
    jf_json_raw(t, first ? "{\"" : ",\"", 2);
    for (const char *run = v; *run;) {
        size_t plain = strcspn(run, "\"\\");
        jf_json_raw(t, run, plain);
        run += plain;
        if (*run == '\0') break;
        char escaped[2] = {'\\', *run++};
        jf_json_raw(t, escaped, 2);
    }
    jf_json_raw(t, "\"", 1);
}

/* The rows of statement one held in rows[0..n): sent as statement many
 * (one array per parameter), whose result must count them all when kind
 * says so; fewer than PG_FLUSH_MANY_MIN rows go one statement each (a
 * statement of arrays costs PostgreSQL more than a few single rows: seen
 * when a batch locks the same members again and again, flushing each
 * time). */
static jf_code pg_flush_one(pg_store *q, const pg_row *rows, int n, pg_id one, pg_id many, pq_kind kind,
                            jf_error *err, const char *what) {
    int count = 0;
    for (int k = 0; k < n; k++) count += rows[k].id == one;
    if (count < PG_FLUSH_MANY_MIN) {
        jf_code code = JF_OK;
        for (int k = 0; k < n && code == JF_OK; k++) {
            if (rows[k].id != one) continue;
            pg_args a = {.n = rows[k].n};
            for (int i = 0; i < a.n; i++) a.v[i] = pg_row_arg(q, &rows[k], i);
            code = pg_send(q, one, &a, kind, err, what);
        }
        return code;
    }
    jf_json_text cols[PG_PARAMS_MAX];
    memset(cols, 0, sizeof cols);
    count = 0;
    int width = 0;
    for (int k = 0; k < n; k++) {
        if (rows[k].id != one) continue;
        assert(width == 0 || width == rows[k].n);
        width = rows[k].n;
        for (int i = 0; i < width; i++) text_put_element(&cols[i], pg_row_arg(q, &rows[k], i), count == 0);
        count++;
    }
    jf_code code = JF_OK;
    if (count > 0) {
        pg_args a = {0};
        a.n = width;
        for (int i = 0; i < width && code == JF_OK; i++) {
            jf_json_raw(&cols[i], "}", 1);
            if (cols[i].failed) code = jf_fail(err, JF_INTERNAL, "", "PostgreSQL %s: out of memory", what);
            else a.v[i] = cols[i].text;
        }
        if (code == JF_OK) code = pg_send_rows(q, many, &a, kind, count, err, what);
    }
    for (int i = 0; i < PG_PARAMS_MAX; i++) free(cols[i].text);
    return code;
}

/* Send every row held back, one statement per table (see above).  The rows
 * are taken off the store first, so that the sends do not flush again. */
static jf_code pg_flush(pg_store *q, jf_error *err) {
    if (q->held.active && pg_deferring(q)) { /* the held lot joins the rows */
        jf_code code = pg_held_send(q, err);
        if (code != JF_OK) return code;
    }
    int n = q->rows_n;
    if (n == 0) return JF_OK;
    q->rows_n = 0;
    /* Sending the rows is no new write: they moved the mark when held back
     * (a job that fails now, having written nothing itself, needs no rerun;
     * the rows' own failures move it when found). */
    uint64_t mark = q->mark;
    const pg_row *rows = q->rows;
    jf_code code = pg_flush_one(q, rows, n, PG_LOT_INSERT_ID, PG_LOT_INSERT_MANY, PQ_WRITE, err, "lot insert");
    if (code == JF_OK)
        code = pg_flush_one(q, rows, n, PG_ENTRY_INSERT_ID, PG_ENTRY_INSERT_MANY, PQ_WRITE, err, "entry insert");
    if (code == JF_OK)
        code = pg_flush_one(q, rows, n, PG_IDEM_INSERT, PG_IDEM_INSERT_MANY, PQ_INSERT_ONE, err,
                            "idempotency insert");
    if (code == JF_OK)
        code = pg_flush_one(q, rows, n, PG_MEMBER_UPDATE, PG_MEMBER_UPDATE_MANY, PQ_UPDATE_ONE, err,
                            "member update");
    q->arena_used = 0;
    if (code == JF_OK) q->mark = mark;
    return code;
}

/* A member locked in a batch without savepoints (id, or tenant and
 * ext_id): its rows may be held back from now on.  Kept to the end of the
 * transaction (a flush in the middle of a job does not end its lock); when
 * full, every lock flushes (pg_lock_needs_flush). */
static void pg_locked_add(pg_store *q, int64_t id, int64_t tenant_id, const char *ext_id) {
    if (!pg_deferring(q) || q->locked_n == PG_DEFER_ROWS_MAX) return;
    pg_locked *l = &q->locked[q->locked_n++];
    l->id = id;
    l->tenant_id = tenant_id;
    snprintf(l->ext_id, sizeof l->ext_id, "%s", ext_id ? ext_id : "");
}

/* Whether locking this member (by id, or by tenant and ext_id when ext_id
 * is not NULL) or looking up the biz_no the engine asked for must see rows
 * held back: then they are flushed before the lock. */
static bool pg_lock_needs_flush(const pg_store *q, int64_t id, int64_t tenant_id, const char *ext_id) {
    if (q->rows_n == 0 && !q->held.active) return false;
    if (q->locked_n == PG_DEFER_ROWS_MAX) return true;
    for (int i = 0; i < q->locked_n; i++) {
        const pg_locked *l = &q->locked[i];
        if (ext_id == NULL ? l->id == id : l->tenant_id == tenant_id && strcmp(l->ext_id, ext_id) == 0) return true;
    }
    if (q->idem.state != IDEM_ASKED) return false;
    for (int k = 0; k < q->rows_n; k++) {
        const pg_row *r = &q->rows[k];
        if (r->id == PG_IDEM_INSERT && strtoll(pg_row_arg(q, r, 0), NULL, 10) == q->idem.tenant_id &&
            strcmp(pg_row_arg(q, r, 1), q->idem.biz_no) == 0)
            return true;
    }
    return false;
}

/* An insert of a member's row that may take a drawn id (*slot): then it is
 * sent ahead with that id (with_id: the statement taking it as its last
 * parameter); else it is `plain` … RETURNING id, waited for. */
static jf_code pg_insert_drawn(pg_store *q, pg_id plain, pg_id with_id, pg_args *a, int64_t member_id,
                               int64_t *slot, int64_t *new_id, jf_error *err, const char *what) {
    int64_t id = pg_drawn_take(q, member_id, slot);
    if (id == 0) return pg_insert(q, plain, a, new_id, err, what);
    arg_i64(a, id);
    jf_code code = pg_deferring(q) ? pg_defer(q, with_id, a, err) : pg_write_ahead(q, with_id, a, PQ_WRITE, err, what);
    if (code == JF_OK) *new_id = id;
    return code;
}

/* ---- transactions -------------------------------------------------------- */

/* Start a transaction.  BEGIN goes ahead of its first statement and is
 * checked with the first one that needs an answer (which sends it again
 * after reconnecting if the connection turns out dead: see pg_query_many).
 * A connection known to be lost is reconnected here. */
static jf_code pg_begin_as(pg_store *q, pg_id id, pg_tx tx, jf_error *err) {
    assert(q->tx == TX_NONE);
    assert(!q->in_savepoint);
    pg_lock_forget(q);
    q->pre->state = PRE_NONE;
    jf_code code = pg_usable(q, err);
    if (code != JF_OK) return code;
    q->failed = JF_OK;
    q->failed_tx = false;
    q->data_sent = false;
    q->batch = false;
    pg_defer_forget(q);
    q->tx = tx;
    q->begin_id = id;
    q->begin_pending = true;
    return JF_OK;
}

static jf_code pg_begin(jf_store *s, jf_error *err) { return pg_begin_as(pg_of(s), PG_BEGIN_WRITE, TX_WRITE, err); }

/* A batch without savepoints (store.h): its writes are sent ahead as in a
 * savepoint, but a failure found at a sync loses the whole transaction
 * (pg_sync_all: failed_tx), is answered to every later call and moves the
 * write mark, so the runner rolls back and runs the batch again with
 * savepoints.  The idempotency insert is sent ahead too (pg_idem_insert):
 * an earn waits once, at its member lock, which also checks the previous
 * job's writes. */
static jf_code pg_begin_batch(jf_store *s, jf_error *err) {
    pg_store *q = pg_of(s);
    bool hinted = q->pre->state == PRE_HINTED;
    jf_code code = pg_begin_as(q, PG_BEGIN_WRITE, TX_WRITE, err);
    if (code == JF_OK) q->batch = true;
    if (code == JF_OK && hinted) q->pre->state = PRE_PENDING;
    return code;
}

/* One wait if any write sent ahead is still unchecked. */
static jf_code pg_writes_check(jf_store *s, jf_error *err) {
    pg_store *q = pg_of(s);
    assert(q->tx == TX_WRITE);
    if (q->failed != JF_OK) return pg_failed(q, err);
    jf_code code = pg_usable(q, err); /* a lost connection lost the writes */
    if (code == JF_OK) code = pg_flush(q, err);
    if (code != JF_OK || !pq_writes_unchecked(q)) return code;
    return pg_sync(q, NULL, 0, err);
}

static uint64_t pg_write_mark(jf_store *s) { return pg_of(s)->mark; }

/* A server's read handle begins a read transaction for every request,
 * writes included (which read nothing there): lazily, that costs nothing. */
static jf_code pg_begin_read(jf_store *s, jf_error *err) {
    return pg_begin_as(pg_of(s), PG_BEGIN_READ, TX_READ, err);
}

/* Whatever is in flight stops mattering (its failures too): ROLLBACK after a
 * Sync, so that an error in flight cannot make PostgreSQL skip it, flushed
 * but not waited for; its result is read with the next sync. */
static void pg_rollback(jf_store *s) {
    pg_store *q = pg_of(s);
    pg_lock_forget(q);
    pg_defer_forget(q);
    q->pre->state = PRE_NONE;
    q->failed = JF_OK;
    q->held.active = false;
    if (q->tx != TX_NONE && !q->broken && !q->begin_pending) {
        for (int i = 0; i < q->queued; i++)
            if (q->queue[i].kind != PQ_SYNC && q->queue[i].kind != PQ_PREPARE) q->queue[i].kind = PQ_LAX;
        jf_error ignored;
        if (pg_send_sync(q, &ignored) == JF_OK && pg_send(q, PG_ROLLBACK, NULL, PQ_LAX, &ignored, "rollback") == JF_OK)
            (void)pg_send_sync(q, &ignored);
    }
    q->tx = TX_NONE;
    q->begin_pending = false;
    q->in_savepoint = false;
    q->batch = false;
    q->release_pending = false;
    q->failed = JF_OK;
    q->failed_tx = false;
}

/* A failed commit leaves nothing open.  PostgreSQL answers COMMIT in a
 * transaction an earlier error aborted with "ROLLBACK", not an error: that
 * is reported, never taken for success.  Writes sent ahead are checked
 * before COMMIT is sent, never in its pipeline: one that touched no row is
 * no error to PostgreSQL, which would commit the rest. */
static jf_code pg_commit(jf_store *s, jf_error *err) {
    pg_store *q = pg_of(s);
    assert(q->tx != TX_NONE);
    assert(!q->in_savepoint);
    pg_lock_forget(q);
    q->pre->state = PRE_NONE;
    q->release_pending = false; /* COMMIT releases every savepoint */
    if (q->begin_pending) { /* nothing was sent: nothing to commit */
        q->begin_pending = false;
        q->tx = TX_NONE;
        q->batch = false;
        return JF_OK;
    }
    jf_code code = JF_OK;
    if (q->failed != JF_OK)
        code = pg_failed(q, err);
    else if (pq_writes_unchecked(q) && (code = pg_flush(q, err)) == JF_OK)
        code = pg_sync(q, NULL, 0, err);
    PGresult *res = NULL;
    if (code == JF_OK) code = pg_run(q, PG_COMMIT, NULL, &res, err, "commit");
    if (code == JF_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0)
        code = jf_fail(err, JF_INTERNAL, "", "PostgreSQL commit: the transaction had failed and was rolled back");
    PQclear(res);
    if (code != JF_OK) pg_rollback(s);
    q->tx = TX_NONE;
    q->batch = false;
    return code;
}

/* SAVEPOINT (after the RELEASE of the previous one) is sent ahead. */
static jf_code pg_savepoint(jf_store *s, jf_error *err) {
    pg_store *q = pg_of(s);
    assert(q->tx == TX_WRITE);
    assert(!q->in_savepoint);
    pg_lock_forget(q);
    q->pre->state = PRE_NONE; /* a rollback to it would undo what pg_pre follows */
    if (q->failed != JF_OK) return pg_failed(q, err);
    jf_code code = pg_flush(q, err);
    if (code == JF_OK && q->release_pending) code = pg_send(q, PG_RELEASE, NULL, PQ_CONTROL, err, "release savepoint");
    if (code == JF_OK) code = pg_send(q, PG_SAVEPOINT, NULL, PQ_CONTROL, err, "savepoint");
    if (code != JF_OK) return code;
    q->release_pending = false;
    q->in_savepoint = true;
    return JF_OK;
}

static void pg_savepoint_rollback(jf_store *s);

/* The job is done: its writes sent ahead are checked now (one round trip if
 * any are unchecked); RELEASE itself goes ahead of the next SAVEPOINT.  If a
 * write failed, the job is rolled back here and the failure answered. */
static jf_code pg_savepoint_release(jf_store *s, jf_error *err) {
    pg_store *q = pg_of(s);
    assert(q->in_savepoint);
    pg_lock_forget(q);
    jf_code code = JF_OK;
    if (q->failed != JF_OK)
        code = pg_failed(q, err);
    else if (pq_writes_unchecked(q))
        code = pg_sync(q, NULL, 0, err);
    if (code != JF_OK) {
        pg_savepoint_rollback(s);
        return code;
    }
    q->in_savepoint = false;
    q->release_pending = true;
    return JF_OK;
}

/* Undo the request's work; a statement error inside it (which aborts the
 * whole transaction in PostgreSQL) is cleared by ROLLBACK TO as well.  What
 * the job has in flight stops mattering, except a failed SAVEPOINT (then
 * the transaction is lost: ROLLBACK TO would reach the previous job's
 * savepoint).  Nothing is waited for. */
static void pg_savepoint_rollback(jf_store *s) {
    pg_store *q = pg_of(s);
    assert(q->in_savepoint);
    pg_lock_forget(q);
    q->in_savepoint = false;
    q->held.active = false;
    if (q->broken) return;
    for (int i = 0; i < q->queued; i++) {
        pq_kind k = q->queue[i].kind;
        if (k == PQ_WRITE || k == PQ_UPDATE_ONE || k == PQ_INSERT_ONE || k == PQ_RESULT) q->queue[i].kind = PQ_LAX;
    }
    if (!q->failed_tx) q->failed = JF_OK;
    jf_error e;
    jf_code code = pg_send_sync(q, &e);
    if (code == JF_OK) code = pg_send(q, PG_ROLLBACK_TO, NULL, PQ_CONTROL, &e, "rollback to savepoint");
    if (code == JF_OK) code = pg_send(q, PG_RELEASE, NULL, PQ_CONTROL, &e, "release savepoint");
}

/* ---- tenants ------------------------------------------------------------- */

static void read_tenant(const PGresult *r, int row, void *out) {
    jf_tenant *t = out;
    memset(t, 0, sizeof *t);
    t->id = col_i64(r, row, 0);
    col_text(r, row, 1, t->slug, sizeof t->slug);
    col_text(r, row, 2, t->name, sizeof t->name);
    col_text(r, row, 3, t->timezone, sizeof t->timezone);
    t->expiry.kind = (jf_expiry_kind)col_i64(r, row, 4);
    t->expiry.n = (int32_t)col_i64(r, row, 5);
    t->expiry.unit = (jf_expiry_unit)col_i64(r, row, 6);
    t->expiry.round = (jf_expiry_round)col_i64(r, row, 7);
    t->expiry.clear_month = (int32_t)col_i64(r, row, 8);
    t->expiry.clear_day = (int32_t)col_i64(r, row, 9);
    t->expiry.years = (int32_t)col_i64(r, row, 10);
    t->refund = (jf_refund_policy)col_i64(r, row, 11);
    t->created_at_ms = col_i64(r, row, 12);
    t->updated_at_ms = col_i64(r, row, 13);
}

static void args_tenant(pg_args *a, const jf_tenant *t) {
    arg_text(a, t->slug);
    arg_text(a, t->name);
    arg_text(a, t->timezone);
    arg_i64(a, t->expiry.kind);
    arg_i64(a, t->expiry.n);
    arg_i64(a, t->expiry.unit);
    arg_i64(a, t->expiry.round);
    arg_i64(a, t->expiry.clear_month);
    arg_i64(a, t->expiry.clear_day);
    arg_i64(a, t->expiry.years);
    arg_i64(a, t->refund);
    arg_i64(a, t->created_at_ms);
    arg_i64(a, t->updated_at_ms);
}

static jf_code pg_tenant_insert(jf_store *s, jf_tenant *t, jf_error *err) {
    pg_args a = {0};
    args_tenant(&a, t);
    return pg_insert(pg_of(s), PG_TENANT_INSERT, &a, &t->id, err, "tenant insert");
}

static jf_code pg_tenant_update(jf_store *s, const jf_tenant *t, jf_error *err) {
    pg_args a = {0};
    args_tenant(&a, t);
    arg_i64(&a, t->id);
    return pg_write(pg_of(s), PG_TENANT_UPDATE, &a, true, err, "tenant update");
}

static jf_code pg_tenant_get(jf_store *s, int64_t id, jf_tenant *out, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, id);
    return pg_get(pg_of(s), PG_TENANT_GET, &a, read_tenant, out, err, "tenant get");
}

static jf_code pg_tenant_get_by_slug(jf_store *s, const char *slug, jf_tenant *out, jf_error *err) {
    pg_args a = {0};
    arg_text(&a, slug);
    return pg_get(pg_of(s), PG_TENANT_GET_BY_SLUG, &a, read_tenant, out, err, "tenant get");
}

static jf_code pg_tenant_list(jf_store *s, int64_t after_id, jf_tenant *out, size_t cap, size_t *n,
                              jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, after_id);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_TENANT_LIST, &a, read_tenant, out, sizeof *out, cap, n, err, "tenant list");
}

/* ---- members ------------------------------------------------------------- */

static void read_account(const PGresult *r, int row, int col, jf_account *acct) {
    acct->available = col_i64(r, row, col);
    acct->frozen = col_i64(r, row, col + 1);
    acct->pending = col_i64(r, row, col + 2);
    acct->debt = col_i64(r, row, col + 3);
    acct->earned = col_i64(r, row, col + 4);
    acct->spent = col_i64(r, row, col + 5);
    acct->expired = col_i64(r, row, col + 6);
}

static void args_account(pg_args *a, const jf_account *acct) {
    arg_i64(a, acct->available);
    arg_i64(a, acct->frozen);
    arg_i64(a, acct->pending);
    arg_i64(a, acct->debt);
    arg_i64(a, acct->earned);
    arg_i64(a, acct->spent);
    arg_i64(a, acct->expired);
}

static void read_member(const PGresult *r, int row, void *out) {
    jf_member *m = out;
    memset(m, 0, sizeof *m);
    m->id = col_i64(r, row, 0);
    m->tenant_id = col_i64(r, row, 1);
    col_text(r, row, 2, m->ext_id, sizeof m->ext_id);
    m->status = (jf_member_status)col_i64(r, row, 3);
    read_account(r, row, 4, &m->acct);
    m->entry_seq = col_i64(r, row, 11);
    col_hash(r, row, 12, m->last_hash);
    m->created_at_ms = col_i64(r, row, 13);
    m->updated_at_ms = col_i64(r, row, 14);
}

static jf_code pg_member_insert(jf_store *s, jf_member *m, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, m->tenant_id);
    arg_text(&a, m->ext_id);
    arg_i64(&a, m->status);
    args_account(&a, &m->acct);
    arg_i64(&a, m->entry_seq);
    arg_hash(&a, m->last_hash);
    arg_i64(&a, m->created_at_ms);
    arg_i64(&a, m->updated_at_ms);
    pg_store *q = pg_of(s);
    jf_code code = pg_insert(q, PG_MEMBER_INSERT, &a, &m->id, err, "member insert");
    /* A member this transaction just created has nothing due, and nobody
     * else can see it to give it any. */
    if (code == JF_OK) q->due = (pg_due){.valid = true, .member_id = m->id};
    if (code == JF_OK) pg_locked_add(q, m->id, m->tenant_id, m->ext_id);
    return code;
}

/* ---- a batch's members locked at once (pg_pre) ------------------------- */

static void read_idem_at(const PGresult *r, int row, int col, jf_idem *rec);

static int pre_member_cmp(const void *a, const void *b) {
    const pg_pre_member *x = a, *y = b;
    if (x->tenant_id != y->tenant_id) return x->tenant_id < y->tenant_id ? -1 : 1;
    return strcmp(x->ext_id, y->ext_id); /* the committer's order (batch_slot_cmp); COLLATE "C" */
}

/* The member (tenant_id, ext_id) among pre's, or -1. */
static int pg_pre_find(const pg_pre *p, int64_t tenant_id, const char *ext_id) {
    for (int i = 0; i < p->members_n; i++)
        if (p->members[i].tenant_id == tenant_id && strcmp(p->members[i].ext_id, ext_id) == 0) return i;
    return -1;
}

/* store.h: batch_members.  The first PG_PRE_JOBS_MAX jobs are kept (the
 * rest lock as usual); ids and biz_nos too long for the engine are left
 * out (it refuses them before locking). */
static void pg_batch_members(jf_store *s, const jf_batch_member *jobs, size_t n) {
    pg_store *q = pg_of(s);
    pg_pre *p = q->pre;
    p->state = PRE_NONE;
    p->members_n = p->jobs_n = 0;
    for (size_t i = 0; i < n && p->jobs_n < PG_PRE_JOBS_MAX; i++) {
        const jf_batch_member *b = &jobs[i];
        if (strlen(b->member_id) > JF_MEMBER_ID_LEN_MAX || strlen(b->biz_no) > JF_BIZ_NO_LEN_MAX) continue;
        int mi = pg_pre_find(p, b->tenant_id, b->member_id);
        if (mi < 0) {
            mi = p->members_n++;
            pg_pre_member *m = &p->members[mi];
            memset(m, 0, sizeof *m);
            m->tenant_id = b->tenant_id;
            m->named = mi;
            snprintf(m->ext_id, sizeof m->ext_id, "%s", b->member_id);
        }
        pg_pre_job *j = &p->jobs[p->jobs_n++];
        memset(j, 0, offsetof(pg_pre_job, idem));
        j->member = mi;
        snprintf(j->biz_no, sizeof j->biz_no, "%s", b->biz_no);
    }
    qsort(p->members, (size_t)p->members_n, sizeof *p->members, pre_member_cmp);
    int moved[PG_PRE_JOBS_MAX];
    for (int i = 0; i < p->members_n; i++) moved[p->members[i].named] = i;
    for (int i = 0; i < p->jobs_n; i++) p->jobs[i].member = moved[p->jobs[i].member];
    if (p->jobs_n > 0) p->state = PRE_HINTED;
}

/* One array parameter of text elements. */
static const char *pre_array_end(jf_json_text *t, bool *failed) {
    jf_json_raw(t, "}", 1);
    *failed = *failed || t->failed;
    return t->text;
}

/* Whether PRE_LOCK locked member id.  A member it did not see (created
 * and committed by another transaction after PRE_LOCK's snapshot, while it
 * waited for another member's lock) may be seen by PRE_MEMBERS, whose
 * snapshot is later: such a member is not locked, and its job must lock it
 * as usual. */
static bool pre_was_locked(const PGresult *lock, int64_t id) {
    for (int r = 0; r < PQntuples(lock); r++)
        if (col_i64(lock, r, 0) == id) return true;
    return false;
}

/* The batch's members locked and read (see pg_pre).  On success pre is
 * PRE_READ; a failure of the statements is the caller's (its lock). */
static jf_code pg_pre_send(pg_store *q, jf_error *err) {
    pg_pre *p = q->pre;
    assert(p->state == PRE_PENDING);
    p->state = PRE_NONE; /* tried once */
    jf_json_text cols[4];
    memset(cols, 0, sizeof cols);
    char num[24];
    for (int i = 0; i < p->members_n; i++) {
        jf_int_text(num, p->members[i].tenant_id);
        text_put_element(&cols[0], num, i == 0);
        text_put_element(&cols[1], p->members[i].ext_id, i == 0);
    }
    for (int i = 0; i < p->jobs_n; i++) {
        jf_int_text(num, p->members[p->jobs[i].member].tenant_id);
        text_put_element(&cols[2], num, i == 0);
        text_put_element(&cols[3], p->jobs[i].biz_no, i == 0);
    }
    bool failed = false;
    pg_args ma = {.n = 2}, ja = {.n = 2};
    for (int i = 0; i < 2; i++) ma.v[i] = pre_array_end(&cols[i], &failed);
    for (int i = 0; i < 2; i++) ja.v[i] = pre_array_end(&cols[2 + i], &failed);
    PGresult *res[3] = {NULL, NULL, NULL};
    jf_code code = JF_OK;
    if (!failed) { /* out of memory: the jobs lock one by one */
        pg_stmt st[3] = {{PG_PRE_LOCK, &ma}, {PG_PRE_MEMBERS, &ma}, {PG_PRE_JOBS, &ja}};
        code = pg_query_many(q, st, 3, res, err, "batch member lock");
    }
    for (int i = 0; i < 4; i++) free(cols[i].text);
    if (failed || code != JF_OK) return code;
    for (int r = 0; r < PQntuples(res[1]); r++) {
        int64_t ko = col_i64(res[1], r, 18);
        if (ko < 1 || ko > p->members_n) continue;
        pg_pre_member *m = &p->members[ko - 1];
        read_member(res[1], r, &m->m);
        m->found = m->m.tenant_id == m->tenant_id && strcmp(m->m.ext_id, m->ext_id) == 0 &&
                   pre_was_locked(res[0], m->m.id);
        pg_due *d = &m->due;
        *d = (pg_due){.valid = true, .member_id = m->m.id};
        d->has_hold = !PQgetisnull(res[1], r, 15);
        d->hold_min = d->has_hold ? col_i64(res[1], r, 15) : 0;
        d->has_pending = !PQgetisnull(res[1], r, 16);
        d->pending_min = d->has_pending ? col_i64(res[1], r, 16) : 0;
        d->has_active = !PQgetisnull(res[1], r, 17);
        d->active_min = d->has_active ? col_i64(res[1], r, 17) : 0;
    }
    bool jobs_read = PQntuples(res[2]) == p->jobs_n;
    for (int i = 0; i < p->jobs_n; i++) {
        pg_pre_job *j = &p->jobs[i];
        j->used = !jobs_read; /* rows missing: none is answered from here */
        if (!jobs_read) continue;
        j->lot_id = col_i64(res[2], i, 0);
        j->entry_id = col_i64(res[2], i, 1);
        j->idem_found = !PQgetisnull(res[2], i, 2);
        if (j->idem_found) read_idem_at(res[2], i, 2, &j->idem);
    }
    for (int i = 0; i < 3; i++) PQclear(res[i]);
    p->state = PRE_READ;
    return JF_OK;
}

/* Before a member lock: the batch's lock, if it is due now. */
static jf_code pg_pre_ready(pg_store *q, jf_error *err) {
    if (q->pre->state != PRE_PENDING) return JF_OK;
    if (!pg_deferring(q) || q->failed != JF_OK) {
        q->pre->state = PRE_NONE;
        return JF_OK;
    }
    return pg_pre_send(q, err);
}

/* Member mi's lock answered from the batch's (see pg_pre), for the job
 * named with that member and the biz_no the engine is about to look up:
 * true, with *out, q->due, q->drawn and q->idem set as pg_member_lock sets
 * them; false when there is no such job (the caller locks as usual). */
static bool pg_pre_answer(pg_store *q, int mi, jf_member *out) {
    pg_pre *p = q->pre;
    assert(p->state == PRE_READ);
    pg_pre_member *m = &p->members[mi];
    if (!m->found || q->failed != JF_OK || !pg_deferring(q)) return false;
    bool asked = q->idem.state == IDEM_ASKED;
    if (asked && q->idem.tenant_id != m->tenant_id) return false;
    pg_pre_job *job = NULL;
    for (int i = 0; i < p->jobs_n && job == NULL; i++) {
        pg_pre_job *j = &p->jobs[i];
        if (j->member == mi && !j->used && !(asked && j->idem_stale) &&
            strcmp(j->biz_no, asked ? q->idem.biz_no : "") == 0)
            job = j;
    }
    if (job == NULL) return false;
    job->used = true;
    pg_lock_forget(q);
    *out = m->m;
    q->due = m->due;
    q->drawn = (pg_drawn){m->m.id, job->lot_id > m->lot_id_max ? job->lot_id : 0,
                          job->entry_id > m->entry_id_max ? job->entry_id : 0};
    if (asked) {
        q->idem.state = IDEM_READ;
        q->idem.found = job->idem_found;
        if (job->idem_found) q->idem.rec = job->idem;
    }
    pg_locked_add(q, m->m.id, m->tenant_id, m->ext_id);
    q->counters.batch_locked++;
    return true;
}

/* The batch's member with internal id member_id, if it was read. */
static pg_pre_member *pg_pre_member_of(pg_store *q, int64_t member_id) {
    if (q->pre->state != PRE_READ) return NULL;
    for (int i = 0; i < q->pre->members_n; i++)
        if (q->pre->members[i].found && q->pre->members[i].m.id == member_id) return &q->pre->members[i];
    return NULL;
}

static void pre_due_lower(bool *has, int64_t *min, int64_t at_ms) {
    if (!*has || at_ms < *min) *min = at_ms;
    *has = true;
}

static void pre_id_seen(int64_t *max, int64_t id) {
    if (id > *max) *max = id;
}

/* A lot of this transaction, as written (inserted or updated). */
static void pg_pre_lot(pg_store *q, const jf_lot *l) {
    pg_pre_member *m = pg_pre_member_of(q, l->member_id);
    if (m == NULL) return;
    pre_id_seen(&m->lot_id_max, l->id);
    if (l->state == JF_LOT_PENDING) pre_due_lower(&m->due.has_pending, &m->due.pending_min, l->available_at_ms);
    if (l->state == JF_LOT_ACTIVE && l->remaining > 0)
        pre_due_lower(&m->due.has_active, &m->due.active_min, l->expires_at_ms);
}

static void pg_pre_hold(pg_store *q, const jf_hold *h) {
    pg_pre_member *m = pg_pre_member_of(q, h->member_id);
    if (m != NULL && h->state == JF_HOLD_OPEN) pre_due_lower(&m->due.has_hold, &m->due.hold_min, h->expires_at_ms);
}

static void pg_pre_entry(pg_store *q, const jf_entry *e) {
    pg_pre_member *m = pg_pre_member_of(q, e->member_id);
    if (m != NULL) pre_id_seen(&m->entry_id_max, e->id);
}

/* The columns member_update writes. */
static void pg_pre_member_update(pg_store *q, const jf_member *u) {
    pg_pre_member *m = pg_pre_member_of(q, u->id);
    if (m == NULL) return;
    m->m.status = u->status;
    m->m.acct = u->acct;
    m->m.entry_seq = u->entry_seq;
    memcpy(m->m.last_hash, u->last_hash, sizeof m->m.last_hash);
    m->m.updated_at_ms = u->updated_at_ms;
}

static void pg_pre_idem_taken(pg_store *q, int64_t tenant_id, const char *biz_no) {
    pg_pre *p = q->pre;
    if (p->state != PRE_READ) return;
    for (int i = 0; i < p->jobs_n; i++)
        if (p->members[p->jobs[i].member].tenant_id == tenant_id && strcmp(p->jobs[i].biz_no, biz_no) == 0)
            p->jobs[i].idem_stale = true;
}

/* The member row lock (SELECT … FOR UPDATE, held to the end of the
 * transaction) and, in the same round trip, what the member has due
 * (MEMBER_DUE, into q->due).  At READ COMMITTED a locked row that another
 * transaction changed is read again after that transaction commits, so the
 * caller sees the latest member; MEMBER_DUE is a statement of its own, after
 * the lock, so that its snapshot too is taken after that commit.  Once the
 * lock is held, only this transaction changes the member's lots and holds
 * (store.h: every write to them happens under the lock), so the summary
 * stays true until this transaction writes anything. */
/* The idempotency record asked for (idem_prefetch) is read after the lock
 * too — with MEMBER_DUE (due_idem_col: its first column there), or by a
 * statement of its own (-1) — so a request with the same biz_no that held
 * the lock before us has committed its record by then, and this sees it. */
/* key: the member asked for (id, or tenant_id and ext_id with id 0), for
 * the rows held back (pg_lock_needs_flush, pg_locked_add). */
static jf_code pg_member_lock(pg_store *q, pg_id lock, const pg_args *a, pg_id due, const pg_args *due_args,
                              int due_idem_col, const pg_locked *key, jf_member *out, jf_error *err) {
    assert(q->tx == TX_WRITE);
    if (pg_lock_needs_flush(q, key->id, key->tenant_id, key->id != 0 ? NULL : key->ext_id)) {
        jf_code code = pg_flush(q, err);
        if (code != JF_OK) return code;
    }
    bool idem_asked = q->idem.state == IDEM_ASKED;
    pg_lock_forget(q);
    pg_args ia = {0};
    arg_i64(&ia, q->idem.tenant_id);
    arg_text(&ia, q->idem.biz_no);
    pg_stmt st[3] = {{lock, a}, {due, due_args}, {PG_IDEM_GET, &ia}};
    PGresult *res[3] = {NULL, NULL, NULL};
    int n = idem_asked && due_idem_col < 0 ? 3 : 2;
    q->lock_phase = true;
    jf_code code = pg_query_many(q, st, n, res, err, "member get");
    q->lock_phase = false;
    if (code != JF_OK) return code;
    if (idem_asked) {
        PGresult *ir = n == 3 ? res[2] : res[1];
        int col = n == 3 ? 0 : due_idem_col;
        q->idem.found = PQntuples(ir) > 0 && !PQgetisnull(ir, 0, col);
        if (q->idem.found) read_idem_at(ir, 0, col, &q->idem.rec);
        q->idem.state = IDEM_READ;
    }
    if (n == 3) PQclear(res[2]);
    if (PQntuples(res[0]) == 0) {
        code = jf_fail(err, JF_NOT_FOUND, "", "member get: no such row");
        pg_locked_add(q, key->id, key->tenant_id, key->ext_id);
    } else {
        read_member(res[0], 0, out);
        pg_locked_add(q, out->id, out->tenant_id, out->ext_id);
        if (PQntuples(res[1]) == 1 && !PQgetisnull(res[1], 0, 0) && col_i64(res[1], 0, 0) == out->id) {
            pg_due *d = &q->due;
            d->member_id = out->id;
            d->has_hold = !PQgetisnull(res[1], 0, 1);
            d->hold_min = d->has_hold ? col_i64(res[1], 0, 1) : 0;
            d->has_pending = !PQgetisnull(res[1], 0, 2);
            d->pending_min = d->has_pending ? col_i64(res[1], 0, 2) : 0;
            d->has_active = !PQgetisnull(res[1], 0, 3);
            d->active_min = d->has_active ? col_i64(res[1], 0, 3) : 0;
            d->valid = true;
            q->drawn = (pg_drawn){out->id, col_i64(res[1], 0, 4), col_i64(res[1], 0, 5)};
        }
    }
    PQclear(res[0]);
    PQclear(res[1]);
    return code;
}

static jf_code pg_member_get(jf_store *s, int64_t tenant_id, const char *ext_id, bool for_update, jf_member *out,
                             jf_error *err) {
    pg_store *q = pg_of(s);
    assert(!for_update || q->tx == TX_WRITE);
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_text(&a, ext_id);
    if (for_update) {
        jf_code code = pg_pre_ready(q, err);
        if (code != JF_OK) return code;
        int mi = q->pre->state == PRE_READ ? pg_pre_find(q->pre, tenant_id, ext_id) : -1;
        if (mi >= 0 && pg_pre_answer(q, mi, out)) return JF_OK;
        bool asked = q->idem.state == IDEM_ASKED && q->idem.tenant_id == tenant_id;
        pg_args d = a;
        arg_text(&d, asked ? q->idem.biz_no : "");
        d.v[0] = d.scratch[0]; /* the copy's own integer, not a's */
        pg_locked key = {.tenant_id = tenant_id};
        snprintf(key.ext_id, sizeof key.ext_id, "%s", ext_id);
        return pg_member_lock(q, PG_MEMBER_GET_LOCK, &a, PG_MEMBER_DUE, &d, asked ? 6 : -1, &key, out, err);
    }
    return pg_get(q, PG_MEMBER_GET, &a, read_member, out, err, "member get");
}

static jf_code pg_member_get_by_id(jf_store *s, int64_t id, bool for_update, jf_member *out, jf_error *err) {
    pg_store *q = pg_of(s);
    assert(!for_update || q->tx == TX_WRITE);
    pg_args a = {0};
    arg_i64(&a, id);
    if (for_update) {
        jf_code code = pg_pre_ready(q, err);
        if (code != JF_OK) return code;
        pg_pre_member *m = pg_pre_member_of(q, id);
        if (m != NULL && pg_pre_answer(q, (int)(m - q->pre->members), out)) return JF_OK;
        pg_locked key = {.id = id};
        return pg_member_lock(q, PG_MEMBER_GET_BY_ID_LOCK, &a, PG_MEMBER_DUE_BY_ID, &a, -1, &key, out, err);
    }
    return pg_get(q, PG_MEMBER_GET_BY_ID, &a, read_member, out, err, "member get");
}

/* Whether q->due answers "nothing due" for a settling query of member_id
 * as of now_ms (has: the member has such rows at all; min: the earliest
 * time one is due). */
static bool pg_due_none(const pg_store *q, int64_t member_id, bool has, int64_t min, int64_t now_ms) {
    return q->due.valid && q->due.member_id == member_id && q->failed == JF_OK && (!has || min > now_ms);
}

static jf_code pg_member_update(jf_store *s, const jf_member *m, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, m->status);
    args_account(&a, &m->acct);
    arg_i64(&a, m->entry_seq);
    arg_hash(&a, m->last_hash);
    arg_i64(&a, m->updated_at_ms);
    arg_i64(&a, m->id);
    pg_store *q = pg_of(s);
    jf_code code = pg_deferring(q) ? pg_defer(q, PG_MEMBER_UPDATE, &a, err)
                                   : pg_write_ahead(q, PG_MEMBER_UPDATE, &a, PQ_UPDATE_ONE, err, "member update");
    if (code == JF_OK) pg_pre_member_update(q, m);
    return code;
}

static jf_code pg_member_list(jf_store *s, int64_t tenant_id, int64_t after_id, jf_member *out, size_t cap,
                              size_t *n, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_i64(&a, after_id);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_MEMBER_LIST, &a, read_member, out, sizeof *out, cap, n, err, "member list");
}

static void read_i64(const PGresult *r, int row, void *out) { *(int64_t *)out = col_i64(r, row, 0); }

static jf_code pg_members_due(jf_store *s, int64_t tenant_id, int64_t now_ms, int64_t after_id, int64_t *ids,
                              size_t cap, size_t *n, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_i64(&a, now_ms);
    arg_i64(&a, after_id);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_MEMBERS_DUE, &a, read_i64, ids, sizeof *ids, cap, n, err, "members due");
}

/* ---- entries ------------------------------------------------------------- */

static void read_entry(const PGresult *r, int row, void *out) {
    jf_entry *e = out;
    memset(e, 0, sizeof *e);
    e->id = col_i64(r, row, 0);
    e->tenant_id = col_i64(r, row, 1);
    e->member_id = col_i64(r, row, 2);
    e->seq = col_i64(r, row, 3);
    e->kind = (jf_entry_kind)col_i64(r, row, 4);
    e->points = col_i64(r, row, 5);
    read_account(r, row, 6, &e->delta);
    e->available_after = col_i64(r, row, 13);
    col_text(r, row, 14, e->scene, sizeof e->scene);
    col_text(r, row, 15, e->biz_no, sizeof e->biz_no);
    col_text(r, row, 16, e->reason, sizeof e->reason);
    col_text(r, row, 17, e->operator_id, sizeof e->operator_id);
    e->ref_entry_id = col_i64(r, row, 18);
    e->lot_id = col_i64(r, row, 19);
    e->hold_id = col_i64(r, row, 20);
    e->created_at_ms = col_i64(r, row, 21);
    col_hash(r, row, 22, e->prev_hash);
    col_hash(r, row, 23, e->hash);
}

static jf_code pg_entry_insert(jf_store *s, jf_entry *e, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, e->tenant_id);
    arg_i64(&a, e->member_id);
    arg_i64(&a, e->seq);
    arg_i64(&a, e->kind);
    arg_i64(&a, e->points);
    args_account(&a, &e->delta);
    arg_i64(&a, e->available_after);
    arg_text(&a, e->scene);
    arg_text(&a, e->biz_no);
    arg_text(&a, e->reason);
    arg_text(&a, e->operator_id);
    arg_i64(&a, e->ref_entry_id);
    arg_i64(&a, e->lot_id);
    arg_i64(&a, e->hold_id);
    arg_i64(&a, e->created_at_ms);
    arg_hash(&a, e->prev_hash);
    arg_hash(&a, e->hash);
    /* Sent ahead with a drawn id, the insert cannot say "that seq exists"
     * at once: under the member's lock no other writer takes the next seq,
     * so a conflict would be a broken invariant, answered JF_INTERNAL at the
     * next sync (a unique violation of a statement sent ahead). */
    pg_store *q = pg_of(s);
    jf_code code = pg_insert_drawn(q, PG_ENTRY_INSERT, PG_ENTRY_INSERT_ID, &a, e->member_id, &q->drawn.entry_id,
                                   &e->id, err, "entry insert");
    if (code == JF_OK) pg_pre_entry(q, e);
    return code;
}

static jf_code pg_entry_get(jf_store *s, int64_t id, jf_entry *out, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, id);
    return pg_get(pg_of(s), PG_ENTRY_GET, &a, read_entry, out, err, "entry get");
}

/* The filter's "no bound" zeros become the widest bounds, so the statement
 * has one shape. */
static jf_code pg_entry_list(jf_store *s, int64_t member_id, const jf_entry_filter *f, jf_entry *out, size_t cap,
                             size_t *n, jf_error *err) {
    assert(f != NULL);
    pg_args a = {0};
    arg_i64(&a, member_id);
    arg_i64(&a, f->before_id == 0 ? INT64_MAX : f->before_id);
    arg_i64(&a, f->kinds_mask == 0 ? INT64_MAX : (int64_t)f->kinds_mask);
    arg_text(&a, f->scene);
    arg_i64(&a, f->from_ms == 0 ? INT64_MIN : f->from_ms);
    arg_i64(&a, f->to_ms == 0 ? INT64_MAX : f->to_ms);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_ENTRY_LIST, &a, read_entry, out, sizeof *out, cap, n, err, "entry list");
}

static jf_code pg_entry_chain(jf_store *s, int64_t member_id, int64_t after_seq, jf_entry *out, size_t cap,
                              size_t *n, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, member_id);
    arg_i64(&a, after_seq);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_ENTRY_CHAIN, &a, read_entry, out, sizeof *out, cap, n, err, "entry chain");
}

static jf_code pg_entry_list_by_ref(jf_store *s, int64_t ref_entry_id, jf_entry *out, size_t cap, size_t *n,
                                    jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, ref_entry_id);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_ENTRY_LIST_BY_REF, &a, read_entry, out, sizeof *out, cap, n, err,
                   "entry list by ref");
}

/* ---- lots and moves ------------------------------------------------------ */

static void read_lot(const PGresult *r, int row, void *out) {
    jf_lot *l = out;
    memset(l, 0, sizeof *l);
    l->id = col_i64(r, row, 0);
    l->tenant_id = col_i64(r, row, 1);
    l->member_id = col_i64(r, row, 2);
    l->entry_id = col_i64(r, row, 3);
    l->amount = col_i64(r, row, 4);
    l->remaining = col_i64(r, row, 5);
    l->state = (jf_lot_state)col_i64(r, row, 6);
    l->available_at_ms = col_i64(r, row, 7);
    l->expires_at_ms = col_i64(r, row, 8);
    l->created_at_ms = col_i64(r, row, 9);
}

static void args_lot(pg_args *a, const jf_lot *l) {
    arg_i64(a, l->tenant_id);
    arg_i64(a, l->member_id);
    arg_i64(a, l->entry_id);
    arg_i64(a, l->amount);
    arg_i64(a, l->remaining);
    arg_i64(a, l->state);
    arg_i64(a, l->available_at_ms);
    arg_i64(a, l->expires_at_ms);
    arg_i64(a, l->created_at_ms);
}

/* The held lot's INSERT, into the pipeline (see pg_held_lot). */
static jf_code pg_held_send(pg_store *q, jf_error *err) {
    assert(q->held.active);
    q->held.active = false;
    pg_args a = {0};
    args_lot(&a, &q->held.lot);
    arg_i64(&a, q->held.lot.id);
    if (pg_deferring(q)) return pg_defer(q, PG_LOT_INSERT_ID, &a, err);
    return pg_send(q, PG_LOT_INSERT_ID, &a, PQ_WRITE, err, "lot insert");
}

/* With a drawn id (inside a job's savepoint) the lot is held back, to be
 * sent with its entry link; else INSERT … RETURNING id. */
static jf_code pg_lot_insert(jf_store *s, jf_lot *l, jf_error *err) {
    pg_store *q = pg_of(s);
    assert(q->tx == TX_WRITE);
    int64_t id = pg_drawn_take(q, l->member_id, &q->drawn.lot_id);
    if (id == 0) {
        pg_args a = {0};
        args_lot(&a, l);
        jf_code code = pg_insert(q, PG_LOT_INSERT, &a, &l->id, err, "lot insert");
        if (code == JF_OK) pg_pre_lot(q, l);
        return code;
    }
    pg_due_forget(q);
    if (q->failed != JF_OK) return pg_failed(q, err);
    if (q->held.active) {
        jf_code code = pg_held_send(q, err);
        if (code != JF_OK) return code;
    }
    l->id = id;
    q->held = (pg_held_lot){true, *l};
    q->mark++;
    pg_pre_lot(q, l);
    return JF_OK;
}

static jf_code pg_lot_get(jf_store *s, int64_t id, jf_lot *out, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, id);
    return pg_get(pg_of(s), PG_LOT_GET, &a, read_lot, out, err, "lot get");
}

static jf_code pg_lot_update(jf_store *s, const jf_lot *l, jf_error *err) {
    pg_store *q = pg_of(s);
    pg_pre_lot(q, l); /* before it is sent: a lower bound either way */
    if (q->held.active && q->held.lot.id == l->id) { /* the held lot: its INSERT takes the new values */
        if (q->failed != JF_OK) return pg_failed(q, err);
        q->held.lot.remaining = l->remaining;
        q->held.lot.state = l->state;
        q->held.lot.entry_id = l->entry_id;
        return pg_held_send(q, err);
    }
    pg_args a = {0};
    arg_i64(&a, l->remaining);
    arg_i64(&a, l->state);
    arg_i64(&a, l->entry_id);
    arg_i64(&a, l->id);
    return pg_write_ahead(pg_of(s), PG_LOT_UPDATE, &a, PQ_UPDATE_ONE, err, "lot update");
}

static jf_code pg_lot_link_entry(jf_store *s, int64_t lot_id, int64_t entry_id, jf_error *err) {
    pg_store *q = pg_of(s);
    if (q->held.active && q->held.lot.id == lot_id) { /* the held lot: its INSERT carries the link */
        if (q->failed != JF_OK) return pg_failed(q, err);
        q->held.lot.entry_id = entry_id;
        return pg_held_send(q, err);
    }
    pg_args a = {0};
    arg_i64(&a, entry_id);
    arg_i64(&a, lot_id);
    return pg_write_ahead(q, PG_LOT_LINK_ENTRY, &a, PQ_UPDATE_ONE, err, "lot link entry");
}

static jf_code pg_lot_list(jf_store *s, int64_t member_id, const jf_lot_filter *f, jf_lot *out, size_t cap,
                           size_t *n, jf_error *err) {
    assert(f != NULL);
    /* expires_before_ms is exclusive; the statement's bound is inclusive so
     * that "no bound" (INT64_MAX) still includes never-expiring lots. */
    int64_t expires_max = f->expires_before_ms == 0 ? INT64_MAX : f->expires_before_ms - 1;
    bool from_start = f->after_id == 0;
    pg_args a = {0};
    arg_i64(&a, member_id);
    arg_i64(&a, f->state < 0 ? -1 : f->state);
    arg_i64(&a, f->only_remaining ? 1 : 0);
    arg_i64(&a, expires_max);
    arg_i64(&a, from_start ? INT64_MIN : f->after_expires_at_ms);
    arg_i64(&a, from_start ? 0 : f->after_id);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_LOT_LIST, &a, read_lot, out, sizeof *out, cap, n, err, "lot list");
}

static jf_code pg_lot_list_spendable(jf_store *s, int64_t member_id, int64_t after_expires_at_ms, int64_t after_id,
                                     jf_lot *out, size_t cap, size_t *n, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, member_id);
    arg_i64(&a, after_expires_at_ms);
    arg_i64(&a, after_id);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_LOT_LIST_SPENDABLE, &a, read_lot, out, sizeof *out, cap, n, err, "spendable lots");
}

static jf_code pg_lot_list_by_time(jf_store *s, pg_id id, int64_t member_id, int64_t now_ms, jf_lot *out,
                                   size_t cap, size_t *n, jf_error *err, const char *what) {
    pg_args a = {0};
    arg_i64(&a, member_id);
    arg_i64(&a, now_ms);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), id, &a, read_lot, out, sizeof *out, cap, n, err, what);
}

static jf_code pg_lot_list_activatable(jf_store *s, int64_t member_id, int64_t now_ms, jf_lot *out, size_t cap,
                                       size_t *n, jf_error *err) {
    pg_store *q = pg_of(s);
    if (pg_due_none(q, member_id, q->due.has_pending, q->due.pending_min, now_ms)) {
        *n = 0;
        return JF_OK;
    }
    return pg_lot_list_by_time(s, PG_LOT_LIST_ACTIVATABLE, member_id, now_ms, out, cap, n, err, "activatable lots");
}

static jf_code pg_lot_list_expirable(jf_store *s, int64_t member_id, int64_t now_ms, jf_lot *out, size_t cap,
                                     size_t *n, jf_error *err) {
    pg_store *q = pg_of(s);
    if (pg_due_none(q, member_id, q->due.has_active, q->due.active_min, now_ms)) {
        *n = 0;
        return JF_OK;
    }
    return pg_lot_list_by_time(s, PG_LOT_LIST_EXPIRABLE, member_id, now_ms, out, cap, n, err, "expirable lots");
}

static void read_move(const PGresult *r, int row, void *out) {
    jf_lot_move *mv = out;
    mv->id = col_i64(r, row, 0);
    mv->entry_id = col_i64(r, row, 1);
    mv->lot_id = col_i64(r, row, 2);
    mv->points = col_i64(r, row, 3);
}

/* The move's tenant comes from its lot; a move of a missing lot inserts
 * nothing, which the foreign key would refuse anyway.  Inside a savepoint
 * the insert is sent ahead and mv->id stays 0 (the engine never reads a
 * move's id; nothing refers to one). */
static jf_code pg_move_insert(jf_store *s, jf_lot_move *mv, jf_error *err) {
    pg_store *q = pg_of(s);
    pg_args a = {0};
    arg_i64(&a, mv->entry_id);
    arg_i64(&a, mv->lot_id);
    arg_i64(&a, mv->points);
    mv->id = 0;
    jf_code code = pg_ahead(q) ? pg_write_ahead(q, PG_MOVE_INSERT, &a, PQ_INSERT_ONE, err, "lot move insert")
                                   : pg_insert(q, PG_MOVE_INSERT, &a, &mv->id, err, "lot move insert");
    if (code == JF_ALREADY_EXISTS)
        code = jf_fail(err, JF_INTERNAL, "", "lot move insert: lot %" PRId64 " does not exist", mv->lot_id);
    return code;
}

static jf_code pg_move_list_by_entry(jf_store *s, int64_t entry_id, jf_lot_move *out, size_t cap, size_t *n,
                                     jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, entry_id);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_MOVE_LIST_BY_ENTRY, &a, read_move, out, sizeof *out, cap, n, err, "lot moves");
}

static jf_code pg_move_sum_by_lot(jf_store *s, int64_t lot_id, int64_t *sum, jf_error *err) {
    assert(sum != NULL);
    pg_args a = {0};
    arg_i64(&a, lot_id);
    return pg_get(pg_of(s), PG_MOVE_SUM_BY_LOT, &a, read_i64, sum, err, "lot move sum");
}

/* PostgreSQL checkpoints by itself, in its own process: nothing to do. */
static jf_code pg_set_auto_checkpoint(jf_store *s, bool on, jf_error *err) {
    (void)s, (void)on, (void)err;
    return JF_OK;
}

static jf_code pg_checkpoint(jf_store *s, int64_t *log_frames, jf_error *err) {
    (void)s, (void)err;
    if (log_frames) *log_frames = 0;
    return JF_OK;
}

static jf_code pg_move_sum_by_lot_kind(jf_store *s, int64_t lot_id, jf_entry_kind kind, int64_t *sum,
                                       jf_error *err) {
    assert(sum != NULL);
    pg_args a = {0};
    arg_i64(&a, lot_id);
    arg_i64(&a, (int64_t)kind);
    return pg_get(pg_of(s), PG_MOVE_SUM_BY_LOT_KIND, &a, read_i64, sum, err, "lot move sum by kind");
}

/* ---- holds --------------------------------------------------------------- */

static void read_hold(const PGresult *r, int row, void *out) {
    jf_hold *h = out;
    memset(h, 0, sizeof *h);
    h->id = col_i64(r, row, 0);
    h->tenant_id = col_i64(r, row, 1);
    h->member_id = col_i64(r, row, 2);
    h->entry_id = col_i64(r, row, 3);
    h->points = col_i64(r, row, 4);
    h->captured = col_i64(r, row, 5);
    h->state = (jf_hold_state)col_i64(r, row, 6);
    col_text(r, row, 7, h->biz_no, sizeof h->biz_no);
    h->expires_at_ms = col_i64(r, row, 8);
    h->created_at_ms = col_i64(r, row, 9);
    h->closed_at_ms = col_i64(r, row, 10);
}

static jf_code pg_hold_insert(jf_store *s, jf_hold *h, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, h->tenant_id);
    arg_i64(&a, h->member_id);
    arg_i64(&a, h->entry_id);
    arg_i64(&a, h->points);
    arg_i64(&a, h->captured);
    arg_i64(&a, h->state);
    arg_text(&a, h->biz_no);
    arg_i64(&a, h->expires_at_ms);
    arg_i64(&a, h->created_at_ms);
    arg_i64(&a, h->closed_at_ms);
    pg_store *q = pg_of(s);
    jf_code code = pg_insert(q, PG_HOLD_INSERT, &a, &h->id, err, "hold insert");
    if (code == JF_OK) pg_pre_hold(q, h);
    return code;
}

static jf_code pg_hold_get(jf_store *s, int64_t id, jf_hold *out, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, id);
    return pg_get(pg_of(s), PG_HOLD_GET, &a, read_hold, out, err, "hold get");
}

static jf_code pg_hold_update(jf_store *s, const jf_hold *h, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, h->captured);
    arg_i64(&a, h->state);
    arg_i64(&a, h->closed_at_ms);
    arg_i64(&a, h->entry_id);
    arg_i64(&a, h->id);
    pg_pre_hold(pg_of(s), h);
    return pg_write_ahead(pg_of(s), PG_HOLD_UPDATE, &a, PQ_UPDATE_ONE, err, "hold update");
}

static jf_code pg_hold_list_open(jf_store *s, int64_t member_id, int64_t before_ms, jf_hold *out, size_t cap,
                                 size_t *n, jf_error *err) {
    pg_store *q = pg_of(s);
    if (pg_due_none(q, member_id, q->due.has_hold, q->due.hold_min, before_ms)) {
        *n = 0;
        return JF_OK;
    }
    pg_args a = {0};
    arg_i64(&a, member_id);
    arg_i64(&a, before_ms);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_HOLD_LIST_OPEN, &a, read_hold, out, sizeof *out, cap, n, err, "open holds");
}

/* ---- idempotency and keys ------------------------------------------------ */

/* IDEM_COLS from column col on. */
static void read_idem_at(const PGresult *r, int row, int col, jf_idem *rec) {
    memset(rec, 0, sizeof *rec);
    rec->tenant_id = col_i64(r, row, col);
    col_text(r, row, col + 1, rec->biz_no, sizeof rec->biz_no);
    rec->op = (jf_op_kind)col_i64(r, row, col + 2);
    col_hash(r, row, col + 3, rec->fingerprint);
    rec->member_id = col_i64(r, row, col + 4);
    rec->entry_id = col_i64(r, row, col + 5);
    col_text(r, row, col + 6, rec->result, sizeof rec->result);
    rec->created_at_ms = col_i64(r, row, col + 7);
}

static void read_idem(const PGresult *r, int row, void *out) { read_idem_at(r, row, 0, out); }

static void pg_idem_prefetch(jf_store *s, int64_t tenant_id, const char *biz_no) {
    pg_store *q = pg_of(s);
    size_t n = biz_no ? strlen(biz_no) : 0;
    if (n >= sizeof q->idem.biz_no) return; /* the engine refuses it anyway */
    q->idem.state = IDEM_ASKED;
    q->idem.tenant_id = tenant_id;
    memcpy(q->idem.biz_no, biz_no ? biz_no : "", n + 1);
}

static jf_code pg_idem_get(jf_store *s, int64_t tenant_id, const char *biz_no, jf_idem *out, jf_error *err) {
    pg_store *q = pg_of(s);
    if (q->idem.state == IDEM_READ && q->idem.tenant_id == tenant_id && strcmp(q->idem.biz_no, biz_no) == 0 &&
        q->failed == JF_OK) {
        q->idem.state = IDEM_NONE;
        if (!q->idem.found) return jf_fail(err, JF_NOT_FOUND, "", "idempotency get: no such row");
        *out = q->idem.rec;
        return JF_OK;
    }
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_text(&a, biz_no);
    return pg_get(pg_of(s), PG_IDEM_GET, &a, read_idem, out, err, "idempotency get");
}

/* When another server holds the same (tenant, biz_no) uncommitted, the
 * insert waits for it; once that commits, ON CONFLICT answers "exists".
 * In a batch without savepoints it is held back (pg_defer): a key found
 * taken at the flush inserts nothing, a failure like any other of a write
 * sent ahead, and the batch runs again with savepoints, where the job waits
 * for this answer and gets its JF_ALREADY_EXISTS alone. */
static jf_code pg_idem_insert(jf_store *s, const jf_idem *r, jf_error *err) {
    pg_store *q = pg_of(s);
    q->idem.state = IDEM_NONE;
    pg_pre_idem_taken(q, r->tenant_id, r->biz_no);
    pg_args a = {0};
    arg_i64(&a, r->tenant_id);
    arg_text(&a, r->biz_no);
    arg_i64(&a, r->op);
    arg_hash(&a, r->fingerprint);
    arg_i64(&a, r->member_id);
    arg_i64(&a, r->entry_id);
    arg_text(&a, r->result);
    arg_i64(&a, r->created_at_ms);
    if (pg_deferring(q)) return pg_defer(q, PG_IDEM_INSERT, &a, err);
    return pg_insert(q, PG_IDEM_INSERT, &a, NULL, err, "idempotency insert");
}

static void read_key(const PGresult *r, int row, void *out) {
    jf_api_key *k = out;
    memset(k, 0, sizeof *k);
    k->id = col_i64(r, row, 0);
    k->tenant_id = col_i64(r, row, 1);
    col_text(r, row, 2, k->name, sizeof k->name);
    col_text(r, row, 3, k->prefix, sizeof k->prefix);
    col_hash(r, row, 4, k->secret_hash);
    k->role = (jf_role)col_i64(r, row, 5);
    k->created_at_ms = col_i64(r, row, 6);
    k->revoked_at_ms = col_i64(r, row, 7);
}

static jf_code pg_key_insert(jf_store *s, jf_api_key *k, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, k->tenant_id);
    arg_text(&a, k->name);
    arg_text(&a, k->prefix);
    arg_hash(&a, k->secret_hash);
    arg_i64(&a, k->role);
    arg_i64(&a, k->created_at_ms);
    arg_i64(&a, k->revoked_at_ms);
    return pg_insert(pg_of(s), PG_KEY_INSERT, &a, &k->id, err, "api key insert");
}

static jf_code pg_key_get_by_hash(jf_store *s, const uint8_t hash[JF_HASH_BYTES], jf_api_key *out,
                                  jf_error *err) {
    pg_args a = {0};
    arg_hash(&a, hash);
    return pg_get(pg_of(s), PG_KEY_GET_BY_HASH, &a, read_key, out, err, "api key get");
}

static jf_code pg_key_get(jf_store *s, int64_t id, jf_api_key *out, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, id);
    return pg_get(pg_of(s), PG_KEY_GET, &a, read_key, out, err, "api key get");
}

static jf_code pg_key_list(jf_store *s, int64_t tenant_id, int64_t after_id, jf_api_key *out, size_t cap,
                           size_t *n, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_i64(&a, after_id);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_KEY_LIST, &a, read_key, out, sizeof *out, cap, n, err, "api key list");
}

static jf_code pg_key_revoke(jf_store *s, int64_t id, int64_t revoked_at_ms, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, revoked_at_ms);
    arg_i64(&a, id);
    return pg_write(pg_of(s), PG_KEY_REVOKE, &a, true, err, "api key revoke");
}

/* ---- open, migrate, close ------------------------------------------------ */

static void pg_close(jf_store *s) {
    if (s == NULL) return;
    pg_store *q = pg_of(s);
    if (q->tx != TX_NONE) pg_rollback(s);
    PQfinish(q->conn);
    free(q->rows);
    free(q->locked);
    free(q->arena);
    free(q->pre);
    free(q);
}

/* Run SQL text (one or more statements, no parameters) with the simple
 * query protocol. */
static jf_code pg_exec(pg_store *q, const char *sql, jf_error *err, const char *what) {
    /* The simple protocol is not allowed in pipeline mode: empty the
     * pipeline (with the BEGIN of an open transaction) and leave it for the
     * while. */
    jf_code code = pg_flush(q, err);
    if (code == JF_OK && q->begin_pending) {
        q->begin_pending = false;
        code = pg_send(q, q->begin_id, NULL, PQ_CONTROL, err, "begin");
    }
    if (code == JF_OK) code = pg_sync(q, NULL, 0, err);
    if (code != JF_OK) return code;
    if (!PQexitPipelineMode(q->conn)) return pg_lost(q, err, what);
    q->counters.statements++;
    q->counters.round_trips++;
    PGresult *res = PQexec(q->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) code = pg_fail(q, res, err, what);
    PQclear(res);
    if (!q->broken && !PQenterPipelineMode(q->conn)) code = pg_lost(q, err, what);
    return code;
}

/* Apply the missing migrations.  Runs inside the migration transaction,
 * after the advisory lock: one server migrates, the others wait and then
 * find nothing to do. */
static jf_code pg_migrate_locked(pg_store *q, jf_error *err) {
    jf_code code = pg_exec(q, "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, "
                              "applied_at_ms BIGINT NOT NULL)", err, "migrate");
    int64_t version = 0;
    if (code == JF_OK) code = pg_get(q, PG_SCHEMA_VERSION, NULL, read_i64, &version, err, "schema version");
    if (code != JF_OK) return code;
    if (version > PG_SCHEMA_LATEST)
        return jf_fail(err, JF_UNAVAILABLE, "", "database schema version %" PRId64 " is newer than this jifen (%"
                       PRId64 "); upgrade jifen to open it", version, PG_SCHEMA_LATEST);
    for (int64_t v = version + 1; v <= PG_SCHEMA_LATEST; v++) {
        code = pg_exec(q, pg_migrations[v - 1], err, "migrate");
        if (code != JF_OK) return code;
        pg_args a = {0};
        arg_i64(&a, v);
        arg_i64(&a, jf_now_ms());
        code = pg_write(q, PG_SCHEMA_RECORD, &a, false, err, "migrate");
        if (code != JF_OK) return code;
    }
    return JF_OK;
}

static jf_code pg_migrate(pg_store *q, jf_error *err) {
    jf_code code = pg_begin(&q->base, err);
    if (code != JF_OK) return code;
    code = pg_exec(q, "SELECT pg_advisory_xact_lock(" PG_MIGRATION_LOCK_KEY ")", err, "migration lock");
    if (code == JF_OK) code = pg_migrate_locked(q, err);
    if (code == JF_OK) return pg_commit(&q->base, err);
    pg_rollback(&q->base);
    return code;
}

jf_code jf_pg_open(const char *url, jf_store **out, jf_error *err) {
    assert(url != NULL);
    assert(out != NULL);
    *out = NULL;
    pg_store *q = calloc(1, sizeof *q);
    if (q == NULL) return jf_fail(err, JF_UNAVAILABLE, "", "out of memory");
    q->base.ops = &pg_ops;
    q->base.impl = q;
    q->rows = calloc(PG_DEFER_ROWS_MAX, sizeof *q->rows);
    q->locked = calloc(PG_DEFER_ROWS_MAX, sizeof *q->locked);
    q->pre = calloc(1, sizeof *q->pre);
    if (q->rows == NULL || q->locked == NULL || q->pre == NULL) {
        pg_close(&q->base);
        return jf_fail(err, JF_UNAVAILABLE, "", "out of memory");
    }
    /* Defaults first: the URL's own settings override them (libpq takes the
     * last value of a repeated keyword, and expands dbname in place). */
    const char *const keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname", NULL};
    const char *const values[] = {PG_CONNECT_TIMEOUT_S, "jifen", "UTF8", url, NULL};
    q->conn = PQconnectdbParams(keys, values, 1);
    jf_code code = JF_OK;
    if (q->conn == NULL) {
        code = jf_fail(err, JF_UNAVAILABLE, "db", "PostgreSQL: out of memory");
    } else if (PQstatus(q->conn) != CONNECTION_OK) {
        char msg[200];
        pg_first_line(PQerrorMessage(q->conn), msg, sizeof msg);
        code = jf_fail(err, JF_UNAVAILABLE, "db", "PostgreSQL connect: %s", msg);
    }
    if (code == JF_OK) code = pg_session_setup(q, err);
    if (code == JF_OK) code = pg_migrate(q, err);
    if (code != JF_OK) {
        pg_close(&q->base);
        return code;
    }
    *out = &q->base;
    return JF_OK;
}

jf_pg_counters jf_pg_counters_of(jf_store *s) {
    jf_pg_counters none = {0, 0, 0};
    if (s == NULL || s->ops != &pg_ops) return none;
    return pg_of(s)->counters;
}

jf_code jf_pg_exec_raw(jf_store *s, const char *sql, jf_error *err) {
    assert(sql != NULL);
    if (s == NULL || s->ops != &pg_ops) return jf_fail(err, JF_INTERNAL, "", "not a PostgreSQL store");
    pg_of(s)->pre->state = PRE_NONE; /* it may change anything */
    return pg_exec(pg_of(s), sql, err, "exec");
}

/* ---- earning rules, tasks, events, awards, check-ins, settings (issue 5) ---- */

static void read_rule(const PGresult *r, int row, void *out) {
    jf_rule_row *x = out;
    x->id = col_i64(r, row, 0);
    x->tenant_id = col_i64(r, row, 1);
    x->kind = (int32_t)col_i64(r, row, 2);
    x->version = col_i64(r, row, 3);
    x->enabled = col_i64(r, row, 4) != 0;
    col_text(r, row, 5, x->event_type, sizeof x->event_type);
    col_text(r, row, 6, x->definition, sizeof x->definition);
    x->created_at_ms = col_i64(r, row, 7);
    x->updated_at_ms = col_i64(r, row, 8);
    x->history = true; /* every award is a row here (pg_award_history_start) */
}

static jf_code pg_rule_insert(jf_store *s, jf_rule_row *r, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, r->tenant_id);
    arg_i64(&a, r->kind);
    arg_i64(&a, r->version);
    arg_i64(&a, r->enabled);
    arg_text(&a, r->event_type);
    arg_text(&a, r->definition);
    arg_i64(&a, r->created_at_ms);
    arg_i64(&a, r->updated_at_ms);
    return pg_insert(pg_of(s), PG_RULE_INSERT, &a, &r->id, err, "rule insert");
}

static jf_code pg_rule_update(jf_store *s, const jf_rule_row *r, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, r->version);
    arg_i64(&a, r->enabled);
    arg_text(&a, r->event_type);
    arg_text(&a, r->definition);
    arg_i64(&a, r->updated_at_ms);
    arg_i64(&a, r->id);
    arg_i64(&a, r->tenant_id);
    return pg_write(pg_of(s), PG_RULE_UPDATE, &a, true, err, "rule update");
}

/* for_update: SELECT … FOR UPDATE (a rule with a budget is locked while its
 * awards are counted, so servers sharing the database do not overspend it). */
static jf_code pg_rule_get(jf_store *s, int64_t tenant_id, int64_t id, bool for_update, jf_rule_row *out,
                           jf_error *err) {
    pg_store *q = pg_of(s);
    assert(!for_update || q->tx == TX_WRITE);
    pg_args a = {0};
    arg_i64(&a, id);
    arg_i64(&a, tenant_id);
    return pg_get(q, for_update ? PG_RULE_GET_LOCK : PG_RULE_GET, &a, read_rule, out, err, "rule get");
}

static jf_code pg_rule_list(jf_store *s, int64_t tenant_id, int32_t kind, int64_t after_id, jf_rule_row *out,
                            size_t cap, size_t *n, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_i64(&a, kind);
    arg_i64(&a, after_id);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_RULE_LIST, &a, read_rule, out, sizeof *out, cap, n, err, "rule list");
}

static jf_code pg_rule_version_insert(jf_store *s, const jf_rule_row *r, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, r->id);
    arg_i64(&a, r->version);
    arg_i64(&a, r->tenant_id);
    arg_i64(&a, r->enabled);
    arg_text(&a, r->definition);
    arg_i64(&a, r->updated_at_ms);
    return pg_insert(pg_of(s), PG_RULE_VERSION_INSERT, &a, NULL, err, "rule version insert");
}

static void read_rule_version(const PGresult *r, int row, void *out) {
    jf_rule_row *x = out;
    memset(x, 0, sizeof *x);
    x->id = col_i64(r, row, 0);
    x->tenant_id = col_i64(r, row, 1);
    x->version = col_i64(r, row, 2);
    x->enabled = col_i64(r, row, 3) != 0;
    col_text(r, row, 4, x->definition, sizeof x->definition);
    x->created_at_ms = col_i64(r, row, 5);
    x->history = true;
}

static jf_code pg_rule_version_get(jf_store *s, int64_t tenant_id, int64_t id, int64_t version, jf_rule_row *out,
                                   jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, id);
    arg_i64(&a, version);
    arg_i64(&a, tenant_id);
    return pg_get(pg_of(s), PG_RULE_VERSION_GET, &a, read_rule_version, out, err, "rule version get");
}

static void read_event(const PGresult *r, int row, void *out) {
    jf_event_row *e = out;
    memset(e, 0, sizeof *e);
    e->tenant_id = col_i64(r, row, 0);
    col_text(r, row, 1, e->event_id, sizeof e->event_id);
    e->member_id = col_i64(r, row, 2);
    col_text(r, row, 3, e->type, sizeof e->type);
    e->amount_fen = col_i64(r, row, 4);
    e->occurred_at_ms = col_i64(r, row, 5);
    e->refunded_fen = col_i64(r, row, 6);
    col_text(r, row, 7, e->refund_of, sizeof e->refund_of);
    col_hash(r, row, 8, e->fingerprint);
    e->created_at_ms = col_i64(r, row, 9);
}

static jf_code pg_event_insert(jf_store *s, const jf_event_row *e, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, e->tenant_id);
    arg_text(&a, e->event_id);
    arg_i64(&a, e->member_id);
    arg_text(&a, e->type);
    arg_i64(&a, e->amount_fen);
    arg_i64(&a, e->occurred_at_ms);
    arg_i64(&a, e->refunded_fen);
    arg_text(&a, e->refund_of);
    arg_hash(&a, e->fingerprint);
    arg_i64(&a, e->created_at_ms);
    return pg_insert(pg_of(s), PG_EVENT_INSERT, &a, NULL, err, "event insert");
}

static jf_code pg_event_get(jf_store *s, int64_t tenant_id, const char *event_id, jf_event_row *out,
                            jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_text(&a, event_id);
    return pg_get(pg_of(s), PG_EVENT_GET, &a, read_event, out, err, "event get");
}

static jf_code pg_event_update_refunded(jf_store *s, int64_t tenant_id, const char *event_id, int64_t refunded_fen,
                                        jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, refunded_fen);
    arg_i64(&a, tenant_id);
    arg_text(&a, event_id);
    return pg_write_ahead(pg_of(s), PG_EVENT_UPDATE_REFUNDED, &a, PQ_UPDATE_ONE, err, "event update");
}

/* PostgreSQL keeps every award as a row (jf_award_row.history is not
 * read), so a rule's history is always whole. */
static jf_code pg_award_history_start(jf_store *s, int64_t tenant_id, int64_t rule_id, jf_error *err) {
    (void)s, (void)tenant_id, (void)rule_id, (void)err;
    return JF_OK;
}

/* PostgreSQL counts every order (jf_event_row.counted is not read): servers
 * sharing the database record orders concurrently with a rule's save, and
 * an order committing while the save counted the tenant's orders would be
 * left out for good. */
static jf_code pg_order_count_all(jf_store *s, int64_t tenant_id, jf_error *err) {
    (void)s, (void)tenant_id, (void)err;
    return JF_OK;
}

static void read_count_sum(const PGresult *r, int row, void *out) {
    int64_t *v = out;
    v[0] = col_i64(r, row, 0);
    v[1] = PQnfields(r) > 1 ? col_i64(r, row, 1) : 0;
}

static jf_code pg_order_count(jf_store *s, int64_t member_id, int64_t before_ms, int64_t *count, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, member_id);
    arg_i64(&a, before_ms);
    int64_t v[2] = {0, 0};
    jf_code code = pg_get(pg_of(s), PG_ORDER_COUNT, &a, read_count_sum, v, err, "order count");
    *count = v[0];
    return code;
}

static void read_award(const PGresult *r, int row, void *out) {
    jf_award_row *w = out;
    memset(w, 0, sizeof *w);
    w->tenant_id = col_i64(r, row, 0);
    col_text(r, row, 1, w->event_id, sizeof w->event_id);
    w->rule_id = col_i64(r, row, 2);
    w->rule_version = col_i64(r, row, 3);
    w->member_id = col_i64(r, row, 4);
    w->points = col_i64(r, row, 5);
    w->reversed = col_i64(r, row, 6);
    w->occurred_at_ms = col_i64(r, row, 7);
    col_text(r, row, 8, w->biz_no, sizeof w->biz_no);
    col_text(r, row, 9, w->explanation, sizeof w->explanation);
    w->created_at_ms = col_i64(r, row, 10);
    w->entry_id = col_i64(r, row, 11);
}

static jf_code pg_award_insert(jf_store *s, const jf_award_row *w, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, w->tenant_id);
    arg_text(&a, w->event_id);
    arg_i64(&a, w->rule_id);
    arg_i64(&a, w->rule_version);
    arg_i64(&a, w->member_id);
    arg_i64(&a, w->points);
    arg_i64(&a, w->reversed);
    arg_i64(&a, w->occurred_at_ms);
    arg_text(&a, w->biz_no);
    arg_text(&a, w->explanation);
    arg_i64(&a, w->created_at_ms);
    arg_i64(&a, w->entry_id);
    return pg_insert(pg_of(s), PG_AWARD_INSERT, &a, NULL, err, "award insert");
}

static jf_code pg_award_list_by_event(jf_store *s, int64_t tenant_id, const char *event_id, jf_award_row *out,
                                      size_t cap, size_t *n, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_text(&a, event_id);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_AWARD_LIST_BY_EVENT, &a, read_award, out, sizeof *out, cap, n, err, "award list");
}

static jf_code pg_award_update_reversed(jf_store *s, int64_t tenant_id, const char *event_id, int64_t rule_id,
                                        int64_t reversed, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, reversed);
    arg_i64(&a, tenant_id);
    arg_text(&a, event_id);
    arg_i64(&a, rule_id);
    return pg_write_ahead(pg_of(s), PG_AWARD_UPDATE_REVERSED, &a, PQ_UPDATE_ONE, err, "award update");
}

static jf_code pg_award_stats(jf_store *s, int64_t rule_id, int64_t member_id, int64_t from_ms, int64_t to_ms,
                              int64_t *count, int64_t *points, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, rule_id);
    if (member_id != 0) arg_i64(&a, member_id);
    arg_i64(&a, from_ms);
    arg_i64(&a, to_ms);
    int64_t v[2] = {0, 0};
    pg_id id = member_id == 0 ? PG_AWARD_STATS_RULE : points ? PG_AWARD_STATS_MEMBER : PG_AWARD_COUNT_MEMBER;
    jf_code code = pg_get(pg_of(s), id, &a, read_count_sum, v, err, "award stats");
    *count = v[0];
    if (points) *points = v[1];
    return code;
}

static void read_checkin(const PGresult *r, int row, void *out) {
    jf_checkin_row *c = out;
    memset(c, 0, sizeof *c);
    c->tenant_id = col_i64(r, row, 0);
    c->member_id = col_i64(r, row, 1);
    c->day = (int32_t)col_i64(r, row, 2);
    c->streak = col_i64(r, row, 3);
    c->points = col_i64(r, row, 4);
    c->makeup = col_i64(r, row, 5) != 0;
    c->cost = col_i64(r, row, 6);
    c->created_at_ms = col_i64(r, row, 7);
}

static jf_code pg_checkin_insert(jf_store *s, const jf_checkin_row *c, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, c->tenant_id);
    arg_i64(&a, c->member_id);
    arg_i64(&a, c->day);
    arg_i64(&a, c->streak);
    arg_i64(&a, c->points);
    arg_i64(&a, c->makeup);
    arg_i64(&a, c->cost);
    arg_i64(&a, c->created_at_ms);
    return pg_insert(pg_of(s), PG_CHECKIN_INSERT, &a, NULL, err, "checkin insert");
}

static jf_code pg_checkin_update(jf_store *s, const jf_checkin_row *c, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, c->streak);
    arg_i64(&a, c->points);
    arg_i64(&a, c->member_id);
    arg_i64(&a, c->day);
    return pg_write_ahead(pg_of(s), PG_CHECKIN_UPDATE, &a, PQ_UPDATE_ONE, err, "checkin update");
}

static jf_code pg_checkin_list(jf_store *s, int64_t member_id, int32_t from_day, int32_t to_day,
                               jf_checkin_row *out, size_t cap, size_t *n, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, member_id);
    arg_i64(&a, from_day);
    arg_i64(&a, to_day);
    arg_i64(&a, (int64_t)cap);
    return pg_list(pg_of(s), PG_CHECKIN_LIST, &a, read_checkin, out, sizeof *out, cap, n, err, "checkin list");
}

static void read_progress(const PGresult *r, int row, void *out) {
    jf_progress_row *p = out;
    memset(p, 0, sizeof *p);
    p->tenant_id = col_i64(r, row, 0);
    p->task_id = col_i64(r, row, 1);
    p->member_id = col_i64(r, row, 2);
    p->period_start_ms = col_i64(r, row, 3);
    p->task_version = col_i64(r, row, 4);
    p->progress = col_i64(r, row, 5);
    p->completed_at_ms = col_i64(r, row, 6);
    p->rewarded_at_ms = col_i64(r, row, 7);
    p->updated_at_ms = col_i64(r, row, 8);
}

static jf_code pg_progress_get(jf_store *s, int64_t task_id, int64_t member_id, int64_t period_start_ms,
                               jf_progress_row *out, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, task_id);
    arg_i64(&a, member_id);
    arg_i64(&a, period_start_ms);
    return pg_get(pg_of(s), PG_PROGRESS_GET, &a, read_progress, out, err, "task progress get");
}

static jf_code pg_progress_put(jf_store *s, const jf_progress_row *p, jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, p->tenant_id);
    arg_i64(&a, p->task_id);
    arg_i64(&a, p->member_id);
    arg_i64(&a, p->period_start_ms);
    arg_i64(&a, p->task_version);
    arg_i64(&a, p->progress);
    arg_i64(&a, p->completed_at_ms);
    arg_i64(&a, p->rewarded_at_ms);
    arg_i64(&a, p->updated_at_ms);
    return pg_write_ahead(pg_of(s), PG_PROGRESS_PUT, &a, PQ_WRITE, err, "task progress put");
}

typedef struct {
    char *buf;
    size_t cap;
} pg_text_out;

static void read_setting(const PGresult *r, int row, void *out) {
    pg_text_out *t = out;
    col_text(r, row, 0, t->buf, t->cap);
}

static jf_code pg_setting_get(jf_store *s, int64_t tenant_id, const char *name, char *value, size_t cap,
                              jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_text(&a, name);
    pg_text_out t = {value, cap};
    return pg_get(pg_of(s), PG_SETTING_GET, &a, read_setting, &t, err, "setting get");
}

static jf_code pg_setting_put(jf_store *s, int64_t tenant_id, const char *name, const char *value, int64_t now_ms,
                              jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_text(&a, name);
    arg_text(&a, value);
    arg_i64(&a, now_ms);
    return pg_write_ahead(pg_of(s), PG_SETTING_PUT, &a, PQ_WRITE, err, "setting put");
}

static void read_nothing(const PGresult *r, int row, void *out) {
    (void)r;
    (void)row;
    (void)out;
}

static jf_code pg_tenant_lock(jf_store *s, int64_t tenant_id, jf_error *err) {
    pg_store *q = pg_of(s);
    assert(q->tx == TX_WRITE);
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    return pg_get(q, PG_TENANT_LOCK, &a, read_nothing, NULL, err, "tenant lock");
}

static jf_code pg_event_answer_put(jf_store *s, int64_t tenant_id, const char *event_id, const char *answer,
                                   jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_text(&a, event_id);
    arg_text(&a, answer);
    return pg_write(pg_of(s), PG_EVENT_ANSWER_PUT, &a, true, err, "event answer put");
}

static void read_long_text(const PGresult *r, int row, void *out) {
    pg_text_out *t = out;
    if ((size_t)PQgetlength(r, row, 0) >= t->cap) t->cap = 0; /* does not fit: the caller fails */
    else col_text(r, row, 0, t->buf, t->cap);
}

static jf_code pg_event_answer_get(jf_store *s, int64_t tenant_id, const char *event_id, char *answer, size_t cap,
                                   jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_text(&a, event_id);
    pg_text_out t = {answer, cap};
    jf_code code = pg_get(pg_of(s), PG_EVENT_ANSWER_GET, &a, read_long_text, &t, err, "event answer get");
    if (code == JF_OK && t.cap == 0)
        return jf_fail(err, JF_INTERNAL, "", "event answer get: longer than %zu bytes", cap);
    return code;
}

static void read_int(const PGresult *r, int row, void *out) { *(int64_t *)out = col_i64(r, row, 0); }

/* for_update: SELECT … FOR UPDATE, so that servers sharing the database
 * count a budget one award at a time. */
static jf_code pg_rule_budget_get(jf_store *s, int64_t tenant_id, int64_t rule_id, bool for_update, int64_t *points,
                                  jf_error *err) {
    pg_store *q = pg_of(s);
    assert(!for_update || q->tx == TX_WRITE);
    pg_args a = {0};
    arg_i64(&a, tenant_id);
    arg_i64(&a, rule_id);
    return pg_get(q, for_update ? PG_RULE_BUDGET_GET_LOCK : PG_RULE_BUDGET_GET, &a, read_int, points, err,
                  "rule budget get");
}

static jf_code pg_rule_budget_add(jf_store *s, int64_t tenant_id, int64_t rule_id, int64_t delta, bool create,
                                  jf_error *err) {
    pg_args a = {0};
    arg_i64(&a, delta);
    arg_i64(&a, tenant_id);
    arg_i64(&a, rule_id);
    return pg_write(pg_of(s), create ? PG_RULE_BUDGET_CREATE : PG_RULE_BUDGET_ADD, &a, !create, err,
                    "rule budget add");
}

static const jf_store_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .begin = pg_begin,
    .begin_read = pg_begin_read,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .savepoint = pg_savepoint,
    .savepoint_release = pg_savepoint_release,
    .savepoint_rollback = pg_savepoint_rollback,
    .write_mark = pg_write_mark,
    .begin_batch = pg_begin_batch,
    .writes_check = pg_writes_check,
    .tenant_insert = pg_tenant_insert,
    .tenant_update = pg_tenant_update,
    .tenant_get = pg_tenant_get,
    .tenant_get_by_slug = pg_tenant_get_by_slug,
    .tenant_list = pg_tenant_list,
    .member_insert = pg_member_insert,
    .member_get = pg_member_get,
    .member_get_by_id = pg_member_get_by_id,
    .member_update = pg_member_update,
    .member_list = pg_member_list,
    .members_due = pg_members_due,
    .entry_insert = pg_entry_insert,
    .entry_get = pg_entry_get,
    .entry_list = pg_entry_list,
    .entry_chain = pg_entry_chain,
    .entry_list_by_ref = pg_entry_list_by_ref,
    .lot_insert = pg_lot_insert,
    .lot_get = pg_lot_get,
    .lot_update = pg_lot_update,
    .lot_link_entry = pg_lot_link_entry,
    .lot_list = pg_lot_list,
    .lot_list_spendable = pg_lot_list_spendable,
    .lot_list_activatable = pg_lot_list_activatable,
    .lot_list_expirable = pg_lot_list_expirable,
    .move_insert = pg_move_insert,
    .move_list_by_entry = pg_move_list_by_entry,
    .move_sum_by_lot = pg_move_sum_by_lot,
    .move_sum_by_lot_kind = pg_move_sum_by_lot_kind,
    .set_auto_checkpoint = pg_set_auto_checkpoint,
    .checkpoint = pg_checkpoint,
    .hold_insert = pg_hold_insert,
    .hold_get = pg_hold_get,
    .hold_update = pg_hold_update,
    .hold_list_open = pg_hold_list_open,
    .idem_get = pg_idem_get,
    .idem_insert = pg_idem_insert,
    .idem_prefetch = pg_idem_prefetch,
    .batch_members = pg_batch_members,
    .key_insert = pg_key_insert,
    .key_get_by_hash = pg_key_get_by_hash,
    .key_get = pg_key_get,
    .key_list = pg_key_list,
    .key_revoke = pg_key_revoke,
    .rule_insert = pg_rule_insert,
    .rule_update = pg_rule_update,
    .rule_get = pg_rule_get,
    .rule_list = pg_rule_list,
    .rule_version_insert = pg_rule_version_insert,
    .rule_version_get = pg_rule_version_get,
    .event_insert = pg_event_insert,
    .event_get = pg_event_get,
    .event_update_refunded = pg_event_update_refunded,
    .order_count = pg_order_count,
    .order_count_all = pg_order_count_all,
    .award_history_start = pg_award_history_start,
    .award_insert = pg_award_insert,
    .award_list_by_event = pg_award_list_by_event,
    .award_update_reversed = pg_award_update_reversed,
    .award_stats = pg_award_stats,
    .checkin_insert = pg_checkin_insert,
    .checkin_update = pg_checkin_update,
    .checkin_list = pg_checkin_list,
    .progress_get = pg_progress_get,
    .progress_put = pg_progress_put,
    .setting_get = pg_setting_get,
    .setting_put = pg_setting_put,
    .tenant_lock = pg_tenant_lock,
    .event_answer_put = pg_event_answer_put,
    .event_answer_get = pg_event_answer_get,
    .rule_budget_get = pg_rule_budget_get,
    .rule_budget_add = pg_rule_budget_add,
};
