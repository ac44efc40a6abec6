/*
 * result.c — exactly-once: the idempotency record of each write, and the
 * encoding of a result so that a replay answers exactly what the first
 * request was answered.
 *
 * The record keeps the ids of what the operation wrote (entries are
 * immutable, so they are read back as they were) and a snapshot of what
 * changes later (the member's account, the hold's state).  The snapshot is a
 * small JSON object; its keys are short because there is one per write.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "util/json_text.h"

/* Written by hand rather than with json_pack: this runs on every write and
 * json_pack's format parsing and allocations were 15% of an earn (and
 * snprintf's, after that, ~6k instructions). */
jf_code jf_result_encode(const jf_result *r, char *buf, size_t cap) {
    const jf_account *a = &r->member.acct;
    jf_json_text t = {0};
#define KEY(k) jf_json_raw(&t, k, sizeof k - 1)
    KEY("{\"v\":1,\"m\":");
    jf_json_int(&t, r->member.id);
    KEY(",\"st\":");
    jf_json_int(&t, (int64_t)r->member.status);
    const int64_t acct[] = {a->available, a->frozen, a->pending, a->debt, a->earned, a->spent, a->expired};
    KEY(",\"a\":[");
    for (size_t i = 0; i < sizeof acct / sizeof acct[0]; i++) {
        if (i) jf_json_char(&t, ',');
        jf_json_int(&t, acct[i]);
    }
    KEY("],\"e\":");
    jf_json_int(&t, r->entry.id);
    KEY(",\"x\":");
    jf_json_int(&t, r->has_extra ? r->extra.id : 0);
    KEY(",\"r\":[");
    jf_json_int(&t, r->reversed_points);
    jf_json_char(&t, ',');
    jf_json_int(&t, r->debt_points);
    jf_json_char(&t, ',');
    jf_json_int(&t, r->clamped_points);
    jf_json_char(&t, ']');
    if (r->has_hold) {
        KEY(",\"h\":[");
        jf_json_int(&t, r->hold.id);
        jf_json_char(&t, ',');
        jf_json_int(&t, r->hold.captured);
        jf_json_char(&t, ',');
        jf_json_int(&t, (int64_t)r->hold.state);
        jf_json_char(&t, ',');
        jf_json_int(&t, r->hold.closed_at_ms);
        jf_json_char(&t, ']');
    }
    jf_json_char(&t, '}');
#undef KEY
    size_t n = 0;
    char *text = jf_json_text_take(&t, &n);
    jf_code rc = text != NULL && n < cap ? JF_OK : JF_INTERNAL;
    if (rc == JF_OK) memcpy(buf, text, n + 1);
    free(text);
    return rc;
}

jf_code jf_result_decode(jf_store *s, const char *buf, jf_result *out, jf_error *err) {
    json_error_t jerr;
    json_t *o = json_loads(buf, 0, &jerr);
    if (o == NULL) return jf_fail(err, JF_INTERNAL, "", "stored result unreadable: %s", jerr.text);
    json_int_t m = 0, e = 0, x = 0, acct[7] = {0}, rev[3] = {0};
    int st = 0, v = 0;
    json_t *h = NULL;
    int bad = json_unpack_ex(o, &jerr, 0, "{s:i, s:I, s:i, s:[I,I,I,I,I,I,I], s:I, s:I, s:[I,I,I], s?o}", "v", &v,
                             "m", &m, "st", &st, "a", &acct[0], &acct[1], &acct[2], &acct[3], &acct[4], &acct[5],
                             &acct[6], "e", &e, "x", &x, "r", &rev[0], &rev[1], &rev[2], "h", &h);
    jf_code rc = JF_OK;
    json_int_t hid = 0, hcap = 0, hclosed = 0;
    int hstate = 0;
    if (!bad && h) bad = json_unpack_ex(h, &jerr, 0, "[I,I,i,I]", &hid, &hcap, &hstate, &hclosed);
    if (bad) rc = jf_fail(err, JF_INTERNAL, "", "stored result malformed: %s", jerr.text);
    if (rc == JF_OK) rc = ST(s, member_get_by_id, m, false, &out->member, err);
    if (rc == JF_OK) {
        jf_account *a = &out->member.acct;
        *a = (jf_account){acct[0], acct[1], acct[2], acct[3], acct[4], acct[5], acct[6]};
        out->member.status = (jf_member_status)st;
        out->reversed_points = rev[0];
        out->debt_points = rev[1];
        out->clamped_points = rev[2];
        rc = ST(s, entry_get, e, &out->entry, err);
    }
    if (rc == JF_OK && x) {
        out->has_extra = true;
        rc = ST(s, entry_get, x, &out->extra, err);
    }
    if (rc == JF_OK && h) {
        out->has_hold = true;
        rc = ST(s, hold_get, hid, &out->hold, err);
        out->hold.captured = hcap;
        out->hold.state = (jf_hold_state)hstate;
        out->hold.closed_at_ms = hclosed;
    }
    json_decref(o);
    /* Anything missing here means the database lost rows it promised. */
    if (rc == JF_NOT_FOUND) rc = jf_fail(err, JF_INTERNAL, "", "a replayed result refers to a missing row");
    return rc;
}

