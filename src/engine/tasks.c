/*
 * tasks.c — task definitions, progress per member and period, rewards.
 * See tasks.h.  Rewards are ledger earns whose biz_no is derived from
 * (task, member, period), so a task rewards at most once per period however
 * often it is completed, claimed or replayed.
 */
#include "engine/tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/events.h"
#include "engine/internal.h"

static const char *const period_names[] = {"daily", "weekly", "monthly", "once"};

const char *jf_task_period_name(jf_task_period p) {
    return (unsigned)p < 4 ? period_names[p] : "?";
}

static int period_parse(const char *s) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, period_names[i]) == 0) return i;
    return -1;
}

static jf_code copy_string(const json_t *v, const char *field, size_t max, bool code_chars, char *out, size_t cap,
                           jf_error *err) {
    if (!json_is_string(v)) return jf_fail(err, JF_INVALID_FIELD, field, "%s must be a string", field);
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    bool ok = n >= 1 && n <= max && n < cap && strlen(s) == n;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        ok = code_chars ? ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')
                        : (c >= 0x20 && c != 0x7f);
    }
    if (!ok)
        return jf_fail(err, JF_INVALID_FIELD, field, "%s must be 1..%zu bytes of %s", field, max,
                       code_chars ? "a-z 0-9 _ . -" : "text");
    memcpy(out, s, n);
    out[n] = '\0';
    return JF_OK;
}

static jf_code positive(const json_t *v, const char *field, int64_t max, int64_t *out, jf_error *err) {
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max)
        return jf_fail(err, JF_INVALID_FIELD, field, "%s must be an integer between 1 and %lld", field, (long long)max);
    *out = json_integer_value(v);
    return JF_OK;
}

static jf_code parse_goal(const json_t *g, jf_task *t, jf_error *err) {
    if (!json_is_object(g)) return jf_fail(err, JF_INVALID_FIELD, "goal", "goal is required: {\"count\": N} or {\"sum\": \"amount_fen\", \"target\": N}");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)g, k, v) {
        if (strcmp(k, "count") && strcmp(k, "sum") && strcmp(k, "target")) {
            char field[64];
            snprintf(field, sizeof field, "goal.%s", k);
            return jf_fail(err, JF_INVALID_FIELD, field, "unknown field %s", field);
        }
    }
    json_t *count = json_object_get(g, "count"), *sum = json_object_get(g, "sum");
    if ((count != NULL) == (sum != NULL)) return jf_fail(err, JF_INVALID_FIELD, "goal", "goal needs exactly one of count and sum");
    if (count) {
        if (json_object_get(g, "target")) return jf_fail(err, JF_INVALID_FIELD, "goal.target", "goal.target goes with sum");
        return positive(count, "goal.count", 1000000, &t->goal, err);
    }
    if (!json_is_string(sum) || strcmp(json_string_value(sum), "amount_fen") != 0)
        return jf_fail(err, JF_INVALID_FIELD, "goal.sum", "goal.sum must be \"amount_fen\"");
    t->goal_is_sum = true;
    json_t *target = json_object_get(g, "target");
    if (target == NULL) return jf_fail(err, JF_INVALID_FIELD, "goal.target", "goal.target is required with sum");
    return positive(target, "goal.target", JF_QUANTITY_MAX, &t->goal, err);
}

