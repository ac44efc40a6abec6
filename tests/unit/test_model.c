/*
 * test_model.c — the ledger against a simple in-memory model.
 *
 * 100,000 random operations (JIFEN_MODEL_STEPS overrides; the sanitizer pass
 * of `make test` runs fewer, the plain pass the full count) (earn — active and pending, with policy or
 * explicit expiry —, spend, hold, capture whole and part, release, reverse
 * earns, spends and captures whole and part, adjust ±, replays, conflicting
 * replays, jobs) run against the engine on SQLite and against a model that
 * keeps lots, holds and accounts in plain arrays.  After every operation the
 * engine's answer (success or error code, account, entry points) must equal
 * the model's; every 500 operations every member's account and every lot's
 * remainder are compared; at the end `verify` must find nothing.
 *
 * Operations run the way the HTTP committer runs them: many per transaction,
 * each inside its own savepoint, so a failed one is rolled back alone.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/ledger.h"
#include "fixture.h" /* fx_store_location: SQLite file or fresh PostgreSQL database */
#include "util/tz.h"

#define MEMBERS 8
#define LOTS_MAX 40000
#define HOLDS_MAX 12000
#define OPS_MAX 110000
#define STEPS_DEFAULT 100000
#define DAY_MS 86400000LL

typedef struct {
    int64_t id; /* engine lot id */
    int64_t member;
    int64_t amount, remaining;
    int64_t state; /* jf_lot_state */
    int64_t available_at, expires_at;
    int64_t expired; /* all points this lot ever expired */
} mlot;

typedef struct {
    int lot;       /* model lot index */
    int64_t taken; /* > 0 */
} mmove;

typedef struct {
    mmove *v;
    int n;
} mmoves;

typedef struct {
    int64_t id;
    int64_t member;
    int64_t points, captured;
    int64_t state;
    int64_t expires_at;
    mmoves moves;    /* taken by the hold, in order */
    mmoves released; /* what a partial capture gave back */
} mhold;

typedef struct {
    int64_t exists;
    jf_account a;
} mmember;

/* A successful write, for replays and reversals. */
typedef struct {
    char biz_no[24];
    jf_op_kind op;
    int member;
    int64_t points;  /* requested (earn/spend/adjust: signed for adjust) */
    int64_t aux;     /* hold: ttl; capture: requested points; reverse: target op index */
    int lot;         /* earn: its lot */
    int hold;        /* hold/capture/release: the hold */
    mmoves taken;    /* spend/capture: lots taken (capture: net of the released remainder) */
    mmoves restored; /* reversals of this op so far, per lot */
    int64_t reversed;
    int64_t expired_done; /* earn: reversed out of its lot's expired points */
    int64_t entry_id;
    jf_account after;
    int64_t expires_req, available_req; /* earn: as requested */
} mop;

typedef struct {
    mmember m[MEMBERS];
    mlot lots[LOTS_MAX];
    int64_t nlots;
    mhold holds[HOLDS_MAX];
    int64_t nholds;
} mstate;

static mstate S;
/* Each member's lots (indexes into S.lots), so model scans stay per member. */
static int64_t ML[MEMBERS][LOTS_MAX];
static int64_t NML[MEMBERS];
static mop OPS[OPS_MAX];
static int NOPS;
static int64_t NOW;
static jf_store *ST;
static jf_tenant T;
static uint64_t RNG = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void) {
    RNG ^= RNG << 13;
    RNG ^= RNG >> 7;
    RNG ^= RNG << 17;
    return RNG;
}
static int64_t rint_(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }

/* The undo journal: every change of the model goes through ADD/SETV, so an
 * operation the engine refuses can be rolled back like its savepoint. */
