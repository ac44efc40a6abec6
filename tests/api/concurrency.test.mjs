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

// The loop threads share one read snapshot among the requests of one turn of
// their event loop (jf_loop_read): a read must still see every write whose
// 2xx reached any client before the read was sent, on whichever connection
// and thread.  32 clients earn on their own member and on a shared one;
// after each acknowledged earn, the reads that follow must count it.
test('reads see every write acknowledged before them, across connections', async () => {
  let sharedAcked = 0;
  const worker = async (w) => {
    for (let i = 1; i <= 25; i++) {
      const own = await srv.api('acme', 'POST', `/v1/members/ryw-${w}/earn`, { points: 1, biz_no: `ryw-${w}-${i}` });
      assert.equal(own.status, 201, own.text);
      const shared = await srv.api('acme', 'POST', '/v1/members/ryw-shared/earn', { points: 1, biz_no: `ryw-s-${w}-${i}` });
      assert.equal(shared.status, 201, shared.text);
      sharedAcked++;
      const floor = sharedAcked;
      const [m, s] = await Promise.all([
        srv.api('acme', 'GET', `/v1/members/ryw-${w}`),
        srv.api('acme', 'GET', '/v1/members/ryw-shared'),
      ]);
      assert.equal(m.json.points.available, i, `member ryw-${w} after ${i} acknowledged earns`);
      assert.ok(s.json.points.available >= floor,
        `the shared member shows ${s.json.points.available} after ${floor} acknowledged earns`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)));
  assert.equal((await srv.api('acme', 'GET', '/v1/members/ryw-shared')).json.points.available, 32 * 25);
});
