/* engine/shard.c - fold contributions into series and evaluate rules (see shard.h).
 *
 * The evaluation is the alert lifecycle of inst.h applied per (rule, series). Building an
 * alert (labels, summary, fingerprint) happens only on a transition, so its cost is off the
 * per-event path; the evaluation itself reads a window (a loop over at most a few hundred
 * slots) per rule and series that changed.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "alloc.h"
#include "ckio.h"
#include "filter.h"
#include "inst.h"
#include "log.h"
#include "series.h"
#include "shard.h"
#include "timefmt.h"
#include "window.h"
#include "xfer.h"

/* At most this many slot boundaries are evaluated in one catch-up. */
#define MAX_CATCH_UP 100000
/* The closing pass fetches a series' lines this many table entries ahead of the one it
 * evaluates (a table is at most half full: about half as many series ahead), so with many
 * series the misses of the next ones overlap the work on this one. */
#define CLOSE_AHEAD 16
/* Lines prefetched per series: header, instances, each rule's newest slot, each plan's header. */
#define CLOSE_LINES 24

struct tl_shard {
    const tl_program *prog;
    tl_shard_opts opts;
    tl_series_table *tables; /* one per group */
    tl_series_budget budget; /* limits.max_series_total, shared by the tables */
    tl_sketch_pool *pool;
    tl_sketch_acc acc;
    tl_hll_pool *hll;       /* distinct-count sketches */
    tl_hll_acc hacc;
    int64_t wm;             /* last watermark seen */
    int64_t *closed;        /* per rule: newest slot epoch whose closing evaluation ran */
    int64_t *from;          /* per rule: first slot epoch of the closing pass under way */
    int64_t min_ts;         /* oldest event time folded: closing evaluations start there */
    uint32_t *active;       /* per rule: pending + firing instances in this shard */
    int64_t *low_epoch;     /* per plan: oldest epoch accepted */
    tl_slotpos *pos;        /* per plan: the epoch and slot of the last folded timestamp */
    uint32_t **gfilter;     /* per group: its plans' filters, in the group's plan order (a
                               fold tests them all; here they are contiguous, not one
                               dependent load per plan record) */
    tl_shard_stats st;
    uint8_t *restored;      /* per rule: closing progress came from a checkpoint (load only) */
};

tl_shard *tl_shard_new(const tl_program *prog, const tl_shard_opts *opts)
{
    tl_shard *s = tl_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->prog = prog;
    s->opts = *opts;
    s->wm = INT64_MIN;
    s->min_ts = INT64_MAX;
    s->tables = tl_calloc(prog->ngroups ? prog->ngroups : 1, sizeof *s->tables);
    s->low_epoch = tl_calloc(prog->nplans ? prog->nplans : 1, sizeof *s->low_epoch);
    s->pos = tl_calloc(prog->nplans ? prog->nplans : 1, sizeof *s->pos); /* lo == hi: empty */
    s->closed = tl_calloc(prog->nrules ? prog->nrules : 1, sizeof *s->closed);
    s->from = tl_calloc(prog->nrules ? prog->nrules : 1, sizeof *s->from);
    s->gfilter = tl_calloc(prog->ngroups ? prog->ngroups : 1, sizeof *s->gfilter);
    s->active = tl_calloc(prog->nrules ? prog->nrules : 1, sizeof *s->active);
    s->pool = tl_sketch_pool_new(opts->sketch_max_bytes);
    s->hll = tl_hll_pool_new(opts->sketch_max_bytes);
    s->budget.max = opts->max_series_total ? opts->max_series_total : UINT64_MAX;
    if (!s->tables || !s->low_epoch || !s->pos || !s->closed || !s->from || !s->gfilter || !s->active || !s->pool || !s->hll ||
        tl_sketch_acc_init(&s->acc) < 0 || tl_hll_acc_init(&s->hacc) < 0)
        goto fail;
    for (uint32_t g = 0; g < prog->ngroups; g++) {
        if (tl_series_table_init(&s->tables[g], prog, g, opts->max_series) < 0)
            goto fail;
        s->tables[g].budget = &s->budget;
        const tl_group *grp = &prog->groups[g];
        if (!(s->gfilter[g] = tl_calloc(grp->nplans ? grp->nplans : 1, sizeof **s->gfilter)))
            goto fail;
        for (uint32_t i = 0; i < grp->nplans; i++)
            s->gfilter[g][i] = prog->plans[grp->plans[i]].filter;
    }
    for (uint32_t i = 0; i < prog->nplans; i++)
        s->low_epoch[i] = INT64_MIN;
    for (uint32_t i = 0; i < prog->nrules; i++)
        s->closed[i] = INT64_MIN;
    return s;
fail:
    tl_shard_destroy(s);
    return NULL;
}

void tl_shard_destroy(tl_shard *s)
{
    if (!s)
        return;
    if (s->tables)
        for (uint32_t g = 0; g < s->prog->ngroups; g++)
            tl_series_table_fini(&s->tables[g], s->pool);
    tl_free(s->tables);
    if (s->gfilter)
        for (uint32_t g = 0; g < s->prog->ngroups; g++)
            tl_free(s->gfilter[g]);
    tl_free(s->gfilter);
    tl_free(s->low_epoch);
    tl_free(s->pos);
    tl_free(s->closed);
    tl_free(s->from);
    tl_free(s->active);
    tl_free(s->restored);
    tl_sketch_acc_fini(&s->acc);
    tl_hll_acc_fini(&s->hacc);
    tl_hll_pool_destroy(s->hll);
    tl_sketch_pool_destroy(s->pool);
    tl_free(s);
}

void tl_shard_set_watermark(tl_shard *s, int64_t wm)
{
    if (wm <= s->wm)
        return;
    s->wm = wm;
    for (uint32_t i = 0; i < s->prog->nplans; i++)
        s->low_epoch[i] = tl_epoch(wm - s->prog->lateness_ms, s->prog->plans[i].width_ms);
}

/* Once per table (and shard): say which group-by set overflows and which cap it hit. The
 * stats count contributions; only this line names the set. Off the per-event path: it runs at
 * the first contribution a table folds into its overflow series. */
static void overflow_warn(tl_shard *s, tl_series_table *t)
{
    t->warned = 1;
    const tl_group *g = &s->prog->groups[t->group];
    char labels[512];
    size_t n = 0;
    labels[0] = '\0';
    for (uint32_t i = 0; i < g->nlabels && n < sizeof labels; i++)
        n += (size_t)snprintf(labels + n, sizeof labels - n, "%s%s", i ? ", " : "", g->label_names[i]);
    if (t->count >= t->max_series)
        tl_log(TL_LOG_WARN,
               "cardinality: group-by set [%s] reached limits.max_series (%llu series in this worker): "
               "new label combinations fold into its __overflow__ series",
               labels, (unsigned long long)t->max_series);
    else
        tl_log(TL_LOG_WARN,
               "cardinality: this worker reached limits.max_series_total (%llu series over all group-by "
               "sets): new label combinations of [%s] fold into its __overflow__ series",
               (unsigned long long)s->budget.max, labels);
}

