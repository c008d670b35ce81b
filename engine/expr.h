/* engine/expr.h - the expression language of rule files, parsed to a tree with positions.
 *
 * One grammar serves filters (`kind == "tool_call" and tool in ["a", "b"]`) and values
 * (`ratio(status != "ok")`, `sum(cost_usd) / count(status == "ok")`), so the language can
 * grow (issue: rule language) without a second parser. Precedence, loosest first:
 *   or (also ||)   and (also &&)   not (also !)
 *   comparison: == != < <= > >= in, not in, contains, startswith, endswith
 *   + -   * /   unary -   primary
 * Primaries: field paths (`tool`, `attributes.risk`, `attributes["gen_ai.system"]`),
 * strings ('..' or ".." with \-escapes), numbers with an optional unit suffix (`10%` = 0.1,
 * `250ms`, `15s`, `10m`, `2h`, `1d` as milliseconds, `1.5k` = 1500), true/false, lists
 * `[a, b]`, calls `name(args)`, and parentheses.
 *
 * Positions are byte offsets into the source string; the rule loader adds them to the YAML
 * scalar's column to report file:line:col. The parser only checks syntax; names and types
 * are checked by the compiler (compile.c).
 *
 * Ownership: a tree is owned by its root; tl_expr_free() frees it. Not on the per-event path.
 */
#ifndef TL_EXPR_H
#define TL_EXPR_H

#include <stddef.h>
#include <stdint.h>

typedef enum tl_expr_kind {
    TL_E_OR,
    TL_E_AND,
    TL_E_NOT,
    TL_E_CMP,      /* op: TL_OP_EQ.. */
    TL_E_IN,       /* a in list b */
    TL_E_NOT_IN,
    TL_E_CONTAINS, /* string contains, or flags contains */
    TL_E_STARTSWITH,
    TL_E_ENDSWITH,
    TL_E_MATCHES,  /* regular expression (regex.h) */
    TL_E_ARITH,    /* op: '+', '-', '*', '/' */
    TL_E_NEG,
    TL_E_FIELD,    /* text = path, e.g. "attributes.risk" */
    TL_E_STR,      /* text = unescaped string */
    TL_E_NUM,      /* num, unit_suffix */
    TL_E_BOOL,     /* num = 0 or 1 */
    TL_E_LIST,     /* args */
    TL_E_CALL      /* text = function name, args */
} tl_expr_kind;

typedef enum tl_cmp_op { TL_OP_EQ, TL_OP_NE, TL_OP_LT, TL_OP_LE, TL_OP_GT, TL_OP_GE } tl_cmp_op;

/* Unit suffix written after a number literal. */
typedef enum tl_num_suffix { TL_SUF_NONE, TL_SUF_PERCENT, TL_SUF_DURATION, TL_SUF_KILO } tl_num_suffix;

typedef struct tl_expr tl_expr;
struct tl_expr {
    tl_expr_kind kind;
    int op;              /* tl_cmp_op for CMP, the character for ARITH */
    uint32_t pos;        /* byte offset of the node's first character in the source */
    uint32_t end;        /* byte offset just past the node */
    tl_expr *a, *b;      /* operands */
    tl_expr **args;      /* LIST items, CALL arguments */
    size_t nargs;
    char *text;          /* FIELD path, STR value, CALL name (NUL-terminated) */
    size_t text_len;
    double num;          /* NUM value after applying the suffix; BOOL 0/1 */
    tl_num_suffix suffix;
};

/* Parse. On error returns NULL, writes a message to err and the byte offset to *err_pos. */
tl_expr *tl_expr_parse(const char *src, size_t n, char *err, size_t errcap, size_t *err_pos);
void tl_expr_free(tl_expr *e);

/* Canonical text of a tree (normalised spacing and quoting), used to recognise identical
 * filters and aggregates across rules. Returns length (truncated to cap, NUL-terminated). */
size_t tl_expr_canon(const tl_expr *e, char *buf, size_t cap);

const char *tl_cmp_op_text(tl_cmp_op op);

#endif
