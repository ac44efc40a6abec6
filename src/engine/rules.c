/*
 * rules.c — earning rules: definitions (JSON in, JSON out, every field
 * checked) and the two pure evaluation steps (compute, limit), each writing
 * its part of the award's explanation.  Nothing here touches the store;
 * events.c does.
 *
 * Arithmetic: amounts are below 2^53 and rates are at most 10^6/1, so
 * amount × rate is computed in 128 bits and floored; multipliers are
 * applied with overflow checks and the result is never above
 * JF_POINTS_MAX (what one ledger operation may move).
 */
#include "engine/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "util/json_text.h"

/* ---- small JSON readers, each naming the field it refuses ------------------ */

static void path_of(char *out, size_t cap, const char *prefix, const char *key) {
    if (prefix[0]) snprintf(out, cap, "%s.%s", prefix, key);
    else snprintf(out, cap, "%s", key);
}

static jf_code only_keys(const json_t *o, const char *prefix, const char *const *keys, jf_error *err) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        (void)v;
        bool known = false;
        for (const char *const *p = keys; *p && !known; p++) known = strcmp(*p, k) == 0;
        if (!known) {
            char path[64];
            path_of(path, sizeof path, prefix, k);
            return jf_fail(err, JF_INVALID_FIELD, path, "unknown field %s", path);
        }
    }
    return JF_OK;
}

static jf_code get_int(const json_t *o, const char *prefix, const char *key, int64_t lo, int64_t hi, bool required,
                       int64_t *out, bool *present, jf_error *err) {
    char path[64];
    path_of(path, sizeof path, prefix, key);
    json_t *v = json_object_get(o, key);
    if (present) *present = v != NULL;
    if (v == NULL) return required ? jf_fail(err, JF_INVALID_FIELD, path, "%s is required", path) : JF_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return jf_fail(err, JF_INVALID_FIELD, path, "%s must be an integer between %lld and %lld", path,
                       (long long)lo, (long long)hi);
    *out = json_integer_value(v);
    return JF_OK;
}

typedef bool (*chars_fn)(unsigned char c);
static bool chars_code(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}
static bool chars_text(unsigned char c) { return c >= 0x20 && c != 0x7f; }

static jf_code get_str(const json_t *o, const char *prefix, const char *key, size_t lo, size_t hi, chars_fn ok,
                       const char *what, bool required, char *out, size_t cap, jf_error *err) {
    char path[64];
    path_of(path, sizeof path, prefix, key);
    json_t *v = json_object_get(o, key);
    if (v == NULL) return required ? jf_fail(err, JF_INVALID_FIELD, path, "%s is required", path) : JF_OK;
    if (!json_is_string(v)) return jf_fail(err, JF_INVALID_FIELD, path, "%s must be a string", path);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    bool good = n >= lo && n <= hi && n < cap && strlen(s) == n;
    for (size_t i = 0; good && i < n; i++) good = ok((unsigned char)s[i]);
    if (!good) return jf_fail(err, JF_INVALID_FIELD, path, "%s must be %zu..%zu bytes of %s", path, lo, hi, what);
    memcpy(out, s, n);
    out[n] = '\0';
    return JF_OK;
}

static jf_code get_bool(const json_t *o, const char *prefix, const char *key, bool *out, jf_error *err) {
    json_t *v = json_object_get(o, key);
    if (v == NULL) return JF_OK;
    char path[64];
    path_of(path, sizeof path, prefix, key);
    if (!json_is_boolean(v)) return jf_fail(err, JF_INVALID_FIELD, path, "%s must be true or false", path);
    *out = json_is_true(v);
    return JF_OK;
}

static jf_code get_object(const json_t *o, const char *key, const json_t **out, jf_error *err) {
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL) return JF_OK;
    if (!json_is_object(v)) return jf_fail(err, JF_INVALID_FIELD, key, "%s must be an object", key);
    *out = v;
    return JF_OK;
}

static jf_code get_time(const json_t *o, const char *key, int64_t *out, jf_error *err) {
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v)) return JF_OK;
    int64_t ms = 0;
    if (!json_is_string(v) || !jf_parse_rfc3339(json_string_value(v), &ms) || ms < JF_TIME_MS_MIN ||
        ms > JF_TIME_MS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, key, "%s must be an RFC 3339 time with an offset", key);
    *out = ms;
    return JF_OK;
}

static jf_code get_date(const json_t *o, const char *prefix, const char *key, int32_t *out, jf_error *err) {
    json_t *v = json_object_get(o, key);
    if (v == NULL) return JF_OK;
    char path[64];
    path_of(path, sizeof path, prefix, key);
    int32_t y, m, d;
    if (!json_is_string(v) || !jf_parse_date(json_string_value(v), &y, &m, &d))
        return jf_fail(err, JF_INVALID_FIELD, path, "%s must be a date YYYY-MM-DD", path);
    *out = y * 10000 + m * 100 + d;
    return JF_OK;
}

/* ---- names ------------------------------------------------------------------- */

static const char *const frequency_names[] = {"any", "once", "day", "week", "month"};

const char *jf_frequency_name(jf_frequency f) {
    return (unsigned)f < sizeof frequency_names / sizeof frequency_names[0] ? frequency_names[f] : "?";
}

int jf_frequency_parse(const char *s) {
    for (size_t i = 0; i < sizeof frequency_names / sizeof frequency_names[0]; i++)
        if (strcmp(s, frequency_names[i]) == 0) return (int)i;
    return -1;
}

