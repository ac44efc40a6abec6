/*
 * expr.c — compiler and evaluator of the rule condition language.
 *
 * The compiler is a recursive-descent parser, one function per precedence
 * level, that type-checks as it goes and emits stack-machine instructions
 * directly (no tree).  `and` / `or` become forward jumps, so short-circuit
 * evaluation falls out of the instruction stream and no instruction ever jumps
 * backwards: an evaluation executes at most insn_count instructions.  The
 * compiler works in a scratch struct of fixed-size arrays, then copies what it
 * used into one exactly-sized allocation: the program (instructions, constant
 * pools, string bytes, a copy of the source for error positions).
 *
 * Types are checked at compile time whenever they are known.  Attributes
 * (`attributes.<name>`) are typed only at evaluation, so every instruction
 * also checks the tags of its operands; with static types those checks never
 * fail, they are one predictable branch each.
 */
#include "engine/expr.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- instructions ---------------------------------------------------------- */

typedef enum {
    OP_PUSH_INT,      /* arg: index in ints */
    OP_PUSH_STR,      /* arg: index in strs */
    OP_PUSH_BOOL,     /* arg: 0 or 1 */
    OP_PUSH_LIST_INT, /* arg: index in lists (items in ints) */
    OP_PUSH_LIST_STR, /* arg: index in lists (items in strs) */
    OP_FIELD,         /* arg: slot | name str index << 8 */
    OP_ATTR,          /* arg: name str index */
    OP_HAS_ATTR,      /* arg: name str index */
    OP_NEG,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_IN,
    OP_NOT_IN,
    OP_NOT,
    OP_AND_JUMP,   /* top false: jump to arg keeping it; else pop */
    OP_OR_JUMP,    /* top true: jump to arg keeping it; else pop */
    OP_CHECK_BOOL, /* top must be a bool (the right side of and: arg 0, or: arg 1) */
    OP_WEEKDAY,
    OP_HOUR,
    OP_DAY,
    OP_MONTH,
    OP_YEAR,
    OP_DATE,
    OP_FLOOR,
    OP_MIN,
    OP_MAX,
    OP_LEN,
} opcode;

typedef struct {
    uint8_t op;
    uint8_t unused;
    uint16_t pos; /* byte offset of the operator or name, for errors */
    uint32_t arg;
} insn;

_Static_assert(JF_EXPR_SOURCE_BYTES_MAX <= UINT16_MAX, "positions fit insn.pos");
_Static_assert(JF_EXPR_SCHEMA_FIELDS_MAX <= 256, "slots fit the low byte of OP_FIELD's arg");
_Static_assert(JF_EXPR_LIST_ITEMS_MAX <= JF_EXPR_CONSTANTS_MAX, "a list fits the constant pool");

typedef struct {
    uint32_t start, count;
} list_ref;

struct jf_expr_program {
    uint32_t insn_count;
    uint32_t field_count;
    uint32_t source_len;
    bool uses_time;
    const insn *code;
    const int64_t *ints;
    const jf_expr_str *strs;
    const list_ref *lists;
    const uint8_t *field_types; /* by slot */
    const char *source;         /* NUL-terminated copy */
};

/* ---- names ------------------------------------------------------------------ */

const char *jf_expr_type_name(jf_expr_type type) {
    switch (type) {
    case JF_EXPR_NONE: return "none";
    case JF_EXPR_INT: return "int";
    case JF_EXPR_STRING: return "string";
    case JF_EXPR_BOOL: return "bool";
    case JF_EXPR_LIST_INT: return "list<int>";
    case JF_EXPR_LIST_STRING: return "list<string>";
    case JF_EXPR_DYNAMIC: return "attribute";
    }
    return "invalid";
}

static const jf_expr_field event_fields[JF_EXPR_EVENT_FIELD_COUNT] = {
    [JF_EXPR_EVENT_AMOUNT_FEN] = {"amount_fen", JF_EXPR_INT},
    [JF_EXPR_EVENT_TYPE] = {"type", JF_EXPR_STRING},
    [JF_EXPR_EVENT_CHANNEL] = {"channel", JF_EXPR_STRING},
    [JF_EXPR_EVENT_ITEM_SKU] = {"item.sku", JF_EXPR_STRING},
    [JF_EXPR_EVENT_ITEM_CATEGORY] = {"item.category", JF_EXPR_STRING},
    [JF_EXPR_EVENT_ITEM_AMOUNT_FEN] = {"item.amount_fen", JF_EXPR_INT},
    [JF_EXPR_EVENT_ITEM_QUANTITY] = {"item.quantity", JF_EXPR_INT},
    [JF_EXPR_EVENT_MEMBER_TIER] = {"member.tier", JF_EXPR_STRING},
    [JF_EXPR_EVENT_MEMBER_TAGS] = {"member.tags", JF_EXPR_LIST_STRING},
    [JF_EXPR_EVENT_MEMBER_DAYS_SINCE_JOINING] = {"member.days_since_joining", JF_EXPR_INT},
    [JF_EXPR_EVENT_MEMBER_ORDERS_COUNT] = {"member.orders_count", JF_EXPR_INT},
};
static const jf_expr_schema event_schema = {event_fields, JF_EXPR_EVENT_FIELD_COUNT};

const jf_expr_schema *jf_expr_event_schema(void) {
    return &event_schema;
}

typedef struct {
    const char *name;
    opcode op;
    uint8_t args_min, args_max;
    jf_expr_type result;
} function_def;

static const function_def functions[] = {
    {"weekday", OP_WEEKDAY, 0, 0, JF_EXPR_INT}, {"hour", OP_HOUR, 0, 0, JF_EXPR_INT},
    {"day", OP_DAY, 0, 0, JF_EXPR_INT},         {"month", OP_MONTH, 0, 0, JF_EXPR_INT},
    {"year", OP_YEAR, 0, 0, JF_EXPR_INT},       {"date", OP_DATE, 0, 0, JF_EXPR_STRING},
    {"floor", OP_FLOOR, 2, 2, JF_EXPR_INT},     {"min", OP_MIN, 2, JF_EXPR_ARGS_MAX, JF_EXPR_INT},
    {"max", OP_MAX, 2, JF_EXPR_ARGS_MAX, JF_EXPR_INT}, {"len", OP_LEN, 1, 1, JF_EXPR_INT},
    {"has", OP_HAS_ATTR, 1, 1, JF_EXPR_BOOL},
};
#define FUNCTION_COUNT (sizeof functions / sizeof functions[0])

/* ---- positions and error messages ------------------------------------------ */

static jf_expr_pos pos_at(const char *src, size_t len, size_t offset) {
    jf_expr_pos pos = {(uint32_t)offset, 1, 1};
    assert(offset <= len);
    for (size_t i = 0; i < offset; i++) {
        unsigned char ch = (unsigned char)src[i];
        if (ch == '\n') {
            pos.line++;
            pos.column = 1;
        } else if ((ch & 0xC0) != 0x80) { /* not a UTF-8 continuation byte */
            pos.column++;
        }
    }
    return pos;
}

void jf_expr_error_format(const jf_expr_error *e, char *buf, size_t cap) {
    assert(e != NULL);
    if (cap == 0) return;
    if (e->kind == JF_EXPR_OK) {
        snprintf(buf, cap, "ok");
        return;
    }
    snprintf(buf, cap, "%s at %u:%u%s", e->message, (unsigned)e->pos.line, (unsigned)e->pos.column, e->hint);
}

jf_code jf_expr_fail(jf_error *err, const char *field, const jf_expr_error *e) {
    char text[sizeof e->message + sizeof e->hint + 32];
    jf_expr_error_format(e, text, sizeof text);
    return jf_fail(err, JF_RULE_INVALID, field, "%s", text);
}

static void error_set(jf_expr_error *e, jf_expr_error_kind kind, const char *src, size_t len, size_t offset,
                      const char *fmt, va_list ap) {
    e->kind = kind;
    e->pos = pos_at(src, len, offset);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    e->hint[0] = '\0';
}

