/* engine/filter.c - per-event filter evaluation with memoised atoms (see filter.h). */
#include <string.h>

#include "alloc.h"
#include "filter.h"

/* The kind a filter requires: a `kind == "x"` conjunct at the top of its AND chain (then the
 * filter is false for every other kind). NULL if it requires none. */
static const tl_str *required_kind(const tl_program *p, const tl_fnode *n)
{
    if (n->op == TL_F_AND) {
        const tl_str *k = required_kind(p, n->a);
        return k ? k : required_kind(p, n->b);
    }
    if (n->op != TL_F_ATOM)
        return NULL;
    const tl_atom *a = &p->atoms[n->atom];
    if (a->op == TL_A_STR_EQ && !a->ref.is_attr && a->ref.field == TL_S_KIND)
        return &a->s;
    return NULL;
}

/* Build the per-kind lists of filters to walk. A kind beyond TL_FILTER_KINDS is treated as
 * no requirement (its filters are walked for every event), which is only slower. */
static int build_kind_lists(tl_filter_ctx *fc, const tl_program *p)
{
    const tl_str **req = tl_calloc(p->nfilters ? p->nfilters : 1, sizeof *req);
    fc->lists = tl_calloc((size_t)(TL_FILTER_KINDS + 1) * (p->nfilters ? p->nfilters : 1), sizeof *fc->lists);
    if (!req || !fc->lists) {
        tl_free(req);
        return -1;
    }
    for (uint32_t f = 0; f < p->nfilters; f++) {
        const tl_str *k = required_kind(p, p->filters[f].root);
        uint32_t i = 0;
        while (k && i < fc->nkinds && !tl_str_eq(fc->kinds[i], *k))
            i++;
        if (k && i == fc->nkinds) {
            if (fc->nkinds == TL_FILTER_KINDS)
                k = NULL;
            else
                fc->kinds[fc->nkinds++] = *k;
        }
        req[f] = k;
    }
    uint32_t n = 0;
    for (uint32_t k = 0; k <= fc->nkinds; k++) { /* list nkinds: an event of any other kind */
        fc->list_at[k] = n;
        for (int pred = 0; pred < 2; pred++) { /* numerator-only filters last */
            if (pred)
                fc->pred_at[k] = n;
            for (uint32_t f = 0; f < p->nfilters; f++)
                if (fc->pred_only[f] == pred && (!req[f] || (k < fc->nkinds && tl_str_eq(*req[f], fc->kinds[k]))))
                    fc->lists[n++] = f;
        }
    }
    fc->list_at[fc->nkinds + 1] = n;
    tl_free(req);
    return 0;
}

/* Which filters are numerator-only, and the filters that gate each (see filter.h). */
static int build_gates(tl_filter_ctx *fc, const tl_program *p)
{
    uint32_t nf = p->nfilters ? p->nfilters : 1, fw = p->filter_words ? p->filter_words : 1;
    fc->pred_only = tl_calloc(nf, 1);
    fc->gate_mask = tl_calloc((size_t)nf * fw, sizeof *fc->gate_mask);
    uint8_t *always = tl_calloc(nf, 1);
    if (!fc->pred_only || !fc->gate_mask || !always) {
        tl_free(always);
        return -1;
    }
    for (uint32_t i = 0; i < p->nplans; i++) {
        always[p->plans[i].filter] = 1;
        if (p->plans[i].pred >= 0)
            fc->pred_only[p->plans[i].pred] = 1;
    }
    for (uint32_t i = 0; i < p->nseqs; i++)
        for (uint32_t k = 0; k < p->seqs[i].nsteps; k++)
            always[p->seqs[i].steps[k]] = 1;
    for (uint32_t i = 0; i < p->ncombos; i++)
        if (p->combos[i].filter >= 0)
            always[p->combos[i].filter] = 1;
    for (uint32_t f = 0; f < p->nfilters; f++)
        fc->pred_only[f] = fc->pred_only[f] && !always[f];
    tl_free(always);
    for (uint32_t i = 0; i < p->nplans; i++) {
        const tl_plan *pl = &p->plans[i];
        if (pl->pred >= 0 && fc->pred_only[pl->pred])
            fc->gate_mask[(size_t)pl->pred * fw + (pl->filter >> 6)] |= 1ull << (pl->filter & 63);
    }
    return 0;
}

static uint32_t count_atoms(const tl_fnode *n)
{
    switch (n->op) {
    case TL_F_ATOM: return 1;
    case TL_F_NOT: return count_atoms(n->a);
    case TL_F_AND:
    case TL_F_OR: return count_atoms(n->a) + count_atoms(n->b);
    default: return 0;
    }
}

/* Emit the tests of n that lead to t when n is true and f when it is false; returns where
 * to start. The right operand is emitted first, so the left one can name its entry. */
