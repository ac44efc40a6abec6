/*
 * events.c — the earning engine over the store: the per-tenant cache of
 * compiled rules and tasks, saving definitions (with versions), processing
 * events into awards, and refunds.  See events.h.
 */
#include "engine/events.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "util/json_text.h"

/* ---- derived biz_no ---- */

void jf_derived_biz_no(const char *tag, const char *key, int64_t n, char out[JF_BIZ_NO_LEN_MAX + 1]) {
    jf_canon k;
    jf_canon_init(&k, "derived-biz-no");
    jf_canon_str(&k, tag);
    jf_canon_str(&k, key);
    jf_canon_int(&k, n);
    uint8_t d[JF_HASH_BYTES];
    jf_canon_sha256(&k, d);
    static const char hex[] = "0123456789abcdef";
    size_t o = strnlen(tag, 8); /* the tag, at most 8 bytes, then '-' */
    memcpy(out, tag, o);
    out[o++] = '-';
    for (int i = 0; i < 20; i++) {
        out[o++] = hex[d[i] >> 4];
        out[o++] = hex[d[i] & 15];
    }
    out[o] = '\0';
}

/* The biz_no of an award's entry: "ev-", 24 hex digits of a hash of the
 * event_id and the rule id in 16, so that an event hashes once however
 * many rules award (a hash per award cost ~5,000 instructions each).  Unique
 * within an event by the rule id; across events, 96 bits of hash. */
typedef struct {
    bool ready; /* digest computed (at the event's first award) */
    uint8_t digest[JF_HASH_BYTES];
} award_key;

static void award_biz_no(award_key *k, const char *event_id, int64_t rule_id, char out[JF_BIZ_NO_LEN_MAX + 1]) {
    static const char hex[] = "0123456789abcdef";
    if (!k->ready) {
        jf_canon c;
        jf_canon_init(&c, "award-biz-no");
        jf_canon_str(&c, event_id);
        jf_canon_sha256(&c, k->digest);
        k->ready = true;
    }
    size_t o = 0;
    memcpy(out, "ev-", 3);
    o = 3;
    for (int i = 0; i < 12; i++) {
        out[o++] = hex[k->digest[i] >> 4];
        out[o++] = hex[k->digest[i] & 15];
    }
    uint64_t r = (uint64_t)rule_id;
    for (int shift = 60; shift >= 0; shift -= 4) out[o++] = hex[(r >> shift) & 15];
    out[o] = '\0';
}

/* ---- the cache of compiled rules and tasks ---- */

/* Tenants whose rules are cached at once: each slot holds one tenant's
 * compiled set; a tenant beyond that evicts the least recently used. */
#define RULESET_CACHE_SLOTS 64
#define GENERATION_SETTING "rules.generation"
#define ORDERS_SETTING "orders.counted"

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static jf_ruleset *cache[RULESET_CACHE_SLOTS];
static uint64_t cache_used[RULESET_CACHE_SLOTS];
static uint64_t cache_clock;

static void ruleset_free(jf_ruleset *rs) {
    for (size_t i = 0; i < rs->rule_count; i++) jf_compiled_rule_free(&rs->rules[i]);
    for (size_t i = 0; i < rs->task_count; i++) jf_compiled_task_free(&rs->tasks[i]);
    free(rs->rules);
    free(rs->tasks);
    free(rs);
}

void jf_ruleset_release(jf_ruleset *rs) {
    if (rs == NULL) return;
    pthread_mutex_lock(&cache_mu);
    bool last = --rs->refs == 0;
    pthread_mutex_unlock(&cache_mu);
    if (last) ruleset_free(rs);
}

/* Whether the tenant counts its orders (ORDERS_SETTING is "1"). */
static jf_code orders_counted(jf_store *s, int64_t tenant_id, bool *counted, jf_error *err) {
    char value[8];
    jf_code rc = ST(s, setting_get, tenant_id, ORDERS_SETTING, value, sizeof value, err);
    *counted = rc == JF_OK && strcmp(value, "1") == 0;
    if (rc == JF_NOT_FOUND) jf_error_clear(err);
    return rc == JF_NOT_FOUND ? JF_OK : rc;
}

static jf_code read_generation(jf_store *s, int64_t tenant_id, int64_t *gen, jf_error *err) {
    char value[32];
    jf_code rc = ST(s, setting_get, tenant_id, GENERATION_SETTING, value, sizeof value, err);
    *gen = 0;
    if (rc == JF_NOT_FOUND) {
        jf_error_clear(err);
        return JF_OK;
    }
    if (rc == JF_OK) *gen = strtoll(value, NULL, 10);
    return rc;
}

/* The highest generation this process has written.  A generation is never
 * written twice: a bump whose transaction rolled back may have had its
 * ruleset cached by an event of the same transaction (a committer batch),
 * and the next bump, if it wrote the same number again, would make that
 * stale set current — with its rules' history and the tenant's orders
 * flags, which the awards and orders it writes keep for good.  (Another
 * server sharing the database caches only what it read committed.) */
static _Atomic int64_t highest_generation;

jf_code jf_ruleset_bump(jf_store *s, int64_t tenant_id, int64_t now_ms, jf_error *err) {
    int64_t gen;
    TRY(read_generation(s, tenant_id, &gen, err));
    int64_t next = gen + 1, high = atomic_load(&highest_generation);
    if (next <= high) next = high + 1;
    while (high < next && !atomic_compare_exchange_weak(&highest_generation, &high, next)) {
    }
    char value[32];
    snprintf(value, sizeof value, "%lld", (long long)next);
    return ST(s, setting_put, tenant_id, GENERATION_SETTING, value, now_ms, err);
}

/* Compile one stored row into the set (rows that no longer parse are
 * skipped: they were checked when saved). */
