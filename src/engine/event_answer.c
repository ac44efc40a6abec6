/*
 * event_answer.c — an event's answer, kept so that a replay of the event_id
 * answers byte for byte what the first request was answered.
 *
 * The answer is everything jf_event_outcome shows: every rule's award or
 * why not (name, points, capped, pending, explanation), the tasks the event
 * advanced, the refund's reversals, and the member as it was right after
 * the event.  Most of it exists nowhere else (an award that was not given
 * has no row; the member changes later), so it is stored whole, encoded
 * here as compact JSON: each record a JSON array of integers followed by
 * its strings, in a fixed order, with a version number in front.  Encoding
 * is written by hand (it runs for every event); decoding, for replays only,
 * reads it with jansson and checks every record's shape.  The store
 * keeps the text (event_answer_put / event_answer_get) and knows nothing of
 * its shape.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/events.h"
#include "engine/internal.h"
#include "util/json_text.h"

#define ANSWER_VERSION 1

/* Fields of each record, in order (integers first, then strings). */
enum { MEMBER_INTS = 13, AWARD_INTS = 8, TASK_INTS = 13, REFUND_INTS = 4, REVERSAL_INTS = 7 };

/* ---- encoding, by hand: it runs on the committer for every event, where
 * building a jansson tree of a few hundred values and dumping it cost a
 * quarter of an event's throughput ---- */

static void put_string(jf_json_text *b, const char *s) { jf_json_str(b, s, strlen(s)); }

/* The items of one record: ints…, strings… (NULL strings are left out). */
static void put_items(jf_json_text *b, const int64_t *ints, size_t n, const char *s1, const char *s2) {
    for (size_t i = 0; i < n; i++) {
        if (i > 0) jf_json_char(b, ',');
        jf_json_int(b, ints[i]);
    }
    const char *strs[2] = {s1, s2};
    for (size_t k = 0; k < 2 && strs[k] != NULL; k++) {
        jf_json_char(b, ',');
        put_string(b, strs[k]);
    }
}

static void put_record(jf_json_text *b, const int64_t *ints, size_t n, const char *s1, const char *s2) {
    jf_json_char(b, '[');
    put_items(b, ints, n, s1, s2);
    jf_json_char(b, ']');
}

static void put_member(jf_json_text *b, const jf_member *m) {
    const jf_account *a = &m->acct;
    int64_t v[MEMBER_INTS] = {m->id,       m->tenant_id, m->status,    a->available,     a->frozen,
                              a->pending,  a->debt,      a->earned,    a->spent,         a->expired,
                              m->entry_seq, m->created_at_ms, m->updated_at_ms};
    put_record(b, v, MEMBER_INTS, m->ext_id, NULL);
}

static void put_award(jf_json_text *b, const jf_award *w) {
    int64_t v[AWARD_INTS] = {w->rule_id, w->rule_version,    w->status,         w->points,
                             w->computed_points, w->capped, w->available_at_ms, w->expires_at_ms};
    put_record(b, v, AWARD_INTS, w->rule_name, w->explanation);
}

static void put_task(jf_json_text *b, const jf_task_state *t) {
    int64_t v[TASK_INTS] = {t->task_id,  t->task_version,    t->period,        t->goal_is_sum, t->claim,
                            t->goal,     t->reward_points,   t->period_start_ms, t->period_end_ms, t->progress,
                            t->completed, t->rewarded,       t->points_awarded};
    put_record(b, v, TASK_INTS, t->name, NULL);
}

