/*
 * test_crash.c — durability under SIGKILL.
 *
 * A child process writes in a loop (earns, spends, holds, captures,
 * reversals, each in its own transaction through the transaction runner) and
 * after every commit that returned OK reports the operation's biz_no through
 * a pipe.  The parent kills it with SIGKILL at a random moment after its
 * first commit, 25 times.
 * After each kill the database must open, `verify` must find nothing, and
 * every operation the child reported as committed must be there (its
 * idempotency record and its entry).  The next child continues on the same
 * database, so recovery after recovery is exercised too.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/ledger.h"
#include "fixture.h" /* fx_store_location: SQLite file or fresh PostgreSQL database */
#include "util/tz.h"

#define KILLS 25
#define MEMBERS 20
#define REPORTED_MAX 200000

typedef struct {
    jf_tenant *tenant;
    int kind;
    char member[16];
    char biz_no[64];
    char target[64];
    int64_t points;
    int64_t hold_id;
} crash_op;

static jf_code crash_run(jf_store *s, void *arg, jf_error *err) {
    crash_op *o = arg;
    jf_ctx c = {.store = s, .tenant = o->tenant, .now_ms = jf_now_ms()};
    jf_result r;
    switch (o->kind) {
    case 0: {
        jf_earn_req q = {.member_id = o->member, .points = o->points, .biz_no = o->biz_no};
        return jf_earn(&c, &q, &r, err);
    }
    case 1: {
        jf_spend_req q = {.member_id = o->member, .points = o->points, .biz_no = o->biz_no};
        return jf_spend(&c, &q, &r, err);
    }
    case 2: {
        jf_hold_req q = {.member_id = o->member, .points = o->points, .biz_no = o->biz_no, .ttl_s = 1};
        jf_code rc = jf_hold_create(&c, &q, &r, err);
        o->hold_id = r.hold.id;
        return rc;
    }
    case 3: {
        jf_capture_req q = {.hold_id = o->hold_id, .points = 1, .biz_no = o->biz_no};
        return jf_capture(&c, &q, &r, err);
    }
    default: {
        jf_reverse_req q = {.member_id = o->member, .target_biz_no = o->target, .points = 1, .biz_no = o->biz_no};
        return jf_reverse(&c, &q, &r, err);
    }
    }
}

/* The child: write forever, report each committed biz_no as "<n>\n". */
static void child(const char *path, int fd, int round) {
    jf_store *s;
    jf_error err = {0};
    if (jf_store_open(path, &s, &err) != JF_OK) _exit(3);
    jf_tenant t;
    if (s->ops->begin_read(s, &err) != JF_OK || s->ops->tenant_get_by_slug(s, "crash", &t, &err) != JF_OK) _exit(4);
    s->ops->rollback(s);
    unsigned seed = (unsigned)round * 7919u + 17u;
    int64_t last_hold = 0;
    char last_earn[64] = "";
    for (long n = 0;; n++) {
        crash_op o = {.tenant = &t, .points = 1 + rand_r(&seed) % 50};
        int pick = rand_r(&seed) % 10;
        o.kind = pick < 6 ? 0 : pick < 8 ? 1 : pick < 9 ? 2 : 3;
        if (o.kind == 3 && last_hold == 0) o.kind = 0;
        if (pick == 9 && last_earn[0] && rand_r(&seed) % 2) o.kind = 4;
        snprintf(o.member, sizeof o.member, "m%d", rand_r(&seed) % MEMBERS);
        snprintf(o.biz_no, sizeof o.biz_no, "r%d-%ld", round, n);
        snprintf(o.target, sizeof o.target, "%s", last_earn);
        o.hold_id = last_hold;
        if (o.kind == 4) snprintf(o.member, sizeof o.member, "%s", strchr(last_earn, '@') + 1);
        if (o.kind == 0) {
            /* Encode the member in earn biz_nos so a reversal can find it. */
            snprintf(o.biz_no, sizeof o.biz_no, "r%d-%ld@%s", round, n, o.member);
        }
        jf_code rc = jf_tx_run(s, crash_run, &o, &err);
        if (rc == JF_OK) {
            char line[80];
            int len = snprintf(line, sizeof line, "%s\n", o.biz_no);
            if (write(fd, line, (size_t)len) != len) _exit(5);
            if (o.kind == 0) snprintf(last_earn, sizeof last_earn, "%s", o.biz_no);
            if (o.kind == 2) last_hold = o.hold_id;
            if (o.kind == 3) last_hold = 0;
        } else if (rc != JF_INSUFFICIENT_POINTS && rc != JF_NOT_FOUND && rc != JF_HOLD_NOT_OPEN &&
                   rc != JF_REVERSAL_EXCEEDED) {
            _exit(6);
        }
    }
}