static void ruleset_add(jf_ruleset *rs, const jf_rule_row *row) {
    json_error_t jerr;
    json_t *def = json_loads(row->definition, 0, &jerr);
    jf_error err;
    jf_error_clear(&err);
    if (row->kind == JF_DEF_RULE) {
        jf_rule r;
        jf_compiled_rule *cr = &rs->rules[rs->rule_count];
        if (jf_rule_parse(def, &r, cr, &err) == JF_OK) {
            cr->rule.id = row->id;
            cr->rule.version = row->version;
            cr->rule.enabled = row->enabled;
            cr->history = row->history;
            if (row->enabled) rs->rule_count++;
            else jf_compiled_rule_free(cr);
        }
    } else {
        jf_task t;
        jf_compiled_task *ct = &rs->tasks[rs->task_count];
        if (jf_task_parse(def, &t, ct, &err) == JF_OK) {
            ct->task.id = row->id;
            ct->task.version = row->version;
            ct->task.enabled = row->enabled;
            if (row->enabled) rs->task_count++;
            else jf_compiled_task_free(ct);
        }
    }
    json_decref(def);
}

static jf_code ruleset_load(jf_store *s, int64_t tenant_id, int64_t gen, jf_ruleset **out, jf_error *err) {
    jf_ruleset *rs = calloc(1, sizeof *rs);
    jf_rule_row *rows = calloc(16, sizeof *rows);
    if (rs == NULL || rows == NULL) abort(); /* allocation failure aborts, as everywhere in the engine */
    rs->tenant_id = tenant_id;
    rs->generation = gen;
    rs->refs = 1;
    rs->rules = calloc(JF_RULES_PER_TENANT_MAX, sizeof *rs->rules);
    rs->tasks = calloc(JF_TASKS_PER_TENANT_MAX, sizeof *rs->tasks);
    if (rs->rules == NULL || rs->tasks == NULL) abort();
    jf_code rc = orders_counted(s, tenant_id, &rs->orders_counted, err);
    for (int kind = JF_DEF_RULE; kind <= JF_DEF_TASK && rc == JF_OK; kind++) {
        int64_t after = 0;
        size_t limit = kind == JF_DEF_RULE ? JF_RULES_PER_TENANT_MAX : JF_TASKS_PER_TENANT_MAX;
        for (;;) {
            size_t n = 0;
            rc = ST(s, rule_list, tenant_id, kind, after, rows, 16, &n, err);
            if (rc != JF_OK || n == 0) break;
            for (size_t i = 0; i < n; i++) {
                size_t have = kind == JF_DEF_RULE ? rs->rule_count : rs->task_count;
                if (have < limit) ruleset_add(rs, &rows[i]);
            }
            after = rows[n - 1].id;
            if (n < 16) break;
        }
    }
    free(rows);
    if (rc != JF_OK) {
        ruleset_free(rs);
        return rc;
    }
    *out = rs;
    return JF_OK;
}

jf_code jf_ruleset_acquire(jf_store *s, int64_t tenant_id, jf_ruleset **out, jf_error *err) {
    *out = NULL;
    int64_t gen;
    TRY(read_generation(s, tenant_id, &gen, err));
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < RULESET_CACHE_SLOTS; i++) {
        jf_ruleset *rs = cache[i];
        if (rs && rs->tenant_id == tenant_id && rs->generation == gen) {
            rs->refs++;
            cache_used[i] = ++cache_clock;
            pthread_mutex_unlock(&cache_mu);
            *out = rs;
            return JF_OK;
        }
    }
    pthread_mutex_unlock(&cache_mu);
    jf_ruleset *fresh;
    TRY(ruleset_load(s, tenant_id, gen, &fresh, err));
    /* Publish: replace the tenant's slot, else the least recently used. */
    pthread_mutex_lock(&cache_mu);
    int slot = 0;
    for (int i = 0; i < RULESET_CACHE_SLOTS; i++) {
        if (cache[i] && cache[i]->tenant_id == tenant_id) {
            slot = i;
            break;
        }
        if (cache[i] == NULL || cache_used[i] < cache_used[slot]) slot = i;
    }
    jf_ruleset *old = cache[slot];
    bool free_old = false;
    if (old && (old->tenant_id != tenant_id || old->generation <= gen)) {
        free_old = --old->refs == 0;
        cache[slot] = NULL;
    }
    if (cache[slot] == NULL) {
        fresh->refs++; /* the cache's reference */
        cache[slot] = fresh;
        cache_used[slot] = ++cache_clock;
    }
    pthread_mutex_unlock(&cache_mu);
    if (free_old) ruleset_free(old);
    *out = fresh;
    return JF_OK;
}

/* ---- definitions ---- */

/* Check a definition and give its normal form (what is stored and shown). */
static jf_code normal_definition(jf_def_kind kind, const json_t *def, char *event_type, bool *enabled,
                                 int64_t *budget, bool *history, json_t **normal, jf_error *err) {
    *budget = 0;
    *history = false;
    if (kind == JF_DEF_RULE) {
        jf_rule r;
        TRY(jf_rule_parse(def, &r, NULL, err));
        snprintf(event_type, JF_EVENT_TYPE_LEN_MAX + 1, "%s", r.event_type);
        *enabled = r.enabled;
        *budget = r.budget;
        *history = jf_rule_keeps_history(&r);
        *normal = jf_rule_to_json(&r);
    } else {
        jf_task t;
        TRY(jf_task_parse(def, &t, NULL, err));
        snprintf(event_type, JF_EVENT_TYPE_LEN_MAX + 1, "%s", t.event_type);
        *enabled = t.enabled;
        *normal = jf_task_to_json(&t);
    }
    return JF_OK;
}

static const char *kind_word(jf_def_kind kind) { return kind == JF_DEF_RULE ? "rule" : "task"; }

jf_code jf_definition_get(const jf_ctx *c, jf_def_kind kind, int64_t id, jf_rule_row *out, jf_error *err) {
    jf_code rc = ST(c->store, rule_get, c->tenant->id, id, false, out, err);
    if (rc == JF_NOT_FOUND || (rc == JF_OK && out->kind != (int32_t)kind))
        return jf_fail(err, JF_NOT_FOUND, "", "no %s %lld", kind_word(kind), (long long)id);
    return rc;
}