#define JOURNAL_MAX 200000
static struct {
    int64_t *p;
    int64_t old;
} J[JOURNAL_MAX];
static size_t JN;
static void SETV(int64_t *p, int64_t v) {
    cr_assert(JN < JOURNAL_MAX);
    J[JN].p = p;
    J[JN++].old = *p;
    *p = v;
}
static void ADD(int64_t *p, int64_t d) { SETV(p, *p + d); }
static void undo(void) {
    while (JN > 0) {
        JN--;
        *J[JN].p = J[JN].old;
    }
}
static void keep(void) { JN = 0; }

static void moves_push(mmoves *m, int lot, int64_t taken) {
    m->v = realloc(m->v, (size_t)(m->n + 1) * sizeof *m->v);
    m->v[m->n++] = (mmove){lot, taken};
}
static mmoves moves_copy(const mmoves *m) {
    mmoves c = {NULL, m->n};
    if (m->n) {
        c.v = malloc((size_t)m->n * sizeof *c.v);
        memcpy(c.v, m->v, (size_t)m->n * sizeof *c.v);
    }
    return c;
}

/* ---- the model's ledger rules (mirrors of ledger.c, settle.c, reverse.c) ---- */

static void m_expire_due(int64_t mi) {
    for (int64_t k = 0; k < NML[mi]; k++) {
        mlot *l = &S.lots[ML[mi][k]];
        if (l->state == JF_LOT_ACTIVE && l->remaining > 0 && l->expires_at <= NOW) {
            ADD(&S.m[mi].a.available, -l->remaining);
            ADD(&S.m[mi].a.expired, l->remaining);
            ADD(&l->expired, l->remaining);
            SETV(&l->remaining, 0);
            SETV(&l->state, JF_LOT_EXPIRED);
        }
    }
}

/* Give `amount` back to the lots of `from`, latest-taken first. */
static void m_restore(const mmoves *from, int64_t amount, mmoves *record) {
    for (int i = from->n - 1; i >= 0 && amount > 0; i--) {
        int64_t give = from->v[i].taken < amount ? from->v[i].taken : amount;
        if (give <= 0) continue;
        mlot *l = &S.lots[from->v[i].lot];
        ADD(&l->remaining, give);
        if (l->state == JF_LOT_EXPIRED) SETV(&l->state, JF_LOT_ACTIVE);
        amount -= give;
        if (record) moves_push(record, from->v[i].lot, give);
    }
    cr_assert_eq(amount, 0, "model: restore short");
}

/* Returned points pay debt first, from each return in order, skipping lots
 * already past their expiry. */
static void m_pay_debt(int64_t mi, const mmoves *returned) {
    jf_account *a = &S.m[mi].a;
    for (int i = 0; i < returned->n && a->debt > 0; i++) {
        mlot *l = &S.lots[returned->v[i].lot];
        if (l->expires_at <= NOW) continue;
        int64_t pay = returned->v[i].taken < a->debt ? returned->v[i].taken : a->debt;
        ADD(&l->remaining, -pay);
        ADD(&a->available, -pay);
        ADD(&a->debt, -pay);
    }
}

static void m_release_hold(mhold *h, int64_t amount, int64_t final_state, mmoves *record) {
    mmoves back = {0};
    m_restore(&h->moves, amount, &back);
    ADD(&S.m[h->member].a.frozen, -amount);
    ADD(&S.m[h->member].a.available, amount);
    m_pay_debt(h->member, &back);
    for (int i = 0; record && i < back.n; i++) moves_push(record, back.v[i].lot, back.v[i].taken);
    free(back.v);
    SETV(&h->state, final_state);
}

static void m_settle(int64_t mi) {
    for (int64_t i = 0; i < S.nholds; i++) {
        mhold *h = &S.holds[i];
        if (h->member == mi && h->state == JF_HOLD_OPEN && h->expires_at <= NOW)
            m_release_hold(h, h->points - h->captured, JF_HOLD_EXPIRED, NULL);
    }
    jf_account *a = &S.m[mi].a;
    for (int64_t k = 0; k < NML[mi]; k++) {
        mlot *l = &S.lots[ML[mi][k]];
        if (l->state == JF_LOT_PENDING && l->available_at <= NOW) {
            int64_t pay = l->expires_at <= NOW ? 0 : a->debt < l->remaining ? a->debt : l->remaining;
            ADD(&a->pending, -l->remaining);
            ADD(&a->available, l->remaining - pay);
            ADD(&a->debt, -pay);
            ADD(&l->remaining, -pay);
            SETV(&l->state, JF_LOT_ACTIVE);
        }
    }
    m_expire_due(mi);
}

