/* engine/program.h - the compiled rule set: what every thread reads to process events.
 *
 * Rule files are compiled (rules.c) into one immutable tl_program, shared read-only by all
 * worker threads. The compilation shares work between rules, which is what keeps 1,000
 * rules cheap:
 *  - atoms: distinct elementary tests on an event (`kind == "tool_call"`, `flags contains
 *    "retry"`, `latency_ms > 100`), each evaluated at most once per event;
 *  - filters: distinct boolean combinations of atoms (a rule's filter, a ratio's numerator);
 *  - groups: distinct group-by label lists; each group has one series table per worker;
 *  - plans: distinct (group, filter, numerator or measured field, slot width) accumulators
 *    that keep window slots in each series of the group. Rules that differ only in
 *    threshold, window length or `for` share a plan.
 * A rule's value is a small expression tree whose leaves read plans over the rule's window.
 *
 * Layout of a series record (series.h): header, then each plan's state at plan->offset,
 * then one tl_inst per rule of the group at group->inst_offset, then the key bytes.
 */
#ifndef TL_PROGRAM_H
#define TL_PROGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "expr.h"
#include "template.h"
#include "tripline/event.h"
#include "units.h"

/* Pseudo numeric fields beyond the event's own: input_tokens + output_tokens (present if
 * either is), then the per-trace values of trace summary events (TL_T_*). */
#define TL_N_TOKENS TL_N__COUNT
#define TL_N_TRACE(t) (TL_N__COUNT + 1 + (t))
#define TL_NUM_FIELDS (TL_N__COUNT + 1 + TL_T__COUNT)
#define TL_MAX_DFIELDS 8

/* Where an event value comes from: a string field, or an attribute. */
typedef struct tl_fieldref {
    int is_attr;  /* 0: str[field]; 1: attribute `attr` */
    int field;    /* enum tl_str_field when !is_attr */
    tl_str attr;  /* attribute key (owned by the program) */
} tl_fieldref;

typedef enum tl_atom_op {
    TL_A_STR_EQ,       /* string field == s (missing field reads as "") */
    TL_A_STR_IN,       /* string field in set */
    TL_A_STR_CONTAINS, /* substring */
    TL_A_STR_PREFIX,
    TL_A_STR_SUFFIX,
    TL_A_NUM_CMP,      /* numeric field <op> num; false when the field is missing */
    TL_A_FLAG,         /* flags contains s */
    TL_A_HAS,          /* field is present (has(field)) */
    TL_A_STR_MATCH     /* string field matches a regular expression (regex.h) */
} tl_atom_op;

typedef struct tl_atom {
    tl_atom_op op;
    tl_cmp_op cmp;     /* TL_A_NUM_CMP */
    tl_fieldref ref;   /* string atoms, TL_A_HAS on strings */
    int num_field;     /* TL_A_NUM_CMP, TL_A_HAS on numbers (-1 otherwise) */
    double num;
    tl_str s;          /* constant (owned) */
    tl_str *set;       /* TL_A_STR_IN (owned) */
    uint32_t nset;
    struct tl_regex *re; /* TL_A_STR_MATCH (owned); s holds the pattern */
} tl_atom;

/* Filter tree node: evaluated over memoised atoms. */
typedef enum tl_fop { TL_F_TRUE, TL_F_FALSE, TL_F_ATOM, TL_F_NOT, TL_F_AND, TL_F_OR } tl_fop;
typedef struct tl_fnode {
    tl_fop op;
    uint32_t atom;
    struct tl_fnode *a, *b;
} tl_fnode;

typedef struct tl_filter {
    tl_fnode *root;
    char *canon; /* canonical text, used to deduplicate */
} tl_filter;

typedef struct tl_group {
    uint32_t nlabels;
    char **label_names;  /* "service", "attributes.region" */
    tl_fieldref *labels;
    uint32_t nplans;
    uint32_t *plans;     /* plan ids */
    uint32_t nrules;
    uint32_t *rules;     /* rule ids; a rule's instance is at inst_offset + i * sizeof(tl_inst) */
    uint32_t record_size; /* bytes of a series record before the key */
    uint32_t inst_offset;
} tl_group;