/* Edit distance of two short names (bounded by JF_EXPR_NAME_BYTES_MAX). */
static size_t edit_distance(const char *a, size_t a_len, const char *b, size_t b_len) {
    size_t row[JF_EXPR_NAME_BYTES_MAX + 1];
    assert(b_len <= JF_EXPR_NAME_BYTES_MAX);
    if (a_len > JF_EXPR_NAME_BYTES_MAX) return SIZE_MAX;
    for (size_t j = 0; j <= b_len; j++) row[j] = j;
    for (size_t i = 1; i <= a_len; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b_len; j++) {
            size_t above = row[j];
            size_t best = diagonal + (a[i - 1] != b[j - 1]);
            if (above + 1 < best) best = above + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[b_len];
}

/* ---- the compiler -------------------------------------------------------- */

typedef enum {
    T_EOF, T_INT, T_STRING, T_NAME, T_LPAREN, T_RPAREN, T_LBRACKET, T_RBRACKET, T_COMMA,
    T_PLUS, T_MINUS, T_STAR, T_SLASH, T_PERCENT,
    T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE,
    T_AND, T_OR, T_NOT, T_IN, T_TRUE, T_FALSE,
} token_kind;

typedef struct {
    token_kind kind;
    uint32_t start, end;      /* byte offsets in the source */
    uint64_t int_value;       /* T_INT: 0..2^63 (2^63 only valid negated) */
    uint32_t str_off, str_len; /* T_STRING: unescaped bytes in compiler.bytes */
} token;

typedef struct {
    const char *src;
    size_t len;
    size_t at; /* lexer cursor */
    token tok; /* current token */
    const jf_expr_schema *schema;
    jf_expr_error *err;
    bool failed;
    uint32_t depth;
    uint32_t stack, stack_max;
    bool uses_time;
    uint32_t code_count, int_count, str_count, list_count, bytes_len;
    insn code[JF_EXPR_INSNS_MAX];
    int64_t ints[JF_EXPR_CONSTANTS_MAX];
    struct {
        uint32_t off, len;
    } strs[JF_EXPR_CONSTANTS_MAX];
    list_ref lists[JF_EXPR_CONSTANTS_MAX];
    /* Unescaped string literals and attribute/field names.  Each occupies at
     * most the source bytes it was written with, so the source bound holds. */
    char bytes[JF_EXPR_SOURCE_BYTES_MAX];
} compiler;

__attribute__((format(printf, 4, 5))) static jf_expr_type fail(compiler *c, jf_expr_error_kind kind, size_t offset,
                                                               const char *fmt, ...) {
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        error_set(c->err, kind, c->src, c->len, offset, fmt, ap);
        va_end(ap);
        c->failed = true;
    }
    return JF_EXPR_NONE;
}

static void emit(compiler *c, opcode op, uint32_t arg, size_t pos, int stack_delta) {
    if (c->failed) return;
    if (c->code_count == JF_EXPR_INSNS_MAX) {
        fail(c, JF_EXPR_ERR_LIMIT, pos, "condition is too long (more than %d instructions)", JF_EXPR_INSNS_MAX);
        return;
    }
    assert(stack_delta >= 0 || c->stack >= (uint32_t)-stack_delta);
    c->stack = (uint32_t)((int)c->stack + stack_delta);
    if (c->stack > c->stack_max) c->stack_max = c->stack;
    if (c->stack > JF_EXPR_STACK_MAX) {
        fail(c, JF_EXPR_ERR_LIMIT, pos, "condition is too complex (more than %d pending values)", JF_EXPR_STACK_MAX);
        return;
    }
    c->code[c->code_count++] = (insn){.op = (uint8_t)op, .pos = (uint16_t)pos, .arg = arg};
}

static bool constant_room(compiler *c, size_t pos) {
    if (c->int_count + c->str_count + c->list_count < JF_EXPR_CONSTANTS_MAX) return true;
    fail(c, JF_EXPR_ERR_LIMIT, pos, "condition has more than %d constants", JF_EXPR_CONSTANTS_MAX);
    return false;
}

static uint32_t add_int(compiler *c, int64_t value, size_t pos) {
    if (!constant_room(c, pos)) return 0;
    c->ints[c->int_count] = value;
    return c->int_count++;
}

static uint32_t add_str(compiler *c, uint32_t off, uint32_t len, size_t pos) {
    if (!constant_room(c, pos)) return 0;
    assert(off + len <= c->bytes_len);
    c->strs[c->str_count].off = off;
    c->strs[c->str_count].len = len;
    return c->str_count++;
}

/* Copy name bytes into the byte pool (attribute and field names). */
static uint32_t add_name(compiler *c, const char *name, size_t len, size_t pos) {
    assert(c->bytes_len + len <= sizeof c->bytes);
    uint32_t off = c->bytes_len;
    memcpy(c->bytes + off, name, len);
    c->bytes_len += (uint32_t)len;
    return add_str(c, off, (uint32_t)len, pos);
}

/* ---- lexer ------------------------------------------------------------------ */

