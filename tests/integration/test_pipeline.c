/* tests/integration/test_pipeline.c - the whole path on the mock cluster.
 *
 * An outside producer client writes trace events (JSON and Confluent-framed Avro, plus
 * malformed messages) to a topic of librdkafka's mock cluster; the engine consumes them as a
 * consumer group with --exit-at-end; the alerts and dead-letter topics are read back with a
 * separate consumer. Checks: alert fields and values, fire then resolve, dead letters with
 * their context headers, nothing else lost, offsets committed to the end, the same
 * transitions with 1 and 2 worker threads, delivery through injected broker errors, commits
 * through injected commit errors while partition leaders and the group coordinator move
 * (three brokers, mid-run), the re-send of the resolved notification (same transition_id),
 * the heartbeat alert, and the alerts about tripline itself (cardinality overflow, failing
 * checkpoints).
 */
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <avro.h>

#include "alert.h"
#include "avro_encode.h"
#include "cli.h"
#include "config.h"
#include "engine.h"
#include "json_encode.h"
#include "mock.h"
#include <librdkafka/rdkafka_mock.h>
#include "rules.h"
#include "timefmt.h"
#include "tl_kafka_test.h"
#include "tl_test.h"

#define MIN 60000LL
#define T0 1800000000000LL

static const char rules_yaml[] =
    "rules:\n"
    "  - name: OrderToolErrors\n"
    "    filter: kind == \"tool_call\" and tool == \"get_order_status\"\n"
    "    group_by: [service, tool]\n"
    "    value: ratio(status != \"ok\")\n"
    "    window: 2m\n"
    "    slot: 10s\n"
    "    threshold: \"> 10%\"\n"
    "    min_events: 20\n"
    "    for: 1m\n"
    "    severity: critical\n"
    "    owner: orders-team\n"
    "    runbook: https://runbooks.example/tool-errors\n"
    "    summary: \"{{tool}} error rate {{value}} on {{service}}\"\n";

typedef struct fixture {
    tl_mock mock;
    char rules_path[256];
    uint64_t valid, malformed;
    int64_t dlq_offsets[8];
} fixture;

static char *rules_file(char *path, size_t cap)
{
    char *p = tl_test_write_temp(path, cap, "rules", rules_yaml);
    assert_non_null(p);
    return p;
}

/* 16 minutes of event time, one get_order_status call every 250 ms: 30% errors during the
 * first 6 minutes, then healthy. Every third event is framed Avro, the rest JSON.
 * produce_range() writes the events of [from, to) of those 16 minutes with producer p and
 * waits until they are acknowledged, so a test can feed them in phases; the events are the
 * same whatever the phases. */
