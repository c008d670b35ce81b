/* engine/regex.c - Thompson NFA regular expressions (see regex.h).
 *
 * Compilation is a recursive-descent parser that builds NFA fragments with dangling exits
 * kept as linked lists threaded through the unfilled `out` fields (as in Thompson's and Cox's
 * constructions). Matching keeps the set of live states for the current byte and advances
 * all of them together; a generation counter marks states already added, so no clearing is
 * needed between steps.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "regex.h"

enum { OP_CHAR, OP_ANY, OP_CLASS, OP_SPLIT, OP_MATCH, OP_BOL, OP_EOL };
#define END 0xFFFFu
#define MAX_CLASSES 64
#define MAX_DEPTH 64

typedef struct nstate {
    uint8_t op;
    uint8_t c;
    uint16_t cls;
    uint16_t out, out1;
} nstate;

struct tl_regex {
    nstate st[TL_REGEX_MAX_STATES];
    uint16_t n, start;
    uint8_t cls[MAX_CLASSES][32];
    uint16_t ncls;
};

typedef struct frag {
    uint16_t start;
    uint16_t holes; /* list of unfilled exits: code = state * 2 + (0: out, 1: out1) */
} frag;

typedef struct parser {
    tl_regex *re;
    const char *s;
    size_t n, i;
    int depth;
    char *err;
    size_t errcap, err_pos;
    int failed;
} parser;

static void fail(parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(parser *p, size_t pos, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = 1;
    p->err_pos = pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errcap, fmt, ap);
    va_end(ap);
}

static uint16_t *hole(tl_regex *re, uint16_t code) { return code & 1 ? &re->st[code >> 1].out1 : &re->st[code >> 1].out; }

static void patch(tl_regex *re, uint16_t list, uint16_t target)
{
    while (list != END) {
        uint16_t *h = hole(re, list);
        uint16_t next = *h;
        *h = target;
        list = next;
    }
}

static uint16_t append(tl_regex *re, uint16_t a, uint16_t b)
{
    if (a == END)
        return b;
    uint16_t l = a;
    for (;;) {
        uint16_t *h = hole(re, l);
        if (*h == END) {
            *h = b;
            return a;
        }
        l = *h;
    }
}

static int new_state(parser *p, uint8_t op)
{
    tl_regex *re = p->re;
    if (re->n >= TL_REGEX_MAX_STATES) {
        fail(p, p->i, "pattern too large (more than %d states)", TL_REGEX_MAX_STATES);
        return -1;
    }
    nstate *s = &re->st[re->n];
    memset(s, 0, sizeof *s);
    s->op = op;
    s->out = s->out1 = END;
    return re->n++;
}

static int new_class(parser *p)
{
    if (p->re->ncls >= MAX_CLASSES) {
        fail(p, p->i, "too many character classes (at most %d)", MAX_CLASSES);
        return -1;
    }
    memset(p->re->cls[p->re->ncls], 0, 32);
    return p->re->ncls++;
}

static void set_bit(uint8_t *b, unsigned c) { b[c >> 3] |= (uint8_t)(1u << (c & 7)); }

/* \d \w \s and negations into a class bitmap. */
static int shorthand(uint8_t *b, char k)
{
    char lower = (char)(k | 0x20);
    if (lower != 'd' && lower != 'w' && lower != 's')
        return 0;
    uint8_t t[32] = {0};
    for (unsigned c = 0; c < 256; c++) {
        int in = lower == 'd' ? (c >= '0' && c <= '9')
                 : lower == 'w' ? ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_')
                                : (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v');
        if (in)
            set_bit(t, c);
    }
    for (int i = 0; i < 32; i++)
        b[i] |= k == lower ? t[i] : (uint8_t)~t[i];
    return 1;
}

static frag single(parser *p, uint8_t op)
{
    int s = new_state(p, op);
    frag f = {0, END};
    if (s >= 0) {
        f.start = (uint16_t)s;
        f.holes = (uint16_t)(s * 2);
    }
    return f;
}

static frag parse_alt(parser *p);

static frag parse_class(parser *p)
{
    size_t pos = p->i++; /* '[' */
    int k = new_class(p);
    frag f = {0, END};
    if (k < 0)
        return f;
    uint8_t *b = p->re->cls[k];
    int neg = 0;
    if (p->i < p->n && p->s[p->i] == '^') {
        neg = 1;
        p->i++;
    }
    int first = 1;
    while (p->i < p->n && (p->s[p->i] != ']' || first)) {
        unsigned lo = (unsigned char)p->s[p->i++];
        first = 0;
        if (lo == '\\' && p->i < p->n) {
            char e = p->s[p->i++];
            if (shorthand(b, e))
                continue;
            lo = (unsigned char)(e == 'n' ? '\n' : e == 't' ? '\t' : e);
        }
        unsigned hi = lo;
        if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
            hi = (unsigned char)p->s[p->i + 1];
            p->i += 2;
            if (hi < lo) {
                fail(p, p->i - 3, "bad range in character class");
                return f;
            }
        }
        for (unsigned c = lo; c <= hi; c++)
            set_bit(b, c);
    }
    if (p->i >= p->n) {
        fail(p, pos, "missing ']' to close the character class");
        return f;
    }
    p->i++;
    if (neg)
        for (int i = 0; i < 32; i++)
            b[i] = (uint8_t)~b[i];
    f = single(p, OP_CLASS);
    if (!p->failed)
        p->re->st[f.start].cls = (uint16_t)k;
    return f;
}

