/* engine/expr.c - lexer and precedence-climbing parser for rule expressions (see expr.h).
 *
 * Hand-written rather than generated: the grammar is small, and a hand-written parser gives
 * the exact byte position and a specific message for every error ("expected ')' to close
 * the call at 4"), which is what a rule author needs. Recursion depth is bounded so that a
 * hostile rule file cannot overflow the stack.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "expr.h"

#define MAX_DEPTH 64    /* nesting of parentheses, calls, lists, unary operators */
#define MAX_NODES 4096  /* bounds chains like `a or b or ...`: every walk of the tree recurses */

typedef enum tok_kind {
    T_EOF,
    T_IDENT,
    T_STR,
    T_NUM,
    T_LP,
    T_RP,
    T_LB,
    T_RB,
    T_COMMA,
    T_OP,   /* comparison or arithmetic: text in op[] */
} tok_kind;

typedef struct tok {
    tok_kind kind;
    size_t pos, end;
    char op[3];
} tok;

typedef struct parser {
    const char *s;
    size_t n;
    size_t i; /* lexer position */
    tok t;    /* current token */
    int depth;
    int nodes;
    char *err;
    size_t errcap;
    size_t err_pos;
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

static int ident_start(int c) { return isalpha(c) || c == '_'; }
static int ident_char(int c) { return isalnum(c) || c == '_' || c == '.'; }

static void next(parser *p)
{
    const char *s = p->s;
    while (p->i < p->n && isspace((unsigned char)s[p->i]))
        p->i++;
    tok *t = &p->t;
    t->pos = p->i;
    t->op[0] = t->op[1] = t->op[2] = 0;
    if (p->i >= p->n) {
        t->kind = T_EOF;
        t->end = p->i;
        return;
    }
    unsigned char c = (unsigned char)s[p->i];
    if (ident_start(c)) {
        while (p->i < p->n && ident_char((unsigned char)s[p->i]))
            p->i++;
        t->kind = T_IDENT;
    } else if (isdigit(c) || (c == '.' && p->i + 1 < p->n && isdigit((unsigned char)s[p->i + 1]))) {
        while (p->i < p->n && (isalnum((unsigned char)s[p->i]) || s[p->i] == '.' || s[p->i] == '%'))
            p->i++;
        t->kind = T_NUM;
    } else if (c == '"' || c == '\'') {
        size_t j = p->i + 1;
        while (j < p->n && (unsigned char)s[j] != c) {
            if (s[j] == '\\')
                j++;
            j++;
        }
        if (j >= p->n) {
            fail(p, p->i, "unterminated string");
            t->kind = T_EOF;
            t->end = p->n;
            p->i = p->n;
            return;
        }
        p->i = j + 1;
        t->kind = T_STR;
    } else {
        p->i++;
        switch (c) {
        case '(': t->kind = T_LP; break;
        case ')': t->kind = T_RP; break;
        case '[': t->kind = T_LB; break;
        case ']': t->kind = T_RB; break;
        case ',': t->kind = T_COMMA; break;
        case '=': case '!': case '<': case '>': case '&': case '|':
        case '+': case '-': case '*': case '/':
            t->kind = T_OP;
            t->op[0] = (char)c;
            if (p->i < p->n) {
                char d = s[p->i];
                if ((d == '=' && (c == '=' || c == '!' || c == '<' || c == '>')) ||
                    (d == '&' && c == '&') || (d == '|' && c == '|')) {
                    t->op[1] = d;
                    p->i++;
                }
            }
            if ((t->op[0] == '=' || t->op[0] == '&' || t->op[0] == '|') && !t->op[1]) {
                fail(p, t->pos, "unexpected '%c' (did you mean '%c%c'?)", c, c, c == '=' ? '=' : c);
            }
            break;
        default:
            fail(p, t->pos, "unexpected character '%c'", isprint(c) ? c : '?');
            t->kind = T_EOF;
        }
    }
    t->end = p->i;
}

static int tok_is_word(const parser *p, const char *w)
{
    size_t n = strlen(w);
    return p->t.kind == T_IDENT && p->t.end - p->t.pos == n && memcmp(p->s + p->t.pos, w, n) == 0;
}

static int tok_is_op(const parser *p, const char *op) { return p->t.kind == T_OP && strcmp(p->t.op, op) == 0; }

static tl_expr *node(parser *p, tl_expr_kind k, size_t pos)
{
    if (++p->nodes > MAX_NODES) {
        fail(p, pos, "expression too long (more than %d terms)", MAX_NODES);
        return NULL;
    }
    tl_expr *e = tl_calloc(1, sizeof *e);
    if (!e) {
        fail(p, pos, "out of memory");
        return NULL;
    }
    e->kind = k;
    e->pos = (uint32_t)pos;
    e->end = (uint32_t)pos;
    return e;
}

void tl_expr_free(tl_expr *e)
{
    if (!e)
        return;
    tl_expr_free(e->a);
    tl_expr_free(e->b);
    for (size_t i = 0; i < e->nargs; i++)
        tl_expr_free(e->args[i]);
    tl_free(e->args);
    tl_free(e->text);
    tl_free(e);
}

static tl_expr *parse_or(parser *p);

static int push_arg(parser *p, tl_expr *list, tl_expr *item)
{
    tl_expr **na = tl_realloc(list->args, (list->nargs + 1) * sizeof *na);
    if (!na) {
        fail(p, item->pos, "out of memory");
        tl_expr_free(item);
        return -1;
    }
    list->args = na;
    list->args[list->nargs++] = item;
    return 0;
}

/* Unescape a quoted string token into a new node. */
static tl_expr *parse_string(parser *p)
{
    size_t pos = p->t.pos, end = p->t.end;
    tl_expr *e = node(p, TL_E_STR, pos);
    if (!e)
        return NULL;
    char *buf = tl_malloc(end - pos);
    if (!buf) {
        tl_free(e);
        fail(p, pos, "out of memory");
        return NULL;
    }
    size_t o = 0;
    for (size_t i = pos + 1; i < end - 1; i++) {
        char c = p->s[i];
        if (c == '\\') {
            char d = p->s[++i];
            switch (d) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '\\': case '"': case '\'': c = d; break;
            default:
                fail(p, i - 1, "unknown escape '\\%c' in string", d);
                tl_free(buf);
                tl_free(e);
                return NULL;
            }
        }
        buf[o++] = c;
    }
    buf[o] = '\0';
    e->text = buf;
    e->text_len = o;
    e->end = (uint32_t)end;
    next(p);
    return e;
}