static void produce_range(fixture *fx, rd_kafka_t *p, int with_malformed, int64_t from, int64_t to)
{
    char buf[4096], trace[40];
    uint64_t i = (uint64_t)((from - T0) / 250);
    for (int64_t ts = from; ts < to; ts += 250, i++) {
        int err = ts < T0 + 6 * MIN && i % 10 < 3;
        tl_event ev;
        tl_event_reset(&ev);
        ev.ts_ms = ts;
        snprintf(trace, sizeof trace, "%s-%06llu", err ? "err" : "ok", (unsigned long long)i);
        tl_event_set_str(&ev, TL_S_TRACE_ID, trace, (uint32_t)strlen(trace));
        tl_event_set_str(&ev, TL_S_SERVICE, "support-bot", 11);
        tl_event_set_str(&ev, TL_S_KIND, "tool_call", 9);
        tl_event_set_str(&ev, TL_S_TOOL, "get_order_status", 16);
        tl_event_set_str(&ev, TL_S_STATUS, err ? "error" : "ok", err ? 5 : 2);
        tl_event_set_num(&ev, TL_N_LATENCY_MS, 120 + (double)(i % 50));
        size_t n = i % 3 == 2 ? tl_avro_encode_event_confluent(&ev, 1, (uint8_t *)buf, sizeof buf)
                              : tl_json_encode_event(&ev, buf, sizeof buf);
        assert_true(n > 0);
        tl_kt_produce(p, "traces", trace, strlen(trace), buf, n);
        fx->valid++;
        if (with_malformed && (i == 100 || i == 1500 || i == 3000)) {
            static const char *const bad[] = {"{\"timestamp\": 1800000000000, \"service\": ",
                                              "{\"service\": \"support-bot\", \"kind\": \"request\"}",
                                              "\x00\x00\x00\x00\x09xyz"};
            int k = i == 100 ? 0 : i == 1500 ? 1 : 2;
            size_t bl = k == 2 ? 8 : strlen(bad[k]);
            tl_kt_produce(p, "traces", "bad", 3, bad[k], bl);
            fx->malformed++;
        }
    }
    assert_int_equal(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static void produce_events(fixture *fx, int with_malformed)
{
    rd_kafka_t *p = tl_kt_producer(fx->mock.bootstraps);
    assert_non_null(p);
    produce_range(fx, p, with_malformed, T0, T0 + 16 * MIN);
    tl_kt_flush_destroy(p);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_int_equal(tl_kt_mock_start(&fx->mock, 1, "traces:4 alerts:2 dlq:1"), 0);
    rules_file(fx->rules_path, sizeof fx->rules_path);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    return tl_kt_fixture_end(fx, &fx->mock, fx->rules_path);
}

/* An engine configured by run flags (cfg and *prog are the caller's to free after it). */
static tl_engine *new_engine(tl_config *cfg, tl_program **prog, int argc, char **argv)
{
    tl_config_init(cfg);
    char err[512];
    assert_int_equal(tl_config_apply_args(cfg, argc, argv, err, sizeof err), 0);
    assert_int_equal(tl_config_validate(cfg, err, sizeof err), 0);
    *prog = tl_cli_load_rules(cfg);
    assert_non_null(*prog);
    tl_engine *e = tl_engine_new(cfg, *prog, err, sizeof err);
    if (!e)
        fail_msg("engine: %s", err);
    return e;
}

/* Run the engine over the topic until every partition is at its end (with --heartbeat
 * `heartbeat` unless NULL). Resolved notifications are re-sent as by default (every 5m for
 * 15m of event time): the 16 minutes of events hold one re-send. */
static void run_engine_hb(fixture *fx, const char *group, const char *threads, const char *out_fmt,
                          const char *heartbeat, tl_engine_stats *st)
{
    tl_config cfg;
    char *argv[] = {"--brokers", fx->mock.bootstraps, "--group", (char *)group, "--input", "traces",
                    "--output", "alerts", "--dlq", "dlq", "--rules", fx->rules_path, "--threads",
                    (char *)threads, "--output-format", (char *)out_fmt, "--exit-at-end",
                    "--no-print-alerts", "-X", "log_level=3", "--heartbeat", (char *)heartbeat};
    tl_program *prog;
    tl_engine *e = new_engine(&cfg, &prog, (int)(sizeof argv / sizeof argv[0]) - (heartbeat ? 0 : 2), argv);
    assert_int_equal(tl_engine_run(e), 0);
    tl_engine_stats_get(e, st);
    tl_engine_destroy(e);
    tl_program_destroy(prog);
    tl_config_fini(&cfg);
}

static void run_engine(fixture *fx, const char *group, const char *threads, const char *out_fmt,
                       tl_engine_stats *st)
{
    run_engine_hb(fx, group, threads, out_fmt, NULL, st);
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int64_t jtime(json_t *o, const char *k)
{
    const char *s = jstr(o, k);
    int64_t ms = 0;
    assert_non_null(s);
    assert_int_equal(tl_time_parse_rfc3339(s, strlen(s), &ms), 0);
    return ms;
}

/* The transitions of one run, as comparable text: "state labels ts". */
static void transitions(const tl_kt_msgs *alerts, char *out, size_t cap)
{
    out[0] = '\0';
    size_t o = 0;
    for (size_t i = 0; i < alerts->n; i++) {
        json_t *j = json_loadb(alerts->m[i].value, alerts->m[i].len, 0, NULL);
        assert_non_null(j);
        o += (size_t)snprintf(out + o, cap - o, "%s %s %s %s\n", jstr(j, "alert"), jstr(j, "state"),
                              jstr(j, "fingerprint"), jstr(j, "timestamp"));
        json_decref(j);
    }
}

static int cmp_lines(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_pipeline_fire_resolve_dead_letters(void **state)
{
    fixture *fx = *state;
    produce_events(fx, 1);
    tl_engine_stats st;
    run_engine(fx, "g-json", "2", "json", &st);

    /* nothing lost: every valid event decoded, every malformed one dead-lettered */
    assert_int_equal(st.events, fx->valid);
    assert_int_equal(st.malformed, fx->malformed);
    assert_int_equal(st.messages, fx->valid + fx->malformed);
    assert_int_equal(st.alerts, 3);
    assert_int_equal(st.alerts_acked, 3);
    /* every message came from a consume call that returned some; no call returns more than the
     * batch limit (1024) */
    assert_true(st.consumes >= 1 && st.consumes <= st.messages);
    assert_true(st.consumes * 1024 >= st.messages);

    tl_kt_msgs alerts = tl_kt_read_all(fx->mock.bootstraps, "alerts", 2);
    assert_int_equal(alerts.n, 3);
    json_t *fire = NULL, *res = NULL, *again = NULL;
    const char *fire_key = NULL;
    for (size_t i = 0; i < alerts.n; i++) {
        json_t *j = json_loadb(alerts.m[i].value, alerts.m[i].len, 0, NULL);
        assert_non_null(j);
        if (strcmp(jstr(j, "state"), "firing") == 0) {
            fire = j;
            fire_key = alerts.m[i].key;
        } else if (json_integer_value(json_object_get(j, "resend")) == 0) {
            res = j;
        } else {
            again = j;
        }
    }
    assert_non_null(fire);
    assert_non_null(res);
    assert_non_null(again);
    /* the resolved notification again 5 minutes (event time) later, as the same transition */
    assert_int_equal(json_integer_value(json_object_get(again, "resend")), 1);
    assert_string_equal(jstr(again, "transition_id"), jstr(res, "transition_id"));
    assert_string_equal(jstr(again, "fingerprint"), jstr(res, "fingerprint"));
    assert_string_equal(jstr(again, "starts_at"), jstr(res, "starts_at"));
    assert_string_equal(jstr(again, "ends_at"), jstr(res, "ends_at"));
    assert_int_equal(jtime(again, "timestamp"), jtime(res, "timestamp") + 5 * MIN);
    assert_true(json_number_value(json_object_get(again, "value")) == json_number_value(json_object_get(res, "value")));
    json_decref(again);
    assert_string_equal(jstr(fire, "alert"), "OrderToolErrors");
    assert_string_equal(jstr(fire, "service"), "support-bot");
    assert_string_equal(jstr(fire, "tool"), "get_order_status");
    assert_string_equal(jstr(fire, "metric"), "ratio(status != \"ok\")");
    assert_string_equal(jstr(fire, "window"), "2m");
    assert_string_equal(jstr(fire, "severity"), "critical");
    assert_string_equal(jstr(fire, "owner"), "orders-team");
    assert_string_equal(jstr(fire, "runbook"), "https://runbooks.example/tool-errors");
    assert_string_equal(jstr(fire, "fingerprint"), fire_key); /* Kafka key = fingerprint */
    double value = json_number_value(json_object_get(fire, "value"));
    assert_true(value > 0.25 && value < 0.35);
    assert_true(json_number_value(json_object_get(fire, "threshold")) == 0.10);
    assert_true(strstr(jstr(fire, "summary"), "get_order_status error rate 3") != NULL);
    assert_true(json_is_null(json_object_get(fire, "ends_at")));
    json_t *labels = json_object_get(fire, "labels");
    assert_string_equal(json_string_value(json_object_get(labels, "service")), "support-bot");
    assert_string_equal(json_string_value(json_object_get(labels, "tool")), "get_order_status");
    json_t *ex = json_object_get(fire, "exemplar_trace_ids");
    assert_true(json_is_array(ex) && json_array_size(ex) > 0);
    for (size_t i = 0; i < json_array_size(ex); i++)
        assert_true(strncmp(json_string_value(json_array_get(ex, i)), "err-", 4) == 0);
    /* fires once the 2m ratio has been above 10% for 1m; resolves after the errors stop */
    char ts_fire[40], ts_res[40];
    snprintf(ts_fire, sizeof ts_fire, "%s", jstr(fire, "timestamp"));
    snprintf(ts_res, sizeof ts_res, "%s", jstr(res, "timestamp"));
    assert_true(strcmp(ts_fire, "2027-01-15T08:01:00.000Z") >= 0 && strcmp(ts_fire, "2027-01-15T08:02:00.000Z") <= 0);
    assert_true(strcmp(ts_res, "2027-01-15T08:06:00.000Z") >= 0 && strcmp(ts_res, "2027-01-15T08:08:00.000Z") <= 0);
    assert_string_equal(jstr(res, "fingerprint"), jstr(fire, "fingerprint"));
    assert_string_equal(jstr(res, "starts_at"), jstr(fire, "starts_at"));
    assert_string_equal(jstr(res, "ends_at"), jstr(res, "timestamp"));
    assert_true(json_number_value(json_object_get(res, "value")) <= 0.10);
    json_decref(fire);
    json_decref(res);

    /* dead letters: the original bytes, with where they came from and why */
    tl_kt_msgs dlq = tl_kt_read_all(fx->mock.bootstraps, "dlq", 1);
    assert_int_equal(dlq.n, 3);
    int seen_truncated = 0, seen_missing = 0, seen_schema = 0;
    for (size_t i = 0; i < dlq.n; i++) {
        tl_kt_msg *m = &dlq.m[i];
        assert_string_equal(m->hdr_topic, "traces");
        assert_true(m->hdr_partition[0] >= '0' && m->hdr_partition[0] <= '3');
        assert_true(atoll(m->hdr_offset) >= 0);
        assert_string_equal(m->key, "bad");
        seen_truncated += strcmp(m->hdr_code, "truncated") == 0;
        seen_missing += strcmp(m->hdr_code, "missing_timestamp") == 0;
        seen_schema += strcmp(m->hdr_code, "unknown_schema") == 0;
        assert_true(strlen(m->hdr_error) > 10);
    }
    assert_int_equal(seen_truncated + seen_missing + seen_schema, 3);
    assert_int_equal(seen_missing, 1);
    assert_int_equal(seen_schema, 1);

    /* at-least-once: the committed offsets reached the end of every partition */
    int64_t committed, end;
    tl_kt_committed(fx->mock.bootstraps, "g-json", "traces", 4, &committed, &end);
    assert_int_equal(committed, end);

    /* the same input gives the same transitions with one worker */
    char a2[4096], a1[4096];
    transitions(&alerts, a2, sizeof a2);
    tl_engine_stats st1;
    run_engine(fx, "g-one-thread", "1", "json", &st1);
    tl_kt_msgs all = tl_kt_read_all(fx->mock.bootstraps, "alerts", 2);
    assert_int_equal(all.n, 6);
    transitions(&all, a1, sizeof a1);
    /* a1 holds both runs: each line of the first run must appear twice */
    char *lines[8];
    int nl = 0;
    for (char *s = NULL, *l = strtok_r(a1, "\n", &s); l && nl < 8; l = strtok_r(NULL, "\n", &s))
        lines[nl++] = l;
    assert_int_equal(nl, 6);
    qsort(lines, (size_t)nl, sizeof *lines, cmp_lines);
    for (int k = 0; k < 6; k += 2) {
        assert_string_equal(lines[k], lines[k + 1]);
        assert_true(strstr(a2, lines[k]) != NULL);
    }
    tl_kt_msgs_free(&all);
    tl_kt_msgs_free(&alerts);
    tl_kt_msgs_free(&dlq);
}

/* Avro alerts through injected produce and fetch errors: delivered once, readable by avro-c. */
static void test_pipeline_avro_output_with_broker_errors(void **state)
{
    fixture *fx = *state;
    produce_events(fx, 0);
    rd_kafka_mock_push_request_errors(fx->mock.mc, 0 /* Produce */, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    rd_kafka_mock_push_request_errors(fx->mock.mc, 1 /* Fetch */, 3, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT);
    tl_engine_stats st;
    run_engine(fx, "g-avro", "2", "avro", &st);
    assert_int_equal(st.events, fx->valid);
    if (st.alerts_acked != 3 || st.alerts != 3) /* firing, resolved, and its re-send */
        fail_msg("alerts produced %llu, acknowledged %llu (delivery retries %llu), expected 3 and 3",
                 (unsigned long long)st.alerts, (unsigned long long)st.alerts_acked,
                 (unsigned long long)st.delivery_retries);
    tl_kt_msgs alerts = tl_kt_read_all(fx->mock.bootstraps, "alerts", 2);
    if (alerts.n != 3) { /* idempotent producer: retries made no duplicates */
        int64_t committed = 0, end = 0;
        tl_kt_committed(fx->mock.bootstraps, "g-avro", "alerts", 2, &committed, &end);
        fail_msg("read %zu alerts back, the topic's partitions end at %lld in all", alerts.n, (long long)end);
    }
    avro_schema_t schema;
    assert_int_equal(avro_schema_from_json_length(tl_alert_event_schema_json, strlen(tl_alert_event_schema_json),
                                                  &schema), 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    int firing = 0, resolved = 0, resent = 0;
    for (size_t i = 0; i < alerts.n; i++) {
        avro_value_t v, f;
        avro_generic_value_new(iface, &v);
        avro_reader_t r = avro_reader_memory(alerts.m[i].value, (int64_t)alerts.m[i].len);
        assert_int_equal(avro_value_read(r, &v), 0);
        const char *name;
        size_t len;
        assert_int_equal(avro_value_get_by_name(&v, "alert", &f, NULL), 0);
        avro_value_get_string(&f, &name, &len);
        assert_string_equal(name, "OrderToolErrors");
        int st_idx;
        assert_int_equal(avro_value_get_by_name(&v, "state", &f, NULL), 0);
        avro_value_get_enum(&f, &st_idx);
        firing += st_idx == 0;
        resolved += st_idx == 1;
        int32_t resend = -1;
        assert_int_equal(avro_value_get_by_name(&v, "resend", &f, NULL), 0);
        assert_int_equal(avro_value_get_int(&f, &resend), 0);
        assert_true(resend == 0 || (resend == 1 && st_idx == 1));
        resent += resend;
        assert_int_equal(avro_value_get_by_name(&v, "fingerprint", &f, NULL), 0);
        avro_value_get_string(&f, &name, &len);
        assert_string_equal(name, alerts.m[i].key);
        avro_reader_free(r);
        avro_value_decref(&v);
    }
    assert_int_equal(firing, 1);
    assert_int_equal(resolved, 2);
    assert_int_equal(resent, 1);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    int64_t committed, end;
    tl_kt_committed(fx->mock.bootstraps, "g-avro", "traces", 4, &committed, &end);
    assert_int_equal(committed, end);
    tl_kt_msgs_free(&alerts);
}

/* --heartbeat: TriplineHeartbeat reaches the alerts topic through the same producer, keyed by
 * its fingerprint, one firing episode (starts_at) with a new transition id per heartbeat,
 * next to the rule alerts, and every one acknowledged. */
static void test_pipeline_heartbeat_on_output_topic(void **state)
{
    fixture *fx = *state;
    produce_events(fx, 0);
    tl_engine_stats st;
    run_engine_hb(fx, "g-heartbeat", "2", "json", "100ms", &st);
    tl_kt_msgs alerts = tl_kt_read_all(fx->mock.bootstraps, "alerts", 2);
    assert_int_equal(st.alerts_acked, alerts.n);
    size_t beats = 0, rule_alerts = 0;
    char fp[17] = "", starts[40] = "", ids[64][33];
    for (size_t i = 0; i < alerts.n; i++) {
        json_t *j = json_loadb(alerts.m[i].value, alerts.m[i].len, 0, NULL);
        assert_non_null(j);
        if (strcmp(jstr(j, "alert"), "TriplineHeartbeat") != 0) {
            rule_alerts++;
            json_decref(j);
            continue;
        }
        assert_string_equal(jstr(j, "state"), "firing");
        assert_string_equal(jstr(j, "severity"), "info");
        assert_string_equal(jstr(j, "fingerprint"), alerts.m[i].key);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "labels"), "instance")),
                            "g-heartbeat");
        if (!beats) {
            snprintf(fp, sizeof fp, "%s", jstr(j, "fingerprint"));
            snprintf(starts, sizeof starts, "%s", jstr(j, "starts_at"));
        }
        assert_string_equal(jstr(j, "fingerprint"), fp);
        assert_string_equal(jstr(j, "starts_at"), starts);
        for (size_t k = 0; k < beats && k < 64; k++)
            assert_string_not_equal(ids[k], jstr(j, "transition_id"));
        if (beats < 64)
            snprintf(ids[beats], sizeof ids[beats], "%s", jstr(j, "transition_id"));
        beats++;
        json_decref(j);
    }
    /* the run lasts seconds (joining the group alone takes longer than 100 ms) */
    if (beats < 2)
        fail_msg("%zu TriplineHeartbeat on the alerts topic, expected at least 2", beats);
    if (getenv("TL_DUMP"))
        fprintf(stderr, "%zu heartbeats\n", beats);
    assert_int_equal(rule_alerts, 3); /* firing, resolved, re-send: unchanged by the heartbeat */
    tl_kt_msgs_free(&alerts);
}

/* Fault 2: the broker goes down for longer than the producer's message timeout while an alert
 * is on its way. The alert is not lost: its delivery fails, is counted and retried, and the
 * input offsets behind it are not committed; an engine stopped during the outage leaves them
 * uncommitted, and the next run (broker back) reads that input again and delivers the alert. */
typedef struct outage {
    fixture *fx;
    _Atomic int tripped;
} outage;

static void trip_on_first_alert(void *ctx, const tl_alert *a)
{
    outage *o = ctx;
    (void)a;
    if (!atomic_exchange(&o->tripped, 1))
        rd_kafka_mock_broker_set_down(o->fx->mock.mc, 1);
}

typedef struct runner {
    tl_engine *e;
    int rc;
} runner;

static void *run_thread(void *arg)
{
    runner *r = arg;
    r->rc = tl_engine_run(r->e);
    return NULL;
}

static void test_pipeline_broker_down_past_message_timeout(void **state)
{
    fixture *fx = *state;
    produce_events(fx, 0);
    tl_config cfg;
    char *argv[] = {"--brokers", fx->mock.bootstraps, "--group", "g-outage", "--input", "traces", "--output", "alerts",
                    "--dlq", "dlq", "--rules", fx->rules_path, "--threads", "2", "--no-print-alerts", "-X",
                    "log_level=0", "-X", "message.timeout.ms=1000", "-X", "session.timeout.ms=6000",
                    "--shutdown-timeout", "2s"};
    tl_program *prog;
    tl_engine *e = new_engine(&cfg, &prog, (int)(sizeof argv / sizeof argv[0]), argv);
    outage o = {.fx = fx};
    tl_engine_on_alert(e, trip_on_first_alert, &o);
    runner r = {.e = e};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
    for (int i = 0; i < 600 && !atomic_load(&o.tripped); i++)
        usleep(50000);
    assert_true(atomic_load(&o.tripped));
    sleep(4); /* four message timeouts: the alert's delivery failed, and failed again */
    tl_engine_stats st;
    tl_engine_stats_get(e, &st);
    assert_true(st.alerts >= 1);
    assert_true(st.alerts_acked < st.alerts); /* not delivered ... */
    assert_true(st.delivery_retries >= 1);    /* ... and the stall shows */
    /* stop during the outage: the stop gives up on the alert after --shutdown-timeout (not
     * the default 30 s), and nothing may be committed past it */
    struct timespec s0, s1;
    clock_gettime(CLOCK_MONOTONIC, &s0);
    tl_engine_stop(e);
    pthread_join(th, NULL);
    clock_gettime(CLOCK_MONOTONIC, &s1);
    double stop_s = (double)(s1.tv_sec - s0.tv_sec) + (double)(s1.tv_nsec - s0.tv_nsec) * 1e-9;
    assert_true(stop_s >= 1.5);  /* it did wait for the delivery ... */
    assert_true(stop_s < 15.0);  /* ... but not for the default 30 s */
    /* leaving the group does not wait for the deliveries a second time (it did for 10 s: 10.8 s
     * here before, 6.8 s since, most of it the output's last flush of up to 5 s) */
    tl_engine_destroy(e);
    clock_gettime(CLOCK_MONOTONIC, &s0);
    assert_true((double)(s0.tv_sec - s1.tv_sec) + (double)(s0.tv_nsec - s1.tv_nsec) * 1e-9 < 9.5);
    rd_kafka_mock_broker_set_up(fx->mock.mc, 1);
    int64_t committed, end;
    tl_kt_committed(fx->mock.bootstraps, "g-outage", "traces", 4, &committed, &end);
    assert_true(committed < end);
    /* the next run, broker back: the alert is produced and everything is committed */
    tl_engine_stats st2;
    run_engine(fx, "g-outage", "2", "json", &st2);
    tl_kt_committed(fx->mock.bootstraps, "g-outage", "traces", 4, &committed, &end);
    assert_int_equal(committed, end);
    tl_kt_msgs alerts = tl_kt_read_all(fx->mock.bootstraps, "alerts", 2);
    int firing = 0, resolved = 0;
    for (size_t i = 0; i < alerts.n; i++) {
        firing += strstr(alerts.m[i].value, "\"alert\":\"OrderToolErrors\",\"state\":\"firing\"") != NULL;
        resolved += strstr(alerts.m[i].value, "\"alert\":\"OrderToolErrors\",\"state\":\"resolved\"") != NULL;
    }
    assert_true(firing >= 1);
    assert_true(resolved >= 1);
    tl_kt_msgs_free(&alerts);
    tl_program_destroy(prog);
    tl_config_fini(&cfg);
}

/* Fault 3: commit errors and leader moves while the engine runs. Three brokers; the input,
 * the alerts topic and the group's coordinator start on broker 1. The 16 minutes of input
 * arrive in three phases while one engine runs (no --exit-at-end), the faults between them:
 *  - after phase A (which fires the alert): the coordinator's next four OffsetCommits fail
 *    (REQUEST_TIMED_OUT, NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, dropped connection); the
 *    alerts topic's leaders move to broker 2, whose next two Produce requests fail
 *    (REQUEST_TIMED_OUT, dropped connection). Phase B resolves the alert; its offsets must
 *    get committed through those errors.
 *  - then the coordinator moves to broker 3, whose next three OffsetCommits fail
 *    (REQUEST_TIMED_OUT, dropped connection, NOT_COORDINATOR), and the alerts leaders move on
 *    to broker 3 (NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT on its next two Produce
 *    requests). Once the engine heartbeats broker 3, phase C (the resolved notification's
 *    re-send) is written, and the input's leaders move to broker 2 while the engine reads it
 *    (NOT_LEADER_FOR_PARTITION, dropped connection on broker 2's first two Fetch requests).
 * The error stacks are per broker and request type, and an entry goes only when such a
 * request reaches that broker: an empty stack proves that the engine's commits (produces,
 * fetches) met those errors there. Still running, the engine must then have committed the
 * input to its end; in the end it has decoded every event exactly once (no rebalance, no
 * rewind, nothing late), and the alerts topic holds the three alerts of a fault-free run
 * (fire, resolve, re-send), each once. (The mock appends nothing for a Produce it fails, so
 * librdkafka's retries cannot duplicate here; the count guards the engine's own paths.)
 * --eof-grace (and --idle-timeout above it) keep a partition at its end holding the
 * watermark through the pauses between phases, a few seconds each (as through a live
 * producer's pauses), so no event is late whichever partition the next phase reaches first,
 * and the alerts are those of one pass over the whole input. */
#define FAULT_GROUP "g-faults"

enum { API_PRODUCE = 0, API_FETCH = 1, API_OFFSET_COMMIT = 8, API_HEARTBEAT = 12 };

static int setup_three_brokers(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_int_equal(tl_kt_mock_start(&fx->mock, 3, "traces:4 alerts:2 dlq:1"), 0);
    rd_kafka_mock_cluster_t *mc = fx->mock.mc;
    /* everything on broker 1 to begin with, so that each move is a real change of broker */
    for (int p = 0; p < 4; p++)
        assert_int_equal(rd_kafka_mock_partition_set_leader(mc, "traces", p, 1), 0);
    for (int p = 0; p < 2; p++)
        assert_int_equal(rd_kafka_mock_partition_set_leader(mc, "alerts", p, 1), 0);
    assert_int_equal(rd_kafka_mock_partition_set_leader(mc, "dlq", 0, 1), 0);
    assert_int_equal(rd_kafka_mock_coordinator_set(mc, "group", FAULT_GROUP, 1), 0);
    rules_file(fx->rules_path, sizeof fx->rules_path);
    *state = fx;
    return 0;
}

/* Injected errors of request type `api` still waiting on `broker`. */
static size_t errors_left(fixture *fx, int32_t broker, int16_t api)
{
    size_t n = 0;
    assert_int_equal(rd_kafka_mock_broker_error_stack_cnt(fx->mock.mc, broker, api, &n), 0);
    return n;
}

typedef struct fault_run {
    fixture *fx;
    tl_engine *e;
    tl_engine_stats st; /* as of the last poll */
    uint64_t events;    /* decoded events to wait for */
    uint64_t acked;     /* acknowledged alerts to wait for */
    int64_t committed, end;
} fault_run;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll the running engine every 50 ms until done(r) holds (1) or `ms` have passed (0). */
static int wait_run(fault_run *r, int64_t ms, int (*done)(fault_run *))
{
    int64_t start = mono_ms();
    for (int64_t end = start + ms;;) {
        tl_engine_stats_get(r->e, &r->st);
        if (done(r)) {
            if (getenv("TL_DUMP"))
                fprintf(stderr, "waited %lld ms\n", (long long)(mono_ms() - start));
            return 1;
        }
        if (mono_ms() > end)
            return 0;
        usleep(50000);
    }
}

static int phase_read(fault_run *r) { return r->st.events >= r->events && r->st.alerts_acked >= r->acked; }

/* The group's committed offsets are at the end of the input (asks the coordinator). */
static int committed_to_end(fault_run *r)
{
    tl_kt_committed(r->fx->mock.bootstraps, FAULT_GROUP, "traces", 4, &r->committed, &r->end);
    return r->committed == r->end;
}

static int first_errors_met(fault_run *r)
{
    return phase_read(r) && !errors_left(r->fx, 1, API_OFFSET_COMMIT) && !errors_left(r->fx, 2, API_PRODUCE) &&
           committed_to_end(r);
}

static int coordinator_found(fault_run *r) { return !errors_left(r->fx, 3, API_HEARTBEAT); }

/* What a stage that timed out was waiting for, taken before the engine stops (its final
 * commit would change the picture). */
static void describe_wait(fault_run *r, const char *stage, char *out, size_t cap)
{
    fixture *fx = r->fx;
    tl_kt_committed(fx->mock.bootstraps, FAULT_GROUP, "traces", 4, &r->committed, &r->end);
    snprintf(out, cap,
             "timed out waiting for: %s. Events %llu of %llu, alerts acknowledged %llu of %llu; injected requests "
             "left: commit@1 %zu produce@2 %zu heartbeat@3 %zu commit@3 %zu produce@3 %zu fetch@2 %zu; "
             "committed %lld of %lld",
             stage, (unsigned long long)r->st.events, (unsigned long long)r->events,
             (unsigned long long)r->st.alerts_acked, (unsigned long long)r->acked,
             errors_left(fx, 1, API_OFFSET_COMMIT), errors_left(fx, 2, API_PRODUCE), errors_left(fx, 3, API_HEARTBEAT),
             errors_left(fx, 3, API_OFFSET_COMMIT), errors_left(fx, 3, API_PRODUCE), errors_left(fx, 2, API_FETCH),
             (long long)r->committed, (long long)r->end);
}

static int recovered(fault_run *r)
{
    return phase_read(r) && !errors_left(r->fx, 3, API_OFFSET_COMMIT) && !errors_left(r->fx, 3, API_PRODUCE) &&
           !errors_left(r->fx, 2, API_FETCH) && committed_to_end(r);
}

static void test_pipeline_commit_errors_and_leader_change(void **state)
{
    fixture *fx = *state;
    rd_kafka_mock_cluster_t *mc = fx->mock.mc;
    rd_kafka_t *in = tl_kt_producer(fx->mock.bootstraps);
    assert_non_null(in);
    produce_range(fx, in, 0, T0, T0 + 5 * MIN); /* phase A */

    tl_config cfg;
    char *argv[] = {"--brokers", fx->mock.bootstraps, "--group", FAULT_GROUP, "--input", "traces", "--output",
                    "alerts", "--dlq", "dlq", "--rules", fx->rules_path, "--threads", "2", "--no-print-alerts",
                    "--eof-grace", "20s", "--idle-timeout", "30s", "-X", "log_level=3", "-X",
                    "heartbeat.interval.ms=500"};
    tl_program *prog;
    tl_engine *e = new_engine(&cfg, &prog, (int)(sizeof argv / sizeof argv[0]), argv);
    runner r = {.e = e};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
    fault_run fr = {.fx = fx, .e = e, .events = fx->valid, .acked = 1};
    const char *stage = NULL;
    do {
        if (!wait_run(&fr, 20000, phase_read)) {
            stage = "phase A read, alert fired";
            break;
        }
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                             mc, 1, API_OFFSET_COMMIT, 4, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0,
                             RD_KAFKA_RESP_ERR_NOT_COORDINATOR, 0, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, 0,
                             RD_KAFKA_RESP_ERR__TRANSPORT, 0),
                         0);
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(mc, 2, API_PRODUCE, 2,
                                                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0,
                                                                      RD_KAFKA_RESP_ERR__TRANSPORT, 0),
                         0);
        for (int p = 0; p < 2; p++)
            assert_int_equal(rd_kafka_mock_partition_set_leader(mc, "alerts", p, 2), 0);
        produce_range(fx, in, 0, T0 + 5 * MIN, T0 + 10 * MIN); /* phase B */
        fr.events = fx->valid;
        fr.acked = 2;
        if (!wait_run(&fr, 15000, first_errors_met)) {
            stage = "phase B read, alert resolved, first errors met, input committed to its end";
            break;
        }
        assert_int_equal(rd_kafka_mock_coordinator_set(mc, "group", FAULT_GROUP, 3), 0);
        /* a no-error entry: gone once the engine has found broker 3 and heartbeats it */
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(mc, 3, API_HEARTBEAT, 1,
                                                                      RD_KAFKA_RESP_ERR_NO_ERROR, 0),
                         0);
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                             mc, 3, API_OFFSET_COMMIT, 3, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0,
                             RD_KAFKA_RESP_ERR__TRANSPORT, 0, RD_KAFKA_RESP_ERR_NOT_COORDINATOR, 0),
                         0);
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                             mc, 3, API_PRODUCE, 2, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0,
                             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0),
                         0);
        for (int p = 0; p < 2; p++)
            assert_int_equal(rd_kafka_mock_partition_set_leader(mc, "alerts", p, 3), 0);
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                             mc, 2, API_FETCH, 2, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0,
                             RD_KAFKA_RESP_ERR__TRANSPORT, 0),
                         0);
        if (!wait_run(&fr, 15000, coordinator_found)) {
            stage = "heartbeat to the new coordinator";
            break;
        }
        produce_range(fx, in, 0, T0 + 10 * MIN, T0 + 16 * MIN); /* phase C */
        for (int p = 0; p < 4; p++)
            assert_int_equal(rd_kafka_mock_partition_set_leader(mc, "traces", p, 2), 0);
        fr.events = fx->valid;
        fr.acked = 3;
        if (!wait_run(&fr, 20000, recovered))
            stage = "phase C read, alert re-sent, all errors met, input committed to its end";
    } while (0);
    char why[512];
    if (stage)
        describe_wait(&fr, stage, why, sizeof why);
    tl_engine_stop(e);
    pthread_join(th, NULL);
    tl_kt_flush_destroy(in);
    tl_engine_stats st;
    tl_engine_stats_get(e, &st);
    tl_engine_destroy(e);
    tl_program_destroy(prog);
    tl_config_fini(&cfg);
    if (stage)
        fail_msg("%s", why);
    assert_int_equal(r.rc, 0);

    /* every event decoded once: nothing lost, nothing read twice (no rebalance, no rewind) */
    assert_int_equal(st.messages, fx->valid);
    assert_int_equal(st.events, fx->valid);
    assert_int_equal(st.malformed, 0);
    assert_int_equal(st.late, 0);
    assert_int_equal(st.alerts, 3);
    assert_int_equal(st.alerts_acked, 3);
    /* committed to the end (it was before the stop, too: the commit path recovered by itself) */
    int64_t committed, end;
    tl_kt_committed(fx->mock.bootstraps, FAULT_GROUP, "traces", 4, &committed, &end);
    assert_int_equal(end, (int64_t)fx->valid);
    assert_int_equal(committed, end);

    /* the alerts of a fault-free run, each once: fired, resolved, the resolved re-sent */
    tl_kt_msgs alerts = tl_kt_read_all(fx->mock.bootstraps, "alerts", 2);
    assert_int_equal(alerts.n, 3);
    json_t *fire = NULL, *res = NULL, *again = NULL;
    for (size_t i = 0; i < alerts.n; i++) {
        json_t *j = json_loadb(alerts.m[i].value, alerts.m[i].len, 0, NULL);
        assert_non_null(j);
        assert_string_equal(jstr(j, "alert"), "OrderToolErrors");
        assert_string_equal(jstr(j, "fingerprint"), alerts.m[i].key);
        json_t **slot = strcmp(jstr(j, "state"), "firing") == 0                  ? &fire
                        : json_integer_value(json_object_get(j, "resend")) == 0 ? &res
                                                                                 : &again;
        assert_null(*slot); /* a duplicate would land on a taken slot */
        *slot = j;
    }
    assert_non_null(fire);
    assert_non_null(res);
    assert_non_null(again);
    int64_t t_fire = jtime(fire, "timestamp"), t_res = jtime(res, "timestamp");
    assert_true(t_fire >= T0 + MIN && t_fire <= T0 + 2 * MIN);
    assert_true(t_res >= T0 + 6 * MIN && t_res <= T0 + 8 * MIN);
    assert_int_equal(jtime(again, "timestamp"), t_res + 5 * MIN);
    double value = json_number_value(json_object_get(fire, "value"));
    assert_true(value > 0.25 && value < 0.35);
    assert_string_equal(jstr(res, "fingerprint"), jstr(fire, "fingerprint"));
    assert_string_equal(jstr(res, "starts_at"), jstr(fire, "starts_at"));
    assert_string_not_equal(jstr(res, "transition_id"), jstr(fire, "transition_id"));
    assert_string_equal(jstr(again, "transition_id"), jstr(res, "transition_id"));
    assert_int_equal(json_integer_value(json_object_get(again, "resend")), 1);
    json_decref(fire);
    json_decref(res);
    json_decref(again);
    tl_kt_msgs_free(&alerts);
}