/* ---- parsing a definition --------------------------------------------------- */

static jf_code parse_item_multipliers(const json_t *award, jf_rule *r, jf_error *err) {
    json_t *list = json_object_get(award, "item_multipliers");
    if (list == NULL) return JF_OK;
    if (!json_is_array(list) || json_array_size(list) > JF_RULE_ITEM_MULTIPLIERS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "award.item_multipliers",
                       "award.item_multipliers must be a list of at most %d {category|sku, multiplier}",
                       JF_RULE_ITEM_MULTIPLIERS_MAX);
    if (r->kind != JF_AWARD_RATE)
        return jf_fail(err, JF_INVALID_FIELD, "award.item_multipliers", "item multipliers apply to a rate award");
    static const char *const keys[] = {"category", "sku", "multiplier", NULL};
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *m = json_array_get(list, i);
        char prefix[48];
        snprintf(prefix, sizeof prefix, "award.item_multipliers[%zu]", i);
        if (!json_is_object(m)) return jf_fail(err, JF_INVALID_FIELD, prefix, "%s must be an object", prefix);
        jf_item_multiplier *im = &r->items[i];
        TRY(only_keys(m, prefix, keys, err));
        TRY(get_str(m, prefix, "category", 1, JF_ITEM_CODE_BYTES_MAX, chars_text, "text", false, im->category,
                    sizeof im->category, err));
        TRY(get_str(m, prefix, "sku", 1, JF_ITEM_CODE_BYTES_MAX, chars_text, "text", false, im->sku, sizeof im->sku,
                    err));
        if ((im->category[0] != '\0') == (im->sku[0] != '\0'))
            return jf_fail(err, JF_INVALID_FIELD, prefix, "%s needs exactly one of category and sku", prefix);
        TRY(get_int(m, prefix, "multiplier", 2, JF_MULTIPLIER_MAX, true, &im->multiplier, NULL, err));
        r->item_count++;
    }
    return JF_OK;
}

static jf_code parse_award(const json_t *def, jf_rule *r, jf_error *err) {
    const json_t *award = NULL;
    TRY(get_object(def, "award", &award, err));
    if (award == NULL) return jf_fail(err, JF_INVALID_FIELD, "award", "award is required: {\"points\": N} or {\"rate\": {...}}");
    static const char *const keys[] = {"points", "rate", "item_multipliers", NULL};
    TRY(only_keys(award, "award", keys, err));
    json_t *rate = json_object_get(award, "rate");
    bool has_points = json_object_get(award, "points") != NULL;
    if (has_points == (rate != NULL))
        return jf_fail(err, JF_INVALID_FIELD, "award", "award needs exactly one of points (fixed) and rate");
    if (has_points) {
        r->kind = JF_AWARD_FIXED;
        TRY(get_int(award, "award", "points", JF_POINTS_MIN, JF_POINTS_MAX, true, &r->points, NULL, err));
    } else {
        r->kind = JF_AWARD_RATE;
        if (!json_is_object(rate)) return jf_fail(err, JF_INVALID_FIELD, "award.rate", "award.rate must be an object");
        static const char *const rate_keys[] = {"points", "per_fen", NULL};
        TRY(only_keys(rate, "award.rate", rate_keys, err));
        TRY(get_int(rate, "award.rate", "points", 1, JF_RATE_TERM_MAX, true, &r->rate_points, NULL, err));
        TRY(get_int(rate, "award.rate", "per_fen", 1, JF_RATE_TERM_MAX, true, &r->rate_fen, NULL, err));
    }
    return parse_item_multipliers(award, r, err);
}

static jf_code parse_weekdays(const json_t *c, const char *prefix, jf_campaign *k, jf_error *err) {
    json_t *days = json_object_get(c, "weekdays");
    if (days == NULL) return JF_OK;
    char path[64];
    path_of(path, sizeof path, prefix, "weekdays");
    if (!json_is_array(days) || json_array_size(days) == 0 || json_array_size(days) > 7)
        return jf_fail(err, JF_INVALID_FIELD, path, "%s must be a list of 1..7 weekdays (1 = Monday … 7 = Sunday)", path);
    for (size_t i = 0; i < json_array_size(days); i++) {
        json_t *d = json_array_get(days, i);
        if (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 7)
            return jf_fail(err, JF_INVALID_FIELD, path, "%s must hold weekdays 1 (Monday) … 7 (Sunday)", path);
        k->weekdays_mask |= (uint8_t)(1u << json_integer_value(d));
    }
    return JF_OK;
}

static jf_code parse_campaigns(const json_t *def, jf_rule *r, jf_error *err) {
    json_t *list = json_object_get(def, "campaigns");
    if (list == NULL) return JF_OK;
    if (!json_is_array(list) || json_array_size(list) > JF_RULE_CAMPAIGNS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "campaigns", "campaigns must be a list of at most %d windows",
                       JF_RULE_CAMPAIGNS_MAX);
    static const char *const keys[] = {"name", "multiplier", "weekdays", "from", "to", "month_day", NULL};
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *c = json_array_get(list, i);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "campaigns[%zu]", i);
        if (!json_is_object(c)) return jf_fail(err, JF_INVALID_FIELD, prefix, "%s must be an object", prefix);
        jf_campaign *k = &r->campaigns[i];
        TRY(only_keys(c, prefix, keys, err));
        TRY(get_str(c, prefix, "name", 1, JF_RULE_NAME_BYTES_MAX, chars_text, "text", true, k->name, sizeof k->name,
                    err));
        TRY(get_int(c, prefix, "multiplier", 1, JF_MULTIPLIER_MAX, true, &k->multiplier, NULL, err));
        TRY(parse_weekdays(c, prefix, k, err));
        TRY(get_date(c, prefix, "from", &k->from_date, err));
        TRY(get_date(c, prefix, "to", &k->to_date, err));
        int64_t md = 0;
        TRY(get_int(c, prefix, "month_day", 1, 31, false, &md, NULL, err));
        k->month_day = (int32_t)md;
        if (k->from_date && k->to_date && k->from_date > k->to_date)
            return jf_fail(err, JF_INVALID_FIELD, prefix, "%s: from is after to", prefix);
        r->campaign_count++;
    }
    return JF_OK;
}