static jf_code count_definitions(const jf_ctx *c, jf_def_kind kind, size_t *count, jf_error *err) {
    jf_rule_row *rows = calloc(16, sizeof *rows);
    if (rows == NULL) abort();
    int64_t after = 0;
    *count = 0;
    jf_code rc;
    for (;;) {
        size_t n = 0;
        rc = ST(c->store, rule_list, c->tenant->id, kind, after, rows, 16, &n, err);
        if (rc != JF_OK || n == 0) break;
        *count += n;
        after = rows[n - 1].id;
        if (n < 16) break;
    }
    free(rows);
    return rc;
}

/* A rule that reads member.orders_count (rules.c: uses_orders looks for the
 * same words, in the condition only; any mention counts here) starts the
 * tenant counting its orders, those recorded so far included, once. */
static jf_code count_orders_for(const jf_ctx *c, const jf_rule_row *row, jf_error *err) {
    if (row->kind != JF_DEF_RULE || strstr(row->definition, "member.orders_count") == NULL) return JF_OK;
    bool counted;
    TRY(orders_counted(c->store, c->tenant->id, &counted, err));
    if (counted) return JF_OK;
    TRY(ST(c->store, order_count_all, c->tenant->id, err));
    return ST(c->store, setting_put, c->tenant->id, ORDERS_SETTING, "1", c->now_ms, err);
}

static jf_code store_version(const jf_ctx *c, jf_rule_row *row, bool insert, jf_error *err) {
    if (insert) TRY(ST(c->store, rule_insert, row, err));
    else TRY(ST(c->store, rule_update, row, err));
    TRY(ST(c->store, rule_version_insert, row, err));
    TRY(count_orders_for(c, row, err));
    return jf_ruleset_bump(c->store, c->tenant->id, c->now_ms, err);
}

/* Set a budgeted rule's counter to what its awards say (net of refunds):
 * when a rule is saved, so that a budget added to a rule that has awarded
 * before counts them.  The counter is locked first, so that an award or a
 * refund of the rule on another server waits and then adds to the recount
 * (an award made under an earlier version without a budget and committing
 * meanwhile is the one thing a recount can miss). */
static jf_code budget_recount(const jf_ctx *c, int64_t rule_id, jf_error *err) {
    int64_t have = 0, count, net;
    jf_code rc = ST(c->store, rule_budget_get, c->tenant->id, rule_id, true, &have, err);
    if (rc == JF_NOT_FOUND) jf_error_clear(err);
    else TRY(rc);
    TRY(ST(c->store, award_stats, rule_id, 0, INT64_MIN, INT64_MAX, &count, &net, err));
    return ST(c->store, rule_budget_add, c->tenant->id, rule_id, net - have, true, err);
}

jf_code jf_definition_save(const jf_ctx *c, jf_def_kind kind, int64_t id, const json_t *def, jf_rule_row *out,
                           jf_error *err) {
    char event_type[JF_EVENT_TYPE_LEN_MAX + 1];
    bool enabled = true;
    int64_t budget = 0;
    bool history = false;
    json_t *normal = NULL;
    TRY(normal_definition(kind, def, event_type, &enabled, &budget, &history, &normal, err));
    char *text = json_dumps(normal, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(normal);
    if (text == NULL) abort();
    size_t len = strlen(text);
    bool fits = len <= JF_RULE_DEFINITION_BYTES_MAX;
    if (fits) memcpy(out->definition, text, len + 1);
    free(text);
    if (!fits)
        return jf_fail(err, JF_LIMIT_EXCEEDED, "", "a %s definition is limited to %d bytes", kind_word(kind),
                       JF_RULE_DEFINITION_BYTES_MAX);
    bool insert = id == 0;
    if (insert) {
        /* Count and insert one tenant at a time, or two servers could both
         * see 99 rules and make 101. */
        TRY(ST(c->store, tenant_lock, c->tenant->id, err));
        size_t count = 0;
        TRY(count_definitions(c, kind, &count, err));
        size_t max = kind == JF_DEF_RULE ? JF_RULES_PER_TENANT_MAX : JF_TASKS_PER_TENANT_MAX;
        if (count >= max)
            return jf_fail(err, JF_LIMIT_EXCEEDED, "", "a tenant has at most %zu %ss; disable or change one", max,
                           kind_word(kind));
        out->id = 0;
        out->tenant_id = c->tenant->id;
        out->kind = (int32_t)kind;
        out->version = 1;
        out->created_at_ms = c->now_ms;
        out->history = history;
    } else {
        jf_rule_row old;
        TRY(jf_definition_get(c, kind, id, &old, err));
        out->id = old.id;
        out->tenant_id = old.tenant_id;
        out->kind = old.kind;
        out->version = old.version + 1;
        out->created_at_ms = old.created_at_ms;
        /* Once kept, a history stays kept: a frequency or cap added again
         * later counts every award since.  When it starts, the awards
         * made before count too (as if it had always been kept). */
        out->history = old.history || history;
        if (!old.history && history) TRY(ST(c->store, award_history_start, c->tenant->id, id, err));
    }
    out->enabled = enabled;
    JF_COPY(out->event_type, event_type);
    out->updated_at_ms = c->now_ms;
    TRY(store_version(c, out, insert, err));
    return budget > 0 ? budget_recount(c, out->id, err) : JF_OK;
}

jf_code jf_definition_set_enabled(const jf_ctx *c, jf_def_kind kind, int64_t id, bool enabled, jf_rule_row *out,
                                  jf_error *err) {
    TRY(jf_definition_get(c, kind, id, out, err));
    json_error_t jerr;
    json_t *def = json_loads(out->definition, 0, &jerr);
    if (def == NULL) return jf_fail(err, JF_INTERNAL, "", "stored %s %lld does not parse", kind_word(kind), (long long)id);
    json_object_set_new(def, "enabled", json_boolean(enabled));
    jf_code rc = jf_definition_save(c, kind, id, def, out, err);
    json_decref(def);
    return rc;
}

/* ---- events ---- */

static bool code_chars(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-')) return false;
    }
    return true;
}