/* The alerts about tripline itself on the alerts topic. A flood of 400 distinct tool names
 * against --max-series-total 10 makes TriplineCardinalityOverflow fire; a state.dir whose
 * checkpoint.tmp is a directory makes every checkpoint write fail, so TriplineCheckpointFailing
 * fires. Once the directory is gone and the overflow has stopped for 10 checks, both resolve.
 * Checks every 100 ms here (the default is 1m). Each is keyed by its fingerprint, labelled
 * {instance: group}, fires once and resolves once, with the same starts_at. */
static const char flood_rules_yaml[] =
    "rules:\n"
    "  - name: ToolCalls\n"
    "    filter: kind == \"tool_call\"\n"
    "    group_by: [service, tool]\n"
    "    value: count()\n"
    "    window: 1m\n"
    "    threshold: \"> 1000000\"\n"
    "    severity: warning\n"
    "    owner: o\n"
    "    runbook: https://runbooks.example/none\n"
    "    summary: \"{{tool}}\"\n";

/* Count of (name, state) among the alerts read so far; *found gets the last one's JSON. */
static int count_alerts(const tl_kt_msgs *m, const char *name, const char *state, json_t **found)
{
    int n = 0;
    for (size_t i = 0; i < m->n; i++) {
        json_t *j = json_loadb(m->m[i].value, m->m[i].len, 0, NULL);
        assert_non_null(j);
        if (strcmp(jstr(j, "alert"), name) == 0 && strcmp(jstr(j, "state"), state) == 0) {
            assert_string_equal(jstr(j, "fingerprint"), m->m[i].key);
            n++;
            if (found) {
                if (*found)
                    json_decref(*found);
                *found = json_incref(j);
            }
        }
        json_decref(j);
    }
    return n;
}

