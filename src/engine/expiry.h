/*
 * expiry.h — when a lot of points expires under a tenant's policy.
 *
 * All calendar arithmetic happens in the tenant's time zone (util/tz.h).
 *   NEVER:   JF_NEVER.
 *   ROLLING: earned_at + n days|months (local wall time; month ends clamp),
 *            then, if round != NONE, up to the end of that local day / month
 *            / quarter / year — "end" is the exclusive instant, i.e. the
 *            start of the next period (a lot is expired once now >= expires_at).
 *   ANNUAL:  the clearing moment of a year is the end of clear_month-clear_day
 *            (local).  A lot expires at the first clearing moment strictly
 *            after earned_at, plus `years` years.
 */
#ifndef JF_EXPIRY_H
#define JF_EXPIRY_H

#include "engine/types.h"
#include "util/errors.h"

/* Check a policy's fields (field names in errors: "expiry.kind", "expiry.n",
 * "expiry.unit", "expiry.round", "expiry.clear_date", "expiry.years"). */
jf_code jf_expiry_validate(const jf_expiry_policy *p, jf_error *err);

/* expires_at for points earned at earned_at_ms under policy p in zone tz. */
jf_code jf_expiry_compute(const jf_expiry_policy *p, const char *tz, int64_t earned_at_ms, int64_t *expires_at_ms,
                          jf_error *err);

/* Names used by the API and CLI for the policy's enums. */
const char *jf_expiry_kind_name(jf_expiry_kind k);   /* never|rolling|annual */
int jf_expiry_kind_parse(const char *s);
const char *jf_expiry_unit_name(jf_expiry_unit u);   /* days|months */
int jf_expiry_unit_parse(const char *s);
const char *jf_expiry_round_name(jf_expiry_round r); /* none|day|month|quarter|year */
int jf_expiry_round_parse(const char *s);
const char *jf_refund_policy_name(jf_refund_policy p); /* debt|clamp */
int jf_refund_policy_parse(const char *s);

#endif
