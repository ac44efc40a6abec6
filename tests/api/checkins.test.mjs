// Check-in: one a day in tenant time, the streak schedule (1, 2, 3, 4, 5, 6,
// 10 by default) over a month end, a missed day, the perfect-month bonus,
// make-ups (limit and cost), the calendar, the configuration, bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/server.mjs';

let srv;
before(async () => { srv = await startServer({ tenants: ['acme', 'beta'], testClock: true }); });
after(async () => { assert.equal((await srv.stop()).code, 0); });

const call = (method, path, body, now, tenant = 'acme') =>
  srv.req(method, path, { key: tenant, body, headers: { 'x-jifen-now': now } });
const day = (d, h = '09:00:00') => `${d}T${h}+08:00`;
const checkin = (m, now, body = {}, tenant = 'acme') => call('POST', `/v1/members/${m}/checkins`, body, now, tenant);

test('streak over a month end, schedule steps, repeat after the last step, a missed day resets', async () => {
  const days = ['2030-01-28', '2030-01-29', '2030-01-30', '2030-01-31', '2030-02-01', '2030-02-02', '2030-02-03', '2030-02-04'];
  const pts = [];
  for (const d of days) {
    const r = await checkin('s1', day(d));
    assert.equal(r.status, 201, r.text);
    pts.push(r.json.points);
  }
  assert.deepEqual(pts, [1, 2, 3, 4, 5, 6, 10, 10], 'Jan 31 → Feb 1 keeps the streak; after step 7 it repeats 10');
  const twice = await checkin('s1', day('2030-02-04', '23:59:59'));
  assert.equal(twice.status, 409);
  assert.equal(twice.json.code, 'already_exists');
  const missed = await checkin('s1', day('2030-02-06'));
  assert.equal(missed.json.streak, 1, 'Feb 5 missed');
  assert.equal(missed.json.points, 1);
  // Tenant midnight: 16:00Z is 00:00 in Shanghai, the next day.
  const next = await checkin('s1', '2030-02-06T16:00:00Z');
  assert.equal(next.json.date, '2030-02-07');
  assert.equal(next.json.streak, 2);
  const m = await call('GET', '/v1/members/s1', undefined, day('2030-02-07'));
  assert.equal(m.json.points.available, 1 + 2 + 3 + 4 + 5 + 6 + 10 + 10 + 1 + 2);
});

test('restart after the last step; perfect month bonus; the calendar', async () => {
  const cfg = await call('PUT', '/v1/checkin-config', { schedule: [1, 2, 3], after_last: 'restart', perfect_month_bonus: 50, makeup: { monthly_limit: 0 } }, day('2030-02-01'), 'beta');
  assert.equal(cfg.status, 200, cfg.text);
  const got = [];
  let bonus = 0;
  for (let d = 1; d <= 28; d++) {
    const r = await checkin('p1', day(`2030-02-${String(d).padStart(2, '0')}`), {}, 'beta');
    assert.equal(r.status, 201, r.text);
    got.push(r.json.points);
    bonus += r.json.perfect_month_bonus;
  }
  assert.deepEqual(got.slice(0, 7), [1, 2, 3, 1, 2, 3, 1]);
  assert.equal(bonus, 50, 'every day of February: the bonus once, on the 28th');
  const cal = await call('GET', '/v1/members/p1/checkins?month=2030-02', undefined, day('2030-02-28'), 'beta');
  assert.equal(cal.status, 200, cal.text);
  assert.equal(cal.json.days.length, 28);
  assert.equal(cal.json.perfect, true);
  assert.equal(cal.json.current_streak, 28);
  assert.equal(cal.json.checked_in_today, true);
  const march = await call('GET', '/v1/members/p1/checkins?month=2030-03', undefined, day('2030-03-01'), 'beta');
  assert.equal(march.json.checkins, 0);
  assert.equal(march.json.current_streak, 28, 'yesterday counts until today is missed');
  const none = await call('GET', '/v1/members/nobody/checkins?month=2030-03', undefined, day('2030-03-01'), 'beta');
  assert.equal(none.status, 200);
  assert.equal(none.json.checkins, 0);
  const refused = await checkin('p1', day('2030-03-05'), { date: '2030-03-02' }, 'beta');
  assert.equal(refused.status, 422, 'make-ups are off in this configuration');
  assert.equal(refused.json.code, 'limit_exceeded');
});

