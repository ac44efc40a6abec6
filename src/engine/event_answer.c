/*
 * event_answer.c — an event's answer, kept so that a replay of the event_id
 * answers byte for byte what the first request was answered.
 *
 * The answer is everything jf_event_outcome shows: every rule's award or
 * why not (points, capped, pending, explanation), the tasks the event
 * advanced, the refund's reversals, and the member as it was right after
 * the event.  Most of it exists nowhere else (an award that was not given
 * has no row; the member changes later), so it is stored with the event.
 *
 * Version 2 (written now) is a flat list of fields, each ended by ',':
 * integers in decimal (0 as nothing), strings as "<length>:<bytes>".  It
 * leaves out what the replay knows without it: the member's ids (the
 * event's row and request) and the names of rules and tasks (their
 * versions, which never change: events.c looks them up).  In explanations
 * the phrases rules.c builds them from take one byte each (phrases[]).
 * The demo's order's answer went from ~620 bytes of JSON to ~220, and the bytes
 * an event adds to the database are what its checkpoints copy
 * (docs/architecture.md, eighth round).  Version 1, compact JSON with
 * every name, was written before; it is still read.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "engine/events.h"
#include "engine/internal.h"
#include "util/json_text.h"

/* Fields of each record, in order (integers first, then strings). */
enum { MEMBER_INTS = 13, AWARD_INTS = 8, TASK_INTS = 13, REFUND_INTS = 4, REVERSAL_INTS = 7 };
/* Version 2 leaves out the member's id and tenant (and its ext_id). */
enum { MEMBER_INTS_V2 = MEMBER_INTS - 2 };

/* ---- version 2's phrases ----
 * Byte 1 + i in a stored string is phrases[i]; byte ESCAPE says the byte
 * after it is itself (a control character of the text).  Append only: a
 * stored answer's bytes keep the meaning they had when it was written. */
typedef struct {
    const char *text;
    size_t len;
} phrase;
#define P(s) {s, sizeof s - 1}
static const phrase phrases[] = {
    P("the condition is false"),
    P("; not awarded: once per member, already awarded ever"),
    P("; not awarded: once per day, already awarded today"),
    P("; not awarded: once per week, already awarded this week"),
    P("; not awarded: once per month, already awarded this month"),
    P(" points at "),
    P(" point at "),
    P(" per 100 fen"),
    P(" points"),
    P(" point"),
    P(" fen → "),
    P(" fen"),
    P(" → "),
    P("; capped at "),
    P(" by the per-award cap"),
    P(" by the daily limit"),
    P(" by the monthly limit"),
    P(" by the campaign budget"),
    P("; not awarded: the "),
    P(" is reached"),
    P("; pending "),
    P(" days"),
    P(" fen of "),
    P(" weighted fen)"),
    P(" per "),
    P("condition failed to evaluate: "),
};
#undef P
#define PHRASES (sizeof phrases / sizeof phrases[0])
#define ESCAPE 0x1F
_Static_assert(PHRASES < ESCAPE, "phrase bytes stay below the escape");

const char *jf_answer_phrase(size_t i) { return i < PHRASES ? phrases[i].text : NULL; }

/* The first bytes of the phrases (test_events checks every phrase's): the
 * other bytes of a string are copied without looking further. */
bool jf_answer_phrase_may_start(unsigned char c) { return c == ' ' || c == ';' || c == 't' || c == 'c'; }

/* The longest phrase at s[0..n), its index (-1: none) and length.  Most
 * start with a space, so their second byte is looked at before the rest. */
static int phrase_at(const char *s, size_t n, size_t *len) {
    int best = -1;
    *len = 0;
    for (size_t i = 0; i < PHRASES; i++) {
        const phrase *p = &phrases[i];
        if (p->len > n || p->len <= *len || p->text[0] != s[0] || p->text[1] != s[1]) continue;
        if (memcmp(p->text, s, p->len) == 0) {
            best = (int)i;
            *len = p->len;
        }
    }
    return best;
}

/* ---- encoding (version 2), by hand: it runs on the committer for every
 * event ---- */

static void put_int(jf_json_text *b, int64_t v) {
    if (v != 0) jf_json_int(b, v);
    jf_json_char(b, ',');
}

