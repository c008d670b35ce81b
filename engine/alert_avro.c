/* engine/alert_avro.c - encode a tl_alert as an Avro binary body (schemas/alert_event.avsc).
 *
 * Why hand-written: the schema is fixed and small, and avro-c's generic writer allocates per
 * value; this encoder writes the bytes directly into the caller's buffer. It must follow the
 * field order of schemas/alert_event.avsc exactly; tests/unit/test_alert_encode.c reads the
 * output back with avro-c against the embedded schema, field by field, to keep the two in
 * step. The body carries no Confluent framing: the producer adds it when configured.
 *
 * Avro binary encoding used here: long/int = zig-zag varint; string = long length + bytes;
 * double = 8 bytes IEEE 754 little-endian (NaN is legal); enum = int index; union = long
 * branch index + value; map/array = one block (long count + items) then a 0 count, or just
 * 0 when empty.
 *
 * Nullability follows the schema: service, tool, description and ends_at are unions with
 * null (NULL pointer / ends_at < 0 -> null); other NULL strings are written as "". Labels
 * with a NULL key and NULL exemplar ids are skipped (counts match what is written).
 *
 * Contract: returns bytes written, or 0 if `cap` is too small (nothing written at or past
 * out[cap]). Pure, thread-safe, no allocation.
 */
#include <string.h>

#include "alert.h"
#include "timefmt.h"
#include "units.h"

typedef struct tl_aw {
    uint8_t *out;
    size_t cap;
    size_t pos;
    int err;
} tl_aw;

static void aw_raw(tl_aw *w, const void *p, size_t n)
{
    if (w->err)
        return;
    if (n > w->cap - w->pos) {
        w->err = 1;
        return;
    }
    if (n)
        memcpy(w->out + w->pos, p, n);
    w->pos += n;
}

static void aw_long(tl_aw *w, int64_t v)
{
    uint8_t tmp[10];
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); /* zig-zag */
    size_t n = 0;
    while (z >= 0x80) {
        tmp[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    tmp[n++] = (uint8_t)z;
    aw_raw(w, tmp, n);
}

static void aw_bytes(tl_aw *w, const char *s, size_t n)
{
    aw_long(w, (int64_t)n);
    aw_raw(w, s, n);
}

static void aw_str(tl_aw *w, const char *s) { aw_bytes(w, s ? s : "", s ? strlen(s) : 0); }

/* ["null", "string"]: branch 0 = null, 1 = string. */
static void aw_opt_str(tl_aw *w, const char *s)
{
    if (!s) {
        aw_long(w, 0);
        return;
    }
    aw_long(w, 1);
    aw_str(w, s);
}

static void aw_double(tl_aw *w, double v)
{
    uint64_t u;
    uint8_t b[8];
    memcpy(&u, &v, sizeof u);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (8 * i));
    aw_raw(w, b, 8);
}


size_t tl_alert_encode_avro(const tl_alert *a, uint8_t *out, size_t cap)
{
    tl_aw w = {out, cap, 0, 0};
    char tmp[96];

    aw_str(&w, a->alert);
    aw_long(&w, a->state == TL_ALERT_RESOLVED ? 1 : 0); /* enum AlertState {firing, resolved} */
    aw_long(&w, a->timestamp_ms);
    aw_opt_str(&w, a->service);
    aw_opt_str(&w, a->tool);
    aw_str(&w, a->metric);
    aw_double(&w, a->value);
    tl_unit_format(a->value, a->unit, tmp, sizeof tmp);
    aw_str(&w, tmp);
    aw_double(&w, a->threshold);
    aw_bytes(&w, tmp, tl_alert_threshold_text(a, tmp, sizeof tmp));
    aw_str(&w, tl_unit_name(a->unit));
    tl_duration_format(a->window_ms, tmp, sizeof tmp);
    aw_str(&w, tmp);
    aw_long(&w, a->window_ms);
    aw_str(&w, a->severity);
    aw_str(&w, a->owner);
    aw_str(&w, a->runbook);
    aw_str(&w, a->summary);
    aw_opt_str(&w, a->description);
    aw_bytes(&w, a->fingerprint, strnlen(a->fingerprint, sizeof a->fingerprint - 1));
    aw_bytes(&w, a->transition_id, strnlen(a->transition_id, sizeof a->transition_id - 1));
    aw_long(&w, a->starts_at_ms);
    if (a->ends_at_ms < 0) {
        aw_long(&w, 0);
    } else {
        aw_long(&w, 1);
        aw_long(&w, a->ends_at_ms);
    }

    /* labels: map<string> as one block */
    uint32_t nl = a->n_labels < TL_ALERT_MAX_LABELS ? a->n_labels : TL_ALERT_MAX_LABELS;
    int64_t count = 0;
    for (uint32_t i = 0; i < nl; i++)
        count += a->label_key[i] != NULL;
    if (count) {
        aw_long(&w, count);
        for (uint32_t i = 0; i < nl; i++) {
            if (!a->label_key[i])
                continue;
            aw_str(&w, a->label_key[i]);
            aw_str(&w, a->label_val[i]);
        }
    }
    aw_long(&w, 0);

    /* exemplar_trace_ids: array<string> as one block */
    uint32_t ne = a->n_exemplars < TL_ALERT_MAX_EXEMPLARS ? a->n_exemplars : TL_ALERT_MAX_EXEMPLARS;
    count = 0;
    for (uint32_t i = 0; i < ne; i++)
        count += a->exemplar_trace_ids[i] != NULL;
    if (count) {
        aw_long(&w, count);
        for (uint32_t i = 0; i < ne; i++)
            if (a->exemplar_trace_ids[i])
                aw_str(&w, a->exemplar_trace_ids[i]);
    }
    aw_long(&w, 0);

    aw_long(&w, a->resend); /* int: the same zig-zag varint as a long */

    return w.err ? 0 : w.pos;
}
