/* bench/bench_hotpath.c - the per-event path in memory, without Kafka: decode, filters and
 * routing, window updates, per-trace state, and rule evaluation, over pre-encoded synthetic
 * fleet events (JSON and Avro), on one thread.
 *
 * Baseline in the same run: decoding alone. Then the example pack's first nine rules (windows,
 * ratios, percentiles, arithmetic), then the whole pack (adding a 7-day baseline, a
 * release-aware rule, a sequence rule and a per-trace rule, which turn on per-trace state).
 * The difference between the last two is what the newer rule kinds cost per event.
 *
 * Output: one JSON object per case on stdout, a summary on stderr. `--smoke` runs a tiny size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "avro_encode.h"
#include "config.h"
#include "decode.h"
#include "fleet.h"
#include "json_encode.h"
#include "route.h"
#include "rules.h"
#include "shard.h"
#include "traces.h"

typedef struct corpus {
    char *buf;
    size_t *off, *len;
    size_t n;
} corpus;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void build(corpus *c, size_t n, int avro)
{
    tl_fleet_opts fo = {.seed = 3, .start_ms = 1800000000000LL, .traces_per_sec = 20, .scenario = TL_FLEET_SCENARIO_DEMO};
    tl_fleet *f = tl_fleet_new(&fo);
    size_t cap = n * 400 + 4096, used = 0;
    c->buf = malloc(cap);
    c->off = malloc(n * sizeof *c->off);
    c->len = malloc(n * sizeof *c->len);
    c->n = n;
    tl_event ev;
    for (size_t i = 0; i < n; i++) {
        tl_fleet_next(f, &ev);
        size_t w = avro ? tl_avro_encode_event_confluent(&ev, 1, (uint8_t *)c->buf + used, cap - used)
                        : tl_json_encode_event(&ev, c->buf + used, cap - used);
        c->off[i] = used;
        c->len[i] = w;
        used += w;
    }
    tl_fleet_destroy(f);
}

static void emit_synth(void *ctx, const tl_event *ev);

typedef struct pipeline {
    tl_program *prog;
    tl_router router;
    tl_shard *shard;
    tl_traces *traces;
} pipeline;

static void emit_synth(void *ctx, const tl_event *ev)
{
    pipeline *p = ctx;
    tl_fold f;
    tl_router_route(&p->router, ev, &f);
    tl_shard_fold(p->shard, &f, UINT32_MAX);
}

/* mode 0: decode only; otherwise the whole per-event path for prog. Returns ns/event. */
static double run(const corpus *c, const tl_decoder *dec, tl_program *prog, uint64_t *alerts, uint64_t *decoded)
{
    static char scratch_buf[1 << 20];
    tl_json_scratch scr = {scratch_buf, sizeof scratch_buf, 0};
    tl_event ev;
    pipeline p = {.prog = prog};
    if (prog) {
        tl_shard_opts so = {0};
        p.shard = tl_shard_new(prog, &so);
        tl_router_init(&p.router, prog, 1);
        p.traces = prog->traces ? tl_traces_new(prog, 100000) : NULL;
    }
    *decoded = 0;
    int64_t wm = INT64_MIN;
    double t0 = now_s();
    for (size_t i = 0; i < c->n; i++) {
        tl_decode_err err;
        if (tl_decoder_decode(dec, c->buf + c->off[i], c->len[i], &ev, &scr, &err) < 0)
            continue;
        (*decoded)++;
        if (!prog)
            continue;
        tl_fold f;
        tl_router_route(&p.router, &ev, &f);
        tl_shard_fold(p.shard, &f, UINT32_MAX);
        if (p.traces)
            tl_traces_observe(p.traces, &ev, f.fbits, emit_synth, &p);
        if (ev.ts_ms > wm)
            wm = ev.ts_ms;
        if ((i & 1023) == 1023) { /* evaluation once per batch, as a worker does */
            if (p.traces)
                tl_traces_expire(p.traces, wm, emit_synth, &p);
            tl_shard_evaluate(p.shard, wm);
        }
    }
    double dt = now_s() - t0;
    *alerts = 0;
    if (prog) {
        tl_shard_stats st;
        tl_shard_stats_get(p.shard, &st);
        *alerts = st.alerts;
        tl_traces_destroy(p.traces);
        tl_router_fini(&p.router);
        tl_shard_destroy(p.shard);
    }
    return dt * 1e9 / (double)c->n;
}

