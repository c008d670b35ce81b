/* bench/bench_decode_avro.c - the compiled Avro decoder against avro-c's generic reader.
 *
 * Why: tl_avro_decode exists because avro-c's avro_value_read() was too slow for the
 * per-event path (see engine/avro_decode.h). This bench keeps that claim honest: it encodes
 * N fleet-like trace events (about 13 populated fields, some flags, two attributes) with
 * tl_avro_encode_event, then times, in the same process and over the same bytes,
 *   (a) baseline: avro-c avro_value_read into one reused generic value, pointing one memory
 *       reader at each record with avro_reader_memory_set_source;
 *   (b) tl_avro_decode into one reused tl_event.
 * Best of 3 runs each. Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID): the
 * development machines are shared by several builds at once, and wall time then measures
 * the neighbours; wall time is reported too (wall_ns_per_event). Before timing, both decoders must accept every record and agree on
 * the timestamp, tool, status, latency, token counts, flag and attribute counts.
 *
 * Output: one JSON object per result on stdout, then one summary line.
 * Usage: bench_decode_avro [--smoke] [N]   (default N = 1000000; --smoke: N = 2000)
 */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "avro_decode.h"
#include "avro_encode.h"

#define REPS 3

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static double now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Best (smallest) CPU and wall time over the repetitions. */
struct best {
    double cpu, wall;
};

static void best_update(struct best *b, double cpu0, double wall0)
{
    double cpu = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    double wall = now_ns(CLOCK_MONOTONIC) - wall0;
    if (cpu < b->cpu)
        b->cpu = cpu;
    if (wall < b->wall)
        b->wall = wall;
}

/* Text storage for one synthetic event. */
struct ev_text {
    char trace[33], span[17], parent[17];
};

static const char *const services[] = {"support-bot", "coding-agent", "workflow-agent"};
static const char *const kinds[] = {"llm_call", "tool_call", "retrieval", "request", "guardrail"};
static const char *const tools[] = {"get_order_status", "search_kb", "refund", "run_tests"};
static const char *const models[] = {"gpt-4o", "claude-sonnet-4", "llama-3-70b"};
static const char *const providers[] = {"openai", "anthropic", "vllm"};
static const char *const flag_names[] = {"retry", "invalid_output", "refusal", "escalation"};

static void hex(uint64_t *s, char *out, int n)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < n; i++)
        out[i] = digits[rng_next(s) & 15];
    out[n] = '\0';
}

static void set_c(tl_event *ev, enum tl_str_field f, const char *s)
{
    tl_event_set_str(ev, f, s, (uint32_t)strlen(s));
}

/* A fleet-like event: ids, service, kind, tool or model/provider, versions, status,
 * latency, tokens, cost; occasionally flags; two attributes. */
static void make_event(uint64_t *s, int64_t ts, tl_event *ev, struct ev_text *t)
{
    tl_event_reset(ev);
    ev->ts_ms = ts;
    hex(s, t->trace, 32);
    hex(s, t->span, 16);
    hex(s, t->parent, 16);
    set_c(ev, TL_S_TRACE_ID, t->trace);
    set_c(ev, TL_S_SPAN_ID, t->span);
    set_c(ev, TL_S_PARENT_SPAN_ID, t->parent);
    set_c(ev, TL_S_SERVICE, services[rng_next(s) % 3]);
    const char *kind = kinds[rng_next(s) % 5];
    set_c(ev, TL_S_KIND, kind);
    set_c(ev, TL_S_TOOL, tools[rng_next(s) % 4]);
    set_c(ev, TL_S_MODEL, models[rng_next(s) % 3]);
    set_c(ev, TL_S_PROVIDER, providers[rng_next(s) % 3]);
    set_c(ev, TL_S_PROMPT_VERSION, "v12");
    uint64_t r = rng_next(s) % 100;
    set_c(ev, TL_S_STATUS, r < 95 ? "ok" : r < 98 ? "error" : "timeout");
    if (r >= 95)
        set_c(ev, TL_S_ERROR_TYPE, "upstream_5xx");
    tl_event_set_num(ev, TL_N_LATENCY_MS, (double)(rng_next(s) % 20000) / 7.0);
    if (strcmp(kind, "llm_call") == 0) {
        double in = (double)(rng_next(s) % 4000), out = (double)(rng_next(s) % 800);
        tl_event_set_num(ev, TL_N_INPUT_TOKENS, in);
        tl_event_set_num(ev, TL_N_OUTPUT_TOKENS, out);
        tl_event_set_num(ev, TL_N_COST_USD, in * 3e-6 + out * 15e-6);
    }
    ev->n_flags = rng_next(s) % 10 == 0 ? 1 + (uint32_t)(rng_next(s) % 2) : 0;
    for (uint32_t i = 0; i < ev->n_flags; i++)
        ev->flags[i] = tl_str_c(flag_names[rng_next(s) % 4]);
    ev->n_attrs = 2;
    ev->attr_key[0] = TL_STR_LIT("region");
    ev->attr_val[0] = TL_STR_LIT("eu-west-1");
    ev->attr_key[1] = TL_STR_LIT("tenant");
    ev->attr_val[1] = rng_next(s) % 2 ? TL_STR_LIT("acme") : TL_STR_LIT("globex");
}

