/*
 * render.c — JSON for members, entries, lots, holds, tenants and keys.
 */
#include "http/render.h"

#include <stdio.h>
#include <string.h>

#include "engine/expiry.h"
#include "util/tz.h"

/* A time as RFC 3339 in the zone (UTC if the zone fails); false: none
 * (0 or "never"), shown as null. */
static bool time_text(const char *tz, int64_t ms, char buf[64]) {
    if (ms == 0 || ms == JF_NEVER) return false;
    return jf_tz_format_rfc3339(tz, ms, buf, 64) || jf_tz_format_rfc3339("UTC", ms, buf, 64);
}

json_t *jf_render_time(const char *tz, int64_t ms) {
    char buf[64];
    return time_text(tz, ms, buf) ? json_string(buf) : json_null();
}

void jf_render_time_text(jf_json_text *b, const char *tz, int64_t ms) {
    char buf[64];
    if (time_text(tz, ms, buf)) jf_json_str(b, buf, strlen(buf));
    else jf_json_lit(b, "null");
}

/* Text the store gave back; "" is shown as null. */
static json_t *text_or_null(const char *s) {
    if (s == NULL || s[0] == '\0') return json_null();
    json_t *v = json_string(s);
    return v ? v : json_null();
}

/* ---- the ledger's records, written straight as JSON text: they are in
 * every write's answer and in the hottest read (GET member), and building a
 * jansson tree of them only to encode it took over a third of a loop
 * thread's instructions per GET member (callgrind). ---- */

static void put_text_or_null(jf_json_text *b, const char *s) {
    if (s == NULL || s[0] == '\0') jf_json_lit(b, "null");
    else jf_json_cstr(b, s);
}

static void put_id_or_null(jf_json_text *b, int64_t id) {
    if (id) jf_json_int(b, id);
    else jf_json_lit(b, "null");
}

#define KEY_TEXT(b, key, s) (jf_json_lit(b, key), put_text_or_null(b, s))
#define KEY_ID(b, key, id) (jf_json_lit(b, key), put_id_or_null(b, id))

void jf_render_points_text(jf_json_text *b, const jf_account *a) {
    JF_KEY_INT(b, "{\"available\":", a->available);
    JF_KEY_INT(b, ",\"frozen\":", a->frozen);
    JF_KEY_INT(b, ",\"pending\":", a->pending);
    JF_KEY_INT(b, ",\"debt\":", a->debt);
    JF_KEY_INT(b, ",\"earned\":", a->earned);
    JF_KEY_INT(b, ",\"spent\":", a->spent);
    JF_KEY_INT(b, ",\"expired\":", a->expired);
    jf_json_char(b, '}');
}

void jf_render_member_text(jf_json_text *b, const jf_tenant *t, const jf_member *m) {
    JF_KEY_STR(b, "{\"member_id\":", m->ext_id);
    JF_KEY_STR(b, ",\"status\":", jf_member_status_name(m->status));
    jf_json_lit(b, ",\"points\":");
    jf_render_points_text(b, &m->acct);
    JF_KEY_INT(b, ",\"entries\":", m->entry_seq);
    JF_KEY_TIME(b, ",\"created_at\":", t->timezone, m->created_at_ms);
    JF_KEY_TIME(b, ",\"updated_at\":", t->timezone, m->updated_at_ms);
    jf_json_char(b, '}');
}

static void put_hash_hex(jf_json_text *b, const uint8_t h[JF_HASH_BYTES]) {
    static const char digits[] = "0123456789abcdef";
    char hex[2 * JF_HASH_BYTES];
    for (int i = 0; i < JF_HASH_BYTES; i++) {
        hex[2 * i] = digits[h[i] >> 4];
        hex[2 * i + 1] = digits[h[i] & 15];
    }
    jf_json_char(b, '"');
    jf_json_raw(b, hex, sizeof hex);
    jf_json_char(b, '"');
}

void jf_render_entry_text(jf_json_text *b, const jf_tenant *t, const char *member_id, const jf_entry *e) {
    JF_KEY_INT(b, "{\"entry_id\":", e->id);
    JF_KEY_STR(b, ",\"member_id\":", member_id);
    JF_KEY_INT(b, ",\"seq\":", e->seq);
    JF_KEY_STR(b, ",\"kind\":", jf_entry_kind_name(e->kind));
    JF_KEY_INT(b, ",\"points\":", e->points);
    JF_KEY_INT(b, ",\"available_after\":", e->available_after);
    JF_KEY_INT(b, ",\"change\":{\"available\":", e->delta.available);
    JF_KEY_INT(b, ",\"frozen\":", e->delta.frozen);
    JF_KEY_INT(b, ",\"pending\":", e->delta.pending);
    JF_KEY_INT(b, ",\"debt\":", e->delta.debt);
    KEY_TEXT(b, "},\"scene\":", e->scene);
    KEY_TEXT(b, ",\"biz_no\":", e->biz_no);
    KEY_TEXT(b, ",\"reason\":", e->reason);
    KEY_TEXT(b, ",\"operator\":", e->operator_id);
    KEY_ID(b, ",\"ref_entry_id\":", e->ref_entry_id);
    KEY_ID(b, ",\"lot_id\":", e->lot_id);
    KEY_ID(b, ",\"hold_id\":", e->hold_id);
    JF_KEY_TIME(b, ",\"created_at\":", t->timezone, e->created_at_ms);
    jf_json_lit(b, ",\"hash\":");
    put_hash_hex(b, e->hash);
    jf_json_char(b, '}');
}