/* 400 tool calls, each with a tool name never seen before (a cardinality flood). */
static void produce_flood(fixture *fx)
{
    rd_kafka_t *p = tl_kt_producer(fx->mock.bootstraps);
    char buf[1024], tool[32];
    for (int i = 0; i < 400; i++) {
        tl_event ev;
        tl_event_reset(&ev);
        ev.ts_ms = T0 + (int64_t)i * 250;
        int tl = snprintf(tool, sizeof tool, "made-up-%d", i);
        tl_event_set_str(&ev, TL_S_SERVICE, "support-bot", 11);
        tl_event_set_str(&ev, TL_S_KIND, "tool_call", 9);
        tl_event_set_str(&ev, TL_S_TOOL, tool, (uint32_t)tl);
        size_t n = tl_json_encode_event(&ev, buf, sizeof buf);
        tl_kt_produce(p, "traces", tool, (size_t)tl, buf, n);
    }
    tl_kt_flush_destroy(p);
}

static void test_pipeline_self_alerts_on_output_topic(void **state)
{
    fixture *fx = *state;
    char rules[256], dir[64] = "/tmp/tl-it-state-XXXXXX", blocker[128];
    assert_non_null(tl_test_write_temp(rules, sizeof rules, "flood", flood_rules_yaml));
    assert_non_null(mkdtemp(dir));
    snprintf(blocker, sizeof blocker, "%s/checkpoint.tmp", dir);
    assert_int_equal(mkdir(blocker, 0755), 0); /* open(O_WRONLY) of a directory: EISDIR */
    produce_flood(fx);

    tl_config cfg;
    char *argv[] = {"--brokers", fx->mock.bootstraps, "--group", "g-self", "--input", "traces", "--output", "alerts",
                    "--dlq", "dlq", "--rules", rules, "--threads", "2", "--no-print-alerts", "-X", "log_level=3",
                    "--max-series", "100", "--max-series-total", "10", "--self-check-interval", "100ms",
                    "--state-dir", dir, "--checkpoint-interval", "200ms"};
    tl_program *prog;
    tl_engine *e = new_engine(&cfg, &prog, (int)(sizeof argv / sizeof argv[0]), argv);
    runner r = {.e = e};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
    /* both fire; then the disk "recovers" and the flood is over: both resolve */
    int phase = 0;
    tl_kt_msgs alerts = {0};
    for (int i = 0; i < 120 && phase < 2; i++) {
        usleep(250000);
        tl_kt_msgs_free(&alerts);
        alerts = tl_kt_read_all(fx->mock.bootstraps, "alerts", 2);
        if (phase == 0 && count_alerts(&alerts, "TriplineCardinalityOverflow", "firing", NULL) &&
            count_alerts(&alerts, "TriplineCheckpointFailing", "firing", NULL)) {
            assert_int_equal(rmdir(blocker), 0);
            phase = 1;
        }
        if (phase == 1 && count_alerts(&alerts, "TriplineCardinalityOverflow", "resolved", NULL) &&
            count_alerts(&alerts, "TriplineCheckpointFailing", "resolved", NULL))
            phase = 2;
    }
    tl_engine_stop(e);
    pthread_join(th, NULL);
    assert_int_equal(r.rc, 0);
    tl_engine_stats st;
    tl_engine_stats_get(e, &st);
    tl_engine_destroy(e);
    if (phase < 2)
        fail_msg("phase %d after 30 s: %zu alerts on the topic, overflowed=%llu checkpoint_failures=%llu", phase,
                 alerts.n, (unsigned long long)st.overflowed, (unsigned long long)st.checkpoint_failures);
    /* limits.max_series_total reaches the workers' shards: at most 10 series each (+ 1 overflow
     * series), where max_series alone would let each keep 100 of its ~200 tools */
    assert_true(st.series <= 2 * 11);
    assert_true(st.overflowed >= 300);
    assert_true(st.checkpoint_failures > 0);
    static const char *const names[] = {"TriplineCardinalityOverflow", "TriplineCheckpointFailing"};
    static const char *const severities[] = {"warning", "critical"};
    for (int k = 0; k < 2; k++) {
        json_t *fire = NULL, *res = NULL;
        assert_int_equal(count_alerts(&alerts, names[k], "firing", &fire), 1); /* once, not per check */
        assert_int_equal(count_alerts(&alerts, names[k], "resolved", &res), 1);
        assert_string_equal(jstr(fire, "severity"), severities[k]);
        assert_string_equal(jstr(fire, "owner"), "tripline");
        assert_string_equal(json_string_value(json_object_get(json_object_get(fire, "labels"), "instance")), "g-self");
        assert_string_equal(jstr(res, "fingerprint"), jstr(fire, "fingerprint"));
        assert_string_equal(jstr(res, "starts_at"), jstr(fire, "starts_at"));
        assert_string_not_equal(jstr(res, "transition_id"), jstr(fire, "transition_id"));
        assert_true(json_number_value(json_object_get(fire, "value")) > 0);
        assert_true(json_is_null(json_object_get(fire, "ends_at")));
        assert_false(json_is_null(json_object_get(res, "ends_at")));
        if (k == 0)
            assert_true(json_number_value(json_object_get(fire, "value")) <= (double)st.overflowed);
        json_decref(fire);
        json_decref(res);
    }
    assert_int_equal(st.alerts_acked, alerts.n); /* no rule alert; every self alert acknowledged */
    tl_kt_msgs_free(&alerts);
    tl_program_destroy(prog);
    tl_config_fini(&cfg);
    unlink(rules);
    char ck[128];
    snprintf(ck, sizeof ck, "%s/checkpoint", dir);
    unlink(ck);
    rmdir(dir);
}