static tl_expr *parse_number(parser *p)
{
    size_t pos = p->t.pos, end = p->t.end;
    char tmp[64];
    size_t len = end - pos;
    if (len >= sizeof tmp) {
        fail(p, pos, "number too long");
        return NULL;
    }
    memcpy(tmp, p->s + pos, len);
    tmp[len] = '\0';
    char *q;
    double v = strtod(tmp, &q);
    tl_num_suffix suf = TL_SUF_NONE;
    if (*q) {
        if (strcmp(q, "%") == 0) {
            v /= 100.0;
            suf = TL_SUF_PERCENT;
        } else if (strcmp(q, "k") == 0) {
            v *= 1000.0;
            suf = TL_SUF_KILO;
        } else {
            static const struct { const char *s; double ms; } units[] = {
                {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"w", 604800000},
            };
            size_t k;
            for (k = 0; k < sizeof units / sizeof units[0]; k++)
                if (strcmp(q, units[k].s) == 0)
                    break;
            if (k == sizeof units / sizeof units[0]) {
                fail(p, pos + (size_t)(q - tmp), "unknown number suffix '%s' (use %%, ms, s, m, h, d, w or k)", q);
                return NULL;
            }
            v *= units[k].ms;
            suf = TL_SUF_DURATION;
        }
    }
    if (!isfinite(v)) {
        fail(p, pos, "number out of range");
        return NULL;
    }
    tl_expr *e = node(p, TL_E_NUM, pos);
    if (!e)
        return NULL;
    e->num = v;
    e->suffix = suf;
    e->end = (uint32_t)end;
    next(p);
    return e;
}

/* Comma-separated items up to the token `close` (the opening one was consumed) into e->args.
 * Leaves `close` as the current token. */
static int parse_items(parser *p, tl_expr *e, tok_kind close, const char *what)
{
    if (p->t.kind == close)
        return 0;
    for (;;) {
        tl_expr *item = parse_or(p);
        if (!item || push_arg(p, e, item) < 0)
            return -1;
        if (p->t.kind == T_COMMA) {
            next(p);
            continue;
        }
        if (p->t.kind != close) {
            fail(p, p->t.pos, "%s", what);
            return -1;
        }
        return 0;
    }
}

