// Earning rules and events: each award kind, multipliers and how they
// combine, caps at the boundary and one past it, frequency windows at
// tenant-time midnight / week / month ends, refunds (full, partial,
// repeated), dry runs, rule versions on awards, and bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';

let srv;
before(async () => { srv = await startServer({ tenants: ['acme', 'beta'], testClock: true }); });
after(async () => { assert.equal((await srv.stop()).code, 0); });

// Tenant acme is Asia/Shanghai (+08:00).  2030-03-04 is a Monday.
const MON = '2030-03-04T10:00:00+08:00';
const call = (method, path, body, now = MON, tenant = 'acme') =>
  srv.req(method, path, { key: tenant, body, headers: { 'x-jifen-now': now } });
let n = 0;
const ev = (member, body, now = MON, tenant = 'acme') =>
  call('POST', '/v1/events', { type: 'order.paid', member_id: member, event_id: `e${++n}`, ...body }, now, tenant);
const rule = async (def, tenant = 'acme') => {
  const r = await call('POST', '/v1/rules', def, MON, tenant);
  assert.equal(r.status, 201, r.text);
  return r.json;
};
const member = async (id, tenant = 'acme') => (await call('GET', `/v1/members/${id}`, undefined, MON, tenant)).json;

test('fixed, rate and per-item awards with explanations; versions recorded', async () => {
  const base = await rule({ name: 'base', event_type: 'shop.paid', award: { rate: { points: 1, per_fen: 100 } } });
  const fixed = await rule({ name: 'bonus', event_type: 'shop.paid', when: 'amount_fen >= 10000', award: { points: 20 } });
  const cat = await rule({ name: 'fresh x2', event_type: 'shop.paid', award: { rate: { points: 1, per_fen: 100 }, item_multipliers: [{ category: '生鲜', multiplier: 2 }, { sku: 'S9', multiplier: 5 }] } });
  const r = await call('POST', '/v1/events', { type: 'shop.paid', member_id: 'a1', event_id: 'a1-1', amount_fen: 12800,
    items: [{ sku: 'S1', category: '生鲜', amount_fen: 3000 }, { sku: 'S9', category: 'x', amount_fen: 100 }, { sku: 'S2', amount_fen: 9700 }] });
  assert.equal(r.status, 201, r.text);
  const by = Object.fromEntries(r.json.awards.map((a) => [a.rule_id, a]));
  assert.equal(by[base.id].points, 128);
  assert.equal(by[base.id].explanation, '12,800 fen → 128 points at 1 per 100 fen');
  assert.equal(by[base.id].rule_version, 1);
  assert.equal(by[fixed.id].points, 20);
  assert.equal(by[cat.id].points, 162, by[cat.id].explanation); // 12,800 + 3,000 + 4*100 = 16,200 fen
  assert.match(by[cat.id].explanation, /3,000 fen of 生鲜 ×2/);
  assert.equal(r.json.points_awarded, 128 + 20 + 162);
  assert.equal(r.json.member.points.available, 310);
  // A change makes version 2; the next award records it, the earlier stays 1.
  const put = await call('PUT', `/v1/rules/${base.id}`, { name: 'base', event_type: 'shop.paid', award: { rate: { points: 2, per_fen: 100 } } });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.version, 2);
  const r2 = await call('POST', '/v1/events', { type: 'shop.paid', member_id: 'a1', event_id: 'a1-2', amount_fen: 100 });
  assert.equal(r2.json.awards.find((a) => a.rule_id === base.id).rule_version, 2);
  assert.equal(r2.json.awards.find((a) => a.rule_id === base.id).points, 2);
  const not = r2.json.not_awarded.find((a) => a.rule_id === fixed.id);
  assert.equal(not.status, 'no_match');
  const replay = await call('POST', '/v1/events', { type: 'shop.paid', member_id: 'a1', event_id: 'a1-1', amount_fen: 12800,
    items: [{ sku: 'S1', category: '生鲜', amount_fen: 3000 }, { sku: 'S9', category: 'x', amount_fen: 100 }, { sku: 'S2', amount_fen: 9700 }] });
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  assert.equal(replay.json.awards.find((a) => a.rule_id === base.id).rule_version, 1, 'the award keeps the version that produced it');
  assert.equal(replay.json.points_awarded, 310);
  const conflict = await call('POST', '/v1/events', { type: 'shop.paid', member_id: 'a1', event_id: 'a1-1', amount_fen: 1 });
  assert.equal(conflict.status, 409);
  assert.equal(conflict.json.code, 'idempotency_conflict');
  // Disable: no longer evaluated; a new version.
  const off = await call('PATCH', `/v1/rules/${fixed.id}`, { enabled: false });
  assert.equal(off.json.enabled, false);
  assert.equal(off.json.version, 2);
  const r3 = await call('POST', '/v1/events', { type: 'shop.paid', member_id: 'a1', event_id: 'a1-3', amount_fen: 20000 });
  assert.ok(!r3.json.awards.some((a) => a.rule_id === fixed.id));
  const list = await call('GET', '/v1/rules?limit=2');
  assert.equal(list.json.rules.length, 2);
  assert.ok(list.json.next_cursor);
});

