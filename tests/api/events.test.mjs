// Events, the rest of issue 5: a replay answers the original body byte for
// byte (capped and pending awards, rules that gave nothing, tasks, refunds,
// the member as it was); the campaign budget counted at the boundary and
// one past it, given back by refunds and recounted when a budget is added;
// list attributes in conditions and every bad list refused with nothing
// written; member.orders_count without fully refunded orders, and counting
// the orders recorded before the first rule that reads it; member.tier / member.tags before tiers exist; the rule count limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';

let srv;
before(async () => { srv = await startServer({ tenants: ['acme', 'beta', 'gamma', 'delta'], testClock: true }); });
after(async () => { assert.equal((await srv.stop()).code, 0); });

// Tenants are Asia/Shanghai (+08:00).  2030-03-04 is a Monday.
const MON = '2030-03-04T10:00:00+08:00';
const call = (method, path, body, { now = MON, tenant = 'acme' } = {}) =>
  srv.req(method, path, { key: tenant, body, headers: { 'x-jifen-now': now } });
const event = (body, opts) => call('POST', '/v1/events', body, opts);
const rule = async (def, tenant = 'acme') => {
  const r = await call('POST', '/v1/rules', def, { tenant });
  assert.equal(r.status, 201, r.text);
  return r.json;
};
const member = async (id, tenant = 'acme') => (await call('GET', `/v1/members/${id}`, undefined, { tenant })).json;

test('a replayed event answers the original body byte for byte', async () => {
  await rule({ name: 'rate capped at 50', event_type: 'rp.paid', award: { rate: { points: 1, per_fen: 100 } }, caps: { per_award: 50 } });
  await rule({ name: 'big orders only', event_type: 'rp.paid', when: 'amount_fen >= 1000000', award: { points: 500 } });
  await rule({ name: 'first order', event_type: 'rp.paid', frequency: 'once', award: { points: 100 } });
  await rule({ name: 'pending "quoted" \\ name', event_type: 'rp.paid', award: { points: 7 }, pending_days: 7 });
  await rule({ name: 'needs an attribute', event_type: 'rp.paid', when: 'attributes.store == "SH"', award: { points: 1 } });
  const task = await call('POST', '/v1/tasks', { name: '2 orders this week', period: 'weekly', event_type: 'rp.paid', goal: { count: 2 }, reward_points: 30 });
  assert.equal(task.status, 201, task.text);

  const first = { type: 'rp.paid', member_id: 'rp1', event_id: 'rp-1', amount_fen: 12800 };
  const a = await event(first);
  assert.equal(a.status, 201, a.text);
  const capped = a.json.awards.find((x) => x.rule_name === 'rate capped at 50');
  assert.equal(capped.points, 50);
  assert.equal(capped.capped, true);
  assert.ok(a.json.awards.find((x) => x.pending_until), 'a pending award');
  assert.deepEqual(a.json.not_awarded.map((x) => x.status).sort(), ['condition_error', 'no_match']);
  assert.equal(a.json.tasks.length, 1);
  assert.equal(a.json.replayed, undefined, 'the body does not say whether it is a replay');

  const again = await event(first);
  assert.equal(again.status, 201);
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.equal(again.text, a.text, 'byte for byte');

  // A second order: the member changes, the task completes, "first order"
  // is limited — and the first order's replay still says what it said.
  const b = await event({ type: 'rp.paid', member_id: 'rp1', event_id: 'rp-2', amount_fen: 1000 });
  assert.equal(b.status, 201, b.text);
  assert.equal(b.json.not_awarded.find((x) => x.rule_name === 'first order').status, 'limited');
  assert.equal(b.json.tasks[0].points_awarded, 30);
  // Rules renamed and disabled meanwhile change nothing in an old answer.
  const rules = (await call('GET', '/v1/rules?limit=100')).json.rules;
  const big = rules.find((x) => x.name === 'big orders only');
  assert.equal((await call('PATCH', `/v1/rules/${big.id}`, { enabled: false })).status, 200);
  const later = await event(first, { now: '2030-03-05T10:00:00+08:00' });
  assert.equal(later.headers.get('idempotent-replayed'), 'true');
  assert.equal(later.text, a.text, 'the member and the rules as they were');
  assert.equal((await event({ type: 'rp.paid', member_id: 'rp1', event_id: 'rp-2', amount_fen: 1000 })).text, b.text);

  // A refund's replay too.
  const refund = { type: 'order.refunded', member_id: 'rp1', event_id: 'rp-r1', refund_of: 'rp-1', amount_fen: 6400 };
  const r1 = await event(refund);
  assert.equal(r1.status, 201, r1.text);
  assert.ok(r1.json.refund.points_reversed > 0);
  await event({ type: 'order.refunded', member_id: 'rp1', event_id: 'rp-r2', refund_of: 'rp-1' });
  const r1again = await event(refund);
  assert.equal(r1again.headers.get('idempotent-replayed'), 'true');
  assert.equal(r1again.text, r1.text, 'reversed_total as it was, not as it is after the second refund');
  // A dry run of an event seen before answers the recorded awards too.
  const dry = await call('POST', '/v1/events/dry-run', first);
  assert.equal(dry.status, 200, dry.text);
  assert.deepEqual(dry.json.awards, a.json.awards);
  assert.deepEqual(dry.json.not_awarded, a.json.not_awarded);
});