static jf_code parse_caps(const json_t *def, jf_rule *r, jf_error *err) {
    const json_t *caps = NULL;
    TRY(get_object(def, "caps", &caps, err));
    if (caps == NULL) return JF_OK;
    static const char *const keys[] = {"per_award", "member_day", "member_month", "budget", NULL};
    TRY(only_keys(caps, "caps", keys, err));
    TRY(get_int(caps, "caps", "per_award", 1, JF_POINTS_MAX, false, &r->cap_per_award, NULL, err));
    TRY(get_int(caps, "caps", "member_day", 1, JF_POINTS_MAX, false, &r->cap_member_day, NULL, err));
    TRY(get_int(caps, "caps", "member_month", 1, JF_POINTS_MAX, false, &r->cap_member_month, NULL, err));
    return get_int(caps, "caps", "budget", 1, JF_QUANTITY_MAX, false, &r->budget, NULL, err);
}

static jf_code parse_enums(const json_t *def, jf_rule *r, jf_error *err) {
    json_t *f = json_object_get(def, "frequency");
    if (f != NULL) {
        int v = json_is_string(f) ? jf_frequency_parse(json_string_value(f)) : -1;
        if (v < 0) return jf_fail(err, JF_INVALID_FIELD, "frequency", "frequency must be one of any, once, day, week, month");
        r->frequency = (jf_frequency)v;
    }
    json_t *c = json_object_get(def, "combine");
    if (c != NULL) {
        const char *s = json_is_string(c) ? json_string_value(c) : "";
        if (strcmp(s, "multiply") == 0) r->combine = JF_COMBINE_MULTIPLY;
        else if (strcmp(s, "max") == 0) r->combine = JF_COMBINE_MAX;
        else return jf_fail(err, JF_INVALID_FIELD, "combine", "combine must be multiply or max");
    }
    return JF_OK;
}

jf_code jf_rule_parse(const json_t *def, jf_rule *out, jf_compiled_rule *cr, jf_error *err) {
    memset(out, 0, sizeof *out);
    out->enabled = true;
    if (!json_is_object(def)) return jf_fail(err, JF_INVALID_FIELD, "", "a rule must be a JSON object");
    static const char *const keys[] = {"name", "event_type", "when", "enabled", "award", "campaigns", "combine",
                                       "frequency", "caps", "valid_from", "valid_to", "pending_days",
                                       "expires_days", NULL};
    TRY(only_keys(def, "", keys, err));
    TRY(get_str(def, "", "name", 1, JF_RULE_NAME_BYTES_MAX, chars_text, "text", true, out->name, sizeof out->name,
                err));
    TRY(get_str(def, "", "event_type", 1, JF_EVENT_TYPE_LEN_MAX, chars_code, "a-z 0-9 _ . -", true, out->event_type,
                sizeof out->event_type, err));
    json_t *when = json_object_get(def, "when");
    if (when != NULL && !json_is_string(when))
        return jf_fail(err, JF_INVALID_FIELD, "when", "when must be a string (a condition, docs/rules.md)");
    if (when != NULL) {
        if (json_string_length(when) > JF_EXPR_SOURCE_BYTES_MAX)
            return jf_fail(err, JF_RULE_INVALID, "when", "the condition is longer than %d bytes",
                           JF_EXPR_SOURCE_BYTES_MAX);
        memcpy(out->when, json_string_value(when), json_string_length(when));
        out->when[json_string_length(when)] = '\0';
    }
    TRY(get_bool(def, "", "enabled", &out->enabled, err));
    TRY(parse_award(def, out, err));
    TRY(parse_campaigns(def, out, err));
    TRY(parse_enums(def, out, err));
    TRY(parse_caps(def, out, err));
    TRY(get_time(def, "valid_from", &out->valid_from_ms, err));
    TRY(get_time(def, "valid_to", &out->valid_to_ms, err));
    if (out->valid_from_ms && out->valid_to_ms && out->valid_to_ms <= out->valid_from_ms)
        return jf_fail(err, JF_INVALID_FIELD, "valid_to", "valid_to must be later than valid_from");
    int64_t days = 0;
    TRY(get_int(def, "", "pending_days", 0, JF_RULE_DAYS_MAX, false, &days, NULL, err));
    out->pending_days = (int32_t)days;
    days = 0;
    TRY(get_int(def, "", "expires_days", 0, JF_RULE_DAYS_MAX, false, &days, NULL, err));
    out->expires_days = (int32_t)days;
    if (out->expires_days && out->expires_days <= out->pending_days)
        return jf_fail(err, JF_INVALID_FIELD, "expires_days", "expires_days must be more than pending_days");
    jf_compiled_rule scratch;
    jf_compiled_rule *target = cr ? cr : &scratch;
    TRY(jf_rule_compile(out, target, err));
    if (cr == NULL) jf_compiled_rule_free(&scratch);
    return JF_OK;
}

