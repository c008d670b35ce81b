/* engine/alert_json.c - encode a tl_alert as one JSON object (the JSON output format).
 *
 * Why: alerts go to Kafka, webhooks and log files that humans and generic tools read; JSON is
 * the default wire format. Field names and order are those of schemas/alert_event.avsc, so a
 * JSON alert and an Avro alert carry the same information:
 *
 *   alert, state, timestamp, service, tool, metric, value, value_text, threshold,
 *   threshold_text, unit, window, window_ms, severity, owner, runbook, summary, description,
 *   fingerprint, transition_id, starts_at, ends_at, labels, exemplar_trace_ids, resend
 *
 * JSON-specific choices:
 *  - timestamp, starts_at, ends_at are RFC 3339 strings with milliseconds (UTC);
 *    `window` is a duration string ("10m") and `window_ms` the same as a number.
 *  - value/threshold that are NaN or infinite are written as null (RFC 8259 has no NaN);
 *    finite doubles use the shortest "%.*g" form that reads back to the same double.
 *  - NULL service/tool/description and a negative ends_at are null. Other strings are not
 *    nullable in the schema, so NULL there is written as "" (never invalid for consumers).
 *  - Labels with a NULL key and NULL exemplar ids are skipped; a NULL label value is "".
 *  - Every string goes through tl_json_put_text() (RFC 8259 escaping, and invalid UTF-8 from
 *    event content written as \ufffd, so the alert is valid JSON whatever the events held).
 *
 * Contract: returns bytes written (not NUL-terminated) or 0 if `cap` is too small, in which
 * case nothing is written at or past out[cap]. Pure, thread-safe, no allocation.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "json_encode.h"
#include "timefmt.h"
#include "units.h"

typedef struct tl_jw {
    char *out;
    size_t cap;
    size_t pos;
    int err;
} tl_jw;

static void jw_raw(tl_jw *w, const char *s, size_t n)
{
    if (w->err)
        return;
    if (n > w->cap - w->pos) {
        w->err = 1;
        return;
    }
    memcpy(w->out + w->pos, s, n);
    w->pos += n;
}

static void jw_lit(tl_jw *w, const char *s) { jw_raw(w, s, strlen(s)); }

static void jw_str(tl_jw *w, const char *s)
{
    if (w->err)
        return;
    if (!s)
        s = "";
    if (tl_json_put_text(w->out, w->cap, &w->pos, s, strlen(s)) != 0)
        w->err = 1;
}

/* A fixed-size char array that should hold a NUL-terminated string (fingerprint[17]): never
 * read past it even if the producer forgot the NUL. */
static void jw_strn(tl_jw *w, const char *s, size_t max)
{
    if (w->err)
        return;
    if (tl_json_put_text(w->out, w->cap, &w->pos, s, strnlen(s, max)) != 0)
        w->err = 1;
}

static void jw_str_or_null(tl_jw *w, const char *s)
{
    if (s)
        jw_str(w, s);
    else
        jw_lit(w, "null");
}

/* `"name":` preceded by a comma unless first. Names are fixed ASCII identifiers. */
static void jw_key(tl_jw *w, const char *name)
{
    jw_lit(w, w->pos > 1 ? ",\"" : "\"");
    jw_lit(w, name);
    jw_lit(w, "\":");
}

static void jw_double(tl_jw *w, double v)
{
    if (!isfinite(v)) {
        jw_lit(w, "null");
        return;
    }
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    jw_lit(w, tmp);
}

static void jw_long(tl_jw *w, int64_t v)
{
    char tmp[24];
    snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    jw_lit(w, tmp);
}

static void jw_time(tl_jw *w, int64_t ms)
{
    char tmp[32];
    tl_time_format_rfc3339(ms, tmp, sizeof tmp);
    jw_str(w, tmp);
}


size_t tl_alert_encode_json(const tl_alert *a, char *out, size_t cap)
{
    tl_jw w = {out, cap, 0, 0};
    char tmp[96];

    jw_lit(&w, "{");
    jw_key(&w, "alert");
    jw_str(&w, a->alert);
    jw_key(&w, "state");
    jw_lit(&w, a->state == TL_ALERT_RESOLVED ? "\"resolved\"" : "\"firing\"");
    jw_key(&w, "timestamp");
    jw_time(&w, a->timestamp_ms);
    jw_key(&w, "service");
    jw_str_or_null(&w, a->service);
    jw_key(&w, "tool");
    jw_str_or_null(&w, a->tool);
    jw_key(&w, "metric");
    jw_str(&w, a->metric);
    jw_key(&w, "value");
    jw_double(&w, a->value);
    jw_key(&w, "value_text");
    tl_unit_format(a->value, a->unit, tmp, sizeof tmp);
    jw_str(&w, tmp);
    jw_key(&w, "threshold");
    jw_double(&w, a->threshold);
    jw_key(&w, "threshold_text");
    tl_alert_threshold_text(a, tmp, sizeof tmp);
    jw_str(&w, tmp);
    jw_key(&w, "unit");
    jw_str(&w, tl_unit_name(a->unit));
    jw_key(&w, "window");
    tl_duration_format(a->window_ms, tmp, sizeof tmp);
    jw_str(&w, tmp);
    jw_key(&w, "window_ms");
    jw_long(&w, a->window_ms);
    jw_key(&w, "severity");
    jw_str(&w, a->severity);
    jw_key(&w, "owner");
    jw_str(&w, a->owner);
    jw_key(&w, "runbook");
    jw_str(&w, a->runbook);
    jw_key(&w, "summary");
    jw_str(&w, a->summary);
    jw_key(&w, "description");
    jw_str_or_null(&w, a->description);
    jw_key(&w, "fingerprint");
    jw_strn(&w, a->fingerprint, sizeof a->fingerprint - 1);
    jw_key(&w, "transition_id");
    jw_strn(&w, a->transition_id, sizeof a->transition_id - 1);
    jw_key(&w, "starts_at");
    jw_time(&w, a->starts_at_ms);
    jw_key(&w, "ends_at");
    if (a->ends_at_ms < 0)
        jw_lit(&w, "null");
    else
        jw_time(&w, a->ends_at_ms);

    jw_key(&w, "labels");
    jw_lit(&w, "{");
    uint32_t nl = a->n_labels < TL_ALERT_MAX_LABELS ? a->n_labels : TL_ALERT_MAX_LABELS;
    int first = 1;
    for (uint32_t i = 0; i < nl; i++) {
        if (!a->label_key[i])
            continue;
        if (!first)
            jw_lit(&w, ",");
        first = 0;
        jw_str(&w, a->label_key[i]);
        jw_lit(&w, ":");
        jw_str(&w, a->label_val[i]);
    }
    jw_lit(&w, "}");

    jw_key(&w, "exemplar_trace_ids");
    jw_lit(&w, "[");
    uint32_t ne = a->n_exemplars < TL_ALERT_MAX_EXEMPLARS ? a->n_exemplars : TL_ALERT_MAX_EXEMPLARS;
    first = 1;
    for (uint32_t i = 0; i < ne; i++) {
        if (!a->exemplar_trace_ids[i])
            continue;
        if (!first)
            jw_lit(&w, ",");
        first = 0;
        jw_str(&w, a->exemplar_trace_ids[i]);
    }
    jw_lit(&w, "]");
    jw_key(&w, "resend");
    jw_long(&w, a->resend);
    jw_lit(&w, "}");
    return w.err ? 0 : w.pos;
}
