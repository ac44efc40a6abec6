/*
 * test_events.c — the earning engine over the store (events.h): what the
 * black-box tests cannot see.
 *   - an event's answer encodes and decodes to the same outcome, at the
 *     largest it can be (100 awards with the longest names and
 *     explanations, 50 tasks, 100 reversals), and a malformed one is refused;
 *   - the campaign budget is read from the rule's counter, not summed from
 *     the rule's awards on every event; saving the rule recounts it;
 *   - an event recorded before answers were kept still replays (from its
 *     award rows);
 *   - the awards of an event are entries of one member operation, named by
 *     their award rows (no idempotency record each); a refund reverses
 *     them through those entries, and an award written before rows named
 *     their entry through its earn's idempotency record; an event failing
 *     after its first award leaves nothing in the committer's batch.
 *   - member.orders_count counts the orders recorded before the first rule
 *     that reads it (SQLite indexes a tenant's orders only from then on).
 * Runs on SQLite and, in the PostgreSQL pass, on PostgreSQL.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/events.h"
#include "engine/internal.h"
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

/* Every field the kept answer holds is the same in a and b.  Version 2
 * leaves out the member's ids and the rules' and tasks' names (the replay
 * fills them in: a_replay_names_the_rules_and_tasks_as_they_were). */
static void same_outcome(const jf_event_outcome *a, const jf_event_outcome *b) {
    cr_assert_eq(a->occurred_at_ms, b->occurred_at_ms);
    cr_assert_eq(a->points_total, b->points_total);
    cr_assert_eq(a->member_known, b->member_known);
    cr_assert_eq(a->member.status, b->member.status);
    cr_assert_eq(memcmp(&a->member.acct, &b->member.acct, sizeof a->member.acct), 0);
    cr_assert_eq(a->member.entry_seq, b->member.entry_seq);
    cr_assert_eq(a->member.created_at_ms, b->member.created_at_ms);
    cr_assert_eq(a->member.updated_at_ms, b->member.updated_at_ms);
    cr_assert_eq(a->award_count, b->award_count);
    for (size_t i = 0; i < a->award_count; i++) {
        const jf_award *x = &a->awards[i], *y = &b->awards[i];
        cr_assert(x->rule_id == y->rule_id && x->rule_version == y->rule_version && x->status == y->status &&
                      x->points == y->points && x->computed_points == y->computed_points && x->capped == y->capped &&
                      x->available_at_ms == y->available_at_ms && x->expires_at_ms == y->expires_at_ms,
                  "award %zu", i);
        cr_assert_str_eq(x->explanation, y->explanation, "award %zu", i);
    }
    cr_assert_eq(a->task_count, b->task_count);
    for (size_t i = 0; i < a->task_count; i++) {
        const jf_task_state *x = &a->tasks[i], *y = &b->tasks[i];
        cr_assert(x->task_id == y->task_id && x->task_version == y->task_version && x->period == y->period &&
                      x->goal_is_sum == y->goal_is_sum && x->claim == y->claim && x->goal == y->goal &&
                      x->reward_points == y->reward_points && x->period_start_ms == y->period_start_ms &&
                      x->period_end_ms == y->period_end_ms && x->progress == y->progress &&
                      x->completed == y->completed && x->rewarded == y->rewarded &&
                      x->points_awarded == y->points_awarded,
                  "task %zu", i);
    }
    cr_assert_eq(a->is_refund, b->is_refund);
    if (!a->is_refund) return;
    cr_assert(a->refund_fen == b->refund_fen && a->refunded_fen == b->refunded_fen && a->order_fen == b->order_fen &&
              a->reversed_total == b->reversed_total);
    cr_assert_str_eq(a->refund_of, b->refund_of);
    cr_assert_eq(a->reversal_count, b->reversal_count);
    for (size_t i = 0; i < a->reversal_count; i++) {
        const jf_reversal *x = &a->reversals[i], *y = &b->reversals[i];
        cr_assert(x->rule_id == y->rule_id && x->rule_version == y->rule_version && x->awarded == y->awarded &&
                      x->reversed_now == y->reversed_now && x->reversed_total == y->reversed_total &&
                      x->debt_points == y->debt_points && x->clamped_points == y->clamped_points,
                  "reversal %zu", i);
        cr_assert_str_eq(x->biz_no, y->biz_no, "reversal %zu", i);
    }
}

/* decode(encode(o)), asserted to succeed; the caller frees it. */
static jf_event_outcome *round_trip(const jf_event_outcome *o, char **text_out) {
    char *text = jf_event_answer_encode(o);
    cr_assert_not_null(text);
    jf_event_outcome *back = calloc(1, sizeof *back);
    jf_error err = {0};
    cr_assert_eq(jf_event_answer_decode(text, back, &err), JF_OK, "%s: %s", err.detail, text);
    if (text_out) *text_out = text;
    else free(text);
    return back;
}

Test(events, answer_round_trip_at_the_largest) {
    jf_event_outcome *o = largest_outcome();
    char *text = NULL;
    jf_event_outcome *back = round_trip(o, &text);
    cr_assert_leq(strlen(text), (size_t)JF_EVENT_ANSWER_BYTES_MAX, "the largest answer fits");
    same_outcome(back, o);
    cr_assert(back->is_refund && back->member_known);
    /* What the replay fills in is not kept. */
    cr_assert(back->member.id == 0 && back->member.tenant_id == 0 && back->member.ext_id[0] == '\0');
    cr_assert(back->awards[0].rule_name[0] == '\0' && back->tasks[0].name[0] == '\0');
    char *again = jf_event_answer_encode(back);
    cr_assert_str_eq(again, text, "it encodes to the same text again");
    free(again);
    free(text);
    free(back);
    free(o);
}

/* A string of random pieces: phrases, parts of phrases, control and escape
 * bytes, the format's own punctuation, digits, UTF-8. */
static void random_text(unsigned *seed, char *out, size_t cap) {
    size_t np = 0;
    while (jf_answer_phrase(np) != NULL) np++;
    static const char *const bits[] = {",", ":", "1", "-", "12,800", "积分", "→", "×3", " ", ";", "t", "c", "2,",
                                       "\x1f", "\x01", "\x1e", "\x7f", "\xc3\xa9", "the condition is tru", "; not"};
    size_t o = 0, pieces = (size_t)rand_r(seed) % 12;
    for (size_t k = 0; k < pieces; k++) {
        int pick = rand_r(seed) % 4;
        const char *piece;
        size_t len;
        if (pick == 0) {
            piece = jf_answer_phrase((size_t)rand_r(seed) % np);
            len = strlen(piece);
        } else if (pick == 1) { /* a phrase cut short */
            piece = jf_answer_phrase((size_t)rand_r(seed) % np);
            len = (size_t)rand_r(seed) % strlen(piece);
        } else if (pick == 2) {
            piece = bits[(size_t)rand_r(seed) % (sizeof bits / sizeof bits[0])];
            len = strlen(piece);
        } else {
            char c = (char)(1 + rand_r(seed) % 126);
            piece = &c;
            len = 1;
            if (o + len < cap) out[o++] = c;
            continue;
        }
        if (o + len >= cap) break;
        memcpy(out + o, piece, len);
        o += len;
    }
    out[o] = '\0';
}

