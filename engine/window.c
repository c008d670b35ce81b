/* engine/window.c - slot rings for the three plan kinds (see window.h). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "alloc.h"
#include "ckio.h"
#include "window.h"

static inline tl_cslot *cslots(tl_planstate *st) { return (tl_cslot *)(st + 1); }
static inline tl_mslot *mslots(tl_planstate *st) { return (tl_mslot *)(st + 1); }
static inline const tl_cslot *ccslots(const tl_planstate *st) { return (const tl_cslot *)(st + 1); }
static inline const tl_mslot *cmslots(const tl_planstate *st) { return (const tl_mslot *)(st + 1); }

/* The slot after slot i, around the ring: reads walk consecutive epochs without dividing. */
static inline uint32_t slot_next(const tl_plan *plan, uint32_t i) { return i + 1 == plan->nslots ? 0 : i + 1; }

uint32_t tl_window_state_size(tl_plan_kind kind, uint32_t nslots)
{
    size_t slot = kind == TL_PLAN_COUNTER ? sizeof(tl_cslot) : sizeof(tl_mslot);
    return (uint32_t)(sizeof(tl_planstate) + slot * nslots);
}

static void init_slots(const tl_plan *plan, tl_planstate *st, uint32_t nslots)
{
    memset(st, 0, tl_window_state_size(plan->kind, nslots));
    for (int i = 0; i < TL_EXEMPLARS; i++)
        st->ex[i].ts = INT64_MIN;
    st->ex_floor = -INFINITY;
    st->ex_oldest = INT64_MIN;
    if (plan->kind == TL_PLAN_COUNTER) {
        tl_cslot *s = cslots(st);
        for (uint32_t i = 0; i < nslots; i++)
            s[i].epoch = INT64_MIN;
    } else {
        tl_mslot *s = mslots(st);
        for (uint32_t i = 0; i < nslots; i++)
            s[i].epoch = INT64_MIN;
    }
}

void tl_window_init(const tl_plan *plan, tl_planstate *st) { init_slots(plan, st, plan->nslots); }

void tl_window_fini(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool)
{
    if (plan->kind != TL_PLAN_SKETCH)
        return;
    tl_mslot *s = mslots(st);
    for (uint32_t i = 0; i < plan->nslots; i++)
        tl_sketch_clear(pool, &s[i].sk);
}

static void exemplar_put(tl_exemplar *e, const tl_contrib *c)
{
    e->ts = c->ts;
    e->v = c->value;
    uint32_t n = c->trace_id.n < TL_EXEMPLAR_ID_MAX ? c->trace_id.n : TL_EXEMPLAR_ID_MAX;
    if (n)
        memcpy(e->id, c->trace_id.p, n);
    e->len = (uint8_t)n;
}

/* The smallest exemplar value and the oldest exemplar time (the one-line test that turns most
 * values away, tl_planstate). */
static void exemplar_bounds(tl_planstate *st)
{
    double floor = INFINITY;
    int64_t oldest = INT64_MAX;
    for (int i = 0; i < TL_EXEMPLARS; i++) {
        if (st->ex[i].ts == INT64_MIN)
            floor = -INFINITY; /* an empty place takes any value */
        else if (st->ex[i].v < floor)
            floor = st->ex[i].v;
        if (st->ex[i].ts < oldest)
            oldest = st->ex[i].ts;
    }
    st->ex_floor = floor;
    st->ex_oldest = oldest;
}

/* Counters: the latest matching events. Field aggregates: the largest values of the current
 * window; an exemplar older than the longest window (relative to this event) is replaced
 * first, and among equal values the newer one wins. */
