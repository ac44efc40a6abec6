/*
 * json_fast.c — see json_fast.h.
 */
#include "util/json_fast.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Deeper documents are jansson's (it allows 2048 levels); requests are 3 deep. */
#define FAST_DEPTH_MAX 32
/* 18 decimal digits always fit in int64_t; longer numbers are jansson's. */
#define FAST_DIGITS_MAX 18

typedef struct {
    const char *p, *end;
    int depth;
} reader;

static void skip_space(reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t')) r->p++;
}

static bool digit(char c) { return c >= '0' && c <= '9'; }

/* At '"': the bytes of a string without escapes, printable ASCII only (all
 * that needs no decoding or UTF-8 check); false: anything else. */
static bool read_string(reader *r, const char **s, size_t *n) {
    const char *start = ++r->p;
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            *s = start;
            *n = (size_t)(r->p - start);
            r->p++;
            return true;
        }
        if (c < 0x20 || c > 0x7e || c == '\\') return false;
        r->p++;
    }
    return false;
}

/* An integer as jansson reads one: -?(0|[1-9][0-9]*), not followed by a
 * fraction or an exponent (a real: jansson's). */
static json_t *read_integer(reader *r) {
    const char *p = r->p;
    bool negative = *p == '-';
    if (negative) p++;
    if (p >= r->end || !digit(*p)) return NULL;
    if (*p == '0' && p + 1 < r->end && digit(p[1])) return NULL; /* a leading zero: an error */
    int64_t v = 0;
    int digits = 0;
    for (; p < r->end && digit(*p); p++) {
        if (++digits > FAST_DIGITS_MAX) return NULL;
        v = v * 10 + (*p - '0');
    }
    if (p < r->end && (*p == '.' || *p == 'e' || *p == 'E')) return NULL;
    r->p = p;
    return json_integer(negative ? -v : v);
}

static json_t *read_literal(reader *r, const char *word, size_t n, json_t *v) {
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return NULL;
    r->p += n;
    return v;
}

static json_t *read_value(reader *r);

/* After a member or an element: ',' (another follows) or the closing c. */
static int next_or_close(reader *r, char close) {
    skip_space(r);
    if (r->p >= r->end) return -1;
    char c = *r->p++;
    return c == ',' ? 1 : c == close ? 0 : -1;
}

/* Past the opening bracket (and space): whether the closing one follows. */
static bool empty_container(reader *r, char close) {
    r->p++;
    skip_space(r);
    if (r->p >= r->end || *r->p != close) return false;
    r->p++;
    return true;
}

static json_t *read_object(reader *r) {
    json_t *o = json_object();
    if (o == NULL || empty_container(r, '}')) return o;
    for (;;) {
        skip_space(r);
        const char *key;
        size_t key_len;
        if (r->p >= r->end || *r->p != '"' || !read_string(r, &key, &key_len)) break;
        if (json_object_getn(o, key, key_len) != NULL) break; /* a duplicate: jansson says so */
        skip_space(r);
        if (r->p >= r->end || *r->p != ':') break;
        r->p++;
        json_t *v = read_value(r);
        if (v == NULL || json_object_setn_new_nocheck(o, key, key_len, v) != 0) break;
        int more = next_or_close(r, '}');
        if (more == 0) return o;
        if (more < 0) break;
    }
    json_decref(o);
    return NULL;
}

static json_t *read_array(reader *r) {
    json_t *a = json_array();
    if (a == NULL || empty_container(r, ']')) return a;
    for (;;) {
        json_t *v = read_value(r);
        if (v == NULL || json_array_append_new(a, v) != 0) break;
        int more = next_or_close(r, ']');
        if (more == 0) return a;
        if (more < 0) break;
    }
    json_decref(a);
    return NULL;
}

static json_t *read_value(reader *r) {
    skip_space(r);
    if (r->p >= r->end) return NULL;
    switch (*r->p) {
    case '{':
    case '[': {
        if (++r->depth > FAST_DEPTH_MAX) return NULL;
        json_t *v = *r->p == '{' ? read_object(r) : read_array(r);
        r->depth--;
        return v;
    }
    case '"': {
        const char *s;
        size_t n;
        return read_string(r, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
    }
    case 't': return read_literal(r, "true", 4, json_true());
    case 'f': return read_literal(r, "false", 5, json_false());
    case 'n': return read_literal(r, "null", 4, json_null());
    default: return read_integer(r);
    }
}

json_t *jf_json_fast(const char *buf, size_t len) {
    reader r = {buf, buf + len, 0};
    skip_space(&r);
    if (r.p >= r.end || (*r.p != '{' && *r.p != '[')) return NULL; /* jansson wants an object or an array */
    json_t *v = read_value(&r);
    skip_space(&r);
    if (v != NULL && r.p != r.end) { /* more after it: an error */
        json_decref(v);
        return NULL;
    }
    return v;
}

json_t *jf_json_load(const char *buf, size_t len, json_error_t *err) {
    json_t *v = jf_json_fast(buf, len);
    return v != NULL ? v : json_loadb(buf, len, JSON_REJECT_DUPLICATES, err);
}
