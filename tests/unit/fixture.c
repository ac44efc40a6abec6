/*
 * fixture.c — the test world of fixture.h: a SQLite store in a temporary
 * directory, a tenant, operations in their own transactions, reads, the
 * "nothing written" digest and verify.
 *
 * Reads that the store interface does not offer (row counts, the digest of
 * every row) go straight to the SQLite file through a second, read-only
 * connection: they must see exactly what was committed, nothing else.
 */
#include "fixture.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/tz.h"

fx_world fx;

#define FX_OK_OR_FAIL(call, err)                                                                               \
    do {                                                                                                      \
        jf_code fx_c_ = (call);                                                                               \
        cr_assert_eq(fx_c_, JF_OK, "%s -> %s (field \"%s\"): %s", #call, jf_code_name(fx_c_), (err).field,    \
                     (err).detail);                                                                           \
    } while (0)

/* ---- open and close ---- */

static const char *tmp_base(void) {
    const char *t = getenv("TMPDIR");
    if (t != NULL && t[0] != '\0') return t;
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0) return "/dev/shm";
    return "/tmp";
}

/* ---- the backend under test (PostgreSQL additions, issue 4) ---- */

bool fx_backend_is_postgres(void) {
    const char *b = getenv("JIFEN_TEST_STORE");
    return b != NULL && (strcmp(b, "postgres") == 0 || strcmp(b, "postgresql") == 0);
}

static bool is_pg_location(const char *location) {
    return strncmp(location, "postgres://", 11) == 0 || strncmp(location, "postgresql://", 13) == 0;
}

/* A connection to the test cluster's maintenance database. */
static PGconn *pg_maintenance(void) {
    const char *url = getenv("JIFEN_TEST_PG_URL");
    cr_assert(url != NULL && url[0] != '\0', "JIFEN_TEST_STORE=postgres needs JIFEN_TEST_PG_URL (scripts/pg-test.sh url)");
    PGconn *c = PQconnectdb(url);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect %s: %s", url, PQerrorMessage(c));
    return c;
}

