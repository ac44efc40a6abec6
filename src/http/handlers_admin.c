/*
 * handlers_admin.c — POST /v1/admin/jobs/run: run every due job (activate
 * pending lots, expire lots, release timed-out holds) as of the request's
 * "now" — the wall clock, or X-Jifen-Now on a --test-clock server.
 *
 * jf_jobs_run opens its own transactions (bounded per member batch), so the
 * job is standalone: the committer runs it between batches, never inside
 * one.  It settles every tenant, not only the caller's: what is due is due.
 */
#include <string.h>

#include "http/handlers.h"
#include "http/metrics.h"
#include "http/render.h"

typedef struct {
    jf_write_job job;
    jf_job_stats stats;
} jobs_job;

static jf_code jobs_run(jf_store *s, jf_write_job *job, jf_error *err) {
    jobs_job *j = (jobs_job *)job;
    memset(&j->stats, 0, sizeof j->stats);
    jf_metrics_jobs_run();
    return jf_jobs_run(s, job->now_ms, &j->stats, err);
}

static void jobs_done(jf_write_job *job) {
    jobs_job *j = (jobs_job *)job;
    json_t *doc = NULL;
    if (job->code == JF_OK) {
        const jf_job_stats *st = &j->stats;
        doc = json_pack("{so sI sI sI sI sI sI sI}", "now", jf_render_time(job->tenant.timezone, job->now_ms),
                        "members_settled", (json_int_t)st->members_settled, "lots_activated",
                        (json_int_t)st->lots_activated, "points_activated", (json_int_t)st->points_activated,
                        "lots_expired", (json_int_t)st->lots_expired, "points_expired",
                        (json_int_t)st->points_expired, "holds_released", (json_int_t)st->holds_released,
                        "points_released", (json_int_t)st->points_released);
    }
    jf_write_job_answer(job, 200, doc);
}

void jf_h_jobs_run(jf_call *call) {
    const jf_field spec[] = {JF_FIELD_END};
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    jobs_job *j = (jobs_job *)jf_job_or_reply(call, sizeof *j, jobs_run, jobs_done, body, NULL);
    if (j == NULL) return;
    j->job.standalone = true;
    jf_write_job_submit(&j->job);
}
