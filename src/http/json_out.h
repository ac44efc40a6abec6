/*
 * json_out.h — the text of a JSON response document.
 */
#ifndef JF_JSON_OUT_H
#define JF_JSON_OUT_H

#include <jansson.h>
#include <stddef.h>

/* doc as compact JSON text, identical to json_dumps(doc, JSON_COMPACT), in a
 * malloc'd NUL-terminated buffer of *len bytes (the NUL not counted).  NULL
 * when out of memory or nested deeper than any response is. */
char *jf_json_encode(const json_t *doc, size_t *len);
/* The same with every object's members in key order: identical to
 * json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS).  NULL also for an object
 * of more members than it sorts in place (64): json_dumps's then. */
char *jf_json_encode_sorted(const json_t *doc, size_t *len);

#endif
