/*
 * checkpointer.h — checkpoints off the writer's path.
 *
 * With SQLite, COMMIT runs a checkpoint whenever the log has grown past
 * its threshold: the one commit that crosses it copies the log into the
 * database and fsyncs that too (a 100+ ms stall for that batch).  A
 * checkpointer turns that off on the writer's connection and instead runs a
 * passive checkpoint (one that never waits for the writer or readers) every
 * interval from a connection and a thread of its own.  The HTTP committer
 * and the ledger benchmark both run one, so the benchmark measures what the
 * server does.  The committer starts none on PostgreSQL, which checkpoints
 * by itself (its store's checkpoint ops are no-ops).
 *
 * Restarting the log.  SQLite writes the log from its start again only
 * when a write transaction begins after a checkpoint has copied all of it.
 * A writer that commits back to back never sees that from a checkpoint on
 * another connection — it always appends while the checkpoint runs — so
 * under sustained writes the log grew without bound (1.2 GB after nine
 * seconds of the HTTP earn benchmark: disk, page cache and a long replay
 * after a crash), and every page read searched its
 * ever longer index (sqlite3WalFindFrame).  So when the log is long, the
 * checkpointer runs passes back to back until little is left, then asks
 * the writer to take a turn: between two of its transactions the writer
 * copies the few frames left itself, and its next transaction starts the
 * log over.  (A reader in the middle of a read can still make that one
 * restart fail; the next pass asks again.)
 */
#ifndef JF_STORE_CHECKPOINTER_H
#define JF_STORE_CHECKPOINTER_H

#include "store/store.h"

/* How often the checkpointer moves the log into the database. */
#define JF_CHECKPOINT_INTERVAL_MS 1000
/* A log this long (frames; 256 MiB of 4 KiB pages) is to start over.  Each
 * restart stalls the writer for two syncs and a few hundred pages (5-30 ms
 * on this project's 2-core VM), so not too often: at saturation the HTTP
 * earn benchmark appends some 30,000 frames a second. */
#define JF_LOG_RESTART_FRAMES 65536
/* Passes back to back, at most, before the writer is asked for its turn. */
#define JF_CHECKPOINT_PASSES_MAX 4

typedef struct jf_checkpointer jf_checkpointer;

/* Open a second connection to `db`, turn automatic checkpoints off on
 * `writer`, start the thread (restart_frames: JF_LOG_RESTART_FRAMES, less
 * in tests).  NULL when any of it fails; then the writer
 * keeps checkpointing by itself (its setting is restored). */
jf_checkpointer *jf_checkpointer_start(const char *db, jf_store *writer, int interval_ms, int64_t restart_frames);

/* What the thread does every interval: passes, and when the log holds
 * restart_frames or more, a request for the writer's turn.  Returns the
 * frames the log holds (-1: unknown).  (Tests call it to run one at a
 * moment of their choosing.) */
int64_t jf_checkpointer_run(jf_checkpointer *cp);

/* Call from the writer's thread between two of its transactions: when the
 * checkpointer has asked for it, copy what the log still holds on the
 * writer's connection, so that its next transaction starts the log over
 * (a short stall: what the last pass left, and two syncs).  NULL is fine. */
void jf_checkpointer_writer_turn(jf_checkpointer *cp);

/* Stop the thread, close its connection; the writer checkpoints by itself
 * again.  NULL is fine. */
void jf_checkpointer_stop(jf_checkpointer *cp);

/* Process-wide, since start: the writer's turns (each lets the log start
 * over), the time they took, and how many took longer than each bound in
 * JF_CHECKPOINT_TURN_LE_US (a histogram: turn_le[i] counts turns of at
 * most JF_CHECKPOINT_TURN_LE_US[i] µs; the last bucket is everything). */
#define JF_CHECKPOINT_TURN_BUCKETS 8
extern const int64_t JF_CHECKPOINT_TURN_LE_US[JF_CHECKPOINT_TURN_BUCKETS - 1];
typedef struct {
    uint64_t turns, turn_us;
    uint64_t turn_le[JF_CHECKPOINT_TURN_BUCKETS];
} jf_checkpoint_counts;
void jf_checkpointer_counts(jf_checkpoint_counts *out);

#endif
