/*
 * test_expr.c — the rule condition language (src/engine/expr.c): every
 * operator, precedence, short-circuit, functions at tenant-time boundaries,
 * strings and UTF-8, every compile error with its position, evaluation
 * errors, bounds, dynamic attributes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/expr.h"

/* ---- fixture: one event, a few attributes, a civil time ------------------ */

static jf_expr_value fields[JF_EXPR_EVENT_FIELD_COUNT];
static jf_civil civil;
static const jf_expr_str tags[] = {{"vip", 3}, {"新客", 6}};
static const jf_expr_str attr_list[] = {{"red", 3}, {"blue", 4}};

typedef struct {
    const char *name;
    jf_expr_value value;
} attribute;
static attribute attributes[8];
static size_t attribute_count;

static bool lookup(void *ctx, const char *name, size_t len, jf_expr_value *out) {
    (void)ctx;
    for (size_t i = 0; i < attribute_count; i++)
        if (strlen(attributes[i].name) == len && memcmp(attributes[i].name, name, len) == 0) {
            *out = attributes[i].value;
            return true;
        }
    return false;
}

static void set_civil(int32_t y, int32_t mo, int32_t d, int32_t h, int32_t mi, int32_t s, int32_t weekday) {
    civil = (jf_civil){.year = y, .month = mo, .day = d, .hour = h, .minute = mi, .second = s, .weekday = weekday};
}

static void setup(void) {
    memset(fields, 0, sizeof fields);
    fields[JF_EXPR_EVENT_AMOUNT_FEN] = jf_expr_int(12800);
    fields[JF_EXPR_EVENT_TYPE] = jf_expr_string("order.paid", 10);
    fields[JF_EXPR_EVENT_CHANNEL] = jf_expr_string("miniapp", 7);
    fields[JF_EXPR_EVENT_ITEM_SKU] = jf_expr_string("SKU-1", 5);
    fields[JF_EXPR_EVENT_ITEM_CATEGORY] = jf_expr_string("生鲜", 6);
    fields[JF_EXPR_EVENT_ITEM_AMOUNT_FEN] = jf_expr_int(3999);
    fields[JF_EXPR_EVENT_ITEM_QUANTITY] = jf_expr_int(2);
    fields[JF_EXPR_EVENT_MEMBER_TIER] = jf_expr_string("gold", 4);
    fields[JF_EXPR_EVENT_MEMBER_TAGS] = jf_expr_list_string(tags, 2);
    fields[JF_EXPR_EVENT_MEMBER_DAYS_SINCE_JOINING] = jf_expr_int(30);
    fields[JF_EXPR_EVENT_MEMBER_ORDERS_COUNT] = jf_expr_int(0);
    attribute_count = 0;
    attributes[attribute_count++] = (attribute){"level", jf_expr_int(3)};
    attributes[attribute_count++] = (attribute){"store", jf_expr_string("SH-01", 5)};
    attributes[attribute_count++] = (attribute){"with_picture", jf_expr_bool(true)};
    attributes[attribute_count++] = (attribute){"colors", jf_expr_list_string(attr_list, 2)};
    attributes[attribute_count++] = (attribute){"empty", (jf_expr_value){.type = JF_EXPR_NONE}};
    set_civil(2026, 11, 8, 14, 30, 0, 7); /* Sunday 2026-11-08 14:30 local */
}

TestSuite(expr, .init = setup);

/* ---- helpers -------------------------------------------------------------- */

static jf_expr_program *compile_or_die(const char *src) {
    jf_expr_program *p = NULL;
    jf_expr_error e;
    char text[300];
    bool ok = jf_expr_compile(src, strlen(src), jf_expr_event_schema(), &p, &e);
    jf_expr_error_format(&e, text, sizeof text);
    cr_assert(ok, "compile \"%s\": %s", src, text);
    cr_assert_not_null(p);
    cr_assert_eq(e.kind, JF_EXPR_OK);
    cr_assert_leq(jf_expr_insn_count(p), JF_EXPR_INSNS_MAX);
    return p;
}

/* Evaluate src against the fixture; returns the eval's success. */
static bool run(const char *src, bool *result, jf_expr_error *e) {
    jf_expr_program *p = compile_or_die(src);
    jf_expr_env env = {fields, JF_EXPR_EVENT_FIELD_COUNT, lookup, NULL, &civil};
    bool ok = jf_expr_eval(p, &env, result, e);
    if (!ok) cr_assert_eq(*result, false, "a failed evaluation yields false");
    jf_expr_free(p);
    return ok;
}

static bool is_true(const char *src) {
    bool r = false;
    jf_expr_error e;
    char text[300];
    bool ok = run(src, &r, &e);
    jf_expr_error_format(&e, text, sizeof text);
    cr_assert(ok, "eval \"%s\": %s", src, text);
    return r;
}

#define TRUE(src) cr_assert(is_true(src), "expected true: %s", src)
#define FALSE(src) cr_assert_not(is_true(src), "expected false: %s", src)

/* The formatted compile error of src, and its kind. */
static void compile_error(const char *src, size_t len, jf_expr_error_kind kind, const char *want) {
    jf_expr_program *p = (jf_expr_program *)1;
    jf_expr_error e;
    char text[300];
    bool ok = jf_expr_compile(src, len, jf_expr_event_schema(), &p, &e);
    cr_assert_not(ok, "expected a compile error for \"%.80s\"", src);
    cr_assert_null(p);
    jf_expr_error_format(&e, text, sizeof text);
    cr_assert_str_eq(text, want, "for \"%.80s\": got \"%s\"", src, text);
    cr_assert_eq(e.kind, kind, "kind %d for \"%.80s\" (%s)", e.kind, src, text);
}
#define COMPILE_ERROR(src, kind, want) compile_error(src, strlen(src), kind, want)

