/*
 * handlers_events.c — POST /v1/events and POST /v1/events/dry-run.
 *
 * The body is checked on the loop thread (scalar fields through the one
 * declarative parser; items and attributes, which it does not describe, by
 * hand with the same kind of errors), then:
 *   - an event becomes a write job: the engine (events.h) records it,
 *     evaluates the tenant's rules and tasks and writes the awards in the
 *     committer's transaction; 201 with the awards and their explanations
 *     (a replay of the same event_id answers the recorded awards, with the
 *     Idempotent-Replayed header);
 *   - a dry run runs the same engine on this thread's read snapshot and
 *     writes nothing; 200 with the same shape.
 * The fingerprint for the event_id idempotency check is the SHA-256 of the
 * body re-serialised with sorted keys, so key order and spacing do not
 * matter but any change of a value does.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine/events.h"
#include "http/handlers.h"
#include "http/json_out.h"
#include "http/render.h"

/* What the lists hold is read up to their counts only: parsing clears the
 * head (PARSED_EVENT_HEAD) and each item it fills, not the 11 KiB of room. */
typedef struct {
    json_t *root;
    jf_event ev;
    const char *refund_of;
    int64_t refund_fen;
    uint8_t fingerprint[JF_HASH_BYTES];
    jf_event_item items[JF_EVENT_ITEMS_MAX];
    jf_event_attributes attributes; /* jf_event_attributes_load sets its counts */
} parsed_event;
#define PARSED_EVENT_HEAD offsetof(parsed_event, items)

static jf_code parse_items(json_t *list, parsed_event *p, jf_error *err) {
    if (list == NULL) return JF_OK;
    if (!json_is_array(list) || json_array_size(list) > JF_EVENT_ITEMS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "items", "items must be a list of at most %d items", JF_EVENT_ITEMS_MAX);
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *o = json_array_get(list, i);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "items[%zu]", i);
        jf_event_item *it = &p->items[i];
        memset(it, 0, sizeof *it);
        int64_t quantity = 1;
        const jf_field spec[] = {
            JF_FIELD_TEXT("sku", &it->sku, JF_ITEM_CODE_BYTES_MAX, 0),
            JF_FIELD_TEXT("category", &it->category, JF_ITEM_CODE_BYTES_MAX, 0),
            JF_FIELD_INT("amount_fen", &it->amount_fen, 0, JF_QUANTITY_MAX, JF_REQUIRED),
            JF_FIELD_INT("quantity", &quantity, 1, 1000000, 0),
            JF_FIELD_END,
        };
        if (!json_is_object(o)) return jf_fail(err, JF_INVALID_FIELD, prefix, "%s must be an object", prefix);
        jf_code rc = jf_json_apply(o, spec, prefix, err);
        if (rc != JF_OK) return rc;
        it->quantity = quantity;
    }
    p->ev.items = p->items;
    p->ev.item_count = json_array_size(list);
    return JF_OK;
}

/* The encoder's sorted text is json_dumps's (test_json_out): the
 * fingerprints of events recorded before stay the same. */
static void fingerprint(json_t *root, uint8_t out[JF_HASH_BYTES]) {
    size_t len = 0;
    char *text = jf_json_encode_sorted(root, &len);
    if (text == NULL) { /* out of memory, or an object too large to sort in place */
        text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
        len = text ? strlen(text) : 0;
    }
    memset(out, 0, JF_HASH_BYTES);
    if (text) jf_sha256(text, len, out);
    free(text);
}

