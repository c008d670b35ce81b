/* engine/fleet.c - the synthetic fleet (engine/fleet.h): realistic agent traces with scripted
 * incidents, so the demo, `tripline gen`, tests and benches all see the same believable data.
 *
 * How it works. A trace is planned whole at its start time: the guardrail check, an optional
 * retrieval, model and tool calls one after another (each event is stamped at the END of its
 * span, so children are spread over the trace's duration), then the root `request` stamped
 * last with the trace's total latency, preceded at the same instant by an occasional
 * `feedback`. The planned events go into a min-heap keyed by (timestamp, sequence number).
 * tl_fleet_next() starts new traces (Poisson arrivals) while the next arrival is not later
 * than the heap's minimum, then pops the minimum. Because every event of a trace is stamped
 * at or after the trace's start, nothing started later can ever precede what is popped:
 * timestamps come out non-decreasing across all traces.
 *
 * Invariants:
 *  - heap entries are slots of a pool allocated at tl_fleet_new(); nothing is allocated,
 *    locked or read from a clock afterwards;
 *  - a trace is only started when the pool has room for its largest plan (MAX_PER_TRACE);
 *    when it is full (far above the rate the capacity was sized for) the next arrival is
 *    pushed back to the heap's minimum, which keeps the order and slows arrivals instead;
 *  - the sequence is a pure function of (seed, options): one private splitmix64 RNG, draws
 *    in a fixed order, ties broken by the plan sequence number.
 *
 * History. With opts.history_ms, arrivals run at the low history rate from start_ms to the
 * live start (start_ms + history_ms), then at the live rate; the switch only changes the
 * arrival gaps, so the heap keeps the order across it. Scripted incidents are placed relative
 * to the live start and need no special case for history: it is simply before all of them.
 *
 * Planned events store ids and choices as numbers and table indexes; tl_fleet_next() renders
 * hex ids and the user id into the generator's output buffers, so the event's views stay
 * valid until the next call. Threading: one generator per thread, no shared state.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "fleet.h"

#define MIN_MS(m) ((int64_t)(m) * 60 * 1000)

/* Demo timeline (offsets from the live start, start_ms + history_ms). */
#define DEMO_POLICY_AT MIN_MS(2)
#define DEMO_INJECTION_AT MIN_MS(45)
#define DEMO_OUTAGE_FROM MIN_MS(3)
#define DEMO_OUTAGE_TO MIN_MS(20)
#define DEMO_SPIKE_FROM MIN_MS(22)
#define DEMO_SPIKE_TO MIN_MS(42)
#define DEMO_COST_FROM MIN_MS(46)
#define DEMO_COST_TO MIN_MS(66)
#define DEMO_RELEASE_AT MIN_MS(50)     /* support-v13 replaces support-v12 */
#define DEMO_BAD_OUTPUT_TO MIN_MS(62)  /* v13's invalid output until then */
#define DEMO_LENGTH MIN_MS(95)

#define OUTAGE_ERROR_RATE 0.35
#define SPIKE_EXTRA_MS 16500.0 /* on top of a ~4 s healthy request: ~20 s */
#define COST_SPIKE_FACTOR 6.0  /* support-bot model calls during the cost spike */
#define INVALID_OUTPUT_RATE 0.005
#define BAD_RELEASE_INVALID_RATE 0.09

#define HISTORY_TRACES_PER_SEC 0.05 /* default rate before the live start */

/* Per-trace shape limits. */
#define MAX_LLM 4
#define MAX_TOOLS 3
#define MAX_PER_TRACE (1 + 1 + MAX_LLM + MAX_TOOLS + 1 + 1) /* guard, retr, llm, tool, fb, req */

#define USER_POOL 5000u
#define MIN_SLOTS 1024u
#define MAX_SLOTS (1u << 18)

#define S_(s) {(s), (uint32_t)(sizeof(s) - 1)}

/* ---- vocabulary tables ---------------------------------------------------------------- */

