/*
 * test_tz.c — civil time through ICU (util/tz.h): zone names, civil fields,
 * DST gaps and overlaps, local periods, RFC 3339 both ways, the per-thread
 * calendar cache.
 *
 * Expected instants are literals computed outside ICU (Python's zoneinfo and
 * `date -d`), with the local time they stand for beside them.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/limits.h"
#include "util/tz.h"

#define SH "Asia/Shanghai"
#define NY "America/New_York"

/* The instant parsed from an RFC 3339 literal (the parser has its own tests). */
static int64_t at(const char *rfc3339) {
    int64_t ms = 0;
    cr_assert(jf_parse_rfc3339(rfc3339, &ms), "parse %s", rfc3339);
    return ms;
}

static void expect_format(const char *tz, int64_t ms, const char *expected) {
    char buf[64];
    cr_assert(jf_tz_format_rfc3339(tz, ms, buf, sizeof buf), "format %lld in %s", (long long)ms, tz);
    cr_expect_str_eq(buf, expected, "format %lld in %s", (long long)ms, tz);
}

Test(tz, known_zones_and_aliases_are_valid) {
    const char *good[] = {"UTC", "Etc/UTC", "GMT", SH, NY, "US/Eastern", "PRC", "Europe/Kiev", "Europe/Kyiv",
                          "Asia/Kolkata", "America/St_Johns", "Etc/GMT+8"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) cr_expect(jf_tz_valid(good[i]), "%s", good[i]);
}