jf_code jf_event_validate(const jf_ctx *c, const jf_event *ev, jf_error *err) {
    if (ev->type == NULL || !code_chars(ev->type, JF_EVENT_TYPE_LEN_MAX))
        return jf_fail(err, JF_INVALID_FIELD, "type", "type must be 1..%d of a-z 0-9 _ . - (order.paid, …)",
                       JF_EVENT_TYPE_LEN_MAX);
    TRY(jf_check_member_id(ev->member_id, "member_id", err));
    TRY(jf_check_biz_no(ev->event_id, "event_id", err));
    if (ev->has_amount && (ev->amount_fen < 0 || ev->amount_fen > JF_QUANTITY_MAX))
        return jf_fail(err, JF_INVALID_FIELD, "amount_fen", "amount_fen must be 0..2^53-1");
    if (ev->item_count > JF_EVENT_ITEMS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "items", "at most %d items per event", JF_EVENT_ITEMS_MAX);
    if (ev->occurred_at_ms > c->now_ms)
        return jf_fail(err, JF_INVALID_FIELD, "occurred_at", "occurred_at is in the future");
    return jf_check_time(ev->occurred_at_ms, "occurred_at", err);
}

/* The reason written on an award's ledger entry: the rule and its
 * explanation, cut at a character boundary to fit. */
static size_t put_text(char *out, size_t o, const char *s, size_t n) {
    if (n > JF_REASON_BYTES_MAX - o) n = JF_REASON_BYTES_MAX - o;
    memcpy(out + o, s, n);
    return o + n;
}

static void award_reason(const jf_award *a, char out[JF_REASON_BYTES_MAX + 1]) {
    /* "rule <id> v<version>: <explanation>", without snprintf (per award) */
    char num[JF_INT_TEXT_MAX];
    size_t o = put_text(out, 0, "rule ", 5);
    o = put_text(out, o, num, jf_int_text(num, a->rule_id));
    o = put_text(out, o, " v", 2);
    o = put_text(out, o, num, jf_int_text(num, a->rule_version));
    o = put_text(out, o, ": ", 2);
    o = put_text(out, o, a->explanation, strlen(a->explanation));
    jf_utf8_whole(out, o);
}

static jf_code rule_usage(const jf_ctx *c, const jf_rule *r, const jf_member *m, int64_t at_ms, bool lock,
                          jf_rule_usage *u, jf_error *err) {
    memset(u, 0, sizeof *u);
    jf_store *s = c->store;
    const char *tz = c->tenant->timezone;
    int64_t from, to, count;
    if (m->id == 0) { /* a member never seen (dry run): no history */
        if (r->budget == 0) return JF_OK;
    }
    /* Frequency counts awards only: the index answers without the rows. */
    if (m->id != 0 && jf_rule_period(r, tz, at_ms, &from, &to))
        TRY(ST(s, award_stats, r->id, m->id, from, to, &u->awards_in_period, NULL, err));
    if (m->id != 0 && r->cap_member_day && jf_tz_period_start(tz, at_ms, JF_PERIOD_DAY, &from) &&
        jf_tz_period_next(tz, at_ms, JF_PERIOD_DAY, &to))
        TRY(ST(s, award_stats, r->id, m->id, from, to, &count, &u->points_day, err));
    if (m->id != 0 && r->cap_member_month && jf_tz_period_start(tz, at_ms, JF_PERIOD_MONTH, &from) &&
        jf_tz_period_next(tz, at_ms, JF_PERIOD_MONTH, &to))
        TRY(ST(s, award_stats, r->id, m->id, from, to, &count, &u->points_month, err));
    if (r->budget) {
        /* The rule's counter, locked so that servers sharing a database
         * count the budget one award at a time (SQLite's writer lock
         * already does).  No row yet: nothing awarded yet. */
        jf_code rc = ST(s, rule_budget_get, c->tenant->id, r->id, lock, &u->points_budget, err);
        if (rc == JF_NOT_FOUND) jf_error_clear(err);
        else TRY(rc);
    }
    return JF_OK;
}

/* One award into the event's member operation: an earn entry and its lot
 * (settling the member first, once for all the awards), and the award row
 * pointing to the entry.  The entry's biz_no is derived from (event_id,
 * rule id) (award_biz_no), for people reading the ledger; it has no
 * idempotency record of its own: the event row is the event's
 * (jf_event_process). */
static jf_code write_award(jf_mop *op, const jf_event *ev, const jf_compiled_rule *cr, const jf_award *a,
                           award_key *key, jf_error *err) {
    const jf_rule *rule = &cr->rule;
    const jf_ctx *c = op->c;
    assert(a->status == JF_AWARD_GIVEN);
    assert(a->points >= JF_POINTS_MIN && a->points <= JF_POINTS_MAX); /* rules.c caps every award */
    TRY(jf_mop_refuse_frozen(op, err));
    TRY(jf_mop_settle(op, NULL, err));
    jf_entry e = {.kind = JF_ENTRY_EARN};
    award_biz_no(key, ev->event_id, a->rule_id, e.biz_no);
    award_reason(a, e.reason);
    const char *scene = strlen(ev->type) <= JF_SCENE_LEN_MAX ? ev->type : "event"; /* jf_event_validate: its chars */
    memcpy(e.scene, scene, strlen(scene) + 1);
    int64_t expires = a->expires_at_ms;
    int64_t floor_ms = a->available_at_ms > c->now_ms ? a->available_at_ms : c->now_ms;
    if (expires != 0 && expires <= floor_ms) expires = 0; /* would be born expired: the tenant's policy */
    TRY(jf_mop_earn(op, &e, a->points, a->available_at_ms, expires, err));

    jf_award_row row;
    memset(&row, 0, sizeof row);
    row.tenant_id = c->tenant->id;
    JF_COPY(row.event_id, ev->event_id);
    row.rule_id = a->rule_id;
    row.rule_version = a->rule_version;
    row.member_id = op->m.id;
    row.points = a->points;
    row.occurred_at_ms = ev->occurred_at_ms;
    memcpy(row.biz_no, e.biz_no, sizeof row.biz_no);
    JF_COPY(row.explanation, a->explanation);
    row.created_at_ms = c->now_ms;
    row.entry_id = e.id;
    row.history = cr->history;
    TRY(ST(c->store, award_insert, &row, err));
    /* Only a budgeted rule keeps its counter: any other would make its
     * counter row one hot row every event of the rule waits for. */
    if (rule->budget) TRY(ST(c->store, rule_budget_add, c->tenant->id, rule->id, a->points, true, err));
    return JF_OK;
}

