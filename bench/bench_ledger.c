/*
 * bench_ledger.c — in-process benchmark of the ledger engine on SQLite.
 *
 *   build/bench-ledger [--members N] [--seconds S] [--max-ops N] [--batch N]
 *                      [--dir DIR] [--seed N] [--keep]
 *
 * 1. Populates N members (default 1,000,000), one earn each, in big
 *    transactions, and reports how long that took.
 * 2. Measures durable earns and spends on random members at 1 and at 256
 *    operations per transaction, exactly as the HTTP committer runs a batch:
 *    begin; op; op; …; commit, with no savepoint per op (an op that fails
 *    has written nothing, which the store's write mark confirms).
 * 3. Measures, in the same run, a baseline: bare SQLite with the same
 *    transaction shape (one INSERT per op, 1 and 256 per
 *    transaction) on its own file with the same pragmas (WAL,
 *    synchronous=FULL, the same page cache), so the table shows the engine's
 *    cost next to the database's, and the fsync-bound floor.
 *
 * fsyncs are counted exactly by the store's own VFS (store/sqlite_vfs.c),
 * which counts xSync calls and bytes written per file kind (WAL / main
 * database); the baseline opens through it as well, so it also gets the
 * store's one-write-per-commit WAL appends.  Checkpoints run as in the
 * server, from a thread and a connection of their own.  Durable commits are
 * counted as well.
 *
 * The database lives in DIR (default $TMPDIR or /tmp), never in /dev/shm:
 * on tmpfs an fsync costs nothing and the figures would mean nothing.  The
 * benchmark warns when DIR is on tmpfs.  Nothing here is asserted: the
 * target (>= 30,000 durable earns/s at 256 per transaction) is reported.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/ledger.h"
#include "store/checkpointer.h"
#include "store/sqlite_vfs.h"
#include "store/store.h"

#define TARGET_EARNS_PER_S 30000.0
#define TMPFS_MAGIC_ 0x01021994
#define POPULATE_POINTS 1000
#define MAX_TX_SAMPLES 400000 /* per scenario */
#define ROUNDS 5

/* ---- options ---------------------------------------------------------- */

typedef struct {
    long members;
    double seconds;
    long max_ops;
    long batch;
    const char *dir;
    uint64_t seed;
    bool keep;
} options;

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench-ledger [--members N] [--seconds S] [--max-ops N] [--batch N] [--dir DIR] [--seed N] "
            "[--keep]\n"
            "  --members N   members to populate, one earn each (default 1000000)\n"
            "  --seconds S   duration of each measured scenario, in 5 interleaved slices (default 5)\n"
            "  --max-ops N   stop a scenario after N operations (default 1000000)\n"
            "  --batch N     earns per transaction while populating (default 10000)\n"
            "  --dir DIR     where the database files go (default $TMPDIR or /tmp; not tmpfs)\n"
            "  --seed N      random seed (default 1)\n"
            "  --keep        keep the database files\n");
}

