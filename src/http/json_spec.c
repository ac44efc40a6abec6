/*
 * json_spec.c — one parser for every request body (see json_spec.h).
 *
 * The syntax is jansson's (UTF-8 validation, depth limit, duplicate keys),
 * read through jf_json_load (util/json_fast.h: the plain case without
 * jansson's reader, into the same tree); this file does the shape: only
 * listed fields, each with its type and bounds.  The first problem found
 * is reported, naming the field with its full path ("expiry.n"), so that a
 * client can point at it.
 */
#include "http/json_spec.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "util/text.h"
#include "util/tz.h"

/* "prefix.name", or "name" at the top, cut to fit (without snprintf: this
 * runs for every field of every request body). */
static void field_path(char *buf, size_t cap, const char *prefix, const char *name) {
    size_t n = 0;
    if (prefix && prefix[0]) {
        jf_copy_text(buf, cap, prefix);
        n = strlen(buf);
        if (n + 1 < cap) buf[n++] = '.';
    }
    jf_copy_text(buf + n, cap - n, name);
}

static bool chars_ok(const char *s, jf_chars cls) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (cls) {
        case JF_CHARS_TEXT:
            if (*p < 0x20 || *p == 0x7f) return false;
            break;
        case JF_CHARS_PRINTABLE:
            if (*p < 0x21 || *p > 0x7e) return false;
            break;
        case JF_CHARS_SCENE:
            if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
                return false;
            break;
        }
    }
    return true;
}

static const char *chars_text(jf_chars cls) {
    switch (cls) {
    case JF_CHARS_PRINTABLE: return "printable ASCII without spaces";
    case JF_CHARS_SCENE: return "characters a-z 0-9 _ . -";
    case JF_CHARS_TEXT: break;
    }
    return "text without control characters";
}

static jf_code parse_int(json_t *v, const jf_field *f, const char *path, jf_error *err) {
    if (json_is_real(v))
        return jf_fail(err, JF_INVALID_FIELD, path, "%s must be an integer, not a fraction or exponent", path);
    if (!json_is_integer(v)) return jf_fail(err, JF_INVALID_FIELD, path, "%s must be an integer", path);
    json_int_t x = json_integer_value(v);
    if (x > JF_QUANTITY_MAX || x < -JF_QUANTITY_MAX)
        return jf_fail(err, JF_INVALID_FIELD, path, "%s is beyond 2^53", path);
    if (x < f->min || x > f->max)
        return jf_fail(err, JF_INVALID_FIELD, path, "%s must be between %lld and %lld", path, (long long)f->min,
                       (long long)f->max);
    *(int64_t *)f->out = (int64_t)x;
    return JF_OK;
}

static jf_code parse_string(json_t *v, const jf_field *f, const char *path, jf_error *err) {
    if (!json_is_string(v)) return jf_fail(err, JF_INVALID_FIELD, path, "%s must be a string", path);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n) return jf_fail(err, JF_INVALID_FIELD, path, "%s must not contain NUL", path);
    if ((int64_t)n < f->min || (int64_t)n > f->max)
        return jf_fail(err, JF_INVALID_FIELD, path, "%s must be %lld to %lld bytes long", path, (long long)f->min,
                       (long long)f->max);
    if (!chars_ok(s, f->chars))
        return jf_fail(err, JF_INVALID_FIELD, path, "%s must be %s", path, chars_text(f->chars));
    *(const char **)f->out = s;
    return JF_OK;
}

static jf_code parse_time(json_t *v, const jf_field *f, const char *path, jf_error *err) {
    int64_t ms = 0;
    if (!json_is_string(v) || !jf_parse_rfc3339(json_string_value(v), &ms))
        return jf_fail(err, JF_INVALID_FIELD, path, "%s must be an RFC 3339 time with an offset, like "
                       "\"2026-01-31T23:59:59+08:00\"", path);
    if (ms < JF_TIME_MS_MIN || ms > JF_TIME_MS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, path, "%s must be between 2000-01-01 and 2200-01-01", path);
    *(int64_t *)f->out = ms;
    return JF_OK;
}

static jf_code parse_enum(json_t *v, const jf_field *f, const char *path, jf_error *err) {
    int x = json_is_string(v) ? f->parse(json_string_value(v)) : -1;
    if (x < 0) return jf_fail(err, JF_INVALID_FIELD, path, "%s must be one of %s", path, f->expect);
    *(int *)f->out = x;
    return JF_OK;
}

