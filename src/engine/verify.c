/*
 * verify.c — check every member's books against the invariants in types.h.
 *
 * For each member, in a read transaction:
 *   - the hash chain: seq 1, 2, 3… without gaps, each prev_hash equal to the
 *     previous entry's hash, each hash equal to the hash of its fields, the
 *     member's last_hash and entry_seq equal to the last entry's;
 *   - available_after of each entry equals the running available balance;
 *   - the account equals the sum of the entries' deltas, field by field;
 *   - available + frozen + pending - debt == earned - spent - expired;
 *   - no account field and no lot remainder is negative;
 *   - every lot: remaining == amount + sum(moves), 0 <= remaining <= amount,
 *     expired lots hold nothing; available == sum over active lots,
 *     pending == sum over pending lots;
 *   - frozen == sum over open holds of (points - captured);
 *   - debt > 0 only while available == 0: every way points arrive pays debt
 *     first, so a member never owes and holds spendable points at once.
 * Each broken invariant is reported with the member's id; verification goes
 * on to the next member so one run lists everything.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

typedef struct {
    jf_verify_report_fn report;
    void *arg;
    int64_t findings;
} reporter;

static void find(reporter *r, const jf_member *m, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void find(reporter *r, const jf_member *m, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->findings++;
    if (r->report) r->report(r->arg, m->tenant_id, m->ext_id, msg);
}

static jf_code verify_chain(jf_store *s, const jf_member *m, reporter *rep, jf_error *err) {
    jf_entry page[JF_LOT_BATCH];
    jf_account sum = {0};
    uint8_t prev[JF_HASH_BYTES] = {0};
    int64_t seq = 0;
    for (;;) {
        size_t n = 0;
        TRY(ST(s, entry_chain, m->id, seq, page, JF_LOT_BATCH, &n, err));
        for (size_t i = 0; i < n; i++) {
            jf_entry *e = &page[i];
            if (e->seq != seq + 1) find(rep, m, "entry %lld has seq %lld, expected %lld", (long long)e->id,
                                        (long long)e->seq, (long long)(seq + 1));
            if (memcmp(e->prev_hash, prev, JF_HASH_BYTES) != 0)
                find(rep, m, "entry %lld (seq %lld): prev_hash does not match the previous entry", (long long)e->id,
                     (long long)e->seq);
            uint8_t h[JF_HASH_BYTES];
            jf_entry_hash(e, m->ext_id, h);
            if (memcmp(h, e->hash, JF_HASH_BYTES) != 0)
                find(rep, m, "entry %lld (seq %lld): hash does not match its fields (tampered)", (long long)e->id,
                     (long long)e->seq);
            sum.available += e->delta.available;
            sum.frozen += e->delta.frozen;
            sum.pending += e->delta.pending;
            sum.debt += e->delta.debt;
            sum.earned += e->delta.earned;
            sum.spent += e->delta.spent;
            sum.expired += e->delta.expired;
            if (e->available_after != sum.available)
                find(rep, m, "entry %lld (seq %lld): available_after %lld, running balance %lld", (long long)e->id,
                     (long long)e->seq, (long long)e->available_after, (long long)sum.available);
            memcpy(prev, e->hash, JF_HASH_BYTES);
            seq = e->seq;
        }
        if (n < JF_LOT_BATCH) break;
    }
    if (seq != m->entry_seq)
        find(rep, m, "member says %lld entries, the chain has %lld", (long long)m->entry_seq, (long long)seq);
    if (memcmp(prev, m->last_hash, JF_HASH_BYTES) != 0) find(rep, m, "member's last_hash is not the last entry's");
#define CMP(f)                                                                                                \
    if (sum.f != m->acct.f)                                                                                   \
        find(rep, m, "account " #f " is %lld, its entries sum to %lld", (long long)m->acct.f, (long long)sum.f);
    CMP(available) CMP(frozen) CMP(pending) CMP(debt) CMP(earned) CMP(spent) CMP(expired)
#undef CMP
    return JF_OK;
}

static jf_code verify_lots_holds(jf_store *s, const jf_member *m, reporter *rep, jf_error *err) {
    jf_lot page[JF_LOT_BATCH];
    jf_lot_filter f = {.state = -1, .after_expires_at_ms = INT64_MIN};
    int64_t active = 0, pending = 0;
    for (;;) {
        size_t n = 0;
        TRY(ST(s, lot_list, m->id, &f, page, JF_LOT_BATCH, &n, err));
        for (size_t i = 0; i < n; i++) {
            jf_lot *l = &page[i];
            int64_t moved = 0;
            TRY(ST(s, move_sum_by_lot, l->id, &moved, err));
            if (l->remaining != l->amount + moved)
                find(rep, m, "lot %lld: remaining %lld, amount %lld + moves %lld", (long long)l->id,
                     (long long)l->remaining, (long long)l->amount, (long long)moved);
            if (l->remaining < 0 || l->remaining > l->amount)
                find(rep, m, "lot %lld: remaining %lld outside 0..%lld", (long long)l->id, (long long)l->remaining,
                     (long long)l->amount);
            if (l->state == JF_LOT_EXPIRED && l->remaining != 0)
                find(rep, m, "lot %lld: expired but holds %lld", (long long)l->id, (long long)l->remaining);
            if (l->state == JF_LOT_ACTIVE) active += l->remaining;
            if (l->state == JF_LOT_PENDING) pending += l->remaining;
        }
        if (n < JF_LOT_BATCH) break;
        f.after_expires_at_ms = page[n - 1].expires_at_ms;
        f.after_id = page[n - 1].id;
    }
    if (active != m->acct.available)
        find(rep, m, "available is %lld, active lots hold %lld", (long long)m->acct.available, (long long)active);
    if (pending != m->acct.pending)
        find(rep, m, "pending is %lld, pending lots hold %lld", (long long)m->acct.pending, (long long)pending);

    jf_hold *holds = NULL;
    size_t n = 0;
    int64_t frozen = 0;
    TRY(jf_holds_open_all(s, m->id, &holds, &n, err));
    for (size_t i = 0; i < n; i++) frozen += holds[i].points - holds[i].captured;
    free(holds);
    if (frozen != m->acct.frozen)
        find(rep, m, "frozen is %lld, open holds hold %lld", (long long)m->acct.frozen, (long long)frozen);
    return JF_OK;
}

static void verify_account(const jf_member *m, reporter *rep) {
    const jf_account *a = &m->acct;
    if (a->available < 0 || a->frozen < 0 || a->pending < 0 || a->debt < 0 || a->earned < 0 || a->spent < 0 ||
        a->expired < 0)
        find(rep, m, "an account field is negative");
    if (a->debt > 0 && a->available > 0)
        find(rep, m, "owes %lld while %lld are available", (long long)a->debt, (long long)a->available);
    if (a->available + a->frozen + a->pending - a->debt != a->earned - a->spent - a->expired)
        find(rep, m, "available+frozen+pending-debt (%lld) != earned-spent-expired (%lld)",
             (long long)(a->available + a->frozen + a->pending - a->debt),
             (long long)(a->earned - a->spent - a->expired));
}

/* Members of one tenant, a page per read transaction. */
static jf_code verify_tenant(jf_store *s, const jf_tenant *t, void *arg, jf_error *err) {
    reporter *rep = arg;
    int64_t after = 0;
    jf_member page[JF_LOT_BATCH];
    for (;;) {
        size_t n = 0;
        TRY(ST(s, begin_read, err));
        jf_code rc = ST(s, member_list, t->id, after, page, JF_LOT_BATCH, &n, err);
        for (size_t i = 0; i < n && rc == JF_OK; i++) {
            verify_account(&page[i], rep);
            rc = verify_chain(s, &page[i], rep, err);
            if (rc == JF_OK) rc = verify_lots_holds(s, &page[i], rep, err);
            if (rc == JF_OK && s->ops->member_store_check != NULL) {
                char finding[160] = "";
                rc = s->ops->member_store_check(s, page[i].id, finding, sizeof finding, err);
                if (rc == JF_OK && finding[0] != '\0') find(rep, &page[i], "%s", finding);
            }
        }
        s->ops->rollback(s);
        TRY(rc);
        if (n < JF_LOT_BATCH) return JF_OK;
        after = page[n - 1].id;
    }
}

jf_code jf_verify(jf_store *s, jf_verify_report_fn report, void *arg, int64_t *findings, jf_error *err) {
    reporter rep = {report, arg, 0};
    TRY(jf_tenants_each(s, verify_tenant, &rep, err));
    *findings = rep.findings;
    return JF_OK;
}
