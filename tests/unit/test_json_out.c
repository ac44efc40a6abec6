/*
 * test_json_out.c — the response encoder writes exactly what
 * json_dumps(doc, JSON_COMPACT) writes, for every kind of value a response
 * can hold (and a few it never does); the ledger's records written
 * straight as text are exactly the expected JSON; and a task written as
 * text is what its json_t renderer gives, encoded.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/handlers.h"
#include "http/json_out.h"
#include "http/render.h"

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

/* Integers are written two digits at a time after counting the digits:
 * every length, at both ends. */
Test(json_out, integers_of_every_length) {
    for (int k = 0; k < 19; k++) {
        int64_t p = 1;
        for (int i = 0; i < k; i++) p *= 10;
        for (int64_t d = -1; d <= 1; d++) {
            same_as_jansson(json_integer(p + d));
            same_as_jansson(json_integer(-(p + d)));
        }
    }
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

/* The escaper skips clean text 8 bytes at a time: every character that
 * needs escaping, at every offset of a word and in the tail after it. */
Test(json_out, escapes_at_every_offset_of_a_word) {
    const char special[] = {'"', '\\', '\n', '\x01', '\x1f', '\x7f', ' '};
    for (int utf8 = 0; utf8 < 2; utf8++)
        for (size_t len = 2; len <= 24; len += 2)
            for (size_t at = 0; at < len; at += 1 + (size_t)utf8)
                for (size_t k = 0; k < sizeof special; k++) {
                    /* Filler "aa…" or "éé…" (two bytes, both above 0x7f). */
                    char text[32];
                    for (size_t i = 0; i < len; i += 2) memcpy(text + i, utf8 ? "\xc3\xa9" : "aa", 2);
                    text[at] = special[k];
                    if (utf8) text[at + 1] = 'b';
                    if (at + 2 < len) {
                        text[len - 2] = special[(k + 1) % sizeof special];
                        text[len - 1] = 'c';
                    }
                    same_as_jansson(json_stringn(text, len));
                }
}

static void same_sorted(json_t *doc) {
    cr_assert_not_null(doc);
    char *want = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    size_t len = 0;
    char *got = jf_json_encode_sorted(doc, &len);
    cr_assert_not_null(got);
    cr_assert_str_eq(got, want);
    cr_assert_eq(len, strlen(want));
    free(got);
    free(want);
    json_decref(doc);
}

/* The fingerprint of an event is the hash of this text: it must stay
 * json_dumps's, or events recorded before would conflict with their replays. */
Test(json_out, sorted_keys_as_jansson_sorts_them) {
    same_sorted(json_pack("{s:s, s:i, s:i, s:i, s:i, s:{s:i, s:i, s:[{s:i, s:i}]}}", "type", "order.paid", "b", 1,
                          "ab", 2, "a", 3, "", 4, "attributes", "z", 1, "y", 2, "items", "sku", 5, "amount_fen", 6));
    same_sorted(json_pack("{s:s, s:s, s:s, s:f}", "生鲜", "x", "Zeta", "y", "zeta", "z", "real", 0.25));
    same_sorted(json_object());
    same_sorted(json_integer(7));
    json_t *wide = json_object();
    for (int i = 0; i < 64; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", (i * 37) % 64);
        json_object_set_new(wide, key, json_integer(i));
    }
    same_sorted(wide);
    json_t *too_wide = json_object();
    for (int i = 0; i < 65; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(too_wide, key, json_integer(i));
    }
    size_t len = 0;
    cr_assert_null(jf_json_encode_sorted(too_wide, &len), "more members than it sorts in place: the caller's fallback");
    json_decref(too_wide);
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

/* ---- the records written straight as text: the exact text, and valid
 * JSON that jansson reads back to the same values ---- */

static void text_is(jf_json_text *b, const char *want) {
    size_t got_len = 0;
    char *got = jf_json_text_take(b, &got_len);
    cr_assert_not_null(got);
    cr_assert_str_eq(got, want);
    cr_assert_eq(got_len, strlen(want));
    json_error_t jerr;
    json_t *doc = json_loads(got, 0, &jerr);
    cr_assert_not_null(doc, "not JSON: %s at %d: %s", jerr.text, jerr.position, got);
    json_decref(doc);
    free(got);
}

static void same_text(json_t *doc, jf_json_text *b) {
    size_t want_len = 0, got_len = 0;
    char *want = jf_json_encode(doc, &want_len);
    char *got = jf_json_text_take(b, &got_len);
    cr_assert_not_null(want);
    cr_assert_not_null(got);
    cr_assert_str_eq(got, want);
    cr_assert_eq(got_len, want_len);
    free(want);
    free(got);
    json_decref(doc);
}

Test(json_out, ledger_records_as_text) {
    jf_tenant t = {.id = 1};
    snprintf(t.timezone, sizeof t.timezone, "Asia/Shanghai");
    jf_member m = {.id = 3, .tenant_id = 1, .status = JF_MEMBER_FROZEN, .entry_seq = 12,
                   .created_at_ms = 1768442400000LL, .updated_at_ms = 0};
    m.acct = (jf_account){1, 2, 3, 4, 5, 6, 9007199254740991LL};
    snprintf(m.ext_id, sizeof m.ext_id, "m \"1\" 生鲜\n");
    jf_json_text b = {0};
    jf_render_member_text(&b, &t, &m);
    text_is(&b, "{\"member_id\":\"m \\\"1\\\" 生鲜\\n\",\"status\":\"frozen\",\"points\":{\"available\":1,"
                "\"frozen\":2,\"pending\":3,\"debt\":4,\"earned\":5,\"spent\":6,\"expired\":9007199254740991},"
                "\"entries\":12,\"created_at\":\"2026-01-15T10:00:00+08:00\",\"updated_at\":null}");

    jf_result r = {.op = JF_OP_REVERSE, .member = m, .reversed_points = 7, .debt_points = 2, .clamped_points = 0,
                   .has_hold = true};
    r.entry = (jf_entry){.id = 40, .seq = 12, .kind = JF_ENTRY_REVERSE, .points = -7, .available_after = 0,
                         .delta = {.available = -5, .debt = 2}, .ref_entry_id = 39, .created_at_ms = 1768442400001LL};
    snprintf(r.entry.biz_no, sizeof r.entry.biz_no, "refund-1");
    memset(r.entry.hash, 0xab, sizeof r.entry.hash);
    r.hold = (jf_hold){.id = 8, .points = 30, .captured = 10, .state = JF_HOLD_CAPTURED, .entry_id = 41,
                       .expires_at_ms = JF_NEVER, .created_at_ms = 1768442400000LL};
    snprintf(r.hold.biz_no, sizeof r.hold.biz_no, "h-1");
    jf_render_result_text(&b, &t, &r);
    char want[2048];
    snprintf(want, sizeof want,
             "{\"member_id\":\"m \\\"1\\\" 生鲜\\n\",\"points\":{\"available\":1,\"frozen\":2,\"pending\":3,"
             "\"debt\":4,\"earned\":5,\"spent\":6,\"expired\":9007199254740991},"
             "\"entry\":{\"entry_id\":40,\"member_id\":\"m \\\"1\\\" 生鲜\\n\",\"seq\":12,\"kind\":\"reverse\","
             "\"points\":-7,\"available_after\":0,\"change\":{\"available\":-5,\"frozen\":0,\"pending\":0,"
             "\"debt\":2},\"scene\":null,\"biz_no\":\"refund-1\",\"reason\":null,\"operator\":null,"
             "\"ref_entry_id\":39,\"lot_id\":null,\"hold_id\":null,"
             "\"created_at\":\"2026-01-15T10:00:00.001+08:00\",\"hash\":\"%s\"},"
             "\"hold\":{\"hold_id\":8,\"member_id\":\"m \\\"1\\\" 生鲜\\n\",\"points\":30,\"captured\":10,"
             "\"state\":\"captured\",\"biz_no\":\"h-1\",\"entry_id\":41,\"expires_at\":null,"
             "\"created_at\":\"2026-01-15T10:00:00+08:00\",\"closed_at\":null},"
             "\"reversal\":{\"reversed\":7,\"debt\":2,\"clamped\":0}}",
             "abababababababababababababababababababababababababababababababab");
    text_is(&b, want);

    jf_lot l = {.id = 5, .entry_id = 0, .amount = 100, .remaining = 60, .state = JF_LOT_ACTIVE,
                .available_at_ms = 0, .expires_at_ms = 1768442400000LL, .created_at_ms = 1768442400000LL};
    jf_render_lot_text(&b, &t, &l);
    text_is(&b, "{\"lot_id\":5,\"entry_id\":null,\"amount\":100,\"remaining\":60,\"state\":\"active\","
                "\"available_at\":null,\"expires_at\":\"2026-01-15T10:00:00+08:00\","
                "\"created_at\":\"2026-01-15T10:00:00+08:00\"}");
}

/* The tasks an event's answer shows are what the tasks endpoints show. */
Test(json_out, task_state_as_text) {
    jf_tenant t = {.id = 1};
    snprintf(t.timezone, sizeof t.timezone, "Asia/Shanghai");
    jf_json_text b = {0};
    jf_task_state s = {.task_id = 4, .task_version = 2, .period = JF_TASK_WEEKLY, .goal_is_sum = true, .claim = true,
                       .goal = 30000, .reward_points = 30, .period_start_ms = 1768147200000LL,
                       .period_end_ms = 1768752000000LL, .progress = 12800, .completed = true,
                       .points_awarded = 0};
    snprintf(s.name, sizeof s.name, "3 orders \\ this week");
    jf_render_task_state_text(&b, &t, &s);
    same_text(jf_render_task_state(&t, &s), &b);
    s = (jf_task_state){.task_id = 5, .period = JF_TASK_ONCE, .period_end_ms = INT64_MAX, .rewarded = true,
                        .points_awarded = 30};
    jf_render_task_state_text(&b, &t, &s);
    same_text(jf_render_task_state(&t, &s), &b);
}