void tl_shard_fold(tl_shard *s, const tl_fold *f, uint32_t owner)
{
    const tl_program *p = s->prog;
    if (f->ts < s->min_ts)
        s->min_ts = f->ts;
    for (uint32_t k = 0; k < f->nkeys; k++) {
        const tl_fold_key *fk = &f->keys[k];
        if (owner != UINT32_MAX && fk->owner != owner)
            continue;
        tl_series_table *t = &s->tables[fk->group];
        int created;
        tl_series *se = tl_series_get(t, fk->hash, fk->key, fk->len, &created);
        if (!se)
            continue; /* out of memory: nothing can be folded for this key */
        if (se->overflow) {
            s->st.overflowed++;
            if (!t->warned)
                overflow_warn(s, t);
        }
        const tl_group *g = &p->groups[fk->group];
        const uint32_t *gf = s->gfilter[fk->group];
        int any = 0;
        for (uint32_t i = 0; i < g->nplans; i++) {
            if (!tl_filter_bit(f->fbits, gf[i]))
                continue;
            uint32_t pid = g->plans[i];
            const tl_plan *pl = &p->plans[pid];
            if (pl->kind == TL_PLAN_DISTINCT) {
                int rc = tl_window_add_distinct(pl, tl_series_at(se, pl->offset), s->hll, f->ts,
                                                (f->dmask >> pl->field) & 1, f->dhash[pl->field], s->low_epoch[pid]);
                if (rc == 1) {
                    s->st.late++;
                    continue;
                }
                s->st.sketch_full += rc == 2;
                s->st.folded++;
                any = 1;
                continue;
            }
            tl_contrib c = tl_fold_contrib(f, pl);
            tl_slotpos *sp = &s->pos[pid];
            tl_slotpos_at(sp, pl, f->ts);
            int rc = tl_window_add_fast(pl, tl_series_at(se, pl->offset), s->pool, &c, sp->e, sp->slot, s->low_epoch[pid]);
            if (rc == 1) {
                s->st.late++;
                continue;
            }
            if (rc == 2)
                s->st.sketch_full++;
            s->st.folded++;
            any = 1;
        }
        if (any) {
            if (f->ts > se->last_ts)
                se->last_ts = f->ts;
            if (f->ts < se->first_ts)
                se->first_ts = f->ts;
            tl_series_mark_dirty(t, se);
        }
    }
}

void tl_shard_merge(tl_shard *s, const tl_xfer_merge *m)
{
    const tl_plan *pl = &s->prog->plans[m->plan];
    tl_series_table *t = &s->tables[m->group];
    int created;
    tl_series *se = tl_series_get(t, m->hash, m->key, m->key_len, &created);
    if (!se)
        return; /* out of memory: nothing can be merged for this key */
    tl_planstate *st = tl_series_at(se, pl->offset);
    if (se->overflow) {
        s->st.overflowed += m->events;
        if (!t->warned)
            overflow_warn(s, t);
    }
    int any = 0;
    for (uint32_t i = 0; i < m->nslots; i++) {
        const tl_delta_slot *d = &m->slot[i];
        int rc = tl_window_merge(pl, st, s->pool, d, s->low_epoch[m->plan]);
        if (rc == 1) {
            s->st.late += d->n;
            continue;
        }
        s->st.sketch_full += rc == 2;
        s->st.folded += d->n;
        any = 1;
    }
    if (!any)
        return;
    for (uint32_t i = 0; i < m->nex; i++)
        tl_window_merge_exemplar(pl, st, &m->ex[i]);
    if (m->first_ts < s->min_ts)
        s->min_ts = m->first_ts;
    if (m->last_ts > se->last_ts)
        se->last_ts = m->last_ts;
    if (m->first_ts < se->first_ts)
        se->first_ts = m->first_ts;
    tl_series_mark_dirty(t, se);
}

/* ---- evaluation -------------------------------------------------------------------------- */

typedef struct eval_ctx {
    tl_shard *s;
    const tl_rule *r;
    tl_series *se;
    int64_t now_epoch;
} eval_ctx;

/* An aggregate over the window [end_ms - len_ms, end_ms), read from its plan's slots (each
 * plan has its own slot width: roll-ups for baselines and offsets use coarse ones). */
static double agg_value(eval_ctx *e, const tl_vnode *v, int64_t end_ms, int64_t len_ms)
{
    const tl_plan *pl = &e->s->prog->plans[v->plan];
    const tl_planstate *st = tl_series_at(e->se, pl->offset);
    int64_t epoch = tl_epoch(end_ms - 1, pl->width_ms);
    uint32_t k = (uint32_t)((len_ms + pl->width_ms - 1) / pl->width_ms);
    tl_winagg w;
    tl_window_read(pl, st, epoch, k, &w);
    if (v->agg == TL_AGG_DISTINCT) {
        tl_hll_acc_reset(&e->s->hacc);
        tl_window_read_distinct(pl, st, epoch, k, e->s->hll, &e->s->hacc);
        return tl_hll_acc_estimate(&e->s->hacc);
    }
    if (v->agg == TL_AGG_QUANTILE) {
        if (!w.nv)
            return NAN;
        tl_sketch_acc_reset(&e->s->acc);
        tl_window_read_sketch(pl, st, epoch, k, e->s->pool, &e->s->acc);
        double q = tl_sketch_acc_quantile(&e->s->acc, v->q);
        /* the sketch's bins are approximate; the exact min/max are known */
        if (q < w.min)
            q = w.min;
        if (q > w.max)
            q = w.max;
        return q;
    }
    switch (v->agg) {
    case TL_AGG_COUNT: return (double)w.n;
    case TL_AGG_HITS: return (double)w.hits;
    case TL_AGG_RATIO: return w.n ? (double)w.hits / (double)w.n : NAN;
    case TL_AGG_RATE: return (double)w.n / ((double)len_ms / 1000.0);
    case TL_AGG_SUM: return w.sum;
    case TL_AGG_AVG: return w.nv ? w.sum / (double)w.nv : NAN;
    case TL_AGG_MIN: return w.nv ? w.min : NAN;
    case TL_AGG_MAX: return w.nv ? w.max : NAN;
    default: return NAN;
    }
}

/* Label i of a series key (labels joined by 0x1f). */
static tl_str key_label(const char *key, uint32_t len, uint32_t i)
{
    uint32_t start = 0, idx = 0;
    for (uint32_t p = 0; p <= len; p++) {
        if (p == len || key[p] == '\x1f') {
            if (idx == i)
                return tl_str_make(key + start, p - start);
            idx++;
            start = p + 1;
        }
    }
    return (tl_str){"", 0};
}

/* The series of the release before this one: same labels except the release label, first
 * seen most recently before this series. A scan of the group's table: release-aware rules
 * group by a version, whose tables are small. */
static tl_series *previous_release(eval_ctx *e)
{
    const tl_rule *r = e->r;
    if (r->release_label < 0)
        return NULL;
    tl_series_table *t = &e->s->tables[r->group];
    const tl_group *g = &e->s->prog->groups[r->group];
    const char *mk = tl_series_key(t, e->se);
    tl_series *best = NULL;
    for (size_t i = 0; i < t->cap; i++) {
        tl_series *x = t->slots[i].s;
        if (!x || x == e->se || x->first_ts >= e->se->first_ts || (best && x->first_ts <= best->first_ts))
            continue;
        const char *xk = tl_series_key(t, x);
        uint32_t l;
        for (l = 0; l < g->nlabels; l++)
            if ((int32_t)l != r->release_label &&
                !tl_str_eq(key_label(mk, e->se->key_len, l), key_label(xk, x->key_len, l)))
                break;
        if (l == g->nlabels)
            best = x;
    }
    return best;
}

