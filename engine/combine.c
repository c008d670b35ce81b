/* engine/combine.c - per-batch pre-aggregation for remote owners (see combine.h).
 *
 * An entry is one series (group, key) with, for each plan of its group, a delta plan state
 * of TL_DELTA_SLOTS slots (window.h), then the key. A delta slot is not tied to an epoch by
 * position: the slot holding the event's epoch is used, else an empty one, and when all are
 * taken by other epochs the (series, plan) delta is sent at once and starts over. So partitions
 * whose event times are minutes apart, read by one worker in one batch, each keep their slot
 * instead of flushing each other out.
 */
#include <string.h>

#include "alloc.h"
#include "combine.h"
#include "filter.h"
#include "window.h"
#include "xfer.h"

#define DEFAULT_ARENA (4u << 20)

typedef struct centry {
    uint64_t hash;
    struct centry *dirty_next;
    int64_t first_ts, last_ts;
    uint32_t group, key_len;
    uint32_t events; /* events folded since the last MERGE of this series */
    uint32_t dirty;
    /* then the group's delta plan states (at doff[plan]), then the key */
} centry;

struct tl_combiner {
    const tl_program *prog;
    uint8_t *group_ok;  /* per group: no DISTINCT plan */
    uint32_t *doff;     /* per plan: offset of its delta state in an entry of its group */
    uint32_t *rec_size; /* per group: entry bytes before the key */
    char *arena;
    size_t arena_cap, arena_used;
    centry **tab;       /* open addressing on the key hash */
    size_t cap, count;
    centry *dirty_head;
    tl_sketch_pool *pool;
    tl_slotpos *pos;    /* per plan: the epoch of the last timestamp (window.h) */
    uint16_t *bins;     /* scratch for a slot's sketch pairs at a flush */
    uint32_t *counts;
    uint32_t pcap;
};

static size_t al8(size_t n) { return (n + 7) & ~(size_t)7; }

static tl_planstate *delta_at(const tl_combiner *c, centry *e, uint32_t pid)
{
    return (tl_planstate *)((char *)e + c->doff[pid]);
}

static char *entry_key(const tl_combiner *c, centry *e) { return (char *)e + c->rec_size[e->group]; }

tl_combiner *tl_combiner_new(const tl_program *prog, size_t max_bytes)
{
    tl_combiner *c = tl_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->prog = prog;
    c->arena_cap = max_bytes ? max_bytes : DEFAULT_ARENA;
    c->group_ok = tl_calloc(prog->ngroups ? prog->ngroups : 1, 1);
    c->doff = tl_calloc(prog->nplans ? prog->nplans : 1, sizeof *c->doff);
    c->rec_size = tl_calloc(prog->ngroups ? prog->ngroups : 1, sizeof *c->rec_size);
    c->arena = tl_malloc(c->arena_cap);
    c->cap = 1024;
    while (c->cap * 2 * 1024 < c->arena_cap) /* about one entry per KiB, half full at most */
        c->cap *= 2;
    c->tab = tl_calloc(c->cap, sizeof *c->tab);
    c->pool = tl_sketch_pool_new(0);
    c->pos = tl_calloc(prog->nplans ? prog->nplans : 1, sizeof *c->pos);
    if (!c->group_ok || !c->doff || !c->rec_size || !c->arena || !c->tab || !c->pool || !c->pos) {
        tl_combiner_destroy(c);
        return NULL;
    }
    for (uint32_t g = 0; g < prog->ngroups; g++) {
        const tl_group *grp = &prog->groups[g];
        size_t off = al8(sizeof(centry));
        c->group_ok[g] = 1;
        for (uint32_t i = 0; i < grp->nplans; i++) {
            const tl_plan *pl = &prog->plans[grp->plans[i]];
            if (pl->kind == TL_PLAN_DISTINCT)
                c->group_ok[g] = 0;
            c->doff[grp->plans[i]] = (uint32_t)off;
            off += al8(tl_window_delta_size(pl->kind));
        }
        c->rec_size[g] = (uint32_t)off;
    }
    return c;
}

