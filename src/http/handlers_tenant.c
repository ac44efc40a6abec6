/*
 * handlers_tenant.c — the caller's own tenant: its settings (time zone,
 * expiry policy, refund policy).  The key decides the tenant; there is no
 * tenant id in the path, so no request can name another tenant.
 */
#include <string.h>

#include "engine/expiry.h"
#include "http/handlers.h"
#include "http/render.h"
#include "util/tz.h"

void jf_h_tenant_get(jf_call *call) { jf_respond_json(call, 200, jf_render_tenant(&call->tenant)); }

typedef struct {
    jf_write_job job;
    const char *name, *timezone;
    bool has_expiry, has_refund;
    jf_expiry_policy expiry;
    int refund;
    jf_tenant after;
} patch_job;

static jf_code patch_run(jf_store *s, jf_write_job *job, jf_error *err) {
    patch_job *j = (patch_job *)job;
    /* Start from the stored row, not the request's snapshot: a PATCH
     * changes only the fields it names. */
    jf_code rc = s->ops->tenant_get(s, job->tenant.id, &j->after, err);
    if (rc != JF_OK) return rc;
    if (j->name) snprintf(j->after.name, sizeof j->after.name, "%s", j->name);
    if (j->timezone) snprintf(j->after.timezone, sizeof j->after.timezone, "%s", j->timezone);
    if (j->has_expiry) j->after.expiry = j->expiry;
    if (j->has_refund) j->after.refund = (jf_refund_policy)j->refund;
    return jf_tenant_update(s, &j->after, job->now_ms, err);
}

static void patch_done(jf_write_job *job) {
    patch_job *j = (patch_job *)job;
    if (job->code == JF_OK) jf_auth_cache_invalidate(); /* cached tenants are stale */
    json_t *doc = job->code == JF_OK ? jf_render_tenant(&j->after) : NULL;
    jf_write_job_answer(job, 200, doc);
}

void jf_h_tenant_patch(jf_call *call) {
    const char *name = NULL, *timezone = NULL;
    int kind = -1, unit = JF_UNIT_DAYS, round = JF_ROUND_NONE, refund = -1;
    int64_t n = 0, years = 0;
    int clear[2] = {0, 0};
    bool has_expiry = false, has_n = false, has_clear = false;
    const jf_field expiry_spec[] = {
        JF_FIELD_ENUM("kind", &kind, jf_expiry_kind_parse, "never, rolling, annual", JF_REQUIRED),
        JF_FIELD_INT_P("n", &n, &has_n, 1, JF_EXPIRY_DAYS_MAX, 0),
        JF_FIELD_ENUM("unit", &unit, jf_expiry_unit_parse, "days, months", 0),
        JF_FIELD_ENUM("round", &round, jf_expiry_round_parse, "none, day, month, quarter, year", 0),
        JF_FIELD_DATE_MD("clear_date", clear, &has_clear, 0),
        JF_FIELD_INT("years", &years, 0, JF_EXPIRY_YEARS_MAX, 0),
        JF_FIELD_END,
    };
    const jf_field spec[] = {
        JF_FIELD_TEXT("name", &name, JF_TENANT_NAME_BYTES_MAX, 0),
        JF_FIELD_STRING("timezone", &timezone, 1, JF_TIMEZONE_LEN_MAX, JF_CHARS_PRINTABLE, 0),
        JF_FIELD_OBJECT("expiry", expiry_spec, &has_expiry, 0),
        JF_FIELD_ENUM("refund_policy", &refund, jf_refund_policy_parse, "debt, clamp", 0),
        JF_FIELD_END,
    };
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    jf_error err;
    jf_error_clear(&err);
    jf_expiry_policy p = {.kind = (jf_expiry_kind)(kind < 0 ? 0 : kind), .n = (int32_t)n,
                          .unit = (jf_expiry_unit)unit, .round = (jf_expiry_round)round,
                          .clear_month = clear[0], .clear_day = clear[1], .years = (int32_t)years};
    if (has_expiry) {
        if (kind == JF_EXPIRY_ROLLING && !has_n) jf_fail(&err, JF_INVALID_FIELD, "expiry.n", "expiry.n is required for rolling expiry");
        else if (kind == JF_EXPIRY_ANNUAL && !has_clear)
            jf_fail(&err, JF_INVALID_FIELD, "expiry.clear_date", "expiry.clear_date is required for annual expiry");
        else jf_expiry_validate(&p, &err);
    }
    if (timezone && err.code == JF_OK && !jf_tz_valid(timezone))
        jf_fail(&err, JF_INVALID_FIELD, "timezone", "timezone must be an IANA zone name like Asia/Shanghai");
    if (err.code != JF_OK) {
        json_decref(body);
        jf_respond_error(call, &err);
        return;
    }
    patch_job *j = (patch_job *)jf_job_or_reply(call, sizeof *j, patch_run, patch_done, body, NULL);
    if (j == NULL) return;
    j->name = name;
    j->timezone = timezone;
    j->has_expiry = has_expiry;
    j->expiry = p;
    j->has_refund = refund >= 0;
    j->refund = refund;
    jf_write_job_submit(&j->job);
}
