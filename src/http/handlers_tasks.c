/*
 * handlers_tasks.c — a member's tasks: GET /v1/members/{member_id}/tasks
 * (every task of the tenant with the member's progress in its current
 * period) and POST /v1/members/{member_id}/tasks/{task_id}/claim.  The task
 * definitions themselves are /v1/tasks (handlers_rules.c).
 */
#include <stdlib.h>
#include <string.h>

#include "engine/tasks.h"
#include "http/handlers.h"
#include "http/render.h"

void jf_h_member_tasks(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    jf_ctx c = {.store = call->loop->store, .tenant = &call->tenant, .now_ms = call->now_ms};
    jf_task_state *states = calloc(JF_TASKS_PER_TENANT_MAX, sizeof *states);
    jf_error err;
    jf_error_clear(&err);
    size_t n = 0;
    if (states == NULL) jf_fail(&err, JF_UNAVAILABLE, "", "out of memory");
    else if (jf_tasks_of_member(&c, member, states, &n, &err) == JF_OK) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(list, jf_render_task_state(&call->tenant, &states[i]));
        jf_respond_json(call, 200, json_pack("{ss so}", "member_id", member, "tasks", list));
    }
    if (err.code != JF_OK) jf_reply_error(call, &err);
    free(states);
}

typedef struct {
    jf_write_job job;
    jf_task_state out;
} claim_job;

static jf_code claim_run(jf_store *s, jf_write_job *job, jf_error *err) {
    claim_job *j = (claim_job *)job;
    jf_ctx c = jf_job_ctx(s, job);
    return jf_task_claim(&c, job->member_id, job->id_param, &j->out, err);
}

static void claim_done(jf_write_job *job) {
    claim_job *j = (claim_job *)job;
    jf_write_job_answer(job, 200, job->code == JF_OK ? jf_render_task_state(&job->tenant, &j->out) : NULL);
}

void jf_h_task_claim(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    int64_t task_id;
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    if (!jf_param_id_or_reply(call, 1, "task_id", &task_id)) return;
    const jf_field spec[] = {JF_FIELD_END};
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    claim_job *j = (claim_job *)jf_job_or_reply(call, sizeof *j, claim_run, claim_done, body, member);
    if (j == NULL) return;
    j->job.id_param = task_id;
    jf_write_job_submit(&j->job);
}
