/* bench/bench_decode_json.c - JSON trace-event decoding: tl_json_decode vs jansson.
 *
 * Builds N synthetic ~300-byte trace events in memory (varied services, kinds, tools,
 * statuses; some flags and attributes; a few strings that need escapes), then times, over
 * the whole set, (a) jansson json_loadb + json_decref per event (the generic-tree baseline)
 * and (b) tl_json_decode into one reused tl_event. Each is run `reps` times and the best
 * run is reported, so both see the same warm data in the same process.
 *
 * Output: one JSON object per line per implementation plus a speedup line, then a human
 * summary. --smoke: N=2000, one rep, and every decode is checked against the event it was
 * encoded from (exit 1 on any mismatch or failure).
 *
 * Usage: bench_decode_json [--smoke] [--n N] [--reps R]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "alloc.h"
#include "json_decode.h"
#include "json_encode.h"

#if defined(__has_include)
#if __has_include(<jansson.h>)
#include <jansson.h>
#define HAVE_JANSSON 1
#endif
#endif
#ifndef HAVE_JANSSON
#define HAVE_JANSSON 0
#endif

typedef struct corpus {
    char *buf;       /* all messages back to back */
    size_t *off;     /* message i is buf[off[i] .. off[i+1]) */
    size_t n;
    size_t bytes;
} corpus;

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static const char *const services[] = {"checkout-agent", "support-bot", "search-assistant",
                                       "code-reviewer", "travel-planner", "billing-agent",
                                       "onboarding-guide", "fraud-triage"};
static const char *const kinds[] = {"llm_call", "llm_call", "llm_call", "tool_call", "tool_call",
                                    "retrieval", "request", "guardrail", "feedback"};
static const char *const tools[] = {"search_kb", "get_order", "refund", "send_email", "calendar",
                                    "sql_query", "web_fetch", "translate", "say \"hello\"",
                                    "run\tscript"};
static const char *const models[] = {"gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-3-70b",
                                     "mistral-large"};
static const char *const providers[] = {"openai", "anthropic", "bedrock"};
static const char *const statuses[] = {"ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok",
                                       "ok", "ok", "ok", "ok", "ok", "error", "timeout",
                                       "rate_limited"};
static const char *const errors[] = {"timeout", "upstream_5xx", "invalid_output", "quota"};
static const char *const flag_names[] = {"retry", "refusal", "escalation", "invalid_output",
                                         "thumbs_down", "policy_violation"};
static const char *const regions[] = {"eu-west-1", "us-east-1", "ap-south-1", "caf\xc3\xa9\n"};
#define PICK(arr, r) (arr)[(r) % (sizeof(arr) / sizeof((arr)[0]))]