jf_code jf_task_parse(const json_t *def, jf_task *t, jf_compiled_task *ct, jf_error *err) {
    memset(t, 0, sizeof *t);
    t->enabled = true;
    if (!json_is_object(def)) return jf_fail(err, JF_INVALID_FIELD, "", "a task must be a JSON object");
    static const char *const keys[] = {"name", "period", "event_type", "when", "goal", "reward_points",
                                       "completion", "enabled", NULL};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)def, k, v) {
        bool known = false;
        for (const char *const *p = keys; *p && !known; p++) known = strcmp(*p, k) == 0;
        if (!known) {
            char field[64];
            snprintf(field, sizeof field, "%s", k);
            return jf_fail(err, JF_INVALID_FIELD, field, "unknown field %s", field);
        }
    }
    json_t *name = json_object_get(def, "name");
    if (name == NULL) return jf_fail(err, JF_INVALID_FIELD, "name", "name is required");
    TRY(copy_string(name, "name", JF_RULE_NAME_BYTES_MAX, false, t->name, sizeof t->name, err));
    json_t *type = json_object_get(def, "event_type");
    if (type == NULL) return jf_fail(err, JF_INVALID_FIELD, "event_type", "event_type is required");
    TRY(copy_string(type, "event_type", JF_EVENT_TYPE_LEN_MAX, true, t->event_type, sizeof t->event_type, err));
    json_t *period = json_object_get(def, "period");
    int p = json_is_string(period) ? period_parse(json_string_value(period)) : -1;
    if (p < 0) return jf_fail(err, JF_INVALID_FIELD, "period", "period must be one of daily, weekly, monthly, once");
    t->period = (jf_task_period)p;
    json_t *when = json_object_get(def, "when");
    if (when != NULL) {
        if (!json_is_string(when)) return jf_fail(err, JF_INVALID_FIELD, "when", "when must be a string");
        if (json_string_length(when) > JF_EXPR_SOURCE_BYTES_MAX)
            return jf_fail(err, JF_RULE_INVALID, "when", "the condition is longer than %d bytes", JF_EXPR_SOURCE_BYTES_MAX);
        memcpy(t->when, json_string_value(when), json_string_length(when));
        t->when[json_string_length(when)] = '\0';
    }
    TRY(parse_goal(json_object_get(def, "goal"), t, err));
    json_t *reward = json_object_get(def, "reward_points");
    if (reward == NULL) return jf_fail(err, JF_INVALID_FIELD, "reward_points", "reward_points is required");
    TRY(positive(reward, "reward_points", JF_POINTS_MAX, &t->reward_points, err));
    json_t *completion = json_object_get(def, "completion");
    if (completion != NULL) {
        const char *s = json_is_string(completion) ? json_string_value(completion) : "";
        if (strcmp(s, "claim") == 0) t->claim = true;
        else if (strcmp(s, "auto") != 0)
            return jf_fail(err, JF_INVALID_FIELD, "completion", "completion must be auto or claim");
    }
    json_t *enabled = json_object_get(def, "enabled");
    if (enabled != NULL) {
        if (!json_is_boolean(enabled)) return jf_fail(err, JF_INVALID_FIELD, "enabled", "enabled must be true or false");
        t->enabled = json_is_true(enabled);
    }
    jf_compiled_task scratch;
    TRY(jf_task_compile(t, ct ? ct : &scratch, err));
    if (ct == NULL) jf_compiled_task_free(&scratch);
    return JF_OK;
}

jf_code jf_task_compile(const jf_task *t, jf_compiled_task *ct, jf_error *err) {
    memset(ct, 0, sizeof *ct);
    ct->task = *t;
    size_t len = strlen(t->when);
    if (len == 0 || strspn(t->when, " \t\r\n") == len) return JF_OK;
    if (strstr(t->when, "item.") != NULL)
        return jf_fail(err, JF_RULE_INVALID, "when", "a task's condition reads the event, not its items (item.* fields)");
    jf_expr_error e;
    if (!jf_expr_compile(t->when, len, jf_expr_event_schema(), &ct->program, &e)) return jf_expr_fail(err, "when", &e);
    return JF_OK;
}

void jf_compiled_task_free(jf_compiled_task *ct) {
    if (ct == NULL) return;
    jf_expr_free(ct->program);
    ct->program = NULL;
}

json_t *jf_task_to_json(const jf_task *t) {
    json_t *goal = t->goal_is_sum ? json_pack("{ss sI}", "sum", "amount_fen", "target", (json_int_t)t->goal)
                                  : json_pack("{sI}", "count", (json_int_t)t->goal);
    return json_pack("{ss ss ss ss so sI ss sb}", "name", t->name, "period", jf_task_period_name(t->period),
                     "event_type", t->event_type, "when", t->when, "goal", goal, "reward_points",
                     (json_int_t)t->reward_points, "completion", t->claim ? "claim" : "auto", "enabled", t->enabled);
}

