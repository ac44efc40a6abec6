// The HTTP server on PostgreSQL: the API's key scenarios on one server, then
// two and four servers on one database (and one and two servers with several
// committers each) with 64 concurrent clients spread across them (exactly-N spends, one entry per biz_no, jobs on every server
// at once, verify clean); events on two servers (replays byte for byte, an
// exact campaign budget, at most 100 rules under concurrent creates).
// Skipped without $JIFEN_TEST_PG_URL; `make test-pg`
// starts a throwaway cluster and runs this file against it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verify } from './lib/server.mjs';
import { SKIP, startPgServers } from './lib/pg.mjs';

const CLIENTS = 64;

function assertVerified(fleet) {
  const v = verify(fleet.url);
  assert.equal(v.status, 0, `verify: ${v.stdout}${v.stderr}`);
}

test('on PostgreSQL: earn, spend, hold, capture, release, reverse, replay', { skip: SKIP }, async () => {
  const f = await startPgServers({ servers: 1, tenants: ['acme', 'beta'] });
  try {
    const e = await f.api(0, 'acme', 'POST', '/v1/members/ann/earn', { points: 100, biz_no: 'ann-1' });
    assert.equal(e.status, 201, e.text);
    assert.equal(e.json.points.available, 100);
    const replay = await f.api(0, 'acme', 'POST', '/v1/members/ann/earn', { points: 100, biz_no: 'ann-1' });
    assert.equal(replay.status, 201);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.equal(replay.text, e.text, 'a replay is the original answer, byte for byte');
    const conflict = await f.api(0, 'acme', 'POST', '/v1/members/ann/earn', { points: 7, biz_no: 'ann-1' });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.json.code, 'idempotency_conflict');

    const s = await f.api(0, 'acme', 'POST', '/v1/members/ann/spend', { points: 30, biz_no: 'ann-s1' });
    assert.equal(s.status, 201, s.text);
    assert.equal(s.json.points.available, 70);
    const short = await f.api(0, 'acme', 'POST', '/v1/members/ann/spend', { points: 1000, biz_no: 'ann-s2' });
    assert.equal(short.status, 409);
    assert.equal(short.json.code, 'insufficient_points');

    const h = await f.api(0, 'acme', 'POST', '/v1/members/ann/holds', { points: 40, biz_no: 'ann-h1', ttl_s: 600 });
    assert.equal(h.status, 201, h.text);
    assert.equal(h.json.points.frozen, 40);
    const c = await f.api(0, 'acme', 'POST', `/v1/holds/${h.json.hold.hold_id}/capture`, { points: 25, biz_no: 'ann-c1' });
    assert.equal(c.status, 201, c.text);
    assert.equal(c.json.hold.state, 'captured');
    assert.equal(c.json.points.available, 45);
    const h2 = await f.api(0, 'acme', 'POST', '/v1/members/ann/holds', { points: 5, biz_no: 'ann-h2', ttl_s: 60 });
    const rel = await f.api(0, 'acme', 'POST', `/v1/holds/${h2.json.hold.hold_id}/release`, { biz_no: 'ann-r2' });
    assert.equal(rel.status, 201, rel.text);
    assert.equal(rel.json.hold.state, 'released');

    const rv = await f.api(0, 'acme', 'POST', '/v1/members/ann/reversals', { target_biz_no: 'ann-1', points: 10, biz_no: 'ann-rv', reason: 'refund' });
    assert.equal(rv.status, 201, rv.text);
    assert.equal(rv.json.entry.kind, 'reverse');
    assert.equal(rv.json.points.available, 35);

    const m = await f.api(0, 'acme', 'GET', '/v1/members/ann');
    assert.equal(m.status, 200);
    assert.equal(m.json.points.available, 35);
    const hist = await f.api(0, 'acme', 'GET', '/v1/members/ann/entries');
    assert.deepEqual(hist.json.entries.map((x) => x.kind), ['reverse', 'release', 'hold', 'release', 'capture', 'hold', 'spend', 'earn']);

    // tenant isolation: beta sees nothing of acme's, and the same biz_no is
    // another operation there
    assert.equal((await f.api(0, 'beta', 'GET', '/v1/members/ann')).status, 404);
    assert.equal((await f.api(0, 'beta', 'POST', `/v1/holds/${h2.json.hold.hold_id}/capture`, { biz_no: 'steal' })).status, 404);
    const b = await f.api(0, 'beta', 'POST', '/v1/members/ann/earn', { points: 3, biz_no: 'ann-1' });
    assert.equal(b.status, 201);
    assert.equal(b.headers.get('idempotent-replayed'), null);
    assert.equal((await f.api(0, 'acme', 'GET', '/v1/members/ann')).json.points.available, 35);

    // keys made over HTTP work on PostgreSQL too
    const k = await f.api(0, 'acme', 'POST', '/v1/keys', { role: 'read', name: 'reader' });
    assert.equal(k.status, 201, k.text);
    assert.equal((await f.req(0, 'GET', '/v1/members/ann', { key: k.json.key })).status, 200);

    const health = await f.req(0, 'GET', '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: 'ok' });
    assertVerified(f);
  } finally {
    assert.ok((await f.stop()).every((r) => r.code === 0), f.stderr());
  }
});