/* The answer of an event seen before, as it was given.  An event recorded
 * before answers were kept (schema migration 3) answers what its rows
 * still say (replay_from_awards). */
static jf_code replay_from_awards(const jf_ctx *c, const jf_event_row *row, jf_event_outcome *out, jf_error *err);

/* The name of version `version` of rule or task id: from the tenant's
 * compiled set when it holds that version, else from the version's saved
 * definition (names are part of a version, which never changes). */
static jf_code version_name(const jf_ctx *c, const jf_ruleset *rs, bool task, int64_t id, int64_t version,
                            char (*out)[JF_RULE_NAME_BYTES_MAX + 1], jf_error *err) {
    for (size_t i = 0; rs != NULL && !task && i < rs->rule_count; i++)
        if (rs->rules[i].rule.id == id && rs->rules[i].rule.version == version) {
            JF_COPY(*out, rs->rules[i].rule.name);
            return JF_OK;
        }
    for (size_t i = 0; rs != NULL && task && i < rs->task_count; i++)
        if (rs->tasks[i].task.id == id && rs->tasks[i].task.version == version) {
            JF_COPY(*out, rs->tasks[i].task.name);
            return JF_OK;
        }
    jf_rule_row *row = malloc(sizeof *row);
    if (row == NULL) abort();
    jf_code rc = ST(c->store, rule_version_get, c->tenant->id, id, version, row, err);
    json_t *def = rc == JF_OK ? json_loads(row->definition, 0, NULL) : NULL;
    const char *name = json_string_value(json_object_get(def, "name"));
    if (rc == JF_OK && (name == NULL || strlen(name) > JF_RULE_NAME_BYTES_MAX))
        rc = jf_fail(err, JF_INTERNAL, "", "%s %lld version %lld has no readable name",
                     kind_word(task ? JF_DEF_TASK : JF_DEF_RULE), (long long)id, (long long)version);
    if (rc == JF_OK) JF_COPY(*out, name);
    json_decref(def);
    free(row);
    return rc;
}

/* What a kept answer leaves out (version 2, event_answer.c) and the replay
 * knows: the member's ids — the event's row and request — and the names of
 * the rules and tasks.  An answer of version 1 has them all. */
static jf_code answer_context(const jf_ctx *c, const jf_ruleset *rs, const jf_event *ev, const jf_event_row *row,
                              jf_event_outcome *out, jf_error *err) {
    if (out->member.id == 0) {
        out->member.id = row->member_id;
        out->member.tenant_id = c->tenant->id;
        JF_COPY(out->member.ext_id, ev->member_id);
    }
    for (size_t i = 0; i < out->award_count; i++) {
        jf_award *a = &out->awards[i];
        if (a->rule_name[0] == '\0') TRY(version_name(c, rs, false, a->rule_id, a->rule_version, &a->rule_name, err));
    }
    for (size_t i = 0; i < out->task_count; i++) {
        jf_task_state *t = &out->tasks[i];
        if (t->name[0] == '\0') TRY(version_name(c, rs, true, t->task_id, t->task_version, &t->name, err));
    }
    return JF_OK;
}

static jf_code replay(const jf_ctx *c, const jf_ruleset *rs, const jf_event *ev, const jf_event_row *row,
                      jf_event_outcome *out, jf_error *err) {
    char *text = malloc(JF_EVENT_ANSWER_BYTES_MAX + 1);
    if (text == NULL) abort();
    jf_code rc = ST(c->store, event_answer_get, c->tenant->id, row->event_id, text, JF_EVENT_ANSWER_BYTES_MAX + 1, err);
    if (rc == JF_OK) {
        /* Only a missing answer falls back to the award rows: a NOT_FOUND
         * from here on (a rule version not kept) would rebuild the lists
         * on top of what was decoded. */
        rc = jf_event_answer_decode(text, out, err);
        if (rc == JF_OK) rc = answer_context(c, rs, ev, row, out, err);
        if (rc == JF_NOT_FOUND)
            rc = jf_fail(err, JF_INTERNAL, "", "the kept answer of event %s names a rule or task version not kept",
                         row->event_id);
    }
    free(text);
    out->replayed = true;
    if (rc != JF_NOT_FOUND) return rc;
    jf_error_clear(err);
    TRY(replay_from_awards(c, row, out, err));
    return out->member_known ? jf_member_get(c, ev->member_id, &out->member, err) : JF_OK;
}

/* Store what the event answered (after everything it wrote). */
static jf_code keep_answer(const jf_ctx *c, const jf_event *ev, const jf_event_outcome *out, jf_error *err) {
    char *text = jf_event_answer_encode(out);
    if (text == NULL)
        return jf_fail(err, JF_INTERNAL, "", "the answer of event %s exceeds %d bytes", ev->event_id,
                       JF_EVENT_ANSWER_BYTES_MAX);
    jf_code rc = ST(c->store, event_answer_put, c->tenant->id, ev->event_id, text, err);
    free(text);
    return rc;
}

