/*
 * tz.c — civil time in an IANA zone, through ICU's calendar (see tz.h).
 *
 * ICU knows the zones; this file asks it only for a zone's offset from UTC
 * at an instant (and the span of instants that share it) and for the
 * instant of a local time near a transition.  Days, months, weeks and
 * periods are then proleptic Gregorian arithmetic on local milliseconds,
 * which needs no zone data — no zone table is written here.
 *
 * A UCalendar is expensive to open (it loads the zone's rules) and is not
 * thread-safe, so each thread keeps the few it used last in a _Thread_local
 * cache; a pthread key closes them when the thread exits.
 *
 * The hot path (an expiry on every earn) avoids ICU's field computation,
 * which costs far more than the arithmetic around it.  A zone's offset is
 * constant between two transitions, so each cached zone remembers a few
 * such spans [from, to) with their offset (asked once from ICU, bounded by
 * ucal_getTimeZoneTransitionDate).  UTC → local is then an addition; local →
 * UTC is a subtraction when the result lies two days or more inside a span
 * (no offset differs by 48 h, so no other span can hold a second answer);
 * anything nearer a transition asks ICU (ucal_getTimeZoneOffsetFromLocal),
 * which resolves a wall time repeated by a DST fall-back to its first
 * occurrence, and one skipped by a spring-forward with the offset before the
 * gap (so it moves forward by the length of the gap: 02:30 on a New York
 * spring-forward day is 03:30 EDT) — the behaviour of java.time and of
 * Temporal's "compatible".  Dates are proleptic Gregorian throughout.
 */
#include "util/tz.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "util/limits.h"

#define MS_PER_SECOND 1000LL
#define MS_PER_MINUTE 60000LL
#define MS_PER_DAY 86400000LL

/* Bounds on field arguments, so that sums such as day + n can never
 * overflow an int32 and ICU never sees absurd values: 10 000 000 days is
 * 27 000 years, far beyond the supported instants. */
#define FIELD_ABS_MAX 10000000
#define YEAR_MIN 1
#define YEAR_MAX 9999

/* Zones a thread keeps open.  A server thread mostly serves one tenant's
 * zone at a time; four covers a few tenants interleaving. */
enum { CACHE_SLOTS = 4 };

/* Spans of constant offset a zone remembers: the instants near "now" and
 * those an expiry reaches (a month, a quarter, a year ahead). */
enum { SPANS = 4 };

/* [from_ms, to_ms) in UTC during which the zone's offset is offset_ms. */
typedef struct {
    int64_t from_ms, to_ms;
    int32_t offset_ms;
} offset_span;

typedef struct {
    char name[JF_TIMEZONE_LEN_MAX + 1]; /* "" = free slot */
    UCalendar *cal;
    offset_span spans[SPANS];
    int32_t span_count, span_next; /* filled, and the one replaced next */
} cache_slot;

/* Slots in most-recently-used order: slot 0 was used last. */
typedef struct {
    cache_slot slots[CACHE_SLOTS];
    bool cleanup_registered;
} tz_cache;

static _Thread_local tz_cache thread_cache;
static pthread_key_t cache_key;
static bool cache_key_ok;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void cache_release(void *arg) {
    tz_cache *c = arg;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (c->slots[i].cal != NULL) ucal_close(c->slots[i].cal);
        c->slots[i].cal = NULL;
        c->slots[i].name[0] = '\0';
    }
    c->cleanup_registered = false;
}

static void cache_key_create(void) {
    cache_key_ok = pthread_key_create(&cache_key, cache_release) == 0;
}

/* A zone name as ICU wants it (UTF-16), after checking it could be an IANA
 * name at all: 1..JF_TIMEZONE_LEN_MAX of [A-Za-z0-9/_+-]. */
static bool zone_id(const char *name, UChar id[JF_TIMEZONE_LEN_MAX + 1], int32_t *len) {
    if (name == NULL) return false;
    int32_t n = 0;
    for (; name[n] != '\0'; n++) {
        if (n >= JF_TIMEZONE_LEN_MAX) return false;
        char ch = name[n];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '/' ||
                  ch == '_' || ch == '+' || ch == '-';
        if (!ok) return false;
        id[n] = (UChar)ch;
    }
    id[n] = 0;
    *len = n;
    return n > 0;
}

