/*
 * json_text.c — JSON text into a growing buffer (see json_text.h).
 */
#include "util/json_text.h"

#include <stdlib.h>
#include <string.h>

static bool reserve(jf_json_text *b, size_t n) {
    if (b->failed) return false;
    if (b->cap - b->len > n) return true; /* room for n bytes and the NUL */
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len <= n) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *t = realloc(b->text, cap);
    if (t == NULL) {
        b->failed = true;
        return false;
    }
    b->text = t;
    b->cap = cap;
    return true;
}

void jf_json_raw_grow(jf_json_text *b, const char *s, size_t n) {
    if (!reserve(b, n)) return;
    memcpy(b->text + b->len, s, n);
    b->len += n;
    b->text[b->len] = '\0';
}

/* Two digits at a time: the answers carry dozens of 13-digit times. */
static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                     "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

/* Digits of u in decimal: a 13-digit time takes 3 divisions, not 12. */
static size_t decimal_digits(uint64_t u) {
    size_t n = 1;
    for (; u >= 10000; u /= 10000) n += 4;
    if (u >= 100) {
        u /= 100;
        n += 2;
    }
    return u >= 10 ? n + 1 : n;
}

size_t jf_int_text(char *out, int64_t v) {
    /* The magnitude as unsigned, so INT64_MIN needs no special case. */
    uint64_t u = v < 0 ? 0ULL - (uint64_t)v : (uint64_t)v;
    size_t digits = decimal_digits(u);
    size_t len = digits + (v < 0);
    char *p = out + len; /* written backwards, straight into out */
    *p = '\0';
    while (u >= 100) {
        size_t d = (size_t)(u % 100) * 2;
        u /= 100;
        *--p = digit_pairs[d + 1];
        *--p = digit_pairs[d];
    }
    if (u >= 10) {
        *--p = digit_pairs[u * 2 + 1];
        *--p = digit_pairs[u * 2];
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0) *--p = '-';
    return len;
}

void jf_json_int(jf_json_text *b, int64_t v) {
    if (b->failed || b->cap - b->len <= JF_INT_TEXT_MAX) { /* no room yet: through the growing path */
        char tmp[JF_INT_TEXT_MAX];
        size_t len = jf_int_text(tmp, v);
        jf_json_raw(b, tmp, len);
        return;
    }
    b->len += jf_int_text(b->text + b->len, v); /* NUL-terminated by it */
}

/* Whether any of the 8 bytes of w needs escaping: below 0x20, '"' or
 * '\\'.  The classic exact tests for "has a byte less than n" (n <= 128)
 * and "has a zero byte" (of w xor the byte repeated). */
#define BYTES(c) (0x0101010101010101ULL * (uint64_t)(c))
static inline bool word_needs_escape(uint64_t w) {
    uint64_t high = BYTES(0x80);
    uint64_t below_space = (w - BYTES(0x20)) & ~w & high;
    uint64_t q = w ^ BYTES('"'), bs = w ^ BYTES('\\');
    uint64_t quote = (q - BYTES(1)) & ~q & high;
    uint64_t backslash = (bs - BYTES(1)) & ~bs & high;
    return (below_space | quote | backslash) != 0;
}

static inline bool byte_needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

void jf_json_str(jf_json_text *b, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    jf_json_char(b, '"');
    size_t run = 0, i = 0;
    for (;;) {
        /* Skip what needs no escaping, 8 bytes at a time (nearly all text). */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (word_needs_escape(w)) break;
            i += 8;
        }
        while (i < n && !byte_needs_escape((unsigned char)s[i])) i++;
        if (i >= n) break; /* else s[i] needs escaping */
        unsigned char c = (unsigned char)s[i];
        jf_json_raw(b, s + run, i - run);
        run = ++i;
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
        jf_json_raw(b, esc, len);
    }
    jf_json_raw(b, s + run, n - run);
    jf_json_char(b, '"');
}

char *jf_json_text_take(jf_json_text *b, size_t *len) {
    if (!b->failed && b->text == NULL) jf_json_raw(b, "", 0);
    char *t = b->failed ? NULL : b->text;
    if (t == NULL) free(b->text);
    if (len) *len = t ? b->len : 0;
    *b = (jf_json_text){0};
    return t;
}
