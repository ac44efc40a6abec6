/*
 * handlers_holds.c — two-phase spending: hold, then capture or release.
 *
 * A hold freezes points for ttl_s seconds; capture spends all or part of
 * them (the rest goes back), release returns them all.  Holds are addressed
 * by id; the engine answers not_found for another tenant's hold.
 */
#include <string.h>

#include "http/handlers.h"

typedef struct {
    jf_write_job job;
    jf_hold_req r;
} hold_job;

static jf_code hold_run(jf_store *s, jf_write_job *job, jf_error *err) {
    hold_job *j = (hold_job *)job;
    jf_ctx c = jf_job_ctx(s, job);
    j->r.member_id = job->member_id;
    return jf_hold_create(&c, &j->r, &job->result, err);
}

void jf_h_hold(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    jf_hold_req r;
    memset(&r, 0, sizeof r);
    const jf_field spec[] = {
        JF_FIELD_POINTS("points", &r.points, JF_REQUIRED),
        JF_FIELD_BIZ_NO("biz_no", &r.biz_no, JF_REQUIRED),
        JF_FIELD_INT("ttl_s", &r.ttl_s, JF_HOLD_TTL_S_MIN, JF_HOLD_TTL_S_MAX, JF_REQUIRED),
        JF_FIELD_SCENE("scene", &r.scene, 0),
        JF_FIELD_TEXT("reason", &r.reason, JF_REASON_BYTES_MAX, 0),
        JF_FIELD_END,
    };
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    hold_job *j = (hold_job *)jf_job_or_reply(call, sizeof *j, hold_run, NULL, body, member);
    if (j == NULL) return;
    j->r = r;
    jf_write_job_submit(&j->job);
}

typedef struct {
    jf_write_job job;
    jf_capture_req r;
} capture_job;

static jf_code capture_run(jf_store *s, jf_write_job *job, jf_error *err) {
    capture_job *j = (capture_job *)job;
    jf_ctx c = jf_job_ctx(s, job);
    j->r.hold_id = job->id_param;
    return jf_capture(&c, &j->r, &job->result, err);
}

void jf_h_capture(jf_call *call) {
    int64_t hold_id = 0;
    if (!jf_param_id_or_reply(call, 0, "hold_id", &hold_id)) return;
    jf_capture_req r;
    memset(&r, 0, sizeof r);
    const jf_field spec[] = {
        JF_FIELD_POINTS("points", &r.points, 0),
        JF_FIELD_BIZ_NO("biz_no", &r.biz_no, JF_REQUIRED),
        JF_FIELD_END,
    };
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    capture_job *j = (capture_job *)jf_job_or_reply(call, sizeof *j, capture_run, NULL, body, NULL);
    if (j == NULL) return;
    j->r = r;
    j->job.id_param = hold_id;
    jf_write_job_submit(&j->job);
}

typedef struct {
    jf_write_job job;
    jf_release_req r;
} release_job;

static jf_code release_run(jf_store *s, jf_write_job *job, jf_error *err) {
    release_job *j = (release_job *)job;
    jf_ctx c = jf_job_ctx(s, job);
    j->r.hold_id = job->id_param;
    return jf_release(&c, &j->r, &job->result, err);
}

void jf_h_release(jf_call *call) {
    int64_t hold_id = 0;
    if (!jf_param_id_or_reply(call, 0, "hold_id", &hold_id)) return;
    jf_release_req r;
    memset(&r, 0, sizeof r);
    const jf_field spec[] = {
        JF_FIELD_BIZ_NO("biz_no", &r.biz_no, JF_REQUIRED),
        JF_FIELD_END,
    };
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    release_job *j = (release_job *)jf_job_or_reply(call, sizeof *j, release_run, NULL, body, NULL);
    if (j == NULL) return;
    j->r = r;
    j->job.id_param = hold_id;
    jf_write_job_submit(&j->job);
}
