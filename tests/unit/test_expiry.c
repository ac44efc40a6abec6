/*
 * test_expiry.c — expiry policies (engine/expiry.h) in Asia/Shanghai and in
 * America/New_York (DST).
 *
 * Every expected instant is a literal computed outside ICU (Python's
 * zoneinfo and `date -d`), written both as UTC ms and as the RFC 3339 string
 * in the tenant's zone so that a failure reads like a calendar.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "engine/expiry.h"
#include "util/tz.h"

#define SH "Asia/Shanghai"
#define NY "America/New_York"

#define ROLLING(n_, unit_, round_) \
    {.kind = JF_EXPIRY_ROLLING, .n = (n_), .unit = JF_UNIT_##unit_, .round = JF_ROUND_##round_}
#define ANNUAL(month_, day_, years_) \
    {.kind = JF_EXPIRY_ANNUAL, .clear_month = (month_), .clear_day = (day_), .years = (years_)}

typedef struct {
    const char *tz;
    jf_expiry_policy policy;
    int64_t earned_ms;
    const char *earned; /* earned_ms in the zone, for reading and a cross-check */
    int64_t expires_ms;
    const char *expires;
} expiry_case;

static void check_cases(const expiry_case *cases, size_t count) {
    for (size_t i = 0; i < count; i++) {
        const expiry_case *c = &cases[i];
        int64_t parsed = 0;
        cr_assert(jf_parse_rfc3339(c->earned, &parsed), "case %zu: parse %s", i, c->earned);
        cr_assert_eq(parsed, c->earned_ms, "case %zu: the table's earned_ms and %s disagree", i, c->earned);
        jf_error err;
        jf_error_clear(&err);
        int64_t got = 0;
        jf_code code = jf_expiry_compute(&c->policy, c->tz, c->earned_ms, &got, &err);
        cr_assert_eq(code, JF_OK, "case %zu (%s): %s: %s", i, c->earned, err.field, err.detail);
        char text[64] = "";
        jf_tz_format_rfc3339(c->tz, got, text, sizeof text);
        cr_expect_eq(got, c->expires_ms, "case %zu: earned %s, expected %s, got %s (%lld)", i, c->earned, c->expires,
                     text, (long long)got);
        cr_expect_str_eq(text, c->expires, "case %zu: earned %s", i, c->earned);
    }
}

#define CHECK(table) check_cases(table, sizeof(table) / sizeof(table[0]))

static const expiry_case rolling_month_and_year_ends_shanghai[] = {
    {SH, ROLLING(30, DAYS, NONE), 1768443630000LL, "2026-01-15T10:20:30+08:00", 1771035630000LL, "2026-02-14T10:20:30+08:00"},
    {SH, ROLLING(1, MONTHS, NONE), 1769824800000LL, "2026-01-31T10:00:00+08:00", 1772244000000LL, "2026-02-28T10:00:00+08:00"},
    {SH, ROLLING(1, MONTHS, NONE), 1832896800000LL, "2028-01-31T10:00:00+08:00", 1835402400000LL, "2028-02-29T10:00:00+08:00"},
    {SH, ROLLING(1, MONTHS, NONE), 1774918800000LL, "2026-03-31T09:00:00+08:00", 1777510800000LL, "2026-04-30T09:00:00+08:00"},
    {SH, ROLLING(11, MONTHS, NONE), 1774918800000LL, "2026-03-31T09:00:00+08:00", 1803776400000LL, "2027-02-28T09:00:00+08:00"},
    {SH, ROLLING(6, MONTHS, NONE), 1788138000000LL, "2026-08-31T09:00:00+08:00", 1803776400000LL, "2027-02-28T09:00:00+08:00"},
    {SH, ROLLING(3, MONTHS, NONE), 1780189200000LL, "2026-05-31T09:00:00+08:00", 1788138000000LL, "2026-08-31T09:00:00+08:00"},
    {SH, ROLLING(1, DAYS, NONE), 1798732799000LL, "2026-12-31T23:59:59+08:00", 1798819199000LL, "2027-01-01T23:59:59+08:00"},
    {SH, ROLLING(1, MONTHS, NONE), 1798732799000LL, "2026-12-31T23:59:59+08:00", 1801411199000LL, "2027-01-31T23:59:59+08:00"},
    {SH, ROLLING(1, DAYS, DAY), 1798732799999LL, "2026-12-31T23:59:59.999+08:00", 1798819200000LL, "2027-01-02T00:00:00+08:00"},
};

