/* engine/traces.c - per-trace state and what it concludes (see traces.h).
 *
 * Records live in one array allocated at creation (max_traces of them) with a free list; an
 * open-addressing index of record numbers finds them by trace id. Closing a trace frees its
 * record, so the table holds only open traces. Strings a synthesised event needs later (ids,
 * service, versions, tool names) are copied into the record, truncated to fixed sizes.
 */
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
/* inlined: a trace id hash per event */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "alloc.h"
#include "ckio.h"
#include "filter.h"
#include "traces.h"

#define ID_MAX 64
#define STR_MAX 64
#define TOOL_MAX 48
#define MAX_SEQS TL_MAX_SEQ_RULES
#define NONE UINT32_MAX

typedef struct sstr {
    uint8_t n;
    char s[STR_MAX];
} sstr;

typedef struct trec {
    uint64_t hash;
    uint32_t next_free;
    uint32_t prev, next; /* recency list: least recently updated first (expiry order) */
    uint8_t used;
    uint8_t id_len;
    uint8_t ntools;
    int64_t first_ts, last_ts;
    uint32_t events, llm_calls, tool_calls, errors;
    double tokens, cost;
    uint8_t seq_step[MAX_SEQS];
    uint8_t seq_done[MAX_SEQS];
    int64_t seq_at[MAX_SEQS];
    /* Text from here on is read only up to its length (id_len, the sstr lengths, ntools), so a
     * record taken for a new trace clears what is above and the three lengths, not these
     * 1,000 bytes (tl_traces_observe). */
    char id[ID_MAX];
    sstr service, prompt_version, model_version;
    uint8_t tool_len[TL_COMBO_MAX_TOOLS];
    char tool[TL_COMBO_MAX_TOOLS][TOOL_MAX];
} trec;

/* Learned combinations: tool pairs seen together, with when they were last seen. Fixed size;
 * when full, new pairs are not learned (counted). */
#define PAIRS_CAP 4096
typedef struct pairset {
    uint64_t key[PAIRS_CAP]; /* 0 = empty */
    int64_t seen[PAIRS_CAP];
    int64_t since;           /* first trace this rule looked at: the warm-up starts here */
    uint32_t n;
} pairset;

struct tl_traces {
    const tl_program *prog;
    trec *recs;
    uint32_t nrecs, free_head;
    uint32_t fresh;   /* records never used are fresh .. nrecs-1 (their pages untouched) */
    uint32_t *index;  /* record numbers, NONE = empty */
    uint32_t lru_head, lru_tail;
    size_t cap;       /* power of two, at least twice the open traces; grows up to max_cap */
    size_t max_cap;   /* power of two >= 2 * nrecs */
    tl_filter_ctx fc;
    tl_traces_stats st;
    char tools_buf[TL_COMBO_MAX_TOOLS * (TOOL_MAX + 1) + 1];
    pairset *pairs; /* one per combination rule (learned rules only use theirs) */
};

tl_traces *tl_traces_new(const tl_program *prog, uint32_t max_traces)
{
    tl_traces *t = tl_calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->prog = prog;
    t->nrecs = max_traces ? max_traces : 1;
    /* The index starts small and doubles with the open traces: a few hundred are open at a
     * time in a busy fleet, and an index sized for the maximum (1 MiB at 100,000) makes
     * every lookup a cache miss. Records are handed out fresh or from the free list (most
     * recently freed first), so the ones in use stay few and warm, and the pages of records
     * never needed are never touched. */
    t->max_cap = 16;
    while (t->max_cap < (size_t)t->nrecs * 2)
        t->max_cap *= 2;
    t->cap = t->max_cap < 4096 ? t->max_cap : 4096;
    t->recs = tl_calloc(t->nrecs, sizeof *t->recs);
    t->index = tl_malloc(t->cap * sizeof *t->index);
    t->pairs = prog->ncombos ? tl_calloc(prog->ncombos, sizeof *t->pairs) : NULL;
    if (!t->recs || !t->index || (prog->ncombos && !t->pairs) || tl_filter_ctx_init(&t->fc, prog) < 0) {
        tl_traces_destroy(t);
        return NULL;
    }
    for (size_t i = 0; i < t->cap; i++)
        t->index[i] = NONE;
    t->free_head = NONE;
    t->fresh = 0;
    t->lru_head = t->lru_tail = NONE;
    return t;
}