static void eval_error(const char *src, jf_expr_error_kind kind, const char *want) {
    bool r = true;
    jf_expr_error e;
    char text[300];
    cr_assert_not(run(src, &r, &e), "expected an evaluation error for \"%s\"", src);
    jf_expr_error_format(&e, text, sizeof text);
    cr_assert_str_eq(text, want, "for \"%s\": got \"%s\"", src, text);
    cr_assert_eq(e.kind, kind, "kind for \"%s\"", src);
}
#define EVAL_ERROR(src, kind, want) eval_error(src, kind, want)

/* ---- operators ------------------------------------------------------------ */

Test(expr, arithmetic) {
    TRUE("1 + 2 == 3");
    TRUE("5 - 7 == -2");
    TRUE("6 * 7 == 42");
    TRUE("7 / 2 == 3");
    TRUE("7 % 3 == 1");
    TRUE("-7 / 2 == -3");  /* truncation toward zero */
    TRUE("7 / -2 == -3");
    TRUE("-7 % 2 == -1");  /* sign of the dividend */
    TRUE("7 % -2 == 1");
    TRUE("-2 * -3 == 6");
    TRUE("- -2 == 2");
    TRUE("-(3) == -3");
    TRUE("-(-9223372036854775807) == 9223372036854775807");
    TRUE("9223372036854775807 == 9223372036854775807");
    TRUE("-9223372036854775808 < -9223372036854775807");
    TRUE("-9223372036854775808 % -1 == 0");
    TRUE("amount_fen / 100 == 128");
    TRUE("item.amount_fen * item.quantity == 7998");
}

Test(expr, precedence_and_associativity) {
    TRUE("1 + 2 * 3 == 7");
    TRUE("(1 + 2) * 3 == 9");
    TRUE("10 - 3 - 2 == 5");       /* left: (10-3)-2 */
    TRUE("100 / 10 / 5 == 2");     /* left: (100/10)/5 */
    TRUE("2 * 3 % 4 == 2");        /* left: (2*3)%4 */
    TRUE("7 % 4 * 2 == 6");
    TRUE("-2 * 3 + 1 == -5");
    TRUE("1 + 2 < 2 * 2");          /* arithmetic binds tighter than comparison */
    TRUE("true or false and false"); /* and binds tighter than or */
    FALSE("(true or false) and false");
    TRUE("not true or true");        /* (not true) or true */
    FALSE("not (true or true)");
    TRUE("not 1 == 2");              /* not binds looser than comparison */
    TRUE("not \"x\" in member.tags");
    TRUE("1 + 1 in [2, 3]");
    TRUE("false and false or true");
}

Test(expr, comparisons) {
    TRUE("1 < 2");
    FALSE("2 < 2");
    TRUE("2 <= 2");
    TRUE("3 > 2");
    FALSE("2 > 2");
    TRUE("2 >= 2");
    TRUE("2 != 3");
    FALSE("2 != 2");
    TRUE("\"a\" < \"b\"");
    TRUE("\"ab\" > \"a\"");
    TRUE("\"\" < \"a\"");
    TRUE("\"Z\" < \"a\""); /* byte-wise */
    TRUE("\"中\" > \"z\"");
    TRUE("\"2026-11-01\" <= \"2026-11-11\"");
    TRUE("true == true");
    TRUE("true != false");
    FALSE("false == true");
    TRUE("channel == \"miniapp\"");
    TRUE("channel != \"app\"");
}

Test(expr, logic_truth_tables) {
    TRUE("true and true");
    FALSE("true and false");
    FALSE("false and true");
    FALSE("false and false");
    TRUE("true or false");
    TRUE("false or true");
    FALSE("false or false");
    TRUE("not false");
    FALSE("not true");
    TRUE("not not true");
    TRUE("true and true and true and true");
    FALSE("false or false or false");
}

Test(expr, short_circuit) {
    FALSE("false and 1 / 0 == 1");
    TRUE("true or 1 / 0 == 1");
    FALSE("false and attributes.nope == 1");
    TRUE("has(attributes.level) and attributes.level >= 3");
    FALSE("has(attributes.nope) and attributes.nope >= 3");
    TRUE("true or 9223372036854775807 + 1 > 0");
    EVAL_ERROR("true and 1 / 0 == 1", JF_EXPR_ERR_DIVISION, "division by zero in '/' at 1:12");
    EVAL_ERROR("false or 1 % 0 == 1", JF_EXPR_ERR_DIVISION, "division by zero in '%' at 1:12");
}

Test(expr, in_operator) {
    TRUE("2 in [1, 2, 3]");
    FALSE("4 in [1, 2, 3]");
    TRUE("-2 in [-1, -2]");
    TRUE("4 not in [1, 2, 3]");
    TRUE("item.category in [\"饮料\", \"生鲜\"]");
    FALSE("item.category in [\"drinks\", \"snacks\"]");
    TRUE("\"vip\" in member.tags");
    TRUE("\"新客\" in member.tags");
    FALSE("\"svip\" in member.tags");
    TRUE("\"svip\" not in member.tags");
    TRUE("\"min\" in \"admin\"");   /* substring */
    TRUE("\"\" in \"abc\"");
    FALSE("\"abcd\" in \"abc\"");
    TRUE("\"鲜\" in item.category");
    TRUE("member.tier == \"gold\" and not (\"blocked\" in member.tags)");
    fields[JF_EXPR_EVENT_MEMBER_TAGS] = jf_expr_list_string(NULL, 0);
    FALSE("\"vip\" in member.tags");
}