static const expiry_case leap_day_2028_shanghai[] = {
    {SH, ROLLING(12, MONTHS, NONE), 1835409600000LL, "2028-02-29T12:00:00+08:00", 1866945600000LL, "2029-02-28T12:00:00+08:00"},
    {SH, ROLLING(1, DAYS, NONE), 1835409600000LL, "2028-02-29T12:00:00+08:00", 1835496000000LL, "2028-03-01T12:00:00+08:00"},
    {SH, ROLLING(48, MONTHS, NONE), 1835409600000LL, "2028-02-29T12:00:00+08:00", 1961640000000LL, "2032-02-29T12:00:00+08:00"},
    {SH, ROLLING(2, DAYS, NONE), 1835308800000LL, "2028-02-28T08:00:00+08:00", 1835481600000LL, "2028-03-01T08:00:00+08:00"},
    {SH, ROLLING(366, DAYS, NONE), 1835409600000LL, "2028-02-29T12:00:00+08:00", 1867032000000LL, "2029-03-01T12:00:00+08:00"},
    {SH, ROLLING(365, DAYS, NONE), 1835409600000LL, "2028-02-29T12:00:00+08:00", 1866945600000LL, "2029-02-28T12:00:00+08:00"},
    {SH, ROLLING(12, MONTHS, NONE), 1803787200000LL, "2027-02-28T12:00:00+08:00", 1835323200000LL, "2028-02-28T12:00:00+08:00"},
};

static const expiry_case rounding_shanghai[] = {
    {SH, ROLLING(30, DAYS, DAY), 1768442400000LL, "2026-01-15T10:00:00+08:00", 1771084800000LL, "2026-02-15T00:00:00+08:00"},
    {SH, ROLLING(1, DAYS, DAY), 1768406400000LL, "2026-01-15T00:00:00+08:00", 1768579200000LL, "2026-01-17T00:00:00+08:00"},
    {SH, ROLLING(1, MONTHS, MONTH), 1769824800000LL, "2026-01-31T10:00:00+08:00", 1772294400000LL, "2026-03-01T00:00:00+08:00"},
    {SH, ROLLING(3, MONTHS, QUARTER), 1768442400000LL, "2026-01-15T10:00:00+08:00", 1782835200000LL, "2026-07-01T00:00:00+08:00"},
    {SH, ROLLING(1, MONTHS, QUARTER), 1794708000000LL, "2026-11-15T10:00:00+08:00", 1798732800000LL, "2027-01-01T00:00:00+08:00"},
    {SH, ROLLING(6, MONTHS, YEAR), 1782784800000LL, "2026-06-30T10:00:00+08:00", 1798732800000LL, "2027-01-01T00:00:00+08:00"},
    {SH, ROLLING(1, MONTHS, YEAR), 1796054400000LL, "2026-12-01T00:00:00+08:00", 1830268800000LL, "2028-01-01T00:00:00+08:00"},
    {SH, ROLLING(1, MONTHS, MONTH), 1772208000000LL, "2026-02-28T00:00:00+08:00", 1774972800000LL, "2026-04-01T00:00:00+08:00"},
    {SH, ROLLING(12, MONTHS, MONTH), 1835409600000LL, "2028-02-29T12:00:00+08:00", 1866988800000LL, "2029-03-01T00:00:00+08:00"},
    {SH, ROLLING(1, DAYS, MONTH), 1835409600000LL, "2028-02-29T12:00:00+08:00", 1838131200000LL, "2028-04-01T00:00:00+08:00"},
    {SH, ROLLING(1, MONTHS, MONTH), 1769873400000LL, "2026-01-31T23:30:00+08:00", 1772294400000LL, "2026-03-01T00:00:00+08:00"},
    {SH, ROLLING(1200, MONTHS, NONE), 1779235200000LL, "2026-05-20T08:00:00+08:00", 4934908800000LL, "2126-05-20T08:00:00+08:00"},
    {SH, ROLLING(36600, DAYS, NONE), 1779235200000LL, "2026-05-20T08:00:00+08:00", 4941475200000LL, "2126-08-04T08:00:00+08:00"},
    {SH, ROLLING(1200, MONTHS, YEAR), 1779235200000LL, "2026-05-20T08:00:00+08:00", 4954406400000LL, "2127-01-01T00:00:00+08:00"},
};

