/*
 * main.c — the `jifen` command: one table of subcommands, each a function
 * with the same signature.  Options are `--name value` pairs checked against
 * the subcommand's list, so a typo is an error, not a silently ignored flag.
 * Results are printed as JSON (one object per line) so they can be piped into
 * jq or read by scripts; errors go to stderr with the same code the HTTP API
 * uses, and the exit status is non-zero.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/expiry.h"
#include "engine/keys.h"
#include "engine/ledger.h"
#include "http/serve.h"
#include "util/tz.h"

#define JIFEN_VERSION "0.1.0"

/* Return a non-OK engine code from a CLI helper. */
#define TRY_CLI(expr)                          \
    do {                                       \
        jf_code try_code_ = (expr);            \
        if (try_code_ != JF_OK) return try_code_; \
    } while (0)
#define OPTS_MAX 16

typedef struct {
    const char *name;
    const char *value;
} opt;

typedef struct {
    opt v[OPTS_MAX];
    int n;
} opts;

static const char *get(const opts *o, const char *name) {
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->v[i].name, name) == 0) return o->v[i].value;
    return NULL;
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "jifen: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see 'jifen help')\n");
    return 2;
}

/* Parse argv (after the subcommand) against a space-separated list of the
 * allowed option names. */
static int parse_opts(int argc, char **argv, const char *allowed, opts *o) {
    o->n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) return usage_error("unexpected argument '%s'", a);
        const char *name = a + 2;
        size_t len = strlen(name);
        const char *p = allowed;
        bool ok = false;
        while ((p = strstr(p, name)) != NULL) {
            if ((p == allowed || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0')) {
                ok = true;
                break;
            }
            p += len;
        }
        if (!ok || len == 0) return usage_error("unknown option '%s'", a);
        if (i + 1 >= argc) return usage_error("option '%s' needs a value", a);
        if (get(o, name)) return usage_error("option '%s' given twice", a);
        if (o->n == OPTS_MAX) return usage_error("too many options at '%s'", a);
        o->v[o->n++] = (opt){name, argv[++i]};
    }
    return 0;
}

static int need(const opts *o, const char *names) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", names);
    for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
        if (!get(o, t)) {
            fprintf(stderr, "jifen: --%s is required\n", t);
            return 2;
        }
    return 0;
}

static int fail(const jf_error *err) {
    fprintf(stderr, "jifen: %s%s%s%s: %s\n", jf_code_name(err->code), err->field[0] ? " (" : "", err->field,
            err->field[0] ? ")" : "", err->detail[0] ? err->detail : jf_code_title(err->code));
    return 1;
}

static bool parse_int(const char *s, int64_t *out) {
    if (s == NULL || *s == '\0') return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

/* --now (RFC 3339) for by-hand time travel, else the wall clock. */
static int now_from(const opts *o, int64_t *now) {
    const char *s = get(o, "now");
    if (s == NULL) {
        *now = jf_now_ms();
        return 0;
    }
    if (!jf_parse_rfc3339(s, now)) return usage_error("--now '%s' is not an RFC 3339 time", s);
    return 0;
}

static void print_json(json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT);
    if (s) puts(s);
    free(s);
    json_decref(j);
}

static json_t *time_json(const char *tz, int64_t ms) {
    char buf[64];
    if (ms == JF_NEVER || ms == 0 || !jf_tz_format_rfc3339(tz, ms, buf, sizeof buf)) return json_null();
    return json_string(buf);
}

static json_t *account_json(const jf_account *a) {
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "available", (json_int_t)a->available, "frozen",
                     (json_int_t)a->frozen, "pending", (json_int_t)a->pending, "debt", (json_int_t)a->debt,
                     "earned", (json_int_t)a->earned, "spent", (json_int_t)a->spent, "expired",
                     (json_int_t)a->expired);
}

static json_t *entry_json(const jf_tenant *t, const jf_entry *e) {
    return json_pack("{s:I,s:s,s:I,s:I,s:s,s:s,s:s,s:o}", "id", (json_int_t)e->id, "kind",
                     jf_entry_kind_name(e->kind), "points", (json_int_t)e->points, "available_after",
                     (json_int_t)e->available_after, "scene", e->scene, "biz_no", e->biz_no, "reason", e->reason,
                     "created_at", time_json(t->timezone, e->created_at_ms));
}

