/*
 * rules.h — earning rules: what a rule is, how it is saved, and how one
 * event is turned into awards.
 *
 * A rule is data an operator writes (docs/rules.md): the event type it
 * listens to, a condition (`when`, the language of expr.h), an award (fixed
 * points, or a rate on the amount with per-item multipliers by category or
 * SKU), campaign multipliers with time windows and how they combine,
 * a frequency, caps, a validity window and an activation delay.  A rule is
 * stored as its JSON definition (the API's own shape) and compiled once
 * when it is loaded: jf_rule_parse checks every field and compiles the
 * condition, so a rule that is saved always loads.
 *
 * Evaluation is split in two pure steps, so that it can be tested without a
 * store and runs without allocating:
 *   jf_rule_compute — does the rule match the event, and how many points
 *                     before the limits that need history (base, multipliers,
 *                     per-award cap);
 *   jf_rule_limit   — apply frequency, per-member caps and the campaign
 *                     budget, given what the store says was already awarded.
 * Each step appends to the award's explanation ("12,800 fen → 128 points at
 * 1 per 100 fen; weekend ×3 → 384; capped at 300 by the daily limit").
 * events.h runs them against the store and writes the awards.
 */
#ifndef JF_RULES_H
#define JF_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/expr.h"
#include "util/errors.h"
#include "util/limits.h"
#include "util/tz.h"

/* Per-item multipliers of one rule: at most 32 (categories and SKUs). */
#define JF_RULE_ITEM_MULTIPLIERS_MAX 32
/* Campaign multipliers of one rule: at most 8 windows. */
#define JF_RULE_CAMPAIGNS_MAX 8
/* Rate: points per fen as a ratio, each side 1..10^6. */
#define JF_RATE_TERM_MAX 1000000
/* Activation delay and points lifetime of a rule's awards: days. */
#define JF_RULE_DAYS_MAX 3660

typedef enum { JF_AWARD_FIXED = 0, JF_AWARD_RATE = 1 } jf_award_kind;
typedef enum {
    JF_FREQ_ANY = 0,   /* every matching event */
    JF_FREQ_ONCE = 1,  /* once ever per member (first order) */
    JF_FREQ_DAY = 2,   /* once per tenant-time day */
    JF_FREQ_WEEK = 3,  /* once per ISO week (Monday to Sunday) */
    JF_FREQ_MONTH = 4  /* once per calendar month (first order of the month) */
} jf_frequency;
typedef enum { JF_COMBINE_MULTIPLY = 0, JF_COMBINE_MAX = 1 } jf_combine;

typedef struct {
    char category[JF_ITEM_CODE_BYTES_MAX + 1]; /* "" unless matching by category */
    char sku[JF_ITEM_CODE_BYTES_MAX + 1];      /* "" unless matching by SKU */
    int64_t multiplier;                        /* 2..JF_MULTIPLIER_MAX */
} jf_item_multiplier;

/* A campaign window: it applies when every condition it sets holds for the
 * event's tenant-time date. */
typedef struct {
    char name[JF_RULE_NAME_BYTES_MAX + 1];
    int64_t multiplier;     /* 1..JF_MULTIPLIER_MAX */
    uint8_t weekdays_mask;  /* bit d (1 = Monday … 7 = Sunday); 0 = any day */
    int32_t from_date;      /* YYYYMMDD inclusive, 0 = open */
    int32_t to_date;        /* YYYYMMDD inclusive, 0 = open */
    int32_t month_day;      /* 1..31: the monthly member day; 0 = any */
} jf_campaign;

typedef struct {
    int64_t id;       /* 0 until saved */
    int64_t version;  /* 1, 2, 3… a new one on every change */
    char name[JF_RULE_NAME_BYTES_MAX + 1];
    char event_type[JF_EVENT_TYPE_LEN_MAX + 1];
    char when[JF_EXPR_SOURCE_BYTES_MAX + 1]; /* "" = always */
    bool enabled;
    jf_award_kind kind;
    int64_t points;       /* fixed */
    int64_t rate_points;  /* rate: rate_points per rate_fen fen, floor */
    int64_t rate_fen;
    jf_item_multiplier items[JF_RULE_ITEM_MULTIPLIERS_MAX];
    size_t item_count;
    jf_campaign campaigns[JF_RULE_CAMPAIGNS_MAX];
    size_t campaign_count;
    jf_combine combine;
    jf_frequency frequency;
    int64_t cap_per_award;    /* 0 = none */
    int64_t cap_member_day;   /* points of this rule per member per day; 0 = none */
    int64_t cap_member_month; /* … per calendar month */
    int64_t budget;           /* points of this rule for everyone, ever */
    int64_t valid_from_ms;    /* 0 = open */
    int64_t valid_to_ms;      /* exclusive; 0 = open */
    int32_t pending_days;     /* awards are pending this many days; 0 = active at once */
    int32_t expires_days;     /* awards expire this many days after earning; 0 = tenant policy */
    int64_t created_at_ms, updated_at_ms;
} jf_rule;

/* A rule with its compiled condition (immutable once built). */
typedef struct {
    jf_rule rule;
    jf_expr_program *program; /* NULL when `when` is empty */
    bool per_item;            /* the condition reads item.*: evaluated per item */
    bool uses_orders;         /* the condition reads member.orders_count */
    bool history;             /* its awards count for frequency and caps (jf_rule_row.history) */
} jf_compiled_rule;

/* ---- definitions ----------------------------------------------------------- */

/* Parse and check a rule definition (the API's JSON object) into *out and
 * compile its condition into cr (may be NULL: check only).  Unknown fields,
 * wrong types and values out of bounds are JF_INVALID_FIELD naming the field
 * ("award.rate.per_fen"); a condition that does not compile is
 * JF_RULE_INVALID with its position.  id, version and times are not read. */