static const expiry_case rolling_new_york_dst[] = {
    {NY, ROLLING(1, DAYS, NONE), 1772902800000LL, "2026-03-07T12:00:00-05:00", 1772985600000LL, "2026-03-08T12:00:00-04:00"},
    {NY, ROLLING(30, DAYS, NONE), 1771596900000LL, "2026-02-20T09:15:00-05:00", 1774185300000LL, "2026-03-22T09:15:00-04:00"},
    {NY, ROLLING(7, DAYS, NONE), 1793448000000LL, "2026-10-31T08:00:00-04:00", 1794056400000LL, "2026-11-07T08:00:00-05:00"},
    {NY, ROLLING(1, DAYS, NONE), 1793448000000LL, "2026-10-31T08:00:00-04:00", 1793538000000LL, "2026-11-01T08:00:00-05:00"},
    {NY, ROLLING(1, DAYS, DAY), 1772913600000LL, "2026-03-07T15:00:00-05:00", 1773028800000LL, "2026-03-09T00:00:00-04:00"},
    {NY, ROLLING(1, DAYS, DAY), 1793473200000LL, "2026-10-31T15:00:00-04:00", 1793595600000LL, "2026-11-02T00:00:00-05:00"},
    {NY, ROLLING(1, DAYS, NONE), 1772868600000LL, "2026-03-07T02:30:00-05:00", 1772955000000LL, "2026-03-08T03:30:00-04:00"},
    {NY, ROLLING(1, DAYS, NONE), 1793424600000LL, "2026-10-31T01:30:00-04:00", 1793511000000LL, "2026-11-01T01:30:00-04:00"},
    {NY, ROLLING(1, MONTHS, MONTH), 1769907600000LL, "2026-01-31T20:00:00-05:00", 1772341200000LL, "2026-03-01T00:00:00-05:00"},
    {NY, ROLLING(1, MONTHS, NONE), 1769907600000LL, "2026-01-31T20:00:00-05:00", 1772326800000LL, "2026-02-28T20:00:00-05:00"},
    {NY, ROLLING(1, MONTHS, QUARTER), 1770771600000LL, "2026-02-10T20:00:00-05:00", 1775016000000LL, "2026-04-01T00:00:00-04:00"},
    {NY, ROLLING(1, DAYS, YEAR), 1798777800000LL, "2026-12-31T23:30:00-05:00", 1830315600000LL, "2028-01-01T00:00:00-05:00"},
    {NY, ROLLING(12, MONTHS, NONE), 1835488800000LL, "2028-02-29T21:00:00-05:00", 1867024800000LL, "2029-02-28T21:00:00-05:00"},
    {NY, ROLLING(2, DAYS, MONTH), 1835316000000LL, "2028-02-27T21:00:00-05:00", 1835499600000LL, "2028-03-01T00:00:00-05:00"},
    {NY, ROLLING(1, MONTHS, NONE), 1770535800000LL, "2026-02-08T02:30:00-05:00", 1772955000000LL, "2026-03-08T03:30:00-04:00"},
    {NY, ROLLING(1, DAYS, NONE), 1798765200000LL, "2026-12-31T20:00:00-05:00", 1798851600000LL, "2027-01-01T20:00:00-05:00"},
};