static void exemplar_offer(const tl_plan *plan, tl_planstate *st, const tl_contrib *c, int64_t e)
{
    if (c->trace_id.n == 0)
        return;
    if (plan->kind == TL_PLAN_COUNTER) {
        if (plan->pred >= 0 && !c->hit)
            return;
        exemplar_put(&st->ex[st->ex_next], c);
        st->ex_next = (st->ex_next + 1) % TL_EXEMPLARS;
        return;
    }
    if (!c->has_value)
        return;
    /* an exemplar is stale when its epoch is older than the window's first, i.e. (floor
     * division) when its timestamp is before that epoch's start: no division per exemplar */
    int64_t oldest_ts = (e - (int64_t)(plan->window_slots ? plan->window_slots : plan->nslots) + 1) * plan->width_ms;
    if (st->ex_oldest >= oldest_ts && c->value < st->ex_floor)
        return; /* none stale, and smaller than all of them: the common case, one cache line */
    int victim = -1;
    for (int i = 0; i < TL_EXEMPLARS; i++) {
        if (st->ex[i].ts < oldest_ts) { /* INT64_MIN (empty) included */
            victim = i;
            break;
        }
        if (victim < 0 || st->ex[i].v < st->ex[victim].v)
            victim = i;
    }
    int stale = st->ex[victim].ts < oldest_ts;
    if (!stale && c->value < st->ex[victim].v)
        return;
    exemplar_put(&st->ex[victim], c);
    exemplar_bounds(st);
}

/* A slot that holds another epoch is taken over for epoch e (its old contents are from a
 * previous turn of the ring), unless it holds a newer one: then e is too old for the ring and
 * 1 is returned. */
static int cslot_claim(tl_cslot *s, int64_t e)
{
    if (s->epoch > e)
        return 1;
    s->epoch = e;
    s->n = s->hits = 0;
    return 0;
}

static int mslot_claim(const tl_plan *plan, tl_mslot *s, tl_sketch_pool *pool, int64_t e)
{
    if (s->epoch > e)
        return 1;
    s->epoch = e;
    s->n = s->nv = 0;
    s->sum = 0;
    s->min = INFINITY;
    s->max = -INFINITY;
    if (plan->kind == TL_PLAN_SKETCH)
        tl_sketch_clear(pool, &s->sk);
    return 0;
}

int tl_window_add(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool, const tl_contrib *c,
                  int64_t low_epoch)
{
    int64_t e = tl_epoch(c->ts, plan->width_ms);
    return tl_window_add_at(plan, st, pool, c, e, tl_window_slot(plan, e), low_epoch);
}

int tl_window_add_at(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool, const tl_contrib *c, int64_t e,
                     uint32_t i, int64_t low_epoch)
{
    if (e < low_epoch)
        return 1;
    int rc = 0;
    if (plan->kind == TL_PLAN_COUNTER) {
        tl_cslot *s = &cslots(st)[i];
        if (s->epoch != e) {
            if (cslot_claim(s, e))
                return 1;
            tl_window_mark(plan, st, i);
        }
        s->n++;
        s->hits += c->hit ? 1u : 0u;
    } else {
        tl_mslot *s = &mslots(st)[i];
        if (s->epoch != e) {
            if (mslot_claim(plan, s, pool, e))
                return 1;
            tl_window_mark(plan, st, i);
        }
        s->n++;
        if (c->has_value) {
            s->nv++;
            s->sum += c->value;
            if (c->value < s->min)
                s->min = c->value;
            if (c->value > s->max)
                s->max = c->value;
            if (plan->kind == TL_PLAN_SKETCH && tl_sketch_add(pool, &s->sk, c->value) < 0)
                rc = 2;
        }
    }
    exemplar_offer(plan, st, c, e);
    return rc;
}

/* The slots a read of the k epochs ending at now_epoch visits, in epoch order. Rings of up to
 * 64 slots visit only the window's slots marked in st->live; longer ones (baselines, hundreds
 * of hourly buckets) visit the window's k slots. A visited slot is used only when its epoch is
 * in the window: k <= nslots consecutive epochs hold each ring place at most once, so that is
 * the same test as "holds epoch e" on a walk of the window. */
typedef struct places {
    uint64_t hi, lo; /* masked: places at or after the first one, then those before it */
    uint32_t i, left; /* unmasked: the next place and how many remain */
    int masked;
} places;