static tl_program *load(const char *text, size_t len)
{
    tl_rules_opts ro = {.lateness_ms = 30000, .renotify_ms = 4 * 3600000LL, .check_runbooks = 0};
    char ebuf[4096] = "";
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    tl_program *p = tl_rules_load_string("rules/support-agent.yaml", text, len, &ro, &errs);
    if (!p)
        fprintf(stderr, "bench_hotpath: rules: %s\n", ebuf);
    return p;
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    int smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
    if (smoke)
        n = 20000;
    FILE *fp = fopen("rules/support-agent.yaml", "rb");
    if (!fp) {
        fprintf(stderr, "bench_hotpath: run from the repository root (rules/support-agent.yaml)\n");
        return 1;
    }
    static char pack[1 << 16];
    size_t plen = fread(pack, 1, sizeof pack - 1, fp);
    fclose(fp);
    pack[plen] = '\0';
    const char *cut = strstr(pack, "  # --- comparisons with the past");
    size_t first9 = cut ? (size_t)(cut - pack) : plen;
    tl_program *p9 = load(pack, first9), *pall = load(pack, plen);
    if (!p9 || !pall)
        return 1;
    tl_config cfg;
    tl_config_init(&cfg);
    char err[256];
    tl_decoder *dec = tl_decoder_new(&cfg, err, sizeof err);
    if (!dec) {
        fprintf(stderr, "bench_hotpath: %s\n", err);
        return 1;
    }
    int bad = 0;
    for (int avro = 0; avro < 2; avro++) {
        corpus c;
        build(&c, n, avro);
        uint64_t a0, a9, aall, d0, d9, dall;
        double best0 = 1e18, best9 = 1e18, bestall = 1e18;
        for (int rep = 0; rep < (smoke ? 1 : 3); rep++) {
            double x = run(&c, dec, NULL, &a0, &d0);
            double y = run(&c, dec, p9, &a9, &d9);
            double z = run(&c, dec, pall, &aall, &dall);
            best0 = x < best0 ? x : best0;
            best9 = y < best9 ? y : best9;
            bestall = z < bestall ? z : bestall;
        }
        const char *fmt = avro ? "avro" : "json";
        if (d0 != n || d9 != n || dall != n) {
            fprintf(stderr, "bench_hotpath: %s: decoded %llu/%llu/%llu of %zu\n", fmt, (unsigned long long)d0,
                    (unsigned long long)d9, (unsigned long long)dall, n);
            bad = 1;
        }
        printf("{\"bench\":\"hotpath\",\"format\":\"%s\",\"events\":%zu,\"threads\":1,"
               "\"decode_only_ns\":%.1f,\"pack9_ns\":%.1f,\"pack_all_ns\":%.1f,"
               "\"pack_all_events_per_sec\":%.0f,\"new_kinds_ns\":%.1f,\"alerts_pack9\":%llu,\"alerts_pack_all\":%llu}\n",
               fmt, n, best0, best9, bestall, 1e9 / bestall, bestall - best9, (unsigned long long)a9,
               (unsigned long long)aall);
        fprintf(stderr,
                "hotpath %s: decode %.0f ns/event; + 9 rules %.0f ns; + all 13 rules (baseline, release, sequence, "
                "per-trace) %.0f ns = %.2fM events/s on one core; the newer rule kinds add %.0f ns/event\n",
                fmt, best0, best9, bestall, 1e3 / bestall, bestall - best9);
        free(c.buf);
        free(c.off);
        free(c.len);
    }
    tl_decoder_destroy(dec);
    tl_config_fini(&cfg);
    tl_program_destroy(p9);
    tl_program_destroy(pall);
    return bad;
}