/* Spending order: expires_at ascending, then creation (id) order. */
static void m_take_fifo(int64_t mi, int64_t points, mmoves *out) {
    while (points > 0) {
        int64_t best = -1;
        for (int64_t k = 0; k < NML[mi]; k++) {
            int64_t i = ML[mi][k];
            mlot *l = &S.lots[i];
            if (l->state != JF_LOT_ACTIVE || l->remaining == 0) continue;
            if (best < 0 || l->expires_at < S.lots[best].expires_at) best = i;
        }
        cr_assert(best >= 0, "model: lots short");
        mlot *l = &S.lots[best];
        int64_t take = l->remaining < points ? l->remaining : points;
        ADD(&l->remaining, -take);
        points -= take;
        if (out) moves_push(out, (int)best, take);
    }
}

static int m_new_lot(int64_t mi, int64_t points, int64_t available_at, int64_t expires_at) {
    cr_assert(S.nlots < LOTS_MAX);
    jf_account *a = &S.m[mi].a;
    bool pending = available_at > NOW;
    int64_t pay = pending ? 0 : (a->debt < points ? a->debt : points);
    int64_t li = S.nlots;
    ADD(&S.nlots, 1);
    ML[mi][NML[mi]] = li;
    ADD(&NML[mi], 1);
    S.lots[li] = (mlot){0, mi, points, points - pay, pending ? JF_LOT_PENDING : JF_LOT_ACTIVE,
                        pending ? available_at : NOW, expires_at, 0};
    ADD(&a->earned, points);
    if (pending) ADD(&a->pending, points);
    else ADD(&a->available, points - pay), ADD(&a->debt, -pay);
    return (int)li;
}

/* ---- running one engine operation inside a savepoint ---- */

typedef jf_code (*engine_fn)(const jf_ctx *c, const void *req, jf_result *out, jf_error *err);

static jf_code run(jf_code (*fn)(const jf_ctx *, const void *, jf_result *, jf_error *), const void *req,
                   jf_result *out, jf_error *err) {
    jf_ctx c = {.store = ST, .tenant = &T, .now_ms = NOW};
    cr_assert_eq(ST->ops->savepoint(ST, err), JF_OK);
    jf_code rc = fn(&c, req, out, err);
    if (rc == JF_OK) cr_assert_eq(ST->ops->savepoint_release(ST, err), JF_OK, "%s", err->detail);
    else ST->ops->savepoint_rollback(ST);
    return rc;
}

#define WRAP(name, type)                                                                   \
    static jf_code w_##name(const jf_ctx *c, const void *r, jf_result *o, jf_error *e) {   \
        return jf_##name(c, (const type *)r, o, e);                                        \
    }
WRAP(earn, jf_earn_req)
WRAP(spend, jf_spend_req)
WRAP(hold_create, jf_hold_req)
WRAP(capture, jf_capture_req)
WRAP(release, jf_release_req)
WRAP(reverse, jf_reverse_req)
WRAP(adjust, jf_adjust_req)

static char MID[MEMBERS][16];

static void expect(jf_code got, jf_code want, const jf_error *err, const char *what, int step) {
    cr_assert_eq(got, want, "step %d %s: engine %s (%s: %s), model expects %s", step, what, jf_code_name(got),
                 err->field, err->detail, jf_code_name(want));
}

