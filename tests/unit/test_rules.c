/*
 * test_rules.c — the pure rule engine (rules.h): definitions in and out,
 * each award kind, multipliers and how they combine, caps at the boundary
 * and one past it, frequency periods at tenant-time boundaries, and the
 * explanation of every step.  No store: jf_rule_compute / jf_rule_limit are
 * pure functions.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "engine/checkin.h"
#include "engine/internal.h"
#include "engine/rules.h"
#include "util/tz.h"

static jf_compiled_rule compile(const char *json) {
    json_error_t je;
    json_t *def = json_loads(json, 0, &je);
    cr_assert_not_null(def, "%s", je.text);
    jf_rule r;
    jf_compiled_rule cr;
    jf_error err;
    jf_error_clear(&err);
    cr_assert_eq(jf_rule_parse(def, &r, &cr, &err), JF_OK, "%s: %s", err.field, err.detail);
    json_decref(def);
    cr.rule.id = 7;
    cr.rule.version = 3;
    return cr;
}

static jf_award run(const jf_compiled_rule *cr, jf_event *ev, const char *when) {
    cr_assert(jf_parse_rfc3339(when, &ev->occurred_at_ms));
    jf_civil civ;
    cr_assert(jf_tz_civil("Asia/Shanghai", ev->occurred_at_ms, &civ));
    jf_member_facts facts = {.tier = "", .days_since_joining = 3, .orders_count = 0};
    jf_award a;
    jf_rule_compute(cr, ev, &facts, &civ, "Asia/Shanghai", &a);
    return a;
}

Test(rules, rate_with_campaign_and_caps_explained) {
    jf_compiled_rule cr = compile("{\"name\":\"base\",\"event_type\":\"order.paid\","
                                  "\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}},"
                                  "\"campaigns\":[{\"name\":\"weekend\",\"multiplier\":3,\"weekdays\":[6,7]}],"
                                  "\"caps\":{\"member_day\":300}}");
    jf_event ev = {.type = "order.paid", .event_id = "e1", .member_id = "m", .has_amount = true, .amount_fen = 12800};
    jf_award a = run(&cr, &ev, "2026-01-17T10:00:00+08:00"); /* a Saturday */
    cr_assert_eq(a.status, JF_AWARD_GIVEN);
    cr_assert_eq(a.points, 384);
    cr_assert_eq(a.rule_version, 3);
    jf_rule_usage u = {0};
    jf_rule_limit(&cr.rule, &u, &a);
    cr_assert_eq(a.points, 300);
    cr_assert_str_eq(a.explanation,
                     "12,800 fen → 128 points at 1 per 100 fen; weekend ×3 → 384; capped at 300 by the daily limit");
    jf_compiled_rule_free(&cr);
}

/* An explanation longer than its room (eight campaigns with long Chinese
 * names) is cut on a character's boundary, whatever the byte count: cut
 * inside a character, the answer was not UTF-8 (PostgreSQL refuses such
 * text).  Found by review. */
Test(rules, a_long_explanation_is_cut_between_characters) {
    for (int pad = 0; pad < 3; pad++) {
        char name[128] = "";
        for (int i = 0; i < pad; i++) strcat(name, "x");
        for (int i = 0; i < 40; i++) strcat(name, "积");
        char json[2048];
        int n = snprintf(json, sizeof json, "{\"name\":\"long\",\"event_type\":\"order.paid\",\"combine\":\"max\","
                                            "\"award\":{\"rate\":{\"points\":1,\"per_fen\":100}},\"campaigns\":[");
        for (int k = 0; k < 8; k++)
            n += snprintf(json + n, sizeof json - (size_t)n, "%s{\"name\":\"%s\",\"multiplier\":%d}", k ? "," : "", name,
                          k + 2);
        snprintf(json + n, sizeof json - (size_t)n, "]}");
        jf_compiled_rule cr = compile(json);
        jf_event ev = {.type = "order.paid", .event_id = "e1", .member_id = "m", .has_amount = true,
                       .amount_fen = 12800};
        jf_award a = run(&cr, &ev, "2026-01-17T10:00:00+08:00");
        cr_assert_eq(a.status, JF_AWARD_GIVEN);
        cr_assert_eq(a.points, 128 * 9, "the highest multiplier");
        cr_assert_geq(strlen(a.explanation), (size_t)JF_EXPLANATION_BYTES_MAX - 3, "pad %d: cut", pad);
        cr_assert(jf_utf8_valid(a.explanation, strlen(a.explanation)), "pad %d: %s", pad, a.explanation);
        jf_compiled_rule_free(&cr);
    }
}

