/* engine/route.c - event -> filters, series keys and owners (see route.h). */
#include <string.h>

#include "alloc.h"
#include "route.h"
#include "series.h"

#define MAX_LABELS_PER_GROUP 8

int tl_router_init(tl_router *r, const tl_program *prog, uint32_t nowners)
{
    memset(r, 0, sizeof *r);
    r->prog = prog;
    r->nowners = nowners ? nowners : 1;
    r->keycap = (size_t)(prog->ngroups ? prog->ngroups : 1) * MAX_LABELS_PER_GROUP * (TL_ALERT_LABEL_MAX + 1);
    r->keybuf = tl_malloc(r->keycap);
    r->keys = tl_calloc(prog->ngroups ? prog->ngroups : 1, sizeof *r->keys);
    if (!r->keybuf || !r->keys || tl_filter_ctx_init(&r->fc, prog) < 0) {
        tl_router_fini(r);
        return -1;
    }
    for (uint32_t i = 0; i < prog->nplans; i++)
        if (prog->plans[i].kind == TL_PLAN_MOMENTS || prog->plans[i].kind == TL_PLAN_SKETCH)
            r->num_used |= 1u << prog->plans[i].field;
    return 0;
}

void tl_router_fini(tl_router *r)
{
    tl_filter_ctx_fini(&r->fc);
    tl_free(r->keybuf);
    tl_free(r->keys);
    memset(r, 0, sizeof *r);
}

/* Copy a label value into a key, the separator byte replaced by '_'. Labels are a dozen bytes:
 * eight at a time, a word with no separator in it (the usual case) copied as is, rather than
 * a memcpy (GCC emits `rep movs` here, slow to start for so few bytes) and a second pass. */
static inline int copy_word(char *dst, const char *src)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t w, x;
    memcpy(&w, src, 8);
    x = w ^ (ones * 0x1f);
    if ((x - ones) & ~x & highs) /* some byte is the separator */
        return -1;
    memcpy(dst, &w, 8);
    return 0;
}

static void copy_label(char *dst, const char *src, uint32_t n)
{
    uint32_t b = 0;
    if (n >= 8) {
        for (; b + 8 <= n; b += 8)
            if (copy_word(dst + b, src + b) < 0)
                goto bytes;
        /* the tail as the last eight bytes, overlapping what is already copied */
        if (b == n || copy_word(dst + n - 8, src + n - 8) == 0)
            return;
    }
bytes:
    for (; b < n; b++)
        dst[b] = src[b] == '\x1f' ? '_' : src[b];
}

uint32_t tl_router_route(tl_router *r, const tl_event *ev, tl_fold *out)
{
    const tl_program *p = r->prog;
    tl_filter_eval(&r->fc, ev);
    out->ts = ev->ts_ms;
    out->fbits = r->fc.bits;
    out->trace_id = (ev->str_present & (1u << TL_S_TRACE_ID)) ? ev->str[TL_S_TRACE_ID] : (tl_str){"", 0};
    out->num_mask = 0;
    for (uint32_t m = r->num_used; m; m &= m - 1) {
        int f = __builtin_ctz(m);
        if (tl_event_num(ev, f, &out->num[f]))
            out->num_mask |= 1u << f;
    }
    out->dmask = 0;
    for (uint32_t d = 0; d < p->ndfields; d++) {
        tl_str v = tl_fieldref_get(&p->dfields[d], ev);
        if (v.n) {
            out->dhash[d] = tl_series_hash(v.p, v.n);
            out->dmask |= 1u << d;
        }
    }
    out->keys = r->keys;
    out->nkeys = 0;
    size_t used = 0;
    for (uint32_t g = 0; g < p->ngroups; g++) {
        const tl_group *grp = &p->groups[g];
        int match = 0;
        for (uint32_t i = 0; i < grp->nplans && !match; i++)
            match = tl_filter_bit(r->fc.bits, p->plans[grp->plans[i]].filter);
        if (!match)
            continue;
        char *k = r->keybuf + used;
        size_t len = 0;
        for (uint32_t i = 0; i < grp->nlabels; i++) {
            if (i)
                k[len++] = '\x1f';
            tl_str v = tl_fieldref_get(&grp->labels[i], ev);
            uint32_t n = v.n < TL_ALERT_LABEL_MAX ? v.n : TL_ALERT_LABEL_MAX;
            /* do not cut a UTF-8 sequence in half */
            while (n < v.n && n > 0 && ((unsigned char)v.p[n] & 0xC0) == 0x80)
                n--;
            copy_label(k + len, v.p, n); /* an absent label is ("", 0) or (NULL, 0) */
            len += n;
        }
        tl_fold_key *fk = &r->keys[out->nkeys++];
        fk->group = g;
        fk->key = k;
        fk->len = (uint32_t)len;
        fk->hash = tl_series_hash(k, len);
        fk->owner = tl_series_owner(fk->hash, r->nowners);
        used += len;
    }
    return out->nkeys;
}
