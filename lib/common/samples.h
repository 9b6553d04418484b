/* samples: the training samples a trainer reads, epoch by epoch.
 *
 * Two kinds of input. A stream whose samples carry 'epoch' records
 * (tgs-augment --epochs N) says where each epoch ends and is read as it
 * comes, in constant memory; it may start before the epoch asked for (the
 * whole stream again on a resume), and those epochs are read through.
 * Without them (raw tiles from tgs-stack25d) the file is held in memory
 * and each epoch is one pass in an order shuffled from the seed and the
 * epoch, as tgs-augment --shuffle does. Shared by the tools that train
 * (tgs-train; tgs-mae and tgs-refine to come). */
#ifndef TGS_SAMPLES_H
#define TGS_SAMPLES_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

typedef struct {
    tgs_reader rd;
    int streaming; /* the samples carry 'epoch' records */
    uint64_t seed;
    /* When *stop is set (a SIGINT being handled), a broken stream is taken
     * as its end: its producer was stopped by the same Ctrl-C. May be NULL. */
    const volatile sig_atomic_t *stop;
    /* streaming: cur is the sample handed out, next the one read ahead */
    tgs_sample cur, next;
    int have_next;
    int64_t epoch, next_epoch; /* being read; of next */
    int64_t last_count;        /* samples in the last whole epoch, 0 if none (a progress bar's total) */
    /* in memory */
    tgs_sample *all;
    size_t n, pos;
    uint32_t *order;
} tgs_samples;

/* Open path ("-" or NULL: stdin) and read its first sample (all of them
 * when they have no 'epoch'; a progress bar unless quiet). -1 and a
 * message naming the file and sample on bad input or an empty stream. */
int tgs_samples_open(tgs_samples *s, const char *path, uint64_t seed, const volatile sig_atomic_t *stop, int quiet);
/* Samples already in memory (a tool that made them: tgs-refine), held as
 * a file without 'epoch' records is: an epoch a shuffled pass. Takes
 * all[0..n), malloc'd, and frees it on close; name is for messages. */
int tgs_samples_from(tgs_samples *s, tgs_sample *all, size_t n, const char *name, uint64_t seed);
void tgs_samples_close(tgs_samples *s);
/* The first sample (it decides the channels and the input side). */
const tgs_sample *tgs_samples_first(const tgs_samples *s);
/* Samples in an epoch when known (in memory, or the last whole streamed
 * epoch), else 0. */
int64_t tgs_samples_per_epoch(const tgs_samples *s);
/* Start epoch e (0-based): 1, or 0 when the stream ended before it, -1 on
 * an error. first: the first epoch of this process (a stream may start
 * later than e only by being the wrong stream). */
int tgs_samples_begin_epoch(tgs_samples *s, int64_t e, int first);
/* The next sample of the epoch: 1 with *smp and *index (its number in the
 * file, from 1), 0 at the epoch's end, -1 on an error. */
int tgs_samples_next(tgs_samples *s, const tgs_sample **smp, uint64_t *index);
/* The epoch's samples were all read: remember the count for the next
 * epoch's progress bar. */
void tgs_samples_end_epoch(tgs_samples *s, int64_t count);

#endif
