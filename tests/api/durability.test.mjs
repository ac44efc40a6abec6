// Deferred log syncs (docs/architecture.md): a write is answered only after
// the syncer has synced the log that holds it.  JIFEN_TEST_FAIL_LOG_SYNC=1
// makes every such sync fail as a failing disk would (EIO): the write that
// waited for it is answered 503, the server takes no more writes and
// /healthz says why.  The commit itself happened, so a retry with the same
// biz_no after a restart replays it: nothing is applied twice.  With
// --sync-each-commit the COMMIT syncs by itself and the syncer is not used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, verify } from './lib/server.mjs';

test('a failed log sync answers 503, stops writes and fails /healthz; a retry later replays', async () => {
  const srv = await startServer();
  await srv.kill('SIGTERM');
  await srv.restart({ env: { JIFEN_TEST_FAIL_LOG_SYNC: '1' } });

  const before = await srv.api('acme', 'GET', '/v1/members/dora');
  assert.equal(before.status, 404);
  const w = await srv.api('acme', 'POST', '/v1/members/dora/earn', { points: 7, biz_no: 'dora-1' });
  assert.equal(w.status, 503, w.text);
  assert.equal(w.json.code, 'unavailable');
  assert.match(w.json.detail, /durable/);

  const h = await srv.req('GET', '/healthz');
  assert.equal(h.status, 503);
  assert.match(h.json.detail, /sync of the write-ahead log failed/);
  const refused = await srv.api('acme', 'POST', '/v1/members/dora/earn', { points: 1, biz_no: 'dora-2' });
  assert.equal(refused.status, 503, 'no more writes after a failed sync');
  assert.match(srv.stderr(), /syncing the log failed/);

  // After a restart (a healthy disk again) the client retries with the same biz_no.
  await srv.kill('SIGTERM');
  await srv.restart();
  const again = await srv.api('acme', 'POST', '/v1/members/dora/earn', { points: 7, biz_no: 'dora-1' });
  assert.equal(again.status, 201, again.text);
  assert.equal(again.headers.get('idempotent-replayed'), 'true', 'the first attempt had committed');
  assert.equal(again.json.points.available, 7);
  const second = await srv.api('acme', 'POST', '/v1/members/dora/earn', { points: 1, biz_no: 'dora-2' });
  assert.equal(second.status, 201);
  assert.equal(second.headers.get('idempotent-replayed'), null, 'the refused write was never applied');
  assert.equal(second.json.points.available, 8);
  await srv.kill('SIGTERM');
  assert.equal(verify(srv.db).status, 0);
  await srv.restart();
  await srv.stop();
});

test('--sync-each-commit: the COMMIT syncs, the syncer is not used', async () => {
  const srv = await startServer();
  await srv.kill('SIGTERM');
  await srv.restart({ env: { JIFEN_TEST_FAIL_LOG_SYNC: '1', JIFEN_SYNC_EACH_COMMIT: '1' } });
  const w = await srv.api('acme', 'POST', '/v1/members/eve/earn', { points: 3, biz_no: 'eve-1' });
  assert.equal(w.status, 201, w.text);
  const h = await srv.req('GET', '/healthz');
  assert.equal(h.status, 200);
  const m = (await srv.req('GET', '/metrics')).text;
  const fsyncs = Number(m.match(/^jifen_fsyncs_total (\d+)$/m)[1]);
  const commits = Number(m.match(/^jifen_commits_total (\d+)$/m)[1]);
  assert.ok(commits >= 1);
  assert.equal(fsyncs, commits, 'one sync per commit');
  const r = await srv.stop();
  assert.equal(r.code, 0);
});