test('campaign budget: exactly at the boundary, one past it, refunds give back, a budget added later counts the past', async () => {
  await rule({ name: 'budget 100', event_type: 'bg.paid', award: { points: 40 }, caps: { budget: 100 } });
  let k = 0;
  const paid = async (m, fen = 1000) => (await event({ type: 'bg.paid', member_id: m, event_id: `bg-${++k}`, amount_fen: fen })).json;
  const first = await paid('b1');
  assert.equal(first.awards[0].points, 40);
  assert.equal((await paid('b2')).awards[0].points, 40);
  const third = await paid('b3');
  assert.equal(third.awards[0].points, 20, 'one past the budget: what is left');
  assert.equal(third.awards[0].capped, true);
  assert.match(third.awards[0].explanation, /capped at 20 by the campaign budget/);
  const fourth = await paid('b4');
  assert.equal(fourth.not_awarded[0].status, 'limited');
  assert.match(fourth.not_awarded[0].explanation, /campaign budget of 100 is reached/);
  // A full refund of b1's order gives its 40 points back to the budget.
  const rf = await event({ type: 'order.refunded', member_id: 'b1', event_id: 'bg-rf1', refund_of: 'bg-1' });
  assert.equal(rf.json.refund.points_reversed, 40);
  assert.equal((await paid('b5')).awards[0].points, 40, 'exactly the 40 given back');
  assert.equal((await paid('b6')).not_awarded[0].status, 'limited');
  // A partial refund gives back its share: half of b2's 40.
  const half = await event({ type: 'order.refunded', member_id: 'b2', event_id: 'bg-rf2', refund_of: 'bg-2', amount_fen: 500 });
  assert.equal(half.json.refund.points_reversed, 20);
  const seventh = await paid('b7');
  assert.equal(seventh.awards[0].points, 20);
  assert.equal(seventh.awards[0].capped, true);
  // Saving the rule again keeps the count.
  const id = first.awards[0].rule_id;
  const put = await call('PUT', `/v1/rules/${id}`, { name: 'budget 100, renamed', event_type: 'bg.paid', award: { points: 40 }, caps: { budget: 100 } });
  assert.equal(put.status, 200, put.text);
  assert.equal((await paid('b8')).not_awarded[0].status, 'limited');
  // Raising the budget leaves room for exactly the difference.
  await call('PUT', `/v1/rules/${id}`, { name: 'budget 150', event_type: 'bg.paid', award: { points: 40 }, caps: { budget: 150 } });
  assert.equal((await paid('b9')).awards[0].points, 40);
  assert.equal((await paid('b10')).awards[0].points, 10);
  assert.equal((await paid('b11')).not_awarded[0].status, 'limited');

  // A rule that awarded without a budget, then gets one: the past counts.
  const open = await rule({ name: 'no budget yet', event_type: 'bg.open', award: { points: 10 } });
  for (let i = 0; i < 3; i++) await event({ type: 'bg.open', member_id: `o${i}`, event_id: `bo-${i}` });
  await call('PUT', `/v1/rules/${open.id}`, { name: 'budget 35', event_type: 'bg.open', award: { points: 10 }, caps: { budget: 35 } });
  const next = (await event({ type: 'bg.open', member_id: 'o9', event_id: 'bo-9' })).json;
  assert.equal(next.awards[0].points, 5, '30 of 35 were awarded before the budget was set');
  assert.equal((await event({ type: 'bg.open', member_id: 'o9', event_id: 'bo-10' })).json.not_awarded[0].status, 'limited');
});

