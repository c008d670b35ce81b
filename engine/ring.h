/* engine/ring.h - single-producer single-consumer ring of variable-length records.
 *
 * Workers hand work to the owner of a series through one ring per (from, to) pair, so the
 * per-event path never takes a lock: the producer writes records, then publishes them with a
 * release store of its head; the consumer reads up to an acquire load of that head and frees
 * space with a release store of its tail. Records are contiguous (a record never wraps; the
 * producer skips to the start with a padding marker when the end is too close), 8-byte
 * aligned, and at most tl_ring_max_record() bytes.
 *
 * Threading: exactly one producer thread and one consumer thread per ring. Nothing blocks:
 * reserve returns NULL when full and the caller decides how to wait.
 */
#ifndef TL_RING_H
#define TL_RING_H

#include <stddef.h>

typedef struct tl_ring tl_ring;

/* Capacity is rounded up to a power of two (minimum 4 KiB). NULL on OOM. */
tl_ring *tl_ring_new(size_t capacity);
void tl_ring_destroy(tl_ring *r); /* NULL is a no-op */
size_t tl_ring_max_record(const tl_ring *r); /* capacity / 4 */

/* Producer: a pointer to `n` writable bytes, or NULL if the ring lacks space right now. The
 * record becomes visible to the consumer only at tl_ring_publish(). Several records may be
 * reserved and written one after another before one publish. */
void *tl_ring_reserve(tl_ring *r, size_t n);
void tl_ring_publish(tl_ring *r);

/* Consumer: the next published record and its length, or NULL if none. The record stays
 * valid until tl_ring_consume() releases it. */
const void *tl_ring_peek(tl_ring *r, size_t *n);
void tl_ring_consume(tl_ring *r);

/* Either side: 1 if no published records are waiting. */
int tl_ring_empty(const tl_ring *r);

#endif
