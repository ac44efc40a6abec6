/*
 * handlers_checkins.c — check-in: POST and GET /v1/members/{member_id}/checkins
 * and the tenant's configuration, GET and PUT /v1/checkin-config.
 * Days are the tenant's (its time zone); "date" is YYYY-MM-DD.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/checkin.h"
#include "http/handlers.h"
#include "http/render.h"
#include "util/tz.h"

static void date_text(int32_t ymd, char buf[16]) {
    snprintf(buf, 16, "%04d-%02d-%02d", ymd / 10000, ymd / 100 % 100, ymd % 100);
}

static json_t *date_string(int32_t ymd) {
    char buf[16];
    date_text(ymd, buf);
    return json_string(buf);
}

/* ---- POST /v1/members/{member_id}/checkins ---- */

typedef struct {
    jf_write_job job;
    int32_t day;
    jf_checkin_result out;
} checkin_job;

static jf_code checkin_run(jf_store *s, jf_write_job *job, jf_error *err) {
    checkin_job *j = (checkin_job *)job;
    jf_ctx c = jf_job_ctx(s, job);
    return jf_checkin(&c, job->member_id, j->day, &j->out, err);
}

static void checkin_done(jf_write_job *job) {
    checkin_job *j = (checkin_job *)job;
    jf_json_text b = {0};
    if (job->code == JF_OK) {
        const jf_checkin_result *r = &j->out;
        char date[16];
        date_text(r->day, date);
        JF_KEY_STR(&b, "{\"member_id\":", job->member_id);
        JF_KEY_STR(&b, ",\"date\":", date);
        JF_KEY_INT(&b, ",\"streak\":", r->streak);
        JF_KEY_INT(&b, ",\"points\":", r->points);
        JF_KEY_BOOL(&b, ",\"makeup\":", r->makeup);
        JF_KEY_INT(&b, ",\"cost\":", r->cost);
        JF_KEY_INT(&b, ",\"perfect_month_bonus\":", r->bonus);
        JF_KEY_INT(&b, ",\"makeups_used\":", r->makeups_used);
        JF_KEY_INT(&b, ",\"makeups_left\":", r->makeups_left);
        jf_json_lit(&b, ",\"member\":");
        jf_render_member_text(&b, &job->tenant, &r->member);
        jf_json_char(&b, '}');
    }
    size_t len = 0;
    char *text = jf_json_text_take(&b, &len);
    jf_write_job_answer_text(job, 201, text, len, false);
}

void jf_h_checkin_create(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    const char *date = NULL;
    const jf_field spec[] = {
        JF_FIELD_STRING("date", &date, 10, 10, JF_CHARS_PRINTABLE, 0),
        JF_FIELD_END,
    };
    json_t *body = jf_body_or_reply(call, spec);
    if (body == NULL) return;
    int32_t y = 0, m = 0, d = 0;
    if (date != NULL && !jf_parse_date(date, &y, &m, &d)) {
        json_decref(body);
        jf_error err;
        jf_fail(&err, JF_INVALID_FIELD, "date", "date must be a date YYYY-MM-DD");
        jf_respond_error(call, &err);
        return;
    }
    checkin_job *j = (checkin_job *)jf_job_or_reply(call, sizeof *j, checkin_run, checkin_done, body, member);
    if (j == NULL) return;
    j->day = date ? y * 10000 + m * 100 + d : 0;
    jf_write_job_submit(&j->job);
}

/* ---- GET /v1/members/{member_id}/checkins?month=YYYY-MM ---- */

static bool month_or_reply(jf_call *call, const char *text, bool present, int32_t *year, int32_t *month) {
    if (!present) {
        jf_civil civ;
        jf_tz_civil(call->tenant.timezone, call->now_ms, &civ);
        *year = civ.year;
        *month = civ.month;
        return true;
    }
    char date[16];
    int32_t d;
    snprintf(date, sizeof date, "%.7s-01", text);
    if (strlen(text) == 7 && jf_parse_date(date, year, month, &d)) return true;
    jf_error err;
    jf_fail(&err, JF_INVALID_FIELD, "month", "month must be YYYY-MM");
    jf_respond_error(call, &err);
    return false;
}

