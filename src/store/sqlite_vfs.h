/*
 * sqlite_vfs.h — the SQLite VFS the store opens its databases with: the
 * default VFS, except that a WAL file's appends reach the disk in one
 * write per commit instead of two per page, and that it counts each kind
 * of file's syncs and writes (see sqlite_vfs.c).
 */
#ifndef JF_STORE_SQLITE_VFS_H
#define JF_STORE_SQLITE_VFS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#define JF_SQLITE_VFS_NAME "jifen"

/* Register the VFS over the process's default VFS at the first call and
 * return its name, or NULL when the default VFS is too old to wrap — then
 * the store opens with the default. */
const char *jf_sqlite_vfs(void);

typedef enum { JF_SQLITE_WAL, JF_SQLITE_DB, JF_SQLITE_OTHER, JF_SQLITE_FILE_KINDS } jf_sqlite_file_kind;

/* What one kind of file saw through the VFS since the process started:
 * syncs and the time spent in them, the write calls that reached the real
 * file, and their bytes. */
typedef struct {
    uint64_t syncs, sync_us, writes, bytes;
} jf_sqlite_io_counts;

void jf_sqlite_vfs_counts(jf_sqlite_file_kind kind, jf_sqlite_io_counts *out);
/* Count a sync made outside SQLite (the store's deferred log_sync) that
 * took `us` microseconds. */
void jf_sqlite_vfs_count_sync(jf_sqlite_file_kind kind, int64_t us);


#endif
