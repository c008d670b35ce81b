/* engine/xfer.c - encoding of worker-to-owner records (see xfer.h). All fields 8-byte
 * aligned; records are written and read on the same machine, so host byte order.
 *
 * A FOLD record carries only the numeric values and distinct-field hashes that are present
 * (in bit order of num_mask and dmask), not the whole arrays: the record is what crosses
 * between cores for every event whose series another worker owns, so its size is memory
 * traffic on the per-event path. */
#include <string.h>

#include "xfer.h"

typedef struct fold_hdr {
    uint32_t type;
    uint32_t nkeys;
    int64_t ts;
    uint32_t num_mask;
    uint32_t trace_len;
    uint32_t dmask;
    uint32_t pad;
    /* then popcount(num_mask) doubles and popcount(dmask) hashes */
} fold_hdr;

typedef struct key_hdr {
    uint32_t group;
    uint32_t len;
    uint64_t hash;
} key_hdr;

typedef struct mark_rec {
    uint32_t type;
    uint32_t pad;
    uint64_t seq;
} mark_rec;

static size_t al8(size_t n) { return (n + 7) & ~(size_t)7; }

size_t tl_xfer_fold_size(const tl_fold *f, uint32_t owner, uint32_t filter_words)
{
    size_t n = sizeof(fold_hdr) + 8 * (size_t)(__builtin_popcount(f->num_mask) + __builtin_popcount(f->dmask)) +
               filter_words * 8 + al8(f->trace_id.n);
    for (uint32_t k = 0; k < f->nkeys; k++)
        if (f->keys[k].owner == owner)
            n += sizeof(key_hdr) + al8(f->keys[k].len);
    return n;
}

void tl_xfer_fold_encode(void *buf, const tl_fold *f, uint32_t owner, uint32_t filter_words)
{
    char *p = buf;
    fold_hdr *h = (fold_hdr *)p;
    h->type = TL_XFER_FOLD;
    h->nkeys = 0;
    h->ts = f->ts;
    h->num_mask = f->num_mask;
    h->trace_len = f->trace_id.n;
    h->dmask = f->dmask;
    h->pad = 0;
    p += sizeof *h;
    for (uint32_t m = f->num_mask; m; m &= m - 1, p += 8)
        memcpy(p, &f->num[__builtin_ctz(m)], 8);
    for (uint32_t m = f->dmask; m; m &= m - 1, p += 8)
        memcpy(p, &f->dhash[__builtin_ctz(m)], 8);
    memcpy(p, f->fbits, filter_words * 8);
    p += filter_words * 8;
    if (f->trace_id.n)
        memcpy(p, f->trace_id.p, f->trace_id.n);
    p += al8(f->trace_id.n);
    for (uint32_t k = 0; k < f->nkeys; k++) {
        const tl_fold_key *fk = &f->keys[k];
        if (fk->owner != owner)
            continue;
        key_hdr *kh = (key_hdr *)p;
        kh->group = fk->group;
        kh->len = fk->len;
        kh->hash = fk->hash;
        p += sizeof *kh;
        if (fk->len)
            memcpy(p, fk->key, fk->len);
        p += al8(fk->len);
        h->nkeys++;
    }
}

void tl_xfer_fold_decode(const void *rec, tl_fold *f, tl_fold_key *keys, uint32_t owner, uint32_t filter_words)
{
    const char *p = rec;
    const fold_hdr *h = (const fold_hdr *)p;
    f->ts = h->ts;
    f->num_mask = h->num_mask;
    f->dmask = h->dmask;
    p += sizeof *h;
    for (uint32_t m = h->num_mask; m; m &= m - 1, p += 8)
        memcpy(&f->num[__builtin_ctz(m)], p, 8);
    for (uint32_t m = h->dmask; m; m &= m - 1, p += 8)
        memcpy(&f->dhash[__builtin_ctz(m)], p, 8);
    f->fbits = (const uint64_t *)p;
    p += filter_words * 8;
    f->trace_id = tl_str_make(p, h->trace_len);
    p += al8(h->trace_len);
    f->nkeys = h->nkeys;
    f->keys = keys;
    for (uint32_t k = 0; k < h->nkeys; k++) {
        const key_hdr *kh = (const key_hdr *)p;
        p += sizeof *kh;
        keys[k].group = kh->group;
        keys[k].len = kh->len;
        keys[k].hash = kh->hash;
        keys[k].owner = owner;
        keys[k].key = p;
        p += al8(kh->len);
    }
}

/* MERGE: header, key, exemplars, then per slot a slot_rec followed by its pairs (counts, then
 * bins, padded to 8 bytes). */