static bool is_name_start(int ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static bool is_name_char(int ch) {
    return is_name_start(ch) || (ch >= '0' && ch <= '9');
}
static int peek_at(const compiler *c, size_t i) {
    return i < c->len ? (unsigned char)c->src[i] : -1;
}

/* Decode one UTF-8 sequence; 0 if invalid (overlong, surrogate, > U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t need = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (need == 0 || s[0] > 0xF4 || n < need) return 0;
    uint32_t v = s[0] & (0x7F >> need);
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_for[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_for[need] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return need;
}

static size_t utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool hex4(const compiler *c, size_t at, uint32_t *out) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        int ch = peek_at(c, at + i);
        int digit = ch >= '0' && ch <= '9' ? ch - '0'
                    : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                    : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                             : -1;
        if (digit < 0) return false;
        v = v * 16 + (uint32_t)digit;
    }
    *out = v;
    return true;
}

/* An escape at c->at (the backslash); appends its bytes to out, advances. */
static size_t lex_escape(compiler *c, char *out) {
    size_t at = c->at;
    int ch = peek_at(c, at + 1);
    const char *simple = strchr("\"\\ntr", ch > 0 ? ch : 'x');
    if (ch > 0 && simple != NULL) {
        static const char decoded[] = "\"\\\n\t\r";
        out[0] = decoded[simple - "\"\\ntr"];
        c->at += 2;
        return 1;
    }
    if (ch != 'u') {
        if (ch < 0x20 || ch >= 0x7F) return fail(c, JF_EXPR_ERR_SYNTAX, at, "unknown escape in string"), 0;
        return fail(c, JF_EXPR_ERR_SYNTAX, at, "unknown escape '\\%c' in string", ch), 0;
    }
    uint32_t cp;
    if (!hex4(c, at + 2, &cp)) return fail(c, JF_EXPR_ERR_SYNTAX, at, "\\u needs 4 hex digits"), 0;
    c->at += 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(c, JF_EXPR_ERR_SYNTAX, at, "lone low surrogate in \\u escape"), 0;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t low;
        if (peek_at(c, c->at) != '\\' || peek_at(c, c->at + 1) != 'u' || !hex4(c, c->at + 2, &low) || low < 0xDC00 ||
            low > 0xDFFF)
            return fail(c, JF_EXPR_ERR_SYNTAX, at, "high surrogate in \\u escape without a low surrogate"), 0;
        c->at += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (cp == 0) return fail(c, JF_EXPR_ERR_SYNTAX, at, "\\u0000 is not allowed in strings"), 0;
    return utf8_encode(cp, out);
}

static void lex_string(compiler *c, token *t) {
    size_t open = c->at++;
    uint32_t off = c->bytes_len;
    char *out = c->bytes + off;
    size_t n = 0;
    for (;;) {
        int ch = peek_at(c, c->at);
        if (ch < 0) {
            fail(c, JF_EXPR_ERR_SYNTAX, open, "unterminated string");
            return;
        }
        if (ch == '"') break;
        char piece[4];
        size_t piece_len;
        if (ch == '\\') {
            piece_len = lex_escape(c, piece);
            if (c->failed) return;
        } else if (ch < 0x20 || ch == 0x7F) {
            fail(c, JF_EXPR_ERR_SYNTAX, c->at, "control character in string (write \\n or \\t)");
            return;
        } else {
            uint32_t cp;
            piece_len = utf8_decode((const unsigned char *)c->src + c->at, c->len - c->at, &cp);
            if (piece_len == 0) {
                fail(c, JF_EXPR_ERR_SYNTAX, c->at, "invalid UTF-8 in string");
                return;
            }
            memcpy(piece, c->src + c->at, piece_len);
            c->at += piece_len;
        }
        if (n + piece_len > JF_EXPR_STRING_BYTES_MAX) {
            fail(c, JF_EXPR_ERR_LIMIT, open, "string is longer than %d bytes", JF_EXPR_STRING_BYTES_MAX);
            return;
        }
        /* An unescaped piece is never longer than its source text. */
        assert(off + n + piece_len <= sizeof c->bytes);
        memcpy(out + n, piece, piece_len);
        n += piece_len;
    }
    c->at++; /* closing quote */
    c->bytes_len += (uint32_t)n;
    t->kind = T_STRING;
    t->str_off = off;
    t->str_len = (uint32_t)n;
}

static void lex_number(compiler *c, token *t) {
    uint64_t v = 0;
    bool too_big = false;
    while (peek_at(c, c->at) >= '0' && peek_at(c, c->at) <= '9') {
        uint64_t digit = (uint64_t)(peek_at(c, c->at) - '0');
        if (v > ((uint64_t)INT64_MAX + 1 - digit) / 10) too_big = true;
        else v = v * 10 + digit;
        c->at++;
    }
    if (too_big) {
        fail(c, JF_EXPR_ERR_SYNTAX, t->start, "integer literal is out of range (at most 9223372036854775807)");
        return;
    }
    if (is_name_char(peek_at(c, c->at)) || peek_at(c, c->at) == '.') {
        fail(c, JF_EXPR_ERR_SYNTAX, c->at, "unexpected character after number");
        return;
    }
    t->kind = T_INT;
    t->int_value = v;
}

static const struct {
    const char *word;
    token_kind kind;
} keywords[] = {{"and", T_AND}, {"or", T_OR}, {"not", T_NOT}, {"in", T_IN}, {"true", T_TRUE}, {"false", T_FALSE}};

static void lex_name(compiler *c, token *t) {
    bool dotted = false;
    for (;;) {
        while (is_name_char(peek_at(c, c->at))) c->at++;
        if (peek_at(c, c->at) != '.') break;
        if (!is_name_start(peek_at(c, c->at + 1))) {
            fail(c, JF_EXPR_ERR_SYNTAX, c->at + 1, "expected a name after '.'");
            return;
        }
        dotted = true;
        c->at++;
    }
    size_t len = c->at - t->start;
    if (len > JF_EXPR_NAME_BYTES_MAX) {
        fail(c, JF_EXPR_ERR_LIMIT, t->start, "name is longer than %d bytes", JF_EXPR_NAME_BYTES_MAX);
        return;
    }
    t->kind = T_NAME;
    for (size_t i = 0; !dotted && i < sizeof keywords / sizeof keywords[0]; i++)
        if (strlen(keywords[i].word) == len && memcmp(keywords[i].word, c->src + t->start, len) == 0)
            t->kind = keywords[i].kind;
}

/* Operators of one or two characters; '=', '!', '&&', '||' get a hint. */
static void lex_operator(compiler *c, token *t) {
    int ch = peek_at(c, c->at), next = peek_at(c, c->at + 1);
    static const char singles[] = "()[],+-*/%<>";
    static const token_kind single_kinds[] = {T_LPAREN, T_RPAREN, T_LBRACKET, T_RBRACKET, T_COMMA, T_PLUS,
                                              T_MINUS,  T_STAR,   T_SLASH,    T_PERCENT,  T_LT,    T_GT};
    if ((ch == '=' || ch == '!' || ch == '<' || ch == '>') && next == '=') {
        t->kind = ch == '=' ? T_EQ : ch == '!' ? T_NE : ch == '<' ? T_LE : T_GE;
        c->at += 2;
        return;
    }
    const char *hit = ch > 0 ? strchr(singles, ch) : NULL;
    if (hit != NULL) {
        t->kind = single_kinds[hit - singles];
        c->at++;
        return;
    }
    if (ch == '=') fail(c, JF_EXPR_ERR_SYNTAX, c->at, "unexpected '=' (write '==' to compare)");
    else if (ch == '!') fail(c, JF_EXPR_ERR_SYNTAX, c->at, "unexpected '!' (write 'not' or '!=')");
    else if (ch == '&' || ch == '|') fail(c, JF_EXPR_ERR_SYNTAX, c->at, "unexpected '%c' (write 'and' or 'or')", ch);
    else if (ch == '\'') fail(c, JF_EXPR_ERR_SYNTAX, c->at, "strings are written in double quotes");
    else if (ch >= 0x21 && ch < 0x7F) fail(c, JF_EXPR_ERR_SYNTAX, c->at, "unexpected character '%c'", ch);
    else fail(c, JF_EXPR_ERR_SYNTAX, c->at, "unexpected character");
}

static void advance(compiler *c) {
    if (c->failed) return;
    while (c->at < c->len && strchr(" \t\r\n", c->src[c->at]) != NULL && c->src[c->at] != '\0') c->at++;
    token t = {.kind = T_EOF, .start = (uint32_t)c->at};
    int ch = peek_at(c, c->at);
    if (ch < 0) t.kind = T_EOF;
    else if (ch == '"') lex_string(c, &t);
    else if (ch >= '0' && ch <= '9') lex_number(c, &t);
    else if (is_name_start(ch)) lex_name(c, &t);
    else lex_operator(c, &t);
    t.end = (uint32_t)c->at;
    c->tok = t;
}

/* "')'", "name \"foo\"", "end of condition" — for "unexpected …" messages. */
static void describe(const compiler *c, char *buf, size_t cap) {
    const token *t = &c->tok;
    int len = (int)(t->end - t->start);
    switch (t->kind) {
    case T_EOF: snprintf(buf, cap, "end of condition"); break;
    case T_INT: snprintf(buf, cap, "number %.*s", len, c->src + t->start); break;
    case T_STRING: snprintf(buf, cap, "string"); break;
    case T_NAME: snprintf(buf, cap, "name \"%.*s\"", len, c->src + t->start); break;
    default: snprintf(buf, cap, "'%.*s'", len, c->src + t->start); break;
    }
}

static bool expect(compiler *c, token_kind kind, const char *what) {
    if (c->failed) return false;
    if (c->tok.kind == kind) {
        advance(c);
        return !c->failed;
    }
    fail(c, JF_EXPR_ERR_SYNTAX, c->tok.start, "expected %s", what);
    return false;
}

/* ---- parser: one function per precedence level, lowest first ---------------- */

static jf_expr_type parse_or(compiler *c);

static bool enter(compiler *c, size_t pos) {
    if (++c->depth <= JF_EXPR_DEPTH_MAX) return true;
    fail(c, JF_EXPR_ERR_LIMIT, pos, "condition is nested more than %d levels deep", JF_EXPR_DEPTH_MAX);
    return false;
}

static bool is_bool_like(jf_expr_type t) {
    return t == JF_EXPR_BOOL || t == JF_EXPR_DYNAMIC;
}
static bool is_int_like(jf_expr_type t) {
    return t == JF_EXPR_INT || t == JF_EXPR_DYNAMIC;
}

/* `and` / `or`: left, JUMP (pops on fall-through), right, [CHECK_BOOL]. */
static jf_expr_type parse_logic(compiler *c, token_kind kind, jf_expr_type (*operand)(compiler *)) {
    const char *word = kind == T_AND ? "and" : "or";
    jf_expr_type left = operand(c);
    while (!c->failed && c->tok.kind == kind) {
        size_t pos = c->tok.start;
        if (!is_bool_like(left))
            return fail(c, JF_EXPR_ERR_TYPE, pos, "left side of '%s' is %s, expected bool", word,
                        jf_expr_type_name(left));
        uint32_t jump = c->code_count;
        emit(c, kind == T_AND ? OP_AND_JUMP : OP_OR_JUMP, 0, pos, -1);
        advance(c);
        jf_expr_type right = operand(c);
        if (c->failed) return JF_EXPR_NONE;
        if (!is_bool_like(right))
            return fail(c, JF_EXPR_ERR_TYPE, pos, "right side of '%s' is %s, expected bool", word,
                        jf_expr_type_name(right));
        if (right == JF_EXPR_DYNAMIC) emit(c, OP_CHECK_BOOL, kind == T_OR, pos, 0);
        if (c->failed) return JF_EXPR_NONE;
        c->code[jump].arg = c->code_count; /* forward: after the right side */
        left = JF_EXPR_BOOL;
    }
    return left;
}

static jf_expr_type parse_not(compiler *c);
static jf_expr_type parse_and(compiler *c) {
    return parse_logic(c, T_AND, parse_not);
}
static jf_expr_type parse_or(compiler *c) {
    return parse_logic(c, T_OR, parse_and);
}

static jf_expr_type parse_compare(compiler *c);
static jf_expr_type parse_not(compiler *c) {
    if (c->tok.kind != T_NOT) return parse_compare(c);
    size_t pos = c->tok.start;
    if (!enter(c, c->tok.start)) return JF_EXPR_NONE;
    advance(c);
    jf_expr_type t = parse_not(c);
    c->depth--;
    if (c->failed) return JF_EXPR_NONE;
    if (!is_bool_like(t)) return fail(c, JF_EXPR_ERR_TYPE, pos, "'not' needs a bool, got %s", jf_expr_type_name(t));
    emit(c, OP_NOT, 0, pos, 0);
    return JF_EXPR_BOOL;
}

static bool is_list(jf_expr_type t) {
    return t == JF_EXPR_LIST_INT || t == JF_EXPR_LIST_STRING;
}

/* Type rule of == != < <= > >=; returns false after reporting. */
static bool check_comparison(compiler *c, token_kind op, jf_expr_type a, jf_expr_type b, size_t pos) {
    bool ordering = op != T_EQ && op != T_NE;
    if (is_list(a) || is_list(b) || (a != b && a != JF_EXPR_DYNAMIC && b != JF_EXPR_DYNAMIC)) {
        fail(c, JF_EXPR_ERR_TYPE, pos, "cannot compare %s with %s", jf_expr_type_name(a), jf_expr_type_name(b));
        return false;
    }
    if (ordering && (a == JF_EXPR_BOOL || b == JF_EXPR_BOOL)) {
        fail(c, JF_EXPR_ERR_TYPE, pos, "cannot order booleans (only == and != apply)");
        return false;
    }
    return true;
}

/* Type rule of `in`: int in list<int>, string in list<string>, string in string. */
static bool check_in(compiler *c, jf_expr_type elem, jf_expr_type container, size_t pos) {
    if (container != JF_EXPR_DYNAMIC && container != JF_EXPR_LIST_INT && container != JF_EXPR_LIST_STRING &&
        container != JF_EXPR_STRING) {
        fail(c, JF_EXPR_ERR_TYPE, pos, "'in' needs a list or a string on the right, got %s",
             jf_expr_type_name(container));
        return false;
    }
    jf_expr_type want = container == JF_EXPR_LIST_INT ? JF_EXPR_INT
                        : container == JF_EXPR_DYNAMIC ? JF_EXPR_DYNAMIC
                                                       : JF_EXPR_STRING;
    bool ok = elem == JF_EXPR_DYNAMIC || elem == want ||
              (want == JF_EXPR_DYNAMIC && (elem == JF_EXPR_INT || elem == JF_EXPR_STRING));
    if (!ok) fail(c, JF_EXPR_ERR_TYPE, pos, "cannot look for %s in %s", jf_expr_type_name(elem), jf_expr_type_name(container));
    return ok;
}

static jf_expr_type parse_additive(compiler *c);
static jf_expr_type parse_compare(compiler *c) {
    static const opcode ops[] = {[T_EQ] = OP_EQ, [T_NE] = OP_NE, [T_LT] = OP_LT, [T_LE] = OP_LE,
                                 [T_GT] = OP_GT, [T_GE] = OP_GE, [T_IN] = OP_IN, [T_NOT] = OP_NOT_IN};
    jf_expr_type left = parse_additive(c);
    token_kind op = c->tok.kind;
    if (c->failed || !((op >= T_EQ && op <= T_GE) || op == T_IN || op == T_NOT)) return left;
    size_t pos = c->tok.start;
    advance(c);
    if (op == T_NOT && !expect(c, T_IN, "'in' after 'not'")) return JF_EXPR_NONE;
    jf_expr_type right = parse_additive(c);
    if (c->failed) return JF_EXPR_NONE;
    bool ok = op == T_IN || op == T_NOT ? check_in(c, left, right, pos) : check_comparison(c, op, left, right, pos);
    if (!ok) return JF_EXPR_NONE;
    emit(c, ops[op], 0, pos, -1);
    token_kind next = c->tok.kind;
    if ((next >= T_EQ && next <= T_GE) || next == T_IN)
        return fail(c, JF_EXPR_ERR_SYNTAX, c->tok.start, "comparisons cannot be chained (combine them with 'and')");
    return JF_EXPR_BOOL;
}

static jf_expr_type parse_arithmetic(compiler *c, bool additive, jf_expr_type (*operand)(compiler *)) {
    jf_expr_type left = operand(c);
    for (;;) {
        token_kind k = c->tok.kind;
        if (c->failed) return JF_EXPR_NONE;
        if (additive ? (k != T_PLUS && k != T_MINUS) : (k != T_STAR && k != T_SLASH && k != T_PERCENT)) return left;
        size_t pos = c->tok.start;
        char symbol = c->src[pos];
        advance(c);
        jf_expr_type right = operand(c);
        if (c->failed) return JF_EXPR_NONE;
        if (!is_int_like(left) || !is_int_like(right))
            return fail(c, JF_EXPR_ERR_TYPE, pos, "'%c' needs int operands, got %s and %s", symbol,
                        jf_expr_type_name(left), jf_expr_type_name(right));
        opcode op = k == T_PLUS ? OP_ADD : k == T_MINUS ? OP_SUB : k == T_STAR ? OP_MUL : k == T_SLASH ? OP_DIV : OP_MOD;
        emit(c, op, 0, pos, -1);
        left = JF_EXPR_INT;
    }
}

static jf_expr_type parse_unary(compiler *c);
static jf_expr_type parse_multiplicative(compiler *c) {
    return parse_arithmetic(c, false, parse_unary);
}
static jf_expr_type parse_additive(compiler *c) {
    return parse_arithmetic(c, true, parse_multiplicative);
}

static jf_expr_type parse_primary(compiler *c);
static jf_expr_type parse_unary(compiler *c) {
    if (c->tok.kind != T_MINUS) return parse_primary(c);
    size_t pos = c->tok.start;
    if (!enter(c, c->tok.start)) return JF_EXPR_NONE;
    advance(c);
    jf_expr_type t;
    if (c->tok.kind == T_INT) { /* a negative literal, so -9223372036854775808 is writable */
        int64_t v = c->tok.int_value == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)c->tok.int_value;
        emit(c, OP_PUSH_INT, add_int(c, v, pos), pos, 1);
        advance(c);
        t = JF_EXPR_INT;
    } else {
        t = parse_unary(c);
        if (!c->failed && !is_int_like(t))
            t = fail(c, JF_EXPR_ERR_TYPE, pos, "unary '-' needs an int, got %s", jf_expr_type_name(t));
        emit(c, OP_NEG, 0, pos, 0);
        if (t != JF_EXPR_NONE) t = JF_EXPR_INT;
    }
    c->depth--;
    return c->failed ? JF_EXPR_NONE : t;
}

