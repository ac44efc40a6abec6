/*
 * test_events.c — the earning engine over the store (events.h): what the
 * black-box tests cannot see.
 *   - an event's answer encodes and decodes to the same outcome, at the
 *     largest it can be (100 awards with the longest names and
 *     explanations, 50 tasks, 100 reversals), and a malformed one is refused;
 *   - the campaign budget is read from the rule's counter, not summed from
 *     the rule's awards on every event; saving the rule recounts it;
 *   - an event recorded before answers were kept still replays (from its
 *     award rows).
 * Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/events.h"
#include "fixture.h"

TestSuite(events, .init = fx_setup, .fini = fx_teardown);

/* ---- the answer's encoding ---- */

static void fill_text(char *out, size_t len, char c) {
    memset(out, c, len);
    out[len] = '\0';
}

/* The largest outcome: every list full, every string at its longest and
 * full of characters JSON escapes. */
static jf_event_outcome *largest_outcome(void) {
    jf_event_outcome *o = calloc(1, sizeof *o);
    cr_assert_not_null(o);
    o->is_refund = true;
    o->member_known = true;
    o->member = (jf_member){.id = 7, .tenant_id = 1, .status = JF_MEMBER_FROZEN, .entry_seq = 99,
                            .created_at_ms = FX_T0, .updated_at_ms = FX_T0 + 5};
    o->member.acct = (jf_account){1, 2, 3, 4, 5, 6, 7};
    fill_text(o->member.ext_id, JF_MEMBER_ID_LEN_MAX, '"');
    o->occurred_at_ms = FX_T0 - 1;
    o->points_total = JF_POINTS_MAX;
    o->award_count = JF_RULES_PER_TENANT_MAX;
    for (size_t i = 0; i < o->award_count; i++) {
        jf_award *a = &o->awards[i];
        a->rule_id = (int64_t)i + 1;
        a->rule_version = 3;
        a->status = (jf_award_status)(i % 4);
        a->points = a->computed_points = (int64_t)i * 1000;
        a->capped = i % 2;
        a->available_at_ms = i % 3 ? FX_T0 + (int64_t)i : 0;
        a->expires_at_ms = FX_T0 + FX_DAY;
        fill_text(a->rule_name, JF_RULE_NAME_BYTES_MAX, '\\');
        fill_text(a->explanation, JF_EXPLANATION_BYTES_MAX, '"');
        a->explanation[i] = (char)(1 + i % 31); /* control characters travel as \u00XX */
        memcpy(a->explanation + 200, "积分 ×3 → 384", strlen("积分 ×3 → 384"));
    }
    o->task_count = JF_TASKS_PER_TENANT_MAX;
    for (size_t i = 0; i < o->task_count; i++) {
        jf_task_state *t = &o->tasks[i];
        *t = (jf_task_state){.task_id = (int64_t)i + 1000, .task_version = 2, .period = JF_TASK_WEEKLY,
                             .goal_is_sum = true, .claim = i % 2, .goal = 10000, .reward_points = 30,
                             .period_start_ms = FX_T0, .period_end_ms = INT64_MAX, .progress = 42,
                             .completed = true, .rewarded = i % 2 == 0, .points_awarded = 30};
        fill_text(t->name, JF_RULE_NAME_BYTES_MAX, '"');
    }
    fill_text(o->refund_of, JF_EVENT_ID_LEN_MAX, '\\');
    o->refund_fen = 2500;
    o->refunded_fen = 5000;
    o->order_fen = 10000;
    o->reversed_total = 77;
    o->reversal_count = JF_RULES_PER_TENANT_MAX;
    for (size_t i = 0; i < o->reversal_count; i++) {
        jf_reversal *x = &o->reversals[i];
        *x = (jf_reversal){.rule_id = (int64_t)i + 1, .rule_version = 1, .awarded = 100, .reversed_now = 25,
                           .reversed_total = 50, .debt_points = 3, .clamped_points = 1};
        fill_text(x->biz_no, JF_BIZ_NO_LEN_MAX, 'b');
    }
    return o;
}