static jf_code replay_from_awards(const jf_ctx *c, const jf_event_row *row, jf_event_outcome *out, jf_error *err) {
    out->occurred_at_ms = row->occurred_at_ms;
    jf_award_row *rows = calloc(JF_RULES_PER_TENANT_MAX, sizeof *rows);
    if (rows == NULL) abort();
    size_t n = 0;
    const char *of = row->refund_of[0] ? row->refund_of : row->event_id;
    jf_code rc = ST(c->store, award_list_by_event, c->tenant->id, of, rows, JF_RULES_PER_TENANT_MAX, &n, err);
    for (size_t i = 0; rc == JF_OK && i < n; i++) {
        if (row->refund_of[0]) {
            jf_reversal *v = &out->reversals[out->reversal_count++];
            memset(v, 0, sizeof *v);
            v->rule_id = rows[i].rule_id;
            v->rule_version = rows[i].rule_version;
            v->awarded = rows[i].points;
            v->reversed_total = rows[i].reversed;
            JF_COPY(v->biz_no, rows[i].biz_no);
            continue;
        }
        jf_award *a = &out->awards[out->award_count++];
        memset(a, 0, sizeof *a);
        a->rule_id = rows[i].rule_id;
        a->rule_version = rows[i].rule_version;
        a->status = JF_AWARD_GIVEN;
        a->points = a->computed_points = rows[i].points;
        JF_COPY(a->explanation, rows[i].explanation);
        out->points_total += rows[i].points;
    }
    free(rows);
    if (row->refund_of[0]) {
        out->is_refund = true;
        JF_COPY(out->refund_of, row->refund_of);
        out->refund_fen = row->amount_fen;
        jf_event_row orig;
        if (rc == JF_OK && ST(c->store, event_get, c->tenant->id, row->refund_of, &orig, err) == JF_OK) {
            out->refunded_fen = orig.refunded_fen;
            out->order_fen = orig.amount_fen;
        }
    }
    return rc;
}

static void fingerprint_of(const uint8_t *fp, uint8_t out[JF_HASH_BYTES]) {
    if (fp) memcpy(out, fp, JF_HASH_BYTES);
    else memset(out, 0, JF_HASH_BYTES);
}

/* The event's member: locked (created if new) into op for the whole event,
 * or in a dry run (op NULL) read if it exists. */
static jf_code member_for_event(const jf_ctx *c, const char *member_id, jf_mop *op, jf_event_outcome *out,
                                jf_error *err) {
    if (op != NULL) {
        TRY(jf_mop_lock_ext(op, c, member_id, true, err));
        out->member = op->m;
        out->member_known = true;
        return JF_OK;
    }
    jf_code rc = jf_member_get(c, member_id, &out->member, err);
    if (rc == JF_NOT_FOUND) {
        jf_error_clear(err);
        memset(&out->member, 0, sizeof out->member);
        JF_COPY(out->member.ext_id, member_id);
        return JF_OK;
    }
    out->member_known = rc == JF_OK;
    return rc;
}

static jf_code record_event(const jf_ctx *c, const jf_event *ev, int64_t member_id, const char *refund_of,
                            int64_t amount, const uint8_t *fp, bool counted, jf_error *err) {
    jf_event_row row;
    memset(&row, 0, sizeof row);
    row.tenant_id = c->tenant->id;
    JF_COPY(row.event_id, ev->event_id);
    row.member_id = member_id;
    JF_COPY(row.type, ev->type);
    row.amount_fen = amount;
    row.occurred_at_ms = ev->occurred_at_ms;
    if (refund_of) JF_COPY(row.refund_of, refund_of);
    fingerprint_of(fp, row.fingerprint);
    row.created_at_ms = c->now_ms;
    row.counted = counted;
    return ST(c->store, event_insert, &row, err);
}

/* Every rule of the event's type, then every task.  op: the member
 * operation the awards are written into (NULL in a dry run); it is
 * written back before the tasks, whose rewards are earns of their own. */
static jf_code evaluate_rules(const jf_ctx *c, const jf_ruleset *rs, const jf_event *ev, const jf_civil *civil,
                              jf_mop *op, jf_event_outcome *out, jf_error *err) {
    bool dry_run = op == NULL;
    const jf_member *m = &out->member;
    jf_member_facts facts = {.tier = "", .days_since_joining = 0, .orders_count = 0};
    if (m->id != 0 && ev->occurred_at_ms > m->created_at_ms)
        facts.days_since_joining = (ev->occurred_at_ms - m->created_at_ms) / 86400000;
    /* The rules of the event's type, in id order. */
    size_t of_type[JF_RULES_PER_TENANT_MAX], n = 0;
    bool need_orders = false;
    for (size_t i = 0; i < rs->rule_count; i++) {
        if (strcmp(rs->rules[i].rule.event_type, ev->type) != 0) continue;
        of_type[n++] = i;
        need_orders |= rs->rules[i].uses_orders;
    }
    if (need_orders && m->id != 0) TRY(ST(c->store, order_count, m->id, ev->occurred_at_ms, &facts.orders_count, err));
    award_key key = {.ready = false};
    for (size_t k = 0; k < n; k++) {
        const jf_compiled_rule *cr = &rs->rules[of_type[k]];
        jf_award *a = &out->awards[out->award_count++];
        jf_rule_compute(cr, ev, &facts, civil, c->tenant->timezone, a);
        if (a->status != JF_AWARD_GIVEN) continue;
        jf_rule_usage u;
        TRY(rule_usage(c, &cr->rule, m, ev->occurred_at_ms, !dry_run, &u, err));
        jf_rule_limit(&cr->rule, &u, a);
        if (a->status != JF_AWARD_GIVEN) continue;
        if (!dry_run) TRY(write_award(op, ev, cr, a, &key, err));
        out->points_total += a->points;
    }
    if (!dry_run) {
        TRY(jf_mop_flush(op, err));
        out->member = op->m;
    }
    bool rewarded = false;
    for (size_t i = 0; i < rs->task_count; i++) {
        bool touched = false;
        jf_task_state *t = &out->tasks[out->task_count];
        TRY(jf_task_advance(c, &rs->tasks[i], m, ev, &facts, civil, dry_run, t, &touched, err));
        if (touched) out->task_count++;
        rewarded |= touched && t->points_awarded > 0;
    }
    /* A task's reward changed the member after op was written back. */
    if (!dry_run && rewarded) TRY(jf_member_get(c, ev->member_id, &out->member, err));
    return JF_OK;
}

