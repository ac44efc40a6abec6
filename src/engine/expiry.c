/*
 * expiry.c — when a lot expires under a tenant's policy (see expiry.h).
 *
 * Runs on every earn, so it does no allocation and opens no calendar of its
 * own: the zone's calendar comes from util/tz.c's per-thread cache.  Every
 * "end of a period" is the exclusive instant where the next period starts, so
 * a lot is expired exactly when now >= expires_at.
 */
#include "engine/expiry.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "util/limits.h"
#include "util/tz.h"

static const char *const kind_names[] = {
    [JF_EXPIRY_NEVER] = "never",
    [JF_EXPIRY_ROLLING] = "rolling",
    [JF_EXPIRY_ANNUAL] = "annual",
};
static const char *const unit_names[] = {
    [JF_UNIT_DAYS] = "days",
    [JF_UNIT_MONTHS] = "months",
};
static const char *const round_names[] = {
    [JF_ROUND_NONE] = "none",   [JF_ROUND_DAY] = "day",   [JF_ROUND_MONTH] = "month",
    [JF_ROUND_QUARTER] = "quarter", [JF_ROUND_YEAR] = "year",
};
static const char *const refund_names[] = {
    [JF_REFUND_DEBT] = "debt",
    [JF_REFUND_CLAMP] = "clamp",
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *name_of(const char *const *names, int count, int v) {
    return v >= 0 && v < count ? names[v] : "unknown";
}

static int parse_name(const char *const *names, int count, const char *s) {
    if (s == NULL) return -1;
    for (int i = 0; i < count; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

const char *jf_expiry_kind_name(jf_expiry_kind k) { return name_of(kind_names, COUNT(kind_names), (int)k); }
int jf_expiry_kind_parse(const char *s) { return parse_name(kind_names, COUNT(kind_names), s); }
const char *jf_expiry_unit_name(jf_expiry_unit u) { return name_of(unit_names, COUNT(unit_names), (int)u); }
int jf_expiry_unit_parse(const char *s) { return parse_name(unit_names, COUNT(unit_names), s); }
const char *jf_expiry_round_name(jf_expiry_round r) { return name_of(round_names, COUNT(round_names), (int)r); }
int jf_expiry_round_parse(const char *s) { return parse_name(round_names, COUNT(round_names), s); }
const char *jf_refund_policy_name(jf_refund_policy p) { return name_of(refund_names, COUNT(refund_names), (int)p); }
int jf_refund_policy_parse(const char *s) { return parse_name(refund_names, COUNT(refund_names), s); }

static jf_code validate_rolling(const jf_expiry_policy *p, jf_error *err) {
    if ((int)p->unit == JF_UNIT_DAYS) {
        if (p->n < 1 || p->n > JF_EXPIRY_DAYS_MAX)
            return jf_fail(err, JF_INVALID_FIELD, "expiry.n",
                           "A rolling expiry in days needs n between 1 and %d (about 100 years); got %d.",
                           JF_EXPIRY_DAYS_MAX, (int)p->n);
    } else if ((int)p->unit == JF_UNIT_MONTHS) {
        if (p->n < 1 || p->n > JF_EXPIRY_MONTHS_MAX)
            return jf_fail(err, JF_INVALID_FIELD, "expiry.n",
                           "A rolling expiry in months needs n between 1 and %d (100 years); got %d.",
                           JF_EXPIRY_MONTHS_MAX, (int)p->n);
    } else {
        return jf_fail(err, JF_INVALID_FIELD, "expiry.unit", "The unit must be \"days\" or \"months\".");
    }
    if ((int)p->round < JF_ROUND_NONE || (int)p->round > JF_ROUND_YEAR)
        return jf_fail(err, JF_INVALID_FIELD, "expiry.round",
                       "Rounding must be \"none\", \"day\", \"month\", \"quarter\" or \"year\".");
    return JF_OK;
}

static jf_code validate_annual(const jf_expiry_policy *p, jf_error *err) {
    /* Days of each month in a common year: a clearing date must exist every
     * year, so February stops at 28. */
    static const int32_t month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int32_t m = p->clear_month, d = p->clear_day;
    if (m < 1 || m > 12)
        return jf_fail(err, JF_INVALID_FIELD, "expiry.clear_date", "The clearing month must be 1 to 12; got %d.",
                       (int)m);
    if (m == 2 && d == 29)
        return jf_fail(err, JF_INVALID_FIELD, "expiry.clear_date",
                       "February 29 cannot be a yearly clearing date because it does not exist every year; "
                       "use 02-28 (points then clear at the end of February).");
    if (d < 1 || d > month_days[m - 1])
        return jf_fail(err, JF_INVALID_FIELD, "expiry.clear_date",
                       "The clearing date %02d-%02d does not exist: month %d has %d days.", (int)m, (int)d, (int)m,
                       (int)month_days[m - 1]);
    if (p->years < 0 || p->years > JF_EXPIRY_YEARS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "expiry.years",
                       "The years kept after the first clearing date must be between 0 and %d; got %d.",
                       JF_EXPIRY_YEARS_MAX, (int)p->years);
    return JF_OK;
}

jf_code jf_expiry_validate(const jf_expiry_policy *p, jf_error *err) {
    assert(p != NULL);
    switch ((int)p->kind) {
    case JF_EXPIRY_NEVER:
        return JF_OK; /* the other fields are ignored */
    case JF_EXPIRY_ROLLING:
        return validate_rolling(p, err);
    case JF_EXPIRY_ANNUAL:
        return validate_annual(p, err);
    default:
        return jf_fail(err, JF_INVALID_FIELD, "expiry.kind",
                       "The expiry kind must be \"never\", \"rolling\" or \"annual\".");
    }
}

static const jf_period round_period[] = {
    [JF_ROUND_DAY] = JF_PERIOD_DAY,
    [JF_ROUND_MONTH] = JF_PERIOD_MONTH,
    [JF_ROUND_QUARTER] = JF_PERIOD_QUARTER,
    [JF_ROUND_YEAR] = JF_PERIOD_YEAR,
};

/* n days/months after earned_at, then up to the end of its period. */
static bool rolling(const jf_expiry_policy *p, const char *tz, int64_t earned_at_ms, int64_t *out_ms) {
    int64_t t;
    bool ok = p->unit == JF_UNIT_DAYS ? jf_tz_add_days(tz, earned_at_ms, p->n, &t)
                                      : jf_tz_add_months(tz, earned_at_ms, p->n, &t);
    if (!ok) return false;
    /* "End of the period" is the start of the next one, even when t is
     * itself the start of a period. */
    if (p->round != JF_ROUND_NONE && !jf_tz_period_next(tz, t, round_period[p->round], &t)) return false;
    *out_ms = t;
    return true;
}

/* The clearing moment of local year y: the end of clear_month-clear_day,
 * i.e. the start of the next local day (Dec 31 → Jan 1 of y + 1). */
static bool clearing(const jf_expiry_policy *p, const char *tz, int32_t y, int64_t *out_ms) {
    return jf_tz_instant(tz, y, p->clear_month, p->clear_day + 1, 0, 0, 0, out_ms);
}

/* The first clearing moment strictly after earned_at, plus `years` years. */
static bool annual(const jf_expiry_policy *p, const char *tz, int64_t earned_at_ms, int64_t *out_ms) {
    jf_civil c;
    int64_t first;
    if (!jf_tz_civil(tz, earned_at_ms, &c) || !clearing(p, tz, c.year, &first)) return false;
    /* The clearing moment of the previous year is at or before the start of
     * this local year, so it is never strictly after earned_at. */
    int32_t y = first > earned_at_ms ? c.year : c.year + 1;
    return clearing(p, tz, y + p->years, out_ms);
}

/* Short printable ASCII, safe to echo in an error detail. */
static bool printable(const char *s) {
    if (s == NULL) return false;
    size_t n = 0;
    for (; s[n] != '\0'; n++)
        if (n >= JF_TIMEZONE_LEN_MAX || s[n] < 0x20 || s[n] > 0x7e) return false;
    return n > 0;
}

jf_code jf_expiry_compute(const jf_expiry_policy *p, const char *tz, int64_t earned_at_ms, int64_t *expires_at_ms,
                          jf_error *err) {
    assert(p != NULL);
    assert(expires_at_ms != NULL);
    jf_code code = jf_expiry_validate(p, err);
    if (code != JF_OK) return code;
    if (p->kind == JF_EXPIRY_NEVER) {
        *expires_at_ms = JF_NEVER;
        return JF_OK;
    }
    if (!jf_tz_valid(tz)) {
        if (!printable(tz))
            return jf_fail(err, JF_INVALID_FIELD, "timezone",
                           "This is not a time zone; use an IANA name such as Asia/Shanghai.");
        return jf_fail(err, JF_INVALID_FIELD, "timezone",
                       "\"%s\" is not a time zone; use an IANA name such as Asia/Shanghai.", tz);
    }
    if (earned_at_ms < JF_TIME_MS_MIN || earned_at_ms > JF_TIME_MS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "earned_at",
                       "The earning time must be between 2000-01-01 and 2200-01-01 (UTC); got %lld ms.",
                       (long long)earned_at_ms);
    int64_t t = 0;
    bool ok = p->kind == JF_EXPIRY_ROLLING ? rolling(p, tz, earned_at_ms, &t) : annual(p, tz, earned_at_ms, &t);
    if (!ok || t > JF_TIME_MS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "expiry",
                       "The points would expire after 2200-01-01, beyond the supported range of times.");
    assert(t > earned_at_ms); /* every policy moves forward, in 2000..2200 */
    *expires_at_ms = t;
    return JF_OK;
}
