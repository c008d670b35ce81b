/* tests/integration/test_scenario.c - the shipped rule pack against the synthetic fleet's
 * scripted incidents, through the mock cluster: every incident fires its alert and resolves,
 * and nothing else fires (alerts must not cry wolf).
 *
 * The fleet runs at 2 traces/s of event time (so the 50-minute scenario stays within the mock
 * cluster's retention) and is produced as fast as possible; the engine reads it with
 * --exit-at-end, exactly as a backtest over a topic would.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "config.h"
#include "engine.h"
#include "fleet.h"
#include "gen.h"
#include "mock.h"
#include "rules.h"
#include "timefmt.h"
#include "tl_kafka_test.h"

#define MIN 60000LL

typedef struct gen_thread {
    tl_gen_opts o;
    tl_gen_result r;
    tl_engine *e;
    int rc;
    char err[256];
} gen_thread;

/* Produce while the engine reads: the mock broker keeps a bounded log per partition, so the
 * 7-day history cannot be produced up front. Starts once the engine owns the partitions. */
static void *gen_main(void *arg)
{
    gen_thread *g = arg;
    for (int i = 0; i < 3000; i++) {
        tl_engine_stats st;
        tl_engine_stats_get(g->e, &st);
        if (st.partitions > 0)
            break;
        usleep(10000);
    }
    g->rc = tl_gen_run(&g->o, &g->r, g->err, sizeof g->err);
    tl_engine_exit_at_end(g->e);
    return NULL;
}