void tl_traces_destroy(tl_traces *t)
{
    if (!t)
        return;
    tl_filter_ctx_fini(&t->fc);
    tl_free(t->recs);
    tl_free(t->index);
    tl_free(t->pairs);
    tl_free(t);
}

void tl_traces_stats_get(const tl_traces *t, tl_traces_stats *out) { *out = t->st; }

static void sstr_set(sstr *d, tl_str s)
{
    uint32_t n = s.n < STR_MAX ? s.n : STR_MAX;
    while (n < s.n && n > 0 && ((unsigned char)s.p[n] & 0xC0) == 0x80)
        n--; /* whole UTF-8 characters only */
    memcpy(d->s, s.p, n);
    d->n = (uint8_t)n;
}

static void lru_unlink(tl_traces *t, uint32_t rn)
{
    trec *r = &t->recs[rn];
    if (r->prev != NONE)
        t->recs[r->prev].next = r->next;
    else
        t->lru_head = r->next;
    if (r->next != NONE)
        t->recs[r->next].prev = r->prev;
    else
        t->lru_tail = r->prev;
    r->prev = r->next = NONE;
}

static void lru_append(tl_traces *t, uint32_t rn)
{
    trec *r = &t->recs[rn];
    r->prev = t->lru_tail;
    r->next = NONE;
    if (t->lru_tail != NONE)
        t->recs[t->lru_tail].next = rn;
    else
        t->lru_head = rn;
    t->lru_tail = rn;
}

/* Double the index (rehashing the open traces). -1 on OOM: the old one stays. */
static int grow_index(tl_traces *t)
{
    size_t ncap = t->cap * 2, mask = ncap - 1;
    uint32_t *ni = tl_malloc(ncap * sizeof *ni);
    if (!ni)
        return -1;
    for (size_t i = 0; i < ncap; i++)
        ni[i] = NONE;
    for (size_t i = 0; i < t->cap; i++) {
        uint32_t rn = t->index[i];
        if (rn == NONE)
            continue;
        size_t j = t->recs[rn].hash & mask;
        while (ni[j] != NONE)
            j = (j + 1) & mask;
        ni[j] = rn;
    }
    tl_free(t->index);
    t->index = ni;
    t->cap = ncap;
    return 0;
}

static size_t find_slot(const tl_traces *t, uint64_t hash, tl_str id, int *found)
{
    size_t mask = t->cap - 1, i = hash & mask;
    for (; t->index[i] != NONE; i = (i + 1) & mask) {
        const trec *r = &t->recs[t->index[i]];
        if (r->hash == hash && r->id_len == (id.n < ID_MAX ? id.n : ID_MAX) &&
            tl_bytes_eq(r->id, id.p, r->id_len)) {
            *found = 1;
            return i;
        }
    }
    *found = 0;
    return i;
}

static void remove_slot(tl_traces *t, size_t i)
{
    uint32_t rn = t->index[i];
    size_t mask = t->cap - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        uint32_t x = t->index[j];
        if (x == NONE)
            break;
        size_t home = t->recs[x].hash & mask;
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            t->index[i] = x;
            i = j;
        }
    }
    t->index[i] = NONE;
    lru_unlink(t, rn);
    t->recs[rn].used = 0;
    t->recs[rn].next_free = t->free_head;
    t->free_head = rn;
    t->st.open--;
}

/* attributes.tools: the tool names, sorted (bytewise, as strcmp orders them, each name read
 * up to a NUL), comma-separated. Built for every trace that closes with a combination rule in
 * the pack, so it is an insertion sort and copies, not qsort and snprintf. */
static tl_str tools_text(tl_traces *t, const trec *r)
{
    uint8_t ord[TL_COMBO_MAX_TOOLS], len[TL_COMBO_MAX_TOOLS];
    for (uint8_t i = 0; i < r->ntools; i++) {
        len[i] = (uint8_t)strnlen(r->tool[i], r->tool_len[i]);
        uint8_t j = i;
        for (; j > 0; j--) {
            uint8_t q = ord[j - 1], m = len[i] < len[q] ? len[i] : len[q];
            int c = memcmp(r->tool[i], r->tool[q], m);
            if (c > 0 || (c == 0 && len[i] >= len[q]))
                break;
            ord[j] = q;
        }
        ord[j] = i;
    }
    size_t o = 0;
    for (uint8_t i = 0; i < r->ntools; i++) {
        uint8_t q = ord[i];
        if (o + 1 + len[q] >= sizeof t->tools_buf)
            break;
        if (i)
            t->tools_buf[o++] = ',';
        memcpy(t->tools_buf + o, r->tool[q], len[q]);
        o += len[q];
    }
    return tl_str_make(t->tools_buf, o);
}