jf_code jf_idem_lookup(const jf_ctx *c, const char *biz_no, jf_op_kind op, const uint8_t fp[JF_HASH_BYTES],
                       jf_result *out, bool *replayed, jf_error *err) {
    jf_idem rec;
    *replayed = false;
    jf_code rc = ST(c->store, idem_get, c->tenant->id, biz_no, &rec, err);
    if (rc == JF_NOT_FOUND) return JF_OK;
    TRY(rc);
    if (rec.op != op || memcmp(rec.fingerprint, fp, JF_HASH_BYTES) != 0)
        return jf_fail(err, JF_IDEMPOTENCY_CONFLICT, "biz_no",
                       "biz_no %s was already used for a different request", biz_no);
    memset(out, 0, sizeof *out);
    out->op = op;
    TRY(jf_result_decode(c->store, rec.result, out, err));
    out->replayed = true;
    *replayed = true;
    return JF_OK;
}

jf_code jf_idem_record(const jf_ctx *c, const char *biz_no, const uint8_t fp[JF_HASH_BYTES], const jf_result *res,
                       jf_error *err) {
    jf_idem rec = {
        .tenant_id = c->tenant->id,
        .op = res->op,
        .member_id = res->member.id,
        .entry_id = res->entry.id,
        .created_at_ms = c->now_ms,
    };
    snprintf(rec.biz_no, sizeof rec.biz_no, "%s", biz_no);
    memcpy(rec.fingerprint, fp, JF_HASH_BYTES);
    if (jf_result_encode(res, rec.result, sizeof rec.result) != JF_OK)
        return jf_fail(err, JF_INTERNAL, "", "cannot encode the result");
    jf_code rc = ST(c->store, idem_insert, &rec, err);
    /* The same biz_no committed by another server meanwhile: run again, and
     * the lookup will answer it. */
    if (rc == JF_ALREADY_EXISTS) return jf_fail(err, JF_RETRY, "biz_no", "biz_no used concurrently");
    return rc;
}

/* Fetch a whole list through a capped store call, growing the buffer. */
#define FETCH_ALL(type, call_with_cap)                                         \
    size_t cap = 16;                                                           \
    type *v = NULL;                                                            \
    for (;;) {                                                                 \
        type *nv = realloc(v, cap * sizeof *v);                                \
        if (nv == NULL) {                                                      \
            free(v);                                                           \
            return jf_fail(err, JF_INTERNAL, "", "out of memory");             \
        }                                                                      \
        v = nv;                                                                \
        size_t got = 0;                                                        \
        jf_code rc = call_with_cap;                                            \
        if (rc != JF_OK) {                                                     \
            free(v);                                                           \
            return rc;                                                         \
        }                                                                      \
        if (got < cap) {                                                       \
            *n = got;                                                          \
            break;                                                             \
        }                                                                      \
        if (cap >= (size_t)1 << 24) {                                          \
            free(v);                                                           \
            return jf_fail(err, JF_LIMIT_EXCEEDED, "", "too many rows");       \
        }                                                                      \
        cap *= 4;                                                              \
    }

jf_code jf_entries_by_ref(jf_store *s, int64_t ref, int kind, jf_entry **out, size_t *n, jf_error *err) {
    FETCH_ALL(jf_entry, ST(s, entry_list_by_ref, ref, v, cap, &got, err));
    if (kind >= 0) {
        size_t k = 0;
        for (size_t i = 0; i < *n; i++)
            if ((int)v[i].kind == kind) v[k++] = v[i];
        *n = k;
    }
    *out = v;
    return JF_OK;
}

jf_code jf_moves_of_entry(jf_store *s, int64_t entry_id, jf_lot_move **out, size_t *n, jf_error *err) {
    FETCH_ALL(jf_lot_move, ST(s, move_list_by_entry, entry_id, v, cap, &got, err));
    *out = v;
    return JF_OK;
}

jf_code jf_holds_open_all(jf_store *s, int64_t member_id, jf_hold **out, size_t *n, jf_error *err) {
    FETCH_ALL(jf_hold, ST(s, hold_list_open, member_id, INT64_MAX, v, cap, &got, err));
    *out = v;
    return JF_OK;
}
