/*
 * pg.h — what only the PostgreSQL backend has, for tests and benchmarks
 * (the store interface itself is store.h).
 */
#ifndef JF_STORE_PG_H
#define JF_STORE_PG_H

#include <stdint.h>

#include "store/store.h"

/* Counted on one connection since it was opened. */
typedef struct {
    uint64_t statements;  /* statements sent (prepares not counted) */
    uint64_t round_trips; /* times the caller waited for PostgreSQL's answers */
    uint64_t batch_locked; /* member locks answered from a batch's lock (store.h: batch_members) */
} jf_pg_counters;

/* The counters of a PostgreSQL store (zeros for any other store). */
jf_pg_counters jf_pg_counters_of(jf_store *s);

#endif