static frag parse_atom(parser *p)
{
    frag f = {0, END};
    char c = p->s[p->i];
    switch (c) {
    case '(': {
        size_t pos = p->i++;
        if (++p->depth > MAX_DEPTH) {
            fail(p, pos, "groups nested too deeply");
            return f;
        }
        f = parse_alt(p);
        p->depth--;
        if (!p->failed && (p->i >= p->n || p->s[p->i] != ')')) {
            fail(p, pos, "missing ')' to close the group");
            return f;
        }
        p->i++;
        return f;
    }
    case '[':
        return parse_class(p);
    case '.':
        p->i++;
        return single(p, OP_ANY);
    case '^':
        p->i++;
        return single(p, OP_BOL);
    case '$':
        p->i++;
        return single(p, OP_EOL);
    case '*': case '+': case '?':
        fail(p, p->i, "'%c' has nothing to repeat", c);
        return f;
    case ')':
        fail(p, p->i, "unmatched ')'");
        return f;
    case '\\': {
        if (p->i + 1 >= p->n) {
            fail(p, p->i, "pattern ends with '\\'");
            return f;
        }
        char e = p->s[p->i + 1];
        p->i += 2;
        int k;
        if ((e | 0x20) == 'd' || (e | 0x20) == 'w' || (e | 0x20) == 's') {
            if ((k = new_class(p)) < 0)
                return f;
            shorthand(p->re->cls[k], e);
            f = single(p, OP_CLASS);
            if (!p->failed)
                p->re->st[f.start].cls = (uint16_t)k;
            return f;
        }
        f = single(p, OP_CHAR);
        if (!p->failed)
            p->re->st[f.start].c = (uint8_t)(e == 'n' ? '\n' : e == 't' ? '\t' : e);
        return f;
    }
    default:
        p->i++;
        f = single(p, OP_CHAR);
        if (!p->failed)
            p->re->st[f.start].c = (uint8_t)c;
        return f;
    }
}

static frag parse_repeat(parser *p)
{
    frag f = parse_atom(p);
    while (!p->failed && p->i < p->n && (p->s[p->i] == '*' || p->s[p->i] == '+' || p->s[p->i] == '?')) {
        char q = p->s[p->i++];
        int s = new_state(p, OP_SPLIT);
        if (s < 0)
            break;
        tl_regex *re = p->re;
        re->st[s].out = f.start;
        if (q == '*') { /* s -> f -> s; s -> exit */
            patch(re, f.holes, (uint16_t)s);
            f = (frag){(uint16_t)s, (uint16_t)(s * 2 + 1)};
        } else if (q == '+') { /* f -> s -> f; s -> exit */
            patch(re, f.holes, (uint16_t)s);
            f = (frag){f.start, (uint16_t)(s * 2 + 1)};
        } else { /* s -> f; s -> exit */
            f = (frag){(uint16_t)s, append(re, f.holes, (uint16_t)(s * 2 + 1))};
        }
    }
    return f;
}

static frag parse_concat(parser *p)
{
    size_t pos = p->i;
    if (p->i >= p->n || p->s[p->i] == '|' || p->s[p->i] == ')') {
        fail(p, pos, "empty alternative");
        return (frag){0, END};
    }
    frag f = parse_repeat(p);
    while (!p->failed && p->i < p->n && p->s[p->i] != '|' && p->s[p->i] != ')') {
        frag g = parse_repeat(p);
        patch(p->re, f.holes, g.start);
        f.holes = g.holes;
    }
    return f;
}

