// Every endpoint's happy path, replays, roles, revoked keys, tenant isolation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';

let srv;
before(async () => { srv = await startServer({ tenants: ['acme', 'beta'] }); });
after(async () => {
  const r = await srv.stop();
  assert.equal(r.code, 0, 'graceful SIGTERM exits 0');
});

const POINTS_KEYS = ['available', 'frozen', 'pending', 'debt', 'earned', 'spent', 'expired'];

test('GET /healthz, /metrics, /v1/openapi.json need no key', async () => {
  const h = await srv.req('GET', '/healthz');
  assert.equal(h.status, 200);
  assert.deepEqual(h.json, { status: 'ok' });
  const m = await srv.req('GET', '/metrics');
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type'), /^text\/plain/);
  assert.match(m.text, /jifen_http_requests_total\{route="healthz",status="200"\} \d+/);
  assert.match(m.text, /jifen_committer_batch_size_count \d+/);
  assert.match(m.text, /jifen_fsyncs_total \d+/);
  assert.match(m.text, /jifen_http_request_duration_seconds_bucket\{route="healthz",le="\+Inf"\}/);
  const o = await srv.req('GET', '/v1/openapi.json');
  assert.equal(o.status, 200);
  assert.equal(o.json.openapi.startsWith('3.'), true);
});


test('tenant: GET and PATCH settings', async () => {
  const g = await srv.api('acme', 'GET', '/v1/tenant');
  assert.equal(g.status, 200);
  assert.equal(g.json.tenant, 'acme');
  assert.equal(g.json.timezone, 'Asia/Shanghai');
  assert.deepEqual(g.json.expiry, { kind: 'never' });
  const p = await srv.api('acme', 'PATCH', '/v1/tenant', {
    name: 'Acme 商城', expiry: { kind: 'rolling', n: 12, unit: 'months', round: 'month' }, refund_policy: 'clamp',
  });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.name, 'Acme 商城');
  assert.deepEqual(p.json.expiry, { kind: 'rolling', n: 12, unit: 'months', round: 'month' });
  assert.equal(p.json.refund_policy, 'clamp');
  assert.equal(p.json.timezone, 'Asia/Shanghai', 'fields not named are kept');
  const annual = await srv.api('acme', 'PATCH', '/v1/tenant', { expiry: { kind: 'annual', clear_date: '12-31', years: 1 }, refund_policy: 'debt' });
  assert.equal(annual.status, 200, annual.text);
  assert.deepEqual(annual.json.expiry, { kind: 'annual', clear_date: '12-31', years: 1 });
  const back = await srv.api('acme', 'PATCH', '/v1/tenant', { expiry: { kind: 'never' }, timezone: 'Asia/Shanghai' });
  assert.equal(back.status, 200);
  const bad = await srv.api('acme', 'PATCH', '/v1/tenant', { timezone: 'Mars/Olympus' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.field, 'timezone');
  const badn = await srv.api('acme', 'PATCH', '/v1/tenant', { expiry: { kind: 'rolling', n: 0 } });
  assert.equal(badn.status, 400);
  assert.equal(badn.json.field, 'expiry.n');
});

test('members: PUT creates (201) then updates (200), GET, list with cursor', async () => {
  const c = await srv.api('acme', 'PUT', '/v1/members/alice');
  assert.equal(c.status, 201, c.text);
  assert.equal(c.json.member_id, 'alice');
  assert.equal(c.json.status, 'active');
  assert.deepEqual(Object.keys(c.json.points).sort(), [...POINTS_KEYS].sort());
  const u = await srv.api('acme', 'PUT', '/v1/members/alice', { status: 'active' });
  assert.equal(u.status, 200);
  for (const id of ['bob', 'carol', 'dave']) assert.equal((await srv.api('acme', 'PUT', `/v1/members/${id}`, {})).status, 201);
  const g = await srv.api('acme', 'GET', '/v1/members/alice');
  assert.equal(g.status, 200);
  assert.equal(g.json.points.available, 0);
  const p1 = await srv.api('acme', 'GET', '/v1/members?limit=2');
  assert.equal(p1.status, 200);
  assert.equal(p1.json.members.length, 2);
  assert.ok(p1.json.next_cursor);
  const p2 = await srv.api('acme', 'GET', `/v1/members?limit=2&cursor=${p1.json.next_cursor}`);
  assert.equal(p2.json.members.length, 2);
  const all = [...p1.json.members, ...p2.json.members].map((m) => m.member_id);
  assert.deepEqual(all.sort(), ['alice', 'bob', 'carol', 'dave']);
  const frozen = await srv.api('acme', 'PUT', '/v1/members/dave', { status: 'frozen' });
  assert.equal(frozen.json.status, 'frozen');
  const refused = await srv.api('acme', 'POST', '/v1/members/dave/earn', { points: 1, biz_no: 'dave-1' });
  assert.equal(refused.status, 409);
  assert.equal(refused.json.code, 'member_frozen');
});

