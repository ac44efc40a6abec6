// The test clock: X-Jifen-Now sets "now" per request; jobs/run runs what is
// due as of that time.  Points earned with an expires_at expire after it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';

let srv;
before(async () => { srv = await startServer({ tenants: ['acme'], testClock: true }); });
after(async () => { assert.equal((await srv.stop()).code, 0); });

const at = (now) => ({ 'x-jifen-now': now });
const call = (method, path, now, body) => srv.req(method, path, { key: 'acme', body, headers: at(now) });

test('earned points expire after jobs/run at a later X-Jifen-Now', async () => {
  const t0 = '2030-03-01T10:00:00+08:00';
  const e = await call('POST', '/v1/members/clara/earn', t0, { points: 100, biz_no: 'c-1', expires_at: '2030-03-02T00:00:00+08:00' });
  assert.equal(e.status, 201, e.text);
  assert.equal(e.json.entry.created_at, '2030-03-01T10:00:00+08:00', 'the entry carries the test time');
  await call('POST', '/v1/members/clara/earn', t0, { points: 50, biz_no: 'c-2', expires_at: null });

  const soon = await call('GET', '/v1/members/clara/expiring?days=1', t0);
  assert.equal(soon.json.total, 100);

  const early = await call('POST', '/v1/admin/jobs/run', '2030-03-01T23:59:59+08:00');
  assert.equal(early.status, 200, early.text);
  assert.equal(early.json.points_expired, 0);
  assert.equal((await call('GET', '/v1/members/clara', '2030-03-01T23:59:59+08:00')).json.points.available, 150);

  const run = await call('POST', '/v1/admin/jobs/run', '2030-03-02T00:00:01+08:00');
  assert.equal(run.status, 200);
  assert.equal(run.json.now, '2030-03-02T00:00:01+08:00');
  assert.ok(run.json.points_expired >= 100, run.text);
  const m = await call('GET', '/v1/members/clara', '2030-03-02T00:00:02+08:00');
  assert.equal(m.json.points.available, 50);
  assert.equal(m.json.points.expired, 100);
  const h = await call('GET', '/v1/members/clara/entries?kind=expire', '2030-03-02T00:00:02+08:00');
  assert.equal(h.json.entries.length, 1);
  assert.equal(h.json.entries[0].points, -100);
  const lots = await call('GET', '/v1/members/clara/lots?state=expired', '2030-03-02T00:00:02+08:00');
  assert.equal(lots.json.lots.length, 1);
  const again = await call('POST', '/v1/admin/jobs/run', '2030-03-03T00:00:00+08:00');
  assert.equal(again.json.points_expired, 0, 'a rerun finds nothing left to do');
});

test('the tenant policy sets expires_at; pending points activate; holds time out', async () => {
  const p = await call('PATCH', '/v1/tenant', '2030-04-01T00:00:00+08:00', { expiry: { kind: 'rolling', n: 30, unit: 'days' } });
  assert.equal(p.status, 200, p.text);
  const e = await call('POST', '/v1/members/dora/earn', '2030-04-01T12:00:00+08:00', { points: 20, biz_no: 'd-1' });
  const lots = await call('GET', '/v1/members/dora/lots', '2030-04-01T12:00:00+08:00');
  assert.equal(lots.json.lots[0].expires_at, '2030-05-01T12:00:00+08:00', e.text);

  const pend = await call('POST', '/v1/members/dora/earn', '2030-04-01T12:00:00+08:00', { points: 5, biz_no: 'd-2', available_at: '2030-04-08T00:00:00+08:00' });
  assert.equal(pend.json.points.pending, 5);
  const h = await call('POST', '/v1/members/dora/holds', '2030-04-01T12:00:00+08:00', { points: 10, biz_no: 'd-h', ttl_s: 60 });
  assert.equal(h.json.points.frozen, 10);
  const run = await call('POST', '/v1/admin/jobs/run', '2030-04-08T00:00:00+08:00');
  assert.ok(run.json.holds_released >= 1 && run.json.lots_activated >= 1, run.text);
  const m = await call('GET', '/v1/members/dora', '2030-04-08T00:00:00+08:00');
  assert.deepEqual([m.json.points.available, m.json.points.frozen, m.json.points.pending], [25, 0, 0]);
  await call('PATCH', '/v1/tenant', '2030-04-08T00:00:00+08:00', { expiry: { kind: 'never' } });
});

test('a malformed X-Jifen-Now is refused', async () => {
  const r = await call('GET', '/v1/members/clara', 'next tuesday');
  assert.equal(r.status, 400);
  assert.equal(r.json.code, 'invalid_header');
});
