/*
 * handlers_members.c — members and what can be read about them: the
 * account, the history (entries), the lots and the points expiring soon.
 *
 * Reads run on the loop thread's own store handle, inside the read
 * snapshot of the loop's turn (jf_loop_read, opened for authentication
 * by the turn's first request that needed it): with SQLite in WAL
 * mode a reader never waits for the committer.  Lists are keyset-paginated
 * with an opaque next_cursor (null on the last page).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/handlers.h"
#include "http/render.h"

static jf_ctx read_ctx(jf_call *call) {
    return (jf_ctx){.store = call->loop->store, .tenant = &call->tenant, .now_ms = call->now_ms};
}

static void reply_oom(jf_call *call) {
    jf_error err;
    jf_fail(&err, JF_UNAVAILABLE, "", "out of memory");
    jf_respond_error(call, &err);
}

/* Answer 200 with the text written into b (a 500 if a write failed). */
static void respond_text(jf_call *call, jf_json_text *b) {
    size_t len = 0;
    char *text = jf_json_text_take(b, &len);
    jf_respond_json_text(call, 200, text, len);
}

/* A next_cursor: the id as a string, or null on the last page (id 0). */
static void put_cursor(jf_json_text *b, int64_t id) {
    if (id <= 0) {
        jf_json_lit(b, "null");
        return;
    }
    char buf[JF_INT_TEXT_MAX];
    size_t n = jf_int_text(buf, id);
    jf_json_str(b, buf, n);
}

static void put_lots(jf_json_text *b, const jf_tenant *t, const jf_lot *rows, size_t n) {
    jf_json_char(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i > 0) jf_json_char(b, ',');
        jf_render_lot_text(b, t, &rows[i]);
    }
    jf_json_char(b, ']');
}

/* ---- PUT /v1/members/{member_id} ---- */

typedef struct {
    jf_write_job job;
    int status; /* -1: leave as is */
    bool created;
} put_job;

static jf_code put_run(jf_store *s, jf_write_job *job, jf_error *err) {
    put_job *j = (put_job *)job;
    jf_ctx c = jf_job_ctx(s, job);
    return jf_member_upsert(&c, job->member_id, j->status, &job->result.member, &j->created, err);
}

static void put_done(jf_write_job *job) {
    put_job *j = (put_job *)job;
    jf_json_text b = {0};
    if (job->code == JF_OK) jf_render_member_text(&b, &job->tenant, &job->result.member);
    size_t len = 0;
    char *text = jf_json_text_take(&b, &len);
    jf_write_job_answer_text(job, j->created ? 201 : 200, text, len, false);
}

void jf_h_member_put(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    int status = -1;
    const jf_field spec[] = {
        JF_FIELD_ENUM("status", &status, jf_member_status_parse, "active, frozen", 0),
        JF_FIELD_END,
    };
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    put_job *j = (put_job *)jf_job_or_reply(call, sizeof *j, put_run, put_done, body, member);
    if (j == NULL) return;
    j->status = status;
    jf_write_job_submit(&j->job);
}

/* ---- GET /v1/members/{member_id} ---- */

void jf_h_member_get(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    jf_ctx c = read_ctx(call);
    jf_member m;
    jf_error err;
    jf_error_clear(&err);
    if (jf_member_get(&c, member, &m, &err) != JF_OK) {
        jf_respond_error(call, &err);
        return;
    }
    jf_json_text b = {0};
    jf_render_member_text(&b, &call->tenant, &m);
    respond_text(call, &b);
}

/* Cursor text → id (positive decimal), or reply invalid_field. */
static bool cursor_id_or_reply(jf_call *call, const char *text, int64_t *out) {
    char *end = NULL;
    long long x = strtoll(text, &end, 10);
    if (end == text || *end || x <= 0 || x > JF_QUANTITY_MAX) {
        jf_error err;
        jf_fail(&err, JF_INVALID_FIELD, "cursor", "cursor must be a next_cursor from a previous page");
        jf_respond_error(call, &err);
        return false;
    }
    *out = x;
    return true;
}

/* ---- GET /v1/members ---- */