/* [1, 2, -3] or ["a", "b"]: literals only, one type, 1..64 items. */
static jf_expr_type parse_list(compiler *c) {
    size_t open = c->tok.start;
    if (!enter(c, c->tok.start)) return JF_EXPR_NONE;
    advance(c);
    if (c->tok.kind == T_RBRACKET) return fail(c, JF_EXPR_ERR_SYNTAX, open, "a list needs at least one item");
    jf_expr_type elem = JF_EXPR_NONE;
    uint32_t start = 0, count = 0;
    while (!c->failed) {
        size_t pos = c->tok.start;
        bool negative = c->tok.kind == T_MINUS;
        if (negative) advance(c);
        jf_expr_type t = c->tok.kind == T_INT ? JF_EXPR_INT : c->tok.kind == T_STRING && !negative ? JF_EXPR_STRING
                                                                                                   : JF_EXPR_NONE;
        if (c->failed) break;
        if (t == JF_EXPR_NONE) return fail(c, JF_EXPR_ERR_SYNTAX, c->tok.start, "list items must be int or string literals");
        if (elem != JF_EXPR_NONE && t != elem) return fail(c, JF_EXPR_ERR_TYPE, pos, "list mixes int and string items");
        if (count == JF_EXPR_LIST_ITEMS_MAX)
            return fail(c, JF_EXPR_ERR_LIMIT, pos, "list has more than %d items", JF_EXPR_LIST_ITEMS_MAX);
        uint64_t u = c->tok.int_value;
        if (t == JF_EXPR_INT && u > (uint64_t)INT64_MAX + (negative ? 1 : 0))
            return fail(c, JF_EXPR_ERR_SYNTAX, c->tok.start, "integer literal is out of range (at most 9223372036854775807)");
        int64_t v = negative ? (u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u) : (int64_t)u;
        uint32_t index = t == JF_EXPR_INT ? add_int(c, v, pos) : add_str(c, c->tok.str_off, c->tok.str_len, pos);
        if (count++ == 0) start = index;
        elem = t;
        advance(c);
        if (c->tok.kind != T_COMMA) break;
        advance(c);
    }
    if (!expect(c, T_RBRACKET, "',' or ']'")) return JF_EXPR_NONE;
    c->depth--;
    if (!constant_room(c, open)) return JF_EXPR_NONE;
    c->lists[c->list_count] = (list_ref){start, count};
    emit(c, elem == JF_EXPR_INT ? OP_PUSH_LIST_INT : OP_PUSH_LIST_STR, c->list_count++, open, 1);
    return elem == JF_EXPR_INT ? JF_EXPR_LIST_INT : JF_EXPR_LIST_STRING;
}