Test(tz, unknown_zones_are_invalid) {
    char too_long[80];
    memset(too_long, 'A', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    const char *bad[] = {"",          "Foo/Bar",       "asia/shanghai", "GMT+8",          "GMT+08:00",
                         "Etc/Unknown", "Asia/Shanghai ", " UTC",        "UTC\n",           "../../etc/passwd",
                         "Asia/上海", "Asia/Shanghai\x01", too_long,  "America/New York", "+08:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) cr_expect(!jf_tz_valid(bad[i]), "%s", bad[i]);
    cr_expect(!jf_tz_valid(NULL));
}

Test(tz, civil_fields_weekday_and_offset) {
    jf_civil c;
    cr_assert(jf_tz_civil(SH, 1795424400000LL, &c)); /* 2026-11-23T09:00:00Z */
    cr_expect_eq(c.year, 2026);
    cr_expect_eq(c.month, 11);
    cr_expect_eq(c.day, 23);
    cr_expect_eq(c.hour, 17);
    cr_expect_eq(c.minute, 0);
    cr_expect_eq(c.second, 0);
    cr_expect_eq(c.millis, 0);
    cr_expect_eq(c.weekday, 1, "Monday");
    cr_expect_eq(c.offset_ms, 8 * 3600 * 1000);

    cr_assert(jf_tz_civil(NY, 1783182896789LL, &c)); /* 2026-07-04T12:34:56.789-04:00 */
    cr_expect_eq(c.year, 2026);
    cr_expect_eq(c.month, 7);
    cr_expect_eq(c.day, 4);
    cr_expect_eq(c.hour, 12);
    cr_expect_eq(c.minute, 34);
    cr_expect_eq(c.second, 56);
    cr_expect_eq(c.millis, 789);
    cr_expect_eq(c.weekday, 6, "Saturday");
    cr_expect_eq(c.offset_ms, -4 * 3600 * 1000, "EDT");

    cr_assert(jf_tz_civil(NY, 1768050000000LL, &c)); /* 2026-01-10T08:00:00-05:00 */
    cr_expect_eq(c.hour, 8);
    cr_expect_eq(c.offset_ms, -5 * 3600 * 1000, "EST");

    cr_assert(jf_tz_civil(SH, 1795964400000LL, &c)); /* 2026-11-29T23:00:00+08:00 */
    cr_expect_eq(c.weekday, 7, "Sunday");

    cr_assert(jf_tz_civil("UTC", 0, &c));
    cr_expect_eq(c.year, 1970);
    cr_expect_eq(c.weekday, 4, "1970-01-01 was a Thursday");
    cr_expect_eq(c.offset_ms, 0);

    cr_assert(jf_tz_civil("UTC", -1, &c));
    cr_expect_eq(c.year, 1969);
    cr_expect_eq(c.millis, 999);
}

Test(tz, civil_refuses_bad_zones_and_unsupported_instants) {
    jf_civil c;
    cr_expect(!jf_tz_civil("Foo/Bar", 0, &c));
    cr_expect(!jf_tz_civil(NULL, 0, &c));
    cr_expect(!jf_tz_civil(SH, INT64_MAX, &c), "JF_NEVER has no civil time");
    cr_expect(!jf_tz_civil(SH, INT64_MIN, &c));
    cr_expect(!jf_tz_civil(SH, JF_TZ_MS_MAX + 1, &c));
    cr_expect(!jf_tz_civil(SH, JF_TZ_MS_MIN - 1, &c));
    cr_expect(jf_tz_civil("UTC", JF_TZ_MS_MAX, &c));
    cr_expect_eq(c.year, 9999);
    cr_expect(jf_tz_civil("UTC", JF_TZ_MS_MIN, &c));
    cr_expect_eq(c.year, 1);
    cr_expect_eq(c.month, 1, "proleptic Gregorian: no Julian cutover");
    cr_expect_eq(c.day, 1);
}

Test(tz, instant_of_civil_time) {
    int64_t ms = 0;
    cr_assert(jf_tz_instant(SH, 2026, 11, 23, 17, 0, 0, &ms));
    cr_expect_eq(ms, 1795424400000LL);
    cr_assert(jf_tz_instant(NY, 2026, 3, 8, 0, 0, 0, &ms));
    cr_expect_eq(ms, 1772946000000LL); /* 2026-03-08T00:00:00-05:00 */
    cr_assert(jf_tz_instant("UTC", 2028, 2, 29, 23, 59, 59, &ms));
    cr_expect_eq(ms, 1835481599000LL);
}

Test(tz, instant_normalises_fields_like_a_calendar) {
    int64_t ms = 0;
    cr_assert(jf_tz_instant(SH, 2026, 1, 32, 0, 0, 0, &ms));
    cr_expect_eq(ms, 1769875200000LL); /* 2026-02-01T00:00:00+08:00 */
    cr_assert(jf_tz_instant(SH, 2026, 13, 1, 0, 0, 0, &ms));
    cr_expect_eq(ms, 1798732800000LL); /* 2027-01-01T00:00:00+08:00 */
    cr_assert(jf_tz_instant(SH, 2026, 12, 31, 24, 0, 0, &ms));
    cr_expect_eq(ms, 1798732800000LL);
    cr_assert(jf_tz_instant(SH, 2026, 3, 0, 10, 0, 0, &ms));
    cr_expect_eq(ms, 1772244000000LL); /* day 0 of March: 2026-02-28T10:00:00+08:00 */
}

Test(tz, instant_in_a_dst_gap_moves_forward) {
    int64_t ms = 0;
    /* 02:30 does not exist on 2026-03-08 in New York: read with the offset
     * before the gap it is 07:30Z, i.e. 03:30 EDT. */
    cr_assert(jf_tz_instant(NY, 2026, 3, 8, 2, 30, 0, &ms));
    cr_expect_eq(ms, 1772955000000LL);
    expect_format(NY, ms, "2026-03-08T03:30:00-04:00");
    /* Havana switches at midnight: the day starts at 01:00. */
    cr_assert(jf_tz_instant("America/Havana", 2026, 3, 8, 0, 0, 0, &ms));
    cr_expect_eq(ms, 1772946000000LL);
    expect_format("America/Havana", ms, "2026-03-08T01:00:00-04:00");
}

Test(tz, ambiguous_instant_takes_the_earlier) {
    int64_t ms = 0;
    /* 01:30 happens twice on 2026-11-01 in New York: EDT first. */
    cr_assert(jf_tz_instant(NY, 2026, 11, 1, 1, 30, 0, &ms));
    cr_expect_eq(ms, 1793511000000LL);
    expect_format(NY, ms, "2026-11-01T01:30:00-04:00");
    expect_format(NY, ms + 3600 * 1000, "2026-11-01T01:30:00-05:00");
}

Test(tz, instant_refuses_bad_input) {
    int64_t ms = 7;
    cr_expect(!jf_tz_instant("Foo/Bar", 2026, 1, 1, 0, 0, 0, &ms));
    cr_expect(!jf_tz_instant(SH, 0, 1, 1, 0, 0, 0, &ms));
    cr_expect(!jf_tz_instant(SH, 10000, 1, 1, 0, 0, 0, &ms));
    cr_expect(!jf_tz_instant(SH, 9999, 12, 31, 23, 59, 59 + 3600 * 9, &ms), "past 9999 after normalising");
    cr_expect(!jf_tz_instant(SH, 2026, INT32_MAX, 1, 0, 0, 0, &ms));
    cr_expect(!jf_tz_instant(SH, 2026, 1, INT32_MIN, 0, 0, 0, &ms));
    cr_expect(!jf_tz_instant(SH, 2026, 1, 1, INT32_MAX, INT32_MAX, INT32_MAX, &ms));
    cr_expect_eq(ms, 7, "output untouched on failure");
}

Test(tz, add_days_keeps_the_wall_time_across_dst) {
    int64_t ms = 0;
    cr_assert(jf_tz_add_days(NY, 1772902800000LL, 1, &ms)); /* 2026-03-07T12:00:00-05:00 */
    cr_expect_eq(ms, 1772985600000LL);                        /* 2026-03-08T12:00:00-04:00 */
    cr_expect_eq(ms - 1772902800000LL, 23 * 3600 * 1000LL, "a 23-hour day");
    cr_assert(jf_tz_add_days(NY, 1793448000000LL, 1, &ms)); /* 2026-10-31T08:00:00-04:00 */
    cr_expect_eq(ms, 1793538000000LL);                        /* 2026-11-01T08:00:00-05:00 */
    cr_expect_eq(ms - 1793448000000LL, 25 * 3600 * 1000LL, "a 25-hour day");
    cr_assert(jf_tz_add_days(NY, 1773072000000LL, -2, &ms)); /* 2026-03-09T12:00:00-04:00 */
    cr_expect_eq(ms, 1772902800000LL);                         /* 2026-03-07T12:00:00-05:00 */
    cr_assert(jf_tz_add_days(SH, 1835308800000LL, 2, &ms));  /* 2028-02-28T08:00:00+08:00 */
    cr_expect_eq(ms, 1835481600000LL);                         /* 2028-03-01T08:00:00+08:00 */
}

Test(tz, add_zero_keeps_the_instant) {
    int64_t ms = 0;
    /* 2026-11-01T01:30:00-05:00, the second 01:30 */
    cr_assert(jf_tz_add_days(NY, 1793514600000LL, 0, &ms));
    cr_expect_eq(ms, 1793514600000LL);
    cr_assert(jf_tz_add_months(NY, 1793514600000LL, 0, &ms));
    cr_expect_eq(ms, 1793514600000LL);
}

Test(tz, add_months_clamps_the_day) {
    int64_t ms = 0;
    cr_assert(jf_tz_add_months(SH, 1774922400000LL, -1, &ms)); /* 2026-03-31T10:00:00+08:00 */
    cr_expect_eq(ms, 1772244000000LL);                           /* 2026-02-28T10:00:00+08:00 */
    cr_assert(jf_tz_add_months(SH, 1767146400000LL, 2, &ms));  /* 2025-12-31T10:00:00+08:00 */
    cr_expect_eq(ms, 1772244000000LL);                           /* 2026-02-28T10:00:00+08:00 */
    cr_assert(jf_tz_add_months(SH, 1772244000000LL, -14, &ms));
    expect_format(SH, ms, "2024-12-28T10:00:00+08:00");
    cr_assert(jf_tz_add_months(SH, 1835409600000LL, 12, &ms)); /* 2028-02-29T12:00:00+08:00 */
    cr_expect_eq(ms, 1866945600000LL);                           /* 2029-02-28T12:00:00+08:00 */
}

Test(tz, add_refuses_bad_input) {
    int64_t ms = 0;
    cr_expect(!jf_tz_add_days("Foo/Bar", 1795424400000LL, 1, &ms));
    cr_expect(!jf_tz_add_days(SH, INT64_MAX, 1, &ms));
    cr_expect(!jf_tz_add_days(SH, 1795424400000LL, INT32_MAX, &ms));
    cr_expect(!jf_tz_add_days(SH, 1795424400000LL, INT32_MIN, &ms));
    cr_expect(!jf_tz_add_months(SH, 1795424400000LL, INT32_MAX, &ms));
    cr_expect(!jf_tz_add_months(SH, 1795424400000LL, 12 * 8000, &ms), "past year 9999");
    cr_expect(!jf_tz_add_months(SH, 1795424400000LL, -12 * 2026, &ms), "before year 1");
}

typedef struct {
    jf_period period;
    int64_t start_ms, next_ms;
} period_case;

static void check_periods(const char *tz, int64_t ms, const period_case *cases, size_t count) {
    for (size_t i = 0; i < count; i++) {
        int64_t start = 0, next = 0;
        cr_assert(jf_tz_period_start(tz, ms, cases[i].period, &start));
        cr_assert(jf_tz_period_next(tz, ms, cases[i].period, &next));
        cr_expect_eq(start, cases[i].start_ms, "%s period %d start: %lld", tz, (int)cases[i].period,
                     (long long)start);
        cr_expect_eq(next, cases[i].next_ms, "%s period %d next: %lld", tz, (int)cases[i].period, (long long)next);
    }
}

Test(tz, periods_in_shanghai) {
    /* Wednesday 2026-11-25T10:00:00+08:00 */
    const period_case cases[] = {
        {JF_PERIOD_DAY, 1795536000000LL, 1795622400000LL},     /* 11-25, 11-26 */
        {JF_PERIOD_WEEK, 1795363200000LL, 1795968000000LL},    /* Mon 11-23, Mon 11-30 */
        {JF_PERIOD_MONTH, 1793462400000LL, 1796054400000LL},   /* 11-01, 12-01 */
        {JF_PERIOD_QUARTER, 1790784000000LL, 1798732800000LL}, /* 10-01, 2027-01-01 */
        {JF_PERIOD_YEAR, 1767196800000LL, 1798732800000LL},    /* 2026-01-01, 2027-01-01 */
    };
    check_periods(SH, 1795572000000LL, cases, sizeof cases / sizeof cases[0]);
}

Test(tz, week_starts_on_monday) {
    int64_t ms = 0;
    /* Sunday 2026-11-29T23:00:00+08:00 is in the week of Monday 11-23 */
    cr_assert(jf_tz_period_start(SH, 1795964400000LL, JF_PERIOD_WEEK, &ms));
    cr_expect_eq(ms, 1795363200000LL);
    cr_assert(jf_tz_period_next(SH, 1795964400000LL, JF_PERIOD_WEEK, &ms));
    cr_expect_eq(ms, 1795968000000LL);
    /* Monday 2026-11-30T00:00:00+08:00 starts its own week */
    cr_assert(jf_tz_period_start(SH, 1795968000000LL, JF_PERIOD_WEEK, &ms));
    cr_expect_eq(ms, 1795968000000LL);
    cr_assert(jf_tz_period_next(SH, 1795968000000LL, JF_PERIOD_WEEK, &ms));
    cr_expect_eq(ms, 1796572800000LL); /* 2026-12-07T00:00:00+08:00 */
}

Test(tz, the_next_period_of_a_period_start_is_the_following_one) {
    int64_t ms = 0;
    cr_assert(jf_tz_period_next(SH, 1798732800000LL, JF_PERIOD_YEAR, &ms)); /* 2027-01-01T00:00+08:00 */
    cr_expect_eq(ms, 1830268800000LL);                                        /* 2028-01-01T00:00+08:00 */
    cr_assert(jf_tz_period_start(SH, 1798732800000LL - 1, JF_PERIOD_YEAR, &ms));
    cr_expect_eq(ms, 1767196800000LL, "one ms earlier is still 2026");
}

Test(tz, periods_on_new_york_dst_days) {
    /* 2026-03-08T12:00:00-04:00: a 23-hour day */
    const period_case spring[] = {
        {JF_PERIOD_DAY, 1772946000000LL, 1773028800000LL},  /* 00:00-05:00, 03-09T00:00-04:00 */
        {JF_PERIOD_WEEK, 1772427600000LL, 1773028800000LL}, /* Mon 03-02T00:00-05:00, Mon 03-09 */
    };
    check_periods(NY, 1772985600000LL, spring, sizeof spring / sizeof spring[0]);
    /* 2026-11-01T12:00:00-05:00: a 25-hour day */
    const period_case autumn[] = {
        {JF_PERIOD_DAY, 1793505600000LL, 1793595600000LL}, /* 00:00-04:00, 11-02T00:00-05:00 */
        {JF_PERIOD_MONTH, 1793505600000LL, 1796101200000LL}, /* 11-01T00:00-04:00, 12-01T00:00-05:00 */
    };
    check_periods(NY, 1793552400000LL, autumn, sizeof autumn / sizeof autumn[0]);
    /* Tuesday 2026-03-10T12:00:00-04:00 */
    const period_case week[] = {{JF_PERIOD_WEEK, 1773028800000LL, 1773633600000LL}};
    check_periods(NY, 1773158400000LL, week, 1);
}

Test(tz, period_of_a_day_starting_in_a_gap) {
    int64_t ms = 0;
    /* Havana 2026-03-08T12:00-04:00: the day began at 01:00-04:00 */
    cr_assert(jf_tz_period_start("America/Havana", 1772985600000LL, JF_PERIOD_DAY, &ms));
    cr_expect_eq(ms, 1772946000000LL);
}

Test(tz, periods_refuse_bad_input) {
    int64_t ms = 0;
    cr_expect(!jf_tz_period_start("Foo/Bar", 1795572000000LL, JF_PERIOD_DAY, &ms));
    cr_expect(!jf_tz_period_next(SH, INT64_MAX, JF_PERIOD_DAY, &ms));
    cr_expect(!jf_tz_period_next("UTC", JF_TZ_MS_MAX, JF_PERIOD_YEAR, &ms), "year 10000");
}

Test(tz, format_uses_the_zone_offset) {
    expect_format("UTC", 1795424400000LL, "2026-11-23T09:00:00+00:00");
    expect_format("Etc/UTC", 1795424400000LL, "2026-11-23T09:00:00+00:00");
    expect_format(SH, 1795424400000LL, "2026-11-23T17:00:00+08:00");
    expect_format(NY, 1795424400000LL, "2026-11-23T04:00:00-05:00");
    expect_format("Asia/Kolkata", 1795424400000LL, "2026-11-23T14:30:00+05:30");
    expect_format("Asia/Kathmandu", 1795424400000LL, "2026-11-23T14:45:00+05:45");
    expect_format("America/St_Johns", 1795424400000LL, "2026-11-23T05:30:00-03:30");
    expect_format("America/St_Johns", 1784000000123LL, "2026-07-14T01:03:20.123-02:30");
}

Test(tz, format_prints_milliseconds_only_when_not_zero) {
    expect_format(NY, 1772953199500LL, "2026-03-08T01:59:59.500-05:00");
    expect_format("UTC", 1795424400001LL, "2026-11-23T09:00:00.001+00:00");
    expect_format("UTC", 1795424400000LL, "2026-11-23T09:00:00+00:00");
    expect_format("UTC", -1, "1969-12-31T23:59:59.999+00:00");
    expect_format("UTC", JF_TZ_MS_MAX, "9999-12-31T23:59:59.999+00:00");
    expect_format("UTC", JF_TZ_MS_MIN, "0001-01-01T00:00:00+00:00");
}

Test(tz, format_rounds_a_local_mean_time_offset_to_the_minute) {
    /* Shanghai's local mean time was +08:05:43; RFC 3339 has no seconds in
     * offsets, so the offset is rounded and the local time follows it. */
    char buf[64];
    cr_assert(jf_tz_format_rfc3339(SH, JF_TZ_MS_MIN, buf, sizeof buf));
    cr_expect_str_eq(buf, "0001-01-01T08:06:00+08:06");
    int64_t back = 0;
    cr_assert(jf_parse_rfc3339(buf, &back));
    cr_expect_eq(back, JF_TZ_MS_MIN);
}

Test(tz, format_refuses_what_it_cannot_print) {
    char buf[64] = "untouched";
    cr_expect(!jf_tz_format_rfc3339("Foo/Bar", 0, buf, sizeof buf));
    cr_expect(!jf_tz_format_rfc3339(SH, INT64_MAX, buf, sizeof buf), "JF_NEVER");
    cr_expect(!jf_tz_format_rfc3339(SH, JF_TZ_MS_MAX, buf, sizeof buf), "year 10000 locally");
    char small[26];
    cr_expect(!jf_tz_format_rfc3339(SH, 1795424400000LL, small, 25), "needs 26 bytes with the NUL");
    cr_expect(jf_tz_format_rfc3339(SH, 1795424400000LL, small, 26));
    cr_expect_str_eq(small, "2026-11-23T17:00:00+08:00");
    cr_expect(!jf_tz_format_rfc3339(SH, 1795424400000LL, NULL, 0));
}

typedef struct {
    const char *text;
    int64_t ms;
} parse_case;

Test(tz, parse_accepts_rfc3339) {
    const parse_case cases[] = {
        {"2026-11-23T09:00:00Z", 1795424400000LL},
        {"2026-11-23t09:00:00z", 1795424400000LL},
        {"2026-11-23T17:00:00+08:00", 1795424400000LL},
        {"2026-11-23T04:00:00-05:00", 1795424400000LL},
        {"2026-11-23T09:00:00+00:00", 1795424400000LL},
        {"2026-11-23T09:00:00-00:00", 1795424400000LL},
        {"2026-11-23T14:45:00+05:45", 1795424400000LL},
        {"2026-11-23T09:00:00.5Z", 1795424400500LL},
        {"2026-11-23T09:00:00.05Z", 1795424400050LL},
        {"2026-11-23T09:00:00.000Z", 1795424400000LL},
        {"2026-11-23T09:00:00.123456789Z", 1795424400123LL},
        {"2026-11-23T09:00:00.9999Z", 1795424400999LL},
        {"2028-02-29T23:59:59Z", 1835481599000LL},
        {"2000-02-29T00:00:00Z", 951782400000LL},
        {"1969-12-31T23:59:59.999Z", -1},
        {"9999-12-31T23:59:59.999Z", JF_TZ_MS_MAX},
        {"0001-01-01T00:00:00Z", JF_TZ_MS_MIN},
        {"0001-01-01T00:00:00-00:01", JF_TZ_MS_MIN + 60000},
        {"2026-12-31T23:59:59+23:59", 1798675259000LL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = 0;
        cr_expect(jf_parse_rfc3339(cases[i].text, &ms), "%s", cases[i].text);
        cr_expect_eq(ms, cases[i].ms, "%s: %lld", cases[i].text, (long long)ms);
    }
}

Test(tz, parse_refuses_bad_input) {
    const char *bad[] = {
        "",
        "2026-11-23",
        "2026-11-23T09:00:00",          /* missing offset */
        "2026-11-23T09:00Z",            /* missing seconds */
        "2026-11-23 09:00:00Z",         /* space for T */
        "2026-11-23X09:00:00Z",
        "2026-13-01T00:00:00Z",         /* month 13 */
        "2026-00-10T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-32T00:00:00Z",
        "2026-02-30T00:00:00Z",         /* Feb 30 */
        "2027-02-29T00:00:00Z",         /* not a leap year */
        "2100-02-29T00:00:00Z",         /* century, not a leap year */
        "2026-04-31T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T23:60:00Z",
        "2026-11-23T23:59:60Z",         /* leap seconds are refused */
        "2026-11-23T09:00:00Zjunk",     /* trailing junk */
        "2026-11-23T09:00:00+08:00 ",
        " 2026-11-23T09:00:00Z",
        "2026-11-23T09:00:00.Z",        /* empty fraction */
        "2026-11-23T09:00:00.1234567890Z", /* ten fraction digits */
        "20260-11-23T09:00:00Z",        /* too many digits */
        "2026-011-23T09:00:00Z",
        "2026-11-023T09:00:00Z",
        "2026-11-23T009:00:00Z",
        "2026-11-23T09:00:000Z",
        "2026-11-23T09:00:00+008:00",
        "2026-11-23T09:00:00+08:000",
        "2026-1-23T09:00:00Z",
        "2026-11-23T9:00:00Z",
        "2026-11-23T09:00:00+0800",
        "2026-11-23T09:00:00+08",
        "2026-11-23T09:00:00+8:00",
        "2026-11-23T09:00:00+24:00",
        "2026-11-23T09:00:00+08:60",
        "2026-11-23T09:00:00+08:00:00",
        "2026-11-23T09:00:00UTC",
        "-2026-11-23T09:00:00Z",
        "+2026-11-23T09:00:00Z",
        "0000-01-01T00:00:00Z",         /* year 0: out of range */
        "9999-12-31T23:59:59-00:01",    /* after 9999-12-31T23:59:59.999Z */
        "0001-01-01T00:00:00+00:01",    /* before 0001-01-01T00:00:00Z */
        "２０２６-11-23T09:00:00Z",
        "2026-11-23T09:00:00,5Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        cr_expect(!jf_parse_rfc3339(bad[i], &ms), "accepted \"%s\"", bad[i]);
        cr_expect_eq(ms, 42, "output untouched for \"%s\"", bad[i]);
    }
    int64_t ms = 0;
    cr_expect(!jf_parse_rfc3339(NULL, &ms));
}

Test(tz, format_and_parse_round_trip) {
    const char *zones[] = {"UTC", SH, NY, "Asia/Kolkata", "America/St_Johns", "Australia/Lord_Howe", "Pacific/Apia"};
    const int64_t instants[] = {
        JF_TIME_MS_MIN, JF_TIME_MS_MAX, 1795424400000LL, 1772953199500LL, 1772955000000LL, 1793511000000LL,
        1793514600001LL, 1835409600000LL, 1325239200000LL, -1, 0, 4954406400000LL,
    };
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++) {
            char buf[64];
            int64_t back = 0;
            cr_assert(jf_tz_format_rfc3339(zones[z], instants[i], buf, sizeof buf));
            cr_expect(jf_parse_rfc3339(buf, &back), "%s", buf);
            cr_expect_eq(back, instants[i], "%s in %s", buf, zones[z]);
        }
    }
    /* and text already in a zone's offset prints back the same */
    const char *texts[] = {"2026-03-08T01:59:59.500-05:00", "2026-03-08T03:00:00-04:00",
                           "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) expect_format(NY, at(texts[i]), texts[i]);
}

Test(tz, parse_date) {
    int32_t y = 0, m = 0, d = 0;
    cr_assert(jf_parse_date("2026-11-23", &y, &m, &d));
    cr_expect(y == 2026 && m == 11 && d == 23);
    cr_assert(jf_parse_date("2028-02-29", &y, &m, &d));
    cr_expect(y == 2028 && m == 2 && d == 29);
    cr_assert(jf_parse_date("2000-02-29", &y, &m, &d));
    const char *bad[] = {"",           "2027-02-29", "2100-02-29", "2026-02-30", "2026-13-01", "2026-00-01",
                         "2026-04-31", "2026-1-01",  "2026-01-1",  "20260-01-01", "2026-11-23T",
                         "2026-11-23 ", "0000-01-01", "2026/11/23", "11-23-2026"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        y = m = d = -1;
        cr_expect(!jf_parse_date(bad[i], &y, &m, &d), "accepted \"%s\"", bad[i]);
        cr_expect(y == -1 && m == -1 && d == -1, "output untouched for \"%s\"", bad[i]);
    }
    cr_expect(!jf_parse_date(NULL, &y, &m, &d));
}

Test(tz, now_is_the_wall_clock) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t now = jf_now_ms();
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    cr_expect(now >= before && now <= after, "%lld not in [%lld, %lld]", (long long)now, (long long)before,
              (long long)after);
}

