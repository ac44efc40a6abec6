/*
 * handlers.h — the endpoint handlers (one file per resource) and the
 * helpers they share.  Every handler has the one signature
 * `void jf_h_<name>(jf_call *call)` and answers exactly once, either at
 * once (reads, errors) or after its write job is committed.
 *
 * Helpers named ..._or_reply validate and, on failure, answer the error
 * themselves and return false/NULL; the handler then just returns.
 */
#ifndef JF_HTTP_HANDLERS_H
#define JF_HTTP_HANDLERS_H

#include "http/http.h"
#include "engine/tasks.h"
#include "http/json_spec.h"
#include "util/json_text.h"

/* meta.c */
void jf_h_healthz(jf_call *call);
void jf_h_metrics(jf_call *call);
void jf_h_openapi(jf_call *call);
/* handlers_tenant.c */
void jf_h_tenant_get(jf_call *call);
void jf_h_tenant_patch(jf_call *call);
/* handlers_keys.c */
void jf_h_key_create(jf_call *call);
void jf_h_key_list(jf_call *call);
void jf_h_key_revoke(jf_call *call);
/* handlers_members.c */
void jf_h_member_put(jf_call *call);
void jf_h_member_get(jf_call *call);
void jf_h_member_list(jf_call *call);
void jf_h_entries(jf_call *call);
void jf_h_lots(jf_call *call);
void jf_h_expiring(jf_call *call);
/* handlers_ledger.c */
void jf_h_earn(jf_call *call);
void jf_h_spend(jf_call *call);
void jf_h_reverse(jf_call *call);
void jf_h_adjust(jf_call *call);
/* handlers_holds.c */
void jf_h_hold(jf_call *call);
void jf_h_capture(jf_call *call);
void jf_h_release(jf_call *call);
/* handlers_admin.c */
void jf_h_jobs_run(jf_call *call);
/* handlers_events.c */
void jf_h_event(jf_call *call);
void jf_h_event_dry_run(jf_call *call);
/* handlers_rules.c: /v1/rules and /v1/tasks (the route's path says which) */
void jf_h_definition_create(jf_call *call);
void jf_h_definition_list(jf_call *call);
void jf_h_definition_get(jf_call *call);
void jf_h_definition_replace(jf_call *call);
void jf_h_definition_patch(jf_call *call);
/* handlers_checkins.c */
void jf_h_checkin_create(jf_call *call);
void jf_h_checkin_month(jf_call *call);
void jf_h_checkin_config_get(jf_call *call);
void jf_h_checkin_config_put(jf_call *call);
/* handlers_tasks.c */
void jf_h_member_tasks(jf_call *call);
void jf_h_task_claim(jf_call *call);

/* ---- shared helpers (params.c) ---- */

/* Path parameter `index` as a member id (1..64 of [A-Za-z0-9_.:@-]). */
bool jf_param_member_id_or_reply(jf_call *call, int index, char out[JF_MEMBER_ID_LEN_MAX + 1]);
/* Path parameter `index` as a positive integer id named `name`. */
bool jf_param_id_or_reply(jf_call *call, int index, const char *name, int64_t *out);
/* The request body parsed against spec (NULL after answering the error). */
json_t *jf_body_or_reply(jf_call *call, const jf_field *spec);

/* Query parameters, declaratively like bodies; unknown ones are refused. */
typedef enum { JF_Q_INT, JF_Q_STRING, JF_Q_TIME } jf_qtype;
typedef struct {
    const char *name;
    jf_qtype type;
    void *out;      /* int64_t * (INT, TIME) or char * of cap bytes (STRING) */
    size_t cap;
    int64_t min, max;
    bool *present;
} jf_qparam;
bool jf_query_or_reply(jf_call *call, const jf_qparam *spec);

/* A write job for a parsed request (owning body; member_id may be NULL)
 * answered with jf_write_job_answer_result, or NULL after answering 503. */
jf_write_job *jf_job_or_reply(jf_call *call, size_t size, jf_write_run_fn run, jf_write_done_fn done, json_t *body,
                               const char *member_id);
/* The engine context of a job on the committer's store. */
jf_ctx jf_job_ctx(jf_store *s, jf_write_job *job);

/* Cursor of a list: the decimal text of an id, or "" at the end. */
json_t *jf_cursor(int64_t id);

/* Rendering shared by the rules, events and tasks handlers. */
json_t *jf_render_task_state(const jf_tenant *t, const jf_task_state *s);
/* The same as JSON text (the event answers; keep the two in step). */
void jf_render_task_state_text(jf_json_text *b, const jf_tenant *t, const jf_task_state *s);
json_t *jf_render_definition(const jf_tenant *t, const jf_rule_row *row);

/* Answer a store or engine error from a read (ends nothing: the dispatcher
 * ends the read transaction). */
void jf_reply_error(jf_call *call, const jf_error *err);

#endif