/* Suggest the closest candidate within two edits: " (did you mean \"x\"?)". */
static void suggest(compiler *c, const char *name, size_t len, const char *const *candidates, size_t count) {
    const char *best = NULL;
    size_t best_distance = 3;
    for (size_t i = 0; i < count; i++) {
        size_t d = edit_distance(name, len, candidates[i], strlen(candidates[i]));
        if (d < best_distance && d < len) {
            best = candidates[i];
            best_distance = d;
        }
    }
    if (best != NULL) snprintf(c->err->hint, sizeof c->err->hint, " (did you mean \"%s\"?)", best);
}

static const function_def *find_function(const char *name, size_t len) {
    for (size_t i = 0; i < FUNCTION_COUNT; i++)
        if (strlen(functions[i].name) == len && memcmp(functions[i].name, name, len) == 0) return &functions[i];
    return NULL;
}

static jf_expr_type unknown_function(compiler *c, const char *name, size_t len, size_t pos) {
    const char *names[FUNCTION_COUNT];
    for (size_t i = 0; i < FUNCTION_COUNT; i++) names[i] = functions[i].name;
    fail(c, JF_EXPR_ERR_UNKNOWN, pos, "unknown function \"%.*s\"", (int)len, name);
    suggest(c, name, len, names, FUNCTION_COUNT);
    return JF_EXPR_NONE;
}

/* has(attributes.x): a special form, its argument is a name, not a value. */
static jf_expr_type parse_has(compiler *c, size_t pos) {
    static const char prefix[] = "attributes.";
    const token *t = &c->tok;
    size_t len = t->end - t->start;
    if (t->kind != T_NAME || len <= sizeof prefix - 1 || memcmp(c->src + t->start, prefix, sizeof prefix - 1) != 0)
        return fail(c, JF_EXPR_ERR_TYPE, t->start, "has() takes an attribute: has(attributes.<name>)");
    uint32_t name = add_name(c, c->src + t->start + sizeof prefix - 1, len - (sizeof prefix - 1), t->start);
    advance(c);
    if (!expect(c, T_RPAREN, "')'")) return JF_EXPR_NONE;
    emit(c, OP_HAS_ATTR, name, pos, 1);
    return JF_EXPR_BOOL;
}

static bool check_argument(compiler *c, const function_def *f, jf_expr_type t, size_t pos) {
    bool ok = f->op == OP_LEN ? (t == JF_EXPR_STRING || is_list(t) || t == JF_EXPR_DYNAMIC) : is_int_like(t);
    if (!ok)
        fail(c, JF_EXPR_ERR_TYPE, pos, "%s() needs %s arguments, got %s", f->name,
             f->op == OP_LEN ? "string or list" : "int", jf_expr_type_name(t));
    return ok;
}

/* name(args…): arity and argument types are checked here, at compile time. */
static jf_expr_type parse_call(compiler *c, const char *name, size_t len, size_t pos) {
    const function_def *f = find_function(name, len);
    if (f == NULL) return unknown_function(c, name, len, pos);
    if (!enter(c, pos)) return JF_EXPR_NONE;
    advance(c); /* '(' */
    if (f->op == OP_HAS_ATTR) {
        jf_expr_type t = parse_has(c, pos);
        c->depth--;
        return t;
    }
    uint32_t count = 0;
    while (!c->failed && c->tok.kind != T_RPAREN) {
        size_t arg_pos = c->tok.start;
        if (count == f->args_max)
            return fail(c, JF_EXPR_ERR_ARITY, arg_pos, "%s() takes at most %u argument%s", f->name,
                        (unsigned)f->args_max, f->args_max == 1 ? "" : "s");
        jf_expr_type t = parse_or(c);
        if (c->failed || !check_argument(c, f, t, arg_pos)) return JF_EXPR_NONE;
        count++;
        if ((f->op == OP_MIN || f->op == OP_MAX) && count >= 2) emit(c, f->op, 0, pos, -1); /* fold pairwise */
        if (c->tok.kind != T_COMMA) break;
        advance(c);
    }
    if (!expect(c, T_RPAREN, "',' or ')'")) return JF_EXPR_NONE;
    c->depth--;
    if (count < f->args_min) {
        if (f->args_min == f->args_max)
            return fail(c, JF_EXPR_ERR_ARITY, pos, "%s() takes %u argument%s, got %u", f->name, (unsigned)f->args_min,
                        f->args_min == 1 ? "" : "s", (unsigned)count);
        return fail(c, JF_EXPR_ERR_ARITY, pos, "%s() takes at least %u arguments, got %u", f->name,
                    (unsigned)f->args_min, (unsigned)count);
    }
    if (f->op == OP_FLOOR) emit(c, OP_FLOOR, 0, pos, -1);
    else if (f->op == OP_LEN) emit(c, OP_LEN, 0, pos, 0);
    else if (f->op != OP_MIN && f->op != OP_MAX) {
        c->uses_time = true;
        emit(c, f->op, 0, pos, 1);
    }
    return f->result;
}

/* A field of the schema or attributes.<name>. */
static jf_expr_type parse_field(compiler *c, const char *name, size_t len, size_t pos) {
    static const char prefix[] = "attributes.";
    if (len > sizeof prefix - 1 && memcmp(name, prefix, sizeof prefix - 1) == 0) {
        emit(c, OP_ATTR, add_name(c, name + sizeof prefix - 1, len - (sizeof prefix - 1), pos), pos, 1);
        return JF_EXPR_DYNAMIC;
    }
    const jf_expr_schema *s = c->schema;
    for (size_t slot = 0; slot < s->count; slot++) {
        if (strlen(s->fields[slot].name) != len || memcmp(s->fields[slot].name, name, len) != 0) continue;
        uint32_t name_index = add_name(c, name, len, pos);
        emit(c, OP_FIELD, (uint32_t)slot | name_index << 8, pos, 1);
        return s->fields[slot].type;
    }
    if (find_function(name, len) != NULL)
        return fail(c, JF_EXPR_ERR_SYNTAX, pos, "%.*s is a function: write %.*s()", (int)len, name, (int)len, name);
    if (len == sizeof prefix - 2 && memcmp(name, prefix, len) == 0)
        return fail(c, JF_EXPR_ERR_SYNTAX, pos, "write attributes.<name> to read an event attribute");
    fail(c, JF_EXPR_ERR_UNKNOWN, pos, "unknown field \"%.*s\"", (int)len, name);
    const char *names[JF_EXPR_SCHEMA_FIELDS_MAX];
    for (size_t i = 0; i < s->count; i++) names[i] = s->fields[i].name;
    suggest(c, name, len, names, s->count);
    return JF_EXPR_NONE;
}