/* More zones than a thread's cache holds, in turn: every answer stays right
 * while calendars are evicted and reopened. */
static const char *const cycle_zones[] = {SH, NY, "UTC", "Asia/Kolkata", "Europe/London", "Australia/Sydney"};
/* 2026-11-23T09:00:00Z + 1 local day in each zone is 24 h later (no DST
 * change on that day in any of them) */
static bool cycle_once(void) {
    for (size_t z = 0; z < sizeof cycle_zones / sizeof cycle_zones[0]; z++) {
        int64_t ms = 0;
        if (!jf_tz_add_days(cycle_zones[z], 1795424400000LL, 1, &ms) || ms != 1795510800000LL) return false;
        if (!jf_tz_period_start(cycle_zones[z], 1795424400000LL, JF_PERIOD_YEAR, &ms)) return false;
        jf_civil c;
        if (!jf_tz_civil(cycle_zones[z], ms, &c) || c.year != 2026 || c.month != 1 || c.day != 1 || c.hour != 0)
            return false;
    }
    return true;
}

Test(tz, cache_eviction_keeps_answers_right) {
    for (int i = 0; i < 50; i++) cr_assert(cycle_once(), "round %d", i);
}

static void *cycle_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 200; i++)
        if (!cycle_once()) return (void *)1;
    return NULL;
}

