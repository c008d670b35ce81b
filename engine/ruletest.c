/* engine/ruletest.c - parse and run rule test files (see ruletest.h for the format).
 *
 * Layout: an event line is parsed once into a schedule plus lists of field assignments (the
 * base SPEC and each `, P% ...` clause). Lines are expanded into compact records
 * (time, line, which clauses apply) and sorted; a tl_event is built from its record only when
 * it is folded, so a test with millions of events costs 24 bytes per event, not 3 KB.
 * The run drives the real router and shard (route.h, shard.h) exactly as a worker does, with
 * the watermark moved by the test instead of by Kafka partitions.
 */
#include "ruletest.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "route.h"
#include "traces.h"
#include "shard.h"
#include "timefmt.h"
#include "yamldoc.h"

#define DEFAULT_START_MS 1767225600000LL /* 2026-01-01T00:00:00Z */

/* ---- parsed event lines -------------------------------------------------------------- */

typedef enum asg_kind { ASG_STR, ASG_NUM, ASG_FLAGS, ASG_ATTR } asg_kind;

typedef struct asg {
    asg_kind kind;
    int field;  /* ASG_STR, ASG_NUM */
    char *key;  /* ASG_ATTR */
    char *val;  /* unquoted value; ASG_FLAGS: "a,b" */
    double num; /* ASG_NUM */
} asg;

typedef struct clause {
    double frac; /* 0..1 */
    asg *a;
    uint32_t n, cap;
} clause;

typedef struct evline {
    int64_t from, to, step; /* offsets; one event when step == 0 */
    clause base;            /* frac unused */
    clause cl[TL_RULETEST_MAX_CLAUSES];
    uint32_t ncl;
} evline;

typedef struct rec {
    int64_t ts; /* absolute event time */
    uint32_t line;
    uint32_t mask; /* bit i: clause i applies */
    uint64_t seq;  /* generation order, to keep the sort stable */
} rec;

/* ---- expectations and tests ------------------------------------------------------------ */

typedef enum exp_state { EXP_FIRING, EXP_RESOLVED, EXP_INACTIVE } exp_state;

typedef struct expect {
    uint32_t line, col;
    int64_t at; /* offset */
    char *alert;
    exp_state state;
    uint32_t nl;
    char **lk, **lv;
    int has_value, has_tol;
    double value, tol;
    int has_resend;
    uint32_t resend; /* the latest event must be this re-send of the resolved notification */
} expect;

typedef struct rtest {
    char *name;
    uint32_t line, col;
    int64_t eval, until; /* offsets */
    int64_t resend_for, resend_every; /* re-sends of resolved notifications (0: off, the default) */
    evline *lines;
    uint32_t nlines;
    rec *recs;
    size_t nrecs;
    expect *ex;
    uint32_t nex;
} rtest;

/* One recorded alert event. */
typedef struct seen {
    const char *rule; /* owned by the program */
    tl_alert_state state;
    int64_t ts, emitted_wm;
    double value;
    uint32_t resend;
    char fp[17];
    char *labels; /* "k\0v\0k\0v\0" */
    uint32_t nl;
} seen;

struct tl_ruletest_file {
    char *path;
    int64_t start;
    tl_program *prog;
    rtest *tests;
    uint32_t ntests;
};

/* ---- errors ---------------------------------------------------------------------------- */

typedef struct pctx {
    tl_rules_errors *errs;
    const tl_ydoc *doc;
} pctx;

static void add_error(tl_rules_errors *e, const char *msg)
{
    e->count++;
    tl_rules_errors_append(e, msg);
}