static json_t *lot_json(const jf_tenant *t, const jf_lot *l) {
    return json_pack("{s:I,s:I,s:I,s:s,s:o,s:o}", "id", (json_int_t)l->id, "amount", (json_int_t)l->amount,
                     "remaining", (json_int_t)l->remaining, "state", jf_lot_state_name(l->state), "available_at",
                     time_json(t->timezone, l->available_at_ms), "expires_at",
                     time_json(t->timezone, l->expires_at_ms));
}

static void print_result(const jf_tenant *t, const jf_result *r) {
    json_t *j = json_pack("{s:s,s:o,s:o,s:b}", "member_id", r->member.ext_id, "points",
                          account_json(&r->member.acct), "entry", entry_json(t, &r->entry), "replayed",
                          r->replayed);
    if (r->has_extra) json_object_set_new(j, "release", entry_json(t, &r->extra));
    if (r->has_hold)
        json_object_set_new(j, "hold",
                            json_pack("{s:I,s:I,s:I,s:s,s:o}", "id", (json_int_t)r->hold.id, "points",
                                      (json_int_t)r->hold.points, "captured", (json_int_t)r->hold.captured,
                                      "state", jf_hold_state_name(r->hold.state), "expires_at",
                                      time_json(t->timezone, r->hold.expires_at_ms)));
    if (r->op == JF_OP_REVERSE)
        json_object_set_new(j, "reversal",
                            json_pack("{s:I,s:I,s:I}", "reversed", (json_int_t)r->reversed_points, "debt",
                                      (json_int_t)r->debt_points, "clamped", (json_int_t)r->clamped_points));
    print_json(j);
}

/* ---- opening the database and the tenant ---- */

typedef struct {
    jf_store *store;
    jf_tenant tenant;
    int64_t now;
} session;

static int open_session(const opts *o, session *s, bool with_tenant) {
    jf_error err = {0};
    memset(s, 0, sizeof *s);
    if (now_from(o, &s->now)) return 2;
    if (jf_store_open(get(o, "db"), &s->store, &err) != JF_OK) return fail(&err);
    if (!with_tenant) return 0;
    jf_code rc = s->store->ops->begin_read(s->store, &err);
    if (rc == JF_OK) rc = s->store->ops->tenant_get_by_slug(s->store, get(o, "tenant"), &s->tenant, &err);
    s->store->ops->rollback(s->store);
    if (rc == JF_NOT_FOUND) jf_fail(&err, JF_NOT_FOUND, "tenant", "no tenant %s in this database", get(o, "tenant"));
    if (rc != JF_OK) {
        jf_store_close(s->store);
        return fail(&err);
    }
    return 0;
}

/* ---- write commands: one engine call inside the transaction runner ---- */

typedef struct {
    session *s;
    const opts *o;
    jf_result result;
    int (*call)(void *self, const jf_ctx *c, jf_result *r, jf_error *err);
} write_cmd;

static jf_code run_write(jf_store *st, void *arg, jf_error *err) {
    write_cmd *w = arg;
    jf_ctx c = {.store = st, .tenant = &w->s->tenant, .now_ms = w->s->now};
    return (jf_code)w->call(w, &c, &w->result, err);
}

static int points_opt(const opts *o, const char *name, int64_t *out) {
    const char *v = get(o, name);
    if (v && !parse_int(v, out)) return usage_error("--points '%s' is not a whole number", v);
    return 0;
}

static int time_opt(const opts *o, const char *name, int64_t *out) {
    const char *v = get(o, name);
    *out = 0;
    if (v == NULL) return 0;
    if (strcmp(v, "never") == 0) {
        *out = JF_NEVER;
        return 0;
    }
    if (!jf_parse_rfc3339(v, out)) return usage_error("'%s' is not an RFC 3339 time (or 'never')", v);
    return 0;
}

