// Crash safety: SIGKILL the server under write load, again and again.  After
// each restart every request that got a 2xx must be there (its replay says
// so) and `jifen verify` must pass.  Then a graceful SIGTERM under load:
// exit 0, and again nothing acknowledged is lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, verify } from './lib/server.mjs';

const ROUNDS = 10;

// Writers that post earns until told to stop; returns the acknowledged ones.
function load(srv, round, workers = 16) {
  const acked = [];
  let stop = false;
  const worker = async (w) => {
    for (let i = 0; !stop; i++) {
      const body = { points: 1 + (i % 5), biz_no: `r${round}-w${w}-${i}` };
      const member = `crash-${w % 4}`;
      try {
        const r = await srv.api('acme', 'POST', `/v1/members/${member}/earn`, body);
        if (r.status >= 200 && r.status < 300) acked.push({ member, body });
        else if (r.status !== 503) throw new Error(`unexpected ${r.status} ${r.text}`);
      } catch (e) {
        if (e.message.startsWith('unexpected')) throw e;
        return; // connection refused/reset: the server is gone
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return { acked, finish: async () => { stop = true; await done; } };
}

// Wait (up to 30 s) until the load has at least one acknowledged write.
async function untilAcked(l) {
  const deadline = Date.now() + 30000;
  while (l.acked.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

async function checkAcked(srv, acked) {
  // Replaying an acknowledged request must say it was already done.
  for (let i = 0; i < acked.length; i += 32) {
    const batch = acked.slice(i, i + 32);
    const rs = await Promise.all(batch.map(({ member, body }) => srv.api('acme', 'POST', `/v1/members/${member}/earn`, body)));
    rs.forEach((r, k) => {
      assert.equal(r.status, 201, r.text);
      assert.equal(r.headers.get('idempotent-replayed'), 'true', `lost: ${JSON.stringify(batch[k])}`);
    });
  }
}

test(`SIGKILL under write load ${ROUNDS} times loses nothing acknowledged`, async () => {
  const srv = await startServer({ tenants: ['acme'] });
  let total = 0;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const l = load(srv, round);
      // Kill only once writes are being acknowledged (a loaded machine can
      // take longer than any fixed pause to answer the first one), then at
      // a moment that moves from round to round.
      await untilAcked(l);
      await new Promise((r) => setTimeout(r, 40 * round));
      const killed = await srv.kill('SIGKILL');
      assert.equal(killed.signal, 'SIGKILL');
      await l.finish();
      assert.ok(l.acked.length > 0, `round ${round}: some writes were acknowledged`);
      total += l.acked.length;
      const v = verify(srv.db);
      assert.equal(v.status, 0, `verify after kill ${round}: ${v.stdout}${v.stderr}`);
      const t0 = Date.now();
      await srv.restart();
      const t1 = Date.now();
      await checkAcked(srv, l.acked);
      if (process.env.JIFEN_TEST_DEBUG) console.log(`round ${round}: acked ${l.acked.length} restart ${t1 - t0} ms check ${Date.now() - t1} ms`);
    }
    // Graceful stop under load: exit 0, nothing acknowledged lost.
    const l = load(srv, 'term');
    await untilAcked(l);
    const term = await srv.kill('SIGTERM');
    assert.equal(term.code, 0, 'SIGTERM under load exits 0');
    await l.finish();
    await srv.restart();
    await checkAcked(srv, l.acked);
    assert.ok(total > ROUNDS);
  } finally {
    await srv.stop();
  }
});