void jf_h_member_list(jf_call *call) {
    int64_t limit = JF_PAGE_LIMIT_DEFAULT, after = 0;
    char cursor[32] = "";
    const jf_qparam q[] = {
        {"limit", JF_Q_INT, &limit, 0, JF_PAGE_LIMIT_MIN, JF_PAGE_LIMIT_MAX, NULL},
        {"cursor", JF_Q_STRING, cursor, sizeof cursor, 0, 0, NULL},
        {NULL, JF_Q_INT, NULL, 0, 0, 0, NULL},
    };
    if (!jf_query_or_reply(call, q)) return;
    if (cursor[0] && !cursor_id_or_reply(call, cursor, &after)) return;
    jf_member *rows = calloc((size_t)limit, sizeof *rows);
    if (rows == NULL) {
        reply_oom(call);
        return;
    }
    size_t n = 0;
    jf_error err;
    jf_error_clear(&err);
    jf_store *s = call->loop->store;
    if (s->ops->member_list(s, call->tenant.id, after, rows, (size_t)limit, &n, &err) != JF_OK) {
        free(rows);
        jf_respond_error(call, &err);
        return;
    }
    jf_json_text b = {0};
    jf_json_lit(&b, "{\"members\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) jf_json_char(&b, ',');
        jf_render_member_text(&b, &call->tenant, &rows[i]);
    }
    jf_json_lit(&b, "],\"next_cursor\":");
    put_cursor(&b, n == (size_t)limit ? rows[n - 1].id : 0);
    jf_json_char(&b, '}');
    free(rows);
    respond_text(call, &b);
}

/* ---- GET /v1/members/{member_id}/entries ---- */

void jf_h_entries(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    int64_t limit = JF_PAGE_LIMIT_DEFAULT, from = 0, to = 0;
    char cursor[32] = "", kind[16] = "", scene[JF_SCENE_LEN_MAX + 1] = "";
    const jf_qparam q[] = {
        {"limit", JF_Q_INT, &limit, 0, JF_PAGE_LIMIT_MIN, JF_PAGE_LIMIT_MAX, NULL},
        {"cursor", JF_Q_STRING, cursor, sizeof cursor, 0, 0, NULL},
        {"kind", JF_Q_STRING, kind, sizeof kind, 0, 0, NULL},
        {"scene", JF_Q_STRING, scene, sizeof scene, 0, 0, NULL},
        {"from", JF_Q_TIME, &from, 0, 0, 0, NULL},
        {"to", JF_Q_TIME, &to, 0, 0, 0, NULL},
        {NULL, JF_Q_INT, NULL, 0, 0, 0, NULL},
    };
    if (!jf_query_or_reply(call, q)) return;
    jf_entry_filter f = {.scene = scene[0] ? scene : NULL, .from_ms = from, .to_ms = to};
    if (cursor[0] && !cursor_id_or_reply(call, cursor, &f.before_id)) return;
    if (kind[0]) {
        int k = jf_entry_kind_parse(kind);
        if (k < 0) {
            jf_error err;
            jf_fail(&err, JF_INVALID_FIELD, "kind",
                    "kind must be one of earn, spend, hold, capture, release, reverse, expire, adjust, activate");
            jf_respond_error(call, &err);
            return;
        }
        f.kinds_mask = 1u << k;
    }
    jf_entry *rows = calloc((size_t)limit, sizeof *rows);
    if (rows == NULL) {
        reply_oom(call);
        return;
    }
    jf_ctx c = read_ctx(call);
    size_t n = 0;
    jf_error err;
    jf_error_clear(&err);
    if (jf_entries_list(&c, member, &f, rows, (size_t)limit, &n, &err) != JF_OK) {
        free(rows);
        jf_respond_error(call, &err);
        return;
    }
    jf_json_text b = {0};
    JF_KEY_STR(&b, "{\"member_id\":", member);
    jf_json_lit(&b, ",\"entries\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) jf_json_char(&b, ',');
        jf_render_entry_text(&b, &call->tenant, member, &rows[i]);
    }
    jf_json_lit(&b, "],\"next_cursor\":");
    put_cursor(&b, n == (size_t)limit ? rows[n - 1].id : 0);
    jf_json_char(&b, '}');
    free(rows);
    respond_text(call, &b);
}

/* ---- GET /v1/members/{member_id}/lots ---- */