jf_code jf_rule_compile(const jf_rule *r, jf_compiled_rule *cr, jf_error *err) {
    memset(cr, 0, sizeof *cr);
    cr->rule = *r;
    size_t len = strlen(r->when);
    bool blank = true;
    for (size_t i = 0; i < len && blank; i++) blank = r->when[i] == ' ' || r->when[i] == '\n' || r->when[i] == '\t' || r->when[i] == '\r';
    if (blank) return JF_OK;
    jf_expr_error e;
    if (!jf_expr_compile(r->when, len, jf_expr_event_schema(), &cr->program, &e)) return jf_expr_fail(err, "when", &e);
    /* Which facts the condition reads: per-item evaluation only when it
     * names an item field; the order count only when it is asked for. */
    cr->per_item = strstr(r->when, "item.") != NULL;
    cr->uses_orders = strstr(r->when, "member.orders_count") != NULL;
    return JF_OK;
}

void jf_compiled_rule_free(jf_compiled_rule *cr) {
    if (cr == NULL) return;
    jf_expr_free(cr->program);
    cr->program = NULL;
}

/* ---- back to JSON --------------------------------------------------------------- */

static json_t *date_json(int32_t ymd) {
    char buf[16];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", ymd / 10000, ymd / 100 % 100, ymd % 100);
    return json_string(buf);
}

static json_t *time_json(int64_t ms) {
    char buf[48];
    if (!jf_tz_format_rfc3339("UTC", ms, buf, sizeof buf)) return json_null();
    return json_string(buf);
}

static json_t *award_json(const jf_rule *r) {
    json_t *a = json_object();
    if (r->kind == JF_AWARD_FIXED) {
        json_object_set_new(a, "points", json_integer(r->points));
        return a;
    }
    json_object_set_new(a, "rate", json_pack("{sI sI}", "points", (json_int_t)r->rate_points, "per_fen",
                                             (json_int_t)r->rate_fen));
    if (r->item_count > 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < r->item_count; i++) {
            const jf_item_multiplier *m = &r->items[i];
            json_t *o = json_object();
            if (m->category[0]) json_object_set_new(o, "category", json_string(m->category));
            else json_object_set_new(o, "sku", json_string(m->sku));
            json_object_set_new(o, "multiplier", json_integer(m->multiplier));
            json_array_append_new(list, o);
        }
        json_object_set_new(a, "item_multipliers", list);
    }
    return a;
}

static json_t *campaign_json(const jf_campaign *k) {
    json_t *o = json_pack("{ss sI}", "name", k->name, "multiplier", (json_int_t)k->multiplier);
    if (k->weekdays_mask) {
        json_t *days = json_array();
        for (int d = 1; d <= 7; d++)
            if (k->weekdays_mask & (1u << d)) json_array_append_new(days, json_integer(d));
        json_object_set_new(o, "weekdays", days);
    }
    if (k->from_date) json_object_set_new(o, "from", date_json(k->from_date));
    if (k->to_date) json_object_set_new(o, "to", date_json(k->to_date));
    if (k->month_day) json_object_set_new(o, "month_day", json_integer(k->month_day));
    return o;
}

json_t *jf_rule_to_json(const jf_rule *r) {
    json_t *o = json_pack("{ss ss ss sb}", "name", r->name, "event_type", r->event_type, "when", r->when, "enabled",
                          r->enabled);
    json_object_set_new(o, "award", award_json(r));
    if (r->campaign_count > 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < r->campaign_count; i++) json_array_append_new(list, campaign_json(&r->campaigns[i]));
        json_object_set_new(o, "campaigns", list);
    }
    json_object_set_new(o, "combine", json_string(r->combine == JF_COMBINE_MAX ? "max" : "multiply"));
    json_object_set_new(o, "frequency", json_string(jf_frequency_name(r->frequency)));
    json_t *caps = json_object();
    if (r->cap_per_award) json_object_set_new(caps, "per_award", json_integer(r->cap_per_award));
    if (r->cap_member_day) json_object_set_new(caps, "member_day", json_integer(r->cap_member_day));
    if (r->cap_member_month) json_object_set_new(caps, "member_month", json_integer(r->cap_member_month));
    if (r->budget) json_object_set_new(caps, "budget", json_integer(r->budget));
    json_object_set_new(o, "caps", caps);
    if (r->valid_from_ms) json_object_set_new(o, "valid_from", time_json(r->valid_from_ms));
    if (r->valid_to_ms) json_object_set_new(o, "valid_to", time_json(r->valid_to_ms));
    if (r->pending_days) json_object_set_new(o, "pending_days", json_integer(r->pending_days));
    if (r->expires_days) json_object_set_new(o, "expires_days", json_integer(r->expires_days));
    return o;
}

/* ---- explanations ------------------------------------------------------------------ */

