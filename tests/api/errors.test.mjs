// Every documented error code, and hostile input: each gets its documented
// 4xx as problem+json, the server keeps serving, and nothing is written.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer } from './lib/server.mjs';

let srv;
before(async () => {
  srv = await startServer({ tenants: ['acme'] });
  await srv.api('acme', 'POST', '/v1/members/m1/earn', { points: 10, biz_no: 'seed-1' });
});
after(async () => { assert.equal((await srv.stop()).code, 0); });

function assertProblem(r, status, code, field) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.headers.get('content-type'), 'application/problem+json');
  assert.equal(r.json.code, code);
  assert.equal(r.json.status, status);
  assert.equal(r.json.type, `urn:jifen:problem:${code}`);
  assert.equal(typeof r.json.title, 'string');
  assert.equal(typeof r.json.detail, 'string');
  if (field !== undefined) assert.equal(r.json.field, field);
}

// The member's books must not change from any bad request.
async function unchanged() {
  const m = await srv.api('acme', 'GET', '/v1/members/m1');
  assert.equal(m.json.points.available, 10);
  assert.equal(m.json.entries, 1);
}

// Raw HTTP/1.1 over a socket, for requests fetch refuses to send.
function rawRequest(text, { port = new URL(srv.base).port, waitMs = 2000 } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect(Number(port), '127.0.0.1');
    let data = '';
    sock.on('data', (d) => { data += d; });
    sock.on('error', () => resolve(data));
    sock.on('close', () => resolve(data));
    sock.write(text);
    setTimeout(() => { sock.destroy(); resolve(data); }, waitMs);
  });
}

const earn = (body, headers) => srv.req('POST', '/v1/members/m1/earn', { key: 'acme', raw: body, headers: { 'content-type': 'application/json', ...headers } });