static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static int parse_options(int argc, char **argv, options *o) {
    *o = (options){.members = 1000000, .seconds = 5.0, .max_ops = 1000000, .batch = 10000, .seed = 1};
    const char *t = getenv("TMPDIR");
    o->dir = (t != NULL && t[0] != '\0') ? t : "/tmp";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--keep") == 0) {
            o->keep = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        long n = 0;
        bool ok = v != NULL;
        if (!ok) {
        } else if (strcmp(a, "--members") == 0) {
            ok = parse_long(v, 1, 100000000, &n);
            o->members = n;
        } else if (strcmp(a, "--seconds") == 0) {
            char *end = NULL;
            double d = strtod(v, &end);
            ok = end != v && *end == '\0' && d > 0.0 && d <= 3600.0;
            o->seconds = d;
        } else if (strcmp(a, "--max-ops") == 0) {
            ok = parse_long(v, 1, 1000000000, &n);
            o->max_ops = n;
        } else if (strcmp(a, "--batch") == 0) {
            ok = parse_long(v, 1, 10000000, &n);
            o->batch = n;
        } else if (strcmp(a, "--dir") == 0) {
            o->dir = v;
        } else if (strcmp(a, "--seed") == 0) {
            ok = parse_long(v, 0, 0x7fffffffL, &n);
            o->seed = (uint64_t)n;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "bench-ledger: bad argument: %s%s%s\n", a, v ? " " : "", v ? v : "");
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

/* ---- clocks, random numbers ------------------------------------------ */

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t rng_state;

static uint64_t rng_next(void) { /* xorshift64* */
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* ---- fsync counts ---------------------------------------------------- */

/* The store's VFS counts syncs and writes per file kind (store/sqlite_vfs.h);
 * the baseline opens through it too, so both sides are counted alike. */
typedef struct {
    jf_sqlite_io_counts kind[JF_SQLITE_FILE_KINDS];
} sync_counts;

static void sync_now(sync_counts *c) {
    for (int k = 0; k < JF_SQLITE_FILE_KINDS; k++) jf_sqlite_vfs_counts((jf_sqlite_file_kind)k, &c->kind[k]);
}

/* ---- results ---------------------------------------------------------- */

typedef struct {
    char name[40];
    int per_tx;
    long ops;       /* operations that succeeded */
    long failed;    /* operations refused (insufficient points), nothing written */
    long txs;       /* durable commits */
    double secs;
    double lat_mean_ms, lat_p50_ms, lat_p99_ms, lat_max_ms;
    uint64_t fsync_wal, fsync_db;
    uint64_t wal_bytes, db_bytes;
    double commit_s; /* wall time inside commit (write-out + fsync) */
    double cpu_s;    /* process CPU time, user + system */
    double *lat;     /* per-transaction latency samples, seconds */
    size_t nlat;
} result;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void result_init(result *r, const char *name, int per_tx) {
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->per_tx = per_tx;
    r->lat = malloc(sizeof(double) * MAX_TX_SAMPLES);
    if (r->lat == NULL) {
        fprintf(stderr, "bench-ledger: out of memory\n");
        exit(1);
    }
}

static void add_latency(result *r, double s) {
    if (r->nlat < MAX_TX_SAMPLES) r->lat[r->nlat++] = s;
}

static void finish_latency(result *r) {
    size_t n = r->nlat;
    if (n == 0) return;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += r->lat[i];
    qsort(r->lat, n, sizeof r->lat[0], cmp_double);
    r->lat_mean_ms = sum / (double)n * 1e3;
    r->lat_p50_ms = r->lat[(n - 1) / 2] * 1e3;
    size_t i99 = (size_t)((double)(n - 1) * 0.99 + 0.5);
    r->lat_p99_ms = r->lat[i99] * 1e3;
    r->lat_max_ms = r->lat[n - 1] * 1e3;
    free(r->lat);
    r->lat = NULL;
}

static void sync_begin(sync_counts *snap) { sync_now(snap); }

/* Add what happened since snap to r (scenarios run in several slices). */
static void sync_end(result *r, const sync_counts *snap) {
    sync_counts now;
    sync_now(&now);
    r->fsync_wal += now.kind[JF_SQLITE_WAL].syncs - snap->kind[JF_SQLITE_WAL].syncs;
    r->fsync_db += now.kind[JF_SQLITE_DB].syncs - snap->kind[JF_SQLITE_DB].syncs;
    r->wal_bytes += now.kind[JF_SQLITE_WAL].bytes - snap->kind[JF_SQLITE_WAL].bytes;
    r->db_bytes += now.kind[JF_SQLITE_DB].bytes - snap->kind[JF_SQLITE_DB].bytes;
}

static void die_store(const char *what, jf_code rc, const jf_error *err) {
    fprintf(stderr, "bench-ledger: %s: %s: %s\n", what, jf_code_name(rc), err->detail);
    exit(1);
}

/* ---- the engine: populate ---------------------------------------------- */

typedef struct {
    jf_store *store;
    jf_tenant tenant;
    long members;
    long earn_seq, spend_seq;
    jf_checkpointer *cp; /* its writer's turn is taken between transactions, as the server does */
} engine;

static jf_code create_tenant_tx(jf_store *s, void *arg, jf_error *err) {
    return jf_tenant_create(s, arg, wall_ms(), err);
}

static void populate(engine *e, long batch) {
    jf_error err = {0};
    char member[32], biz[48];
    jf_result res;
    double t0 = mono_s(), last = t0;
    long done = 0;
    while (done < e->members) {
        jf_code rc = e->store->ops->begin(e->store, &err);
        if (rc != JF_OK) die_store("populate begin", rc, &err);
        jf_ctx c = {.store = e->store, .tenant = &e->tenant, .now_ms = wall_ms()};
        long end = done + batch < e->members ? done + batch : e->members;
        for (long i = done; i < end; i++) {
            snprintf(member, sizeof member, "m%ld", i);
            snprintf(biz, sizeof biz, "pop-%ld", i);
            jf_earn_req r = {.member_id = member, .points = POPULATE_POINTS, .biz_no = biz};
            rc = jf_earn(&c, &r, &res, &err);
            if (rc != JF_OK) die_store("populate earn", rc, &err);
        }
        rc = e->store->ops->commit(e->store, &err);
        if (rc != JF_OK) die_store("populate commit", rc, &err);
        done = end;
        double now = mono_s();
        if (now - last >= 10.0 || done == e->members) {
            printf("  populated %8ld / %ld members  %6.1f s  %8.0f earns/s\n", done, e->members, now - t0,
                   (double)done / (now - t0));
            fflush(stdout);
            last = now;
        }
    }
}

/* ---- the engine: measured scenarios ------------------------------------ */

typedef enum { OP_EARN, OP_SPEND } op_kind;

static jf_code engine_op(engine *e, const jf_ctx *c, op_kind kind, jf_error *err) {
    char member[32], biz[48];
    jf_result res;
    snprintf(member, sizeof member, "m%" PRIu64, rng_next() % (uint64_t)e->members);
    if (kind == OP_EARN) {
        snprintf(biz, sizeof biz, "earn-%ld", ++e->earn_seq);
        jf_earn_req r = {.member_id = member, .points = 10, .biz_no = biz, .reason = "bench"};
        return jf_earn(c, &r, &res, err);
    }
    snprintf(biz, sizeof biz, "spend-%ld", ++e->spend_seq);
    jf_spend_req r = {.member_id = member, .points = 1, .biz_no = biz, .reason = "bench"};
    return jf_spend(c, &r, &res, err);
}

typedef struct {
    engine *e;
    const jf_ctx *c;
    op_kind kind;
    result *r;
    double last_op_end; /* after the last op jf_tx_batch only commits */
    jf_error err;
} batch_arg;

/* One op of a batch (jf_tx_batch): refused spends are answers, anything
 * else that fails is fatal. */
static jf_code batch_op(jf_store *s, size_t i, void *arg) {
    (void)s;
    (void)i;
    batch_arg *b = arg;
    jf_code rc = engine_op(b->e, b->c, b->kind, &b->err);
    if (rc == JF_OK) {
        b->r->ops++;
    } else if (rc == JF_INSUFFICIENT_POINTS) {
        b->r->failed++;
    } else {
        die_store("operation", rc, &b->err);
    }
    b->last_op_end = mono_s();
    return rc;
}

static void batch_failed(size_t i, void *arg, jf_code code, const jf_error *err) {
    (void)i;
    (void)arg;
    die_store("release", code, err);
}

/* ---- deferred syncs, as the server's committer runs them ------------- */

/* In the "deferred sync" scenarios the store commits without syncing
 * (store.h: defer_sync) and this thread syncs the log (log_sync) for every
 * transaction committed before the sync began, then records their
 * latencies, while the measuring thread runs the next transaction.  A slice
 * ends when its last transaction is synced, so every operation counted is
 * durable. */
#define SYNC_RING 1024

typedef struct {
    jf_store *store;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long committed, synced; /* transactions, guarded by mu */
    double start[SYNC_RING]; /* start of transaction i at i % SYNC_RING */
    result *r;              /* whose latencies; set while nothing is pending */
    bool stop;
} syncer;

static void *syncer_main(void *arg) {
    syncer *y = arg;
    pthread_mutex_lock(&y->mu);
    for (;;) {
        while (y->synced == y->committed && !y->stop) pthread_cond_wait(&y->cv, &y->mu);
        if (y->synced == y->committed) break;
        long target = y->committed;
        pthread_mutex_unlock(&y->mu);
        jf_error err = {0};
        jf_code rc = y->store->ops->log_sync(y->store, &err);
        if (rc != JF_OK) die_store("log_sync", rc, &err);
        double now = mono_s();
        pthread_mutex_lock(&y->mu);
        for (long i = y->synced; i < target; i++) add_latency(y->r, now - y->start[i % SYNC_RING]);
        y->synced = target;
        pthread_cond_broadcast(&y->cv);
    }
    pthread_mutex_unlock(&y->mu);
    return NULL;
}

static void syncer_start(syncer *y, jf_store *s) {
    memset(y, 0, sizeof *y);
    y->store = s;
    pthread_mutex_init(&y->mu, NULL);
    pthread_cond_init(&y->cv, NULL);
    if (s->ops->log_sync == NULL || pthread_create(&y->thread, NULL, syncer_main, y) != 0)
        die_store("syncer", JF_UNAVAILABLE, &(jf_error){0});
}

static void syncer_stop(syncer *y) {
    pthread_mutex_lock(&y->mu);
    y->stop = true;
    pthread_cond_broadcast(&y->cv);
    pthread_mutex_unlock(&y->mu);
    pthread_join(y->thread, NULL);
    pthread_mutex_destroy(&y->mu);
    pthread_cond_destroy(&y->cv);
}

/* A transaction that started at tx0 has committed: hand it to the syncer
 * (waiting while the ring is full). */
static void syncer_committed(syncer *y, double tx0) {
    pthread_mutex_lock(&y->mu);
    while (y->committed - y->synced >= SYNC_RING) pthread_cond_wait(&y->cv, &y->mu);
    y->start[y->committed % SYNC_RING] = tx0;
    y->committed++;
    pthread_cond_broadcast(&y->cv);
    pthread_mutex_unlock(&y->mu);
}

/* Wait until every committed transaction is synced. */
static void syncer_drain(syncer *y) {
    pthread_mutex_lock(&y->mu);
    while (y->synced < y->committed) pthread_cond_wait(&y->cv, &y->mu);
    pthread_mutex_unlock(&y->mu);
}

/* One slice of a scenario: run transactions of r->per_tx operations for
 * `seconds` (or until the scenario has done max_ops), adding to r.  Each
 * transaction is a jf_tx_batch, exactly as the server's committer runs one;
 * the commit is the time from the end of the last op to the batch's end.
 * With a syncer (y), commits do not sync and y syncs them meanwhile. */
static void run_engine(engine *e, op_kind kind, syncer *y, double seconds, long max_ops, result *r) {
    jf_store *s = e->store;
    jf_error derr = {0};
    if (y) {
        y->r = r;
        if (s->ops->defer_sync(s, true, &derr) != JF_OK) die_store("defer_sync", JF_UNAVAILABLE, &derr);
    }
    sync_counts snap;
    sync_begin(&snap);
    double c0 = cpu_s(), t0 = mono_s(), deadline = t0 + seconds;
    while (r->ops + r->failed < max_ops) {
        double tx0 = mono_s();
        if (tx0 >= deadline) break;
        jf_ctx c = {.store = s, .tenant = &e->tenant, .now_ms = wall_ms()};
        batch_arg b = {.e = e, .c = &c, .kind = kind, .r = r};
        bool reran = false;
        jf_error err = {0};
        jf_code rc = jf_tx_batch(s, (size_t)r->per_tx, batch_op, batch_failed, &b, &reran, &err);
        if (rc != JF_OK) die_store("batch", rc, &err);
        if (reran) die_store("batch ran again with savepoints", JF_INTERNAL, &err);
        double tx1 = mono_s();
        r->commit_s += tx1 - b.last_op_end;
        r->txs++;
        if (y) syncer_committed(y, tx0);
        else add_latency(r, tx1 - tx0);
        jf_checkpointer_writer_turn(e->cp);
    }
    if (y) {
        syncer_drain(y);
        if (s->ops->defer_sync(s, false, &derr) != JF_OK) die_store("defer_sync", JF_UNAVAILABLE, &derr);
    }
    r->secs += mono_s() - t0;
    r->cpu_s += cpu_s() - c0;
    sync_end(r, &snap);
}

/* ---- the baseline: bare SQLite ----------------------------------------- */

static void die_sqlite(sqlite3 *db, const char *what) {
    fprintf(stderr, "bench-ledger: baseline %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
}

static void exec_or_die(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "bench-ledger: baseline: %s: %s\n", sql, msg ? msg : "?");
        exit(1);
    }
}

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *insert;
    long members;
    long seq;
} baseline;

