/*
 * sqlite_schema.h — the SQLite schema as an ordered list of migrations.
 *
 * Migration N (1-based) is jf_sqlite_migrations[N - 1].  A database records
 * the migrations it has had in schema_migrations; opening it applies the
 * missing ones, in order, inside one transaction.  Never edit a migration
 * that has shipped: append a new one.
 *
 * Conventions of the schema:
 * - Integer ids (INTEGER PRIMARY KEY, i.e. the rowid).
 * - Optional references (ref_entry_id, lot_id, hold_id, entry_id of a lot or
 *   hold) are 0 when absent and carry no foreign key: an earn entry and its
 *   lot (a hold entry and its hold) refer to each other, so one of the two is
 *   written before the other exists.
 * - Text is NOT NULL DEFAULT '' (the records' "" is '').
 * - Hashes are 32-byte BLOBs.
 * - A never-expiring lot has expires_at_ms = INT64_MAX (JF_NEVER), so that
 *   "expires_at_ms ascending" puts it last without a special case.
 * - Entries and lot moves are append-only: triggers make UPDATE and DELETE
 *   fail.  The triggers have fixed names (entries_no_update, …) because the
 *   tamper test drops them on purpose.
 * - Indexes are few on purpose: an earn picks a member at random, so every
 *   index keyed by member costs one more random page written (to the WAL and
 *   again at checkpoint) per operation, and pages written is what bounds
 *   durable throughput.  History (newest first) therefore walks the unique
 *   (member_id, seq) index: a member's entries are appended under its lock,
 *   so seq order is id order.
 * - Partial indexes serve the job queries, so that "is anything due?" reads
 *   a few index pages even with millions of lots.
 */
#ifndef JF_SQLITE_SCHEMA_H
#define JF_SQLITE_SCHEMA_H