typedef enum tl_plan_kind {
    TL_PLAN_COUNTER, /* per slot: events matching filter (n), matching numerator (hits) */
    TL_PLAN_MOMENTS, /* per slot: n, values, sum, min, max of a numeric field */
    TL_PLAN_SKETCH,  /* MOMENTS plus a quantile sketch */
    TL_PLAN_DISTINCT /* per slot: n, values, and a distinct-count sketch (hll.h) of a string field */
} tl_plan_kind;

typedef struct tl_plan {
    tl_plan_kind kind;
    uint32_t group;
    uint32_t filter;  /* events counted */
    int32_t pred;     /* COUNTER numerator filter, -1 if none */
    int field;        /* MOMENTS/SKETCH: numeric field (TL_N_* or pseudo); DISTINCT: index into
                         the program's dfields */
    int64_t width_ms; /* slot width */
    uint32_t window_slots; /* longest window of the rules reading it, in slots */
    uint32_t nslots;  /* ring length: longest window + lateness + lead */
    uint32_t offset;  /* of the plan state in the series record */
    uint32_t size;    /* bytes of the plan state */
} tl_plan;

/* Aggregate functions a value leaf can read from a plan. */
typedef enum tl_agg {
    TL_AGG_COUNT,    /* events matching the filter */
    TL_AGG_HITS,     /* events matching filter and numerator: count(pred) */
    TL_AGG_RATIO,    /* hits / count */
    TL_AGG_RATE,     /* count / window seconds */
    TL_AGG_SUM,
    TL_AGG_AVG,
    TL_AGG_MIN,
    TL_AGG_MAX,
    TL_AGG_QUANTILE, /* q */
    TL_AGG_DISTINCT  /* approximate number of distinct values (3.25% standard error) */
} tl_agg;

typedef enum tl_vop {
    TL_V_NUM,
    TL_V_AGG,
    TL_V_ADD,
    TL_V_SUB,
    TL_V_MUL,
    TL_V_DIV,
    TL_V_NEG,
    TL_V_PREVIOUS, /* a over the window just before the current one */
    TL_V_OFFSET,   /* a over the same window `shift_ms` ago, read from roll-ups */
    TL_V_BASELINE, /* mean of a over each complete `res_ms` bucket of the last `period_ms` */
    TL_V_PREV_RELEASE /* a over the same window on the series of the release before this one */
} tl_vop;
typedef struct tl_vnode {
    tl_vop op;
    double num;        /* TL_V_NUM */
    tl_agg agg;        /* TL_V_AGG */
    uint32_t plan;     /* TL_V_AGG */
    double q;          /* TL_AGG_QUANTILE */
    int64_t shift_ms;  /* TL_V_OFFSET */
    int64_t period_ms; /* TL_V_BASELINE */
    int64_t res_ms;    /* TL_V_OFFSET, TL_V_BASELINE: roll-up bucket width */
    struct tl_vnode *a, *b;
} tl_vnode;

/* No data: fewer than min_events events in the window, or an undefined value (0/0). */
typedef enum tl_no_data {
    TL_NODATA_RESOLVE = 0, /* the condition does not hold: pending resets, firing resolves */
    TL_NODATA_KEEP,        /* the last state's condition continues: pending may still fire,
                              firing stays firing (and re-notifies) */
    TL_NODATA_IGNORE,      /* the evaluation is skipped: nothing changes, nothing is sent */
    TL_NODATA_ALERT        /* the condition holds: fires after `for` (absence alerts) */
} tl_no_data;