static void base_event(tl_event *ev, const trec *r, int64_t ts, const char *kind)
{
    tl_event_reset(ev);
    ev->ts_ms = ts;
    tl_event_set_str(ev, TL_S_TRACE_ID, r->id, r->id_len);
    tl_event_set_str(ev, TL_S_KIND, kind, (uint32_t)strlen(kind));
    if (r->service.n)
        tl_event_set_str(ev, TL_S_SERVICE, r->service.s, r->service.n);
    if (r->prompt_version.n)
        tl_event_set_str(ev, TL_S_PROMPT_VERSION, r->prompt_version.s, r->prompt_version.n);
    if (r->model_version.n)
        tl_event_set_str(ev, TL_S_MODEL_VERSION, r->model_version.s, r->model_version.n);
}

static int tool_in_set(const tl_comborule *cr, uint32_t set, const char *name, uint8_t len)
{
    for (uint32_t k = 0; k < cr->nset_tools[set]; k++)
        if (strlen(cr->set_tools[set][k]) == len && memcmp(cr->set_tools[set][k], name, len) == 0)
            return 1;
    return 0;
}

static uint64_t pair_key(const trec *r, uint8_t a, uint8_t b)
{
    /* order-independent: hash of the two names sorted */
    int ab = r->tool_len[a] < r->tool_len[b] ||
             (r->tool_len[a] == r->tool_len[b] && memcmp(r->tool[a], r->tool[b], r->tool_len[a]) < 0);
    uint8_t x = ab ? a : b, y = ab ? b : a;
    char buf[2 * TOOL_MAX + 1];
    memcpy(buf, r->tool[x], r->tool_len[x]);
    buf[r->tool_len[x]] = '\0';
    memcpy(buf + r->tool_len[x] + 1, r->tool[y], r->tool_len[y]);
    uint64_t k = XXH3_64bits(buf, (size_t)r->tool_len[x] + 1 + r->tool_len[y]);
    return k ? k : 1;
}

static size_t pair_slot(const pairset *ps, uint64_t k)
{
    size_t i = k & (PAIRS_CAP - 1);
    while (ps->key[i] && ps->key[i] != k)
        i = (i + 1) & (PAIRS_CAP - 1);
    return i;
}

/* Learned: are all the trace's tool pairs known from the last learn_ms? Then remember them. */
static int combination_learned(pairset *ps, const tl_comborule *cr, const trec *r, int64_t ts, tl_traces_stats *st)
{
    if (ps->since == 0 && ps->n == 0)
        ps->since = ts;
    int warm = ts - ps->since >= cr->learn_ms, ok = 1;
    for (uint8_t a = 0; a < r->ntools; a++) {
        for (uint8_t b = (uint8_t)(a + 1); b < r->ntools; b++) {
            uint64_t k = pair_key(r, a, b);
            size_t i = pair_slot(ps, k);
            if (!ps->key[i] || ts - ps->seen[i] > cr->learn_ms)
                ok = ok && !warm;
            if (!ps->key[i]) {
                if (ps->n >= PAIRS_CAP * 3 / 4) {
                    st->untracked++;
                    continue;
                }
                ps->key[i] = k;
                ps->n++;
            }
            ps->seen[i] = ts;
        }
    }
    return ok;
}

/* Does the trace's tool set fit inside one allowed set? */
static int combination_allowed(const tl_comborule *cr, const trec *r)
{
    if (r->ntools < 2)
        return 1; /* a single tool is not a combination */
    for (uint32_t s = 0; s < cr->nsets; s++) {
        uint8_t i;
        for (i = 0; i < r->ntools && tool_in_set(cr, s, r->tool[i], r->tool_len[i]); i++)
            ;
        if (i == r->ntools)
            return 1;
    }
    return 0;
}