static int32_t compile(tl_filter_ctx *fc, uint32_t *nops, const tl_fnode *n, int32_t t, int32_t f)
{
    switch (n->op) {
    case TL_F_TRUE: return t;
    case TL_F_FALSE: return f;
    case TL_F_NOT: return compile(fc, nops, n->a, f, t);
    case TL_F_AND: return compile(fc, nops, n->a, compile(fc, nops, n->b, t, f), f);
    case TL_F_OR: return compile(fc, nops, n->a, t, compile(fc, nops, n->b, t, f));
    case TL_F_ATOM: break;
    }
    fc->ops[*nops] = (tl_fp_op){n->atom, t, f};
    return (int32_t)(*nops)++;
}

static int build_programs(tl_filter_ctx *fc, const tl_program *p)
{
    uint32_t total = 0, nops = 0;
    for (uint32_t f = 0; f < p->nfilters; f++)
        total += count_atoms(p->filters[f].root);
    uint32_t aw = fc->atom_words ? fc->atom_words : 1;
    fc->ops = tl_calloc(total ? total : 1, sizeof *fc->ops);
    fc->entry = tl_calloc(p->nfilters ? p->nfilters : 1, sizeof *fc->entry);
    fc->kind_done = tl_calloc((size_t)(fc->nkinds + 1) * aw, sizeof(uint64_t));
    fc->kind_val = tl_calloc((size_t)(fc->nkinds + 1) * aw, sizeof(uint64_t));
    if (!fc->ops || !fc->entry || !fc->kind_done || !fc->kind_val)
        return -1;
    for (uint32_t f = 0; f < p->nfilters; f++)
        fc->entry[f] = compile(fc, &nops, p->filters[f].root, TL_FP_TRUE, TL_FP_FALSE);
    /* kind atoms whose value is known from the kind list alone: for list k < nkinds the
     * event's kind is kinds[k]; for list nkinds it is none of them */
    for (uint32_t a = 0; a < p->natoms; a++) {
        const tl_atom *at = &p->atoms[a];
        if (at->op != TL_A_STR_EQ || at->ref.is_attr || at->ref.field != TL_S_KIND)
            continue;
        uint32_t i = 0;
        while (i < fc->nkinds && !tl_str_eq(fc->kinds[i], at->s))
            i++;
        if (i == fc->nkinds)
            continue; /* not a dispatched kind: evaluated when needed */
        for (uint32_t k = 0; k <= fc->nkinds; k++) {
            fc->kind_done[(size_t)k * aw + (a >> 6)] |= 1ull << (a & 63);
            if (k == i)
                fc->kind_val[(size_t)k * aw + (a >> 6)] |= 1ull << (a & 63);
        }
    }
    return 0;
}

int tl_filter_ctx_init(tl_filter_ctx *fc, const tl_program *prog)
{
    memset(fc, 0, sizeof *fc);
    fc->prog = prog;
    fc->atom_words = (prog->natoms + 63) / 64;
    uint32_t aw = fc->atom_words ? fc->atom_words : 1, fw = prog->filter_words ? prog->filter_words : 1;
    fc->atom_done = tl_calloc(aw, sizeof(uint64_t));
    fc->atom_val = tl_calloc(aw, sizeof(uint64_t));
    fc->bits = tl_calloc(fw, sizeof(uint64_t));
    if (!fc->atom_done || !fc->atom_val || !fc->bits || tl_regex_scratch_init(&fc->rx) < 0 ||
        build_gates(fc, prog) < 0 || build_kind_lists(fc, prog) < 0 || build_programs(fc, prog) < 0) {
        tl_filter_ctx_fini(fc);
        return -1;
    }
    return 0;
}

void tl_filter_ctx_fini(tl_filter_ctx *fc)
{
    tl_free(fc->atom_done);
    tl_free(fc->atom_val);
    tl_free(fc->bits);
    tl_free(fc->lists);
    tl_free(fc->pred_only);
    tl_free(fc->gate_mask);
    tl_free(fc->ops);
    tl_free(fc->entry);
    tl_free(fc->kind_done);
    tl_free(fc->kind_val);
    tl_regex_scratch_fini(&fc->rx);
    memset(fc, 0, sizeof *fc);
}

tl_str tl_fieldref_get(const tl_fieldref *ref, const tl_event *ev)
{
    if (ref->is_attr) {
        int found;
        return tl_event_attr(ev, ref->attr, &found);
    }
    if (ev->str_present & (1u << ref->field))
        return ev->str[ref->field];
    return (tl_str){"", 0};
}

int tl_event_num(const tl_event *ev, int field, double *out)
{
    if (field > TL_N_TOKENS) {
        int t = field - TL_N_TRACE(0);
        if (!(ev->tnum_present & (1u << t)))
            return 0;
        *out = ev->tnum[t];
        return 1;
    }
    if (field == TL_N_TOKENS) {
        uint32_t m = ev->num_present & ((1u << TL_N_INPUT_TOKENS) | (1u << TL_N_OUTPUT_TOKENS));
        if (!m)
            return 0;
        double v = 0;
        if (m & (1u << TL_N_INPUT_TOKENS))
            v += ev->num[TL_N_INPUT_TOKENS];
        if (m & (1u << TL_N_OUTPUT_TOKENS))
            v += ev->num[TL_N_OUTPUT_TOKENS];
        *out = v;
        return 1;
    }
    if (!(ev->num_present & (1u << field)))
        return 0;
    *out = ev->num[field];
    return 1;
}