void jf_format_int(int64_t v, char *buf, size_t cap) {
    /* By hand: it runs for every award's explanation, and snprintf cost
     * more than the rest of the rule's arithmetic (callgrind). */
    char out[32]; /* "-9,223,372,036,854,775,808" is 26 */
    size_t o = sizeof out;
    out[--o] = '\0';
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int digits = 0;
    do {
        if (digits > 0 && digits % 3 == 0) out[--o] = ',';
        out[--o] = (char)('0' + u % 10);
        u /= 10;
        digits++;
    } while (u > 0);
    if (v < 0) out[--o] = '-';
    size_t n = sizeof out - 1 - o;
    if (cap == 0) return;
    if (n >= cap) n = cap - 1;
    memcpy(buf, out + o, n);
    buf[n] = '\0';
}

/* Append the pieces to the explanation, cut (bytewise, as snprintf cuts)
 * at its size.  Pieces, not a format: an event explains every rule of its
 * type, and vsnprintf cost as much as the rest of the rule (callgrind).
 * EXPLAIN(a, "x", s, "y"): the pieces in order; numbers through num(). */
static void explain_pieces(jf_award *a, const char *const *pieces) {
    size_t o = strlen(a->explanation), cap = sizeof a->explanation - 1;
    bool cut = false;
    for (const char *const *p = pieces; *p != NULL && o < cap; p++) {
        size_t n = strlen(*p);
        if (n > cap - o) {
            n = cap - o;
            cut = true;
        }
        memcpy(a->explanation + o, *p, n);
        o += n;
    }
    a->explanation[o] = '\0';
    if (cut) jf_utf8_whole(a->explanation, o); /* a name cut in the middle of a character */
}
#define EXPLAIN(a, ...) explain_pieces((a), (const char *const[]){__VA_ARGS__, NULL})

/* v in decimal, in buf (which lives as long as the caller's block). */
static const char *num_text(char *buf, int64_t v) {
    jf_int_text(buf, v);
    return buf;
}
#define num(v) num_text((char[JF_INT_TEXT_MAX]){0}, (v))

/* ---- step 1: match and compute ----------------------------------------------------- */

typedef struct {
    const jf_event *ev;
    jf_expr_value fields[JF_EXPR_EVENT_FIELD_COUNT];
} eval_env;

/* ---- event attributes ------------------------------------------------------------- */

static bool attribute_name_ok(const char *k) {
    size_t n = strlen(k);
    bool ok = n >= 1 && n <= JF_EXPR_NAME_BYTES_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_';
    return ok;
}

static bool attribute_string_ok(const json_t *v) {
    return json_is_string(v) && json_string_length(v) <= JF_EVENT_ATTRIBUTE_BYTES_MAX &&
           strlen(json_string_value(v)) == json_string_length(v);
}

/* A list attribute: all strings or all integers, gathered into out's arrays. */
static jf_code attribute_list(const json_t *list, const char *field, jf_event_attributes *out, jf_expr_value *value,
                              jf_error *err) {
    size_t n = json_array_size(list);
    if (n > JF_EVENT_ATTRIBUTE_LIST_MAX)
        return jf_fail(err, JF_INVALID_FIELD, field, "%s has more than %d items", field, JF_EVENT_ATTRIBUTE_LIST_MAX);
    bool ints = n > 0 && json_is_integer(json_array_get(list, 0));
    size_t used = ints ? out->int_count : out->str_count;
    if (out->int_count + out->str_count + n > JF_EVENT_ATTRIBUTE_ITEMS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, field, "the lists of attributes hold at most %d items in all",
                       JF_EVENT_ATTRIBUTE_ITEMS_MAX);
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(list, i);
        char path[112];
        snprintf(path, sizeof path, "%s[%zu]", field, i);
        if (!json_is_integer(item) && !attribute_string_ok(item))
            return jf_fail(err, JF_INVALID_FIELD, path, "%s must be a string (at most %d bytes) or an integer", path,
                           JF_EVENT_ATTRIBUTE_BYTES_MAX);
        if (json_is_integer(item) != ints)
            return jf_fail(err, JF_INVALID_FIELD, path, "%s is %s but %s[0] is %s: a list holds strings or integers, not both",
                           path, ints ? "a string" : "an integer", field, ints ? "an integer" : "a string");
        if (ints) out->ints[used + i] = json_integer_value(item);
        else out->strs[used + i] = (jf_expr_str){json_string_value(item), json_string_length(item)};
    }
    /* An empty list is a list of strings; `in` finds nothing in it either way. */
    *value = ints ? jf_expr_list_int(NULL, n) : jf_expr_list_string(NULL, n);
    out->list_start[out->count] = used;
    if (ints) out->int_count += n;
    else out->str_count += n;
    return JF_OK;
}

jf_code jf_event_attributes_load(const json_t *attributes, jf_event_attributes *out, jf_error *err) {
    out->count = out->int_count = out->str_count = 0;
    if (attributes == NULL) return JF_OK;
    if (!json_is_object(attributes) || json_object_size(attributes) > JF_EVENT_ATTRIBUTES_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "attributes", "attributes must be an object of at most %d entries",
                       JF_EVENT_ATTRIBUTES_MAX);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)attributes, k, v) {
        char field[96];
        snprintf(field, sizeof field, "attributes.%.64s", k);
        if (!attribute_name_ok(k)) return jf_fail(err, JF_INVALID_FIELD, field, "attribute names are 1..64 of A-Z a-z 0-9 _");
        jf_expr_value *value = &out->values[out->count];
        if (attribute_string_ok(v)) *value = jf_expr_string(json_string_value(v), json_string_length(v));
        else if (json_is_integer(v)) *value = jf_expr_int(json_integer_value(v));
        else if (json_is_boolean(v)) *value = jf_expr_bool(json_is_true(v));
        else if (json_is_array(v)) TRY(attribute_list(v, field, out, value, err));
        else
            return jf_fail(err, JF_INVALID_FIELD, field,
                           "%s must be a string (at most %d bytes), an integer, a boolean or a list of strings or "
                           "integers", field, JF_EVENT_ATTRIBUTE_BYTES_MAX);
        out->names[out->count++] = k;
    }
    return JF_OK;
}

