/*
 * text.h — copying text into fixed buffers.
 */
#ifndef JF_UTIL_TEXT_H
#define JF_UTIL_TEXT_H

#include <stddef.h>
#include <string.h>

/* src[0..n) into dst (cap bytes, cap > 0), cut to fit, NUL-terminated: a
 * bounded strcpy.  snprintf's "%s" did this at ~800 instructions a copy,
 * and the hot paths make several per request. */
static inline void jf_copy_bytes(char *dst, size_t cap, const char *src, size_t n) {
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
}
/* The same for a C string (NULL copies as ""). */
static inline void jf_copy_text(char *dst, size_t cap, const char *src) {
    jf_copy_bytes(dst, cap, src ? src : "", src ? strlen(src) : 0);
}
/* Into an array whose size the compiler knows. */
#define JF_COPY(dst, src) jf_copy_text((dst), sizeof(dst), (src))

/* s[0..len), UTF-8 text that a byte count may have cut in the middle of a
 * character, without that character's first bytes; NUL-terminated there.
 * Returns the new length. */
static inline size_t jf_utf8_whole(char *s, size_t len) {
    size_t n = len;
    while (n > 0 && ((unsigned char)s[n - 1] & 0xC0) == 0x80) n--; /* continuation bytes */
    if (n > 0 && ((unsigned char)s[n - 1] & 0x80)) {
        /* a lead byte: keep its sequence only if it is whole */
        size_t lead = n - 1;
        unsigned char b = (unsigned char)s[lead];
        size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
        n = len - lead >= need ? lead + need : lead;
    } else {
        n = len;
    }
    s[n] = '\0';
    return n;
}

#endif
