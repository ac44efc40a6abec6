/*
 * fuzz_expr.c — libFuzzer harness for the rule condition language.
 *
 * The input bytes are the condition's source.  If it compiles, it is
 * evaluated against field values, attributes and a civil time derived from a
 * hash of the input (so the fuzzer explores them as it mutates the text), and
 * against a fully-populated event.  Invariants checked, beyond "no crash, no
 * sanitizer report":
 *   - compile succeeds iff it returns a program; errors have a kind, a
 *     message and a position inside the source;
 *   - a program is within the bounds of expr.h and keeps an exact copy of its
 *     source; recompiling that copy gives the same program size;
 *   - evaluation either succeeds (kind OK) or fails cleanly with an
 *     evaluation error kind, a message and result == false; it is
 *     deterministic;
 *   - the type checker is sound: a program that uses no attributes, run with
 *     every field present and correctly typed and a valid civil time, can
 *     only fail with overflow or division by zero.
 *
 *   make build/fuzz-expr && build/fuzz-expr tests/fuzz/corpus/expr
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz_expr: invariant failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                  \
        }                                                                             \
    } while (0)

static uint64_t mix(uint64_t x) { /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t hash_bytes(const uint8_t *data, size_t size) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ULL;
    return mix(h);
}

static const int64_t interesting_ints[] = {0, 1, -1, 2, 6, 7, 100, 12800, INT64_MAX, INT64_MIN, INT64_MAX - 1,
                                           INT64_MIN + 1, 4611686018427387904LL, -4611686018427387904LL};
static const jf_expr_str interesting_strs[] = {{"", 0},          {"miniapp", 7}, {"gold", 4},
                                               {"生鲜", 6},      {"vip", 3},     {"2026-11-11", 10},
                                               {"a\0b", 3},      {"\xff\xfe", 2}, {"order.paid", 10}};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    uint64_t seed;
    const uint8_t *data;
    size_t size;
    int64_t ints[4];
    jf_expr_str strs[4];
} world;

static int64_t pick_int(uint64_t r) {
    if (r & 1) return interesting_ints[(r >> 1) % COUNT(interesting_ints)];
    return (int64_t)(r >> 8) - (int64_t)(1ULL << 40);
}

/* A string: one of the pool, or a slice of the input (likely to match its literals). */
static jf_expr_str pick_str(const world *w, uint64_t r) {
    if ((r & 3) != 0 || w->size == 0) return interesting_strs[(r >> 2) % COUNT(interesting_strs)];
    size_t start = (size_t)((r >> 8) % w->size);
    size_t len = (size_t)((r >> 32) % (w->size - start + 1));
    if (len > 16) len = 16;
    return (jf_expr_str){(const char *)w->data + start, len};
}

static jf_expr_value pick_value(const world *w, uint64_t r, jf_expr_type type) {
    switch (type) {
    case JF_EXPR_INT: return jf_expr_int(pick_int(r >> 3));
    case JF_EXPR_STRING: return jf_expr_string(pick_str(w, r >> 3).ptr, pick_str(w, r >> 3).len);
    case JF_EXPR_BOOL: return jf_expr_bool((r >> 3) & 1);
    case JF_EXPR_LIST_INT: return jf_expr_list_int(w->ints, (size_t)((r >> 3) % 5));
    case JF_EXPR_LIST_STRING: return jf_expr_list_string(w->strs, (size_t)((r >> 3) % 5));
    default: return (jf_expr_value){.type = JF_EXPR_NONE};
    }
}

/* Attributes: the type and value follow from the name and the seed; some are missing. */
static bool attribute(void *ctx, const char *name, size_t len, jf_expr_value *out) {
    const world *w = ctx;
    uint64_t r = mix(hash_bytes((const uint8_t *)name, len) ^ w->seed);
    static const jf_expr_type types[] = {JF_EXPR_NONE,     JF_EXPR_INT,         JF_EXPR_STRING, JF_EXPR_BOOL,
                                         JF_EXPR_LIST_INT, JF_EXPR_LIST_STRING, JF_EXPR_INT,    JF_EXPR_BOOL};
    jf_expr_type t = types[r % COUNT(types)];
    if (t == JF_EXPR_NONE) return (r >> 3) & 1 ? false : (*out = (jf_expr_value){.type = JF_EXPR_NONE}, true);
    *out = pick_value(w, r >> 3, t);
    return true;
}

