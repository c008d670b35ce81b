/* engine/ring.c - SPSC ring of variable-length records (see ring.h).
 *
 * Why: workers pass events to the thread that owns a series without locks or allocation.
 *
 * Layout: positions are free-running size_t byte counters (never wrapped; offset = pos & mask),
 * so head - tail is the number of bytes in use and full/empty need no extra flag. A record is
 * an 8-byte header {uint32 len, uint32 kind} followed by len bytes, padded to a multiple of 8;
 * it never wraps. When a record does not fit before the end of the buffer the producer writes
 * a PAD header there and the consumer skips to offset 0. Because every size is a multiple of 8
 * and the capacity is a power of two >= 4 KiB, at least 8 bytes always remain before the end,
 * so a PAD header always fits.
 *
 * Invariants: tail <= head <= tail + cap. A PAD is always followed (in the same publish) by
 * the record it made room for, so a published head never points just after a PAD.
 *
 * Threading: `head` is written only by the producer (release, after the record bytes) and read
 * by the consumer (acquire); `tail` is the mirror image. Each atomic lives on its own cache
 * line, and each side keeps its private cursor plus a cached copy of the other side's index on
 * a line of its own, re-reading the shared index only when the cached one says full/empty.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "ring.h"

#define LINE 64
#define HDR 8
#define KIND_REC 0u
#define KIND_PAD 1u

typedef struct rec_hdr {
    uint32_t len;
    uint32_t kind;
} rec_hdr;

struct tl_ring {
    /* Shared, written by the producer. */
    alignas(LINE) _Atomic size_t head;
    /* Producer-private. */
    alignas(LINE) size_t wpos;       /* reserved-up-to position (>= head) */
    size_t tail_cache;               /* last tail seen */
    /* Shared, written by the consumer. */
    alignas(LINE) _Atomic size_t tail;
    /* Consumer-private. */
    alignas(LINE) size_t rpos;       /* start of the record peek returned (>= tail) */
    size_t head_cache;               /* last head seen */
    /* Read-only after creation. */
    alignas(LINE) unsigned char *buf;
    size_t cap, mask;
    void *raw;                       /* the allocation this struct was aligned within */
};

static inline size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

tl_ring *tl_ring_new(size_t capacity)
{
    size_t cap = 4096;
    while (cap < capacity) {
        if (cap > SIZE_MAX / 2 || cap >= ((size_t)UINT32_MAX + 1) / 2)
            return NULL; /* record lengths are uint32; keep max_record well inside */
        cap *= 2;
    }
    void *raw = tl_malloc(sizeof(tl_ring) + LINE - 1);
    if (!raw)
        return NULL;
    tl_ring *r = (tl_ring *)(((uintptr_t)raw + LINE - 1) & ~(uintptr_t)(LINE - 1));
    memset(r, 0, sizeof(*r));
    r->raw = raw;
    r->buf = tl_malloc(cap);
    if (!r->buf) {
        tl_free(raw);
        return NULL;
    }
    r->cap = cap;
    r->mask = cap - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return r;
}

void tl_ring_destroy(tl_ring *r)
{
    if (!r)
        return;
    tl_free(r->buf);
    tl_free(r->raw);
}

size_t tl_ring_max_record(const tl_ring *r) { return r->cap / 4; }

/* ---- producer ------------------------------------------------------------------------ */

void *tl_ring_reserve(tl_ring *r, size_t n)
{
    if (n > r->cap / 4)
        return NULL;
    size_t need = HDR + pad8(n);
    size_t off = r->wpos & r->mask;
    size_t to_end = r->cap - off;
    size_t total = to_end < need ? to_end + need : need; /* include the PAD when wrapping */
    if (r->wpos + total - r->tail_cache > r->cap) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (r->wpos + total - r->tail_cache > r->cap)
            return NULL;
    }
    if (to_end < need) {
        rec_hdr pad = {(uint32_t)(to_end - HDR), KIND_PAD};
        memcpy(r->buf + off, &pad, sizeof(pad));
        r->wpos += to_end;
        off = 0;
    }
    rec_hdr h = {(uint32_t)n, KIND_REC};
    memcpy(r->buf + off, &h, sizeof(h));
    r->wpos += need;
    return r->buf + off + HDR;
}

void tl_ring_publish(tl_ring *r) { atomic_store_explicit(&r->head, r->wpos, memory_order_release); }

/* ---- consumer ------------------------------------------------------------------------ */

const void *tl_ring_peek(tl_ring *r, size_t *n)
{
    if (r->rpos == r->head_cache) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (r->rpos == r->head_cache)
            return NULL;
    }
    size_t off = r->rpos & r->mask;
    rec_hdr h;
    memcpy(&h, r->buf + off, sizeof(h));
    if (h.kind == KIND_PAD) {
        /* The record that caused the PAD is part of the same publish, so it is there. */
        r->rpos += r->cap - off;
        memcpy(&h, r->buf, sizeof(h));
        off = 0;
    }
    *n = h.len;
    return r->buf + off + HDR;
}

void tl_ring_consume(tl_ring *r)
{
    size_t n;
    if (!tl_ring_peek(r, &n))
        return; /* nothing to release */
    r->rpos += HDR + pad8(n);
    atomic_store_explicit(&r->tail, r->rpos, memory_order_release);
}

int tl_ring_empty(const tl_ring *r)
{
    size_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    return h == t;
}
