/*
 * sqlite_pcache.h — SQLite's default page cache behind a thin wrapper that
 * skips the whole-cache scan SQLite's default cache makes at the end of
 * every write transaction once a B-tree page has been split (see
 * sqlite_pcache.c).
 */
#ifndef JF_STORE_SQLITE_PCACHE_H
#define JF_STORE_SQLITE_PCACHE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

/* Install the wrapper as the process's page cache.  Only before SQLite
 * initialises; false (and SQLite's default cache stays) otherwise. */
bool jf_sqlite_pcache_install(void);

/* Since the process started: pages parked under the temporary number,
 * truncates passed on to SQLite's cache, truncates skipped. */
typedef struct {
    uint64_t parks, truncates_passed, truncates_skipped;
} jf_sqlite_pcache_stats;

/* The counts; false when the wrapper is not installed. */
bool jf_sqlite_pcache_counts(jf_sqlite_pcache_stats *out);

#endif
