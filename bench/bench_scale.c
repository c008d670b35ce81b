/* bench/bench_scale.c - how the per-event path scales with work: active series and rules.
 *
 * In memory, one thread, no Kafka and no decoding (bench_hotpath covers those): events are
 * built directly and go through routing, window folds and evaluation every 1024 events.
 *
 * 1. Series. Three rules grouped by [service, tool] (an error ratio, a p95 latency and a
 *    volume count, 5m windows) over S = 100, 10k, 100k and 1M distinct (service, tool) pairs,
 *    each pair receiving about the same number of events (at least 4M events in all; fewer in
 *    --smoke), event time advancing 1 s per 100k events. Every pair first gets one event
 *    (series creation, reported apart), then events pick pairs at random. Reports ns/event,
 *    events/s and resident memory; the ratio is the throughput at S series over the
 *    throughput at 100 series (the baseline, same run). A second baseline, the memory floor
 *    (memory_floor below), touches only the cache lines a fold cannot avoid, in the same
 *    random order over the same memory: base / (base + floor) is the best ratio any engine
 *    keeping this state could reach on this machine.
 * 2. Rules. R = 10, 100 and 1,000 rules over 10 distinct filters (`tool == "tool-K"`), each
 *    an error ratio by service with its own threshold, so rules that share a filter and an
 *    aggregate share one plan. Ratio: throughput at R rules over throughput at 10 rules.
 *
 * 3. Memory per series with the full example pack (rules/support-agent.yaml), including the
 *    7-day baseline: S services, each with one tool, model, provider and prompt version, send
 *    a request, an LLM call, a tool call and a feedback event every hour for 7 days and 2 hours
 *    (so the hourly roll-ups behind baseline() are all filled), then every 10 s for the last
 *    20 minutes (so every short window's slots, percentile sketches included, are filled).
 *    Bytes are what the process allocated and still holds (jemalloc's per-thread counters; the
 *    bench thread is the only one), divided by S: each (service, tool) pair here has its own
 *    series in every group, so this is the most a pair costs. The per-group record sizes are
 *    printed too. Under ASan (no jemalloc) the figure is reported as -1.
 *
 * Output: one JSON object per case on stdout, summaries on stderr. `--smoke`: tiny sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "route.h"
#include "rules.h"
#include "shard.h"
#include "window.h"

/* Event time advances at a fixed pace per event, as in a fleet producing this many events per
 * second: slot-boundary evaluations visit every series, so how often they come per event
 * decides their share, and compressing event time further would overstate it. */
#define EVENTS_PER_EVENT_SEC 100000
#define CASE_BUDGET_S 20.0 /* a case that has not finished by then stops and says so */

static double rss_mib(void)
{
    long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2)
        res = -1;
    fclose(f);
    return res < 0 ? -1 : (double)res * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* jemalloc's mallctl, when jemalloc is the allocator (not under ASan). */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) __attribute__((weak));

/* Bytes this thread allocated minus freed, or -1 without jemalloc. */
static int64_t thread_bytes(void)
{
    uint64_t a = 0, d = 0;
    size_t sz = sizeof a;
    if (!mallctl || mallctl("thread.allocated", &a, &sz, NULL, 0) != 0 ||
        mallctl("thread.deallocated", &d, &sz, NULL, 0) != 0)
        return -1;
    return (int64_t)(a - d);
}

static tl_program *load(const char *text)
{
    tl_rules_opts ro = {.lateness_ms = 30000, .renotify_ms = 4 * 3600000LL, .check_runbooks = 0};
    static char ebuf[4096];
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    tl_program *p = tl_rules_load_string("bench.yaml", text, strlen(text), &ro, &errs);
    if (!p)
        fprintf(stderr, "bench_scale: rules: %s\n", ebuf);
    return p;
}

/* Names "svc-N" and "tool-N", built once. */
typedef struct names {
    char *buf;
    tl_str *s;
    size_t n;
} names;

