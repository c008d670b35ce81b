/* engine/rules.c - rule files to a compiled tl_program (see rules.h and program.h).
 *
 * Two passes over each rule: the YAML is read and every expression is type-checked while
 * the document (and so every position) is still available; what survives is interned into
 * the program's shared tables (atoms, filters, groups, plans), deduplicated by canonical
 * text. After all files, ring lengths and series record layouts are computed, because a
 * plan's ring must cover the longest window of every rule that shares it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "alloc.h"
#include "inst.h"
#include "regex.h"
#include "rules.h"
#include "timefmt.h"
#include "window.h"
#include "yamldoc.h"

#define MAX_ERRORS 50
#define MAX_SLOTS 4096
#define MAX_LABELS 8

typedef struct ctx {
    tl_program *p;
    const tl_rules_opts *opts;
    tl_rules_errors *errs;
    const tl_ydoc *doc;
    const char *dir; /* directory of the current file, for runbook paths */
    uint32_t cap_atoms, cap_filters, cap_groups, cap_plans, cap_rules;
    int oom;
} ctx;

static void add_error(ctx *c, const char *msg)
{
    c->errs->count++;
    tl_rules_errors_append(c->errs, msg);
}

/* Text copied from rule files may hold newlines or control characters; they are escaped so
 * that every error stays on one line. */
void tl_rules_errors_append(tl_rules_errors *e, const char *msg)
{
    if (e->count + e->warnings > MAX_ERRORS || !e->buf || e->cap == 0)
        return;
    for (const char *m = msg; *m && e->len + 5 < e->cap; m++) {
        unsigned char ch = (unsigned char)*m;
        if (ch == '\n') {
            e->buf[e->len++] = '\\';
            e->buf[e->len++] = 'n';
        } else if (ch < 0x20 || ch == 0x7f) {
            e->len += (size_t)snprintf(e->buf + e->len, e->cap - e->len, "\\x%02x", ch);
        } else {
            e->buf[e->len++] = (char)ch;
        }
    }
    if (e->len + 1 < e->cap)
        e->buf[e->len++] = '\n';
    e->buf[e->len < e->cap ? e->len : e->cap - 1] = '\0';
}

