/* tests/support/alertlog.c - see alertlog.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alertlog.h"
#include "rules.h"
#include "tl_test.h"

void tl_alog_sink(void *ctx, const tl_alert *a)
{
    tl_alog *l = ctx;
    char buf[2048];
    int o = snprintf(buf, sizeof buf, "%s %s ts=%lld v=%.9g id=%s", a->alert, a->state == TL_ALERT_FIRING ? "firing" : "resolved",
                     (long long)a->timestamp_ms, a->value, a->transition_id);
    for (uint32_t i = 0; i < a->n_labels && o < (int)sizeof buf; i++)
        o += snprintf(buf + o, sizeof buf - (size_t)o, " %s=%s", a->label_key[i], a->label_val[i]);
    for (uint32_t i = 0; l->with_ex && i < a->n_exemplars && o < (int)sizeof buf; i++)
        o += snprintf(buf + o, sizeof buf - (size_t)o, " ex=%s", a->exemplar_trace_ids[i]);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->lines = realloc(l->lines, l->cap * sizeof *l->lines);
        assert_non_null(l->lines);
    }
    l->lines[l->n++] = strdup(buf);
}

static int cmp_line(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

void tl_alog_sort(tl_alog *l) { qsort(l->lines, l->n, sizeof *l->lines, cmp_line); }

void tl_alog_assert_same(tl_alog *a, tl_alog *b, const char *what_a, const char *what_b)
{
    tl_alog_sort(a);
    tl_alog_sort(b);
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(a->lines[i], b->lines[i]) != 0)
            fail_msg("alert %zu differs:\n  %s: %s\n  %s: %s", i, what_a, a->lines[i], what_b, b->lines[i]);
    if (a->n != b->n)
        fail_msg("%zu alerts %s, %zu %s", a->n, what_a, b->n, what_b);
}

void tl_alog_free(tl_alog *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->lines[i]);
    free(l->lines);
    memset(l, 0, sizeof *l);
}

const char tl_probe_rules[] =
    "  - name: ProbeP99\n"
    "    filter: kind == \"request\"\n"
    "    group_by: [service, model]\n"
    "    value: p99(latency_ms)\n"
    "    window: 5m\n"
    "    threshold: \"> 0\"\n"
    "    renotify_interval: 1m\n"
    "    severity: info\n"
    "    owner: t\n"
    "    runbook: r.md\n"
    "    summary: \"{{value}}\"\n"
    "  - name: ProbeMoments\n"
    "    group_by: [service, tool]\n"
    "    value: (sum(cost_usd) + max(latency_ms) - min(latency_ms)) / count(kind == \"tool_call\")\n"
    "    window: 10m\n"
    "    slot: 30s\n"
    "    threshold: \"!= -1\"\n"
    "    renotify_interval: 1m\n"
    "    severity: info\n"
    "    owner: t\n"
    "    runbook: r.md\n"
    "    summary: \"{{value}}\"\n"
    "  - name: ProbeRatio\n"
    "    group_by: [service]\n"
    "    value: ratio(status != \"ok\") + avg(output_tokens)\n"
    "    window: 2m\n"
    "    threshold: \">= 0\"\n"
    "    renotify_interval: 1m\n"
    "    severity: info\n"
    "    owner: t\n"
    "    runbook: r.md\n"
    "    summary: \"{{value}}\"\n";

tl_program *tl_load_pack_with_probes(const char *extra)
{
    size_t len = 0;
    char *text = tl_test_read_file("rules/support-agent.yaml", &len);
    assert_non_null(text);
    const char *more[] = {tl_probe_rules, extra};
    for (int i = 0; i < 2; i++) {
        if (!more[i])
            continue;
        text = realloc(text, len + strlen(more[i]) + 1);
        memcpy(text + len, more[i], strlen(more[i]) + 1);
        len += strlen(more[i]);
    }
    tl_rules_opts ro = {.lateness_ms = 30000, .renotify_ms = 3600000, .check_runbooks = 0};
    char ebuf[4096] = "";
    tl_rules_errors errs = {ebuf, sizeof ebuf, 0, 0, 0};
    tl_program *p = tl_rules_load_string("rules/support-agent.yaml", text, len, &ro, &errs);
    free(text);
    if (!p)
        fail_msg("%s", ebuf);
    return p;
}
