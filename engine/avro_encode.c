/* engine/avro_encode.c - a tl_event as Avro binary in the built-in trace_event schema.
 *
 * Why hand-written: the synthetic fleet, the benches and the tests produce millions of
 * events; going through avro-c's generic value tree would cost more than decoding them. The
 * field order below is schemas/trace_event.avsc's, which is also the X-macro order of
 * include/tripline/event.h (timestamp, the string fields, the numeric fields, flags,
 * attributes); the tests check the output against avro-c reading it with that schema.
 *
 * Encoding choices: absent fields are written as the null branch (index 0) of their
 * [null, T] union; flags and attributes are one block (or none when empty); token counts
 * (held as doubles) are rounded to the nearest integer and clamped to the int64 range, NaN
 * becoming 0. Flags/attributes beyond the event's limits are not possible (n_flags and
 * n_attrs are clamped to TL_EVENT_MAX_FLAGS/ATTRS).
 *
 * Pure functions of their arguments; thread-safe.
 */
#include <math.h>
#include <string.h>

#include "avro_encode.h"

struct wr {
    uint8_t *p, *e;
    int ok;
};

static void w_bytes(struct wr *w, const void *src, size_t n)
{
    if (!w->ok || (size_t)(w->e - w->p) < n) {
        w->ok = 0;
        return;
    }
    if (n)
        memcpy(w->p, src, n);
    w->p += n;
}

static void w_long(struct wr *w, int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63)); /* zig-zag */
    uint8_t tmp[10];
    size_t n = 0;
    while (u >= 0x80) {
        tmp[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    tmp[n++] = (uint8_t)u;
    w_bytes(w, tmp, n);
}

static void w_str(struct wr *w, tl_str s)
{
    w_long(w, (int64_t)s.n);
    w_bytes(w, s.p, s.n);
}

static void w_double(struct wr *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap64(u);
#endif
    w_bytes(w, &u, 8);
}

static int64_t to_long(double v)
{
    if (isnan(v))
        return 0;
    if (v >= 9223372036854775807.0) /* 2^63 as a double */
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)round(v);
}

size_t tl_avro_encode_event(const tl_event *ev, uint8_t *out, size_t cap)
{
    struct wr w = {out, out + cap, 1};

    w_long(&w, ev->ts_ms);
    for (int f = 0; f < TL_S__COUNT; f++) {
        if (ev->str_present & (1u << f)) {
            w_long(&w, 1);
            w_str(&w, ev->str[f]);
        } else {
            w_long(&w, 0);
        }
    }
    for (int f = 0; f < TL_N__COUNT; f++) {
        if (!(ev->num_present & (1u << f))) {
            w_long(&w, 0);
            continue;
        }
        w_long(&w, 1);
        if (f == TL_N_INPUT_TOKENS || f == TL_N_OUTPUT_TOKENS) /* [null, long] */
            w_long(&w, to_long(ev->num[f]));
        else
            w_double(&w, ev->num[f]);
    }

    uint32_t nf = ev->n_flags < TL_EVENT_MAX_FLAGS ? ev->n_flags : TL_EVENT_MAX_FLAGS;
    if (nf) {
        w_long(&w, nf);
        for (uint32_t i = 0; i < nf; i++)
            w_str(&w, ev->flags[i]);
    }
    w_long(&w, 0);

    uint32_t na = ev->n_attrs < TL_EVENT_MAX_ATTRS ? ev->n_attrs : TL_EVENT_MAX_ATTRS;
    if (na) {
        w_long(&w, na);
        for (uint32_t i = 0; i < na; i++) {
            w_str(&w, ev->attr_key[i]);
            w_str(&w, ev->attr_val[i]);
        }
    }
    w_long(&w, 0);

    return w.ok ? (size_t)(w.p - out) : 0;
}

size_t tl_avro_encode_event_confluent(const tl_event *ev, uint32_t schema_id, uint8_t *out,
                                      size_t cap)
{
    if (cap < 5)
        return 0;
    out[0] = 0x00;
    out[1] = (uint8_t)(schema_id >> 24);
    out[2] = (uint8_t)(schema_id >> 16);
    out[3] = (uint8_t)(schema_id >> 8);
    out[4] = (uint8_t)schema_id;
    size_t n = tl_avro_encode_event(ev, out + 5, cap - 5);
    return n ? n + 5 : 0;
}