static sqlite3_stmt *prep(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) die_sqlite(db, sql);
    return st;
}

static void step_or_die(sqlite3 *db, sqlite3_stmt *st) {
    if (sqlite3_step(st) != SQLITE_DONE) die_sqlite(db, sqlite3_sql(st));
    sqlite3_reset(st);
}

static void baseline_open(baseline *b, const char *path, long members) {
    memset(b, 0, sizeof *b);
    b->members = members;
    if (sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        jf_sqlite_vfs()) !=
        SQLITE_OK)
        die_sqlite(b->db, "open");
    /* The store's pragmas (src/store/sqlite.c), so only the engine differs. */
    exec_or_die(b->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -32768; "
                       "PRAGMA temp_store = MEMORY;");
    exec_or_die(b->db, "CREATE TABLE ops (id INTEGER PRIMARY KEY, member INTEGER NOT NULL, "
                       "points INTEGER NOT NULL, biz_no TEXT NOT NULL)");
    b->begin = prep(b->db, "BEGIN IMMEDIATE");
    b->commit = prep(b->db, "COMMIT");
    b->insert = prep(b->db, "INSERT INTO ops (member, points, biz_no) VALUES (?, ?, ?)");
}

static void baseline_close(baseline *b) {
    sqlite3_stmt *all[] = {b->begin, b->commit, b->insert};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sqlite3_finalize(all[i]);
    sqlite3_close(b->db);
}