typedef struct tl_rule {
    char *name;
    char *file;       /* where it was defined, for messages */
    uint32_t line;
    uint32_t group;
    uint32_t filter;
    uint32_t count_plan; /* plan whose `n` is the rule's event count (min_events) */
    tl_vnode *value;
    char *metric;     /* value expression as written */
    tl_unit unit;
    int64_t window_ms;
    int64_t width_ms;
    uint32_t window_slots;
    int64_t for_ms;
    int64_t renotify_ms; /* 0 = never */
    uint64_t min_events;
    tl_cmp_op op;
    double threshold;
    char *severity;
    char *owner;
    char *runbook;
    tl_template *summary;
    tl_template *description; /* may be NULL */
    uint32_t nstatic;
    char **static_keys; /* labels: from the rule file */
    char **static_vals;
    uint32_t index_in_group;
    int early; /* the condition can only become true as events arrive (count > x, max > x,
                  ratio > 0, ...), so it may fire before its slot closes (shard.c) */
    int64_t keep_firing_ms; /* stay firing this long after the condition stops holding */
    int has_resolve;        /* hysteresis: while firing, resolve only when value `resolve_op`
                               resolve_threshold holds (or there is no data) */
    tl_cmp_op resolve_op;
    double resolve_threshold;
    double confidence_z;    /* > 0: a ratio rule compares the Wilson lower bound of the ratio at
                               this z (one-sided) with the threshold, not the ratio itself */
    uint32_t max_instances; /* 0 = no cap on pending+firing instances of this rule */
    tl_no_data no_data;     /* what an evaluation without data (fewer than min_events, or an
                               undefined value) means */
    int32_t inhibited_by;   /* threshold levels: the rule of the next higher level (same name,
                               same group); while it fires on a series, this one does not. -1 */
    int one_shot;           /* event rules: a firing notification per episode, no resolve */
    int64_t release_ms;     /* release-aware: evaluate a series only during this long after its
                               label set (e.g. a new prompt_version) was first seen; 0 = always */
    int32_t release_label;  /* index of the release label in the group's labels, -1 if none */
    uint64_t sig;           /* hash of the rule's definition: a reload keeps the state of a rule
                               whose name and signature did not change */
} tl_rule;

/* Per-trace rules (traces.c). A sequence rule matches step filters in order within one trace,
 * each within `within_ms` of the previous; a combination rule checks the set of tools a trace
 * used. Both report by synthesising an event (kind "sequence" / "tool_combination", with
 * attributes.rule = the rule's name) that the rule itself counts like any other event. */
#define TL_SEQ_MAX_STEPS 8
#define TL_MAX_SEQ_RULES 32
#define TL_MAX_COMBO_RULES 32
#define TL_COMBO_MAX_SETS 32
#define TL_COMBO_MAX_TOOLS 16

typedef struct tl_seqrule {
    char *name;
    uint32_t nsteps;
    uint32_t steps[TL_SEQ_MAX_STEPS]; /* filter ids */
    int64_t within_ms;
} tl_seqrule;

typedef struct tl_comborule {
    char *name;
    int32_t filter;   /* on the trace summary (service, versions...); -1 = every trace */
    int64_t learn_ms; /* > 0: instead of allowed sets, a pair of tools is unexpected when it was not
                         seen together during the last learn_ms (after a learn_ms warm-up) */
    uint32_t nsets;   /* allowed tool sets: a trace's tools must fit inside one of them */
    uint32_t nset_tools[TL_COMBO_MAX_SETS];
    char **set_tools[TL_COMBO_MAX_SETS];
} tl_comborule;

typedef struct tl_program {
    uint32_t natoms, nfilters, ngroups, nplans, nrules;
    tl_atom *atoms;
    tl_filter *filters;
    tl_group *groups;
    tl_plan *plans;
    tl_rule *rules;
    uint32_t filter_words; /* 64-bit words in a filter bitset */
    uint32_t ndfields;     /* string fields some distinct() counts (at most TL_MAX_DFIELDS) */
    tl_fieldref dfields[8];
    int64_t lateness_ms;
    int64_t lead_ms;
    uint32_t nseqs, ncombos;
    tl_seqrule *seqs;
    tl_comborule *combos;
    int traces;          /* per-trace state is needed (sequences, combinations, trace summaries) */
    int64_t trace_idle_ms; /* a trace without a root request closes after this much event time */
    int64_t min_width_ms;  /* smallest slot width of any plan */
} tl_program;

void tl_program_destroy(tl_program *p);

/* How far ahead of the watermark an event may be folded (the configured max lead, at least
 * 1s). Slot rings have room for it; the engine holds back partitions that run further ahead. */
static inline int64_t tl_program_lead_ms(const tl_program *p) { return p->lead_ms > 1000 ? p->lead_ms : 1000; }

/* Unit of a numeric field (latency_ms -> MS, cost_usd -> USD, tokens -> TOKENS...). */
tl_unit tl_num_field_unit(int field);
const char *tl_num_field_name(int field); /* includes "tokens" */

#endif
