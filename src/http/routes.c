/*
 * routes.c — the one route table and the dispatcher in front of it.
 *
 * Every request passes the same gate, in this order, before any handler
 * runs: target length (414), header limits (431), route (404), method (405
 * with Allow), body size (413), media type (415), test-clock header (400),
 * key (401) and role (403).  A handler therefore sees only requests it can
 * serve, and every refusal is a problem+json from the one registry.
 * The OpenAPI document lists exactly these routes (a test compares them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include "engine/keys.h"
#include "http/handlers.h"
#include "http/problem.h"
#include "util/text.h"
#include "util/tz.h"

#define APP JF_ROLE_APP
#define READ JF_ROLE_READ
#define ADMIN JF_ROLE_ADMIN
#define NONE JF_AUTH_NONE
#define BODY JF_ROUTE_BODY
#define BODY_OPT (JF_ROUTE_BODY | JF_ROUTE_BODY_OPTIONAL)

const jf_route jf_routes[] = {
    {"GET", "/healthz", jf_h_healthz, NONE, 0, "healthz"},
    {"GET", "/metrics", jf_h_metrics, NONE, 0, "metrics"},
    {"GET", "/v1/openapi.json", jf_h_openapi, NONE, 0, "openapi"},
    {"GET", "/v1/tenant", jf_h_tenant_get, READ, 0, "tenant_get"},
    {"PATCH", "/v1/tenant", jf_h_tenant_patch, ADMIN, BODY, "tenant_patch"},
    {"POST", "/v1/keys", jf_h_key_create, ADMIN, BODY, "key_create"},
    {"GET", "/v1/keys", jf_h_key_list, ADMIN, 0, "key_list"},
    {"DELETE", "/v1/keys/{key_id}", jf_h_key_revoke, ADMIN, 0, "key_revoke"},
    {"GET", "/v1/members", jf_h_member_list, READ, 0, "member_list"},
    {"PUT", "/v1/members/{member_id}", jf_h_member_put, APP, BODY_OPT, "member_put"},
    {"GET", "/v1/members/{member_id}", jf_h_member_get, READ, 0, "member_get"},
    {"POST", "/v1/members/{member_id}/earn", jf_h_earn, APP, BODY, "earn"},
    {"POST", "/v1/members/{member_id}/spend", jf_h_spend, APP, BODY, "spend"},
    {"POST", "/v1/members/{member_id}/holds", jf_h_hold, APP, BODY, "hold"},
    {"POST", "/v1/holds/{hold_id}/capture", jf_h_capture, APP, BODY, "capture"},
    {"POST", "/v1/holds/{hold_id}/release", jf_h_release, APP, BODY, "release"},
    {"POST", "/v1/members/{member_id}/reversals", jf_h_reverse, APP, BODY, "reverse"},
    {"POST", "/v1/members/{member_id}/adjustments", jf_h_adjust, ADMIN, BODY, "adjust"},
    {"GET", "/v1/members/{member_id}/entries", jf_h_entries, READ, 0, "entries"},
    {"GET", "/v1/members/{member_id}/lots", jf_h_lots, READ, 0, "lots"},
    {"GET", "/v1/members/{member_id}/expiring", jf_h_expiring, READ, 0, "expiring"},
    {"POST", "/v1/admin/jobs/run", jf_h_jobs_run, ADMIN, BODY_OPT, "jobs_run"},
    /* Earning: events, rules, check-in, tasks (issue 5). */
    {"POST", "/v1/events", jf_h_event, APP, BODY, "event"},
    {"POST", "/v1/events/dry-run", jf_h_event_dry_run, APP, BODY, "event_dry_run"},
    {"POST", "/v1/rules", jf_h_definition_create, ADMIN, BODY, "rule_create"},
    {"GET", "/v1/rules", jf_h_definition_list, ADMIN, 0, "rule_list"},
    {"GET", "/v1/rules/{rule_id}", jf_h_definition_get, ADMIN, 0, "rule_get"},
    {"PUT", "/v1/rules/{rule_id}", jf_h_definition_replace, ADMIN, BODY, "rule_replace"},
    {"PATCH", "/v1/rules/{rule_id}", jf_h_definition_patch, ADMIN, BODY, "rule_patch"},
    {"POST", "/v1/tasks", jf_h_definition_create, ADMIN, BODY, "task_create"},
    {"GET", "/v1/tasks", jf_h_definition_list, ADMIN, 0, "task_list"},
    {"GET", "/v1/tasks/{task_id}", jf_h_definition_get, ADMIN, 0, "task_get"},
    {"PUT", "/v1/tasks/{task_id}", jf_h_definition_replace, ADMIN, BODY, "task_replace"},
    {"PATCH", "/v1/tasks/{task_id}", jf_h_definition_patch, ADMIN, BODY, "task_patch"},
    {"POST", "/v1/members/{member_id}/checkins", jf_h_checkin_create, APP, BODY_OPT, "checkin_create"},
    {"GET", "/v1/members/{member_id}/checkins", jf_h_checkin_month, READ, 0, "checkin_month"},
    {"GET", "/v1/checkin-config", jf_h_checkin_config_get, READ, 0, "checkin_config_get"},
    {"PUT", "/v1/checkin-config", jf_h_checkin_config_put, ADMIN, BODY, "checkin_config_put"},
    {"GET", "/v1/members/{member_id}/tasks", jf_h_member_tasks, READ, 0, "member_tasks"},
    {"POST", "/v1/members/{member_id}/tasks/{task_id}/claim", jf_h_task_claim, APP, BODY_OPT, "task_claim"},
};
const int jf_routes_n = (int)(sizeof jf_routes / sizeof jf_routes[0]);