test('earn, spend, history, lots, expiring', async () => {
  const e = await srv.api('acme', 'POST', '/v1/members/erin/earn', {
    points: 100, biz_no: 'erin-order-1', scene: 'order', reason: '订单 1 奖励', expires_at: '2030-01-01T00:00:00+08:00',
  });
  assert.equal(e.status, 201, e.text);
  assert.equal(e.headers.get('idempotent-replayed'), null);
  assert.equal(e.json.member_id, 'erin');
  assert.equal(e.json.points.available, 100);
  assert.equal(e.json.entry.kind, 'earn');
  assert.equal(e.json.entry.points, 100);
  assert.equal(e.json.entry.reason, '订单 1 奖励');
  assert.match(e.json.entry.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?\+08:00$/);
  const e2 = await srv.api('acme', 'POST', '/v1/members/erin/earn', { points: 50, biz_no: 'erin-order-2', expires_at: null });
  assert.equal(e2.status, 201);
  const s = await srv.api('acme', 'POST', '/v1/members/erin/spend', { points: 30, biz_no: 'erin-spend-1', scene: 'mall' });
  assert.equal(s.status, 201, s.text);
  assert.equal(s.json.points.available, 120);
  assert.equal(s.json.points.spent, 30);
  assert.equal(s.json.entry.points, -30);

  const h = await srv.api('acme', 'GET', '/v1/members/erin/entries?limit=2');
  assert.equal(h.status, 200);
  assert.deepEqual(h.json.entries.map((x) => x.kind), ['spend', 'earn']);
  assert.ok(h.json.next_cursor);
  const h2 = await srv.api('acme', 'GET', `/v1/members/erin/entries?limit=2&cursor=${h.json.next_cursor}`);
  assert.deepEqual(h2.json.entries.map((x) => x.biz_no), ['erin-order-1']);
  assert.equal(h2.json.next_cursor, null);
  const onlyEarn = await srv.api('acme', 'GET', '/v1/members/erin/entries?kind=earn');
  assert.equal(onlyEarn.json.entries.length, 2);

  const lots = await srv.api('acme', 'GET', '/v1/members/erin/lots');
  assert.equal(lots.status, 200);
  assert.equal(lots.json.lots.length, 2);
  const first = lots.json.lots[0];
  assert.equal(first.amount, 100, 'earliest-expiring lot first');
  assert.equal(first.remaining, 70, 'spending takes the first-expiring lot');
  assert.equal(lots.json.lots[1].expires_at, null, 'never expires → null');

  const exp = await srv.api('acme', 'GET', '/v1/members/erin/expiring?days=3660');
  assert.equal(exp.status, 200, exp.text);
  assert.equal(exp.json.total, 70);
  const none = await srv.api('acme', 'GET', '/v1/members/erin/expiring?days=30');
  assert.equal(none.json.total, 0);
});

