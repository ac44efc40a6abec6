/*
 * checkin.c — daily check-in: configuration, streaks, make-ups, the
 * perfect-month bonus.  See checkin.h.
 */
#include "engine/checkin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/events.h"
#include "engine/internal.h"
#include "util/tz.h"

#define CHECKIN_SETTING "checkin"
/* Make-ups per month at most (the configuration's bound). */
#define MAKEUP_MONTHLY_MAX 31

void jf_checkin_config_default(jf_checkin_config *c) {
    static const int64_t schedule[] = {1, 2, 3, 4, 5, 6, 10};
    memset(c, 0, sizeof *c);
    memcpy(c->schedule, schedule, sizeof schedule);
    c->steps = sizeof schedule / sizeof schedule[0];
    c->perfect_month_bonus = 50;
    c->makeup_monthly_limit = 2;
    c->makeup_cost_points = 0;
}

static jf_code int_field(const json_t *o, const char *key, const char *path, int64_t lo, int64_t hi, int64_t *out,
                         jf_error *err) {
    json_t *v = json_object_get(o, key);
    if (v == NULL) return JF_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return jf_fail(err, JF_INVALID_FIELD, path, "%s must be an integer between %lld and %lld", path, (long long)lo,
                       (long long)hi);
    *out = json_integer_value(v);
    return JF_OK;
}

static jf_code only(const json_t *o, const char *prefix, const char *const *keys, jf_error *err) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        bool known = false;
        for (const char *const *p = keys; *p && !known; p++) known = strcmp(*p, k) == 0;
        if (!known) {
            char path[64];
            snprintf(path, sizeof path, "%s%.40s", prefix, k);
            return jf_fail(err, JF_INVALID_FIELD, path, "unknown field %s", path);
        }
    }
    return JF_OK;
}

jf_code jf_checkin_config_parse(const json_t *doc, jf_checkin_config *out, jf_error *err) {
    jf_checkin_config_default(out);
    if (!json_is_object(doc)) return jf_fail(err, JF_INVALID_FIELD, "", "the check-in configuration is an object");
    static const char *const keys[] = {"schedule", "after_last", "perfect_month_bonus", "makeup", NULL};
    TRY(only(doc, "", keys, err));
    json_t *sched = json_object_get(doc, "schedule");
    if (sched != NULL) {
        if (!json_is_array(sched) || json_array_size(sched) < 1 || json_array_size(sched) > JF_CHECKIN_SCHEDULE_MAX)
            return jf_fail(err, JF_INVALID_FIELD, "schedule", "schedule must be a list of 1..%d point amounts",
                           JF_CHECKIN_SCHEDULE_MAX);
        out->steps = json_array_size(sched);
        for (size_t i = 0; i < out->steps; i++) {
            json_t *v = json_array_get(sched, i);
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > JF_POINTS_MAX)
                return jf_fail(err, JF_INVALID_FIELD, "schedule", "schedule[%zu] must be 1..%lld points", i,
                               (long long)JF_POINTS_MAX);
            out->schedule[i] = json_integer_value(v);
        }
    }
    json_t *after = json_object_get(doc, "after_last");
    if (after != NULL) {
        const char *s = json_is_string(after) ? json_string_value(after) : "";
        if (strcmp(s, "restart") == 0) out->restart = true;
        else if (strcmp(s, "repeat") == 0) out->restart = false;
        else return jf_fail(err, JF_INVALID_FIELD, "after_last", "after_last must be repeat or restart");
    }
    TRY(int_field(doc, "perfect_month_bonus", "perfect_month_bonus", 0, JF_POINTS_MAX, &out->perfect_month_bonus, err));
    json_t *mk = json_object_get(doc, "makeup");
    if (mk != NULL) {
        if (!json_is_object(mk)) return jf_fail(err, JF_INVALID_FIELD, "makeup", "makeup must be an object");
        static const char *const mkeys[] = {"monthly_limit", "cost_points", NULL};
        TRY(only(mk, "makeup.", mkeys, err));
        TRY(int_field(mk, "monthly_limit", "makeup.monthly_limit", 0, MAKEUP_MONTHLY_MAX, &out->makeup_monthly_limit, err));
        TRY(int_field(mk, "cost_points", "makeup.cost_points", 0, JF_POINTS_MAX, &out->makeup_cost_points, err));
    }
    return JF_OK;
}