static double vvalue(eval_ctx *e, const tl_vnode *v, int64_t end_ms, int64_t len_ms)
{
    switch (v->op) {
    case TL_V_NUM: return v->num;
    case TL_V_AGG: return agg_value(e, v, end_ms, len_ms);
    case TL_V_NEG: return -vvalue(e, v->a, end_ms, len_ms);
    case TL_V_ADD: return vvalue(e, v->a, end_ms, len_ms) + vvalue(e, v->b, end_ms, len_ms);
    case TL_V_SUB: return vvalue(e, v->a, end_ms, len_ms) - vvalue(e, v->b, end_ms, len_ms);
    case TL_V_MUL: return vvalue(e, v->a, end_ms, len_ms) * vvalue(e, v->b, end_ms, len_ms);
    case TL_V_DIV: {
        double b = vvalue(e, v->b, end_ms, len_ms);
        return b == 0 ? NAN : vvalue(e, v->a, end_ms, len_ms) / b;
    }
    case TL_V_PREVIOUS:
        return vvalue(e, v->a, end_ms - len_ms, len_ms);
    case TL_V_PREV_RELEASE: {
        tl_series *prev = previous_release(e);
        if (!prev)
            return NAN;
        tl_series *self = e->se;
        e->se = prev;
        double x = vvalue(e, v->a, end_ms, len_ms);
        e->se = self;
        return x;
    }
    case TL_V_OFFSET:
        return vvalue(e, v->a, end_ms - v->shift_ms, len_ms);
    case TL_V_BASELINE: {
        /* complete buckets before the one in progress; buckets without data are skipped */
        int64_t cur = tl_epoch(end_ms - 1, v->res_ms), nb = v->period_ms / v->res_ms;
        double sum = 0;
        int64_t used = 0;
        for (int64_t b = cur - nb; b < cur; b++) {
            double x = vvalue(e, v->a, (b + 1) * v->res_ms, v->res_ms);
            if (!isnan(x)) {
                sum += x;
                used++;
            }
        }
        return used ? sum / (double)used : NAN;
    }
    }
    return NAN;
}

/* Lower end of the Wilson score interval for a proportion p of n at one-sided z: with few
 * events a high observed ratio is not enough evidence. */
static double wilson_lower(double p, double n, double z)
{
    double z2 = z * z;
    double centre = p + z2 / (2 * n);
    double margin = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    return (centre - margin) / (1 + z2 / n);
}

/* This shard's share of a rule's max_instances (series are spread over the owners). */
static uint32_t instance_cap(const tl_shard *s, const tl_rule *r)
{
    uint32_t n = s->opts.nowners ? s->opts.nowners : 1;
    return (r->max_instances + n - 1) / n;
}

static int compare(double v, tl_cmp_op op, double t)
{
    if (isnan(v))
        return 0;
    switch (op) {
    case TL_OP_GT: return v > t;
    case TL_OP_GE: return v >= t;
    case TL_OP_LT: return v < t;
    case TL_OP_LE: return v <= t;
    case TL_OP_EQ: return v == t;
    case TL_OP_NE: return v != t;
    }
    return 0;
}

typedef struct tmpl_ctx {
    const tl_alert *a;
    const tl_rule *r;
    char value[48], threshold[48], window[32];
} tmpl_ctx;

static const char *tmpl_lookup(void *vctx, const char *name, size_t *n)
{
    tmpl_ctx *c = vctx;
    const char *v = NULL;
    if (strcmp(name, "value") == 0)
        v = c->value;
    else if (strcmp(name, "threshold") == 0)
        v = c->threshold;
    else if (strcmp(name, "window") == 0)
        v = c->window;
    else if (strcmp(name, "alert") == 0)
        v = c->r->name;
    else if (strcmp(name, "severity") == 0)
        v = c->r->severity;
    else if (strcmp(name, "owner") == 0)
        v = c->r->owner;
    else if (strcmp(name, "metric") == 0)
        v = c->r->metric;
    else
        for (uint32_t i = 0; i < c->a->n_labels && !v; i++)
            if (strcmp(c->a->label_key[i], name) == 0)
                v = c->a->label_val[i];
    if (!v)
        return NULL;
    *n = strlen(v);
    return v;
}

/* Build and send one alert of instance `in` as of watermark `wm`. A resolved alert carries
 * ends_at = in->resolved_at (set by the caller), so its re-sends (`resend` > 0, later `wm`)
 * repeat the original's identity and content; only timestamp, resend and possibly the
 * exemplars still in the window ring differ. */
static void emit(eval_ctx *e, tl_inst *in, tl_alert_state state, double value, int64_t wm, uint32_t resend)
{
    tl_shard *s = e->s;
    const tl_rule *r = e->r;
    const tl_program *p = s->prog;
    const tl_group *g = &p->groups[r->group];
    tl_series_table *t = &s->tables[r->group];
    tl_alert a;
    memset(&a, 0, sizeof a);
    /* labels: split the key on 0x1f */
    char keycopy[TL_ALERT_MAX_LABELS * (TL_ALERT_LABEL_MAX + 1) + 16];
    size_t kl = e->se->key_len < sizeof keycopy - 1 ? e->se->key_len : sizeof keycopy - 1;
    memcpy(keycopy, tl_series_key(t, e->se), kl);
    keycopy[kl] = '\0';
    if (e->se->overflow) {
        a.label_key[0] = "overflow";
        a.label_val[0] = "true";
        a.n_labels = 1;
    } else {
        char *cur = keycopy;
        for (uint32_t i = 0; i < g->nlabels && a.n_labels < TL_ALERT_MAX_LABELS; i++) {
            char *sep = strchr(cur, '\x1f');
            if (sep)
                *sep = '\0';
            a.label_key[a.n_labels] = g->label_names[i];
            a.label_val[a.n_labels] = cur;
            a.n_labels++;
            if (strcmp(g->label_names[i], "service") == 0)
                a.service = cur;
            else if (strcmp(g->label_names[i], "tool") == 0)
                a.tool = cur;
            cur = sep ? sep + 1 : cur + strlen(cur);
        }
    }
    for (uint32_t i = 0; i < r->nstatic && a.n_labels < TL_ALERT_MAX_LABELS; i++) {
        a.label_key[a.n_labels] = r->static_keys[i];
        a.label_val[a.n_labels] = r->static_vals[i];
        a.n_labels++;
    }
    a.alert = r->name;
    a.state = state;
    a.timestamp_ms = wm;
    a.metric = r->metric;
    a.value = value;
    a.threshold = r->threshold;
    a.op = tl_cmp_op_text(r->op);
    a.unit = r->unit;
    a.window_ms = r->window_ms;
    a.severity = r->severity;
    a.owner = r->owner;
    a.runbook = r->runbook;
    a.starts_at_ms = in->fired_at;
    a.ends_at_ms = state == TL_ALERT_RESOLVED ? in->resolved_at : -1;
    a.resend = resend;
    /* fingerprint: rule name and label set */
    char fpin[sizeof keycopy + 1024];
    size_t fl = 0;
    fl += (size_t)snprintf(fpin, sizeof fpin, "%s", r->name) + 1;
    memcpy(fpin + fl, tl_series_key(t, e->se), kl);
    fl += kl;
    for (uint32_t i = 0; i < r->nstatic && fl < sizeof fpin - 2; i++)
        fl += (size_t)snprintf(fpin + fl, sizeof fpin - fl, "%c%s=%s", 0, r->static_keys[i], r->static_vals[i]);
    if (fl > sizeof fpin)
        fl = sizeof fpin;
    uint64_t fp = tl_alert_set_fingerprint(&a, fpin, fl);
    /* a resolved notification has sequence 0, so each re-send repeats its transition id */
    tl_alert_set_transition_id(&a, fp, in->fired_at, state == TL_ALERT_RESOLVED ? 0 : in->notify_seq);
    /* exemplars: from the plan behind the rule's first aggregate, over the window the
     * notification describes (a re-send's is the original's) */
    const tl_plan *pl = &p->plans[r->count_plan];
    int64_t ex_end = state == TL_ALERT_RESOLVED ? in->resolved_at : wm;
    a.n_exemplars = tl_window_exemplars(pl, tl_series_at(e->se, pl->offset), ex_end - r->window_ms, ex_end,
                                        a.exemplar_trace_ids, TL_ALERT_MAX_EXEMPLARS);
    char exbuf[TL_ALERT_MAX_EXEMPLARS][TL_EXEMPLAR_ID_MAX + 1];
    for (uint32_t i = 0; i < a.n_exemplars; i++) {
        const char *id = a.exemplar_trace_ids[i];
        const tl_exemplar *ex = (const tl_exemplar *)(id - offsetof(tl_exemplar, id));
        memcpy(exbuf[i], id, ex->len);
        exbuf[i][ex->len] = '\0';
        a.exemplar_trace_ids[i] = exbuf[i];
    }
    /* summary and description */
    tmpl_ctx tc = {.a = &a, .r = r};
    tl_unit_format(value, r->unit, tc.value, sizeof tc.value);
    tl_unit_format(r->threshold, r->unit, tc.threshold, sizeof tc.threshold);
    tl_duration_format(r->window_ms, tc.window, sizeof tc.window);
    char summary[1024], description[2048];
    tl_template_render(r->summary, tmpl_lookup, &tc, summary, sizeof summary);
    a.summary = summary;
    if (r->description) {
        tl_template_render(r->description, tmpl_lookup, &tc, description, sizeof description);
        a.description = description;
    }
    s->st.alerts++;
    if (s->opts.sink)
        s->opts.sink(s->opts.sink_ctx, &a);
}

