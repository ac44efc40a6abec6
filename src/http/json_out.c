/*
 * json_out.c — JSON text of a response document (see json_out.h).
 *
 * Measured with callgrind on POST earn: jansson's json_dumps took about 40 %
 * of a loop thread's instructions per request — it formats every integer
 * with snprintf and writes through a callback per fragment.  This encoder
 * walks the same json_t tree into one growing buffer, with its own integer
 * formatting and a string escaper that copies unescaped runs whole.  The
 * output is byte for byte what json_dumps(doc, JSON_COMPACT) gives (a unit
 * test compares them), so it changes nothing a client can see.
 */
#include "http/json_out.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Deeper documents are not ours: every response is a few levels deep.
 * json_dumps's own limit is 2048; refusing early is equally safe. */
#define JSON_OUT_DEPTH_MAX 64

typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} out_buf;

static bool reserve(out_buf *b, size_t n) {
    if (b->failed) return false;
    if (b->cap - b->len >= n) return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) return b->failed = true, false;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL) return b->failed = true, false;
    b->p = p;
    b->cap = cap;
    return true;
}

static void put(out_buf *b, const char *s, size_t n) {
    if (!reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void put_char(out_buf *b, char c) { put(b, &c, 1); }

static void put_int(out_buf *b, json_int_t v) {
    char tmp[24];
    size_t i = sizeof tmp;
    /* Work on the magnitude as unsigned so INT64_MIN needs no special case. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) tmp[--i] = '-';
    put(b, tmp + i, sizeof tmp - i);
}

/* As jansson: '"' and '\\' escaped, control characters as \b \f \n \r \t
 * or \u00XX (upper-case hex), everything else (UTF-8 included) as is. */
static void put_string(out_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    put_char(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t len = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            len = 6;
        }
        put(b, esc, len);
    }
    put(b, s + run, n - run);
    put_char(b, '"');
}

static void put_value(out_buf *b, const json_t *v, int depth) {
    if (depth > JSON_OUT_DEPTH_MAX) {
        b->failed = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        put_char(b, '{');
        const char *key;
        size_t key_len;
        json_t *item;
        bool first = true;
        /* Insertion order, as json_dumps without JSON_SORT_KEYS. */
        json_object_keylen_foreach((json_t *)v, key, key_len, item) {
            if (!first) put_char(b, ',');
            first = false;
            put_string(b, key, key_len);
            put_char(b, ':');
            put_value(b, item, depth + 1);
        }
        put_char(b, '}');
        break;
    }
    case JSON_ARRAY: {
        put_char(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0) put_char(b, ',');
            put_value(b, json_array_get(v, i), depth + 1);
        }
        put_char(b, ']');
        break;
    }
    case JSON_STRING: put_string(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: put_int(b, json_integer_value(v)); break;
    case JSON_TRUE: put(b, "true", 4); break;
    case JSON_FALSE: put(b, "false", 5); break;
    case JSON_NULL: put(b, "null", 4); break;
    case JSON_REAL: {
        /* Rare in responses: jansson's own formatting, so the text agrees. */
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (text == NULL) {
            b->failed = true;
            return;
        }
        put(b, text, strlen(text));
        free(text);
        break;
    }
    }
}

char *jf_json_encode(const json_t *doc, size_t *len) {
    out_buf b = {0};
    if (doc == NULL) return NULL;
    put_value(&b, doc, 0);
    if (!b.failed) put_char(&b, '\0');
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    *len = b.len - 1;
    return b.p;
}