static void run_baseline(baseline *b, double seconds, long max_ops, result *r) {
    int per_tx = r->per_tx;
    char biz[48];
    sync_counts snap;
    sync_begin(&snap);
    double c0 = cpu_s(), t0 = mono_s(), deadline = t0 + seconds;
    while (r->ops < max_ops) {
        double tx0 = mono_s();
        if (tx0 >= deadline) break;
        step_or_die(b->db, b->begin);
        for (int i = 0; i < per_tx; i++) {
            int n = snprintf(biz, sizeof biz, "base-%ld", ++b->seq);
            sqlite3_bind_int64(b->insert, 1, (sqlite3_int64)(rng_next() % (uint64_t)b->members));
            sqlite3_bind_int64(b->insert, 2, 10);
            sqlite3_bind_text(b->insert, 3, biz, n, SQLITE_STATIC);
            step_or_die(b->db, b->insert);
            r->ops++;
        }
        double cm0 = mono_s();
        step_or_die(b->db, b->commit);
        r->commit_s += mono_s() - cm0;
        r->txs++;
        add_latency(r, mono_s() - tx0);
    }
    r->secs += mono_s() - t0;
    r->cpu_s += cpu_s() - c0;
    sync_end(r, &snap);
}

/* ---- output -------------------------------------------------------------- */

