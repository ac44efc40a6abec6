/*
 * respond.c — the one way a response leaves the server.
 *
 * Every answer, synchronous or after a commit, passes through jf_respond so
 * that each is counted in the metrics and written to the access log exactly
 * once, and so that problem documents always carry the right content type.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/json_out.h"
#include "http/metrics.h"
#include "http/problem.h"
#include "http/render.h"

static const char *reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

static int64_t elapsed_us(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - start->tv_sec) * 1000000 + (now.tv_nsec - start->tv_nsec) / 1000;
}

/* JSON string body of s: escapes quotes, backslashes, control and non-ASCII
 * bytes (\u00XX), so that a hostile path cannot break the log line. */
static void log_escaped(FILE *f, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
}

static void access_log(const jf_call_meta *meta, int status, size_t bytes, int64_t us) {
    char line[1024];
    FILE *f = fmemopen(line, sizeof line, "w");
    if (f == NULL) return;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    fprintf(f, "{\"ts_ms\":%lld,\"method\":\"", (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000);
    log_escaped(f, meta->method);
    fputs("\",\"path\":\"", f);
    log_escaped(f, meta->path);
    fprintf(f, "\",\"route\":\"%s\",\"status\":%d,\"bytes\":%zu,\"duration_us\":%lld,\"tenant\":\"",
            meta->route_index >= 0 ? jf_routes[meta->route_index].name : "unmatched", status, bytes,
            (long long)us);
    log_escaped(f, meta->tenant);
    fputs("\"}\n", f);
    long n = ftell(f);
    fclose(f);
    if (n > 0 && (size_t)n < sizeof line) fwrite(line, 1, (size_t)n, stderr);
}

void jf_respond(h2o_req_t *req, jf_loop *loop, const jf_call_meta *meta, int status, const char *content_type,
                const char *body, size_t len, const char *const *extra_headers) {
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    if (status >= 500) loop->server_errors++;
    if (content_type)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
    for (const char *const *h = extra_headers; h && h[0]; h += 2)
        h2o_add_header_by_str(&req->pool, &req->res.headers, h[0], strlen(h[0]), 1, NULL, h[1], strlen(h[1]));
    if (atomic_load(&loop->server->stopping)) req->http1_is_persistent = 0;
    req->res.content_length = len;
    h2o_send_inline(req, body, len);

    int64_t us = elapsed_us(&meta->started);
    jf_metrics_request(meta->route_index, status, us);
    if (loop->server->cfg.access_log) access_log(meta, status, len, us);
}

/* Answer JSON text already encoded (freed here); NULL: it could not be
 * encoded, a 500 instead. */
static void respond_text(h2o_req_t *req, jf_loop *loop, const jf_call_meta *meta, int status, const char *ctype,
                         char *text, size_t len, const char *const *extra_headers) {
    if (text == NULL) {
        static const char fallback[] = "{\"type\":\"urn:jifen:problem:internal\",\"title\":\"Internal error\","
                                       "\"status\":500,\"detail\":\"the response could not be encoded\","
                                       "\"code\":\"internal\"}";
        jf_respond(req, loop, meta, 500, JF_PROBLEM_CONTENT_TYPE, fallback, sizeof fallback - 1, NULL);
        return;
    }
    jf_respond(req, loop, meta, status, ctype, text, len, extra_headers);
    free(text);
}

static void respond_doc(h2o_req_t *req, jf_loop *loop, const jf_call_meta *meta, int status, const char *ctype,
                        json_t *doc, const char *const *extra_headers) {
    size_t len = 0;
    char *text = jf_json_encode(doc, &len);
    json_decref(doc);
    respond_text(req, loop, meta, status, ctype, text, len, extra_headers);
}

void jf_respond_json(jf_call *call, int status, json_t *doc) {
    respond_doc(call->req, call->loop, &call->meta, status, "application/json", doc, NULL);
}

void jf_respond_json_text(jf_call *call, int status, char *text, size_t len) {
    respond_text(call->req, call->loop, &call->meta, status, "application/json", text, len, NULL);
}

static const char *const bearer_challenge[] = {"www-authenticate", "Bearer realm=\"jifen\"", NULL};

void jf_respond_error(jf_call *call, const jf_error *err) {
    const char *const *extra = err->code == JF_UNAUTHORIZED ? bearer_challenge : NULL;
    respond_doc(call->req, call->loop, &call->meta, jf_code_status(err->code), JF_PROBLEM_CONTENT_TYPE,
                jf_problem_doc(err), extra);
}

void jf_respond_json_error(jf_call *call, const jf_error *err, int line, int column) {
    json_t *doc = jf_problem_doc(err);
    if (line > 0) {
        json_object_set_new(doc, "line", json_integer(line));
        json_object_set_new(doc, "column", json_integer(column));
    }
    respond_doc(call->req, call->loop, &call->meta, jf_code_status(err->code), JF_PROBLEM_CONTENT_TYPE, doc, NULL);
}

void jf_write_job_answer(jf_write_job *job, int status, json_t *doc) {
    if (job->req == NULL) {
        json_decref(doc);
        jf_metrics_request(job->meta.route_index, 499, elapsed_us(&job->meta.started));
        return;
    }
    if (job->code != JF_OK) {
        json_decref(doc);
        const char *const *extra = job->err.code == JF_UNAUTHORIZED ? bearer_challenge : NULL;
        if (job->err.code != job->code) job->err.code = job->code;
        respond_doc(job->req, job->loop, &job->meta, jf_code_status(job->code), JF_PROBLEM_CONTENT_TYPE,
                    jf_problem_doc(&job->err), extra);
        return;
    }
    respond_doc(job->req, job->loop, &job->meta, status, "application/json", doc, NULL);
}

static const char *const replayed_header[] = {"idempotent-replayed", "true", NULL};

void jf_write_job_answer_result(jf_write_job *job) {
    if (job->req == NULL || job->code != JF_OK) {
        jf_write_job_answer(job, 0, NULL);
        return;
    }
    jf_json_text b = {0};
    jf_render_result_text(&b, &job->tenant, &job->result);
    size_t len = 0;
    char *text = jf_json_text_take(&b, &len);
    jf_write_job_answer_text(job, 201, text, len, job->result.replayed);
}

void jf_write_job_answer_text(jf_write_job *job, int status, char *text, size_t len, bool replayed) {
    if (job->req == NULL || job->code != JF_OK) {
        free(text);
        jf_write_job_answer(job, 0, NULL);
        return;
    }
    respond_text(job->req, job->loop, &job->meta, status, "application/json", text, len,
                 replayed ? replayed_header : NULL);
}