static int op_earn(void *self, const jf_ctx *c, jf_result *r, jf_error *err) {
    const opts *o = ((write_cmd *)self)->o;
    jf_earn_req q = {.member_id = get(o, "member"), .biz_no = get(o, "biz-no"), .scene = get(o, "scene"),
                     .reason = get(o, "reason")};
    parse_int(get(o, "points"), &q.points);
    time_opt(o, "expires-at", &q.expires_at_ms);
    time_opt(o, "available-at", &q.available_at_ms);
    return jf_earn(c, &q, r, err);
}
static int op_spend(void *self, const jf_ctx *c, jf_result *r, jf_error *err) {
    const opts *o = ((write_cmd *)self)->o;
    jf_spend_req q = {.member_id = get(o, "member"), .biz_no = get(o, "biz-no"), .scene = get(o, "scene"),
                      .reason = get(o, "reason")};
    parse_int(get(o, "points"), &q.points);
    return jf_spend(c, &q, r, err);
}
static int op_hold(void *self, const jf_ctx *c, jf_result *r, jf_error *err) {
    const opts *o = ((write_cmd *)self)->o;
    jf_hold_req q = {.member_id = get(o, "member"), .biz_no = get(o, "biz-no"), .scene = get(o, "scene"),
                     .reason = get(o, "reason"), .ttl_s = 900};
    parse_int(get(o, "points"), &q.points);
    if (get(o, "ttl")) parse_int(get(o, "ttl"), &q.ttl_s);
    return jf_hold_create(c, &q, r, err);
}
static int op_capture(void *self, const jf_ctx *c, jf_result *r, jf_error *err) {
    const opts *o = ((write_cmd *)self)->o;
    jf_capture_req q = {.biz_no = get(o, "biz-no")};
    parse_int(get(o, "hold"), &q.hold_id);
    if (get(o, "points")) parse_int(get(o, "points"), &q.points);
    return jf_capture(c, &q, r, err);
}
static int op_release(void *self, const jf_ctx *c, jf_result *r, jf_error *err) {
    const opts *o = ((write_cmd *)self)->o;
    jf_release_req q = {.biz_no = get(o, "biz-no")};
    parse_int(get(o, "hold"), &q.hold_id);
    return jf_release(c, &q, r, err);
}
static int op_reverse(void *self, const jf_ctx *c, jf_result *r, jf_error *err) {
    const opts *o = ((write_cmd *)self)->o;
    jf_reverse_req q = {.member_id = get(o, "member"), .target_biz_no = get(o, "target"), .biz_no = get(o, "biz-no"),
                        .reason = get(o, "reason")};
    if (get(o, "points")) parse_int(get(o, "points"), &q.points);
    return jf_reverse(c, &q, r, err);
}
static int op_adjust(void *self, const jf_ctx *c, jf_result *r, jf_error *err) {
    const opts *o = ((write_cmd *)self)->o;
    jf_adjust_req q = {.member_id = get(o, "member"), .biz_no = get(o, "biz-no"), .reason = get(o, "reason"),
                       .operator_id = get(o, "operator")};
    parse_int(get(o, "points"), &q.points);
    return jf_adjust(c, &q, r, err);
}

static const struct {
    const char *name;
    const char *allowed;
    const char *required;
    int (*call)(void *self, const jf_ctx *c, jf_result *r, jf_error *err);
} write_cmds[] = {
    {"earn", "db tenant now member points biz-no scene reason expires-at available-at", "db tenant member points biz-no",
     op_earn},
    {"spend", "db tenant now member points biz-no scene reason", "db tenant member points biz-no", op_spend},
    {"hold", "db tenant now member points biz-no scene reason ttl", "db tenant member points biz-no", op_hold},
    {"capture", "db tenant now hold points biz-no", "db tenant hold biz-no", op_capture},
    {"release", "db tenant now hold biz-no", "db tenant hold biz-no", op_release},
    {"reverse", "db tenant now member target points biz-no reason", "db tenant member target biz-no", op_reverse},
    {"adjust", "db tenant now member points biz-no reason operator", "db tenant member points biz-no reason operator",
     op_adjust},
};