static int64_t random_int(unsigned *seed) {
    static const int64_t edges[] = {0, 1, -1, INT64_MIN, INT64_MAX, 1700000000000, 9, 10, -10, 100000000};
    if (rand_r(seed) % 2) return edges[(size_t)rand_r(seed) % (sizeof edges / sizeof edges[0])];
    return ((int64_t)rand_r(seed) << 32 | (int64_t)rand_r(seed)) - (int64_t)rand_r(seed) * 1000;
}

Test(events, answer_round_trip_of_random_outcomes) {
    unsigned seed = 5;
    jf_event_outcome *o = calloc(1, sizeof *o);
    for (int iter = 0; iter < 3000; iter++) {
        memset(o, 0, sizeof *o);
        o->member_known = true;
        o->occurred_at_ms = random_int(&seed);
        o->points_total = random_int(&seed);
        o->member.status = (jf_member_status)(rand_r(&seed) % 3);
        int64_t *acct = &o->member.acct.available;
        for (size_t i = 0; i < sizeof o->member.acct / sizeof *acct; i++) acct[i] = random_int(&seed);
        o->member.entry_seq = random_int(&seed);
        o->member.created_at_ms = random_int(&seed);
        o->member.updated_at_ms = random_int(&seed);
        o->award_count = (size_t)rand_r(&seed) % 6;
        for (size_t i = 0; i < o->award_count; i++) {
            jf_award *a = &o->awards[i];
            *a = (jf_award){.rule_id = random_int(&seed), .rule_version = random_int(&seed),
                            .status = (jf_award_status)(rand_r(&seed) % 4), .points = random_int(&seed),
                            .computed_points = random_int(&seed), .capped = rand_r(&seed) % 2,
                            .available_at_ms = random_int(&seed), .expires_at_ms = random_int(&seed)};
            random_text(&seed, a->explanation, sizeof a->explanation);
        }
        o->task_count = (size_t)rand_r(&seed) % 3;
        for (size_t i = 0; i < o->task_count; i++) {
            jf_task_state *t = &o->tasks[i];
            *t = (jf_task_state){.task_id = random_int(&seed), .task_version = random_int(&seed),
                                 .period = (jf_task_period)(rand_r(&seed) % 4), .goal_is_sum = rand_r(&seed) % 2,
                                 .claim = rand_r(&seed) % 2, .goal = random_int(&seed),
                                 .reward_points = random_int(&seed), .period_start_ms = random_int(&seed),
                                 .period_end_ms = random_int(&seed), .progress = random_int(&seed),
                                 .completed = rand_r(&seed) % 2, .rewarded = rand_r(&seed) % 2,
                                 .points_awarded = random_int(&seed)};
        }
        o->is_refund = rand_r(&seed) % 3 == 0;
        if (o->is_refund) {
            o->refund_fen = random_int(&seed);
            o->refunded_fen = random_int(&seed);
            o->order_fen = random_int(&seed);
            o->reversed_total = random_int(&seed);
            random_text(&seed, o->refund_of, sizeof o->refund_of);
            o->reversal_count = (size_t)rand_r(&seed) % 4;
            for (size_t i = 0; i < o->reversal_count; i++) {
                jf_reversal *x = &o->reversals[i];
                *x = (jf_reversal){.rule_id = random_int(&seed), .rule_version = random_int(&seed),
                                   .awarded = random_int(&seed), .reversed_now = random_int(&seed),
                                   .reversed_total = random_int(&seed), .debt_points = random_int(&seed),
                                   .clamped_points = random_int(&seed)};
                random_text(&seed, x->biz_no, sizeof x->biz_no);
            }
        }
        jf_event_outcome *back = round_trip(o, NULL);
        same_outcome(back, o);
        free(back);
    }
    free(o);
}

/* The encoder looks for a phrase only at the bytes that start one. */
Test(events, answer_phrases_start_where_the_encoder_looks) {
    size_t n = 0;
    while (jf_answer_phrase(n) != NULL) n++;
    cr_assert_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        const char *ph = jf_answer_phrase(i);
        cr_assert_gt(strlen(ph), 1, "phrase %zu saves bytes", i);
        cr_assert(jf_answer_phrase_may_start((unsigned char)ph[0]), "phrase %zu: %s", i, ph);
        for (const char *p = ph; *p; p++) cr_assert_geq((unsigned char)*p, ' ', "phrase %zu", i);
        for (size_t k = 0; k < i; k++) cr_assert_str_neq(ph, jf_answer_phrase(k));
    }
    /* The demo's order: the answer of an order with five rules and a task is
     * about a third of the ~620 bytes of version 1. */
    jf_event_outcome *o = calloc(1, sizeof *o);
    o->member_known = true;
    o->occurred_at_ms = FX_T0;
    o->points_total = 123;
    o->member = (jf_member){.status = JF_MEMBER_ACTIVE, .entry_seq = 40, .created_at_ms = FX_T0 - FX_DAY,
                            .updated_at_ms = FX_T0};
    o->member.acct = (jf_account){.available = 4567, .earned = 4567};
    const char *expl[] = {"12,345 fen → 123 points at 1 per 100 fen",
                          "100 points; not awarded: once per member, already awarded ever",
                          "30 points; not awarded: once per month, already awarded this month",
                          "the condition is false", "the condition is false"};
    o->award_count = 5;
    for (size_t i = 0; i < 5; i++) {
        o->awards[i] = (jf_award){.rule_id = (int64_t)i + 1, .rule_version = 1,
                                  .status = i == 0 ? JF_AWARD_GIVEN : i < 3 ? JF_AWARD_LIMITED : JF_AWARD_NO_MATCH,
                                  .points = i == 0 ? 123 : 0, .computed_points = i == 0 ? 123 : 0};
        snprintf(o->awards[i].explanation, sizeof o->awards[i].explanation, "%s", expl[i]);
    }
    o->task_count = 1;
    o->tasks[0] = (jf_task_state){.task_id = 15, .task_version = 1, .period = JF_TASK_WEEKLY, .goal = 3,
                                  .reward_points = 30, .period_start_ms = FX_T0, .period_end_ms = FX_T0 + 7 * FX_DAY,
                                  .progress = 2};
    char *text = NULL;
    jf_event_outcome *back = round_trip(o, &text);
    same_outcome(back, o);
    cr_assert_lt(strlen(text), 240, "%zu bytes: %s", strlen(text), text);
    free(text);
    free(back);
    free(o);
}