void jf_h_checkin_month(jf_call *call) {
    char member[JF_MEMBER_ID_LEN_MAX + 1];
    if (!jf_param_member_id_or_reply(call, 0, member)) return;
    char month_text[16] = "";
    bool has_month = false;
    const jf_qparam q[] = {
        {"month", JF_Q_STRING, month_text, sizeof month_text, 0, 0, &has_month},
        {NULL, JF_Q_INT, NULL, 0, 0, 0, NULL},
    };
    if (!jf_query_or_reply(call, q)) return;
    int32_t year, month;
    if (!month_or_reply(call, month_text, has_month, &year, &month)) return;
    jf_ctx c = {.store = call->loop->store, .tenant = &call->tenant, .now_ms = call->now_ms};
    jf_checkin_month *mo = malloc(sizeof *mo);
    jf_error err;
    jf_error_clear(&err);
    if (mo == NULL) jf_fail(&err, JF_UNAVAILABLE, "", "out of memory");
    else if (jf_checkin_month_get(&c, member, year, month, mo, &err) == JF_OK) {
        json_t *days = json_array();
        size_t k = 0;
        for (int32_t d = 1; d <= jf_days_in_month(year, month); d++) {
            int32_t ymd = year * 10000 + month * 100 + d;
            json_t *o = json_pack("{so}", "date", date_string(ymd));
            bool in = k < mo->n && mo->rows[k].day == ymd;
            json_object_set_new(o, "checked_in", json_boolean(in));
            if (in) {
                json_object_set_new(o, "streak", json_integer(mo->rows[k].streak));
                json_object_set_new(o, "points", json_integer(mo->rows[k].points));
                json_object_set_new(o, "makeup", json_boolean(mo->rows[k].makeup));
                k++;
            }
            json_array_append_new(days, o);
        }
        char mtext[16];
        snprintf(mtext, sizeof mtext, "%04d-%02d", year, month);
        json_t *doc = json_pack("{ss ss so sI sb sI sI sb}", "member_id", member, "month", mtext, "days", days,
                                "current_streak", (json_int_t)mo->current_streak, "checked_in_today",
                                mo->checked_in_today, "makeups_used", (json_int_t)mo->makeups_used, "makeups_left",
                                (json_int_t)mo->makeups_left, "perfect", (int32_t)mo->n == jf_days_in_month(year, month));
        json_object_set_new(doc, "checkins", json_integer((json_int_t)mo->n));
        json_object_set_new(doc, "today", date_string(mo->today));
        jf_respond_json(call, 200, doc);
    }
    if (err.code != JF_OK) jf_reply_error(call, &err);
    free(mo);
}

/* ---- GET / PUT /v1/checkin-config ---- */

void jf_h_checkin_config_get(jf_call *call) {
    jf_ctx c = {.store = call->loop->store, .tenant = &call->tenant, .now_ms = call->now_ms};
    jf_checkin_config cfg;
    jf_error err;
    jf_error_clear(&err);
    if (jf_checkin_config_get(&c, &cfg, &err) != JF_OK) {
        jf_reply_error(call, &err);
        return;
    }
    jf_respond_json(call, 200, jf_checkin_config_to_json(&cfg));
}

typedef struct {
    jf_write_job job;
    jf_checkin_config cfg;
} config_job;

static jf_code config_run(jf_store *s, jf_write_job *job, jf_error *err) {
    config_job *j = (config_job *)job;
    jf_ctx c = jf_job_ctx(s, job);
    return jf_checkin_config_put(&c, &j->cfg, err);
}

static void config_done(jf_write_job *job) {
    config_job *j = (config_job *)job;
    jf_write_job_answer(job, 200, job->code == JF_OK ? jf_checkin_config_to_json(&j->cfg) : NULL);
}

void jf_h_checkin_config_put(jf_call *call) {
    h2o_iovec_t body = call->req->entity;
    json_error_t jerr;
    json_t *root = jf_json_load(body.base ? body.base : "", body.base ? body.len : 0, &jerr);
    jf_error err;
    jf_error_clear(&err);
    if (root == NULL) {
        jf_fail(&err, JF_INVALID_JSON, "", "%s", jerr.text);
        jf_respond_json_error(call, &err, jerr.line, jerr.column);
        return;
    }
    jf_checkin_config cfg;
    if (jf_checkin_config_parse(root, &cfg, &err) != JF_OK) {
        json_decref(root);
        jf_respond_error(call, &err);
        return;
    }
    config_job *j = (config_job *)jf_job_or_reply(call, sizeof *j, config_run, config_done, root, NULL);
    if (j == NULL) return;
    j->cfg = cfg;
    jf_write_job_submit(&j->job);
}