static const expiry_case annual_shanghai[] = {
    {SH, ANNUAL(12, 31, 1), 1742004000000LL, "2025-03-15T10:00:00+08:00", 1798732800000LL, "2027-01-01T00:00:00+08:00"},
    {SH, ANNUAL(12, 31, 1), 1735660800000LL, "2025-01-01T00:00:00+08:00", 1798732800000LL, "2027-01-01T00:00:00+08:00"},
    {SH, ANNUAL(12, 31, 1), 1767196799999LL, "2025-12-31T23:59:59.999+08:00", 1798732800000LL, "2027-01-01T00:00:00+08:00"},
    {SH, ANNUAL(12, 31, 1), 1767196800000LL, "2026-01-01T00:00:00+08:00", 1830268800000LL, "2028-01-01T00:00:00+08:00"},
    {SH, ANNUAL(12, 31, 1), 1767196800001LL, "2026-01-01T00:00:00.001+08:00", 1830268800000LL, "2028-01-01T00:00:00+08:00"},
    {SH, ANNUAL(12, 31, 0), 1742004000000LL, "2025-03-15T10:00:00+08:00", 1767196800000LL, "2026-01-01T00:00:00+08:00"},
    {SH, ANNUAL(12, 31, 0), 1767196799999LL, "2025-12-31T23:59:59.999+08:00", 1767196800000LL, "2026-01-01T00:00:00+08:00"},
    {SH, ANNUAL(12, 31, 0), 1767196800000LL, "2026-01-01T00:00:00+08:00", 1798732800000LL, "2027-01-01T00:00:00+08:00"},
    {SH, ANNUAL(12, 31, 2), 1742004000000LL, "2025-03-15T10:00:00+08:00", 1830268800000LL, "2028-01-01T00:00:00+08:00"},
    {SH, ANNUAL(12, 31, 2), 1767196800000LL, "2026-01-01T00:00:00+08:00", 1861891200000LL, "2029-01-01T00:00:00+08:00"},
    {SH, ANNUAL(12, 31, 1), 1767211200000LL, "2026-01-01T04:00:00+08:00", 1830268800000LL, "2028-01-01T00:00:00+08:00"},
    {SH, ANNUAL(6, 30, 1), 1772326800000LL, "2026-03-01T09:00:00+08:00", 1814371200000LL, "2027-07-01T00:00:00+08:00"},
    {SH, ANNUAL(6, 30, 1), 1785546000000LL, "2026-08-01T09:00:00+08:00", 1845993600000LL, "2028-07-01T00:00:00+08:00"},
    {SH, ANNUAL(6, 30, 0), 1782835200000LL, "2026-07-01T00:00:00+08:00", 1814371200000LL, "2027-07-01T00:00:00+08:00"},
    {SH, ANNUAL(6, 30, 0), 1782835199999LL, "2026-06-30T23:59:59.999+08:00", 1782835200000LL, "2026-07-01T00:00:00+08:00"},
    {SH, ANNUAL(6, 30, 2), 1782835200001LL, "2026-07-01T00:00:00.001+08:00", 1877529600000LL, "2029-07-01T00:00:00+08:00"},
    {SH, ANNUAL(2, 28, 0), 1835316000000LL, "2028-02-28T10:00:00+08:00", 1835366400000LL, "2028-02-29T00:00:00+08:00"},
    {SH, ANNUAL(2, 28, 0), 1835402400000LL, "2028-02-29T10:00:00+08:00", 1866988800000LL, "2029-03-01T00:00:00+08:00"},
    {SH, ANNUAL(2, 28, 1), 1835366400000LL, "2028-02-29T00:00:00+08:00", 1898524800000LL, "2030-03-01T00:00:00+08:00"},
    {SH, ANNUAL(2, 28, 1), 1803830400000LL, "2027-03-01T00:00:00+08:00", 1866988800000LL, "2029-03-01T00:00:00+08:00"},
    {SH, ANNUAL(2, 28, 0), 1803830400000LL, "2027-03-01T00:00:00+08:00", 1835366400000LL, "2028-02-29T00:00:00+08:00"},
    {SH, ANNUAL(12, 31, 100), 1779235200000LL, "2026-05-20T08:00:00+08:00", 4954406400000LL, "2127-01-01T00:00:00+08:00"},
};