/* ---- functions ------------------------------------------------------------ */

Test(expr, time_functions) {
    TRUE("weekday() == 7 and hour() == 14 and day() == 8 and month() == 11 and year() == 2026");
    TRUE("date() == \"2026-11-08\"");
    TRUE("weekday() >= 6");
    TRUE("day() == 8");
    set_civil(5, 1, 2, 0, 0, 0, 1);
    TRUE("date() == \"0005-01-02\"");
}

/* The civil fields are the tenant's: the boundaries are the tenant's midnights. */
Test(expr, tenant_time_boundaries) {
    const char *weekend = "weekday() >= 6";
    const char *singles_day = "date() >= \"2026-11-01\" and date() <= \"2026-11-11\"";
    set_civil(2026, 11, 6, 23, 59, 59, 5); /* Friday, last second */
    FALSE(weekend);
    set_civil(2026, 11, 7, 0, 0, 0, 6); /* Saturday, first second */
    TRUE(weekend);
    set_civil(2026, 11, 8, 23, 59, 59, 7);
    TRUE(weekend);
    set_civil(2026, 11, 9, 0, 0, 0, 1); /* Monday */
    FALSE(weekend);
    set_civil(2026, 10, 31, 23, 59, 59, 6);
    FALSE(singles_day);
    set_civil(2026, 11, 1, 0, 0, 0, 7);
    TRUE(singles_day);
    set_civil(2026, 11, 11, 23, 59, 59, 3);
    TRUE(singles_day);
    set_civil(2026, 11, 12, 0, 0, 0, 4);
    FALSE(singles_day);
    set_civil(2026, 12, 31, 23, 0, 0, 4);
    TRUE("month() == 12 and day() == 31 and hour() == 23");
    set_civil(2027, 1, 1, 0, 0, 0, 5);
    TRUE("month() == 1 and day() == 1 and hour() == 0 and year() == 2027");
}

Test(expr, time_unknown) {
    jf_expr_program *p = compile_or_die("amount_fen > 0 or hour() == 1");
    cr_assert(jf_expr_uses_time(p));
    jf_expr_env env = {fields, JF_EXPR_EVENT_FIELD_COUNT, NULL, NULL, NULL};
    bool r = true;
    jf_expr_error e;
    cr_assert(jf_expr_eval(p, &env, &r, &e)); /* short-circuit: time not needed */
    cr_assert(r);
    fields[JF_EXPR_EVENT_AMOUNT_FEN] = jf_expr_int(0);
    cr_assert_not(jf_expr_eval(p, &env, &r, &e));
    cr_assert_eq(e.kind, JF_EXPR_ERR_MISSING);
    cr_assert_str_eq(e.message, "the event time is unknown");
    cr_assert_eq(e.pos.column, 19);
    jf_expr_free(p);
    p = compile_or_die("amount_fen > 0");
    cr_assert_not(jf_expr_uses_time(p));
    jf_expr_free(p);
}

Test(expr, floor_min_max_len) {
    TRUE("floor(7, 2) == 3");
    TRUE("floor(-7, 2) == -4");
    TRUE("floor(7, -2) == -4");
    TRUE("floor(-7, -2) == 3");
    TRUE("floor(-8, 2) == -4");
    TRUE("floor(12899, 100) == 128");
    TRUE("floor(amount_fen, 100) * 3 == 384");
    TRUE("min(3, 1, 2) == 1");
    TRUE("max(3, 1, 2) == 3");
    TRUE("min(5, 9) == 5 and max(5, 9) == 9");
    TRUE("min(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, -16) == -16");
    TRUE("max(amount_fen, 20000) == 20000");
    TRUE("len(\"abc\") == 3");
    TRUE("len(\"小程序\") == 3"); /* characters, not bytes */
    TRUE("len(\"\") == 0");
    TRUE("len(member.tags) == 2");
    TRUE("len([1, 2, 3]) == 3");
    TRUE("len(attributes.colors) == 2 and len(attributes.store) == 5");
    EVAL_ERROR("floor(1, 0) == 0", JF_EXPR_ERR_DIVISION, "division by zero in 'floor()' at 1:1");
    EVAL_ERROR("floor(-9223372036854775808, -1) == 0", JF_EXPR_ERR_OVERFLOW, "integer overflow in 'floor()' at 1:1");
    EVAL_ERROR("len(attributes.level) == 1", JF_EXPR_ERR_TYPE, "len() needs a string or list, got int at 1:1");
}

/* ---- strings ---------------------------------------------------------------- */

Test(expr, strings_and_utf8) {
    fields[JF_EXPR_EVENT_CHANNEL] = jf_expr_string("小程序", 9);
    TRUE("channel == \"小程序\"");
    TRUE("channel == \"\\u5c0f\\u7a0b\\u5e8f\"");
    fields[JF_EXPR_EVENT_CHANNEL] = jf_expr_string("a\"b\\c\nd\te\r", 10);
    TRUE("channel == \"a\\\"b\\\\c\\nd\\te\\r\"");
    fields[JF_EXPR_EVENT_CHANNEL] = jf_expr_string("\xF0\x9F\x98\x80", 4); /* U+1F600 */
    TRUE("channel == \"\\ud83d\\ude00\"");
    TRUE("channel == \"😀\" and len(channel) == 1");
    fields[JF_EXPR_EVENT_CHANNEL] = jf_expr_string("é", 2);
    TRUE("channel == \"\\u00e9\" and channel == \"\\u00E9\"");
    char max[JF_EXPR_STRING_BYTES_MAX + 32];
    snprintf(max, sizeof max, "len(\"%0*d\") == 256", JF_EXPR_STRING_BYTES_MAX, 0);
    TRUE(max);
}

