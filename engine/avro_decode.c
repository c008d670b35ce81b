/* engine/avro_decode.c - Avro trace events decoded by a compiled program (see avro_decode.h).
 *
 * Why: avro-c's generic reader builds a value tree, copies every string and resolves unions
 * through vtables; for a ~100-byte trace event that costs more than the rest of the per-event
 * path. The writer schema is known per message (built-in, or looked up by Confluent schema
 * id), so it is compiled once into:
 *  - steps: one per top-level field of the writer's record, in wire order. A known field's
 *    step says how to read it (its union shape, its wire type) and where to store it in the
 *    tl_event; an unknown field's step says "skip node N".
 *  - nodes: a flat tree of the writer's types used only for skipping (every Avro type), with
 *    record/union children listed in `kids`. Named types are compiled once, so recursive
 *    schemas (a record that refers to itself through a union or an array) become cycles in
 *    the node graph, and skipping them is bounded by TL_AVRO_MAX_DEPTH.
 * Decoding is one forward pass over the bytes; strings become views into the message.
 *
 * Invariants of the decode pass (the fuzz target checks them):
 *  - it never reads outside [buf, buf+len): every length is checked against the remaining
 *    bytes before it is used, varints stop after 10 bytes;
 *  - work is linear in the message size (times the schema size): an array/map block count
 *    is checked against the remaining bytes before looping, unless the items encode to zero
 *    bytes (null, fixed(0), records of such), in which case nothing is looped at all;
 *  - it allocates nothing and calls nothing that locks.
 * Error codes: a length or count that could not fit even the whole message is bad_length,
 * one that runs past the end of this message is truncated (so any cut of a valid record is
 * one of the two); a varint longer than 10 bytes is bad_varint; a union index outside the
 * union is bad_union; an enum index outside the symbols is bad_type; nesting deeper than
 * TL_AVRO_MAX_DEPTH is too_deep. The error offset is where the bad item starts.
 *
 * Speed (bench/bench_decode_avro.c, -O2): about 50 ns for a 196-byte fleet event with 13
 * populated fields, ~24x avro-c's generic reader. The cursor lives in registers, and the
 * common [null, string] field loads its branch byte and length byte together (OP_USTR), so
 * each field costs about one dependent load.
 *
 * The only logical types that matter are the timestamp's (millis, micros, nanos). avro-c 1.11
 * drops `logicalType` when it parses a schema, so a tiny JSON scan of the schema text finds
 * it; avro-c still does the real schema parsing and validation.
 *
 * Threading: a compiled program is immutable after tl_avro_prog_new(); any number of threads
 * may decode with it at once. Ownership: the program owns its node/step arrays and the
 * enum symbol strings that decoded events may point to, so events decoded from an
 * enum-typed field stay valid only as long as the program does.
 */
#include <avro.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "avro_decode.h"
#include "timefmt.h"

#define TL_AVRO_MAX_DEPTH 64     /* nesting of skipped records/arrays/maps/unions in data */
#define TL_AVRO_MAX_SCHEMA_DEPTH 256 /* nesting of types in the schema text */

enum node_kind {
    N_NULL, N_BOOL, N_INT, N_LONG, N_FLOAT, N_DOUBLE, N_BYTES, N_STRING,
    N_RECORD, N_ENUM, N_ARRAY, N_MAP, N_UNION, N_FIXED
};

struct node {
    uint8_t kind; /* enum node_kind */
    uint8_t zero; /* always encodes to zero bytes: null, fixed(0), records of only such */
    uint32_t a;   /* record/union: first index in kids; array/map: item node */
    uint32_t n;   /* record/union: number of kids; enum: symbol count; fixed: size */
};

/* Step operations. The two timestamp ops come first (see is_ts_op). */
enum step_op {
    OP_TS_LONG,    /* zig-zag long/int; arg = divisor to milliseconds (1, 1000, 1000000) */
    OP_TS_STRING,  /* RFC 3339 text */
    OP_STR,        /* string -> ev->str[target] */
    OP_USTR,       /* the same in a 2-branch union: the hot case, with its own fast path */
    OP_STR_ENUM,   /* enum -> symbol text; arg = first symbol in syms, n = symbol count */
    OP_NUM_LONG,   /* int or long -> ev->num[target] */
    OP_NUM_FLOAT,
    OP_NUM_DOUBLE,
    OP_FLAGS,      /* array<string> */
    OP_ATTRS,      /* map<string> */
    OP_SKIP        /* arg = node to skip */
};

struct step {
    uint8_t op;     /* enum step_op */
    uint8_t target; /* tl_str_field / tl_num_field index */
    uint8_t nbr;    /* 0: the field is not a union; else the union's branch count (1 or 2) */
    uint8_t vbr;    /* union branch that carries the value; the other one is null */
    uint32_t arg;
    uint32_t n;
    char *name;     /* field name, for error details */
};

struct tl_avro_prog {
    struct step *steps;
    uint32_t n_steps;
    struct node *nodes;
    uint32_t n_nodes, cap_nodes;
    uint32_t *kids;
    uint32_t n_kids, cap_kids;
    tl_str *syms; /* enum symbols of known string fields; each .p is owned (tl_strndup) */
    uint32_t n_syms, cap_syms;
};