enum { K_REQUEST, K_LLM, K_TOOL, K_RETRIEVAL, K_GUARDRAIL, K_FEEDBACK };
static const tl_str kind_names[] = {S_("request"),   S_("llm_call"),  S_("tool_call"),
                                    S_("retrieval"), S_("guardrail"), S_("feedback")};

enum { ST_OK, ST_ERROR, ST_TIMEOUT, ST_RATE_LIMITED };
static const tl_str status_names[] = {S_("ok"), S_("error"), S_("timeout"), S_("rate_limited")};

enum { ET_NONE, ET_UPSTREAM_5XX, ET_INVALID_ARGS, ET_TIMEOUT, ET_RATE_LIMITED };
static const tl_str error_names[] = {S_(""), S_("upstream_5xx"), S_("invalid_args"),
                                     S_("timeout"), S_("rate_limited")};

enum {
    F_INVALID_OUTPUT,
    F_REFUSAL,
    F_ESCALATION,
    F_RETRY,
    F_USER_CORRECTION,
    F_THUMBS_DOWN,
    F_THUMBS_UP,
    F_POLICY_VIOLATION,
    F_INJECTION,
    F__COUNT
};
static const tl_str flag_names[F__COUNT] = {
    S_("invalid_output"), S_("refusal"),     S_("escalation"),
    S_("retry"),          S_("user_correction"), S_("thumbs_down"),
    S_("thumbs_up"),      S_("policy_violation"), S_("injection_detected")};

enum {
    T_GET_ORDER_STATUS,
    T_SEARCH_KB,
    T_REFUND_ORDER,
    T_CREATE_TICKET,
    T_READ_FILE,
    T_RUN_TESTS,
    T_GIT_COMMIT,
    T_WEB_SEARCH,
    T_HTTP_FETCH,
    T_SEND_EMAIL,
    T_UPDATE_CRM,
    T_INPUT_FILTER,
    T_NONE = 0xff
};
static const tl_str tool_names[] = {
    S_("get_order_status"), S_("search_kb"),  S_("refund_order"), S_("create_ticket"),
    S_("read_file"),        S_("run_tests"),  S_("git_commit"),   S_("web_search"),
    S_("http_fetch"),       S_("send_email"), S_("update_crm"),   S_("input_filter")};
/* Median latency (ms) per tool; run_tests is the slow one. */
static const double tool_median_ms[] = {300, 250, 400, 350, 80, 2500, 300, 600,
                                        350, 300, 300, 25};

typedef struct fleet_model {
    tl_str name, provider, version;
    double usd_per_m_in, usd_per_m_out;
} fleet_model;

enum { M_GPT4O_MINI, M_CLAUDE_SONNET, M_GPT4O };
static const fleet_model models[] = {
    {S_("gpt-4o-mini"), S_("openai"), S_("2025-06-01"), 0.15, 0.60},
    {S_("claude-sonnet"), S_("anthropic"), S_("2025-05-14"), 3.0, 15.0},
    {S_("gpt-4o"), S_("openai"), S_("2024-11-20"), 2.5, 10.0},
};

typedef struct fleet_service {
    tl_str name;
    tl_str prompt[2];  /* [0] current, [1] canary (10% of traces; in the demo scenario the
                        * support bot has no canary: [1] replaces [0] at DEMO_RELEASE_AT) */
    uint8_t tools[4];
    uint8_t model_a, model_b;
    double p_model_a; /* share of traces on model_a */
} fleet_service;

enum { SVC_SUPPORT, SVC_CODING, SVC_WORKFLOW, SVC__COUNT };
static const fleet_service services[SVC__COUNT] = {
    {S_("support-bot"),
     {S_("support-v12"), S_("support-v13")},
     {T_GET_ORDER_STATUS, T_SEARCH_KB, T_REFUND_ORDER, T_CREATE_TICKET},
     M_GPT4O_MINI, M_CLAUDE_SONNET, 0.7},
    {S_("coding-agent"),
     {S_("coding-v7"), S_("coding-v8")},
     {T_READ_FILE, T_RUN_TESTS, T_GIT_COMMIT, T_WEB_SEARCH},
     M_CLAUDE_SONNET, M_CLAUDE_SONNET, 1.0},
    {S_("workflow-agent"),
     {S_("workflow-v3"), S_("workflow-v4")},
     {T_HTTP_FETCH, T_SEND_EMAIL, T_UPDATE_CRM, T_HTTP_FETCH},
     M_GPT4O, M_GPT4O, 1.0},
};

