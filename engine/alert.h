/* engine/alert.h - an alert event: tripline's output contract.
 *
 * One tl_alert is built per state change (firing, resolved) and per re-notification, then
 * encoded as JSON or Avro (schemas/alert_event.avsc) and produced with the fingerprint as
 * the Kafka key. The field names here are the wire names.
 *
 * Ownership: a tl_alert only points at strings owned by the rule (name, owner, ...) and by
 * the evaluator's scratch (label values, summary); it lives for one encode call.
 */
#ifndef TL_ALERT_H
#define TL_ALERT_H

#include <stddef.h>
#include <stdint.h>

#include "units.h"

#define TL_ALERT_MAX_LABELS 16
#define TL_ALERT_MAX_EXEMPLARS 4
#define TL_ALERT_LABEL_MAX 128 /* label values from events are truncated to this many bytes */

typedef enum tl_alert_state { TL_ALERT_FIRING = 0, TL_ALERT_RESOLVED = 1 } tl_alert_state;

typedef struct tl_alert {
    const char *alert;       /* rule name */
    tl_alert_state state;
    int64_t timestamp_ms;    /* evaluation time (event time) of this transition */
    const char *service;     /* value of label "service", or NULL if the rule has none */
    const char *tool;        /* value of label "tool", or NULL */
    const char *metric;      /* the rule's value expression as written, e.g. "p95(latency_ms)" */
    double value;            /* value at this evaluation */
    double threshold;
    const char *op;          /* ">", ">=", "<", "<=", "==", "!=" */
    tl_unit unit;            /* unit of value and threshold */
    int64_t window_ms;
    const char *severity;    /* "critical", "error", "warning", "info" */
    const char *owner;
    const char *runbook;
    const char *summary;     /* rendered template */
    const char *description; /* rendered template, may be NULL */
    char fingerprint[17];    /* 16 hex digits: hash of rule name and label set */
    char transition_id[33];  /* 32 hex digits: fingerprint + state + starts_at + notify seq */
    int64_t starts_at_ms;    /* when it started firing */
    int64_t ends_at_ms;      /* when it resolved; -1 while firing */
    uint32_t n_labels;       /* group-by labels then the rule's static labels */
    const char *label_key[TL_ALERT_MAX_LABELS];
    const char *label_val[TL_ALERT_MAX_LABELS];
    uint32_t n_exemplars;
    const char *exemplar_trace_ids[TL_ALERT_MAX_EXEMPLARS];
    uint32_t resend;         /* 0: the first send of this notification; n: its n-th re-send
                                (a resolved notification is re-sent with the same transition_id,
                                alerts.resend_resolved_for) */
} tl_alert;

/* Identity (alert_id.c), one scheme for rule alerts (shard.c) and the alerts about tripline
 * itself (heartbeat.c, selfalert.c). The fingerprint is XXH3-64 of `in`, which callers build as the alert name, a
 * NUL, the label values joined by 0x1f (a series key), then each static label as "\0k=v"; it
 * is written to a->fingerprint as 16 hex digits and returned. The transition id is XXH3-128
 * of (fingerprint, starts_at, a->state, seq), written to a->transition_id: `seq` is the
 * notification number within the firing episode (0 for the first firing notification, and 0
 * for a resolved one, so its re-sends repeat its id). */
uint64_t tl_alert_set_fingerprint(tl_alert *a, const void *in, size_t n);
/* The same for an alert named `name` with label values vals[0..n) and no static labels (the
 * alerts about tripline itself, selfalert.h): builds that input and hashes it. Values count up
 * to TL_ALERT_LABEL_MAX bytes, as in series keys; the name up to 255. */
uint64_t tl_alert_set_fingerprint_of(tl_alert *a, const char *name, const char *const *vals, uint32_t n);
void tl_alert_set_transition_id(tl_alert *a, uint64_t fingerprint, int64_t starts_at_ms, uint32_t seq);

/* Encoders (alert_json.c, alert_avro.c). Return bytes written or 0 if `cap` is too small.
 * Both carry every field above (`op` only inside `threshold_text`, `resend` last) plus the human strings
 * `value_text` and `threshold_text`; service, tool, description and ends_at are nullable
 * (ends_at < 0 is null), other NULL strings are written as "". `labels` is a map,
 * `exemplar_trace_ids` an array. Avro: schemas/alert_event.avsc. */
size_t tl_alert_encode_json(const tl_alert *a, char *out, size_t cap);
size_t tl_alert_encode_avro(const tl_alert *a, uint8_t *out, size_t cap);
extern const char tl_alert_event_schema_json[];

/* "> 10%": the rule's operator and the threshold in human form (threshold_text in both wire
 * formats and the console line). Returns the length; NUL-terminated, truncated to cap. */
size_t tl_alert_threshold_text(const tl_alert *a, char *buf, size_t cap);

/* One human line for the console, e.g.
 * "FIRING   critical  ToolErrorRate  service=support-bot tool=get_order_status  value=23.4% > 10% (10m)  -- summary" */
size_t tl_alert_format_line(const tl_alert *a, char *out, size_t cap);

#endif