static int is_ts_op(uint8_t op) { return op <= OP_TS_STRING; }

/* ---------------------------------------------------------------------------------------
 * Compile
 * ------------------------------------------------------------------------------------- */

/* Compile-time context: the program being built, the named types seen so far (so a link
 * to a named type reuses its node), and the first error message. */
struct named {
    avro_schema_t schema;
    uint32_t node;
};

struct comp {
    tl_avro_prog *p;
    struct named *named;
    uint32_t n_named, cap_named;
    char *errbuf;
    size_t errcap;
    int failed;
};

__attribute__((format(printf, 2, 3))) static void comp_error(struct comp *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = 1;
    if (c->errbuf && c->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->errbuf, c->errcap, fmt, ap);
        va_end(ap);
    }
}

/* Grow *arr (element size `sz`) so that it holds at least `need` elements. */
static int grow(void **arr, uint32_t *cap, uint32_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    uint32_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *np = tl_realloc(*arr, (size_t)ncap * sz);
    if (!np)
        return -1;
    *arr = np;
    *cap = ncap;
    return 0;
}

static int64_t new_node(struct comp *c, uint8_t kind)
{
    tl_avro_prog *p = c->p;
    if (grow((void **)&p->nodes, &p->cap_nodes, p->n_nodes + 1, sizeof *p->nodes)) {
        comp_error(c, "out of memory");
        return -1;
    }
    p->nodes[p->n_nodes] = (struct node){.kind = kind};
    return p->n_nodes++;
}

/* Reserve `n` consecutive kid slots; returns the first index or -1. */
static int64_t new_kids(struct comp *c, uint32_t n)
{
    tl_avro_prog *p = c->p;
    if (grow((void **)&p->kids, &p->cap_kids, p->n_kids + n, sizeof *p->kids)) {
        comp_error(c, "out of memory");
        return -1;
    }
    uint32_t first = p->n_kids;
    p->n_kids += n;
    return first;
}

static int64_t find_named(const struct comp *c, avro_schema_t s)
{
    for (uint32_t i = 0; i < c->n_named; i++)
        if (c->named[i].schema == s)
            return c->named[i].node;
    return -1;
}

static int add_named(struct comp *c, avro_schema_t s, uint32_t node)
{
    if (grow((void **)&c->named, &c->cap_named, c->n_named + 1, sizeof *c->named)) {
        comp_error(c, "out of memory");
        return -1;
    }
    c->named[c->n_named++] = (struct named){s, node};
    return 0;
}

static avro_schema_t resolve_link(avro_schema_t s)
{
    while (s && is_avro_link(s))
        s = avro_schema_link_target(s);
    return s;
}

/* Compile any type into a skip node; returns the node index or -1. */
static int64_t compile_node(struct comp *c, avro_schema_t s, int depth)
{
    s = resolve_link(s);
    if (!s) {
        comp_error(c, "unresolved named type");
        return -1;
    }
    if (depth > TL_AVRO_MAX_SCHEMA_DEPTH) {
        comp_error(c, "schema nested deeper than %d", TL_AVRO_MAX_SCHEMA_DEPTH);
        return -1;
    }
    int64_t done = find_named(c, s);
    if (done >= 0)
        return done;

    int64_t ni;
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        ni = new_node(c, N_NULL);
        if (ni >= 0)
            c->p->nodes[ni].zero = 1;
        return ni;
    case AVRO_BOOLEAN: return new_node(c, N_BOOL);
    case AVRO_INT32: return new_node(c, N_INT);
    case AVRO_INT64: return new_node(c, N_LONG);
    case AVRO_FLOAT: return new_node(c, N_FLOAT);
    case AVRO_DOUBLE: return new_node(c, N_DOUBLE);
    case AVRO_BYTES: return new_node(c, N_BYTES);
    case AVRO_STRING: return new_node(c, N_STRING);
    case AVRO_ENUM: {
        ni = new_node(c, N_ENUM);
        if (ni < 0 || add_named(c, s, (uint32_t)ni))
            return -1;
        int n = avro_schema_enum_number_of_symbols(s);
        c->p->nodes[ni].n = n > 0 ? (uint32_t)n : 0;
        return ni;
    }
    case AVRO_FIXED: {
        int64_t size = avro_schema_fixed_size(s);
        if (size < 0 || size > INT32_MAX) {
            comp_error(c, "fixed size %lld out of range", (long long)size);
            return -1;
        }
        ni = new_node(c, N_FIXED);
        if (ni < 0 || add_named(c, s, (uint32_t)ni))
            return -1;
        c->p->nodes[ni].n = (uint32_t)size;
        c->p->nodes[ni].zero = size == 0;
        return ni;
    }
    case AVRO_ARRAY:
    case AVRO_MAP: {
        int is_map = is_avro_map(s);
        ni = new_node(c, is_map ? N_MAP : N_ARRAY);
        if (ni < 0)
            return -1;
        int64_t item = compile_node(c, is_map ? avro_schema_map_values(s) : avro_schema_array_items(s),
                                    depth + 1);
        if (item < 0)
            return -1;
        c->p->nodes[ni].a = (uint32_t)item;
        return ni;
    }
    case AVRO_RECORD:
    case AVRO_UNION: {
        int is_rec = is_avro_record(s);
        size_t n = is_rec ? avro_schema_record_size(s) : avro_schema_union_size(s);
        if (!is_rec && n == 0) {
            comp_error(c, "empty union");
            return -1;
        }
        ni = new_node(c, is_rec ? N_RECORD : N_UNION);
        if (ni < 0 || (is_rec && add_named(c, s, (uint32_t)ni)))
            return -1;
        int64_t first = new_kids(c, (uint32_t)n);
        if (first < 0)
            return -1;
        c->p->nodes[ni].a = (uint32_t)first;
        c->p->nodes[ni].n = (uint32_t)n;
        int zero = is_rec;
        for (size_t i = 0; i < n; i++) {
            avro_schema_t sub = is_rec ? avro_schema_record_field_get_by_index(s, (int)i)
                                       : avro_schema_union_branch(s, (int)i);
            int64_t k = compile_node(c, sub, depth + 1);
            if (k < 0)
                return -1;
            c->p->kids[first + i] = (uint32_t)k;
            zero = zero && c->p->nodes[k].zero;
        }
        c->p->nodes[ni].zero = (uint8_t)zero;
        return ni;
    }
    default:
        comp_error(c, "unsupported Avro type '%s'", avro_schema_type_name(s));
        return -1;
    }
}

