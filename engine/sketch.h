/* engine/sketch.h - mergeable log-bucket quantile sketch with a relative-error guarantee.
 *
 * Mapping (DDSketch-style): gamma = (1 + a) / (1 - a) with a = TL_SKETCH_ALPHA (1%). A
 * positive value v falls in bin i = ceil(log_gamma(v)); the bin's representative value
 * 2 * gamma^i / (gamma + 1) is within a relative error `a` of every value in the bin, so a
 * quantile read from the sketch is within a relative 1% of the exact quantile value. The
 * mapping is fixed for the whole process (so any two sketches can be merged or subtracted
 * bin by bin): |v| in [TL_SKETCH_MIN, TL_SKETCH_MAX] gets its own bins, |v| < TL_SKETCH_MIN
 * falls in the zero bin, |v| > TL_SKETCH_MAX is clamped to the top bin, negative values use
 * mirrored bins. Bin indices fit in uint16_t.
 *
 * Storage: a window slot holds few values per series most of the time, so a dense array of
 * ~4000 counters per slot would waste memory. A slot's sketch is instead a chain of small
 * fixed-size chunks of (bin, count) pairs taken from a per-thread tl_sketch_pool, and given
 * back when the slot expires. A sketch is named by a tl_sketch_ref (0 = empty) so slots stay
 * plain data. Memory per slot is bounded by the number of distinct bins it holds.
 *
 * Reading: tl_sketch_acc is a dense per-thread accumulator; sum the slots of a window into
 * it, read quantiles, then reset it (reset cost is proportional to the bins touched).
 *
 * Threading: a pool and everything allocated from it belong to one thread. No locks. The pool
 * grows in large blocks (amortised, never per value) up to its configured maximum.
 */
#ifndef TL_SKETCH_H
#define TL_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#define TL_SKETCH_ALPHA 0.01
#define TL_SKETCH_MIN 1e-9
#define TL_SKETCH_MAX 1e12

/* Bin index for a value, and the representative value of a bin. */
uint16_t tl_sketch_bin(double v);
double tl_sketch_bin_value(uint16_t bin);
/* Total number of bins (valid indices are 0 .. tl_sketch_nbins() - 1). */
uint32_t tl_sketch_nbins(void);

typedef uint32_t tl_sketch_ref; /* 0 = empty sketch */

typedef struct tl_sketch_pool tl_sketch_pool;

/* `max_bytes` bounds the pool's memory (0 = unlimited). */
tl_sketch_pool *tl_sketch_pool_new(size_t max_bytes);
void tl_sketch_pool_destroy(tl_sketch_pool *pool);
/* Bytes currently held by live chunks, and chunks handed out in total. */
size_t tl_sketch_pool_bytes_used(const tl_sketch_pool *pool);

/* Add one value (weight 1). Returns 0, or -1 if the pool is at its maximum (the value is not
 * recorded; the caller counts it). */
int tl_sketch_add(tl_sketch_pool *pool, tl_sketch_ref *s, double v);
/* Add n values of one bin (merging a sketch from another pool). Same return as tl_sketch_add;
 * n must be at least 1. */
int tl_sketch_add_bin(tl_sketch_pool *pool, tl_sketch_ref *s, uint16_t bin, uint32_t n);
/* The (bin, count) pairs of a sketch, into bins/counts (NULL: only count them); returns how
 * many. A bin may appear more than once (a saturated pair and its successor). */
uint32_t tl_sketch_pairs(const tl_sketch_pool *pool, tl_sketch_ref s, uint16_t *bins, uint32_t *counts);
/* Give a sketch's chunks back to the pool; *s becomes 0. */
void tl_sketch_clear(tl_sketch_pool *pool, tl_sketch_ref *s);
/* Number of values recorded in a sketch. */
uint64_t tl_sketch_count(const tl_sketch_pool *pool, tl_sketch_ref s);

/* Dense accumulator. */
typedef struct tl_sketch_acc {
    uint64_t *counts; /* tl_sketch_nbins() entries */
    uint32_t lo, hi;  /* touched bin range, lo > hi when empty */
    uint64_t total;
} tl_sketch_acc;

int tl_sketch_acc_init(tl_sketch_acc *acc);  /* allocates the counters; -1 on OOM */
void tl_sketch_acc_fini(tl_sketch_acc *acc);
void tl_sketch_acc_reset(tl_sketch_acc *acc);
void tl_sketch_acc_merge(tl_sketch_acc *acc, const tl_sketch_pool *pool, tl_sketch_ref s);
void tl_sketch_acc_add_value(tl_sketch_acc *acc, double v); /* for tests and references */
/* Value at quantile q in [0, 1] (the item of rank floor(q * (total - 1)) in sorted order,
 * within TL_SKETCH_ALPHA relative error). NAN when empty. */
double tl_sketch_acc_quantile(const tl_sketch_acc *acc, double q);

#endif
