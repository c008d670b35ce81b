/* engine/traces.h - per-trace state: trace summaries, sequences, tool combinations.
 *
 * Some alerts are about a whole trace: "model calls per trace", "tool calls per trace",
 * "injection detected, then a high-risk tool call in the same trace", "tools used together
 * that no allowed combination permits". Each worker keeps a table of the traces whose events
 * it consumes. A trace closes when its root `request` event (no parent_span_id) arrives, or
 * when no event of it arrived for `trace_idle` of event time.
 *
 * Everything a trace concludes is reported as a synthesised event that then flows through the
 * normal filters and windows, so per-trace values are ordinary fields and the matching rules
 * are ordinary rules:
 *  - on close, a summary: kind "trace", the trace's service, prompt_version, model_version,
 *    status ("error" if any event failed), trace_events, trace_llm_calls, trace_tool_calls,
 *    trace_tokens, trace_cost_usd, trace_duration_ms, trace_errors, attributes.tools (the
 *    sorted tool names, comma-separated);
 *  - kind "sequence", attributes.rule = name, when a sequence rule completes;
 *  - kind "tool_combination", attributes.rule = name and attributes.tools, when a closed
 *    trace's tools fit no allowed set of a combination rule.
 *
 * Requirement: all events of a trace must reach the same worker, i.e. be in one Kafka
 * partition (producers key by trace id, as `tripline gen` does). Memory is bounded by
 * max_traces; traces beyond it are not tracked and are counted.
 *
 * Threading: one table per worker, used only by that worker. The per-event path allocates
 * nothing (records come from a fixed array allocated at creation).
 */
#ifndef TL_TRACES_H
#define TL_TRACES_H

#include <stdint.h>

#include "program.h"

typedef struct tl_traces tl_traces;

/* Called for each synthesised event; the event is valid only during the call. */
typedef void (*tl_traces_emit_fn)(void *ctx, const tl_event *ev);

tl_traces *tl_traces_new(const tl_program *prog, uint32_t max_traces);
void tl_traces_destroy(tl_traces *t);

/* Account one decoded event whose filter bits are `fbits`. Synthesised events are emitted
 * after the event's own state was updated. Events without trace_id, and synthesised kinds
 * (trace, sequence, tool_combination), are ignored. */
void tl_traces_observe(tl_traces *t, const tl_event *ev, const uint64_t *fbits, tl_traces_emit_fn emit, void *ctx);

/* Close traces whose last event is older than wm - trace_idle. */
void tl_traces_expire(tl_traces *t, int64_t wm, tl_traces_emit_fn emit, void *ctx);

typedef struct tl_traces_stats {
    uint64_t open, closed, untracked, sequences, combinations;
} tl_traces_stats;
void tl_traces_stats_get(const tl_traces *t, tl_traces_stats *out);

/* Checkpoints (checkpoint.c): the open traces (oldest first, so expiry order survives), their
 * sequence-rule progress and the learned tool combinations. Sequence rules are matched to the
 * running program by name and step count, combination rules by name; what no longer exists is
 * skipped. Load into a table that has seen no event; -1 on a malformed record (the reader says
 * where). A full table drops the newest traces (counted as untracked). */
struct tl_ckw;
struct tl_ckr;
void tl_traces_save(const tl_traces *t, struct tl_ckw *w);
int tl_traces_load(tl_traces *t, struct tl_ckr *r);

#endif