/* ---- resolved notifications, re-sent (shard.h) ---------------------------------------------- */

static int64_t resend_interval(const tl_shard *s)
{
    return s->opts.resend_interval_ms > 0 ? s->opts.resend_interval_ms : s->opts.resend_resolved_ms;
}

/* `in` has just been resolved at `at` with `value`: send the resolved notification, and keep
 * what its re-sends need (resolved_seq > 0 while one is still due). */
static void resolve(eval_ctx *e, tl_inst *in, double value, int64_t at)
{
    const tl_shard *s = e->s;
    in->resolved_at = at;
    in->resolved_sent = at;
    in->last_value = value;
    emit(e, in, TL_ALERT_RESOLVED, value, at, 0);
    in->resolved_seq = s->opts.resend_resolved_ms > 0 && resend_interval(s) <= s->opts.resend_resolved_ms ? 1 : 0;
}

/* A closing evaluation at `at` of an inactive instance: re-send its resolved notification if
 * one is due. Returns the number of alerts emitted (0 or 1). */
static uint32_t resend_resolved(eval_ctx *e, tl_inst *in, int64_t at)
{
    const tl_shard *s = e->s;
    if (!in->resolved_seq)
        return 0;
    int64_t iv = resend_interval(s);
    if (at - in->resolved_at > s->opts.resend_resolved_ms) { /* past it (a catch-up jump) */
        in->resolved_seq = 0;
        return 0;
    }
    if (at - in->resolved_sent < iv)
        return 0;
    in->resolved_sent = at;
    emit(e, in, TL_ALERT_RESOLVED, in->last_value, at, in->resolved_seq);
    in->resolved_seq++;
    if (at + iv - in->resolved_at > s->opts.resend_resolved_ms)
        in->resolved_seq = 0; /* that was the last one: the series may be freed when idle */
    return 1;
}

/* Evaluate rule r on series se over the k slots ending at `epoch`, as of `at` (the end of
 * that slot). `early`: an evaluation on a still-open slot, which may only take a transition
 * the closing evaluation is certain to take (see tl_shard_evaluate). Closing evaluations
 * also send the re-sends of a resolved notification that are due. */
static uint32_t eval_rule(tl_shard *s, const tl_rule *r, tl_series *se, int64_t epoch, int early)
{
    int64_t at = (epoch + 1) * r->width_ms;
    eval_ctx e = {.s = s, .r = r, .se = se, .now_epoch = epoch};
    const tl_group *g = &s->prog->groups[r->group];
    tl_inst *in = tl_series_at(se, g->inst_offset + r->index_in_group * (uint32_t)sizeof(tl_inst));
    if (early && in->state == TL_INST_FIRING)
        return 0;
    const tl_plan *cp = &s->prog->plans[r->count_plan];
    tl_winagg w;
    tl_window_read(cp, tl_series_at(se, cp->offset), epoch, r->window_slots, &w);
    double value = NAN;
    int cond = 0, defined = 0;
    if (w.n >= r->min_events && w.n > 0) {
        value = vvalue(&e, r->value, at, r->window_ms);
        defined = !isnan(value);
        double tested = value;
        if (r->confidence_z > 0 && defined)
            tested = wilson_lower(value, (double)w.n, r->confidence_z);
        cond = compare(tested, r->op, r->threshold);
    }
    int forced_off = 0; /* outside the rule's scope: resolves whatever the recovery threshold says */
    if (r->release_ms > 0 && (se->first_ts == INT64_MAX || at - se->first_ts > r->release_ms + r->width_ms)) {
        /* a release-aware rule watches a version only during its first `during` */
        forced_off = 1;
    }
    for (int32_t up = r->inhibited_by; up >= 0 && !forced_off; up = s->prog->rules[up].inhibited_by) {
        /* a higher severity level of the same rule firing on this series silences this one */
        const tl_rule *hr = &s->prog->rules[up];
        const tl_inst *hin = tl_series_at(se, g->inst_offset + hr->index_in_group * (uint32_t)sizeof(tl_inst));
        forced_off = hin->state == TL_INST_FIRING;
    }
    if (forced_off) {
        cond = 0;
        defined = 1; /* not "no data": the answer is no */
    }
    if (!defined) {
        switch (r->no_data) {
        case TL_NODATA_RESOLVE: break;
        case TL_NODATA_IGNORE: /* no transition; a re-send still goes out on time */
            return !early && in->state == TL_INST_INACTIVE ? resend_resolved(&e, in, at) : 0;
        case TL_NODATA_KEEP: cond = in->state != TL_INST_INACTIVE; break;
        case TL_NODATA_ALERT: cond = 1; break;
        }
    }
    s->st.evaluations++;
    if (early) {
        /* only the firing transition, and only when the closing evaluation will take it */
        if (!cond)
            return 0;
        if (in->state == TL_INST_INACTIVE && r->for_ms > 0)
            return 0;
        if (in->state == TL_INST_PENDING && at - in->pending_since < r->for_ms)
            return 0;
    }
    uint32_t ri = (uint32_t)(r - s->prog->rules), emitted = 0;
    switch ((tl_inst_state)in->state) {
    case TL_INST_INACTIVE:
        if (!cond) {
            in->capped = 0;
            break;
        }
        if (r->max_instances && s->active[ri] >= instance_cap(s, r)) {
            /* over the rule's cap: counted once per episode, never silently dropped */
            if (!in->capped) {
                in->capped = 1;
                s->st.capped++;
            }
            break;
        }
        in->state = TL_INST_PENDING;
        in->pending_since = at;
        in->resolved_seq = 0; /* a new episode: the last resolution is no longer news */
        se->nactive++;
        s->active[ri]++;
        /* with `for: 0` it fires in this same evaluation */
        __attribute__((fallthrough));
    case TL_INST_PENDING:
        if (!cond) {
            in->state = TL_INST_INACTIVE;
            se->nactive--;
            s->active[ri]--;
            break;
        }
        in->last_value = value;
        if (at - in->pending_since >= r->for_ms) {
            in->state = TL_INST_FIRING;
            in->fired_at = at;
            in->last_notify = at;
            in->notify_seq = 0;
            in->clear_since = INT64_MIN;
            emit(&e, in, TL_ALERT_FIRING, value, at, 0);
            emitted++;
        }
        break;
    case TL_INST_FIRING: {
        /* still firing: the condition holds, or with a recovery threshold (hysteresis) the
         * value has not come back past it; no data always counts as recovered */
        int still = r->has_resolve && defined && !forced_off ? !compare(value, r->resolve_op, r->resolve_threshold)
                                                             : cond;
        if (!still) {
            if (in->clear_since == INT64_MIN)
                in->clear_since = at;
            if (at - in->clear_since < r->keep_firing_ms)
                break; /* keep_firing_for: hold the alert open a while longer */
            if (!r->one_shot) { /* event rules notify once and have nothing to resolve */
                resolve(&e, in, defined ? value : in->last_value, at);
                emitted++;
            }
            in->state = TL_INST_INACTIVE;
            se->nactive--;
            s->active[ri]--;
            break;
        }
        in->clear_since = INT64_MIN;
        in->last_value = value;
        if (r->renotify_ms > 0 && at - in->last_notify >= r->renotify_ms) {
            in->last_notify = at;
            in->notify_seq++;
            emit(&e, in, TL_ALERT_FIRING, value, at, 0);
            emitted++;
        }
        break;
    }
    }
    if (!early && in->state == TL_INST_INACTIVE && in->resolved_seq)
        emitted += resend_resolved(&e, in, at);
    return emitted;
}