static void close_trace(tl_traces *t, size_t slot, int64_t ts, tl_traces_emit_fn emit, void *ctx)
{
    trec *r = &t->recs[t->index[slot]];
    tl_event ev;
    base_event(&ev, r, ts, "trace");
    tl_event_set_str(&ev, TL_S_STATUS, r->errors ? "error" : "ok", r->errors ? 5 : 2);
    double vals[TL_T__COUNT] = {
        [TL_T_EVENTS] = r->events,        [TL_T_LLM_CALLS] = r->llm_calls,
        [TL_T_TOOL_CALLS] = r->tool_calls, [TL_T_TOKENS] = r->tokens,
        [TL_T_COST_USD] = r->cost,        [TL_T_DURATION_MS] = (double)(r->last_ts - r->first_ts),
        [TL_T_ERRORS] = r->errors,
    };
    memcpy(ev.tnum, vals, sizeof vals);
    ev.tnum_present = (1u << TL_T__COUNT) - 1;
    tl_str tools = tools_text(t, r);
    ev.attr_key[0] = TL_STR_LIT("tools");
    ev.attr_val[0] = tools;
    ev.n_attrs = 1;
    const tl_program *p = t->prog;
    if (p->ncombos)
        tl_filter_eval(&t->fc, &ev);
    int bad[TL_MAX_COMBO_RULES] = {0};
    for (uint32_t i = 0; i < p->ncombos; i++) {
        const tl_comborule *cr = &p->combos[i];
        if (cr->filter >= 0 && !tl_filter_bit(t->fc.bits, (uint32_t)cr->filter))
            continue;
        bad[i] = cr->learn_ms ? !combination_learned(&t->pairs[i], cr, r, ts, &t->st) : !combination_allowed(cr, r);
    }
    emit(ctx, &ev);
    t->st.closed++;
    for (uint32_t i = 0; i < p->ncombos; i++) {
        if (!bad[i])
            continue;
        base_event(&ev, r, ts, "tool_combination");
        ev.attr_key[0] = TL_STR_LIT("rule");
        ev.attr_val[0] = tl_str_c(p->combos[i].name);
        ev.attr_key[1] = TL_STR_LIT("tools");
        ev.attr_val[1] = tools;
        ev.n_attrs = 2;
        emit(ctx, &ev);
        t->st.combinations++;
    }
    remove_slot(t, slot);
}

static int is_synthetic(tl_str kind)
{
    return tl_str_eq_c(kind, "trace") || tl_str_eq_c(kind, "sequence") || tl_str_eq_c(kind, "tool_combination");
}

/* Take a record for a new trace (hash, id) at index slot *slot (from find_slot, not found);
 * *slot may move when the index grows. -1 (counted as untracked) when the table is full. */
static inline int open_trace(tl_traces *t, uint64_t hash, tl_str id, int64_t ts, size_t *slot)
{
    if (t->free_head == NONE && t->fresh == t->nrecs) {
        t->st.untracked++;
        return -1;
    }
    if ((t->st.open + 1) * 2 > t->cap && t->cap < t->max_cap) {
        int found;
        if (grow_index(t) == 0)
            *slot = find_slot(t, hash, id, &found);
        else if (t->st.open + 1 >= t->cap) { /* out of memory and no room to probe */
            t->st.untracked++;
            return -1;
        }
    }
    uint32_t rn;
    if (t->free_head != NONE) {
        rn = t->free_head;
        t->free_head = t->recs[rn].next_free;
    } else {
        rn = t->fresh++;
    }
    trec *r = &t->recs[rn];
    memset(r, 0, offsetof(trec, id));
    r->service.n = r->prompt_version.n = r->model_version.n = 0;
    r->used = 1;
    r->hash = hash;
    r->id_len = (uint8_t)(id.n < ID_MAX ? id.n : ID_MAX);
    memcpy(r->id, id.p, r->id_len);
    r->first_ts = r->last_ts = ts;
    r->prev = r->next = NONE;
    t->index[*slot] = rn;
    t->st.open++;
    lru_append(t, rn);
    return 0;
}