static const expiry_case annual_new_york[] = {
    {NY, ANNUAL(12, 31, 1), 1777996800000LL, "2026-05-05T12:00:00-04:00", 1830315600000LL, "2028-01-01T00:00:00-05:00"},
    {NY, ANNUAL(12, 31, 0), 1767243600000LL, "2026-01-01T00:00:00-05:00", 1798779600000LL, "2027-01-01T00:00:00-05:00"},
    {NY, ANNUAL(12, 31, 0), 1767243599999LL, "2025-12-31T23:59:59.999-05:00", 1767243600000LL, "2026-01-01T00:00:00-05:00"},
    {NY, ANNUAL(3, 7, 0), 1768064400000LL, "2026-01-10T12:00:00-05:00", 1772946000000LL, "2026-03-08T00:00:00-05:00"},
    {NY, ANNUAL(3, 8, 1), 1768064400000LL, "2026-01-10T12:00:00-05:00", 1804568400000LL, "2027-03-09T00:00:00-05:00"},
    {NY, ANNUAL(3, 7, 0), 1772946000000LL, "2026-03-08T00:00:00-05:00", 1804482000000LL, "2027-03-08T00:00:00-05:00"},
    {NY, ANNUAL(10, 31, 0), 1781107200000LL, "2026-06-10T12:00:00-04:00", 1793505600000LL, "2026-11-01T00:00:00-04:00"},
    {NY, ANNUAL(10, 31, 0), 1793514600000LL, "2026-11-01T01:30:00-05:00", 1825041600000LL, "2027-11-01T00:00:00-04:00"},
};

Test(expiry, rolling_month_and_year_ends_in_shanghai) { CHECK(rolling_month_and_year_ends_shanghai); }
Test(expiry, rolling_across_the_leap_day_2028) { CHECK(leap_day_2028_shanghai); }
Test(expiry, rounding_up_to_day_month_quarter_year) { CHECK(rounding_shanghai); }
Test(expiry, rolling_in_new_york_keeps_wall_time_across_dst) { CHECK(rolling_new_york_dst); }
Test(expiry, annual_clearing_in_shanghai) { CHECK(annual_shanghai); }
Test(expiry, annual_clearing_in_new_york) { CHECK(annual_new_york); }

/* The same instant belongs to different local years in different zones:
 * 2025-12-31T20:00Z is already 2026 in Shanghai but still 2025 in New York. */
Test(expiry, annual_clearing_uses_the_local_year) {
    jf_expiry_policy p = ANNUAL(12, 31, 0);
    int64_t got = 0;
    cr_assert_eq(jf_expiry_compute(&p, SH, 1767211200000LL, &got, NULL), JF_OK);
    cr_expect_eq(got, 1798732800000LL); /* 2027-01-01T00:00:00+08:00 */
    cr_assert_eq(jf_expiry_compute(&p, NY, 1767211200000LL, &got, NULL), JF_OK);
    cr_expect_eq(got, 1767243600000LL); /* 2026-01-01T00:00:00-05:00 */
    cr_assert_eq(jf_expiry_compute(&p, "UTC", 1767211200000LL, &got, NULL), JF_OK);
    cr_expect_eq(got, 1767225600000LL); /* 2026-01-01T00:00:00+00:00 */
}

Test(expiry, never_ignores_other_fields_and_the_zone) {
    jf_expiry_policy p = {.kind = JF_EXPIRY_NEVER, .n = -5, .unit = 7, .round = 9, .clear_month = 13, .years = -1};
    int64_t got = 0;
    jf_error err;
    jf_error_clear(&err);
    cr_assert_eq(jf_expiry_validate(&p, &err), JF_OK);
    cr_assert_eq(jf_expiry_compute(&p, SH, 1768443630000LL, &got, &err), JF_OK);
    cr_expect_eq(got, JF_NEVER);
    cr_assert_eq(jf_expiry_compute(&p, "Not/AZone", 1768443630000LL, &got, &err), JF_OK);
    cr_expect_eq(got, JF_NEVER);
}

