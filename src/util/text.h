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

#endif