static void expect_account(const jf_account *got, const jf_account *want, int step, const char *what) {
    cr_assert(memcmp(got, want, sizeof *got) == 0,
              "step %d %s: account engine {av %lld fr %lld pe %lld de %lld ea %lld sp %lld ex %lld} model {av %lld "
              "fr %lld pe %lld de %lld ea %lld sp %lld ex %lld}",
              step, what, (long long)got->available, (long long)got->frozen, (long long)got->pending,
              (long long)got->debt, (long long)got->earned, (long long)got->spent, (long long)got->expired,
              (long long)want->available, (long long)want->frozen, (long long)want->pending, (long long)want->debt,
              (long long)want->earned, (long long)want->spent, (long long)want->expired);
}

static mop *new_op(jf_op_kind kind, int mi) {
    cr_assert(NOPS < OPS_MAX);
    mop *o = &OPS[NOPS];
    memset(o, 0, sizeof *o);
    snprintf(o->biz_no, sizeof o->biz_no, "b%d", NOPS);
    o->op = kind;
    o->member = mi;
    o->lot = o->hold = -1;
    return o;
}

/* The engine answered: compare, then keep or undo the model's changes. */
static bool settle_op(mop *o, jf_code rc, jf_code want, const jf_result *r, const jf_error *err, int step,
                      const char *what) {
    expect(rc, want, err, what, step);
    if (rc != JF_OK) {
        undo();
        return false;
    }
    keep();
    o->entry_id = r->entry.id;
    o->after = S.m[o->member].a;
    expect_account(&r->member.acct, &S.m[o->member].a, step, what);
    NOPS++;
    return true;
}

static void step_earn(int step) {
    int mi = (int)rint_(0, MEMBERS - 1);
    mop *o = new_op(JF_OP_EARN, mi);
    o->points = rint_(1, 500);
    if (rnd() % 4 == 0) o->available_req = NOW + rint_(1, 3 * DAY_MS);
    if (rnd() % 3 == 0) o->expires_req = NOW + rint_(4, 60) * DAY_MS;
    jf_earn_req q = {.member_id = MID[mi], .points = o->points, .biz_no = o->biz_no,
                     .expires_at_ms = o->expires_req, .available_at_ms = o->available_req};
    SETV(&S.m[mi].exists, 1);
    m_settle(mi);
    int64_t avail = o->available_req > NOW ? o->available_req : NOW;
    int64_t exp = o->expires_req ? o->expires_req : NOW + 30 * DAY_MS; /* tenant policy: rolling 30 days */
    o->lot = m_new_lot(mi, o->points, avail, exp);
    jf_result r;
    jf_error err = {0};
    jf_code rc = run(w_earn, &q, &r, &err);
    if (settle_op(o, rc, JF_OK, &r, &err, step, "earn")) {
        S.lots[o->lot].id = r.entry.lot_id;
        cr_assert_eq(r.entry.points, o->points);
    }
}

static void step_spend_or_adjust(int step, bool adjust) {
    int mi = (int)rint_(0, MEMBERS - 1);
    mop *o = new_op(adjust ? JF_OP_ADJUST : JF_OP_SPEND, mi);
    o->points = rint_(1, 400);
    if (adjust && rnd() % 2) o->points = rint_(1, 300); /* positive adjust */
    else if (adjust) o->points = -o->points;
    jf_code want = JF_OK;
    int64_t p = o->points < 0 ? -o->points : o->points;
    if (!S.m[mi].exists && !(adjust && o->points > 0)) want = JF_NOT_FOUND;
    else {
        SETV(&S.m[mi].exists, 1);
        m_settle(mi);
        if (adjust && o->points > 0) {
            o->lot = m_new_lot(mi, p, NOW, NOW + 30 * DAY_MS);
        } else if (S.m[mi].a.available < p) {
            want = JF_INSUFFICIENT_POINTS;
        } else {
            m_take_fifo(mi, p, &o->taken);
            ADD(&S.m[mi].a.available, -p);
            ADD(&S.m[mi].a.spent, p);
        }
    }
    jf_result r;
    jf_error err = {0};
    jf_code rc;
    if (adjust) {
        jf_adjust_req q = {.member_id = MID[mi], .points = o->points, .biz_no = o->biz_no, .reason = "model",
                           .operator_id = "tester"};
        rc = run(w_adjust, &q, &r, &err);
    } else {
        jf_spend_req q = {.member_id = MID[mi], .points = p, .biz_no = o->biz_no};
        rc = run(w_spend, &q, &r, &err);
    }
    if (settle_op(o, rc, want, &r, &err, step, adjust ? "adjust" : "spend")) {
        if (o->lot >= 0) S.lots[o->lot].id = r.entry.lot_id;
    } else {
        free(o->taken.v);
        o->taken = (mmoves){0};
    }
}