bool jf_task_period_bounds(const jf_task *t, const char *tz, int64_t ms, int64_t *start_ms, int64_t *end_ms) {
    jf_period p;
    switch (t->period) {
    case JF_TASK_DAILY: p = JF_PERIOD_DAY; break;
    case JF_TASK_WEEKLY: p = JF_PERIOD_WEEK; break;
    case JF_TASK_MONTHLY: p = JF_PERIOD_MONTH; break;
    case JF_TASK_ONCE:
    default:
        *start_ms = 0;
        *end_ms = INT64_MAX;
        return true;
    }
    return jf_tz_period_start(tz, ms, p, start_ms) && jf_tz_period_next(tz, ms, p, end_ms);
}

/* ---- progress ---- */

static jf_code load_progress(jf_store *s, int64_t task_id, int64_t member_id, int64_t period_start,
                             jf_progress_row *p, jf_error *err) {
    jf_code rc = ST(s, progress_get, task_id, member_id, period_start, p, err);
    if (rc == JF_NOT_FOUND) {
        memset(p, 0, sizeof *p);
        p->task_id = task_id;
        p->member_id = member_id;
        p->period_start_ms = period_start;
        jf_error_clear(err);
        return JF_OK;
    }
    return rc;
}

static jf_code reward(const jf_ctx *c, const jf_task *t, const jf_member *m, int64_t period_start, jf_error *err) {
    char key[48];
    snprintf(key, sizeof key, "%lld:%lld", (long long)t->id, (long long)m->id);
    char biz_no[JF_BIZ_NO_LEN_MAX + 1];
    jf_derived_biz_no("tk", key, period_start, biz_no);
    char reason[JF_REASON_BYTES_MAX + 1];
    snprintf(reason, sizeof reason, "task %lld v%lld", (long long)t->id, (long long)t->version);
    jf_earn_req r = {.member_id = m->ext_id, .points = t->reward_points, .biz_no = biz_no, .scene = "task",
                     .reason = reason};
    jf_result res;
    return jf_earn(c, &r, &res, err);
}

static void state_from(jf_task_state *st, const jf_task *t, int64_t start, int64_t end, const jf_progress_row *p) {
    memset(st, 0, sizeof *st);
    st->task_id = t->id;
    st->task_version = t->version;
    JF_COPY(st->name, t->name);
    st->period = t->period;
    st->goal_is_sum = t->goal_is_sum;
    st->claim = t->claim;
    st->goal = t->goal;
    st->reward_points = t->reward_points;
    st->period_start_ms = start;
    st->period_end_ms = end;
    st->progress = p->progress;
    st->completed = p->completed_at_ms != 0;
    st->rewarded = p->rewarded_at_ms != 0;
}

jf_code jf_task_advance(const jf_ctx *c, const jf_compiled_task *ct, const jf_member *m, const jf_event *ev,
                        const jf_member_facts *facts, const jf_civil *civil, bool dry_run, jf_task_state *out,
                        bool *touched, jf_error *err) {
    const jf_task *t = &ct->task;
    *touched = false;
    if (strcmp(t->event_type, ev->type) != 0) return JF_OK;
    if (t->goal_is_sum && !ev->has_amount) return JF_OK;
    char why[8];
    if (!jf_event_condition(ct->program, ev, facts, civil, why, sizeof why)) return JF_OK;
    int64_t start, end;
    if (!jf_task_period_bounds(t, c->tenant->timezone, ev->occurred_at_ms, &start, &end))
        return jf_fail(err, JF_INTERNAL, "", "cannot compute the task period");
    jf_progress_row p;
    if (m->id != 0) TRY(load_progress(c->store, t->id, m->id, start, &p, err));
    else memset(&p, 0, sizeof p);
    *touched = true;
    if (p.completed_at_ms != 0) {
        /* Done for this period: progress stops at the count that reached
         * the goal, and the row is not written again (a one-time task
         * would otherwise rewrite it with every later event of its type,
         * forever). */
        state_from(out, t, start, end, &p);
        return JF_OK;
    }
    int64_t step = t->goal_is_sum ? ev->amount_fen : 1;
    p.progress = p.progress > JF_QUANTITY_MAX - step ? JF_QUANTITY_MAX : p.progress + step;
    int64_t awarded = 0;
    if (p.progress >= t->goal) {
        p.completed_at_ms = c->now_ms;
        if (!t->claim) {
            if (!dry_run) TRY(reward(c, t, m, start, err));
            p.rewarded_at_ms = c->now_ms;
            awarded = t->reward_points;
        }
    }
    p.tenant_id = c->tenant->id;
    p.task_id = t->id;
    p.member_id = m->id;
    p.period_start_ms = start;
    p.task_version = t->version;
    p.updated_at_ms = c->now_ms;
    if (!dry_run) TRY(ST(c->store, progress_put, &p, err));
    state_from(out, t, start, end, &p);
    out->points_awarded = awarded;
    return JF_OK;
}