static jf_expr_type parse_primary(compiler *c) {
    token t = c->tok;
    size_t pos = t.start;
    switch (t.kind) {
    case T_INT:
        if (t.int_value > (uint64_t)INT64_MAX)
            return fail(c, JF_EXPR_ERR_SYNTAX, pos, "integer literal is out of range (at most 9223372036854775807)");
        emit(c, OP_PUSH_INT, add_int(c, (int64_t)t.int_value, pos), pos, 1);
        advance(c);
        return JF_EXPR_INT;
    case T_STRING:
        emit(c, OP_PUSH_STR, add_str(c, t.str_off, t.str_len, pos), pos, 1);
        advance(c);
        return JF_EXPR_STRING;
    case T_TRUE:
    case T_FALSE:
        emit(c, OP_PUSH_BOOL, t.kind == T_TRUE, pos, 1);
        advance(c);
        return JF_EXPR_BOOL;
    case T_LBRACKET: return parse_list(c);
    case T_LPAREN: {
        if (!enter(c, c->tok.start)) return JF_EXPR_NONE;
        advance(c);
        jf_expr_type inner = parse_or(c);
        if (!expect(c, T_RPAREN, "')'")) return JF_EXPR_NONE;
        c->depth--;
        return inner;
    }
    case T_NAME:
        advance(c);
        if (c->failed) return JF_EXPR_NONE;
        if (c->tok.kind == T_LPAREN) return parse_call(c, c->src + pos, t.end - t.start, pos);
        return parse_field(c, c->src + pos, t.end - t.start, pos);
    default: {
        char what[96];
        describe(c, what, sizeof what);
        return fail(c, JF_EXPR_ERR_SYNTAX, pos, "expected a value, found %s", what);
    }
    }
}

/* ---- compile: parse, then copy into one exactly-sized allocation ---------- */

static void check_schema(const jf_expr_schema *s) {
    assert(s != NULL);
    assert(s->count <= JF_EXPR_SCHEMA_FIELDS_MAX);
    for (size_t i = 0; i < s->count; i++) {
        const jf_expr_field *f = &s->fields[i];
        assert(f->name != NULL);
        assert(strlen(f->name) >= 1 && strlen(f->name) <= JF_EXPR_NAME_BYTES_MAX);
        assert(strncmp(f->name, "attributes.", 11) != 0);
        assert(f->type >= JF_EXPR_INT && f->type <= JF_EXPR_LIST_STRING);
        (void)f;
    }
}

static size_t align8(size_t n) {
    return (n + 7) & ~(size_t)7;
}

static jf_expr_program *build_program(const compiler *c) {
    size_t at = align8(sizeof(jf_expr_program));
    size_t ints_at = at;
    at = align8(at + c->int_count * sizeof(int64_t));
    size_t strs_at = at;
    at = align8(at + c->str_count * sizeof(jf_expr_str));
    size_t code_at = at;
    at = align8(at + c->code_count * sizeof(insn));
    size_t lists_at = at;
    at += c->list_count * sizeof(list_ref);
    size_t types_at = at;
    at += c->schema->count;
    size_t source_at = at;
    at += c->len + 1;
    size_t bytes_at = at;
    at += c->bytes_len;
    char *block = calloc(1, at);
    if (block == NULL) abort();
    jf_expr_program *p = (jf_expr_program *)block;
    int64_t *ints = (int64_t *)(block + ints_at);
    jf_expr_str *strs = (jf_expr_str *)(block + strs_at);
    uint8_t *types = (uint8_t *)(block + types_at);
    char *bytes = block + bytes_at;
    memcpy(ints, c->ints, c->int_count * sizeof(int64_t));
    memcpy(bytes, c->bytes, c->bytes_len);
    for (uint32_t i = 0; i < c->str_count; i++) strs[i] = (jf_expr_str){bytes + c->strs[i].off, c->strs[i].len};
    memcpy(block + code_at, c->code, c->code_count * sizeof(insn));
    memcpy(block + lists_at, c->lists, c->list_count * sizeof(list_ref));
    for (size_t i = 0; i < c->schema->count; i++) types[i] = (uint8_t)c->schema->fields[i].type;
    memcpy(block + source_at, c->src, c->len);
    *p = (jf_expr_program){.insn_count = c->code_count, .field_count = (uint32_t)c->schema->count,
                           .source_len = (uint32_t)c->len, .uses_time = c->uses_time,
                           .code = (const insn *)(block + code_at), .ints = ints, .strs = strs,
                           .lists = (const list_ref *)(block + lists_at), .field_types = types,
                           .source = block + source_at};
    return p;
}

/* Invariants of a finished program: jumps go forward and stay inside it. */
static void check_program(const compiler *c) {
    for (uint32_t i = 0; i < c->code_count; i++) {
        const insn *in = &c->code[i];
        if (in->op == OP_AND_JUMP || in->op == OP_OR_JUMP) {
            assert(in->arg > i);
            assert(in->arg <= c->code_count);
        }
        assert(in->pos <= c->len);
    }
    assert(c->stack == 1);
    assert(c->stack_max <= JF_EXPR_STACK_MAX);
    assert(c->depth == 0);
}

static void compile_into(compiler *c) {
    if (c->len > JF_EXPR_SOURCE_BYTES_MAX) {
        fail(c, JF_EXPR_ERR_LIMIT, 0, "condition is %zu bytes, at most %d", c->len, JF_EXPR_SOURCE_BYTES_MAX);
        return;
    }
    advance(c);
    if (c->failed) return;
    if (c->tok.kind == T_EOF) {
        fail(c, JF_EXPR_ERR_SYNTAX, c->tok.start, "empty condition");
        return;
    }
    jf_expr_type t = parse_or(c);
    if (c->failed) return;
    if (c->tok.kind != T_EOF) {
        char what[96];
        describe(c, what, sizeof what);
        fail(c, JF_EXPR_ERR_SYNTAX, c->tok.start, "unexpected %s", what);
        return;
    }
    if (!is_bool_like(t)) fail(c, JF_EXPR_ERR_TYPE, 0, "a condition must be a bool, this one is %s", jf_expr_type_name(t));
}

bool jf_expr_compile(const char *source, size_t len, const jf_expr_schema *schema, jf_expr_program **out,
                     jf_expr_error *err) {
    assert(source != NULL || len == 0);
    assert(out != NULL);
    assert(err != NULL);
    check_schema(schema);
    *out = NULL;
    memset(err, 0, sizeof *err);
    compiler *c = calloc(1, sizeof *c); /* ~20 KiB of scratch: not on the caller's stack */
    if (c == NULL) abort();
    c->src = source != NULL ? source : "";
    c->len = len;
    c->schema = schema;
    c->err = err;
    compile_into(c);
    if (!c->failed) {
        check_program(c);
        *out = build_program(c);
    }
    bool ok = !c->failed;
    free(c);
    return ok;
}

void jf_expr_free(jf_expr_program *program) {
    free(program);
}

const char *jf_expr_source(const jf_expr_program *program, size_t *len) {
    assert(program != NULL);
    if (len != NULL) *len = program->source_len;
    return program->source;
}

size_t jf_expr_insn_count(const jf_expr_program *program) {
    assert(program != NULL);
    return program->insn_count;
}

bool jf_expr_uses_time(const jf_expr_program *program) {
    assert(program != NULL);
    return program->uses_time;
}

/* ---- evaluation ------------------------------------------------------------ */

/* Stack slots are written field by field, never through a temporary struct:
 * a whole-struct copy of a value just built costs a store-forwarding stall
 * on every instruction (measured: 2x slower evaluation). */
static inline void set_int(jf_expr_value *v, int64_t i) {
    v->type = JF_EXPR_INT;
    v->as.i = i;
}
static inline void set_bool(jf_expr_value *v, bool b) {
    v->type = JF_EXPR_BOOL;
    v->as.b = b;
}
static inline void set_string(jf_expr_value *v, const char *ptr, size_t len) {
    v->type = JF_EXPR_STRING;
    v->as.s.ptr = ptr;
    v->as.s.len = len;
}

static const char *op_symbol(opcode op) {
    static const char *const symbols[] = {
        [OP_NEG] = "-",     [OP_ADD] = "+",     [OP_SUB] = "-",     [OP_MUL] = "*",        [OP_DIV] = "/",
        [OP_MOD] = "%",     [OP_EQ] = "==",     [OP_NE] = "!=",     [OP_LT] = "<",         [OP_LE] = "<=",
        [OP_GT] = ">",      [OP_GE] = ">=",     [OP_IN] = "in",     [OP_NOT_IN] = "not in", [OP_NOT] = "not",
        [OP_AND_JUMP] = "and", [OP_OR_JUMP] = "or", [OP_FLOOR] = "floor()",
        [OP_MIN] = "min()", [OP_MAX] = "max()", [OP_LEN] = "len()",
    };
    return (size_t)op < sizeof symbols / sizeof symbols[0] && symbols[op] != NULL ? symbols[op] : "?";
}