static void step_hold(int step) {
    int mi = (int)rint_(0, MEMBERS - 1);
    mop *o = new_op(JF_OP_HOLD, mi);
    o->points = rint_(1, 300);
    o->aux = rint_(60, 4 * 3600);
    jf_code want = JF_OK;
    mmoves taken = {0};
    if (!S.m[mi].exists) want = JF_NOT_FOUND;
    else {
        m_settle(mi);
        if (S.m[mi].a.available < o->points) want = JF_INSUFFICIENT_POINTS;
        else {
            m_take_fifo(mi, o->points, &taken);
            ADD(&S.m[mi].a.available, -o->points);
            ADD(&S.m[mi].a.frozen, o->points);
        }
    }
    jf_hold_req q = {.member_id = MID[mi], .points = o->points, .biz_no = o->biz_no, .ttl_s = o->aux};
    jf_result r;
    jf_error err = {0};
    jf_code rc = run(w_hold_create, &q, &r, &err);
    if (settle_op(o, rc, want, &r, &err, step, "hold")) {
        cr_assert(S.nholds < HOLDS_MAX);
        o->hold = (int)S.nholds++;
        S.holds[o->hold] = (mhold){r.hold.id, mi, o->points, 0, JF_HOLD_OPEN, NOW + o->aux * 1000, taken, {0}};
    } else {
        free(taken.v);
    }
}

static void step_capture_or_release(int step, bool capture) {
    if (S.nholds == 0) return;
    int hi = (int)rint_(0, S.nholds - 1);
    mhold *h = &S.holds[hi];
    mop *o = new_op(capture ? JF_OP_CAPTURE : JF_OP_RELEASE, (int)h->member);
    o->hold = hi;
    o->aux = capture && rnd() % 2 ? rint_(1, h->points) : 0;
    m_settle(h->member);
    jf_code want = JF_OK;
    mmoves released = {0};
    if (h->state != JF_HOLD_OPEN) want = JF_HOLD_NOT_OPEN;
    else if (capture) {
        int64_t held = h->points - h->captured;
        int64_t c = o->aux ? o->aux : held;
        if (c > held) want = JF_INVALID_FIELD;
        else {
            ADD(&S.m[h->member].a.frozen, -c);
            ADD(&S.m[h->member].a.spent, c);
            ADD(&h->captured, c);
            o->points = c;
            if (c < held) {
                m_release_hold(h, held - c, JF_HOLD_CAPTURED, &released);
                m_expire_due(h->member);
            }
            SETV(&h->state, JF_HOLD_CAPTURED);
            /* What the capture keeps, per lot: hold moves minus the remainder. */
            mmoves net = moves_copy(&h->moves);
            for (int k = 0; k < released.n; k++)
                for (int j = 0; j < net.n; j++)
                    if (net.v[j].lot == released.v[k].lot) {
                        net.v[j].taken -= released.v[k].taken;
                        break;
                    }
            o->taken = net;
        }
    } else {
        m_release_hold(h, h->points - h->captured, JF_HOLD_RELEASED, NULL);
        m_expire_due(h->member);
    }
    jf_result r;
    jf_error err = {0};
    jf_code rc;
    if (capture) {
        jf_capture_req q = {.hold_id = h->id, .points = o->aux, .biz_no = o->biz_no};
        rc = run(w_capture, &q, &r, &err);
    } else {
        jf_release_req q = {.hold_id = h->id, .biz_no = o->biz_no};
        rc = run(w_release, &q, &r, &err);
    }
    if (!settle_op(o, rc, want, &r, &err, step, capture ? "capture" : "release")) {
        free(o->taken.v);
        o->taken = (mmoves){0};
    }
    free(released.v);
}