static frag parse_alt(parser *p)
{
    frag f = parse_concat(p);
    while (!p->failed && p->i < p->n && p->s[p->i] == '|') {
        p->i++;
        frag g = parse_concat(p);
        int s = new_state(p, OP_SPLIT);
        if (s < 0 || p->failed)
            break;
        p->re->st[s].out = f.start;
        p->re->st[s].out1 = g.start;
        f = (frag){(uint16_t)s, append(p->re, f.holes, g.holes)};
    }
    return f;
}

tl_regex *tl_regex_compile(const char *pat, size_t n, char *err, size_t errcap, size_t *err_pos)
{
    char dummy[8];
    tl_regex *re = tl_calloc(1, sizeof *re);
    if (!re) {
        if (err && errcap)
            snprintf(err, errcap, "out of memory");
        return NULL;
    }
    parser p = {.re = re, .s = pat, .n = n, .err = err ? err : dummy, .errcap = err ? errcap : sizeof dummy};
    frag f = parse_alt(&p);
    if (!p.failed && p.i < p.n)
        fail(&p, p.i, "unmatched ')'");
    int m = p.failed ? -1 : new_state(&p, OP_MATCH);
    if (p.failed || m < 0) {
        if (err_pos)
            *err_pos = p.err_pos;
        tl_free(re);
        return NULL;
    }
    patch(re, f.holes, (uint16_t)m);
    re->start = f.start;
    return re;
}

void tl_regex_free(tl_regex *re) { tl_free(re); }

int tl_regex_scratch_init(tl_regex_scratch *s)
{
    s->cur = tl_malloc(TL_REGEX_MAX_STATES * sizeof *s->cur);
    s->next = tl_malloc(TL_REGEX_MAX_STATES * sizeof *s->next);
    s->mark = tl_calloc(TL_REGEX_MAX_STATES, sizeof *s->mark);
    s->gen = 0;
    if (!s->cur || !s->next || !s->mark) {
        tl_regex_scratch_fini(s);
        return -1;
    }
    return 0;
}

void tl_regex_scratch_fini(tl_regex_scratch *s)
{
    tl_free(s->cur);
    tl_free(s->next);
    tl_free(s->mark);
    memset(s, 0, sizeof *s);
}

/* Add state s and its epsilon closure at input position pos (of len). */
static void add(const tl_regex *re, tl_regex_scratch *scr, uint16_t *list, uint32_t *nl, uint16_t s, size_t pos,
                size_t len)
{
    /* explicit stack: closures can chain SPLIT states */
    uint16_t stack[TL_REGEX_MAX_STATES];
    uint32_t sp = 0;
    stack[sp++] = s;
    while (sp) {
        uint16_t x = stack[--sp];
        if (x == END || scr->mark[x] == scr->gen)
            continue;
        scr->mark[x] = scr->gen;
        const nstate *st = &re->st[x];
        switch (st->op) {
        case OP_SPLIT:
            stack[sp++] = st->out1;
            stack[sp++] = st->out;
            break;
        case OP_BOL:
            if (pos == 0)
                stack[sp++] = st->out;
            break;
        case OP_EOL:
            if (pos == len)
                stack[sp++] = st->out;
            break;
        default:
            list[(*nl)++] = x;
        }
    }
}

int tl_regex_match(const tl_regex *re, const char *s, size_t n, tl_regex_scratch *scr)
{
    uint16_t *cur = scr->cur, *next = scr->next;
    uint32_t nc = 0, nn;
    if (scr->gen > UINT32_MAX - (uint32_t)n - 2) { /* about to wrap: old marks must not alias */
        memset(scr->mark, 0, TL_REGEX_MAX_STATES * sizeof *scr->mark);
        scr->gen = 0;
    }
    scr->gen++;
    add(re, scr, cur, &nc, re->start, 0, n);
    for (size_t i = 0;; i++) {
        for (uint32_t k = 0; k < nc; k++)
            if (re->st[cur[k]].op == OP_MATCH)
                return 1;
        if (i == n)
            return 0;
        unsigned char c = (unsigned char)s[i];
        scr->gen++;
        nn = 0;
        for (uint32_t k = 0; k < nc; k++) {
            const nstate *st = &re->st[cur[k]];
            int ok = st->op == OP_ANY || (st->op == OP_CHAR && st->c == c) ||
                     (st->op == OP_CLASS && (re->cls[st->cls][c >> 3] >> (c & 7)) & 1);
            if (ok)
                add(re, scr, next, &nn, st->out, i + 1, n);
        }
        add(re, scr, next, &nn, re->start, i + 1, n); /* a match may start anywhere */
        uint16_t *t = cur;
        cur = next;
        next = t;
        nc = nn;
    }
}
