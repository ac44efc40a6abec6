-- pg_schema.sql — the tables bench/pg_earn.sql writes: jifen's members,
-- lots and entries (src/store/pg.c) trimmed to the columns an earn sets,
-- with the same unique keys and lot indexes.
CREATE TABLE members (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id BIGINT NOT NULL,
  ext_id TEXT NOT NULL,
  available BIGINT NOT NULL DEFAULT 0,
  earned BIGINT NOT NULL DEFAULT 0,
  entry_seq BIGINT NOT NULL DEFAULT 0,
  updated_at_ms BIGINT NOT NULL,
  UNIQUE (tenant_id, ext_id)
);
CREATE TABLE lots (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id BIGINT NOT NULL,
  member_id BIGINT NOT NULL REFERENCES members(id),
  amount BIGINT NOT NULL,
  remaining BIGINT NOT NULL,
  state BIGINT NOT NULL,
  available_at_ms BIGINT NOT NULL,
  expires_at_ms BIGINT NOT NULL,
  created_at_ms BIGINT NOT NULL
);
CREATE INDEX lots_member ON lots(member_id, expires_at_ms, id);
CREATE INDEX lots_spendable ON lots(member_id, expires_at_ms, id) WHERE state = 1 AND remaining > 0;
CREATE INDEX lots_due_expiry ON lots(tenant_id, expires_at_ms, member_id) WHERE state = 1 AND remaining > 0;
CREATE TABLE entries (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id BIGINT NOT NULL,
  member_id BIGINT NOT NULL REFERENCES members(id),
  seq BIGINT NOT NULL,
  kind BIGINT NOT NULL,
  points BIGINT NOT NULL,
  available_after BIGINT NOT NULL,
  biz_no TEXT NOT NULL DEFAULT '',
  lot_id BIGINT NOT NULL DEFAULT 0,
  created_at_ms BIGINT NOT NULL,
  UNIQUE (member_id, seq)
);