static void pg_command(PGconn *c, const char *sql) {
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* Append s to out percent-encoded (a socket path in a URL's query). */
static void url_encode(char *out, size_t size, const char *s) {
    size_t n = strlen(out);
    for (; *s != '\0' && n + 4 < size; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("/-_.~", ch))
            out[n++] = (char)ch;
        else
            n += (size_t)snprintf(out + n, size - n, "%%%02X", ch);
    }
    out[n] = '\0';
}

void fx_store_location(char *out, size_t size, const char *dir, const char *file) {
    if (!fx_backend_is_postgres()) {
        snprintf(out, size, "%s/%s", dir, file);
        return;
    }
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char name[64];
    snprintf(name, sizeof name, "jt_%d_%u_%ld", (int)getpid(), counter++, (long)(ts.tv_nsec % 1000000));
    PGconn *c = pg_maintenance();
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    pg_command(c, sql);
    snprintf(out, size, "postgresql://%s@/%s?host=", PQuser(c), name);
    url_encode(out, size, PQhost(c));
    size_t n = strlen(out);
    snprintf(out + n, size - n, "&port=%s", PQport(c));
    PQfinish(c);
}

void fx_store_location_drop(const char *location) {
    if (location == NULL || !is_pg_location(location)) return;
    PGconn *db = PQconnectdb(location);
    char name[128] = "";
    if (PQstatus(db) == CONNECTION_OK) snprintf(name, sizeof name, "%s", PQdb(db));
    PQfinish(db);
    if (name[0] == '\0') return;
    PGconn *c = pg_maintenance();
    char sql[200];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    pg_command(c, sql);
    PQfinish(c);
}

void fx_open(fx_world *w) {
    memset(w, 0, sizeof *w);
    snprintf(w->dir, sizeof w->dir, "%s/jifen-test-XXXXXX", tmp_base());
    cr_assert_not_null(mkdtemp(w->dir), "mkdtemp %s", w->dir);
    fx_store_location(w->path, sizeof w->path, w->dir, "ledger.db");
    jf_error err = {0};
    FX_OK_OR_FAIL(jf_store_open(w->path, &w->store, &err), err);
}

void fx_remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *ent;
    char path[600];
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void fx_close(fx_world *w) {
    if (w->store != NULL) jf_store_close(w->store);
    w->store = NULL;
    fx_store_location_drop(w->path);
    w->path[0] = '\0';
    if (w->dir[0] != '\0') fx_remove_tree(w->dir);
    w->dir[0] = '\0';
}

void fx_reopen(fx_world *w) {
    if (w->store != NULL) jf_store_close(w->store);
    w->store = NULL;
    jf_error err = {0};
    FX_OK_OR_FAIL(jf_store_open(w->path, &w->store, &err), err);
}

void fx_setup(void) {
    fx_open(&fx);
    fx_tenant_create(&fx, "t1", NULL, NULL, JF_REFUND_DEBT);
}

void fx_teardown(void) { fx_close(&fx); }

/* ---- tenants ---- */

typedef struct {
    jf_tenant *t;
    bool update;
} tenant_arg;

static jf_code tenant_tx(jf_store *s, void *arg, jf_error *err) {
    tenant_arg *a = arg;
    return a->update ? jf_tenant_update(s, a->t, FX_T0, err) : jf_tenant_create(s, a->t, FX_T0, err);
}

void fx_tenant_create(fx_world *w, const char *slug, const char *tz, const jf_expiry_policy *policy,
                      jf_refund_policy refund) {
    jf_tenant t;
    jf_tenant_defaults(&t);
    snprintf(t.slug, sizeof t.slug, "%s", slug);
    snprintf(t.name, sizeof t.name, "Tenant %s", slug);
    if (tz != NULL) snprintf(t.timezone, sizeof t.timezone, "%s", tz);
    if (policy != NULL) t.expiry = *policy;
    t.refund = refund;
    tenant_arg a = {&t, false};
    jf_error err = {0};
    FX_OK_OR_FAIL(fx_tx(w, tenant_tx, &a, &err), err);
    cr_assert_gt(t.id, 0);
    w->tenant = t;
}

void fx_tenant_update(fx_world *w, const jf_tenant *t) {
    jf_tenant copy = *t;
    tenant_arg a = {&copy, true};
    jf_error err = {0};
    FX_OK_OR_FAIL(fx_tx(w, tenant_tx, &a, &err), err);
    w->tenant = copy;
}

jf_expiry_policy fx_policy_rolling(int32_t n, jf_expiry_unit unit, jf_expiry_round round) {
    jf_expiry_policy p = {.kind = JF_EXPIRY_ROLLING, .n = n, .unit = unit, .round = round,
                          .clear_month = 12, .clear_day = 31, .years = 1};
    return p;
}

jf_expiry_policy fx_policy_annual(int32_t clear_month, int32_t clear_day, int32_t years) {
    jf_expiry_policy p = {.kind = JF_EXPIRY_ANNUAL, .clear_month = clear_month, .clear_day = clear_day,
                          .years = years};
    return p;
}

/* ---- operations ---- */

jf_ctx fx_ctx(fx_world *w, int64_t now_ms) {
    jf_ctx c = {.store = w->store, .tenant = &w->tenant, .now_ms = now_ms};
    return c;
}

jf_code fx_tx(fx_world *w, jf_tx_fn fn, void *arg, jf_error *err) {
    jf_error local = {0};
    return jf_tx_run(w->store, fn, arg, err ? err : &local);
}

typedef enum { OP_EARN, OP_SPEND, OP_HOLD, OP_CAPTURE, OP_RELEASE, OP_REVERSE, OP_ADJUST, OP_UPSERT } op_kind;

typedef struct {
    fx_world *w;
    int64_t now;
    op_kind kind;
    const void *req;
    jf_result *out;
    /* upsert */
    const char *member_id;
    int status;
    jf_member *member;
} op_arg;

static jf_code op_tx(jf_store *s, void *arg, jf_error *err) {
    op_arg *a = arg;
    (void)s;
    jf_ctx c = fx_ctx(a->w, a->now);
    switch (a->kind) {
    case OP_EARN: return jf_earn(&c, a->req, a->out, err);
    case OP_SPEND: return jf_spend(&c, a->req, a->out, err);
    case OP_HOLD: return jf_hold_create(&c, a->req, a->out, err);
    case OP_CAPTURE: return jf_capture(&c, a->req, a->out, err);
    case OP_RELEASE: return jf_release(&c, a->req, a->out, err);
    case OP_REVERSE: return jf_reverse(&c, a->req, a->out, err);
    case OP_ADJUST: return jf_adjust(&c, a->req, a->out, err);
    case OP_UPSERT: return jf_member_upsert(&c, a->member_id, a->status, a->member, NULL, err);
    }
    return JF_INTERNAL;
}

static jf_code run_op(fx_world *w, int64_t now, op_kind kind, const void *req, jf_result *out, jf_error *err) {
    jf_result scratch;
    jf_error local = {0};
    op_arg a = {.w = w, .now = now, .kind = kind, .req = req, .out = out ? out : &scratch};
    return fx_tx(w, op_tx, &a, err ? err : &local);
}

jf_code fx_earn(fx_world *w, int64_t now, const jf_earn_req *r, jf_result *out, jf_error *err) {
    return run_op(w, now, OP_EARN, r, out, err);
}
jf_code fx_spend(fx_world *w, int64_t now, const jf_spend_req *r, jf_result *out, jf_error *err) {
    return run_op(w, now, OP_SPEND, r, out, err);
}
jf_code fx_hold(fx_world *w, int64_t now, const jf_hold_req *r, jf_result *out, jf_error *err) {
    return run_op(w, now, OP_HOLD, r, out, err);
}
jf_code fx_capture(fx_world *w, int64_t now, const jf_capture_req *r, jf_result *out, jf_error *err) {
    return run_op(w, now, OP_CAPTURE, r, out, err);
}
jf_code fx_release(fx_world *w, int64_t now, const jf_release_req *r, jf_result *out, jf_error *err) {
    return run_op(w, now, OP_RELEASE, r, out, err);
}
jf_code fx_reverse(fx_world *w, int64_t now, const jf_reverse_req *r, jf_result *out, jf_error *err) {
    return run_op(w, now, OP_REVERSE, r, out, err);
}
jf_code fx_adjust(fx_world *w, int64_t now, const jf_adjust_req *r, jf_result *out, jf_error *err) {
    return run_op(w, now, OP_ADJUST, r, out, err);
}

jf_code fx_upsert(fx_world *w, int64_t now, const char *member_id, int status, jf_member *out, jf_error *err) {
    jf_member scratch;
    jf_result unused;
    jf_error local = {0};
    op_arg a = {.w = w, .now = now, .kind = OP_UPSERT, .out = &unused, .member_id = member_id, .status = status,
                .member = out ? out : &scratch};
    return fx_tx(w, op_tx, &a, err ? err : &local);
}

jf_code fx_jobs(fx_world *w, int64_t now, jf_job_stats *stats, jf_error *err) {
    jf_error local = {0};
    return jf_jobs_run(w->store, now, stats, err ? err : &local);
}

jf_result fx_earn_ok(fx_world *w, int64_t now, const char *member_id, int64_t points, const char *biz_no) {
    jf_earn_req r = {.member_id = member_id, .points = points, .biz_no = biz_no};
    jf_result out;
    jf_error err = {0};
    FX_OK_OR_FAIL(fx_earn(w, now, &r, &out, &err), err);
    return out;
}

jf_result fx_spend_ok(fx_world *w, int64_t now, const char *member_id, int64_t points, const char *biz_no) {
    jf_spend_req r = {.member_id = member_id, .points = points, .biz_no = biz_no};
    jf_result out;
    jf_error err = {0};
    FX_OK_OR_FAIL(fx_spend(w, now, &r, &out, &err), err);
    return out;
}

jf_result fx_hold_ok(fx_world *w, int64_t now, const char *member_id, int64_t points, int64_t ttl_s,
                     const char *biz_no) {
    jf_hold_req r = {.member_id = member_id, .points = points, .biz_no = biz_no, .ttl_s = ttl_s};
    jf_result out;
    jf_error err = {0};
    FX_OK_OR_FAIL(fx_hold(w, now, &r, &out, &err), err);
    return out;
}

jf_result fx_capture_ok(fx_world *w, int64_t now, int64_t hold_id, int64_t points, const char *biz_no) {
    jf_capture_req r = {.hold_id = hold_id, .points = points, .biz_no = biz_no};
    jf_result out;
    jf_error err = {0};
    FX_OK_OR_FAIL(fx_capture(w, now, &r, &out, &err), err);
    return out;
}

jf_result fx_release_ok(fx_world *w, int64_t now, int64_t hold_id, const char *biz_no) {
    jf_release_req r = {.hold_id = hold_id, .biz_no = biz_no};
    jf_result out;
    jf_error err = {0};
    FX_OK_OR_FAIL(fx_release(w, now, &r, &out, &err), err);
    return out;
}

jf_result fx_reverse_ok(fx_world *w, int64_t now, const char *member_id, const char *target_biz_no,
                        int64_t points, const char *biz_no) {
    jf_reverse_req r = {.member_id = member_id, .target_biz_no = target_biz_no, .points = points, .biz_no = biz_no};
    jf_result out;
    jf_error err = {0};
    FX_OK_OR_FAIL(fx_reverse(w, now, &r, &out, &err), err);
    return out;
}

jf_result fx_adjust_ok(fx_world *w, int64_t now, const char *member_id, int64_t points, const char *biz_no) {
    jf_adjust_req r = {.member_id = member_id, .points = points, .biz_no = biz_no, .reason = "test adjustment",
                       .operator_id = "tester"};
    jf_result out;
    jf_error err = {0};
    FX_OK_OR_FAIL(fx_adjust(w, now, &r, &out, &err), err);
    return out;
}

jf_job_stats fx_jobs_ok(fx_world *w, int64_t now) {
    jf_job_stats st = {0};
    jf_error err = {0};
    FX_OK_OR_FAIL(fx_jobs(w, now, &st, &err), err);
    return st;
}

/* ---- reads ---- */

static void read_begin(fx_world *w) {
    jf_error err = {0};
    FX_OK_OR_FAIL(w->store->ops->begin_read(w->store, &err), err);
}

static void read_end(fx_world *w) { w->store->ops->rollback(w->store); }

bool fx_member_exists(fx_world *w, const char *member_id) {
    jf_member m;
    jf_error err = {0};
    read_begin(w);
    jf_code rc = w->store->ops->member_get(w->store, w->tenant.id, member_id, false, &m, &err);
    read_end(w);
    cr_assert(rc == JF_OK || rc == JF_NOT_FOUND, "member_get %s: %s", member_id, err.detail);
    return rc == JF_OK;
}

jf_member fx_member(fx_world *w, const char *member_id) {
    jf_member m;
    jf_error err = {0};
    read_begin(w);
    jf_code rc = w->store->ops->member_get(w->store, w->tenant.id, member_id, false, &m, &err);
    read_end(w);
    cr_assert_eq(rc, JF_OK, "member %s: %s %s", member_id, jf_code_name(rc), err.detail);
    return m;
}

size_t fx_entries(fx_world *w, const char *member_id, jf_entry *out, size_t cap) {
    jf_member m = fx_member(w, member_id);
    jf_entry page[JF_LOT_BATCH];
    size_t total = 0;
    int64_t after = 0;
    jf_error err = {0};
    read_begin(w);
    for (;;) {
        size_t n = 0;
        jf_code rc = w->store->ops->entry_chain(w->store, m.id, after, page, JF_LOT_BATCH, &n, &err);
        if (rc != JF_OK) read_end(w);
        FX_OK_OR_FAIL(rc, err);
        for (size_t i = 0; i < n; i++, total++)
            if (total < cap) out[total] = page[i];
        if (n < JF_LOT_BATCH) break;
        after = page[n - 1].seq;
    }
    read_end(w);
    return total;
}

static int lot_by_id(const void *a, const void *b) {
    int64_t x = ((const jf_lot *)a)->id, y = ((const jf_lot *)b)->id;
    return (x > y) - (x < y);
}

size_t fx_lots(fx_world *w, const char *member_id, jf_lot *out, size_t cap) {
    jf_member m = fx_member(w, member_id);
    jf_lot page[JF_LOT_BATCH];
    jf_lot_filter f = {.state = -1, .after_expires_at_ms = INT64_MIN};
    size_t total = 0;
    jf_error err = {0};
    read_begin(w);
    for (;;) {
        size_t n = 0;
        jf_code rc = w->store->ops->lot_list(w->store, m.id, &f, page, JF_LOT_BATCH, &n, &err);
        if (rc != JF_OK) read_end(w);
        FX_OK_OR_FAIL(rc, err);
        for (size_t i = 0; i < n; i++, total++)
            if (total < cap) out[total] = page[i];
        if (n < JF_LOT_BATCH) break;
        f.after_expires_at_ms = page[n - 1].expires_at_ms;
        f.after_id = page[n - 1].id;
    }
    read_end(w);
    qsort(out, total < cap ? total : cap, sizeof *out, lot_by_id);
    return total;
}

jf_lot fx_lot(fx_world *w, int64_t lot_id) {
    jf_lot l;
    jf_error err = {0};
    read_begin(w);
    jf_code rc = w->store->ops->lot_get(w->store, lot_id, &l, &err);
    read_end(w);
    FX_OK_OR_FAIL(rc, err);
    return l;
}

jf_entry fx_entry(fx_world *w, int64_t entry_id) {
    jf_entry e;
    jf_error err = {0};
    read_begin(w);
    jf_code rc = w->store->ops->entry_get(w->store, entry_id, &e, &err);
    read_end(w);
    FX_OK_OR_FAIL(rc, err);
    return e;
}

jf_hold fx_hold_get(fx_world *w, int64_t hold_id) {
    jf_hold h;
    jf_error err = {0};
    read_begin(w);
    jf_code rc = w->store->ops->hold_get(w->store, hold_id, &h, &err);
    read_end(w);
    FX_OK_OR_FAIL(rc, err);
    return h;
}

size_t fx_moves(fx_world *w, int64_t entry_id, jf_lot_move *out, size_t cap) {
    size_t n = 0;
    jf_error err = {0};
    read_begin(w);
    jf_code rc = w->store->ops->move_list_by_entry(w->store, entry_id, out, cap, &n, &err);
    read_end(w);
    FX_OK_OR_FAIL(rc, err);
    return n;
}

/* ---- straight from the file ---- */

static sqlite3 *raw_open(fx_world *w) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(w->path, &db, SQLITE_OPEN_READONLY, NULL);
    cr_assert_eq(rc, SQLITE_OK, "open %s read-only: %s", w->path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    rc = sqlite3_step(st);
    cr_assert_eq(rc, SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int64_t fx_sqlite_int(fx_world *w, const char *sql) {
    cr_assert(!is_pg_location(w->path), "fx_sqlite_int reads a SQLite file");
    sqlite3 *db = raw_open(w);
    int64_t n = raw_int(db, sql);
    sqlite3_close(db);
    return n;
}

static int64_t raw_count(sqlite3 *db, const char *table) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return raw_int(db, sql);
}

/* PostgreSQL: the same reads through a second connection (issue 4). */
static PGconn *pg_raw_open(fx_world *w) {
    PGconn *c = PQconnectdb(w->path);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect %s: %s", w->path, PQerrorMessage(c));
    return c;
}

static int64_t pg_raw_count(PGconn *c, const char *table) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    int64_t n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

static void pg_raw_digest_table(PGconn *c, const char *table, EVP_MD_CTX *h) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1, 2", table);
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    EVP_DigestUpdate(h, table, strlen(table) + 1);
    for (int row = 0; row < PQntuples(r); row++) {
        for (int col = 0; col < PQnfields(r); col++) {
            unsigned char null = (unsigned char)PQgetisnull(r, row, col);
            int len = PQgetlength(r, row, col);
            EVP_DigestUpdate(h, &null, 1);
            EVP_DigestUpdate(h, &len, sizeof len);
            if (len > 0) EVP_DigestUpdate(h, PQgetvalue(r, row, col), (size_t)len);
        }
    }
    PQclear(r);
}

static fx_state pg_snapshot(fx_world *w, const char *const *tables, size_t ntables) {
    fx_state s;
    memset(&s, 0, sizeof s);
    PGconn *c = pg_raw_open(w);
    PGresult *r = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); /* one snapshot */
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
    PQclear(r);
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    cr_assert_not_null(h);
    cr_assert_eq(EVP_DigestInit_ex(h, EVP_sha256(), NULL), 1);
    for (size_t i = 0; i < ntables; i++) pg_raw_digest_table(c, tables[i], h);
    unsigned int dlen = 0;
    cr_assert_eq(EVP_DigestFinal_ex(h, s.digest, &dlen), 1);
    EVP_MD_CTX_free(h);
    s.members = pg_raw_count(c, "members");
    s.entries = pg_raw_count(c, "entries");
    s.lots = pg_raw_count(c, "lots");
    s.moves = pg_raw_count(c, "lot_moves");
    s.holds = pg_raw_count(c, "holds");
    s.idem = pg_raw_count(c, "idempotency");
    PQfinish(c);
    return s;
}