static void step_reverse(int step) {
    if (NOPS == 0) return;
    int ti = (int)rint_(0, NOPS - 1);
    mop *t = &OPS[ti];
    int mi = t->member;
    mop *o = new_op(JF_OP_REVERSE, mi);
    o->aux = ti;
    int64_t original = t->points;
    int64_t req = rnd() % 2 ? 0 : rint_(1, 200);
    jf_code want = JF_OK;
    int64_t left = original - t->reversed;
    int64_t x = req ? req : left;
    int64_t from_expired = 0;
    mmoves restored = {0};
    if (t->op != JF_OP_EARN && t->op != JF_OP_SPEND && t->op != JF_OP_CAPTURE) want = JF_NOT_REVERSIBLE;
    else if (left == 0 || x > left) want = JF_REVERSAL_EXCEEDED;
    else {
        m_settle(mi);
        jf_account *a = &S.m[mi].a;
        if (t->op == JF_OP_EARN) {
            mlot *own = &S.lots[t->lot];
            int64_t from_own = 0, from_pending = 0, from_others = 0;
            if (own->state != JF_LOT_EXPIRED && own->remaining > 0) {
                int64_t take = own->remaining < x ? own->remaining : x;
                ADD(&own->remaining, -take);
                if (own->state == JF_LOT_PENDING) from_pending = take;
                else from_own = take;
            }
            int64_t rest = x - from_own - from_pending;
            int64_t exp_left = own->expired - t->expired_done;
            from_expired = exp_left < rest ? exp_left : rest;
            rest -= from_expired;
            ADD(&a->expired, -from_expired);
            if (rest > 0) {
                int64_t avail = a->available - from_own;
                from_others = avail < rest ? avail : rest;
                if (from_others > 0) m_take_fifo(mi, from_others, NULL);
            }
            int64_t shortfall = rest - from_others;
            ADD(&a->pending, -from_pending);
            ADD(&a->available, -(from_own + from_others));
            if (T.refund == JF_REFUND_DEBT) ADD(&a->debt, shortfall), ADD(&a->earned, -x);
            else ADD(&a->earned, -(x - shortfall));
            (void)from_others;
        } else {
            /* Restorable: what t took minus what earlier reversals gave back. */
            mmoves can = moves_copy(&t->taken);
            for (int k = 0; k < t->restored.n; k++) {
                int64_t back = t->restored.v[k].taken;
                for (int j = 0; j < can.n && back > 0; j++)
                    if (can.v[j].lot == t->restored.v[k].lot) {
                        int64_t d = back < can.v[j].taken ? back : can.v[j].taken;
                        can.v[j].taken -= d;
                        back -= d;
                    }
            }
            m_restore(&can, x, &restored);
            free(can.v);
            ADD(&a->available, x);
            ADD(&a->spent, -x);
            m_pay_debt(mi, &restored);
            m_expire_due(mi);
        }
    }
    jf_reverse_req q = {.member_id = MID[mi], .target_biz_no = t->biz_no, .points = req, .biz_no = o->biz_no};
    jf_result r;
    jf_error err = {0};
    jf_code rc = run(w_reverse, &q, &r, &err);
    o->points = x;
    if (settle_op(o, rc, want, &r, &err, step, "reverse")) {
        t->reversed += x;
        t->expired_done += from_expired;
        for (int k = 0; k < restored.n; k++) moves_push(&t->restored, restored.v[k].lot, restored.v[k].taken);
    }
    free(restored.v);
}

