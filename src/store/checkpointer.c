/*
 * checkpointer.c — see checkpointer.h.
 */
#include "store/checkpointer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "util/clock.h"

struct jf_checkpointer {
    jf_store *writer;
    jf_store *own; /* the connection checkpoints run on */
    int interval_ms;
    int64_t restart_frames;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    atomic_bool restart_wanted; /* the writer's turn has a tail to copy */
};

/* One pass on the checkpointer's connection; the frames the log holds
 * after it (-1: unknown). */
static int64_t pass(jf_checkpointer *cp) {
    jf_error err;
    jf_error_clear(&err);
    int64_t frames = -1;
    if (cp->own->ops->checkpoint(cp->own, &frames, &err) != JF_OK)
        fprintf(stderr, "jifen: checkpoint failed: %s\n", err.detail);
    return frames;
}

int64_t jf_checkpointer_run(jf_checkpointer *cp) {
    /* A long log: pass again at once (each pass copies what the writer
     * added during the one before, fewer frames each time), then leave the
     * last few to the writer's turn. */
    int64_t frames = pass(cp);
    for (int i = 1; i < JF_CHECKPOINT_PASSES_MAX && frames >= cp->restart_frames; i++) frames = pass(cp);
    if (frames >= cp->restart_frames) atomic_store(&cp->restart_wanted, true);
    return frames;
}

static void *checkpointer_main(void *arg) {
    jf_checkpointer *cp = arg;
    pthread_mutex_lock(&cp->mu);
    while (!cp->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += cp->interval_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&cp->cv, &cp->mu, &until);
        if (cp->stop) break;
        pthread_mutex_unlock(&cp->mu);
        jf_checkpointer_run(cp);
        pthread_mutex_lock(&cp->mu);
    }
    pthread_mutex_unlock(&cp->mu);
    return NULL;
}

jf_checkpointer *jf_checkpointer_start(const char *db, jf_store *writer, int interval_ms, int64_t restart_frames) {
    jf_checkpointer *cp = calloc(1, sizeof *cp);
    if (cp == NULL) return NULL;
    cp->restart_frames = restart_frames;
    cp->writer = writer;
    cp->interval_ms = interval_ms;
    pthread_mutex_init(&cp->mu, NULL);
    pthread_cond_init(&cp->cv, NULL);
    jf_error err;
    jf_error_clear(&err);
    if (jf_store_open(db, &cp->own, &err) == JF_OK) {
        if (writer->ops->set_auto_checkpoint(writer, false, &err) == JF_OK &&
            pthread_create(&cp->thread, NULL, checkpointer_main, cp) == 0) {
            pthread_setname_np(cp->thread, "jf-checkpoint");
            return cp;
        }
        writer->ops->set_auto_checkpoint(writer, true, &err);
        jf_store_close(cp->own);
    }
    pthread_cond_destroy(&cp->cv);
    pthread_mutex_destroy(&cp->mu);
    free(cp);
    return NULL;
}

const int64_t JF_CHECKPOINT_TURN_LE_US[JF_CHECKPOINT_TURN_BUCKETS - 1] = {1000,  5000,   10000, 25000,
                                                                            50000, 100000, 250000};
static atomic_uint_fast64_t g_turns, g_turn_us, g_turn_le[JF_CHECKPOINT_TURN_BUCKETS];

void jf_checkpointer_writer_turn(jf_checkpointer *cp) {
    if (cp == NULL || !atomic_load_explicit(&cp->restart_wanted, memory_order_relaxed)) return;
    atomic_store(&cp->restart_wanted, false);
    jf_error err;
    jf_error_clear(&err);
    int64_t t0 = jf_mono_us();
    if (cp->writer->ops->checkpoint(cp->writer, NULL, &err) != JF_OK)
        fprintf(stderr, "jifen: checkpoint failed: %s\n", err.detail);
    int64_t us = jf_mono_us() - t0;
    size_t b = 0;
    while (b < JF_CHECKPOINT_TURN_BUCKETS - 1 && us > JF_CHECKPOINT_TURN_LE_US[b]) b++;
    atomic_fetch_add_explicit(&g_turn_le[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_turn_us, (uint64_t)(us > 0 ? us : 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&g_turns, 1, memory_order_relaxed);
}

void jf_checkpointer_counts(jf_checkpoint_counts *out) {
    out->turns = atomic_load_explicit(&g_turns, memory_order_relaxed);
    out->turn_us = atomic_load_explicit(&g_turn_us, memory_order_relaxed);
    for (size_t i = 0; i < JF_CHECKPOINT_TURN_BUCKETS; i++)
        out->turn_le[i] = atomic_load_explicit(&g_turn_le[i], memory_order_relaxed);
}

void jf_checkpointer_stop(jf_checkpointer *cp) {
    if (cp == NULL) return;
    pthread_mutex_lock(&cp->mu);
    cp->stop = true;
    pthread_cond_signal(&cp->cv);
    pthread_mutex_unlock(&cp->mu);
    pthread_join(cp->thread, NULL);
    jf_store_close(cp->own);
    jf_error err;
    jf_error_clear(&err);
    cp->writer->ops->set_auto_checkpoint(cp->writer, true, &err);
    pthread_cond_destroy(&cp->cv);
    pthread_mutex_destroy(&cp->mu);
    free(cp);
}