void tl_traces_observe(tl_traces *t, const tl_event *ev, const uint64_t *fbits, tl_traces_emit_fn emit, void *ctx)
{
    if (!(ev->str_present & (1u << TL_S_TRACE_ID)) || ev->str[TL_S_TRACE_ID].n == 0)
        return;
    tl_str kind = (ev->str_present & (1u << TL_S_KIND)) ? ev->str[TL_S_KIND] : (tl_str){"", 0};
    if (is_synthetic(kind))
        return;
    tl_str id = ev->str[TL_S_TRACE_ID];
    uint64_t hash = XXH3_64bits(id.p, id.n < ID_MAX ? id.n : ID_MAX);
    int found;
    size_t slot = find_slot(t, hash, id, &found);
    if (!found) {
        if (open_trace(t, hash, id, ev->ts_ms, &slot) < 0)
            return;
    } else if (t->lru_tail != t->index[slot]) {
        lru_unlink(t, t->index[slot]);
        lru_append(t, t->index[slot]);
    }
    trec *r = &t->recs[t->index[slot]];
    r->events++;
    if (ev->ts_ms < r->first_ts)
        r->first_ts = ev->ts_ms;
    if (ev->ts_ms > r->last_ts)
        r->last_ts = ev->ts_ms;
    if (tl_str_eq_c(kind, "llm_call"))
        r->llm_calls++;
    if (tl_str_eq_c(kind, "tool_call")) {
        r->tool_calls++;
        if (ev->str_present & (1u << TL_S_TOOL)) {
            tl_str tool = ev->str[TL_S_TOOL];
            uint8_t n = (uint8_t)(tool.n < TOOL_MAX ? tool.n : TOOL_MAX);
            uint8_t i;
            for (i = 0; i < r->ntools && !(r->tool_len[i] == n && memcmp(r->tool[i], tool.p, n) == 0); i++)
                ;
            if (i == r->ntools && r->ntools < TL_COMBO_MAX_TOOLS) {
                memcpy(r->tool[i], tool.p, n);
                r->tool_len[i] = n;
                r->ntools++;
            }
        }
    }
    if ((ev->str_present & (1u << TL_S_STATUS)) && !tl_str_eq_c(ev->str[TL_S_STATUS], "ok"))
        r->errors++;
    double v;
    if (tl_event_num(ev, TL_N_TOKENS, &v))
        r->tokens += v;
    if (tl_event_num(ev, TL_N_COST_USD, &v))
        r->cost += v;
    if (!r->service.n && (ev->str_present & (1u << TL_S_SERVICE)))
        sstr_set(&r->service, ev->str[TL_S_SERVICE]);
    if (!r->prompt_version.n && (ev->str_present & (1u << TL_S_PROMPT_VERSION)))
        sstr_set(&r->prompt_version, ev->str[TL_S_PROMPT_VERSION]);
    if (!r->model_version.n && (ev->str_present & (1u << TL_S_MODEL_VERSION)))
        sstr_set(&r->model_version, ev->str[TL_S_MODEL_VERSION]);

    /* sequences: each step must match within `within` of the previous one */
    const tl_program *p = t->prog;
    uint32_t done_now[MAX_SEQS], ndone = 0;
    for (uint32_t i = 0; i < p->nseqs; i++) {
        const tl_seqrule *sq = &p->seqs[i];
        if (r->seq_done[i])
            continue;
        if (r->seq_step[i] > 0 && ev->ts_ms - r->seq_at[i] > sq->within_ms)
            r->seq_step[i] = 0; /* too late for the next step: start over */
        uint8_t step = r->seq_step[i];
        if (tl_filter_bit(fbits, sq->steps[step])) {
            r->seq_step[i] = (uint8_t)(step + 1);
            r->seq_at[i] = ev->ts_ms;
            if (r->seq_step[i] == sq->nsteps) {
                r->seq_done[i] = 1;
                done_now[ndone++] = i;
            }
        }
    }
    for (uint32_t k = 0; k < ndone; k++) {
        tl_event se;
        base_event(&se, r, ev->ts_ms, "sequence");
        if (ev->str_present & (1u << TL_S_SERVICE))
            tl_event_set_str(&se, TL_S_SERVICE, ev->str[TL_S_SERVICE].p, ev->str[TL_S_SERVICE].n);
        se.attr_key[0] = TL_STR_LIT("rule");
        se.attr_val[0] = tl_str_c(p->seqs[done_now[k]].name);
        se.n_attrs = 1;
        emit(ctx, &se);
        t->st.sequences++;
    }

    /* the root request closes the trace: it reports the whole trace */
    if (tl_str_eq_c(kind, "request") && !(ev->str_present & (1u << TL_S_PARENT_SPAN_ID) && ev->str[TL_S_PARENT_SPAN_ID].n))
        close_trace(t, slot, ev->ts_ms, emit, ctx);
}