static bool attribute_lookup(void *ctx, const char *name, size_t len, jf_expr_value *out) {
    const jf_event_attributes *a = ((const jf_event *)ctx)->attributes;
    for (size_t i = 0; a != NULL && i < a->count; i++) {
        if (strncmp(a->names[i], name, len) == 0 && a->names[i][len] == '\0') {
            *out = a->values[i];
            if (out->type == JF_EXPR_LIST_INT) out->as.ints.items = a->ints + a->list_start[i];
            if (out->type == JF_EXPR_LIST_STRING) out->as.strs.items = a->strs + a->list_start[i];
            return true;
        }
    }
    return false;
}

static void env_fill(eval_env *e, const jf_event *ev, const jf_member_facts *facts) {
    static const jf_expr_str no_tags[1] = {{"", 0}};
    memset(e->fields, 0, sizeof e->fields); /* JF_EXPR_NONE */
    e->ev = ev;
    if (ev->has_amount) e->fields[JF_EXPR_EVENT_AMOUNT_FEN] = jf_expr_int(ev->amount_fen);
    e->fields[JF_EXPR_EVENT_TYPE] = jf_expr_string(ev->type, strlen(ev->type));
    if (ev->channel) e->fields[JF_EXPR_EVENT_CHANNEL] = jf_expr_string(ev->channel, strlen(ev->channel));
    const char *tier = facts && facts->tier ? facts->tier : "";
    e->fields[JF_EXPR_EVENT_MEMBER_TIER] = jf_expr_string(tier, strlen(tier));
    e->fields[JF_EXPR_EVENT_MEMBER_TAGS] = jf_expr_list_string(no_tags, 0);
    e->fields[JF_EXPR_EVENT_MEMBER_DAYS_SINCE_JOINING] = jf_expr_int(facts ? facts->days_since_joining : 0);
    e->fields[JF_EXPR_EVENT_MEMBER_ORDERS_COUNT] = jf_expr_int(facts ? facts->orders_count : 0);
}

static void env_item(eval_env *e, const jf_event_item *it) {
    jf_expr_value none = {.type = JF_EXPR_NONE};
    e->fields[JF_EXPR_EVENT_ITEM_SKU] = it && it->sku ? jf_expr_string(it->sku, strlen(it->sku)) : none;
    e->fields[JF_EXPR_EVENT_ITEM_CATEGORY] =
        it && it->category ? jf_expr_string(it->category, strlen(it->category)) : none;
    e->fields[JF_EXPR_EVENT_ITEM_AMOUNT_FEN] = it ? jf_expr_int(it->amount_fen) : none;
    e->fields[JF_EXPR_EVENT_ITEM_QUANTITY] = it ? jf_expr_int(it->quantity) : none;
}

/* Evaluate the condition once; on an evaluation error the award says so. */
static bool condition(const jf_compiled_rule *cr, eval_env *e, const jf_civil *civil, jf_award *a) {
    if (cr->program == NULL) return true;
    jf_expr_env env = {e->fields, JF_EXPR_EVENT_FIELD_COUNT, attribute_lookup, (void *)e->ev, civil};
    bool match = false;
    jf_expr_error err;
    if (jf_expr_eval(cr->program, &env, &match, &err)) return match;
    char msg[256];
    jf_expr_error_format(&err, msg, sizeof msg);
    a->status = JF_AWARD_EVAL_ERROR;
    a->explanation[0] = '\0';
    EXPLAIN(a, "condition failed to evaluate: ", msg);
    return false;
}

bool jf_event_condition(const jf_expr_program *p, const jf_event *ev, const jf_member_facts *facts,
                        const jf_civil *civil, char *why, size_t why_cap) {
    if (why_cap > 0) why[0] = '\0';
    if (p == NULL) return true;
    eval_env e;
    env_fill(&e, ev, facts);
    jf_expr_env env = {e.fields, JF_EXPR_EVENT_FIELD_COUNT, attribute_lookup, (void *)ev, civil};
    bool match = false;
    jf_expr_error err;
    if (jf_expr_eval(p, &env, &match, &err)) return match;
    if (why_cap > 0) jf_expr_error_format(&err, why, why_cap);
    return false;
}

static int64_t item_multiplier(const jf_rule *r, const jf_event_item *it, const char **why) {
    int64_t best = 1;
    for (size_t i = 0; i < r->item_count; i++) {
        const jf_item_multiplier *m = &r->items[i];
        bool hit = m->category[0] ? (it->category && strcmp(it->category, m->category) == 0)
                                  : (it->sku && strcmp(it->sku, m->sku) == 0);
        if (hit && m->multiplier > best) {
            best = m->multiplier;
            *why = m->category[0] ? m->category : m->sku;
        }
    }
    return best;
}

