/*
 * expr.h — the condition language of earning rules (`when`).
 *
 * A merchant writes a condition such as
 *     amount_fen >= 10000 and channel == "miniapp" and weekday() >= 6
 * It is compiled once, when the rule is saved (or loaded): parsed, checked
 * against a schema of typed fields, and turned into a short stack program in
 * one allocation.  Evaluation then runs on every event: it reads field values
 * from a caller-filled array indexed by the field's slot in the schema,
 * attributes through a callback, the event's civil time from a jf_civil, and
 * allocates nothing (a fixed value stack on the C stack).  Jumps only go
 * forward, so an evaluation runs at most as many instructions as the program
 * has.  The language is specified in docs/rules.md.
 *
 * A program is not serialised: the rule table stores the source and the
 * program is compiled again at load (jf_expr_source returns it).
 *
 * Thread safety: a compiled program is immutable; any number of threads may
 * evaluate it at once.
 */
#ifndef JF_EXPR_H
#define JF_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/errors.h"
#include "util/tz.h"

/* ---- bounds, each with its reason -------------------------------------- */

/* Source text of one condition: at most 4096 bytes.  A real condition is a
 * line or three; 4 KiB leaves room for long category lists and keeps a
 * rule row, its compile time and its error messages small. */
#define JF_EXPR_SOURCE_BYTES_MAX 4096

/* Nesting of parentheses, brackets, calls and unary operators: at most 32.
 * Bounds the parser's recursion (and so the C stack) and the value stack. */
#define JF_EXPR_DEPTH_MAX 32

/* Instructions of one program: at most 512.  Also the bound on the steps of
 * one evaluation, because no instruction jumps backwards. */
#define JF_EXPR_INSNS_MAX 512

/* Constants of one program (integers, strings, list items): at most 512. */
#define JF_EXPR_CONSTANTS_MAX 512

/* Items of one list literal: at most 64.  `in` scans the list; 64 keeps the
 * scan cheap, and a longer list belongs in a member tag or item attribute. */
#define JF_EXPR_LIST_ITEMS_MAX 64

/* Bytes of one string literal after unescaping: at most 256 (85 Chinese
 * characters) — a category, a channel or a date, never a document. */
#define JF_EXPR_STRING_BYTES_MAX 256

/* Bytes of an identifier (a dotted field name or attribute name): 64. */
#define JF_EXPR_NAME_BYTES_MAX 64

/* Arguments of one call (min, max): at most 16. */
#define JF_EXPR_ARGS_MAX 16

/* Fields of one schema: at most 64 (slot numbers fit in the instruction). */
#define JF_EXPR_SCHEMA_FIELDS_MAX 64

/* Values on the evaluation stack: 256 × 24 bytes on the C stack.  With
 * nesting at most JF_EXPR_DEPTH_MAX, an expression keeps at most about six
 * pending operands per level (or, and, comparison, +, *, a call argument),
 * so 33 × 6 < 256; the compiler still checks the real need and refuses a
 * program that would exceed it. */
#define JF_EXPR_STACK_MAX 256

/* ---- values -------------------------------------------------------------- */

typedef enum {
    JF_EXPR_NONE = 0,    /* no value: a field the event does not have */
    JF_EXPR_INT,         /* int64_t */
    JF_EXPR_STRING,      /* UTF-8 bytes, not NUL-terminated */
    JF_EXPR_BOOL,
    JF_EXPR_LIST_INT,
    JF_EXPR_LIST_STRING,
    JF_EXPR_DYNAMIC      /* compile time only: an attribute, typed at evaluation */
} jf_expr_type;

typedef struct {
    const char *ptr;
    size_t len;
} jf_expr_str;

/* A value handed to the evaluator.  Strings and lists are borrowed: they must
 * stay valid for the duration of jf_expr_eval. */
typedef struct {
    jf_expr_type type;
    union {
        int64_t i;
        bool b;
        jf_expr_str s;
        struct {
            const int64_t *items;
            size_t count;
        } ints;
        struct {
            const jf_expr_str *items;
            size_t count;
        } strs;
    } as;
} jf_expr_value;

static inline jf_expr_value jf_expr_int(int64_t i) {
    jf_expr_value v = {.type = JF_EXPR_INT, .as.i = i};
    return v;
}
static inline jf_expr_value jf_expr_bool(bool b) {
    jf_expr_value v = {.type = JF_EXPR_BOOL, .as.b = b};
    return v;
}
static inline jf_expr_value jf_expr_string(const char *ptr, size_t len) {
    jf_expr_value v = {.type = JF_EXPR_STRING, .as.s = {ptr, len}};
    return v;
}
static inline jf_expr_value jf_expr_list_int(const int64_t *items, size_t count) {
    jf_expr_value v = {.type = JF_EXPR_LIST_INT, .as.ints = {items, count}};
    return v;
}
static inline jf_expr_value jf_expr_list_string(const jf_expr_str *items, size_t count) {
    jf_expr_value v = {.type = JF_EXPR_LIST_STRING, .as.strs = {items, count}};
    return v;
}

/* "int", "string", "bool", "list<int>", "list<string>", "attribute", "none". */
const char *jf_expr_type_name(jf_expr_type type);

/* ---- schema ---------------------------------------------------------------- */

/* A field a condition may name.  name: 1..JF_EXPR_NAME_BYTES_MAX bytes of
 * [a-z0-9_] parts joined by '.', not starting with "attributes."; type is
 * not DYNAMIC or NONE.  The field's slot is its index in the schema. */
typedef struct {
    const char *name;
    jf_expr_type type;
} jf_expr_field;

