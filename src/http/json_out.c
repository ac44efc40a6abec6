/*
 * json_out.c — JSON text of a response document (see json_out.h).
 *
 * Measured with callgrind on POST earn: jansson's json_dumps took about 40 %
 * of a loop thread's instructions per request — it formats every integer
 * with snprintf and writes through a callback per fragment.  This encoder
 * walks the same json_t tree into one growing buffer, with its own integer
 * formatting and a string escaper that copies unescaped runs whole
 * (util/json_text.h, shared with the kept event answers).  The
 * output is byte for byte what json_dumps(doc, JSON_COMPACT) gives (a unit
 * test compares them), so it changes nothing a client can see.  The sorted
 * variant is json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS): the text an
 * event's fingerprint hashes (json_dumps cost a loop thread an eighth of
 * an event).
 */
#include "http/json_out.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/json_text.h"

/* Deeper documents are not ours: every response is a few levels deep.
 * json_dumps's own limit is 2048; refusing early is equally safe. */
#define JSON_OUT_DEPTH_MAX 64

/* A member of an object, for writing the members in key order. */
typedef struct {
    const char *key;
    size_t len;
    const json_t *value;
} member;

/* jansson's order for JSON_SORT_KEYS: bytewise, a prefix first. */
static int member_cmp(const void *a, const void *b) {
    const member *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    if (c != 0) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

static void put_value(jf_json_text *b, const json_t *v, bool sorted, int depth);

static void put_member(jf_json_text *b, const char *key, size_t key_len, const json_t *v, bool first, bool sorted,
                       int depth) {
    if (!first) jf_json_char(b, ',');
    jf_json_str(b, key, key_len);
    jf_json_char(b, ':');
    put_value(b, v, sorted, depth + 1);
}

/* Objects this large are not ours to sort on the stack: jansson's. */
#define SORTED_MEMBERS_MAX 64

/* Insertion order, as json_dumps without JSON_SORT_KEYS. */
static void put_object(jf_json_text *b, const json_t *v, int depth) {
    const char *key;
    size_t key_len;
    json_t *item;
    bool first = true;
    jf_json_char(b, '{');
    json_object_keylen_foreach((json_t *)v, key, key_len, item) {
        put_member(b, key, key_len, item, first, false, depth);
        first = false;
    }
    jf_json_char(b, '}');
}

/* Not inlined: its 1.5 KiB of room stays off the stack of every other level. */
__attribute__((noinline)) static void put_object_sorted(jf_json_text *b, const json_t *v, int depth) {
    member members[SORTED_MEMBERS_MAX];
    size_t n = 0;
    if (json_object_size(v) > SORTED_MEMBERS_MAX) {
        b->failed = true; /* jf_json_encode_sorted's caller falls back */
        return;
    }
    const char *key;
    size_t key_len;
    json_t *item;
    json_object_keylen_foreach((json_t *)v, key, key_len, item) members[n++] = (member){key, key_len, item};
    qsort(members, n, sizeof members[0], member_cmp);
    jf_json_char(b, '{');
    for (size_t i = 0; i < n; i++) put_member(b, members[i].key, members[i].len, members[i].value, i == 0, true, depth);
    jf_json_char(b, '}');
}

static void put_value(jf_json_text *b, const json_t *v, bool sorted, int depth) {
    if (depth > JSON_OUT_DEPTH_MAX) {
        b->failed = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (sorted) put_object_sorted(b, v, depth);
        else put_object(b, v, depth);
        break;
    case JSON_ARRAY: {
        jf_json_char(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0) jf_json_char(b, ',');
            put_value(b, json_array_get(v, i), sorted, depth + 1);
        }
        jf_json_char(b, ']');
        break;
    }
    case JSON_STRING: jf_json_str(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: jf_json_int(b, json_integer_value(v)); break;
    case JSON_TRUE: jf_json_raw(b, "true", 4); break;
    case JSON_FALSE: jf_json_raw(b, "false", 5); break;
    case JSON_NULL: jf_json_raw(b, "null", 4); break;
    case JSON_REAL: {
        /* Rare in responses: jansson's own formatting, so the text agrees. */
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (text == NULL) {
            b->failed = true;
            return;
        }
        jf_json_raw(b, text, strlen(text));
        free(text);
        break;
    }
    }
}

char *jf_json_encode(const json_t *doc, size_t *len) {
    if (doc == NULL) return NULL;
    jf_json_text b = {0};
    put_value(&b, doc, false, 0);
    return jf_json_text_take(&b, len);
}

char *jf_json_encode_sorted(const json_t *doc, size_t *len) {
    if (doc == NULL) return NULL;
    jf_json_text b = {0};
    put_value(&b, doc, true, 0);
    return jf_json_text_take(&b, len);
}