Test(rules, daily_cap_boundary_and_one_past) {
    jf_compiled_rule cr = compile("{\"name\":\"f\",\"event_type\":\"x\",\"award\":{\"points\":10},"
                                  "\"caps\":{\"member_day\":30}}");
    jf_event ev = {.type = "x", .event_id = "e", .member_id = "m"};
    jf_award a = run(&cr, &ev, "2026-01-15T10:00:00+08:00");
    jf_rule_usage u = {.points_day = 20};
    jf_rule_limit(&cr.rule, &u, &a);
    cr_assert_eq(a.points, 10, "20 + 10 is exactly the cap");
    cr_assert(!a.capped);
    a = run(&cr, &ev, "2026-01-15T10:00:00+08:00");
    u.points_day = 21;
    jf_rule_limit(&cr.rule, &u, &a);
    cr_assert_eq(a.points, 9);
    cr_assert(a.capped);
    a = run(&cr, &ev, "2026-01-15T10:00:00+08:00");
    u.points_day = 30;
    jf_rule_limit(&cr.rule, &u, &a);
    cr_assert_eq(a.status, JF_AWARD_LIMITED);
    cr_assert_eq(a.points, 0);
    jf_compiled_rule_free(&cr);
}

Test(rules, combine_max_and_multiply) {
    const char *fmt = "{\"name\":\"c\",\"event_type\":\"x\",\"combine\":\"%s\",\"award\":{\"points\":10},"
                      "\"campaigns\":[{\"name\":\"a\",\"multiplier\":3,\"month_day\":15},"
                      "{\"name\":\"b\",\"multiplier\":2,\"from\":\"2026-01-01\",\"to\":\"2026-01-31\"}]}";
    char buf[512];
    snprintf(buf, sizeof buf, fmt, "multiply");
    jf_compiled_rule mul = compile(buf);
    snprintf(buf, sizeof buf, fmt, "max");
    jf_compiled_rule max = compile(buf);
    jf_event ev = {.type = "x", .event_id = "e", .member_id = "m"};
    cr_assert_eq(run(&mul, &ev, "2026-01-15T10:00:00+08:00").points, 60);
    cr_assert_eq(run(&max, &ev, "2026-01-15T10:00:00+08:00").points, 30);
    cr_assert_eq(run(&max, &ev, "2026-01-14T10:00:00+08:00").points, 20);
    cr_assert_eq(run(&max, &ev, "2026-02-15T10:00:00+08:00").points, 30);
    jf_compiled_rule_free(&mul);
    jf_compiled_rule_free(&max);
}

Test(rules, per_item_condition_and_multipliers) {
    jf_compiled_rule cr = compile("{\"name\":\"fresh\",\"event_type\":\"order.paid\",\"when\":\"item.category == \\\"fresh\\\"\","
                                  "\"award\":{\"rate\":{\"points\":1,\"per_fen\":100},"
                                  "\"item_multipliers\":[{\"sku\":\"A\",\"multiplier\":2}]}}");
    cr_assert(cr.per_item);
    jf_event_item items[] = {{"A", "fresh", 1000, 1}, {"B", "fresh", 500, 1}, {"C", "dry", 9000, 1}};
    jf_event ev = {.type = "order.paid", .event_id = "e", .member_id = "m", .has_amount = true, .amount_fen = 10500,
                   .items = items, .item_count = 3};
    jf_award a = run(&cr, &ev, "2026-01-15T10:00:00+08:00");
    cr_assert_eq(a.points, 25, "%s", a.explanation); /* (1,000 + 500) + 1,000 more for A ×2 */
    ev.item_count = 0;
    a = run(&cr, &ev, "2026-01-15T10:00:00+08:00");
    cr_assert_eq(a.status, JF_AWARD_NO_MATCH);
    jf_compiled_rule_free(&cr);
}

Test(rules, frequency_periods_in_tenant_time) {
    jf_compiled_rule cr = compile("{\"name\":\"m\",\"event_type\":\"x\",\"frequency\":\"month\",\"award\":{\"points\":1}}");
    int64_t at, from, to;
    cr_assert(jf_parse_rfc3339("2026-01-31T16:00:00Z", &at)); /* Feb 1 00:00 in Shanghai */
    cr_assert(jf_rule_period(&cr.rule, "Asia/Shanghai", at, &from, &to));
    cr_assert_eq(from, at);
    jf_event ev = {.type = "x", .event_id = "e", .member_id = "m"};
    jf_award a = run(&cr, &ev, "2026-01-31T16:00:00Z");
    jf_rule_usage u = {.awards_in_period = 1};
    jf_rule_limit(&cr.rule, &u, &a);
    cr_assert_eq(a.status, JF_AWARD_LIMITED);
    cr_assert(strstr(a.explanation, "already awarded this month") != NULL, "%s", a.explanation);
    jf_compiled_rule_free(&cr);
}