static const tl_str regions[] = {S_("us-east-1"), S_("eu-west-1"), S_("ap-southeast-1")};

static const tl_str key_user = S_("user_id");
static const tl_str key_region = S_("region");
static const tl_str key_risk = S_("risk");
static const tl_str val_high = S_("high");

/* ---- planned events and the heap ------------------------------------------------------ */

/* One planned event: numbers and table indexes only; rendered to strings when popped. */
typedef struct fleet_ev {
    uint64_t trace_hi, trace_lo;
    uint64_t span, parent; /* parent 0: root */
    double latency_ms;     /* < 0: absent */
    double cost_usd;
    uint32_t user;
    uint16_t in_tokens, out_tokens; /* 0: absent */
    uint16_t flags;                 /* bit per F_* */
    int8_t score;                   /* 0: absent */
    uint8_t kind, service, tool, model, status, error, prompt, region, risk_high;
} fleet_ev;

typedef struct heap_node {
    int64_t ts;
    uint64_t seq;
    uint32_t slot;
} heap_node;

struct tl_fleet {
    tl_fleet_opts opts;
    uint64_t rng;
    double spare_normal;
    int have_spare;

    int64_t live_ms;   /* start_ms + history_ms: history rate before, scenario from here */
    double next_start; /* event time (ms) of the next trace arrival */
    uint64_t seq;
    int policy_done;
    int injection_done;

    uint32_t cap;       /* pool slots == heap capacity */
    uint32_t n_heap;
    uint32_t n_free;
    fleet_ev *pool;
    heap_node *heap;
    uint32_t *free_slots;

    /* Output storage for the last returned event. */
    char out_trace[32];
    char out_span[16];
    char out_parent[16];
    char out_user[8];
};

/* ---- randomness ----------------------------------------------------------------------- */

static uint64_t rng_u64(tl_fleet *f)
{
    uint64_t z = (f->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_01(tl_fleet *f)
{
    return (double)(rng_u64(f) >> 11) * (1.0 / 9007199254740992.0);
}

static uint32_t rng_below(tl_fleet *f, uint32_t n) { return (uint32_t)(rng_01(f) * n); }

static int rng_chance(tl_fleet *f, double p) { return rng_01(f) < p; }

static double rng_normal(tl_fleet *f)
{
    if (f->have_spare) {
        f->have_spare = 0;
        return f->spare_normal;
    }
    double u1 = 1.0 - rng_01(f); /* (0, 1] */
    double u2 = rng_01(f);
    double r = sqrt(-2.0 * log(u1));
    f->spare_normal = r * sin(2.0 * M_PI * u2);
    f->have_spare = 1;
    return r * cos(2.0 * M_PI * u2);
}

/* Log-normal with the given median, clamped to [1 ms, cap]. */
static double rng_latency(tl_fleet *f, double median, double sigma, double cap)
{
    double v = median * exp(sigma * rng_normal(f));
    if (v < 1.0)
        v = 1.0;
    return v > cap ? cap : v;
}

static uint64_t rng_span(tl_fleet *f)
{
    uint64_t s;
    do
        s = rng_u64(f);
    while (s == 0);
    return s;
}

/* ---- heap ----------------------------------------------------------------------------- */

static int node_less(const heap_node *a, const heap_node *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void heap_push(tl_fleet *f, int64_t ts, uint32_t slot)
{
    heap_node n = {ts, f->seq++, slot};
    uint32_t i = f->n_heap++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!node_less(&n, &f->heap[p]))
            break;
        f->heap[i] = f->heap[p];
        i = p;
    }
    f->heap[i] = n;
}

static void heap_pop(tl_fleet *f)
{
    heap_node last = f->heap[--f->n_heap];
    uint32_t n = f->n_heap, i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && node_less(&f->heap[c + 1], &f->heap[c]))
            c++;
        if (!node_less(&f->heap[c], &last))
            break;
        f->heap[i] = f->heap[c];
        i = c;
    }
    if (n > 0)
        f->heap[i] = last;
}