Test(expr, string_errors) {
    COMPILE_ERROR("channel == \"abc", JF_EXPR_ERR_SYNTAX, "unterminated string at 1:12");
    COMPILE_ERROR("channel == \"a\\x\"", JF_EXPR_ERR_SYNTAX, "unknown escape '\\x' in string at 1:14");
    COMPILE_ERROR("channel == \"\\u12\"", JF_EXPR_ERR_SYNTAX, "\\u needs 4 hex digits at 1:13");
    COMPILE_ERROR("channel == \"\\udc00\"", JF_EXPR_ERR_SYNTAX, "lone low surrogate in \\u escape at 1:13");
    COMPILE_ERROR("channel == \"\\ud83d\"", JF_EXPR_ERR_SYNTAX,
                  "high surrogate in \\u escape without a low surrogate at 1:13");
    COMPILE_ERROR("channel == \"\\u0000\"", JF_EXPR_ERR_SYNTAX, "\\u0000 is not allowed in strings at 1:13");
    COMPILE_ERROR("channel == \"a\tb\"", JF_EXPR_ERR_SYNTAX, "control character in string (write \\n or \\t) at 1:14");
    COMPILE_ERROR("channel == \"a\xff\"", JF_EXPR_ERR_SYNTAX, "invalid UTF-8 in string at 1:14");
    COMPILE_ERROR("channel == \"\xed\xa0\x80\"", JF_EXPR_ERR_SYNTAX, "invalid UTF-8 in string at 1:13"); /* surrogate */
    COMPILE_ERROR("channel == \"\xc0\xaf\"", JF_EXPR_ERR_SYNTAX, "invalid UTF-8 in string at 1:13");     /* overlong */
    COMPILE_ERROR("channel == 'x'", JF_EXPR_ERR_SYNTAX, "strings are written in double quotes at 1:12");
    char big[JF_EXPR_STRING_BYTES_MAX + 32];
    snprintf(big, sizeof big, "\"%0*d\" == channel", JF_EXPR_STRING_BYTES_MAX + 1, 0);
    COMPILE_ERROR(big, JF_EXPR_ERR_LIMIT, "string is longer than 256 bytes at 1:1");
}

/* ---- compile errors with positions ------------------------------------------ */

Test(expr, syntax_errors) {
    COMPILE_ERROR("(amount_fen > 1", JF_EXPR_ERR_SYNTAX, "expected ')' at 1:16");
    COMPILE_ERROR("(amount_fen >= 100 and (1 + 2 > 3)", JF_EXPR_ERR_SYNTAX, "expected ')' at 1:35");
    COMPILE_ERROR("", JF_EXPR_ERR_SYNTAX, "empty condition at 1:1");
    COMPILE_ERROR("  \n ", JF_EXPR_ERR_SYNTAX, "empty condition at 2:2");
    COMPILE_ERROR("amount_fen >", JF_EXPR_ERR_SYNTAX, "expected a value, found end of condition at 1:13");
    COMPILE_ERROR("amount_fen > )", JF_EXPR_ERR_SYNTAX, "expected a value, found ')' at 1:14");
    COMPILE_ERROR("amount_fen > 1 channel", JF_EXPR_ERR_SYNTAX, "unexpected name \"channel\" at 1:16");
    COMPILE_ERROR("amount_fen > 1)", JF_EXPR_ERR_SYNTAX, "unexpected ')' at 1:15");
    COMPILE_ERROR("amount_fen = 1", JF_EXPR_ERR_SYNTAX, "unexpected '=' (write '==' to compare) at 1:12");
    COMPILE_ERROR("!true", JF_EXPR_ERR_SYNTAX, "unexpected '!' (write 'not' or '!=') at 1:1");
    COMPILE_ERROR("true && false", JF_EXPR_ERR_SYNTAX, "unexpected '&' (write 'and' or 'or') at 1:6");
    COMPILE_ERROR("true || false", JF_EXPR_ERR_SYNTAX, "unexpected '|' (write 'and' or 'or') at 1:6");
    COMPILE_ERROR("amount_fen > 1 ; true", JF_EXPR_ERR_SYNTAX, "unexpected character ';' at 1:16");
    COMPILE_ERROR("amount_fen > 1\x01", JF_EXPR_ERR_SYNTAX, "unexpected character at 1:15");
    COMPILE_ERROR("amount_fen > 12abc", JF_EXPR_ERR_SYNTAX, "unexpected character after number at 1:16");
    COMPILE_ERROR("1 < 2 < 3", JF_EXPR_ERR_SYNTAX, "comparisons cannot be chained (combine them with 'and') at 1:7");
    COMPILE_ERROR("1 not 2", JF_EXPR_ERR_SYNTAX, "expected 'in' after 'not' at 1:7");
    COMPILE_ERROR("item. == 1", JF_EXPR_ERR_SYNTAX, "expected a name after '.' at 1:6");
    COMPILE_ERROR("[1, 2,] == 1", JF_EXPR_ERR_SYNTAX, "list items must be int or string literals at 1:7");
    COMPILE_ERROR("1 in [1 2]", JF_EXPR_ERR_SYNTAX, "expected ',' or ']' at 1:9");
    COMPILE_ERROR("1 in []", JF_EXPR_ERR_SYNTAX, "a list needs at least one item at 1:6");
    COMPILE_ERROR("1 in [amount_fen]", JF_EXPR_ERR_SYNTAX, "list items must be int or string literals at 1:7");
    COMPILE_ERROR("min(1, 2", JF_EXPR_ERR_SYNTAX, "expected ',' or ')' at 1:9");
    COMPILE_ERROR("weekday == 6", JF_EXPR_ERR_SYNTAX, "weekday is a function: write weekday() at 1:1");
    COMPILE_ERROR("attributes == 1", JF_EXPR_ERR_SYNTAX, "write attributes.<name> to read an event attribute at 1:1");
    /* line and column: the column counts characters, the offset bytes */
    COMPILE_ERROR("amount_fen >= 100 and\n  chanel == \"x\"", JF_EXPR_ERR_UNKNOWN,
                  "unknown field \"chanel\" at 2:3 (did you mean \"channel\"?)");
    jf_expr_program *p;
    jf_expr_error e;
    const char *src = "channel == \"小程序\" and x";
    cr_assert_not(jf_expr_compile(src, strlen(src), jf_expr_event_schema(), &p, &e));
    cr_assert_eq(e.pos.line, 1);
    cr_assert_eq(e.pos.column, 22);
    cr_assert_eq(e.pos.offset, 27);
    cr_assert_str_eq(e.message, "unknown field \"x\"");
    cr_assert_str_eq(e.hint, "");
}

