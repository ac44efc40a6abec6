/*
 * serve.h — `jifen serve`: the HTTP API server's entry point.
 *
 *   jifen serve --db PATH --listen HOST:PORT [--threads N] [--committers N]
 *               [--test-clock] [--no-access-log] [--demo] [--routes]
 *
 * Environment: JIFEN_DB, JIFEN_LISTEN, JIFEN_THREADS, JIFEN_COMMITTERS,
 * JIFEN_TEST_CLOCK=1, JIFEN_ACCESS_LOG=0 (flags win).  --committers: write
 * connections on PostgreSQL (http.h: JF_COMMITTERS_MAX; SQLite has one).  --routes prints the route table as JSON
 * and exits (the OpenAPI test compares it with the document).
 * Returns the process exit status: 0 after a graceful SIGTERM/SIGINT.
 */
#ifndef JF_HTTP_SERVE_H
#define JF_HTTP_SERVE_H

#include <stdio.h>

/* argv[0] is "serve". */
int jf_serve_main(int argc, char **argv);

/* The route table as JSON: [{"method","path","name","role","body"}, …]. */
void jf_routes_print_json(FILE *out);

#endif