static int err_at(pctx *c, const tl_ynode *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int err_at(pctx *c, const tl_ynode *n, const char *fmt, ...)
{
    char msg[600], full[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s:%u:%u: %s", c->doc->path, n ? n->line : 1, n ? n->col : 1, msg);
    add_error(c->errs, full);
    return -1;
}

/* An error from a typed yamldoc reader (already positioned). */
static int err_raw(pctx *c, const char *msg)
{
    add_error(c->errs, msg);
    return -1;
}

/* ---- event notation ---------------------------------------------------------------------- */

typedef struct lparse {
    const char *s;
    size_t len, p;
    size_t err_off;
    char *err;
    size_t errcap;
} lparse;

static int lerr(lparse *lp, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int lerr(lparse *lp, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lp->err, lp->errcap, fmt, ap);
    va_end(ap);
    lp->err_off = off;
    return -1;
}

static int is_sp(char ch) { return ch == ' ' || ch == '\t'; }

static void skip_sp(lparse *lp)
{
    while (lp->p < lp->len && is_sp(lp->s[lp->p]))
        lp->p++;
}

/* A word of the header: up to a space or ':'. */
static size_t header_word(lparse *lp, size_t *start)
{
    skip_sp(lp);
    *start = lp->p;
    while (lp->p < lp->len && !is_sp(lp->s[lp->p]) && lp->s[lp->p] != ':')
        lp->p++;
    return lp->p - *start;
}

static int header_duration(lparse *lp, const char *after, int64_t *out)
{
    size_t st, n = header_word(lp, &st);
    if (!n)
        return lerr(lp, st, "expected a duration after '%s'", after);
    size_t ecol = 0;
    if (tl_duration_parse(lp->s + st, n, out, &ecol) < 0)
        return lerr(lp, st + (ecol < n ? ecol : 0), "invalid duration '%.*s' after '%s'", (int)n, lp->s + st,
                    after);
    return 0;
}

static int word_is(const lparse *lp, size_t st, size_t n, const char *w)
{
    return n == strlen(w) && memcmp(lp->s + st, w, n) == 0;
}

/* `at D` or `every D (for L [from T] | from T1 to T2 | ...)`, then ':'. */
static int parse_header(lparse *lp, evline *l)
{
    size_t st, n = header_word(lp, &st);
    if (word_is(lp, st, n, "at")) {
        if (header_duration(lp, "at", &l->from))
            return -1;
        l->to = l->from + 1;
        l->step = 0;
    } else if (word_is(lp, st, n, "every")) {
        if (header_duration(lp, "every", &l->step))
            return -1;
        if (l->step <= 0)
            return lerr(lp, st, "'every' needs a positive interval");
        int64_t len = -1, from = -1, to = -1;
        size_t len_at = 0, to_at = 0;
        for (;;) {
            size_t kst, kn = header_word(lp, &kst);
            if (kn == 0)
                break;
            int64_t *slot = word_is(lp, kst, kn, "for") ? &len : word_is(lp, kst, kn, "from") ? &from
                          : word_is(lp, kst, kn, "to")  ? &to
                                                        : NULL;
            if (!slot)
                return lerr(lp, kst, "unexpected '%.*s': after 'every D' write 'for L', 'from T' or 'to T', then ':'",
                            (int)kn, lp->s + kst);
            if (*slot >= 0)
                return lerr(lp, kst, "'%.*s' given twice", (int)kn, lp->s + kst);
            if (slot == &len)
                len_at = kst;
            if (slot == &to)
                to_at = kst;
            char kw[8];
            snprintf(kw, sizeof kw, "%.*s", (int)kn, lp->s + kst);
            if (header_duration(lp, kw, slot))
                return -1;
        }
        if (len >= 0 && to >= 0)
            return lerr(lp, to_at, "give either 'for L' or 'from T1 to T2', not both");
        if (len < 0 && to < 0)
            return lerr(lp, lp->p, "'every D' needs 'for L' or 'from T1 to T2'");
        l->from = from >= 0 ? from : 0;
        l->to = len >= 0 ? l->from + len : to;
        if (l->to <= l->from)
            return lerr(lp, len >= 0 ? len_at : to_at, "the range is empty: it produces no events");
    } else {
        return lerr(lp, st, "an event line starts with 'at D:' or 'every D for L:' (got '%.*s')", (int)n,
                    lp->s + st);
    }
    skip_sp(lp);
    if (lp->p >= lp->len || lp->s[lp->p] != ':')
        return lerr(lp, lp->p, "expected ':' after the schedule");
    lp->p++;
    return 0;
}

/* At a ',' that starts a `, P% ...` clause? Returns the offset just after '%', or 0. */
static size_t clause_sep(const lparse *lp, size_t p)
{
    if (p >= lp->len || lp->s[p] != ',')
        return 0;
    size_t q = p + 1;
    while (q < lp->len && is_sp(lp->s[q]))
        q++;
    size_t d = q;
    while (q < lp->len && ((lp->s[q] >= '0' && lp->s[q] <= '9') || lp->s[q] == '.'))
        q++;
    if (q == d || q >= lp->len || lp->s[q] != '%')
        return 0;
    q++;
    if (q < lp->len && !is_sp(lp->s[q]))
        return 0;
    return q;
}

static int add_asg(lparse *lp, clause *c, const asg *a)
{
    if (c->n == c->cap) {
        uint32_t nc = c->cap ? c->cap * 2 : 8;
        asg *na = tl_realloc(c->a, nc * sizeof *na);
        if (!na)
            return lerr(lp, lp->p, "out of memory");
        c->a = na;
        c->cap = nc;
    }
    c->a[c->n++] = *a;
    return 0;
}

static void asg_free(asg *a)
{
    tl_free(a->key);
    tl_free(a->val);
}

static void clause_fini(clause *c)
{
    for (uint32_t i = 0; i < c->n; i++)
        asg_free(&c->a[i]);
    tl_free(c->a);
    c->a = NULL;
    c->n = c->cap = 0;
}

static void evline_fini(evline *l)
{
    clause_fini(&l->base);
    for (uint32_t i = 0; i < l->ncl; i++)
        clause_fini(&l->cl[i]);
}

/* Unquote one token value [st, end) into a new string. */
static char *unquote(lparse *lp, size_t st, size_t end)
{
    char *out = tl_malloc(end - st + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = st; i < end; i++) {
        char ch = lp->s[i];
        if (ch == '"')
            continue;
        if (ch == '\\' && i + 1 < end && (lp->s[i + 1] == '"' || lp->s[i + 1] == '\\'))
            ch = lp->s[++i];
        out[o++] = ch;
    }
    out[o] = '\0';
    return out;
}

static const char field_list[] =
    "fields are trace_id (or trace), span_id, parent_span_id, service, kind, tool, model, provider, "
    "prompt_version, model_version, status, error_type, latency_ms, input_tokens, output_tokens, cost_usd, "
    "score, flags, attr.<key>";

/* One token [st, end): key=value or a bare word. `bare` counts bare words of the base SPEC
 * (-1 in override clauses); `kind` is the kind named by the first bare word. */
static int parse_token(lparse *lp, clause *c, size_t st, size_t end, int *bare, char **kind)
{
    size_t eq = st;
    while (eq < end && lp->s[eq] != '=' && lp->s[eq] != '"')
        eq++;
    asg a = {0};
    if (eq >= end || lp->s[eq] != '=') {
        if (*bare < 0)
            return lerr(lp, st, "an override takes key=value tokens, not the bare word '%.*s'", (int)(end - st),
                        lp->s + st);
        char *v = unquote(lp, st, end);
        if (!v)
            return lerr(lp, st, "out of memory");
        if (*bare == 0) {
            a.kind = ASG_STR;
            a.field = TL_S_KIND;
            *kind = v;
        } else if (*bare == 1 && *kind && (strcmp(*kind, "tool_call") == 0 || strcmp(*kind, "llm_call") == 0)) {
            a.kind = ASG_STR;
            a.field = strcmp(*kind, "tool_call") == 0 ? TL_S_TOOL : TL_S_MODEL;
        } else {
            tl_free(v);
            if (*bare == 1)
                return lerr(lp, st,
                            "a second bare word names the tool (kind tool_call) or the model (kind llm_call); "
                            "write key=value for '%.*s'",
                            (int)(end - st), lp->s + st);
            return lerr(lp, st, "unexpected bare word '%.*s': only the kind and the tool or model may be bare; "
                                "write key=value", (int)(end - st), lp->s + st);
        }
        a.val = v;
        (*bare)++;
        if (add_asg(lp, c, &a)) {
            if (*kind == v)
                *kind = NULL;
            tl_free(v);
            return -1;
        }
        return 0;
    }
    const char *k = lp->s + st;
    size_t kn = eq - st;
    size_t vst = eq + 1;
    if (kn == 0)
        return lerr(lp, st, "missing field name before '='");
    if (kn == 5 && memcmp(k, "flags", 5) == 0) {
        a.kind = ASG_FLAGS;
    } else if ((kn > 5 && memcmp(k, "attr.", 5) == 0) || (kn > 11 && memcmp(k, "attributes.", 11) == 0)) {
        size_t skip = k[4] == '.' ? 5 : 11;
        a.kind = ASG_ATTR;
        a.key = tl_strndup(k + skip, kn - skip);
    } else if (kn == 5 && memcmp(k, "trace", 5) == 0) {
        a.kind = ASG_STR;
        a.field = TL_S_TRACE_ID;
    } else if ((a.field = tl_str_field_lookup(k, kn)) >= 0) {
        a.kind = ASG_STR;
    } else if ((a.field = tl_num_field_lookup(k, kn)) >= 0) {
        a.kind = ASG_NUM;
    } else if ((kn == 9 && memcmp(k, "timestamp", 9) == 0) || (kn == 2 && memcmp(k, "ts", 2) == 0)) {
        return lerr(lp, st, "the event time comes from the schedule ('at D' / 'every D ...'), not from a field");
    } else {
        return lerr(lp, st, "unknown field '%.*s' (%s)", (int)kn, k, field_list);
    }
    a.val = unquote(lp, vst, end);
    if (!a.val) {
        asg_free(&a);
        return lerr(lp, st, "out of memory");
    }
    if (a.kind == ASG_NUM) {
        char *e = NULL;
        errno = 0;
        a.num = strtod(a.val, &e);
        if (!*a.val || *e || errno || !isfinite(a.num)) {
            int r = lerr(lp, vst, "'%.*s' is numeric: '%s' is not a number (write plain numbers: latency_ms=1200)",
                         (int)kn, k, a.val);
            asg_free(&a);
            return r;
        }
    } else if (a.kind == ASG_FLAGS) {
        uint32_t nf = 0;
        for (const char *q = a.val; *q;) {
            const char *cm = strchr(q, ',');
            size_t pn = cm ? (size_t)(cm - q) : strlen(q);
            nf += pn > 0;
            q += pn + (cm ? 1 : 0);
        }
        if (nf > TL_EVENT_MAX_FLAGS) {
            asg_free(&a);
            return lerr(lp, vst, "at most %d flags per event", TL_EVENT_MAX_FLAGS);
        }
    }
    if (add_asg(lp, c, &a)) {
        asg_free(&a);
        return -1;
    }
    return 0;
}

/* Everything after the header's ':'. */
static int parse_spec(lparse *lp, evline *l)
{
    clause *c = &l->base;
    int bare = 0;
    char *kind = NULL;
    for (;;) {
        skip_sp(lp);
        if (lp->p >= lp->len)
            break;
        size_t after = clause_sep(lp, lp->p);
        if (after) {
            if (l->ncl == TL_RULETEST_MAX_CLAUSES)
                return lerr(lp, lp->p, "at most %d '%%' clauses per event line", TL_RULETEST_MAX_CLAUSES);
            size_t q = lp->p + 1;
            while (is_sp(lp->s[q]))
                q++;
            double pct = strtod(lp->s + q, NULL);
            if (pct > 100)
                return lerr(lp, q, "a share is between 0%% and 100%%");
            c = &l->cl[l->ncl++];
            c->frac = pct / 100.0;
            bare = -1;
            lp->p = after;
            skip_sp(lp);
            if (lp->p >= lp->len || clause_sep(lp, lp->p))
                return lerr(lp, q, "'%.1f%%' needs override tokens after it (e.g. status=error)", pct);
            continue;
        }
        if (lp->s[lp->p] == ',')
            return lerr(lp, lp->p, "unexpected ',': separate tokens with spaces; a clause is ', P%% key=value ...'");
        size_t st = lp->p;
        int inq = 0;
        size_t qat = 0;
        while (lp->p < lp->len) {
            char ch = lp->s[lp->p];
            if (inq) {
                if (ch == '\\' && lp->p + 1 < lp->len)
                    lp->p++;
                else if (ch == '"')
                    inq = 0;
            } else if (ch == '"') {
                inq = 1;
                qat = lp->p;
            } else if (is_sp(ch) || clause_sep(lp, lp->p)) {
                break;
            }
            lp->p++;
        }
        if (inq)
            return lerr(lp, qat, "unterminated '\"'");
        if (parse_token(lp, c, st, lp->p, &bare, &kind))
            return -1;
    }
    if (l->base.n == 0)
        return lerr(lp, lp->len, "no event fields after ':' (e.g. 'kind=request service=bot')");
    uint32_t nattr = 0;
    for (uint32_t i = 0; i < l->base.n; i++)
        nattr += l->base.a[i].kind == ASG_ATTR;
    for (uint32_t k = 0; k < l->ncl; k++)
        for (uint32_t i = 0; i < l->cl[k].n; i++)
            nattr += l->cl[k].a[i].kind == ASG_ATTR;
    if (nattr > TL_EVENT_MAX_ATTRS)
        return lerr(lp, 0, "at most %d attributes per event line", TL_EVENT_MAX_ATTRS);
    return 0;
}

static int parse_line(const char *s, size_t len, evline *l, size_t *err_off, char *err, size_t errcap)
{
    memset(l, 0, sizeof *l);
    lparse lp = {.s = s, .len = len, .err = err, .errcap = errcap};
    if (parse_header(&lp, l) || parse_spec(&lp, l)) {
        *err_off = lp.err_off;
        evline_fini(l);
        return -1;
    }
    return 0;
}

static size_t line_count(const evline *l) { return l->step ? (size_t)((l->to - l->from + l->step - 1) / l->step) : 1; }

/* Generate the (time, clause mask) of each event of a line. */
typedef void (*gen_fn)(void *ctx, int64_t off, uint32_t mask);
static void line_generate(const evline *l, gen_fn fn, void *ctx)
{
    double acc[TL_RULETEST_MAX_CLAUSES] = {0};
    int64_t step = l->step ? l->step : 1;
    for (int64_t t = l->from; t < l->to; t += step) {
        uint32_t mask = 0;
        for (uint32_t k = 0; k < l->ncl; k++) {
            acc[k] += l->cl[k].frac;
            if (acc[k] >= 1.0 - 1e-9) {
                acc[k] -= 1.0;
                mask |= 1u << k;
            }
        }
        fn(ctx, t, mask);
    }
}

static void apply(const clause *c, tl_event *ev)
{
    for (uint32_t i = 0; i < c->n; i++) {
        const asg *a = &c->a[i];
        switch (a->kind) {
        case ASG_STR:
            tl_event_set_str(ev, (enum tl_str_field)a->field, a->val, (uint32_t)strlen(a->val));
            break;
        case ASG_NUM:
            tl_event_set_num(ev, (enum tl_num_field)a->field, a->num);
            break;
        case ASG_FLAGS:
            ev->n_flags = 0;
            for (const char *q = a->val; *q && ev->n_flags < TL_EVENT_MAX_FLAGS;) {
                const char *cm = strchr(q, ',');
                size_t pn = cm ? (size_t)(cm - q) : strlen(q);
                if (pn)
                    ev->flags[ev->n_flags++] = tl_str_make(q, pn);
                q += pn + (cm ? 1 : 0);
            }
            break;
        case ASG_ATTR: {
            uint32_t j = 0;
            while (j < ev->n_attrs && !tl_str_eq_c(ev->attr_key[j], a->key))
                j++;
            if (j == ev->n_attrs) {
                if (ev->n_attrs == TL_EVENT_MAX_ATTRS)
                    break;
                ev->n_attrs++;
                ev->attr_key[j] = tl_str_c(a->key);
            }
            ev->attr_val[j] = tl_str_c(a->val);
            break;
        }
        }
    }
}

static void build_event(const evline *l, uint32_t mask, int64_t ts, tl_event *ev)
{
    tl_event_reset(ev);
    ev->ts_ms = ts;
    apply(&l->base, ev);
    for (uint32_t k = 0; k < l->ncl; k++)
        if (mask & (1u << k))
            apply(&l->cl[k], ev);
}

typedef struct expand_ctx {
    const evline *l;
    int64_t start;
    tl_ruletest_event_fn fn;
    void *ctx;
    tl_event ev;
} expand_ctx;

static void expand_one(void *vctx, int64_t off, uint32_t mask)
{
    expand_ctx *x = vctx;
    build_event(x->l, mask, x->start + off, &x->ev);
    x->fn(x->ctx, &x->ev);
}

long tl_ruletest_expand(const char *line, size_t len, int64_t start_ms, tl_ruletest_event_fn fn, void *ctx,
                        size_t *err_off, char *err, size_t errcap)
{
    evline l;
    size_t off = 0;
    if (parse_line(line, len, &l, &off, err, errcap)) {
        if (err_off)
            *err_off = off;
        return -1;
    }
    size_t n = line_count(&l);
    if (n > TL_RULETEST_MAX_EVENTS) {
        evline_fini(&l);
        snprintf(err, errcap, "too many events (%zu; at most %d per test)", n, TL_RULETEST_MAX_EVENTS);
        if (err_off)
            *err_off = 0;
        return -1;
    }
    expand_ctx *x = tl_malloc(sizeof *x); /* holds a 3 KB tl_event */
    if (!x) {
        evline_fini(&l);
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    x->l = &l;
    x->start = start_ms;
    x->fn = fn;
    x->ctx = ctx;
    if (fn)
        line_generate(&l, expand_one, x);
    tl_free(x);
    evline_fini(&l);
    return (long)n;
}

/* ---- loading ------------------------------------------------------------------------- */

static void expect_fini(expect *e)
{
    tl_free(e->alert);
    for (uint32_t i = 0; i < e->nl; i++) {
        tl_free(e->lk[i]);
        tl_free(e->lv[i]);
    }
    tl_free(e->lk);
    tl_free(e->lv);
}

static void test_fini(rtest *t)
{
    tl_free(t->name);
    for (uint32_t i = 0; i < t->nlines; i++)
        evline_fini(&t->lines[i]);
    tl_free(t->lines);
    tl_free(t->recs);
    for (uint32_t i = 0; i < t->nex; i++)
        expect_fini(&t->ex[i]);
    tl_free(t->ex);
}

void tl_ruletest_destroy(tl_ruletest_file *f)
{
    if (!f)
        return;
    for (uint32_t i = 0; i < f->ntests; i++)
        test_fini(&f->tests[i]);
    tl_free(f->tests);
    tl_program_destroy(f->prog);
    tl_free(f->path);
    tl_free(f);
}

size_t tl_ruletest_ntests(const tl_ruletest_file *f) { return f ? f->ntests : 0; }
size_t tl_ruletest_nevents(const tl_ruletest_file *f, size_t test)
{
    return f && test < f->ntests ? f->tests[test].nrecs : 0;
}

static int ydur(pctx *c, const tl_ynode *n, int64_t *out)
{
    char e[600];
    if (tl_ynode_duration(c->doc, n, out, e, sizeof e))
        return err_raw(c, e);
    if (*out < 0)
        return err_at(c, n, "a duration here must not be negative");
    return 0;
}

static int ystr(pctx *c, const tl_ynode *n, const char **out)
{
    char e[600];
    if (tl_ynode_str(c->doc, n, out, e, sizeof e))
        return err_raw(c, e);
    return 0;
}

typedef struct rec_ctx {
    rtest *t;
    uint32_t line;
    int64_t start;
    uint64_t seq;
} rec_ctx;

static void rec_one(void *vctx, int64_t off, uint32_t mask)
{
    rec_ctx *x = vctx;
    rec *r = &x->t->recs[x->t->nrecs++];
    r->ts = x->start + off;
    r->line = x->line;
    r->mask = mask;
    r->seq = x->seq++;
}

static int cmp_rec(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int parse_events(pctx *c, rtest *t, const tl_ynode *evs, int64_t start, int64_t *last_off)
{
    if (evs->type != TL_Y_SEQ)
        return err_at(c, evs, "'events' must be a list of event lines (strings)");
    t->lines = tl_calloc(evs->n ? evs->n : 1, sizeof *t->lines);
    if (!t->lines)
        return err_at(c, evs, "out of memory");
    int bad = 0;
    size_t total = 0;
    for (size_t i = 0; i < evs->n; i++) {
        const tl_ynode *it = evs->items[i];
        if (it->type != TL_Y_SCALAR) {
            bad |= err_at(c, it, "an event line is a string such as \"at 2m: kind=request service=bot\"");
            continue;
        }
        char msg[400];
        size_t off = 0;
        evline *l = &t->lines[t->nlines];
        if (parse_line(it->str, it->len, l, &off, msg, sizeof msg)) {
            uint32_t line = it->line, col = it->col;
            tl_ynode_pos(it, off, &line, &col);
            char full[900];
            snprintf(full, sizeof full, "%s:%u:%u: %s (offset %zu in the event line)", c->doc->path, line, col, msg,
                     off);
            add_error(c->errs, full);
            bad = -1;
            continue;
        }
        t->nlines++;
        total += line_count(l);
        int64_t lastev = l->step ? l->from + ((l->to - l->from - 1) / l->step) * l->step : l->from;
        if (lastev > *last_off)
            *last_off = lastev;
        if (total > TL_RULETEST_MAX_EVENTS)
            return err_at(c, it, "too many events in this test (more than %d)", TL_RULETEST_MAX_EVENTS);
    }
    if (bad)
        return -1;
    t->recs = tl_malloc((total ? total : 1) * sizeof *t->recs);
    if (!t->recs)
        return err_at(c, evs, "out of memory (%zu events)", total);
    rec_ctx x = {.t = t, .start = start};
    for (uint32_t i = 0; i < t->nlines; i++) {
        x.line = i;
        line_generate(&t->lines[i], rec_one, &x);
    }
    qsort(t->recs, t->nrecs, sizeof *t->recs, cmp_rec);
    return 0;
}

static const tl_rule *find_rule(const tl_program *p, const char *name)
{
    for (uint32_t i = 0; p && i < p->nrules; i++)
        if (strcmp(p->rules[i].name, name) == 0)
            return &p->rules[i];
    return NULL;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static int rule_has_label(const tl_program *p, const tl_rule *r, const char *k)
{
    const tl_group *g = &p->groups[r->group];
    for (uint32_t i = 0; i < g->nlabels; i++)
        if (strcmp(g->label_names[i], k) == 0)
            return 1;
    for (uint32_t i = 0; i < r->nstatic; i++)
        if (strcmp(r->static_keys[i], k) == 0)
            return 1;
    return 0;
}

static int parse_expect(pctx *c, const tl_program *prog, expect *e, const tl_ynode *m)
{
    static const char *const keys[] = {"at", "alert", "state", "labels", "value", "tolerance", "resend", NULL};
    char emsg[600];
    if (m->type != TL_Y_MAP)
        return err_at(c, m, "an expectation is a mapping with at, alert and state");
    int bad = 0;
    if (tl_ynode_check_keys(c->doc, m, keys, emsg, sizeof emsg))
        bad = err_raw(c, emsg);
    e->line = m->line;
    e->col = m->col;
    const tl_ynode *at = tl_ynode_get(m, "at"), *al = tl_ynode_get(m, "alert"), *st = tl_ynode_get(m, "state");
    if (!at)
        bad |= err_at(c, m, "expectation is missing 'at'");
    else
        bad |= ydur(c, at, &e->at);
    const char *s = NULL;
    if (!al) {
        bad |= err_at(c, m, "expectation is missing 'alert'");
    } else if (!ystr(c, al, &s)) {
        e->alert = tl_strdup(s);
        if (prog && !find_rule(prog, s)) {
            const char *best = NULL;
            size_t bd = 4;
            for (uint32_t i = 0; i < prog->nrules; i++) {
                size_t d = edit_distance(s, prog->rules[i].name);
                if (d < bd) {
                    bd = d;
                    best = prog->rules[i].name;
                }
            }
            if (best)
                bad |= err_at(c, al, "no rule named '%s' in the rule files (did you mean '%s'?)", s, best);
            else
                bad |= err_at(c, al, "no rule named '%s' in the rule files", s);
        }
    } else {
        bad = -1;
    }
    if (!st) {
        bad |= err_at(c, m, "expectation is missing 'state' (firing, resolved or inactive)");
    } else if (!ystr(c, st, &s)) {
        if (strcmp(s, "firing") == 0)
            e->state = EXP_FIRING;
        else if (strcmp(s, "resolved") == 0)
            e->state = EXP_RESOLVED;
        else if (strcmp(s, "inactive") == 0)
            e->state = EXP_INACTIVE;
        else
            bad |= err_at(c, st, "state must be firing, resolved or inactive, not '%s'", s);
    } else {
        bad = -1;
    }
    const tl_ynode *lb = tl_ynode_get(m, "labels");
    if (lb) {
        if (lb->type != TL_Y_MAP) {
            bad |= err_at(c, lb, "labels must be a mapping of label names to values");
        } else {
            e->lk = tl_calloc(lb->n + 1, sizeof *e->lk);
            e->lv = tl_calloc(lb->n + 1, sizeof *e->lv);
            if (!e->lk || !e->lv)
                return err_at(c, lb, "out of memory");
            const tl_rule *r = prog && e->alert ? find_rule(prog, e->alert) : NULL;
            for (size_t i = 0; i < lb->n; i++) {
                const char *v = NULL;
                if (ystr(c, lb->items[i], &v)) {
                    bad = -1;
                    continue;
                }
                if (r && !rule_has_label(prog, r, lb->keys[i]->str)) {
                    bad |= err_at(c, lb->keys[i], "rule '%s' has no label '%s' (its labels are its group_by "
                                                  "fields and static labels)", r->name, lb->keys[i]->str);
                    continue;
                }
                e->lk[e->nl] = tl_strdup(lb->keys[i]->str);
                e->lv[e->nl++] = tl_strdup(v);
            }
        }
    }
    const tl_ynode *v = tl_ynode_get(m, "value"), *tol = tl_ynode_get(m, "tolerance");
    if (v) {
        if (tl_ynode_double(c->doc, v, &e->value, emsg, sizeof emsg))
            bad |= err_raw(c, emsg);
        else if (e->state == EXP_INACTIVE)
            bad |= err_at(c, v, "'value' needs state firing or resolved (an inactive alert has no value)");
        e->has_value = 1;
    }
    if (tol) {
        if (tl_ynode_double(c->doc, tol, &e->tol, emsg, sizeof emsg))
            bad |= err_raw(c, emsg);
        else if (!v)
            bad |= err_at(c, tol, "'tolerance' applies to 'value', which is not given");
        else if (!(e->tol >= 0))
            bad |= err_at(c, tol, "tolerance must not be negative");
        e->has_tol = 1;
    }
    const tl_ynode *rs = tl_ynode_get(m, "resend");
    if (rs) {
        int64_t n = 0;
        if (tl_ynode_int(c->doc, rs, 0, 1000000, &n, emsg, sizeof emsg))
            bad |= err_raw(c, emsg);
        else if (e->state != EXP_RESOLVED)
            bad |= err_at(c, rs, "'resend' needs state resolved (it counts re-sends of a resolved notification)");
        e->has_resend = 1;
        e->resend = (uint32_t)n;
    }
    return bad;
}

static int parse_test(pctx *c, const tl_program *prog, int64_t start, rtest *t, const tl_ynode *m)
{
    static const char *const keys[] = {"name", "eval", "until", "events", "expect", "resend_resolved_for",
                                       "resend_interval", NULL};
    char emsg[600];
    if (m->type != TL_Y_MAP)
        return err_at(c, m, "a test is a mapping with name, events and expect");
    int bad = 0;
    if (tl_ynode_check_keys(c->doc, m, keys, emsg, sizeof emsg))
        bad = err_raw(c, emsg);
    t->line = m->line;
    t->col = m->col;
    const tl_ynode *n = tl_ynode_get(m, "name");
    const char *s = NULL;
    if (!n)
        bad |= err_at(c, m, "test is missing 'name'");
    else if (ystr(c, n, &s))
        bad = -1;
    else
        t->name = tl_strdup(s);
    t->eval = 10000;
    const tl_ynode *ev = tl_ynode_get(m, "eval");
    if (ev) {
        if (ydur(c, ev, &t->eval))
            bad = -1;
        else if (t->eval <= 0)
            bad |= err_at(c, ev, "eval must be positive");
    }
    /* off unless asked for, so a timeline shows each transition once (the engine's default is
     * alerts.resend_resolved_for 15m, every alerts.resend_interval 5m) */
    const tl_ynode *rf = tl_ynode_get(m, "resend_resolved_for"), *ri = tl_ynode_get(m, "resend_interval");
    t->resend_every = 300000;
    if (rf && ydur(c, rf, &t->resend_for))
        bad = -1;
    if (ri) {
        if (ydur(c, ri, &t->resend_every))
            bad = -1;
        else if (t->resend_every <= 0)
            bad |= err_at(c, ri, "resend_interval must be positive");
        else if (!rf)
            bad |= err_at(c, ri, "resend_interval applies to resend_resolved_for, which is not given");
    }
    const tl_ynode *evs = tl_ynode_get(m, "events");
    int64_t last = 0;
    if (!evs)
        bad |= err_at(c, m, "test is missing 'events'");
    else
        bad |= parse_events(c, t, evs, start, &last);
    const tl_ynode *ex = tl_ynode_get(m, "expect");
    int64_t last_at = 0;
    if (!ex) {
        bad |= err_at(c, m, "test is missing 'expect'");
    } else if (ex->type != TL_Y_SEQ || ex->n == 0) {
        bad |= err_at(c, ex, "'expect' must be a non-empty list of expectations");
    } else {
        t->ex = tl_calloc(ex->n, sizeof *t->ex);
        if (!t->ex)
            return err_at(c, ex, "out of memory");
        for (size_t i = 0; i < ex->n; i++) {
            expect *e = &t->ex[t->nex++];
            bad |= parse_expect(c, prog, e, ex->items[i]);
            if (e->at > last_at)
                last_at = e->at;
        }
    }
    const tl_ynode *un = tl_ynode_get(m, "until");
    if (un) {
        if (ydur(c, un, &t->until))
            bad = -1;
        else if (t->until < last_at)
            bad |= err_at(c, un, "until is before the latest expectation (at %" PRId64 " ms)", last_at);
    } else {
        t->until = last + 600000;
        if (t->until < last_at)
            t->until = last_at;
    }
    if (!bad && t->eval > 0 && t->until / t->eval > 10000000)
        bad |= err_at(c, ev ? ev : m, "too many evaluation steps (until / eval is more than 10 million)");
    return bad;
}

/* tl_rules_load fails when errors->count is non-zero on entry (it counts what it appended
 * only through that field), so it gets a view of the same buffer with a zero count. */
static tl_program *rules_load(pctx *c, const char *const *paths, size_t n, const char *text,
                              const char *name, const tl_rules_opts *ro)
{
    tl_rules_errors sub = *c->errs;
    sub.count = 0;
    tl_program *p = text ? tl_rules_load_string(name, text, strlen(text), ro, &sub)
                         : tl_rules_load(paths, n, ro, &sub);
    c->errs->len = sub.len;
    c->errs->count += sub.count;
    return p;
}

static int load_rules(pctx *c, tl_ruletest_file *f, const tl_ynode *rf, const tl_ruletest_load_opts *o)
{
    if (o && o->rules_yaml) {
        f->prog = rules_load(c, NULL, 0, o->rules_yaml, f->path, &o->rules);
        return f->prog ? 0 : -1;
    }
    if (!rf)
        return err_at(c, c->doc->root, "missing 'rule_files:' (the rule files to test, relative to this file)");
    const tl_ynode *single[1] = {rf};
    const tl_ynode *const *items = rf->type == TL_Y_SEQ ? (const tl_ynode *const *)rf->items : single;
    size_t n = rf->type == TL_Y_SEQ ? rf->n : 1;
    if (rf->type == TL_Y_MAP || n == 0)
        return err_at(c, rf, "'rule_files' must be a list of paths (relative to this file)");
    char **paths = tl_calloc(n, sizeof *paths);
    if (!paths)
        return err_at(c, rf, "out of memory");
    const char *slash = strrchr(f->path, '/');
    int dirlen = slash ? (int)(slash - f->path) : 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        if (ystr(c, items[i], &s)) {
            bad = -1;
            continue;
        }
        size_t cap = strlen(s) + (size_t)dirlen + 2;
        paths[i] = tl_malloc(cap);
        if (!paths[i]) {
            bad = -1;
            break;
        }
        if (s[0] == '/' || !slash)
            snprintf(paths[i], cap, "%s", s);
        else
            snprintf(paths[i], cap, "%.*s/%s", dirlen, f->path, s);
    }
    if (!bad) {
        tl_rules_opts ro = o ? o->rules : (tl_rules_opts){.lateness_ms = 30000, .renotify_ms = 4 * 3600000LL,
                                                          .check_runbooks = 1};
        f->prog = rules_load(c, (const char *const *)paths, n, NULL, NULL, &ro);
        if (!f->prog)
            bad = -1;
    }
    for (size_t i = 0; i < n; i++)
        tl_free(paths[i]);
    tl_free(paths);
    return bad;
}

static tl_ruletest_file *load_doc(pctx *c, tl_ruletest_file *f, const tl_ruletest_load_opts *o)
{
    static const char *const keys[] = {"rule_files", "start", "tests", NULL};
    const tl_ynode *root = c->doc->root;
    char emsg[600];
    if (!root || root->type != TL_Y_MAP) {
        err_at(c, root, "a test file is a mapping with 'rule_files:' and 'tests:'");
        return NULL;
    }
    int bad = 0;
    if (tl_ynode_check_keys(c->doc, root, keys, emsg, sizeof emsg))
        bad = err_raw(c, emsg); /* keep going: report the rest too */
    f->start = DEFAULT_START_MS;
    const tl_ynode *st = tl_ynode_get(root, "start");
    if (st && (st->type != TL_Y_SCALAR || tl_time_parse_rfc3339(st->str, st->len, &f->start) < 0))
        bad |= err_at(c, st, "start must be an RFC 3339 timestamp such as 2026-01-01T00:00:00Z");
    if (load_rules(c, f, tl_ynode_get(root, "rule_files"), o))
        bad = -1; /* continue: the tests' own syntax is still worth checking */
    const tl_ynode *ts = tl_ynode_get(root, "tests");
    if (!ts) {
        bad |= err_at(c, root, "missing 'tests:' list");
    } else if (ts->type != TL_Y_SEQ || ts->n == 0) {
        bad |= err_at(c, ts, "'tests' must be a non-empty list of tests");
    } else {
        f->tests = tl_calloc(ts->n, sizeof *f->tests);
        if (!f->tests) {
            err_at(c, ts, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < ts->n; i++) {
            bad |= parse_test(c, f->prog, f->start, &f->tests[f->ntests++], ts->items[i]);
            for (size_t k = 0; k + 1 < f->ntests && f->tests[i].name; k++)
                if (f->tests[k].name && strcmp(f->tests[k].name, f->tests[i].name) == 0) {
                    bad |= err_at(c, ts->items[i], "duplicate test name '%s' (first at line %u)", f->tests[i].name,
                                  f->tests[k].line);
                    break;
                }
        }
    }
    return bad ? NULL : f;
}

tl_ruletest_file *tl_ruletest_load_string(const char *path, const char *text, size_t len,
                                          const tl_ruletest_load_opts *opts, tl_rules_errors *errs)
{
    char msg[600];
    tl_ydoc *d = tl_ydoc_load_string(path, text, len, msg, sizeof msg);
    if (!d) {
        add_error(errs, msg);
        return NULL;
    }
    tl_ruletest_file *f = tl_calloc(1, sizeof *f);
    pctx c = {.errs = errs, .doc = d};
    tl_ruletest_file *res = NULL;
    if (!f || !(f->path = tl_strdup(path))) {
        add_error(errs, "out of memory");
        goto out;
    }
    res = load_doc(&c, f, opts);
out:
    if (!res)
        tl_ruletest_destroy(f);
    tl_ydoc_destroy(d);
    return res;
}

tl_ruletest_file *tl_ruletest_load(const char *path, const tl_ruletest_load_opts *opts, tl_rules_errors *errs)
{
    FILE *fp = fopen(path, "rb");
    char msg[4200];
    if (!fp) {
        snprintf(msg, sizeof msg, "%s: %s", path, strerror(errno));
        add_error(errs, msg);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *nb = tl_realloc(buf, cap);
            if (!nb) {
                tl_free(buf);
                fclose(fp);
                add_error(errs, "out of memory");
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, fp);
        len += r;
        if (r == 0)
            break;
    }
    int rerr = ferror(fp);
    fclose(fp);
    if (rerr) {
        tl_free(buf);
        snprintf(msg, sizeof msg, "%s: read error", path);
        add_error(errs, msg);
        return NULL;
    }
    buf[len] = '\0';
    tl_ruletest_file *f = tl_ruletest_load_string(path, buf, len, opts, errs);
    tl_free(buf);
    return f;
}

/* ---- running ------------------------------------------------------------------------- */

typedef struct runner {
    const tl_ruletest_file *f;
    seen *al;
    size_t nal, cap;
    int64_t cur_wm;
    int oom;
} runner;

static void sink(void *ctx, const tl_alert *a)
{
    runner *r = ctx;
    if (r->nal == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        seen *na = tl_realloc(r->al, nc * sizeof *na);
        if (!na) {
            r->oom = 1;
            return;
        }
        r->al = na;
        r->cap = nc;
    }
    size_t need = 1;
    for (uint32_t i = 0; i < a->n_labels; i++)
        need += strlen(a->label_key[i]) + strlen(a->label_val[i]) + 2;
    char *lb = tl_malloc(need);
    if (!lb) {
        r->oom = 1;
        return;
    }
    size_t o = 0;
    for (uint32_t i = 0; i < a->n_labels; i++) {
        size_t kn = strlen(a->label_key[i]) + 1, vn = strlen(a->label_val[i]) + 1;
        memcpy(lb + o, a->label_key[i], kn);
        o += kn;
        memcpy(lb + o, a->label_val[i], vn);
        o += vn;
    }
    seen *s = &r->al[r->nal++];
    const tl_rule *rule = find_rule(r->f->prog, a->alert);
    s->rule = rule ? rule->name : "?";
    s->state = a->state;
    s->ts = a->timestamp_ms;
    s->emitted_wm = r->cur_wm;
    s->value = a->value;
    s->resend = a->resend;
    memcpy(s->fp, a->fingerprint, sizeof s->fp);
    s->labels = lb;
    s->nl = a->n_labels;
}

static const char *seen_label(const seen *s, const char *k)
{
    const char *p = s->labels;
    for (uint32_t i = 0; i < s->nl; i++) {
        const char *v = p + strlen(p) + 1;
        if (strcmp(p, k) == 0)
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

static void fmt_seen_labels(const seen *s, char *buf, size_t cap)
{
    size_t o = 0;
    const char *p = s->labels;
    buf[0] = '\0';
    for (uint32_t i = 0; i < s->nl && o < cap; i++) {
        const char *v = p + strlen(p) + 1;
        o += (size_t)snprintf(buf + o, cap - o, "%s%s=%s", i ? "," : "{", p, v);
        p = v + strlen(v) + 1;
    }
    if (s->nl && o < cap)
        snprintf(buf + o, cap - o, "}");
}

static void fmt_dur(int64_t ms, char *buf, size_t cap)
{
    if (ms < 0) {
        buf[0] = '-';
        tl_duration_format(-ms, buf + 1, cap - 1);
    } else {
        tl_duration_format(ms, buf, cap);
    }
}

static int labels_match(const expect *e, const seen *s)
{
    for (uint32_t i = 0; i < e->nl; i++) {
        const char *v = seen_label(s, e->lk[i]);
        if (!v || strcmp(v, e->lv[i]) != 0)
            return 0;
    }
    return 1;
}

static int value_ok(const expect *e, double v)
{
    if (!e->has_value)
        return 1;
    double tol = e->has_tol ? e->tol : fabs(e->value) * 1e-9;
    if (tol < 1e-12 && !e->has_tol)
        tol = 1e-12;
    return fabs(v - e->value) <= tol;
}

static const char *const state_names[] = {"firing", "resolved", "inactive"};

/* Check one expectation; on failure write the reason into why. */
static int check_expect(const tl_ruletest_file *f, const runner *r, const expect *e, char *why, size_t cap)
{
    int64_t at = f->start + e->at;
    /* latest event per matching instance (instances are few; a linear table is enough) */
    size_t inst[64];
    size_t ninst = 0, nmore = 0;
    size_t other = SIZE_MAX, later = SIZE_MAX;
    for (size_t i = 0; i < r->nal; i++) {
        const seen *s = &r->al[i];
        if (strcmp(s->rule, e->alert) != 0)
            continue;
        if (!labels_match(e, s)) {
            if (other == SIZE_MAX)
                other = i;
            continue;
        }
        if (s->ts > at) {
            if (later == SIZE_MAX || s->ts < r->al[later].ts)
                later = i;
            continue;
        }
        size_t k = 0;
        while (k < ninst && strcmp(r->al[inst[k]].fp, s->fp) != 0)
            k++;
        if (k == ninst) {
            if (ninst == sizeof inst / sizeof inst[0]) {
                nmore++;
                continue;
            }
            inst[ninst++] = i;
        } else if (s->ts >= r->al[inst[k]].ts) {
            inst[k] = i;
        }
    }
    size_t nfiring = 0, nresolved = 0, best = SIZE_MAX, match = SIZE_MAX;
    for (size_t k = 0; k < ninst; k++) {
        const seen *s = &r->al[inst[k]];
        if (s->state == TL_ALERT_FIRING)
            nfiring++;
        else
            nresolved++;
        /* the instance to show: a firing one first, then the latest */
        if (best == SIZE_MAX || (s->state == TL_ALERT_FIRING) > (r->al[best].state == TL_ALERT_FIRING) ||
            ((s->state == TL_ALERT_FIRING) == (r->al[best].state == TL_ALERT_FIRING) && s->ts > r->al[best].ts))
            best = inst[k];
        if ((e->state == EXP_FIRING && s->state == TL_ALERT_FIRING) ||
            (e->state == EXP_RESOLVED && s->state == TL_ALERT_RESOLVED)) {
            if (value_ok(e, s->value) && (!e->has_resend || s->resend == e->resend))
                match = inst[k];
        }
    }
    int pass;
    switch (e->state) {
    case EXP_FIRING: pass = match != SIZE_MAX; break;
    case EXP_RESOLVED: pass = nfiring == 0 && match != SIZE_MAX; break;
    default: pass = nfiring == 0; break;
    }
    if (pass)
        return 1;
    if (best == SIZE_MAX) {
        char t[32];
        if (later != SIZE_MAX) {
            fmt_dur(r->al[later].ts - f->start, t, sizeof t);
            snprintf(why, cap, "inactive (no alert events yet; the first is %s at %s)",
                     r->al[later].state == TL_ALERT_FIRING ? "firing" : "resolved", t);
        } else if (other != SIZE_MAX) {
            char lb[300];
            fmt_seen_labels(&r->al[other], lb, sizeof lb);
            snprintf(why, cap, "inactive (no alert events for these labels; the rule has events for %s)", lb);
        } else {
            snprintf(why, cap, "inactive (no alert events)");
        }
        return 0;
    }
    const seen *s = &r->al[best];
    char t[32], lb[300] = "";
    fmt_dur(s->ts - f->start, t, sizeof t);
    if (e->nl == 0 || ninst > 1)
        fmt_seen_labels(s, lb, sizeof lb);
    char rsn[32] = "";
    if (s->resend || e->has_resend)
        snprintf(rsn, sizeof rsn, " (resend %u)", s->resend);
    int w = snprintf(why, cap, "%s%s%s, value %.6g at %s%s", lb, *lb ? " " : "",
                     s->state == TL_ALERT_FIRING ? "firing" : "resolved", s->value, t, rsn);
    if (w > 0 && (size_t)w < cap && ninst + nmore > 1)
        snprintf(why + w, cap - (size_t)w, " (%zu matching instances, %zu firing)", ninst + nmore, nfiring);
    return 0;
}

static void fmt_expect(const expect *e, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "%s", e->alert);
    for (uint32_t i = 0; i < e->nl && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%s=%s", i ? "," : "{", e->lk[i], e->lv[i]);
    if (e->nl && o < cap)
        o += (size_t)snprintf(buf + o, cap - o, "}");
    if (o < cap)
        o += (size_t)snprintf(buf + o, cap - o, " %s", state_names[e->state]);
    if (e->has_value && o < cap) {
        if (e->has_tol)
            o += (size_t)snprintf(buf + o, cap - o, " (value %.6g\xc2\xb1%.6g)", e->value, e->tol);
        else
            o += (size_t)snprintf(buf + o, cap - o, " (value %.6g)", e->value);
    }
    if (e->has_resend && o < cap)
        snprintf(buf + o, cap - o, " (resend %u)", e->resend);
}

typedef struct synth_ctx {
    tl_router *rt;
    tl_shard *sh;
} synth_ctx;

/* Events the trace matcher synthesises fold like any other (as in engine.c). */
static void fold_synthetic(void *ctx, const tl_event *ev)
{
    synth_ctx *sc = ctx;
    tl_fold fo;
    tl_router_route(sc->rt, ev, &fo);
    tl_shard_fold(sc->sh, &fo, UINT32_MAX);
}

/* `trace=NAME*N`: consecutive events of the line share a trace id in groups of N
 * (NAME1, NAME2, ...), so a line can describe many traces of N events each. */
static void group_trace_id(tl_event *ev, size_t nth, char *buf, size_t cap)
{
    tl_str id = ev->str[TL_S_TRACE_ID];
    const char *star = memchr(id.p, '*', id.n);
    if (!star)
        return;
    long n = strtol(star + 1, NULL, 10);
    if (n < 1)
        n = 1;
    int len = snprintf(buf, cap, "%.*s%zu", (int)(star - id.p), id.p, nth / (size_t)n + 1);
    tl_event_set_str(ev, TL_S_TRACE_ID, buf, (uint32_t)len);
}

static int run_test(const tl_ruletest_file *f, const rtest *t, const tl_ruletest_run_opts *o, FILE *out)
{
    runner r = {.f = f};
    tl_shard_opts so = {.sink = sink, .sink_ctx = &r, .resend_resolved_ms = t->resend_for,
                        .resend_interval_ms = t->resend_every};
    tl_shard *sh = tl_shard_new(f->prog, &so);
    tl_router rt;
    tl_event *ev = tl_malloc(sizeof *ev);
    int router_ok = 0, failed = 0; /* failed expectations */
    if (!sh || !ev || tl_router_init(&rt, f->prog, 1) != 0) {
        fprintf(out, "%s:%u:%u: test '%s': out of memory\n", f->path, t->line, t->col, t->name);
        failed = 1;
        goto done;
    }
    router_ok = 1;
    tl_traces *traces = f->prog->traces ? tl_traces_new(f->prog, 100000) : NULL;
    synth_ctx sc = {&rt, sh};
    size_t *per_line = tl_calloc(t->nlines ? t->nlines : 1, sizeof *per_line);
    if ((f->prog->traces && !traces) || !per_line) {
        fprintf(out, "%s:%u:%u: test '%s': out of memory\n", f->path, t->line, t->col, t->name);
        failed = 1;
        tl_traces_destroy(traces);
        tl_free(per_line);
        goto done;
    }
    size_t next = 0;
    char trace[64];
    int64_t end = f->start + t->until;
    for (int64_t wm = f->start;; wm += t->eval) {
        if (wm > end)
            wm = end;
        for (; next < t->nrecs && t->recs[next].ts <= wm; next++) {
            const rec *rc = &t->recs[next];
            build_event(&t->lines[rc->line], rc->mask, rc->ts, ev);
            if (!(ev->str_present & (1u << TL_S_TRACE_ID))) {
                int n = snprintf(trace, sizeof trace, "t%zu", next + 1);
                tl_event_set_str(ev, TL_S_TRACE_ID, trace, (uint32_t)n);
            } else {
                group_trace_id(ev, per_line[rc->line], trace, sizeof trace);
            }
            per_line[rc->line]++;
            tl_fold fo;
            tl_router_route(&rt, ev, &fo);
            tl_shard_fold(sh, &fo, UINT32_MAX);
            if (traces)
                tl_traces_observe(traces, ev, fo.fbits, fold_synthetic, &sc);
        }
        if (traces)
            tl_traces_expire(traces, wm, fold_synthetic, &sc);
        r.cur_wm = wm;
        tl_shard_evaluate(sh, wm);
        if (wm == end)
            break;
    }
    tl_traces_destroy(traces);
    tl_free(per_line);
    if (r.oom) {
        fprintf(out, "%s:%u:%u: test '%s': out of memory recording alerts\n", f->path, t->line, t->col, t->name);
        failed = 1;
    }
    for (uint32_t i = 0; i < t->nex; i++) {
        char why[600], want[400], at[32];
        if (check_expect(f, &r, &t->ex[i], why, sizeof why))
            continue;
        failed++;
        fmt_expect(&t->ex[i], want, sizeof want);
        fmt_dur(t->ex[i].at, at, sizeof at);
        fprintf(out, "%s:%u:%u: test '%s': at %s expected %s, seen: %s\n", f->path, t->ex[i].line, t->ex[i].col,
                t->name, at, want, why);
    }
    if (o && o->verbose) {
        fprintf(out, "%s %s: test '%s': %zu events, %zu alert events\n", failed ? "FAIL" : "ok  ", f->path, t->name,
                t->nrecs, r.nal);
        for (size_t i = 0; i < r.nal; i++) {
            const seen *s = &r.al[i];
            char ts[32], wm[32], lb[300];
            fmt_dur(s->ts - f->start, ts, sizeof ts);
            fmt_dur(s->emitted_wm - f->start, wm, sizeof wm);
            fmt_seen_labels(s, lb, sizeof lb);
            char rsn[32] = "";
            if (s->resend)
                snprintf(rsn, sizeof rsn, " [resend %u]", s->resend);
            fprintf(out, "    %-8s %-9s %s%s value %.6g%s (evaluated at watermark %s)\n", ts,
                    s->state == TL_ALERT_FIRING ? "FIRING" : "RESOLVED", s->rule, lb, s->value, rsn, wm);
        }
    }
done:
    for (size_t i = 0; i < r.nal; i++)
        tl_free(r.al[i].labels);
    tl_free(r.al);
    tl_free(ev);
    if (router_ok)
        tl_router_fini(&rt);
    tl_shard_destroy(sh);
    return failed;
}

int tl_ruletest_run(tl_ruletest_file *f, const tl_ruletest_run_opts *opts, tl_ruletest_report *rep)
{
    FILE *out = opts && opts->out ? opts->out : stdout;
    int failed = 0;
    for (uint32_t i = 0; i < f->ntests; i++) {
        int nfail = run_test(f, &f->tests[i], opts, out);
        failed += nfail > 0;
        if (rep) {
            rep->tests++;
            rep->failed += nfail > 0;
            rep->expectations_failed += nfail;
        }
    }
    return failed;
}
