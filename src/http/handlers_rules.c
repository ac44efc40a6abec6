/*
 * handlers_rules.c — /v1/rules and /v1/tasks (admin): create, read, list,
 * replace, enable/disable.  Rules and tasks are both definitions (a JSON
 * object checked by the engine, rules.h / tasks.h); every change is a new
 * version, and the answer shows the stored definition with its id, version
 * and times.  A definition is checked on the loop thread first, so a rule
 * that does not compile is answered 422 with the position of the problem
 * before anything is queued; the engine checks it again when it saves.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/events.h"
#include "http/handlers.h"
#include "http/render.h"

static jf_def_kind kind_of(jf_call *call) {
    return strncmp(call->route->pattern, "/v1/tasks", 9) == 0 ? JF_DEF_TASK : JF_DEF_RULE;
}

json_t *jf_render_definition(const jf_tenant *t, const jf_rule_row *row) {
    json_error_t jerr;
    json_t *o = json_loads(row->definition, 0, &jerr);
    if (o == NULL) o = json_object();
    json_object_set_new(o, "id", json_integer(row->id));
    json_object_set_new(o, "version", json_integer(row->version));
    json_object_set_new(o, "enabled", json_boolean(row->enabled));
    json_object_set_new(o, "created_at", jf_render_time(t->timezone, row->created_at_ms));
    json_object_set_new(o, "updated_at", jf_render_time(t->timezone, row->updated_at_ms));
    return o;
}

/* The body as a JSON object, or NULL after answering invalid_json. */
static json_t *object_or_reply(jf_call *call) {
    h2o_iovec_t body = call->req->entity;
    json_error_t jerr;
    json_t *root = jf_json_load(body.base ? body.base : "", body.base ? body.len : 0, &jerr);
    if (root != NULL && json_is_object(root)) return root;
    jf_error err;
    jf_fail(&err, JF_INVALID_JSON, "", "%s", root ? "the body must be a JSON object" : jerr.text);
    jf_respond_json_error(call, &err, root ? 0 : jerr.line, root ? 0 : jerr.column);
    json_decref(root);
    return NULL;
}

static bool definition_ok_or_reply(jf_call *call, jf_def_kind kind, const json_t *def) {
    jf_error err;
    jf_error_clear(&err);
    jf_code rc;
    if (kind == JF_DEF_RULE) {
        jf_rule *r = malloc(sizeof *r);
        rc = r ? jf_rule_parse(def, r, NULL, &err) : jf_fail(&err, JF_UNAVAILABLE, "", "out of memory");
        free(r);
    } else {
        jf_task *t = malloc(sizeof *t);
        rc = t ? jf_task_parse(def, t, NULL, &err) : jf_fail(&err, JF_UNAVAILABLE, "", "out of memory");
        free(t);
    }
    if (rc == JF_OK) return true;
    jf_respond_error(call, &err);
    return false;
}

/* ---- writes: create, replace, enable/disable ---- */

typedef struct {
    jf_write_job job;
    jf_def_kind kind;
    bool set_enabled, enabled;
    jf_rule_row row;
} def_job;

static jf_code def_run(jf_store *s, jf_write_job *job, jf_error *err) {
    def_job *j = (def_job *)job;
    jf_ctx c = jf_job_ctx(s, job);
    if (j->set_enabled) return jf_definition_set_enabled(&c, j->kind, job->id_param, j->enabled, &j->row, err);
    return jf_definition_save(&c, j->kind, job->id_param, job->body, &j->row, err);
}

static void def_done(jf_write_job *job) {
    def_job *j = (def_job *)job;
    json_t *doc = job->code == JF_OK ? jf_render_definition(&job->tenant, &j->row) : NULL;
    jf_write_job_answer(job, job->id_param == 0 ? 201 : 200, doc);
}

static void submit(jf_call *call, json_t *body, int64_t id, bool set_enabled, bool enabled) {
    def_job *j = (def_job *)jf_job_or_reply(call, sizeof *j, def_run, def_done, body, NULL);
    if (j == NULL) return;
    j->job.id_param = id;
    j->kind = kind_of(call);
    j->set_enabled = set_enabled;
    j->enabled = enabled;
    jf_write_job_submit(&j->job);
}