/* Policies of a hundred years from now must work: JF_TIME_MS_MAX is 2200. */
Test(expiry, the_longest_policies_from_2026_fit) {
    const jf_expiry_policy policies[] = {ROLLING(JF_EXPIRY_DAYS_MAX, DAYS, YEAR),
                                         ROLLING(JF_EXPIRY_MONTHS_MAX, MONTHS, YEAR),
                                         ANNUAL(12, 31, JF_EXPIRY_YEARS_MAX)};
    const int64_t expected[] = {
        4985989200000LL, /* 2127-03-17T23:00-04:00, rounded: 2128-01-01T00:00:00-05:00 */
        4954453200000LL, /* 2126-12-31T23:00-05:00, rounded: 2127-01-01T00:00:00-05:00 */
        4954453200000LL, /* first clearing 2027-01-01, + 100 years: 2127-01-01T00:00:00-05:00 */
    };
    for (size_t i = 0; i < 3; i++) {
        int64_t got = 0;
        jf_error err;
        jf_error_clear(&err);
        /* 2026-12-31T23:00:00-05:00 */
        cr_assert_eq(jf_expiry_compute(&policies[i], NY, 1798776000000LL, &got, &err), JF_OK, "%zu: %s", i,
                     err.detail);
        cr_expect_eq(got, expected[i], "policy %zu: got %lld", i, (long long)got);
    }
}

static void expect_failure(jf_code code, const jf_error *err, const char *field, const char *detail_part) {
    cr_expect_eq(code, JF_INVALID_FIELD);
    cr_expect_eq(err->code, JF_INVALID_FIELD);
    cr_expect_str_eq(err->field, field);
    cr_expect_neq(err->detail[0], '\0', "a detail for %s", field);
    if (detail_part != NULL)
        cr_expect(strstr(err->detail, detail_part) != NULL, "detail of %s: \"%s\" lacks \"%s\"", field, err->detail,
                  detail_part);
}

Test(expiry, results_beyond_2200_are_refused) {
    jf_error err;
    int64_t got = 42;
    /* 2150-01-01T00:00:00+08:00 + 36600 days = 2250 */
    jf_expiry_policy days = ROLLING(JF_EXPIRY_DAYS_MAX, DAYS, NONE);
    jf_error_clear(&err);
    expect_failure(jf_expiry_compute(&days, SH, 5680252800000LL, &got, &err), &err, "expiry", "2200");
    cr_expect_eq(got, 42, "output untouched on failure");
    jf_expiry_policy annual = ANNUAL(12, 31, 100);
    jf_error_clear(&err);
    expect_failure(jf_expiry_compute(&annual, SH, 5680252800000LL, &got, &err), &err, "expiry", "2200");
    /* UTC, 2199-12-31T00:00Z + 1 day = 2200-01-01T00:00Z = JF_TIME_MS_MAX: still fine */
    jf_expiry_policy one_day = ROLLING(1, DAYS, NONE);
    cr_assert_eq(jf_expiry_compute(&one_day, "UTC", 7258032000000LL, &got, NULL), JF_OK);
    cr_expect_eq(got, JF_TIME_MS_MAX);
    /* … one millisecond later is not */
    jf_error_clear(&err);
    expect_failure(jf_expiry_compute(&one_day, "UTC", 7258032000001LL, &got, &err), &err, "expiry", NULL);
    /* … nor is rounding past it */
    jf_expiry_policy one_day_round = ROLLING(1, DAYS, DAY);
    jf_error_clear(&err);
    expect_failure(jf_expiry_compute(&one_day_round, "UTC", 7258032000000LL, &got, &err), &err, "expiry", NULL);
}