void tl_traces_expire(tl_traces *t, int64_t wm, tl_traces_emit_fn emit, void *ctx)
{
    if (wm == INT64_MIN || !t->st.open)
        return;
    /* Traces are kept in the order they were last updated, which follows event time closely
     * enough: expire from the front while the front trace has been idle long enough, so the
     * cost is per closed trace, not per open one. A trace updated out of order (a late event)
     * merely waits behind newer ones. */
    int64_t idle = t->prog->trace_idle_ms;
    while (t->lru_head != NONE) {
        const trec *r = &t->recs[t->lru_head];
        if (r->last_ts + idle > wm)
            break;
        int found;
        size_t slot = find_slot(t, r->hash, tl_str_make(r->id, r->id_len), &found);
        if (!found)
            break; /* cannot happen: every listed record is indexed */
        close_trace(t, slot, r->last_ts + idle, emit, ctx);
    }
}

/* ---- checkpoints --------------------------------------------------------------------------- */

static void save_sstr(tl_ckw *w, const sstr *x) { tl_ckw_str(w, x->s, x->n); }

static void load_sstr(tl_ckr *r, sstr *x)
{
    uint32_t n;
    const char *p = tl_ckr_str(r, &n, STR_MAX);
    memcpy(x->s, p, n);
    x->n = (uint8_t)n;
}

void tl_traces_save(const tl_traces *t, tl_ckw *w)
{
    const tl_program *p = t->prog;
    tl_ckw_u32(w, p->nseqs);
    for (uint32_t i = 0; i < p->nseqs; i++) {
        tl_ckw_cstr(w, p->seqs[i].name);
        tl_ckw_u32(w, p->seqs[i].nsteps);
    }
    tl_ckw_u32(w, p->ncombos);
    for (uint32_t i = 0; i < p->ncombos; i++) {
        const pairset *ps = &t->pairs[i];
        tl_ckw_cstr(w, p->combos[i].name);
        tl_ckw_i64(w, ps->since);
        tl_ckw_u32(w, ps->n);
        for (uint32_t k = 0; k < PAIRS_CAP; k++)
            if (ps->key[k]) {
                tl_ckw_u64(w, ps->key[k]);
                tl_ckw_i64(w, ps->seen[k]);
            }
    }
    tl_ckw_u32(w, t->st.open);
    for (uint32_t rn = t->lru_head; rn != NONE; rn = t->recs[rn].next) { /* oldest first */
        const trec *r = &t->recs[rn];
        tl_ckw_str(w, r->id, r->id_len);
        tl_ckw_i64(w, r->first_ts);
        tl_ckw_i64(w, r->last_ts);
        tl_ckw_u32(w, r->events);
        tl_ckw_u32(w, r->llm_calls);
        tl_ckw_u32(w, r->tool_calls);
        tl_ckw_u32(w, r->errors);
        tl_ckw_f64(w, r->tokens);
        tl_ckw_f64(w, r->cost);
        save_sstr(w, &r->service);
        save_sstr(w, &r->prompt_version);
        save_sstr(w, &r->model_version);
        tl_ckw_u8(w, r->ntools);
        for (uint32_t i = 0; i < r->ntools; i++)
            tl_ckw_str(w, r->tool[i], r->tool_len[i]);
        for (uint32_t i = 0; i < p->nseqs; i++) {
            tl_ckw_u8(w, r->seq_step[i]);
            tl_ckw_u8(w, r->seq_done[i]);
            tl_ckw_i64(w, r->seq_at[i]);
        }
    }
}