jf_code jf_tasks_of_member(const jf_ctx *c, const char *member_id, jf_task_state *out, size_t *n, jf_error *err) {
    *n = 0;
    jf_member m;
    memset(&m, 0, sizeof m);
    jf_code rc = jf_member_get(c, member_id, &m, err);
    if (rc == JF_NOT_FOUND) {
        jf_error_clear(err);
        m.id = 0;
    } else if (rc != JF_OK) {
        return rc;
    }
    jf_ruleset *rs;
    TRY(jf_ruleset_acquire(c->store, c->tenant->id, &rs, err));
    for (size_t i = 0; i < rs->task_count && rc == JF_OK; i++) {
        const jf_task *t = &rs->tasks[i].task;
        int64_t start, end;
        if (!jf_task_period_bounds(t, c->tenant->timezone, c->now_ms, &start, &end)) continue;
        jf_progress_row p;
        memset(&p, 0, sizeof p);
        if (m.id != 0) rc = load_progress(c->store, t->id, m.id, start, &p, err);
        if (rc == JF_OK) state_from(&out[(*n)++], t, start, end, &p);
    }
    jf_ruleset_release(rs);
    return rc;
}

jf_code jf_task_claim(const jf_ctx *c, const char *member_id, int64_t task_id, jf_task_state *out, jf_error *err) {
    jf_member m;
    bool created = false;
    TRY(jf_member_upsert(c, member_id, -1, &m, &created, err));
    jf_rule_row row;
    jf_code rc = ST(c->store, rule_get, c->tenant->id, task_id, false, &row, err);
    if (rc == JF_NOT_FOUND || (rc == JF_OK && row.kind != JF_DEF_TASK))
        return jf_fail(err, JF_NOT_FOUND, "task_id", "no task %lld", (long long)task_id);
    TRY(rc);
    json_error_t jerr;
    json_t *def = json_loads(row.definition, 0, &jerr);
    jf_task t;
    rc = jf_task_parse(def, &t, NULL, err);
    json_decref(def);
    TRY(rc);
    t.id = row.id;
    t.version = row.version;
    int64_t start, end;
    if (!jf_task_period_bounds(&t, c->tenant->timezone, c->now_ms, &start, &end))
        return jf_fail(err, JF_INTERNAL, "", "cannot compute the task period");
    jf_progress_row p;
    TRY(load_progress(c->store, t.id, m.id, start, &p, err));
    if (!t.claim) return jf_fail(err, JF_INVALID_STATE, "task_id", "task %lld rewards automatically; there is nothing to claim", (long long)t.id);
    if (p.completed_at_ms == 0)
        return jf_fail(err, JF_INVALID_STATE, "task_id", "task %lld is not completed: %lld of %lld", (long long)t.id,
                       (long long)p.progress, (long long)t.goal);
    int64_t awarded = 0;
    if (p.rewarded_at_ms == 0) {
        TRY(reward(c, &t, &m, start, err));
        p.rewarded_at_ms = c->now_ms;
        p.updated_at_ms = c->now_ms;
        TRY(ST(c->store, progress_put, &p, err));
        awarded = t.reward_points;
    }
    state_from(out, &t, start, end, &p);
    out->points_awarded = awarded;
    return JF_OK;
}
