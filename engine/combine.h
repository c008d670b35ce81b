/* engine/combine.h - pre-aggregation of contributions bound for another worker's series.
 *
 * Why: a series has one owner (shard.h), and a fleet has few services, so the series keyed by
 * service alone are few and hot: with 3 services and 2 workers one worker owned 68% of all
 * contributions and the other waited. Shipping every event's contribution (a FOLD record per
 * event) also costs both sides an encode and a decode per event. So the worker that reads an
 * event folds the contributions for a remote owner into a small local delta per series and
 * plan (window.h, TL_DELTA_SLOTS slots), and at the end of its batch sends one MERGE record
 * per (series, plan) instead; the owner merges it (tl_shard_merge). The folding work of a hot
 * series is then split between the workers that read its events, and the exchange costs a
 * record per series and batch instead of one per event. This is the combiner of MapReduce, or
 * the local/global two-phase aggregation of stream processors.
 *
 * Correctness: every accumulator merges exactly (counts and sums add, min/max combine,
 * sketches add bin-wise). A delta holds at most TL_DELTA_SLOTS consecutive epochs per plan;
 * an event outside them flushes the deltas first. Deltas are flushed before the sender's
 * batch ends (before its MARK), so an owner that saw MARK(b) has every contribution of batch
 * b, as with FOLD records. Plans that count distinct values (HyperLogLog) are not combined:
 * their groups go as FOLD records.
 *
 * Memory: one arena of max_bytes per (sender, owner) pair, allocated up front; a series that
 * does not fit (arena or table full) goes as FOLD records. When the arena is full at a flush,
 * it is emptied (every delta is clean then), so keys that stopped arriving do not hold it.
 * Nothing is allocated per event; a flush may grow the scratch for sketch pairs.
 *
 * Threading: a combiner belongs to the sending worker; records go through that worker's ring
 * to the owner.
 */
#ifndef TL_COMBINE_H
#define TL_COMBINE_H

#include <stddef.h>
#include <stdint.h>

#include "program.h"
#include "shard.h"

typedef struct tl_combiner tl_combiner;

/* Where records go: returns space for n bytes (the destination ring; blocks until there is). */
typedef void *(*tl_reserve_fn)(void *ctx, size_t n);

/* NULL on OOM. max_bytes: the arena (0: 4 MiB). */
tl_combiner *tl_combiner_new(const tl_program *prog, size_t max_bytes);
void tl_combiner_destroy(tl_combiner *c);

/* Fold the contribution of f for key fk into the key's delta. 0 if taken; -1 if not (the
 * group is not combined, or the key does not fit): the caller sends it as a FOLD record.
 * May flush first (through reserve) when f->ts is outside the epochs the deltas hold. */
int tl_combiner_add(tl_combiner *c, const tl_fold *f, const tl_fold_key *fk, tl_reserve_fn reserve, void *ctx);

/* Send every pending delta as MERGE records and reset them. */
void tl_combiner_flush(tl_combiner *c, tl_reserve_fn reserve, void *ctx);

/* 1 if deltas are pending. */
int tl_combiner_pending(const tl_combiner *c);

#endif
