/*
 * test_sqlite_vfs.c — the store's SQLite VFS (src/store/sqlite_vfs.c): a
 * commit's WAL frames reach the file in one write per 124 KiB, the bytes
 * are the ones SQLite meant (another connection on the default VFS reads
 * them back whole), a transaction that spills frames before its commit reads
 * them back, and a write that fails fails the commit and leaves nothing.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "fixture.h"
#include "store/sqlite_pcache.h"
#include "store/sqlite_vfs.h"
#include "store/store.h"

static char dir[256], path[320];

static void setup(void) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/jifen-vfs-XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/v.db", dir);
}

static void teardown(void) { fx_remove_tree(dir); }

TestSuite(sqlite_vfs, .init = setup, .fini = teardown);

static void exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, msg ? msg : sqlite3_errstr(rc));
}

static int64_t one_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Open through the store's VFS, as the store does: WAL, synchronous=FULL,
 * no automatic checkpoint (so the log keeps what the test wrote). */
static sqlite3 *open_shim(void) {
    const char *vfs = jf_sqlite_vfs();
    cr_assert_str_eq(vfs, JF_SQLITE_VFS_NAME);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
    exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0");
    return db;
}

/* Another connection, on the default VFS, reads what the shim's commits
 * left: rows, their bytes, and a database SQLite finds intact. */