/* Does path match pattern?  Literal segments must be equal; "{name}"
 * matches one non-empty segment, captured into params in order. */
static bool match(const char *pattern, const char *path, size_t path_len, h2o_iovec_t *params) {
    const char *p = pattern;
    size_t i = 0;
    int np = 0;
    while (*p) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t start = i;
            while (i < path_len && path[i] != '/') i++;
            if (i == start || np >= JF_HTTP_PARAMS_MAX) return false;
            params[np++] = h2o_iovec_init(path + start, i - start);
            p = close + 1;
        } else {
            if (i >= path_len || path[i] != *p) return false;
            p++;
            i++;
        }
    }
    return i == path_len;
}

static bool method_is(const jf_route *r, h2o_iovec_t m) {
    return strlen(r->method) == m.len && memcmp(r->method, m.base, m.len) == 0;
}

static void reply(jf_call *call, jf_code code, const char *field, const char *detail) {
    jf_error err;
    jf_fail(&err, code, field, "%s", detail);
    jf_respond_error(call, &err);
}

static void reply_method_not_allowed(jf_call *call, const char *path, size_t path_len) {
    char allow[128] = "";
    h2o_iovec_t params[JF_HTTP_PARAMS_MAX];
    for (int i = 0; i < jf_routes_n; i++) {
        if (!match(jf_routes[i].pattern, path, path_len, params)) continue;
        size_t n = strlen(allow);
        snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", jf_routes[i].method);
    }
    jf_error err;
    jf_fail(&err, JF_METHOD_NOT_ALLOWED, "", "%.*s is not allowed here; allowed: %s", (int)call->req->method.len,
            call->req->method.base, allow);
    json_t *doc = jf_problem_doc(&err);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    const char *headers[] = {"allow", allow, NULL};
    jf_respond(call->req, call->loop, &call->meta, 405, JF_PROBLEM_CONTENT_TYPE, text, strlen(text), headers);
    free(text);
}

static bool headers_within_limits(const h2o_req_t *req) {
    if (req->headers.size > JF_HTTP_HEADERS_MAX) return false;
    size_t bytes = 0;
    for (size_t i = 0; i < req->headers.size; i++)
        bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    return bytes <= JF_HTTP_HEADER_BYTES_MAX;
}

/* application/json, optionally with parameters (charset=utf-8). */
static bool is_json_media_type(const h2o_req_t *req) {
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0) return false;
    h2o_iovec_t v = req->headers.entries[i].value;
    static const char json[] = "application/json";
    size_t n = sizeof json - 1;
    if (v.len < n || strncasecmp(v.base, json, n) != 0) return false;
    return v.len == n || v.base[n] == ';' || v.base[n] == ' ';
}

/* X-Jifen-Now: only with --test-clock; sets the request's "now". */
static bool clock_or_reply(jf_call *call) {
    call->now_ms = jf_now_ms();
    ssize_t i = h2o_find_header_by_str(&call->req->headers, H2O_STRLIT("x-jifen-now"), -1);
    if (i < 0) return true;
    if (!call->loop->server->cfg.test_clock) {
        reply(call, JF_INVALID_HEADER, "X-Jifen-Now", "X-Jifen-Now is accepted only by a server started with --test-clock");
        return false;
    }
    h2o_iovec_t v = call->req->headers.entries[i].value;
    char text[64];
    int64_t ms = 0;
    if (v.len >= sizeof text) v.len = sizeof text - 1;
    memcpy(text, v.base, v.len);
    text[v.len] = '\0';
    if (!jf_parse_rfc3339(text, &ms) || ms < JF_TIME_MS_MIN || ms > JF_TIME_MS_MAX) {
        reply(call, JF_INVALID_HEADER, "X-Jifen-Now", "X-Jifen-Now must be an RFC 3339 time with an offset");
        return false;
    }
    call->now_ms = ms;
    return true;
}

