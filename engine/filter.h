/* engine/filter.h - evaluate every distinct filter of the program against one event.
 *
 * Per event, each atom is evaluated at most once (memoised in a bitset) and each filter
 * once; the result is a bitset with one bit per filter that later stages test with
 * tl_filter_bit(). All storage is preallocated in tl_filter_ctx, so this is on the per-event
 * path with no allocation.
 *
 * Filters are compiled at start into branch programs: each atom test names the next test for
 * true and for false, and the ends are "true" and "false" (a filter tree with and/or/not
 * becomes one test per atom leaf, short-circuiting as written). Evaluating one is a loop, not
 * a recursive walk. The atoms `kind == "x"` for the kinds filters dispatch on are known as soon
 * as the event's kind is: each kind's memo starts from a copy with them filled in.
 *
 * Semantics: a missing string field reads as the empty string ("" == missing); a numeric
 * comparison on a missing field is false; `flags contains x` is a scan of the event's flags.
 * A numerator-only filter's bit is meaningful only where its plan's filter bit is set (it is
 * not evaluated, and reads 0, otherwise); every reader of such bits checks the plan first.
 * Threading: one context per worker thread; the program is shared read-only.
 */
#ifndef TL_FILTER_H
#define TL_FILTER_H

#include <stdint.h>

#include "program.h"
#include "regex.h"

/* Dispatch on the event's kind: almost every filter starts with `kind == "..."`, and an
 * event has one kind, so only the filters that can be true for that kind are walked. */
#define TL_FILTER_KINDS 16

/* One test of a branch program: evaluate atom, go to t if true, f if false (an index, or
 * TL_FP_TRUE / TL_FP_FALSE at the end). */
#define TL_FP_FALSE (-1)
#define TL_FP_TRUE (-2)
typedef struct tl_fp_op {
    uint32_t atom;
    int32_t t, f;
} tl_fp_op;

typedef struct tl_filter_ctx {
    const tl_program *prog;
    uint64_t *atom_done;  /* natoms bits */
    uint64_t *atom_val;
    uint64_t *bits;       /* nfilters bits: the result */
    uint32_t atom_words;
    tl_regex_scratch rx;  /* for `matches` */
    uint32_t nkinds;      /* kind values some filter requires (at most TL_FILTER_KINDS) */
    tl_str kinds[TL_FILTER_KINDS];
    uint32_t *lists;      /* per kind, then for any other kind: filter ids to walk */
    /* list k is lists[list_at[k] .. list_at[k+1]); its numerator-only filters come last, from
     * pred_at[k] */
    uint32_t list_at[TL_FILTER_KINDS + 2];
    uint32_t pred_at[TL_FILTER_KINDS + 1];
    /* Numerator-only filters (a ratio's or count's condition, used by no plan as its filter,
     * no sequence step, no combination rule) matter only when one of their plans' filters
     * matched: they are walked after the others, and only then. */
    uint8_t *pred_only;   /* per filter */
    /* branch programs: filter f starts at entry[f] (or is a constant: TL_FP_TRUE/FALSE) */
    struct tl_fp_op *ops;
    int32_t *entry;
    uint64_t *kind_done;  /* per kind list, atom_words words: the kind atoms already known */
    uint64_t *kind_val;
    uint64_t *gate_mask;  /* per filter, filter_words words: the filters of the plans that use
                             it as their numerator (its gates) */
} tl_filter_ctx;

int tl_filter_ctx_init(tl_filter_ctx *fc, const tl_program *prog); /* -1 on OOM */
void tl_filter_ctx_fini(tl_filter_ctx *fc);

/* Evaluate all filters for ev; result in fc->bits. */
void tl_filter_eval(tl_filter_ctx *fc, const tl_event *ev);

static inline int tl_filter_bit(const uint64_t *bits, uint32_t f) { return (int)((bits[f >> 6] >> (f & 63)) & 1); }

/* The string value of a field reference in ev ("" if missing). */
tl_str tl_fieldref_get(const tl_fieldref *ref, const tl_event *ev);
/* Numeric field value (TL_N_TOKENS summed); returns 0 if missing, else 1 and *out. */
int tl_event_num(const tl_event *ev, int field, double *out);

#endif