/* --- A minimal JSON walker, only to find the timestamp's logicalType (see file comment).
 * The text was already validated by avro-c, so any surprise just means "no logical type". */
struct js {
    const char *p, *e;
};

static void js_ws(struct js *j)
{
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int js_take(struct js *j, char ch)
{
    js_ws(j);
    if (j->p < j->e && *j->p == ch) {
        j->p++;
        return 1;
    }
    return 0;
}

static int js_peek(struct js *j, char ch)
{
    js_ws(j);
    return j->p < j->e && *j->p == ch;
}

/* A string's raw content (escapes are left as they are). */
static int js_str(struct js *j, const char **s, size_t *n)
{
    if (!js_take(j, '"'))
        return -1;
    const char *start = j->p;
    while (j->p < j->e && *j->p != '"')
        j->p += (*j->p == '\\') ? 2 : 1;
    if (j->p >= j->e)
        return -1;
    *s = start;
    *n = (size_t)(j->p - start);
    j->p++;
    return 0;
}

static int js_skip(struct js *j, int depth)
{
    const char *s;
    size_t n;
    js_ws(j);
    if (j->p >= j->e || depth > TL_AVRO_MAX_SCHEMA_DEPTH)
        return -1;
    char open = *j->p;
    if (open == '"')
        return js_str(j, &s, &n);
    if (open == '{' || open == '[') {
        char close = open == '{' ? '}' : ']';
        j->p++;
        if (js_take(j, close))
            return 0;
        for (;;) {
            if (open == '{' && (js_str(j, &s, &n) || !js_take(j, ':')))
                return -1;
            if (js_skip(j, depth + 1))
                return -1;
            if (js_take(j, ','))
                continue;
            return js_take(j, close) ? 0 : -1;
        }
    }
    const char *start = j->p;
    while (j->p < j->e && !strchr(",]}: \t\r\n", *j->p))
        j->p++;
    return j->p > start ? 0 : -1;
}

static int js_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* Divisor to milliseconds for a type given as JSON: an object with a logicalType, or a
 * union array whose object branches may have one. */
static uint32_t js_ts_divisor(struct js *j, int depth)
{
    const char *s;
    size_t n;
    uint32_t div = 1;
    if (depth > 2)
        return 1;
    if (js_take(j, '[')) {
        if (js_take(j, ']'))
            return 1;
        do {
            if (js_peek(j, '{')) {
                uint32_t d = js_ts_divisor(j, depth + 1);
                if (d != 1)
                    div = d;
            } else if (js_skip(j, depth)) {
                return div;
            }
        } while (js_take(j, ','));
        return div;
    }
    if (!js_take(j, '{'))
        return 1;
    if (js_take(j, '}'))
        return 1;
    do {
        if (js_str(j, &s, &n) || !js_take(j, ':'))
            return div;
        if (js_is(s, n, "logicalType")) {
            const char *v;
            size_t vn;
            if (js_str(j, &v, &vn))
                return div;
            if (js_is(v, vn, "timestamp-micros") || js_is(v, vn, "local-timestamp-micros"))
                div = 1000;
            else if (js_is(v, vn, "timestamp-nanos") || js_is(v, vn, "local-timestamp-nanos"))
                div = 1000000;
        } else if (js_skip(j, depth)) {
            return div;
        }
    } while (js_take(j, ','));
    js_take(j, '}');
    return div;
}

/* Find the top-level field named `field` and return its timestamp divisor (1 if none). */
static uint32_t schema_ts_divisor(const char *json, size_t len, const char *field)
{
    struct js j = {json, json + len};
    const char *s;
    size_t n;
    if (!js_take(&j, '{') || js_take(&j, '}'))
        return 1;
    do {
        if (js_str(&j, &s, &n) || !js_take(&j, ':'))
            return 1;
        if (!js_is(s, n, "fields") || !js_take(&j, '[')) {
            if (js_skip(&j, 0))
                return 1;
            continue;
        }
        if (js_take(&j, ']'))
            continue;
        do {
            if (!js_take(&j, '{'))
                return 1;
            int is_field = 0;
            struct js type = {NULL, NULL};
            if (!js_take(&j, '}')) {
                do {
                    if (js_str(&j, &s, &n) || !js_take(&j, ':'))
                        return 1;
                    if (js_is(s, n, "name") && js_peek(&j, '"')) {
                        const char *v;
                        size_t vn;
                        if (js_str(&j, &v, &vn))
                            return 1;
                        is_field = js_is(v, vn, field);
                    } else {
                        js_ws(&j);
                        const char *start = j.p;
                        if (js_skip(&j, 1))
                            return 1;
                        if (js_is(s, n, "type"))
                            type = (struct js){start, j.p};
                    }
                } while (js_take(&j, ','));
                if (!js_take(&j, '}'))
                    return 1;
            }
            if (is_field && type.p)
                return js_ts_divisor(&type, 0);
        } while (js_take(&j, ','));
        if (!js_take(&j, ']'))
            return 1;
    } while (js_take(&j, ','));
    return 1;
}

static const char *type_name(avro_schema_t s) { return s ? avro_schema_type_name(s) : "?"; }

/* Append the enum's symbols to the program's symbol table; returns the first index. */
static int64_t add_symbols(struct comp *c, avro_schema_t e)
{
    tl_avro_prog *p = c->p;
    int n = avro_schema_enum_number_of_symbols(e);
    if (n < 0)
        n = 0;
    if (grow((void **)&p->syms, &p->cap_syms, p->n_syms + (uint32_t)n, sizeof *p->syms)) {
        comp_error(c, "out of memory");
        return -1;
    }
    uint32_t first = p->n_syms;
    for (int i = 0; i < n; i++) {
        const char *sym = avro_schema_enum_get(e, i);
        size_t len = sym ? strlen(sym) : 0;
        char *copy = tl_strndup(sym ? sym : "", len);
        if (!copy) {
            comp_error(c, "out of memory");
            return -1;
        }
        p->syms[p->n_syms++] = tl_str_make(copy, len);
    }
    return first;
}

/* Fill *st for a top-level field. Returns 0, or -1 after comp_error(). */
static int compile_field(struct comp *c, struct step *st, const char *name, avro_schema_t ft,
                         uint32_t ts_div)
{
    int si = tl_str_field_lookup(name, strlen(name));
    int ni = tl_num_field_lookup(name, strlen(name));
    int is_ts = strcmp(name, "timestamp") == 0;
    int is_flags = strcmp(name, "flags") == 0;
    int is_attrs = strcmp(name, "attributes") == 0;

    if (si < 0 && ni < 0 && !is_ts && !is_flags && !is_attrs) {
        int64_t node = compile_node(c, ft, 0);
        if (node < 0)
            return -1;
        st->op = OP_SKIP;
        st->arg = (uint32_t)node;
        return 0;
    }

    /* Peel a union of null and one other type (in either order), or a 1-branch union. */
    avro_schema_t t = resolve_link(ft);
    if (t && is_avro_union(t)) {
        size_t nb = avro_schema_union_size(t);
        avro_schema_t b0 = resolve_link(avro_schema_union_branch(t, 0));
        avro_schema_t b1 = nb > 1 ? resolve_link(avro_schema_union_branch(t, 1)) : NULL;
        if (nb == 1) {
            st->nbr = 1;
            st->vbr = 0;
            t = b0;
        } else if (nb == 2 && b0 && b1 && is_avro_null(b0) != is_avro_null(b1)) {
            st->nbr = 2;
            st->vbr = is_avro_null(b0) ? 1 : 0;
            t = st->vbr ? b1 : b0;
        } else {
            comp_error(c, "field '%s': a union is accepted only of null and one other type",
                       name);
            return -1;
        }
    }
    if (!t) {
        comp_error(c, "field '%s': unresolved type", name);
        return -1;
    }
    if (is_avro_null(t)) {
        if (is_ts) {
            comp_error(c, "field 'timestamp': type null is not accepted");
            return -1;
        }
        /* Always null: the field is always absent. */
        int64_t node = compile_node(c, ft, 0);
        if (node < 0)
            return -1;
        st->op = OP_SKIP;
        st->nbr = 0;
        st->arg = (uint32_t)node;
        return 0;
    }

    if (is_ts) {
        if (is_avro_int32(t) || is_avro_int64(t)) {
            st->op = OP_TS_LONG;
            st->arg = ts_div;
        } else if (is_avro_string(t)) {
            st->op = OP_TS_STRING;
        } else {
            comp_error(c, "field 'timestamp': type %s is not accepted (expected long, int or "
                          "string)", type_name(t));
            return -1;
        }
    } else if (si >= 0) {
        st->target = (uint8_t)si;
        if (is_avro_string(t)) {
            st->op = st->nbr == 2 ? OP_USTR : OP_STR;
        } else if (is_avro_enum(t)) {
            int64_t first = add_symbols(c, t);
            if (first < 0)
                return -1;
            st->op = OP_STR_ENUM;
            st->arg = (uint32_t)first;
            st->n = c->p->n_syms - (uint32_t)first;
        } else {
            comp_error(c, "field '%s': type %s is not accepted (expected string or enum)", name,
                       type_name(t));
            return -1;
        }
    } else if (ni >= 0) {
        st->target = (uint8_t)ni;
        if (is_avro_int32(t) || is_avro_int64(t)) {
            st->op = OP_NUM_LONG;
        } else if (is_avro_float(t)) {
            st->op = OP_NUM_FLOAT;
        } else if (is_avro_double(t)) {
            st->op = OP_NUM_DOUBLE;
        } else {
            comp_error(c, "field '%s': type %s is not accepted (expected int, long, float or "
                          "double)", name, type_name(t));
            return -1;
        }
    } else if (is_flags) {
        avro_schema_t it = is_avro_array(t) ? resolve_link(avro_schema_array_items(t)) : NULL;
        if (!it || !is_avro_string(it)) {
            comp_error(c, "field 'flags': type %s is not accepted (expected array of string)",
                       type_name(t));
            return -1;
        }
        st->op = OP_FLAGS;
    } else {
        avro_schema_t vt = is_avro_map(t) ? resolve_link(avro_schema_map_values(t)) : NULL;
        if (!vt || !is_avro_string(vt)) {
            comp_error(c, "field 'attributes': type %s is not accepted (expected map of "
                          "string)", type_name(t));
            return -1;
        }
        st->op = OP_ATTRS;
    }
    return 0;
}

tl_avro_prog *tl_avro_prog_new(const char *schema_json, size_t len, char *errbuf, size_t errcap)
{
    struct comp c = {.errbuf = errbuf, .errcap = errcap};
    avro_schema_t schema = NULL;
    tl_avro_prog *p = NULL;
    size_t nf;
    int64_t top, first;
    int have_ts = 0;

    if (errbuf && errcap)
        errbuf[0] = '\0';
    if (!schema_json || avro_schema_from_json_length(schema_json, len, &schema) != 0) {
        comp_error(&c, "invalid schema: %s", schema_json ? avro_strerror() : "no text");
        schema = NULL;
        goto out;
    }
    if (!is_avro_record(schema)) {
        comp_error(&c, "schema is a %s, not a record", avro_schema_type_name(schema));
        goto out;
    }
    p = tl_calloc(1, sizeof *p);
    if (!p) {
        comp_error(&c, "out of memory");
        goto out;
    }
    c.p = p;
    nf = avro_schema_record_size(schema);
    p->steps = tl_calloc(nf ? nf : 1, sizeof *p->steps);
    if (!p->steps) {
        comp_error(&c, "out of memory");
        goto out;
    }
    /* The top record itself may be referred to by a nested field (recursive schema). */
    top = new_node(&c, N_RECORD);
    if (top < 0 || add_named(&c, schema, (uint32_t)top))
        goto out;

    uint32_t ts_div = schema_ts_divisor(schema_json, len, "timestamp");
    for (size_t i = 0; i < nf; i++) {
        struct step *st = &p->steps[i];
        const char *name = avro_schema_record_field_name(schema, (int)i);
        avro_schema_t ft = avro_schema_record_field_get_by_index(schema, (int)i);
        if (!name || !ft) {
            comp_error(&c, "field %zu: cannot read the schema", i);
            goto out;
        }
        st->name = tl_strdup(name);
        if (!st->name) {
            comp_error(&c, "out of memory");
            goto out;
        }
        p->n_steps++;
        if (compile_field(&c, st, name, ft, ts_div))
            goto out;
        have_ts |= is_ts_op(st->op) && strcmp(name, "timestamp") == 0;
    }
    if (!have_ts) {
        comp_error(&c, "record %s has no 'timestamp' field", avro_schema_name(schema));
        goto out;
    }
    /* Complete the top node (only reached when a nested field refers back to it). */
    first = new_kids(&c, (uint32_t)nf);
    if (first < 0)
        goto out;
    p->nodes[top].a = (uint32_t)first;
    p->nodes[top].n = (uint32_t)nf;
    for (size_t i = 0; i < nf; i++) {
        int64_t k = compile_node(&c, avro_schema_record_field_get_by_index(schema, (int)i), 1);
        if (k < 0)
            goto out;
        p->kids[first + i] = (uint32_t)k;
    }

out:
    tl_free(c.named);
    if (schema)
        avro_schema_decref(schema);
    if (c.failed) {
        tl_avro_prog_destroy(p);
        return NULL;
    }
    return p;
}

void tl_avro_prog_destroy(tl_avro_prog *p)
{
    if (!p)
        return;
    if (p->steps)
        for (uint32_t i = 0; i < p->n_steps; i++)
            tl_free(p->steps[i].name);
    for (uint32_t i = 0; i < p->n_syms; i++)
        tl_free((void *)p->syms[i].p);
    tl_free(p->steps);
    tl_free(p->nodes);
    tl_free(p->kids);
    tl_free(p->syms);
    tl_free(p);
}

/* ---------------------------------------------------------------------------------------
 * Decode
 *
 * Style: the cursor `s` and the end `e` are passed and returned by value so they stay in
 * registers; every helper returns the advanced cursor, or NULL after recording in *d what
 * went wrong and where (`at`: start of the bad item). `base` is the message start, used only
 * to tell a length that cannot fit the whole message (bad_length) from one that runs past
 * this truncated copy (truncated).
 * ------------------------------------------------------------------------------------- */

struct derr {
    tl_decode_code code;
    const uint8_t *at;
};

static const uint8_t *fail_at(struct derr *d, tl_decode_code code, const uint8_t *at)
{
    d->code = code;
    d->at = at;
    return NULL;
}

static inline int64_t unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

__attribute__((noinline)) static const uint8_t *rd_long_slow(const uint8_t *s, const uint8_t *e,
                                                             int64_t *out, struct derr *d)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* Varints of 2 to 8 bytes (millisecond timestamps take 6) with 8 bytes left to read: find
     * the last byte in one word and gather its 7-bit groups in three steps (pairs, quads, all
     * eight) instead of a loop with a branch per byte. Nothing of 8 bytes or fewer can be
     * overlong, so the checks below are only needed for 9 and 10 bytes. */
    if (e - s >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        uint64_t stop = ~w & 0x8080808080808080ull;
        if (stop) {
            unsigned n = (unsigned)__builtin_ctzll(stop) / 8 + 1;
            uint64_t x = (n == 8 ? w : w & ((1ull << (8 * n)) - 1)) & 0x7f7f7f7f7f7f7f7full;
            x = ((x & 0x7f007f007f007f00ull) >> 1) | (x & 0x007f007f007f007full);
            x = ((x & 0x3fff00003fff0000ull) >> 2) | (x & 0x00003fff00003fffull);
            x = ((x & 0x0fffffff00000000ull) >> 4) | (x & 0x000000000fffffffull);
            *out = unzigzag(x);
            return s + n;
        }
    }
#endif
    uint64_t u = 0;
    for (int i = 0; i < 10; i++) {
        if (s + i >= e)
            return fail_at(d, TL_DECODE_TRUNCATED, s);
        uint8_t b = s[i];
        if (i == 9 && b > 1) /* the 10th byte holds bit 63 only: anything more is overlong */
            return fail_at(d, TL_DECODE_BAD_VARINT, s);
        u |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = unzigzag(u);
            return s + i + 1;
        }
    }
    return fail_at(d, TL_DECODE_BAD_VARINT, s);
}