Test(events, answer_round_trip_at_the_largest) {
    jf_event_outcome *o = largest_outcome();
    char *text = jf_event_answer_encode(o);
    cr_assert_not_null(text, "the largest answer fits JF_EVENT_ANSWER_BYTES_MAX");
    cr_assert_leq(strlen(text), (size_t)JF_EVENT_ANSWER_BYTES_MAX);
    jf_event_outcome *back = calloc(1, sizeof *back);
    jf_error err = {0};
    cr_assert_eq(jf_event_answer_decode(text, back, &err), JF_OK, "%s", err.detail);
    /* It encodes to the same text again (every field of the answer is in
     * the text), and the fields came back where they were. */
    char *again = jf_event_answer_encode(back);
    cr_assert_str_eq(again, text);
    cr_assert_eq(back->award_count, o->award_count);
    cr_assert_eq(back->task_count, o->task_count);
    cr_assert_eq(back->reversal_count, o->reversal_count);
    cr_assert(back->is_refund && back->member_known);
    cr_assert_eq(memcmp(&back->member.acct, &o->member.acct, sizeof o->member.acct), 0);
    cr_assert_str_eq(back->member.ext_id, o->member.ext_id);
    cr_assert_eq(back->member.updated_at_ms, o->member.updated_at_ms);
    const jf_award *a = &back->awards[99], *b = &o->awards[99];
    cr_assert(a->rule_id == b->rule_id && a->status == b->status && a->points == b->points && a->capped == b->capped &&
              a->available_at_ms == b->available_at_ms && a->expires_at_ms == b->expires_at_ms);
    cr_assert_str_eq(a->rule_name, b->rule_name);
    cr_assert_str_eq(a->explanation, b->explanation);
    cr_assert_eq(back->tasks[49].period_end_ms, INT64_MAX);
    cr_assert_str_eq(back->tasks[49].name, o->tasks[49].name);
    cr_assert_eq(back->reversals[99].debt_points, 3);
    cr_assert_str_eq(back->refund_of, o->refund_of);
    free(again);
    free(text);
    free(back);
    free(o);
}

Test(events, answer_malformed_is_internal) {
    jf_event_outcome *o = largest_outcome();
    o->award_count = 1;
    o->task_count = 1;
    o->reversal_count = 1;
    char *good = jf_event_answer_encode(o);
    const char *bad[] = {
        "", "[]", "{\"v\":2}", "not json",
        "{\"v\":1,\"t\":0,\"p\":0,\"m\":[1],\"a\":[],\"k\":[]}",                    /* short member */
        "{\"v\":1,\"t\":0,\"p\":0,\"m\":[1,1,0,0,0,0,0,0,0,0,0,0,0,\"m\"],\"a\":[[1]],\"k\":[]}", /* short award */
        "{\"v\":1,\"t\":0,\"p\":0,\"m\":[1,1,0,0,0,0,0,0,0,0,0,0,0,7],\"a\":[],\"k\":[]}",       /* ext_id not text */
        "{\"v\":1,\"t\":0,\"p\":0,\"m\":[1,1,0,0,0,0,0,0,0,0,0,0,0,\"m\"],\"a\":{},\"k\":[]}",  /* awards not a list */
        "{\"v\":1,\"t\":0,\"p\":0,\"m\":[1,1,0,0,0,0,0,0,0,0,0,0,0,\"m\"],\"a\":[],\"k\":[],\"r\":[1]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jf_event_outcome *x = calloc(1, sizeof *x);
        jf_error err = {0};
        cr_assert_eq(jf_event_answer_decode(bad[i], x, &err), JF_INTERNAL, "accepted: %s", bad[i]);
        free(x);
    }
    /* A string longer than its field is refused, not cut. */
    json_error_t je;
    json_t *doc = json_loads(good, 0, &je);
    cr_assert_not_null(doc);
    char longer[JF_RULE_NAME_BYTES_MAX + 2];
    fill_text(longer, JF_RULE_NAME_BYTES_MAX + 1, 'x');
    json_array_set_new(json_array_get(json_object_get(doc, "a"), 0), 8, json_string(longer));
    char *text = json_dumps(doc, JSON_COMPACT);
    jf_event_outcome *x = calloc(1, sizeof *x);
    jf_error err = {0};
    cr_assert_eq(jf_event_answer_decode(text, x, &err), JF_INTERNAL);
    free(x);
    free(text);
    json_decref(doc);
    free(good);
    free(o);
}