Test(rules, definitions_refused_with_the_field) {
    static const struct {
        const char *json, *field;
        jf_code code;
    } cases[] = {
        {"{\"name\":\"x\",\"event_type\":\"a\",\"award\":{\"points\":0}}", "award.points", JF_INVALID_FIELD},
        {"{\"name\":\"x\",\"event_type\":\"a\",\"award\":{}}", "award", JF_INVALID_FIELD},
        {"{\"name\":\"x\",\"event_type\":\"a\",\"award\":{\"points\":1},\"when\":\"1 < 2 < 3\"}", "when", JF_RULE_INVALID},
        {"{\"name\":\"x\",\"event_type\":\"a\",\"award\":{\"points\":1},\"campaigns\":[{\"name\":\"w\",\"multiplier\":2,\"weekdays\":[8]}]}",
         "campaigns[0].weekdays", JF_INVALID_FIELD},
        {"{\"name\":\"x\",\"event_type\":\"a\",\"award\":{\"points\":1},\"caps\":{\"daily\":1}}", "caps.daily", JF_INVALID_FIELD},
        {"{\"name\":\"x\",\"event_type\":\"a\",\"award\":{\"points\":1},\"pending_days\":7,\"expires_days\":7}", "expires_days",
         JF_INVALID_FIELD},
        {"{\"name\":\"x\",\"event_type\":\"a\",\"award\":{\"points\":1,\"item_multipliers\":[]}}", "award.item_multipliers",
         JF_INVALID_FIELD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_error_t je;
        json_t *def = json_loads(cases[i].json, 0, &je);
        jf_rule r;
        jf_error err;
        jf_error_clear(&err);
        cr_assert_eq(jf_rule_parse(def, &r, NULL, &err), cases[i].code, "case %zu: %s", i, err.detail);
        cr_assert_str_eq(err.field, cases[i].field, "case %zu", i);
        json_decref(def);
    }
}

Test(rules, definition_round_trip) {
    jf_compiled_rule cr = compile("{\"name\":\"all\",\"event_type\":\"a\",\"award\":{\"rate\":{\"points\":3,\"per_fen\":200},"
                                  "\"item_multipliers\":[{\"category\":\"c\",\"multiplier\":2}]},\"frequency\":\"week\","
                                  "\"combine\":\"max\",\"campaigns\":[{\"name\":\"n\",\"multiplier\":2,\"weekdays\":[1,3]}],"
                                  "\"caps\":{\"per_award\":5,\"budget\":9},\"pending_days\":2,\"expires_days\":9,"
                                  "\"valid_from\":\"2026-01-01T00:00:00Z\"}");
    json_t *back = jf_rule_to_json(&cr.rule);
    jf_rule again;
    jf_error err;
    cr_assert_eq(jf_rule_parse(back, &again, NULL, &err), JF_OK, "%s", err.detail);
    json_t *twice = jf_rule_to_json(&again);
    cr_assert(json_equal(back, twice));
    json_decref(back);
    json_decref(twice);
    jf_compiled_rule_free(&cr);
}

/* A list of n items as JSON text: strings "s0", "s1", … or integers. */
static json_t *list_of(size_t n, bool ints) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char s[24];
        snprintf(s, sizeof s, "s%zu", i);
        json_array_append_new(a, ints ? json_integer((json_int_t)i) : json_string(s));
    }
    return a;
}

static jf_code load(json_t *attrs, jf_event_attributes *out, jf_error *err) {
    jf_error_clear(err);
    return jf_event_attributes_load(attrs, out, err);
}

