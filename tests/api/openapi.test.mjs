// The OpenAPI document lists exactly the routes of the route table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { jifen, startServer } from './lib/server.mjs';

const routes = JSON.parse(jifen(['serve', '--routes']));
const committed = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../docs/openapi.json'), 'utf8'));
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

function operations(doc) {
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths))
    for (const m of METHODS) if (item[m]) ops.push({ key: `${m.toUpperCase()} ${path}`, op: item[m] });
  return ops;
}

test('the served document is the committed one', async () => {
  const srv = await startServer({ tenants: ['acme'] });
  try {
    const r = await srv.req('GET', '/v1/openapi.json');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, committed);
  } finally { await srv.stop(); }
});

test('same routes and methods, same operation ids', () => {
  const fromTable = routes.map((r) => `${r.method} ${r.path}`).sort();
  const ops = operations(committed);
  assert.deepEqual(ops.map((o) => o.key).sort(), fromTable);
  for (const r of routes) {
    const { op } = ops.find((o) => o.key === `${r.method} ${r.path}`);
    assert.equal(op.operationId, r.name, `${r.method} ${r.path}`);
    assert.equal(!!op.requestBody, r.body, `${r.method} ${r.path} requestBody`);
    if (r.role === 'none') assert.deepEqual(op.security, [], `${r.path} is public`);
    else {
      assert.equal(op.security, undefined, `${r.path} uses the global bearer security`);
      assert.ok(op.responses['401'] && op.responses['403'], `${r.method} ${r.path} documents 401/403`);
    }
    const params = (r.path.match(/\{(\w+)\}/g) || []).map((p) => p.slice(1, -1));
    for (const p of params) assert.ok(op.parameters.some((x) => x.in === 'path' && x.name === p), `${r.path}: ${p}`);
    const ok = Object.keys(op.responses).filter((c) => c.startsWith('2'));
    assert.ok(ok.length > 0, `${r.method} ${r.path} has a success response`);
    assert.ok(op.responses['404'], `${r.method} ${r.path} documents 404`);
  }
});

test('every $ref resolves', () => {
  const walk = (v) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v && typeof v === 'object') {
      if (typeof v.$ref === 'string') {
        const parts = v.$ref.replace(/^#\//, '').split('/');
        let node = committed;
        for (const p of parts) node = node?.[p];
        assert.ok(node, `unresolved ${v.$ref}`);
      }
      Object.values(v).forEach(walk);
    }
  };
  walk(committed);
});