/* ---- the engine over the store ---- */

typedef struct {
    jf_def_kind kind;
    const char *json;
    int64_t id;
} def_arg;

static jf_code save_def(jf_store *s, void *arg, jf_error *err) {
    def_arg *d = arg;
    jf_ctx c = {.store = s, .tenant = &fx.tenant, .now_ms = FX_T0};
    json_error_t je;
    json_t *def = json_loads(d->json, 0, &je);
    cr_assert_not_null(def, "%s", je.text);
    jf_rule_row row;
    jf_code rc = jf_definition_save(&c, d->kind, d->id, def, &row, err);
    json_decref(def);
    d->id = row.id;
    return rc;
}

static int64_t rule_ok(const char *json) {
    def_arg d = {JF_DEF_RULE, json, 0};
    jf_error err = {0};
    jf_code rc = fx_tx(&fx, save_def, &d, &err);
    cr_assert_eq(rc, JF_OK, "%s: %s", jf_code_name(rc), err.detail);
    return d.id;
}

typedef struct {
    jf_event ev;
    const char *refund_of;
    int64_t refund_fen;
    jf_event_outcome out;
} event_arg;

static jf_code process(jf_store *s, void *arg, jf_error *err) {
    event_arg *e = arg;
    jf_ctx c = {.store = s, .tenant = &fx.tenant, .now_ms = FX_T0};
    uint8_t fp[JF_HASH_BYTES] = {0};
    snprintf((char *)fp, sizeof fp, "%s", e->ev.event_id); /* any stable fingerprint per event_id */
    return jf_event_process(&c, &e->ev, e->refund_of, e->refund_fen, fp, false, &e->out, err);
}

/* Post an event (an order of fen, or a refund of refund_of), asserting it
 * is accepted; the outcome is in the returned (freed by the caller) arg. */
static event_arg *post(const char *type, const char *member, const char *event_id, int64_t fen,
                       const char *refund_of) {
    event_arg *e = calloc(1, sizeof *e);
    e->ev = (jf_event){.type = type, .event_id = event_id, .member_id = member, .occurred_at_ms = FX_T0};
    e->refund_of = refund_of;
    e->refund_fen = -1;
    if (refund_of) {
        e->refund_fen = fen;
    } else if (fen >= 0) {
        e->ev.has_amount = true;
        e->ev.amount_fen = fen;
    }
    jf_error err = {0};
    jf_code rc = fx_tx(&fx, process, e, &err);
    cr_assert_eq(rc, JF_OK, "%s %s: %s: %s", type, event_id, jf_code_name(rc), err.detail);
    return e;
}

static int64_t post_points(const char *type, const char *member, const char *event_id, int64_t fen) {
    event_arg *e = post(type, member, event_id, fen, NULL);
    int64_t p = e->out.points_total;
    free(e);
    return p;
}

static int64_t budget_counter(int64_t rule_id) {
    jf_error err = {0};
    int64_t points = -1;
    cr_assert_eq(fx.store->ops->begin_read(fx.store, &err), JF_OK);
    jf_code rc = fx.store->ops->rule_budget_get(fx.store, fx.tenant.id, rule_id, false, &points, &err);
    fx.store->ops->rollback(fx.store);
    cr_assert_eq(rc, JF_OK, "%s", err.detail);
    return points;
}