/* A series with no live slot, no active instance and no re-send due is freed. */
static int series_idle(tl_shard *s, uint32_t group, tl_series *se, int64_t wm)
{
    if (se->nactive)
        return 0;
    const tl_group *g = &s->prog->groups[group];
    for (uint32_t k = 0; k < g->nrules; k++) {
        const tl_inst *in = tl_series_at(se, g->inst_offset + k * (uint32_t)sizeof(tl_inst));
        if (in->resolved_seq)
            return 0; /* its resolved notification is still re-sent */
    }
    for (uint32_t i = 0; i < g->nplans; i++) {
        const tl_plan *pl = &s->prog->plans[g->plans[i]];
        tl_planstate *st = tl_series_at(se, pl->offset);
        int64_t now = tl_epoch(wm, pl->width_ms);
        tl_window_expire(pl, st, now - (int64_t)pl->nslots + 1, s->pool);
        if (pl->kind == TL_PLAN_DISTINCT)
            tl_window_clear_distinct(pl, st, s->hll, now - (int64_t)pl->nslots + 1);
        if (tl_window_live(pl, st, now - (int64_t)pl->nslots + 1))
            return 0;
    }
    return 1;
}

/* Where slot epoch e of plan pl lies in a series record. */
static uint32_t slot_offset(const tl_plan *pl, int64_t e)
{
    size_t sz = pl->kind == TL_PLAN_COUNTER ? sizeof(tl_cslot) : sizeof(tl_mslot);
    return pl->offset + (uint32_t)(sizeof(tl_planstate) + sz * tl_window_slot(pl, e));
}

/* Round j of the closing evaluations of one series: each rule of the group, in rule order, at
 * its j-th pending slot boundary (s->from[ri] + j) if it has one. */
static uint32_t close_series(tl_shard *s, const tl_group *g, tl_series *se, int64_t wm, int64_t j)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < g->nrules; k++) {
        uint32_t ri = g->rules[k];
        const tl_rule *r = &s->prog->rules[ri];
        if (s->from[ri] + j <= tl_epoch(wm, r->width_ms) - 1)
            n += eval_rule(s, r, se, s->from[ri] + j, 0);
    }
    return n;
}

/* Closing evaluations of group gi's rules at every slot boundary the watermark crossed, and
 * the freeing of series that went idle. A walk over the table does both, series by series, so
 * with many series each record is brought into cache once per walk (not once per rule and
 * once more for the idle check), and the records a few entries ahead are fetched meanwhile.
 * When the watermark crossed several boundaries, there is one walk per boundary (round j
 * closes every rule's j-th one), so every series has reached boundary j before any reaches
 * j + 1: what one series' evaluation sees of the others (a rule's count of active instances,
 * for its cap) and of its own other rules (a higher severity level firing) does not depend on
 * how many boundaries one pass covers, i.e. on batching. The idle check runs in the last
 * walk, when some rule's closing progress moves. */
static uint32_t close_group(tl_shard *s, uint32_t gi, int64_t wm)
{
    const tl_program *p = s->prog;
    const tl_group *g = &p->groups[gi];
    tl_series_table *t = &s->tables[gi];
    if (s->min_ts == INT64_MAX)
        return 0; /* nothing folded yet: nothing to evaluate */
    int moves = 0;
    int64_t rounds = 0;
    uint32_t lines[CLOSE_LINES], nl = 0;
    lines[nl++] = 0; /* the header */
    for (uint32_t o = g->inst_offset & ~63u; o < g->inst_offset + g->nrules * (uint32_t)sizeof(tl_inst) &&
                                             nl < CLOSE_LINES; o += 64)
        lines[nl++] = o;
    for (uint32_t k = 0; k < g->nrules; k++) {
        uint32_t ri = g->rules[k];
        const tl_rule *r = &p->rules[ri];
        int64_t last = tl_epoch(wm, r->width_ms) - 1; /* newest complete slot */
        /* The first time, start at the slot of the oldest event this shard folded (earlier
         * slots are empty for every series), so the transitions do not depend on how far the
         * watermark had moved when the first evaluation ran. */
        int64_t from = s->closed[ri] == INT64_MIN ? tl_epoch(s->min_ts, r->width_ms) : s->closed[ri] + 1;
        if (last - from > MAX_CATCH_UP)
            from = last - MAX_CATCH_UP; /* a huge jump (idle advance over hours): keep the tail */
        s->from[ri] = from;
        if (last - from + 1 > rounds)
            rounds = last - from + 1;
        moves |= last > s->closed[ri] || s->closed[ri] == INT64_MIN;
        if (from <= last && nl < CLOSE_LINES) /* the newest slot the rule reads */
            lines[nl++] = slot_offset(&p->plans[r->count_plan], last);
    }
    for (uint32_t k = 0; k < g->nplans && nl < CLOSE_LINES; k++)
        lines[nl++] = p->plans[g->plans[k]].offset; /* the plan's header: its `live` mask */
    uint32_t n = 0;
    uint64_t idle = 0;
    int64_t walks = rounds ? rounds : moves; /* the idle check alone takes a walk too */
    for (int64_t j = 0; j < walks; j++) {
        int last_walk = j == walks - 1;
        for (size_t i = 0; i < t->cap; i++) {
            const tl_series *ahead = i + CLOSE_AHEAD < t->cap ? t->slots[i + CLOSE_AHEAD].s : NULL;
            if (ahead)
                for (uint32_t l = 0; l < nl; l++)
                    __builtin_prefetch((const char *)ahead + lines[l]);
            tl_series *se = t->slots[i].s;
            if (!se)
                continue;
            if (j < rounds)
                n += close_series(s, g, se, wm, j);
            if (last_walk && moves && !se->dirty && series_idle(s, gi, se, wm)) {
                se->evict = 1;
                idle++;
            }
        }
        if (t->overflow && j < rounds)
            n += close_series(s, g, t->overflow, wm, j);
    }
    /* Free the idle ones. A removal shifts later entries back into slot i (possibly one from
     * the table's start, already seen: its mark makes a second look harmless). */
    for (size_t i = 0; i < t->cap && idle; i++) {
        tl_series *se = t->slots[i].s;
        if (!se || !se->evict)
            continue;
        for (uint32_t k = 0; k < g->nplans; k++) {
            const tl_plan *pl = &p->plans[g->plans[k]];
            if (pl->kind == TL_PLAN_DISTINCT)
                tl_window_clear_distinct(pl, tl_series_at(se, pl->offset), s->hll, INT64_MAX);
        }
        tl_series_remove(t, se, s->pool);
        s->st.evicted++;
        idle--;
        i--; /* backward shift may have moved another series into slot i */
    }
    for (uint32_t k = 0; k < g->nrules; k++) {
        uint32_t ri = g->rules[k];
        int64_t last = tl_epoch(wm, p->rules[ri].width_ms) - 1;
        if (last > s->closed[ri] || s->closed[ri] == INT64_MIN)
            s->closed[ri] = last;
    }
    return n;
}

