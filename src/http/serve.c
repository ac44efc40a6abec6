/*
 * serve.c — `jifen serve`: options and environment, the demo tenant, then
 * the server (server.c).
 */
#include "http/serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/events.h"
#include "engine/keys.h"
#include "engine/ledger.h"
#include "http/http.h"
#include "util/clock.h"
#include "util/tz.h"

static int usage(const char *msg, const char *arg) {
    fprintf(stderr, "jifen serve: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
    fprintf(stderr, "usage: jifen serve --db PATH --listen HOST:PORT [--threads N] [--committers N]\n"
                    "                   [--test-clock] [--no-access-log] [--sync-each-commit] [--demo] [--routes]\n"
                    "env:   JIFEN_DB, JIFEN_LISTEN, JIFEN_THREADS, JIFEN_COMMITTERS, JIFEN_TEST_CLOCK=1,\n"
                    "       JIFEN_ACCESS_LOG=0, JIFEN_SYNC_EACH_COMMIT=1\n");
    return 2;
}

/* "HOST:PORT", "[v6]:PORT" or ":PORT" (all interfaces). */
static bool parse_listen(const char *text, jf_serve_config *cfg) {
    const char *colon = strrchr(text, ':');
    if (colon == NULL) return false;
    size_t host_len = (size_t)(colon - text);
    const char *host = text;
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    if (host_len >= sizeof cfg->listen_host) return false;
    memcpy(cfg->listen_host, host, host_len);
    cfg->listen_host[host_len] = '\0';
    if (host_len == 0) snprintf(cfg->listen_host, sizeof cfg->listen_host, "0.0.0.0");
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535) return false;
    cfg->listen_port = (uint16_t)port;
    return true;
}

/* A count of 1..max. */
static bool parse_count(const char *text, int max, int *out) {
    char *end = NULL;
    long n = strtol(text, &end, 10);
    if (end == text || *end || n < 1 || n > max) return false;
    *out = (int)n;
    return true;
}

typedef struct {
    jf_tenant tenant;
    char key[JF_KEY_TEXT_LEN + 1];
    bool created;
    int64_t now_ms;
} demo_arg;

/* The seeds' example programme (seeds/000, with the member day and the
 * weekday lunch of seeds/001 and 004, so that an order meets five rules, as
 * the events benchmark asks): earning rules and tasks of the demo tenant.  Check-in keeps the default configuration (1, 2, 3, 4, 5, 6,
 * 10 and 50 for a perfect month). */