Test(events, budget_comes_from_the_counter) {
    int64_t id = rule_ok("{\"name\":\"b\",\"event_type\":\"order.paid\",\"award\":{\"points\":40},"
                         "\"caps\":{\"budget\":100}}");
    cr_assert_eq(budget_counter(id), 0, "a rule saved with a budget has a counter");
    cr_assert_eq(post_points("order.paid", "m1", "o1", 1000), 40);
    cr_assert_eq(post_points("order.paid", "m2", "o2", 1000), 40);
    cr_assert_eq(post_points("order.paid", "m3", "o3", 1000), 20, "one past the budget");
    cr_assert_eq(post_points("order.paid", "m4", "o4", 1000), 0, "the budget is spent");
    free(post("order.refunded", "m1", "r1", 250, "o1")); /* a quarter: 10 points back */
    cr_assert_eq(post_points("order.paid", "m5", "o5", 1000), 10);
    cr_assert_eq(budget_counter(id), 100);
    /* Events read the counter, not the awards: with the award rows zeroed
     * behind the engine's back the budget is still spent. */
    jf_error err = {0};
    cr_assert_eq(jf_store_exec_raw(fx.store, "UPDATE awards SET points = 0, reversed = 0", &err), JF_OK, "%s",
                 err.detail);
    cr_assert_eq(post_points("order.paid", "m6", "o6", 1000), 0, "the counter says the budget is spent");
    cr_assert_eq(jf_store_exec_raw(fx.store, "UPDATE awards SET points = 40 WHERE event_id <> 'o3'", &err), JF_OK,
                 "%s", err.detail);
    cr_assert_eq(jf_store_exec_raw(fx.store, "UPDATE awards SET points = 20 WHERE event_id = 'o3'", &err), JF_OK,
                 "%s", err.detail);
    cr_assert_eq(jf_store_exec_raw(fx.store, "UPDATE awards SET points = 10 WHERE event_id = 'o5'", &err), JF_OK,
                 "%s", err.detail);
    cr_assert_eq(jf_store_exec_raw(fx.store, "UPDATE awards SET reversed = 10 WHERE event_id = 'o1'", &err), JF_OK,
                 "%s", err.detail);
    /* Saving the rule recounts from the awards (once, not per event). */
    def_arg d = {JF_DEF_RULE,
                 "{\"name\":\"b2\",\"event_type\":\"order.paid\",\"award\":{\"points\":40},\"caps\":{\"budget\":130}}",
                 id};
    cr_assert_eq(fx_tx(&fx, save_def, &d, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(budget_counter(id), 100);
    cr_assert_eq(post_points("order.paid", "m7", "o7", 1000), 30);
    fx_verify_clean(&fx);
}

Test(events, an_event_recorded_before_answers_were_kept_replays_from_its_rows) {
    rule_ok("{\"name\":\"rate\",\"event_type\":\"order.paid\",\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}}}");
    rule_ok("{\"name\":\"never\",\"event_type\":\"order.paid\",\"when\":\"amount_fen > 99999999\",\"award\":{\"points\":1}}");
    event_arg *first = post("order.paid", "m1", "o1", 12800, NULL);
    cr_assert_eq(first->out.points_total, 128);
    /* As a database migrated from schema 2 has it: the event without an answer. */
    jf_error err = {0};
    cr_assert_eq(jf_store_exec_raw(fx.store, "UPDATE events SET answer_id = 0", &err), JF_OK, "%s", err.detail);
    event_arg *again = post("order.paid", "m1", "o1", 12800, NULL);
    cr_assert(again->out.replayed);
    cr_assert_eq(again->out.points_total, 128);
    cr_assert_eq(again->out.award_count, 1, "the awards given (the rule that gave nothing left no row)");
    cr_assert_eq(again->out.awards[0].points, 128);
    cr_assert_str_eq(again->out.awards[0].explanation, first->out.awards[0].explanation);
    cr_assert_eq(again->out.member.acct.available, 128);
    free(first);
    free(again);
}
