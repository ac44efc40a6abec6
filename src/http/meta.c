/*
 * meta.c — the endpoints about the server itself: /healthz, /metrics and
 * /v1/openapi.json.  None needs a key; none touches the database, so a
 * health check stays cheap and answers even when the disk is slow.
 */
#include <stdlib.h>
#include <string.h>

#include "http/handlers.h"
#include "http/metrics.h"
#include "http/openapi.h"

void jf_h_healthz(jf_call *call) {
    static const char ok[] = "{\"status\":\"ok\"}";
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
