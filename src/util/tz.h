/*
 * tz.h — civil time in a tenant's IANA time zone, through ICU.
 *
 * Storage is UTC milliseconds; "days", "months", "end of the quarter" are
 * computed in the tenant's zone (principle 6).  No zone tables are written by
 * hand: ICU's calendar does the conversions, including DST gaps and overlaps.
 * Functions are thread-safe (each call uses its own ICU calendar; a small
 * per-thread cache keeps the last zone opened).
 */
#ifndef JF_TZ_H
#define JF_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Instants the functions below accept and return: 0001-01-01T00:00:00Z ..
 * 9999-12-31T23:59:59.999Z (the years RFC 3339 can print).  Anything else —
 * JF_NEVER, say — makes them return false. */
#define JF_TZ_MS_MIN (-62135596800000LL)
#define JF_TZ_MS_MAX 253402300799999LL

typedef struct {
    int32_t year, month, day;    /* month 1..12, day 1..31 */
    int32_t hour, minute, second, millis;
    int32_t weekday;             /* 1 = Monday … 7 = Sunday (ISO) */
    int32_t offset_ms;           /* zone offset incl. DST at that instant */
} jf_civil;

/* True if name is a zone ICU knows (canonical or alias, e.g. "UTC"). */
bool jf_tz_valid(const char *name);

/* The civil fields of an instant in the zone.  Returns false on a bad zone. */
bool jf_tz_civil(const char *tz, int64_t ms, jf_civil *out);

/* The instant of a civil time in the zone.  Fields are normalised the way a
 * calendar does (day 32 → next month).  A time that falls in a DST gap moves
 * forward past it; an ambiguous time takes the first (earlier) instant. */
bool jf_tz_instant(const char *tz, int32_t year, int32_t month, int32_t day, int32_t hour, int32_t minute,
                   int32_t second, int64_t *out_ms);

/* Add n local days / months (n may be negative) keeping the local wall time;
 * month arithmetic clamps the day (Jan 31 + 1 month = Feb 28/29). */
bool jf_tz_add_days(const char *tz, int64_t ms, int32_t n, int64_t *out_ms);
bool jf_tz_add_months(const char *tz, int64_t ms, int32_t n, int64_t *out_ms);

/* Start of the local day / month / quarter / year containing ms, and the
 * start of the next one (the "end" of the period as an exclusive instant). */
typedef enum { JF_PERIOD_DAY, JF_PERIOD_WEEK, JF_PERIOD_MONTH, JF_PERIOD_QUARTER, JF_PERIOD_YEAR } jf_period;
bool jf_tz_period_start(const char *tz, int64_t ms, jf_period p, int64_t *out_ms);
bool jf_tz_period_next(const char *tz, int64_t ms, jf_period p, int64_t *out_ms);

/* RFC 3339 with the zone's offset, millisecond precision only when non-zero:
 * "2026-11-23T17:00:00+08:00", "2026-03-08T01:59:59.500-05:00". */
bool jf_tz_format_rfc3339(const char *tz, int64_t ms, char *buf, size_t cap);

/* Parse RFC 3339 ("2026-11-23T09:00:00Z", "…+08:00", fractional seconds up
 * to milliseconds).  The offset is required. */
bool jf_parse_rfc3339(const char *s, int64_t *out_ms);

/* Parse "YYYY-MM-DD" into fields (validated, leap years included). */
bool jf_parse_date(const char *s, int32_t *year, int32_t *month, int32_t *day);

/* Wall clock, UTC ms. */
int64_t jf_now_ms(void);

#endif