static jf_code create_tenant(jf_store *s, void *arg, jf_error *err) {
    return jf_tenant_create(s, arg, jf_now_ms(), err);
}

static void report(void *arg, int64_t tenant_id, const char *member_id, const char *finding) {
    (void)arg;
    (void)tenant_id;
    cr_log_error("verify: member %s: %s", member_id, finding);
}

Test(crash, sigkill_while_writing, .timeout = 600) {
    char dir[] = "/tmp/jifen-crash-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char path[256];
    fx_store_location(path, sizeof path, dir, "crash.db"); /* backend selection (JIFEN_TEST_STORE) */
    jf_store *s;
    jf_error err = {0};
    cr_assert_eq(jf_store_open(path, &s, &err), JF_OK, "%s", err.detail);
    jf_tenant t;
    jf_tenant_defaults(&t);
    snprintf(t.slug, sizeof t.slug, "crash");
    cr_assert_eq(jf_tx_run(s, create_tenant, &t, &err), JF_OK, "%s", err.detail);
    jf_store_close(s);

    static char reported[REPORTED_MAX][64];
    size_t nreported = 0;
    srand(12345);
    for (int round = 0; round < KILLS; round++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child(path, fds[1], round);
        }
        close(fds[1]);
        FILE *in = fdopen(fds[0], "r");
        char line[64];
        size_t before = nreported;
        /* Wait for its first commit (start-up takes a while on a loaded
         * machine), then let it write for 20..200 ms more and kill it. */
        if (fgets(line, sizeof line, in)) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(reported[nreported++], 64, "%s", line);
        }
        struct timespec ts = {0, (20 + rand() % 180) * 1000000L};
        nanosleep(&ts, NULL);
        cr_assert_eq(kill(pid, SIGKILL), 0);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: the writer stopped by itself (status %d) before it was killed", round, status);
        while (fgets(line, sizeof line, in)) {
            line[strcspn(line, "\n")] = '\0';
            cr_assert(nreported < REPORTED_MAX);
            snprintf(reported[nreported++], 64, "%s", line);
        }
        fclose(in);
        cr_assert_gt(nreported, before, "round %d: the writer committed nothing", round);

        /* Recovery: open, verify, and find every acknowledged operation. */
        cr_assert_eq(jf_store_open(path, &s, &err), JF_OK, "round %d: %s", round, err.detail);
        int64_t findings = -1;
        cr_assert_eq(jf_verify(s, report, NULL, &findings, &err), JF_OK, "%s", err.detail);
        cr_assert_eq(findings, 0, "round %d: verify found %lld problems", round, (long long)findings);
        cr_assert_eq(s->ops->begin_read(s, &err), JF_OK);
        jf_tenant got;
        cr_assert_eq(s->ops->tenant_get_by_slug(s, "crash", &got, &err), JF_OK);
        for (size_t i = 0; i < nreported; i++) {
            jf_idem rec;
            cr_assert_eq(s->ops->idem_get(s, got.id, reported[i], &rec, &err), JF_OK,
                         "round %d: acknowledged %s is missing after the crash", round, reported[i]);
            jf_entry e;
            cr_assert_eq(s->ops->entry_get(s, rec.entry_id, &e, &err), JF_OK);
            cr_assert_str_eq(e.biz_no, reported[i]);
        }
        s->ops->rollback(s);
        jf_store_close(s);
    }
    fx_store_location_drop(path);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