// 64 clients spread over the servers: a balance of N, 64 spends of 1 → N
// succeed; then the same biz_no sent by every client to every server at once
// → one entry and one answer; a mixed load over a few members; verify.
async function manyServers(servers, env = {}) {
  const f = await startPgServers({ servers, tenants: ['acme'], env });
  try {
    const N = 20;
    const seed = await f.api(0, 'acme', 'POST', '/v1/members/pot/earn', { points: N, biz_no: 'pot-seed' });
    assert.equal(seed.status, 201, seed.text);
    const spends = await Promise.all(Array.from({ length: CLIENTS }, (_, i) =>
      f.api(i, 'acme', 'POST', '/v1/members/pot/spend', { points: 1, biz_no: `pot-spend-${i}` })));
    const ok = spends.filter((r) => r.status === 201);
    const short = spends.filter((r) => r.status === 409 && r.json.code === 'insufficient_points');
    assert.equal(ok.length, N, spends.filter((r) => r.status !== 201 && r.status !== 409).map((r) => r.text).join('\n'));
    assert.equal(short.length, CLIENTS - N);
    const seen = ok.map((r) => r.json.points.available).sort((a, b) => a - b);
    assert.deepEqual(seen, Array.from({ length: N }, (_, i) => i), 'each success saw its own balance');
    for (let i = 0; i < servers; i++) {
      const m = await f.api(i, 'acme', 'GET', '/v1/members/pot');
      assert.equal(m.json.points.available, 0, `server ${i}`);
      assert.equal(m.json.points.spent, N, `server ${i}`);
    }

    // one biz_no, a member that does not exist yet, every client at once
    const body = { points: 25, biz_no: 'same-biz-no', reason: 'storm' };
    const storm = await Promise.all(Array.from({ length: CLIENTS }, (_, i) =>
      f.api(i, 'acme', 'POST', '/v1/members/newbie/earn', body)));
    for (const r of storm) assert.equal(r.status, 201, r.text);
    assert.equal(new Set(storm.map((r) => r.text)).size, 1, 'every answer is byte-identical');
    assert.equal(storm.filter((r) => r.headers.get('idempotent-replayed') !== 'true').length, 1, 'exactly one did the work');
    const entries = await f.api(servers - 1, 'acme', 'GET', '/v1/members/newbie/entries');
    assert.equal(entries.json.entries.length, 1);

    // mixed load on a few members from every server
    const ops = [];
    for (let i = 0; i < 256; i++) {
      const member = `mix-${i % 6}`;
      ops.push(f.api(i, 'acme', 'POST', `/v1/members/${member}/earn`, { points: 3, biz_no: `mix-e-${i}` }));
      ops.push(f.api(i + 1, 'acme', 'POST', `/v1/members/${member}/spend`, { points: 2, biz_no: `mix-s-${i}` }));
    }
    const rs = await Promise.all(ops);
    // a spend that comes before its member's first earn finds no member (404)
    for (const r of rs) assert.ok([201, 404, 409].includes(r.status), r.text);
    let earned = 0;
    let spent = 0;
    for (let k = 0; k < 6; k++) {
      const m = await f.api(k, 'acme', 'GET', `/v1/members/mix-${k}`);
      earned += m.json.points.earned;
      spent += m.json.points.spent;
      assert.equal(m.json.points.available, m.json.points.earned - m.json.points.spent);
    }
    assert.equal(earned, 3 * rs.filter((r, i) => i % 2 === 0 && r.status === 201).length);
    assert.equal(spent, 2 * rs.filter((r, i) => i % 2 === 1 && r.status === 201).length);
    assertVerified(f);
  } finally {
    assert.ok((await f.stop()).every((r) => r.code === 0), f.stderr());
  }
}

test('two servers on one database, 64 clients: exactly N spends, one entry per biz_no, verify', { skip: SKIP },
  () => manyServers(2));
test('four servers on one database, 64 clients: exactly N spends, one entry per biz_no, verify', { skip: SKIP },
  () => manyServers(4));
// Several committers in one server share its writes out by member, each on
// a connection of its own: as many servers' worth of writers behind one
// port.  One member's requests stay on one committer, in arrival order.
test('one server with four committers, 64 clients: exactly N spends, one entry per biz_no, verify', { skip: SKIP },
  () => manyServers(1, { JIFEN_COMMITTERS: '4' }));