static const char *const demo_rules[] = {
    "{\"name\":\"1 point per yuan\",\"event_type\":\"order.paid\","
    "\"award\":{\"rate\":{\"points\":1,\"per_fen\":100},"
    "\"item_multipliers\":[{\"category\":\"生鲜\",\"multiplier\":2}]},"
    "\"campaigns\":[{\"name\":\"weekend\",\"multiplier\":3,\"weekdays\":[6,7]}]}",
    "{\"name\":\"first order +100\",\"event_type\":\"order.paid\",\"frequency\":\"once\",\"award\":{\"points\":100}}",
    "{\"name\":\"first order of the month +30\",\"event_type\":\"order.paid\",\"frequency\":\"month\","
    "\"award\":{\"points\":30}}",
    "{\"name\":\"member day (the 15th): +1 point per yuan\",\"event_type\":\"order.paid\","
    "\"when\":\"day() == 15\",\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}}}",
    "{\"name\":\"weekday lunch 11:00-14:00: +1 point per yuan\",\"event_type\":\"order.paid\","
    "\"when\":\"weekday() <= 5 and hour() >= 11 and hour() < 14\","
    "\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}}}",
    "{\"name\":\"birthday +50\",\"event_type\":\"profile.completed\",\"frequency\":\"once\","
    "\"when\":\"has(attributes.field) and attributes.field == \\\"birthday\\\"\",\"award\":{\"points\":50}}",
    "{\"name\":\"phone +20\",\"event_type\":\"profile.completed\",\"frequency\":\"once\","
    "\"when\":\"has(attributes.field) and attributes.field == \\\"phone\\\"\",\"award\":{\"points\":20}}",
    "{\"name\":\"avatar +10\",\"event_type\":\"profile.completed\",\"frequency\":\"once\","
    "\"when\":\"has(attributes.field) and attributes.field == \\\"avatar\\\"\",\"award\":{\"points\":10}}",
    "{\"name\":\"review with a picture +20\",\"event_type\":\"review.posted\","
    "\"when\":\"has(attributes.with_picture) and attributes.with_picture\",\"award\":{\"points\":20}}",
    "{\"name\":\"review +10\",\"event_type\":\"review.posted\","
    "\"when\":\"not has(attributes.with_picture) or not attributes.with_picture\",\"award\":{\"points\":10}}",
    "{\"name\":\"share clicked +5\",\"event_type\":\"share.clicked\",\"award\":{\"points\":5}}",
    "{\"name\":\"referred friend's first order +50\",\"event_type\":\"referral.ordered\",\"award\":{\"points\":50}}",
    "{\"name\":\"survey +15\",\"event_type\":\"survey.completed\",\"award\":{\"points\":15}}",
    "{\"name\":\"first follow +50\",\"event_type\":\"member.followed\",\"frequency\":\"once\",\"award\":{\"points\":50}}",
};
static const char *const demo_tasks[] = {
    "{\"name\":\"3 orders this week\",\"period\":\"weekly\",\"event_type\":\"order.paid\","
    "\"goal\":{\"count\":3},\"reward_points\":30}",
    "{\"name\":\"newbie: complete your profile\",\"period\":\"once\",\"event_type\":\"profile.completed\","
    "\"goal\":{\"count\":3},\"reward_points\":30}",
};

static jf_code demo_definitions(jf_store *s, const jf_tenant *t, int64_t now_ms, jf_error *err) {
    jf_ctx c = {.store = s, .tenant = t, .now_ms = now_ms};
    jf_rule_row *row = malloc(sizeof *row);
    if (row == NULL) return jf_fail(err, JF_UNAVAILABLE, "", "out of memory");
    jf_code rc = JF_OK;
    size_t nr = sizeof demo_rules / sizeof demo_rules[0], nt = sizeof demo_tasks / sizeof demo_tasks[0];
    for (size_t i = 0; i < nr + nt && rc == JF_OK; i++) {
        json_error_t jerr;
        json_t *def = json_loads(i < nr ? demo_rules[i] : demo_tasks[i - nr], 0, &jerr);
        rc = def ? jf_definition_save(&c, i < nr ? JF_DEF_RULE : JF_DEF_TASK, 0, def, row, err)
                 : jf_fail(err, JF_INTERNAL, "", "demo definition %zu: %s", i, jerr.text);
        json_decref(def);
    }
    free(row);
    return rc;
}

static jf_code demo_tx(jf_store *s, void *arg, jf_error *err) {
    demo_arg *a = arg;
    jf_tenant first;
    size_t n = 0;
    jf_code rc = s->ops->tenant_list(s, 0, &first, 1, &n, err);
    if (rc != JF_OK) return rc;
    if (n > 0) {
        a->tenant = first;
        return JF_OK;
    }
    jf_tenant_defaults(&a->tenant);
    snprintf(a->tenant.slug, sizeof a->tenant.slug, "demo");
    snprintf(a->tenant.name, sizeof a->tenant.name, "Demo shop");
    rc = jf_tenant_create(s, &a->tenant, a->now_ms, err);
    if (rc != JF_OK) return rc;
    a->created = true;
    rc = demo_definitions(s, &a->tenant, a->now_ms, err);
    if (rc != JF_OK) return rc;
    return jf_key_create(s, a->tenant.id, JF_ROLE_ADMIN, "demo-admin", a->now_ms, a->key, sizeof a->key, NULL, err);
}