test('attributes can be lists: in, not in, len; an empty list contains nothing', async () => {
  await rule({ name: 'vip tag', event_type: 'ls.paid', when: '"vip" in attributes.tags', award: { points: 1 } });
  await rule({ name: 'not banned', event_type: 'ls.paid', when: 'has(attributes.tags) and "banned" not in attributes.tags', award: { points: 10 } });
  await rule({ name: 'level 3', event_type: 'ls.paid', when: 'has(attributes.levels) and 3 in attributes.levels and len(attributes.levels) == 2', award: { points: 100 } });
  await rule({ name: 'wrong item type', event_type: 'ls.paid', when: '7 in attributes.tags', award: { points: 1000 } });
  let k = 0;
  const got = async (attributes) => {
    const r = await event({ type: 'ls.paid', member_id: 'l1', event_id: `ls-${++k}`, attributes });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };
  let x = await got({ tags: ['new', 'vip'], levels: [3, 5] });
  assert.equal(x.points_awarded, 111);
  assert.match(x.not_awarded[0].explanation, /cannot look for int in list<string>|int .* list<string>/, x.not_awarded[0].explanation);
  x = await got({ tags: ['banned'] });
  assert.equal(x.points_awarded, 0);
  x = await got({ tags: [], levels: [] });
  assert.equal(x.points_awarded, 10, 'nothing is in an empty list, of either type');
  assert.equal(x.not_awarded.filter((a) => a.status === 'condition_error').length, 0);
  const dry = await call('POST', '/v1/events/dry-run', { type: 'ls.paid', member_id: 'l2', event_id: 'ls-dry', attributes: { tags: ['vip', '会员'], levels: [3, -1] } });
  assert.equal(dry.json.points_awarded, 111);
  // Tasks read list attributes too.
  const t = await call('POST', '/v1/tasks', { name: 'vip orders', period: 'once', event_type: 'ls.task', when: '"vip" in attributes.tags', goal: { count: 1 }, reward_points: 5 });
  assert.equal(t.status, 201, t.text);
  const done = await event({ type: 'ls.task', member_id: 'l1', event_id: 'ls-t1', attributes: { tags: ['vip'] } });
  assert.equal(done.json.tasks[0].points_awarded, 5);
});

test('bad list attributes: 400 invalid_field naming the attribute, nothing written', async () => {
  const many = Array.from({ length: 65 }, (_, i) => `t${i}`);
  const lists = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`l${i}`, Array.from({ length: 60 }, (_, j) => j)]));
  const cases = [
    [{ tags: [{ a: 1 }] }, 'attributes.tags[0]', /must be a string .* or an integer/],
    [{ tags: [['a']] }, 'attributes.tags[0]', /must be a string .* or an integer/],
    [{ tags: ['a', 1] }, 'attributes.tags[1]', /is an integer but attributes.tags\[0\] is a string/],
    [{ tags: [1, 'a'] }, 'attributes.tags[1]', /is a string but attributes.tags\[0\] is an integer/],
    [{ tags: [true] }, 'attributes.tags[0]', /must be a string/],
    [{ tags: [1.5] }, 'attributes.tags[0]', /must be a string/],
    [{ tags: [null] }, 'attributes.tags[0]', /must be a string/],
    [{ tags: ['x'.repeat(257)] }, 'attributes.tags[0]', /at most 256 bytes/],
    [{ tags: many }, 'attributes.tags', /more than 64 items/],
    [lists, 'attributes.l4', /at most 256 items in all/],
    [{ tags: { a: 1 } }, 'attributes.tags', /a list of strings or integers/],
    [{ tags: null }, 'attributes.tags', /a list of strings or integers/],
    [{ 'bad-name': [1] }, 'attributes.bad-name', /attribute names/],
  ];
  for (const [attributes, field, detail] of cases) {
    const body = { type: 'order.paid', member_id: 'bad1', event_id: 'bad-1', attributes };
    for (const path of ['/v1/events', '/v1/events/dry-run']) {
      const r = await call('POST', path, body);
      assert.equal(r.status, 400, `${JSON.stringify(attributes).slice(0, 80)} → ${r.text}`);
      assert.equal(r.json.code, 'invalid_field');
      assert.equal(r.json.field, field, r.text);
      assert.match(r.json.detail, detail);
    }
  }
  assert.equal((await call('GET', '/v1/members/bad1')).status, 404, 'no member written');
  const ok = await event({ type: 'order.paid', member_id: 'bad1', event_id: 'bad-1', attributes: { tags: ['fine'] } });
  assert.equal(ok.status, 201, 'the event_id was not taken by the refused requests');
  assert.equal(ok.headers.get('idempotent-replayed'), null);
});