/* A zeroed pool slot with the trace-wide fields copied from `proto`. */
static fleet_ev *slot_take(tl_fleet *f, const fleet_ev *proto, uint32_t *slot)
{
    *slot = f->free_slots[--f->n_free];
    fleet_ev *e = &f->pool[*slot];
    *e = *proto;
    return e;
}

/* ---- planning a trace ----------------------------------------------------------------- */

/* Is event time t inside [from, to) of the demo timeline (offsets from the live start)? */
static int in_phase(const tl_fleet *f, int64_t t, int64_t from, int64_t to)
{
    int64_t rel = t - f->live_ms;
    return f->opts.scenario == TL_FLEET_SCENARIO_DEMO && rel >= from && rel < to;
}

typedef struct trace_plan {
    int64_t t0;
    double cursor;     /* ms since t0 at which the next child ends */
    fleet_ev proto;    /* trace-wide fields */
    uint8_t status;    /* first non-ok child status, for the root */
    uint8_t error;
} trace_plan;

/* Add one child of `kind` with latency `lat` to the plan; returns it for the caller to fill. */
static fleet_ev *plan_child(tl_fleet *f, trace_plan *tp, uint8_t kind, double lat)
{
    uint32_t slot;
    fleet_ev *e = slot_take(f, &tp->proto, &slot);
    e->kind = kind;
    e->span = rng_span(f);
    e->latency_ms = lat;
    tp->cursor += lat;
    heap_push(f, tp->t0 + (int64_t)(tp->cursor + 0.5), slot);
    return e;
}

static void note_status(trace_plan *tp, uint8_t status, uint8_t error)
{
    if (status != ST_OK && tp->status == ST_OK) {
        tp->status = status;
        tp->error = error;
    }
}

static void plan_llm(tl_fleet *f, trace_plan *tp, double extra_ms, int policy)
{
    const fleet_model *m = &models[tp->proto.model];
    double u = rng_01(f);
    uint8_t status = ST_OK, error = ET_NONE;
    double lat;
    if (u < 0.002) {
        status = ST_RATE_LIMITED;
        error = ET_RATE_LIMITED;
        lat = rng_latency(f, 150, 0.4, 2000);
    } else if (u < 0.005) {
        status = ST_TIMEOUT;
        error = ET_TIMEOUT;
        lat = 30000;
    } else {
        lat = rng_latency(f, 1200, 0.5, 30000);
    }
    /* The demo's cost spike and bad prompt release apply by the call's own timestamp (the
     * one plan_child() gives it); the bad release only to traces on the new prompt. */
    int64_t ts = tp->t0 + (int64_t)(tp->cursor + lat + extra_ms + 0.5);
    int support = tp->proto.service == SVC_SUPPORT;
    int cost_spike = support && in_phase(f, ts, DEMO_COST_FROM, DEMO_COST_TO);
    int bad_release = support && tp->proto.prompt == 1 &&
                      in_phase(f, ts, DEMO_RELEASE_AT, DEMO_BAD_OUTPUT_TO);
    uint16_t flags = 0;
    if (status == ST_OK) {
        if (rng_chance(f, bad_release ? BAD_RELEASE_INVALID_RATE : INVALID_OUTPUT_RATE))
            flags |= 1u << F_INVALID_OUTPUT;
        if (rng_chance(f, 0.003))
            flags |= 1u << F_REFUSAL;
    }
    if (rng_chance(f, 0.02))
        flags |= 1u << F_RETRY;
    if (policy)
        flags |= 1u << F_POLICY_VIOLATION;
    uint32_t in = 200 + rng_below(f, 3801);
    uint32_t out = status == ST_OK ? 50 + rng_below(f, 751) : 0;

    fleet_ev *e = plan_child(f, tp, K_LLM, lat + extra_ms);
    e->status = status;
    e->error = error;
    e->flags = flags;
    e->in_tokens = (uint16_t)in;
    e->out_tokens = (uint16_t)out;
    e->cost_usd = (in * m->usd_per_m_in + out * m->usd_per_m_out) / 1e6;
    if (cost_spike) {
        /* A switch to an expensive model: the price is the scripted factor over what the
         * call would normally cost, not gpt-4o's list price. */
        e->model = M_GPT4O;
        e->cost_usd *= COST_SPIKE_FACTOR;
    }
    note_status(tp, status, error);
}

