/*
 * checkin.h — daily check-in (签到): one per member per tenant-time day.
 *
 * The points of a check-in follow the streak schedule (default 1, 2, 3, 4,
 * 5, 6, 10): day n of an unbroken run of days gets step n; after the last
 * step the schedule either repeats its last step ("repeat") or starts over
 * ("restart").  A missed day resets the streak.  Checking in on every day of
 * a calendar month earns the perfect-month bonus (default 50) once.
 * Make-up check-ins (补签) fill an earlier day of the current month, at most
 * `monthly_limit` a month, optionally costing points (spent before the
 * check-in's own points are earned); they restore the streak of the days
 * after them (whose points are not paid again).
 *
 * Ledger entries: scene "checkin", biz_no derived from (member, day) for the
 * check-in, (member, month) for the bonus and (member, day) for a make-up's
 * cost, so each is written once.
 */
#ifndef JF_CHECKIN_H
#define JF_CHECKIN_H

#include <jansson.h>

#include "engine/ledger.h"

typedef struct {
    int64_t schedule[JF_CHECKIN_SCHEDULE_MAX];
    size_t steps;              /* 1..JF_CHECKIN_SCHEDULE_MAX */
    bool restart;              /* after the last step: start over (else repeat it) */
    int64_t perfect_month_bonus; /* 0 = none */
    int64_t makeup_monthly_limit; /* 0 = no make-ups */
    int64_t makeup_cost_points;   /* 0 = free */
} jf_checkin_config;

void jf_checkin_config_default(jf_checkin_config *c);
jf_code jf_checkin_config_parse(const json_t *doc, jf_checkin_config *out, jf_error *err);
json_t *jf_checkin_config_to_json(const jf_checkin_config *c);
/* The tenant's configuration (the default if it never set one). */
jf_code jf_checkin_config_get(const jf_ctx *c, jf_checkin_config *out, jf_error *err);
jf_code jf_checkin_config_put(const jf_ctx *c, const jf_checkin_config *cfg, jf_error *err);

/* Points for the n-th day of a streak (n ≥ 1). */
int64_t jf_checkin_step_points(const jf_checkin_config *c, int64_t streak);

/* Calendar helpers on YYYYMMDD integers. */
int32_t jf_day_add(int32_t ymd, int32_t days);
int32_t jf_days_in_month(int32_t year, int32_t month);

typedef struct {
    int32_t day;          /* YYYYMMDD */
    int64_t streak;
    int64_t points;
    bool makeup;
    int64_t cost;
    int64_t bonus;        /* perfect-month bonus earned by this check-in */
    int64_t makeups_used, makeups_left; /* this month, after this check-in */
    jf_member member;     /* after */
} jf_checkin_result;

/* Check in on day (YYYYMMDD; 0 = today in tenant time).  Write transaction.
 * A future day, a make-up outside the current month or over the monthly
 * limit, a day already checked in: each a clear error, nothing written. */
jf_code jf_checkin(const jf_ctx *c, const char *member_id, int32_t day, jf_checkin_result *out, jf_error *err);

typedef struct {
    int32_t year, month;
    jf_checkin_row rows[31];
    size_t n;
    int64_t current_streak; /* as of today: 0 unless checked in today or yesterday */
    bool checked_in_today;
    int64_t makeups_used, makeups_left; /* in the current month */
    int32_t today;
} jf_checkin_month;

/* A member's check-ins in one month (a member never seen has none). */
jf_code jf_checkin_month_get(const jf_ctx *c, const char *member_id, int32_t year, int32_t month,
                             jf_checkin_month *out, jf_error *err);

#endif
