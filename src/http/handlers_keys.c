/*
 * handlers_keys.c — API keys of the caller's tenant (admin only).
 *
 * The secret is in the answer to POST exactly once; lists show the prefix.
 * Revocation takes effect on the next request: authentication looks the key
 * up on every request, there is no cache to outlive it.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/keys.h"
#include "http/handlers.h"
#include "http/render.h"

typedef struct {
    jf_write_job job;
    int role;
    const char *name;
    char secret[JF_KEY_TEXT_LEN + 1];
    jf_api_key rec;
} create_job;

static jf_code create_run(jf_store *s, jf_write_job *job, jf_error *err) {
    create_job *j = (create_job *)job;
    return jf_key_create(s, job->tenant.id, (jf_role)j->role, j->name, job->now_ms, j->secret, sizeof j->secret,
                         &j->rec, err);
}

static void create_done(jf_write_job *job) {
    create_job *j = (create_job *)job;
    json_t *doc = NULL;
    if (job->code == JF_OK) {
        doc = jf_render_key(&job->tenant, &j->rec);
        json_object_set_new(doc, "key", json_string(j->secret));
    }
    jf_write_job_answer(job, 201, doc);
    memset(j->secret, 0, sizeof j->secret);
}

void jf_h_key_create(jf_call *call) {
    create_job proto = {.role = -1, .name = NULL};
    const jf_field spec[] = {
        JF_FIELD_ENUM("role", &proto.role, jf_role_parse, "admin, app, read", JF_REQUIRED),
        JF_FIELD_TEXT("name", &proto.name, JF_KEY_NAME_BYTES_MAX, JF_REQUIRED),
        JF_FIELD_END,
    };
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    create_job *j = (create_job *)jf_job_or_reply(call, sizeof *j, create_run, create_done, body, NULL);
    if (j == NULL) return;
    j->role = proto.role;
    j->name = proto.name;
    jf_write_job_submit(&j->job);
}

void jf_h_key_list(jf_call *call) {
    int64_t limit = JF_PAGE_LIMIT_DEFAULT;
    char cursor[32] = "";
    const jf_qparam q[] = {
        {"limit", JF_Q_INT, &limit, 0, JF_PAGE_LIMIT_MIN, JF_PAGE_LIMIT_MAX, NULL},
        {"cursor", JF_Q_STRING, cursor, sizeof cursor, 0, 0, NULL},
        {NULL, JF_Q_INT, NULL, 0, 0, 0, NULL},
    };
    if (!jf_query_or_reply(call, q)) return;
    jf_error err;
    jf_error_clear(&err);
    int64_t after = 0;
    if (cursor[0]) {
        char *end = NULL;
        after = strtoll(cursor, &end, 10);
        if (end == cursor || *end || after <= 0) {
            jf_fail(&err, JF_INVALID_FIELD, "cursor", "cursor must be a next_cursor from a previous page");
            jf_respond_error(call, &err);
            return;
        }
    }
    jf_api_key *rows = calloc((size_t)limit, sizeof *rows);
    if (rows == NULL) {
        jf_fail(&err, JF_UNAVAILABLE, "", "out of memory");
        jf_respond_error(call, &err);
        return;
    }
    size_t n = 0;
    jf_store *s = call->loop->store;
    if (s->ops->key_list(s, call->tenant.id, after, rows, (size_t)limit, &n, &err) != JF_OK) {
        free(rows);
        jf_respond_error(call, &err);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(list, jf_render_key(&call->tenant, &rows[i]));
    json_t *next = jf_cursor(n == (size_t)limit ? rows[n - 1].id : 0);
    free(rows);
    jf_respond_json(call, 200, json_pack("{so so}", "keys", list, "next_cursor", next));
}

typedef struct {
    jf_write_job job;
    jf_api_key rec;
} revoke_job;

static jf_code revoke_run(jf_store *s, jf_write_job *job, jf_error *err) {
    revoke_job *j = (revoke_job *)job;
    return jf_key_revoke(s, job->tenant.id, job->id_param, job->now_ms, &j->rec, err);
}

static void revoke_done(jf_write_job *job) {
    revoke_job *j = (revoke_job *)job;
    if (job->code == JF_OK) jf_auth_cache_invalidate(); /* committed: refuse it from the next request on */
    jf_write_job_answer(job, 200, job->code == JF_OK ? jf_render_key(&job->tenant, &j->rec) : NULL);
}

void jf_h_key_revoke(jf_call *call) {
    int64_t key_id = 0;
    if (!jf_param_id_or_reply(call, 0, "key_id", &key_id)) return;
    revoke_job *j = (revoke_job *)jf_job_or_reply(call, sizeof *j, revoke_run, revoke_done, NULL, NULL);
    if (j == NULL) return;
    j->job.id_param = key_id;
    jf_write_job_submit(&j->job);
}