uint32_t tl_shard_evaluate(tl_shard *s, int64_t wm)
{
    if (wm == INT64_MIN)
        return 0;
    tl_shard_set_watermark(s, wm);
    wm = s->wm;
    const tl_program *p = s->prog;
    uint32_t emitted = 0;
    for (uint32_t gi = 0; gi < p->ngroups; gi++) {
        const tl_group *g = &p->groups[gi];
        tl_series_table *t = &s->tables[gi];
        emitted += close_group(s, gi, wm);
        /* early firing on series that changed, for rules whose condition can only become
         * more true as events arrive: the open slot already decides the closing evaluation.
         * A series that holds events of a slot the watermark has not reached yet (its
         * partition runs ahead) stays on the list, so it is evaluated again as soon as the
         * watermark enters that slot, not only when the slot closes. (Evaluating that future
         * slot now would not be safe: the closing evaluations of the slots before it, which
         * do not see those events, could resolve what it fired.) Such a waiting series needs
         * another look only once the watermark has entered a new slot of some early rule;
         * until then the answer cannot change. */
        int moved = t->early_wm == INT64_MIN;
        for (uint32_t k = 0; k < g->nrules && !moved; k++) {
            const tl_rule *r = &p->rules[g->rules[k]];
            moved = r->early && tl_epoch(wm, r->width_ms) != tl_epoch(t->early_wm, r->width_ms);
        }
        t->early_wm = wm;
        tl_series *d = t->dirty_head, *next, *waiting = NULL;
        t->dirty_head = NULL;
        for (; d; d = next) {
            next = d->dirty_next;
            if (next) /* a list: only the next one can be fetched while this one is evaluated */
                __builtin_prefetch(next);
            int fresh = d->dirty == 1;
            d->dirty = 0;
            if (!fresh && !moved) {
                d->dirty = 2;
                d->dirty_next = waiting;
                waiting = d;
                continue;
            }
            int ahead = 0;
            for (uint32_t k = 0; k < g->nrules; k++) {
                const tl_rule *r = &p->rules[g->rules[k]];
                if (!r->early)
                    continue;
                int64_t ep = tl_epoch(wm, r->width_ms);
                emitted += eval_rule(s, r, d, ep, 1);
                ahead |= d->last_ts != INT64_MIN && tl_epoch(d->last_ts, r->width_ms) > ep;
            }
            if (ahead) {
                d->dirty = 2;
                d->dirty_next = waiting;
                waiting = d;
            }
        }
        /* back on the list, behind anything folded meanwhile (the evaluation above emits
         * alerts but folds nothing, so the list is still empty here) */
        for (; waiting; waiting = next) {
            next = waiting->dirty_next;
            waiting->dirty_next = t->dirty_head;
            t->dirty_head = waiting;
        }
    }
    return emitted;
}

void tl_shard_stats_get(const tl_shard *s, tl_shard_stats *out)
{
    *out = s->st;
    out->series = 0;
    for (uint32_t g = 0; g < s->prog->ngroups; g++)
        out->series += s->tables[g].count + (s->tables[g].overflow ? 1 : 0);
}

uint32_t tl_shard_firing(const tl_shard *s)
{
    uint32_t n = 0;
    for (uint32_t gi = 0; gi < s->prog->ngroups; gi++) {
        const tl_series_table *t = &s->tables[gi];
        const tl_group *g = &s->prog->groups[gi];
        for (size_t i = 0; i < t->cap; i++) {
            const tl_series *se = t->slots[i].s;
            if (!se)
                continue;
            for (uint32_t k = 0; k < g->nrules; k++) {
                const tl_inst *in = tl_series_at(se, g->inst_offset + k * (uint32_t)sizeof(tl_inst));
                n += in->state == TL_INST_FIRING;
            }
        }
    }
    return n;
}

/* ---- hot reload ---------------------------------------------------------------------------- */

static int same_group(const tl_group *a, const tl_group *b)
{
    if (a->nlabels != b->nlabels)
        return 0;
    for (uint32_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->label_names[i], b->label_names[i]) != 0)
            return 0;
    return 1;
}

static int same_plan(const tl_program *pa, const tl_plan *a, const tl_program *pb, const tl_plan *b)
{
    if (a->kind != b->kind || a->width_ms != b->width_ms || a->field != b->field ||
        (a->pred < 0) != (b->pred < 0))
        return 0;
    if (strcmp(pa->filters[a->filter].canon, pb->filters[b->filter].canon) != 0)
        return 0;
    if (a->pred >= 0 && strcmp(pa->filters[a->pred].canon, pb->filters[b->pred].canon) != 0)
        return 0;
    if (a->kind == TL_PLAN_DISTINCT) {
        const tl_fieldref *x = &pa->dfields[a->field], *y = &pb->dfields[b->field];
        if (x->is_attr != y->is_attr || (x->is_attr ? !tl_str_eq(x->attr, y->attr) : x->field != y->field))
            return 0;
    }
    return 1;
}

/* Move a plan's slots (and their sketch references) from an old state to a new one of the same
 * kind, placing each slot by its epoch; the old state is left without references. */
static void move_plan(const tl_plan *op, tl_planstate *os, const tl_plan *np, tl_planstate *ns, tl_shard *s)
{
    memcpy(ns->ex, os->ex, sizeof ns->ex);
    ns->ex_next = os->ex_next;
    size_t ssz = op->kind == TL_PLAN_COUNTER ? sizeof(tl_cslot) : sizeof(tl_mslot);
    for (uint32_t i = 0; i < op->nslots; i++) {
        char *from = (char *)(os + 1) + i * ssz;
        int64_t e;
        memcpy(&e, from, sizeof e);
        if (e == INT64_MIN)
            continue;
        uint32_t j = (uint32_t)(((e % np->nslots) + np->nslots) % np->nslots);
        char *to = (char *)(ns + 1) + j * ssz;
        int64_t te;
        memcpy(&te, to, sizeof te);
        if (te != INT64_MIN && te > e) { /* a shorter ring keeps the newer slot */
            if (op->kind != TL_PLAN_COUNTER) {
                tl_mslot *m = (tl_mslot *)from;
                tl_sketch_clear(s->pool, &m->sk);
                tl_hll_clear(s->hll, &m->hll);
            }
            continue;
        }
        if (te != INT64_MIN && op->kind != TL_PLAN_COUNTER) {
            tl_mslot *m = (tl_mslot *)to;
            tl_sketch_clear(s->pool, &m->sk);
            tl_hll_clear(s->hll, &m->hll);
        }
        memcpy(to, from, ssz);
        tl_window_mark(np, ns, j);
        if (op->kind != TL_PLAN_COUNTER) {
            tl_mslot *m = (tl_mslot *)from;
            m->sk = 0;
            m->hll = 0;
        }
    }
}