static tl_expr *parse_primary(parser *p)
{
    if (p->failed)
        return NULL;
    /* nesting is counted for containers only: parentheses, lists and calls */
    size_t after = p->t.end;
    while (after < p->n && isspace((unsigned char)p->s[after]))
        after++;
    int container = p->t.kind == T_LP || p->t.kind == T_LB ||
                    (p->t.kind == T_IDENT && after < p->n && p->s[after] == '(');
    if (container && ++p->depth > MAX_DEPTH) {
        fail(p, p->t.pos, "expression nested too deeply (more than %d levels)", MAX_DEPTH);
        return NULL;
    }
    tl_expr *e = NULL;
    size_t pos = p->t.pos;
    switch (p->t.kind) {
    case T_STR:
        e = parse_string(p);
        break;
    case T_NUM:
        e = parse_number(p);
        break;
    case T_LP:
        next(p);
        e = parse_or(p);
        if (e && p->t.kind != T_RP) {
            fail(p, p->t.pos, "expected ')' to close '(' at %zu", pos);
            tl_expr_free(e);
            e = NULL;
        } else if (e) {
            e->end = (uint32_t)p->t.end;
            next(p);
        }
        break;
    case T_LB:
        e = node(p, TL_E_LIST, pos);
        if (!e)
            break;
        next(p);
        if (parse_items(p, e, T_RB, "expected ',' or ']' in list") < 0) {
            tl_expr_free(e);
            e = NULL;
        }
        if (e) {
            e->end = (uint32_t)p->t.end;
            next(p);
        }
        break;
    case T_IDENT: {
        size_t len = p->t.end - pos;
        if (tok_is_word(p, "true") || tok_is_word(p, "false")) {
            e = node(p, TL_E_BOOL, pos);
            if (e) {
                e->num = tok_is_word(p, "true");
                e->end = (uint32_t)p->t.end;
            }
            next(p);
            break;
        }
        static const char *const reserved[] = {"and", "or", "not", "in", "contains", "startswith", "endswith", "matches"};
        for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++) {
            if (tok_is_word(p, reserved[k])) {
                fail(p, pos, "expected a value, got keyword '%s'", reserved[k]);
                return NULL;
            }
        }
        if (p->s[p->t.end - 1] == '.') {
            fail(p, p->t.end - 1, "field path ends with '.'");
            return NULL;
        }
        next(p);
        if (p->t.kind == T_LP) {
            e = node(p, TL_E_CALL, pos);
            if (!e)
                break;
            e->text = tl_strndup(p->s + pos, len);
            e->text_len = len;
            next(p);
            char what[160];
            snprintf(what, sizeof what, "expected ',' or ')' to close the call to '%.*s' at %zu", (int)(len > 64 ? 64 : len),
                     p->s + pos, pos);
            if (parse_items(p, e, T_RP, what) < 0) {
                tl_expr_free(e);
                e = NULL;
            }
            if (e) {
                e->end = (uint32_t)p->t.end;
                next(p);
            }
        } else if (p->t.kind == T_LB) {
            /* attributes["gen_ai.system"] */
            if (len != 10 || memcmp(p->s + pos, "attributes", 10) != 0) {
                fail(p, p->t.pos, "only 'attributes' can be indexed with [\"key\"]");
                return NULL;
            }
            next(p);
            if (p->t.kind != T_STR) {
                fail(p, p->t.pos, "expected a quoted attribute name");
                return NULL;
            }
            tl_expr *key = parse_string(p);
            if (!key)
                return NULL;
            if (p->t.kind != T_RB) {
                fail(p, p->t.pos, "expected ']'");
                tl_expr_free(key);
                return NULL;
            }
            e = node(p, TL_E_FIELD, pos);
            if (e) {
                size_t tl = 11 + key->text_len;
                e->text = tl_malloc(tl + 1);
                if (e->text) {
                    memcpy(e->text, "attributes.", 11);
                    memcpy(e->text + 11, key->text, key->text_len + 1);
                    e->text_len = tl;
                }
                e->end = (uint32_t)p->t.end;
            }
            tl_expr_free(key);
            next(p);
        } else {
            e = node(p, TL_E_FIELD, pos);
            if (e) {
                e->text = tl_strndup(p->s + pos, len);
                e->text_len = len;
                e->end = (uint32_t)(pos + len);
            }
        }
        if (e && (e->kind == TL_E_CALL || e->kind == TL_E_FIELD) && !e->text) {
            fail(p, pos, "out of memory");
            tl_expr_free(e);
            e = NULL;
        }
        break;
    }
    case T_EOF:
        if (!p->failed)
            fail(p, pos, "unexpected end of expression");
        break;
    default:
        fail(p, pos, "unexpected '%.*s'", (int)(p->t.end - pos), p->s + pos);
    }
    if (container)
        p->depth--;
    return e;
}

