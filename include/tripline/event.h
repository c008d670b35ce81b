/* include/tripline/event.h - the decoded trace event: tripline's input contract.
 *
 * Every decoder (JSON, Avro) fills a tl_event; routing, filters and windows read it. The
 * field list is one X-macro table so that names, schema order and enum values cannot drift
 * apart. schemas/trace_event.avsc and docs/RULES.md describe the same fields.
 *
 * Ownership: strings are tl_str views into the message bytes or into the decoder's scratch
 * buffer. They are valid until the message is released or the scratch buffer is reused by
 * the next decode. A tl_event is plain data, owned by the worker that decodes into it; it is
 * reused for every message, so decoders reset it with tl_event_reset() (cheap: counters and
 * presence bits only) instead of clearing 3 KB.
 *
 * Presence: a field that was absent, or null, has its bit clear in str_present/num_present
 * and its value is unspecified. The timestamp is the only required field.
 */
#ifndef TL_EVENT_H
#define TL_EVENT_H

#include <stdint.h>

#include "tripline/str.h"

/* String fields, in schema order: X(ENUM_SUFFIX, json_and_avro_name) */
#define TL_EVENT_STR_FIELDS(X)                                                                 \
    X(TRACE_ID, trace_id)                                                                      \
    X(SPAN_ID, span_id)                                                                        \
    X(PARENT_SPAN_ID, parent_span_id)                                                          \
    X(SERVICE, service)                                                                        \
    X(KIND, kind)                                                                              \
    X(TOOL, tool)                                                                              \
    X(MODEL, model)                                                                            \
    X(PROVIDER, provider)                                                                      \
    X(PROMPT_VERSION, prompt_version)                                                          \
    X(MODEL_VERSION, model_version)                                                            \
    X(STATUS, status)                                                                          \
    X(ERROR_TYPE, error_type)

/* Numeric fields. Token counts are integers on the wire; they are held as doubles (exact up
 * to 2^53) so every numeric aggregate reads one representation. */
#define TL_EVENT_NUM_FIELDS(X)                                                                 \
    X(LATENCY_MS, latency_ms)                                                                  \
    X(INPUT_TOKENS, input_tokens)                                                              \
    X(OUTPUT_TOKENS, output_tokens)                                                            \
    X(COST_USD, cost_usd)                                                                      \
    X(SCORE, score)

enum tl_str_field {
#define TL_X_(E, n) TL_S_##E,
    TL_EVENT_STR_FIELDS(TL_X_)
#undef TL_X_
    TL_S__COUNT
};

/* Per-trace values, set only on the `kind: trace` summary events tripline synthesises when a
 * trace closes (engine/traces.c); never decoded from input. */
#define TL_EVENT_TRACE_FIELDS(X)                                                               \
    X(EVENTS, trace_events)                                                                    \
    X(LLM_CALLS, trace_llm_calls)                                                              \
    X(TOOL_CALLS, trace_tool_calls)                                                            \
    X(TOKENS, trace_tokens)                                                                    \
    X(COST_USD, trace_cost_usd)                                                                \
    X(DURATION_MS, trace_duration_ms)                                                          \
    X(ERRORS, trace_errors)

enum tl_trace_field {
#define TL_X_(E, n) TL_T_##E,
    TL_EVENT_TRACE_FIELDS(TL_X_)
#undef TL_X_
    TL_T__COUNT
};

enum tl_num_field {
#define TL_X_(E, n) TL_N_##E,
    TL_EVENT_NUM_FIELDS(TL_X_)
#undef TL_X_
    TL_N__COUNT
};

#define TL_EVENT_MAX_FLAGS 32 /* more flags than this: the event is rejected (dead letter) */
#define TL_EVENT_MAX_ATTRS 64 /* more attributes than this: rejected (dead letter) */

typedef struct tl_event {
    int64_t ts_ms;        /* event time, epoch milliseconds; always present after decode */
    uint32_t str_present; /* bit (1u << TL_S_x) set when str[TL_S_x] is present */
    uint32_t num_present; /* bit (1u << TL_N_x) set when num[TL_N_x] is present */
    tl_str str[TL_S__COUNT];
    double num[TL_N__COUNT];
    uint32_t tnum_present;  /* bit (1u << TL_T_x): tnum[TL_T_x] set (trace summaries only) */
    double tnum[TL_T__COUNT];
    uint32_t n_flags;
    uint32_t n_attrs;
    tl_str flags[TL_EVENT_MAX_FLAGS];
    tl_str attr_key[TL_EVENT_MAX_ATTRS];
    tl_str attr_val[TL_EVENT_MAX_ATTRS];
} tl_event;

static inline void tl_event_reset(tl_event *ev)
{
    ev->ts_ms = 0;
    ev->str_present = 0;
    ev->num_present = 0;
    ev->tnum_present = 0;
    ev->n_flags = 0;
    ev->n_attrs = 0;
}

static inline void tl_event_set_str(tl_event *ev, enum tl_str_field f, const char *p, uint32_t n)
{
    ev->str[f].p = p;
    ev->str[f].n = n;
    ev->str_present |= 1u << f;
}

static inline void tl_event_set_num(tl_event *ev, enum tl_num_field f, double v)
{
    ev->num[f] = v;
    ev->num_present |= 1u << f;
}

/* Field names, indexed by enum (defined in engine/event.c). */
extern const char *const tl_str_field_names[TL_S__COUNT];
extern const char *const tl_num_field_names[TL_N__COUNT];
extern const char *const tl_trace_field_names[TL_T__COUNT];

/* Look up a field by name; returns the enum value or -1. */
int tl_str_field_lookup(const char *name, size_t n);
int tl_num_field_lookup(const char *name, size_t n);

/* Value of attribute `key`, or a zero view with *found = 0. Linear scan: events carry few. */
tl_str tl_event_attr(const tl_event *ev, tl_str key, int *found);

#endif
