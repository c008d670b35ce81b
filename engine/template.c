/* engine/template.c - compile and render {{ name }} templates for alert summaries.
 *
 * Why: a rule's summary ("{{ tool }} fails {{ value }} of calls") is parsed once when the rule
 * file is loaded, so errors carry a column and rendering an alert is a walk over precomputed
 * parts with no parsing and no allocation.
 *
 * Representation: one allocation holds the struct, the part array and a text pool. A part is
 * either literal text (a slice of the pool) or a placeholder (a NUL-terminated name in the
 * pool, plus the column where its "{{" starts, for the rule checker's messages).
 *
 * Invariants: parts alternate freely but are never empty literals; names are non-empty and
 * contain no whitespace, '{', '}' or control bytes.
 *
 * Rendering: substituted values are untrusted (they come from events): control bytes
 * (< 0x20 and 0x7f) are dropped, then the value is cut to TL_ALERT_LABEL_MAX bytes at a UTF-8
 * character boundary. The template's own literal text is trusted and copied as written. The
 * output is truncated to `cap` (also on a character boundary) and always NUL-terminated.
 *
 * Threading: a compiled template is immutable; render may run on any number of threads.
 */
#include "template.h"

#include <stdio.h>
#include <string.h>

#include "alert.h"
#include "alloc.h"

typedef struct tl_tpl_part {
    size_t off;     /* into pool: literal bytes, or the NUL-terminated name */
    size_t len;     /* literal length, or name length */
    size_t col;     /* placeholders: 0-based column of the "{{" in the source */
    int is_var;
} tl_tpl_part;

struct tl_template {
    size_t n_parts;
    size_t n_vars;
    tl_tpl_part *parts;
    char *pool;
};

static void set_err(char *errbuf, size_t errcap, size_t *err_col, size_t col, const char *msg)
{
    if (errbuf && errcap)
        snprintf(errbuf, errcap, "%s", msg);
    if (err_col)
        *err_col = col;
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

static int is_name_char(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '{' && c != '}';
}

/* Scan one placeholder starting at src[i] == "{{". On success fills name span and returns the
 * index just past "}}"; on error returns 0 with the message and column set. */
static size_t scan_var(const char *src, size_t n, size_t i, size_t *name_off, size_t *name_len,
                       const char **msg, size_t *col)
{
    size_t open = i;
    size_t j = i + 2;
    while (j < n && is_space(src[j]))
        j++;
    size_t start = j;
    while (j < n && is_name_char((unsigned char)src[j]))
        j++;
    size_t end = j;
    while (j < n && is_space(src[j]))
        j++;
    if (j + 1 < n && src[j] == '}' && src[j + 1] == '}') {
        if (end == start) {
            *msg = "empty placeholder name in '{{ }}'";
            *col = open;
            return 0;
        }
        *name_off = start;
        *name_len = end - start;
        return j + 2;
    }
    /* no "}}" right after the name: either it never closes, or something odd is inside */
    size_t k = j;
    while (k + 1 < n && !(src[k] == '}' && src[k + 1] == '}'))
        k++;
    if (k + 1 >= n) {
        *msg = "'{{' without a closing '}}'";
        *col = open;
    } else {
        *msg = end == start && j == k ? "empty placeholder name in '{{ }}'"
                                      : "unexpected character in placeholder name";
        *col = j;
    }
    return 0;
}

tl_template *tl_template_compile(const char *src, size_t n, char *errbuf, size_t errcap,
                                 size_t *err_col)
{
    if (errbuf && errcap)
        errbuf[0] = '\0';
    if (err_col)
        *err_col = 0;
    if (!src)
        n = 0;

    /* Pass 1: validate and count parts. */
    size_t n_parts = 0, n_vars = 0, names_bytes = 0;
    size_t i = 0, lit_start = 0;
    while (i < n) {
        if (src[i] == '{' && i + 1 < n && src[i + 1] == '{') {
            size_t off, len, col;
            const char *msg;
            size_t next = scan_var(src, n, i, &off, &len, &msg, &col);
            if (!next) {
                set_err(errbuf, errcap, err_col, col, msg);
                return NULL;
            }
            if (i > lit_start)
                n_parts++;
            n_parts++;
            n_vars++;
            names_bytes += len + 1;
            i = lit_start = next;
        } else {
            i++;
        }
    }
    if (n > lit_start)
        n_parts++;

    /* One block: struct, parts, pool (literal text and names). */
    size_t sz = sizeof(tl_template) + n_parts * sizeof(tl_tpl_part) + n + names_bytes + 1;
    tl_template *t = tl_malloc(sz);
    if (!t) {
        set_err(errbuf, errcap, err_col, 0, "out of memory");
        return NULL;
    }
    t->n_parts = n_parts;
    t->n_vars = n_vars;
    t->parts = (tl_tpl_part *)(t + 1);
    t->pool = (char *)(t->parts + n_parts);

    /* Pass 2: fill (the source is known valid now). */
    size_t p = 0, pool = 0;
    i = lit_start = 0;
    while (i <= n) {
        int at_var = i + 1 < n && src[i] == '{' && src[i + 1] == '{';
        if (i == n || at_var) {
            if (i > lit_start) {
                t->parts[p++] = (tl_tpl_part){pool, i - lit_start, 0, 0};
                memcpy(t->pool + pool, src + lit_start, i - lit_start);
                pool += i - lit_start;
            }
            if (i == n)
                break;
            size_t off = 0, len = 0, col = 0;
            const char *msg = NULL;
            size_t next = scan_var(src, n, i, &off, &len, &msg, &col);
            t->parts[p++] = (tl_tpl_part){pool, len, i, 1};
            memcpy(t->pool + pool, src + off, len);
            t->pool[pool + len] = '\0';
            pool += len + 1;
            i = lit_start = next;
        } else {
            i++;
        }
    }
    t->pool[pool] = '\0';
    return t;
}

void tl_template_destroy(tl_template *t) { tl_free(t); }

size_t tl_template_nvars(const tl_template *t) { return t ? t->n_vars : 0; }

const char *tl_template_var(const tl_template *t, size_t i, size_t *col)
{
    if (!t)
        return NULL;
    for (size_t k = 0; k < t->n_parts; k++) {
        if (!t->parts[k].is_var)
            continue;
        if (i-- == 0) {
            if (col)
                *col = t->parts[k].col;
            return t->pool + t->parts[k].off;
        }
    }
    return NULL;
}

/* Largest length <= max that does not split a UTF-8 sequence of s[0..n). */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t k = max;
    /* back up over continuation bytes (10xxxxxx), at most 3: a sequence is <= 4 bytes */
    for (int step = 0; step < 3 && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80; step++)
        k--;
    return k;
}