static tl_expr *binary(parser *p, tl_expr_kind k, int op, tl_expr *a, tl_expr *b)
{
    if (!a || !b) {
        tl_expr_free(a);
        tl_expr_free(b);
        return NULL;
    }
    tl_expr *e = node(p, k, a->pos);
    if (!e) {
        tl_expr_free(a);
        tl_expr_free(b);
        return NULL;
    }
    e->op = op;
    e->a = a;
    e->b = b;
    e->end = b->end;
    return e;
}

static tl_expr *parse_unary(parser *p)
{
    if (tok_is_op(p, "-")) {
        size_t pos = p->t.pos;
        next(p);
        if (++p->depth > MAX_DEPTH) {
            fail(p, pos, "expression nested too deeply");
            return NULL;
        }
        tl_expr *a = parse_unary(p);
        p->depth--;
        if (!a)
            return NULL;
        if (a->kind == TL_E_NUM) { /* fold negative literals */
            a->num = -a->num;
            a->pos = (uint32_t)pos;
            return a;
        }
        tl_expr *e = node(p, TL_E_NEG, pos);
        if (!e) {
            tl_expr_free(a);
            return NULL;
        }
        e->a = a;
        e->end = a->end;
        return e;
    }
    return parse_primary(p);
}

static tl_expr *parse_mul(parser *p)
{
    tl_expr *a = parse_unary(p);
    while (a && (tok_is_op(p, "*") || tok_is_op(p, "/"))) {
        int op = p->t.op[0];
        next(p);
        a = binary(p, TL_E_ARITH, op, a, parse_unary(p));
    }
    return a;
}

static tl_expr *parse_add(parser *p)
{
    tl_expr *a = parse_mul(p);
    while (a && (tok_is_op(p, "+") || tok_is_op(p, "-"))) {
        int op = p->t.op[0];
        next(p);
        a = binary(p, TL_E_ARITH, op, a, parse_mul(p));
    }
    return a;
}

static tl_expr *parse_cmp(parser *p)
{
    tl_expr *a = parse_add(p);
    if (!a)
        return NULL;
    static const struct { const char *s; tl_cmp_op op; } ops[] = {
        {"==", TL_OP_EQ}, {"!=", TL_OP_NE}, {"<=", TL_OP_LE}, {">=", TL_OP_GE}, {"<", TL_OP_LT}, {">", TL_OP_GT},
    };
    if (p->t.kind == T_OP) {
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            if (strcmp(p->t.op, ops[k].s) == 0) {
                next(p);
                return binary(p, TL_E_CMP, (int)ops[k].op, a, parse_add(p));
            }
        }
        if (strcmp(p->t.op, "!") == 0) {
            fail(p, p->t.pos, "unexpected '!' (did you mean '!='?)");
            tl_expr_free(a);
            return NULL;
        }
        return a;
    }
    if (tok_is_word(p, "in")) {
        next(p);
        return binary(p, TL_E_IN, 0, a, parse_add(p));
    }
    if (tok_is_word(p, "not")) {
        size_t pos = p->t.pos;
        next(p);
        if (!tok_is_word(p, "in")) {
            fail(p, pos, "expected 'in' after 'not' here");
            tl_expr_free(a);
            return NULL;
        }
        next(p);
        return binary(p, TL_E_NOT_IN, 0, a, parse_add(p));
    }
    if (tok_is_word(p, "contains")) {
        next(p);
        return binary(p, TL_E_CONTAINS, 0, a, parse_add(p));
    }
    if (tok_is_word(p, "startswith")) {
        next(p);
        return binary(p, TL_E_STARTSWITH, 0, a, parse_add(p));
    }
    if (tok_is_word(p, "endswith")) {
        next(p);
        return binary(p, TL_E_ENDSWITH, 0, a, parse_add(p));
    }
    if (tok_is_word(p, "matches")) {
        next(p);
        return binary(p, TL_E_MATCHES, 0, a, parse_add(p));
    }
    return a;
}

static tl_expr *parse_not(parser *p)
{
    if (tok_is_word(p, "not") || tok_is_op(p, "!")) {
        size_t pos = p->t.pos;
        next(p);
        if (++p->depth > MAX_DEPTH) {
            fail(p, pos, "expression nested too deeply");
            return NULL;
        }
        tl_expr *a = parse_not(p);
        p->depth--;
        if (!a)
            return NULL;
        tl_expr *e = node(p, TL_E_NOT, pos);
        if (!e) {
            tl_expr_free(a);
            return NULL;
        }
        e->a = a;
        e->end = a->end;
        return e;
    }
    return parse_cmp(p);
}

static tl_expr *parse_and(parser *p)
{
    tl_expr *a = parse_not(p);
    while (a && (tok_is_word(p, "and") || tok_is_op(p, "&&"))) {
        next(p);
        a = binary(p, TL_E_AND, 0, a, parse_not(p));
    }
    return a;
}