/* Lot cursors are "<expires_at_ms>.<lot_id>" (keyset on both). */
static bool lot_cursor_or_reply(jf_call *call, const char *text, jf_lot_filter *f) {
    long long exp = 0, id = 0;
    char tail = 0;
    if (sscanf(text, "%lld.%lld%c", &exp, &id, &tail) != 2 || id <= 0) {
        jf_error err;
        jf_fail(&err, JF_INVALID_FIELD, "cursor", "cursor must be a next_cursor from a previous page");
        jf_respond_error(call, &err);
        return false;
    }
    f->after_expires_at_ms = exp;
    f->after_id = id;
    return true;
}

void jf_h_lots(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    int64_t limit = JF_PAGE_LIMIT_DEFAULT;
    char cursor[48] = "", state[16] = "";
    const jf_qparam q[] = {
        {"limit", JF_Q_INT, &limit, 0, JF_PAGE_LIMIT_MIN, JF_PAGE_LIMIT_MAX, NULL},
        {"cursor", JF_Q_STRING, cursor, sizeof cursor, 0, 0, NULL},
        {"state", JF_Q_STRING, state, sizeof state, 0, 0, NULL},
        {NULL, JF_Q_INT, NULL, 0, 0, 0, NULL},
    };
    if (!jf_query_or_reply(call, q)) return;
    jf_lot_filter f = {.state = -1, .after_expires_at_ms = INT64_MIN};
    if (cursor[0] && !lot_cursor_or_reply(call, cursor, &f)) return;
    if (state[0]) {
        static const char *const names[] = {"pending", "active", "expired"};
        f.state = -2;
        for (int i = 0; i < 3; i++)
            if (strcmp(state, names[i]) == 0) f.state = i;
        if (f.state == -2) {
            jf_error err;
            jf_fail(&err, JF_INVALID_FIELD, "state", "state must be one of pending, active, expired");
            jf_respond_error(call, &err);
            return;
        }
    }
    jf_lot *rows = calloc((size_t)limit, sizeof *rows);
    if (rows == NULL) {
        reply_oom(call);
        return;
    }
    jf_ctx c = read_ctx(call);
    size_t n = 0;
    jf_error err;
    jf_error_clear(&err);
    if (jf_lots_list(&c, member, &f, rows, (size_t)limit, &n, &err) != JF_OK) {
        free(rows);
        jf_respond_error(call, &err);
        return;
    }
    jf_json_text b = {0};
    JF_KEY_STR(&b, "{\"member_id\":", member);
    jf_json_lit(&b, ",\"lots\":");
    put_lots(&b, &call->tenant, rows, n);
    jf_json_lit(&b, ",\"next_cursor\":");
    if (n == (size_t)limit) {
        char buf[48];
        snprintf(buf, sizeof buf, "%lld.%lld", (long long)rows[n - 1].expires_at_ms, (long long)rows[n - 1].id);
        jf_json_cstr(&b, buf);
    } else {
        jf_json_lit(&b, "null");
    }
    jf_json_char(&b, '}');
    free(rows);
    respond_text(call, &b);
}

/* ---- GET /v1/members/{member_id}/expiring?days=N ---- */

void jf_h_expiring(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    int64_t days = 30, limit = JF_PAGE_LIMIT_DEFAULT;
    const jf_qparam q[] = {
        {"days", JF_Q_INT, &days, 0, 1, JF_EXPIRING_DAYS_MAX, NULL},
        {"limit", JF_Q_INT, &limit, 0, JF_PAGE_LIMIT_MIN, JF_PAGE_LIMIT_MAX, NULL},
        {NULL, JF_Q_INT, NULL, 0, 0, 0, NULL},
    };
    if (!jf_query_or_reply(call, q)) return;
    jf_lot *rows = calloc((size_t)limit, sizeof *rows);
    if (rows == NULL) {
        reply_oom(call);
        return;
    }
    jf_ctx c = read_ctx(call);
    size_t n = 0;
    int64_t total = 0;
    jf_error err;
    jf_error_clear(&err);
    if (jf_expiring(&c, member, (int32_t)days, rows, (size_t)limit, &n, &total, &err) != JF_OK) {
        free(rows);
        jf_respond_error(call, &err);
        return;
    }
    jf_json_text b = {0};
    JF_KEY_STR(&b, "{\"member_id\":", member);
    JF_KEY_INT(&b, ",\"days\":", days);
    JF_KEY_INT(&b, ",\"total\":", total);
    jf_json_lit(&b, ",\"lots\":");
    put_lots(&b, &call->tenant, rows, n);
    jf_json_char(&b, '}');
    free(rows);
    respond_text(call, &b);
}