/* text is read, its one award's explanation is expl. */
static void x_ok(const char *text, const char *expl) {
    jf_event_outcome *x = calloc(1, sizeof *x);
    jf_error err = {0};
    cr_assert_eq(jf_event_answer_decode(text, x, &err), JF_OK, "%s: %s", err.detail, text);
    cr_assert_eq(x->award_count, 1);
    cr_assert_str_eq(x->awards[0].explanation, expl);
    free(x);
}

static void refused(const char *text, const char *why) {
    jf_event_outcome *x = calloc(1, sizeof *x);
    jf_error err = {0};
    cr_assert_eq(jf_event_answer_decode(text, x, &err), JF_INTERNAL, "%s accepted: %s", why, text);
    free(x);
}

Test(events, answer_malformed_is_internal) {
    /* Version 1 (JSON), as kept before. */
    const char *bad_v1[] = {
        "{}", "[]", "{\"v\":2}", "{not json",
        "{\"v\":1,\"t\":0,\"p\":0,\"m\":[1],\"a\":[],\"k\":[]}",                    /* short member */
        "{\"v\":1,\"t\":0,\"p\":0,\"m\":[1,1,0,0,0,0,0,0,0,0,0,0,0,\"m\"],\"a\":[[1]],\"k\":[]}", /* short award */
        "{\"v\":1,\"t\":0,\"p\":0,\"m\":[1,1,0,0,0,0,0,0,0,0,0,0,0,7],\"a\":[],\"k\":[]}",       /* ext_id not text */
        "{\"v\":1,\"t\":0,\"p\":0,\"m\":[1,1,0,0,0,0,0,0,0,0,0,0,0,\"m\"],\"a\":{},\"k\":[]}",  /* awards not a list */
        "{\"v\":1,\"t\":0,\"p\":0,\"m\":[1,1,0,0,0,0,0,0,0,0,0,0,0,\"m\"],\"a\":[],\"k\":[],\"r\":[1]}",
    };
    for (size_t i = 0; i < sizeof bad_v1 / sizeof bad_v1[0]; i++) refused(bad_v1[i], "v1");
    char longer[JF_RULE_NAME_BYTES_MAX + 2];
    fill_text(longer, JF_RULE_NAME_BYTES_MAX + 1, 'x');
    char v1[1024];
    snprintf(v1, sizeof v1,
             "{\"v\":1,\"t\":0,\"p\":0,\"m\":[1,1,0,0,0,0,0,0,0,0,0,0,0,\"m\"],\"a\":[[1,1,0,0,0,0,0,0,\"%s\",\"e\"]],"
             "\"k\":[]}",
             longer);
    refused(v1, "v1: a name longer than its field");

    /* Version 2: every byte of a good answer is needed. */
    jf_event_outcome *o = largest_outcome();
    o->award_count = 3;
    o->task_count = 2;
    o->reversal_count = 2;
    char *good = jf_event_answer_encode(o);
    size_t n = strlen(good);
    char *cut = malloc(n + 1);
    for (size_t len = 0; len < n; len++) {
        memcpy(cut, good, len);
        cut[len] = '\0';
        refused(cut, "cut short");
    }
    free(cut);
    const char *bad_v2[] = {
        "", "2", "3,", "2,,,",
        "2,99999999999999999999,", /* too large */
        "2,--1,", "2,1a,", "2,-,",
        "2,,,,,,,,,,,,,,101,", /* more awards than rules */
    };
    for (size_t i = 0; i < sizeof bad_v2 / sizeof bad_v2[0]; i++) refused(bad_v2[i], "v2");
    /* One award with the explanation s, no task, no refund; then the tail. */
#define ONE_AWARD(s) "2,,,,,,,,,,,,,,1,,,,,,,,," s ",,,"
    const char *ok = ONE_AWARD("5:a\x1f\x02\x01z");
    x_ok(ok, "a\x02the condition is falsez");
    refused(ONE_AWARD("5:a\x1f\x02\x01z") "x", "something after the end");
    refused(ONE_AWARD("5:a\x1f\x02\x01z") ",", "a field too many");
    refused(ONE_AWARD("9:ab"), "a string longer than what is left");
    refused(ONE_AWARD("2:a\x1b"), "a control character neither a phrase nor escaped");
    refused(ONE_AWARD("2:a\x1f"), "an escape at the end");
    refused(ONE_AWARD("3:a\x1f!"), "an escape of a byte that needs none");
    refused(ONE_AWARD("1:\x1e"), "a phrase byte past the phrases");
    refused("2,,,,,,,,,,,,,,,,2,", "a refund flag neither 0 nor 1");
#undef ONE_AWARD
    /* An explanation whose phrases write out longer than its field. */
    char *many = calloc(1, JF_EVENT_ANSWER_BYTES_MAX);
    size_t k = (size_t)sprintf(many, "2,,,,,,,,,,,,,,1,,,,,,,,,%d:", JF_EXPLANATION_BYTES_MAX / 22 + 1);
    for (int i = 0; i <= JF_EXPLANATION_BYTES_MAX / 22; i++) many[k++] = '\x01'; /* 22 bytes each */
    memcpy(many + k, ",,,", 4);
    refused(many, "an explanation too long once written out");
    /* The same at the longest that fits is read. */
    k = (size_t)sprintf(many, "2,,,,,,,,,,,,,,1,,,,,,,,,%d:", JF_EXPLANATION_BYTES_MAX / 22);
    for (int i = 0; i < JF_EXPLANATION_BYTES_MAX / 22; i++) many[k++] = '\x01';
    memcpy(many + k, ",,,", 4);
    jf_event_outcome *x = calloc(1, sizeof *x);
    jf_error err = {0};
    cr_assert_eq(jf_event_answer_decode(many, x, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(strlen(x->awards[0].explanation), (size_t)(JF_EXPLANATION_BYTES_MAX / 22) * 22);
    free(x);
    free(many);
    /* Any byte changed: refused or read, never read past the text. */
    unsigned seed = 11;
    char *mutated = malloc(n + 1);
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(mutated, good, n + 1);
        for (int m = 0; m < 1 + iter % 3; m++) mutated[(size_t)rand_r(&seed) % n] = (char)(1 + rand_r(&seed) % 255);
        jf_event_outcome *y = calloc(1, sizeof *y);
        jf_error e2 = {0};
        (void)jf_event_answer_decode(mutated, y, &e2);
        free(y);
    }
    free(mutated);
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
    /* A cap: the award is a row with its explanation, as every award was
     * then (SQLite schema 11 keeps those of rules without a history in the
     * event's row, without it: the answer has it). */
    rule_ok("{\"name\":\"rate\",\"event_type\":\"order.paid\",\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}},"
            "\"caps\":{\"member_day\":100000}}");
    rule_ok("{\"name\":\"never\",\"event_type\":\"order.paid\",\"when\":\"amount_fen > 99999999\",\"award\":{\"points\":1}}");
    event_arg *first = post("order.paid", "m1", "o1", 12800, NULL);
    cr_assert_eq(first->out.points_total, 128);
    /* As a database migrated from schema 2 has it: the event without an answer. */
    jf_error err = {0};
    const char *forget = fx_backend_is_postgres() ? "UPDATE events SET answer_id = 0"
                                                  : "UPDATE events SET answer = '', answer_id = 0";
    cr_assert_eq(jf_store_exec_raw(fx.store, forget, &err), JF_OK, "%s", err.detail);
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

/* A kept answer (version 2) leaves out the names of the rules and tasks and
 * the member's ids: the replay gives them as they were when the event was
 * answered — from the tenant's compiled set while it holds those versions,
 * from the versions' saved definitions after a rename. */
static void same_answer(const jf_event_outcome *replayed, const jf_event_outcome *first) {
    cr_assert(replayed->replayed);
    same_outcome(replayed, first);
    cr_assert_eq(replayed->member.id, first->member.id);
    cr_assert_eq(replayed->member.tenant_id, first->member.tenant_id);
    cr_assert_str_eq(replayed->member.ext_id, first->member.ext_id);
    for (size_t i = 0; i < first->award_count; i++)
        cr_assert_str_eq(replayed->awards[i].rule_name, first->awards[i].rule_name);
    for (size_t i = 0; i < first->task_count; i++) cr_assert_str_eq(replayed->tasks[i].name, first->tasks[i].name);
}

Test(events, a_replay_names_the_rules_and_tasks_as_they_were) {
    int64_t rule = rule_ok("{\"name\":\"rate\",\"event_type\":\"order.paid\","
                           "\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}}}");
    rule_ok("{\"name\":\"never\",\"event_type\":\"order.paid\",\"when\":\"amount_fen > 99999999\","
            "\"award\":{\"points\":1}}");
    def_arg task = {JF_DEF_TASK,
                    "{\"name\":\"3 orders\",\"period\":\"weekly\",\"event_type\":\"order.paid\",\"goal\":{\"count\":3},"
                    "\"reward_points\":30}",
                    0};
    jf_error err = {0};
    cr_assert_eq(fx_tx(&fx, save_def, &task, &err), JF_OK, "%s", err.detail);
    event_arg *first = post("order.paid", "m1", "o1", 12800, NULL);
    cr_assert_eq(first->out.award_count, 2);
    cr_assert_eq(first->out.task_count, 1);
    cr_assert_str_eq(first->out.awards[0].rule_name, "rate");
    cr_assert_str_eq(first->out.tasks[0].name, "3 orders");
    event_arg *again = post("order.paid", "m1", "o1", 12800, NULL);
    same_answer(&again->out, &first->out);
    free(again);

    /* Renamed: version 2 of each; the replay still says what o1 was told. */
    def_arg renamed = {JF_DEF_RULE,
                       "{\"name\":\"rate, renamed\",\"event_type\":\"order.paid\","
                       "\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}}}",
                       rule};
    cr_assert_eq(fx_tx(&fx, save_def, &renamed, &err), JF_OK, "%s", err.detail);
    task.json = "{\"name\":\"3 orders, renamed\",\"period\":\"weekly\",\"event_type\":\"order.paid\","
                "\"goal\":{\"count\":3},\"reward_points\":30}";
    cr_assert_eq(fx_tx(&fx, save_def, &task, &err), JF_OK, "%s", err.detail);
    again = post("order.paid", "m1", "o1", 12800, NULL);
    same_answer(&again->out, &first->out);
    free(again);
    event_arg *second = post("order.paid", "m1", "o2", 100, NULL);
    cr_assert_str_eq(second->out.awards[0].rule_name, "rate, renamed");
    cr_assert_str_eq(second->out.tasks[0].name, "3 orders, renamed");
    free(second);

    /* An answer kept as version 1 (JSON with every name) replays as kept:
     * on SQLite, one kept in event_answers as before schema 13. */
    const jf_event_outcome *o = &first->out;
    const jf_member *m = &o->member;
    const jf_task_state *t = &o->tasks[0];
    char v1[1024], sql[2048];
    snprintf(v1, sizeof v1,
             "{\"v\":1,\"t\":%lld,\"p\":%lld,\"m\":[%lld,%lld,0,%lld,0,0,0,%lld,0,0,%lld,%lld,%lld,\"m1\"],"
             "\"a\":[[%lld,1,0,128,128,0,0,0,\"the old name\",\"%s\"]],"
             "\"k\":[[%lld,1,1,0,0,3,30,%lld,%lld,1,0,0,0,\"the old task\"]]}",
             (long long)o->occurred_at_ms, (long long)o->points_total, (long long)m->id, (long long)m->tenant_id,
             (long long)m->acct.available, (long long)m->acct.earned, (long long)m->entry_seq,
             (long long)m->created_at_ms, (long long)m->updated_at_ms, (long long)rule, o->awards[0].explanation,
             (long long)t->task_id, (long long)t->period_start_ms, (long long)t->period_end_ms);
    if (fx_backend_is_postgres()) {
        snprintf(sql, sizeof sql,
                 "UPDATE event_answers SET answer = '%s' WHERE id = (SELECT answer_id FROM events WHERE event_id = 'o1')",
                 v1);
    } else {
        snprintf(sql, sizeof sql,
                 "INSERT INTO event_answers (id, tenant_id, event_id, answer) VALUES (77, %lld, 'o1', '%s'); "
                 "UPDATE events SET answer = '', answer_id = 77 WHERE event_id = 'o1'",
                 (long long)fx.tenant.id, v1);
    }
    cr_assert_eq(jf_store_exec_raw(fx.store, sql, &err), JF_OK, "%s", err.detail);
    again = post("order.paid", "m1", "o1", 12800, NULL);
    cr_assert(again->out.replayed);
    cr_assert_eq(again->out.award_count, 1);
    cr_assert_str_eq(again->out.awards[0].rule_name, "the old name");
    cr_assert_str_eq(again->out.awards[0].explanation, o->awards[0].explanation);
    cr_assert_str_eq(again->out.tasks[0].name, "the old task");
    cr_assert_eq(again->out.tasks[0].progress, 1);
    cr_assert_eq(again->out.member.id, m->id);
    cr_assert_str_eq(again->out.member.ext_id, "m1");
    cr_assert_eq(again->out.member.acct.available, m->acct.available);
    free(again);
    free(first);
}

/* A kept answer that names a rule version the store cannot find is an
 * error of the store, not "no answer kept": the replay must not fall back
 * to rebuilding the answer from the award rows on top of what it already
 * decoded (which lists the award twice, and with enough rules writes past
 * out->awards).  Found by review. */
Test(events, a_replay_whose_rule_version_is_missing_is_an_error_not_a_rebuild) {
    int64_t rule = rule_ok("{\"name\":\"rate\",\"event_type\":\"order.paid\","
                           "\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}}}");
    event_arg *first = post("order.paid", "m1", "o1", 12800, NULL);
    cr_assert_eq(first->out.award_count, 1);
    /* Version 2 in the compiled set; version 1's row gone. */
    def_arg renamed = {JF_DEF_RULE,
                       "{\"name\":\"rate, renamed\",\"event_type\":\"order.paid\","
                       "\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}}}",
                       rule};
    jf_error err = {0};
    cr_assert_eq(fx_tx(&fx, save_def, &renamed, &err), JF_OK, "%s", err.detail);
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM rule_versions WHERE rule_id = %lld AND version = 1", (long long)rule);
    cr_assert_eq(jf_store_exec_raw(fx.store, sql, &err), JF_OK, "%s", err.detail);
    event_arg *again = calloc(1, sizeof *again);
    again->ev = first->ev;
    again->refund_fen = -1;
    jf_error e2 = {0};
    jf_code rc = fx_tx(&fx, process, again, &e2);
    cr_assert(rc != JF_OK || again->out.award_count == 1,
              "the replay answered %zu awards for an event of one rule (%s)", again->out.award_count,
              jf_code_name(rc));
    cr_assert_eq(rc, JF_INTERNAL, "%s: %s", jf_code_name(rc), e2.detail);
    free(again);
    free(first);
}

/* ---- member.orders_count: counted from the first rule that reads it ---- */

static event_arg *post_at(const char *member, const char *event_id, int64_t at_ms) {
    event_arg *e = calloc(1, sizeof *e);
    e->ev = (jf_event){.type = "order.paid", .event_id = event_id, .member_id = member, .occurred_at_ms = at_ms,
                       .has_amount = true, .amount_fen = 1000};
    e->refund_fen = -1;
    jf_error err = {0};
    jf_code rc = fx_tx(&fx, process, e, &err);
    cr_assert_eq(rc, JF_OK, "%s: %s: %s", event_id, jf_code_name(rc), err.detail);
    return e;
}

/* A tenant none of whose rules reads member.orders_count writes its orders
 * uncounted; the first rule that reads it counts the orders recorded
 * before it too, so the count is the same as if they had always been
 * counted — and orders after it are counted as they come. */
static int64_t orders_before(int64_t member_id, int64_t before_ms) {
    jf_error err = {0};
    int64_t count = -1;
    cr_assert_eq(fx.store->ops->begin_read(fx.store, &err), JF_OK);
    jf_code rc = fx.store->ops->order_count(fx.store, member_id, before_ms, &count, &err);
    fx.store->ops->rollback(fx.store);
    cr_assert_eq(rc, JF_OK, "%s", err.detail);
    return count;
}

Test(events, orders_recorded_before_the_first_rule_that_counts_them_count) {
    rule_ok("{\"name\":\"rate\",\"event_type\":\"order.paid\",\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}}}");
    free(post_at("m1", "o1", FX_T0 - 3000));
    event_arg *second = post_at("m1", "o2", FX_T0 - 2000);
    int64_t m1 = second->out.member.id;
    free(second);
    /* (PostgreSQL counts every order: pg.c, pg_order_count_all.) */
    cr_assert_eq(orders_before(m1, FX_T0), fx_backend_is_postgres() ? 2 : 0,
                 "no rule reads the count: the orders are not counted");
    for (int n = 0; n <= 3; n++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"name\":\"orders before == %d\",\"event_type\":\"order.paid\",\"when\":\"member.orders_count == %d\","
                 "\"award\":{\"points\":%d}}",
                 n, n, 1000 + n);
        rule_ok(json);
    }
    cr_assert_eq(orders_before(m1, FX_T0), 2, "saving the first rule that reads it counted o1 and o2");
    event_arg *e = post_at("m1", "o3", FX_T0 - 1000);
    cr_assert_eq(e->out.points_total, 10 + 1002, "o1 and o2 before o3: %lld", (long long)e->out.points_total);
    free(e);
    e = post_at("m1", "o4", FX_T0);
    cr_assert_eq(e->out.points_total, 10 + 1003, "o1, o2 and o3 before o4");
    free(e);
    e = post_at("m1", "o0", FX_T0 - 4000); /* arriving late: before every other */
    cr_assert_eq(e->out.points_total, 10 + 1000);
    free(e);
    cr_assert_eq(orders_before(m1, FX_T0 + 1), 5, "every order of the member");
    fx_verify_clean(&fx);
}

/* ---- a rule that starts keeping a history ---- */

static void rule_save(int64_t id, const char *json) {
    def_arg d = {JF_DEF_RULE, json, id};
    jf_error err = {0};
    cr_assert_eq(fx_tx(&fx, save_def, &d, &err), JF_OK, "%s", err.detail);
}

/* A rule without frequency, member caps or budget keeps its awards with
 * their events (SQLite); when a change gives it one, the awards it made
 * before count as if they had always been kept: a member who got it does
 * not get it again, and a day's cap counts the day's earlier awards. */
Test(events, a_rule_that_gains_a_frequency_or_a_cap_counts_its_awards_before) {
    int64_t gift = rule_ok("{\"name\":\"gift\",\"event_type\":\"order.paid\",\"award\":{\"points\":10}}");
    int64_t rate = rule_ok("{\"name\":\"rate\",\"event_type\":\"review.posted\",\"award\":{\"points\":40}}");
    cr_assert_eq(post_points("order.paid", "m1", "o1", 1000), 10);
    cr_assert_eq(post_points("order.paid", "m1", "o2", 1000), 10);
    cr_assert_eq(post_points("review.posted", "m1", "v1", -1), 40);
    cr_assert_eq(post_points("review.posted", "m1", "v2", -1), 40);
    free(post("order.refunded", "m1", "r1", -1, "o1")); /* o1's 10 points back: reversed in its event's row */
    rule_save(gift, "{\"name\":\"gift once\",\"event_type\":\"order.paid\",\"frequency\":\"once\",\"award\":{\"points\":10}}");
    rule_save(rate, "{\"name\":\"rate\",\"event_type\":\"review.posted\",\"award\":{\"points\":40},"
                    "\"caps\":{\"member_day\":100}}");
    cr_assert_eq(post_points("order.paid", "m1", "o3", 1000), 0, "m1 had it (twice)");
    cr_assert_eq(post_points("order.paid", "m2", "o4", 1000), 10, "m2 had not");
    cr_assert_eq(post_points("review.posted", "m1", "v3", -1), 20, "80 of the day's 100 were given before the cap");
    /* Dropping the frequency again keeps the history: back to every order. */
    rule_save(gift, "{\"name\":\"gift\",\"event_type\":\"order.paid\",\"award\":{\"points\":10}}");
    cr_assert_eq(post_points("order.paid", "m1", "o5", 1000), 10);
    rule_save(gift, "{\"name\":\"gift once\",\"event_type\":\"order.paid\",\"frequency\":\"once\",\"award\":{\"points\":10}}");
    cr_assert_eq(post_points("order.paid", "m2", "o6", 1000), 0, "m2's award of o4 counts");
    /* A refund after the move finds the award in its row. */
    event_arg *r = post("order.refunded", "m1", "r2", -1, "o2");
    cr_assert_eq(r->out.reversed_total, 10);
    free(r);
    fx_verify_clean(&fx);
}

/* ---- the cached rulesets and rolled-back changes ---- */

static jf_event_outcome scratch_outcome;

static jf_code save_rule_in(jf_store *s, int64_t id, const char *json, int64_t *out_id, jf_error *err) {
    jf_ctx c = {.store = s, .tenant = &fx.tenant, .now_ms = FX_T0};
    json_error_t je;
    json_t *def = json_loads(json, 0, &je);
    cr_assert_not_null(def, "%s", je.text);
    jf_rule_row row;
    jf_code rc = jf_definition_save(&c, JF_DEF_RULE, id, def, &row, err);
    json_decref(def);
    if (out_id) *out_id = row.id;
    return rc;
}

/* An order in a transaction of its own; its points. */
static int64_t order_in_tx(const char *member, const char *event_id) {
    jf_error err = {0};
    cr_assert_eq(fx.store->ops->begin(fx.store, &err), JF_OK);
    jf_ctx c = {.store = fx.store, .tenant = &fx.tenant, .now_ms = FX_T0};
    jf_event ev = {.type = "order.paid", .event_id = event_id, .member_id = member, .occurred_at_ms = FX_T0,
                   .has_amount = true, .amount_fen = 1000};
    uint8_t fp[JF_HASH_BYTES] = {0};
    cr_assert_eq(jf_event_process(&c, &ev, NULL, -1, fp, false, &scratch_outcome, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(fx.store->ops->commit(fx.store, &err), JF_OK, "%s", err.detail);
    return scratch_outcome.points_total;
}

/* A batch that saved a rule and ran an event under the new ruleset, then
 * rolled back (a failed COMMIT), leaves that ruleset cached under a
 * generation the database no longer has; the next change must not bring
 * it back — found by review: it did, and the stale set's flags (this rule
 * keeps no history) hid awards from a frequency for good. */
Test(events, a_rolled_back_change_does_not_bring_back_its_cached_ruleset) {
    jf_error err = {0};
    int64_t gift = 0;
    cr_assert_eq(fx.store->ops->begin(fx.store, &err), JF_OK);
    cr_assert_eq(save_rule_in(fx.store, 0, "{\"name\":\"gift\",\"event_type\":\"order.paid\",\"award\":{\"points\":10}}",
                              &gift, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(fx.store->ops->commit(fx.store, &err), JF_OK);
    cr_assert_eq(order_in_tx("m1", "o1"), 10);
    cr_assert_eq(fx.store->ops->begin(fx.store, &err), JF_OK);
    cr_assert_eq(save_rule_in(fx.store, 0, "{\"name\":\"other\",\"event_type\":\"review.posted\",\"award\":{\"points\":1}}",
                              NULL, &err), JF_OK, "%s", err.detail);
    jf_ctx c = {.store = fx.store, .tenant = &fx.tenant, .now_ms = FX_T0};
    jf_event ev = {.type = "order.paid", .event_id = "lost", .member_id = "m2", .occurred_at_ms = FX_T0,
                   .has_amount = true, .amount_fen = 1000};
    uint8_t fp[JF_HASH_BYTES] = {0};
    cr_assert_eq(jf_event_process(&c, &ev, NULL, -1, fp, false, &scratch_outcome, &err), JF_OK, "%s", err.detail);
    fx.store->ops->rollback(fx.store);
    cr_assert_eq(fx.store->ops->begin(fx.store, &err), JF_OK);
    cr_assert_eq(save_rule_in(fx.store, gift,
                              "{\"name\":\"gift once\",\"event_type\":\"order.paid\",\"frequency\":\"once\","
                              "\"award\":{\"points\":10}}",
                              NULL, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(fx.store->ops->commit(fx.store, &err), JF_OK);
    int64_t o2 = order_in_tx("m3", "o2");
    cr_assert_eq(o2, 10, "the new set: once, not given yet");
    cr_assert_eq(order_in_tx("m1", "o4"), 0, "m1 had it (o1)");
    cr_assert_eq(fx.store->ops->begin(fx.store, &err), JF_OK);
    cr_assert_eq(save_rule_in(fx.store, 0, "{\"name\":\"third\",\"event_type\":\"review.posted\",\"award\":{\"points\":1}}",
                              NULL, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(fx.store->ops->commit(fx.store, &err), JF_OK);
    cr_assert_eq(order_in_tx("m3", "o3"), 0, "once per member: m3 had it (o2)");
    fx_verify_clean(&fx);
}

/* ---- the member's memo (SQLite) ---- */

/* A task's progress read after the member was written back is kept with
 * the member all the same (sqlite.c: sq_memo_flush, at the job's end): the
 * orders after the task is done read it from the member's row — and see
 * it as it is. */
Test(events, a_done_task_is_read_from_the_members_memo) {
    def_arg d = {JF_DEF_TASK,
                 "{\"name\":\"3 orders\",\"period\":\"weekly\",\"event_type\":\"order.paid\",\"goal\":{\"count\":3},"
                 "\"reward_points\":30}",
                 0};
    jf_error err = {0};
    cr_assert_eq(fx_tx(&fx, save_def, &d, &err), JF_OK, "%s", err.detail);
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "o%d", i);
        uint64_t hits = jf_sqlite_memo_hits();
        event_arg *e = post_at("m1", id, FX_T0 - 10 + i);
        cr_assert_eq(e->out.task_count, 1);
        cr_assert_eq(e->out.tasks[0].progress, i < 3 ? i + 1 : 3, "order %d", i);
        cr_assert_eq(e->out.tasks[0].completed, i >= 2);
        cr_assert_eq(e->out.tasks[0].points_awarded, i == 2 ? 30 : 0);
        if (i >= 4 && !fx_backend_is_postgres())
            cr_assert_gt(jf_sqlite_memo_hits(), hits, "order %d: the done task's progress from the memo", i);
        free(e);
    }
    cr_assert_eq(fx_member(&fx, "m1").acct.available, 6 * 0 + 30);
    fx_verify_clean(&fx);
}

/* ---- the awards of an event: one member operation ---- */

/* The award rows of an event, rule id ascending; returns the count. */
static size_t awards_of(const char *event_id, jf_award_row *out, size_t cap) {
    jf_error err = {0};
    size_t n = 0;
    cr_assert_eq(fx.store->ops->begin_read(fx.store, &err), JF_OK);
    jf_code rc = fx.store->ops->award_list_by_event(fx.store, fx.tenant.id, event_id, out, cap, &n, &err);
    fx.store->ops->rollback(fx.store);
    cr_assert_eq(rc, JF_OK, "%s", err.detail);
    return n;
}

/* Three rules, one order: three earn entries of one member operation,
 * chained one after the other (seq 1, 2, 3, available_after adding up),
 * each named by its award row, and no idempotency record: the event row is
 * the event's. */
Test(events, several_awards_are_entries_of_one_member_operation) {
    int64_t fixed = rule_ok("{\"name\":\"fixed\",\"event_type\":\"order.paid\",\"award\":{\"points\":10}}");
    int64_t rate = rule_ok("{\"name\":\"rate\",\"event_type\":\"order.paid\",\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}}}");
    int64_t once = rule_ok("{\"name\":\"first\",\"event_type\":\"order.paid\",\"frequency\":\"once\",\"award\":{\"points\":5}}");
    event_arg *e = post("order.paid", "m1", "o1", 12800, NULL);
    cr_assert_eq(e->out.points_total, 143);
    cr_assert_eq(e->out.member.acct.available, 143, "the answer's member is the member after the awards");
    cr_assert_eq(e->out.member.entry_seq, 3);
    jf_entry entries[8];
    cr_assert_eq(fx_entries(&fx, "m1", entries, 8), 3);
    const int64_t points[3] = {10, 128, 5}, rules[3] = {fixed, rate, once};
    jf_award_row rows[4];
    cr_assert_eq(awards_of("o1", rows, 4), 3);
    int64_t balance = 0;
    for (int i = 0; i < 3; i++) {
        balance += points[i];
        cr_assert_eq(entries[i].seq, i + 1);
        FX_ASSERT_ENTRY(entries[i], JF_ENTRY_EARN, points[i], balance);
        cr_assert_str_eq(entries[i].scene, "order.paid");
        cr_assert_eq(rows[i].rule_id, rules[i]);
        cr_assert_eq(rows[i].entry_id, entries[i].id, "award %d names its entry", i);
        cr_assert_str_eq(rows[i].biz_no, entries[i].biz_no);
        cr_assert_eq(fx_lot(&fx, entries[i].lot_id).amount, points[i]);
        /* the entry's reason: the rule, its version and the explanation;
         * its biz_no: "ev-" and 40 hex digits of the derived hash */
        char reason[JF_REASON_BYTES_MAX + 1];
        snprintf(reason, sizeof reason, "rule %lld v%lld: %s", (long long)rows[i].rule_id,
                 (long long)rows[i].rule_version, e->out.awards[i].explanation);
        cr_assert_str_eq(entries[i].reason, reason);
        cr_assert_eq(strlen(entries[i].biz_no), 3 + 40);
        cr_assert_eq(strncmp(entries[i].biz_no, "ev-", 3), 0, "%s", entries[i].biz_no);
        /* one hash per event (24 hex digits, shared), then the rule id in 16 */
        char rule_hex[17];
        snprintf(rule_hex, sizeof rule_hex, "%016llx", (unsigned long long)rules[i]);
        cr_assert_str_eq(entries[i].biz_no + 3 + 24, rule_hex);
        cr_assert_eq(strncmp(entries[i].biz_no, entries[0].biz_no, 3 + 24), 0, "%s", entries[i].biz_no);
    }
    cr_assert_eq(fx_count(&fx, "idempotency"), 0, "no idempotency record per award");
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 143, 0, 0, 0, 143, 0, 0);
    /* A replay writes nothing. */
    fx_state before = fx_snapshot(&fx);
    event_arg *again = post("order.paid", "m1", "o1", 12800, NULL);
    cr_assert(again->out.replayed);
    cr_assert_eq(again->out.points_total, 143);
    FX_ASSERT_UNCHANGED(&fx, before);
    fx_verify_clean(&fx);
    free(e);
    free(again);
}

/* A refund reverses each award through the entry its row names, all in one
 * member operation; partial refunds add up to the awards, never more. */
Test(events, a_refund_of_several_awards_reverses_each_through_its_entry) {
    rule_ok("{\"name\":\"fixed\",\"event_type\":\"order.paid\",\"award\":{\"points\":10}}");
    rule_ok("{\"name\":\"rate\",\"event_type\":\"order.paid\",\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}}}");
    free(post("order.paid", "m1", "o1", 10000, NULL)); /* 10 + 100 */
    jf_award_row rows[4];
    cr_assert_eq(awards_of("o1", rows, 4), 2);
    event_arg *r1 = post("order.refunded", "m1", "r1", 2500, "o1"); /* keep floor(P × 3/4): 7 and 75 */
    cr_assert_eq(r1->out.reversed_total, 3 + 25);
    cr_assert_eq(r1->out.member.acct.available, 110 - 28);
    jf_entry entries[8];
    cr_assert_eq(fx_entries(&fx, "m1", entries, 8), 4);
    for (int i = 0; i < 2; i++) {
        const jf_entry *rev = &entries[2 + i];
        cr_assert_eq(rev->kind, JF_ENTRY_REVERSE);
        cr_assert_eq(rev->ref_entry_id, rows[i].entry_id, "reversal %d takes back its award's entry", i);
        cr_assert_eq(rev->seq, 3 + i);
    }
    cr_assert_eq(entries[2].points, -3);
    cr_assert_eq(entries[3].points, -25);
    event_arg *r2 = post("order.refunded", "m1", "r2", -1, "o1"); /* the rest */
    cr_assert_eq(r2->out.reversed_total, 7 + 75);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 0, 0, 0);
    cr_assert_eq(awards_of("o1", rows, 4), 2);
    cr_assert_eq(rows[0].reversed, 10);
    cr_assert_eq(rows[1].reversed, 100);
    cr_assert_eq(fx_count(&fx, "idempotency"), 0);
    fx_verify_clean(&fx);
    free(r1);
    free(r2);
}

/* An award as it was written before award rows named their entry: a ledger
 * earn with an idempotency record under the award's biz_no, and a row
 * without entry_id. */
typedef struct {
    int64_t rule_id;
    int64_t entry_id;
} old_award;

static jf_code write_old_award(jf_store *s, void *arg, jf_error *err) {
    old_award *o = arg;
    jf_ctx c = {.store = s, .tenant = &fx.tenant, .now_ms = FX_T0};
    char biz_no[JF_BIZ_NO_LEN_MAX + 1];
    jf_derived_biz_no("ev", "old", o->rule_id, biz_no);
    jf_earn_req r = {.member_id = "m1", .points = 40, .biz_no = biz_no, .scene = "order.paid", .reason = "rule"};
    jf_result res;
    jf_code rc = jf_earn(&c, &r, &res, err);
    if (rc != JF_OK) return rc;
    o->entry_id = res.entry.id;
    jf_event_row ev = {.tenant_id = fx.tenant.id, .member_id = res.member.id, .amount_fen = 4000,
                       .occurred_at_ms = FX_T0, .created_at_ms = FX_T0};
    snprintf(ev.event_id, sizeof ev.event_id, "old");
    snprintf(ev.type, sizeof ev.type, "order.paid");
    rc = s->ops->event_insert(s, &ev, err);
    if (rc != JF_OK) return rc;
    jf_award_row a = {.tenant_id = fx.tenant.id, .rule_id = o->rule_id, .rule_version = 1, .member_id = res.member.id,
                      .points = 40, .occurred_at_ms = FX_T0, .created_at_ms = FX_T0, .history = true};
    snprintf(a.event_id, sizeof a.event_id, "old");
    snprintf(a.biz_no, sizeof a.biz_no, "%s", biz_no);
    return s->ops->award_insert(s, &a, err);
}

Test(events, an_award_written_before_entry_ids_refunds_through_its_earn) {
    old_award o = {.rule_id = rule_ok("{\"name\":\"fixed\",\"event_type\":\"order.paid\",\"award\":{\"points\":40}}")};
    jf_error err = {0};
    cr_assert_eq(fx_tx(&fx, write_old_award, &o, &err), JF_OK, "%s", err.detail);
    jf_award_row rows[2];
    cr_assert_eq(awards_of("old", rows, 2), 1);
    cr_assert_eq(rows[0].entry_id, 0);
    event_arg *half = post("order.refunded", "m1", "r1", 2000, "old");
    cr_assert_eq(half->out.reversed_total, 20);
    event_arg *rest = post("order.refunded", "m1", "r2", -1, "old");
    cr_assert_eq(rest->out.reversed_total, 20);
    jf_entry entries[4];
    cr_assert_eq(fx_entries(&fx, "m1", entries, 4), 3);
    cr_assert_eq(entries[1].ref_entry_id, o.entry_id);
    cr_assert_eq(entries[2].ref_entry_id, o.entry_id);
    FX_ASSERT_ACCT(fx_member(&fx, "m1").acct, 0, 0, 0, 0, 0, 0, 0);
    fx_verify_clean(&fx);
    free(half);
    free(rest);
}

/* An event that fails after its first award was written (the second would
 * expire before it activates) leaves nothing in the committer's batch —
 * no event row, no entry, no member — and its neighbours commit. */
typedef struct {
    event_arg *events;
    jf_code codes[3];
} event_batch;

static jf_code run_event_job(jf_store *s, size_t i, void *arg) {
    event_batch *b = arg;
    jf_error err = {0};
    b->codes[i] = process(s, &b->events[i], &err);
    return b->codes[i];
}

Test(events, a_failure_in_the_middle_of_an_event_leaves_nothing) {
    jf_tenant t = fx.tenant;
    t.expiry = fx_policy_rolling(1, JF_UNIT_DAYS, JF_ROUND_NONE);
    fx_tenant_update(&fx, &t);
    rule_ok("{\"name\":\"fixed\",\"event_type\":\"order.paid\",\"award\":{\"points\":10}}");
    rule_ok("{\"name\":\"big\",\"event_type\":\"order.paid\",\"when\":\"amount_fen >= 100000\",\"pending_days\":30,"
            "\"award\":{\"points\":50}}");
    free(post("order.paid", "c", "seed", 1000, NULL));
    event_batch b = {.events = calloc(3, sizeof(event_arg))};
    const char *members[3] = {"a", "c", "b"}, *ids[3] = {"e1", "e2", "e3"};
    const int64_t fen[3] = {1000, 200000, 1000};
    for (int i = 0; i < 3; i++)
        b.events[i].ev = (jf_event){.type = "order.paid", .event_id = ids[i], .member_id = members[i],
                                    .occurred_at_ms = FX_T0, .has_amount = true, .amount_fen = fen[i]};
    jf_error err = {0};
    bool reran = false;
    cr_assert_eq(jf_tx_batch(fx.store, 3, run_event_job, NULL, &b, &reran, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(b.codes[0], JF_OK);
    cr_assert_eq(b.codes[1], JF_INVALID_FIELD, "the second award would be born expired: %s", jf_code_name(b.codes[1]));
    cr_assert_eq(b.codes[2], JF_OK);
    cr_assert(reran || fx.store->ops->write_mark == NULL, "e2 failed after writing: the batch ran again");
    cr_assert_eq(fx_entries(&fx, "c", NULL, 0), 1, "the failed event's first award is not on disk");
    FX_ASSERT_ACCT(fx_member(&fx, "c").acct, 10, 0, 0, 0, 10, 0, 0);
    cr_assert_eq(fx_member(&fx, "a").acct.available, 10);
    cr_assert_eq(fx_member(&fx, "b").acct.available, 10);
    cr_assert_eq(fx_count(&fx, "events"), 3, "seed, e1 and e3; not e2");
    jf_award_row rows[2];
    cr_assert_eq(awards_of("e2", rows, 2), 0);
    fx_verify_clean(&fx);
    free(b.events);
}

/* One batch: an event of a frozen member fails before it writes anything
 * but its event row (which SQLite holds back until the answer: it still
 * counts as written, and goes with the failed event), and the same
 * event_id twice is one event and its replay. */
Test(events, a_batch_with_a_refused_event_and_an_event_id_twice) {
    rule_ok("{\"name\":\"fixed\",\"event_type\":\"order.paid\",\"award\":{\"points\":10}}");
    rule_ok("{\"name\":\"rate\",\"event_type\":\"order.paid\",\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}}}");
    jf_error err = {0};
    cr_assert_eq(fx_upsert(&fx, FX_T0, "frozen", JF_MEMBER_FROZEN, NULL, &err), JF_OK, "%s", err.detail);
    event_batch b = {.events = calloc(3, sizeof(event_arg))};
    const char *members[3] = {"a", "frozen", "a"}, *ids[3] = {"e1", "e2", "e1"};
    for (int i = 0; i < 3; i++)
        b.events[i].ev = (jf_event){.type = "order.paid", .event_id = ids[i], .member_id = members[i],
                                    .occurred_at_ms = FX_T0, .has_amount = true, .amount_fen = 1000};
    bool reran = false;
    cr_assert_eq(jf_tx_batch(fx.store, 3, run_event_job, NULL, &b, &reran, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(b.codes[0], JF_OK);
    cr_assert_eq(b.codes[1], JF_FROZEN, "%s", jf_code_name(b.codes[1]));
    cr_assert_eq(b.codes[2], JF_OK);
    cr_assert(reran || fx.store->ops->write_mark == NULL, "e2 failed after its row: the batch ran again");
    cr_assert(!b.events[0].out.replayed);
    cr_assert(b.events[2].out.replayed, "the second e1 is the first's replay");
    cr_assert_eq(b.events[2].out.points_total, 20);
    cr_assert_eq(b.events[2].out.member.acct.available, 20);
    cr_assert_eq(fx_member(&fx, "a").acct.available, 20, "once");
    cr_assert_eq(fx_count(&fx, "events"), 1, "e1 only");
    jf_award_row rows[3];
    cr_assert_eq(awards_of("e1", rows, 3), 2);
    cr_assert_eq(awards_of("e2", rows, 3), 0);
    fx_verify_clean(&fx);
    free(b.events);
}
