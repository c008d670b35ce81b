/* engine/decode.c - format detection, the Confluent schema registry and the far-future
 * timestamp check (see decode.h). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "avro_decode.h"
#include "decode.h"
#include "timefmt.h"

/* Latest event time accepted, as in json_decode.c: 9999-12-31T23:59:59.999Z. */
#define TS_MAX_MS INT64_C(253402300799999)

typedef struct reg_entry {
    uint32_t id;
    tl_avro_prog *prog;
} reg_entry;

/* The only state decoding writes, on the far-future path only: kept out of struct tl_decoder
 * (whose fields every decode reads) so the decoder stays immutable and its cache line clean. */
typedef struct future_state {
    _Atomic int64_t now_floor; /* a wall-clock time already reached (epoch ms) */
    _Atomic uint64_t clamped, rejected;
} future_state;

struct tl_decoder {
    tl_input_format format;
    size_t max_bytes;
    int64_t max_future_ms; /* 0: no far-future check */
    int clamp_future;
    int raw_builtin; /* raw Avro uses the built-in schema (timestamp first) */
    tl_avro_prog *raw;
    reg_entry *reg;
    size_t nreg;
    int64_t (*clock)(void);
    future_state *fut;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts); /* vDSO, a few ns; coarse (~4 ms) is plenty */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static tl_avro_prog *load_prog(const char *path, char *err, size_t errcap)
{
    char msg[512];
    if (!path)
        return tl_avro_prog_new(tl_trace_event_schema_json, strlen(tl_trace_event_schema_json), err, errcap);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: cannot open Avro schema", path);
        return NULL;
    }
    char *buf = tl_malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    tl_avro_prog *p = tl_avro_prog_new(buf, n, msg, sizeof msg);
    tl_free(buf);
    if (!p)
        snprintf(err, errcap, "%s: %s", path, msg);
    return p;
}

tl_decoder *tl_decoder_new(const tl_config *cfg, char *err, size_t errcap)
{
    tl_decoder *d = tl_calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    d->format = cfg->input_format;
    d->max_bytes = cfg->max_message_bytes;
    d->max_future_ms = cfg->max_future_ms > 0 ? cfg->max_future_ms : 0;
    d->clamp_future = cfg->clamp_future;
    d->clock = wall_ms;
    d->fut = tl_calloc(1, sizeof *d->fut);
    if (!d->fut) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }
    d->raw = load_prog(cfg->avro_schema, err, errcap);
    d->raw_builtin = cfg->avro_schema == NULL;
    d->reg = tl_calloc(cfg->n_registry + 1, sizeof *d->reg);
    if (!d->raw || !d->reg)
        goto fail;
    int have1 = 0;
    for (size_t i = 0; i < cfg->n_registry; i++) {
        d->reg[d->nreg].id = cfg->registry[i].id;
        d->reg[d->nreg].prog = load_prog(cfg->registry[i].path, err, errcap);
        if (!d->reg[d->nreg].prog)
            goto fail;
        have1 |= cfg->registry[i].id == 1;
        d->nreg++;
    }
    if (!have1) {
        d->reg[d->nreg].id = 1;
        d->reg[d->nreg].prog = load_prog(NULL, err, errcap);
        if (!d->reg[d->nreg].prog)
            goto fail;
        d->nreg++;
    }
    return d;
fail:
    tl_decoder_destroy(d);
    return NULL;
}

void tl_decoder_destroy(tl_decoder *d)
{
    if (!d)
        return;
    tl_avro_prog_destroy(d->raw);
    for (size_t i = 0; i < d->nreg; i++)
        tl_avro_prog_destroy(d->reg[i].prog);
    tl_free(d->reg);
    tl_free(d->fut);
    tl_free(d);
}

void tl_decoder_set_clock(tl_decoder *d, int64_t (*now_ms)(void))
{
    d->clock = now_ms ? now_ms : wall_ms;
    atomic_store_explicit(&d->fut->now_floor, 0, memory_order_relaxed);
}

void tl_decoder_stats_get(const tl_decoder *d, tl_decoder_stats *out)
{
    out->future_clamped = atomic_load_explicit(&d->fut->clamped, memory_order_relaxed);
    out->future_rejected = atomic_load_explicit(&d->fut->rejected, memory_order_relaxed);
}

/* An Avro record, then the timestamp range the JSON decoder also enforces (an Avro long can
 * hold any time; before 1970 or after 9999 it is no event time). */
static int decode_avro(const tl_avro_prog *p, const uint8_t *b, size_t len, size_t base, tl_event *ev,
                       tl_decode_err *err)
{
    if (tl_avro_decode(p, b, len, ev, err) < 0) {
        err->offset += (uint32_t)base;
        return -1;
    }
    if (ev->ts_ms < 0 || ev->ts_ms > TS_MAX_MS)
        return tl_decode_fail(err, TL_DECODE_BAD_TIMESTAMP, base, "%" PRId64 " ms is outside 1970..9999", ev->ts_ms);
    return 0;
}