static inline void places_init(places *pl, const tl_plan *plan, const tl_planstate *st, int64_t now_epoch,
                               uint32_t k)
{
    uint32_t n = plan->nslots, i0 = tl_window_slot(plan, now_epoch - (int64_t)k + 1);
    pl->masked = n <= 64;
    pl->i = i0;
    pl->left = k;
    if (!pl->masked)
        return;
    uint64_t all = n == 64 ? ~0ull : (1ull << n) - 1, w = all;
    if (k < n) {
        uint64_t span = (1ull << k) - 1;
        w = (span << i0) & all;
        if (i0 + k > n)
            w |= span >> (n - i0); /* the part that wraps around to place 0 */
    }
    uint64_t m = st->live & w;
    pl->hi = m & (~0ull << i0);
    pl->lo = m & ~(~0ull << i0);
}

static inline int places_next(places *pl, const tl_plan *plan, uint32_t *i)
{
    if (!pl->masked) {
        if (!pl->left)
            return 0;
        *i = pl->i;
        pl->i = slot_next(plan, pl->i);
        pl->left--;
        return 1;
    }
    uint64_t *m = pl->hi ? &pl->hi : &pl->lo;
    if (!*m)
        return 0;
    *i = (uint32_t)__builtin_ctzll(*m);
    *m &= *m - 1;
    return 1;
}

/* Reads visit the k epochs of the window directly (O(k), not O(ring)): a baseline reads one
 * bucket at a time from a ring of hundreds. */
void tl_window_read(const tl_plan *plan, const tl_planstate *st, int64_t now_epoch, uint32_t k, tl_winagg *out)
{
    memset(out, 0, sizeof *out);
    out->min = INFINITY;
    out->max = -INFINITY;
    if (k > plan->nslots)
        k = plan->nslots;
    int64_t e0 = now_epoch - (int64_t)k + 1;
    places pl;
    uint32_t i;
    places_init(&pl, plan, st, now_epoch, k);
    if (plan->kind == TL_PLAN_COUNTER) {
        const tl_cslot *s = ccslots(st);
        while (places_next(&pl, plan, &i)) {
            const tl_cslot *x = &s[i];
            if (x->epoch >= e0 && x->epoch <= now_epoch) {
                out->n += x->n;
                out->hits += x->hits;
            }
        }
        return;
    }
    const tl_mslot *s = cmslots(st);
    while (places_next(&pl, plan, &i)) {
        const tl_mslot *x = &s[i];
        if (x->epoch < e0 || x->epoch > now_epoch)
            continue;
        out->n += x->n;
        out->nv += x->nv;
        out->sum += x->sum;
        if (x->nv) {
            if (x->min < out->min)
                out->min = x->min;
            if (x->max > out->max)
                out->max = x->max;
        }
    }
}

void tl_window_read_sketch(const tl_plan *plan, const tl_planstate *st, int64_t now_epoch, uint32_t k,
                           const tl_sketch_pool *pool, tl_sketch_acc *acc)
{
    if (plan->kind != TL_PLAN_SKETCH)
        return;
    if (k > plan->nslots)
        k = plan->nslots;
    const tl_mslot *s = cmslots(st);
    int64_t e0 = now_epoch - (int64_t)k + 1;
    places pl;
    uint32_t i;
    places_init(&pl, plan, st, now_epoch, k);
    while (places_next(&pl, plan, &i)) {
        const tl_mslot *x = &s[i];
        if (x->epoch >= e0 && x->epoch <= now_epoch && x->sk)
            tl_sketch_acc_merge(acc, pool, x->sk);
    }
}

_Static_assert(offsetof(tl_cslot, n) == offsetof(tl_mslot, n) && offsetof(tl_cslot, epoch) == 0 &&
                   offsetof(tl_mslot, epoch) == 0,
               "both slot kinds start with the epoch and the count");

/* Slot i's epoch and count (both slot kinds start with them). */
static inline void slot_head(const tl_plan *plan, const tl_planstate *st, uint32_t i, int64_t *e, uint32_t *n)
{
    const char *p = (const char *)(st + 1) + i * (plan->kind == TL_PLAN_COUNTER ? sizeof(tl_cslot) : sizeof(tl_mslot));
    memcpy(e, p, sizeof *e);
    memcpy(n, p + offsetof(tl_cslot, n), sizeof *n);
}