/* The alerts about tripline itself survive a restart (the checkpoint's engine section): an
 * engine stopped while TriplineCardinalityOverflow fires leaves it in its final checkpoint; the
 * next engine, with no more flood to read, resolves that same episode (same starts_at, one
 * firing in all) once the quiet period since the last growth has passed. Without the saved
 * state the next engine would know nothing to resolve, and the page would stay open. */
static void test_pipeline_self_alert_state_across_restart(void **state)
{
    fixture *fx = *state;
    char rules[256], dir[64] = "/tmp/tl-it-state-XXXXXX";
    assert_non_null(tl_test_write_temp(rules, sizeof rules, "flood-r", flood_rules_yaml));
    assert_non_null(mkdtemp(dir));
    produce_flood(fx);
    /* checks every 500 ms: the overflow resolves 5 s after the flood's last growth */
    char *argv[] = {"--brokers", fx->mock.bootstraps, "--group", "g-self-r", "--input", "traces", "--output",
                    "alerts", "--dlq", "dlq", "--rules", rules, "--threads", "2", "--no-print-alerts", "-X",
                    "log_level=3", "-X", "session.timeout.ms=6000", "--max-series-total", "10",
                    "--self-check-interval", "500ms", "--state-dir", dir, "--checkpoint-interval", "200ms"};
    int argc = (int)(sizeof argv / sizeof argv[0]);
    json_t *fire = NULL, *res = NULL;
    tl_kt_msgs alerts = {0};
    for (int run = 0; run < 2; run++) {
        tl_config cfg;
        tl_program *prog;
        tl_engine *e = new_engine(&cfg, &prog, argc, argv);
        runner r = {.e = e};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
        /* run 0: until the overflow fires; run 1: until it resolves */
        const char *want = run == 0 ? "firing" : "resolved";
        for (int i = 0; i < 120 && !count_alerts(&alerts, "TriplineCardinalityOverflow", want, NULL); i++) {
            usleep(250000);
            tl_kt_msgs_free(&alerts);
            alerts = tl_kt_read_all(fx->mock.bootstraps, "alerts", 2);
        }
        tl_engine_stop(e);
        pthread_join(th, NULL);
        assert_int_equal(r.rc, 0);
        tl_engine_destroy(e);
        tl_program_destroy(prog);
        tl_config_fini(&cfg);
        tl_kt_msgs_free(&alerts);
        alerts = tl_kt_read_all(fx->mock.bootstraps, "alerts", 2);
        if (!count_alerts(&alerts, "TriplineCardinalityOverflow", want, NULL))
            fail_msg("run %d: no %s TriplineCardinalityOverflow after 30 s (%zu alerts on the topic)", run, want,
                     alerts.n);
        if (run == 0 && count_alerts(&alerts, "TriplineCardinalityOverflow", "resolved", NULL))
            fail_msg("resolved before the restart: the test would prove nothing");
    }
    assert_int_equal(count_alerts(&alerts, "TriplineCardinalityOverflow", "firing", &fire), 1);
    assert_int_equal(count_alerts(&alerts, "TriplineCardinalityOverflow", "resolved", &res), 1);
    assert_string_equal(jstr(res, "starts_at"), jstr(fire, "starts_at"));
    assert_string_equal(jstr(res, "fingerprint"), jstr(fire, "fingerprint"));
    json_decref(fire);
    json_decref(res);
    tl_kt_msgs_free(&alerts);
    unlink(rules);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipeline_fire_resolve_dead_letters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_avro_output_with_broker_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_heartbeat_on_output_topic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_broker_down_past_message_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_commit_errors_and_leader_change, setup_three_brokers, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_self_alerts_on_output_topic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_self_alert_state_across_restart, setup, teardown),
    };
    if (getenv("TL_TEST_FILTER")) /* e.g. TL_TEST_FILTER='*leader*': run only the matching tests */
        cmocka_set_test_filter(getenv("TL_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
