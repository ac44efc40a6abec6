/*
 * test_json_fast.c — the fast reader of request bodies (util/json_fast.h)
 * reads what clients send into exactly jansson's document, and leaves
 * everything else to jansson: its document or its error.  The libFuzzer
 * harness (tests/fuzz/fuzz_json.c, make fuzz-json) does the same on
 * mutated input; this runs without clang, on fixed cases and on generated
 * documents.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json_fast.h"

static char *text_of(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); }

/* buf read by both readers: the fast one reads it (fast_reads) or gives
 * up, and jf_json_load answers as jansson does. */
static void compare(const char *buf, size_t len, int fast_reads) {
    json_error_t je, le;
    json_t *ref = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    json_t *fast = jf_json_fast(buf, len);
    if (fast_reads >= 0) cr_assert_eq(fast != NULL, fast_reads == 1, "%.*s", (int)len, buf);
    if (fast != NULL) {
        cr_assert_not_null(ref, "fast took what jansson refuses (%s): %.*s", je.text, (int)len, buf);
        char *a = text_of(fast), *b = text_of(ref);
        cr_assert_str_eq(a, b, "%.*s", (int)len, buf);
        free(a);
        free(b);
        json_decref(fast);
    }
    json_t *loaded = jf_json_load(buf, len, &le);
    cr_assert_eq(loaded == NULL, ref == NULL, "%.*s", (int)len, buf);
    if (loaded == NULL) {
        cr_assert_str_eq(le.text, je.text);
        cr_assert(le.line == je.line && le.column == je.column);
    } else {
        char *a = text_of(loaded), *b = text_of(ref);
        cr_assert_str_eq(a, b);
        free(a);
        free(b);
    }
    json_decref(loaded);
    json_decref(ref);
}

#define READ(s) compare((s), strlen(s), 1)
#define JANSSONS(s) compare((s), strlen(s), 0)

Test(json_fast, plain_bodies_are_read_fast) {
    READ("{\"type\":\"order.paid\",\"member_id\":\"m1\",\"event_id\":\"e-1\",\"amount_fen\":12800}");
    READ("{\"points\":1,\"biz_no\":\"b-1\"}");
    READ(" \t\r\n{ \"a\" : [ 1 , -2 , 0 , -0 , true , false , null , \"\" , { } , [ ] ] } \n");
    READ("{\"items\":[{\"sku\":\"A-1\",\"category\":\"food\",\"amount_fen\":100,\"quantity\":2}],"
         "\"attributes\":{\"vip\":true,\"level\":3}}");
    READ("[]");
    READ("{}");
    READ("{\"a\":{\"a\":{\"a\":1}},\"b\":\"~!@#$%^&*()_+`-={}|[]:;'<>?,./\"}");
    READ("{\"n\":999999999999999999,\"m\":-999999999999999999}"); /* 18 digits */
    /* 32 levels */
    char deep[200] = "";
    for (int i = 0; i < 32; i++) strcat(deep, "[");
    for (int i = 0; i < 32; i++) strcat(deep, "]");
    READ(deep);
}

Test(json_fast, anything_else_is_janssons) {
    const char *cases[] = {
        "", " ", "1", "\"s\"", "true", "null", /* not an object or an array */
        "{\"a\":\"\\n\"}", "{\"a\":\"\\u00e9\"}", "{\"a\\\"b\":1}", /* escapes */
        "{\"a\":\"积分\"}", "{\"a\":\"\xe9\"}", "{\"a\":\"\x7f\"}", "{\"a\":\"\x01\"}", /* not printable ASCII */
        "{\"a\":1.5}", "{\"a\":1e3}", "{\"a\":-0.0}", "{\"a\":1E-2}", /* reals */
        "{\"a\":1234567890123456789}", "{\"a\":-9223372036854775808}", "{\"a\":99999999999999999999}",
        "{\"a\":1,\"a\":2}", /* a duplicate */
        "{\"a\":01}", "{\"a\":-}", "{\"a\":+1}", "{\"a\":.5}", "{\"a\":1.}", /* bad numbers */
        "{\"a\":tru}", "{\"a\":truex}", "{\"a\":nul}", "{\"a\":True}", /* bad literals */
        "{\"a\":1,}", "[1,]", "{,}", "{\"a\"}", "{\"a\" 1}", "{1:2}", "{\"a\":1 \"b\":2}", "[1 2]",
        "{\"a\":1}x", "{\"a\":1}{}", "{\"a\":1", "{\"a\":", "{\"a", "[", "{", "]", "}", /* broken */
        "\xef\xbb\xbf{}", /* a byte-order mark */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) JANSSONS(cases[i]);
    compare("{\"a\":\"b\0c\"}", 11, 0); /* a NUL byte */
    compare("{\"a\":1}\0", 8, 0);
    char deep[200] = "";
    for (int i = 0; i < 33; i++) strcat(deep, "[");
    for (int i = 0; i < 33; i++) strcat(deep, "]");
    JANSSONS(deep); /* 33 levels */
}

/* Documents put together at random from pieces that are mostly valid,
 * sometimes cut or spoiled: both readers agree on every one. */
static void piece(unsigned *seed, char *out, size_t *o, size_t cap, int depth) {
    static const char *const atoms[] = {"0", "-1", "12800", "999999999999999999", "1234567890123456789", "1.5",
                                        "true", "false", "null", "\"\"", "\"a b\"", "\"\\n\"", "\"积\"", "-0",
                                        "01", "tru", "\"x", "1e2"};
    if (*o + 64 >= cap) return;
    int pick = depth > 4 ? 2 : rand_r(seed) % 3;
    if (pick == 2) {
        const char *a = atoms[(size_t)rand_r(seed) % (sizeof atoms / sizeof atoms[0])];
        *o += (size_t)snprintf(out + *o, cap - *o, "%s", a);
        return;
    }
    bool object = pick == 0;
    out[(*o)++] = object ? '{' : '[';
    int n = rand_r(seed) % 4;
    for (int i = 0; i < n && *o + 64 < cap; i++) {
        if (i > 0) out[(*o)++] = ',';
        if (rand_r(seed) % 8 == 0) out[(*o)++] = ' ';
        if (object) *o += (size_t)snprintf(out + *o, cap - *o, "\"k%d\":", rand_r(seed) % (n + 1));
        piece(seed, out, o, cap, depth + 1);
    }
    if (rand_r(seed) % 50 != 0) out[(*o)++] = object ? '}' : ']';
    out[*o] = '\0';
}

Test(json_fast, generated_documents_read_alike) {
    unsigned seed = 3;
    char buf[4096];
    int fast = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t o = 0;
        buf[0] = '\0';
        piece(&seed, buf, &o, sizeof buf, 0);
        if (o > 0 && rand_r(&seed) % 10 == 0) buf[rand_r(&seed) % o] = "{}[],:\" x1"[rand_r(&seed) % 10];
        json_t *v = jf_json_fast(buf, o);
        fast += v != NULL;
        json_decref(v);
        compare(buf, o, -1);
    }
    cr_assert_gt(fast, 2000, "the fast reader read %d of them", fast);
}