test('campaign multipliers: weekend x3, member day, multiply vs max', async () => {
  const def = (combine) => ({ name: `camp-${combine}`, event_type: `camp.${combine}`, combine, award: { points: 10 },
    campaigns: [{ name: 'weekend', multiplier: 3, weekdays: [6, 7] }, { name: 'member day', multiplier: 2, month_day: 9 },
      { name: 'double 11', multiplier: 4, from: '2030-11-01', to: '2030-11-11' }] });
  await rule(def('multiply'));
  await rule(def('max'));
  const at = async (type, now) => (await call('POST', '/v1/events', { type, member_id: 'c1', event_id: `c-${++n}` }, now)).json.awards[0];
  assert.equal((await at('camp.multiply', '2030-03-04T10:00:00+08:00')).points, 10, 'Monday: none');
  // Saturday 2030-03-09 00:30 in Shanghai is Friday 16:30Z: tenant time decides.
  const sat = await at('camp.multiply', '2030-03-08T16:30:00Z');
  assert.equal(sat.points, 60, sat.explanation);
  assert.equal(sat.explanation, '10 points; weekend ×3, member day ×2 → 60');
  assert.equal((await at('camp.max', '2030-03-08T16:30:00Z')).points, 30);
  assert.equal((await at('camp.multiply', '2030-03-08T15:59:59Z')).points, 10, 'Friday 23:59:59 in Shanghai');
  assert.equal((await at('camp.max', '2030-11-11T23:59:59+08:00')).points, 40);
  assert.equal((await at('camp.max', '2030-11-12T00:00:00+08:00')).points, 10);
});