static inline const uint8_t *rd_long(const uint8_t *s, const uint8_t *e, int64_t *out,
                                     struct derr *d)
{
    if (__builtin_expect(s < e && *s < 0x80, 1)) {
        *out = unzigzag(*s);
        return s + 1;
    }
    return rd_long_slow(s, e, out, d);
}

/* A length, or a count of items of at least one byte each, that must fit what is left. */
static inline const uint8_t *rd_len(const uint8_t *s, const uint8_t *e, const uint8_t *base,
                                    size_t *out, struct derr *d)
{
    const uint8_t *at = s;
    int64_t v;
    if (!(s = rd_long(s, e, &v, d)))
        return NULL;
    if (__builtin_expect((uint64_t)v > (uint64_t)(e - s), 0)) {
        if (v < 0 || (uint64_t)v > (uint64_t)(e - base))
            return fail_at(d, TL_DECODE_BAD_LENGTH, at);
        return fail_at(d, TL_DECODE_TRUNCATED, at);
    }
    *out = (size_t)v;
    return s;
}

static inline const uint8_t *rd_str(const uint8_t *s, const uint8_t *e, const uint8_t *base,
                                    tl_str *out, struct derr *d)
{
    size_t n;
    if (!(s = rd_len(s, e, base, &n, d)))
        return NULL;
    out->p = (const char *)s;
    out->n = (uint32_t)n;
    return s + n;
}