/* Parse the request body into p (p->root owns it), or answer the error. */
static bool event_or_reply(jf_call *call, parsed_event *p) {
    memset(p, 0, PARSED_EVENT_HEAD);
    h2o_iovec_t body = call->req->entity;
    jf_error err;
    jf_error_clear(&err);
    json_error_t jerr;
    json_t *root = jf_json_load(body.base ? body.base : "", body.base ? body.len : 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        jf_fail(&err, JF_INVALID_JSON, "", "%s", root ? "the body must be a JSON object" : jerr.text);
        jf_respond_json_error(call, &err, root ? 0 : jerr.line, root ? 0 : jerr.column);
        json_decref(root);
        return false;
    }
    p->root = root;
    jf_event *ev = &p->ev;
    int64_t amount = -1, refund_fen = -1;
    bool has_amount = false;
    const char *device = NULL, *ip = NULL;
    json_t *items = NULL, *attributes = NULL;
    const jf_field spec[] = {
        JF_FIELD_STRING("type", &ev->type, 1, JF_EVENT_TYPE_LEN_MAX, JF_CHARS_SCENE, JF_REQUIRED),
        JF_FIELD_STRING("member_id", &ev->member_id, 1, JF_MEMBER_ID_LEN_MAX, JF_CHARS_PRINTABLE, JF_REQUIRED),
        JF_FIELD_STRING("event_id", &ev->event_id, 1, JF_EVENT_ID_LEN_MAX, JF_CHARS_PRINTABLE, JF_REQUIRED),
        JF_FIELD_TIME("occurred_at", &ev->occurred_at_ms, 0),
        JF_FIELD_INT_P("amount_fen", &amount, &has_amount, 0, JF_QUANTITY_MAX, 0),
        JF_FIELD_TEXT("channel", &ev->channel, JF_SCENE_LEN_MAX, 0),
        JF_FIELD_STRING("device_id", &device, 1, 128, JF_CHARS_PRINTABLE, 0),
        JF_FIELD_STRING("ip", &ip, 1, 64, JF_CHARS_PRINTABLE, 0),
        JF_FIELD_STRING("refund_of", &p->refund_of, 1, JF_EVENT_ID_LEN_MAX, JF_CHARS_PRINTABLE, 0),
        /* Checked below, after the scalar fields. */
        JF_FIELD_JSON("items", &items, 0),
        JF_FIELD_JSON("attributes", &attributes, 0),
        JF_FIELD_END,
    };
    jf_code rc = jf_json_apply(root, spec, "", &err);
    if (rc == JF_OK) rc = parse_items(items, p, &err);
    if (rc == JF_OK) rc = jf_event_attributes_load(attributes, &p->attributes, &err);
    if (rc != JF_OK) {
        jf_respond_error(call, &err);
        json_decref(root);
        p->root = NULL;
        return false;
    }
    ev->attributes = attributes ? &p->attributes : NULL;
    if (ev->occurred_at_ms == 0) ev->occurred_at_ms = call->now_ms;
    bool refund = strcmp(ev->type, JF_EVENT_REFUNDED) == 0;
    if (refund) {
        refund_fen = has_amount ? amount : -1;
    } else {
        ev->has_amount = has_amount;
        ev->amount_fen = has_amount ? amount : 0;
    }
    p->refund_fen = refund_fen;
    fingerprint(root, p->fingerprint);
    return true;
}

/* ---- rendering ---- */

static const char *status_word(jf_award_status s) {
    switch (s) {
    case JF_AWARD_GIVEN: return "awarded";
    case JF_AWARD_NO_MATCH: return "no_match";
    case JF_AWARD_LIMITED: return "limited";
    case JF_AWARD_EVAL_ERROR: return "condition_error";
    }
    return "?";
}

json_t *jf_render_task_state(const jf_tenant *t, const jf_task_state *s) {
    json_t *o = json_pack("{sI sI ss ss sI ss sI sb sb}", "task_id", (json_int_t)s->task_id, "task_version",
                          (json_int_t)s->task_version, "name", s->name, "period", jf_task_period_name(s->period),
                          "progress", (json_int_t)s->progress, "goal_kind", s->goal_is_sum ? "sum_amount_fen" : "count",
                          "goal", (json_int_t)s->goal, "completed", s->completed, "rewarded", s->rewarded);
    json_object_set_new(o, "reward_points", json_integer(s->reward_points));
    json_object_set_new(o, "completion", json_string(s->claim ? "claim" : "auto"));
    json_object_set_new(o, "claimable", json_boolean(s->claim && s->completed && !s->rewarded));
    json_object_set_new(o, "period_start", s->period_start_ms ? jf_render_time(t->timezone, s->period_start_ms) : json_null());
    json_object_set_new(o, "period_end",
                        s->period_end_ms != INT64_MAX ? jf_render_time(t->timezone, s->period_end_ms) : json_null());
    json_object_set_new(o, "points_awarded", json_integer(s->points_awarded));
    return o;
}

/* ---- the answer, written straight as JSON text: it is the largest answer
 * the server gives on a hot path, and building a jansson tree of it to
 * encode took half of a loop thread's instructions per event (callgrind).
 * The tasks it shows are also shown by the tasks endpoints
 * (jf_render_task_state), in the same shape (test_json_out compares).
 * JF_KEY_*: json_text.h and render.h. ---- */