test('401 unauthorized: no key, malformed key, unknown key', async () => {
  assertProblem(await srv.req('GET', '/v1/members/m1'), 401, 'unauthorized');
  assertProblem(await srv.req('GET', '/v1/members/m1', { key: 'nope' }), 401, 'unauthorized');
  assertProblem(await srv.req('GET', '/v1/members/m1', { key: 'jf_live_' + 'A'.repeat(43) }), 401, 'unauthorized');
  const basic = await srv.req('GET', '/v1/members/m1', { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
  assertProblem(basic, 401, 'unauthorized');
});

test('404 not_found: unknown member, hold, key and route', async () => {
  assertProblem(await srv.api('acme', 'GET', '/v1/members/nobody'), 404, 'not_found', 'member_id');
  assertProblem(await srv.api('acme', 'POST', '/v1/holds/999999/release', { biz_no: 'r-404' }), 404, 'not_found');
  assertProblem(await srv.api('acme', 'DELETE', '/v1/keys/999999'), 404, 'not_found');
  assertProblem(await srv.req('GET', '/v1/nothing-here'), 404, 'not_found');
  assertProblem(await srv.req('GET', '/'), 404, 'not_found');
  assertProblem(await srv.api('acme', 'GET', '/v1/members/m1/entries/extra'), 404, 'not_found');
});

test('405 method_not_allowed with Allow', async () => {
  const r = await srv.api('acme', 'DELETE', '/v1/members/m1');
  assertProblem(r, 405, 'method_not_allowed');
  assert.equal(r.headers.get('allow'), 'PUT, GET');
  assertProblem(await srv.req('POST', '/healthz'), 405, 'method_not_allowed');
});

test('409 insufficient_points and idempotency_conflict', async () => {
  assertProblem(await srv.api('acme', 'POST', '/v1/members/m1/spend', { points: 11, biz_no: 'too-much' }), 409, 'insufficient_points', 'points');
  assertProblem(await srv.api('acme', 'POST', '/v1/members/m1/earn', { points: 11, biz_no: 'seed-1' }), 409, 'idempotency_conflict');
  assertProblem(await srv.api('acme', 'POST', '/v1/members/m1/spend', { points: 10, biz_no: 'seed-1' }), 409, 'idempotency_conflict');
  await unchanged();
});

test('400 invalid_json with line and column', async () => {
  const r = await earn('{\n  "points": 5,\n  "biz_no": }');
  assertProblem(r, 400, 'invalid_json');
  assert.equal(r.json.line, 3);
  assert.ok(r.json.column > 0);
  assert.match(r.json.detail, /line 3, column/);
  for (const body of ['{"points": 5, "biz_', '{', '[1,2', '"just a string"', '[]', 'null', '{"a":1}{"b":2}', '{"points":5,"points":6,"biz_no":"d"}', '']) {
    assertProblem(await earn(body), 400, 'invalid_json');
  }
  await unchanged();
});

test('400 invalid_field naming the field: unknown, missing, wrong type, bounds', async () => {
  const cases = [
    [{ points: 5, biz_no: 'f1', pionts: 5 }, 'pionts'],
    [{ biz_no: 'f2' }, 'points'],
    [{ points: 5 }, 'biz_no'],
    [{ points: '5', biz_no: 'f3' }, 'points'],
    [{ points: 5.5, biz_no: 'f4' }, 'points'],
    [{ points: 0, biz_no: 'f5' }, 'points'],
    [{ points: -5, biz_no: 'f6' }, 'points'],
    [{ points: 2 ** 53 + 2, biz_no: 'f7' }, 'points'],
    [{ points: 1000000000001, biz_no: 'f8' }, 'points'],
    [{ points: 5, biz_no: 'has space' }, 'biz_no'],
    [{ points: 5, biz_no: 'x'.repeat(65) }, 'biz_no'],
    [{ points: 5, biz_no: '' }, 'biz_no'],
    [{ points: 5, biz_no: 5 }, 'biz_no'],
    [{ points: 5, biz_no: 'f9', scene: 'UPPER' }, 'scene'],
    [{ points: 5, biz_no: 'f10', reason: 'x'.repeat(257) }, 'reason'],
    [{ points: 5, biz_no: 'f11', reason: 'tab\there' }, 'reason'],
    [{ points: 5, biz_no: 'f12', expires_at: 'tomorrow' }, 'expires_at'],
    [{ points: 5, biz_no: 'f13', expires_at: '2026-01-01T00:00:00' }, 'expires_at'],
    [{ points: 5, biz_no: 'f14', expires_at: '1990-01-01T00:00:00Z' }, 'expires_at'],
    [{ points: 5, biz_no: 'f15', nested: { a: 1 } }, 'nested'],
    [{ points: [5], biz_no: 'f16' }, 'points'],
    [{ points: true, biz_no: 'f17' }, 'points'],
    [{ points: null, biz_no: 'f18' }, 'points'],
  ];
  for (const [body, field] of cases) {
    const r = await srv.api('acme', 'POST', '/v1/members/m1/earn', body);
    assertProblem(r, 400, 'invalid_field', field);
  }
  // 1e3 written literally is a JSON real: refused
  assertProblem(await earn('{"points":1e3,"biz_no":"lit-1e3"}'), 400, 'invalid_field', 'points');
  assertProblem(await earn('{"points":5.0,"biz_no":"lit-5.0"}'), 400, 'invalid_field', 'points');
  // beyond int64: jansson refuses the number itself
  assertProblem(await earn('{"points":99999999999999999999,"biz_no":"huge"}'), 400, 'invalid_json');
  assertProblem(await srv.api('acme', 'POST', '/v1/members/bad%20id/earn', { points: 1, biz_no: 'bad-id' }), 400, 'invalid_field', 'member_id');
  assertProblem(await srv.api('acme', 'POST', `/v1/members/${'x'.repeat(65)}/earn`, { points: 1, biz_no: 'long-id' }), 400, 'invalid_field', 'member_id');
  assertProblem(await srv.api('acme', 'POST', '/v1/holds/abc/capture', { biz_no: 'cap-abc' }), 400, 'invalid_field', 'hold_id');
  assertProblem(await srv.api('acme', 'POST', '/v1/members/m1/holds', { points: 1, biz_no: 'ttl', ttl_s: 0 }), 400, 'invalid_field', 'ttl_s');
  assertProblem(await srv.api('acme', 'POST', '/v1/members/m1/adjustments', { points: 0, biz_no: 'adj0', reason: 'x' }), 400, 'invalid_field', 'points');
  assertProblem(await srv.api('acme', 'GET', '/v1/members/m1/entries?limit=0'), 400, 'invalid_field', 'limit');
  assertProblem(await srv.api('acme', 'GET', '/v1/members/m1/entries?limit=201'), 400, 'invalid_field', 'limit');
  assertProblem(await srv.api('acme', 'GET', '/v1/members/m1/entries?colour=red'), 400, 'invalid_field', 'colour');
  assertProblem(await srv.api('acme', 'GET', '/v1/members/m1/entries?kind=gift'), 400, 'invalid_field', 'kind');
  assertProblem(await srv.api('acme', 'GET', '/v1/members/m1/expiring?days=0'), 400, 'invalid_field', 'days');
  assertProblem(await srv.api('acme', 'POST', '/v1/keys', { role: 'root', name: 'x' }), 400, 'invalid_field', 'role');
});

test('400 invalid_json: invalid UTF-8 and deep nesting', async () => {
  const bad = Buffer.concat([Buffer.from('{"points":5,"biz_no":"u1","reason":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
  assertProblem(await earn(bad), 400, 'invalid_json');
  const overlong = Buffer.concat([Buffer.from('{"points":5,"biz_no":"u2","reason":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]);
  assertProblem(await earn(overlong), 400, 'invalid_json');
  assertProblem(await earn('{"points":5,"biz_no":"u3","reason":"a\\u0000b"}'), 400, 'invalid_json');
  const deep = '['.repeat(30000) + ']'.repeat(30000); // deeper than jansson's 2048, within 64 KiB
  assertProblem(await earn(deep), 400, 'invalid_json');
  const deepObj = '{"a":'.repeat(3000) + '1' + '}'.repeat(3000);
  assertProblem(await earn(deepObj), 400, 'invalid_json');
  const nestedOk = '{"points":5,"biz_no":"u4","reason":' + '['.repeat(100) + ']'.repeat(100) + '}';
  assertProblem(await earn(nestedOk), 400, 'invalid_field', 'reason');
  await unchanged();
});

test('415 unsupported_media_type, 413 payload_too_large, 414 uri_too_long, 431 headers', async () => {
  const form = await srv.req('POST', '/v1/members/m1/earn', { key: 'acme', raw: 'points=5&biz_no=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assertProblem(form, 415, 'unsupported_media_type');
  const none = await srv.req('POST', '/v1/members/m1/earn', { key: 'acme', raw: '{"points":5,"biz_no":"ct"}', headers: { 'content-type': 'text/plain' } });
  assertProblem(none, 415, 'unsupported_media_type');
  const charset = await srv.req('POST', '/v1/members/m2/earn', { key: 'acme', raw: '{"points":1,"biz_no":"cs"}', headers: { 'content-type': 'application/json; charset=utf-8' } });
  assert.equal(charset.status, 201, 'parameters on application/json are fine');

  const big = JSON.stringify({ points: 5, biz_no: 'big', reason: 'x'.repeat(70 * 1024) });
  assertProblem(await earn(big), 413, 'payload_too_large');
  assertProblem(await srv.req('GET', '/v1/members/' + 'a'.repeat(5000), { key: 'acme' }), 414, 'uri_too_long');
  const many = {};
  for (let i = 0; i < 80; i++) many[`x-h${i}`] = 'v';
  assertProblem(await srv.req('GET', '/v1/members/m1', { key: 'acme', headers: many }), 431, 'headers_too_large');
  assertProblem(await srv.req('GET', '/v1/members/m1', { key: 'acme', headers: { 'x-big': 'y'.repeat(20000) } }), 431, 'headers_too_large');
  // Far beyond any limit: h2o refuses the head itself; the server lives on.
  const huge = await rawRequest(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Huge: ${'z'.repeat(600 * 1024)}\r\n\r\n`);
  assert.ok(huge === '' || /^HTTP\/1\.1 4\d\d/.test(huge), huge.slice(0, 80));
  assert.equal((await srv.req('GET', '/healthz')).status, 200);
  await unchanged();
});

test('truncated bodies and a silent client do not hang or write', async () => {
  const port = new URL(srv.base).port;
  const key = srv.keys.acme;
  // Content-Length promises more than is sent, then the client closes.
  const head = `POST /v1/members/m1/earn HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n`;
  await rawRequest(head + '{"points": 5, "biz_no": "tr', { port, waitMs: 300 });
  // Garbage instead of HTTP.
  const junk = await rawRequest('\x16\x03\x01garbage\r\n\r\n', { port, waitMs: 500 });
  assert.ok(junk === '' || /^HTTP\/1\.1 4\d\d/.test(junk));
  const r = await srv.req('GET', '/healthz');
  assert.equal(r.status, 200);
  await unchanged();
});

test('400 invalid_header: X-Jifen-Now without --test-clock', async () => {
  const r = await srv.req('GET', '/v1/members/m1', { key: 'acme', headers: { 'x-jifen-now': '2030-01-01T00:00:00Z' } });
  assertProblem(r, 400, 'invalid_header', 'X-Jifen-Now');
  const w = await srv.req('POST', '/v1/members/m1/earn', { key: 'acme', body: { points: 1, biz_no: 'clock-w' }, headers: { 'x-jifen-now': '2030-01-01T00:00:00Z' } });
  assertProblem(w, 400, 'invalid_header');
  await unchanged();
});

test('after all of that the server still serves and the books verify', async () => {
  const h = await srv.req('GET', '/healthz');
  assert.equal(h.status, 200);
  await unchanged();
});