static void print_header(void) {
    printf("%-27s %6s %8s %6s %7s %9s %8s %8s %8s %8s %8s %7s %7s\n", "scenario", "ops/tx", "ops", "failed",
           "secs", "ops/s", "tx mean", "tx p50", "tx p99", "tx max", "commits", "fsync", "fsync");
    printf("%-27s %6s %8s %6s %7s %9s %8s %8s %8s %8s %8s %7s %7s\n", "", "", "", "", "", "", "ms", "ms", "ms",
           "ms", "durable", "WAL", "db");
}

static void print_row(const result *r, const result *base) {
    double rate = r->secs > 0 ? (double)r->ops / r->secs : 0;
    printf("%-27s %6d %8ld %6ld %7.2f %9.0f %8.3f %8.3f %8.3f %8.3f %8ld %7" PRIu64 " %7" PRIu64, r->name, r->per_tx,
           r->ops, r->failed, r->secs, rate, r->lat_mean_ms, r->lat_p50_ms, r->lat_p99_ms, r->lat_max_ms, r->txs,
           r->fsync_wal, r->fsync_db);
    if (base != NULL && base != r && base->ops > 0 && r->ops > 0) {
        double brate = (double)base->ops / base->secs;
        printf("   %.1f%% of baseline", 100.0 * rate / brate);
    }
    printf("\n");
}

static void print_detail_header(void) {
    printf("%-27s %6s %9s %9s %9s %10s %10s %9s\n", "scenario", "ops/tx", "CPU busy", "CPU/op", "commit",
           "WAL write", "WAL write", "db write");
    printf("%-27s %6s %9s %9s %9s %10s %10s %9s\n", "", "", "%", "us", "ms/tx", "KiB/tx", "KiB/op", "MiB");
}

static void print_detail(const result *r) {
    double ops = r->ops + r->failed > 0 ? (double)(r->ops + r->failed) : 1.0;
    double txs = r->txs > 0 ? (double)r->txs : 1.0;
    printf("%-27s %6d %9.1f %9.1f %9.3f %10.1f %10.2f %9.1f\n", r->name, r->per_tx,
           r->secs > 0 ? 100.0 * r->cpu_s / r->secs : 0, r->cpu_s / ops * 1e6, r->commit_s / txs * 1e3,
           (double)r->wal_bytes / 1024.0 / txs, (double)r->wal_bytes / 1024.0 / ops,
           (double)r->db_bytes / (1024.0 * 1024.0));
}