/* True if ICU knows id as a system zone (canonical or alias).  Custom IDs
 * such as "GMT+8" are refused: a tenant's zone must be a real place. */
static bool zone_known(const UChar *id, int32_t len) {
    UChar canonical[128];
    UBool is_system = false;
    UErrorCode st = U_ZERO_ERROR;
    ucal_getCanonicalTimeZoneID(id, len, canonical, (int32_t)(sizeof canonical / sizeof canonical[0]), &is_system,
                                &st);
    return U_SUCCESS(st) && is_system;
}

static UCalendar *calendar_open(const char *name) {
    UChar id[JF_TIMEZONE_LEN_MAX + 1];
    int32_t len = 0;
    if (!zone_id(name, id, &len) || !zone_known(id, len)) return NULL;
    UErrorCode st = U_ZERO_ERROR;
    UCalendar *cal = ucal_open(id, len, "en_US_POSIX", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st) || cal == NULL) {
        if (cal != NULL) ucal_close(cal);
        return NULL;
    }
    return cal;
}

/* The cached zone `name` for this thread, opening it if needed; NULL if the
 * zone is unknown.  Valid until the next call (slots move). */
static cache_slot *zone_get(const char *name) {
    tz_cache *c = &thread_cache;
    if (name == NULL) return NULL;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (c->slots[i].cal == NULL) break;
        if (strcmp(c->slots[i].name, name) != 0) continue;
        if (i > 0) { /* move to front */
            cache_slot hit = c->slots[i];
            memmove(&c->slots[1], &c->slots[0], (size_t)i * sizeof c->slots[0]);
            c->slots[0] = hit;
        }
        return &c->slots[0];
    }
    UCalendar *cal = calendar_open(name);
    if (cal == NULL) return NULL;
    if (!c->cleanup_registered) {
        pthread_once(&cache_key_once, cache_key_create);
        if (cache_key_ok && pthread_setspecific(cache_key, c) == 0) c->cleanup_registered = true;
    }
    cache_slot *last = &c->slots[CACHE_SLOTS - 1];
    if (last->cal != NULL) ucal_close(last->cal);
    memmove(&c->slots[1], &c->slots[0], (CACHE_SLOTS - 1) * sizeof c->slots[0]);
    memset(&c->slots[0], 0, sizeof c->slots[0]);
    c->slots[0].cal = cal;
    snprintf(c->slots[0].name, sizeof c->slots[0].name, "%s", name);
    return &c->slots[0];
}

/* ---- proleptic Gregorian arithmetic (UTC, no zone) ---- */