static void put_refund(jf_json_text *b, const jf_event_outcome *o) {
    int64_t v[REFUND_INTS] = {o->refund_fen, o->refunded_fen, o->order_fen, o->reversed_total};
    jf_json_char(b, '[');
    put_items(b, v, REFUND_INTS, o->refund_of, NULL);
    jf_json_raw(b, ",[", 2); /* the record's last item: the list of reversals */
    for (size_t i = 0; i < o->reversal_count; i++) {
        const jf_reversal *x = &o->reversals[i];
        int64_t w[REVERSAL_INTS] = {x->rule_id,        x->rule_version, x->awarded,       x->reversed_now,
                                    x->reversed_total, x->debt_points,  x->clamped_points};
        if (i > 0) jf_json_char(b, ',');
        put_record(b, w, REVERSAL_INTS, x->biz_no, NULL);
    }
    jf_json_raw(b, "]]", 2);
}

char *jf_event_answer_encode(const jf_event_outcome *o) {
    jf_json_text b = {0};
    jf_json_raw(&b, "{\"v\":", 5);
    jf_json_int(&b, ANSWER_VERSION);
    jf_json_raw(&b, ",\"t\":", 5);
    jf_json_int(&b, o->occurred_at_ms);
    jf_json_raw(&b, ",\"p\":", 5);
    jf_json_int(&b, o->points_total);
    jf_json_raw(&b, ",\"m\":", 5);
    put_member(&b, &o->member);
    jf_json_raw(&b, ",\"a\":[", 6);
    for (size_t i = 0; i < o->award_count; i++) {
        if (i > 0) jf_json_char(&b, ',');
        put_award(&b, &o->awards[i]);
    }
    jf_json_raw(&b, "],\"k\":[", 7);
    for (size_t i = 0; i < o->task_count; i++) {
        if (i > 0) jf_json_char(&b, ',');
        put_task(&b, &o->tasks[i]);
    }
    jf_json_char(&b, ']');
    if (o->is_refund) {
        jf_json_raw(&b, ",\"r\":", 5);
        put_refund(&b, o);
    }
    jf_json_char(&b, '}');
    if (b.failed) abort(); /* allocation failure aborts, as everywhere in the engine */
    if (b.len > JF_EVENT_ANSWER_BYTES_MAX) {
        free(b.text);
        return NULL;
    }
    return jf_json_text_take(&b, NULL);
}

/* ---- decoding: every record checked for its shape ---- */

/* The n integers of a record, then its strings at n, n + 1 (NULL: none). */
static bool read_record(const json_t *a, int64_t *ints, size_t n, char *s1, size_t cap1, char *s2, size_t cap2) {
    size_t want = n + (s1 != NULL) + (s2 != NULL);
    if (!json_is_array(a) || json_array_size(a) < want) return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_integer(v)) return false;
        ints[i] = json_integer_value(v);
    }
    char *dst[2] = {s1, s2};
    size_t cap[2] = {cap1, cap2};
    for (size_t k = 0; k < 2 && dst[k] != NULL; k++) {
        const json_t *v = json_array_get(a, n + k);
        if (!json_is_string(v) || json_string_length(v) >= cap[k]) return false;
        memcpy(dst[k], json_string_value(v), json_string_length(v) + 1);
    }
    return true;
}

static bool decode_member(const json_t *a, jf_member *m) {
    int64_t v[MEMBER_INTS];
    memset(m, 0, sizeof *m);
    if (!read_record(a, v, MEMBER_INTS, m->ext_id, sizeof m->ext_id, NULL, 0)) return false;
    m->id = v[0];
    m->tenant_id = v[1];
    m->status = (jf_member_status)v[2];
    m->acct = (jf_account){v[3], v[4], v[5], v[6], v[7], v[8], v[9]};
    m->entry_seq = v[10];
    m->created_at_ms = v[11];
    m->updated_at_ms = v[12];
    return true;
}

static bool decode_award(const json_t *a, jf_award *w) {
    int64_t v[AWARD_INTS];
    memset(w, 0, sizeof *w);
    if (!read_record(a, v, AWARD_INTS, w->rule_name, sizeof w->rule_name, w->explanation, sizeof w->explanation))
        return false;
    w->rule_id = v[0];
    w->rule_version = v[1];
    w->status = (jf_award_status)v[2];
    w->points = v[3];
    w->computed_points = v[4];
    w->capped = v[5] != 0;
    w->available_at_ms = v[6];
    w->expires_at_ms = v[7];
    return true;
}