Test(expr, unknown_names) {
    COMPILE_ERROR("amont_fen >= 100", JF_EXPR_ERR_UNKNOWN, "unknown field \"amont_fen\" at 1:1 (did you mean \"amount_fen\"?)");
    COMPILE_ERROR("member.teir == \"gold\"", JF_EXPR_ERR_UNKNOWN,
                  "unknown field \"member.teir\" at 1:1 (did you mean \"member.tier\"?)");
    COMPILE_ERROR("true and store_id == \"x\"", JF_EXPR_ERR_UNKNOWN, "unknown field \"store_id\" at 1:10");
    COMPILE_ERROR("Amount_fen > 1", JF_EXPR_ERR_UNKNOWN,
                  "unknown field \"Amount_fen\" at 1:1 (did you mean \"amount_fen\"?)");
    COMPILE_ERROR("wekday() == 6", JF_EXPR_ERR_UNKNOWN, "unknown function \"wekday\" at 1:1 (did you mean \"weekday\"?)");
    COMPILE_ERROR("now() > 1", JF_EXPR_ERR_UNKNOWN, "unknown function \"now\" at 1:1");
    COMPILE_ERROR("amount_fen() > 1", JF_EXPR_ERR_UNKNOWN, "unknown function \"amount_fen\" at 1:1");
}

Test(expr, type_errors) {
    COMPILE_ERROR("amount_fen > \"100\"", JF_EXPR_ERR_TYPE, "cannot compare int with string at 1:12");
    COMPILE_ERROR("channel == 1", JF_EXPR_ERR_TYPE, "cannot compare string with int at 1:9");
    COMPILE_ERROR("true == 1", JF_EXPR_ERR_TYPE, "cannot compare bool with int at 1:6");
    COMPILE_ERROR("true < false", JF_EXPR_ERR_TYPE, "cannot order booleans (only == and != apply) at 1:6");
    COMPILE_ERROR("member.tags == [\"vip\"]", JF_EXPR_ERR_TYPE, "cannot compare list<string> with list<string> at 1:13");
    COMPILE_ERROR("amount_fen + \"a\" > 1", JF_EXPR_ERR_TYPE, "'+' needs int operands, got int and string at 1:12");
    COMPILE_ERROR("channel * 2 > 1", JF_EXPR_ERR_TYPE, "'*' needs int operands, got string and int at 1:9");
    COMPILE_ERROR("-channel == 1", JF_EXPR_ERR_TYPE, "unary '-' needs an int, got string at 1:1");
    COMPILE_ERROR("not amount_fen", JF_EXPR_ERR_TYPE, "'not' needs a bool, got int at 1:1");
    COMPILE_ERROR("1 and true", JF_EXPR_ERR_TYPE, "left side of 'and' is int, expected bool at 1:3");
    COMPILE_ERROR("true or channel", JF_EXPR_ERR_TYPE, "right side of 'or' is string, expected bool at 1:6");
    COMPILE_ERROR("1 in 2", JF_EXPR_ERR_TYPE, "'in' needs a list or a string on the right, got int at 1:3");
    COMPILE_ERROR("\"a\" in [1, 2]", JF_EXPR_ERR_TYPE, "cannot look for string in list<int> at 1:5");
    COMPILE_ERROR("1 in member.tags", JF_EXPR_ERR_TYPE, "cannot look for int in list<string> at 1:3");
    COMPILE_ERROR("1 in \"abc\"", JF_EXPR_ERR_TYPE, "cannot look for int in string at 1:3");
    COMPILE_ERROR("true in attributes.colors", JF_EXPR_ERR_TYPE, "cannot look for bool in attribute at 1:6");
    COMPILE_ERROR("[1, \"a\"] == 1", JF_EXPR_ERR_TYPE, "list mixes int and string items at 1:5");
    COMPILE_ERROR("[\"a\", -1] == 1", JF_EXPR_ERR_TYPE, "list mixes int and string items at 1:7");
    COMPILE_ERROR("floor(\"a\", 1) == 1", JF_EXPR_ERR_TYPE, "floor() needs int arguments, got string at 1:7");
    COMPILE_ERROR("min(1, channel) == 1", JF_EXPR_ERR_TYPE, "min() needs int arguments, got string at 1:8");
    COMPILE_ERROR("len(1) == 1", JF_EXPR_ERR_TYPE, "len() needs string or list arguments, got int at 1:5");
    COMPILE_ERROR("has(channel)", JF_EXPR_ERR_TYPE, "has() takes an attribute: has(attributes.<name>) at 1:5");
    COMPILE_ERROR("amount_fen", JF_EXPR_ERR_TYPE, "a condition must be a bool, this one is int at 1:1");
    COMPILE_ERROR("date()", JF_EXPR_ERR_TYPE, "a condition must be a bool, this one is string at 1:1");
}

