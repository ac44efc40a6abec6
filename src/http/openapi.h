/*
 * openapi.h — the OpenAPI 3.1 document (docs/openapi.json), embedded in the
 * binary at build time so that the served spec is exactly the committed one.
 */
#ifndef JF_HTTP_OPENAPI_H
#define JF_HTTP_OPENAPI_H

#include <stddef.h>

const char *jf_openapi_document(size_t *len);

#endif