static void names_make(names *nm, const char *prefix, size_t n)
{
    nm->buf = malloc(n * 16);
    nm->s = malloc(n * sizeof *nm->s);
    nm->n = n;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(nm->buf + i * 16, 16, "%s%zu", prefix, i);
        nm->s[i] = tl_str_make(nm->buf + i * 16, (size_t)w);
    }
}

static void names_free(names *nm)
{
    free(nm->buf);
    free(nm->s);
}

/* Run `nev` tool_call events over nsvc x ntool pairs through prog; returns ns/event.
 * With `warm`, every pair first gets one event (series creation, timed apart: *create_ns is
 * ns per created series), and the timed events then pick pairs at random: the steady state
 * of a fleet whose series all exist. Without it, pairs are visited in order from cold. */
static long minor_faults(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

static double run(tl_program *prog, const names *svc, size_t nsvc, const names *tool, size_t ntool, size_t *nev_io,
                  uint64_t *series, double *rss, int warm, double *create_ns, long *faults,
                  double *eval_share)
{
    size_t nev = *nev_io;
    tl_shard_opts so = {0};
    tl_shard *sh = tl_shard_new(prog, &so);
    tl_router router;
    if (!sh || tl_router_init(&router, prog, 1) < 0) {
        fprintf(stderr, "bench_scale: out of memory\n");
        exit(1);
    }
    static const tl_str ok = TL_STR_LIT("ok"), error = TL_STR_LIT("error"), kind = TL_STR_LIT("tool_call");
    tl_event ev;
    memset(&ev, 0, sizeof ev);
    ev.str_present = (1u << TL_S_SERVICE) | (1u << TL_S_TOOL) | (1u << TL_S_KIND) | (1u << TL_S_STATUS);
    ev.num_present = 1u << TL_N_LATENCY_MS;
    ev.str[TL_S_KIND] = kind;
    const int64_t t0 = 1800000000000LL;
    uint64_t rng = 88172645463325252ULL;
    size_t pairs = nsvc * ntool, i0 = 0;
    double start = tl_bench_now_s();
    *create_ns = 0;
    if (warm) {
        for (size_t pair = 0; pair < pairs; pair++, i0++) {
            ev.str[TL_S_SERVICE] = svc->s[pair / ntool];
            ev.str[TL_S_TOOL] = tool->s[pair % ntool];
            ev.str[TL_S_STATUS] = ok;
            ev.num[TL_N_LATENCY_MS] = 100;
            ev.ts_ms = t0 + (int64_t)(i0 / (EVENTS_PER_EVENT_SEC / 1000));
            tl_fold f;
            tl_router_route(&router, &ev, &f);
            tl_shard_fold(sh, &f, UINT32_MAX);
            if ((i0 & 1023) == 1023)
                tl_shard_evaluate(sh, ev.ts_ms);
        }
        *create_ns = (tl_bench_now_s() - start) * 1e9 / (double)pairs;
        start = tl_bench_now_s();
    }
    long f0 = minor_faults();
    double eval_s = 0; /* of which in evaluations */
    for (size_t i = 0; i < nev; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        size_t pair = warm ? (size_t)((rng >> 11) % pairs) : i % pairs;
        ev.str[TL_S_SERVICE] = svc->s[pair / ntool];
        ev.str[TL_S_TOOL] = tool->s[pair % ntool];
        ev.str[TL_S_STATUS] = (rng & 31) == 0 ? error : ok;
        ev.num[TL_N_LATENCY_MS] = (double)(50 + (rng >> 40) % 2000);
        ev.ts_ms = t0 + (int64_t)((i0 + i) / (EVENTS_PER_EVENT_SEC / 1000)); /* a busy fleet's pace */
        tl_fold f;
        tl_router_route(&router, &ev, &f);
        tl_shard_fold(sh, &f, UINT32_MAX);
        if ((i & 1023) == 1023) {
            double e0 = tl_bench_now_s();
            tl_shard_evaluate(sh, ev.ts_ms);
            eval_s += tl_bench_now_s() - e0;
        }
        if ((i & 65535) == 65535 && tl_bench_now_s() - start > CASE_BUDGET_S) {
            nev = i + 1; /* too slow to finish: report the rate over what was done */
            break;
        }
    }
    *nev_io = nev;
    double dt = tl_bench_now_s() - start;
    *faults = minor_faults() - f0;
    *eval_share = eval_s / dt;
    tl_shard_stats st;
    tl_shard_stats_get(sh, &st);
    *series = st.series;
    *rss = rss_mib();
    tl_router_fini(&router);
    tl_shard_destroy(sh);
    return dt * 1e9 / (double)nev;
}

/* The memory floor for S series: the cache lines a fold cannot avoid, touched in the same
 * random order over the same amount of memory, with no other work. Per event: the table
 * entry (16 bytes in a table of the same capacity), then, depending on it, the series
 * record's header line and the current slot's line of each plan of the group (independent
 * of each other), then one line of a sketch area as large as the pool (the sketch bins,
 * found through the slot). Returns ns per event; the throughput at S series can be no better
 * than this allows, whatever the engine does. */
static double memory_floor(const tl_program *prog, size_t S, size_t nev)
{
    const tl_group *g = &prog->groups[0];
    size_t rec = ((size_t)g->record_size + 24 + 63) & ~(size_t)63, cap = 64;
    while (cap < 2 * S)
        cap *= 2;
    size_t sk_bytes = S * 512; /* a few chunks per series */
    uint64_t *table = calloc(cap * 2, sizeof *table);
    unsigned char *recs = malloc(S * rec), *sk = malloc(sk_bytes);
    if (!table || !recs || !sk) {
        fprintf(stderr, "bench_scale: out of memory\n");
        exit(1);
    }
    memset(recs, 1, S * rec);
    memset(sk, 1, sk_bytes);
    for (size_t i = 0; i < S; i++) {
        size_t j = (i * 0x9E3779B97F4A7C15ULL) & (cap - 1);
        while (table[2 * j + 1])
            j = (j + 1) & (cap - 1);
        table[2 * j] = i;
        table[2 * j + 1] = 1 + i;
    }
    uint64_t rng = 88172645463325252ULL, sum = 0;
    double start = tl_bench_now_s();
    for (size_t i = 0; i < nev; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        size_t pair = (size_t)((rng >> 11) % S);
        size_t j = (pair * 0x9E3779B97F4A7C15ULL) & (cap - 1);
        const unsigned char *r = recs + table[2 * j] * rec; /* depends on the table entry */
        sum += r[0];
        int64_t ts = (int64_t)(i / (EVENTS_PER_EVENT_SEC / 1000));
        for (uint32_t k = 0; k < g->nplans; k++) {
            const tl_plan *pl = &prog->plans[g->plans[k]];
            uint32_t slot = tl_window_slot(pl, tl_epoch(ts, pl->width_ms));
            size_t ssz = pl->kind == TL_PLAN_COUNTER ? sizeof(tl_cslot) : sizeof(tl_mslot);
            sum += r[pl->offset + sizeof(tl_planstate) + slot * ssz];
        }
        sum += sk[(sum + (rng >> 20)) % sk_bytes]; /* depends on the slot's contents */
    }
    double ns = (tl_bench_now_s() - start) * 1e9 / (double)nev;
    if (sum == 42) /* keep the loads */
        fprintf(stderr, " ");
    free(table);
    free(recs);
    free(sk);
    return ns;
}

static const char series_pack[] =
    "rules:\n"
    "  - name: ErrRatio\n    group_by: [service, tool]\n    filter: kind == \"tool_call\"\n"
    "    value: ratio(status == \"error\")\n    window: 5m\n    threshold: \"> 50%\"\n"
    "    severity: warning\n    owner: bench\n    runbook: none\n    summary: s\n"
    "  - name: P95\n    group_by: [service, tool]\n    filter: kind == \"tool_call\"\n"
    "    value: p95(latency_ms)\n    window: 5m\n    threshold: \"> 1h\"\n"
    "    severity: warning\n    owner: bench\n    runbook: none\n    summary: s\n"
    "  - name: Volume\n    group_by: [service, tool]\n    filter: kind == \"tool_call\"\n"
    "    value: count()\n    window: 5m\n    threshold: \"> 1000000000\"\n"
    "    severity: warning\n    owner: bench\n    runbook: none\n    summary: s\n";

static char *rules_pack(int nrules)
{
    size_t cap = (size_t)nrules * 320 + 64, used = 0;
    char *t = malloc(cap);
    used += (size_t)snprintf(t, cap, "rules:\n");
    for (int r = 0; r < nrules; r++)
        used += (size_t)snprintf(t + used, cap - used,
                                 "  - name: R%d\n    group_by: [service]\n    filter: kind == \"tool_call\" and tool == "
                                 "\"tool-%d\"\n    value: ratio(status == \"error\")\n    window: 5m\n"
                                 "    threshold: \"> %d.%d%%\"\n    severity: warning\n    owner: bench\n"
                                 "    runbook: none\n    summary: s\n",
                                 r, r % 10, 50 + r / 10 % 50, r % 10);
    return t;
}

/* Case 3 (see the top): memory per (service, tool) pair with the full pack. */
static int memory_case(int smoke, const names *svc)
{
    static char pack[1 << 16];
    if (tl_bench_read_file("rules/support-agent.yaml", pack, sizeof pack, "bench_scale") < 0)
        return 1;
    tl_program *p = load(pack);
    if (!p)
        return 1;
    size_t S = smoke ? 50 : 1000;
    int64_t before = thread_bytes();
    tl_shard_opts so = {0};
    tl_shard *sh = tl_shard_new(p, &so);
    tl_router router;
    if (!sh || tl_router_init(&router, p, 1) < 0) {
        fprintf(stderr, "bench_scale: out of memory\n");
        exit(1);
    }
    static const tl_str k_req = TL_STR_LIT("request"), k_llm = TL_STR_LIT("llm_call"), k_tool = TL_STR_LIT("tool_call"),
                        k_fb = TL_STR_LIT("feedback"), tool = TL_STR_LIT("get_order_status"),
                        model = TL_STR_LIT("gpt-4o"), prov = TL_STR_LIT("openai"), pv = TL_STR_LIT("support-v12"),
                        ok = TL_STR_LIT("ok"), err = TL_STR_LIT("error"), thumbs = TL_STR_LIT("thumbs_down");
    const int64_t t0 = 1800000000000LL, hour = 3600000, span = 7 * 24 * hour + 2 * hour, dense = 600000;
    uint64_t rng = 88172645463325252ULL, nev = 0;
    tl_event ev;
    memset(&ev, 0, sizeof ev);
    for (int64_t t = t0; t < t0 + span + dense; t += t < t0 + span - dense ? hour : 10000) {
        for (size_t i = 0; i < S; i++) {
            for (int k = 0; k < 4; k++) {
                tl_event_reset(&ev);
                ev.ts_ms = t + (int64_t)i % 1000;
                tl_event_set_str(&ev, TL_S_SERVICE, svc->s[i].p, svc->s[i].n);
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                double lat = (double)(50 + (rng >> 40) % 5000);
                switch (k) {
                case 0:
                    ev.str[TL_S_KIND] = k_req;
                    tl_event_set_num(&ev, TL_N_LATENCY_MS, lat * 4);
                    tl_event_set_num(&ev, TL_N_COST_USD, 0.001 * (double)(1 + (rng >> 50) % 20));
                    break;
                case 1:
                    ev.str[TL_S_KIND] = k_llm;
                    ev.str[TL_S_MODEL] = model;
                    ev.str[TL_S_PROVIDER] = prov;
                    ev.str[TL_S_PROMPT_VERSION] = pv;
                    ev.str_present |= (1u << TL_S_MODEL) | (1u << TL_S_PROVIDER) | (1u << TL_S_PROMPT_VERSION);
                    tl_event_set_num(&ev, TL_N_LATENCY_MS, lat);
                    tl_event_set_num(&ev, TL_N_INPUT_TOKENS, (double)(200 + (rng >> 30) % 2000));
                    tl_event_set_num(&ev, TL_N_COST_USD, 0.002);
                    break;
                case 2:
                    ev.str[TL_S_KIND] = k_tool;
                    ev.str[TL_S_TOOL] = tool;
                    ev.str[TL_S_STATUS] = (rng & 15) == 0 ? err : ok;
                    ev.str_present |= (1u << TL_S_TOOL) | (1u << TL_S_STATUS);
                    tl_event_set_num(&ev, TL_N_LATENCY_MS, lat / 4);
                    break;
                default:
                    ev.str[TL_S_KIND] = k_fb;
                    ev.n_flags = (rng & 7) == 0;
                    ev.flags[0] = thumbs;
                    break;
                }
                ev.str_present |= 1u << TL_S_KIND;
                tl_fold f;
                tl_router_route(&router, &ev, &f);
                tl_shard_fold(sh, &f, UINT32_MAX);
                if ((++nev & 1023) == 0)
                    tl_shard_evaluate(sh, ev.ts_ms);
            }
        }
    }
    tl_shard_evaluate(sh, ev.ts_ms);
    int64_t after = thread_bytes();
    tl_shard_stats st;
    tl_shard_stats_get(sh, &st);
    double per_pair = before >= 0 && after >= 0 ? (double)(after - before) / (double)S : -1;
    char groups[512];
    size_t gl = 0;
    for (uint32_t g = 0; g < p->ngroups && gl < sizeof groups - 64; g++) {
        char lbl[128];
        size_t ll = 0;
        for (uint32_t l = 0; l < p->groups[g].nlabels && ll < sizeof lbl - 40; l++)
            ll += (size_t)snprintf(lbl + ll, sizeof lbl - ll, "%s%s", l ? "," : "", p->groups[g].label_names[l]);
        gl += (size_t)snprintf(groups + gl, sizeof groups - gl, "%s\"%s\":%u", g ? "," : "", lbl,
                               p->groups[g].record_size);
    }
    printf("{\"bench\":\"scale_memory\",\"rules\":%u,\"pairs\":%zu,\"series\":%llu,\"events\":%llu,"
           "\"bytes_per_pair\":%.0f,\"record_bytes_by_group\":{%s}}\n",
           p->nrules, S, (unsigned long long)st.series, (unsigned long long)nev, per_pair, groups);
    fprintf(stderr, "scale memory: full pack (%u rules) with the 7-day baseline filled: %.1f KiB per (service, tool) pair "
            "(%zu pairs, %llu series in %u groups)\n", p->nrules, per_pair / 1024, S, (unsigned long long)st.series,
            p->ngroups);
    int bad = st.series != (uint64_t)S * p->ngroups;
    if (bad)
        fprintf(stderr, "bench_scale: memory case made %llu series, expected %zu\n", (unsigned long long)st.series,
                (size_t)S * p->ngroups);
    tl_router_fini(&router);
    tl_shard_destroy(sh);
    tl_program_destroy(p);
    return bad;
}

int main(int argc, char **argv)
{
    int smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
    /* `--series S`: only the series case S after the 100-series baseline (for profiling). */
    size_t only = argc > 2 && strcmp(argv[1], "--series") == 0 ? (size_t)strtoull(argv[2], NULL, 10) : 0;
    names svc, tool;
    names_make(&svc, "svc-", 1000);
    names_make(&tool, "tool-", 1000);
    int bad = 0;

    /* 1. series */
    tl_program *p = load(series_pack);
    if (!p)
        return 1;
    const size_t sizes[] = {100, 10000, 100000, 1000000};
    double base = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t s = sizes[k];
        if (smoke && s > 10000)
            break;
        if (only && k > 0 && s != only)
            continue;
        size_t ntool = s < 1000 ? s : 1000, nsvc = s / ntool;
        size_t nev = smoke ? 50000 : (s * 4 > 4000000 ? s * 4 : 4000000);
        uint64_t series = 0;
        double rss = 0, best = 1e18, create = 0;
        long faults = 0;   /* page faults in the timed part of the best run */
        double eshare = 0; /* share of its time in evaluations */
        int cut = 0;
        for (int rep = 0; rep < (smoke || s >= 100000 ? 1 : 3) && !cut; rep++) {
            size_t done = nev;
            double c;
            long pf;
            double es;
            double x = run(p, &svc, nsvc, &tool, ntool, &done, &series, &rss, 1, &c, &pf, &es);
            faults = rep == 0 || x < best ? pf : faults;
            eshare = rep == 0 || x < best ? es : eshare;
            create = rep == 0 || c < create ? c : create;
            best = x < best ? x : best;
            cut = done < nev;
            if (cut)
                nev = done;
        }
        if (k == 0)
            base = best;
        double fl = memory_floor(p, s, smoke ? 50000 : 4000000);
        if (series != s && !cut) {
            fprintf(stderr, "bench_scale: %zu pairs made %llu series\n", s, (unsigned long long)series);
            bad = 1;
        }
        printf("{\"bench\":\"scale_series\",\"series\":%zu,\"events\":%zu,\"rules\":3,\"ns_per_event\":%.1f,"
               "\"events_per_sec\":%.0f,\"create_ns_per_series\":%.0f,\"rss_mib\":%.1f,\"ratio_vs_100_series\":%.3f,"
               "\"memory_floor_ns\":%.1f,\"best_ratio_floor_allows\":%.3f,\"page_faults_per_1k_events\":%.2f,"
               "\"evaluation_share\":%.3f,\"stopped_at_budget\":%s}\n",
               s, nev, best, 1e9 / best, create, rss, base / best, fl, base / (base + fl), 1e3 * (double)faults / (double)nev,
               eshare, cut ? "true" : "false");
        fprintf(stderr, "scale series=%zu: %.0f ns/event (%.2fM events/s) in steady state, %.0f ns to create a series, "
                "RSS %.0f MiB, %.2f of the 100-series rate%s; memory floor %.0f ns/event; %.1f page faults per 1k events; "
                "%.0f%% of the time in evaluations\n",
                s, best, 1e3 / best, create, rss, base / best, cut ? " (stopped at the time budget)" : "", fl,
                1e3 * (double)faults / (double)nev, 100 * eshare);
    }
    tl_program_destroy(p);
    if (only) {
        names_free(&svc);
        names_free(&tool);
        return bad;
    }

    /* 2. rules */
    const int counts[] = {10, 100, 1000};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        char *text = rules_pack(counts[k]);
        p = load(text);
        free(text);
        if (!p)
            return 1;
        size_t nev = smoke ? 50000 : 2000000;
        uint64_t series = 0;
        double rss = 0, best = 1e18;
        for (int rep = 0; rep < (smoke ? 1 : 3); rep++) {
            size_t done = nev;
            double c;
            long pf;
            double es;
            double x = run(p, &svc, 10, &tool, 10, &done, &series, &rss, 0, &c, &pf, &es);
            best = x < best ? x : best;
            nev = done;
        }
        if (k == 0)
            base = best;
        printf("{\"bench\":\"scale_rules\",\"rules\":%d,\"distinct_filters\":10,\"plans\":%u,\"events\":%zu,"
               "\"ns_per_event\":%.1f,\"events_per_sec\":%.0f,\"ratio_vs_10_rules\":%.3f}\n",
               counts[k], p->nplans, nev, best, 1e9 / best, base / best);
        fprintf(stderr, "scale rules=%d (10 filters, %u plans): %.0f ns/event (%.2fM events/s), %.2f of the 10-rule rate\n",
                counts[k], p->nplans, best, 1e3 / best, base / best);
        tl_program_destroy(p);
    }
    /* 3. memory per series, full pack */
    bad |= memory_case(smoke, &svc);
    names_free(&svc);
    names_free(&tool);
    return bad;
}