static double rate_of(const result *r) { return r->secs > 0 ? (double)r->ops / r->secs : 0; }

/* The 1-minute load average: other work on the machine skews every figure. */
static double loadavg1(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

/* ---- files ----------------------------------------------------------------- */

static void remove_db(const char *path) {
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char name[4200];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
        unlink(name);
    }
}

static long long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

int main(int argc, char **argv) {
    options o;
    int prc = parse_options(argc, argv, &o);
    if (prc != 0) return prc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    rng_state = o.seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL;
    if (rng_state == 0) rng_state = 1;

    if (jf_sqlite_vfs() == NULL) {
        fprintf(stderr, "bench-ledger: could not register the store's VFS\n");
        return 1;
    }

    char dir[4096];
    snprintf(dir, sizeof dir, "%s/jifen-bench-XXXXXX", o.dir);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench-ledger: mkdtemp %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char db_path[4200], base_path[4200];
    snprintf(db_path, sizeof db_path, "%s/ledger.db", dir);
    snprintf(base_path, sizeof base_path, "%s/baseline.db", dir);

    struct statfs sfs;
    bool tmpfs = statfs(dir, &sfs) == 0 && (unsigned long)sfs.f_type == TMPFS_MAGIC_;

    printf("jifen ledger benchmark (in-process, SQLite store)\n");
    printf("  machine:  %ld CPUs online (nproc)\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("  SQLite:   %s (library), WAL, synchronous=FULL, cache 128 MiB per connection\n", sqlite3_libversion());
    printf("  database: %s%s\n", dir, tmpfs ? "   WARNING: tmpfs, fsync is free here; figures are not durable ones"
                                            : "");
    printf("  members:  %ld%s\n", o.members,
           o.members == 1000000 ? "" : "   NOTE: reduced with --members; the reference figure is 1,000,000");
    printf("  scenarios: %.1f s each (or %ld ops) in %d interleaved slices, random members, no savepoint"
           " per op (as the server's committer)\n", o.seconds, o.max_ops, ROUNDS);
    printf("  load:     %.2f (1-minute load average at start; above ~0.5 other work is competing)\n", loadavg1());
    printf("  fsync:    counted exactly by the store's VFS (xSync calls on the WAL and on the database file)\n\n");

    /* The store. */
    engine e = {.members = o.members};
    jf_error err = {0};
    jf_code rc = jf_store_open(db_path, &e.store, &err);
    if (rc != JF_OK) die_store("open", rc, &err);
    jf_tenant_defaults(&e.tenant);
    snprintf(e.tenant.slug, sizeof e.tenant.slug, "bench");
    snprintf(e.tenant.name, sizeof e.tenant.name, "Benchmark");
    rc = jf_tx_run(e.store, create_tenant_tx, &e.tenant, &err);
    if (rc != JF_OK) die_store("tenant", rc, &err);

    printf("== populate: %ld members, one earn each, %ld earns per transaction\n", o.members, o.batch);
    sync_counts snap;
    sync_begin(&snap);
    double t0 = mono_s();
    populate(&e, o.batch);
    double pop_s = mono_s() - t0;
    result pop = {0};
    sync_end(&pop, &snap);
    t0 = mono_s();
    rc = jf_sqlite_exec_raw(e.store, "PRAGMA wal_checkpoint(TRUNCATE)", &err);
    if (rc != JF_OK) die_store("checkpoint", rc, &err);
    double ckpt_s = mono_s() - t0;
    printf("  populate: %.1f s, %.0f earns/s (%" PRIu64 " WAL + %" PRIu64 " db fsyncs); checkpoint(TRUNCATE) %.1f s;"
           " database %.1f MiB\n\n",
           pop_s, (double)o.members / pop_s, pop.fsync_wal, pop.fsync_db, ckpt_s,
           (double)file_size(db_path) / (1024.0 * 1024.0));

    baseline b;
    baseline_open(&b, base_path, o.members);
    /* Checkpoints as the server runs them: from a thread of their own,
     * not inside the COMMIT that crosses the log's threshold. */
    jf_checkpointer *cp = jf_checkpointer_start(db_path, e.store, JF_CHECKPOINT_INTERVAL_MS, JF_LOG_RESTART_FRAMES);
    if (cp == NULL) die_store("checkpointer", JF_UNAVAILABLE, &err);
    e.cp = cp;

    /* Each shape: the baseline, earn and spend with synchronous=FULL (the
     * COMMIT syncs), and earn and spend with deferred syncs (the server's
     * default: a syncer thread syncs while the next transaction runs). */
    static const int shapes[] = {1, 256};
    enum { SCENARIOS = 5 };
    result rs[2][SCENARIOS];
    syncer y;
    syncer_start(&y, e.store);
    for (size_t k = 0; k < 2; k++) {
        int per_tx = shapes[k];
        printf("== measuring %d op%s per transaction: %d rounds of baseline, earn, spend, each way of syncing ...\n",
               per_tx, per_tx == 1 ? "" : "s", ROUNDS);
        result_init(&rs[k][0], "baseline: SQLite INSERT", per_tx);
        result_init(&rs[k][1], "jifen earn", per_tx);
        result_init(&rs[k][2], "jifen spend", per_tx);
        result_init(&rs[k][3], "jifen earn, deferred sync", per_tx);
        result_init(&rs[k][4], "jifen spend, deferred sync", per_tx);
        /* Interleaved slices, so that drift in the disk's fsync latency
         * (a shared virtual disk varies minute to minute) hits the baseline
         * and the engine alike. */
        double slice = o.seconds / ROUNDS;
        for (int round = 0; round < ROUNDS; round++) {
            run_baseline(&b, slice, o.max_ops, &rs[k][0]);
            run_engine(&e, OP_EARN, NULL, slice, o.max_ops, &rs[k][1]);
            run_engine(&e, OP_SPEND, NULL, slice, o.max_ops, &rs[k][2]);
            run_engine(&e, OP_EARN, &y, slice, o.max_ops, &rs[k][3]);
            run_engine(&e, OP_SPEND, &y, slice, o.max_ops, &rs[k][4]);
        }
        for (size_t j = 0; j < SCENARIOS; j++) finish_latency(&rs[k][j]);
    }
    syncer_stop(&y);
    printf("  load: %.2f (1-minute load average after measuring)\n\n", loadavg1());
    print_header();
    for (size_t k = 0; k < 2; k++) {
        for (size_t j = 0; j < SCENARIOS; j++) print_row(&rs[k][j], &rs[k][0]);
    }

    printf("\nwhere the time goes (CPU busy: process CPU time / wall time; commit: wall time inside COMMIT,\n"
           "i.e. writing the dirty pages to the WAL and fsyncing it; WAL write: bytes written to the WAL)\n");
    print_detail_header();
    for (size_t k = 0; k < 2; k++) {
        for (size_t j = 0; j < SCENARIOS; j++) print_detail(&rs[k][j]);
    }

    double earn256 = rate_of(&rs[1][1]), earn256d = rate_of(&rs[1][3]);
    printf("\n  fsync floor (baseline, 1 op/tx): %.3f ms per durable commit\n", rs[0][0].lat_mean_ms);
    printf("  wall time per op at 256/tx (earn): %.1f us; (spend): %.1f us; bare INSERT: %.1f us\n",
           rs[1][1].ops ? rs[1][1].secs / (double)rs[1][1].ops * 1e6 : 0,
           rs[1][2].ops ? rs[1][2].secs / (double)rs[1][2].ops * 1e6 : 0,
           rs[1][0].ops ? rs[1][0].secs / (double)rs[1][0].ops * 1e6 : 0);
    printf("  target: >= %.0f durable earns/s at 256 per transaction: synchronous=FULL %.0f -> %s;"
           " deferred sync %.0f -> %s\n",
           TARGET_EARNS_PER_S, earn256, earn256 >= TARGET_EARNS_PER_S ? "MET" : "NOT MET", earn256d,
           earn256d >= TARGET_EARNS_PER_S ? "MET" : "NOT MET");
    if (o.members != 1000000) printf("  NOTE: run with %ld members, not the reference 1,000,000\n", o.members);

    baseline_close(&b);
    jf_checkpointer_stop(cp);
    jf_store_close(e.store);
    if (!o.keep) {
        remove_db(db_path);
        remove_db(base_path);
        rmdir(dir);
    } else {
        printf("  kept: %s\n", dir);
    }
    return 0;
}
