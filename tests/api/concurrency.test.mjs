// Concurrency: never oversell, exactly once under a storm of retries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, verify } from './lib/server.mjs';

let srv;
before(async () => { srv = await startServer({ tenants: ['acme'] }); });
after(async () => { assert.equal((await srv.stop()).code, 0); });

test('64 concurrent spends of 1 from 10 points: exactly 10 succeed', async () => {
  const e = await srv.api('acme', 'POST', '/v1/members/c1/earn', { points: 10, biz_no: 'c1-seed' });
  assert.equal(e.status, 201);
  const results = await Promise.all(Array.from({ length: 64 }, (_, i) =>
    srv.api('acme', 'POST', '/v1/members/c1/spend', { points: 1, biz_no: `c1-spend-${i}` })));
  const ok = results.filter((r) => r.status === 201);
  const short = results.filter((r) => r.status === 409 && r.json.code === 'insufficient_points');
  assert.equal(ok.length, 10);
  assert.equal(short.length, 54);
  const m = await srv.api('acme', 'GET', '/v1/members/c1');
  assert.equal(m.json.points.available, 0);
  assert.equal(m.json.points.spent, 10);
  const seen = ok.map((r) => r.json.points.available).sort((a, b) => a - b);
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'each success saw its own balance');
});

test('64 concurrent requests with one biz_no: one entry, identical answers', async () => {
  const body = { points: 25, biz_no: 'same-biz-no', reason: 'storm' };
  const results = await Promise.all(Array.from({ length: 64 }, () =>
    srv.api('acme', 'POST', '/v1/members/c2/earn', body)));
  for (const r of results) assert.equal(r.status, 201, r.text);
  const bodies = new Set(results.map((r) => r.text));
  assert.equal(bodies.size, 1, 'every answer is byte-identical');
  const fresh = results.filter((r) => r.headers.get('idempotent-replayed') !== 'true');
  assert.equal(fresh.length, 1, 'exactly one request did the work');
  const h = await srv.api('acme', 'GET', '/v1/members/c2/entries');
  assert.equal(h.json.entries.length, 1);
  assert.equal((await srv.api('acme', 'GET', '/v1/members/c2')).json.points.available, 25);
});

test('mixed concurrent load on many members, then verify passes', async () => {
  const ops = [];
  for (let i = 0; i < 200; i++) {
    const m = `mix-${i % 8}`;
    ops.push(srv.api('acme', 'POST', `/v1/members/${m}/earn`, { points: 3, biz_no: `mix-e-${i}` }));
    ops.push(srv.api('acme', 'POST', `/v1/members/${m}/spend`, { points: 2, biz_no: `mix-s-${i}` }));
    if (i % 10 === 0) ops.push(srv.api('acme', 'GET', `/v1/members/${m}`));
  }
  const rs = await Promise.all(ops);
  for (const r of rs) assert.ok([200, 201, 404, 409].includes(r.status), r.text);
  const v = verify(srv.db);
  assert.equal(v.status, 0, v.stdout + v.stderr);
});