void jf_render_lot_text(jf_json_text *b, const jf_tenant *t, const jf_lot *l) {
    JF_KEY_INT(b, "{\"lot_id\":", l->id);
    KEY_ID(b, ",\"entry_id\":", l->entry_id);
    JF_KEY_INT(b, ",\"amount\":", l->amount);
    JF_KEY_INT(b, ",\"remaining\":", l->remaining);
    JF_KEY_STR(b, ",\"state\":", jf_lot_state_name(l->state));
    JF_KEY_TIME(b, ",\"available_at\":", t->timezone, l->available_at_ms);
    JF_KEY_TIME(b, ",\"expires_at\":", t->timezone, l->expires_at_ms);
    JF_KEY_TIME(b, ",\"created_at\":", t->timezone, l->created_at_ms);
    jf_json_char(b, '}');
}

void jf_render_hold_text(jf_json_text *b, const jf_tenant *t, const char *member_id, const jf_hold *h) {
    JF_KEY_INT(b, "{\"hold_id\":", h->id);
    JF_KEY_STR(b, ",\"member_id\":", member_id);
    JF_KEY_INT(b, ",\"points\":", h->points);
    JF_KEY_INT(b, ",\"captured\":", h->captured);
    JF_KEY_STR(b, ",\"state\":", jf_hold_state_name(h->state));
    KEY_TEXT(b, ",\"biz_no\":", h->biz_no);
    KEY_ID(b, ",\"entry_id\":", h->entry_id);
    JF_KEY_TIME(b, ",\"expires_at\":", t->timezone, h->expires_at_ms);
    JF_KEY_TIME(b, ",\"created_at\":", t->timezone, h->created_at_ms);
    JF_KEY_TIME(b, ",\"closed_at\":", t->timezone, h->closed_at_ms);
    jf_json_char(b, '}');
}

void jf_render_result_text(jf_json_text *b, const jf_tenant *t, const jf_result *r) {
    const char *mid = r->member.ext_id;
    JF_KEY_STR(b, "{\"member_id\":", mid);
    jf_json_lit(b, ",\"points\":");
    jf_render_points_text(b, &r->member.acct);
    jf_json_lit(b, ",\"entry\":");
    jf_render_entry_text(b, t, mid, &r->entry);
    if (r->has_hold) {
        jf_json_lit(b, ",\"hold\":");
        jf_render_hold_text(b, t, mid, &r->hold);
    }
    if (r->has_extra) {
        jf_json_lit(b, ",\"release_entry\":");
        jf_render_entry_text(b, t, mid, &r->extra);
    }
    if (r->op == JF_OP_REVERSE) {
        JF_KEY_INT(b, ",\"reversal\":{\"reversed\":", r->reversed_points);
        JF_KEY_INT(b, ",\"debt\":", r->debt_points);
        JF_KEY_INT(b, ",\"clamped\":", r->clamped_points);
        jf_json_char(b, '}');
    }
    jf_json_char(b, '}');
}

static json_t *render_expiry(const jf_expiry_policy *p) {
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(jf_expiry_kind_name(p->kind)));
    if (p->kind == JF_EXPIRY_ROLLING) {
        json_object_set_new(o, "n", json_integer(p->n));
        json_object_set_new(o, "unit", json_string(jf_expiry_unit_name(p->unit)));
        json_object_set_new(o, "round", json_string(jf_expiry_round_name(p->round)));
    } else if (p->kind == JF_EXPIRY_ANNUAL) {
        char md[8];
        snprintf(md, sizeof md, "%02d-%02d", (int)p->clear_month % 100, (int)p->clear_day % 100);
        json_object_set_new(o, "clear_date", json_string(md));
        json_object_set_new(o, "years", json_integer(p->years));
    }
    return o;
}

json_t *jf_render_tenant(const jf_tenant *t) {
    json_t *o = json_object();
    json_object_set_new(o, "tenant", json_string(t->slug));
    json_object_set_new(o, "name", text_or_null(t->name));
    json_object_set_new(o, "timezone", json_string(t->timezone));
    json_object_set_new(o, "expiry", render_expiry(&t->expiry));
    json_object_set_new(o, "refund_policy", json_string(jf_refund_policy_name(t->refund)));
    json_object_set_new(o, "created_at", jf_render_time(t->timezone, t->created_at_ms));
    json_object_set_new(o, "updated_at", jf_render_time(t->timezone, t->updated_at_ms));
    return o;
}

json_t *jf_render_key(const jf_tenant *t, const jf_api_key *k) {
    json_t *o = json_object();
    json_object_set_new(o, "key_id", json_integer(k->id));
    json_object_set_new(o, "name", text_or_null(k->name));
    json_object_set_new(o, "role", json_string(jf_role_name(k->role)));
    json_object_set_new(o, "prefix", json_string(k->prefix));
    json_object_set_new(o, "created_at", jf_render_time(t->timezone, k->created_at_ms));
    json_object_set_new(o, "revoked_at", jf_render_time(t->timezone, k->revoked_at_ms));
    return o;
}