/* Which items count: all (condition on the event) or the matching ones. */
static bool match_items(const jf_compiled_rule *cr, eval_env *e, const jf_civil *civil, jf_award *a,
                        int64_t *amount, bool *matched_any) {
    const jf_event *ev = e->ev;
    *matched_any = false;
    int64_t sum = 0;
    for (size_t i = 0; i < ev->item_count; i++) {
        env_item(e, &ev->items[i]);
        bool m = condition(cr, e, civil, a);
        if (a->status == JF_AWARD_EVAL_ERROR) return false;
        if (!m) continue;
        *matched_any = true;
        sum += ev->items[i].amount_fen;
    }
    env_item(e, NULL);
    *amount = sum;
    return true;
}

static bool item_counts(const jf_compiled_rule *cr, const eval_env *e, size_t i, const jf_civil *civil) {
    if (!cr->per_item) return true;
    /* Re-evaluate (cheap, no allocation) rather than keep a bitmap of up to
     * JF_EVENT_ITEMS_MAX items. */
    eval_env local = *e;
    env_item(&local, &e->ev->items[i]);
    jf_award scratch;
    memset(&scratch, 0, sizeof scratch);
    return condition(cr, &local, civil, &scratch) && scratch.status != JF_AWARD_EVAL_ERROR;
}

/* Base points of a rate: the counted amount, weighted by item multipliers. */
static bool rate_points(const jf_compiled_rule *cr, const eval_env *e, const jf_civil *civil, int64_t amount,
                        jf_award *a, int64_t *points) {
    const jf_rule *r = &cr->rule;
    const jf_event *ev = e->ev;
    __int128 weighted = amount;
    char amt[32], buf[32];
    jf_format_int(amount, amt, sizeof amt);
    EXPLAIN(a, amt, " fen");
    size_t shown = 0;
    for (size_t i = 0; i < ev->item_count && r->item_count > 0; i++) {
        const char *why = NULL;
        int64_t m = item_multiplier(r, &ev->items[i], &why);
        if (m <= 1 || !item_counts(cr, e, i, civil)) continue;
        weighted += (__int128)ev->items[i].amount_fen * (m - 1);
        if (shown++ < 3) {
            jf_format_int(ev->items[i].amount_fen, buf, sizeof buf);
            EXPLAIN(a, shown == 1 ? " (" : ", ", buf, " fen of ", why, " ×", num(m));
        }
    }
    if (shown > 0) {
        jf_format_int((int64_t)weighted, buf, sizeof buf);
        EXPLAIN(a, shown > 3 ? ", …" : "", " → ", buf, " weighted fen)");
    }
    __int128 p = weighted * r->rate_points / r->rate_fen;
    if (p > JF_POINTS_MAX) p = JF_POINTS_MAX;
    *points = (int64_t)p;
    jf_format_int(*points, buf, sizeof buf);
    char per[32];
    jf_format_int(r->rate_fen, per, sizeof per);
    EXPLAIN(a, " → ", buf, *points == 1 ? " point" : " points", " at ", num(r->rate_points), " per ", per, " fen");
    return true;
}

static bool campaign_active(const jf_campaign *k, const jf_civil *c) {
    int32_t ymd = c->year * 10000 + c->month * 100 + c->day;
    if (k->weekdays_mask && !(k->weekdays_mask & (1u << c->weekday))) return false;
    if (k->from_date && ymd < k->from_date) return false;
    if (k->to_date && ymd > k->to_date) return false;
    if (k->month_day && c->day != k->month_day) return false;
    return true;
}

static int64_t apply_campaigns(const jf_rule *r, const jf_civil *civil, int64_t points, jf_award *a) {
    int64_t factor = 1;
    size_t active = 0;
    const jf_campaign *best = NULL;
    for (size_t i = 0; i < r->campaign_count; i++) {
        const jf_campaign *k = &r->campaigns[i];
        if (!campaign_active(k, civil)) continue;
        EXPLAIN(a, active++ == 0 ? "; " : ", ", k->name, " ×", num(k->multiplier));
        if (r->combine == JF_COMBINE_MAX) {
            if (best == NULL || k->multiplier > best->multiplier) best = k;
        } else if (__builtin_mul_overflow(factor, k->multiplier, &factor) || factor > JF_POINTS_MAX) {
            factor = JF_POINTS_MAX;
        }
    }
    if (active == 0) return points;
    if (r->combine == JF_COMBINE_MAX) {
        factor = best->multiplier;
        if (active > 1) EXPLAIN(a, " (highest: ×", num(factor), ")");
    }
    int64_t out;
    if (__builtin_mul_overflow(points, factor, &out) || out > JF_POINTS_MAX) out = JF_POINTS_MAX;
    char buf[32];
    jf_format_int(out, buf, sizeof buf);
    EXPLAIN(a, " → ", buf);
    return out;
}

static void fill_times(const jf_rule *r, const jf_event *ev, const char *tz, jf_award *a) {
    if (r->pending_days > 0 && !jf_tz_add_days(tz, ev->occurred_at_ms, r->pending_days, &a->available_at_ms))
        a->available_at_ms = ev->occurred_at_ms + (int64_t)r->pending_days * 86400000;
    if (r->expires_days > 0 && !jf_tz_add_days(tz, ev->occurred_at_ms, r->expires_days, &a->expires_at_ms))
        a->expires_at_ms = ev->occurred_at_ms + (int64_t)r->expires_days * 86400000;
    if (r->pending_days > 0) EXPLAIN(a, "; pending ", num(r->pending_days), " days");
}

/* Say why there is no award, and stop. */
#define NO_AWARD(...)               \
    do {                            \
        EXPLAIN(out, __VA_ARGS__);  \
        return;                     \
    } while (0)