int tl_window_live(const tl_plan *plan, const tl_planstate *st, int64_t min_epoch)
{
    int64_t e;
    uint32_t n;
    if (plan->nslots <= 64) {
        for (uint64_t m = st->live; m; m &= m - 1) {
            slot_head(plan, st, (uint32_t)__builtin_ctzll(m), &e, &n);
            if (e >= min_epoch && n)
                return 1;
        }
        return 0;
    }
    for (uint32_t i = 0; i < plan->nslots; i++) {
        slot_head(plan, st, i, &e, &n);
        if (e >= min_epoch && n)
            return 1;
    }
    return 0;
}

void tl_window_expire(const tl_plan *plan, tl_planstate *st, int64_t min_epoch, tl_sketch_pool *pool)
{
    if (plan->nslots <= 64) {
        for (uint64_t m = st->live; m; m &= m - 1) {
            uint32_t i = (uint32_t)__builtin_ctzll(m), n;
            int64_t e;
            slot_head(plan, st, i, &e, &n);
            if (e >= min_epoch)
                continue;
            st->live &= ~(1ull << i);
            if (plan->kind == TL_PLAN_SKETCH)
                tl_sketch_clear(pool, &mslots(st)[i].sk);
        }
        return;
    }
    if (plan->kind != TL_PLAN_SKETCH)
        return;
    tl_mslot *s = mslots(st);
    for (uint32_t i = 0; i < plan->nslots; i++)
        if (s[i].sk && s[i].epoch < min_epoch)
            tl_sketch_clear(pool, &s[i].sk);
}

uint32_t tl_window_exemplars(const tl_plan *plan, const tl_planstate *st, int64_t since_ms, int64_t until_ms,
                             const char **ids, uint32_t max)
{
    /* Those inside [since, until) first; then, if there are fewer than max, those after
     * `until` (events of partitions running ahead of the watermark: later evidence of the
     * same episode). Within each group, best first. */
    int order[TL_EXEMPLARS], n = 0, inside = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < TL_EXEMPLARS; i++) {
            const tl_exemplar *x = &st->ex[i];
            int in = x->ts >= since_ms && x->ts < until_ms, after = x->ts >= until_ms;
            if (x->len && (pass == 0 ? in : after))
                order[n++] = i;
        }
        if (pass == 0)
            inside = n;
    }
    for (int part = 0; part < 2; part++) {
        int lo = part ? inside : 0, hi = part ? n : inside;
        for (int a = lo + 1; a < hi; a++) {
            for (int b = a; b > lo; b--) {
                const tl_exemplar *x = &st->ex[order[b - 1]], *y = &st->ex[order[b]];
                int swap = plan->kind == TL_PLAN_COUNTER ? y->ts > x->ts : y->v > x->v;
                if (!swap)
                    break;
                int t = order[b - 1];
                order[b - 1] = order[b];
                order[b] = t;
            }
        }
    }
    uint32_t out = 0;
    for (int i = 0; i < n && out < max; i++)
        ids[out++] = st->ex[order[i]].id;
    return out;
}

int tl_window_add_distinct(const tl_plan *plan, tl_planstate *st, tl_hll_pool *pool, int64_t ts, int has,
                           uint64_t hash, int64_t low_epoch)
{
    int64_t e = tl_epoch(ts, plan->width_ms);
    if (e < low_epoch)
        return 1;
    uint32_t i = tl_window_slot(plan, e);
    tl_mslot *s = &mslots(st)[i];
    if (s->epoch != e) {
        if (s->epoch > e)
            return 1;
        tl_window_mark(plan, st, i);
        s->epoch = e;
        s->n = s->nv = 0;
        tl_hll_clear(pool, &s->hll);
    }
    s->n++;
    if (!has)
        return 0;
    s->nv++;
    return tl_hll_add(pool, &s->hll, hash) < 0 ? 2 : 0;
}

