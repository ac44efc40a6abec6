-- pg_earn.sql — pgbench's version of one jifen earn: upsert the member's
-- account, insert the lot, insert the entry, in one transaction (the tables
-- are bench/pg_bench.sh's trimmed copies of jifen's members, lots and
-- entries, with the same keys and lot indexes).  jifen's own earn does more:
-- the member row lock, the idempotency record, the hash chain.
\set m random(0, :members - 1)
BEGIN;
INSERT INTO members (tenant_id, ext_id, available, earned, entry_seq, updated_at_ms)
  VALUES (1, 'm' || :m, 1, 1, 1, 0)
  ON CONFLICT (tenant_id, ext_id) DO UPDATE
  SET available = members.available + 1, earned = members.earned + 1,
      entry_seq = members.entry_seq + 1, updated_at_ms = EXCLUDED.updated_at_ms
  RETURNING id AS member_id, entry_seq AS seq \gset
INSERT INTO lots (tenant_id, member_id, amount, remaining, state, available_at_ms, expires_at_ms, created_at_ms)
  VALUES (1, :member_id, 1, 1, 1, 0, 9223372036854775807, 0)
  RETURNING id AS lot_id \gset
INSERT INTO entries (tenant_id, member_id, seq, kind, points, available_after, biz_no, lot_id, created_at_ms)
  VALUES (1, :member_id, :seq, 0, 1, 0, 'pgb-' || :client_id || '-' || :seq, :lot_id, 0);
END;