void jf_h_definition_create(jf_call *call) {
    json_t *def = object_or_reply(call);
    if (def == NULL) return;
    if (!definition_ok_or_reply(call, kind_of(call), def)) {
        json_decref(def);
        return;
    }
    submit(call, def, 0, false, false);
}

static const char *id_name(jf_call *call) { return kind_of(call) == JF_DEF_RULE ? "rule_id" : "task_id"; }

void jf_h_definition_replace(jf_call *call) {
    int64_t id;
    if (!jf_param_id_or_reply(call, 0, id_name(call), &id)) return;
    json_t *def = object_or_reply(call);
    if (def == NULL) return;
    if (!definition_ok_or_reply(call, kind_of(call), def)) {
        json_decref(def);
        return;
    }
    submit(call, def, id, false, false);
}

void jf_h_definition_patch(jf_call *call) {
    int64_t id;
    if (!jf_param_id_or_reply(call, 0, id_name(call), &id)) return;
    json_t *body = object_or_reply(call);
    if (body == NULL) return;
    json_t *v = json_object_get(body, "enabled");
    jf_error err;
    jf_error_clear(&err);
    if (json_object_size(body) != 1 || v == NULL || !json_is_boolean(v)) {
        json_decref(body);
        jf_fail(&err, JF_INVALID_FIELD, "enabled", "the body must be {\"enabled\": true} or {\"enabled\": false}");
        jf_respond_error(call, &err);
        return;
    }
    submit(call, body, id, true, json_is_true(v));
}

/* ---- reads ---- */

void jf_h_definition_get(jf_call *call) {
    int64_t id;
    if (!jf_param_id_or_reply(call, 0, id_name(call), &id)) return;
    jf_rule_row *row = malloc(sizeof *row);
    jf_error err;
    jf_error_clear(&err);
    jf_ctx c = {.store = call->loop->store, .tenant = &call->tenant, .now_ms = call->now_ms};
    if (row == NULL) jf_fail(&err, JF_UNAVAILABLE, "", "out of memory");
    else if (jf_definition_get(&c, kind_of(call), id, row, &err) == JF_OK)
        jf_respond_json(call, 200, jf_render_definition(&call->tenant, row));
    if (err.code != JF_OK) jf_reply_error(call, &err);
    free(row);
}

void jf_h_definition_list(jf_call *call) {
    int64_t limit = JF_PAGE_LIMIT_DEFAULT, cursor = 0;
    const jf_qparam q[] = {
        {"limit", JF_Q_INT, &limit, 0, JF_PAGE_LIMIT_MIN, JF_PAGE_LIMIT_MAX, NULL},
        {"cursor", JF_Q_INT, &cursor, 0, 0, INT64_MAX, NULL},
        {NULL, JF_Q_INT, NULL, 0, 0, 0, NULL},
    };
    if (!jf_query_or_reply(call, q)) return;
    jf_rule_row *rows = calloc((size_t)limit, sizeof *rows);
    jf_error err;
    jf_error_clear(&err);
    size_t n = 0;
    jf_store *s = call->loop->store;
    if (rows == NULL) jf_fail(&err, JF_UNAVAILABLE, "", "out of memory");
    else if (s->ops->rule_list(s, call->tenant.id, kind_of(call), cursor, rows, (size_t)limit, &n, &err) == JF_OK) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(list, jf_render_definition(&call->tenant, &rows[i]));
        const char *key = kind_of(call) == JF_DEF_RULE ? "rules" : "tasks";
        json_t *doc = json_object();
        json_object_set_new(doc, key, list);
        json_object_set_new(doc, "next_cursor", jf_cursor(n == (size_t)limit ? rows[n - 1].id : 0));
        jf_respond_json(call, 200, doc);
    }
    if (err.code != JF_OK) jf_reply_error(call, &err);
    free(rows);
}