void tl_window_read_distinct(const tl_plan *plan, const tl_planstate *st, int64_t now_epoch, uint32_t k,
                             const tl_hll_pool *pool, tl_hll_acc *acc)
{
    if (k > plan->nslots)
        k = plan->nslots;
    const tl_mslot *s = cmslots(st);
    int64_t e0 = now_epoch - (int64_t)k + 1;
    places pl;
    uint32_t i;
    places_init(&pl, plan, st, now_epoch, k);
    while (places_next(&pl, plan, &i)) {
        const tl_mslot *x = &s[i];
        if (x->epoch >= e0 && x->epoch <= now_epoch && x->hll)
            tl_hll_acc_merge(acc, pool, x->hll);
    }
}

void tl_window_clear_distinct(const tl_plan *plan, tl_planstate *st, tl_hll_pool *pool, int64_t min_epoch)
{
    tl_mslot *s = mslots(st);
    for (uint32_t i = 0; i < plan->nslots; i++)
        if (s[i].hll && (min_epoch == INT64_MAX || s[i].epoch < min_epoch))
            tl_hll_clear(pool, &s[i].hll);
}

/* ---- deltas (combine.c) -------------------------------------------------------------------- */

uint32_t tl_window_delta_size(tl_plan_kind kind) { return tl_window_state_size(kind, TL_DELTA_SLOTS); }

void tl_window_delta_init(const tl_plan *plan, tl_planstate *st) { init_slots(plan, st, TL_DELTA_SLOTS); }

int tl_window_delta_slot(const tl_plan *plan, const tl_planstate *st, uint32_t i, const tl_sketch_pool *pool,
                         tl_delta_slot *out, uint16_t *bins, uint32_t *counts)
{
    memset(out, 0, sizeof *out);
    if (plan->kind == TL_PLAN_COUNTER) {
        const tl_cslot *x = &ccslots(st)[i];
        if (x->epoch == INT64_MIN)
            return 0;
        out->epoch = x->epoch;
        out->n = x->n;
        out->hits = x->hits;
        return 1;
    }
    const tl_mslot *x = &cmslots(st)[i];
    if (x->epoch == INT64_MIN)
        return 0;
    out->epoch = x->epoch;
    out->n = x->n;
    out->nv = x->nv;
    out->sum = x->sum;
    out->min = x->min;
    out->max = x->max;
    if (plan->kind == TL_PLAN_SKETCH && x->sk) {
        out->npairs = tl_sketch_pairs(pool, x->sk, bins, counts);
        out->bins = bins;
        out->counts = counts;
    }
    return 1;
}

int64_t tl_window_delta_epoch(const tl_plan *plan, const tl_planstate *st, uint32_t i)
{
    return plan->kind == TL_PLAN_COUNTER ? ccslots(st)[i].epoch : cmslots(st)[i].epoch;
}

void tl_window_delta_reset(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool)
{
    if (plan->kind == TL_PLAN_SKETCH)
        for (uint32_t i = 0; i < TL_DELTA_SLOTS; i++)
            tl_sketch_clear(pool, &mslots(st)[i].sk);
    init_slots(plan, st, TL_DELTA_SLOTS);
}

int tl_window_merge(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool, const tl_delta_slot *d,
                    int64_t low_epoch)
{
    int64_t e = d->epoch;
    if (e < low_epoch)
        return 1;
    uint32_t i = tl_window_slot(plan, e);
    if (plan->kind == TL_PLAN_COUNTER) {
        tl_cslot *s = &cslots(st)[i];
        if (s->epoch != e && cslot_claim(s, e))
            return 1;
        tl_window_mark(plan, st, i);
        s->n += d->n;
        s->hits += d->hits;
        return 0;
    }
    tl_mslot *s = &mslots(st)[i];
    if (s->epoch != e && mslot_claim(plan, s, pool, e))
        return 1;
    tl_window_mark(plan, st, i);
    s->n += d->n;
    if (!d->nv)
        return 0;
    s->nv += d->nv;
    s->sum += d->sum;
    if (d->min < s->min)
        s->min = d->min;
    if (d->max > s->max)
        s->max = d->max;
    int rc = 0;
    for (uint32_t k = 0; k < d->npairs; k++)
        if (tl_sketch_add_bin(pool, &s->sk, d->bins[k], d->counts[k]) < 0)
            rc = 2;
    return rc;
}