test('holds: hold, partial capture, release', async () => {
  await srv.api('acme', 'POST', '/v1/members/hank/earn', { points: 100, biz_no: 'hank-1' });
  const h = await srv.api('acme', 'POST', '/v1/members/hank/holds', { points: 40, biz_no: 'hank-hold-1', ttl_s: 600 });
  assert.equal(h.status, 201, h.text);
  assert.equal(h.json.hold.state, 'open');
  assert.equal(h.json.points.available, 60);
  assert.equal(h.json.points.frozen, 40);
  const c = await srv.api('acme', 'POST', `/v1/holds/${h.json.hold.hold_id}/capture`, { points: 25, biz_no: 'hank-cap-1' });
  assert.equal(c.status, 201, c.text);
  assert.equal(c.json.hold.state, 'captured');
  assert.equal(c.json.points.frozen, 0);
  assert.equal(c.json.points.available, 75);
  assert.equal(c.json.points.spent, 25);
  assert.equal(c.json.release_entry.kind, 'release');
  const h2 = await srv.api('acme', 'POST', '/v1/members/hank/holds', { points: 10, biz_no: 'hank-hold-2', ttl_s: 60 });
  const r = await srv.api('acme', 'POST', `/v1/holds/${h2.json.hold.hold_id}/release`, { biz_no: 'hank-rel-2' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.hold.state, 'released');
  assert.equal(r.json.points.available, 75);
  const again = await srv.api('acme', 'POST', `/v1/holds/${h2.json.hold.hold_id}/capture`, { biz_no: 'hank-cap-2' });
  assert.equal(again.status, 409);
  assert.equal(again.json.code, 'hold_not_open');
});

test('reversal and adjustment', async () => {
  await srv.api('acme', 'POST', '/v1/members/ivy/earn', { points: 100, biz_no: 'ivy-order' });
  const rv = await srv.api('acme', 'POST', '/v1/members/ivy/reversals', { target_biz_no: 'ivy-order', points: 40, biz_no: 'ivy-refund', reason: 'refund' });
  assert.equal(rv.status, 201, rv.text);
  assert.equal(rv.json.entry.kind, 'reverse');
  assert.equal(rv.json.points.available, 60);
  assert.deepEqual(rv.json.reversal, { reversed: 40, debt: 0, clamped: 0 });
  const ad = await srv.api('acme', 'POST', '/v1/members/ivy/adjustments', { points: -10, biz_no: 'ivy-adj', reason: 'goodwill correction' });
  assert.equal(ad.status, 201, ad.text);
  assert.equal(ad.json.entry.kind, 'adjust');
  assert.equal(ad.json.points.available, 50);
  assert.equal(ad.json.entry.operator, 'admin', 'the key name is the operator');
});

test('replay answers the original 201 and body; a different body is 409', async () => {
  const body = { points: 7, biz_no: 'replay-1' };
  const a = await srv.api('acme', 'POST', '/v1/members/rita/earn', body);
  assert.equal(a.status, 201);
  const b = await srv.api('acme', 'POST', '/v1/members/rita/earn', body);
  assert.equal(b.status, 201);
  assert.equal(b.headers.get('idempotent-replayed'), 'true');
  assert.equal(b.text, a.text);
  const c = await srv.api('acme', 'POST', '/v1/members/rita/earn', { points: 8, biz_no: 'replay-1' });
  assert.equal(c.status, 409);
  assert.equal(c.json.code, 'idempotency_conflict');
  const g = await srv.api('acme', 'GET', '/v1/members/rita');
  assert.equal(g.json.points.available, 7, 'written once');
});

test('keys: create, list (prefix only), roles, revoke → 401 at once', async () => {
  const app = await srv.api('acme', 'POST', '/v1/keys', { role: 'app', name: 'shop backend' });
  assert.equal(app.status, 201, app.text);
  assert.match(app.json.key, /^jf_live_[A-Za-z0-9_-]{43}$/);
  assert.equal(app.json.role, 'app');
  assert.equal(app.json.prefix, app.json.key.slice(0, 12));
  const read = await srv.api('acme', 'POST', '/v1/keys', { role: 'read', name: 'reports' });
  const list = await srv.api('acme', 'GET', '/v1/keys');
  assert.equal(list.status, 200);
  assert.ok(list.json.keys.length >= 3);
  assert.ok(!list.text.includes(app.json.key), 'the secret is never listed');
  for (const k of list.json.keys) assert.equal(k.key, undefined);

  // app key: may earn, may not adjust or manage keys
  const earn = await srv.req('POST', '/v1/members/kim/earn', { key: app.json.key, body: { points: 5, biz_no: 'kim-1' } });
  assert.equal(earn.status, 201);
  const adj = await srv.req('POST', '/v1/members/kim/adjustments', { key: app.json.key, body: { points: 5, biz_no: 'kim-adj', reason: 'x' } });
  assert.equal(adj.status, 403);
  assert.equal(adj.json.code, 'forbidden');
  // read key: may read, may not write
  const rd = await srv.req('GET', '/v1/members/kim', { key: read.json.key });
  assert.equal(rd.status, 200);
  const wr = await srv.req('POST', '/v1/members/kim/earn', { key: read.json.key, body: { points: 5, biz_no: 'kim-2' } });
  assert.equal(wr.status, 403);
  assert.equal(wr.json.code, 'forbidden');
  assert.equal((await srv.api('acme', 'GET', '/v1/members/kim')).json.points.available, 5, 'nothing written by the read key');

  const del = await srv.api('acme', 'DELETE', `/v1/keys/${app.json.key_id}`);
  assert.equal(del.status, 200, del.text);
  assert.ok(del.json.revoked_at);
  const after = await srv.req('GET', '/v1/members/kim', { key: app.json.key });
  assert.equal(after.status, 401);
  assert.equal(after.json.code, 'unauthorized');
  assert.match(after.headers.get('www-authenticate'), /^Bearer/);
  const otherTenant = await srv.api('beta', 'DELETE', `/v1/keys/${read.json.key_id}`);
  assert.equal(otherTenant.status, 404, 'a tenant cannot revoke another tenant\'s key');
});

test('tenant isolation: beta cannot see or touch acme\'s members or holds', async () => {
  await srv.api('acme', 'POST', '/v1/members/secret/earn', { points: 10, biz_no: 'secret-1' });
  const h = await srv.api('acme', 'POST', '/v1/members/secret/holds', { points: 5, biz_no: 'secret-hold', ttl_s: 600 });
  for (const path of ['/v1/members/secret', '/v1/members/secret/entries', '/v1/members/secret/lots', '/v1/members/secret/expiring?days=10']) {
    const r = await srv.api('beta', 'GET', path);
    assert.equal(r.status, 404, path);
    assert.equal(r.json.code, 'not_found');
  }
  const cap = await srv.api('beta', 'POST', `/v1/holds/${h.json.hold.hold_id}/capture`, { biz_no: 'steal' });
  assert.equal(cap.status, 404);
  const spend = await srv.api('beta', 'POST', '/v1/members/secret/spend', { points: 1, biz_no: 'steal-2' });
  assert.equal(spend.status, 404, 'beta has no member "secret"');
  const list = await srv.api('beta', 'GET', '/v1/members');
  assert.ok(!list.json.members.some((m) => m.member_id === 'secret'));
  // the same biz_no in two tenants is two different operations
  const a = await srv.api('beta', 'POST', '/v1/members/secret/earn', { points: 3, biz_no: 'secret-1' });
  assert.equal(a.status, 201);
  assert.equal(a.headers.get('idempotent-replayed'), null);
  assert.equal((await srv.api('acme', 'GET', '/v1/members/secret')).json.points.available, 5);
});

test('jobs/run (admin) answers its statistics', async () => {
  const r = await srv.api('acme', 'POST', '/v1/admin/jobs/run');
  assert.equal(r.status, 200, r.text);
  assert.equal(typeof r.json.members_settled, 'number');
  const app = await srv.api('acme', 'POST', '/v1/keys', { role: 'app', name: 'jobs-app' });
  const no = await srv.req('POST', '/v1/admin/jobs/run', { key: app.json.key });
  assert.equal(no.status, 403);
});

// Regression for the per-thread key cache: warm it on every loop thread
// (concurrent requests spread over both threads' sockets), then a revocation
// or a tenant change must be seen by the very next requests on all of them.
test('key cache: revocation and tenant changes reach every loop thread at once', async () => {
  const k = await srv.api('acme', 'POST', '/v1/keys', { role: 'read', name: 'cache probe' });
  assert.equal(k.status, 201, k.text);
  const burst = () => Promise.all(Array.from({ length: 16 }, () => srv.req('GET', '/v1/tenant', { key: k.json.key })));
  for (const r of await burst()) assert.equal(r.status, 200);

  const tz = await srv.api('acme', 'PATCH', '/v1/tenant', { timezone: 'Europe/Berlin' });
  assert.equal(tz.status, 200, tz.text);
  for (const r of await burst()) assert.equal(r.json.timezone, 'Europe/Berlin', 'a cached tenant outlived its change');

  const del = await srv.api('acme', 'DELETE', `/v1/keys/${k.json.key_id}`);
  assert.equal(del.status, 200, del.text);
  for (const r of await burst()) assert.equal(r.status, 401, 'a cached key outlived its revocation');
  const back = await srv.api('acme', 'PATCH', '/v1/tenant', { timezone: 'Asia/Shanghai' });
  assert.equal(back.status, 200, back.text);
});

test('/metrics counts the WAL: a durable write is one more sync and its frames one write', async () => {
  const wal = async () => {
    const t = (await srv.req('GET', '/metrics')).text;
    const n = (name) => Number(t.match(new RegExp(`^jifen_sqlite_wal_${name}_total (\\d+)$`, 'm'))[1]);
    const secs = Number(t.match(/^jifen_sqlite_wal_sync_seconds_total ([0-9.]+)$/m)[1]);
    return { syncs: n('syncs'), writes: n('writes'), bytes: n('bytes'), secs, text: t };
  };
  const before = await wal();
  const r = await srv.api('acme', 'POST', '/v1/members/walcount/earn', { points: 5, biz_no: 'walcount-1' });
  assert.equal(r.status, 201);
  const after = await wal();
  assert.ok(after.syncs > before.syncs, 'the commit synced the log');
  assert.ok(after.secs > before.secs, 'and the sync took some time');
  // the writer's pauses for the log to start over: a histogram, buckets cumulative
  const buckets = [...after.text.matchAll(/^jifen_sqlite_log_restart_turn_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)];
  assert.equal(buckets.length, 8);
  assert.equal(buckets.at(-1)[1], '+Inf');
  for (let i = 1; i < buckets.length; i++) assert.ok(Number(buckets[i][2]) >= Number(buckets[i - 1][2]));
  const count = Number(after.text.match(/^jifen_sqlite_log_restart_turn_seconds_count (\d+)$/m)[1]);
  assert.equal(count, Number(buckets.at(-1)[2]));
  assert.ok(after.bytes > before.bytes, 'and wrote frames to it');
  // several pages changed; their frames reached the file in fewer calls
  // than one per frame (4096 + 24 bytes each)
  assert.ok(after.writes - before.writes < (after.bytes - before.bytes) / 4120,
    `${after.writes - before.writes} writes for ${after.bytes - before.bytes} bytes`);
});