Test(expr, arity_errors) {
    COMPILE_ERROR("weekday(1) == 1", JF_EXPR_ERR_ARITY, "weekday() takes at most 0 arguments at 1:9");
    COMPILE_ERROR("floor(1) == 1", JF_EXPR_ERR_ARITY, "floor() takes 2 arguments, got 1 at 1:1");
    COMPILE_ERROR("floor(1, 2, 3) == 1", JF_EXPR_ERR_ARITY, "floor() takes at most 2 arguments at 1:13");
    COMPILE_ERROR("min(1) == 1", JF_EXPR_ERR_ARITY, "min() takes at least 2 arguments, got 1 at 1:1");
    COMPILE_ERROR("max() == 1", JF_EXPR_ERR_ARITY, "max() takes at least 2 arguments, got 0 at 1:1");
    COMPILE_ERROR("len() == 1", JF_EXPR_ERR_ARITY, "len() takes 1 argument, got 0 at 1:1");
    COMPILE_ERROR("min(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17) == 1", JF_EXPR_ERR_ARITY,
                  "min() takes at most 16 arguments at 1:44");
}

/* ---- evaluation errors -------------------------------------------------------- */

Test(expr, overflow_and_division) {
    EVAL_ERROR("9223372036854775807 + 1 > 0", JF_EXPR_ERR_OVERFLOW, "integer overflow in '+' at 1:21");
    EVAL_ERROR("-9223372036854775808 - 1 < 0", JF_EXPR_ERR_OVERFLOW, "integer overflow in '-' at 1:22");
    EVAL_ERROR("4611686018427387904 * 2 > 0", JF_EXPR_ERR_OVERFLOW, "integer overflow in '*' at 1:21");
    EVAL_ERROR("-(-9223372036854775808) > 0", JF_EXPR_ERR_OVERFLOW, "integer overflow in '-' at 1:1");
    EVAL_ERROR("-9223372036854775808 / -1 > 0", JF_EXPR_ERR_OVERFLOW, "integer overflow in '/' at 1:22");
    EVAL_ERROR("amount_fen / 0 > 0", JF_EXPR_ERR_DIVISION, "division by zero in '/' at 1:12");
    EVAL_ERROR("amount_fen % (item.quantity - 2) > 0", JF_EXPR_ERR_DIVISION, "division by zero in '%' at 1:12");
    TRUE("4611686018427387903 * 2 == 9223372036854775806");
}

Test(expr, int_literal_range) {
    COMPILE_ERROR("9223372036854775808 > 0", JF_EXPR_ERR_SYNTAX,
                  "integer literal is out of range (at most 9223372036854775807) at 1:1");
    COMPILE_ERROR("amount_fen < 99999999999999999999", JF_EXPR_ERR_SYNTAX,
                  "integer literal is out of range (at most 9223372036854775807) at 1:14");
    COMPILE_ERROR("-9223372036854775809 < 0", JF_EXPR_ERR_SYNTAX,
                  "integer literal is out of range (at most 9223372036854775807) at 1:2");
    COMPILE_ERROR("1 in [9223372036854775808]", JF_EXPR_ERR_SYNTAX,
                  "integer literal is out of range (at most 9223372036854775807) at 1:7");
    COMPILE_ERROR("1 - 9223372036854775808 < 0", JF_EXPR_ERR_SYNTAX,
                  "integer literal is out of range (at most 9223372036854775807) at 1:5");
    TRUE("-9223372036854775808 in [-9223372036854775808, 9223372036854775807]");
    TRUE("007 == 7");
}

Test(expr, missing_and_mistyped_fields) {
    fields[JF_EXPR_EVENT_ITEM_SKU] = (jf_expr_value){.type = JF_EXPR_NONE};
    EVAL_ERROR("amount_fen > 0 and item.sku == \"a\"", JF_EXPR_ERR_MISSING, "field \"item.sku\" has no value at 1:20");
    fields[JF_EXPR_EVENT_AMOUNT_FEN] = jf_expr_string("12800", 5);
    EVAL_ERROR("amount_fen > 0", JF_EXPR_ERR_TYPE, "field \"amount_fen\" is string, expected int at 1:1");
}

/* ---- dynamic attributes ------------------------------------------------------ */

Test(expr, attributes) {
    TRUE("attributes.level == 3");
    TRUE("attributes.level + 1 >= 4");
    TRUE("attributes.store == \"SH-01\"");
    TRUE("attributes.with_picture");
    TRUE("attributes.with_picture and attributes.level > 2");
    TRUE("not attributes.with_picture or true");
    TRUE("\"red\" in attributes.colors");
    TRUE("\"SH\" in attributes.store");
    TRUE("attributes.level in [1, 2, 3]");
    TRUE("has(attributes.level) and not has(attributes.nope)");
    FALSE("has(attributes.empty)"); /* a value of type NONE counts as absent */
    TRUE("attributes.level == attributes.level");
}

/* A type mismatch in an attribute is an evaluation error: the rule does not
 * match (result false) and the error names the attribute's position. */