/* --demo: make sure there is a tenant to play with, and say how. */
static int demo(const jf_serve_config *cfg) {
    jf_store *s = NULL;
    jf_error err;
    jf_error_clear(&err);
    if (jf_store_open(cfg->db_path, &s, &err) != JF_OK) {
        fprintf(stderr, "jifen serve: cannot open %s: %s\n", cfg->db_path, err.detail);
        return 1;
    }
    demo_arg a;
    memset(&a, 0, sizeof a);
    a.now_ms = jf_now_ms();
    jf_code rc = jf_tx_run(s, demo_tx, &a, &err);
    jf_store_close(s);
    if (rc != JF_OK) {
        fprintf(stderr, "jifen serve: cannot create the demo tenant: %s\n", err.detail);
        return 1;
    }
    const char *host = strcmp(cfg->listen_host, "0.0.0.0") == 0 ? "127.0.0.1" : cfg->listen_host;
    if (a.created) {
        printf("\n  Demo tenant \"demo\" created.  Its admin key (shown once, only its hash is stored):\n\n"
               "    export JIFEN_KEY=%s\n\n"
               "  Try:\n\n"
               "    curl -s -X POST http://%s:%u/v1/members/alice/earn \\\n"
               "      -H \"Authorization: Bearer $JIFEN_KEY\" -H 'Content-Type: application/json' \\\n"
               "      -d '{\"points\": 100, \"biz_no\": \"order-1001\"}'\n"
               "    curl -s http://%s:%u/v1/members/alice -H \"Authorization: Bearer $JIFEN_KEY\"\n\n"
               "  It has the seeds' earning programme (GET /v1/rules, /v1/tasks).  An order:\n\n"
               "    curl -s -X POST http://%s:%u/v1/events \\\n"
               "      -H \"Authorization: Bearer $JIFEN_KEY\" -H 'Content-Type: application/json' \\\n"
               "      -d '{\"type\": \"order.paid\", \"member_id\": \"alice\", \"event_id\": \"order-1002\", "
               "\"amount_fen\": 12800}'\n\n",
               a.key, host, (unsigned)cfg->listen_port, host, (unsigned)cfg->listen_port, host,
               (unsigned)cfg->listen_port);
        memset(a.key, 0, sizeof a.key);
    } else {
        printf("\n  This database already has tenant \"%s\"; its key was printed when it was created.\n"
               "  A new one:  jifen key create --db %s --tenant %s --role admin --name me\n\n",
               a.tenant.slug, cfg->db_path, a.tenant.slug);
    }
    fflush(stdout);
    return 0;
}

/* Backoff while waiting for the database at start: from the first to the
 * last pause, doubling; and how often the wait is logged. */
#define JF_DB_WAIT_PAUSE_MS_MIN 200
#define JF_DB_WAIT_PAUSE_MS_MAX 5000
#define JF_DB_WAIT_LOG_MS 30000

static bool is_postgres_url(const char *location) {
    return strncmp(location, "postgres://", strlen("postgres://")) == 0 ||
           strncmp(location, "postgresql://", strlen("postgresql://")) == 0;
}

/* A server started while PostgreSQL is down (or restarting, or not yet up
 * after a machine boot) waits for it instead of exiting, so that a fleet
 * started in any order comes up by itself.  Only a failure to connect is
 * waited out (pg.c marks it with the field "db"); anything else, a schema
 * newer than this binary for one, fails the start at once.  SQLite files
 * are never waited for. */
