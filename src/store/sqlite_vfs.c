/*
 * sqlite_vfs.c — a thin SQLite VFS over the default one that gathers a
 * transaction's WAL frames into one write.
 *
 * SQLite appends a commit to the WAL one frame at a time, and each frame
 * with two calls: its 24-byte header, then its page.  A batch of 256 earns
 * dirties ~1,000 pages, so a commit is ~2,000 pwrite calls before its one
 * fsync; on a virtual machine a system call costs microseconds, and those
 * calls were most of the committer's kernel time.
 *
 * This shim keeps appends to a WAL file in a buffer and hands them to the
 * real file in one write (bounded by WAL_BUFFER_MAX) when any of these
 * comes: the frame that completes a commit (its header's "database size
 * after commit" field is non-zero; see "WAL File Format" in SQLite's
 * documentation), a sync, a read, a size query or a truncation, a write
 * that does not append, a file control, or close.  So nothing that reaches
 * the disk changes — the same bytes at the same offsets before the same
 * fsync — and nothing SQLite reads back can miss a buffered byte: it is
 * written before the read.  Frames of a transaction still open (a page
 * cache spill) may wait in the buffer; no other connection reads them, as
 * the wal-index only shows frames up to the last commit.
 *
 * A failed flush answers the call that caused it with SQLITE_IOERR_WRITE,
 * as the write itself would have; the commit then fails and is not
 * acknowledged.
 *
 * Other files (the database, its journals) pass straight through.  The
 * shim counts every file kind's syncs and writes: /metrics shows them and
 * the ledger benchmark reports them.
 */
#include "store/sqlite_vfs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_pcache.h"
#include "util/clock.h"

/* A flush at most this large: a 256-earn batch is ~4 MiB of 4 KiB frames. */
#define WAL_BUFFER_MAX (8 * 1024 * 1024)
#define WAL_FRAME_HEADER 24

typedef struct {
    sqlite3_file base; /* base.pMethods = &jv_io */
    sqlite3_file *real; /* the real VFS's file, right after this struct */
    jf_sqlite_file_kind kind;
    /* buffered appends: bytes [off, off + len) of the file */
    unsigned char *buf;
    size_t len, cap;
    sqlite3_int64 off;
    bool commit_pending; /* the next page written completes a commit frame */
} jv_file;

static _Atomic uint64_t g_syncs[JF_SQLITE_FILE_KINDS], g_sync_us[JF_SQLITE_FILE_KINDS], g_writes[JF_SQLITE_FILE_KINDS],
    g_bytes[JF_SQLITE_FILE_KINDS];

static sqlite3_vfs *g_real;
static sqlite3_vfs g_vfs;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static bool g_ok;

#define REAL(f) (((jv_file *)(f))->real)

/* The unix VFS writes at most 128 KiB - 1 bytes a call (it masks the
 * length with 0x1ffff), so a flush goes in pieces of this size. */
#define REAL_WRITE_MAX (124 * 1024)

static int write_all(jv_file *j, const unsigned char *p, size_t n, sqlite3_int64 off) {
    while (n > 0) {
        size_t k = n < REAL_WRITE_MAX ? n : REAL_WRITE_MAX;
        int rc = j->real->pMethods->xWrite(j->real, p, (int)k, off);
        if (rc != SQLITE_OK) return rc;
        atomic_fetch_add_explicit(&g_writes[j->kind], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&g_bytes[j->kind], k, memory_order_relaxed);
        p += k;
        off += (sqlite3_int64)k;
        n -= k;
    }
    return SQLITE_OK;
}

static int flush(jv_file *j) {
    if (j->len == 0) return SQLITE_OK;
    int rc = write_all(j, j->buf, j->len, j->off);
    j->len = 0;
    return rc;
}

static int jv_close(sqlite3_file *f) {
    jv_file *j = (jv_file *)f;
    int rc = flush(j);
    free(j->buf);
    j->buf = NULL;
    j->cap = 0;
    int rc2 = j->real->pMethods != NULL ? j->real->pMethods->xClose(j->real) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : rc2;
}

