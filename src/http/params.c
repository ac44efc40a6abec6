/*
 * params.c — path parameters, query parameters and bodies, validated in one
 * place so that every handler refuses bad input the same way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/handlers.h"
#include "util/text.h"
#include "util/tz.h"

void jf_reply_error(jf_call *call, const jf_error *err) { jf_respond_error(call, err); }

static bool member_char(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == ':' || c == '@' || c == '-';
}

bool jf_param_member_id_or_reply(jf_call *call, int index, char out[JF_MEMBER_ID_LEN_MAX + 1]) {
    h2o_iovec_t v = call->params[index];
    bool ok = v.len >= 1 && v.len <= JF_MEMBER_ID_LEN_MAX;
    for (size_t i = 0; ok && i < v.len; i++) ok = member_char((unsigned char)v.base[i]);
    if (!ok) {
        jf_error err;
        jf_fail(&err, JF_INVALID_FIELD, "member_id", "member_id must be 1..%d of A-Z a-z 0-9 _ . : @ -",
                JF_MEMBER_ID_LEN_MAX);
        jf_respond_error(call, &err);
        return false;
    }
    memcpy(out, v.base, v.len);
    out[v.len] = '\0';
    return true;
}

/* A decimal integer 1..JF_QUANTITY_MAX, digits only. */
static bool parse_id(const char *s, size_t n, int64_t *out) {
    if (n == 0 || n > 16) return false;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        x = x * 10 + (s[i] - '0');
    }
    if (x < 1 || x > JF_QUANTITY_MAX) return false;
    *out = x;
    return true;
}

bool jf_param_id_or_reply(jf_call *call, int index, const char *name, int64_t *out) {
    h2o_iovec_t v = call->params[index];
    if (!parse_id(v.base, v.len, out)) {
        jf_error err;
        jf_fail(&err, JF_INVALID_FIELD, name, "%s must be a positive integer", name);
        jf_respond_error(call, &err);
        return false;
    }
    return true;
}

json_t *jf_body_or_reply(jf_call *call, const jf_field *spec) {
    h2o_iovec_t body = call->req->entity;
    bool empty_ok = (call->route->flags & JF_ROUTE_BODY_OPTIONAL) != 0;
    json_t *root = NULL;
    jf_error err;
    jf_error_clear(&err);
    jf_json_pos pos;
    jf_code rc = jf_json_parse(body.base ? body.base : "", body.base ? body.len : 0, empty_ok, spec, &root, &err, &pos);
    if (rc != JF_OK) {
        jf_respond_json_error(call, &err, pos.line, pos.column);
        return NULL;
    }
    return root;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode src[0..n) into out (cap bytes); false if malformed, too
 * long or containing NUL. */
static bool url_decode(const char *src, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '+') c = ' ';
        else if (c == '%') {
            if (i + 2 >= n) return false;
            int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0) return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap) return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

static jf_code qparam_set(const jf_qparam *q, const char *value, jf_error *err) {
    if (q->present) *q->present = true;
    switch (q->type) {
    case JF_Q_STRING:
        if (strlen(value) + 1 > q->cap || value[0] == '\0')
            return jf_fail(err, JF_INVALID_FIELD, q->name, "%s must be 1..%zu bytes", q->name, q->cap - 1);
        snprintf(q->out, q->cap, "%s", value);
        return JF_OK;
    case JF_Q_TIME: {
        int64_t ms = 0;
        if (!jf_parse_rfc3339(value, &ms) || ms < JF_TIME_MS_MIN || ms > JF_TIME_MS_MAX)
            return jf_fail(err, JF_INVALID_FIELD, q->name, "%s must be an RFC 3339 time with an offset", q->name);
        *(int64_t *)q->out = ms;
        return JF_OK;
    }
    case JF_Q_INT: {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(value, &end, 10);
        if (errno || end == value || *end || x < q->min || x > q->max)
            return jf_fail(err, JF_INVALID_FIELD, q->name, "%s must be an integer between %lld and %lld", q->name,
                           (long long)q->min, (long long)q->max);
        *(int64_t *)q->out = x;
        return JF_OK;
    }
    }
    return jf_fail(err, JF_INTERNAL, q->name, "bad query spec");
}

bool jf_query_or_reply(jf_call *call, const jf_qparam *spec) {
    h2o_req_t *req = call->req;
    for (const jf_qparam *q = spec; q->name; q++)
        if (q->present) *q->present = false;
    if (req->query_at == SIZE_MAX) return true;
    const char *p = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    jf_error err;
    jf_error_clear(&err);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        char name[64], value[256];
        const char *name_end = eq ? eq : stop;
        bool ok = url_decode(p, (size_t)(name_end - p), name, sizeof name) &&
                  url_decode(eq ? eq + 1 : stop, eq ? (size_t)(stop - eq - 1) : 0, value, sizeof value);
        if (!ok) {
            jf_fail(&err, JF_INVALID_FIELD, "", "the query string is malformed");
            break;
        }
        if (name[0] != '\0') {
            const jf_qparam *q = spec;
            while (q->name && strcmp(q->name, name) != 0) q++;
            if (q->name == NULL) {
                char field[64];
                snprintf(field, sizeof field, "%s", name);
                jf_fail(&err, JF_INVALID_FIELD, field, "unknown query parameter %s", field);
                break;
            }
            if (qparam_set(q, value, &err) != JF_OK) break;
        }
        p = stop + 1;
    }
    if (err.code != JF_OK) {
        jf_respond_error(call, &err);
        return false;
    }
    return true;
}

json_t *jf_cursor(int64_t id) {
    if (id <= 0) return json_null();
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)id);
    return json_string(buf);
}

/* Create the job for a parsed request, or answer 503 (out of memory). */
jf_write_job *jf_job_or_reply(jf_call *call, size_t size, jf_write_run_fn run, jf_write_done_fn done, json_t *body,
                               const char *member_id) {
    jf_write_job *job = jf_write_job_new(call, size, run, done ? done : jf_write_job_answer_result);
    if (job == NULL) {
        json_decref(body);
        jf_error err;
        jf_fail(&err, JF_UNAVAILABLE, "", "out of memory");
        jf_respond_error(call, &err);
        return NULL;
    }
    job->body = body;
    if (member_id) JF_COPY(job->member_id, member_id);
    return job;
}


jf_ctx jf_job_ctx(jf_store *s, jf_write_job *job) {
    return (jf_ctx){.store = s, .tenant = &job->tenant, .now_ms = job->now_ms};
}