static void plan_tool(tl_fleet *f, trace_plan *tp, uint8_t tool, int risk)
{
    double lat = rng_latency(f, tool_median_ms[tool], 0.6, 10000);
    uint8_t status = ST_OK, error = ET_NONE;
    /* Ends at cursor + lat: the outage applies by the call's own timestamp. */
    int64_t ts = tp->t0 + (int64_t)(tp->cursor + lat + 0.5);
    double u = rng_01(f);
    if (tp->proto.service == SVC_SUPPORT && tool == T_GET_ORDER_STATUS &&
        in_phase(f, ts, DEMO_OUTAGE_FROM, DEMO_OUTAGE_TO)) {
        if (u < OUTAGE_ERROR_RATE) {
            status = ST_ERROR;
            error = ET_UPSTREAM_5XX;
        }
    } else if (u < 0.010) {
        status = ST_ERROR;
        error = u < 0.005 ? ET_UPSTREAM_5XX : ET_INVALID_ARGS;
    } else if (u < 0.013) {
        status = ST_TIMEOUT;
        error = ET_TIMEOUT;
        lat = 10000;
    }
    fleet_ev *e = plan_child(f, tp, K_TOOL, lat);
    e->tool = tool;
    e->status = status;
    e->error = error;
    e->risk_high = (uint8_t)risk;
    note_status(tp, status, error);
}