static void check_error(const jf_expr_error *e, size_t size, bool compile) {
    CHECK(e->kind != JF_EXPR_OK);
    if (compile) CHECK(e->kind >= JF_EXPR_ERR_SYNTAX && e->kind <= JF_EXPR_ERR_LIMIT);
    else
        CHECK(e->kind == JF_EXPR_ERR_TYPE || e->kind == JF_EXPR_ERR_OVERFLOW || e->kind == JF_EXPR_ERR_DIVISION ||
              e->kind == JF_EXPR_ERR_MISSING);
    CHECK(e->pos.offset <= size);
    CHECK(e->pos.line >= 1 && e->pos.column >= 1);
    CHECK(e->pos.column <= e->pos.offset + 1);
    CHECK(memchr(e->message, '\0', sizeof e->message) != NULL && e->message[0] != '\0');
    CHECK(memchr(e->hint, '\0', sizeof e->hint) != NULL);
    char text[512];
    jf_expr_error_format(e, text, sizeof text);
    CHECK(strstr(text, " at ") != NULL);
}

static void evaluate(const jf_expr_program *p, const jf_expr_env *env, size_t size, bool sound) {
    bool result = true, again = true;
    jf_expr_error e, e2;
    bool ok = jf_expr_eval(p, env, &result, &e);
    if (ok) {
        CHECK(e.kind == JF_EXPR_OK);
    } else {
        CHECK(!result);
        check_error(&e, size, false);
        if (sound) CHECK(e.kind == JF_EXPR_ERR_OVERFLOW || e.kind == JF_EXPR_ERR_DIVISION);
    }
    CHECK(jf_expr_eval(p, env, &again, &e2) == ok); /* deterministic */
    CHECK(again == result);
    CHECK(e2.kind == e.kind);
}

static bool uses_attributes(const uint8_t *data, size_t size) {
    static const char word[] = "attributes";
    return size >= sizeof word - 1 && memmem(data, size, word, sizeof word - 1) != NULL;
}

static void run_program(const jf_expr_program *p, const uint8_t *data, size_t size) {
    const jf_expr_schema *schema = jf_expr_event_schema();
    world w = {.seed = hash_bytes(data, size), .data = data, .size = size};
    for (int i = 0; i < 4; i++) {
        w.ints[i] = pick_int(mix(w.seed + (uint64_t)i));
        w.strs[i] = pick_str(&w, mix(w.seed ^ (uint64_t)(i + 100)));
    }
    jf_expr_value fields[JF_EXPR_EVENT_FIELD_COUNT];
    for (size_t i = 0; i < schema->count; i++) {
        uint64_t r = mix(w.seed ^ (i * 0x9e3779b97f4a7c15ULL));
        /* mostly the schema's type; sometimes missing or wrongly typed */
        jf_expr_type t = r % 16 == 0 ? JF_EXPR_NONE : r % 16 == 1 ? (jf_expr_type)(1 + (r >> 4) % 5) : schema->fields[i].type;
        fields[i] = pick_value(&w, r >> 5, t);
    }
    uint64_t r = mix(w.seed + 77);
    jf_civil civil = {.year = (int32_t)(1970 + r % 200), .month = (int32_t)(1 + (r >> 8) % 12),
                      .day = (int32_t)(1 + (r >> 12) % 31), .hour = (int32_t)((r >> 20) % 24),
                      .minute = (int32_t)((r >> 28) % 60), .weekday = (int32_t)(1 + (r >> 36) % 7)};
    jf_expr_env env = {fields, schema->count, attribute, &w, (r >> 40) % 8 == 0 ? NULL : &civil};
    evaluate(p, &env, size, false);

    /* every field present and well typed, a valid time: only arithmetic can fail */
    for (size_t i = 0; i < schema->count; i++) fields[i] = pick_value(&w, mix(w.seed + i), schema->fields[i].type);
    env.civil = &civil;
    evaluate(p, &env, size, !uses_attributes(data, size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    jf_expr_program *p = (jf_expr_program *)&size; /* must be overwritten */
    jf_expr_error e;
    bool ok = jf_expr_compile((const char *)data, size, jf_expr_event_schema(), &p, &e);
    if (!ok) {
        CHECK(p == NULL);
        check_error(&e, size, true);
        return 0;
    }
    CHECK(p != NULL);
    CHECK(e.kind == JF_EXPR_OK);
    CHECK(size <= JF_EXPR_SOURCE_BYTES_MAX);
    size_t insns = jf_expr_insn_count(p);
    CHECK(insns >= 1 && insns <= JF_EXPR_INSNS_MAX);
    size_t len;
    const char *source = jf_expr_source(p, &len);
    CHECK(len == size && memcmp(source, data, size) == 0 && source[len] == '\0');
    jf_expr_program *again;
    CHECK(jf_expr_compile(source, len, jf_expr_event_schema(), &again, &e));
    CHECK(jf_expr_insn_count(again) == insns);
    jf_expr_free(again);
    run_program(p, data, size);
    jf_expr_free(p);
    return 0;
}