void jf_render_task_state_text(jf_json_text *b, const jf_tenant *t, const jf_task_state *s) {
    JF_KEY_INT(b, "{\"task_id\":", s->task_id);
    JF_KEY_INT(b, ",\"task_version\":", s->task_version);
    JF_KEY_STR(b, ",\"name\":", s->name);
    JF_KEY_STR(b, ",\"period\":", jf_task_period_name(s->period));
    JF_KEY_INT(b, ",\"progress\":", s->progress);
    JF_KEY_STR(b, ",\"goal_kind\":", s->goal_is_sum ? "sum_amount_fen" : "count");
    JF_KEY_INT(b, ",\"goal\":", s->goal);
    JF_KEY_BOOL(b, ",\"completed\":", s->completed);
    JF_KEY_BOOL(b, ",\"rewarded\":", s->rewarded);
    JF_KEY_INT(b, ",\"reward_points\":", s->reward_points);
    JF_KEY_STR(b, ",\"completion\":", s->claim ? "claim" : "auto");
    JF_KEY_BOOL(b, ",\"claimable\":", s->claim && s->completed && !s->rewarded);
    JF_KEY_TIME(b, ",\"period_start\":", t->timezone, s->period_start_ms); /* 0: null */
    JF_KEY_TIME(b, ",\"period_end\":", t->timezone, s->period_end_ms); /* INT64_MAX (JF_NEVER): null */
    JF_KEY_INT(b, ",\"points_awarded\":", s->points_awarded);
    jf_json_char(b, '}');
}

static void award_text(jf_json_text *b, const jf_tenant *t, const jf_award *a) {
    JF_KEY_INT(b, "{\"rule_id\":", a->rule_id);
    JF_KEY_INT(b, ",\"rule_version\":", a->rule_version);
    JF_KEY_STR(b, ",\"rule_name\":", a->rule_name);
    if (a->status == JF_AWARD_GIVEN) {
        JF_KEY_INT(b, ",\"points\":", a->points);
        JF_KEY_BOOL(b, ",\"capped\":", a->capped);
        if (a->available_at_ms) {
            JF_KEY_TIME(b, ",\"pending_until\":", t->timezone, a->available_at_ms);
        }
    } else {
        JF_KEY_STR(b, ",\"status\":", status_word(a->status));
    }
    JF_KEY_STR(b, ",\"explanation\":", a->explanation);
    jf_json_char(b, '}');
}

/* The awards given (given) or not, in rule order, as a list. */
static void awards_text(jf_json_text *b, const jf_tenant *t, const jf_event_outcome *out, bool given) {
    jf_json_char(b, '[');
    bool first = true;
    for (size_t i = 0; i < out->award_count; i++) {
        if ((out->awards[i].status == JF_AWARD_GIVEN) != given) continue;
        if (!first) jf_json_char(b, ',');
        first = false;
        award_text(b, t, &out->awards[i]);
    }
    jf_json_char(b, ']');
}

/* Integer members, n of them: each key a literal with its punctuation. */
static void put_ints(jf_json_text *b, const char *const *keys, const int64_t *values, size_t n) {
    for (size_t i = 0; i < n; i++) {
        jf_json_raw(b, keys[i], strlen(keys[i]));
        jf_json_int(b, values[i]);
    }
}

static void refund_text(jf_json_text *b, const jf_event_outcome *out) {
    static const char *const head_keys[] = {",\"amount_fen\":", ",\"refunded_fen\":", ",\"order_amount_fen\":",
                                            ",\"points_reversed\":"};
    static const char *const keys[] = {"{\"rule_id\":",        ",\"rule_version\":", ",\"awarded\":",
                                       ",\"reversed\":",       ",\"reversed_total\":", ",\"debt\":",
                                       ",\"clamped\":"};
    JF_KEY_STR(b, "{\"refund_of\":", out->refund_of);
    const int64_t head[] = {out->refund_fen, out->refunded_fen, out->order_fen, out->reversed_total};
    put_ints(b, head_keys, head, sizeof head / sizeof head[0]);
    jf_json_lit(b, ",\"reversals\":[");
    for (size_t i = 0; i < out->reversal_count; i++) {
        const jf_reversal *v = &out->reversals[i];
        const int64_t values[] = {v->rule_id,        v->rule_version, v->awarded,       v->reversed_now,
                                  v->reversed_total, v->debt_points,  v->clamped_points};
        if (i > 0) jf_json_char(b, ',');
        put_ints(b, keys, values, sizeof values / sizeof values[0]);
        jf_json_char(b, '}');
    }
    jf_json_lit(b, "]}");
}

/* The answer (NULL if out of memory).  Nothing here says whether it is a
 * replay: a replay's body is the original's, byte for byte (the
 * Idempotent-Replayed header says it). */