static void plan_trace(tl_fleet *f, int64_t t0)
{
    trace_plan tp;
    memset(&tp, 0, sizeof tp);
    tp.t0 = t0;
    tp.status = ST_OK;

    fleet_ev *p = &tp.proto;
    p->service = (uint8_t)rng_below(f, (uint32_t)f->opts.n_services);
    const fleet_service *svc = &services[p->service];
    p->trace_hi = rng_u64(f);
    p->trace_lo = rng_u64(f);
    p->span = rng_span(f); /* root span id, the children's parent */
    p->user = rng_below(f, USER_POOL);
    p->region = (uint8_t)rng_below(f, 3);
    p->prompt = (uint8_t)rng_chance(f, 0.1);
    if (f->opts.scenario == TL_FLEET_SCENARIO_DEMO && p->service == SVC_SUPPORT)
        p->prompt = (uint8_t)in_phase(f, t0, DEMO_RELEASE_AT, INT64_MAX); /* by trace start */
    p->model = rng_chance(f, svc->p_model_a) ? svc->model_a : svc->model_b;
    p->tool = T_NONE;
    p->latency_ms = -1;

    uint64_t root_span = p->span;
    p->parent = root_span;

    int n_llm = 1 + (int)rng_below(f, MAX_LLM);
    int n_tool = (int)rng_below(f, MAX_TOOLS + 1);
    int retrieval = rng_chance(f, p->service == SVC_SUPPORT ? 0.5 : 0.3);
    int feedback = rng_chance(f, 0.1);
    int injection = rng_chance(f, 0.002);

    /* Scripted incidents decided by the trace's start. */
    double extra = 0;
    if (p->service == SVC_SUPPORT && in_phase(f, t0, DEMO_SPIKE_FROM, DEMO_SPIKE_TO))
        extra = SPIKE_EXTRA_MS * exp(0.08 * rng_normal(f));
    int policy = 0;
    if (!f->policy_done && p->service == SVC_SUPPORT &&
        in_phase(f, t0, DEMO_POLICY_AT, DEMO_LENGTH)) {
        policy = 1;
        f->policy_done = 1;
    }

    /* One prompt injection followed by a high-risk tool call in the same trace. Outside it,
     * injections are detected and the agent does not act on them. */
    int injected_risky = 0;
    if (!f->injection_done && p->service == SVC_SUPPORT && in_phase(f, t0, DEMO_INJECTION_AT, DEMO_LENGTH)) {
        injection = injected_risky = 1;
        f->injection_done = 1;
        if (n_tool == 0)
            n_tool = 1;
    }

    /* Input guardrail first. */
    double g_lat = rng_latency(f, tool_median_ms[T_INPUT_FILTER], 0.3, 1000);
    fleet_ev *g = plan_child(f, &tp, K_GUARDRAIL, g_lat);
    g->tool = T_INPUT_FILTER;
    g->status = ST_OK;
    if (injection)
        g->flags = 1u << F_INJECTION;

    if (retrieval) {
        fleet_ev *r = plan_child(f, &tp, K_RETRIEVAL, rng_latency(f, 120, 0.4, 5000));
        r->status = ST_OK;
    }

    /* Model and tool calls alternate: think, act, think, act, ... */
    int risk_pending = injected_risky;
    int steps = n_llm > n_tool ? n_llm : n_tool;
    for (int i = 0; i < steps; i++) {
        if (i < n_llm)
            plan_llm(f, &tp, extra / n_llm, policy && i == 0);
        if (i < n_tool) {
            uint8_t tool;
            if (i == 0 && p->service == SVC_SUPPORT && rng_chance(f, 0.8))
                tool = T_GET_ORDER_STATUS;
            else
                tool = svc->tools[rng_below(f, 4)];
            plan_tool(f, &tp, tool, risk_pending);
            risk_pending = 0;
        }
    }

    /* Root request: whole trace plus the agent's own overhead. */
    double total = tp.cursor + rng_latency(f, 40, 0.3, 1000);
    int64_t end = t0 + (int64_t)(total + 0.5);
    uint16_t req_flags = 0;
    if (rng_chance(f, 0.01))
        req_flags |= 1u << F_ESCALATION;
    if (rng_chance(f, 0.01))
        req_flags |= 1u << F_USER_CORRECTION;
    uint32_t slot;
    if (feedback) {
        int down = rng_chance(f, 0.15);
        fleet_ev *fb = slot_take(f, p, &slot);
        fb->kind = K_FEEDBACK;
        fb->span = rng_span(f);
        fb->score = (int8_t)(down ? -1 : 1);
        fb->flags = (uint16_t)(1u << (down ? F_THUMBS_DOWN : F_THUMBS_UP));
        heap_push(f, end, slot);
    }
    fleet_ev *req = slot_take(f, p, &slot);
    req->kind = K_REQUEST;
    req->span = root_span;
    req->parent = 0;
    req->latency_ms = total;
    req->status = tp.status == ST_OK ? ST_OK : ST_ERROR;
    req->error = tp.error;
    req->flags = req_flags;
    heap_push(f, end, slot);
}

/* ---- public API ----------------------------------------------------------------------- */