static tl_expr *parse_or(parser *p)
{
    tl_expr *a = parse_and(p);
    while (a && (tok_is_word(p, "or") || tok_is_op(p, "||"))) {
        next(p);
        a = binary(p, TL_E_OR, 0, a, parse_and(p));
    }
    return a;
}

tl_expr *tl_expr_parse(const char *src, size_t n, char *err, size_t errcap, size_t *err_pos)
{
    char dummy[8];
    parser p = {.s = src, .n = n, .err = err ? err : dummy, .errcap = err ? errcap : sizeof dummy};
    next(&p);
    tl_expr *e = NULL;
    if (p.t.kind == T_EOF && !p.failed)
        fail(&p, 0, "empty expression");
    else
        e = parse_or(&p);
    if (e && !p.failed && p.t.kind != T_EOF)
        fail(&p, p.t.pos, "unexpected '%.*s' after the end of the expression", (int)(p.t.end - p.t.pos),
             src + p.t.pos);
    if (p.failed) {
        tl_expr_free(e);
        if (err_pos)
            *err_pos = p.err_pos;
        return NULL;
    }
    return e;
}

const char *tl_cmp_op_text(tl_cmp_op op)
{
    static const char *const t[] = {"==", "!=", "<", "<=", ">", ">="};
    return (unsigned)op < 6 ? t[op] : "?";
}

typedef struct sbuf {
    char *b;
    size_t cap, len;
} sbuf;

static void put(sbuf *s, const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++, s->len++)
        if (s->len + 1 < s->cap)
            s->b[s->len] = t[i];
}
static void puts_(sbuf *s, const char *t) { put(s, t, strlen(t)); }

static void canon(sbuf *s, const tl_expr *e)
{
    char tmp[40];
    switch (e->kind) {
    case TL_E_OR: case TL_E_AND:
        puts_(s, "(");
        canon(s, e->a);
        puts_(s, e->kind == TL_E_OR ? " or " : " and ");
        canon(s, e->b);
        puts_(s, ")");
        break;
    case TL_E_NOT:
        puts_(s, "not ");
        canon(s, e->a);
        break;
    case TL_E_CMP: case TL_E_IN: case TL_E_NOT_IN: case TL_E_CONTAINS: case TL_E_STARTSWITH: case TL_E_ENDSWITH:
    case TL_E_MATCHES: {
        static const char *const w[] = {" in ", " not in ", " contains ", " startswith ", " endswith ", " matches "};
        canon(s, e->a);
        if (e->kind == TL_E_CMP) {
            puts_(s, " ");
            puts_(s, tl_cmp_op_text((tl_cmp_op)e->op));
            puts_(s, " ");
        } else {
            puts_(s, w[e->kind - TL_E_IN]);
        }
        canon(s, e->b);
        break;
    }
    case TL_E_ARITH:
        puts_(s, "(");
        canon(s, e->a);
        tmp[0] = ' ';
        tmp[1] = (char)e->op;
        tmp[2] = ' ';
        put(s, tmp, 3);
        canon(s, e->b);
        puts_(s, ")");
        break;
    case TL_E_NEG:
        puts_(s, "-");
        canon(s, e->a);
        break;
    case TL_E_FIELD:
        put(s, e->text, e->text_len);
        break;
    case TL_E_STR:
        puts_(s, "\"");
        for (size_t i = 0; i < e->text_len; i++) {
            char c = e->text[i];
            if (c == '"' || c == '\\')
                puts_(s, "\\");
            put(s, &c, 1);
        }
        puts_(s, "\"");
        break;
    case TL_E_NUM:
        snprintf(tmp, sizeof tmp, "%.17g", e->num);
        puts_(s, tmp);
        break;
    case TL_E_BOOL:
        puts_(s, e->num != 0 ? "true" : "false");
        break;
    case TL_E_LIST: case TL_E_CALL:
        if (e->kind == TL_E_CALL)
            put(s, e->text, e->text_len);
        puts_(s, e->kind == TL_E_CALL ? "(" : "[");
        for (size_t i = 0; i < e->nargs; i++) {
            if (i)
                puts_(s, ", ");
            canon(s, e->args[i]);
        }
        puts_(s, e->kind == TL_E_CALL ? ")" : "]");
        break;
    }
}

size_t tl_expr_canon(const tl_expr *e, char *buf, size_t cap)
{
    sbuf s = {buf, cap, 0};
    canon(&s, e);
    if (cap)
        buf[s.len < cap ? s.len : cap - 1] = '\0';
    return s.len;
}
