/*
 * problem.h — RFC 9457 problem details from a jf_error.
 *
 *   {"type":"urn:jifen:problem:insufficient_points","title":"Insufficient points",
 *    "status":409,"detail":"…","code":"insufficient_points","field":"points"}
 *
 * type, title and status come from the one error registry (errors.h); code is
 * the stable machine name; field appears only when the error names one.
 */
#ifndef JF_HTTP_PROBLEM_H
#define JF_HTTP_PROBLEM_H

#include <jansson.h>

#include "util/errors.h"

#define JF_PROBLEM_CONTENT_TYPE "application/problem+json"

/* The problem document for err (a new reference). */
json_t *jf_problem_doc(const jf_error *err);

#endif
