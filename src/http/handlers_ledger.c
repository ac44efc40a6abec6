/*
 * handlers_ledger.c — earn, spend, reversals and adjustments.
 *
 * Each handler parses and checks its request on the loop thread, then hands
 * a write job to the committer; the engine does the rest inside the batch
 * transaction (idempotency, locking, settling, entries).  The answer, 201
 * with the member's points and the entry, is sent after the commit.
 */
#include <string.h>

#include "http/handlers.h"

/* ---- earn ---- */

typedef struct {
    jf_write_job job;
    jf_earn_req r;
} earn_job;

static jf_code earn_run(jf_store *s, jf_write_job *job, jf_error *err) {
    earn_job *j = (earn_job *)job;
    jf_ctx c = jf_job_ctx(s, job);
    j->r.member_id = job->member_id;
    return jf_earn(&c, &j->r, &job->result, err);
}

void jf_h_earn(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    jf_earn_req r;
    memset(&r, 0, sizeof r);
    const jf_field spec[] = {
        JF_FIELD_POINTS("points", &r.points, JF_REQUIRED),
        JF_FIELD_BIZ_NO("biz_no", &r.biz_no, JF_REQUIRED),
        JF_FIELD_SCENE("scene", &r.scene, 0),
        JF_FIELD_TEXT("reason", &r.reason, JF_REASON_BYTES_MAX, 0),
        JF_FIELD_TIME_OR_NULL("expires_at", &r.expires_at_ms, JF_NEVER, 0),
        JF_FIELD_TIME("available_at", &r.available_at_ms, 0),
        JF_FIELD_END,
    };
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    earn_job *j = (earn_job *)jf_job_or_reply(call, sizeof *j, earn_run, NULL, body, member);
    if (j == NULL) return;
    j->r = r;
    jf_write_job_submit(&j->job);
}

/* ---- spend ---- */

typedef struct {
    jf_write_job job;
    jf_spend_req r;
} spend_job;

static jf_code spend_run(jf_store *s, jf_write_job *job, jf_error *err) {
    spend_job *j = (spend_job *)job;
    jf_ctx c = jf_job_ctx(s, job);
    j->r.member_id = job->member_id;
    return jf_spend(&c, &j->r, &job->result, err);
}

void jf_h_spend(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    jf_spend_req r;
    memset(&r, 0, sizeof r);
    const jf_field spec[] = {
        JF_FIELD_POINTS("points", &r.points, JF_REQUIRED),
        JF_FIELD_BIZ_NO("biz_no", &r.biz_no, JF_REQUIRED),
        JF_FIELD_SCENE("scene", &r.scene, 0),
        JF_FIELD_TEXT("reason", &r.reason, JF_REASON_BYTES_MAX, 0),
        JF_FIELD_END,
    };
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    spend_job *j = (spend_job *)jf_job_or_reply(call, sizeof *j, spend_run, NULL, body, member);
    if (j == NULL) return;
    j->r = r;
    jf_write_job_submit(&j->job);
}

/* ---- reversals ---- */

typedef struct {
    jf_write_job job;
    jf_reverse_req r;
} reverse_job;

static jf_code reverse_run(jf_store *s, jf_write_job *job, jf_error *err) {
    reverse_job *j = (reverse_job *)job;
    jf_ctx c = jf_job_ctx(s, job);
    j->r.member_id = job->member_id;
    return jf_reverse(&c, &j->r, &job->result, err);
}

void jf_h_reverse(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    jf_reverse_req r;
    memset(&r, 0, sizeof r);
    const jf_field spec[] = {
        JF_FIELD_BIZ_NO("target_biz_no", &r.target_biz_no, JF_REQUIRED),
        JF_FIELD_POINTS("points", &r.points, 0),
        JF_FIELD_BIZ_NO("biz_no", &r.biz_no, JF_REQUIRED),
        JF_FIELD_TEXT("reason", &r.reason, JF_REASON_BYTES_MAX, 0),
        JF_FIELD_END,
    };
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    reverse_job *j = (reverse_job *)jf_job_or_reply(call, sizeof *j, reverse_run, NULL, body, member);
    if (j == NULL) return;
    j->r = r;
    jf_write_job_submit(&j->job);
}

/* ---- adjustments (admin) ---- */

typedef struct {
    jf_write_job job;
    jf_adjust_req r;
} adjust_job;

static jf_code adjust_run(jf_store *s, jf_write_job *job, jf_error *err) {
    adjust_job *j = (adjust_job *)job;
    jf_ctx c = jf_job_ctx(s, job);
    j->r.member_id = job->member_id;
    /* The operator is the key that asked: its name, as the audit trail. */
    j->r.operator_id = job->key.name;
    return jf_adjust(&c, &j->r, &job->result, err);
}

void jf_h_adjust(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    jf_adjust_req r;
    memset(&r, 0, sizeof r);
    const jf_field spec[] = {
        JF_FIELD_INT("points", &r.points, -JF_POINTS_MAX, JF_POINTS_MAX, JF_REQUIRED),
        JF_FIELD_BIZ_NO("biz_no", &r.biz_no, JF_REQUIRED),
        JF_FIELD_TEXT("reason", &r.reason, JF_REASON_BYTES_MAX, JF_REQUIRED),
        JF_FIELD_END,
    };
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    if (r.points == 0) {
        json_decref(body);
        jf_error err;
        jf_fail(&err, JF_INVALID_FIELD, "points", "points must not be 0 (positive adds, negative takes away)");
        jf_respond_error(call, &err);
        return;
    }
    adjust_job *j = (adjust_job *)jf_job_or_reply(call, sizeof *j, adjust_run, NULL, body, member);
    if (j == NULL) return;
    j->r = r;
    jf_write_job_submit(&j->job);
}

