/*
 * test_batch.c — jf_tx_batch, the committer's transaction: many jobs, one
 * commit, no savepoint per job unless a job fails after writing.
 *
 * Each test builds a batch of ledger operations (plus, where needed, a job
 * that writes and then fails, which no engine operation does on purpose but
 * which a store error in the middle of an operation produces) and checks
 * what is on disk afterwards and how often each job ran.  Runs on SQLite
 * and on PostgreSQL, both optimistic first (write_mark; PostgreSQL's first
 * pass also holds its rows back, begin_batch), with the same expectations.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "fixture.h"

typedef enum {
    JOB_EARN,              /* earn 10 to member */
    JOB_SPEND,             /* spend 5 from member */
    JOB_EARN_THEN_FAIL,    /* earn 10 to member, then answer JF_INVALID_FIELD */
    JOB_RETRY,             /* answer JF_RETRY without writing */
} job_kind;

typedef struct {
    job_kind kind;
    const char *member;
    const char *biz_no;
    int runs;
    jf_code code;
    jf_error err;
} job;

typedef struct {
    job *jobs;
    jf_ctx ctx;
} batch;

static jf_code run_job(jf_store *s, size_t i, void *arg) {
    (void)s;
    batch *b = arg;
    job *j = &b->jobs[i];
    j->runs++;
    jf_error_clear(&j->err);
    jf_result res;
    switch (j->kind) {
    case JOB_EARN:
    case JOB_EARN_THEN_FAIL: {
        jf_earn_req r = {.member_id = j->member, .points = 10, .biz_no = j->biz_no};
        j->code = jf_earn(&b->ctx, &r, &res, &j->err);
        if (j->code == JF_OK && j->kind == JOB_EARN_THEN_FAIL)
            j->code = jf_fail(&j->err, JF_INVALID_FIELD, "points", "failed after writing");
        break;
    }
    case JOB_SPEND: {
        jf_spend_req r = {.member_id = j->member, .points = 5, .biz_no = j->biz_no};
        j->code = jf_spend(&b->ctx, &r, &res, &j->err);
        break;
    }
    case JOB_RETRY:
        j->code = jf_fail(&j->err, JF_RETRY, "", "lock wait timed out");
        break;
    }
    return j->code;
}

static jf_code run_batch(job *jobs, size_t n, bool *reran) {
    batch b = {.jobs = jobs, .ctx = fx_ctx(&fx, FX_T0 + FX_HOUR)};
    jf_error err = {0};
    jf_code rc = jf_tx_batch(fx.store, n, run_job, NULL, &b, reran, &err);
    cr_assert_eq(rc, JF_OK, "batch: %s", err.detail);
    return rc;
}

static bool optimistic(void) { return fx.store->ops->write_mark != NULL; }

TestSuite(batch, .init = fx_setup, .fini = fx_teardown);

Test(batch, every_job_commits_once_in_one_transaction) {
    job jobs[] = {
        {.kind = JOB_EARN, .member = "a", .biz_no = "e1"},
        {.kind = JOB_EARN, .member = "b", .biz_no = "e2"},
        {.kind = JOB_EARN, .member = "a", .biz_no = "e3"},
    };
    bool reran = true;
    run_batch(jobs, 3, &reran);
    cr_assert(!reran);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(jobs[i].code, JF_OK, "job %zu: %s", i, jobs[i].err.detail);
        cr_assert_eq(jobs[i].runs, 1);
    }
    cr_assert_eq(fx_member(&fx, "a").acct.available, 20);
    cr_assert_eq(fx_member(&fx, "b").acct.available, 10);
    fx_verify_clean(&fx);
}

/* A refused spend fails before it writes: no rerun, its neighbours commit. */
Test(batch, a_job_refused_before_writing_needs_no_rerun) {
    fx_earn_ok(&fx, FX_T0, "poor", 1, "seed");
    job jobs[] = {
        {.kind = JOB_EARN, .member = "a", .biz_no = "e1"},
        {.kind = JOB_SPEND, .member = "poor", .biz_no = "s1"},
        {.kind = JOB_EARN, .member = "b", .biz_no = "e2"},
    };
    bool reran = true;
    run_batch(jobs, 3, &reran);
    cr_assert(!reran);
    cr_assert_eq(jobs[0].code, JF_OK);
    cr_assert_eq(jobs[1].code, JF_INSUFFICIENT_POINTS);
    cr_assert_eq(jobs[2].code, JF_OK);
    for (size_t i = 0; i < 3; i++) cr_assert_eq(jobs[i].runs, 1, "job %zu ran %d times", i, jobs[i].runs);
    cr_assert_eq(fx_member(&fx, "poor").acct.available, 1);
    cr_assert_eq(fx_entries(&fx, "poor", NULL, 0), 1, "the refused spend wrote an entry");
    cr_assert_eq(fx_member(&fx, "a").acct.available, 10);
    cr_assert_eq(fx_member(&fx, "b").acct.available, 10);
    fx_verify_clean(&fx);
}

/* A job that fails after writing: everything rolls back and the batch runs
 * again with a savepoint per job; the failed job leaves nothing, the others
 * are written exactly once. */
Test(batch, a_job_failing_after_writing_leaves_nothing_and_the_rest_commit_once) {
    job jobs[] = {
        {.kind = JOB_EARN, .member = "a", .biz_no = "e1"},
        {.kind = JOB_EARN_THEN_FAIL, .member = "ghost", .biz_no = "e2"},
        {.kind = JOB_EARN, .member = "b", .biz_no = "e3"},
    };
    bool reran = false;
    run_batch(jobs, 3, &reran);
    cr_assert_eq(reran, optimistic());
    cr_assert_eq(jobs[0].code, JF_OK);
    cr_assert_eq(jobs[1].code, JF_INVALID_FIELD);
    cr_assert_eq(jobs[2].code, JF_OK);
    int expect_first = optimistic() ? 2 : 1;
    cr_assert_eq(jobs[0].runs, expect_first);
    cr_assert_eq(jobs[1].runs, expect_first);
    cr_assert_eq(jobs[2].runs, 1, "the pass stops at the failed job");
    cr_assert(!fx_member_exists(&fx, "ghost"), "the failed job's member was written");
    cr_assert_eq(fx_member(&fx, "a").acct.available, 10, "the rerun wrote job 0 twice");
    cr_assert_eq(fx_entries(&fx, "a", NULL, 0), 1);
    cr_assert_eq(fx_member(&fx, "b").acct.available, 10);
    fx_verify_clean(&fx);
}

/* JF_RETRY is not an answer: the job is rolled back alone (the committer
 * runs it again in another transaction); its neighbours commit. */
Test(batch, a_retry_is_rolled_back_alone) {
    job jobs[] = {
        {.kind = JOB_EARN, .member = "a", .biz_no = "e1"},
        {.kind = JOB_RETRY},
        {.kind = JOB_EARN, .member = "b", .biz_no = "e2"},
    };
    bool reran = false;
    run_batch(jobs, 3, &reran);
    cr_assert_eq(reran, optimistic());
    cr_assert_eq(jobs[0].code, JF_OK);
    cr_assert_eq(jobs[1].code, JF_RETRY);
    cr_assert_eq(jobs[2].code, JF_OK);
    cr_assert_eq(fx_member(&fx, "a").acct.available, 10);
    cr_assert_eq(fx_member(&fx, "b").acct.available, 10);
    fx_verify_clean(&fx);
}
