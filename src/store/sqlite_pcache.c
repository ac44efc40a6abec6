/*
 * sqlite_pcache.c — SQLite's own page cache, with one wasted scan per
 * commit taken out.
 *
 * At the end of every write transaction SQLite drops the cached pages past
 * the database's end (pager_end_transaction calls the cache's xTruncate
 * with the page count + 1).  Its default cache answers at once when no
 * page that high was ever cached, and otherwise walks its hash table: all
 * of it, since it walks from the highest key's bucket forward to the
 * limit's, around the end.  B-tree balancing, when it swaps two new
 * pages' numbers, parks one for a moment under a temporary number, the one
 * of the page holding the lock bytes (1 GiB / page size + 1, 262,145 with
 * 4 KiB pages; see balance_nonroot in SQLite's btree.c).  The default
 * cache remembers that as its highest key, so once any commit has split a
 * page, every later commit's truncate walks the whole table: 8,192 buckets
 * and their chains with a 32 MiB cache, measured at 6-7% of the
 * HTTP committer's time under the events benchmark (perf, with a uprobe on
 * the walk showing limit ~29,000 against a highest key of 262,145 on every
 * commit).
 *
 * The wrapper below passes every call to the default cache and keeps its
 * own highest key, not counting the temporary number while a page holds
 * it; a truncate that cannot remove anything is not passed on.  A page can
 * only enter the cache through xFetch or change its number through
 * xRekey, so its highest key is never lower than a cached page's (pages
 * discarded since only make it higher than it need be: the truncate is
 * passed on, as before).
 */
#include "store/sqlite_pcache.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

/* The first byte of the lock bytes in every SQLite database file (the
 * default of the library's sqlite3PendingByte; only test builds move it). */
#define PENDING_BYTE 0x40000000u

typedef struct {
    sqlite3_pcache *inner;
    unsigned max_key; /* no cached page has a higher number, other than parked */
    unsigned parked_key; /* balance_nonroot's temporary page number */
    bool parked; /* a page holds parked_key now */
} jp_cache;

static sqlite3_pcache_methods2 g_inner;
static bool g_installed;
static _Atomic uint64_t g_parks, g_passed, g_skipped;

static int jp_init(void *arg) {
    (void)arg;
    return g_inner.xInit ? g_inner.xInit(g_inner.pArg) : SQLITE_OK;
}

static void jp_shutdown(void *arg) {
    (void)arg;
    if (g_inner.xShutdown) g_inner.xShutdown(g_inner.pArg);
}

static sqlite3_pcache *jp_create(int page_size, int extra_size, int purgeable) {
    jp_cache *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->inner = g_inner.xCreate(page_size, extra_size, purgeable);
    if (c->inner == NULL) {
        free(c);
        return NULL;
    }
    c->parked_key = page_size > 0 ? PENDING_BYTE / (unsigned)page_size + 1 : 0;
    return (sqlite3_pcache *)c;
}

#define INNER(p) (((jp_cache *)(p))->inner)

static void jp_cachesize(sqlite3_pcache *p, int n) {
    g_inner.xCachesize(INNER(p), n);
}

static int jp_pagecount(sqlite3_pcache *p) {
    return g_inner.xPagecount(INNER(p));
}

static sqlite3_pcache_page *jp_fetch(sqlite3_pcache *p, unsigned key, int create) {
    jp_cache *c = (jp_cache *)p;
    sqlite3_pcache_page *pg = g_inner.xFetch(c->inner, key, create);
    if (pg != NULL && key > c->max_key) c->max_key = key;
    return pg;
}

static void jp_unpin(sqlite3_pcache *p, sqlite3_pcache_page *pg, int discard) {
    g_inner.xUnpin(INNER(p), pg, discard);
}

static void jp_rekey(sqlite3_pcache *p, sqlite3_pcache_page *pg, unsigned old_key, unsigned new_key) {
    jp_cache *c = (jp_cache *)p;
    g_inner.xRekey(c->inner, pg, old_key, new_key);
    if (old_key == c->parked_key) c->parked = false;
    if (new_key == c->parked_key) {
        c->parked = true;
        atomic_fetch_add_explicit(&g_parks, 1, memory_order_relaxed);
    } else if (new_key > c->max_key) {
        c->max_key = new_key;
    }
}

static void jp_truncate(sqlite3_pcache *p, unsigned limit) {
    jp_cache *c = (jp_cache *)p;
    bool parked_goes = c->parked && c->parked_key >= limit;
    if (limit > c->max_key && !parked_goes) { /* nothing at or past limit */
        atomic_fetch_add_explicit(&g_skipped, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&g_passed, 1, memory_order_relaxed);
    g_inner.xTruncate(c->inner, limit);
    if (limit > 0 && c->max_key >= limit) c->max_key = limit - 1;
    if (parked_goes) c->parked = false;
}

static void jp_destroy(sqlite3_pcache *p) {
    g_inner.xDestroy(INNER(p));
    free(p);
}

static void jp_shrink(sqlite3_pcache *p) {
    if (g_inner.xShrink) g_inner.xShrink(INNER(p));
}

bool jf_sqlite_pcache_install(void) {
    if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &g_inner) != SQLITE_OK || g_inner.iVersion < 1 ||
        g_inner.xCreate == NULL)
        return false;
    static const sqlite3_pcache_methods2 wrapper = {
        .iVersion = 1,
        .pArg = NULL,
        .xInit = jp_init,
        .xShutdown = jp_shutdown,
        .xCreate = jp_create,
        .xCachesize = jp_cachesize,
        .xPagecount = jp_pagecount,
        .xFetch = jp_fetch,
        .xUnpin = jp_unpin,
        .xRekey = jp_rekey,
        .xTruncate = jp_truncate,
        .xDestroy = jp_destroy,
        .xShrink = jp_shrink,
    };
    g_installed = sqlite3_config(SQLITE_CONFIG_PCACHE2, &wrapper) == SQLITE_OK;
    return g_installed;
}

bool jf_sqlite_pcache_counts(jf_sqlite_pcache_stats *out) {
    out->parks = atomic_load_explicit(&g_parks, memory_order_relaxed);
    out->truncates_passed = atomic_load_explicit(&g_passed, memory_order_relaxed);
    out->truncates_skipped = atomic_load_explicit(&g_skipped, memory_order_relaxed);
    return g_installed;
}