static inline const uint8_t *rd_skip(const uint8_t *s, const uint8_t *e, size_t n,
                                     struct derr *d)
{
    if ((size_t)(e - s) < n)
        return fail_at(d, TL_DECODE_TRUNCATED, s);
    return s + n;
}

static inline double ld_float(const uint8_t *s)
{
    uint32_t u;
    float f;
    memcpy(&u, s, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap32(u);
#endif
    memcpy(&f, &u, 4);
    return (double)f;
}

static inline double ld_double(const uint8_t *s)
{
    uint64_t u;
    double f;
    memcpy(&u, s, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap64(u);
#endif
    memcpy(&f, &u, 8);
    return f;
}

/* An array/map block header: *count items follow (0 ends the sequence). A negative count
 * is followed by the block's size in bytes, returned in *bytes (else *bytes = -1). */
static inline const uint8_t *rd_block(const uint8_t *s, const uint8_t *e, const uint8_t *base,
                                      uint64_t *count, int64_t *bytes, struct derr *d)
{
    const uint8_t *at = s;
    int64_t c;
    if (!(s = rd_long(s, e, &c, d)))
        return NULL;
    *bytes = -1;
    if (c < 0) {
        if (c == INT64_MIN)
            return fail_at(d, TL_DECODE_BAD_LENGTH, at);
        c = -c;
        size_t size;
        if (!(s = rd_len(s, e, base, &size, d)))
            return NULL;
        *bytes = (int64_t)size;
    }
    *count = (uint64_t)c;
    return s;
}

static const uint8_t *skip_node(const tl_avro_prog *p, uint32_t ni, const uint8_t *s,
                                const uint8_t *e, const uint8_t *base, int depth,
                                struct derr *d)
{
    const struct node *nd = &p->nodes[ni];
    const uint8_t *at = s;
    int64_t v;
    size_t n;

    switch ((enum node_kind)nd->kind) {
    case N_NULL:
        return s;
    case N_BOOL:
        return rd_skip(s, e, 1, d);
    case N_INT:
    case N_LONG:
        return rd_long(s, e, &v, d);
    case N_ENUM:
        if (!(s = rd_long(s, e, &v, d)))
            return NULL;
        if (v < 0 || (uint64_t)v >= nd->n)
            return fail_at(d, TL_DECODE_BAD_TYPE, at);
        return s;
    case N_FLOAT:
        return rd_skip(s, e, 4, d);
    case N_DOUBLE:
        return rd_skip(s, e, 8, d);
    case N_BYTES:
    case N_STRING:
        if (!(s = rd_len(s, e, base, &n, d)))
            return NULL;
        return s + n;
    case N_FIXED:
        return rd_skip(s, e, nd->n, d);
    case N_RECORD:
    case N_UNION:
    case N_ARRAY:
    case N_MAP:
        break;
    }

    if (depth >= TL_AVRO_MAX_DEPTH)
        return fail_at(d, TL_DECODE_TOO_DEEP, s);
    if (nd->kind == N_RECORD) {
        for (uint32_t i = 0; i < nd->n && s; i++)
            s = skip_node(p, p->kids[nd->a + i], s, e, base, depth + 1, d);
        return s;
    }
    if (nd->kind == N_UNION) {
        if (!(s = rd_long(s, e, &v, d)))
            return NULL;
        if (v < 0 || (uint64_t)v >= nd->n)
            return fail_at(d, TL_DECODE_BAD_UNION, at);
        return skip_node(p, p->kids[nd->a + (uint32_t)v], s, e, base, depth + 1, d);
    }

    /* Array or map: a sequence of blocks ending with a zero count. */
    int is_map = nd->kind == N_MAP;
    int item_zero = p->nodes[nd->a].zero;
    for (;;) {
        uint64_t count;
        int64_t bytes;
        at = s;
        if (!(s = rd_block(s, e, base, &count, &bytes, d)))
            return NULL;
        if (count == 0)
            return s;
        if (bytes >= 0) { /* the writer gave the block's size: jump over it */
            s += bytes;
            continue;
        }
        if (!is_map && item_zero)
            continue; /* zero-byte items: nothing to read, nothing to loop over */
        if (count > (uint64_t)(e - s))
            return fail_at(d, count > (uint64_t)(e - base) ? TL_DECODE_BAD_LENGTH
                                                           : TL_DECODE_TRUNCATED, at);
        for (uint64_t i = 0; i < count; i++) {
            if (is_map) { /* the key */
                if (!(s = rd_len(s, e, base, &n, d)))
                    return NULL;
                s += n;
            }
            if (!(s = skip_node(p, nd->a, s, e, base, depth + 1, d)))
                return NULL;
        }
    }
}

static const uint8_t *rd_flags(const uint8_t *s, const uint8_t *e, const uint8_t *base,
                               tl_event *ev, struct derr *d)
{
    uint32_t nf = 0;
    for (;;) {
        const uint8_t *at = s;
        uint64_t count;
        int64_t bytes;
        if (!(s = rd_block(s, e, base, &count, &bytes, d)))
            return NULL;
        if (count == 0)
            break;
        if (count > TL_EVENT_MAX_FLAGS - nf)
            return fail_at(d, TL_DECODE_TOO_MANY_FLAGS, at);
        for (uint64_t i = 0; i < count; i++)
            if (!(s = rd_str(s, e, base, &ev->flags[nf++], d)))
                return NULL;
    }
    ev->n_flags = nf;
    return s;
}

static const uint8_t *rd_attrs(const uint8_t *s, const uint8_t *e, const uint8_t *base,
                               tl_event *ev, struct derr *d)
{
    uint32_t na = 0;
    for (;;) {
        const uint8_t *at = s;
        uint64_t count;
        int64_t bytes;
        if (!(s = rd_block(s, e, base, &count, &bytes, d)))
            return NULL;
        if (count == 0)
            break;
        if (count > TL_EVENT_MAX_ATTRS - na)
            return fail_at(d, TL_DECODE_TOO_MANY_ATTRS, at);
        for (uint64_t i = 0; i < count; i++, na++)
            if (!(s = rd_str(s, e, base, &ev->attr_key[na], d)) ||
                !(s = rd_str(s, e, base, &ev->attr_val[na], d)))
                return NULL;
    }
    ev->n_attrs = na;
    return s;
}

static inline int64_t floor_div(int64_t v, int64_t div)
{
    int64_t q = v / div;
    return (v % div < 0) ? q - 1 : q;
}

int tl_avro_decode(const tl_avro_prog *p, const uint8_t *buf, size_t len, tl_event *ev,
                   tl_decode_err *err)
{
    const uint8_t *s = buf, *e = buf + len;
    const struct step *st = p->steps, *end = p->steps + p->n_steps;
    uint32_t str_present = 0, num_present = 0;
    struct derr d = {TL_DECODE_OK, buf};
    int64_t v;

    ev->n_flags = 0;
    ev->n_attrs = 0;
    for (; st < end; st++) {
        const uint8_t *at = s;
        if (st->op == OP_USTR && e - s >= 2) {
            /* Fast path for [null, string] with a short string: the branch byte and the
             * length byte are loaded together, so each field costs one dependent load. */
            unsigned b0 = s[0], b1 = s[1];
            if (b0 == 2u * st->vbr && b1 < 0x80 && !(b1 & 1) && (b1 >> 1) <= (size_t)(e - s - 2)) {
                ev->str[st->target] = tl_str_make((const char *)s + 2, b1 >> 1);
                str_present |= 1u << st->target;
                s += 2 + (b1 >> 1);
                continue;
            }
            if (b0 == 2u * (1u - st->vbr)) {
                s++;
                continue;
            }
        }
        if (st->nbr) {
            /* Branch indices 0 and 1 are the single bytes 0x00 and 0x02. */
            if (__builtin_expect(s < e && *s <= 2 && !(*s & 1), 1)) {
                v = *s++ >> 1;
            } else if (!(s = rd_long(s, e, &v, &d))) {
                goto fail;
            }
            if ((uint64_t)v >= st->nbr) {
                fail_at(&d, TL_DECODE_BAD_UNION, at);
                goto fail;
            }
            if (v != st->vbr) { /* the null branch */
                if (is_ts_op(st->op)) {
                    fail_at(&d, TL_DECODE_MISSING_TIMESTAMP, at);
                    goto fail;
                }
                continue;
            }
            at = s;
        }
        switch ((enum step_op)st->op) {
        case OP_STR:
        case OP_USTR:
            if (!(s = rd_str(s, e, buf, &ev->str[st->target], &d)))
                goto fail;
            str_present |= 1u << st->target;
            break;
        case OP_NUM_DOUBLE:
            if (!(s = rd_skip(s, e, 8, &d)))
                goto fail;
            ev->num[st->target] = ld_double(s - 8);
            num_present |= 1u << st->target;
            break;
        case OP_NUM_LONG:
            if (!(s = rd_long(s, e, &v, &d)))
                goto fail;
            ev->num[st->target] = (double)v;
            num_present |= 1u << st->target;
            break;
        case OP_NUM_FLOAT:
            if (!(s = rd_skip(s, e, 4, &d)))
                goto fail;
            ev->num[st->target] = ld_float(s - 4);
            num_present |= 1u << st->target;
            break;
        case OP_TS_LONG:
            if (!(s = rd_long(s, e, &v, &d)))
                goto fail;
            ev->ts_ms = st->arg == 1 ? v : floor_div(v, st->arg);
            break;
        case OP_TS_STRING: {
            tl_str t;
            if (!(s = rd_str(s, e, buf, &t, &d)))
                goto fail;
            if (tl_time_parse_rfc3339(t.p, t.n, &ev->ts_ms)) {
                fail_at(&d, TL_DECODE_BAD_TIMESTAMP, at);
                goto fail;
            }
            break;
        }
        case OP_STR_ENUM:
            if (!(s = rd_long(s, e, &v, &d)))
                goto fail;
            if (v < 0 || (uint64_t)v >= st->n) {
                fail_at(&d, TL_DECODE_BAD_TYPE, at);
                goto fail;
            }
            ev->str[st->target] = p->syms[st->arg + (uint32_t)v];
            str_present |= 1u << st->target;
            break;
        case OP_FLAGS:
            if (!(s = rd_flags(s, e, buf, ev, &d)))
                goto fail;
            break;
        case OP_ATTRS:
            if (!(s = rd_attrs(s, e, buf, ev, &d)))
                goto fail;
            break;
        case OP_SKIP:
            if (!(s = skip_node(p, st->arg, s, e, buf, 0, &d)))
                goto fail;
            break;
        }
    }
    ev->str_present = str_present;
    ev->num_present = num_present;
    if (s != e)
        return tl_decode_fail(err, TL_DECODE_TRAILING, (size_t)(s - buf), "%zu bytes",
                              (size_t)(e - s));
    return 0;

fail:
    ev->str_present = str_present;
    ev->num_present = num_present;
    if (d.code == TL_DECODE_BAD_TYPE)
        return tl_decode_fail(err, d.code, (size_t)(d.at - buf),
                              "field '%s': enum index out of range", st->name);
    return tl_decode_fail(err, d.code, (size_t)(d.at - buf), "field '%s'", st->name);
}