/* Fills ev with a synthetic event; strings point into `pool` or static tables. */
static void make_event(uint64_t *rng, size_t i, tl_event *ev, char *pool)
{
    static const char hex[] = "0123456789abcdef";
    tl_event_reset(ev);
    ev->ts_ms = INT64_C(1795801338123) + (int64_t)i * 3;
    for (int k = 0; k < 64; k++)
        pool[k] = hex[rng_next(rng) & 15];
    tl_event_set_str(ev, TL_S_TRACE_ID, pool, 32);
    tl_event_set_str(ev, TL_S_SPAN_ID, pool + 32, 16);
    if (rng_next(rng) % 4)
        tl_event_set_str(ev, TL_S_PARENT_SPAN_ID, pool + 48, 16);
    const char *s = PICK(services, rng_next(rng));
    tl_event_set_str(ev, TL_S_SERVICE, s, (uint32_t)strlen(s));
    const char *kind = PICK(kinds, rng_next(rng));
    tl_event_set_str(ev, TL_S_KIND, kind, (uint32_t)strlen(kind));
    if (kind[0] == 'l') {
        const char *m = PICK(models, rng_next(rng));
        const char *p = PICK(providers, rng_next(rng));
        tl_event_set_str(ev, TL_S_MODEL, m, (uint32_t)strlen(m));
        tl_event_set_str(ev, TL_S_PROVIDER, p, (uint32_t)strlen(p));
        tl_event_set_str(ev, TL_S_PROMPT_VERSION, "v12", 3);
        tl_event_set_num(ev, TL_N_INPUT_TOKENS, (double)(200 + rng_next(rng) % 4000));
        tl_event_set_num(ev, TL_N_OUTPUT_TOKENS, (double)(10 + rng_next(rng) % 800));
        tl_event_set_num(ev, TL_N_COST_USD, (double)(rng_next(rng) % 50000) / 1e6);
    } else if (kind[0] == 't') {
        /* Mostly plain names; "say \"hello\"" and "run\tscript" need escapes. */
        uint64_t r = rng_next(rng);
        const char *t = r % 50 == 0 ? tools[8 + (r >> 8) % 2] : tools[(r >> 8) % 8];
        tl_event_set_str(ev, TL_S_TOOL, t, (uint32_t)strlen(t));
    }
    const char *st = PICK(statuses, rng_next(rng));
    tl_event_set_str(ev, TL_S_STATUS, st, (uint32_t)strlen(st));
    if (st[0] != 'o') {
        const char *e = PICK(errors, rng_next(rng));
        tl_event_set_str(ev, TL_S_ERROR_TYPE, e, (uint32_t)strlen(e));
    }
    tl_event_set_num(ev, TL_N_LATENCY_MS, (double)(rng_next(rng) % 300000) / 10.0);
    if (kind[0] == 'f')
        tl_event_set_num(ev, TL_N_SCORE, (double)(rng_next(rng) % 5) / 4.0);
    if (rng_next(rng) % 10 == 0) {
        uint32_t nf = 1 + (uint32_t)(rng_next(rng) % 2);
        for (uint32_t k = 0; k < nf; k++)
            ev->flags[ev->n_flags++] = tl_str_c(PICK(flag_names, rng_next(rng)));
    }
    if (rng_next(rng) % 3 == 0) {
        uint64_t r = rng_next(rng);
        ev->attr_key[ev->n_attrs] = TL_STR_LIT("region");
        ev->attr_val[ev->n_attrs++] = tl_str_c(r % 40 ? regions[(r >> 8) % 3] : regions[3]);
        if (r & 1) {
            ev->attr_key[ev->n_attrs] = TL_STR_LIT("user_tier");
            ev->attr_val[ev->n_attrs++] = TL_STR_LIT("enterprise");
        }
    }
}

static int same_event(const tl_event *a, const tl_event *b)
{
    if (a->ts_ms != b->ts_ms || a->str_present != b->str_present ||
        a->num_present != b->num_present || a->n_flags != b->n_flags || a->n_attrs != b->n_attrs)
        return 0;
    for (int f = 0; f < TL_S__COUNT; f++)
        if ((a->str_present & (1u << f)) && !tl_str_eq(a->str[f], b->str[f]))
            return 0;
    for (int f = 0; f < TL_N__COUNT; f++)
        if ((a->num_present & (1u << f)) && a->num[f] != b->num[f])
            return 0;
    for (uint32_t k = 0; k < a->n_flags; k++)
        if (!tl_str_eq(a->flags[k], b->flags[k]))
            return 0;
    for (uint32_t k = 0; k < a->n_attrs; k++)
        if (!tl_str_eq(a->attr_key[k], b->attr_key[k]) || !tl_str_eq(a->attr_val[k], b->attr_val[k]))
            return 0;
    return 1;
}

/* Builds the corpus; with `verify`, decodes each message right away and compares it with the
 * event it came from. Returns the number of mismatches, or -1 on allocation failure. */
static long build_corpus(corpus *c, size_t n, int verify)
{
    size_t cap = n * 400 + 4096;
    static tl_event src, back;
    char pool[64];
    char *scratch = tl_malloc(4096);
    tl_json_scratch sc = {scratch, 4096, 0};
    uint64_t rng = 0x5eed5eed5eedull;
    long bad = 0;
    c->buf = tl_malloc(cap);
    c->off = tl_malloc((n + 1) * sizeof *c->off);
    c->n = n;
    if (!c->buf || !c->off || !scratch) {
        tl_free(scratch);
        return -1;
    }
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        make_event(&rng, i, &src, pool);
        c->off[i] = pos;
        size_t len = tl_json_encode_event(&src, c->buf + pos, cap - pos);
        if (len == 0) {
            bad++;
            continue;
        }
        if (verify) {
            tl_decode_err err;
            if (tl_json_decode(c->buf + pos, len, &back, &sc, &err) != 0 || !same_event(&src, &back)) {
                fprintf(stderr, "bench_decode_json: event %zu does not round-trip: %.*s\n", i,
                        (int)len, c->buf + pos);
                bad++;
            }
        }
        pos += len;
    }
    c->off[n] = pos;
    c->bytes = pos;
    tl_free(scratch);
    return bad;
}

typedef struct result {
    double best_s;
    long failures;
    uint64_t checksum;
} result;