void jf_rule_compute(const jf_compiled_rule *cr, const jf_event *ev, const jf_member_facts *facts,
                     const jf_civil *civil, const char *tz, jf_award *out) {
    const jf_rule *r = &cr->rule;
    memset(out, 0, sizeof *out);
    out->rule_id = r->id;
    out->rule_version = r->version;
    JF_COPY(out->rule_name, r->name);
    out->status = JF_AWARD_NO_MATCH;
    if (!r->enabled) NO_AWARD("the rule is disabled");
    if (strcmp(r->event_type, ev->type) != 0) NO_AWARD("the rule is for ", r->event_type, " events");
    if ((r->valid_from_ms && ev->occurred_at_ms < r->valid_from_ms) ||
        (r->valid_to_ms && ev->occurred_at_ms >= r->valid_to_ms))
        NO_AWARD("the event is outside the rule's validity");
    eval_env e;
    env_fill(&e, ev, facts);
    int64_t amount = ev->has_amount ? ev->amount_fen : 0;
    bool has_amount = ev->has_amount;
    if (cr->per_item) {
        bool any = false;
        if (ev->item_count == 0) NO_AWARD("the condition reads item fields and the event has no items");
        if (!match_items(cr, &e, civil, out, &amount, &any)) return;
        if (!any) NO_AWARD("no item matches the condition");
        has_amount = true;
    } else if (!condition(cr, &e, civil, out)) {
        if (out->status != JF_AWARD_EVAL_ERROR) EXPLAIN(out, "the condition is false");
        return;
    }
    int64_t points = 0;
    if (r->kind == JF_AWARD_FIXED) {
        points = r->points;
        char buf[32];
        jf_format_int(points, buf, sizeof buf);
        EXPLAIN(out, buf, points == 1 ? " point" : " points");
    } else {
        if (!has_amount) NO_AWARD("a rate needs the event's amount_fen");
        rate_points(cr, &e, civil, amount, out, &points);
    }
    points = apply_campaigns(r, civil, points, out);
    if (r->cap_per_award && points > r->cap_per_award) {
        points = r->cap_per_award;
        out->capped = true;
        char buf[32];
        jf_format_int(points, buf, sizeof buf);
        EXPLAIN(out, "; capped at ", buf, " by the per-award cap");
    }
    out->computed_points = points;
    if (points <= 0) return;
    out->points = points;
    out->status = JF_AWARD_GIVEN;
    fill_times(r, ev, tz, out);
}

/* ---- step 2: history-dependent limits --------------------------------------------- */

static const char *period_word(jf_frequency f) {
    switch (f) {
    case JF_FREQ_ONCE: return "ever";
    case JF_FREQ_DAY: return "today";
    case JF_FREQ_WEEK: return "this week";
    case JF_FREQ_MONTH: return "this month";
    case JF_FREQ_ANY: break;
    }
    return "";
}

static void cap_at(jf_award *a, int64_t cap, int64_t used, const char *what) {
    if (a->status != JF_AWARD_GIVEN || cap == 0) return;
    int64_t left = cap - used;
    char buf[32], capbuf[32];
    jf_format_int(cap, capbuf, sizeof capbuf);
    if (left <= 0) {
        a->status = JF_AWARD_LIMITED;
        a->points = 0;
        EXPLAIN(a, "; not awarded: the ", what, " of ", capbuf, " is reached");
        return;
    }
    if (a->points > left) {
        a->points = left;
        a->capped = true;
        jf_format_int(left, buf, sizeof buf);
        EXPLAIN(a, "; capped at ", buf, " by the ", what);
    }
}

void jf_rule_limit(const jf_rule *r, const jf_rule_usage *u, jf_award *a) {
    if (a->status != JF_AWARD_GIVEN) return;
    if (r->frequency != JF_FREQ_ANY && u->awards_in_period > 0) {
        a->status = JF_AWARD_LIMITED;
        a->points = 0;
        EXPLAIN(a, "; not awarded: once ",
                r->frequency == JF_FREQ_ONCE ? "per member" : r->frequency == JF_FREQ_DAY ? "per day"
                : r->frequency == JF_FREQ_WEEK ? "per week" : "per month",
                ", already awarded ", period_word(r->frequency));
        return;
    }
    cap_at(a, r->cap_member_day, u->points_day, "daily limit");
    cap_at(a, r->cap_member_month, u->points_month, "monthly limit");
    cap_at(a, r->budget, u->points_budget, "campaign budget");
}

bool jf_rule_keeps_history(const jf_rule *r) {
    return r->frequency != JF_FREQ_ANY || r->cap_member_day > 0 || r->cap_member_month > 0 || r->budget > 0;
}

bool jf_rule_period(const jf_rule *r, const char *tz, int64_t ms, int64_t *from_ms, int64_t *to_ms) {
    jf_period p;
    switch (r->frequency) {
    case JF_FREQ_ONCE:
        *from_ms = INT64_MIN;
        *to_ms = INT64_MAX;
        return true;
    case JF_FREQ_DAY: p = JF_PERIOD_DAY; break;
    case JF_FREQ_WEEK: p = JF_PERIOD_WEEK; break;
    case JF_FREQ_MONTH: p = JF_PERIOD_MONTH; break;
    case JF_FREQ_ANY:
    default: return false;
    }
    return jf_tz_period_start(tz, ms, p, from_ms) && jf_tz_period_next(tz, ms, p, to_ms);
}