static int has_sub(tl_str h, tl_str n)
{
    if (n.n == 0)
        return 1;
    if (n.n > h.n)
        return 0;
    return memmem(h.p, h.n, n.p, n.n) != NULL;
}

static int atom_eval(tl_filter_ctx *fc, const tl_atom *a, const tl_event *ev)
{
    switch (a->op) {
    case TL_A_STR_MATCH: {
        tl_str v = tl_fieldref_get(&a->ref, ev);
        return tl_regex_match(a->re, v.p ? v.p : "", v.n, &fc->rx);
    }
    case TL_A_STR_EQ:
        return tl_str_eq(tl_fieldref_get(&a->ref, ev), a->s);
    case TL_A_STR_IN: {
        tl_str v = tl_fieldref_get(&a->ref, ev);
        for (uint32_t i = 0; i < a->nset; i++)
            if (tl_str_eq(v, a->set[i]))
                return 1;
        return 0;
    }
    case TL_A_STR_CONTAINS:
        return has_sub(tl_fieldref_get(&a->ref, ev), a->s);
    case TL_A_STR_PREFIX: {
        tl_str v = tl_fieldref_get(&a->ref, ev);
        return v.n >= a->s.n && memcmp(v.p, a->s.p, a->s.n) == 0;
    }
    case TL_A_STR_SUFFIX: {
        tl_str v = tl_fieldref_get(&a->ref, ev);
        return v.n >= a->s.n && memcmp(v.p + v.n - a->s.n, a->s.p, a->s.n) == 0;
    }
    case TL_A_NUM_CMP: {
        double v;
        if (!tl_event_num(ev, a->num_field, &v))
            return 0;
        switch (a->cmp) {
        case TL_OP_EQ: return v == a->num;
        case TL_OP_NE: return v != a->num;
        case TL_OP_LT: return v < a->num;
        case TL_OP_LE: return v <= a->num;
        case TL_OP_GT: return v > a->num;
        case TL_OP_GE: return v >= a->num;
        }
        return 0;
    }
    case TL_A_FLAG:
        for (uint32_t i = 0; i < ev->n_flags; i++)
            if (tl_str_eq(ev->flags[i], a->s))
                return 1;
        return 0;
    case TL_A_HAS: {
        if (a->num_field >= 0) {
            double v;
            return tl_event_num(ev, a->num_field, &v);
        }
        if (a->ref.is_attr) {
            int found;
            tl_event_attr(ev, a->ref.attr, &found);
            return found;
        }
        return (ev->str_present >> a->ref.field) & 1;
    }
    }
    return 0;
}

/* Run filter f's branch program. */
static int run(tl_filter_ctx *fc, uint32_t f, const tl_event *ev)
{
    int32_t pc = fc->entry[f];
    while (pc >= 0) {
        const tl_fp_op *op = &fc->ops[pc];
        uint32_t w = op->atom >> 6;
        uint64_t m = 1ull << (op->atom & 63);
        int v;
        if (fc->atom_done[w] & m) {
            v = (fc->atom_val[w] & m) != 0;
        } else {
            v = atom_eval(fc, &fc->prog->atoms[op->atom], ev);
            fc->atom_done[w] |= m;
            if (v)
                fc->atom_val[w] |= m;
        }
        pc = v ? op->t : op->f;
    }
    return pc == TL_FP_TRUE;
}

void tl_filter_eval(tl_filter_ctx *fc, const tl_event *ev)
{
    const tl_program *p = fc->prog;
    memset(fc->bits, 0, p->filter_words * sizeof(uint64_t));
    /* the event's kind as the atoms read it (absent reads as ""); list nkinds if no filter
     * requires it */
    tl_str kind = (ev->str_present & (1u << TL_S_KIND)) ? ev->str[TL_S_KIND] : (tl_str){"", 0};
    uint32_t k = 0;
    while (k < fc->nkinds && !tl_str_eq(fc->kinds[k], kind))
        k++;
    size_t aw = fc->atom_words;
    memcpy(fc->atom_done, fc->kind_done + k * aw, aw * sizeof(uint64_t));
    memcpy(fc->atom_val, fc->kind_val + k * aw, aw * sizeof(uint64_t));
    for (uint32_t i = fc->list_at[k]; i < fc->pred_at[k]; i++) {
        uint32_t f = fc->lists[i];
        if (run(fc, f, ev))
            fc->bits[f >> 6] |= 1ull << (f & 63);
    }
    /* numerators, once their gates are known; a filter never gates a numerator-only one that
     * is itself numerator-only (gates are plan filters), so one pass suffices */
    uint32_t fw = p->filter_words;
    for (uint32_t i = fc->pred_at[k]; i < fc->list_at[k + 1]; i++) {
        uint32_t f = fc->lists[i];
        const uint64_t *gm = &fc->gate_mask[(size_t)f * fw];
        uint64_t open = 0;
        for (uint32_t w = 0; w < fw; w++)
            open |= fc->bits[w] & gm[w];
        if (open && run(fc, f, ev))
            fc->bits[f >> 6] |= 1ull << (f & 63);
    }
}