int tl_traces_load(tl_traces *t, tl_ckr *r)
{
    const tl_program *p = t->prog;
    /* checkpoint sequence i -> running sequence (by name and step count), -1: gone */
    uint32_t nseq = tl_ckr_u32(r);
    if (nseq > TL_MAX_SEQ_RULES)
        return tl_ckr_fail(r, "more sequence rules than a program holds");
    int32_t seqmap[TL_MAX_SEQ_RULES];
    for (uint32_t i = 0; i < nseq; i++) {
        uint32_t n;
        const char *name = tl_ckr_str(r, &n, 4096);
        uint32_t steps = tl_ckr_u32(r);
        seqmap[i] = -1;
        for (uint32_t k = 0; k < p->nseqs && !r->bad; k++)
            if (strlen(p->seqs[k].name) == n && memcmp(p->seqs[k].name, name, n) == 0 && p->seqs[k].nsteps == steps)
                seqmap[i] = (int32_t)k;
    }
    uint32_t ncombo = tl_ckr_u32(r);
    for (uint32_t i = 0; i < ncombo && !r->bad; i++) {
        uint32_t n;
        const char *name = tl_ckr_str(r, &n, 4096);
        int64_t since = tl_ckr_i64(r);
        uint32_t np = tl_ckr_u32(r);
        if (np > PAIRS_CAP)
            return tl_ckr_fail(r, "more learned pairs than a set holds");
        pairset *ps = NULL;
        for (uint32_t k = 0; k < p->ncombos && !r->bad; k++)
            if (strlen(p->combos[k].name) == n && memcmp(p->combos[k].name, name, n) == 0)
                ps = &t->pairs[k];
        if (ps) {
            memset(ps, 0, sizeof *ps);
            ps->since = since;
            ps->n = np;
        }
        for (uint32_t k = 0; k < np && !r->bad; k++) {
            uint64_t key = tl_ckr_u64(r);
            int64_t seen = tl_ckr_i64(r);
            if (ps && key) {
                size_t j = pair_slot(ps, key);
                ps->key[j] = key;
                ps->seen[j] = seen;
            }
        }
    }
    uint32_t open = tl_ckr_u32(r);
    for (uint32_t k = 0; k < open && !r->bad; k++) {
        uint32_t idn;
        const char *idp = tl_ckr_str(r, &idn, ID_MAX);
        tl_str id = {idp, idn};
        int64_t first = tl_ckr_i64(r), last = tl_ckr_i64(r);
        trec tmp;
        memset(&tmp, 0, offsetof(trec, id));
        tmp.events = tl_ckr_u32(r);
        tmp.llm_calls = tl_ckr_u32(r);
        tmp.tool_calls = tl_ckr_u32(r);
        tmp.errors = tl_ckr_u32(r);
        tmp.tokens = tl_ckr_f64(r);
        tmp.cost = tl_ckr_f64(r);
        load_sstr(r, &tmp.service);
        load_sstr(r, &tmp.prompt_version);
        load_sstr(r, &tmp.model_version);
        tmp.ntools = tl_ckr_u8(r);
        if (tmp.ntools > TL_COMBO_MAX_TOOLS)
            return tl_ckr_fail(r, "more tools than a trace keeps");
        for (uint32_t i = 0; i < tmp.ntools; i++) {
            uint32_t n;
            const char *tool = tl_ckr_str(r, &n, TOOL_MAX);
            memcpy(tmp.tool[i], tool, n);
            tmp.tool_len[i] = (uint8_t)n;
        }
        for (uint32_t i = 0; i < nseq; i++) {
            uint8_t step = tl_ckr_u8(r), done = tl_ckr_u8(r);
            int64_t at = tl_ckr_i64(r);
            if (seqmap[i] >= 0) {
                tmp.seq_step[seqmap[i]] = step;
                tmp.seq_done[seqmap[i]] = done;
                tmp.seq_at[seqmap[i]] = at;
            }
        }
        if (r->bad)
            break;
        uint64_t hash = XXH3_64bits(id.p, id.n);
        int found;
        size_t slot = find_slot(t, hash, id, &found);
        if (found || open_trace(t, hash, id, first, &slot) < 0)
            continue; /* a duplicate id (cannot happen in a valid file) or a full table */
        trec *rec = &t->recs[t->index[slot]];
        uint32_t prev = rec->prev, next = rec->next;
        memcpy(&rec->first_ts, &tmp.first_ts, offsetof(trec, id) - offsetof(trec, first_ts));
        rec->first_ts = first;
        rec->last_ts = last;
        rec->ntools = tmp.ntools;
        rec->prev = prev;
        rec->next = next;
        rec->service = tmp.service;
        rec->prompt_version = tmp.prompt_version;
        rec->model_version = tmp.model_version;
        memcpy(rec->tool_len, tmp.tool_len, sizeof tmp.tool_len);
        for (uint32_t i = 0; i < tmp.ntools; i++)
            memcpy(rec->tool[i], tmp.tool[i], tmp.tool_len[i]);
    }
    return r->bad ? -1 : 0;
}
