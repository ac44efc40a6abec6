/*
 * errors.h — the one error registry.
 *
 * Every failure jifen reports has a stable machine code (snake_case, part of
 * the API contract), an HTTP status and a short title.  The X-macro below
 * generates both the enum and the table, so a code cannot exist in one and
 * not the other.  Engine functions return a jf_code and fill a jf_error with
 * the offending field and a human detail; the HTTP layer renders it as
 * RFC 9457 problem+json, the CLI prints it.
 */
#ifndef JF_ERRORS_H
#define JF_ERRORS_H

#include <stdarg.h>

/*  X(enum name,            code string,              status, title) */
#define JF_ERROR_LIST(X)                                                              \
    X(OK,                     "ok",                     200, "OK")                    \
    X(INVALID_JSON,           "invalid_json",           400, "Malformed JSON")        \
    X(INVALID_FIELD,          "invalid_field",          400, "Invalid field")         \
    X(INVALID_HEADER,         "invalid_header",         400, "Invalid header")        \
    X(UNAUTHORIZED,           "unauthorized",           401, "Unauthorized")          \
    X(FORBIDDEN,              "forbidden",              403, "Forbidden")             \
    X(NOT_FOUND,              "not_found",              404, "Not found")             \
    X(METHOD_NOT_ALLOWED,     "method_not_allowed",     405, "Method not allowed")    \
    X(INSUFFICIENT_POINTS,    "insufficient_points",    409, "Insufficient points")   \
    X(IDEMPOTENCY_CONFLICT,   "idempotency_conflict",   409, "Idempotency key reused")\
    X(FROZEN,                 "member_frozen",          409, "Member is frozen")      \
    X(HOLD_NOT_OPEN,          "hold_not_open",          409, "Hold is not open")      \
    X(ALREADY_EXISTS,         "already_exists",         409, "Already exists")        \
    X(REVERSAL_EXCEEDED,      "reversal_exceeded",      409, "Reversal exceeds original") \
    X(PAYLOAD_TOO_LARGE,      "payload_too_large",      413, "Payload too large")     \
    X(URI_TOO_LONG,           "uri_too_long",           414, "URI too long")          \
    X(UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", 415, "Unsupported media type")\
    X(NOT_REVERSIBLE,         "not_reversible",         422, "Operation cannot be reversed") \
    X(LIMIT_EXCEEDED,         "limit_exceeded",         422, "Limit exceeded")        \
    X(INVALID_STATE,          "invalid_state",          422, "Invalid state")         \
    X(HEADERS_TOO_LARGE,      "headers_too_large",      431, "Header fields too large") \
    X(RULE_INVALID,           "rule_invalid",           422, "Rule does not compile") \
    X(RATE_LIMITED,           "rate_limited",           429, "Too many requests")     \
    X(INTERNAL,               "internal",               500, "Internal error")        \
    X(UNAVAILABLE,            "unavailable",            503, "Service unavailable")   \
    X(RETRY,                  "retry",                  503, "Transaction conflict, retry")

typedef enum {
#define JF_X(name, code, status, title) JF_##name,
    JF_ERROR_LIST(JF_X)
#undef JF_X
    JF__CODE_COUNT
} jf_code;

/* The failure of one operation: which code, which input field (may be ""),
 * and a sentence a person can act on. */
typedef struct {
    jf_code code;
    char field[64];
    char detail[256];
} jf_error;

const char *jf_code_name(jf_code code);   /* "insufficient_points" */
int jf_code_status(jf_code code);         /* 409 */
const char *jf_code_title(jf_code code);  /* "Insufficient points" */

/* Fill err (if not NULL) and return code, so callers can write
 *   return jf_fail(err, JF_INVALID_FIELD, "points", "must be 1..%lld", max); */
jf_code jf_fail(jf_error *err, jf_code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void jf_error_clear(jf_error *err);

#endif