/* Several threads at once, each with its own calendars; threads that exit
 * close theirs (the sanitizer build checks for leaks). */
Test(tz, threads_each_use_their_own_calendars) {
    enum { THREADS = 6 };
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) cr_assert_eq(pthread_create(&threads[i], NULL, cycle_thread, NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        void *result = (void *)2;
        cr_assert_eq(pthread_join(threads[i], &result), 0);
        cr_expect_null(result, "thread %d got a wrong answer", i);
    }
}

/* One instant against the C library (TZ must name the zone): every field,
 * and the instant of those fields is the instant again or, in a repeated
 * hour, the first of the two. */
static void check_against_libc(const char *zone, int64_t ms) {
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    cr_assert(localtime_r(&secs, &tm) != NULL);
    jf_civil c;
    cr_assert(jf_tz_civil(zone, ms, &c));
    bool same = c.year == tm.tm_year + 1900 && c.month == tm.tm_mon + 1 && c.day == tm.tm_mday &&
                c.hour == tm.tm_hour && c.minute == tm.tm_min && c.second == tm.tm_sec &&
                c.weekday == (tm.tm_wday == 0 ? 7 : tm.tm_wday) && c.offset_ms == tm.tm_gmtoff * 1000;
    cr_assert(same,
              "%s at %lld: ICU %04d-%02d-%02d %02d:%02d:%02d wd %d off %d, libc %04d-%02d-%02d "
              "%02d:%02d:%02d wd %d off %ld",
              zone, (long long)ms, c.year, c.month, c.day, c.hour, c.minute, c.second, c.weekday, c.offset_ms,
              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_wday,
              tm.tm_gmtoff * 1000);
    int64_t back = 0;
    cr_assert(jf_tz_instant(zone, c.year, c.month, c.day, c.hour, c.minute, c.second, &back));
    back += c.millis;
    if (back != ms) {
        jf_civil again;
        cr_assert(jf_tz_civil(zone, back, &again));
        cr_assert(back < ms && again.day == c.day && again.hour == c.hour && again.minute == c.minute &&
                      again.second == c.second,
                  "%s: %lld came back as %lld", zone, (long long)ms, (long long)back);
    }
}

