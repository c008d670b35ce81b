/* bench/bench_scale.c - how the per-event path scales with work: active series and rules.
 *
 * In memory, one thread, no Kafka and no decoding (bench_hotpath covers those): events are
 * built directly and go through routing, window folds and evaluation every 1024 events.
 *
 * 1. Series. Three rules grouped by [service, tool] (an error ratio, a p95 latency and a
 *    volume count, 5m windows) over S = 100, 10k, 100k and 1M distinct (service, tool) pairs,
 *    each pair receiving the same number of events (at least 4M events in all; fewer in
 *    --smoke), event time advancing 1 s per 100k events. Reports ns/event, events/s and resident memory; the ratio is the throughput at
 *    S series over the throughput at 100 series (the baseline, same run).
 * 2. Rules. R = 10, 100 and 1,000 rules over 10 distinct filters (`tool == "tool-K"`), each
 *    an error ratio by service with its own threshold, so rules that share a filter and an
 *    aggregate share one plan. Ratio: throughput at R rules over throughput at 10 rules.
 *
 * Output: one JSON object per case on stdout, summaries on stderr. `--smoke`: tiny sizes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "route.h"
#include "rules.h"
#include "shard.h"

/* Event time advances at a fixed pace per event, as in a fleet producing this many events per
 * second: slot-boundary evaluations visit every series, so how often they come per event
 * decides their share, and compressing event time further would overstate it. */
#define EVENTS_PER_EVENT_SEC 100000
#define CASE_BUDGET_S 20.0 /* a case that has not finished by then stops and says so */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

/* Run `nev` tool_call events over nsvc x ntool pairs through prog; returns ns/event. */
static double run(tl_program *prog, const names *svc, size_t nsvc, const names *tool, size_t ntool, size_t *nev_io,
                  uint64_t *series, double *rss)
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
    size_t pairs = nsvc * ntool;
    double start = now_s();
    for (size_t i = 0; i < nev; i++) {
        size_t pair = i % pairs;
        ev.str[TL_S_SERVICE] = svc->s[pair / ntool];
        ev.str[TL_S_TOOL] = tool->s[pair % ntool];
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        ev.str[TL_S_STATUS] = (rng & 31) == 0 ? error : ok;
        ev.num[TL_N_LATENCY_MS] = (double)(50 + (rng >> 40) % 2000);
        ev.ts_ms = t0 + (int64_t)(i / (EVENTS_PER_EVENT_SEC / 1000)); /* a busy fleet's pace */
        tl_fold f;
        tl_router_route(&router, &ev, &f);
        tl_shard_fold(sh, &f, UINT32_MAX);
        if ((i & 1023) == 1023)
            tl_shard_evaluate(sh, ev.ts_ms);
        if ((i & 65535) == 65535 && now_s() - start > CASE_BUDGET_S) {
            nev = i + 1; /* too slow to finish: report the rate over what was done */
            break;
        }
    }
    *nev_io = nev;
    double dt = now_s() - start;
    tl_shard_stats st;
    tl_shard_stats_get(sh, &st);
    *series = st.series;
    *rss = rss_mib();
    tl_router_fini(&router);
    tl_shard_destroy(sh);
    return dt * 1e9 / (double)nev;
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

int main(int argc, char **argv)
{
    int smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
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
        size_t ntool = s < 1000 ? s : 1000, nsvc = s / ntool;
        size_t nev = smoke ? 50000 : (s * 4 > 4000000 ? s * 4 : 4000000);
        uint64_t series = 0;
        double rss = 0, best = 1e18;
        int cut = 0;
        for (int rep = 0; rep < (smoke || s >= 100000 ? 1 : 3) && !cut; rep++) {
            size_t done = nev;
            double x = run(p, &svc, nsvc, &tool, ntool, &done, &series, &rss);
            best = x < best ? x : best;
            cut = done < nev;
            if (cut)
                nev = done;
        }
        if (k == 0)
            base = best;
        if (series != s && !cut) {
            fprintf(stderr, "bench_scale: %zu pairs made %llu series\n", s, (unsigned long long)series);
            bad = 1;
        }
        printf("{\"bench\":\"scale_series\",\"series\":%zu,\"events\":%zu,\"rules\":3,\"ns_per_event\":%.1f,"
               "\"events_per_sec\":%.0f,\"rss_mib\":%.1f,\"ratio_vs_100_series\":%.3f,\"stopped_at_budget\":%s}\n",
               s, nev, best, 1e9 / best, rss, base / best, cut ? "true" : "false");
        fprintf(stderr, "scale series=%zu: %.0f ns/event (%.2fM events/s), RSS %.0f MiB, %.2f of the 100-series rate%s\n",
                s, best, 1e3 / best, rss, base / best, cut ? " (stopped at the time budget)" : "");
    }
    tl_program_destroy(p);

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
            double x = run(p, &svc, 10, &tool, 10, &done, &series, &rss);
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
    names_free(&svc);
    names_free(&tool);
    return bad;
}