typedef struct {
    const jf_expr_field *fields;
    size_t count; /* 0..JF_EXPR_SCHEMA_FIELDS_MAX */
} jf_expr_schema;

/* The schema of earning events.  Slots are the enum below, so an evaluator
 * fills `jf_expr_value fields[JF_EXPR_EVENT_FIELD_COUNT]` by name. */
typedef enum {
    JF_EXPR_EVENT_AMOUNT_FEN = 0,          /* amount_fen: int */
    JF_EXPR_EVENT_TYPE,                    /* type: string ("order.paid") */
    JF_EXPR_EVENT_CHANNEL,                 /* channel: string */
    JF_EXPR_EVENT_ITEM_SKU,                /* item.sku: string */
    JF_EXPR_EVENT_ITEM_CATEGORY,           /* item.category: string */
    JF_EXPR_EVENT_ITEM_AMOUNT_FEN,         /* item.amount_fen: int */
    JF_EXPR_EVENT_ITEM_QUANTITY,           /* item.quantity: int */
    JF_EXPR_EVENT_MEMBER_TIER,             /* member.tier: string */
    JF_EXPR_EVENT_MEMBER_TAGS,             /* member.tags: list<string> */
    JF_EXPR_EVENT_MEMBER_DAYS_SINCE_JOINING, /* member.days_since_joining: int */
    JF_EXPR_EVENT_MEMBER_ORDERS_COUNT,     /* member.orders_count: int */
    JF_EXPR_EVENT_FIELD_COUNT
} jf_expr_event_field;

const jf_expr_schema *jf_expr_event_schema(void);

/* ---- errors ---------------------------------------------------------------- */

typedef enum {
    JF_EXPR_OK = 0,
    /* compile time */
    JF_EXPR_ERR_SYNTAX,     /* unexpected character or token, bad literal */
    JF_EXPR_ERR_UNKNOWN,    /* unknown field or function */
    JF_EXPR_ERR_TYPE,       /* operand or argument of the wrong type (also at evaluation) */
    JF_EXPR_ERR_ARITY,      /* wrong number of arguments */
    JF_EXPR_ERR_LIMIT,      /* a bound above is exceeded */
    /* evaluation */
    JF_EXPR_ERR_OVERFLOW,   /* integer overflow */
    JF_EXPR_ERR_DIVISION,   /* division or remainder by zero */
    JF_EXPR_ERR_MISSING     /* a field or attribute has no value, or no event time */
} jf_expr_error_kind;

/* Where in the source: byte offset (0-based), line and column (1-based; the
 * column counts characters, so a Chinese character is one column). */
typedef struct {
    uint32_t offset;
    uint32_t line;
    uint32_t column;
} jf_expr_pos;

typedef struct {
    jf_expr_error_kind kind;
    jf_expr_pos pos;
    char message[160]; /* "expected ')'" — without the position */
    char hint[96];     /* "" or " (did you mean \"amount_fen\"?)" */
} jf_expr_error;

/* "expected ')' at 1:17", "unknown field \"amont_fen\" at 1:1 (did you mean
 * \"amount_fen\"?)".  Always NUL-terminates when cap > 0. */
void jf_expr_error_format(const jf_expr_error *e, char *buf, size_t cap);

/* Fill a jf_error from a compile error: JF_RULE_INVALID (422), field as
 * given (e.g. "when"), detail as jf_expr_error_format.  Returns the code. */
jf_code jf_expr_fail(jf_error *err, const char *field, const jf_expr_error *e);

/* ---- compile and evaluate ------------------------------------------------- */

typedef struct jf_expr_program jf_expr_program;

/* Compile source (len bytes, need not be NUL-terminated) against schema.
 * On success *out is a new program (free with jf_expr_free) and err->kind is
 * JF_EXPR_OK; on failure *out is NULL, err says what and where, and false is
 * returned.  Allocation failure aborts (as everywhere in jifen's engine). */
bool jf_expr_compile(const char *source, size_t len, const jf_expr_schema *schema, jf_expr_program **out,
                     jf_expr_error *err);
void jf_expr_free(jf_expr_program *program);

/* A copy of the source the program was compiled from, and its length. */
const char *jf_expr_source(const jf_expr_program *program, size_t *len);
/* Instructions in the program (≥ 1); an evaluation runs at most this many. */
size_t jf_expr_insn_count(const jf_expr_program *program);
/* Whether the program calls weekday(), hour(), … (then env.civil is needed). */
bool jf_expr_uses_time(const jf_expr_program *program);

/* Look up attributes.<name>: fill *out and return true, or return false if
 * the event has no such attribute.  Borrowed strings/lists must outlive the
 * evaluation. */
typedef bool (*jf_expr_attribute_fn)(void *ctx, const char *name, size_t name_len, jf_expr_value *out);

typedef struct {
    const jf_expr_value *fields; /* indexed by schema slot */
    size_t field_count;          /* must equal the compile schema's count */
    jf_expr_attribute_fn attribute; /* NULL: the event has no attributes */
    void *attribute_ctx;
    const jf_civil *civil;       /* the event's time in the tenant's zone; NULL if unknown */
} jf_expr_env;

/* Evaluate.  Returns true with *result set, or false with *result = false and
 * err filled (kind OVERFLOW, DIVISION, MISSING or TYPE, with the position of
 * the operator or name at fault).  A rule whose condition fails to evaluate
 * does not match; the caller reports the error. */
bool jf_expr_eval(const jf_expr_program *program, const jf_expr_env *env, bool *result, jf_expr_error *err);

#endif
