/*
 * test_due_floor.c — SQLite's due floor under random batches (suite
 * "due_floor").
 *
 * A member's due floor (sqlite.c: sq_due) lets an operation skip settling
 * when nothing of the member is due.  Random batches of earns (pending or
 * expiring), spends, holds, captures, releases and reversals run through
 * jf_tx_batch as the committer runs them — first without savepoints, then
 * again with them when a job fails after writing — on two connections
 * taking turns.  After every batch: verify (which checks every floor), and
 * each member a successful job touched has nothing due at the batch's time
 * (its settling ran, or was rightly skipped).  The rounds can be raised with
 * JIFEN_FLOOR_ROUNDS for a long run by hand.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

typedef enum { K_EARN, K_SPEND, K_HOLD, K_CAPTURE, K_RELEASE, K_REVERSE, K_EARN_FAIL, K_SPEND_FAIL, K__N } kind;

typedef struct {
    kind k;
    char member[8];
    char biz[24];
    char target[24];
    int64_t points, avail, exp, ttl, hold_id;
    jf_code code;
    jf_error err;
    jf_result res;
} rjob;

typedef struct {
    rjob *jobs;
    jf_ctx ctx;
} rbatch;

static int64_t hold_ids[4096];
static int nholds;
static char done_biz[8192][24];
static char done_member[8192][8];
static int ndone;
static uint64_t rng = 88172645463325252ULL;
static int64_t rnd(int64_t lo, int64_t hi) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return lo + (int64_t)(rng % (uint64_t)(hi - lo + 1));
}

static jf_code run_rjob(jf_store *s, size_t i, void *arg) {
    rbatch *b = arg;
    rjob *j = &b->jobs[i];
    jf_ctx c = b->ctx;
    c.store = s;
    jf_error_clear(&j->err);
    memset(&j->res, 0, sizeof j->res);
    switch (j->k) {
    case K_EARN:
    case K_EARN_FAIL: {
        jf_earn_req r = {.member_id = j->member, .points = j->points, .biz_no = j->biz,
                         .available_at_ms = j->avail, .expires_at_ms = j->exp};
        j->code = jf_earn(&c, &r, &j->res, &j->err);
        if (j->code == JF_OK && j->k == K_EARN_FAIL) j->code = jf_fail(&j->err, JF_INVALID_FIELD, "x", "after writing");
        break;
    }
    case K_SPEND:
    case K_SPEND_FAIL: {
        jf_spend_req r = {.member_id = j->member, .points = j->points, .biz_no = j->biz};
        j->code = jf_spend(&c, &r, &j->res, &j->err);
        if (j->code == JF_OK && j->k == K_SPEND_FAIL) j->code = jf_fail(&j->err, JF_INVALID_FIELD, "x", "after writing");
        break;
    }
    case K_HOLD: {
        jf_hold_req r = {.member_id = j->member, .points = j->points, .biz_no = j->biz, .ttl_s = j->ttl};
        j->code = jf_hold_create(&c, &r, &j->res, &j->err);
        break;
    }
    case K_CAPTURE: {
        jf_capture_req r = {.hold_id = j->hold_id, .points = j->points, .biz_no = j->biz};
        j->code = jf_capture(&c, &r, &j->res, &j->err);
        break;
    }
    case K_RELEASE: {
        jf_release_req r = {.hold_id = j->hold_id, .biz_no = j->biz};
        j->code = jf_release(&c, &r, &j->res, &j->err);
        break;
    }
    case K_REVERSE: {
        jf_reverse_req r = {.member_id = j->member, .target_biz_no = j->target, .points = j->points, .biz_no = j->biz, .reason = "r"};
        j->code = jf_reverse(&c, &r, &j->res, &j->err);
        break;
    }
    default: j->code = JF_INTERNAL;
    }
    return j->code;
}

static int64_t member_due(fx_world *w, int64_t mid) {
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(min(t), 9223372036854775807) FROM ("
             "SELECT min(expires_at_ms) t FROM holds WHERE member_id = %lld AND state = 0 UNION ALL "
             "SELECT min(available_at_ms) FROM lots WHERE member_id = %lld AND state = 0 UNION ALL "
             "SELECT min(expires_at_ms) FROM lots WHERE member_id = %lld AND state = 1 AND remaining > 0)",
             (long long)mid, (long long)mid, (long long)mid);
    return fx_sqlite_int(w, sql);
}

TestSuite(due_floor, .init = fx_setup, .fini = fx_teardown, .timeout = 600);

Test(due_floor, random_batches_on_two_connections) {
    if (fx_backend_is_postgres()) cr_skip_test("the due floor is SQLite's");
    jf_store *s2 = NULL;
    jf_error e = {0};
    cr_assert_eq(jf_store_open(fx.path, &s2, &e), JF_OK, "%s", e.detail);
    const char *members[] = {"a", "b", "c"};
    int rounds = getenv("JIFEN_FLOOR_ROUNDS") ? atoi(getenv("JIFEN_FLOOR_ROUNDS")) : 400;
    int64_t now = FX_T0;
    int seq = 0;
    int reruns = 0, oks = 0;
    for (int round = 0; round < rounds; round++) {
        now += rnd(0, 50) * FX_MINUTE;
        rjob jobs[8];
        size_t n = (size_t)rnd(1, 8);
        memset(jobs, 0, sizeof jobs);
        for (size_t i = 0; i < n; i++) {
            rjob *j = &jobs[i];
            j->k = (kind)rnd(0, K__N - 1);
            if (j->k == K_EARN_FAIL && rnd(0, 3) != 0) j->k = K_EARN;
            if (j->k == K_SPEND_FAIL && rnd(0, 3) != 0) j->k = K_SPEND;
            snprintf(j->member, sizeof j->member, "%s", members[rnd(0, 2)]);
            snprintf(j->biz, sizeof j->biz, "b%d", seq++);
            j->points = rnd(1, 20);
            if (j->k == K_EARN || j->k == K_EARN_FAIL) {
                j->avail = rnd(0, 1) ? 0 : now + rnd(1, 180) * FX_MINUTE;
                int64_t base = j->avail ? j->avail : now;
                j->exp = rnd(0, 3) == 0 ? JF_NEVER : base + rnd(1, 300) * FX_MINUTE;
            }
            if (j->k == K_HOLD) j->ttl = rnd(30, 5400);
            if ((j->k == K_CAPTURE || j->k == K_RELEASE)) {
                if (nholds == 0) { j->k = K_EARN; j->avail = 0; j->exp = JF_NEVER; }
                else {
                    j->hold_id = hold_ids[rnd(0, nholds - 1)];
                    j->points = j->k == K_CAPTURE && rnd(0, 1) ? 1 : 0;
                }
            }
            if (j->k == K_REVERSE) {
                if (ndone == 0) { j->k = K_SPEND; }
                else {
                    int t = (int)rnd(0, ndone - 1);
                    snprintf(j->target, sizeof j->target, "%s", done_biz[t]);
                    snprintf(j->member, sizeof j->member, "%s", done_member[t]);
                    j->points = rnd(0, 1) ? 0 : rnd(1, 5);
                }
            }
        }
        jf_store *s = (round % 3 == 2) ? s2 : fx.store;
        rbatch b = {.jobs = jobs, .ctx = fx_ctx(&fx, now)};
        bool reran = false;
        jf_error err = {0};
        jf_code rc = jf_tx_batch(s, n, run_rjob, NULL, &b, &reran, &err);
        cr_assert_eq(rc, JF_OK, "batch: %s", err.detail);
        reruns += reran;
        for (size_t i = 0; i < n; i++) {
            rjob *j = &jobs[i];
            if (j->code != JF_OK) continue;
            oks++;
            if (j->k == K_HOLD && nholds < 4096) hold_ids[nholds++] = j->res.hold.id;
            if ((j->k == K_EARN || j->k == K_SPEND) && ndone < 8192) {
                snprintf(done_biz[ndone], 24, "%s", j->biz);
                snprintf(done_member[ndone], 8, "%s", j->member);
                ndone++;
            }
        }
        /* Every member a successful job touched has nothing due at `now`. */
        for (size_t i = 0; i < n; i++) {
            if (jobs[i].code != JF_OK) continue;
            int64_t mid = jobs[i].res.member.id;
            if (mid == 0) continue;
            int64_t due = member_due(&fx, mid);
            cr_assert_gt(due, now, "round %d job %zu kind %d member %s: due %lld <= now %lld", round, i, jobs[i].k,
                         jobs[i].member, (long long)due, (long long)now);
        }
        fx_verify_clean(&fx);
        if (round % 25 == 24) { fx_jobs_ok(&fx, now); fx_verify_clean(&fx); }
    }
    cr_assert_gt(reruns, 0, "some batches ran again with savepoints");
    cr_assert_gt(nholds, 0);
    cr_assert_gt(oks, rounds, "most jobs succeed");
    jf_store_close(s2);
}
