/* engine/series.h - per-group tables of series, owned by one thread.
 *
 * A series is one combination of group-by label values (e.g. service=support-bot,
 * tool=get_order_status). Its record holds the window state of every plan of the group and
 * the alert instance of every rule of the group (layout in program.h), followed by its key:
 * the label values joined by 0x1f, each truncated to TL_ALERT_LABEL_MAX bytes.
 *
 * The table is open addressing with linear probing on the key's 64-bit hash and backward
 * shift deletion (no tombstones). A series record is allocated when a new key appears and
 * freed when it is evicted, so the steady state (known keys) allocates nothing. Cardinality
 * is capped twice: a table holds at most max_series series, and the tables of one shard
 * together at most budget->max (limits.max_series_total, a tl_series_budget the shard shares
 * between its tables). Past either cap, new keys are folded into the table's one overflow
 * series (key "__overflow__", not counted against either cap: there is one per table) and
 * counted, so a flood of distinct tool names cannot exhaust memory.
 *
 * The owner of a series is a function of its key hash (tl_series_owner), which is what lets
 * several workers, and later several instances, split the work without sharing state.
 * Threading: a table belongs to its owner thread; no locks.
 */
#ifndef TL_SERIES_H
#define TL_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "program.h"
#include "sketch.h"

typedef struct tl_series {
    uint64_t hash;
    struct tl_series *dirty_next; /* on the table's dirty list when dirty != 0 */
    int64_t last_ts;              /* newest event time folded */
    int64_t first_ts;             /* oldest event time folded: when this label set was first seen */
    uint32_t key_len;
    uint8_t dirty;                /* 1: folded since the last early pass; 2: only waiting for the
                                     watermark to reach its newest slot (shard.c) */
    uint8_t overflow;             /* this is the overflow series */
    uint16_t nactive;             /* instances pending or firing */
    uint8_t evict;                /* idle: to be freed at the end of this closing pass (shard.c) */
} tl_series;

#define TL_OVERFLOW_KEY "__overflow__"

/* A table slot keeps the key hash next to the pointer, so a probe that meets another key
 * compares hashes in the table instead of reading that series' record (a cache miss each
 * when the table holds many series). */
typedef struct tl_series_ent {
    uint64_t hash;
    tl_series *s; /* NULL: empty */
} tl_series_ent;

/* The total cap shared by the tables of one shard: `count` series live in all of them
 * (overflow series excluded), at most `max`. */
typedef struct tl_series_budget {
    uint64_t count;
    uint64_t max; /* UINT64_MAX: no total cap */
} tl_series_budget;

typedef struct tl_series_table {
    const tl_program *prog;
    uint32_t group;
    tl_series_ent *slots;
    size_t cap;       /* power of two */
    size_t count;
    uint64_t max_series;
    tl_series *overflow;
    tl_series *dirty_head;
    int64_t early_wm;  /* watermark of the last early-firing pass over the dirty list */
    uint64_t overflowed; /* events folded into the overflow series */
    tl_series_budget *budget; /* shared total cap, or NULL (none); set after init, before the
                                 first tl_series_get, and it must outlive the table */
    uint8_t warned;      /* the shard logged that this table overflows (shard.c) */
} tl_series_table;

static inline uint32_t tl_series_owner(uint64_t hash, uint32_t nowners)
{
    return nowners <= 1 ? 0 : (uint32_t)((hash >> 40) % nowners);
}

static inline char *tl_series_key(const tl_series_table *t, const tl_series *s)
{
    return (char *)s + t->prog->groups[t->group].record_size;
}

static inline void *tl_series_at(const tl_series *s, uint32_t offset) { return (char *)s + offset; }

int tl_series_table_init(tl_series_table *t, const tl_program *prog, uint32_t group, uint64_t max_series);
/* Gives its series back to t->budget. */
void tl_series_table_fini(tl_series_table *t, tl_sketch_pool *pool);

/* A new key would go to the overflow series: the table or the shared budget is at its cap. */
static inline int tl_series_table_full(const tl_series_table *t)
{
    return t->count >= t->max_series || (t->budget && t->budget->count >= t->budget->max);
}

/* Find or create. *created is set when a new record was made. NULL only on OOM. A new key
 * when tl_series_table_full() gets the overflow series (created on first use), counted in
 * t->overflowed. */
tl_series *tl_series_get(tl_series_table *t, uint64_t hash, const char *key, uint32_t len, int *created);
/* The table's overflow series, created on first use (not counted in t->overflowed). NULL on OOM. */
tl_series *tl_series_overflow(tl_series_table *t);
/* Remove and free a series (must not be on the dirty list). */
void tl_series_remove(tl_series_table *t, tl_series *s, tl_sketch_pool *pool);

static inline void tl_series_mark_dirty(tl_series_table *t, tl_series *s)
{
    if (!s->dirty) {
        s->dirty_next = t->dirty_head;
        t->dirty_head = s;
    }
    s->dirty = 1;
}

uint64_t tl_series_hash(const char *key, size_t len);

#endif
