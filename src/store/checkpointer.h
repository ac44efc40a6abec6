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
 */
#ifndef JF_STORE_CHECKPOINTER_H
#define JF_STORE_CHECKPOINTER_H

#include "store/store.h"

/* How often the checkpointer moves the log into the database. */
#define JF_CHECKPOINT_INTERVAL_MS 1000

typedef struct jf_checkpointer jf_checkpointer;

/* Open a second connection to `db`, turn automatic checkpoints off on
 * `writer`, start the thread.  NULL when any of it fails; then the writer
 * keeps checkpointing by itself (its setting is restored). */
jf_checkpointer *jf_checkpointer_start(const char *db, jf_store *writer, int interval_ms);

/* Stop the thread, close its connection; the writer checkpoints by itself
 * again.  NULL is fine. */
void jf_checkpointer_stop(jf_checkpointer *cp);

#endif