test('caps: per award, daily and monthly exactly at the boundary and one past it; budget', async () => {
  const r = await rule({ name: 'capped', event_type: 'cap.test', award: { rate: { points: 1, per_fen: 1 } }, caps: { per_award: 300, member_day: 500, member_month: 700 } });
  const e = async (fen, now) => (await call('POST', '/v1/events', { type: 'cap.test', member_id: 'k1', event_id: `k-${++n}`, amount_fen: fen }, now)).json;
  let x = await e(300, '2030-03-04T09:00:00+08:00');
  assert.equal(x.awards[0].points, 300);
  assert.equal(x.awards[0].capped, false, 'exactly at the per-award cap');
  x = await e(301, '2030-03-04T09:00:00+08:00');
  assert.equal(x.awards[0].points, 200, x.awards[0].explanation);
  assert.equal(x.awards[0].capped, true);
  assert.match(x.awards[0].explanation, /capped at 300 by the per-award cap; capped at 200 by the daily limit/);
  x = await e(1, '2030-03-04T23:59:59+08:00');
  assert.equal(x.not_awarded[0].status, 'limited', 'the daily limit of 500 is reached');
  assert.match(x.not_awarded[0].explanation, /daily limit of 500 is reached/);
  x = await e(200, '2030-03-05T00:00:00+08:00'); // next tenant day; month 500 + 200 = 700 exactly
  assert.equal(x.awards[0].points, 200);
  x = await e(1, '2030-03-06T00:00:00+08:00');
  assert.equal(x.not_awarded[0].status, 'limited');
  assert.match(x.not_awarded[0].explanation, /monthly limit of 700/);
  x = await e(5, '2030-04-01T00:00:00+08:00');
  assert.equal(x.awards[0].points, 5, 'a new month');
  assert.equal(r.caps.member_day, 500);
  await rule({ name: 'budget', event_type: 'budget.test', award: { points: 40 }, caps: { budget: 100 } });
  const b = async (m) => (await call('POST', '/v1/events', { type: 'budget.test', member_id: m, event_id: `b-${++n}` })).json;
  assert.equal((await b('b1')).awards[0].points, 40);
  assert.equal((await b('b2')).awards[0].points, 40);
  const third = await b('b3');
  assert.equal(third.awards[0].points, 20);
  assert.match(third.awards[0].explanation, /campaign budget/);
  assert.equal((await b('b4')).not_awarded[0].status, 'limited');
});

test('frequency: once ever, once per day / week / month at tenant-time boundaries', async () => {
  await rule({ name: 'first', event_type: 'f.once', frequency: 'once', award: { points: 100 } });
  await rule({ name: 'daily', event_type: 'f.day', frequency: 'day', award: { points: 1 } });
  await rule({ name: 'weekly', event_type: 'f.week', frequency: 'week', award: { points: 1 } });
  await rule({ name: 'monthly', event_type: 'f.month', frequency: 'month', award: { points: 30 } });
  const got = async (type, now) => (await call('POST', '/v1/events', { type, member_id: 'q1', event_id: `q-${++n}` }, now)).json.points_awarded;
  assert.equal(await got('f.once', '2030-03-04T10:00:00+08:00'), 100);
  assert.equal(await got('f.once', '2030-06-04T10:00:00+08:00'), 0);
  assert.equal(await got('f.day', '2030-03-04T23:59:59+08:00'), 1);
  assert.equal(await got('f.day', '2030-03-04T00:00:00+08:00'), 0, 'the same tenant day');
  assert.equal(await got('f.day', '2030-03-04T16:00:00Z'), 1, '16:00Z is midnight in Shanghai: a new day');
  assert.equal(await got('f.week', '2030-03-10T23:59:59+08:00'), 1, 'Sunday');
  assert.equal(await got('f.week', '2030-03-04T00:00:00+08:00'), 0, 'Monday of the same week');
  assert.equal(await got('f.week', '2030-03-11T00:00:00+08:00'), 1, 'the next Monday');
  assert.equal(await got('f.month', '2030-03-31T23:59:59+08:00'), 30);
  assert.equal(await got('f.month', '2030-03-01T00:00:00+08:00'), 0);
  assert.equal(await got('f.month', '2030-04-01T00:00:00+08:00'), 30, 'first order of the month');
});