static int cmd_write(int idx, int argc, char **argv) {
    opts o;
    if (parse_opts(argc, argv, write_cmds[idx].allowed, &o) || need(&o, write_cmds[idx].required)) return 2;
    int rc = points_opt(&o, "points", &(int64_t){0});
    if (rc) return rc;
    int64_t dummy;
    if (time_opt(&o, "expires-at", &dummy) || time_opt(&o, "available-at", &dummy)) return 2;
    const char *ints[] = {"hold", "ttl"};
    for (size_t i = 0; i < 2; i++)
        if (get(&o, ints[i]) && !parse_int(get(&o, ints[i]), &dummy))
            return usage_error("'%s' is not a whole number", get(&o, ints[i]));
    session s;
    if ((rc = open_session(&o, &s, true))) return rc;
    write_cmd w = {.s = &s, .o = &o, .call = write_cmds[idx].call};
    jf_error err = {0};
    jf_code code = jf_tx_run(s.store, run_write, &w, &err);
    if (code == JF_OK) print_result(&s.tenant, &w.result);
    else rc = fail(&err);
    jf_store_close(s.store);
    return rc;
}

/* ---- read commands: parse, open, one read transaction, print ---- */

typedef jf_code (*read_fn)(const opts *o, const jf_ctx *c, jf_error *err);

static int cmd_read(int argc, char **argv, const char *allowed, const char *required, read_fn fn) {
    opts o;
    if (parse_opts(argc, argv, allowed, &o) || need(&o, required)) return 2;
    session s;
    int rc = open_session(&o, &s, true);
    if (rc) return rc;
    jf_ctx c = {.store = s.store, .tenant = &s.tenant, .now_ms = s.now};
    jf_error err = {0};
    jf_code code = s.store->ops->begin_read(s.store, &err);
    if (code == JF_OK) code = fn(&o, &c, &err);
    s.store->ops->rollback(s.store);
    if (code != JF_OK) rc = fail(&err);
    jf_store_close(s.store);
    return rc;
}

static jf_code read_balance(const opts *o, const jf_ctx *c, jf_error *err) {
    jf_member m;
    TRY_CLI(jf_member_get(c, get(o, "member"), &m, err));
    print_json(json_pack("{s:s,s:s,s:o}", "member_id", m.ext_id, "status", jf_member_status_name(m.status), "points",
                         account_json(&m.acct)));
    return JF_OK;
}

static jf_code read_history(const opts *o, const jf_ctx *c, jf_error *err) {
    int64_t limit = JF_PAGE_LIMIT_DEFAULT;
    if (get(o, "limit") && !parse_int(get(o, "limit"), &limit))
        return jf_fail(err, JF_INVALID_FIELD, "limit", "'%s' is not a whole number", get(o, "limit"));
    jf_entry page[JF_PAGE_LIMIT_MAX];
    jf_entry_filter f = {0};
    size_t n = 0;
    TRY_CLI(jf_entries_list(c, get(o, "member"), &f, page, (size_t)(limit < 0 ? 0 : limit), &n, err));
    for (size_t i = 0; i < n; i++) print_json(entry_json(c->tenant, &page[i]));
    return JF_OK;
}

static jf_code read_lots(const opts *o, const jf_ctx *c, jf_error *err) {
    jf_lot page[JF_PAGE_LIMIT_MAX];
    jf_lot_filter f = {.state = -1, .after_expires_at_ms = INT64_MIN};
    size_t n = 0;
    TRY_CLI(jf_lots_list(c, get(o, "member"), &f, page, JF_PAGE_LIMIT_MAX, &n, err));
    for (size_t i = 0; i < n; i++) print_json(lot_json(c->tenant, &page[i]));
    return JF_OK;
}

/* ---- administration ---- */

typedef struct {
    jf_tenant *tenant;
    int64_t now;
    char key[JF_KEY_TEXT_LEN + 8];
} init_arg;

static jf_code run_init(jf_store *st, void *arg, jf_error *err) {
    init_arg *a = arg;
    if (jf_tenant_create(st, a->tenant, a->now, err) != JF_OK) return err->code;
    return jf_key_create(st, a->tenant->id, JF_ROLE_ADMIN, "admin", a->now, a->key, sizeof a->key, NULL, err);
}

