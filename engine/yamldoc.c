/* engine/yamldoc.c - load one YAML document into a positioned tl_ynode tree.
 *
 * Why: rule files and the config file must report errors as `file:line:col: message`, and
 * both want typed readers ("expected an integer in 1..64") that already know where the bad
 * value sits. libyaml's document API (yaml_parser_load) gives us the composed node graph with
 * 0-based marks; we copy it once into tl_ynode nodes (1-based positions, NUL-terminated
 * strings, arrays of child pointers) so callers never see libyaml types.
 *
 * Invariants after a successful load:
 *  - every map key is a scalar and no two keys of one map have the same text;
 *  - the node graph is acyclic (a recursive alias such as `&a [*a]` is rejected), no path
 *    from the root is deeper than TL_YDOC_MAX_DEPTH, and the tree the aliases would expand to
 *    has at most TL_YDOC_MAX_EXPANDED nodes (so a "billion laughs" document cannot make a
 *    caller that walks the tree run forever);
 *  - aliases are shared, not copied: one libyaml node becomes exactly one tl_ynode, which may
 *    be referenced from several parents. Callers only read, so sharing is invisible.
 *
 * Ownership: all nodes live in one array owned by the tl_ydoc (impl); scalar strings and the
 * item/key arrays are separate tl_malloc blocks freed by tl_ydoc_destroy().
 * Threading: none; load and read on one thread (startup, not the per-event path).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "alloc.h"
#include "timefmt.h"
#include "yamldoc.h"

#define TL_YDOC_MAX_DEPTH 128
#define TL_YDOC_MAX_EXPANDED 1000000u
#define TL_YDOC_CLIP 60 /* longest user value quoted back in a message */

typedef struct ydoc_impl {
    tl_ynode *nodes; /* n_nodes entries, index = libyaml node id - 1 */
    size_t n_nodes;
} ydoc_impl;

/* ---- messages ------------------------------------------------------------------------- */

