// Tasks: count and sum goals, automatic and claimed rewards, progress, the
// period reset at tenant-time week / day ends, one-time tasks, bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';

let srv;
before(async () => { srv = await startServer({ tenants: ['acme'], testClock: true }); });
after(async () => { assert.equal((await srv.stop()).code, 0); });

const call = (method, path, body, now = '2030-03-04T10:00:00+08:00') =>
  srv.req(method, path, { key: 'acme', body, headers: { 'x-jifen-now': now } });
let n = 0;
const order = (m, now, extra = {}) => call('POST', '/v1/events', { type: 'order.paid', member_id: m, event_id: `t-${++n}`, occurred_at: now, ...extra }, now);

test('weekly count task rewards automatically, resets next week', async () => {
  const t = await call('POST', '/v1/tasks', { name: '3 orders this week', period: 'weekly', event_type: 'order.paid', goal: { count: 3 }, reward_points: 30 });
  assert.equal(t.status, 201, t.text);
  for (const d of ['2030-03-04', '2030-03-06']) await order('w1', `${d}T10:00:00+08:00`);
  let list = await call('GET', '/v1/members/w1/tasks', undefined, '2030-03-06T10:00:00+08:00');
  const st = list.json.tasks.find((x) => x.task_id === t.json.id);
  assert.equal(st.progress, 2);
  assert.equal(st.completed, false);
  const third = await order('w1', '2030-03-10T23:59:59+08:00'); // Sunday, same week
  const ts = third.json.tasks.find((x) => x.task_id === t.json.id);
  assert.equal(ts.completed, true);
  assert.equal(ts.points_awarded, 30);
  assert.equal(third.json.member.points.available, 30);
  const fourth = await order('w1', '2030-03-10T23:59:59+08:00');
  const fourthState = fourth.json.tasks.find((x) => x.task_id === t.json.id);
  assert.equal(fourthState.points_awarded, 0, 'once per period');
  assert.equal(fourthState.progress, 3, 'progress stops at the goal once it is reached');
  assert.equal(fourthState.completed, true);
  assert.equal(fourth.json.member.points.available, 30);
  list = await call('GET', '/v1/members/w1/tasks', undefined, '2030-03-10T23:59:59+08:00');
  assert.equal(list.json.tasks.find((x) => x.task_id === t.json.id).progress, 3);
  list = await call('GET', '/v1/members/w1/tasks', undefined, '2030-03-11T00:00:00+08:00');
  assert.equal(list.json.tasks.find((x) => x.task_id === t.json.id).progress, 0, 'a new week starts from zero');
  await call('PATCH', `/v1/tasks/${t.json.id}`, { enabled: false });
});

test('claimed sum task; one-time newbie task; condition', async () => {
  const spend = await call('POST', '/v1/tasks', { name: 'spend 100 yuan today', period: 'daily', event_type: 'order.paid', goal: { sum: 'amount_fen', target: 10000 }, reward_points: 15, completion: 'claim' });
  assert.equal(spend.status, 201, spend.text);
  const newbie = await call('POST', '/v1/tasks', { name: 'complete the profile', period: 'once', event_type: 'profile.completed', when: 'attributes.field == "phone"', goal: { count: 1 }, reward_points: 20 });
  assert.equal(newbie.status, 201, newbie.text);
  const early = await call('POST', `/v1/members/c1/tasks/${spend.json.id}/claim`, {}, '2030-03-04T10:00:00+08:00');
  assert.equal(early.status, 422);
  assert.equal(early.json.code, 'invalid_state');
  await order('c1', '2030-03-04T10:00:00+08:00', { amount_fen: 6000 });
  await order('c1', '2030-03-04T11:00:00+08:00', { amount_fen: 4000 });
  let list = await call('GET', '/v1/members/c1/tasks', undefined, '2030-03-04T12:00:00+08:00');
  const st = list.json.tasks.find((x) => x.task_id === spend.json.id);
  assert.equal(st.claimable, true);
  assert.equal(st.rewarded, false);
  const claim = await call('POST', `/v1/members/c1/tasks/${spend.json.id}/claim`, {}, '2030-03-04T12:00:00+08:00');
  assert.equal(claim.status, 200, claim.text);
  assert.equal(claim.json.points_awarded, 15);
  const again = await call('POST', `/v1/members/c1/tasks/${spend.json.id}/claim`, undefined, '2030-03-04T12:00:00+08:00');
  assert.equal(again.status, 200);
  assert.equal(again.json.points_awarded, 0, 'claimed once');
  const tomorrow = await call('POST', `/v1/members/c1/tasks/${spend.json.id}/claim`, {}, '2030-03-05T00:00:00+08:00');
  assert.equal(tomorrow.status, 422, 'a new day: not completed yet');
  const avatar = await call('POST', '/v1/events', { type: 'profile.completed', member_id: 'c1', event_id: 'pc-1', attributes: { field: 'avatar' } });
  assert.equal(avatar.json.tasks.length, 0);
  const phone = await call('POST', '/v1/events', { type: 'profile.completed', member_id: 'c1', event_id: 'pc-2', attributes: { field: 'phone' } });
  assert.equal(phone.json.tasks[0].points_awarded, 20);
  const phone2 = await call('POST', '/v1/events', { type: 'profile.completed', member_id: 'c1', event_id: 'pc-3', attributes: { field: 'phone' } }, '2031-01-01T00:00:00+08:00');
  assert.equal(phone2.json.tasks[0].points_awarded, 0, 'one-time: never again');
  const m = await call('GET', '/v1/members/c1');
  assert.equal(m.json.points.available, 35);
});

test('task definitions: versions and bad input', async () => {
  const t = await call('POST', '/v1/tasks', { name: 'x', period: 'monthly', event_type: 'survey.completed', goal: { count: 1 }, reward_points: 1 });
  const put = await call('PUT', `/v1/tasks/${t.json.id}`, { name: 'x2', period: 'monthly', event_type: 'survey.completed', goal: { count: 2 }, reward_points: 1 });
  assert.equal(put.json.version, 2);
  const get = await call('GET', `/v1/tasks/${t.json.id}`);
  assert.equal(get.json.name, 'x2');
  const bad = async (body, field, status = 400) => {
    const r = await call('POST', '/v1/tasks', body);
    assert.equal(r.status, status, r.text);
    assert.equal(r.json.field, field);
  };
  await bad({ name: 'x', period: 'hourly', event_type: 'a', goal: { count: 1 }, reward_points: 1 }, 'period');
  await bad({ name: 'x', period: 'daily', event_type: 'a', goal: { count: 0 }, reward_points: 1 }, 'goal.count');
  await bad({ name: 'x', period: 'daily', event_type: 'a', goal: { sum: 'points', target: 1 }, reward_points: 1 }, 'goal.sum');
  await bad({ name: 'x', period: 'daily', event_type: 'a', goal: { count: 1 } }, 'reward_points');
  await bad({ name: 'x', period: 'daily', event_type: 'a', goal: { count: 1 }, reward_points: 1, when: 'amount_fen >' }, 'when', 422);
  assert.equal((await call('GET', '/v1/tasks/99999')).status, 404);
  const ruleAsTask = await call('GET', '/v1/rules/' + t.json.id);
  assert.equal(ruleAsTask.status, 404, 'a task is not a rule');
});
