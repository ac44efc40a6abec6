/*
 * fuzz_json.c — libFuzzer harness: the fast JSON reader against jansson.
 *
 * The input bytes are a request body.  Whenever jf_json_fast reads it, jansson
 * (json_loadb with JSON_REJECT_DUPLICATES, what the server used before) must
 * read it too, into the same document: the same values of the same types,
 * members in the same order (compared as jansson's compact text, which
 * keeps the order and tells 1 from 1.0).  When it gives up, jf_json_load
 * must answer what jansson answers.  No crash, no sanitizer report.
 *
 *   make build/fuzz-json && build/fuzz-json -dict=tests/fuzz/json.dict tests/fuzz/corpus/json
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json_fast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *text_of(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data;
    json_error_t je;
    json_t *ref = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &je);
    json_t *fast = jf_json_fast(buf, size);
    if (fast != NULL) {
        if (ref == NULL) {
            fprintf(stderr, "the fast reader took what jansson refuses (%s)\n", je.text);
            abort();
        }
        char *a = text_of(fast), *b = text_of(ref);
        if (a == NULL || b == NULL || strcmp(a, b) != 0) {
            fprintf(stderr, "different documents:\n  fast    %s\n  jansson %s\n", a ? a : "?", b ? b : "?");
            abort();
        }
        free(a);
        free(b);
        json_decref(fast);
    }
    json_error_t le;
    json_t *loaded = jf_json_load(buf, size, &le);
    if ((loaded == NULL) != (ref == NULL)) abort();
    if (loaded == NULL && strcmp(le.text, je.text) != 0) abort();
    if (loaded != NULL && !json_equal(loaded, ref)) abort();
    json_decref(loaded);
    json_decref(ref);
    return 0;
}