Test(rules, list_attributes_at_their_bounds) {
    static jf_event_attributes a;
    jf_error err;
    json_t *attrs = json_object();
    json_object_set_new(attrs, "tags", list_of(JF_EVENT_ATTRIBUTE_LIST_MAX, false));
    cr_assert_eq(load(attrs, &a, &err), JF_OK, "%s", err.detail);
    json_object_set_new(attrs, "tags", list_of(JF_EVENT_ATTRIBUTE_LIST_MAX + 1, false));
    cr_assert_eq(load(attrs, &a, &err), JF_INVALID_FIELD);
    cr_assert_str_eq(err.field, "attributes.tags");
    /* 256 list items in all, strings and integers together: exactly at the
     * bound, then one past it. */
    json_object_set_new(attrs, "tags", list_of(64, false));
    json_object_set_new(attrs, "a", list_of(64, true));
    json_object_set_new(attrs, "b", list_of(64, false));
    json_object_set_new(attrs, "c", list_of(64, true));
    cr_assert_eq(load(attrs, &a, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(a.int_count + a.str_count, (size_t)JF_EVENT_ATTRIBUTE_ITEMS_MAX);
    json_object_set_new(attrs, "d", list_of(1, true));
    cr_assert_eq(load(attrs, &a, &err), JF_INVALID_FIELD);
    cr_assert_str_eq(err.field, "attributes.d");
    json_decref(attrs);
}

Test(rules, list_attributes_in_conditions_and_copied) {
    json_error_t je;
    json_t *attrs = json_loads("{\"tags\":[\"new\",\"vip\"],\"levels\":[3,5],\"none\":[],\"store\":\"SH\"}", 0, &je);
    static jf_event_attributes a, copy;
    jf_error err;
    cr_assert_eq(load(attrs, &a, &err), JF_OK, "%s", err.detail);
    copy = a; /* what the HTTP job does: the copy must not point into the original */
    memset(&a, 0, sizeof a);
    jf_event ev = {.type = "x", .event_id = "e", .member_id = "m", .attributes = &copy};
    jf_civil civ;
    cr_assert(jf_tz_civil("UTC", 0, &civ));
    static const struct {
        const char *when;
        bool match;
        const char *error; /* "" when it evaluates */
    } cases[] = {
        {"\"vip\" in attributes.tags and 5 in attributes.levels", true, ""},
        {"\"old\" in attributes.tags or 4 in attributes.levels", false, ""},
        {"\"vip\" not in attributes.none and 1 not in attributes.none", true, ""},
        {"len(attributes.tags) == 2 and len(attributes.none) == 0", true, ""},
        {"\"S\" in attributes.store", true, ""},
        {"3 in attributes.tags", false, "cannot look for int in list<string>"},
        {"\"vip\" in attributes.missing", false, "attribute \"missing\" is missing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jf_expr_program *p;
        jf_expr_error e;
        cr_assert(jf_expr_compile(cases[i].when, strlen(cases[i].when), jf_expr_event_schema(), &p, &e), "%s",
                  e.message);
        char why[256];
        bool got = jf_event_condition(p, &ev, NULL, &civ, why, sizeof why);
        cr_assert_eq(got, cases[i].match, "%s", cases[i].when);
        cr_assert(strstr(why, cases[i].error) != NULL && (cases[i].error[0] != '\0') == (why[0] != '\0'),
                  "%s: \"%s\"", cases[i].when, why);
        jf_expr_free(p);
    }
    json_decref(attrs);
}

Test(checkin, schedule_repeat_and_restart_and_calendar) {
    jf_checkin_config c;
    jf_checkin_config_default(&c);
    int64_t expect[] = {1, 2, 3, 4, 5, 6, 10, 10, 10};
    for (int i = 0; i < 9; i++) cr_assert_eq(jf_checkin_step_points(&c, i + 1), expect[i]);
    c.restart = true;
    cr_assert_eq(jf_checkin_step_points(&c, 8), 1);
    cr_assert_eq(jf_checkin_step_points(&c, 14), 10);
    cr_assert_eq(jf_day_add(20260131, 1), 20260201);
    cr_assert_eq(jf_day_add(20240301, -1), 20240229);
    cr_assert_eq(jf_day_add(20251231, 1), 20260101);
    cr_assert_eq(jf_days_in_month(2100, 2), 28);
    cr_assert_eq(jf_days_in_month(2000, 2), 29);
}

/* Explanations group digits by thousands (written by hand, not snprintf). */
Test(rules, format_int_groups_thousands) {
    const struct {
        int64_t v;
        const char *want;
    } cases[] = {{0, "0"},         {7, "7"},           {999, "999"},          {1000, "1,000"},
                 {12800, "12,800"}, {-1234567, "-1,234,567"}, {INT64_MAX, "9,223,372,036,854,775,807"},
                 {INT64_MIN, "-9,223,372,036,854,775,808"}};
    char buf[40];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jf_format_int(cases[i].v, buf, sizeof buf);
        cr_assert_str_eq(buf, cases[i].want);
    }
    jf_format_int(1234567, buf, 4);
    cr_assert_str_eq(buf, "1,2", "cut to fit");
}
