/*
 * tenant.c — tenants, members, and the read-only queries of the ledger.
 */
#include <string.h>

#include "engine/expiry.h"
#include "engine/internal.h"
#include "util/tz.h"

void jf_tenant_defaults(jf_tenant *t) {
    memset(t, 0, sizeof *t);
    snprintf(t->timezone, sizeof t->timezone, "Asia/Shanghai");
    t->expiry.kind = JF_EXPIRY_NEVER;
    t->expiry.clear_month = 12;
    t->expiry.clear_day = 31;
    t->expiry.years = 1;
    t->refund = JF_REFUND_DEBT;
}

jf_code jf_tenant_validate(const jf_tenant *t, jf_error *err) {
    size_t n = strlen(t->slug);
    if (n == 0 || n > JF_TENANT_SLUG_LEN_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "tenant", "slug must be 1..%d characters of a-z 0-9 -",
                       JF_TENANT_SLUG_LEN_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = t->slug[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return jf_fail(err, JF_INVALID_FIELD, "tenant", "slug must be 1..%d characters of a-z 0-9 -",
                           JF_TENANT_SLUG_LEN_MAX);
    }
    TRY(jf_check_text(t->name, "name", JF_TENANT_NAME_BYTES_MAX, false, err));
    if (!jf_tz_valid(t->timezone))
        return jf_fail(err, JF_INVALID_FIELD, "timezone", "\"%s\" is not an IANA time zone (e.g. Asia/Shanghai)",
                       t->timezone);
    TRY(jf_expiry_validate(&t->expiry, err));
    if (t->refund != JF_REFUND_DEBT && t->refund != JF_REFUND_CLAMP)
        return jf_fail(err, JF_INVALID_FIELD, "refund_policy", "must be debt or clamp");
    return JF_OK;
}

jf_code jf_tenant_create(jf_store *s, jf_tenant *t, int64_t now_ms, jf_error *err) {
    TRY(jf_tenant_validate(t, err));
    t->created_at_ms = t->updated_at_ms = now_ms;
    jf_code rc = ST(s, tenant_insert, t, err);
    if (rc == JF_ALREADY_EXISTS)
        return jf_fail(err, JF_ALREADY_EXISTS, "tenant", "tenant %s already exists", t->slug);
    return rc;
}

jf_code jf_tenant_update(jf_store *s, jf_tenant *t, int64_t now_ms, jf_error *err) {
    TRY(jf_tenant_validate(t, err));
    t->updated_at_ms = now_ms;
    return ST(s, tenant_update, t, err);
}

jf_code jf_tenants_each(jf_store *s, jf_tenant_fn fn, void *arg, jf_error *err) {
    enum { PAGE = 16 };
    jf_tenant page[PAGE];
    int64_t after = 0;
    for (;;) {
        size_t n = 0;
        TRY(ST(s, begin_read, err));
        jf_code rc = ST(s, tenant_list, after, page, PAGE, &n, err);
        s->ops->rollback(s);
        TRY(rc);
        for (size_t i = 0; i < n; i++) TRY(fn(s, &page[i], arg, err));
        if (n < PAGE) return JF_OK;
        after = page[n - 1].id;
    }
}

jf_code jf_member_upsert(const jf_ctx *c, const char *member_id, int status, jf_member *out, bool *created,
                         jf_error *err) {
    TRY(jf_check_member_id(member_id, "member_id", err));
    if (status >= 0 && status != JF_MEMBER_ACTIVE && status != JF_MEMBER_FROZEN)
        return jf_fail(err, JF_INVALID_FIELD, "status", "must be active or frozen");
    jf_member probe;
    jf_code rc = ST(c->store, member_get, c->tenant->id, member_id, false, &probe, err);
    if (rc != JF_OK && rc != JF_NOT_FOUND) return rc;
    if (created) *created = rc == JF_NOT_FOUND;
    jf_mop op;
    TRY(jf_mop_lock_ext(&op, c, member_id, true, err));
    if (status >= 0 && (int)op.m.status != status) {
        op.m.status = (jf_member_status)status;
        op.m.updated_at_ms = c->now_ms;
        op.dirty = true;
    }
    TRY(jf_mop_flush(&op, err));
    *out = op.m;
    return JF_OK;
}

jf_code jf_member_get(const jf_ctx *c, const char *member_id, jf_member *out, jf_error *err) {
    TRY(jf_check_member_id(member_id, "member_id", err));
    jf_code rc = ST(c->store, member_get, c->tenant->id, member_id, false, out, err);
    if (rc == JF_NOT_FOUND) return jf_fail(err, JF_NOT_FOUND, "member_id", "member %s does not exist", member_id);
    return rc;
}

static jf_code check_limit(size_t limit, jf_error *err) {
    if (limit < JF_PAGE_LIMIT_MIN || limit > JF_PAGE_LIMIT_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "limit", "must be %d..%d", JF_PAGE_LIMIT_MIN, JF_PAGE_LIMIT_MAX);
    return JF_OK;
}

jf_code jf_entries_list(const jf_ctx *c, const char *member_id, const jf_entry_filter *f, jf_entry *out,
                        size_t limit, size_t *n, jf_error *err) {
    TRY(check_limit(limit, err));
    jf_member m;
    TRY(jf_member_get(c, member_id, &m, err));
    return ST(c->store, entry_list, m.id, f, out, limit, n, err);
}

jf_code jf_lots_list(const jf_ctx *c, const char *member_id, const jf_lot_filter *f, jf_lot *out, size_t limit,
                     size_t *n, jf_error *err) {
    TRY(check_limit(limit, err));
    jf_member m;
    TRY(jf_member_get(c, member_id, &m, err));
    return ST(c->store, lot_list, m.id, f, out, limit, n, err);
}

jf_code jf_expiring(const jf_ctx *c, const char *member_id, int32_t days, jf_lot *out, size_t limit, size_t *n,
                    int64_t *total, jf_error *err) {
    if (days < 1 || days > JF_EXPIRING_DAYS_MAX)
        return jf_fail(err, JF_INVALID_FIELD, "days", "must be 1..%d", JF_EXPIRING_DAYS_MAX);
    TRY(check_limit(limit, err));
    jf_member m;
    TRY(jf_member_get(c, member_id, &m, err));
    int64_t until;
    if (!jf_tz_add_days(c->tenant->timezone, c->now_ms, days, &until))
        return jf_fail(err, JF_INTERNAL, "", "time zone arithmetic failed");
    /* Walk every lot in the window for the total; return the first `limit`. */
    jf_lot_filter f = {.state = JF_LOT_ACTIVE, .only_remaining = true, .expires_before_ms = until,
                       .after_expires_at_ms = INT64_MIN};
    jf_lot page[JF_LOT_BATCH];
    *n = 0;
    *total = 0;
    for (;;) {
        size_t got = 0;
        TRY(ST(c->store, lot_list, m.id, &f, page, JF_LOT_BATCH, &got, err));
        for (size_t i = 0; i < got; i++) {
            *total += page[i].remaining;
            if (*n < limit) out[(*n)++] = page[i];
        }
        if (got < JF_LOT_BATCH) break;
        f.after_expires_at_ms = page[got - 1].expires_at_ms;
        f.after_id = page[got - 1].id;
    }
    return JF_OK;
}