/* A refund gives the reversed points back to the rule's campaign budget
 * (the budget counts points awarded net of refunds, like the member caps);
 * a rule that keeps no counter (no budget) has nothing to give back to. */
static jf_code budget_give_back(const jf_ctx *c, int64_t rule_id, int64_t points, jf_error *err) {
    jf_code rc = ST(c->store, rule_budget_add, c->tenant->id, rule_id, -points, false, err);
    if (rc == JF_NOT_FOUND) jf_error_clear(err);
    return rc == JF_NOT_FOUND ? JF_OK : rc;
}

/* Proportional reversal target: what the member keeps is the award's
 * share of what is left of the order, floored; the rest is reversed. */
static int64_t reversal_target(int64_t points, int64_t order_fen, int64_t refunded_fen) {
    if (order_fen <= 0 || refunded_fen >= order_fen) return points;
    __int128 keep = (__int128)points * (order_fen - refunded_fen) / order_fen;
    return points - (int64_t)keep;
}

/* The earn entry an award produced: the award row names it; an award
 * written before rows did (schema: SQLite 6, PostgreSQL 4) was a ledger
 * earn of its own, found through the idempotency record of its biz_no. */
static jf_code award_entry(const jf_mop *op, const jf_award_row *w, jf_entry *out, jf_error *err) {
    jf_store *s = op->c->store;
    int64_t entry_id = w->entry_id;
    if (entry_id == 0) {
        jf_idem earn;
        jf_code rc = ST(s, idem_get, op->c->tenant->id, w->biz_no, &earn, err);
        if (rc == JF_NOT_FOUND)
            return jf_fail(err, JF_INTERNAL, "", "award of rule %lld for %s: no entry and no earn %s",
                           (long long)w->rule_id, w->event_id, w->biz_no);
        TRY(rc);
        entry_id = earn.entry_id;
    }
    TRY(ST(s, entry_get, entry_id, out, err));
    if (out->member_id != op->m.id || out->kind != JF_ENTRY_EARN)
        return jf_fail(err, JF_INTERNAL, "", "award of rule %lld for %s: entry %lld is not its member's earn",
                       (long long)w->rule_id, w->event_id, (long long)entry_id);
    return JF_OK;
}

/* Reverse delta points of one award inside op, as the ledger reverses an
 * earn (jf_mop_reverse), and count them on the award and its budget. */
static jf_code reverse_award(jf_mop *op, const jf_event *ev, const char *refund_of, const jf_award_row *w,
                             int64_t delta, int64_t target, jf_reversal *v, jf_error *err) {
    const jf_ctx *c = op->c;
    jf_entry earn;
    TRY(award_entry(op, w, &earn, err));
    char biz_no[JF_BIZ_NO_LEN_MAX + 1], reason[JF_REASON_BYTES_MAX + 1];
    jf_derived_biz_no("rf", ev->event_id, w->rule_id, biz_no);
    snprintf(reason, sizeof reason, "refund %s of %s", ev->event_id, refund_of);
    jf_result res;
    memset(&res, 0, sizeof res);
    TRY(jf_mop_reverse(op, &earn, delta, biz_no, reason, w->biz_no, &res, err));
    v->debt_points = res.debt_points;
    v->clamped_points = res.clamped_points;
    TRY(ST(c->store, award_update_reversed, c->tenant->id, refund_of, w->rule_id, target, err));
    return budget_give_back(c, w->rule_id, delta, err);
}

/* An order.refunded: the proportional part of every award of the order is
 * reversed, all in one member operation op (NULL in a dry run). */