test('two servers with three committers each: exactly N spends, one entry per biz_no, verify', { skip: SKIP },
  () => manyServers(2, { JIFEN_COMMITTERS: '3' }));

test('jobs/run on four servers at once: each due lot expires exactly once', { skip: SKIP }, async () => {
  const f = await startPgServers({ servers: 4, tenants: ['acme'], testClock: true });
  try {
    const t0 = { 'x-jifen-now': '2030-05-01T10:00:00+08:00' };
    const members = 24;
    const earns = [];
    for (let m = 0; m < members; m++) {
      for (let l = 0; l < 3; l++) {
        earns.push(f.api(m, 'acme', 'POST', `/v1/members/job-${m}/earn`,
          { points: 10 + l, biz_no: `job-${m}-${l}`, expires_at: '2030-05-02T00:00:00+08:00' }, t0));
      }
    }
    for (const r of await Promise.all(earns)) assert.equal(r.status, 201, r.text);
    const later = { 'x-jifen-now': '2030-05-03T00:00:00+08:00' };
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => f.api(i, 'acme', 'POST', '/v1/admin/jobs/run', undefined, later)));
    for (const r of runs) assert.equal(r.status, 200, r.text);
    const expired = runs.reduce((sum, r) => sum + r.json.points_expired, 0);
    assert.equal(expired, members * 33, 'the runs together expired every point once');
    for (let m = 0; m < members; m++) {
      const e = await f.api(m, 'acme', 'GET', `/v1/members/job-${m}/entries?kind=expire`, undefined, later);
      assert.equal(e.json.entries.length, 1, `job-${m}: one expire entry`);
      assert.equal(e.json.entries[0].points, -33);
    }
    assertVerified(f);
  } finally {
    assert.ok((await f.stop()).every((r) => r.code === 0), f.stderr());
  }
});

// Events on PostgreSQL, two servers: a replay answers byte for byte from
// either server; a campaign budget awarded by 40 clients over both servers
// at once is spent exactly; list attributes; 12 concurrent rule creates over
// both servers stop at 100 rules.
test('events on two servers: replays byte for byte, an exact budget, list attributes, at most 100 rules', { skip: SKIP }, async () => {
  const f = await startPgServers({ servers: 2, tenants: ['acme'] });
  try {
    const rule = async (def) => {
      const r = await f.api(0, 'acme', 'POST', '/v1/rules', def);
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    await rule({ name: 'rate capped', event_type: 'order.paid', award: { rate: { points: 1, per_fen: 100 } }, caps: { per_award: 50 } });
    await rule({ name: 'vip', event_type: 'order.paid', when: '"vip" in attributes.tags', award: { points: 5 } });
    await rule({ name: 'budget', event_type: 'order.paid', award: { points: 7 }, caps: { budget: 100 } });
    const body = { type: 'order.paid', member_id: 'ev1', event_id: 'ev-1', amount_fen: 12800, attributes: { tags: ['new', 'vip'] } };
    const first = await f.api(0, 'acme', 'POST', '/v1/events', body);
    assert.equal(first.status, 201, first.text);
    assert.equal(first.json.points_awarded, 50 + 5 + 7);
    for (const i of [0, 1]) {
      const again = await f.api(i, 'acme', 'POST', '/v1/events', body);
      assert.equal(again.headers.get('idempotent-replayed'), 'true');
      assert.equal(again.text, first.text, `server ${i}: byte for byte`);
    }
    const many = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      f.api(i, 'acme', 'POST', '/v1/events', { type: 'order.paid', member_id: `ev-m${i}`, event_id: `ev-b${i}`, amount_fen: 100 })));
    for (const r of many) assert.equal(r.status, 201, r.text);
    const budget = many.reduce((sum, r) => sum + (r.json.awards.find((a) => a.rule_name === 'budget')?.points ?? 0), 0);
    assert.equal(budget + 7, 100, 'the budget is spent exactly');
    for (let i = 3; i < 95; i++) await rule({ name: `r${i}`, event_type: 'limit.test', award: { points: 1 } });
    const burst = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      f.api(i, 'acme', 'POST', '/v1/rules', { name: `burst${i}`, event_type: 'limit.test', award: { points: 1 } })));
    assert.equal(burst.filter((r) => r.status === 201).length, 5, burst.map((r) => `${r.status} ${r.json?.code}`).join(', '));
    assert.ok(burst.every((r) => r.status === 201 || (r.status === 422 && r.json.code === 'limit_exceeded')));
    assertVerified(f);
  } finally {
    assert.ok((await f.stop()).every((r) => r.code === 0), f.stderr());
  }
});
