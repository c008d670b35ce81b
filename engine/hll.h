/* engine/hll.h - mergeable approximate distinct count (HyperLogLog) for sliding windows.
 *
 * Why: rules such as "users affected in the last 15 minutes" need the number of distinct
 * values over a window of slots. Exact sets per slot would grow without bound; a
 * HyperLogLog sketch per slot is bounded and slots merge losslessly (register-wise max), so
 * the window's distinct count is the merge of its slots.
 *
 * Representation (same shape as engine/sketch.h): a slot names its sketch by a tl_hll_ref
 * (0 = empty) into a per-thread tl_hll_pool of 64-byte chunks.
 *  - SPARSE: a chain of chunks holding distinct 64-bit hashes, 7 per chunk, deduplicated on
 *    add by a linear scan. Exact. Most slots see few distinct values, so most sketches are
 *    one chunk (64 bytes for up to 7 distinct values).
 *  - DENSE: once a sketch would hold more than TL_HLL_SPARSE_MAX hashes it becomes
 *    2^TL_HLL_P one-byte registers kept in 16 chunks plus one index chunk (1088 bytes; the
 *    bound on a slot's memory however many values it sees).
 * Every representation lives in the one chunk size class, so memory freed by any sketch can
 * be reused by any other.
 *
 * Hashes: callers hash the value with XXH3_64bits and pass the hash; register index = top
 * TL_HLL_P bits, rank = leading zeros of the remaining 54 bits + 1.
 *
 * Reading: tl_hll_acc is a per-thread accumulator. Merge the window's slots into it, read the
 * estimate, reset it. While the union of merged hashes is small (<= TL_HLL_ACC_EXACT_MAX) and
 * every merged sketch is sparse it keeps the hashes exactly (hash set allocated once at init)
 * and the estimate is the exact count; otherwise it folds everything into registers.
 *
 * Error bound: exact up to TL_HLL_SPARSE_MAX distinct values per slot and
 * TL_HLL_ACC_EXACT_MAX per merged window (barring 64-bit hash collisions). Beyond that, the
 * HyperLogLog standard error is 1.04 / sqrt(2^TL_HLL_P) = 3.25% (linear counting below
 * 2.5 * 2^TL_HLL_P); the estimate is within 3 standard errors (~10%) with probability ~99.7%.
 * Merging is commutative and idempotent: merging the same sketch twice changes nothing.
 *
 * Threading: a pool, its sketches and an accumulator belong to one thread; no locks. The pool
 * grows in blocks (never per value) up to its configured maximum; in steady state (chunks
 * recycled through clear) tl_hll_add allocates nothing.
 */
#ifndef TL_HLL_H
#define TL_HLL_H

#include <stddef.h>
#include <stdint.h>

#define TL_HLL_P 10               /* 1024 registers: standard error 1.04/sqrt(1024) = 3.25% */
#define TL_HLL_SPARSE_MAX 70      /* distinct hashes a sketch keeps exactly (10 chunks) */
#define TL_HLL_ACC_EXACT_MAX 4096 /* distinct hashes an accumulator keeps exactly */

typedef uint32_t tl_hll_ref; /* 0 = empty */

typedef struct tl_hll_pool tl_hll_pool;

/* `max_bytes` bounds the memory the pool takes from the allocator (0 = unlimited). NULL on
 * OOM. */
tl_hll_pool *tl_hll_pool_new(size_t max_bytes);
void tl_hll_pool_destroy(tl_hll_pool *p); /* NULL is a no-op; frees every sketch in it */
/* Bytes currently held by live sketches (a multiple of 64). */
size_t tl_hll_pool_bytes_used(const tl_hll_pool *p);

/* Add a 64-bit hash (callers hash the value with XXH3_64bits). 0, or -1 if the pool is full
 * (the hash is not recorded and *s is unchanged; the caller counts the loss). */
int tl_hll_add(tl_hll_pool *p, tl_hll_ref *s, uint64_t hash);
/* Give a sketch's chunks back to the pool; *s becomes 0. Clearing an empty sketch is a no-op. */
void tl_hll_clear(tl_hll_pool *p, tl_hll_ref *s);

/* Checkpoints (checkpoint.c): a sketch's content is either its exact hashes (returns their
 * number, up to TL_HLL_SPARSE_MAX, into `hashes`; *dense = 0) or its 2^TL_HLL_P registers
 * (into `regs`; *dense = 1). Import rebuilds an empty sketch *s from either; -1 when the pool
 * is full. */
uint32_t tl_hll_export(const tl_hll_pool *p, tl_hll_ref s, uint64_t *hashes, uint8_t *regs, int *dense);
int tl_hll_import(tl_hll_pool *p, tl_hll_ref *s, const uint64_t *hashes, uint32_t n, const uint8_t *regs,
                  int dense);

/* Accumulator. Callers may read `dense` (0 while the estimate is exact); the other fields are
 * private (the unit test inspects them). */
typedef struct tl_hll_acc {
    uint8_t reg[1 << TL_HLL_P]; /* all zero while !dense */
    uint32_t nsparse;           /* distinct hashes in sparse[] while !dense */
    uint64_t *sparse;           /* TL_HLL_ACC_EXACT_MAX hashes, in insertion order */
    uint32_t sparse_cap;
    int dense;
    uint16_t *slot;             /* open-addressing index into sparse[] (1-based, 0 = empty) */
} tl_hll_acc;

int tl_hll_acc_init(tl_hll_acc *a); /* allocates the hash set; -1 on OOM */
void tl_hll_acc_fini(tl_hll_acc *a);
void tl_hll_acc_reset(tl_hll_acc *a); /* cost proportional to what was merged */
void tl_hll_acc_merge(tl_hll_acc *a, const tl_hll_pool *p, tl_hll_ref s);
/* Distinct values merged so far: exact while !dense, else the HyperLogLog estimate. */
double tl_hll_acc_estimate(const tl_hll_acc *a);

#endif