typedef struct tl_tpl_out {
    char *buf;
    size_t len;
    size_t lim; /* cap - 1: room for the NUL */
    int full;
} tl_tpl_out;

static void out_put(tl_tpl_out *o, const char *s, size_t n)
{
    if (o->full)
        return;
    size_t room = o->lim - o->len;
    if (n > room) {
        n = utf8_cut(s, n, room);
        o->full = 1;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static int is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

static void out_put_value(tl_tpl_out *o, const char *v, size_t n)
{
    /* Strip control bytes and cut to TL_ALERT_LABEL_MAX in one pass: copy runs of clean bytes;
     * the value budget counts bytes kept, not bytes read. */
    size_t kept = 0, i = 0;
    while (i < n && kept < TL_ALERT_LABEL_MAX && !o->full) {
        if (is_ctl((unsigned char)v[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_ctl((unsigned char)v[j]))
            j++;
        size_t run = j - i;
        size_t budget = TL_ALERT_LABEL_MAX - kept;
        if (run > budget) {
            run = utf8_cut(v + i, j - i, budget);
            out_put(o, v + i, run);
            return;
        }
        out_put(o, v + i, run);
        kept += run;
        i = j;
    }
}

size_t tl_template_render(const tl_template *t, tl_template_lookup_fn lookup, void *ctx,
                          char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    tl_tpl_out o = {out, 0, cap - 1, 0};
    for (size_t k = 0; t && k < t->n_parts && !o.full; k++) {
        const tl_tpl_part *pt = &t->parts[k];
        if (!pt->is_var) {
            out_put(&o, t->pool + pt->off, pt->len);
            continue;
        }
        size_t vn = 0;
        const char *v = lookup ? lookup(ctx, t->pool + pt->off, &vn) : NULL;
        if (v)
            out_put_value(&o, v, vn);
    }
    out[o.len] = '\0';
    return o.len;
}