static int wait_for_database(const char *location) {
    if (!is_postgres_url(location)) return 0;
    int64_t pause_ms = JF_DB_WAIT_PAUSE_MS_MIN, logged_ms = 0, started_ms = jf_mono_ms();
    for (;;) {
        jf_store *s = NULL;
        jf_error err;
        jf_error_clear(&err);
        jf_code rc = jf_store_open(location, &s, &err);
        if (rc == JF_OK) {
            jf_store_close(s);
            if (logged_ms != 0) fprintf(stderr, "jifen serve: the database is reachable\n");
            return 0;
        }
        if (rc != JF_UNAVAILABLE || strcmp(err.field, "db") != 0) {
            fprintf(stderr, "jifen serve: cannot open the database: %s\n", err.detail);
            return -1;
        }
        int64_t now = jf_mono_ms();
        if (logged_ms == 0 || now - logged_ms >= JF_DB_WAIT_LOG_MS) {
            fprintf(stderr, "jifen serve: waiting for the database (%lld s so far): %s\n",
                    (long long)((now - started_ms) / 1000), err.detail);
            logged_ms = now;
        }
        struct timespec ts = {pause_ms / 1000, (long)(pause_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        pause_ms = pause_ms * 2 > JF_DB_WAIT_PAUSE_MS_MAX ? JF_DB_WAIT_PAUSE_MS_MAX : pause_ms * 2;
    }
}

static void config_from_env(jf_serve_config *cfg, const char **listen, const char **threads,
                            const char **committers) {
    const char *v;
    if ((v = getenv("JIFEN_DB")) && *v) cfg->db_path = v;
    if ((v = getenv("JIFEN_LISTEN")) && *v) *listen = v;
    if ((v = getenv("JIFEN_THREADS")) && *v) *threads = v;
    if ((v = getenv("JIFEN_COMMITTERS")) && *v) *committers = v;
    if ((v = getenv("JIFEN_TEST_CLOCK")) && strcmp(v, "1") == 0) cfg->test_clock = true;
    if ((v = getenv("JIFEN_ACCESS_LOG")) && strcmp(v, "0") == 0) cfg->access_log = false;
    if ((v = getenv("JIFEN_SYNC_EACH_COMMIT")) && strcmp(v, "1") == 0) cfg->sync_each_commit = true;
}

int jf_serve_main(int argc, char **argv) {
    jf_serve_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.access_log = true;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.threads = cores < 1 ? 1 : cores > JF_HTTP_THREADS_MAX ? JF_HTTP_THREADS_MAX : (int)cores;
    const char *listen = "127.0.0.1:8080", *threads = NULL, *committers = NULL;
    config_from_env(&cfg, &listen, &threads, &committers);
    bool routes = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--db") == 0 && has_value) cfg.db_path = argv[++i];
        else if (strcmp(a, "--listen") == 0 && has_value) listen = argv[++i];
        else if (strcmp(a, "--threads") == 0 && has_value) threads = argv[++i];
        else if (strcmp(a, "--committers") == 0 && has_value) committers = argv[++i];
        else if (strcmp(a, "--test-clock") == 0) cfg.test_clock = true;
        else if (strcmp(a, "--no-access-log") == 0) cfg.access_log = false;
        else if (strcmp(a, "--sync-each-commit") == 0) cfg.sync_each_commit = true;
        else if (strcmp(a, "--demo") == 0) cfg.demo = true;
        else if (strcmp(a, "--routes") == 0) routes = true;
        else return usage("unknown or incomplete option", a);
    }
    if (routes) {
        jf_routes_print_json(stdout);
        return 0;
    }
    if (cfg.db_path == NULL) return usage("--db PATH (or JIFEN_DB) is required", NULL);
    if (!parse_listen(listen, &cfg)) return usage("--listen must be HOST:PORT, not", listen);
    if (threads && !parse_count(threads, JF_HTTP_THREADS_MAX, &cfg.threads))
        return usage("--threads must be 1..64, not", threads);
    if (committers && !parse_count(committers, JF_COMMITTERS_MAX, &cfg.committers))
        return usage("--committers must be 1..16, not", committers);
    if (wait_for_database(cfg.db_path) != 0) return 1;
    if (cfg.demo && demo(&cfg) != 0) return 1;
    return jf_server_run(&cfg);
}
