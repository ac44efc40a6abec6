/*
 * test_json_out.c — the response encoder writes exactly what
 * json_dumps(doc, JSON_COMPACT) writes, for every kind of value a response
 * can hold (and a few it never does).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/json_out.h"

static void same_as_jansson(json_t *doc) {
    cr_assert_not_null(doc);
    char *want = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    cr_assert_not_null(want);
    size_t len = 0;
    char *got = jf_json_encode(doc, &len);
    cr_assert_not_null(got);
    cr_assert_eq(len, strlen(want), "length %zu, jansson %zu: %s vs %s", len, strlen(want), got, want);
    cr_assert_str_eq(got, want);
    free(got);
    free(want);
    json_decref(doc);
}

Test(json_out, scalars) {
    same_as_jansson(json_integer(0));
    same_as_jansson(json_integer(-1));
    same_as_jansson(json_integer(9007199254740991LL));
    same_as_jansson(json_integer(INT64_MAX));
    same_as_jansson(json_integer(INT64_MIN));
    same_as_jansson(json_true());
    same_as_jansson(json_false());
    same_as_jansson(json_null());
    same_as_jansson(json_real(0.5));
    same_as_jansson(json_real(1e300));
    same_as_jansson(json_string(""));
}

Test(json_out, strings_are_escaped_as_jansson_does) {
    same_as_jansson(json_string("plain ascii / slash"));
    same_as_jansson(json_string("quote \" backslash \\ end"));
    same_as_jansson(json_string("\b\f\n\r\t\x01\x1f\x7f"));
    same_as_jansson(json_string("积分 — emoji \xF0\x9F\x98\x80"));
    same_as_jansson(json_stringn("nul\0inside", 10));
    char all[128];
    for (int i = 1; i < 128; i++) all[i - 1] = (char)i;
    all[127] = '\0';
    same_as_jansson(json_string(all));
}

Test(json_out, nested_documents_keep_key_order) {
    json_t *doc = json_pack("{s:s, s:{s:I, s:I, s:[i, s, n, b, {}, []]}, s:o, s:{}}", "z", "last-key-first", "points",
                            "available", (json_int_t)10, "debt", (json_int_t)-3, "list", 1, "two", 0, "a",
                            json_string("x\ny"), "empty");
    json_object_set_new(doc, "m\"key", json_integer(5));
    same_as_jansson(doc);
    same_as_jansson(json_array());
    same_as_jansson(json_object());
}

Test(json_out, too_deep_is_refused_not_overflowed) {
    json_t *doc = json_array();
    json_t *cur = doc;
    for (int i = 0; i < 200; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    size_t len = 0;
    cr_assert_null(jf_json_encode(doc, &len));
    json_decref(doc);
}