/* A warning at a YAML node: the rule is valid but likely to cry wolf. */
static void warn_at(ctx *c, const tl_ynode *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void warn_at(ctx *c, const tl_ynode *n, const char *fmt, ...)
{
    char msg[512], full[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint32_t line = 1, col = 1;
    if (n)
        tl_ynode_pos(n, 0, &line, &col);
    snprintf(full, sizeof full, "%s:%u:%u: warning: %s", c->doc ? c->doc->path : "?", line, col, msg);
    c->errs->warnings++;
    tl_rules_errors_append(c->errs, full);
}

/* Error at a YAML node, `off` bytes into its scalar text. */
static int err_at(ctx *c, const tl_ynode *n, size_t off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int err_at(ctx *c, const tl_ynode *n, size_t off, const char *fmt, ...)
{
    char msg[512], full[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    uint32_t line = 1, col = 1;
    if (n)
        tl_ynode_pos(n, off, &line, &col);
    snprintf(full, sizeof full, "%s:%u:%u: %s", c->doc ? c->doc->path : "?", line, col, msg);
    add_error(c, full);
    return -1;
}

static int grow(ctx *c, void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    uint32_t nc = *cap ? *cap * 2 : 16;
    void *na = tl_realloc(*arr, nc * elem);
    if (!na) {
        c->oom = 1;
        return -1;
    }
    memset((char *)na + *cap * elem, 0, (nc - *cap) * elem);
    *arr = na;
    *cap = nc;
    return 0;
}

/* ---- field references ---------------------------------------------------------------- */

typedef enum ref_kind { REF_NONE, REF_STR, REF_NUM, REF_FLAGS } ref_kind;

static ref_kind resolve_field(const char *path, size_t n, tl_fieldref *ref, int *num)
{
    if (n > 11 && memcmp(path, "attributes.", 11) == 0) {
        ref->is_attr = 1;
        ref->attr = tl_str_make(path + 11, n - 11);
        return REF_STR;
    }
    int f = tl_str_field_lookup(path, n);
    if (f >= 0) {
        ref->is_attr = 0;
        ref->field = f;
        return REF_STR;
    }
    f = tl_num_field_lookup(path, n);
    if (f >= 0) {
        *num = f;
        return REF_NUM;
    }
    if (n == 6 && memcmp(path, "tokens", 6) == 0) {
        *num = TL_N_TOKENS;
        return REF_NUM;
    }
    for (int t = 0; t < TL_T__COUNT; t++) {
        if (strlen(tl_trace_field_names[t]) == n && memcmp(path, tl_trace_field_names[t], n) == 0) {
            *num = TL_N_TRACE(t);
            return REF_NUM;
        }
    }
    if (n == 5 && memcmp(path, "flags", 5) == 0)
        return REF_FLAGS;
    return REF_NONE;
}

static const char *field_hint(void)
{
    return "fields are trace_id, span_id, parent_span_id, service, kind, tool, model, provider, prompt_version, "
           "model_version, status, error_type, latency_ms, input_tokens, output_tokens, tokens, cost_usd, score, "
           "flags, attributes.<key>, and on trace summaries trace_events, trace_llm_calls, trace_tool_calls, "
           "trace_tokens, trace_cost_usd, trace_duration_ms, trace_errors";
}

/* ---- atoms and filters --------------------------------------------------------------- */

static int atom_same(const tl_atom *a, const tl_atom *b)
{
    if (a->op != b->op || a->cmp != b->cmp || a->num_field != b->num_field || a->num != b->num)
        return 0;
    if (a->ref.is_attr != b->ref.is_attr || (!a->ref.is_attr && a->ref.field != b->ref.field) ||
        (a->ref.is_attr && !tl_str_eq(a->ref.attr, b->ref.attr)))
        return 0;
    if (!tl_str_eq(a->s, b->s) || a->nset != b->nset || (a->re != NULL) != (b->re != NULL))
        return 0;
    for (uint32_t i = 0; i < a->nset; i++)
        if (!tl_str_eq(a->set[i], b->set[i]))
            return 0;
    return 1;
}

static tl_str own_str(ctx *c, const char *s, size_t n)
{
    char *d = tl_strndup(s, n);
    if (!d)
        c->oom = 1;
    return tl_str_make(d, d ? n : 0);
}

static void atom_free(tl_atom *a)
{
    tl_regex_free(a->re);
    if (a->ref.is_attr)
        tl_free((void *)a->ref.attr.p);
    tl_free((void *)a->s.p);
    for (uint32_t i = 0; i < a->nset; i++)
        tl_free((void *)a->set[i].p);
    tl_free(a->set);
}

/* Intern an atom (takes ownership of its strings). Returns its index or -1. */
static int intern_atom(ctx *c, tl_atom *a)
{
    tl_program *p = c->p;
    for (uint32_t i = 0; i < p->natoms; i++) {
        if (atom_same(&p->atoms[i], a)) {
            atom_free(a);
            return (int)i;
        }
    }
    if (grow(c, (void **)&p->atoms, &c->cap_atoms, p->natoms, sizeof *p->atoms) < 0) {
        atom_free(a);
        return -1;
    }
    p->atoms[p->natoms] = *a;
    return (int)p->natoms++;
}

static void fnode_free(tl_fnode *n);

/* New node over a and b; on failure a and b are freed (callers can chain without leaks). */
static tl_fnode *fnode(ctx *c, tl_fop op, tl_fnode *a, tl_fnode *b)
{
    tl_fnode *n = tl_calloc(1, sizeof *n);
    if (!n) {
        c->oom = 1;
        fnode_free(a);
        fnode_free(b);
        return NULL;
    }
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static void fnode_free(tl_fnode *n)
{
    if (!n)
        return;
    fnode_free(n->a);
    fnode_free(n->b);
    tl_free(n);
}

static tl_fnode *atom_node(ctx *c, tl_atom *a)
{
    int idx = intern_atom(c, a);
    if (idx < 0)
        return NULL;
    tl_fnode *n = fnode(c, TL_F_ATOM, NULL, NULL);
    if (n)
        n->atom = (uint32_t)idx;
    return n;
}

static tl_fnode *compile_pred(ctx *c, const tl_ynode *yn, const tl_expr *e);

static tl_fnode *compile_cmp(ctx *c, const tl_ynode *yn, const tl_expr *e)
{
    const tl_expr *l = e->a, *r = e->b;
    if (l->kind != TL_E_FIELD) {
        err_at(c, yn, l->pos, "the left side of a comparison must be a field");
        return NULL;
    }
    tl_atom a = {.num_field = -1};
    int num = -1;
    ref_kind rk = resolve_field(l->text, l->text_len, &a.ref, &num);
    if (rk == REF_NONE) {
        err_at(c, yn, l->pos, "unknown field '%s' (%s)", l->text, field_hint());
        return NULL;
    }
    if (rk == REF_FLAGS) {
        err_at(c, yn, l->pos, "flags is a list: test it with 'flags contains \"name\"'");
        return NULL;
    }
    switch (e->kind) {
    case TL_E_CMP:
        if (rk == REF_NUM) {
            if (r->kind != TL_E_NUM) {
                err_at(c, yn, r->pos, "'%s' is numeric: compare it with a number", l->text);
                return NULL;
            }
            if (r->suffix == TL_SUF_PERCENT) {
                err_at(c, yn, r->pos, "a percentage only makes sense for ratios");
                return NULL;
            }
            if (r->suffix == TL_SUF_DURATION && tl_num_field_unit(num) != TL_UNIT_MS) {
                err_at(c, yn, r->pos, "a duration literal compared with '%s', which is not a duration", l->text);
                return NULL;
            }
            a.op = TL_A_NUM_CMP;
            a.cmp = (tl_cmp_op)e->op;
            a.num_field = num;
            a.num = r->num;
            return atom_node(c, &a);
        }
        if (r->kind != TL_E_STR) {
            err_at(c, yn, r->pos, "'%s' is a string: compare it with a quoted string", l->text);
            return NULL;
        }
        if (e->op != TL_OP_EQ && e->op != TL_OP_NE) {
            err_at(c, yn, e->a->end + 1, "strings support only == and != (and in, contains, startswith, endswith)");
            return NULL;
        }
        a.op = TL_A_STR_EQ;
        if (a.ref.is_attr)
            a.ref.attr = own_str(c, a.ref.attr.p, a.ref.attr.n);
        a.s = own_str(c, r->text, r->text_len);
        {
            tl_fnode *n = atom_node(c, &a);
            return n && e->op == TL_OP_NE ? fnode(c, TL_F_NOT, n, NULL) : n;
        }
    case TL_E_IN:
    case TL_E_NOT_IN: {
        if (rk != REF_STR) {
            err_at(c, yn, l->pos, "'in' needs a string field, '%s' is numeric", l->text);
            return NULL;
        }
        if (r->kind != TL_E_LIST || r->nargs == 0) {
            err_at(c, yn, r->pos, "'in' needs a non-empty list of strings, e.g. [\"a\", \"b\"]");
            return NULL;
        }
        for (size_t i = 0; i < r->nargs; i++) {
            if (r->args[i]->kind != TL_E_STR) {
                err_at(c, yn, r->args[i]->pos, "list items must be quoted strings");
                return NULL;
            }
        }
        a.op = TL_A_STR_IN;
        if (a.ref.is_attr)
            a.ref.attr = own_str(c, a.ref.attr.p, a.ref.attr.n);
        a.set = tl_calloc(r->nargs, sizeof *a.set);
        if (!a.set) {
            c->oom = 1;
            return NULL;
        }
        a.nset = (uint32_t)r->nargs;
        for (size_t i = 0; i < r->nargs; i++)
            a.set[i] = own_str(c, r->args[i]->text, r->args[i]->text_len);
        tl_fnode *n = atom_node(c, &a);
        return n && e->kind == TL_E_NOT_IN ? fnode(c, TL_F_NOT, n, NULL) : n;
    }
    case TL_E_MATCHES: {
        if (r->kind != TL_E_STR) {
            err_at(c, yn, r->pos, "expected a quoted regular expression");
            return NULL;
        }
        if (rk == REF_NUM) {
            err_at(c, yn, l->pos, "'%s' is numeric, not a string", l->text);
            return NULL;
        }
        char msg[200];
        size_t epos = 0;
        a.re = tl_regex_compile(r->text, r->text_len, msg, sizeof msg, &epos);
        if (!a.re) {
            /* position inside the quoted pattern (escapes in the rule file aside) */
            err_at(c, yn, r->pos + 1 + epos, "invalid regular expression: %s", msg);
            return NULL;
        }
        a.op = TL_A_STR_MATCH;
        if (a.ref.is_attr)
            a.ref.attr = own_str(c, a.ref.attr.p, a.ref.attr.n);
        a.s = own_str(c, r->text, r->text_len);
        return atom_node(c, &a);
    }
    case TL_E_CONTAINS:
    case TL_E_STARTSWITH:
    case TL_E_ENDSWITH:
        if (r->kind != TL_E_STR) {
            err_at(c, yn, r->pos, "expected a quoted string");
            return NULL;
        }
        if (rk == REF_NUM) {
            err_at(c, yn, l->pos, "'%s' is numeric, not a string", l->text);
            return NULL;
        }
        a.op = e->kind == TL_E_CONTAINS ? TL_A_STR_CONTAINS : e->kind == TL_E_STARTSWITH ? TL_A_STR_PREFIX : TL_A_STR_SUFFIX;
        if (a.ref.is_attr)
            a.ref.attr = own_str(c, a.ref.attr.p, a.ref.attr.n);
        a.s = own_str(c, r->text, r->text_len);
        return atom_node(c, &a);
    default:
        break;
    }
    err_at(c, yn, e->pos, "not a condition");
    return NULL;
}

static tl_fnode *compile_pred(ctx *c, const tl_ynode *yn, const tl_expr *e)
{
    switch (e->kind) {
    case TL_E_AND:
    case TL_E_OR: {
        tl_fnode *a = compile_pred(c, yn, e->a);
        tl_fnode *b = a ? compile_pred(c, yn, e->b) : NULL;
        if (!a || !b) {
            fnode_free(a);
            fnode_free(b);
            return NULL;
        }
        return fnode(c, e->kind == TL_E_AND ? TL_F_AND : TL_F_OR, a, b);
    }
    case TL_E_NOT: {
        tl_fnode *a = compile_pred(c, yn, e->a);
        return a ? fnode(c, TL_F_NOT, a, NULL) : NULL;
    }
    case TL_E_BOOL:
        return fnode(c, e->num != 0 ? TL_F_TRUE : TL_F_FALSE, NULL, NULL);
    case TL_E_CONTAINS:
        if (e->a->kind == TL_E_FIELD && e->a->text_len == 5 && memcmp(e->a->text, "flags", 5) == 0) {
            if (e->b->kind != TL_E_STR) {
                err_at(c, yn, e->b->pos, "expected a quoted flag name");
                return NULL;
            }
            tl_atom a = {.op = TL_A_FLAG, .num_field = -1};
            a.s = own_str(c, e->b->text, e->b->text_len);
            return atom_node(c, &a);
        }
        return compile_cmp(c, yn, e);
    case TL_E_CMP:
    case TL_E_IN:
    case TL_E_NOT_IN:
    case TL_E_STARTSWITH:
    case TL_E_ENDSWITH:
    case TL_E_MATCHES:
        return compile_cmp(c, yn, e);
    case TL_E_CALL:
        if (strcmp(e->text, "has") == 0) {
            if (e->nargs != 1 || e->args[0]->kind != TL_E_FIELD) {
                err_at(c, yn, e->pos, "has() takes one field, e.g. has(tool)");
                return NULL;
            }
            const tl_expr *f = e->args[0];
            tl_atom a = {.op = TL_A_HAS, .num_field = -1};
            int num = -1;
            ref_kind rk = resolve_field(f->text, f->text_len, &a.ref, &num);
            if (rk == REF_NONE || rk == REF_FLAGS) {
                err_at(c, yn, f->pos, "unknown field '%s' (%s)", f->text, field_hint());
                return NULL;
            }
            if (rk == REF_NUM)
                a.num_field = num;
            else if (a.ref.is_attr)
                a.ref.attr = own_str(c, a.ref.attr.p, a.ref.attr.n);
            return atom_node(c, &a);
        }
        err_at(c, yn, e->pos, "unknown function '%s' in a condition (conditions use has(field))", e->text);
        return NULL;
    case TL_E_FIELD:
        err_at(c, yn, e->pos, "a field alone is not a condition: compare it, e.g. %s == \"...\"", e->text);
        return NULL;
    default:
        err_at(c, yn, e->pos, "expected a condition");
        return NULL;
    }
}

/* Intern a filter (condition expression or NULL for "every event"). */
static int intern_filter(ctx *c, const tl_ynode *yn, const tl_expr *e)
{
    /* the full canonical text: two long filters must never be confused by a truncation */
    size_t len = e ? tl_expr_canon(e, NULL, 0) : 4;
    char *canon = tl_malloc(len + 1);
    if (!canon) {
        c->oom = 1;
        return -1;
    }
    if (e)
        tl_expr_canon(e, canon, len + 1);
    else
        memcpy(canon, "true", 5);
    tl_program *p = c->p;
    for (uint32_t i = 0; i < p->nfilters; i++) {
        if (strcmp(p->filters[i].canon, canon) == 0) {
            tl_free(canon);
            return (int)i;
        }
    }
    tl_fnode *root = e ? compile_pred(c, yn, e) : fnode(c, TL_F_TRUE, NULL, NULL);
    if (!root || grow(c, (void **)&p->filters, &c->cap_filters, p->nfilters, sizeof *p->filters) < 0) {
        fnode_free(root);
        tl_free(canon);
        return -1;
    }
    p->filters[p->nfilters].root = root;
    p->filters[p->nfilters].canon = canon;
    return (int)p->nfilters++;
}

/* ---- groups and plans ----------------------------------------------------------------- */

static int intern_group(ctx *c, char **names, uint32_t n)
{
    tl_program *p = c->p;
    for (uint32_t g = 0; g < p->ngroups; g++) {
        if (p->groups[g].nlabels != n)
            continue;
        uint32_t i;
        for (i = 0; i < n; i++)
            if (strcmp(p->groups[g].label_names[i], names[i]) != 0)
                break;
        if (i == n) {
            for (i = 0; i < n; i++)
                tl_free(names[i]);
            return (int)g;
        }
    }
    if (grow(c, (void **)&p->groups, &c->cap_groups, p->ngroups, sizeof *p->groups) < 0) {
        for (uint32_t i = 0; i < n; i++)
            tl_free(names[i]);
        return -1;
    }
    tl_group *g = &p->groups[p->ngroups];
    g->nlabels = n;
    g->label_names = tl_calloc(n ? n : 1, sizeof *g->label_names);
    g->labels = tl_calloc(n ? n : 1, sizeof *g->labels);
    if (!g->label_names || !g->labels) {
        c->oom = 1;
        tl_free(g->label_names);
        tl_free(g->labels);
        g->label_names = NULL;
        g->labels = NULL;
        for (uint32_t i = 0; i < n; i++)
            tl_free(names[i]);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        g->label_names[i] = names[i];
        int num = -1;
        resolve_field(names[i], strlen(names[i]), &g->labels[i], &num);
    }
    return (int)p->ngroups++;
}

static int intern_plan(ctx *c, tl_plan_kind kind, uint32_t group, uint32_t filter, int32_t pred, int field,
                       int64_t width, uint32_t window_slots)
{
    tl_program *p = c->p;
    for (uint32_t i = 0; i < p->nplans; i++) {
        tl_plan *pl = &p->plans[i];
        if (pl->kind == kind && pl->group == group && pl->filter == filter && pl->pred == pred &&
            pl->field == field && pl->width_ms == width) {
            if (window_slots > pl->nslots)
                pl->nslots = window_slots;
            return (int)i;
        }
    }
    if (grow(c, (void **)&p->plans, &c->cap_plans, p->nplans, sizeof *p->plans) < 0)
        return -1;
    tl_plan *pl = &p->plans[p->nplans];
    pl->kind = kind;
    pl->group = group;
    pl->filter = filter;
    pl->pred = pred;
    pl->field = field;
    pl->width_ms = width;
    pl->nslots = window_slots; /* completed in finish() */
    return (int)p->nplans++;
}

/* ---- values ---------------------------------------------------------------------------- */

typedef struct rule_build {
    int release; /* the rule is release-aware */
    uint32_t group, filter;
    int64_t width;
    uint32_t window_slots;
    int first_plan;
} rule_build;

static void vnode_free(tl_vnode *v)
{
    if (!v)
        return;
    vnode_free(v->a);
    vnode_free(v->b);
    tl_free(v);
}

static tl_unit combine_units(int op, tl_unit a, tl_unit b)
{
    int a_plain = a == TL_UNIT_NONE || a == TL_UNIT_COUNT, b_plain = b == TL_UNIT_NONE || b == TL_UNIT_COUNT;
    switch (op) {
    case TL_V_ADD:
    case TL_V_SUB:
        return a == b ? a : TL_UNIT_NONE;
    case TL_V_MUL:
        return a_plain ? b : b_plain ? a : TL_UNIT_NONE;
    case TL_V_DIV:
        if (a == b)
            return TL_UNIT_NONE;
        return b_plain ? a : TL_UNIT_NONE;
    }
    return TL_UNIT_NONE;
}

static tl_vnode *compile_value(ctx *c, const tl_ynode *yn, const tl_expr *e, rule_build *rb, tl_unit *unit);

/* A duration argument (`7d`, `1h`) of previous/offset/baseline. */
static int duration_arg(ctx *c, const tl_ynode *yn, const tl_expr *call, size_t i, const char *what, int64_t *out)
{
    if (call->nargs <= i || call->args[i]->kind != TL_E_NUM || call->args[i]->suffix != TL_SUF_DURATION ||
        call->args[i]->num <= 0)
        return err_at(c, yn, call->nargs > i ? call->args[i]->pos : call->pos, "%s() needs %s as a duration, e.g. 7d",
                      call->text, what);
    *out = (int64_t)call->args[i]->num;
    return 0;
}

/* previous(expr), offset(expr, shift[, resolution]), baseline(expr, period[, resolution]):
 * expr is compiled again in a context whose plans keep the history these need. Offsets and
 * baselines read roll-ups: slots of `resolution` (default 1h) kept for the whole period, so a
 * 7-day baseline costs 168 buckets per series, never raw events. */
static tl_vnode *compile_time_shift(ctx *c, const tl_ynode *yn, const tl_expr *e, rule_build *rb, tl_unit *unit)
{
    const char *fn = e->text;
    int prev = fn[0] == 'p', base = fn[0] == 'b';
    size_t want = prev ? 1 : 2;
    if (e->nargs < want || e->nargs > want + (prev ? 0 : 1)) {
        err_at(c, yn, e->pos, prev ? "previous() takes one value expression: previous(avg(cost_usd))"
                              : base ? "baseline() takes a value, a period and an optional resolution: "
                                       "baseline(avg(cost_usd), 7d, 1h)"
                                     : "offset() takes a value, a shift and an optional resolution: offset(avg(cost_usd), 7d)");
        return NULL;
    }
    tl_vnode *v = tl_calloc(1, sizeof *v);
    if (!v) {
        c->oom = 1;
        return NULL;
    }
    v->op = prev ? TL_V_PREVIOUS : base ? TL_V_BASELINE : TL_V_OFFSET;
    rule_build inner = *rb;
    int64_t window = (int64_t)rb->window_slots * rb->width;
    if (prev) {
        inner.window_slots = rb->window_slots * 2;
    } else {
        int64_t amount, res = 3600000;
        if (duration_arg(c, yn, e, 1, base ? "a period" : "a shift", &amount) < 0 ||
            (e->nargs == 3 && duration_arg(c, yn, e, 2, "a resolution", &res) < 0))
            goto fail;
        if (res < 60000 || res < rb->width) {
            err_at(c, yn, e->args[e->nargs - 1]->pos, "the roll-up resolution must be at least 1m and at least the rule's slot");
            goto fail;
        }
        if (base && (amount % res || amount / res < 2)) {
            err_at(c, yn, e->args[1]->pos, "the baseline period must be a whole number (>= 2) of %lld ms buckets",
                   (long long)res);
            goto fail;
        }
        int64_t span = base ? amount + res : amount + window + res;
        if (span / res > MAX_SLOTS) {
            err_at(c, yn, e->args[1]->pos, "this needs %lld roll-up buckets; at most %d (use a coarser resolution)",
                   (long long)(span / res), MAX_SLOTS);
            goto fail;
        }
        inner.width = res;
        inner.window_slots = (uint32_t)((span + res - 1) / res);
        if (base) {
            v->period_ms = amount;
        } else {
            v->shift_ms = amount;
        }
        v->res_ms = res;
    }
    v->a = compile_value(c, yn, e->args[0], &inner, unit);
    if (!v->a)
        goto fail;
    /* the rule's event count (min_events) comes from its current window, never from history */
    if (rb->first_plan < 0 && prev)
        rb->first_plan = inner.first_plan;
    return v;
fail:
    tl_free(v);
    return NULL;
}

static tl_vnode *compile_value(ctx *c, const tl_ynode *yn, const tl_expr *e, rule_build *rb, tl_unit *unit)
{
    tl_vnode *v = tl_calloc(1, sizeof *v);
    if (!v) {
        c->oom = 1;
        return NULL;
    }
    switch (e->kind) {
    case TL_E_NUM:
        v->op = TL_V_NUM;
        v->num = e->num;
        *unit = e->suffix == TL_SUF_PERCENT ? TL_UNIT_RATIO : e->suffix == TL_SUF_DURATION ? TL_UNIT_MS : TL_UNIT_NONE;
        return v;
    case TL_E_NEG:
        v->op = TL_V_NEG;
        v->a = compile_value(c, yn, e->a, rb, unit);
        if (!v->a)
            goto fail;
        return v;
    case TL_E_ARITH: {
        tl_unit ua, ub;
        v->op = e->op == '+' ? TL_V_ADD : e->op == '-' ? TL_V_SUB : e->op == '*' ? TL_V_MUL : TL_V_DIV;
        v->a = compile_value(c, yn, e->a, rb, &ua);
        v->b = v->a ? compile_value(c, yn, e->b, rb, &ub) : NULL;
        if (!v->b)
            goto fail;
        *unit = combine_units(v->op, ua, ub);
        return v;
    }
    case TL_E_CALL:
        break;
    case TL_E_FIELD:
        err_at(c, yn, e->pos, "a value must aggregate over the window: e.g. avg(%s), p95(%s), count()", e->text, e->text);
        goto fail;
    default:
        err_at(c, yn, e->pos, "expected an aggregate such as count(), ratio(cond), sum(field), avg(field), p95(field)");
        goto fail;
    }
    const char *fn = e->text;
    if (strcmp(fn, "previous_release") == 0) {
        /* the same value on the series of the release before this one (release-aware rules) */
        if (e->nargs != 1) {
            err_at(c, yn, e->pos, "previous_release() takes one value expression: previous_release(ratio(...))");
            goto fail;
        }
        if (!rb->release) {
            err_at(c, yn, e->pos, "previous_release() needs a release-aware rule (release: and during:)");
            goto fail;
        }
        v->op = TL_V_PREV_RELEASE;
        v->a = compile_value(c, yn, e->args[0], rb, unit);
        if (!v->a)
            goto fail;
        return v;
    }
    if (strcmp(fn, "previous") == 0 || strcmp(fn, "offset") == 0 || strcmp(fn, "baseline") == 0) {
        tl_vnode *t = compile_time_shift(c, yn, e, rb, unit);
        tl_free(v);
        return t;
    }
    v->op = TL_V_AGG;
    double q = -1;
    const tl_expr *field_arg = NULL;
    if (strcmp(fn, "count") == 0 || strcmp(fn, "ratio") == 0 || strcmp(fn, "rate") == 0) {
        int is_ratio = fn[1] == 'a' && fn[2] == 't' && fn[3] == 'i', is_rate = strcmp(fn, "rate") == 0;
        if (is_ratio && e->nargs != 1) {
            err_at(c, yn, e->pos, "ratio() takes one condition: the share of filtered events that match it");
            goto fail;
        }
        if (is_rate && e->nargs != 0) {
            err_at(c, yn, e->pos, "rate() takes no arguments: filtered events per second");
            goto fail;
        }
        if (e->nargs > 1) {
            err_at(c, yn, e->args[1]->pos, "count() takes at most one condition");
            goto fail;
        }
        int32_t pred = -1;
        if (e->nargs == 1) {
            pred = intern_filter(c, yn, e->args[0]);
            if (pred < 0)
                goto fail;
        }
        int pl = intern_plan(c, TL_PLAN_COUNTER, rb->group, rb->filter, pred, -1, rb->width, rb->window_slots);
        if (pl < 0)
            goto fail;
        v->plan = (uint32_t)pl;
        v->agg = is_ratio ? TL_AGG_RATIO : is_rate ? TL_AGG_RATE : pred >= 0 ? TL_AGG_HITS : TL_AGG_COUNT;
        *unit = is_ratio ? TL_UNIT_RATIO : is_rate ? TL_UNIT_PER_SEC : TL_UNIT_COUNT;
        if (rb->first_plan < 0)
            rb->first_plan = pl;
        return v;
    }
    if (strcmp(fn, "distinct") == 0) {
        /* approximate distinct count of a string field: users affected, traces, models */
        if (e->nargs != 1 || e->args[0]->kind != TL_E_FIELD) {
            err_at(c, yn, e->pos, "distinct() takes one string field, e.g. distinct(attributes.user_id)");
            goto fail;
        }
        const tl_expr *fa = e->args[0];
        tl_fieldref ref;
        int num = -1;
        ref_kind rk = resolve_field(fa->text, fa->text_len, &ref, &num);
        if (rk != REF_STR) {
            err_at(c, yn, fa->pos, rk == REF_NONE ? "unknown field '%s' (%s)" : "distinct() counts a string field; '%s' is not one",
                   fa->text, field_hint());
            goto fail;
        }
        tl_program *p = c->p;
        uint32_t d;
        for (d = 0; d < p->ndfields; d++) {
            const tl_fieldref *x = &p->dfields[d];
            if (x->is_attr == ref.is_attr && (ref.is_attr ? tl_str_eq(x->attr, ref.attr) : x->field == ref.field))
                break;
        }
        if (d == p->ndfields) {
            if (d == TL_MAX_DFIELDS) {
                err_at(c, yn, fa->pos, "at most %d different fields can be counted with distinct()", TL_MAX_DFIELDS);
                goto fail;
            }
            p->dfields[d] = ref;
            if (ref.is_attr)
                p->dfields[d].attr = own_str(c, ref.attr.p, ref.attr.n);
            p->ndfields++;
        }
        int pl = intern_plan(c, TL_PLAN_DISTINCT, rb->group, rb->filter, -1, (int)d, rb->width, rb->window_slots);
        if (pl < 0)
            goto fail;
        v->agg = TL_AGG_DISTINCT;
        v->plan = (uint32_t)pl;
        *unit = TL_UNIT_COUNT;
        if (rb->first_plan < 0)
            rb->first_plan = pl;
        return v;
    }
    if (strcmp(fn, "sum") == 0 || strcmp(fn, "avg") == 0 || strcmp(fn, "min") == 0 || strcmp(fn, "max") == 0) {
        v->agg = fn[0] == 's' ? TL_AGG_SUM : fn[0] == 'a' ? TL_AGG_AVG : fn[1] == 'i' ? TL_AGG_MIN : TL_AGG_MAX;
        if (e->nargs != 1) {
            err_at(c, yn, e->pos, "%s() takes one numeric field, e.g. %s(cost_usd)", fn, fn);
            goto fail;
        }
        field_arg = e->args[0];
    } else if (fn[0] == 'p' && fn[1] >= '0' && fn[1] <= '9') {
        char *end;
        q = strtod(fn + 1, &end) / 100.0;
        if (*end || q < 0 || q > 1) {
            err_at(c, yn, e->pos, "unknown percentile '%s' (use p50, p95, p99, p99.9, ...)", fn);
            goto fail;
        }
        if (e->nargs != 1) {
            err_at(c, yn, e->pos, "%s() takes one numeric field, e.g. %s(latency_ms)", fn, fn);
            goto fail;
        }
        field_arg = e->args[0];
    } else if (strcmp(fn, "quantile") == 0) {
        if (e->nargs != 2 || e->args[0]->kind != TL_E_NUM) {
            err_at(c, yn, e->pos, "quantile() takes a number in [0, 1] and a field: quantile(0.95, latency_ms)");
            goto fail;
        }
        q = e->args[0]->num;
        if (q < 0 || q > 1) {
            err_at(c, yn, e->args[0]->pos, "quantile must be between 0 and 1");
            goto fail;
        }
        field_arg = e->args[1];
    } else {
        err_at(c, yn, e->pos,
               "unknown function '%s' (aggregates: count, ratio, rate, sum, avg, min, max, p50/p95/p99/pNN, quantile, "
               "distinct; history: previous, offset, baseline)",
               fn);
        goto fail;
    }
    if (field_arg->kind != TL_E_FIELD) {
        err_at(c, yn, field_arg->pos, "expected a numeric field");
        goto fail;
    }
    tl_fieldref ref;
    int num = -1;
    ref_kind rk = resolve_field(field_arg->text, field_arg->text_len, &ref, &num);
    if (rk != REF_NUM) {
        if (rk == REF_NONE)
            err_at(c, yn, field_arg->pos, "unknown field '%s' (%s)", field_arg->text, field_hint());
        else
            err_at(c, yn, field_arg->pos,
                   "%s() needs a numeric field; '%s' is not numeric (numeric: latency_ms, input_tokens, output_tokens, "
                   "tokens, cost_usd, score)",
                   fn, field_arg->text);
        goto fail;
    }
    int pl = intern_plan(c, q >= 0 ? TL_PLAN_SKETCH : TL_PLAN_MOMENTS, rb->group, rb->filter, -1, num, rb->width,
                         rb->window_slots);
    if (pl < 0)
        goto fail;
    if (q >= 0) {
        v->agg = TL_AGG_QUANTILE;
        v->q = q;
    }
    v->plan = (uint32_t)pl;
    *unit = tl_num_field_unit(num);
    if (rb->first_plan < 0)
        rb->first_plan = pl;
    return v;
fail:
    vnode_free(v);
    return NULL;
}

/* ---- one rule -------------------------------------------------------------------------- */

/* Hash of a YAML subtree's content (not its positions): a rule's identity across reloads. */
static uint64_t node_hash(const tl_ynode *n, uint64_t h)
{
    if (!n)
        return h;
    h = XXH3_64bits_withSeed(&n->type, sizeof n->type, h);
    if (n->type == TL_Y_SCALAR)
        return XXH3_64bits_withSeed(n->str, n->len, h);
    for (size_t i = 0; i < n->n; i++) {
        if (n->type == TL_Y_MAP)
            h = node_hash(n->keys[i], h);
        h = node_hash(n->items[i], h);
    }
    return h;
}

/* z with P(Z <= z) = p for a standard normal Z (Newton on erfc; p in [0.5, 1)). */
static double tl_normal_quantile(double p)
{
    double z = 1.0;
    for (int i = 0; i < 60; i++) {
        double f = 0.5 * erfc(-z / sqrt(2.0)) - p;
        double d = exp(-z * z / 2) / sqrt(2 * M_PI);
        double step = f / d;
        z -= step;
        if (fabs(step) < 1e-12)
            break;
    }
    return z;
}

static const char *const rule_keys[] = {"name", "description", "filter", "group_by", "value", "window", "slot",
                                        "threshold", "min_events", "for", "severity", "owner", "runbook",
                                        "summary", "labels", "renotify_interval", "keep_firing_for", "resolve",
                                        "confidence", "max_instances", "no_data", "sequence", "within",
                                        "tool_combinations", "event", "dedup", "release", "during", NULL};

static char *err_buf(void)
{
    static _Thread_local char b[1024];
    return b;
}

/* Report a yamldoc reader error (already positioned). */
static int yerr(ctx *c)
{
    add_error(c, err_buf());
    return -1;
}

static int get_str(ctx *c, const tl_ynode *m, const char *key, int required, const tl_ynode **node, const char **out)
{
    const tl_ynode *n = tl_ynode_get(m, key);
    *node = n;
    *out = NULL;
    if (!n) {
        if (required)
            return err_at(c, m, 0, "rule is missing '%s'", key);
        return 0;
    }
    if (tl_ynode_str(c->doc, n, out, err_buf(), 1024) < 0)
        return yerr(c);
    if (required && !**out)
        return err_at(c, n, 0, "'%s' must not be empty", key);
    return 0;
}

static tl_expr *parse_expr(ctx *c, const tl_ynode *n)
{
    char msg[256];
    size_t pos = 0;
    tl_expr *e = tl_expr_parse(n->str, n->len, msg, sizeof msg, &pos);
    if (!e)
        err_at(c, n, pos, "%s", msg);
    return e;
}

static int64_t auto_slot(int64_t window)
{
    static const int64_t nice[] = {1000, 2000, 5000, 10000, 15000, 20000, 30000, 60000, 120000, 300000,
                                   600000, 900000, 1800000, 3600000};
    int64_t target = window / 30, best = nice[0];
    for (size_t i = 0; i < sizeof nice / sizeof nice[0]; i++)
        if (nice[i] <= target)
            best = nice[i];
    return best;
}

static int parse_threshold(ctx *c, const tl_ynode *n, tl_cmp_op *op, double *val, tl_num_suffix *suf)
{
    if (n->type != TL_Y_SCALAR)
        return err_at(c, n, 0, "threshold must be a string such as \"> 10%%\"");
    const char *s = n->str;
    size_t i = 0;
    while (i < n->len && s[i] == ' ')
        i++;
    static const struct { const char *t; tl_cmp_op op; } ops[] = {
        {">=", TL_OP_GE}, {"<=", TL_OP_LE}, {"==", TL_OP_EQ}, {"!=", TL_OP_NE}, {">", TL_OP_GT}, {"<", TL_OP_LT},
    };
    size_t k;
    for (k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (strncmp(s + i, ops[k].t, strlen(ops[k].t)) == 0)
            break;
    if (k == sizeof ops / sizeof ops[0])
        return err_at(c, n, i, "threshold must start with a comparison (>, >=, <, <=, ==, !=), e.g. \"> 10%%\"");
    *op = ops[k].op;
    i += strlen(ops[k].t);
    char msg[256];
    size_t pos = 0;
    tl_expr *e = tl_expr_parse(s + i, n->len - i, msg, sizeof msg, &pos);
    if (!e)
        return err_at(c, n, i + pos, "%s", msg);
    int rc = 0;
    if (e->kind != TL_E_NUM) {
        rc = err_at(c, n, i + e->pos, "threshold must be a number (with an optional %%, duration or k suffix)");
    } else {
        *val = e->num;
        *suf = e->suffix;
    }
    tl_expr_free(e);
    return rc;
}

static int valid_severity(const char *s)
{
    return strcmp(s, "critical") == 0 || strcmp(s, "error") == 0 || strcmp(s, "warning") == 0 || strcmp(s, "info") == 0;
}

static int rule_name_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static int runbook_exists(ctx *c, const char *rb)
{
    if (strncmp(rb, "http://", 7) == 0 || strncmp(rb, "https://", 8) == 0)
        return 1;
    struct stat st;
    if (stat(rb, &st) == 0)
        return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", c->dir, rb);
    return stat(path, &st) == 0;
}

static const char *const tmpl_builtin[] = {"value", "threshold", "window", "alert", "severity", "owner", "metric", NULL};

static tl_template *compile_template(ctx *c, const tl_ynode *n, const char *src, const tl_group *g,
                                     const tl_ynode *labels)
{
    char msg[256];
    size_t col = 0;
    tl_template *t = tl_template_compile(src, strlen(src), msg, sizeof msg, &col);
    if (!t) {
        err_at(c, n, col, "%s", msg);
        return NULL;
    }
    for (size_t i = 0; i < tl_template_nvars(t); i++) {
        size_t vcol = 0;
        const char *name = tl_template_var(t, i, &vcol);
        int ok = 0;
        for (size_t k = 0; tmpl_builtin[k] && !ok; k++)
            ok = strcmp(tmpl_builtin[k], name) == 0;
        for (uint32_t k = 0; k < g->nlabels && !ok; k++)
            ok = strcmp(g->label_names[k], name) == 0;
        if (!ok && labels)
            ok = tl_ynode_get(labels, name) != NULL;
        if (!ok) {
            err_at(c, n, vcol, "template names '%s', which is neither a group_by label, a static label, nor one of "
                               "value, threshold, window, alert, severity, owner, metric", name);
            tl_template_destroy(t);
            return NULL;
        }
    }
    return t;
}

/* Can adding events to the open slot only make the condition more true? Then the closing
 * evaluation's outcome is already certain once it holds, and the rule may fire early. */
static int monotone_condition(const tl_vnode *v, tl_cmp_op op, double thr)
{
    if (v->op != TL_V_AGG)
        return 0;
    int up = op == TL_OP_GT || op == TL_OP_GE, down = op == TL_OP_LT || op == TL_OP_LE;
    switch (v->agg) {
    case TL_AGG_COUNT:
    case TL_AGG_HITS:
    case TL_AGG_RATE:
    case TL_AGG_MAX:
    case TL_AGG_DISTINCT: /* registers and exact sets only grow */
        return up;
    case TL_AGG_MIN:
        return down;
    case TL_AGG_RATIO:
        return op == TL_OP_GT && thr == 0; /* ratio > 0 is hits > 0 */
    default:
        return 0;
    }
}

static void rule_fini(tl_rule *r)
{
    tl_free(r->name);
    tl_free(r->file);
    vnode_free(r->value);
    tl_free(r->metric);
    tl_free(r->severity);
    tl_free(r->owner);
    tl_free(r->runbook);
    tl_template_destroy(r->summary);
    tl_template_destroy(r->description);
    for (uint32_t i = 0; i < r->nstatic; i++) {
        tl_free(r->static_keys[i]);
        tl_free(r->static_vals[i]);
    }
    tl_free(r->static_keys);
    tl_free(r->static_vals);
}

/* A rule node with extra synthesised entries (sequence and combination rules are counts of
 * the events their matchers synthesise). The extra nodes carry the position of `at`. */
typedef struct synth_rule {
    tl_ynode m;
    tl_ynode extra[4];
    char text[4][512];
    tl_ynode *keys[64], *items[64];
    tl_ynode knodes[4];
} synth_rule;

static void synth_add(synth_rule *sr, const tl_ynode *at, const char *key, const char *fmt, const char *arg)
    __attribute__((format(printf, 4, 0)));
static void synth_add(synth_rule *sr, const tl_ynode *at, const char *key, const char *fmt, const char *arg)
{
    size_t k = 0;
    while (k < 4 && sr->extra[k].str)
        k++;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(sr->text[k], sizeof sr->text[k], fmt, arg);
#pragma GCC diagnostic pop
    tl_ynode *v = &sr->extra[k], *kn = &sr->knodes[k];
    memset(v, 0, sizeof *v);
    v->type = TL_Y_SCALAR;
    v->line = at->line;
    v->col = at->col;
    v->str = sr->text[k];
    v->len = strlen(sr->text[k]);
    memset(kn, 0, sizeof *kn);
    kn->type = TL_Y_SCALAR;
    kn->str = key;
    kn->len = strlen(key);
    sr->keys[sr->m.n] = kn;
    sr->items[sr->m.n] = v;
    sr->m.n++;
}

static const tl_ynode *synth_begin(synth_rule *sr, const tl_ynode *m)
{
    memset(sr, 0, sizeof *sr);
    sr->m = *m;
    size_t n = m->n < 60 ? m->n : 60;
    for (size_t i = 0; i < n; i++) {
        sr->keys[i] = m->keys[i];
        sr->items[i] = m->items[i];
    }
    sr->m.n = n;
    sr->m.keys = sr->keys;
    sr->m.items = sr->items;
    return &sr->m;
}

static int load_sequence(ctx *c, const tl_ynode *m, const tl_ynode *seq, const char *name)
{
    int bad = 0;
    if (tl_ynode_get(m, "value") || tl_ynode_get(m, "threshold") || tl_ynode_get(m, "filter"))
        return err_at(c, seq, 0, "a sequence rule counts its matches: it takes no value, threshold or filter");
    if (seq->type != TL_Y_SEQ || seq->n < 2 || seq->n > TL_SEQ_MAX_STEPS)
        return err_at(c, seq, 0, "sequence must be a list of 2 to %d conditions, in the order they must happen",
                      TL_SEQ_MAX_STEPS);
    const tl_ynode *n_within = tl_ynode_get(m, "within");
    int64_t within = 0;
    if (!n_within)
        return err_at(c, m, 0, "a sequence rule needs 'within': the longest time between two steps, e.g. 60s");
    if (tl_ynode_duration(c->doc, n_within, &within, err_buf(), 1024) < 0)
        return yerr(c);
    tl_program *p = c->p;
    if (p->nseqs >= TL_MAX_SEQ_RULES)
        return err_at(c, seq, 0, "at most %d sequence rules", TL_MAX_SEQ_RULES);
    tl_seqrule *na = tl_realloc(p->seqs, (p->nseqs + 1) * sizeof *na);
    if (!na)
        return c->oom = 1, -1;
    p->seqs = na;
    tl_seqrule *sq = &p->seqs[p->nseqs];
    memset(sq, 0, sizeof *sq);
    sq->within_ms = within;
    for (size_t i = 0; i < seq->n; i++) {
        const tl_ynode *step = seq->items[i];
        if (step->type != TL_Y_SCALAR) {
            bad |= err_at(c, step, 0, "each step is a condition, e.g. kind == \"tool_call\"");
            continue;
        }
        tl_expr *e = parse_expr(c, step);
        int f = e ? intern_filter(c, step, e) : -1;
        tl_expr_free(e);
        if (f < 0)
            bad = 1;
        else
            sq->steps[sq->nsteps++] = (uint32_t)f;
    }
    if (bad)
        return -1;
    sq->name = tl_strdup(name);
    if (!sq->name)
        return c->oom = 1, -1;
    p->nseqs++;
    return 0;
}

static int load_combinations(ctx *c, const tl_ynode *m, const tl_ynode *tc, const char *name)
{
    if (tl_ynode_get(m, "value") || tl_ynode_get(m, "threshold") || tl_ynode_get(m, "filter"))
        return err_at(c, tc, 0, "a tool_combinations rule counts unexpected combinations: it takes no value, "
                                "threshold or filter (put the filter inside tool_combinations)");
    static const char *const keys[] = {"allowed", "learn", "filter", NULL};
    if (tc->type != TL_Y_MAP)
        return err_at(c, tc, 0, "tool_combinations must be a mapping with 'allowed' (a list of tool lists) and an "
                                "optional 'filter'");
    if (tl_ynode_check_keys(c->doc, tc, keys, err_buf(), 1024) < 0)
        return yerr(c);
    const tl_ynode *allowed = tl_ynode_get(tc, "allowed"), *flt = tl_ynode_get(tc, "filter");
    const tl_ynode *learn = tl_ynode_get(tc, "learn");
    int64_t learn_ms = 0;
    if (learn && allowed)
        return err_at(c, learn, 0, "use either 'allowed' (fixed sets) or 'learn' (pairs seen in a baseline), not both");
    if (learn) {
        if (tl_ynode_duration(c->doc, learn, &learn_ms, err_buf(), 1024) < 0)
            return yerr(c);
        if (learn_ms <= 0)
            return err_at(c, learn, 0, "learn must be a positive duration, e.g. 7d");
    } else if (!allowed || allowed->type != TL_Y_SEQ || allowed->n == 0 || allowed->n > TL_COMBO_MAX_SETS)
        return err_at(c, allowed ? allowed : tc, 0, "'allowed' must list 1 to %d tool sets, e.g. [[search_kb, create_ticket]]",
                      TL_COMBO_MAX_SETS);
    tl_program *p = c->p;
    if (p->ncombos >= TL_MAX_COMBO_RULES)
        return err_at(c, tc, 0, "at most %d tool_combinations rules", TL_MAX_COMBO_RULES);
    tl_comborule *na = tl_realloc(p->combos, (p->ncombos + 1) * sizeof *na);
    if (!na)
        return c->oom = 1, -1;
    p->combos = na;
    tl_comborule *cr = &p->combos[p->ncombos];
    memset(cr, 0, sizeof *cr);
    cr->filter = -1;
    cr->learn_ms = learn_ms;
    p->ncombos++; /* counted now so that destroy frees what was built even on error */
    if (flt) {
        tl_expr *e = flt->type == TL_Y_SCALAR ? parse_expr(c, flt) : NULL;
        if (!e && flt->type != TL_Y_SCALAR)
            err_at(c, flt, 0, "filter must be a condition");
        cr->filter = e ? intern_filter(c, flt, e) : -1;
        tl_expr_free(e);
        if (cr->filter < 0)
            return -1;
    }
    for (size_t i = 0; allowed && i < allowed->n; i++) {
        const tl_ynode *set = allowed->items[i];
        if (set->type != TL_Y_SEQ || set->n == 0 || set->n > TL_COMBO_MAX_TOOLS)
            return err_at(c, set, 0, "each allowed set is a list of 1 to %d tool names", TL_COMBO_MAX_TOOLS);
        cr->set_tools[i] = tl_calloc(set->n, sizeof(char *));
        if (!cr->set_tools[i])
            return c->oom = 1, -1;
        cr->nsets = (uint32_t)i + 1;
        for (size_t k = 0; k < set->n; k++) {
            const char *tool;
            if (tl_ynode_str(c->doc, set->items[k], &tool, err_buf(), 1024) < 0)
                return yerr(c);
            cr->set_tools[i][k] = tl_strdup(tool);
            if (!cr->set_tools[i][k])
                return c->oom = 1, -1;
            cr->nset_tools[i] = (uint32_t)k + 1;
        }
    }
    cr->name = tl_strdup(name);
    return cr->name ? 0 : (c->oom = 1, -1);
}

static int load_rule(ctx *c, const tl_ynode *m)
{
    if (m->type != TL_Y_MAP)
        return err_at(c, m, 0, "each rule must be a mapping with name, value, window, threshold, ...");
    if (tl_ynode_check_keys(c->doc, m, rule_keys, err_buf(), 1024) < 0)
        yerr(c);
    /* sequence and combination rules: a matcher (traces.c) plus a count of its matches */
    synth_rule sr;
    const tl_ynode *n_seq = tl_ynode_get(m, "sequence"), *n_tc = tl_ynode_get(m, "tool_combinations");
    const tl_ynode *n_ev = tl_ynode_get(m, "event"), *n_dedup = tl_ynode_get(m, "dedup");
    int one_shot = 0;
    if (n_dedup && !n_ev)
        return err_at(c, n_dedup, 0, "'dedup' belongs to event rules (event: <condition>)");
    if (n_ev) {
        /* an event rule: one notification per matching event, deduplicated per series within
         * `dedup`; it has no resolve */
        if (n_seq || n_tc || tl_ynode_get(m, "value") || tl_ynode_get(m, "threshold") || tl_ynode_get(m, "filter") ||
            tl_ynode_get(m, "window"))
            return err_at(c, n_ev, 0, "an event rule fires on each matching event: it takes no value, threshold, "
                                      "filter, window or sequence (use dedup: for the deduplication period)");
        if (n_ev->type != TL_Y_SCALAR || !n_ev->len)
            return err_at(c, n_ev, 0, "event must be a condition, e.g. flags contains \"policy_violation\"");
        m = synth_begin(&sr, m);
        synth_add(&sr, n_ev, "filter", "%s", n_ev->str);
        sr.extra[0].raw = n_ev->raw; /* positions inside the condition map to the source */
        sr.extra[0].raw_len = n_ev->raw_len;
        sr.extra[0].style = n_ev->style;
        synth_add(&sr, n_ev, "value", "%s", "count()");
        synth_add(&sr, n_ev, "threshold", "%s", "> 0");
        if (n_dedup) {
            sr.keys[sr.m.n] = sr.knodes + 3;
            memset(sr.knodes + 3, 0, sizeof sr.knodes[3]);
            sr.knodes[3].type = TL_Y_SCALAR;
            sr.knodes[3].str = "window";
            sr.knodes[3].len = 6;
            sr.items[sr.m.n] = (tl_ynode *)n_dedup;
            sr.m.n++;
        } else {
            synth_add(&sr, n_ev, "window", "%s", "10m");
        }
        one_shot = 1;
    } else if (n_seq || n_tc) {
        const tl_ynode *nn = tl_ynode_get(m, "name");
        const char *rname = nn && nn->type == TL_Y_SCALAR ? nn->str : "";
        if (n_seq && n_tc)
            return err_at(c, n_tc, 0, "a rule is either a sequence or a tool_combinations rule, not both");
        if (!rule_name_ok(rname))
            return err_at(c, nn ? nn : m, 0, "this rule needs a valid name first");
        if ((n_seq ? load_sequence(c, m, n_seq, rname) : load_combinations(c, m, n_tc, rname)) < 0)
            return -1;
        const tl_ynode *at = n_seq ? n_seq : n_tc;
        m = synth_begin(&sr, m);
        synth_add(&sr, at, "filter", n_seq ? "kind == \"sequence\" and attributes.rule == \"%s\""
                                           : "kind == \"tool_combination\" and attributes.rule == \"%s\"",
                  rname);
        synth_add(&sr, at, "value", "%s", "count()");
        synth_add(&sr, at, "threshold", "%s", "> 0");
        if (!tl_ynode_get(m, "window"))
            synth_add(&sr, at, "window", "%s", "10m");
    } else if (tl_ynode_get(m, "within")) {
        err_at(c, tl_ynode_get(m, "within"), 0, "'within' belongs to sequence rules");
    }
    int bad = 0;
    const tl_ynode *n_name, *n_sev, *n_owner, *n_rb, *n_sum, *n_desc, *n_value, *n_filter;
    const char *name, *sev, *owner, *rb, *sum, *desc, *value_src, *filter_src;
    bad |= get_str(c, m, "name", 1, &n_name, &name);
    bad |= get_str(c, m, "value", 1, &n_value, &value_src);
    const tl_ynode *n_thr_early = tl_ynode_get(m, "threshold");
    int leveled = n_thr_early && n_thr_early->type == TL_Y_MAP;
    bad |= get_str(c, m, "severity", !leveled, &n_sev, &sev);
    if (leveled && n_sev)
        bad |= err_at(c, n_sev, 0, "severity comes from the threshold's levels (critical:, warning:, ...); remove it");
    bad |= get_str(c, m, "owner", 1, &n_owner, &owner);
    bad |= get_str(c, m, "runbook", 1, &n_rb, &rb);
    bad |= get_str(c, m, "summary", 1, &n_sum, &sum);
    bad |= get_str(c, m, "description", 0, &n_desc, &desc);
    bad |= get_str(c, m, "filter", 0, &n_filter, &filter_src);
    if (name && !rule_name_ok(name))
        bad |= err_at(c, n_name, 0, "rule name '%s' may contain only letters, digits, '_', '-' and '.'", name);
    if (name) {
        for (uint32_t i = 0; i < c->p->nrules; i++) {
            if (c->p->rules[i].name && strcmp(c->p->rules[i].name, name) == 0) {
                bad |= err_at(c, n_name, 0, "duplicate rule name '%s' (first defined at %s:%u)", name,
                              c->p->rules[i].file, c->p->rules[i].line);
                break;
            }
        }
    }
    if (sev && *sev && !valid_severity(sev))
        bad |= err_at(c, n_sev, 0, "severity must be critical, error, warning or info, not '%s'", sev);
    if (rb && *rb && c->opts->check_runbooks && !runbook_exists(c, rb))
        bad |= err_at(c, n_rb, 0, "runbook '%s' does not exist (relative paths are looked up from the working "
                                  "directory and from the rule file's directory)", rb);

    int64_t window = 0, slot = 0, forr = 0, renotify = c->opts->renotify_ms;
    const tl_ynode *n_window = tl_ynode_get(m, "window"), *n;
    if (!n_window)
        bad |= err_at(c, m, 0, "rule is missing 'window'");
    else if (tl_ynode_duration(c->doc, n_window, &window, err_buf(), 1024) < 0)
        bad |= yerr(c);
    else if (window <= 0)
        bad |= err_at(c, n_window, 0, "window must be positive");
    if ((n = tl_ynode_get(m, "slot")) && tl_ynode_duration(c->doc, n, &slot, err_buf(), 1024) < 0)
        bad |= yerr(c);
    if ((n = tl_ynode_get(m, "for")) && tl_ynode_duration(c->doc, n, &forr, err_buf(), 1024) < 0)
        bad |= yerr(c);
    if ((n = tl_ynode_get(m, "renotify_interval")) && tl_ynode_duration(c->doc, n, &renotify, err_buf(), 1024) < 0)
        bad |= yerr(c);
    int64_t min_events = 1;
    if ((n = tl_ynode_get(m, "min_events")) && tl_ynode_int(c->doc, n, 0, INT32_MAX, &min_events, err_buf(), 1024) < 0)
        bad |= yerr(c);
    /* release-aware: `release: prompt_version` (a group_by label) with `during: 30m` */
    int64_t release_ms = 0;
    const tl_ynode *n_rel = tl_ynode_get(m, "release"), *n_during = tl_ynode_get(m, "during");
    if (n_rel || n_during) {
        const char *relf = NULL;
        if (!n_rel || !n_during) {
            bad |= err_at(c, n_rel ? n_rel : n_during, 0, "release and during go together: release: prompt_version, "
                                                          "during: 30m");
        } else if (tl_ynode_str(c->doc, n_rel, &relf, err_buf(), 1024) < 0) {
            bad |= yerr(c);
        } else if (tl_ynode_duration(c->doc, n_during, &release_ms, err_buf(), 1024) < 0) {
            bad |= yerr(c);
        } else {
            const tl_ynode *gb = tl_ynode_get(m, "group_by");
            int in_gb = 0;
            for (size_t i = 0; gb && gb->type == TL_Y_SEQ && i < gb->n; i++)
                in_gb |= gb->items[i]->type == TL_Y_SCALAR && strcmp(gb->items[i]->str, relf) == 0;
            if (!in_gb)
                bad |= err_at(c, n_rel, 0, "release '%s' must also be a group_by label, so each version is its own "
                                           "series (and the alert names it)", relf);
            else if (release_ms <= 0)
                bad |= err_at(c, n_during, 0, "during must be positive");
        }
    }
    tl_no_data no_data = TL_NODATA_RESOLVE;
    if ((n = tl_ynode_get(m, "no_data"))) {
        static const char *const names[] = {"resolve", "keep", "ignore", "alert"};
        const char *v = NULL;
        if (tl_ynode_str(c->doc, n, &v, err_buf(), 1024) < 0) {
            bad |= yerr(c);
        } else {
            size_t k;
            for (k = 0; k < 4 && strcmp(v, names[k]) != 0; k++)
                ;
            if (k == 4)
                bad |= err_at(c, n, 0, "no_data must be resolve, keep, ignore or alert, not '%s'", v);
            else
                no_data = (tl_no_data)k;
        }
    }
    int64_t keep_firing = 0, max_instances = 0;
    if ((n = tl_ynode_get(m, "keep_firing_for")) && tl_ynode_duration(c->doc, n, &keep_firing, err_buf(), 1024) < 0)
        bad |= yerr(c);
    if ((n = tl_ynode_get(m, "max_instances")) &&
        tl_ynode_int(c->doc, n, 1, INT32_MAX, &max_instances, err_buf(), 1024) < 0)
        bad |= yerr(c);
    if (window > 0 && !slot)
        slot = auto_slot(window);
    if (window > 0 && slot > 0) {
        const tl_ynode *at = tl_ynode_get(m, "slot") ? tl_ynode_get(m, "slot") : n_window;
        if (slot < 100)
            bad |= err_at(c, at, 0, "slot must be at least 100ms");
        else if (window < slot)
            bad |= err_at(c, n_window, 0, "window is shorter than its slot (%lld ms < %lld ms)", (long long)window,
                          (long long)slot);
        else if (window % slot)
            bad |= err_at(c, n_window, 0, "window must be a whole number of slots (slot is %lld ms)", (long long)slot);
        else if (window / slot > MAX_SLOTS)
            bad |= err_at(c, at, 0, "window needs %lld slots; at most %d (use a larger slot)",
                          (long long)(window / slot), MAX_SLOTS);
    }
    /* One threshold, or one per severity level (critical first): each level becomes a rule of
     * its own with a `severity` label, and a higher level that is firing silences the lower
     * ones on the same series. */
    static const char *const level_names[] = {"critical", "error", "warning", "info"};
    struct level {
        tl_cmp_op op;
        double thr;
        tl_num_suffix suf;
        const char *sev;
        const tl_ynode *node;
    } lv[4];
    int nlv = 0;
    const tl_ynode *n_thr = tl_ynode_get(m, "threshold");
    int thr_ok = 0;
    if (!n_thr) {
        bad |= err_at(c, m, 0, "rule is missing 'threshold' (e.g. threshold: \"> 10%%\")");
    } else if (n_thr->type == TL_Y_MAP) {
        static const char *const keys[] = {"critical", "error", "warning", "info", NULL};
        int ok = 1;
        if (tl_ynode_check_keys(c->doc, n_thr, keys, err_buf(), 1024) < 0)
            bad |= yerr(c), ok = 0;
        for (int k = 0; k < 4; k++) {
            const tl_ynode *x = tl_ynode_get(n_thr, level_names[k]);
            if (!x)
                continue;
            struct level *l = &lv[nlv];
            l->sev = level_names[k];
            l->node = x;
            l->suf = TL_SUF_NONE;
            if (parse_threshold(c, x, &l->op, &l->thr, &l->suf) < 0)
                ok = 0;
            nlv++;
        }
        if (!nlv) {
            if (ok)
                bad |= err_at(c, n_thr, 0, "threshold levels need at least one of critical, error, warning, info");
        } else if (ok) {
            for (int k = 1; k < nlv; k++) {
                int up = lv[0].op == TL_OP_GT || lv[0].op == TL_OP_GE;
                int kup = lv[k].op == TL_OP_GT || lv[k].op == TL_OP_GE;
                if (up != kup || lv[k].op == TL_OP_EQ || lv[k].op == TL_OP_NE || lv[0].op == TL_OP_EQ ||
                    lv[0].op == TL_OP_NE) {
                    bad |= err_at(c, lv[k].node, 0, "all levels must compare the same way (all > / >= or all < / <=)");
                    ok = 0;
                } else if (up ? lv[k].thr > lv[k - 1].thr : lv[k].thr < lv[k - 1].thr) {
                    bad |= err_at(c, lv[k].node, 0, "the %s threshold must not be beyond the %s threshold", lv[k].sev,
                                  lv[k - 1].sev);
                    ok = 0;
                }
            }
            thr_ok = ok;
        }
        if (!ok)
            bad = 1;
    } else {
        lv[0].sev = NULL; /* from `severity` */
        lv[0].node = n_thr;
        lv[0].suf = TL_SUF_NONE;
        if (parse_threshold(c, n_thr, &lv[0].op, &lv[0].thr, &lv[0].suf) < 0)
            bad = 1;
        else
            thr_ok = 1;
        nlv = 1;
    }
    tl_cmp_op op = nlv ? lv[0].op : TL_OP_GT;
    double thr = nlv ? lv[0].thr : 0;

    /* group_by */
    char *labels[MAX_LABELS];
    uint32_t nlabels = 0;
    const tl_ynode *n_gb = tl_ynode_get(m, "group_by");
    if (n_gb) {
        if (n_gb->type == TL_Y_SCALAR && n_gb->len == 0) {
            /* empty: one series for everything */
        } else if (n_gb->type != TL_Y_SEQ) {
            bad |= err_at(c, n_gb, 0, "group_by must be a list of fields, e.g. [service, tool]");
        } else if (n_gb->n > MAX_LABELS) {
            bad |= err_at(c, n_gb, 0, "at most %d group_by labels", MAX_LABELS);
        } else {
            for (size_t i = 0; i < n_gb->n; i++) {
                const tl_ynode *it = n_gb->items[i];
                const char *s;
                if (tl_ynode_str(c->doc, it, &s, err_buf(), 1024) < 0) {
                    bad |= yerr(c);
                    continue;
                }
                tl_fieldref ref;
                int num = -1;
                ref_kind rk = resolve_field(s, strlen(s), &ref, &num);
                if (rk != REF_STR) {
                    bad |= err_at(c, it, 0, rk == REF_NONE ? "unknown field '%s' (group by a string field or attributes.<key>)"
                                                           : "cannot group by '%s': only string fields and attributes",
                                  s);
                    continue;
                }
                int dup = 0;
                for (uint32_t k = 0; k < nlabels; k++)
                    dup |= strcmp(labels[k], s) == 0;
                if (dup) {
                    bad |= err_at(c, it, 0, "'%s' appears twice in group_by", s);
                    continue;
                }
                labels[nlabels] = tl_strdup(s);
                if (!labels[nlabels])
                    c->oom = 1;
                else
                    nlabels++;
            }
        }
    }
    const tl_ynode *n_labels = tl_ynode_get(m, "labels");
    if (n_labels && n_labels->type != TL_Y_MAP)
        bad |= err_at(c, n_labels, 0, "labels must be a mapping of names to strings");

    tl_expr *filter_e = n_filter && filter_src ? parse_expr(c, n_filter) : NULL;
    tl_expr *value_e = n_value && value_src ? parse_expr(c, n_value) : NULL;
    if ((n_filter && !filter_e) || (n_value && !value_e))
        bad = 1;
    if ((n_filter && !filter_e) || (n_value && !value_e) || !value_e || window <= 0 || slot <= 0 || c->oom) {
        for (uint32_t i = 0; i < nlabels; i++)
            tl_free(labels[i]);
        tl_expr_free(filter_e);
        tl_expr_free(value_e);
        return -1;
    }
    /* Even when other keys were wrong, compile the expressions so their errors are reported
     * in the same run; the program is discarded anyway when there is any error. */
    rule_build rb_ = {.width = slot, .window_slots = (uint32_t)(window / slot), .first_plan = -1,
                      .release = release_ms > 0};
    int g = intern_group(c, labels, nlabels);
    int f = g >= 0 ? intern_filter(c, n_filter, filter_e) : -1;
    tl_expr_free(filter_e);
    if (g < 0 || f < 0) {
        tl_expr_free(value_e);
        return -1;
    }
    rb_.group = (uint32_t)g;
    rb_.filter = (uint32_t)f;
    tl_unit unit = TL_UNIT_NONE;
    tl_vnode *value = compile_value(c, n_value, value_e, &rb_, &unit);
    if (!value) {
        tl_expr_free(value_e);
        return -1;
    }
    if (rb_.first_plan < 0) {
        vnode_free(value);
        tl_expr_free(value_e);
        return err_at(c, n_value, 0, "value needs an aggregate over the current window (previous/offset/baseline "
                                     "alone only describe the past)");
    }
    /* Threshold units and reachability (checked even when other keys were wrong, so that one
     * run of `tripline check` reports everything). */
    for (int k = 0; thr_ok && k < nlv; k++) {
        tl_cmp_op lop = lv[k].op;
        double lthr = lv[k].thr;
        tl_num_suffix suf = lv[k].suf;
        const tl_ynode *ln = lv[k].node;
        if (suf == TL_SUF_PERCENT && unit != TL_UNIT_RATIO)
            bad |= err_at(c, ln, 0, "a percentage threshold needs a ratio value; this value is in %s",
                          tl_unit_name(unit));
        if (suf == TL_SUF_DURATION && unit != TL_UNIT_MS)
            bad |= err_at(c, ln, 0,
                          "a duration threshold needs a duration value (e.g. p95(latency_ms)); this value is in %s",
                          tl_unit_name(unit));
        if (unit == TL_UNIT_RATIO && ((lop == TL_OP_GT && lthr >= 1) || (lop == TL_OP_GE && lthr > 1) ||
                                      (lop == TL_OP_LT && lthr <= 0) || (lop == TL_OP_LE && lthr < 0)))
            bad |= err_at(c, ln, 0, "threshold can never be met: a ratio is between 0 and 100%%");
        if ((unit == TL_UNIT_COUNT || unit == TL_UNIT_PER_SEC) &&
            ((lop == TL_OP_LT && lthr <= 0) || (lop == TL_OP_LE && lthr < 0)))
            bad |= err_at(c, ln, 0, "threshold can never be met: a count is never negative");
    }
    /* hysteresis and the statistical guard */
    struct {
        int has_resolve;
        tl_cmp_op resolve_op;
        double resolve_thr;
        double z;
    } guard = {0, TL_OP_LT, 0, 0};
    const tl_ynode *n_res = tl_ynode_get(m, "resolve");
    if (n_res && thr_ok && leveled) {
        bad |= err_at(c, n_res, 0, "resolve cannot be combined with per-severity threshold levels yet");
    } else if (n_res && thr_ok) {
        tl_num_suffix rsuf = TL_SUF_NONE;
        int up = op == TL_OP_GT || op == TL_OP_GE;
        if (parse_threshold(c, n_res, &guard.resolve_op, &guard.resolve_thr, &rsuf) < 0) {
            bad = 1;
        } else if (op == TL_OP_EQ || op == TL_OP_NE) {
            bad |= err_at(c, n_res, 0, "resolve needs a rule whose threshold uses <, <=, > or >=");
        } else if (up != (guard.resolve_op == TL_OP_LT || guard.resolve_op == TL_OP_LE) ||
                   guard.resolve_op == TL_OP_EQ || guard.resolve_op == TL_OP_NE) {
            bad |= err_at(c, n_res, 0, "resolve must point the other way from the threshold: the rule fires on '%s', so "
                                       "resolve takes %s",
                          tl_cmp_op_text(op), up ? "< or <=" : "> or >=");
        } else if (up ? guard.resolve_thr > thr : guard.resolve_thr < thr) {
            bad |= err_at(c, n_res, 0, "the resolve threshold must be on the healthy side of the firing threshold "
                                       "(it would resolve while still firing)");
        } else if ((rsuf == TL_SUF_PERCENT && unit != TL_UNIT_RATIO) || (rsuf == TL_SUF_DURATION && unit != TL_UNIT_MS)) {
            bad |= err_at(c, n_res, 0, "the resolve threshold's unit does not match the value (%s)", tl_unit_name(unit));
        } else {
            guard.has_resolve = 1;
        }
    }
    const tl_ynode *n_conf = tl_ynode_get(m, "confidence");
    if (n_conf) {
        char msg[256];
        size_t pos = 0;
        tl_expr *ce = n_conf->type == TL_Y_SCALAR ? tl_expr_parse(n_conf->str, n_conf->len, msg, sizeof msg, &pos) : NULL;
        if (!ce || ce->kind != TL_E_NUM || (ce->suffix != TL_SUF_NONE && ce->suffix != TL_SUF_PERCENT) ||
            !(ce->num >= 0.5 && ce->num < 1)) {
            bad |= err_at(c, n_conf, 0, "confidence must be a level between 50%% and 100%% (exclusive), e.g. 95%%");
        } else if (value->op != TL_V_AGG || value->agg != TL_AGG_RATIO || !(op == TL_OP_GT || op == TL_OP_GE)) {
            bad |= err_at(c, n_conf, 0, "confidence applies to a ratio that fires above a threshold "
                                        "(value: ratio(cond), threshold: \"> x\")");
        } else {
            guard.z = tl_normal_quantile(ce->num);
        }
        tl_expr_free(ce);
    }
    if (forr < 0 || forr > 7 * 86400000LL)
        bad |= err_at(c, tl_ynode_get(m, "for"), 0, "'for' must be between 0 and 7d");
    const tl_group *grp = &c->p->groups[g];
    tl_template *summary = sum ? compile_template(c, n_sum, sum, grp, n_labels) : NULL;
    tl_template *description = desc ? compile_template(c, n_desc, desc, grp, n_labels) : NULL;
    if ((sum && !summary) || (desc && !description))
        bad = 1;
    if (bad) {
        vnode_free(value);
        tl_expr_free(value_e);
        tl_template_destroy(summary);
        tl_template_destroy(description);
        return -1;
    }
    int32_t above = -1; /* the rule of the next higher level */
    for (int k = 0; k < nlv; k++) {
        if (k > 0) {
            /* each level owns its value tree and templates; plans are shared anyway */
            tl_unit u2;
            value = compile_value(c, n_value, value_e, &rb_, &u2);
            summary = sum ? compile_template(c, n_sum, sum, grp, n_labels) : NULL;
            description = desc ? compile_template(c, n_desc, desc, grp, n_labels) : NULL;
            if (!value || (sum && !summary) || (desc && !description)) {
                vnode_free(value);
                tl_template_destroy(summary);
                tl_template_destroy(description);
                c->oom = 1;
                break;
            }
        }
        if (grow(c, (void **)&c->p->rules, &c->cap_rules, c->p->nrules, sizeof *c->p->rules) < 0) {
            vnode_free(value);
            tl_template_destroy(summary);
            tl_template_destroy(description);
            break;
        }
        tl_rule *r = &c->p->rules[c->p->nrules];
        memset(r, 0, sizeof *r);
        r->name = tl_strdup(name);
        r->file = tl_strdup(c->doc->path);
        r->line = m->line;
        r->group = (uint32_t)g;
        r->filter = (uint32_t)f;
        r->count_plan = (uint32_t)rb_.first_plan;
        r->value = value;
        r->metric = tl_strdup(value_src);
        r->unit = unit;
        r->window_ms = window;
        r->width_ms = slot;
        r->window_slots = (uint32_t)(window / slot);
        r->for_ms = forr;
        r->renotify_ms = renotify;
        r->min_events = (uint64_t)min_events;
        r->op = lv[k].op;
        r->threshold = lv[k].thr;
        r->early = monotone_condition(value, r->op, r->threshold) && !guard.z && !guard.has_resolve;
        r->keep_firing_ms = keep_firing;
        r->max_instances = (uint32_t)max_instances;
        r->has_resolve = guard.has_resolve;
        r->resolve_op = guard.resolve_op;
        r->resolve_threshold = guard.resolve_thr;
        r->confidence_z = guard.z;
        r->no_data = no_data;
        if (no_data == TL_NODATA_ALERT)
            r->early = 0; /* absence is only known when a slot closes */
        r->inhibited_by = above;
        r->one_shot = one_shot;
        r->release_ms = release_ms;
        r->sig = node_hash(m, (uint64_t)k + 1);
        if (k == 0 && !bad && !n_seq && !n_tc && !n_ev && !guard.z && r->min_events < 10 &&
            (r->unit == TL_UNIT_RATIO || value->op == TL_V_AGG) &&
            (value->agg == TL_AGG_RATIO || value->agg == TL_AGG_QUANTILE || value->agg == TL_AGG_AVG) &&
            !(r->op == TL_OP_GT && r->threshold == 0))
            warn_at(c, tl_ynode_get(m, "min_events") ? tl_ynode_get(m, "min_events") : n_value,
                    "min_events is %llu: a ratio, average or percentile over so few events cries wolf (use 20 or "
                    "more, or confidence:)",
                    (unsigned long long)r->min_events);
        if (k == 0 && !bad && r->renotify_ms > 0 && r->renotify_ms < r->width_ms)
            warn_at(c, tl_ynode_get(m, "renotify_interval"),
                    "renotify_interval is shorter than the slot: the alert is sent again at every evaluation");
        r->release_label = -1;
        if (release_ms > 0) {
            const char *relf = tl_ynode_get(m, "release")->str;
            for (uint32_t li = 0; li < grp->nlabels; li++)
                if (strcmp(grp->label_names[li], relf) == 0)
                    r->release_label = (int32_t)li;
        }
        if (one_shot)
            r->renotify_ms = 0;
        r->severity = tl_strdup(lv[k].sev ? lv[k].sev : sev);
        r->owner = tl_strdup(owner);
        r->runbook = tl_strdup(rb);
        r->summary = summary;
        r->description = description;
        size_t nst = (n_labels ? n_labels->n : 0) + (leveled ? 1 : 0);
        if (nst) {
            r->static_keys = tl_calloc(nst, sizeof(char *));
            r->static_vals = tl_calloc(nst, sizeof(char *));
            if (!r->static_keys || !r->static_vals)
                c->oom = 1;
        }
        for (size_t i = 0; !c->oom && n_labels && i < n_labels->n; i++) {
            const char *v;
            if (tl_ynode_str(c->doc, n_labels->items[i], &v, err_buf(), 1024) < 0) {
                if (k == 0)
                    yerr(c);
                bad = 1;
                continue;
            }
            r->static_keys[r->nstatic] = tl_strdup(n_labels->keys[i]->str);
            r->static_vals[r->nstatic] = tl_strdup(v);
            r->nstatic++;
        }
        if (!c->oom && leveled) {
            /* the level is part of the alert's identity: warning and critical are two alerts */
            r->static_keys[r->nstatic] = tl_strdup("severity");
            r->static_vals[r->nstatic] = tl_strdup(lv[k].sev);
            r->nstatic++;
        }
        above = (int32_t)c->p->nrules;
        c->p->nrules++;
        if (!r->name || !r->file || !r->metric || !r->severity || !r->owner || !r->runbook)
            c->oom = 1;
    }
    tl_expr_free(value_e);
    return bad ? -1 : 0;
}

static int load_doc(ctx *c, const tl_ydoc *doc)
{
    c->doc = doc;
    const tl_ynode *root = doc->root;
    if (!root)
        return 0; /* an empty file holds no rules */
    static const char *const top_keys[] = {"rules", NULL};
    if (root->type != TL_Y_MAP)
        return err_at(c, root, 0, "a rule file is a mapping with a 'rules:' list");
    if (tl_ynode_check_keys(doc, root, top_keys, err_buf(), 1024) < 0)
        return yerr(c);
    const tl_ynode *rules = tl_ynode_get(root, "rules");
    if (!rules)
        return err_at(c, root, 0, "missing 'rules:' list");
    if (rules->type == TL_Y_SCALAR && rules->len == 0)
        return 0;
    if (rules->type != TL_Y_SEQ)
        return err_at(c, rules, 0, "'rules' must be a list");
    int rc = 0;
    for (size_t i = 0; i < rules->n; i++)
        if (load_rule(c, rules->items[i]) < 0)
            rc = -1;
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* After all rules: ring lengths, layouts, per-group plan and rule lists. */
static int finish(ctx *c)
{
    tl_program *p = c->p;
    p->lateness_ms = c->opts->lateness_ms;
    p->lead_ms = c->opts->lead_ms ? c->opts->lead_ms : 300000; /* config.c DEF_MAX_LEAD_MS */
    p->trace_idle_ms = 60000;
    /* per-trace state is kept only when some rule needs it */
    p->traces = p->nseqs || p->ncombos;
    for (uint32_t i = 0; i < p->natoms && !p->traces; i++) {
        const tl_atom *a = &p->atoms[i];
        p->traces = a->num_field > TL_N_TOKENS ||
                    (a->op == TL_A_STR_EQ && !a->ref.is_attr && a->ref.field == TL_S_KIND && tl_str_eq_c(a->s, "trace"));
        for (uint32_t k = 0; a->op == TL_A_STR_IN && !a->ref.is_attr && a->ref.field == TL_S_KIND && k < a->nset; k++)
            p->traces |= tl_str_eq_c(a->set[k], "trace");
    }
    for (uint32_t i = 0; i < p->nplans && !p->traces; i++)
        p->traces = p->plans[i].field > TL_N_TOKENS;
    p->min_width_ms = INT64_MAX;
    p->filter_words = (p->nfilters + 63) / 64;
    for (uint32_t i = 0; i < p->nplans; i++) {
        tl_plan *pl = &p->plans[i];
        /* history for late events behind the watermark, and room for partitions running
         * ahead of it by up to the same amount (engine.c holds them back beyond that) */
        pl->window_slots = pl->nslots;
        int64_t late_slots = (p->lateness_ms + pl->width_ms - 1) / pl->width_ms;
        int64_t lead_slots = (tl_program_lead_ms(p) + pl->width_ms - 1) / pl->width_ms;
        pl->nslots += (uint32_t)(late_slots + lead_slots + 1);
        pl->size = tl_window_state_size(pl->kind, pl->nslots);
        if (pl->width_ms < p->min_width_ms)
            p->min_width_ms = pl->width_ms;
    }
    for (uint32_t g = 0; g < p->ngroups; g++) {
        tl_group *grp = &p->groups[g];
        uint32_t np = 0, nr = 0;
        for (uint32_t i = 0; i < p->nplans; i++)
            np += p->plans[i].group == g;
        for (uint32_t i = 0; i < p->nrules; i++)
            nr += p->rules[i].group == g;
        grp->plans = tl_calloc(np ? np : 1, sizeof *grp->plans);
        grp->rules = tl_calloc(nr ? nr : 1, sizeof *grp->rules);
        if (!grp->plans || !grp->rules)
            return c->oom = 1, -1;
        uint32_t off = 64; /* series header (series.h) is at most 64 bytes */
        for (uint32_t i = 0; i < p->nplans; i++) {
            if (p->plans[i].group != g)
                continue;
            grp->plans[grp->nplans++] = i;
            p->plans[i].offset = off;
            off += (p->plans[i].size + 7) & ~7u;
        }
        grp->inst_offset = off;
        for (uint32_t i = 0; i < p->nrules; i++) {
            if (p->rules[i].group != g)
                continue;
            p->rules[i].index_in_group = grp->nrules;
            grp->rules[grp->nrules++] = i;
        }
        grp->record_size = off + grp->nrules * (uint32_t)sizeof(tl_inst);
    }
    if (p->min_width_ms == INT64_MAX)
        p->min_width_ms = 1000;
    return 0;
}

static tl_program *finish_or_fail(ctx *c)
{
    if (!c->oom && c->errs->count == 0 && finish(c) == 0 && !c->oom)
        return c->p;
    if (c->oom)
        add_error(c, "out of memory while compiling rules");
    tl_program_destroy(c->p);
    return NULL;
}

static void set_dir(ctx *c, const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, cap, ".");
    else
        snprintf(buf, cap, "%.*s", (int)(slash - path), path);
    c->dir = buf;
}

static int load_file(ctx *c, const char *path)
{
    char msg[600], dir[4096];
    tl_ydoc *d = tl_ydoc_load_file(path, msg, sizeof msg);
    if (!d) {
        add_error(c, msg);
        return -1;
    }
    set_dir(c, path, dir, sizeof dir);
    int rc = load_doc(c, d);
    c->doc = NULL;
    tl_ydoc_destroy(d);
    return rc;
}

static int is_yaml(const char *n)
{
    size_t l = strlen(n);
    return (l > 5 && strcmp(n + l - 5, ".yaml") == 0) || (l > 4 && strcmp(n + l - 4, ".yml") == 0);
}

tl_program *tl_rules_load(const char *const *paths, size_t npaths, const tl_rules_opts *opts, tl_rules_errors *errors)
{
    ctx c = {.opts = opts, .errs = errors};
    c.p = tl_calloc(1, sizeof *c.p);
    if (!c.p) {
        add_error(&c, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) < 0) {
            char m[4200];
            snprintf(m, sizeof m, "%s: %s", paths[i], strerror(errno));
            add_error(&c, m);
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            load_file(&c, paths[i]);
            continue;
        }
        DIR *dir = opendir(paths[i]);
        if (!dir) {
            char m[4200];
            snprintf(m, sizeof m, "%s: %s", paths[i], strerror(errno));
            add_error(&c, m);
            continue;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
            if (de->d_name[0] == '.' || !is_yaml(de->d_name))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                char **nn = tl_realloc(names, cap * sizeof *nn);
                if (!nn)
                    break;
                names = nn;
            }
            names[n] = tl_malloc(strlen(paths[i]) + strlen(de->d_name) + 2);
            if (names[n])
                sprintf(names[n++], "%s/%s", paths[i], de->d_name);
        }
        closedir(dir);
        if (n)
            qsort(names, n, sizeof *names, cmp_str);
        for (size_t k = 0; k < n; k++) {
            load_file(&c, names[k]);
            tl_free(names[k]);
        }
        tl_free(names);
    }
    return finish_or_fail(&c);
}

tl_program *tl_rules_load_string(const char *name, const char *text, size_t len, const tl_rules_opts *opts,
                                 tl_rules_errors *errors)
{
    ctx c = {.opts = opts, .errs = errors};
    c.p = tl_calloc(1, sizeof *c.p);
    if (!c.p) {
        add_error(&c, "out of memory");
        return NULL;
    }
    char msg[600], dir[4096];
    tl_ydoc *d = tl_ydoc_load_string(name, text, len, msg, sizeof msg);
    if (!d) {
        add_error(&c, msg);
    } else {
        set_dir(&c, name, dir, sizeof dir);
        load_doc(&c, d);
        c.doc = NULL;
        tl_ydoc_destroy(d);
    }
    return finish_or_fail(&c);
}

void tl_program_destroy(tl_program *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < p->natoms; i++)
        atom_free(&p->atoms[i]);
    for (uint32_t i = 0; i < p->nfilters; i++) {
        fnode_free(p->filters[i].root);
        tl_free(p->filters[i].canon);
    }
    for (uint32_t i = 0; i < p->ngroups; i++) {
        for (uint32_t k = 0; k < p->groups[i].nlabels; k++)
            tl_free(p->groups[i].label_names[k]);
        tl_free(p->groups[i].label_names);
        tl_free(p->groups[i].labels);
        tl_free(p->groups[i].plans);
        tl_free(p->groups[i].rules);
    }
    for (uint32_t i = 0; i < p->nrules; i++)
        rule_fini(&p->rules[i]);
    for (uint32_t i = 0; i < p->ndfields; i++)
        if (p->dfields[i].is_attr)
            tl_free((void *)p->dfields[i].attr.p);
    for (uint32_t i = 0; i < p->nseqs; i++)
        tl_free(p->seqs[i].name);
    for (uint32_t i = 0; i < p->ncombos; i++) {
        tl_free(p->combos[i].name);
        for (uint32_t s = 0; s < p->combos[i].nsets; s++) {
            for (uint32_t k = 0; k < p->combos[i].nset_tools[s]; k++)
                tl_free(p->combos[i].set_tools[s][k]);
            tl_free(p->combos[i].set_tools[s]);
        }
    }
    tl_free(p->seqs);
    tl_free(p->combos);
    tl_free(p->atoms);
    tl_free(p->filters);
    tl_free(p->groups);
    tl_free(p->plans);
    tl_free(p->rules);
    tl_free(p);
}

tl_unit tl_num_field_unit(int field)
{
    switch (field) {
    case TL_N_LATENCY_MS: return TL_UNIT_MS;
    case TL_N_COST_USD: return TL_UNIT_USD;
    case TL_N_INPUT_TOKENS: case TL_N_OUTPUT_TOKENS: case TL_N_TOKENS: return TL_UNIT_TOKENS;
    case TL_N_TRACE(TL_T_TOKENS): return TL_UNIT_TOKENS;
    case TL_N_TRACE(TL_T_COST_USD): return TL_UNIT_USD;
    case TL_N_TRACE(TL_T_DURATION_MS): return TL_UNIT_MS;
    case TL_N_TRACE(TL_T_EVENTS): case TL_N_TRACE(TL_T_LLM_CALLS): case TL_N_TRACE(TL_T_TOOL_CALLS):
    case TL_N_TRACE(TL_T_ERRORS): return TL_UNIT_COUNT;
    default: return TL_UNIT_NONE;
    }
}

const char *tl_num_field_name(int field)
{
    if (field == TL_N_TOKENS)
        return "tokens";
    if (field > TL_N_TOKENS && field < TL_NUM_FIELDS)
        return tl_trace_field_names[field - TL_N_TRACE(0)];
    return field >= 0 && field < TL_N__COUNT ? tl_num_field_names[field] : "?";
}
