/*
 * test_pg.c — what only PostgreSQL can show: several servers on one database.
 *
 * Each "server" is a thread with its own connection (its own jf_store), all
 * on one fresh database of the test cluster.  Skipped unless
 * JIFEN_TEST_STORE=postgres and JIFEN_TEST_PG_URL are set (make test-pg sets
 * both).
 *   - concurrent spends on one member from 4 connections: exactly N of a
 *     balance of N succeed, the balance never goes negative, verify is clean;
 *   - the same biz_no from 4 connections at once, on a member that does not
 *     exist yet: one entry, every other caller gets the replay (the loser of
 *     the member insert and of the idempotency insert gets JF_RETRY inside
 *     jf_tx_run and replays on the next attempt);
 *   - jobs from 4 connections at once over many due lots and members: each
 *     lot expires exactly once, one expire entry per member;
 *   - a row lock held by another connection is JF_RETRY after lock_timeout;
 *   - rule creates on two connections count the tenant's rules one at a
 *     time (the 100th and a 101st: the second waits, then is refused), and
 *     a campaign budget awarded from 4 connections at once is spent exactly;
 *   - PostgreSQL stopped with `pg_ctl stop -m immediate` and started again
 *     while a writer runs (on a cluster of its own, so the other tests are
 *     not disturbed): the writer gets JF_UNAVAILABLE, reconnects by itself,
 *     every commit it was told about is there exactly once, verify is clean.
 * And the pipeline (pg.c: statements sent ahead, checked at the next sync),
 * driven the way the committer drives a batch — one transaction, a
 * savepoint per job:
 *   - an earn of an existing member waits for PostgreSQL twice;
 *   - the same request twice in one batch: the second is a replay (the
 *     idempotency record read with the member lock sees the first);
 *   - a write sent ahead that fails (an UPDATE of no row) fails its own job
 *     only, at its savepoint release: the job is rolled back, the jobs
 *     before and after it in the batch commit;
 *   - a unique violation found at a sync (the idempotency insert of a
 *     biz_no another connection committed meanwhile, in the pipeline of the
 *     job's writes sent ahead) is JF_RETRY, as without the pipeline, and the
 *     job's writes are rolled back while its neighbour commits;
 *   - PostgreSQL stopped while a job has writes in flight: JF_UNAVAILABLE,
 *     the batch's commit fails, nothing of it is written; after the restart
 *     the same connection works again.
 * And a batch's first pass, without savepoints (begin_batch, jf_tx_batch),
 * its rows held back and flushed one statement per table:
 *   - an earn waits once and sends two statements; the flush is four
 *     statements and one wait for the batch;
 *   - a write failing after its job returned (found at the flush), for a
 *     job in the middle and for the last one: the batch reruns with
 *     savepoints, the job fails alone, its neighbours commit once;
 *   - a biz_no another connection commits while the batch holds its record
 *     back: the batch reruns and the job answers the conflict;
 *   - later jobs see the rows held back (a replay, a spend of points just
 *     earned, a conflict on another member) without a rerun.
 */
#include <assert.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/events.h"
#include "engine/ledger.h"
#include "fixture.h"
#include "store/pg.h"

#define CONNS 4 /* "servers" */
#define T0 FX_T0

static char LOC[320]; /* this test's database */
static char DIR_[256];

static bool pg_configured(void) {
    const char *url = getenv("JIFEN_TEST_PG_URL");
    return fx_backend_is_postgres() && url != NULL && url[0] != '\0';
}

static void setup(void) {
    if (!pg_configured()) return;
    snprintf(DIR_, sizeof DIR_, "/tmp/jifen-pg-test-XXXXXX");
    cr_assert_not_null(mkdtemp(DIR_));
    fx_store_location(LOC, sizeof LOC, DIR_, "unused");
}