void tl_combiner_destroy(tl_combiner *c)
{
    if (!c)
        return;
    tl_sketch_pool_destroy(c->pool);
    tl_free(c->group_ok);
    tl_free(c->doff);
    tl_free(c->rec_size);
    tl_free(c->arena);
    tl_free(c->tab);
    tl_free(c->pos);
    tl_free(c->bins);
    tl_free(c->counts);
    tl_free(c);
}

int tl_combiner_pending(const tl_combiner *c) { return c->dirty_head != NULL; }

static centry *find_or_add(tl_combiner *c, const tl_fold_key *fk)
{
    size_t mask = c->cap - 1, i = fk->hash & mask;
    for (centry *e; (e = c->tab[i]) != NULL; i = (i + 1) & mask)
        if (e->hash == fk->hash && e->group == fk->group && e->key_len == fk->len &&
            tl_bytes_eq(entry_key(c, e), fk->key, fk->len))
            return e;
    size_t need = al8(c->rec_size[fk->group] + fk->len);
    if (c->count >= c->cap / 2 || c->arena_used + need > c->arena_cap)
        return NULL;
    centry *e = (centry *)(c->arena + c->arena_used);
    c->arena_used += need;
    memset(e, 0, sizeof *e);
    e->hash = fk->hash;
    e->group = fk->group;
    e->key_len = fk->len;
    e->first_ts = INT64_MAX;
    e->last_ts = INT64_MIN;
    const tl_group *grp = &c->prog->groups[fk->group];
    for (uint32_t k = 0; k < grp->nplans; k++)
        tl_window_delta_init(&c->prog->plans[grp->plans[k]], delta_at(c, e, grp->plans[k]));
    if (fk->len)
        memcpy(entry_key(c, e), fk->key, fk->len);
    c->tab[i] = e;
    c->count++;
    return e;
}

/* Send one (series, plan) delta if it holds anything, and reset it. */
static void send_plan(tl_combiner *c, centry *e, uint32_t pid, tl_reserve_fn reserve, void *ctx)
{
    const tl_plan *pl = &c->prog->plans[pid];
    tl_planstate *st = delta_at(c, e, pid);
    tl_xfer_merge m = {.group = e->group, .plan = pid, .key_len = e->key_len, .hash = e->hash,
                       .first_ts = e->first_ts, .last_ts = e->last_ts, .key = entry_key(c, e)};
    /* sketch pairs of all slots share the scratch: size it first */
    uint32_t need = 0;
    if (pl->kind == TL_PLAN_SKETCH)
        for (uint32_t i = 0; i < TL_DELTA_SLOTS; i++) {
            tl_delta_slot d;
            if (tl_window_delta_slot(pl, st, i, c->pool, &d, NULL, NULL))
                need += d.npairs;
        }
    if (need > c->pcap) {
        uint16_t *b = tl_realloc(c->bins, need * sizeof *b);
        if (b)
            c->bins = b;
        uint32_t *n = tl_realloc(c->counts, need * sizeof *n);
        if (n)
            c->counts = n;
        if (b && n)
            c->pcap = need;
    }
    uint32_t used = 0;
    for (uint32_t i = 0; i < TL_DELTA_SLOTS; i++) {
        tl_delta_slot *d = &m.slot[m.nslots];
        if (!tl_window_delta_slot(pl, st, i, c->pool, d, NULL, NULL))
            continue;
        if (d->npairs) {
            if (used + d->npairs > c->pcap) { /* out of memory: the counts go, the sketch values not */
                d->npairs = 0;
            } else {
                tl_window_delta_slot(pl, st, i, c->pool, d, c->bins + used, c->counts + used);
                used += d->npairs;
            }
        }
        m.nslots++;
    }
    if (!m.nslots)
        return;
    /* exemplars oldest first, so the owner's "latest" ring ends with the newest */
    tl_exemplar ex[TL_EXEMPLARS];
    for (uint32_t k = 0; k < TL_EXEMPLARS; k++) {
        const tl_exemplar *x = &st->ex[(st->ex_next + k) % TL_EXEMPLARS];
        if (x->ts != INT64_MIN && x->len)
            ex[m.nex++] = *x;
    }
    if (pl->kind != TL_PLAN_COUNTER) /* by value: order is irrelevant, but time order is stable */
        for (uint32_t a = 1; a < m.nex; a++)
            for (uint32_t b = a; b > 0 && ex[b].ts < ex[b - 1].ts; b--) {
                tl_exemplar t = ex[b];
                ex[b] = ex[b - 1];
                ex[b - 1] = t;
            }
    m.ex = ex;
    m.events = e->events;
    e->events = 0;
    tl_xfer_merge_encode(reserve(ctx, tl_xfer_merge_size(&m)), &m);
    tl_window_delta_reset(pl, st, c->pool);
}