static void test_scenario_shipped_pack_fires_and_resolves_each_incident(void **state)
{
    (void)state;
    tl_mock mock;
    char err[512];
    assert_int_equal(tl_kt_mock_start(&mock, 1, "agent-traces:6 tripline-alerts:3 tripline-dlq:1"), 0);

    /* 7 days of quiet history (the cost rule's baseline), then the scenario from 08:00:00Z */
    const int64_t live = 1800000000000LL, history = 7 * 86400000LL;
    gen_thread g = {.o = {.brokers = mock.bootstraps, .topic = "agent-traces", .format = TL_GEN_MIXED,
                          .speed = 1000, .traces_per_sec = 2, .start_ms = live - history,
                          .history_ms = history, .history_rate = 50000,
                          .scenario = TL_FLEET_SCENARIO_DEMO, .seed = 11, .malformed_every = 5000, .quiet = 1}};

    tl_config cfg;
    tl_config_init(&cfg);
    /* Lateness 6h, not 1h: the history goes by at about 20 hours of event time per second of
     * wall time, and the producer's batches (up to 1 MB per partition) leave one partition up
     * to about 2 hours of event time behind the others until its batch is sent. When the engine
     * has read every partition to its end for longer than the grace, the watermark takes the
     * largest event time seen, and that partition's next events were late (20% of ASan runs
     * with 1h, before and after 2026-11-28; 0 of 12 with 6h). A producer that far apart in
     * event time is a replay artefact; docs/OPERATIONS.md (window.eof_grace) says so. */
    char *argv[] = {"--brokers", mock.bootstraps, "--rules", "rules", "--no-print-alerts", "--lateness", "6h", "--eof-grace", "250ms",
                    "--threads", getenv("TL_T") ? getenv("TL_T") : "2", "-X", "log_level=3"};
    assert_int_equal(tl_config_apply_args(&cfg, (int)(sizeof argv / sizeof argv[0]), argv, err, sizeof err), 0);
    tl_program *prog = tl_cli_load_rules(&cfg);
    assert_non_null(prog);
    tl_engine *e = tl_engine_new(&cfg, prog, err, sizeof err);
    assert_non_null(e);
    g.e = e;
    pthread_t gt;
    assert_int_equal(pthread_create(&gt, NULL, gen_main, &g), 0);
    assert_int_equal(tl_engine_run(e), 0);
    pthread_join(gt, NULL);
    assert_int_equal(g.rc, 0);
    tl_gen_result gr = g.r;
    assert_int_equal(gr.failed, 0);
    tl_engine_stats st;
    tl_engine_stats_get(e, &st);
    tl_engine_destroy(e);
    tl_program_destroy(prog);
    tl_config_fini(&cfg);

    /* every event read, every injected malformed message dead-lettered, none late */
    assert_int_equal(st.events, gr.events);
    assert_int_equal(st.malformed, gr.malformed);
    assert_int_equal(st.late, 0);

    tl_kt_msgs alerts = tl_kt_read_all(mock.bootstraps, "tripline-alerts", 3);
    struct {
        const char *rule;
        int64_t fire_lo, fire_hi, res_lo, res_hi; /* minutes after start */
        int fired, resolved;
        int must_resolve;
    } want[] = {
        /* the violation at ~+2m fires at once and leaves the 30m window at ~+32m */
        {"PolicyViolation", 2, 3, 32, 33, 0, 0, 1},
        /* 35% errors from +3m: pending once the 5m window passes 10%, firing 10m later;
         * errors stop at +20m and the 5m window drains below 10% within ~4m */
        {"ToolErrorRateGetOrderStatus", 13, 15, 20, 25, 0, 0, 1},
        /* ~20s latency from +22m: p95 over 5m above 15s within a few minutes, firing 15m
         * later; recovery at +42m drains the window */
        {"LatencyP95High", 37, 41, 42, 48, 0, 0, 1},
        /* the injection-then-risky-tool trace at ~+45m fires at once; its 10m count window
         * drains ~10m later */
        {"InjectionThenRiskyTool", 45, 46, 55, 57, 0, 0, 1},
        /* 6x cost from +46m: the 30m ratio passes 2x of the 7-day baseline once ~6 minutes of
         * the spike are in the window (~+52m), firing 10m later; the spike ends at +66m and
         * the window holds fewer than ~6 spiked minutes again ~24m after that */
        {"CostPerRequestVsBaseline", 60, 64, 88, 93, 0, 0, 1},
        /* support-v13 released at +50m with 9% invalid output until +62m: above 5% over the
         * 10m window within a few minutes, for 5m; the window drains after +62m */
        {"InvalidOutputAfterPromptRelease", 55, 58, 65, 71, 0, 0, 1},
        /* the same invalid output on gpt-4o (the cost spike's model) over the 15m window */
        {"InvalidOutputRate", 62, 67, 72, 77, 0, 0, 1},
    };
    /* per rule: re-sends of its resolved notification (not counted in `resolved`), and the
     * transition_id of that notification */
    int resent[sizeof want / sizeof want[0]] = {0};
    char res_tid[sizeof want / sizeof want[0]][40] = {{0}};
    for (size_t i = 0; i < alerts.n; i++) {
        json_t *j = json_loadb(alerts.m[i].value, alerts.m[i].len, 0, NULL);
        assert_non_null(j);
        const char *rule = json_string_value(json_object_get(j, "alert"));
        const char *state_s = json_string_value(json_object_get(j, "state"));
        const char *service = json_string_value(json_object_get(j, "service"));
        int64_t ts = 0;
        /* timestamps are RFC 3339; the minute offset from the start is enough here */
        int hh, mm, ss, ms;
        const char *tstr = json_string_value(json_object_get(j, "timestamp"));
        if (strncmp(tstr, "2027-01-15T", 11) != 0)
            fail_msg("alert during the quiet history (crying wolf): %s %s at %s", rule, state_s, tstr);
        assert_int_equal(sscanf(json_string_value(json_object_get(j, "timestamp")) + 11, "%d:%d:%d.%d", &hh, &mm, &ss, &ms), 4);
        ts = ((int64_t)hh * 3600 + mm * 60 + ss) * 1000 + ms - 8 * 3600 * 1000LL; /* start is 08:00:00Z */
        if (getenv("TL_DUMP"))
            fprintf(stderr, "ALERT %s %s +%llds value=%g\n", rule, state_s, (long long)(ts / 1000),
                    json_number_value(json_object_get(j, "value")));
        size_t k;
        for (k = 0; k < sizeof want / sizeof want[0]; k++)
            if (strcmp(want[k].rule, rule) == 0)
                break;
        if (k == sizeof want / sizeof want[0])
            fail_msg("unexpected alert (crying wolf): %s %s service=%s at +%llds", rule, state_s, service,
                     (long long)(ts / 1000));
        assert_string_equal(service, "support-bot");
        const char *tid = json_string_value(json_object_get(j, "transition_id"));
        int64_t resend = json_integer_value(json_object_get(j, "resend"));
        if (resend > 0) {
            /* a re-send (alerts.resend_resolved_for, by default every 5m for 15m): the resolved
             * notification read before, the same transition, 5m per re-send after it */
            const char *ends = json_string_value(json_object_get(j, "ends_at"));
            int64_t ends_ms = 0, ts_ms = 0;
            assert_string_equal(state_s, "resolved");
            assert_string_equal(tid, res_tid[k]);
            assert_int_equal(tl_time_parse_rfc3339(ends, strlen(ends), &ends_ms), 0);
            assert_int_equal(tl_time_parse_rfc3339(tstr, strlen(tstr), &ts_ms), 0);
            assert_int_equal(ts_ms, ends_ms + resend * 5 * MIN);
            assert_int_equal(resend, resent[k] + 1);
            resent[k]++;
            json_decref(j);
            continue;
        }
        if (strcmp(state_s, "resolved") == 0)
            snprintf(res_tid[k], sizeof res_tid[k], "%s", tid);
        int64_t lo = strcmp(state_s, "firing") == 0 ? want[k].fire_lo : want[k].res_lo;
        int64_t hi = strcmp(state_s, "firing") == 0 ? want[k].fire_hi : want[k].res_hi;
        if (ts < lo * MIN || ts > hi * MIN)
            fail_msg("%s %s at +%llds, expected between +%lldm and +%lldm", rule, state_s, (long long)(ts / 1000),
                     (long long)lo, (long long)hi);
        if (strcmp(state_s, "firing") == 0)
            want[k].fired++;
        else
            want[k].resolved++;
        json_decref(j);
    }
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        if (want[k].fired != 1 || want[k].resolved != want[k].must_resolve)
            fail_msg("%s: fired %d, resolved %d; expected 1 and %d", want[k].rule, want[k].fired, want[k].resolved,
                     want[k].must_resolve);
        /* resolved early enough for all three re-sends to fall inside the scenario's 95 minutes */
        if (want[k].res_hi + 15 < 85 && resent[k] != 3)
            fail_msg("%s: resolved notification re-sent %d times, expected 3", want[k].rule, resent[k]);
    }
    tl_kt_msgs_free(&alerts);
    tl_kt_msgs dlq = tl_kt_read_all(mock.bootstraps, "tripline-dlq", 1);
    assert_int_equal(dlq.n, gr.malformed);
    tl_kt_msgs_free(&dlq);
    tl_mock_stop(&mock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scenario_shipped_pack_fires_and_resolves_each_incident),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