static int cmd_init(int argc, char **argv) {
    opts o;
    if (parse_opts(argc, argv, "db tenant timezone name", &o) || need(&o, "db tenant")) return 2;
    jf_tenant t;
    jf_tenant_defaults(&t);
    snprintf(t.slug, sizeof t.slug, "%s", get(&o, "tenant"));
    if (strlen(get(&o, "tenant")) >= sizeof t.slug) return usage_error("--tenant '%s' is too long", get(&o, "tenant"));
    if (get(&o, "timezone")) snprintf(t.timezone, sizeof t.timezone, "%s", get(&o, "timezone"));
    if (get(&o, "name")) snprintf(t.name, sizeof t.name, "%s", get(&o, "name"));
    jf_store *st;
    jf_error err = {0};
    if (jf_store_open(get(&o, "db"), &st, &err) != JF_OK) return fail(&err);
    init_arg a = {.tenant = &t, .now = jf_now_ms()};
    jf_code code = jf_tx_run(st, run_init, &a, &err);
    jf_store_close(st);
    if (code != JF_OK) return fail(&err);
    print_json(json_pack("{s:s,s:s}", "tenant", t.slug, "admin_key", a.key));
    return 0;
}

typedef struct {
    int64_t tenant_id;
    jf_role role;
    const char *name;
    int64_t now;
    char key[JF_KEY_TEXT_LEN + 8];
    jf_api_key rec;
} key_arg;

static jf_code run_key(jf_store *st, void *arg, jf_error *err) {
    key_arg *a = arg;
    return jf_key_create(st, a->tenant_id, a->role, a->name, a->now, a->key, sizeof a->key, &a->rec, err);
}

static int cmd_key(int argc, char **argv) {
    if (argc < 1 || strcmp(argv[0], "create") != 0) return usage_error("usage: jifen key create --db PATH --tenant SLUG [--role admin|app|read] [--name NAME]%s", "");
    opts o;
    if (parse_opts(argc - 1, argv + 1, "db tenant role name", &o) || need(&o, "db tenant")) return 2;
    int role = get(&o, "role") ? jf_role_parse(get(&o, "role")) : JF_ROLE_ADMIN;
    if (role < 0) return usage_error("--role must be admin, app or read, not '%s'", get(&o, "role"));
    session s;
    int rc = open_session(&o, &s, true);
    if (rc) return rc;
    key_arg a = {.tenant_id = s.tenant.id, .role = (jf_role)role, .name = get(&o, "name") ? get(&o, "name") : "cli",
                 .now = s.now};
    jf_error err = {0};
    jf_code code = jf_tx_run(s.store, run_key, &a, &err);
    jf_store_close(s.store);
    if (code != JF_OK) return fail(&err);
    print_json(json_pack("{s:s,s:I,s:s,s:s}", "tenant", s.tenant.slug, "key_id", (json_int_t)a.rec.id, "role",
                         jf_role_name(a.role), "key", a.key));
    return 0;
}

/* --expiry never | rolling:N:days|months[:day|month|quarter|year] | annual:MM-DD[:K] */
static int parse_expiry(const char *s, jf_expiry_policy *p) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    char *parts[4] = {0};
    int n = 0;
    for (char *t = strtok(buf, ":"); t && n < 4; t = strtok(NULL, ":")) parts[n++] = t;
    int64_t v;
    if (n == 1 && strcmp(parts[0], "never") == 0) {
        p->kind = JF_EXPIRY_NEVER;
        return 0;
    }
    if (n >= 3 && strcmp(parts[0], "rolling") == 0 && parse_int(parts[1], &v) && v > 0 && v < 100000 &&
        jf_expiry_unit_parse(parts[2]) >= 0) {
        p->kind = JF_EXPIRY_ROLLING;
        p->n = (int32_t)v;
        p->unit = (jf_expiry_unit)jf_expiry_unit_parse(parts[2]);
        p->round = JF_ROUND_NONE;
        if (n == 4) {
            int r = jf_expiry_round_parse(parts[3]);
            if (r < 0) return usage_error("unknown rounding '%s'", parts[3]);
            p->round = (jf_expiry_round)r;
        }
        return 0;
    }
    int mm, dd;
    if (n >= 2 && strcmp(parts[0], "annual") == 0 && sscanf(parts[1], "%2d-%2d", &mm, &dd) == 2) {
        p->kind = JF_EXPIRY_ANNUAL;
        p->clear_month = mm;
        p->clear_day = dd;
        p->years = 1;
        if (n == 3) {
            if (!parse_int(parts[2], &v) || v < 0 || v > 1000) return usage_error("bad years '%s'", parts[2]);
            p->years = (int32_t)v;
        }
        return 0;
    }
    return usage_error("--expiry '%s': use never, rolling:N:days|months[:day|month|quarter|year] or annual:MM-DD[:K]", s);
}