json_t *jf_checkin_config_to_json(const jf_checkin_config *c) {
    json_t *sched = json_array();
    for (size_t i = 0; i < c->steps; i++) json_array_append_new(sched, json_integer(c->schedule[i]));
    return json_pack("{so ss sI s{sI sI}}", "schedule", sched, "after_last", c->restart ? "restart" : "repeat",
                     "perfect_month_bonus", (json_int_t)c->perfect_month_bonus, "makeup", "monthly_limit",
                     (json_int_t)c->makeup_monthly_limit, "cost_points", (json_int_t)c->makeup_cost_points);
}

jf_code jf_checkin_config_get(const jf_ctx *c, jf_checkin_config *out, jf_error *err) {
    char text[JF_SETTING_BYTES_MAX + 1];
    jf_code rc = ST(c->store, setting_get, c->tenant->id, CHECKIN_SETTING, text, sizeof text, err);
    if (rc == JF_NOT_FOUND) {
        jf_error_clear(err);
        jf_checkin_config_default(out);
        return JF_OK;
    }
    TRY(rc);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    rc = jf_checkin_config_parse(doc, out, err);
    json_decref(doc);
    return rc;
}

jf_code jf_checkin_config_put(const jf_ctx *c, const jf_checkin_config *cfg, jf_error *err) {
    json_t *doc = jf_checkin_config_to_json(cfg);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL) abort();
    jf_code rc = strlen(text) > JF_SETTING_BYTES_MAX
                     ? jf_fail(err, JF_LIMIT_EXCEEDED, "", "the configuration is too large")
                     : ST(c->store, setting_put, c->tenant->id, CHECKIN_SETTING, text, c->now_ms, err);
    free(text);
    return rc;
}

int64_t jf_checkin_step_points(const jf_checkin_config *c, int64_t streak) {
    if (streak < 1 || c->steps == 0) return 0;
    int64_t i = streak - 1;
    if (i >= (int64_t)c->steps) i = c->restart ? i % (int64_t)c->steps : (int64_t)c->steps - 1;
    return c->schedule[i];
}

/* ---- calendar arithmetic on YYYYMMDD ---- */

int32_t jf_days_in_month(int32_t year, int32_t month) {
    static const int32_t days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[(month - 1) % 12];
}

