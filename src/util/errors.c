/*
 * errors.c — the table behind errors.h.
 */
#include "util/errors.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int status;
    const char *title;
} table[JF__CODE_COUNT] = {
#define JF_X(name, code, status, title) [JF_##name] = {code, status, title},
    JF_ERROR_LIST(JF_X)
#undef JF_X
};

const char *jf_code_name(jf_code code) {
    return (unsigned)code < JF__CODE_COUNT ? table[code].name : "internal";
}

int jf_code_status(jf_code code) {
    return (unsigned)code < JF__CODE_COUNT ? table[code].status : 500;
}

const char *jf_code_title(jf_code code) {
    return (unsigned)code < JF__CODE_COUNT ? table[code].title : "Internal error";
}

jf_code jf_fail(jf_error *err, jf_code code, const char *field, const char *fmt, ...) {
    if (err == NULL) return code;
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
    return code;
}

void jf_error_clear(jf_error *err) {
    if (err) memset(err, 0, sizeof *err);
}