static int avro_str_eq(avro_value_t *rec, const char *field, const tl_event *ev,
                       enum tl_str_field f)
{
    avro_value_t u, b;
    int disc;
    const char *p;
    size_t size;
    if (avro_value_get_by_name(rec, field, &u, NULL) || avro_value_get_discriminant(&u, &disc))
        return 0;
    if (!disc)
        return !(ev->str_present & (1u << f));
    if (avro_value_get_current_branch(&u, &b) || avro_value_get_string(&b, &p, &size))
        return 0;
    return (ev->str_present & (1u << f)) && tl_str_eq(tl_str_make(p, size - 1), ev->str[f]);
}

static int avro_num_eq(avro_value_t *rec, const char *field, const tl_event *ev,
                       enum tl_num_field f, int is_long)
{
    avro_value_t u, b;
    int disc;
    if (avro_value_get_by_name(rec, field, &u, NULL) || avro_value_get_discriminant(&u, &disc))
        return 0;
    if (!disc)
        return !(ev->num_present & (1u << f));
    if (avro_value_get_current_branch(&u, &b) || !(ev->num_present & (1u << f)))
        return 0;
    if (is_long) {
        int64_t l;
        return avro_value_get_long(&b, &l) == 0 && (double)l == ev->num[f];
    }
    double d;
    return avro_value_get_double(&b, &d) == 0 && d == ev->num[f];
}

/* Both decoders agree on record i. */
static int agree(avro_value_t *rec, const tl_event *ev)
{
    avro_value_t f;
    int64_t ts;
    size_t n;
    if (avro_value_get_by_name(rec, "timestamp", &f, NULL) || avro_value_get_long(&f, &ts) ||
        ts != ev->ts_ms)
        return 0;
    if (!avro_str_eq(rec, "tool", ev, TL_S_TOOL) || !avro_str_eq(rec, "status", ev, TL_S_STATUS) ||
        !avro_str_eq(rec, "trace_id", ev, TL_S_TRACE_ID))
        return 0;
    if (!avro_num_eq(rec, "latency_ms", ev, TL_N_LATENCY_MS, 0) ||
        !avro_num_eq(rec, "input_tokens", ev, TL_N_INPUT_TOKENS, 1) ||
        !avro_num_eq(rec, "output_tokens", ev, TL_N_OUTPUT_TOKENS, 1))
        return 0;
    if (avro_value_get_by_name(rec, "flags", &f, NULL) || avro_value_get_size(&f, &n) ||
        n != ev->n_flags)
        return 0;
    if (avro_value_get_by_name(rec, "attributes", &f, NULL) || avro_value_get_size(&f, &n) ||
        n != ev->n_attrs)
        return 0;
    return 1;
}

static void report(const char *impl, size_t n, struct best b, size_t bytes)
{
    printf("{\"bench\":\"decode_avro\",\"impl\":\"%s\",\"events\":%zu,\"avg_bytes\":%.1f,"
           "\"ns_per_event\":%.2f,\"events_per_sec\":%.0f,\"wall_ns_per_event\":%.2f}\n",
           impl, n, (double)bytes / (double)n, b.cpu / (double)n, (double)n * 1e9 / b.cpu,
           b.wall / (double)n);
}