static void use_libc_zone(const char *zone) {
    cr_assert_eq(setenv("TZ", zone, 1), 0);
    tzset();
}

/* ICU against the C library's own zone database (/usr/share/zoneinfo), an
 * independent source: thousands of instants from 2000 to 2100 in zones with
 * DST, half-hour offsets, a 30-minute DST and Samoa's jump across the date
 * line, visited in an order that jumps back and forth so that both the
 * remembered spans and ICU's own answers are used. */
Test(tz, agrees_with_the_c_library_zone_database) {
    const char *zones[] = {SH,           NY,          "Europe/London",   "Australia/Lord_Howe", "Asia/Kolkata",
                           "America/St_Johns", "Pacific/Auckland", "Pacific/Apia", "America/Sao_Paulo", "UTC"};
    const int64_t first_ms = 946684800000LL, last_ms = 4102444800000LL; /* 2000-01-01 .. 2100-01-01 UTC */
    const int64_t step_ms = 6 * 86400000LL + 4033007LL;                /* 6 days 1h 7m 13.007s */
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        use_libc_zone(zones[z]);
        int64_t count = (last_ms - first_ms) / step_ms;
        /* k-th in a shuffled order: 7919 is prime and does not divide count */
        for (int64_t k = 0; k < count; k++) check_against_libc(zones[z], first_ms + (k * 7919 % count) * step_ms);
    }
}

/* Every quarter hour (and the millisecond before it) for two years: each
 * transition instant and its neighbours, where spans begin and end. */
Test(tz, agrees_with_the_c_library_at_every_transition) {
    const struct {
        const char *zone;
        int64_t from_ms;
    } cases[] = {
        {NY, 1767225600000LL},                    /* 2026-01-01Z */
        {"Australia/Lord_Howe", 1767225600000LL}, /* DST of 30 minutes */
        {"America/St_Johns", 1767225600000LL},
        {"Pacific/Apia", 1293840000000LL}, /* 2011-01-01Z: 2011-12-30 never happened */
        {"America/Havana", 1767225600000LL},     /* DST at midnight */
    };
    const int64_t quarter_hour_ms = 15 * 60000LL, span_ms = 2 * 366 * 86400000LL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        use_libc_zone(cases[i].zone);
        for (int64_t ms = cases[i].from_ms; ms < cases[i].from_ms + span_ms; ms += quarter_hour_ms) {
            check_against_libc(cases[i].zone, ms);
            check_against_libc(cases[i].zone, ms - 1);
        }
    }
}