static bool is_leap_year(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int32_t days_in_month(int64_t y, int32_t m) {
    static const int32_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    assert(m >= 1 && m <= 12);
    return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days from 1970-01-01 to y-m-d.  Counts in 400-year eras of 146097 days,
 * with years starting in March so that the leap day is the era's last. */
static int64_t days_from_civil(int64_t y, int32_t m, int32_t d) {
    int64_t y_march = m <= 2 ? y - 1 : y;
    int64_t era = floor_div(y_march, 400);
    int64_t year_of_era = y_march - era * 400;                      /* 0..399 */
    int64_t month_from_march = m > 2 ? m - 3 : m + 9;               /* 0..11 */
    int64_t day_of_year = (153 * month_from_march + 2) / 5 + d - 1; /* 0..365 */
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static void civil_from_days(int64_t days, int64_t *y, int32_t *m, int32_t *d) {
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t day_of_era = z - era * 146097; /* 0..146096 */
    int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t mp = (5 * day_of_year + 2) / 153;
    *d = (int32_t)(day_of_year - (153 * mp + 2) / 5 + 1);
    *m = (int32_t)(mp < 10 ? mp + 3 : mp - 9);
    *y = year_of_era + era * 400 + (*m <= 2 ? 1 : 0);
}

/* Civil fields of a local (zone-less) millisecond count. */
static void fields_from_local(int64_t local_ms, jf_civil *c) {
    int64_t days = floor_div(local_ms, MS_PER_DAY);
    int64_t in_day = local_ms - days * MS_PER_DAY;
    int64_t year;
    civil_from_days(days, &year, &c->month, &c->day);
    c->year = (int32_t)year;
    c->hour = (int32_t)(in_day / 3600000);
    c->minute = (int32_t)(in_day / MS_PER_MINUTE % 60);
    c->second = (int32_t)(in_day / MS_PER_SECOND % 60);
    c->millis = (int32_t)(in_day % MS_PER_SECOND);
    int64_t days_since_monday = days + 3; /* 1970-01-01 was a Thursday */
    c->weekday = (int32_t)(days_since_monday - floor_div(days_since_monday, 7) * 7) + 1;
}

/* The local millisecond count of civil fields, normalised the way a lenient
 * calendar does (month 13 is January of the next year, day 0 the last day of
 * the previous month, hour 24 the next day). */
static int64_t local_from_fields(int32_t year, int32_t month, int32_t day, int32_t hour, int32_t minute,
                                 int32_t second, int32_t millis) {
    int64_t months = (int64_t)year * 12 + (month - 1);
    int64_t y = floor_div(months, 12);
    int32_t m = (int32_t)(months - y * 12) + 1;
    int64_t days = days_from_civil(y, m, 1) + (day - 1);
    return days * MS_PER_DAY + hour * 3600000LL + minute * MS_PER_MINUTE + second * MS_PER_SECOND + millis;
}

static bool ms_supported(int64_t ms) {
    return ms >= JF_TZ_MS_MIN && ms <= JF_TZ_MS_MAX;
}

/* ---- offsets: ICU, remembered per span ---- */

/* Bounds for a span with no transition before / after it: far outside the
 * supported instants, and far from overflowing when a margin is added. */
#define SPAN_OPEN_MIN (JF_TZ_MS_MIN - 100 * MS_PER_DAY)
#define SPAN_OPEN_MAX (JF_TZ_MS_MAX + 100 * MS_PER_DAY)

/* A local time this far inside a span has exactly one instant (offsets of a
 * zone never differ by 48 hours). */
#define SPAN_MARGIN_MS (2 * MS_PER_DAY)

/* Ask ICU for the offset at ms and the span around it; remember the span. */
static bool span_learn(cache_slot *z, int64_t ms, int32_t *offset_ms) {
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(z->cal, (UDate)ms, &st);
    int32_t offset = ucal_get(z->cal, UCAL_ZONE_OFFSET, &st) + ucal_get(z->cal, UCAL_DST_OFFSET, &st);
    if (U_FAILURE(st)) return false;
    offset_span span = {SPAN_OPEN_MIN, SPAN_OPEN_MAX, offset};
    UDate t = 0;
    if (ucal_getTimeZoneTransitionDate(z->cal, UCAL_TZ_TRANSITION_PREVIOUS_INCLUSIVE, &t, &st) && U_SUCCESS(st) &&
        t > (UDate)SPAN_OPEN_MIN)
        span.from_ms = (int64_t)t;
    st = U_ZERO_ERROR;
    if (ucal_getTimeZoneTransitionDate(z->cal, UCAL_TZ_TRANSITION_NEXT, &t, &st) && U_SUCCESS(st) &&
        t < (UDate)SPAN_OPEN_MAX)
        span.to_ms = (int64_t)t;
    /* Keep only a span that does hold ms (it always should). */
    if (span.from_ms <= ms && ms < span.to_ms) {
        z->spans[z->span_next] = span;
        z->span_next = (z->span_next + 1) % SPANS;
        if (z->span_count < SPANS) z->span_count++;
    }
    *offset_ms = offset;
    return true;
}

static bool utc_offset(cache_slot *z, int64_t ms, int32_t *offset_ms) {
    for (int32_t i = 0; i < z->span_count; i++) {
        const offset_span *s = &z->spans[i];
        if (s->from_ms <= ms && ms < s->to_ms) {
            *offset_ms = s->offset_ms;
            return true;
        }
    }
    return span_learn(z, ms, offset_ms);
}

/* The instant of a local millisecond count: skipped → offset before the
 * gap, repeated → the first. */
static bool utc_of_local(cache_slot *z, int64_t local_ms, int64_t *out_ms) {
    for (int32_t i = 0; i < z->span_count; i++) {
        const offset_span *s = &z->spans[i];
        int64_t u = local_ms - s->offset_ms;
        if (s->from_ms + SPAN_MARGIN_MS <= u && u < s->to_ms - SPAN_MARGIN_MS) {
            *out_ms = u;
            return true;
        }
    }
    if (local_ms < JF_TZ_MS_MIN - MS_PER_DAY || local_ms > JF_TZ_MS_MAX + MS_PER_DAY) return false;
    UErrorCode st = U_ZERO_ERROR;
    int32_t raw = 0, dst = 0;
    ucal_setMillis(z->cal, (UDate)local_ms, &st);
    ucal_getTimeZoneOffsetFromLocal(z->cal, UCAL_TZ_LOCAL_FORMER, UCAL_TZ_LOCAL_FORMER, &raw, &dst, &st);
    if (U_FAILURE(st)) return false;
    int64_t u = local_ms - raw - dst;
    int32_t ignored;
    if (ms_supported(u)) utc_offset(z, u, &ignored); /* remember the span for next time */
    *out_ms = u;
    return true;
}

/* ---- the two questions: civil fields of an instant, instant of fields ---- */

static bool civil_of(cache_slot *z, int64_t ms, jf_civil *out) {
    int32_t offset = 0;
    if (!ms_supported(ms) || !utc_offset(z, ms, &offset)) return false;
    fields_from_local(ms + offset, out);
    out->offset_ms = offset;
    return true;
}

/* Fields are bounded by the callers (FIELD_ABS_MAX, years) so that the sums
 * cannot overflow. */
static bool instant_of(cache_slot *z, int32_t year, int32_t month, int32_t day, int32_t hour, int32_t minute,
                       int32_t second, int32_t millis, int64_t *out_ms) {
    if (year < YEAR_MIN - 1 || year > YEAR_MAX + 1) return false;
    int64_t u = 0;
    if (!utc_of_local(z, local_from_fields(year, month, day, hour, minute, second, millis), &u)) return false;
    if (!ms_supported(u)) return false;
    *out_ms = u;
    return true;
}

static bool field_ok(int32_t v) {
    return v >= -FIELD_ABS_MAX && v <= FIELD_ABS_MAX;
}

/* ---- public ---- */

bool jf_tz_valid(const char *name) {
    return zone_get(name) != NULL;
}

bool jf_tz_civil(const char *tz, int64_t ms, jf_civil *out) {
    assert(out != NULL);
    cache_slot *z = zone_get(tz);
    return z != NULL && civil_of(z, ms, out);
}

bool jf_tz_instant(const char *tz, int32_t year, int32_t month, int32_t day, int32_t hour, int32_t minute,
                   int32_t second, int64_t *out_ms) {
    assert(out_ms != NULL);
    if (year < YEAR_MIN || year > YEAR_MAX) return false;
    if (!field_ok(month) || !field_ok(day) || !field_ok(hour) || !field_ok(minute) || !field_ok(second)) return false;
    cache_slot *z = zone_get(tz);
    return z != NULL && instant_of(z, year, month, day, hour, minute, second, 0, out_ms);
}

bool jf_tz_add_days(const char *tz, int64_t ms, int32_t n, int64_t *out_ms) {
    assert(out_ms != NULL);
    cache_slot *z = zone_get(tz);
    jf_civil c;
    if (z == NULL || !field_ok(n) || !civil_of(z, ms, &c)) return false;
    if (n == 0) { /* keep the instant even inside a repeated hour */
        *out_ms = ms;
        return true;
    }
    return instant_of(z, c.year, c.month, c.day + n, c.hour, c.minute, c.second, c.millis, out_ms);
}

bool jf_tz_add_months(const char *tz, int64_t ms, int32_t n, int64_t *out_ms) {
    assert(out_ms != NULL);
    cache_slot *z = zone_get(tz);
    jf_civil c;
    if (z == NULL || !field_ok(n) || !civil_of(z, ms, &c)) return false;
    if (n == 0) {
        *out_ms = ms;
        return true;
    }
    int64_t months = (int64_t)c.year * 12 + (c.month - 1) + n;
    int64_t year = floor_div(months, 12);
    int32_t month = (int32_t)(months - year * 12) + 1;
    if (year < YEAR_MIN || year > YEAR_MAX) return false;
    int32_t dim = days_in_month(year, month);
    int32_t day = c.day > dim ? dim : c.day;
    return instant_of(z, (int32_t)year, month, day, c.hour, c.minute, c.second, c.millis, out_ms);
}

/* First day (as y, m, d fields, possibly denormalised) of the period that
 * contains civil date c, and the first day of the period after it. */
static void period_days(const jf_civil *c, jf_period p, int32_t first[3], int32_t next[3]) {
    first[0] = next[0] = c->year;
    first[1] = next[1] = c->month;
    first[2] = next[2] = 1;
    switch (p) {
    case JF_PERIOD_DAY:
        first[2] = c->day;
        next[2] = c->day + 1;
        break;
    case JF_PERIOD_WEEK: /* weeks start on Monday */
        first[2] = c->day - (c->weekday - 1);
        next[2] = first[2] + 7;
        break;
    case JF_PERIOD_MONTH:
        next[1] = c->month + 1;
        break;
    case JF_PERIOD_QUARTER:
        first[1] = (c->month - 1) / 3 * 3 + 1;
        next[1] = first[1] + 3;
        break;
    case JF_PERIOD_YEAR:
        first[1] = 1;
        next[0] = c->year + 1;
        next[1] = 1;
        break;
    }
}

static bool period_bound(const char *tz, int64_t ms, jf_period p, bool want_next, int64_t *out_ms) {
    assert(out_ms != NULL);
    assert(p >= JF_PERIOD_DAY && p <= JF_PERIOD_YEAR);
    cache_slot *z = zone_get(tz);
    jf_civil c;
    if (z == NULL || !civil_of(z, ms, &c)) return false;
    int32_t first[3], next[3];
    period_days(&c, p, first, next);
    const int32_t *f = want_next ? next : first;
    /* Midnight may fall in a DST gap (Havana switches at 00:00); read with
     * the offset before the gap it is the transition, the day's first instant. */
    return instant_of(z, f[0], f[1], f[2], 0, 0, 0, 0, out_ms);
}

bool jf_tz_period_start(const char *tz, int64_t ms, jf_period p, int64_t *out_ms) {
    return period_bound(tz, ms, p, false, out_ms);
}

bool jf_tz_period_next(const char *tz, int64_t ms, jf_period p, int64_t *out_ms) {
    return period_bound(tz, ms, p, true, out_ms);
}

/* v (0 <= v < 10^width) as exactly width decimal digits at out + *n. */
static void put_digits(char *out, size_t *n, int32_t v, int width) {
    for (int i = width - 1; i >= 0; i--) {
        out[*n + (size_t)i] = (char)('0' + v % 10);
        v /= 10;
    }
    *n += (size_t)width;
}

bool jf_tz_format_rfc3339(const char *tz, int64_t ms, char *buf, size_t cap) {
    assert(buf != NULL || cap == 0);
    jf_civil c;
    if (!jf_tz_civil(tz, ms, &c)) return false;
    /* RFC 3339 offsets have no seconds; zones' local mean times before ~1900
     * do.  Print such an instant with its offset rounded to the minute and
     * the local time that goes with that offset, so it still names the
     * same instant. */
    int64_t offset_min = floor_div(c.offset_ms + MS_PER_MINUTE / 2, MS_PER_MINUTE);
    if (offset_min * MS_PER_MINUTE != c.offset_ms) fields_from_local(ms + offset_min * MS_PER_MINUTE, &c);
    if (c.year < 0 || c.year > YEAR_MAX) return false;
    /* Written digit by digit: this runs for every timestamp of every
     * response, and snprintf cost more than the rest of rendering one. */
    char out[40];
    size_t n = 0;
    put_digits(out, &n, c.year, 4);
    out[n++] = '-';
    put_digits(out, &n, c.month, 2);
    out[n++] = '-';
    put_digits(out, &n, c.day, 2);
    out[n++] = 'T';
    put_digits(out, &n, c.hour, 2);
    out[n++] = ':';
    put_digits(out, &n, c.minute, 2);
    out[n++] = ':';
    put_digits(out, &n, c.second, 2);
    if (c.millis != 0) {
        out[n++] = '.';
        put_digits(out, &n, c.millis, 3);
    }
    out[n++] = offset_min < 0 ? '-' : '+';
    int32_t off = (int32_t)(offset_min < 0 ? -offset_min : offset_min);
    put_digits(out, &n, off / 60, 2);
    out[n++] = ':';
    put_digits(out, &n, off % 60, 2);
    if (n >= cap) return false;
    memcpy(buf, out, n);
    buf[n] = '\0';
    return true;
}

/* Exactly n decimal digits at s (stops at a NUL, which is not a digit). */
static bool read_digits(const char *s, int n, int32_t *out) {
    int32_t v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* "YYYY-MM-DD" at s, validated; *end is set after it. */
static bool read_date(const char *s, int32_t *y, int32_t *m, int32_t *d, const char **end) {
    if (!read_digits(s, 4, y) || s[4] != '-' || !read_digits(s + 5, 2, m) || s[7] != '-' ||
        !read_digits(s + 8, 2, d))
        return false;
    if (*y < YEAR_MIN || *m < 1 || *m > 12 || *d < 1 || *d > days_in_month(*y, *m)) return false;
    *end = s + 10;
    return true;
}

bool jf_parse_date(const char *s, int32_t *year, int32_t *month, int32_t *day) {
    assert(year != NULL && month != NULL && day != NULL);
    const char *end = NULL;
    int32_t y, m, d;
    if (s == NULL || !read_date(s, &y, &m, &d, &end) || *end != '\0') return false;
    *year = y;
    *month = m;
    *day = d;
    return true;
}

bool jf_parse_rfc3339(const char *s, int64_t *out_ms) {
    assert(out_ms != NULL);
    const char *p = NULL;
    int32_t y, mo, d, h, mi, sec, frac_ms = 0;
    if (s == NULL || !read_date(s, &y, &mo, &d, &p)) return false;
    if (*p != 'T' && *p != 't') return false;
    p++;
    if (!read_digits(p, 2, &h) || p[2] != ':' || !read_digits(p + 3, 2, &mi) || p[5] != ':' ||
        !read_digits(p + 6, 2, &sec))
        return false;
    if (h > 23 || mi > 59 || sec > 59) return false; /* no leap seconds */
    p += 8;
    if (*p == '.') { /* 1..9 digits, truncated to milliseconds */
        p++;
        int n = 0;
        for (; p[n] >= '0' && p[n] <= '9'; n++) {
            if (n >= 9) return false;
            if (n < 3) frac_ms = frac_ms * 10 + (p[n] - '0');
        }
        if (n == 0) return false;
        for (int i = n; i < 3; i++) frac_ms *= 10;
        p += n;
    }
    int64_t offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int32_t oh, om;
        if (!read_digits(p + 1, 2, &oh) || p[3] != ':' || !read_digits(p + 4, 2, &om)) return false;
        if (oh > 23 || om > 59) return false;
        offset_min = (*p == '-' ? -1 : 1) * (int64_t)(oh * 60 + om);
        p += 6;
    } else {
        return false; /* the offset is required */
    }
    if (*p != '\0') return false;
    int64_t ms = days_from_civil(y, mo, d) * MS_PER_DAY + h * 3600000LL + mi * MS_PER_MINUTE + sec * MS_PER_SECOND +
                 frac_ms - offset_min * MS_PER_MINUTE;
    if (!ms_supported(ms)) return false;
    *out_ms = ms;
    return true;
}

int64_t jf_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * MS_PER_SECOND + ts.tv_nsec / 1000000;
}