static jf_code parse_date_md(json_t *v, const jf_field *f, const char *path, jf_error *err) {
    static const int days[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    int month = 0, day = 0;
    char tail = 0;
    bool ok = strlen(s) == 5 && sscanf(s, "%2d-%2d%c", &month, &day, &tail) == 2 && month >= 1 && month <= 12 &&
              day >= 1 && day <= days[month];
    if (!ok) return jf_fail(err, JF_INVALID_FIELD, path, "%s must be a date \"MM-DD\"", path);
    ((int *)f->out)[0] = month;
    ((int *)f->out)[1] = day;
    return JF_OK;
}

static jf_code parse_field(json_t *v, const jf_field *f, const char *path, jf_error *err) {
    if (json_is_null(v) && (f->flags & JF_NULLABLE)) {
        *(int64_t *)f->out = f->null_value;
        return JF_OK;
    }
    switch (f->type) {
    case JF_FT_INT: return parse_int(v, f, path, err);
    case JF_FT_STRING: return parse_string(v, f, path, err);
    case JF_FT_TIME: return parse_time(v, f, path, err);
    case JF_FT_ENUM: return parse_enum(v, f, path, err);
    case JF_FT_DATE_MD: return parse_date_md(v, f, path, err);
    case JF_FT_JSON: *(json_t **)f->out = v; return JF_OK;
    case JF_FT_OBJECT:
        if (!json_is_object(v)) return jf_fail(err, JF_INVALID_FIELD, path, "%s must be an object", path);
        return jf_json_apply(v, f->sub, path, err);
    }
    return jf_fail(err, JF_INTERNAL, path, "unknown field type");
}

/* The longest spec has 11 fields. */
#define SPEC_FIELDS_MAX 32

jf_code jf_json_apply(json_t *obj, const jf_field *spec, const char *prefix, jf_error *err) {
    assert(json_is_object(obj));
    char path[128];
    const char *key;
    json_t *v;
    size_t n = 0;
    while (spec[n].name) n++;
    assert(n <= SPEC_FIELDS_MAX);
    /* Each member matched to its field once; unknown fields first: a typo
     * in an optional field must not be reported as "required field
     * missing" or silently dropped. */
    json_t *found[SPEC_FIELDS_MAX] = {NULL};
    json_object_foreach(obj, key, v) {
        size_t i = 0;
        while (i < n && strcmp(spec[i].name, key) != 0) i++;
        if (i == n) {
            field_path(path, sizeof path, prefix, key);
            return jf_fail(err, JF_INVALID_FIELD, path, "unknown field %s", path);
        }
        found[i] = v;
    }
    for (size_t i = 0; i < n; i++) {
        const jf_field *f = &spec[i];
        v = found[i];
        if (f->present) *f->present = v != NULL;
        if (v == NULL && !(f->flags & JF_REQUIRED)) continue;
        field_path(path, sizeof path, prefix, f->name);
        if (v == NULL) return jf_fail(err, JF_INVALID_FIELD, path, "%s is required", path);
        jf_code rc = parse_field(v, f, path, err);
        if (rc != JF_OK) return rc;
    }
    return JF_OK;
}

jf_code jf_json_parse(const char *body, size_t len, bool empty_ok, const jf_field *spec, json_t **root,
                      jf_error *err, jf_json_pos *pos) {
    assert(root != NULL);
    *root = NULL;
    if (pos) pos->line = pos->column = 0;
    if (len == 0) {
        if (!empty_ok) return jf_fail(err, JF_INVALID_JSON, "", "the request body is empty; a JSON object is expected");
        *root = json_object();
    } else {
        json_error_t je;
        *root = jf_json_load(body, len, &je);
        if (*root == NULL) {
            if (pos) {
                pos->line = je.line;
                pos->column = je.column;
            }
            return jf_fail(err, JF_INVALID_JSON, "", "line %d, column %d: %s", je.line, je.column, je.text);
        }
    }
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return jf_fail(err, JF_INVALID_JSON, "", "the request body must be a JSON object");
    }
    jf_code rc = jf_json_apply(*root, spec, "", err);
    if (rc != JF_OK) {
        json_decref(*root);
        *root = NULL;
    }
    return rc;
}