tl_shard *tl_shard_migrate(tl_shard *old, const tl_program *prog, const tl_shard_opts *opts)
{
    tl_shard *s = tl_shard_new(prog, opts);
    if (!s)
        return NULL;
    const tl_program *op = old->prog;
    /* the new shard takes over the pools, so moved sketches stay valid */
    tl_sketch_pool_destroy(s->pool);
    tl_hll_pool_destroy(s->hll);
    s->pool = old->pool;
    s->hll = old->hll;
    old->pool = NULL;
    old->hll = NULL;
    s->min_ts = old->min_ts;
    s->st = old->st;
    if (old->wm != INT64_MIN)
        tl_shard_set_watermark(s, old->wm);
    /* rules: carry the closing-evaluation progress of unchanged rules; new ones start now */
    int32_t *rule_from = tl_malloc((prog->nrules ? prog->nrules : 1) * sizeof *rule_from);
    if (!rule_from)
        goto oom;
    for (uint32_t r = 0; r < prog->nrules; r++) {
        rule_from[r] = -1;
        for (uint32_t q = 0; q < op->nrules; q++) {
            if (op->rules[q].sig == prog->rules[r].sig && strcmp(op->rules[q].name, prog->rules[r].name) == 0 &&
                same_group(&op->groups[op->rules[q].group], &prog->groups[prog->rules[r].group])) {
                rule_from[r] = (int32_t)q;
                break;
            }
        }
        s->closed[r] = rule_from[r] >= 0 ? old->closed[rule_from[r]]
                       : old->wm == INT64_MIN ? INT64_MIN
                                              : tl_epoch(old->wm, prog->rules[r].width_ms) - 1;
    }
    for (uint32_t g = 0; g < prog->ngroups; g++) {
        const tl_group *ng = &prog->groups[g];
        int32_t og = -1;
        for (uint32_t k = 0; k < op->ngroups && og < 0; k++)
            if (same_group(&op->groups[k], ng))
                og = (int32_t)k;
        if (og < 0)
            continue;
        const tl_group *ogr = &op->groups[og];
        tl_series_table *ot = &old->tables[og], *nt = &s->tables[g];
        for (size_t i = 0; i < ot->cap; i++) {
            tl_series *os = ot->slots[i].s;
            if (!os)
                continue;
            int created;
            tl_series *ns = tl_series_get(nt, os->hash, tl_series_key(ot, os), os->key_len, &created);
            if (!ns)
                goto oom_rules;
            ns->first_ts = os->first_ts;
            ns->last_ts = os->last_ts;
            if (os->dirty) /* early firing still owes it a look */
                tl_series_mark_dirty(nt, ns);
            for (uint32_t k = 0; k < ng->nplans; k++) {
                const tl_plan *np = &prog->plans[ng->plans[k]];
                for (uint32_t q = 0; q < ogr->nplans; q++) {
                    const tl_plan *opl = &op->plans[ogr->plans[q]];
                    if (same_plan(op, opl, prog, np)) {
                        move_plan(opl, tl_series_at(os, opl->offset), np, tl_series_at(ns, np->offset), s);
                        break;
                    }
                }
            }
            for (uint32_t k = 0; k < ng->nrules; k++) {
                uint32_t r = ng->rules[k];
                if (rule_from[r] < 0)
                    continue;
                const tl_rule *orl = &op->rules[rule_from[r]];
                const tl_inst *oi = tl_series_at(os, ogr->inst_offset + orl->index_in_group * (uint32_t)sizeof(tl_inst));
                tl_inst *ni = tl_series_at(ns, ng->inst_offset + prog->rules[r].index_in_group * (uint32_t)sizeof(tl_inst));
                *ni = *oi;
                if (ni->state != TL_INST_INACTIVE) {
                    ns->nactive++;
                    s->active[r]++;
                }
            }
        }
    }
    tl_free(rule_from);
    /* what did not move (sketches of dropped plans) goes back to the pool with the old shard */
    old->pool = s->pool;
    old->hll = s->hll;
    for (uint32_t g = 0; g < op->ngroups; g++) {
        const tl_group *ogr = &op->groups[g];
        tl_series_table *ot = &old->tables[g];
        for (size_t i = 0; i < ot->cap; i++) /* distinct-count sketches of dropped plans */
            for (uint32_t k = 0; ot->slots[i].s && k < ogr->nplans; k++) {
                const tl_plan *opl = &op->plans[ogr->plans[k]];
                if (opl->kind == TL_PLAN_DISTINCT)
                    tl_window_clear_distinct(opl, tl_series_at(ot->slots[i].s, opl->offset), old->hll, INT64_MAX);
            }
        tl_series_table_fini(ot, old->pool);
    }
    old->pool = NULL;
    old->hll = NULL;
    tl_shard_destroy(old);
    return s;
oom_rules:
    tl_free(rule_from);
oom:
    /* give the pools back to the old shard, which stays usable */
    old->pool = s->pool;
    old->hll = s->hll;
    s->pool = NULL;
    s->hll = NULL;
    tl_shard_destroy(s);
    return NULL;
}

/* ---- checkpoints ------------------------------------------------------------------------------ */

tl_shard_opts tl_shard_get_opts(const tl_shard *s) { return s->opts; }

uint64_t tl_plan_sig(const tl_program *p, const tl_plan *pl)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return 0; /* out of memory: matches no plan, so its windows start empty */
    XXH3_64bits_reset(st);
    int32_t num[4] = {(int32_t)pl->kind, pl->field, pl->pred >= 0, 0};
    if (pl->kind == TL_PLAN_DISTINCT) {
        const tl_fieldref *d = &p->dfields[pl->field];
        num[1] = d->is_attr ? -1 : d->field;
        num[3] = d->is_attr;
        if (d->is_attr)
            XXH3_64bits_update(st, d->attr.p, d->attr.n);
    }
    XXH3_64bits_update(st, num, sizeof num);
    XXH3_64bits_update(st, &pl->width_ms, sizeof pl->width_ms);
    const char *f = p->filters[pl->filter].canon;
    XXH3_64bits_update(st, f, strlen(f) + 1);
    if (pl->pred >= 0) {
        const char *q = p->filters[pl->pred].canon;
        XXH3_64bits_update(st, q, strlen(q) + 1);
    }
    uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

static void save_inst(tl_ckw *w, const tl_inst *in)
{
    tl_ckw_u8(w, in->state);
    tl_ckw_u8(w, in->capped);
    tl_ckw_u32(w, in->notify_seq);
    tl_ckw_i64(w, in->pending_since);
    tl_ckw_i64(w, in->fired_at);
    tl_ckw_i64(w, in->last_notify);
    tl_ckw_i64(w, in->clear_since);
    tl_ckw_f64(w, in->last_value);
    tl_ckw_i64(w, in->resolved_at);
    tl_ckw_i64(w, in->resolved_sent);
    tl_ckw_u32(w, in->resolved_seq);
}

static void load_inst(tl_ckr *r, tl_inst *in)
{
    memset(in, 0, sizeof *in);
    in->state = tl_ckr_u8(r);
    in->capped = tl_ckr_u8(r);
    in->notify_seq = tl_ckr_u32(r);
    in->pending_since = tl_ckr_i64(r);
    in->fired_at = tl_ckr_i64(r);
    in->last_notify = tl_ckr_i64(r);
    in->clear_since = tl_ckr_i64(r);
    in->last_value = tl_ckr_f64(r);
    in->resolved_at = tl_ckr_i64(r);
    in->resolved_sent = tl_ckr_i64(r);
    in->resolved_seq = tl_ckr_u32(r);
    if (in->state > TL_INST_FIRING)
        tl_ckr_fail(r, "unknown alert state");
}