typedef struct {
    jf_tenant *t;
    int64_t now;
} tenant_arg;

static jf_code run_tenant_update(jf_store *st, void *arg, jf_error *err) {
    tenant_arg *a = arg;
    return jf_tenant_update(st, a->t, a->now, err);
}

static int cmd_tenant(int argc, char **argv) {
    opts o;
    if (parse_opts(argc, argv, "db tenant timezone expiry refund name", &o) || need(&o, "db tenant")) return 2;
    session s;
    int rc = open_session(&o, &s, true);
    if (rc) return rc;
    jf_tenant *t = &s.tenant;
    bool change = false;
    if (get(&o, "timezone")) change = true, snprintf(t->timezone, sizeof t->timezone, "%s", get(&o, "timezone"));
    if (get(&o, "name")) change = true, snprintf(t->name, sizeof t->name, "%s", get(&o, "name"));
    if (get(&o, "expiry") && (change = true, parse_expiry(get(&o, "expiry"), &t->expiry))) rc = 2;
    if (get(&o, "refund")) {
        int p = jf_refund_policy_parse(get(&o, "refund"));
        if (p < 0) rc = usage_error("--refund must be debt or clamp, not '%s'", get(&o, "refund"));
        t->refund = (jf_refund_policy)p;
        change = true;
    }
    jf_error err = {0};
    if (rc == 0 && change) {
        tenant_arg a = {t, s.now};
        if (jf_tx_run(s.store, run_tenant_update, &a, &err) != JF_OK) rc = fail(&err);
    }
    if (rc == 0) {
        const jf_expiry_policy *p = &t->expiry;
        print_json(json_pack("{s:s,s:s,s:s,s:{s:s,s:i,s:s,s:s,s:i,s:i,s:i},s:s}", "tenant", t->slug, "name", t->name,
                             "timezone", t->timezone, "expiry", "kind", jf_expiry_kind_name(p->kind), "n", p->n,
                             "unit", jf_expiry_unit_name(p->unit), "round", jf_expiry_round_name(p->round),
                             "clear_month", p->clear_month, "clear_day", p->clear_day, "years", p->years,
                             "refund_policy", jf_refund_policy_name(t->refund)));
    }
    jf_store_close(s.store);
    return rc;
}

static void report_finding(void *arg, int64_t tenant_id, const char *member_id, const char *finding) {
    (void)arg;
    printf("FINDING tenant=%lld member=%s: %s\n", (long long)tenant_id, member_id, finding);
}

static int cmd_verify(int argc, char **argv) {
    opts o;
    if (parse_opts(argc, argv, "db", &o) || need(&o, "db")) return 2;
    jf_store *st;
    jf_error err = {0};
    if (jf_store_open(get(&o, "db"), &st, &err) != JF_OK) return fail(&err);
    int64_t findings = 0;
    jf_code code = jf_verify(st, report_finding, NULL, &findings, &err);
    jf_store_close(st);
    if (code != JF_OK) return fail(&err);
    if (findings) {
        printf("verify: %lld finding(s)\n", (long long)findings);
        return 1;
    }
    printf("verify: ok\n");
    return 0;
}

static int cmd_backup(int argc, char **argv) {
    opts o;
    if (parse_opts(argc, argv, "db to", &o) || need(&o, "db to")) return 2;
    jf_error err = {0};
    if (jf_sqlite_backup(get(&o, "db"), get(&o, "to"), &err) != JF_OK) return fail(&err);
    printf("backup: %s -> %s\n", get(&o, "db"), get(&o, "to"));
    return 0;
}

