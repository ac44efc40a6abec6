/*
 * clock.h — the monotonic clock, for intervals and timeouts (never for
 * the time of day: that is jf_now_ms and the test clock).
 */
#ifndef JF_UTIL_CLOCK_H
#define JF_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t jf_mono_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static inline int64_t jf_mono_ms(void) { return jf_mono_us() / 1000; }

#endif