static void save_series(const tl_shard *s, tl_ckw *w, uint32_t gi, const tl_series_table *t, const tl_series *se)
{
    const tl_program *p = s->prog;
    const tl_group *g = &p->groups[gi];
    tl_ckw_u8(w, 1); /* a series record follows */
    tl_ckw_u32(w, gi);
    tl_ckw_u64(w, se->hash);
    tl_ckw_str(w, tl_series_key(t, se), se->key_len);
    tl_ckw_u8(w, se->overflow);
    tl_ckw_u8(w, se->dirty);
    tl_ckw_i64(w, se->first_ts);
    tl_ckw_i64(w, se->last_ts);
    for (uint32_t i = 0; i < g->nplans; i++) {
        const tl_plan *pl = &p->plans[g->plans[i]];
        tl_window_save(pl, tl_series_at(se, pl->offset), s->pool, s->hll, w);
    }
    for (uint32_t i = 0; i < g->nrules; i++)
        save_inst(w, tl_series_at(se, g->inst_offset + i * (uint32_t)sizeof(tl_inst)));
}

void tl_shard_save(const tl_shard *s, tl_ckw *w)
{
    const tl_program *p = s->prog;
    tl_ckw_i64(w, s->wm);
    tl_ckw_i64(w, s->min_ts);
    tl_ckw_u32(w, p->nrules);
    for (uint32_t r = 0; r < p->nrules; r++)
        tl_ckw_i64(w, s->closed[r]);
    for (uint32_t gi = 0; gi < p->ngroups && !w->err; gi++) {
        const tl_series_table *t = &s->tables[gi];
        for (size_t i = 0; i < t->cap && !w->err; i++)
            if (t->slots[i].s)
                save_series(s, w, gi, t, t->slots[i].s);
        if (t->overflow)
            save_series(s, w, gi, t, t->overflow);
    }
    tl_ckw_u8(w, 0); /* end of this shard's series */
}

/* Read (and drop) a plan the running program no longer has: into a one-slot scratch state. */
static int skip_plan(tl_shard *s, uint8_t kind, tl_ckr *r)
{
    tl_plan pl = {.kind = (tl_plan_kind)kind, .pred = -1, .width_ms = 1, .window_slots = 1, .nslots = 1};
    union {
        tl_planstate st;
        char bytes[sizeof(tl_planstate) + sizeof(tl_mslot)];
    } buf;
    tl_window_init(&pl, &buf.st);
    int rc = tl_window_load(&pl, &buf.st, s->pool, s->hll, r);
    tl_window_fini(&pl, &buf.st, s->pool);
    if (pl.kind == TL_PLAN_DISTINCT)
        tl_window_clear_distinct(&pl, &buf.st, s->hll, INT64_MAX);
    return rc < 0 ? -1 : 0;
}

static int load_series(tl_shard **shards, uint32_t nshards, const tl_ckmap *map, tl_ckr *r, uint64_t *dropped)
{
    uint32_t cg = tl_ckr_u32(r);
    uint64_t hash = tl_ckr_u64(r);
    uint32_t klen;
    const char *key = tl_ckr_str(r, &klen, 1u << 20);
    uint8_t overflow = tl_ckr_u8(r), dirty = tl_ckr_u8(r);
    int64_t first_ts = tl_ckr_i64(r), last_ts = tl_ckr_i64(r);
    if (r->bad)
        return -1;
    if (cg >= map->ngroups)
        return tl_ckr_fail(r, "series of an unknown group");
    int32_t g = map->group[cg];
    tl_shard *s = shards[nshards > 1 ? tl_series_owner(hash, nshards) : 0];
    tl_series *se = NULL;
    tl_series_table *t = g >= 0 ? &s->tables[g] : NULL;
    if (t && overflow) {
        se = tl_series_overflow(t);
    } else if (t) {
        int created;
        se = tl_series_get(t, hash, key, klen, &created);
        if (se && se->overflow) { /* the table is full in this run (a smaller max_series) */
            (*dropped)++;
            se = NULL;
        }
    }
    if (!se && t && !r->bad && (overflow || !tl_series_table_full(t)))
        return -2; /* out of memory */
    if (se) {
        se->first_ts = first_ts;
        se->last_ts = last_ts;
        if (dirty)
            tl_series_mark_dirty(t, se);
    }
    const tl_program *p = s->prog;
    for (uint32_t i = 0; i < map->group_nplans[cg] && !r->bad; i++) {
        uint32_t cp = map->group_plans[cg][i];
        int32_t pid = map->plan[cp];
        if (se && pid >= 0 && p->plans[pid].group == (uint32_t)g) {
            const tl_plan *pl = &p->plans[pid];
            if (tl_window_load(pl, tl_series_at(se, pl->offset), s->pool, s->hll, r) == 1)
                (*dropped)++;
        } else if (skip_plan(s, map->plan_kind[cp], r) < 0) {
            return -1;
        }
    }
    for (uint32_t i = 0; i < map->group_nrules[cg] && !r->bad; i++) {
        tl_inst in;
        load_inst(r, &in);
        int32_t rid = map->rule[map->group_rules[cg][i]];
        if (!se || rid < 0 || p->rules[rid].group != (uint32_t)g || r->bad)
            continue;
        const tl_group *grp = &p->groups[g];
        tl_inst *dst = tl_series_at(se, grp->inst_offset + p->rules[rid].index_in_group * (uint32_t)sizeof(tl_inst));
        *dst = in;
        if (in.state != TL_INST_INACTIVE) {
            se->nactive++;
            s->active[rid]++;
        }
    }
    return r->bad ? -1 : 0;
}

int tl_shard_load(tl_shard **shards, uint32_t nshards, const tl_ckmap *map, tl_ckr *r, uint64_t *dropped)
{
    const tl_program *p = shards[0]->prog;
    int64_t wm = tl_ckr_i64(r), min_ts = tl_ckr_i64(r);
    uint32_t nr = tl_ckr_u32(r);
    if (!r->bad && nr != map->nrules)
        return tl_ckr_fail(r, "rule count differs from the checkpoint's program");
    for (uint32_t k = 0; k < nshards; k++) {
        tl_shard *s = shards[k];
        if (!s->restored && !(s->restored = tl_calloc(p->nrules ? p->nrules : 1, 1)))
            return -2;
        if (min_ts < s->min_ts)
            s->min_ts = min_ts;
        if (wm > s->wm)
            s->wm = wm;
    }
    for (uint32_t cr = 0; cr < nr && !r->bad; cr++) {
        int64_t closed = tl_ckr_i64(r);
        int32_t rid = map->rule[cr];
        for (uint32_t k = 0; rid >= 0 && k < nshards; k++) {
            tl_shard *s = shards[k];
            if (!s->restored[rid] || closed < s->closed[rid])
                s->closed[rid] = closed;
            s->restored[rid] = 1;
        }
    }
    while (!r->bad) {
        uint8_t more = tl_ckr_u8(r);
        if (r->bad || !more)
            break;
        if (more != 1)
            return tl_ckr_fail(r, "bad series marker");
        int rc = load_series(shards, nshards, map, r, dropped);
        if (rc < 0)
            return rc;
    }
    return r->bad ? -1 : 0;
}

void tl_shard_restore_done(tl_shard *s, int64_t wm)
{
    const tl_program *p = s->prog;
    int64_t at = s->wm > wm ? s->wm : wm;
    s->wm = INT64_MIN;
    if (at != INT64_MIN)
        tl_shard_set_watermark(s, at);
    for (uint32_t r = 0; r < p->nrules; r++)
        if ((!s->restored || !s->restored[r]) && at != INT64_MIN)
            s->closed[r] = tl_epoch(at, p->rules[r].width_ms) - 1; /* a new rule starts now */
    tl_free(s->restored);
    s->restored = NULL;
}
