// pg.mjs — `jifen serve` on PostgreSQL for the black-box tests: a fresh
// database per test on the cluster that `make test-pg` started
// (scripts/pg-test.sh; its URL in $JIFEN_TEST_PG_URL), and several server
// processes on it.
//
//   import { PG_URL, startPgServers } from './lib/pg.mjs';
//   test('…', { skip: !PG_URL && 'no JIFEN_TEST_PG_URL' }, async () => {
//     const fleet = await startPgServers({ servers: 2, tenants: ['acme'] });
//     await fleet.api(0, 'acme', 'POST', '/v1/members/m1/earn', { points: 5, biz_no: 'x' });
//     await fleet.stop();      // SIGTERM every server, expects exit 0
//   });
//
// Without $JIFEN_TEST_PG_URL (the plain `make test` API pass on SQLite) the
// tests using this skip.  A test that stops PostgreSQL starts a cluster of its
// own with startCluster() so that it disturbs no other test.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { initTenant, spawnServer, waitHealthy, waitExit } from './server.mjs';

export const PG_URL = process.env.JIFEN_TEST_PG_URL || '';
export const SKIP = PG_URL ? false : 'PostgreSQL tests need JIFEN_TEST_PG_URL (make test-pg sets it)';
export const PG_SCRIPT = process.env.JIFEN_PG_SCRIPT || resolve(import.meta.dirname, '../../../scripts/pg-test.sh');
const PGBIN = process.env.JIFEN_PGBIN || '/usr/lib/postgresql/15/bin';
const PSQL = existsSync(`${PGBIN}/psql`) ? `${PGBIN}/psql` : 'psql';

// The URL of database `name` on the cluster of `url` (the path names the
// database; the socket directory is in the query).
// (WHATWG URL refuses "postgresql://user@/db", so by pattern.)
export function databaseUrl(url, name) {
  const m = url.match(/^(postgres(?:ql)?:\/\/[^/?]*)(\/[^?]*)?(\?.*)?$/);
  if (!m) throw new Error(`not a postgres:// URL: ${url}`);
  return `${m[1]}/${name}${m[3] ?? ''}`;
}

let counter = 0;
// A new, empty database on the cluster; returns its URL.
export function createDatabase(url = PG_URL, prefix = 'api') {
  const name = `${prefix}_${process.pid}_${Date.now() % 1e8}_${counter++}`;
  execFileSync(PSQL, [url, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', `CREATE DATABASE ${name}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  return databaseUrl(url, name);
}

export function psql(url, sql) {
  return execFileSync(PSQL, [url, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

// A cluster of the test's own (initdb in a temporary directory): for tests
// that stop PostgreSQL.  cluster.crash() is `pg_ctl stop -m immediate`,
// cluster.resume() starts it again, cluster.stop() removes it.
export function startCluster(tag) {
  const env = { ...process.env, JIFEN_PG_STATE: resolve(import.meta.dirname, `../../../build/pg-api-${tag}.${process.pid}.state`) };
  const run = (cmd) => execFileSync(PG_SCRIPT, [cmd], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const url = run('start');
  return { url, crash: () => run('crash'), resume: () => run('resume'), stop: () => run('stop') };
}

// `servers` processes of `jifen serve` on one PostgreSQL database (a new one
// unless db is given); tenants are created first with `jifen init`.
// env: extra environment of every server (JIFEN_COMMITTERS, …).
export async function startPgServers({ servers = 1, tenants = ['acme'], threads = 2, testClock = false, db, env = {} } = {}) {
  const url = db || createDatabase();
  const keys = {};
  for (const t of tenants) keys[t] = initTenant(url, t);
  const procs = await Promise.all(Array.from({ length: servers }, () => spawnServer(url, { testClock, threads, env })));
  await Promise.all(procs.map((p) => waitHealthy(p.base)));

  const fleet = {
    url, keys, procs,
    // fetch on server i with JSON body and the tenant's key.
    async req(i, method, path, { key, body, headers = {} } = {}) {
      const h = { ...headers };
      if (key) h.authorization = `Bearer ${keys[key] ?? key}`;
      let payload;
      if (body !== undefined) {
        payload = JSON.stringify(body);
        h['content-type'] = 'application/json';
      }
      const r = await fetch(`${procs[i % procs.length].base}${path}`, { method, headers: h, body: payload });
      const text = await r.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: r.status, headers: r.headers, text, json };
    },
    api(i, tenant, method, path, body, headers) {
      return fleet.req(i, method, path, { key: tenant, body, headers });
    },
    // Start one more server on the same database.
    async add() {
      const p = await spawnServer(url, { testClock, threads });
      await waitHealthy(p.base);
      procs.push(p);
      return procs.length - 1;
    },
    stderr: () => procs.map((p, i) => `--- server ${i}\n${p.stderr()}`).join('\n'),
    async stop() {
      const codes = await Promise.all(procs.map((p) => {
        const exited = waitExit(p.child);
        p.child.kill('SIGTERM');
        return exited;
      }));
      return codes;
    },
  };
  return fleet;
}