static char *outcome_text(const jf_tenant *t, const jf_event *ev, const jf_event_outcome *out, bool dry_run,
                          size_t *len) {
    jf_json_text b = {0};
    JF_KEY_STR(&b, "{\"event_id\":", ev->event_id);
    JF_KEY_STR(&b, ",\"type\":", ev->type);
    JF_KEY_STR(&b, ",\"member_id\":", ev->member_id);
    JF_KEY_BOOL(&b, ",\"dry_run\":", dry_run);
    JF_KEY_TIME(&b, ",\"occurred_at\":", t->timezone, out->occurred_at_ms);
    JF_KEY_INT(&b, ",\"points_awarded\":", out->points_total);
    jf_json_lit(&b, ",\"awards\":");
    awards_text(&b, t, out, true);
    jf_json_lit(&b, ",\"not_awarded\":");
    awards_text(&b, t, out, false);
    jf_json_lit(&b, ",\"tasks\":[");
    for (size_t i = 0; i < out->task_count; i++) {
        if (i > 0) jf_json_char(&b, ',');
        jf_render_task_state_text(&b, t, &out->tasks[i]);
    }
    jf_json_char(&b, ']');
    if (out->is_refund) {
        jf_json_lit(&b, ",\"refund\":");
        refund_text(&b, out);
    }
    jf_json_lit(&b, ",\"member\":");
    if (out->member_known) jf_render_member_text(&b, t, &out->member);
    else jf_json_lit(&b, "null");
    jf_json_char(&b, '}');
    return jf_json_text_take(&b, len);
}

/* ---- POST /v1/events ---- */

/* The parsed event and its outcome (90 KiB, nearly all of it room for the
 * longest lists) live in one block the job owns (job.extra: freed with the
 * job), allocated without clearing: the job itself is allocated cleared. */
typedef struct {
    parsed_event p;
    jf_event_outcome out;
} event_state;

typedef struct {
    jf_write_job job;
    event_state *st; /* == job.extra */
} event_job;

static jf_code event_run(jf_store *s, jf_write_job *job, jf_error *err) {
    event_state *st = ((event_job *)job)->st;
    jf_ctx c = jf_job_ctx(s, job);
    return jf_event_process(&c, &st->p.ev, st->p.refund_of, st->p.refund_fen, st->p.fingerprint, false, &st->out,
                            err);
}


static void event_done(jf_write_job *job) {
    event_state *st = ((event_job *)job)->st;
    if (job->req == NULL || job->code != JF_OK) {
        jf_write_job_answer(job, 0, NULL);
    } else {
        size_t len = 0;
        char *text = outcome_text(&job->tenant, &st->p.ev, &st->out, false, &len);
        jf_write_job_answer_text(job, 201, text, len, st->out.replayed);
    }
}

/* A block for the event, parsed from the request; NULL: answered already. */
static event_state *state_or_reply(jf_call *call) {
    event_state *st = malloc(sizeof *st);
    if (st == NULL) {
        jf_error err;
        jf_fail(&err, JF_UNAVAILABLE, "", "out of memory");
        jf_respond_error(call, &err);
        return NULL;
    }
    if (!event_or_reply(call, &st->p)) {
        free(st);
        return NULL;
    }
    return st;
}

void jf_h_event(jf_call *call) {
    event_state *st = state_or_reply(call);
    if (st == NULL) return;
    /* The job owns the document the event's strings point into, and the
     * block (which does not move: ev's pointers into it stay good). */
    event_job *j = (event_job *)jf_job_or_reply(call, sizeof *j, event_run, event_done, st->p.root, NULL);
    if (j == NULL) {
        free(st);
        return;
    }
    j->st = st;
    j->job.extra = st;
    jf_write_job_submit(&j->job);
}

/* ---- POST /v1/events/dry-run ---- */

void jf_h_event_dry_run(jf_call *call) {
    event_state *st = state_or_reply(call);
    if (st == NULL) return;
    parsed_event *p = &st->p;
    jf_error err;
    jf_error_clear(&err);
    jf_ctx c = {.store = call->loop->store, .tenant = &call->tenant, .now_ms = call->now_ms};
    jf_code rc = jf_event_process(&c, &p->ev, p->refund_of, p->refund_fen, p->fingerprint, true, &st->out, &err);
    if (rc == JF_OK) {
        size_t len = 0;
        char *text = outcome_text(&call->tenant, &p->ev, &st->out, true, &len);
        jf_respond_json_text(call, 200, text, len);
    } else {
        jf_reply_error(call, &err);
    }
    json_decref(p->root);
    free(st);
}