static int cmd_jobs(int argc, char **argv) {
    opts o;
    if (parse_opts(argc, argv, "db now", &o) || need(&o, "db")) return 2;
    session s;
    int rc = open_session(&o, &s, false);
    if (rc) return rc;
    jf_job_stats st = {0};
    jf_error err = {0};
    jf_code code = jf_jobs_run(s.store, s.now, &st, &err);
    jf_store_close(s.store);
    if (code != JF_OK) return fail(&err);
    print_json(json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "members_settled", (json_int_t)st.members_settled,
                         "lots_activated", (json_int_t)st.lots_activated, "points_activated",
                         (json_int_t)st.points_activated, "lots_expired", (json_int_t)st.lots_expired,
                         "points_expired", (json_int_t)st.points_expired, "holds_released",
                         (json_int_t)st.holds_released, "points_released", (json_int_t)st.points_released));
    return 0;
}

static int cmd_help(void) {
    puts("jifen " JIFEN_VERSION " — membership points engine\n"
         "\n"
         "  jifen init    --db PATH --tenant SLUG [--timezone TZ] [--name NAME]\n"
         "                create the database (if new) and a tenant; prints its first admin key once\n"
         "  jifen serve   --db PATH --listen HOST:PORT [--threads N] [--committers N] [--test-clock] [--demo]\n"
         "                [--no-access-log] [--sync-each-commit] [--routes]   (see README: configuration)\n"
         "  jifen verify  --db PATH          check every member's books; exit 1 on any finding\n"
         "  jifen backup  --db PATH --to FILE  consistent online copy while writes go on\n"
         "  jifen tenant  --db PATH --tenant SLUG [--timezone TZ] [--name N]\n"
         "                [--expiry never|rolling:N:days|months[:day|month|quarter|year]|annual:MM-DD[:K]]\n"
         "                [--refund debt|clamp]\n"
         "  jifen key create --db PATH --tenant SLUG [--role admin|app|read] [--name NAME]\n"
         "  jifen jobs    --db PATH [--now RFC3339]   activate, expire, release timed-out holds\n"
         "\n"
         "  Using the ledger by hand (all take --db PATH --tenant SLUG [--now RFC3339]):\n"
         "  jifen earn    --member ID --points N --biz-no KEY [--scene S] [--reason R]\n"
         "                [--expires-at RFC3339|never] [--available-at RFC3339]\n"
         "  jifen spend   --member ID --points N --biz-no KEY [--scene S] [--reason R]\n"
         "  jifen hold    --member ID --points N --biz-no KEY [--ttl SECONDS]\n"
         "  jifen capture --hold ID [--points N] --biz-no KEY\n"
         "  jifen release --hold ID --biz-no KEY\n"
         "  jifen reverse --member ID --target BIZ_NO [--points N] --biz-no KEY [--reason R]\n"
         "  jifen adjust  --member ID --points ±N --biz-no KEY --reason R --operator WHO\n"
         "  jifen balance --member ID\n"
         "  jifen history --member ID [--limit N]\n"
         "  jifen lots    --member ID\n"
         "\n"
         "  jifen version | jifen help");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return cmd_help() + 2;
    const char *cmd = argv[1];
    int n = argc - 2;
    char **rest = argv + 2;
    for (size_t i = 0; i < sizeof write_cmds / sizeof write_cmds[0]; i++)
        if (strcmp(cmd, write_cmds[i].name) == 0) return cmd_write((int)i, n, rest);
    if (strcmp(cmd, "init") == 0) return cmd_init(n, rest);
    if (strcmp(cmd, "serve") == 0) return jf_serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "verify") == 0) return cmd_verify(n, rest);
    if (strcmp(cmd, "backup") == 0) return cmd_backup(n, rest);
    if (strcmp(cmd, "tenant") == 0) return cmd_tenant(n, rest);
    if (strcmp(cmd, "key") == 0) return cmd_key(n, rest);
    if (strcmp(cmd, "jobs") == 0) return cmd_jobs(n, rest);
    if (strcmp(cmd, "balance") == 0) return cmd_read(n, rest, "db tenant now member", "db tenant member", read_balance);
    if (strcmp(cmd, "history") == 0)
        return cmd_read(n, rest, "db tenant now member limit", "db tenant member", read_history);
    if (strcmp(cmd, "lots") == 0) return cmd_read(n, rest, "db tenant now member", "db tenant member", read_lots);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        puts("jifen " JIFEN_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0) return cmd_help();
    return usage_error("unknown command '%s'", cmd);
}