void tl_window_merge_exemplar(const tl_plan *plan, tl_planstate *st, const tl_exemplar *x)
{
    tl_contrib c = {.ts = x->ts, .hit = 1, .has_value = 1, .value = x->v, .trace_id = tl_str_make(x->id, x->len)};
    exemplar_offer(plan, st, &c, tl_epoch(x->ts, plan->width_ms));
}

/* ---- checkpoints --------------------------------------------------------------------------- */

void tl_window_save(const tl_plan *plan, const tl_planstate *st, const tl_sketch_pool *pool, const tl_hll_pool *hll,
                    tl_ckw *w)
{
    tl_ckw_u32(w, st->ex_next);
    for (int i = 0; i < TL_EXEMPLARS; i++) {
        tl_ckw_i64(w, st->ex[i].ts);
        tl_ckw_f64(w, st->ex[i].v);
        tl_ckw_str(w, st->ex[i].id, st->ex[i].len);
    }
    uint32_t used = 0;
    for (uint32_t i = 0; i < plan->nslots; i++)
        used += (plan->kind == TL_PLAN_COUNTER ? ccslots(st)[i].epoch : cmslots(st)[i].epoch) != INT64_MIN;
    tl_ckw_u32(w, used);
    for (uint32_t i = 0; i < plan->nslots; i++) {
        if (plan->kind == TL_PLAN_COUNTER) {
            const tl_cslot *c = &ccslots(st)[i];
            if (c->epoch == INT64_MIN)
                continue;
            tl_ckw_i64(w, c->epoch);
            tl_ckw_u32(w, c->n);
            tl_ckw_u32(w, c->hits);
            continue;
        }
        const tl_mslot *m = &cmslots(st)[i];
        if (m->epoch == INT64_MIN)
            continue;
        tl_ckw_i64(w, m->epoch);
        tl_ckw_u32(w, m->n);
        tl_ckw_u32(w, m->nv);
        tl_ckw_f64(w, m->sum);
        tl_ckw_f64(w, m->min);
        tl_ckw_f64(w, m->max);
        if (plan->kind == TL_PLAN_SKETCH) {
            uint32_t np = m->sk ? tl_sketch_pairs(pool, m->sk, NULL, NULL) : 0;
            uint16_t *bins = np ? tl_malloc(np * sizeof *bins) : NULL;
            uint32_t *counts = np ? tl_malloc(np * sizeof *counts) : NULL;
            if (np && (!bins || !counts)) {
                tl_free(bins);
                tl_free(counts);
                w->err = w->err ? w->err : ENOMEM;
                return;
            }
            if (np)
                tl_sketch_pairs(pool, m->sk, bins, counts);
            tl_ckw_u32(w, np);
            for (uint32_t k = 0; k < np; k++) {
                tl_ckw_u16(w, bins[k]);
                tl_ckw_u32(w, counts[k]);
            }
            tl_free(bins);
            tl_free(counts);
        } else if (plan->kind == TL_PLAN_DISTINCT) {
            uint64_t hashes[TL_HLL_SPARSE_MAX];
            uint8_t regs[1u << TL_HLL_P];
            int dense = 0;
            uint32_t nh = m->hll ? tl_hll_export(hll, m->hll, hashes, regs, &dense) : 0;
            tl_ckw_u8(w, (uint8_t)dense);
            if (dense) {
                tl_ckw_bytes(w, regs, sizeof regs);
            } else {
                tl_ckw_u32(w, nh);
                for (uint32_t k = 0; k < nh; k++)
                    tl_ckw_u64(w, hashes[k]);
            }
        }
    }
}

