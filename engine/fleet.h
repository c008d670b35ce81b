/* engine/fleet.h - the synthetic fleet: agents emitting realistic trace events, with scripted
 * incidents. One generator feeds `tripline demo`, `tripline gen`, tests and benches.
 *
 * Model: several services (a support bot, a coding agent, a workflow agent), each with its
 * own tools, models and providers. Each trace is one user request: a root `request` event,
 * model calls (`llm_call`), tool calls (`tool_call`), an optional `retrieval`, an input
 * `guardrail` check, and sometimes a `feedback` event. Latency is log-normal per kind, tokens
 * and cost follow the model's price, error/timeout/rate-limit statuses and AI-behaviour flags
 * (invalid_output, refusal, escalation, retry, user_correction, thumbs_down) occur at low
 * base rates. Child events carry the trace id and parent span id; the root `request` event
 * comes last in the trace (it reports the whole trace's latency), with status ok or error.
 *
 * Event time: the generator is a pure function of (seed, options): tl_fleet_next() returns
 * events in non-decreasing timestamp order starting at opts.start_ms. With opts.history_ms
 * > 0, the first history_ms of event time is a quiet, healthy history (same services, no
 * incidents) at opts.history_traces_per_sec, e.g. 7 days so that 7-day baselines have their
 * hourly roll-ups; the live part starts at start_ms + history_ms and runs at on average
 * opts.traces_per_sec traces per second of EVENT time. Callers that want wall-clock pacing
 * (gen, demo) sleep between calls themselves; time acceleration is their choice.
 *
 * Scenario TL_FLEET_SCENARIO_DEMO (offsets from the live start, event time), each followed by
 * recovery, designed to fire and resolve the rules in rules/support-agent.yaml:
 *   0m-2m    warm-up, everything healthy;
 *   2m       one policy_violation event on support-bot (fires at once; resolves 30m later);
 *   3m-20m   tool outage: get_order_status on support-bot fails 35% of calls (status=error,
 *            error_type=upstream_5xx);
 *   22m-42m  latency spike: support-bot request latency ~20 s (p95 well above 15 s);
 *   45m      one support-bot trace where the input guardrail flags injection_detected and a
 *            tool call with attributes.risk = high follows (elsewhere injections are flagged
 *            but never followed by a risky call);
 *   42m-46m  healthy apart from that one trace;
 *   46m-66m  cost spike: support-bot llm_calls switch to model gpt-4o and cost 6x their
 *            normal cost_usd (cost per request 6x its 7-day baseline);
 *   50m      prompt release: support-bot moves from prompt_version support-v12 to support-v13
 *            (decided by trace start; before it support-bot has no canary, so v13 is new);
 *   50m-62m  support-v13 llm_calls flag invalid_output at 9% (normally 0.5%), then normal;
 *   66m-95m  healthy (still on v13); the cost alert resolves as its window drains.
 * tl_fleet_scenario_length_ms() gives 95m. TL_FLEET_SCENARIO_NONE stays healthy forever.
 *
 * Ownership: strings in the events point into the generator's own storage and stay valid
 * until the next tl_fleet_next() call. Threading: one generator per thread.
 */
#ifndef TL_FLEET_H
#define TL_FLEET_H

#include <stdint.h>

#include "tripline/event.h"

enum tl_fleet_scenario { TL_FLEET_SCENARIO_NONE = 0, TL_FLEET_SCENARIO_DEMO = 1 };

typedef struct tl_fleet_opts {
    uint64_t seed;          /* same seed, same options: same event sequence */
    int64_t start_ms;       /* event time of the first trace */
    double traces_per_sec;  /* mean trace arrival rate in event time (default 20 if <= 0) */
    int scenario;           /* enum tl_fleet_scenario */
    int n_services;         /* 1..3 (default 3 if <= 0) */
    int64_t history_ms;     /* quiet history before the live part (0 = none) */
    double history_traces_per_sec; /* its rate (default 0.05 if <= 0 and history_ms > 0) */
} tl_fleet_opts;

typedef struct tl_fleet tl_fleet;

tl_fleet *tl_fleet_new(const tl_fleet_opts *opts); /* NULL on OOM */
void tl_fleet_destroy(tl_fleet *f);

/* Fill *ev with the next event (timestamps never decrease). Returns 0. */
int tl_fleet_next(tl_fleet *f, tl_event *ev);

/* Human name of the scenario phase at event time t, e.g. "tool outage: get_order_status
 * failing (35%)", "healthy", or "history" before the live start; for the demo's narration. */
const char *tl_fleet_phase(const tl_fleet *f, int64_t t_ms);
int64_t tl_fleet_scenario_length_ms(int scenario); /* the live part; history not included */

#endif