tl_fleet *tl_fleet_new(const tl_fleet_opts *opts)
{
    tl_fleet *f = tl_calloc(1, sizeof *f);
    if (!f)
        return NULL;
    if (opts)
        f->opts = *opts;
    if (!(f->opts.traces_per_sec > 0) || !isfinite(f->opts.traces_per_sec))
        f->opts.traces_per_sec = 20;
    if (f->opts.n_services <= 0 || f->opts.n_services > SVC__COUNT)
        f->opts.n_services = SVC__COUNT;
    if (f->opts.history_ms < 0)
        f->opts.history_ms = 0;
    if (f->opts.history_ms > 0 &&
        (!(f->opts.history_traces_per_sec > 0) || !isfinite(f->opts.history_traces_per_sec)))
        f->opts.history_traces_per_sec = HISTORY_TRACES_PER_SEC;
    f->rng = f->opts.seed;
    f->live_ms = f->opts.start_ms + f->opts.history_ms;
    f->next_start = (double)f->opts.start_ms;

    /* Room for ~40 s of traces at the higher mean rate (a latency-spike trace lasts ~25 s). */
    double rate = f->opts.traces_per_sec;
    if (f->opts.history_ms > 0 && f->opts.history_traces_per_sec > rate)
        rate = f->opts.history_traces_per_sec;
    double want = (rate * 40.0 + 64.0) * MAX_PER_TRACE;
    f->cap = want > MAX_SLOTS ? MAX_SLOTS : want < MIN_SLOTS ? MIN_SLOTS : (uint32_t)want;
    f->pool = tl_malloc((size_t)f->cap * sizeof *f->pool);
    f->heap = tl_malloc((size_t)f->cap * sizeof *f->heap);
    f->free_slots = tl_malloc((size_t)f->cap * sizeof *f->free_slots);
    if (!f->pool || !f->heap || !f->free_slots)
        goto fail;
    for (uint32_t i = 0; i < f->cap; i++)
        f->free_slots[i] = f->cap - 1 - i;
    f->n_free = f->cap;
    return f;

fail:
    tl_fleet_destroy(f);
    return NULL;
}

void tl_fleet_destroy(tl_fleet *f)
{
    if (!f)
        return;
    tl_free(f->pool);
    tl_free(f->heap);
    tl_free(f->free_slots);
    tl_free(f);
}

static const char hex_digits[16] = "0123456789abcdef";

static void put_hex(char *dst, uint64_t v)
{
    for (int i = 15; i >= 0; i--) {
        dst[i] = hex_digits[v & 0xf];
        v >>= 4;
    }
}

static void put_str(tl_event *ev, enum tl_str_field fld, tl_str s)
{
    tl_event_set_str(ev, fld, s.p, s.n);
}

static void put_attr(tl_event *ev, tl_str k, tl_str v)
{
    ev->attr_key[ev->n_attrs] = k;
    ev->attr_val[ev->n_attrs] = v;
    ev->n_attrs++;
}

static void render(tl_fleet *f, const fleet_ev *e, int64_t ts, tl_event *ev)
{
    const fleet_service *svc = &services[e->service];
    tl_event_reset(ev);
    ev->ts_ms = ts;

    put_hex(f->out_trace, e->trace_hi);
    put_hex(f->out_trace + 16, e->trace_lo);
    put_hex(f->out_span, e->span);
    tl_event_set_str(ev, TL_S_TRACE_ID, f->out_trace, 32);
    tl_event_set_str(ev, TL_S_SPAN_ID, f->out_span, 16);
    if (e->parent) {
        put_hex(f->out_parent, e->parent);
        tl_event_set_str(ev, TL_S_PARENT_SPAN_ID, f->out_parent, 16);
    }
    put_str(ev, TL_S_SERVICE, svc->name);
    put_str(ev, TL_S_KIND, kind_names[e->kind]);

    if (e->kind == K_REQUEST || e->kind == K_LLM)
        put_str(ev, TL_S_PROMPT_VERSION, svc->prompt[e->prompt]);
    if (e->kind == K_LLM) {
        const fleet_model *m = &models[e->model];
        put_str(ev, TL_S_MODEL, m->name);
        put_str(ev, TL_S_PROVIDER, m->provider);
        put_str(ev, TL_S_MODEL_VERSION, m->version);
        tl_event_set_num(ev, TL_N_INPUT_TOKENS, e->in_tokens);
        tl_event_set_num(ev, TL_N_OUTPUT_TOKENS, e->out_tokens);
        tl_event_set_num(ev, TL_N_COST_USD, e->cost_usd);
    }
    if (e->tool != T_NONE)
        put_str(ev, TL_S_TOOL, tool_names[e->tool]);
    if (e->kind != K_FEEDBACK)
        put_str(ev, TL_S_STATUS, status_names[e->status]);
    if (e->error != ET_NONE)
        put_str(ev, TL_S_ERROR_TYPE, error_names[e->error]);
    if (e->latency_ms >= 0)
        tl_event_set_num(ev, TL_N_LATENCY_MS, round(e->latency_ms * 10.0) / 10.0);
    if (e->score)
        tl_event_set_num(ev, TL_N_SCORE, e->score);

    for (int b = 0; b < F__COUNT; b++)
        if (e->flags & (1u << b))
            ev->flags[ev->n_flags++] = flag_names[b];

    /* "u-01234" */
    uint32_t u = e->user;
    f->out_user[0] = 'u';
    f->out_user[1] = '-';
    for (int i = 6; i >= 2; i--) {
        f->out_user[i] = (char)('0' + u % 10);
        u /= 10;
    }
    put_attr(ev, key_user, tl_str_make(f->out_user, 7));
    put_attr(ev, key_region, regions[e->region]);
    if (e->risk_high)
        put_attr(ev, key_risk, val_high);
}