/* Raw Avro. With the built-in schema the record starts with the timestamp, whose zig-zag
 * varint starts with a byte >= 0x80 for any time after 1970-01-01T00:00:00.063Z: a first
 * byte below 0x80 (and not 0x00, '{', whitespace) is a Confluent frame with a wrong magic
 * byte, or some other producer's bytes, not an event. */
static int decode_raw(const tl_decoder *d, const uint8_t *b, size_t len, tl_event *ev, tl_decode_err *err)
{
    if (d->raw_builtin && b[0] < 0x80)
        return tl_decode_fail(err, TL_DECODE_BAD_MAGIC, 0,
                              "first byte 0x%02x: not 0x00 (Confluent), '{' (JSON) or an Avro timestamp", b[0]);
    return decode_avro(d->raw, b, len, 0, ev, err);
}

static int decode_framed(const tl_decoder *d, const uint8_t *b, size_t len, tl_event *ev, tl_decode_err *err)
{
    if (len < 5)
        return tl_decode_fail(err, TL_DECODE_SHORT_FRAME, len, NULL);
    uint32_t id = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
    for (size_t i = 0; i < d->nreg; i++)
        if (d->reg[i].id == id)
            return decode_avro(d->reg[i].prog, b + 5, len - 5, 5, ev, err);
    return tl_decode_fail(err, TL_DECODE_UNKNOWN_SCHEMA, 1, "schema id %u is not in the registry", id);
}

static inline int decode_any(const tl_decoder *d, const void *msg, size_t len, tl_event *ev,
                             tl_json_scratch *scratch, tl_decode_err *err)
{
    const uint8_t *b = msg;
    if (len == 0 || !msg)
        return tl_decode_fail(err, TL_DECODE_EMPTY, 0, NULL);
    if (d->max_bytes && len > d->max_bytes)
        return tl_decode_fail(err, TL_DECODE_TOO_LARGE, 0, "%zu bytes, limit %zu", len, d->max_bytes);
    size_t i = 0;
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    int looks_json = i < len && b[i] == '{';
    switch (d->format) {
    case TL_IN_JSON:
        return tl_json_decode(msg, len, ev, scratch, err);
    case TL_IN_AVRO:
        if (b[0] == 0)
            return decode_framed(d, b, len, ev, err);
        return decode_raw(d, b, len, ev, err);
    case TL_IN_AUTO:
    default:
        if (b[0] == 0)
            return decode_framed(d, b, len, ev, err);
        if (looks_json)
            return tl_json_decode(msg, len, ev, scratch, err);
        if (i > 0 || b[0] == '[' || b[0] == '"')
            return tl_decode_fail(err, TL_DECODE_NOT_OBJECT, i, "JSON input must be one object per message");
        return decode_raw(d, b, len, ev, err);
    }
}

/* The slow half of the far-future check: ev->ts_ms lies beyond the cached floor + limit. Read
 * the clock, raise the floor (any thread's newer reading is as good: the floor only has to be
 * a time already reached), then decide. */
static int __attribute__((noinline)) future_slow(const tl_decoder *d, tl_event *ev, tl_decode_err *err)
{
    future_state *f = d->fut;
    int64_t now = d->clock();
    int64_t floor = atomic_load_explicit(&f->now_floor, memory_order_relaxed);
    while (now > floor &&
           !atomic_compare_exchange_weak_explicit(&f->now_floor, &floor, now, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
    int64_t limit = now + d->max_future_ms;
    if (ev->ts_ms <= limit)
        return 0;
    if (d->clamp_future) {
        ev->ts_ms = limit;
        atomic_fetch_add_explicit(&f->clamped, 1, memory_order_relaxed);
        return 0;
    }
    atomic_fetch_add_explicit(&f->rejected, 1, memory_order_relaxed);
    char ahead[40], max[40];
    int64_t over = ev->ts_ms - now;
    tl_duration_format(over >= 1000 ? over - over % 1000 : over, ahead, sizeof ahead);
    tl_duration_format(d->max_future_ms, max, sizeof max);
    return tl_decode_fail(err, TL_DECODE_BAD_TIMESTAMP, 0, "%s ahead of the wall clock, limit %s", ahead, max);
}

int tl_decoder_decode(const tl_decoder *d, const void *msg, size_t len, tl_event *ev, tl_json_scratch *scratch,
                      tl_decode_err *err)
{
    int rc = decode_any(d, msg, len, ev, scratch, err);
    /* floor >= 0 and max_future <= 365d: the sum cannot overflow, whatever ts_ms an Avro
     * record carried */
    if (rc == 0 && d->max_future_ms &&
        __builtin_expect(ev->ts_ms > atomic_load_explicit(&d->fut->now_floor, memory_order_relaxed) +
                                         d->max_future_ms,
                         0))
        return future_slow(d, ev, err);
    return rc;
}