static int jv_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off) {
    int rc = flush((jv_file *)f);
    if (rc != SQLITE_OK) return rc;
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

/* Append to the buffer, growing it; false when it would pass the bound. */
static bool buffer_append(jv_file *j, const void *p, size_t n) {
    if (j->len + n > WAL_BUFFER_MAX) return false;
    if (j->len + n > j->cap) {
        size_t cap = j->cap ? j->cap : 64 * 1024;
        while (cap < j->len + n) cap *= 2;
        unsigned char *b = realloc(j->buf, cap);
        if (b == NULL) return false;
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, p, n);
    j->len += n;
    return true;
}

static int jv_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off) {
    jv_file *j = (jv_file *)f;
    if (n <= 0) return SQLITE_OK;
    if (j->kind != JF_SQLITE_WAL) return write_all(j, p, (size_t)n, off);
    bool appends = j->len > 0 ? off == j->off + (sqlite3_int64)j->len : true;
    if (!appends) {
        int rc = flush(j);
        if (rc != SQLITE_OK) return rc;
    }
    if (j->len == 0) j->off = off;
    /* A frame header whose bytes 4..7 (database size after commit) are
     * non-zero starts a commit frame: flush once its page is buffered. */
    bool completes_commit = j->commit_pending && n != WAL_FRAME_HEADER;
    if (n == WAL_FRAME_HEADER) {
        const unsigned char *h = p;
        j->commit_pending = (h[4] | h[5] | h[6] | h[7]) != 0;
    } else {
        j->commit_pending = false;
    }
    if (!buffer_append(j, p, (size_t)n)) {
        int rc = flush(j);
        return rc != SQLITE_OK ? rc : write_all(j, p, (size_t)n, off);
    }
    return completes_commit ? flush(j) : SQLITE_OK;
}