static const char *const jf_sqlite_migrations[] = {
    /* 1: the ledger. */
    "CREATE TABLE tenants ("
    "  id INTEGER PRIMARY KEY,"
    "  slug TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  timezone TEXT NOT NULL DEFAULT '',"
    "  expiry_kind INTEGER NOT NULL DEFAULT 0,"
    "  expiry_n INTEGER NOT NULL DEFAULT 0,"
    "  expiry_unit INTEGER NOT NULL DEFAULT 0,"
    "  expiry_round INTEGER NOT NULL DEFAULT 0,"
    "  clear_month INTEGER NOT NULL DEFAULT 0,"
    "  clear_day INTEGER NOT NULL DEFAULT 0,"
    "  expiry_years INTEGER NOT NULL DEFAULT 0,"
    "  refund_policy INTEGER NOT NULL DEFAULT 0,"
    "  created_at_ms INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE members ("
    "  id INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
    "  ext_id TEXT NOT NULL,"
    "  status INTEGER NOT NULL DEFAULT 0,"
    "  available INTEGER NOT NULL DEFAULT 0,"
    "  frozen INTEGER NOT NULL DEFAULT 0,"
    "  pending INTEGER NOT NULL DEFAULT 0,"
    "  debt INTEGER NOT NULL DEFAULT 0,"
    "  earned INTEGER NOT NULL DEFAULT 0,"
    "  spent INTEGER NOT NULL DEFAULT 0,"
    "  expired INTEGER NOT NULL DEFAULT 0,"
    "  entry_seq INTEGER NOT NULL DEFAULT 0,"
    "  last_hash BLOB NOT NULL CHECK (length(last_hash) = 32),"
    "  created_at_ms INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  UNIQUE (tenant_id, ext_id)"
    ");"
    "CREATE INDEX members_tenant ON members(tenant_id, id);"
    "CREATE TABLE entries ("
    "  id INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
    "  member_id INTEGER NOT NULL REFERENCES members(id),"
    "  seq INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  points INTEGER NOT NULL,"
    "  d_available INTEGER NOT NULL,"
    "  d_frozen INTEGER NOT NULL,"
    "  d_pending INTEGER NOT NULL,"
    "  d_debt INTEGER NOT NULL,"
    "  d_earned INTEGER NOT NULL,"
    "  d_spent INTEGER NOT NULL,"
    "  d_expired INTEGER NOT NULL,"
    "  available_after INTEGER NOT NULL,"
    "  scene TEXT NOT NULL DEFAULT '',"
    "  biz_no TEXT NOT NULL DEFAULT '',"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  operator_id TEXT NOT NULL DEFAULT '',"
    "  ref_entry_id INTEGER NOT NULL DEFAULT 0,"
    "  lot_id INTEGER NOT NULL DEFAULT 0,"
    "  hold_id INTEGER NOT NULL DEFAULT 0,"
    "  created_at_ms INTEGER NOT NULL,"
    "  prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),"
    "  hash BLOB NOT NULL CHECK (length(hash) = 32),"
    "  UNIQUE (member_id, seq)"
    ");"
    "CREATE INDEX entries_ref ON entries(ref_entry_id) WHERE ref_entry_id > 0;"
    "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries"
    "  BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;"
    "CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries"
    "  BEGIN SELECT RAISE(ABORT, 'entries are append-only'); END;"
    "CREATE TABLE lots ("
    "  id INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
    "  member_id INTEGER NOT NULL REFERENCES members(id),"
    "  entry_id INTEGER NOT NULL DEFAULT 0,"
    "  amount INTEGER NOT NULL,"
    "  remaining INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  available_at_ms INTEGER NOT NULL,"
    "  expires_at_ms INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL"
    ");"
    /* Lot listing (any state), keyset by (expires_at_ms, id). */
    "CREATE INDEX lots_member ON lots(member_id, expires_at_ms, id);"
    /* Spending order; also the per-member expiry scan. */
    "CREATE INDEX lots_spendable ON lots(member_id, expires_at_ms, id)"
    "  WHERE state = 1 AND remaining > 0;"
    /* A member's pending lots in id order (few per member; the time is a
     * filter), so activation needs no sort. */
    "CREATE INDEX lots_pending ON lots(member_id, id) WHERE state = 0;"
    /* The jobs: who has something due, per tenant. */
    "CREATE INDEX lots_due_expiry ON lots(tenant_id, expires_at_ms, member_id)"
    "  WHERE state = 1 AND remaining > 0;"
    "CREATE INDEX lots_due_activation ON lots(tenant_id, available_at_ms, member_id)"
    "  WHERE state = 0;"
    "CREATE TABLE lot_moves ("
    "  id INTEGER PRIMARY KEY,"
    "  entry_id INTEGER NOT NULL REFERENCES entries(id),"
    "  lot_id INTEGER NOT NULL REFERENCES lots(id),"
    "  points INTEGER NOT NULL"
    ");"
    "CREATE INDEX lot_moves_entry ON lot_moves(entry_id);"
    "CREATE INDEX lot_moves_lot ON lot_moves(lot_id, points);"
    "CREATE TRIGGER lot_moves_no_update BEFORE UPDATE ON lot_moves"
    "  BEGIN SELECT RAISE(ABORT, 'lot moves are append-only'); END;"
    "CREATE TRIGGER lot_moves_no_delete BEFORE DELETE ON lot_moves"
    "  BEGIN SELECT RAISE(ABORT, 'lot moves are append-only'); END;"
    "CREATE TABLE holds ("
    "  id INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
    "  member_id INTEGER NOT NULL REFERENCES members(id),"
    "  entry_id INTEGER NOT NULL DEFAULT 0,"
    "  points INTEGER NOT NULL,"
    "  captured INTEGER NOT NULL DEFAULT 0,"
    "  state INTEGER NOT NULL,"
    "  biz_no TEXT NOT NULL DEFAULT '',"
    "  expires_at_ms INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  closed_at_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    /* A member's open holds in id order (few; the time is a filter). */
    "CREATE INDEX holds_open ON holds(member_id, id) WHERE state = 0;"
    "CREATE INDEX holds_due ON holds(tenant_id, expires_at_ms, member_id) WHERE state = 0;"
    /* One row per (tenant, biz_no); WITHOUT ROWID keeps it one B-tree. */
    "CREATE TABLE idempotency ("
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
    "  biz_no TEXT NOT NULL,"
    "  op INTEGER NOT NULL,"
    "  fingerprint BLOB NOT NULL CHECK (length(fingerprint) = 32),"
    "  member_id INTEGER NOT NULL DEFAULT 0,"
    "  entry_id INTEGER NOT NULL DEFAULT 0,"
    "  result TEXT NOT NULL DEFAULT '',"
    "  created_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant_id, biz_no)"
    ") WITHOUT ROWID;"
    "CREATE TABLE api_keys ("
    "  id INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
    "  name TEXT NOT NULL DEFAULT '',"
    "  prefix TEXT NOT NULL DEFAULT '',"
    "  secret_hash BLOB NOT NULL UNIQUE CHECK (length(secret_hash) = 32),"
    "  role INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  revoked_at_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX api_keys_tenant ON api_keys(tenant_id, id);",
    /* 2: earning rules and tasks (current version + every version), events
     * (the event_id idempotency record), awards, check-ins, task progress
     * and tenant settings (issue 5).  Keyed tables are WITHOUT ROWID so the
     * key is the one B-tree written. */
    "CREATE TABLE rules ("
    "  id INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
    "  kind INTEGER NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  enabled INTEGER NOT NULL,"
    "  event_type TEXT NOT NULL DEFAULT '',"
    "  definition TEXT NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX rules_tenant ON rules(tenant_id, kind, id);"
    "CREATE TABLE rule_versions ("
    "  rule_id INTEGER NOT NULL REFERENCES rules(id),"
    "  version INTEGER NOT NULL,"
    "  tenant_id INTEGER NOT NULL,"
    "  enabled INTEGER NOT NULL,"
    "  definition TEXT NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (rule_id, version)"
    ") WITHOUT ROWID;"
    "CREATE TRIGGER rule_versions_no_update BEFORE UPDATE ON rule_versions"
    "  BEGIN SELECT RAISE(ABORT, 'rule versions are append-only'); END;"
    "CREATE TABLE events ("
    "  tenant_id INTEGER NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  member_id INTEGER NOT NULL,"
    "  type TEXT NOT NULL,"
    "  amount_fen INTEGER NOT NULL,"
    "  occurred_at_ms INTEGER NOT NULL,"
    "  refunded_fen INTEGER NOT NULL DEFAULT 0,"
    "  refund_of TEXT NOT NULL DEFAULT '',"
    "  fingerprint BLOB NOT NULL CHECK (length(fingerprint) = 32),"
    "  created_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant_id, event_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX events_member ON events(member_id, type, occurred_at_ms);"
    "CREATE TABLE awards ("
    "  tenant_id INTEGER NOT NULL,"
    "  event_id TEXT NOT NULL,"
    "  rule_id INTEGER NOT NULL,"
    "  rule_version INTEGER NOT NULL,"
    "  member_id INTEGER NOT NULL,"
    "  points INTEGER NOT NULL,"
    "  reversed INTEGER NOT NULL DEFAULT 0,"
    "  occurred_at_ms INTEGER NOT NULL,"
    "  biz_no TEXT NOT NULL,"
    "  explanation TEXT NOT NULL DEFAULT '',"
    "  created_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant_id, event_id, rule_id)"
    ") WITHOUT ROWID;"
    /* Frequency and caps: a member's awards of a rule by time; the budget:
     * a rule's awards. */
    "CREATE INDEX awards_rule_member ON awards(rule_id, member_id, occurred_at_ms);"
    "CREATE TABLE checkins ("
    "  member_id INTEGER NOT NULL REFERENCES members(id),"
    "  day INTEGER NOT NULL,"
    "  tenant_id INTEGER NOT NULL,"
    "  streak INTEGER NOT NULL,"
    "  points INTEGER NOT NULL,"
    "  makeup INTEGER NOT NULL DEFAULT 0,"
    "  cost INTEGER NOT NULL DEFAULT 0,"
    "  created_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (member_id, day)"
    ") WITHOUT ROWID;"
    "CREATE TABLE task_progress ("
    "  task_id INTEGER NOT NULL,"
    "  member_id INTEGER NOT NULL,"
    "  period_start_ms INTEGER NOT NULL,"
    "  tenant_id INTEGER NOT NULL,"
    "  task_version INTEGER NOT NULL,"
    "  progress INTEGER NOT NULL,"
    "  completed_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  rewarded_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (task_id, member_id, period_start_ms)"
    ") WITHOUT ROWID;"
    "CREATE TABLE settings ("
    "  tenant_id INTEGER NOT NULL REFERENCES tenants(id),"
    "  name TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant_id, name)"
    ") WITHOUT ROWID;",
    /* 3: what issue 5 still needed.
     * - The answer of each event, so that a replay answers byte for byte
     *   what the first request was answered: in a table of its own, appended
     *   (rowid order), so that an answer of a kilobyte neither spills the
     *   events row to an overflow page nor lands on a random page; the
     *   events row points to it (answer_id, 0 for events recorded before).
     * - The campaign-budget counter of each rule (points awarded net of
     *   reversals), kept with every award of a budgeted rule instead of
     *   summing the rule's awards on every event; filled for the rules that
     *   exist.
     * - member.orders_count leaves out fully refunded orders: the index it
     *   walks covers refunded_fen and amount_fen, so the count stays
     *   index-only. */
    "ALTER TABLE events ADD COLUMN answer_id INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE event_answers ("
    "  id INTEGER PRIMARY KEY,"
    "  tenant_id INTEGER NOT NULL,"
    "  answer TEXT NOT NULL"
    ");"
    "CREATE TABLE rule_budgets ("
    "  tenant_id INTEGER NOT NULL,"
    "  rule_id INTEGER NOT NULL,"
    "  points INTEGER NOT NULL,"
    "  PRIMARY KEY (tenant_id, rule_id)"
    ") WITHOUT ROWID;"
    "INSERT INTO rule_budgets (tenant_id, rule_id, points)"
    "  SELECT r.tenant_id, r.id, coalesce((SELECT sum(a.points - a.reversed) FROM awards a"
    "    WHERE a.rule_id = r.id), 0) FROM rules r WHERE r.kind = 0;"
    "DROP INDEX events_member;"
    "CREATE INDEX events_member ON events(member_id, type, occurred_at_ms, refunded_fen, amount_fen);",
    /* 4: the jobs' expiry index leaves out lots that never expire (a tenant
     * whose policy is "never" wrote an entry into it with every earn, for
     * nothing) and orders lots of one expiry instant by lot id, not member:
     * lots earned together share an expiry (a rolling policy rounds to the
     * day), so new ones now append at the end of the index instead of
     * landing on a random page per earn — one random page less per earn
     * with a million members.  member_id stays in the index so the jobs'
     * query still reads the index only.  MEMBERS_DUE repeats the index's
     * condition literally so the planner can use it. */
    "DROP INDEX lots_due_expiry;"
    "CREATE INDEX lots_due_expiry ON lots(tenant_id, expires_at_ms, id, member_id)"
    "  WHERE state = 1 AND remaining > 0 AND expires_at_ms < 9223372036854775807;",
    /* 5: one index of a member's lots instead of two.  lots_member (every
     * lot) and lots_spendable (the spendable ones) had the same key, so an
     * earn on a random member wrote a random leaf page in each.  Now the
     * key says first whether the lot is spendable, so spending and expiry
     * read one contiguous range as before (spent lots never sit in their
     * way), and a listing of every lot merges the two ranges in order
     * (LOT_LIST: a UNION ALL that SQLite merges, no sort).  The queries
     * write the key's expression exactly as here, "= 1" or "= 0", so the
     * planner matches it.  IF [NOT] EXISTS: the step may run again on a
     * database whose recorded version was rolled back by hand. */
    "CREATE INDEX IF NOT EXISTS lots_by_member"
    "  ON lots(member_id, (state = 1 AND remaining > 0), expires_at_ms, id);"
    "DROP INDEX IF EXISTS lots_member;"
    "DROP INDEX IF EXISTS lots_spendable;",
    /* 6: an award names the earn entry it produced.  The awards of one event
     * are now entries of one member operation and no longer ledger earns of
     * their own with an idempotency record each (the event row is their
     * idempotency), so a refund finds an award's entry here; 0 for the
     * awards written before, found through their earn's record. */
    "ALTER TABLE awards ADD COLUMN entry_id INTEGER NOT NULL DEFAULT 0;",
    /* 7: an event row reserves its answer's id when it is inserted (the
     * next id of event_answers) instead of being updated with it once the
     * answer is written: the UPDATE rewrote the row, at twice the cost of
     * the answer's insert.  The answer names its event, so that an event
     * that never got its answer cannot read the answer that later took
     * the id it reserved; '' for the answers linked before. */
    "ALTER TABLE event_answers ADD COLUMN event_id TEXT NOT NULL DEFAULT '';",
    /* 8: a member's due floor: a time no later than anything of the member
     * that settling acts on (its open holds' ends, pending lots'
     * activations, spendable lots' expiries).  Locking a member reads it
     * with the row, and a floor after the operation's time proves that
     * nothing is due without the three index lookups per operation that
     * MEMBER_DUE made (now run only to bring a floor up to date).  The
     * store lowers it with every write that opens a hold or makes a lot
     * pending or spendable (sqlite.c: sq_due); the rows that exist start at
     * the lowest integer: unknown, brought up to date on their next
     * operation. */
    "ALTER TABLE members ADD COLUMN due_floor_ms INTEGER NOT NULL DEFAULT -9223372036854775808;",
    /* 9: the index behind member.orders_count holds orders only.  Every
     * event wrote an entry into events_member (member, type, time, ...),
     * a random leaf page per event — measured at ~17 % of the committer's
     * time per order.paid — although only the member's orders are ever
     * counted.  Check-ins aside, the other events (shares, reviews,
     * profile steps, custom ones) now skip it.  ORDER_COUNT names the type
     * literally, as here, so that the planner can use the partial index;
     * the type is also the index's last column, or SQLite would read each
     * order's row to check it. */
    "DROP INDEX IF EXISTS events_member;"
    "CREATE INDEX IF NOT EXISTS events_orders ON events(member_id, occurred_at_ms, refunded_fen, amount_fen, type)"
    "  WHERE type = 'order.paid';",
    /* 10: orders are indexed only for a tenant that counts them.  The
     * orders index is read only by member.orders_count, and a tenant none
     * of whose rules has read it paid a random index page per order for
     * nothing (~3.7 us of the writer per order.paid, measured).  An order
     * is now written counted (events.counted = 1) when its tenant counts
     * orders (the setting orders.counted, which the engine sets, counting
     * the tenant's past orders at once, when a rule that reads
     * member.orders_count is first saved); the index holds counted orders
     * only.  Every event already recorded counts (the column's default),
     * and so does every tenant that exists, as before.  (PostgreSQL counts
     * every order: pg.c, pg_order_count_all.)  counted is also
     * the index's last column, so that the count reads the index only. */
    "ALTER TABLE events ADD COLUMN counted INTEGER NOT NULL DEFAULT 1;"
    "DROP INDEX IF EXISTS events_orders;"
    "CREATE INDEX IF NOT EXISTS events_orders"
    "  ON events(member_id, occurred_at_ms, refunded_fen, amount_fen, type, counted)"
    "  WHERE type = 'order.paid' AND counted = 1;"
    "INSERT OR IGNORE INTO settings (tenant_id, name, value, updated_at_ms)"
    "  SELECT id, 'orders.counted', '1', CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM tenants;",
    /* 11: an award of a rule that keeps no history is kept in its event's
     * row.  The awards table (keyed by event) and its index by rule and
     * member cost two random pages per award — measured at ~4.5 us of the
     * writer per order.paid, most of what an event costs beyond an earn —
     * and they are read for the frequency, member caps and budget of a
     * rule, and by refunds.  A rule that has none of the three (1 point
     * per yuan) now appends its awards to events.awards ("rule,version,
     * points,reversed,entry_id,biz_no;" each; the explanation is in the
     * event's answer), which a refund reads and rewrites; a rule that has
     * had one (rules.history; the engine sets it, and moves the rule's
     * awards from the events' rows into awards when it does:
     * award_history_start) keeps writing rows.  Every rule that exists
     * keeps a history, as before. */
    "ALTER TABLE rules ADD COLUMN history INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE events ADD COLUMN awards TEXT NOT NULL DEFAULT '';",
    /* 12: a member's memo of its awards of limited rules and its tasks'
     * progress.  Every order.paid counted, per rule with a frequency, the
     * member's awards of the rule in the frequency's period (first order,
     * first order of the month), and read its progress on each task of the
     * type: a statement each, ~3,000-6,000 instructions, for what rarely
     * changes.  The member's row — read with its lock and written back by
     * every event — now also keeps, per such rule it was counted for, the
     * times of its last few awards and since when that list is complete,
     * and per task read its progress row of the period (sqlite.c: sq_memo);
     * what the memo covers is read from it.  Empty: nothing known, read
     * from awards and task_progress as before. */
    "ALTER TABLE members ADD COLUMN memo TEXT NOT NULL DEFAULT '';",
    /* 13: an event's answer in its row.  It was a row of its own in
     * event_answers, one more insert per event; kept compact now (~220
     * bytes for the demo's order, event_answer.c), it fits in the event's
     * row.  Answers kept before stay where they are and are read there
     * (sqlite.c: EVENT_ANSWER_GET). */
    "ALTER TABLE events ADD COLUMN answer TEXT NOT NULL DEFAULT '';",
};

#define JF_SQLITE_SCHEMA_VERSION ((int64_t)(sizeof jf_sqlite_migrations / sizeof jf_sqlite_migrations[0]))

#endif
