/* tests/support/alertlog.h - alert transitions as comparable text lines, and the example pack
 * with probe rules, for tests that run the same events two ways and demand the same alerts
 * (test_combine: direct vs pre-aggregated; test_checkpoint: uninterrupted vs restored).
 *
 * A line holds rule, state, time, value, transition id and labels, and with `with_ex` the
 * example traces too. Lines are compared sorted: within one evaluation the order of series is
 * their order in a shard's table, which legitimately differs between the two ways. */
#ifndef TL_ALERTLOG_H
#define TL_ALERTLOG_H

#include <stddef.h>

#include "alert.h"
#include "program.h"

typedef struct tl_alog {
    char **lines;
    size_t n, cap;
    int with_ex; /* log the example traces too */
} tl_alog;

/* A tl_alert_sink_fn; ctx is a tl_alog. */
void tl_alog_sink(void *ctx, const tl_alert *a);
void tl_alog_sort(tl_alog *l);
/* Fail the test unless a and b hold the same lines (both sorted first); `what_a`/`what_b` name
 * them in the message. */
void tl_alog_assert_same(tl_alog *a, tl_alog *b, const char *what_a, const char *what_b);
void tl_alog_free(tl_alog *l);

/* Rules that fire for every series and re-notify every minute with the current value (p99,
 * sum/min/max arithmetic, ratio plus average), so each minute compares every aggregate kind
 * of every series. */
extern const char tl_probe_rules[];
/* rules/support-agent.yaml plus the probes plus `extra` (may be NULL); fails the test on error. */
tl_program *tl_load_pack_with_probes(const char *extra);

#endif