Test(expr, attribute_type_mismatch) {
    EVAL_ERROR("attributes.level == \"3\"", JF_EXPR_ERR_TYPE, "cannot compare int with string at 1:18");
    EVAL_ERROR("amount_fen > 0 and attributes.store > 5", JF_EXPR_ERR_TYPE, "cannot compare string with int at 1:37");
    EVAL_ERROR("attributes.store + 1 > 0", JF_EXPR_ERR_TYPE, "'+' needs int operands, got string and int at 1:18");
    EVAL_ERROR("-attributes.store > 0", JF_EXPR_ERR_TYPE, "unary '-' needs an int, got string at 1:1");
    EVAL_ERROR("attributes.level", JF_EXPR_ERR_TYPE, "the condition is int, expected bool at 1:1");
    EVAL_ERROR("true and attributes.level", JF_EXPR_ERR_TYPE, "'and' needs a bool, got int at 1:6");
    EVAL_ERROR("attributes.level or true", JF_EXPR_ERR_TYPE, "'or' needs a bool, got int at 1:18");
    EVAL_ERROR("false or attributes.store", JF_EXPR_ERR_TYPE, "'or' needs a bool, got string at 1:7");
    EVAL_ERROR("not attributes.store", JF_EXPR_ERR_TYPE, "'not' needs a bool, got string at 1:1");
    EVAL_ERROR("attributes.level in attributes.colors", JF_EXPR_ERR_TYPE, "cannot look for int in list<string> at 1:18");
    EVAL_ERROR("attributes.colors == attributes.colors", JF_EXPR_ERR_TYPE,
               "cannot compare list<string> with list<string> at 1:19");
    EVAL_ERROR("attributes.with_picture < attributes.with_picture", JF_EXPR_ERR_TYPE,
               "cannot order booleans (only == and != apply) at 1:25");
    EVAL_ERROR("attributes.nope == 1", JF_EXPR_ERR_MISSING, "attribute \"nope\" is missing at 1:1");
    EVAL_ERROR("attributes.empty == 1", JF_EXPR_ERR_MISSING, "attribute \"empty\" is missing at 1:1");
    EVAL_ERROR("floor(attributes.store, 2) == 1", JF_EXPR_ERR_TYPE,
               "'floor()' needs int operands, got string and int at 1:1");
}

Test(expr, no_attribute_resolver) {
    jf_expr_program *p = compile_or_die("has(attributes.level) or attributes.level == 1");
    jf_expr_env env = {fields, JF_EXPR_EVENT_FIELD_COUNT, NULL, NULL, &civil};
    bool r = true;
    jf_expr_error e;
    cr_assert_not(jf_expr_eval(p, &env, &r, &e));
    cr_assert_not(r);
    cr_assert_eq(e.kind, JF_EXPR_ERR_MISSING);
    cr_assert_eq(e.pos.column, 26);
    jf_expr_free(p);
}

/* ---- bounds ---------------------------------------------------------------- */

static char *repeat(const char *prefix, const char *unit, size_t n, const char *middle, const char *unit2,
                    size_t n2, const char *suffix) {
    size_t cap = strlen(prefix) + strlen(unit) * n + strlen(middle) + strlen(unit2) * n2 + strlen(suffix) + 1;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    strcpy(s, prefix);
    for (size_t i = 0; i < n; i++) strcat(s, unit);
    strcat(s, middle);
    for (size_t i = 0; i < n2; i++) strcat(s, unit2);
    strcat(s, suffix);
    return s;
}

Test(expr, depth_bound) {
    char *ok = repeat("", "(", 32, "true", ")", 32, "");
    TRUE(ok);
    free(ok);
    char *deep = repeat("", "(", 33, "true", ")", 33, "");
    COMPILE_ERROR(deep, JF_EXPR_ERR_LIMIT, "condition is nested more than 32 levels deep at 1:33");
    free(deep);
    char *nots = repeat("", "not ", 33, "true", "", 0, "");
    COMPILE_ERROR(nots, JF_EXPR_ERR_LIMIT, "condition is nested more than 32 levels deep at 1:129");
    free(nots);
    char *minus = repeat("", "-", 32, "1 == 1", "", 0, "");
    TRUE(minus);
    free(minus);
    char *calls = repeat("", "min(1, ", 33, "1", ")", 33, " == 1");
    COMPILE_ERROR(calls, JF_EXPR_ERR_LIMIT, "condition is nested more than 32 levels deep at 1:225");
    free(calls);
    /* the deepest value stack the depth bound allows still fits */
    char *wide = repeat("true or true and 1 == ", "1 + 2 * min(1, ", 31, "1", ")", 31, "");
    TRUE(wide);
    free(wide);
}

Test(expr, source_bound) {
    char src[JF_EXPR_SOURCE_BYTES_MAX + 2];
    memset(src, ' ', sizeof src);
    memcpy(src, "true", 4);
    src[JF_EXPR_SOURCE_BYTES_MAX] = '\0';
    TRUE(src);
    src[JF_EXPR_SOURCE_BYTES_MAX] = ' ';
    src[JF_EXPR_SOURCE_BYTES_MAX + 1] = '\0';
    COMPILE_ERROR(src, JF_EXPR_ERR_LIMIT, "condition is 4097 bytes, at most 4096 at 1:1");
}

Test(expr, list_bound) {
    char *ok = repeat("64 in [", "1, ", 63, "64", "", 0, "]");
    TRUE(ok);
    free(ok);
    char *big = repeat("65 in [", "1, ", 64, "65", "", 0, "]");
    COMPILE_ERROR(big, JF_EXPR_ERR_LIMIT, "list has more than 64 items at 1:200");
    free(big);
}