int64_t fx_count(fx_world *w, const char *table) {
    if (is_pg_location(w->path)) {
        PGconn *c = pg_raw_open(w);
        int64_t n = pg_raw_count(c, table);
        PQfinish(c);
        return n;
    }
    sqlite3 *db = raw_open(w);
    int64_t n = raw_count(db, table);
    sqlite3_close(db);
    return n;
}

/* Every column of every row of table, in key order, into the running hash. */
static void raw_digest_table(sqlite3 *db, const char *table, EVP_MD_CTX *h) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1, 2", table);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    EVP_DigestUpdate(h, table, strlen(table) + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int cols = sqlite3_column_count(st);
        for (int i = 0; i < cols; i++) {
            unsigned char type = (unsigned char)sqlite3_column_type(st, i);
            const void *p = sqlite3_column_blob(st, i);
            int len = sqlite3_column_bytes(st, i);
            EVP_DigestUpdate(h, &type, 1);
            EVP_DigestUpdate(h, &len, sizeof len);
            if (p != NULL && len > 0) EVP_DigestUpdate(h, p, (size_t)len);
        }
    }
    cr_assert_eq(rc, SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
}

fx_state fx_snapshot(fx_world *w) {
    static const char *const tables[] = {"tenants", "members", "entries", "lots", "lot_moves", "holds",
                                         "idempotency"};
    if (is_pg_location(w->path)) return pg_snapshot(w, tables, sizeof tables / sizeof tables[0]);
    fx_state s;
    memset(&s, 0, sizeof s);
    sqlite3 *db = raw_open(w);
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL); /* one snapshot for all tables */
    cr_assert_eq(rc, SQLITE_OK);
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    cr_assert_not_null(h);
    cr_assert_eq(EVP_DigestInit_ex(h, EVP_sha256(), NULL), 1);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) raw_digest_table(db, tables[i], h);
    unsigned int dlen = 0;
    cr_assert_eq(EVP_DigestFinal_ex(h, s.digest, &dlen), 1);
    EVP_MD_CTX_free(h);
    s.members = raw_count(db, "members");
    s.entries = raw_count(db, "entries");
    s.lots = raw_count(db, "lots");
    s.moves = raw_count(db, "lot_moves");
    s.holds = raw_count(db, "holds");
    s.idem = raw_count(db, "idempotency");
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return s;
}