static void check_from_outside(int64_t rows, int64_t bytes) {
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    cr_assert_eq(one_int(db, "SELECT count(*) FROM t"), rows);
    cr_assert_eq(one_int(db, "SELECT coalesce(sum(length(b)), 0) FROM t"), bytes);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int64_t file_size(const char *suffix) {
    char p[400];
    snprintf(p, sizeof p, "%s%s", path, suffix);
    struct stat s;
    return stat(p, &s) == 0 ? (int64_t)s.st_size : -1;
}

Test(sqlite_vfs, a_commit_reaches_the_log_in_one_write_per_124_kib) {
    sqlite3 *db = open_shim();
    exec(db, "CREATE TABLE t (x INTEGER PRIMARY KEY, b BLOB)");
    jf_sqlite_io_counts before, after;
    jf_sqlite_vfs_counts(JF_SQLITE_WAL, &before);
    int64_t wal_before = file_size("-wal");
    exec(db, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
             "INSERT INTO t SELECT i, randomblob(1000) FROM n; COMMIT");
    jf_sqlite_vfs_counts(JF_SQLITE_WAL, &after);
    int64_t bytes = (int64_t)(after.bytes - before.bytes);
    int64_t frames = bytes / (24 + 4096);
    /* ~250 pages of 4 KiB: two calls each before; one per 124 KiB now */
    cr_assert_gt(frames, 200, "frames %lld", (long long)frames);
    cr_assert_eq(file_size("-wal") - wal_before, bytes, "every buffered byte is in the file");
    cr_assert_leq(after.writes - before.writes, (uint64_t)(bytes / (124 * 1024) + 1), "writes %llu for %lld bytes",
                  (unsigned long long)(after.writes - before.writes), (long long)bytes);
    cr_assert_geq(after.syncs - before.syncs, 1);
    check_from_outside(1000, 1000 * 1000);
    sqlite3_close(db);
    check_from_outside(1000, 1000 * 1000);
}

Test(sqlite_vfs, a_transaction_that_spills_reads_back_its_own_frames) {
    sqlite3 *db = open_shim();
    exec(db, "CREATE TABLE t (x INTEGER PRIMARY KEY, b BLOB)");
    /* A page cache of 8 pages: the transaction writes frames to the log
     * long before its commit, and reads them back. */
    exec(db, "PRAGMA cache_size = 8");
    exec(db, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
             "INSERT INTO t SELECT i, zeroblob(700) FROM n");
    cr_assert_eq(one_int(db, "SELECT sum(length(b)) FROM t"), 3000 * 700);
    exec(db, "UPDATE t SET b = randomblob(300) WHERE x % 2 = 0");
    cr_assert_eq(one_int(db, "SELECT sum(length(b)) FROM t"), 1500 * 700 + 1500 * 300);
    exec(db, "COMMIT");
    check_from_outside(3000, 1500 * 700 + 1500 * 300);
    sqlite3_close(db);
}

Test(sqlite_vfs, a_failed_write_fails_the_commit_and_leaves_nothing) {
    sqlite3 *db = open_shim();
    exec(db, "CREATE TABLE t (x INTEGER PRIMARY KEY, b BLOB); INSERT INTO t VALUES (1, zeroblob(10))");
    /* Files may grow by 64 KiB more, no further (EFBIG, not a signal):
     * the commit's one big write fails part way. */
    signal(SIGXFSZ, SIG_IGN);
    int64_t wal = file_size("-wal");
    struct rlimit lim = {.rlim_cur = (rlim_t)(wal + 64 * 1024), .rlim_max = RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    exec(db, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
             "INSERT INTO t SELECT i, randomblob(1000) FROM n");
    int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    cr_assert_neq(rc, SQLITE_OK, "the commit must fail");
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    lim.rlim_cur = RLIM_INFINITY;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cr_assert_eq(one_int(db, "SELECT count(*) FROM t"), 1);
    sqlite3_close(db);
    check_from_outside(1, 10);
    /* and the database takes writes again */
    db = open_shim();
    exec(db, "INSERT INTO t VALUES (2, zeroblob(20))");
    sqlite3_close(db);
    check_from_outside(2, 30);
}

/* The store's deferred syncs (store.h: defer_sync, log_sync): a COMMIT
 * writes the log without syncing it, log_sync syncs it, and what was
 * committed is whole for another connection either way. */
static uint64_t wal_syncs(void) {
    jf_sqlite_io_counts c;
    jf_sqlite_vfs_counts(JF_SQLITE_WAL, &c);
    return c.syncs;
}

static void commit_one_row(jf_store *s, int x) {
    jf_error err;
    jf_error_clear(&err);
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO t VALUES (%d, zeroblob(100))", x);
    cr_assert_eq(s->ops->begin(s, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(jf_sqlite_exec_raw(s, sql, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(s->ops->commit(s, &err), JF_OK, "%s", err.detail);
}

Test(sqlite_vfs, deferred_commits_leave_the_sync_to_log_sync) {
    jf_store *s = NULL;
    jf_error err;
    jf_error_clear(&err);
    cr_assert_eq(jf_sqlite_open(path, &s, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(jf_sqlite_exec_raw(s, "CREATE TABLE t (x INTEGER PRIMARY KEY, b BLOB)", &err), JF_OK);
    uint64_t before = wal_syncs();
    commit_one_row(s, 1);
    cr_assert_gt(wal_syncs(), before, "a commit syncs the log by default");

    cr_assert_eq(s->ops->log_sync(s, &err), JF_OK, "log_sync without defer_sync does nothing: %s", err.detail);
    cr_assert_eq(s->ops->defer_sync(s, true, &err), JF_OK, "%s", err.detail);
    before = wal_syncs();
    commit_one_row(s, 2);
    commit_one_row(s, 3);
    cr_assert_eq(wal_syncs(), before, "deferred commits do not sync");
    check_from_outside(3, 300);
    cr_assert_eq(s->ops->log_sync(s, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(wal_syncs(), before + 1, "one sync covers both");
    commit_one_row(s, 4);
    cr_assert_eq(s->ops->log_sync(s, &err), JF_OK, "%s", err.detail);
    cr_assert_eq(wal_syncs(), before + 2);
    cr_assert_eq(s->ops->defer_sync(s, false, &err), JF_OK, "%s", err.detail);
    commit_one_row(s, 5);
    cr_assert_eq(wal_syncs(), before + 3, "syncing in each commit again");
    jf_store_close(s);
    check_from_outside(5, 500);
}

/* The page cache wrapper (src/store/sqlite_pcache.c).  B-tree balancing
 * parks pages under the lock-byte page's number while it swaps two pages'
 * numbers; commits after that skip the cache's truncate (SQLite's default
 * cache would walk its whole hash table), while a rollback, which leaves
 * pages past the database's end in the cache, has them dropped, and what
 * is written after it reads back whole. */
static jf_sqlite_pcache_stats pcache_stats(void) {
    jf_sqlite_pcache_stats st;
    cr_assert(jf_sqlite_pcache_counts(&st), "the wrapper is installed");
    return st;
}

Test(sqlite_vfs, page_cache_skips_the_truncate_scan_after_a_split) {
    sqlite3 *db = open_shim();
    exec(db, "CREATE TABLE t (x INTEGER PRIMARY KEY, b BLOB); CREATE INDEX t_b ON t(b)");
    /* Random index keys, with deletes between, so that pages split and
     * freed pages are reused out of order. */
    for (int tx = 0; tx < 40; tx++) {
        exec(db, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
                 " INSERT INTO t (b) SELECT randomblob(60) FROM n");
        if (tx % 3 == 2) exec(db, "DELETE FROM t WHERE x % 7 = 0");
        exec(db, "COMMIT");
    }
    jf_sqlite_pcache_stats a = pcache_stats();
    cr_assert_gt(a.parks, 0, "balancing parked a page under the temporary number");
    for (int i = 0; i < 20; i++) exec(db, "INSERT INTO t (b) VALUES (x'00')");
    jf_sqlite_pcache_stats b = pcache_stats();
    cr_assert_geq(b.truncates_skipped - a.truncates_skipped, 20, "every commit's truncate was skipped");
    cr_assert_eq(b.truncates_passed, a.truncates_passed);
    int64_t rows = one_int(db, "SELECT count(*) FROM t"), bytes = one_int(db, "SELECT sum(length(b)) FROM t");
    sqlite3_close(db);
    check_from_outside(rows, bytes);
}

Test(sqlite_vfs, page_cache_drops_pages_past_the_end_on_rollback) {
    sqlite3 *db = open_shim();
    exec(db, "CREATE TABLE t (x INTEGER PRIMARY KEY, b BLOB)");
    exec(db, "INSERT INTO t VALUES (1, zeroblob(3000))");
    int64_t pages = one_int(db, "PRAGMA page_count");

    /* A transaction that grows the file by some 300 pages, rolled back. */
    jf_sqlite_pcache_stats a = pcache_stats();
    exec(db, "BEGIN; WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 301)"
             " INSERT INTO t SELECT i, randomblob(3000) FROM n; ROLLBACK");
    jf_sqlite_pcache_stats b = pcache_stats();
    cr_assert_gt(b.truncates_passed, a.truncates_passed, "the rollback's truncate reached the cache");
    cr_assert_eq(one_int(db, "PRAGMA page_count"), pages);

    /* The same in a savepoint rolled back inside a transaction that
     * commits. */
    exec(db, "BEGIN; INSERT INTO t VALUES (2, zeroblob(10)); SAVEPOINT s;"
             " WITH RECURSIVE n(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM n WHERE i < 302)"
             " INSERT INTO t SELECT i, randomblob(3000) FROM n; ROLLBACK TO s; RELEASE s; COMMIT");

    /* The pages past the end are written again with other content. */
    exec(db, "WITH RECURSIVE n(i) AS (SELECT 10 UNION ALL SELECT i + 1 FROM n WHERE i < 209)"
             " INSERT INTO t SELECT i, zeroblob(2000) FROM n");
    cr_assert_eq(one_int(db, "SELECT count(*) FROM t"), 202);
    cr_assert_eq(one_int(db, "SELECT sum(length(b)) FROM t"), 3000 + 10 + 200 * 2000);
    cr_assert_eq(one_int(db, "SELECT count(*) FROM t WHERE b != zeroblob(length(b))"), 0);
    sqlite3_close(db);
    check_from_outside(202, 3000 + 10 + 200 * 2000);
}
