/*
 * meta.c — the endpoints about the server itself: /healthz, /metrics and
 * /v1/openapi.json.  None needs a key.  Only /healthz touches the database,
 * and at most every JF_HEALTH_PROBE_MS per loop thread (a load balancer may
 * poll it thousands of times a second): it runs a statement in the turn's
 * read snapshot (jf_loop_read), which on PostgreSQL is a round trip; a
 * failed probe ends the snapshot, so the next one reconnects a lost
 * connection.  503 with a problem body while the database
 * is unreachable, or once the committer has stopped taking writes (a sync
 * of the log failed), so a load balancer sends requests elsewhere.
 */
#include <stdlib.h>
#include <string.h>

#include "http/handlers.h"
#include "http/metrics.h"
#include "http/openapi.h"
#include "util/clock.h"

/* How stale /healthz's view of the database may be. */
#define JF_HEALTH_PROBE_MS 500

/* The last probe of this loop thread's read handle. */
static _Thread_local int64_t health_probed_ms;
static _Thread_local bool health_probed;
static _Thread_local jf_code health_code;
static _Thread_local jf_error health_err;

static const jf_error *database_unreachable(jf_loop *loop) {
    int64_t now = jf_mono_ms();
    if (!health_probed || now - health_probed_ms >= JF_HEALTH_PROBE_MS) {
        jf_error_clear(&health_err);
        health_code = jf_loop_read(loop, &health_err);
        if (health_code == JF_OK) {
            /* A statement, not just begin_read: a store may start its read
             * transaction with the first statement (PostgreSQL does). */
            size_t n = 0;
            health_code = loop->store->ops->tenant_list(loop->store, INT64_MAX, NULL, 0, &n, &health_err);
        }
        /* A failed probe leaves no snapshot: the next one starts over
         * (and a PostgreSQL handle reconnects). */
        if (health_code != JF_OK) jf_loop_read_end(loop);
        health_probed = true;
        health_probed_ms = now;
    }
    return health_code == JF_OK ? NULL : &health_err;
}

void jf_h_healthz(jf_call *call) {
    static const char ok[] = "{\"status\":\"ok\"}";
    if (jf_committer_failed(call->loop->server->committer)) {
        jf_error err;
        jf_fail(&err, JF_UNAVAILABLE, "", "a sync of the write-ahead log failed; writes are refused until a restart");
        jf_respond_error(call, &err);
        return;
    }
    const jf_error *down = database_unreachable(call->loop);
    if (down != NULL) {
        jf_error err;
        jf_fail(&err, JF_UNAVAILABLE, "", "the database is not reachable: %s", down->detail);
        jf_respond_error(call, &err);
        return;
    }
    jf_respond(call->req, call->loop, &call->meta, 200, "application/json", ok, sizeof ok - 1, NULL);
}

void jf_h_metrics(jf_call *call) {
    jf_metrics_connections(atomic_load(&call->loop->server->connections));
    size_t len = 0;
    char *text = jf_metrics_render(&len);
    jf_respond(call->req, call->loop, &call->meta, 200, "text/plain; version=0.0.4", text ? text : "", len, NULL);
    free(text);
}

void jf_h_openapi(jf_call *call) {
    size_t len = 0;
    const char *doc = jf_openapi_document(&len);
    jf_respond(call->req, call->loop, &call->meta, 200, "application/json", doc, len, NULL);
}
