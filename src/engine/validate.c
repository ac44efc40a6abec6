/*
 * validate.c — the engine's input checks, one per kind of field.  Each
 * answers JF_INVALID_FIELD naming the field and saying what is allowed, so
 * that every front end (HTTP, CLI) reports the same thing.
 */
#include <string.h>

#include "engine/internal.h"

bool jf_utf8_valid(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned min;
        if (c >= 0xc2 && c <= 0xdf) n = 1, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef) n = 2, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4) n = 3, min = 0x10000;
        else return false;
        if (len - i <= n) return false;
        unsigned cp = c & (0x3f >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

jf_code jf_check_member_id(const char *s, const char *field, jf_error *err) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > JF_MEMBER_ID_LEN_MAX)
        return jf_fail(err, JF_INVALID_FIELD, field, "must be 1..%d characters of A-Z a-z 0-9 _ . : @ -",
                       JF_MEMBER_ID_LEN_MAX);
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  strchr("_.:@-", ch) != NULL;
        if (!ok)
            return jf_fail(err, JF_INVALID_FIELD, field,
                           "character %zu is not allowed; use A-Z a-z 0-9 _ . : @ -", i + 1);
    }
    return JF_OK;
}

jf_code jf_check_biz_no(const char *s, const char *field, jf_error *err) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > JF_BIZ_NO_LEN_MAX)
        return jf_fail(err, JF_INVALID_FIELD, field, "must be 1..%d printable ASCII characters",
                       JF_BIZ_NO_LEN_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return jf_fail(err, JF_INVALID_FIELD, field,
                           "character %zu is not printable ASCII (spaces are not allowed)", i + 1);
    return JF_OK;
}

jf_code jf_check_points(int64_t p, const char *field, jf_error *err) {
    if (p < JF_POINTS_MIN || p > JF_POINTS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, field, "must be a whole number from %lld to %lld",
                       (long long)JF_POINTS_MIN, (long long)JF_POINTS_MAX);
    return JF_OK;
}

jf_code jf_check_text(const char *s, const char *field, size_t max_bytes, bool required, jf_error *err) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0) return required ? jf_fail(err, JF_INVALID_FIELD, field, "is required") : JF_OK;
    if (n > max_bytes) return jf_fail(err, JF_INVALID_FIELD, field, "must be at most %zu bytes of UTF-8", max_bytes);
    if (!jf_utf8_valid(s, n)) return jf_fail(err, JF_INVALID_FIELD, field, "is not valid UTF-8");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* C0, DEL, and C1 (U+0080..U+009F, encoded C2 80..C2 9F): terminals
         * and log readers act on all of them. */
        bool c1 = c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 && (unsigned char)s[i + 1] <= 0x9f;
        if (c < 0x20 || c == 0x7f || c1)
            return jf_fail(err, JF_INVALID_FIELD, field, "must not contain control characters");
    }
    return JF_OK;
}

jf_code jf_check_scene(const char *s, jf_error *err) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > JF_SCENE_LEN_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "scene", "must be 1..%d characters of a-z 0-9 _ . -",
                       JF_SCENE_LEN_MAX);
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
            return jf_fail(err, JF_INVALID_FIELD, "scene", "must be 1..%d characters of a-z 0-9 _ . -",
                           JF_SCENE_LEN_MAX);
    }
    return JF_OK;
}

jf_code jf_check_time(int64_t ms, const char *field, jf_error *err) {
    if (ms < JF_TIME_MS_MIN || ms > JF_TIME_MS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, field, "must be between 2000-01-01 and 2200-01-01");
    return JF_OK;
}