test('member.orders_count leaves out fully refunded orders and counts partly refunded ones', async () => {
  const t = 'beta';
  for (const n of [1, 2, 3]) await rule({ name: `orders so far == ${n}`, event_type: 'order.paid', when: `member.orders_count == ${n}`, award: { points: 10 ** (n - 1) } }, t);
  let k = 0;
  // Each order a minute after the one before: orders_count counts the
  // orders that occurred before this one.
  const order = async (body = { amount_fen: 1000 }) => {
    const at = `2030-03-04T09:${String(++k).padStart(2, '0')}:00+08:00`;
    const r = await event({ type: 'order.paid', member_id: 'oc1', event_id: `oc-${k}`, occurred_at: at, ...body }, { tenant: t });
    assert.equal(r.status, 201, r.text);
    return r.json.points_awarded; // 1, 10, 100: the orders before it; 0: none or more than 3
  };
  const refund = async (of, body = {}) => {
    const r = await event({ type: 'order.refunded', member_id: 'oc1', event_id: `oc-rf-${of}`, refund_of: of, ...body }, { tenant: t });
    assert.equal(r.status, 201, r.text);
  };
  assert.equal(await order(), 0, 'oc-1: no order before');
  assert.equal(await order(), 1, 'oc-2: oc-1 before');
  await refund('oc-1');
  assert.equal(await order(), 1, 'oc-3: oc-1 is refunded in full, only oc-2 counts');
  await refund('oc-2', { amount_fen: 999 });
  assert.equal(await order(), 10, 'oc-4: oc-2 is refunded in part and still counts, with oc-3');
  assert.equal(await order({}), 100, 'oc-5 (no amount): oc-2, oc-3, oc-4');
  await refund('oc-5');
  assert.equal(await order(), 100, 'oc-7: oc-2, oc-3 and oc-4, not oc-5 (refunded whole)');
});

test('member.orders_count counts the orders recorded before the first rule that reads it', async () => {
  // A tenant none of whose rules reads the count does not index its
  // orders; the first rule that reads it counts them all at once.
  const t = 'delta';
  await rule({ name: '1 point per yuan', event_type: 'order.paid', award: { rate: { points: 1, per_fen: 100 } } }, t);
  const order = async (k) => {
    const r = await event({ type: 'order.paid', member_id: 'oc9', event_id: `oc9-${k}`, amount_fen: 1000, occurred_at: `2030-03-04T09:0${k}:00+08:00` }, { tenant: t });
    assert.equal(r.status, 201, r.text);
    return r.json.points_awarded;
  };
  assert.equal(await order(1), 10);
  assert.equal(await order(2), 10);
  await rule({ name: 'third order +50', event_type: 'order.paid', when: 'member.orders_count == 2', award: { points: 50 } }, t);
  assert.equal(await order(3), 60, 'oc9-1 and oc9-2 are counted');
  assert.equal(await order(4), 10, 'and oc9-3: three before');
});

test('member.tier is "" and member.tags is empty until tiers and member tags exist', async () => {
  await rule({ name: 'no tier yet', event_type: 'tier.check', when: 'member.tier == "" and len(member.tags) == 0 and "vip" not in member.tags', award: { points: 3 } });
  const r = await event({ type: 'tier.check', member_id: 'tc1', event_id: 'tc-1' });
  assert.equal(r.json.points_awarded, 3);
});

test('at most 100 rules per tenant, counted one create at a time', async () => {
  const make = (i) => call('POST', '/v1/rules', { name: `r${i}`, event_type: 'limit.test', award: { points: 1 } }, { tenant: 'gamma' });
  for (let i = 0; i < 95; i++) assert.equal((await make(i)).status, 201);
  const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => make(100 + i)));
  assert.equal(burst.filter((r) => r.status === 201).length, 5, burst.map((r) => r.status).join(','));
  for (const r of burst.filter((x) => x.status !== 201)) {
    assert.equal(r.status, 422, r.text);
    assert.equal(r.json.code, 'limit_exceeded');
  }
  let count = 0;
  for (let cursor = ''; ;) {
    const page = await call('GET', `/v1/rules?limit=100${cursor ? `&cursor=${cursor}` : ''}`, undefined, { tenant: 'gamma' });
    count += page.json.rules.length;
    if (!page.json.next_cursor) break;
    cursor = page.json.next_cursor;
  }
  assert.equal(count, 100);
});