/* Replay an earlier successful write: identical answer, nothing written. */
static void step_replay(int step) {
    if (NOPS == 0) return;
    mop *o = &OPS[rint_(0, NOPS - 1)];
    jf_result r;
    jf_error err = {0};
    jf_code rc = JF_INTERNAL;
    bool conflict = rnd() % 3 == 0;
    int64_t bump = conflict ? 1 : 0;
    switch (o->op) {
    case JF_OP_EARN: {
        jf_earn_req q = {.member_id = MID[o->member], .points = o->points + bump, .biz_no = o->biz_no,
                         .expires_at_ms = o->expires_req, .available_at_ms = o->available_req};
        rc = run(w_earn, &q, &r, &err);
        break;
    }
    case JF_OP_SPEND: {
        jf_spend_req q = {.member_id = MID[o->member], .points = o->points + bump, .biz_no = o->biz_no};
        rc = run(w_spend, &q, &r, &err);
        break;
    }
    case JF_OP_HOLD: {
        jf_hold_req q = {.member_id = MID[o->member], .points = o->points, .biz_no = o->biz_no, .ttl_s = o->aux + bump};
        rc = run(w_hold_create, &q, &r, &err);
        break;
    }
    default:
        return;
    }
    if (conflict) {
        expect(rc, JF_IDEMPOTENCY_CONFLICT, &err, "conflicting replay", step);
        return;
    }
    expect(rc, JF_OK, &err, "replay", step);
    cr_assert(r.replayed, "step %d: replay not marked", step);
    cr_assert_eq(r.entry.id, o->entry_id, "step %d: replay answered another entry", step);
    expect_account(&r.member.acct, &o->after, step, "replay snapshot");
}

static void step_bad_input(int step) {
    int mi = (int)rint_(0, MEMBERS - 1);
    jf_spend_req q = {.member_id = MID[mi], .points = 0, .biz_no = "bad"};
    jf_result r;
    jf_error err = {0};
    switch (rnd() % 3) {
    case 0: q.points = JF_POINTS_MAX + 1; break;
    case 1: q.biz_no = "has space"; q.points = 1; break;
    default: q.member_id = "bad/id"; q.points = 1; break;
    }
    expect(run(w_spend, &q, &r, &err), JF_INVALID_FIELD, &err, "bad input", step);
}

static void compare_all(int step) {
    jf_ctx c = {.store = ST, .tenant = &T, .now_ms = NOW};
    for (int mi = 0; mi < MEMBERS; mi++) {
        jf_member m;
        jf_error err = {0};
        jf_code rc = jf_member_get(&c, MID[mi], &m, &err);
        if (!S.m[mi].exists) {
            cr_assert_eq(rc, JF_NOT_FOUND);
            continue;
        }
        cr_assert_eq(rc, JF_OK);
        expect_account(&m.acct, &S.m[mi].a, step, "full compare");
    }
    for (int i = 0; i < S.nlots; i++) {
        jf_lot l;
        jf_error err = {0};
        cr_assert_eq(ST->ops->lot_get(ST, S.lots[i].id, &l, &err), JF_OK);
        cr_assert_eq(l.remaining, S.lots[i].remaining, "step %d lot %lld: remaining %lld, model %lld", step,
                     (long long)l.id, (long long)l.remaining, (long long)S.lots[i].remaining);
        cr_assert_eq((int)l.state, S.lots[i].state, "step %d lot %lld: state", step, (long long)l.id);
    }
}

static jf_code create_tenant(jf_store *s, void *arg, jf_error *err) {
    (void)arg;
    return jf_tenant_create(s, &T, NOW, err);
}

