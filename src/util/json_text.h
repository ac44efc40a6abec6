/*
 * json_text.h — writing JSON text into a growing buffer, by hand.
 *
 * For the hot paths that would otherwise build a jansson tree only to dump
 * it: the response encoder (src/http/json_out.c) and the kept event answers
 * (src/engine/event_answer.c).  Strings are escaped as jansson escapes them
 * (quote, backslash, \b \f \n \r \t, other control characters as \u00XX,
 * everything else — UTF-8 included — as is), so text written here matches
 * json_dumps byte for byte.
 */
#ifndef JF_JSON_TEXT_H
#define JF_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *text; /* NUL-terminated after every write */
    size_t len, cap;
    bool failed; /* out of memory: later writes do nothing */
} jf_json_text;

/* Bytes the decimal text of any int64_t takes, with its NUL. */
#define JF_INT_TEXT_MAX 21

/* v in decimal into out (JF_INT_TEXT_MAX bytes at least), NUL-terminated;
 * returns the length (without snprintf: a hot path formats many). */
size_t jf_int_text(char *out, int64_t v);
/* s[0..n) as is.  The common case — it fits — is inline: these run per
 * character and per key of every answer. */
void jf_json_raw_grow(jf_json_text *b, const char *s, size_t n);
static inline void jf_json_raw(jf_json_text *b, const char *s, size_t n) {
    if (b->failed || b->cap - b->len <= n) { /* also cap 0: nothing allocated yet */
        jf_json_raw_grow(b, s, n);
        return;
    }
    memcpy(b->text + b->len, s, n);
    b->len += n;
    b->text[b->len] = '\0';
}
/* A string literal as is (keys, punctuation): jf_json_lit(b, ",\"key\":"). */
#define jf_json_lit(b, lit) jf_json_raw((b), "" lit "", sizeof(lit) - 1)
static inline void jf_json_char(jf_json_text *b, char c) { jf_json_raw(b, &c, 1); }
void jf_json_int(jf_json_text *b, int64_t v);
/* s[0..n) as a JSON string, quotes included. */
void jf_json_str(jf_json_text *b, const char *s, size_t n);
static inline void jf_json_cstr(jf_json_text *b, const char *s) { jf_json_str(b, s, strlen(s)); }
static inline void jf_json_bool(jf_json_text *b, bool v) {
    if (v) jf_json_lit(b, "true");
    else jf_json_lit(b, "false");
}
/* One member of an object; key is a literal with its punctuation
 * ("{\"id\":" first, ",\"name\":" after). */
#define JF_KEY_INT(b, key, v) (jf_json_lit(b, key), jf_json_int(b, v))
#define JF_KEY_STR(b, key, v) (jf_json_lit(b, key), jf_json_cstr(b, v))
#define JF_KEY_BOOL(b, key, v) (jf_json_lit(b, key), jf_json_bool(b, v))
/* The text (caller frees) and its length; NULL, freed, if a write failed. */
char *jf_json_text_take(jf_json_text *b, size_t *len);

#endif