typedef struct merge_hdr {
    uint32_t type;
    uint32_t group;
    uint64_t hash;
    int64_t first_ts, last_ts;
    uint32_t key_len;
    uint32_t plan;
    uint32_t nex;
    uint32_t nslots;
    uint32_t events;
    uint32_t pad;
} merge_hdr;

typedef struct slot_rec {
    int64_t epoch;
    uint32_t n, hits, nv, npairs;
    double sum, min, max;
} slot_rec;

static size_t pairs_size(uint32_t npairs) { return al8((size_t)npairs * 6); }

size_t tl_xfer_merge_size(const tl_xfer_merge *m)
{
    size_t n = sizeof(merge_hdr) + al8(m->key_len) + (size_t)m->nex * sizeof(tl_exemplar);
    for (uint32_t i = 0; i < m->nslots; i++)
        n += sizeof(slot_rec) + pairs_size(m->slot[i].npairs);
    return n;
}

void tl_xfer_merge_encode(void *buf, const tl_xfer_merge *m)
{
    char *p = buf;
    merge_hdr *h = (merge_hdr *)p;
    *h = (merge_hdr){TL_XFER_MERGE, m->group, m->hash, m->first_ts, m->last_ts, m->key_len, m->plan, m->nex, m->nslots, m->events, 0};
    p += sizeof *h;
    if (m->key_len)
        memcpy(p, m->key, m->key_len);
    p += al8(m->key_len);
    if (m->nex)
        memcpy(p, m->ex, m->nex * sizeof(tl_exemplar));
    p += m->nex * sizeof(tl_exemplar);
    for (uint32_t i = 0; i < m->nslots; i++) {
        const tl_delta_slot *d = &m->slot[i];
        slot_rec *r = (slot_rec *)p;
        *r = (slot_rec){d->epoch, d->n, d->hits, d->nv, d->npairs, d->sum, d->min, d->max};
        p += sizeof *r;
        if (d->npairs) {
            memcpy(p, d->counts, (size_t)d->npairs * 4);
            memcpy(p + (size_t)d->npairs * 4, d->bins, (size_t)d->npairs * 2);
        }
        p += pairs_size(d->npairs);
    }
}

void tl_xfer_merge_decode(const void *rec, tl_xfer_merge *m)
{
    const char *p = rec;
    const merge_hdr *h = (const merge_hdr *)p;
    m->group = h->group;
    m->plan = h->plan;
    m->key_len = h->key_len;
    m->nex = h->nex;
    m->nslots = h->nslots;
    m->events = h->events;
    m->hash = h->hash;
    m->first_ts = h->first_ts;
    m->last_ts = h->last_ts;
    p += sizeof *h;
    m->key = p;
    p += al8(h->key_len);
    m->ex = (const tl_exemplar *)p;
    p += h->nex * sizeof(tl_exemplar);
    for (uint32_t i = 0; i < h->nslots; i++) {
        const slot_rec *r = (const slot_rec *)p;
        tl_delta_slot *d = &m->slot[i];
        *d = (tl_delta_slot){.epoch = r->epoch, .n = r->n, .hits = r->hits, .nv = r->nv, .sum = r->sum,
                             .min = r->min, .max = r->max, .npairs = r->npairs};
        p += sizeof *r;
        d->counts = (const uint32_t *)p;
        d->bins = (const uint16_t *)(p + (size_t)r->npairs * 4);
        p += pairs_size(r->npairs);
    }
}

int tl_xfer_apply(const void *rec, tl_shard *s, tl_fold_key *keys, uint32_t owner, uint32_t filter_words)
{
    switch (tl_xfer_type(rec)) {
    case TL_XFER_FOLD: {
        tl_fold f;
        tl_xfer_fold_decode(rec, &f, keys, owner, filter_words);
        tl_shard_fold(s, &f, owner);
        return 0;
    }
    case TL_XFER_MERGE: {
        tl_xfer_merge m;
        tl_xfer_merge_decode(rec, &m);
        tl_shard_merge(s, &m);
        return 0;
    }
    default:
        return -1;
    }
}

size_t tl_xfer_mark_size(void) { return sizeof(mark_rec); }

void tl_xfer_mark_encode(void *buf, uint64_t seq)
{
    mark_rec *m = buf;
    m->type = TL_XFER_MARK;
    m->pad = 0;
    m->seq = seq;
}

uint32_t tl_xfer_type(const void *rec) { return *(const uint32_t *)rec; }
uint64_t tl_xfer_mark_seq(const void *rec) { return ((const mark_rec *)rec)->seq; }
