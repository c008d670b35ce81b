/* engine/series.c - series tables (see series.h). */
#include <string.h>
/* inlined: a key hash per series lookup is on the per-event path, and keys are short */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "alloc.h"
#include "inst.h"
#include "series.h"
#include "window.h"

uint64_t tl_series_hash(const char *key, size_t len) { return XXH3_64bits(key, len); }

int tl_series_table_init(tl_series_table *t, const tl_program *prog, uint32_t group, uint64_t max_series)
{
    memset(t, 0, sizeof *t);
    t->prog = prog;
    t->group = group;
    t->max_series = max_series ? max_series : UINT64_MAX;
    t->cap = 64;
    t->early_wm = INT64_MIN;
    t->slots = tl_calloc(t->cap, sizeof *t->slots);
    return t->slots ? 0 : -1;
}

static void free_series(tl_series_table *t, tl_series *s, tl_sketch_pool *pool)
{
    const tl_group *g = &t->prog->groups[t->group];
    for (uint32_t i = 0; i < g->nplans; i++) {
        const tl_plan *pl = &t->prog->plans[g->plans[i]];
        tl_window_fini(pl, tl_series_at(s, pl->offset), pool);
    }
    tl_free(s);
}

void tl_series_table_fini(tl_series_table *t, tl_sketch_pool *pool)
{
    if (!t->slots)
        return;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].s)
            free_series(t, t->slots[i].s, pool);
    if (t->budget)
        t->budget->count -= t->count;
    if (t->overflow)
        free_series(t, t->overflow, pool);
    tl_free(t->slots);
    memset(t, 0, sizeof *t);
}

static tl_series *new_series(tl_series_table *t, uint64_t hash, const char *key, uint32_t len)
{
    const tl_group *g = &t->prog->groups[t->group];
    tl_series *s = tl_malloc(g->record_size + len + 1);
    if (!s)
        return NULL;
    memset(s, 0, g->record_size);
    s->hash = hash;
    s->key_len = len;
    s->last_ts = INT64_MIN;
    s->first_ts = INT64_MAX;
    for (uint32_t i = 0; i < g->nplans; i++) {
        const tl_plan *pl = &t->prog->plans[g->plans[i]];
        tl_window_init(pl, tl_series_at(s, pl->offset));
    }
    char *k = tl_series_key(t, s);
    memcpy(k, key, len);
    k[len] = '\0';
    return s;
}

static int grow_table(tl_series_table *t)
{
    size_t ncap = t->cap * 2;
    tl_series_ent *ns = tl_calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].s)
            continue;
        size_t j = t->slots[i].hash & (ncap - 1);
        while (ns[j].s)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    tl_free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

tl_series *tl_series_overflow(tl_series_table *t)
{
    if (!t->overflow) {
        t->overflow = new_series(t, 0, TL_OVERFLOW_KEY, (uint32_t)strlen(TL_OVERFLOW_KEY));
        if (t->overflow)
            t->overflow->overflow = 1;
    }
    return t->overflow;
}

tl_series *tl_series_get(tl_series_table *t, uint64_t hash, const char *key, uint32_t len, int *created)
{
    *created = 0;
    size_t mask = t->cap - 1, i = hash & mask;
    for (tl_series *s; (s = t->slots[i].s); i = (i + 1) & mask) {
        if (t->slots[i].hash == hash && s->key_len == len && tl_bytes_eq(tl_series_key(t, s), key, len))
            return s;
    }
    if (tl_series_table_full(t)) {
        t->overflowed++;
        return tl_series_overflow(t);
    }
    if ((t->count + 1) * 2 > t->cap) {
        if (grow_table(t) < 0)
            return NULL;
        mask = t->cap - 1;
        i = hash & mask;
        while (t->slots[i].s)
            i = (i + 1) & mask;
    }
    tl_series *s = new_series(t, hash, key, len);
    if (!s)
        return NULL;
    t->slots[i].hash = hash;
    t->slots[i].s = s;
    t->count++;
    if (t->budget)
        t->budget->count++;
    *created = 1;
    return s;
}

void tl_series_remove(tl_series_table *t, tl_series *s, tl_sketch_pool *pool)
{
    if (s == t->overflow) {
        t->overflow = NULL;
        free_series(t, s, pool);
        return;
    }
    size_t mask = t->cap - 1, i = s->hash & mask;
    while (t->slots[i].s != s) {
        if (!t->slots[i].s)
            return; /* not in the table */
        i = (i + 1) & mask;
    }
    /* backward shift deletion */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!t->slots[j].s)
            break;
        size_t home = t->slots[j].hash & mask;
        /* move j's entry into the hole at i if its home is not in (i, j] (cyclically) */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].s = NULL;
    t->slots[i].hash = 0;
    t->count--;
    if (t->budget)
        t->budget->count--;
    free_series(t, s, pool);
}