static int jv_truncate(sqlite3_file *f, sqlite3_int64 size) {
    int rc = flush((jv_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int jv_sync(sqlite3_file *f, int flags) {
    int rc = flush((jv_file *)f);
    if (rc != SQLITE_OK) return rc;
    int64_t t0 = jf_mono_us();
    rc = REAL(f)->pMethods->xSync(REAL(f), flags);
    jf_sqlite_vfs_count_sync(((jv_file *)f)->kind, jf_mono_us() - t0);
    return rc;
}
static int jv_file_size(sqlite3_file *f, sqlite3_int64 *size) {
    int rc = flush((jv_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int jv_lock(sqlite3_file *f, int lock) { return REAL(f)->pMethods->xLock(REAL(f), lock); }
static int jv_unlock(sqlite3_file *f, int lock) { return REAL(f)->pMethods->xUnlock(REAL(f), lock); }
static int jv_check_reserved(sqlite3_file *f, int *out) {
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int jv_file_control(sqlite3_file *f, int op, void *arg) {
    int rc = flush((jv_file *)f);
    return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int jv_sector_size(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int jv_device_chars(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int jv_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **pp) {
    sqlite3_file *r = REAL(f);
    if (r->pMethods->iVersion < 2 || r->pMethods->xShmMap == NULL) return SQLITE_IOERR_SHMMAP;
    return r->pMethods->xShmMap(r, region, size, extend, pp);
}
static int jv_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void jv_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int jv_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int jv_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp) {
    sqlite3_file *r = REAL(f);
    if (r->pMethods->iVersion < 3 || r->pMethods->xFetch == NULL) {
        *pp = NULL;
        return SQLITE_OK;
    }
    int rc = flush((jv_file *)f);
    return rc != SQLITE_OK ? rc : r->pMethods->xFetch(r, off, n, pp);
}
static int jv_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
    sqlite3_file *r = REAL(f);
    if (r->pMethods->iVersion < 3 || r->pMethods->xUnfetch == NULL) return SQLITE_OK;
    return r->pMethods->xUnfetch(r, off, p);
}

static const sqlite3_io_methods jv_io = {
    .iVersion = 3,
    .xClose = jv_close,
    .xRead = jv_read,
    .xWrite = jv_write,
    .xTruncate = jv_truncate,
    .xSync = jv_sync,
    .xFileSize = jv_file_size,
    .xLock = jv_lock,
    .xUnlock = jv_unlock,
    .xCheckReservedLock = jv_check_reserved,
    .xFileControl = jv_file_control,
    .xSectorSize = jv_sector_size,
    .xDeviceCharacteristics = jv_device_chars,
    .xShmMap = jv_shm_map,
    .xShmLock = jv_shm_lock,
    .xShmBarrier = jv_shm_barrier,
    .xShmUnmap = jv_shm_unmap,
    .xFetch = jv_fetch,
    .xUnfetch = jv_unfetch,
};

static int jv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags) {
    (void)vfs;
    jv_file *j = (jv_file *)f;
    memset(j, 0, sizeof *j);
    j->real = (sqlite3_file *)(j + 1);
    j->kind = (flags & SQLITE_OPEN_WAL) ? JF_SQLITE_WAL : (flags & SQLITE_OPEN_MAIN_DB) ? JF_SQLITE_DB : JF_SQLITE_OTHER;
    int rc = g_real->xOpen(g_real, name, j->real, flags, out_flags);
    /* SQLite calls xClose whenever pMethods is set, even after a failure. */
    j->base.pMethods = j->real->pMethods != NULL ? &jv_io : NULL;
    return rc;
}

/* Everything but xOpen is the real VFS's. */
static int jv_delete(sqlite3_vfs *v, const char *name, int sync_dir) {
    (void)v;
    return g_real->xDelete(g_real, name, sync_dir);
}
static int jv_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
    (void)v;
    return g_real->xAccess(g_real, name, flags, out);
}
static int jv_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out) {
    (void)v;
    return g_real->xFullPathname(g_real, name, n, out);
}
static int jv_randomness(sqlite3_vfs *v, int n, char *out) {
    (void)v;
    return g_real->xRandomness(g_real, n, out);
}
static int jv_sleep(sqlite3_vfs *v, int us) {
    (void)v;
    return g_real->xSleep(g_real, us);
}
static int jv_current_time(sqlite3_vfs *v, double *out) {
    (void)v;
    return g_real->xCurrentTime(g_real, out);
}
static int jv_last_error(sqlite3_vfs *v, int n, char *out) {
    (void)v;
    return g_real->xGetLastError ? g_real->xGetLastError(g_real, n, out) : 0;
}
static int jv_current_time64(sqlite3_vfs *v, sqlite3_int64 *out) {
    (void)v;
    return g_real->xCurrentTimeInt64(g_real, out);
}

static void register_once(void) {
    /* Before SQLite initialises (sqlite3_vfs_find does): no allocation
     * statistics, which take a process-wide mutex on every malloc and free
     * of every thread's connection.  Nothing reads them.  Refused (and
     * harmless) if SQLite was initialised already. */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* Likewise before it initialises: the page cache without its scan per
     * commit (sqlite_pcache.c).  Refused (and harmless) if too late. */
    (void)jf_sqlite_pcache_install();
    g_real = sqlite3_vfs_find(NULL);
    if (g_real == NULL || g_real->iVersion < 2) return;
    g_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)(sizeof(jv_file) + (size_t)g_real->szOsFile),
        .mxPathname = g_real->mxPathname,
        .zName = JF_SQLITE_VFS_NAME,
        .xOpen = jv_open,
        .xDelete = jv_delete,
        .xAccess = jv_access,
        .xFullPathname = jv_full_pathname,
        /* no extension loading: xDlOpen and friends stay NULL */
        .xRandomness = jv_randomness,
        .xSleep = jv_sleep,
        .xCurrentTime = jv_current_time,
        .xGetLastError = jv_last_error,
        .xCurrentTimeInt64 = jv_current_time64,
    };
    g_ok = sqlite3_vfs_register(&g_vfs, 0) == SQLITE_OK;
}

void jf_sqlite_vfs_count_sync(jf_sqlite_file_kind kind, int64_t us) {
    atomic_fetch_add_explicit(&g_syncs[kind], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_sync_us[kind], (uint64_t)(us > 0 ? us : 0), memory_order_relaxed);
}

void jf_sqlite_vfs_counts(jf_sqlite_file_kind kind, jf_sqlite_io_counts *out) {
    out->syncs = atomic_load_explicit(&g_syncs[kind], memory_order_relaxed);
    out->sync_us = atomic_load_explicit(&g_sync_us[kind], memory_order_relaxed);
    out->writes = atomic_load_explicit(&g_writes[kind], memory_order_relaxed);
    out->bytes = atomic_load_explicit(&g_bytes[kind], memory_order_relaxed);
}

const char *jf_sqlite_vfs(void) {
    pthread_once(&g_once, register_once);
    return g_ok ? JF_SQLITE_VFS_NAME : NULL;
}