static result run_tripline(const corpus *c, int reps)
{
    static tl_event ev;
    static char scratch[1 << 16];
    tl_json_scratch sc = {scratch, sizeof scratch, 0};
    result r = {1e30, 0, 0};
    for (int rep = 0; rep < reps; rep++) {
        long failures = 0;
        uint64_t sum = 0;
        tl_decode_err err;
        double t0 = tl_bench_now_s();
        for (size_t i = 0; i < c->n; i++) {
            if (tl_json_decode(c->buf + c->off[i], c->off[i + 1] - c->off[i], &ev, &sc, &err) != 0)
                failures++;
            sum += (uint64_t)ev.ts_ms + ev.str[TL_S_SERVICE].n + ev.n_flags;
        }
        double dt = tl_bench_now_s() - t0;
        if (dt < r.best_s)
            r.best_s = dt;
        r.failures += failures;
        r.checksum = sum;
    }
    return r;
}

#if HAVE_JANSSON
static result run_jansson(const corpus *c, int reps)
{
    result r = {1e30, 0, 0};
    for (int rep = 0; rep < reps; rep++) {
        long failures = 0;
        uint64_t sum = 0;
        json_error_t jerr;
        double t0 = tl_bench_now_s();
        for (size_t i = 0; i < c->n; i++) {
            json_t *root = json_loadb(c->buf + c->off[i], c->off[i + 1] - c->off[i], 0, &jerr);
            if (!root) {
                failures++;
                continue;
            }
            sum += json_object_size(root);
            json_decref(root);
        }
        double dt = tl_bench_now_s() - t0;
        if (dt < r.best_s)
            r.best_s = dt;
        r.failures += failures;
        r.checksum = sum;
    }
    return r;
}
#endif

static void print_result(const char *impl, const corpus *c, const result *r)
{
    double eps = (double)c->n / r->best_s;
    printf("{\"bench\":\"decode_json\",\"impl\":\"%s\",\"events\":%zu,\"avg_bytes\":%.1f,"
           "\"seconds\":%.4f,\"events_per_s\":%.0f,\"ns_per_event\":%.1f,\"mb_per_s\":%.1f,"
           "\"failures\":%ld}\n",
           impl, c->n, (double)c->bytes / (double)c->n, r->best_s, eps, 1e9 * r->best_s / (double)c->n,
           (double)c->bytes / r->best_s / 1e6, r->failures);
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    int reps = 3, smoke = 0, rc = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            smoke = 1;
            n = 2000;
            reps = 1;
        } else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
            n = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--smoke] [--n N] [--reps R]\n", argv[0]);
            return 2;
        }
    }
    if (n == 0 || reps < 1) {
        fprintf(stderr, "bench_decode_json: N and reps must be positive\n");
        return 2;
    }

    corpus c = {0};
    long bad = build_corpus(&c, n, smoke);
    if (bad != 0) {
        fprintf(stderr, "bench_decode_json: corpus build failed (%ld bad events)\n", bad);
        goto out;
    }

    result tl = run_tripline(&c, reps);
    print_result("tripline", &c, &tl);
    double tl_eps = (double)n / tl.best_s;
#if HAVE_JANSSON
    result js = run_jansson(&c, reps);
    print_result("jansson", &c, &js);
    double js_eps = (double)n / js.best_s;
    printf("{\"bench\":\"decode_json\",\"metric\":\"speedup_vs_jansson\",\"value\":%.2f}\n", tl_eps / js_eps);
    fprintf(stderr, "decode_json: tripline %.2fM events/s (%.0f ns/event), jansson %.2fM events/s (%.0f ns/event), "
           "speedup %.1fx; %zu events, %.0f bytes avg, best of %d\n",
           tl_eps / 1e6, 1e9 / tl_eps, js_eps / 1e6, 1e9 / js_eps, tl_eps / js_eps, n,
           (double)c.bytes / (double)n, reps);
    if (js.failures) {
        fprintf(stderr, "bench_decode_json: jansson rejected %ld events\n", js.failures);
        goto out;
    }
#else
    fprintf(stderr, "decode_json: tripline %.2fM events/s (%.0f ns/event); jansson not available, no baseline; "
           "%zu events, %.0f bytes avg, best of %d\n",
           tl_eps / 1e6, 1e9 / tl_eps, n, (double)c.bytes / (double)n, reps);
#endif
    if (tl.failures) {
        fprintf(stderr, "bench_decode_json: tl_json_decode rejected %ld events\n", tl.failures);
        goto out;
    }
    rc = 0;
out:
    tl_free(c.buf);
    tl_free(c.off);
    return rc;
}