static bool decode_task(const json_t *a, jf_task_state *t) {
    int64_t v[TASK_INTS];
    memset(t, 0, sizeof *t);
    if (!read_record(a, v, TASK_INTS, t->name, sizeof t->name, NULL, 0)) return false;
    t->task_id = v[0];
    t->task_version = v[1];
    t->period = (jf_task_period)v[2];
    t->goal_is_sum = v[3] != 0;
    t->claim = v[4] != 0;
    t->goal = v[5];
    t->reward_points = v[6];
    t->period_start_ms = v[7];
    t->period_end_ms = v[8];
    t->progress = v[9];
    t->completed = v[10] != 0;
    t->rewarded = v[11] != 0;
    t->points_awarded = v[12];
    return true;
}

static bool decode_refund(const json_t *r, jf_event_outcome *o) {
    int64_t v[REFUND_INTS];
    if (!read_record(r, v, REFUND_INTS, o->refund_of, sizeof o->refund_of, NULL, 0)) return false;
    o->is_refund = true;
    o->refund_fen = v[0];
    o->refunded_fen = v[1];
    o->order_fen = v[2];
    o->reversed_total = v[3];
    const json_t *list = json_array_get(r, REFUND_INTS + 1);
    if (!json_is_array(list) || json_array_size(list) > JF_RULES_PER_TENANT_MAX) return false;
    for (size_t i = 0; i < json_array_size(list); i++) {
        jf_reversal *x = &o->reversals[o->reversal_count++];
        int64_t w[REVERSAL_INTS];
        memset(x, 0, sizeof *x);
        if (!read_record(json_array_get(list, i), w, REVERSAL_INTS, x->biz_no, sizeof x->biz_no, NULL, 0))
            return false;
        x->rule_id = w[0];
        x->rule_version = w[1];
        x->awarded = w[2];
        x->reversed_now = w[3];
        x->reversed_total = w[4];
        x->debt_points = w[5];
        x->clamped_points = w[6];
    }
    return true;
}

static bool decode(json_t *doc, jf_event_outcome *o) {
    json_int_t version = 0, occurred = 0, points = 0;
    json_t *m = NULL, *awards = NULL, *tasks = NULL, *refund = NULL;
    if (json_unpack(doc, "{s:I, s:I, s:I, s:o, s:o, s:o, s?o}", "v", &version, "t", &occurred, "p", &points, "m", &m,
                    "a", &awards, "k", &tasks, "r", &refund) != 0 ||
        version != ANSWER_VERSION || !json_is_array(awards) || json_array_size(awards) > JF_RULES_PER_TENANT_MAX ||
        !json_is_array(tasks) || json_array_size(tasks) > JF_TASKS_PER_TENANT_MAX || !decode_member(m, &o->member))
        return false;
    o->member_known = true;
    o->occurred_at_ms = occurred;
    o->points_total = points;
    for (size_t i = 0; i < json_array_size(awards); i++)
        if (!decode_award(json_array_get(awards, i), &o->awards[o->award_count++])) return false;
    for (size_t i = 0; i < json_array_size(tasks); i++)
        if (!decode_task(json_array_get(tasks, i), &o->tasks[o->task_count++])) return false;
    return refund == NULL || decode_refund(refund, o);
}

jf_code jf_event_answer_decode(const char *text, jf_event_outcome *o, jf_error *err) {
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (doc == NULL) return jf_fail(err, JF_INTERNAL, "", "stored event answer unreadable: %s", jerr.text);
    bool ok = decode(doc, o);
    json_decref(doc);
    return ok ? JF_OK : jf_fail(err, JF_INTERNAL, "", "stored event answer malformed");
}