test('refunds: partial, repeated, full; never more than the order', async () => {
  await rule({ name: 'r-rate', event_type: 'order.paid', award: { rate: { points: 1, per_fen: 100 } } }, 'beta');
  await rule({ name: 'r-fixed', event_type: 'order.paid', award: { points: 7 } }, 'beta');
  const paid = await call('POST', '/v1/events', { type: 'order.paid', member_id: 'r1', event_id: 'o-1', amount_fen: 10000 }, MON, 'beta');
  assert.equal(paid.json.points_awarded, 107);
  const refund = (id, body) => call('POST', '/v1/events', { type: 'order.refunded', member_id: 'r1', event_id: id, refund_of: 'o-1', ...body }, MON, 'beta');
  const dry = await call('POST', '/v1/events/dry-run', { type: 'order.refunded', member_id: 'r1', event_id: 'rf-1', refund_of: 'o-1', amount_fen: 2500 }, MON, 'beta');
  assert.equal(dry.status, 200, dry.text);
  assert.equal(dry.json.refund.points_reversed, 27);
  assert.equal((await member('r1', 'beta')).points.available, 107, 'a dry run writes nothing');
  const p1 = await refund('rf-1', { amount_fen: 2500 });
  assert.equal(p1.status, 201, p1.text);
  // keep floor(100 × 7500/10000) = 75 and floor(7 × 0.75) = 5: reverse 25 + 2
  assert.equal(p1.json.refund.points_reversed, 27);
  assert.equal(p1.json.refund.refunded_fen, 2500);
  assert.equal(p1.json.member.points.available, 80);
  const again = await refund('rf-1', { amount_fen: 2500 });
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.equal((await member('r1', 'beta')).points.available, 80, 'a replayed refund reverses nothing more');
  const p2 = await refund('rf-2', { amount_fen: 5000 });
  assert.equal(p2.json.refund.points_reversed, 50 + 4); // keep floor(7 × 0.25) = 1
  const over = await refund('rf-3', { amount_fen: 2501 });
  assert.equal(over.status, 409);
  assert.equal(over.json.code, 'reversal_exceeded');
  const rest = await refund('rf-4', {});
  assert.equal(rest.status, 201, rest.text);
  assert.equal(rest.json.refund.refunded_fen, 10000);
  assert.equal(rest.json.member.points.available, 0, 'the whole order is taken back');
  assert.equal(rest.json.member.points.earned, 0);
  const more = await refund('rf-5', {});
  assert.equal(more.status, 409);
  const missing = await call('POST', '/v1/events', { type: 'order.refunded', member_id: 'r1', event_id: 'rf-6', refund_of: 'nope' }, MON, 'beta');
  assert.equal(missing.status, 404);
  assert.equal(missing.json.field, 'refund_of');
});

test('dry run: the same answer, nothing written', async () => {
  await rule({ name: 'dry', event_type: 'dry.test', award: { points: 5 }, frequency: 'once' });
  const body = { type: 'dry.test', member_id: 'dry1', event_id: 'd-1' };
  const d = await call('POST', '/v1/events/dry-run', body);
  assert.equal(d.status, 200, d.text);
  assert.equal(d.json.dry_run, true);
  assert.equal(d.json.points_awarded, 5);
  assert.equal(d.json.member, null, 'the member is not created');
  assert.equal((await call('GET', '/v1/members/dry1')).status, 404);
  const w = await call('POST', '/v1/events', body);
  assert.equal(w.json.points_awarded, 5);
  const d2 = await call('POST', '/v1/events/dry-run', { ...body, event_id: 'd-2' });
  assert.equal(d2.json.points_awarded, 0, 'the dry run sees the frequency');
  assert.equal((await member('dry1')).points.available, 5);
});

test('pending and expiring awards', async () => {
  await rule({ name: 'pending', event_type: 'pend.test', award: { points: 9 }, pending_days: 7, expires_days: 30 });
  const r = await call('POST', '/v1/events', { type: 'pend.test', member_id: 'p1', event_id: 'p-1' });
  assert.equal(r.json.awards[0].pending_until, '2030-03-11T10:00:00+08:00');
  assert.equal(r.json.member.points.pending, 9);
  const lots = await call('GET', '/v1/members/p1/lots');
  assert.equal(lots.json.lots[0].expires_at, '2030-04-03T10:00:00+08:00');
});