Test(expiry, bad_zone_and_bad_earning_time_are_refused) {
    jf_expiry_policy p = ROLLING(30, DAYS, NONE);
    jf_error err;
    int64_t got = 0;
    const char *zones[] = {"", "Not/AZone", "asia/shanghai", "GMT+8", "Asia/Shanghai ", "Etc/Unknown"};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        jf_error_clear(&err);
        expect_failure(jf_expiry_compute(&p, zones[i], 1768443630000LL, &got, &err), &err, "timezone", "IANA");
    }
    jf_error_clear(&err);
    expect_failure(jf_expiry_compute(&p, NULL, 1768443630000LL, &got, &err), &err, "timezone", NULL);
    jf_error_clear(&err);
    expect_failure(jf_expiry_compute(&p, "Asia/\x01\xff", 1768443630000LL, &got, &err), &err, "timezone", NULL);
    cr_expect(strchr(err.detail, '\xff') == NULL, "raw bytes are not echoed");
    jf_error_clear(&err);
    expect_failure(jf_expiry_compute(&p, SH, 0, &got, &err), &err, "earned_at", NULL);
    jf_error_clear(&err);
    expect_failure(jf_expiry_compute(&p, SH, JF_TIME_MS_MAX + 1, &got, &err), &err, "earned_at", NULL);
    jf_error_clear(&err);
    expect_failure(jf_expiry_compute(&p, SH, INT64_MIN, &got, &err), &err, "earned_at", NULL);
    /* A NULL err is allowed: only the code comes back. */
    cr_expect_eq(jf_expiry_compute(&p, "Not/AZone", 1768443630000LL, &got, NULL), JF_INVALID_FIELD);
}

typedef struct {
    jf_expiry_policy policy;
    const char *field;
    const char *detail_part;
} bad_policy;