int main(int argc, char **argv)
{
    size_t n = 1000000;
    int smoke = 0;
    int rc = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            smoke = 1;
            n = 2000;
        } else {
            n = strtoull(argv[i], NULL, 10);
        }
    }
    if (n == 0)
        n = 1;

    uint8_t *data = malloc(n * 512);
    size_t *off = malloc((n + 1) * sizeof *off);
    tl_avro_prog *prog = NULL;
    avro_schema_t schema = NULL;
    avro_value_iface_t *iface = NULL;
    avro_value_t val;
    int have_val = 0;
    avro_reader_t rd = NULL;
    char errbuf[256];
    static tl_event ev;
    if (!data || !off) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }

    /* Encode the corpus. */
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    struct ev_text text;
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        make_event(&seed, 1764265338000 + (int64_t)i * 3, &ev, &text);
        size_t len = tl_avro_encode_event(&ev, data + off[i], 512);
        if (!len) {
            fprintf(stderr, "encode failed at %zu\n", i);
            goto out;
        }
        off[i + 1] = off[i] + len;
    }

    prog = tl_avro_prog_new(tl_trace_event_schema_json, strlen(tl_trace_event_schema_json),
                            errbuf, sizeof errbuf);
    if (!prog) {
        fprintf(stderr, "compile: %s\n", errbuf);
        goto out;
    }
    if (avro_schema_from_json_length(tl_trace_event_schema_json,
                                     strlen(tl_trace_event_schema_json), &schema) ||
        !(iface = avro_generic_class_from_schema(schema)) || avro_generic_value_new(iface, &val)) {
        fprintf(stderr, "avro-c: %s\n", avro_strerror());
        goto out;
    }
    have_val = 1;
    rd = avro_reader_memory((const char *)data, (int64_t)off[1]);

    /* Check: both decoders accept every record (every 97th checked field by field). */
    for (size_t i = 0; i < n; i++) {
        tl_decode_err err;
        size_t len = off[i + 1] - off[i];
        if (tl_avro_decode(prog, data + off[i], len, &ev, &err)) {
            fprintf(stderr, "tl_avro_decode failed on record %zu: %s\n", i,
                    tl_decode_err_format(&err, errbuf, sizeof errbuf));
            goto out;
        }
        if (!smoke && i % 97)
            continue;
        avro_reader_memory_set_source(rd, (const char *)data + off[i], (int64_t)len);
        if (avro_value_read(rd, &val)) {
            fprintf(stderr, "avro-c failed on record %zu: %s\n", i, avro_strerror());
            goto out;
        }
        if (!agree(&val, &ev)) {
            fprintf(stderr, "decoders disagree on record %zu\n", i);
            goto out;
        }
    }

    /* (a) avro-c generic reader. */
    struct best avro = {1e300, 1e300}, tl = {1e300, 1e300};
    for (int rep = 0; rep < REPS; rep++) {
        double c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns(CLOCK_MONOTONIC);
        for (size_t i = 0; i < n; i++) {
            avro_reader_memory_set_source(rd, (const char *)data + off[i],
                                          (int64_t)(off[i + 1] - off[i]));
            if (avro_value_read(rd, &val)) {
                fprintf(stderr, "avro-c failed on record %zu\n", i);
                goto out;
            }
        }
        best_update(&avro, c0, w0);
    }

    /* (b) tl_avro_decode. */
    uint64_t sink = 0;
    for (int rep = 0; rep < REPS; rep++) {
        double c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns(CLOCK_MONOTONIC);
        for (size_t i = 0; i < n; i++) {
            tl_decode_err err;
            if (tl_avro_decode(prog, data + off[i], off[i + 1] - off[i], &ev, &err)) {
                fprintf(stderr, "tl_avro_decode failed on record %zu\n", i);
                goto out;
            }
            sink += (uint64_t)ev.ts_ms + ev.n_flags + ev.str[TL_S_TOOL].n;
        }
        best_update(&tl, c0, w0);
    }
    if (sink == 0) {
        fprintf(stderr, "nothing decoded\n");
        goto out;
    }

    double best_avro = avro.cpu, best_tl = tl.cpu;
    report("avro_c_generic", n, avro, off[n]);
    report("tl_avro_decode", n, tl, off[n]);
    printf("{\"bench\":\"decode_avro\",\"metric\":\"speedup_vs_avro_c\",\"value\":%.2f}\n",
           best_avro / best_tl);
    fprintf(stderr, "decode_avro: %zu events of %.0f bytes: tl_avro_decode %.1f ns/event (%.2f M/s), "
           "avro-c generic %.1f ns/event (%.2f M/s): %.1fx faster%s\n",
           n, (double)off[n] / (double)n, best_tl / (double)n, (double)n * 1e3 / best_tl,
           best_avro / (double)n, (double)n * 1e3 / best_avro, best_avro / best_tl,
           smoke ? " (smoke)" : "");
    rc = 0;

out:
    if (rd)
        avro_reader_free(rd);
    if (have_val)
        avro_value_decref(&val);
    if (iface)
        avro_value_iface_decref(iface);
    if (schema)
        avro_schema_decref(schema);
    tl_avro_prog_destroy(prog);
    free(data);
    free(off);
    return rc;
}