Test(expr, instruction_and_constant_bounds) {
    /* 255 pushes, 254 additions, a push, != and not: exactly 512 */
    char *ok = repeat("not ", "1 + ", 254, "1 != 255", "", 0, "");
    jf_expr_program *full = compile_or_die(ok);
    cr_assert_eq(jf_expr_insn_count(full), JF_EXPR_INSNS_MAX);
    jf_expr_free(full);
    TRUE(ok);
    free(ok);
    char *longer = repeat("", "1 + ", 255, "1 == 256", "", 0, "");
    COMPILE_ERROR(longer, JF_EXPR_ERR_LIMIT, "condition is too long (more than 512 instructions) at 1:1023");
    free(longer);
    /* 9 lists of 60 one-digit items: 540 constants */
    char src[JF_EXPR_SOURCE_BYTES_MAX];
    size_t at = 0;
    for (int i = 0; i < 9; i++) {
        at += (size_t)snprintf(src + at, sizeof src - at, "%s1 in [", i ? " and " : "");
        for (int j = 0; j < 60; j++) at += (size_t)snprintf(src + at, sizeof src - at, "%s1", j ? "," : "");
        at += (size_t)snprintf(src + at, sizeof src - at, "]");
    }
    jf_expr_program *p;
    jf_expr_error e;
    cr_assert_not(jf_expr_compile(src, at, jf_expr_event_schema(), &p, &e));
    cr_assert_eq(e.kind, JF_EXPR_ERR_LIMIT);
    cr_assert_str_eq(e.message, "condition has more than 512 constants");
}

Test(expr, name_bound) {
    char src[200];
    char name[JF_EXPR_NAME_BYTES_MAX + 1];
    memset(name, 'a', sizeof name);
    name[JF_EXPR_NAME_BYTES_MAX - 11] = '\0';
    snprintf(src, sizeof src, "attributes.%s == 1", name);
    jf_expr_program *p = compile_or_die(src);
    jf_expr_free(p);
    name[JF_EXPR_NAME_BYTES_MAX - 11] = 'a';
    name[JF_EXPR_NAME_BYTES_MAX - 10] = '\0';
    snprintf(src, sizeof src, "attributes.%s == 1", name);
    COMPILE_ERROR(src, JF_EXPR_ERR_LIMIT, "name is longer than 64 bytes at 1:1");
}

/* ---- API ------------------------------------------------------------------ */

Test(expr, jf_error_and_source) {
    jf_expr_program *p;
    jf_expr_error e;
    const char *src = "amount_fen >= 10000 and (channel == \"miniapp\"";
    cr_assert_not(jf_expr_compile(src, strlen(src), jf_expr_event_schema(), &p, &e));
    jf_error err;
    jf_error_clear(&err);
    cr_assert_eq(jf_expr_fail(&err, "when", &e), JF_RULE_INVALID);
    cr_assert_eq(err.code, JF_RULE_INVALID);
    cr_assert_eq(jf_code_status(err.code), 422);
    cr_assert_str_eq(jf_code_name(err.code), "rule_invalid");
    cr_assert_str_eq(err.field, "when");
    cr_assert_str_eq(err.detail, "expected ')' at 1:46");

    /* not NUL-terminated input: only len bytes are read; the program keeps a copy */
    const char buf[] = {'t', 'r', 'u', 'e', 'X'};
    cr_assert(jf_expr_compile(buf, 4, jf_expr_event_schema(), &p, &e));
    size_t len;
    cr_assert_str_eq(jf_expr_source(p, &len), "true");
    cr_assert_eq(len, 4);
    jf_expr_free(p);
}

Test(expr, custom_schema) {
    static const jf_expr_field custom[] = {{"vip", JF_EXPR_BOOL}, {"lucky", JF_EXPR_LIST_INT}, {"n", JF_EXPR_INT}};
    const jf_expr_schema schema = {custom, 3};
    jf_expr_program *p;
    jf_expr_error e;
    const char *src = "vip and n in lucky and n not in [1]";
    cr_assert(jf_expr_compile(src, strlen(src), &schema, &p, &e));
    int64_t lucky[] = {6, 8};
    jf_expr_value values[3] = {jf_expr_bool(true), jf_expr_list_int(lucky, 2), jf_expr_int(8)};
    jf_expr_env env = {values, 3, NULL, NULL, NULL};
    bool r = false;
    cr_assert(jf_expr_eval(p, &env, &r, &e));
    cr_assert(r);
    values[2] = jf_expr_int(7);
    cr_assert(jf_expr_eval(p, &env, &r, NULL));
    cr_assert_not(r);
    jf_expr_free(p);
    cr_assert_not(jf_expr_compile("amount_fen > 1", 14, &schema, &p, &e));
    cr_assert_eq(e.kind, JF_EXPR_ERR_UNKNOWN);
}

/* The seeds' campaigns, written as conditions (docs/rules.md). */
Test(expr, seed_examples) {
    TRUE("weekday() >= 6");                                   /* 周末三倍积分 */
    TRUE("item.category == \"生鲜\"");                         /* 指定品类双倍积分 */
    set_civil(2026, 11, 15, 10, 0, 0, 7);
    TRUE("day() == 15");                                      /* 每月 15 日会员日 */
    TRUE("member.tier in [\"gold\", \"diamond\"] and day() == 15");
    set_civil(2026, 11, 11, 10, 0, 0, 3);
    TRUE("date() >= \"2026-11-01\" and date() <= \"2026-11-11\""); /* 双十一 */
    TRUE("hour() >= 11 or hour() < 14 and weekday() <= 5");   /* 工作日午市 */
    TRUE("amount_fen >= 10000 and channel == \"miniapp\"");
    TRUE("member.days_since_joining <= 30");                  /* 新手期 */
    FALSE("member.orders_count >= 1");
}