static jf_code refund(const jf_ctx *c, const jf_event *ev, const char *refund_of, int64_t refund_fen, jf_mop *op,
                      jf_event_outcome *out, jf_error *err) {
    bool dry_run = op == NULL;
    out->is_refund = true;
    if (refund_of == NULL || refund_of[0] == '\0')
        return jf_fail(err, JF_INVALID_FIELD, "refund_of", "order.refunded needs refund_of: the event_id of the order");
    JF_COPY(out->refund_of, refund_of);
    jf_event_row orig;
    jf_code rc = ST(c->store, event_get, c->tenant->id, refund_of, &orig, err);
    if (rc == JF_NOT_FOUND) return jf_fail(err, JF_NOT_FOUND, "refund_of", "no event %s to refund", refund_of);
    TRY(rc);
    if (orig.refund_of[0] != '\0')
        return jf_fail(err, JF_INVALID_FIELD, "refund_of", "event %s is itself a refund", refund_of);
    if (orig.member_id != out->member.id)
        return jf_fail(err, JF_INVALID_FIELD, "refund_of", "event %s belongs to another member", refund_of);
    int64_t order = orig.amount_fen > 0 ? orig.amount_fen : 0;
    int64_t left = order > 0 ? order - orig.refunded_fen : (orig.refunded_fen > 0 ? 0 : 1);
    if (order == 0 && refund_fen >= 0)
        return jf_fail(err, JF_INVALID_FIELD, "amount_fen", "event %s has no amount: refund it whole, without amount_fen", refund_of);
    int64_t r = refund_fen >= 0 ? refund_fen : left;
    if (left <= 0) return jf_fail(err, JF_REVERSAL_EXCEEDED, "refund_of", "event %s is already refunded in full", refund_of);
    if (r == 0) return jf_fail(err, JF_INVALID_FIELD, "amount_fen", "amount_fen must be at least 1");
    if (r > left)
        return jf_fail(err, JF_REVERSAL_EXCEEDED, "amount_fen", "a refund of %lld fen exceeds the %lld fen of %s not refunded yet",
                       (long long)r, (long long)left, refund_of);
    int64_t refunded = orig.refunded_fen + r;
    out->refund_fen = order > 0 ? r : 0;
    out->refunded_fen = order > 0 ? refunded : 0;
    out->order_fen = order;
    jf_award_row *rows = calloc(JF_RULES_PER_TENANT_MAX, sizeof *rows);
    if (rows == NULL) abort();
    size_t n = 0;
    rc = ST(c->store, award_list_by_event, c->tenant->id, refund_of, rows, JF_RULES_PER_TENANT_MAX, &n, err);
    for (size_t i = 0; rc == JF_OK && i < n; i++) {
        jf_award_row *w = &rows[i];
        jf_reversal *v = &out->reversals[out->reversal_count++];
        memset(v, 0, sizeof *v);
        v->rule_id = w->rule_id;
        v->rule_version = w->rule_version;
        v->awarded = w->points;
        JF_COPY(v->biz_no, w->biz_no);
        int64_t target = order > 0 ? reversal_target(w->points, order, refunded) : w->points;
        int64_t delta = target - w->reversed;
        v->reversed_total = w->reversed;
        if (delta <= 0) continue;
        v->reversed_now = delta;
        v->reversed_total = target;
        out->reversed_total += delta;
        if (!dry_run) rc = reverse_award(op, ev, refund_of, w, delta, target, v, err);
    }
    free(rows);
    TRY(rc);
    if (dry_run) return JF_OK;
    TRY(ST(c->store, event_update_refunded, c->tenant->id, refund_of, order > 0 ? refunded : 1, err));
    TRY(jf_mop_flush(op, err));
    out->member = op->m;
    return JF_OK;
}

/* The event after its member: rs is the tenant's ruleset (NULL for a
 * refund), read in this transaction — which also says whether an order is
 * written counted, so never from before a rule that started the tenant
 * counting. */
static jf_code process(const jf_ctx *c, const jf_event *ev, const char *refund_of, int64_t refund_fen,
                       const uint8_t *fingerprint, const jf_ruleset *rs, jf_mop *op, jf_event_outcome *out,
                       jf_error *err) {
    bool dry_run = op == NULL, is_refund = rs == NULL;
    /* An order's event row is inserted first: nearly every event is new,
     * and then that is the only lookup of its event_id.  The row is the
     * idempotency record of the event and of its awards.  On PostgreSQL a
     * concurrent request with the same event_id waits here for this one
     * and then finds it taken.  A refund's row is written after it (it
     * records how much was refunded). */
    bool is_new = false;
    jf_code rc;
    if (!is_refund && !dry_run) {
        rc = record_event(c, ev, out->member.id, NULL, ev->has_amount ? ev->amount_fen : -1, fingerprint,
                          rs->orders_counted, err);
        if (rc != JF_OK && rc != JF_ALREADY_EXISTS) return rc;
        is_new = rc == JF_OK;
        if (!is_new) jf_error_clear(err);
    }
    if (!is_new) {
        jf_event_row seen;
        rc = ST(c->store, event_get, c->tenant->id, ev->event_id, &seen, err);
        if (rc == JF_OK) {
            uint8_t fp[JF_HASH_BYTES];
            fingerprint_of(fingerprint, fp);
            if (memcmp(fp, seen.fingerprint, JF_HASH_BYTES) != 0)
                return jf_fail(err, JF_IDEMPOTENCY_CONFLICT, "event_id",
                               "event %s was already received with a different body", ev->event_id);
            return replay(c, rs, ev, &seen, out, err);
        }
        if (rc != JF_NOT_FOUND) return rc;
        if (!is_refund && !dry_run) /* taken, yet not visible to us */
            return jf_fail(err, JF_RETRY, "event_id", "event %s is being processed by another request; retry",
                           ev->event_id);
    }
    jf_error_clear(err);
    if (is_refund) {
        TRY(refund(c, ev, refund_of, refund_fen, op, out, err));
        if (!dry_run) TRY(record_event(c, ev, out->member.id, refund_of, out->refund_fen, fingerprint, false, err));
    } else {
        jf_civil civil;
        if (!jf_tz_civil(c->tenant->timezone, ev->occurred_at_ms, &civil))
            return jf_fail(err, JF_INTERNAL, "", "cannot convert the event time to the tenant's zone");
        TRY(evaluate_rules(c, rs, ev, &civil, op, out, err));
    }
    return dry_run ? JF_OK : keep_answer(c, ev, out, err);
}

jf_code jf_event_process(const jf_ctx *c, const jf_event *ev, const char *refund_of, int64_t refund_fen,
                         const uint8_t fingerprint[JF_HASH_BYTES], bool dry_run, jf_event_outcome *out,
                         jf_error *err) {
    jf_event_outcome_reset(out);
    TRY(jf_event_validate(c, ev, err));
    bool is_refund = strcmp(ev->type, JF_EVENT_REFUNDED) == 0;
    if (!is_refund && refund_of != NULL)
        return jf_fail(err, JF_INVALID_FIELD, "refund_of", "refund_of goes with type order.refunded");
    /* The member is locked once for the whole event: every award (or every
     * reversal of a refund) is an entry of this one member operation. */
    jf_mop mop;
    jf_mop *op = dry_run ? NULL : &mop;
    TRY(member_for_event(c, ev->member_id, op, out, err));
    out->occurred_at_ms = ev->occurred_at_ms;
    jf_ruleset *rs = NULL;
    if (!is_refund) TRY(jf_ruleset_acquire(c->store, c->tenant->id, &rs, err));
    jf_code rc = process(c, ev, refund_of, refund_fen, fingerprint, rs, op, out, err);
    if (rs != NULL) jf_ruleset_release(rs);
    return rc;
}