/* ---- the per-thread cache of authenticated keys ---- */

typedef struct {
    char text[JF_KEY_TEXT_LEN + 1]; /* "" = empty slot */
    jf_api_key key;
    jf_tenant tenant;
    int64_t fetched_ms;
    uint64_t generation; /* read before the lookup it caches */
} auth_slot;

static _Thread_local auth_slot auth_cache[JF_AUTH_CACHE_SLOTS];
static atomic_uint_fast64_t auth_generation;

void jf_auth_cache_invalidate(void) { atomic_fetch_add_explicit(&auth_generation, 1, memory_order_release); }

static auth_slot *auth_slot_for(const char *key) {
    uint32_t h = 2166136261u; /* FNV-1a over the key text */
    for (const char *p = key; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
    return &auth_cache[h % JF_AUTH_CACHE_SLOTS];
}

/* The key and its tenant: from the cache while fresh, else from the store.
 * What the store says is cached under the generation read before the
 * turn's snapshot began (jf_loop_read), not the current one: a snapshot a
 * previous request of the turn opened may predate a revocation or a tenant
 * change that has committed (and bumped the generation) since, and what
 * it shows must not pass for current.  On a miss with such an outdated
 * snapshot, the snapshot is begun again first, so the lookup is current
 * too. */
jf_code jf_auth_lookup(jf_loop *loop, const char *key, jf_api_key *out_key, jf_tenant *out_tenant, jf_error *err) {
    uint64_t gen = atomic_load_explicit(&auth_generation, memory_order_acquire);
    int64_t now = jf_now_ms();
    auth_slot *slot = auth_slot_for(key);
    if (slot->generation == gen && now - slot->fetched_ms < JF_AUTH_CACHE_TTL_MS && strcmp(slot->text, key) == 0) {
        *out_key = slot->key;
        *out_tenant = slot->tenant;
        return JF_OK;
    }
    if (loop->reading && loop->read_generation != gen) jf_loop_read_end(loop);
    jf_code rc = jf_loop_read(loop, err);
    if (rc != JF_OK) return rc;
    jf_store *s = loop->store;
    rc = jf_key_authenticate(s, key, out_key, err);
    if (rc == JF_OK) rc = s->ops->tenant_get(s, out_key->tenant_id, out_tenant, err);
    if (rc != JF_OK) return rc;
    JF_COPY(slot->text, key);
    slot->key = *out_key;
    slot->tenant = *out_tenant;
    slot->fetched_ms = now;
    slot->generation = loop->read_generation;
    return JF_OK;
}

static bool auth_or_reply(jf_call *call) {
    ssize_t i = h2o_find_header(&call->req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i < 0) {
        reply(call, JF_UNAUTHORIZED, "", "an API key is required: Authorization: Bearer <key>");
        return false;
    }
    h2o_iovec_t v = call->req->headers.entries[i].value;
    char key[JF_KEY_TEXT_LEN + 1];
    if (v.len != 7 + JF_KEY_TEXT_LEN || strncasecmp(v.base, "Bearer ", 7) != 0) {
        reply(call, JF_UNAUTHORIZED, "", "the Authorization header must be \"Bearer <key>\" with a jifen API key");
        return false;
    }
    memcpy(key, v.base + 7, JF_KEY_TEXT_LEN);
    key[JF_KEY_TEXT_LEN] = '\0';
    jf_error err;
    jf_error_clear(&err);
    jf_code rc = jf_auth_lookup(call->loop, key, &call->key, &call->tenant, &err);
    if (rc != JF_OK) {
        if (rc == JF_NOT_FOUND) jf_fail(&err, JF_UNAUTHORIZED, "", "the API key's tenant does not exist");
        else if (rc != JF_UNAUTHORIZED) {
            jf_error cause = err;
            jf_fail(&err, JF_UNAVAILABLE, "", "the key could not be checked: %s", cause.detail);
        }
        jf_respond_error(call, &err);
        return false;
    }
    call->authenticated = true;
    JF_COPY(call->meta.tenant, call->tenant.slug);
    if ((int)call->key.role < call->route->role) {
        jf_fail(&err, JF_FORBIDDEN, "", "a %s key may not do this; it needs the %s role", jf_role_name(call->key.role),
                jf_role_name((jf_role)call->route->role));
        jf_respond_error(call, &err);
        return false;
    }
    return true;
}

jf_code jf_loop_read(jf_loop *loop, jf_error *err) {
    if (loop->reading) return JF_OK;
    /* Before the snapshot begins: every change that bumped the generation
     * this far had committed before, so the snapshot shows it. */
    loop->read_generation = atomic_load_explicit(&auth_generation, memory_order_acquire);
    jf_code rc = loop->store->ops->begin_read(loop->store, err);
    loop->reading = rc == JF_OK;
    return rc;
}

void jf_loop_read_end(jf_loop *loop) {
    if (!loop->reading) return;
    loop->store->ops->rollback(loop->store);
    loop->reading = false;
}

static void run_authenticated(jf_call *call) {
    jf_loop *loop = call->loop;
    jf_error err;
    jf_error_clear(&err);
    if (jf_loop_read(loop, &err) != JF_OK) {
        jf_error cause = err; /* not formatted from the buffer it is written to */
        jf_fail(&err, JF_UNAVAILABLE, "", "the database is not available: %s", cause.detail);
        jf_respond_error(call, &err);
        return;
    }
    jf_store *s = loop->store;
    uint64_t errors = loop->server_errors, mark = s->ops->write_mark ? s->ops->write_mark(s) : 0;
    if (auth_or_reply(call)) call->route->handler(call);
    /* A statement that failed (it moves the write mark; on PostgreSQL it
     * aborts the transaction) or a server error (a lost connection, say):
     * the next request starts over with a snapshot of its own. */
    if (loop->server_errors != errors || (s->ops->write_mark && s->ops->write_mark(s) != mark))
        jf_loop_read_end(loop);
}

static void meta_init(jf_call *call) {
    h2o_req_t *req = call->req;
    clock_gettime(CLOCK_MONOTONIC, &call->meta.started);
    call->meta.route_index = -1;
    jf_copy_bytes(call->meta.method, sizeof call->meta.method, req->method.base, req->method.len);
    size_t plen = req->query_at == SIZE_MAX ? req->path.len : req->query_at;
    jf_copy_bytes(call->meta.path, sizeof call->meta.path, req->path.base, plen);
}

int jf_dispatch(h2o_handler_t *self, h2o_req_t *req) {
    (void)self;
    jf_call *call = h2o_mem_alloc_pool(&req->pool, sizeof *call);
    memset(call, 0, sizeof *call);
    call->req = req;
    call->loop = H2O_STRUCT_FROM_MEMBER(jf_loop, ctx, req->conn->ctx);
    meta_init(call);

    if (req->path.len > JF_HTTP_URI_BYTES_MAX) {
        reply(call, JF_URI_TOO_LONG, "", "the request target is longer than 4096 bytes");
        return 0;
    }
    if (!headers_within_limits(req)) {
        reply(call, JF_HEADERS_TOO_LARGE, "", "at most 64 header fields of 16 KiB in all are accepted");
        return 0;
    }
    const char *path = req->path.base;
    size_t path_len = req->query_at == SIZE_MAX ? req->path.len : req->query_at;
    bool path_known = false;
    for (int i = 0; i < jf_routes_n && call->route == NULL; i++) {
        if (!match(jf_routes[i].pattern, path, path_len, call->params)) continue;
        path_known = true;
        if (method_is(&jf_routes[i], req->method)) {
            call->route = &jf_routes[i];
            call->meta.route_index = i;
        }
    }
    if (call->route == NULL) {
        if (path_known) reply_method_not_allowed(call, path, path_len);
        else reply(call, JF_NOT_FOUND, "", "no such endpoint; see /v1/openapi.json");
        return 0;
    }
    if (req->entity.len > JF_HTTP_BODY_BYTES_MAX) {
        reply(call, JF_PAYLOAD_TOO_LARGE, "", "request bodies are limited to 64 KiB");
        return 0;
    }
    if ((call->route->flags & JF_ROUTE_BODY) && req->entity.len > 0 && !is_json_media_type(req)) {
        reply(call, JF_UNSUPPORTED_MEDIA_TYPE, "Content-Type", "the body must be sent as Content-Type: application/json");
        return 0;
    }
    if (!clock_or_reply(call)) return 0;
    if (call->route->role == JF_AUTH_NONE)
        call->route->handler(call);
    else
        run_authenticated(call);
    return 0;
}

void jf_routes_print_json(FILE *out) {
    json_t *list = json_array();
    for (int i = 0; i < jf_routes_n; i++) {
        const jf_route *r = &jf_routes[i];
        json_array_append_new(list, json_pack("{ss ss ss ss sb}", "method", r->method, "path", r->pattern, "name",
                                              r->name, "role",
                                              r->role == JF_AUTH_NONE ? "none" : jf_role_name((jf_role)r->role),
                                              "body", (r->flags & JF_ROUTE_BODY) != 0));
    }
    char *text = json_dumps(list, JSON_INDENT(2));
    json_decref(list);
    if (text) {
        fputs(text, out);
        fputc('\n', out);
        free(text);
    }
}