/* The ring place of epoch e, or NULL when a newer epoch already holds it (a shorter ring). */
static void *load_place(const tl_plan *plan, tl_planstate *st, int64_t e)
{
    uint32_t i = tl_window_slot(plan, e);
    if (plan->kind == TL_PLAN_COUNTER) {
        tl_cslot *c = &cslots(st)[i];
        if (c->epoch != INT64_MIN && c->epoch > e)
            return NULL;
        tl_window_mark(plan, st, i);
        return c;
    }
    tl_mslot *m = &mslots(st)[i];
    if (m->epoch != INT64_MIN && m->epoch > e)
        return NULL;
    tl_window_mark(plan, st, i);
    return m;
}

int tl_window_load(const tl_plan *plan, tl_planstate *st, tl_sketch_pool *pool, tl_hll_pool *hll, tl_ckr *r)
{
    int full = 0;
    st->ex_next = tl_ckr_u32(r) % TL_EXEMPLARS;
    for (int i = 0; i < TL_EXEMPLARS; i++) {
        st->ex[i].ts = tl_ckr_i64(r);
        st->ex[i].v = tl_ckr_f64(r);
        uint32_t n;
        const char *id = tl_ckr_str(r, &n, TL_EXEMPLAR_ID_MAX);
        memcpy(st->ex[i].id, id, n);
        st->ex[i].len = (uint8_t)n;
    }
    exemplar_bounds(st);
    uint32_t used = tl_ckr_u32(r);
    for (uint32_t k = 0; k < used && !r->bad; k++) {
        int64_t e = tl_ckr_i64(r);
        if (e == INT64_MIN)
            return tl_ckr_fail(r, "slot without an epoch");
        void *place = load_place(plan, st, e);
        if (plan->kind == TL_PLAN_COUNTER) {
            uint32_t n = tl_ckr_u32(r), hits = tl_ckr_u32(r);
            if (place)
                *(tl_cslot *)place = (tl_cslot){.epoch = e, .n = n, .hits = hits};
            continue;
        }
        tl_mslot *m = place, tmp;
        if (!m) {
            memset(&tmp, 0, sizeof tmp);
            m = &tmp; /* read it, then drop it */
        }
        tl_sketch_clear(pool, &m->sk);
        if (m->hll)
            tl_hll_clear(hll, &m->hll);
        m->epoch = e;
        m->n = tl_ckr_u32(r);
        m->nv = tl_ckr_u32(r);
        m->sum = tl_ckr_f64(r);
        m->min = tl_ckr_f64(r);
        m->max = tl_ckr_f64(r);
        if (plan->kind == TL_PLAN_SKETCH) {
            uint32_t np = tl_ckr_u32(r);
            if (np > 64 * tl_sketch_nbins())
                return tl_ckr_fail(r, "more sketch bins than a sketch has");
            for (uint32_t q = 0; q < np && !r->bad; q++) {
                uint16_t bin = tl_ckr_u16(r);
                uint32_t cnt = tl_ckr_u32(r);
                if (bin >= tl_sketch_nbins())
                    return tl_ckr_fail(r, "sketch bin out of range");
                if (place && !r->bad && tl_sketch_add_bin(pool, &m->sk, bin, cnt) < 0)
                    full = 1;
            }
        } else if (plan->kind == TL_PLAN_DISTINCT) {
            int dense = tl_ckr_u8(r);
            uint64_t hashes[TL_HLL_SPARSE_MAX];
            const uint8_t *regs = NULL;
            uint32_t nh = 0;
            if (dense) {
                regs = tl_ckr_bytes(r, 1u << TL_HLL_P);
            } else {
                nh = tl_ckr_u32(r);
                if (nh > TL_HLL_SPARSE_MAX)
                    return tl_ckr_fail(r, "more distinct hashes than a sparse sketch holds");
                for (uint32_t q = 0; q < nh; q++)
                    hashes[q] = tl_ckr_u64(r);
            }
            if (place && !r->bad && (dense ? regs != NULL : nh > 0) && tl_hll_import(hll, &m->hll, hashes, nh, regs, dense) < 0)
                full = 1;
        }
        if (!place) {
            tl_sketch_clear(pool, &tmp.sk);
            if (tmp.hll)
                tl_hll_clear(hll, &tmp.hll);
        }
    }
    return r->bad ? -1 : full;
}