Test(expiry, every_bad_field_is_named) {
    const bad_policy cases[] = {
        {{.kind = 3}, "expiry.kind", "never"},
        {{.kind = -1}, "expiry.kind", NULL},
        {ROLLING(0, DAYS, NONE), "expiry.n", "1 and 36600"},
        {ROLLING(-1, DAYS, NONE), "expiry.n", "got -1"},
        {ROLLING(JF_EXPIRY_DAYS_MAX + 1, DAYS, NONE), "expiry.n", "36601"},
        {ROLLING(0, MONTHS, NONE), "expiry.n", "1 and 1200"},
        {ROLLING(JF_EXPIRY_MONTHS_MAX + 1, MONTHS, NONE), "expiry.n", "1201"},
        {ROLLING(2000, MONTHS, DAY), "expiry.n", "months"},
        {{.kind = JF_EXPIRY_ROLLING, .n = 30, .unit = 2}, "expiry.unit", "days"},
        {{.kind = JF_EXPIRY_ROLLING, .n = 30, .unit = -1}, "expiry.unit", NULL},
        {{.kind = JF_EXPIRY_ROLLING, .n = 30, .unit = JF_UNIT_DAYS, .round = 5}, "expiry.round", "quarter"},
        {{.kind = JF_EXPIRY_ROLLING, .n = 30, .unit = JF_UNIT_DAYS, .round = -1}, "expiry.round", NULL},
        {ANNUAL(0, 31, 1), "expiry.clear_date", "1 to 12"},
        {ANNUAL(13, 1, 1), "expiry.clear_date", "got 13"},
        {ANNUAL(1, 0, 1), "expiry.clear_date", "does not exist"},
        {ANNUAL(1, 32, 1), "expiry.clear_date", "31 days"},
        {ANNUAL(4, 31, 1), "expiry.clear_date", "04-31"},
        {ANNUAL(6, 31, 1), "expiry.clear_date", "30 days"},
        {ANNUAL(2, 29, 1), "expiry.clear_date", "every year"},
        {ANNUAL(2, 30, 1), "expiry.clear_date", "28 days"},
        {ANNUAL(12, 31, -1), "expiry.years", "0 and 100"},
        {ANNUAL(12, 31, JF_EXPIRY_YEARS_MAX + 1), "expiry.years", "got 101"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jf_error err;
        jf_error_clear(&err);
        int64_t got = 0;
        expect_failure(jf_expiry_validate(&cases[i].policy, &err), &err, cases[i].field, cases[i].detail_part);
        jf_error_clear(&err);
        expect_failure(jf_expiry_compute(&cases[i].policy, SH, 1768443630000LL, &got, &err), &err, cases[i].field,
                       cases[i].detail_part);
    }
}

Test(expiry, boundary_policies_are_valid) {
    const jf_expiry_policy good[] = {
        ROLLING(1, DAYS, NONE),       ROLLING(JF_EXPIRY_DAYS_MAX, DAYS, YEAR), ROLLING(1, MONTHS, QUARTER),
        ROLLING(JF_EXPIRY_MONTHS_MAX, MONTHS, DAY), ANNUAL(1, 1, 0),  ANNUAL(2, 28, 0),
        ANNUAL(12, 31, JF_EXPIRY_YEARS_MAX), ANNUAL(4, 30, 3),
        /* an annual policy ignores the rolling fields, and the other way round */
        {.kind = JF_EXPIRY_ANNUAL, .n = -9, .unit = 9, .round = 9, .clear_month = 3, .clear_day = 31},
        {.kind = JF_EXPIRY_ROLLING, .n = 7, .unit = JF_UNIT_DAYS, .clear_month = 99, .clear_day = -3, .years = -8},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        jf_error err;
        jf_error_clear(&err);
        cr_expect_eq(jf_expiry_validate(&good[i], &err), JF_OK, "policy %zu: %s", i, err.detail);
    }
}

Test(expiry, names_round_trip) {
    for (int k = JF_EXPIRY_NEVER; k <= JF_EXPIRY_ANNUAL; k++)
        cr_expect_eq(jf_expiry_kind_parse(jf_expiry_kind_name((jf_expiry_kind)k)), k);
    for (int u = JF_UNIT_DAYS; u <= JF_UNIT_MONTHS; u++)
        cr_expect_eq(jf_expiry_unit_parse(jf_expiry_unit_name((jf_expiry_unit)u)), u);
    for (int r = JF_ROUND_NONE; r <= JF_ROUND_YEAR; r++)
        cr_expect_eq(jf_expiry_round_parse(jf_expiry_round_name((jf_expiry_round)r)), r);
    for (int p = JF_REFUND_DEBT; p <= JF_REFUND_CLAMP; p++)
        cr_expect_eq(jf_refund_policy_parse(jf_refund_policy_name((jf_refund_policy)p)), p);
    cr_expect_str_eq(jf_expiry_kind_name(JF_EXPIRY_ROLLING), "rolling");
    cr_expect_str_eq(jf_expiry_unit_name(JF_UNIT_MONTHS), "months");
    cr_expect_str_eq(jf_expiry_round_name(JF_ROUND_QUARTER), "quarter");
    cr_expect_str_eq(jf_refund_policy_name(JF_REFUND_CLAMP), "clamp");
}

Test(expiry, unknown_names_parse_to_minus_one) {
    const char *bad[] = {"", "Never", "ROLLING", "annual ", "day s", "weeks", "hour", "half", "refund", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(jf_expiry_kind_parse(bad[i]), -1);
        cr_expect_eq(jf_expiry_unit_parse(bad[i]), -1);
        cr_expect_eq(jf_expiry_round_parse(bad[i]), -1);
        cr_expect_eq(jf_refund_policy_parse(bad[i]), -1);
    }
    cr_expect_str_eq(jf_expiry_kind_name((jf_expiry_kind)7), "unknown");
    cr_expect_str_eq(jf_expiry_unit_name((jf_expiry_unit)-1), "unknown");
    cr_expect_str_eq(jf_expiry_round_name((jf_expiry_round)5), "unknown");
    cr_expect_str_eq(jf_refund_policy_name((jf_refund_policy)2), "unknown");
}