int32_t jf_day_add(int32_t ymd, int32_t days) {
    int32_t y = ymd / 10000, m = ymd / 100 % 100, d = ymd % 100;
    for (; days > 0; days--) {
        if (++d > jf_days_in_month(y, m)) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
    for (; days < 0; days++) {
        if (--d < 1) {
            if (--m < 1) {
                m = 12;
                y--;
            }
            d = jf_days_in_month(y, m);
        }
    }
    return y * 10000 + m * 100 + d;
}

static int32_t today_of(const jf_ctx *c) {
    jf_civil civ;
    if (!jf_tz_civil(c->tenant->timezone, c->now_ms, &civ)) return 0;
    return civ.year * 10000 + civ.month * 100 + civ.day;
}

static jf_code month_rows(jf_store *s, int64_t member_id, int32_t year, int32_t month, jf_checkin_row *rows,
                          size_t *n, jf_error *err) {
    int32_t first = year * 10000 + month * 100 + 1;
    int32_t last = year * 10000 + month * 100 + jf_days_in_month(year, month);
    return ST(s, checkin_list, member_id, first, last, rows, 31, n, err);
}

static int64_t count_makeups(const jf_checkin_row *rows, size_t n) {
    int64_t k = 0;
    for (size_t i = 0; i < n; i++) k += rows[i].makeup;
    return k;
}

/* A make-up check-in on `day` joins the run after it: renumber the streaks
 * of the consecutive days that follow (their points stay as paid). */
static jf_code restore_streak(jf_store *s, int64_t member_id, int32_t day, int64_t streak, int32_t today,
                              jf_error *err) {
    jf_checkin_row rows[32];
    size_t n = 0;
    TRY(ST(s, checkin_list, member_id, jf_day_add(day, 1), today, rows, 32, &n, err));
    int32_t expect = jf_day_add(day, 1);
    for (size_t i = 0; i < n && rows[i].day == expect; i++) {
        rows[i].streak = ++streak;
        TRY(ST(s, checkin_update, &rows[i], err));
        expect = jf_day_add(expect, 1);
    }
    return JF_OK;
}

static jf_code earn_checkin(const jf_ctx *c, const jf_member *m, const char *tag, int32_t key_n, int64_t points,
                            const char *reason, bool *replayed, jf_error *err) {
    char key[32], biz_no[JF_BIZ_NO_LEN_MAX + 1];
    snprintf(key, sizeof key, "%lld", (long long)m->id);
    jf_derived_biz_no(tag, key, key_n, biz_no);
    jf_earn_req r = {.member_id = m->ext_id, .points = points, .biz_no = biz_no, .scene = "checkin", .reason = reason};
    jf_result res;
    TRY(jf_earn(c, &r, &res, err));
    if (replayed) *replayed = res.replayed;
    return JF_OK;
}

static jf_code check_day(const jf_ctx *c, int32_t day, int32_t today, jf_error *err) {
    if (day > today) return jf_fail(err, JF_INVALID_FIELD, "date", "a check-in cannot be for a future date");
    if (day < today && day / 100 != today / 100)
        return jf_fail(err, JF_INVALID_FIELD, "date", "make-up check-ins are for earlier days of the current month");
    (void)c;
    return JF_OK;
}

jf_code jf_checkin(const jf_ctx *c, const char *member_id, int32_t day, jf_checkin_result *out, jf_error *err) {
    memset(out, 0, sizeof *out);
    int32_t today = today_of(c);
    if (today == 0) return jf_fail(err, JF_INTERNAL, "", "cannot compute today's date in the tenant's zone");
    if (day == 0) day = today;
    TRY(check_day(c, day, today, err));
    jf_checkin_config cfg;
    TRY(jf_checkin_config_get(c, &cfg, err));
    bool created;
    jf_member m;
    TRY(jf_member_upsert(c, member_id, -1, &m, &created, err));
    jf_checkin_row rows[31];
    size_t n = 0;
    TRY(month_rows(c->store, m.id, day / 10000, day / 100 % 100, rows, &n, err));
    for (size_t i = 0; i < n; i++)
        if (rows[i].day == day)
            return jf_fail(err, JF_ALREADY_EXISTS, "date", "member %s already checked in on %04d-%02d-%02d", member_id,
                           day / 10000, day / 100 % 100, day % 100);
    bool makeup = day < today;
    int64_t used = count_makeups(rows, n);
    if (makeup && used >= cfg.makeup_monthly_limit)
        return jf_fail(err, JF_LIMIT_EXCEEDED, "date", "the make-up limit of %lld a month is used",
                       (long long)cfg.makeup_monthly_limit);
    jf_checkin_row prev;
    size_t pn = 0;
    int32_t yesterday = jf_day_add(day, -1);
    TRY(ST(c->store, checkin_list, m.id, yesterday, yesterday, &prev, 1, &pn, err));
    jf_checkin_row row = {.tenant_id = c->tenant->id, .member_id = m.id, .day = day,
                          .streak = pn == 1 ? prev.streak + 1 : 1, .makeup = makeup,
                          .created_at_ms = c->now_ms};
    row.points = jf_checkin_step_points(&cfg, row.streak);
    char reason[JF_REASON_BYTES_MAX + 1];
    if (makeup && cfg.makeup_cost_points > 0) {
        char key[32], biz_no[JF_BIZ_NO_LEN_MAX + 1];
        snprintf(key, sizeof key, "%lld", (long long)m.id);
        jf_derived_biz_no("ckm", key, day, biz_no);
        snprintf(reason, sizeof reason, "make-up check-in for %04d-%02d-%02d", day / 10000, day / 100 % 100, day % 100);
        jf_spend_req sr = {.member_id = member_id, .points = cfg.makeup_cost_points, .biz_no = biz_no,
                           .scene = "checkin", .reason = reason};
        jf_result res;
        TRY(jf_spend(c, &sr, &res, err));
        row.cost = cfg.makeup_cost_points;
    }
    snprintf(reason, sizeof reason, "check-in %04d-%02d-%02d, day %lld of the streak%s", day / 10000, day / 100 % 100,
             day % 100, (long long)row.streak, makeup ? " (make-up)" : "");
    TRY(earn_checkin(c, &m, "ck", day, row.points, reason, NULL, err));
    TRY(ST(c->store, checkin_insert, &row, err));
    if (makeup) TRY(restore_streak(c->store, m.id, day, row.streak, today, err));
    out->day = day;
    out->streak = row.streak;
    out->points = row.points;
    out->makeup = makeup;
    out->cost = row.cost;
    out->makeups_used = used + makeup;
    out->makeups_left = cfg.makeup_monthly_limit > out->makeups_used ? cfg.makeup_monthly_limit - out->makeups_used : 0;
    int32_t days = jf_days_in_month(day / 10000, day / 100 % 100);
    if (cfg.perfect_month_bonus > 0 && (int32_t)n + 1 == days) {
        bool replayed = false;
        snprintf(reason, sizeof reason, "perfect month %04d-%02d", day / 10000, day / 100 % 100);
        TRY(earn_checkin(c, &m, "ckp", day / 100, cfg.perfect_month_bonus, reason, &replayed, err));
        if (!replayed) out->bonus = cfg.perfect_month_bonus;
    }
    return jf_member_get(c, member_id, &out->member, err);
}

jf_code jf_checkin_month_get(const jf_ctx *c, const char *member_id, int32_t year, int32_t month,
                             jf_checkin_month *out, jf_error *err) {
    memset(out, 0, sizeof *out);
    out->year = year;
    out->month = month;
    out->today = today_of(c);
    jf_checkin_config cfg;
    TRY(jf_checkin_config_get(c, &cfg, err));
    jf_member m;
    jf_code rc = jf_member_get(c, member_id, &m, err);
    if (rc == JF_NOT_FOUND) {
        jf_error_clear(err);
        out->makeups_left = cfg.makeup_monthly_limit;
        return JF_OK;
    }
    TRY(rc);
    TRY(month_rows(c->store, m.id, year, month, out->rows, &out->n, err));
    jf_checkin_row recent[2];
    size_t rn = 0;
    TRY(ST(c->store, checkin_list, m.id, jf_day_add(out->today, -1), out->today, recent, 2, &rn, err));
    if (rn > 0) {
        out->current_streak = recent[rn - 1].streak;
        out->checked_in_today = recent[rn - 1].day == out->today;
    }
    jf_checkin_row cur[31];
    size_t cn = 0;
    TRY(month_rows(c->store, m.id, out->today / 10000, out->today / 100 % 100, cur, &cn, err));
    out->makeups_used = count_makeups(cur, cn);
    out->makeups_left = cfg.makeup_monthly_limit > out->makeups_used ? cfg.makeup_monthly_limit - out->makeups_used : 0;
    return JF_OK;
}