__attribute__((cold, format(printf, 5, 6))) static bool eval_fail(const jf_expr_program *p, jf_expr_error *err,
                                                                  size_t offset, jf_expr_error_kind kind,
                                                                  const char *fmt, ...) {
    if (err == NULL) return false;
    va_list ap;
    va_start(ap, fmt);
    error_set(err, kind, p->source, p->source_len, offset, fmt, ap);
    va_end(ap);
    return false;
}

__attribute__((cold)) static bool type_fail(const jf_expr_program *p, jf_expr_error *err, const insn *in,
                                            const jf_expr_value *a, const jf_expr_value *b) {
    opcode op = (opcode)in->op;
    const char *sa = jf_expr_type_name(a->type), *sb = b ? jf_expr_type_name(b->type) : "";
    if (op >= OP_EQ && op <= OP_GE) return eval_fail(p, err, in->pos, JF_EXPR_ERR_TYPE, "cannot compare %s with %s", sa, sb);
    if (op == OP_IN || op == OP_NOT_IN)
        return eval_fail(p, err, in->pos, JF_EXPR_ERR_TYPE, "cannot look for %s in %s", sa, sb);
    if (op == OP_NEG) return eval_fail(p, err, in->pos, JF_EXPR_ERR_TYPE, "unary '-' needs an int, got %s", sa);
    if (op == OP_LEN) return eval_fail(p, err, in->pos, JF_EXPR_ERR_TYPE, "len() needs a string or list, got %s", sa);
    if (op == OP_CHECK_BOOL) op = in->arg ? OP_OR_JUMP : OP_AND_JUMP;
    if (b == NULL) return eval_fail(p, err, in->pos, JF_EXPR_ERR_TYPE, "'%s' needs a bool, got %s", op_symbol(op), sa);
    return eval_fail(p, err, in->pos, JF_EXPR_ERR_TYPE, "'%s' needs int operands, got %s and %s", op_symbol(op), sa, sb);
}

/* Integer binary operators: a = a op b.  Returns false on error. */
static inline bool eval_int2(const jf_expr_program *p, const insn *in, jf_expr_value *a, const jf_expr_value *b,
                             jf_expr_error *err) {
    if (a->type != JF_EXPR_INT || b->type != JF_EXPR_INT) return type_fail(p, err, in, a, b);
    int64_t x = a->as.i, y = b->as.i, r;
    bool overflow = false;
    switch ((opcode)in->op) {
    case OP_ADD: overflow = __builtin_add_overflow(x, y, &r); break;
    case OP_SUB: overflow = __builtin_sub_overflow(x, y, &r); break;
    case OP_MUL: overflow = __builtin_mul_overflow(x, y, &r); break;
    case OP_DIV:
    case OP_MOD:
    case OP_FLOOR:
        if (y == 0) return eval_fail(p, err, in->pos, JF_EXPR_ERR_DIVISION, "division by zero in '%s'", op_symbol(in->op));
        if (y == -1) { /* INT64_MIN / -1 overflows; x % -1 is 0 */
            overflow = in->op != OP_MOD && x == INT64_MIN;
            r = in->op == OP_MOD || overflow ? 0 : -x;
            break;
        }
        r = in->op == OP_MOD ? x % y : x / y; /* C: truncation toward zero */
        if (in->op == OP_FLOOR && x % y != 0 && ((x < 0) != (y < 0))) r--;
        break;
    case OP_MIN: r = x < y ? x : y; break;
    case OP_MAX: r = x > y ? x : y; break;
    default: assert(!"not an int operator"); r = 0;
    }
    if (overflow) return eval_fail(p, err, in->pos, JF_EXPR_ERR_OVERFLOW, "integer overflow in '%s'", op_symbol(in->op));
    a->as.i = r;
    return true;
}

static inline int compare_bytes(jf_expr_str a, jf_expr_str b) {
    size_t n = a.len < b.len ? a.len : b.len;
    int d = n > 0 ? memcmp(a.ptr, b.ptr, n) : 0;
    if (d != 0) return d;
    return (a.len > b.len) - (a.len < b.len);
}

/* == != < <= > >=: a = bool(a op b). */
static inline bool eval_compare(const jf_expr_program *p, const insn *in, jf_expr_value *a, const jf_expr_value *b,
                                jf_expr_error *err) {
    int d;
    if (a->type != b->type) return type_fail(p, err, in, a, b);
    if (a->type == JF_EXPR_INT) d = (a->as.i > b->as.i) - (a->as.i < b->as.i);
    else if (a->type == JF_EXPR_STRING) d = compare_bytes(a->as.s, b->as.s);
    else if (a->type == JF_EXPR_BOOL && (in->op == OP_EQ || in->op == OP_NE)) d = a->as.b != b->as.b;
    else if (a->type == JF_EXPR_BOOL)
        return eval_fail(p, err, in->pos, JF_EXPR_ERR_TYPE, "cannot order booleans (only == and != apply)");
    else return type_fail(p, err, in, a, b);
    bool r;
    switch ((opcode)in->op) {
    case OP_EQ: r = d == 0; break;
    case OP_NE: r = d != 0; break;
    case OP_LT: r = d < 0; break;
    case OP_LE: r = d <= 0; break;
    case OP_GT: r = d > 0; break;
    default: r = d >= 0; break;
    }
    set_bool(a, r);
    return true;
}

/* a in b (element of a list, or substring of a string): a = bool. */
static inline bool eval_in(const jf_expr_program *p, const insn *in, jf_expr_value *a, const jf_expr_value *b,
                           jf_expr_error *err) {
    bool found = false;
    if (b->type == JF_EXPR_LIST_INT && a->type == JF_EXPR_INT) {
        for (size_t i = 0; i < b->as.ints.count && !found; i++) found = b->as.ints.items[i] == a->as.i;
    } else if (b->type == JF_EXPR_LIST_STRING && a->type == JF_EXPR_STRING) {
        for (size_t i = 0; i < b->as.strs.count && !found; i++) found = compare_bytes(b->as.strs.items[i], a->as.s) == 0;
    } else if (b->type == JF_EXPR_STRING && a->type == JF_EXPR_STRING) {
        found = a->as.s.len == 0 ||
                (a->as.s.len <= b->as.s.len && memmem(b->as.s.ptr, b->as.s.len, a->as.s.ptr, a->as.s.len) != NULL);
    } else if (is_list(b->type) && (b->type == JF_EXPR_LIST_INT ? b->as.ints.count : b->as.strs.count) == 0 &&
               (a->type == JF_EXPR_INT || a->type == JF_EXPR_STRING)) {
        found = false; /* an empty list (an event's attribute) contains nothing, whatever its item type */
    } else {
        return type_fail(p, err, in, a, b);
    }
    set_bool(a, found != (in->op == OP_NOT_IN));
    return true;
}

static bool eval_field(const jf_expr_program *p, const jf_expr_env *env, const insn *in, jf_expr_value *out,
                       jf_expr_error *err) {
    uint32_t slot = in->arg & 0xFF;
    assert(slot < p->field_count);
    *out = env->fields[slot];
    if (__builtin_expect(out->type == p->field_types[slot], 1)) return true;
    jf_expr_str name = p->strs[in->arg >> 8];
    if (out->type == JF_EXPR_NONE)
        return eval_fail(p, err, in->pos, JF_EXPR_ERR_MISSING, "field \"%.*s\" has no value", (int)name.len, name.ptr);
    return eval_fail(p, err, in->pos, JF_EXPR_ERR_TYPE, "field \"%.*s\" is %s, expected %s", (int)name.len, name.ptr,
                     jf_expr_type_name(out->type), jf_expr_type_name((jf_expr_type)p->field_types[slot]));
}