/* ---- verify ---- */

static void collect_finding(void *arg, int64_t tenant_id, const char *member_id, const char *finding) {
    fx_findings *f = arg;
    if (f->kept < FX_FINDINGS_MAX) {
        f->tenant_id[f->kept] = tenant_id;
        snprintf(f->member_id[f->kept], sizeof f->member_id[f->kept], "%s", member_id);
        snprintf(f->text[f->kept], sizeof f->text[f->kept], "%s", finding);
        f->kept++;
    }
}

fx_findings fx_verify(fx_world *w) {
    fx_findings f;
    memset(&f, 0, sizeof f);
    jf_error err = {0};
    int64_t count = -1;
    FX_OK_OR_FAIL(jf_verify(w->store, collect_finding, &f, &count, &err), err);
    f.count = count;
    cr_assert_eq((size_t)(count < FX_FINDINGS_MAX ? count : FX_FINDINGS_MAX), f.kept,
                 "verify counted %lld findings but reported %zu", (long long)count, f.kept);
    return f;
}

void fx_verify_clean(fx_world *w) {
    fx_findings f = fx_verify(w);
    if (f.count == 0) return;
    char all[2048] = "";
    size_t used = 0;
    for (size_t i = 0; i < f.kept && used < sizeof all - 1; i++) {
        int k = snprintf(all + used, sizeof all - used, "\n  %s: %s", f.member_id[i], f.text[i]);
        if (k < 0) break;
        used += (size_t)k;
    }
    cr_assert_fail("verify found %lld problem(s):%s", (long long)f.count, all);
}

int64_t fx_time(const char *rfc3339) {
    int64_t ms = 0;
    cr_assert(jf_parse_rfc3339(rfc3339, &ms), "cannot parse %s", rfc3339);
    return ms;
}
