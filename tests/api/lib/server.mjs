// server.mjs — start a real `jifen serve` on a fresh database for a test.
//
//   const srv = await startServer({ tenants: ['acme', 'beta'], testClock: true });
//   const r = await srv.api('acme', 'POST', '/v1/members/m1/earn', { points: 5, biz_no: 'x' });
//   await srv.stop();             // SIGTERM, expects exit 0
//
// The binary is $JIFEN_BIN (the Makefile sets it), else build/jifen.  Tenants
// are created with `jifen init`, whose JSON stdout carries the admin key.  The
// server listens on port 0 and prints the port it got; we read it from stdout.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const BIN = process.env.JIFEN_BIN || resolve(import.meta.dirname, '../../../build/jifen');

export function jifen(args, opts = {}) {
  return execFileSync(BIN, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

// Run `jifen verify --db`; returns {status, stdout, stderr}.
export function verify(db) {
  try {
    const stdout = jifen(['verify', '--db', db]);
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    return { status: e.status, stdout: String(e.stdout), stderr: String(e.stderr) };
  }
}

export function initTenant(db, slug, extra = []) {
  const out = JSON.parse(jifen(['init', '--db', db, '--tenant', slug, ...extra]));
  if (!out.admin_key) throw new Error(`jifen init printed no admin_key: ${JSON.stringify(out)}`);
  return out.admin_key;
}

// Start a server process on an existing database; resolves once it listens.
export function spawnServer(db, { testClock = false, threads = 2, env = {} } = {}) {
  const args = ['serve', '--db', db, '--listen', '127.0.0.1:0', '--threads', String(threads)];
  if (testClock) args.push('--test-clock');
  if (!process.env.JIFEN_TEST_ACCESS_LOG) args.push('--no-access-log');
  // Under the sanitizer build: h2o's per-connection memory is left to the
  // exit on purpose (see lsan.supp); everything else is still checked.
  const lsan = { LSAN_OPTIONS: `suppressions=${resolve(import.meta.dirname, '../lsan.supp')}:print_suppressions=0` };
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...lsan, ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolveP, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 10000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/([^:]+):(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolveP({ child, base: `http://127.0.0.1:${m[2]}`, stderr: () => stderr });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening: ${stderr}`));
    });
  });
}

export async function waitHealthy(base) {
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server not healthy');
}

export function waitExit(child) {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
}

export async function startServer({ tenants = ['acme'], testClock = false, threads = 2 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'jifen-api-'));
  const db = join(dir, 'jifen.db');
  const keys = {};
  for (const t of tenants) keys[t] = initTenant(db, t);
  let proc = await spawnServer(db, { testClock, threads });
  await waitHealthy(proc.base);

  const srv = {
    dir, db, keys,
    get base() { return proc.base; },
    get child() { return proc.child; },
    // fetch with JSON body and the tenant's key (or an explicit key string).
    async req(method, path, { key, body, raw, headers = {} } = {}) {
      const h = { ...headers };
      if (key) h.authorization = `Bearer ${keys[key] ?? key}`;
      let payload;
      if (raw !== undefined) payload = raw;
      else if (body !== undefined) {
        payload = JSON.stringify(body);
        if (!('content-type' in h)) h['content-type'] = 'application/json';
      }
      const r = await fetch(`${proc.base}${path}`, { method, headers: h, body: payload });
      const text = await r.text();
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      return { status: r.status, headers: r.headers, text, json };
    },
    api(tenant, method, path, body, headers) {
      return srv.req(method, path, { key: tenant, body, headers });
    },
    async restart(opts = {}) {
      proc = await spawnServer(db, { testClock, threads, ...opts });
      await waitHealthy(proc.base);
    },
    async kill(signal = 'SIGKILL') {
      proc.child.kill(signal);
      return waitExit(proc.child);
    },
    async stop() {
      const exited = waitExit(proc.child);
      proc.child.kill('SIGTERM');
      const r = await exited;
      rmSync(dir, { recursive: true, force: true });
      return r;
    },
    stderr: () => proc.stderr(),
  };
  return srv;
}