static int verr_at(const tl_ydoc *d, uint32_t line, uint32_t col, char *err, size_t cap,
                   const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static int verr_at(const tl_ydoc *d, uint32_t line, uint32_t col, char *err, size_t cap,
                   const char *fmt, va_list ap)
{
    if (!err || cap == 0)
        return -1;
    const char *path = d && d->path ? d->path : "<yaml>";
    int k = line ? snprintf(err, cap, "%s:%" PRIu32 ":%" PRIu32 ": ", path, line, col)
                 : snprintf(err, cap, "%s: ", path);
    if (k < 0 || (size_t)k >= cap)
        return -1;
    vsnprintf(err + k, cap - (size_t)k, fmt, ap);
    return -1;
}

static int err_at(const tl_ydoc *d, uint32_t line, uint32_t col, char *err, size_t cap,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int err_at(const tl_ydoc *d, uint32_t line, uint32_t col, char *err, size_t cap,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr_at(d, line, col, err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

int tl_ydoc_error(const tl_ydoc *d, const tl_ynode *at, char *err, size_t errcap,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr_at(d, at ? at->line : 0, at ? at->col : 0, err, errcap, fmt, ap);
    va_end(ap);
    return -1;
}

/* A scalar's text made safe to quote in a message: clipped, control bytes shown as '?'. */
static const char *clip(const char *s, size_t n, char *buf, size_t cap)
{
    size_t max = cap - 4, o = 0;
    for (size_t i = 0; i < n && o < max; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    if (n > max) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static const char *type_name(const tl_ynode *n)
{
    switch (n->type) {
    case TL_Y_MAP: return "a mapping";
    case TL_Y_SEQ: return "a sequence";
    default: return "a string";
    }
}

/* ---- loading -------------------------------------------------------------------------- */

/* 1-based line/col of byte `off` in buf (reader errors carry only an offset). */
static void offset_pos(const char *buf, size_t len, size_t off, uint32_t *line, uint32_t *col)
{
    uint32_t l = 1, c = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (buf[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static int parser_error(const tl_ydoc *d, const yaml_parser_t *p, const char *buf, size_t len,
                        char *err, size_t cap)
{
    const char *problem = p->problem ? p->problem : "invalid YAML";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return err_at(d, 0, 0, err, cap, "out of memory while parsing YAML");
    case YAML_READER_ERROR: {
        uint32_t line, col;
        offset_pos(buf, len, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            return err_at(d, line, col, err, cap, "%s (byte 0x%02X)", problem,
                          (unsigned)p->problem_value & 0xffu);
        return err_at(d, line, col, err, cap, "%s", problem);
    }
    default: {
        uint32_t line = (uint32_t)p->problem_mark.line + 1;
        uint32_t col = (uint32_t)p->problem_mark.column + 1;
        if (p->context)
            return err_at(d, line, col, err, cap, "%s (%s that started at %zu:%zu)", problem,
                          p->context, p->context_mark.line + 1, p->context_mark.column + 1);
        return err_at(d, line, col, err, cap, "%s", problem);
    }
    }
}

typedef struct dup_ent {
    const tl_ynode *key;
    size_t idx;
} dup_ent;

static int dup_cmp(const void *a, const void *b)
{
    const dup_ent *x = a, *y = b;
    if (x->key->len != y->key->len)
        return x->key->len < y->key->len ? -1 : 1;
    int c = memcmp(x->key->str, y->key->str, x->key->len);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : (x->idx > y->idx ? 1 : 0);
}

/* Duplicate keys: error at the earliest key (in document order) whose text appeared before. */
static int check_dup_keys(const tl_ydoc *d, const tl_ynode *m, char *err, size_t cap)
{
    if (m->n < 2)
        return 0;
    const tl_ynode *second = NULL, *first = NULL;
    if (m->n <= 8) {
        for (size_t i = 1; i < m->n && !second; i++)
            for (size_t j = 0; j < i; j++)
                if (m->keys[i]->len == m->keys[j]->len &&
                    memcmp(m->keys[i]->str, m->keys[j]->str, m->keys[i]->len) == 0) {
                    second = m->keys[i];
                    first = m->keys[j];
                    break;
                }
    } else {
        dup_ent *e = tl_malloc(m->n * sizeof *e);
        if (!e)
            return err_at(d, 0, 0, err, cap, "out of memory");
        for (size_t i = 0; i < m->n; i++)
            e[i] = (dup_ent){m->keys[i], i};
        qsort(e, m->n, sizeof *e, dup_cmp);
        size_t best = SIZE_MAX;
        for (size_t i = 1; i < m->n; i++) {
            /* sorted by (text, index): the first repeat of a run is its second occurrence */
            if (dup_cmp(&(dup_ent){e[i].key, 0}, &(dup_ent){e[i - 1].key, 0}) == 0 &&
                (i < 2 || dup_cmp(&(dup_ent){e[i - 2].key, 0}, &(dup_ent){e[i].key, 0}) != 0) &&
                e[i].idx < best) {
                best = e[i].idx;
                second = e[i].key;
                first = e[i - 1].key;
            }
        }
        tl_free(e);
    }
    if (!second)
        return 0;
    char b[TL_YDOC_CLIP + 4];
    return tl_ydoc_error(d, second, err, cap, "duplicate key '%s' (first defined at %" PRIu32
                         ":%" PRIu32 ")", clip(second->str, second->len, b, sizeof b),
                         first->line, first->col);
}

static tl_ystyle style_of(yaml_scalar_style_t s)
{
    switch (s) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: return TL_YS_QUOTED;
    case YAML_LITERAL_SCALAR_STYLE:
    case YAML_FOLDED_SCALAR_STYLE: return TL_YS_BLOCK;
    default: return TL_YS_PLAIN;
    }
}

/* Copy libyaml's node array into ours. Child pointers index the same array. */
static int copy_nodes(tl_ydoc *d, ydoc_impl *im, yaml_document_t *doc, const char *src, size_t srclen, char *err,
                      size_t cap)
{
    size_t n = (size_t)(doc->nodes.top - doc->nodes.start);
    im->nodes = tl_calloc(n ? n : 1, sizeof *im->nodes);
    if (!im->nodes)
        return err_at(d, 0, 0, err, cap, "out of memory");
    im->n_nodes = n;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *y = &doc->nodes.start[i];
        tl_ynode *t = &im->nodes[i];
        t->line = (uint32_t)y->start_mark.line + 1;
        t->col = (uint32_t)y->start_mark.column + 1;
        switch (y->type) {
        case YAML_SCALAR_NODE:
            t->type = TL_Y_SCALAR;
            t->style = style_of(y->data.scalar.style);
            t->len = y->data.scalar.length;
            t->str = tl_strndup((const char *)y->data.scalar.value, t->len);
            if (!t->str)
                return err_at(d, 0, 0, err, cap, "out of memory");
            if (src && y->start_mark.index <= y->end_mark.index && y->end_mark.index <= srclen) {
                t->raw_len = y->end_mark.index - y->start_mark.index;
                t->raw = tl_strndup(src + y->start_mark.index, t->raw_len);
                if (!t->raw)
                    return err_at(d, 0, 0, err, cap, "out of memory");
            }
            break;
        case YAML_SEQUENCE_NODE: {
            t->type = TL_Y_SEQ;
            t->str = "";
            size_t k = (size_t)(y->data.sequence.items.top - y->data.sequence.items.start);
            if (k) {
                t->items = tl_malloc(k * sizeof *t->items);
                if (!t->items)
                    return err_at(d, 0, 0, err, cap, "out of memory");
            }
            for (size_t j = 0; j < k; j++) {
                int id = y->data.sequence.items.start[j];
                if (id < 1 || (size_t)id > n)
                    return tl_ydoc_error(d, t, err, cap, "internal error: bad node reference");
                t->items[t->n++] = &im->nodes[id - 1];
            }
            break;
        }
        case YAML_MAPPING_NODE: {
            t->type = TL_Y_MAP;
            t->str = "";
            size_t k = (size_t)(y->data.mapping.pairs.top - y->data.mapping.pairs.start);
            if (k) {
                t->items = tl_malloc(k * sizeof *t->items);
                t->keys = tl_malloc(k * sizeof *t->keys);
                if (!t->items || !t->keys)
                    return err_at(d, 0, 0, err, cap, "out of memory");
            }
            for (size_t j = 0; j < k; j++) {
                int kid = y->data.mapping.pairs.start[j].key;
                int vid = y->data.mapping.pairs.start[j].value;
                if (kid < 1 || (size_t)kid > n || vid < 1 || (size_t)vid > n)
                    return tl_ydoc_error(d, t, err, cap, "internal error: bad node reference");
                t->keys[t->n] = &im->nodes[kid - 1];
                t->items[t->n] = &im->nodes[vid - 1];
                t->n++;
            }
            break;
        }
        default: /* YAML_NO_NODE: never produced by the loader */
            t->type = TL_Y_SCALAR;
            t->str = tl_strndup("", 0);
            if (!t->str)
                return err_at(d, 0, 0, err, cap, "out of memory");
            break;
        }
    }
    /* Keys are checked after all nodes exist: a key may refer to a later node id. */
    for (size_t i = 0; i < n; i++) {
        tl_ynode *t = &im->nodes[i];
        if (t->type != TL_Y_MAP)
            continue;
        for (size_t j = 0; j < t->n; j++)
            if (t->keys[j]->type != TL_Y_SCALAR)
                return tl_ydoc_error(d, t->keys[j], err, cap,
                                     "mapping keys must be scalars, got %s",
                                     type_name(t->keys[j]));
        if (check_dup_keys(d, t, err, cap))
            return -1;
    }
    return 0;
}

typedef struct walk_ctx {
    const tl_ydoc *d;
    tl_ynode *base;
    uint8_t *state;    /* 0 unvisited, 1 on the current path, 2 done */
    uint32_t *height;  /* levels below and including the node, once done */
    uint32_t *size;    /* expanded node count (saturating), once done */
    char *err;
    size_t cap;
} walk_ctx;

/* Depth-first over the shared graph, memoized, so the cost is linear in the stored nodes
 * while height/size describe the tree a reader would see with aliases expanded. Recursion
 * depth is bounded by TL_YDOC_MAX_DEPTH. */
static int walk(walk_ctx *w, tl_ynode *n, uint32_t depth)
{
    size_t i = (size_t)(n - w->base);
    if (w->state[i] == 1)
        return tl_ydoc_error(w->d, n, w->err, w->cap, "recursive alias is not supported");
    if (w->state[i] == 0) {
        if (depth >= TL_YDOC_MAX_DEPTH)
            return tl_ydoc_error(w->d, n, w->err, w->cap, "nesting deeper than %d levels",
                                 TL_YDOC_MAX_DEPTH);
        w->state[i] = 1;
        uint32_t h = 0, sz = 1;
        for (size_t j = 0; j < n->n; j++) {
            tl_ynode *kids[2] = {n->keys ? n->keys[j] : NULL, n->items[j]};
            for (int k = 0; k < 2; k++) {
                if (!kids[k])
                    continue;
                if (walk(w, kids[k], depth + 1))
                    return -1;
                size_t ci = (size_t)(kids[k] - w->base);
                if (w->height[ci] > h)
                    h = w->height[ci];
                uint64_t s = (uint64_t)sz + w->size[ci];
                sz = s > TL_YDOC_MAX_EXPANDED ? TL_YDOC_MAX_EXPANDED + 1 : (uint32_t)s;
            }
        }
        w->height[i] = h + 1;
        w->size[i] = sz;
        w->state[i] = 2;
    }
    if (depth + w->height[i] > TL_YDOC_MAX_DEPTH)
        return tl_ydoc_error(w->d, n, w->err, w->cap, "nesting deeper than %d levels",
                             TL_YDOC_MAX_DEPTH);
    if (w->size[i] > TL_YDOC_MAX_EXPANDED)
        return tl_ydoc_error(w->d, n, w->err, w->cap,
                             "document expands to more than %u nodes through aliases",
                             TL_YDOC_MAX_EXPANDED);
    return 0;
}

static int check_graph(const tl_ydoc *d, ydoc_impl *im, char *err, size_t cap)
{
    if (!d->root)
        return 0;
    walk_ctx w = {.d = d, .base = im->nodes, .err = err, .cap = cap};
    int rc = -1;
    w.state = tl_calloc(im->n_nodes, 1);
    w.height = tl_calloc(im->n_nodes, sizeof *w.height);
    w.size = tl_calloc(im->n_nodes, sizeof *w.size);
    if (!w.state || !w.height || !w.size) {
        err_at(d, 0, 0, err, cap, "out of memory");
        goto out;
    }
    rc = walk(&w, d->root, 0);
out:
    tl_free(w.state);
    tl_free(w.height);
    tl_free(w.size);
    return rc;
}

tl_ydoc *tl_ydoc_load_string(const char *path, const char *buf, size_t len, char *err,
                             size_t errcap)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    int have_parser = 0, have_doc = 0, have_extra = 0, ok = 0;
    tl_ydoc *d = tl_calloc(1, sizeof *d);
    ydoc_impl *im = tl_calloc(1, sizeof *im);
    if (d)
        d->path = tl_strdup(path ? path : "<string>");
    if (!d || !im || !d->path) {
        if (err && errcap)
            snprintf(err, errcap, "%s: out of memory", path ? path : "<string>");
        goto out;
    }
    d->impl = im;
    if (!yaml_parser_initialize(&parser)) {
        err_at(d, 0, 0, err, errcap, "out of memory");
        goto out;
    }
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)(buf ? buf : ""),
                                 buf ? len : 0);
    if (!yaml_parser_load(&parser, &doc)) {
        parser_error(d, &parser, buf, len, err, errcap);
        goto out;
    }
    have_doc = 1;
    yaml_node_t *yroot = yaml_document_get_root_node(&doc);
    if (yroot) {
        /* Only one document: the next load must find the end of the stream. */
        if (!yaml_parser_load(&parser, &extra)) {
            parser_error(d, &parser, buf, len, err, errcap);
            goto out;
        }
        have_extra = 1;
        if (yaml_document_get_root_node(&extra)) {
            err_at(d, (uint32_t)extra.start_mark.line + 1,
                   (uint32_t)extra.start_mark.column + 1, err, errcap,
                   "only one YAML document is allowed per file");
            goto out;
        }
    }
    if (copy_nodes(d, im, &doc, buf, len, err, errcap))
        goto out;
    if (yroot)
        d->root = &im->nodes[yroot - doc.nodes.start];
    if (check_graph(d, im, err, errcap))
        goto out;
    ok = 1;
out:
    if (have_extra)
        yaml_document_delete(&extra);
    if (have_doc)
        yaml_document_delete(&doc);
    if (have_parser)
        yaml_parser_delete(&parser);
    if (!ok) {
        if (d)
            d->impl = im;
        else
            tl_free(im);
        tl_ydoc_destroy(d);
        return NULL;
    }
    return d;
}

tl_ydoc *tl_ydoc_load_file(const char *path, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    tl_ydoc *d = NULL;
    if (!f) {
        if (err && errcap)
            snprintf(err, errcap, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nb = tl_realloc(buf, ncap);
            if (!nb) {
                if (err && errcap)
                    snprintf(err, errcap, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                if (err && errcap)
                    snprintf(err, errcap, "%s: read error: %s", path, strerror(errno));
                goto out;
            }
            break;
        }
    }
    d = tl_ydoc_load_string(path, buf, len, err, errcap);
out:
    fclose(f);
    tl_free(buf);
    return d;
}

void tl_ydoc_destroy(tl_ydoc *d)
{
    if (!d)
        return;
    ydoc_impl *im = d->impl;
    if (im) {
        for (size_t i = 0; im->nodes && i < im->n_nodes; i++) {
            tl_ynode *t = &im->nodes[i];
            if (t->type == TL_Y_SCALAR) { /* scalar text is a heap copy; maps/seqs use "" */
                tl_free((void *)t->str);
                tl_free((void *)t->raw);
            }
            tl_free(t->items);
            tl_free(t->keys);
        }
        tl_free(im->nodes);
        tl_free(im);
    }
    tl_free(d->path);
    tl_free(d);
}

/* ---- lookups and typed readers -------------------------------------------------------- */

tl_ynode *tl_ynode_get(const tl_ynode *m, const char *key)
{
    if (!m || m->type != TL_Y_MAP || !key)
        return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < m->n; i++)
        if (m->keys[i]->len == kl && memcmp(m->keys[i]->str, key, kl) == 0)
            return m->items[i];
    return NULL;
}

static int need_scalar(const tl_ydoc *d, const tl_ynode *n, const char *what, char *err,
                       size_t cap)
{
    if (!n)
        return err_at(d, 0, 0, err, cap, "missing value (expected %s)", what);
    if (n->type != TL_Y_SCALAR)
        return tl_ydoc_error(d, n, err, cap, "expected %s, got %s", what, type_name(n));
    return 0;
}

int tl_ynode_str(const tl_ydoc *d, const tl_ynode *n, const char **out, char *err, size_t cap)
{
    if (need_scalar(d, n, "a string", err, cap))
        return -1;
    *out = n->str;
    return 0;
}

int tl_ynode_int(const tl_ydoc *d, const tl_ynode *n, int64_t min, int64_t max, int64_t *out,
                 char *err, size_t cap)
{
    char what[96];
    snprintf(what, sizeof what, "an integer in %" PRId64 "..%" PRId64, min, max);
    if (need_scalar(d, n, what, err, cap))
        return -1;
    const char *s = n->str;
    size_t i = 0, len = n->len;
    int neg = 0, overflow = 0;
    uint64_t mag = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    size_t digits_at = i;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned dig = (unsigned)(s[i] - '0');
        if (mag > (UINT64_MAX - dig) / 10)
            overflow = 1;
        else
            mag = mag * 10 + dig;
    }
    char b[TL_YDOC_CLIP + 4];
    if (i == digits_at || i != len)
        return tl_ydoc_error(d, n, err, cap, "expected %s, got '%s'", what,
                             clip(s, len, b, sizeof b));
    int64_t v = 0;
    if (!overflow) {
        if (neg) {
            if (mag > (uint64_t)INT64_MAX + 1)
                overflow = 1;
            else
                v = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
        } else if (mag > (uint64_t)INT64_MAX) {
            overflow = 1;
        } else {
            v = (int64_t)mag;
        }
    }
    if (overflow || v < min || v > max)
        return tl_ydoc_error(d, n, err, cap, "%s is out of range %" PRId64 "..%" PRId64,
                             clip(s, len, b, sizeof b), min, max);
    *out = v;
    return 0;
}

int tl_ynode_double(const tl_ydoc *d, const tl_ynode *n, double *out, char *err, size_t cap)
{
    if (need_scalar(d, n, "a number", err, cap))
        return -1;
    char b[TL_YDOC_CLIP + 4];
    const char *s = n->str;
    char *end = NULL;
    int ok = n->len > 0 && n->len == strlen(s) && !isspace((unsigned char)s[0]);
    double v = 0;
    if (ok) {
        errno = 0;
        v = strtod(s, &end);
        ok = end == s + n->len && isfinite(v) && errno != ERANGE;
    }
    if (!ok)
        return tl_ydoc_error(d, n, err, cap, "expected a number, got '%s'",
                             clip(s, n->len, b, sizeof b));
    *out = v;
    return 0;
}

int tl_ynode_bool(const tl_ydoc *d, const tl_ynode *n, int *out, char *err, size_t cap)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    if (need_scalar(d, n, "a boolean (true/false)", err, cap))
        return -1;
    char b[TL_YDOC_CLIP + 4];
    if (n->style != TL_YS_PLAIN)
        return tl_ydoc_error(d, n, err, cap,
                             "expected a boolean (true/false), got the quoted string '%s'",
                             clip(n->str, n->len, b, sizeof b));
    for (int i = 0; i < 3; i++) {
        if (n->len == strlen(yes[i]) && strncasecmp(n->str, yes[i], n->len) == 0) {
            *out = 1;
            return 0;
        }
        if (n->len == strlen(no[i]) && strncasecmp(n->str, no[i], n->len) == 0) {
            *out = 0;
            return 0;
        }
    }
    return tl_ydoc_error(d, n, err, cap,
                         "expected a boolean (true/false/yes/no/on/off), got '%s'",
                         clip(n->str, n->len, b, sizeof b));
}

int tl_ynode_duration(const tl_ydoc *d, const tl_ynode *n, int64_t *out_ms, char *err,
                      size_t cap)
{
    if (need_scalar(d, n, "a duration like 30s, 10m or 1h30m", err, cap))
        return -1;
    size_t bad = 0;
    int64_t ms = 0;
    if (tl_duration_parse(n->str, n->len, &ms, &bad) == 0) {
        *out_ms = ms;
        return 0;
    }
    char b[TL_YDOC_CLIP + 4];
    clip(n->str, n->len, b, sizeof b);
    uint32_t col = n->col;
    /* Point at the bad character when the text maps 1:1 onto the source line. */
    if (n->style != TL_YS_BLOCK && bad <= n->len && memchr(n->str, '\n', n->len) == NULL)
        col += (uint32_t)bad + (n->style == TL_YS_QUOTED ? 1u : 0u);
    if (n->len == 0)
        return err_at(d, n->line, col, err, cap,
                      "expected a duration like 500ms, 30s, 10m or 1h30m, got nothing");
    if (bad < n->len) {
        unsigned char ch = (unsigned char)n->str[bad];
        return err_at(d, n->line, col, err, cap,
                      "invalid duration '%s': unexpected '%c' (expected e.g. 500ms, 30s, 10m, "
                      "1h30m)", b, isprint(ch) ? (char)ch : '?');
    }
    if (n->str[n->len - 1] >= '0' && n->str[n->len - 1] <= '9')
        return err_at(d, n->line, col, err, cap,
                      "invalid duration '%s': the last number has no unit (ms, s, m, h, d, w)",
                      b);
    return err_at(d, n->line, col, err, cap,
                  "invalid duration '%s' (expected e.g. 500ms, 30s, 10m, 1h30m)", b);
}

/* Optimal string alignment distance (adjacent swaps count 1), for "did you mean". Returns a
 * large value for long inputs instead of computing. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    enum { MAXL = 64 };
    if (la > MAXL || lb > MAXL)
        return SIZE_MAX;
    size_t r0[MAXL + 1], r1[MAXL + 1], r2[MAXL + 1];
    size_t *pp = r0, *p = r1, *c = r2;
    for (size_t j = 0; j <= lb; j++)
        p[j] = j;
    for (size_t i = 1; i <= la; i++) {
        c[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = p[j - 1] + cost;
            if (p[j] + 1 < v)
                v = p[j] + 1;
            if (c[j - 1] + 1 < v)
                v = c[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            c[j] = v;
        }
        size_t *t = pp;
        pp = p;
        p = c;
        c = t;
    }
    return p[lb];
}

int tl_ynode_check_keys(const tl_ydoc *d, const tl_ynode *m, const char *const *allowed,
                        char *err, size_t cap)
{
    if (!m)
        return 0;
    if (m->type != TL_Y_MAP)
        return tl_ydoc_error(d, m, err, cap, "expected a mapping, got %s", type_name(m));
    for (size_t i = 0; i < m->n; i++) {
        const tl_ynode *k = m->keys[i];
        const char *best = NULL;
        size_t best_d = 3;
        int found = 0;
        for (size_t a = 0; allowed && allowed[a]; a++) {
            size_t al = strlen(allowed[a]);
            if (al == k->len && memcmp(allowed[a], k->str, al) == 0) {
                found = 1;
                break;
            }
            size_t dist = edit_distance(k->str, k->len, allowed[a], al);
            if (dist < best_d && dist < al) {
                best_d = dist;
                best = allowed[a];
            }
        }
        if (found)
            continue;
        char b[TL_YDOC_CLIP + 4];
        clip(k->str, k->len, b, sizeof b);
        if (best)
            return tl_ydoc_error(d, k, err, cap, "unknown key '%s' (did you mean '%s'?)", b,
                                 best);
        char list[256];
        size_t o = 0;
        list[0] = '\0';
        for (size_t a = 0; allowed && allowed[a] && o < sizeof list; a++) {
            int w = snprintf(list + o, sizeof list - o, "%s%s", a ? ", " : "", allowed[a]);
            if (w < 0)
                break;
            o += (size_t)w;
        }
        return tl_ydoc_error(d, k, err, cap, "unknown key '%s' (expected one of: %s)", b,
                             list);
    }
    return 0;
}

/* Bytes of UTF-8 needed for code point cp. */
static size_t utf8_len(unsigned long cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

void tl_ynode_pos(const tl_ynode *n, size_t off, uint32_t *line, uint32_t *col)
{
    *line = n->line;
    *col = n->col;
    if (n->type != TL_Y_SCALAR || !n->raw) {
        *col += (uint32_t)off;
        return;
    }
    const char *r = n->raw;
    size_t rl = n->raw_len, i = 0, u = 0;
    uint32_t ln = n->line, cl = n->col;
    if (n->style == TL_YS_BLOCK) {
        /* skip the indicator line, then content lines keep their text after the indent */
        while (i < rl && r[i] != '\n')
            i++, cl++;
        size_t indent = 0;
        if (i < rl) {
            i++, ln++, cl = 1;
            while (i + indent < rl && r[i + indent] == ' ')
                indent++;
        }
        for (;;) {
            /* at the start of a content line */
            size_t k = 0;
            while (k < indent && i < rl && r[i] == ' ')
                i++, k++, cl++;
            while (i < rl && r[i] != '\n' && u < off)
                i++, u++, cl++;
            if (u >= off || i >= rl)
                break;
            i++, u++, ln++, cl = 1; /* the newline is one byte of the value */
        }
        *line = ln;
        *col = cl;
        return;
    }
    char q = n->style == TL_YS_QUOTED ? r[0] : 0;
    if (q == '"' || q == '\'')
        i = 1, cl++;
    while (i < rl && u < off) {
        unsigned char ch = (unsigned char)r[i];
        size_t raw = 1, val = 1;
        if (ch == '\n') {
            ln++, cl = 0;
        } else if (q == '"' && ch == '\\' && i + 1 < rl) {
            char x = r[i + 1];
            raw = 2;
            if (x == 'x' || x == 'u' || x == 'U') {
                size_t digits = x == 'x' ? 2 : x == 'u' ? 4 : 8;
                char hexd[9] = {0};
                memcpy(hexd, r + i + 2, i + 2 + digits <= rl ? digits : rl - i - 2);
                unsigned long cp = strtoul(hexd, NULL, 16);
                raw = 2 + digits;
                val = utf8_len(cp);
            } else if (x == 'N' || x == '_') {
                val = 2;
            } else if (x == 'L' || x == 'P') {
                val = 3;
            } else if (x == '\n') {
                val = 0;
            }
        } else if (q == '\'' && ch == '\'' && i + 1 < rl && r[i + 1] == '\'') {
            raw = 2;
        }
        i += raw;
        u += val;
        cl += (uint32_t)raw;
    }
    *line = ln;
    *col = cl;
}
