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

static json_t *id_or_null(int64_t id) { return id ? json_integer(id) : json_null(); }

/* An object of named integers, in order (json_pack parses its format on
 * every call; this runs for every response). */
typedef struct {
    const char *name;
    int64_t value;
} named_int;

static json_t *int_object(const named_int *f, size_t n) {
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) json_object_set_new_nocheck(o, f[i].name, json_integer(f[i].value));
    return o;
}

#define POINTS_FIELDS(a)                                                                                     \
    {{"available", (a)->available}, {"frozen", (a)->frozen}, {"pending", (a)->pending}, {"debt", (a)->debt},  \
     {"earned", (a)->earned},       {"spent", (a)->spent},   {"expired", (a)->expired}}

json_t *jf_render_points(const jf_account *a) {
    const named_int f[] = POINTS_FIELDS(a);
    return int_object(f, sizeof f / sizeof f[0]);
}

json_t *jf_render_member(const jf_tenant *t, const jf_member *m) {
    json_t *o = json_object();
    json_object_set_new(o, "member_id", json_string(m->ext_id));
    json_object_set_new(o, "status", json_string(jf_member_status_name(m->status)));
    json_object_set_new(o, "points", jf_render_points(&m->acct));
    json_object_set_new(o, "entries", json_integer(m->entry_seq));
    json_object_set_new(o, "created_at", jf_render_time(t->timezone, m->created_at_ms));
    json_object_set_new(o, "updated_at", jf_render_time(t->timezone, m->updated_at_ms));
    return o;
}

/* The same, as text (keep the two in step; test_json_out compares them). */
void jf_render_member_text(jf_json_text *b, const jf_tenant *t, const jf_member *m) {
    jf_json_lit(b, "{\"member_id\":");
    jf_json_str(b, m->ext_id, strlen(m->ext_id));
    const char *status = jf_member_status_name(m->status);
    jf_json_lit(b, ",\"status\":");
    jf_json_str(b, status, strlen(status));
    jf_json_lit(b, ",\"points\":{");
    const named_int f[] = POINTS_FIELDS(&m->acct);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (i > 0) jf_json_char(b, ',');
        jf_json_str(b, f[i].name, strlen(f[i].name));
        jf_json_char(b, ':');
        jf_json_int(b, f[i].value);
    }
    jf_json_lit(b, "},\"entries\":");
    jf_json_int(b, m->entry_seq);
    jf_json_lit(b, ",\"created_at\":");
    jf_render_time_text(b, t->timezone, m->created_at_ms);
    jf_json_lit(b, ",\"updated_at\":");
    jf_render_time_text(b, t->timezone, m->updated_at_ms);
    jf_json_char(b, '}');
}

static json_t *hash_hex(const uint8_t h[JF_HASH_BYTES]) {
    static const char digits[] = "0123456789abcdef";
    char hex[2 * JF_HASH_BYTES + 1];
    for (int i = 0; i < JF_HASH_BYTES; i++) {
        hex[2 * i] = digits[h[i] >> 4];
        hex[2 * i + 1] = digits[h[i] & 15];
    }
    hex[2 * JF_HASH_BYTES] = '\0';
    return json_string(hex);
}

json_t *jf_render_entry(const jf_tenant *t, const char *member_id, const jf_entry *e) {
    json_t *o = json_object();
    json_object_set_new(o, "entry_id", json_integer(e->id));
    json_object_set_new(o, "member_id", json_string(member_id));
    json_object_set_new(o, "seq", json_integer(e->seq));
    json_object_set_new(o, "kind", json_string(jf_entry_kind_name(e->kind)));
    json_object_set_new(o, "points", json_integer(e->points));
    json_object_set_new(o, "available_after", json_integer(e->available_after));
    const named_int change[] = {{"available", e->delta.available},
                                {"frozen", e->delta.frozen},
                                {"pending", e->delta.pending},
                                {"debt", e->delta.debt}};
    json_object_set_new(o, "change", int_object(change, sizeof change / sizeof change[0]));
    json_object_set_new(o, "scene", text_or_null(e->scene));
    json_object_set_new(o, "biz_no", text_or_null(e->biz_no));
    json_object_set_new(o, "reason", text_or_null(e->reason));
    json_object_set_new(o, "operator", text_or_null(e->operator_id));
    json_object_set_new(o, "ref_entry_id", id_or_null(e->ref_entry_id));
    json_object_set_new(o, "lot_id", id_or_null(e->lot_id));
    json_object_set_new(o, "hold_id", id_or_null(e->hold_id));
    json_object_set_new(o, "created_at", jf_render_time(t->timezone, e->created_at_ms));
    json_object_set_new(o, "hash", hash_hex(e->hash));
    return o;
}

json_t *jf_render_lot(const jf_tenant *t, const jf_lot *l) {
    json_t *o = json_object();
    json_object_set_new(o, "lot_id", json_integer(l->id));
    json_object_set_new(o, "entry_id", id_or_null(l->entry_id));
    json_object_set_new(o, "amount", json_integer(l->amount));
    json_object_set_new(o, "remaining", json_integer(l->remaining));
    json_object_set_new(o, "state", json_string(jf_lot_state_name(l->state)));
    json_object_set_new(o, "available_at", jf_render_time(t->timezone, l->available_at_ms));
    json_object_set_new(o, "expires_at", jf_render_time(t->timezone, l->expires_at_ms));
    json_object_set_new(o, "created_at", jf_render_time(t->timezone, l->created_at_ms));
    return o;
}

json_t *jf_render_hold(const jf_tenant *t, const char *member_id, const jf_hold *h) {
    json_t *o = json_object();
    json_object_set_new(o, "hold_id", json_integer(h->id));
    json_object_set_new(o, "member_id", json_string(member_id));
    json_object_set_new(o, "points", json_integer(h->points));
    json_object_set_new(o, "captured", json_integer(h->captured));
    json_object_set_new(o, "state", json_string(jf_hold_state_name(h->state)));
    json_object_set_new(o, "biz_no", text_or_null(h->biz_no));
    json_object_set_new(o, "entry_id", id_or_null(h->entry_id));
    json_object_set_new(o, "expires_at", jf_render_time(t->timezone, h->expires_at_ms));
    json_object_set_new(o, "created_at", jf_render_time(t->timezone, h->created_at_ms));
    json_object_set_new(o, "closed_at", jf_render_time(t->timezone, h->closed_at_ms));
    return o;
}

json_t *jf_render_result(const jf_tenant *t, const jf_result *r) {
    const char *mid = r->member.ext_id;
    json_t *o = json_object();
    json_object_set_new(o, "member_id", json_string(mid));
    json_object_set_new(o, "points", jf_render_points(&r->member.acct));
    json_object_set_new(o, "entry", jf_render_entry(t, mid, &r->entry));
    if (r->has_hold) json_object_set_new(o, "hold", jf_render_hold(t, mid, &r->hold));
    if (r->has_extra) json_object_set_new(o, "release_entry", jf_render_entry(t, mid, &r->extra));
    if (r->op == JF_OP_REVERSE)
        json_object_set_new(o, "reversal",
                            json_pack("{sI sI sI}", "reversed", (json_int_t)r->reversed_points, "debt",
                                      (json_int_t)r->debt_points, "clamped", (json_int_t)r->clamped_points));
    return o;
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