static void run_model(jf_refund_policy policy, uint64_t seed, const char *dir) {
    char path[512];
    fx_store_location(path, sizeof path, dir, "model.db"); /* backend selection (JIFEN_TEST_STORE) */
    jf_error err = {0};
    cr_assert_eq(jf_store_open(path, &ST, &err), JF_OK, "%s", err.detail);
    RNG = seed;
    memset(&S, 0, sizeof S);
    memset(NML, 0, sizeof NML);
    NOPS = 0;
    JN = 0;
    cr_assert(jf_parse_rfc3339("2026-01-01T00:00:00+08:00", &NOW));
    jf_tenant_defaults(&T);
    snprintf(T.slug, sizeof T.slug, "model");
    T.expiry = (jf_expiry_policy){.kind = JF_EXPIRY_ROLLING, .n = 30, .unit = JF_UNIT_DAYS, .clear_month = 12,
                                  .clear_day = 31, .years = 1};
    T.refund = policy;
    cr_assert_eq(jf_tx_run(ST, create_tenant, NULL, &err), JF_OK, "%s", err.detail);
    for (int i = 0; i < MEMBERS; i++) snprintf(MID[i], sizeof MID[i], "m%d", i);

    int steps = STEPS_DEFAULT;
    const char *env = getenv("JIFEN_MODEL_STEPS");
    if (env && atoi(env) > 0) steps = atoi(env);
    cr_assert(steps <= OPS_MAX - 10000);
    cr_assert_eq(ST->ops->begin(ST, &err), JF_OK);
    for (int step = 0; step < steps; step++) {
        NOW += rint_(0, 20) * 60000; /* whole minutes, often none: equal times and expiries tie */
        if (rnd() % 500 == 0) NOW += rint_(1, 10) * DAY_MS;
        unsigned pick = (unsigned)(rnd() % 100);
        if (pick < 30) step_earn(step);
        else if (pick < 50) step_spend_or_adjust(step, false);
        else if (pick < 55) step_spend_or_adjust(step, true);
        else if (pick < 65) step_hold(step);
        else if (pick < 72) step_capture_or_release(step, true);
        else if (pick < 77) step_capture_or_release(step, false);
        else if (pick < 88) step_reverse(step);
        else if (pick < 95) step_replay(step);
        else if (pick < 97) step_bad_input(step);
        else {
            /* Jobs run in their own transactions. */
            cr_assert_eq(ST->ops->commit(ST, &err), JF_OK);
            jf_job_stats st;
            cr_assert_eq(jf_jobs_run(ST, NOW, &st, &err), JF_OK, "%s", err.detail);
            for (int mi = 0; mi < MEMBERS; mi++)
                if (S.m[mi].exists) m_settle(mi);
            keep();
            cr_assert_eq(ST->ops->begin(ST, &err), JF_OK);
        }
        if (step % 200 == 199) {
            cr_assert_eq(ST->ops->commit(ST, &err), JF_OK);
            cr_assert_eq(ST->ops->begin(ST, &err), JF_OK);
        }
        if (step % 500 == 499) compare_all(step);
    }
    cr_assert_eq(ST->ops->commit(ST, &err), JF_OK);
    compare_all(steps);
    int64_t findings = -1;
    cr_assert_eq(jf_verify(ST, NULL, NULL, &findings, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(findings, 0, "verify found %lld problems", (long long)findings);
    jf_store_close(ST);
    fx_store_location_drop(path);
    for (int i = 0; i < NOPS; i++) {
        free(OPS[i].taken.v);
        free(OPS[i].restored.v);
    }
    for (int i = 0; i < S.nholds; i++) {
        free(S.holds[i].moves.v);
        free(S.holds[i].released.v);
    }
}

static char DIR_[256];
static void setup(void) {
    snprintf(DIR_, sizeof DIR_, "/tmp/jifen-model-XXXXXX");
    cr_assert(mkdtemp(DIR_) != NULL);
}
static void teardown(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
    cr_assert_eq(system(cmd), 0);
}

Test(model, debt_policy_100k_ops, .init = setup, .fini = teardown, .timeout = 600) {
    run_model(JF_REFUND_DEBT, 0x9e3779b97f4a7c15ULL, DIR_);
}

Test(model, clamp_policy_100k_ops, .init = setup, .fini = teardown, .timeout = 600) {
    run_model(JF_REFUND_CLAMP, 0x2545f4914f6cdd1dULL, DIR_);
}