/* attributes.<name> (or has(attributes.<name>): out = bool presence). */
static bool eval_attribute(const jf_expr_program *p, const jf_expr_env *env, const insn *in, jf_expr_value *out,
                           jf_expr_error *err) {
    jf_expr_str name = p->strs[in->arg];
    jf_expr_value v = {.type = JF_EXPR_NONE};
    bool present = env->attribute != NULL && env->attribute(env->attribute_ctx, name.ptr, name.len, &v) &&
                   v.type != JF_EXPR_NONE;
    if (in->op == OP_HAS_ATTR) {
        set_bool(out, present);
        return true;
    }
    if (!present)
        return eval_fail(p, err, in->pos, JF_EXPR_ERR_MISSING, "attribute \"%.*s\" is missing", (int)name.len, name.ptr);
    if (v.type < JF_EXPR_INT || v.type > JF_EXPR_LIST_STRING)
        return eval_fail(p, err, in->pos, JF_EXPR_ERR_TYPE, "attribute \"%.*s\" has no valid type", (int)name.len,
                         name.ptr);
    *out = v;
    return true;
}

static void format_date(const jf_civil *t, char out[11]) {
    int32_t parts[3] = {t->year, t->month, t->day};
    int widths[3] = {4, 2, 2};
    size_t at = 0;
    for (int i = 0; i < 3; i++) {
        int32_t v = parts[i];
        for (int w = widths[i] - 1; w >= 0; w--) {
            out[at + (size_t)w] = (char)('0' + v % 10);
            v /= 10;
        }
        at += (size_t)widths[i];
        if (i < 2) out[at++] = '-';
    }
    out[at] = '\0';
}

/* weekday() hour() day() month() year() date(): from the civil time. */
static bool eval_time(const jf_expr_program *p, const jf_expr_env *env, const insn *in, jf_expr_value *out,
                      char date_text[11], jf_expr_error *err) {
    const jf_civil *t = env->civil;
    if (t == NULL) return eval_fail(p, err, in->pos, JF_EXPR_ERR_MISSING, "the event time is unknown");
    switch ((opcode)in->op) {
    case OP_WEEKDAY: set_int(out, t->weekday); return true;
    case OP_HOUR: set_int(out, t->hour); return true;
    case OP_DAY: set_int(out, t->day); return true;
    case OP_MONTH: set_int(out, t->month); return true;
    case OP_YEAR: set_int(out, t->year); return true;
    default: break;
    }
    assert(in->op == OP_DATE);
    if (t->year < 0 || t->year > 9999 || t->month < 1 || t->month > 12 || t->day < 1 || t->day > 31)
        return eval_fail(p, err, in->pos, JF_EXPR_ERR_MISSING, "the event date is out of range");
    format_date(t, date_text);
    set_string(out, date_text, 10);
    return true;
}

static bool eval_len(const jf_expr_program *p, const insn *in, jf_expr_value *a, jf_expr_error *err) {
    int64_t n;
    if (a->type == JF_EXPR_STRING) { /* characters: bytes that are not UTF-8 continuation bytes */
        n = 0;
        for (size_t i = 0; i < a->as.s.len; i++) n += ((unsigned char)a->as.s.ptr[i] & 0xC0) != 0x80;
    } else if (a->type == JF_EXPR_LIST_INT) {
        n = (int64_t)a->as.ints.count;
    } else if (a->type == JF_EXPR_LIST_STRING) {
        n = (int64_t)a->as.strs.count;
    } else {
        return type_fail(p, err, in, a, NULL);
    }
    set_int(a, n);
    return true;
}

static inline void eval_constant(const jf_expr_program *p, const insn *in, jf_expr_value *out) {
    switch ((opcode)in->op) {
    case OP_PUSH_INT: set_int(out, p->ints[in->arg]); break;
    case OP_PUSH_STR: set_string(out, p->strs[in->arg].ptr, p->strs[in->arg].len); break;
    case OP_PUSH_BOOL: set_bool(out, in->arg != 0); break;
    case OP_PUSH_LIST_INT:
        out->type = JF_EXPR_LIST_INT;
        out->as.ints.items = p->ints + p->lists[in->arg].start;
        out->as.ints.count = p->lists[in->arg].count;
        break;
    default:
        assert(in->op == OP_PUSH_LIST_STR);
        out->type = JF_EXPR_LIST_STRING;
        out->as.strs.items = p->strs + p->lists[in->arg].start;
        out->as.strs.count = p->lists[in->arg].count;
        break;
    }
}

/* - not len() and the bool check of and/or's right side, on the top value. */
static inline bool eval_unary(const jf_expr_program *p, const insn *in, jf_expr_value *a, jf_expr_error *err) {
    switch ((opcode)in->op) {
    case OP_NEG:
        if (a->type != JF_EXPR_INT) return type_fail(p, err, in, a, NULL);
        if (a->as.i == INT64_MIN) return eval_fail(p, err, in->pos, JF_EXPR_ERR_OVERFLOW, "integer overflow in '-'");
        a->as.i = -a->as.i;
        return true;
    case OP_LEN: return eval_len(p, in, a, err);
    case OP_NOT:
        if (a->type != JF_EXPR_BOOL) return type_fail(p, err, in, a, NULL);
        a->as.b = !a->as.b;
        return true;
    default:
        assert(in->op == OP_CHECK_BOOL);
        return a->type == JF_EXPR_BOOL || type_fail(p, err, in, a, NULL);
    }
}

/* Jumps only go forward (check_program), so the loop runs at most
 * insn_count steps: pc strictly increases. */
bool jf_expr_eval(const jf_expr_program *p, const jf_expr_env *env, bool *result, jf_expr_error *err) {
    assert(p != NULL);
    assert(env != NULL);
    assert(result != NULL);
    assert(env->field_count == p->field_count);
    assert(env->fields != NULL || env->field_count == 0);
    jf_expr_value stack[JF_EXPR_STACK_MAX];
    char date_text[11];
    size_t sp = 0; /* values on the stack; the compiler proved sp <= JF_EXPR_STACK_MAX */
    *result = false;
    if (err != NULL) err->kind = JF_EXPR_OK;
    for (uint32_t pc = 0; pc < p->insn_count; pc++) {
        const insn *in = &p->code[pc];
        jf_expr_value *a = &stack[sp - (sp > 0)], *b = a; /* binary ops: a = stack[sp-2], b = stack[sp-1] */
        if (sp >= 2) a = &stack[sp - 2];
        bool ok = true;
        switch ((opcode)in->op) {
        case OP_PUSH_INT:
        case OP_PUSH_STR:
        case OP_PUSH_BOOL:
        case OP_PUSH_LIST_INT:
        case OP_PUSH_LIST_STR: eval_constant(p, in, &stack[sp++]); break;
        case OP_FIELD: ok = eval_field(p, env, in, &stack[sp++], err); break;
        case OP_ATTR:
        case OP_HAS_ATTR: ok = eval_attribute(p, env, in, &stack[sp++], err); break;
        case OP_WEEKDAY:
        case OP_HOUR:
        case OP_DAY:
        case OP_MONTH:
        case OP_YEAR:
        case OP_DATE: ok = eval_time(p, env, in, &stack[sp++], date_text, err); break;
        case OP_NEG:
        case OP_LEN:
        case OP_NOT:
        case OP_CHECK_BOOL: ok = eval_unary(p, in, b, err); break;
        case OP_AND_JUMP:
        case OP_OR_JUMP:
            if (b->type != JF_EXPR_BOOL) {
                ok = type_fail(p, err, in, b, NULL);
            } else if (b->as.b == (in->op == OP_OR_JUMP)) {
                assert(in->arg > pc);
                pc = in->arg - 1; /* decided: keep the value, skip the right side */
            } else {
                sp--;
            }
            break;
        case OP_ADD:
        case OP_SUB:
        case OP_MUL:
        case OP_DIV:
        case OP_MOD:
        case OP_FLOOR:
        case OP_MIN:
        case OP_MAX: ok = eval_int2(p, in, a, b, err), sp--; break;
        case OP_EQ:
        case OP_NE:
        case OP_LT:
        case OP_LE:
        case OP_GT:
        case OP_GE: ok = eval_compare(p, in, a, b, err), sp--; break;
        case OP_IN:
        case OP_NOT_IN: ok = eval_in(p, in, a, b, err), sp--; break;
        }
        if (!ok) return false;
        assert(sp <= JF_EXPR_STACK_MAX);
    }
    assert(sp == 1);
    if (stack[0].type != JF_EXPR_BOOL)
        return eval_fail(p, err, 0, JF_EXPR_ERR_TYPE, "the condition is %s, expected bool",
                         jf_expr_type_name(stack[0].type));
    *result = stack[0].as.b;
    return true;
}