jf_code jf_rule_parse(const json_t *def, jf_rule *out, jf_compiled_rule *cr, jf_error *err);
/* The definition as JSON (what jf_rule_parse reads back), a new reference. */
json_t *jf_rule_to_json(const jf_rule *r);
/* Compile r into cr (r was parsed before, so this only fails if the
 * language changed under a stored rule). */
jf_code jf_rule_compile(const jf_rule *r, jf_compiled_rule *cr, jf_error *err);
void jf_compiled_rule_free(jf_compiled_rule *cr);

const char *jf_frequency_name(jf_frequency f);
int jf_frequency_parse(const char *s);

/* ---- events ----------------------------------------------------------------- */

typedef struct {
    const char *sku;      /* may be NULL */
    const char *category; /* may be NULL */
    int64_t amount_fen;
    int64_t quantity;
} jf_event_item;

/* An event's attributes, checked and made ready for conditions: each a
 * value of the language (strings borrowed from the JSON they were loaded
 * from, list items gathered into the arrays below), so that a condition
 * reads them without allocating.  It holds no pointer into itself (a list's
 * items are found by list_start), so it may be copied. */
typedef struct {
    size_t count;
    const char *names[JF_EVENT_ATTRIBUTES_MAX];
    jf_expr_value values[JF_EVENT_ATTRIBUTES_MAX]; /* a list's items pointer is NULL here */
    size_t list_start[JF_EVENT_ATTRIBUTES_MAX];    /* a list's first item in ints or strs */
    size_t int_count, str_count;                   /* list items used */
    int64_t ints[JF_EVENT_ATTRIBUTE_ITEMS_MAX];
    jf_expr_str strs[JF_EVENT_ATTRIBUTE_ITEMS_MAX];
} jf_event_attributes;

/* Check an event's `attributes` object (NULL: none) and load it into out.
 * Names are 1..64 of [A-Za-z0-9_]; values strings of at most 256 bytes,
 * integers, booleans, or lists of at most 64 strings or 64 integers (not
 * mixed, nothing nested; an empty list contains nothing).  A bad one is
 * JF_INVALID_FIELD naming it ("attributes.tags[2]").  out borrows the
 * strings of attributes, which must outlive it. */
jf_code jf_event_attributes_load(const json_t *attributes, jf_event_attributes *out, jf_error *err);

typedef struct {
    const char *type;
    const char *event_id;
    const char *member_id;
    const char *channel; /* may be NULL */
    int64_t occurred_at_ms;
    bool has_amount;
    int64_t amount_fen;
    const jf_event_item *items;
    size_t item_count;
    const jf_event_attributes *attributes; /* NULL: none */
} jf_event;

/* What the condition may know of the member. */
typedef struct {
    const char *tier;           /* "" until tiers exist */
    int64_t days_since_joining; /* 0 for a new member */
    int64_t orders_count;       /* order.paid events before this one */
} jf_member_facts;

/* ---- awards ------------------------------------------------------------------ */

typedef enum {
    JF_AWARD_GIVEN = 0,       /* points > 0 */
    JF_AWARD_NO_MATCH = 1,    /* condition false, outside validity, … */
    JF_AWARD_LIMITED = 2,     /* frequency, a cap or the budget left nothing */
    JF_AWARD_EVAL_ERROR = 3   /* the condition failed to evaluate (counts as false) */
} jf_award_status;

typedef struct {
    int64_t rule_id;
    int64_t rule_version;
    char rule_name[JF_RULE_NAME_BYTES_MAX + 1];
    jf_award_status status;
    int64_t points;           /* awarded (0 unless GIVEN) */
    int64_t computed_points;  /* before frequency, caps and budget */
    bool capped;
    int64_t available_at_ms;  /* 0: at once */
    int64_t expires_at_ms;    /* 0: the tenant's policy */
    char explanation[JF_EXPLANATION_BYTES_MAX + 1];
} jf_award;

/* Step 1: does cr match ev (its type, validity window and condition), and
 * the points before history-dependent limits.  civil is ev's time in the
 * tenant's zone.  Never fails: a non-match says why in the explanation. */
void jf_rule_compute(const jf_compiled_rule *cr, const jf_event *ev, const jf_member_facts *facts,
                     const jf_civil *civil, const char *tz, jf_award *out);

/* What was already awarded by this rule (from the store). */
typedef struct {
    int64_t awards_in_period; /* by this rule to this member in the frequency's period */
    int64_t points_day;       /* by this rule to this member today (tenant time) */
    int64_t points_month;     /* … this calendar month */
    int64_t points_budget;    /* by this rule to everyone, ever */
} jf_rule_usage;

/* Step 2: apply frequency, per-member caps and the budget to a computed
 * award (status GIVEN); may lower its points or turn it LIMITED. */
void jf_rule_limit(const jf_rule *r, const jf_rule_usage *usage, jf_award *a);

/* The start and end (exclusive) of r's frequency period containing ms, in
 * tenant time; ONCE: all time; ANY: false. */
bool jf_rule_period(const jf_rule *r, const char *tz, int64_t ms, int64_t *from_ms, int64_t *to_ms);
/* Whether the rule's awards must be counted when it awards again: it has a
 * frequency, a member cap (day or month) or a budget. */
bool jf_rule_keeps_history(const jf_rule *r);

/* Evaluate a condition over the event as a whole (no current item): true
 * when it holds; an evaluation error is false, with the message in why. */
bool jf_event_condition(const jf_expr_program *p, const jf_event *ev, const jf_member_facts *facts,
                        const jf_civil *civil, char *why, size_t why_cap);

/* 12800 → "12,800". */
void jf_format_int(int64_t v, char *buf, size_t cap);

#endif