static void put_ints(jf_json_text *b, const int64_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) put_int(b, v[i]);
}

/* Explanations are the longest strings; biz_no and event ids are shorter. */
#define STRING_MAX JF_EXPLANATION_BYTES_MAX
_Static_assert(JF_BIZ_NO_LEN_MAX <= STRING_MAX && JF_EVENT_ID_LEN_MAX <= STRING_MAX, "strings fit");

static void put_string(jf_json_text *b, const char *s) {
    size_t n = strlen(s);
    assert(n <= STRING_MAX);
    char out[2 * STRING_MAX]; /* every byte escaped, at most */
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t len;
        int p = jf_answer_phrase_may_start(c) ? phrase_at(s + i, n - i, &len) : -1;
        if (p >= 0) {
            out[o++] = (char)(1 + p);
            i += len;
            continue;
        }
        if (c <= ESCAPE) out[o++] = ESCAPE;
        out[o++] = (char)c;
        i++;
    }
    jf_json_int(b, (int64_t)o);
    jf_json_char(b, ':');
    jf_json_raw(b, out, o);
    jf_json_char(b, ',');
}

static void put_member(jf_json_text *b, const jf_member *m) {
    const jf_account *a = &m->acct;
    int64_t v[MEMBER_INTS_V2] = {m->status, a->available, a->frozen, a->pending, a->debt, a->earned,
                                 a->spent,  a->expired,   m->entry_seq, m->created_at_ms, m->updated_at_ms};
    put_ints(b, v, MEMBER_INTS_V2);
}

static void put_award(jf_json_text *b, const jf_award *w) {
    int64_t v[AWARD_INTS] = {w->rule_id, w->rule_version,    w->status,         w->points,
                             w->computed_points, w->capped, w->available_at_ms, w->expires_at_ms};
    put_ints(b, v, AWARD_INTS);
    put_string(b, w->explanation);
}

static void put_task(jf_json_text *b, const jf_task_state *t) {
    int64_t v[TASK_INTS] = {t->task_id,  t->task_version,    t->period,        t->goal_is_sum, t->claim,
                            t->goal,     t->reward_points,   t->period_start_ms, t->period_end_ms, t->progress,
                            t->completed, t->rewarded,       t->points_awarded};
    put_ints(b, v, TASK_INTS);
}

static void put_refund(jf_json_text *b, const jf_event_outcome *o) {
    int64_t v[REFUND_INTS] = {o->refund_fen, o->refunded_fen, o->order_fen, o->reversed_total};
    put_ints(b, v, REFUND_INTS);
    put_string(b, o->refund_of);
    put_int(b, (int64_t)o->reversal_count);
    for (size_t i = 0; i < o->reversal_count; i++) {
        const jf_reversal *x = &o->reversals[i];
        int64_t w[REVERSAL_INTS] = {x->rule_id,        x->rule_version, x->awarded,       x->reversed_now,
                                    x->reversed_total, x->debt_points,  x->clamped_points};
        put_ints(b, w, REVERSAL_INTS);
        put_string(b, x->biz_no);
    }
}

char *jf_event_answer_encode(const jf_event_outcome *o) {
    jf_json_text b = {0};
    jf_json_lit(&b, "2,");
    put_int(&b, o->occurred_at_ms);
    put_int(&b, o->points_total);
    put_member(&b, &o->member);
    put_int(&b, (int64_t)o->award_count);
    for (size_t i = 0; i < o->award_count; i++) put_award(&b, &o->awards[i]);
    put_int(&b, (int64_t)o->task_count);
    for (size_t i = 0; i < o->task_count; i++) put_task(&b, &o->tasks[i]);
    put_int(&b, o->is_refund);
    if (o->is_refund) put_refund(&b, o);
    if (b.failed) abort(); /* allocation failure aborts, as everywhere in the engine */
    if (b.len > JF_EVENT_ANSWER_BYTES_MAX) {
        free(b.text);
        return NULL;
    }
    return jf_json_text_take(&b, NULL);
}

/* ---- decoding: every record checked for its shape.  The integers of a
 * record go into its fields the same way from either version. ---- */