test('bad input: clear errors, nothing written', async () => {
  const bad = async (path, body, status, code, field) => {
    const r = await call('POST', path, body);
    assert.equal(r.status, status, `${JSON.stringify(body)} → ${r.text}`);
    assert.equal(r.json.code, code);
    if (field !== undefined) assert.equal(r.json.field, field);
    return r;
  };
  const compile = await bad('/v1/rules', { name: 'x', event_type: 'order.paid', when: 'amont_fen >= 100', award: { points: 1 } }, 422, 'rule_invalid', 'when');
  assert.match(compile.json.detail, /unknown field "amont_fen" at 1:1 \(did you mean "amount_fen"\?\)/);
  await bad('/v1/rules', { name: 'x', event_type: 'order.paid', when: 'amount_fen', award: { points: 1 } }, 422, 'rule_invalid', 'when');
  await bad('/v1/rules', { name: 'x', event_type: 'order.paid', award: { points: 1 }, colour: 'red' }, 400, 'invalid_field', 'colour');
  await bad('/v1/rules', { name: 'x', event_type: 'order.paid', award: { points: 1, rate: { points: 1, per_fen: 1 } } }, 400, 'invalid_field', 'award');
  await bad('/v1/rules', { name: 'x', event_type: 'order.paid', award: { rate: { points: 1, per_fen: 0 } } }, 400, 'invalid_field', 'award.rate.per_fen');
  await bad('/v1/rules', { name: 'x', event_type: 'order.paid', award: { points: 1 }, campaigns: [{ name: 'w', multiplier: 101 }] }, 400, 'invalid_field', 'campaigns[0].multiplier');
  await bad('/v1/rules', { name: 'x', event_type: 'order.paid', award: { points: 1 }, frequency: 'hourly' }, 400, 'invalid_field', 'frequency');
  await bad('/v1/rules', { name: 'x', event_type: 'Order Paid', award: { points: 1 } }, 400, 'invalid_field', 'event_type');
  await bad('/v1/rules', '{"name": ', 400, 'invalid_json');
  await bad('/v1/events', { type: 'order.paid', member_id: 'z1', event_id: 'z-1', colour: 1 }, 400, 'invalid_field', 'colour');
  await bad('/v1/events', { type: 'order.paid', member_id: 'z1' }, 400, 'invalid_field', 'event_id');
  await bad('/v1/events', { type: 'order.paid', member_id: 'z1', event_id: 'z-1', amount_fen: -1 }, 400, 'invalid_field', 'amount_fen');
  await bad('/v1/events', { type: 'order.paid', member_id: 'z1', event_id: 'z-1', items: [{ sku: 'a' }] }, 400, 'invalid_field', 'items[0].amount_fen');
  await bad('/v1/events', { type: 'order.paid', member_id: 'z1', event_id: 'z-1', attributes: { x: [[1]] } }, 400, 'invalid_field', 'attributes.x[0]');
  await bad('/v1/events', { type: 'order.paid', member_id: 'z1', event_id: 'z-1', occurred_at: '2030-03-05T10:00:00+08:00' }, 400, 'invalid_field', 'occurred_at');
  await bad('/v1/events', { type: 'order.paid', member_id: 'z1', event_id: 'z-1', refund_of: 'x' }, 400, 'invalid_field', 'refund_of');
  assert.equal((await call('GET', '/v1/members/z1')).status, 404, 'nothing written');
  const app = await call('GET', '/v1/rules/999');
  assert.equal(app.status, 404);
});

test('a condition that fails to evaluate is reported, other rules still award', async () => {
  await rule({ name: 'needs attr', event_type: 'review.posted', when: 'attributes.with_picture', award: { points: 20 } });
  await rule({ name: 'guarded', event_type: 'review.posted', when: 'has(attributes.with_picture) and attributes.with_picture', award: { points: 20 } });
  await rule({ name: 'plain', event_type: 'review.posted', when: 'not has(attributes.with_picture) or not attributes.with_picture', award: { points: 10 } });
  const plain = await call('POST', '/v1/events', { type: 'review.posted', member_id: 'rv', event_id: 'rv-1' });
  assert.equal(plain.json.points_awarded, 10);
  const err = plain.json.not_awarded.find((a) => a.status === 'condition_error');
  assert.match(err.explanation, /attribute "with_picture" is missing at 1:1/);
  const pic = await call('POST', '/v1/events', { type: 'review.posted', member_id: 'rv', event_id: 'rv-2', attributes: { with_picture: true } });
  assert.equal(pic.json.points_awarded, 40);
});