/* Time to the next trace arrival (ms of event time) at `per_sec` traces per second. */
static double arrival_gap(tl_fleet *f, double per_sec)
{
    return -log(1.0 - rng_01(f)) * 1000.0 / per_sec;
}

int tl_fleet_next(tl_fleet *f, tl_event *ev)
{
    for (;;) {
        int64_t start = (int64_t)floor(f->next_start);
        if (f->n_heap > 0 && f->heap[0].ts <= start)
            break;
        if (f->n_free < MAX_PER_TRACE) {
            /* Pool full (rate far above the sizing): delay arrivals, keep the order. The
             * heap is non-empty here because the pool holds at least MIN_SLOTS. */
            if ((double)f->heap[0].ts > f->next_start)
                f->next_start = (double)f->heap[0].ts;
            break;
        }
        plan_trace(f, start);
        if (f->next_start < (double)f->live_ms) {
            f->next_start += arrival_gap(f, f->opts.history_traces_per_sec);
            /* Arrivals are memoryless: past the switch, wait a fresh gap at the live rate. */
            if (f->next_start >= (double)f->live_ms)
                f->next_start = (double)f->live_ms + arrival_gap(f, f->opts.traces_per_sec);
        } else {
            f->next_start += arrival_gap(f, f->opts.traces_per_sec);
        }
    }
    heap_node top = f->heap[0];
    heap_pop(f);
    render(f, &f->pool[top.slot], top.ts, ev);
    f->free_slots[f->n_free++] = top.slot;
    return 0;
}

const char *tl_fleet_phase(const tl_fleet *f, int64_t t_ms)
{
    if (!f)
        return "healthy";
    int64_t rel = t_ms - f->live_ms;
    if (f->opts.history_ms > 0 && rel < 0)
        return "history";
    if (f->opts.scenario != TL_FLEET_SCENARIO_DEMO)
        return "healthy";
    if (rel < DEMO_POLICY_AT)
        return "healthy";
    if (rel < DEMO_OUTAGE_FROM)
        return "policy violation: support-bot";
    if (rel < DEMO_OUTAGE_TO)
        return "tool outage: get_order_status failing (35%)";
    if (rel < DEMO_SPIKE_FROM)
        return "healthy";
    if (rel < DEMO_SPIKE_TO)
        return "latency spike: support-bot requests ~20 s";
    if (rel >= DEMO_INJECTION_AT && rel < DEMO_INJECTION_AT + MIN_MS(1))
        return "prompt injection, then a high-risk tool call";
    if (rel >= DEMO_RELEASE_AT && rel < DEMO_BAD_OUTPUT_TO)
        return "prompt release support-v13: invalid output 9% (cost spike continues)";
    if (rel >= DEMO_COST_FROM && rel < DEMO_COST_TO)
        return "cost spike: support-bot on gpt-4o, 6x cost per request";
    return "healthy";
}

int64_t tl_fleet_scenario_length_ms(int scenario)
{
    return scenario == TL_FLEET_SCENARIO_DEMO ? DEMO_LENGTH : 0;
}
