// PostgreSQL stopped with `pg_ctl stop -m immediate` under HTTP write load
// on two servers, then started again: requests during the outage get 503
// with a problem body (and /healthz says so), the servers recover without a
// restart, every 2xx survives, and a retry of every 503 with the same biz_no
// does the operation at most once — so the balances are exactly the sum of
// the distinct requests.  Then a server started while PostgreSQL is down
// waits for it.  The test runs its own cluster (scripts/pg-test.sh with its
// own state file), so that stopping PostgreSQL disturbs no other test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnServer, verify, waitHealthy } from './lib/server.mjs';
import { SKIP, createDatabase, startCluster, startPgServers } from './lib/pg.mjs';

const ROUNDS = 2;
const MEMBERS = 4;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Writers posting earns to every server until told to stop.  Every request
// is remembered with its answer: 2xx (acknowledged) or 503 (not done, or
// done by a commit whose answer was lost — the retry will tell).
function load(f, round, workers = 16) {
  const sent = [];
  let stop = false;
  const worker = async (w) => {
    for (let i = 0; !stop; i++) {
      const body = { points: 1 + (i % 5), biz_no: `r${round}-w${w}-${i}` };
      const member = `crash-${w % MEMBERS}`;
      const r = await f.api(w, 'acme', 'POST', `/v1/members/${member}/earn`, body);
      if (r.status === 503) {
        assert.equal(r.json.code, 'unavailable', r.text);
        assert.match(r.headers.get('content-type'), /application\/problem\+json/);
        await sleep(5);
      } else {
        assert.equal(r.status, 201, r.text);
      }
      sent.push({ member, body, status: r.status });
    }
  };
  const done = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return { sent, finish: async () => { stop = true; await done; } };
}

// Wait until server i answers a write again (it recovers by itself).
async function recovered(f, i, tag) {
  const t0 = Date.now();
  for (let k = 0; Date.now() - t0 < 20000; k++) {
    const r = await f.api(i, 'acme', 'POST', '/v1/members/probe/earn', { points: 1, biz_no: `probe-${tag}-${i}-${k}` });
    if (r.status === 201) return r;
    assert.equal(r.status, 503, r.text);
    await sleep(50);
  }
  throw new Error(`server ${i} did not recover:\n${f.stderr()}`);
}

test('pg_ctl stop -m immediate under HTTP load on two servers: 503 meanwhile, recovery without restart, nothing acknowledged lost',
  { skip: SKIP }, async () => {
    const cluster = startCluster('crash');
    let f;
    try {
      f = await startPgServers({ servers: 2, tenants: ['acme'], db: createDatabase(cluster.url, 'crash') });
      const all = [];
      for (let round = 0; round < ROUNDS; round++) {
        const l = load(f, round);
        await sleep(300);
        cluster.crash();
        // /healthz notices within its probe interval
        for (let i = 0; i < 2; i++) {
          let h;
          for (let k = 0; k < 40; k++) {
            h = await f.req(i, 'GET', '/healthz');
            if (h.status === 503) break;
            await sleep(50);
          }
          assert.equal(h.status, 503, `server ${i} /healthz during the outage: ${h.text}`);
          assert.equal(h.json.code, 'unavailable');
        }
        await sleep(300);
        cluster.resume();
        for (let i = 0; i < 2; i++) await recovered(f, i, round);
        await sleep(200);
        await l.finish();
        const acked = l.sent.filter((s) => s.status === 201);
        assert.ok(acked.length > 0, `round ${round}: writes were acknowledged`);
        assert.ok(l.sent.some((s) => s.status === 503), `round ${round}: writes during the outage got 503`);
        all.push(...l.sent);
      }
      for (let i = 0; i < 2; i++) {
        const h = await f.req(i, 'GET', '/healthz');
        assert.equal(h.status, 200, `server ${i} healthy again`);
      }

      // Every acknowledged write is there: its replay says so.  Every 503 is
      // retried with its biz_no: done now, or replayed if its commit did
      // happen — exactly once either way.
      for (let i = 0; i < all.length; i += 32) {
        const batch = all.slice(i, i + 32);
        const rs = await Promise.all(batch.map((s, k) => f.api(k, 'acme', 'POST', `/v1/members/${s.member}/earn`, s.body)));
        rs.forEach((r, k) => {
          assert.equal(r.status, 201, r.text);
          if (batch[k].status === 201)
            assert.equal(r.headers.get('idempotent-replayed'), 'true', `lost: ${JSON.stringify(batch[k])}`);
        });
      }
      for (let m = 0; m < MEMBERS; m++) {
        const expect = all.filter((s) => s.member === `crash-${m}`).reduce((sum, s) => sum + s.body.points, 0);
        const got = await f.api(m, 'acme', 'GET', `/v1/members/crash-${m}`);
        assert.equal(got.json.points.available, expect, `crash-${m}: every distinct request exactly once`);
      }
      const v = verify(f.url);
      assert.equal(v.status, 0, `verify: ${v.stdout}${v.stderr}`);

      // A server started while PostgreSQL is down waits for it (one log
      // line, not one per attempt), then serves.
      cluster.crash();
      const starting = spawnServer(f.url, { threads: 2 });
      let early = null;
      starting.then(() => { early = 'listening'; }, (e) => { early = e; });
      await sleep(1500);
      assert.equal(early, null, 'no listener, no exit while the database is down');
      cluster.resume();
      const p = await starting;
      await waitHealthy(p.base);
      f.procs.push(p);
      const late = await f.api(2, 'acme', 'POST', '/v1/members/late/earn', { points: 5, biz_no: 'late-1' });
      assert.equal(late.status, 201, late.text);
      assert.equal((p.stderr().match(/waiting for the database/g) || []).length, 1, p.stderr());
    } finally {
      if (f) {
        const codes = await f.stop();
        assert.ok(codes.every((r) => r.code === 0), f.stderr());
      }
      cluster.stop();
    }
  });
