/*
 * json_spec.h — the one declarative JSON request parser.
 *
 * A handler lists the fields it accepts with their types and bounds, and one
 * call parses a body against that list:
 *
 *     jf_field spec[] = {
 *         JF_FIELD_POINTS("points", &req.points, JF_REQUIRED),
 *         JF_FIELD_BIZ_NO("biz_no", &req.biz_no, JF_REQUIRED),
 *         JF_FIELD_TEXT("reason", &req.reason, JF_REASON_BYTES_MAX, 0),
 *         JF_FIELD_END,
 *     };
 *     rc = jf_json_parse(body, len, spec, &root, &err, &pos);
 *
 * The body must be one JSON object.  Refused, each with the field named:
 * unknown fields (typos must not pass silently), duplicate keys, missing
 * required fields, wrong types, non-integers where integers are due, integers
 * beyond 2^53 or outside the field's bounds, strings outside their length or
 * character class.  Malformed JSON (truncated, invalid UTF-8, nested deeper
 * than jansson's limit) is JF_INVALID_JSON with line and column.  String
 * outputs point into *root, which the caller releases with json_decref.
 */
#ifndef JF_HTTP_JSON_SPEC_H
#define JF_HTTP_JSON_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/errors.h"
#include "util/json_fast.h"
#include "util/limits.h"

typedef enum {
    JF_FT_INT,    /* integer in [min, max] → int64_t */
    JF_FT_STRING, /* string, byte length in [min, max], character class → const char * */
    JF_FT_TIME,   /* RFC 3339 string within the accepted time range → int64_t ms */
    JF_FT_ENUM,   /* string accepted by parse() (returns -1 if unknown) → int */
    JF_FT_OBJECT, /* nested object parsed by its own spec */
    JF_FT_DATE_MD, /* "MM-DD" → int month, int day (out = int[2]) */
    JF_FT_JSON     /* any value, which the handler checks itself → json_t * (borrowed from the document) */
} jf_field_type;

typedef enum {
    JF_CHARS_TEXT,      /* any UTF-8 without control characters */
    JF_CHARS_PRINTABLE, /* ASCII 0x21..0x7e (biz_no) */
    JF_CHARS_SCENE      /* [a-z0-9_.-] */
} jf_chars;

#define JF_REQUIRED 1u
#define JF_NULLABLE 2u /* JSON null is accepted and stores null_value */

typedef struct jf_field {
    const char *name;
    jf_field_type type;
    unsigned flags;
    void *out;
    bool *present; /* may be NULL; set true when the field was given */
    int64_t min, max;
    jf_chars chars;
    int (*parse)(const char *);
    const struct jf_field *sub;
    int64_t null_value;
    const char *expect; /* enum: the accepted values, for the error detail */
} jf_field;

/* The casts below only compile when the output pointer has the right type. */
#define JF__PTR(T, p) ((void *)(1 ? (p) : (T *)0))

#define JF_FIELD_INT(n, p, lo, hi, fl) \
    {.name = (n), .type = JF_FT_INT, .flags = (fl), .out = JF__PTR(int64_t, p), .min = (lo), .max = (hi)}
#define JF_FIELD_INT_P(n, p, pres, lo, hi, fl)                                                              \
    {.name = (n), .type = JF_FT_INT, .flags = (fl), .out = JF__PTR(int64_t, p), .present = (pres), .min = (lo), \
     .max = (hi)}
#define JF_FIELD_POINTS(n, p, fl) JF_FIELD_INT(n, p, JF_POINTS_MIN, JF_POINTS_MAX, fl)
#define JF_FIELD_STRING(n, p, lo, hi, cls, fl)                                                                  \
    {.name = (n), .type = JF_FT_STRING, .flags = (fl), .out = JF__PTR(const char *, p), .min = (lo), .max = (hi), \
     .chars = (cls)}
#define JF_FIELD_TEXT(n, p, max_bytes, fl) JF_FIELD_STRING(n, p, 1, max_bytes, JF_CHARS_TEXT, fl)
#define JF_FIELD_BIZ_NO(n, p, fl) JF_FIELD_STRING(n, p, 1, JF_BIZ_NO_LEN_MAX, JF_CHARS_PRINTABLE, fl)
#define JF_FIELD_SCENE(n, p, fl) JF_FIELD_STRING(n, p, 1, JF_SCENE_LEN_MAX, JF_CHARS_SCENE, fl)
#define JF_FIELD_TIME(n, p, fl) {.name = (n), .type = JF_FT_TIME, .flags = (fl), .out = JF__PTR(int64_t, p)}
#define JF_FIELD_TIME_OR_NULL(n, p, nullv, fl) \
    {.name = (n), .type = JF_FT_TIME, .flags = (fl) | JF_NULLABLE, .out = JF__PTR(int64_t, p), .null_value = (nullv)}
#define JF_FIELD_ENUM(n, p, fn, values, fl) \
    {.name = (n), .type = JF_FT_ENUM, .flags = (fl), .out = JF__PTR(int, p), .parse = (fn), .expect = (values)}
#define JF_FIELD_OBJECT(n, subspec, pres, fl) \
    {.name = (n), .type = JF_FT_OBJECT, .flags = (fl), .present = (pres), .sub = (subspec)}
#define JF_FIELD_DATE_MD(n, p, pres, fl) \
    {.name = (n), .type = JF_FT_DATE_MD, .flags = (fl), .out = JF__PTR(int, p), .present = (pres)}
/* A field the handler checks by hand (lists of records, free-form
 * attributes): listed so that it is known, passed through as is. */
#define JF_FIELD_JSON(n, p, fl) {.name = (n), .type = JF_FT_JSON, .flags = (fl), .out = JF__PTR(json_t *, p)}
#define JF_FIELD_END {.name = NULL}

/* Where a JSON syntax error is (1-based; 0 when not known). */
typedef struct {
    int line;
    int column;
} jf_json_pos;

/* Parse body[0..len) against spec.  An empty body parses as {} only when
 * empty_ok.  On success *root holds the document (json_decref it). */
jf_code jf_json_parse(const char *body, size_t len, bool empty_ok, const jf_field *spec, json_t **root,
                      jf_error *err, jf_json_pos *pos);

/* Check an already-parsed object against spec (used for nested objects and
 * by tests).  prefix names the enclosing field ("" at the top). */
jf_code jf_json_apply(json_t *obj, const jf_field *spec, const char *prefix, jf_error *err);

#endif