static void teardown(void) {
    if (!pg_configured()) return;
    fx_store_location_drop(LOC);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(pg, .init = setup, .fini = teardown, .timeout = 180);

#define SKIP_WITHOUT_PG()                                                                             \
    do {                                                                                              \
        if (!pg_configured()) cr_skip_test("no PostgreSQL (JIFEN_TEST_STORE=postgres, JIFEN_TEST_PG_URL)"); \
    } while (0)

/* ---- one "server": a connection and the tenant ---- */

typedef struct {
    jf_store *s;
    jf_tenant t;
} server;

static jf_code create_tenant(jf_store *s, void *arg, jf_error *err) {
    return jf_tenant_create(s, arg, T0, err);
}

static jf_store *open_loc(const char *loc) {
    jf_store *s = NULL;
    jf_error err = {0};
    cr_assert_eq(jf_store_open(loc, &s, &err), JF_OK, "open %s: %s", loc, err.detail);
    return s;
}

/* Open a connection; the first one creates the tenant "t1". */
static void server_open(server *v, const char *loc, bool create) {
    v->s = open_loc(loc);
    jf_error err = {0};
    if (create) {
        jf_tenant_defaults(&v->t);
        snprintf(v->t.slug, sizeof v->t.slug, "t1");
        cr_assert_eq(jf_tx_run(v->s, create_tenant, &v->t, &err), JF_OK, "%s", err.detail);
        return;
    }
    cr_assert_eq(v->s->ops->begin_read(v->s, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(v->s->ops->tenant_get_by_slug(v->s, "t1", &v->t, &err), JF_OK, "%s", err.detail);
    v->s->ops->rollback(v->s);
}

/* One engine operation in its own transaction, as a server runs it. */
typedef struct {
    server *v;
    int64_t now;
    int kind; /* 0 earn, 1 spend */
    const char *member;
    const char *biz_no;
    int64_t points;
    int64_t expires_at_ms;
    jf_result res;
} op;

static jf_code op_run(jf_store *s, void *arg, jf_error *err) {
    op *o = arg;
    jf_ctx c = {.store = s, .tenant = &o->v->t, .now_ms = o->now};
    if (o->kind == 0) {
        jf_earn_req r = {.member_id = o->member, .points = o->points, .biz_no = o->biz_no,
                         .expires_at_ms = o->expires_at_ms};
        return jf_earn(&c, &r, &o->res, err);
    }
    jf_spend_req r = {.member_id = o->member, .points = o->points, .biz_no = o->biz_no};
    return jf_spend(&c, &r, &o->res, err);
}

static jf_code run_op(server *v, int kind, const char *member, const char *biz_no, int64_t points,
                      int64_t expires_at_ms, jf_result *res, jf_error *err) {
    op o = {.v = v, .now = T0, .kind = kind, .member = member, .biz_no = biz_no, .points = points,
            .expires_at_ms = expires_at_ms};
    jf_code rc = jf_tx_run(v->s, op_run, &o, err);
    if (res) *res = o.res;
    return rc;
}

static void report(void *arg, int64_t tenant_id, const char *member_id, const char *finding) {
    (void)tenant_id;
    atomic_int *count = arg;
    atomic_fetch_add(count, 1);
    cr_log_error("verify: %s: %s", member_id, finding);
}

static void verify_clean(jf_store *s) {
    jf_error err = {0};
    int64_t findings = -1;
    atomic_int reported = 0;
    cr_assert_eq(jf_verify(s, report, &reported, &findings, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(findings, 0, "verify found %lld problems", (long long)findings);
}

static jf_member member_of(server *v, const char *ext_id) {
    jf_member m;
    jf_error err = {0};
    cr_assert_eq(v->s->ops->begin_read(v->s, &err), JF_OK, "%s", err.detail);
    jf_code rc = v->s->ops->member_get(v->s, v->t.id, ext_id, false, &m, &err);
    v->s->ops->rollback(v->s);
    cr_assert_eq(rc, JF_OK, "member %s: %s", ext_id, err.detail);
    return m;
}

/* All of a member's entries in chain order; returns the count. */
static size_t chain_of(server *v, int64_t member_id, jf_entry *out, size_t cap) {
    jf_error err = {0};
    size_t total = 0, n = 0;
    int64_t after = 0;
    jf_entry page[64];
    cr_assert_eq(v->s->ops->begin_read(v->s, &err), JF_OK, "%s", err.detail);
    do {
        cr_assert_eq(v->s->ops->entry_chain(v->s, member_id, after, page, 64, &n, &err), JF_OK, "%s", err.detail);
        for (size_t i = 0; i < n; i++) {
            if (total < cap) out[total] = page[i];
            total++;
        }
        if (n > 0) after = page[n - 1].seq;
    } while (n == 64);
    v->s->ops->rollback(v->s);
    return total;
}

/* ---- the store's op table is complete ---- */

/* Every operation the SQLite backend has, PostgreSQL has too: a NULL in the
 * table is a crash in the engine, so a newly added op must not be missed
 * (write_mark included: without it every batch job would get a savepoint;
 * begin_batch and writes_check are PostgreSQL's own).  The exceptions are
 * defer_sync and log_sync, optional by contract (a PostgreSQL COMMIT is
 * durable on its own terms), and member_store_check (PostgreSQL keeps
 * nothing of a member beside its records). */
Test(pg, ops_table_is_complete) {
    SKIP_WITHOUT_PG();
    char sqlite_path[400];
    snprintf(sqlite_path, sizeof sqlite_path, "%s/ops.db", DIR_);
    jf_store *sq = open_loc(sqlite_path), *pg = open_loc(LOC);
    cr_assert_str_eq(pg->ops->name, "postgres");
    typedef jf_code (*any_fn)(void);
    for (size_t off = offsetof(jf_store_ops, close); off + sizeof(any_fn) <= sizeof(jf_store_ops);
         off += sizeof(any_fn)) {
        any_fn a, b;
        memcpy(&a, (const char *)sq->ops + off, sizeof a);
        memcpy(&b, (const char *)pg->ops + off, sizeof b);
        if (off == offsetof(jf_store_ops, defer_sync) || off == offsetof(jf_store_ops, log_sync) ||
            off == offsetof(jf_store_ops, member_store_check))
            continue;
        cr_assert(a == NULL || b != NULL, "jf_store_ops slot at offset %zu: SQLite has it, PostgreSQL does not", off);
    }
    jf_store_close(sq);
    jf_store_close(pg);
}

/* ---- row locks ---- */

Test(pg, row_lock_wait_is_retry) {
    SKIP_WITHOUT_PG();
    server a, b;
    server_open(&a, LOC, true);
    server_open(&b, LOC, false);
    run_op(&a, 0, "m1", "e1", 10, 0, NULL, NULL);
    jf_member m = member_of(&a, "m1");
    jf_error err = {0};
    cr_assert_eq(jf_pg_exec_raw(b.s, "SET lock_timeout = '50ms'", &err), JF_OK, "%s", err.detail);
    jf_member got;
    cr_assert_eq(a.s->ops->begin(a.s, &err), JF_OK);
    cr_assert_eq(a.s->ops->member_get_by_id(a.s, m.id, true, &got, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(b.s->ops->begin(b.s, &err), JF_OK);
    jf_code rc = b.s->ops->member_get(b.s, a.t.id, "m1", true, &got, &err);
    cr_assert_eq(rc, JF_RETRY, "a locked row: %s (%s)", jf_code_name(rc), err.detail);
    b.s->ops->rollback(b.s);
    /* Reading without the lock does not wait. */
    cr_assert_eq(b.s->ops->member_get(b.s, a.t.id, "m1", false, &got, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(a.s->ops->commit(a.s, &err), JF_OK);
    cr_assert_eq(b.s->ops->begin(b.s, &err), JF_OK);
    cr_assert_eq(b.s->ops->member_get(b.s, a.t.id, "m1", true, &got, &err), JF_OK, "%s", err.detail);
    b.s->ops->rollback(b.s);
    jf_store_close(a.s);
    jf_store_close(b.s);
}

/* ---- concurrent spends ---- */

#define SPEND_BALANCE 240
#define SPEND_TRIES_PER_CONN 100 /* 400 tries for 240 points */

/* The start of a worker thread's state: its connection, the barrier all
 * workers start from, its number.  run_workers opens and starts them. */
typedef struct {
    server v;
    pthread_barrier_t *start;
    int index;
} worker;

/* Open a connection for each of CONNS workers (arrays of a struct that
 * begins with a worker, each `size` bytes) and start them together. */
static void run_workers(void *workers, size_t size, void *(*fn)(void *), pthread_barrier_t *start, pthread_t *th) {
    pthread_barrier_init(start, NULL, CONNS);
    for (int i = 0; i < CONNS; i++) {
        worker *w = (worker *)((char *)workers + (size_t)i * size);
        server_open(&w->v, LOC, false);
        w->start = start;
        w->index = i;
    }
    for (int i = 0; i < CONNS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, fn, (char *)workers + (size_t)i * size), 0);
}

typedef struct {
    worker w;
    int ok, short_of_points, other;
    jf_code other_code;
    char other_detail[256];
} spender;

static void *spender_main(void *p) {
    spender *w = p;
    pthread_barrier_wait(w->w.start);
    for (int i = 0; i < SPEND_TRIES_PER_CONN; i++) {
        char biz[32];
        snprintf(biz, sizeof biz, "s-%d-%d", w->w.index, i);
        jf_error err = {0};
        jf_code rc = run_op(&w->w.v, 1, "m1", biz, 1, 0, NULL, &err);
        if (rc == JF_OK)
            w->ok++;
        else if (rc == JF_INSUFFICIENT_POINTS)
            w->short_of_points++;
        else {
            w->other++;
            w->other_code = rc;
            snprintf(w->other_detail, sizeof w->other_detail, "%s", err.detail);
        }
    }
    return NULL;
}

Test(pg, concurrent_spends_on_one_member_exactly_n) {
    SKIP_WITHOUT_PG();
    server first;
    server_open(&first, LOC, true);
    /* The balance in lots of different expiries, so spends cross lots. */
    for (int i = 0; i < 12; i++) {
        char biz[16];
        snprintf(biz, sizeof biz, "e%d", i);
        jf_error err = {0};
        int64_t exp = i % 3 == 0 ? JF_NEVER : T0 + (int64_t)(30 + i) * FX_DAY;
        cr_assert_eq(run_op(&first, 0, "m1", biz, SPEND_BALANCE / 12, exp, NULL, &err), JF_OK, "%s", err.detail);
    }
    cr_assert_eq(member_of(&first, "m1").acct.available, SPEND_BALANCE);

    pthread_barrier_t start;
    spender w[CONNS];
    pthread_t th[CONNS];
    memset(w, 0, sizeof w);
    run_workers(w, sizeof w[0], spender_main, &start, th);
    int ok = 0, short_of = 0;
    for (int i = 0; i < CONNS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(w[i].other, 0, "connection %d: %d unexpected failures, last %s: %s", i, w[i].other,
                     jf_code_name(w[i].other_code), w[i].other_detail);
        ok += w[i].ok;
        short_of += w[i].short_of_points;
        cr_assert_gt(w[i].ok, 0, "connection %d never got a spend in", i);
        jf_store_close(w[i].w.v.s);
    }
    pthread_barrier_destroy(&start);
    cr_assert_eq(ok, SPEND_BALANCE, "exactly the balance is spent");
    cr_assert_eq(short_of, CONNS * SPEND_TRIES_PER_CONN - SPEND_BALANCE);
    jf_member m = member_of(&first, "m1");
    FX_ASSERT_ACCT(m.acct, 0, 0, 0, 0, SPEND_BALANCE, SPEND_BALANCE, 0);
    static jf_entry chain[400];
    size_t n = chain_of(&first, m.id, chain, 400);
    cr_assert_eq(n, 12 + SPEND_BALANCE, "one entry per earn and per successful spend");
    for (size_t i = 0; i < n; i++) cr_assert_geq(chain[i].available_after, 0, "never negative");
    verify_clean(first.s);
    jf_store_close(first.s);
}

/* ---- the same biz_no from several servers ---- */

#define DUP_ROUNDS 25

typedef struct {
    server v;
    pthread_barrier_t *start;
    jf_code rc[DUP_ROUNDS];
    jf_result res[DUP_ROUNDS];
    char detail[DUP_ROUNDS][256];
} dup_writer;

static void *dup_main(void *p) {
    dup_writer *w = p;
    for (int r = 0; r < DUP_ROUNDS; r++) {
        char member[16], biz[16];
        snprintf(member, sizeof member, "new-%d", r); /* first use: the member is created too */
        snprintf(biz, sizeof biz, "dup-%d", r);
        pthread_barrier_wait(w->start);
        jf_error err = {0};
        w->rc[r] = run_op(&w->v, 0, member, biz, 7, 0, &w->res[r], &err);
        snprintf(w->detail[r], sizeof w->detail[r], "%s", err.detail);
    }
    return NULL;
}

Test(pg, same_biz_no_from_several_servers_is_one_entry) {
    SKIP_WITHOUT_PG();
    server first;
    server_open(&first, LOC, true);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, CONNS);
    static dup_writer w[CONNS];
    memset(w, 0, sizeof w);
    pthread_t th[CONNS];
    for (int i = 0; i < CONNS; i++) {
        server_open(&w[i].v, LOC, false);
        w[i].start = &start;
    }
    for (int i = 0; i < CONNS; i++) cr_assert_eq(pthread_create(&th[i], NULL, dup_main, &w[i]), 0);
    for (int i = 0; i < CONNS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int r = 0; r < DUP_ROUNDS; r++) {
        int originals = 0;
        int64_t entry_id = 0;
        for (int i = 0; i < CONNS; i++) {
            cr_assert_eq(w[i].rc[r], JF_OK, "round %d, connection %d: %s: %s", r, i, jf_code_name(w[i].rc[r]),
                         w[i].detail[r]);
            if (!w[i].res[r].replayed) originals++;
            if (entry_id == 0) entry_id = w[i].res[r].entry.id;
            cr_assert_eq(w[i].res[r].entry.id, entry_id, "round %d: every caller is answered with one entry", r);
        }
        cr_assert_eq(originals, 1, "round %d: one original, the rest replays", r);
        char member[16];
        snprintf(member, sizeof member, "new-%d", r);
        jf_member m = member_of(&first, member);
        FX_ASSERT_ACCT(m.acct, 7, 0, 0, 0, 7, 0, 0);
        jf_entry chain[4];
        cr_assert_eq(chain_of(&first, m.id, chain, 4), 1, "round %d: one entry", r);
    }
    for (int i = 0; i < CONNS; i++) jf_store_close(w[i].v.s);
    verify_clean(first.s);
    jf_store_close(first.s);
}

/* ---- jobs on several servers at once ---- */

#define JOB_MEMBERS 300 /* more than one job transaction (JF_JOB_MEMBERS_PER_TX) */
#define JOB_LOTS_PER_MEMBER 3

typedef struct {
    server *v;
    int from, to;
    int64_t expires;
} seed_arg;

/* Many earns per transaction, to set up quickly. */
static jf_code seed_run(jf_store *s, void *arg, jf_error *err) {
    seed_arg *a = arg;
    jf_ctx c = {.store = s, .tenant = &a->v->t, .now_ms = T0};
    for (int m = a->from; m < a->to; m++) {
        char member[16];
        snprintf(member, sizeof member, "j%d", m);
        for (int l = 0; l < JOB_LOTS_PER_MEMBER + 1; l++) {
            char biz[32];
            snprintf(biz, sizeof biz, "j%d-%d", m, l);
            /* Three lots expire (at different instants, all due), one never. */
            jf_earn_req r = {.member_id = member, .points = 10 + l, .biz_no = biz,
                             .expires_at_ms = l == JOB_LOTS_PER_MEMBER ? JF_NEVER : a->expires + l * FX_MINUTE};
            jf_result res;
            jf_code rc = jf_earn(&c, &r, &res, err);
            if (rc != JF_OK) return rc;
        }
    }
    return JF_OK;
}

typedef struct {
    server v;
    pthread_barrier_t *start;
    int64_t now;
    jf_code rc;
    char detail[256];
    jf_job_stats stats;
} job_runner;

static void *job_main(void *p) {
    job_runner *w = p;
    pthread_barrier_wait(w->start);
    jf_error err = {0};
    w->rc = jf_jobs_run(w->v.s, w->now, &w->stats, &err);
    snprintf(w->detail, sizeof w->detail, "%s", err.detail);
    return NULL;
}

Test(pg, jobs_on_several_servers_expire_each_lot_once) {
    SKIP_WITHOUT_PG();
    server first;
    server_open(&first, LOC, true);
    int64_t expires = T0 + 10 * FX_DAY;
    for (int m = 0; m < JOB_MEMBERS; m += 50) {
        seed_arg a = {.v = &first, .from = m, .to = m + 50, .expires = expires};
        jf_error err = {0};
        cr_assert_eq(jf_tx_run(first.s, seed_run, &a, &err), JF_OK, "%s", err.detail);
    }
    int64_t per_member = 0;
    for (int l = 0; l < JOB_LOTS_PER_MEMBER; l++) per_member += 10 + l;

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, CONNS);
    job_runner w[CONNS];
    pthread_t th[CONNS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < CONNS; i++) {
        server_open(&w[i].v, LOC, false);
        w[i].start = &start;
        w[i].now = expires + FX_HOUR;
    }
    for (int i = 0; i < CONNS; i++) cr_assert_eq(pthread_create(&th[i], NULL, job_main, &w[i]), 0);
    jf_job_stats total = {0};
    for (int i = 0; i < CONNS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(w[i].rc, JF_OK, "jobs on connection %d: %s: %s", i, jf_code_name(w[i].rc), w[i].detail);
        total.lots_expired += w[i].stats.lots_expired;
        total.points_expired += w[i].stats.points_expired;
        total.members_settled += w[i].stats.members_settled;
        cr_log_info("connection %d: %lld members, %lld lots expired", i, (long long)w[i].stats.members_settled,
                    (long long)w[i].stats.lots_expired);
        jf_store_close(w[i].v.s);
    }
    pthread_barrier_destroy(&start);
    cr_assert_eq(total.lots_expired, JOB_MEMBERS * JOB_LOTS_PER_MEMBER, "each due lot expired exactly once");
    cr_assert_eq(total.points_expired, JOB_MEMBERS * per_member);
    cr_assert_eq(total.members_settled, JOB_MEMBERS, "each member settled once");
    for (int m = 0; m < JOB_MEMBERS; m++) {
        char member[16];
        snprintf(member, sizeof member, "j%d", m);
        jf_member got = member_of(&first, member);
        cr_assert_eq(got.acct.expired, per_member, "%s expired %lld", member, (long long)got.acct.expired);
        cr_assert_eq(got.acct.available, 10 + JOB_LOTS_PER_MEMBER);
        jf_entry chain[8];
        size_t n = chain_of(&first, got.id, chain, 8);
        cr_assert_eq(n, JOB_LOTS_PER_MEMBER + 2, "%s: %zu entries: 4 earns and one expire entry", member, n);
        cr_assert_eq(chain[n - 1].kind, JF_ENTRY_EXPIRE);
    }
    /* And nothing is left to do. */
    jf_job_stats again;
    jf_error err = {0};
    cr_assert_eq(jf_jobs_run(first.s, expires + FX_HOUR, &again, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(again.lots_expired, 0);
    cr_assert_eq(again.members_settled, 0);
    verify_clean(first.s);
    jf_store_close(first.s);
}

/* ---- PostgreSQL restarts under a writer ---- */

#define RESTART_MEMBERS 8
#define RESTART_OPS_MAX 20000

static char CLUSTER_STATE[300];

/* Run scripts/pg-test.sh (JIFEN_PG_SCRIPT overrides the path) against the
 * restart test's own cluster; returns its first output line in out. */
static int cluster(const char *command, char *out, size_t size) {
    const char *script = getenv("JIFEN_PG_SCRIPT") ? getenv("JIFEN_PG_SCRIPT") : "scripts/pg-test.sh";
    char cmd[900];
    snprintf(cmd, sizeof cmd, "JIFEN_PG_STATE='%s' '%s' %s 2>&1", CLUSTER_STATE, script, command);
    FILE *p = popen(cmd, "r");
    if (p == NULL) return -1;
    char line[512] = "";
    if (fgets(line, sizeof line, p) == NULL) line[0] = '\0';
    char rest[512];
    while (fgets(rest, sizeof rest, p) != NULL) {
    }
    int status = pclose(p);
    line[strcspn(line, "\n")] = '\0';
    if (out) snprintf(out, size, "%s", line);
    return status;
}

/* Criterion runs these besides the suite's init and fini; the state file
 * lives outside DIR_ so that the order of the two does not matter. */
static void restart_setup(void) {
    snprintf(CLUSTER_STATE, sizeof CLUSTER_STATE, "/tmp/jifen-pg-restart-%d.state", (int)getpid());
}

static void restart_teardown(void) {
    if (pg_configured()) (void)cluster("stop", NULL, 0);
    unlink(CLUSTER_STATE);
}

typedef struct {
    server v;
    atomic_bool stop;
    atomic_int committed;   /* ops acknowledged OK */
    atomic_int unavailable; /* JF_UNAVAILABLE answers */
    int other;
    jf_code other_code;
    char other_detail[256];
    int64_t points[RESTART_OPS_MAX]; /* op n: its points (member n % RESTART_MEMBERS) */
} restart_writer;

/* Earn op after op; an op that failed with JF_UNAVAILABLE is sent again with
 * the same biz_no until it is acknowledged (it may have committed before the
 * answer was lost: the retry then replays it). */
static void *restart_main(void *p) {
    restart_writer *w = p;
    for (int n = 0; n < RESTART_OPS_MAX && !atomic_load(&w->stop); n++) {
        char member[16], biz[32];
        snprintf(member, sizeof member, "r%d", n % RESTART_MEMBERS);
        snprintf(biz, sizeof biz, "w-%d", n);
        w->points[n] = 1 + n % 5;
        for (;;) {
            jf_error err = {0};
            jf_code rc = run_op(&w->v, 0, member, biz, w->points[n], 0, NULL, &err);
            if (rc == JF_OK) break;
            if (rc == JF_UNAVAILABLE) {
                atomic_fetch_add(&w->unavailable, 1);
                struct timespec ts = {0, 20 * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
            w->other++;
            w->other_code = rc;
            snprintf(w->other_detail, sizeof w->other_detail, "%s", err.detail);
            return NULL;
        }
        atomic_fetch_add(&w->committed, 1);
    }
    return NULL;
}

static void wait_for(atomic_int *counter, int at_least, const char *what) {
    for (int i = 0; i < 3000 && atomic_load(counter) < at_least; i++) usleep(10000);
    cr_assert_geq(atomic_load(counter), at_least, "timed out waiting for %s", what);
}

Test(pg, restart_under_a_writer, .init = restart_setup, .fini = restart_teardown) {
    SKIP_WITHOUT_PG();
    char url[400];
    cr_assert_eq(cluster("start", url, sizeof url), 0, "pg-test.sh start: %s", url);
    static restart_writer w;
    memset(&w, 0, sizeof w);
    server_open(&w.v, url, true);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, restart_main, &w), 0);
    wait_for(&w.committed, 50, "commits before the crash");
    char out[512];
    cr_assert_eq(cluster("crash", out, sizeof out), 0, "pg-test.sh crash: %s", out);
    wait_for(&w.unavailable, 3, "the writer to see the outage");
    int during = atomic_load(&w.committed);
    usleep(200000);
    cr_assert_leq(atomic_load(&w.committed) - during, 1, "nothing commits while PostgreSQL is down");
    cr_assert_eq(cluster("resume", out, sizeof out), 0, "pg-test.sh resume: %s", out);
    wait_for(&w.committed, during + 100, "commits after the restart (the writer reconnects by itself)");
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    cr_assert_eq(w.other, 0, "unexpected failure %s: %s", jf_code_name(w.other_code), w.other_detail);
    int committed = atomic_load(&w.committed);
    cr_log_info("restart: %d ops committed, %d unavailable answers", committed, atomic_load(&w.unavailable));

    /* Every acknowledged op is there exactly once. */
    int64_t want[RESTART_MEMBERS] = {0};
    int64_t count[RESTART_MEMBERS] = {0};
    for (int n = 0; n < committed; n++) {
        want[n % RESTART_MEMBERS] += w.points[n];
        count[n % RESTART_MEMBERS]++;
    }
    jf_error err = {0};
    cr_assert_eq(w.v.s->ops->begin_read(w.v.s, &err), JF_OK, "%s", err.detail);
    for (int n = 0; n < committed; n++) {
        char biz[32];
        snprintf(biz, sizeof biz, "w-%d", n);
        jf_idem rec;
        cr_assert_eq(w.v.s->ops->idem_get(w.v.s, w.v.t.id, biz, &rec, &err), JF_OK, "acknowledged %s is missing", biz);
        jf_entry e;
        cr_assert_eq(w.v.s->ops->entry_get(w.v.s, rec.entry_id, &e, &err), JF_OK, "%s", err.detail);
        cr_assert_str_eq(e.biz_no, biz);
        cr_assert_eq(e.points, w.points[n]);
    }
    w.v.s->ops->rollback(w.v.s);
    for (int i = 0; i < RESTART_MEMBERS; i++) {
        char member[16];
        snprintf(member, sizeof member, "r%d", i);
        jf_member m = member_of(&w.v, member);
        cr_assert_eq(m.acct.available, want[i], "%s: %lld, acknowledged %lld", member, (long long)m.acct.available,
                     (long long)want[i]);
        cr_assert_eq(m.entry_seq, count[i], "%s: one entry per acknowledged op", member);
    }
    verify_clean(w.v.s);
    jf_store_close(w.v.s);
}

/* ---- rules and budgets on several servers ---- */

typedef struct {
    server *v;
    const char *json;
    int64_t id;
} rule_arg;

static jf_code save_rule(jf_store *s, void *arg, jf_error *err) {
    rule_arg *r = arg;
    jf_ctx c = {.store = s, .tenant = &r->v->t, .now_ms = T0};
    json_error_t je;
    json_t *def = json_loads(r->json, 0, &je);
    cr_assert_not_null(def, "%s", je.text);
    jf_rule_row row;
    jf_code rc = jf_definition_save(&c, JF_DEF_RULE, 0, def, &row, err);
    json_decref(def);
    r->id = row.id;
    return rc;
}

typedef struct {
    server v;
    jf_code rc;
    atomic_bool done;
    char detail[256];
} rule_creator;

static void *rule_creator_main(void *p) {
    rule_creator *w = p;
    rule_arg r = {&w->v, "{\"name\":\"late\",\"event_type\":\"x\",\"award\":{\"points\":1}}", 0};
    jf_error err = {0};
    w->rc = jf_tx_run(w->v.s, save_rule, &r, &err);
    snprintf(w->detail, sizeof w->detail, "%s", err.detail);
    atomic_store(&w->done, true);
    return NULL;
}

Test(pg, rule_count_is_checked_one_create_at_a_time) {
    SKIP_WITHOUT_PG();
    server a;
    server_open(&a, LOC, true);
    jf_error err = {0};
    for (int i = 0; i < JF_RULES_PER_TENANT_MAX - 1; i++) {
        rule_arg r = {&a, "{\"name\":\"r\",\"event_type\":\"x\",\"award\":{\"points\":1}}", 0};
        cr_assert_eq(jf_tx_run(a.s, save_rule, &r, &err), JF_OK, "%s", err.detail);
    }
    /* a creates the 100th and has not committed yet ... */
    cr_assert_eq(a.s->ops->begin(a.s, &err), JF_OK, "%s", err.detail);
    rule_arg last = {&a, "{\"name\":\"100th\",\"event_type\":\"x\",\"award\":{\"points\":1}}", 0};
    cr_assert_eq(save_rule(a.s, &last, &err), JF_OK, "%s", err.detail);
    /* ... when b creates one more: b must wait for a, then count 100. */
    static rule_creator b;
    memset(&b, 0, sizeof b);
    server_open(&b.v, LOC, false);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, rule_creator_main, &b), 0);
    usleep(500000);
    cr_assert(!atomic_load(&b.done), "b counted the rules while a was still creating one (%s)", jf_code_name(b.rc));
    cr_assert_eq(a.s->ops->commit(a.s, &err), JF_OK, "%s", err.detail);
    pthread_join(th, NULL);
    cr_assert_eq(b.rc, JF_LIMIT_EXCEEDED, "b: %s (%s)", jf_code_name(b.rc), b.detail);
    size_t n = 0, total = 0;
    int64_t after = 0;
    static jf_rule_row rows[64];
    cr_assert_eq(a.s->ops->begin_read(a.s, &err), JF_OK);
    do {
        cr_assert_eq(a.s->ops->rule_list(a.s, a.t.id, JF_DEF_RULE, after, rows, 64, &n, &err), JF_OK, "%s", err.detail);
        total += n;
        if (n > 0) after = rows[n - 1].id;
    } while (n == 64);
    a.s->ops->rollback(a.s);
    cr_assert_eq(total, (size_t)JF_RULES_PER_TENANT_MAX);
    jf_store_close(a.s);
    jf_store_close(b.v.s);
}

#define BUDGET_POINTS 500
#define BUDGET_EVENTS_PER_CONN 30 /* 120 events of 7 points for a budget of 500 */

typedef struct {
    worker w;
    int64_t awarded;
    int failed;
    jf_code code;
    char detail[256];
} budget_worker;

typedef struct {
    server *v;
    char event_id[32], member[32];
    jf_event_outcome out;
} budget_event;

static jf_code budget_event_run(jf_store *s, void *arg, jf_error *err) {
    budget_event *e = arg;
    jf_ctx c = {.store = s, .tenant = &e->v->t, .now_ms = T0};
    jf_event ev = {.type = "order.paid", .event_id = e->event_id, .member_id = e->member, .occurred_at_ms = T0};
    uint8_t fp[JF_HASH_BYTES] = {0};
    return jf_event_process(&c, &ev, NULL, -1, fp, false, &e->out, err);
}

static void *budget_main(void *p) {
    budget_worker *w = p;
    static budget_event events[CONNS][BUDGET_EVENTS_PER_CONN];
    pthread_barrier_wait(w->w.start);
    for (int i = 0; i < BUDGET_EVENTS_PER_CONN; i++) {
        budget_event *e = &events[w->w.index][i];
        e->v = &w->w.v;
        snprintf(e->event_id, sizeof e->event_id, "b-%d-%d", w->w.index, i);
        snprintf(e->member, sizeof e->member, "m-%d-%d", w->w.index, i); /* a member each: only the budget is shared */
        jf_error err = {0};
        jf_code rc = jf_tx_run(w->w.v.s, budget_event_run, e, &err);
        if (rc != JF_OK) {
            w->failed++;
            w->code = rc;
            snprintf(w->detail, sizeof w->detail, "%s", err.detail);
            continue;
        }
        w->awarded += e->out.points_total;
    }
    return NULL;
}

Test(pg, budget_from_several_servers_is_spent_exactly) {
    SKIP_WITHOUT_PG();
    server first;
    server_open(&first, LOC, true);
    rule_arg r = {&first, "{\"name\":\"budget\",\"event_type\":\"order.paid\",\"award\":{\"points\":7},"
                          "\"caps\":{\"budget\":500}}", 0};
    jf_error err = {0};
    cr_assert_eq(jf_tx_run(first.s, save_rule, &r, &err), JF_OK, "%s", err.detail);
    pthread_barrier_t start;
    static budget_worker w[CONNS];
    pthread_t th[CONNS];
    memset(w, 0, sizeof w);
    run_workers(w, sizeof w[0], budget_main, &start, th);
    int64_t awarded = 0;
    for (int i = 0; i < CONNS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(w[i].failed, 0, "connection %d: %s: %s", i, jf_code_name(w[i].code), w[i].detail);
        awarded += w[i].awarded;
        jf_store_close(w[i].w.v.s);
    }
    pthread_barrier_destroy(&start);
    cr_assert_eq(awarded, BUDGET_POINTS, "awarded %lld of a budget of %d", (long long)awarded, BUDGET_POINTS);
    int64_t counter = -1;
    cr_assert_eq(first.s->ops->begin_read(first.s, &err), JF_OK);
    cr_assert_eq(first.s->ops->rule_budget_get(first.s, first.t.id, r.id, false, &counter, &err), JF_OK, "%s",
                 err.detail);
    first.s->ops->rollback(first.s);
    cr_assert_eq(counter, BUDGET_POINTS);
    verify_clean(first.s);
    jf_store_close(first.s);
}

/* ---- the pipeline, driven as the committer drives a batch ---- */

/* One job: savepoint, an earn, release; returns the job's code as the
 * committer would answer it (the earn's failure, else the release's). */
static jf_code batch_earn(server *v, const char *member, const char *biz_no, int64_t points, jf_result *res,
                          jf_error *err) {
    jf_store *s = v->s;
    jf_code rc = s->ops->savepoint(s, err);
    if (rc != JF_OK) return rc;
    jf_ctx c = {.store = s, .tenant = &v->t, .now_ms = T0};
    jf_earn_req r = {.member_id = member, .points = points, .biz_no = biz_no};
    jf_result scratch;
    rc = jf_earn(&c, &r, res ? res : &scratch, err);
    if (rc != JF_OK) {
        s->ops->savepoint_rollback(s);
        return rc;
    }
    return s->ops->savepoint_release(s, err);
}

static size_t entries_of(server *v, const char *member) {
    jf_entry chain[16];
    return chain_of(v, member_of(v, member).id, chain, 16);
}

static bool member_exists(server *v, const char *ext_id) {
    jf_member m;
    jf_error err = {0};
    cr_assert_eq(v->s->ops->begin_read(v->s, &err), JF_OK, "%s", err.detail);
    jf_code rc = v->s->ops->member_get(v->s, v->t.id, ext_id, false, &m, &err);
    v->s->ops->rollback(v->s);
    cr_assert(rc == JF_OK || rc == JF_NOT_FOUND, "%s", err.detail);
    return rc == JF_OK;
}

Test(pg, earn_waits_twice) {
    SKIP_WITHOUT_PG();
    server v;
    server_open(&v, LOC, true);
    run_op(&v, 0, "m1", "first", 5, 0, NULL, NULL); /* the member exists; its statements are prepared */
    jf_error err = {0};
    cr_assert_eq(v.s->ops->begin(v.s, &err), JF_OK, "%s", err.detail);
    jf_pg_counters c0 = jf_pg_counters_of(v.s);
    cr_assert_eq(batch_earn(&v, "m1", "second", 7, NULL, &err), JF_OK, "%s", err.detail);
    jf_pg_counters c1 = jf_pg_counters_of(v.s);
    cr_assert_eq(v.s->ops->commit(v.s, &err), JF_OK, "%s", err.detail);
    jf_pg_counters c2 = jf_pg_counters_of(v.s);
    /* The lock (with BEGIN, SAVEPOINT, and the member's due summary with
     * the idempotency lookup), and the idempotency insert with the entry, the
     * lot (its entry link folded into its INSERT) and the member update
     * sent ahead of it; RELEASE waits for nothing.  (Without the pipeline:
     * 12 statements, each waited for.) */
    cr_assert_eq(c1.round_trips - c0.round_trips, 2, "an earn waited %llu times",
                 (unsigned long long)(c1.round_trips - c0.round_trips));
    cr_assert_eq(c1.statements - c0.statements, 8, "an earn sent %llu statements",
                 (unsigned long long)(c1.statements - c0.statements));
    cr_assert_eq(c2.round_trips - c1.round_trips, 1, "COMMIT is one wait");
    FX_ASSERT_ACCT(member_of(&v, "m1").acct, 12, 0, 0, 0, 12, 0, 0);
    verify_clean(v.s);
    jf_store_close(v.s);
}

/* The idempotency record read with the member lock (idem_prefetch) sees
 * what the batch's earlier job wrote: the same request twice in one batch
 * is one earn and a replay. */
Test(pg, same_biz_no_twice_in_one_batch_is_a_replay) {
    SKIP_WITHOUT_PG();
    server v;
    server_open(&v, LOC, true);
    jf_error err = {0};
    jf_result first, second;
    cr_assert_eq(v.s->ops->begin(v.s, &err), JF_OK);
    cr_assert_eq(batch_earn(&v, "m", "twice", 8, &first, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(batch_earn(&v, "m", "twice", 8, &second, &err), JF_OK, "%s", err.detail);
    jf_code rc = batch_earn(&v, "m", "twice", 9, NULL, &err);
    cr_assert_eq(rc, JF_IDEMPOTENCY_CONFLICT, "another body: %s (%s)", jf_code_name(rc), err.detail);
    cr_assert_eq(v.s->ops->commit(v.s, &err), JF_OK, "%s", err.detail);
    cr_assert(!first.replayed);
    cr_assert(second.replayed);
    cr_assert_eq(second.entry.id, first.entry.id);
    FX_ASSERT_ACCT(member_of(&v, "m").acct, 8, 0, 0, 0, 8, 0, 0);
    cr_assert_eq(entries_of(&v, "m"), 1);
    jf_store_close(v.s);
}

/* Job 2 fails in a write sent ahead; jobs 1 and 3 of the same batch commit. */
static jf_code ghost_update_job(server *v, jf_error *err) {
    jf_store *s = v->s;
    jf_code rc = s->ops->savepoint(s, err);
    if (rc != JF_OK) return rc;
    jf_ctx c = {.store = s, .tenant = &v->t, .now_ms = T0};
    jf_earn_req r = {.member_id = "b", .points = 3, .biz_no = "job-b"};
    jf_result res;
    rc = jf_earn(&c, &r, &res, err);
    cr_assert_eq(rc, JF_OK, "%s", err->detail);
    jf_member ghost = res.member;
    ghost.id = 987654321; /* no such member: this UPDATE, sent ahead, touches no row… */
    rc = s->ops->member_update(s, &ghost, err);
    cr_assert_eq(rc, JF_OK, "sent ahead, the update is not checked yet: %s", err->detail);
    return s->ops->savepoint_release(s, err); /* …here */
}

Test(pg, failed_write_sent_ahead_fails_only_its_job) {
    SKIP_WITHOUT_PG();
    server v;
    server_open(&v, LOC, true);
    run_op(&v, 0, "a", "seed-a", 1, 0, NULL, NULL);
    run_op(&v, 0, "b", "seed-b", 1, 0, NULL, NULL);
    jf_error err = {0};
    cr_assert_eq(v.s->ops->begin(v.s, &err), JF_OK);
    cr_assert_eq(batch_earn(&v, "a", "job-a", 10, NULL, &err), JF_OK, "%s", err.detail);
    jf_code rc = ghost_update_job(&v, &err);
    cr_assert_eq(rc, JF_INTERNAL, "the failed job: %s (%s)", jf_code_name(rc), err.detail);
    cr_assert(strstr(err.detail, "member update") != NULL, "the failure names its statement: %s", err.detail);
    /* The next job of the batch runs in a clean transaction. */
    cr_assert_eq(batch_earn(&v, "c", "job-c", 30, NULL, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(v.s->ops->commit(v.s, &err), JF_OK, "%s", err.detail);
    FX_ASSERT_ACCT(member_of(&v, "a").acct, 11, 0, 0, 0, 11, 0, 0);
    FX_ASSERT_ACCT(member_of(&v, "b").acct, 1, 0, 0, 0, 1, 0, 0); /* job b left nothing */
    cr_assert_eq(entries_of(&v, "b"), 1);
    FX_ASSERT_ACCT(member_of(&v, "c").acct, 30, 0, 0, 0, 30, 0, 0);
    /* job-b is not recorded: the same request runs again, as new. */
    jf_result res;
    cr_assert_eq(run_op(&v, 0, "b", "job-b", 3, 0, &res, &err), JF_OK, "%s", err.detail);
    cr_assert(!res.replayed);
    verify_clean(v.s);
    jf_store_close(v.s);
}

/* The same through jf_tx_batch, as the committer runs it.  Its first pass
 * runs the jobs without savepoints (begin_batch) and holds their rows back:
 * the failed write is found after its job returned, when the batch's rows
 * are flushed (writes_check), and the batch runs again with a savepoint per
 * job, where the job whose write sent ahead fails is answered with that
 * failure (its release failed) and its neighbours commit: the batch is not
 * failed as a whole. */
typedef struct {
    server *v;
    size_t ghost; /* the job that sends a failing write ahead */
    int runs[3];
    jf_code codes[3];
    jf_error errs[3];
} ghost_batch;

static jf_code ghost_batch_run(jf_store *s, size_t i, void *arg) {
    ghost_batch *g = arg;
    g->runs[i]++;
    jf_ctx c = {.store = s, .tenant = &g->v->t, .now_ms = T0};
    const char *members[] = {"a", "b", "c"}, *biz[] = {"job-a", "job-b", "job-c"};
    jf_earn_req r = {.member_id = members[i], .points = 10, .biz_no = biz[i]};
    jf_result res;
    g->codes[i] = jf_earn(&c, &r, &res, &g->errs[i]);
    if (g->codes[i] == JF_OK && i == g->ghost) {
        jf_member ghost = res.member;
        ghost.id = 987654321; /* no such member: checked later */
        g->codes[i] = s->ops->member_update(s, &ghost, &g->errs[i]);
    }
    return g->codes[i];
}

static void ghost_batch_failed(size_t i, void *arg, jf_code code, const jf_error *err) {
    ghost_batch *g = arg;
    g->codes[i] = code;
    g->errs[i] = *err;
}

static void ghost_batch_check(size_t ghost) {
    server v;
    server_open(&v, LOC, true);
    run_op(&v, 0, "b", "seed-b", 1, 0, NULL, NULL);
    ghost_batch g = {.v = &v, .ghost = ghost};
    bool reran = false;
    jf_error err = {0};
    jf_code rc = jf_tx_batch(v.s, 3, ghost_batch_run, ghost_batch_failed, &g, &reran, &err);
    cr_assert_eq(rc, JF_OK, "the batch commits: %s (%s)", jf_code_name(rc), err.detail);
    cr_assert(reran, "the failure found after its job returned reran the batch with savepoints");
    const char *members[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(g.runs[i], 2, "job %zu ran %d times", i, g.runs[i]);
        if (i == ghost) {
            cr_assert_eq(g.codes[i], JF_INTERNAL, "%s (%s)", jf_code_name(g.codes[i]), g.errs[i].detail);
            cr_assert(strstr(g.errs[i].detail, "member update") != NULL, "%s", g.errs[i].detail);
        } else {
            cr_assert_eq(g.codes[i], JF_OK, "job %zu: %s", i, g.errs[i].detail);
        }
        int64_t seed = i == 1 ? 1 : 0, earned = i == ghost ? 0 : 10;
        if (seed + earned == 0) {
            cr_assert(!member_exists(&v, members[i]), "the failed job's member is gone");
            continue;
        }
        FX_ASSERT_ACCT(member_of(&v, members[i]).acct, seed + earned, 0, 0, 0, seed + earned, 0, 0);
    }
    verify_clean(v.s);
    jf_store_close(v.s);
}

Test(pg, batch_job_failing_at_its_release_fails_alone) {
    SKIP_WITHOUT_PG();
    ghost_batch_check(1); /* a job in the middle */
}

Test(pg, batch_last_job_failing_at_the_writes_check_fails_alone) {
    SKIP_WITHOUT_PG();
    ghost_batch_check(2);
}

/* Rows held back are flushed before a job could need them: a second job
 * on the same member (its lock) and a job on another member naming a
 * biz_no held back (its idempotency lookup) see the earlier jobs' rows —
 * a replay, a spend of the points just earned, a conflict — all in the
 * first pass, without savepoints (the flush in the conflicting job is not
 * a write of that job: it needs no rerun). */
typedef struct {
    server *v;
    jf_code codes[5];
    jf_result res[5];
} held_batch;

static jf_code held_batch_run(jf_store *s, size_t i, void *arg) {
    held_batch *h = arg;
    jf_ctx c = {.store = s, .tenant = &h->v->t, .now_ms = T0};
    jf_error err = {0};
    const char *members[] = {"m", "m", "m", "other", "m"}, *biz[] = {"e1", "e1", "s1", "e1", "e2"};
    if (i == 2) {
        jf_spend_req r = {.member_id = members[i], .points = 6, .biz_no = biz[i]};
        h->codes[i] = jf_spend(&c, &r, &h->res[i], &err);
    } else {
        jf_earn_req r = {.member_id = members[i], .points = 10, .biz_no = biz[i]};
        h->codes[i] = jf_earn(&c, &r, &h->res[i], &err);
    }
    return h->codes[i];
}

Test(pg, rows_held_back_are_seen_by_later_jobs_of_the_batch) {
    SKIP_WITHOUT_PG();
    server v;
    server_open(&v, LOC, true);
    run_op(&v, 0, "m", "seed", 1, 0, NULL, NULL);
    run_op(&v, 0, "other", "seed-other", 1, 0, NULL, NULL);
    held_batch h = {.v = &v};
    bool reran = true;
    jf_error err = {0};
    cr_assert_eq(jf_tx_batch(v.s, 5, held_batch_run, NULL, &h, &reran, &err), JF_OK, "%s", err.detail);
    cr_assert(!reran, "no job failed after writing");
    cr_assert_eq(h.codes[0], JF_OK);
    cr_assert_eq(h.codes[1], JF_OK);
    cr_assert(h.res[1].replayed, "the same request again is a replay");
    cr_assert_eq(h.res[1].entry.id, h.res[0].entry.id);
    cr_assert_eq(h.codes[2], JF_OK, "the spend finds the points earned in this batch");
    cr_assert_eq(h.codes[3], JF_IDEMPOTENCY_CONFLICT, "%s", jf_code_name(h.codes[3]));
    cr_assert_eq(h.codes[4], JF_OK);
    FX_ASSERT_ACCT(member_of(&v, "m").acct, 15, 0, 0, 0, 21, 6, 0);
    cr_assert_eq(entries_of(&v, "m"), 4);
    FX_ASSERT_ACCT(member_of(&v, "other").acct, 1, 0, 0, 0, 1, 0, 0);
    verify_clean(v.s);
    jf_store_close(v.s);
}

/* An earn in a batch without savepoints (begin_batch, jf_tx_batch's first
 * pass) waits once, at its member lock, and sends two statements: the
 * lock and the due summary (with the idempotency lookup and the drawn ids).
 * Its entry, lot, idempotency record and member update are held back and
 * sent with the batch's others, one statement per table (from
 * PG_FLUSH_MANY_MIN rows on: four earns here), at writes_check: four
 * statements and one wait for the whole batch. */
Test(pg, earn_in_a_batch_without_savepoints_waits_once) {
    SKIP_WITHOUT_PG();
    server v;
    server_open(&v, LOC, true);
    const char *members[] = {"m1", "m2", "m3", "m4"}, *seeds[] = {"first-1", "first-2", "first-3", "first-4"};
    const char *biz[] = {"second-1", "second-2", "second-3", "second-4"};
    for (int i = 0; i < 4; i++) run_op(&v, 0, members[i], seeds[i], 5, 0, NULL, NULL); /* they exist, prepared */
    jf_store *s = v.s;
    jf_error err = {0};
    cr_assert_eq(s->ops->begin_batch(s, &err), JF_OK, "%s", err.detail);
    jf_ctx c = {.store = s, .tenant = &v.t, .now_ms = T0};
    jf_result res;
    for (int i = 0; i < 3; i++) {
        jf_earn_req r = {.member_id = members[i], .points = 7, .biz_no = biz[i]};
        cr_assert_eq(jf_earn(&c, &r, &res, &err), JF_OK, "%s", err.detail);
    }
    jf_pg_counters c0 = jf_pg_counters_of(s);
    jf_earn_req r4 = {.member_id = "m4", .points = 3, .biz_no = "second-4"};
    cr_assert_eq(jf_earn(&c, &r4, &res, &err), JF_OK, "%s", err.detail);
    jf_pg_counters c1 = jf_pg_counters_of(s);
    cr_assert_eq(s->ops->writes_check(s, &err), JF_OK, "%s", err.detail);
    jf_pg_counters c2 = jf_pg_counters_of(s);
    cr_assert_eq(s->ops->commit(s, &err), JF_OK, "%s", err.detail);
    jf_pg_counters c3 = jf_pg_counters_of(s);
    cr_assert_eq(c1.round_trips - c0.round_trips, 1, "an earn waited %llu times",
                 (unsigned long long)(c1.round_trips - c0.round_trips));
    cr_assert_eq(c1.statements - c0.statements, 2, "an earn sent %llu statements",
                 (unsigned long long)(c1.statements - c0.statements));
    cr_assert_eq(c2.statements - c1.statements, 4, "the batch's rows: one statement per table");
    cr_assert_eq(c2.round_trips - c1.round_trips, 1, "the batch's writes are checked in one wait");
    cr_assert_eq(c3.round_trips - c2.round_trips, 1, "COMMIT is one wait");
    for (int i = 0; i < 3; i++) FX_ASSERT_ACCT(member_of(&v, members[i]).acct, 12, 0, 0, 0, 12, 0, 0);
    FX_ASSERT_ACCT(member_of(&v, "m4").acct, 8, 0, 0, 0, 8, 0, 0);
    verify_clean(v.s);
    jf_store_close(v.s);
}

/* ---- a batch's members locked at once (store.h: batch_members) ----
 *
 * Batches run through jf_tx_batch as the committer runs them, after the
 * hint it gives: each job's member and biz_no. */
typedef struct {
    int kind; /* 0 earn, 1 spend, 2 hold */
    const char *member, *biz_no;
    int64_t points;
    int64_t now_ms; /* 0: T0 */
    int64_t expires_at_ms, available_at_ms, ttl_s;
    const char *hint_biz_no; /* NULL: biz_no */
} script_job;

#define SCRIPT_JOBS_MAX 8

typedef struct {
    server *v;
    const script_job *jobs;
    size_t n;
    jf_code codes[SCRIPT_JOBS_MAX];
    jf_result res[SCRIPT_JOBS_MAX];
    jf_error errs[SCRIPT_JOBS_MAX];
    bool reran;
} script;

static jf_code script_run(jf_store *s, size_t i, void *arg) {
    script *sc = arg;
    const script_job *j = &sc->jobs[i];
    jf_ctx c = {.store = s, .tenant = &sc->v->t, .now_ms = j->now_ms ? j->now_ms : T0};
    jf_error_clear(&sc->errs[i]);
    if (j->kind == 1) {
        jf_spend_req r = {.member_id = j->member, .points = j->points, .biz_no = j->biz_no};
        sc->codes[i] = jf_spend(&c, &r, &sc->res[i], &sc->errs[i]);
    } else if (j->kind == 2) {
        jf_hold_req r = {.member_id = j->member, .points = j->points, .biz_no = j->biz_no, .ttl_s = j->ttl_s};
        sc->codes[i] = jf_hold_create(&c, &r, &sc->res[i], &sc->errs[i]);
    } else {
        jf_earn_req r = {.member_id = j->member, .points = j->points, .biz_no = j->biz_no,
                         .expires_at_ms = j->expires_at_ms, .available_at_ms = j->available_at_ms};
        sc->codes[i] = jf_earn(&c, &r, &sc->res[i], &sc->errs[i]);
    }
    return sc->codes[i];
}

static void script_hint(script *sc) {
    jf_batch_member hints[SCRIPT_JOBS_MAX];
    for (size_t i = 0; i < sc->n; i++) {
        const script_job *j = &sc->jobs[i];
        hints[i] = (jf_batch_member){sc->v->t.id, j->member, j->hint_biz_no ? j->hint_biz_no : j->biz_no};
    }
    jf_store *s = sc->v->s;
    cr_assert(s->ops->batch_members != NULL);
    s->ops->batch_members(s, hints, sc->n);
}

/* The jobs as one hinted batch; returns jf_tx_batch's code. */
static jf_code script_batch(script *sc, server *v, const script_job *jobs, size_t n) {
    assert(n <= SCRIPT_JOBS_MAX);
    memset(sc, 0, sizeof *sc);
    *sc = (script){.v = v, .jobs = jobs, .n = n};
    script_hint(sc);
    jf_error err = {0};
    jf_code rc = jf_tx_batch(v->s, n, script_run, NULL, sc, &sc->reran, &err);
    cr_assert_eq(rc, JF_OK, "the batch: %s (%s)", jf_code_name(rc), err.detail);
    return rc;
}

/* Every job answered JF_OK in the first pass. */
static void script_all_ok(const script *sc) {
    for (size_t i = 0; i < sc->n; i++)
        cr_assert_eq(sc->codes[i], JF_OK, "job %zu: %s (%s)", i, jf_code_name(sc->codes[i]), sc->errs[i].detail);
    cr_assert(!sc->reran, "no job failed after writing");
}

static void assert_ids_in_seq_order(server *v, const char *member) {
    jf_entry chain[16];
    size_t n = chain_of(v, member_of(v, member).id, chain, 16);
    for (size_t i = 1; i < n && i < 16; i++)
        cr_assert_gt(chain[i].id, chain[i - 1].id, "%s: entry seq %lld has id %lld, after id %lld", member,
                     (long long)chain[i].seq, (long long)chain[i].id, (long long)chain[i - 1].id);
}

/* A hinted batch: one wait and four statements (BEGIN, the lock, the
 * members read, the jobs' ids and idempotency records) at its first lock;
 * every later earn of an existing member, a second one of the same member
 * included, is answered from them without a statement.  A member that does
 * not exist yet is created as before. */
Test(pg, batch_lock_answers_a_batch_in_one_wait) {
    SKIP_WITHOUT_PG();
    server v;
    server_open(&v, LOC, true);
    const char *members[] = {"m1", "m2", "m3", "m4"}, *seeds[] = {"seed-1", "seed-2", "seed-3", "seed-4"};
    for (int i = 0; i < 4; i++) run_op(&v, 0, members[i], seeds[i], 5, 0, NULL, NULL); /* they exist, prepared */
    static const script_job jobs[] = {
        {.member = "m1", .biz_no = "b1", .points = 7}, {.member = "m1", .biz_no = "b1-again", .points = 1},
        {.member = "m2", .biz_no = "b2", .points = 7}, {.member = "m3", .biz_no = "b3", .points = 7},
        {.member = "m4", .biz_no = "b4", .points = 7},
    };
    jf_store *s = v.s;
    script sc = {.v = &v, .jobs = jobs, .n = 5};
    script_hint(&sc);
    jf_error err = {0};
    cr_assert_eq(s->ops->begin_batch(s, &err), JF_OK, "%s", err.detail);
    jf_pg_counters c0 = jf_pg_counters_of(s);
    cr_assert_eq(script_run(s, 0, &sc), JF_OK, "%s", sc.errs[0].detail);
    jf_pg_counters c1 = jf_pg_counters_of(s);
    for (size_t i = 1; i < 5; i++) cr_assert_eq(script_run(s, i, &sc), JF_OK, "job %zu: %s", i, sc.errs[i].detail);
    jf_pg_counters c2 = jf_pg_counters_of(s);
    cr_assert_eq(s->ops->writes_check(s, &err), JF_OK, "%s", err.detail);
    jf_pg_counters c3 = jf_pg_counters_of(s);
    cr_assert_eq(s->ops->commit(s, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(c1.round_trips - c0.round_trips, 1, "the first job waited %llu times",
                 (unsigned long long)(c1.round_trips - c0.round_trips));
    cr_assert_eq(c1.statements - c0.statements, 4, "the first job sent %llu statements",
                 (unsigned long long)(c1.statements - c0.statements));
    cr_assert_eq(c2.round_trips - c1.round_trips, 0, "the other jobs waited");
    cr_assert_eq(c2.statements - c1.statements, 0, "the other jobs sent statements");
    cr_assert_eq(c2.batch_locked - c0.batch_locked, 5, "every lock was answered from the batch's");
    cr_assert_eq(c3.statements - c2.statements, 4, "the rows: one statement per table (four member updates)");
    FX_ASSERT_ACCT(member_of(&v, "m1").acct, 13, 0, 0, 0, 13, 0, 0);
    for (int i = 1; i < 4; i++) FX_ASSERT_ACCT(member_of(&v, members[i]).acct, 12, 0, 0, 0, 12, 0, 0);
    cr_assert_eq(entries_of(&v, "m1"), 3);
    assert_ids_in_seq_order(&v, "m1");
    /* A member that does not exist yet, twice, beside one that does. */
    static const script_job fresh[] = {
        {.member = "fresh", .biz_no = "f1", .points = 2}, {.member = "fresh", .biz_no = "f2", .points = 3},
        {.member = "m2", .biz_no = "b2-2", .points = 1},
    };
    script_batch(&sc, &v, fresh, 3);
    script_all_ok(&sc);
    FX_ASSERT_ACCT(member_of(&v, "fresh").acct, 5, 0, 0, 0, 5, 0, 0);
    FX_ASSERT_ACCT(member_of(&v, "m2").acct, 13, 0, 0, 0, 13, 0, 0);
    assert_ids_in_seq_order(&v, "fresh");
    verify_clean(v.s);
    jf_store_close(v.s);
}

/* What the jobs of a hinted batch write is seen by the later jobs of the
 * same members, answered from the batch's lock: the same request again is a
 * replay, a spend finds the points just earned, another member's request
 * with that biz_no is a conflict — in the first pass, without a rerun. */
Test(pg, batch_lock_answers_see_the_batch_writes) {
    SKIP_WITHOUT_PG();
    server v;
    server_open(&v, LOC, true);
    run_op(&v, 0, "m", "seed", 1, 0, NULL, NULL);
    run_op(&v, 0, "other", "seed-other", 1, 0, NULL, NULL);
    static const script_job jobs[] = {
        {.member = "m", .biz_no = "e1", .points = 10},     {.member = "m", .biz_no = "e1", .points = 10},
        {.kind = 1, .member = "m", .biz_no = "s1", .points = 6}, {.member = "other", .biz_no = "e1", .points = 10},
        {.member = "m", .biz_no = "e2", .points = 10},
    };
    script sc;
    script_batch(&sc, &v, jobs, 5);
    cr_assert(!sc.reran, "no job failed after writing");
    cr_assert_eq(sc.codes[0], JF_OK, "%s", sc.errs[0].detail);
    cr_assert_eq(sc.codes[1], JF_OK, "%s", sc.errs[1].detail);
    cr_assert(sc.res[1].replayed, "the same request again is a replay");
    cr_assert_eq(sc.res[1].entry.id, sc.res[0].entry.id);
    cr_assert_eq(sc.codes[2], JF_OK, "the spend finds the points earned in this batch: %s", sc.errs[2].detail);
    cr_assert_eq(sc.codes[3], JF_IDEMPOTENCY_CONFLICT, "%s", jf_code_name(sc.codes[3]));
    cr_assert_eq(sc.codes[4], JF_OK, "%s", sc.errs[4].detail);
    FX_ASSERT_ACCT(member_of(&v, "m").acct, 15, 0, 0, 0, 21, 6, 0);
    cr_assert_eq(entries_of(&v, "m"), 4);
    assert_ids_in_seq_order(&v, "m");
    FX_ASSERT_ACCT(member_of(&v, "other").acct, 1, 0, 0, 0, 1, 0, 0);
    verify_clean(v.s);
    jf_store_close(v.s);
}

/* The due summary read with a batch's lock follows the batch's own writes:
 * a lot earned by one job that expires (or activates, or a hold that times
 * out) before a later job of the same member runs is settled by that job,
 * though the summary read at the lock said nothing was due. */
Test(pg, batch_lock_due_summary_follows_the_batch_writes) {
    SKIP_WITHOUT_PG();
    server v;
    server_open(&v, LOC, true);
    run_op(&v, 0, "x", "seed-x", 1, 0, NULL, NULL); /* never expires: nothing due */
    run_op(&v, 0, "p", "seed-p", 1, 0, NULL, NULL);
    run_op(&v, 0, "h", "seed-h", 5, 0, NULL, NULL);
    static const script_job jobs[] = {
        {.member = "h", .biz_no = "h-hold", .kind = 2, .points = 2, .ttl_s = 1},
        {.member = "h", .biz_no = "h-later", .points = 1, .now_ms = T0 + 2000},
        {.member = "p", .biz_no = "p-pending", .points = 4, .available_at_ms = T0 + 1000},
        {.member = "p", .biz_no = "p-later", .points = 1, .now_ms = T0 + 2000},
        {.member = "x", .biz_no = "x-soon", .points = 5, .expires_at_ms = T0 + 1000},
        {.member = "x", .biz_no = "x-later", .points = 1, .now_ms = T0 + 2000},
    };
    script sc;
    script_batch(&sc, &v, jobs, 6);
    script_all_ok(&sc);
    FX_ASSERT_ACCT(member_of(&v, "h").acct, 6, 0, 0, 0, 6, 0, 0);  /* the hold timed out: released */
    FX_ASSERT_ACCT(member_of(&v, "p").acct, 6, 0, 0, 0, 6, 0, 0);  /* the pending lot activated */
    FX_ASSERT_ACCT(member_of(&v, "x").acct, 2, 0, 0, 0, 7, 0, 5);  /* the lot expired */
    verify_clean(v.s);
    jf_store_close(v.s);
}

/* Ids drawn at a batch's lock are used only while they are larger than
 * every id of the member's rows written since: here the first job is not
 * the one hinted (another biz_no) and locks as usual, drawing larger ids;
 * the second, answered from the batch's lock, must not take the smaller
 * ones it drew (entry ids would then go against the member's seq order). */
Test(pg, batch_lock_drawn_ids_keep_creation_order) {
    SKIP_WITHOUT_PG();
    server v;
    server_open(&v, LOC, true);
    run_op(&v, 0, "m", "seed", 1, 0, NULL, NULL);
    static const script_job jobs[] = {
        {.member = "m", .biz_no = "not-hinted", .points = 2, .hint_biz_no = "h1"},
        {.member = "m", .biz_no = "h2", .points = 3},
    };
    script sc;
    jf_pg_counters c0 = jf_pg_counters_of(v.s);
    script_batch(&sc, &v, jobs, 2);
    jf_pg_counters c1 = jf_pg_counters_of(v.s);
    script_all_ok(&sc);
    cr_assert_eq(c1.batch_locked - c0.batch_locked, 1, "the second job was answered from the batch's lock");
    FX_ASSERT_ACCT(member_of(&v, "m").acct, 6, 0, 0, 0, 6, 0, 0);
    assert_ids_in_seq_order(&v, "m");
    verify_clean(v.s);
    jf_store_close(v.s);
}

typedef struct {
    server v;
    jf_code rc;
    char detail[256];
} racer;

/* In a batch: an earn whose biz_no another connection holds uncommitted. */
static void *racer_main(void *p) {
    racer *w = p;
    jf_error err = {0};
    w->rc = batch_earn(&w->v, "late", "raced", 4, NULL, &err);
    snprintf(w->detail, sizeof w->detail, "%s", err.detail);
    return NULL;
}

/* Two connections, x and y; x records "raced" for member "early" in a
 * batch and keeps it uncommitted. */
static void race_open(server *x, server *y) {
    server_open(x, LOC, true);
    server_open(y, LOC, false);
    jf_error err = {0};
    cr_assert_eq(x->s->ops->begin(x->s, &err), JF_OK);
    cr_assert_eq(batch_earn(x, "early", "raced", 9, NULL, &err), JF_OK, "%s", err.detail);
}

Test(pg, unique_violation_found_at_sync_is_retry) {
    SKIP_WITHOUT_PG();
    server x;
    static racer y;
    memset(&y, 0, sizeof y);
    race_open(&x, &y.v);
    jf_error err = {0};
    /* y: a first job that will commit, then the racing one, which finds
     * nothing under "raced" yet, sends its writes ahead and waits in the
     * idempotency insert for x. */
    cr_assert_eq(y.v.s->ops->begin(y.v.s, &err), JF_OK);
    cr_assert_eq(batch_earn(&y.v, "neighbour", "n1", 2, NULL, &err), JF_OK, "%s", err.detail);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, racer_main, &y), 0);
    usleep(300000);
    cr_assert_eq(x.s->ops->commit(x.s, &err), JF_OK, "%s", err.detail);
    pthread_join(th, NULL);
    cr_assert_eq(y.rc, JF_RETRY, "the raced job: %s (%s)", jf_code_name(y.rc), y.detail);
    cr_assert_eq(y.v.s->ops->commit(y.v.s, &err), JF_OK, "the batch commits without it: %s", err.detail);
    FX_ASSERT_ACCT(member_of(&x, "early").acct, 9, 0, 0, 0, 9, 0, 0);
    FX_ASSERT_ACCT(member_of(&x, "neighbour").acct, 2, 0, 0, 0, 2, 0, 0);
    cr_assert(!member_exists(&x, "late"), "the raced job's member (created in its savepoint) is gone");
    /* Run again, as the committer would: the biz_no now answers a conflict
     * (another member's request), before anything is written. */
    cr_assert_eq(y.v.s->ops->begin(y.v.s, &err), JF_OK);
    jf_code rc = batch_earn(&y.v, "late", "raced", 4, NULL, &err);
    cr_assert_eq(rc, JF_IDEMPOTENCY_CONFLICT, "%s (%s)", jf_code_name(rc), err.detail);
    cr_assert_eq(y.v.s->ops->commit(y.v.s, &err), JF_OK, "%s", err.detail);
    cr_assert(!member_exists(&x, "late"));
    verify_clean(x.s);
    jf_store_close(x.s);
    jf_store_close(y.v.s);
}

/* A batch's lock waits for the member's last holder on another connection
 * and then reads what it committed: its idempotency record (the same
 * request is a replay) and the member's new balance (a later earn adds to
 * it) — answered from the batch's lock, in the first pass. */
typedef struct {
    server v;
    const script_job *jobs;
    size_t n;
    script sc;
    jf_code rc;
    pthread_t th;
} lock_racer;

static void *lock_racer_main(void *p) {
    lock_racer *w = p;
    w->sc = (script){.v = &w->v, .jobs = w->jobs, .n = w->n};
    script_hint(&w->sc);
    jf_error err = {0};
    w->rc = jf_tx_batch(w->v.s, w->n, script_run, NULL, &w->sc, &w->sc.reran, &err);
    return NULL;
}

/* x (opened, with y) holds member "early" (seeded with 1 point) with an
 * uncommitted earn of 9 under biz_no "raced"; y starts its hinted batch
 * of jobs[0..n) in a thread, whose lock waits for x. */
static void lock_race_start(server *x, lock_racer *y, const script_job *jobs, size_t n) {
    server_open(x, LOC, true);
    server_open(&y->v, LOC, false);
    jf_error err = {0};
    cr_assert_eq(run_op(x, 0, "early", "seed", 1, 0, NULL, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(x->s->ops->begin(x->s, &err), JF_OK);
    cr_assert_eq(batch_earn(x, "early", "raced", 9, NULL, &err), JF_OK, "%s", err.detail);
    y->jobs = jobs;
    y->n = n;
    cr_assert_eq(pthread_create(&y->th, NULL, lock_racer_main, y), 0);
    usleep(300000); /* y waits in the batch's lock */
}

Test(pg, batch_lock_reads_what_the_last_holder_committed) {
    SKIP_WITHOUT_PG();
    server x;
    static lock_racer y;
    memset(&y, 0, sizeof y);
    static const script_job jobs[] = {
        {.member = "early", .biz_no = "raced", .points = 9}, {.member = "early", .biz_no = "after", .points = 1},
    };
    lock_race_start(&x, &y, jobs, 2);
    jf_error err = {0};
    cr_assert_eq(x.s->ops->commit(x.s, &err), JF_OK, "%s", err.detail);
    pthread_join(y.th, NULL);
    jf_pg_counters c1 = jf_pg_counters_of(y.v.s);
    cr_assert_eq(y.rc, JF_OK, "%s", jf_code_name(y.rc));
    cr_assert(!y.sc.reran);
    cr_assert_eq(c1.batch_locked, 2, "y's connection answered both locks from its batch's");
    cr_assert_eq(y.sc.codes[0], JF_OK, "%s", y.sc.errs[0].detail);
    cr_assert(y.sc.res[0].replayed, "x's record is seen: a replay");
    cr_assert_eq(y.sc.codes[1], JF_OK, "%s", y.sc.errs[1].detail);
    FX_ASSERT_ACCT(member_of(&x, "early").acct, 11, 0, 0, 0, 11, 0, 0);
    cr_assert_eq(entries_of(&x, "early"), 3);
    verify_clean(x.s);
    jf_store_close(x.s);
    jf_store_close(y.v.s);
}

/* A member created and committed by another connection while the batch's
 * lock waits for an earlier member is not locked by it (the lock statement's
 * snapshot is older), though the members read after the lock sees it: its
 * job must take its own lock, not be answered from the batch's. */
Test(pg, batch_lock_does_not_answer_for_a_member_it_did_not_lock) {
    SKIP_WITHOUT_PG();
    server x, z;
    static lock_racer y;
    memset(&y, 0, sizeof y);
    static const script_job jobs[] = {
        {.member = "early", .biz_no = "after", .points = 1}, {.member = "late", .biz_no = "late-2", .points = 2},
    };
    lock_race_start(&x, &y, jobs, 2);
    server_open(&z, LOC, false);
    jf_error err = {0};
    cr_assert_eq(run_op(&z, 0, "late", "late-1", 5, 0, NULL, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(x.s->ops->commit(x.s, &err), JF_OK, "%s", err.detail);
    pthread_join(y.th, NULL);
    jf_pg_counters c1 = jf_pg_counters_of(y.v.s);
    cr_assert_eq(y.rc, JF_OK, "%s", jf_code_name(y.rc));
    script_all_ok(&y.sc);
    cr_assert_eq(c1.batch_locked, 1, "only \"early\" was answered from the batch's lock");
    FX_ASSERT_ACCT(member_of(&x, "early").acct, 11, 0, 0, 0, 11, 0, 0);
    FX_ASSERT_ACCT(member_of(&x, "late").acct, 7, 0, 0, 0, 7, 0, 0);
    verify_clean(x.s);
    jf_store_close(x.s);
    jf_store_close(y.v.s);
    jf_store_close(z.s);
}

/* In a batch without savepoints the idempotency insert is sent ahead: a
 * biz_no another connection committed meanwhile is found at the next job's
 * wait (the key taken, nothing inserted), and the batch runs again with a
 * savepoint per job, where the job finds the record and answers as the
 * lookup does (another member's request: a conflict), before writing; its
 * neighbours commit once. */
typedef struct {
    server v;
    int runs[3];
    jf_code codes[3];
    bool reran;
    jf_code rc;
} idem_race;

static jf_code idem_race_run(jf_store *s, size_t i, void *arg) {
    idem_race *w = arg;
    w->runs[i]++;
    jf_ctx c = {.store = s, .tenant = &w->v.t, .now_ms = T0};
    const char *members[] = {"n1", "late", "n2"}, *biz[] = {"n1", "raced", "n2"};
    jf_earn_req r = {.member_id = members[i], .points = 4, .biz_no = biz[i]};
    jf_result res;
    jf_error err = {0};
    w->codes[i] = jf_earn(&c, &r, &res, &err);
    return w->codes[i];
}

static void *idem_race_main(void *p) {
    idem_race *w = p;
    jf_error err = {0};
    w->rc = jf_tx_batch(w->v.s, 3, idem_race_run, NULL, w, &w->reran, &err);
    return NULL;
}

Test(pg, biz_no_taken_after_its_job_returned_reruns_the_batch) {
    SKIP_WITHOUT_PG();
    server x;
    static idem_race y;
    memset(&y, 0, sizeof y);
    race_open(&x, &y.v);
    jf_error err = {0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, idem_race_main, &y), 0);
    usleep(300000); /* y's third job waits for x in the second one's idempotency insert */
    cr_assert_eq(x.s->ops->commit(x.s, &err), JF_OK, "%s", err.detail);
    pthread_join(th, NULL);
    cr_assert_eq(y.rc, JF_OK, "%s", jf_code_name(y.rc));
    cr_assert(y.reran);
    cr_assert_eq(y.codes[0], JF_OK);
    cr_assert_eq(y.codes[1], JF_IDEMPOTENCY_CONFLICT, "%s", jf_code_name(y.codes[1]));
    cr_assert_eq(y.codes[2], JF_OK);
    for (int i = 0; i < 3; i++) cr_assert_eq(y.runs[i], 2, "job %d ran %d times", i, y.runs[i]);
    FX_ASSERT_ACCT(member_of(&x, "early").acct, 9, 0, 0, 0, 9, 0, 0);
    FX_ASSERT_ACCT(member_of(&x, "n1").acct, 4, 0, 0, 0, 4, 0, 0);
    FX_ASSERT_ACCT(member_of(&x, "n2").acct, 4, 0, 0, 0, 4, 0, 0);
    cr_assert(!member_exists(&x, "late"), "the conflicting job wrote nothing");
    verify_clean(x.s);
    jf_store_close(x.s);
    jf_store_close(y.v.s);
}

Test(pg, outage_with_writes_in_flight_writes_nothing, .init = restart_setup, .fini = restart_teardown) {
    SKIP_WITHOUT_PG();
    char url[400];
    cr_assert_eq(cluster("start", url, sizeof url), 0, "pg-test.sh start: %s", url);
    server v;
    server_open(&v, url, true);
    jf_error err = {0};
    cr_assert_eq(run_op(&v, 0, "m", "seed", 5, 0, NULL, &err), JF_OK, "%s", err.detail);
    jf_member before = member_of(&v, "m");
    jf_store *s = v.s;
    cr_assert_eq(s->ops->begin(s, &err), JF_OK);
    cr_assert_eq(batch_earn(&v, "m", "done-before", 1, NULL, &err), JF_OK, "%s", err.detail);
    /* A job with writes sent ahead and not yet checked… */
    cr_assert_eq(s->ops->savepoint(s, &err), JF_OK);
    jf_member m;
    cr_assert_eq(s->ops->member_get(s, v.t.id, "m", true, &m, &err), JF_OK, "%s", err.detail);
    m.acct.available += 100;
    m.acct.earned += 100;
    cr_assert_eq(s->ops->member_update(s, &m, &err), JF_OK, "%s", err.detail);
    /* …when PostgreSQL goes away. */
    char out[512];
    cr_assert_eq(cluster("crash", out, sizeof out), 0, "pg-test.sh crash: %s", out);
    jf_code rc = s->ops->savepoint_release(s, &err);
    cr_assert_eq(rc, JF_UNAVAILABLE, "release: %s (%s)", jf_code_name(rc), err.detail);
    rc = s->ops->commit(s, &err);
    cr_assert_eq(rc, JF_UNAVAILABLE, "commit: %s (%s)", jf_code_name(rc), err.detail);
    cr_assert_eq(cluster("resume", out, sizeof out), 0, "pg-test.sh resume: %s", out);
    /* Nothing of the batch is there; the connection comes back by itself. */
    jf_member after = member_of(&v, "m");
    cr_assert_eq(memcmp(&after.acct, &before.acct, sizeof before.acct), 0, "the member is as before the batch");
    cr_assert_eq(after.entry_seq, before.entry_seq);
    cr_assert_eq(run_op(&v, 0, "m", "done-before", 1, 0, NULL, &err), JF_OK, "%s", err.detail);
    FX_ASSERT_ACCT(member_of(&v, "m").acct, 6, 0, 0, 0, 6, 0, 0);
    verify_clean(v.s);
    jf_store_close(v.s);
}
