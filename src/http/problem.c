/*
 * problem.c — errors as application/problem+json (see problem.h).
 */
#include "http/problem.h"

#include <stdio.h>

json_t *jf_problem_doc(const jf_error *err) {
    jf_code code = err->code == JF_OK ? JF_INTERNAL : err->code;
    char type[96];
    snprintf(type, sizeof type, "urn:jifen:problem:%s", jf_code_name(code));
    json_t *doc = json_object();
    json_object_set_new(doc, "type", json_string(type));
    json_object_set_new(doc, "title", json_string(jf_code_title(code)));
    json_object_set_new(doc, "status", json_integer(jf_code_status(code)));
    /* A detail may quote client input; json_string refuses invalid UTF-8. */
    json_t *detail = err->detail[0] ? json_string(err->detail) : NULL;
    json_object_set_new(doc, "detail", detail ? detail : json_string(jf_code_title(code)));
    json_object_set_new(doc, "code", json_string(jf_code_name(code)));
    json_t *field = err->field[0] ? json_string(err->field) : NULL;
    if (field) json_object_set_new(doc, "field", field);
    return doc;
}