test('make-up check-ins: restore the streak, cost points, monthly limit', async () => {
  const cfg = await call('PUT', '/v1/checkin-config', { makeup: { monthly_limit: 1, cost_points: 3 } }, day('2030-05-01'));
  assert.equal(cfg.json.schedule.length, 7, 'defaults kept for fields not given');
  await checkin('mk', day('2030-05-01'));
  await checkin('mk', day('2030-05-02'));
  await checkin('mk', day('2030-05-04')); // the 3rd missed: streak 1
  const before = (await call('GET', '/v1/members/mk', undefined, day('2030-05-04'))).json.points.available;
  assert.equal(before, 1 + 2 + 1);
  const mk = await checkin('mk', day('2030-05-04', '12:00:00'), { date: '2030-05-03' });
  assert.equal(mk.status, 201, mk.text);
  assert.equal(mk.json.makeup, true);
  assert.equal(mk.json.streak, 3);
  assert.equal(mk.json.points, 3);
  assert.equal(mk.json.cost, 3);
  assert.equal(mk.json.makeups_left, 0);
  assert.equal(mk.json.member.points.available, before - 3 + 3);
  const today = await checkin('mk', day('2030-05-05'));
  assert.equal(today.json.streak, 5, 'the make-up joined the 4th to the run');
  const second = await checkin('mk', day('2030-05-05'), { date: '2030-05-01' });
  assert.equal(second.status, 409, 'already checked in that day');
  const over = await checkin('mk2', day('2030-05-05'), { date: '2030-05-01' });
  assert.equal(over.status, 409, 'no points to pay the make-up');
  assert.equal(over.json.code, 'insufficient_points');
  await checkin('mk3', day('2030-05-01'));
  await checkin('mk3', day('2030-05-02'));
  await checkin('mk3', day('2030-05-03'));
  const m1 = await checkin('mk3', day('2030-05-06'), { date: '2030-05-04' });
  assert.equal(m1.status, 201, m1.text);
  const limit = await checkin('mk3', day('2030-05-06'), { date: '2030-05-05' });
  assert.equal(limit.status, 422);
  assert.equal(limit.json.code, 'limit_exceeded');
});

test('bad input: future dates, other months, malformed values; nothing written', async () => {
  const future = await checkin('bad', day('2030-06-10'), { date: '2030-06-11' });
  assert.equal(future.status, 400);
  assert.equal(future.json.field, 'date');
  assert.match(future.json.detail, /future/);
  const lastMonth = await checkin('bad', day('2030-06-01'), { date: '2030-05-31' });
  assert.equal(lastMonth.status, 400);
  const badDate = await checkin('bad', day('2030-06-10'), { date: '2030-02-30' });
  assert.equal(badDate.status, 400);
  const unknown = await checkin('bad', day('2030-06-10'), { when: 'today' });
  assert.equal(unknown.status, 400);
  assert.equal((await call('GET', '/v1/members/bad', undefined, day('2030-06-10'))).status, 404);
  const cfg = await call('PUT', '/v1/checkin-config', { schedule: [] }, day('2030-06-10'));
  assert.equal(cfg.status, 400);
  assert.equal(cfg.json.field, 'schedule');
  const cfg2 = await call('PUT', '/v1/checkin-config', { after_last: 'loop' }, day('2030-06-10'));
  assert.equal(cfg2.json.field, 'after_last');
  const month = await call('GET', '/v1/members/bad/checkins?month=2030-13', undefined, day('2030-06-10'));
  assert.equal(month.status, 400);
  assert.equal(month.json.field, 'month');
});