/* The delta slot for epoch ep: the one holding it, else an empty one, else (all four hold
 * other epochs) the delta is sent and slot 0 starts over. */
static uint32_t slot_for(tl_combiner *c, centry *e, uint32_t pid, int64_t ep, tl_reserve_fn reserve, void *ctx)
{
    const tl_plan *pl = &c->prog->plans[pid];
    tl_planstate *st = delta_at(c, e, pid);
    uint32_t empty = TL_DELTA_SLOTS;
    for (uint32_t i = 0; i < TL_DELTA_SLOTS; i++) {
        int64_t se = tl_window_delta_epoch(pl, st, i);
        if (se == ep)
            return i;
        if (se == INT64_MIN && empty == TL_DELTA_SLOTS)
            empty = i;
    }
    if (empty < TL_DELTA_SLOTS)
        return empty;
    send_plan(c, e, pid, reserve, ctx);
    return 0;
}

int tl_combiner_add(tl_combiner *c, const tl_fold *f, const tl_fold_key *fk, tl_reserve_fn reserve, void *ctx)
{
    if (!c->group_ok[fk->group])
        return -1;
    centry *e = find_or_add(c, fk);
    if (!e)
        return -1;
    const tl_program *p = c->prog;
    const tl_group *g = &p->groups[fk->group];
    for (uint32_t i = 0; i < g->nplans; i++) {
        uint32_t pid = g->plans[i];
        const tl_plan *pl = &p->plans[pid];
        if (!tl_filter_bit(f->fbits, pl->filter))
            continue;
        tl_contrib cb = tl_fold_contrib(f, pl);
        tl_slotpos_at(&c->pos[pid], pl, f->ts);
        int64_t ep = c->pos[pid].e;
        uint32_t slot = slot_for(c, e, pid, ep, reserve, ctx);
        tl_window_add_at(pl, delta_at(c, e, pid), c->pool, &cb, ep, slot, INT64_MIN);
    }
    e->events++;
    if (f->ts < e->first_ts)
        e->first_ts = f->ts;
    if (f->ts > e->last_ts)
        e->last_ts = f->ts;
    if (!e->dirty) {
        e->dirty = 1;
        e->dirty_next = c->dirty_head;
        c->dirty_head = e;
    }
    return 0;
}

void tl_combiner_flush(tl_combiner *c, tl_reserve_fn reserve, void *ctx)
{
    for (centry *e = c->dirty_head, *next; e; e = next) {
        next = e->dirty_next;
        const tl_group *g = &c->prog->groups[e->group];
        for (uint32_t i = 0; i < g->nplans; i++)
            send_plan(c, e, g->plans[i], reserve, ctx);
        e->dirty = 0;
        e->dirty_next = NULL;
        e->events = 0;
        e->first_ts = INT64_MAX;
        e->last_ts = INT64_MIN;
    }
    c->dirty_head = NULL;
    /* every delta is empty now: past three quarters, start over, so keys that stopped coming
     * do not keep the arena from the ones that come now */
    if (c->arena_used > c->arena_cap / 4 * 3 || c->count > c->cap / 8 * 3) {
        memset(c->tab, 0, c->cap * sizeof *c->tab);
        c->count = 0;
        c->arena_used = 0;
    }
}