static void member_from(const int64_t *v, jf_member *m) {
    m->status = (jf_member_status)v[0];
    m->acct = (jf_account){v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
    m->entry_seq = v[8];
    m->created_at_ms = v[9];
    m->updated_at_ms = v[10];
}

static void award_from(const int64_t *v, jf_award *w) {
    w->rule_id = v[0];
    w->rule_version = v[1];
    w->status = (jf_award_status)v[2];
    w->points = v[3];
    w->computed_points = v[4];
    w->capped = v[5] != 0;
    w->available_at_ms = v[6];
    w->expires_at_ms = v[7];
}

static void task_from(const int64_t *v, jf_task_state *t) {
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
}

static void refund_from(const int64_t *v, jf_event_outcome *o) {
    o->is_refund = true;
    o->refund_fen = v[0];
    o->refunded_fen = v[1];
    o->order_fen = v[2];
    o->reversed_total = v[3];
}

static void reversal_from(const int64_t *w, jf_reversal *x) {
    x->rule_id = w[0];
    x->rule_version = w[1];
    x->awarded = w[2];
    x->reversed_now = w[3];
    x->reversed_total = w[4];
    x->debt_points = w[5];
    x->clamped_points = w[6];
}

/* ---- version 2 ---- */

typedef struct {
    const char *p, *end;
    bool ok; /* false from the first malformed field on: every later read gives 0 or "" */
} reader;

/* Digits up to the stop byte, which is consumed; 0 if there are none. */
static int64_t get_number(reader *r, char stop) {
    if (!r->ok) return 0;
    bool negative = r->p < r->end && *r->p == '-';
    if (negative) r->p++;
    uint64_t u = 0;
    size_t digits = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        unsigned d = (unsigned)(*r->p++ - '0');
        if (u > (UINT64_MAX - d) / 10) r->ok = false;
        u = u * 10 + d;
        digits++;
    }
    if (r->p >= r->end || *r->p != stop || (negative && digits == 0) ||
        u > (negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
        r->ok = false;
    if (!r->ok) return 0;
    r->p++;
    return negative ? (int64_t)(0 - u) : (int64_t)u;
}

static void get_ints(reader *r, int64_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = get_number(r, ',');
}

/* A count of records, at most max. */
static size_t get_count(reader *r, size_t max) {
    int64_t n = get_number(r, ',');
    if (n < 0 || (uint64_t)n > max) r->ok = false;
    return r->ok ? (size_t)n : 0;
}

/* A string into dst (cap bytes with its NUL), phrases written out; one
 * that does not fit is refused, not cut. */
static void get_string(reader *r, char *dst, size_t cap) {
    dst[0] = '\0';
    int64_t n = get_number(r, ':');
    if (!r->ok || n < 0 || n >= r->end - r->p) { /* its bytes, then ',' */
        r->ok = false;
        return;
    }
    const char *s = r->p, *end = r->p + n;
    size_t o = 0;
    bool whole = true;
    while (s < end && whole) {
        unsigned char c = (unsigned char)*s;
        const char *piece = s;
        size_t len = 1, used = 1;
        if (c == ESCAPE) { /* a control character of the text */
            whole = s + 1 < end && (unsigned char)s[1] >= 1 && (unsigned char)s[1] <= ESCAPE;
            piece = s + 1;
            used = 2;
        } else if (c >= 1 && c <= PHRASES) {
            piece = phrases[c - 1].text;
            len = phrases[c - 1].len;
        } else if (c < ' ') {
            whole = false; /* neither a phrase nor escaped */
        }
        whole = whole && len < cap - o;
        if (!whole) break;
        memcpy(dst + o, piece, len);
        o += len;
        s += used;
    }
    dst[o] = '\0';
    if (!whole || *end != ',') {
        r->ok = false;
        dst[0] = '\0';
        return;
    }
    r->p = end + 1;
}

static bool decode_v2(const char *text, jf_event_outcome *o) {
    reader rd = {text, text + strlen(text), true}, *r = &rd;
    if (get_number(r, ',') != 2) return false;
    o->occurred_at_ms = get_number(r, ',');
    o->points_total = get_number(r, ',');
    int64_t v[TASK_INTS]; /* the longest record */
    get_ints(r, v, MEMBER_INTS_V2);
    memset(&o->member, 0, sizeof o->member); /* its ids: the replay's (events.c) */
    member_from(v, &o->member);
    o->member_known = true;
    o->award_count = get_count(r, JF_RULES_PER_TENANT_MAX);
    for (size_t i = 0; i < o->award_count; i++) {
        jf_award *w = &o->awards[i];
        memset(w, 0, sizeof *w);
        get_ints(r, v, AWARD_INTS);
        award_from(v, w);
        get_string(r, w->explanation, sizeof w->explanation);
    }
    o->task_count = get_count(r, JF_TASKS_PER_TENANT_MAX);
    for (size_t i = 0; i < o->task_count; i++) {
        memset(&o->tasks[i], 0, sizeof o->tasks[i]);
        get_ints(r, v, TASK_INTS);
        task_from(v, &o->tasks[i]);
    }
    if (get_count(r, 1) == 1) {
        get_ints(r, v, REFUND_INTS);
        refund_from(v, o);
        get_string(r, o->refund_of, sizeof o->refund_of);
        o->reversal_count = get_count(r, JF_RULES_PER_TENANT_MAX);
        for (size_t i = 0; i < o->reversal_count; i++) {
            jf_reversal *x = &o->reversals[i];
            memset(x, 0, sizeof *x);
            get_ints(r, v, REVERSAL_INTS);
            reversal_from(v, x);
            get_string(r, x->biz_no, sizeof x->biz_no);
        }
    }
    return r->ok && r->p == r->end;
}

/* ---- version 1: compact JSON, each record an array of its integers
 * followed by its strings ---- */

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
    member_from(v + 2, m);
    return true;
}

static bool decode_award(const json_t *a, jf_award *w) {
    int64_t v[AWARD_INTS];
    memset(w, 0, sizeof *w);
    if (!read_record(a, v, AWARD_INTS, w->rule_name, sizeof w->rule_name, w->explanation, sizeof w->explanation))
        return false;
    award_from(v, w);
    return true;
}

static bool decode_task(const json_t *a, jf_task_state *t) {
    int64_t v[TASK_INTS];
    memset(t, 0, sizeof *t);
    if (!read_record(a, v, TASK_INTS, t->name, sizeof t->name, NULL, 0)) return false;
    task_from(v, t);
    return true;
}

static bool decode_refund(const json_t *r, jf_event_outcome *o) {
    int64_t v[REFUND_INTS];
    if (!read_record(r, v, REFUND_INTS, o->refund_of, sizeof o->refund_of, NULL, 0)) return false;
    refund_from(v, o);
    const json_t *list = json_array_get(r, REFUND_INTS + 1);
    if (!json_is_array(list) || json_array_size(list) > JF_RULES_PER_TENANT_MAX) return false;
    for (size_t i = 0; i < json_array_size(list); i++) {
        jf_reversal *x = &o->reversals[o->reversal_count++];
        int64_t w[REVERSAL_INTS];
        memset(x, 0, sizeof *x);
        if (!read_record(json_array_get(list, i), w, REVERSAL_INTS, x->biz_no, sizeof x->biz_no, NULL, 0))
            return false;
        reversal_from(w, x);
    }
    return true;
}

static bool decode_v1(json_t *doc, jf_event_outcome *o) {
    json_int_t version = 0, occurred = 0, points = 0;
    json_t *m = NULL, *awards = NULL, *tasks = NULL, *refund = NULL;
    if (json_unpack(doc, "{s:I, s:I, s:I, s:o, s:o, s:o, s?o}", "v", &version, "t", &occurred, "p", &points, "m", &m,
                    "a", &awards, "k", &tasks, "r", &refund) != 0 ||
        version != 1 || !json_is_array(awards) || json_array_size(awards) > JF_RULES_PER_TENANT_MAX ||
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
    if (text[0] != '{') {
        if (!decode_v2(text, o)) return jf_fail(err, JF_INTERNAL, "", "stored event answer malformed");
        return JF_OK;
    }
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (doc == NULL) return jf_fail(err, JF_INTERNAL, "", "stored event answer unreadable: %s", jerr.text);
    bool ok = decode_v1(doc, o);
    json_decref(doc);
    return ok ? JF_OK : jf_fail(err, JF_INTERNAL, "", "stored event answer malformed");
}
